/* rt/runtime.h - the runtime object every flavour shares (internal).
 *
 * A runtime is a scheduler (the core's view of it, core/sched.h, comes
 * first so that a corio_rt * is its sched *) plus the flavour's operations
 * for being driven and shut down. The public functions of runtime.h are
 * flavour-neutral (rt/runtime.c, rt/block_on.c, rt/shutdown.c); each flavour
 * implements this table:
 *   rt/current_thread.c   the current-thread scheduler
 *   rt/multi_thread.c     the work-stealing scheduler
 * and every runtime has a pool for blocking jobs (rt/blocking.c).
 */
#ifndef CORIO_RT_RUNTIME_H
#define CORIO_RT_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/sched.h"
#include "core/worker.h"
#include "corio/introspect.h"
#include "corio/runtime.h"

typedef struct rt_ops {
    /* The calling plain thread is about to block on a main task: claim what
     * that needs (the current-thread flavour: the right to drive it, -EBUSY
     * when another thread has it). CORIO_ESHUTDOWN once closed. */
    int (*enter)(corio_rt *rt);
    /* Run (or wait) until `main` has completed. After a successful enter. */
    void (*drive)(corio_rt *rt, corio_task *main);
    /* Undo enter. */
    void (*exit)(corio_rt *rt);
    /* Close to new tasks, cancel every task left, run until none is left,
     * stop the threads. From plain code. 0, or -EBUSY when another thread is
     * driving the runtime (nothing was done). */
    int (*shutdown)(corio_rt *rt);
    /* Free a runtime that has been shut down (or never run anything). */
    void (*destroy)(corio_rt *rt);
    /* Introspection (rt/introspect.c), from any thread, never waiting for
     * the runtime's threads: tasks queued by other threads that no worker
     * has taken yet; worker i's counters (i < workers). */
    size_t (*global_depth)(corio_rt *rt);
    void (*worker_metrics)(corio_rt *rt, unsigned i, corio_worker_metrics *out);
    /* The list of live tasks (rt/registry.h), and how many workers. */
    struct registry *(*tasks)(corio_rt *rt, unsigned *workers);
} rt_ops;

struct blocking_pool;
struct reactor;
struct registry;

struct corio_rt {
    sched s; /* first: see core/sched.h */
    const rt_ops *ops;
    corio_rt_flavor flavor;
    struct blocking_pool *pool; /* corio_spawn_blocking (rt/blocking.c) */
    struct reactor *io;         /* the I/O driver's reactor (io/reactor.h): turned
                                 * by the flavour when it parks, and without
                                 * blocking every event_interval polls */
    /* Set (release) by the flavour's shutdown when it closes to new tasks,
     * before it cancels the tasks left: a blocking job spawned after that,
     * from their cleanup too, gets CORIO_ESHUTDOWN as a task would. */
    _Atomic int closed;
};

static inline bool rt_is_closed(corio_rt *rt)
{
    return atomic_load_explicit(&rt->closed, memory_order_acquire) != 0;
}

/* The builder's task hooks and their argument (NULL: none), kept by each
 * flavour at the end of its struct (where they move no hot field). */
typedef struct task_hooks {
    void (*spawn)(corio_task *t, void *arg);
    void (*terminate)(corio_task *t, void *arg);
    void *arg;
} task_hooks;

static inline task_hooks task_hooks_of(const corio_rt_builder *b)
{
    return (task_hooks){b->on_task_spawn, b->on_task_terminate, b->task_hook_arg};
}

/* A task was accepted (registered, not yet scheduled): the spawn hook. */
static inline void rt_task_spawned(const task_hooks *h, corio_task *t)
{
    if (__builtin_expect(h->spawn != NULL, 0))
        h->spawn(t, h->arg);
}

/* A registered task finished (taken off the registry, its joiner not yet
 * woken): the terminate hook. */
static inline void rt_task_terminated(const task_hooks *h, corio_task *t)
{
    if (__builtin_expect(h->terminate != NULL, 0))
        h->terminate(t, h->arg);
}

/* The runtime whose task is running on the calling thread, NULL in plain
 * code. */
static inline corio_rt *rt_current(void)
{
    worker *w = worker_current();
    return (corio_rt *)(void *)(w ? w->sched : worker_handle());
}

/* Build one flavour (after the builder was checked and its defaults filled
 * in). */
int current_thread_build(const corio_rt_builder *b, corio_rt **out);
int multi_thread_build(const corio_rt_builder *b, corio_rt **out);

#endif
