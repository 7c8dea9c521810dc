/* tests/test_time_interval.c - intervals (include/corio/time.h).
 *
 * Ticks come on the original schedule without drift; when ticks were missed,
 * each corio_missed_tick policy does what time.h says; a tick late by less
 * than a period changes nothing.
 */
#include <corio.h>

#include <stdio.h>

#include "test.h"
#include "util.h"

#define MS(x) ((double)(x) / 1e6) /* ns -> ms, for printing */

/* ---- intervals ------------------------------------------------------------------ */

static int interval_main(void *arg)
{
    corio_duration p = CORIO_MSEC(20);
    corio_interval iv;
    corio_instant before = corio_instant_now();
    corio_interval_init(&iv, p);
    corio_instant t[10];
    for (int k = 0; k < 10; k++) {
        CHECK_EQ(corio_interval_tick(&iv), 0);
        t[k] = corio_instant_now();
    }
    /* First tick immediate; tick k at start + k * period, never early and
     * without drift (late ticks do not shift the schedule). */
    CHECK(t[0] - before < (corio_instant)CORIO_MSEC(5));
    corio_duration worst = 0;
    for (int k = 1; k < 10; k++) {
        corio_instant due = before + (corio_instant)(k * p);
        CHECK(t[k] >= due);
        corio_duration late = (corio_duration)(t[k] - due);
        if (late > worst)
            worst = late;
        if (late > LATE_SLACK)
            test_failf(__FILE__, __LINE__, "tick %d %.1f ms late", k, MS(late));
    }
    corio_interval_drop(&iv);
    printf("interval 20 ms: worst tick lateness %.3f ms\n", MS(worst));

    /* init_at: the first tick waits for `start`; the interval awaited as a
     * plain future. */
    corio_instant start = corio_instant_add(corio_instant_now(), CORIO_MSEC(25));
    corio_interval_init_at(&iv, start, CORIO_MSEC(10));
    CHECK_EQ(corio_await(&iv.base), 0);
    CHECK(corio_instant_now() >= start);
    CHECK(corio_instant_now() - start < (corio_instant)LATE_SLACK);
    CHECK_EQ(corio_await(&iv.base), 0);
    CHECK(corio_instant_now() >= start + (corio_instant)CORIO_MSEC(10));
    CHECK_EQ(corio_interval_tick(&iv), 0);
    CHECK(corio_instant_now() >= start + (corio_instant)CORIO_MSEC(20));
    corio_interval_drop(&iv);

    /* An interval inside a timeout: cut short, and dropped. */
    corio_interval_init_at(&iv, corio_instant_add(corio_instant_now(), CORIO_SEC(5)), CORIO_SEC(1));
    CHECK_EQ(corio_timeout(&iv.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    CHECK(!corio_timer_is_armed(&iv.timer));

    /* NULL: -EINVAL; dropping NULL does nothing. */
    CHECK_EQ(corio_interval_tick(NULL), -EINVAL);
    corio_interval_drop(NULL);
    return 0;
}

TEST_TIMING(time_interval_ticks_on_schedule)
{
    CHECK_EQ(run_main(interval_main, NULL), 0);
}

/* Missed ticks: period p (50 ms), first tick at t0, then the task blocks the
 * thread until t0 + 5.5p (five ticks missed, mid-period).
 *   BURST: ticks due p..5p return at once, then 6p, 7p, 8p on time.
 *   DELAY: the late tick returns at once (~5.5p), then 6.5p+, 7.5p+.
 *   SKIP:  the late tick returns at once, then 6p, 7p (grid kept). */
typedef struct missed_args {
    corio_missed_tick policy;
} missed_args;

static int missed_main(void *arg)
{
    missed_args *ma = arg;
    /* Sanitizers are slower and jitterier: a longer period, same shape. */
    const corio_duration p = CORIO_MSEC(UNDER_SAN ? 100 : 50);
    const corio_instant pct = (corio_instant)p / 100; /* 1% of the period */
    corio_instant t0 = corio_instant_now();
    corio_interval iv;
    corio_interval_init_at(&iv, t0, p);
    corio_interval_set_missed_tick(&iv, ma->policy);
    CHECK_EQ(corio_interval_tick(&iv), 0);
    CHECK_EQ(iv.next, t0 + (corio_instant)p); /* the first tick is due at once */
    corio_instant busy_end = t0 + 550 * pct;
    busy_until(busy_end);
    corio_instant t[8], nx[8]; /* when each tick returned; the next deadline it set */
    int n = ma->policy == CORIO_MISSED_BURST ? 8 : 3;
    for (int k = 0; k < n; k++) {
        CHECK_EQ(corio_interval_tick(&iv), 0);
        t[k] = corio_instant_now();
        nx[k] = iv.next; /* internal, read by the test: the schedule itself */
    }
    corio_interval_drop(&iv);
    printf("policy %d: ticks after the stall at", (int)ma->policy);
    for (int k = 0; k < n; k++)
        printf(" %.1f", MS(t[k] - t0));
    printf(" ms\n");
    /* The schedule each policy makes is checked exactly, from the deadlines
     * the interval set; the ticks are checked never to come before their
     * deadlines. How late they come after them is the machine's: not
     * checked (a loaded machine delays every tick). The stall ended at
     * busy_end (5.5p), and tick k was taken at some instant <= t[k]. */
    for (int k = 1; k < n; k++)
        CHECK(t[k] >= nx[k - 1]); /* never early */
    switch (ma->policy) {
    case CORIO_MISSED_BURST:
        /* The grid is kept: the missed ticks p..5p are due at once (their
         * deadlines had passed), then 6p, 7p, 8p. */
        for (int k = 0; k < n; k++)
            CHECK_EQ(nx[k], t0 + (corio_instant)((k + 2) * p));
        break;
    case CORIO_MISSED_DELAY:
        /* The late tick moves the schedule: its next deadline is one period
         * after the instant it was taken (in [busy_end, t[0]]). */
        CHECK(nx[0] >= busy_end + (corio_instant)p && nx[0] <= t[0] + (corio_instant)p);
        /* and so on from each tick (one period on, or from its own instant
         * if it was late by a whole period again). */
        for (int k = 1; k < n; k++)
            CHECK(nx[k] == nx[k - 1] + (corio_instant)p ||
                  (t[k] >= nx[k - 1] + (corio_instant)p && nx[k] > nx[k - 1] + (corio_instant)p &&
                   nx[k] <= t[k] + (corio_instant)p));
        break;
    case CORIO_MISSED_SKIP:
        /* The late tick's next deadline is the first multiple of the period
         * of the original grid after the instant it was taken: 6p unless the
         * machine stalled us further. */
        for (int k = 0; k < n; k++) {
            CHECK_EQ((nx[k] - t0) % (corio_instant)p, 0);
            CHECK(nx[k] > (k ? nx[k - 1] : busy_end) && nx[k] <= t[k] + (corio_instant)p);
        }
        CHECK(nx[0] >= t0 + (corio_instant)(6 * p));
        break;
    }
    return 0;
}

TEST_TIMING(time_interval_missed_burst)
{
    missed_args a = {CORIO_MISSED_BURST};
    CHECK_EQ(run_main(missed_main, &a), 0);
}

TEST_TIMING(time_interval_missed_delay)
{
    missed_args a = {CORIO_MISSED_DELAY};
    CHECK_EQ(run_main(missed_main, &a), 0);
}

TEST_TIMING(time_interval_missed_skip)
{
    missed_args a = {CORIO_MISSED_SKIP};
    CHECK_EQ(run_main(missed_main, &a), 0);
}

/* A late tick that missed less than a whole period changes nothing: the
 * grid stays, for every policy. */
static int late_not_missed_main(void *arg)
{
    for (int pol = 0; pol < 3; pol++) {
        const corio_duration p = CORIO_MSEC(UNDER_SAN ? 80 : 40);
        corio_instant t0 = corio_instant_now();
        corio_interval iv;
        corio_interval_init_at(&iv, t0, p);
        corio_interval_set_missed_tick(&iv, (corio_missed_tick)pol);
        CHECK_EQ(corio_interval_tick(&iv), 0);
        busy_until(t0 + (corio_instant)(p + p / 2)); /* tick 1 is half a period late */
        CHECK_EQ(corio_interval_tick(&iv), 0);
        CHECK_EQ(corio_interval_tick(&iv), 0); /* tick 2 at 2p */
        corio_instant t2 = corio_instant_now();
        CHECK(t2 >= t0 + (corio_instant)(2 * p));
        CHECK(t2 < t0 + (corio_instant)(2 * p + 4 * p / 10));
        corio_interval_drop(&iv);
    }
    return 0;
}

TEST_TIMING(time_interval_late_within_period_keeps_grid)
{
    CHECK_EQ(run_main(late_not_missed_main, NULL), 0);
}
