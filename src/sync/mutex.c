/* sync/mutex.c - the task mutex (corio/mutex.h).
 *
 * The word: LOCKED (held), WAITERS (the queue is not empty), WOKEN (an
 * unlock has woken a waiter that has not polled yet), HANDOFF (starvation
 * mode). WAITERS and HANDOFF change only under the queue's lock; LOCKED
 * and WOKEN also outside it, always by compare-and-swap on the whole word,
 * so every change sees the others.
 *
 * Normal mode (Go's): lock takes a free mutex whoever waits. Unlock wakes
 * the head waiter (taking it off the queue as W_WOKEN) unless one woken
 * waiter is already on its way (WOKEN): one wake per hand-around, not one
 * per unlock. The woken waiter clears WOKEN when it polls, then takes the
 * mutex or queues again at the front. If it has waited more than
 * STARVE_NS, it sets HANDOFF: from then on unlock keeps LOCKED set and
 * grants the mutex to the head (W_GRANTED), and nobody barges.
 *
 * Invariants: no waiter is queued while the word says neither LOCKED nor
 * WOKEN... except for the instant between an unlock's CAS and its wake,
 * which is why the unlock that clears LOCKED with waiters present always
 * wakes one (or leaves it to the WOKEN one in flight, which will either
 * take the mutex or requeue and make the next unlock wake someone).
 */
#include <errno.h>

#include "corio/error.h"
#include "corio/mutex.h"
#include "corio/time.h"
#include "sync/waitq.h"

#define M_LOCKED ((uintptr_t)1)
#define M_WAITERS ((uintptr_t)2)
#define M_WOKEN ((uintptr_t)4)
#define M_HANDOFF ((uintptr_t)8)

/* A waiter keeps the instant it began waiting in its need_ field. */
_Static_assert(sizeof(size_t) >= sizeof(corio_instant), "need_ holds an instant");

/* How long the head may wait before the mutex turns to hand-off (Go's). */
#define STARVE_NS ((corio_duration)1000000)

static inline uintptr_t m_load(const corio_mutex *m)
{
    return __atomic_load_n(&m->state_, __ATOMIC_RELAXED);
}

/* Acquire on success of a lock: the previous holder's writes, released by
 * its unlock, are visible inside the critical section. */
static inline bool m_cas_acq(corio_mutex *m, uintptr_t *old, uintptr_t val)
{
    return __atomic_compare_exchange_n(&m->state_, old, val, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}

/* Release for an unlock: the critical section's writes go out with it.
 * Acq_rel where a bit other than LOCKED changes hands too. */
static inline bool m_cas_rel(corio_mutex *m, uintptr_t *old, uintptr_t val)
{
    return __atomic_compare_exchange_n(&m->state_, old, val, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}

static inline bool m_try(corio_mutex *m)
{
    uintptr_t st = m_load(m);
    while (!(st & (M_LOCKED | M_HANDOFF)))
        if (m_cas_acq(m, &st, st | M_LOCKED))
            return true;
    return false;
}

void corio_mutex_init(corio_mutex *m)
{
    if (!m)
        return;
    m->state_ = 0;
    m->wq_ = (corio_waitq_)CORIO_WAITQ_INIT_;
}

int corio_mutex_try_lock(corio_mutex *m)
{
    if (!m)
        return -EINVAL;
    return m_try(m) ? 0 : -EBUSY;
}

bool corio_mutex_is_locked(const corio_mutex *m)
{
    return m && (m_load(m) & M_LOCKED);
}

static inline corio_instant waited_since(const corio_waiter_ *w)
{
    return (corio_instant)w->need_;
}

/* Under the lock: the unlock of a mutex with waiters, or the hand-on of a
 * wakeup or a grant by a dropped waiter. `st` is fresh. */
static void unlock_locked(corio_mutex *m, wake_list *l)
{
    uintptr_t st = m_load(m);
    for (;;) {
        corio_waiter_ *h = m->wq_.head_;
        if (!h) {
            if (m_cas_rel(m, &st, st & ~(M_LOCKED | M_WAITERS | M_HANDOFF)))
                return;
            continue;
        }
        bool last = h->next_ == NULL;
        if (st & M_HANDOFF) {
            /* Hand over: LOCKED stays set. Back to normal mode when the
             * queue empties or this waiter was not starving any more. */
            uintptr_t v = st;
            if (last || corio_instant_now() - waited_since(h) < (corio_instant)STARVE_NS)
                v &= ~M_HANDOFF;
            if (last)
                v &= ~M_WAITERS;
            if (!m_cas_rel(m, &st, v))
                continue;
            waitq_take(&m->wq_, h, W_GRANTED, l);
            return;
        }
        if (st & M_WOKEN) {
            /* One is already on its way: just unlock. */
            if (m_cas_rel(m, &st, st & ~M_LOCKED))
                return;
            continue;
        }
        uintptr_t v = (st & ~M_LOCKED) | M_WOKEN;
        if (last)
            v &= ~M_WAITERS;
        if (!m_cas_rel(m, &st, v))
            continue;
        waitq_take(&m->wq_, h, W_WOKEN, l);
        return;
    }
}

void corio_mutex_unlock(corio_mutex *m)
{
    if (!m)
        return;
    uintptr_t st = m_load(m);
    /* Fast: nobody waits, or the waiter already woken will see it free. */
    while (!(st & M_HANDOFF) && (!(st & M_WAITERS) || (st & M_WOKEN)))
        if (m_cas_rel(m, &st, st & ~M_LOCKED))
            return;
    wake_list l;
    wake_list_init(&l);
    waitq_lock(&m->wq_);
    unlock_locked(m, &l);
    waitq_unlock(&m->wq_);
    wake_list_wake(&l);
}

/* ---- the lock future ------------------------------------------------------ */

/* Under the lock: take the mutex if it is free (a woken waiter also clears
 * WOKEN), else queue (at the front for a woken one, which may also turn on
 * hand-off). True: taken. */
static bool lock_or_queue_locked(corio_mutex_lock_fut *f, const corio_waker *wk, bool woken)
{
    corio_mutex *m = f->mutex;
    uintptr_t st = m_load(m);
    for (;;) {
        uintptr_t clear = woken ? M_WOKEN : 0;
        if (!(st & M_LOCKED) && (woken || !(st & M_HANDOFF))) {
            if (m_cas_acq(m, &st, (st | M_LOCKED) & ~clear))
                return true;
            continue;
        }
        uintptr_t v = (st | M_WAITERS) & ~clear;
        if (woken && corio_instant_now() - waited_since(&f->w_) >= (corio_instant)STARVE_NS)
            v |= M_HANDOFF;
        if (m_cas_rel(m, &st, v))
            break;
    }
    if (!woken)
        f->w_.need_ = (size_t)corio_instant_now();
    waitq_push(&m->wq_, &f->w_, wk, woken);
    return false;
}

static corio_poll lock_poll(corio_future *base, corio_context *cx)
{
    corio_mutex_lock_fut *f = (corio_mutex_lock_fut *)base;
    corio_mutex *m = f->mutex;
    bool woken = false;
    switch (waiter_state(&f->w_)) {
    case W_GRANTED:
        f->w_.state_ = W_IDLE;
        base->result = 0;
        return CORIO_READY;
    case W_WOKEN:
        woken = true;
        break;
    case W_QUEUED:
        waitq_lock(&m->wq_);
        if (waiter_state(&f->w_) == W_QUEUED) {
            waitq_update_waker(&f->w_, corio_context_waker(cx));
            waitq_unlock(&m->wq_);
            return CORIO_PENDING;
        }
        waitq_unlock(&m->wq_);
        return lock_poll(base, cx); /* woken or granted meanwhile */
    default:
        if (!m) {
            base->result = -EINVAL;
            return CORIO_READY;
        }
        if (m_try(m)) {
            base->result = 0;
            return CORIO_READY;
        }
        break;
    }
    waitq_lock(&m->wq_);
    bool taken = lock_or_queue_locked(f, corio_context_waker(cx), woken);
    waitq_unlock(&m->wq_);
    if (taken) {
        f->w_.state_ = W_IDLE;
        base->result = 0;
        return CORIO_READY;
    }
    return CORIO_PENDING;
}

static void lock_drop(corio_future *base)
{
    corio_mutex_lock_fut *f = (corio_mutex_lock_fut *)base;
    corio_mutex *m = f->mutex;
    unsigned st = waiter_state(&f->w_);
    if (st == W_IDLE)
        return;
    wake_list l;
    wake_list_init(&l);
    waitq_lock(&m->wq_);
    st = waiter_state(&f->w_);
    if (st == W_QUEUED) {
        waitq_remove(&m->wq_, &f->w_);
        if (!m->wq_.head_) {
            uintptr_t s = m_load(m);
            while (!m_cas_rel(m, &s, s & ~(M_WAITERS | M_HANDOFF)))
                ;
        }
    } else if (st == W_GRANTED) {
        unlock_locked(m, &l); /* owned, never used: unlock for the next */
    } else if (st == W_WOKEN) {
        /* Pass the wakeup on: clear WOKEN; if the mutex is free, wake the
         * next waiter in our place. */
        uintptr_t s = m_load(m);
        while (!m_cas_rel(m, &s, s & ~M_WOKEN))
            ;
        s &= ~M_WOKEN;
        corio_waiter_ *h = m->wq_.head_;
        if (h && !(s & M_LOCKED)) {
            uintptr_t v = s | M_WOKEN;
            if (!h->next_)
                v &= ~M_WAITERS;
            while (!(s & M_LOCKED) && !m_cas_rel(m, &s, v)) {
                v = s | M_WOKEN;
                if (!h->next_)
                    v &= ~M_WAITERS;
            }
            if (!(s & M_LOCKED))
                waitq_take(&m->wq_, h, W_WOKEN, &l);
        }
    }
    f->w_.state_ = W_IDLE;
    waitq_unlock(&m->wq_);
    wake_list_wake(&l);
}

static const corio_future_vtable lock_vtable = {lock_poll, lock_drop};

void corio_mutex_lock_fut_init(corio_mutex_lock_fut *f, corio_mutex *m)
{
    if (!f)
        return;
    corio_future_init(&f->base, &lock_vtable);
    f->mutex = m;
    waiter_init(&f->w_);
}

int corio_mutex_lock(corio_mutex *m)
{
    if (!m)
        return -EINVAL;
    int ctx = sync_enter();
    if (ctx < 0)
        return ctx;
    if (__builtin_expect(m_try(m), 1)) {
        sync_ready(ctx);
        return 0;
    }
    corio_mutex_lock_fut f;
    corio_mutex_lock_fut_init(&f, m);
    int rc = sync_wait(&f.base);
    return rc ? rc : f.base.result;
}
