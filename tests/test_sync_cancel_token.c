/* tests/test_sync_cancel_token.c - cancellation tokens and their trees
 * (include/corio/cancel_token.h).
 *
 * Cancel and wait (hand-polled futures with counting wakers, tasks, plain
 * threads, many waiters); the tree: a parent's cancel reaches every
 * descendant, a child's touches nothing above or beside it, a child of a
 * cancelled token is born cancelled, a released token's children are
 * adopted by its parent; handles and memory: clone keeps a token alive,
 * many short-lived children leave nothing behind, a chain a million deep
 * cancels without recursion; interruption codes; and a multi-thread stress
 * where cancels race children being made and released and waiters
 * arriving, from tasks and plain threads.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <corio.h>
#include <corio/cancel_token.h>

#include "test.h"
#include "util.h"

static corio_cancel_token *new_token(void)
{
    corio_cancel_token *t = NULL;
    CHECK_EQ(corio_cancel_token_new(&t), 0);
    CHECK(t != NULL);
    return t;
}

static corio_cancel_token *new_child(corio_cancel_token *p)
{
    corio_cancel_token *t = NULL;
    CHECK_EQ(corio_cancel_token_child(p, &t), 0);
    CHECK(t != NULL);
    return t;
}

TEST(sync_cancel_token_null)
{
    corio_cancel_token *t = (corio_cancel_token *)1;
    CHECK_EQ(corio_cancel_token_new(NULL), -EINVAL);
    CHECK_EQ(corio_cancel_token_child(NULL, &t), -EINVAL);
    CHECK(t == NULL); /* set to NULL on failure (docs/conventions.md) */
    corio_cancel_token *root = new_token();
    CHECK_EQ(corio_cancel_token_child(root, NULL), -EINVAL);
    CHECK(corio_cancel_token_clone(NULL) == NULL);
    corio_cancel_token_release(NULL);
    corio_cancel_token_cancel(NULL);
    CHECK(!corio_cancel_token_is_cancelled(NULL));
    CHECK_EQ(corio_cancel_token_wait(NULL), -EINVAL);
    corio_cancel_token_wait_fut_init(NULL, root);
    corio_cancel_token_wait_fut f;
    corio_cancel_token_wait_fut_init(&f, NULL);
    corio_waker nw = corio_waker_noop();
    CHECK_EQ(poll_with(&f.base, &nw), CORIO_READY);
    CHECK_EQ(f.base.result, -EINVAL);
    CHECK_EQ(sizeof(corio_cancel_token_wait_fut), 72);
    corio_cancel_token_release(root);
}

TEST(sync_cancel_token_cancel_wakes_waiters)
{
    corio_cancel_token *tok = new_token();
    CHECK(!corio_cancel_token_is_cancelled(tok));
    cw_target t1, t2;
    corio_waker w1 = cw_new(&t1), w2 = cw_new(&t2);
    corio_cancel_token_wait_fut f1, f2, f3;
    corio_cancel_token_wait_fut_init(&f1, tok);
    corio_cancel_token_wait_fut_init(&f2, tok);
    CHECK_EQ(poll_with(&f1.base, &w1), CORIO_PENDING);
    CHECK_EQ(poll_with(&f2.base, &w2), CORIO_PENDING);
    CHECK_EQ(poll_with(&f1.base, &w1), CORIO_PENDING); /* polled again */
    /* A waiter dropped before the cancel is simply gone. */
    corio_future_drop(&f2.base);
    CHECK_EQ(atomic_load(&t2.refs), 1);
    corio_cancel_token_cancel(tok);
    CHECK(corio_cancel_token_is_cancelled(tok));
    CHECK_EQ(atomic_load(&t1.wakes), 1);
    CHECK_EQ(atomic_load(&t2.wakes), 0);
    CHECK_EQ(poll_with(&f1.base, &w1), CORIO_READY);
    CHECK_EQ(f1.base.result, 0);
    CHECK_EQ(atomic_load(&t1.refs), 1);
    /* Cancelling again does nothing; later waits finish at once. */
    corio_cancel_token_cancel(tok);
    CHECK(corio_cancel_token_is_cancelled(tok));
    corio_cancel_token_wait_fut_init(&f3, tok);
    CHECK_EQ(poll_with(&f3.base, &w1), CORIO_READY);
    CHECK_EQ(f3.base.result, 0);
    CHECK_EQ(corio_cancel_token_wait(tok), 0); /* plain code: no waiting */
    CHECK_EQ(atomic_load(&t1.refs), 1);
    corio_cancel_token_release(tok);
}

TEST(sync_cancel_token_tree)
{
    /* root -> a -> a1 -> a11
     *           -> a2
     *      -> b */
    corio_cancel_token *root = new_token();
    corio_cancel_token *a = new_child(root), *b = new_child(root);
    corio_cancel_token *a1 = new_child(a), *a2 = new_child(a);
    corio_cancel_token *a11 = new_child(a1);
    cw_target ta11, tb, troot;
    corio_waker wa11 = cw_new(&ta11), wb = cw_new(&tb), wroot = cw_new(&troot);
    corio_cancel_token_wait_fut fa11, fb, froot;
    corio_cancel_token_wait_fut_init(&fa11, a11);
    corio_cancel_token_wait_fut_init(&fb, b);
    corio_cancel_token_wait_fut_init(&froot, root);
    CHECK_EQ(poll_with(&fa11.base, &wa11), CORIO_PENDING);
    CHECK_EQ(poll_with(&fb.base, &wb), CORIO_PENDING);
    CHECK_EQ(poll_with(&froot.base, &wroot), CORIO_PENDING);

    /* Cancelling a child: its subtree, not its parent or its sibling. */
    corio_cancel_token_cancel(a);
    CHECK(corio_cancel_token_is_cancelled(a));
    CHECK(corio_cancel_token_is_cancelled(a1));
    CHECK(corio_cancel_token_is_cancelled(a2));
    CHECK(corio_cancel_token_is_cancelled(a11));
    CHECK(!corio_cancel_token_is_cancelled(root));
    CHECK(!corio_cancel_token_is_cancelled(b));
    CHECK_EQ(atomic_load(&ta11.wakes), 1);
    CHECK_EQ(poll_with(&fa11.base, &wa11), CORIO_READY);
    CHECK_EQ(poll_with(&fb.base, &wb), CORIO_PENDING);
    CHECK_EQ(poll_with(&froot.base, &wroot), CORIO_PENDING);
    /* A leaf cancelled on its own touches nothing above it either. */
    corio_cancel_token *b1 = new_child(b);
    corio_cancel_token_cancel(b1);
    CHECK(!corio_cancel_token_is_cancelled(b));
    CHECK_EQ(atomic_load(&tb.wakes), 0);

    /* Cancelling the root: everything. */
    corio_cancel_token_cancel(root);
    CHECK(corio_cancel_token_is_cancelled(b));
    CHECK_EQ(atomic_load(&tb.wakes), 1);
    CHECK_EQ(atomic_load(&troot.wakes), 1);
    CHECK_EQ(poll_with(&fb.base, &wb), CORIO_READY);
    CHECK_EQ(poll_with(&froot.base, &wroot), CORIO_READY);
    corio_cancel_token *list[] = {a11, a2, b1, root, a1, b, a};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++)
        corio_cancel_token_release(list[i]);
    CHECK_EQ(atomic_load(&ta11.refs), 1);
    CHECK_EQ(atomic_load(&tb.refs), 1);
    CHECK_EQ(atomic_load(&troot.refs), 1);
}

TEST(sync_cancel_token_child_of_cancelled_is_born_cancelled)
{
    corio_cancel_token *root = new_token();
    corio_cancel_token *mid = new_child(root);
    corio_cancel_token_cancel(root);
    corio_cancel_token *late = new_child(mid);
    CHECK(corio_cancel_token_is_cancelled(late));
    corio_cancel_token *later = new_child(late); /* and its children too */
    CHECK(corio_cancel_token_is_cancelled(later));
    CHECK_EQ(corio_cancel_token_wait(later), 0);
    corio_cancel_token_cancel(later); /* nothing */
    /* Released in any order, parents first. */
    corio_cancel_token_release(root);
    corio_cancel_token_release(mid);
    corio_cancel_token_release(late);
    corio_cancel_token_release(later);
}

TEST(sync_cancel_token_released_parent_children_adopted)
{
    /* root -> mid -> leaf: releasing mid's handle keeps leaf reachable. */
    corio_cancel_token *root = new_token();
    corio_cancel_token *mid = new_child(root);
    corio_cancel_token *leaf = new_child(mid);
    corio_cancel_token *leaf2 = new_child(mid);
    corio_cancel_token_release(mid);
    CHECK(!corio_cancel_token_is_cancelled(leaf));
    corio_cancel_token_cancel(leaf2); /* still its own subtree only */
    CHECK(!corio_cancel_token_is_cancelled(leaf));
    CHECK(!corio_cancel_token_is_cancelled(root));
    corio_cancel_token_cancel(root);
    CHECK(corio_cancel_token_is_cancelled(leaf));
    corio_cancel_token_release(leaf);
    corio_cancel_token_release(leaf2);
    corio_cancel_token_release(root);

    /* Releasing the root's last handle: its children live on, uncancelled,
     * and can still be cancelled (with their own subtrees). */
    root = new_token();
    corio_cancel_token *c = new_child(root);
    corio_cancel_token *cc = new_child(c);
    corio_cancel_token_release(root);
    CHECK(!corio_cancel_token_is_cancelled(c));
    corio_cancel_token *c3 = new_child(c);
    corio_cancel_token_cancel(c);
    CHECK(corio_cancel_token_is_cancelled(cc));
    CHECK(corio_cancel_token_is_cancelled(c3));
    corio_cancel_token_release(cc);
    corio_cancel_token_release(c);
    corio_cancel_token_release(c3);
}

TEST(sync_cancel_token_clone_keeps_it_alive)
{
    corio_cancel_token *t = new_token();
    corio_cancel_token *t2 = corio_cancel_token_clone(t);
    CHECK(t2 == t);
    corio_cancel_token *child = new_child(t);
    corio_cancel_token_release(t); /* one handle left: still linked */
    corio_cancel_token_cancel(t2);
    CHECK(corio_cancel_token_is_cancelled(child));
    corio_cancel_token_release(t2);
    CHECK(corio_cancel_token_is_cancelled(child));
    corio_cancel_token_release(child);
}

TEST(sync_cancel_token_short_lived_children_leave_nothing)
{
    corio_cancel_token *root = new_token();
    corio_cancel_token *mid = new_child(root);
    int n = SCALE(200000, 50000, 20000);
    /* Warm malloc's caches first. */
    for (int i = 0; i < 1000; i++)
        corio_cancel_token_release(new_child(mid));
    size_t before = heap_in_use();
    for (int i = 0; i < n; i++) {
        corio_cancel_token *c = new_child(i & 1 ? mid : root);
        corio_cancel_token *g = new_child(c);
        corio_cancel_token_release(i & 2 ? c : g);
        corio_cancel_token_release(i & 2 ? g : c);
    }
    size_t after = heap_in_use();
    CHECK(after <= before + 4096); /* 0 under the sanitizers: LSan checks */
    /* The tree is still whole: a cancel reaches a new child. */
    corio_cancel_token *c = new_child(mid);
    corio_cancel_token_cancel(root);
    CHECK(corio_cancel_token_is_cancelled(c));
    corio_cancel_token_release(c);
    corio_cancel_token_release(mid);
    corio_cancel_token_release(root);
}

TEST(sync_cancel_token_deep_and_wide_trees)
{
    /* A chain a million deep (fewer under the sanitizers): cancel walks it
     * without recursion; release in both orders. */
    int depth = SCALE(1000000, 100000, 50000);
    corio_cancel_token **chain = malloc((size_t)depth * sizeof *chain);
    CHECK(chain != NULL);
    for (int round = 0; round < 2; round++) {
        chain[0] = new_token();
        for (int i = 1; i < depth; i++)
            chain[i] = new_child(chain[i - 1]);
        cw_target tw;
        corio_waker w = cw_new(&tw);
        corio_cancel_token_wait_fut f;
        corio_cancel_token_wait_fut_init(&f, chain[depth - 1]);
        CHECK_EQ(poll_with(&f.base, &w), CORIO_PENDING);
        if (round == 1) {
            /* Release the middle of the chain first: adoption keeps it
             * connected. */
            for (int i = 1; i < depth - 1; i += 2)
                corio_cancel_token_release(chain[i]);
        }
        corio_cancel_token_cancel(chain[0]);
        CHECK_EQ(atomic_load(&tw.wakes), 1);
        CHECK_EQ(poll_with(&f.base, &w), CORIO_READY);
        CHECK(corio_cancel_token_is_cancelled(chain[depth - 1]));
        CHECK(corio_cancel_token_is_cancelled(chain[depth / 2 & ~1]));
        for (int i = 0; i < depth; i++)
            if (round == 0 || i % 2 == 0 || i == depth - 1)
                corio_cancel_token_release(chain[i]);
    }
    /* Uncancelled, released root first: every release adopts one child. */
    chain[0] = new_token();
    for (int i = 1; i < depth; i++)
        chain[i] = new_child(chain[i - 1]);
    for (int i = 0; i < depth - 1; i++)
        corio_cancel_token_release(chain[i]);
    CHECK(!corio_cancel_token_is_cancelled(chain[depth - 1]));
    corio_cancel_token_release(chain[depth - 1]);

    /* Wide: many children of one token. */
    int width = depth / 4;
    corio_cancel_token *root = new_token();
    for (int i = 0; i < width; i++)
        chain[i] = new_child(root);
    corio_cancel_token_cancel(root);
    for (int i = 0; i < width; i++) {
        CHECK(corio_cancel_token_is_cancelled(chain[i]));
        corio_cancel_token_release(chain[i]);
    }
    corio_cancel_token_release(root);
    free(chain);
}

/* ---- waiting tasks and threads ------------------------------------------------ */

typedef struct waiters_ctx {
    corio_cancel_token *root;
    corio_cancel_token *nodes[8];
    atomic_int woken, waiting;
} waiters_ctx;

static int waiter_task(void *arg)
{
    waiters_ctx *c = arg;
    /* Half of them on the deepest token: more than a wake batch there. */
    int k = atomic_fetch_add(&c->waiting, 1);
    int idx = k % 2 ? 7 : k % 8;
    CHECK_EQ(corio_cancel_token_wait(c->nodes[idx]), 0);
    CHECK(corio_cancel_token_is_cancelled(c->nodes[idx]));
    atomic_fetch_add(&c->woken, 1);
    return 0;
}

static void *waiter_thread(void *arg)
{
    waiters_ctx *c = arg;
    atomic_fetch_add(&c->waiting, 1);
    CHECK_EQ(corio_cancel_token_wait(c->nodes[7]), 0);
    atomic_fetch_add(&c->woken, 1);
    return NULL;
}

static int many_waiters_main(void *arg)
{
    waiters_ctx *c = arg;
    enum { THREADS = 2 };
    const int TASKS = SCALE(200, 200, 80);
    corio_task *t[200];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, waiter_thread, c), 0);
    for (int i = 0; i < TASKS; i++)
        CHECK_EQ(corio_spawn(waiter_task, c, &t[i]), 0);
    double t0 = mono_ms();
    while (atomic_load(&c->waiting) < TASKS + THREADS) {
        CHECK(mono_ms() - t0 < 10000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    CHECK_EQ(corio_sleep(CORIO_MSEC(10)), 0);
    CHECK_EQ(atomic_load(&c->woken), 0);
    corio_cancel_token_cancel(c->root);
    for (int i = 0; i < TASKS; i++)
        CHECK_EQ(corio_task_join(t[i], NULL), 0);
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(atomic_load(&c->woken), TASKS + THREADS);
    return 0;
}

TEST(sync_cancel_token_many_waiters_tasks_and_threads)
{
    /* 200 tasks (80 under TSan) and 2 plain threads wait on 8 tokens of
     * one tree (more than a wake batch on one); one cancel of the root
     * wakes them all. */
    for (int mt = 0; mt < 2; mt++) {
        static waiters_ctx c;
        memset(&c, 0, sizeof c);
        c.root = new_token();
        c.nodes[0] = c.root;
        for (int i = 1; i < 8; i++)
            c.nodes[i] = new_child(c.nodes[(i - 1) / 2]);
        if (mt) {
            corio_rt *rt = new_mt_rt(4);
            int r = -1;
            CHECK_EQ(corio_rt_block_on(rt, many_waiters_main, &c, &r), 0);
            CHECK_EQ(r, 0);
            CHECK_EQ(corio_rt_free(rt), 0);
        } else {
            CHECK_EQ(run_main(many_waiters_main, &c), 0);
        }
        for (int i = 0; i < 8; i++)
            corio_cancel_token_release(c.nodes[i]);
    }
}

static int wait_in_scope(void *arg)
{
    return corio_cancel_token_wait(arg);
}

static int wait_task(void *arg)
{
    return corio_cancel_token_wait(arg);
}

static int interrupted_main(void *arg)
{
    corio_cancel_token *tok = new_token();
    /* Timeout on the future form. */
    corio_cancel_token_wait_fut f;
    corio_cancel_token_wait_fut_init(&f, tok);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(5)), CORIO_ETIMEDOUT);
    /* A deadline scope. */
    int res = 0;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(5), wait_in_scope, tok, &res), CORIO_ETIMEDOUT);
    CHECK_EQ(res, CORIO_ETIMEDOUT);
    /* An aborted waiter. */
    corio_task *t;
    CHECK_EQ(corio_spawn(wait_task, tok, &t), 0);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(corio_yield(), 0);
    corio_task_abort(t);
    CHECK_EQ(corio_task_join(t, &res), CORIO_ECANCELED);
    CHECK_EQ(res, CORIO_ECANCELED);
    /* None of that touched the token, and a wait after a cancel completes;
     * a future whose timeout has not passed completes with 0. */
    CHECK(!corio_cancel_token_is_cancelled(tok));
    CHECK_EQ(corio_spawn(wait_task, tok, &t), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(2)), 0);
    corio_cancel_token_cancel(tok);
    CHECK_EQ(corio_task_join(t, &res), 0);
    CHECK_EQ(res, 0);
    corio_cancel_token_wait_fut_init(&f, tok);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(50)), 0);
    CHECK_EQ(f.base.result, 0);
    /* A cancelled task: CORIO_ECANCELED even from a cancelled token (the
     * task's cancellation is reported first). */
    corio_task_abort(corio_task_current());
    CHECK_EQ(corio_cancel_token_wait(tok), CORIO_ECANCELED);
    corio_cancel_token_release(tok);
    return 0;
}

TEST(sync_cancel_token_interrupted_wait)
{
    corio_rt *rt = new_rt();
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, interrupted_main, NULL, &r), CORIO_ECANCELED);
    CHECK_EQ(r, 0);
    corio_rt_free(rt);
}

typedef struct ctx_probe_fut {
    corio_future base;
    corio_cancel_token *tok;
} ctx_probe_fut;

static corio_poll ctx_probe_poll(corio_future *f, corio_context *cx)
{
    ctx_probe_fut *p = (ctx_probe_fut *)f;
    CHECK_EQ(corio_cancel_token_wait(p->tok), CORIO_EWRONGCTX);
    f->result = 9;
    return CORIO_READY;
}

static const corio_future_vtable ctx_probe_vt = {ctx_probe_poll, NULL};

static int ewrongctx_main(void *arg)
{
    ctx_probe_fut p;
    corio_future_init(&p.base, &ctx_probe_vt);
    p.tok = arg;
    corio_task *t;
    CHECK_EQ(corio_spawn_future(&p.base, sizeof p, &t), 0);
    int res = 0;
    CHECK_EQ(corio_task_join(t, &res), 0);
    CHECK_EQ(res, 9);
    return 0;
}

TEST(sync_cancel_token_poll_function_gets_ewrongctx)
{
    corio_cancel_token *tok = new_token();
    CHECK_EQ(run_main(ewrongctx_main, tok), 0);
    corio_cancel_token_release(tok);
}

/* ---- stress --------------------------------------------------------------------- */

typedef struct storm_ctx {
    corio_cancel_token *root;
    corio_cancel_token *mids[4]; /* children of root */
    atomic_int cancelled_seen; /* the root's cancel has returned */
    atomic_int stop;
    atomic_long made, born_cancelled, waits;
} storm_ctx;

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

/* Make and release children and grandchildren of the round's tokens, wait
 * on some, until the round's root is cancelled; then check that what is
 * made afterwards is born cancelled. */
static void storm_body(storm_ctx *c, unsigned seed, bool in_task)
{
    corio_cancel_token *held[8];
    int nheld = 0;
    for (int i = 0; !atomic_load(&c->stop) || i < 50; i++) {
        bool after = atomic_load(&c->cancelled_seen);
        unsigned r = rnd(&seed);
        corio_cancel_token *p = (r & 1) ? c->root : c->mids[(r >> 1) % 4];
        if (nheld && (r & 6) == 6)
            p = held[(r >> 3) % (unsigned)nheld];
        corio_cancel_token *ch = new_child(p);
        atomic_fetch_add(&c->made, 1);
        if (after) {
            CHECK(corio_cancel_token_is_cancelled(ch));
            atomic_fetch_add(&c->born_cancelled, 1);
        }
        if (nheld < 8 && (r & 24) != 0) {
            held[nheld++] = ch;
        } else {
            corio_cancel_token_release(ch);
        }
        if (in_task && (r & 96) == 96 && nheld) {
            /* Wait a little on a held token: woken by the cancel, or not. */
            corio_cancel_token_wait_fut f;
            corio_cancel_token_wait_fut_init(&f, held[0]);
            int rc = corio_timeout(&f.base, CORIO_USEC(r % 100));
            CHECK(rc == 0 || rc == CORIO_ETIMEDOUT);
            if (rc == 0)
                CHECK(corio_cancel_token_is_cancelled(held[0]));
            atomic_fetch_add(&c->waits, 1);
        }
        if (nheld == 8 || (nheld && (r & 0x300) == 0x300)) {
            /* Release a random held one (parents before children too). */
            int k = (int)((r >> 10) % (unsigned)nheld);
            corio_cancel_token_release(held[k]);
            held[k] = held[--nheld];
        }
    }
    for (int k = 0; k < nheld; k++) {
        CHECK(corio_cancel_token_is_cancelled(held[k])); /* the root's cancel */
        corio_cancel_token_release(held[k]);
    }
}

static int storm_task(void *arg)
{
    storm_body(arg, (unsigned)corio_task_id(corio_task_current()) * 40503u, true);
    return 0;
}

static void *storm_thread(void *arg)
{
    storm_body(arg, (unsigned)(uintptr_t)pthread_self(), false);
    return NULL;
}

static int blocked_waiter(void *arg)
{
    return corio_cancel_token_wait(arg);
}

static int storm_main(void *arg)
{
    storm_ctx *c = arg;
    enum { TASKS = 6, THREADS = 2, WAITERS = 40 };
    int rounds = SCALE(60, 20, 5);
    unsigned seed = 99;
    double t0 = mono_ms();
    for (int round = 0; round < rounds && mono_ms() - t0 < 1500; round++) {
        c->root = new_token();
        for (int i = 0; i < 4; i++)
            c->mids[i] = new_child(c->root);
        atomic_store(&c->cancelled_seen, 0);
        atomic_store(&c->stop, 0);
        corio_task *t[TASKS], *w[WAITERS];
        pthread_t th[THREADS];
        for (int i = 0; i < WAITERS; i++)
            CHECK_EQ(corio_spawn(blocked_waiter, c->mids[i % 4], &w[i]), 0);
        for (int i = 0; i < THREADS; i++)
            CHECK_EQ(pthread_create(&th[i], NULL, storm_thread, c), 0);
        for (int i = 0; i < TASKS; i++)
            CHECK_EQ(corio_spawn(storm_task, c, &t[i]), 0);
        CHECK_EQ(corio_sleep(CORIO_USEC(rnd(&seed) % 2000)), 0);
        /* Sometimes a subtree first, then the whole tree. */
        if (rnd(&seed) & 1)
            corio_cancel_token_cancel(c->mids[2]);
        corio_cancel_token_cancel(c->root);
        atomic_store(&c->cancelled_seen, 1);
        CHECK_EQ(corio_sleep(CORIO_USEC(rnd(&seed) % 500)), 0);
        atomic_store(&c->stop, 1);
        for (int i = 0; i < TASKS; i++)
            CHECK_EQ(corio_task_join(t[i], NULL), 0);
        for (int i = 0; i < THREADS; i++)
            CHECK_EQ(pthread_join(th[i], NULL), 0);
        for (int i = 0; i < WAITERS; i++) {
            int res = -1;
            CHECK_EQ(corio_task_join(w[i], &res), 0);
            CHECK_EQ(res, 0);
        }
        for (int i = 0; i < 4; i++)
            corio_cancel_token_release(c->mids[i]);
        corio_cancel_token_release(c->root);
    }
    return 0;
}

TEST(sync_cancel_token_stress_cancel_races_children)
{
    static storm_ctx c;
    memset(&c, 0, sizeof c);
    corio_rt *rt = new_mt_rt(4);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, storm_main, &c, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK(atomic_load(&c.made) > 0);
    CHECK(atomic_load(&c.born_cancelled) > 0);
}

/* Releases of the last handle of middle tokens racing a cancel of the
 * root and the making of grandchildren, from several threads. */
typedef struct release_race {
    corio_cancel_token *root;
    corio_cancel_token *mid[64];
    atomic_int go;
} release_race;

static void *release_mids(void *arg)
{
    release_race *rr = arg;
    while (!atomic_load(&rr->go))
        sched_yield();
    for (int i = 0; i < 64; i += 2) {
        corio_cancel_token *g = new_child(rr->mid[i]);
        corio_cancel_token_release(rr->mid[i]);
        corio_cancel_token_release(g);
    }
    return NULL;
}

static void *release_mids_odd(void *arg)
{
    release_race *rr = arg;
    while (!atomic_load(&rr->go))
        sched_yield();
    for (int i = 1; i < 64; i += 2)
        corio_cancel_token_release(rr->mid[i]);
    return NULL;
}

static void *cancel_root(void *arg)
{
    release_race *rr = arg;
    while (!atomic_load(&rr->go))
        sched_yield();
    corio_cancel_token_cancel(rr->root);
    return NULL;
}

TEST(sync_cancel_token_stress_last_release_races_cancel)
{
    int rounds = SCALE(2000, 500, 200);
    double t0 = mono_ms();
    for (int k = 0; k < rounds && mono_ms() - t0 < 1500; k++) {
        release_race rr;
        memset(&rr, 0, sizeof rr);
        rr.root = new_token();
        corio_cancel_token *leaves[64];
        for (int i = 0; i < 64; i++) {
            rr.mid[i] = new_child(rr.root);
            leaves[i] = new_child(rr.mid[i]);
        }
        pthread_t th[3];
        CHECK_EQ(pthread_create(&th[0], NULL, release_mids, &rr), 0);
        CHECK_EQ(pthread_create(&th[1], NULL, release_mids_odd, &rr), 0);
        CHECK_EQ(pthread_create(&th[2], NULL, cancel_root, &rr), 0);
        atomic_store(&rr.go, 1);
        for (int i = 0; i < 3; i++)
            CHECK_EQ(pthread_join(th[i], NULL), 0);
        /* Whatever the order, the root's cancel reached every leaf. */
        for (int i = 0; i < 64; i++) {
            CHECK(corio_cancel_token_is_cancelled(leaves[i]));
            corio_cancel_token_release(leaves[i]);
        }
        corio_cancel_token_release(rr.root);
    }
}

/* "Cancelling a token cancels all of its descendants, at once": a thread
 * that sees any token of the cancelled subtree cancelled sees the whole
 * subtree cancelled. The cancel marks the tokens one after another under
 * the tree's lock, which is_cancelled does not take; before it looked at
 * that lock, a reader that saw the root (or the first child) cancelled
 * could find a later child, one with many children of its own to walk
 * before its turn, not cancelled yet. */
typedef struct at_once {
    corio_cancel_token *root, *first, *second;
    atomic_int go;
    atomic_int saw_partial;
} at_once;

static void *watch_at_once(void *arg)
{
    at_once *a = arg;
    atomic_store(&a->go, 1);
    while (!corio_cancel_token_is_cancelled(a->root) &&
           !corio_cancel_token_is_cancelled(a->first))
        ;
    if (!corio_cancel_token_is_cancelled(a->second))
        atomic_store(&a->saw_partial, 1);
    return NULL;
}

TEST(sync_cancel_token_subtree_seen_cancelled_at_once)
{
    int kids = SCALE(20000, 5000, 5000);
    corio_cancel_token **gk = malloc((size_t)kids * sizeof *gk);
    CHECK(gk != NULL);
    double t0 = mono_ms();
    for (int k = 0; k < 40 && mono_ms() - t0 < 2000; k++) {
        at_once a;
        memset(&a, 0, sizeof a);
        a.root = new_token();
        /* Children are walked newest first: `first`, then `second`, whose
         * own children are gathered before it is marked. */
        a.second = new_child(a.root);
        for (int i = 0; i < kids; i++)
            gk[i] = new_child(a.second);
        a.first = new_child(a.root);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, watch_at_once, &a), 0);
        while (!atomic_load(&a.go))
            sched_yield();
        corio_cancel_token_cancel(a.root);
        CHECK_EQ(pthread_join(th, NULL), 0);
        CHECK_EQ(atomic_load(&a.saw_partial), 0);
        for (int i = 0; i < kids; i++)
            corio_cancel_token_release(gk[i]);
        corio_cancel_token_release(a.first);
        corio_cancel_token_release(a.second);
        corio_cancel_token_release(a.root);
    }
    free(gk);
}
