/* tests/test_task_abort.c - cancellation (corio/task.h): abort while
 * sleeping, while awaiting a custom future, after completion, before the
 * first run (from a task and from plain code), of itself, of stackless tasks
 * (before and after their first poll), from another pthread; sticky
 * cancellation; a joiner that is itself cancelled.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include <corio.h>

#include "test.h"
#include "util.h"

/* ==== abort =============================================================== */

typedef struct sleeper_ctx {
    int sleep_rc;
    int cleanup;
    bool cancelled_seen;
    corio_instant t0, t1;
} sleeper_ctx;

static int long_sleeper(void *arg)
{
    sleeper_ctx *sc = arg;
    sc->t0 = corio_instant_now();
    sc->sleep_rc = corio_sleep(CORIO_SEC(10));
    sc->t1 = corio_instant_now();
    sc->cancelled_seen = corio_task_is_cancelled(corio_task_current());
    sc->cleanup++; /* cleanup code after the cancelled await runs */
    return 77;
}

static int abort_sleep_main(void *arg)
{
    sleeper_ctx *sc = arg;
    corio_task *t;
    CHECK_EQ(corio_spawn(long_sleeper, sc, &t), 0);
    CHECK(t != NULL);
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0); /* it is asleep now */
    CHECK(!corio_task_is_finished(t));
    CHECK(!corio_task_is_cancelled(corio_task_current()));
    corio_task_abort(t);
    corio_task_abort(t); /* twice is harmless */
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 77);
    CHECK(!corio_task_is_cancelled(corio_task_current())); /* the joiner is not the cancelled one */
    return 0;
}

TEST(task_abort_while_sleeping)
{
    sleeper_ctx sc;
    memset(&sc, 0, sizeof sc);
    CHECK_EQ(run_ok(abort_sleep_main, &sc), 0);
    CHECK_EQ(sc.sleep_rc, CORIO_ECANCELED);
    CHECK_EQ(sc.cleanup, 1);
    CHECK(sc.cancelled_seen);
    CHECK(sc.t1 - sc.t0 < (corio_instant)CORIO_SEC(2)); /* woke at once, not after 10 s */
}

typedef struct custom_ctx {
    slot s;
    int await_rc;
    int cleanup;
} custom_ctx;

static int custom_waiter(void *arg)
{
    custom_ctx *cc = arg;
    slot_fut f;
    slot_fut_init(&f, &cc->s);
    cc->await_rc = corio_await(&f.base);
    cc->cleanup++;
    return 5;
}

static int abort_custom_main(void *arg)
{
    custom_ctx *cc = arg;
    corio_task *t;
    CHECK_EQ(corio_spawn(custom_waiter, cc, &t), 0);
    task_wait_waker(&cc->s);
    CHECK_EQ(slot_drops(&cc->s), 0);
    corio_task_abort(t);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 5);
    CHECK_EQ(slot_drops(&cc->s), 1);
    return 0;
}

TEST(task_abort_while_awaiting_custom_future_drops_once)
{
    custom_ctx cc;
    memset(&cc, 0, sizeof cc);
    slot_init(&cc.s);
    CHECK_EQ(run_ok(abort_custom_main, &cc), 0);
    CHECK_EQ(cc.await_rc, CORIO_ECANCELED);
    CHECK_EQ(cc.cleanup, 1);
    CHECK_EQ(cc.s.drops, 1);
    CHECK_EQ(cc.s.polls, 1);          /* never polled after the abort */
    CHECK(cc.s.waker.vtable == NULL); /* the drop released the waker */
    slot_destroy(&cc.s);
}

static int quick_fn(void *arg)
{
    return 21;
}

static int abort_after_main(void *arg)
{
    corio_task *t;
    CHECK_EQ(corio_spawn(quick_fn, NULL, &t), 0);
    yield_until_finished(t);
    corio_task_abort(t);
    CHECK(corio_task_is_finished(t));
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 21);
    /* the same for a stackless task */
    count_fut f;
    count_init(&f, 1, 8);
    CHECK_EQ(corio_spawn_future(&f.base, sizeof f, &t), 0);
    yield_until_finished(t);
    corio_task_abort(t);
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 8);
    return 0;
}

TEST(task_abort_after_completion_harmless)
{
    CHECK_EQ(run_ok(abort_after_main, NULL), 0);
}

typedef struct early_ctx {
    int ran;
    int first_rc;
    int second_rc;
} early_ctx;

static int early_fn(void *arg)
{
    early_ctx *ec = arg;
    ec->ran++;
    ec->first_rc = corio_yield();
    ec->second_rc = corio_sleep(CORIO_MSEC(1));
    return 33;
}

static int abort_early_main(void *arg)
{
    early_ctx *ec = arg;
    corio_task *t;
    CHECK_EQ(corio_spawn(early_fn, ec, &t), 0);
    corio_task_abort(t); /* before it ever ran */
    CHECK_EQ(ec->ran, 0);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 33);
    return 0;
}

TEST(task_abort_before_first_run_still_runs)
{
    early_ctx ec = {0, 1, 1};
    CHECK_EQ(run_ok(abort_early_main, &ec), 0);
    CHECK_EQ(ec.ran, 1); /* the function runs, so its cleanup owns arg */
    CHECK_EQ(ec.first_rc, CORIO_ECANCELED);
    CHECK_EQ(ec.second_rc, CORIO_ECANCELED);
}

/* The same from plain code: spawned onto a runtime nobody drives yet,
 * aborted, then the runtime is driven. */
TEST(task_abort_before_first_run_from_plain_code)
{
    early_ctx ec = {0, 1, 1};
    corio_rt *rt = new_rt();
    corio_spawn_opts o = {.rt = rt};
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_with(&o, early_fn, &ec, &t), 0);
    corio_task_abort(t);
    CHECK(!corio_task_is_finished(t));
    int r = 0;
    CHECK_EQ(corio_rt_block_on(rt, nothing_main, NULL, &r), 0);
    for (int i = 0; !corio_task_is_finished(t); i++) {
        CHECK(i < 100);
        CHECK_EQ(corio_rt_block_on(rt, nothing_main, NULL, &r), 0);
    }
    CHECK_EQ(ec.ran, 1);
    CHECK_EQ(ec.first_rc, CORIO_ECANCELED);
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 33);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Sticky: every await, yield, sleep, timeout and join after the abort returns
 * CORIO_ECANCELED at once, and futures handed to await are dropped unpolled. */
typedef struct sticky_ctx {
    slot s;          /* awaited when the abort comes */
    slot later[3];   /* awaited after it */
    int rcs[16];
    int n;
    atomic_int other_done; /* written by one task, read by another */
    atomic_int other_go;   /* the cancelled task is done with its join */
    corio_task *other;
} sticky_ctx;

/* Runs until the cancelled task has tried to join it: a fixed sleep here
 * (20 ms) ran out first on a loaded machine under TSan, and the join then
 * found it finished and reported its outcome (0), as task.h says. */
static int other_fn(void *arg)
{
    sticky_ctx *sc = arg;
    for (int i = 0; !atomic_load(&sc->other_go); i++) {
        CHECK(i < 20000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    atomic_store(&sc->other_done, 1);
    return 0;
}

static int sticky_fn(void *arg)
{
    sticky_ctx *sc = arg;
    slot_fut f;
    slot_fut_init(&f, &sc->s);
    sc->rcs[sc->n++] = corio_await(&f.base);
    corio_instant t0 = corio_instant_now();
    for (int i = 0; i < 3; i++) {
        slot_fut g;
        slot_fut_init(&g, &sc->later[i]);
        sc->rcs[sc->n++] = corio_await(&g.base);
        sc->rcs[sc->n++] = corio_yield();
        sc->rcs[sc->n++] = corio_sleep(CORIO_SEC(5));
    }
    corio_sleep_fut sl;
    corio_sleep_fut_init(&sl, CORIO_SEC(5));
    sc->rcs[sc->n++] = corio_timeout(&sl.base, CORIO_SEC(5));
    sc->rcs[sc->n++] = corio_task_join(sc->other, NULL); /* handle given back */
    CHECK(corio_task_is_cancelled(corio_task_current()));
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_SEC(1));
    return -1;
}

static int sticky_main(void *arg)
{
    sticky_ctx *sc = arg;
    CHECK_EQ(corio_spawn(other_fn, sc, &sc->other), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(sticky_fn, sc, &t), 0);
    task_wait_waker(&sc->s);
    corio_task_abort(t);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, -1);
    CHECK_EQ(atomic_load(&sc->other_done), 0);
    atomic_store(&sc->other_go, 1);
    /* the task whose join was cut short goes on, detached */
    for (int i = 0; !atomic_load(&sc->other_done); i++) {
        CHECK(i < 2000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(task_cancellation_is_sticky)
{
    sticky_ctx sc;
    memset(&sc, 0, sizeof sc);
    slot_init(&sc.s);
    for (int i = 0; i < 3; i++)
        slot_init(&sc.later[i]);
    CHECK_EQ(run_ok(sticky_main, &sc), 0);
    CHECK_EQ(sc.n, 12);
    for (int i = 0; i < sc.n; i++)
        CHECK_EQ(sc.rcs[i], CORIO_ECANCELED);
    CHECK_EQ(sc.s.drops, 1);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(sc.later[i].polls, 0); /* dropped without a poll */
        CHECK_EQ(sc.later[i].drops, 1);
        slot_destroy(&sc.later[i]);
    }
    CHECK_EQ(sc.other_done, 1);
    slot_destroy(&sc.s);
}

/* A task aborting itself through its own handle. */
typedef struct self_ctx {
    corio_task *me;
    int rc_yield, rc_sleep;
    bool before, after;
} self_ctx;

static int self_abort_fn(void *arg)
{
    self_ctx *sc = arg;
    sc->before = corio_task_is_cancelled(corio_task_current());
    corio_task_abort(sc->me);
    sc->after = corio_task_is_cancelled(corio_task_current());
    sc->rc_yield = corio_yield();
    sc->rc_sleep = corio_sleep(CORIO_MSEC(1));
    return 2;
}

static int self_abort_main(void *arg)
{
    self_ctx *sc = arg;
    CHECK_EQ(corio_spawn(self_abort_fn, sc, &sc->me), 0); /* it runs only once we wait */
    int r = 0;
    CHECK_EQ(corio_task_join(sc->me, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 2);
    return 0;
}

TEST(task_abort_self)
{
    self_ctx sc;
    memset(&sc, 0, sizeof sc);
    CHECK_EQ(run_ok(self_abort_main, &sc), 0);
    CHECK(!sc.before);
    CHECK(sc.after);
    CHECK_EQ(sc.rc_yield, CORIO_ECANCELED);
    CHECK_EQ(sc.rc_sleep, CORIO_ECANCELED);
}

/* Stackless tasks: abort calls the future's drop (once), the task is never
 * polled again, and the joiner learns it was cancelled. */
static int abort_stackless_main(void *arg)
{
    slot *s = arg;
    slot_fut f;
    slot_fut_init(&f, &s[0]);
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_future(&f.base, sizeof f, &t), 0);
    task_wait_waker(&s[0]);
    CHECK_EQ(slot_polls(&s[0]), 1);
    corio_task_abort(t);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, CORIO_ECANCELED);
    CHECK_EQ(slot_drops(&s[0]), 1);
    /* completing it afterwards must not poll it again */
    slot_complete(&s[0], 1);

    /* aborted before its first poll: dropped, never polled */
    slot_fut_init(&f, &s[1]);
    CHECK_EQ(corio_spawn_future(&f.base, sizeof f, &t), 0);
    corio_task_abort(t);
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, CORIO_ECANCELED);
    CHECK_EQ(slot_polls(&s[1]), 0);
    CHECK_EQ(slot_drops(&s[1]), 1);

    /* a join_fut on it says the same */
    slot_fut_init(&f, &s[2]);
    CHECK_EQ(corio_spawn_future(&f.base, sizeof f, &t), 0);
    task_wait_waker(&s[2]);
    corio_task_abort(t);
    corio_join_fut jf;
    corio_join_fut_init(&jf, t);
    CHECK_EQ(corio_await(&jf.base), 0); /* the wait itself completed */
    CHECK_EQ(jf.base.result, CORIO_ECANCELED);
    CHECK_EQ(jf.value, CORIO_ECANCELED);
    corio_task_release(t);
    CHECK_EQ(slot_drops(&s[2]), 1);
    return 0;
}

TEST(task_abort_stackless_calls_drop)
{
    slot s[3];
    for (int i = 0; i < 3; i++)
        slot_init(&s[i]);
    CHECK_EQ(run_ok(abort_stackless_main, s), 0);
    CHECK_EQ(s[0].polls, 1);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(s[i].drops, 1);
        slot_destroy(&s[i]);
    }
}

/* Abort from another pthread, while the runtime is parked. */
typedef struct foreign_abort_ctx {
    slot s;
    corio_task *t;
    atomic_int aborted;
    int await_rc;
} foreign_abort_ctx;

static int foreign_abort_victim(void *arg)
{
    foreign_abort_ctx *fc = arg;
    slot_fut f;
    slot_fut_init(&f, &fc->s);
    fc->await_rc = corio_await(&f.base);
    CHECK_EQ(atomic_load(&fc->aborted), 1);
    return 6;
}

static void *foreign_aborter(void *arg)
{
    foreign_abort_ctx *fc = arg;
    thread_wait_waker(&fc->s);
    sleep_ms(20); /* the runtime is parked by now */
    atomic_store(&fc->aborted, 1);
    corio_task_abort(fc->t);
    return NULL;
}

static int foreign_abort_main(void *arg)
{
    foreign_abort_ctx *fc = arg;
    CHECK_EQ(corio_spawn(foreign_abort_victim, fc, &fc->t), 0);
    CHECK(fc->t != NULL);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, foreign_aborter, fc), 0);
    int r = 0;
    double t0 = mono_ms();
    CHECK_EQ(corio_task_join(fc->t, &r), CORIO_ECANCELED);
    CHECK(mono_ms() - t0 < 5000);
    CHECK_EQ(r, 6);
    pthread_join(th, NULL);
    return 0;
}

TEST(task_abort_from_foreign_thread)
{
    foreign_abort_ctx fc;
    memset(&fc, 0, sizeof fc);
    slot_init(&fc.s);
    atomic_init(&fc.aborted, 0);
    CHECK_EQ(run_ok(foreign_abort_main, &fc), 0);
    CHECK_EQ(fc.await_rc, CORIO_ECANCELED);
    CHECK_EQ(fc.s.drops, 1);
    slot_destroy(&fc.s);
}

/* A joiner that is cancelled while it waits gets CORIO_ECANCELED; the task it
 * waited for goes on, detached. */
typedef struct joiner_ctx {
    slot s;
    corio_task *inner;
    int join_rc;
    bool cancelled;
    int inner_done;
} joiner_ctx;

static int inner_fn(void *arg)
{
    joiner_ctx *jc = arg;
    slot_fut f;
    slot_fut_init(&f, &jc->s);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 3);
    jc->inner_done = 1;
    return 3;
}

static int joiner_fn(void *arg)
{
    joiner_ctx *jc = arg;
    CHECK_EQ(corio_spawn(inner_fn, jc, &jc->inner), 0);
    jc->join_rc = corio_task_join(jc->inner, NULL);
    jc->cancelled = corio_task_is_cancelled(corio_task_current());
    return 0;
}

static int joiner_main(void *arg)
{
    joiner_ctx *jc = arg;
    corio_task *j;
    CHECK_EQ(corio_spawn(joiner_fn, jc, &j), 0);
    task_wait_waker(&jc->s);
    corio_task_abort(j);
    CHECK_EQ(corio_task_join(j, NULL), CORIO_ECANCELED);
    CHECK_EQ(jc->join_rc, CORIO_ECANCELED);
    CHECK(jc->cancelled);
    CHECK_EQ(jc->inner_done, 0);
    slot_complete(&jc->s, 3);
    for (int i = 0; !jc->inner_done; i++) {
        CHECK(i < 2000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(task_cancelled_joiner_detaches_target)
{
    joiner_ctx jc;
    memset(&jc, 0, sizeof jc);
    slot_init(&jc.s);
    CHECK_EQ(run_ok(joiner_main, &jc), 0);
    CHECK_EQ(jc.inner_done, 1);
    CHECK_EQ(jc.s.drops, 0);
    slot_destroy(&jc.s);
}

