/* core/task_run.h - one poll of a task, for a scheduler's loop (internal).
 *
 * Kept apart from core/task.h so that only the loops that poll tasks see the
 * two kinds' poll functions; inline, so that each loop gets its own copy
 * with both polls called directly (no call through a table on the path of
 * every poll).
 */
#ifndef CORIO_CORE_TASK_RUN_H
#define CORIO_CORE_TASK_RUN_H

#include "core/sched.h"
#include "core/task.h"

struct worker;

/* One poll of each kind, on worker w's thread (core/coro.c,
 * core/stackless.c). Returns true when the task has finished (t->result
 * set). `cancelled`: to_running saw CANCELLED. A coroutine may hand the CPU
 * straight to another yielded coroutine (see corio_yield), so the task that
 * comes back from the poll may be another one: *t is updated to it. */
bool coro_poll(corio_task **t, struct worker *w, bool cancelled);
bool fut_poll(corio_task **t, struct worker *w, bool cancelled);

/* The task finished its last poll: out of the registry, COMPLETE, the
 * joiner woken, the references of registry and queue dropped. */
static inline void task_complete(corio_task *t)
{
    t->sched->vt->release(t->sched, t);
    /* JOIN_INTEREST is only ever cleared, so a snapshot without it stays
     * true: nobody can install a join waker any more, and the registry's and
     * the queue's references can go in the same step as COMPLETE. */
    if (!(atomic_load_explicit(&t->state, memory_order_relaxed) & ST_JOIN_INTEREST)) {
        if (state_to_complete(&t->state, 2).dealloc)
            task_dealloc(t);
        return;
    }
    complete_outcome o = state_to_complete(&t->state, 1);
    if (o.wake_joiner)
        corio_waker_wake_by_ref(&t->join_waker);
    task_ref_dec(t); /* the queue's */
}

/* Run one poll of a task popped from a run queue (the queue's reference
 * comes with it): to_running, poll, then to_idle (requeue if notified
 * meanwhile) or to_complete. */
static inline void task_run(corio_task *t, struct worker *w)
{
    bool cancelled = task_poll_begin(t);
    bool done = (t->kind & TK_FUTURE) ? fut_poll(&t, w, cancelled) : coro_poll(&t, w, cancelled);
    if (done) {
        task_complete(t);
        return;
    }
    if (t->poll_flags & TF_YIELDED) {
        t->sched->vt->yielded(w, t);
        return;
    }
    task_poll_pending(t);
}

#endif
