/* core/sched.h - what the task core needs from a scheduler (internal).
 *
 * The core polls tasks but never queues them. Each runtime flavour (the
 * current-thread scheduler, the multi-thread one) implements this small
 * interface, as tokio's task core sees its scheduler only through
 * `Schedule`; the core calls nothing else of the scheduling layer, so a new
 * flavour is one more vtable, not another definition of the same names.
 *
 * Every runtime struct begins with a `sched` (src/rt/runtime.h), so the
 * core turns a public `corio_rt *` into the `sched *` it needs without
 * knowing the runtime's layout.
 */
#ifndef CORIO_CORE_SCHED_H
#define CORIO_CORE_SCHED_H

#include <stddef.h>

#include "corio/task.h"

typedef struct sched sched;
struct worker;

typedef struct sched_vtable {
    /* Queue a task that was just notified (state_to_notified said SUBMIT, or
     * to_idle said NOTIFIED); the caller hands over one reference for the
     * queue. Any thread, also threads outside every runtime. */
    void (*schedule)(sched *s, corio_task *t);
    /* Take a freshly initialised task (NOTIFIED, with its registry and queue
     * references): register it and queue it. Any thread; `here` is the
     * calling thread's worker (NULL in plain code), which the core has at
     * hand. Returns 0, or CORIO_ESHUTDOWN and then has taken nothing. */
    int (*submit)(sched *s, struct worker *here, corio_task *t);
    /* The task completed: take it out of the registry. On the poller's
     * thread, before the completion is published. */
    void (*release)(sched *s, corio_task *t);
    /* A coroutine `self` running on w calls yield: return the task to switch
     * to directly (another coroutine that yielded, now taken off the queue),
     * `self` to just go on (nothing else is ready), or NULL when self must
     * switch back to the scheduler loop (it is then flagged TF_YIELDED by
     * the core and handed to `yielded`). On a direct switch, self must be
     * flagged TF_YIELDED and either queued already (a scheduler no other
     * thread takes tasks from) or left in w->deferred: the core hands it to
     * `yielded` once the switch has saved its context (before that, a
     * thread that took it from a queue could resume it half-saved). On w's
     * thread. */
    corio_task *(*yield_next)(struct worker *w, corio_task *self);
    /* Queue a coroutine that yielded back to the loop (still RUNNING, flagged
     * TF_YIELDED; its queue reference comes with it). On w's thread. */
    void (*yielded)(struct worker *w, corio_task *t);
    /* Optional (NULL: every suspension goes back to the loop). A coroutine
     * running on w is about to suspend, its await pending: return a started
     * coroutine task (TF_STARTED, not TK_FUTURE) taken off w's queues, for
     * the core to switch to directly - one switch instead of two through
     * the loop - or NULL to go back to the loop. The scheduler counts it as
     * a poll (its budgets, its progress counter). The core then does what
     * the loop would have done around the two polls: the next task's
     * to_running (or it clears TF_YIELDED) before the switch, and the
     * suspending one's to_idle, queueing it through `schedule` if it was
     * woken meanwhile, after the switch has saved its context (the next
     * one does it, core/coro.c queue_handoff). On w's thread. */
    corio_task *(*suspend_next)(struct worker *w);
    /* Optional (NULL: the core just cancels the task): abort `t`, which has
     * not finished - cancel it (task_cancel), and, for a scheduler that
     * keeps tasks queued for long (the blocking pool, whose jobs wait for a
     * free thread), take it off the queue and complete it now, so that its
     * joiner does not wait for its turn. Must not touch t once it is
     * cancelled and queued (a joiner on another thread may free it). Any
     * thread. */
    void (*aborted)(sched *s, corio_task *t);
} sched_vtable;

struct sched {
    const sched_vtable *vt;
    size_t stack_size; /* default coroutine stack of its tasks, rounded */
};

static inline sched *sched_of_rt(corio_rt *rt)
{
    return (sched *)(void *)rt;
}

#endif
