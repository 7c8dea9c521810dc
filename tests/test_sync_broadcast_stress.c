/* tests/test_sync_broadcast_stress.c - the broadcast channel under stress.
 *
 * On the multi-thread runtime and plain threads: many senders and
 * receivers with and without lag, close racing sends, timeouts and aborts
 * racing wakes, refcounted messages under overwrite (a use after free
 * shows under ASan), and wide messages never returned torn. The header's
 * promises one by one are in test_sync_broadcast.c.
 */
#include <corio.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/broadcast.h"
#include "test.h"
#include "util.h"

/* Messages carry (sender << 32 | seq). Each receiver checks that each
 * sender's messages come in increasing order and that receipts plus lags
 * account for every message. */
#define MAX_SENDERS 8

typedef struct stress {
    corio_broadcast_tx *tx;
    unsigned senders, receivers;
    uint64_t per_sender;
    int timeouts;     /* receivers bound some receives with a timeout */
    atomic_int go;
} stress;

typedef struct srx {
    stress *s;
    corio_broadcast_rx *rx;
    uint64_t got, lagged, timeouts;
    uint64_t last[MAX_SENDERS];
    int rc;
} srx;

typedef struct stx {
    stress *s;
    corio_broadcast_tx *tx;
    unsigned id;
} stx;

static void srx_take(srx *r, uint64_t v, uint64_t lag)
{
    unsigned sid = (unsigned)(v >> 32);
    uint64_t seq = (v & 0xFFFFFFFFu) + 1;
    CHECK(sid < r->s->senders);
    CHECK(seq > r->last[sid]); /* in order, never twice */
    r->last[sid] = seq;
    r->got++;
    r->lagged += lag;
}

static int stress_recv(void *arg)
{
    srx *r = arg;
    unsigned x = (unsigned)(uintptr_t)r * 2654435761u;
    for (;;) {
        uint64_t v, lag;
        int rc;
        x = x * 1103515245u + 12345u;
        if (r->s->timeouts && (x >> 16) % 3 == 0) {
            corio_broadcast_recv_fut f;
            corio_broadcast_recv_fut_init(&f, r->rx, &v);
            rc = corio_timeout(&f.base, CORIO_USEC((x >> 8) % 200));
            if (rc == CORIO_ETIMEDOUT) {
                r->timeouts++;
                continue;
            }
            CHECK_EQ(rc, 0);
            rc = f.base.result;
            lag = f.lagged;
        } else {
            rc = corio_broadcast_recv(r->rx, &v, &lag);
        }
        if (rc) {
            r->rc = rc;
            return 0;
        }
        srx_take(r, v, lag);
    }
}

static int stress_send(void *arg)
{
    stx *t = arg;
    for (uint64_t i = 0; i < t->s->per_sender; i++) {
        CHECK_EQ(corio_broadcast_send(t->tx, &(uint64_t){(uint64_t)t->id << 32 | i}), 0);
        if (i % 64 == 63)
            CHECK_EQ(corio_yield(), 0);
    }
    corio_broadcast_tx_release(t->tx);
    return 0;
}

static int stress_main(void *arg)
{
    stress *s = arg;
    srx *r = calloc(s->receivers, sizeof *r);
    stx *t = calloc(s->senders, sizeof *t);
    corio_task **hr = calloc(s->receivers, sizeof *hr);
    corio_task **ht = calloc(s->senders, sizeof *ht);
    CHECK(r && t && hr && ht);
    for (unsigned i = 0; i < s->receivers; i++) {
        r[i].s = s;
        CHECK_EQ(corio_broadcast_subscribe(s->tx, &r[i].rx), 0);
        CHECK_EQ(corio_spawn(stress_recv, &r[i], &hr[i]), 0);
    }
    for (unsigned i = 0; i < s->senders; i++) {
        t[i].s = s;
        t[i].id = i;
        t[i].tx = corio_broadcast_tx_clone(s->tx);
        CHECK_EQ(corio_spawn(stress_send, &t[i], &ht[i]), 0);
    }
    corio_broadcast_tx_release(s->tx); /* the senders' clones close it */
    for (unsigned i = 0; i < s->senders; i++)
        CHECK_EQ(corio_task_join(ht[i], NULL), 0);
    uint64_t total = (uint64_t)s->senders * s->per_sender;
    for (unsigned i = 0; i < s->receivers; i++) {
        CHECK_EQ(corio_task_join(hr[i], NULL), 0);
        CHECK_EQ(r[i].rc, CORIO_ECLOSED);
        CHECK_EQ(r[i].got + r[i].lagged, total);
        corio_broadcast_rx_release(r[i].rx);
    }
    free(r);
    free(t);
    free(hr);
    free(ht);
    return 0;
}

static void run_stress(unsigned workers, unsigned senders, unsigned receivers, size_t cap,
                       uint64_t per_sender, int timeouts)
{
    stress s;
    memset(&s, 0, sizeof s);
    s.senders = senders;
    s.receivers = receivers;
    s.per_sender = per_sender;
    s.timeouts = timeouts;
    corio_broadcast_rx *first;
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), cap, &s.tx, &first), 0);
    corio_broadcast_rx_release(first);
    corio_rt *rt = new_mt_rt(workers);
    int res;
    CHECK_EQ(corio_rt_block_on(rt, stress_main, &s, &res), 0);
    CHECK_EQ(res, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

TEST(broadcast_stress_many_senders_receivers_no_lag)
{
    /* A ring larger than everything sent: nobody may lag, everyone gets all. */
    uint64_t n = SCALE(4000, 1500, 500);
    run_stress(4, 4, 8, 4 * n, n, 0);
}

TEST(broadcast_stress_small_ring_lags_add_up)
{
    run_stress(4, 3, 8, 8, SCALE(20000, 5000, 1500), 0);
}

TEST(broadcast_stress_timeouts_race_wakes)
{
    run_stress(4, 2, 8, 16, SCALE(20000, 5000, 1500), 1);
}

/* Close racing sends and waiting receivers, many rounds. */
typedef struct close_round {
    corio_broadcast_tx *tx;
    srx r[4];
    stress s;
} close_round;

static void *close_sender_thread(void *arg)
{
    close_round *c = arg;
    for (uint64_t i = 0; i < 3; i++)
        CHECK_EQ(corio_broadcast_send(c->tx, &(uint64_t){i}), 0);
    corio_broadcast_tx_release(c->tx);
    return NULL;
}

static int close_race_main(void *arg)
{
    int rounds = SCALE(300, 100, 40);
    for (int k = 0; k < rounds; k++) {
        close_round c;
        memset(&c, 0, sizeof c);
        c.s.senders = 1;
        CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 2, &c.tx, &c.r[0].rx), 0);
        corio_task *h[4];
        for (int i = 0; i < 4; i++) {
            c.r[i].s = &c.s;
            if (i)
                CHECK_EQ(corio_broadcast_subscribe(c.tx, &c.r[i].rx), 0);
            CHECK_EQ(corio_spawn(stress_recv, &c.r[i], &h[i]), 0);
        }
        if (k % 2)
            CHECK_EQ(corio_yield(), 0);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, close_sender_thread, &c), 0);
        for (int i = 0; i < 4; i++) {
            CHECK_EQ(corio_task_join(h[i], NULL), 0);
            CHECK_EQ(c.r[i].rc, CORIO_ECLOSED);
            CHECK_EQ(c.r[i].got + c.r[i].lagged, 3);
        }
        CHECK_EQ(pthread_join(th, NULL), 0);
        for (int i = 0; i < 4; i++)
            corio_broadcast_rx_release(c.r[i].rx);
    }
    return 0;
}

TEST(broadcast_stress_close_races_send)
{
    corio_rt *rt = new_mt_rt(3);
    int res;
    CHECK_EQ(corio_rt_block_on(rt, close_race_main, NULL, &res), 0);
    CHECK_EQ(res, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Aborts racing wakes: receiver tasks aborted at random points while a
 * plain thread sends; each aborted receiver's count, plus what is left for
 * it, accounts for every message. */
typedef struct abort_ctx {
    corio_broadcast_tx *tx;
    uint64_t n;
} abort_ctx;

static void *abort_sender_thread(void *arg)
{
    abort_ctx *a = arg;
    for (uint64_t i = 0; i < a->n; i++) {
        CHECK_EQ(corio_broadcast_send(a->tx, &(uint64_t){i}), 0);
        if (i % 16 == 0)
            sched_yield();
    }
    corio_broadcast_tx_release(a->tx);
    return NULL;
}

static int abort_race_main(void *arg)
{
    abort_ctx a;
    a.n = SCALE(20000, 5000, 1500);
    stress s;
    memset(&s, 0, sizeof s);
    s.senders = 1;
    enum { R = 6 };
    srx r[R];
    memset(r, 0, sizeof r);
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 64, &a.tx, &r[0].rx), 0);
    for (int i = 0; i < R; i++) {
        r[i].s = &s;
        if (i)
            CHECK_EQ(corio_broadcast_subscribe(a.tx, &r[i].rx), 0);
    }
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, abort_sender_thread, &a), 0);
    bool done[R] = {false};
    int left = R;
    unsigned x = 12345;
    while (left) {
        corio_task *h[R];
        for (int i = 0; i < R; i++)
            if (!done[i])
                CHECK_EQ(corio_spawn(stress_recv, &r[i], &h[i]), 0);
        x = x * 1103515245u + 12345u;
        CHECK_EQ(corio_sleep(CORIO_USEC((x >> 8) % 300)), 0);
        for (int i = 0; i < R; i++)
            if (!done[i])
                corio_task_abort(h[i]);
        for (int i = 0; i < R; i++) {
            if (done[i])
                continue;
            int jr = corio_task_join(h[i], NULL);
            CHECK(jr == 0 || jr == CORIO_ECANCELED);
            if (r[i].rc == CORIO_ECLOSED) {
                done[i] = true;
                left--;
                CHECK_EQ(r[i].got + r[i].lagged, a.n);
            } else {
                /* Cancelled in its receive, or before it ran at all. */
                CHECK(r[i].rc == CORIO_ECANCELED || r[i].rc == 0);
                r[i].rc = 0;
            }
        }
    }
    CHECK_EQ(pthread_join(th, NULL), 0);
    for (int i = 0; i < R; i++)
        corio_broadcast_rx_release(r[i].rx);
    return 0;
}

TEST(broadcast_stress_aborts_race_wakes)
{
    corio_rt *rt = new_mt_rt(4);
    int res;
    CHECK_EQ(corio_rt_block_on(rt, abort_race_main, NULL, &res), 0);
    CHECK_EQ(res, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Plain threads only: no runtime at all. */
typedef struct plain_ctx {
    corio_broadcast_tx *tx;
    uint64_t n;
} plain_ctx;

static void *plain_send_thread(void *arg)
{
    plain_ctx *p = arg;
    for (uint64_t i = 0; i < p->n; i++)
        CHECK_EQ(corio_broadcast_send(p->tx, &(uint64_t){i}), 0);
    corio_broadcast_tx_release(p->tx);
    return NULL;
}

static void *plain_recv_thread(void *arg)
{
    srx *r = arg;
    for (;;) {
        uint64_t v, lag;
        int rc = corio_broadcast_recv(r->rx, &v, &lag);
        if (rc) {
            r->rc = rc;
            return NULL;
        }
        srx_take(r, v, lag);
    }
}

TEST(broadcast_stress_plain_threads)
{
    plain_ctx p;
    p.n = SCALE(100000, 20000, 5000);
    stress s;
    memset(&s, 0, sizeof s);
    s.senders = 1;
    enum { R = 4 };
    srx r[R];
    memset(r, 0, sizeof r);
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 32, &p.tx, &r[0].rx), 0);
    pthread_t th[R + 1];
    for (int i = 0; i < R; i++) {
        r[i].s = &s;
        if (i)
            CHECK_EQ(corio_broadcast_subscribe(p.tx, &r[i].rx), 0);
        CHECK_EQ(pthread_create(&th[i], NULL, plain_recv_thread, &r[i]), 0);
    }
    CHECK_EQ(pthread_create(&th[R], NULL, plain_send_thread, &p), 0);
    for (int i = 0; i <= R; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < R; i++) {
        CHECK_EQ(r[i].rc, CORIO_ECLOSED);
        CHECK_EQ(r[i].got + r[i].lagged, p.n);
        corio_broadcast_rx_release(r[i].rx);
    }
}

/* Refcounted messages overwritten while receivers clone them: a reference
 * taken too late (after the ring's was dropped) trips obj_clone's check or
 * ASan. */
typedef struct ref_ctx {
    corio_broadcast_tx *tx;
    uint64_t n;
} ref_ctx;

static void *ref_send_thread(void *arg)
{
    ref_ctx *c = arg;
    for (uint64_t i = 0; i < c->n; i++) {
        obj *o = obj_new(i);
        CHECK_EQ(corio_broadcast_send(c->tx, &o), 0);
    }
    corio_broadcast_tx_release(c->tx);
    return NULL;
}

static void *ref_recv_thread(void *arg)
{
    corio_broadcast_rx *rx = arg;
    uint64_t last = 0;
    bool first = true;
    for (;;) {
        obj *o;
        int rc = corio_broadcast_recv(rx, &o, NULL);
        if (rc) {
            CHECK_EQ(rc, CORIO_ECLOSED);
            return NULL;
        }
        uint64_t v = o->value;
        CHECK(first || v > last);
        first = false;
        last = v;
        obj_unref(o);
    }
}

TEST(broadcast_stress_refcounted_messages_overwritten_while_cloned)
{
    atomic_store(&objs_live, 0);
    ref_ctx c;
    c.n = SCALE(100000, 20000, 5000);
    corio_chan_opts o = {.msg_size = sizeof(obj *), .capacity = 4, .drop = obj_drop,
                         .clone = obj_clone};
    enum { R = 3 };
    corio_broadcast_rx *rx[R];
    CHECK_EQ(corio_broadcast_new_with(&o, &c.tx, &rx[0]), 0);
    for (int i = 1; i < R; i++)
        CHECK_EQ(corio_broadcast_subscribe(c.tx, &rx[i]), 0);
    pthread_t th[R + 1];
    for (int i = 0; i < R; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, ref_recv_thread, rx[i]), 0);
    CHECK_EQ(pthread_create(&th[R], NULL, ref_send_thread, &c), 0);
    for (int i = 0; i <= R; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < R; i++)
        corio_broadcast_rx_release(rx[i]);
    CHECK_EQ(atomic_load(&objs_live), 0);
}

/* Wide messages torn by overwrite are never returned: every received
 * message has all its words equal. */
typedef struct wide {
    uint64_t w[9];
} wide;

typedef struct wide_ctx {
    corio_broadcast_tx *tx;
    uint64_t n;
} wide_ctx;

static void *wide_send_thread(void *arg)
{
    wide_ctx *c = arg;
    for (uint64_t i = 0; i < c->n; i++) {
        wide m;
        for (int k = 0; k < 9; k++)
            m.w[k] = i;
        CHECK_EQ(corio_broadcast_send(c->tx, &m), 0);
    }
    corio_broadcast_tx_release(c->tx);
    return NULL;
}

static void *wide_recv_thread(void *arg)
{
    corio_broadcast_rx *rx = arg;
    for (;;) {
        wide m;
        int rc = corio_broadcast_recv(rx, &m, NULL);
        if (rc) {
            CHECK_EQ(rc, CORIO_ECLOSED);
            return NULL;
        }
        for (int k = 1; k < 9; k++)
            CHECK_EQ(m.w[k], m.w[0]);
    }
}

TEST(broadcast_stress_no_torn_messages)
{
    wide_ctx c;
    c.n = SCALE(200000, 40000, 10000);
    enum { R = 2 };
    corio_broadcast_rx *rx[R];
    CHECK_EQ(corio_broadcast_new(sizeof(wide), 2, &c.tx, &rx[0]), 0);
    CHECK_EQ(corio_broadcast_subscribe(c.tx, &rx[1]), 0);
    pthread_t th[R + 1];
    for (int i = 0; i < R; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, wide_recv_thread, rx[i]), 0);
    CHECK_EQ(pthread_create(&th[R], NULL, wide_send_thread, &c), 0);
    for (int i = 0; i <= R; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < R; i++)
        corio_broadcast_rx_release(rx[i]);
}
