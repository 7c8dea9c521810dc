/* rt/current_thread.c - the current-thread scheduler.
 *
 * The thread inside corio_rt_block_on (or corio_rt_free) drives the runtime:
 * it runs ready tasks from the local FIFO, moves the tasks that other threads
 * pushed to the inject queue into it, fires due timers, and parks in the I/O
 * driver when nothing is ready. Other threads only touch the inject queue and
 * unpark the driver. At most one thread drives at a time (`driving`); any
 * thread may take over after another has left.
 *
 * Parking handshake (no lost wakeup): the driver sets parked=1 (with an
 * exchange), then reads the inject length; a pusher stores the length, then
 * exchanges parked to 0 and unparks if it was 1. Both sides are seq_cst and
 * each has a read-modify-write between its store and its load, so at least
 * one sees the other. The unpark runs under the inject lock (inject.h), so
 * the teardown, which takes that lock after closing, cannot free the driver
 * under a pusher.
 *
 * Registry: every live task is on the runtime's list (rt/registry.h, one
 * shard), so shutdown can cancel them all. Only the driving thread changes
 * it; its lock is there for introspection from other threads. Tasks spawned
 * from other threads join it when the driver first pulls them from the
 * inject queue.
 *
 * Counters (rt/stats.h): polls and parks by the driving thread; busy time
 * while a thread drives the runtime and is not parked.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/coro.h"
#include "core/task_run.h"
#include "core/worker.h"
#include "corio/error.h"
#include "io/reactor.h"
#include "rt/inject.h"
#include "rt/queue.h"
#include "rt/registry.h"
#include "rt/runtime.h"
#include "rt/stats.h"
#include "time/wheel.h"

typedef struct ct_rt {
    corio_rt rt; /* first */
    unsigned event_interval;
    worker w;
    task_queue runq; /* driving thread only */
    registry reg;
    worker_stats stats;
    /* runq.len as of the loop's last turn, for other threads' metrics
     * (runq.len itself is the driving thread's plain field). */
    _Atomic uint64_t depth;
    wheel wheel;
    inject inj;
    _Atomic int parked;
    _Atomic int driving;
    task_hooks hooks; /* the builder's (rt/runtime.h) */
} ct_rt;

static inline ct_rt *ct_of(sched *s)
{
    return (ct_rt *)(void *)s;
}

static inline bool on_driver(ct_rt *c)
{
    return worker_current() == &c->w;
}

/* ---- the core's interface (core/sched.h) ---------------------------------- */

static void ct_schedule(sched *s, corio_task *t)
{
    ct_rt *c = ct_of(s);
    if (on_driver(c))
        tq_push(&c->runq, t);
    else
        inject_push(&c->inj, t, false);
}

static int ct_submit(sched *s, worker *here, corio_task *t)
{
    ct_rt *c = ct_of(s);
    if (here == &c->w) {
        if (rt_is_closed(&c->rt) || !registry_add(&c->reg, t))
            return CORIO_ESHUTDOWN;
        rt_task_spawned(&c->hooks, t);
        tq_push(&c->runq, t);
        return 0;
    }
    return inject_push(&c->inj, t, true) ? 0 : CORIO_ESHUTDOWN;
}

static void ct_release(sched *s, corio_task *t)
{
    if (registry_remove(&ct_of(s)->reg, t))
        rt_task_terminated(&ct_of(s)->hooks, t);
}

static void ct_yielded(worker *w, corio_task *t)
{
    tq_push(&ct_of(w->sched)->runq, t);
}

static corio_task *ct_yield_next(worker *w, corio_task *self)
{
    if (w->budget == 0)
        return NULL;
    task_queue *q = &ct_of(w->sched)->runq;
    corio_task *head = q->head;
    if (!head) {
        w->budget--;
        return self;
    }
    if (!(head->poll_flags & TF_YIELDED)) /* only coroutines ever carry it */
        return NULL;
    tq_pop(q);
    /* With many yielders, the next ones' headers and stack tops are cold:
     * start loading them a hand-off ahead (about +20% at 1000 tasks; two
     * ahead measured no better). */
    corio_task *after = q->head;
    if (after) {
        __builtin_prefetch(after->next);
        coro_prefetch(after);
    }
    self->poll_flags |= TF_YIELDED;
    tq_push(q, self);
    w->budget--;
    stat_add(&ct_of(w->sched)->stats.polls, 1);
    return head;
}

/* A coroutine suspends: hand the CPU straight to the next task if it is a
 * started coroutine (ping_pong on one thread: about 12% more round trips a
 * second than going back to the loop in between). The budget counts it as
 * a poll, so the loop still looks at the inject queue, timers and I/O every
 * event_interval polls. */
static corio_task *ct_suspend_next(worker *w)
{
    if (w->budget == 0)
        return NULL;
    task_queue *q = &ct_of(w->sched)->runq;
    corio_task *head = q->head;
    if (!head || !task_is_started_coro(head))
        return NULL;
    tq_pop(q);
    w->budget--;
    stat_add(&ct_of(w->sched)->stats.polls, 1);
    return head;
}

static const sched_vtable ct_sched_vtable = {
    .schedule = ct_schedule,
    .submit = ct_submit,
    .release = ct_release,
    .yield_next = ct_yield_next,
    .yielded = ct_yielded,
    .suspend_next = ct_suspend_next,
};

/* ---- the loop --------------------------------------------------------------- */

static void ct_notify(void *arg)
{
    ct_rt *c = arg;
    if (atomic_exchange_explicit(&c->parked, 0, memory_order_seq_cst))
        reactor_unpark(c->rt.io);
}

static void pull_inject(ct_rt *c)
{
    task_queue q = {0};
    if (!inject_take_all(&c->inj, &q))
        return;
    /* Spawned from other threads: not yet on the list. The shutdown pulls
     * them in before it closes the list; none comes after (the inject queue
     * is closed first), but one refused would be cancelled, not lost. */
    for (corio_task *t = q.head; t; t = t->next) {
        if (t->sched_flags & TS_REGISTERED)
            continue; /* woken, not new */
        if (registry_add(&c->reg, t))
            rt_task_spawned(&c->hooks, t); /* here: the spawner has moved on */
        else
            task_cancel(t);
    }
    tq_take_all(&c->runq, &q);
}

static void park(ct_rt *c)
{
    corio_instant next = wheel_next_deadline(&c->wheel);
    /* An exchange, not a store: a seq_cst store followed by a seq_cst load
     * (STLR; LDAR on AArch64) is a correct Dekker handshake on hardware, but
     * qemu-user running AArch64 on an x86 host lets that store and load
     * pass each other (the suite hung 1 time in 2 there); a read-modify-write
     * is a full barrier in every implementation. */
    atomic_exchange_explicit(&c->parked, 1, memory_order_seq_cst);
    if (inject_len(&c->inj) == 0) {
        int64_t timeout = -1;
        corio_instant now = corio_instant_now();
        if (next != UINT64_MAX)
            timeout = next > now ? (int64_t)(next - now) : 0;
        stat_add(&c->stats.parks, 1);
        stats_asleep(&c->stats, now);
        reactor_turn(c->rt.io, timeout);
        stats_awake(&c->stats, corio_instant_now());
    }
    atomic_store_explicit(&c->parked, 0, memory_order_relaxed);
}

/* Idle: give finished coroutines' stacks back to the kernel (a madvise
 * each, 1 to 25 us depending on the machine), in small batches, for at most
 * TRIM_SLICE_NS and never into the last TRIM_SLACK_NS before a timer is due:
 * a storm of coroutines that finish one timer tick apart must not fall
 * behind its timers to trim. Returns true when it trimmed (the caller looks
 * for work again before parking). */
#define TRIM_SLICE_NS 200000
#define TRIM_SLACK_NS 1000000
static bool trim_stacks(ct_rt *c)
{
    corio_instant now = corio_instant_now();
    corio_instant next = wheel_next_deadline(&c->wheel);
    if (next != UINT64_MAX && next < now + TRIM_SLACK_NS)
        return false;
    corio_instant until = now + TRIM_SLICE_NS;
    if (next != UINT64_MAX && next - TRIM_SLACK_NS < until)
        until = next - TRIM_SLACK_NS;
    do {
        if (!stack_cache_trim(&c->w.stacks, 8))
            break;
    } while (corio_instant_now() < until && inject_len(&c->inj) == 0);
    return true;
}

/* Drive until `until` completes, or (until == NULL) no task is left. */
static void run_until(ct_rt *c, corio_task *until)
{
    for (;;) {
        corio_task *t;
        c->w.budget = c->event_interval;
        while (c->w.budget > 0 && (t = tq_pop(&c->runq)) != NULL) {
            c->w.budget--;
            task_run(t, &c->w);
            stat_add(&c->stats.polls, 1);
        }
        pull_inject(c);
        atomic_store_explicit(&c->depth, c->runq.len, memory_order_relaxed);
        /* A busy loop still looks at I/O every event_interval polls. */
        if (c->runq.len && reactor_regs(c->rt.io))
            reactor_turn(c->rt.io, 0);
        wheel_advance(&c->wheel, corio_instant_now());
        if (stack_cache_over(&c->w.stacks))
            stack_cache_trim(&c->w.stacks, 1);
        bool done = until ? task_is_complete(until) : registry_live(&c->reg) == 0;
        if (done)
            return;
        if (c->runq.len == 0) {
            if (stack_cache_has_dirty(&c->w.stacks) && trim_stacks(c))
                continue;
            park(c);
        }
    }
}

/* ---- the flavour's operations (rt/runtime.h) ------------------------------- */

static int claim(ct_rt *c)
{
    if (atomic_exchange_explicit(&c->driving, 1, memory_order_acquire))
        return -EBUSY;
    worker_enter(&c->w);
    stats_awake(&c->stats, corio_instant_now());
    return 0;
}

static void unclaim(ct_rt *c)
{
    stats_asleep(&c->stats, corio_instant_now());
    worker_leave(&c->w);
    atomic_store_explicit(&c->driving, 0, memory_order_release);
}

static int ct_enter(corio_rt *rt)
{
    ct_rt *c = (ct_rt *)rt;
    int rc = claim(c);
    if (rc < 0)
        return rc;
    if (rt_is_closed(&c->rt)) {
        unclaim(c);
        return CORIO_ESHUTDOWN;
    }
    return 0;
}

static void ct_drive(corio_rt *rt, corio_task *main)
{
    run_until((ct_rt *)rt, main);
}

static void ct_exit(corio_rt *rt)
{
    unclaim((ct_rt *)rt);
}

static int ct_shutdown(corio_rt *rt)
{
    ct_rt *c = (ct_rt *)rt;
    int rc = claim(c);
    if (rc < 0)
        return rc;
    /* Closed before the inject queue: a thread refused by the queue (under
     * its lock, after the close took it) then sees the runtime closed, so a
     * blocking job it spawns next is refused too. */
    atomic_store_explicit(&rt->closed, 1, memory_order_release); /* rt_is_closed */
    inject_close(&c->inj);
    reactor_refuse(rt->io); /* nor new fds: io/reactor.h */
    pull_inject(c);
    registry_close_and_cancel(&c->reg);
    run_until(c, NULL);
    unclaim(c);
    return 0;
}

static void ct_destroy(corio_rt *rt)
{
    ct_rt *c = (ct_rt *)rt;
    stack_cache_flush(&c->w.stacks);
    wheel_clear(&c->wheel);
    inject_destroy(&c->inj);
    reactor_close(c->rt.io);
    registry_destroy(&c->reg);
    free(c);
}

static size_t ct_global_depth(corio_rt *rt)
{
    return inject_len(&((ct_rt *)rt)->inj);
}

static void ct_worker_metrics(corio_rt *rt, unsigned i, corio_worker_metrics *out)
{
    (void)i;
    ct_rt *c = (ct_rt *)rt;
    stats_read(&c->stats, out);
    out->local_queue_depth = atomic_load_explicit(&c->depth, memory_order_relaxed);
}

static registry *ct_tasks(corio_rt *rt, unsigned *workers)
{
    *workers = 1;
    return &((ct_rt *)rt)->reg;
}

static const rt_ops ct_ops = {
    .enter = ct_enter,
    .drive = ct_drive,
    .exit = ct_exit,
    .shutdown = ct_shutdown,
    .destroy = ct_destroy,
    .global_depth = ct_global_depth,
    .worker_metrics = ct_worker_metrics,
    .tasks = ct_tasks,
};

int current_thread_build(const corio_rt_builder *b, corio_rt **out)
{
    ct_rt *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->rt.s.vt = &ct_sched_vtable;
    c->rt.s.stack_size = stack_round_size(b->stack_size);
    c->rt.ops = &ct_ops;
    c->rt.flavor = CORIO_RT_CURRENT_THREAD;
    c->hooks = task_hooks_of(b);
    c->event_interval = b->event_interval;
    c->w.sched = &c->rt.s;
    c->w.timers = &c->wheel;
    stack_cache_init(&c->w.stacks, c->rt.s.stack_size);
    wheel_init(&c->wheel, corio_instant_now());
    c->wheel.owner = &c->rt;
    int rc = registry_init(&c->reg, 1, true);
    if (rc < 0) {
        free(c);
        return rc;
    }
    rc = reactor_open(&c->rt.io);
    c->w.io = c->rt.io;
    if (rc < 0) {
        registry_destroy(&c->reg);
        free(c);
        return rc;
    }
    inject_init(&c->inj, ct_notify, c);
    *out = &c->rt;
    return 0;
}
