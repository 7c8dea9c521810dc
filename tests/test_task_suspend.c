/* tests/test_task_suspend.c - a coroutine that suspends switches straight
 * into its worker's next queued coroutine (core/sched.h, suspend_next)
 * instead of going back to the loop, on both runtimes. What the loop did
 * around the two polls must still happen: messages passed through a ring
 * arrive in order and none is lost (a suspended task left RUNNING by a
 * missed hand-off would hang it), a task aborted while queued sees the
 * cancellation when it is switched into, a wake from another thread that
 * races a suspension is not lost, and the loop still gets its turn (timers
 * fire while tasks hand the CPU to each other). The multi-thread variants
 * run under TSan in CI, where a task resumed before its context is saved
 * would show.
 */
#include <pthread.h>
#include <stdatomic.h>

#include <corio.h>

#include "test.h"
#include "util.h"

#define RING 16
#define LAPS 2000

typedef struct ring {
    corio_mpsc_tx *tx[RING];
    corio_mpsc_rx *rx[RING];
    uint64_t last; /* what task 0 received last */
} ring;

typedef struct hop {
    ring *r;
    int i;
} hop;

/* Receive from my channel, send one more to the next: each hop is a
 * suspension (the channel was empty) and a wake of the next task. Task i
 * sees i, i + RING, i + 2 RING... Task 0 stops the ring after LAPS laps by
 * closing the next channel; each task then closes the one after it. */
static int hopper(void *arg)
{
    hop *h = arg;
    ring *r = h->r;
    int next = (h->i + 1) % RING;
    uint64_t expect = (uint64_t)h->i;
    for (;;) {
        uint64_t v;
        int rc = corio_mpsc_recv(r->rx[h->i], &v);
        if (rc == CORIO_ECLOSED)
            break;
        CHECK_EQ(rc, 0);
        CHECK_EQ(v, expect);
        expect += RING;
        if (h->i == 0) {
            r->last = v;
            if (v == (uint64_t)RING * LAPS)
                break;
        }
        v++;
        CHECK_EQ(corio_mpsc_send(r->tx[next], &v), 0);
    }
    corio_mpsc_tx_release(r->tx[next]);
    r->tx[next] = NULL;
    return 0;
}

static int ring_main(void *arg)
{
    (void)arg;
    ring r = {0};
    hop hops[RING];
    corio_task *t[RING];
    for (int i = 0; i < RING; i++)
        CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 1, &r.tx[i], &r.rx[i]), 0);
    for (int i = 0; i < RING; i++) {
        hops[i] = (hop){&r, i};
        CHECK_EQ(corio_spawn(hopper, &hops[i], &t[i]), 0);
    }
    uint64_t v = 0;
    CHECK_EQ(corio_mpsc_send(r.tx[0], &v), 0);
    for (int i = 0; i < RING; i++)
        CHECK_EQ(corio_task_join(t[i], NULL), 0);
    CHECK_EQ(r.last, (uint64_t)RING * LAPS);
    for (int i = 0; i < RING; i++) {
        CHECK(r.tx[i] == NULL);
        corio_mpsc_rx_release(r.rx[i]);
    }
    return 0;
}

/* On a two-worker runtime (main task and workers: checked). */
static int run_mt(corio_fn fn, void *arg)
{
    corio_rt *rt = new_mt_rt(2);
    int result = -1;
    CHECK_EQ(corio_rt_block_on(rt, fn, arg, &result), 0);
    corio_rt_free(rt);
    return result;
}

TEST(task_suspend_switch_ring_loses_no_message)
{
    CHECK_EQ(run_main(ring_main, NULL), 0);
}

TEST(task_suspend_switch_ring_loses_no_message_mt)
{
    for (int i = 0; i < 5; i++)
        CHECK_EQ(run_mt(ring_main, NULL), 0);
}

/* ---- a task aborted while queued ---------------------------------------- */

typedef struct abort_pair {
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    corio_task *victim;
    int recv_rc;
    int cleaned;
} abort_pair;

static int victim(void *arg)
{
    abort_pair *p = arg;
    uint64_t v;
    p->recv_rc = corio_mpsc_recv(p->rx, &v); /* woken, aborted, switched into */
    p->cleaned = 1;
    return p->recv_rc;
}

static int sender(void *arg)
{
    abort_pair *p = arg;
    uint64_t v = 7;
    /* Wakes the victim (it waits in its recv), which is then queued behind
     * the main task; then waits for room, suspending into the main task. */
    CHECK_EQ(corio_mpsc_send(p->tx, &v), 0);
    return corio_mpsc_send(p->tx, &v);
}

static int abort_main(void *arg)
{
    abort_pair *p = arg;
    CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 1, &p->tx, &p->rx), 0);
    CHECK_EQ(corio_spawn(victim, p, &p->victim), 0);
    CHECK_EQ(corio_yield(), 0); /* the victim now waits in its recv */
    corio_task *s;
    CHECK_EQ(corio_spawn(sender, p, &s), 0);
    CHECK_EQ(corio_yield(), 0); /* the sender sent, and waits for room */
    corio_task_abort(p->victim);
    /* Suspends into the victim, queued with its wake: its recv must return
     * the cancellation and leave the message where it was. */
    int result = 0;
    CHECK_EQ(corio_task_join(p->victim, &result), CORIO_ECANCELED);
    CHECK_EQ(result, CORIO_ECANCELED);
    CHECK_EQ(p->recv_rc, CORIO_ECANCELED);
    CHECK_EQ(p->cleaned, 1);
    uint64_t v = 0;
    CHECK_EQ(corio_mpsc_recv(p->rx, &v), 0); /* the message the victim left */
    CHECK_EQ(v, 7);
    CHECK_EQ(corio_mpsc_recv(p->rx, &v), 0); /* the sender's second */
    CHECK_EQ(corio_task_join(s, &result), 0);
    CHECK_EQ(result, 0);
    corio_mpsc_tx_release(p->tx);
    corio_mpsc_rx_release(p->rx);
    return 0;
}

TEST(task_suspend_switch_into_aborted_task_sees_cancellation)
{
    abort_pair p = {0};
    CHECK_EQ(run_main(abort_main, &p), 0);
}

/* ---- a pair of tasks that only suspend into each other ------------------- */

/* Bounces a message between two tasks until `stop` is set: keeps a queue
 * non-empty, so that other tasks' suspensions switch into one of them. */
typedef struct bounce {
    corio_mpsc_tx *tx[2];
    corio_mpsc_rx *rx[2];
    atomic_int stop;
    corio_task *ping, *pong;
} bounce;

static int bounce_ping(void *arg)
{
    bounce *b = arg;
    uint64_t v = 0;
    while (!atomic_load(&b->stop)) {
        CHECK_EQ(corio_mpsc_send(b->tx[0], &v), 0);
        CHECK_EQ(corio_mpsc_recv(b->rx[1], &v), 0);
    }
    corio_mpsc_tx_release(b->tx[0]); /* ends bounce_pong */
    return 0;
}

static int bounce_pong(void *arg)
{
    bounce *b = arg;
    uint64_t v;
    while (corio_mpsc_recv(b->rx[0], &v) == 0)
        CHECK_EQ(corio_mpsc_send(b->tx[1], &v), 0);
    return 0;
}

static void bounce_start(bounce *b)
{
    for (int i = 0; i < 2; i++)
        CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 1, &b->tx[i], &b->rx[i]), 0);
    CHECK_EQ(corio_spawn(bounce_pong, b, &b->pong), 0);
    CHECK_EQ(corio_spawn(bounce_ping, b, &b->ping), 0);
}

/* Once `stop` is set. */
static void bounce_finish(bounce *b)
{
    CHECK_EQ(corio_task_join(b->ping, NULL), 0);
    CHECK_EQ(corio_task_join(b->pong, NULL), 0);
    corio_mpsc_tx_release(b->tx[1]);
    for (int i = 0; i < 2; i++)
        corio_mpsc_rx_release(b->rx[i]);
}

/* ---- wakes from another thread racing suspensions ------------------------- */

#define FOREIGN_MSGS 20000

typedef struct foreign {
    corio_mpsc_tx *tx; /* the plain thread's */
    corio_mpsc_rx *rx;
    bounce pair; /* bouncing meanwhile: the receiver's suspensions switch into it */
} foreign;

static void *foreign_sender(void *arg)
{
    foreign *f = arg;
    for (uint64_t i = 0; i < FOREIGN_MSGS; i++)
        CHECK_EQ(corio_mpsc_send(f->tx, &i), 0); /* blocks the thread while full */
    return NULL;
}

static int foreign_receiver(void *arg)
{
    foreign *f = arg;
    for (uint64_t i = 0; i < FOREIGN_MSGS; i++) {
        uint64_t v;
        CHECK_EQ(corio_mpsc_recv(f->rx, &v), 0);
        CHECK_EQ(v, i);
    }
    atomic_store(&f->pair.stop, 1);
    return 0;
}

static int foreign_main(void *arg)
{
    foreign *f = arg;
    CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 4, &f->tx, &f->rx), 0);
    corio_task *r;
    CHECK_EQ(corio_spawn(foreign_receiver, f, &r), 0);
    bounce_start(&f->pair);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, foreign_sender, f), 0);
    CHECK_EQ(corio_task_join(r, NULL), 0);
    bounce_finish(&f->pair);
    CHECK_EQ(pthread_join(th, NULL), 0);
    corio_mpsc_tx_release(f->tx);
    corio_mpsc_rx_release(f->rx);
    return 0;
}

TEST(task_suspend_switch_keeps_wakes_from_other_threads)
{
    foreign f = {0};
    CHECK_EQ(run_main(foreign_main, &f), 0);
}

TEST(task_suspend_switch_keeps_wakes_from_other_threads_mt)
{
    foreign f = {0};
    CHECK_EQ(run_mt(foreign_main, &f), 0);
}

/* ---- the loop still gets its turn ----------------------------------------- */

/* The pair only ever suspends into each other: without the loop's turn (its
 * budget), the sleeper's timer would never fire, and nothing would stop it. */
static int sleeper(void *arg)
{
    bounce *b = arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    atomic_store(&b->stop, 1);
    return 0;
}

static int timer_main(void *arg)
{
    bounce *b = arg;
    corio_task *s;
    CHECK_EQ(corio_spawn(sleeper, b, &s), 0);
    bounce_start(b);
    CHECK_EQ(corio_task_join(s, NULL), 0);
    bounce_finish(b);
    return 0;
}

TEST(task_suspend_switch_leaves_the_loop_its_turn)
{
    bounce b = {0};
    CHECK_EQ(run_main(timer_main, &b), 0);
}

TEST(task_suspend_switch_leaves_the_loop_its_turn_mt)
{
    bounce b = {0};
    CHECK_EQ(run_mt(timer_main, &b), 0);
}
