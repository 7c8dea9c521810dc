/* tests/test_task_stress.c - stress loops (corio/task.h): abort racing
 * completion from a helper pthread, many tasks aborted or completed at
 * random by several foreign threads, and a handle released by a foreign
 * thread while the runtime completes its task (the join waker must be
 * released exactly once).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <corio.h>

#include "test.h"
#include "util.h"

/* ==== stress: abort racing completion ===================================== */

/* A helper pthread takes jobs: complete a slot, abort a task, in an order
 * that varies. Each iteration checks that what the joiner learns matches
 * what the task saw: CORIO_ECANCELED from join iff the task's await returned
 * it (coroutines), or iff the future was dropped (stackless). */
typedef struct race_job {
    slot *s;
    corio_task *t;
    int mode;
} race_job;

/* Run main_fn(q) as corio_run's main task beside a helper pthread running
 * helper(q), which waits for jobs on mu/cv; then set *quit, signal cv, and
 * join the helper. mu and cv are initialised here and destroyed after. */
static void run_beside_helper(pthread_mutex_t *mu, pthread_cond_t *cv, bool *quit,
                              void *(*helper)(void *), corio_fn main_fn, void *q)
{
    pthread_mutex_init(mu, NULL);
    pthread_cond_init(cv, NULL);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, helper, q), 0);
    CHECK_EQ(run_ok(main_fn, q), 0);
    pthread_mutex_lock(mu);
    *quit = true;
    pthread_cond_signal(cv);
    pthread_mutex_unlock(mu);
    pthread_join(th, NULL);
    pthread_cond_destroy(cv);
    pthread_mutex_destroy(mu);
}

typedef struct race_q {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    race_job job;
    bool has_job;
    bool quit;
    atomic_long done;
} race_q;

static void *race_helper(void *arg)
{
    race_q *q = arg;
    unsigned seed = 12345;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->has_job && !q->quit)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->quit && !q->has_job) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        race_job j = q->job;
        q->has_job = false;
        pthread_mutex_unlock(&q->mu);
        seed = seed * 1103515245u + 12345u;
        unsigned spin = (seed >> 16) % 200;
        for (volatile unsigned i = 0; i < spin; i++) {
        }
        switch (j.mode) {
        case 0:
            slot_complete(j.s, 7);
            corio_task_abort(j.t);
            break;
        case 1:
            corio_task_abort(j.t);
            slot_complete(j.s, 7);
            break;
        default:
            corio_task_abort(j.t); /* the task finishes on its own */
            break;
        }
        atomic_fetch_add(&q->done, 1);
    }
}

static void race_post(race_q *q, slot *s, corio_task *t, int mode)
{
    pthread_mutex_lock(&q->mu);
    q->job = (race_job){s, t, mode};
    q->has_job = true;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

typedef struct race_arg {
    slot s;
    int rc;
    int saw_cancel;
} race_arg;

static int race_coro(void *arg)
{
    race_arg *ra = arg;
    slot_fut f;
    slot_fut_init(&f, &ra->s);
    ra->rc = corio_await(&f.base);
    if (ra->rc == CORIO_ECANCELED) {
        ra->saw_cancel = 1;
        return -55;
    }
    return ra->rc == 0 ? f.base.result : ra->rc; /* the slot's value, 7 */
}

static int race_spinner(void *arg)
{
    race_arg *ra = arg;
    for (int i = 0; i < 20; i++) {
        int rc = corio_yield();
        if (rc == CORIO_ECANCELED) {
            ra->saw_cancel = 1;
            return -55;
        }
        CHECK_EQ(rc, 0);
    }
    return 7;
}

static int race_main(void *arg)
{
    race_q *q = arg;
    int iters = UNDER_SAN ? 300 : 3000;
    int cancelled = 0, completed = 0;
    for (int i = 0; i < iters; i++) {
        race_arg ra;
        memset(&ra, 0, sizeof ra);
        slot_init(&ra.s);
        int kind = i % 3;
        corio_task *t = NULL;
        if (kind == 0) {
            CHECK_EQ(corio_spawn(race_coro, &ra, &t), 0);
        } else if (kind == 1) {
            slot_fut f;
            slot_fut_init(&f, &ra.s);
            CHECK_EQ(corio_spawn_future(&f.base, sizeof f, &t), 0);
        } else {
            CHECK_EQ(corio_spawn(race_spinner, &ra, &t), 0);
        }
        CHECK(t != NULL);
        if (kind != 2 && (i & 4))
            CHECK_EQ(corio_yield(), 0); /* let it register its waker first */
        race_post(q, &ra.s, t, kind == 2 ? 2 : (i >> 1) & 1);
        /* Wait through a join future, which borrows the handle: the helper
         * may still be inside corio_task_abort after the task finished. */
        corio_join_fut jf;
        corio_join_fut_init(&jf, t);
        CHECK_EQ(corio_await(&jf.base), 0); /* this task is never interrupted */
        int rc = jf.base.result;
        int r = jf.value;
        /* the helper is done with this iteration's slot and handle */
        for (int k = 0; atomic_load(&q->done) < i + 1; k++) {
            CHECK(k < 1000000);
            if (k > 100)
                CHECK_EQ(corio_sleep(CORIO_USEC(50)), 0);
            else
                CHECK_EQ(corio_yield(), 0);
        }
        if (rc == CORIO_ECANCELED) {
            cancelled++;
            if (kind == 1) {
                CHECK_EQ(r, CORIO_ECANCELED);
                CHECK_EQ(slot_drops(&ra.s), 1);
            } else {
                CHECK_EQ(ra.saw_cancel, 1);
                CHECK_EQ(r, -55);
            }
        } else {
            completed++;
            CHECK_EQ(rc, 0);
            CHECK_EQ(r, 7);
            CHECK_EQ(ra.saw_cancel, 0);
            CHECK_EQ(slot_drops(&ra.s), 0);
        }
        CHECK(slot_drops(&ra.s) <= 1);
        corio_task_release(t);
        slot_destroy(&ra.s);
    }
    CHECK_EQ(cancelled + completed, iters);
    CHECK(cancelled > 0);
    return 0;
}

TEST(task_stress_abort_races_completion)
{
    race_q q;
    memset(&q, 0, sizeof q);
    atomic_init(&q.done, 0);
    run_beside_helper(&q.mu, &q.cv, &q.quit, race_helper, race_main, &q);
}

/* Many tasks parked on slots; several foreign threads abort or complete them
 * at random while the runtime drives. Every task must end (no lost abort),
 * each exactly one way. */
enum { AB_TASKS = 400, AB_THREADS = 3 };

typedef struct ab_shared {
    race_arg args[AB_TASKS];
    corio_task *tasks[AB_TASKS];
    atomic_int go;
    atomic_int threads_done;
} ab_shared;

static void *ab_thread(void *arg)
{
    ab_shared *sh = arg;
    while (!atomic_load(&sh->go))
        sleep_ms(1);
    unsigned seed = (unsigned)(uintptr_t)&seed;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < AB_TASKS; i++) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) & 1)
                corio_task_abort(sh->tasks[i]);
            else
                slot_complete(&sh->args[i].s, 7);
        }
    }
    atomic_fetch_add(&sh->threads_done, 1);
    return NULL;
}

static int ab_main(void *arg)
{
    ab_shared *sh = arg;
    for (int i = 0; i < AB_TASKS; i++) {
        slot_init(&sh->args[i].s);
        if (i % 2)
            CHECK_EQ(corio_spawn(race_coro, &sh->args[i], &sh->tasks[i]), 0);
        else {
            slot_fut f;
            slot_fut_init(&f, &sh->args[i].s);
            CHECK_EQ(corio_spawn_future(&f.base, sizeof f, &sh->tasks[i]), 0);
        }
        CHECK(sh->tasks[i] != NULL);
    }
    CHECK_EQ(corio_yield(), 0);
    pthread_t th[AB_THREADS];
    for (int i = 0; i < AB_THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, ab_thread, sh), 0);
    atomic_store(&sh->go, 1);
    /* The handles stay ours until the threads are done with them; the
     * runtime keeps running the tasks meanwhile. */
    for (int k = 0; atomic_load(&sh->threads_done) < AB_THREADS; k++) {
        CHECK(k < 100000);
        CHECK_EQ(corio_sleep(CORIO_USEC(200)), 0);
    }
    for (int i = 0; i < AB_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < AB_TASKS; i++) {
        int r = 0;
        int rc = corio_task_join(sh->tasks[i], &r);
        race_arg *ra = &sh->args[i];
        if (rc == CORIO_ECANCELED) {
            if (i % 2)
                CHECK_EQ(ra->saw_cancel, 1);
            else
                CHECK_EQ(slot_drops(&ra->s), 1);
        } else {
            CHECK_EQ(rc, 0);
            CHECK_EQ(r, 7);
            CHECK_EQ(slot_drops(&ra->s), 0);
        }
        slot_destroy(&ra->s);
    }
    return 0;
}

TEST(task_stress_foreign_abort_or_complete_many)
{
    ab_shared *sh = calloc(1, sizeof *sh);
    CHECK(sh != NULL);
    int loops = UNDER_SAN ? 8 : 80;
    for (int l = 0; l < loops; l++) {
        memset(sh, 0, sizeof *sh);
        CHECK_EQ(run_ok(ab_main, sh), 0);
    }
    free(sh);
}

/* Wakes of a counting waker, consuming or by reference. */
static int cw_all_wakes(cw_target *t)
{
    return atomic_load(&t->wakes) + atomic_load(&t->wake_by_refs);
}

/* A join waker installed by hand (a counting waker), then the handle given
 * back by a foreign thread while the runtime completes the task. Whatever the
 * interleaving, the join waker is released exactly once when the task is
 * freed: a leak leaves a reference behind, a double drop goes negative. */
typedef struct rel_q {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    corio_task *t;
    unsigned spin;
    bool quit;
    atomic_int released;
} rel_q;

static void *rel_helper(void *arg)
{
    rel_q *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->t && !q->quit)
            pthread_cond_wait(&q->cv, &q->mu);
        if (!q->t) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        corio_task *t = q->t;
        unsigned spin = q->spin;
        q->t = NULL;
        pthread_mutex_unlock(&q->mu);
        for (volatile unsigned i = 0; i < spin; i++) {
        }
        corio_task_release(t);
        atomic_fetch_add(&q->released, 1);
    }
}

typedef struct rel_arg {
    slot s;
    atomic_int done;
} rel_arg;

static int rel_target(void *arg)
{
    rel_arg *ra = arg;
    slot_fut f;
    slot_fut_init(&f, &ra->s);
    int rc = corio_await(&f.base);
    atomic_store(&ra->done, 1);
    return rc == 0 ? f.base.result : rc;
}

static int rel_main(void *arg)
{
    rel_q *q = arg;
    int iters = UNDER_SAN ? 300 : 3000;
    for (int i = 0; i < iters; i++) {
        rel_arg ra;
        slot *sp = &ra.s;
        slot_init(sp);
        atomic_init(&ra.done, 0);
        corio_task *t;
        CHECK_EQ(corio_spawn(rel_target, &ra, &t), 0);
        task_wait_waker(sp);
        cw_target rt;
        corio_waker w = cw_new(&rt);
        corio_context cx = {&w};
        corio_join_fut jf;
        corio_join_fut_init(&jf, t);
        CHECK_EQ(corio_future_poll(&jf.base, &cx), CORIO_PENDING);
        CHECK_EQ(atomic_load(&rt.refs), 2); /* the task keeps a clone */
        pthread_mutex_lock(&q->mu);
        q->t = t;
        q->spin = (unsigned)(i * 37) % 3000;
        pthread_cond_signal(&q->cv);
        pthread_mutex_unlock(&q->mu);
        slot_complete(sp, 1); /* the task finishes at our next yield */
        double t0 = mono_ms();
        /* the join waker may go early (released before completion): wait
         * for the task itself too, it still polls the slot on our stack */
        for (int k = 0; atomic_load(&q->released) < i + 1 || atomic_load(&rt.refs) != 1 ||
                        !atomic_load(&ra.done);
             k++) {
            if (mono_ms() - t0 > 5000)
                test_failf(__FILE__, __LINE__, "iteration %d: released %d, join waker refs %d, "
                           "wakes %d", i, atomic_load(&q->released), atomic_load(&rt.refs),
                           cw_all_wakes(&rt));
            CHECK(atomic_load(&rt.refs) >= 1);
            if (k < 100)
                CHECK_EQ(corio_yield(), 0);
            else
                CHECK_EQ(corio_sleep(CORIO_USEC(20)), 0);
        }
        CHECK(cw_all_wakes(&rt) <= 1);
        corio_waker_drop(&w);
        CHECK_EQ(atomic_load(&rt.refs), 0);
        slot_destroy(sp);
    }
    return 0;
}

TEST(task_stress_release_races_completion)
{
    rel_q q;
    memset(&q, 0, sizeof q);
    atomic_init(&q.released, 0);
    run_beside_helper(&q.mu, &q.cv, &q.quit, rel_helper, rel_main, &q);
}

