/* tests/test_rt_introspect.c - corio/introspect.h: every promise of the
 * header on both flavours (counts, the snapshot's contents and lifetime,
 * each worker counter moving when its event happens, the dump's format and
 * its errors), readings from other threads while every worker is stuck in
 * a poll, and a stress loop of snapshots racing spawns and completions
 * (for TSan and ASan).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <corio.h>

#include "test.h"
#include "util.h"

/* A task that waits until *gate_flag is set (polling it every millisecond, so
 * that it is WAITING in a sleep almost all the time). */
static int wait_gate(void *arg)
{
    atomic_int *gate_flag = arg;
    while (!atomic_load(gate_flag))
        if (corio_sleep(CORIO_MSEC(1)) != 0)
            return -1;
    return 0;
}

/* Spins, never awaiting, until *flag is set: a worker stuck in one poll. */
static int spin_until(void *arg)
{
    atomic_int *flag = arg;
    double t0 = mono_ms();
    while (!atomic_load(flag) && mono_ms() - t0 < 20000)
        ;
    return 0;
}

static const corio_task_info *find_id(const corio_task_snapshot *s, uint64_t id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->tasks[i].id == id)
            return &s->tasks[i];
    return NULL;
}

/* ==== counts and the snapshot ============================================== */

typedef struct counts_ctx {
    int mt;
    int gate_line; /* the line of the spawns below */
} counts_ctx;

#define WAITERS 10

static int counts_main(void *arg)
{
    counts_ctx *cx = arg;
    corio_rt *rt = corio_rt_current();
    corio_metrics m;
    CHECK_EQ(corio_rt_metrics(rt, &m), 0);
    CHECK_EQ((int)m.flavor, cx->mt ? CORIO_RT_MULTI_THREAD : CORIO_RT_CURRENT_THREAD);
    CHECK_EQ(m.workers, cx->mt ? 2u : 1u);
    CHECK_EQ(m.alive_tasks, 1u); /* this main task */
    CHECK_EQ(m.spawned_tasks, 1u);

    static atomic_int gate_flag;
    atomic_store(&gate_flag, 0);
    corio_task *h[WAITERS + 1];
    corio_spawn_opts named = {.name = "gate-keeper"};
    cx->gate_line = __LINE__ + 2;
    for (int i = 0; i < WAITERS; i++)
        CHECK_EQ(corio_spawn(wait_gate, &gate_flag, &h[i]), 0);
    CHECK_EQ(corio_spawn_with(&named, wait_gate, &gate_flag, &h[WAITERS]), 0);
    int named_line = __LINE__ - 1;
    /* Let every waiter reach its sleep. */
    for (int i = 0; i < 20; i++)
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);

    CHECK_EQ(corio_rt_metrics(rt, &m), 0);
    CHECK_EQ(m.alive_tasks, WAITERS + 2u);
    CHECK_EQ(m.spawned_tasks, WAITERS + 2u);

    corio_task_snapshot *s;
    CHECK_EQ(corio_rt_task_snapshot(rt, &s), 0);
    CHECK_EQ(s->n, WAITERS + 2u);
    const corio_task_info *me = find_id(s, corio_task_id(corio_task_current()));
    CHECK(me != NULL);
    CHECK_EQ((int)me->status, CORIO_TASK_RUNNING); /* it is taking the snapshot */
    CHECK(me->coroutine);
    CHECK(!me->cancelled);
    CHECK(me->name == NULL);
    for (int i = 0; i <= WAITERS; i++) {
        const corio_task_info *t = find_id(s, corio_task_id(h[i]));
        CHECK(t != NULL);
        CHECK(t->coroutine);
        CHECK(!t->cancelled);
        CHECK(strstr(t->file, "test_rt_introspect.c") != NULL);
        CHECK_EQ(strcmp(t->func, "counts_main"), 0);
        if (i < WAITERS) {
            CHECK(t->name == NULL);
            CHECK_EQ(t->line, cx->gate_line);
        } else {
            CHECK_EQ(strcmp(t->name, "gate-keeper"), 0);
            CHECK(t->name != corio_task_name(h[i])); /* a copy */
            CHECK_EQ(t->line, named_line);
        }
        /* Asleep: waiting, unless its sleep is firing right now. */
        CHECK(t->status == CORIO_TASK_WAITING || t->status == CORIO_TASK_QUEUED ||
              t->status == CORIO_TASK_RUNNING);
    }
    corio_task_snapshot_free(s);

    /* An abort shows until the task has unwound; afterwards it is gone. */
    corio_task_abort(h[0]);
    CHECK_EQ(corio_task_join(h[0], NULL), CORIO_ECANCELED);
    atomic_store(&gate_flag, 1);
    for (int i = 1; i <= WAITERS; i++)
        CHECK_EQ(join_rc(h[i]), 0);
    CHECK_EQ(corio_rt_metrics(rt, &m), 0);
    CHECK_EQ(m.alive_tasks, 1u);
    CHECK_EQ(m.spawned_tasks, WAITERS + 2u);
    CHECK_EQ(corio_rt_task_snapshot(rt, &s), 0);
    CHECK_EQ(s->n, 1u);
    CHECK_EQ(s->tasks[0].id, corio_task_id(corio_task_current()));
    corio_task_snapshot_free(s);

    /* Every poll was counted on some worker. */
    uint64_t polls = 0;
    for (unsigned i = 0; i < m.workers; i++) {
        corio_worker_metrics wm;
        CHECK_EQ(corio_rt_worker_metrics(rt, i, &wm), 0);
        polls += wm.polls;
        CHECK(wm.busy_ns > 0 || cx->mt); /* the current-thread one is busy now */
    }
    CHECK(polls >= WAITERS + 1u); /* each waiter ran at least once */
    return 0;
}

TEST(rt_introspect_counts_and_snapshot_on_both_flavours)
{
    for (int mt = 0; mt < 2; mt++) {
        corio_rt_builder b = flavor_builder(mt);
        corio_rt *rt;
        CHECK_EQ(corio_rt_build(&b, &rt), 0);
        corio_metrics m;
        CHECK_EQ(corio_rt_metrics(rt, &m), 0);
        CHECK_EQ(m.alive_tasks, 0u);
        CHECK_EQ(m.spawned_tasks, 0u);
        CHECK_EQ(m.global_queue_depth, 0u);
        counts_ctx cx = {.mt = mt};
        int r = -1;
        CHECK_EQ(corio_rt_block_on(rt, counts_main, &cx, &r), 0);
        CHECK_EQ(r, 0);
        CHECK_EQ(corio_rt_metrics(rt, &m), 0);
        CHECK_EQ(m.alive_tasks, 0u);
        CHECK_EQ(m.spawned_tasks, WAITERS + 2u);
        corio_task_snapshot *s;
        CHECK_EQ(corio_rt_task_snapshot(rt, &s), 0);
        CHECK_EQ(s->n, 0u);
        corio_task_snapshot_free(s);
        CHECK_EQ(corio_rt_free(rt), 0);
    }
}

TEST(rt_introspect_invalid_arguments)
{
    corio_rt *rt = new_rt();
    corio_metrics m;
    corio_worker_metrics wm;
    corio_task_snapshot *s = (corio_task_snapshot *)1;
    CHECK_EQ(corio_rt_metrics(NULL, &m), -EINVAL);
    CHECK_EQ(corio_rt_metrics(rt, NULL), -EINVAL);
    CHECK_EQ(corio_rt_worker_metrics(NULL, 0, &wm), -EINVAL);
    CHECK_EQ(corio_rt_worker_metrics(rt, 0, NULL), -EINVAL);
    CHECK_EQ(corio_rt_worker_metrics(rt, 1, &wm), -EINVAL); /* one worker: index 0 */
    CHECK_EQ(corio_rt_worker_metrics(rt, 0, &wm), 0);
    CHECK_EQ(corio_rt_task_snapshot(NULL, &s), -EINVAL);
    CHECK(s == NULL);
    CHECK_EQ(corio_rt_task_snapshot(rt, NULL), -EINVAL);
    CHECK_EQ(corio_rt_dump(NULL, stderr), -EINVAL);
    CHECK_EQ(corio_rt_dump(rt, NULL), -EINVAL);
    corio_task_snapshot_free(NULL);
    CHECK_EQ(corio_rt_free(rt), 0);

    rt = new_mt_rt(3);
    CHECK_EQ(corio_rt_worker_metrics(rt, 2, &wm), 0);
    CHECK_EQ(corio_rt_worker_metrics(rt, 3, &wm), -EINVAL);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ==== the snapshot outlives its tasks and the runtime ======================= */

static int named_main(void *arg)
{
    corio_task_snapshot **out = arg;
    corio_spawn_opts o = {.name = "short-lived"};
    static atomic_int gate_flag;
    atomic_store(&gate_flag, 0);
    corio_task *t;
    CHECK_EQ(corio_spawn_with(&o, wait_gate, &gate_flag, &t), 0);
    CHECK_EQ(corio_rt_task_snapshot(corio_rt_current(), out), 0);
    atomic_store(&gate_flag, 1);
    CHECK_EQ(join_rc(t), 0);
    return 0;
}

TEST(rt_introspect_snapshot_outlives_its_tasks_and_runtime)
{
    for (int mt = 0; mt < 2; mt++) {
        corio_task_snapshot *s = NULL;
        CHECK_EQ(run_main_flavor(mt, named_main, &s), 0);
        /* The tasks and the runtime are freed: the strings are copies. */
        CHECK_EQ(s->n, 2u);
        int named = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (s->tasks[i].name) {
                CHECK_EQ(strcmp(s->tasks[i].name, "short-lived"), 0);
                CHECK_EQ(strcmp(s->tasks[i].func, "named_main"), 0);
                if (!mt) /* not run yet: its spawner has not let go */
                    CHECK_EQ((int)s->tasks[i].status, CORIO_TASK_QUEUED);
                named++;
            } else {
                CHECK_EQ(strcmp(s->tasks[i].func, "corio_rt_block_on"), 0);
                CHECK_EQ(strcmp(s->tasks[i].file, "<block_on>"), 0);
            }
        }
        CHECK_EQ(named, 1);
        corio_task_snapshot_free(s);
    }
}

/* A stackless task and a task spawned with no site at all. */
static corio_poll pending_poll(corio_future *f, corio_context *cx)
{
    (void)f;
    (void)cx;
    return CORIO_PENDING;
}
static const corio_future_vtable pending_vt = {pending_poll, NULL};

static int kinds_main(void *arg)
{
    (void)arg;
    corio_future fut;
    corio_future_init(&fut, &pending_vt);
    corio_task *fu, *nosite;
    atomic_int cleanups = 0;
    CHECK_EQ(corio_spawn_future(&fut, sizeof fut, &fu), 0);
    CHECK_EQ(corio_spawn_ex(NULL, NULL, sleep_long, &cleanups, &nosite), 0);
    settle();
    corio_task_snapshot *s;
    CHECK_EQ(corio_rt_task_snapshot(corio_rt_current(), &s), 0);
    const corio_task_info *a = find_id(s, corio_task_id(fu));
    const corio_task_info *b = find_id(s, corio_task_id(nosite));
    CHECK(a && b);
    CHECK(!a->coroutine);
    CHECK_EQ((int)a->status, CORIO_TASK_WAITING);
    CHECK(b->coroutine);
    CHECK_EQ(strcmp(b->file, "?"), 0);
    CHECK_EQ(strcmp(b->func, "?"), 0);
    CHECK_EQ(b->line, 0);
    corio_task_snapshot_free(s);
    corio_task_abort(fu);
    corio_task_abort(nosite);
    CHECK_EQ(corio_task_join(fu, NULL), CORIO_ECANCELED);
    CHECK_EQ(corio_task_join(nosite, NULL), CORIO_ECANCELED);
    CHECK_EQ(atomic_load(&cleanups), 1);
    return 0;
}

TEST(rt_introspect_snapshot_kinds_and_missing_site)
{
    CHECK_EQ(run_main_flavor(0, kinds_main, NULL), 0);
}

/* ==== readings from another thread while every worker is stuck ============== */

typedef struct stuck_ctx {
    atomic_int release;
    atomic_int spinning;
    corio_rt *rt;
    int workers;
} stuck_ctx;

static int stuck_spinner(void *arg)
{
    stuck_ctx *sc = arg;
    atomic_fetch_add(&sc->spinning, 1);
    return spin_until(&sc->release);
}

static int stuck_main(void *arg)
{
    stuck_ctx *sc = arg;
    /* Every worker but this one spins; then this one does too. */
    for (int i = 0; i < sc->workers - 1; i++)
        CHECK_EQ(corio_spawn(stuck_spinner, sc, NULL), 0);
    return stuck_spinner(sc);
}

static void *stuck_observer(void *arg)
{
    stuck_ctx *sc = arg;
    double t0 = mono_ms();
    while (atomic_load(&sc->spinning) < sc->workers && mono_ms() - t0 < 10000)
        sleep_ms(1);
    CHECK_EQ(atomic_load(&sc->spinning), sc->workers);
    /* Every worker is inside one poll that will not end before we say so:
     * the readings must not wait for any of them. */
    corio_metrics m;
    CHECK_EQ(corio_rt_metrics(sc->rt, &m), 0);
    CHECK_EQ(m.alive_tasks, (uint64_t)sc->workers);
    corio_task_snapshot *s;
    CHECK_EQ(corio_rt_task_snapshot(sc->rt, &s), 0);
    CHECK_EQ(s->n, (size_t)sc->workers);
    for (size_t i = 0; i < s->n; i++)
        CHECK_EQ((int)s->tasks[i].status, CORIO_TASK_RUNNING);
    corio_task_snapshot_free(s);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    CHECK_EQ(corio_rt_dump(sc->rt, f), 0);
    fclose(f);
    CHECK(strstr(buf, "(corio_rt_block_on)") != NULL);
    CHECK(sc->workers == 1 || strstr(buf, "(stuck_main)") != NULL);
    free(buf);
    atomic_store(&sc->release, 1);
    return NULL;
}

TEST(rt_introspect_answers_while_every_worker_is_stuck)
{
    for (int mt = 0; mt < 2; mt++) {
        corio_rt_builder b = flavor_builder(mt);
        stuck_ctx sc = {.workers = mt ? 2 : 1};
        CHECK_EQ(corio_rt_build(&b, &sc.rt), 0);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, stuck_observer, &sc), 0);
        int r = -1;
        CHECK_EQ(corio_rt_block_on(sc.rt, stuck_main, &sc, &r), 0);
        pthread_join(th, NULL);
        CHECK_EQ(corio_rt_free(sc.rt), 0);
    }
}

/* ==== each worker counter moves when its event happens ====================== */

static int overflow_main(void *arg)
{
    (void)arg;
    corio_rt *rt = corio_rt_current();
    corio_worker_metrics w0;
    CHECK_EQ(corio_rt_worker_metrics(rt, 0, &w0), 0);
    CHECK_EQ(w0.overflows, 0u);
    /* One worker, no await: ten spawns wait in its LIFO slot and queue. */
    for (int i = 0; i < 10; i++)
        CHECK_EQ(corio_spawn(nothing_main, NULL, NULL), 0);
    CHECK_EQ(corio_rt_worker_metrics(rt, 0, &w0), 0);
    CHECK_EQ(w0.local_queue_depth, 10u);
    /* More than its queue holds: half of it moves to the global queue. */
    for (int i = 0; i < 3000; i++)
        CHECK_EQ(corio_spawn(nothing_main, NULL, NULL), 0);
    corio_worker_metrics w1;
    CHECK_EQ(corio_rt_worker_metrics(rt, 0, &w1), 0);
    CHECK(w1.overflows >= 1);
    corio_metrics m;
    CHECK_EQ(corio_rt_metrics(rt, &m), 0);
    CHECK(m.global_queue_depth > 0);
    CHECK_EQ(w1.local_queue_depth + m.global_queue_depth, 3010u);
    CHECK_EQ(m.alive_tasks, 3011u);
    CHECK_EQ(w1.steals, 0u); /* nobody to steal from */
    return 0;
}

TEST(rt_introspect_overflow_and_queue_depths)
{
    corio_rt *rt = new_mt_rt(1);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, overflow_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

typedef struct steal_ctx {
    atomic_int started;
} steal_ctx;

static int steal_second(void *arg)
{
    atomic_fetch_add(&((steal_ctx *)arg)->started, 1);
    return 0;
}

/* Spawns a task, then spins until it has started: it can only run on the
 * other worker, which must take it from this one. */
static int steal_first(void *arg)
{
    steal_ctx *sc = arg;
    CHECK_EQ(corio_spawn(steal_second, sc, NULL), 0);
    double t0 = mono_ms();
    while (!atomic_load(&sc->started) && mono_ms() - t0 < 10000)
        ;
    CHECK_EQ(atomic_load(&sc->started), 1);
    return 0;
}

static int steal_main(void *arg)
{
    corio_rt *rt = corio_rt_current();
    corio_task *t;
    CHECK_EQ(corio_spawn(steal_first, arg, &t), 0);
    CHECK_EQ(join_rc(t), 0);
    uint64_t steals = 0, ops = 0, parks = 0;
    for (unsigned i = 0; i < 2; i++) {
        corio_worker_metrics w;
        CHECK_EQ(corio_rt_worker_metrics(rt, i, &w), 0);
        steals += w.steals;
        ops += w.steal_ops;
        parks += w.parks;
    }
    CHECK(ops >= 1);
    CHECK(steals >= ops);
    CHECK(parks >= 1); /* one worker waited while the other ran alone */
    return 0;
}

TEST(rt_introspect_steals_and_parks_are_counted)
{
    steal_ctx sc = {0};
    CHECK_EQ(run_main_flavor(1, steal_main, &sc), 0);
}

/* Busy time grows while a worker runs, stays while it sleeps, never goes
 * back, and stays within the wall time. */
static int busy_main(void *arg)
{
    (void)arg;
    corio_rt *rt = corio_rt_current();
    corio_metrics m;
    CHECK_EQ(corio_rt_metrics(rt, &m), 0);
    unsigned n = m.workers;
    uint64_t before[2] = {0}, after[2] = {0};
    double t0 = mono_ms(); /* around both readings: a bound on what they span */
    for (unsigned i = 0; i < n; i++) {
        corio_worker_metrics w;
        CHECK_EQ(corio_rt_worker_metrics(rt, i, &w), 0);
        before[i] = w.busy_ns;
    }
    busy_until(corio_instant_now() + CORIO_MSEC(30));
    CHECK_EQ(corio_sleep(CORIO_MSEC(30)), 0);
    corio_worker_metrics wa[2];
    for (unsigned i = 0; i < n; i++)
        CHECK_EQ(corio_rt_worker_metrics(rt, i, &wa[i]), 0);
    double wall_ns = (mono_ms() - t0) * 1e6;
    uint64_t grew = 0;
    for (unsigned i = 0; i < n; i++) {
        corio_worker_metrics w = wa[i];
        after[i] = w.busy_ns;
        CHECK(after[i] >= before[i]);
        CHECK((double)(after[i] - before[i]) <= wall_ns + 1e6);
        grew += after[i] - before[i];
    }
    CHECK(grew >= CORIO_MSEC(30)); /* the spin, on whichever worker ran it */
    return 0;
}

TEST(rt_introspect_busy_time)
{
    for (int mt = 0; mt < 2; mt++)
        CHECK_EQ(run_main_flavor(mt, busy_main, NULL), 0);
}

/* ==== the global queue, the blocking pool, the I/O driver =================== */

typedef struct inject_ctx {
    corio_rt *rt;
    atomic_int release, spinning;
    atomic_int seen_depth;
    atomic_int seen_alive, seen_spawned, seen_snapshot;
} inject_ctx;

static int inject_main(void *arg)
{
    inject_ctx *ic = arg;
    atomic_store(&ic->spinning, 1);
    return spin_until(&ic->release);
}

static void *inject_thread(void *arg)
{
    inject_ctx *ic = arg;
    double t0 = mono_ms();
    while (!atomic_load(&ic->spinning) && mono_ms() - t0 < 10000)
        sleep_ms(1);
    corio_spawn_opts o = {.rt = ic->rt};
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_spawn_with(&o, nothing_main, NULL, NULL), 0);
    corio_metrics m;
    CHECK_EQ(corio_rt_metrics(ic->rt, &m), 0);
    atomic_store(&ic->seen_depth, (int)m.global_queue_depth);
    atomic_store(&ic->seen_alive, (int)m.alive_tasks);
    atomic_store(&ic->seen_spawned, (int)m.spawned_tasks);
    corio_task_snapshot *s;
    CHECK_EQ(corio_rt_task_snapshot(ic->rt, &s), 0);
    atomic_store(&ic->seen_snapshot, (int)s->n);
    corio_task_snapshot_free(s);
    atomic_store(&ic->release, 1);
    return NULL;
}

TEST(rt_introspect_global_queue_depth_current_thread)
{
    /* The driving thread is stuck in its main task: tasks spawned by
     * another thread wait in the inject queue, and are counted there. */
    inject_ctx ic = {.rt = new_rt()};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, inject_thread, &ic), 0);
    CHECK_EQ(corio_rt_block_on(ic.rt, inject_main, &ic, NULL), 0);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&ic.seen_depth), 3);
    /* Not yet taken by the driver: counted in the inject queue only (the
     * header says so), neither alive nor spawned nor in the snapshot. */
    CHECK_EQ(atomic_load(&ic.seen_alive), 1);
    CHECK_EQ(atomic_load(&ic.seen_spawned), 1);
    CHECK_EQ(atomic_load(&ic.seen_snapshot), 1);
    /* The driver took them before block_on returned: spawned now. */
    corio_metrics m;
    CHECK_EQ(corio_rt_metrics(ic.rt, &m), 0);
    CHECK_EQ(m.spawned_tasks, 4u);
    CHECK_EQ(m.global_queue_depth, 0u);
    CHECK_EQ(corio_rt_free(ic.rt), 0);
}

/* The same on the multi-thread runtime: with both workers stuck, tasks
 * spawned from another thread wait in the global queue, and only there;
 * a worker adds them to the list of live tasks when it takes them. */
typedef struct gq_ctx {
    corio_rt *rt;
    atomic_int release, spinning;
    int seen_depth, seen_alive, seen_spawned, seen_snapshot;
} gq_ctx;

static int gq_spinner(void *arg)
{
    gq_ctx *gc = arg;
    atomic_fetch_add(&gc->spinning, 1);
    return spin_until(&gc->release);
}

static int gq_main(void *arg)
{
    gq_ctx *gc = arg;
    CHECK_EQ(corio_spawn(gq_spinner, gc, NULL), 0);
    gq_spinner(gc); /* with the other worker, until the observer has looked */
    /* Then the workers take the three in: spawned, and run. */
    corio_metrics m;
    double t0 = mono_ms();
    do {
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
        CHECK_EQ(corio_rt_metrics(gc->rt, &m), 0);
    } while ((m.spawned_tasks < 5 || m.alive_tasks > 2) && mono_ms() - t0 < 10000);
    CHECK_EQ(m.spawned_tasks, 5u);
    CHECK_EQ(m.global_queue_depth, 0u);
    return 0;
}

static void *gq_observer(void *arg)
{
    gq_ctx *gc = arg;
    double t0 = mono_ms();
    while (atomic_load(&gc->spinning) < 2 && mono_ms() - t0 < 10000)
        sleep_ms(1);
    CHECK_EQ(atomic_load(&gc->spinning), 2);
    corio_spawn_opts o = {.rt = gc->rt};
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_spawn_with(&o, nothing_main, NULL, NULL), 0);
    corio_metrics m;
    CHECK_EQ(corio_rt_metrics(gc->rt, &m), 0);
    gc->seen_depth = (int)m.global_queue_depth;
    gc->seen_alive = (int)m.alive_tasks;
    gc->seen_spawned = (int)m.spawned_tasks;
    corio_task_snapshot *s;
    CHECK_EQ(corio_rt_task_snapshot(gc->rt, &s), 0);
    gc->seen_snapshot = (int)s->n;
    corio_task_snapshot_free(s);
    atomic_store(&gc->release, 1);
    return NULL;
}

TEST(rt_introspect_global_queue_depth_multi_thread)
{
    corio_rt_builder b = flavor_builder(1);
    gq_ctx gc = {0};
    CHECK_EQ(corio_rt_build(&b, &gc.rt), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, gq_observer, &gc), 0);
    CHECK_EQ(corio_rt_block_on(gc.rt, gq_main, &gc, NULL), 0);
    pthread_join(th, NULL);
    CHECK_EQ(gc.seen_depth, 3);
    CHECK_EQ(gc.seen_alive, 2); /* main and its spinner */
    CHECK_EQ(gc.seen_spawned, 2);
    CHECK_EQ(gc.seen_snapshot, 2);
    CHECK_EQ(corio_rt_free(gc.rt), 0);
}

static int blocking_wait(void *arg)
{
    atomic_int *gate_flag = arg;
    double t0 = mono_ms();
    while (!atomic_load(gate_flag) && mono_ms() - t0 < 10000)
        sleep_ms(1);
    return 0;
}

/* A descriptor registered with the driver counts while it is open. */
static int io_fds_main(void *arg)
{
    uint64_t fds0 = *(uint64_t *)arg;
    corio_rt *rt = corio_rt_current();
    corio_metrics m;
    CHECK_EQ(corio_rt_metrics(rt, &m), 0);
    uint64_t base = m.io_fds; /* the runtime's own, made at its first turn */
    CHECK(base >= fds0);
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    corio_fd *fd;
    CHECK_EQ(corio_fd_open(fds[0], &fd), 0);
    CHECK_EQ(corio_rt_metrics(rt, &m), 0);
    CHECK_EQ(m.io_fds, base + 1);
    CHECK_EQ(corio_fd_close(fd), 0);
    close(fds[1]);
    CHECK_EQ(corio_rt_metrics(rt, &m), 0);
    CHECK_EQ(m.io_fds, base);
    return 0;
}

TEST(rt_introspect_blocking_pool_and_io_fds)
{
    corio_rt_builder b = corio_rt_builder_current_thread();
    b.max_blocking_threads = 1;
    corio_rt *rt;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    corio_metrics m;
    CHECK_EQ(corio_rt_metrics(rt, &m), 0);
    CHECK_EQ(m.blocking_threads, 0u);
    uint64_t fds0 = m.io_fds;

    atomic_int gate_flag = 0;
    corio_spawn_opts o = {.rt = rt};
    corio_task *j[3];
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_spawn_blocking_with(&o, blocking_wait, &gate_flag, &j[i]), 0);
    /* One thread (the limit) runs the first job; two wait for it. */
    double t0 = mono_ms();
    do {
        CHECK_EQ(corio_rt_metrics(rt, &m), 0);
    } while ((m.blocking_threads != 1 || m.blocking_queue_depth != 2) && mono_ms() - t0 < 10000);
    CHECK_EQ(m.blocking_threads, 1u);
    CHECK_EQ(m.idle_blocking_threads, 0u);
    CHECK_EQ(m.blocking_queue_depth, 2u);
    atomic_store(&gate_flag, 1);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_task_join(j[i], NULL), 0);
    t0 = mono_ms();
    do {
        CHECK_EQ(corio_rt_metrics(rt, &m), 0);
    } while (m.idle_blocking_threads != 1 && mono_ms() - t0 < 10000);
    CHECK_EQ(m.idle_blocking_threads, 1u); /* done, waiting for the next */
    CHECK_EQ(m.blocking_queue_depth, 0u);

    CHECK_EQ(corio_rt_block_on(rt, io_fds_main, &fds0, NULL), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ==== the dump ================================================================ */

static int dump_main(void *arg)
{
    char **out = arg;
    static atomic_int gate_flag;
    atomic_store(&gate_flag, 0);
    corio_task *h[6];
    for (int i = 0; i < 5; i++)
        CHECK_EQ(corio_spawn(wait_gate, &gate_flag, &h[i]), 0);
    corio_spawn_opts o = {.name = "lonely"};
    CHECK_EQ(corio_spawn_with(&o, wait_gate, &gate_flag, &h[5]), 0);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    size_t len = 0;
    FILE *f = open_memstream(out, &len);
    CHECK(f != NULL);
    CHECK_EQ(corio_rt_dump(corio_rt_current(), f), 0);
    fclose(f);
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        CHECK_EQ(corio_rt_dump(corio_rt_current(), full), -EIO);
        fclose(full);
    }
    atomic_store(&gate_flag, 1);
    for (int i = 0; i < 6; i++)
        CHECK_EQ(join_rc(h[i]), 0);
    return 0;
}

TEST(rt_introspect_dump_groups_tasks_by_site)
{
    char *buf = NULL;
    CHECK_EQ(run_main_flavor(0, dump_main, &buf), 0);
    CHECK(buf != NULL);
    CHECK(strstr(buf, "current-thread, 1 worker\n") != NULL);
    CHECK(strstr(buf, "tasks: 7 alive, 7 spawned") != NULL);
    CHECK(strstr(buf, "worker 0: ") != NULL);
    CHECK(strstr(buf, "7 live tasks by spawn site") != NULL);
    /* The five unnamed waiters are one group, the largest, listed first;
     * the named one and the main task are groups of their own, with ids. */
    char *five = strstr(buf, "        5 ");
    char *lonely = strstr(buf, "\"lonely\"");
    char *mainline = strstr(buf, "<block_on>:0 (corio_rt_block_on)");
    CHECK(five && lonely && mainline);
    CHECK(five < lonely && five < mainline);
    CHECK(strstr(five, "(dump_main)") != NULL);
    char *eol = strchr(five, '\n');
    CHECK(eol && !memmem(five, (size_t)(eol - five), ", id", 4)); /* 5 > DUMP_IDS */
    CHECK(strstr(lonely, ", id ") != NULL);
    free(buf);
}

/* ==== stress: snapshots racing spawns and completions ======================== */

typedef struct race_ctx {
    corio_rt *rt;
    int max_live; /* see race_reader */
    int rounds;   /* race_main's */
    atomic_int stop;
    atomic_long snaps;
} race_ctx;

static int race_child(void *arg)
{
    (void)arg;
    corio_yield();
    return 0;
}

static int race_main(void *arg)
{
    race_ctx *rc = arg;
    int rounds = SCALE(300, 100, 40);
    corio_spawn_opts named = {.name = "race-child"};
    /* The rounds, and more until the reader has had its share of them (a
     * loaded machine may not have run it yet). */
    double t0 = mono_ms();
    for (int r = 0; r < rounds || (atomic_load(&rc->snaps) < 20 && mono_ms() - t0 < 10000);
         r++) {
        rc->rounds = r + 1;
        corio_task *h[32];
        for (int i = 0; i < 32; i++)
            CHECK_EQ(corio_spawn_with(i % 3 ? NULL : &named, race_child, NULL, &h[i]), 0);
        for (int i = 0; i < 32; i++)
            CHECK_EQ(join_rc(h[i]), 0);
    }
    atomic_store(&rc->stop, 1);
    return 0;
}

static void *race_reader(void *arg)
{
    race_ctx *rc = arg;
    FILE *null = fopen("/dev/null", "w");
    CHECK(null != NULL);
    while (!atomic_load(&rc->stop)) {
        corio_metrics m;
        CHECK_EQ(corio_rt_metrics(rc->rt, &m), 0);
        /* At most main and its 32 children live at any moment; but each
         * part of the runtime's list (one for the current-thread runtime,
         * 8 on 2 workers) is read at its own moment: main may have moved
         * on to its next round, its task ids to another part, in between. */
        CHECK(m.alive_tasks <= (uint64_t)rc->max_live);
        corio_task_snapshot *s;
        CHECK_EQ(corio_rt_task_snapshot(rc->rt, &s), 0);
        CHECK(s->n <= (size_t)rc->max_live);
        for (size_t i = 0; i < s->n; i++) {
            const corio_task_info *t = &s->tasks[i];
            CHECK((int)t->status >= 0 && (int)t->status <= CORIO_TASK_FINISHED);
            CHECK(t->file && t->func);
            CHECK(!t->name || strcmp(t->name, "race-child") == 0);
            for (size_t k = 0; k < i; k++)
                CHECK(s->tasks[k].id != t->id);
        }
        corio_task_snapshot_free(s);
        for (unsigned i = 0; i < m.workers; i++) {
            corio_worker_metrics w;
            CHECK_EQ(corio_rt_worker_metrics(rc->rt, i, &w), 0);
        }
        if (atomic_fetch_add(&rc->snaps, 1) % 16 == 0)
            CHECK_EQ(corio_rt_dump(rc->rt, null), 0);
    }
    fclose(null);
    return NULL;
}

TEST(rt_introspect_stress_snapshots_race_spawns_and_completions)
{
    for (int mt = 0; mt < 2; mt++) {
        corio_rt_builder b = flavor_builder(mt);
        race_ctx rc = {.max_live = mt ? 8 * 33 : 33};
        CHECK_EQ(corio_rt_build(&b, &rc.rt), 0);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, race_reader, &rc), 0);
        CHECK_EQ(corio_rt_block_on(rc.rt, race_main, &rc, NULL), 0);
        pthread_join(th, NULL);
        corio_metrics m;
        CHECK_EQ(corio_rt_metrics(rc.rt, &m), 0);
        CHECK_EQ(m.alive_tasks, 0u);
        CHECK(atomic_load(&rc.snaps) >= 20);
        CHECK_EQ(m.spawned_tasks, 1u + 32u * (uint64_t)rc.rounds);
        CHECK_EQ(corio_rt_free(rc.rt), 0);
    }
}

/* ==== task hooks ============================================================== */

#define HOOK_MAX 4096

typedef struct hook_log {
    pthread_mutex_t mu;
    uint64_t spawned[HOOK_MAX], ended[HOOK_MAX];
    int n_spawned, n_ended;
    int named_spawns;     /* spawns whose name was readable in the hook */
    pthread_t spawn_thread[HOOK_MAX];
} hook_log;

static hook_log hooks;

static void on_spawn(corio_task *t, void *arg)
{
    CHECK(arg == &hooks);
    pthread_mutex_lock(&hooks.mu);
    CHECK(hooks.n_spawned < HOOK_MAX);
    hooks.spawn_thread[hooks.n_spawned] = pthread_self();
    hooks.spawned[hooks.n_spawned++] = corio_task_id(t);
    const char *name = corio_task_name(t);
    if (name && strcmp(name, "hooked") == 0)
        hooks.named_spawns++;
    pthread_mutex_unlock(&hooks.mu);
}

static void on_terminate(corio_task *t, void *arg)
{
    CHECK(arg == &hooks);
    pthread_mutex_lock(&hooks.mu);
    uint64_t id = corio_task_id(t);
    bool seen = false;
    for (int i = 0; i < hooks.n_spawned && !seen; i++)
        seen = hooks.spawned[i] == id;
    CHECK(seen); /* spawn first */
    for (int i = 0; i < hooks.n_ended; i++)
        CHECK(hooks.ended[i] != id); /* once */
    CHECK(hooks.n_ended < HOOK_MAX);
    hooks.ended[hooks.n_ended++] = id;
    pthread_mutex_unlock(&hooks.mu);
}

static bool hook_ended(uint64_t id)
{
    pthread_mutex_lock(&hooks.mu);
    bool found = false;
    for (int i = 0; i < hooks.n_ended && !found; i++)
        found = hooks.ended[i] == id;
    pthread_mutex_unlock(&hooks.mu);
    return found;
}

typedef struct hooks_ctx {
    corio_rt *rt;
    atomic_int cleanups, refused;
    pthread_t foreign;
} hooks_ctx;

/* Sleeps until the shutdown cancels it, then tries to spawn from its
 * cleanup: refused, and no hook may hear of it. */
static int hooked_sleeper(void *arg)
{
    hooks_ctx *hc = arg;
    int rc = corio_sleep(CORIO_SEC(30));
    CHECK_EQ(rc, CORIO_ECANCELED);
    if (corio_spawn(nothing_main, NULL, NULL) == CORIO_ESHUTDOWN)
        atomic_fetch_add(&hc->refused, 1);
    atomic_fetch_add(&hc->cleanups, 1);
    return 0;
}

static void *hooks_foreign_spawner(void *arg)
{
    hooks_ctx *hc = arg;
    corio_spawn_opts o = {.rt = hc->rt};
    corio_task *t;
    CHECK_EQ(corio_spawn_with(&o, nothing_main, NULL, &t), 0);
    CHECK_EQ(corio_task_join(t, NULL), 0);
    return NULL;
}

static int hooks_main(void *arg)
{
    hooks_ctx *hc = arg;
    corio_spawn_opts named = {.name = "hooked"};
    for (int i = 0; i < 50; i++) {
        corio_task *t;
        CHECK_EQ(corio_spawn_with(i % 5 ? NULL : &named, nothing_main, NULL, &t), 0);
        uint64_t id = corio_task_id(t);
        CHECK_EQ(join_rc(t), 0);
        CHECK(hook_ended(id)); /* before the join returned */
    }
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_spawn(hooked_sleeper, hc, NULL), 0);
    /* A spawn from a plain thread (heard on the thread that takes the task
     * in: this, the driving thread, or a worker). */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, hooks_foreign_spawner, hc), 0);
    hc->foreign = th;
    double t0 = mono_ms();
    for (;;) {
        pthread_mutex_lock(&hooks.mu);
        int n = hooks.n_ended;
        pthread_mutex_unlock(&hooks.mu);
        if (n >= 51 || mono_ms() - t0 > 10000)
            break;
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    pthread_join(th, NULL);
    return 0;
}

TEST(rt_task_hooks_hear_each_task_once_spawn_first)
{
    for (int mt = 0; mt < 2; mt++) {
        memset(&hooks, 0, sizeof hooks);
        pthread_mutex_init(&hooks.mu, NULL);
        corio_rt_builder b = flavor_builder(mt);
        b.on_task_spawn = on_spawn;
        b.on_task_terminate = on_terminate;
        b.task_hook_arg = &hooks;
        hooks_ctx hc = {0};
        CHECK_EQ(corio_rt_build(&b, &hc.rt), 0);
        int r = -1;
        CHECK_EQ(corio_rt_block_on(hc.rt, hooks_main, &hc, &r), 0);
        CHECK_EQ(corio_rt_free(hc.rt), 0);
        CHECK_EQ(atomic_load(&hc.cleanups), 3);
        CHECK_EQ(atomic_load(&hc.refused), 3);
        /* main + 50 + 3 sleepers + the foreign one; the refused spawns
         * are in neither list */
        CHECK_EQ(hooks.n_spawned, 55);
        CHECK_EQ(hooks.n_ended, 55);
        CHECK_EQ(hooks.named_spawns, 10);
        /* Every spawn hook ran on the driving thread, this one, or on a
         * worker: main and the foreign task came from outside. */
        for (int i = 0; i < hooks.n_spawned; i++) {
            CHECK(mt != !!pthread_equal(hooks.spawn_thread[i], pthread_self()));
            CHECK(!pthread_equal(hooks.spawn_thread[i], hc.foreign));
        }
        pthread_mutex_destroy(&hooks.mu);
    }
}

/* A hook may spawn: a terminate hook that starts a follow-up task once. */
static atomic_int followups;

static int followup_task(void *arg)
{
    (void)arg;
    atomic_fetch_add(&followups, 1);
    return 0;
}

static void spawn_followup(corio_task *t, void *arg)
{
    (void)arg;
    const char *name = corio_task_name(t);
    if (name && strcmp(name, "first") == 0)
        CHECK_EQ(corio_spawn(followup_task, NULL, NULL), 0);
}

static int followup_main(void *arg)
{
    (void)arg;
    corio_spawn_opts o = {.name = "first"};
    corio_task *t;
    CHECK_EQ(corio_spawn_with(&o, nothing_main, NULL, &t), 0);
    CHECK_EQ(join_rc(t), 0);
    double t0 = mono_ms();
    while (atomic_load(&followups) == 0 && mono_ms() - t0 < 10000)
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    CHECK_EQ(atomic_load(&followups), 1);
    return 0;
}

TEST(rt_task_hook_may_spawn)
{
    for (int mt = 0; mt < 2; mt++) {
        atomic_store(&followups, 0);
        corio_rt_builder b = flavor_builder(mt);
        b.on_task_terminate = spawn_followup;
        corio_rt *rt;
        CHECK_EQ(corio_rt_build(&b, &rt), 0);
        CHECK_EQ(corio_rt_block_on(rt, followup_main, NULL, NULL), 0);
        CHECK_EQ(corio_rt_free(rt), 0);
    }
}
