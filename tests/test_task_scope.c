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

/* ---- children ---------------------------------------------------------------- */

/* A slot in the caller's stack that a child borrows. */
typedef struct cell {
    int ms;        /* sleep this long, then... */
    int ret;       /* ...return this */
    int value;     /* written by the child after its sleep */
    int cleanups;  /* counted by the child whatever happened */
    int sleep_rc;  /* what the sleep returned */
    int result;    /* the scope writes the child's result here */
} cell;

static int cell_child(void *arg)
{
    cell *c = arg;
    int rc = corio_sleep(CORIO_MSEC(c->ms));
    c->sleep_rc = rc;
    if (rc == 0)
        c->value = c->ms + 1;
    c->cleanups++; /* the cleanup: runs whether cancelled or not */
    return rc < 0 ? rc : c->ret;
}

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
        CHECK_EQ(corio_scope_spawn(sc, cell_child, &cs->c[i], &cs->c[i].result), 0);
    if (cs->body_sleep_ms) {
        cs->body_sleep_rc = corio_sleep(CORIO_MSEC(cs->body_sleep_ms));
        cs->spawn_after_rc = corio_scope_spawn(sc, must_not_run, NULL, NULL);
    }
    return cs->body_ret;
}

static void cells_init(cell *c, int n, int ms, int ret)
{
    memset(c, 0, sizeof *c * (size_t)n);
    for (int i = 0; i < n; i++) {
        c[i].ms = ms;
        c[i].ret = ret;
        c[i].result = 12345;
    }
}

/* ---- the model: every child is joined; borrowing ------------------------------ */

static int joins_all_main(void *arg)
{
    (void)arg;
    cell c[8]; /* on this task's stack, borrowed by the children */
    cells_init(c, 8, 0, 0);
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
        CHECK_EQ(corio_scope_spawn(sc, cell_child, &f->c[i], &f->c[i].result), 0);
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
    cells_init(f.c, 4, 30000, 0);
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
    cells_init(c, 3, 30000, 0);
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

static int cancelling_child(void *arg)
{
    corio_scope *sc = arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    corio_scope_cancel(sc);
    corio_scope_cancel(sc); /* harmless twice */
    return 0;
}

typedef struct cancel_ctx {
    cell c[3];
    int body_rc;
} cancel_ctx;

static int cancel_body(corio_scope *sc, void *arg)
{
    cancel_ctx *x = arg;
    CHECK(!corio_scope_is_cancelled(sc));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_scope_spawn(sc, cell_child, &x->c[i], NULL), 0);
    CHECK_EQ(corio_scope_spawn(sc, cancelling_child, sc, NULL), 0);
    x->body_rc = corio_sleep(CORIO_SEC(30));
    CHECK_EQ(corio_yield(), CORIO_ECANCELED); /* sticky */
    return 0; /* not a failure: the scope's result is the cancel */
}

static int cancel_main(void *arg)
{
    (void)arg;
    cancel_ctx x;
    memset(&x, 0, sizeof x);
    cells_init(x.c, 3, 30000, 0);
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

static int deadline_main(void *arg)
{
    (void)arg;
    cell c[4];
    cells_init(c, 4, 30000, 0);
    c[0].ms = 5; /* finishes before the deadline */
    cells cs = {.c = c, .n = 4, .body_sleep_ms = 30000};
    corio_scope_opts o = {.timeout = CORIO_MSEC(50)};
    double t0 = mono_ms();
    CHECK_EQ(corio_scope_run_with(&o, spawn_cells_body, &cs, NULL), CORIO_ETIMEDOUT);
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
    CHECK_EQ(corio_yield(), 0); /* the deadline was the scope's, not ours */
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
    cells_init(c, 1, 30000, 0);
    cells cs = {.c = c, .n = 1, .body_sleep_ms = 30000};
    corio_scope_opts o = {.deadline = corio_instant_now() - 1};
    CHECK_EQ(corio_scope_run_with(&o, spawn_cells_body, &cs, NULL), CORIO_ETIMEDOUT);
    CHECK_EQ(cs.body_sleep_rc, CORIO_ETIMEDOUT); /* at the first await */
    CHECK_EQ(c[0].cleanups, 1);
    corio_scope_opts neg = {.timeout = -1};
    CHECK_EQ(corio_scope_run_with(&neg, spawn_cells_body, &cs, NULL), CORIO_ETIMEDOUT);
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

static int deadline_not_reached_main(void *arg)
{
    (void)arg;
    corio_scope_opts o = {.timeout = CORIO_MSEC(20)};
    int r = 0;
    CHECK_EQ(corio_scope_run_with(&o, fast_body, NULL, &r), 0);
    CHECK_EQ(r, 3);
    CHECK_EQ(corio_sleep(CORIO_MSEC(40)), 0); /* the scope's timer is gone with it */
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

/* ---- nesting ------------------------------------------------------------------------- */

typedef struct nest {
    atomic_int inner_cleanups;
    atomic_int inner_started;
} nest;

static int inner_leaf(void *arg)
{
    nest *n = arg;
    atomic_fetch_add(&n->inner_started, 1);
    int rc = corio_sleep(CORIO_SEC(30));
    atomic_fetch_add(&n->inner_cleanups, 1);
    return rc;
}

static int inner_body(corio_scope *sc, void *arg)
{
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_scope_spawn(sc, inner_leaf, arg, NULL), 0);
    return 0; /* the inner join waits for the leaves */
}

/* A child of the outer scope that opens an inner scope. */
static int middle(void *arg)
{
    return corio_scope_run(inner_body, arg, NULL);
}

static int outer_body(corio_scope *sc, void *arg)
{
    nest *n = arg;
    for (int i = 0; i < 2; i++)
        CHECK_EQ(corio_scope_spawn(sc, middle, n, NULL), 0);
    while (atomic_load(&n->inner_started) < 6)
        CHECK_EQ(corio_yield(), 0);
    /* An inner scope of the body itself, cancelled from outside. */
    return corio_scope_run(inner_body, n, NULL);
}

static int canceller(void *arg)
{
    corio_scope *sc = arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    corio_scope_cancel(sc);
    return 0;
}

static int outer_cancel_body(corio_scope *sc, void *arg)
{
    CHECK_EQ(corio_scope_spawn(sc, canceller, sc, NULL), 0);
    return outer_body(sc, arg);
}

static int nested_cancel_main(void *arg)
{
    (void)arg;
    nest n;
    atomic_init(&n.inner_cleanups, 0);
    atomic_init(&n.inner_started, 0);
    int r = 0;
    CHECK_EQ(corio_scope_run(outer_cancel_body, &n, &r), CORIO_ECANCELED);
    CHECK_EQ(r, CORIO_ECANCELED); /* the body's inner scope was cancelled too */
    CHECK_EQ(atomic_load(&n.inner_started), 9);
    CHECK_EQ(atomic_load(&n.inner_cleanups), 9); /* every inner leaf, before we returned */
    return 0;
}

TEST(scope_cancelling_an_outer_scope_cancels_the_inner_scopes)
{
    CHECK_EQ(run_main(nested_cancel_main, NULL), 0);
}

static int nested_deadline_main(void *arg)
{
    (void)arg;
    nest n;
    atomic_init(&n.inner_cleanups, 0);
    atomic_init(&n.inner_started, 0);
    corio_scope_opts o = {.timeout = CORIO_MSEC(30)};
    double t0 = mono_ms();
    CHECK_EQ(corio_scope_run_with(&o, outer_body, &n, NULL), CORIO_ETIMEDOUT);
    CHECK(mono_ms() - t0 < 5000.0);
    CHECK_EQ(atomic_load(&n.inner_cleanups), 9); /* the innermost never outlives it */
    return 0;
}

TEST(scope_outer_deadline_reaches_the_innermost_tasks)
{
    CHECK_EQ(run_main(nested_deadline_main, NULL), 0);
}

/* ---- children spawning into their scope; corio_scope_join ----------------------- */

static int grandchild(void *arg)
{
    atomic_int *n = arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    atomic_fetch_add(n, 1);
    return 0;
}

typedef struct spawner_arg {
    corio_scope *sc;
    atomic_int *n;
} spawner_arg;

static int spawner(void *arg)
{
    spawner_arg *a = arg;
    for (int i = 0; i < 4; i++)
        CHECK_EQ(corio_scope_spawn(a->sc, grandchild, a->n, NULL), 0);
    return 0; /* returns before its spawns finish: the scope waits for them */
}

static int grand_body(corio_scope *sc, void *arg)
{
    spawner_arg *a = arg;
    a->sc = sc;
    CHECK_EQ(corio_scope_spawn(sc, spawner, a, NULL), 0);
    return 0;
}

static int grandchildren_main(void *arg)
{
    (void)arg;
    atomic_int n = 0;
    spawner_arg a = {NULL, &n};
    CHECK_EQ(corio_scope_run(grand_body, &a, NULL), 0);
    CHECK_EQ(atomic_load(&n), 4);
    return 0;
}

TEST(scope_children_may_spawn_into_their_scope_and_are_joined_too)
{
    CHECK_EQ(run_main(grandchildren_main, NULL), 0);
}

typedef struct self_join {
    corio_scope *sc;
    int rc;
} self_join;

static int join_self_child(void *arg)
{
    self_join *j = arg;
    j->rc = corio_scope_join(j->sc);
    return 0;
}

static int join_in_body(corio_scope *sc, void *arg)
{
    (void)arg;
    cell local[4]; /* the body's own locals: borrowed only up to the join */
    cells_init(local, 4, 5, 7);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(corio_scope_spawn(sc, cell_child, &local[i], &local[i].result), 0);
    CHECK_EQ(corio_scope_join(sc), 0);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(local[i].result, 7);
        CHECK_EQ(local[i].value, 6);
    }
    self_join j = {sc, 0};
    CHECK_EQ(corio_scope_spawn(sc, join_self_child, &j, NULL), 0); /* still open */
    CHECK_EQ(corio_scope_join(sc), 0);
    CHECK_EQ(j.rc, -EDEADLK); /* a child cannot wait for itself */
    /* A join interrupted by a cancel still waits for the children. */
    cells_init(local, 4, 30000, 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(corio_scope_spawn(sc, cell_child, &local[i], &local[i].result), 0);
    CHECK_EQ(corio_scope_spawn(sc, cancelling_child, sc, NULL), 0);
    CHECK_EQ(corio_scope_join(sc), CORIO_ECANCELED);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(local[i].cleanups, 1);
        CHECK_EQ(local[i].result, CORIO_ECANCELED);
    }
    return 0;
}

static int join_main(void *arg)
{
    (void)arg;
    CHECK_EQ(corio_scope_run(join_in_body, NULL, NULL), CORIO_ECANCELED);
    return 0;
}

TEST(scope_join_lets_children_borrow_the_bodys_locals)
{
    CHECK_EQ(run_main(join_main, NULL), 0);
}

/* ---- stackless children ------------------------------------------------------------- */

typedef struct sl_fut {
    corio_future base;
    corio_sleep_fut sleep;
    int value;
    atomic_int *drops;
} sl_fut;

static corio_poll sl_poll(corio_future *f, corio_context *cx)
{
    sl_fut *s = (sl_fut *)f;
    if (corio_future_poll(&s->sleep.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    f->result = s->value;
    return CORIO_READY;
}

static void sl_drop(corio_future *f)
{
    sl_fut *s = (sl_fut *)f;
    corio_future_drop(&s->sleep.base);
    atomic_fetch_add(s->drops, 1);
}

static const corio_future_vtable sl_vt = {sl_poll, sl_drop};

static void sl_init(sl_fut *s, corio_duration d, int value, atomic_int *drops)
{
    corio_future_init(&s->base, &sl_vt);
    corio_sleep_fut_init(&s->sleep, d);
    s->value = value;
    s->drops = drops;
}

typedef struct sl_ctx {
    atomic_int drops;
    int r[3];
} sl_ctx;

static int stackless_body(corio_scope *sc, void *arg)
{
    sl_ctx *x = arg;
    sl_fut f;
    sl_init(&f, CORIO_MSEC(1), 5, &x->drops);
    CHECK_EQ(corio_scope_spawn_future(sc, &f.base, sizeof f, &x->r[0]), 0);
    sl_init(&f, CORIO_MSEC(2), -ENOENT, &x->drops); /* fails the scope */
    CHECK_EQ(corio_scope_spawn_future(sc, &f.base, sizeof f, &x->r[1]), 0);
    sl_init(&f, CORIO_SEC(30), 9, &x->drops); /* cancelled: dropped */
    CHECK_EQ(corio_scope_spawn_future(sc, &f.base, sizeof f, &x->r[2]), 0);
    CHECK_EQ(corio_scope_spawn_future(sc, NULL, sizeof f, NULL), -EINVAL);
    CHECK_EQ(corio_scope_spawn_future(sc, &f.base, 4, NULL), -EINVAL);
    return 0;
}

static int stackless_main(void *arg)
{
    (void)arg;
    sl_ctx x;
    atomic_init(&x.drops, 0);
    CHECK_EQ(corio_scope_run(stackless_body, &x, NULL), -ENOENT);
    CHECK_EQ(x.r[0], 5);
    CHECK_EQ(x.r[1], -ENOENT);
    CHECK_EQ(x.r[2], CORIO_ECANCELED);
    CHECK_EQ(atomic_load(&x.drops), 1);
    return 0;
}

TEST(scope_stackless_children_report_their_output_and_are_dropped_when_cancelled)
{
    CHECK_EQ(run_main(stackless_main, NULL), 0);
}

/* ---- contexts: plain code, poll functions ---------------------------------------- */

static int plain_body(corio_scope *sc, void *arg)
{
    cell *c = arg;
    for (int i = 0; i < 4; i++)
        CHECK_EQ(corio_scope_spawn(sc, cell_child, &c[i], &c[i].result), 0);
    return 1;
}

TEST(scope_from_plain_code_blocks_until_the_children_finish)
{
    corio_rt *rt = new_mt_rt(2);
    cell c[4];
    cells_init(c, 4, 10, 3);
    corio_scope_opts o = {.rt = rt};
    int r = 0;
    CHECK_EQ(corio_scope_run_with(&o, plain_body, c, &r), 0);
    CHECK_EQ(r, 1);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(c[i].value, 11);
        CHECK_EQ(c[i].result, 3);
    }
    /* No runtime to spawn into; a deadline needs a task. */
    CHECK_EQ(corio_scope_run(plain_body, c, NULL), CORIO_EWRONGCTX);
    corio_scope_opts d = {.rt = rt, .timeout = CORIO_MSEC(10)};
    CHECK_EQ(corio_scope_run_with(&d, plain_body, c, NULL), CORIO_EWRONGCTX);
    CHECK_EQ(corio_rt_free(rt), 0);
}

typedef struct poll_try {
    corio_future base;
    int rc;
} poll_try;

static corio_poll poll_try_poll(corio_future *f, corio_context *cx)
{
    (void)cx;
    poll_try *p = (poll_try *)f;
    p->rc = corio_scope_run(plain_body, NULL, NULL);
    f->result = p->rc;
    return CORIO_READY;
}

static const corio_future_vtable poll_try_vt = {poll_try_poll, NULL};

static int poll_fn_main(void *arg)
{
    (void)arg;
    poll_try p;
    corio_future_init(&p.base, &poll_try_vt);
    corio_task *t;
    CHECK_EQ(corio_spawn_future(&p.base, sizeof p, &t), 0);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, CORIO_EWRONGCTX);
    return 0;
}

TEST(scope_in_a_stackless_poll_function_is_wrong_context)
{
    CHECK_EQ(run_main(poll_fn_main, NULL), 0);
}

/* ---- NULL ---------------------------------------------------------------------------- */

static int null_body(corio_scope *sc, void *arg)
{
    (void)arg;
    CHECK_EQ(corio_scope_spawn(sc, NULL, NULL, NULL), -EINVAL);
    return 0;
}

static int null_main(void *arg)
{
    (void)arg;
    CHECK_EQ(corio_scope_run(NULL, NULL, NULL), -EINVAL);
    CHECK_EQ(corio_scope_spawn(NULL, nothing_main, NULL, NULL), -EINVAL);
    CHECK_EQ(corio_scope_spawn_future(NULL, NULL, 0, NULL), -EINVAL);
    CHECK_EQ(corio_scope_join(NULL), -EINVAL);
    corio_scope_cancel(NULL);
    CHECK(!corio_scope_is_cancelled(NULL));
    CHECK_EQ(corio_scope_run(null_body, NULL, NULL), 0);
    return 0;
}

TEST(scope_null_arguments)
{
    CHECK_EQ(run_main(null_main, NULL), 0);
}

/* ---- the shield in JoinSet's free -------------------------------------------------- */

static int js_slow_cleanup(void *arg)
{
    atomic_int *cleanups = arg;
    int rc = corio_sleep(CORIO_SEC(30));
    sleep_ms(20);
    atomic_fetch_add(cleanups, 1);
    return rc;
}

static int js_owner(void *arg)
{
    atomic_int *cleanups = arg;
    corio_join_set *s;
    CHECK_EQ(corio_join_set_new(&s), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(corio_join_set_spawn(s, js_slow_cleanup, cleanups, NULL), 0);
    CHECK_EQ(corio_join_set_join_next(s, NULL, NULL), CORIO_ECANCELED);
    corio_join_set_free(s); /* cancelled, but waits (shielded) */
    CHECK_EQ(atomic_load(cleanups), 4);
    CHECK_EQ(corio_yield(), CORIO_ECANCELED); /* held back, not lost */
    return 0;
}

static int js_free_main(void *arg)
{
    (void)arg;
    atomic_int cleanups = 0;
    corio_task *t;
    CHECK_EQ(corio_spawn(js_owner, &cleanups, &t), 0);
    settle();
    corio_task_abort(t);
    CHECK_EQ(join_rc(t), 0);
    CHECK_EQ(atomic_load(&cleanups), 4);
    return 0;
}

TEST(join_set_free_by_a_cancelled_owner_waits_for_the_cleanup)
{
    CHECK_EQ(run_main(js_free_main, NULL), 0);
}

/* ---- a child that never runs ---------------------------------------------------------- */


static long vm_size_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static int nostack_body(corio_scope *sc, void *arg)
{
    int *r = arg;
    corio_spawn_opts o = {.stack_size = CORIO_STACK_SIZE_MAX};
    CHECK_EQ(corio_scope_spawn_with(sc, &o, must_not_run, NULL, r), 0);
    return 0;
}

static int nostack_main(void *arg)
{
    (void)arg;
    int r = 0;
    CHECK_EQ(corio_scope_run(nostack_body, &r, NULL), -ENOMEM); /* a failure, not a hang */
    CHECK_EQ(r, -ENOMEM);
    CHECK_EQ(atomic_load(&never_called), 0);
    return 0;
}

/* A coroutine child that cannot get a stack never runs its function, so it
 * cannot report itself: the scope learns of it from its task's completion. */
TEST(scope_child_that_gets_no_stack_fails_the_scope)
{
    if (UNDER_SAN)
        return; /* the sanitizers' shadow memory needs the address space */
    if (test_emulated()) {
        /* qemu-user maps the guest's memory inside its own reservation:
         * RLIMIT_AS does not limit a guest mmap. */
        printf("SKIPPED under an emulator: RLIMIT_AS does not bound the guest's mmap\n");
        return;
    }
    corio_rt *rt = new_rt();
    long kb = vm_size_kb();
    CHECK(kb > 0);
    struct rlimit rl = {(rlim_t)(kb + 256 * 1024) * 1024, RLIM_INFINITY};
    CHECK_EQ(setrlimit(RLIMIT_AS, &rl), 0);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, nostack_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}
