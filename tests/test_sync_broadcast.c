/* tests/test_sync_broadcast.c - the broadcast channel
 * (include/corio/broadcast.h): what its header promises.
 *
 * One test per promise of the header: every receiver sees every message in
 * order, a late subscriber sees only later ones, the lag count and the
 * skip to the oldest kept, capacity rounding, close (drain, then
 * CORIO_ECLOSED; a waiting receiver wakes), no receiver (the message is not
 * taken), the drop function once per message (overwritten or left at the
 * free), clone/drop of refcounted pointer messages, the argument checks,
 * receiving from plain threads, and cancel safety (abort, corio_timeout).
 * The stress tests are in test_sync_broadcast_stress.c.
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

static int send_u64(corio_broadcast_tx *tx, uint64_t v)
{
    return corio_broadcast_send(tx, &v);
}

/* ---- argument checks --------------------------------------------------------- */

TEST(broadcast_rejects_invalid_arguments)
{
    corio_broadcast_tx *tx = (corio_broadcast_tx *)1;
    corio_broadcast_rx *rx = (corio_broadcast_rx *)1;
    CHECK_EQ(corio_broadcast_new(0, 4, &tx, &rx), -EINVAL);
    CHECK_EQ(corio_broadcast_new(CORIO_CHAN_MSG_MAX + 1, 4, &tx, &rx), -EINVAL);
    CHECK_EQ(corio_broadcast_new(8, 0, &tx, &rx), -EINVAL);
    CHECK_EQ(corio_broadcast_new(8, CORIO_BROADCAST_CAPACITY_MAX + 1, &tx, &rx), -EINVAL);
    CHECK_EQ(corio_broadcast_new(8, 4, NULL, &rx), -EINVAL);
    CHECK_EQ(corio_broadcast_new(8, 4, &tx, NULL), -EINVAL);
    CHECK_EQ(corio_broadcast_new_with(NULL, &tx, &rx), -EINVAL);
    /* Failures set the out-parameters to NULL (docs/conventions.md). */
    CHECK(tx == NULL && rx == NULL);

    uint64_t v = 1, lag = 77;
    CHECK_EQ(corio_broadcast_send(NULL, &v), -EINVAL);
    CHECK_EQ(corio_broadcast_recv(NULL, &v, &lag), -EINVAL);
    CHECK_EQ(lag, 0);
    CHECK_EQ(corio_broadcast_try_recv(NULL, &v, NULL), -EINVAL);
    CHECK_EQ(corio_broadcast_subscribe(NULL, &rx), -EINVAL);
    CHECK(corio_broadcast_tx_clone(NULL) == NULL);
    corio_broadcast_tx_release(NULL);
    corio_broadcast_rx_release(NULL);
    CHECK_EQ(corio_broadcast_receiver_count(NULL), 0);
    CHECK_EQ(corio_broadcast_len(NULL), 0);
    corio_broadcast_recv_fut_init(NULL, NULL, NULL);

    CHECK_EQ(corio_broadcast_new(8, 4, &tx, &rx), 0);
    CHECK_EQ(corio_broadcast_send(tx, NULL), -EINVAL);
    CHECK_EQ(corio_broadcast_recv(rx, NULL, NULL), -EINVAL);
    CHECK_EQ(corio_broadcast_try_recv(rx, NULL, NULL), -EINVAL);
    CHECK_EQ(corio_broadcast_subscribe(tx, NULL), -EINVAL);
    /* A future with a NULL receiver or buffer completes with -EINVAL. */
    corio_broadcast_recv_fut f;
    corio_broadcast_recv_fut_init(&f, NULL, &v);
    CHECK_EQ(corio_block_on_future(&f.base), 0);
    CHECK_EQ(f.base.result, -EINVAL);
    corio_broadcast_recv_fut_init(&f, rx, NULL);
    CHECK_EQ(corio_block_on_future(&f.base), 0);
    CHECK_EQ(f.base.result, -EINVAL);
    corio_broadcast_tx_release(tx);
    corio_broadcast_rx_release(rx);
}

/* ---- order, fan-out, subscribe --------------------------------------------- */

TEST(broadcast_every_receiver_sees_every_message_in_order)
{
    corio_broadcast_tx *tx;
    corio_broadcast_rx *rx[3];
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 16, &tx, &rx[0]), 0);
    CHECK_EQ(corio_broadcast_subscribe(tx, &rx[1]), 0);
    CHECK_EQ(corio_broadcast_subscribe(tx, &rx[2]), 0);
    CHECK_EQ(corio_broadcast_receiver_count(tx), 3);
    uint64_t v, lag = 99;
    CHECK_EQ(corio_broadcast_try_recv(rx[0], &v, &lag), -EAGAIN);
    CHECK_EQ(lag, 0);
    for (uint64_t i = 0; i < 10; i++)
        CHECK_EQ(send_u64(tx, i * 3), 0); /* all three get it */
    for (int r = 0; r < 3; r++) {
        CHECK_EQ(corio_broadcast_len(rx[r]), 10);
        for (uint64_t i = 0; i < 10; i++) {
            CHECK_EQ(corio_broadcast_try_recv(rx[r], &v, &lag), 0);
            CHECK_EQ(v, i * 3);
            CHECK_EQ(lag, 0);
        }
        CHECK_EQ(corio_broadcast_try_recv(rx[r], &v, NULL), -EAGAIN);
        CHECK_EQ(corio_broadcast_len(rx[r]), 0);
    }
    corio_broadcast_rx_release(rx[2]);
    CHECK_EQ(corio_broadcast_receiver_count(tx), 2);
    CHECK_EQ(send_u64(tx, 5), 0);
    corio_broadcast_rx_release(rx[1]);
    corio_broadcast_rx_release(rx[0]);
    corio_broadcast_tx_release(tx);
}

TEST(broadcast_large_messages_copy_whole)
{
    /* A size that is not a multiple of 8 and spans many words. */
    enum { SZ = 1003 };
    corio_broadcast_tx *tx;
    corio_broadcast_rx *rx;
    CHECK_EQ(corio_broadcast_new(SZ, 2, &tx, &rx), 0);
    unsigned char in[SZ], out[SZ + 8];
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < SZ; i++)
            in[i] = (unsigned char)(i * 7 + k);
        memset(out, 0xEE, sizeof out);
        CHECK_EQ(corio_broadcast_send(tx, in), 0);
        CHECK_EQ(corio_broadcast_try_recv(rx, out, NULL), 0);
        CHECK(memcmp(in, out, SZ) == 0);
        CHECK_EQ(out[SZ], 0xEE); /* nothing past msg_size written */
    }
    /* One byte. */
    corio_broadcast_tx_release(tx);
    corio_broadcast_rx_release(rx);
    CHECK_EQ(corio_broadcast_new(1, 1, &tx, &rx), 0);
    unsigned char b = 0x5A, o[2] = {0, 0xEE};
    CHECK_EQ(corio_broadcast_send(tx, &b), 0);
    CHECK_EQ(corio_broadcast_try_recv(rx, o, NULL), 0);
    CHECK_EQ(o[0], 0x5A);
    CHECK_EQ(o[1], 0xEE);
    corio_broadcast_tx_release(tx);
    corio_broadcast_rx_release(rx);
}

TEST(broadcast_subscriber_sees_only_later_messages)
{
    corio_broadcast_tx *tx;
    corio_broadcast_rx *early, *late;
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 8, &tx, &early), 0);
    for (uint64_t i = 0; i < 5; i++)
        CHECK_EQ(send_u64(tx, i), 0);
    CHECK_EQ(corio_broadcast_subscribe(tx, &late), 0);
    CHECK_EQ(corio_broadcast_len(late), 0);
    uint64_t v;
    CHECK_EQ(corio_broadcast_try_recv(late, &v, NULL), -EAGAIN);
    CHECK_EQ(corio_broadcast_receiver_count(tx), 2);
    CHECK_EQ(send_u64(tx, 100), 0);
    CHECK_EQ(corio_broadcast_try_recv(late, &v, NULL), 0);
    CHECK_EQ(v, 100);
    CHECK_EQ(corio_broadcast_try_recv(late, &v, NULL), -EAGAIN);
    for (uint64_t i = 0; i < 5; i++) {
        CHECK_EQ(corio_broadcast_try_recv(early, &v, NULL), 0);
        CHECK_EQ(v, i);
    }
    CHECK_EQ(corio_broadcast_try_recv(early, &v, NULL), 0);
    CHECK_EQ(v, 100);
    /* A sender clone subscribes as well. */
    corio_broadcast_tx *tx2 = corio_broadcast_tx_clone(tx);
    corio_broadcast_rx *third;
    CHECK_EQ(corio_broadcast_subscribe(tx2, &third), 0);
    CHECK_EQ(corio_broadcast_receiver_count(tx2), 3);
    CHECK_EQ(send_u64(tx2, 7), 0);
    CHECK_EQ(corio_broadcast_try_recv(third, &v, NULL), 0);
    CHECK_EQ(v, 7);
    corio_broadcast_rx_release(third);
    corio_broadcast_rx_release(late);
    corio_broadcast_rx_release(early);
    corio_broadcast_tx_release(tx2);
    corio_broadcast_tx_release(tx);
}

/* ---- lag --------------------------------------------------------------------- */

TEST(broadcast_lagging_receiver_skips_to_oldest_and_counts)
{
    corio_broadcast_tx *tx;
    corio_broadcast_rx *rx, *rx2;
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 4, &tx, &rx), 0);
    CHECK_EQ(corio_broadcast_subscribe(tx, &rx2), 0);
    for (uint64_t i = 0; i < 10; i++)
        CHECK_EQ(send_u64(tx, i), 0);
    CHECK_EQ(corio_broadcast_len(rx), 4); /* a lag shows as the capacity */
    /* 0..5 were overwritten: the oldest kept is 6, reported with lag 6. */
    uint64_t v, lag = 0;
    CHECK_EQ(corio_broadcast_try_recv(rx, &v, &lag), 0);
    CHECK_EQ(v, 6);
    CHECK_EQ(lag, 6);
    for (uint64_t i = 7; i < 10; i++) {
        CHECK_EQ(corio_broadcast_try_recv(rx, &v, &lag), 0);
        CHECK_EQ(v, i);
        CHECK_EQ(lag, 0);
    }
    CHECK_EQ(corio_broadcast_try_recv(rx, &v, &lag), -EAGAIN);
    CHECK_EQ(lag, 0);
    /* The other receiver, through the waiting call with lagged NULL. */
    int ctx_ok = corio_broadcast_recv(rx2, &v, NULL);
    CHECK_EQ(ctx_ok, 0);
    CHECK_EQ(v, 6);
    /* A lag in the middle: read 7, then fall behind again. */
    CHECK_EQ(corio_broadcast_recv(rx2, &v, &lag), 0);
    CHECK_EQ(v, 7);
    CHECK_EQ(lag, 0);
    for (uint64_t i = 10; i < 20; i++)
        CHECK_EQ(send_u64(tx, i), 0);
    CHECK_EQ(corio_broadcast_recv(rx2, &v, &lag), 0);
    CHECK_EQ(v, 16);
    CHECK_EQ(lag, 8); /* 8..15 */
    /* Lags plus receipts add up to what was sent since it subscribed. */
    uint64_t got = 3, lost = 6 + 8;
    while (corio_broadcast_try_recv(rx2, &v, &lag) == 0) {
        got++;
        lost += lag;
    }
    CHECK_EQ(got + lost, 20);
    corio_broadcast_rx_release(rx2);
    corio_broadcast_rx_release(rx);
    corio_broadcast_tx_release(tx);
}

TEST(broadcast_capacity_rounds_up_to_power_of_two)
{
    corio_broadcast_tx *tx;
    corio_broadcast_rx *rx;
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 3, &tx, &rx), 0);
    for (uint64_t i = 0; i < 4; i++)
        CHECK_EQ(send_u64(tx, i), 0);
    uint64_t v, lag;
    CHECK_EQ(corio_broadcast_try_recv(rx, &v, &lag), 0); /* 4 kept: no lag */
    CHECK_EQ(v, 0);
    CHECK_EQ(lag, 0);
    corio_broadcast_tx_release(tx);
    corio_broadcast_rx_release(rx);
    /* Capacity 1: only the latest message. */
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 1, &tx, &rx), 0);
    for (uint64_t i = 0; i < 5; i++)
        CHECK_EQ(send_u64(tx, i), 0);
    CHECK_EQ(corio_broadcast_try_recv(rx, &v, &lag), 0);
    CHECK_EQ(v, 4);
    CHECK_EQ(lag, 4);
    CHECK_EQ(corio_broadcast_try_recv(rx, &v, &lag), -EAGAIN);
    corio_broadcast_tx_release(tx);
    corio_broadcast_rx_release(rx);
}

/* ---- close and no receiver --------------------------------------------------- */

TEST(broadcast_close_drains_then_reports_closed)
{
    corio_broadcast_tx *tx, *tx2;
    corio_broadcast_rx *rx;
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 8, &tx, &rx), 0);
    tx2 = corio_broadcast_tx_clone(tx);
    CHECK_EQ(send_u64(tx, 1), 0);
    corio_broadcast_tx_release(tx);
    /* One sender is left: still open. */
    uint64_t v;
    CHECK_EQ(corio_broadcast_try_recv(rx, &v, NULL), 0);
    CHECK_EQ(v, 1);
    CHECK_EQ(corio_broadcast_try_recv(rx, &v, NULL), -EAGAIN);
    CHECK_EQ(send_u64(tx2, 2), 0);
    CHECK_EQ(send_u64(tx2, 3), 0);
    corio_broadcast_tx_release(tx2);
    /* Closed: what was kept still comes, then CORIO_ECLOSED for good. */
    CHECK_EQ(corio_broadcast_recv(rx, &v, NULL), 0);
    CHECK_EQ(v, 2);
    CHECK_EQ(corio_broadcast_try_recv(rx, &v, NULL), 0);
    CHECK_EQ(v, 3);
    uint64_t lag = 5;
    CHECK_EQ(corio_broadcast_recv(rx, &v, &lag), CORIO_ECLOSED);
    CHECK_EQ(lag, 0);
    CHECK_EQ(corio_broadcast_try_recv(rx, &v, NULL), CORIO_ECLOSED);
    CHECK_EQ(corio_broadcast_recv(rx, &v, NULL), CORIO_ECLOSED);
    corio_broadcast_rx_release(rx);
}

static atomic_int drops_seen;
static uint64_t drop_log[64];

static void count_drop(void *msg, void *arg)
{
    uint64_t v;
    memcpy(&v, msg, sizeof v);
    int i = atomic_fetch_add(&drops_seen, 1);
    if (i < 64)
        drop_log[i] = v;
    if (arg)
        atomic_fetch_add((atomic_int *)arg, 1);
}

TEST(broadcast_send_without_receiver_takes_nothing)
{
    atomic_store(&drops_seen, 0);
    corio_chan_opts o = {.msg_size = sizeof(uint64_t), .capacity = 2, .drop = count_drop};
    corio_broadcast_tx *tx;
    corio_broadcast_rx *rx;
    CHECK_EQ(corio_broadcast_new_with(&o, &tx, &rx), 0);
    corio_broadcast_rx_release(rx);
    CHECK_EQ(corio_broadcast_receiver_count(tx), 0);
    CHECK_EQ(send_u64(tx, 1), CORIO_ECLOSED);
    CHECK_EQ(send_u64(tx, 2), CORIO_ECLOSED);
    CHECK_EQ(atomic_load(&drops_seen), 0); /* not taken: never dropped */
    /* A new subscriber makes it work again. */
    CHECK_EQ(corio_broadcast_subscribe(tx, &rx), 0);
    CHECK_EQ(send_u64(tx, 3), 0);
    uint64_t v;
    CHECK_EQ(corio_broadcast_try_recv(rx, &v, NULL), 0);
    CHECK_EQ(v, 3);
    corio_broadcast_rx_release(rx);
    corio_broadcast_tx_release(tx);
    CHECK_EQ(atomic_load(&drops_seen), 1); /* 3, at the free */
    CHECK_EQ(drop_log[0], 3);
}

/* ---- the drop function ----------------------------------------------------- */

TEST(broadcast_drop_runs_once_per_message_overwritten_or_left)
{
    atomic_store(&drops_seen, 0);
    corio_chan_opts o = {.msg_size = sizeof(uint64_t), .capacity = 4, .drop = count_drop};
    corio_broadcast_tx *tx;
    corio_broadcast_rx *rx;
    CHECK_EQ(corio_broadcast_new_with(&o, &tx, &rx), 0);
    for (uint64_t i = 0; i < 4; i++)
        CHECK_EQ(send_u64(tx, i), 0);
    CHECK_EQ(atomic_load(&drops_seen), 0); /* a full ring drops nothing yet */
    /* Reading does not drop either: the ring keeps messages until they are
     * overwritten. */
    uint64_t v;
    CHECK_EQ(corio_broadcast_try_recv(rx, &v, NULL), 0);
    CHECK_EQ(atomic_load(&drops_seen), 0);
    for (uint64_t i = 4; i < 10; i++)
        CHECK_EQ(send_u64(tx, i), 0);
    /* 0..5 overwritten, oldest first. */
    CHECK_EQ(atomic_load(&drops_seen), 6);
    for (int i = 0; i < 6; i++)
        CHECK_EQ(drop_log[i], i);
    /* Releasing a receiver drops nothing; the last handle drops 6..9. */
    corio_broadcast_rx_release(rx);
    CHECK_EQ(atomic_load(&drops_seen), 6);
    corio_broadcast_tx_release(tx);
    CHECK_EQ(atomic_load(&drops_seen), 10);
    for (int i = 6; i < 10; i++)
        CHECK_EQ(drop_log[i], i);

    /* Freed with the receiver last, the ring not full. */
    atomic_store(&drops_seen, 0);
    CHECK_EQ(corio_broadcast_new_with(&o, &tx, &rx), 0);
    CHECK_EQ(send_u64(tx, 40), 0);
    CHECK_EQ(send_u64(tx, 41), 0);
    corio_broadcast_tx_release(tx);
    CHECK_EQ(atomic_load(&drops_seen), 0);
    corio_broadcast_rx_release(rx);
    CHECK_EQ(atomic_load(&drops_seen), 2);
    CHECK_EQ(drop_log[0], 40);
    CHECK_EQ(drop_log[1], 41);
}

TEST(broadcast_clone_and_drop_manage_refcounted_messages)
{
    atomic_store(&objs_live, 0);
    atomic_int clones = 0;
    corio_chan_opts o = {.msg_size = sizeof(obj *), .capacity = 2, .drop = obj_drop,
                         .clone = obj_clone, .clone_arg = &clones};
    corio_broadcast_tx *tx;
    corio_broadcast_rx *a, *b;
    CHECK_EQ(corio_broadcast_new_with(&o, &tx, &a), 0);
    CHECK_EQ(corio_broadcast_subscribe(tx, &b), 0);
    CHECK_EQ(corio_broadcast_receiver_count(tx), 2);
    for (uint64_t i = 0; i < 2; i++) {
        obj *m = obj_new(i);
        CHECK_EQ(corio_broadcast_send(tx, &m), 0); /* the ring owns the reference */
    }
    obj *got;
    CHECK_EQ(corio_broadcast_try_recv(a, &got, NULL), 0);
    CHECK_EQ(got->value, 0);
    CHECK_EQ(atomic_load(&got->refs), 2); /* the ring's and a's */
    /* Overwriting drops the ring's reference; a's copy stays valid. */
    obj *m = obj_new(2);
    CHECK_EQ(corio_broadcast_send(tx, &m), 0);
    CHECK_EQ(atomic_load(&got->refs), 1);
    CHECK_EQ(got->value, 0);
    obj_unref(got);
    /* b lagged: message 0 is gone, it gets 1 then 2, each its own. */
    uint64_t lag;
    CHECK_EQ(corio_broadcast_try_recv(b, &got, &lag), 0);
    CHECK_EQ(got->value, 1);
    CHECK_EQ(lag, 1);
    obj_unref(got);
    CHECK_EQ(corio_broadcast_try_recv(b, &got, &lag), 0);
    CHECK_EQ(got->value, 2);
    obj_unref(got);
    CHECK_EQ(atomic_load(&clones), 3); /* one per receipt, with clone_arg */
    /* A failed send takes nothing: the caller still owns the object. */
    corio_broadcast_rx_release(a);
    corio_broadcast_rx_release(b);
    m = obj_new(3);
    CHECK_EQ(corio_broadcast_send(tx, &m), CORIO_ECLOSED);
    obj_unref(m);
    corio_broadcast_tx_release(tx);
    CHECK_EQ(atomic_load(&objs_live), 0);
}

/* ---- waiting: tasks, plain threads, close ---------------------------------- */

typedef struct rtask {
    corio_broadcast_rx *rx;
    uint64_t got[16];
    uint64_t lag;
    int n;
    int rc;
} rtask;

/* Receive until an error; returns the error. */
static int recv_all(void *arg)
{
    rtask *t = arg;
    for (;;) {
        uint64_t v, lag;
        int rc = corio_broadcast_recv(t->rx, &v, &lag);
        if (rc) {
            t->rc = rc;
            return rc;
        }
        t->lag += lag;
        if (t->n < 16)
            t->got[t->n] = v;
        t->n++;
    }
}

static int waiting_main(void *arg)
{
    corio_broadcast_tx *tx;
    rtask t[3];
    memset(t, 0, sizeof t);
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 8, &tx, &t[0].rx), 0);
    CHECK_EQ(corio_broadcast_subscribe(tx, &t[1].rx), 0);
    CHECK_EQ(corio_broadcast_subscribe(tx, &t[2].rx), 0);
    corio_task *h[3];
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_spawn(recv_all, &t[i], &h[i]), 0);
    settle(); /* all three wait */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(t[i].n, 0);
    CHECK_EQ(send_u64(tx, 11), 0);
    settle();
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(t[i].n, 1);
        CHECK_EQ(t[i].got[0], 11);
    }
    CHECK_EQ(send_u64(tx, 12), 0);
    CHECK_EQ(send_u64(tx, 13), 0);
    settle();
    /* Closing wakes the waiting receivers with CORIO_ECLOSED. */
    corio_broadcast_tx_release(tx);
    for (int i = 0; i < 3; i++) {
        int r;
        CHECK_EQ(corio_task_join(h[i], &r), 0);
        CHECK_EQ(r, CORIO_ECLOSED);
        CHECK_EQ(t[i].n, 3);
        CHECK_EQ(t[i].got[1], 12);
        CHECK_EQ(t[i].got[2], 13);
        corio_broadcast_rx_release(t[i].rx);
    }
    return 0;
}

TEST(broadcast_recv_waits_and_wakes_on_send_and_close)
{
    CHECK_EQ(run_main(waiting_main, NULL), 0);
}

static void *plain_recv_all(void *arg)
{
    (void)recv_all(arg);
    return NULL;
}

TEST(broadcast_recv_blocks_a_plain_thread)
{
    corio_broadcast_tx *tx;
    rtask t;
    memset(&t, 0, sizeof t);
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 4, &tx, &t.rx), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, plain_recv_all, &t), 0);
    sleep_ms(20);
    CHECK_EQ(send_u64(tx, 1), 0);
    sleep_ms(20);
    CHECK_EQ(send_u64(tx, 2), 0);
    sleep_ms(5);
    corio_broadcast_tx_release(tx);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(t.rc, CORIO_ECLOSED);
    CHECK_EQ(t.n, 2);
    CHECK_EQ(t.got[0], 1);
    CHECK_EQ(t.got[1], 2);
    corio_broadcast_rx_release(t.rx);
}

/* ---- cancel safety ------------------------------------------------------- */

static int timeout_main(void *arg)
{
    corio_broadcast_tx *tx;
    corio_broadcast_rx *rx;
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 2, &tx, &rx), 0);
    uint64_t v = 0;
    /* Nothing there: the timeout drops the future, nothing consumed. */
    corio_broadcast_recv_fut f;
    corio_broadcast_recv_fut_init(&f, rx, &v);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(5)), CORIO_ETIMEDOUT);
    CHECK_EQ(send_u64(tx, 1), 0);
    corio_broadcast_recv_fut_init(&f, rx, &v);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(100)), 0);
    CHECK_EQ(f.base.result, 0);
    CHECK_EQ(v, 1);
    CHECK_EQ(f.lagged, 0);
    /* A lag is reported by the receive that completes, not by one that
     * was dropped before it could. */
    for (uint64_t i = 2; i < 7; i++)
        CHECK_EQ(send_u64(tx, i), 0);
    corio_broadcast_recv_fut_init(&f, rx, &v);
    corio_future_drop(&f.base); /* never polled: nothing happens */
    corio_broadcast_recv_fut_init(&f, rx, &v);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(100)), 0);
    CHECK_EQ(f.base.result, 0);
    CHECK_EQ(v, 5);
    CHECK_EQ(f.lagged, 3); /* 2, 3, 4 */
    CHECK_EQ(corio_broadcast_recv(rx, &v, NULL), 0);
    CHECK_EQ(v, 6);
    /* A receive queued then dropped by its timeout, with a send right
     * after: the message is the next receive's. */
    corio_broadcast_recv_fut_init(&f, rx, &v);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(2)), CORIO_ETIMEDOUT);
    CHECK_EQ(send_u64(tx, 7), 0);
    uint64_t lag = 9;
    CHECK_EQ(corio_broadcast_recv(rx, &v, &lag), 0);
    CHECK_EQ(v, 7);
    CHECK_EQ(lag, 0);
    corio_broadcast_tx_release(tx);
    corio_broadcast_rx_release(rx);
    return 0;
}

/* Inside a deadline scope: the wait returns CORIO_ETIMEDOUT. */
static int scoped_recv(void *arg)
{
    uint64_t v;
    return corio_broadcast_recv(arg, &v, NULL);
}

static int scope_main(void *arg)
{
    corio_broadcast_tx *tx;
    corio_broadcast_rx *rx;
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 2, &tx, &rx), 0);
    int r = 0;
    int rc = corio_timeout_call(CORIO_MSEC(5), scoped_recv, rx, &r);
    CHECK_EQ(rc, CORIO_ETIMEDOUT);
    CHECK_EQ(r, CORIO_ETIMEDOUT);
    CHECK_EQ(send_u64(tx, 3), 0);
    uint64_t v;
    CHECK_EQ(corio_broadcast_recv(rx, &v, NULL), 0);
    CHECK_EQ(v, 3);
    corio_broadcast_tx_release(tx);
    corio_broadcast_rx_release(rx);
    return 0;
}

TEST(broadcast_recv_in_deadline_scope_times_out)
{
    CHECK_EQ(run_main(scope_main, NULL), 0);
}

/* In a stackless task's poll function the waiting call refuses, even with
 * a message there, and consumes nothing. */
static int recv_in_poll(void *arg)
{
    uint64_t v;
    return corio_broadcast_recv(arg, &v, NULL);
}

static int stackless_main(void *arg)
{
    (void)arg;
    corio_broadcast_tx *tx;
    corio_broadcast_rx *rx;
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 2, &tx, &rx), 0);
    CHECK_EQ(send_u64(tx, 8), 0);
    CHECK_EQ(run_in_poll(recv_in_poll, rx), CORIO_EWRONGCTX);
    uint64_t v;
    CHECK_EQ(corio_broadcast_try_recv(rx, &v, NULL), 0);
    CHECK_EQ(v, 8);
    corio_broadcast_tx_release(tx);
    corio_broadcast_rx_release(rx);
    return 0;
}

TEST(broadcast_recv_in_poll_function_is_wrong_context)
{
    CHECK_EQ(run_main(stackless_main, NULL), 0);
}

TEST(broadcast_recv_under_timeout_loses_nothing)
{
    CHECK_EQ(run_main(timeout_main, NULL), 0);
}

static int abort_main(void *arg)
{
    corio_broadcast_tx *tx;
    rtask t;
    memset(&t, 0, sizeof t);
    CHECK_EQ(corio_broadcast_new(sizeof(uint64_t), 4, &tx, &t.rx), 0);
    corio_task *h;
    CHECK_EQ(corio_spawn(recv_all, &t, &h), 0);
    settle();
    corio_task_abort(h);
    /* The send lands while the aborted task's wait is being torn down:
     * the message stays for the receiver's next call. */
    CHECK_EQ(send_u64(tx, 42), 0);
    CHECK_EQ(corio_task_join(h, NULL), CORIO_ECANCELED);
    CHECK_EQ(t.rc, CORIO_ECANCELED);
    CHECK_EQ(t.n, 0);
    uint64_t v;
    CHECK_EQ(corio_broadcast_try_recv(t.rx, &v, NULL), 0);
    CHECK_EQ(v, 42);
    /* A cancelled task's receive fails at once even with a message there,
     * and consumes nothing. */
    CHECK_EQ(send_u64(tx, 43), 0);
    CHECK_EQ(corio_spawn(recv_all, &t, &h), 0);
    corio_task_abort(h);
    CHECK_EQ(corio_task_join(h, NULL), CORIO_ECANCELED);
    CHECK_EQ(corio_broadcast_try_recv(t.rx, &v, NULL), 0);
    CHECK_EQ(v, 43);
    corio_broadcast_tx_release(tx);
    corio_broadcast_rx_release(t.rx);
    return 0;
}

TEST(broadcast_recv_aborted_loses_nothing)
{
    CHECK_EQ(run_main(abort_main, NULL), 0);
}
