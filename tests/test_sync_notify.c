/* tests/test_sync_notify.c - wake one or all (include/corio/notify.h).
 *
 * The stored permit (at most one), notify_waiters (wakes the waits begun and
 * the futures initialised before it, stores nothing, is not passed on),
 * FIFO of notify_one, cancel safety (a chosen waiter that is interrupted
 * passes the notification on), plain threads; ping-pong between tasks on
 * different workers, where a lost wakeup hangs the test.
 */
#include <corio.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test.h"
#include "util.h"

/* Whether a wait on `n` would complete within `ms` (it consumes what it
 * gets). */
static int wait_within(corio_notify *n, int ms)
{
    corio_notify_wait_fut f;
    corio_notify_wait_fut_init(&f, n);
    int rc = corio_timeout(&f.base, CORIO_MSEC(ms));
    if (rc == 0)
        CHECK_EQ(f.base.result, 0);
    else
        CHECK_EQ(rc, CORIO_ETIMEDOUT);
    return rc == 0;
}

typedef struct waiter_task {
    corio_notify *n;
    int rc, started, done, order;
    int *seq;
} waiter_task;

static int waiter_fn(void *arg)
{
    waiter_task *w = arg;
    w->started = 1;
    w->rc = corio_notify_wait(w->n);
    w->order = w->seq ? (*w->seq)++ : 0;
    w->done = 1;
    return w->rc;
}

static corio_task *spawn_waiter(waiter_task *w, corio_notify *n, int *seq)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    w->rc = -9999;
    w->seq = seq;
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn(waiter_fn, w, &t), 0);
    settle();
    CHECK(w->started && !w->done);
    return t;
}

/* ==== the permit ====================================================================== */

static int permit_main(void *arg)
{
    corio_notify n;
    corio_notify_init(&n);
    CHECK(!wait_within(&n, 5)); /* nothing stored at init */
    corio_notify_one(&n);
    corio_notify_one(&n); /* still one permit */
    CHECK_EQ(corio_notify_wait(&n), 0);
    CHECK(!wait_within(&n, 20));
    /* the permit is taken by the next wait, which returns at once */
    corio_notify_one(&n);
    CHECK(wait_within(&n, 1000));
    CHECK(!wait_within(&n, 5));
    /* NULL */
    CHECK_EQ(corio_notify_wait(NULL), -EINVAL);
    corio_notify_one(NULL);
    corio_notify_waiters(NULL);
    corio_notify_init(NULL);
    corio_notify_wait_fut_init(NULL, &n);
    corio_notify_wait_fut f;
    corio_notify_wait_fut_init(&f, NULL);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, -EINVAL);
    /* static initialiser */
    static corio_notify sn = CORIO_NOTIFY_INIT;
    corio_notify_one(&sn);
    CHECK_EQ(corio_notify_wait(&sn), 0);
    return 0;
}

TEST(sync_notify_permit)
{
    CHECK_EQ(run_main(permit_main, NULL), 0);
}

/* ==== notify_waiters ================================================================== */

static int waiters_main(void *arg)
{
    corio_notify n;
    corio_notify_init(&n);
    enum { N = 4 };
    waiter_task w[N];
    corio_task *t[N];
    for (int i = 0; i < N; i++)
        t[i] = spawn_waiter(&w[i], &n, NULL);
    corio_notify_waiters(&n);
    settle();
    for (int i = 0; i < N; i++) {
        CHECK(w[i].done);
        CHECK_EQ(w[i].rc, 0);
        CHECK_EQ(join_rc(t[i]), 0);
    }
    /* no permit stored */
    CHECK(!wait_within(&n, 20));
    /* with nobody waiting: nothing stored either */
    corio_notify_waiters(&n);
    CHECK(!wait_within(&n, 5));

    /* a future initialised before the call but polled after completes;
     * one initialised after the call does not */
    corio_notify_wait_fut before, after;
    corio_notify_wait_fut_init(&before, &n);
    corio_notify_waiters(&n);
    corio_notify_wait_fut_init(&after, &n);
    CHECK_EQ(corio_timeout(&before.base, CORIO_MSEC(1000)), 0);
    CHECK_EQ(before.base.result, 0);
    CHECK_EQ(corio_timeout(&after.base, CORIO_MSEC(10)), CORIO_ETIMEDOUT);
    /* a stored permit is left alone by notify_waiters, and a future that
     * completes through notify_waiters does not consume it */
    corio_notify_one(&n);
    corio_notify_wait_fut_init(&before, &n);
    corio_notify_waiters(&n);
    CHECK_EQ(corio_await(&before.base), 0);
    CHECK(wait_within(&n, 1000)); /* the permit */
    CHECK(!wait_within(&n, 5));
    return 0;
}

TEST(sync_notify_waiters)
{
    CHECK_EQ(run_main(waiters_main, NULL), 0);
}

/* By hand: who is woken, and what a drop passes on. */
TEST(sync_notify_fut_by_hand)
{
    corio_notify n;
    corio_notify_init(&n);
    cw_target ta, tb, tc;
    corio_waker wa = cw_new(&ta), wb = cw_new(&tb), wc = cw_new(&tc);
    corio_context ca = {&wa}, cb = {&wb}, cc = {&wc};
    corio_notify_wait_fut fa, fb, fc;

    /* FIFO: a, b, c queue; notify_one wakes a only */
    corio_notify_wait_fut_init(&fa, &n);
    corio_notify_wait_fut_init(&fb, &n);
    corio_notify_wait_fut_init(&fc, &n);
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&fc.base, &cc), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_PENDING);
    CHECK_EQ(atomic_load(&ta.refs), 2);
    corio_notify_one(&n);
    CHECK_EQ(atomic_load(&ta.wakes), 1);
    CHECK_EQ(atomic_load(&tb.wakes), 0);
    /* a, chosen, is dropped unseen: b gets it */
    corio_future_drop(&fa.base);
    CHECK_EQ(atomic_load(&tb.wakes), 1);
    CHECK_EQ(atomic_load(&tc.wakes), 0);
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_READY);
    CHECK_EQ(fb.base.result, 0);
    /* c, chosen and dropped with nobody behind: back into the permit */
    corio_notify_one(&n);
    CHECK_EQ(atomic_load(&tc.wakes), 1);
    corio_future_drop(&fc.base);
    corio_notify_wait_fut_init(&fa, &n);
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_READY); /* the permit */
    corio_notify_wait_fut_init(&fa, &n);
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_PENDING);
    corio_future_drop(&fa.base); /* queued, dropped: nothing passed on */
    CHECK_EQ(atomic_load(&ta.refs), 1);

    /* notify_waiters: a and b queued, c initialised before but not polled,
     * then d initialised after, polled: it stays */
    corio_notify_wait_fut fd;
    cw_target td;
    corio_waker wd = cw_new(&td);
    corio_context cd = {&wd};
    corio_notify_wait_fut_init(&fa, &n);
    corio_notify_wait_fut_init(&fb, &n);
    corio_notify_wait_fut_init(&fc, &n);
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_PENDING);
    int wa0 = atomic_load(&ta.wakes), wb0 = atomic_load(&tb.wakes);
    corio_notify_waiters(&n);
    CHECK_EQ(atomic_load(&ta.wakes), wa0 + 1);
    CHECK_EQ(atomic_load(&tb.wakes), wb0 + 1);
    corio_notify_wait_fut_init(&fd, &n);
    CHECK_EQ(corio_future_poll(&fd.base, &cd), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&fc.base, &cc), CORIO_READY);
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_READY);
    /* b, woken by notify_waiters, dropped unseen: not passed on to d */
    corio_future_drop(&fb.base);
    CHECK_EQ(atomic_load(&td.wakes), 0);
    /* and nothing was stored */
    corio_notify_wait_fut_init(&fa, &n);
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_PENDING);
    corio_notify_one(&n); /* d first (FIFO) */
    CHECK_EQ(atomic_load(&td.wakes), 1);
    CHECK_EQ(corio_future_poll(&fd.base, &cd), CORIO_READY);
    corio_future_drop(&fa.base);

    CHECK_EQ(atomic_load(&ta.refs), 1);
    CHECK_EQ(atomic_load(&tb.refs), 1);
    CHECK_EQ(atomic_load(&tc.refs), 1);
    CHECK_EQ(atomic_load(&td.refs), 1);
    corio_waker_drop(&wa);
    corio_waker_drop(&wb);
    corio_waker_drop(&wc);
    corio_waker_drop(&wd);
}

/* ==== FIFO =========================================================================== */

static int fifo_main(void *arg)
{
    corio_notify n;
    corio_notify_init(&n);
    int seq = 0;
    enum { N = 5 };
    waiter_task w[N];
    corio_task *t[N];
    for (int i = 0; i < N; i++)
        t[i] = spawn_waiter(&w[i], &n, &seq);
    for (int i = 0; i < N; i++) {
        corio_notify_one(&n);
        settle();
        for (int j = 0; j < N; j++)
            CHECK_EQ(w[j].done, j <= i);
        CHECK_EQ(w[i].order, i);
    }
    for (int i = 0; i < N; i++)
        CHECK_EQ(join_rc(t[i]), 0);
    /* several before any runs: the oldest ones (the order the woken
     * tasks then run in is the scheduler's) */
    seq = 0;
    for (int i = 0; i < N; i++)
        t[i] = spawn_waiter(&w[i], &n, &seq);
    corio_notify_one(&n);
    corio_notify_one(&n);
    corio_notify_one(&n);
    settle();
    for (int i = 0; i < N; i++)
        CHECK_EQ(w[i].done, i < 3);
    corio_notify_one(&n);
    corio_notify_one(&n);
    for (int i = 0; i < N; i++)
        CHECK_EQ(join_rc(t[i]), 0);
    CHECK(!wait_within(&n, 5));
    return 0;
}

TEST(sync_notify_fifo)
{
    CHECK_EQ(run_main(fifo_main, NULL), 0);
}

/* ==== cancel safety ================================================================= */

static int cancel_main(void *arg)
{
    corio_notify n;
    corio_notify_init(&n);
    waiter_task a, b;
    /* chosen, aborted before it ran: b gets it */
    corio_task *ta = spawn_waiter(&a, &n, NULL);
    corio_task *tb = spawn_waiter(&b, &n, NULL);
    corio_notify_one(&n);
    corio_task_abort(ta);
    settle();
    CHECK_EQ(a.rc, CORIO_ECANCELED);
    CHECK(b.done);
    CHECK_EQ(b.rc, 0);
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);
    CHECK_EQ(join_rc(tb), 0);
    CHECK(!wait_within(&n, 5)); /* and it was not doubled into a permit */
    /* chosen and aborted, alone: back into the permit */
    ta = spawn_waiter(&a, &n, NULL);
    corio_notify_one(&n);
    corio_task_abort(ta);
    settle();
    CHECK_EQ(a.rc, CORIO_ECANCELED);
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);
    CHECK(wait_within(&n, 1000));
    CHECK(!wait_within(&n, 5));
    /* queued and aborted: nothing consumed, a later notify_one reaches b */
    ta = spawn_waiter(&a, &n, NULL);
    tb = spawn_waiter(&b, &n, NULL);
    corio_task_abort(ta);
    settle();
    CHECK(!b.done);
    corio_notify_one(&n);
    settle();
    CHECK(b.done);
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);
    CHECK_EQ(join_rc(tb), 0);
    /* woken by notify_waiters, aborted: not passed on */
    ta = spawn_waiter(&a, &n, NULL);
    corio_notify_waiters(&n);
    corio_task_abort(ta);
    settle();
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);
    CHECK(!wait_within(&n, 5));
    /* a timed-out wait consumed nothing */
    CHECK(!wait_within(&n, 5));
    corio_notify_one(&n);
    CHECK(wait_within(&n, 1000));
    return 0;
}

TEST(sync_notify_cancel)
{
    CHECK_EQ(run_main(cancel_main, NULL), 0);
}

/* A deadline scope that expires after the waiter was chosen, before it
 * ran: the notification goes on to the next waiter. */
typedef struct scope_wait {
    corio_notify *n;
    corio_duration d;
    int rc, done;
    corio_instant deadline;
} scope_wait;

static int scope_wait_body(void *arg)
{
    return corio_notify_wait(((scope_wait *)arg)->n);
}

static int scope_wait_task(void *arg)
{
    scope_wait *s = arg;
    s->deadline = corio_instant_add(corio_instant_now(), s->d);
    int r = 0;
    s->rc = corio_timeout_call(s->d, scope_wait_body, s, &r);
    CHECK_EQ(r, s->rc);
    s->done = 1;
    return 0;
}

static int scope_main(void *arg)
{
    corio_notify n;
    corio_notify_init(&n);
    scope_wait s = {&n, CORIO_MSEC(UNDER_SAN ? 300 : 30), 0, 0, 0};
    corio_task *ts = NULL;
    CHECK_EQ(corio_spawn(scope_wait_task, &s, &ts), 0);
    settle();
    waiter_task b;
    corio_task *tb = spawn_waiter(&b, &n, NULL);
    busy_until(corio_instant_add(s.deadline, CORIO_MSEC(2)));
    corio_notify_one(&n); /* chooses s */
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    settle();
    CHECK(s.done);
    CHECK_EQ(s.rc, CORIO_ETIMEDOUT);
    CHECK(b.done);
    CHECK_EQ(b.rc, 0);
    CHECK_EQ(corio_task_join(ts, NULL), 0);
    CHECK_EQ(join_rc(tb), 0);
    return 0;
}

TEST(sync_notify_scope_late)
{
    corio_rt *rt = new_rt_ev1();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, scope_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    corio_rt_free(rt);
}

/* ==== plain threads ==================================================================== */

typedef struct plain_wait {
    corio_notify *n;
    atomic_int done;
    int rc;
} plain_wait;

static void *plain_wait_thread(void *arg)
{
    plain_wait *p = arg;
    p->rc = corio_notify_wait(p->n);
    atomic_store(&p->done, 1);
    return NULL;
}

static void *plain_notify_thread(void *arg)
{
    sleep_ms(10);
    corio_notify_one(arg);
    return NULL;
}

static int plain_main(void *arg)
{
    corio_notify n;
    corio_notify_init(&n);
    plain_wait p = {&n, 0, -9999};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, plain_wait_thread, &p), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(20)), 0);
    CHECK(!atomic_load(&p.done));
    corio_notify_one(&n);
    pthread_join(th, NULL);
    CHECK_EQ(p.rc, 0);
    /* a plain thread woken by notify_waiters */
    plain_wait q = {&n, 0, -9999};
    CHECK_EQ(pthread_create(&th, NULL, plain_wait_thread, &q), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(20)), 0);
    CHECK(!atomic_load(&q.done));
    /* it only reaches a waiter that has begun: repeat until it has */
    for (int i = 0; !atomic_load(&q.done); i++) {
        CHECK(i < 10000);
        corio_notify_waiters(&n);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    pthread_join(th, NULL);
    CHECK_EQ(q.rc, 0);
    /* a task woken by a plain thread */
    CHECK_EQ(pthread_create(&th, NULL, plain_notify_thread, &n), 0);
    CHECK_EQ(corio_notify_wait(&n), 0);
    pthread_join(th, NULL);
    return 0;
}

TEST(sync_notify_plain_thread)
{
    CHECK_EQ(run_main(plain_main, NULL), 0);
    corio_rt *rt = new_mt_rt(2);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, plain_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    corio_rt_free(rt);
    /* the permit from plain code, no runtime at all */
    corio_notify n;
    corio_notify_init(&n);
    corio_notify_one(&n);
    CHECK_EQ(corio_notify_wait(&n), 0);
}

/* ==== stress: ping-pong ================================================================ */

enum { PP_PAIRS = 4 };

typedef struct pp_pair {
    corio_notify ab, ba;
    long rounds;
    atomic_long a_round;
    atomic_long b_tid; /* the thread b last ran on */
    atomic_long *cross;
} pp_pair;

typedef struct pingpong {
    pp_pair pairs[PP_PAIRS];
    long rounds;
    atomic_long cross; /* rounds where a and b ran on different threads */
    /* the condition-variable pattern with notify_waiters */
    atomic_long turn;
    corio_notify cv;
    atomic_int thread_done;
} pingpong;

static int pp_a(void *arg)
{
    pp_pair *pp = arg;
    for (long i = 0; i < pp->rounds; i++) {
        corio_notify_one(&pp->ab);
        CHECK_EQ(corio_notify_wait(&pp->ba), 0);
        atomic_store(&pp->a_round, i + 1);
        if ((long)syscall(SYS_gettid) != atomic_load(&pp->b_tid))
            atomic_fetch_add(pp->cross, 1);
    }
    return 0;
}

static int pp_b(void *arg)
{
    pp_pair *pp = arg;
    for (long i = 0; i < pp->rounds; i++) {
        CHECK_EQ(corio_notify_wait(&pp->ab), 0);
        atomic_store(&pp->b_tid, (long)syscall(SYS_gettid));
        corio_notify_one(&pp->ba);
        /* a yield now and then lets an idle worker steal one side */
        if (i % 16 == 0)
            CHECK_EQ(corio_yield(), 0);
    }
    return 0;
}

/* Wait until turn == want: init the future, check, await. */
static void cv_wait(pingpong *pp, long want)
{
    for (;;) {
        corio_notify_wait_fut f;
        corio_notify_wait_fut_init(&f, &pp->cv);
        if (atomic_load(&pp->turn) == want)
            return;
        CHECK_EQ(corio_await(&f.base), 0);
    }
}

typedef struct cv_player {
    pingpong *pp;
    int parity;
} cv_player;

static int cv_play(void *arg)
{
    cv_player *p = arg;
    for (long i = 0; i < p->pp->rounds; i++) {
        long want = 2 * i + p->parity;
        cv_wait(p->pp, want);
        atomic_store(&p->pp->turn, want + 1);
        corio_notify_waiters(&p->pp->cv);
    }
    return 0;
}

/* b's side on a plain thread: every wakeup crosses threads. */
static void *pp_b_thread(void *arg)
{
    pingpong *pp = arg;
    for (long i = 0; i < pp->rounds / 100; i++) {
        CHECK_EQ(corio_notify_wait(&pp->pairs[0].ab), 0);
        corio_notify_one(&pp->pairs[0].ba);
    }
    atomic_store(&pp->thread_done, 1);
    return NULL;
}

static int pp_main(void *arg)
{
    pingpong *pp = arg;
    /* pairs of tasks (more tasks than workers: they spread) */
    corio_task *a[PP_PAIRS], *b[PP_PAIRS];
    for (int i = 0; i < PP_PAIRS; i++) {
        pp_pair *q = &pp->pairs[i];
        corio_notify_init(&q->ab);
        corio_notify_init(&q->ba);
        q->rounds = pp->rounds / PP_PAIRS;
        q->cross = &pp->cross;
        CHECK_EQ(corio_spawn(pp_b, q, &b[i]), 0);
        CHECK_EQ(corio_spawn(pp_a, q, &a[i]), 0);
    }
    for (int i = 0; i < PP_PAIRS; i++) {
        CHECK_EQ(join_rc(a[i]), 0);
        CHECK_EQ(join_rc(b[i]), 0);
        CHECK_EQ(atomic_load(&pp->pairs[i].a_round), pp->rounds / PP_PAIRS);
    }
    /* notify_waiters as a condition variable's broadcast */
    corio_task *c0 = NULL, *c1 = NULL;
    cv_player p0 = {pp, 0}, p1 = {pp, 1};
    CHECK_EQ(corio_spawn(cv_play, &p1, &c1), 0);
    CHECK_EQ(corio_spawn(cv_play, &p0, &c0), 0);
    CHECK_EQ(join_rc(c0), 0);
    CHECK_EQ(join_rc(c1), 0);
    CHECK_EQ(atomic_load(&pp->turn), 2 * pp->rounds);
    /* with a plain thread */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, pp_b_thread, pp), 0);
    for (long i = 0; i < pp->rounds / 100; i++) {
        corio_notify_one(&pp->pairs[0].ab);
        CHECK_EQ(corio_notify_wait(&pp->pairs[0].ba), 0);
    }
    pthread_join(th, NULL);
    CHECK(atomic_load(&pp->thread_done));
    if (getenv("PP_VERBOSE"))
        fprintf(stderr, "cross-thread rounds: %ld of %ld\n", atomic_load(&pp->cross), pp->rounds);
    return 0;
}

static void run_pp(corio_rt *rt, long rounds)
{
    pingpong *pp = calloc(1, sizeof *pp);
    CHECK(pp != NULL);
    corio_notify_init(&pp->cv);
    pp->rounds = rounds;
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, pp_main, pp, &r), 0);
    CHECK_EQ(r, 0);
    corio_rt_free(rt);
    free(pp);
}

TEST(sync_notify_pingpong_mt)
{
    for (unsigned w = 2; w <= 4; w++)
        run_pp(new_mt_rt(w), SCALE(50000, 8000, 3000));
}

TEST(sync_notify_pingpong_ct)
{
    run_pp(new_rt(), SCALE(50000, 8000, 3000));
}

/* Ping-pong with a plain thread on one side, and interrupted waits (short
 * timeouts) on a third notify racing notify_one from another worker: every
 * notify_one is either consumed by exactly one wait or left as the permit. */
typedef struct race {
    corio_notify n;
    long rounds;
    atomic_long got;
    atomic_int stop;
} race;

static int race_waiter(void *arg)
{
    race *r = arg;
    unsigned x = (unsigned)corio_task_id(corio_task_current()) * 2654435761u;
    while (!atomic_load(&r->stop)) {
        x = x * 1103515245u + 12345u;
        corio_notify_wait_fut f;
        corio_notify_wait_fut_init(&f, &r->n);
        int rc = corio_timeout(&f.base, CORIO_USEC((x >> 16) % 100));
        if (rc == 0)
            atomic_fetch_add(&r->got, 1);
        else
            CHECK_EQ(rc, CORIO_ETIMEDOUT);
    }
    return 0;
}

static int race_main(void *arg)
{
    race *r = arg;
    enum { W = 4 };
    corio_task *t[W];
    for (int i = 0; i < W; i++)
        CHECK_EQ(corio_spawn(race_waiter, r, &t[i]), 0);
    for (long i = 0; i < r->rounds; i++) {
        corio_notify_one(&r->n);
        /* wait until it is consumed: none lost, none doubled */
        double t0 = mono_ms();
        while (atomic_load(&r->got) < i + 1) {
            if (mono_ms() - t0 > 5000)
                test_failf(__FILE__, __LINE__, "notification %ld lost", i);
            CHECK_EQ(corio_yield(), 0);
        }
        CHECK_EQ(atomic_load(&r->got), i + 1);
    }
    atomic_store(&r->stop, 1);
    for (int i = 0; i < W; i++)
        CHECK_EQ(join_rc(t[i]), 0);
    CHECK_EQ(atomic_load(&r->got), r->rounds);
    return 0;
}

TEST(sync_notify_race_timeouts)
{
    for (unsigned w = 2; w <= 3; w++) {
        race *r = calloc(1, sizeof *r);
        CHECK(r != NULL);
        corio_notify_init(&r->n);
        r->rounds = SCALE(3000, 600, 300);
        corio_rt *rt = new_mt_rt(w);
        int res = -1;
        CHECK_EQ(corio_rt_block_on(rt, race_main, r, &res), 0);
        CHECK_EQ(res, 0);
        corio_rt_free(rt);
        free(r);
    }
}
