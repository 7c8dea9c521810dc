/* tests/test_future.c - futures and wakers (corio/future.h).
 *
 * Covers: laziness (an initialised future is never polled by itself), custom
 * leaf futures driven by wake_by_ref and by wakers fired from foreign
 * pthreads, the waker operations (clone, drop, wake, wake_by_ref, will_wake,
 * store, noop, the empty waker) checked against a counting waker, waking a
 * task while it runs, waking finished tasks (also after the runtime is gone),
 * corio_await / corio_block_on_future outside and inside tasks, dropping of
 * abandoned futures, and stress loops that fail on a lost wakeup or a
 * use-after-free of a task reached through its wakers.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

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
    CHECK_EQ(corio_yield_now(), 0);
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
    CHECK_EQ(corio_run(lazy_task, &lc), 0);
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
    CHECK_EQ(corio_spawn_future_at(&t, &o, &f.base, sizeof f, CORIO_HERE), 0);
    sleep_ms(20);
    CHECK(!corio_task_is_finished(t));
    CHECK_EQ(slot_polls(&s), 0);
    corio_rt_free(rt); /* cancels it: dropped, never polled */
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
    int r = corio_await(&f->base);
    CHECK_EQ(atomic_load(&f->polls), 4);
    return r;
}

TEST(future_count_to_three_in_coroutine)
{
    count_fut f;
    count_init(&f, 3, 42);
    CHECK_EQ(corio_run(count_task, &f), 42);
    CHECK_EQ(atomic_load(&f.polls), 4); /* PENDING x3, then READY */
    CHECK_EQ(atomic_load(&f.drops), 0); /* finished futures are not dropped */
}

TEST(future_count_to_three_block_on_future)
{
    count_fut f;
    count_init(&f, 3, 17);
    CHECK_EQ(corio_block_on_future(&f.base), 17);
    CHECK_EQ(atomic_load(&f.polls), 4);
    CHECK_EQ(atomic_load(&f.drops), 0);

    corio_rt *rt = new_rt();
    count_init(&f, 3, -5);
    CHECK_EQ(corio_rt_block_on_future(rt, &f.base), -5);
    CHECK_EQ(atomic_load(&f.polls), 4);
    corio_rt_free(rt);
}

/* Many self-waking futures in many tasks at once: each gets exactly the polls
 * it asked for (a lost or duplicated wake would show in the count or hang). */
static int count_many_task(void *arg)
{
    count_fut *f = arg;
    return corio_await(&f->base);
}

static int count_many_main(void *arg)
{
    enum { N = 64 };
    static count_fut fs[N];
    corio_task *ts[N];
    for (int i = 0; i < N; i++) {
        count_init(&fs[i], i, i * 10);
        ts[i] = corio_spawn(count_many_task, &fs[i]);
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
    CHECK_EQ(corio_run(count_many_main, NULL), 0);
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
    int r = corio_await(&f.base);
    CHECK_EQ(atomic_load(&fc->woke), 1); /* resumed only after the wake */
    CHECK(pthread_equal(pthread_self(), fc->waiter_thread));
    return r;
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
    CHECK_EQ(corio_run(foreign_wait_task, &fc), 1234);
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
    CHECK_EQ(corio_rt_block_on_future(rt, &f.base), 88);
    pthread_join(th, NULL);
    CHECK(slot_polls(&s) >= 2);
    CHECK_EQ(s.drops, 0);
    corio_rt_free(rt);
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
    CHECK_EQ(corio_block_on_future(&f.base), -77);
    CHECK(mono_ms() - t0 >= 15);
    CHECK_EQ(atomic_load(&fc.woke), 1);
    pthread_join(th, NULL);
    CHECK_EQ(slot_polls(&fc.s), 2);
    slot_destroy(&fc.s);
}

/* corio_block_on_future with a future that needs a timer. */
TEST(future_block_on_future_sleep)
{
    corio_sleep_fut sf;
    corio_sleep_fut_init(&sf, CORIO_MSEC(25));
    corio_instant t0 = corio_now();
    CHECK_EQ(corio_block_on_future(&sf.base), 0);
    CHECK(corio_now() - t0 >= (corio_instant)CORIO_MSEC(25));
}

/* ==== the waker API ======================================================= */

TEST(future_waker_api_semantics)
{
    cw_target a, b;
    corio_waker wa = cw_new(&a);
    corio_waker wb = cw_new(&b);

    /* clone: one clone call, same target */
    corio_waker c = corio_waker_clone(&wa);
    CHECK_EQ(atomic_load(&a.clones), 1);
    CHECK_EQ(atomic_load(&a.refs), 2);
    CHECK(corio_waker_will_wake(&c, &wa));
    CHECK(!corio_waker_will_wake(&c, &wb));

    /* wake_by_ref: the waker stays valid */
    corio_waker_wake_by_ref(&c);
    CHECK_EQ(atomic_load(&a.wake_by_refs), 1);
    CHECK(c.vtable == &cw_vt);
    CHECK_EQ(atomic_load(&a.refs), 2);

    /* wake: consumes, leaves the empty waker */
    corio_waker_wake(&c);
    CHECK_EQ(atomic_load(&a.wakes), 1);
    CHECK(c.vtable == NULL && c.data == NULL);
    CHECK_EQ(atomic_load(&a.refs), 1);
    /* operations on the empty waker do nothing */
    corio_waker_wake(&c);
    corio_waker_wake_by_ref(&c);
    corio_waker_drop(&c);
    corio_waker none_clone = corio_waker_clone(&c);
    CHECK(none_clone.vtable == NULL);
    CHECK_EQ(atomic_load(&a.wakes), 1);
    CHECK_EQ(atomic_load(&a.drops), 0);
    CHECK_EQ(atomic_load(&a.clones), 1);

    /* drop: releases without waking */
    corio_waker d = corio_waker_clone(&wa);
    corio_waker_drop(&d);
    CHECK(d.vtable == NULL);
    CHECK_EQ(atomic_load(&a.drops), 1);
    CHECK_EQ(atomic_load(&a.wakes), 1);
    CHECK_EQ(atomic_load(&a.wake_by_refs), 1);
    CHECK_EQ(atomic_load(&a.refs), 1);

    /* store into the empty slot: one clone */
    corio_waker slotw = CORIO_WAKER_NONE;
    corio_waker_store(&slotw, &wa);
    CHECK_EQ(atomic_load(&a.clones), 3);
    CHECK(corio_waker_will_wake(&slotw, &wa));
    /* store of the same target: nothing happens */
    corio_waker_store(&slotw, &wa);
    corio_waker_store(&slotw, &wa);
    CHECK_EQ(atomic_load(&a.clones), 3);
    CHECK_EQ(atomic_load(&a.drops), 1);
    /* store of another target: the old one is dropped, the new one cloned */
    corio_waker_store(&slotw, &wb);
    CHECK_EQ(atomic_load(&a.drops), 2);
    CHECK_EQ(atomic_load(&b.clones), 1);
    CHECK(corio_waker_will_wake(&slotw, &wb));
    CHECK_EQ(atomic_load(&a.refs), 1);
    CHECK_EQ(atomic_load(&b.refs), 2);
    /* store of the empty waker into a full slot empties it */
    corio_waker empty = CORIO_WAKER_NONE;
    corio_waker_store(&slotw, &empty);
    CHECK(slotw.vtable == NULL);
    CHECK_EQ(atomic_load(&b.refs), 1);

    /* will_wake of the empty waker with itself */
    corio_waker e2 = CORIO_WAKER_NONE;
    CHECK(corio_waker_will_wake(&empty, &e2));
    CHECK(!corio_waker_will_wake(&empty, &wa));

    corio_waker_drop(&wa);
    corio_waker_drop(&wb);
    CHECK_EQ(atomic_load(&a.refs), 0);
    CHECK_EQ(atomic_load(&b.refs), 0);
    CHECK_EQ(atomic_load(&a.wake_by_refs), 1);
    CHECK_EQ(atomic_load(&b.wakes), 0);
}

TEST(future_waker_noop)
{
    corio_waker n = corio_waker_noop();
    CHECK(n.vtable != NULL);
    corio_waker n2 = corio_waker_noop();
    CHECK(corio_waker_will_wake(&n, &n2));
    corio_waker c = corio_waker_clone(&n);
    CHECK(corio_waker_will_wake(&c, &n));
    corio_waker_wake_by_ref(&c);
    corio_waker_wake(&c);
    CHECK(c.vtable == NULL);
    corio_waker_drop(&n2);
    CHECK(n2.vtable == NULL);
    /* store of a noop waker, twice: the second keeps the first */
    corio_waker slotw = CORIO_WAKER_NONE;
    corio_waker_store(&slotw, &n);
    CHECK(corio_waker_will_wake(&slotw, &n));
    corio_waker_store(&slotw, &n);
    corio_waker_drop(&slotw);

    /* polling a future by hand with the noop waker */
    count_fut f;
    count_init(&f, 2, 3);
    corio_context cx = {&n};
    CHECK_EQ(corio_future_poll(&f.base, &cx), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&f.base, &cx), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&f.base, &cx), CORIO_READY);
    CHECK_EQ(f.base.result, 3);
    corio_waker_drop(&n);
}

/* A task's waker: clones compare equal to the borrowed one it was made from,
 * are distinct from another task's, and many clones/drops leave nothing
 * behind (the leak checker of the ASan build sees the task freed). */
typedef struct grab_fut {
    corio_future base;
    corio_waker *out;
} grab_fut;

static corio_poll grab_poll(corio_future *f, corio_context *cx)
{
    grab_fut *g = (grab_fut *)f;
    *g->out = corio_waker_clone(corio_context_waker(cx));
    f->result = 0;
    return CORIO_READY;
}
static const corio_future_vtable grab_vt = {grab_poll, NULL};

/* The calling task's own waker (a clone). */
static corio_waker my_waker(void)
{
    corio_waker w = CORIO_WAKER_NONE;
    grab_fut g;
    corio_future_init(&g.base, &grab_vt);
    g.out = &w;
    CHECK_EQ(corio_await(&g.base), 0);
    CHECK(w.vtable != NULL);
    return w;
}

static corio_waker other_waker;

static int waker_other_task(void *arg)
{
    other_waker = my_waker();
    return 0;
}

static int waker_identity_main(void *arg)
{
    corio_waker w1 = my_waker();
    corio_waker w2 = my_waker();
    CHECK(corio_waker_will_wake(&w1, &w2));
    corio_task *t = corio_spawn(waker_other_task, NULL);
    CHECK(t != NULL);
    CHECK_EQ(corio_task_join(t, NULL), 0);
    CHECK(!corio_waker_will_wake(&w1, &other_waker));
    corio_waker n = corio_waker_noop();
    CHECK(!corio_waker_will_wake(&w1, &n));
    corio_waker clones[500];
    for (int i = 0; i < 500; i++) {
        clones[i] = corio_waker_clone(&w1);
        CHECK(corio_waker_will_wake(&clones[i], &w1));
    }
    for (int i = 0; i < 500; i++)
        corio_waker_drop(&clones[i]);
    corio_waker_drop(&w2);
    corio_waker_drop(&w1);
    corio_waker_drop(&other_waker); /* the other task is finished: this frees it */
    return 0;
}

TEST(future_task_waker_identity_and_refcount)
{
    CHECK_EQ(corio_run(waker_identity_main, NULL), 0);
}

/* A wake while the task runs is not lost: the task is polled again even if
 * the future it then awaits registered nothing. */
typedef struct pending_once_fut {
    corio_future base;
    int polls;
} pending_once_fut;

static corio_poll pending_once_poll(corio_future *f, corio_context *cx)
{
    pending_once_fut *p = (pending_once_fut *)f;
    if (p->polls++ == 0)
        return CORIO_PENDING; /* registers nothing: only an earlier wake helps */
    f->result = 0;
    return CORIO_READY;
}
static const corio_future_vtable pending_once_vt = {pending_once_poll, NULL};

static int wake_while_running_task(void *arg)
{
    corio_waker w = my_waker();
    corio_waker_wake_by_ref(&w); /* while running: only sets NOTIFIED */
    pending_once_fut p;
    corio_future_init(&p.base, &pending_once_vt);
    p.polls = 0;
    CHECK_EQ(corio_await(&p.base), 0);
    CHECK_EQ(p.polls, 2);
    /* the same with a consuming wake */
    corio_waker_wake(&w);
    CHECK(w.vtable == NULL);
    p.polls = 0;
    CHECK_EQ(corio_await(&p.base), 0);
    CHECK_EQ(p.polls, 2);
    return 3;
}

TEST(future_wake_while_running_repolls)
{
    CHECK_EQ(corio_run(wake_while_running_task, NULL), 3);
}

/* ==== waking finished tasks =============================================== */

static int finished_runs;

static int finished_task(void *arg)
{
    corio_waker *out = arg;
    finished_runs++;
    *out = my_waker();
    return 11;
}

typedef struct finished_ctx {
    corio_waker kept[3];
} finished_ctx;

static int finished_main(void *arg)
{
    finished_ctx *fc = arg;
    corio_task *t = corio_spawn(finished_task, &fc->kept[0]);
    CHECK(t != NULL);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 11);
    fc->kept[1] = corio_waker_clone(&fc->kept[0]);
    fc->kept[2] = corio_waker_clone(&fc->kept[0]);
    /* wake the finished task, on the runtime's thread */
    corio_waker_wake_by_ref(&fc->kept[0]);
    corio_waker_wake(&fc->kept[1]);
    CHECK_EQ(corio_sleep(CORIO_MSEC(2)), 0);
    CHECK_EQ(corio_yield_now(), 0);
    CHECK_EQ(finished_runs, 1); /* it did not run again */
    return 0;
}

static void *wake_kept(void *arg)
{
    finished_ctx *fc = arg;
    corio_waker_wake_by_ref(&fc->kept[2]);
    corio_waker_wake(&fc->kept[2]);
    return NULL;
}

TEST(future_wake_finished_task_harmless)
{
    finished_runs = 0;
    finished_ctx fc;
    corio_rt *rt = new_rt();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, finished_main, &fc, &r), 0);
    CHECK_EQ(r, 0);
    /* from a foreign thread while the runtime is not driven */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, wake_kept, &fc), 0);
    pthread_join(th, NULL);
    CHECK(fc.kept[2].vtable == NULL);
    corio_rt_free(rt);
    /* and after the runtime is gone: the waker keeps the task alive */
    corio_waker_wake_by_ref(&fc.kept[0]);
    corio_waker_wake(&fc.kept[0]);
    CHECK(fc.kept[0].vtable == NULL);
    CHECK_EQ(finished_runs, 1);
}

/* A waker that outlives its runtime, held by a thread while the runtime shuts
 * down and cancels the task: waking and dropping it afterwards is harmless. */
typedef struct outlive_ctx {
    slot s;
    corio_waker held;
    atomic_int cleanup;
} outlive_ctx;

static int outlive_task(void *arg)
{
    outlive_ctx *oc = arg;
    slot_fut f;
    slot_fut_init(&f, &oc->s);
    CHECK_EQ(corio_await(&f.base), CORIO_ECANCELED);
    atomic_fetch_add(&oc->cleanup, 1);
    return 0;
}

static int outlive_main(void *arg)
{
    outlive_ctx *oc = arg;
    for (int i = 0; !slot_has_waker(&oc->s); i++) {
        CHECK(i < 1000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(future_waker_outlives_runtime)
{
    outlive_ctx oc;
    slot_init(&oc.s);
    atomic_init(&oc.cleanup, 0);
    corio_rt *rt = new_rt();
    corio_spawn_opts o = {.rt = rt};
    CHECK_EQ(corio_spawn_with(NULL, &o, outlive_task, &oc), 0);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, outlive_main, &oc, &r), 0); /* lets the task start */
    pthread_mutex_lock(&oc.s.mu);
    CHECK(oc.s.waker.vtable != NULL);
    oc.held = corio_waker_clone(&oc.s.waker);
    pthread_mutex_unlock(&oc.s.mu);
    corio_rt_free(rt);
    CHECK_EQ(atomic_load(&oc.cleanup), 1);
    CHECK_EQ(oc.s.drops, 1); /* the cancelled await dropped the future */
    corio_waker_wake_by_ref(&oc.held);
    corio_waker_wake(&oc.held);
    slot_destroy(&oc.s);
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
    CHECK_EQ(corio_block_on_future(&f.base), 1);
    CHECK_EQ(atomic_load(&f.polls), 1);
}

static int block_on_future_in_task(void *arg)
{
    count_fut f;
    count_init(&f, 0, 1);
    CHECK_EQ(corio_block_on_future(&f.base), CORIO_EWRONGCTX);
    CHECK_EQ(atomic_load(&f.polls), 0);
    CHECK_EQ(corio_await(&f.base), 1);
    return 0;
}

TEST(future_block_on_future_in_task_is_wrongctx)
{
    CHECK_EQ(corio_run(block_on_future_in_task, NULL), 0);
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
    p->yield_rc = corio_yield_now();
    p->block_rc = corio_block_on_future(&inner.base);
    CHECK_EQ(atomic_load(&inner.polls), 0);
    p->id = corio_current_task_id();
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
    CHECK_EQ(corio_rt_block_on_future(rt, &p.base), 5);
    CHECK_EQ(p.await_rc, CORIO_EWRONGCTX);
    CHECK_EQ(p.yield_rc, CORIO_EWRONGCTX);
    CHECK_EQ(p.block_rc, CORIO_EWRONGCTX);
    CHECK(p.id != 0);
    CHECK(p.rt == rt);
    corio_rt_free(rt);
}

/* ==== abandoned futures are dropped exactly once ========================== */

static int timeout_drop_task(void *arg)
{
    slot *s = arg;
    slot_fut f;
    slot_fut_init(&f, s);
    corio_instant t0 = corio_now();
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(20)), CORIO_ETIMEDOUT);
    CHECK(corio_now() - t0 >= (corio_instant)CORIO_MSEC(20));
    CHECK_EQ(s->drops, 1);
    CHECK(s->waker.vtable == NULL); /* the drop released the stored waker */
    /* a ready inner future never times out and is not dropped */
    count_fut c;
    count_init(&c, 2, 9);
    CHECK_EQ(corio_timeout(&c.base, CORIO_MSEC(500)), 9);
    CHECK_EQ(atomic_load(&c.drops), 0);
    return 0;
}

TEST(future_timeout_drops_inner_once)
{
    slot s;
    slot_init(&s);
    CHECK_EQ(corio_run(timeout_drop_task, &s), 0);
    CHECK_EQ(s.drops, 1);
    CHECK(slot_polls(&s) >= 1);
    slot_destroy(&s);
}

/* ==== stress ============================================================== */

/* Tasks waiting, over and over, for a generation counter to move; foreign
 * threads bump generations and wake, clone, drop and keep clones of the
 * tasks' wakers in tight loops. A lost wakeup hangs (test timeout); a bad
 * reference count shows under ASan/TSan or as a crash. */
enum { WS_TASKS = 8, WS_THREADS = 4, WS_KEEP = 4 };

typedef struct ws_slot {
    pthread_mutex_t mu;
    corio_waker waker;
    unsigned gen;
    int waits; /* PENDING polls */
} ws_slot;

typedef struct ws_fut {
    corio_future base;
    ws_slot *s;
    unsigned seen;
} ws_fut;

static corio_poll ws_poll(corio_future *f, corio_context *cx)
{
    ws_fut *w = (ws_fut *)f;
    pthread_mutex_lock(&w->s->mu);
    if (w->s->gen != w->seen) {
        f->result = (int)(w->s->gen - w->seen);
        corio_waker_drop(&w->s->waker);
        pthread_mutex_unlock(&w->s->mu);
        return CORIO_READY;
    }
    w->s->waits++;
    corio_waker_store(&w->s->waker, corio_context_waker(cx));
    pthread_mutex_unlock(&w->s->mu);
    return CORIO_PENDING;
}

static void ws_drop(corio_future *f)
{
    ws_fut *w = (ws_fut *)f;
    pthread_mutex_lock(&w->s->mu);
    corio_waker_drop(&w->s->waker);
    pthread_mutex_unlock(&w->s->mu);
}

static const corio_future_vtable ws_vt = {ws_poll, ws_drop};

typedef struct ws_shared {
    ws_slot slots[WS_TASKS];
    atomic_int stop_tasks;   /* tasks return once they see it */
    atomic_int stop_threads; /* threads leave their loop */
    atomic_long wakes_done;
    long rounds[WS_TASKS];
} ws_shared;

typedef struct ws_task_arg {
    ws_shared *sh;
    int idx;
} ws_task_arg;

static int ws_task(void *arg)
{
    ws_task_arg *a = arg;
    ws_slot *s = &a->sh->slots[a->idx];
    unsigned seen = 0;
    long rounds = 0;
    while (!atomic_load(&a->sh->stop_tasks)) {
        ws_fut f;
        corio_future_init(&f.base, &ws_vt);
        f.s = s;
        f.seen = seen;
        int r = corio_await(&f.base);
        CHECK(r > 0);
        seen += (unsigned)r;
        rounds++;
    }
    a->sh->rounds[a->idx] = rounds;
    return 0;
}

typedef struct ws_thread_arg {
    ws_shared *sh;
    unsigned seed;
} ws_thread_arg;

static unsigned xorshift(unsigned *s)
{
    unsigned x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static void *ws_thread(void *arg)
{
    ws_thread_arg *ta = arg;
    ws_shared *sh = ta->sh;
    unsigned seed = ta->seed;
    corio_waker keep[WS_KEEP];
    for (int i = 0; i < WS_KEEP; i++)
        keep[i] = CORIO_WAKER_NONE;
    long n = 0;
    while (!atomic_load(&sh->stop_threads)) {
        unsigned r = xorshift(&seed);
        ws_slot *s = &sh->slots[r % WS_TASKS];
        pthread_mutex_lock(&s->mu);
        bool bump = (r >> 8) % 4 != 0;
        if (bump)
            s->gen++;
        corio_waker c = corio_waker_clone(&s->waker);
        pthread_mutex_unlock(&s->mu);
        switch ((r >> 12) % 5) {
        case 0:
            corio_waker_wake(&c);
            break;
        case 1:
            corio_waker_wake_by_ref(&c);
            corio_waker_drop(&c);
            break;
        case 2: { /* keep it for later: it may outlive the task */
            corio_waker *k = &keep[(r >> 16) % WS_KEEP];
            corio_waker_wake_by_ref(&c);
            corio_waker_wake(k);
            *k = c;
            break;
        }
        case 3: {
            corio_waker c2 = corio_waker_clone(&c);
            corio_waker_drop(&c);
            corio_waker_wake_by_ref(&c2);
            corio_waker_wake(&c2);
            break;
        }
        default:
            corio_waker_drop(&c); /* a clone dropped without waking */
            if (bump) {           /* ... so wake through the slot itself */
                pthread_mutex_lock(&s->mu);
                corio_waker_wake_by_ref(&s->waker);
                pthread_mutex_unlock(&s->mu);
            }
            break;
        }
        n++;
    }
    /* The tasks are finished by now: the kept wakers wake finished tasks. */
    for (int i = 0; i < WS_KEEP; i++) {
        corio_waker_wake_by_ref(&keep[i]);
        corio_waker_wake(&keep[i]);
    }
    atomic_fetch_add(&sh->wakes_done, n);
    return NULL;
}

static int ws_main(void *arg)
{
    ws_shared *sh = arg;
    ws_task_arg ta[WS_TASKS];
    corio_task *ts[WS_TASKS];
    for (int i = 0; i < WS_TASKS; i++) {
        ta[i] = (ws_task_arg){sh, i};
        ts[i] = corio_spawn(ws_task, &ta[i]);
        CHECK(ts[i] != NULL);
    }
    CHECK_EQ(corio_sleep(CORIO_MSEC(UNDER_SAN ? 800 : 1200)), 0);
    atomic_store(&sh->stop_tasks, 1);
    /* Final wake of every slot, so each task sees the stop flag. */
    for (int i = 0; i < WS_TASKS; i++) {
        ws_slot *s = &sh->slots[i];
        pthread_mutex_lock(&s->mu);
        s->gen++;
        corio_waker w = s->waker;
        s->waker = CORIO_WAKER_NONE;
        pthread_mutex_unlock(&s->mu);
        corio_waker_wake(&w);
    }
    for (int i = 0; i < WS_TASKS; i++)
        CHECK_EQ(corio_task_join(ts[i], NULL), 0);
    return 0;
}

TEST(future_stress_foreign_waker_traffic)
{
    ws_shared *sh = calloc(1, sizeof *sh);
    CHECK(sh != NULL);
    for (int i = 0; i < WS_TASKS; i++) {
        pthread_mutex_init(&sh->slots[i].mu, NULL);
        sh->slots[i].waker = CORIO_WAKER_NONE;
    }
    pthread_t th[WS_THREADS];
    ws_thread_arg targ[WS_THREADS];
    for (int i = 0; i < WS_THREADS; i++) {
        targ[i] = (ws_thread_arg){sh, 0x9e3779b9u * (unsigned)(i + 1)};
        CHECK_EQ(pthread_create(&th[i], NULL, ws_thread, &targ[i]), 0);
    }
    corio_rt *rt = new_rt();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, ws_main, sh, &r), 0);
    CHECK_EQ(r, 0);
    /* The threads keep going against finished tasks for a moment, while the
     * runtime is still alive and then after it is gone. */
    sleep_ms(20);
    corio_rt_free(rt);
    sleep_ms(20);
    atomic_store(&sh->stop_threads, 1);
    for (int i = 0; i < WS_THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK(atomic_load(&sh->wakes_done) > 1000);
    for (int i = 0; i < WS_TASKS; i++) {
        CHECK(sh->rounds[i] > 10); /* every task made progress */
        corio_waker_drop(&sh->slots[i].waker);
        pthread_mutex_destroy(&sh->slots[i].mu);
    }
    free(sh);
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
        ts[i] = corio_spawn(gate_coro, &args[i]);
        CHECK(ts[i] != NULL);
    }
    for (int i = GATE_CORO; i < GATE_WAITERS; i++) {
        gate_sl s;
        corio_future_init(&s.base, &gate_sl_vt);
        s.inner.g = g;
        s.inner.idx = i;
        s.inner.want = 1;
        CHECK_EQ(corio_spawn_future(&ts[i], &s.base, sizeof s), 0);
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
    CHECK_EQ(corio_run(gate_main, g), 0);
    CHECK_EQ(g->round, g->rounds_total);
    for (int i = 0; i < GATE_WAITERS; i++)
        CHECK(g->wakers[i].vtable == NULL);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
