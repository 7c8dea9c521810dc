/* tests/test_task_yield.c - corio_yield (corio/task.h): fair interleaving,
 * ready tasks run first, a yielding task aborted by another, the plain-code
 * rule, and a yield loop that must not starve timers or wakes from other
 * threads.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <corio.h>

#include "test.h"
#include "util.h"

/* ==== yield =============================================================== */

/* These run on a current-thread runtime (run_main): the orders they check
 * are those of one thread. The multi-thread flavour's yields are covered in
 * test_rt_multi_thread.c. */

typedef struct ylog {
    char buf[64];
    int n;
} ylog;

typedef struct yarg {
    ylog *log;
    char c;
    int rounds;
} yarg;

static int yielder(void *arg)
{
    yarg *y = arg;
    for (int i = 0; i < y->rounds; i++) {
        y->log->buf[y->log->n++] = y->c;
        CHECK_EQ(corio_yield(), 0);
    }
    return 0;
}

static int yield_main(void *arg)
{
    ylog *log = arg;
    yarg a = {log, 'A', 6}, b = {log, 'B', 6}, c = {log, 'C', 6};
    corio_task *ta;
    CHECK_EQ(corio_spawn(yielder, &a, &ta), 0);
    corio_task *tb;
    CHECK_EQ(corio_spawn(yielder, &b, &tb), 0);
    corio_task *tc;
    CHECK_EQ(corio_spawn(yielder, &c, &tc), 0);
    CHECK_EQ(corio_task_join(ta, NULL), 0);
    CHECK_EQ(corio_task_join(tb, NULL), 0);
    CHECK_EQ(corio_task_join(tc, NULL), 0);
    return 0;
}

TEST(task_yield_interleaves_fairly)
{
    ylog log;
    memset(&log, 0, sizeof log);
    CHECK_EQ(run_main(yield_main, &log), 0);
    CHECK_EQ(log.n, 18);
    if (strcmp(log.buf, "ABCABCABCABCABCABC") != 0)
        test_failf(__FILE__, __LINE__, "yield order %s", log.buf);
}

/* Yield lets an already-ready task run before the yielder continues. */
static int yield_runs_ready_main(void *arg)
{
    int flag = 0;
    CHECK_EQ(corio_spawn(set_flag, &flag, NULL), 0);
    CHECK_EQ(flag, 0);
    CHECK_EQ(corio_yield(), 0);
    CHECK_EQ(flag, 1);
    /* and a stackless one */
    ready_fut ff;
    int runs = 0;
    ready_fut_init(&ff, &runs);
    CHECK_EQ(corio_spawn_future(&ff.base, sizeof ff, NULL), 0);
    CHECK_EQ(corio_yield(), 0);
    CHECK_EQ(runs, 1);
    /* yield with nothing else ready just continues */
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(corio_yield(), 0);
    return 0;
}

TEST(task_yield_runs_ready_tasks_first)
{
    CHECK_EQ(run_main(yield_runs_ready_main, NULL), 0);
}

/* Two coroutines yielding to each other (the scheduler hands the CPU
 * straight from one to the other); one aborts the other, whose next yield
 * returns CORIO_ECANCELED. */
typedef struct yab_ctx {
    corio_task *victim;
    int victim_yields;
    int victim_rc;
    int killer_yields_after;
} yab_ctx;

static int yab_victim(void *arg)
{
    yab_ctx *yc = arg;
    int rc;
    while ((rc = corio_yield()) == 0)
        yc->victim_yields++;
    yc->victim_rc = rc;
    CHECK_EQ(corio_yield(), CORIO_ECANCELED);
    return 1;
}

static int yab_killer(void *arg)
{
    yab_ctx *yc = arg;
    for (int i = 0; i < 10; i++)
        CHECK_EQ(corio_yield(), 0);
    corio_task_abort(yc->victim);
    int before = yc->victim_yields;
    for (int i = 0; i < 10; i++)
        CHECK_EQ(corio_yield(), 0);
    yc->killer_yields_after = yc->victim_yields - before;
    return 2;
}

static int yab_main(void *arg)
{
    yab_ctx *yc = arg;
    CHECK_EQ(corio_spawn(yab_victim, yc, &yc->victim), 0);
    corio_task *k;
    CHECK_EQ(corio_spawn(yab_killer, yc, &k), 0);
    int r = 0;
    CHECK_EQ(corio_task_join(k, &r), 0);
    CHECK_EQ(r, 2);
    CHECK_EQ(corio_task_join(yc->victim, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 1);
    return 0;
}

TEST(task_abort_yielding_task)
{
    yab_ctx yc;
    memset(&yc, 0, sizeof yc);
    CHECK_EQ(run_main(yab_main, &yc), 0);
    CHECK_EQ(yc.victim_rc, CORIO_ECANCELED);
    CHECK(yc.victim_yields >= 9 && yc.victim_yields <= 11);
    CHECK_EQ(yc.killer_yields_after, 0); /* it stopped at its next yield */
}

TEST(task_yield_in_plain_code_is_wrongctx)
{
    CHECK_EQ(corio_yield(), CORIO_EWRONGCTX);
}

/* A task spinning on yield does not starve timers or wakes from other
 * threads. */
typedef struct spin_ctx {
    atomic_int timer_flag;
    atomic_int foreign_flag;
    slot s;
} spin_ctx;

static int timer_setter(void *arg)
{
    spin_ctx *sc = arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    atomic_store(&sc->timer_flag, 1);
    return 0;
}

static int foreign_waiter(void *arg)
{
    spin_ctx *sc = arg;
    slot_fut f;
    slot_fut_init(&f, &sc->s);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 1);
    atomic_store(&sc->foreign_flag, 1);
    return 0;
}

static int spin_other(void *arg)
{
    spin_ctx *sc = arg;
    while (!atomic_load(&sc->timer_flag) || !atomic_load(&sc->foreign_flag))
        CHECK_EQ(corio_yield(), 0);
    return 0;
}

static int spin_main(void *arg)
{
    spin_ctx *sc = arg;
    /* two spinners: yields hand the CPU straight between them */
    corio_task *other;
    CHECK_EQ(corio_spawn(spin_other, sc, &other), 0);
    CHECK_EQ(corio_spawn(timer_setter, sc, NULL), 0);
    CHECK_EQ(corio_spawn(foreign_waiter, sc, NULL), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, slot_complete_later, &sc->s), 0);
    double t0 = mono_ms();
    while (!atomic_load(&sc->timer_flag) || !atomic_load(&sc->foreign_flag)) {
        CHECK(mono_ms() - t0 < 5000);
        CHECK_EQ(corio_yield(), 0);
    }
    pthread_join(th, NULL);
    CHECK_EQ(corio_task_join(other, NULL), 0);
    return 0;
}

TEST_TIMING(task_yield_loop_does_not_starve_timers_or_foreign_wakes)
{
    spin_ctx sc;
    memset(&sc, 0, sizeof sc);
    slot_init(&sc.s);
    CHECK_EQ(run_main(spin_main, &sc), 0);
    slot_destroy(&sc.s);
}

