/* corio/semaphore.h - a counting semaphore for tasks (tokio::sync::Semaphore).
 *
 * A semaphore holds a number of permits. Acquiring n takes n of them, or
 * waits until n are free; releasing gives them back. The usual use is to
 * bound concurrency: at most N requests in flight, N files open, N
 * connections to a backend.
 *
 * Fairness: strictly first come, first served. Waiters are granted in the
 * order they started waiting, and a waiter that needs more permits than are
 * free takes what is free and holds it while it waits for the rest, so a
 * stream of small acquires cannot starve a large one. An acquire that
 * arrives while others wait queues behind them even if some permits are
 * free (they are already promised to the head of the queue).
 *
 * Close: corio_semaphore_close wakes every waiter with CORIO_ECLOSED and
 * makes every later acquire (and try_acquire) return CORIO_ECLOSED at once.
 * Permits still held may be released afterwards; they are counted, but
 * nothing can acquire them.
 *
 * Cancel safety: an acquire that is interrupted (CORIO_ECANCELED,
 * CORIO_ETIMEDOUT, its future dropped by a timeout or a select) holds no
 * permit afterwards: the permits it had been granted, in full or in part,
 * are handed on to the next waiters, so no permit is lost and no waiter
 * misses a wakeup.
 *
 * Threads: every function may be called from any thread. corio_semaphore_
 * acquire suspends the calling coroutine task; called from plain code (a
 * thread that runs no task) it blocks that thread. Inside a stackless
 * task's poll function, poll a corio_semaphore_acquire_fut instead.
 *
 * Memory: 32 bytes per semaphore (no allocation; init it in place), 48 bytes
 * per waiter, inside the waiting future (on the waiting coroutine's stack).
 * A semaphore needs no destroy call; it must have no waiter when its memory
 * goes.
 *
 * Speed: an acquire or release that finds no waiter is one compare-and-swap;
 * the queue's spinlock is taken only when someone waits.
 */
#ifndef CORIO_SEMAPHORE_H
#define CORIO_SEMAPHORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "future.h"
#include "waiter.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_semaphore {
    uintptr_t state_; /* permits << 2 | waiters queued << 1 | closed */
    corio_waitq_ wq_;
} corio_semaphore;

/* The most permits a semaphore holds; more are clamped to it. */
#define CORIO_SEMAPHORE_MAX_PERMITS ((size_t)(UINTPTR_MAX >> 2))

/* Static initialiser: `corio_semaphore s = CORIO_SEMAPHORE_INIT(10);`
 * (clamped to the maximum, as corio_semaphore_init does; `permits` is
 * evaluated more than once). */
#define CORIO_SEMAPHORE_INIT(permits)                                                          \
    {(uintptr_t)((size_t)(permits) > CORIO_SEMAPHORE_MAX_PERMITS ? CORIO_SEMAPHORE_MAX_PERMITS \
                                                                 : (size_t)(permits))          \
         << 2,                                                                                 \
     CORIO_WAITQ_INIT_}

/* Initialise with `permits` free permits (clamped to the maximum). Nothing
 * to destroy later. Does nothing for NULL. */
CORIO_API void corio_semaphore_init(corio_semaphore *s, size_t permits);

/* Take `n` permits, waiting while fewer are free (n == 0: returns at once,
 * 0 while the semaphore is open, CORIO_ECLOSED once it is closed).
 * Returns:
 *   0                the caller holds n permits (give them back with
 *                    corio_semaphore_release);
 *   CORIO_ECLOSED    the semaphore is or was closed while waiting; no
 *                    permit is held;
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  the task was cancelled, or a deadline
 *                    scope expired; no permit is held (see cancel safety);
 *   -EINVAL          s is NULL, or n > CORIO_SEMAPHORE_MAX_PERMITS;
 *   CORIO_EWRONGCTX  inside a stackless task's poll function;
 *   -ENOMEM          plain code whose thread parker cannot be allocated. */
CORIO_API int corio_semaphore_acquire(corio_semaphore *s, size_t n);

/* Take `n` permits if they are free now and nobody waits: 0, -EAGAIN (not
 * enough free, or waiters first), CORIO_ECLOSED, -EINVAL (NULL, n too big).
 * n == 0 succeeds whenever the semaphore is open. Never waits; any
 * context. */
CORIO_API int corio_semaphore_try_acquire(corio_semaphore *s, size_t n);

/* Give back (or add) `n` permits, waking the waiters they complete. Any
 * thread; never waits. Does nothing for NULL. Free permits beyond
 * CORIO_SEMAPHORE_MAX_PERMITS are dropped (the count stays at the
 * maximum). */
CORIO_API void corio_semaphore_release(corio_semaphore *s, size_t n);

/* Permits free right now (a snapshot). 0 for NULL. */
CORIO_API size_t corio_semaphore_available(const corio_semaphore *s);

/* Close: wake every waiter with CORIO_ECLOSED; later acquires fail. Does
 * nothing for NULL. */
CORIO_API void corio_semaphore_close(corio_semaphore *s);
/* Whether corio_semaphore_close has been called. false for NULL. */
CORIO_API bool corio_semaphore_is_closed(const corio_semaphore *s);

/* The future form, to race in a select or bound with corio_timeout. Its
 * result: 0 (n permits held), CORIO_ECLOSED or -EINVAL. Dropping it
 * unfinished hands on whatever it had been granted. 80 bytes.
 * Its only output is base.result (and what it writes through the pointers it
 * was given); its other fields are private. */
typedef struct corio_semaphore_acquire_fut {
    corio_future base;
    corio_semaphore *sem;
    size_t n;
    corio_waiter_ w_;
} corio_semaphore_acquire_fut;

/* Initialise (lazy). Does nothing for a NULL f; a NULL s (or n too big)
 * makes the future finish with -EINVAL. */
CORIO_API void corio_semaphore_acquire_fut_init(corio_semaphore_acquire_fut *f, corio_semaphore *s,
                                                size_t n);

#ifdef __cplusplus
}
#endif
#endif
