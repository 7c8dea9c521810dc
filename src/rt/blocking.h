/* rt/blocking.h - a runtime's pool of threads for blocking work
 * (corio_spawn_blocking; tokio's spawn_blocking) (internal).
 *
 * A blocking job is a stackless task whose future calls fn(arg) once, on a
 * pool thread: the pool is one more scheduler behind the core's interface
 * (its tasks' `sched` is the pool), so a job has an ordinary join handle,
 * awaited, aborted and released like any task's.
 *
 * Threads start on demand, up to max_blocking_threads; a thread with nothing
 * to do for keep_alive exits. Jobs beyond the limit wait their turn in FIFO
 * order. Aborting a job that has not started keeps fn from running (it
 * completes cancelled when its turn comes, or at shutdown); a job that is
 * running cannot be stopped. On a pool thread the job sees the runtime as
 * its own (corio_rt_current, and spawns without opts.rt go to it) but is
 * plain code: it may block, join with corio_task_join, and must not await.
 */
#ifndef CORIO_RT_BLOCKING_H
#define CORIO_RT_BLOCKING_H

#include "corio/runtime.h"

typedef struct blocking_pool blocking_pool;

/* The pool of runtime `rt` (threads start later, on demand). 0 or -ENOMEM. */
int blocking_pool_new(blocking_pool **out, corio_rt *rt, const corio_rt_builder *b);

/* Queue fn(arg) as a job. Errors as corio_spawn_ex. */
int blocking_pool_spawn(blocking_pool *p, const corio_spawn_opts *opts,
                        const corio_spawn_site *site, corio_fn fn, void *arg, corio_task **out);

/* As blocking_pool_spawn, for a job that owns `arg`: when the job is
 * cancelled before fn ran (aborted, or at shutdown), cancelled(arg) is
 * called instead, so that arg is given back either way. */
int blocking_pool_spawn_owned(blocking_pool *p, const corio_spawn_opts *opts,
                              const corio_spawn_site *site, corio_fn fn,
                              void (*cancelled)(void *arg), void *arg, corio_task **out);

/* From a coroutine task: wait for a job of the calling runtime's pool made
 * for a call of corio's own (a file-system call, a name lookup), and give
 * back its handle. Returns 0 when the job has run; the interruption's code
 * (CORIO_ECANCELED, CORIO_ETIMEDOUT) when the caller was interrupted
 * first - the job then goes on, detached; CORIO_ESHUTDOWN when the job was
 * cancelled before it ran (the pool is closing). Unlike corio_task_join,
 * whose CORIO_ECANCELED means either of the last two, and which
 * corio_task_is_cancelled(corio_task_current()) cannot tell apart when a
 * cancelled corio_scope, not a cancellation of the task, interrupted it. */
int blocking_job_join(corio_task *job);

/* Stop taking jobs; jobs not started complete cancelled (fn never runs);
 * wait until the running ones have returned and every thread has exited, or
 * until `deadline` (UINT64_MAX: no limit). Frees the pool, or, past the
 * deadline, leaves that to its last thread and returns CORIO_ETIMEDOUT. */
int blocking_pool_shutdown(blocking_pool *p, corio_instant deadline);

/* For corio_rt_metrics: threads alive in the pool now, those of them
 * waiting for a job (idle, or the spinner), and jobs queued for a thread. */
void blocking_pool_stats(blocking_pool *p, unsigned *threads, unsigned *idle, size_t *queued);

#endif
