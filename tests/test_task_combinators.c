/* tests/test_task_combinators.c - join_all and try_join_all over futures
 * (corio/join.h), and the combinators' future forms nested in a stackless
 * task: one test per promise of the header, on the current-thread runtime.
 * select and references are in test_task_select.c, JoinSet and
 * task_join_all in test_task_join_set.c, the multi-thread stress loops in
 * test_task_combinators_stress.c. */
#include <errno.h>
#include <string.h>

#include "corio/join.h"
#include "corio/select.h"
#include "test.h"
#include "util.h"

/* A zeroed future: no vtable. */
static corio_future zeroed;

/* ---- join_all --------------------------------------------------------------- */

static int join_every_output_main(void *arg)
{
    (void)arg;
    count_fut a, b, c;
    count_init(&a, 0, 1);
    count_init(&b, 2, 2);
    count_init(&c, 1, -3); /* an error is an output like any other for join_all */
    CHECK_EQ(corio_join_all(CORIO_FUTURES(&a.base, &b.base, &c.base)), 0);
    CHECK_EQ(a.base.result, 1);
    CHECK_EQ(b.base.result, 2);
    CHECK_EQ(c.base.result, -3);
    /* A finished future is not polled again; none is dropped. */
    CHECK_EQ(atomic_load(&a.polls), 1);
    CHECK_EQ(atomic_load(&b.polls), 3);
    CHECK_EQ(atomic_load(&c.polls), 2);
    CHECK_EQ(atomic_load(&a.drops) + atomic_load(&b.drops) + atomic_load(&c.drops), 0);
    return 0;
}

TEST(combinators_join_all_every_output_in_its_future)
{
    CHECK_EQ(run_main(join_every_output_main, NULL), 0);
}

static int join_concurrent_main(void *arg)
{
    (void)arg;
    double t0 = mono_ms(); /* before the inits read the clock */
    value_fut a, b;
    value_init(&a, CORIO_MSEC(100), 1);
    value_init(&b, CORIO_MSEC(200), 2);
    CHECK_EQ(corio_join_all(CORIO_FUTURES(&a.base, &b.base)), 0);
    double ms = mono_ms() - t0;
    CHECK(ms >= 199.0 && ms < 290.0); /* max(100, 200): the waits overlap */
    CHECK_EQ(a.base.result + b.base.result, 3);
    CHECK_EQ(a.drops + b.drops, 0);
    return 0;
}

TEST(combinators_join_all_runs_the_futures_concurrently)
{
    CHECK_EQ(run_main(join_concurrent_main, NULL), 0);
}

static int join_null_entries_main(void *arg)
{
    (void)arg;
    count_fut a;
    count_init(&a, 1, 7);
    CHECK_EQ(corio_join_all(CORIO_FUTURES(NULL, &a.base, NULL)), 0);
    CHECK_EQ(a.base.result, 7);
    CHECK_EQ(corio_join_all(NULL, 0), 0); /* nothing to wait for */
    corio_future *none[2] = {NULL, NULL};
    CHECK_EQ(corio_join_all(none, 2), 0);
    size_t failed = 5;
    CHECK_EQ(corio_try_join_all(none, 2, &failed), 0);
    CHECK_EQ(failed, CORIO_INDEX_NONE);
    return 0;
}

TEST(combinators_join_all_null_entries_are_left_out)
{
    CHECK_EQ(run_main(join_null_entries_main, NULL), 0);
}

static int join_misuse_main(void *arg)
{
    (void)arg;
    count_fut a;
    count_init(&a, 0, 1);
    CHECK_EQ(corio_join_all(NULL, 2), -EINVAL);
    CHECK_EQ(corio_join_all(CORIO_FUTURES(&a.base, &zeroed)), -EINVAL);
    size_t failed = 3;
    CHECK_EQ(corio_try_join_all(CORIO_FUTURES(&a.base, &zeroed), &failed), -EINVAL);
    CHECK_EQ(failed, CORIO_INDEX_NONE);
    CHECK_EQ(corio_try_join_all(NULL, 1, NULL), -EINVAL);
    /* Left alone: not polled, not dropped. */
    CHECK_EQ(atomic_load(&a.polls), 0);
    CHECK_EQ(atomic_load(&a.drops), 0);
    /* The future forms complete at once with -EINVAL, and leave them alone
     * too, also when dropped. */
    corio_future *bad[2] = {&a.base, &zeroed};
    corio_join_all_fut j;
    corio_join_all_fut_init(&j, bad, 2);
    CHECK_EQ(corio_await(&j.base), 0);
    CHECK_EQ(j.base.result, -EINVAL);
    corio_try_join_all_fut tj;
    corio_try_join_all_fut_init(&tj, bad, 2);
    corio_future_drop(&tj.base);
    corio_try_join_all_fut_init(&tj, NULL, 3);
    CHECK_EQ(corio_await(&tj.base), 0);
    CHECK_EQ(tj.base.result, -EINVAL);
    CHECK_EQ(tj.failed, CORIO_INDEX_NONE);
    CHECK_EQ(atomic_load(&a.polls) + atomic_load(&a.drops), 0);
    corio_join_all_fut_init(NULL, bad, 2); /* initialisers do nothing for NULL */
    corio_try_join_all_fut_init(NULL, bad, 2);
    return 0;
}

TEST(combinators_join_misuse_is_einval_and_touches_nothing)
{
    CHECK_EQ(run_main(join_misuse_main, NULL), 0);
}

TEST(combinators_join_select_outside_a_task_is_ewrongctx)
{
    count_fut a;
    count_init(&a, 0, 1);
    size_t i = 0, failed = 0;
    CHECK_EQ(corio_join_all(CORIO_FUTURES(&a.base)), CORIO_EWRONGCTX);
    CHECK_EQ(corio_try_join_all(CORIO_FUTURES(&a.base), &failed), CORIO_EWRONGCTX);
    CHECK_EQ(failed, CORIO_INDEX_NONE);
    CHECK_EQ(corio_select(CORIO_FUTURES(&a.base), &i), CORIO_EWRONGCTX);
    CHECK_EQ(i, CORIO_INDEX_NONE);
    CHECK_EQ(corio_select_biased(CORIO_FUTURES(&a.base), &i), CORIO_EWRONGCTX);
    CHECK_EQ(atomic_load(&a.polls) + atomic_load(&a.drops), 0);
    /* Nothing to join is no exception (corio/join.h). */
    CHECK_EQ(corio_join_all(NULL, 0), CORIO_EWRONGCTX);
    CHECK_EQ(corio_try_join_all(CORIO_FUTURES(NULL), &failed), CORIO_EWRONGCTX);
    /* In plain code, the future forms run under corio_block_on_future. */
    value_fut v, w;
    value_init(&v, CORIO_MSEC(5), 4);
    value_init(&w, CORIO_MSEC(1), 5);
    corio_join_all_fut j;
    corio_join_all_fut_init(&j, CORIO_FUTURES(&v.base, &w.base));
    CHECK_EQ(corio_block_on_future(&j.base), 0);
    CHECK_EQ(j.base.result, 0);
    CHECK_EQ(v.base.result + w.base.result, 9);
}

/* Aborted while blocked in a join: every unfinished future is dropped once,
 * the finished ones keep their outputs. */
typedef struct blocked {
    count_fut done;
    never_fut n1, n2;
    int rc;
} blocked;

static int blocked_in_join(void *arg)
{
    blocked *b = arg;
    b->rc = corio_join_all(CORIO_FUTURES(&b->done.base, &b->n1.base, &b->n2.base));
    return 0;
}

static int join_cancel_main(void *arg)
{
    (void)arg;
    blocked b;
    count_init(&b.done, 0, 9);
    never_init(&b.n1);
    never_init(&b.n2);
    corio_task *t;
    CHECK_EQ(corio_spawn(blocked_in_join, &b, &t), 0);
    settle();
    CHECK_EQ(b.n1.polls, 1);
    corio_task_abort(t);
    join_rc(t);
    CHECK_EQ(b.rc, CORIO_ECANCELED);
    CHECK_EQ(b.n1.drops, 1);
    CHECK_EQ(b.n2.drops, 1);
    CHECK_EQ(atomic_load(&b.done.drops), 0);
    CHECK_EQ(b.done.base.result, 9);
    return 0;
}

TEST(combinators_join_all_cancelled_drops_each_unfinished_future_once)
{
    CHECK_EQ(run_main(join_cancel_main, NULL), 0);
}

static int join_deadline_main(void *arg)
{
    (void)arg;
    never_fut n;
    value_fut v;
    never_init(&n);
    value_init(&v, CORIO_MSEC(5), 3);
    corio_join_all_fut j;
    corio_join_all_fut_init(&j, CORIO_FUTURES(&n.base, &v.base));
    double t0 = mono_ms();
    CHECK_EQ(corio_timeout(&j.base, CORIO_MSEC(40)), CORIO_ETIMEDOUT);
    CHECK(mono_ms() - t0 >= 39.0);
    CHECK_EQ(n.drops, 1);
    CHECK_EQ(v.drops, 0); /* it completed first */
    CHECK_EQ(v.base.result, 3);
    /* Completed in time: 0, and the join's own result. */
    value_init(&v, CORIO_MSEC(5), 4);
    corio_join_all_fut_init(&j, CORIO_FUTURES(&v.base));
    CHECK_EQ(corio_timeout(&j.base, CORIO_SEC(5)), 0);
    CHECK_EQ(j.base.result, 0);
    CHECK_EQ(v.base.result, 4);
    return 0;
}

TEST(combinators_join_all_under_a_timeout)
{
    CHECK_EQ(run_main(join_deadline_main, NULL), 0);
}

/* More than 64 futures: each gets its own waker, and a wake polls only
 * the future it was for. */
#define MANY 300

static int join_many_main(void *arg)
{
    (void)arg;
    static count_fut c[MANY];
    static corio_future *f[MANY];
    long want = 0;
    for (int i = 0; i < MANY; i++) {
        count_init(&c[i], i % 5, i);
        f[i] = i % 7 == 3 ? NULL : &c[i].base;
        if (f[i])
            want += i;
    }
    CHECK_EQ(corio_join_all(f, MANY), 0);
    long sum = 0;
    for (int i = 0; i < MANY; i++) {
        if (!f[i]) {
            CHECK_EQ(atomic_load(&c[i].polls), 0);
            continue;
        }
        sum += c[i].base.result;
        CHECK_EQ(atomic_load(&c[i].polls), i % 5 + 1); /* never polled for nothing */
        CHECK_EQ(atomic_load(&c[i].drops), 0);
    }
    CHECK_EQ(sum, want);
    /* try_join_all above 64, failing: the unfinished ones dropped once. */
    static never_fut nv[MANY];
    for (int i = 0; i < MANY; i++) {
        never_init(&nv[i]);
        f[i] = &nv[i].base;
    }
    count_fut bad;
    count_init(&bad, 3, -EPIPE);
    f[200] = &bad.base;
    size_t failed;
    CHECK_EQ(corio_try_join_all(f, MANY, &failed), -EPIPE);
    CHECK_EQ(failed, 200);
    for (int i = 0; i < MANY; i++)
        if (i != 200) {
            CHECK_EQ(nv[i].drops, 1);
            CHECK_EQ(nv[i].polls, 1); /* polled once, never again: not woken */
        }
    CHECK_EQ(atomic_load(&bad.drops), 0);
    /* Dropped while waiting: every unfinished one dropped once. */
    for (int i = 0; i < MANY; i++) {
        never_init(&nv[i]);
        f[i] = &nv[i].base;
    }
    corio_join_all_fut j;
    corio_join_all_fut_init(&j, f, MANY);
    CHECK_EQ(corio_timeout(&j.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    for (int i = 0; i < MANY; i++)
        CHECK_EQ(nv[i].drops, 1);
    return 0;
}

TEST(combinators_join_all_many_futures_polls_only_the_woken)
{
    CHECK_EQ(run_main(join_many_main, NULL), 0);
}

/* ---- try_join_all ----------------------------------------------------------------- */

static int try_join_ok_main(void *arg)
{
    (void)arg;
    count_fut a, b;
    count_init(&a, 1, 10);
    count_init(&b, 0, 0);
    size_t failed = 0;
    CHECK_EQ(corio_try_join_all(CORIO_FUTURES(&a.base, &b.base), &failed), 0);
    CHECK_EQ(failed, CORIO_INDEX_NONE);
    CHECK_EQ(a.base.result, 10);
    /* The future form. */
    count_init(&a, 2, 1);
    count_init(&b, 1, 2);
    corio_try_join_all_fut tj;
    corio_try_join_all_fut_init(&tj, CORIO_FUTURES(&a.base, &b.base));
    CHECK_EQ(corio_await(&tj.base), 0);
    CHECK_EQ(tj.base.result, 0);
    CHECK_EQ(tj.failed, CORIO_INDEX_NONE);
    CHECK_EQ(a.base.result + b.base.result, 3);
    return 0;
}

TEST(combinators_try_join_all_succeeds_with_every_output)
{
    CHECK_EQ(run_main(try_join_ok_main, NULL), 0);
}

static int try_join_fail_main(void *arg)
{
    (void)arg;
    count_fut early, bad;
    value_fut slow;
    never_fut never;
    count_init(&early, 0, 5);           /* completes in the first pass */
    value_init(&slow, CORIO_SEC(10), 1); /* a sleep: its timer must go */
    count_init(&bad, 2, -ECONNREFUSED);
    never_init(&never);
    size_t failed = 0;
    double t0 = mono_ms();
    int rc = corio_try_join_all(CORIO_FUTURES(&early.base, &slow.base, &bad.base, &never.base),
                                &failed);
    CHECK(mono_ms() - t0 < 1000);
    CHECK_EQ(rc, -ECONNREFUSED);
    CHECK_EQ(failed, 2);
    CHECK_EQ(bad.base.result, -ECONNREFUSED);
    CHECK_EQ(atomic_load(&bad.drops), 0);
    CHECK_EQ(slow.drops, 1);
    CHECK_EQ(never.drops, 1);
    CHECK_EQ(atomic_load(&early.drops), 0); /* finished first: kept, not dropped */
    CHECK_EQ(early.base.result, 5);
    /* The future form says the same in its fields. */
    count_init(&bad, 0, -EIO);
    never_init(&never);
    corio_try_join_all_fut tj;
    corio_try_join_all_fut_init(&tj, CORIO_FUTURES(&never.base, &bad.base));
    CHECK_EQ(corio_await(&tj.base), 0);
    CHECK_EQ(tj.base.result, -EIO);
    CHECK_EQ(tj.failed, 1);
    CHECK_EQ(never.drops, 1);
    return 0;
}

TEST(combinators_try_join_all_first_error_drops_the_rest)
{
    CHECK_EQ(run_main(try_join_fail_main, NULL), 0);
}

/* A future failing with CORIO_ETIMEDOUT is told apart from the caller's
 * deadline by `failed`. */
static int scoped_try_join(void *arg)
{
    never_fut *n = arg;
    size_t failed = 7;
    int rc = corio_try_join_all(CORIO_FUTURES(&n->base), &failed);
    CHECK_EQ(failed, CORIO_INDEX_NONE);
    return rc;
}

static int try_join_timeouts_main(void *arg)
{
    (void)arg;
    count_fut own;
    count_init(&own, 0, CORIO_ETIMEDOUT);
    size_t failed;
    CHECK_EQ(corio_try_join_all(CORIO_FUTURES(&own.base), &failed), CORIO_ETIMEDOUT);
    CHECK_EQ(failed, 0); /* the future's own error */
    never_fut n;
    never_init(&n);
    int result;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(20), scoped_try_join, &n, &result), CORIO_ETIMEDOUT);
    CHECK_EQ(result, CORIO_ETIMEDOUT); /* the deadline: failed was CORIO_INDEX_NONE */
    CHECK_EQ(n.drops, 1);
    /* And the future form under corio_timeout. */
    never_init(&n);
    corio_try_join_all_fut tj;
    corio_try_join_all_fut_init(&tj, CORIO_FUTURES(&n.base));
    CHECK_EQ(corio_timeout(&tj.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    CHECK_EQ(n.drops, 1);
    return 0;
}

TEST(combinators_try_join_all_own_etimedout_vs_deadline)
{
    CHECK_EQ(run_main(try_join_timeouts_main, NULL), 0);
}

/* ---- the future forms in a stackless task, nested ------------------------------------ */

/* A stackless task polling a select over (a join of two futures, a sleep):
 * the pieces are set up at its first poll, in the task's own copy. */
typedef struct nested {
    corio_future base;
    bool started;
    count_fut a, b;
    corio_join_all_fut join;
    corio_sleep_fut tick;
    corio_select_fut sel;
    corio_future *jf[2];
    corio_future *sf[2];
    int *out; /* where the outcome goes (the test's memory) */
} nested;

static corio_poll nested_poll(corio_future *f, corio_context *cx)
{
    nested *n = (nested *)f;
    if (!n->started) {
        n->started = true;
        count_init(&n->a, 2, 20);
        count_init(&n->b, 1, 22);
        n->jf[0] = &n->a.base;
        n->jf[1] = &n->b.base;
        corio_join_all_fut_init(&n->join, n->jf, 2);
        corio_sleep_fut_init(&n->tick, CORIO_SEC(10));
        n->sf[0] = &n->tick.base;
        n->sf[1] = &n->join.base;
        corio_select_fut_init(&n->sel, n->sf, 2);
        /* A blocking call here would be wrong, and says so. */
        CHECK_EQ(corio_select(n->sf, 2, NULL), CORIO_EWRONGCTX);
        CHECK_EQ(corio_join_all(n->jf, 2), CORIO_EWRONGCTX);
    }
    if (corio_future_poll(&n->sel.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    CHECK_EQ(n->sel.index, 1);
    f->result = n->a.base.result + n->b.base.result;
    *n->out = atomic_load(&n->a.drops) + atomic_load(&n->b.drops);
    return CORIO_READY;
}

static const corio_future_vtable nested_vt = {nested_poll, NULL};

static int nested_main(void *arg)
{
    (void)arg;
    int drops = -1;
    nested n = {.started = false, .out = &drops};
    corio_future_init(&n.base, &nested_vt);
    corio_task *t;
    CHECK_EQ(corio_spawn_future(&n.base, sizeof n, &t), 0);
    CHECK_EQ(join_rc(t), 42);
    CHECK_EQ(drops, 0);
    return 0;
}

TEST(combinators_future_forms_nest_in_a_stackless_task)
{
    CHECK_EQ(run_main(nested_main, NULL), 0);
}
