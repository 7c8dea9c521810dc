/* sync/wait.c - what every primitive of the sync layer shares: waiting
 * from any context, and closing a whole wait queue.
 *
 * The primitives' waiting calls work everywhere a caller can wait: a
 * coroutine task suspends (corio_await, so cancellation and deadline scopes
 * apply), a plain thread blocks on its parker (tokio's blocking_recv and
 * blocking_lock, without a second name). Only a stackless task's poll
 * function cannot wait: it polls the call's future instead.
 */
#include "core/worker.h"
#include "corio/error.h"
#include "rt/parker.h"
#include "sync/waitq.h"

int sync_wait(corio_future *f)
{
    worker *w = worker_current();
    if (!w)
        return block_on_parked(f);
    if (!w->coro)
        return CORIO_EWRONGCTX; /* a poll function, or the loop itself */
    return corio_await(f);
}

void waitq_close_all(corio_waitq_ *q)
{
    wake_list l;
    wake_list_init(&l);
    for (;;) {
        waitq_lock(q);
        while (q->head_ && !wake_list_full(&l))
            waitq_take(q, q->head_, W_CLOSED, &l);
        bool more = q->head_ != NULL;
        waitq_unlock(q);
        wake_list_wake(&l);
        if (!more)
            return;
    }
}

/* ---- news queues (waitq.h) -------------------------------------------------- */

bool waitq_news_park(corio_waitq_ *q, unsigned *waiting, corio_waiter_ *w, const corio_waker *wk,
                     bool (*has_news)(const void *arg), const void *arg)
{
    waitq_lock(q);
    waitq_push(q, w, wk, false);
    /* Acq_rel: pairs with the sender's read-modify-write of the count
     * (waitq_news_waiters): either it sees this waiter, or the recheck
     * below sees its news. */
    __atomic_fetch_add(waiting, 1, __ATOMIC_ACQ_REL);
    bool parked = !has_news(arg);
    if (!parked) {
        waitq_remove(q, w);
        __atomic_fetch_sub(waiting, 1, __ATOMIC_RELAXED);
    }
    waitq_unlock(q);
    return parked;
}

bool waitq_news_repoll(corio_waitq_ *q, unsigned *waiting, corio_waiter_ *w, const corio_waker *wk,
                       bool (*has_news)(const void *arg), const void *arg)
{
    waitq_lock(q);
    if (waiter_state(w) == W_QUEUED) {
        if (!has_news(arg)) {
            waitq_update_waker(w, wk);
            waitq_unlock(q);
            return true;
        }
        waitq_remove(q, w);
        __atomic_fetch_sub(waiting, 1, __ATOMIC_RELAXED);
    }
    waitq_unlock(q);
    return false;
}

void waitq_news_drop(corio_waitq_ *q, unsigned *waiting, corio_waiter_ *w)
{
    if (waiter_state(w) == W_QUEUED) {
        waitq_lock(q);
        if (waiter_state(w) == W_QUEUED) {
            waitq_remove(q, w);
            __atomic_fetch_sub(waiting, 1, __ATOMIC_RELAXED);
        }
        waitq_unlock(q);
    }
    w->state_ = W_IDLE;
}

void waitq_news_wake_all(corio_waitq_ *q, unsigned *waiting, unsigned state)
{
    wake_list l;
    wake_list_init(&l);
    waitq_lock(q);
    unsigned left = q->len_;
    for (;;) {
        while (left && q->head_ && !wake_list_full(&l)) {
            waitq_take(q, q->head_, state, &l);
            __atomic_fetch_sub(waiting, 1, __ATOMIC_RELAXED);
            left--;
        }
        bool more = left && q->head_;
        waitq_unlock(q);
        wake_list_wake(&l);
        if (!more)
            return;
        waitq_lock(q);
    }
}
