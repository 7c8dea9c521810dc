/* tests/test_time_scope.c - deadline scopes: corio_timeout_call
 * (include/corio/time.h).
 *
 * Once a scope's deadline passes, the await in progress and every later one
 * inside it return CORIO_ETIMEDOUT, the body's cleanup runs and its return
 * value still comes back; after the scope, awaits work normally again.
 * Scopes nest (an inner scope never outlives an outer deadline), and
 * cancellation wins over a scope and stays sticky past it.
 */
#include <corio.h>

#include <stdio.h>
#include <string.h>

#include "test.h"
#include "util.h"

#define MS(x) ((double)(x) / 1e6) /* ns -> ms, for printing */

/* ---- corio_timeout_call ------------------------------------------------------- */

typedef struct scope_log {
    int sleep1, sleep2, yield_rc, nested_rc, nested_ran;
    corio_instant t_sleep1;
    int cleaned;
    never_fut nf;
    int never_rc;
    corio_duration sleep_for;
    int ret;
} scope_log;

static int scope_body(void *arg)
{
    scope_log *l = arg;
    l->sleep1 = corio_sleep(l->sleep_for);
    l->t_sleep1 = corio_instant_now();
    /* Later awaits inside the expired scope fail at once. */
    l->sleep2 = corio_sleep(CORIO_MSEC(1));
    l->yield_rc = corio_yield();
    /* A scope opened inside an expired one: fn is not called. */
    l->nested_rc = corio_timeout_call(CORIO_SEC(1), set_flag, &l->nested_ran, NULL);
    never_init(&l->nf);
    l->never_rc = corio_await(&l->nf.base);
    l->cleaned = 1; /* cleanup code runs */
    return l->ret;
}

static int spin_body(void *arg)
{
    busy_until(corio_instant_add(corio_instant_now(), *(corio_duration *)arg));
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
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(300), sleep_on_time, &l.sleep_for, &res), 0);
    CHECK_EQ(res, 0);
    CHECK(corio_instant_now() - t0 < (corio_instant)(CORIO_MSEC(10) + LATE_SLACK));
    /* The scope is gone: a sleep past its old deadline works normally. */
    t0 = corio_instant_now();
    CHECK_EQ(corio_sleep(CORIO_MSEC(350)), 0);
    CHECK(corio_instant_now() - t0 >= (corio_instant)CORIO_MSEC(350));

    /* Elapsed: the 1 s sleep returns CORIO_ETIMEDOUT at the 40 ms deadline,
     * later awaits too (the never future is dropped once), the cleanup runs,
     * and fn's return value still comes back. */
    memset(&l, 0, sizeof l);
    l.sleep_for = CORIO_SEC(1);
    l.ret = 99;
    res = 0;
    t0 = corio_instant_now();
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(40), scope_body, &l, &res), CORIO_ETIMEDOUT);
    corio_instant t1 = corio_instant_now();
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
    t0 = corio_instant_now();
    CHECK_EQ(corio_sleep(CORIO_MSEC(15)), 0);
    CHECK(corio_instant_now() - t0 >= (corio_instant)CORIO_MSEC(15));
    value_fut v;
    value_init(&v, CORIO_MSEC(2), 8);
    CHECK_EQ(corio_await(&v.base), 0);
    CHECK_EQ(v.base.result, 8);

    /* The deadline passes while fn computes, and fn returns without
     * awaiting again: its work is complete, the scope returns 0. */
    res = 0;
    corio_duration spin = CORIO_MSEC(30);
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(5), spin_body, &spin, &res), 0);
    CHECK_EQ(res, 5);
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);

    /* A join interrupted by the scope: CORIO_ETIMEDOUT, the task goes on
     * detached and finishes on its own. */
    join_done = 0;
    CHECK_EQ(corio_spawn(join_child_fn, NULL, &join_child), 0);
    CHECK(join_child != NULL);
    t0 = corio_instant_now();
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(20), join_body, NULL, &res), CORIO_ETIMEDOUT);
    CHECK_EQ(res, CORIO_ETIMEDOUT);
    CHECK(corio_instant_now() - t0 < (corio_instant)(CORIO_MSEC(20) + LATE_SLACK));
    CHECK_EQ(join_done, 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(100)), 0);
    CHECK_EQ(join_done, 1);

    /* A zero or negative deadline: the first await fails at once. */
    memset(&l, 0, sizeof l);
    l.sleep_for = CORIO_MSEC(100);
    l.ret = 3;
    t0 = corio_instant_now();
    CHECK_EQ(corio_timeout_call(0, scope_body, &l, &res), CORIO_ETIMEDOUT);
    CHECK_EQ(l.sleep1, CORIO_ETIMEDOUT);
    CHECK_EQ(res, 3);
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_MSEC(20));
    memset(&l, 0, sizeof l);
    l.sleep_for = CORIO_MSEC(100);
    CHECK_EQ(corio_timeout_call(-CORIO_SEC(1), scope_body, &l, NULL), CORIO_ETIMEDOUT);
    CHECK_EQ(l.sleep1, CORIO_ETIMEDOUT);
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    return 0;
}

TEST_TIMING(time_with_timeout_scope)
{
    CHECK_EQ(run_main(with_timeout_main, NULL), 0);
    /* Plain code: not inside a task. */
    int res = 0;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(1), sleep_on_time, NULL, &res), CORIO_EWRONGCTX);
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
    l->t_sleep = corio_instant_now();
    return l->sleep_rc;
}

static int nest_outer_body(void *arg)
{
    nest_log *l = arg;
    l->inner_rc = corio_timeout_call(l->inner_d, nest_inner_body, l, &l->inner_res);
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
    corio_instant t0 = corio_instant_now();
    int rc = corio_timeout_call(CORIO_MSEC(40), nest_outer_body, &l, &res);
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
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_MSEC(200));

    /* Inner deadline shorter: the inner scope times out, the outer one goes
     * on normally and returns 0. */
    memset(&l, 0, sizeof l);
    l.inner_d = CORIO_MSEC(30);
    res = 0;
    t0 = corio_instant_now();
    rc = corio_timeout_call(CORIO_MSEC(400), nest_outer_body, &l, &res);
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
    rcs[2] = corio_timeout_call(CORIO_SEC(3), cancel_in_scope_body, rcs, &res);
    rcs[3] = res;
    rcs[4] = corio_sleep(CORIO_MSEC(1));
    return 0;
}

static int cancel_in_scope_main(void *arg)
{
    int rcs[5] = {1, 1, 1, 1, 1};
    corio_task *t;
    CHECK_EQ(corio_spawn(cancel_in_scope_task, rcs, &t), 0);
    CHECK(t != NULL);
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    corio_task_abort(t);
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_task_join(t, NULL), CORIO_ECANCELED);
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_MSEC(100));
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

/* corio_timeout_call_until: the same scope with the deadline as an instant. */
static int scope_until_main(void *arg)
{
    scope_log l;
    memset(&l, 0, sizeof l);
    l.sleep_for = CORIO_SEC(1);
    l.ret = 21;
    int res = 0;
    corio_instant deadline = corio_instant_add(corio_instant_now(), CORIO_MSEC(30));
    CHECK_EQ(corio_timeout_call_until(deadline, scope_body, &l, &res), CORIO_ETIMEDOUT);
    CHECK_EQ(res, 21);
    CHECK_EQ(l.sleep1, CORIO_ETIMEDOUT);
    CHECK(l.t_sleep1 >= deadline);
    CHECK(l.t_sleep1 - deadline < (corio_instant)LATE_SLACK);
    CHECK_EQ(l.sleep2, CORIO_ETIMEDOUT);
    CHECK_EQ(l.nf.drops, 1);
    CHECK_EQ(l.cleaned, 1);

    /* A deadline that is not reached: 0 and fn's result. */
    corio_duration d = CORIO_MSEC(5);
    res = -1;
    deadline = corio_instant_add(corio_instant_now(), CORIO_MSEC(300));
    CHECK_EQ(corio_timeout_call_until(deadline, sleep_on_time, &d, &res), 0);
    CHECK_EQ(res, 0);

    /* A deadline already passed: fn runs, its first await fails. */
    memset(&l, 0, sizeof l);
    l.sleep_for = CORIO_MSEC(100);
    l.ret = 4;
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_timeout_call_until(0, scope_body, &l, &res), CORIO_ETIMEDOUT);
    CHECK_EQ(res, 4);
    CHECK_EQ(l.sleep1, CORIO_ETIMEDOUT);
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_MSEC(20));

    /* No function: -EINVAL, and no scope is left behind. */
    CHECK_EQ(corio_timeout_call(CORIO_SEC(1), NULL, NULL, &res), -EINVAL);
    CHECK_EQ(corio_timeout_call_until(corio_instant_now(), NULL, NULL, NULL), -EINVAL);
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    return 0;
}

TEST_TIMING(time_timeout_call_until)
{
    CHECK_EQ(run_main(scope_until_main, NULL), 0);
    /* Plain code: not inside a task. */
    int res = 0;
    CHECK_EQ(corio_timeout_call_until(corio_instant_now(), sleep_on_time, NULL, &res),
             CORIO_EWRONGCTX);
}

/* ---- a deadline that passes while no await of the body is interrupted ---------- */

/* The body's last await completes (READY) but its cooperative-budget yield
 * lets the runtime fire the scope's timer before it resumes. No await of
 * the body returned CORIO_ETIMEDOUT, so the scope reports 0: the budget
 * yield must not count as delivering the deadline (time.h: "0: fn returned
 * without any await of it being interrupted by this deadline"). */
typedef struct budget_case {
    int awaits_ok, awaits_failed;
    int spin_ms;
    int spun; /* the spinner ran: set on the same thread (current-thread rt) */
} budget_case;

static int budget_spinner(void *arg)
{
    budget_case *b = arg;
    corio_instant end = corio_instant_add(corio_instant_now(), CORIO_MSEC(b->spin_ms));
    while (corio_instant_now() < end) {
    }
    b->spun = 1;
    return 0;
}

static int budget_body(void *arg)
{
    budget_case *b = arg;
    int polls = 0;
    /* Ready awaits until one of them has yielded to the spinner (the
     * budget-th does), whose 20 ms outlast the 5 ms deadline; stop right
     * after it, as a body that finished its work would. */
    for (int i = 0; i < 4 * CORIO_COOP_BUDGET && !b->spun; i++) {
        ready_fut f;
        ready_fut_init(&f, &polls);
        if (corio_await(&f.base) == 0)
            b->awaits_ok++;
        else
            b->awaits_failed++;
    }
    return 7;
}

static int budget_main(void *arg)
{
    (void)arg;
    budget_case b = {0, 0, 20, 0};
    corio_task *t;
    CHECK_EQ(corio_spawn(budget_spinner, &b, &t), 0);
    int result = 0;
    int scope_rc = corio_timeout_call(CORIO_MSEC(5), budget_body, &b, &result);
    CHECK_EQ(b.spun, 1);
    CHECK_EQ(b.awaits_failed, 0);
    CHECK(b.awaits_ok > 0 && b.awaits_ok <= CORIO_COOP_BUDGET);
    CHECK_EQ(scope_rc, 0);
    CHECK_EQ(result, 7);
    int rc;
    CHECK_EQ(corio_task_join(t, &rc), 0);
    /* The scope is gone: awaits work again. */
    CHECK_EQ(corio_sleep(0), 0);
    return 0;
}

TEST(time_timeout_call_budget_yield_past_deadline_is_not_a_timeout)
{
    /* event_interval 1: the scheduler turns its timers between any two
     * polls, so the timer fires while the body sits in its budget yield. */
    corio_rt_builder bld = corio_rt_builder_current_thread();
    bld.event_interval = 1;
    corio_rt *rt;
    CHECK_EQ(corio_rt_build(&bld, &rt), 0);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, budget_main, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}
