/* tests/test_time.c - the clock, sleeps, timeouts, deadline scopes, intervals
 * and the timer wheel under load (include/corio/time.h).
 *
 * What is checked is what time.h promises: a timer never fires early and is
 * not grossly late on an idle runtime; a dropped sleep/timeout/interval leaves
 * nothing armed; an idle runtime costs no CPU and a foreign wake reaches it
 * quickly. Timers that must not fire are observed through a "spy" future: it
 * polls the future under test with a waker of its own that counts wakes, and
 * lives in static or heap memory that outlives the test's runtime, so a timer
 * left armed by a buggy drop is counted instead of touching freed memory.
 *
 * Lateness bounds are generous (tens of ms): the runner runs two tests at a
 * time on small machines. Heavy storms are scaled down under sanitizers.
 */
#include <corio.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "test.h"
#include "util.h"

#define MS(x) ((double)(x) / 1e6) /* ns -> ms, for printing */
/* How late a timer may be before a test calls it grossly late. */
#define LATE_SLACK CORIO_MSEC(50)

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
    /* xorshift64*: deterministic across runs. */
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static void rng_seed(uint64_t s)
{
    rng_state = s ? s : 1;
}

/* Uniform in [0, n). */
static uint64_t rng_below(uint64_t n)
{
    return rng_next() % n;
}

static void busy_until(corio_instant t)
{
    while (corio_now() < t) {
    }
}

/* ---- spy: a future wrapper that counts the wakes of what it wraps --------- */

typedef struct spy {
    corio_future base;
    corio_future *inner;
    corio_waker task;  /* the polling task's waker, forwarded to on a wake */
    _Atomic int wakes; /* wakes of the spy's own waker, by anyone */
    _Atomic int refs;  /* clones of the spy's waker still held */
    int drops;
    int polls;
} spy;

static const void *spy_w_clone(const void *d)
{
    spy *s = (spy *)d;
    atomic_fetch_add(&s->refs, 1);
    return d;
}

static void spy_w_wake_by_ref(const void *d)
{
    spy *s = (spy *)d;
    atomic_fetch_add(&s->wakes, 1);
    corio_waker_wake_by_ref(&s->task);
}

static void spy_w_wake(const void *d)
{
    spy_w_wake_by_ref(d);
    atomic_fetch_sub(&((spy *)d)->refs, 1);
}

static void spy_w_drop(const void *d)
{
    atomic_fetch_sub(&((spy *)d)->refs, 1);
}

static const corio_waker_vtable spy_waker_vt = {spy_w_clone, spy_w_wake, spy_w_wake_by_ref,
                                                spy_w_drop};

static corio_poll spy_poll(corio_future *f, corio_context *cx)
{
    spy *s = (spy *)f;
    s->polls++;
    corio_waker_store(&s->task, cx->waker);
    corio_waker me = {&spy_waker_vt, s};
    corio_context scx = {&me};
    if (corio_future_poll(s->inner, &scx) == CORIO_PENDING)
        return CORIO_PENDING;
    corio_waker_drop(&s->task);
    f->result = s->inner->result;
    return CORIO_READY;
}

static void spy_drop(corio_future *f)
{
    spy *s = (spy *)f;
    s->drops++;
    corio_future_drop(s->inner);
    corio_waker_drop(&s->task);
}

static const corio_future_vtable spy_vt = {spy_poll, spy_drop};

static void spy_init(spy *s, corio_future *inner)
{
    memset(s, 0, sizeof *s);
    corio_future_init(&s->base, &spy_vt);
    s->inner = inner;
    s->task = CORIO_WAKER_NONE;
}

/* A spy around a sleep, both in memory that outlives the runtime. */
typedef struct probe {
    spy sp;
    corio_sleep_fut sleep;
} probe;

static void probe_init(probe *p, corio_instant deadline)
{
    corio_sleep_until_fut_init(&p->sleep, deadline);
    spy_init(&p->sp, &p->sleep.base);
}

/* ---- never: pending forever, counts its drops ------------------------------ */

typedef struct never_fut {
    corio_future base;
    corio_waker w;
    int drops;
    int polls;
} never_fut;

static corio_poll never_poll(corio_future *f, corio_context *cx)
{
    never_fut *n = (never_fut *)f;
    n->polls++;
    corio_waker_store(&n->w, cx->waker);
    return CORIO_PENDING;
}

static void never_drop(corio_future *f)
{
    never_fut *n = (never_fut *)f;
    n->drops++;
    corio_waker_drop(&n->w);
}

static const corio_future_vtable never_vt = {never_poll, never_drop};

static void never_init(never_fut *n)
{
    memset(n, 0, sizeof *n);
    corio_future_init(&n->base, &never_vt);
    n->w = CORIO_WAKER_NONE;
}

/* ---- value_after: ready with `value` after a sleep, counts its drops ------- */

typedef struct value_fut {
    corio_future base;
    corio_sleep_fut sleep;
    int value;
    int drops;
} value_fut;

static corio_poll value_poll(corio_future *f, corio_context *cx)
{
    value_fut *v = (value_fut *)f;
    if (corio_future_poll(&v->sleep.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    f->result = v->value;
    return CORIO_READY;
}

static void value_drop(corio_future *f)
{
    value_fut *v = (value_fut *)f;
    v->drops++;
    corio_future_drop(&v->sleep.base);
}

static const corio_future_vtable value_vt = {value_poll, value_drop};

static void value_init(value_fut *v, corio_duration d, int value)
{
    memset(v, 0, sizeof *v);
    corio_future_init(&v->base, &value_vt);
    corio_sleep_fut_init(&v->sleep, d);
    v->value = value;
}

/* ---- the clock ------------------------------------------------------------- */

TEST_TIMING(time_now_monotonic)
{
    corio_instant prev = corio_now();
    CHECK(prev > 0);
    for (int i = 0; i < 1000000; i++) {
        corio_instant t = corio_now();
        if (t < prev)
            test_failf(__FILE__, __LINE__, "corio_now went back by %llu ns at call %d",
                       (unsigned long long)(prev - t), i);
        prev = t;
    }
    /* It is CLOCK_MONOTONIC, in ns. */
    struct timespec ts;
    corio_instant a = corio_now();
    clock_gettime(CLOCK_MONOTONIC, &ts);
    corio_instant b = corio_now();
    corio_instant m = (corio_instant)ts.tv_sec * 1000000000ull + (corio_instant)ts.tv_nsec;
    CHECK(a <= m && m <= b);
    /* A 20 ms nanosleep moves it by >= 20 ms. */
    corio_instant t0 = corio_now();
    struct timespec d = {0, 20 * 1000 * 1000};
    nanosleep(&d, NULL);
    CHECK(corio_now() - t0 >= (corio_instant)CORIO_MSEC(20));
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
            corio_instant t0 = corio_now();
            CHECK_EQ(corio_sleep(ds[i]), 0);
            corio_duration took = (corio_duration)(corio_now() - t0);
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
        corio_instant deadline = corio_instant_add(corio_now(), CORIO_USEC(4321) * i);
        CHECK_EQ(corio_sleep_until(deadline), 0);
        corio_instant t = corio_now();
        CHECK(t >= deadline);
        CHECK(t - deadline < (corio_instant)LATE_SLACK);
    }
    /* A deadline in the past, or 0: returns at once. */
    corio_instant t0 = corio_now();
    CHECK_EQ(corio_sleep_until(t0 - CORIO_MSEC(5)), 0);
    CHECK_EQ(corio_sleep_until(0), 0);
    CHECK(corio_now() - t0 < (corio_instant)CORIO_MSEC(5));
    /* The future form. */
    corio_sleep_fut f;
    corio_instant deadline = corio_instant_add(corio_now(), CORIO_MSEC(7));
    corio_sleep_until_fut_init(&f, deadline);
    CHECK(corio_timer_deadline(&f.timer) == deadline);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK(corio_now() >= deadline);
    corio_sleep_fut_init(&f, CORIO_MSEC(3));
    t0 = corio_now();
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK(corio_now() - t0 >= (corio_instant)CORIO_MSEC(3) - CORIO_USEC(1));
    return 0;
}

TEST_TIMING(time_sleep_until)
{
    CHECK_EQ(run_main(sleep_until_main, NULL), 0);
}

static int sleep_zero_main(void *arg)
{
    corio_instant t0 = corio_now();
    CHECK_EQ(corio_sleep(0), 0);
    CHECK_EQ(corio_sleep(-1), 0);
    CHECK_EQ(corio_sleep(-CORIO_SEC(10)), 0);
    CHECK_EQ(corio_sleep(INT64_MIN), 0);
    CHECK(corio_now() - t0 < (corio_instant)CORIO_MSEC(5));
    t0 = corio_now();
    for (int i = 0; i < 10000; i++)
        CHECK_EQ(corio_sleep(0), 0);
    corio_duration took = (corio_duration)(corio_now() - t0);
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
static int sleep_short_main(void *arg)
{
    corio_duration d = *(corio_duration *)arg;
    corio_instant t0 = corio_now();
    CHECK_EQ(corio_sleep(d), 0);
    corio_duration took = (corio_duration)(corio_now() - t0);
    CHECK(took >= d);
    if (took - d > LATE_SLACK)
        test_failf(__FILE__, __LINE__, "sleep(%.1f ms) took %.1f ms", MS(d), MS(took));
    return 0;
}

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
        CHECK_EQ(corio_rt_block_on(rt, sleep_short_main, &d, &r), 0);
        CHECK_EQ(r, 0);
    }
    corio_rt_free(rt);
}

/* ---- storms ------------------------------------------------------------------ */

typedef struct storm_stats {
    size_t n;
    size_t fired;
    size_t early;
    size_t armed; /* timers that were pending at their first poll */
    corio_duration max_late;
    double sum_late;
} storm_stats;

/* Lateness only means something for a timer that was armed: one whose
 * deadline had already passed when its task first ran measures the spawn
 * backlog instead. */
static void storm_record(storm_stats *st, corio_instant deadline, int armed)
{
    corio_instant now = corio_now();
    if (now < deadline) {
        st->early++;
    } else if (armed) {
        st->armed++;
        corio_duration late = (corio_duration)(now - deadline);
        if (late > st->max_late)
            st->max_late = late;
        st->sum_late += (double)late;
    }
    st->fired++;
}

/* A stackless storm task: a sleep plus a pointer to the shared tallies. */
typedef struct storm_fut {
    corio_future base;
    corio_sleep_fut sleep;
    storm_stats *st;
    int polls;
} storm_fut;

static corio_poll storm_poll(corio_future *f, corio_context *cx)
{
    storm_fut *s = (storm_fut *)f;
    s->polls++;
    if (corio_future_poll(&s->sleep.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    storm_record(s->st, corio_timer_deadline(&s->sleep.timer), s->polls > 1);
    f->result = 0;
    return CORIO_READY;
}

static void storm_drop(corio_future *f)
{
    corio_future_drop(&((storm_fut *)f)->sleep.base);
}

static const corio_future_vtable storm_vt = {storm_poll, storm_drop};

typedef struct storm_args {
    size_t n;
    corio_instant *deadlines; /* filled by the main task from offsets */
    corio_duration *offsets;
    storm_stats st;
    corio_duration give_up;
} storm_args;

static void storm_wait(storm_args *a, corio_instant start)
{
    corio_instant give_up = corio_instant_add(start, a->give_up);
    while (a->st.fired < a->n && corio_now() < give_up)
        CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
}

static void storm_report(const char *what, storm_args *a, corio_duration spawn_time,
                         corio_duration late_bound)
{
    printf("%s: %zu timers, %zu fired, %zu early; of %zu armed ones lateness max %.3f ms "
           "mean %.3f ms (spawning took %.1f ms)\n",
           what, a->n, a->st.fired, a->st.early, a->st.armed, MS(a->st.max_late),
           a->st.armed ? a->st.sum_late / (double)a->st.armed / 1e6 : 0.0, MS(spawn_time));
    CHECK_EQ(a->st.fired, a->n);
    CHECK_EQ(a->st.early, 0);
    CHECK(a->st.armed > a->n / 2);
    /* Loaded, not idle: allow more than the idle bound, but a timer that is
     * seconds late (a wheel slot missed for a turn) must fail. */
    if (UNDER_SAN)
        late_bound *= 4;
    CHECK(a->st.max_late < late_bound);
}

static int storm_stackless_main(void *arg)
{
    storm_args *a = arg;
    corio_instant start = corio_now();
    for (size_t i = 0; i < a->n; i++) {
        storm_fut f;
        corio_future_init(&f.base, &storm_vt);
        corio_sleep_until_fut_init(&f.sleep, corio_instant_add(start, a->offsets[i]));
        f.st = &a->st;
        CHECK_EQ(corio_spawn_future(NULL, &f.base, sizeof f), 0);
    }
    corio_duration spawn_time = (corio_duration)(corio_now() - start);
    storm_wait(a, start);
    storm_report("stackless storm", a, spawn_time, CORIO_MSEC(250));
    return 0;
}

static void storm_fill_uniform(storm_args *a, size_t n, corio_duration span)
{
    a->n = n;
    a->offsets = calloc(n, sizeof *a->offsets);
    CHECK(a->offsets != NULL);
    for (size_t i = 0; i < n; i++)
        a->offsets[i] = (corio_duration)rng_below((uint64_t)span); /* ns: not tick-aligned */
}

TEST_TIMING(time_storm_100k_stackless)
{
    storm_args a;
    memset(&a, 0, sizeof a);
    rng_seed(12345);
    storm_fill_uniform(&a, UNDER_SAN ? 20000 : 100000, CORIO_MSEC(300));
    a.give_up = CORIO_SEC(10);
    CHECK_EQ(run_main(storm_stackless_main, &a), 0);
    free(a.offsets);
}

/* The coroutine flavour. Starting 100k coroutines (a fresh stack each)
 * takes longer than the shortest sleeps, and timers that fire meanwhile
 * queue behind the remaining first runs, so every coroutine first waits at
 * a gate (util.h); once all have started, the main task sets a common base
 * instant and opens the gate, and coroutine i sleeps until base + offset[i]. */
static storm_args *coro_storm;
static gate storm_gate;

static int storm_coro_fn(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    CHECK_EQ(gate_wait(&storm_gate, i), 0);
    corio_instant deadline = corio_instant_add(storm_gate.base, coro_storm->offsets[i]);
    coro_storm->deadlines[i] = deadline;
    CHECK_EQ(corio_sleep_until(deadline), 0);
    storm_record(&coro_storm->st, deadline, 1);
    return 0;
}

static int storm_coro_main(void *arg)
{
    storm_args *a = arg;
    coro_storm = a;
    gate_init(&storm_gate, a->n);
    corio_instant start = corio_now();
    for (size_t i = 0; i < a->n; i++)
        CHECK_EQ(corio_spawn_detached(storm_coro_fn, (void *)(uintptr_t)i), 0);
    corio_duration spawn_time = (corio_duration)(corio_now() - start);
    yield_until(&storm_gate.started, a->n);
    corio_instant all_started = corio_now();
    /* Resuming them all to arm their timers takes a while too. */
    storm_gate.base = corio_instant_add(all_started, CORIO_MSEC(UNDER_SAN ? 400 : 200));
    gate_open(&storm_gate, a->n);
    corio_instant opened = corio_now();
    storm_wait(a, storm_gate.base);
    printf("coroutine storm: %.1f ms to start them all, %.1f ms to open the gate\n",
           MS(all_started - start - (corio_instant)spawn_time), MS(opened - all_started));
    /* 250 coroutines finish per ms here. Their stacks go back to the pool
     * only when the runtime is idle (a madvise each on this path made the
     * storm ~80 ms late on average): measured max ~10 ms, mean ~1.6 ms. The
     * bound leaves room for a loaded machine; sanitizers and emulation (make
     * test-aarch64: 160 ms) are much slower. */
#ifdef CORIO_CTX_UCONTEXT
    const bool slow_switch = true; /* swapcontext makes a system call per switch */
#else
    const bool slow_switch = false;
#endif
    storm_report("coroutine storm", a, spawn_time,
                 CORIO_MSEC(UNDER_SAN || test_emulated() || slow_switch ? 1000 : 100));
    gate_free(&storm_gate);
    return 0;
}

TEST_TIMING(time_storm_100k_coroutines)
{
    storm_args a;
    memset(&a, 0, sizeof a);
    rng_seed(777);
    storm_fill_uniform(&a, SCALE(100000, 20000, 2000), CORIO_MSEC(400));
    a.deadlines = calloc(a.n, sizeof *a.deadlines);
    CHECK(a.deadlines != NULL);
    a.give_up = CORIO_SEC(12);
    CHECK_EQ(run_main(storm_coro_main, &a), 0);
    free(a.offsets);
    free(a.deadlines);
}

/* Timers spread over several wheel levels (a level-1 slot spans 64 ms, a
 * level-2 slot 4096 ms), plus deadlines right on and around level boundaries
 * relative to the start. */
TEST_TIMING(time_storm_multilevel)
{
    storm_args a;
    memset(&a, 0, sizeof a);
    rng_seed(4242);
    size_t n = UNDER_SAN ? 10000 : 50000;
    static const int edges_ms[] = {1, 2, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025,
                                   4095, 4096, 4097, 4160, 4161, 4800};
    size_t n_edges = sizeof edges_ms / sizeof edges_ms[0];
    a.n = n + 3 * n_edges;
    a.offsets = calloc(a.n, sizeof *a.offsets);
    CHECK(a.offsets != NULL);
    for (size_t i = 0; i < n; i++) {
        if (i % 10 == 0) {
            a.offsets[i] = (corio_duration)rng_below((uint64_t)CORIO_MSEC(64));
        } else {
            /* log-uniform in [64 ms, 5 s) */
            double u = (double)rng_below(1u << 30) / (double)(1u << 30);
            a.offsets[i] = (corio_duration)(64e6 * pow(5000.0 / 64.0, u));
        }
    }
    for (size_t k = 0; k < n_edges; k++) {
        a.offsets[n + 3 * k] = CORIO_MSEC(edges_ms[k]) - CORIO_USEC(1);
        a.offsets[n + 3 * k + 1] = CORIO_MSEC(edges_ms[k]);
        a.offsets[n + 3 * k + 2] = CORIO_MSEC(edges_ms[k]) + CORIO_USEC(1);
    }
    a.give_up = CORIO_SEC(10);
    CHECK_EQ(run_main(storm_stackless_main, &a), 0);
    free(a.offsets);
}

/* ---- cancellation storms ------------------------------------------------------ */

/* Each stackless task awaits timeout(spy(sleep)): even tasks' sleeps finish
 * before their timeout, odd tasks' timeouts elapse first and drop the sleep.
 * A dropped sleep must never fire, even well after its deadline. */
typedef struct cstorm {
    size_t n;
    probe *probes;
    int *results;
    corio_instant *deadlines; /* of the inner sleeps */
    size_t done;
} cstorm;

typedef struct crec_fut {
    corio_future base;
    corio_timeout_fut to;
    cstorm *cs;
    size_t idx;
} crec_fut;

static corio_poll crec_poll(corio_future *f, corio_context *cx)
{
    crec_fut *r = (crec_fut *)f;
    if (corio_future_poll(&r->to.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    r->cs->results[r->idx] = r->to.base.result;
    r->cs->done++;
    f->result = 0;
    return CORIO_READY;
}

static void crec_drop(corio_future *f)
{
    corio_future_drop(&((crec_fut *)f)->to.base);
}

static const corio_future_vtable crec_vt = {crec_poll, crec_drop};

static int cstorm_main(void *arg)
{
    cstorm *cs = arg;
    corio_instant start = corio_now();
    corio_instant last = start;
    for (size_t i = 0; i < cs->n; i++) {
        corio_duration inner, limit;
        if (i % 2 == 0) {
            inner = CORIO_MSEC(10) + (corio_duration)rng_below(CORIO_MSEC(140));
            limit = CORIO_MSEC(600);
        } else {
            inner = CORIO_MSEC(400) + (corio_duration)rng_below(CORIO_MSEC(100));
            limit = CORIO_MSEC(5) + (corio_duration)rng_below(CORIO_MSEC(145));
        }
        cs->deadlines[i] = corio_instant_add(start, inner);
        if (cs->deadlines[i] > last)
            last = cs->deadlines[i];
        probe_init(&cs->probes[i], cs->deadlines[i]);
        crec_fut r;
        corio_future_init(&r.base, &crec_vt);
        corio_timeout_fut_init(&r.to, &cs->probes[i].sp.base, limit);
        r.cs = cs;
        r.idx = i;
        cs->results[i] = 1;
        CHECK_EQ(corio_spawn_future(NULL, &r.base, sizeof r), 0);
    }
    corio_instant give_up = corio_instant_add(start, CORIO_SEC(10));
    while (cs->done < cs->n && corio_now() < give_up)
        CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    CHECK_EQ(cs->done, cs->n);
    /* Past every inner deadline: a sleep left armed by its drop fires now. */
    CHECK_EQ(corio_sleep_until(corio_instant_add(last, CORIO_MSEC(60))), 0);
    size_t fired = 0, dropped = 0, late = 0;
    for (size_t i = 0; i < cs->n; i++) {
        probe *p = &cs->probes[i];
        int wakes = atomic_load(&p->sp.wakes);
        if (i % 2 == 0) {
            /* wakes is 0 when the deadline had passed by the first poll */
            if (cs->results[i] != 0 || p->sp.drops != 0 || wakes > 1)
                test_failf(__FILE__, __LINE__,
                           "kept timer %zu: result %d drops %d wakes %d (want 0 0 <=1)", i,
                           cs->results[i], p->sp.drops, wakes);
            fired++;
        } else if (cs->results[i] == 0 && p->sp.drops == 0 && wakes == 0) {
            /* The task was first polled, or woken for its timeout, only
             * after the inner deadline too (250+ ms late): the inner future
             * is polled first and wins. Only a very slow (sanitized) run
             * gets here. */
            late++;
        } else {
            if (cs->results[i] != CORIO_ETIMEDOUT || p->sp.drops != 1 || wakes != 0)
                test_failf(__FILE__, __LINE__,
                           "dropped timer %zu: result %d drops %d wakes %d (want %d 1 0)", i,
                           cs->results[i], p->sp.drops, wakes, CORIO_ETIMEDOUT);
            dropped++;
        }
        if (atomic_load(&p->sp.refs) != 0)
            test_failf(__FILE__, __LINE__, "timer %zu: %d waker clones leaked", i,
                       atomic_load(&p->sp.refs));
    }
    printf("cancellation storm: %zu fired, %zu dropped and silent, %zu polled too late to "
           "time out\n",
           fired, dropped, late);
    if (!UNDER_SAN)
        CHECK_EQ(late, 0);
    CHECK(late < cs->n / 4);
    return 0;
}

TEST_TIMING(time_cancel_storm_timeouts)
{
    cstorm cs;
    memset(&cs, 0, sizeof cs);
    rng_seed(99);
    cs.n = SCALE(50000, 10000, 10000);
    cs.probes = calloc(cs.n, sizeof *cs.probes);
    cs.results = calloc(cs.n, sizeof *cs.results);
    cs.deadlines = calloc(cs.n, sizeof *cs.deadlines);
    CHECK(cs.probes && cs.results && cs.deadlines);
    CHECK_EQ(run_main(cstorm_main, &cs), 0);
    free(cs.probes);
    free(cs.results);
    free(cs.deadlines);
}

/* Coroutines awaiting spy(sleep); half are aborted long before their
 * deadline: their await returns CORIO_ECANCELED at once, the sleep is
 * dropped exactly once and never fires. */
typedef struct astorm {
    size_t n;
    probe *probes;
    corio_instant *deadlines;
    corio_instant *returned_at;
    int *await_rc;
} astorm;

static astorm *abort_storm;
static gate abort_gate;
static size_t astorm_armed;

static int astorm_fn(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    /* Deadlines count from a base set once every coroutine has started:
     * starting thousands of coroutines takes a while (much longer under
     * sanitizers). */
    CHECK_EQ(gate_wait(&abort_gate, i), 0);
    abort_storm->deadlines[i] = corio_instant_add(
        abort_gate.base, CORIO_MSEC(300) + (corio_duration)(abort_storm->deadlines[i]));
    probe_init(&abort_storm->probes[i], abort_storm->deadlines[i]);
    astorm_armed++;
    int rc = corio_await(&abort_storm->probes[i].sp.base);
    abort_storm->returned_at[i] = corio_now();
    abort_storm->await_rc[i] = rc;
    return rc;
}

static int astorm_main(void *arg)
{
    astorm *as = arg;
    abort_storm = as;
    corio_task **h = calloc(as->n, sizeof *h);
    CHECK(h != NULL);
    gate_init(&abort_gate, as->n);
    corio_instant start = corio_now();
    for (size_t i = 0; i < as->n; i++) {
        as->deadlines[i] = rng_below(CORIO_MSEC(200)); /* an offset from the base */
        as->await_rc[i] = 1;
        h[i] = corio_spawn(astorm_fn, (void *)(uintptr_t)i);
        CHECK(h[i] != NULL);
    }
    yield_until(&abort_gate.started, as->n);
    abort_gate.base = corio_now();
    gate_open(&abort_gate, as->n);
    yield_until(&astorm_armed, as->n);
    corio_instant abort_at = corio_now();
    printf("abort storm: %.1f ms to spawn and start them all, %.1f ms to arm their sleeps\n",
           MS(abort_gate.base - start), MS(abort_at - abort_gate.base));
    CHECK(abort_at < abort_gate.base + (corio_instant)CORIO_MSEC(300));
    corio_instant last = abort_at;
    for (size_t i = 0; i < as->n; i++)
        if (as->deadlines[i] > last)
            last = as->deadlines[i];
    for (size_t i = 1; i < as->n; i += 2)
        corio_task_abort(h[i]);
    for (size_t i = 0; i < as->n; i++) {
        int res = 12345;
        int rc = corio_task_join(h[i], &res);
        if (i % 2) {
            CHECK_EQ(rc, CORIO_ECANCELED);
            CHECK_EQ(res, CORIO_ECANCELED);
        } else {
            CHECK_EQ(rc, 0);
            CHECK_EQ(res, 0);
        }
    }
    free(h);
    CHECK_EQ(corio_sleep_until(corio_instant_add(last, CORIO_MSEC(60))), 0);
    corio_duration max_cancel_delay = 0;
    for (size_t i = 0; i < as->n; i++) {
        probe *p = &as->probes[i];
        if (i % 2) {
            CHECK_EQ(as->await_rc[i], CORIO_ECANCELED);
            CHECK(as->returned_at[i] < as->deadlines[i]);
            corio_duration dl = (corio_duration)(as->returned_at[i] - abort_at);
            if (dl > max_cancel_delay)
                max_cancel_delay = dl;
            if (p->sp.drops != 1 || atomic_load(&p->sp.wakes) != 0)
                test_failf(__FILE__, __LINE__, "aborted sleeper %zu: drops %d wakes %d", i,
                           p->sp.drops, atomic_load(&p->sp.wakes));
        } else {
            CHECK_EQ(as->await_rc[i], 0);
            CHECK(as->returned_at[i] >= as->deadlines[i]);
            CHECK_EQ(p->sp.drops, 0);
            CHECK_EQ(atomic_load(&p->sp.wakes), 1);
        }
        CHECK_EQ(atomic_load(&p->sp.refs), 0);
    }
    printf("abort storm: %zu sleepers, %zu aborted; last aborted one returned %.3f ms after "
           "the aborts\n",
           as->n, as->n / 2, MS(max_cancel_delay));
    gate_free(&abort_gate);
    return 0;
}

TEST_TIMING(time_cancel_storm_abort_sleepers)
{
    astorm as;
    memset(&as, 0, sizeof as);
    rng_seed(31337);
    as.n = SCALE(20000, 5000, 1000);
    as.probes = calloc(as.n, sizeof *as.probes);
    as.deadlines = calloc(as.n, sizeof *as.deadlines);
    as.returned_at = calloc(as.n, sizeof *as.returned_at);
    as.await_rc = calloc(as.n, sizeof *as.await_rc);
    CHECK(as.probes && as.deadlines && as.returned_at && as.await_rc);
    CHECK_EQ(run_main(astorm_main, &as), 0);
    free(as.probes);
    free(as.deadlines);
    free(as.returned_at);
    free(as.await_rc);
}

/* Cancelled timers leave occupancy behind in the wheel; after a spell with
 * no timer armed at all, a new timer must still be on time. The pattern is
 * the everyday one: timeouts around operations that finish first (their
 * timers are cancelled), a short quiet spell, then a sleep. Each round arms
 * and cancels timeouts of 1..63 ms (one per 1 ms wheel slot ahead), keeps
 * the runtime busy without timers for ~10 ms, then sleeps 64 ms, which
 * lands in the next 64 ms span of the wheel. */
typedef struct yield_once_fut {
    corio_future base;
    int polled;
} yield_once_fut;

static corio_poll yield_once_poll(corio_future *f, corio_context *cx)
{
    yield_once_fut *y = (yield_once_fut *)f;
    if (y->polled++)
        return CORIO_READY;
    corio_waker_wake_by_ref(cx->waker);
    return CORIO_PENDING;
}

static const corio_future_vtable yield_once_vt = {yield_once_poll, NULL};

static yield_once_fut stale_inner[64];

static int stale_main(void *arg)
{
    corio_duration worst = 0;
    for (int round = 0; round < 8; round++) {
        corio_task *h[64];
        for (int k = 1; k < 64; k++) {
            corio_future_init(&stale_inner[k].base, &yield_once_vt);
            stale_inner[k].polled = 0;
            corio_timeout_fut tf;
            corio_timeout_fut_init(&tf, &stale_inner[k].base, CORIO_MSEC(k));
            CHECK_EQ(corio_spawn_future(&h[k], &tf.base, sizeof tf), 0);
        }
        for (int k = 1; k < 64; k++) {
            int res = -1;
            CHECK_EQ(corio_task_join(h[k], &res), 0);
            CHECK_EQ(res, 0); /* the operation won: its timeout was cancelled */
        }
        /* A quiet spell: the runtime keeps running (the task yields) with
         * nothing armed in the wheel. */
        corio_instant quiet_end = corio_instant_add(corio_now(), CORIO_MSEC(8 + round));
        while (corio_now() < quiet_end)
            CHECK_EQ(corio_yield_now(), 0);
        corio_duration d = CORIO_MSEC(64);
        corio_instant t0 = corio_now();
        CHECK_EQ(corio_sleep(d), 0);
        corio_duration late = (corio_duration)(corio_now() - t0) - d;
        CHECK(late >= 0);
        if (late > worst)
            worst = late;
        if (late > LATE_SLACK)
            test_failf(__FILE__, __LINE__,
                       "round %d: sleep(%.0f ms) after cancelled timeouts and a quiet spell "
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

/* ---- timeout ---------------------------------------------------------------- */

static spy to_spy;
static value_fut to_value;
static never_fut to_never;

static int timeout_ready_main(void *arg)
{
    /* Inner ready before the deadline: its result, nothing dropped. */
    value_init(&to_value, CORIO_MSEC(10), 1234);
    corio_instant t0 = corio_now();
    CHECK_EQ(corio_timeout(&to_value.base, CORIO_MSEC(500)), 1234);
    corio_duration took = (corio_duration)(corio_now() - t0);
    CHECK(took >= CORIO_MSEC(10));
    CHECK(took < CORIO_MSEC(10) + LATE_SLACK);
    CHECK_EQ(to_value.drops, 0);

    /* The timeout's own timer is disarmed when the inner one wins: a spy
     * around the timeout future sees exactly one wake (the inner sleep's),
     * not a second one when the 60 ms deadline passes. */
    value_init(&to_value, CORIO_MSEC(5), 77);
    corio_timeout_fut tf;
    corio_timeout_fut_init(&tf, &to_value.base, CORIO_MSEC(60));
    spy_init(&to_spy, &tf.base);
    CHECK_EQ(corio_await(&to_spy.base), 77);
    CHECK_EQ(to_value.drops, 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(120)), 0);
    CHECK_EQ(atomic_load(&to_spy.wakes), 1);
    CHECK_EQ(atomic_load(&to_spy.refs), 0);
    CHECK_EQ(to_spy.drops, 0);

    /* An inner future that is ready at once never times out, even with a
     * zero or negative limit (it is polled first). */
    value_init(&to_value, 0, 5);
    CHECK_EQ(corio_timeout(&to_value.base, 0), 5);
    value_init(&to_value, -CORIO_MSEC(1), 6);
    CHECK_EQ(corio_timeout(&to_value.base, -CORIO_SEC(1)), 6);
    CHECK_EQ(to_value.drops, 0);
    /* Negative results pass through as they are. */
    value_init(&to_value, CORIO_MSEC(1), -EPIPE);
    CHECK_EQ(corio_timeout(&to_value.base, CORIO_MSEC(100)), -EPIPE);
    return 0;
}

TEST_TIMING(time_timeout_inner_ready_first)
{
    CHECK_EQ(run_main(timeout_ready_main, NULL), 0);
}

static int timeout_elapsed_main(void *arg)
{
    /* A future that never finishes: CORIO_ETIMEDOUT, dropped exactly once. */
    never_init(&to_never);
    corio_instant t0 = corio_now();
    CHECK_EQ(corio_timeout(&to_never.base, CORIO_MSEC(30)), CORIO_ETIMEDOUT);
    corio_duration took = (corio_duration)(corio_now() - t0);
    CHECK(took >= CORIO_MSEC(30));
    CHECK(took < CORIO_MSEC(30) + LATE_SLACK);
    CHECK_EQ(to_never.drops, 1);
    CHECK(to_never.polls >= 1);
    CHECK(to_never.w.vtable == NULL); /* its drop released the waker */

    /* A slower sleep: dropped when the timeout elapses, and its own timer
     * never fires afterwards. */
    static probe p;
    probe_init(&p, corio_instant_add(corio_now(), CORIO_MSEC(150)));
    t0 = corio_now();
    CHECK_EQ(corio_timeout(&p.sp.base, CORIO_MSEC(20)), CORIO_ETIMEDOUT);
    took = (corio_duration)(corio_now() - t0);
    CHECK(took >= CORIO_MSEC(20));
    CHECK(took < CORIO_MSEC(20) + LATE_SLACK);
    CHECK_EQ(p.sp.drops, 1);
    CHECK_EQ(corio_sleep(CORIO_MSEC(200)), 0);
    CHECK_EQ(atomic_load(&p.sp.wakes), 0);
    CHECK_EQ(atomic_load(&p.sp.refs), 0);
    CHECK_EQ(p.sp.drops, 1);

    /* Zero limit with a pending inner future: times out at once. */
    never_init(&to_never);
    t0 = corio_now();
    CHECK_EQ(corio_timeout(&to_never.base, 0), CORIO_ETIMEDOUT);
    CHECK(corio_now() - t0 < (corio_instant)CORIO_MSEC(10));
    CHECK_EQ(to_never.drops, 1);
    return 0;
}

TEST_TIMING(time_timeout_elapsed_drops_inner_once)
{
    CHECK_EQ(run_main(timeout_elapsed_main, NULL), 0);
}

static value_fut comp_value;
static never_fut comp_never;

static int timeout_compose_main(void *arg)
{
    /* timeout(timeout(never, 200 ms), 20 ms): the outer one elapses first
     * and drops the inner timeout, which drops `never`. */
    never_init(&comp_never);
    corio_timeout_fut inner, outer;
    corio_timeout_fut_init(&inner, &comp_never.base, CORIO_MSEC(200));
    corio_timeout_fut_init(&outer, &inner.base, CORIO_MSEC(20));
    corio_instant t0 = corio_now();
    CHECK_EQ(corio_await(&outer.base), CORIO_ETIMEDOUT);
    corio_duration took = (corio_duration)(corio_now() - t0);
    CHECK(took >= CORIO_MSEC(20) && took < CORIO_MSEC(20) + LATE_SLACK);
    CHECK_EQ(comp_never.drops, 1);

    /* timeout(timeout(never, 20 ms), 200 ms): the inner one elapses first;
     * its CORIO_ETIMEDOUT is the outer's result, at ~20 ms. */
    never_init(&comp_never);
    corio_timeout_fut_init(&inner, &comp_never.base, CORIO_MSEC(20));
    corio_timeout_fut_init(&outer, &inner.base, CORIO_MSEC(200));
    t0 = corio_now();
    CHECK_EQ(corio_await(&outer.base), CORIO_ETIMEDOUT);
    took = (corio_duration)(corio_now() - t0);
    CHECK(took >= CORIO_MSEC(20) && took < CORIO_MSEC(20) + LATE_SLACK);
    CHECK_EQ(comp_never.drops, 1);

    /* timeout(timeout(value after 10 ms, 100 ms), 200 ms): the value. */
    value_init(&comp_value, CORIO_MSEC(10), 4321);
    corio_timeout_fut_init(&inner, &comp_value.base, CORIO_MSEC(100));
    corio_timeout_fut_init(&outer, &inner.base, CORIO_MSEC(200));
    CHECK_EQ(corio_await(&outer.base), 4321);
    CHECK_EQ(comp_value.drops, 0);

    /* A timeout future spawned as a stackless task: its result is the
     * task's result. */
    value_init(&comp_value, CORIO_MSEC(5), 99);
    corio_timeout_fut tf;
    corio_timeout_fut_init(&tf, &comp_value.base, CORIO_MSEC(100));
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_future(&t, &tf.base, sizeof tf), 0);
    int res = 0;
    CHECK_EQ(corio_task_join(t, &res), 0);
    CHECK_EQ(res, 99);

    never_init(&comp_never);
    corio_timeout_fut_init(&tf, &comp_never.base, CORIO_MSEC(15));
    CHECK_EQ(corio_spawn_future(&t, &tf.base, sizeof tf), 0);
    res = 0;
    t0 = corio_now();
    CHECK_EQ(corio_task_join(t, &res), 0);
    CHECK_EQ(res, CORIO_ETIMEDOUT);
    CHECK(corio_now() - t0 >= (corio_instant)CORIO_MSEC(15) - CORIO_MSEC(1));
    CHECK_EQ(comp_never.drops, 1);

    /* Aborting a task that awaits a timeout drops the timeout and its
     * inner future, once. */
    never_init(&comp_never);
    corio_timeout_fut_init(&tf, &comp_never.base, CORIO_SEC(10));
    CHECK_EQ(corio_spawn_future(&t, &tf.base, sizeof tf), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    CHECK(comp_never.polls >= 1);
    corio_task_abort(t);
    t0 = corio_now();
    CHECK_EQ(corio_task_join(t, &res), CORIO_ECANCELED);
    CHECK(corio_now() - t0 < (corio_instant)CORIO_MSEC(100));
    CHECK_EQ(comp_never.drops, 1);
    return 0;
}

TEST_TIMING(time_timeout_fut_composition)
{
    CHECK_EQ(run_main(timeout_compose_main, NULL), 0);
}

/* ---- corio_with_timeout ------------------------------------------------------- */

typedef struct scope_log {
    int sleep1, sleep2, yield_rc, nested_rc, nested_ran;
    corio_instant t_sleep1;
    int cleaned;
    never_fut nf;
    int never_rc;
    corio_duration sleep_for;
    int ret;
} scope_log;

static int nested_flag_body(void *arg)
{
    *(int *)arg = 1;
    return 0;
}

static int scope_body(void *arg)
{
    scope_log *l = arg;
    l->sleep1 = corio_sleep(l->sleep_for);
    l->t_sleep1 = corio_now();
    /* Later awaits inside the expired scope fail at once. */
    l->sleep2 = corio_sleep(CORIO_MSEC(1));
    l->yield_rc = corio_yield_now();
    /* A scope opened inside an expired one: fn is not called. */
    l->nested_rc = corio_with_timeout(CORIO_SEC(1), nested_flag_body, &l->nested_ran, NULL);
    never_init(&l->nf);
    l->never_rc = corio_await(&l->nf.base);
    l->cleaned = 1; /* cleanup code runs */
    return l->ret;
}

static int spin_body(void *arg)
{
    busy_until(corio_instant_add(corio_now(), *(corio_duration *)arg));
    return 5;
}

static corio_task *join_child;
static int join_done;

static int join_child_fn(void *arg)
{
    CHECK_EQ(corio_sleep(CORIO_MSEC(60)), 0);
    join_done = 1;
    return 0;
}

static int join_body(void *arg)
{
    int r = 0;
    return corio_task_join(join_child, &r);
}

static int with_timeout_main(void *arg)
{
    /* Success: fn returns before the deadline. */
    scope_log l;
    memset(&l, 0, sizeof l);
    l.sleep_for = CORIO_MSEC(10);
    l.ret = 42;
    int res = 0;
    corio_instant t0 = corio_now();
    CHECK_EQ(corio_with_timeout(CORIO_MSEC(300), sleep_short_main, &l.sleep_for, &res), 0);
    CHECK_EQ(res, 0);
    CHECK(corio_now() - t0 < (corio_instant)(CORIO_MSEC(10) + LATE_SLACK));
    /* The scope is gone: a sleep past its old deadline works normally. */
    t0 = corio_now();
    CHECK_EQ(corio_sleep(CORIO_MSEC(350)), 0);
    CHECK(corio_now() - t0 >= (corio_instant)CORIO_MSEC(350));

    /* Elapsed: the 1 s sleep returns CORIO_ETIMEDOUT at the 40 ms deadline,
     * later awaits too (the never future is dropped once), the cleanup runs,
     * and fn's return value still comes back. */
    memset(&l, 0, sizeof l);
    l.sleep_for = CORIO_SEC(1);
    l.ret = 99;
    res = 0;
    t0 = corio_now();
    CHECK_EQ(corio_with_timeout(CORIO_MSEC(40), scope_body, &l, &res), CORIO_ETIMEDOUT);
    corio_instant t1 = corio_now();
    CHECK_EQ(res, 99);
    CHECK_EQ(l.sleep1, CORIO_ETIMEDOUT);
    CHECK(l.t_sleep1 - t0 >= (corio_instant)CORIO_MSEC(40));
    CHECK(l.t_sleep1 - t0 < (corio_instant)(CORIO_MSEC(40) + LATE_SLACK));
    CHECK_EQ(l.sleep2, CORIO_ETIMEDOUT);
    CHECK_EQ(l.yield_rc, CORIO_ETIMEDOUT);
    CHECK_EQ(l.nested_rc, CORIO_ETIMEDOUT);
    CHECK_EQ(l.nested_ran, 0);
    CHECK_EQ(l.never_rc, CORIO_ETIMEDOUT);
    CHECK_EQ(l.nf.drops, 1);
    CHECK_EQ(l.cleaned, 1);
    CHECK(t1 - l.t_sleep1 < (corio_instant)CORIO_MSEC(10));
    /* After the scope, awaits work normally again. */
    t0 = corio_now();
    CHECK_EQ(corio_sleep(CORIO_MSEC(15)), 0);
    CHECK(corio_now() - t0 >= (corio_instant)CORIO_MSEC(15));
    value_fut v;
    value_init(&v, CORIO_MSEC(2), 8);
    CHECK_EQ(corio_await(&v.base), 8);

    /* The deadline passes while fn computes, and fn returns without
     * awaiting again: its work is complete, the scope returns 0. */
    res = 0;
    corio_duration spin = CORIO_MSEC(30);
    CHECK_EQ(corio_with_timeout(CORIO_MSEC(5), spin_body, &spin, &res), 0);
    CHECK_EQ(res, 5);
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);

    /* A join interrupted by the scope: CORIO_ETIMEDOUT, the task goes on
     * detached and finishes on its own. */
    join_done = 0;
    join_child = corio_spawn(join_child_fn, NULL);
    CHECK(join_child != NULL);
    t0 = corio_now();
    CHECK_EQ(corio_with_timeout(CORIO_MSEC(20), join_body, NULL, &res), CORIO_ETIMEDOUT);
    CHECK_EQ(res, CORIO_ETIMEDOUT);
    CHECK(corio_now() - t0 < (corio_instant)(CORIO_MSEC(20) + LATE_SLACK));
    CHECK_EQ(join_done, 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(100)), 0);
    CHECK_EQ(join_done, 1);

    /* A zero or negative deadline: the first await fails at once. */
    memset(&l, 0, sizeof l);
    l.sleep_for = CORIO_MSEC(100);
    l.ret = 3;
    t0 = corio_now();
    CHECK_EQ(corio_with_timeout(0, scope_body, &l, &res), CORIO_ETIMEDOUT);
    CHECK_EQ(l.sleep1, CORIO_ETIMEDOUT);
    CHECK_EQ(res, 3);
    CHECK(corio_now() - t0 < (corio_instant)CORIO_MSEC(20));
    memset(&l, 0, sizeof l);
    l.sleep_for = CORIO_MSEC(100);
    CHECK_EQ(corio_with_timeout(-CORIO_SEC(1), scope_body, &l, NULL), CORIO_ETIMEDOUT);
    CHECK_EQ(l.sleep1, CORIO_ETIMEDOUT);
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    return 0;
}

TEST_TIMING(time_with_timeout_scope)
{
    CHECK_EQ(run_main(with_timeout_main, NULL), 0);
    /* Plain code: not inside a task. */
    int res = 0;
    CHECK_EQ(corio_with_timeout(CORIO_MSEC(1), sleep_short_main, NULL, &res), CORIO_EWRONGCTX);
}

typedef struct nest_log {
    corio_duration inner_d;
    int inner_rc, inner_res;
    int sleep_rc;
    corio_instant t_sleep;
    int after_inner_sleep_rc;
} nest_log;

static int nest_inner_body(void *arg)
{
    nest_log *l = arg;
    l->sleep_rc = corio_sleep(CORIO_SEC(2));
    l->t_sleep = corio_now();
    return l->sleep_rc;
}

static int nest_outer_body(void *arg)
{
    nest_log *l = arg;
    l->inner_rc = corio_with_timeout(l->inner_d, nest_inner_body, l, &l->inner_res);
    l->after_inner_sleep_rc = corio_sleep(CORIO_MSEC(10));
    return 7;
}

static int nested_main(void *arg)
{
    /* Inner deadline longer than the outer one: the outer wins, at its own
     * deadline; the outer scope reports CORIO_ETIMEDOUT and its later
     * awaits fail too. */
    nest_log l;
    memset(&l, 0, sizeof l);
    l.inner_d = CORIO_MSEC(500);
    int res = 0;
    corio_instant t0 = corio_now();
    int rc = corio_with_timeout(CORIO_MSEC(40), nest_outer_body, &l, &res);
    printf("nested, outer 40 ms / inner 500 ms: inner scope returned %s, outer %s\n",
           corio_err_name(l.inner_rc), corio_err_name(rc));
    CHECK_EQ(rc, CORIO_ETIMEDOUT);
    CHECK_EQ(res, 7);
    CHECK_EQ(l.sleep_rc, CORIO_ETIMEDOUT);
    CHECK_EQ(l.inner_res, CORIO_ETIMEDOUT);
    CHECK(l.t_sleep - t0 >= (corio_instant)CORIO_MSEC(40));
    CHECK(l.t_sleep - t0 < (corio_instant)(CORIO_MSEC(40) + LATE_SLACK));
    /* time.h: the inner scope's own deadline did not pass, so it returns 0
     * (with fn's CORIO_ETIMEDOUT in *result). */
    CHECK_EQ(l.inner_rc, 0);
    CHECK_EQ(l.after_inner_sleep_rc, CORIO_ETIMEDOUT);
    CHECK(corio_now() - t0 < (corio_instant)CORIO_MSEC(200));

    /* Inner deadline shorter: the inner scope times out, the outer one goes
     * on normally and returns 0. */
    memset(&l, 0, sizeof l);
    l.inner_d = CORIO_MSEC(30);
    res = 0;
    t0 = corio_now();
    rc = corio_with_timeout(CORIO_MSEC(400), nest_outer_body, &l, &res);
    CHECK_EQ(rc, 0);
    CHECK_EQ(res, 7);
    CHECK_EQ(l.inner_rc, CORIO_ETIMEDOUT);
    CHECK_EQ(l.inner_res, CORIO_ETIMEDOUT);
    CHECK_EQ(l.sleep_rc, CORIO_ETIMEDOUT);
    CHECK(l.t_sleep - t0 >= (corio_instant)CORIO_MSEC(30));
    CHECK(l.t_sleep - t0 < (corio_instant)(CORIO_MSEC(30) + LATE_SLACK));
    CHECK_EQ(l.after_inner_sleep_rc, 0);
    /* Still fine afterwards. */
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    return 0;
}

TEST_TIMING(time_with_timeout_nested)
{
    CHECK_EQ(run_main(nested_main, NULL), 0);
}

/* Cancellation wins over a scope, and is sticky past it. */
static int cancel_in_scope_body(void *arg)
{
    int *rcs = arg;
    rcs[0] = corio_sleep(CORIO_SEC(5));
    rcs[1] = corio_sleep(CORIO_MSEC(1));
    return 11;
}

static int cancel_in_scope_task(void *arg)
{
    int *rcs = arg;
    int res = 0;
    rcs[2] = corio_with_timeout(CORIO_SEC(3), cancel_in_scope_body, rcs, &res);
    rcs[3] = res;
    rcs[4] = corio_sleep(CORIO_MSEC(1));
    return 0;
}

static int cancel_in_scope_main(void *arg)
{
    int rcs[5] = {1, 1, 1, 1, 1};
    corio_task *t = corio_spawn(cancel_in_scope_task, rcs);
    CHECK(t != NULL);
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    corio_task_abort(t);
    corio_instant t0 = corio_now();
    CHECK_EQ(corio_task_join(t, NULL), CORIO_ECANCELED);
    CHECK(corio_now() - t0 < (corio_instant)CORIO_MSEC(100));
    CHECK_EQ(rcs[0], CORIO_ECANCELED);
    CHECK_EQ(rcs[1], CORIO_ECANCELED);
    CHECK_EQ(rcs[2], CORIO_ECANCELED);
    CHECK_EQ(rcs[3], 11);
    CHECK_EQ(rcs[4], CORIO_ECANCELED);
    return 0;
}

TEST_TIMING(time_with_timeout_cancelled_inside)
{
    CHECK_EQ(run_main(cancel_in_scope_main, NULL), 0);
}

/* ---- intervals ------------------------------------------------------------------ */

static int interval_main(void *arg)
{
    corio_duration p = CORIO_MSEC(20);
    corio_interval iv;
    corio_instant before = corio_now();
    corio_interval_init(&iv, p);
    corio_instant t[10];
    for (int k = 0; k < 10; k++) {
        CHECK_EQ(corio_interval_tick(&iv), 0);
        t[k] = corio_now();
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
    corio_interval_stop(&iv);
    printf("interval 20 ms: worst tick lateness %.3f ms\n", MS(worst));

    /* init_at: the first tick waits for `start`; the interval awaited as a
     * plain future. */
    corio_instant start = corio_instant_add(corio_now(), CORIO_MSEC(25));
    corio_interval_init_at(&iv, start, CORIO_MSEC(10));
    CHECK_EQ(corio_await(&iv.base), 0);
    CHECK(corio_now() >= start);
    CHECK(corio_now() - start < (corio_instant)LATE_SLACK);
    CHECK_EQ(corio_await(&iv.base), 0);
    CHECK(corio_now() >= start + (corio_instant)CORIO_MSEC(10));
    CHECK_EQ(corio_interval_tick(&iv), 0);
    CHECK(corio_now() >= start + (corio_instant)CORIO_MSEC(20));
    corio_interval_stop(&iv);

    /* An interval inside a timeout: cut short, and dropped. */
    corio_interval_init_at(&iv, corio_instant_add(corio_now(), CORIO_SEC(5)), CORIO_SEC(1));
    CHECK_EQ(corio_timeout(&iv.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
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
    corio_instant t0 = corio_now();
    corio_interval iv;
    corio_interval_init_at(&iv, t0, p);
    corio_interval_set_missed_tick(&iv, ma->policy);
    CHECK_EQ(corio_interval_tick(&iv), 0);
    CHECK(corio_now() - t0 < 20 * pct);
    corio_instant busy_end = t0 + 550 * pct;
    busy_until(busy_end);
    corio_instant t[8];
    int n = ma->policy == CORIO_MISSED_BURST ? 8 : 3;
    for (int k = 0; k < n; k++) {
        CHECK_EQ(corio_interval_tick(&iv), 0);
        t[k] = corio_now();
    }
    corio_interval_stop(&iv);
    printf("policy %d: ticks after the stall at", (int)ma->policy);
    for (int k = 0; k < n; k++)
        printf(" %.1f", MS(t[k] - t0));
    printf(" ms\n");
    const corio_instant soon = 30 * pct;
    switch (ma->policy) {
    case CORIO_MISSED_BURST:
        /* the five missed ticks (50..250) back to back */
        for (int k = 0; k < 5; k++)
            CHECK(t[k] - busy_end < soon);
        /* then the original grid: 300, 350, 400 */
        for (int k = 5; k < 8; k++) {
            corio_instant due = t0 + (corio_instant)((k + 1) * p);
            CHECK(t[k] >= due);
            CHECK(t[k] - due < 50 * pct);
        }
        break;
    case CORIO_MISSED_DELAY:
        CHECK(t[0] - busy_end < soon);
        /* the schedule restarts from the late tick */
        CHECK(t[1] >= busy_end + (corio_instant)p);
        CHECK(t[1] - (busy_end + (corio_instant)p) < 40 * pct);
        CHECK(t[2] >= busy_end + (corio_instant)(2 * p));
        CHECK(t[2] - (busy_end + (corio_instant)(2 * p)) < 40 * pct);
        break;
    case CORIO_MISSED_SKIP:
        CHECK(t[0] - busy_end < soon);
        /* the next multiple of the period on the original grid: 300, 350 */
        CHECK(t[1] >= t0 + (corio_instant)(6 * p));
        CHECK(t[1] < t0 + 640 * pct);
        CHECK(t[2] >= t0 + (corio_instant)(7 * p));
        CHECK(t[2] < t0 + 740 * pct);
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
        corio_instant t0 = corio_now();
        corio_interval iv;
        corio_interval_init_at(&iv, t0, p);
        corio_interval_set_missed_tick(&iv, (corio_missed_tick)pol);
        CHECK_EQ(corio_interval_tick(&iv), 0);
        busy_until(t0 + (corio_instant)(p + p / 2)); /* tick 1 is half a period late */
        CHECK_EQ(corio_interval_tick(&iv), 0);
        CHECK_EQ(corio_interval_tick(&iv), 0); /* tick 2 at 2p */
        corio_instant t2 = corio_now();
        CHECK(t2 >= t0 + (corio_instant)(2 * p));
        CHECK(t2 < t0 + (corio_instant)(2 * p + 4 * p / 10));
        corio_interval_stop(&iv);
    }
    return 0;
}

TEST_TIMING(time_interval_late_within_period_keeps_grid)
{
    CHECK_EQ(run_main(late_not_missed_main, NULL), 0);
}

/* ---- dropping sleeps ------------------------------------------------------------- */

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
    probe_init(&drop_probe, corio_instant_add(corio_now(), CORIO_MSEC(150)));
    corio_task *t = corio_spawn(drop_sleeper, NULL);
    CHECK(t != NULL);
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    CHECK(drop_probe.sp.polls >= 1);
    corio_task_abort(t);
    corio_instant t0 = corio_now();
    int res = 0;
    CHECK_EQ(corio_task_join(t, &res), CORIO_ECANCELED);
    CHECK(corio_now() - t0 < (corio_instant)CORIO_MSEC(50));
    CHECK_EQ(res, CORIO_ECANCELED);
    CHECK_EQ(drop_probe.sp.drops, 1);
    CHECK_EQ(corio_sleep(CORIO_MSEC(200)), 0);
    CHECK_EQ(atomic_load(&drop_probe.sp.wakes), 0);
    CHECK_EQ(atomic_load(&drop_probe.sp.refs), 0);

    /* The same for an interval between ticks. */
    corio_interval_init(&drop_iv, CORIO_MSEC(60));
    spy_init(&drop_iv_spy, &drop_iv.base);
    t = corio_spawn(drop_interval_task, NULL);
    CHECK(t != NULL);
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    CHECK(drop_iv_spy.polls >= 1);
    corio_task_abort(t);
    CHECK_EQ(corio_task_join(t, &res), CORIO_ECANCELED);
    CHECK_EQ(drop_iv_spy.drops, 1);
    int wakes_before = atomic_load(&drop_iv_spy.wakes);
    CHECK_EQ(corio_sleep(CORIO_MSEC(150)), 0);
    CHECK_EQ(atomic_load(&drop_iv_spy.wakes), wakes_before);
    CHECK_EQ(atomic_load(&drop_iv_spy.refs), 0);

    /* A sleep polled once by hand, then dropped by hand: disarmed. */
    static probe hand;
    probe_init(&hand, corio_instant_add(corio_now(), CORIO_MSEC(30)));
    poll_once_fut po;
    corio_future_init(&po.base, &poll_once_vt);
    po.inner = &hand.sp.base;
    CHECK_EQ(corio_await(&po.base), CORIO_PENDING);
    CHECK_EQ(hand.sp.polls, 1);
    corio_future_drop(&hand.sp.base);
    CHECK_EQ(hand.sp.drops, 1);
    CHECK_EQ(corio_sleep(CORIO_MSEC(60)), 0);
    CHECK_EQ(atomic_load(&hand.sp.wakes), 0);
    CHECK_EQ(atomic_load(&hand.sp.refs), 0);
    return 0;
}

TEST_TIMING(time_drop_removes_timer)
{
    CHECK_EQ(run_main(drop_main, NULL), 0);
}

static int long_sleeper_rc = 1;

static int long_sleeper(void *arg)
{
    long_sleeper_rc = corio_sleep(CORIO_SEC(10));
    return 0;
}

static int spawn_long_sleeper_main(void *arg)
{
    CHECK_EQ(corio_spawn_detached(long_sleeper, NULL), 0);
    CHECK_EQ(corio_yield_now(), 0); /* let it arm its timer */
    return 0;
}

static int abort_long_sleeper_main(void *arg)
{
    corio_task *t = corio_spawn(long_sleeper, NULL);
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
    corio_instant t0 = corio_now();
    corio_rt_free(rt);
    corio_duration took = (corio_duration)(corio_now() - t0);
    printf("corio_rt_free with a 10 s sleeper: %.3f ms\n", MS(took));
    CHECK(took < CORIO_MSEC(500));
    CHECK_EQ(long_sleeper_rc, CORIO_ECANCELED);

    /* block_on whose main task aborts and joins a 10 s sleeper: prompt. */
    long_sleeper_rc = 1;
    t0 = corio_now();
    CHECK_EQ(run_main(abort_long_sleeper_main, NULL), 0);
    took = (corio_duration)(corio_now() - t0);
    CHECK(took < CORIO_MSEC(500));
    CHECK_EQ(long_sleeper_rc, CORIO_ECANCELED);
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
    corio_instant t0 = corio_now();
    CHECK_EQ(corio_sleep(CORIO_SEC(5)), 0); /* the figure: 5 s asleep */
    corio_instant t1 = corio_now();
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
        ws->woken_at = corio_now();
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
    CHECK_EQ(corio_spawn_detached(background_sleeper, NULL), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, waker_thread, ws), 0);
    for (int i = 0; i < ws->rounds; i++) {
        flag_fut f;
        corio_future_init(&f.base, &flag_vt);
        f.mu = &ws->mu;
        f.flag = &ws->flag;
        f.slot = &ws->waker;
        CHECK_EQ(corio_await(&f.base), 0);
        corio_instant now = corio_now();
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
