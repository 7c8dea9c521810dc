/* corio/task.h - tasks: spawning, join handles, cancellation, yielding.
 *
 * A task is a unit of work the runtime owns and polls. Two kinds:
 *  - coroutine tasks run a plain C function `int fn(void *arg)` on a stack of
 *    their own; inside, every blocking-looking corio call suspends the task,
 *    not the thread. The stack is taken from a pool when the task first runs
 *    (a spawned task that has not run yet costs no stack) and returned when
 *    it finishes.
 *  - stackless tasks run a future (corio/future.h) spawned directly: they cost
 *    a task header plus the future's state.
 *
 * Spawning returns a join handle (`corio_task *`). The handle can be joined
 * (once), released (the task goes on, detached), asked whether the task has
 * finished, and used to abort the task. A handle must be given back exactly
 * once, by corio_task_join or corio_task_release.
 *
 * Cancellation (corio_task_abort, runtime shutdown) is cooperative and sticky.
 * A coroutine task's pending await returns CORIO_ECANCELED, and so does every
 * later one, so the function unwinds through its own cleanup code. A coroutine
 * task aborted before it first ran still runs: its first await returns
 * CORIO_ECANCELED, so the cleanup that owns `arg` always runs. A cancelled
 * stackless task has its future's drop called and is never polled again.
 * Aborting a finished task does nothing.
 *
 * Every task has a process-unique id (never 0), an optional name, and the
 * file:line of its spawn, kept for task dumps and the console.
 */
#ifndef CORIO_TASK_H
#define CORIO_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_rt corio_rt;
typedef struct corio_task corio_task; /* a join handle */

/* The body of a coroutine task. Its return value is the task's result. */
typedef int (*corio_fn)(void *arg);

/* Where a task was spawned: filled in by the spawn macros. */
typedef struct corio_spawn_site {
    const char *file;
    int line;
    const char *func;
} corio_spawn_site;

#define CORIO_HERE                                                                    \
    (__extension__({                                                                  \
        static const corio_spawn_site corio_site_ = {__FILE__, __LINE__, __func__};   \
        &corio_site_;                                                                 \
    }))

typedef struct corio_spawn_opts {
    const char *name;  /* copied; NULL: unnamed */
    size_t stack_size; /* coroutine stack size in bytes; 0: the runtime's default */
    corio_rt *rt;      /* NULL: the runtime of the calling task */
} corio_spawn_opts;

/* Spawn a coroutine task running fn(arg). `out` receives the join handle, or
 * may be NULL to detach the task at once. From plain code (outside any task)
 * `opts->rt` must name the runtime. Returns 0, -EINVAL (fn NULL), -ENOMEM,
 * CORIO_ESHUTDOWN (the runtime is shutting down), or CORIO_EWRONGCTX (no
 * runtime given or current).
 * On failure fn is not called and `arg` remains the caller's. */
int corio_spawn_at(corio_task **out, const corio_spawn_opts *opts, corio_fn fn, void *arg,
                   const corio_spawn_site *site);

/* Spawn a stackless task running the future `fut`: its `size` bytes (the
 * whole struct that starts with the corio_future) are copied into the task,
 * which polls and, if needed, drops the copy. `fut` must not have been polled.
 * The task's result is the future's result. Errors as corio_spawn_at, and
 * -EINVAL for a NULL future, no poll function, or size smaller than a
 * corio_future; on failure the future was not copied, and dropping it is the
 * caller's. */
int corio_spawn_future_at(corio_task **out, const corio_spawn_opts *opts, const corio_future *fut,
                          size_t size, const corio_spawn_site *site);

/* The common forms. corio_spawn returns the handle, or NULL on failure (use
 * corio_spawn_with to learn why). */
#define corio_spawn(fn, arg) corio_spawn_handle_at_((fn), (arg), CORIO_HERE)
#define corio_spawn_detached(fn, arg) corio_spawn_at(NULL, NULL, (fn), (arg), CORIO_HERE)
#define corio_spawn_with(out, opts, fn, arg) corio_spawn_at((out), (opts), (fn), (arg), CORIO_HERE)
#define corio_spawn_future(out, fut, size) corio_spawn_future_at((out), NULL, (fut), (size), CORIO_HERE)

corio_task *corio_spawn_handle_at_(corio_fn fn, void *arg, const corio_spawn_site *site);

/* Wait for the task to finish and give back the handle. Inside a task this
 * suspends the caller; from plain code it blocks the thread. Returns:
 *   0                the task ran to completion; *result (if not NULL) is its
 *                    result (-ENOMEM if no stack could be had to start a
 *                    coroutine: its function then never ran);
 *   CORIO_ECANCELED  the task was cancelled; *result is what its function
 *                    returned after cleanup (CORIO_ECANCELED for a stackless
 *                    task). Also returned when the *caller* is cancelled while
 *                    waiting (corio_is_cancelled() tells which); the task then
 *                    goes on, detached;
 *   CORIO_ETIMEDOUT  the caller's corio_with_timeout deadline passed while
 *                    waiting; the task goes on, detached;
 *   -EINVAL          t is NULL.
 * The handle is given back in every case. */
int corio_task_join(corio_task *t, int *result);

/* Give back the handle without waiting: the task goes on, detached. */
void corio_task_release(corio_task *t);

/* Ask the task to stop (see the cancellation rules above). Harmless on a task
 * that has finished. Thread-safe; the handle stays valid. */
void corio_task_abort(corio_task *t);

/* Whether the task has finished (completed or cancelled). */
bool corio_task_is_finished(const corio_task *t);

/* The task's process-unique id (never 0). */
uint64_t corio_task_id(const corio_task *t);

/* The task's name (NULL when unnamed) and spawn site. */
const char *corio_task_name(const corio_task *t);
const corio_spawn_site *corio_task_site(const corio_task *t);

/* A future that completes when the task does, for select/timeout. Its
 * base.result is 0 or CORIO_ECANCELED as for corio_task_join, and `value`
 * the task's result. It borrows the handle, which the caller still gives back. */
typedef struct corio_join_fut {
    corio_future base;
    corio_task *task;
    int value;
} corio_join_fut;
void corio_join_fut_init(corio_join_fut *f, corio_task *t);

/* ---- the current task ----------------------------------------------------- */

/* Let the other ready tasks run, then continue. Returns 0, or CORIO_ECANCELED
 * when the task is cancelled. In plain code it returns CORIO_EWRONGCTX. */
int corio_yield_now(void);

/* The id of the calling task, 0 in plain code. */
uint64_t corio_current_task_id(void);

/* Whether the calling task has been cancelled (false in plain code). */
bool corio_is_cancelled(void);

#ifdef __cplusplus
}
#endif
#endif
