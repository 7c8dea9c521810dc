/* tests/test_sync_rwlock_stress.c - the readers-writer lock under stress.
 *
 * Loops on the multi-thread runtime, with plain threads, that check the
 * lock's invariant (one writer alone, or readers) against a plain-data
 * payload, with aborts and timeouts racing the grants; the lock ends free.
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

typedef struct stress_ctx {
    corio_rwlock rw;
    atomic_int readers, writers;
    long payload[8]; /* plain data: written under the write lock only */
    int iters;
    atomic_int stop;
    atomic_long reads, writes, interrupted;
} stress_ctx;

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

static void check_and_write(stress_ctx *c)
{
    CHECK_EQ(atomic_fetch_add(&c->writers, 1), 0);
    CHECK_EQ(atomic_load(&c->readers), 0);
    long v = c->payload[0] + 1;
    for (int i = 0; i < 8; i++)
        c->payload[i] = v;
    atomic_fetch_add(&c->writes, 1);
}

static void check_and_read(stress_ctx *c)
{
    atomic_fetch_add(&c->readers, 1);
    CHECK_EQ(atomic_load(&c->writers), 0);
    long v = c->payload[0];
    for (int i = 1; i < 8; i++)
        CHECK_EQ(c->payload[i], v);
    atomic_fetch_add(&c->reads, 1);
}

static int stress_task(void *arg)
{
    stress_ctx *c = arg;
    unsigned seed = (unsigned)(uintptr_t)corio_task_id(corio_task_current());
    for (int i = 0; i < c->iters; i++) {
        unsigned r = rnd(&seed);
        if (r % 4 == 0) {
            CHECK_EQ(corio_rwlock_write(&c->rw), 0);
            check_and_write(c);
            if (r & 16)
                CHECK_EQ(corio_yield(), 0);
            atomic_fetch_sub(&c->writers, 1);
            corio_rwlock_write_unlock(&c->rw);
        } else {
            CHECK_EQ(corio_rwlock_read(&c->rw), 0);
            check_and_read(c);
            if (r & 16)
                CHECK_EQ(corio_yield(), 0);
            atomic_fetch_sub(&c->readers, 1);
            corio_rwlock_read_unlock(&c->rw);
        }
    }
    return 0;
}

static void *stress_thread(void *arg)
{
    stress_ctx *c = arg;
    unsigned seed = (unsigned)(uintptr_t)pthread_self();
    for (int i = 0; i < c->iters; i++) {
        if (rnd(&seed) % 3 == 0) {
            CHECK_EQ(corio_rwlock_write(&c->rw), 0);
            check_and_write(c);
            atomic_fetch_sub(&c->writers, 1);
            corio_rwlock_write_unlock(&c->rw);
        } else {
            CHECK_EQ(corio_rwlock_read(&c->rw), 0);
            check_and_read(c);
            atomic_fetch_sub(&c->readers, 1);
            corio_rwlock_read_unlock(&c->rw);
        }
    }
    return NULL;
}

static int stress_main(void *arg)
{
    stress_ctx *c = arg;
    enum { TASKS = 16, THREADS = 2 };
    corio_task *t[TASKS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, stress_thread, c), 0);
    for (int i = 0; i < TASKS; i++)
        CHECK_EQ(corio_spawn(stress_task, c, &t[i]), 0);
    for (int i = 0; i < TASKS; i++)
        CHECK_EQ(corio_task_join(t[i], NULL), 0);
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK(lock_is_free(&c->rw));
    CHECK_EQ(c->payload[0], atomic_load(&c->writes));
    return 0;
}

TEST(sync_rwlock_stress_invariant_mt)
{
    static stress_ctx c;
    memset(&c, 0, sizeof c);
    corio_rwlock_init(&c.rw);
    c.iters = SCALE(20000, 4000, 1000);
    corio_rt *rt = new_mt_rt(4);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, stress_main, &c, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK(atomic_load(&c.reads) > 0 && atomic_load(&c.writes) > 0);
}

/* Waits that may be cut short by a timeout or an abort at any moment. */
static int interrupt_task(void *arg)
{
    stress_ctx *c = arg;
    unsigned seed = (unsigned)(uintptr_t)corio_task_id(corio_task_current()) * 7919u;
    while (!atomic_load(&c->stop)) {
        unsigned r = rnd(&seed);
        bool write = r % 3 == 0;
        int rc;
        corio_rwlock_read_fut rf;
        corio_rwlock_write_fut wf;
        corio_future *f;
        if (write) {
            corio_rwlock_write_fut_init(&wf, &c->rw);
            f = &wf.base;
        } else {
            corio_rwlock_read_fut_init(&rf, &c->rw);
            f = &rf.base;
        }
        if (r & 8)
            rc = corio_timeout(f, CORIO_USEC(r % 200));
        else
            rc = corio_await(f);
        if (rc == CORIO_ECANCELED)
            return 0; /* aborted: holds nothing */
        if (rc == CORIO_ETIMEDOUT) {
            atomic_fetch_add(&c->interrupted, 1);
            continue;
        }
        CHECK_EQ(rc, 0);
        CHECK_EQ(f->result, 0);
        if (write)
            check_and_write(c);
        else
            check_and_read(c);
        if (r & 32)
            (void)corio_yield(); /* may be cancelled here: unlock anyway */
        if (write) {
            atomic_fetch_sub(&c->writers, 1);
            corio_rwlock_write_unlock(&c->rw);
        } else {
            atomic_fetch_sub(&c->readers, 1);
            corio_rwlock_read_unlock(&c->rw);
        }
    }
    return 0;
}

static int interrupt_main(void *arg)
{
    stress_ctx *c = arg;
    enum { TASKS = 24 };
    corio_task *t[TASKS];
    int rounds = SCALE(1000, 200, 100);
    unsigned seed = 12345;
    for (int i = 0; i < TASKS; i++)
        CHECK_EQ(corio_spawn(interrupt_task, c, &t[i]), 0);
    double t0 = mono_ms();
    for (int k = 0; k < rounds && mono_ms() - t0 < 1500; k++) {
        CHECK_EQ(corio_sleep(CORIO_USEC(rnd(&seed) % 300)), 0);
        /* Abort one and put a fresh one in its place. */
        int i = (int)(rnd(&seed) % TASKS);
        corio_task_abort(t[i]);
        int res = -1;
        int jrc = corio_task_join(t[i], &res);
        CHECK(jrc == CORIO_ECANCELED || jrc == 0);
        CHECK_EQ(corio_spawn(interrupt_task, c, &t[i]), 0);
    }
    atomic_store(&c->stop, 1);
    for (int i = 0; i < TASKS; i++)
        CHECK_EQ(corio_task_join(t[i], NULL), 0);
    /* No permit lost or leaked, nobody left queued. */
    CHECK(lock_is_free(&c->rw));
    CHECK_EQ(atomic_load(&c->readers), 0);
    CHECK_EQ(atomic_load(&c->writers), 0);
    return 0;
}

TEST(sync_rwlock_stress_abort_and_timeout_race_grants)
{
    static stress_ctx c;
    memset(&c, 0, sizeof c);
    corio_rwlock_init(&c.rw);
    corio_rt *rt = new_mt_rt(4);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, interrupt_main, &c, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK(atomic_load(&c.reads) > 0);
    CHECK(atomic_load(&c.writes) > 0);
}
