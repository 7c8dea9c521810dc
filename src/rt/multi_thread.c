/* rt/multi_thread.c - the multi-thread, work-stealing scheduler.
 *
 * N worker threads, each with (tokio's design, with its known weak spots
 * mended):
 *  - a bounded local run queue (rt/local_queue.h) that other workers steal
 *    half of when they run dry;
 *  - a LIFO slot: a task woken or spawned by the running task runs next, on
 *    this worker, while its data is hot. A chain of LIFO polls in a row
 *    ends after MAX_LIFO_POLLS of them or LIFO_CHAIN_NS, whichever comes
 *    first (lifo_turn), so two tasks bouncing a message cannot starve the
 *    queue; and, unlike tokio's (tokio#4941), other workers may take it
 *    when this worker has been stuck in one poll for a while (stuck_lifo
 *    below);
 *  - a timer wheel (time/wheel.h): timers armed by the tasks it polls. It
 *    advances its own at every maintenance tick; a wheel whose owner is
 *    stuck in a long poll is advanced by whichever worker notices it is due
 *    (a try-lock each), so one slow task does not hold up timers elsewhere.
 *
 * Tasks spawned or woken from outside the workers go to the global queue
 * (rt/global_queue.h: sharded, lock-free pushes). Every global_queue_interval
 * polls a worker takes from the global queue first, so it is never starved
 * by local work; every event_interval polls it does its maintenance (timers,
 * I/O). A yield that switches straight to another coroutine
 * (mt_yield_next) counts as a poll for both.
 *
 * A worker with nothing local steals: from the other workers' queues (from
 * a random one on), from the global queue, from stuck LIFO slots. A queue
 * of at most STEAL_SHORT tasks is left to its owner while the owner keeps
 * polling: it gets to them within a few polls, and a thief that took them
 * would move their data, and whatever they contend on, to another core
 * (four senders and a receiver on one channel, 2 workers: half the
 * messages a second spread over both than left on one). Nobody is woken
 * for a push that leaves the queue that short; it is stolen once the owner
 * has been in one poll for STALL_NS: by a searcher that saw it (it keeps
 * looking up to twice that before it parks), else by the watcher: a
 * sleeper that wakes every WATCH_NS to look while any worker is busy (a
 * short push, like a LIFO one, makes sure there is one: ensure_watch). So
 * tasks queued behind a long poll run elsewhere within about WATCH_NS.
 * Sleeping and waking follow rt/idle.h; the last searcher's final look
 * (work_pending) skips a short queue whose owner still polls, which the
 * watch covers instead. One sleeping worker at a time holds the I/O
 * driver and sleeps in it with a timeout: the earliest deadline of all the
 * wheels (the others sleep on a futex of their own; while others run, or
 * ran since they last looked, at most WATCH_NS: they are the watchers). A
 * timer armed earlier than that wakes the driver (the wheel's on_earlier
 * hook); on waking, the holder advances every wheel that is due, and goes
 * off to run what woke it, leaving the driver free: a watcher takes it up
 * if that run gets stuck. Nobody is woken to take it over at once (a wake
 * per burst of I/O: most of the CPU of a lightly loaded server), only to
 * be the watcher when there is none.
 *
 * Who touches what:
 *  - a worker's local queue: pushes and pops by its owner, steals by others
 *    (local_queue.h has the protocol);
 *  - `lifo`: exchanged by the owner (push and pop) and by a stealer taking a
 *    stuck worker's task; `run_next`, `searching`, `gq_left`, `ev_left`: owner
 *    only;
 *  - `park_state`, `on_driver`: the futex handshake of park/unpark below;
 *  - the registry (rt/registry.h) by the workers, under its shard locks
 *    (a task spawned from outside is added by the worker that takes it
 *    from the global queue: see mt_submit);
 *  - `stats` (rt/stats.h): written by the owner, read by anyone.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arch/fiber.h"
#include "arch/spin.h"
#include "core/coro.h"
#include "core/task_run.h"
#include "core/worker.h"
#include "corio/error.h"
#include "io/reactor.h"
#include "rt/global_queue.h"
#include "rt/idle.h"
#include "rt/local_queue.h"
#include "rt/parker.h"
#include "rt/registry.h"
#include "rt/runtime.h"
#include "rt/stats.h"
#include "time/wheel.h"

/* A chain of polls from the LIFO slot: the first LIFO_FREE_POLLS (tokio's
 * whole chain) cost nothing to allow; past them the chain is timed from
 * the clock, read every LIFO_CLOCK_EVERY polls, and ends after
 * MAX_LIFO_POLLS polls or LIFO_CHAIN_NS, whichever comes first. Two tasks
 * bouncing a message thus hold the worker for at most 32 polls, and for
 * long polls at most LIFO_FREE_POLLS + LIFO_CLOCK_EVERY of them (the 11th
 * ends the chain once 20 us have passed), before the queue gets a turn;
 * short ones run up to 32 polls on hot caches instead of 3: ping_pong with
 * 1,000 pairs on 2 workers, where each worker's pairs fill its L2, ran
 * 20-25% faster than with tokio's 3. */
#define LIFO_FREE_POLLS 3
#define LIFO_CLOCK_EVERY 8
#define MAX_LIFO_POLLS 32
#define LIFO_CHAIN_NS 20000ull
#define STEAL_BATCH (LQ_CAP / 2)
/* A local queue this short is stolen from only once its owner has been in
 * one poll for STALL_NS (see the top). */
#define STEAL_SHORT 4
#define STALL_NS 10000ull
/* A worker whose poll count has not moved for this long, with a task in its
 * LIFO slot, is stuck in one poll: others may run that task. */
#define STUCK_NS 100000ull
/* While some worker is awake, one asleep (the watcher: in the driver or on
 * its futex) wakes at least this often to look for stuck workers (see
 * schedule_local) and, from its futex, to take up a free driver. */
#define WATCH_NS 1000000ull

enum { PARK_EMPTY = 0, PARK_PARKED = 1, PARK_NOTIFIED = 2 };

typedef struct mt_rt mt_rt;

typedef struct mt_worker {
    worker base; /* first: the core's view */
    mt_rt *rt;
    unsigned index;
    pthread_t thread;
    local_queue lq;
    _Atomic(corio_task *) lifo;
    unsigned lifo_polls;       /* LIFO polls in a row (the chain, see lifo_turn) */
    corio_instant lifo_began;  /* when the chain's timed part began */
    corio_task *run_next; /* taken off the queue by a yield, runs next */
    bool searching;
    bool short_seen;            /* the last steal pass left a short queue alone */
    corio_instant search_began; /* when this worker last started searching */
    unsigned gq_left; /* loop turns until the global queue's, then the */
    unsigned ev_left; /* maintenance's turn (countdowns: no division) */
    uint32_t rng;
    _Atomic uint64_t polls; /* read by stealers to tell a stuck worker
                             * (it also moves when the worker wakes) */
    wheel wheel;
    _Atomic int park_state;
    _Atomic int on_driver;
    uint64_t park_sum;    /* the others' poll counts, summed when it last parked */
    uint64_t *seen_polls; /* per other worker: its poll count when last seen */
    corio_instant *seen_at;
    corio_task *batch[STEAL_BATCH];
} mt_worker;

struct mt_rt {
    corio_rt rt; /* first */
    unsigned n;
    mt_worker *workers;
    global_queue gq;
    idle idle;
    registry reg;
    _Atomic int drv_held;         /* a worker is turning the reactor (rt.io) */
    _Atomic uint64_t drv_wake_at; /* 0: nobody sleeps in the driver */
    _Atomic int drv_watching;     /* 1 + index of the worker that watches (0: none):
                                   * asleep (in the driver or on its futex) waking
                                   * every WATCH_NS, or awake from that and searching;
                                   * dropped when it goes off to run a task */
    _Atomic int drv_kicked;       /* woken to start watching, not yet parked again */
    _Atomic int shutdown;
    /* Plain threads inside corio_rt_block_on (between enter and exit), and
     * the close (rt.closed) decided against them, under drive_lock: a
     * shutdown while one is there is refused (-EBUSY), as on the
     * current-thread runtime; it would free the runtime under that
     * thread's feet. */
    spinlock drive_lock;
    unsigned drivers;
    /* Written by threads outside the runtime on every spawn: a line of
     * their own. */
    _Alignas(64) _Atomic unsigned remote_ops; /* pushes from other threads in progress */
    /* Tasks spawned from other threads that no worker has added to the
     * registry yet (mt_submit, pull_global, mt_shutdown). */
    _Atomic size_t unregistered;
    _Alignas(64) unsigned event_interval;
    unsigned gq_interval;
    corio_rt_builder b; /* for the threads' names, stacks and hooks */
    char name_prefix[16];
    task_hooks hooks; /* the builder's (rt/runtime.h) */
    /* The workers' counters (corio_rt_worker_metrics), a line each, apart
     * from the workers: inside mt_worker, they moved the scheduler's own
     * fields to other cache lines, and the semaphore benchmark on two
     * workers lost 15% to that. */
    worker_stats *stats;
};

static inline mt_rt *mt_of(sched *s)
{
    return (mt_rt *)(void *)s;
}

/* The calling thread's worker, if it is one of `rt`'s. */
static inline mt_worker *here_in(mt_rt *rt)
{
    worker *w = worker_current();
    return (w && w->sched == &rt->rt.s) ? (mt_worker *)w : NULL;
}

static inline uint32_t steal_start_rng(mt_worker *w)
{
    /* xorshift32: only to spread the start of steal scans. */
    uint32_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return w->rng = x;
}

/* Worker w's counters (rt/stats.h). */
static inline worker_stats *stats_of(mt_worker *w)
{
    return &w->rt->stats[w->index];
}

/* A steal that took `n` tasks. */
static inline void count_steal(mt_worker *w, uint32_t n)
{
    stat_add(&stats_of(w)->steals, n);
    stat_add(&stats_of(w)->steal_ops, 1);
}

/* One more poll done here. Relaxed: stealers only compare the count with
 * what they saw before (in_poll_for). The count also moves once at each
 * wake from a park (park below), and the metric of polls is the count less
 * the parks (mt_worker_metrics). */
static inline void count_poll(mt_worker *w)
{
    stat_add(&w->polls, 1);
}

/* ---- parking and waking ------------------------------------------------------ */

static long futex(_Atomic int *addr, int op, int val, const struct timespec *ts)
{
    return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

static void unpark_worker(mt_rt *rt, unsigned index)
{
    mt_worker *w = &rt->workers[index];
    /* SeqCst: pairs with the parker's CAS to PARKED (see park_sleep). */
    if (atomic_exchange_explicit(&w->park_state, PARK_NOTIFIED, memory_order_seq_cst) !=
        PARK_PARKED)
        return; /* awake, or about to look at its state before sleeping */
    if (atomic_load_explicit(&w->on_driver, memory_order_seq_cst))
        reactor_unpark(rt->rt.io);
    else
        futex(&w->park_state, FUTEX_WAKE_PRIVATE, 1, NULL);
}

/* New work that another worker may take: wake one if nobody is looking. */
static void notify_parked(mt_rt *rt)
{
    int i = idle_worker_to_notify(&rt->idle);
    if (i >= 0)
        unpark_worker(rt, (unsigned)i);
}

/* The earliest deadline over every wheel (UINT64_MAX: none). */
static corio_instant earliest_deadline(mt_rt *rt)
{
    corio_instant d = UINT64_MAX;
    for (unsigned i = 0; i < rt->n; i++) {
        corio_instant h = wheel_hint(&rt->workers[i].wheel);
        if (h < d)
            d = h;
    }
    return d;
}

/* Advance every wheel that is due (own: always, with the lock; others': if
 * their owner is not at it). Returns how many timers fired. */
static size_t advance_due_wheels(mt_worker *w, corio_instant now)
{
    mt_rt *rt = w->rt;
    size_t fired = 0;
    if (wheel_hint(&w->wheel) <= now)
        fired += wheel_advance(&w->wheel, now);
    for (unsigned i = 0; i < rt->n; i++) {
        mt_worker *o = &rt->workers[i];
        if (o != w && wheel_hint(&o->wheel) <= now)
            fired += wheel_try_advance(&o->wheel, now);
    }
    return fired;
}

/* A timer was armed earlier than its wheel's previous hint: if the worker
 * sleeping in the driver would wake after it, wake it now. */
static void timer_earlier(void *arg, corio_instant deadline)
{
    mt_rt *rt = arg;
    /* SeqCst: the parker stores drv_wake_at, then reads the hints; we
     * stored the hint (wheel_insert), then read drv_wake_at. */
    uint64_t wake_at = atomic_load_explicit(&rt->drv_wake_at, memory_order_seq_cst);
    if (wake_at && deadline < wake_at)
        reactor_unpark(rt->rt.io);
}

static bool work_pending(mt_worker *w);

/* Wake a sleeper other than `except` (the caller's index, or -1) to be the
 * watcher: it parks again with a timeout, or finds work (end_search then
 * drops the claim). The claim is made under the idle lock, before the
 * worker can be awake to drop it. */
static void wake_watcher(mt_rt *rt, int except)
{
    int o = idle_wake_any(&rt->idle, except, &rt->drv_watching);
    if (o >= 0)
        unpark_worker(rt, (unsigned)o);
}

/* Worker `me` (1 + index) is no longer the watcher, if it was. */
static void drop_watch(mt_rt *rt, int me)
{
    if (atomic_load_explicit(&rt->drv_watching, memory_order_relaxed) == me)
        atomic_compare_exchange_strong_explicit(&rt->drv_watching, &me, 0, memory_order_relaxed,
                                                memory_order_relaxed);
}

/* Worker `me` (1 + index), about to sleep, watches if `wanted` and no
 * other worker does; otherwise it drops any claim of its own. Returns
 * whether it watches. */
static bool watch_if(mt_rt *rt, int me, bool wanted)
{
    int cur = atomic_load_explicit(&rt->drv_watching, memory_order_relaxed);
    if (wanted && (cur == me || (cur == 0 && atomic_compare_exchange_strong_explicit(
                                                  &rt->drv_watching, &cur, me,
                                                  memory_order_relaxed, memory_order_relaxed))))
        return true;
    drop_watch(rt, me);
    return false;
}

/* Whether another worker is awake, or has polled (or woken) since `w`
 * last parked: the counts only grow, so their sum moves iff one did. */
static bool others_active(mt_worker *w)
{
    mt_rt *rt = w->rt;
    uint64_t sum = 0;
    for (unsigned i = 0; i < rt->n; i++)
        if (i != w->index)
            sum += atomic_load_explicit(&rt->workers[i].polls, memory_order_relaxed);
    bool moved = sum != w->park_sum;
    w->park_sum = sum;
    return moved || idle_num_unparked(&rt->idle) > 0;
}

/* Sleep until unparked, or (holding the driver) until the earliest timer
 * or an I/O event. */
static void park_sleep(mt_worker *w)
{
    mt_rt *rt = w->rt;
    if (atomic_exchange_explicit(&w->park_state, PARK_EMPTY, memory_order_seq_cst) ==
        PARK_NOTIFIED)
        return;
    bool on_drv = !atomic_load_explicit(&rt->drv_held, memory_order_relaxed) &&
                  !atomic_exchange_explicit(&rt->drv_held, 1, memory_order_acquire);
    if (on_drv) {
        atomic_store_explicit(&w->on_driver, 1, memory_order_seq_cst);
        /* "About to sleep, timeout unknown": any timer armed from now on
         * wakes us; then the timeout from the wheels as they are. */
        atomic_store_explicit(&rt->drv_wake_at, UINT64_MAX, memory_order_seq_cst);
        corio_instant next = earliest_deadline(rt);
        corio_instant now = corio_instant_now();
        /* Somebody is busy: watch, unless another sleeper does already.
         * Relaxed, all: hints for schedule_local (a stale one costs one
         * spare wake, or a LIFO task left where it is until the next). */
        int me = (int)w->index + 1;
        bool watch = watch_if(rt, me, idle_num_unparked(&rt->idle) > 0);
        if (watch && next > now + WATCH_NS)
            next = now + WATCH_NS;
        atomic_store_explicit(&rt->drv_wake_at, next, memory_order_seq_cst);
        atomic_store_explicit(&rt->drv_kicked, 0, memory_order_relaxed);
        int expect = PARK_EMPTY;
        bool io_woken = false;
        if (atomic_compare_exchange_strong_explicit(&w->park_state, &expect, PARK_PARKED,
                                                    memory_order_seq_cst, memory_order_seq_cst) &&
            !atomic_load_explicit(&rt->shutdown, memory_order_seq_cst)) {
            int64_t timeout = -1;
            if (next != UINT64_MAX) {
                now = corio_instant_now();
                timeout = next > now ? (int64_t)(next - now) : 0;
            }
            int woken = reactor_turn(rt->rt.io, timeout);
            io_woken = woken > 0;
        }
        atomic_store_explicit(&rt->drv_wake_at, 0, memory_order_seq_cst);
        atomic_store_explicit(&w->park_state, PARK_EMPTY, memory_order_seq_cst);
        atomic_store_explicit(&w->on_driver, 0, memory_order_seq_cst);
        atomic_store_explicit(&rt->drv_held, 0, memory_order_release);
        size_t fired = advance_due_wheels(w, corio_instant_now());
        drop_watch(rt, me); /* awake: it watches no more (it claims again to park) */
        /* Off to run what woke it: while it does, the timers and the fds
         * must still be watched, or a long poll of one of those tasks would
         * hold them up. A watcher (a sleeper that wakes every WATCH_NS
         * while others run, see below) takes the free driver when it
         * wakes; only with none is one woken now, to watch from then on.
         * Not a wake per burst of I/O, as handing the driver over was: in
         * a lightly loaded server that was most of the CPU. */
        if (!atomic_load_explicit(&rt->drv_watching, memory_order_relaxed) &&
            (fired || io_woken || work_pending(w)) &&
            (earliest_deadline(rt) != UINT64_MAX || reactor_regs(rt->rt.io)))
            wake_watcher(rt, (int)w->index);
        return;
    }
    /* While others run (or ran since this one last looked), and nobody
     * else watches, sleep at most WATCH_NS: this one is then the watcher,
     * which takes a stuck worker's tasks and the driver if it is free when
     * it wakes. Otherwise without a timeout: the driver's holder keeps time
     * for everyone, and an idle runtime wakes nobody (the watch lapses the
     * first time its watcher parks with everyone else asleep and nobody
     * having run since it last looked). One watcher at most: several would
     * keep each other awake (each wake moves a poll count). */
    bool watch = watch_if(rt, (int)w->index + 1, others_active(w));
    int expect = PARK_EMPTY;
    if (atomic_compare_exchange_strong_explicit(&w->park_state, &expect, PARK_PARKED,
                                                memory_order_seq_cst, memory_order_seq_cst)) {
        corio_instant until = corio_instant_now() + WATCH_NS;
        while (atomic_load_explicit(&w->park_state, memory_order_seq_cst) == PARK_PARKED &&
               !atomic_load_explicit(&rt->shutdown, memory_order_seq_cst)) {
            const struct timespec *ts = SAN_SLEEP_SLICE;
            struct timespec left;
            if (watch) {
                corio_instant now = corio_instant_now();
                if (now >= until)
                    break;
                left.tv_sec = (time_t)((until - now) / 1000000000u);
                left.tv_nsec = (long)((until - now) % 1000000000u);
                ts = &left;
            }
            futex(&w->park_state, FUTEX_WAIT_PRIVATE, PARK_PARKED, ts);
            san_signal_point();
        }
    }
    atomic_store_explicit(&w->park_state, PARK_EMPTY, memory_order_seq_cst);
}

/* ---- queues ------------------------------------------------------------------ */

/* Append to the local queue; when full, move its older half to the global
 * queue and push again. */
static void push_back(mt_worker *w, corio_task *t)
{
    mt_rt *rt = w->rt;
    while (!lq_push(&w->lq, t)) {
        corio_task *last;
        uint32_t n;
        corio_task *first = lq_take_half(&w->lq, &last, &n);
        if (first) {
            gq_push_batch(&rt->gq, first, last, n);
            stat_add(&stats_of(w)->overflows, 1);
        } else if (n) {
            gq_push(&rt->gq, t); /* a steal is in progress: room soon */
            return;
        }
    }
}

/* A task went into a LIFO slot, or a short local queue (see the top),
 * while nobody watches for stuck workers: wake the driver's sleeper so that
 * it parks again with the watch on (once per park of it), or, with nobody
 * else in the driver, wake another sleeper to be the watcher (park_sleep).
 * Not the caller itself in the driver's turn: it is about to run what it
 * woke.
 * Relaxed loads: hints, see park_sleep. */
static void ensure_watch(mt_worker *w)
{
    mt_rt *rt = w->rt;
    if (atomic_load_explicit(&rt->drv_watching, memory_order_relaxed))
        return; /* one watches already */
    bool turning = atomic_load_explicit(&w->on_driver, memory_order_relaxed);
    if (!turning && atomic_load_explicit(&rt->drv_held, memory_order_relaxed)) {
        if (!atomic_load_explicit(&rt->drv_kicked, memory_order_relaxed) &&
            !atomic_exchange_explicit(&rt->drv_kicked, 1, memory_order_relaxed))
            reactor_unpark(rt->rt.io);
    } else if (idle_num_unparked(&rt->idle) < rt->n) {
        wake_watcher(rt, (int)w->index);
    }
}

/* A task made ready on one of the runtime's workers. */
static void schedule_local(mt_worker *w, corio_task *t, bool is_yield)
{
    mt_rt *rt = w->rt;
    if (is_yield) {
        push_back(w, t);
        /* A lone yielder comes straight back to this worker: waking a
         * sleeper for it would only have it stolen, and the next yield
         * stolen back (a task that awaits ready futures in a loop yields
         * for its cooperative budget every CORIO_COOP_BUDGET awaits). With
         * others queued behind it, a sleeper may help. */
        if (lq_len(&w->lq) <= 1 && gq_len(&rt->gq) == 0)
            return;
    } else {
        /* Only the owner fills the slot: seen empty, a store will do (a
         * stealer only ever empties it); else swap, as one may take the
         * task there meanwhile. Release: whoever takes t sees it whole. */
        corio_task *prev = NULL;
        if (!atomic_load_explicit(&w->lifo, memory_order_relaxed))
            atomic_store_explicit(&w->lifo, t, memory_order_release);
        else
            prev = atomic_exchange_explicit(&w->lifo, t, memory_order_acq_rel);
        if (!prev) {
            /* Only the LIFO slot: it runs next here, nobody needs telling,
             * unless this poll goes on for long. Then another worker takes
             * it (steal_stuck_lifo) - if one is awake to look, which the
             * watcher is every WATCH_NS while others are busy. Make sure
             * there is one. */
            ensure_watch(w);
            return;
        }
        push_back(w, prev);
    }
    /* A queue still short is not for others while this worker keeps
     * polling (see the top): waking a sleeper for it would have it look,
     * find nothing to take and park again, tens of thousands of times a
     * second. The watch takes it if this worker gets stuck. */
    if (lq_len(&w->lq) <= STEAL_SHORT && gq_len(&rt->gq) == 0) {
        ensure_watch(w);
        return;
    }
    notify_parked(rt);
}

/* Add the tasks spawned from other threads among the n just taken from
 * the global queue (the rest are woken tasks, or a worker's overflow:
 * registered already) to the registry, here, where the task will run: see
 * mt_submit. One decrement of `unregistered` for them all, with release: a
 * shutdown that reads the count lower finds them in the registry. */
static void take_in_new(mt_worker *w, size_t n)
{
    mt_rt *rt = w->rt;
    size_t added = 0;
    for (size_t i = 0; i < n; i++) {
        corio_task *t = w->batch[i];
        if (t->sched_flags & TS_REGISTERED)
            continue;
        if (registry_add(&rt->reg, t))
            rt_task_spawned(&rt->hooks, t);
        else
            task_cancel(t); /* cannot happen (mt_shutdown waits for these) */
        added++;
    }
    if (added)
        atomic_fetch_sub_explicit(&rt->unregistered, added, memory_order_release);
}

/* Take up to `max` from the global queue: one to return, the rest into the
 * local queue. */
static corio_task *pull_global(mt_worker *w, size_t max)
{
    mt_rt *rt = w->rt;
    if (gq_len(&rt->gq) == 0)
        return NULL;
    size_t want = gq_len(&rt->gq) / rt->n + 1;
    if (want > max)
        want = max;
    uint32_t room = LQ_CAP - lq_len(&w->lq);
    if (want > room + 1)
        want = room + 1;
    size_t n = gq_pop_batch(&rt->gq, w->index, w->batch, want);
    if (n == 0)
        return NULL;
    take_in_new(w, n);
    for (size_t i = 1; i < n; i++)
        if (!lq_push(&w->lq, w->batch[i]))
            gq_push(&rt->gq, w->batch[i]);
    return w->batch[0];
}

/* How long `v` has been in its present poll, as far as `w` can tell: since
 * w first saw v's poll count at its present value (0 on a first look). The
 * count only grows, so a value seen twice means no poll ended in between. */
static corio_instant in_poll_for(mt_worker *w, mt_worker *v, corio_instant now)
{
    uint64_t polls = atomic_load_explicit(&v->polls, memory_order_relaxed);
    unsigned i = v->index;
    if (polls != w->seen_polls[i]) {
        w->seen_polls[i] = polls;
        w->seen_at[i] = now;
        return 0;
    }
    return now - w->seen_at[i];
}

/* Whether `w` may steal from v's queue of `n` tasks (see the top). */
static bool queue_stealable(mt_worker *w, mt_worker *v, uint32_t n, corio_instant now)
{
    return n > STEAL_SHORT || (n > 0 && in_poll_for(w, v, now) >= STALL_NS);
}

/* A stuck worker's LIFO task: it has a task waiting in the slot and has
 * not finished a poll for STUCK_NS. */
static corio_task *steal_stuck_lifo(mt_worker *w, mt_worker *v, corio_instant now)
{
    if (!atomic_load_explicit(&v->lifo, memory_order_relaxed))
        return NULL;
    if (in_poll_for(w, v, now) < STUCK_NS)
        return NULL;
    return atomic_exchange_explicit(&v->lifo, NULL, memory_order_acq_rel);
}

/* The owner takes its LIFO slot. Only the owner ever fills it, so a
 * relaxed load that sees it empty is the truth, and the exchange (a locked
 * instruction, there because a stealer may take the task meanwhile) is paid
 * only when there is something to take. */
static inline corio_task *lifo_take(mt_worker *w)
{
    if (!atomic_load_explicit(&w->lifo, memory_order_relaxed))
        return NULL;
    return atomic_exchange_explicit(&w->lifo, NULL, memory_order_acq_rel);
}

/* May the chain of LIFO polls go on with one more (see MAX_LIFO_POLLS)? */
static inline bool lifo_turn(mt_worker *w)
{
    unsigned n = w->lifo_polls;
    if (n < LIFO_FREE_POLLS)
        return true;
    if (n >= MAX_LIFO_POLLS)
        return false;
    if ((n - LIFO_FREE_POLLS) % LIFO_CLOCK_EVERY != 0)
        return true;
    if (!atomic_load_explicit(&w->lifo, memory_order_relaxed))
        return false; /* nothing there: the chain is over, no clock needed */
    corio_instant now = corio_instant_now();
    if (n == LIFO_FREE_POLLS) {
        w->lifo_began = now;
        return true;
    }
    return now - w->lifo_began < LIFO_CHAIN_NS;
}

/* This worker's own next task, in order: the one a yield took off the
 * queue (run_next), the LIFO slot (unless its chain is over: lifo_turn),
 * the local queue. NULL when all are empty. The loop and yields
 * (mt_yield_next) both take from here. */
static corio_task *take_local(mt_worker *w)
{
    corio_task *t;
    if ((t = w->run_next) != NULL) {
        w->run_next = NULL;
        return t;
    }
    if (lifo_turn(w) && (t = lifo_take(w)) != NULL) {
        w->lifo_polls++;
        return t;
    }
    w->lifo_polls = 0;
    if ((t = lq_pop(&w->lq)) != NULL)
        lq_prefetch_next(&w->lq); /* the one after: likely cold by now */
    return t;
}

static corio_task *next_task(mt_worker *w)
{
    mt_rt *rt = w->rt;
    corio_task *t;
    if (--w->gq_left == 0) {
        w->gq_left = rt->gq_interval;
        if ((t = pull_global(w, 1)) != NULL)
            return t;
    }
    if ((t = take_local(w)) != NULL)
        return t;
    if ((t = pull_global(w, STEAL_BATCH)) != NULL)
        return t;
    return lifo_take(w);
}

static corio_task *steal_work(mt_worker *w)
{
    mt_rt *rt = w->rt;
    corio_instant now = corio_instant_now();
    if (!w->searching) {
        if (!idle_to_searching(&rt->idle))
            return NULL;
        w->searching = true;
        w->search_began = now;
    }
    w->short_seen = false;
    unsigned start = steal_start_rng(w) % rt->n;
    for (unsigned k = 0; k < rt->n; k++) {
        mt_worker *v = &rt->workers[(start + k) % rt->n];
        if (v == w)
            continue;
        uint32_t n = lq_len(&v->lq);
        corio_task *t;
        if (queue_stealable(w, v, n, now)) {
            uint32_t taken;
            if ((t = lq_steal_into(&v->lq, &w->lq, &taken)) != NULL) {
                count_steal(w, taken);
                return t;
            }
        } else if (n > 0) {
            w->short_seen = true;
        }
        if ((t = steal_stuck_lifo(w, v, now)) != NULL) {
            count_steal(w, 1);
            return t;
        }
    }
    corio_task *t = pull_global(w, STEAL_BATCH);
    if (t)
        return t;
    /* Timers of wheels whose owners are busy or asleep. */
    if (advance_due_wheels(w, now) > 0)
        return next_task(w);
    return NULL;
}

static void end_search(mt_worker *w)
{
    w->searching = false;
    /* Off to run a task: if this was the watcher, it no longer is. */
    int me = (int)w->index + 1;
    if (atomic_load_explicit(&w->rt->drv_watching, memory_order_relaxed) == me)
        atomic_compare_exchange_strong_explicit(&w->rt->drv_watching, &me, 0,
                                                memory_order_relaxed, memory_order_relaxed);
    /* The last searcher found work: wake another, so that the rest of it
     * (there may be more) gets looked for. */
    if (idle_from_searching(&w->rt->idle))
        notify_parked(w->rt);
}

/* Any work a sleeping worker should wake for, as `w` sees it? Not a task
 * in a LIFO slot: it runs next on its own worker, and waking others for it
 * would have them spin for as long as two tasks there hand the slot back
 * and forth (a stuck one is watched for instead: ensure_watch,
 * WATCH_NS). Nor a short queue whose owner keeps polling (queue_stealable):
 * nobody would take it. */
static bool work_pending(mt_worker *w)
{
    mt_rt *rt = w->rt;
    if (gq_len(&rt->gq))
        return true;
    corio_instant now = corio_instant_now();
    for (unsigned i = 0; i < rt->n; i++) {
        mt_worker *v = &rt->workers[i];
        uint32_t n = lq_len(&v->lq);
        if (v == w ? n > 0 : queue_stealable(w, v, n, now))
            return true;
    }
    return false;
}

static void park(mt_worker *w)
{
    mt_rt *rt = w->rt;
    /* Idle: give finished coroutines' stacks back first. */
    if (stack_cache_has_dirty(&w->base.stacks) && stack_cache_trim(&w->base.stacks, 64))
        return;
    /* A short queue it leaves to a worker that may yet get stuck is
     * watched for by park_sleep: a worker parking while others run becomes
     * the watcher, unless one is already. */
    bool last = idle_to_parked(&rt->idle, w->index, w->searching);
    w->searching = false;
    if (last && work_pending(w))
        notify_parked(rt);
    stats_asleep(stats_of(w), corio_instant_now());
    park_sleep(w);
    corio_instant now = corio_instant_now();
    stats_awake(stats_of(w), now);
    bool own = w->run_next || atomic_load_explicit(&w->lifo, memory_order_relaxed) ||
               lq_len(&w->lq) > 0;
    w->searching = idle_from_parked(&rt->idle, w->index, own);
    if (!w->searching)
        drop_watch(rt, (int)w->index + 1); /* off to run its own tasks */
    /* Awake again: a poll count that moves, so that others do not take
     * this worker's queue for stuck on a count they saw before it slept.
     * Then the park's count, with release: a reader that sees it sees the
     * move too, so the count less the parks never goes below the polls. */
    count_poll(w);
    stat_add_release(&stats_of(w)->parks, 1);
    w->search_began = now;
}

/* Returns how many timers fired and waiters the I/O turn woke, signals'
 * included (their tasks are now in this worker's LIFO slot and queue, or,
 * for tasks of other runtimes, theirs: a spare loop turn). worker_loop
 * parks on a 0: anything woken must be in the count. */
static size_t maintenance(mt_worker *w, bool io)
{
    mt_rt *rt = w->rt;
    corio_instant now = corio_instant_now();
    size_t fired = advance_due_wheels(w, now);
    /* A busy runtime still looks at I/O: a turn without blocking, unless a
     * sleeper holds the driver (it wakes for events itself). */
    if (io && reactor_regs(rt->rt.io) && !atomic_load_explicit(&rt->drv_held, memory_order_relaxed) &&
        !atomic_exchange_explicit(&rt->drv_held, 1, memory_order_acquire)) {
        int woken = reactor_turn(rt->rt.io, 0);
        atomic_store_explicit(&rt->drv_held, 0, memory_order_release);
        if (woken > 0)
            fired += (size_t)woken;
    }
    if (stack_cache_over(&w->base.stacks))
        stack_cache_trim(&w->base.stacks, 1);
    return fired;
}

static void run_task(mt_worker *w, corio_task *t)
{
    if (--w->ev_left == 0) {
        w->ev_left = w->rt->event_interval;
        maintenance(w, true);
    }
    task_run(t, &w->base);
    count_poll(w);
}

static void worker_loop(mt_worker *w)
{
    mt_rt *rt = w->rt;
    while (!atomic_load_explicit(&rt->shutdown, memory_order_acquire)) {
        corio_task *t = next_task(w);
        if (!t && (t = steal_work(w)) == NULL) {
            /* Timers that fire here wake their tasks into this worker's
             * LIFO slot: run them rather than sleep on them. */
            if (maintenance(w, false) != 0)
                continue;
            /* A short queue left to a busy owner: look again until it has
             * been in one poll for STALL_NS (then steal_work takes it),
             * for a little longer than that, then sleep. */
            if (w->searching && w->short_seen &&
                corio_instant_now() - w->search_began < 2 * STALL_NS) {
                for (int i = 0; i < 64; i++)
                    cpu_relax();
                continue;
            }
            park(w);
            continue;
        }
        if (w->searching)
            end_search(w);
        run_task(w, t);
    }
}

/* ---- the core's interface (core/sched.h) ---------------------------------- */

/* A push from a thread that is not one of the workers. Once the task is in
 * the global queue a worker may run it to completion, and the runtime may
 * then shut down and be freed, while this thread is still in
 * notify_parked. So it counts itself in `remote_ops` first, while the task
 * is live and unqueued (shutdown waits for every live task, and for every
 * spawned one still to be taken in, so it cannot have got past that yet), and mt_destroy waits for the count to drop to
 * zero before freeing. SeqCst on both sides: the increment is ordered
 * before the push, the push before the task's completion, that before the
 * shutdown's wait for live tasks, and that before mt_destroy's read. */
static void push_remote(mt_rt *rt, corio_task *t)
{
    gq_push(&rt->gq, t);
    notify_parked(rt);
}

static void mt_schedule(sched *s, corio_task *t)
{
    mt_rt *rt = mt_of(s);
    mt_worker *w = here_in(rt);
    if (w) {
        schedule_local(w, t, false);
        return;
    }
    atomic_fetch_add_explicit(&rt->remote_ops, 1, memory_order_seq_cst);
    push_remote(rt, t);
    atomic_fetch_sub_explicit(&rt->remote_ops, 1, memory_order_seq_cst);
}

static int mt_submit(sched *s, worker *here, corio_task *t)
{
    mt_rt *rt = mt_of(s);
    if (here && here->sched == s) {
        if (!registry_add(&rt->reg, t))
            return CORIO_ESHUTDOWN;
        rt_task_spawned(&rt->hooks, t);
        schedule_local((mt_worker *)here, t, false);
        return 0;
    }
    /* From another thread. Not added to the registry here but by the worker
     * that takes it from the global queue (take_in_new): the spawning
     * thread and the workers would otherwise pass the registry shard's lock
     * and the neighbouring tasks' links between their cores on every
     * spawn (spawn_remote on 2 workers: 5% of the throughput; the
     * current-thread runtime does the same with its inject queue).
     * `unregistered` counts such tasks until they are added; the shutdown
     * waits for it to drop to 0 before it closes the registry, so none is
     * missed by the cancellation, and refuses new ones: a Dekker handshake
     * on `unregistered` and rt.closed, seq_cst on both sides (this increment
     * before the load of closed; mt_shutdown's store of closed before its
     * load of the count): either this spawn sees the runtime closed and
     * refuses, or the shutdown sees it counted and waits for it.
     * remote_ops as mt_schedule's, counted before the task is live. */
    atomic_fetch_add_explicit(&rt->remote_ops, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&rt->unregistered, 1, memory_order_seq_cst);
    int rc = CORIO_ESHUTDOWN;
    if (!atomic_load_explicit(&rt->rt.closed, memory_order_seq_cst)) {
        push_remote(rt, t);
        rc = 0;
    } else {
        atomic_fetch_sub_explicit(&rt->unregistered, 1, memory_order_relaxed);
    }
    atomic_fetch_sub_explicit(&rt->remote_ops, 1, memory_order_seq_cst);
    return rc;
}

static void mt_release(sched *s, corio_task *t)
{
    if (registry_remove(&mt_of(s)->reg, t))
        rt_task_terminated(&mt_of(s)->hooks, t);
}

static void mt_yielded(worker *bw, corio_task *t)
{
    schedule_local((mt_worker *)bw, t, true);
}

/* A coroutine yields: hand the CPU straight to the next local task if it is
 * a yielded coroutine too (one switch instead of two through the loop),
 * else let the loop run it (kept in run_next, ahead of the queue). Self
 * goes to the back of the local queue - but only once the switch has saved
 * its context (w->deferred, queued by the core after the switch): in the
 * queue before that, a stealer could resume it half-saved. */
static corio_task *mt_yield_next(worker *bw, corio_task *self)
{
    mt_worker *w = (mt_worker *)bw;
    /* A direct yield is a poll the loop does not see: it counts towards the
     * loop's two countdowns, and when either is about to run out, the
     * yield goes back to the loop, whose next poll then takes the global
     * queue's turn or does the maintenance (and resets the countdown). A
     * separate budget, refilled only by the maintenance, used to run out
     * after event_interval direct yields and stay out until the loop had
     * polled event_interval more times: every other yield went through the
     * loop (yield_many on one worker: 3 times slower than the
     * current-thread runtime's). */
    if (w->ev_left <= 1 || w->gq_left <= 1)
        return NULL;
    w->ev_left--;
    w->gq_left--;
    corio_task *next = take_local(w); /* as the loop would (bar its global turn) */
    if (!next)
        return self; /* nothing else here: go on */
    if (!(next->poll_flags & TF_YIELDED)) {
        w->run_next = next;
        return NULL;
    }
    self->poll_flags |= TF_YIELDED;
    w->base.deferred = self;
    count_poll(w); /* progress, for in_poll_for: like the loop's polls */
    return next;
}

/* A coroutine suspends: hand the CPU straight to this worker's next task
 * if it is a started coroutine (one switch instead of two through the
 * loop; the core makes the suspending one idle once its context is saved).
 * Counted as the loop counts a poll: towards both countdowns (as a direct
 * yield is, see above), and in `polls`, which stealers watch to tell a
 * stuck worker from a busy one. Anything else the loop runs next. */
static corio_task *mt_suspend_next(worker *bw)
{
    mt_worker *w = (mt_worker *)bw;
    if (w->ev_left <= 1 || w->gq_left <= 1)
        return NULL;
    corio_task *next = take_local(w);
    if (!next)
        return NULL;
    if (!task_is_started_coro(next)) {
        w->run_next = next; /* take_local took run_next first: it is free */
        return NULL;
    }
    w->ev_left--;
    w->gq_left--;
    count_poll(w);
    return next;
}

static const sched_vtable mt_sched_vtable = {
    .schedule = mt_schedule,
    .submit = mt_submit,
    .release = mt_release,
    .yield_next = mt_yield_next,
    .yielded = mt_yielded,
    .suspend_next = mt_suspend_next,
};

/* ---- threads ------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    mt_worker *w = arg;
    mt_rt *rt = w->rt;
    char name[16];
    snprintf(name, sizeof name, "%.*s-%u", 10, rt->name_prefix, w->index);
    pthread_setname_np(pthread_self(), name);
    if (rt->b.on_thread_start)
        rt->b.on_thread_start(rt->b.hook_arg);
    worker_enter(&w->base);
    stats_awake(stats_of(w), corio_instant_now());
    worker_loop(w);
    stats_asleep(stats_of(w), corio_instant_now());
    stack_cache_flush(&w->base.stacks);
    worker_leave(&w->base);
    if (rt->b.on_thread_stop)
        rt->b.on_thread_stop(rt->b.hook_arg);
    return NULL;
}

static void stop_workers(mt_rt *rt, unsigned started)
{
    atomic_store_explicit(&rt->shutdown, 1, memory_order_seq_cst);
    for (unsigned i = 0; i < started; i++) {
        atomic_store_explicit(&rt->workers[i].park_state, PARK_NOTIFIED, memory_order_seq_cst);
        futex(&rt->workers[i].park_state, FUTEX_WAKE_PRIVATE, 1, NULL);
    }
    reactor_unpark(rt->rt.io);
    for (unsigned i = 0; i < started; i++)
        pthread_join(rt->workers[i].thread, NULL);
}

/* ---- the flavour's operations (rt/runtime.h) ------------------------------- */

static int mt_enter(corio_rt *crt)
{
    mt_rt *rt = (mt_rt *)crt;
    spin_lock(&rt->drive_lock);
    bool closed = atomic_load_explicit(&rt->rt.closed, memory_order_relaxed);
    if (!closed)
        rt->drivers++;
    spin_unlock(&rt->drive_lock);
    return closed ? CORIO_ESHUTDOWN : 0;
}

static void mt_drive(corio_rt *crt, corio_task *main)
{
    (void)crt;
    /* The workers run it: wait for it here, on a parker. */
    corio_join_fut jf;
    corio_join_fut_init(&jf, main);
    block_on_parked(&jf.base);
}

static void mt_exit(corio_rt *crt)
{
    mt_rt *rt = (mt_rt *)crt;
    spin_lock(&rt->drive_lock);
    rt->drivers--;
    spin_unlock(&rt->drive_lock);
}

static int mt_shutdown(corio_rt *crt)
{
    mt_rt *rt = (mt_rt *)crt;
    spin_lock(&rt->drive_lock);
    if (rt->drivers > 0) {
        spin_unlock(&rt->drive_lock);
        return -EBUSY; /* a thread is in corio_rt_block_on: nothing done */
    }
    /* seq_cst: the other side of mt_submit's handshake. */
    atomic_store_explicit(&rt->rt.closed, 1, memory_order_seq_cst);
    spin_unlock(&rt->drive_lock);
    reactor_refuse(rt->rt.io); /* nor new fds: io/reactor.h */
    /* Tasks spawned from other threads before the close: the workers add
     * them to the registry as they take them (take_in_new), so that the
     * close below cancels them too. None comes after (mt_submit). */
    struct timespec ms = {0, 1000000};
    while (atomic_load_explicit(&rt->unregistered, memory_order_seq_cst) > 0)
        nanosleep(&ms, NULL);
    registry_close_and_cancel(&rt->reg);
    /* The workers run every cancelled task through its cleanup. */
    while (registry_live(&rt->reg) > 0)
        nanosleep(&ms, NULL);
    stop_workers(rt, rt->n);
    return 0;
}

static void mt_destroy(corio_rt *crt)
{
    mt_rt *rt = (mt_rt *)crt;
    /* Other threads still returning from a push (push_remote). */
    while (atomic_load_explicit(&rt->remote_ops, memory_order_seq_cst))
        sched_yield();
    for (unsigned i = 0; i < rt->n; i++) {
        wheel_clear(&rt->workers[i].wheel);
        free(rt->workers[i].seen_polls);
        free(rt->workers[i].seen_at);
    }
    registry_destroy(&rt->reg);
    idle_destroy(&rt->idle);
    gq_destroy(&rt->gq);
    reactor_close(rt->rt.io);
    free(rt->stats);
    free(rt->workers);
    free(rt);
}

static size_t mt_global_depth(corio_rt *crt)
{
    return gq_len(&((mt_rt *)crt)->gq);
}

static void mt_worker_metrics(corio_rt *crt, unsigned i, corio_worker_metrics *out)
{
    mt_worker *w = &((mt_rt *)crt)->workers[i];
    stats_read(stats_of(w), out); /* the parks acquired first: see park */
    out->polls = atomic_load_explicit(&w->polls, memory_order_relaxed) - out->parks;
    out->local_queue_depth =
        lq_len(&w->lq) + (atomic_load_explicit(&w->lifo, memory_order_relaxed) != NULL);
}

static registry *mt_tasks(corio_rt *crt, unsigned *workers)
{
    mt_rt *rt = (mt_rt *)crt;
    *workers = rt->n;
    return &rt->reg;
}

static const rt_ops mt_ops = {
    .enter = mt_enter,
    .drive = mt_drive,
    .exit = mt_exit,
    .shutdown = mt_shutdown,
    .destroy = mt_destroy,
    .global_depth = mt_global_depth,
    .worker_metrics = mt_worker_metrics,
    .tasks = mt_tasks,
};

int multi_thread_build(const corio_rt_builder *b, corio_rt **out)
{
    mt_rt *rt = aligned_alloc(_Alignof(mt_rt), sizeof *rt);
    if (!rt)
        return -ENOMEM;
    memset(rt, 0, sizeof *rt);
    spin_init(&rt->drive_lock);
    unsigned n = b->worker_threads;
    rt->rt.s.vt = &mt_sched_vtable;
    rt->rt.s.stack_size = stack_round_size(b->stack_size);
    rt->rt.ops = &mt_ops;
    rt->rt.flavor = CORIO_RT_MULTI_THREAD;
    rt->hooks = task_hooks_of(b);
    rt->n = n;
    rt->b = *b;
    snprintf(rt->name_prefix, sizeof rt->name_prefix, "%s",
             b->thread_name_prefix ? b->thread_name_prefix : "corio-worker");
    rt->event_interval = b->event_interval;
    rt->gq_interval = b->global_queue_interval;
    int rc = -ENOMEM;
    rt->workers = calloc(n, sizeof *rt->workers);
    rt->stats = aligned_alloc(64, (size_t)n * sizeof *rt->stats);
    if (!rt->workers || !rt->stats)
        goto fail_free;
    memset(rt->stats, 0, (size_t)n * sizeof *rt->stats);
    if ((rc = gq_init(&rt->gq, n)) < 0)
        goto fail_free;
    if ((rc = idle_init(&rt->idle, n)) < 0)
        goto fail_gq;
    if ((rc = registry_init(&rt->reg, 4 * n, false)) < 0)
        goto fail_idle;
    if ((rc = reactor_open(&rt->rt.io)) < 0)
        goto fail_reg;
    corio_instant now = corio_instant_now();
    for (unsigned i = 0; i < n; i++) {
        mt_worker *w = &rt->workers[i];
        w->rt = rt;
        w->index = i;
        w->rng = 0x9e3779b9u * (i + 1);
        w->base.sched = &rt->rt.s;
        w->base.timers = &w->wheel;
        w->base.io = rt->rt.io;
        w->gq_left = rt->gq_interval;
        w->ev_left = rt->event_interval;
        stack_cache_init(&w->base.stacks, rt->rt.s.stack_size);
        lq_init(&w->lq);
        atomic_init(&w->lifo, NULL);
        atomic_init(&w->polls, 0);
        atomic_init(&w->park_state, PARK_EMPTY);
        atomic_init(&w->on_driver, 0);
        wheel_init(&w->wheel, now);
        w->wheel.on_earlier = timer_earlier;
        w->wheel.on_earlier_arg = rt;
        w->wheel.owner = rt;
        w->seen_polls = calloc(n, sizeof *w->seen_polls);
        w->seen_at = calloc(n, sizeof *w->seen_at);
        if (!w->seen_polls || !w->seen_at) {
            rc = -ENOMEM;
            goto fail_workers;
        }
        for (unsigned k = 0; k < n; k++)
            w->seen_polls[k] = UINT64_MAX; /* never seen: the first look only notes */
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (b->thread_stack_size)
        pthread_attr_setstacksize(&attr, b->thread_stack_size);
    unsigned started = 0;
    for (; started < n; started++) {
        rc = -pthread_create(&rt->workers[started].thread, &attr, worker_main,
                             &rt->workers[started]);
        if (rc < 0)
            break;
    }
    pthread_attr_destroy(&attr);
    if (started < n) {
        stop_workers(rt, started);
        goto fail_workers;
    }
    *out = &rt->rt;
    return 0;

fail_workers:
    for (unsigned i = 0; i < n; i++) {
        free(rt->workers[i].seen_polls);
        free(rt->workers[i].seen_at);
    }
    reactor_close(rt->rt.io);
fail_reg:
    registry_destroy(&rt->reg);
fail_idle:
    idle_destroy(&rt->idle);
fail_gq:
    gq_destroy(&rt->gq);
fail_free:
    free(rt->stats);
    free(rt->workers);
    free(rt);
    return rc;
}
