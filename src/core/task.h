/* core/task.h - the task header (internal).
 *
 * A task is a corio_task header followed by its kind's state (a coroutine:
 * core/coro.c; a stackless future: core/stackless.c). The state word and its
 * protocol are in core/state.h. The public join handle is a pointer to the
 * header; the handle owns one reference.
 *
 * Who may touch each field, and when ("publication": the submit that hands
 * the task to a scheduler; "poller": the thread that made the task RUNNING,
 * until the transition that ends the poll):
 *
 *   field        written                                   read
 *   state        by transitions only (core/state.h)        anyone
 *   next         the run queue that holds it               that queue
 *   sched, id,   before publication                        anyone holding a
 *   site, kind,                                            reference
 *   mem_units
 *   join_waker   the join side, while JOIN_WAKER is clear  the completer, after
 *                and JOIN_INTEREST set; dealloc            seeing JOIN_WAKER
 *   result       the poller, before to_complete            the joiner, after
 *                                                          seeing COMPLETE
 *   poll_flags   the poller (and the spawner before        the poller; the
 *                publication)                              joiner after COMPLETE
 *   reg_prev,    the scheduler, under its registry's       the same
 *   reg_next,    exclusion (its lock, or its one thread)
 *   sched_flags
 *
 * The three flag bytes are separate memory locations on purpose: the
 * scheduler updates sched_flags while another thread polls the task and
 * writes poll_flags.
 *
 * Cancellation is sticky (ST_CANCELLED is never cleared) but not always
 * delivered at once: a coroutine inside a shield (core/coro.h) keeps
 * waiting normally, and the first await after the shield delivers it
 * (TF_CANCEL_SEEN is set only when an await returns CORIO_ECANCELED).
 * Shields are coroutine-only: to_running's RUN_CANCELLED still drops a
 * stackless task's future at once.
 */
#ifndef CORIO_CORE_TASK_H
#define CORIO_CORE_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/sched.h"
#include "core/state.h"
#include "corio/task.h"

struct worker;
struct sched;

/* kind: fixed at init */
enum {
    TK_FUTURE = 1 << 0, /* a stackless task (else a coroutine) */
    TK_NAMED = 1 << 1,  /* site points at a task_named block */
};

/* poll_flags: the poller's */
enum {
    TF_YIELDED = 1 << 0,     /* a coroutine parked by yield: still RUNNING */
    TF_CANCEL_SEEN = 1 << 1, /* cancellation was delivered to the task */
    TF_STARTED = 1 << 2,     /* a coroutine that has its stack */
    TF_FINISHED = 1 << 3,    /* a coroutine whose function returned */
};

/* sched_flags: the scheduler's */
enum {
    TS_REGISTERED = 1 << 0, /* in its scheduler's registry */
};

struct corio_task {
    task_state state;
    corio_task *next; /* run queue / inject queue link */
    struct sched *sched;
    corio_waker join_waker;
    uint64_t id;
    const corio_spawn_site *site;
    corio_task *reg_prev, *reg_next;
    int result;
    uint8_t kind;
    uint8_t poll_flags;
    uint8_t sched_flags;
    uint8_t mem_units; /* allocation size / 16; MEM_LARGE: malloc'd, any size */
};

#define MEM_LARGE UINT8_MAX

/* Two kinds of task, a coroutine (core/coro.c) or a stackless future
 * (core/stackless.c): the header has no vtable pointer (8 bytes per task
 * matter at a million tasks), TK_FUTURE says which. Scheduling loops poll
 * them through task_run (core/task_run.h); freeing is the same for both
 * (their memory is one block of mem_units * 16 bytes). */

static inline bool task_is_coro(const corio_task *t)
{
    return !(t->kind & TK_FUTURE);
}

/* A coroutine that has its stack and a saved context: one that can be
 * switched into directly (sched.h, suspend_next), or prefetched. */
static inline bool task_is_started_coro(const corio_task *t)
{
    return task_is_coro(t) && (t->poll_flags & TF_STARTED);
}

/* What a scheduler loop does around each poll (core/task_run.h), and a
 * direct switch between coroutines in its place (core/coro.c). */

/* Before a poll of t, taken off a run queue: RUNNING. A yielded coroutine
 * never left RUNNING (it reads CANCELLED itself at its next await). Returns
 * whether to_running saw CANCELLED. */
static inline bool task_poll_begin(corio_task *t)
{
    if (t->poll_flags & TF_YIELDED) {
        t->poll_flags &= ~TF_YIELDED;
        return false;
    }
    return state_to_running(&t->state) == RUN_CANCELLED;
}

/* After a poll that left t pending: idle, or queued again (with the queue's
 * reference) if woken meanwhile. The last touch of t: once idle, another
 * thread may run it. */
static inline void task_poll_pending(corio_task *t)
{
    if (state_to_idle(&t->state) == IDLE_NOTIFIED)
        t->sched->vt->schedule(t->sched, t);
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

/* Free a task whose last reference is gone. */
void task_dealloc(corio_task *t);

/* Give a task its name: a copy of opts->name after a copy of its site.
 * 0 or -ENOMEM. */
int task_set_name(corio_task *t, const char *name);

/* Ids come to each thread in blocks of TASK_ID_BLOCK consecutive ones
 * (unique, not ordered across threads). */
#define TASK_ID_BLOCK 1024
uint64_t task_next_id(void);

/* Initialise the header (state_init: NOTIFIED, refs for registry, queue and,
 * when `joinable`, the handle). Copies opts->name. 0 or -ENOMEM. Inline: it
 * is on the path of every spawn. */
static inline int task_init(corio_task *t, bool stackless, struct sched *s,
                            const corio_spawn_opts *opts, const corio_spawn_site *site,
                            bool joinable)
{
    state_init(&t->state, joinable);
    t->next = NULL;
    t->sched = s;
    t->join_waker = CORIO_WAKER_NONE;
    t->id = task_next_id();
    t->site = site;
    t->reg_prev = t->reg_next = NULL;
    t->result = 0;
    t->kind = stackless ? TK_FUTURE : 0;
    t->poll_flags = 0;
    t->sched_flags = 0;
    t->mem_units = 0;
    if (opts && opts->name)
        return task_set_name(t, opts->name);
    return 0;
}

/* Hand a task initialised by task_init to its scheduler (`here`: the calling
 * thread's worker, NULL in plain code); on failure it is freed (it was never
 * seen by anyone). 0 or CORIO_ESHUTDOWN. */
int task_submit(corio_task *t, struct worker *here);


/* Request cancellation; queues the task if it is idle. Any thread. */
void task_cancel(corio_task *t);

void task_ref_dec(corio_task *t);

static inline bool task_is_complete(const corio_task *t)
{
    return (state_load(&t->state) & ST_COMPLETE) != 0;
}

/* With CORIO_DEBUG set: abort with a message if `t` is a handle that was
 * already given back (`giving_back`: the call gives it back again) or whose
 * task was freed. Nothing otherwise (core/task.c explains the quarantine). */
void task_handle_check(const corio_task *t, const char *call, bool giving_back);

/* The outcome of a finished task as corio_task_join reports it (0, or
 * CORIO_ECANCELED when it was cancelled), its result in *value. */
int task_outcome(const corio_task *t, int *value);

/* The scheduler a spawn goes to: opts->rt's, else that of `here` (the
 * calling thread's worker), else the runtime the calling thread belongs to
 * (a blocking-pool thread: worker_handle), else NULL. */
struct sched *spawn_target(const corio_spawn_opts *opts, struct worker *here);

/* Spawn a stackless task running a copy of `fut` (its `size` bytes) into
 * scheduler `s` (arguments checked by the caller). Errors as
 * corio_spawn_future_ex. */
int task_spawn_future(struct sched *s, struct worker *here, const corio_spawn_opts *opts,
                      const corio_spawn_site *site, const corio_future *fut, size_t size,
                      corio_task **out);

#endif
