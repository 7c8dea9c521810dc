/* tests/test_task_scope.c - structured concurrency (corio/scope.h) and the
 * core's shields (core/coro.h): one test per promise of the header, on the
 * current-thread runtime unless a test says otherwise. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "corio/join_set.h"
#include "corio/scope.h"
#include "test.h"
#include "util.h"
#include "util_scope.h"

/* ---- children ---------------------------------------------------------------- */

typedef struct cells {
    cell *c;
    int n;
    int body_sleep_ms; /* > 0: the body sleeps this long after spawning */
    int body_ret;
    int body_sleep_rc;
    int spawn_after_rc; /* a spawn tried after the body's sleep */
} cells;

static int spawn_cells_body(corio_scope *sc, void *arg)
{
    cells *cs = arg;
    for (int i = 0; i < cs->n; i++)
        CHECK_EQ(corio_scope_spawn(sc, scope_cell_child, &cs->c[i], &cs->c[i].result), 0);
    if (cs->body_sleep_ms) {
        cs->body_sleep_rc = corio_sleep(CORIO_MSEC(cs->body_sleep_ms));
        cs->spawn_after_rc = corio_scope_spawn(sc, must_not_run, NULL, NULL);
    }
    return cs->body_ret;
}

/* ---- the model: every child is joined; borrowing ------------------------------ */

static int joins_all_main(void *arg)
{
    (void)arg;
    cell c[8]; /* on this task's stack, borrowed by the children */
    scope_cells_init(c, 8, 0, 0);
    for (int i = 0; i < 8; i++)
        c[i].ms = 5 * i, c[i].ret = i;
    cells cs = {.c = c, .n = 8, .body_ret = 77};
    int result = 0;
    double t0 = mono_ms();
    CHECK_EQ(corio_scope_run(spawn_cells_body, &cs, &result), 0);
    CHECK(mono_ms() - t0 >= 34.0); /* the slowest child (35 ms) was waited for */
    CHECK_EQ(result, 77);          /* the body's return value */
    for (int i = 0; i < 8; i++) {
        CHECK_EQ(c[i].value, 5 * i + 1); /* written into our stack, before the return */
        CHECK_EQ(c[i].cleanups, 1);
        CHECK_EQ(c[i].result, i); /* positive results are values, not failures */
    }
    return 0;
}

TEST(scope_joins_every_child_and_children_borrow_the_callers_stack)
{
    CHECK_EQ(run_main(joins_all_main, NULL), 0);
}

TEST(scope_children_borrow_the_stack_on_a_multi_thread_runtime)
{
    corio_rt *rt = new_mt_rt(4);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, joins_all_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- failure policy -------------------------------------------------------------- */

static int failing_child(void *arg)
{
    int ms = (int)(intptr_t)arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(ms)), 0);
    return -EIO;
}

static int late_failing_child(void *arg)
{
    int *cleanups = arg;
    int rc = corio_sleep(CORIO_SEC(30));
    CHECK_EQ(rc, CORIO_ECANCELED);
    (*cleanups)++;
    return -EPIPE; /* after the cancel: not the scope's result */
}

typedef struct fail_ctx {
    cell c[4];
    int late_cleanups;
    int late_result;
    int fail_result;
} fail_ctx;

static int failure_body(corio_scope *sc, void *arg)
{
    fail_ctx *f = arg;
    for (int i = 0; i < 4; i++)
        CHECK_EQ(corio_scope_spawn(sc, scope_cell_child, &f->c[i], &f->c[i].result), 0);
    CHECK_EQ(corio_scope_spawn(sc, late_failing_child, &f->late_cleanups, &f->late_result), 0);
    CHECK_EQ(corio_scope_spawn(sc, failing_child, (void *)(intptr_t)10, &f->fail_result), 0);
    /* The failure interrupts the body too. */
    int rc = corio_sleep(CORIO_SEC(30));
    CHECK_EQ(rc, CORIO_ECANCELED);
    CHECK(corio_scope_is_cancelled(sc));
    /* A cancelled scope refuses spawns; nothing runs, arg stays ours. */
    CHECK_EQ(corio_scope_spawn(sc, must_not_run, NULL, NULL), CORIO_ECANCELED);
    return rc;
}

static int failure_main(void *arg)
{
    (void)arg;
    fail_ctx f;
    memset(&f, 0, sizeof f);
    scope_cells_init(f.c, 4, 30000, 0);
    int result = 0;
    double t0 = mono_ms();
    int rc = corio_scope_run(failure_body, &f, &result);
    CHECK(mono_ms() - t0 < 5000.0);
    CHECK_EQ(rc, -EIO);                /* the first failure */
    CHECK_EQ(result, CORIO_ECANCELED); /* the body's own return */
    CHECK_EQ(f.fail_result, -EIO);
    CHECK_EQ(f.late_result, -EPIPE); /* delivered, but not the scope's result */
    CHECK_EQ(f.late_cleanups, 1);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(f.c[i].sleep_rc, CORIO_ECANCELED); /* siblings cancelled... */
        CHECK_EQ(f.c[i].cleanups, 1);               /* ...and their cleanup ran */
        CHECK_EQ(f.c[i].result, CORIO_ECANCELED);
    }
    CHECK_EQ(atomic_load(&never_called), 0);
    return 0;
}

TEST(scope_first_child_failure_cancels_siblings_and_body_and_is_the_result)
{
    CHECK_EQ(run_main(failure_main, NULL), 0);
}

static int body_fails_main(void *arg)
{
    (void)arg;
    cell c[3];
    scope_cells_init(c, 3, 30000, 0);
    cells cs = {.c = c, .n = 3, .body_ret = -EBADF};
    int result = 0;
    CHECK_EQ(corio_scope_run(spawn_cells_body, &cs, &result), -EBADF);
    CHECK_EQ(result, -EBADF);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(c[i].sleep_rc, CORIO_ECANCELED);
        CHECK_EQ(c[i].cleanups, 1);
    }
    return 0;
}

TEST(scope_body_failure_cancels_every_child)
{
    CHECK_EQ(run_main(body_fails_main, NULL), 0);
}

/* ---- corio_scope_cancel ------------------------------------------------------------ */

typedef struct cancel_ctx {
    cell c[3];
    int body_rc;
} cancel_ctx;

static int cancel_body(corio_scope *sc, void *arg)
{
    cancel_ctx *x = arg;
    CHECK(!corio_scope_is_cancelled(sc));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_scope_spawn(sc, scope_cell_child, &x->c[i], NULL), 0);
    CHECK_EQ(corio_scope_spawn(sc, scope_cancelling_child, sc, NULL), 0);
    x->body_rc = corio_sleep(CORIO_SEC(30));
    CHECK_EQ(corio_yield(), CORIO_ECANCELED); /* sticky */
    return 0; /* not a failure: the scope's result is the cancel */
}

static int cancel_main(void *arg)
{
    (void)arg;
    cancel_ctx x;
    memset(&x, 0, sizeof x);
    scope_cells_init(x.c, 3, 30000, 0);
    CHECK_EQ(corio_scope_run(cancel_body, &x, NULL), CORIO_ECANCELED);
    CHECK_EQ(x.body_rc, CORIO_ECANCELED);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(x.c[i].cleanups, 1);
    CHECK_EQ(corio_yield(), 0); /* the owner itself is not cancelled */
    return 0;
}

TEST(scope_cancel_cancels_children_and_interrupts_the_body)
{
    CHECK_EQ(run_main(cancel_main, NULL), 0);
}

/* ---- deadline ---------------------------------------------------------------------- */

/* A scope has no deadline of its own: a deadline scope goes around it. */
static int cells_scope(void *arg)
{
    return corio_scope_run(spawn_cells_body, arg, NULL);
}

static int deadline_main(void *arg)
{
    (void)arg;
    cell c[4];
    scope_cells_init(c, 4, 30000, 0);
    c[0].ms = 5; /* finishes before the deadline */
    cells cs = {.c = c, .n = 4, .body_sleep_ms = 30000};
    double t0 = mono_ms();
    int r = 0;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(50), cells_scope, &cs, &r), CORIO_ETIMEDOUT);
    CHECK_EQ(r, CORIO_ETIMEDOUT); /* the scope's status */
    double ms = mono_ms() - t0;
    CHECK(ms >= 49.0 && ms < 2000.0);
    CHECK_EQ(cs.body_sleep_rc, CORIO_ETIMEDOUT); /* the body's awaits */
    CHECK_EQ(cs.spawn_after_rc, CORIO_ETIMEDOUT);
    CHECK_EQ(c[0].value, 6);
    CHECK_EQ(c[0].result, 0);
    for (int i = 1; i < 4; i++) {
        CHECK_EQ(c[i].sleep_rc, CORIO_ECANCELED); /* children are aborted */
        CHECK_EQ(c[i].cleanups, 1);
    }
    CHECK_EQ(corio_yield(), 0); /* the deadline was the call's, not ours */
    return 0;
}

TEST(scope_deadline_cancels_everything_inside)
{
    CHECK_EQ(run_main(deadline_main, NULL), 0);
}

static int passed_deadline_main(void *arg)
{
    (void)arg;
    cell c[1];
    scope_cells_init(c, 1, 30000, 0);
    cells cs = {.c = c, .n = 1, .body_sleep_ms = 30000};
    int r = 0;
    CHECK_EQ(corio_timeout_call_until(corio_instant_now() - 1, cells_scope, &cs, &r),
             CORIO_ETIMEDOUT);
    CHECK_EQ(r, CORIO_ETIMEDOUT); /* the owner is interrupted already: */
    CHECK_EQ(cs.body_sleep_rc, 0);  /* the body is not called */
    CHECK_EQ(c[0].cleanups, 0);
    r = 0;
    CHECK_EQ(corio_timeout_call(-1, cells_scope, &cs, &r), CORIO_ETIMEDOUT);
    CHECK_EQ(r, CORIO_ETIMEDOUT);
    return 0;
}

TEST(scope_deadline_already_passed_cancels_at_the_first_await)
{
    CHECK_EQ(run_main(passed_deadline_main, NULL), 0);
}

static int fast_body(corio_scope *sc, void *arg)
{
    (void)arg;
    CHECK_EQ(corio_scope_spawn(sc, nothing_main, NULL, NULL), 0);
    return 3;
}

static int fast_scope(void *arg)
{
    int *r = arg;
    return corio_scope_run(fast_body, NULL, r);
}

static int deadline_not_reached_main(void *arg)
{
    (void)arg;
    int r = 0, status = -1;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(20), fast_scope, &r, &status), 0);
    CHECK_EQ(status, 0);
    CHECK_EQ(r, 3);
    CHECK_EQ(corio_sleep(CORIO_MSEC(40)), 0); /* the deadline's timer is gone with it */
    return 0;
}

TEST(scope_deadline_not_reached_leaves_nothing_behind)
{
    CHECK_EQ(run_main(deadline_not_reached_main, NULL), 0);
}

/* ---- the owner's own cancellation: the join still waits (shield) --------------- */

/* A child that is slow to clean up: it blocks its thread 30 ms after being
 * cancelled, then writes into the owner's stack. */
static int slow_cleanup_child(void *arg)
{
    int *out = arg;
    int rc = corio_sleep(CORIO_SEC(30));
    CHECK_EQ(rc, CORIO_ECANCELED);
    sleep_ms(30);
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), CORIO_ECANCELED); /* sticky in the child */
    *out = 42; /* the owner's frame must still be there */
    return rc;
}

typedef struct owner_ctx {
    int scope_rc;
    int seen;
    int after_rc;
    int returned;
} owner_ctx;

static int slow_cleanup_body(corio_scope *sc, void *arg)
{
    int *slots = arg;
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_scope_spawn(sc, slow_cleanup_child, &slots[i], NULL), 0);
    return corio_sleep(CORIO_SEC(30));
}

static int owner_task(void *arg)
{
    owner_ctx *o = arg;
    int slots[3] = {0, 0, 0}; /* the children's borrowed memory */
    o->scope_rc = corio_scope_run(slow_cleanup_body, slots, NULL);
    o->seen = slots[0] + slots[1] + slots[2];
    o->after_rc = corio_yield(); /* the cancellation, delivered */
    o->returned = 1;
    return o->scope_rc;
}

static int owner_cancelled_main(void *arg)
{
    (void)arg;
    owner_ctx o;
    memset(&o, 0, sizeof o);
    corio_task *t;
    CHECK_EQ(corio_spawn(owner_task, &o, &t), 0);
    settle();
    corio_task_abort(t);
    int r;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(o.returned, 1);
    CHECK_EQ(o.scope_rc, CORIO_ECANCELED);
    CHECK_EQ(o.seen, 3 * 42); /* every child wrote before the scope returned */
    CHECK_EQ(o.after_rc, CORIO_ECANCELED);
    return 0;
}

TEST(scope_cancelled_owner_still_waits_for_its_children)
{
    CHECK_EQ(run_main(owner_cancelled_main, NULL), 0);
}

/* The owner is aborted while it is in the final join already. */
static int joining_owner_body(corio_scope *sc, void *arg)
{
    int *slots = arg;
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_scope_spawn(sc, slow_cleanup_child, &slots[i], NULL), 0);
    return 0; /* straight to the final join */
}

static int joining_owner_task(void *arg)
{
    owner_ctx *o = arg;
    int slots[3] = {0, 0, 0};
    o->scope_rc = corio_scope_run(joining_owner_body, slots, NULL);
    o->seen = slots[0] + slots[1] + slots[2];
    o->after_rc = corio_yield();
    o->returned = 1;
    return 0;
}

static int joining_owner_main(void *arg)
{
    (void)arg;
    owner_ctx o;
    memset(&o, 0, sizeof o);
    corio_task *t;
    CHECK_EQ(corio_spawn(joining_owner_task, &o, &t), 0);
    settle();
    corio_task_abort(t);
    CHECK_EQ(join_rc(t), 0);
    CHECK_EQ(o.scope_rc, CORIO_ECANCELED);
    CHECK_EQ(o.seen, 3 * 42);
    CHECK_EQ(o.after_rc, CORIO_ECANCELED);
    return 0;
}

TEST(scope_owner_aborted_during_the_final_join_cancels_and_waits)
{
    CHECK_EQ(run_main(joining_owner_main, NULL), 0);
}

/* An enclosing deadline scope (corio_timeout_call) reaches the children. */
static int in_timeout_call(void *arg)
{
    int *slots = arg;
    return corio_scope_run(joining_owner_body, slots, NULL);
}

static int enclosing_deadline_main(void *arg)
{
    (void)arg;
    int slots[3] = {0, 0, 0};
    int r = 0;
    double t0 = mono_ms();
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(20), in_timeout_call, slots, &r), CORIO_ETIMEDOUT);
    CHECK(mono_ms() - t0 >= 49.0); /* 20 ms, then the children's 30 ms cleanup */
    CHECK_EQ(r, CORIO_ETIMEDOUT);
    CHECK_EQ(slots[0] + slots[1] + slots[2], 3 * 42);
    CHECK_EQ(corio_yield(), 0);
    return 0;
}

TEST(scope_enclosing_deadline_cancels_the_children_and_is_the_result)
{
    CHECK_EQ(run_main(enclosing_deadline_main, NULL), 0);
}

static int already_cancelled_task(void *arg)
{
    int *called = arg;
    CHECK_EQ(corio_sleep(CORIO_SEC(30)), CORIO_ECANCELED);
    return corio_scope_run(spawn_cells_body, called, NULL); /* body not called */
}

static int already_cancelled_main(void *arg)
{
    (void)arg;
    corio_task *t;
    CHECK_EQ(corio_spawn(already_cancelled_task, NULL, &t), 0);
    settle();
    corio_task_abort(t);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, CORIO_ECANCELED);
    return 0;
}

TEST(scope_in_an_already_cancelled_task_does_not_call_the_body)
{
    CHECK_EQ(run_main(already_cancelled_main, NULL), 0);
}

/* ---- children spawned from elsewhere go to the scope's runtime ------------------- */

typedef struct elsewhere {
    corio_scope *sc;
    corio_rt *scope_rt;
    int rc_thread, rc_other_rt;
    corio_rt *ran_on[2];
    int results[2];
} elsewhere;

static int record_rt(void *arg)
{
    *(corio_rt **)arg = corio_rt_current();
    return 5;
}

static void *spawn_from_thread(void *arg)
{
    elsewhere *e = arg;
    e->rc_thread = corio_scope_spawn(e->sc, record_rt, &e->ran_on[0], &e->results[0]);
    return NULL;
}

static int spawn_from_other_rt(void *arg)
{
    elsewhere *e = arg;
    e->rc_other_rt = corio_scope_spawn(e->sc, record_rt, &e->ran_on[1], &e->results[1]);
    return 0;
}

static int elsewhere_body(corio_scope *sc, void *arg)
{
    elsewhere *e = arg;
    e->sc = sc;
    e->scope_rt = corio_rt_current();
    /* a plain thread, joined while the scope is open */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, spawn_from_thread, e), 0);
    pthread_join(th, NULL); /* blocks this worker briefly: fine in a test */
    /* a task of another runtime, driven by this thread */
    corio_rt *other;
    corio_rt_builder b = corio_rt_builder_multi_thread();
    b.worker_threads = 2;
    CHECK_EQ(corio_rt_build(&b, &other), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn_with(&(corio_spawn_opts){.rt = other}, spawn_from_other_rt, e, &t), 0);
    CHECK_EQ(corio_task_join(t, NULL), 0);
    CHECK_EQ(corio_scope_join(sc), 0);
    CHECK_EQ(corio_rt_free(other), 0);
    return 0;
}

static int elsewhere_main(void *arg)
{
    CHECK_EQ(corio_scope_run(elsewhere_body, arg, NULL), 0);
    return 0;
}

TEST(scope_spawn_from_a_plain_thread_or_another_runtime_goes_to_the_scopes_runtime)
{
    for (int mt = 0; mt < 2; mt++) {
        elsewhere e;
        memset(&e, 0, sizeof e);
        if (mt) {
            corio_rt *rt = new_mt_rt(2);
            CHECK_EQ(corio_rt_block_on(rt, elsewhere_main, &e, NULL), 0);
            CHECK_EQ(corio_rt_free(rt), 0);
        } else {
            CHECK_EQ(run_main(elsewhere_main, &e), 0);
        }
        CHECK_EQ(e.rc_thread, 0); /* it was CORIO_EWRONGCTX */
        CHECK_EQ(e.rc_other_rt, 0);
        CHECK(e.ran_on[0] == e.scope_rt);
        CHECK(e.ran_on[1] == e.scope_rt); /* it ran on the other runtime */
        CHECK_EQ(e.results[0], 5);
        CHECK_EQ(e.results[1], 5);
    }
}
