/* tests/test_task_scope_stress.c - structured scopes on the multi-thread
 * runtime, under races (run under TSan in CI): a scope's cancellation
 * racing its children's completion, an owner aborted from another task
 * while its scope joins, nested scopes under cancel, deadlines racing
 * completion. Each iteration checks that every child ran its cleanup once
 * and had finished before corio_scope_run returned (a lost wakeup hangs the
 * test; a child outliving the scope writes into a dead frame, which the
 * per-iteration canary and ASan/TSan catch). */
#include <string.h>

#include "corio/scope.h"
#include "test.h"
#include "util.h"

#define KIDS 6

typedef struct iter {
    corio_scope *sc;
    atomic_int done[KIDS]; /* each child's cleanup */
    int results[KIDS];
    unsigned seed;
    int body_ran; /* deadline_body was called */
    int canary;
} iter;

typedef struct kid {
    iter *it;
    int i;
    int yields;
} kid;

/* Yields a few times (finishing, or meeting the cancel), counts its cleanup. */
static int racer(void *arg)
{
    kid *k = arg;
    int rc = 0;
    for (int y = 0; y < k->yields && rc == 0; y++)
        rc = corio_yield();
    atomic_fetch_add_explicit(&k->it->done[k->i], 1, memory_order_relaxed);
    return rc < 0 ? rc : k->i;
}

static int racing_canceller(void *arg)
{
    kid *k = arg;
    for (int y = 0; y < k->yields; y++)
        if (corio_yield() < 0)
            return 0;
    corio_scope_cancel(k->it->sc);
    return 0;
}

static int race_body(corio_scope *sc, void *arg)
{
    kid *ks = arg;
    iter *it = ks[0].it;
    it->sc = sc;
    for (int i = 0; i < KIDS; i++)
        CHECK_EQ(corio_scope_spawn(sc, racer, &ks[i], &it->results[i]), 0);
    int rc = corio_scope_spawn(sc, racing_canceller, &ks[KIDS], NULL);
    CHECK(rc == 0 || rc == CORIO_ECANCELED);
    return 0;
}

static void check_iter(iter *it, int status)
{
    CHECK(status == 0 || status == CORIO_ECANCELED || status == CORIO_ETIMEDOUT);
    for (int i = 0; i < KIDS; i++) {
        CHECK_EQ(atomic_load_explicit(&it->done[i], memory_order_relaxed), 1);
        CHECK(it->results[i] == i || it->results[i] == CORIO_ECANCELED);
    }
    CHECK_EQ(it->canary, 0x5ca1ab1e);
}

static void iter_init(iter *it, kid *ks, unsigned seed)
{
    memset(it, 0, sizeof *it);
    it->canary = 0x5ca1ab1e;
    for (int i = 0; i <= KIDS; i++) {
        ks[i].it = it;
        ks[i].i = i;
        ks[i].yields = (int)((seed >> (i * 2)) % 4);
    }
}

static int cancel_race_main(void *arg)
{
    int n = *(int *)arg;
    for (int k = 0; k < n; k++) {
        iter it; /* this frame's, borrowed */
        kid ks[KIDS + 1];
        iter_init(&it, ks, (unsigned)k * 2654435761u);
        int rc = corio_scope_run(race_body, ks, NULL);
        check_iter(&it, rc);
    }
    return 0;
}

TEST_SLOW(scope_stress_cancellation_racing_completion)
{
    corio_rt *rt = new_mt_rt(4);
    int n = SCALE(3000, 1000, 300), r = -1;
    CHECK_EQ(corio_rt_block_on(rt, cancel_race_main, &n, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- the owner aborted by another task while its scope runs ------------------------- */

typedef struct owned {
    iter it;
    kid ks[KIDS + 1];
    int rc;
    int body_ran;
    atomic_int returned;
} owned;

static int plain_body(corio_scope *sc, void *arg)
{
    owned *o = arg;
    kid *ks = o->ks;
    o->body_ran = 1;
    ks[0].it->sc = sc;
    for (int i = 0; i < KIDS; i++) {
        int rc = corio_scope_spawn(sc, racer, &ks[i], &ks[0].it->results[i]);
        if (rc < 0) { /* cancelled meanwhile: count it as done */
            CHECK_EQ(rc, CORIO_ECANCELED);
            atomic_fetch_add(&ks[0].it->done[i], 1);
            ks[0].it->results[i] = CORIO_ECANCELED;
        }
    }
    return 0;
}

static int owner_task(void *arg)
{
    owned *o = arg;
    o->rc = corio_scope_run(plain_body, o, NULL);
    if (o->body_ran)
        check_iter(&o->it, o->rc);
    else
        CHECK_EQ(o->rc, CORIO_ECANCELED); /* aborted before it started */
    atomic_store(&o->returned, 1);
    return 0;
}

static int owner_abort_main(void *arg)
{
    int n = *(int *)arg;
    for (int k = 0; k < n; k++) {
        owned o;
        memset(&o, 0, sizeof o);
        iter_init(&o.it, o.ks, (unsigned)k * 40503u);
        corio_task *t;
        CHECK_EQ(corio_spawn(owner_task, &o, &t), 0);
        for (int y = 0; y < k % 5; y++)
            CHECK_EQ(corio_yield(), 0);
        corio_task_abort(t);
        int r;
        int jr = corio_task_join(t, &r);
        CHECK(jr == 0 || jr == CORIO_ECANCELED);
        CHECK_EQ(atomic_load(&o.returned), 1);
    }
    return 0;
}

TEST_SLOW(scope_stress_owner_aborted_while_its_scope_joins)
{
    corio_rt *rt = new_mt_rt(4);
    int n = SCALE(3000, 1000, 300), r = -1;
    CHECK_EQ(corio_rt_block_on(rt, owner_abort_main, &n, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- nested scopes under cancel ------------------------------------------------------- */

typedef struct nest {
    atomic_int leaves_started, leaves_done;
    corio_scope *outer;
} nest;

static int leaf(void *arg)
{
    nest *n = arg;
    atomic_fetch_add(&n->leaves_started, 1);
    for (int y = 0; y < 3; y++)
        if (corio_yield() < 0)
            break;
    atomic_fetch_add(&n->leaves_done, 1);
    return 0;
}

static int inner_body(corio_scope *sc, void *arg)
{
    for (int i = 0; i < 3; i++)
        if (corio_scope_spawn(sc, leaf, arg, NULL) < 0)
            break;
    return 0;
}

static int middle(void *arg)
{
    return corio_scope_run(inner_body, arg, NULL);
}

static int outer_canceller(void *arg)
{
    nest *n = arg;
    if (corio_yield() == 0)
        corio_scope_cancel(n->outer);
    return 0;
}

static int outer_body(corio_scope *sc, void *arg)
{
    nest *n = arg;
    n->outer = sc;
    for (int i = 0; i < 3; i++)
        if (corio_scope_spawn(sc, middle, n, NULL) < 0)
            break;
    if (corio_scope_spawn(sc, outer_canceller, n, NULL) < 0)
        return 0;
    return corio_scope_run(inner_body, n, NULL);
}

static int nested_main(void *arg)
{
    int n = *(int *)arg;
    for (int k = 0; k < n; k++) {
        nest x;
        atomic_init(&x.leaves_started, 0);
        atomic_init(&x.leaves_done, 0);
        int rc = corio_scope_run(outer_body, &x, NULL);
        CHECK(rc == 0 || rc == CORIO_ECANCELED);
        /* Every leaf that started had finished when the outer scope returned. */
        CHECK_EQ(atomic_load(&x.leaves_done), atomic_load(&x.leaves_started));
    }
    return 0;
}

TEST_SLOW(scope_stress_nested_scopes_under_cancel)
{
    corio_rt *rt = new_mt_rt(4);
    int n = SCALE(2000, 600, 200), r = -1;
    CHECK_EQ(corio_rt_block_on(rt, nested_main, &n, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- deadlines racing completion --------------------------------------------------- */

static int sleeper(void *arg)
{
    kid *k = arg;
    int rc = corio_sleep(CORIO_USEC(50 * k->yields));
    atomic_fetch_add_explicit(&k->it->done[k->i], 1, memory_order_relaxed);
    return rc < 0 ? rc : k->i;
}

static int deadline_body(corio_scope *sc, void *arg)
{
    kid *ks = arg;
    ks[0].it->body_ran = 1;
    for (int i = 0; i < KIDS; i++) {
        int rc = corio_scope_spawn(sc, sleeper, &ks[i], &ks[0].it->results[i]);
        if (rc < 0) {
            CHECK_EQ(rc, CORIO_ETIMEDOUT);
            atomic_fetch_add(&ks[0].it->done[i], 1);
            ks[0].it->results[i] = CORIO_ECANCELED;
        }
    }
    return 0;
}

static int deadline_scope(void *arg)
{
    return corio_scope_run(deadline_body, arg, NULL);
}

static int deadline_main(void *arg)
{
    int n = *(int *)arg;
    for (int k = 0; k < n; k++) {
        iter it;
        kid ks[KIDS + 1];
        iter_init(&it, ks, (unsigned)k * 2246822519u);
        int rc = 0; /* the scope's status, under a deadline scope (none for k % 5 == 0) */
        int t = 0;
        if (k % 5) {
            t = corio_timeout_call(CORIO_USEC(50 * (k % 5)), deadline_scope, ks, &rc);
            CHECK(t == 0 || t == CORIO_ETIMEDOUT);
        } else {
            rc = deadline_scope(ks);
        }
        if (!it.body_ran) {
            /* The deadline had passed before the scope began (a slow,
             * sanitized run): no body, no child. */
            CHECK_EQ(t, CORIO_ETIMEDOUT);
            CHECK(rc == 0 || rc == CORIO_ETIMEDOUT);
            for (int i = 0; i < KIDS; i++)
                CHECK_EQ(atomic_load(&it.done[i]), 0);
            CHECK_EQ(it.canary, 0x5ca1ab1e);
            continue;
        }
        check_iter(&it, rc);
    }
    return 0;
}

TEST_SLOW(scope_stress_deadlines_racing_completion)
{
    corio_rt *rt = new_mt_rt(4);
    int n = SCALE(2000, 600, 200), r = -1;
    CHECK_EQ(corio_rt_block_on(rt, deadline_main, &n, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}
