/* tests/test_task_misuse.c - misuse gets a code, not a hang or a crash; and
 * a join that is interrupted after its task finished loses nothing.
 *
 * A task joining itself (-EDEADLK; also through a join future or a
 * task_join_all future it polls), awaiting NULL or a zeroed future
 * (-EINVAL), a timeout around NULL (-EINVAL), join after the caller was
 * cancelled or its deadline passed while the task had already finished
 * (the task's own outcome), and, with CORIO_DEBUG=1, a handle used after it
 * was given back (an abort with a message).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "util.h"

static int return_42(void *arg)
{
    (void)arg;
    return 42;
}

/* ---- joining oneself -------------------------------------------------------- */

typedef struct selfjoin {
    corio_task *me;
    int rc_handle, rc_current, r;
} selfjoin;

static int self_joiner(void *arg)
{
    selfjoin *sj = arg;
    while (!sj->me) /* the spawner stores our handle after the spawn */
        CHECK_EQ(corio_yield(), 0);
    sj->r = -1;
    sj->rc_handle = corio_task_join(sj->me, &sj->r);
    sj->rc_current = corio_task_join(corio_task_current(), &sj->r);
    return 7;
}

static int selfjoin_main(void *arg)
{
    selfjoin *sj = arg;
    corio_task *t;
    CHECK_EQ(corio_spawn(self_joiner, sj, &t), 0);
    sj->me = t;
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0); /* the handle was not given back by -EDEADLK */
    CHECK_EQ(r, 7);
    return 0;
}

TEST(misuse_task_joining_itself_is_edeadlk)
{
    selfjoin sj;
    memset(&sj, 0, sizeof sj);
    CHECK_EQ(run_main(selfjoin_main, &sj), 0);
    CHECK_EQ(sj.rc_handle, -EDEADLK);
    CHECK_EQ(sj.rc_current, -EDEADLK);
    CHECK_EQ(sj.r, -1); /* untouched */
}

/* A join future, or a task_join_all future, polled by the very task it
 * joins would wait for its own end: -EDEADLK at once (corio_task_join's
 * code for the same mistake), in a coroutine and in a stackless task, and
 * the handle stays the caller's. The awaits are bounded (10 s) only so that
 * a regression fails instead of hanging the suite. */
typedef struct selfjoin_fut {
    _Atomic(corio_task *) me;
    int rc_join, res_join, rc_all, res_all, r_all;
} selfjoin_fut;

static int self_fut_joiner(void *arg)
{
    selfjoin_fut *sj = arg;
    corio_task *me;
    while (!(me = atomic_load(&sj->me)))
        CHECK_EQ(corio_yield(), 0);
    corio_join_fut jf;
    corio_join_fut_init(&jf, me);
    sj->rc_join = corio_timeout(&jf.base, CORIO_SEC(10));
    sj->res_join = jf.base.result;
    corio_task *tasks[1] = {me};
    sj->r_all = -1;
    corio_task_join_all_fut tf;
    corio_task_join_all_fut_init(&tf, tasks, 1, &sj->r_all);
    /* Through a reference: a timeout dropping tf would give our handle back. */
    corio_ref_fut ref;
    corio_ref_fut_init(&ref, &tf.base);
    sj->rc_all = corio_timeout(&ref.base, CORIO_SEC(10));
    sj->res_all = tf.base.result;
    return 7;
}

typedef struct selfjoin_sl {
    corio_future base;
    _Atomic(corio_task *) *me;
    corio_join_fut jf;
    bool started;
} selfjoin_sl;

static corio_poll selfjoin_sl_poll(corio_future *f, corio_context *cx)
{
    selfjoin_sl *s = (selfjoin_sl *)f;
    corio_task *me = atomic_load(s->me);
    if (!me) { /* the spawner stores our handle after the spawn */
        corio_waker_wake_by_ref(corio_context_waker(cx));
        return CORIO_PENDING;
    }
    if (!s->started) {
        s->started = true;
        corio_join_fut_init(&s->jf, me);
    }
    if (corio_future_poll(&s->jf.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    f->result = s->jf.base.result;
    return CORIO_READY;
}

static const corio_future_vtable selfjoin_sl_vtable = {selfjoin_sl_poll, NULL};

static int selfjoin_fut_main(void *arg)
{
    (void)arg;
    /* A coroutine. */
    selfjoin_fut sj;
    memset(&sj, 0, sizeof sj);
    corio_task *t;
    CHECK_EQ(corio_spawn(self_fut_joiner, &sj, &t), 0);
    atomic_store(&sj.me, t);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0); /* neither future gave the handle back */
    CHECK_EQ(r, 7);
    CHECK_EQ(sj.rc_join, 0);
    CHECK_EQ(sj.res_join, -EDEADLK);
    CHECK_EQ(sj.rc_all, 0);
    CHECK_EQ(sj.res_all, -EDEADLK);
    CHECK_EQ(sj.r_all, -1); /* untouched */
    /* A stackless task. */
    _Atomic(corio_task *) me = NULL;
    selfjoin_sl sl = {.me = &me};
    corio_future_init(&sl.base, &selfjoin_sl_vtable);
    CHECK_EQ(corio_spawn_future(&sl.base, sizeof sl, &t), 0);
    atomic_store(&me, t);
    corio_join_fut jf;
    corio_join_fut_init(&jf, t);
    int rc = corio_timeout(&jf.base, CORIO_SEC(10));
    if (rc != 0)
        corio_task_abort(t); /* the regression: end it before failing */
    r = 0;
    CHECK_EQ(corio_task_join(t, &r), rc == 0 ? 0 : CORIO_ECANCELED);
    CHECK_EQ(rc, 0);
    CHECK_EQ(r, -EDEADLK);
    return 0;
}

TEST(misuse_join_future_polled_by_its_own_task_is_edeadlk)
{
    for (int mt = 0; mt < 2; mt++)
        CHECK_EQ(run_main_flavor(mt, selfjoin_fut_main, NULL), 0);
}

/* ---- awaiting nothing ------------------------------------------------------- */

static int bad_awaits_main(void *arg)
{
    (void)arg;
    CHECK_EQ(corio_await(NULL), -EINVAL);
    corio_future zero;
    memset(&zero, 0, sizeof zero);
    CHECK_EQ(corio_await(&zero), -EINVAL);
    corio_future_vtable no_poll = {NULL, NULL};
    corio_future nopoll;
    corio_future_init(&nopoll, &no_poll);
    CHECK_EQ(corio_await(&nopoll), -EINVAL);
    CHECK_EQ(corio_timeout(NULL, CORIO_MSEC(10)), -EINVAL);
    CHECK_EQ(corio_timeout(&zero, CORIO_MSEC(10)), -EINVAL);
    CHECK_EQ(corio_timeout_until(NULL, corio_instant_now()), -EINVAL);
    /* A timeout future around nothing finishes at once with -EINVAL. */
    corio_timeout_fut tf;
    corio_timeout_fut_init(&tf, NULL, CORIO_SEC(1));
    CHECK_EQ(corio_await(&tf.base), 0);
    CHECK_EQ(tf.base.result, -EINVAL);
    CHECK_EQ(corio_timeout_call(CORIO_SEC(1), NULL, NULL, NULL), -EINVAL);
    corio_join_fut jf;
    corio_join_fut_init(&jf, NULL);
    CHECK_EQ(corio_await(&jf.base), 0);
    CHECK_EQ(jf.base.result, -EINVAL);
    /* The task is still fine. */
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    return 0;
}

TEST(misuse_await_null_or_zeroed_future_is_einval)
{
    CHECK_EQ(run_main(bad_awaits_main, NULL), 0);
    corio_future zero;
    memset(&zero, 0, sizeof zero);
    CHECK_EQ(corio_block_on_future(NULL), -EINVAL);
    CHECK_EQ(corio_block_on_future(&zero), -EINVAL);
    corio_rt *rt = new_rt();
    CHECK_EQ(corio_rt_block_on_future(rt, &zero), -EINVAL);
    CHECK_EQ(corio_rt_free(rt), 0);
}

TEST(misuse_null_handles_answer_without_crashing)
{
    CHECK_EQ(corio_task_join(NULL, NULL), -EINVAL);
    corio_task_release(NULL);
    corio_task_abort(NULL);
    CHECK(!corio_task_is_finished(NULL));
    CHECK(!corio_task_is_cancelled(NULL));
    CHECK_EQ(corio_task_id(NULL), 0);
    CHECK(corio_task_name(NULL) == NULL);
    CHECK(corio_task_site(NULL) == NULL);
    CHECK(corio_task_current() == NULL);
    CHECK_EQ(corio_rt_free(NULL), 0);
    CHECK_EQ(corio_rt_block_on(NULL, return_42, NULL, NULL), -EINVAL);
    CHECK_EQ(corio_run(NULL, NULL, NULL), -EINVAL);
    CHECK_EQ(corio_rt_shutdown_timeout(NULL, 0), 0);
    CHECK_EQ(corio_rt_build(NULL, NULL), -EINVAL);
    corio_join_fut_init(NULL, NULL);
    corio_timer_init(NULL, 0);
    corio_timer_reset(NULL, 0);
    corio_timer_cancel(NULL);
    CHECK(!corio_timer_is_armed(NULL));
    CHECK_EQ(corio_timer_deadline(NULL), 0);
    corio_sleep_fut_init(NULL, CORIO_MSEC(1));
    corio_timeout_fut_init(NULL, NULL, CORIO_MSEC(1));
    corio_interval_init(NULL, CORIO_MSEC(1));
    corio_interval_set_missed_tick(NULL, CORIO_MISSED_SKIP);
    corio_interval_drop(NULL);
    CHECK_EQ(corio_interval_tick(NULL), -EINVAL);
    corio_waker_wake(NULL);
    corio_waker_drop(NULL);
    corio_waker_wake_by_ref(NULL);
    CHECK(corio_waker_clone(NULL).vtable == NULL);
    corio_waker_store(NULL, NULL);
    corio_future_drop(NULL);
}

/* ---- a join interrupted after the task finished ------------------------------ */

typedef struct late_join {
    corio_task *target;
    int rc, r;
} late_join;

static int cancelled_joiner(void *arg)
{
    late_join *lj = arg;
    /* Our own abort is requested before we get here (see below): the join
     * below runs cancelled, and its task has finished with 42. */
    lj->r = 0;
    lj->rc = corio_task_join(lj->target, &lj->r);
    return 0;
}

static int cancelled_join_main(void *arg)
{
    late_join *lj = arg;
    CHECK_EQ(corio_spawn(return_42, NULL, &lj->target), 0);
    while (!corio_task_is_finished(lj->target))
        CHECK_EQ(corio_yield(), 0);
    corio_task *j;
    CHECK_EQ(corio_spawn(cancelled_joiner, lj, &j), 0);
    corio_task_abort(j); /* before it first runs: its join runs cancelled */
    CHECK_EQ(corio_task_join(j, NULL), CORIO_ECANCELED);
    return 0;
}

TEST(misuse_cancelled_joiner_of_finished_task_gets_its_result)
{
    late_join lj;
    memset(&lj, 0, sizeof lj);
    CHECK_EQ(run_main(cancelled_join_main, &lj), 0);
    CHECK_EQ(lj.rc, 0);
    CHECK_EQ(lj.r, 42);
}

static int expired_scope_join(void *arg)
{
    late_join *lj = arg;
    /* Wait in the scope until its deadline has passed (the sleep is cut
     * short), then join a task that has long finished. */
    CHECK_EQ(corio_sleep(CORIO_SEC(10)), CORIO_ETIMEDOUT);
    lj->r = 0;
    lj->rc = corio_task_join(lj->target, &lj->r);
    return 0;
}

static int expired_join_main(void *arg)
{
    late_join *lj = arg;
    CHECK_EQ(corio_spawn(return_42, NULL, &lj->target), 0);
    while (!corio_task_is_finished(lj->target))
        CHECK_EQ(corio_yield(), 0);
    int r = -1;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(5), expired_scope_join, lj, &r), CORIO_ETIMEDOUT);
    return 0;
}

TEST(misuse_join_in_expired_scope_of_finished_task_gets_its_result)
{
    late_join lj;
    memset(&lj, 0, sizeof lj);
    CHECK_EQ(run_main(expired_join_main, &lj), 0);
    CHECK_EQ(lj.rc, 0);
    CHECK_EQ(lj.r, 42);
}

/* ---- CORIO_DEBUG: a handle used after it was given back ----------------------- */

typedef enum {
    TWICE_JOIN,
    JOIN_AFTER_RELEASE,
    RELEASE_TWICE,
    JOIN_FUT_AFTER_JOIN,
    JOIN_ALL_AFTER_JOIN
} misuse_kind;

static int debug_main(void *arg)
{
    misuse_kind k = (misuse_kind)(intptr_t)arg;
    corio_task *t;
    CHECK_EQ(corio_spawn(return_42, NULL, &t), 0);
    switch (k) {
    case TWICE_JOIN:
        CHECK_EQ(corio_task_join(t, NULL), 0);
        corio_task_join(t, NULL); /* must not return */
        break;
    case JOIN_AFTER_RELEASE:
        corio_task_release(t);
        CHECK_EQ(corio_yield(), 0); /* the task finishes and is freed */
        corio_task_join(t, NULL);
        break;
    case RELEASE_TWICE:
        corio_task_release(t); /* the task has not even run yet */
        corio_task_release(t);
        break;
    case JOIN_FUT_AFTER_JOIN: {
        /* The future form of the same mistake: it used to wait for ever on
         * the dead task's state word instead of being caught. */
        CHECK_EQ(corio_task_join(t, NULL), 0);
        corio_join_fut jf;
        corio_join_fut_init(&jf, t);
        corio_await(&jf.base); /* must not return */
        break;
    }
    case JOIN_ALL_AFTER_JOIN:
        CHECK_EQ(corio_task_join(t, NULL), 0);
        corio_task_join_all(&t, 1, NULL); /* must not return */
        break;
    }
    return 0;
}

/* Run the misuse in a grandchild with CORIO_DEBUG=1; return what it wrote
 * to stderr and check that it aborted. */
static void run_misuse(misuse_kind k, char *msg, size_t cap)
{
    int p[2];
    CHECK_EQ(pipe(p), 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        setenv("CORIO_DEBUG", "1", 1);
        alarm(30); /* a misuse that is not caught may hang: end it as a failure */
        int r;
        corio_run(debug_main, (void *)(intptr_t)k, &r);
        _exit(0); /* not reached when the misuse is caught */
    }
    close(p[1]);
    size_t n = 0;
    ssize_t got;
    while (n + 1 < cap && (got = read(p[0], msg + n, cap - 1 - n)) > 0)
        n += (size_t)got;
    msg[n] = 0;
    close(p[0]);
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

TEST(misuse_debug_catches_handle_used_after_give_back)
{
    char msg[1024];
    run_misuse(TWICE_JOIN, msg, sizeof msg);
    printf("join twice: %s", msg);
    CHECK(strstr(msg, "corio: corio_task_join on the handle of task") != NULL);
    CHECK(strstr(msg, "CORIO_DEBUG") != NULL);
    run_misuse(JOIN_AFTER_RELEASE, msg, sizeof msg);
    printf("join after release: %s", msg);
    CHECK(strstr(msg, "corio: corio_task_join on the handle of task") != NULL);
    run_misuse(RELEASE_TWICE, msg, sizeof msg);
    printf("release twice: %s", msg);
    CHECK(strstr(msg, "corio: corio_task_release on the handle of task") != NULL);
    CHECK(strstr(msg, "already given back") != NULL);
}

TEST(misuse_debug_catches_join_future_on_handle_given_back)
{
    char msg[1024];
    run_misuse(JOIN_FUT_AFTER_JOIN, msg, sizeof msg);
    printf("join future after join: %s", msg);
    CHECK(strstr(msg, "corio: corio_join_fut on the handle of task") != NULL);
    CHECK(strstr(msg, "CORIO_DEBUG") != NULL);
    run_misuse(JOIN_ALL_AFTER_JOIN, msg, sizeof msg);
    printf("join_all after join: %s", msg);
    CHECK(strstr(msg, "corio: corio_join_fut on the handle of task") != NULL);
}
