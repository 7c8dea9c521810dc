/* tests/test_task_scope_nesting.c - scopes: nesting, children spawning into
 * their scope and corio_scope_join, stackless children, contexts, NULL, the
 * shield in a JoinSet's free, a child that never runs (split from
 * tests/test_task_scope.c by behaviour; the helpers it shares with it are in
 * tests/util_scope.c). */
#include <errno.h>
#include <string.h>

#include "corio/join_set.h"
#include "corio/scope.h"
#include "test.h"
#include "util.h"
#include "util_scope.h"

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

static int outer_scope(void *arg)
{
    return corio_scope_run(outer_body, arg, NULL);
}

static int nested_deadline_main(void *arg)
{
    (void)arg;
    nest n;
    atomic_init(&n.inner_cleanups, 0);
    atomic_init(&n.inner_started, 0);
    double t0 = mono_ms();
    int r = 0;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(30), outer_scope, &n, &r), CORIO_ETIMEDOUT);
    CHECK_EQ(r, CORIO_ETIMEDOUT);
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
    scope_cells_init(local, 4, 5, 7);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(corio_scope_spawn(sc, scope_cell_child, &local[i], &local[i].result), 0);
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
    scope_cells_init(local, 4, 30000, 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(corio_scope_spawn(sc, scope_cell_child, &local[i], &local[i].result), 0);
    CHECK_EQ(corio_scope_spawn(sc, scope_cancelling_child, sc, NULL), 0);
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
        CHECK_EQ(corio_scope_spawn(sc, scope_cell_child, &c[i], &c[i].result), 0);
    return 1;
}

TEST(scope_from_plain_code_blocks_until_the_children_finish)
{
    corio_rt *rt = new_mt_rt(2);
    cell c[4];
    scope_cells_init(c, 4, 10, 3);
    corio_scope_opts o = {.rt = rt};
    int r = 0;
    CHECK_EQ(corio_scope_run_with(&o, plain_body, c, &r), 0);
    CHECK_EQ(r, 1);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(c[i].value, 11);
        CHECK_EQ(c[i].result, 3);
    }
    /* No runtime to spawn into: the body is not called, *result is 0. */
    r = 5;
    CHECK_EQ(corio_scope_run(plain_body, c, &r), CORIO_EWRONGCTX);
    CHECK_EQ(r, 0);
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
    CHECK_EQ(cap_address_space(256 * 1024), 0);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, nostack_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}
