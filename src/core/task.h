/* core/task.h - the task header and its state word (internal).
 *
 * State word (one atomic u64), as in tokio:
 *   RUNNING        a worker is polling the task (or a coroutine is on-CPU)
 *   COMPLETE       finished; the result is published
 *   NOTIFIED       the task must be polled (again); exactly one queue holds
 *                  it, or it is RUNNING and will be requeued by its poller
 *   JOIN_INTEREST  a join handle exists
 *   JOIN_WAKER     join_waker is set and owned by the task side
 *   CANCELLED      abort was requested (sticky)
 *   bits 8..63     reference count (REF_ONE per reference)
 *
 * References: one per join handle, one for the scheduler's registry of live
 * tasks (dropped at completion), one while the task is NOTIFIED and sitting
 * in a queue (the queue's), and one per waker. The task is freed when the
 * count reaches zero; freeing never touches the runtime, so handles and
 * wakers may outlive it.
 *
 * A wake while RUNNING only sets NOTIFIED; the poller sees it when the poll
 * returns and requeues the task itself. That is why no wakeup is ever lost.
 */
#ifndef CORIO_CORE_TASK_H
#define CORIO_CORE_TASK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "corio/task.h"

#define ST_RUNNING (1ull << 0)
#define ST_COMPLETE (1ull << 1)
#define ST_NOTIFIED (1ull << 2)
#define ST_JOIN_INTEREST (1ull << 3)
#define ST_JOIN_WAKER (1ull << 4)
#define ST_CANCELLED (1ull << 5)
#define ST_REF_ONE (1ull << 8)
#define ST_REF_MASK (~(ST_REF_ONE - 1))

struct sched;
struct worker;

typedef struct task_vtable {
    /* Poll once on the scheduler's thread. Returns true when the task has
     * finished (t->result set). `cancelled`: CANCELLED was seen. A coroutine
     * may hand the CPU directly to another yielded coroutine (see
     * corio_yield_now), so the task that comes back from the poll may be
     * another one: *t is updated to it. */
    bool (*poll)(corio_task **t, struct worker *w, bool cancelled);
    /* Free the task's memory (the last reference is gone). */
    void (*dealloc)(corio_task *t);
} task_vtable;

/* The two kinds of task. The header has no vtable pointer (8 bytes per task
 * matter at a million tasks): TF_FUTURE in the flags picks the table. */
extern const task_vtable coro_vtable; /* core/coro.c */
extern const task_vtable fut_vtable;  /* core/stackless.c */

/* Per-task flags, written only by the thread polling the task. */
enum {
    TF_REGISTERED = 1 << 0, /* in its scheduler's registry */
    TF_YIELDED = 1 << 1,    /* a coroutine parked by yield_now: still RUNNING */
    TF_CANCEL_SEEN = 1 << 2, /* cancellation was delivered to the task */
    TF_NAMED = 1 << 3,      /* site points at a task_named block */
    TF_FUTURE = 1 << 4,     /* a stackless task (else a coroutine); set at init */
    TF_STARTED = 1 << 5,    /* a coroutine that has its stack */
    TF_FINISHED = 1 << 6,   /* a coroutine whose function returned */
};

struct corio_task {
    _Atomic uint64_t state;
    corio_task *next; /* run queue / inject queue link */
    struct sched *sched;
    corio_waker join_waker; /* valid while ST_JOIN_WAKER, dropped at dealloc */
    uint64_t id;
    const corio_spawn_site *site;
    corio_task *reg_prev, *reg_next; /* the scheduler's registry of live tasks */
    int result;
    uint16_t flags;
    uint16_t mem_units; /* allocation size / 16, for taskmem_free */
};

static inline const task_vtable *task_vt(const corio_task *t)
{
    return (t->flags & TF_FUTURE) ? &fut_vtable : &coro_vtable;
}

static inline bool task_is_coro(const corio_task *t)
{
    return !(t->flags & TF_FUTURE);
}

/* The name of a named task lives after a copy of its site. */
typedef struct task_named {
    corio_spawn_site site;
    char name[];
} task_named;

extern const corio_waker_vtable task_waker_vtable;

/* A borrowed waker for `t` (no reference taken): valid while t runs. */
static inline corio_waker task_waker_borrowed(corio_task *t)
{
    corio_waker w = {&task_waker_vtable, t};
    return w;
}

/* Initialise the header. `joinable`: a join handle will be returned. The task
 * starts NOTIFIED (it will be queued) with refs for registry, queue and handle. */
int task_init(corio_task *t, bool stackless, struct sched *s, const corio_spawn_opts *opts,
              const corio_spawn_site *site, bool joinable);

/* Run one poll of a task popped from a queue (the queue's reference comes with
 * it). Handles the RUNNING/NOTIFIED/COMPLETE transitions, requeues or frees. */
void task_run(corio_task *t, struct worker *w);

/* Request cancellation; schedules the task if it is idle. */
void task_cancel(corio_task *t);

void task_ref_dec(corio_task *t);
void task_wake_by_ref(corio_task *t);

static inline bool task_is_complete(const corio_task *t)
{
    return (atomic_load_explicit(&((corio_task *)t)->state, memory_order_acquire) & ST_COMPLETE) != 0;
}

/* Drop a task that was initialised but never queued (spawn failed late). */
void task_abandon(corio_task *t);

/* The outcome of a finished task for its handle's owner, as corio_task_join
 * reports it; gives the handle back. */
int task_join_finished(corio_task *t, int *value);

/* The scheduler a spawn goes to: opts->rt's, else the calling task's, else
 * NULL (core/coro.c). */
struct sched *spawn_target(const corio_spawn_opts *opts);

/* Poll `f` on a plain thread until ready, parking the thread in between
 * (core/waker.c). Returns the future's result. */
int block_on_parked(corio_future *f);

#endif
