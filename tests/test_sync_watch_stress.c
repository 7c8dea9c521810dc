/* tests/test_sync_watch_stress.c - the watch channel under stress.
 *
 * On the multi-thread runtime and plain threads: senders and receivers
 * with timeouts, the close racing a waiting changed, aborts racing wakes,
 * and refcounted values replaced while receivers read them.
 */
#include <corio.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/watch.h"
#include "test.h"
#include "util.h"

/* Senders send increasing values (sender id in the top bits); every
 * receiver sees, per sender, values that never go back, and after the
 * close has seen the final value (every sender's last send is followed by
 * a wake it cannot miss). Some receivers bound their waits with short
 * timeouts. */
typedef struct wstress {
    corio_watch_tx *tx;
    unsigned senders;
    uint64_t per_sender;
} wstress;

typedef struct wsrx {
    wstress *s;
    corio_watch_rx *rx;
    int timeouts;
    uint64_t last[8];
    uint64_t seen_last;
    int rc;
} wsrx;

typedef struct wstx {
    wstress *s;
    corio_watch_tx *tx;
    unsigned id;
} wstx;

static int ws_recv(void *arg)
{
    wsrx *r = arg;
    unsigned x = (unsigned)(uintptr_t)r * 2654435761u;
    for (;;) {
        int rc;
        x = x * 1103515245u + 12345u;
        if (r->timeouts && (x >> 16) % 2 == 0) {
            corio_watch_changed_fut f;
            corio_watch_changed_fut_init(&f, r->rx);
            rc = corio_timeout(&f.base, CORIO_USEC((x >> 8) % 100));
            if (rc == CORIO_ETIMEDOUT)
                continue;
            CHECK_EQ(rc, 0);
            rc = f.base.result;
        } else {
            rc = corio_watch_changed(r->rx);
        }
        uint64_t v;
        CHECK_EQ(corio_watch_get(r->rx, &v), 0);
        if (v) {
            unsigned sid = (unsigned)(v >> 40);
            uint64_t seq = v & ((1ull << 40) - 1);
            CHECK(sid < r->s->senders);
            CHECK(seq >= r->last[sid]);
            r->last[sid] = seq;
        }
        r->seen_last = v;
        if (rc) {
            r->rc = rc;
            return 0;
        }
    }
}

static int ws_send(void *arg)
{
    wstx *t = arg;
    for (uint64_t i = 1; i <= t->s->per_sender; i++) {
        uint64_t v = (uint64_t)t->id << 40 | i;
        CHECK_EQ(corio_watch_send(t->tx, &v), 0);
        if (i % 16 == 0)
            CHECK_EQ(corio_yield(), 0);
    }
    corio_watch_tx_release(t->tx);
    return 0;
}

static int ws_main(void *arg)
{
    wstress *s = arg;
    enum { R = 8 };
    wsrx r[R];
    wstx t[8];
    corio_task *hr[R], *ht[8];
    memset(r, 0, sizeof r);
    for (int i = 0; i < R; i++) {
        r[i].s = s;
        r[i].timeouts = i % 2;
        CHECK_EQ(corio_watch_subscribe(s->tx, &r[i].rx), 0);
        CHECK_EQ(corio_spawn(ws_recv, &r[i], &hr[i]), 0);
    }
    for (unsigned i = 0; i < s->senders; i++) {
        t[i].s = s;
        t[i].id = i;
        t[i].tx = corio_watch_tx_clone(s->tx);
        CHECK_EQ(corio_spawn(ws_send, &t[i], &ht[i]), 0);
    }
    corio_watch_tx_release(s->tx);
    for (unsigned i = 0; i < s->senders; i++)
        CHECK_EQ(corio_task_join(ht[i], NULL), 0);
    for (int i = 0; i < R; i++) {
        CHECK_EQ(corio_task_join(hr[i], NULL), 0);
        CHECK_EQ(r[i].rc, CORIO_ECLOSED);
        uint64_t v;
        CHECK_EQ(corio_watch_get(r[i].rx, &v), 0);
        CHECK_EQ(r[i].seen_last, v); /* it saw the final value */
        CHECK_EQ(v & ((1ull << 40) - 1), s->per_sender);
        corio_watch_rx_release(r[i].rx);
    }
    return 0;
}

TEST(watch_stress_senders_receivers_timeouts)
{
    wstress s;
    memset(&s, 0, sizeof s);
    s.senders = 3;
    s.per_sender = SCALE(20000, 5000, 1500);
    corio_watch_rx *first;
    CHECK_EQ(corio_watch_new(sizeof(uint64_t), &(uint64_t){0}, &s.tx, &first), 0);
    corio_watch_rx_release(first);
    corio_rt *rt = new_mt_rt(4);
    int res;
    CHECK_EQ(corio_rt_block_on(rt, ws_main, &s, &res), 0);
    CHECK_EQ(res, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Close racing a waiting changed, many rounds, from a plain thread. */
static void *close_thread(void *arg)
{
    corio_watch_tx *tx = arg;
    CHECK_EQ(corio_watch_send(tx, &(uint64_t){1}), 0);
    corio_watch_tx_release(tx);
    return NULL;
}

static int close_race_main(void *arg)
{
    int rounds = SCALE(400, 150, 50);
    for (int k = 0; k < rounds; k++) {
        corio_watch_tx *tx;
        wtask t[3];
        memset(t, 0, sizeof t);
        CHECK_EQ(corio_watch_new(sizeof(uint64_t), &(uint64_t){0}, &tx, &t[0].rx), 0);
        CHECK_EQ(corio_watch_subscribe(tx, &t[1].rx), 0);
        CHECK_EQ(corio_watch_subscribe(tx, &t[2].rx), 0);
        corio_task *h[3];
        for (int i = 0; i < 3; i++)
            CHECK_EQ(corio_spawn(watch_loop, &t[i], &h[i]), 0);
        if (k % 2)
            CHECK_EQ(corio_yield(), 0);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, close_thread, tx), 0);
        for (int i = 0; i < 3; i++) {
            CHECK_EQ(corio_task_join(h[i], NULL), 0);
            CHECK_EQ(t[i].rc, CORIO_ECLOSED);
            CHECK_EQ(t[i].changes, 1); /* the send is reported, then the close */
            CHECK_EQ(t[i].last, 1);
        }
        CHECK_EQ(pthread_join(th, NULL), 0);
        for (int i = 0; i < 3; i++)
            corio_watch_rx_release(t[i].rx);
    }
    return 0;
}

TEST(watch_stress_close_races_changed)
{
    corio_rt *rt = new_mt_rt(3);
    int res;
    CHECK_EQ(corio_rt_block_on(rt, close_race_main, NULL, &res), 0);
    CHECK_EQ(res, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Aborts racing wakes: receivers aborted at random points while a plain
 * thread sends; no crash, no leak, and a final changed after the close
 * still reports what was not seen. */
typedef struct wabort {
    corio_watch_tx *tx;
    uint64_t n;
} wabort;

static void *wabort_sender(void *arg)
{
    wabort *a = arg;
    for (uint64_t i = 1; i <= a->n; i++) {
        CHECK_EQ(corio_watch_send(a->tx, &i), 0);
        if (i % 8 == 0)
            sched_yield();
    }
    corio_watch_tx_release(a->tx);
    return NULL;
}

static int wabort_main(void *arg)
{
    wabort a;
    a.n = SCALE(20000, 5000, 1500);
    enum { R = 6 };
    wtask t[R];
    memset(t, 0, sizeof t);
    CHECK_EQ(corio_watch_new(sizeof(uint64_t), &(uint64_t){0}, &a.tx, &t[0].rx), 0);
    for (int i = 1; i < R; i++)
        CHECK_EQ(corio_watch_subscribe(a.tx, &t[i].rx), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, wabort_sender, &a), 0);
    unsigned x = 99;
    bool done[R] = {false};
    int left = R;
    while (left) {
        corio_task *h[R];
        for (int i = 0; i < R; i++)
            if (!done[i])
                CHECK_EQ(corio_spawn(watch_loop, &t[i], &h[i]), 0);
        x = x * 1103515245u + 12345u;
        CHECK_EQ(corio_sleep(CORIO_USEC((x >> 8) % 300)), 0);
        for (int i = 0; i < R; i++)
            if (!done[i])
                corio_task_abort(h[i]);
        for (int i = 0; i < R; i++) {
            if (done[i])
                continue;
            int jr = corio_task_join(h[i], NULL);
            if (t[i].rc == CORIO_ECLOSED) {
                CHECK(jr == 0 || jr == CORIO_ECANCELED);
                done[i] = true;
                left--;
                CHECK_EQ(t[i].last, a.n);
            } else {
                CHECK_EQ(jr, CORIO_ECANCELED);
                t[i].rc = 0;
            }
        }
    }
    CHECK_EQ(pthread_join(th, NULL), 0);
    for (int i = 0; i < R; i++)
        corio_watch_rx_release(t[i].rx);
    return 0;
}

TEST(watch_stress_aborts_race_wakes)
{
    corio_rt *rt = new_mt_rt(4);
    int res;
    CHECK_EQ(corio_rt_block_on(rt, wabort_main, NULL, &res), 0);
    CHECK_EQ(res, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Refcounted values replaced while readers clone them. */
typedef struct wref {
    corio_watch_tx *tx;
    uint64_t n;
} wref;

static void *wref_sender(void *arg)
{
    wref *c = arg;
    for (uint64_t i = 1; i <= c->n; i++) {
        obj *o = obj_new(i);
        CHECK_EQ(corio_watch_send(c->tx, &o), 0);
    }
    corio_watch_tx_release(c->tx);
    return NULL;
}

static void *wref_reader(void *arg)
{
    corio_watch_rx *rx = arg;
    uint64_t last = 0;
    for (;;) {
        int rc = corio_watch_changed(rx);
        obj *o;
        CHECK_EQ(corio_watch_get(rx, &o), 0);
        CHECK(o->value >= last);
        last = o->value;
        obj_unref(o);
        if (rc) {
            CHECK_EQ(rc, CORIO_ECLOSED);
            return NULL;
        }
    }
}

TEST(watch_stress_refcounted_values_replaced_while_read)
{
    atomic_store(&objs_live, 0);
    wref c;
    c.n = SCALE(50000, 10000, 3000);
    corio_chan_opts o = {.msg_size = sizeof(obj *), .drop = obj_drop, .clone = obj_clone};
    enum { R = 3 };
    corio_watch_rx *rx[R];
    obj *first = obj_new(0);
    CHECK_EQ(corio_watch_new_with(&o, &first, &c.tx, &rx[0]), 0);
    for (int i = 1; i < R; i++)
        CHECK_EQ(corio_watch_subscribe(c.tx, &rx[i]), 0);
    pthread_t th[R + 1];
    for (int i = 0; i < R; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, wref_reader, rx[i]), 0);
    CHECK_EQ(pthread_create(&th[R], NULL, wref_sender, &c), 0);
    for (int i = 0; i <= R; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < R; i++)
        corio_watch_rx_release(rx[i]);
    CHECK_EQ(atomic_load(&objs_live), 0);
}
