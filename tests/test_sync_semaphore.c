/* tests/test_sync_semaphore.c - the counting semaphore
 * (include/corio/semaphore.h).
 *
 * One test per promise of the header: FIFO grants, a large acquire holding
 * partial permits is not starved by small ones, newcomers queue behind
 * waiters, close, try_acquire's codes, clamping, -EINVAL, plain threads,
 * one release completing more waiters than a wake list holds, and cancel
 * safety (abort, corio_timeout on the future, deadline scopes; while
 * queued, holding a partial grant, or granted but not yet run again).
 * Deterministic steps run on a current-thread runtime (or poll the future
 * by hand with a counting waker). The stress tests are in
 * test_sync_semaphore_stress.c.
 */
#include <corio.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "util.h"

/* ---- an acquiring task ------------------------------------------------------ */

typedef struct acq {
    corio_semaphore *s;
    size_t n;
    int release; /* give the permits back once acquired */
    int rc;      /* what acquire returned, -9999 until then */
    int started;
    int done;
    int order; /* completion order (from *seq) */
    int *seq;
} acq;

static void acq_init(acq *a, corio_semaphore *s, size_t n, int *seq)
{
    memset(a, 0, sizeof *a);
    a->s = s;
    a->n = n;
    a->rc = -9999;
    a->seq = seq;
}

static int acq_task(void *arg)
{
    acq *a = arg;
    a->started = 1;
    a->rc = corio_semaphore_acquire(a->s, a->n);
    a->order = a->seq ? (*a->seq)++ : 0;
    a->done = 1;
    if (a->rc == 0 && a->release)
        corio_semaphore_release(a->s, a->n);
    return a->rc;
}

static corio_task *spawn_acq(acq *a)
{
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn(acq_task, a, &t), 0);
    settle(); /* it runs and queues before the next one */
    return t;
}

/* ==== argument checks, codes, clamping (plain code) ============================ */

TEST(sync_semaphore_codes)
{
    corio_semaphore s;
    corio_semaphore_init(&s, 3);
    CHECK_EQ(corio_semaphore_available(&s), 3);
    CHECK(!corio_semaphore_is_closed(&s));
    CHECK_EQ(corio_semaphore_try_acquire(&s, 2), 0);
    CHECK_EQ(corio_semaphore_available(&s), 1);
    CHECK_EQ(corio_semaphore_try_acquire(&s, 2), -EAGAIN);
    CHECK_EQ(corio_semaphore_available(&s), 1);
    CHECK_EQ(corio_semaphore_try_acquire(&s, 0), 0);
    CHECK_EQ(corio_semaphore_try_acquire(&s, 1), 0);
    CHECK_EQ(corio_semaphore_try_acquire(&s, 1), -EAGAIN);
    corio_semaphore_release(&s, 3);
    CHECK_EQ(corio_semaphore_available(&s), 3);
    corio_semaphore_release(&s, 0);
    CHECK_EQ(corio_semaphore_available(&s), 3);
    /* release adds permits beyond the initial count */
    corio_semaphore_release(&s, 4);
    CHECK_EQ(corio_semaphore_available(&s), 7);

    /* -EINVAL */
    CHECK_EQ(corio_semaphore_try_acquire(NULL, 1), -EINVAL);
    CHECK_EQ(corio_semaphore_try_acquire(&s, CORIO_SEMAPHORE_MAX_PERMITS + 1), -EINVAL);
    CHECK_EQ(corio_semaphore_try_acquire(&s, SIZE_MAX), -EINVAL);
    CHECK_EQ(corio_semaphore_acquire(NULL, 1), -EINVAL);
    CHECK_EQ(corio_semaphore_acquire(&s, CORIO_SEMAPHORE_MAX_PERMITS + 1), -EINVAL);
    CHECK_EQ(corio_semaphore_available(&s), 7);
    /* NULL: no crash */
    corio_semaphore_init(NULL, 3);
    corio_semaphore_release(NULL, 3);
    corio_semaphore_close(NULL);
    CHECK_EQ(corio_semaphore_available(NULL), 0);
    CHECK(!corio_semaphore_is_closed(NULL));
    corio_semaphore_acquire_fut_init(NULL, &s, 1);

    /* plain code, enough permits: no wait */
    CHECK_EQ(corio_semaphore_acquire(&s, 7), 0);
    CHECK_EQ(corio_semaphore_available(&s), 0);
    /* n == 0 returns at once, even with no permit free */
    CHECK_EQ(corio_semaphore_acquire(&s, 0), 0);

    /* clamping at the maximum */
    corio_semaphore big;
    corio_semaphore_init(&big, CORIO_SEMAPHORE_MAX_PERMITS + 5);
    CHECK(corio_semaphore_available(&big) == CORIO_SEMAPHORE_MAX_PERMITS);
    corio_semaphore_init(&big, SIZE_MAX);
    CHECK(corio_semaphore_available(&big) == CORIO_SEMAPHORE_MAX_PERMITS);
    corio_semaphore_release(&big, 10);
    CHECK(corio_semaphore_available(&big) == CORIO_SEMAPHORE_MAX_PERMITS);
    CHECK(!corio_semaphore_is_closed(&big));
    CHECK_EQ(corio_semaphore_try_acquire(&big, CORIO_SEMAPHORE_MAX_PERMITS), 0);
    CHECK_EQ(corio_semaphore_available(&big), 0);
    corio_semaphore_init(&big, CORIO_SEMAPHORE_MAX_PERMITS - 2);
    corio_semaphore_release(&big, 5);
    CHECK(corio_semaphore_available(&big) == CORIO_SEMAPHORE_MAX_PERMITS);
    corio_semaphore_release(&big, SIZE_MAX);
    CHECK(corio_semaphore_available(&big) == CORIO_SEMAPHORE_MAX_PERMITS);

    /* the static initialiser */
    static corio_semaphore st = CORIO_SEMAPHORE_INIT(4);
    CHECK_EQ(corio_semaphore_available(&st), 4);
    CHECK_EQ(corio_semaphore_try_acquire(&st, 4), 0);
    CHECK_EQ(corio_semaphore_try_acquire(&st, 1), -EAGAIN);
    corio_semaphore_release(&st, 4);
    CHECK_EQ(corio_semaphore_available(&st), 4);
    /* clamped like corio_semaphore_init (it wrapped to 0 and 1 before) */
    static corio_semaphore st_over = CORIO_SEMAPHORE_INIT(CORIO_SEMAPHORE_MAX_PERMITS + 1);
    static corio_semaphore st_over2 = CORIO_SEMAPHORE_INIT(CORIO_SEMAPHORE_MAX_PERMITS + 2);
    CHECK(corio_semaphore_available(&st_over) == CORIO_SEMAPHORE_MAX_PERMITS);
    CHECK(corio_semaphore_available(&st_over2) == CORIO_SEMAPHORE_MAX_PERMITS);
    CHECK(!corio_semaphore_is_closed(&st_over2));
}

/* The future form, polled by hand with a counting waker: every step is
 * deterministic, and the wakers it keeps are counted. */
TEST(sync_semaphore_fut_by_hand)
{
    corio_semaphore s;
    corio_semaphore_init(&s, 0);
    cw_target ta, tb, tc;
    corio_waker wa = cw_new(&ta), wb = cw_new(&tb), wc = cw_new(&tc);
    corio_context ca = {&wa}, cb = {&wb}, cc = {&wc};

    /* -EINVAL through the future */
    corio_semaphore_acquire_fut fe;
    corio_semaphore_acquire_fut_init(&fe, NULL, 1);
    CHECK_EQ(corio_future_poll(&fe.base, &ca), CORIO_READY);
    CHECK_EQ(fe.base.result, -EINVAL);
    corio_semaphore_acquire_fut_init(&fe, &s, CORIO_SEMAPHORE_MAX_PERMITS + 1);
    CHECK_EQ(corio_future_poll(&fe.base, &ca), CORIO_READY);
    CHECK_EQ(fe.base.result, -EINVAL);

    /* A wants 3, B wants 1, C wants 1: queue in that order */
    corio_semaphore_acquire_fut fa, fb, fc;
    corio_semaphore_acquire_fut_init(&fa, &s, 3);
    corio_semaphore_acquire_fut_init(&fb, &s, 1);
    corio_semaphore_acquire_fut_init(&fc, &s, 1);
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_PENDING);
    CHECK_EQ(corio_future_poll(&fc.base, &cc), CORIO_PENDING);
    CHECK_EQ(atomic_load(&ta.refs), 2); /* one clone kept */
    /* polling again keeps one waker */
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_PENDING);
    CHECK_EQ(atomic_load(&ta.refs), 2);

    /* 2 released: A holds them, nobody woken, none free */
    corio_semaphore_release(&s, 1);
    corio_semaphore_release(&s, 1);
    CHECK_EQ(corio_semaphore_available(&s), 0);
    CHECK_EQ(atomic_load(&ta.wakes) + atomic_load(&tb.wakes) + atomic_load(&tc.wakes), 0);
    CHECK_EQ(corio_semaphore_try_acquire(&s, 1), -EAGAIN);

    /* A is dropped holding 2: B gets 1, C gets 1 (FIFO), 0 left */
    corio_future_drop(&fa.base);
    CHECK_EQ(atomic_load(&ta.refs), 1);
    CHECK_EQ(atomic_load(&ta.wakes), 0);
    CHECK_EQ(atomic_load(&tb.wakes), 1);
    CHECK_EQ(atomic_load(&tc.wakes), 1);
    CHECK_EQ(corio_semaphore_available(&s), 0);
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_READY);
    CHECK_EQ(fb.base.result, 0);
    /* C was granted but is dropped unseen: its permit comes back */
    corio_future_drop(&fc.base);
    CHECK_EQ(corio_semaphore_available(&s), 1);
    CHECK_EQ(atomic_load(&tb.refs), 1);
    CHECK_EQ(atomic_load(&tc.refs), 1);
    /* B gives its back */
    corio_semaphore_release(&s, 1);
    CHECK_EQ(corio_semaphore_available(&s), 2);

    /* A fresh A wants 5 with 2 free: takes both, waits for 3 */
    corio_semaphore_acquire_fut_init(&fa, &s, 5);
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_PENDING);
    CHECK_EQ(corio_semaphore_available(&s), 0);
    /* n == 0 with a waiter queued: at once, and it takes nothing */
    corio_semaphore_acquire_fut fz;
    corio_semaphore_acquire_fut_init(&fz, &s, 0);
    CHECK_EQ(corio_future_poll(&fz.base, &cb), CORIO_READY);
    CHECK_EQ(fz.base.result, 0);
    corio_semaphore_release(&s, 2);
    CHECK_EQ(atomic_load(&ta.wakes), 0);
    corio_semaphore_release(&s, 4); /* A needed 1: completed, 3 left free */
    CHECK_EQ(atomic_load(&ta.wakes), 1);
    CHECK_EQ(corio_semaphore_available(&s), 3);
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_READY);
    CHECK_EQ(fa.base.result, 0);
    corio_semaphore_release(&s, 5);
    CHECK_EQ(corio_semaphore_available(&s), 8);

    /* close with a partial holder and a queued one */
    corio_semaphore_init(&s, 1);
    corio_semaphore_acquire_fut_init(&fa, &s, 4);
    corio_semaphore_acquire_fut_init(&fb, &s, 1);
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_PENDING); /* holds 1 */
    CHECK_EQ(corio_future_poll(&fb.base, &cb), CORIO_PENDING);
    corio_semaphore_release(&s, 1); /* A holds 2 */
    corio_semaphore_close(&s);
    CHECK(corio_semaphore_is_closed(&s));
    CHECK_EQ(atomic_load(&ta.wakes), 2);
    CHECK_EQ(atomic_load(&tb.wakes), 2);
    CHECK_EQ(corio_future_poll(&fa.base, &ca), CORIO_READY);
    CHECK_EQ(fa.base.result, CORIO_ECLOSED);
    /* B closed and dropped without seeing it: nothing to give back */
    corio_future_drop(&fb.base);
    /* A's partial 2 went back: counted, but nothing can take them */
    CHECK_EQ(corio_semaphore_available(&s), 2);
    CHECK_EQ(corio_semaphore_try_acquire(&s, 1), CORIO_ECLOSED);
    CHECK_EQ(corio_semaphore_acquire(&s, 1), CORIO_ECLOSED);
    corio_semaphore_acquire_fut_init(&fc, &s, 1);
    CHECK_EQ(corio_future_poll(&fc.base, &cc), CORIO_READY);
    CHECK_EQ(fc.base.result, CORIO_ECLOSED);
    corio_semaphore_release(&s, 3);
    CHECK_EQ(corio_semaphore_available(&s), 5);
    CHECK_EQ(corio_semaphore_try_acquire(&s, 1), CORIO_ECLOSED);

    /* no waker was leaked */
    CHECK_EQ(atomic_load(&ta.refs), 1);
    CHECK_EQ(atomic_load(&tb.refs), 1);
    CHECK_EQ(atomic_load(&tc.refs), 1);
    corio_waker_drop(&wa);
    corio_waker_drop(&wb);
    corio_waker_drop(&wc);
}

/* ==== FIFO ========================================================================== */

static int fifo_main(void *arg)
{
    corio_semaphore s;
    corio_semaphore_init(&s, 0);
    int seq = 0;
    enum { N = 6 };
    acq a[N];
    corio_task *t[N];
    for (int i = 0; i < N; i++) {
        acq_init(&a[i], &s, 1, &seq);
        t[i] = spawn_acq(&a[i]);
        CHECK(a[i].started && !a[i].done);
    }
    /* one permit at a time: the oldest waiter each time */
    for (int i = 0; i < 3; i++) {
        corio_semaphore_release(&s, 1);
        settle();
        for (int j = 0; j < N; j++)
            CHECK_EQ(a[j].done, j <= i);
        CHECK_EQ(a[i].order, i);
    }
    /* two at once: the two oldest (the order the woken tasks then run in
     * is the scheduler's) */
    corio_semaphore_release(&s, 2);
    settle();
    for (int j = 0; j < N; j++)
        CHECK_EQ(a[j].done, j <= 4);
    corio_semaphore_release(&s, 1);
    settle();
    for (int i = 0; i < N; i++) {
        CHECK(a[i].done);
        CHECK_EQ(a[i].rc, 0);
        CHECK_EQ(join_rc(t[i]), 0);
    }
    CHECK_EQ(corio_semaphore_available(&s), 0);
    return 0;
}

TEST(sync_semaphore_fifo)
{
    CHECK_EQ(run_main(fifo_main, NULL), 0);
}

/* ==== a large acquire is not starved; newcomers queue behind ======================== */

static int large_main(void *arg)
{
    corio_semaphore s;
    corio_semaphore_init(&s, 0);
    int seq = 0;
    acq big, small[3];
    acq_init(&big, &s, 5, &seq);
    corio_task *tb = spawn_acq(&big);
    corio_task *ts[3];
    for (int i = 0; i < 3; i++) {
        acq_init(&small[i], &s, 1, &seq);
        small[i].release = 0;
        ts[i] = spawn_acq(&small[i]);
    }
    /* four single permits: all go to the big one, which holds them */
    for (int i = 0; i < 4; i++) {
        corio_semaphore_release(&s, 1);
        settle();
        CHECK(!big.done);
        for (int j = 0; j < 3; j++)
            CHECK(!small[j].done);
        CHECK_EQ(corio_semaphore_available(&s), 0);
        CHECK_EQ(corio_semaphore_try_acquire(&s, 1), -EAGAIN);
    }
    corio_semaphore_release(&s, 1);
    settle();
    CHECK(big.done);
    CHECK_EQ(big.rc, 0);
    CHECK_EQ(big.order, 0);
    for (int j = 0; j < 3; j++)
        CHECK(!small[j].done);
    /* the big one gives its 5 back: the three small ones, 2 left */
    corio_semaphore_release(&s, 5);
    settle();
    for (int j = 0; j < 3; j++) {
        CHECK(small[j].done);
        CHECK_EQ(small[j].rc, 0);
        CHECK(small[j].order >= 1);
    }
    CHECK_EQ(corio_semaphore_available(&s), 2);
    CHECK_EQ(join_rc(tb), 0);
    for (int j = 0; j < 3; j++)
        CHECK_EQ(join_rc(ts[j]), 0);

    /* A large acquire arriving with some free takes them and waits: a
     * newcomer queues behind it although it would fit. */
    corio_semaphore_init(&s, 3);
    acq w, nc;
    acq_init(&w, &s, 5, &seq);
    corio_task *tw = spawn_acq(&w);
    CHECK(!w.done);
    CHECK_EQ(corio_semaphore_available(&s), 0);
    acq_init(&nc, &s, 1, &seq);
    corio_task *tn = spawn_acq(&nc);
    CHECK(!nc.done);
    CHECK_EQ(corio_semaphore_try_acquire(&s, 1), -EAGAIN);
    corio_semaphore_release(&s, 1); /* w holds 4 */
    settle();
    CHECK(!w.done && !nc.done);
    corio_semaphore_release(&s, 1); /* w complete, nc not yet */
    settle();
    CHECK(w.done && !nc.done);
    CHECK_EQ(corio_semaphore_available(&s), 0);
    /* n == 0 while others wait: at once */
    CHECK_EQ(corio_semaphore_acquire(&s, 0), 0);
    corio_semaphore_release(&s, 1);
    settle();
    CHECK(nc.done);
    CHECK_EQ(nc.rc, 0);
    CHECK_EQ(corio_semaphore_available(&s), 0);
    CHECK_EQ(join_rc(tw), 0);
    CHECK_EQ(join_rc(tn), 0);
    return 0;
}

TEST(sync_semaphore_large_not_starved)
{
    CHECK_EQ(run_main(large_main, NULL), 0);
}

/* ==== close =========================================================================== */

static int close_main(void *arg)
{
    corio_semaphore s;
    corio_semaphore_init(&s, 0);
    acq a, b;
    acq_init(&a, &s, 3, NULL);
    acq_init(&b, &s, 1, NULL);
    corio_task *ta = spawn_acq(&a);
    corio_task *tb = spawn_acq(&b);
    corio_semaphore_release(&s, 1); /* a holds 1 of 3 */
    settle();
    CHECK(!a.done && !b.done);
    corio_semaphore_close(&s);
    CHECK(corio_semaphore_is_closed(&s));
    settle();
    CHECK(a.done && b.done);
    CHECK_EQ(a.rc, CORIO_ECLOSED);
    CHECK_EQ(b.rc, CORIO_ECLOSED);
    /* a's partial permit was given back: counted, not acquirable */
    CHECK_EQ(corio_semaphore_available(&s), 1);
    CHECK_EQ(corio_semaphore_acquire(&s, 1), CORIO_ECLOSED);
    CHECK_EQ(corio_semaphore_try_acquire(&s, 1), CORIO_ECLOSED);
    corio_semaphore_release(&s, 2);
    CHECK_EQ(corio_semaphore_available(&s), 3);
    CHECK_EQ(corio_semaphore_acquire(&s, 1), CORIO_ECLOSED);
    corio_semaphore_close(&s); /* twice: harmless */
    CHECK(corio_semaphore_is_closed(&s));
    CHECK_EQ(join_rc(ta), CORIO_ECLOSED);
    CHECK_EQ(join_rc(tb), CORIO_ECLOSED);
    return 0;
}

TEST(sync_semaphore_close)
{
    CHECK_EQ(run_main(close_main, NULL), 0);
}

/* ==== plain threads ===================================================================== */

typedef struct plain_acq {
    corio_semaphore *s;
    size_t n;
    atomic_int done;
    int rc;
} plain_acq;

static void *plain_acq_thread(void *arg)
{
    plain_acq *p = arg;
    p->rc = corio_semaphore_acquire(p->s, p->n);
    atomic_store(&p->done, 1);
    return NULL;
}

static int plain_main(void *arg)
{
    corio_semaphore *s = arg;
    plain_acq p = {s, 2, 0, -9999};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, plain_acq_thread, &p), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(30)), 0);
    CHECK(!atomic_load(&p.done)); /* blocked */
    corio_semaphore_release(s, 1);
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    CHECK(!atomic_load(&p.done)); /* holds 1 of 2 */
    corio_semaphore_release(s, 1);
    pthread_join(th, NULL);
    CHECK_EQ(p.rc, 0);
    CHECK_EQ(corio_semaphore_available(s), 0);

    /* a blocked thread is woken by close */
    plain_acq q = {s, 1, 0, -9999};
    CHECK_EQ(pthread_create(&th, NULL, plain_acq_thread, &q), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(20)), 0);
    CHECK(!atomic_load(&q.done));
    corio_semaphore_close(s);
    pthread_join(th, NULL);
    CHECK_EQ(q.rc, CORIO_ECLOSED);
    return 0;
}

TEST(sync_semaphore_plain_thread)
{
    corio_semaphore s;
    corio_semaphore_init(&s, 0);
    CHECK_EQ(run_main(plain_main, &s), 0);
    /* and on the multi-thread runtime */
    corio_semaphore_init(&s, 0);
    corio_rt *rt = new_mt_rt(2);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, plain_main, &s, &r), 0);
    CHECK_EQ(r, 0);
    corio_rt_free(rt);
}

/* ==== cancel safety ======================================================================= */

/* Aborted while queued, with and without a partial grant, and with a waiter
 * behind it that the partial grant must go on to. */
static int abort_queued_main(void *arg)
{
    corio_semaphore s;
    corio_semaphore_init(&s, 0);
    acq a;
    acq_init(&a, &s, 3, NULL);
    corio_task *ta = spawn_acq(&a);
    corio_task_abort(ta);
    settle();
    CHECK(a.done);
    CHECK_EQ(a.rc, CORIO_ECANCELED);
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);
    CHECK_EQ(corio_semaphore_available(&s), 0);
    /* the queue is empty again: permits are free for anyone */
    corio_semaphore_release(&s, 1);
    CHECK_EQ(corio_semaphore_available(&s), 1);
    CHECK_EQ(corio_semaphore_try_acquire(&s, 1), 0);

    /* holding 2 of 3, nobody behind: the 2 come back */
    acq_init(&a, &s, 3, NULL);
    ta = spawn_acq(&a);
    corio_semaphore_release(&s, 2);
    settle();
    CHECK(!a.done);
    CHECK_EQ(corio_semaphore_available(&s), 0);
    corio_task_abort(ta);
    settle();
    CHECK_EQ(a.rc, CORIO_ECANCELED);
    CHECK_EQ(corio_semaphore_available(&s), 2);
    CHECK_EQ(corio_semaphore_try_acquire(&s, 2), 0);
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);

    /* holding 2 of 3 with b (2) and c (1) behind: b gets both */
    acq b, c;
    acq_init(&a, &s, 3, NULL);
    acq_init(&b, &s, 2, NULL);
    acq_init(&c, &s, 1, NULL);
    ta = spawn_acq(&a);
    corio_task *tb = spawn_acq(&b);
    corio_task *tc = spawn_acq(&c);
    corio_semaphore_release(&s, 2);
    settle();
    CHECK(!a.done && !b.done && !c.done);
    corio_task_abort(ta);
    settle();
    CHECK_EQ(a.rc, CORIO_ECANCELED);
    CHECK(b.done);
    CHECK_EQ(b.rc, 0);
    CHECK(!c.done);
    CHECK_EQ(corio_semaphore_available(&s), 0);
    corio_semaphore_release(&s, 2); /* b's: c takes 1 */
    settle();
    CHECK(c.done);
    CHECK_EQ(corio_semaphore_available(&s), 1);
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);
    CHECK_EQ(join_rc(tb), 0);
    CHECK_EQ(join_rc(tc), 0);
    return 0;
}

TEST(sync_semaphore_abort_queued)
{
    CHECK_EQ(run_main(abort_queued_main, NULL), 0);
}

/* Granted in full, then aborted before it ran again: it holds nothing; the
 * permits go on to the next waiter or back to the count. */
static int abort_granted_main(void *arg)
{
    corio_semaphore s;
    corio_semaphore_init(&s, 0);
    acq a, b;
    acq_init(&a, &s, 2, NULL);
    acq_init(&b, &s, 1, NULL);
    corio_task *ta = spawn_acq(&a);
    corio_task *tb = spawn_acq(&b);
    corio_semaphore_release(&s, 2); /* a granted; has not run */
    CHECK(!a.done);
    corio_task_abort(ta);
    settle();
    CHECK_EQ(a.rc, CORIO_ECANCELED);
    CHECK(b.done);
    CHECK_EQ(b.rc, 0);
    CHECK_EQ(corio_semaphore_available(&s), 1);
    corio_semaphore_release(&s, 1);
    CHECK_EQ(corio_semaphore_available(&s), 2);
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);
    CHECK_EQ(join_rc(tb), 0);

    /* alone: everything back */
    corio_semaphore_init(&s, 0);
    acq_init(&a, &s, 4, NULL);
    ta = spawn_acq(&a);
    corio_semaphore_release(&s, 4);
    corio_task_abort(ta);
    settle();
    CHECK_EQ(a.rc, CORIO_ECANCELED);
    CHECK_EQ(corio_semaphore_available(&s), 4);
    CHECK_EQ(join_rc(ta), CORIO_ECANCELED);
    return 0;
}

TEST(sync_semaphore_abort_granted)
{
    CHECK_EQ(run_main(abort_granted_main, NULL), 0);
}

/* corio_timeout on the future form. */
typedef struct tmo_acq {
    corio_semaphore *s;
    size_t n;
    corio_duration d;
    int rc, result, done;
} tmo_acq;

static int tmo_acq_task(void *arg)
{
    tmo_acq *t = arg;
    corio_semaphore_acquire_fut f;
    corio_semaphore_acquire_fut_init(&f, t->s, t->n);
    t->rc = corio_timeout(&f.base, t->d);
    t->result = t->rc == 0 ? f.base.result : -9999;
    t->done = 1;
    return 0;
}

static int timeout_fut_main(void *arg)
{
    corio_semaphore s;
    corio_semaphore_init(&s, 0);
    /* queued, holding 1 of 3 when the deadline passes */
    tmo_acq t = {&s, 3, CORIO_MSEC(UNDER_SAN ? 300 : 20), 0, 0, 0};
    acq b;
    acq_init(&b, &s, 1, NULL);
    corio_task *tt = NULL;
    CHECK_EQ(corio_spawn(tmo_acq_task, &t, &tt), 0);
    settle();
    corio_task *tb = spawn_acq(&b);
    corio_semaphore_release(&s, 1);
    settle();
    CHECK(!t.done && !b.done);
    CHECK_EQ(corio_task_join(tt, NULL), 0);
    CHECK_EQ(t.rc, CORIO_ETIMEDOUT);
    settle();
    CHECK(b.done); /* the partial permit went on to b */
    CHECK_EQ(b.rc, 0);
    CHECK_EQ(corio_semaphore_available(&s), 0);
    CHECK_EQ(join_rc(tb), 0);
    corio_semaphore_release(&s, 1);
    CHECK_EQ(corio_semaphore_available(&s), 1);

    /* granted before the deadline: 0, and it holds them */
    tmo_acq u = {&s, 2, CORIO_SEC(5), 0, 0, 0};
    CHECK_EQ(corio_spawn(tmo_acq_task, &u, &tt), 0);
    settle();
    corio_semaphore_release(&s, 1);
    CHECK_EQ(corio_task_join(tt, NULL), 0);
    CHECK_EQ(u.rc, 0);
    CHECK_EQ(u.result, 0);
    CHECK_EQ(corio_semaphore_available(&s), 0);
    return 0;
}

TEST(sync_semaphore_timeout_fut)
{
    CHECK_EQ(run_main(timeout_fut_main, NULL), 0);
}

/* A deadline scope around the acquire: expires while queued, and expires
 * after the grant but before the task runs again. */
typedef struct scope_acq {
    corio_semaphore *s;
    size_t n;
    corio_duration d;
    int scope_rc, inner_rc, result, done;
    corio_instant deadline;
} scope_acq;

static int scope_body(void *arg)
{
    scope_acq *sa = arg;
    sa->inner_rc = corio_semaphore_acquire(sa->s, sa->n);
    return 7;
}

static int scope_task(void *arg)
{
    scope_acq *sa = arg;
    sa->deadline = corio_instant_add(corio_instant_now(), sa->d);
    sa->scope_rc = corio_timeout_call(sa->d, scope_body, sa, &sa->result);
    sa->done = 1;
    return 0;
}

static int scope_main(void *arg)
{
    corio_semaphore s;
    corio_semaphore_init(&s, 0);
    /* expires while queued */
    scope_acq q = {&s, 2, CORIO_MSEC(10), 0, 0, 0, 0, 0};
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn(scope_task, &q, &t), 0);
    settle();
    corio_semaphore_release(&s, 1); /* partial */
    CHECK_EQ(corio_task_join(t, NULL), 0);
    CHECK_EQ(q.scope_rc, CORIO_ETIMEDOUT);
    CHECK_EQ(q.inner_rc, CORIO_ETIMEDOUT);
    CHECK_EQ(q.result, 7);
    CHECK_EQ(corio_semaphore_available(&s), 1);

    /* granted after its deadline passed, before it ran: the runtime
     * (event_interval 1) fires the scope's timer before polling it, so
     * its await drops the granted future */
    CHECK_EQ(corio_semaphore_try_acquire(&s, 1), 0);
    scope_acq g = {&s, 2, CORIO_MSEC(UNDER_SAN ? 300 : 30), 0, 0, 0, 0, 0};
    acq b;
    acq_init(&b, &s, 1, NULL);
    CHECK_EQ(corio_spawn(scope_task, &g, &t), 0);
    settle();
    corio_task *tb = spawn_acq(&b);
    CHECK(!g.done && !b.done);
    busy_until(corio_instant_add(g.deadline, CORIO_MSEC(2)));
    corio_semaphore_release(&s, 2); /* g granted in full */
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    settle();
    CHECK(g.done);
    CHECK_EQ(g.scope_rc, CORIO_ETIMEDOUT);
    CHECK_EQ(g.inner_rc, CORIO_ETIMEDOUT);
    CHECK(b.done); /* one of g's permits */
    CHECK_EQ(b.rc, 0);
    CHECK_EQ(corio_semaphore_available(&s), 1);
    CHECK_EQ(corio_task_join(t, NULL), 0);
    CHECK_EQ(join_rc(tb), 0);
    return 0;
}

TEST(sync_semaphore_scope)
{
    corio_rt *rt = new_rt_ev1();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, scope_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    corio_rt_free(rt);
}

/* More waiters than one wake list holds (32), all completed by one
 * release: the ones granted after the list filled must not be left queued
 * with nothing left to wait for. */
TEST(sync_semaphore_release_wakes_more_than_a_wake_list)
{
    enum { N = 100 };
    static corio_semaphore_acquire_fut f[N];
    corio_semaphore s;
    corio_semaphore_init(&s, 0);
    corio_waker w = corio_waker_noop();
    corio_context cx = {&w};
    for (int i = 0; i < N; i++) {
        corio_semaphore_acquire_fut_init(&f[i], &s, 1);
        CHECK_EQ(f[i].base.vtable->poll(&f[i].base, &cx), CORIO_PENDING);
    }
    corio_semaphore_release(&s, N);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(f[i].base.vtable->poll(&f[i].base, &cx), CORIO_READY);
        CHECK_EQ(f[i].base.result, 0);
    }
    CHECK_EQ(corio_semaphore_available(&s), 0);
    corio_semaphore_release(&s, N);
    CHECK_EQ(corio_semaphore_available(&s), N);
}
