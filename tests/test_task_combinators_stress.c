/* tests/test_task_combinators_stress.c - select, join_all, task_join_all
 * and JoinSet on the multi-thread runtime, with wakes coming from several
 * threads at once. They fail on a lost wakeup (the test hangs), on a
 * future completed and dropped, dropped twice or polled after its end
 * (counts), on a lost message or task (sums), or on a race (TSan). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "corio/join.h"
#include "corio/join_set.h"
#include "corio/select.h"
#include "test.h"
#include "util.h"

/* ---- race_fut: completed from another thread; counts how it ended --------- */

typedef struct race_fut {
    corio_future base;
    pthread_mutex_t mu;
    corio_waker w; /* under mu */
    bool ready;    /* under mu: completed by another thread */
    int value;
    atomic_int readies;    /* polls that returned READY */
    atomic_int drops;      /* drops */
    atomic_int after_end;  /* polls or drops after it had ended: never allowed */
} race_fut;

static corio_poll race_poll(corio_future *f, corio_context *cx)
{
    race_fut *r = (race_fut *)f;
    if (atomic_load(&r->readies) || atomic_load(&r->drops))
        atomic_fetch_add(&r->after_end, 1);
    pthread_mutex_lock(&r->mu);
    if (r->ready) {
        corio_waker_drop(&r->w); /* a ready future owns nothing */
        pthread_mutex_unlock(&r->mu);
        atomic_fetch_add(&r->readies, 1);
        f->result = r->value;
        return CORIO_READY;
    }
    corio_waker_store(&r->w, corio_context_waker(cx));
    pthread_mutex_unlock(&r->mu);
    return CORIO_PENDING;
}

static void race_drop(corio_future *f)
{
    race_fut *r = (race_fut *)f;
    if (atomic_load(&r->readies) || atomic_load(&r->drops))
        atomic_fetch_add(&r->after_end, 1);
    atomic_fetch_add(&r->drops, 1);
    pthread_mutex_lock(&r->mu);
    corio_waker_drop(&r->w);
    pthread_mutex_unlock(&r->mu);
}

static const corio_future_vtable race_vt = {race_poll, race_drop};

static void race_init(race_fut *r, int value)
{
    corio_future_init(&r->base, &race_vt);
    pthread_mutex_init(&r->mu, NULL);
    r->w = CORIO_WAKER_NONE;
    r->ready = false;
    r->value = value;
    atomic_init(&r->readies, 0);
    atomic_init(&r->drops, 0);
    atomic_init(&r->after_end, 0);
}

/* Complete r and wake its waiter, from any thread. */
static void race_complete(race_fut *r)
{
    pthread_mutex_lock(&r->mu);
    r->ready = true;
    corio_waker w = r->w;
    r->w = CORIO_WAKER_NONE;
    pthread_mutex_unlock(&r->mu);
    corio_waker_wake(&w);
}

/* Each future ended exactly once: completed (READY) or dropped. */
static void check_ended_once(race_fut *r)
{
    CHECK_EQ(atomic_load(&r->readies) + atomic_load(&r->drops), 1);
    CHECK_EQ(atomic_load(&r->after_end), 0);
}

/* ---- completer threads ---------------------------------------------------------- */

/* Round r's futures are futs[r * k .. r * k + k - 1]; thread j completes
 * future j of each round once the consumer has published the round. */
typedef struct round_set {
    race_fut *futs;
    int k, nrounds;
    atomic_int published; /* rounds the consumer has set up */
    unsigned seed;
} round_set;

typedef struct completer {
    round_set *r;
    int j;
} completer;

static void *complete_rounds(void *arg)
{
    completer *c = arg;
    round_set *r = c->r;
    unsigned s = r->seed * 31 + (unsigned)c->j;
    for (int round = 0; round < r->nrounds; round++) {
        while (atomic_load(&r->published) <= round)
            sched_yield();
        s = s * 1103515245u + 12345u;
        if (s >> 16 & 1)
            sched_yield(); /* vary who comes first */
        race_complete(&r->futs[round * r->k + c->j]);
    }
    return NULL;
}

/* ---- select racing wakes from several threads --------------------------------- */

#define K 4

static int select_racing_main(void *arg)
{
    round_set *r = arg;
    for (int round = 0; round < r->nrounds; round++) {
        race_fut *f = &r->futs[round * K];
        for (int j = 0; j < K; j++)
            race_init(&f[j], j);
        atomic_store(&r->published, round + 1);
        size_t i;
        int rc = round % 2 ? corio_select_biased(CORIO_FUTURES(&f[0].base, &f[1].base, &f[2].base,
                                                               &f[3].base),
                                                 &i)
                           : corio_select(CORIO_FUTURES(&f[0].base, &f[1].base, &f[2].base,
                                                        &f[3].base),
                                          &i);
        CHECK_EQ(rc, 0);
        CHECK(i < K);
        CHECK_EQ(f[i].base.result, (int)i);
        CHECK_EQ(atomic_load(&f[i].readies), 1);
        for (int j = 0; j < K; j++)
            check_ended_once(&f[j]); /* the winner completed, every loser dropped */
    }
    return 0;
}

TEST(combinators_stress_select_racing_wakes_from_threads)
{
    round_set r = {.k = K, .nrounds = SCALE(10000, 2000, 300), .seed = 7};
    r.futs = calloc((size_t)r.nrounds * K, sizeof(race_fut));
    atomic_init(&r.published, 0);
    pthread_t th[K];
    completer c[K];
    for (int j = 0; j < K; j++) {
        c[j] = (completer){&r, j};
        CHECK_EQ(pthread_create(&th[j], NULL, complete_rounds, &c[j]), 0);
    }
    corio_rt *rt = new_mt_rt(2);
    int result = -1;
    CHECK_EQ(corio_rt_block_on(rt, select_racing_main, &r, &result), 0);
    CHECK_EQ(result, 0);
    for (int j = 0; j < K; j++)
        pthread_join(th[j], NULL);
    CHECK_EQ(corio_rt_free(rt), 0);
    for (int i = 0; i < r.nrounds * K; i++)
        CHECK_EQ(atomic_load(&r.futs[i].after_end), 0);
    free(r.futs);
}

/* Producer threads on channels of their own; one task selects over every
 * receive and a timer that keeps winning; nothing is lost or reordered. */
typedef struct chan_producer {
    corio_mpsc_tx *tx;
    int n;
} chan_producer;

static void *produce_thread(void *arg)
{
    chan_producer *p = arg;
    for (int i = 0; i < p->n; i++)
        CHECK_EQ(corio_mpsc_send(p->tx, &i), 0); /* blocks the thread when full */
    corio_mpsc_tx_release(p->tx);
    return NULL;
}

typedef struct chan_consumer {
    corio_mpsc_rx *rx[K];
    int n;
} chan_consumer;

static int select_channels_main(void *arg)
{
    chan_consumer *c = arg;
    int next[K] = {0};
    int open = K, ticks = 0;
    while (open) {
        corio_mpsc_recv_fut r[K];
        int v[K];
        corio_future *b[K + 1];
        for (int j = 0; j < K; j++) {
            corio_mpsc_recv_fut_init(&r[j], c->rx[j], &v[j]);
            b[j] = c->rx[j] ? &r[j].base : NULL;
        }
        corio_sleep_fut tick;
        corio_sleep_fut_init(&tick, CORIO_USEC(200));
        b[K] = &tick.base;
        size_t i;
        CHECK_EQ(corio_select(b, K + 1, &i), 0);
        if (i == K) {
            ticks++;
            continue;
        }
        if (r[i].base.result == CORIO_ECLOSED) {
            corio_mpsc_rx_release(c->rx[i]);
            c->rx[i] = NULL; /* that branch is disabled from now on */
            open--;
            continue;
        }
        CHECK_EQ(r[i].base.result, 0);
        CHECK_EQ(v[i], next[i]);
        next[i]++;
    }
    for (int j = 0; j < K; j++)
        CHECK_EQ(next[j], c->n);
    return ticks;
}

TEST(combinators_stress_select_over_channels_fed_by_threads)
{
    const int n = SCALE(20000, 5000, 1000);
    chan_consumer c = {.n = n};
    chan_producer p[K];
    pthread_t th[K];
    for (int j = 0; j < K; j++) {
        CHECK_EQ(corio_mpsc_new(sizeof(int), 8, &p[j].tx, &c.rx[j]), 0);
        p[j].n = n;
        CHECK_EQ(pthread_create(&th[j], NULL, produce_thread, &p[j]), 0);
    }
    corio_rt *rt = new_mt_rt(3);
    int ticks = -1;
    CHECK_EQ(corio_rt_block_on(rt, select_channels_main, &c, &ticks), 0);
    CHECK(ticks >= 0);
    for (int j = 0; j < K; j++)
        pthread_join(th[j], NULL);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- cancellation of tasks blocked in select and join -------------------------------- */

/* Each victim waits in a select (even) or a join_all (odd) over 3 race
 * futures of its own; completer threads complete them at about the time
 * the main task aborts the victims. Every future ends exactly once. */
#define VICTIM_FUTS 3

typedef struct victim {
    race_fut f[VICTIM_FUTS];
    int kind;
    int rc;
} victim;

static int victim_task(void *arg)
{
    victim *v = arg;
    corio_future *b[VICTIM_FUTS] = {&v->f[0].base, &v->f[1].base, &v->f[2].base};
    if (v->kind)
        v->rc = corio_join_all(b, VICTIM_FUTS);
    else
        v->rc = corio_select(b, VICTIM_FUTS, NULL);
    return 0;
}

typedef struct victims {
    victim *v;
    int n;
    atomic_int go;
} victims;

static void *complete_victims(void *arg)
{
    victims *vs = arg;
    while (!atomic_load(&vs->go))
        sched_yield();
    for (int i = 0; i < vs->n; i++)
        for (int j = 0; j < VICTIM_FUTS; j++)
            if ((i + j) % 2 == 0) /* some of each victim's futures */
                race_complete(&vs->v[i].f[j]);
    return NULL;
}

static int cancel_blocked_main(void *arg)
{
    victims *vs = arg;
    corio_task **t = calloc((size_t)vs->n, sizeof *t);
    for (int i = 0; i < vs->n; i++) {
        vs->v[i].kind = i % 2;
        vs->v[i].rc = 1;
        for (int j = 0; j < VICTIM_FUTS; j++)
            race_init(&vs->v[i].f[j], j);
        CHECK_EQ(corio_spawn(victim_task, &vs->v[i], &t[i]), 0);
    }
    CHECK_EQ(corio_yield(), 0);
    atomic_store(&vs->go, 1);
    for (int i = 0; i < vs->n; i++) {
        corio_task_abort(t[i]);
        if (i % 16 == 0)
            CHECK_EQ(corio_yield(), 0);
    }
    for (int i = 0; i < vs->n; i++)
        join_rc(t[i]);
    free(t);
    return 0;
}

TEST(combinators_stress_cancel_tasks_blocked_in_select_and_join)
{
    victims vs = {.n = SCALE(2000, 600, 150)};
    vs.v = calloc((size_t)vs.n, sizeof(victim));
    atomic_init(&vs.go, 0);
    pthread_t th[2];
    for (int j = 0; j < 2; j++)
        CHECK_EQ(pthread_create(&th[j], NULL, complete_victims, &vs), 0);
    corio_rt *rt = new_mt_rt(2);
    int result;
    CHECK_EQ(corio_rt_block_on(rt, cancel_blocked_main, &vs, &result), 0);
    for (int j = 0; j < 2; j++)
        pthread_join(th[j], NULL);
    CHECK_EQ(corio_rt_free(rt), 0);
    int cancelled = 0;
    for (int i = 0; i < vs.n; i++) {
        victim *v = &vs.v[i];
        CHECK(v->rc == 0 || v->rc == CORIO_ECANCELED);
        cancelled += v->rc == CORIO_ECANCELED;
        int readies = 0;
        for (int j = 0; j < VICTIM_FUTS; j++) {
            race_fut *f = &v->f[j];
            CHECK_EQ(atomic_load(&f->after_end), 0);
            readies += atomic_load(&f->readies);
            if (v->rc == CORIO_ECANCELED)
                CHECK_EQ(atomic_load(&f->readies) + atomic_load(&f->drops), 1);
            else if (v->kind == 0) /* a select that finished: one winner, the rest dropped */
                check_ended_once(f);
        }
        if (v->rc == 0 && v->kind == 0)
            CHECK_EQ(readies, 1);
        /* join_all can only finish if all three completed: futures 1 of
         * each victim with (i + 1) odd never do, so joins are cancelled. */
    }
    CHECK(cancelled > 0);
    free(vs.v);
}

/* ---- join_all of thousands ---------------------------------------------------------- */

typedef struct yield_once {
    corio_future base;
    int v;
    bool yielded;
} yield_once;

static corio_poll yield_once_poll(corio_future *f, corio_context *cx)
{
    yield_once *y = (yield_once *)f;
    if (!y->yielded) {
        y->yielded = true;
        corio_waker_wake_by_ref(corio_context_waker(cx));
        return CORIO_PENDING;
    }
    f->result = y->v;
    return CORIO_READY;
}

static const corio_future_vtable yield_once_vt = {yield_once_poll, NULL};

static int yield_twice(void *arg)
{
    CHECK_EQ(corio_yield(), 0);
    CHECK_EQ(corio_yield(), 0);
    return (int)(intptr_t)arg;
}

static int join_thousands_main(void *arg)
{
    int n = *(int *)arg;
    corio_task **t = calloc((size_t)n, sizeof *t);
    int *r = calloc((size_t)n, sizeof *r);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < n; i++) {
            if (i % 8 == 0) {
                CHECK_EQ(corio_spawn(yield_twice, (void *)(intptr_t)i, &t[i]), 0);
            } else {
                yield_once y = {.v = i, .yielded = false};
                corio_future_init(&y.base, &yield_once_vt);
                CHECK_EQ(corio_spawn_future(&y.base, sizeof y, &t[i]), 0);
            }
        }
        CHECK_EQ(corio_task_join_all(t, (size_t)n, r), 0);
        long long sum = 0;
        for (int i = 0; i < n; i++)
            sum += r[i];
        CHECK_EQ(sum, (long long)n * (n - 1) / 2);
    }
    free(t);
    free(r);
    return 0;
}

TEST(combinators_stress_task_join_all_thousands)
{
    int n = SCALE(10000, 4000, 1000);
    corio_rt *rt = new_mt_rt(2);
    int result = -1;
    CHECK_EQ(corio_rt_block_on(rt, join_thousands_main, &n, &result), 0);
    CHECK_EQ(result, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* join_all of more than 64 futures (per-future wakers) completed by threads. */
typedef struct many_join {
    race_fut *f;
    int n;
    atomic_int go;
} many_join;

static void *complete_many(void *arg)
{
    many_join *m = arg;
    while (!atomic_load(&m->go))
        sched_yield();
    static atomic_int next;
    for (int i; (i = atomic_fetch_add(&next, 1)) < m->n;)
        race_complete(&m->f[m->n - 1 - i]);
    return NULL;
}

static int many_join_main(void *arg)
{
    many_join *m = arg;
    corio_future **b = calloc((size_t)m->n, sizeof *b);
    for (int i = 0; i < m->n; i++) {
        race_init(&m->f[i], i);
        b[i] = &m->f[i].base;
    }
    corio_join_all_fut j;
    corio_join_all_fut_init(&j, b, (size_t)m->n);
    atomic_store(&m->go, 1);
    CHECK_EQ(corio_await(&j.base), 0);
    CHECK_EQ(j.base.result, 0);
    for (int i = 0; i < m->n; i++) {
        CHECK_EQ(m->f[i].base.result, i);
        CHECK_EQ(atomic_load(&m->f[i].readies), 1);
        CHECK_EQ(atomic_load(&m->f[i].drops), 0);
    }
    free(b);
    return 0;
}

TEST(combinators_stress_join_all_many_futures_woken_by_threads)
{
    many_join m = {.n = SCALE(5000, 2000, 500)};
    m.f = calloc((size_t)m.n, sizeof(race_fut));
    atomic_init(&m.go, 0);
    pthread_t th[3];
    for (int j = 0; j < 3; j++)
        CHECK_EQ(pthread_create(&th[j], NULL, complete_many, &m), 0);
    corio_rt *rt = new_mt_rt(2);
    int result = -1;
    CHECK_EQ(corio_rt_block_on(rt, many_join_main, &m, &result), 0);
    for (int j = 0; j < 3; j++)
        pthread_join(th[j], NULL);
    CHECK_EQ(corio_rt_free(rt), 0);
    free(m.f);
}

/* ---- JoinSet destroyed while its tasks finish ------------------------------------------- */

static atomic_int ended;

/* Yields arg times (stops early when cancelled), then counts its end. */
static int member(void *arg)
{
    int n = (int)(intptr_t)arg;
    for (int i = 0; i < n; i++)
        if (corio_yield() < 0)
            break;
    atomic_fetch_add(&ended, 1);
    return n;
}

/* A stackless member: counts its end whether it completes or is dropped. */
typedef struct counted {
    corio_future base;
    int left;
} counted;

static corio_poll counted_poll(corio_future *f, corio_context *cx)
{
    counted *c = (counted *)f;
    if (c->left-- > 0) {
        corio_waker_wake_by_ref(corio_context_waker(cx));
        return CORIO_PENDING;
    }
    atomic_fetch_add(&ended, 1);
    f->result = 0;
    return CORIO_READY;
}

static void counted_drop(corio_future *f)
{
    (void)f;
    atomic_fetch_add(&ended, 1);
}

static const corio_future_vtable counted_vt = {counted_poll, counted_drop};

static int set_destroy_main(void *arg)
{
    int nrounds = *(int *)arg;
    unsigned s = 12345;
    for (int round = 0; round < nrounds; round++) {
        atomic_store(&ended, 0);
        corio_join_set *set;
        CHECK_EQ(corio_join_set_new(&set), 0);
        int n = 40 + round % 30;
        for (int i = 0; i < n; i++) {
            s = s * 1103515245u + 12345u;
            int work = (int)(s >> 16) % 20;
            if (i % 3 == 0) {
                counted c = {.left = work};
                corio_future_init(&c.base, &counted_vt);
                CHECK_EQ(corio_join_set_spawn_future(set, &c.base, sizeof c, NULL), 0);
            } else {
                CHECK_EQ(corio_join_set_spawn(set, member, (void *)(intptr_t)work, NULL), 0);
            }
        }
        /* Join a few, let the rest run on other workers, then destroy. */
        int joins = (int)(s >> 8) % 5;
        for (int i = 0; i < joins; i++)
            CHECK_EQ(corio_join_set_join_next(set, NULL, NULL), 0);
        for (int i = 0; i < (int)(s >> 4) % 4; i++)
            CHECK_EQ(corio_yield(), 0);
        corio_join_set_free(set);
        CHECK_EQ(atomic_load(&ended), n); /* every task ended before free returned */
    }
    return 0;
}

TEST(combinators_stress_join_set_destroyed_while_tasks_finish)
{
    int nrounds = SCALE(1500, 300, 60);
    corio_rt *rt = new_mt_rt(3);
    int result = -1;
    CHECK_EQ(corio_rt_block_on(rt, set_destroy_main, &nrounds, &result), 0);
    CHECK_EQ(result, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* join_next racing completions on other workers, in a select with a timer. */
static int set_race_main(void *arg)
{
    int n = *(int *)arg;
    corio_join_set *set;
    CHECK_EQ(corio_join_set_new(&set), 0);
    long long want = 0, got = 0;
    int joined = 0, spawned = 0;
    while (joined < n) {
        while (spawned < n && corio_join_set_len(set) < 64) {
            CHECK_EQ(corio_join_set_spawn(set, member, (void *)(intptr_t)(spawned % 7), NULL), 0);
            want += spawned % 7;
            spawned++;
        }
        corio_join_set_join_next_fut jn;
        corio_sleep_fut tick;
        corio_join_set_join_next_fut_init(&jn, set);
        corio_sleep_fut_init(&tick, CORIO_USEC(50));
        size_t i;
        CHECK_EQ(corio_select(CORIO_FUTURES(&jn.base, &tick.base), &i), 0);
        if (i == 0) {
            CHECK_EQ(jn.base.result, 0);
            got += jn.value;
            joined++;
        }
    }
    CHECK_EQ(got, want);
    CHECK(corio_join_set_is_empty(set));
    corio_join_set_free(set);
    return 0;
}

TEST(combinators_stress_join_set_join_next_raced_in_select)
{
    int n = SCALE(20000, 5000, 1500);
    corio_rt *rt = new_mt_rt(2);
    int result = -1;
    CHECK_EQ(corio_rt_block_on(rt, set_race_main, &n, &result), 0);
    CHECK_EQ(result, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}
