/* core/worker.h - the per-thread execution context, and what the core needs
 * from the scheduling layer (internal).
 *
 * A worker is the thread-side half of running tasks: the context the
 * scheduler loop runs in (coroutines switch back to it), the task it is
 * polling, and its cache of coroutine stacks. The scheduling layer (src/rt)
 * owns workers and implements the sched_* functions declared here; the core
 * calls only those, so it does not know which scheduler it runs under.
 *
 * The thread-local pointer to the current worker is only ever read through
 * worker_current(), a non-inlined function: coroutines may resume on another
 * thread, and a compiler may otherwise keep a thread-local address across a
 * context switch.
 */
#ifndef CORIO_CORE_WORKER_H
#define CORIO_CORE_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include "arch/ctx.h"
#include "arch/stack.h"
#include "corio/runtime.h"
#include "core/task.h"

struct sched;
struct wheel;

typedef struct worker {
    arch_ctx ctx;         /* the scheduler loop's context */
    struct sched *sched;
    corio_task *current;  /* task being polled, NULL in the loop itself */
    unsigned budget;      /* tasks it may still run before the loop checks
                           * timers and the inject queue again */
    stack_cache stacks;
    ctx_fpenv fpenv;      /* FP control state new coroutines start with */
    /* sanitizer fiber state of the loop's own stack */
    void *asan_fake_stack;
    const void *asan_stack_bottom;
    size_t asan_stack_size;
    void *tsan_fiber;
} worker;

worker *worker_current(void);
void worker_set_current(worker *w);

/* Prefetch the saved stack top of a suspended coroutine task (no-op for a
 * stackless one): a hint for a scheduler about to switch to it soon. */
void coro_prefetch(const corio_task *t);

/* ---- implemented by the scheduling layer --------------------------------- */

/* Queue a NOTIFIED task; the caller hands over one reference. Any thread. */
void sched_schedule(struct sched *s, corio_task *t);
/* Queue a task that yielded (called on the worker's thread). */
void sched_requeue_yielded(worker *w, corio_task *t);
/* For a coroutine `self` yielding on w: the task to switch to directly, if
 * the next ready task is a coroutine that yielded too (self is then queued,
 * flagged TF_YIELDED); `self` to just continue (nothing else is ready); NULL
 * when the scheduler loop must run first (budget spent, or the next task
 * needs a full poll). */
corio_task *sched_yield_next(worker *w, corio_task *self);
/* Register and queue a freshly initialised task. Any thread. Returns 0 or
 * CORIO_ESHUTDOWN (the task was not taken). */
int sched_submit(struct sched *s, corio_task *t);
/* Remove a finished task from the registry (worker's thread). */
void sched_unregister(struct sched *s, corio_task *t);
struct wheel *sched_wheel(struct sched *s);
size_t sched_stack_size(struct sched *s);
struct sched *sched_of(corio_rt *rt);
corio_rt *sched_rt(struct sched *s);

#endif
