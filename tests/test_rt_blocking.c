/* tests/test_rt_blocking.c - the blocking pool (corio_spawn_blocking): join
 * handles like any task's, the thread limit and the queue beyond it, idle
 * threads exiting after the keep-alive, abort of a job that has not
 * started, spawning into the runtime from a job, the pool on both
 * flavours, and shutdown with and without a deadline.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <corio.h>

#include "test.h"
#include "util.h"

typedef struct pool_ctx {
    atomic_int running, most_running, ran;
    atomic_int order[16];
    atomic_int next_order;
    atomic_int gate; /* jobs that wait for it spin-sleep until it is 1 */
    int job_ms;
    corio_rt *rt;
} pool_ctx;

typedef struct job_arg {
    pool_ctx *pc;
    int index;
} job_arg;

static int timed_job(void *arg)
{
    job_arg *ja = arg;
    pool_ctx *pc = ja->pc;
    CHECK(corio_rt_current() == pc->rt);
    CHECK(corio_task_current() == NULL); /* plain code, not a task */
    atomic_store(&pc->order[atomic_fetch_add(&pc->next_order, 1)], ja->index);
    int now = atomic_fetch_add(&pc->running, 1) + 1;
    int most = atomic_load(&pc->most_running);
    while (now > most && !atomic_compare_exchange_weak(&pc->most_running, &most, now)) {
    }
    sleep_ms(pc->job_ms); /* blocks its thread: what the pool is for */
    atomic_fetch_sub(&pc->running, 1);
    atomic_fetch_add(&pc->ran, 1);
    return 100 + ja->index;
}

/* ==== join, the limit and the queue ======================================== */

/* Eight 30 ms jobs on a pool of two threads: never more than two at once,
 * started in the order they were spawned, each join gets its result; the
 * task that waits for them is suspended, not a worker blocked (a ticker
 * keeps ticking meanwhile). */
typedef struct limit_ctx {
    pool_ctx pc;
    atomic_int stop;
    atomic_int ticks;
} limit_ctx;

static int ticker_task(void *arg)
{
    limit_ctx *lc = arg;
    while (!atomic_load(&lc->stop)) {
        CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
        atomic_fetch_add(&lc->ticks, 1);
    }
    return 0;
}

static int limit_main(void *arg)
{
    limit_ctx *lc = arg;
    corio_task *tick;
    CHECK_EQ(corio_spawn(ticker_task, lc, &tick), 0);
    job_arg ja[8];
    corio_task *jobs[8];
    for (int i = 0; i < 8; i++) {
        ja[i] = (job_arg){&lc->pc, i};
        CHECK_EQ(corio_spawn_blocking(timed_job, &ja[i], &jobs[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        int r = 0;
        if (i % 2) {
            CHECK_EQ(corio_task_join(jobs[i], &r), 0);
        } else {
            corio_join_fut jf; /* awaitable like any task's */
            corio_join_fut_init(&jf, jobs[i]);
            CHECK_EQ(corio_timeout(&jf.base, CORIO_SEC(30)), 0);
            CHECK_EQ(jf.base.result, 0);
            r = jf.value;
            corio_task_release(jobs[i]);
        }
        CHECK_EQ(r, 100 + i);
    }
    atomic_store(&lc->stop, 1);
    CHECK_EQ(corio_task_join(tick, NULL), 0);
    return 0;
}

TEST(rt_blocking_limit_queue_and_join)
{
    for (int flavor = 0; flavor < 2; flavor++) {
        limit_ctx lc;
        memset(&lc, 0, sizeof lc);
        lc.pc.job_ms = 30;
        corio_rt_builder b = flavor_builder(flavor);
        b.max_blocking_threads = 2;
        CHECK_EQ(corio_rt_build(&b, &lc.pc.rt), 0);
        CHECK_EQ(corio_rt_block_on(lc.pc.rt, limit_main, &lc, NULL), 0);
        CHECK_EQ(corio_rt_free(lc.pc.rt), 0);
        CHECK_EQ(atomic_load(&lc.pc.ran), 8);
        CHECK_EQ(atomic_load(&lc.pc.most_running), 2);
        /* Taken in FIFO order; two threads note their starts in either
         * order, so a job is at most one place off. */
        for (int i = 0; i < 8; i++) {
            int at = atomic_load(&lc.pc.order[i]);
            CHECK(at >= i - 1 && at <= i + 1);
        }
        /* 8 x 30 ms on 2 threads: 120 ms, with the ticker going on. */
        CHECK(atomic_load(&lc.ticks) >= 5);
    }
}

/* From plain code: name the runtime; join from the plain thread. */
TEST(rt_blocking_from_plain_code)
{
    pool_ctx pc;
    memset(&pc, 0, sizeof pc);
    pc.rt = new_mt_rt(2);
    job_arg ja = {&pc, 3};
    corio_task *t;
    /* No runtime named, none current: refused. */
    CHECK_EQ(corio_spawn_blocking(timed_job, &ja, &t), CORIO_EWRONGCTX);
    corio_spawn_opts o = {.rt = pc.rt, .name = "blocking-job"};
    CHECK_EQ(corio_spawn_blocking_with(&o, timed_job, &ja, &t), 0);
    CHECK_EQ(strcmp(corio_task_name(t), "blocking-job"), 0);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 103);
    CHECK_EQ(corio_rt_free(pc.rt), 0);
    CHECK_EQ(atomic_load(&pc.ran), 1);
}

/* ==== keep-alive ============================================================ */

typedef struct ka_ctx {
    atomic_int started, stopped;
    atomic_int running; /* jobs in progress at once */
} ka_ctx;

static ka_ctx *ka_current;

static void ka_start(void *arg)
{
    atomic_fetch_add(&((ka_ctx *)arg)->started, 1);
}

static void ka_stop(void *arg)
{
    atomic_fetch_add(&((ka_ctx *)arg)->stopped, 1);
}

static int quick_job(void *arg)
{
    sleep_ms(20);
    return (int)(intptr_t)arg;
}

/* A job that returns only once three run at once (or after 10 s): the pool
 * must start three threads for three of them, however slowly the machine
 * starts threads (a 20 ms job could end before the third was queued). */
static int together_job(void *arg)
{
    atomic_fetch_add(&ka_current->running, 1);
    for (int i = 0; i < 10000 && atomic_load(&ka_current->running) < 3; i++)
        sleep_ms(1);
    return (int)(intptr_t)arg;
}

/* Three jobs at once start three threads; 100 ms after they are done, with
 * a keep-alive of 50 ms, all three have exited (the hooks tell). A job after
 * that starts a fresh thread. On a current-thread runtime, so the hooks
 * count the pool's threads only. */
static int ka_main(void *arg)
{
    ka_ctx *kc = arg;
    corio_task *t[3];
    ka_current = kc;
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_spawn_blocking(together_job, (void *)(intptr_t)i, &t[i]), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_task_join(t[i], NULL), 0);
    CHECK_EQ(atomic_load(&kc->running), 3);
    CHECK_EQ(atomic_load(&kc->started), 3);
    for (int i = 0; i < 500 && atomic_load(&kc->stopped) < 3; i++)
        CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    CHECK_EQ(atomic_load(&kc->stopped), 3);
    CHECK_EQ(corio_spawn_blocking(quick_job, (void *)7, &t[0]), 0);
    int r = 0;
    CHECK_EQ(corio_task_join(t[0], &r), 0);
    CHECK_EQ(r, 7);
    CHECK_EQ(atomic_load(&kc->started), 4);
    return 0;
}

TEST(rt_blocking_idle_threads_exit_after_keep_alive)
{
    ka_ctx kc;
    memset(&kc, 0, sizeof kc);
    corio_rt_builder b = corio_rt_builder_current_thread();
    b.blocking_keep_alive = CORIO_MSEC(50);
    b.on_thread_start = ka_start;
    b.on_thread_stop = ka_stop;
    b.hook_arg = &kc;
    corio_rt *rt;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    CHECK_EQ(corio_rt_block_on(rt, ka_main, &kc, NULL), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    /* The free waited for the last thread's stop hook. */
    CHECK_EQ(atomic_load(&kc.stopped), 4);
}

/* A thread whose keep-alive is over has left its loop for good, but still
 * counts while its on_thread_stop runs. A job submitted then must not wait
 * for it as for a busy thread that will come back: with max_blocking_threads
 * 1 nothing would ever run it (its joiner hung until the runtime's free
 * cancelled it). It gets a new thread instead. The stop hook holds the old
 * thread at that point for as long as the test needs. */
typedef struct exiting_ctx {
    atomic_int stopping, gate;
} exiting_ctx;

static void exiting_stop(void *arg)
{
    exiting_ctx *ec = arg;
    atomic_store(&ec->stopping, 1);
    while (!atomic_load(&ec->gate))
        sleep_ms(1);
}

TEST(rt_blocking_job_while_the_only_thread_exits_still_runs)
{
    exiting_ctx ec;
    memset(&ec, 0, sizeof ec);
    corio_rt_builder b = corio_rt_builder_current_thread();
    b.max_blocking_threads = 1;
    b.blocking_keep_alive = CORIO_MSEC(10);
    b.on_thread_stop = exiting_stop;
    b.hook_arg = &ec;
    corio_rt *rt;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    corio_spawn_opts o = {.rt = rt};
    corio_task *t;
    int r = 0;
    CHECK_EQ(corio_spawn_blocking_with(&o, quick_job, (void *)1, &t), 0);
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 1);
    /* The pool's one thread is now in its stop hook, out of its loop. */
    while (!atomic_load(&ec.stopping))
        sleep_ms(1);
    CHECK_EQ(corio_spawn_blocking_with(&o, quick_job, (void *)2, &t), 0);
    /* It runs while the old thread is still held in its hook. */
    for (int i = 0; i < 20000 && !corio_task_is_finished(t); i++)
        sleep_ms(1);
    bool finished = corio_task_is_finished(t);
    atomic_store(&ec.gate, 1);
    CHECK(finished);
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 2);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ==== abort ================================================================== */

static int gated_job(void *arg)
{
    pool_ctx *pc = arg;
    atomic_fetch_add(&pc->ran, 1);
    while (!atomic_load(&pc->gate))
        sleep_ms(1);
    return 1;
}

/* One thread, held by a gated job; a second job waits its turn. Aborting it
 * completes it at once (its joiner does not wait for the thread), and its
 * function never runs. Aborting a running job changes nothing. */
static int abort_main(void *arg)
{
    pool_ctx *pc = arg;
    corio_task *busy, *queued;
    CHECK_EQ(corio_spawn_blocking(gated_job, pc, &busy), 0);
    while (atomic_load(&pc->ran) < 1)
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    CHECK_EQ(corio_spawn_blocking(must_not_run, NULL, &queued), 0);
    corio_sleep(CORIO_MSEC(10));
    CHECK(!corio_task_is_finished(queued));
    corio_task_abort(queued);
    CHECK(corio_task_is_finished(queued)); /* taken off the queue, done */
    int r = 5;
    CHECK_EQ(corio_task_join(queued, &r), CORIO_ECANCELED);
    corio_task_abort(busy); /* running: cannot be stopped */
    atomic_store(&pc->gate, 1);
    CHECK_EQ(corio_task_join(busy, &r), 0);
    CHECK_EQ(r, 1);
    return 0;
}

TEST(rt_blocking_abort_before_start_removes_the_job)
{
    pool_ctx pc;
    memset(&pc, 0, sizeof pc);
    corio_rt_builder b = corio_rt_builder_multi_thread();
    b.worker_threads = 2;
    b.max_blocking_threads = 1;
    CHECK_EQ(corio_rt_build(&b, &pc.rt), 0);
    CHECK_EQ(corio_rt_block_on(pc.rt, abort_main, &pc, NULL), 0);
    CHECK_EQ(corio_rt_free(pc.rt), 0);
    CHECK_EQ(atomic_load(&never_called), 0);
}

/* Aborts racing the runtime's free. An abort that finds a job unfinished
 * goes on into the pool (its lock, its queue); the job may finish and the
 * pool be shut down and freed in between, or the shutdown may find the
 * queue empty and free the pool while the abort still completes the job it
 * took out. Neither may touch a freed pool (ASan, TSan), and every handle
 * joins with its job's result or CORIO_ECANCELED. */
#define RACE_JOBS 8

typedef struct abort_race {
    corio_task *h[RACE_JOBS];
    atomic_int go;
} abort_race;

static int quick_one(void *arg)
{
    (void)arg;
    return 1;
}

static void *race_aborter(void *arg)
{
    abort_race *ar = arg;
    while (!atomic_load(&ar->go))
        ;
    for (int i = RACE_JOBS - 1; i >= 0; i--)
        corio_task_abort(ar->h[i]);
    return NULL;
}

TEST(rt_blocking_abort_racing_the_runtime_free)
{
    int rounds = SCALE(300, 100, 40);
    for (int round = 0; round < rounds; round++) {
        corio_rt_builder b = corio_rt_builder_multi_thread();
        b.worker_threads = 1;
        b.max_blocking_threads = 1 + round % 2; /* most jobs queued */
        corio_rt *rt;
        CHECK_EQ(corio_rt_build(&b, &rt), 0);
        abort_race ar;
        memset(&ar, 0, sizeof ar);
        corio_spawn_opts o = {.rt = rt};
        for (int i = 0; i < RACE_JOBS; i++)
            CHECK_EQ(corio_spawn_blocking_with(&o, quick_one, NULL, &ar.h[i]), 0);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, race_aborter, &ar), 0);
        atomic_store(&ar.go, 1);
        if (round % 3)
            sched_yield(); /* vary who gets there first */
        CHECK_EQ(corio_rt_free(rt), 0);
        pthread_join(th, NULL);
        for (int i = 0; i < RACE_JOBS; i++) {
            int r = 0;
            int rc = corio_task_join(ar.h[i], &r);
            CHECK(rc == CORIO_ECANCELED || (rc == 0 && r == 1));
        }
    }
}

/* The second window of the race above, held open: the abort has taken a
 * queued job out and is completing it (here: its joiner's waker is slow to
 * return, as a preempted thread would be) when the free finds the queue
 * empty and the threads gone. The free waits for the abort to finish with
 * the pool before freeing it. */
typedef struct slow_wake {
    atomic_int in_wake, done;
} slow_wake;

static const void *slow_clone(const void *d)
{
    return d;
}
static void slow_wake_by_ref(const void *d)
{
    slow_wake *sw = (slow_wake *)d;
    atomic_store(&sw->in_wake, 1);
    sleep_ms(50);
    atomic_store(&sw->done, 1);
}
static void slow_drop(const void *d)
{
    (void)d;
}
static const corio_waker_vtable slow_vt = {slow_clone, slow_wake_by_ref, slow_wake_by_ref,
                                           slow_drop};

static void *abort_one(void *arg)
{
    corio_task_abort(arg);
    return NULL;
}

TEST(rt_blocking_free_waits_for_an_abort_completing_a_job)
{
    pool_ctx pc;
    memset(&pc, 0, sizeof pc);
    corio_rt_builder b = corio_rt_builder_multi_thread();
    b.worker_threads = 1;
    b.max_blocking_threads = 1;
    CHECK_EQ(corio_rt_build(&b, &pc.rt), 0);
    corio_spawn_opts o = {.rt = pc.rt};
    corio_task *busy, *queued;
    CHECK_EQ(corio_spawn_blocking_with(&o, gated_job, &pc, &busy), 0);
    while (atomic_load(&pc.ran) < 1)
        sleep_ms(1);
    CHECK_EQ(corio_spawn_blocking_with(&o, must_not_run, NULL, &queued), 0);
    slow_wake sw;
    memset(&sw, 0, sizeof sw);
    corio_waker w = {&slow_vt, &sw};
    corio_join_fut jf;
    corio_join_fut_init(&jf, queued);
    CHECK_EQ(poll_with(&jf.base, &w), CORIO_PENDING);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, abort_one, queued), 0);
    while (!atomic_load(&sw.in_wake))
        sleep_ms(1);
    atomic_store(&pc.gate, 1); /* the busy job ends, its thread can go */
    CHECK_EQ(corio_rt_free(pc.rt), 0);
    CHECK_EQ(atomic_load(&sw.done), 1); /* the abort was done with the pool */
    pthread_join(th, NULL);
    CHECK_EQ(poll_with(&jf.base, &w), CORIO_READY);
    CHECK_EQ(jf.base.result, CORIO_ECANCELED);
    int r = 0;
    CHECK_EQ(corio_task_join(queued, &r), CORIO_ECANCELED);
    CHECK_EQ(corio_task_join(busy, &r), 0);
    CHECK_EQ(r, 1);
    CHECK_EQ(atomic_load(&never_called), 0);
}

/* ==== shutdown =============================================================== */

/* Shutdown waits for the running jobs and cancels the queued ones. */
static int shutdown_main(void *arg)
{
    pool_ctx *pc = arg;
    CHECK_EQ(corio_spawn_blocking(gated_job, pc, NULL), 0);
    corio_task *queued;
    CHECK_EQ(corio_spawn_blocking(must_not_run, NULL, &queued), 0);
    corio_task_release(queued);
    while (atomic_load(&pc->ran) < 1)
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    return 0;
}

static void *open_gate_later(void *arg)
{
    pool_ctx *pc = arg;
    sleep_ms(100);
    atomic_store(&pc->gate, 1);
    return NULL;
}

TEST(rt_blocking_shutdown_waits_for_running_jobs)
{
    pool_ctx pc;
    memset(&pc, 0, sizeof pc);
    corio_rt_builder b = corio_rt_builder_multi_thread();
    b.worker_threads = 2;
    b.max_blocking_threads = 1;
    CHECK_EQ(corio_rt_build(&b, &pc.rt), 0);
    CHECK_EQ(corio_rt_block_on(pc.rt, shutdown_main, &pc, NULL), 0);
    double t0 = mono_ms(); /* before the thread starts its 100 ms */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, open_gate_later, &pc), 0);
    CHECK_EQ(corio_rt_free(pc.rt), 0);
    CHECK(mono_ms() - t0 >= 90); /* it waited for the gated job */
    CHECK_EQ(atomic_load(&pc.ran), 1);
    CHECK_EQ(atomic_load(&never_called), 0);
    pthread_join(th, NULL);
}

/* With a deadline, a job that runs on is abandoned: the call returns
 * CORIO_ETIMEDOUT at the deadline, everything else is freed, and the job's
 * thread frees the pool when it is done. */
static atomic_int long_job_done;

static int long_job(void *arg)
{
    sleep_ms(400);
    atomic_store(&long_job_done, 1);
    return 0;
}

static int deadline_main(void *arg)
{
    CHECK_EQ(corio_spawn_blocking(long_job, NULL, NULL), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(20)), 0); /* it has started */
    return 0;
}

/* A task cancelled by the runtime's shutdown that spawns a blocking job in
 * its cleanup gets CORIO_ESHUTDOWN, as a task spawned there does (it got 0,
 * and on the multi-thread runtime the job even ran during the shutdown). */
typedef struct late_spawns {
    atomic_int sleeping, job_ran;
    int blocking_rc, task_rc;
    bool handle_null;
} late_spawns;

static int late_job(void *arg)
{
    atomic_store(&((late_spawns *)arg)->job_ran, 1);
    return 0;
}

static int late_sleeper(void *arg)
{
    late_spawns *ls = arg;
    atomic_store(&ls->sleeping, 1);
    int rc = corio_sleep(CORIO_SEC(3600)); /* until the shutdown cancels it */
    corio_task *h = (corio_task *)1;
    ls->blocking_rc = corio_spawn_blocking(late_job, ls, &h);
    ls->handle_null = h == NULL;
    ls->task_rc = corio_spawn(late_job, ls, NULL);
    return rc;
}

static int late_main(void *arg)
{
    late_spawns *ls = arg;
    CHECK_EQ(corio_spawn(late_sleeper, ls, NULL), 0);
    while (!atomic_load(&ls->sleeping))
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    return 0;
}

TEST(rt_blocking_spawn_after_shutdown_began_is_refused)
{
    for (int mt = 0; mt < 2; mt++) {
        late_spawns ls;
        memset(&ls, 0, sizeof ls);
        run_main_flavor(mt, late_main, &ls);
        CHECK_EQ(ls.task_rc, CORIO_ESHUTDOWN);
        CHECK_EQ(ls.blocking_rc, CORIO_ESHUTDOWN);
        CHECK(ls.handle_null);
        CHECK_EQ(atomic_load(&ls.job_ran), 0);
    }
}

TEST_TIMING(rt_blocking_shutdown_timeout_abandons_late_jobs)
{
    for (int flavor = 0; flavor < 2; flavor++) {
        atomic_store(&long_job_done, 0);
        corio_rt *rt = flavor ? new_mt_rt(2) : new_rt();
        CHECK_EQ(corio_rt_block_on(rt, deadline_main, NULL, NULL), 0);
        double t0 = mono_ms();
        CHECK_EQ(corio_rt_shutdown_timeout(rt, CORIO_MSEC(50)), CORIO_ETIMEDOUT);
        double took = mono_ms() - t0;
        CHECK(took >= 45 && took < 300);
        CHECK_EQ(atomic_load(&long_job_done), 0);
        /* The abandoned thread finishes, frees the pool and exits (ASan's
         * leak check at exit would see a pool left behind). */
        while (!atomic_load(&long_job_done))
            sleep_ms(5);
        sleep_ms(50);
    }
    /* Without jobs left, the deadline changes nothing. */
    corio_rt *rt = new_mt_rt(2);
    CHECK_EQ(corio_rt_shutdown_timeout(rt, CORIO_MSEC(50)), 0);
}

/* A blocking job cannot shut down its own runtime (it would wait for
 * itself). */
static int self_free_job(void *arg)
{
    return corio_rt_free((corio_rt *)arg);
}

TEST(rt_blocking_job_cannot_free_its_runtime)
{
    corio_rt *rt = new_mt_rt(2);
    corio_spawn_opts o = {.rt = rt};
    corio_task *t;
    CHECK_EQ(corio_spawn_blocking_with(&o, self_free_job, rt, &t), 0);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, CORIO_EWRONGCTX);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ==== no job waits behind another below the limit ========================== */

/* Rounds of K jobs that can only finish together: each waits (up to 10 s)
 * until all K have started. On a pool of K threads every round completes
 * only if each job got a thread of its own at once - a pool that let a
 * job queue behind a running one, with a thread to spare (a wake-up not
 * sent, a thread not started, one counted as coming that never came),
 * times out. Rounds come quickly after each other, so they land on threads
 * that are spinning, idle, just woken and being started, from a task and
 * from a plain thread. */
enum { RV_JOBS = 8 };

typedef struct rv_round {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived;
} rv_round;

static int rv_job(void *arg)
{
    rv_round *r = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&r->mu);
    if (++r->arrived == RV_JOBS)
        pthread_cond_broadcast(&r->cv);
    int rc = 0;
    while (r->arrived < RV_JOBS && rc == 0)
        rc = pthread_cond_timedwait(&r->cv, &r->mu, &until);
    int ok = r->arrived == RV_JOBS;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static void rv_rounds(corio_rt *rt, int rounds)
{
    for (int k = 0; k < rounds; k++) {
        rv_round r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
        corio_task *t[RV_JOBS];
        corio_spawn_opts o = {.rt = rt};
        for (int i = 0; i < RV_JOBS; i++)
            CHECK_EQ(corio_spawn_blocking_with(&o, rv_job, &r, &t[i]), 0);
        for (int i = 0; i < RV_JOBS; i++) {
            int ok = 0;
            CHECK_EQ(corio_task_join(t[i], &ok), 0);
            CHECK_EQ(ok, 1);
        }
        if (k % 3 == 1)
            sleep_ms(1); /* let some threads go from spinning to idle */
    }
}

static int rv_main(void *arg)
{
    rv_rounds(corio_rt_current(), *(int *)arg);
    return 0;
}

static void *rv_thread(void *arg)
{
    rv_rounds(arg, UNDER_SAN ? 20 : 100);
    return NULL;
}

TEST(rt_blocking_jobs_below_the_limit_never_wait_for_each_other)
{
    corio_rt_builder b = corio_rt_builder_multi_thread();
    b.worker_threads = 2;
    b.max_blocking_threads = RV_JOBS;
    corio_rt *rt;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    int rounds = UNDER_SAN ? 20 : 100;
    CHECK_EQ(corio_rt_block_on(rt, rv_main, &rounds, NULL), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, rv_thread, rt), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ==== a storm of small jobs from everywhere ================================ */

/* Two tasks and two plain threads each spawn a few thousand trivial jobs
 * and join them all: every job runs exactly once and its joiner gets its
 * result, however the submits interleave with threads spinning, parking,
 * waking and exiting (a keep-alive of 1 ms makes threads come and go). */
enum { ST_SUBMITTERS = 4 };

typedef struct storm_ctx {
    corio_rt *rt;
    int per;
    atomic_int ran;
} storm_ctx;

static int storm_job(void *arg)
{
    (void)arg;
    return 1;
}

static void storm_submit(storm_ctx *sc, int who)
{
    corio_spawn_opts o = {.rt = sc->rt};
    corio_task **t = calloc((size_t)sc->per, sizeof *t);
    CHECK(t != NULL);
    int sum = 0;
    for (int i = 0; i < sc->per; i++) {
        CHECK_EQ(corio_spawn_blocking_with(&o, storm_job, NULL, &t[i]), 0);
        if ((i + who) % 97 == 0)
            sleep_ms(1); /* pauses: threads go idle and time out meanwhile */
    }
    for (int i = 0; i < sc->per; i++) {
        int r = 0;
        CHECK_EQ(corio_task_join(t[i], &r), 0);
        sum += r;
    }
    free(t);
    CHECK_EQ(sum, sc->per);
    atomic_fetch_add(&sc->ran, sum);
}

static int storm_task(void *arg)
{
    storm_submit(arg, 0);
    return 0;
}

static void *storm_thread(void *arg)
{
    storm_submit(arg, 1);
    return NULL;
}

TEST(rt_blocking_storm_from_tasks_and_threads)
{
    corio_rt_builder b = corio_rt_builder_multi_thread();
    b.worker_threads = 2;
    b.max_blocking_threads = 6;
    b.blocking_keep_alive = CORIO_MSEC(1);
    storm_ctx sc;
    memset(&sc, 0, sizeof sc);
    CHECK_EQ(corio_rt_build(&b, &sc.rt), 0);
    sc.per = UNDER_SAN ? 1000 : 5000;
    corio_task *t[2];
    corio_spawn_opts o = {.rt = sc.rt};
    for (int i = 0; i < 2; i++)
        CHECK_EQ(corio_spawn_with(&o, storm_task, &sc, &t[i]), 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, storm_thread, &sc), 0);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(corio_task_join(t[i], NULL), 0);
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    }
    CHECK_EQ(atomic_load(&sc.ran), ST_SUBMITTERS * sc.per);
    CHECK_EQ(corio_rt_free(sc.rt), 0);
}
