/* tests/test_sync_mutex.c - the task mutex (include/corio/mutex.h).
 *
 * Mutual exclusion across awaits, barging by the running task, the 1 ms
 * hand-off (starvation) mode and its FIFO order, try_lock, unlock from
 * another task or thread, lock from a plain thread, and cancel safety: a
 * queued, woken or granted waiter that is aborted or timed out holds nothing
 * and passes its wakeup or ownership on. The stress tests are in
 * test_sync_mutex_stress.c.
 */
#include <corio.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "util.h"

/* A task that locks, records, optionally holds for a while, unlocks. */
typedef struct locker {
    corio_mutex *m;
    int unlock;          /* unlock once locked */
    corio_duration hold; /* sleep while holding */
    int rc, started, done, order;
    int *seq;
} locker;

static void locker_init(locker *l, corio_mutex *m, int *seq)
{
    memset(l, 0, sizeof *l);
    l->m = m;
    l->unlock = 1;
    l->rc = -9999;
    l->seq = seq;
}

static int locker_task(void *arg)
{
    locker *l = arg;
    l->started = 1;
    l->rc = corio_mutex_lock(l->m);
    l->order = l->seq ? (*l->seq)++ : 0;
    l->done = 1;
    if (l->rc == 0) {
        if (l->hold)
            CHECK_EQ(corio_sleep(l->hold), 0);
        if (l->unlock)
            corio_mutex_unlock(l->m);
    }
    return l->rc;
}

static corio_task *spawn_locker(locker *l)
{
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn(locker_task, l, &t), 0);
    settle();
    return t;
}

/* ==== basics ======================================================================= */

TEST(sync_mutex_basics)
{
    corio_mutex m;
    corio_mutex_init(&m);
    CHECK(!corio_mutex_is_locked(&m));
    CHECK_EQ(corio_mutex_try_lock(&m), 0);
    CHECK(corio_mutex_is_locked(&m));
    CHECK_EQ(corio_mutex_try_lock(&m), -EBUSY);
    corio_mutex_unlock(&m);
    CHECK(!corio_mutex_is_locked(&m));
    /* plain code, uncontended */
    CHECK_EQ(corio_mutex_lock(&m), 0);
    CHECK(corio_mutex_is_locked(&m));
    CHECK_EQ(corio_mutex_try_lock(&m), -EBUSY);
    corio_mutex_unlock(&m);
    /* NULL */
    CHECK_EQ(corio_mutex_lock(NULL), -EINVAL);
    CHECK_EQ(corio_mutex_try_lock(NULL), -EINVAL);
    corio_mutex_unlock(NULL);
    corio_mutex_init(NULL);
    CHECK(!corio_mutex_is_locked(NULL));
    corio_mutex_lock_fut_init(NULL, &m);
    corio_mutex_lock_fut f;
    corio_mutex_lock_fut_init(&f, NULL);
    corio_waker w = corio_waker_noop();
    corio_context cx = {&w};
    CHECK_EQ(corio_future_poll(&f.base, &cx), CORIO_READY);
    CHECK_EQ(f.base.result, -EINVAL);
    /* static initialiser */
    static corio_mutex sm = CORIO_MUTEX_INIT;
    CHECK(!corio_mutex_is_locked(&sm));
    CHECK_EQ(corio_mutex_try_lock(&sm), 0);
    corio_mutex_unlock(&sm);
}

/* The future form by hand: who is woken, what a drop passes on. */
TEST(sync_mutex_fut_by_hand)
{
    corio_mutex m;
    corio_mutex_init(&m);
    cw_target ta, tb, tc;
    corio_waker wa = cw_new(&ta), wb = cw_new(&tb), wc = cw_new(&tc);
    corio_context ca = {&wa}, cb = {&wb}, cc = {&wc};

    corio_mutex_lock_fut fa, fb, fc;
    corio_mutex_lock_fut_init(&fa, &m);
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_READY); /* free: taken */
    CHECK_EQ(fa.base.result, 0);
    CHECK(corio_mutex_is_locked(&m));
    corio_mutex_lock_fut_init(&fb, &m);
    corio_mutex_lock_fut_init(&fc, &m);
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&fc.base, &cc), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_PENDING);
    CHECK_EQ(atomic_load(&tb.refs), 2);
    CHECK_EQ(corio_mutex_try_lock(&m), -EBUSY);

    /* unlock wakes the head only */
    corio_mutex_unlock(&m);
    CHECK_EQ(atomic_load(&tb.wakes), 1);
    CHECK_EQ(atomic_load(&tc.wakes), 0);
    /* the woken b is dropped unseen: its wakeup goes on to c */
    corio_future_drop(&fb.base);
    CHECK_EQ(atomic_load(&tc.wakes), 1);
    CHECK(!corio_mutex_is_locked(&m));
    CHECK_EQ(corio_future_poll(&fc.base, &cc), CORIO_READY);
    CHECK_EQ(fc.base.result, 0);
    CHECK(corio_mutex_is_locked(&m));

    /* a queued b dropped: it leaves, and the mutex is plain again */
    corio_mutex_lock_fut_init(&fb, &m);
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_PENDING);
    corio_future_drop(&fb.base);
    CHECK_EQ(atomic_load(&tb.refs), 1);
    corio_mutex_unlock(&m);
    CHECK(!corio_mutex_is_locked(&m));
    CHECK_EQ(atomic_load(&tb.wakes), 1);
    CHECK_EQ(corio_mutex_try_lock(&m), 0);

    /* barging: b woken, a third party takes the free mutex first; b's
     * poll queues it again at the front, and the next unlock wakes b,
     * not c, though c queued later and was never woken */
    corio_mutex_lock_fut_init(&fb, &m);
    corio_mutex_lock_fut_init(&fc, &m);
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&fc.base, &cc), CORIO_PENDING);
    corio_mutex_unlock(&m);
    CHECK_EQ(atomic_load(&tb.wakes), 2);
    CHECK_EQ(corio_mutex_try_lock(&m), 0); /* barge */
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_PENDING);
    corio_mutex_unlock(&m);
    CHECK_EQ(atomic_load(&tb.wakes), 3);
    CHECK_EQ(atomic_load(&tc.wakes), 1);
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_READY);
    corio_mutex_unlock(&m);
    CHECK_EQ(atomic_load(&tc.wakes), 2);
    CHECK_EQ(corio_future_poll(&fc.base, &cc), CORIO_READY);
    corio_mutex_unlock(&m);
    CHECK(!corio_mutex_is_locked(&m));

    /* hand-off: b waits > 1 ms and is beaten by a barger after being
     * woken: the mutex turns to hand-off; the next unlock grants b (the
     * mutex stays locked); a granted b dropped unseen hands it to c */
    CHECK_EQ(corio_mutex_try_lock(&m), 0);
    corio_mutex_lock_fut_init(&fb, &m);
    corio_mutex_lock_fut_init(&fc, &m);
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&fc.base, &cc), CORIO_PENDING);
    sleep_ms(3);
    corio_mutex_unlock(&m);
    CHECK_EQ(corio_mutex_try_lock(&m), 0); /* barge */
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_PENDING); /* starving */
    corio_mutex_unlock(&m);
    CHECK(corio_mutex_is_locked(&m)); /* handed to b */
    CHECK_EQ(corio_mutex_try_lock(&m), -EBUSY);
    int bw = atomic_load(&tb.wakes);
    corio_future_drop(&fb.base); /* b never saw it: on to c */
    CHECK(corio_mutex_is_locked(&m));
    CHECK_EQ(atomic_load(&tc.wakes), 3);
    CHECK_EQ(atomic_load(&tb.wakes), bw);
    CHECK_EQ(corio_future_poll(&fc.base, &cc), CORIO_READY);
    corio_mutex_unlock(&m);
    CHECK(!corio_mutex_is_locked(&m));
    CHECK_EQ(corio_mutex_try_lock(&m), 0); /* normal mode again */
    corio_mutex_unlock(&m);

    CHECK_EQ(atomic_load(&ta.refs), 1);
    CHECK_EQ(atomic_load(&tb.refs), 1);
    CHECK_EQ(atomic_load(&tc.refs), 1);
    corio_waker_drop(&wa);
    corio_waker_drop(&wb);
    corio_waker_drop(&wc);
}

/* ==== mutual exclusion across awaits (current-thread) ============================== */

typedef struct excl {
    corio_mutex m;
    int inside;
    long counter; /* plain: only the holder touches it */
    int iters;
} excl;

static int excl_task(void *arg)
{
    excl *e = arg;
    for (int i = 0; i < e->iters; i++) {
        CHECK_EQ(corio_mutex_lock(&e->m), 0);
        CHECK_EQ(e->inside, 0);
        e->inside = 1;
        long c = e->counter;
        if (i % 3 == 0)
            CHECK_EQ(corio_sleep(CORIO_USEC(100)), 0);
        else
            CHECK_EQ(corio_yield(), 0);
        e->counter = c + 1;
        e->inside = 0;
        corio_mutex_unlock(&e->m);
        if (i % 2)
            CHECK_EQ(corio_yield(), 0);
    }
    return 0;
}

static int excl_main(void *arg)
{
    excl *e = arg;
    enum { N = 8 };
    corio_task *t[N];
    for (int i = 0; i < N; i++)
        CHECK_EQ(corio_spawn(excl_task, e, &t[i]), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ(join_rc(t[i]), 0);
    CHECK_EQ(e->counter, (long)N * e->iters);
    CHECK(!corio_mutex_is_locked(&e->m));
    return 0;
}

TEST(sync_mutex_exclusion_across_awaits)
{
    excl e;
    memset(&e, 0, sizeof e);
    corio_mutex_init(&e.m);
    e.iters = 60;
    CHECK_EQ(run_main(excl_main, &e), 0);
}

/* ==== barging by the running task ================================================== */

static int barge_main(void *arg)
{
    corio_mutex m;
    corio_mutex_init(&m);
    int seq = 0;
    CHECK_EQ(corio_mutex_lock(&m), 0);
    locker w;
    locker_init(&w, &m, &seq);
    corio_task *tw = spawn_locker(&w);
    CHECK(w.started && !w.done);
    /* unlock wakes w; the running task takes the mutex back first */
    corio_mutex_unlock(&m);
    CHECK_EQ(corio_mutex_lock(&m), 0); /* barging: no wait */
    settle();
    CHECK(!w.done); /* w found it taken and waits again */
    CHECK(corio_mutex_is_locked(&m));
    corio_mutex_unlock(&m);
    settle();
    CHECK(w.done); /* at the head of the queue: the next unlock is its */
    CHECK_EQ(w.rc, 0);
    CHECK_EQ(join_rc(tw), 0);
    CHECK(!corio_mutex_is_locked(&m));
    return 0;
}

TEST(sync_mutex_barging)
{
    CHECK_EQ(run_main(barge_main, NULL), 0);
}

/* ==== starvation: hand-off mode ====================================================== */

/* A hog relocks in a tight loop, yielding while it holds the mutex: in
 * normal mode it always barges past the woken waiter. Once the waiter has
 * waited 1 ms, the mutex is handed to it. */
typedef struct hog {
    corio_mutex *m;
    int *waiter_done;
    long rounds;
    long rounds_at_handoff;
    int stop;
} hog;

static int hog_task(void *arg)
{
    hog *h = arg;
    double t0 = mono_ms();
    while (!h->stop) {
        CHECK_EQ(corio_mutex_lock(h->m), 0);
        if (*h->waiter_done && !h->rounds_at_handoff)
            h->rounds_at_handoff = h->rounds;
        CHECK_EQ(corio_yield(), 0);
        corio_mutex_unlock(h->m);
        h->rounds++;
        if (mono_ms() - t0 > 5000)
            test_failf(__FILE__, __LINE__, "waiter starved for %ld rounds", h->rounds);
    }
    return 0;
}

static int starve_main(void *arg)
{
    corio_mutex m;
    corio_mutex_init(&m);
    int seq = 0;
    locker w;
    locker_init(&w, &m, &seq);
    w.unlock = 0;
    hog h = {&m, &w.done, 0, 0, 0};
    corio_task *th = NULL;
    CHECK_EQ(corio_spawn(hog_task, &h, &th), 0);
    CHECK_EQ(corio_yield(), 0); /* the hog holds it */
    corio_instant t0 = corio_instant_now();
    corio_task *tw = NULL;
    CHECK_EQ(corio_spawn(locker_task, &w, &tw), 0);
    while (!w.done)
        CHECK_EQ(corio_yield(), 0);
    corio_duration waited = (corio_duration)(corio_instant_now() - t0);
    CHECK_EQ(w.rc, 0);
    /* it waited about 1 ms, not for ever */
    CHECK(waited >= CORIO_MSEC(1));
    CHECK(waited < CORIO_MSEC(500));
    /* the hog is queued behind now */
    long r = h.rounds;
    settle();
    CHECK_EQ(h.rounds, r);
    h.stop = 1;
    corio_mutex_unlock(&m);
    CHECK_EQ(join_rc(th), 0);
    CHECK_EQ(join_rc(tw), 0);
    CHECK(h.rounds > 2); /* it did barge in normal mode */
    CHECK(!corio_mutex_is_locked(&m));
    /* back to normal mode: free, takeable */
    CHECK_EQ(corio_mutex_try_lock(&m), 0);
    corio_mutex_unlock(&m);
    return 0;
}

TEST(sync_mutex_starvation_handoff)
{
    CHECK_EQ(run_main(starve_main, NULL), 0);
    corio_rt *rt = new_mt_rt(1);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, starve_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    corio_rt_free(rt);
}

/* In hand-off mode the waiters get it in FIFO order, and a newcomer (the
 * hog relocking) queues behind them. */
static int handoff_fifo_main(void *arg)
{
    corio_mutex m;
    corio_mutex_init(&m);
    int seq = 0;
    CHECK_EQ(corio_mutex_lock(&m), 0);
    enum { N = 5 };
    locker w[N];
    corio_task *t[N];
    for (int i = 0; i < N; i++) {
        locker_init(&w[i], &m, &seq);
        w[i].hold = CORIO_USEC(10);
        t[i] = spawn_locker(&w[i]);
        CHECK(!w[i].done);
    }
    busy_until(corio_instant_add(corio_instant_now(), CORIO_MSEC(3)));
    corio_mutex_unlock(&m);            /* wakes w0 */
    CHECK_EQ(corio_mutex_lock(&m), 0); /* barge */
    settle();                          /* w0 requeues, starving: hand-off */
    CHECK(!w[0].done);
    corio_mutex_unlock(&m); /* granted to w0 */
    CHECK(corio_mutex_is_locked(&m));
    locker me;
    locker_init(&me, &m, &seq);
    corio_task *tm = spawn_locker(&me); /* the newcomer: queues */
    CHECK(!me.done);
    for (int i = 0; i < N; i++)
        CHECK_EQ(join_rc(t[i]), 0);
    CHECK_EQ(join_rc(tm), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ(w[i].order, i);
    CHECK_EQ(me.order, N);
    CHECK(!corio_mutex_is_locked(&m));
    return 0;
}

TEST(sync_mutex_handoff_fifo)
{
    CHECK_EQ(run_main(handoff_fifo_main, NULL), 0);
}

/* ==== unlock from elsewhere; lock from a plain thread ================================== */

static void *unlock_thread(void *arg)
{
    sleep_ms(10);
    corio_mutex_unlock(arg);
    return NULL;
}

static int unlock_task(void *arg)
{
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    corio_mutex_unlock(arg);
    return 0;
}

static int elsewhere_main(void *arg)
{
    corio_mutex m;
    corio_mutex_init(&m);
    /* locked here, unlocked by another task; a waiter gets it */
    CHECK_EQ(corio_mutex_lock(&m), 0);
    locker w;
    locker_init(&w, &m, NULL);
    corio_task *tw = spawn_locker(&w);
    corio_task *tu = NULL;
    CHECK_EQ(corio_spawn(unlock_task, &m, &tu), 0);
    CHECK_EQ(join_rc(tu), 0);
    CHECK_EQ(join_rc(tw), 0);
    CHECK_EQ(w.rc, 0);
    CHECK(!corio_mutex_is_locked(&m));
    /* locked here, unlocked by a plain thread while this task waits */
    CHECK_EQ(corio_mutex_lock(&m), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, unlock_thread, &m), 0);
    CHECK_EQ(corio_mutex_lock(&m), 0); /* waits for the thread's unlock */
    pthread_join(th, NULL);
    CHECK(corio_mutex_is_locked(&m));
    corio_mutex_unlock(&m);
    return 0;
}

TEST(sync_mutex_unlock_elsewhere)
{
    CHECK_EQ(run_main(elsewhere_main, NULL), 0);
}

typedef struct plain_lock {
    corio_mutex *m;
    atomic_int locked, release;
    int rc;
} plain_lock;

static void *plain_lock_thread(void *arg)
{
    plain_lock *p = arg;
    p->rc = corio_mutex_lock(p->m);
    atomic_store(&p->locked, 1);
    while (!atomic_load(&p->release))
        sleep_ms(1);
    corio_mutex_unlock(p->m);
    return NULL;
}

static int plain_lock_main(void *arg)
{
    corio_mutex m;
    corio_mutex_init(&m);
    CHECK_EQ(corio_mutex_lock(&m), 0);
    plain_lock p = {&m, 0, 0, -9999};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, plain_lock_thread, &p), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(20)), 0);
    CHECK(!atomic_load(&p.locked)); /* blocked */
    corio_mutex_unlock(&m);
    for (int i = 0; !atomic_load(&p.locked); i++) {
        CHECK(i < 5000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    CHECK_EQ(p.rc, 0);
    /* now the thread holds it: this task waits, woken by the thread */
    CHECK_EQ(corio_mutex_try_lock(&m), -EBUSY);
    atomic_store(&p.release, 1);
    CHECK_EQ(corio_mutex_lock(&m), 0);
    corio_mutex_unlock(&m);
    pthread_join(th, NULL);
    return 0;
}

TEST(sync_mutex_plain_thread)
{
    CHECK_EQ(run_main(plain_lock_main, NULL), 0);
    corio_rt *rt = new_mt_rt(2);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, plain_lock_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    corio_rt_free(rt);
}

/* ==== cancel safety ===================================================================== */

static int cancel_queued_main(void *arg)
{
    corio_mutex m;
    corio_mutex_init(&m);
    CHECK_EQ(corio_mutex_lock(&m), 0);
    locker a, b;
    locker_init(&a, &m, NULL);
    locker_init(&b, &m, NULL);
    corio_task *ta = spawn_locker(&a);
    corio_task *tb = spawn_locker(&b);
    corio_task_abort(ta);
    settle();
    CHECK_EQ(a.rc, CORIO_ECANCELED);
    CHECK(!b.done);
    corio_mutex_unlock(&m);
    settle();
    CHECK_EQ(b.rc, 0);
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);
    CHECK_EQ(join_rc(tb), 0);
    CHECK(!corio_mutex_is_locked(&m));
    /* the only waiter aborted: the mutex is plain again */
    CHECK_EQ(corio_mutex_lock(&m), 0);
    locker_init(&a, &m, NULL);
    ta = spawn_locker(&a);
    corio_task_abort(ta);
    settle();
    corio_mutex_unlock(&m);
    CHECK(!corio_mutex_is_locked(&m));
    CHECK_EQ(corio_mutex_try_lock(&m), 0);
    corio_mutex_unlock(&m);
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);
    return 0;
}

TEST(sync_mutex_cancel_queued)
{
    CHECK_EQ(run_main(cancel_queued_main, NULL), 0);
}

/* Woken by an unlock, aborted before it ran: the wakeup goes on. */
static int cancel_woken_main(void *arg)
{
    corio_mutex m;
    corio_mutex_init(&m);
    CHECK_EQ(corio_mutex_lock(&m), 0);
    locker a, b;
    locker_init(&a, &m, NULL);
    locker_init(&b, &m, NULL);
    corio_task *ta = spawn_locker(&a);
    corio_task *tb = spawn_locker(&b);
    corio_mutex_unlock(&m); /* wakes a */
    corio_task_abort(ta);
    settle();
    CHECK_EQ(a.rc, CORIO_ECANCELED);
    CHECK(b.done); /* nobody else unlocks: b got a's wakeup */
    CHECK_EQ(b.rc, 0);
    CHECK(!corio_mutex_is_locked(&m));
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);
    CHECK_EQ(join_rc(tb), 0);
    return 0;
}

TEST(sync_mutex_cancel_woken)
{
    CHECK_EQ(run_main(cancel_woken_main, NULL), 0);
}

/* Granted in hand-off mode, aborted before it ran: ownership goes on. */
static int cancel_granted_main(void *arg)
{
    corio_mutex m;
    corio_mutex_init(&m);
    CHECK_EQ(corio_mutex_lock(&m), 0);
    locker a, b;
    locker_init(&a, &m, NULL);
    locker_init(&b, &m, NULL);
    corio_task *ta = spawn_locker(&a);
    corio_task *tb = spawn_locker(&b);
    busy_until(corio_instant_add(corio_instant_now(), CORIO_MSEC(3)));
    corio_mutex_unlock(&m);            /* wakes a */
    CHECK_EQ(corio_mutex_lock(&m), 0); /* barge */
    settle();                          /* a requeues, starving */
    CHECK(!a.done);
    corio_mutex_unlock(&m); /* hand-off: granted to a */
    CHECK(corio_mutex_is_locked(&m));
    corio_task_abort(ta);
    settle();
    CHECK_EQ(a.rc, CORIO_ECANCELED);
    CHECK(b.done);
    CHECK_EQ(b.rc, 0);
    CHECK(!corio_mutex_is_locked(&m));
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);
    CHECK_EQ(join_rc(tb), 0);
    /* granted, aborted, nobody behind: unlocked */
    CHECK_EQ(corio_mutex_lock(&m), 0);
    locker_init(&a, &m, NULL);
    locker_init(&b, &m, NULL);
    ta = spawn_locker(&a);
    busy_until(corio_instant_add(corio_instant_now(), CORIO_MSEC(3)));
    corio_mutex_unlock(&m);
    CHECK_EQ(corio_mutex_lock(&m), 0);
    settle();
    corio_mutex_unlock(&m); /* granted to a */
    CHECK(corio_mutex_is_locked(&m));
    corio_task_abort(ta);
    settle();
    CHECK_EQ(a.rc, CORIO_ECANCELED);
    CHECK(!corio_mutex_is_locked(&m));
    CHECK_EQ(corio_mutex_try_lock(&m), 0);
    corio_mutex_unlock(&m);
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);
    return 0;
}

TEST(sync_mutex_cancel_granted)
{
    CHECK_EQ(run_main(cancel_granted_main, NULL), 0);
}

/* corio_timeout on the future, and deadline scopes. */
typedef struct tmo_lock {
    corio_mutex *m;
    corio_duration d;
    int rc, done;
    int scope;
    corio_instant deadline;
} tmo_lock;

static int scope_lock_body(void *arg)
{
    tmo_lock *t = arg;
    int rc = corio_mutex_lock(t->m);
    if (rc == 0)
        corio_mutex_unlock(t->m);
    return rc;
}

static int tmo_lock_task(void *arg)
{
    tmo_lock *t = arg;
    t->deadline = corio_instant_add(corio_instant_now(), t->d);
    if (t->scope) {
        int r = 0;
        t->rc = corio_timeout_call(t->d, scope_lock_body, t, &r);
        CHECK_EQ(r, t->rc);
    } else {
        corio_mutex_lock_fut f;
        corio_mutex_lock_fut_init(&f, t->m);
        t->rc = corio_timeout(&f.base, t->d);
        if (t->rc == 0) {
            CHECK_EQ(f.base.result, 0);
            corio_mutex_unlock(t->m);
        }
    }
    t->done = 1;
    return 0;
}

static int timeout_main(void *arg)
{
    corio_mutex m;
    corio_mutex_init(&m);
    for (int scope = 0; scope < 2; scope++) {
        /* times out while queued, with b behind */
        CHECK_EQ(corio_mutex_lock(&m), 0);
        tmo_lock t = {&m, CORIO_MSEC(10), 0, 0, scope, 0};
        corio_task *tt = NULL;
        CHECK_EQ(corio_spawn(tmo_lock_task, &t, &tt), 0);
        settle();
        locker b;
        locker_init(&b, &m, NULL);
        corio_task *tb = spawn_locker(&b);
        CHECK_EQ(corio_task_join(tt, NULL), 0);
        CHECK_EQ(t.rc, CORIO_ETIMEDOUT);
        CHECK(corio_mutex_is_locked(&m)); /* still ours */
        corio_mutex_unlock(&m);
        CHECK_EQ(join_rc(tb), 0);
        CHECK(!corio_mutex_is_locked(&m));
    }
    return 0;
}

TEST(sync_mutex_timeout)
{
    CHECK_EQ(run_main(timeout_main, NULL), 0);
}

/* The scope expires after the waiter was woken (normal mode) or granted
 * (hand-off), before it ran: the runtime looks at its timers after each
 * poll, so the scope's timer has fired when the waiter runs. */
static int scope_late_main(void *arg)
{
    corio_mutex m;
    corio_mutex_init(&m);
    for (int handoff = 0; handoff < 2; handoff++) {
        CHECK_EQ(corio_mutex_lock(&m), 0);
        tmo_lock t = {&m, CORIO_MSEC(UNDER_SAN ? 300 : 30), 0, 0, 1, 0};
        corio_task *tt = NULL;
        CHECK_EQ(corio_spawn(tmo_lock_task, &t, &tt), 0);
        settle();
        locker b;
        locker_init(&b, &m, NULL);
        corio_task *tb = spawn_locker(&b);
        if (handoff) {
            busy_until(corio_instant_add(corio_instant_now(), CORIO_MSEC(2)));
            corio_mutex_unlock(&m);
            CHECK_EQ(corio_mutex_try_lock(&m), 0); /* barge */
            CHECK_EQ(corio_yield(), 0);             /* t requeues: hand-off */
            CHECK(!t.done);
        }
        busy_until(corio_instant_add(t.deadline, CORIO_MSEC(2)));
        corio_mutex_unlock(&m); /* wakes or grants t */
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
        settle();
        CHECK(t.done);
        CHECK_EQ(t.rc, CORIO_ETIMEDOUT);
        CHECK(b.done); /* it got what t dropped */
        CHECK_EQ(b.rc, 0);
        CHECK(!corio_mutex_is_locked(&m));
        CHECK_EQ(corio_task_join(tt, NULL), 0);
        CHECK_EQ(join_rc(tb), 0);
    }
    return 0;
}

TEST(sync_mutex_scope_late)
{
    corio_rt *rt = new_rt_ev1();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, scope_late_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    corio_rt_free(rt);
}
