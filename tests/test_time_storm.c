/* tests/test_time_storm.c - the timer wheel under load: storms of timers
 * and of cancellations (include/corio/time.h).
 *
 * Tens of thousands of timers, stackless and coroutine, spread over several
 * wheel levels: none fires early, none is grossly late (a wheel slot missed
 * for a turn). Storms of timeouts and aborts drop sleeps that must then never
 * fire. Heavy storms are scaled down under sanitizers.
 */
#include <corio.h>

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "util.h"

#define MS(x) ((double)(x) / 1e6) /* ns -> ms, for printing */

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

/* ---- storms ------------------------------------------------------------------ */

typedef struct storm_stats {
    size_t n;
    size_t fired;
    size_t early; /* the wheel fired (disarmed) the timer before its deadline */
    size_t armed; /* timers that were pending at their first poll */
    corio_duration max_late;
    double sum_late;
} storm_stats;

/* A storm timer: a raw timer in a future of its own, so the test sees what
 * the wheel does, not what a sleep makes of it. A sleep re-checks the clock
 * when it is polled and would hide a wheel that fires early; here a poll
 * that finds the timer disarmed by the wheel (fired) while the clock is
 * still before the deadline counts as an early fire. */
typedef struct storm_fut {
    corio_future base;
    corio_timer timer;
    storm_stats *st;
    corio_duration offset; /* > 0: the deadline is this long after the first poll */
    bool armed;            /* a poll found it pending and armed it */
} storm_fut;

static corio_poll storm_poll(corio_future *f, corio_context *cx)
{
    storm_fut *s = (storm_fut *)f;
    if (s->offset > 0) {
        /* Counted from here: spawning 100,000 tasks, and getting to their
         * first polls, takes long on a slow or emulated machine. */
        corio_timer_init(&s->timer, corio_instant_add(corio_instant_now(), s->offset));
        s->offset = 0;
    }
    corio_instant deadline = corio_timer_deadline(&s->timer);
    if (s->armed && !corio_timer_is_armed(&s->timer) && corio_instant_now() < deadline)
        s->st->early++; /* fired by the wheel, yet not due: the poll re-arms it */
    if (corio_timer_poll(&s->timer, cx) == CORIO_PENDING) {
        s->armed = true;
        return CORIO_PENDING;
    }
    storm_stats *st = s->st;
    /* Lateness only means something for a timer that was armed: one whose
     * deadline had already passed when its task first ran measures the
     * spawn backlog instead. */
    if (s->armed) {
        st->armed++;
        corio_duration late = (corio_duration)(corio_instant_now() - deadline);
        if (late > st->max_late)
            st->max_late = late;
        st->sum_late += (double)late;
    }
    st->fired++;
    f->result = 0;
    return CORIO_READY;
}

static void storm_drop(corio_future *f)
{
    corio_timer_cancel(&((storm_fut *)f)->timer);
}

static const corio_future_vtable storm_vt = {storm_poll, storm_drop};

static void storm_fut_init(storm_fut *f, storm_stats *st, corio_instant deadline)
{
    corio_future_init(&f->base, &storm_vt);
    corio_timer_init(&f->timer, deadline);
    f->st = st;
    f->offset = 0;
    f->armed = false;
}

typedef struct storm_args {
    size_t n;
    corio_duration *offsets;
    storm_stats st;
    corio_duration give_up;
    long long run_delay0; /* the thread's run delay when the timers start */
} storm_args;

static void storm_wait(storm_args *a, corio_instant start)
{
    corio_instant give_up = corio_instant_add(start, a->give_up);
    while (a->st.fired < a->n && corio_instant_now() < give_up)
        CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
}

/* Every timer fired, none early, and none later than `late_bound` plus the
 * time this thread spent runnable but waiting for a CPU while they fired
 * (other processes on a busy machine): lateness is measured against the CPU
 * time the runtime actually got. */
static void storm_report(const char *what, storm_args *a, corio_duration spawn_time,
                         corio_duration late_bound)
{
    long long starved = thread_run_delay_ns() - a->run_delay0;
    printf("%s: %zu timers, %zu fired, %zu early; of %zu armed ones lateness max %.3f ms "
           "mean %.3f ms (spawning took %.1f ms; the runtime waited %.1f ms for a CPU)\n",
           what, a->n, a->st.fired, a->st.early, a->st.armed, MS(a->st.max_late),
           a->st.armed ? a->st.sum_late / (double)a->st.armed / 1e6 : 0.0, MS(spawn_time),
           MS(starved));
    CHECK_EQ(a->st.fired, a->n);
    CHECK_EQ(a->st.early, 0);
    CHECK(a->st.armed > a->n / 2);
    /* A timer that is seconds late (a wheel slot missed for a turn, a stack
     * trim on the critical path) must fail. */
    if (UNDER_SAN)
        late_bound *= 4;
    CHECK(a->st.max_late < late_bound + starved);
}

static int storm_stackless_main(void *arg)
{
    storm_args *a = arg;
    corio_instant start = corio_instant_now();
    a->run_delay0 = thread_run_delay_ns();
    for (size_t i = 0; i < a->n; i++) {
        storm_fut f;
        storm_fut_init(&f, &a->st, 0);
        f.offset = a->offsets[i]; /* the deadline counts from its first poll */
        CHECK_EQ(corio_spawn_future(&f.base, sizeof f, NULL), 0);
    }
    corio_duration spawn_time = (corio_duration)(corio_instant_now() - start);
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
 * a gate (util.h). Resuming them all to arm their timers takes a while too,
 * and how long depends on the machine and its load (seconds under
 * emulation or with other work on both cores): so they pass the gate once
 * and wait at a second one, which measures one such round; the main task
 * then sets a common base instant that far ahead, with room to spare, and
 * opens the second gate; coroutine i sleeps until base + offset[i]. */
static storm_args *coro_storm;
static gate storm_gate, storm_gate2;

static int storm_coro_fn(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    CHECK_EQ(gate_wait(&storm_gate, i), 0);
    CHECK_EQ(gate_wait(&storm_gate2, i), 0);
    storm_fut f;
    storm_fut_init(&f, &coro_storm->st, corio_instant_add(storm_gate2.base, coro_storm->offsets[i]));
    CHECK_EQ(corio_await(&f.base), 0);
    return 0;
}

static int storm_coro_main(void *arg)
{
    storm_args *a = arg;
    coro_storm = a;
    gate_init(&storm_gate, a->n);
    gate_init(&storm_gate2, a->n);
    corio_instant start = corio_instant_now();
    for (size_t i = 0; i < a->n; i++)
        CHECK_EQ(corio_spawn(storm_coro_fn, (void *)(uintptr_t)i, NULL), 0);
    corio_duration spawn_time = (corio_duration)(corio_instant_now() - start);
    yield_until(&storm_gate.started, a->n);
    corio_instant all_started = corio_instant_now();
    gate_open(&storm_gate, a->n);
    yield_until(&storm_gate2.started, a->n);
    corio_duration round = (corio_duration)(corio_instant_now() - all_started);
    storm_gate2.base = corio_instant_add(corio_instant_now(), CORIO_MSEC(200) + 2 * round);
    a->run_delay0 = thread_run_delay_ns();
    gate_open(&storm_gate2, a->n);
    corio_instant opened = corio_instant_now();
    storm_wait(a, storm_gate2.base);
    printf("coroutine storm: %.1f ms to start them all, %.1f ms to resume them all once, "
           "%.1f ms to open the gate\n",
           MS(all_started - start - (corio_instant)spawn_time), MS(round),
           MS(opened - (storm_gate2.base - CORIO_MSEC(200) - 2 * round)));
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
    gate_free(&storm_gate2);
    return 0;
}

TEST_TIMING(time_storm_100k_coroutines)
{
    storm_args a;
    memset(&a, 0, sizeof a);
    rng_seed(777);
    storm_fill_uniform(&a, SCALE(100000, 20000, 2000), CORIO_MSEC(400));
    a.give_up = CORIO_SEC(12);
    CHECK_EQ(run_main(storm_coro_main, &a), 0);
    free(a.offsets);
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
 * A dropped sleep must never fire, even well after its deadline.
 *
 * Both deadlines of a task count from its first poll, not from the start of
 * the storm: spawning 50k tasks takes from 70 to 450 ms on a slow or busy
 * machine (a page fault per few tasks), so with deadlines fixed at spawn
 * time a late-spawned odd task could get a timeout due after its own inner
 * sleep, and the inner sleep would rightly win. */
typedef struct cstorm {
    size_t n;
    probe *probes;
    /* A spy around each task's timeout future: its wakes are the inner
     * sleep's (forwarded by the probe's spy) plus the timeout timer's. */
    spy *outer;
    int *results;
    corio_duration *inner_d, *limit_d; /* from the task's first poll */
    corio_instant *deadlines;          /* of the inner sleeps, set at the first poll */
    corio_instant *completed_at;       /* the poll that completed the task */
    int *timeout_woke;                 /* by then, wakes of the timeout's own timer */
    size_t done;
} cstorm;

typedef struct crec_fut {
    corio_future base;
    corio_timeout_fut to; /* initialised by the first poll, polled through cs->outer */
    cstorm *cs;
    size_t idx;
    int started;
} crec_fut;

static corio_poll crec_poll(corio_future *f, corio_context *cx)
{
    crec_fut *r = (crec_fut *)f;
    cstorm *cs = r->cs;
    if (!r->started) {
        r->started = 1;
        corio_instant now = corio_instant_now();
        cs->deadlines[r->idx] = corio_instant_add(now, cs->inner_d[r->idx]);
        probe_init(&cs->probes[r->idx], cs->deadlines[r->idx]);
        corio_timeout_fut_init_until(&r->to, &cs->probes[r->idx].sp.base,
                                     corio_instant_add(now, cs->limit_d[r->idx]));
        spy_init(&cs->outer[r->idx], &r->to.base);
    }
    spy *outer = &cs->outer[r->idx];
    /* Taken before the poll: the wakes that led to it. */
    int timeout_woke = atomic_load(&outer->wakes) - atomic_load(&cs->probes[r->idx].sp.wakes);
    if (corio_future_poll(&outer->base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    cs->completed_at[r->idx] = corio_instant_now();
    cs->timeout_woke[r->idx] = timeout_woke;
    r->cs->results[r->idx] = r->to.base.result;
    r->cs->done++;
    f->result = 0;
    return CORIO_READY;
}

static void crec_drop(corio_future *f)
{
    crec_fut *r = (crec_fut *)f;
    if (r->started) /* else the timeout future was never initialised */
        corio_future_drop(&r->cs->outer[r->idx].base);
}

static const corio_future_vtable crec_vt = {crec_poll, crec_drop};

static int cstorm_main(void *arg)
{
    cstorm *cs = arg;
    corio_instant start = corio_instant_now();
    for (size_t i = 0; i < cs->n; i++) {
        if (i % 2 == 0) {
            cs->inner_d[i] = CORIO_MSEC(10) + (corio_duration)rng_below(CORIO_MSEC(140));
            cs->limit_d[i] = CORIO_MSEC(600);
        } else {
            /* Half of the odd ones sleep for an hour: their timeouts win
             * however late the runtime polls them, so the storm always
             * drops that many sleeps. The others' sleeps are due within
             * 500 ms, and the test waits past that: a dropped sleep left in
             * the wheel would fire. */
            corio_duration far = i % 4 == 3 ? CORIO_SEC(3600) : 0;
            cs->inner_d[i] = far + CORIO_MSEC(400) + (corio_duration)rng_below(CORIO_MSEC(100));
            cs->limit_d[i] = CORIO_MSEC(5) + (corio_duration)rng_below(CORIO_MSEC(145));
        }
        crec_fut r;
        memset(&r, 0, sizeof r);
        corio_future_init(&r.base, &crec_vt);
        r.cs = cs;
        r.idx = i;
        cs->results[i] = 1;
        CHECK_EQ(corio_spawn_future(&r.base, sizeof r, NULL), 0);
    }
    printf("cancellation storm: spawning %zu tasks took %.1f ms\n", cs->n,
           MS(corio_instant_now() - start));
    corio_instant give_up = corio_instant_add(start, CORIO_SEC(10));
    while (cs->done < cs->n && corio_instant_now() < give_up)
        CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    CHECK_EQ(cs->done, cs->n);
    corio_instant last = start;
    for (size_t i = 0; i < cs->n; i++)
        if (i % 4 != 3 && cs->deadlines[i] > last)
            last = cs->deadlines[i];
    /* Past every inner deadline but the hour-long ones: a sleep left armed
     * by its drop fires now. */
    CHECK_EQ(corio_sleep_until(corio_instant_add(last, CORIO_MSEC(60))), 0);
    size_t fired = 0, dropped = 0, late = 0;
    for (size_t i = 0; i < cs->n; i++) {
        probe *p = &cs->probes[i];
        int wakes = atomic_load(&p->sp.wakes);
        if (i % 2 == 0) {
            /* wakes is 0 if the deadline had passed by the time it was polled */
            if (cs->results[i] != 0 || p->sp.drops != 0 || wakes > 1)
                test_failf(__FILE__, __LINE__,
                           "kept timer %zu: result %d drops %d wakes %d (want 0 0 <=1)", i,
                           cs->results[i], p->sp.drops, wakes);
            fired++;
        } else if (cs->results[i] == 0 && p->sp.drops == 0 && wakes <= 1 &&
                   cs->timeout_woke[i] >= 1 && cs->completed_at[i] >= cs->deadlines[i]) {
            /* The task was woken by its timeout, but polled only after the
             * inner deadline too (250+ ms late: behind thousands of other
             * woken tasks, or with the runtime's thread off the CPU): the
             * inner future is polled first and wins. Its timer may have
             * fired meanwhile (wakes 1), or not yet (wakes 0). A timeout
             * that never woke the task (a lost timer or wake), or an inner
             * sleep that won before its deadline, is not this case. Only a
             * very slow (sanitized or starved) run gets here. */
            late++;
        } else {
            if (cs->results[i] != CORIO_ETIMEDOUT || p->sp.drops != 1 || wakes != 0 ||
                corio_timer_is_armed(&p->sleep.timer))
                test_failf(__FILE__, __LINE__,
                           "dropped timer %zu: result %d drops %d wakes %d armed %d (want %d 1 0 0); "
                           "timeout's wakes %d, completed %.3f ms after the inner deadline",
                           i, cs->results[i], p->sp.drops, wakes,
                           (int)corio_timer_is_armed(&p->sleep.timer), CORIO_ETIMEDOUT,
                           cs->timeout_woke[i],
                           ((double)cs->completed_at[i] - (double)cs->deadlines[i]) / 1e6);
            dropped++;
        }
        if (atomic_load(&p->sp.refs) != 0 || atomic_load(&cs->outer[i].refs) != 0)
            test_failf(__FILE__, __LINE__, "timer %zu: %d + %d waker clones leaked", i,
                       atomic_load(&p->sp.refs), atomic_load(&cs->outer[i].refs));
    }
    printf("cancellation storm: %zu fired, %zu dropped and silent, %zu polled too late to "
           "time out\n",
           fired, dropped, late);
    /* Each late one was checked above to be late, not wrong (under load,
     * most of the 500 ms ones may be: their timeouts fire while thousands of
     * tasks still wait for their first poll, and their wakes queue behind
     * them); the hour-long ones are always dropped. */
    CHECK(dropped >= cs->n / 4);
    return 0;
}

TEST_TIMING(time_cancel_storm_timeouts)
{
    cstorm cs;
    memset(&cs, 0, sizeof cs);
    rng_seed(99);
    cs.n = SCALE(50000, 10000, 10000);
    cs.probes = calloc(cs.n, sizeof *cs.probes);
    cs.outer = calloc(cs.n, sizeof *cs.outer);
    cs.completed_at = calloc(cs.n, sizeof *cs.completed_at);
    cs.timeout_woke = calloc(cs.n, sizeof *cs.timeout_woke);
    cs.results = calloc(cs.n, sizeof *cs.results);
    cs.deadlines = calloc(cs.n, sizeof *cs.deadlines);
    cs.inner_d = calloc(cs.n, sizeof *cs.inner_d);
    cs.limit_d = calloc(cs.n, sizeof *cs.limit_d);
    CHECK(cs.probes && cs.outer && cs.completed_at && cs.timeout_woke && cs.results &&
          cs.deadlines && cs.inner_d && cs.limit_d);
    CHECK_EQ(run_main(cstorm_main, &cs), 0);
    free(cs.probes);
    free(cs.outer);
    free(cs.completed_at);
    free(cs.timeout_woke);
    free(cs.results);
    free(cs.deadlines);
    free(cs.inner_d);
    free(cs.limit_d);
}

/* Coroutines awaiting spy(sleep); half are aborted long before their
 * deadline: their await returns CORIO_ECANCELED at once, the sleep is
 * dropped exactly once, taken out of the wheel, and never fires. The other
 * half sleep on and fire once each, at or after their deadlines.
 *
 * The aborted half's deadlines are an hour away, so the aborts come before
 * them however slow the machine (starting thousands of coroutines, and
 * arming their sleeps, takes seconds under sanitizers on a loaded machine):
 * that a dropped sleep never fires is checked by its timer being disarmed
 * (a timer the wheel no longer holds cannot fire), and by no wake reaching
 * its spy while the kept half's timers fire around it. */
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
    corio_duration head = i % 2 ? CORIO_SEC(3600) : CORIO_MSEC(300); /* odd: aborted */
    abort_storm->deadlines[i] = corio_instant_add(
        abort_gate.base, head + (corio_duration)(abort_storm->deadlines[i]));
    probe_init(&abort_storm->probes[i], abort_storm->deadlines[i]);
    astorm_armed++;
    int rc = corio_await(&abort_storm->probes[i].sp.base);
    abort_storm->returned_at[i] = corio_instant_now();
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
    corio_instant start = corio_instant_now();
    for (size_t i = 0; i < as->n; i++) {
        as->deadlines[i] = rng_below(CORIO_MSEC(200)); /* an offset from the base */
        as->await_rc[i] = 1;
        CHECK_EQ(corio_spawn(astorm_fn, (void *)(uintptr_t)i, &h[i]), 0);
        CHECK(h[i] != NULL);
    }
    yield_until(&abort_gate.started, as->n);
    abort_gate.base = corio_instant_now();
    gate_open(&abort_gate, as->n);
    yield_until(&astorm_armed, as->n);
    corio_instant abort_at = corio_instant_now();
    printf("abort storm: %.1f ms to spawn and start them all, %.1f ms to arm their sleeps\n",
           MS(abort_gate.base - start), MS(abort_at - abort_gate.base));
    /* Every sleep is armed, and no aborted one can be due (an hour away). */
    corio_instant last = abort_at, first_aborted_deadline = UINT64_MAX;
    for (size_t i = 0; i < as->n; i++) {
        CHECK(corio_timer_is_armed(&as->probes[i].sleep.timer) ||
              (i % 2 == 0 && as->deadlines[i] <= corio_instant_now()));
        if (i % 2 == 0 && as->deadlines[i] > last)
            last = as->deadlines[i];
        if (i % 2 && as->deadlines[i] < first_aborted_deadline)
            first_aborted_deadline = as->deadlines[i];
    }
    CHECK(abort_at < first_aborted_deadline);
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
    /* Past every kept deadline: the kept timers fire around the dropped
     * ones (a wheel that fired a slot's neighbours by mistake would show
     * here), and a wake sent to an aborted sleeper would arrive. */
    CHECK_EQ(corio_sleep_until(corio_instant_add(last, CORIO_MSEC(60))), 0);
    corio_duration max_cancel_delay = 0;
    for (size_t i = 0; i < as->n; i++) {
        probe *p = &as->probes[i];
        if (i % 2) {
            /* Aborted before its deadline (an hour away): the await returned
             * CORIO_ECANCELED at once, the sleep was dropped exactly once,
             * its timer taken out of the wheel (so it can never fire), and
             * nothing ever woke it. */
            CHECK_EQ(as->await_rc[i], CORIO_ECANCELED);
            corio_duration dl = (corio_duration)(as->returned_at[i] - abort_at);
            if (dl > max_cancel_delay)
                max_cancel_delay = dl;
            if (p->sp.drops != 1 || atomic_load(&p->sp.wakes_after_drop) != 0 ||
                corio_timer_is_armed(&p->sleep.timer))
                test_failf(__FILE__, __LINE__,
                           "aborted sleeper %zu: drops %d wakes after drop %d, timer %s", i,
                           p->sp.drops, atomic_load(&p->sp.wakes_after_drop),
                           corio_timer_is_armed(&p->sleep.timer) ? "still armed" : "disarmed");
            if (atomic_load(&p->sp.wakes) != 0 || as->returned_at[i] >= as->deadlines[i])
                test_failf(__FILE__, __LINE__,
                           "aborted sleeper %zu: woken %d times, returned %.3f ms after its "
                           "deadline",
                           i, atomic_load(&p->sp.wakes),
                           ((double)as->returned_at[i] - (double)as->deadlines[i]) / 1e6);
        } else {
            /* Kept: fired once, not early. (Its deadline may have passed by
             * the time it was first polled, on a slow machine: then the
             * sleep was ready at that poll, with no wake.) */
            CHECK_EQ(as->await_rc[i], 0);
            CHECK(as->returned_at[i] >= as->deadlines[i]);
            CHECK_EQ(p->sp.drops, 0);
            CHECK(!corio_timer_is_armed(&p->sleep.timer));
            int wakes = atomic_load(&p->sp.wakes);
            if (!(wakes == 1 || (wakes == 0 && p->sp.polls == 1)))
                test_failf(__FILE__, __LINE__, "kept sleeper %zu: woken %d times, polled %d",
                           i, wakes, p->sp.polls);
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
    /* Under TSan each coroutine stack gets a sanitizer fiber, and creating
     * one costs ~8 ms of CPU (gcc 12's libtsan; the spawn and first run of
     * 1000 coroutines took 8 to 13 s of CPU, linear in their number). */
    as.n = SCALE(20000, 5000, 400);
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
