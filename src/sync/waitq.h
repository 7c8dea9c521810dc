/* sync/waitq.h - wait queues: the FIFO of waiters that every primitive of
 * the sync layer parks its pending futures in (internal).
 *
 * Invariants:
 *  - A waiter is in at most one queue, and is in it iff its state is
 *    W_QUEUED. Only the holder of the queue's lock links, unlinks or
 *    changes the state of a queued waiter, or touches its waker.
 *  - Taking a waiter off (W_WOKEN: try again; W_GRANTED: what it waited
 *    for is now its own) moves its waker out, then publishes the state with
 *    a release store, under the lock. From that store on, the granting side
 *    never touches the waiter again: the owner may see the state without
 *    the lock (acquire) and free the future's memory at once.
 *  - Wakers are woken after the lock is dropped (a wake may take the
 *    scheduler's locks, or run a user's waker): collect them in a
 *    wake_list, unlock, then wake_list_wake.
 */
#ifndef CORIO_SYNC_WAITQ_H
#define CORIO_SYNC_WAITQ_H

#include <stdbool.h>
#include <stddef.h>

#include "arch/spin.h"
#include "core/coro.h"
#include "core/worker.h"
#include "corio/waiter.h"

enum {
    W_IDLE = 0,    /* not queued (never, or taken off by its own drop) */
    W_QUEUED = 1,  /* in the queue */
    W_WOKEN = 2,   /* taken off and woken: poll again and retry */
    W_GRANTED = 3, /* taken off, given what it waited for */
    W_CLOSED = 4,  /* taken off: the primitive was closed */
};

/* ---- entry points that copy to or from a caller's buffer ------------------ */

/* A channel copies msg_size bytes, with an inlined fixed-size copy for the
 * common 8-byte message. Optimised into a caller whose buffer is smaller
 * (an int channel, the program built with -flto against libcorio.a), gcc
 * keeps the 8-byte branch it cannot rule out and fails -Werror builds with
 * -Wstringop-overflow ("writing 8 bytes into a region of size 4") for a
 * copy that never happens. noinline is not enough (gcc still clones the
 * function for a constant argument, a global's address, and warns in the
 * clone); noipa (gcc 8+) forbids every interprocedural use of the body.
 * The fast paths stay inlined inside these functions, where the buffer's
 * size is unknown; the cost is one call. clang does not warn: noinline. */
#if defined(__has_attribute)
#if __has_attribute(noipa)
#define SYNC_COPY_ENTRY __attribute__((noipa))
#endif
#endif
#ifndef SYNC_COPY_ENTRY
#define SYNC_COPY_ENTRY __attribute__((noinline))
#endif

/* ---- the lock: arch/spin.h's protocol on the queue's plain int ----------- */

static inline void waitq_lock(corio_waitq_ *q)
{
    /* Acquire: the previous holder's writes are visible. */
    while (__atomic_exchange_n(&q->lock_, 1, __ATOMIC_ACQUIRE)) {
        unsigned spins = 0;
        while (__atomic_load_n(&q->lock_, __ATOMIC_RELAXED)) {
            if (++spins < 100)
                cpu_relax();
            else
                sched_yield(); /* the holder may have been preempted */
        }
    }
}

static inline void waitq_unlock(corio_waitq_ *q)
{
    __atomic_store_n(&q->lock_, 0, __ATOMIC_RELEASE);
}

/* ---- the waiter's state -------------------------------------------------- */

static inline unsigned waiter_state(const corio_waiter_ *w)
{
    /* Acquire: pairs with waiter_take's release, so what the granter wrote
     * for the waiter (permits, a message) is visible once it reads a final
     * state. */
    return __atomic_load_n(&w->state_, __ATOMIC_ACQUIRE);
}

static inline void waiter_init(corio_waiter_ *w)
{
    w->next_ = w->prev_ = NULL;
    w->waker_ = CORIO_WAKER_NONE;
    w->state_ = W_IDLE;
    w->flags_ = 0;
    w->need_ = 0;
}

/* ---- the queue (all under the lock) -------------------------------------- */

static inline bool waitq_is_empty(const corio_waitq_ *q)
{
    return q->head_ == NULL;
}

/* Queue `w` at the back (or the front: a waiter that lost a race after
 * waiting longest), with a clone of `wk`, and mark it queued. */
static inline void waitq_push(corio_waitq_ *q, corio_waiter_ *w, const corio_waker *wk, bool front)
{
    w->waker_ = corio_waker_clone(wk);
    if (front) {
        w->prev_ = NULL;
        w->next_ = q->head_;
        if (q->head_)
            q->head_->prev_ = w;
        else
            q->tail_ = w;
        q->head_ = w;
    } else {
        w->next_ = NULL;
        w->prev_ = q->tail_;
        if (q->tail_)
            q->tail_->next_ = w;
        else
            q->head_ = w;
        q->tail_ = w;
    }
    q->len_++;
    __atomic_store_n(&w->state_, W_QUEUED, __ATOMIC_RELAXED);
}

static inline void waitq_unlink(corio_waitq_ *q, corio_waiter_ *w)
{
    if (w->prev_)
        w->prev_->next_ = w->next_;
    else
        q->head_ = w->next_;
    if (w->next_)
        w->next_->prev_ = w->prev_;
    else
        q->tail_ = w->prev_;
    w->next_ = w->prev_ = NULL;
    q->len_--;
}

/* Refresh a queued waiter's waker (a later poll, maybe from another task). */
static inline void waitq_update_waker(corio_waiter_ *w, const corio_waker *wk)
{
    corio_waker_store(&w->waker_, wk);
}

/* Take a queued waiter off by its own drop: unlink it, release its waker. */
static inline void waitq_remove(corio_waitq_ *q, corio_waiter_ *w)
{
    waitq_unlink(q, w);
    corio_waker_drop(&w->waker_);
    __atomic_store_n(&w->state_, W_IDLE, __ATOMIC_RELAXED);
}

/* ---- waking after the unlock --------------------------------------------- */

#define WAKE_LIST_MAX 32

typedef struct wake_list {
    unsigned n;
    corio_waker w[WAKE_LIST_MAX];
} wake_list;

/* Only the count: the array is written before it is read (a zeroed list
 * would cost a 520-byte memset on every receive). */
static inline void wake_list_init(wake_list *l)
{
    l->n = 0;
}

static inline bool wake_list_full(const wake_list *l)
{
    return l->n == WAKE_LIST_MAX;
}

/* Take `w` off the queue for the granting side: move its waker to `l` (the
 * list must not be full), then publish `state` (W_WOKEN, W_GRANTED,
 * W_CLOSED). The waiter must not be touched afterwards. */
static inline void waitq_take(corio_waitq_ *q, corio_waiter_ *w, unsigned state, wake_list *l)
{
    waitq_unlink(q, w);
    l->w[l->n++] = w->waker_;
    w->waker_ = CORIO_WAKER_NONE;
    /* Release: everything the granter wrote for this waiter, and its own
     * reads of it, happen before the owner sees the final state and may
     * free the waiter's memory. */
    __atomic_store_n(&w->state_, state, __ATOMIC_RELEASE);
}

/* Wake and empty the list. Never under a queue's lock. */
static inline void wake_list_wake(wake_list *l)
{
    for (unsigned i = 0; i < l->n; i++)
        corio_waker_wake(&l->w[i]);
    l->n = 0;
}

/* Close: take every waiter off with W_CLOSED and wake it. Takes the lock
 * itself, as often as the wake list fills. */
void waitq_close_all(corio_waitq_ *q);

/* ---- news queues: every waiter waits for the same news --------------------
 *
 * For channels where a send is news for every waiter (a broadcast message,
 * a watch change) and the sender must learn cheaply whether anyone waits:
 * `*waiting` counts the queued waiters. A waiter queues, counts itself with
 * a read-modify-write and rechecks for news; a sender, after publishing,
 * reads the count with a read-modify-write (waitq_news_waiters) and takes
 * the lock only when it is not zero. The count has one modification order:
 * either the sender sees the waiter, or the waiter's increment reads from
 * after the sender's and its recheck sees the news. */

/* Is anyone waiting? A read-modify-write, not a load (see above). */
static inline bool waitq_news_waiters(unsigned *waiting)
{
    return __atomic_fetch_add(waiting, 0, __ATOMIC_ACQ_REL) != 0;
}

/* Queue `w` (idle) with a clone of `wk`, count it, and recheck with
 * has_news(arg): false, still nothing: it stays queued (PENDING); true:
 * taken off again, the caller looks at the news. */
bool waitq_news_park(corio_waitq_ *q, unsigned *waiting, corio_waiter_ *w, const corio_waker *wk,
                     bool (*has_news)(const void *arg), const void *arg);

/* A queued waiter polled again: if it is still queued and there is no
 * news, refresh its waker and say true (stay queued); else take it off if
 * it still is and say false. Either way the waiter is the caller's again
 * when this returns false. */
bool waitq_news_repoll(corio_waitq_ *q, unsigned *waiting, corio_waiter_ *w, const corio_waker *wk,
                       bool (*has_news)(const void *arg), const void *arg);

/* The drop of a future whose waiter may be queued: take it off. A wake it
 * got and did not use is nobody else's (every waiter waits for its own
 * news), so nothing is passed on. */
void waitq_news_drop(corio_waitq_ *q, unsigned *waiting, corio_waiter_ *w);

/* Take off and wake the waiters queued now, with `state` (W_WOKEN for
 * news, W_CLOSED): not those that queue while the lock is dropped between
 * batches (they saw the news before they queued). */
void waitq_news_wake_all(corio_waitq_ *q, unsigned *waiting, unsigned state);

/* Wait for `f` from any context: inside a coroutine task, corio_await;
 * in plain code (a thread that runs no task, also a blocking-pool job),
 * block the thread on its parker; inside a stackless task's poll function,
 * CORIO_EWRONGCTX (f is left alone). 0 or corio_await's codes; -ENOMEM if
 * a plain thread's parker cannot be allocated. */
int sync_wait(corio_future *f);

/* The fast paths of waiting calls (a free mutex, a message already there):
 * sync_enter says where the call is made before it touches the primitive:
 * 0 in a coroutine task that may go on, SYNC_PLAIN in plain code, or what
 * the wait would return at once (CORIO_ECANCELED, CORIO_ETIMEDOUT,
 * CORIO_EWRONGCTX). After completing without waiting, sync_ready(ctx)
 * charges a task's cooperative budget as a ready await does. */
#define SYNC_PLAIN 1

static inline int sync_enter(void)
{
    return worker_current() ? coro_await_enter() : SYNC_PLAIN;
}

static inline void sync_ready(int ctx)
{
    if (ctx == 0)
        coro_await_ready();
}

#endif
