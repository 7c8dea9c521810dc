/* corio/barrier.h - a barrier: n tasks wait until all n have arrived
 * (tokio::sync::Barrier).
 *
 * corio_barrier_wait counts the caller in and waits until n callers have
 * arrived; the n-th arrival releases all of them at once, and is the one
 * caller of that generation that is told it is the leader (its is_leader is
 * true; the n - 1 others get false): exactly one leader per generation. It
 * does not wait itself. The barrier is then empty again and the next n
 * arrivals make the next generation: it is reusable any number of times.
 * A barrier of n == 0 behaves as n == 1 (every caller passes at once, as
 * leader), as tokio's does.
 *
 * Fairness: does not arise: a generation releases all of its waiters. They
 * are woken in the order they arrived. A caller that arrives while the
 * previous generation is still being woken belongs to the next one.
 *
 * Close: a barrier is never closed; no call returns CORIO_ECLOSED.
 *
 * Cancel safety (where corio differs from tokio, whose wait is not cancel
 * safe): a wait interrupted while it waits (CORIO_ECANCELED,
 * CORIO_ETIMEDOUT, its future dropped by a timeout or a select) un-counts
 * itself: the generation then needs one more arrival, and is never released
 * short of n live waiters. One race is left: when the generation is
 * released at the very moment the wait is interrupted, the interruption
 * code is returned although the arrival had counted (the others were
 * released with it, and their leader chosen). A program that must never
 * let such a half-passed party go on alone treats an interrupted wait as
 * leaving the group, as it would after a cancellation anyway.
 *
 * Threads: every function may be called from any thread. corio_barrier_
 * wait suspends a coroutine task; called from plain code (a thread that
 * runs no task) it blocks that thread, so tasks and threads may meet at one
 * barrier. A stackless task's poll function polls a corio_barrier_wait_fut.
 *
 * Memory: 48 bytes per barrier (no allocation: init it in place; nothing to
 * destroy; it must have no waiter when its memory goes), 80 bytes per wait
 * future, which holds the waiter. Every arrival takes the barrier's
 * spinlock for a few instructions; the n-th wakes the others after
 * dropping it.
 */
#ifndef CORIO_BARRIER_H
#define CORIO_BARRIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "future.h"
#include "waiter.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_barrier {
    size_t n_;       /* arrivals per generation (0 counts as 1) */
    size_t arrived_; /* in the current generation, under wq_'s lock */
    uintptr_t gen_;  /* generations released, under wq_'s lock */
    corio_waitq_ wq_;
} corio_barrier;

/* Static initialiser: `static corio_barrier b = CORIO_BARRIER_INIT(4);` */
#define CORIO_BARRIER_INIT(n) {(size_t)(n), 0, 0, CORIO_WAITQ_INIT_}

/* Initialise for `n` arrivals per generation (0: as 1). Nothing to destroy
 * later. Does nothing for NULL. */
CORIO_API void corio_barrier_init(corio_barrier *b, size_t n);

/* Arrive and wait until the generation is complete. *is_leader (when
 * is_leader is not NULL) is set on every return: true for the one caller
 * of each generation that completed it, false otherwise. Returns:
 *   0                the generation was released (by this arrival or a
 *                    later one);
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  the task was cancelled, or a deadline
 *                    scope expired: not counted (see cancel safety for the
 *                    one exception); before any waiting, nothing counted;
 *   -EINVAL          b is NULL;
 *   CORIO_EWRONGCTX  inside a stackless task's poll function (not counted);
 *   -ENOMEM          plain code whose thread parker cannot be allocated
 *                    (not counted). */
CORIO_API int corio_barrier_wait(corio_barrier *b, bool *is_leader);

/* Arrivals per generation, as given to init (0 for NULL). */
CORIO_API size_t corio_barrier_parties(const corio_barrier *b);

/* The future form, to race in a select or bound with corio_timeout. The
 * first poll arrives. Its result: 0 (released; `is_leader` says whether
 * this arrival completed the generation) or -EINVAL for a NULL barrier.
 * Dropped unfinished, it un-counts its arrival if it is still waiting.
 * 80 bytes. */
typedef struct corio_barrier_wait_fut {
    corio_future base;
    corio_barrier *barrier;
    bool is_leader; /* output, once ready */
    corio_waiter_ w_;
} corio_barrier_wait_fut;

/* Initialise (lazy: nothing is counted until the first poll). Does nothing
 * for a NULL f. */
CORIO_API void corio_barrier_wait_fut_init(corio_barrier_wait_fut *f, corio_barrier *b);

#ifdef __cplusplus
}
#endif
#endif
