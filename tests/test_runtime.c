/* tests/test_runtime.c - the current-thread runtime (corio/runtime.h).
 *
 * Covers: building (and invalid builders), block_on and block_on_future
 * results, reuse of a runtime across several block_on calls, the context
 * rules (block_on, block_on_future, corio_run, corio_rt_free inside a task),
 * -EBUSY when another thread drives, corio_rt_current, corio_run; shutdown
 * (corio_rt_free) cancelling every kind of pending task with its cleanup run
 * and nothing leaked, join handles outliving the runtime, spawns refused
 * during shutdown; spawning from foreign threads while the runtime runs and
 * while it is not driven; wakes from foreign threads reaching a runtime
 * parked in the kernel quickly and with no CPU spent while idle; two runtimes
 * on two threads waking and joining each other's tasks; descriptor and
 * memory hygiene over many build/free cycles; and stress loops of foreign
 * spawns and wakes.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <corio.h>

#include "test.h"
#include "util.h"

static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

/* ==== building and block_on =============================================== */

TEST(rt_build_invalid)
{
    corio_rt *rt = NULL;
    corio_rt_builder b = corio_rt_builder_current_thread();
    CHECK_EQ(b.flavor, CORIO_RT_CURRENT_THREAD);
    CHECK_EQ(corio_rt_build(&b, NULL), -EINVAL);
    CHECK_EQ(corio_rt_build(NULL, &rt), -EINVAL);
    b.flavor = (corio_rt_flavor)77;
    CHECK_EQ(corio_rt_build(&b, &rt), -EINVAL);
    CHECK_EQ(corio_rt_block_on(NULL, return_arg, NULL, NULL), -EINVAL);
    rt = new_rt();
    CHECK_EQ(corio_rt_block_on(rt, NULL, NULL, NULL), -EINVAL);
    CHECK_EQ(corio_rt_block_on_future(rt, NULL), -EINVAL);
    corio_rt_free(rt);
    corio_rt_free(NULL); /* harmless */
}

typedef struct reuse_ctx {
    slot s;
    corio_task *t;
    int calls;
} reuse_ctx;

static int reuse_first(void *arg)
{
    reuse_ctx *rc = arg;
    rc->calls++;
    rc->t = corio_spawn(await_slot, &rc->s);
    CHECK(rc->t != NULL);
    for (int i = 0; !slot_has_waker(&rc->s); i++) {
        CHECK(i < 1000);
        CHECK_EQ(corio_yield_now(), 0);
    }
    return 100;
}

static int reuse_second(void *arg)
{
    reuse_ctx *rc = arg;
    rc->calls++;
    int r = 0;
    CHECK_EQ(corio_task_join(rc->t, &r), 0); /* left pending by the first call */
    return r;
}

TEST(rt_block_on_result_and_reuse)
{
    reuse_ctx rc;
    memset(&rc, 0, sizeof rc);
    slot_init(&rc.s);
    corio_rt *rt = new_rt();
    int r = 0;
    CHECK_EQ(corio_rt_block_on(rt, reuse_first, &rc, &r), 0);
    CHECK_EQ(r, 100);
    CHECK(!corio_task_is_finished(rc.t));
    slot_complete(&rc.s, 55); /* while nobody drives the runtime */
    CHECK_EQ(corio_rt_block_on(rt, reuse_second, &rc, &r), 0);
    CHECK_EQ(r, 55);
    CHECK_EQ(rc.calls, 2);
    for (int i = 0; i < 50; i++) {
        CHECK_EQ(corio_rt_block_on(rt, return_arg, (void *)(intptr_t)i, &r), 0);
        CHECK_EQ(r, i);
    }
    CHECK_EQ(corio_rt_block_on(rt, return_arg, (void *)(intptr_t)-9, NULL), 0);
    corio_rt_free(rt);
    slot_destroy(&rc.s);
}

/* block_on returns as soon as its function does, even with other tasks
 * pending (they are cancelled at corio_rt_free, not waited for). */
static int sleep_long(void *arg)
{
    atomic_int *cleanup = arg;
    int rc = corio_sleep(CORIO_SEC(30));
    CHECK_EQ(rc, CORIO_ECANCELED);
    atomic_fetch_add(cleanup, 1);
    return 0;
}

static int leave_sleeper(void *arg)
{
    CHECK_EQ(corio_spawn_detached(sleep_long, arg), 0);
    CHECK_EQ(corio_yield_now(), 0);
    return 1;
}

TEST(rt_block_on_does_not_wait_for_other_tasks)
{
    atomic_int cleanup = 0;
    corio_rt *rt = new_rt();
    double t0 = mono_ms();
    int r = 0;
    CHECK_EQ(corio_rt_block_on(rt, leave_sleeper, &cleanup, &r), 0);
    CHECK_EQ(r, 1);
    CHECK(mono_ms() - t0 < 2000);
    CHECK_EQ(atomic_load(&cleanup), 0);
    corio_rt_free(rt);
    CHECK_EQ(atomic_load(&cleanup), 1);
    CHECK(mono_ms() - t0 < 2000);
}

TEST(rt_block_on_future_results)
{
    corio_rt *rt = new_rt();
    count_fut f;
    count_init(&f, 5, -1234);
    CHECK_EQ(corio_rt_block_on_future(rt, &f.base), -1234);
    CHECK_EQ(f.pending_left, 0); /* polled in place, not a copy */
    corio_sleep_fut sf;
    corio_sleep_fut_init(&sf, CORIO_MSEC(15));
    corio_instant t0 = corio_now();
    CHECK_EQ(corio_rt_block_on_future(rt, &sf.base), 0);
    CHECK(corio_now() - t0 >= (corio_instant)CORIO_MSEC(15));
    corio_rt_free(rt);
}

/* ==== context rules ======================================================= */

static atomic_int never_called;

static int must_not_run(void *arg)
{
    atomic_fetch_add(&never_called, 1);
    return 0;
}

static int nested_block_on(void *arg)
{
    corio_rt *other = arg;
    corio_rt *mine = corio_rt_current();
    CHECK(mine != NULL && mine != other);
    int r = 5;
    CHECK_EQ(corio_rt_block_on(mine, must_not_run, NULL, &r), CORIO_EWRONGCTX);
    CHECK_EQ(corio_rt_block_on(other, must_not_run, NULL, &r), CORIO_EWRONGCTX);
    CHECK_EQ(r, 5);
    count_fut f;
    count_init(&f, 0, 1);
    CHECK_EQ(corio_rt_block_on_future(mine, &f.base), CORIO_EWRONGCTX);
    CHECK_EQ(corio_rt_block_on_future(other, &f.base), CORIO_EWRONGCTX);
    /* the runtime still works afterwards */
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    return 3;
}

TEST(rt_block_on_inside_task_is_wrongctx)
{
    atomic_store(&never_called, 0);
    corio_rt *rt = new_rt(), *other = new_rt();
    int r = 0;
    CHECK_EQ(corio_rt_block_on(rt, nested_block_on, other, &r), 0);
    CHECK_EQ(r, 3);
    /* the refused calls left `other` usable */
    CHECK_EQ(corio_rt_block_on(other, return_arg, (void *)7, &r), 0);
    CHECK_EQ(r, 7);
    CHECK_EQ(atomic_load(&never_called), 0);
    corio_rt_free(other);
    corio_rt_free(rt);
}

/* corio_run inside a task: refused, fn not run, and nothing leaked (the ASan
 * build's leak checker sees any runtime it built and could not free). */
static int nested_run(void *arg)
{
    CHECK_EQ(corio_run(must_not_run, NULL), CORIO_EWRONGCTX);
    return 0;
}

TEST(rt_corio_run_inside_task_is_wrongctx_and_leaks_nothing)
{
    atomic_store(&never_called, 0);
    int fds = count_fds();
    CHECK_EQ(corio_run(nested_run, NULL), 0);
    CHECK_EQ(atomic_load(&never_called), 0);
    CHECK_EQ(count_fds(), fds); /* the nested runtime's epoll/eventfd are gone */
}

/* corio_rt_free from inside one of the runtime's tasks is ignored. */
static int free_from_inside(void *arg)
{
    corio_rt_free(corio_rt_current());
    CHECK(corio_rt_current() == arg);
    CHECK_EQ(corio_sleep(CORIO_MSEC(2)), 0);
    corio_task *t = corio_spawn(return_arg, (void *)4);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 4);
    return 9;
}

TEST(rt_free_inside_task_is_ignored)
{
    corio_rt *rt = new_rt();
    int r = 0;
    CHECK_EQ(corio_rt_block_on(rt, free_from_inside, rt, &r), 0);
    CHECK_EQ(r, 9);
    CHECK_EQ(corio_rt_block_on(rt, return_arg, (void *)1, &r), 0);
    CHECK_EQ(r, 1);
    corio_rt_free(rt);
}

/* corio_rt_free of *another* runtime from inside a task: runtime.h only
 * forbids freeing a runtime from one of its own tasks. An empty runtime is
 * freed (its descriptors are gone afterwards). */
static int free_other_empty(void *arg)
{
    int fds = count_fds();
    corio_rt *other = new_rt();
    CHECK(count_fds() > fds);
    corio_rt_free(other);
    CHECK_EQ(count_fds(), fds);
    return 0;
}

TEST(rt_free_other_empty_runtime_from_task)
{
    CHECK_EQ(corio_run(free_other_empty, NULL), 0);
}

/* The same with tasks left in the other runtime: runtime.h promises that
 * corio_rt_free cancels them, runs their cleanup and frees everything. */
static int free_other_busy(void *arg)
{
    atomic_int *cleanup = arg;
    int fds = count_fds();
    corio_rt *other = new_rt();
    corio_spawn_opts o = {.rt = other};
    CHECK_EQ(corio_spawn_with(NULL, &o, sleep_long, cleanup), 0);
    corio_rt_free(other);
    if (atomic_load(cleanup) != 1)
        test_failf(__FILE__, __LINE__, "corio_rt_free(other) from a task: the other runtime's "
                   "task was not cancelled (cleanup ran %d times)", atomic_load(cleanup));
    CHECK_EQ(count_fds(), fds);
    return 0;
}

TEST(rt_free_other_runtime_with_tasks_from_task)
{
    atomic_int cleanup = 0;
    CHECK_EQ(corio_run(free_other_busy, &cleanup), 0);
    CHECK_EQ(atomic_load(&cleanup), 1);
}

static int current_check(void *arg)
{
    CHECK(corio_rt_current() == arg);
    return 0;
}

TEST(rt_current)
{
    CHECK(corio_rt_current() == NULL);
    corio_rt *rt = new_rt();
    CHECK_EQ(corio_rt_block_on(rt, current_check, rt, NULL), 0);
    CHECK(corio_rt_current() == NULL);
    corio_rt_free(rt);
}

/* Another thread drives: block_on is refused with -EBUSY. */
typedef struct busy_ctx {
    corio_rt *rt;
    slot s;
} busy_ctx;

static void *busy_driver(void *arg)
{
    busy_ctx *bc = arg;
    int r = 0;
    CHECK_EQ(corio_rt_block_on(bc->rt, await_slot, &bc->s, &r), 0);
    CHECK_EQ(r, 8);
    return NULL;
}

TEST(rt_block_on_busy_when_driven_elsewhere)
{
    atomic_store(&never_called, 0);
    busy_ctx bc;
    bc.rt = new_rt();
    slot_init(&bc.s);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, busy_driver, &bc), 0);
    thread_wait_waker(&bc.s);
    CHECK_EQ(corio_rt_block_on(bc.rt, must_not_run, NULL, NULL), -EBUSY);
    count_fut f;
    count_init(&f, 0, 0);
    CHECK_EQ(corio_rt_block_on_future(bc.rt, &f.base), -EBUSY);
    slot_complete(&bc.s, 8);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&never_called), 0);
    corio_rt_free(bc.rt);
    slot_destroy(&bc.s);
}

/* ==== corio_run =========================================================== */

static int one_liner_main(void *arg)
{
    atomic_int *cleanup = arg;
    CHECK(corio_rt_current() != NULL);
    CHECK(corio_current_task_id() != 0);
    /* tasks still pending when fn returns are cancelled by corio_run */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_spawn_detached(sleep_long, cleanup), 0);
    CHECK_EQ(corio_yield_now(), 0);
    return -4321;
}

TEST(rt_corio_run_one_liner)
{
    atomic_int cleanup = 0;
    CHECK_EQ(corio_run(return_arg, (void *)(intptr_t)77), 77);
    CHECK_EQ(corio_run(one_liner_main, &cleanup), -4321);
    CHECK_EQ(atomic_load(&cleanup), 3);
    CHECK(corio_rt_current() == NULL);
}

/* ==== shutdown ============================================================ */

typedef struct shut_ctx {
    slot coro_slot, stackless_slot, foreign_slot;
    atomic_int cleanups;
    atomic_int ran;
    int await_rc_after; /* an await made by cleanup code during shutdown */
    int spawn_rc, spawn_future_rc;
    corio_task *kept;
} shut_ctx;

static int shut_sleeper(void *arg)
{
    shut_ctx *sc = arg;
    atomic_fetch_add(&sc->ran, 1);
    CHECK_EQ(corio_sleep(CORIO_SEC(3600)), CORIO_ECANCELED);
    atomic_fetch_add(&sc->cleanups, 1);
    return 10;
}

static int shut_awaiter(void *arg)
{
    shut_ctx *sc = arg;
    atomic_fetch_add(&sc->ran, 1);
    slot_fut f;
    slot_fut_init(&f, &sc->coro_slot);
    CHECK_EQ(corio_await(&f.base), CORIO_ECANCELED);
    /* cleanup that awaits again, and tries to spawn: refused */
    sc->await_rc_after = corio_sleep(CORIO_MSEC(1));
    corio_task *t = (corio_task *)0x1;
    sc->spawn_rc = corio_spawn_with(&t, NULL, must_not_run, NULL);
    CHECK(t == (corio_task *)0x1 || t == NULL);
    count_fut cf;
    count_init(&cf, 0, 0);
    sc->spawn_future_rc = corio_spawn_future(NULL, &cf.base, sizeof cf);
    atomic_fetch_add(&sc->cleanups, 1);
    return 20;
}

static int shut_yielder(void *arg)
{
    shut_ctx *sc = arg;
    atomic_fetch_add(&sc->ran, 1);
    int rc;
    while ((rc = corio_yield_now()) == 0) {
    }
    CHECK_EQ(rc, CORIO_ECANCELED);
    atomic_fetch_add(&sc->cleanups, 1);
    return 30;
}

static int shut_joiner(void *arg)
{
    shut_ctx *sc = arg;
    atomic_fetch_add(&sc->ran, 1);
    corio_task *t = corio_spawn(shut_sleeper, sc); /* cancelled too */
    CHECK(t != NULL);
    CHECK_EQ(corio_task_join(t, NULL), CORIO_ECANCELED);
    atomic_fetch_add(&sc->cleanups, 1);
    return 40;
}

static int shut_main(void *arg)
{
    shut_ctx *sc = arg;
    CHECK_EQ(corio_spawn_detached(shut_sleeper, sc), 0);
    CHECK_EQ(corio_spawn_detached(shut_awaiter, sc), 0);
    CHECK_EQ(corio_spawn_detached(shut_yielder, sc), 0);
    CHECK_EQ(corio_spawn_detached(shut_joiner, sc), 0);
    sc->kept = corio_spawn(shut_sleeper, sc); /* handle kept past the free */
    slot_fut f;
    slot_fut_init(&f, &sc->stackless_slot);
    CHECK_EQ(corio_spawn_future(NULL, &f.base, sizeof f), 0);
    for (int i = 0; atomic_load(&sc->ran) < 6 || !slot_has_waker(&sc->coro_slot) ||
                    !slot_has_waker(&sc->stackless_slot);
         i++) {
        CHECK(i < 1000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(rt_free_cancels_pending_tasks_and_runs_cleanup)
{
    shut_ctx *sc = calloc(1, sizeof *sc);
    CHECK(sc != NULL);
    slot_init(&sc->coro_slot);
    slot_init(&sc->stackless_slot);
    slot_init(&sc->foreign_slot);
    corio_rt *rt = new_rt();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, shut_main, sc, &r), 0);
    CHECK_EQ(r, 0);
    /* plus tasks spawned from plain code that never ran */
    corio_spawn_opts o = {.rt = rt, .name = "never-ran"};
    CHECK_EQ(corio_spawn_with(NULL, &o, shut_sleeper, sc), 0);
    slot_fut f;
    slot_fut_init(&f, &sc->foreign_slot);
    corio_task *unpolled = NULL;
    CHECK_EQ(corio_spawn_future_at(&unpolled, &o, &f.base, sizeof f, CORIO_HERE), 0);
    CHECK_EQ(atomic_load(&sc->cleanups), 0);
    CHECK(!corio_task_is_finished(sc->kept));

    corio_rt_free(rt);

    /* sleeper x3 (detached, kept, joiner's child), awaiter, yielder, joiner,
     * and the never-ran sleeper */
    CHECK_EQ(atomic_load(&sc->cleanups), 7);
    CHECK_EQ(atomic_load(&sc->ran), 7);
    CHECK_EQ(sc->await_rc_after, CORIO_ECANCELED);
    CHECK_EQ(sc->spawn_rc, CORIO_ESHUTDOWN);
    CHECK_EQ(sc->spawn_future_rc, CORIO_ESHUTDOWN);
    CHECK_EQ(sc->coro_slot.drops, 1);
    CHECK_EQ(sc->stackless_slot.drops, 1);
    CHECK_EQ(sc->foreign_slot.drops, 1);
    CHECK_EQ(sc->foreign_slot.polls, 0);
    /* handles outlive the runtime: finished, cancelled, with the result */
    CHECK(corio_task_is_finished(sc->kept));
    corio_task_abort(sc->kept); /* harmless */
    int kr = 0;
    CHECK_EQ(corio_task_join(sc->kept, &kr), CORIO_ECANCELED);
    CHECK_EQ(kr, 10);
    CHECK(corio_task_is_finished(unpolled));
    CHECK_EQ(corio_task_join(unpolled, &kr), CORIO_ECANCELED);
    CHECK_EQ(kr, CORIO_ECANCELED);
    CHECK_EQ(atomic_load(&never_called), 0);
    slot_destroy(&sc->coro_slot);
    slot_destroy(&sc->stackless_slot);
    slot_destroy(&sc->foreign_slot);
    free(sc);
}

/* A runtime that was never driven: its tasks still run their cleanup at free. */
typedef struct undriven_ctx {
    int ran, first_rc;
} undriven_ctx;

static int undriven_fn(void *arg)
{
    undriven_ctx *uc = arg;
    uc->ran++;
    uc->first_rc = corio_sleep(CORIO_MSEC(1));
    return 0;
}

TEST(rt_free_never_driven_runs_cleanup)
{
    undriven_ctx uc[20];
    memset(uc, 0, sizeof uc);
    corio_rt *rt = new_rt();
    corio_spawn_opts o = {.rt = rt};
    corio_task *t = NULL;
    for (int i = 0; i < 20; i++)
        CHECK_EQ(corio_spawn_with(i == 0 ? &t : NULL, &o, undriven_fn, &uc[i]), 0);
    corio_rt_free(rt);
    for (int i = 0; i < 20; i++) {
        CHECK_EQ(uc[i].ran, 1);
        CHECK_EQ(uc[i].first_rc, CORIO_ECANCELED);
    }
    CHECK_EQ(corio_task_join(t, NULL), CORIO_ECANCELED);
}

/* During shutdown, other threads are refused too: spawn gives
 * CORIO_ESHUTDOWN, block_on gives -EBUSY (the freeing thread drives). */
typedef struct shut_foreign_ctx {
    corio_rt *rt;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int phase; /* 1: shutdown cleanup running, 2: the thread answered */
    int spawn_rc, spawn_future_rc, block_on_rc;
    bool has_task;
} shut_foreign_ctx;

static void *shut_foreign_thread(void *arg)
{
    shut_foreign_ctx *sf = arg;
    pthread_mutex_lock(&sf->mu);
    while (sf->phase < 1)
        pthread_cond_wait(&sf->cv, &sf->mu);
    pthread_mutex_unlock(&sf->mu);
    corio_spawn_opts o = {.rt = sf->rt};
    corio_task *t = NULL;
    sf->spawn_rc = corio_spawn_with(&t, &o, must_not_run, NULL);
    sf->has_task = t != NULL;
    count_fut cf;
    count_init(&cf, 0, 0);
    sf->spawn_future_rc = corio_spawn_future_at(NULL, &o, &cf.base, sizeof cf, CORIO_HERE);
    sf->block_on_rc = corio_rt_block_on(sf->rt, must_not_run, NULL, NULL);
    pthread_mutex_lock(&sf->mu);
    sf->phase = 2;
    pthread_cond_signal(&sf->cv);
    pthread_mutex_unlock(&sf->mu);
    return NULL;
}

static int shut_foreign_task(void *arg)
{
    shut_foreign_ctx *sf = arg;
    CHECK_EQ(corio_sleep(CORIO_SEC(3600)), CORIO_ECANCELED);
    /* cleanup, inside corio_rt_free: hold the runtime here while the other
     * thread tries its calls */
    pthread_mutex_lock(&sf->mu);
    sf->phase = 1;
    pthread_cond_signal(&sf->cv);
    while (sf->phase < 2)
        pthread_cond_wait(&sf->cv, &sf->mu);
    pthread_mutex_unlock(&sf->mu);
    return 0;
}

TEST(rt_free_refuses_foreign_spawn_and_block_on)
{
    atomic_store(&never_called, 0);
    shut_foreign_ctx sf;
    memset(&sf, 0, sizeof sf);
    pthread_mutex_init(&sf.mu, NULL);
    pthread_cond_init(&sf.cv, NULL);
    sf.rt = new_rt();
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, shut_foreign_thread, &sf), 0);
    corio_spawn_opts o = {.rt = sf.rt};
    CHECK_EQ(corio_spawn_with(NULL, &o, shut_foreign_task, &sf), 0);
    CHECK_EQ(corio_rt_block_on(sf.rt, return_arg, NULL, NULL), 0); /* starts it */
    corio_rt_free(sf.rt);
    pthread_join(th, NULL);
    CHECK_EQ(sf.spawn_rc, CORIO_ESHUTDOWN);
    CHECK(!sf.has_task);
    CHECK_EQ(sf.spawn_future_rc, CORIO_ESHUTDOWN);
    CHECK_EQ(sf.block_on_rc, -EBUSY);
    CHECK_EQ(atomic_load(&never_called), 0);
    pthread_cond_destroy(&sf.cv);
    pthread_mutex_destroy(&sf.mu);
}

/* A plain thread blocked in corio_task_join is released by the shutdown. */
typedef struct join_shut_ctx {
    corio_task *t;
    int rc, result;
    atomic_int done;
} join_shut_ctx;

static void *join_shut_thread(void *arg)
{
    join_shut_ctx *jc = arg;
    jc->rc = corio_task_join(jc->t, &jc->result);
    atomic_store(&jc->done, 1);
    return NULL;
}

static int sleep_then_42(void *arg)
{
    CHECK_EQ(corio_sleep(CORIO_SEC(3600)), CORIO_ECANCELED);
    return 42;
}

TEST(rt_free_releases_plain_joiner)
{
    join_shut_ctx jc;
    memset(&jc, 0, sizeof jc);
    corio_rt *rt = new_rt();
    corio_spawn_opts o = {.rt = rt};
    CHECK_EQ(corio_spawn_with(&jc.t, &o, sleep_then_42, NULL), 0);
    CHECK_EQ(corio_rt_block_on(rt, return_arg, NULL, NULL), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, join_shut_thread, &jc), 0);
    sleep_ms(20);
    CHECK_EQ(atomic_load(&jc.done), 0);
    corio_rt_free(rt);
    pthread_join(th, NULL);
    CHECK_EQ(jc.rc, CORIO_ECANCELED);
    CHECK_EQ(jc.result, 42);
}

/* Build and free many runtimes: no descriptor (or, under ASan, memory) left. */
static int small_work(void *arg)
{
    corio_task *t = corio_spawn(return_arg, (void *)2);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(corio_sleep(CORIO_USEC(100)), 0);
    CHECK_EQ(corio_spawn_detached(sleep_long, arg), 0);
    return r;
}

TEST(rt_build_free_cycles_leak_nothing)
{
    atomic_int cleanup = 0;
    int fds = count_fds();
    for (int i = 0; i < 200; i++) {
        corio_rt *rt = new_rt();
        if (i % 2) {
            int r = 0;
            CHECK_EQ(corio_rt_block_on(rt, small_work, &cleanup, &r), 0);
            CHECK_EQ(r, 2);
        }
        corio_rt_free(rt);
    }
    CHECK_EQ(atomic_load(&cleanup), 100);
    CHECK_EQ(count_fds(), fds);
}

/* ==== foreign threads ===================================================== */

/* Foreign threads spawn into a runtime while block_on drives it: some tasks
 * detached, some joined from the spawning (plain) thread, some stackless. */
enum { FS_THREADS = 4 };

typedef struct fs_ctx {
    corio_rt *rt;
    int per_thread;
    atomic_int ran;
    atomic_int threads_done;
    slot done_slot; /* completed by the last task */
    int expect;
} fs_ctx;

static int fs_task(void *arg)
{
    fs_ctx *fc = arg;
    CHECK(corio_rt_current() == fc->rt);
    CHECK_EQ(corio_yield_now(), 0);
    if (atomic_fetch_add(&fc->ran, 1) + 1 == fc->expect)
        slot_complete(&fc->done_slot, 1);
    return 3;
}

typedef struct fs_fut {
    corio_future base;
    fs_ctx *fc;
} fs_fut;

static corio_poll fs_fut_poll(corio_future *f, corio_context *cx)
{
    fs_ctx *fc = ((fs_fut *)f)->fc;
    if (atomic_fetch_add(&fc->ran, 1) + 1 == fc->expect)
        slot_complete(&fc->done_slot, 1);
    f->result = 4;
    return CORIO_READY;
}
static const corio_future_vtable fs_fut_vt = {fs_fut_poll, NULL};

static void *fs_thread(void *arg)
{
    fs_ctx *fc = arg;
    corio_spawn_opts o = {.rt = fc->rt};
    for (int i = 0; i < fc->per_thread; i++) {
        switch (i % 3) {
        case 0:
            CHECK_EQ(corio_spawn_with(NULL, &o, fs_task, fc), 0);
            break;
        case 1: {
            corio_task *t = NULL;
            CHECK_EQ(corio_spawn_with(&t, &o, fs_task, fc), 0);
            int r = 0;
            CHECK_EQ(corio_task_join(t, &r), 0); /* blocks this plain thread */
            CHECK_EQ(r, 3);
            break;
        }
        default: {
            fs_fut f;
            corio_future_init(&f.base, &fs_fut_vt);
            f.fc = fc;
            corio_task *t = NULL;
            CHECK_EQ(corio_spawn_future_at(&t, &o, &f.base, sizeof f, CORIO_HERE), 0);
            if (i % 2) {
                int r = 0;
                CHECK_EQ(corio_task_join(t, &r), 0);
                CHECK_EQ(r, 4);
            } else {
                corio_task_release(t);
            }
            break;
        }
        }
    }
    atomic_fetch_add(&fc->threads_done, 1);
    return NULL;
}

static int fs_main(void *arg)
{
    fs_ctx *fc = arg;
    slot_fut f;
    slot_fut_init(&f, &fc->done_slot);
    CHECK_EQ(corio_await(&f.base), 1);
    CHECK_EQ(atomic_load(&fc->ran), fc->expect);
    return 0;
}

TEST(rt_spawn_from_foreign_threads_while_driven)
{
    fs_ctx fc;
    memset(&fc, 0, sizeof fc);
    slot_init(&fc.done_slot);
    fc.rt = new_rt();
    fc.per_thread = UNDER_SAN ? 300 : 3000;
    fc.expect = FS_THREADS * fc.per_thread;
    pthread_t th[FS_THREADS];
    /* the threads start spawning before anyone drives the runtime */
    for (int i = 0; i < FS_THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, fs_thread, &fc), 0);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(fc.rt, fs_main, &fc, &r), 0);
    CHECK_EQ(r, 0);
    for (int i = 0; i < FS_THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&fc.threads_done), FS_THREADS);
    corio_rt_free(fc.rt);
    slot_destroy(&fc.done_slot);
}

/* A waker fired from a plain thread reaches a runtime parked in the kernel
 * (no timer pending, so it would sleep forever) within a few ms, and the
 * parked runtime spends no CPU. */
typedef struct park_ctx {
    slot s;
    int delay_ms;
    bool check_cpu;
} park_ctx;

static void *park_waker(void *arg)
{
    park_ctx *pc = arg;
    thread_wait_waker(&pc->s);
    sleep_ms(pc->delay_ms);
    slot_complete(&pc->s, 1);
    return NULL;
}

static int park_main(void *arg)
{
    park_ctx *pc = arg;
    double cpu0 = thread_cpu_ms(), t0 = mono_ms();
    slot_fut f;
    slot_fut_init(&f, &pc->s);
    CHECK_EQ(corio_await(&f.base), 1);
    double cpu = thread_cpu_ms() - cpu0, wall = mono_ms() - t0;
    CHECK(wall >= pc->delay_ms);
    if (pc->check_cpu && cpu > 0.25 * wall)
        test_failf(__FILE__, __LINE__, "parked runtime used %.1f ms CPU in %.1f ms", cpu, wall);
    return 0;
}

TEST_TIMING(rt_foreign_wake_reaches_parked_runtime_fast)
{
    corio_rt *rt = new_rt();
    double worst = 0;
    for (int i = 0; i < 10; i++) {
        park_ctx pc;
        slot_init(&pc.s);
        pc.delay_ms = i == 0 ? 100 : 15;
        pc.check_cpu = i == 0;
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, park_waker, &pc), 0);
        int r = -1;
        CHECK_EQ(corio_rt_block_on(rt, park_main, &pc, &r), 0);
        CHECK_EQ(r, 0);
        pthread_join(th, NULL);
        double lat = pc.s.polled_at - pc.s.woken_at;
        if (lat > worst)
            worst = lat;
        slot_destroy(&pc.s);
    }
    /* a few ms is the goal; allow for a loaded machine and sanitizers */
    if (worst > (UNDER_SAN ? 50.0 : 20.0))
        test_failf(__FILE__, __LINE__, "wake to poll latency %.2f ms", worst);
    corio_rt_free(rt);
}

/* The same through a stackless main task (corio_rt_block_on_future). */
TEST_TIMING(rt_foreign_wake_reaches_parked_block_on_future)
{
    corio_rt *rt = new_rt();
    park_ctx pc;
    slot_init(&pc.s);
    pc.delay_ms = 30;
    pc.check_cpu = false;
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, park_waker, &pc), 0);
    slot_fut f;
    slot_fut_init(&f, &pc.s);
    CHECK_EQ(corio_rt_block_on_future(rt, &f.base), 1);
    pthread_join(th, NULL);
    CHECK(pc.s.polled_at - pc.s.woken_at < (UNDER_SAN ? 50.0 : 20.0));
    corio_rt_free(rt);
    slot_destroy(&pc.s);
}

/* Sleeping in a timer costs no CPU either. */
static int idle_sleep_main(void *arg)
{
    double cpu0 = thread_cpu_ms(), t0 = mono_ms();
    CHECK_EQ(corio_sleep(CORIO_MSEC(200)), 0);
    double cpu = thread_cpu_ms() - cpu0, wall = mono_ms() - t0;
    CHECK(wall >= 200);
    if (cpu > 40)
        test_failf(__FILE__, __LINE__, "sleeping runtime used %.1f ms CPU in %.1f ms", cpu, wall);
    return 0;
}

TEST_TIMING(rt_idle_sleep_costs_no_cpu)
{
    CHECK_EQ(corio_run(idle_sleep_main, NULL), 0);
}

/* ==== two runtimes ======================================================== */

/* Two runtimes driven by two threads: tasks of one complete futures that the
 * other's tasks wait for, join each other's tasks, and spawn onto each
 * other. */
typedef struct two_ctx {
    corio_rt *a, *b;
    slot a_to_b, b_to_a;
    corio_task *b_task; /* a task of runtime b, joined from runtime a */
    atomic_int b_ready;
    atomic_int spawned_on_b_ran;
} two_ctx;

static int on_b_from_a(void *arg)
{
    two_ctx *tc = arg;
    CHECK(corio_rt_current() == tc->b);
    atomic_fetch_add(&tc->spawned_on_b_ran, 1);
    return 0;
}

static int b_child(void *arg)
{
    two_ctx *tc = arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    CHECK(corio_rt_current() == tc->b);
    return 500;
}

static int b_main(void *arg)
{
    two_ctx *tc = arg;
    tc->b_task = corio_spawn(b_child, tc);
    atomic_store(&tc->b_ready, 1);
    slot_fut f;
    slot_fut_init(&f, &tc->a_to_b);
    CHECK_EQ(corio_await(&f.base), 11);      /* completed by a task of a */
    slot_complete(&tc->b_to_a, 22);          /* wakes a task of a */
    for (int i = 0; atomic_load(&tc->spawned_on_b_ran) < 10; i++) {
        CHECK(i < 5000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

static void *b_thread(void *arg)
{
    two_ctx *tc = arg;
    int r = -1;
    CHECK_EQ(corio_rt_block_on(tc->b, b_main, tc, &r), 0);
    CHECK_EQ(r, 0);
    return NULL;
}

static int a_main(void *arg)
{
    two_ctx *tc = arg;
    while (!atomic_load(&tc->b_ready))
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    corio_spawn_opts ob = {.rt = tc->b};
    for (int i = 0; i < 10; i++)
        CHECK_EQ(corio_spawn_with(NULL, &ob, on_b_from_a, tc), 0);
    int r = 0;
    CHECK_EQ(corio_task_join(tc->b_task, &r), 0); /* a task of the other runtime */
    CHECK_EQ(r, 500);
    slot_complete(&tc->a_to_b, 11);
    slot_fut f;
    slot_fut_init(&f, &tc->b_to_a);
    CHECK_EQ(corio_await(&f.base), 22);
    return 0;
}

TEST(rt_two_runtimes_wake_and_join_each_other)
{
    two_ctx tc;
    memset(&tc, 0, sizeof tc);
    slot_init(&tc.a_to_b);
    slot_init(&tc.b_to_a);
    tc.a = new_rt();
    tc.b = new_rt();
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, b_thread, &tc), 0);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(tc.a, a_main, &tc, &r), 0);
    CHECK_EQ(r, 0);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&tc.spawned_on_b_ran), 10);
    corio_rt_free(tc.a);
    corio_rt_free(tc.b);
    slot_destroy(&tc.a_to_b);
    slot_destroy(&tc.b_to_a);
}

/* ==== builder options ===================================================== */

static int deep_stack(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    volatile char *buf = __builtin_alloca(n);
    for (size_t i = 0; i < n; i += 512)
        buf[i] = (char)(i >> 9);
    CHECK_EQ(corio_yield_now(), 0);
    for (size_t i = 0; i < n; i += 512)
        CHECK_EQ(buf[i], (char)(i >> 9));
    return 0;
}

static int big_stack_main(void *arg)
{
    corio_task *t = corio_spawn(deep_stack, (void *)(uintptr_t)(700 * 1024));
    CHECK(t != NULL);
    CHECK_EQ(corio_task_join(t, NULL), 0);
    return 0;
}

TEST(rt_builder_stack_size_and_event_interval)
{
    corio_rt *rt = NULL;
    corio_rt_builder b = corio_rt_builder_current_thread();
    CHECK_EQ(b.stack_size, CORIO_DEFAULT_STACK_SIZE);
    b.stack_size = 1024 * 1024; /* every task gets 1 MiB: 700 KiB in use works */
    b.event_interval = 1;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, big_stack_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    /* event_interval 1: timers and foreign wakes still work */
    park_ctx pc;
    slot_init(&pc.s);
    pc.delay_ms = 5;
    pc.check_cpu = false;
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, park_waker, &pc), 0);
    CHECK_EQ(corio_rt_block_on(rt, await_slot, &pc.s, &r), 0);
    CHECK_EQ(r, 1);
    pthread_join(th, NULL);
    slot_destroy(&pc.s);
    corio_rt_free(rt);
}

/* ==== many tasks ========================================================== */

static int many_fn(void *arg)
{
    atomic_int *n = arg;
    CHECK_EQ(corio_yield_now(), 0);
    atomic_fetch_add(n, 1);
    return 1;
}

static int many_main(void *arg)
{
    atomic_int *n = arg;
    int count = UNDER_SAN ? 2000 : 20000;
    corio_task **ts = calloc((size_t)count, sizeof *ts);
    CHECK(ts != NULL);
    for (int i = 0; i < count; i++) {
        ts[i] = corio_spawn(many_fn, n);
        CHECK(ts[i] != NULL);
    }
    int sum = 0;
    for (int i = 0; i < count; i++) {
        int r = 0;
        CHECK_EQ(corio_task_join(ts[i], &r), 0);
        sum += r;
    }
    free(ts);
    CHECK_EQ(sum, count);
    return atomic_load(n);
}

TEST(rt_many_tasks_spawn_join)
{
    atomic_int n = 0;
    int r = corio_run(many_main, &n);
    CHECK_EQ(r, UNDER_SAN ? 2000 : 20000);
}

/* ==== stress ============================================================== */

/* Foreign threads hammer a driven runtime with spawns and wakes for a while;
 * the main task waits for all of it through a counter and a waker slot. No
 * spawn or wake may get lost, and shutdown must find nothing left. */
enum { HS_THREADS = 4, HS_SLOTS = 16 };

typedef struct hs_ctx {
    corio_rt *rt;
    slot slots[HS_SLOTS];
    corio_task *waiters[HS_SLOTS];
    atomic_int spawned, ran;
    atomic_int stop;
    atomic_int threads_done;
} hs_ctx;

static int hs_task(void *arg)
{
    hs_ctx *hc = arg;
    atomic_fetch_add(&hc->ran, 1);
    return 0;
}

static int hs_waiter(void *arg)
{
    slot *s = arg;
    int n = 0;
    /* wait on the slot over and over: each completion is one round */
    for (;;) {
        slot_fut f;
        slot_fut_init(&f, s);
        int r = corio_await(&f.base);
        if (r < 0)
            return r;
        if (r == 2) /* the final round */
            return n;
        pthread_mutex_lock(&s->mu);
        s->ready = false;
        pthread_mutex_unlock(&s->mu);
        n++;
    }
}

static void *hs_thread(void *arg)
{
    hs_ctx *hc = arg;
    corio_spawn_opts o = {.rt = hc->rt};
    unsigned seed = (unsigned)(uintptr_t)&o;
    int cap = UNDER_SAN ? 1000 : 50000, mine = 0; /* spawns per thread */
    long ops = UNDER_SAN ? 20000 : 100000000; /* sanitizers: a bounded amount */
    while (!atomic_load(&hc->stop) && ops-- > 0) {
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 2 && mine < cap) {
            mine++;
            CHECK_EQ(corio_spawn_with(NULL, &o, hs_task, hc), 0);
            atomic_fetch_add(&hc->spawned, 1);
        } else {
            slot *s = &hc->slots[(seed >> 8) % HS_SLOTS];
            pthread_mutex_lock(&s->mu);
            if (s->value != 2) { /* not finished yet */
                s->ready = true;
                s->value = 1;
                corio_waker w = s->waker;
                s->waker = CORIO_WAKER_NONE;
                pthread_mutex_unlock(&s->mu);
                corio_waker_wake(&w);
            } else {
                pthread_mutex_unlock(&s->mu);
            }
        }
    }
    atomic_fetch_add(&hc->threads_done, 1);
    return NULL;
}

static int hs_main(void *arg)
{
    hs_ctx *hc = arg;
    for (int i = 0; i < HS_SLOTS; i++) {
        hc->waiters[i] = corio_spawn(hs_waiter, &hc->slots[i]);
        CHECK(hc->waiters[i] != NULL);
    }
    pthread_t th[HS_THREADS];
    for (int i = 0; i < HS_THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, hs_thread, hc), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(UNDER_SAN ? 700 : 1000)), 0);
    atomic_store(&hc->stop, 1);
    for (int i = 0; atomic_load(&hc->threads_done) < HS_THREADS; i++) {
        CHECK(i < 10000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    for (int i = 0; i < HS_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < HS_SLOTS; i++)
        slot_complete(&hc->slots[i], 2);
    int rounds = 0;
    for (int i = 0; i < HS_SLOTS; i++) {
        int r = -1;
        CHECK_EQ(corio_task_join(hc->waiters[i], &r), 0);
        CHECK(r >= 0);
        rounds += r;
    }
    CHECK(rounds > 0);
    /* every spawned task runs */
    for (int i = 0; atomic_load(&hc->ran) < atomic_load(&hc->spawned); i++) {
        CHECK(i < 10000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    CHECK_EQ(atomic_load(&hc->ran), atomic_load(&hc->spawned));
    return 0;
}

TEST(rt_stress_foreign_spawns_and_wakes)
{
    hs_ctx *hc = calloc(1, sizeof *hc);
    CHECK(hc != NULL);
    for (int i = 0; i < HS_SLOTS; i++)
        slot_init(&hc->slots[i]);
    hc->rt = new_rt();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(hc->rt, hs_main, hc, &r), 0);
    CHECK_EQ(r, 0);
    CHECK(atomic_load(&hc->spawned) > 100);
    corio_rt_free(hc->rt);
    for (int i = 0; i < HS_SLOTS; i++) {
        CHECK_EQ(slot_drops(&hc->slots[i]), 0);
        slot_destroy(&hc->slots[i]);
    }
    free(hc);
}

/* Ping-pong with a plain thread: the task hands the ball over and at once
 * waits for it back, while the thread spins for the ball and wakes the task
 * as fast as it can, so the wake arrives just as the runtime goes to park. A
 * lost unpark (the race between "I am about to sleep" and "there is work")
 * leaves the runtime asleep for good and the test times out. */
typedef struct pp_ctx {
    atomic_int ball; /* 1: the thread's turn, -1: quit */
    slot s;
    int rounds;
    double deadline_ms;
    int done_rounds;
} pp_ctx;

static void *pp_thread(void *arg)
{
    pp_ctx *pc = arg;
    for (unsigned spins = 0;;) {
        int b = atomic_load(&pc->ball);
        if (b < 0)
            return NULL;
        if (b == 0) {
            if (++spins > 1000) {
                sched_yield();
                spins = 0;
            }
            continue;
        }
        spins = 0;
        atomic_store(&pc->ball, 0);
        slot_complete(&pc->s, 1);
    }
}

static int pp_main(void *arg)
{
    pp_ctx *pc = arg;
    int i;
    for (i = 0; i < pc->rounds && mono_ms() < pc->deadline_ms; i++) {
        pthread_mutex_lock(&pc->s.mu);
        pc->s.ready = false;
        pthread_mutex_unlock(&pc->s.mu);
        atomic_store(&pc->ball, 1);
        slot_fut f;
        slot_fut_init(&f, &pc->s);
        CHECK_EQ(corio_await(&f.base), 1);
    }
    pc->done_rounds = i;
    atomic_store(&pc->ball, -1);
    return 0;
}

TEST(rt_stress_ping_pong_with_plain_thread)
{
    pp_ctx pc;
    memset(&pc, 0, sizeof pc);
    slot_init(&pc.s);
    pc.rounds = UNDER_SAN ? 50000 : 500000;
    pc.deadline_ms = mono_ms() + (UNDER_SAN ? 1500 : 2000);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, pp_thread, &pc), 0);
    CHECK_EQ(corio_run(pp_main, &pc), 0);
    pthread_join(th, NULL);
    CHECK(pc.done_rounds > 1000);
    slot_destroy(&pc.s);
}

/* Shutdown racing foreign threads: threads spawn and wake until the free
 * refuses them; every task that was accepted runs (to completion or through
 * its cleanup), and the free returns. A gatekeeper task holds the shutdown
 * open (in its cleanup) until every thread has been refused, so that no
 * thread touches the runtime after it is freed. */
typedef struct sr_ctx {
    corio_rt *rt;
    atomic_int accepted, refused, ran;
    slot s;
    atomic_int started;
} sr_ctx;

static int sr_task(void *arg)
{
    sr_ctx *sc = arg;
    atomic_fetch_add(&sc->ran, 1);
    (void)corio_yield_now();
    return 0;
}

static int sr_gatekeeper(void *arg)
{
    sr_ctx *sc = arg;
    CHECK_EQ(corio_sleep(CORIO_SEC(3600)), CORIO_ECANCELED);
    for (int i = 0; atomic_load(&sc->refused) < 3; i++) {
        CHECK(i < 10000);
        sleep_ms(1); /* blocks the runtime's thread, on purpose */
    }
    return 0;
}

static void *sr_thread(void *arg)
{
    sr_ctx *sc = arg;
    corio_spawn_opts o = {.rt = sc->rt};
    atomic_fetch_add(&sc->started, 1);
    for (int n = 0;; n++) {
        if (n >= (UNDER_SAN ? 100 : 1000))
            sleep_ms(1); /* enough backlog: keep trying, slowly */
        int rc = corio_spawn_with(NULL, &o, sr_task, sc);
        if (rc == CORIO_ESHUTDOWN) {
            atomic_fetch_add(&sc->refused, 1);
            return NULL;
        }
        CHECK_EQ(rc, 0);
        atomic_fetch_add(&sc->accepted, 1);
        /* and wake the waiter, which never completes */
        pthread_mutex_lock(&sc->s.mu);
        corio_waker_wake_by_ref(&sc->s.waker);
        pthread_mutex_unlock(&sc->s.mu);
    }
}

TEST(rt_stress_free_races_foreign_spawns)
{
    int loops = UNDER_SAN ? 5 : 30;
    for (int l = 0; l < loops; l++) {
        sr_ctx sc;
        memset(&sc, 0, sizeof sc);
        slot_init(&sc.s);
        sc.rt = new_rt();
        corio_spawn_opts o = {.rt = sc.rt};
        CHECK_EQ(corio_spawn_with(NULL, &o, await_slot, &sc.s), 0);
        CHECK_EQ(corio_spawn_with(NULL, &o, sr_gatekeeper, &sc), 0);
        CHECK_EQ(corio_rt_block_on(sc.rt, return_arg, NULL, NULL), 0);
        pthread_t th[3];
        for (int i = 0; i < 3; i++)
            CHECK_EQ(pthread_create(&th[i], NULL, sr_thread, &sc), 0);
        while (atomic_load(&sc.started) < 3 || atomic_load(&sc.accepted) < 50)
            sleep_ms(1);
        if (l % 2)
            CHECK_EQ(corio_rt_block_on(sc.rt, return_arg, NULL, NULL), 0);
        corio_rt_free(sc.rt);
        CHECK_EQ(atomic_load(&sc.refused), 3);
        for (int i = 0; i < 3; i++)
            pthread_join(th[i], NULL);
        CHECK_EQ(atomic_load(&sc.ran), atomic_load(&sc.accepted));
        CHECK_EQ(slot_drops(&sc.s), 1);
        slot_destroy(&sc.s);
    }
}
