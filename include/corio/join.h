/* corio/join.h - waiting for many things at once: every one of N futures
 * (tokio::join!, futures' join_all), all of them or the first error
 * (tokio::try_join!, try_join_all), and every one of N tasks (join_all over
 * JoinHandles).
 *
 *   corio_join_all(futs, n)                   every future completes
 *   corio_try_join_all(futs, n, &failed)      every one succeeds, or the first error
 *   corio_task_join_all(tasks, n, results)    every task finishes; handles given back
 *
 * and their future forms corio_join_all_fut, corio_try_join_all_fut and
 * corio_task_join_all_fut, to poll from a stackless task, to race in a
 * select (corio/select.h) or to bound with corio_timeout. The guide is
 * docs/combinators.md; JoinSet (corio/join_set.h) is the other way to wait
 * for many tasks, in the order they finish.
 *
 * Futures are given as an array of pointers to their corio_future headers;
 * each output stays in that future's own `result` field (and whatever
 * fields the future has), exactly as if it had been awaited alone. The
 * array and the futures are the caller's storage: nothing is allocated for
 * up to 64 futures. CORIO_FUTURES(a, b, ...) writes the array and its
 * length in place:
 *
 *     fetch_fut p, s, f;      (three futures, initialised)
 *     size_t failed;
 *     int rc = corio_try_join_all(CORIO_FUTURES(&p.base, &s.base, &f.base), &failed);
 *
 * A NULL entry is a branch left out: never polled, never dropped (an
 * optional piece of work, without building another array).
 *
 * Concurrency: all the futures run inside the calling task, interleaved at
 * their waits, as the branches of tokio's join! do; none of them runs in
 * parallel with another (spawn tasks for that, then join them). Up to 64
 * futures, every unfinished one is polled again when the task is woken (as
 * tokio's join! does: a wake does not say which branch it was for). Above
 * 64 each future gets a waker of its own, and a wake polls only the future
 * it was for (futures' FuturesUnordered): the waiting costs O(1) per wake,
 * whatever n, at the price of one allocation at the first poll.
 *
 * Ownership, and what happens to the losers: from its initialisation on, a
 * join future owns the futures it was given. Each future is either polled
 * to completion or dropped (corio_future_drop) exactly once, never both:
 *  - corio_join_all: none is dropped; all complete;
 *  - corio_try_join_all: the first future to complete with a negative
 *    result fails the whole join, and every other future that has not
 *    completed yet is dropped at once, in that same poll (its cleanup runs:
 *    timers disarmed, waits given up, per its own drop). Those that
 *    completed before keep their outputs;
 *  - a join future dropped before it is ready (a cancelled task, an expired
 *    deadline, the losing branch of a select) drops every future it had
 *    not seen complete.
 * corio_task_join_all takes over join handles instead: it gives each back
 * once its task has finished, and all of them if it is interrupted; tasks
 * are never aborted by it (those not finished go on, detached). A JoinSet
 * aborts them instead.
 *
 * Cancel safety: an interrupted join consumes what each dropped future's
 * own cancel safety says; what completed stays completed (its output is
 * in its result field). Joining cancel-safe futures (channel receives,
 * sleeps, corio_join_fut) loses nothing. An interrupted
 * corio_task_join_all stores the result of every task that had finished:
 * nothing finished is lost.
 *
 * Threads: the blocking forms suspend a coroutine task; corio_join_all and
 * corio_try_join_all return CORIO_EWRONGCTX elsewhere (use the future form
 * with corio_block_on_future in plain code), corio_task_join_all also
 * blocks a plain thread, as corio_task_join does. Inside a stackless
 * task's poll function, poll the future forms. The futures themselves may
 * be woken from any thread.
 *
 * NULL and misuse (docs/conventions.md): a NULL array with n > 0, or an
 * entry that is a zeroed future (no vtable or poll function), is -EINVAL,
 * and the futures are left alone (not polled, not dropped). The _fut_init
 * functions do nothing for a NULL future; a join future given bad
 * arguments completes at its first poll with -EINVAL and its drop leaves
 * the futures alone. A future may appear in one array once, and in one
 * join at a time (it is polled and dropped as one branch); twice is
 * undefined and not detected. The same holds for a task handle given to
 * corio_task_join_all.
 */
#ifndef CORIO_JOIN_H
#define CORIO_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "future.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "No index": where a failed or selected index would go, when there is
 * none (the call itself failed, or nothing failed). */
#ifndef CORIO_INDEX_NONE
#define CORIO_INDEX_NONE SIZE_MAX
#endif

/* CORIO_FUTURES(f1, f2, ...): an array of the given corio_future pointers
 * (a compound literal, living as long as the enclosing block) followed by
 * its length: the two arguments the calls below take. A pointer of another
 * type (&fut instead of &fut.base) is diagnosed in the array's initialiser:
 * -Wincompatible-pointer-types, a warning before GCC 14 (and in clang), an
 * error with -Werror. No control flow. C only (C++ has no compound
 * literals). */
#ifndef CORIO_FUTURES
#define CORIO_FUTURES(...)                                                               \
    (corio_future *[]){__VA_ARGS__},                                                     \
        (sizeof((corio_future *[]){__VA_ARGS__}) / sizeof(corio_future *))
#endif

/* The private state of the join futures. */
typedef struct corio_join_state_ {
    corio_future *const *futs;
    size_t n;
    size_t left;   /* futures not finished yet */
    uint64_t done; /* n <= 64: bit i once futs[i] completed or was dropped */
    void *many;    /* n > 64: the per-future wakers, from the first poll */
    int phase;
} corio_join_state_;

/* ---- join_all: every future --------------------------------------------- */

/* base.result: 0 once every future has completed (each output in its own
 * result field); -EINVAL (bad arguments: nothing polled); -ENOMEM (more
 * than 64 futures and no memory for their wakers at the first poll:
 * nothing polled). 64 bytes. */
typedef struct corio_join_all_fut {
    corio_future base;
    corio_join_state_ st_;
} corio_join_all_fut;

/* Join the n futures of `futs` (the array must outlive the join). Lazy:
 * nothing is polled before the join is. Does nothing for a NULL f. */
CORIO_API void corio_join_all_fut_init(corio_join_all_fut *f, corio_future *const *futs, size_t n);

/* Await every future (tokio::join!). Returns:
 *   0                every future completed: each output is in its result;
 *   CORIO_ECANCELED  the task was cancelled: every unfinished future has
 *                    been dropped (those that completed keep their output);
 *   CORIO_ETIMEDOUT  the deadline of an enclosing deadline scope passed:
 *                    the same;
 *   -EINVAL          futs NULL with n > 0, or a zeroed future: nothing
 *                    touched;
 *   -ENOMEM          n > 64 and no memory for the wakers: nothing touched;
 *   CORIO_EWRONGCTX  not in a coroutine task: nothing touched.
 * In a coroutine task, n == 0 (or only NULL entries) returns 0 at once
 * (elsewhere, CORIO_EWRONGCTX all the same), or, being an await like any
 * other, CORIO_ECANCELED or CORIO_ETIMEDOUT when the task is already
 * cancelled or its deadline scope has expired. */
CORIO_API int corio_join_all(corio_future *const *futs, size_t n);

/* ---- try_join_all: every future, or the first error ---------------------- */

/* base.result: 0 once every future completed with a result >= 0; else the
 * negative result of the first future that failed (a copy of its
 * base.result), its index in `failed`, and every future then unfinished
 * dropped. -EINVAL and -ENOMEM as for corio_join_all_fut (then `failed` is
 * CORIO_INDEX_NONE, as it is on success). 72 bytes. */
typedef struct corio_try_join_all_fut {
    corio_future base;
    size_t failed;
    corio_join_state_ st_;
} corio_try_join_all_fut;

/* The same for a try_join (the array must outlive it); lazy; does nothing
 * for a NULL f. */
CORIO_API void corio_try_join_all_fut_init(corio_try_join_all_fut *f, corio_future *const *futs,
                                           size_t n);

/* Await every future until one fails (tokio::try_join!). A future fails by
 * completing with a negative result. Returns:
 *   0                every future succeeded: each output is in its result;
 *   < 0, *failed < n the error of the first future that failed, futs[*failed]
 *                    (its result); every future that had not completed by
 *                    then has been dropped, those that had keep their
 *                    outputs;
 *   < 0, *failed == CORIO_INDEX_NONE  the call's own error, as for
 *                    corio_join_all: CORIO_ECANCELED or CORIO_ETIMEDOUT
 *                    (every unfinished future dropped), -EINVAL, -ENOMEM,
 *                    CORIO_EWRONGCTX (nothing touched).
 * So a future that itself fails with CORIO_ETIMEDOUT (failed < n) is told
 * apart from the caller's deadline (failed == CORIO_INDEX_NONE). `failed`
 * may be NULL. The status carries the error, as `?` on tokio's try_join!
 * does: `if ((rc = corio_try_join_all(...)) < 0) return rc;`. */
CORIO_API int corio_try_join_all(corio_future *const *futs, size_t n, size_t *failed);

/* ---- task_join_all: every task ------------------------------------------------ */

/* base.result: 0 once every task has finished (results stored); -EINVAL
 * (tasks NULL with n > 0); -ENOMEM (no memory for the per-task wakers, at
 * the first poll: no handle touched); -EDEADLK (the task polling it is in
 * the list and would wait for its own end, at the first poll: no handle
 * touched).
 * Its only output is base.result (and what it writes through the pointers it
 * was given); its other fields are private. */
typedef struct corio_task_join_all_fut {
    corio_future base;
    corio_task *const *tasks;
    size_t n;
    int *results;
    size_t left_;
    void *ws_;
    int phase_;
} corio_task_join_all_fut;

/* Join the n tasks of `tasks` (join handles; the array must outlive the
 * join), storing task i's result in results[i] (`results` may be NULL).
 * The future takes the handles over: it gives each one back (as
 * corio_task_join does) as soon as its task has finished, and the rest
 * when it is dropped; the caller must not use them afterwards. A NULL
 * entry is skipped (its result is -EINVAL). Does nothing for a NULL f. */
CORIO_API void corio_task_join_all_fut_init(corio_task_join_all_fut *f, corio_task *const *tasks,
                                            size_t n, int *results);

/* Wait for every task and give back every handle (futures' join_all over
 * JoinHandles). results[i] (results may be NULL) receives task i's result
 * if it ran to completion, or CORIO_ECANCELED if cancellation reached it
 * (it was aborted, or its runtime shut down; what its function returned
 * after its cleanup is not reported: corio_task_join and JoinSet report
 * it), -ENOMEM if its coroutine never got a stack, -EINVAL for a NULL
 * entry. Each task gets a waker of its own: a task that finishes costs
 * O(1), however many are joined, and its handle is given back at once.
 * Returns:
 *   0                every task finished, every handle given back;
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  the caller was cancelled, or its
 *                    deadline scope expired: every handle has been given
 *                    back; tasks that had finished have their results
 *                    stored, the others go on, detached (their entries of
 *                    `results` are left as they were). Use a JoinSet to
 *                    have them aborted instead;
 *   -EDEADLK         the calling task is in the list: nothing touched;
 *   -EINVAL          tasks NULL with n > 0: nothing touched;
 *   -ENOMEM          no memory for the wakers: nothing touched;
 *   CORIO_EWRONGCTX  inside a stackless task's poll function: nothing
 *                    touched (poll a corio_task_join_all_fut instead).
 * From plain code it blocks the thread. n == 0 returns 0 at once. Memory:
 * one allocation of 48 bytes plus 32 per task for the call. */
CORIO_API int corio_task_join_all(corio_task *const *tasks, size_t n, int *results);

#ifdef __cplusplus
}
#endif
#endif
