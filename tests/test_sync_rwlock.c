/* tests/test_sync_rwlock.c - the readers-writer lock (include/corio/rwlock.h).
 *
 * The order of grants is checked deterministically by polling the lock's
 * futures by hand from plain code, with counting wakers: a waiting writer
 * blocks later readers, grants are FIFO with runs of readers let in
 * together, a dropped waiter hands on what it held, downgrade. Then the
 * waiting calls in tasks and plain threads, and their interruption codes.
 * The stress tests are in test_sync_rwlock_stress.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <corio.h>
#include <corio/rwlock.h>

#include "test.h"
#include "util.h"

/* ---- polling by hand ------------------------------------------------------ */

TEST(sync_rwlock_null_and_static_init)
{
    CHECK_EQ(corio_rwlock_read(NULL), -EINVAL);
    CHECK_EQ(corio_rwlock_write(NULL), -EINVAL);
    CHECK_EQ(corio_rwlock_try_read(NULL), -EINVAL);
    CHECK_EQ(corio_rwlock_try_write(NULL), -EINVAL);
    corio_rwlock_read_unlock(NULL);
    corio_rwlock_write_unlock(NULL);
    corio_rwlock_downgrade(NULL);
    corio_rwlock_init(NULL);
    corio_rwlock_read_fut_init(NULL, NULL);
    corio_rwlock_write_fut_init(NULL, NULL);

    /* A future on a NULL lock finishes at its first poll with -EINVAL. */
    corio_waker nw = corio_waker_noop();
    corio_rwlock_read_fut rf;
    corio_rwlock_read_fut_init(&rf, NULL);
    CHECK_EQ(poll_with(&rf.base, &nw), CORIO_READY);
    CHECK_EQ(rf.base.result, -EINVAL);
    corio_rwlock_write_fut wf;
    corio_rwlock_write_fut_init(&wf, NULL);
    CHECK_EQ(poll_with(&wf.base, &nw), CORIO_READY);
    CHECK_EQ(wf.base.result, -EINVAL);

    /* The static initialiser and init make the same free lock. */
    static corio_rwlock s = CORIO_RWLOCK_INIT;
    corio_rwlock d;
    memset(&d, 0xa5, sizeof d);
    corio_rwlock_init(&d);
    CHECK(memcmp(&s, &d, sizeof d) == 0);
    CHECK(lock_is_free(&s));
    CHECK_EQ(sizeof(corio_rwlock), 32);
    CHECK_EQ(sizeof(corio_rwlock_read_fut), 96);
    CHECK_EQ(sizeof(corio_rwlock_write_fut), 96);
}

TEST(sync_rwlock_try_codes)
{
    corio_rwlock rw;
    corio_rwlock_init(&rw);
    /* Readers share. */
    for (int i = 0; i < 100; i++)
        CHECK_EQ(corio_rwlock_try_read(&rw), 0);
    CHECK_EQ(corio_rwlock_try_write(&rw), -EBUSY);
    for (int i = 0; i < 99; i++)
        corio_rwlock_read_unlock(&rw);
    CHECK_EQ(corio_rwlock_try_write(&rw), -EBUSY); /* one reader left */
    corio_rwlock_read_unlock(&rw);
    /* A writer excludes both. */
    CHECK_EQ(corio_rwlock_try_write(&rw), 0);
    CHECK_EQ(corio_rwlock_try_read(&rw), -EBUSY);
    CHECK_EQ(corio_rwlock_try_write(&rw), -EBUSY);
    corio_rwlock_write_unlock(&rw);
    CHECK_EQ(corio_rwlock_try_read(&rw), 0);
    corio_rwlock_read_unlock(&rw);
    CHECK(lock_is_free(&rw));
}

TEST(sync_rwlock_max_readers)
{
    /* White box: take all but two read permits straight from the lock's
     * semaphore, as that many readers would. */
    corio_rwlock rw;
    corio_rwlock_init(&rw);
    CHECK_EQ(corio_semaphore_try_acquire(&rw.sem_, CORIO_RWLOCK_MAX_READERS - 2), 0);
    CHECK_EQ(corio_rwlock_try_read(&rw), 0);
    CHECK_EQ(corio_rwlock_try_read(&rw), 0);
    CHECK_EQ(corio_rwlock_try_read(&rw), -EBUSY); /* MAX_READERS hold it */
    /* One more reader waits, in the queue, until a reader leaves. */
    cw_target t;
    corio_waker w = cw_new(&t);
    corio_rwlock_read_fut rf;
    corio_rwlock_read_fut_init(&rf, &rw);
    CHECK_EQ(poll_with(&rf.base, &w), CORIO_PENDING);
    corio_rwlock_read_unlock(&rw);
    CHECK_EQ(atomic_load(&t.wakes), 1);
    CHECK_EQ(poll_with(&rf.base, &w), CORIO_READY);
    CHECK_EQ(rf.base.result, 0);
    corio_rwlock_read_unlock(&rw);
    corio_rwlock_read_unlock(&rw);
    corio_semaphore_release(&rw.sem_, CORIO_RWLOCK_MAX_READERS - 2);
    CHECK(lock_is_free(&rw));
    CHECK_EQ(atomic_load(&t.refs), 1);
}

TEST(sync_rwlock_waiting_writer_blocks_later_readers)
{
    corio_rwlock rw;
    corio_rwlock_init(&rw);
    cw_target tw, tr;
    corio_waker ww = cw_new(&tw), wr = cw_new(&tr);

    CHECK_EQ(corio_rwlock_try_read(&rw), 0); /* R0 holds */
    corio_rwlock_write_fut wf;
    corio_rwlock_write_fut_init(&wf, &rw);
    CHECK_EQ(poll_with(&wf.base, &ww), CORIO_PENDING); /* W waits for R0 */
    /* Readers that come now queue behind the writer, though only readers
     * hold the lock. */
    CHECK_EQ(corio_rwlock_try_read(&rw), -EBUSY);
    CHECK_EQ(corio_rwlock_try_write(&rw), -EBUSY);
    corio_rwlock_read_fut rf;
    corio_rwlock_read_fut_init(&rf, &rw);
    CHECK_EQ(poll_with(&rf.base, &wr), CORIO_PENDING);
    CHECK_EQ(poll_with(&rf.base, &wr), CORIO_PENDING); /* polled again: still */
    /* R0 leaves: the writer, not the reader, is woken and gets it. */
    corio_rwlock_read_unlock(&rw);
    CHECK_EQ(atomic_load(&tw.wakes), 1);
    CHECK_EQ(atomic_load(&tr.wakes), 0);
    CHECK_EQ(poll_with(&rf.base, &wr), CORIO_PENDING);
    CHECK_EQ(poll_with(&wf.base, &ww), CORIO_READY);
    CHECK_EQ(wf.base.result, 0);
    CHECK_EQ(corio_rwlock_try_read(&rw), -EBUSY);
    /* The writer leaves: the reader gets in. */
    corio_rwlock_write_unlock(&rw);
    CHECK_EQ(atomic_load(&tr.wakes), 1);
    CHECK_EQ(poll_with(&rf.base, &wr), CORIO_READY);
    CHECK_EQ(rf.base.result, 0);
    /* Nobody waits now: readers join at once. */
    CHECK_EQ(corio_rwlock_try_read(&rw), 0);
    corio_rwlock_read_unlock(&rw);
    corio_rwlock_read_unlock(&rw);
    CHECK(lock_is_free(&rw));
    CHECK_EQ(atomic_load(&tw.refs), 1); /* the lock kept no waker */
    CHECK_EQ(atomic_load(&tr.refs), 1);
}

TEST(sync_rwlock_fifo_with_reader_runs)
{
    /* Queue: W1 R1 R2 W2 R3, behind a reader R0. Grants come in that order,
     * R1 and R2 together. */
    corio_rwlock rw;
    corio_rwlock_init(&rw);
    enum { N = 5 };
    cw_target t[N];
    corio_waker w[N];
    for (int i = 0; i < N; i++)
        w[i] = cw_new(&t[i]);
    corio_rwlock_write_fut w1, w2;
    corio_rwlock_read_fut r1, r2, r3;
    corio_rwlock_write_fut_init(&w1, &rw);
    corio_rwlock_read_fut_init(&r1, &rw);
    corio_rwlock_read_fut_init(&r2, &rw);
    corio_rwlock_write_fut_init(&w2, &rw);
    corio_rwlock_read_fut_init(&r3, &rw);
    corio_future *f[N] = {&w1.base, &r1.base, &r2.base, &w2.base, &r3.base};
    CHECK_EQ(corio_rwlock_try_read(&rw), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ(poll_with(f[i], &w[i]), CORIO_PENDING);

    corio_rwlock_read_unlock(&rw); /* R0 */
    CHECK_EQ(poll_with(f[0], &w[0]), CORIO_READY);
    for (int i = 1; i < N; i++) {
        CHECK_EQ(atomic_load(&t[i].wakes), 0);
        CHECK_EQ(poll_with(f[i], &w[i]), CORIO_PENDING);
    }
    corio_rwlock_write_unlock(&rw); /* W1 */
    CHECK_EQ(atomic_load(&t[1].wakes), 1);
    CHECK_EQ(atomic_load(&t[2].wakes), 1);
    CHECK_EQ(atomic_load(&t[3].wakes), 0);
    CHECK_EQ(poll_with(f[1], &w[1]), CORIO_READY);
    CHECK_EQ(poll_with(f[2], &w[2]), CORIO_READY);
    CHECK_EQ(poll_with(f[3], &w[3]), CORIO_PENDING);
    CHECK_EQ(poll_with(f[4], &w[4]), CORIO_PENDING); /* behind W2 */
    corio_rwlock_read_unlock(&rw);                   /* R1 */
    CHECK_EQ(poll_with(f[3], &w[3]), CORIO_PENDING); /* R2 still reads */
    corio_rwlock_read_unlock(&rw);                   /* R2 */
    CHECK_EQ(atomic_load(&t[3].wakes), 1);
    CHECK_EQ(poll_with(f[3], &w[3]), CORIO_READY);
    CHECK_EQ(poll_with(f[4], &w[4]), CORIO_PENDING);
    corio_rwlock_write_unlock(&rw); /* W2 */
    CHECK_EQ(poll_with(f[4], &w[4]), CORIO_READY);
    corio_rwlock_read_unlock(&rw); /* R3 */
    CHECK(lock_is_free(&rw));
    for (int i = 0; i < N; i++) {
        CHECK_EQ(f[i]->result, 0);
        CHECK_EQ(atomic_load(&t[i].refs), 1);
    }
}

TEST(sync_rwlock_dropped_waiter_hands_on)
{
    corio_rwlock rw;
    corio_rwlock_init(&rw);
    cw_target ta, tb, tc;
    corio_waker wa = cw_new(&ta), wb = cw_new(&tb), wc = cw_new(&tc);

    /* A queued writer cancelled lets the readers behind it through while
     * the first reader still holds the lock. */
    CHECK_EQ(corio_rwlock_try_read(&rw), 0);
    corio_rwlock_write_fut wf;
    corio_rwlock_write_fut_init(&wf, &rw);
    CHECK_EQ(poll_with(&wf.base, &wa), CORIO_PENDING);
    corio_rwlock_read_fut rf;
    corio_rwlock_read_fut_init(&rf, &rw);
    CHECK_EQ(poll_with(&rf.base, &wb), CORIO_PENDING);
    corio_future_drop(&wf.base);
    CHECK_EQ(atomic_load(&tb.wakes), 1);
    CHECK_EQ(poll_with(&rf.base, &wb), CORIO_READY);
    CHECK_EQ(atomic_load(&ta.refs), 1); /* the dropped one's waker went */
    CHECK_EQ(corio_rwlock_try_read(&rw), 0); /* and the queue is empty */
    for (int i = 0; i < 3; i++)
        corio_rwlock_read_unlock(&rw);
    CHECK(lock_is_free(&rw));

    /* A writer that had gathered part of the lock (one of two readers
     * left) hands that part on when dropped. */
    CHECK_EQ(corio_rwlock_try_read(&rw), 0);
    CHECK_EQ(corio_rwlock_try_read(&rw), 0);
    corio_rwlock_write_fut_init(&wf, &rw);
    CHECK_EQ(poll_with(&wf.base, &wa), CORIO_PENDING);
    corio_rwlock_read_unlock(&rw);
    CHECK_EQ(poll_with(&wf.base, &wa), CORIO_PENDING);
    corio_rwlock_write_fut wf2;
    corio_rwlock_write_fut_init(&wf2, &rw);
    CHECK_EQ(poll_with(&wf2.base, &wc), CORIO_PENDING);
    corio_future_drop(&wf.base);
    CHECK_EQ(poll_with(&wf2.base, &wc), CORIO_PENDING); /* one reader holds */
    corio_rwlock_read_unlock(&rw);
    CHECK_EQ(poll_with(&wf2.base, &wc), CORIO_READY);
    corio_rwlock_write_unlock(&rw);
    CHECK(lock_is_free(&rw));

    /* Granted but dropped before it saw it: the grant goes back. */
    CHECK_EQ(corio_rwlock_try_write(&rw), 0);
    corio_rwlock_write_fut_init(&wf, &rw);
    CHECK_EQ(poll_with(&wf.base, &wa), CORIO_PENDING);
    corio_rwlock_read_fut_init(&rf, &rw);
    CHECK_EQ(poll_with(&rf.base, &wb), CORIO_PENDING);
    corio_rwlock_write_unlock(&rw); /* wf granted */
    corio_future_drop(&wf.base);    /* ... and dropped: rf gets in */
    CHECK_EQ(poll_with(&rf.base, &wb), CORIO_READY);
    corio_rwlock_read_unlock(&rw);
    CHECK(lock_is_free(&rw));
    corio_rwlock_read_fut_init(&rf, &rw);
    CHECK_EQ(corio_rwlock_try_write(&rw), 0);
    CHECK_EQ(poll_with(&rf.base, &wb), CORIO_PENDING);
    corio_rwlock_write_unlock(&rw); /* rf granted */
    corio_future_drop(&rf.base);
    CHECK(lock_is_free(&rw));
    /* Dropping a future never polled, or finished, does nothing. */
    corio_rwlock_read_fut_init(&rf, &rw);
    corio_future_drop(&rf.base);
    CHECK(lock_is_free(&rw));
    CHECK_EQ(atomic_load(&ta.refs), 1);
    CHECK_EQ(atomic_load(&tb.refs), 1);
    CHECK_EQ(atomic_load(&tc.refs), 1);
}

TEST(sync_rwlock_downgrade)
{
    corio_rwlock rw;
    corio_rwlock_init(&rw);
    cw_target t1, t2, t3;
    corio_waker w1 = cw_new(&t1), w2 = cw_new(&t2), w3 = cw_new(&t3);
    CHECK_EQ(corio_rwlock_try_write(&rw), 0);
    corio_rwlock_read_fut r1, r3;
    corio_rwlock_write_fut wr2;
    corio_rwlock_read_fut_init(&r1, &rw);
    corio_rwlock_write_fut_init(&wr2, &rw);
    corio_rwlock_read_fut_init(&r3, &rw);
    CHECK_EQ(poll_with(&r1.base, &w1), CORIO_PENDING);
    CHECK_EQ(poll_with(&wr2.base, &w2), CORIO_PENDING);
    CHECK_EQ(poll_with(&r3.base, &w3), CORIO_PENDING);
    /* The writer becomes a reader: the reader at the head joins it; the
     * writer behind waits for both; the reader behind that writer too. */
    corio_rwlock_downgrade(&rw);
    CHECK_EQ(poll_with(&r1.base, &w1), CORIO_READY);
    CHECK_EQ(poll_with(&wr2.base, &w2), CORIO_PENDING);
    CHECK_EQ(poll_with(&r3.base, &w3), CORIO_PENDING);
    CHECK_EQ(corio_rwlock_try_read(&rw), -EBUSY);
    corio_rwlock_read_unlock(&rw); /* the downgraded one */
    CHECK_EQ(poll_with(&wr2.base, &w2), CORIO_PENDING);
    corio_rwlock_read_unlock(&rw); /* r1 */
    CHECK_EQ(poll_with(&wr2.base, &w2), CORIO_READY);
    corio_rwlock_downgrade(&rw); /* r3 joins */
    CHECK_EQ(poll_with(&r3.base, &w3), CORIO_READY);
    CHECK_EQ(corio_rwlock_try_read(&rw), 0); /* nobody waits: more readers */
    for (int i = 0; i < 3; i++)
        corio_rwlock_read_unlock(&rw);
    CHECK(lock_is_free(&rw));
}

/* ---- tasks ------------------------------------------------------------------ */

typedef struct readers_ctx {
    corio_rwlock rw;
    atomic_int inside, max_inside, done;
    int n;
} readers_ctx;

static int reader_hold(void *arg)
{
    readers_ctx *c = arg;
    CHECK_EQ(corio_rwlock_read(&c->rw), 0);
    int now = atomic_fetch_add(&c->inside, 1) + 1;
    int m = atomic_load(&c->max_inside);
    while (now > m && !atomic_compare_exchange_weak(&c->max_inside, &m, now))
        ;
    /* Hold until every reader is in at once. */
    double t0 = mono_ms();
    while (atomic_load(&c->inside) < c->n && atomic_load(&c->max_inside) < c->n) {
        CHECK(mono_ms() - t0 < 10000);
        CHECK_EQ(corio_yield(), 0);
    }
    atomic_fetch_sub(&c->inside, 1);
    corio_rwlock_read_unlock(&c->rw);
    atomic_fetch_add(&c->done, 1);
    return 0;
}

static int many_readers_main(void *arg)
{
    readers_ctx *c = arg;
    corio_task *t[64];
    for (int i = 0; i < c->n; i++)
        CHECK_EQ(corio_spawn(reader_hold, c, &t[i]), 0);
    for (int i = 0; i < c->n; i++)
        CHECK_EQ(corio_task_join(t[i], NULL), 0);
    CHECK_EQ(atomic_load(&c->max_inside), c->n);
    CHECK(lock_is_free(&c->rw));
    return 0;
}

TEST(sync_rwlock_many_readers_at_once)
{
    static readers_ctx c;
    memset(&c, 0, sizeof c);
    corio_rwlock_init(&c.rw);
    c.n = 64;
    CHECK_EQ(run_main(many_readers_main, &c), 0);
    /* And on the multi-thread runtime. */
    memset(&c, 0, sizeof c);
    corio_rwlock_init(&c.rw);
    c.n = 64;
    corio_rt *rt = new_mt_rt(4);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, many_readers_main, &c, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

typedef struct order_ctx {
    corio_rwlock rw;
    int log[8];
    int nlog;
} order_ctx;

static order_ctx oc;

static int ord_writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    int rc = corio_rwlock_write(&oc.rw);
    if (rc)
        return rc;
    oc.log[oc.nlog++] = id;
    CHECK_EQ(corio_yield(), 0); /* hold it across an await */
    corio_rwlock_write_unlock(&oc.rw);
    return 0;
}

static int ord_reader(void *arg)
{
    int id = (int)(intptr_t)arg;
    int rc = corio_rwlock_read(&oc.rw);
    if (rc)
        return rc;
    oc.log[oc.nlog++] = id;
    CHECK_EQ(corio_yield(), 0);
    corio_rwlock_read_unlock(&oc.rw);
    return 0;
}

static void yield_n(int n)
{
    for (int i = 0; i < n; i++)
        CHECK_EQ(corio_yield(), 0);
}

static int cancel_writer_main(void *arg)
{
    /* Tasks: R0 holds; writer W queues; reader R1 queues behind it. Abort
     * W: it returns CORIO_ECANCELED holding nothing, and R1 gets in while R0
     * still reads. */
    corio_rwlock_init(&oc.rw);
    oc.nlog = 0;
    CHECK_EQ(corio_rwlock_read(&oc.rw), 0);
    corio_task *w, *r1;
    CHECK_EQ(corio_spawn(ord_writer, (void *)(intptr_t)1, &w), 0);
    yield_n(5);
    CHECK_EQ(corio_spawn(ord_reader, (void *)(intptr_t)2, &r1), 0);
    yield_n(5);
    CHECK_EQ(oc.nlog, 0);
    CHECK(!corio_task_is_finished(w));
    corio_task_abort(w);
    int res = 0;
    CHECK_EQ(corio_task_join(w, &res), CORIO_ECANCELED);
    CHECK_EQ(res, CORIO_ECANCELED);
    CHECK_EQ(corio_task_join(r1, &res), 0);
    CHECK_EQ(res, 0);
    CHECK_EQ(oc.nlog, 1);
    CHECK_EQ(oc.log[0], 2);
    corio_rwlock_read_unlock(&oc.rw);
    CHECK(lock_is_free(&oc.rw));

    /* The same with a timeout on the writer's future. */
    CHECK_EQ(corio_rwlock_read(&oc.rw), 0);
    corio_rwlock_write_fut wf;
    corio_rwlock_write_fut_init(&wf, &oc.rw);
    CHECK_EQ(corio_timeout(&wf.base, CORIO_MSEC(5)), CORIO_ETIMEDOUT);
    CHECK_EQ(corio_rwlock_try_read(&oc.rw), 0); /* nothing queued now */
    corio_rwlock_read_unlock(&oc.rw);
    corio_rwlock_read_unlock(&oc.rw);
    CHECK(lock_is_free(&oc.rw));

    /* A future that wins its timeout holds the lock. */
    corio_rwlock_write_fut_init(&wf, &oc.rw);
    CHECK_EQ(corio_timeout(&wf.base, CORIO_MSEC(50)), 0);
    CHECK_EQ(wf.base.result, 0);
    CHECK_EQ(corio_rwlock_try_read(&oc.rw), -EBUSY);
    corio_rwlock_write_unlock(&oc.rw);
    return 0;
}

TEST(sync_rwlock_cancel_queued_writer_lets_readers_through)
{
    CHECK_EQ(run_main(cancel_writer_main, NULL), 0);
}

static int order_main(void *arg)
{
    /* Tasks queue as W1 R2 R3 W4 R5 behind the main task's write lock;
     * each logs when it gets in. */
    corio_rwlock_init(&oc.rw);
    oc.nlog = 0;
    CHECK_EQ(corio_rwlock_write(&oc.rw), 0);
    corio_fn fns[5] = {ord_writer, ord_reader, ord_reader, ord_writer, ord_reader};
    corio_task *t[5];
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(corio_spawn(fns[i], (void *)(intptr_t)(i + 1), &t[i]), 0);
        yield_n(3); /* let it queue */
    }
    CHECK_EQ(oc.nlog, 0);
    corio_rwlock_write_unlock(&oc.rw);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(corio_task_join(t[i], NULL), 0);
    CHECK_EQ(oc.nlog, 5);
    CHECK_EQ(oc.log[0], 1);
    CHECK(oc.log[1] == 2 || oc.log[1] == 3);
    CHECK(oc.log[2] == 2 || oc.log[2] == 3);
    CHECK_EQ(oc.log[3], 4);
    CHECK_EQ(oc.log[4], 5);
    CHECK(lock_is_free(&oc.rw));
    return 0;
}

TEST(sync_rwlock_tasks_granted_in_order)
{
    CHECK_EQ(run_main(order_main, NULL), 0);
}

static int interrupted_scope(void *arg)
{
    corio_rwlock *rw = arg;
    return corio_rwlock_write(rw);
}

static int self_abort_read(void *arg)
{
    corio_rwlock *rw = arg;
    corio_task_abort(corio_task_current());
    return corio_rwlock_read(rw);
}

static int interrupted_main(void *arg)
{
    corio_rwlock rw;
    corio_rwlock_init(&rw);
    CHECK_EQ(corio_rwlock_read(&rw), 0);
    /* A deadline scope expires while the writer waits. */
    int res = 0;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(5), interrupted_scope, &rw, &res), CORIO_ETIMEDOUT);
    CHECK_EQ(res, CORIO_ETIMEDOUT);
    corio_rwlock_read_unlock(&rw);
    CHECK(lock_is_free(&rw));
    /* A task already cancelled gets CORIO_ECANCELED at once, free lock or
     * not, and holds nothing. */
    corio_task *t;
    CHECK_EQ(corio_spawn(self_abort_read, &rw, &t), 0);
    CHECK_EQ(corio_task_join(t, &res), CORIO_ECANCELED);
    CHECK_EQ(res, CORIO_ECANCELED);
    CHECK(lock_is_free(&rw));
    return 0;
}

TEST(sync_rwlock_interrupted_wait_holds_nothing)
{
    CHECK_EQ(run_main(interrupted_main, NULL), 0);
}

/* A stackless task's poll function cannot wait. */
typedef struct ctx_probe_fut {
    corio_future base;
    corio_rwlock *rw;
} ctx_probe_fut;

static corio_poll ctx_probe_poll(corio_future *f, corio_context *cx)
{
    ctx_probe_fut *p = (ctx_probe_fut *)f;
    CHECK_EQ(corio_rwlock_read(p->rw), CORIO_EWRONGCTX);
    CHECK_EQ(corio_rwlock_write(p->rw), CORIO_EWRONGCTX);
    CHECK_EQ(corio_rwlock_try_read(p->rw), 0); /* try_* work anywhere */
    corio_rwlock_read_unlock(p->rw);
    f->result = 7;
    return CORIO_READY;
}

static const corio_future_vtable ctx_probe_vt = {ctx_probe_poll, NULL};

static int ewrongctx_main(void *arg)
{
    static corio_rwlock rw = CORIO_RWLOCK_INIT;
    ctx_probe_fut p;
    corio_future_init(&p.base, &ctx_probe_vt);
    p.rw = &rw;
    corio_task *t;
    CHECK_EQ(corio_spawn_future(&p.base, sizeof p, &t), 0);
    int res = 0;
    CHECK_EQ(corio_task_join(t, &res), 0);
    CHECK_EQ(res, 7);
    CHECK(lock_is_free(&rw));
    return 0;
}

TEST(sync_rwlock_poll_function_gets_ewrongctx)
{
    CHECK_EQ(run_main(ewrongctx_main, NULL), 0);
}

/* ---- plain threads ----------------------------------------------------------- */

typedef struct thread_ctx {
    corio_rwlock rw;
    atomic_int stage;
} thread_ctx;

static void *thread_writer(void *arg)
{
    thread_ctx *c = arg;
    atomic_store(&c->stage, 1);
    CHECK_EQ(corio_rwlock_write(&c->rw), 0); /* blocks: a task reads */
    atomic_store(&c->stage, 2);
    sleep_ms(20);
    atomic_store(&c->stage, 3);
    corio_rwlock_write_unlock(&c->rw);
    return NULL;
}

static int plain_thread_main(void *arg)
{
    thread_ctx *c = arg;
    CHECK_EQ(corio_rwlock_read(&c->rw), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, thread_writer, c), 0);
    while (atomic_load(&c->stage) < 1)
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(20)), 0);
    CHECK_EQ(atomic_load(&c->stage), 1); /* still blocked */
    corio_rwlock_read_unlock(&c->rw);
    while (atomic_load(&c->stage) < 2)
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    /* The thread holds the write lock: this task's read waits for it. */
    CHECK_EQ(corio_rwlock_read(&c->rw), 0);
    CHECK_EQ(atomic_load(&c->stage), 3);
    corio_rwlock_read_unlock(&c->rw);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK(lock_is_free(&c->rw));
    return 0;
}

TEST(sync_rwlock_plain_thread_blocks)
{
    static thread_ctx c;
    corio_rwlock_init(&c.rw);
    atomic_store(&c.stage, 0);
    CHECK_EQ(run_main(plain_thread_main, &c), 0);
    /* Plain code with no runtime at all: uncontended calls. */
    CHECK_EQ(corio_rwlock_read(&c.rw), 0);
    CHECK_EQ(corio_rwlock_read(&c.rw), 0);
    corio_rwlock_read_unlock(&c.rw);
    corio_rwlock_read_unlock(&c.rw);
    CHECK_EQ(corio_rwlock_write(&c.rw), 0);
    corio_rwlock_write_unlock(&c.rw);
}
