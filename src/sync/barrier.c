/* sync/barrier.c - the reusable barrier (corio/barrier.h).
 *
 * Everything is under the wait queue's lock: the arrival count, the
 * generation number, the queue. An arrival that does not complete the
 * generation queues with the generation it belongs to (in the waiter's
 * need_). The one that completes it resets the count, bumps the
 * generation and takes every waiter of an older generation off the queue
 * as W_GRANTED, waking them after the unlock. When there are more waiters
 * than a wake list holds, the lock is dropped between batches: arrivals of
 * the new generation may queue behind the old ones meanwhile, and a later
 * release may take over the sweep, so a sweep stops at the first waiter of
 * the current generation, never at a count.
 *
 * Invariant: `arrived_` counts exactly the queued waiters whose generation
 * is the current one. A dropped waiter of the current generation un-counts
 * itself; one of an older generation (released, not yet taken off) just
 * leaves: its generation is complete.
 */
#include <errno.h>

#include "corio/barrier.h"
#include "corio/error.h"
#include "sync/waitq.h"

void corio_barrier_init(corio_barrier *b, size_t n)
{
    if (!b)
        return;
    b->n_ = n;
    b->arrived_ = 0;
    b->gen_ = 0;
    b->wq_ = (corio_waitq_)CORIO_WAITQ_INIT_;
}

size_t corio_barrier_parties(const corio_barrier *b)
{
    return b ? b->n_ : 0;
}

/* Under the lock: take off every waiter released by a completed
 * generation; the lock may be dropped and retaken between batches of
 * wakes. */
static void release_locked(corio_barrier *b, wake_list *l)
{
    for (;;) {
        corio_waiter_ *h = b->wq_.head_;
        if (!h || (uintptr_t)h->need_ == b->gen_)
            return;
        if (wake_list_full(l)) {
            waitq_unlock(&b->wq_);
            wake_list_wake(l);
            waitq_lock(&b->wq_);
            continue;
        }
        waitq_take(&b->wq_, h, W_GRANTED, l);
    }
}

static corio_poll bw_poll(corio_future *base, corio_context *cx)
{
    corio_barrier_wait_fut *f = (corio_barrier_wait_fut *)base;
    corio_barrier *b = f->barrier;
    switch (waiter_state(&f->w_)) {
    case W_GRANTED:
        f->w_.state_ = W_IDLE;
        f->is_leader = false;
        base->result = 0;
        return CORIO_READY;
    case W_QUEUED:
        waitq_lock(&b->wq_);
        if (waiter_state(&f->w_) == W_QUEUED) {
            waitq_update_waker(&f->w_, corio_context_waker(cx));
            waitq_unlock(&b->wq_);
            return CORIO_PENDING;
        }
        waitq_unlock(&b->wq_);
        return bw_poll(base, cx); /* released meanwhile */
    default:
        break;
    }
    /* First poll: arrive. */
    if (!b) {
        f->is_leader = false;
        base->result = -EINVAL;
        return CORIO_READY;
    }
    size_t n = b->n_ ? b->n_ : 1;
    waitq_lock(&b->wq_);
    if (++b->arrived_ < n) {
        f->w_.need_ = (size_t)b->gen_;
        waitq_push(&b->wq_, &f->w_, corio_context_waker(cx), false);
        waitq_unlock(&b->wq_);
        return CORIO_PENDING;
    }
    wake_list l;
    wake_list_init(&l);
    b->arrived_ = 0;
    b->gen_++;
    release_locked(b, &l);
    waitq_unlock(&b->wq_);
    wake_list_wake(&l);
    f->is_leader = true;
    base->result = 0;
    return CORIO_READY;
}

static void bw_drop(corio_future *base)
{
    corio_barrier_wait_fut *f = (corio_barrier_wait_fut *)base;
    corio_barrier *b = f->barrier;
    /* W_GRANTED: released unseen; the arrival counted and there is nothing
     * to hand on (a release is for everyone of its generation). */
    if (waiter_state(&f->w_) == W_QUEUED) {
        waitq_lock(&b->wq_);
        if (waiter_state(&f->w_) == W_QUEUED) {
            if ((uintptr_t)f->w_.need_ == b->gen_)
                b->arrived_--; /* still waiting: un-count */
            waitq_remove(&b->wq_, &f->w_);
        }
        waitq_unlock(&b->wq_);
    }
    f->w_.state_ = W_IDLE;
}

static const corio_future_vtable bw_vtable = {bw_poll, bw_drop};

void corio_barrier_wait_fut_init(corio_barrier_wait_fut *f, corio_barrier *b)
{
    if (!f)
        return;
    corio_future_init(&f->base, &bw_vtable);
    f->barrier = b;
    f->is_leader = false;
    waiter_init(&f->w_);
}

int corio_barrier_wait(corio_barrier *b, bool *is_leader)
{
    if (is_leader)
        *is_leader = false;
    if (!b)
        return -EINVAL;
    int ctx = sync_enter();
    if (ctx < 0)
        return ctx;
    corio_barrier_wait_fut f;
    corio_barrier_wait_fut_init(&f, b);
    int rc = sync_wait(&f.base);
    if (rc)
        return rc;
    if (is_leader)
        *is_leader = f.is_leader;
    return f.base.result;
}
