/* sync/semaphore.c - the counting semaphore (corio/semaphore.h).
 *
 * One word holds the free permits, a QUEUED bit and a CLOSED bit. While no
 * one waits, acquire and release are a compare-and-swap on it. A waiter
 * sets QUEUED (under the queue's lock, with a CAS on the same word, so a
 * concurrent release either sees the bit or its permits are seen by the
 * waiter's recheck). While QUEUED is set, every released permit goes to the
 * queue's head, in order, under the lock; the word's count stays 0, which
 * is what keeps a newcomer from overtaking the queue.
 */
#include <errno.h>

#include "corio/error.h"
#include "corio/semaphore.h"
#include "sync/waitq.h"

#define S_CLOSED ((uintptr_t)1)
#define S_QUEUED ((uintptr_t)2)
#define S_ONE ((uintptr_t)4)

static inline uintptr_t sem_load(const corio_semaphore *s)
{
    return __atomic_load_n(&s->state_, __ATOMIC_ACQUIRE);
}

static inline bool sem_cas(corio_semaphore *s, uintptr_t *old, uintptr_t val)
{
    /* Acquire-release: permits are handed between tasks through this word,
     * with whatever the releasing task wrote before it released them. */
    return __atomic_compare_exchange_n(&s->state_, old, val, true, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

void corio_semaphore_init(corio_semaphore *s, size_t permits)
{
    if (!s)
        return;
    if (permits > CORIO_SEMAPHORE_MAX_PERMITS)
        permits = CORIO_SEMAPHORE_MAX_PERMITS;
    s->state_ = (uintptr_t)permits * S_ONE;
    s->wq_ = (corio_waitq_)CORIO_WAITQ_INIT_;
}

/* Take n permits without waiting: 0, -EAGAIN or CORIO_ECLOSED. */
static inline int sem_try(corio_semaphore *s, size_t n)
{
    uintptr_t st = sem_load(s);
    for (;;) {
        if (st & S_CLOSED)
            return CORIO_ECLOSED;
        /* Taking nothing overtakes no one: at once, even with waiters
         * queued (else the acquire would queue with need_ 0, and wait for
         * a release to reach it). */
        if (n == 0)
            return 0;
        if ((st & S_QUEUED) || st / S_ONE < n)
            return -EAGAIN;
        if (sem_cas(s, &st, st - n * S_ONE))
            return 0;
    }
}

int corio_semaphore_try_acquire(corio_semaphore *s, size_t n)
{
    if (!s || n > CORIO_SEMAPHORE_MAX_PERMITS)
        return -EINVAL;
    return sem_try(s, n);
}

/* Hand `n` permits to the queue's head waiters, in order, then what is left
 * to the word. Called with the lock held; the wakers go to `l`, and when it
 * fills, the lock is dropped to wake them and taken again. */
static void sem_assign_locked(corio_semaphore *s, size_t n, wake_list *l)
{
    for (;;) {
        corio_waiter_ *w = s->wq_.head_;
        /* Closed: the waiters are being woken with CORIO_ECLOSED; grant none
         * of them (the permits are only counted). */
        if (!w || (sem_load(s) & S_CLOSED))
            break;
        if (w->need_ > 0) {
            if (n == 0)
                break;
            size_t take = n < w->need_ ? n : w->need_;
            w->need_ -= take;
            n -= take;
            if (w->need_ > 0)
                break; /* the head holds them while it waits for the rest */
        }
        /* Satisfied (perhaps on an earlier turn, before the list filled). */
        if (wake_list_full(l)) {
            waitq_unlock(&s->wq_);
            wake_list_wake(l);
            waitq_lock(&s->wq_);
            continue; /* the queue may have changed meanwhile */
        }
        waitq_take(&s->wq_, w, W_GRANTED, l);
    }
    uintptr_t st = sem_load(s);
    for (;;) {
        uintptr_t v = st;
        if (!s->wq_.head_)
            v &= ~S_QUEUED;
        size_t have = v / S_ONE;
        size_t room = CORIO_SEMAPHORE_MAX_PERMITS - have;
        v += (n < room ? n : room) * S_ONE;
        if (v == st || sem_cas(s, &st, v))
            return;
    }
}

static void sem_release_slow(corio_semaphore *s, size_t n)
{
    wake_list l;
    wake_list_init(&l);
    waitq_lock(&s->wq_);
    sem_assign_locked(s, n, &l);
    waitq_unlock(&s->wq_);
    wake_list_wake(&l);
}

void corio_semaphore_release(corio_semaphore *s, size_t n)
{
    if (!s || n == 0)
        return;
    uintptr_t st = sem_load(s);
    for (;;) {
        if (st & S_QUEUED)
            break;
        size_t have = st / S_ONE;
        size_t room = CORIO_SEMAPHORE_MAX_PERMITS - have;
        if (sem_cas(s, &st, st + (n < room ? n : room) * S_ONE))
            return;
    }
    sem_release_slow(s, n);
}

size_t corio_semaphore_available(const corio_semaphore *s)
{
    return s ? sem_load(s) / S_ONE : 0;
}

bool corio_semaphore_is_closed(const corio_semaphore *s)
{
    return s && (sem_load(s) & S_CLOSED);
}

void corio_semaphore_close(corio_semaphore *s)
{
    if (!s)
        return;
    /* Under the lock, so that no waiter queues after the sweep below. */
    waitq_lock(&s->wq_);
    __atomic_fetch_or(&s->state_, S_CLOSED, __ATOMIC_ACQ_REL);
    waitq_unlock(&s->wq_);
    waitq_close_all(&s->wq_);
}

/* ---- the acquire future -------------------------------------------------- */

static corio_poll acquire_poll(corio_future *base, corio_context *cx)
{
    corio_semaphore_acquire_fut *f = (corio_semaphore_acquire_fut *)base;
    corio_semaphore *s = f->sem;
    switch (waiter_state(&f->w_)) {
    case W_GRANTED:
        f->w_.state_ = W_IDLE;
        base->result = 0;
        return CORIO_READY;
    case W_CLOSED:
        f->w_.state_ = W_IDLE;
        /* What it had been granted in part goes back (counted, not usable). */
        corio_semaphore_release(s, f->n - f->w_.need_);
        base->result = CORIO_ECLOSED;
        return CORIO_READY;
    case W_QUEUED:
        waitq_lock(&s->wq_);
        if (waiter_state(&f->w_) == W_QUEUED) {
            waitq_update_waker(&f->w_, corio_context_waker(cx));
            waitq_unlock(&s->wq_);
            return CORIO_PENDING;
        }
        waitq_unlock(&s->wq_);
        return acquire_poll(base, cx); /* granted or closed meanwhile */
    default:
        break;
    }
    /* First poll. */
    if (!s || f->n > CORIO_SEMAPHORE_MAX_PERMITS) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    int rc = sem_try(s, f->n);
    if (rc != -EAGAIN) {
        base->result = rc;
        return CORIO_READY;
    }
    waitq_lock(&s->wq_);
    uintptr_t st = sem_load(s);
    for (;;) {
        if (st & S_CLOSED) {
            waitq_unlock(&s->wq_);
            base->result = CORIO_ECLOSED;
            return CORIO_READY;
        }
        size_t have = st / S_ONE;
        if (!(st & S_QUEUED) && have >= f->n) {
            if (sem_cas(s, &st, st - f->n * S_ONE)) {
                waitq_unlock(&s->wq_);
                base->result = 0;
                return CORIO_READY;
            }
            continue;
        }
        /* Queue, taking what is free now (only the first waiter can find
         * any: while QUEUED the word holds none). */
        if (sem_cas(s, &st, (st & S_CLOSED) | S_QUEUED)) {
            f->w_.need_ = f->n - have;
            break;
        }
    }
    waitq_push(&s->wq_, &f->w_, corio_context_waker(cx), false);
    waitq_unlock(&s->wq_);
    return CORIO_PENDING;
}

static void acquire_drop(corio_future *base)
{
    corio_semaphore_acquire_fut *f = (corio_semaphore_acquire_fut *)base;
    corio_semaphore *s = f->sem;
    switch (waiter_state(&f->w_)) {
    case W_GRANTED: /* granted, never seen: hand the permits on */
        f->w_.state_ = W_IDLE;
        corio_semaphore_release(s, f->n);
        return;
    case W_CLOSED:
        f->w_.state_ = W_IDLE;
        corio_semaphore_release(s, f->n - f->w_.need_);
        return;
    case W_QUEUED:
        break;
    default:
        return;
    }
    wake_list l;
    wake_list_init(&l);
    waitq_lock(&s->wq_);
    unsigned st = waiter_state(&f->w_);
    if (st == W_QUEUED) {
        waitq_remove(&s->wq_, &f->w_);
        /* Its partial grant goes to the next waiters, and the QUEUED bit
         * is cleared if it was the last. */
        sem_assign_locked(s, f->n - f->w_.need_, &l);
    }
    waitq_unlock(&s->wq_);
    wake_list_wake(&l);
    if (st != W_QUEUED)
        acquire_drop(base); /* granted or closed meanwhile */
}

static const corio_future_vtable acquire_vtable = {acquire_poll, acquire_drop};

void corio_semaphore_acquire_fut_init(corio_semaphore_acquire_fut *f, corio_semaphore *s, size_t n)
{
    if (!f)
        return;
    corio_future_init(&f->base, &acquire_vtable);
    f->sem = s;
    f->n = n;
    waiter_init(&f->w_);
}

int corio_semaphore_acquire(corio_semaphore *s, size_t n)
{
    if (!s || n > CORIO_SEMAPHORE_MAX_PERMITS)
        return -EINVAL;
    int ctx = sync_enter();
    if (ctx < 0)
        return ctx;
    int rc = sem_try(s, n);
    if (rc != -EAGAIN) {
        if (rc == 0)
            sync_ready(ctx);
        return rc;
    }
    corio_semaphore_acquire_fut f;
    corio_semaphore_acquire_fut_init(&f, s, n);
    rc = sync_wait(&f.base);
    return rc ? rc : f.base.result;
}
