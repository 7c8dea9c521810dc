/* tests/test_task_join.c - join handles (corio/task.h): join from plain code
 * on another pthread and on the driving thread, nested joins inside tasks,
 * a task spawned by a foreign thread, corio_join_fut under corio_timeout,
 * the join waker changing hands (to another task, to a plain thread), and a
 * join future awaited from plain code with corio_block_on_future.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <corio.h>

#include "test.h"
#include "util.h"

/* ==== join ================================================================ */

typedef struct plain_join_ctx {
    slot s;
    corio_task *t;
    atomic_int joined;
    int join_rc, join_result;
} plain_join_ctx;

static int pj_task(void *arg)
{
    plain_join_ctx *pc = arg;
    slot_fut f;
    slot_fut_init(&f, &pc->s);
    CHECK_EQ(corio_await(&f.base), 0);
    return f.base.result + 1;
}

static void *pj_joiner(void *arg)
{
    plain_join_ctx *pc = arg;
    pc->join_rc = corio_task_join(pc->t, &pc->join_result); /* blocks this thread */
    atomic_store(&pc->joined, 1);
    return NULL;
}

static int pj_main(void *arg)
{
    plain_join_ctx *pc = arg;
    task_wait_waker(&pc->s);
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    CHECK_EQ(atomic_load(&pc->joined), 0); /* the joiner is still blocked */
    slot_complete(&pc->s, 40);
    for (int i = 0; !atomic_load(&pc->joined); i++) {
        CHECK(i < 5000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(task_join_from_plain_thread)
{
    plain_join_ctx pc;
    memset(&pc, 0, sizeof pc);
    slot_init(&pc.s);
    atomic_init(&pc.joined, 0);
    corio_rt *rt = new_rt();
    corio_spawn_opts o = {.rt = rt};
    CHECK_EQ(corio_spawn_with(&o, pj_task, &pc, &pc.t), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, pj_joiner, &pc), 0);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, pj_main, &pc, &r), 0);
    CHECK_EQ(r, 0);
    pthread_join(th, NULL);
    CHECK_EQ(pc.join_rc, 0);
    CHECK_EQ(pc.join_result, 41);
    CHECK_EQ(corio_rt_free(rt), 0);
    slot_destroy(&pc.s);
}

/* Join of a finished task from plain code, on the driving thread itself. */
TEST(task_join_finished_from_plain_code)
{
    corio_rt *rt = new_rt();
    corio_spawn_opts o = {.rt = rt};
    int x = 1;
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_with(&o, add_ten, &x, &t), 0);
    int r = 0;
    for (int i = 0; !corio_task_is_finished(t); i++) {
        CHECK(i < 100);
        CHECK_EQ(corio_rt_block_on(rt, nothing_main, NULL, &r), 0);
    }
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 11);
    CHECK_EQ(corio_rt_free(rt), 0);
}

static int depth_fn(void *arg)
{
    intptr_t d = (intptr_t)arg;
    if (d == 0)
        return 0;
    corio_task *t;
    CHECK_EQ(corio_spawn(depth_fn, (void *)(d - 1), &t), 0);
    CHECK(t != NULL);
    int r = -1;
    CHECK_EQ(corio_task_join(t, &r), 0);
    return r + 1;
}

TEST(task_join_nested_chain)
{
    CHECK_EQ(run_ok(depth_fn, (void *)(intptr_t)50), 50);
}

/* Join from inside a task of a task that another pthread spawned. */
typedef struct xspawn_ctx {
    corio_rt *rt;
    corio_task *t;
    atomic_int ready;
} xspawn_ctx;

static void *xspawner(void *arg)
{
    xspawn_ctx *xc = arg;
    corio_spawn_opts o = {.rt = xc->rt, .name = "from-thread"};
    static int x = 90;
    CHECK_EQ(corio_spawn_with(&o, add_ten, &x, &xc->t), 0);
    atomic_store(&xc->ready, 1);
    return NULL;
}

static int xjoin_main(void *arg)
{
    xspawn_ctx *xc = arg;
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, xspawner, xc), 0);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&xc->ready), 1);
    int r = 0;
    CHECK_EQ(corio_task_join(xc->t, &r), 0);
    CHECK_EQ(r, 100);
    return 0;
}

TEST(task_join_task_spawned_by_foreign_thread)
{
    xspawn_ctx xc;
    memset(&xc, 0, sizeof xc);
    xc.rt = new_rt();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(xc.rt, xjoin_main, &xc, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(xc.rt), 0);
}

static int slow_fn(void *arg)
{
    CHECK_EQ(corio_sleep(CORIO_MSEC(150)), 0);
    return 12;
}

static int join_timeout_main(void *arg)
{
    corio_task *slow;
    CHECK_EQ(corio_spawn(slow_fn, NULL, &slow), 0);
    corio_join_fut jf;
    corio_join_fut_init(&jf, slow);
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_timeout(&jf.base, CORIO_MSEC(20)), CORIO_ETIMEDOUT);
    CHECK(corio_instant_now() - t0 >= (corio_instant)CORIO_MSEC(20));
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_MSEC(140));
    CHECK(!corio_task_is_finished(slow));
    /* the handle is still ours: a second, longer timeout succeeds */
    corio_join_fut_init(&jf, slow);
    CHECK_EQ(corio_timeout(&jf.base, CORIO_SEC(5)), 0);
    CHECK_EQ(jf.base.result, 0); /* the task completed */
    CHECK_EQ(jf.value, 12);
    corio_task_release(slow);

    /* a task that is quick enough */
    int x = 3;
    corio_task *fast;
    CHECK_EQ(corio_spawn(add_ten, &x, &fast), 0);
    corio_join_fut_init(&jf, fast);
    CHECK_EQ(corio_timeout(&jf.base, CORIO_SEC(5)), 0);
    CHECK_EQ(jf.base.result, 0);
    CHECK_EQ(jf.value, 13);
    CHECK(corio_task_is_finished(fast));
    corio_task_release(fast);

    /* timed out, then joined normally */
    CHECK_EQ(corio_spawn(slow_fn, NULL, &slow), 0);
    corio_join_fut_init(&jf, slow);
    CHECK_EQ(corio_timeout(&jf.base, CORIO_MSEC(5)), CORIO_ETIMEDOUT);
    int r = 0;
    CHECK_EQ(corio_task_join(slow, &r), 0);
    CHECK_EQ(r, 12);
    return 0;
}

TEST(task_join_fut_with_timeout)
{
    CHECK_EQ(run_ok(join_timeout_main, NULL), 0);
}

/* The join waker changes hands: task X waits on the handle with a timeout and
 * gives up; task Y (another waker) then joins the same handle, and so does a
 * plain thread in the second round. Each must be woken by the completion. */
typedef struct handoff_ctx {
    slot s;
    corio_task *target;
    int y_rc, y_result;
    atomic_int x_gave_up;
} handoff_ctx;

static int handoff_x(void *arg)
{
    handoff_ctx *hc = arg;
    corio_join_fut jf;
    corio_join_fut_init(&jf, hc->target);
    CHECK_EQ(corio_timeout(&jf.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    atomic_store(&hc->x_gave_up, 1);
    return 0;
}

static int handoff_y(void *arg)
{
    handoff_ctx *hc = arg;
    hc->y_rc = corio_task_join(hc->target, &hc->y_result);
    return 0;
}

static int handoff_main(void *arg)
{
    handoff_ctx *hc = arg;
    CHECK_EQ(corio_spawn(await_slot, &hc->s, &hc->target), 0);
    corio_task *x;
    CHECK_EQ(corio_spawn(handoff_x, hc, &x), 0);
    CHECK_EQ(corio_task_join(x, NULL), 0);
    CHECK_EQ(atomic_load(&hc->x_gave_up), 1);
    corio_task *y;
    CHECK_EQ(corio_spawn(handoff_y, hc, &y), 0);
    task_wait_waker(&hc->s);
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0); /* y is waiting now */
    slot_complete(&hc->s, 19);
    CHECK_EQ(corio_task_join(y, NULL), 0);
    CHECK_EQ(hc->y_rc, 0);
    CHECK_EQ(hc->y_result, 19);
    return 0;
}

TEST(task_join_waker_changes_hands)
{
    handoff_ctx hc;
    memset(&hc, 0, sizeof hc);
    slot_init(&hc.s);
    CHECK_EQ(run_ok(handoff_main, &hc), 0);
    slot_destroy(&hc.s);
}

typedef struct handoff2_ctx {
    slot s;
    corio_task *target;
    atomic_int plain_joined;
    int rc, result;
} handoff2_ctx;

static void *handoff2_plain(void *arg)
{
    handoff2_ctx *hc = arg;
    hc->rc = corio_task_join(hc->target, &hc->result);
    atomic_store(&hc->plain_joined, 1);
    return NULL;
}

static int handoff2_main(void *arg)
{
    handoff2_ctx *hc = arg;
    CHECK_EQ(corio_spawn(await_slot, &hc->s, &hc->target), 0);
    corio_join_fut jf;
    corio_join_fut_init(&jf, hc->target);
    CHECK_EQ(corio_timeout(&jf.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, handoff2_plain, hc), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(20)), 0); /* the thread is blocked in join */
    CHECK_EQ(atomic_load(&hc->plain_joined), 0);
    slot_complete(&hc->s, 23);
    for (int i = 0; !atomic_load(&hc->plain_joined); i++) {
        CHECK(i < 5000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    pthread_join(th, NULL);
    return 0;
}

TEST(task_join_waker_changes_hands_to_plain_thread)
{
    handoff2_ctx hc;
    memset(&hc, 0, sizeof hc);
    slot_init(&hc.s);
    CHECK_EQ(run_ok(handoff2_main, &hc), 0);
    CHECK_EQ(hc.rc, 0);
    CHECK_EQ(hc.result, 23);
    slot_destroy(&hc.s);
}

/* Plain code waits for a task of a runtime driven by another thread through
 * corio_block_on_future on a join future under a timeout (a temporary
 * runtime of its own, woken across runtimes). */
typedef struct bof_ctx {
    corio_rt *rt;
    corio_task *t;
    atomic_int ready, done;
    slot s;
} bof_ctx;

static int bof_driver_main(void *arg)
{
    bof_ctx *bc = arg;
    CHECK_EQ(corio_spawn(await_slot, &bc->s, &bc->t), 0);
    atomic_store(&bc->ready, 1);
    for (int i = 0; !atomic_load(&bc->done); i++) {
        CHECK(i < 10000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

static void *bof_driver(void *arg)
{
    bof_ctx *bc = arg;
    CHECK_EQ(corio_rt_block_on(bc->rt, bof_driver_main, bc, NULL), 0);
    return NULL;
}

TEST(task_join_fut_block_on_future_from_plain_code)
{
    bof_ctx bc;
    memset(&bc, 0, sizeof bc);
    slot_init(&bc.s);
    bc.rt = new_rt();
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, bof_driver, &bc), 0);
    while (!atomic_load(&bc.ready))
        sleep_ms(1);
    /* first with a short timeout: it expires */
    corio_join_fut jf;
    corio_join_fut_init(&jf, bc.t);
    double t0 = mono_ms(); /* before the init reads the clock */
    corio_timeout_fut to;
    corio_timeout_fut_init(&to, &jf.base, CORIO_MSEC(15));
    CHECK_EQ(corio_block_on_future(&to.base), 0); /* the timeout future completed */
    CHECK_EQ(to.base.result, CORIO_ETIMEDOUT);
    CHECK(mono_ms() - t0 >= 14);
    CHECK(!corio_task_is_finished(bc.t));
    /* then a long one, completed from here meanwhile by a helper */
    slot_complete(&bc.s, 31);
    corio_join_fut_init(&jf, bc.t);
    corio_timeout_fut_init(&to, &jf.base, CORIO_SEC(10));
    CHECK_EQ(corio_block_on_future(&to.base), 0);
    CHECK_EQ(to.base.result, 0); /* the join future completed in time */
    CHECK_EQ(jf.base.result, 0); /* and the task too */
    CHECK_EQ(jf.value, 31);
    corio_task_release(bc.t);
    atomic_store(&bc.done, 1);
    pthread_join(th, NULL);
    CHECK_EQ(corio_rt_free(bc.rt), 0);
    slot_destroy(&bc.s);
}


/* A plain thread joins a task that finishes on a worker, with nothing but
 * the join ordering the two: the task's plain writes before it returned
 * (and its result) must be visible to the joiner after the join (the
 * completion releases them, the join acquires them). TSan reports a missing
 * order as a data race; the plain build checks the values.
 *
 * The joiner polls a corio_join_fut itself, with a waker of its own whose
 * wake orders nothing (relaxed flags only): a park and its wake, or a wait
 * on corio_task_is_finished followed by corio_task_join, would let TSan see
 * the order through something else. The completion drops the queue's
 * reference (a release on the same state word) right after it wakes the
 * joiner, so the wake holds the worker there until the joiner has read
 * everything: the completion's own release is then the only one the join
 * can acquire. (Relaxed in state_to_complete, the earlier form of this test
 * passed under TSan: the joiner's later loads synchronised with that
 * reference drop.) */
typedef struct publish_ctx {
    corio_task *t;
    long data[64];     /* written by the task, read by the joiner: plain */
    atomic_int polled; /* the joiner's join waker is in: the task may finish */
    atomic_int woken;  /* relaxed: the completion woke the joiner */
    atomic_int read;   /* relaxed: the joiner has read all, the wake may return */
} publish_ctx;

static int publisher(void *arg)
{
    publish_ctx *pc = arg;
    /* Finish only after the joiner's first poll (which orders the joiner
     * before us, not us before it). */
    while (!atomic_load_explicit(&pc->polled, memory_order_acquire))
        CHECK_EQ(corio_yield(), 0);
    for (int i = 0; i < 64; i++)
        pc->data[i] = 1000 + i;
    return 77;
}

static const void *pj_clone(const void *d)
{
    return d;
}

static void pj_drop(const void *d)
{
    (void)d;
}

/* On the worker, inside the completion: tell the joiner, and wait until it
 * has read (bounded: a broken join must fail the test, not hang it). */
static void pj_wake_by_ref(const void *d)
{
    publish_ctx *pc = (publish_ctx *)d;
    atomic_store_explicit(&pc->woken, 1, memory_order_relaxed);
    double t0 = mono_ms();
    while (!atomic_load_explicit(&pc->read, memory_order_relaxed) && mono_ms() - t0 < 5000)
        sched_yield();
}

static void pj_wake(const void *d)
{
    pj_wake_by_ref(d);
}

static const corio_waker_vtable pj_waker_vt = {pj_clone, pj_wake, pj_wake_by_ref, pj_drop};

static void *plain_joiner(void *arg)
{
    publish_ctx *pc = arg;
    corio_waker w = {&pj_waker_vt, pc};
    corio_context cx = {&w};
    corio_join_fut jf;
    corio_join_fut_init(&jf, pc->t);
    CHECK_EQ(corio_future_poll(&jf.base, &cx), CORIO_PENDING);
    atomic_store_explicit(&pc->polled, 1, memory_order_release);
    double t0 = mono_ms();
    while (!atomic_load_explicit(&pc->woken, memory_order_relaxed)) {
        CHECK(mono_ms() - t0 < 10000);
        sched_yield();
    }
    CHECK_EQ(corio_future_poll(&jf.base, &cx), CORIO_READY);
    CHECK_EQ(jf.base.result, 0);
    CHECK_EQ(jf.value, 77);
    long sum = 0;
    for (int i = 0; i < 64; i++)
        sum += pc->data[i] == 1000 + i;
    atomic_store_explicit(&pc->read, 1, memory_order_relaxed);
    CHECK_EQ(sum, 64);
    return NULL;
}

static int publish_main(void *arg)
{
    publish_ctx *pc = arg;
    for (int round = 0; round < 200; round++) {
        memset(pc->data, 0, sizeof pc->data);
        atomic_store(&pc->polled, 0);
        atomic_store(&pc->woken, 0);
        atomic_store(&pc->read, 0);
        CHECK_EQ(corio_spawn(publisher, pc, &pc->t), 0);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, plain_joiner, pc), 0);
        /* Wait for the joiner without touching the task or its data. */
        while (pthread_tryjoin_np(th, NULL) != 0)
            CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
        corio_task_release(pc->t);
    }
    return 0;
}

TEST(task_join_from_plain_thread_sees_task_writes)
{
    publish_ctx pc;
    memset(&pc, 0, sizeof pc);
    CHECK_EQ(run_ok(publish_main, &pc), 0);
}
