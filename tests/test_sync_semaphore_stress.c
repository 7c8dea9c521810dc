/* tests/test_sync_semaphore_stress.c - the counting semaphore under stress.
 *
 * On both runtimes, with plain threads: users that acquire one or two of
 * three permits, and aborts, timeouts on the future and deadline scopes
 * racing the grants; no more permits are ever held than there are, and
 * every permit comes back.
 */
#include <corio.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "util.h"

enum { ST_PERMITS = 3 };

typedef struct sem_stress {
    corio_semaphore s;
    atomic_long holders; /* permits held right now by the checked users */
    atomic_long max_holders;
    atomic_long acquired;
    atomic_long interrupted;
    atomic_int stop;
    long iters;
    int kind_mt;
} sem_stress;

static void hold(sem_stress *ss, size_t n)
{
    long h = atomic_fetch_add(&ss->holders, (long)n) + (long)n;
    if (h > ST_PERMITS)
        test_failf(__FILE__, __LINE__, "%ld permits held of %d", h, ST_PERMITS);
    long m = atomic_load(&ss->max_holders);
    while (h > m && !atomic_compare_exchange_weak(&ss->max_holders, &m, h))
        ;
    atomic_fetch_add(&ss->acquired, 1);
}

static void unhold(sem_stress *ss, size_t n)
{
    atomic_fetch_sub(&ss->holders, (long)n);
    corio_semaphore_release(&ss->s, n);
}

static int stress_user(void *arg)
{
    sem_stress *ss = arg;
    unsigned x = (unsigned)(uintptr_t)corio_task_id(corio_task_current()) * 2654435761u;
    for (long i = 0; i < ss->iters; i++) {
        x = x * 1103515245u + 12345u;
        size_t n = 1 + (x >> 16) % 2;
        CHECK_EQ(corio_semaphore_acquire(&ss->s, n), 0);
        hold(ss, n);
        if ((x >> 8) & 1)
            CHECK_EQ(corio_yield(), 0);
        unhold(ss, n);
        if (((x >> 9) & 7) == 0)
            CHECK_EQ(corio_yield(), 0);
    }
    return 0;
}

/* Interrupted acquires: timeouts on the future (0-200 us), a scope, and,
 * from main, aborts. Whatever they get they check and give back. */
static int scope_hold(void *arg)
{
    sem_stress *ss = arg;
    int rc = corio_semaphore_acquire(&ss->s, 1);
    if (rc != 0)
        return rc;
    hold(ss, 1);
    int y = corio_yield(); /* may be interrupted: the permit is still ours */
    unhold(ss, 1);
    return y;
}

static int stress_victim(void *arg)
{
    sem_stress *ss = arg;
    unsigned x = (unsigned)(uintptr_t)corio_task_id(corio_task_current()) * 2246822519u;
    while (!atomic_load(&ss->stop)) {
        x = x * 1103515245u + 12345u;
        size_t n = 1 + (x >> 16) % ST_PERMITS;
        int rc;
        if ((x >> 4) & 1) {
            corio_semaphore_acquire_fut f;
            corio_semaphore_acquire_fut_init(&f, &ss->s, n);
            rc = corio_timeout(&f.base, CORIO_USEC((x >> 20) % 200));
            if (rc == 0) {
                CHECK_EQ(f.base.result, 0);
                hold(ss, n);
                unhold(ss, n);
            } else if (rc == CORIO_ECANCELED) {
                return 0;
            } else {
                CHECK_EQ(rc, CORIO_ETIMEDOUT);
                atomic_fetch_add(&ss->interrupted, 1);
            }
        } else {
            int r = 0;
            rc = corio_timeout_call(CORIO_USEC((x >> 20) % 300), scope_hold, ss, &r);
            if (rc == CORIO_ECANCELED)
                return 0;
            if (rc == CORIO_ETIMEDOUT)
                atomic_fetch_add(&ss->interrupted, 1);
            else
                CHECK_EQ(rc, 0);
        }
        rc = corio_yield();
        if (rc == CORIO_ECANCELED)
            return 0;
    }
    return 0;
}

/* Acquires until aborted (a long acquire that may be in any state). */
static int stress_abortee(void *arg)
{
    sem_stress *ss = arg;
    for (;;) {
        int rc = corio_semaphore_acquire(&ss->s, ST_PERMITS);
        if (rc == CORIO_ECANCELED)
            return 0;
        CHECK_EQ(rc, 0);
        hold(ss, ST_PERMITS);
        unhold(ss, ST_PERMITS);
    }
}

typedef struct stress_thread {
    sem_stress *ss;
    long iters;
    atomic_int done;
} stress_thread;

static void *stress_plain(void *arg)
{
    stress_thread *st = arg;
    for (long i = 0; i < st->iters; i++) {
        size_t n = 1 + (size_t)(i % 2);
        CHECK_EQ(corio_semaphore_acquire(&st->ss->s, n), 0);
        hold(st->ss, n);
        if (i % 8 == 0)
            sched_yield();
        unhold(st->ss, n);
    }
    atomic_fetch_add(&st->done, 1);
    return NULL;
}

enum { ST_USERS = 12, ST_VICTIMS = 6, ST_THREADS = 2 };

static int stress_main(void *arg)
{
    sem_stress *ss = arg;
    corio_task *users[ST_USERS], *victims[ST_VICTIMS];
    for (int i = 0; i < ST_USERS; i++)
        CHECK_EQ(corio_spawn(stress_user, ss, &users[i]), 0);
    for (int i = 0; i < ST_VICTIMS; i++)
        CHECK_EQ(corio_spawn(stress_victim, ss, &victims[i]), 0);
    pthread_t th[ST_THREADS];
    stress_thread sth = {ss, ss->iters / 4, 0};
    for (int i = 0; i < ST_THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, stress_plain, &sth), 0);
    /* aborts racing grants */
    int rounds = SCALE(300, 60, 30);
    for (int i = 0; i < rounds; i++) {
        corio_task *t = NULL;
        CHECK_EQ(corio_spawn(stress_abortee, ss, &t), 0);
        if (i & 1)
            CHECK_EQ(corio_yield(), 0);
        else
            CHECK_EQ(corio_sleep(CORIO_USEC(50 + (i % 5) * 40)), 0);
        corio_task_abort(t);
        if (i % 3 == 0) {
            CHECK_EQ(join_rc(t), 0);
        } else {
            corio_task_release(t);
        }
    }
    for (int i = 0; i < ST_USERS; i++)
        CHECK_EQ(join_rc(users[i]), 0);
    /* not pthread_join while they run: on a current-thread runtime that
     * would block the tasks whose permits the threads wait for */
    for (int i = 0; atomic_load(&sth.done) < ST_THREADS; i++) {
        CHECK(i < 20000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    for (int i = 0; i < ST_THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&ss->stop, 1);
    for (int i = 0; i < ST_VICTIMS; i++)
        CHECK_EQ(join_rc(victims[i]), 0);
    /* released abortees still finishing: wait until every permit is back */
    double t0 = mono_ms();
    while (corio_semaphore_available(&ss->s) != ST_PERMITS) {
        if (mono_ms() - t0 > 5000)
            test_failf(__FILE__, __LINE__, "permits: %zu of %d back",
                       corio_semaphore_available(&ss->s), ST_PERMITS);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    CHECK_EQ(atomic_load(&ss->holders), 0);
    CHECK(atomic_load(&ss->max_holders) <= ST_PERMITS);
    /* nothing queued: every permit can be taken at once */
    CHECK_EQ(corio_semaphore_try_acquire(&ss->s, ST_PERMITS), 0);
    corio_semaphore_release(&ss->s, ST_PERMITS);
    return 0;
}

static void run_stress(corio_rt *rt, long iters)
{
    sem_stress *ss = calloc(1, sizeof *ss);
    CHECK(ss != NULL);
    corio_semaphore_init(&ss->s, ST_PERMITS);
    ss->iters = iters;
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, stress_main, ss, &r), 0);
    CHECK_EQ(r, 0);
    corio_rt_free(rt);
    CHECK_EQ(corio_semaphore_available(&ss->s), ST_PERMITS);
    free(ss);
}

TEST(sync_semaphore_stress_mt)
{
    for (unsigned w = 2; w <= 4; w++)
        run_stress(new_mt_rt(w), SCALE(3000, 800, 300));
}

TEST(sync_semaphore_stress_ct)
{
    run_stress(new_rt(), SCALE(3000, 800, 300));
}
