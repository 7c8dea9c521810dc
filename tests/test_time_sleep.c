/* tests/test_time_sleep.c - the clock, sleeps, and a runtime at rest
 * (include/corio/time.h).
 *
 * What is checked is what time.h promises: the clock is CLOCK_MONOTONIC in
 * ns; a sleep never returns early and is not grossly late on an idle
 * runtime, also after the runtime sat undriven; a parked runtime costs no
 * CPU and a wake from a foreign thread reaches it quickly.
 */
#include <corio.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "test.h"
#include "util.h"

#define MS(x) ((double)(x) / 1e6) /* ns -> ms, for printing */

/* ---- the clock ------------------------------------------------------------- */

TEST_TIMING(time_now_monotonic)
{
    corio_instant prev = corio_instant_now();
    CHECK(prev > 0);
    for (int i = 0; i < 1000000; i++) {
        corio_instant t = corio_instant_now();
        if (t < prev)
            test_failf(__FILE__, __LINE__, "corio_instant_now went back by %llu ns at call %d",
                       (unsigned long long)(prev - t), i);
        prev = t;
    }
    /* It is CLOCK_MONOTONIC, in ns. */
    struct timespec ts;
    corio_instant a = corio_instant_now();
    clock_gettime(CLOCK_MONOTONIC, &ts);
    corio_instant b = corio_instant_now();
    corio_instant m = (corio_instant)ts.tv_sec * 1000000000ull + (corio_instant)ts.tv_nsec;
    CHECK(a <= m && m <= b);
    /* A 20 ms nanosleep moves it by >= 20 ms. */
    corio_instant t0 = corio_instant_now();
    struct timespec d = {0, 20 * 1000 * 1000};
    nanosleep(&d, NULL);
    CHECK(corio_instant_now() - t0 >= (corio_instant)CORIO_MSEC(20));
}

TEST_TIMING(time_instant_add_saturates)
{
    CHECK_EQ(corio_instant_add(1000, 500), 1500);
    CHECK_EQ(corio_instant_add(1000, -500), 500);
    CHECK(corio_instant_add(UINT64_MAX - 5, 10) == UINT64_MAX);
    CHECK(corio_instant_add(UINT64_MAX, INT64_MAX) == UINT64_MAX);
    CHECK_EQ(corio_instant_add(5, -10), 0);
    CHECK_EQ(corio_instant_add(5, INT64_MIN), 0);
    CHECK(corio_instant_add((corio_instant)1 << 63, INT64_MIN) == 0);
    CHECK(corio_instant_add(UINT64_MAX, INT64_MIN) == UINT64_MAX - ((corio_instant)1 << 63));
}

/* ---- sleep ----------------------------------------------------------------- */

static int sleep_accuracy_main(void *arg)
{
    static const corio_duration ds[] = {
        CORIO_USEC(100), CORIO_USEC(999), CORIO_MSEC(1), CORIO_USEC(1500), CORIO_MSEC(2),
        CORIO_MSEC(5),   CORIO_MSEC(10),  CORIO_MSEC(17), CORIO_MSEC(30),  CORIO_MSEC(64),
        CORIO_MSEC(65),  CORIO_MSEC(100),
    };
    corio_duration worst = 0;
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        for (int rep = 0; rep < 3; rep++) {
            corio_instant t0 = corio_instant_now();
            CHECK_EQ(corio_sleep(ds[i]), 0);
            corio_duration took = (corio_duration)(corio_instant_now() - t0);
            if (took < ds[i])
                test_failf(__FILE__, __LINE__, "sleep(%.3f ms) returned after %.3f ms (early)",
                           MS(ds[i]), MS(took));
            if (took - ds[i] > LATE_SLACK)
                test_failf(__FILE__, __LINE__, "sleep(%.3f ms) returned after %.3f ms (late)",
                           MS(ds[i]), MS(took));
            if (took - ds[i] > worst)
                worst = took - ds[i];
        }
    }
    printf("sleep: worst lateness %.3f ms over 36 sleeps of 0.1..100 ms\n", MS(worst));
    return 0;
}

TEST_TIMING(time_sleep_never_early_not_late)
{
    CHECK_EQ(run_main(sleep_accuracy_main, NULL), 0);
}

static int sleep_until_main(void *arg)
{
    for (int i = 1; i <= 5; i++) {
        corio_instant deadline = corio_instant_add(corio_instant_now(), CORIO_USEC(4321) * i);
        CHECK_EQ(corio_sleep_until(deadline), 0);
        corio_instant t = corio_instant_now();
        CHECK(t >= deadline);
        CHECK(t - deadline < (corio_instant)LATE_SLACK);
    }
    /* A deadline in the past, or 0: returns at once. */
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_sleep_until(t0 - CORIO_MSEC(5)), 0);
    CHECK_EQ(corio_sleep_until(0), 0);
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_MSEC(5));
    /* The future form. */
    corio_sleep_fut f;
    corio_instant deadline = corio_instant_add(corio_instant_now(), CORIO_MSEC(7));
    corio_sleep_fut_init_until(&f, deadline);
    CHECK(corio_timer_deadline(&f.timer) == deadline);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK(corio_instant_now() >= deadline);
    t0 = corio_instant_now(); /* before the init reads the clock */
    corio_sleep_fut_init(&f, CORIO_MSEC(3));
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK(corio_instant_now() - t0 >= (corio_instant)CORIO_MSEC(3));
    return 0;
}

TEST_TIMING(time_sleep_until)
{
    CHECK_EQ(run_main(sleep_until_main, NULL), 0);
}

static int sleep_zero_main(void *arg)
{
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_sleep(0), 0);
    CHECK_EQ(corio_sleep(-1), 0);
    CHECK_EQ(corio_sleep(-CORIO_SEC(10)), 0);
    CHECK_EQ(corio_sleep(INT64_MIN), 0);
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_MSEC(5));
    t0 = corio_instant_now();
    for (int i = 0; i < 10000; i++)
        CHECK_EQ(corio_sleep(0), 0);
    corio_duration took = (corio_duration)(corio_instant_now() - t0);
    printf("10000 x sleep(0): %.3f ms\n", MS(took));
    CHECK(took < CORIO_MSEC(500));
    return 0;
}

TEST_TIMING(time_sleep_zero_and_negative_return_promptly)
{
    CHECK_EQ(run_main(sleep_zero_main, NULL), 0);
}

/* A timer armed after the runtime sat undriven for a while (its wheel's
 * notion of "now" is stale) must still be on time. */
TEST_TIMING(time_sleep_after_runtime_was_not_driven)
{
    corio_rt *rt = new_rt();
    static const int idle_ms[] = {0, 70, 130, 300, 1100};
    static const int sleep_ms[] = {3, 10, 60, 100, 70};
    for (size_t i = 0; i < sizeof idle_ms / sizeof idle_ms[0]; i++) {
        struct timespec ts = {idle_ms[i] / 1000, (long)(idle_ms[i] % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        corio_duration d = CORIO_MSEC(sleep_ms[i]);
        int r = -1;
        CHECK_EQ(corio_rt_block_on(rt, sleep_on_time, &d, &r), 0);
        CHECK_EQ(r, 0);
    }
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- idle costs nothing -------------------------------------------------------- */

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int idle_main(void *arg)
{
    double *pct = arg;
    /* Warm up (first timer, first park) before measuring. */
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    double c0 = cpu_seconds();
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_sleep(CORIO_SEC(5)), 0); /* the figure: 5 s asleep */
    corio_instant t1 = corio_instant_now();
    double c1 = cpu_seconds();
    double wall = (double)(t1 - t0) / 1e9;
    *pct = 100.0 * (c1 - c0) / wall;
    printf("idle: %.3f s of CPU over %.3f s asleep = %.3f%%\n", c1 - c0, wall, *pct);
    return 0;
}

TEST_TIMING(time_idle_runtime_uses_no_cpu)
{
    double pct = 100;
    CHECK_EQ(run_main(idle_main, &pct), 0);
    CHECK(pct < 2.0);
}

/* ---- foreign wakes ------------------------------------------------------------- */

typedef struct flag_fut {
    corio_future base;
    pthread_mutex_t *mu;
    int *flag;
    corio_waker *slot;
} flag_fut;

typedef struct wake_shared {
    pthread_mutex_t mu;
    int flag;
    corio_waker waker;
    corio_instant woken_at;
    int rounds;
    corio_duration lat[32];
} wake_shared;

static corio_poll flag_poll(corio_future *f, corio_context *cx)
{
    flag_fut *ff = (flag_fut *)f;
    pthread_mutex_lock(ff->mu);
    int set = *ff->flag;
    if (set)
        *ff->flag = 0;
    else
        corio_waker_store(ff->slot, cx->waker);
    pthread_mutex_unlock(ff->mu);
    if (!set)
        return CORIO_PENDING;
    f->result = 0;
    return CORIO_READY;
}

static void flag_drop(corio_future *f)
{
    flag_fut *ff = (flag_fut *)f;
    pthread_mutex_lock(ff->mu);
    corio_waker_drop(ff->slot);
    pthread_mutex_unlock(ff->mu);
}

static const corio_future_vtable flag_vt = {flag_poll, flag_drop};

static void *waker_thread(void *arg)
{
    wake_shared *ws = arg;
    for (int i = 0; i < ws->rounds; i++) {
        struct timespec d = {0, 30 * 1000 * 1000}; /* the runtime parks meanwhile */
        nanosleep(&d, NULL);
        pthread_mutex_lock(&ws->mu);
        ws->flag = 1;
        corio_waker w = ws->waker;
        ws->waker = CORIO_WAKER_NONE;
        ws->woken_at = corio_instant_now();
        pthread_mutex_unlock(&ws->mu);
        corio_waker_wake(&w);
    }
    return NULL;
}

static int background_sleeper(void *arg)
{
    return corio_sleep(CORIO_SEC(30));
}

static int foreign_wake_main(void *arg)
{
    wake_shared *ws = arg;
    /* A long timer armed too: the park must still end on the wake. */
    CHECK_EQ(corio_spawn(background_sleeper, NULL, NULL), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, waker_thread, ws), 0);
    for (int i = 0; i < ws->rounds; i++) {
        flag_fut f;
        corio_future_init(&f.base, &flag_vt);
        f.mu = &ws->mu;
        f.flag = &ws->flag;
        f.slot = &ws->waker;
        CHECK_EQ(corio_await(&f.base), 0);
        corio_instant now = corio_instant_now();
        pthread_mutex_lock(&ws->mu);
        corio_instant at = ws->woken_at;
        pthread_mutex_unlock(&ws->mu);
        ws->lat[i] = (corio_duration)(now - at);
    }
    pthread_join(th, NULL);
    return 0;
}

static int cmp_dur(const void *a, const void *b)
{
    corio_duration x = *(const corio_duration *)a, y = *(const corio_duration *)b;
    return x < y ? -1 : x > y;
}

TEST_TIMING(time_foreign_thread_wake_latency)
{
    static wake_shared ws;
    pthread_mutex_init(&ws.mu, NULL);
    ws.waker = CORIO_WAKER_NONE;
    ws.rounds = 20;
    CHECK_EQ(run_main(foreign_wake_main, &ws), 0);
    qsort(ws.lat, (size_t)ws.rounds, sizeof ws.lat[0], cmp_dur);
    printf("foreign wake -> task running: median %.1f us, max %.1f us (%d rounds)\n",
           (double)ws.lat[ws.rounds / 2] / 1e3, (double)ws.lat[ws.rounds - 1] / 1e3, ws.rounds);
    CHECK(ws.lat[ws.rounds - 1] < CORIO_MSEC(50));
    CHECK(ws.lat[ws.rounds / 2] < CORIO_MSEC(5));
    pthread_mutex_destroy(&ws.mu);
}
