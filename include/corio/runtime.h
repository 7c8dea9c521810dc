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
    size_t stack_size;       /* default coroutine stack size, 0: CORIO_DEFAULT_STACK_SIZE */
    unsigned event_interval; /* tasks run between two checks of timers and of
                              * wakes from other threads, 0: 61 */
} corio_rt_builder;

/* A builder for a current-thread runtime, with every default filled in. */
corio_rt_builder corio_rt_builder_current_thread(void);

/* Build a runtime. Returns 0 and sets *out, or -EINVAL / -ENOMEM / -EMFILE. */
int corio_rt_build(const corio_rt_builder *b, corio_rt **out);

/* Run fn(arg) as the runtime's main task on the calling thread, driving every
 * other task too, until fn returns. *result (if not NULL) gets fn's result.
 * Returns 0, -EINVAL (rt or fn NULL), CORIO_EWRONGCTX when called from inside
 * a task, CORIO_ESHUTDOWN, -EBUSY when another thread is driving the
 * runtime, or -ENOMEM. */
int corio_rt_block_on(corio_rt *rt, corio_fn fn, void *arg, int *result);

/* The same for a future, polled by the runtime as a stackless main task.
 * Returns the future's result, or an error as above: a future whose results
 * can be negative should report them in its own fields to be told apart. */
int corio_rt_block_on_future(corio_rt *rt, corio_future *fut);

/* Cancel the tasks left, run their cleanup, free the runtime. Join handles
 * still held stay valid (their tasks report cancellation) until given back.
 * From plain code it drives the shutdown on the calling thread. From a task
 * of another runtime it runs the shutdown on a helper thread while the
 * calling task waits (if that task is cancelled meanwhile, the shutdown still
 * completes). From one of the runtime's own tasks it is refused (a message on
 * stderr; nothing is freed). */
void corio_rt_free(corio_rt *rt);

/* The runtime of the calling task, NULL in plain code. */
corio_rt *corio_rt_current(void);

/* The one-liner, like #[tokio::main]: build a runtime with the defaults, run
 * fn(arg) on it, shut it down. Returns fn's result, or a negative error:
 * CORIO_EWRONGCTX from inside a task, -ENOMEM / -EMFILE from building the
 * runtime. (The default flavour is current-thread until the multi-thread
 * runtime exists; then it becomes the default, as in #[tokio::main].) */
int corio_run(corio_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
