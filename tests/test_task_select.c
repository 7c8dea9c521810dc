/* tests/test_task_select.c - select and references (corio/select.h): one
 * test per promise of the header, on the current-thread runtime (the
 * multi-thread stress loops are in test_task_combinators_stress.c). */
#include <errno.h>
#include <string.h>

#include "corio/select.h"
#include "test.h"
#include "util.h"

/* A zeroed future: no vtable. */
static corio_future zeroed;

/* ---- select ------------------------------------------------------------------------ */

static int select_winner_main(void *arg)
{
    (void)arg;
    never_fut n1, n2;
    count_fut win;
    never_init(&n1);
    never_init(&n2);
    count_init(&win, 2, 42);
    size_t i = 99;
    CHECK_EQ(corio_select(CORIO_FUTURES(&n1.base, &win.base, &n2.base), &i), 0);
    CHECK_EQ(i, 1);
    CHECK_EQ(win.base.result, 42);
    CHECK_EQ(atomic_load(&win.drops), 0);
    CHECK_EQ(n1.drops, 1); /* the losers, once each */
    CHECK_EQ(n2.drops, 1);
    /* Every branch is polled at each wake (the last pass may stop at the
     * winner before reaching n1: the start varies). */
    CHECK(n1.polls == 2 || n1.polls == 3);
    CHECK(n2.polls == 2 || n2.polls == 3);
    /* A timeout is one more branch. */
    never_init(&n1);
    double t0 = mono_ms(); /* before the init reads the clock */
    corio_sleep_fut tick;
    corio_sleep_fut_init(&tick, CORIO_MSEC(20));
    CHECK_EQ(corio_select(CORIO_FUTURES(&n1.base, &tick.base), &i), 0);
    CHECK(mono_ms() - t0 >= 19.0);
    CHECK_EQ(i, 1);
    CHECK_EQ(n1.drops, 1);
    /* index may be NULL. */
    count_init(&win, 0, 1);
    CHECK_EQ(corio_select(CORIO_FUTURES(&win.base), NULL), 0);
    return 0;
}

TEST(combinators_select_first_ready_wins_losers_dropped_once)
{
    CHECK_EQ(run_main(select_winner_main, NULL), 0);
}

static int select_fairness_main(void *arg)
{
    (void)arg;
    int fair[2] = {0, 0}, biased[2] = {0, 0};
    for (int k = 0; k < 1000; k++) {
        count_fut a, b;
        count_init(&a, 0, 0);
        count_init(&b, 0, 1);
        size_t i;
        CHECK_EQ(corio_select(CORIO_FUTURES(&a.base, &b.base), &i), 0);
        fair[i]++;
        /* The loser was dropped, never polled after the winner. */
        count_fut *loser = i == 0 ? &b : &a;
        CHECK_EQ(atomic_load(&loser->drops), 1);
        count_init(&a, 0, 0);
        count_init(&b, 0, 1);
        CHECK_EQ(corio_select_biased(CORIO_FUTURES(&a.base, &b.base), &i), 0);
        biased[i]++;
        CHECK_EQ(atomic_load(&b.polls), 0); /* in order: never reached */
    }
    CHECK_EQ(biased[0], 1000);
    /* Both ready every time: a fair start gives each branch its share. */
    CHECK(fair[0] >= 350 && fair[1] >= 350);
    /* The same through the future forms. */
    int f3[3] = {0, 0, 0};
    for (int k = 0; k < 900; k++) {
        ready_fut r[3];
        int polls = 0;
        for (int j = 0; j < 3; j++)
            ready_fut_init(&r[j], &polls);
        corio_select_fut s;
        corio_select_fut_init(&s, CORIO_FUTURES(&r[0].base, &r[1].base, &r[2].base));
        CHECK_EQ(s.index, CORIO_INDEX_NONE);
        CHECK_EQ(corio_await(&s.base), 0);
        CHECK_EQ(s.base.result, 0);
        CHECK_EQ(polls, 1);
        f3[s.index]++;
        corio_select_fut_init_biased(&s, CORIO_FUTURES(&r[0].base, &r[1].base, &r[2].base));
        CHECK_EQ(corio_await(&s.base), 0);
        CHECK_EQ(s.index, 0);
    }
    CHECK(f3[0] >= 200 && f3[1] >= 200 && f3[2] >= 200);
    return 0;
}

TEST(combinators_select_fair_by_default_biased_on_request)
{
    CHECK_EQ(run_main(select_fairness_main, NULL), 0);
}

static int select_misuse_main(void *arg)
{
    (void)arg;
    count_fut a;
    count_init(&a, 0, 1);
    size_t i = 3;
    CHECK_EQ(corio_select(NULL, 2, &i), -EINVAL);
    CHECK_EQ(i, CORIO_INDEX_NONE);
    corio_future *one[1] = {&a.base};
    CHECK_EQ(corio_select(one, 0, &i), -EINVAL);
    CHECK_EQ(corio_select(CORIO_FUTURES(NULL, NULL), &i), -EINVAL); /* nothing enabled */
    CHECK_EQ(corio_select(CORIO_FUTURES(&a.base, &zeroed), &i), -EINVAL);
    CHECK_EQ(corio_select_biased(CORIO_FUTURES(&zeroed), &i), -EINVAL);
    CHECK_EQ(atomic_load(&a.polls) + atomic_load(&a.drops), 0);
    corio_select_fut s;
    corio_select_fut_init(&s, CORIO_FUTURES(&a.base, &zeroed));
    corio_future_drop(&s.base); /* owns nothing: a is not dropped */
    corio_select_fut_init(&s, CORIO_FUTURES(&a.base, &zeroed));
    CHECK_EQ(corio_await(&s.base), 0);
    CHECK_EQ(s.base.result, -EINVAL);
    CHECK_EQ(s.index, CORIO_INDEX_NONE);
    CHECK_EQ(atomic_load(&a.polls) + atomic_load(&a.drops), 0);
    corio_select_fut_init(NULL, NULL, 0);
    corio_select_fut_init_biased(NULL, NULL, 0);
    /* A disabled (NULL) branch is neither polled nor dropped. */
    never_fut n;
    never_init(&n);
    count_init(&a, 1, 5);
    CHECK_EQ(corio_select(CORIO_FUTURES(NULL, &a.base, NULL, &n.base), &i), 0);
    CHECK_EQ(i, 1);
    CHECK_EQ(n.drops, 1);
    return 0;
}

TEST(combinators_select_misuse_is_einval_and_touches_nothing)
{
    CHECK_EQ(run_main(select_misuse_main, NULL), 0);
}

/* Two branches, corio_select's own path (constant indices, each future's
 * vtable read when the select starts): every shape of it, in both
 * positions, fair and biased, ready at once or after self-wakes. */
static int select_pair_main(void *arg)
{
    (void)arg;
    for (int biased = 0; biased < 2; biased++) {
        for (int pos = 0; pos < 2; pos++) {
            for (int pending = 0; pending < 3; pending++) {
                /* One disabled branch: the other wins, the NULL is left alone. */
                count_fut a;
                count_init(&a, pending, 7);
                corio_future *futs[2] = {NULL, NULL};
                futs[pos] = &a.base;
                size_t i = 99;
                int rc = biased ? corio_select_biased(futs, 2, &i) : corio_select(futs, 2, &i);
                CHECK_EQ(rc, 0);
                CHECK_EQ(i, (size_t)pos);
                CHECK_EQ(a.base.result, 7);
                CHECK_EQ(atomic_load(&a.polls), pending + 1);
                CHECK_EQ(atomic_load(&a.drops), 0);
                /* Both enabled, one never ready: the other wins after its
                 * self-wakes, the never one is dropped once. */
                never_fut n;
                never_init(&n);
                count_init(&a, pending, 8);
                futs[pos] = &a.base;
                futs[1 - pos] = &n.base;
                rc = biased ? corio_select_biased(futs, 2, &i) : corio_select(futs, 2, &i);
                CHECK_EQ(rc, 0);
                CHECK_EQ(i, (size_t)pos);
                CHECK_EQ(a.base.result, 8);
                CHECK_EQ(atomic_load(&a.drops), 0);
                CHECK_EQ(n.drops, 1);
                /* Both ready: one wins, the other is dropped once, never
                 * polled after; biased takes the first. */
                count_fut b;
                count_init(&a, pending, 1);
                count_init(&b, pending, 2);
                rc = biased ? corio_select_biased(CORIO_FUTURES(&a.base, &b.base), &i)
                            : corio_select(CORIO_FUTURES(&a.base, &b.base), &i);
                CHECK_EQ(rc, 0);
                CHECK(i == 0 || i == 1);
                if (biased)
                    CHECK_EQ(i, 0);
                count_fut *w = i == 0 ? &a : &b, *l = i == 0 ? &b : &a;
                CHECK_EQ(w->base.result, i == 0 ? 1 : 2);
                CHECK_EQ(atomic_load(&w->drops), 0);
                CHECK_EQ(atomic_load(&l->drops), 1);
                CHECK(atomic_load(&l->polls) <= atomic_load(&w->polls));
            }
        }
    }
    return 0;
}

TEST(combinators_select_two_branches_every_shape)
{
    CHECK_EQ(run_main(select_pair_main, NULL), 0);
}

/* A branch that completes with an error still wins. */
static int select_error_wins_main(void *arg)
{
    (void)arg;
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new(sizeof(int), 4, &tx, &rx), 0);
    corio_mpsc_tx_release(tx); /* closed */
    int v;
    corio_mpsc_recv_fut r;
    never_fut n;
    corio_mpsc_recv_fut_init(&r, rx, &v);
    never_init(&n);
    size_t i;
    CHECK_EQ(corio_select(CORIO_FUTURES(&n.base, &r.base), &i), 0);
    CHECK_EQ(i, 1);
    CHECK_EQ(r.base.result, CORIO_ECLOSED);
    corio_mpsc_rx_release(rx);
    return 0;
}

TEST(combinators_select_branch_that_fails_still_wins)
{
    CHECK_EQ(run_main(select_error_wins_main, NULL), 0);
}

/* Seed 003's loop: a producer sends, the loop races the receive against a
 * timer that often wins; the receive that loses consumed nothing. */
typedef struct producer {
    corio_mpsc_tx *tx;
    int n;
} producer;

static int produce(void *arg)
{
    producer *p = arg;
    for (int i = 0; i < p->n; i++) {
        CHECK_EQ(corio_mpsc_send(p->tx, &i), 0);
        if (i % 3 == 0)
            CHECK_EQ(corio_sleep(CORIO_USEC(300)), 0);
        else
            CHECK_EQ(corio_yield(), 0);
    }
    corio_mpsc_tx_release(p->tx);
    return 0;
}

static int select_loop_main(void *arg)
{
    (void)arg;
    corio_mpsc_rx *rx;
    producer p = {.n = 300};
    CHECK_EQ(corio_mpsc_new(sizeof(int), 2, &p.tx, &rx), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(produce, &p, &t), 0);
    int next = 0, ticks = 0;
    bool open = true;
    while (open) {
        int v;
        corio_mpsc_recv_fut recv;
        corio_sleep_fut tick;
        corio_mpsc_recv_fut_init(&recv, rx, &v);
        corio_sleep_fut_init(&tick, 0); /* ready at once: races every receive */
        size_t i;
        CHECK_EQ(corio_select(CORIO_FUTURES(&recv.base, &tick.base), &i), 0);
        if (i == 1) {
            ticks++;
            continue;
        }
        if (recv.base.result == CORIO_ECLOSED) {
            open = false;
            continue;
        }
        CHECK_EQ(recv.base.result, 0);
        CHECK_EQ(v, next); /* in order, none lost, none twice */
        next++;
    }
    CHECK_EQ(next, 300);
    CHECK(ticks > 0); /* the timer did win, and the receives it beat lost nothing */
    join_rc(t);
    corio_mpsc_rx_release(rx);
    return 0;
}

TEST(combinators_select_loop_loses_no_message)
{
    CHECK_EQ(run_main(select_loop_main, NULL), 0);
}

static int select_deadline_main(void *arg)
{
    (void)arg;
    never_fut a, b;
    never_init(&a);
    never_init(&b);
    corio_select_fut s;
    corio_select_fut_init(&s, CORIO_FUTURES(&a.base, &b.base));
    CHECK_EQ(corio_timeout(&s.base, CORIO_MSEC(20)), CORIO_ETIMEDOUT);
    CHECK_EQ(a.drops, 1);
    CHECK_EQ(b.drops, 1);
    CHECK_EQ(s.index, CORIO_INDEX_NONE);
    /* Dropping the timeout (not awaited to the end) drops the select too. */
    never_init(&a);
    corio_select_fut_init(&s, CORIO_FUTURES(&a.base));
    corio_timeout_fut to;
    corio_timeout_fut_init(&to, &s.base, CORIO_SEC(10));
    corio_future_drop(&to.base);
    CHECK_EQ(a.drops, 1);
    corio_future_drop(&s.base); /* a second drop of a dropped select: nothing more */
    CHECK_EQ(a.drops, 1);
    return 0;
}

TEST(combinators_select_under_a_timeout)
{
    CHECK_EQ(run_main(select_deadline_main, NULL), 0);
}

typedef struct sel_blocked {
    never_fut n;
    value_fut v;
    corio_mpsc_rx *rx;
    int msg;
    int rc;
    size_t index;
} sel_blocked;

static int blocked_in_select(void *arg)
{
    sel_blocked *b = arg;
    corio_mpsc_recv_fut r;
    corio_mpsc_recv_fut_init(&r, b->rx, &b->msg);
    b->rc = corio_select(CORIO_FUTURES(&b->n.base, &b->v.base, &r.base), &b->index);
    return 0;
}

static int select_cancel_main(void *arg)
{
    (void)arg;
    sel_blocked b;
    corio_mpsc_tx *tx;
    CHECK_EQ(corio_mpsc_new(sizeof(int), 4, &tx, &b.rx), 0);
    never_init(&b.n);
    value_init(&b.v, CORIO_SEC(30), 1);
    b.index = 0;
    corio_task *t;
    CHECK_EQ(corio_spawn(blocked_in_select, &b, &t), 0);
    settle();
    corio_task_abort(t);
    join_rc(t);
    CHECK_EQ(b.rc, CORIO_ECANCELED);
    CHECK_EQ(b.index, CORIO_INDEX_NONE);
    CHECK_EQ(b.n.drops, 1);
    CHECK_EQ(b.v.drops, 1);
    /* The dropped receive consumed nothing: a message sent now is there. */
    int x = 77, y = 0;
    CHECK_EQ(corio_mpsc_send(tx, &x), 0);
    CHECK_EQ(corio_mpsc_try_recv(b.rx, &y), 0);
    CHECK_EQ(y, 77);
    corio_mpsc_tx_release(tx);
    corio_mpsc_rx_release(b.rx);
    return 0;
}

TEST(combinators_select_cancelled_drops_every_branch_once)
{
    CHECK_EQ(run_main(select_cancel_main, NULL), 0);
}

/* ---- references ------------------------------------------------------------------- */

/* A deadline for the whole loop, raced through a reference each time
 * round: the selects drop the references, never the sleep. */
static int ref_loop_main(void *arg)
{
    (void)arg;
    double t0 = mono_ms(); /* before the init reads the clock */
    corio_sleep_fut deadline;
    corio_sleep_fut_init(&deadline, CORIO_MSEC(60));
    int rounds = 0;
    for (;;) {
        corio_ref_fut dl;
        corio_sleep_fut tick;
        corio_ref_fut_init(&dl, &deadline.base);
        corio_sleep_fut_init(&tick, CORIO_MSEC(5));
        size_t i;
        CHECK_EQ(corio_select(CORIO_FUTURES(&tick.base, &dl.base), &i), 0);
        if (i == 1)
            break;
        rounds++;
    }
    double ms = mono_ms() - t0;
    CHECK(ms >= 59.0 && ms < 200.0); /* the first deadline, not reset each round */
    CHECK(rounds >= 3);
    /* A reference to nothing: -EINVAL at once, and no drop to call. */
    corio_ref_fut r;
    corio_ref_fut_init(&r, NULL);
    CHECK_EQ(corio_await(&r.base), 0);
    CHECK_EQ(r.base.result, -EINVAL);
    corio_ref_fut_init(&r, &zeroed);
    CHECK_EQ(corio_await(&r.base), 0);
    CHECK_EQ(r.base.result, -EINVAL);
    corio_ref_fut_init(NULL, &zeroed);
    /* The result is copied; dropping the reference leaves the future. */
    never_fut n;
    never_init(&n);
    corio_ref_fut_init(&r, &n.base);
    corio_select_fut s;
    corio_select_fut_init(&s, CORIO_FUTURES(&r.base));
    CHECK_EQ(corio_timeout(&s.base, CORIO_MSEC(5)), CORIO_ETIMEDOUT);
    CHECK_EQ(n.drops, 0);
    CHECK(n.polls >= 1); /* polled through the reference */
    corio_future_drop(&n.base); /* ours to drop */
    count_fut c;
    count_init(&c, 1, 31);
    corio_ref_fut_init(&r, &c.base);
    CHECK_EQ(corio_await(&r.base), 0);
    CHECK_EQ(r.base.result, 31);
    return 0;
}

TEST(combinators_ref_races_a_future_without_dropping_it)
{
    CHECK_EQ(run_main(ref_loop_main, NULL), 0);
}
