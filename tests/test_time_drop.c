/* tests/test_time_drop.c - dropped and cancelled timers (include/corio/time.h).
 *
 * A dropped sleep, timeout or interval leaves nothing armed: its timer never
 * fires afterwards, its waker clones are released, a long sleeper does not
 * hold up shutdown, and cancelled timers leave no stale state in the wheel
 * that would make a later timer late. A sleep armed by one runtime may be
 * dropped by a task of another, or by plain code, and when a task of another
 * runtime awaits it, that runtime fires it.
 */
#include <corio.h>

#include <stdatomic.h>
#include <stdio.h>

#include "core/worker.h"
#include "test.h"
#include "time/wheel.h"
#include "util.h"

#define MS(x) ((double)(x) / 1e6) /* ns -> ms, for printing */

/* ---- cancelled timers leave nothing stale ----------------------------------- */

/* After timers were armed and cancelled in many slots of the runtime's wheel
 * and a spell with no timer armed at all, a new timer must still be on time
 * (a stale occupancy bit, or a wheel whose clock jumped past a slot, would
 * make it fire a whole wheel turn late). The pattern is the everyday one:
 * timeouts around operations that finish first, so their timers are
 * cancelled, then a sleep. Each round arms timers of 1..63 ms (one per 1 ms
 * slot ahead) from this task, cancels them in an order that takes each
 * slot's list apart from the front, the back and the middle, keeps the
 * runtime busy without timers for ~10 ms, then sleeps 64 ms, which lands in
 * the next 64 ms span of the wheel. Arming and cancelling are done by hand,
 * so nothing depends on how fast the machine is. The wheel is looked at
 * through its internal interface (the runtime's wheel is the worker's). */
static int stale_main(void *arg)
{
    (void)arg;
    corio_duration worst = 0;
    corio_waker noop = corio_waker_noop();
    corio_context cx = {&noop};
    for (int round = 0; round < 8; round++) {
        corio_timer ts[64][2];
        for (int k = 1; k < 64; k++) {
            for (int j = 0; j < 2; j++) {
                /* From now each time: under an emulator, arming them all
                 * takes longer than the first slots are ahead. */
                corio_timer_init(&ts[k][j], corio_instant_add(corio_instant_now(), CORIO_MSEC(k)));
                CHECK_EQ(corio_timer_poll(&ts[k][j], &cx), CORIO_PENDING);
                CHECK(corio_timer_is_armed(&ts[k][j]));
            }
        }
        for (int k = 1; k < 64; k++) {
            int first = (k + round) % 2; /* newest or oldest of the slot first */
            corio_timer_cancel(&ts[k][first]);
            CHECK(corio_timer_is_armed(&ts[k][!first]));
            corio_timer_cancel(&ts[k][!first]);
            CHECK(!corio_timer_is_armed(&ts[k][first]) && !corio_timer_is_armed(&ts[k][!first]));
        }
        /* Nothing is left behind in the runtime's wheel: no armed timer and
         * no occupancy bit that would wake the runtime for an empty slot. */
        CHECK_EQ(wheel_next_deadline(worker_current()->timers), UINT64_MAX);
        /* A quiet spell: the runtime keeps running (the task yields) with
         * nothing armed in the wheel. */
        corio_instant quiet_end = corio_instant_add(corio_instant_now(), CORIO_MSEC(8 + round));
        while (corio_instant_now() < quiet_end)
            CHECK_EQ(corio_yield(), 0);
        corio_duration d = CORIO_MSEC(64);
        long long starved0 = thread_run_delay_ns();
        corio_instant t0 = corio_instant_now();
        CHECK_EQ(corio_sleep(d), 0);
        corio_duration late = (corio_duration)(corio_instant_now() - t0) - d;
        CHECK(late >= 0);
        if (late > worst)
            worst = late;
        if (late > LATE_SLACK + (thread_run_delay_ns() - starved0))
            test_failf(__FILE__, __LINE__,
                       "round %d: sleep(%.0f ms) after cancelled timers and a quiet spell "
                       "returned %.1f ms late",
                       round, MS(d), MS(late));
    }
    printf("sleeps after cancelled timers: worst lateness %.3f ms\n", MS(worst));
    return 0;
}

TEST_TIMING(time_sleep_after_cancelled_timers_not_late)
{
    CHECK_EQ(run_main(stale_main, NULL), 0);
}

/* ---- dropped sleeps and intervals ------------------------------------------ */

static probe drop_probe;
static int drop_rc;

static int drop_sleeper(void *arg)
{
    drop_rc = corio_await(&drop_probe.sp.base);
    return drop_rc;
}

static corio_interval drop_iv;
static spy drop_iv_spy;

static int drop_interval_task(void *arg)
{
    CHECK_EQ(corio_await(&drop_iv_spy.base), 0); /* the immediate first tick */
    drop_iv_spy.polls = 0;
    return corio_await(&drop_iv_spy.base);
}

/* Polls its inner future once and finishes with the poll's outcome,
 * leaving the inner future armed: the first half of a select. */
typedef struct poll_once_fut {
    corio_future base;
    corio_future *inner;
} poll_once_fut;

static corio_poll poll_once_poll(corio_future *f, corio_context *cx)
{
    poll_once_fut *po = (poll_once_fut *)f;
    f->result = (int)corio_future_poll(po->inner, cx);
    return CORIO_READY;
}

static const corio_future_vtable poll_once_vt = {poll_once_poll, NULL};

static int drop_main(void *arg)
{
    /* An aborted sleeper: its await returns at once, the sleep is dropped
     * once, and its timer never fires (checked past its deadline). */
    probe_init(&drop_probe, corio_instant_add(corio_instant_now(), CORIO_MSEC(150)));
    corio_task *t;
    CHECK_EQ(corio_spawn(drop_sleeper, NULL, &t), 0);
    CHECK(t != NULL);
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    CHECK(drop_probe.sp.polls >= 1);
    corio_task_abort(t);
    corio_instant t0 = corio_instant_now();
    int res = 0;
    CHECK_EQ(corio_task_join(t, &res), CORIO_ECANCELED);
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_MSEC(50));
    CHECK_EQ(res, CORIO_ECANCELED);
    CHECK_EQ(drop_probe.sp.drops, 1);
    CHECK(!corio_timer_is_armed(&drop_probe.sleep.timer));
    CHECK_EQ(corio_sleep(CORIO_MSEC(200)), 0);
    CHECK_EQ(atomic_load(&drop_probe.sp.wakes), 0);
    CHECK_EQ(atomic_load(&drop_probe.sp.refs), 0);

    /* The same for an interval between ticks. */
    corio_interval_init(&drop_iv, CORIO_MSEC(60));
    spy_init(&drop_iv_spy, &drop_iv.base);
    CHECK_EQ(corio_spawn(drop_interval_task, NULL, &t), 0);
    CHECK(t != NULL);
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    CHECK(drop_iv_spy.polls >= 1);
    corio_task_abort(t);
    CHECK_EQ(corio_task_join(t, &res), CORIO_ECANCELED);
    CHECK_EQ(drop_iv_spy.drops, 1);
    CHECK(!corio_timer_is_armed(&drop_iv.timer));
    int wakes_before = atomic_load(&drop_iv_spy.wakes);
    CHECK_EQ(corio_sleep(CORIO_MSEC(150)), 0);
    CHECK_EQ(atomic_load(&drop_iv_spy.wakes), wakes_before);
    CHECK_EQ(atomic_load(&drop_iv_spy.refs), 0);

    /* A sleep polled once by hand, then dropped by hand: disarmed. */
    static probe hand;
    probe_init(&hand, corio_instant_add(corio_instant_now(), CORIO_MSEC(30)));
    poll_once_fut po;
    corio_future_init(&po.base, &poll_once_vt);
    po.inner = &hand.sp.base;
    CHECK_EQ(corio_await(&po.base), 0);
    CHECK_EQ(po.base.result, CORIO_PENDING);
    CHECK_EQ(hand.sp.polls, 1);
    CHECK(corio_timer_is_armed(&hand.sleep.timer));
    corio_future_drop(&hand.sp.base);
    CHECK_EQ(hand.sp.drops, 1);
    CHECK(!corio_timer_is_armed(&hand.sleep.timer));
    CHECK_EQ(corio_sleep(CORIO_MSEC(60)), 0);
    CHECK_EQ(atomic_load(&hand.sp.wakes), 0);
    CHECK_EQ(atomic_load(&hand.sp.refs), 0);
    return 0;
}

TEST_TIMING(time_drop_removes_timer)
{
    CHECK_EQ(run_main(drop_main, NULL), 0);
}

/* ---- dropped from another runtime, or from plain code ------------------------- */

/* time.h: a timer records the wheel that holds it, so a future embedding one
 * may be dropped from any thread. Two sleeps are armed in the wheel of
 * runtime A, driven by a thread of its own; one is dropped by a task of
 * runtime B on the main thread, the other by plain code. Each leaves A's
 * wheel empty (not an unlink from B's wheel, or none), and releases the
 * waker its timer held without waking it. The deadlines are far off: the
 * test asks nothing of the clock. */
static probe xrt_probe[2];
static wheel *xrt_owner_wheel;
static atomic_int xrt_stage; /* 1: both armed in A's wheel; 2: both dropped */

static int xrt_owner_main(void *arg)
{
    corio_instant far = corio_instant_add(corio_instant_now(), CORIO_SEC(60));
    for (int k = 0; k < 2; k++) {
        probe_init(&xrt_probe[k], far);
        poll_once_fut po;
        corio_future_init(&po.base, &poll_once_vt);
        po.inner = &xrt_probe[k].sp.base;
        CHECK_EQ(corio_await(&po.base), 0);
        CHECK_EQ(po.base.result, CORIO_PENDING);
        CHECK(corio_timer_is_armed(&xrt_probe[k].sleep.timer));
    }
    xrt_owner_wheel = worker_current()->timers;
    CHECK(wheel_next_deadline(xrt_owner_wheel) != UINT64_MAX);
    atomic_store(&xrt_stage, 1);
    /* Keep runtime A running (and its wheel advancing) meanwhile. */
    while (atomic_load(&xrt_stage) < 2)
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    CHECK_EQ(wheel_next_deadline(xrt_owner_wheel), UINT64_MAX);
    return 0;
}

static void *xrt_owner_thread(void *arg)
{
    CHECK_EQ(run_main(xrt_owner_main, NULL), 0);
    return NULL;
}

static int xrt_dropper_main(void *arg)
{
    CHECK(worker_current()->timers != xrt_owner_wheel); /* another runtime's */
    CHECK(corio_timer_is_armed(&xrt_probe[0].sleep.timer));
    corio_future_drop(&xrt_probe[0].sp.base);
    CHECK(!corio_timer_is_armed(&xrt_probe[0].sleep.timer));
    CHECK_EQ(wheel_next_deadline(worker_current()->timers), UINT64_MAX);
    return 0;
}

TEST(time_drop_from_another_runtime_or_plain_code)
{
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, xrt_owner_thread, NULL), 0);
    while (atomic_load(&xrt_stage) < 1)
        sleep_ms(1);
    CHECK_EQ(run_main(xrt_dropper_main, NULL), 0);
    CHECK(corio_timer_is_armed(&xrt_probe[1].sleep.timer));
    corio_future_drop(&xrt_probe[1].sp.base);
    CHECK(!corio_timer_is_armed(&xrt_probe[1].sleep.timer));
    atomic_store(&xrt_stage, 2);
    CHECK_EQ(pthread_join(th, NULL), 0);
    for (int k = 0; k < 2; k++) {
        CHECK_EQ(xrt_probe[k].sp.drops, 1);
        CHECK_EQ(atomic_load(&xrt_probe[k].sp.wakes), 0);
        CHECK_EQ(atomic_load(&xrt_probe[k].sp.refs), 0);
    }
}

/* ---- dropped from plain code while the runtime is being freed ------------------- */

/* The same promise, at the edge of the wheel's life: sleeps left armed in
 * runtime A's wheel (polled by hand, never dropped by A's task) are dropped
 * by a plain thread while the main thread frees A, which disarms them
 * itself (wheel_clear) and frees the wheel. The dropper used to lock the
 * spinlock of the freed wheel when its load of the timer's wheel came just
 * before the clear (a heap-use-after-free under ASan, in the first rounds).
 * A race, so the test runs many rounds; it asserts nothing about timing. */
#define FREE_RACE_TIMERS 2000
static corio_sleep_fut free_race_futs[FREE_RACE_TIMERS];
static atomic_int free_race_go;

static int free_race_arm(void *arg)
{
    corio_waker w = corio_waker_noop();
    corio_context cx = {&w};
    for (int i = 0; i < FREE_RACE_TIMERS; i++) {
        corio_sleep_fut_init(&free_race_futs[i], CORIO_SEC(100));
        CHECK_EQ(corio_future_poll(&free_race_futs[i].base, &cx), CORIO_PENDING);
    }
    return 0;
}

static void *free_race_dropper(void *arg)
{
    while (!atomic_load(&free_race_go))
        ;
    for (int i = FREE_RACE_TIMERS - 1; i >= 0; i--)
        corio_future_drop(&free_race_futs[i].base);
    return NULL;
}

TEST(time_drop_from_plain_code_races_rt_free)
{
    int rounds = SCALE(300, 300, 20);
    for (int round = 0; round < rounds; round++) {
        corio_rt_builder b = flavor_builder(round & 1);
        corio_rt *rt;
        CHECK_EQ(corio_rt_build(&b, &rt), 0);
        int r;
        CHECK_EQ(corio_rt_block_on(rt, free_race_arm, NULL, &r), 0);
        atomic_store(&free_race_go, 0);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, free_race_dropper, NULL), 0);
        atomic_store(&free_race_go, 1);
        CHECK_EQ(corio_rt_free(rt), 0);
        CHECK_EQ(pthread_join(th, NULL), 0);
        for (int i = 0; i < FREE_RACE_TIMERS; i++)
            CHECK(!corio_timer_is_armed(&free_race_futs[i].timer));
    }
}

/* ---- polled by a task of another runtime ------------------------------------ */

/* time.h: a future arms its timer in the wheel of the runtime whose task
 * polls it. A sleep first polled by a task of runtime A, then awaited by a
 * task of runtime B, must be fired by B: A may not be driven any more (a
 * current-thread runtime between two block_on calls), or may be freed
 * while B waits, dropping whatever waker its wheel held. Each round arms
 * the sleep in A, then awaits it in B (each flavour) under a timeout far
 * longer than the sleep; round 1 also frees A while B waits. */
static probe mv_probe;
static corio_rt *mv_a;

/* The sleep's 200 ms count from its init, made here, next to its first
 * poll: made before the runtime's build (with 60 ms), it had run out at
 * that poll on a loaded machine under TSan. */
static int mv_arm_main(void *arg)
{
    corio_sleep_fut_init(&mv_probe.sleep, CORIO_MSEC(200));
    poll_once_fut po;
    corio_future_init(&po.base, &poll_once_vt);
    po.inner = &mv_probe.sleep.base;
    CHECK_EQ(corio_await(&po.base), 0);
    CHECK_EQ(po.base.result, CORIO_PENDING);
    CHECK(corio_timer_is_armed(&mv_probe.sleep.timer));
    return 0;
}

static void *mv_free_a(void *arg)
{
    sleep_ms(20);
    CHECK_EQ(corio_rt_free(mv_a), 0);
    return NULL;
}

static int mv_wait_main(void *arg)
{
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_timeout(&mv_probe.sleep.base, CORIO_SEC(5)), 0);
    CHECK(corio_instant_now() >= corio_timer_deadline(&mv_probe.sleep.timer));
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_SEC(2));
    return 0;
}

TEST(time_sleep_armed_by_another_runtime_fires_in_the_poller)
{
    for (int round = 0; round < 2; round++) {
        for (int mt = 0; mt < 2; mt++) {
            mv_a = new_rt();
            int r = -1;
            CHECK_EQ(corio_rt_block_on(mv_a, mv_arm_main, NULL, &r), 0);
            CHECK_EQ(r, 0);
            pthread_t th;
            if (round == 1)
                CHECK_EQ(pthread_create(&th, NULL, mv_free_a, NULL), 0);
            CHECK_EQ(run_main_flavor(mt, mv_wait_main, NULL), 0);
            if (round == 1)
                CHECK_EQ(pthread_join(th, NULL), 0);
            else
                CHECK_EQ(corio_rt_free(mv_a), 0);
        }
    }
}

/* ---- shutdown with a long sleep armed ------------------------------------------ */

static int long_sleeper_rc = 1;

static int long_sleeper(void *arg)
{
    long_sleeper_rc = corio_sleep(CORIO_SEC(10));
    return 0;
}

static int spawn_long_sleeper_main(void *arg)
{
    CHECK_EQ(corio_spawn(long_sleeper, NULL, NULL), 0);
    CHECK_EQ(corio_yield(), 0); /* let it arm its timer */
    return 0;
}

static int abort_long_sleeper_main(void *arg)
{
    corio_task *t;
    CHECK_EQ(corio_spawn(long_sleeper, NULL, &t), 0);
    CHECK(t != NULL);
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    corio_task_abort(t);
    CHECK_EQ(corio_task_join(t, NULL), CORIO_ECANCELED);
    return 0;
}

TEST_TIMING(time_long_sleeper_does_not_hold_up_shutdown)
{
    /* corio_rt_free with a task 10 s into a sleep: cancelled, fast. */
    corio_rt *rt = new_rt();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, spawn_long_sleeper_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_rt_free(rt), 0);
    corio_duration took = (corio_duration)(corio_instant_now() - t0);
    printf("corio_rt_free with a 10 s sleeper: %.3f ms\n", MS(took));
    CHECK(took < CORIO_MSEC(500));
    CHECK_EQ(long_sleeper_rc, CORIO_ECANCELED);

    /* block_on whose main task aborts and joins a 10 s sleeper: prompt. */
    long_sleeper_rc = 1;
    t0 = corio_instant_now();
    CHECK_EQ(run_main(abort_long_sleeper_main, NULL), 0);
    took = (corio_duration)(corio_instant_now() - t0);
    CHECK(took < CORIO_MSEC(500));
    CHECK_EQ(long_sleeper_rc, CORIO_ECANCELED);
}

/* ---- a waker whose drop cancels a timer of the same wheel ------------------ */

/* The runtime's free drops the wakers of timers left armed in its wheels (a
 * future polled by a task that ended without dropping it). A waker's drop
 * is the user's code: here it drops another sleep armed in the same wheel,
 * which takes that wheel's lock. wheel_clear dropped the wakers under that
 * lock, and the free deadlocked on itself (the test's time limit); it now
 * drops each one with the lock released. Both flavours. */
static corio_sleep_fut wd_first, wd_second;
static atomic_int wd_dropped;

static const void *wd_clone(const void *d)
{
    return d;
}
static void wd_wake(const void *d)
{
}
static void wd_drop(const void *d)
{
    atomic_fetch_add(&wd_dropped, 1);
    /* Whichever of the two is dropped first drops the other. */
    corio_future_drop(d == &wd_first ? &wd_second.base : &wd_first.base);
}
static const corio_waker_vtable wd_vt = {wd_clone, wd_wake, wd_wake, wd_drop};

static int wd_arm(void *arg)
{
    corio_sleep_fut_init(&wd_first, CORIO_SEC(100));
    corio_sleep_fut_init(&wd_second, CORIO_SEC(100));
    corio_waker w1 = {&wd_vt, &wd_first}, w2 = {&wd_vt, &wd_second};
    corio_context c1 = {&w1}, c2 = {&w2};
    CHECK_EQ(corio_future_poll(&wd_first.base, &c1), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&wd_second.base, &c2), CORIO_PENDING);
    return 0;
}

TEST(time_rt_free_drops_leftover_wakers_outside_the_wheel_lock)
{
    for (int mt = 0; mt < 2; mt++) {
        atomic_store(&wd_dropped, 0);
        corio_rt_builder b = flavor_builder(mt);
        if (mt)
            b.worker_threads = 1; /* both timers in one wheel */
        corio_rt *rt;
        CHECK_EQ(corio_rt_build(&b, &rt), 0);
        int r;
        CHECK_EQ(corio_rt_block_on(rt, wd_arm, NULL, &r), 0);
        CHECK(corio_timer_is_armed(&wd_first.timer));
        CHECK(corio_timer_is_armed(&wd_second.timer));
        CHECK_EQ(corio_rt_free(rt), 0);
        CHECK(!corio_timer_is_armed(&wd_first.timer));
        CHECK(!corio_timer_is_armed(&wd_second.timer));
        /* One dropped by the free, whose drop dropped the other's future
         * (and so its waker, whose drop found the first already dropped:
         * a drop of a finished future does nothing). */
        CHECK_EQ(atomic_load(&wd_dropped), 2);
    }
}
