/* tests/test_task_handles_stress.c - join handles and structured
 * concurrency on the multi-thread runtime, driven from plain threads and
 * tasks at once: a join interrupted while its task completes, a select of
 * two joins whose tasks finish together on different workers, a
 * task_join_all interrupted while its tasks complete, and a scope whose
 * children keep spawning into it while a sibling cancels it (from a task
 * and from a plain thread's scope). Each iteration checks the header's
 * promise exactly; a lost wakeup hangs (the runner's timeout), a task
 * outliving what it borrows is caught by ASan/TSan. */
#include <pthread.h>
#include <string.h>

#include "corio/join.h"
#include "corio/runtime.h"
#include "corio/scope.h"
#include "corio/select.h"
#include "test.h"
#include "util.h"

#define SENTINEL (-777)

static void spin(unsigned n)
{
    for (volatile unsigned i = 0; i < n; i++) {
    }
}

/* ==== a join interrupted while its task completes ========================
 *
 * corio/task.h: interrupted while the task still runs, the join returns
 * CORIO_ECANCELED and the task goes on; finished by then, the join reports
 * the task's own outcome (0, its result). Either way *result is never a
 * value the task did not return. */

static atomic_int ij_targets_done;
static atomic_int ij_go; /* odd iterations: the target waits for the abort */

static int ij_target(void *arg)
{
    unsigned k = (unsigned)(uintptr_t)arg;
    if (k % 2) {
        /* no await: released by the abort's caller, to finish just as the
         * interrupted join looks at it */
        while (atomic_load_explicit(&ij_go, memory_order_acquire) < (int)k)
            ;
        spin((k * 131) % 1500);
    } else {
        for (unsigned y = 0; y < k % 4; y++)
            (void)corio_yield();
        spin((k * 131) % 4000);
    }
    atomic_fetch_add(&ij_targets_done, 1);
    return 42;
}

typedef struct ij_rec {
    corio_task *target;
    int rc, res;
} ij_rec;

static int ij_joiner(void *arg)
{
    ij_rec *r = arg;
    r->res = SENTINEL;
    r->rc = corio_task_join(r->target, &r->res);
    return 0;
}

TEST(handles_stress_interrupted_join_racing_completion)
{
    corio_rt *rt = new_mt_rt(4);
    corio_spawn_opts o = {.rt = rt};
    atomic_store(&ij_targets_done, 0);
    int iters = SCALE(20000, 1000, 400);
    int joined = 0, interrupted = 0;
    for (int i = 0; i < iters; i++) {
        ij_rec r = {NULL, 0, 0};
        CHECK_EQ(corio_spawn_with(&o, ij_target, (void *)(uintptr_t)i, &r.target), 0);
        corio_task *j;
        CHECK_EQ(corio_spawn_with(&o, ij_joiner, &r, &j), 0);
        spin(((unsigned)i * 977) % 6000);
        corio_task_abort(j); /* from a plain thread, the join mid-suspension or not */
        atomic_store_explicit(&ij_go, i, memory_order_release);
        int jr = -1;
        int jrc = corio_task_join(j, &jr);
        /* the joiner's own outcome: cancelled if the abort reached an await */
        CHECK(jrc == 0 || jrc == CORIO_ECANCELED);
        CHECK_EQ(jr, 0);
        if (jrc == 0)
            CHECK_EQ(r.rc, 0);
        if (r.rc == 0) {
            CHECK_EQ(r.res, 42);
            joined++;
        } else {
            CHECK_EQ(r.rc, CORIO_ECANCELED);
            /* interrupted: the target went on, detached; no made-up result */
            if (r.res != SENTINEL && r.res != 42)
                test_failf(__FILE__, __LINE__, "iteration %d: interrupted join wrote %d", i,
                           r.res);
            interrupted++;
        }
    }
    double t0 = mono_ms();
    while (atomic_load(&ij_targets_done) < iters) {
        CHECK(mono_ms() - t0 < 10000);
        sleep_ms(1);
    }
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK_EQ(joined + interrupted, iters);
}

/* ==== select over two joins whose tasks finish together ===================
 *
 * Two tasks released by one store finish on different workers: exactly one
 * branch wins, with its task's result; the loser's join future is dropped
 * (it borrows the handle, which stays valid and joins normally after). The
 * select runs in a task and, on odd iterations, from a plain thread
 * (corio_rt_block_on_future). */

typedef struct sj_shared {
    atomic_int go;
} sj_shared;

typedef struct sj_arg {
    sj_shared *sh;
    int value;
    unsigned spin;
} sj_arg;

static int sj_task(void *arg)
{
    sj_arg *a = arg;
    while (!atomic_load_explicit(&a->sh->go, memory_order_acquire))
        if (corio_yield() < 0)
            return -1;
    spin(a->spin);
    return a->value;
}

/* One round: spawn both, release them, select, then join both. */
static void sj_round(corio_rt *rt, int i, bool plain)
{
    sj_shared sh;
    atomic_init(&sh.go, 0);
    sj_arg a[2] = {{&sh, 1, ((unsigned)i * 53) % 300}, {&sh, 2, ((unsigned)i * 71) % 300}};
    corio_spawn_opts o = {.rt = rt};
    corio_task *t[2];
    CHECK_EQ(corio_spawn_with(&o, sj_task, &a[0], &t[0]), 0);
    CHECK_EQ(corio_spawn_with(&o, sj_task, &a[1], &t[1]), 0);
    corio_join_fut jf[2];
    corio_join_fut_init(&jf[0], t[0]);
    corio_join_fut_init(&jf[1], t[1]);
    corio_future *futs[2] = {&jf[0].base, &jf[1].base};
    if (i % 3 == 0)
        atomic_store_explicit(&sh.go, 1, memory_order_release); /* maybe before the select */
    size_t idx = CORIO_INDEX_NONE;
    if (plain) {
        /* the plain thread releases them, then selects */
        if (i % 3 != 0)
            atomic_store_explicit(&sh.go, 1, memory_order_release);
        corio_select_fut sf;
        corio_select_fut_init(&sf, futs, 2);
        CHECK_EQ(corio_rt_block_on_future(rt, &sf.base), 0);
        CHECK_EQ(sf.base.result, 0);
        idx = sf.index;
    } else {
        if (i % 3 != 0)
            atomic_store_explicit(&sh.go, 1, memory_order_release);
        CHECK_EQ(corio_select(futs, 2, &idx), 0);
    }
    CHECK(idx == 0 || idx == 1);
    CHECK_EQ(jf[idx].base.result, 0);
    CHECK_EQ(jf[idx].value, (int)idx + 1);
    for (int k = 0; k < 2; k++) {
        int r = SENTINEL;
        CHECK_EQ(corio_task_join(t[k], &r), 0);
        CHECK_EQ(r, k + 1);
    }
}

typedef struct sj_main_arg {
    corio_rt *rt;
    int iters;
} sj_main_arg;

static int sj_main(void *arg)
{
    sj_main_arg *m = arg;
    for (int i = 0; i < m->iters; i++)
        sj_round(m->rt, i, false);
    return 0;
}

TEST(handles_stress_select_two_joins_finishing_together)
{
    corio_rt *rt = new_mt_rt(3);
    sj_main_arg m = {rt, SCALE(10000, 600, 300)};
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, sj_main, &m, &r), 0);
    CHECK_EQ(r, 0);
    for (int i = 0; i < m.iters; i++)
        sj_round(rt, i, true);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ==== task_join_all interrupted while its tasks complete =================
 *
 * corio/join.h: an interrupted corio_task_join_all stores the result of
 * every task that had finished and gives every handle back; a result slot
 * is never written with anything but its task's result (or left alone). */

#define TJ_N 8

static atomic_int tj_done;

static int tj_task(void *arg)
{
    unsigned k = (unsigned)(uintptr_t)arg;
    for (unsigned y = 0; y < k % 3; y++)
        (void)corio_yield();
    spin((k * 389) % 3000);
    atomic_fetch_add(&tj_done, 1);
    return (int)(k % TJ_N) + 100;
}

typedef struct tj_rec {
    corio_rt *rt;
    int base;
    int rc;
    int results[TJ_N];
} tj_rec;

static int tj_joiner(void *arg)
{
    tj_rec *r = arg;
    corio_task *t[TJ_N];
    for (int k = 0; k < TJ_N; k++) {
        r->results[k] = SENTINEL;
        CHECK_EQ(corio_spawn(tj_task, (void *)(uintptr_t)(unsigned)(r->base + k), &t[k]), 0);
    }
    r->rc = corio_task_join_all(t, TJ_N, r->results);
    return 0;
}

TEST(handles_stress_task_join_all_interrupted_while_completing)
{
    corio_rt *rt = new_mt_rt(4);
    corio_spawn_opts o = {.rt = rt};
    atomic_store(&tj_done, 0);
    int iters = SCALE(8000, 500, 200);
    for (int i = 0; i < iters; i++) {
        tj_rec r;
        r.rt = rt;
        r.base = i * TJ_N;
        r.rc = 1;
        corio_task *j;
        CHECK_EQ(corio_spawn_with(&o, tj_joiner, &r, &j), 0);
        spin(((unsigned)i * 1231) % 8000);
        corio_task_abort(j);
        int jr = -1;
        int jrc = corio_task_join(j, &jr);
        CHECK(jrc == 0 || jrc == CORIO_ECANCELED);
        CHECK_EQ(jr, 0);
        if (jrc == 0)
            CHECK_EQ(r.rc, 0);
        CHECK(r.rc == 0 || r.rc == CORIO_ECANCELED);
        for (int k = 0; k < TJ_N; k++) {
            int want = (r.base + k) % TJ_N + 100;
            if (r.rc == 0)
                CHECK_EQ(r.results[k], want);
            else if (r.results[k] != SENTINEL && r.results[k] != want)
                test_failf(__FILE__, __LINE__, "iteration %d task %d: %d", i, k, r.results[k]);
        }
    }
    double t0 = mono_ms();
    while (atomic_load(&tj_done) < iters * TJ_N) {
        CHECK(mono_ms() - t0 < 10000);
        sleep_ms(1);
    }
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ==== a scope whose children spawn into it while a sibling cancels it =====
 *
 * corio/scope.h: spawns by any child race the cancellation; every spawn
 * either fails (nothing spawned) or its child is aborted and joined: no
 * child runs after corio_scope_run returned, and every one that started
 * finished (cleanup once). The scope is opened by a task, and on odd
 * iterations by a plain thread (children on opts.rt). */

#define SP_SPAWNERS 3
#define SP_MAX_LEAVES 40

typedef struct sp_iter {
    corio_scope *sc;
    atomic_int started, finished, spawned, refused;
    atomic_int after_return; /* a child ran on after the scope returned */
    atomic_int returned;
    int canceller_yields;
} sp_iter;

static int sp_leaf(void *arg)
{
    sp_iter *it = arg;
    atomic_fetch_add(&it->started, 1);
    int rc = 0;
    for (int y = 0; y < 3 && rc == 0; y++)
        rc = corio_yield();
    if (atomic_load(&it->returned))
        atomic_fetch_add(&it->after_return, 1);
    atomic_fetch_add(&it->finished, 1);
    return rc < 0 ? rc : 0;
}

static int sp_spawner(void *arg)
{
    sp_iter *it = arg;
    atomic_fetch_add(&it->started, 1);
    for (int n = 0; n < SP_MAX_LEAVES; n++) {
        int rc = corio_scope_spawn(it->sc, sp_leaf, it, NULL);
        if (rc != 0) {
            if (rc != CORIO_ECANCELED)
                atomic_fetch_add(&it->after_return, 1000); /* a wrong code */
            atomic_fetch_add(&it->refused, 1);
            break;
        }
        atomic_fetch_add(&it->spawned, 1);
        if (n % 4 == 3)
            (void)corio_yield();
    }
    if (atomic_load(&it->returned))
        atomic_fetch_add(&it->after_return, 1);
    atomic_fetch_add(&it->finished, 1);
    return 0;
}

static int sp_canceller(void *arg)
{
    sp_iter *it = arg;
    atomic_fetch_add(&it->started, 1);
    for (int y = 0; y < it->canceller_yields; y++)
        if (corio_yield() < 0)
            break;
    corio_scope_cancel(it->sc);
    atomic_fetch_add(&it->finished, 1);
    return 0;
}

static int sp_body(corio_scope *sc, void *arg)
{
    sp_iter *it = arg;
    it->sc = sc;
    for (int k = 0; k < SP_SPAWNERS; k++)
        CHECK_EQ(corio_scope_spawn(sc, sp_spawner, it, NULL), 0);
    CHECK_EQ(corio_scope_spawn(sc, sp_canceller, it, NULL), 0);
    return 0;
}

static void sp_round(corio_rt *rt, int i)
{
    sp_iter it;
    memset(&it, 0, sizeof it);
    it.canceller_yields = i % 7;
    int body_r = -1;
    int rc;
    if (rt) {
        corio_scope_opts so = {.rt = rt};
        rc = corio_scope_run_with(&so, sp_body, &it, &body_r);
    } else {
        rc = corio_scope_run(sp_body, &it, &body_r);
    }
    atomic_store(&it.returned, 1);
    CHECK_EQ(body_r, 0);
    CHECK_EQ(rc, CORIO_ECANCELED);
    CHECK_EQ(atomic_load(&it.started), atomic_load(&it.finished));
    CHECK_EQ(atomic_load(&it.after_return), 0);
    /* every spawn that succeeded started a leaf (a coroutine aborted before
     * it first ran still runs) */
    CHECK_EQ(atomic_load(&it.started), atomic_load(&it.spawned) + SP_SPAWNERS + 1);
    /* give a straggler a moment to show itself */
    if (i % 50 == 0) {
        sleep_ms(1);
        CHECK_EQ(atomic_load(&it.after_return), 0);
    }
}

typedef struct sp_main_arg {
    int iters;
} sp_main_arg;

static int sp_main(void *arg)
{
    sp_main_arg *m = arg;
    for (int i = 0; i < m->iters; i++)
        sp_round(NULL, i);
    return 0;
}

TEST(handles_stress_scope_spawns_racing_cancel)
{
    corio_rt *rt = new_mt_rt(4);
    sp_main_arg m = {SCALE(3000, 200, 80)};
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, sp_main, &m, &r), 0);
    CHECK_EQ(r, 0);
    for (int i = 0; i < m.iters; i++)
        sp_round(rt, i);
    CHECK_EQ(corio_rt_free(rt), 0);
}
