/* tests/test_sync_mutex_stress.c - the task mutex under stress.
 *
 * On both runtimes: users, tasks that pass the unlock to another task,
 * plain threads, timeouts (on the future and deadline scopes) and aborts
 * racing the grants, checked with a non-atomic counter and an "inside" flag
 * that catches two holders.
 */
#include <corio.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "util.h"

typedef struct mstress {
    corio_mutex m;
    atomic_int inside;
    long counter; /* plain, under the mutex */
    long expected_per_task;
    atomic_long interrupted_ok; /* interrupted locks */
    atomic_long extra;          /* increments by the victims */
    atomic_int stop;
    atomic_int threads_done;
} mstress;

static void crit(mstress *ms, int do_await)
{
    if (atomic_exchange(&ms->inside, 1) != 0)
        test_fail(__FILE__, __LINE__, "two holders of the mutex");
    long c = ms->counter;
    if (do_await == 1)
        CHECK_EQ(corio_yield(), 0);
    else if (do_await == 2)
        CHECK_EQ(corio_sleep(CORIO_USEC(20)), 0);
    ms->counter = c + 1;
    atomic_store(&ms->inside, 0);
}

static int ms_user(void *arg)
{
    mstress *ms = arg;
    unsigned x = (unsigned)corio_task_id(corio_task_current()) * 2654435761u;
    for (long i = 0; i < ms->expected_per_task; i++) {
        x = x * 1103515245u + 12345u;
        CHECK_EQ(corio_mutex_lock(&ms->m), 0);
        crit(ms, (x >> 16) % 8 == 0 ? 1 : (x >> 16) % 64 == 1 ? 2 : 0);
        corio_mutex_unlock(&ms->m);
        if ((x >> 20) % 4 == 0)
            CHECK_EQ(corio_yield(), 0);
    }
    return 0;
}

/* Holds the mutex and hands the unlock to a helper task (ownership passed). */
static int ms_unlocker(void *arg)
{
    mstress *ms = arg;
    atomic_store(&ms->inside, 0);
    corio_mutex_unlock(&ms->m);
    return 0;
}

static int ms_passer(void *arg)
{
    mstress *ms = arg;
    for (long i = 0; i < ms->expected_per_task / 4; i++) {
        CHECK_EQ(corio_mutex_lock(&ms->m), 0);
        if (atomic_exchange(&ms->inside, 1) != 0)
            test_fail(__FILE__, __LINE__, "two holders of the mutex");
        ms->counter++;
        atomic_fetch_add(&ms->extra, 1);
        corio_task *t = NULL;
        CHECK_EQ(corio_spawn(ms_unlocker, ms, &t), 0);
        CHECK_EQ(join_rc(t), 0);
    }
    return 0;
}

static int ms_scope_body(void *arg)
{
    mstress *ms = arg;
    int rc = corio_mutex_lock(&ms->m);
    if (rc)
        return rc;
    /* the critical section itself is not interrupted: no await in it */
    if (atomic_exchange(&ms->inside, 1) != 0)
        test_fail(__FILE__, __LINE__, "two holders of the mutex");
    ms->counter++;
    atomic_fetch_add(&ms->extra, 1);
    atomic_store(&ms->inside, 0);
    corio_mutex_unlock(&ms->m);
    return 0;
}

static int ms_victim(void *arg)
{
    mstress *ms = arg;
    unsigned x = (unsigned)corio_task_id(corio_task_current()) * 2246822519u;
    while (!atomic_load(&ms->stop)) {
        x = x * 1103515245u + 12345u;
        int rc;
        if ((x >> 5) & 1) {
            corio_mutex_lock_fut f;
            corio_mutex_lock_fut_init(&f, &ms->m);
            rc = corio_timeout(&f.base, CORIO_USEC((x >> 18) % 150));
            if (rc == 0) {
                CHECK_EQ(f.base.result, 0);
                if (atomic_exchange(&ms->inside, 1) != 0)
                    test_fail(__FILE__, __LINE__, "two holders of the mutex");
                ms->counter++;
                atomic_fetch_add(&ms->extra, 1);
                atomic_store(&ms->inside, 0);
                corio_mutex_unlock(&ms->m);
            }
        } else {
            int r = 0;
            rc = corio_timeout_call(CORIO_USEC((x >> 18) % 150), ms_scope_body, ms, &r);
        }
        if (rc == CORIO_ECANCELED)
            return 0;
        CHECK(rc == 0 || rc == CORIO_ETIMEDOUT);
        if (rc)
            atomic_fetch_add(&ms->interrupted_ok, 1);
        if (corio_yield() == CORIO_ECANCELED)
            return 0;
    }
    return 0;
}

/* Locks until aborted: counts what it got. */
static int ms_abortee(void *arg)
{
    mstress *ms = arg;
    for (;;) {
        int rc = corio_mutex_lock(&ms->m);
        if (rc == CORIO_ECANCELED)
            return 0;
        CHECK_EQ(rc, 0);
        if (atomic_exchange(&ms->inside, 1) != 0)
            test_fail(__FILE__, __LINE__, "two holders of the mutex");
        ms->counter++;
        atomic_fetch_add(&ms->extra, 1);
        atomic_store(&ms->inside, 0);
        corio_mutex_unlock(&ms->m);
    }
}

static void *ms_plain(void *arg)
{
    mstress *ms = arg;
    for (long i = 0; i < ms->expected_per_task / 2; i++) {
        CHECK_EQ(corio_mutex_lock(&ms->m), 0);
        if (atomic_exchange(&ms->inside, 1) != 0)
            test_fail(__FILE__, __LINE__, "two holders of the mutex");
        long c = ms->counter;
        if (i % 16 == 0)
            sched_yield();
        ms->counter = c + 1;
        atomic_fetch_add(&ms->extra, 1);
        atomic_store(&ms->inside, 0);
        corio_mutex_unlock(&ms->m);
    }
    atomic_fetch_add(&ms->threads_done, 1);
    return NULL;
}

enum { MS_USERS = 12, MS_VICTIMS = 4, MS_THREADS = 2 };

static int ms_main(void *arg)
{
    mstress *ms = arg;
    corio_task *u[MS_USERS], *v[MS_VICTIMS], *p = NULL;
    for (int i = 0; i < MS_USERS; i++)
        CHECK_EQ(corio_spawn(ms_user, ms, &u[i]), 0);
    for (int i = 0; i < MS_VICTIMS; i++)
        CHECK_EQ(corio_spawn(ms_victim, ms, &v[i]), 0);
    CHECK_EQ(corio_spawn(ms_passer, ms, &p), 0);
    pthread_t th[MS_THREADS];
    for (int i = 0; i < MS_THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, ms_plain, ms), 0);
    int rounds = SCALE(300, 60, 30);
    for (int i = 0; i < rounds; i++) {
        corio_task *t = NULL;
        CHECK_EQ(corio_spawn(ms_abortee, ms, &t), 0);
        if (i & 1)
            CHECK_EQ(corio_yield(), 0);
        else
            CHECK_EQ(corio_sleep(CORIO_USEC(30 + (i % 7) * 30)), 0);
        corio_task_abort(t);
        CHECK_EQ(join_rc(t), 0);
    }
    for (int i = 0; i < MS_USERS; i++)
        CHECK_EQ(join_rc(u[i]), 0);
    CHECK_EQ(join_rc(p), 0);
    /* not pthread_join while they run: on a current-thread runtime that
     * would block the task the mutex may be handed to */
    for (int i = 0; atomic_load(&ms->threads_done) < MS_THREADS; i++) {
        CHECK(i < 20000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    for (int i = 0; i < MS_THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&ms->stop, 1);
    for (int i = 0; i < MS_VICTIMS; i++)
        CHECK_EQ(join_rc(v[i]), 0);
    CHECK_EQ(corio_mutex_lock(&ms->m), 0);
    CHECK_EQ(ms->counter, MS_USERS * ms->expected_per_task + atomic_load(&ms->extra));
    corio_mutex_unlock(&ms->m);
    CHECK(!corio_mutex_is_locked(&ms->m));
    CHECK_EQ(corio_mutex_try_lock(&ms->m), 0);
    corio_mutex_unlock(&ms->m);
    return 0;
}

static void run_mstress(corio_rt *rt, long per_task)
{
    mstress *ms = calloc(1, sizeof *ms);
    CHECK(ms != NULL);
    corio_mutex_init(&ms->m);
    ms->expected_per_task = per_task;
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, ms_main, ms, &r), 0);
    CHECK_EQ(r, 0);
    corio_rt_free(rt);
    CHECK(!corio_mutex_is_locked(&ms->m));
    free(ms);
}

TEST(sync_mutex_stress_mt)
{
    for (unsigned w = 2; w <= 4; w++)
        run_mstress(new_mt_rt(w), SCALE(2000, 500, 200));
}

TEST(sync_mutex_stress_ct)
{
    run_mstress(new_rt(), SCALE(2000, 500, 200));
}
