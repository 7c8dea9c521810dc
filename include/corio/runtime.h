/* corio/runtime.h - runtimes: building, driving and shutting down.
 *
 * A runtime owns tasks, a scheduler, timer wheels, an I/O driver and a pool
 * of threads for blocking work. Two flavours, as in tokio:
 *
 *  - multi-thread (the default of corio_run, like #[tokio::main]): N worker
 *    threads of its own run the tasks, stealing work from each other when
 *    they run dry. A coroutine task may resume on another worker than the
 *    one it suspended on (see "thread-local state and migration" in
 *    corio/task.h). corio_rt_block_on waits on the calling thread while the
 *    workers run the main task.
 *  - current-thread: everything runs on the thread that calls
 *    corio_rt_block_on, and only while it does: tasks spawned from
 *    elsewhere wait until some thread drives the runtime.
 *
 * When no task is ready, threads sleep in the kernel (no CPU), until a timer
 * fires, I/O is ready or a waker is fired from any thread.
 *
 * Shutdown (corio_rt_free) cancels every task that is left, runs their
 * cleanup (coroutines see CORIO_ECANCELED from their awaits), waits for them
 * to finish, stops and joins the runtime's threads, and frees everything the
 * runtime allocated.
 */
#ifndef CORIO_RUNTIME_H
#define CORIO_RUNTIME_H

#include "api.h"

#include <stddef.h>

#include "future.h"
#include "task.h"
#include "time.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum corio_rt_flavor {
    CORIO_RT_CURRENT_THREAD = 0,
    CORIO_RT_MULTI_THREAD = 1,
} corio_rt_flavor;

/* Default coroutine stack: 256 KiB of address space, committed lazily (an
 * idle coroutine typically touches one or two 4 KiB pages of it). */
#define CORIO_DEFAULT_STACK_SIZE (256u * 1024u)

/* The most worker threads a runtime may have. */
#define CORIO_MAX_WORKER_THREADS 1024u

/* How a runtime is built. Get one from corio_rt_builder_multi_thread() or
 * corio_rt_builder_current_thread(), with every default filled in, then
 * change what you need; 0 or NULL in a field means its default too. A field
 * that does not apply to the flavour is ignored. */
typedef struct corio_rt_builder {
    corio_rt_flavor flavor;
    /* Multi-thread: how many workers. Default: the CPUs this process may run
     * on (its affinity mask, so taskset and container limits count), or the
     * number in the environment variable CORIO_WORKER_THREADS. At most
     * CORIO_MAX_WORKER_THREADS. */
    unsigned worker_threads;
    /* Threads of the blocking pool (corio_spawn_blocking), started on
     * demand. Default 512. */
    unsigned max_blocking_threads;
    /* How long an idle blocking thread waits for work before it exits.
     * Default 10 s. */
    corio_duration blocking_keep_alive;
    /* Threads are named prefix-N, from the prefix's first 10 bytes (so that
     * prefix-N fits the 15 bytes Linux keeps of a name; the default
     * "corio-worker" shows as "corio-work-3"). Default "corio-worker" for
     * workers, "corio-blocking" for the pool. */
    const char *thread_name_prefix;
    /* Stack of the runtime's own threads (not the coroutines'), 0: the
     * system's default. At least 64 KiB. */
    size_t thread_stack_size;
    /* Default coroutine stack size, 0: CORIO_DEFAULT_STACK_SIZE; at most
     * CORIO_STACK_SIZE_MAX. */
    size_t stack_size;
    /* Called on every thread the runtime starts (workers and blocking
     * threads), first thing, and last thing before it exits, with hook_arg. */
    void (*on_thread_start)(void *hook_arg);
    void (*on_thread_stop)(void *hook_arg);
    void *hook_arg;
    /* Task hooks (tokio's on_task_spawn and on_task_terminate): called with
     * each task the runtime accepts, and again when it has finished, with
     * task_hook_arg; for lifecycle logging, tracing, or counting tasks by
     * kind. The task is borrowed for the call: corio_task_id,
     * corio_task_name and corio_task_site may be asked of it, nothing that
     * joins, releases or waits. Each accepted task gets one call of each,
     * spawn first; a refused spawn gets none; blocking jobs
     * (corio_spawn_blocking) are not the runtime's tasks and get none.
     *  - on_task_spawn runs before the task can first run, on the thread
     *    that spawned it; for a task spawned from outside the runtime's
     *    threads, on the thread that takes the task in: a current-thread
     *    runtime's driving thread, a multi-thread runtime's worker.
     *  - on_task_terminate runs on the thread that finished the task: after
     *    its function returned (its cleanup done, if it was cancelled) and
     *    it left the runtime's list of live tasks (corio/introspect.h),
     *    before a join of it returns.
     * Both run inside the scheduler: keep them short, and do not block (a
     * spawn from them is allowed). NULL: none. */
    void (*on_task_spawn)(corio_task *t, void *task_hook_arg);
    void (*on_task_terminate)(corio_task *t, void *task_hook_arg);
    void *task_hook_arg;
    /* Polls between two checks of the timers (and of the I/O driver), so a
     * busy runtime still fires its timers on time. Default 61. */
    unsigned event_interval;
    /* Multi-thread: polls between two looks at the global queue (tasks
     * spawned or woken from outside the workers) ahead of the local one, so
     * they are not starved by local work. Default 31. */
    unsigned global_queue_interval;
} corio_rt_builder;

/* A builder for a multi-thread runtime, with every default filled in but
 * worker_threads, left 0: its default (CORIO_WORKER_THREADS, else the CPUs
 * of the affinity mask) is decided by corio_rt_build, so that the
 * environment and the affinity of that moment count. */
CORIO_API corio_rt_builder corio_rt_builder_multi_thread(void);

/* A builder for a current-thread runtime, with every default filled in. */
CORIO_API corio_rt_builder corio_rt_builder_current_thread(void);

/* Build a runtime (a multi-thread one starts its workers). Returns 0 and
 * sets *out, or -EINVAL (a NULL argument, an unknown flavour, a stack size
 * above CORIO_STACK_SIZE_MAX, more than CORIO_MAX_WORKER_THREADS workers, a
 * thread stack below 64 KiB, a negative keep-alive, CORIO_WORKER_THREADS
 * set to something that is not a count in range), -ENOMEM, -EAGAIN (no
 * thread could be started), or -EMFILE / -ENFILE (no file descriptor for the
 * I/O driver); on failure *out is set to NULL (when out is not NULL). */
CORIO_API int corio_rt_build(const corio_rt_builder *b, corio_rt **out);

/* Run fn(arg) as the runtime's main task and wait for it. A current-thread
 * runtime runs it, and every other task, on the calling thread; a
 * multi-thread runtime runs it on its workers while the calling thread
 * sleeps. Returns 0 with fn's result in *result (if not NULL; *result is 0
 * whenever fn did not run), or:
 *   CORIO_ECANCELED  the main task was cancelled (it aborted itself); *result
 *                    is what fn returned after its cleanup;
 *   -EINVAL          rt or fn NULL;
 *   CORIO_EWRONGCTX  called from inside a task;
 *   -EBUSY           current-thread: another thread is driving the runtime;
 *   CORIO_ESHUTDOWN  the runtime is shutting down;
 *   -ENOMEM          no memory for the main task. */
CORIO_API int corio_rt_block_on(corio_rt *rt, corio_fn fn, void *arg, int *result);

/* The same for a future, polled by the runtime as a stackless main task
 * through a pointer (it stays where it is). Returns 0, the output being in
 * fut->result, or an error as above (-EINVAL also for a zeroed future). */
CORIO_API int corio_rt_block_on_future(corio_rt *rt, corio_future *fut);

/* Shut the runtime down and free it: refuse new tasks, cancel the tasks
 * left and run them through their cleanup (a task that never reaches an
 * await holds this up: cancellation is cooperative), then wait for the
 * blocking jobs that are running (jobs not started are cancelled and never
 * run), stop and join the runtime's threads, free everything. Join handles
 * still held stay valid (their tasks report cancellation) until given back.
 * From plain code it runs the shutdown on the calling thread. From a
 * coroutine task of another runtime it runs the shutdown on a helper thread
 * while the calling task waits. Returns 0 (also for a NULL rt), or, with
 * nothing done:
 *   CORIO_EWRONGCTX  called from one of the runtime's own tasks or blocking
 *                    jobs, or from a stackless task's poll function;
 *   -EBUSY           another thread is in corio_rt_block_on for the runtime
 *                    (current-thread: or is driving it otherwise);
 *   -EAGAIN / -ENOMEM  the helper thread could not be started;
 * or, from a task of another runtime whose wait was interrupted,
 *   CORIO_ECANCELED / CORIO_ETIMEDOUT  the caller stopped waiting; the
 *                    shutdown still completes on the helper thread. */
CORIO_API int corio_rt_free(corio_rt *rt);

/* corio_rt_free with a bound on the wait for blocking jobs (tokio's
 * shutdown_timeout). The one exception to "no call takes a deadline"
 * (docs/conventions.md, Deadlines): plain code has no deadline scope, and
 * this bounds how long it lets the runtime's jobs run, not a wait of a
 * task. Jobs still running `d` after the call are abandoned:
 * their threads are left to finish them and exit on their own, and free what
 * they share with the runtime when the last one does. Each such thread still
 * calls the builder's on_thread_stop(hook_arg) as it exits, after this call
 * has returned: whatever hook_arg points to must outlive those jobs. Returns
 * CORIO_ETIMEDOUT when jobs were abandoned (everything else was freed), else
 * as corio_rt_free. */
CORIO_API int corio_rt_shutdown_timeout(corio_rt *rt, corio_duration d);

/* The runtime of the calling task, or of the blocking job running on the
 * calling thread; NULL in other plain code. Borrowed: never free it. The
 * pointer is valid until the runtime is freed: while the calling task
 * runs, and while the calling job runs unless corio_rt_shutdown_timeout
 * abandoned it (an abandoned job must not use the runtime any more). */
CORIO_API corio_rt *corio_rt_current(void);

/* The one-liner, like #[tokio::main]: build a multi-thread runtime with the
 * defaults, run fn(arg) on it, shut it down. Returns 0 with fn's result in
 * *result (if not NULL; 0 whenever fn did not run), or an error of
 * corio_rt_build or corio_rt_block_on.
 *
 *   int main(void) { int r; return corio_run(main_task, NULL, &r) == 0 ? r : 1; } */
CORIO_API int corio_run(corio_fn fn, void *arg, int *result);

#ifdef __cplusplus
}
#endif
#endif
