/* tests/test_time_timeout.c - timeouts on one future: corio_timeout and
 * corio_timeout_fut (include/corio/time.h).
 *
 * corio_timeout returns 0 when the inner future completed (its output stays
 * in the inner future's result) and CORIO_ETIMEDOUT when the deadline passed
 * first, having dropped the inner future exactly once; a timeout whose inner
 * future wins leaves its own timer disarmed. Timeouts compose and can be
 * spawned as stackless tasks.
 */
#include <corio.h>

#include <stdatomic.h>
#include <string.h>

#include "test.h"
#include "util.h"

#define MS(x) ((double)(x) / 1e6) /* ns -> ms, for printing */

/* ---- timeout ---------------------------------------------------------------- */

static spy to_spy;
static value_fut to_value;
static never_fut to_never;

static int timeout_ready_main(void *arg)
{
    /* Inner ready before the deadline: 0, its output in its own result,
     * nothing dropped. */
    corio_instant t0 = corio_instant_now(); /* before the init reads the clock */
    value_init(&to_value, CORIO_MSEC(10), 1234);
    CHECK_EQ(corio_timeout(&to_value.base, CORIO_MSEC(500)), 0);
    corio_duration took = (corio_duration)(corio_instant_now() - t0);
    CHECK_EQ(to_value.base.result, 1234);
    CHECK(took >= CORIO_MSEC(10));
    CHECK(took < CORIO_MSEC(10) + LATE_SLACK);
    CHECK_EQ(to_value.drops, 0);

    /* The timeout's own timer is disarmed when the inner one wins: a spy
     * around the timeout future sees exactly one wake (the inner sleep's),
     * not a second one when the 60 ms deadline passes. */
    value_init(&to_value, CORIO_MSEC(5), 77);
    corio_timeout_fut tf;
    corio_timeout_fut_init(&tf, &to_value.base, CORIO_MSEC(60));
    spy_init(&to_spy, &tf.base);
    CHECK_EQ(corio_await(&to_spy.base), 0);
    /* The timeout future's result says "inner completed" (0); the inner
     * output stays in the inner future. */
    CHECK_EQ(tf.base.result, 0);
    CHECK_EQ(to_spy.base.result, 0);
    CHECK_EQ(to_value.base.result, 77);
    CHECK_EQ(to_value.drops, 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(120)), 0);
    CHECK_EQ(atomic_load(&to_spy.wakes), 1);
    CHECK_EQ(atomic_load(&to_spy.refs), 0);
    CHECK_EQ(to_spy.drops, 0);

    /* An inner future that is ready at once never times out, even with a
     * zero or negative limit (it is polled first). */
    value_init(&to_value, 0, 5);
    CHECK_EQ(corio_timeout(&to_value.base, 0), 0);
    CHECK_EQ(to_value.base.result, 5);
    value_init(&to_value, -CORIO_MSEC(1), 6);
    CHECK_EQ(corio_timeout(&to_value.base, -CORIO_SEC(1)), 0);
    CHECK_EQ(to_value.base.result, 6);
    CHECK_EQ(to_value.drops, 0);
    /* Negative outputs pass through as they are, told apart from the
     * timeout's own status. */
    value_init(&to_value, CORIO_MSEC(1), -EPIPE);
    CHECK_EQ(corio_timeout(&to_value.base, CORIO_MSEC(100)), 0);
    CHECK_EQ(to_value.base.result, -EPIPE);
    /* Even an output of CORIO_ETIMEDOUT from the inner future is not taken
     * for the timeout elapsing. */
    value_init(&to_value, CORIO_MSEC(1), CORIO_ETIMEDOUT);
    CHECK_EQ(corio_timeout(&to_value.base, CORIO_MSEC(100)), 0);
    CHECK_EQ(to_value.base.result, CORIO_ETIMEDOUT);
    CHECK_EQ(to_value.drops, 0);
    return 0;
}

TEST_TIMING(time_timeout_inner_ready_first)
{
    CHECK_EQ(run_main(timeout_ready_main, NULL), 0);
}

static int timeout_elapsed_main(void *arg)
{
    /* A future that never finishes: CORIO_ETIMEDOUT, dropped exactly once. */
    never_init(&to_never);
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_timeout(&to_never.base, CORIO_MSEC(30)), CORIO_ETIMEDOUT);
    corio_duration took = (corio_duration)(corio_instant_now() - t0);
    CHECK(took >= CORIO_MSEC(30));
    CHECK(took < CORIO_MSEC(30) + LATE_SLACK);
    CHECK_EQ(to_never.drops, 1);
    CHECK(to_never.polls >= 1);
    CHECK(to_never.w.vtable == NULL); /* its drop released the waker */

    /* A slower sleep: dropped when the timeout elapses, and its own timer
     * never fires afterwards. */
    static probe p;
    probe_init(&p, corio_instant_add(corio_instant_now(), CORIO_MSEC(150)));
    t0 = corio_instant_now();
    CHECK_EQ(corio_timeout(&p.sp.base, CORIO_MSEC(20)), CORIO_ETIMEDOUT);
    took = (corio_duration)(corio_instant_now() - t0);
    CHECK(took >= CORIO_MSEC(20));
    CHECK(took < CORIO_MSEC(20) + LATE_SLACK);
    CHECK_EQ(p.sp.drops, 1);
    CHECK_EQ(corio_sleep(CORIO_MSEC(200)), 0);
    CHECK_EQ(atomic_load(&p.sp.wakes), 0);
    CHECK_EQ(atomic_load(&p.sp.refs), 0);
    CHECK_EQ(p.sp.drops, 1);

    /* Zero limit with a pending inner future: times out at once. */
    never_init(&to_never);
    t0 = corio_instant_now();
    CHECK_EQ(corio_timeout(&to_never.base, 0), CORIO_ETIMEDOUT);
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_MSEC(10));
    CHECK_EQ(to_never.drops, 1);
    return 0;
}

TEST_TIMING(time_timeout_elapsed_drops_inner_once)
{
    CHECK_EQ(run_main(timeout_elapsed_main, NULL), 0);
}

static value_fut comp_value;
static never_fut comp_never;

static int timeout_compose_main(void *arg)
{
    /* timeout(timeout(never, 200 ms), 20 ms): the outer one elapses first
     * and drops the inner timeout, which drops `never`. */
    never_init(&comp_never);
    corio_instant t0 = corio_instant_now(); /* before the inits read the clock */
    corio_timeout_fut inner, outer;
    corio_timeout_fut_init(&inner, &comp_never.base, CORIO_MSEC(200));
    corio_timeout_fut_init(&outer, &inner.base, CORIO_MSEC(20));
    CHECK_EQ(corio_await(&outer.base), 0); /* the await itself was not interrupted */
    CHECK_EQ(outer.base.result, CORIO_ETIMEDOUT);
    corio_duration took = (corio_duration)(corio_instant_now() - t0);
    CHECK(took >= CORIO_MSEC(20) && took < CORIO_MSEC(20) + LATE_SLACK);
    CHECK_EQ(comp_never.drops, 1);

    /* timeout(timeout(never, 20 ms), 200 ms): the inner one elapses first,
     * at ~20 ms, with CORIO_ETIMEDOUT; for the outer one its inner future
     * completed, so the outer's result is 0. */
    never_init(&comp_never);
    t0 = corio_instant_now();
    corio_timeout_fut_init(&inner, &comp_never.base, CORIO_MSEC(20));
    corio_timeout_fut_init(&outer, &inner.base, CORIO_MSEC(200));
    CHECK_EQ(corio_await(&outer.base), 0);
    CHECK_EQ(outer.base.result, 0);
    CHECK_EQ(inner.base.result, CORIO_ETIMEDOUT);
    took = (corio_duration)(corio_instant_now() - t0);
    CHECK(took >= CORIO_MSEC(20) && took < CORIO_MSEC(20) + LATE_SLACK);
    CHECK_EQ(comp_never.drops, 1);

    /* timeout(timeout(value after 10 ms, 100 ms), 200 ms): both timeouts
     * report completion, the value is in the innermost future. */
    value_init(&comp_value, CORIO_MSEC(10), 4321);
    corio_timeout_fut_init(&inner, &comp_value.base, CORIO_MSEC(100));
    corio_timeout_fut_init(&outer, &inner.base, CORIO_MSEC(200));
    CHECK_EQ(corio_await(&outer.base), 0);
    CHECK_EQ(outer.base.result, 0);
    CHECK_EQ(inner.base.result, 0);
    CHECK_EQ(comp_value.base.result, 4321);
    CHECK_EQ(comp_value.drops, 0);

    /* A timeout future spawned as a stackless task: the timeout's result
     * (0: inner completed) is the task's result; the task's copy of the
     * timeout points at comp_value, which holds the value. */
    value_init(&comp_value, CORIO_MSEC(5), 99);
    corio_timeout_fut tf;
    corio_timeout_fut_init(&tf, &comp_value.base, CORIO_MSEC(100));
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_future(&tf.base, sizeof tf, &t), 0);
    int res = -1;
    CHECK_EQ(corio_task_join(t, &res), 0);
    CHECK_EQ(res, 0);
    CHECK_EQ(comp_value.base.result, 99);
    CHECK_EQ(comp_value.drops, 0);

    never_init(&comp_never);
    t0 = corio_instant_now();
    corio_timeout_fut_init(&tf, &comp_never.base, CORIO_MSEC(15));
    CHECK_EQ(corio_spawn_future(&tf.base, sizeof tf, &t), 0);
    res = 0;
    CHECK_EQ(corio_task_join(t, &res), 0);
    CHECK_EQ(res, CORIO_ETIMEDOUT);
    CHECK(corio_instant_now() - t0 >= (corio_instant)CORIO_MSEC(15));
    CHECK_EQ(comp_never.drops, 1);

    /* Aborting a task that awaits a timeout drops the timeout and its
     * inner future, once. */
    never_init(&comp_never);
    corio_timeout_fut_init(&tf, &comp_never.base, CORIO_SEC(10));
    CHECK_EQ(corio_spawn_future(&tf.base, sizeof tf, &t), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    CHECK(comp_never.polls >= 1);
    corio_task_abort(t);
    t0 = corio_instant_now();
    CHECK_EQ(corio_task_join(t, &res), CORIO_ECANCELED);
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_MSEC(100));
    CHECK_EQ(comp_never.drops, 1);
    return 0;
}

TEST_TIMING(time_timeout_fut_composition)
{
    CHECK_EQ(run_main(timeout_compose_main, NULL), 0);
}

/* The _until forms take the deadline as an instant; a NULL or zeroed inner
 * future is refused with -EINVAL (at once, nothing awaited); in plain code
 * corio_timeout leaves its inner future alone. */
static int timeout_until_main(void *arg)
{
    never_init(&to_never);
    corio_instant t0 = corio_instant_now();
    corio_instant deadline = corio_instant_add(t0, CORIO_MSEC(20));
    CHECK_EQ(corio_timeout_until(&to_never.base, deadline), CORIO_ETIMEDOUT);
    corio_instant t1 = corio_instant_now();
    CHECK(t1 >= deadline);
    CHECK(t1 - deadline < (corio_instant)LATE_SLACK);
    CHECK_EQ(to_never.drops, 1);

    value_init(&to_value, CORIO_MSEC(5), 31);
    deadline = corio_instant_add(corio_instant_now(), CORIO_MSEC(200));
    CHECK_EQ(corio_timeout_until(&to_value.base, deadline), 0);
    CHECK_EQ(to_value.base.result, 31);
    CHECK_EQ(to_value.drops, 0);
    /* A deadline already passed, inner pending: times out at once. */
    never_init(&to_never);
    t0 = corio_instant_now();
    CHECK_EQ(corio_timeout_until(&to_never.base, 0), CORIO_ETIMEDOUT);
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_MSEC(10));
    CHECK_EQ(to_never.drops, 1);

    corio_timeout_fut tf;
    never_init(&to_never);
    deadline = corio_instant_add(corio_instant_now(), CORIO_MSEC(15));
    corio_timeout_fut_init_until(&tf, &to_never.base, deadline);
    CHECK(corio_timer_deadline(&tf.timer) == deadline);
    CHECK_EQ(corio_await(&tf.base), 0);
    CHECK_EQ(tf.base.result, CORIO_ETIMEDOUT);
    CHECK(corio_instant_now() >= deadline);
    CHECK_EQ(to_never.drops, 1);
    CHECK(!corio_timer_is_armed(&tf.timer));

    /* Misuse: -EINVAL, for the call and for the future form. */
    corio_future zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    CHECK_EQ(corio_timeout(NULL, CORIO_MSEC(10)), -EINVAL);
    CHECK_EQ(corio_timeout(&zeroed, CORIO_MSEC(10)), -EINVAL);
    CHECK_EQ(corio_timeout_until(NULL, corio_instant_now()), -EINVAL);
    corio_timeout_fut_init(&tf, NULL, CORIO_SEC(10));
    t0 = corio_instant_now();
    CHECK_EQ(corio_await(&tf.base), 0);
    CHECK_EQ(tf.base.result, -EINVAL);
    corio_timeout_fut_init_until(&tf, &zeroed, corio_instant_add(t0, CORIO_SEC(10)));
    CHECK_EQ(corio_await(&tf.base), 0);
    CHECK_EQ(tf.base.result, -EINVAL);
    CHECK(corio_instant_now() - t0 < (corio_instant)CORIO_MSEC(10));
    return 0;
}

TEST_TIMING(time_timeout_until_and_misuse)
{
    CHECK_EQ(run_main(timeout_until_main, NULL), 0);
    /* Plain code: not inside a task; the inner future is not touched. */
    never_init(&to_never);
    CHECK_EQ(corio_timeout(&to_never.base, CORIO_MSEC(1)), CORIO_EWRONGCTX);
    CHECK_EQ(to_never.polls, 0);
    CHECK_EQ(to_never.drops, 0);
}
