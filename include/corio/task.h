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
 * Spawning gives a join handle (`corio_task *`), or detaches the task at
 * once when the `out` argument is NULL. A handle can be joined (once),
 * released (the task goes on, detached), asked about the task, and used to
 * abort it. Each handle must be given back exactly once, by corio_task_join
 * or corio_task_release; using it afterwards is undefined (set CORIO_DEBUG=1
 * in the environment to have it caught, see docs/runtime.md).
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
 *
 * NULL handles: functions returning int return -EINVAL, queries return
 * false / 0 / NULL, release and abort do nothing (docs/conventions.md).
 */
#ifndef CORIO_TASK_H
#define CORIO_TASK_H

#include "api.h"

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

/* The largest coroutine stack a spawn or a builder may ask for (1 GiB);
 * more is refused with -EINVAL. */
#define CORIO_STACK_SIZE_MAX ((size_t)1 << 30)

typedef struct corio_spawn_opts {
    const char *name;  /* copied; NULL: unnamed */
    size_t stack_size; /* coroutine stack size in bytes; 0: the runtime's default;
                        * at most CORIO_STACK_SIZE_MAX */
    corio_rt *rt;      /* NULL: the runtime of the calling task */
} corio_spawn_opts;

/* ---- spawning ---------------------------------------------------------------
 *
 *   int corio_spawn(fn, arg, &handle)                 a coroutine task
 *   int corio_spawn_with(&opts, fn, arg, &handle)     ... with a name, a stack size, a runtime
 *   int corio_spawn_future(&fut.base, sizeof fut, &handle)              a stackless task
 *   int corio_spawn_future_with(&opts, &fut.base, sizeof fut, &handle)
 *
 * Each returns 0 and stores the join handle in *handle, or detaches the task
 * when `handle` is NULL. Errors (nothing was spawned, *handle is set to
 * NULL; fn is not called, `arg` and the future remain the caller's):
 *   -EINVAL          fn NULL; a NULL future, one with no poll function, or a
 *                    size smaller than a corio_future; a stack size above
 *                    CORIO_STACK_SIZE_MAX;
 *   -ENOMEM          no memory for the task;
 *   CORIO_ESHUTDOWN  the runtime is shutting down;
 *   CORIO_EWRONGCTX  plain code (outside any task) with no opts->rt.
 * The macros record the spawn site; the _ex functions take it explicitly. */
#define corio_spawn(fn, arg, out) corio_spawn_ex(NULL, CORIO_HERE, (fn), (arg), (out))
#define corio_spawn_with(opts, fn, arg, out) corio_spawn_ex((opts), CORIO_HERE, (fn), (arg), (out))
#define corio_spawn_future(fut, size, out) \
    corio_spawn_future_ex(NULL, CORIO_HERE, (fut), (size), (out))
#define corio_spawn_future_with(opts, fut, size, out) \
    corio_spawn_future_ex((opts), CORIO_HERE, (fut), (size), (out))

CORIO_API int corio_spawn_ex(const corio_spawn_opts *opts, const corio_spawn_site *site,
                             corio_fn fn, void *arg, corio_task **out);

/* The stackless form: the future's `size` bytes (the whole struct that
 * starts with the corio_future) are copied into the task, which polls and,
 * if needed, drops the copy. `fut` must not have been polled. The task's
 * result is the future's output (its base.result). The copy is aligned to
 * 16 bytes: a future type that needs more (a member declared _Alignas(32)
 * or wider) must not be spawned this way (its copy would be misaligned);
 * keep such a future in memory of your own and spawn a small future that
 * polls and drops it through a pointer. */
CORIO_API int corio_spawn_future_ex(const corio_spawn_opts *opts,
                                    const corio_spawn_site *site, const corio_future *fut,
                                    size_t size, corio_task **out);

/* ---- blocking work ------------------------------------------------------------
 *
 *   int corio_spawn_blocking(fn, arg, &handle)
 *   int corio_spawn_blocking_with(&opts, fn, arg, &handle)
 *
 * Run fn(arg) on a thread of the runtime's blocking pool (tokio's
 * spawn_blocking), for work that blocks its thread: a system call that
 * waits, a C library without an async API, a long computation. The handle
 * is an ordinary join handle: join it (from a task, it suspends the task,
 * not a worker), await its corio_join_fut, release it, abort it. fn runs as
 * plain code: it may block and join tasks (corio_task_join from a plain
 * thread), and spawns without opts.rt go to its runtime, but it cannot
 * await. Threads are started on demand, up to the builder's
 * max_blocking_threads; jobs beyond that wait their turn (FIFO). Aborting a
 * job that has not started means fn never runs (the join reports
 * CORIO_ECANCELED); a running job cannot be stopped. From plain code, name
 * the runtime with opts.rt. Errors as corio_spawn_ex, and -EAGAIN when the
 * pool has no thread and none can be started. */
#define corio_spawn_blocking(fn, arg, out) \
    corio_spawn_blocking_ex(NULL, CORIO_HERE, (fn), (arg), (out))
#define corio_spawn_blocking_with(opts, fn, arg, out) \
    corio_spawn_blocking_ex((opts), CORIO_HERE, (fn), (arg), (out))

CORIO_API int corio_spawn_blocking_ex(const corio_spawn_opts *opts,
                                      const corio_spawn_site *site, corio_fn fn, void *arg,
                                      corio_task **out);

/* ---- join handles ---------------------------------------------------------- */

/* Wait for the task to finish and give back the handle. Inside a coroutine
 * task this suspends the caller; from plain code it blocks the thread.
 * Returns:
 *   0                the task ran to completion; *result (if not NULL) is its
 *                    result (-ENOMEM if no stack could be had to start a
 *                    coroutine: its function then never ran);
 *   CORIO_ECANCELED  the task was cancelled, and the cancellation reached
 *                    it (an await of it returned CORIO_ECANCELED; a task
 *                    aborted that never awaited again ran to completion, as
 *                    above); *result is what its function returned after
 *                    its cleanup (CORIO_ECANCELED for a stackless task, whose
 *                    future was dropped); or the *caller* was cancelled while the
 *                    task was still running, or a corio_scope around the caller
 *                    was (corio_task_is_cancelled(corio_task_current()) tells
 *                    the first only; to tell the task's own cancellation from
 *                    an interruption of the wait, await a corio_join_fut: the
 *                    await's code is the interruption, base.result the
 *                    task's): the task then goes on, detached;
 *   CORIO_ETIMEDOUT  the caller's deadline scope (corio_timeout_call) passed
 *                    while the task was still running; it goes on, detached.
 * If the task has finished by the time the caller is interrupted, the join
 * reports the task's own outcome and result as above: nothing is lost.
 * The handle is given back in every case above. It is not, and stays the
 * caller's, for these two misuses:
 *   -EDEADLK         t is the calling task itself;
 *   CORIO_EWRONGCTX  called inside a stackless task's poll function, which
 *                    must not block (await a corio_join_fut instead);
 * and -EINVAL for a NULL t. */
CORIO_API int corio_task_join(corio_task *t, int *result);

/* Give back the handle without waiting: the task goes on, detached. */
CORIO_API void corio_task_release(corio_task *t);

/* Ask the task to stop (see the cancellation rules above). Harmless on a task
 * that has finished. Thread-safe; the handle stays valid. */
CORIO_API void corio_task_abort(corio_task *t);

/* Whether the task has finished (completed or cancelled). Thread-safe. */
CORIO_API bool corio_task_is_finished(const corio_task *t);

/* Whether the task has been asked to stop (corio_task_abort, shutdown),
 * finished or not. Thread-safe. */
CORIO_API bool corio_task_is_cancelled(const corio_task *t);

/* The task's process-unique id (never 0; 0 for NULL). */
CORIO_API uint64_t corio_task_id(const corio_task *t);

/* The task's name (NULL when unnamed) and spawn site. Both stay valid while
 * the caller holds the handle (until it is joined or released), and for
 * corio_task_current() while the task runs. */
CORIO_API const char *corio_task_name(const corio_task *t);
CORIO_API const corio_spawn_site *corio_task_site(const corio_task *t);

/* A future that completes when the task does, for select and timeouts. Its
 * base.result is the outcome corio_task_join would return (0 or
 * CORIO_ECANCELED; -EINVAL for a NULL task; -EDEADLK, at once, when polled
 * by the task `t` itself, which cannot wait for its own end) and `value`
 * the task's result.
 * It borrows the handle, which the caller still gives back. Initialising a
 * NULL f does nothing. */
typedef struct corio_join_fut {
    corio_future base;
    corio_task *task;
    int value;
} corio_join_fut;
CORIO_API void corio_join_fut_init(corio_join_fut *f, corio_task *t);

/* ---- thread-local state and migration ---------------------------------------
 *
 * A coroutine task may resume on another thread than the one it suspended
 * on: after corio_rt_block_on returned on one thread and another thread
 * drives the runtime, and routinely on the multi-thread runtime. Two things
 * follow for code inside a task:
 *  - a thread-local variable is another variable after an await: what the
 *    task wrote before it is on the old thread. Keep per-task state in the
 *    task (its arg, its stack), not in thread-locals;
 *  - a compiler may compute a thread-local's address once and keep it across
 *    the await (errno included: use corio_errno, corio/error.h), and then
 *    reads the old thread's variable. The same goes for any function the
 *    C library declares const, pthread_self() among them: its value from
 *    before an await may be kept (gettid() is a system call, asked afresh). Where a thread-local is really wanted
 *    (a per-thread cache, say), declare it with CORIO_THREAD_LOCAL and go
 *    through its accessor, which finds the variable of the thread it runs on:
 *
 *        CORIO_THREAD_LOCAL(struct cache, my_cache)   (at file scope)
 *        ... my_cache()->hits++;                      (in a task, any time)
 */
#if defined(__has_attribute)
#if __has_attribute(noipa)
#define CORIO_NOIPA_ noipa,
#endif
#endif
#ifndef CORIO_NOIPA_
#define CORIO_NOIPA_
#endif
#define CORIO_THREAD_LOCAL(type, name)                                                   \
    static __thread type name##_corio_tls_;                                              \
    static __attribute__((CORIO_NOIPA_ noinline, unused)) type *name(void)                \
    {                                                                                    \
        type *p_ = &name##_corio_tls_;                                                   \
        __asm__ volatile("" : "+r"(p_)::"memory");                                       \
        return p_;                                                                       \
    }

/* ---- the calling task ------------------------------------------------------- */

/* The calling task, as a handle the caller does not own (never join or
 * release it; it is valid while the task runs), or NULL in plain code.
 * E.g. corio_task_id(corio_task_current()),
 * corio_task_is_cancelled(corio_task_current()). */
CORIO_API corio_task *corio_task_current(void);

/* Let the other ready tasks run, then continue (tokio's yield_now). Returns
 * 0, CORIO_ECANCELED when the task is cancelled, or CORIO_ETIMEDOUT inside an
 * expired deadline scope; CORIO_EWRONGCTX in plain code and in a stackless
 * task's poll function. */
CORIO_API int corio_yield(void);

#ifdef __cplusplus
}
#endif
#endif
