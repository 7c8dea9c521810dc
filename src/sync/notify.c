/* sync/notify.c - wake one or all (corio/notify.h).
 *
 * The word: PERMIT, WAITERS (the queue is not empty: set and cleared under
 * the queue's lock, by CAS, so notify_one's lock-free path sees it), and a
 * generation counting notify_waiters calls above them. A future records
 * the generation when initialised (in need_) and completes once it changes.
 * notify_one grants the head (W_GRANTED: to be passed on if dropped unseen);
 * notify_waiters wakes the queue (W_WOKEN: not passed on).
 */
#include <errno.h>

#include "corio/error.h"
#include "corio/notify.h"
#include "sync/waitq.h"

#define N_PERMIT ((uintptr_t)1)
#define N_WAITERS ((uintptr_t)2)
#define N_GEN ((uintptr_t)4)

static inline uintptr_t n_load(const corio_notify *n)
{
    /* Acquire: what the notifier wrote before notifying is visible to the
     * task the notify lets through. */
    return __atomic_load_n(&n->state_, __ATOMIC_ACQUIRE);
}

static inline bool n_cas(corio_notify *n, uintptr_t *old, uintptr_t val)
{
    return __atomic_compare_exchange_n(&n->state_, old, val, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

void corio_notify_init(corio_notify *n)
{
    if (!n)
        return;
    n->state_ = 0;
    n->wq_ = (corio_waitq_)CORIO_WAITQ_INIT_;
}

/* Under the lock: clear WAITERS once the queue is empty. */
static void n_sync_waiters_locked(corio_notify *n)
{
    if (n->wq_.head_)
        return;
    uintptr_t s = n_load(n);
    while ((s & N_WAITERS) && !n_cas(n, &s, s & ~N_WAITERS))
        ;
}

/* Under the lock: grant the head or store the permit. */
static void notify_one_locked(corio_notify *n, wake_list *l)
{
    corio_waiter_ *h = n->wq_.head_;
    if (h) {
        waitq_take(&n->wq_, h, W_GRANTED, l);
        n_sync_waiters_locked(n);
        return;
    }
    uintptr_t s = n_load(n);
    while (!(s & N_PERMIT) && !n_cas(n, &s, s | N_PERMIT))
        ;
}

void corio_notify_one(corio_notify *n)
{
    if (!n)
        return;
    uintptr_t s = n_load(n);
    while (!(s & N_WAITERS)) {
        if (s & N_PERMIT)
            return; /* one permit already stored */
        if (n_cas(n, &s, s | N_PERMIT))
            return;
    }
    wake_list l;
    wake_list_init(&l);
    waitq_lock(&n->wq_);
    notify_one_locked(n, &l);
    waitq_unlock(&n->wq_);
    wake_list_wake(&l);
}

void corio_notify_waiters(corio_notify *n)
{
    if (!n)
        return;
    wake_list l;
    wake_list_init(&l);
    waitq_lock(&n->wq_);
    /* The new generation completes every future initialised before. */
    uintptr_t gen = __atomic_add_fetch(&n->state_, N_GEN, __ATOMIC_ACQ_REL) / N_GEN;
    for (;;) {
        corio_waiter_ *h = n->wq_.head_;
        /* Waiters that queued after the call (while the lock was dropped
         * below) belong to this generation, or to a later one if another
         * notify_waiters ran meanwhile: leave them (older ones are ahead of
         * them in the queue). Generations do not wrap: 2^62 calls. */
        bool older = h && (uintptr_t)h->need_ < gen;
        if (older && !wake_list_full(&l)) {
            waitq_take(&n->wq_, h, W_WOKEN, &l);
            continue;
        }
        if (!older)
            break;
        waitq_unlock(&n->wq_);
        wake_list_wake(&l);
        waitq_lock(&n->wq_);
    }
    n_sync_waiters_locked(n);
    waitq_unlock(&n->wq_);
    wake_list_wake(&l);
}

/* ---- the wait future ------------------------------------------------------ */

static corio_poll nf_poll(corio_future *base, corio_context *cx)
{
    corio_notify_wait_fut *f = (corio_notify_wait_fut *)base;
    corio_notify *n = f->notify;
    switch (waiter_state(&f->w_)) {
    case W_GRANTED:
    case W_WOKEN:
        f->w_.state_ = W_IDLE;
        base->result = 0;
        return CORIO_READY;
    case W_QUEUED:
        waitq_lock(&n->wq_);
        if (waiter_state(&f->w_) == W_QUEUED) {
            waitq_update_waker(&f->w_, corio_context_waker(cx));
            waitq_unlock(&n->wq_);
            return CORIO_PENDING;
        }
        waitq_unlock(&n->wq_);
        return nf_poll(base, cx);
    default:
        break;
    }
    if (!n) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    uintptr_t s = n_load(n);
    for (;;) {
        if (s / N_GEN != (uintptr_t)f->w_.need_)
            goto ready; /* a notify_waiters since init */
        if (!(s & N_PERMIT))
            break;
        if (n_cas(n, &s, s & ~N_PERMIT))
            goto ready;
    }
    waitq_lock(&n->wq_);
    s = n_load(n);
    for (;;) {
        if (s / N_GEN != (uintptr_t)f->w_.need_) {
            waitq_unlock(&n->wq_);
            goto ready;
        }
        uintptr_t v = s & N_PERMIT ? s & ~N_PERMIT : s | N_WAITERS;
        if (n_cas(n, &s, v)) {
            if (s & N_PERMIT) {
                waitq_unlock(&n->wq_);
                goto ready;
            }
            break;
        }
    }
    waitq_push(&n->wq_, &f->w_, corio_context_waker(cx), false);
    waitq_unlock(&n->wq_);
    return CORIO_PENDING;
ready:
    base->result = 0;
    return CORIO_READY;
}

static void nf_drop(corio_future *base)
{
    corio_notify_wait_fut *f = (corio_notify_wait_fut *)base;
    corio_notify *n = f->notify;
    unsigned st = waiter_state(&f->w_);
    if (st == W_IDLE || st == W_WOKEN) {
        f->w_.state_ = W_IDLE;
        return;
    }
    wake_list l;
    wake_list_init(&l);
    waitq_lock(&n->wq_);
    st = waiter_state(&f->w_);
    if (st == W_QUEUED) {
        waitq_remove(&n->wq_, &f->w_);
        n_sync_waiters_locked(n);
    } else if (st == W_GRANTED) {
        notify_one_locked(n, &l); /* pass the notification on */
    }
    f->w_.state_ = W_IDLE;
    waitq_unlock(&n->wq_);
    wake_list_wake(&l);
}

static const corio_future_vtable nf_vtable = {nf_poll, nf_drop};

void corio_notify_wait_fut_init(corio_notify_wait_fut *f, corio_notify *n)
{
    if (!f)
        return;
    corio_future_init(&f->base, &nf_vtable);
    f->notify = n;
    waiter_init(&f->w_);
    if (n)
        f->w_.need_ = (size_t)(n_load(n) / N_GEN);
}

int corio_notify_wait(corio_notify *n)
{
    if (!n)
        return -EINVAL;
    int ctx = sync_enter();
    if (ctx < 0)
        return ctx;
    corio_notify_wait_fut f;
    corio_notify_wait_fut_init(&f, n);
    int rc = sync_wait(&f.base);
    return rc ? rc : f.base.result;
}
