/* tests/test_rt_mt_stress.c - the multi-thread scheduler under stress: a
 * million spawns across workers, ping-pong between tasks that wake each
 * other from different workers, wakes from plain threads, aborts racing the
 * completion of the task aborted, and shutdown while every worker is busy.
 *
 * Each is repeated enough (and run under ASan and TSan by CI) to catch a
 * lost wakeup, a task run twice or never, a use after free. A lost wakeup
 * shows as a stall: the waits here are bounded in time, and a stall fails
 * with what was left.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <corio.h>

#include "test.h"
#include "util.h"

/* Wait, from a task, until *counter reaches `want` (1 ms sleeps; fails when
 * it has not moved for `stall_ms`). */
static void wait_count(atomic_long *counter, long want, const char *what, double stall_ms)
{
    long last = -1;
    double since = mono_ms();
    for (;;) {
        long now = atomic_load(counter);
        if (now >= want)
            return;
        if (now != last) {
            last = now;
            since = mono_ms();
        } else if (mono_ms() - since > stall_ms) {
            test_failf(__FILE__, __LINE__, "%s: stuck at %ld of %ld for %.0f ms", what, now, want,
                       stall_ms);
        }
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
}

/* ==== a million spawns ======================================================= */

/* Spawner tasks (more than workers, so they spread) spawn batches of
 * coroutines and stackless tasks, join them, and go on; the spawned tasks
 * count themselves and the threads they ran on. */
enum { MS_SPAWNERS = 8, MS_BATCH = 64 };

typedef struct ms_ctx {
    long per_spawner;
    atomic_long ran;
    atomic_long joined;
    _Atomic pthread_t threads[4];
    atomic_int nthreads;
} ms_ctx;

static void note_thread(ms_ctx *mc)
{
    pthread_t me = pthread_self();
    int n = atomic_load(&mc->nthreads);
    for (int i = 0; i < n && i < 4; i++)
        if (pthread_equal(atomic_load(&mc->threads[i]), me))
            return;
    int i = atomic_fetch_add(&mc->nthreads, 1);
    if (i < 4)
        atomic_store(&mc->threads[i], me);
}

static int ms_coro(void *arg)
{
    ms_ctx *mc = arg;
    if ((atomic_fetch_add(&mc->ran, 1) & 1023) == 0)
        note_thread(mc);
    return 3;
}

typedef struct ms_fut {
    corio_future base;
    ms_ctx *mc;
} ms_fut;

static corio_poll ms_fut_poll(corio_future *f, corio_context *cx)
{
    ms_fut *m = (ms_fut *)f;
    atomic_fetch_add(&m->mc->ran, 1);
    f->result = 4;
    return CORIO_READY;
}
static const corio_future_vtable ms_fut_vt = {ms_fut_poll, NULL};

static int ms_spawner(void *arg)
{
    ms_ctx *mc = arg;
    corio_task *ts[MS_BATCH];
    for (long done = 0; done < mc->per_spawner; done += MS_BATCH) {
        for (int i = 0; i < MS_BATCH; i++) {
            if (i & 1) {
                ms_fut f = {{&ms_fut_vt, 0}, mc};
                CHECK_EQ(corio_spawn_future(&f.base, sizeof f, &ts[i]), 0);
            } else {
                CHECK_EQ(corio_spawn(ms_coro, mc, &ts[i]), 0);
            }
        }
        for (int i = 0; i < MS_BATCH; i++) {
            int r = 0;
            CHECK_EQ(corio_task_join(ts[i], &r), 0);
            CHECK_EQ(r, (i & 1) ? 4 : 3);
        }
        atomic_fetch_add(&mc->joined, MS_BATCH);
    }
    return 0;
}

static int ms_main(void *arg)
{
    ms_ctx *mc = arg;
    corio_task *sp[MS_SPAWNERS];
    for (int i = 0; i < MS_SPAWNERS; i++)
        CHECK_EQ(corio_spawn(ms_spawner, mc, &sp[i]), 0);
    wait_count(&mc->joined, mc->per_spawner * MS_SPAWNERS, "spawned tasks joined", 10000);
    for (int i = 0; i < MS_SPAWNERS; i++)
        CHECK_EQ(corio_task_join(sp[i], NULL), 0);
    return 0;
}

TEST_T(rt_mt_stress_million_spawns_across_workers, 120, 0)
{
    ms_ctx mc;
    memset(&mc, 0, sizeof mc);
    long total = SCALE(1000000, 200000, 40000);
    mc.per_spawner = total / MS_SPAWNERS / MS_BATCH * MS_BATCH;
    corio_rt *rt = new_mt_rt(2);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, ms_main, &mc, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK_EQ(atomic_load(&mc.ran), mc.per_spawner * MS_SPAWNERS);
    /* Both workers took part. */
    CHECK(atomic_load(&mc.nthreads) >= 2);
}

/* ==== ping-pong between tasks ================================================= */

/* Pairs of tasks pass a ball back and forth through two slots: each side
 * completes the other's slot (waking it, usually on another worker) and
 * awaits its own. A lost wakeup stops a pair for good. */
enum { PP_PAIRS = 4 };

typedef struct pp_side {
    slot *mine, *theirs;
    int rounds;
    atomic_long *progress;
    bool serve;
} pp_side;

static void slot_rearm(slot *s)
{
    pthread_mutex_lock(&s->mu);
    s->ready = false;
    pthread_mutex_unlock(&s->mu);
}

static int pp_player(void *arg)
{
    pp_side *ps = arg;
    for (int i = 0; i < ps->rounds; i++) {
        if (ps->serve) {
            slot_rearm(ps->mine); /* before the other side can complete it */
            slot_complete(ps->theirs, i);
            slot_fut f;
            slot_fut_init(&f, ps->mine);
            CHECK_EQ(corio_await(&f.base), 0);
            CHECK_EQ(f.base.result, i);
        } else {
            slot_fut f;
            slot_fut_init(&f, ps->mine);
            CHECK_EQ(corio_await(&f.base), 0);
            CHECK_EQ(f.base.result, i);
            slot_rearm(ps->mine);
            slot_complete(ps->theirs, i);
        }
        atomic_fetch_add(ps->progress, 1);
    }
    return 0;
}

typedef struct ppm_ctx {
    slot s[PP_PAIRS][2];
    pp_side side[PP_PAIRS][2];
    atomic_long progress;
    int rounds;
} ppm_ctx;

static int ppm_main(void *arg)
{
    ppm_ctx *pc = arg;
    corio_task *ts[PP_PAIRS][2];
    for (int p = 0; p < PP_PAIRS; p++)
        for (int k = 0; k < 2; k++)
            CHECK_EQ(corio_spawn(pp_player, &pc->side[p][k], &ts[p][k]), 0);
    wait_count(&pc->progress, 2L * PP_PAIRS * pc->rounds, "ping-pong rounds (a lost wakeup?)",
               5000);
    for (int p = 0; p < PP_PAIRS; p++)
        for (int k = 0; k < 2; k++)
            CHECK_EQ(corio_task_join(ts[p][k], NULL), 0);
    return 0;
}

TEST_T(rt_mt_stress_ping_pong_across_workers, 120, 0)
{
    static ppm_ctx pc;
    memset(&pc, 0, sizeof pc);
    pc.rounds = SCALE(50000, 10000, 5000);
    for (int p = 0; p < PP_PAIRS; p++) {
        slot_init(&pc.s[p][0]);
        slot_init(&pc.s[p][1]);
        for (int k = 0; k < 2; k++)
            pc.side[p][k] = (pp_side){&pc.s[p][k], &pc.s[p][!k], pc.rounds, &pc.progress, k == 0};
    }
    for (int round = 0; round < 3; round++) {
        atomic_store(&pc.progress, 0);
        for (int p = 0; p < PP_PAIRS; p++)
            for (int k = 0; k < 2; k++)
                slot_rearm(&pc.s[p][k]);
        corio_rt *rt = new_mt_rt(round == 2 ? 3 : 2);
        int r = -1;
        CHECK_EQ(corio_rt_block_on(rt, ppm_main, &pc, &r), 0);
        CHECK_EQ(r, 0);
        CHECK_EQ(corio_rt_free(rt), 0);
    }
    for (int p = 0; p < PP_PAIRS; p++) {
        slot_destroy(&pc.s[p][0]);
        slot_destroy(&pc.s[p][1]);
    }
}

/* ==== wakes from plain threads ================================================ */

/* Plain threads each serve one task: the task raises its ball and awaits
 * its slot; the thread sees the ball (spinning, then sched_yield) and
 * completes the slot from outside the runtime. */
enum { FW_THREADS = 3 };

typedef struct fw_pair {
    slot s;
    atomic_int ball; /* 1: the task waits; 0: served; -1: done */
    int rounds;
    atomic_long *progress;
} fw_pair;

static void *fw_thread(void *arg)
{
    fw_pair *fp = arg;
    unsigned spins = 0;
    int value = 0;
    for (;;) {
        int b = atomic_load(&fp->ball);
        if (b < 0)
            return NULL;
        if (b == 0) {
            if (++spins > 200) {
                sched_yield();
                spins = 0;
            }
            continue;
        }
        atomic_store(&fp->ball, 0);
        slot_complete(&fp->s, ++value);
    }
}

static int fw_task(void *arg)
{
    fw_pair *fp = arg;
    for (int i = 1; i <= fp->rounds; i++) {
        slot_rearm(&fp->s);
        atomic_store(&fp->ball, 1);
        slot_fut f;
        slot_fut_init(&f, &fp->s);
        CHECK_EQ(corio_await(&f.base), 0);
        CHECK_EQ(f.base.result, i);
        atomic_fetch_add(fp->progress, 1);
    }
    atomic_store(&fp->ball, -1);
    return 0;
}

typedef struct fw_ctx {
    fw_pair pair[FW_THREADS];
    atomic_long progress;
} fw_ctx;

static int fw_main(void *arg)
{
    fw_ctx *fc = arg;
    corio_task *ts[FW_THREADS];
    for (int i = 0; i < FW_THREADS; i++)
        CHECK_EQ(corio_spawn(fw_task, &fc->pair[i], &ts[i]), 0);
    wait_count(&fc->progress, (long)FW_THREADS * fc->pair[0].rounds,
               "foreign wakes (a lost wakeup?)", 5000);
    for (int i = 0; i < FW_THREADS; i++)
        CHECK_EQ(corio_task_join(ts[i], NULL), 0);
    return 0;
}

TEST_T(rt_mt_stress_wakes_from_plain_threads, 120, 0)
{
    static fw_ctx fc;
    memset(&fc, 0, sizeof fc);
    pthread_t th[FW_THREADS];
    for (int i = 0; i < FW_THREADS; i++) {
        slot_init(&fc.pair[i].s);
        fc.pair[i].rounds = SCALE(20000, 5000, 2000);
        fc.pair[i].progress = &fc.progress;
        CHECK_EQ(pthread_create(&th[i], NULL, fw_thread, &fc.pair[i]), 0);
    }
    corio_rt *rt = new_mt_rt(2);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, fw_main, &fc, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    for (int i = 0; i < FW_THREADS; i++) {
        pthread_join(th[i], NULL);
        slot_destroy(&fc.pair[i].s);
    }
}

/* ==== abort racing completion ================================================= */

/* Tasks that finish at once are aborted right after their spawn, by the
 * spawning task or by a plain thread holding the handles. Every coroutine
 * runs (one aborted before its first run still starts, to run its
 * cleanup), and every join reports either its result or the cancellation. */
enum { AB_BATCH = 32 };

typedef struct ab_ctx {
    atomic_long ran;
    atomic_long cancelled;
    atomic_long completed;
    corio_task *_Atomic handoff[AB_BATCH];
    atomic_int handoff_ready;
    atomic_int stop;
} ab_ctx;

static int ab_quick(void *arg)
{
    ab_ctx *ac = arg;
    atomic_fetch_add(&ac->ran, 1);
    int rc = corio_yield(); /* an await: sees a cancellation that came first */
    return rc == 0 ? 7 : rc;
}

static void ab_account(ab_ctx *ac, int jrc, int r)
{
    if (jrc == 0) {
        CHECK_EQ(r, 7);
        atomic_fetch_add(&ac->completed, 1);
    } else {
        CHECK_EQ(jrc, CORIO_ECANCELED);
        atomic_fetch_add(&ac->cancelled, 1);
    }
}

/* A plain thread: aborts the batch handed over, then hands it back. */
static void *ab_thread(void *arg)
{
    ab_ctx *ac = arg;
    while (!atomic_load(&ac->stop)) {
        if (atomic_load(&ac->handoff_ready) != 1) {
            sched_yield();
            continue;
        }
        for (int i = AB_BATCH - 1; i >= 0; i--)
            corio_task_abort(atomic_load(&ac->handoff[i]));
        atomic_store(&ac->handoff_ready, 2);
    }
    return NULL;
}

static int ab_main(void *arg)
{
    ab_ctx *ac = arg;
    int rounds = SCALE(2000, 400, 150);
    for (int round = 0; round < rounds; round++) {
        corio_task *ts[AB_BATCH];
        bool by_thread = round & 1;
        for (int i = 0; i < AB_BATCH; i++) {
            CHECK_EQ(corio_spawn(ab_quick, ac, &ts[i]), 0);
            if (!by_thread && (i % 3) != 2)
                corio_task_abort(ts[i]);
        }
        if (by_thread) {
            for (int i = 0; i < AB_BATCH; i++)
                atomic_store(&ac->handoff[i], ts[i]);
            atomic_store(&ac->handoff_ready, 1);
            while (atomic_load(&ac->handoff_ready) != 2)
                CHECK_EQ(corio_yield(), 0);
            atomic_store(&ac->handoff_ready, 0);
        }
        for (int i = 0; i < AB_BATCH; i++) {
            int r = 0;
            int jrc = corio_task_join(ts[i], &r);
            ab_account(ac, jrc, r);
        }
    }
    return rounds * AB_BATCH;
}

TEST_T(rt_mt_stress_abort_races_completion, 120, 0)
{
    static ab_ctx ac;
    memset(&ac, 0, sizeof ac);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, ab_thread, &ac), 0);
    corio_rt *rt = new_mt_rt(2);
    int total = -1;
    CHECK_EQ(corio_rt_block_on(rt, ab_main, &ac, &total), 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    atomic_store(&ac.stop, 1);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&ac.ran), total);
    CHECK_EQ(atomic_load(&ac.completed) + atomic_load(&ac.cancelled), total);
    CHECK(atomic_load(&ac.cancelled) > 0);
    printf("%d tasks: %ld completed, %ld cancelled\n", total, atomic_load(&ac.completed),
           atomic_load(&ac.cancelled));
}

/* ==== shutdown while every worker is busy ===================================== */

/* Tasks that yield in a loop (keeping every worker busy), tasks that spin
 * between yields, tasks asleep and stackless tasks pending forever; the
 * runtime is freed from the plain thread that built it while they run.
 * Every coroutine's cleanup runs, every stackless future is dropped, and the
 * free returns. Repeated, so that the shutdown lands at every point of the
 * workers' loops. */
typedef struct sb_ctx {
    atomic_int started;
    atomic_int cleaned;
    atomic_int dropped;
} sb_ctx;

/* Stackless, pending forever (stores its waker); counts its drop. */
typedef struct sb_fut {
    corio_future base;
    sb_ctx *sc;
    corio_waker w;
} sb_fut;

static corio_poll sb_fut_poll(corio_future *f, corio_context *cx)
{
    sb_fut *b = (sb_fut *)f;
    corio_waker_store(&b->w, cx->waker);
    return CORIO_PENDING;
}

static void sb_fut_drop(corio_future *f)
{
    sb_fut *b = (sb_fut *)f;
    corio_waker_drop(&b->w);
    atomic_fetch_add(&b->sc->dropped, 1);
}
static const corio_future_vtable sb_fut_vt = {sb_fut_poll, sb_fut_drop};

static int sb_yielder(void *arg)
{
    sb_ctx *sc = arg;
    atomic_fetch_add(&sc->started, 1);
    int rc;
    while ((rc = corio_yield()) == 0) {
    }
    CHECK_EQ(rc, CORIO_ECANCELED);
    atomic_fetch_add(&sc->cleaned, 1);
    return 0;
}

static int sb_spinner(void *arg)
{
    sb_ctx *sc = arg;
    atomic_fetch_add(&sc->started, 1);
    int rc;
    do
        busy_until(corio_instant_now() + CORIO_USEC(200));
    while ((rc = corio_yield()) == 0);
    CHECK_EQ(rc, CORIO_ECANCELED);
    atomic_fetch_add(&sc->cleaned, 1);
    return 0;
}

static int sb_sleeper(void *arg)
{
    sb_ctx *sc = arg;
    atomic_fetch_add(&sc->started, 1);
    CHECK_EQ(corio_sleep(CORIO_SEC(3600)), CORIO_ECANCELED);
    atomic_fetch_add(&sc->cleaned, 1);
    return 0;
}

TEST_T(rt_mt_stress_shutdown_while_workers_busy, 120, 0)
{
    int rounds = SCALE(40, 15, 8);
    for (int round = 0; round < rounds; round++) {
        sb_ctx sc;
        memset(&sc, 0, sizeof sc);
        corio_rt *rt = new_mt_rt(2 + round % 2);
        corio_spawn_opts o = {.rt = rt};
        int coros = 0;
        for (int i = 0; i < 6; i++, coros++)
            CHECK_EQ(corio_spawn_with(&o, sb_yielder, &sc, NULL), 0);
        for (int i = 0; i < 3; i++, coros++)
            CHECK_EQ(corio_spawn_with(&o, sb_spinner, &sc, NULL), 0);
        for (int i = 0; i < 20; i++, coros++)
            CHECK_EQ(corio_spawn_with(&o, sb_sleeper, &sc, NULL), 0);
        for (int i = 0; i < 8; i++) {
            sb_fut f = {{&sb_fut_vt, 0}, &sc, CORIO_WAKER_NONE};
            CHECK_EQ(corio_spawn_future_with(&o, &f.base, sizeof f, NULL), 0);
        }
        /* Let them start (some rounds shut down before all have). */
        double t0 = mono_ms();
        while (round % 4 != 3 && atomic_load(&sc.started) < coros && mono_ms() - t0 < 10000)
            sleep_ms(1);
        if (round % 4 != 3)
            CHECK_EQ(atomic_load(&sc.started), coros);
        CHECK_EQ(corio_rt_free(rt), 0);
        CHECK_EQ(atomic_load(&sc.cleaned), coros);
        CHECK_EQ(atomic_load(&sc.dropped), 8);
    }
}
