/* tests/test_rt_shutdown.c - shutting a runtime down (corio_rt_free).
 *
 * Covers: corio_rt_free refused with CORIO_EWRONGCTX from the runtime's own
 * tasks and from a stackless poll function, allowed from a task of another
 * runtime (empty or with tasks); shutdown cancelling every kind of pending
 * task with its cleanup run and nothing leaked, also in a runtime never
 * driven; join handles outliving the runtime; spawns and block_on refused
 * during shutdown, also from other threads; a plain joiner released;
 * descriptor and memory hygiene over many build/free cycles; and shutdown
 * racing foreign spawns and wakes.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include <corio.h>

#include "test.h"
#include "util.h"

/* ==== where corio_rt_free may be called =================================== */

/* corio_rt_free from inside one of the runtime's tasks is refused with
 * CORIO_EWRONGCTX and changes nothing. */
static int free_from_inside(void *arg)
{
    CHECK_EQ(corio_rt_free(corio_rt_current()), CORIO_EWRONGCTX);
    CHECK(corio_rt_current() == arg);
    CHECK_EQ(corio_sleep(CORIO_MSEC(2)), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(return_arg, (void *)4, &t), 0);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 4);
    return 9;
}

TEST(rt_free_inside_task_is_wrongctx)
{
    corio_rt *rt = new_rt();
    int r = 0;
    CHECK_EQ(corio_rt_block_on(rt, free_from_inside, rt, &r), 0);
    CHECK_EQ(r, 9);
    CHECK_EQ(corio_rt_block_on(rt, return_arg, (void *)1, &r), 0);
    CHECK_EQ(r, 1);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* From a stackless task's poll function it is refused too, for its own
 * runtime and for another one (a poll function must not block). */
typedef struct free_poll_fut {
    corio_future base;
    corio_rt *own, *other;
    int own_rc, other_rc;
} free_poll_fut;

static corio_poll free_poll(corio_future *f, corio_context *cx)
{
    free_poll_fut *fp = (free_poll_fut *)f;
    fp->own_rc = corio_rt_free(fp->own);
    fp->other_rc = corio_rt_free(fp->other);
    f->result = 12;
    return CORIO_READY;
}

static const corio_future_vtable free_poll_vt = {free_poll, NULL};

TEST(rt_free_inside_poll_function_is_wrongctx)
{
    free_poll_fut f;
    corio_future_init(&f.base, &free_poll_vt);
    f.own = new_rt();
    f.other = new_rt();
    f.own_rc = f.other_rc = 1;
    CHECK_EQ(corio_rt_block_on_future(f.own, &f.base), 0);
    CHECK_EQ(f.base.result, 12);
    CHECK_EQ(f.own_rc, CORIO_EWRONGCTX);
    CHECK_EQ(f.other_rc, CORIO_EWRONGCTX);
    /* both runtimes were left as they were */
    int r = 0;
    CHECK_EQ(corio_rt_block_on(f.own, return_arg, (void *)3, &r), 0);
    CHECK_EQ(r, 3);
    CHECK_EQ(corio_rt_block_on(f.other, return_arg, (void *)4, &r), 0);
    CHECK_EQ(r, 4);
    CHECK_EQ(corio_rt_free(f.own), 0);
    CHECK_EQ(corio_rt_free(f.other), 0);
}

/* corio_rt_free of *another* runtime from inside a task: runtime.h only
 * forbids freeing a runtime from one of its own tasks. An empty runtime is
 * freed (its descriptors are gone afterwards). */
static int free_other_empty(void *arg)
{
    int fds = count_fds();
    corio_rt *other = new_rt();
    CHECK(count_fds() > fds);
    CHECK_EQ(corio_rt_free(other), 0);
    CHECK_EQ(count_fds(), fds);
    return 0;
}

TEST(rt_free_other_empty_runtime_from_task)
{
    int r = -1;
    CHECK_EQ(corio_run(free_other_empty, NULL, &r), 0);
    CHECK_EQ(r, 0);
}

/* The same with tasks left in the other runtime: runtime.h promises that
 * corio_rt_free cancels them, runs their cleanup and frees everything. */
static int free_other_busy(void *arg)
{
    atomic_int *cleanup = arg;
    int fds = count_fds();
    corio_rt *other = new_rt();
    corio_spawn_opts o = {.rt = other};
    CHECK_EQ(corio_spawn_with(&o, sleep_long, cleanup, NULL), 0);
    CHECK_EQ(corio_rt_free(other), 0);
    if (atomic_load(cleanup) != 1)
        test_failf(__FILE__, __LINE__, "corio_rt_free(other) from a task: the other runtime's "
                   "task was not cancelled (cleanup ran %d times)", atomic_load(cleanup));
    CHECK_EQ(count_fds(), fds);
    return 0;
}

TEST(rt_free_other_runtime_with_tasks_from_task)
{
    atomic_int cleanup = 0;
    int r = -1;
    CHECK_EQ(corio_run(free_other_busy, &cleanup, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(atomic_load(&cleanup), 1);
}

/* ==== cancelling what is left ============================================= */

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
    sc->spawn_rc = corio_spawn_with(NULL, must_not_run, NULL, &t);
    CHECK(t == (corio_task *)0x1 || t == NULL);
    count_fut cf;
    count_init(&cf, 0, 0);
    sc->spawn_future_rc = corio_spawn_future(&cf.base, sizeof cf, NULL);
    atomic_fetch_add(&sc->cleanups, 1);
    return 20;
}

static int shut_yielder(void *arg)
{
    shut_ctx *sc = arg;
    atomic_fetch_add(&sc->ran, 1);
    int rc;
    while ((rc = corio_yield()) == 0) {
    }
    CHECK_EQ(rc, CORIO_ECANCELED);
    atomic_fetch_add(&sc->cleanups, 1);
    return 30;
}

static int shut_joiner(void *arg)
{
    shut_ctx *sc = arg;
    atomic_fetch_add(&sc->ran, 1);
    corio_task *t;
    CHECK_EQ(corio_spawn(shut_sleeper, sc, &t), 0); /* cancelled too */
    CHECK(t != NULL);
    CHECK_EQ(corio_task_join(t, NULL), CORIO_ECANCELED);
    atomic_fetch_add(&sc->cleanups, 1);
    return 40;
}

static int shut_main(void *arg)
{
    shut_ctx *sc = arg;
    CHECK_EQ(corio_spawn(shut_sleeper, sc, NULL), 0);
    CHECK_EQ(corio_spawn(shut_awaiter, sc, NULL), 0);
    CHECK_EQ(corio_spawn(shut_yielder, sc, NULL), 0);
    CHECK_EQ(corio_spawn(shut_joiner, sc, NULL), 0);
    CHECK_EQ(corio_spawn(shut_sleeper, sc, &sc->kept), 0); /* handle kept past the free */
    slot_fut f;
    slot_fut_init(&f, &sc->stackless_slot);
    CHECK_EQ(corio_spawn_future(&f.base, sizeof f, NULL), 0);
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
    atomic_store(&never_called, 0);
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
    CHECK_EQ(corio_spawn_with(&o, shut_sleeper, sc, NULL), 0);
    slot_fut f;
    slot_fut_init(&f, &sc->foreign_slot);
    corio_task *unpolled = NULL;
    CHECK_EQ(corio_spawn_future_with(&o, &f.base, sizeof f, &unpolled), 0);
    CHECK_EQ(atomic_load(&sc->cleanups), 0);
    CHECK(!corio_task_is_finished(sc->kept));

    CHECK_EQ(corio_rt_free(rt), 0);

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
        CHECK_EQ(corio_spawn_with(&o, undriven_fn, &uc[i], i == 0 ? &t : NULL), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
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
    sf->spawn_rc = corio_spawn_with(&o, must_not_run, NULL, &t);
    sf->has_task = t != NULL;
    count_fut cf;
    count_init(&cf, 0, 0);
    sf->spawn_future_rc = corio_spawn_future_with(&o, &cf.base, sizeof cf, NULL);
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
    CHECK_EQ(corio_spawn_with(&o, shut_foreign_task, &sf, NULL), 0);
    CHECK_EQ(corio_rt_block_on(sf.rt, return_arg, NULL, NULL), 0); /* starts it */
    CHECK_EQ(corio_rt_free(sf.rt), 0);
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
    CHECK_EQ(corio_spawn_with(&o, sleep_then_42, NULL, &jc.t), 0);
    CHECK_EQ(corio_rt_block_on(rt, return_arg, NULL, NULL), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, join_shut_thread, &jc), 0);
    sleep_ms(20);
    CHECK_EQ(atomic_load(&jc.done), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    pthread_join(th, NULL);
    CHECK_EQ(jc.rc, CORIO_ECANCELED);
    CHECK_EQ(jc.result, 42);
}

/* Build and free many runtimes: no descriptor (or, under ASan, memory) left. */
static int small_work(void *arg)
{
    corio_task *t;
    CHECK_EQ(corio_spawn(return_arg, (void *)2, &t), 0);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(corio_sleep(CORIO_USEC(100)), 0);
    CHECK_EQ(corio_spawn(sleep_long, arg, NULL), 0);
    return r;
}

TEST(rt_build_free_cycles_leak_nothing)
{
    atomic_int cleanup = 0;
    int fds = count_fds();
    size_t heap0 = 0;
    for (int i = 0; i < 200; i++) {
        if (i == 2) /* after the first cycles' one-time allocations */
            heap0 = heap_in_use();
        corio_rt *rt = new_rt();
        if (i % 2) {
            int r = 0;
            CHECK_EQ(corio_rt_block_on(rt, small_work, &cleanup, &r), 0);
            CHECK_EQ(r, 2);
        }
        CHECK_EQ(corio_rt_free(rt), 0);
    }
    CHECK_EQ(atomic_load(&cleanup), 100);
    CHECK_EQ(count_fds(), fds);
    /* A runtime is a few KiB of heap (scheduler, wheel, driver): 198 leaked
     * ones would be far above this allowance for allocator slack. */
    size_t heap1 = heap_in_use();
    printf("heap in use: %zu bytes after 2 cycles, %zu after 200\n", heap0, heap1);
    CHECK(heap1 <= heap0 + 16 * 1024);
}

/* ==== shutdown racing foreign threads ===================================== */

/* Threads spawn and wake until the free refuses them; every task that was
 * accepted runs (to completion or through its cleanup), and the free
 * returns. A gatekeeper task holds the shutdown open (in its cleanup) until
 * every thread has been refused, so that no thread touches the runtime after
 * it is freed. */
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
    (void)corio_yield();
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
        int rc = corio_spawn_with(&o, sr_task, sc, NULL);
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
        CHECK_EQ(corio_spawn_with(&o, await_slot, &sc.s, NULL), 0);
        CHECK_EQ(corio_spawn_with(&o, sr_gatekeeper, &sc, NULL), 0);
        CHECK_EQ(corio_rt_block_on(sc.rt, return_arg, NULL, NULL), 0);
        pthread_t th[3];
        for (int i = 0; i < 3; i++)
            CHECK_EQ(pthread_create(&th[i], NULL, sr_thread, &sc), 0);
        while (atomic_load(&sc.started) < 3 || atomic_load(&sc.accepted) < 50)
            sleep_ms(1);
        if (l % 2)
            CHECK_EQ(corio_rt_block_on(sc.rt, return_arg, NULL, NULL), 0);
        CHECK_EQ(corio_rt_free(sc.rt), 0);
        CHECK_EQ(atomic_load(&sc.refused), 3);
        for (int i = 0; i < 3; i++)
            pthread_join(th[i], NULL);
        CHECK_EQ(atomic_load(&sc.ran), atomic_load(&sc.accepted));
        CHECK_EQ(slot_drops(&sc.s), 1);
        slot_destroy(&sc.s);
    }
}

/* ==== a task cancelled by the shutdown spawns in its cleanup =============== */

/* The multi-thread runtime's list of live tasks is split in shards, which
 * the shutdown closes one after another. A task cancelled from an early
 * shard ran its cleanup on another worker at once, and a task spawned there
 * went into a shard not yet closed: the spawn returned 0 during the
 * shutdown (seen once in CI, in the AArch64 emulator). Thousands of
 * sleepers, spawned from every worker so that their ids and their
 * children's fall in many shards, each spawn in their cleanup: every spawn
 * must be refused. */
typedef struct cs_ctx {
    atomic_int sleeping, spawned, refused, other, ran;
} cs_ctx;

static int cs_child(void *arg)
{
    atomic_fetch_add(&((cs_ctx *)arg)->ran, 1);
    return 0;
}

static int cs_sleeper(void *arg)
{
    cs_ctx *c = arg;
    atomic_fetch_add(&c->sleeping, 1);
    int rc = corio_sleep(CORIO_SEC(3600));
    int s = corio_spawn(cs_child, c, NULL);
    atomic_fetch_add(s == CORIO_ESHUTDOWN ? &c->refused : s == 0 ? &c->spawned : &c->other, 1);
    return rc;
}

/* Under TSan a loop of 600 took 10 s: fewer there. */
#define CS_PER_SPAWNER (UNDER_SAN ? 150 : 600)
enum { CS_SPAWNERS = 4 };

static int cs_spawner(void *arg)
{
    for (int i = 0; i < CS_PER_SPAWNER; i++) {
        CHECK_EQ(corio_spawn(cs_sleeper, arg, NULL), 0);
        if (i % 64 == 0)
            CHECK_EQ(corio_yield(), 0); /* let other workers steal some */
    }
    return 0;
}

static int cs_main(void *arg)
{
    cs_ctx *c = arg;
    for (int i = 0; i < CS_SPAWNERS; i++)
        CHECK_EQ(corio_spawn(cs_spawner, c, NULL), 0);
    for (int i = 0; atomic_load(&c->sleeping) < CS_PER_SPAWNER * CS_SPAWNERS; i++) {
        CHECK(i < 10000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(rt_stress_spawn_in_cleanup_during_shutdown_is_refused)
{
    int loops = UNDER_SAN ? 2 : 10;
    for (int l = 0; l < loops; l++) {
        for (int mt = 0; mt < 2; mt++) {
            cs_ctx c;
            memset(&c, 0, sizeof c);
            run_main_flavor(mt, cs_main, &c);
            CHECK_EQ(atomic_load(&c.spawned), 0);
            CHECK_EQ(atomic_load(&c.other), 0);
            CHECK_EQ(atomic_load(&c.refused), CS_PER_SPAWNER * CS_SPAWNERS);
            CHECK_EQ(atomic_load(&c.ran), 0);
        }
    }
}
