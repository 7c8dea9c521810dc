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
    if (!w->current || !task_is_coro(w->current))
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
