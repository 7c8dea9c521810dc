/* tests/test_time_mt_stress.c - timers on the multi-thread runtime under
 * races (include/corio/time.h, an outside audit).
 *
 * Timers armed on one worker's wheel by tasks that are then stolen by
 * another, fired, dropped or re-armed there; timers dropped (aborts from a
 * plain thread, timeouts dropping their inner sleep) while their wheel is
 * advanced by a foreign worker because its owner is stuck in a long poll;
 * corio_timeout racing its inner future's completion on another worker;
 * deadlines at the edges of the clock's range; a runtime freed with
 * thousands of armed timers over its workers. A lost wake shows as a hang
 * (the bounded waits below, or the runner's time limit), a double wake or a
 * use after free as a failed check, ASan or TSan.
 */
#include <corio.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "util.h"

static int rt_spawn(corio_rt *rt, corio_fn fn, void *arg, corio_task **out)
{
    corio_spawn_opts o = {.rt = rt};
    return corio_spawn_with(&o, fn, arg, out);
}

static uint64_t rng(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* ---- sleeps, timeouts and intervals moving between workers ---------------- */

typedef struct mig_ctx {
    corio_instant until; /* stop starting new rounds */
    atomic_int done;
    atomic_long rounds;
} mig_ctx;

typedef struct mig_arg {
    mig_ctx *c;
    uint64_t seed;
} mig_arg;

static int migrating_sleeper(void *p)
{
    mig_arg *a = p;
    mig_ctx *c = a->c;
    uint64_t s = a->seed;
    corio_interval iv;
    corio_interval_init(&iv, CORIO_USEC(700));
    corio_interval_set_missed_tick(&iv, (corio_missed_tick)(s % 3));
    while (corio_instant_now() < c->until) {
        uint64_t r = rng(&s);
        corio_duration d = (corio_duration)(r % 2500) * 1000; /* 0 .. 2.5 ms */
        corio_instant t0 = corio_instant_now();
        switch ((r >> 20) % 6) {
        case 0:
        case 1: { /* a plain sleep; never early */
            CHECK_EQ(corio_sleep(d), 0);
            CHECK(corio_instant_now() >= t0 + (corio_instant)d);
            break;
        }
        case 2: { /* a sleep dropped by its timeout, or finishing first */
            corio_sleep_fut in;
            corio_sleep_fut_init(&in, d);
            int rc = corio_timeout(&in.base, (corio_duration)((r >> 32) % 2500) * 1000);
            CHECK(rc == 0 || rc == CORIO_ETIMEDOUT);
            if (rc == 0)
                CHECK(corio_instant_now() >= t0 + (corio_instant)d);
            CHECK(!corio_timer_is_armed(&in.timer));
            break;
        }
        case 3: { /* an interval tick (re-armed each time, on whichever worker) */
            corio_instant due = iv.next;
            CHECK_EQ(corio_interval_tick(&iv), 0);
            CHECK(corio_instant_now() >= due);
            break;
        }
        case 4: /* stuck a while: the other tasks of this worker are stolen,
                 * its wheel advanced by the others */
            busy_until(t0 + (corio_instant)(d / 2));
            CHECK_EQ(corio_yield(), 0);
            break;
        default: { /* armed here, then polled again elsewhere after a yield */
            corio_sleep_fut f;
            corio_sleep_fut_init(&f, d + CORIO_MSEC(1));
            int rc = corio_timeout(&f.base, CORIO_USEC(300));
            CHECK(rc == 0 || rc == CORIO_ETIMEDOUT);
            CHECK_EQ(corio_sleep(0), 0);
            break;
        }
        }
        atomic_fetch_add(&c->rounds, 1);
    }
    corio_interval_drop(&iv);
    atomic_fetch_add(&c->done, 1);
    return 0;
}

static int migrate_main(void *p)
{
    mig_ctx *c = p;
    enum { N = 48 };
    static mig_arg args[N];
    corio_task *h[N];
    for (int i = 0; i < N; i++) {
        args[i].c = c;
        args[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        CHECK_EQ(corio_spawn(migrating_sleeper, &args[i], &h[i]), 0);
    }
    for (int i = 0; i < N; i++)
        CHECK_EQ(join_rc(h[i]), 0);
    CHECK_EQ(atomic_load(&c->done), N);
    return 0;
}

TEST(time_mt_timers_of_tasks_moving_between_workers)
{
    for (unsigned workers = 2; workers <= 4; workers += 2) {
        mig_ctx c;
        memset(&c, 0, sizeof c);
        c.until = corio_instant_now() + (corio_instant)CORIO_MSEC(UNDER_SAN ? 400 : 600);
        corio_rt *rt = new_mt_rt(workers);
        int r = -1;
        CHECK_EQ(corio_rt_block_on(rt, migrate_main, &c, &r), 0);
        CHECK_EQ(r, 0);
        CHECK_EQ(corio_rt_free(rt), 0);
        printf("%u workers: %ld rounds\n", workers, atomic_load(&c.rounds));
    }
}

/* ---- drops while a foreign worker advances a stuck worker's wheel --------- */

typedef struct drop_ctx {
    atomic_int cleanups;
    atomic_int fired;
    atomic_int cancelled;
    atomic_bool stop;
} drop_ctx;

static int short_sleeper(void *p)
{
    drop_ctx *c = p;
    /* Armed on whichever worker polls it first; several short sleeps, so
     * that an abort may meet one mid-fire. */
    for (int i = 0; i < 4; i++) {
        corio_instant t0 = corio_instant_now();
        int rc = corio_sleep(CORIO_USEC(200 + 300 * i));
        if (rc == CORIO_ECANCELED) {
            atomic_fetch_add(&c->cancelled, 1);
            break;
        }
        CHECK_EQ(rc, 0);
        CHECK(corio_instant_now() >= t0 + (corio_instant)CORIO_USEC(200 + 300 * i));
        atomic_fetch_add(&c->fired, 1);
    }
    atomic_fetch_add(&c->cleanups, 1);
    return 0;
}

static int spinner(void *p)
{
    drop_ctx *c = p;
    /* Long CPU-bound polls: the timers in this worker's wheel are due
     * meanwhile and fired by the other workers (try-lock). */
    while (!atomic_load(&c->stop)) {
        busy_until(corio_instant_now() + (corio_instant)CORIO_MSEC(15));
        CHECK_EQ(corio_yield(), 0);
    }
    return 0;
}

typedef struct aborter_arg {
    corio_task **h;
    int n;
} aborter_arg;

static void *aborter(void *p)
{
    aborter_arg *a = p;
    /* From a plain thread, racing the timers' firing. */
    for (int i = 0; i < a->n; i += 2) {
        corio_task_abort(a->h[i]);
        if (i % 16 == 0)
            sleep_ms(1);
    }
    return NULL;
}

TEST(time_mt_drop_while_foreign_worker_fires_stuck_wheel)
{
    int batches = SCALE(12, 6, 3);
    int n = SCALE(400, 200, 60);
    corio_rt *rt = new_mt_rt(2);
    drop_ctx c;
    memset(&c, 0, sizeof c);
    corio_task *spin;
    CHECK_EQ(rt_spawn(rt, spinner, &c, &spin), 0);
    corio_task **h = calloc((size_t)n, sizeof *h);
    CHECK(h != NULL);
    int total = 0;
    for (int b = 0; b < batches; b++) {
        for (int i = 0; i < n; i++)
            CHECK_EQ(rt_spawn(rt, short_sleeper, &c, &h[i]), 0);
        total += n;
        pthread_t th;
        aborter_arg aa = {h, n};
        CHECK_EQ(pthread_create(&th, NULL, aborter, &aa), 0);
        pthread_join(th, NULL);
        for (int i = 0; i < n; i++) {
            int res = -1;
            int rc = corio_task_join(h[i], &res);
            CHECK(rc == 0 || rc == CORIO_ECANCELED);
        }
    }
    atomic_store(&c.stop, true);
    CHECK_EQ(corio_task_join(spin, NULL), 0);
    /* Tasks aborted before their first poll never ran; each one that ran
     * ran its cleanup exactly once. */
    CHECK(atomic_load(&c.cleanups) <= total);
    CHECK(atomic_load(&c.cleanups) >= total / 2);
    CHECK_EQ(corio_rt_free(rt), 0);
    printf("%d tasks: %d cleanups, %d fired, %d cancelled sleeps\n", total,
           atomic_load(&c.cleanups), atomic_load(&c.fired), atomic_load(&c.cancelled));
    free(h);
}

/* ---- corio_timeout racing the completion of its inner future -------------- */

typedef struct race_ctx {
    slot s;
    corio_instant deadline;
    atomic_int armed; /* the timeout has polled its inner future */
} race_ctx;

static int race_waiter(void *p)
{
    race_ctx *rc_ = p;
    slot_fut f;
    slot_fut_init(&f, &rc_->s);
    int rc = corio_timeout_until(&f.base, rc_->deadline);
    if (rc == 0) {
        CHECK_EQ(f.base.result, 7); /* completed: its output, not dropped */
        CHECK_EQ(slot_drops(&rc_->s), 0);
    } else {
        CHECK_EQ(rc, CORIO_ETIMEDOUT); /* timed out: dropped, exactly once */
        CHECK_EQ(slot_drops(&rc_->s), 1);
    }
    return rc;
}

static int race_completer(void *p)
{
    race_ctx *rc_ = p;
    /* Complete right around the deadline, on another worker (or the same:
     * both are fine). */
    busy_until(rc_->deadline);
    slot_complete(&rc_->s, 7);
    return 0;
}

static int timeout_race_main(void *p)
{
    (void)p;
    int rounds = SCALE(600, 200, 100);
    int timed_out = 0, completed = 0;
    uint64_t seed = 12345;
    for (int i = 0; i < rounds; i++) {
        race_ctx rc_;
        slot_init(&rc_.s);
        /* The deadline 0.5 to 1.5 ms out, the completion at about it. */
        rc_.deadline = corio_instant_now() + (corio_instant)CORIO_USEC(500 + rng(&seed) % 1000);
        corio_task *a, *b;
        CHECK_EQ(corio_spawn(race_waiter, &rc_, &a), 0);
        CHECK_EQ(corio_spawn(race_completer, &rc_, &b), 0);
        int ra = join_rc(a);
        CHECK_EQ(join_rc(b), 0);
        if (ra == 0)
            completed++;
        else
            timed_out++;
        CHECK(!slot_has_waker(&rc_.s)); /* no waker clone left behind */
        slot_destroy(&rc_.s);
    }
    printf("%d completed, %d timed out\n", completed, timed_out);
    return 0;
}

TEST(time_mt_timeout_races_inner_completion)
{
    corio_rt *rt = new_mt_rt(3);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, timeout_race_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- deadlines at the edges of the clock ----------------------------------- */

static int edge_fn(void *p)
{
    (void)p;
    return corio_sleep(CORIO_MSEC(1));
}

static int edges_main(void *p)
{
    (void)p;
    corio_instant now = corio_instant_now();
    /* Passed, zero, negative: at once. */
    CHECK_EQ(corio_sleep_until(0), 0);
    CHECK_EQ(corio_sleep_until(now - 1), 0);
    CHECK_EQ(corio_sleep(INT64_MIN), 0);
    CHECK_EQ(corio_sleep(-1), 0);
    CHECK_EQ(corio_sleep(0), 0);
    /* Far: never fires; bounded by a timeout, and dropped cleanly. */
    corio_sleep_fut far;
    corio_sleep_fut_init_until(&far, UINT64_MAX);
    CHECK_EQ(corio_timeout(&far.base, CORIO_MSEC(2)), CORIO_ETIMEDOUT);
    CHECK(!corio_timer_is_armed(&far.timer));
    corio_sleep_fut_init(&far, INT64_MAX); /* now + INT64_MAX: no wrap */
    CHECK(corio_timer_deadline(&far.timer) > now);
    CHECK_EQ(corio_timeout(&far.base, CORIO_MSEC(2)), CORIO_ETIMEDOUT);
    corio_sleep_fut_init_until(&far, UINT64_MAX - 1);
    CHECK_EQ(corio_timeout(&far.base, CORIO_MSEC(1)), CORIO_ETIMEDOUT);
    /* A timeout with an infinite or a negative budget. */
    corio_sleep_fut in;
    corio_sleep_fut_init(&in, CORIO_MSEC(1));
    CHECK_EQ(corio_timeout(&in.base, INT64_MAX), 0);
    corio_sleep_fut_init(&in, CORIO_MSEC(1));
    CHECK_EQ(corio_timeout(&in.base, INT64_MIN), CORIO_ETIMEDOUT);
    corio_sleep_fut_init(&in, 0);
    CHECK_EQ(corio_timeout(&in.base, INT64_MIN), 0); /* ready first: never times out */
    /* Deadline scopes at the extremes. */
    int res = -1;
    CHECK_EQ(corio_timeout_call(INT64_MAX, edge_fn, NULL, &res), 0);
    CHECK_EQ(res, 0);
    CHECK_EQ(corio_timeout_call(INT64_MIN, edge_fn, NULL, &res), CORIO_ETIMEDOUT);
    CHECK_EQ(res, CORIO_ETIMEDOUT);
    CHECK_EQ(corio_timeout_call_until(0, edge_fn, NULL, &res), CORIO_ETIMEDOUT);
    CHECK_EQ(corio_timeout_call_until(UINT64_MAX, edge_fn, NULL, &res), 0);
    /* Intervals whose next tick saturates. */
    corio_interval iv;
    corio_interval_init(&iv, INT64_MAX);
    CHECK_EQ(corio_interval_tick(&iv), 0); /* the first, at once */
    CHECK(iv.next > corio_instant_now());
    CHECK_EQ(corio_timeout(&iv.base, CORIO_MSEC(1)), CORIO_ETIMEDOUT);
    corio_interval_drop(&iv);
    corio_interval_init_at(&iv, UINT64_MAX - 10, CORIO_MSEC(1));
    CHECK_EQ(corio_timeout(&iv.base, CORIO_MSEC(1)), CORIO_ETIMEDOUT);
    corio_interval_drop(&iv);
    for (int pol = 0; pol < 3; pol++) {
        corio_interval_init(&iv, INT64_MIN); /* taken as 1 ns */
        corio_interval_set_missed_tick(&iv, (corio_missed_tick)pol);
        for (int k = 0; k < 5; k++)
            CHECK_EQ(corio_interval_tick(&iv), 0);
        corio_interval_drop(&iv);
    }
    return 0;
}

TEST(time_mt_deadlines_at_the_edges)
{
    corio_rt *rt = new_mt_rt(2);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, edges_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- missed ticks while the worker is stuck (multi-thread) ----------------- */

static int missed_main(void *p)
{
    (void)p;
    const corio_duration P = CORIO_MSEC(2);
    for (int pol = 0; pol < 3; pol++) {
        corio_interval iv;
        corio_instant start = corio_instant_now();
        corio_interval_init_at(&iv, start, P);
        corio_interval_set_missed_tick(&iv, (corio_missed_tick)pol);
        CHECK_EQ(corio_interval_tick(&iv), 0);
        /* Stuck past several periods. */
        busy_until(start + (corio_instant)(5 * P + P / 2));
        CHECK_EQ(corio_interval_tick(&iv), 0); /* the tick due at start + P */
        corio_instant now = corio_instant_now();
        switch (pol) {
        case CORIO_MISSED_BURST:
            CHECK_EQ(iv.next, start + (corio_instant)(2 * P));
            break;
        case CORIO_MISSED_DELAY:
            CHECK(iv.next > start + (corio_instant)(5 * P));
            CHECK(iv.next <= now + (corio_instant)P);
            break;
        default:
            CHECK_EQ((iv.next - start) % (corio_instant)P, 0);
            CHECK(iv.next > start + (corio_instant)(5 * P));
            CHECK(iv.next <= now + (corio_instant)P);
            break;
        }
        corio_instant due = iv.next;
        CHECK_EQ(corio_interval_tick(&iv), 0);
        CHECK(corio_instant_now() >= due);
        corio_interval_drop(&iv);
    }
    return 0;
}

TEST(time_mt_interval_missed_ticks_after_a_long_poll)
{
    corio_rt *rt = new_mt_rt(2);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, missed_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- freeing a runtime with thousands of armed timers ---------------------- */

typedef struct armed_ctx {
    atomic_int started;
    atomic_int cleanups;
} armed_ctx;

static int armed_sleeper(void *p)
{
    armed_ctx *c = p;
    atomic_fetch_add(&c->started, 1);
    corio_sleep_fut s;
    /* Spread over wheel levels: 2 ms .. about an hour. */
    corio_duration d = CORIO_MSEC(2) << (atomic_load(&c->started) % 21);
    corio_sleep_fut_init(&s, d);
    int rc = corio_await(&s.base);
    CHECK(rc == CORIO_ECANCELED || rc == 0);
    atomic_fetch_add(&c->cleanups, 1);
    return 0;
}

TEST(time_mt_free_with_thousands_of_armed_timers)
{
    int n = SCALE(6000, 2000, 300);
    for (int round = 0; round < 2; round++) {
        armed_ctx c;
        memset(&c, 0, sizeof c);
        corio_rt *rt = new_mt_rt(round ? 4 : 2);
        for (int i = 0; i < n; i++)
            CHECK_EQ(rt_spawn(rt, armed_sleeper, &c, NULL), 0);
        corio_instant give_up = corio_instant_now() + (corio_instant)CORIO_SEC(20);
        while (atomic_load(&c.started) < n && corio_instant_now() < give_up)
            sleep_ms(1);
        CHECK_EQ(atomic_load(&c.started), n);
        if (round)
            CHECK_EQ(corio_rt_shutdown_timeout(rt, CORIO_MSEC(100)), 0);
        else
            CHECK_EQ(corio_rt_free(rt), 0);
        CHECK_EQ(atomic_load(&c.cleanups), n);
    }
}

/* ---- a timer armed just before its worker gets stuck ----------------------- */

typedef struct late_ctx {
    corio_instant due;
    corio_instant woke;
    atomic_int armed;
} late_ctx;

static int late_sleeper(void *p)
{
    late_ctx *c = p;
    c->due = corio_instant_now() + (corio_instant)CORIO_MSEC(5);
    atomic_store(&c->armed, 1);
    CHECK_EQ(corio_sleep_until(c->due), 0);
    c->woke = corio_instant_now();
    return 0;
}

static int late_hog(void *p)
{
    (void)p;
    busy_until(corio_instant_now() + (corio_instant)CORIO_MSEC(300));
    return 0;
}

/* Spawned from plain code into an idle runtime, a task arms a 5 ms sleep and
 * another is spawned right after to compute for 300 ms, on the same worker
 * or not: the sleep is never held up for the whole computation (another
 * worker advances the stuck worker's wheel). */
TEST_TIMING(time_mt_timer_armed_just_before_its_worker_gets_stuck)
{
    double worst = 0;
    for (int round = 0; round < 12; round++) {
        corio_rt *rt = new_mt_rt(2 + (unsigned)(round % 2));
        sleep_ms(20); /* all asleep */
        late_ctx c;
        memset(&c, 0, sizeof c);
        corio_task *u, *x;
        CHECK_EQ(rt_spawn(rt, late_sleeper, &c, &u), 0);
        if (round % 3 == 1)
            while (!atomic_load(&c.armed))
                ;
        else if (round % 3 == 2)
            sleep_ms(1);
        CHECK_EQ(rt_spawn(rt, late_hog, NULL, &x), 0);
        CHECK_EQ(corio_task_join(u, NULL), 0);
        CHECK_EQ(corio_task_join(x, NULL), 0);
        double late = (double)(c.woke - c.due) / 1e6;
        if (late > worst)
            worst = late;
        CHECK(c.woke >= c.due);
        if (late > 200.0)
            test_failf(__FILE__, __LINE__, "round %d: the sleep was %.1f ms late", round, late);
        CHECK_EQ(corio_rt_free(rt), 0);
    }
    printf("worst lateness %.2f ms\n", worst);
}
