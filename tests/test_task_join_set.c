/* tests/test_task_join_set.c - waiting for many tasks: corio_task_join_all
 * (corio/join.h) and JoinSet (corio/join_set.h), one test per promise of
 * the headers, on the current-thread runtime (and from plain code where the
 * headers say so). */
#include <errno.h>
#include <string.h>

#include "corio/join.h"
#include "corio/join_set.h"
#include "corio/select.h"
#include "test.h"
#include "util.h"

/* ---- task functions ------------------------------------------------------------ */

/* Sleeps arg milliseconds, then returns arg. */
static int sleep_ms_ret(void *arg)
{
    int ms = (int)(intptr_t)arg;
    int rc = corio_sleep(CORIO_MSEC(ms));
    return rc < 0 ? rc : ms;
}

/* Counts its cleanup: a long sleep, then (interrupted or not) one more
 * count in *arg; returns the sleep's status. */
static int sleeper_with_cleanup(void *arg)
{
    atomic_int *cleanups = arg;
    int rc = corio_sleep(CORIO_SEC(30));
    atomic_fetch_add(cleanups, 1);
    return rc;
}

/* A stackless task: pending once (waking itself), then ready with `v`. */
typedef struct yield_once {
    corio_future base;
    int v;
    bool yielded;
} yield_once;

static corio_poll yield_once_poll(corio_future *f, corio_context *cx)
{
    yield_once *y = (yield_once *)f;
    if (!y->yielded) {
        y->yielded = true;
        corio_waker_wake_by_ref(corio_context_waker(cx));
        return CORIO_PENDING;
    }
    f->result = y->v;
    return CORIO_READY;
}

static const corio_future_vtable yield_once_vt = {yield_once_poll, NULL};

static void yield_once_init(yield_once *y, int v)
{
    corio_future_init(&y->base, &yield_once_vt);
    y->v = v;
    y->yielded = false;
}

/* ---- task_join_all --------------------------------------------------------------- */

#define NT 1000

static int tja_results_main(void *arg)
{
    (void)arg;
    static corio_task *t[NT];
    static int r[NT];
    for (int i = 0; i < NT; i++) {
        if (i % 2) {
            CHECK_EQ(corio_spawn(return_arg, (void *)(intptr_t)i, &t[i]), 0);
        } else {
            yield_once y;
            yield_once_init(&y, i);
            CHECK_EQ(corio_spawn_future(&y.base, sizeof y, &t[i]), 0);
        }
        r[i] = -1;
    }
    CHECK_EQ(corio_task_join_all(t, NT, r), 0);
    for (int i = 0; i < NT; i++)
        CHECK_EQ(r[i], i);
    /* results may be NULL; n == 0 is done at once. */
    for (int i = 0; i < 10; i++)
        CHECK_EQ(corio_spawn(return_arg, NULL, &t[i]), 0);
    CHECK_EQ(corio_task_join_all(t, 10, NULL), 0);
    CHECK_EQ(corio_task_join_all(NULL, 0, NULL), 0);
    return 0;
}

TEST(join_set_task_join_all_collects_every_result)
{
    CHECK_EQ(run_main(tja_results_main, NULL), 0);
}

static int tja_cancelled_main(void *arg)
{
    (void)arg;
    atomic_int cleanups = 0;
    corio_task *t[3];
    int r[3] = {-1, -1, -1};
    CHECK_EQ(corio_spawn(sleeper_with_cleanup, &cleanups, &t[0]), 0);
    CHECK_EQ(corio_spawn(return_arg, (void *)(intptr_t)5, &t[1]), 0);
    CHECK_EQ(corio_spawn(sleeper_with_cleanup, &cleanups, &t[2]), 0);
    settle();
    corio_task_abort(t[0]);
    corio_task_abort(t[2]);
    CHECK_EQ(corio_task_join_all(t, 3, r), 0);
    CHECK_EQ(r[0], CORIO_ECANCELED);
    CHECK_EQ(r[1], 5);
    CHECK_EQ(r[2], CORIO_ECANCELED);
    CHECK_EQ(atomic_load(&cleanups), 2);
    /* NULL entries: skipped, -EINVAL in their result. */
    corio_task *u[2] = {NULL, NULL};
    CHECK_EQ(corio_spawn(return_arg, (void *)(intptr_t)8, &u[1]), 0);
    CHECK_EQ(corio_task_join_all(u, 2, r), 0);
    CHECK_EQ(r[0], -EINVAL);
    CHECK_EQ(r[1], 8);
    return 0;
}

TEST(join_set_task_join_all_reports_cancelled_tasks)
{
    CHECK_EQ(run_main(tja_cancelled_main, NULL), 0);
}

static int tja_misuse_main(void *arg)
{
    (void)arg;
    int r = 0;
    CHECK_EQ(corio_task_join_all(NULL, 2, &r), -EINVAL);
    corio_task *t[2] = {NULL, corio_task_current()};
    CHECK_EQ(corio_spawn(return_arg, (void *)(intptr_t)3, &t[0]), 0);
    CHECK_EQ(corio_task_join_all(t, 2, NULL), -EDEADLK);
    CHECK_EQ(join_rc(t[0]), 3);
    corio_task_join_all_fut f;
    corio_task_join_all_fut_init(&f, NULL, 1, NULL);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, -EINVAL);
    corio_task_join_all_fut_init(NULL, NULL, 1, NULL);
    return 0;
}

TEST(join_set_task_join_all_misuse)
{
    CHECK_EQ(run_main(tja_misuse_main, NULL), 0);
}

/* From a stackless task's poll function: CORIO_EWRONGCTX, the handle left
 * alone; the future form works there. */
typedef struct tja_stackless {
    corio_future base;
    bool started;
    corio_task *t[2];
    int r[2];
    corio_task_join_all_fut join;
} tja_stackless;

static corio_poll tja_stackless_poll(corio_future *f, corio_context *cx)
{
    tja_stackless *s = (tja_stackless *)f;
    if (!s->started) {
        s->started = true;
        CHECK_EQ(corio_task_join_all(s->t, 2, s->r), CORIO_EWRONGCTX);
        corio_task_join_all_fut_init(&s->join, s->t, 2, s->r);
    }
    if (corio_future_poll(&s->join.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    CHECK_EQ(s->join.base.result, 0);
    f->result = s->r[0] + s->r[1];
    return CORIO_READY;
}

static const corio_future_vtable tja_stackless_vt = {tja_stackless_poll, NULL};

static int tja_stackless_main(void *arg)
{
    (void)arg;
    tja_stackless s = {.started = false};
    corio_future_init(&s.base, &tja_stackless_vt);
    CHECK_EQ(corio_spawn(sleep_ms_ret, (void *)(intptr_t)5, &s.t[0]), 0);
    CHECK_EQ(corio_spawn(return_arg, (void *)(intptr_t)6, &s.t[1]), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn_future(&s.base, sizeof s, &t), 0);
    CHECK_EQ(join_rc(t), 11);
    return 0;
}

TEST(join_set_task_join_all_future_in_a_stackless_task)
{
    CHECK_EQ(run_main(tja_stackless_main, NULL), 0);
}

TEST(join_set_task_join_all_from_plain_code)
{
    corio_rt *rt = new_mt_rt(2);
    corio_spawn_opts o = {.rt = rt};
    corio_task *t[50];
    int r[50];
    for (int i = 0; i < 50; i++)
        CHECK_EQ(corio_spawn_with(&o, sleep_ms_ret, (void *)(intptr_t)(i % 5), &t[i]), 0);
    CHECK_EQ(corio_task_join_all(t, 50, r), 0); /* blocks this thread */
    for (int i = 0; i < 50; i++)
        CHECK_EQ(r[i], i % 5);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Interrupted: finished tasks' results stored, every handle given back,
 * the others go on, detached. */
typedef struct tja_scope {
    corio_task *t[2];
    int r[2];
    atomic_int *late_done;
} tja_scope;

static int slow_then_flag(void *arg)
{
    atomic_int *done = arg;
    int rc = corio_sleep(CORIO_MSEC(60));
    atomic_store(done, rc == 0 ? 1 : -1);
    return 0;
}

static int tja_in_scope(void *arg)
{
    tja_scope *s = arg;
    return corio_task_join_all(s->t, 2, s->r);
}

static int tja_interrupted_main(void *arg)
{
    (void)arg;
    atomic_int late = 0;
    tja_scope s = {.r = {-1, -1}, .late_done = &late};
    CHECK_EQ(corio_spawn(return_arg, (void *)(intptr_t)4, &s.t[0]), 0);
    CHECK_EQ(corio_spawn(slow_then_flag, &late, &s.t[1]), 0);
    int result;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(20), tja_in_scope, &s, &result), CORIO_ETIMEDOUT);
    CHECK_EQ(result, CORIO_ETIMEDOUT);
    CHECK_EQ(s.r[0], 4);  /* finished before the deadline: reported */
    CHECK_EQ(s.r[1], -1); /* left as it was */
    CHECK_EQ(atomic_load(&late), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(100)), 0);
    CHECK_EQ(atomic_load(&late), 1); /* it went on, detached, and finished */
    /* corio_timeout on the future form does the same. */
    corio_task *t[1];
    CHECK_EQ(corio_spawn(sleep_ms_ret, (void *)(intptr_t)2000, &t[0]), 0);
    corio_task_join_all_fut f;
    corio_task_join_all_fut_init(&f, t, 1, NULL);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    return 0;
}

TEST(join_set_task_join_all_interrupted_gives_every_handle_back)
{
    CHECK_EQ(run_main(tja_interrupted_main, NULL), 0);
}

/* Dropped before its first poll (the losing branch of a biased select whose
 * first branch is ready): still nothing finished is lost. */
static int tja_dropped_unpolled_main(void *arg)
{
    (void)arg;
    corio_task *t[3] = {NULL, NULL, NULL};
    int r[3] = {-1, -1, -1};
    CHECK_EQ(corio_spawn(return_arg, (void *)(intptr_t)4, &t[0]), 0);
    CHECK_EQ(corio_spawn(sleep_ms_ret, (void *)(intptr_t)2000, &t[2]), 0);
    settle();
    CHECK(corio_task_is_finished(t[0]));
    corio_task_join_all_fut f;
    corio_task_join_all_fut_init(&f, t, 3, r);
    ready_fut win;
    int polls = 0;
    ready_fut_init(&win, &polls);
    size_t i;
    CHECK_EQ(corio_select_biased(CORIO_FUTURES(&win.base, &f.base), &i), 0);
    CHECK_EQ(i, 0);
    CHECK_EQ(r[0], 4);       /* finished: stored */
    CHECK_EQ(r[1], -EINVAL); /* a NULL entry */
    CHECK_EQ(r[2], -1);      /* running: left as it was, the task detached */
    return 0;
}

TEST(join_set_task_join_all_dropped_unpolled_keeps_finished_results)
{
    CHECK_EQ(run_main(tja_dropped_unpolled_main, NULL), 0);
}

/* ---- JoinSet: basics ---------------------------------------------------------------- */

TEST(join_set_null_and_empty)
{
    CHECK_EQ(corio_join_set_new(NULL), -EINVAL);
    int r;
    uint64_t id;
    CHECK_EQ(corio_join_set_join_next(NULL, &r, &id), -EINVAL);
    CHECK_EQ(corio_join_set_try_join_next(NULL, &r, &id), -EINVAL);
    CHECK_EQ(corio_join_set_shutdown(NULL), -EINVAL);
    CHECK_EQ(corio_join_set_spawn(NULL, return_arg, NULL, &id), -EINVAL);
    yield_once y;
    yield_once_init(&y, 1);
    CHECK_EQ(corio_join_set_spawn_future(NULL, &y.base, sizeof y, &id), -EINVAL);
    CHECK_EQ(corio_join_set_len(NULL), 0);
    CHECK(!corio_join_set_is_empty(NULL)); /* a query of NULL: false */
    corio_join_set_abort_all(NULL);
    corio_join_set_detach_all(NULL);
    corio_join_set_free(NULL);
    corio_join_set_join_next_fut_init(NULL, NULL);
    corio_join_set_join_next_fut nf;
    corio_join_set_join_next_fut_init(&nf, NULL);
    CHECK_EQ(corio_block_on_future(&nf.base), 0);
    CHECK_EQ(nf.base.result, -EINVAL);
    /* An empty set: -ECHILD at once, from plain code too. */
    corio_join_set *s;
    CHECK_EQ(corio_join_set_new(&s), 0);
    CHECK(corio_join_set_is_empty(s));
    CHECK_EQ(corio_join_set_join_next(s, &r, &id), -ECHILD);
    CHECK_EQ(corio_join_set_try_join_next(s, &r, &id), -ECHILD);
    CHECK_EQ(corio_join_set_shutdown(s), 0);
    /* Spawning with no runtime: the spawn's error, nothing added. */
    CHECK_EQ(corio_join_set_spawn(s, return_arg, NULL, &id), CORIO_EWRONGCTX);
    CHECK_EQ(corio_join_set_spawn(s, NULL, NULL, &id), -EINVAL);
    CHECK_EQ(corio_join_set_len(s), 0);
    corio_join_set_free(s);
}

/* Receives an int on the oneshot `arg` and returns it. */
static int wait_gate(void *arg)
{
    corio_oneshot_rx *rx = arg;
    int v = -1;
    int rc = corio_oneshot_recv(rx, &v);
    corio_oneshot_rx_release(rx);
    return rc < 0 ? rc : v;
}

static int completion_order_main(void *arg)
{
    (void)arg;
    corio_join_set *s;
    CHECK_EQ(corio_join_set_new(&s), 0);
    corio_oneshot_tx *tx[3];
    corio_oneshot_rx *rx[3];
    uint64_t ids[4];
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(corio_oneshot_new(sizeof(int), &tx[i], &rx[i]), 0);
        CHECK_EQ(corio_join_set_spawn(s, wait_gate, rx[i], &ids[i]), 0);
    }
    yield_once y;
    yield_once_init(&y, 1234);
    CHECK_EQ(corio_join_set_spawn_future(s, &y.base, sizeof y, &ids[3]), 0);
    CHECK_EQ(corio_join_set_len(s), 4);
    CHECK(!corio_join_set_is_empty(s));
    int r;
    uint64_t id;
    CHECK_EQ(corio_join_set_try_join_next(s, &r, &id), -EAGAIN); /* none finished yet */
    /* The stackless one finishes first; then the gates open in the order
     * 2, 0, 1, each task finishing before the next gate opens. */
    settle();
    int order[3] = {2, 0, 1};
    for (int k = 0; k < 3; k++) {
        int v = 100 + order[k];
        CHECK_EQ(corio_oneshot_send(tx[order[k]], &v), 0); /* gives the sender back */
        settle();
    }
    /* Joined afterwards, in the order they finished. */
    int want[4] = {3, 2, 0, 1};
    for (int k = 0; k < 4; k++) {
        CHECK_EQ(corio_join_set_join_next(s, &r, &id), 0);
        CHECK_EQ(id, ids[want[k]]);
        CHECK_EQ(r, want[k] == 3 ? 1234 : 100 + want[k]);
        CHECK_EQ(corio_join_set_len(s), 3 - k);
    }
    /* And while waiting: the task that finishes first comes first. */
    int ms[3] = {300, 5, 150};
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_join_set_spawn(s, sleep_ms_ret, (void *)(intptr_t)ms[i], &ids[i]), 0);
    CHECK_EQ(corio_join_set_join_next(s, &r, &id), 0);
    CHECK_EQ(r, 5); /* well ahead of the others, also when slowed down */
    CHECK_EQ(id, ids[1]);
    CHECK_EQ(corio_join_set_join_next(s, &r, NULL), 0);
    CHECK_EQ(corio_join_set_join_next(s, &r, NULL), 0);
    CHECK_EQ(corio_join_set_join_next(s, &r, &id), -ECHILD);
    /* Finished tasks stay until joined; try_join_next takes them. */
    CHECK_EQ(corio_join_set_spawn(s, return_arg, (void *)(intptr_t)9, NULL), 0);
    settle();
    CHECK_EQ(corio_join_set_len(s), 1);
    CHECK_EQ(corio_join_set_try_join_next(s, &r, NULL), 0);
    CHECK_EQ(r, 9);
    /* Entries are reused: many rounds through the same set. */
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 40; i++)
            CHECK_EQ(corio_join_set_spawn(s, return_arg, (void *)(intptr_t)i, NULL), 0);
        int sum = 0;
        while (corio_join_set_join_next(s, &r, NULL) == 0)
            sum += r;
        CHECK_EQ(sum, 40 * 39 / 2);
    }
    corio_join_set_free(s);
    return 0;
}

TEST(join_set_join_next_in_completion_order)
{
    CHECK_EQ(run_main(completion_order_main, NULL), 0);
}

static int abort_all_main(void *arg)
{
    (void)arg;
    atomic_int cleanups = 0;
    corio_join_set *s;
    CHECK_EQ(corio_join_set_new(&s), 0);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(corio_join_set_spawn(s, sleeper_with_cleanup, &cleanups, NULL), 0);
    CHECK_EQ(corio_join_set_spawn(s, return_arg, (void *)(intptr_t)3, NULL), 0);
    settle();
    corio_join_set_abort_all(s);
    CHECK_EQ(corio_join_set_len(s), 6); /* still there until joined */
    int r, cancelled = 0, three = 0;
    while (corio_join_set_join_next(s, &r, NULL) == 0) {
        cancelled += r == CORIO_ECANCELED;
        three += r == 3; /* finished first: keeps its own result */
    }
    CHECK_EQ(cancelled, 5);
    CHECK_EQ(three, 1);
    CHECK_EQ(atomic_load(&cleanups), 5);
    corio_join_set_free(s);
    return 0;
}

TEST(join_set_abort_all_then_join_reports_cancelled)
{
    CHECK_EQ(run_main(abort_all_main, NULL), 0);
}

static int free_joins_main(void *arg)
{
    (void)arg;
    atomic_int cleanups = 0;
    corio_join_set *s;
    CHECK_EQ(corio_join_set_new(&s), 0);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(corio_join_set_spawn(s, sleeper_with_cleanup, &cleanups, NULL), 0);
    for (int i = 0; i < 20; i++) {
        yield_once y;
        yield_once_init(&y, i);
        CHECK_EQ(corio_join_set_spawn_future(s, &y.base, sizeof y, NULL), 0);
    }
    /* Half of them have started, half not (an unstarted coroutine still
     * runs its cleanup: its first await returns CORIO_ECANCELED). */
    CHECK_EQ(corio_yield(), 0);
    corio_join_set_free(s);
    CHECK_EQ(atomic_load(&cleanups), 100); /* every cleanup ran before free returned */
    /* shutdown: the same, and the set is empty and reusable after. */
    CHECK_EQ(corio_join_set_new(&s), 0);
    atomic_store(&cleanups, 0);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(corio_join_set_spawn(s, sleeper_with_cleanup, &cleanups, NULL), 0);
    CHECK_EQ(corio_join_set_shutdown(s), 0);
    CHECK_EQ(atomic_load(&cleanups), 10);
    CHECK(corio_join_set_is_empty(s));
    CHECK_EQ(corio_join_set_spawn(s, return_arg, (void *)(intptr_t)1, NULL), 0);
    int r;
    CHECK_EQ(corio_join_set_join_next(s, &r, NULL), 0);
    CHECK_EQ(r, 1);
    corio_join_set_free(s);
    return 0;
}

TEST(join_set_free_aborts_and_waits_for_every_task)
{
    CHECK_EQ(run_main(free_joins_main, NULL), 0);
}

static int detach_main(void *arg)
{
    (void)arg;
    atomic_int done = 0;
    corio_join_set *s;
    CHECK_EQ(corio_join_set_new(&s), 0);
    CHECK_EQ(corio_join_set_spawn(s, slow_then_flag, &done, NULL), 0);
    corio_join_set_detach_all(s);
    CHECK(corio_join_set_is_empty(s));
    corio_join_set_free(s); /* nothing left to abort */
    /* Wait for the task's end, not a fixed 100 ms: its 60 ms sleep starts at
     * its first poll, and on a busy machine both timers can fire in the
     * same turn with this task's wake run first. An aborted task would
     * store -1 (its sleep cancelled); one that never ends fails after 5 s. */
    double t0 = mono_ms();
    while (atomic_load(&done) == 0 && mono_ms() - t0 < 5000)
        CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    CHECK_EQ(atomic_load(&done), 1); /* ran on, to its end */
    return 0;
}

TEST(join_set_detach_all_lets_tasks_run_on)
{
    CHECK_EQ(run_main(detach_main, NULL), 0);
}

/* ---- JoinSet: interruptions and cancel safety ---------------------------------------- */

static int join_next_cancel_safe_main(void *arg)
{
    (void)arg;
    corio_join_set *s;
    CHECK_EQ(corio_join_set_new(&s), 0);
    uint64_t want;
    CHECK_EQ(corio_join_set_spawn(s, sleep_ms_ret, (void *)(intptr_t)30, &want), 0);
    /* A deadline on one join_next: nothing joined, the set unchanged. */
    corio_join_set_join_next_fut f;
    corio_join_set_join_next_fut_init(&f, s);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(5)), CORIO_ETIMEDOUT);
    CHECK_EQ(corio_join_set_len(s), 1);
    /* Raced in a select loop against a fast tick: the task is joined once. */
    int ticks = 0, joined = 0;
    while (!joined) {
        corio_join_set_join_next_fut jn;
        corio_sleep_fut tick;
        corio_join_set_join_next_fut_init(&jn, s);
        corio_sleep_fut_init(&tick, CORIO_MSEC(2));
        size_t i;
        CHECK_EQ(corio_select(CORIO_FUTURES(&jn.base, &tick.base), &i), 0);
        if (i == 1) {
            ticks++;
            continue;
        }
        CHECK_EQ(jn.base.result, 0);
        CHECK_EQ(jn.id, want);
        CHECK_EQ(jn.value, 30);
        joined = 1;
    }
    CHECK(ticks >= 3);
    CHECK(corio_join_set_is_empty(s));
    /* Polled on an empty set, the future says -ECHILD. */
    corio_join_set_join_next_fut_init(&f, s);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, -ECHILD);
    corio_join_set_free(s);
    return 0;
}

TEST(join_set_join_next_is_cancel_safe)
{
    CHECK_EQ(run_main(join_next_cancel_safe_main, NULL), 0);
}

/* A cancelled owner frees its set: the free still waits (shielded from
 * the owner's cancellation) until every aborted task has run its cleanup,
 * once. */
typedef struct owner {
    atomic_int *cleanups;
    int free_returned;
    int cleanups_at_free; /* counted when corio_join_set_free returned */
} owner;

static int owner_task(void *arg)
{
    owner *o = arg;
    corio_join_set *s;
    CHECK_EQ(corio_join_set_new(&s), 0);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(corio_join_set_spawn(s, sleeper_with_cleanup, o->cleanups, NULL), 0);
    int r;
    int rc = corio_join_set_join_next(s, &r, NULL); /* blocks: the owner is aborted */
    CHECK_EQ(rc, CORIO_ECANCELED);
    CHECK_EQ(corio_join_set_len(s), 8); /* nothing joined */
    corio_join_set_free(s);
    o->cleanups_at_free = atomic_load(o->cleanups);
    o->free_returned = 1;
    return rc;
}

static int cancelled_owner_main(void *arg)
{
    (void)arg;
    atomic_int cleanups = 0;
    owner o = {.cleanups = &cleanups};
    corio_task *t;
    CHECK_EQ(corio_spawn(owner_task, &o, &t), 0);
    settle();
    corio_task_abort(t);
    CHECK_EQ(join_rc(t), CORIO_ECANCELED);
    CHECK_EQ(o.free_returned, 1);
    CHECK_EQ(o.cleanups_at_free, 8); /* every cleanup ran before free returned */
    CHECK_EQ(atomic_load(&cleanups), 8);
    settle();
    CHECK_EQ(atomic_load(&cleanups), 8); /* once each */
    return 0;
}

TEST(join_set_free_by_a_cancelled_owner_still_cleans_up)
{
    CHECK_EQ(run_main(cancelled_owner_main, NULL), 0);
}

/* From plain code: spawn into another runtime, join and free by blocking. */
TEST(join_set_from_plain_code)
{
    corio_rt *rt = new_mt_rt(2);
    corio_spawn_opts o = {.rt = rt, .name = "member"};
    corio_join_set *s;
    CHECK_EQ(corio_join_set_new(&s), 0);
    for (int i = 0; i < 20; i++)
        CHECK_EQ(corio_join_set_spawn_with(s, &o, sleep_ms_ret, (void *)(intptr_t)(i % 4), NULL),
                 0);
    yield_once y;
    yield_once_init(&y, 100);
    CHECK_EQ(corio_join_set_spawn_future_with(s, &o, &y.base, sizeof y, NULL), 0);
    int r, sum = 0;
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(corio_join_set_join_next(s, &r, NULL), 0);
        sum += r;
    }
    CHECK(sum >= 0);
    atomic_int cleanups = 0;
    for (int i = 0; i < 5; i++)
        CHECK_EQ(corio_join_set_spawn_with(s, &o, sleeper_with_cleanup, &cleanups, NULL), 0);
    corio_join_set_free(s); /* aborts and waits, blocking this thread */
    CHECK_EQ(atomic_load(&cleanups), 5);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* In a stackless task's poll function: join_next and shutdown say
 * CORIO_EWRONGCTX; the future form works; free cannot wait, so it aborts
 * and detaches. */
typedef struct set_stackless {
    corio_future base;
    corio_join_set *set;
    bool started;
    corio_join_set_join_next_fut next;
    int got;
} set_stackless;

static corio_poll set_stackless_poll(corio_future *f, corio_context *cx)
{
    set_stackless *s = (set_stackless *)f;
    if (!s->started) {
        s->started = true;
        CHECK_EQ(corio_join_set_join_next(s->set, NULL, NULL), CORIO_EWRONGCTX);
        corio_join_set_join_next_fut_init(&s->next, s->set);
    }
    while (s->got < 3) {
        if (corio_future_poll(&s->next.base, cx) == CORIO_PENDING)
            return CORIO_PENDING;
        CHECK_EQ(s->next.base.result, 0);
        s->got++;
        corio_join_set_join_next_fut_init(&s->next, s->set);
    }
    f->result = s->got;
    return CORIO_READY;
}

static const corio_future_vtable set_stackless_vt = {set_stackless_poll, NULL};

static int set_stackless_main(void *arg)
{
    (void)arg;
    corio_join_set *set;
    CHECK_EQ(corio_join_set_new(&set), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_join_set_spawn(set, sleep_ms_ret, (void *)(intptr_t)(i * 5), NULL), 0);
    set_stackless s = {.set = set, .started = false, .got = 0};
    corio_future_init(&s.base, &set_stackless_vt);
    corio_task *t;
    CHECK_EQ(corio_spawn_future(&s.base, sizeof s, &t), 0);
    CHECK_EQ(join_rc(t), 3);
    CHECK(corio_join_set_is_empty(set));
    corio_join_set_free(set);
    return 0;
}

TEST(join_set_join_next_future_in_a_stackless_task)
{
    CHECK_EQ(run_main(set_stackless_main, NULL), 0);
}

/* Freed inside a poll function, which cannot wait: the tasks are aborted
 * and detached; each cleanup still runs, once. */
static int free_set_in_poll(void *arg)
{
    corio_join_set *set = arg;
    CHECK_EQ(corio_join_set_shutdown(set), CORIO_EWRONGCTX); /* aborts, cannot wait */
    corio_join_set_free(set);
    return 0;
}

static int free_in_poll_main(void *arg)
{
    (void)arg;
    atomic_int cleanups = 0;
    corio_join_set *set;
    CHECK_EQ(corio_join_set_new(&set), 0);
    for (int i = 0; i < 6; i++)
        CHECK_EQ(corio_join_set_spawn(set, sleeper_with_cleanup, &cleanups, NULL), 0);
    /* Untouched outputs unless a task was joined. */
    int r = 77;
    uint64_t id = 88;
    CHECK_EQ(corio_join_set_try_join_next(set, &r, &id), -EAGAIN);
    CHECK_EQ(r, 77);
    CHECK_EQ(id, 88);
    settle();
    CHECK_EQ(run_in_poll(free_set_in_poll, set), 0);
    double t0 = mono_ms();
    while (atomic_load(&cleanups) < 6 && mono_ms() - t0 < 5000)
        CHECK_EQ(corio_yield(), 0);
    settle();
    CHECK_EQ(atomic_load(&cleanups), 6);
    return 0;
}

TEST(join_set_free_in_a_poll_function_aborts_and_detaches)
{
    CHECK_EQ(run_main(free_in_poll_main, NULL), 0);
}

/* One of the set's own tasks frees it: the others are aborted and waited
 * for, the freeing task is aborted too but not waited for (it would wait
 * for itself forever, shielded). */
typedef struct self_free {
    corio_join_set *set;
    atomic_int *cleanups;
    atomic_int freed, after; /* free returned; what the next await returned */
} self_free;

static int free_own_set(void *arg)
{
    self_free *f = arg;
    corio_join_set_free(f->set);
    atomic_store(&f->freed, 1 + atomic_load(f->cleanups)); /* the others' cleanup ran */
    atomic_store(&f->after, corio_sleep(CORIO_SEC(30)));
    return 0;
}

static int self_free_main(void *arg)
{
    (void)arg;
    atomic_int cleanups = 0;
    self_free f = {NULL, &cleanups, 0, 0};
    CHECK_EQ(corio_join_set_new(&f.set), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(corio_join_set_spawn(f.set, sleeper_with_cleanup, &cleanups, NULL), 0);
    CHECK_EQ(corio_join_set_spawn(f.set, free_own_set, &f, NULL), 0);
    double t0 = mono_ms();
    while (atomic_load(&f.after) == 0 && mono_ms() - t0 < 5000)
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    CHECK_EQ(atomic_load(&f.freed), 1 + 4);
    CHECK_EQ(atomic_load(&f.after), CORIO_ECANCELED);
    return 0;
}

TEST(join_set_freed_by_one_of_its_tasks_waits_for_the_others_only)
{
    CHECK_EQ(run_main(self_free_main, NULL), 0);
}

/* One of the set's own tasks joins from it: it joins the others as they
 * finish, then, the only one left, gets -EDEADLK at once instead of
 * waiting for its own end; the set still holds it for its owner. */
typedef struct self_join {
    corio_join_set *set;
    atomic_int joined, last, done;
} self_join;

static int return_seven(void *arg)
{
    (void)arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(2)), 0);
    return 7;
}

static int join_own_set(void *arg)
{
    self_join *s = arg;
    int r, rc;
    while ((rc = corio_join_set_join_next(s->set, &r, NULL)) == 0) {
        CHECK_EQ(r, 7);
        atomic_fetch_add(&s->joined, 1);
    }
    atomic_store(&s->last, rc);
    /* the future form says the same */
    corio_join_set_join_next_fut f;
    corio_join_set_join_next_fut_init(&f, s->set);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, -EDEADLK);
    CHECK_EQ(corio_join_set_len(s->set), 1);
    atomic_store(&s->done, 1);
    return 42;
}

static int self_join_main(void *arg)
{
    (void)arg;
    self_join s = {NULL, 0, 0, 0};
    CHECK_EQ(corio_join_set_new(&s.set), 0);
    uint64_t self_id;
    CHECK_EQ(corio_join_set_spawn(s.set, join_own_set, &s, &self_id), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_join_set_spawn(s.set, return_seven, NULL, NULL), 0);
    /* the set is the member's until it is done with it */
    while (!atomic_load(&s.done))
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    CHECK_EQ(atomic_load(&s.joined), 3);
    CHECK_EQ(atomic_load(&s.last), -EDEADLK);
    int r;
    uint64_t id;
    CHECK_EQ(corio_join_set_join_next(s.set, &r, &id), 0);
    CHECK_EQ(r, 42);
    CHECK_EQ(id, self_id);
    CHECK_EQ(corio_join_set_join_next(s.set, &r, &id), -ECHILD);
    corio_join_set_free(s.set);
    return 0;
}

TEST(join_set_join_next_by_the_last_task_in_it_is_edeadlk)
{
    for (int mt = 0; mt < 2; mt++)
        CHECK_EQ(run_main_flavor(mt, self_join_main, NULL), 0);
}
