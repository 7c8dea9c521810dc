/* corio/runtime.h - runtimes: building, driving and shutting down.
 *
 * A runtime owns tasks, a scheduler, a timer wheel and an I/O driver. The
 * current-thread flavour runs everything on the thread that calls
 * corio_rt_block_on, and only while it does: tasks spawned from elsewhere wait
 * until some thread drives the runtime. When no task is ready the driving
 * thread sleeps in the kernel (no CPU), until a timer fires, I/O is ready or a
 * waker is fired from any thread.
 *
 * Shutdown (corio_rt_free) cancels every task that is left, runs their
 * cleanup (coroutines see CORIO_ECANCELED from their awaits), waits for them
 * to finish and frees everything the runtime allocated.
 */
#ifndef CORIO_RUNTIME_H
#define CORIO_RUNTIME_H

#include "api.h"

#include <stddef.h>

#include "future.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum corio_rt_flavor {
    CORIO_RT_CURRENT_THREAD = 0,
} corio_rt_flavor;

/* Default coroutine stack: 256 KiB of address space, committed lazily (an
 * idle coroutine typically touches one or two 4 KiB pages of it). */
#define CORIO_DEFAULT_STACK_SIZE (256u * 1024u)

typedef struct corio_rt_builder {
    corio_rt_flavor flavor;
    size_t stack_size;       /* default coroutine stack size, 0: CORIO_DEFAULT_STACK_SIZE;
                              * at most CORIO_STACK_SIZE_MAX */
    unsigned event_interval; /* tasks run between two checks of timers and of
                              * wakes from other threads, 0: 61 */
} corio_rt_builder;

/* A builder for a current-thread runtime, with every default filled in. */
CORIO_API corio_rt_builder corio_rt_builder_current_thread(void);

/* Build a runtime. Returns 0 and sets *out, or -EINVAL (a NULL argument, an
 * unknown flavour, a stack size above CORIO_STACK_SIZE_MAX), -ENOMEM, or
 * -EMFILE / -ENFILE (no file descriptor for the I/O driver). */
CORIO_API int corio_rt_build(const corio_rt_builder *b, corio_rt **out);

/* Run fn(arg) as the runtime's main task on the calling thread, driving every
 * other task too, until fn returns. Returns 0 with fn's result in *result (if
 * not NULL; *result is 0 whenever fn did not run), or:
 *   CORIO_ECANCELED  the main task was cancelled (it aborted itself); *result
 *                    is what fn returned after its cleanup;
 *   -EINVAL          rt or fn NULL;
 *   CORIO_EWRONGCTX  called from inside a task;
 *   -EBUSY           another thread is driving the runtime;
 *   CORIO_ESHUTDOWN  the runtime is shutting down;
 *   -ENOMEM          no memory for the main task. */
CORIO_API int corio_rt_block_on(corio_rt *rt, corio_fn fn, void *arg, int *result);

/* The same for a future, polled by the runtime as a stackless main task
 * through a pointer (it stays where it is). Returns 0, the output being in
 * fut->result, or an error as above (-EINVAL also for a zeroed future). */
CORIO_API int corio_rt_block_on_future(corio_rt *rt, corio_future *fut);

/* Shut the runtime down and free it: cancel the tasks left, run their
 * cleanup, free everything. Join handles still held stay valid (their tasks
 * report cancellation) until given back. From plain code it drives the
 * shutdown on the calling thread. From a coroutine task of another runtime it
 * runs the shutdown on a helper thread while the calling task waits. Returns
 * 0 (also for a NULL rt), or, with nothing done:
 *   CORIO_EWRONGCTX  called from one of the runtime's own tasks, or from a
 *                    stackless task's poll function;
 *   -EBUSY           another thread is driving the runtime right now;
 *   -EAGAIN / -ENOMEM  the helper thread could not be started;
 * or, from a task of another runtime whose wait was interrupted,
 *   CORIO_ECANCELED / CORIO_ETIMEDOUT  the caller stopped waiting; the
 *                    shutdown still completes on the helper thread. */
CORIO_API int corio_rt_free(corio_rt *rt);

/* The runtime of the calling task, NULL in plain code. */
CORIO_API corio_rt *corio_rt_current(void);

/* The one-liner, like #[tokio::main]: build a runtime with the defaults, run
 * fn(arg) on it, shut it down. Returns 0 with fn's result in *result (if not
 * NULL; 0 whenever fn did not run), or an error of corio_rt_build or
 * corio_rt_block_on. (The default
 * flavour is current-thread until the multi-thread runtime exists; then it
 * becomes the default, as in #[tokio::main].)
 *
 *   int main(void) { int r; return corio_run(main_task, NULL, &r) == 0 ? r : 1; } */
CORIO_API int corio_run(corio_fn fn, void *arg, int *result);

#ifdef __cplusplus
}
#endif
#endif
