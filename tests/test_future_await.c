/* tests/test_future_await.c - driving futures (corio/future.h): how a future
 * is polled and what awaiting it returns.
 *
 * Covers: laziness (an initialised future is never polled by itself), custom
 * leaf futures driven by wake_by_ref and completed from foreign pthreads,
 * corio_await / corio_block_on_future / corio_rt_block_on_future (a status;
 * the output in fut->result) outside and inside tasks and in the wrong
 * context, dropping of abandoned futures, and a stress loop of many awaiting
 * tasks that fails on a lost wakeup. The waker API itself and tasks' wakers
 * are in test_future_waker.c.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include <corio.h>

#include "test.h"
#include "util.h"

/* ==== laziness ============================================================ */

typedef struct lazy_ctx {
    count_fut f;
    int ran;
} lazy_ctx;

static int lazy_task(void *arg)
{
    lazy_ctx *lc = arg;
    count_init(&lc->f, 0, 5); /* initialised on the task's stack, never awaited */
    CHECK_EQ(corio_yield(), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    lc->ran = 1;
    return 0;
}

TEST(future_lazy_init_never_polls)
{
    lazy_ctx lc = {.ran = 0};
    /* A future initialised in plain code, and one inside a task: neither is
     * ever polled (or dropped) when nobody awaits it. */
    count_fut outside;
    count_init(&outside, 0, 1);
    int r = -1;
    CHECK_EQ(corio_run(lazy_task, &lc, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(lc.ran, 1);
    CHECK_EQ(atomic_load(&lc.f.polls), 0);
    CHECK_EQ(atomic_load(&lc.f.drops), 0);
    CHECK_EQ(atomic_load(&outside.polls), 0);
    CHECK_EQ(atomic_load(&outside.drops), 0);
}

/* A future spawned as a stackless task is polled only once the runtime is
 * driven, not at spawn time; cancelled unpolled, it is dropped, never polled. */
TEST(future_lazy_spawned_future_polled_only_when_driven)
{
    corio_rt *rt = new_rt();
    slot s;
    slot_init(&s);
    slot_fut f;
    slot_fut_init(&f, &s);
    corio_task *t = NULL;
    corio_spawn_opts o = {.rt = rt};
    CHECK_EQ(corio_spawn_future_ex(&o, CORIO_HERE, &f.base, sizeof f, &t), 0);
    sleep_ms(20);
    CHECK(!corio_task_is_finished(t));
    CHECK_EQ(slot_polls(&s), 0);
    CHECK_EQ(corio_rt_free(rt), 0); /* cancels it: dropped, never polled */
    CHECK(corio_task_is_finished(t));
    CHECK_EQ(slot_polls(&s), 0);
    CHECK_EQ(s.drops, 1);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, CORIO_ECANCELED);
    slot_destroy(&s);
}

/* ==== count to three ====================================================== */

static int count_task(void *arg)
{
    count_fut *f = arg;
    CHECK_EQ(corio_await(&f->base), 0);
    CHECK_EQ(atomic_load(&f->polls), 4);
    return f->base.result;
}

TEST(future_count_to_three_in_coroutine)
{
    count_fut f;
    count_init(&f, 3, 42);
    int r = -1;
    CHECK_EQ(corio_run(count_task, &f, &r), 0);
    CHECK_EQ(r, 42);
    CHECK_EQ(atomic_load(&f.polls), 4); /* PENDING x3, then READY */
    CHECK_EQ(atomic_load(&f.drops), 0); /* finished futures are not dropped */
}

TEST(future_count_to_three_block_on_future)
{
    count_fut f;
    count_init(&f, 3, 17);
    CHECK_EQ(corio_block_on_future(&f.base), 0);
    CHECK_EQ(f.base.result, 17);
    CHECK_EQ(atomic_load(&f.polls), 4);
    CHECK_EQ(atomic_load(&f.drops), 0);

    corio_rt *rt = new_rt();
    count_init(&f, 3, -5);
    CHECK_EQ(corio_rt_block_on_future(rt, &f.base), 0);
    CHECK_EQ(f.base.result, -5);
    CHECK_EQ(atomic_load(&f.polls), 4);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Many self-waking futures in many tasks at once: each gets exactly the polls
 * it asked for (a lost or duplicated wake would show in the count or hang). */
static int count_many_task(void *arg)
{
    count_fut *f = arg;
    CHECK_EQ(corio_await(&f->base), 0);
    return f->base.result;
}

static int count_many_main(void *arg)
{
    enum { N = 64 };
    static count_fut fs[N];
    corio_task *ts[N];
    for (int i = 0; i < N; i++) {
        count_init(&fs[i], i, i * 10);
        CHECK_EQ(corio_spawn(count_many_task, &fs[i], &ts[i]), 0);
        CHECK(ts[i] != NULL);
    }
    for (int i = 0; i < N; i++) {
        int r = -1;
        CHECK_EQ(corio_task_join(ts[i], &r), 0);
        CHECK_EQ(r, i * 10);
        CHECK_EQ(atomic_load(&fs[i].polls), i + 1);
    }
    return 0;
}

TEST(future_count_many_tasks_exact_polls)
{
    int r = -1;
    CHECK_EQ(corio_run(count_many_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
}

/* ==== wakers fired from a foreign pthread ================================ */

typedef struct foreign_ctx {
    slot s;
    int delay_ms;
    int value;
    pthread_t waiter_thread;
    atomic_int woke;
} foreign_ctx;

static void *foreign_completer(void *arg)
{
    foreign_ctx *fc = arg;
    thread_wait_waker(&fc->s);
    sleep_ms(fc->delay_ms);
    atomic_store(&fc->woke, 1);
    slot_complete(&fc->s, fc->value);
    return NULL;
}

static int foreign_wait_task(void *arg)
{
    foreign_ctx *fc = arg;
    slot_fut f;
    slot_fut_init(&f, &fc->s);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(atomic_load(&fc->woke), 1); /* resumed only after the wake */
    CHECK(pthread_equal(pthread_self(), fc->waiter_thread));
    return f.base.result;
}

TEST(future_waker_fired_from_foreign_thread)
{
    foreign_ctx fc;
    slot_init(&fc.s);
    fc.delay_ms = 30;
    fc.value = 1234;
    fc.waiter_thread = pthread_self();
    atomic_init(&fc.woke, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, foreign_completer, &fc), 0);
    /* A current-thread runtime: the task resumes on this thread. */
    CHECK_EQ(run_main(foreign_wait_task, &fc), 1234);
    pthread_join(th, NULL);
    CHECK_EQ(slot_polls(&fc.s), 2); /* one PENDING, one READY after the wake */
    CHECK_EQ(fc.s.drops, 0);
    CHECK(fc.s.waker.vtable == NULL); /* the READY poll released the waker */
    slot_destroy(&fc.s);
}

/* The same with a stackless task, and the thread waking with wake_by_ref on
 * a clone that it then drops. */
static void *foreign_by_ref(void *arg)
{
    slot *s = arg;
    thread_wait_waker(s);
    sleep_ms(10);
    pthread_mutex_lock(&s->mu);
    s->ready = true;
    s->value = 88;
    corio_waker c = corio_waker_clone(&s->waker);
    pthread_mutex_unlock(&s->mu);
    corio_waker_wake_by_ref(&c);
    corio_waker_wake_by_ref(&c); /* a second wake is harmless */
    corio_waker_drop(&c);
    CHECK(c.vtable == NULL);
    return NULL;
}

TEST(future_stackless_woken_by_ref_from_foreign_thread)
{
    slot s;
    slot_init(&s);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, foreign_by_ref, &s), 0);
    corio_rt *rt = new_rt();
    slot_fut f;
    slot_fut_init(&f, &s);
    CHECK_EQ(corio_rt_block_on_future(rt, &f.base), 0);
    CHECK_EQ(f.base.result, 88);
    pthread_join(th, NULL);
    CHECK(slot_polls(&s) >= 2);
    CHECK_EQ(s.drops, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    slot_destroy(&s);
}

/* corio_block_on_future from plain code, woken from another thread. */
TEST(future_block_on_future_woken_from_foreign_thread)
{
    foreign_ctx fc;
    slot_init(&fc.s);
    fc.delay_ms = 20;
    fc.value = -77;
    atomic_init(&fc.woke, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, foreign_completer, &fc), 0);
    slot_fut f;
    slot_fut_init(&f, &fc.s);
    double t0 = mono_ms();
    CHECK_EQ(corio_block_on_future(&f.base), 0);
    CHECK_EQ(f.base.result, -77);
    CHECK(mono_ms() - t0 >= 15);
    CHECK_EQ(atomic_load(&fc.woke), 1);
    pthread_join(th, NULL);
    CHECK_EQ(slot_polls(&fc.s), 2);
    slot_destroy(&fc.s);
}

/* corio_block_on_future with a future that needs a timer. */
TEST(future_block_on_future_sleep)
{
    corio_instant t0 = corio_instant_now(); /* before the init reads the clock */
    corio_sleep_fut sf;
    corio_sleep_fut_init(&sf, CORIO_MSEC(25));
    CHECK_EQ(corio_block_on_future(&sf.base), 0);
    CHECK_EQ(sf.base.result, 0);
    CHECK(corio_instant_now() - t0 >= (corio_instant)CORIO_MSEC(25));
}

/* ==== awaiting in the wrong context ====================================== */

TEST(future_await_in_plain_code_is_wrongctx)
{
    count_fut f;
    count_init(&f, 0, 1);
    CHECK_EQ(corio_await(&f.base), CORIO_EWRONGCTX);
    CHECK_EQ(atomic_load(&f.polls), 0); /* left alone: not polled */
    CHECK_EQ(atomic_load(&f.drops), 0); /* and not dropped */
    /* still usable afterwards */
    CHECK_EQ(corio_block_on_future(&f.base), 0);
    CHECK_EQ(f.base.result, 1);
    CHECK_EQ(atomic_load(&f.polls), 1);
}

static int block_on_future_in_task(void *arg)
{
    count_fut f;
    count_init(&f, 0, 1);
    CHECK_EQ(corio_block_on_future(&f.base), CORIO_EWRONGCTX);
    CHECK_EQ(atomic_load(&f.polls), 0);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 1);
    return 0;
}

TEST(future_block_on_future_in_task_is_wrongctx)
{
    int r = -1;
    CHECK_EQ(corio_run(block_on_future_in_task, NULL, &r), 0);
    CHECK_EQ(r, 0);
}

/* Inside a stackless task's poll there is no coroutine to suspend: awaiting
 * and yielding there are refused, the rest of the context is present. */
typedef struct probe_fut {
    corio_future base;
    int await_rc, yield_rc, block_rc;
    uint64_t id;
    corio_rt *rt;
} probe_fut;

static corio_poll probe_poll(corio_future *f, corio_context *cx)
{
    probe_fut *p = (probe_fut *)f;
    count_fut inner;
    count_init(&inner, 0, 1);
    p->await_rc = corio_await(&inner.base);
    p->yield_rc = corio_yield();
    p->block_rc = corio_block_on_future(&inner.base);
    CHECK_EQ(atomic_load(&inner.polls), 0);
    p->id = corio_task_id(corio_task_current());
    p->rt = corio_rt_current();
    f->result = 5;
    return CORIO_READY;
}
static const corio_future_vtable probe_vt = {probe_poll, NULL};

TEST(future_await_inside_stackless_poll_is_wrongctx)
{
    corio_rt *rt = new_rt();
    probe_fut p;
    memset(&p, 0, sizeof p);
    corio_future_init(&p.base, &probe_vt);
    CHECK_EQ(corio_rt_block_on_future(rt, &p.base), 0);
    CHECK_EQ(p.base.result, 5);
    CHECK_EQ(p.await_rc, CORIO_EWRONGCTX);
    CHECK_EQ(p.yield_rc, CORIO_EWRONGCTX);
    CHECK_EQ(p.block_rc, CORIO_EWRONGCTX);
    CHECK(p.id != 0);
    CHECK(p.rt == rt);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ==== abandoned futures are dropped exactly once ========================== */

static int timeout_drop_task(void *arg)
{
    slot *s = arg;
    slot_fut f;
    slot_fut_init(&f, s);
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(20)), CORIO_ETIMEDOUT);
    CHECK(corio_instant_now() - t0 >= (corio_instant)CORIO_MSEC(20));
    CHECK_EQ(s->drops, 1);
    CHECK(s->waker.vtable == NULL); /* the drop released the stored waker */
    /* a ready inner future never times out and is not dropped */
    count_fut c;
    count_init(&c, 2, 9);
    CHECK_EQ(corio_timeout(&c.base, CORIO_MSEC(500)), 0);
    CHECK_EQ(c.base.result, 9);
    CHECK_EQ(atomic_load(&c.drops), 0);
    return 0;
}

TEST(future_timeout_drops_inner_once)
{
    slot s;
    slot_init(&s);
    int r = -1;
    CHECK_EQ(corio_run(timeout_drop_task, &s, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(s.drops, 1);
    CHECK(slot_polls(&s) >= 1);
    slot_destroy(&s);
}


/* Many tasks (coroutines and stackless) waiting on a gate that a foreign
 * thread opens round after round. Each round every waiter must be woken: one
 * lost wakeup leaves the round unfinished and the test times out. */
enum { GATE_CORO = 100, GATE_STACKLESS = 100, GATE_WAITERS = GATE_CORO + GATE_STACKLESS };

typedef struct round_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int round;                     /* opened rounds */
    corio_waker wakers[GATE_WAITERS];
    int arrived;                   /* waiters done with the current round */
    int rounds_total;
} round_gate;

typedef struct gate_fut {
    corio_future base;
    round_gate *g;
    int idx;
    int want; /* round to wait for */
} gate_fut;

static corio_poll gate_poll(corio_future *f, corio_context *cx)
{
    gate_fut *gf = (gate_fut *)f;
    round_gate *g = gf->g;
    pthread_mutex_lock(&g->mu);
    if (g->round >= gf->want) {
        corio_waker_drop(&g->wakers[gf->idx]);
        pthread_mutex_unlock(&g->mu);
        f->result = 0;
        return CORIO_READY;
    }
    corio_waker_store(&g->wakers[gf->idx], corio_context_waker(cx));
    pthread_mutex_unlock(&g->mu);
    return CORIO_PENDING;
}
static void gate_drop(corio_future *f)
{
    gate_fut *gf = (gate_fut *)f;
    pthread_mutex_lock(&gf->g->mu);
    corio_waker_drop(&gf->g->wakers[gf->idx]);
    pthread_mutex_unlock(&gf->g->mu);
}
static const corio_future_vtable gate_vt = {gate_poll, gate_drop};

static void gate_arrive(round_gate *g)
{
    pthread_mutex_lock(&g->mu);
    if (++g->arrived == GATE_WAITERS)
        pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* A stackless waiter: goes through all rounds in one future. */
typedef struct gate_sl {
    corio_future base;
    gate_fut inner;
} gate_sl;

static corio_poll gate_sl_poll(corio_future *f, corio_context *cx)
{
    gate_sl *s = (gate_sl *)f;
    for (;;) {
        if (gate_poll(&s->inner.base, cx) == CORIO_PENDING)
            return CORIO_PENDING;
        gate_arrive(s->inner.g);
        if (s->inner.want == s->inner.g->rounds_total) {
            f->result = s->inner.idx;
            return CORIO_READY;
        }
        s->inner.want++;
    }
}
static void gate_sl_drop(corio_future *f)
{
    gate_drop(&((gate_sl *)f)->inner.base);
}
static const corio_future_vtable gate_sl_vt = {gate_sl_poll, gate_sl_drop};

typedef struct gate_arg {
    round_gate *g;
    int idx;
} gate_arg;

static int gate_coro(void *arg)
{
    gate_arg *a = arg;
    for (int r = 1; r <= a->g->rounds_total; r++) {
        gate_fut f;
        corio_future_init(&f.base, &gate_vt);
        f.g = a->g;
        f.idx = a->idx;
        f.want = r;
        CHECK_EQ(corio_await(&f.base), 0);
        gate_arrive(a->g);
    }
    return a->idx;
}

static void *gate_opener(void *arg)
{
    round_gate *g = arg;
    for (int r = 1; r <= g->rounds_total; r++) {
        corio_waker ws[GATE_WAITERS];
        pthread_mutex_lock(&g->mu);
        g->arrived = 0;
        g->round = r;
        for (int i = 0; i < GATE_WAITERS; i++) {
            ws[i] = g->wakers[i];
            g->wakers[i] = CORIO_WAKER_NONE;
        }
        pthread_mutex_unlock(&g->mu);
        for (int i = 0; i < GATE_WAITERS; i++)
            corio_waker_wake(&ws[i]);
        pthread_mutex_lock(&g->mu);
        while (g->arrived < GATE_WAITERS)
            pthread_cond_wait(&g->cv, &g->mu);
        pthread_mutex_unlock(&g->mu);
    }
    return NULL;
}

static int gate_main(void *arg)
{
    round_gate *g = arg;
    static gate_arg args[GATE_CORO];
    corio_task *ts[GATE_WAITERS];
    for (int i = 0; i < GATE_CORO; i++) {
        args[i] = (gate_arg){g, i};
        CHECK_EQ(corio_spawn(gate_coro, &args[i], &ts[i]), 0);
        CHECK(ts[i] != NULL);
    }
    for (int i = GATE_CORO; i < GATE_WAITERS; i++) {
        gate_sl s;
        corio_future_init(&s.base, &gate_sl_vt);
        s.inner.g = g;
        s.inner.idx = i;
        s.inner.want = 1;
        CHECK_EQ(corio_spawn_future(&s.base, sizeof s, &ts[i]), 0);
    }
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, gate_opener, g), 0);
    for (int i = 0; i < GATE_WAITERS; i++) {
        int r = -1;
        CHECK_EQ(corio_task_join(ts[i], &r), 0);
        CHECK_EQ(r, i);
    }
    pthread_join(th, NULL);
    return 0;
}

TEST(future_stress_gate_no_lost_wakeup)
{
    round_gate *g = calloc(1, sizeof *g);
    CHECK(g != NULL);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->rounds_total = UNDER_SAN ? 150 : 2000;
    int r = -1;
    CHECK_EQ(corio_run(gate_main, g, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(g->round, g->rounds_total);
    for (int i = 0; i < GATE_WAITERS; i++)
        CHECK(g->wakers[i].vtable == NULL);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
