/* tests/test_future_self_wake.c - a future that wakes its own task during
 * its poll (a budget-limited resource, a branch that is "ready next time").
 *
 * corio_await and corio_select do not send such a task through the
 * scheduler's loop: they take the wake and yield (core/coro.c,
 * task/select.c), then poll again. What must hold, whichever way it is
 * done: other ready tasks still run between two of those polls (no task
 * hogs its worker), timers still fire (the loop still turns), and a cancel
 * still ends the wait, with every future dropped exactly once.
 */
#include <stdatomic.h>
#include <stdbool.h>

#include <corio.h>

#include "test.h"
#include "util.h"

/* Pending, waking itself, until *stop (then READY with 7); counts polls
 * and drops. */
typedef struct spin_fut {
    corio_future base;
    atomic_bool *stop;
    long polls;
    atomic_long *seen; /* NULL, or a count of the polls other threads may read */
    int drops;
} spin_fut;

static corio_poll spin_poll(corio_future *f, corio_context *cx)
{
    spin_fut *s = (spin_fut *)f;
    s->polls++;
    if (s->seen)
        atomic_fetch_add(s->seen, 1);
    if (s->stop && atomic_load(s->stop)) {
        f->result = 7;
        return CORIO_READY;
    }
    corio_waker_wake_by_ref(corio_context_waker(cx));
    return CORIO_PENDING;
}

static void spin_drop(corio_future *f)
{
    ((spin_fut *)f)->drops++;
}

static const corio_future_vtable spin_vt = {spin_poll, spin_drop};

static void spin_init(spin_fut *s, atomic_bool *stop)
{
    corio_future_init(&s->base, &spin_vt);
    s->stop = stop;
    s->polls = 0;
    s->seen = NULL;
    s->drops = 0;
}

/* ---- other tasks run between the polls ------------------------------------------ */

enum { SELF_WAKES = 1000 };

static atomic_bool other_stop;
static long other_steps;

static int other_task(void *arg)
{
    (void)arg;
    while (!atomic_load(&other_stop)) {
        other_steps++;
        CHECK_EQ(corio_yield(), 0);
    }
    return 0;
}

/* `use_select`: race the self-waking future against one that never
 * completes, instead of awaiting it alone. */
static int shares_main(void *arg)
{
    bool use_select = arg != NULL;
    atomic_store(&other_stop, false);
    other_steps = 0;
    corio_task *t;
    CHECK_EQ(corio_spawn(other_task, NULL, &t), 0);
    CHECK_EQ(corio_yield(), 0); /* the other task is running (yielding) now */
    count_fut c;
    count_init(&c, SELF_WAKES, 5);
    long before = other_steps;
    if (use_select) {
        never_fut n;
        never_init(&n);
        size_t i;
        CHECK_EQ(corio_select(CORIO_FUTURES(&n.base, &c.base), &i), 0);
        CHECK_EQ(i, 1);
        CHECK_EQ(n.drops, 1);
    } else {
        CHECK_EQ(corio_await(&c.base), 0);
    }
    long during = other_steps - before;
    CHECK_EQ(c.base.result, 5);
    CHECK_EQ(atomic_load(&c.polls), SELF_WAKES + 1);
    CHECK_EQ(atomic_load(&c.drops), 0);
    atomic_store(&other_stop, true);
    CHECK_EQ(corio_task_join(t, NULL), 0);
    /* Each self-wake let the other ready task take a turn (one step per
     * turn); a wait that polled again at once would leave it at 0. */
    if (during < SELF_WAKES - 10)
        test_failf(__FILE__, __LINE__, "the other task ran %ld times during %d self-wakes",
                   during, SELF_WAKES);
    return 0;
}

TEST(future_self_woken_await_lets_other_tasks_run_between_polls)
{
    CHECK_EQ(run_main(shares_main, NULL), 0);
}

TEST(future_self_woken_select_lets_other_tasks_run_between_polls)
{
    CHECK_EQ(run_main(shares_main, (void *)1), 0);
}

/* ---- timers still fire ------------------------------------------------------------- */

static atomic_bool timer_flag;

static int set_after_sleep(void *arg)
{
    (void)arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    atomic_store(&timer_flag, true);
    return 0;
}

/* A task that does nothing but wait on a future that wakes itself until a
 * timer-driven task sets a flag: the timer must fire although the
 * run queue is never empty. */
static int timers_main(void *arg)
{
    bool use_select = arg != NULL;
    atomic_store(&timer_flag, false);
    corio_task *t;
    CHECK_EQ(corio_spawn(set_after_sleep, NULL, &t), 0);
    spin_fut s;
    spin_init(&s, &timer_flag);
    if (use_select) {
        never_fut n;
        never_init(&n);
        size_t i;
        CHECK_EQ(corio_select(CORIO_FUTURES(&s.base, &n.base), &i), 0);
        CHECK_EQ(i, 0);
        CHECK_EQ(n.drops, 1);
    } else {
        CHECK_EQ(corio_await(&s.base), 0);
    }
    CHECK_EQ(s.base.result, 7);
    CHECK_EQ(s.drops, 0);
    CHECK(s.polls > 1);
    CHECK_EQ(corio_task_join(t, NULL), 0);
    return 0;
}

TEST(future_self_woken_await_does_not_starve_timers)
{
    CHECK_EQ(run_main(timers_main, NULL), 0);
}

TEST(future_self_woken_select_does_not_starve_timers)
{
    CHECK_EQ(run_main(timers_main, (void *)1), 0);
}

TEST(future_self_woken_await_does_not_starve_timers_multi_thread)
{
    corio_rt *rt = new_mt_rt(2);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, timers_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_block_on(rt, timers_main, (void *)1, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- a cancel ends the wait ------------------------------------------------------- */

typedef struct cancel_ctx {
    bool use_select;
    atomic_int started;
    atomic_long seen_polls;
    int rc;
    long spin_polls;
    int spin_drops, never_drops;
} cancel_ctx;

static int spinning_waiter(void *arg)
{
    cancel_ctx *x = arg;
    spin_fut s;
    never_fut n;
    spin_init(&s, NULL); /* never stops */
    s.seen = &x->seen_polls;
    never_init(&n);
    atomic_store(&x->started, 1);
    if (x->use_select)
        x->rc = corio_select(CORIO_FUTURES(&s.base, &n.base), NULL);
    else
        x->rc = corio_await(&s.base);
    x->spin_polls = s.polls;
    x->spin_drops = s.drops;
    x->never_drops = n.drops;
    if (!x->use_select)
        corio_future_drop(&n.base); /* never raced: give its waker back */
    return x->rc;
}

static int cancel_main(void *arg)
{
    cancel_ctx *x = arg;
    corio_task *t;
    CHECK_EQ(corio_spawn(spinning_waiter, x, &t), 0);
    while (!atomic_load(&x->started))
        CHECK_EQ(corio_yield(), 0);
    /* Abort only once it has been polled again after waking itself: a
     * fixed sleep here failed on a loaded machine (qemu), where the
     * waiter's worker had not run again within it. A self-wake that was
     * lost would hang here, and the test's timeout would report it. */
    while (atomic_load(&x->seen_polls) < 3)
        CHECK_EQ(corio_yield(), 0);
    corio_task_abort(t);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(x->rc, CORIO_ECANCELED);
    CHECK(x->spin_polls > 1);
    CHECK_EQ(x->spin_drops, 1);
    CHECK_EQ(x->never_drops, x->use_select ? 1 : 0);
    return 0;
}

TEST(future_self_woken_await_and_select_end_when_cancelled)
{
    cancel_ctx x = {.use_select = false};
    CHECK_EQ(run_main(cancel_main, &x), 0);
    cancel_ctx y = {.use_select = true};
    CHECK_EQ(run_main(cancel_main, &y), 0);
    /* The same on two workers: the abort comes from another thread. */
    for (int k = 0; k < 2; k++) {
        cancel_ctx z = {.use_select = k == 1};
        corio_rt *rt = new_mt_rt(2);
        int r = -1;
        CHECK_EQ(corio_rt_block_on(rt, cancel_main, &z, &r), 0);
        CHECK_EQ(r, 0);
        CHECK_EQ(corio_rt_free(rt), 0);
    }
}
