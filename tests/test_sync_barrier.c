/* tests/test_sync_barrier.c - the reusable barrier (include/corio/barrier.h).
 *
 * Hand-polled futures check the counting exactly: the n-th arrival
 * releases all and is the only leader, the barrier empties and is reused,
 * a dropped waiter un-counts itself (and one released but dropped unseen
 * does not), n == 0 is 1. Then tasks and plain threads meeting at one
 * barrier over many generations with exactly one leader each, more waiters
 * than a wake batch, interruption codes, and a multi-thread stress where
 * timeouts and aborts race the releases, after which the barrier must be
 * empty.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <corio.h>
#include <corio/barrier.h>

#include "test.h"
#include "util.h"

/* Check with hand-polled futures that the barrier is empty: n - 1 arrivals
 * wait, the n-th releases them all and leads. */
static void check_empty(corio_barrier *b, size_t n)
{
    corio_waker nw = corio_waker_noop();
    corio_barrier_wait_fut *f = calloc(n, sizeof *f);
    CHECK(f != NULL);
    for (size_t i = 0; i + 1 < n; i++) {
        corio_barrier_wait_fut_init(&f[i], b);
        CHECK_EQ(poll_with(&f[i].base, &nw), CORIO_PENDING);
    }
    corio_barrier_wait_fut_init(&f[n - 1], b);
    CHECK_EQ(poll_with(&f[n - 1].base, &nw), CORIO_READY);
    CHECK(f[n - 1].is_leader);
    for (size_t i = 0; i + 1 < n; i++) {
        CHECK_EQ(poll_with(&f[i].base, &nw), CORIO_READY);
        CHECK_EQ(f[i].base.result, 0);
        CHECK(!f[i].is_leader);
    }
    free(f);
}

TEST(sync_barrier_null_and_zero_parties)
{
    bool lead = true;
    CHECK_EQ(corio_barrier_wait(NULL, &lead), -EINVAL);
    CHECK(!lead);
    CHECK_EQ(corio_barrier_wait(NULL, NULL), -EINVAL);
    CHECK_EQ(corio_barrier_parties(NULL), 0);
    corio_barrier_init(NULL, 3);
    corio_barrier_wait_fut_init(NULL, NULL);
    corio_waker nw = corio_waker_noop();
    corio_barrier_wait_fut f;
    corio_barrier_wait_fut_init(&f, NULL);
    CHECK_EQ(poll_with(&f.base, &nw), CORIO_READY);
    CHECK_EQ(f.base.result, -EINVAL);
    CHECK(!f.is_leader);

    /* n == 0 behaves as 1: everyone passes at once, as leader. Plain code,
     * no runtime: nothing waits. */
    corio_barrier b;
    corio_barrier_init(&b, 0);
    CHECK_EQ(corio_barrier_parties(&b), 0);
    for (int i = 0; i < 3; i++) {
        lead = false;
        CHECK_EQ(corio_barrier_wait(&b, &lead), 0);
        CHECK(lead);
    }
    static corio_barrier one = CORIO_BARRIER_INIT(1);
    CHECK_EQ(corio_barrier_parties(&one), 1);
    lead = false;
    CHECK_EQ(corio_barrier_wait(&one, &lead), 0);
    CHECK(lead);
    CHECK_EQ(corio_barrier_wait(&one, NULL), 0);
    /* The static initialiser and init agree. */
    static corio_barrier s = CORIO_BARRIER_INIT(5);
    corio_barrier d;
    memset(&d, 0x5a, sizeof d);
    corio_barrier_init(&d, 5);
    CHECK(memcmp(&s, &d, sizeof d) == 0);
    CHECK_EQ(sizeof(corio_barrier), 48);
    CHECK_EQ(sizeof(corio_barrier_wait_fut), 80);
}

TEST(sync_barrier_nth_arrival_releases_all_and_leads)
{
    corio_barrier b;
    corio_barrier_init(&b, 3);
    cw_target t[3];
    corio_waker w[3];
    corio_barrier_wait_fut f[3];
    for (int gen = 0; gen < 4; gen++) {
        for (int i = 0; i < 3; i++) {
            w[i] = cw_new(&t[i]);
            corio_barrier_wait_fut_init(&f[i], &b);
        }
        CHECK_EQ(poll_with(&f[0].base, &w[0]), CORIO_PENDING);
        CHECK_EQ(poll_with(&f[1].base, &w[1]), CORIO_PENDING);
        CHECK_EQ(poll_with(&f[0].base, &w[0]), CORIO_PENDING); /* polled again */
        CHECK_EQ(atomic_load(&t[0].wakes) + atomic_load(&t[1].wakes), 0);
        /* The third arrival completes the generation without waiting. */
        CHECK_EQ(poll_with(&f[2].base, &w[2]), CORIO_READY);
        CHECK_EQ(f[2].base.result, 0);
        CHECK(f[2].is_leader);
        CHECK_EQ(atomic_load(&t[0].wakes), 1);
        CHECK_EQ(atomic_load(&t[1].wakes), 1);
        CHECK_EQ(atomic_load(&t[2].wakes), 0);
        for (int i = 0; i < 2; i++) {
            CHECK_EQ(poll_with(&f[i].base, &w[i]), CORIO_READY);
            CHECK_EQ(f[i].base.result, 0);
            CHECK(!f[i].is_leader);
        }
        for (int i = 0; i < 3; i++)
            CHECK_EQ(atomic_load(&t[i].refs), 1); /* no waker kept */
    }
}

TEST(sync_barrier_dropped_waiter_uncounts)
{
    corio_barrier b;
    corio_barrier_init(&b, 2);
    corio_waker nw = corio_waker_noop();
    corio_barrier_wait_fut f1, f2, f3;
    /* A waiter dropped while waiting leaves the count as it found it: the
     * next arrival waits instead of releasing the generation short. */
    corio_barrier_wait_fut_init(&f1, &b);
    CHECK_EQ(poll_with(&f1.base, &nw), CORIO_PENDING);
    corio_future_drop(&f1.base);
    corio_barrier_wait_fut_init(&f2, &b);
    CHECK_EQ(poll_with(&f2.base, &nw), CORIO_PENDING);
    corio_barrier_wait_fut_init(&f3, &b);
    CHECK_EQ(poll_with(&f3.base, &nw), CORIO_READY);
    CHECK(f3.is_leader);
    CHECK_EQ(poll_with(&f2.base, &nw), CORIO_READY);
    CHECK(!f2.is_leader);
    /* A waiter released but dropped before it saw it had counted: the
     * generation is done and the next one starts from zero. */
    corio_barrier_wait_fut_init(&f1, &b);
    CHECK_EQ(poll_with(&f1.base, &nw), CORIO_PENDING);
    corio_barrier_wait_fut_init(&f2, &b);
    CHECK_EQ(poll_with(&f2.base, &nw), CORIO_READY);
    CHECK(f2.is_leader);
    corio_future_drop(&f1.base);
    check_empty(&b, 2);
    /* Never polled: dropping does nothing. */
    corio_barrier_wait_fut_init(&f1, &b);
    corio_future_drop(&f1.base);
    check_empty(&b, 2);

    /* Dropped in the middle of a queue of three. */
    corio_barrier_init(&b, 4);
    corio_barrier_wait_fut g[5];
    for (int i = 0; i < 3; i++) {
        corio_barrier_wait_fut_init(&g[i], &b);
        CHECK_EQ(poll_with(&g[i].base, &nw), CORIO_PENDING);
    }
    corio_future_drop(&g[1].base);
    corio_barrier_wait_fut_init(&g[3], &b);
    CHECK_EQ(poll_with(&g[3].base, &nw), CORIO_PENDING); /* 3 of 4 */
    corio_barrier_wait_fut_init(&g[4], &b);
    CHECK_EQ(poll_with(&g[4].base, &nw), CORIO_READY);
    CHECK(g[4].is_leader);
    CHECK_EQ(poll_with(&g[0].base, &nw), CORIO_READY);
    CHECK_EQ(poll_with(&g[2].base, &nw), CORIO_READY);
    CHECK_EQ(poll_with(&g[3].base, &nw), CORIO_READY);
    check_empty(&b, 4);
}

/* ---- tasks ------------------------------------------------------------------- */

typedef struct gen_ctx {
    corio_barrier b;
    int parties, gens;
    atomic_int arrived[1024]; /* per generation */
    atomic_int leaders[1024];
    atomic_int passed[1024];
} gen_ctx;

static int gen_task(void *arg)
{
    gen_ctx *c = arg;
    for (int g = 0; g < c->gens; g++) {
        atomic_fetch_add(&c->arrived[g], 1);
        bool lead = false;
        CHECK_EQ(corio_barrier_wait(&c->b, &lead), 0);
        /* Nobody passes generation g before all have arrived at it. */
        CHECK_EQ(atomic_load(&c->arrived[g]), c->parties);
        atomic_fetch_add(&c->passed[g], 1);
        if (lead)
            atomic_fetch_add(&c->leaders[g], 1);
    }
    return 0;
}

static void *gen_thread(void *arg)
{
    CHECK_EQ(gen_task(arg), 0);
    return NULL;
}

static int gen_main(void *arg)
{
    gen_ctx *c = arg;
    int threads = c->parties >= 8 ? 2 : 0;
    int tasks = c->parties - threads;
    corio_task **t = calloc((size_t)tasks, sizeof *t);
    pthread_t th[2];
    for (int i = 0; i < threads; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, gen_thread, c), 0);
    for (int i = 0; i < tasks; i++)
        CHECK_EQ(corio_spawn(gen_task, c, &t[i]), 0);
    for (int i = 0; i < tasks; i++)
        CHECK_EQ(corio_task_join(t[i], NULL), 0);
    for (int i = 0; i < threads; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    free(t);
    for (int g = 0; g < c->gens; g++) {
        CHECK_EQ(atomic_load(&c->leaders[g]), 1);
        CHECK_EQ(atomic_load(&c->passed[g]), c->parties);
    }
    return 0;
}

static void run_gens(int parties, int gens, bool mt)
{
    gen_ctx *c = calloc(1, sizeof *c);
    CHECK(c != NULL);
    CHECK(gens <= 1024);
    corio_barrier_init(&c->b, (size_t)parties);
    c->parties = parties;
    c->gens = gens;
    if (mt) {
        corio_rt *rt = new_mt_rt(4);
        int r = -1;
        CHECK_EQ(corio_rt_block_on(rt, gen_main, c, &r), 0);
        CHECK_EQ(r, 0);
        CHECK_EQ(corio_rt_free(rt), 0);
    } else {
        CHECK_EQ(run_main(gen_main, c), 0);
    }
    check_empty(&c->b, (size_t)parties);
    free(c);
}

TEST(sync_barrier_one_leader_per_generation)
{
    run_gens(5, 200, false);
    run_gens(8, SCALE(1000, 300, 100), true); /* 6 tasks + 2 plain threads */
}

TEST(sync_barrier_more_waiters_than_a_wake_batch)
{
    /* 100 parties (40 under TSan): a release wakes them in batches, dropping the
     * lock between them, while the fastest already arrive for the next
     * generation. */
    int parties = SCALE(100, 100, 40);
    run_gens(parties, 20, false);
    run_gens(parties, SCALE(100, 30, 10), true);
}

static int wait_task(void *arg)
{
    bool lead;
    return corio_barrier_wait(arg, &lead);
}

static int waits_in_scope(void *arg)
{
    return corio_barrier_wait(arg, NULL);
}

static int cancel_main(void *arg)
{
    corio_barrier b;
    corio_barrier_init(&b, 2);
    /* An aborted waiter returns CORIO_ECANCELED and is not counted. */
    corio_task *t;
    CHECK_EQ(corio_spawn(wait_task, &b, &t), 0);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(corio_yield(), 0);
    CHECK(!corio_task_is_finished(t));
    corio_task_abort(t);
    int res = 0;
    CHECK_EQ(corio_task_join(t, &res), CORIO_ECANCELED);
    CHECK_EQ(res, CORIO_ECANCELED);
    check_empty(&b, 2);
    /* A timeout on the future form: CORIO_ETIMEDOUT, not counted. */
    corio_barrier_wait_fut f;
    corio_barrier_wait_fut_init(&f, &b);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(5)), CORIO_ETIMEDOUT);
    check_empty(&b, 2);
    /* A deadline scope: the same. */
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(5), waits_in_scope, &b, &res), CORIO_ETIMEDOUT);
    CHECK_EQ(res, CORIO_ETIMEDOUT);
    check_empty(&b, 2);
    /* A task already cancelled is not counted at all. */
    corio_task_abort(corio_task_current());
    bool lead = true;
    CHECK_EQ(corio_barrier_wait(&b, &lead), CORIO_ECANCELED);
    CHECK(!lead);
    check_empty(&b, 2);
    return 0;
}

TEST(sync_barrier_interrupted_wait_is_not_counted)
{
    int r = 0;
    corio_rt *rt = new_rt();
    CHECK_EQ(corio_rt_block_on(rt, cancel_main, NULL, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 0);
    corio_rt_free(rt);
}

typedef struct ctx_probe_fut {
    corio_future base;
    corio_barrier *b;
} ctx_probe_fut;

static corio_poll ctx_probe_poll(corio_future *f, corio_context *cx)
{
    ctx_probe_fut *p = (ctx_probe_fut *)f;
    bool lead = true;
    CHECK_EQ(corio_barrier_wait(p->b, &lead), CORIO_EWRONGCTX);
    CHECK(!lead);
    f->result = 3;
    return CORIO_READY;
}

static const corio_future_vtable ctx_probe_vt = {ctx_probe_poll, NULL};

static int ewrongctx_main(void *arg)
{
    static corio_barrier b = CORIO_BARRIER_INIT(2);
    ctx_probe_fut p;
    corio_future_init(&p.base, &ctx_probe_vt);
    p.b = &b;
    corio_task *t;
    CHECK_EQ(corio_spawn_future(&p.base, sizeof p, &t), 0);
    int res = 0;
    CHECK_EQ(corio_task_join(t, &res), 0);
    CHECK_EQ(res, 3);
    check_empty(&b, 2); /* not counted */
    return 0;
}

TEST(sync_barrier_poll_function_gets_ewrongctx)
{
    CHECK_EQ(run_main(ewrongctx_main, NULL), 0);
}

/* ---- stress: interruptions racing the releases ---------------------------- */

typedef struct race_ctx {
    corio_barrier b;
    atomic_int stop;
    atomic_long passed, leaders, interrupted;
} race_ctx;

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

static int race_task(void *arg)
{
    race_ctx *c = arg;
    unsigned seed = (unsigned)corio_task_id(corio_task_current()) * 2654435761u;
    while (!atomic_load(&c->stop)) {
        corio_barrier_wait_fut f;
        corio_barrier_wait_fut_init(&f, &c->b);
        int rc = corio_timeout(&f.base, CORIO_USEC(rnd(&seed) % 400));
        if (rc == CORIO_ECANCELED) {
            atomic_fetch_add(&c->interrupted, 1);
            return 0;
        }
        if (rc == CORIO_ETIMEDOUT) {
            atomic_fetch_add(&c->interrupted, 1);
            continue;
        }
        CHECK_EQ(rc, 0);
        CHECK_EQ(f.base.result, 0);
        atomic_fetch_add(&c->passed, 1);
        if (f.is_leader)
            atomic_fetch_add(&c->leaders, 1);
    }
    return 0;
}

static int race_main(void *arg)
{
    race_ctx *c = arg;
    enum { TASKS = 12 };
    corio_task *t[TASKS];
    unsigned seed = 777;
    for (int i = 0; i < TASKS; i++)
        CHECK_EQ(corio_spawn(race_task, c, &t[i]), 0);
    /* Bounded in count and in time (a loaded machine, a sanitizer). */
    int rounds = SCALE(300, 100, 50);
    double t0 = mono_ms();
    for (int k = 0; k < rounds && mono_ms() - t0 < 1500; k++) {
        CHECK_EQ(corio_sleep(CORIO_USEC(rnd(&seed) % 500)), 0);
        int i = (int)(rnd(&seed) % TASKS);
        corio_task_abort(t[i]);
        CHECK_EQ(corio_task_join(t[i], NULL), CORIO_ECANCELED);
        CHECK_EQ(corio_spawn(race_task, c, &t[i]), 0);
    }
    atomic_store(&c->stop, 1);
    for (int i = 0; i < TASKS; i++)
        CHECK_EQ(corio_task_join(t[i], NULL), 0);
    return 0;
}

TEST(sync_barrier_stress_interruptions_race_releases)
{
    static race_ctx c;
    memset(&c, 0, sizeof c);
    enum { N = 4 };
    corio_barrier_init(&c.b, N);
    corio_rt *rt = new_mt_rt(4);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, race_main, &c, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    long passed = atomic_load(&c.passed), leaders = atomic_load(&c.leaders);
    long interrupted = atomic_load(&c.interrupted);
    CHECK(leaders > 0);
    /* Each released generation had N counted arrivals, one leader among
     * them; a counted arrival that was interrupted as it was released is
     * the one way to pass without returning 0. */
    CHECK(passed <= leaders * N);
    CHECK(passed >= leaders * N - interrupted);
    /* Every interrupted waiter un-counted itself: the barrier is empty. */
    check_empty(&c.b, N);
}
