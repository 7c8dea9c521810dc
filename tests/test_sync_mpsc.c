/* tests/test_sync_mpsc.c - multi-producer single-consumer channels
 * (corio/mpsc.h): one test per promise of the header, then stress loops on
 * both runtimes that fail on a lost wakeup (the test hangs), a lost or
 * duplicated message (sums), or a race (TSan). */
#include <errno.h>
#include <string.h>

#include "corio/mpsc.h"
#include "test.h"
#include "util.h"

/* ---- creation and misuse ------------------------------------------------- */

TEST(sync_mpsc_new_rejects_bad_arguments)
{
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new(0, 4, &tx, &rx), -EINVAL);
    CHECK_EQ(corio_mpsc_new(CORIO_CHAN_MSG_MAX + 1, 4, &tx, &rx), -EINVAL);
    CHECK_EQ(corio_mpsc_new(8, 0, &tx, &rx), -EINVAL);
    CHECK_EQ(corio_mpsc_new(8, CORIO_MPSC_CAPACITY_MAX + 1, &tx, &rx), -EINVAL);
    CHECK_EQ(corio_mpsc_new(8, 4, NULL, &rx), -EINVAL);
    CHECK_EQ(corio_mpsc_new_with(NULL, &tx, &rx), -EINVAL);
    CHECK_EQ(corio_mpsc_send(NULL, "x"), -EINVAL);
    CHECK_EQ(corio_mpsc_try_send(NULL, "x"), -EINVAL);
    CHECK_EQ(corio_mpsc_recv(NULL, &tx), -EINVAL);
    CHECK_EQ(corio_mpsc_try_recv(NULL, &tx), -EINVAL);
    CHECK_EQ(corio_mpsc_recv_many(NULL, &tx, 1), -EINVAL);
    CHECK(corio_mpsc_tx_clone(NULL) == NULL);
    CHECK(!corio_mpsc_tx_is_closed(NULL)); /* a query: false for NULL */
    CHECK_EQ(corio_mpsc_len(NULL), 0);
    CHECK_EQ(corio_mpsc_capacity(NULL), 0);
    corio_mpsc_tx_release(NULL);
    corio_mpsc_rx_release(NULL);
    corio_mpsc_rx_close(NULL);
    CHECK_EQ(corio_mpsc_new(8, 3, &tx, &rx), 0);
    CHECK_EQ(corio_mpsc_capacity(rx), 3);
    CHECK_EQ(corio_mpsc_send(tx, NULL), -EINVAL);
    CHECK_EQ(corio_mpsc_recv(rx, NULL), -EINVAL);
    CHECK_EQ(corio_mpsc_recv_many(rx, &tx, 0), -EINVAL);
    corio_mpsc_tx_release(tx);
    corio_mpsc_rx_release(rx);
}

/* ---- plain code: try_*, FIFO, close ------------------------------------- */

TEST(sync_mpsc_try_send_full_then_fifo)
{
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new(sizeof(int), 3, &tx, &rx), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_mpsc_try_send(tx, &i), 0);
    int x = 99;
    CHECK_EQ(corio_mpsc_try_send(tx, &x), -EAGAIN);
    CHECK_EQ(corio_mpsc_len(rx), 3);
    for (int i = 0; i < 3; i++) {
        int v = -1;
        CHECK_EQ(corio_mpsc_try_recv(rx, &v), 0);
        CHECK_EQ(v, i);
    }
    int v;
    CHECK_EQ(corio_mpsc_try_recv(rx, &v), -EAGAIN);
    corio_mpsc_tx_release(tx);
    CHECK_EQ(corio_mpsc_try_recv(rx, &v), CORIO_ECLOSED);
    CHECK_EQ(corio_mpsc_recv(rx, &v), CORIO_ECLOSED); /* plain thread: no wait */
    corio_mpsc_rx_release(rx);
}

/* Rings on either side of 64 bytes (inside the channel's allocation up to
 * that, a separate one beyond): filled to capacity and drained, round and
 * round, every byte of every message kept. Under ASan a ring that overran
 * its space would be reported. */
TEST(sync_mpsc_small_and_large_rings_keep_every_byte)
{
    static const struct {
        size_t msg, cap;
    } cases[] = {{8, 1}, {8, 8}, {16, 4}, {64, 1}, {8, 9}, {65, 1}, {24, 3}, {1, 64}, {1, 65}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t msg = cases[k].msg, cap = cases[k].cap;
        corio_mpsc_tx *tx;
        corio_mpsc_rx *rx;
        CHECK_EQ(corio_mpsc_new(msg, cap, &tx, &rx), 0);
        unsigned char in[80], out[80];
        unsigned seq = 0, want = 0;
        for (int round = 0; round < 5; round++) {
            for (size_t i = 0; i < cap; i++, seq++) {
                for (size_t b = 0; b < msg; b++)
                    in[b] = (unsigned char)(seq * 31 + b);
                CHECK_EQ(corio_mpsc_try_send(tx, in), 0);
            }
            CHECK_EQ(corio_mpsc_try_send(tx, in), -EAGAIN);
            for (size_t i = 0; i < cap; i++, want++) {
                CHECK_EQ(corio_mpsc_try_recv(rx, out), 0);
                for (size_t b = 0; b < msg; b++)
                    CHECK_EQ(out[b], (unsigned char)(want * 31 + b));
            }
        }
        corio_mpsc_tx_release(tx);
        corio_mpsc_rx_release(rx);
    }
}

TEST(sync_mpsc_closed_after_last_sender_only_once_drained)
{
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new(sizeof(int), 8, &tx, &rx), 0);
    corio_mpsc_tx *tx2 = corio_mpsc_tx_clone(tx);
    CHECK(tx2 == tx);
    int a = 1, b = 2, v;
    CHECK_EQ(corio_mpsc_send(tx, &a), 0);
    corio_mpsc_tx_release(tx);
    CHECK_EQ(corio_mpsc_send(tx2, &b), 0); /* one sender left: still open */
    corio_mpsc_tx_release(tx2);
    CHECK_EQ(corio_mpsc_recv(rx, &v), 0);
    CHECK_EQ(v, 1);
    CHECK_EQ(corio_mpsc_recv(rx, &v), 0);
    CHECK_EQ(v, 2);
    CHECK_EQ(corio_mpsc_recv(rx, &v), CORIO_ECLOSED);
    corio_mpsc_rx_release(rx);
}

TEST(sync_mpsc_receiver_close_fails_sends_keeps_messages)
{
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new(sizeof(int), 8, &tx, &rx), 0);
    int a = 7, v;
    CHECK(!corio_mpsc_tx_is_closed(tx));
    CHECK_EQ(corio_mpsc_send(tx, &a), 0);
    corio_mpsc_rx_close(rx);
    CHECK(corio_mpsc_tx_is_closed(tx));
    CHECK_EQ(corio_mpsc_send(tx, &a), CORIO_ECLOSED);
    CHECK_EQ(corio_mpsc_try_send(tx, &a), CORIO_ECLOSED);
    CHECK_EQ(corio_mpsc_recv(rx, &v), 0); /* what was inside still comes */
    CHECK_EQ(v, 7);
    CHECK_EQ(corio_mpsc_recv(rx, &v), CORIO_ECLOSED);
    corio_mpsc_tx_release(tx);
    corio_mpsc_rx_release(rx);
}

TEST(sync_mpsc_unbounded_grows_and_keeps_order)
{
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new_unbounded(sizeof(long), &tx, &rx), 0);
    CHECK_EQ(corio_mpsc_capacity(rx), 0);
    long n = 100000;
    for (long i = 0; i < n; i++) {
        CHECK_EQ(corio_mpsc_send(tx, &i), 0); /* never waits */
        if (i % 3 == 0) {                      /* wrap the ring as it grows */
            long v;
            CHECK_EQ(corio_mpsc_try_recv(rx, &v), 0);
            CHECK_EQ(v, i / 3 * 1);
        }
    }
    (void)n;
    corio_mpsc_tx_release(tx);
    corio_mpsc_rx_release(rx);
}

/* ---- messages left inside go to the drop function ------------------------- */

static void count_drop(void *msg, void *arg)
{
    int *count = arg;
    char *p;
    memcpy(&p, msg, sizeof p);
    free(p);
    (*count)++;
}

TEST(sync_mpsc_drop_function_frees_messages_left)
{
    for (int order = 0; order < 2; order++) {
        int dropped = 0;
        corio_chan_opts o = {.msg_size = sizeof(char *), .capacity = 16, .drop = count_drop,
                             .drop_arg = &dropped};
        corio_mpsc_tx *tx;
        corio_mpsc_rx *rx;
        CHECK_EQ(corio_mpsc_new_with(&o, &tx, &rx), 0);
        for (int i = 0; i < 10; i++) {
            char *p = malloc(32);
            CHECK(p != NULL);
            CHECK_EQ(corio_mpsc_send(tx, &p), 0);
        }
        char *got;
        CHECK_EQ(corio_mpsc_recv(rx, &got), 0); /* received: the caller's now */
        free(got);
        if (order == 0) {
            corio_mpsc_rx_release(rx); /* drops the 9 left */
            CHECK_EQ(dropped, 9);
            char *p = NULL;
            CHECK_EQ(corio_mpsc_send(tx, &p), CORIO_ECLOSED);
            corio_mpsc_tx_release(tx);
        } else {
            corio_mpsc_tx_release(tx);
            CHECK_EQ(dropped, 0);
            corio_mpsc_rx_release(rx);
        }
        CHECK_EQ(dropped, 9); /* ASan's leak check sees the rest */
    }
}

/* ---- tasks: backpressure, FIFO senders, recv_many --------------------------- */

typedef struct chan_pair {
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    int n;
    _Atomic int progress;
} chan_pair;

static int fill_sender(void *arg)
{
    chan_pair *p = arg;
    for (int i = 0; i < p->n; i++) {
        CHECK_EQ(corio_mpsc_send(p->tx, &i), 0);
        atomic_store(&p->progress, i + 1);
    }
    return 0;
}

static int backpressure_main(void *arg)
{
    (void)arg;
    chan_pair p = {.n = 10};
    CHECK_EQ(corio_mpsc_new(sizeof(int), 2, &p.tx, &p.rx), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(fill_sender, &p, &t), 0);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(corio_yield(), 0);
    CHECK_EQ(atomic_load(&p.progress), 2); /* waiting for room: the backpressure */
    CHECK_EQ(corio_mpsc_len(p.rx), 2);
    for (int i = 0; i < 10; i++) {
        int v;
        CHECK_EQ(corio_mpsc_recv(p.rx, &v), 0);
        CHECK_EQ(v, i);
    }
    CHECK_EQ(corio_task_join(t, NULL), 0);
    corio_mpsc_tx_release(p.tx);
    corio_mpsc_rx_release(p.rx);
    return 0;
}

TEST(sync_mpsc_bounded_send_waits_while_full)
{
    CHECK_EQ(run_main(backpressure_main, NULL), 0);
}

typedef struct order_ctx {
    corio_mpsc_tx *tx;
    int id;
} order_ctx;

static int send_id(void *arg)
{
    order_ctx *o = arg;
    CHECK_EQ(corio_mpsc_send(o->tx, &o->id), 0);
    return 0;
}

static int fifo_senders_main(void *arg)
{
    (void)arg;
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new(sizeof(int), 1, &tx, &rx), 0);
    int zero = 0;
    CHECK_EQ(corio_mpsc_send(tx, &zero), 0); /* full */
    order_ctx os[5];
    corio_task *ts[5];
    for (int i = 0; i < 5; i++) {
        os[i] = (order_ctx){tx, i + 1};
        CHECK_EQ(corio_spawn(send_id, &os[i], &ts[i]), 0);
        CHECK_EQ(corio_yield(), 0); /* each queues in turn */
    }
    int x = 100;
    CHECK_EQ(corio_mpsc_try_send(tx, &x), -EAGAIN); /* no overtaking */
    for (int i = 0; i <= 5; i++) {
        int v;
        CHECK_EQ(corio_mpsc_recv(rx, &v), 0);
        CHECK_EQ(v, i);
    }
    for (int i = 0; i < 5; i++)
        CHECK_EQ(corio_task_join(ts[i], NULL), 0);
    corio_mpsc_tx_release(tx);
    corio_mpsc_rx_release(rx);
    return 0;
}

TEST(sync_mpsc_waiting_senders_served_in_order)
{
    CHECK_EQ(run_main(fifo_senders_main, NULL), 0);
}

static int recv_many_main(void *arg)
{
    (void)arg;
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new(sizeof(int), 8, &tx, &rx), 0);
    /* Wrap the ring: 6 in, 6 out, then 7 in. */
    for (int i = 0; i < 6; i++)
        CHECK_EQ(corio_mpsc_send(tx, &i), 0);
    int buf[16];
    CHECK_EQ(corio_mpsc_recv_many(rx, buf, 16), 6);
    for (int i = 0; i < 7; i++)
        CHECK_EQ(corio_mpsc_send(tx, &i), 0);
    CHECK_EQ(corio_mpsc_recv_many(rx, buf, 3), 3);
    CHECK_EQ(buf[2], 2);
    CHECK_EQ(corio_mpsc_recv_many(rx, buf, 16), 4);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(buf[i], 3 + i);
    corio_mpsc_tx_release(tx);
    CHECK_EQ(corio_mpsc_recv_many(rx, buf, 16), CORIO_ECLOSED);
    corio_mpsc_rx_release(rx);
    return 0;
}

TEST(sync_mpsc_recv_many_takes_what_is_there)
{
    CHECK_EQ(run_main(recv_many_main, NULL), 0);
}

/* ---- cancel safety ------------------------------------------------------------ */

static int late_sender(void *arg)
{
    chan_pair *p = arg;
    CHECK_EQ(corio_sleep(CORIO_MSEC(30)), 0);
    int v = 42;
    CHECK_EQ(corio_mpsc_send(p->tx, &v), 0);
    return 0;
}

static int recv_timeout_main(void *arg)
{
    (void)arg;
    chan_pair p = {0};
    CHECK_EQ(corio_mpsc_new(sizeof(int), 4, &p.tx, &p.rx), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(late_sender, &p, &t), 0);
    int v = -1;
    corio_mpsc_recv_fut f;
    corio_mpsc_recv_fut_init(&f, p.rx, &v);
    CHECK_EQ(corio_timeout(&f.base, CORIO_MSEC(1)), CORIO_ETIMEDOUT);
    CHECK_EQ(v, -1);
    /* The message sent later is not lost to the abandoned receive. */
    CHECK_EQ(corio_mpsc_recv(p.rx, &v), 0);
    CHECK_EQ(v, 42);
    CHECK_EQ(corio_task_join(t, NULL), 0);
    corio_mpsc_tx_release(p.tx);
    corio_mpsc_rx_release(p.rx);
    return 0;
}

TEST(sync_mpsc_timed_out_recv_loses_no_message)
{
    CHECK_EQ(run_main(recv_timeout_main, NULL), 0);
}

static int blocked_sender(void *arg)
{
    chan_pair *p = arg;
    int v = 5;
    int rc = corio_mpsc_send(p->tx, &v);
    atomic_store(&p->progress, rc);
    return rc;
}

static int send_cancel_main(void *arg)
{
    (void)arg;
    chan_pair p = {0};
    CHECK_EQ(corio_mpsc_new(sizeof(int), 1, &p.tx, &p.rx), 0);
    int one = 1;
    CHECK_EQ(corio_mpsc_send(p.tx, &one), 0);
    corio_task *a, *b;
    CHECK_EQ(corio_spawn(blocked_sender, &p, &a), 0);
    CHECK_EQ(corio_yield(), 0);
    CHECK_EQ(corio_spawn(blocked_sender, &p, &b), 0);
    CHECK_EQ(corio_yield(), 0);
    /* Room for a (granted), then a is aborted before it runs: the room
     * goes on to b, and a's message is not sent. */
    int v;
    CHECK_EQ(corio_mpsc_recv(p.rx, &v), 0);
    corio_task_abort(a);
    int ra;
    CHECK_EQ(corio_task_join(a, &ra), CORIO_ECANCELED);
    CHECK_EQ(corio_task_join(b, NULL), 0);
    CHECK_EQ(corio_mpsc_len(p.rx), 1); /* only b's */
    CHECK_EQ(corio_mpsc_recv(p.rx, &v), 0);
    CHECK_EQ(v, 5);
    /* A sender timed out while queued sends nothing either. */
    CHECK_EQ(corio_mpsc_send(p.tx, &one), 0);
    corio_mpsc_send_fut sf;
    corio_mpsc_send_fut_init(&sf, p.tx, &one);
    CHECK_EQ(corio_timeout(&sf.base, CORIO_MSEC(1)), CORIO_ETIMEDOUT);
    CHECK_EQ(corio_mpsc_len(p.rx), 1);
    corio_mpsc_tx_release(p.tx);
    corio_mpsc_rx_release(p.rx);
    return 0;
}

TEST(sync_mpsc_cancelled_send_sends_nothing_and_passes_room_on)
{
    CHECK_EQ(run_main(send_cancel_main, NULL), 0);
}

/* A receive that finds a message waiting takes it without its future (the
 * fast path), but only where a receive may complete: an interrupted one
 * (here: its task aborted) or one in a poll function takes nothing. */
static int aborted_receiver(void *arg)
{
    chan_pair *p = arg;
    CHECK_EQ(corio_sleep(CORIO_SEC(10)), CORIO_ECANCELED); /* aborted here */
    int v = -1, buf[4] = {-1, -1, -1, -1};
    CHECK_EQ(corio_mpsc_recv(p->rx, &v), CORIO_ECANCELED);
    CHECK_EQ(corio_mpsc_recv_many(p->rx, buf, 4), CORIO_ECANCELED);
    CHECK_EQ(v, -1);
    CHECK_EQ(buf[0], -1);
    atomic_store(&p->progress, 1);
    return 0;
}

static int recv_interrupted_main(void *arg)
{
    (void)arg;
    chan_pair p = {0};
    CHECK_EQ(corio_mpsc_new(sizeof(int), 4, &p.tx, &p.rx), 0);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(corio_mpsc_send(p.tx, &i), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(aborted_receiver, &p, &t), 0);
    CHECK_EQ(corio_yield(), 0); /* it sleeps */
    corio_task_abort(t);
    corio_task_join(t, NULL);
    CHECK_EQ(atomic_load(&p.progress), 1);
    CHECK_EQ(corio_mpsc_len(p.rx), 2); /* both still there */
    int v;
    CHECK_EQ(corio_mpsc_recv(p.rx, &v), 0);
    CHECK_EQ(v, 0);
    CHECK_EQ(corio_mpsc_recv(p.rx, &v), 0);
    CHECK_EQ(v, 1);
    corio_mpsc_tx_release(p.tx);
    corio_mpsc_rx_release(p.rx);
    return 0;
}

TEST(sync_mpsc_interrupted_recv_takes_no_waiting_message)
{
    CHECK_EQ(run_main(recv_interrupted_main, NULL), 0);
}

/* In a stackless task's poll function the waiting calls refuse, even with
 * a message there, and take nothing. */
static int recv_in_poll(void *arg)
{
    corio_mpsc_rx *rx = arg;
    int v, buf[2];
    int rc = corio_mpsc_recv(rx, &v);
    if (rc == CORIO_EWRONGCTX && corio_mpsc_recv_many(rx, buf, 2) != CORIO_EWRONGCTX)
        rc = -1;
    return rc;
}

static int recv_stackless_main(void *arg)
{
    (void)arg;
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new(sizeof(int), 2, &tx, &rx), 0);
    int eight = 8;
    CHECK_EQ(corio_mpsc_send(tx, &eight), 0);
    CHECK_EQ(run_in_poll(recv_in_poll, rx), CORIO_EWRONGCTX);
    int v;
    CHECK_EQ(corio_mpsc_try_recv(rx, &v), 0);
    CHECK_EQ(v, 8);
    corio_mpsc_tx_release(tx);
    corio_mpsc_rx_release(rx);
    return 0;
}

TEST(sync_mpsc_recv_in_poll_function_is_wrong_context)
{
    CHECK_EQ(run_main(recv_stackless_main, NULL), 0);
}

static int closer_main(void *arg)
{
    (void)arg;
    chan_pair p = {0};
    CHECK_EQ(corio_mpsc_new(sizeof(int), 1, &p.tx, &p.rx), 0);
    int one = 1;
    CHECK_EQ(corio_mpsc_send(p.tx, &one), 0);
    corio_task *a;
    CHECK_EQ(corio_spawn(blocked_sender, &p, &a), 0);
    CHECK_EQ(corio_yield(), 0);
    corio_mpsc_rx_close(p.rx); /* the waiting send fails */
    int ra = 0;
    CHECK_EQ(corio_task_join(a, &ra), 0);
    CHECK_EQ(ra, CORIO_ECLOSED);
    corio_mpsc_tx_release(p.tx);
    corio_mpsc_rx_release(p.rx);
    return 0;
}

TEST(sync_mpsc_close_fails_waiting_sends)
{
    CHECK_EQ(run_main(closer_main, NULL), 0);
}

/* ---- plain threads: blocking send and receive ---------------------------------- */

static void *plain_producer(void *arg)
{
    chan_pair *p = arg;
    for (int i = 0; i < p->n; i++)
        CHECK_EQ(corio_mpsc_send(p->tx, &i), 0); /* blocks while full */
    corio_mpsc_tx_release(p->tx);
    return NULL;
}

static int task_consumer(void *arg)
{
    chan_pair *p = arg;
    long sum = 0;
    int v, got = 0;
    while (corio_mpsc_recv(p->rx, &v) == 0) {
        sum += v;
        got++;
    }
    CHECK_EQ(got, p->n);
    CHECK_EQ(sum, (long)p->n * (p->n - 1) / 2);
    return 0;
}

TEST(sync_mpsc_plain_thread_sends_to_a_task)
{
    chan_pair p = {.n = SCALE(50000, 10000, 5000)};
    CHECK_EQ(corio_mpsc_new(sizeof(int), 4, &p.tx, &p.rx), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, plain_producer, &p), 0);
    CHECK_EQ(run_main(task_consumer, &p), 0);
    pthread_join(th, NULL);
    corio_mpsc_rx_release(p.rx);
}

static int task_producer(void *arg)
{
    chan_pair *p = arg;
    for (int i = 0; i < p->n; i++)
        CHECK_EQ(corio_mpsc_send(p->tx, &i), 0);
    corio_mpsc_tx_release(p->tx);
    return 0;
}

static void *plain_consumer(void *arg)
{
    chan_pair *p = arg;
    int v, got = 0;
    while (corio_mpsc_recv(p->rx, &v) == 0) { /* blocks while empty */
        CHECK_EQ(v, got);
        got++;
    }
    CHECK_EQ(got, p->n);
    return NULL;
}

TEST(sync_mpsc_task_sends_to_a_plain_thread)
{
    chan_pair p = {.n = SCALE(50000, 10000, 5000)};
    CHECK_EQ(corio_mpsc_new(sizeof(int), 4, &p.tx, &p.rx), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, plain_consumer, &p), 0);
    CHECK_EQ(run_main(task_producer, &p), 0);
    pthread_join(th, NULL);
    corio_mpsc_rx_release(p.rx);
}

/* ---- stress ------------------------------------------------------------------ */

typedef struct stress {
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    int producers, per;
    _Atomic int aborted_sends;
} stress;

typedef struct stress_arg {
    stress *s;
    corio_mpsc_tx *tx; /* this producer's own sender */
} stress_arg;

static int stress_producer(void *arg)
{
    stress_arg *a = arg;
    stress *s = a->s;
    corio_mpsc_tx *tx = a->tx;
    for (int i = 0; i < s->per; i++) {
        uint64_t v = (uint64_t)i;
        if (i % 97 == 13) { /* a send under a tiny timeout: sent or not, never half */
            corio_mpsc_send_fut f;
            corio_mpsc_send_fut_init(&f, tx, &v);
            int rc = corio_timeout(&f.base, CORIO_USEC(1));
            if (rc == CORIO_ETIMEDOUT) {
                atomic_fetch_add(&s->aborted_sends, 1);
                CHECK_EQ(corio_mpsc_send(tx, &v), 0); /* send it for real */
            } else {
                CHECK_EQ(rc, 0);
                CHECK_EQ(f.base.result, 0);
            }
        } else {
            CHECK_EQ(corio_mpsc_send(tx, &v), 0);
        }
    }
    corio_mpsc_tx_release(tx);
    return 0;
}

static int stress_main(void *arg)
{
    stress *s = arg;
    CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 16, &s->tx, &s->rx), 0);
    stress_arg args[16];
    CHECK(s->producers <= 16);
    for (int p = 0; p < s->producers; p++) {
        args[p] = (stress_arg){s, corio_mpsc_tx_clone(s->tx)};
        CHECK_EQ(corio_spawn(stress_producer, &args[p], NULL), 0);
    }
    corio_mpsc_tx_release(s->tx);
    uint64_t sum = 0, got = 0, buf[8];
    for (;;) {
        ssize_t n;
        if (got % 3 == 0) { /* a receive under a tiny timeout: loses nothing */
            uint64_t v;
            corio_mpsc_recv_fut f;
            corio_mpsc_recv_fut_init(&f, s->rx, &v);
            int rc = corio_timeout(&f.base, CORIO_USEC(1));
            if (rc == CORIO_ETIMEDOUT)
                continue;
            CHECK_EQ(rc, 0);
            if (f.base.result == CORIO_ECLOSED)
                break;
            CHECK_EQ(f.base.result, 0);
            buf[0] = v;
            n = 1;
        } else {
            n = corio_mpsc_recv_many(s->rx, buf, 1 + got % 8);
            if (n == CORIO_ECLOSED)
                break;
            CHECK(n > 0);
        }
        for (ssize_t i = 0; i < n; i++)
            sum += buf[i];
        got += (uint64_t)n;
    }
    CHECK_EQ(got, (uint64_t)s->producers * (uint64_t)s->per);
    CHECK_EQ(sum, (uint64_t)s->producers * ((uint64_t)s->per * (uint64_t)(s->per - 1) / 2));
    corio_mpsc_rx_release(s->rx);
    return 0;
}

TEST(sync_mpsc_stress_producers_timeouts_current_thread)
{
    stress s = {.producers = 8, .per = SCALE(20000, 5000, 2000)};
    CHECK_EQ(run_main(stress_main, &s), 0);
}

TEST(sync_mpsc_stress_producers_timeouts_multi_thread)
{
    for (int round = 0; round < 3; round++) {
        stress s = {.producers = 8, .per = SCALE(20000, 5000, 1000)};
        corio_rt *rt = new_mt_rt(4);
        int r = -1;
        CHECK_EQ(corio_rt_block_on(rt, stress_main, &s, &r), 0);
        CHECK_EQ(r, 0);
        CHECK_EQ(corio_rt_free(rt), 0);
    }
}

/* Close racing sends: every send either got through (and is received, or
 * dropped by the drop function) or returned CORIO_ECLOSED. Nothing else. */
typedef struct race {
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    _Atomic long sent, refused;
    long received, dropped;
} race;

static void race_drop(void *msg, void *arg)
{
    (void)msg;
    ((race *)arg)->dropped++;
}

typedef struct race_arg {
    race *r;
    corio_mpsc_tx *tx;
} race_arg;

static int race_sender(void *arg)
{
    race_arg *a = arg;
    race *r = a->r;
    corio_mpsc_tx *tx = a->tx;
    for (int i = 0;; i++) {
        int rc = corio_mpsc_send(tx, &i);
        if (rc == CORIO_ECLOSED) {
            atomic_fetch_add(&r->refused, 1);
            break;
        }
        CHECK_EQ(rc, 0);
        atomic_fetch_add(&r->sent, 1);
    }
    corio_mpsc_tx_release(tx);
    return 0;
}

static int race_main(void *arg)
{
    race *r = arg;
    corio_chan_opts o = {.msg_size = sizeof(int), .capacity = 4, .drop = race_drop, .drop_arg = r};
    CHECK_EQ(corio_mpsc_new_with(&o, &r->tx, &r->rx), 0);
    corio_task *ts[6];
    race_arg args[6];
    for (int i = 0; i < 6; i++) {
        args[i] = (race_arg){r, corio_mpsc_tx_clone(r->tx)};
        CHECK_EQ(corio_spawn(race_sender, &args[i], &ts[i]), 0);
    }
    corio_mpsc_tx_release(r->tx);
    int v;
    for (int i = 0; i < SCALE(3000, 1000, 300); i++) {
        CHECK_EQ(corio_mpsc_recv(r->rx, &v), 0);
        r->received++;
    }
    corio_mpsc_rx_release(r->rx); /* closes under the senders' feet */
    for (int i = 0; i < 6; i++)
        CHECK_EQ(corio_task_join(ts[i], NULL), 0);
    return 0;
}

TEST(sync_mpsc_stress_release_races_sends)
{
    for (int round = 0; round < SCALE(20, 10, 5); round++) {
        race r = {0};
        corio_rt *rt = new_mt_rt(3);
        CHECK_EQ(corio_rt_block_on(rt, race_main, &r, NULL), 0);
        CHECK_EQ(corio_rt_free(rt), 0);
        CHECK_EQ(atomic_load(&r.refused), 6);
        CHECK_EQ(atomic_load(&r.sent), r.received + r.dropped);
    }
}

/* Two workers, many producers, a channel that is nearly always full: each
 * send either waits its turn or (under a tiny timeout) is abandoned while
 * queued or granted; the receiver mixes plain receives (that take what is
 * there without waiting), recv_many and timed receives, and closes the
 * channel halfway through the last round. Every message arrives at most
 * once, a producer's in the order it sent them, and every send that
 * returned 0 is received or dropped; a send that timed out sent nothing. */
typedef struct full2 {
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    int producers, per;
    bool close_early;
    _Atomic long sent, refused;
    long received, dropped;
} full2;

typedef struct full2_arg {
    full2 *s;
    corio_mpsc_tx *tx;
    uint32_t id;
} full2_arg;

static void full2_drop(void *msg, void *arg)
{
    (void)msg;
    ((full2 *)arg)->dropped++;
}

static int full2_producer(void *arg)
{
    full2_arg *a = arg;
    full2 *s = a->s;
    for (uint32_t i = 0; i < (uint32_t)s->per; i++) {
        uint64_t v = (uint64_t)a->id << 32 | i;
        int rc;
        if (i % 5 == 1) {
            corio_mpsc_send_fut f;
            corio_mpsc_send_fut_init(&f, a->tx, &v);
            rc = corio_timeout(&f.base, CORIO_USEC(1 + i % 7));
            if (rc == CORIO_ETIMEDOUT)
                continue; /* not sent: the receiver must not see i */
            CHECK_EQ(rc, 0);
            rc = f.base.result;
        } else {
            rc = corio_mpsc_send(a->tx, &v);
        }
        if (rc == CORIO_ECLOSED) {
            CHECK(s->close_early);
            atomic_fetch_add(&s->refused, 1);
            break;
        }
        CHECK_EQ(rc, 0);
        atomic_fetch_add(&s->sent, 1);
    }
    corio_mpsc_tx_release(a->tx);
    return 0;
}

static int full2_main(void *arg)
{
    full2 *s = arg;
    corio_chan_opts o = {.msg_size = sizeof(uint64_t), .capacity = 2, .drop = full2_drop,
                         .drop_arg = s};
    CHECK_EQ(corio_mpsc_new_with(&o, &s->tx, &s->rx), 0);
    full2_arg args[16];
    corio_task *ts[16];
    CHECK(s->producers <= 16);
    for (int p = 0; p < s->producers; p++) {
        args[p] = (full2_arg){s, corio_mpsc_tx_clone(s->tx), (uint32_t)p};
        CHECK_EQ(corio_spawn(full2_producer, &args[p], &ts[p]), 0);
    }
    corio_mpsc_tx_release(s->tx);
    int64_t next[16]; /* the lowest index each producer may still send */
    for (int p = 0; p < 16; p++)
        next[p] = 0;
    long limit = s->close_early ? (long)s->producers * s->per / 3 : -1;
    uint64_t buf[4];
    for (long k = 0;; k++) {
        if (limit >= 0 && s->received >= limit) {
            corio_mpsc_rx_close(s->rx); /* the waiting sends fail, and later ones */
            limit = -1;
        }
        ssize_t n;
        if (k % 4 == 3) {
            corio_mpsc_recv_fut f;
            corio_mpsc_recv_fut_init(&f, s->rx, &buf[0]);
            int rc = corio_timeout(&f.base, CORIO_USEC(2));
            if (rc == CORIO_ETIMEDOUT)
                continue;
            CHECK_EQ(rc, 0);
            n = f.base.result == 0 ? 1 : f.base.result;
        } else if (k % 4 == 2) {
            n = corio_mpsc_recv_many(s->rx, buf, 1 + (size_t)(k % 3));
        } else {
            n = corio_mpsc_recv(s->rx, &buf[0]);
            n = n == 0 ? 1 : n;
        }
        if (n == CORIO_ECLOSED)
            break;
        CHECK(n > 0);
        for (ssize_t i = 0; i < n; i++) {
            uint32_t id = (uint32_t)(buf[i] >> 32), idx = (uint32_t)buf[i];
            CHECK(id < (uint32_t)s->producers);
            CHECK((int64_t)idx >= next[id]); /* per producer in order, no duplicate */
            next[id] = (int64_t)idx + 1;
        }
        s->received += (long)n;
    }
    for (int p = 0; p < s->producers; p++)
        CHECK_EQ(corio_task_join(ts[p], NULL), 0);
    corio_mpsc_rx_release(s->rx); /* what was left after the close: dropped */
    return 0;
}

TEST(sync_mpsc_stress_two_workers_full_channel_timeouts_close)
{
    for (int round = 0; round < SCALE(6, 4, 3); round++) {
        full2 s = {.producers = 12, .per = SCALE(20000, 4000, 1000), .close_early = round % 2};
        corio_rt *rt = new_mt_rt(2);
        int r = -1;
        CHECK_EQ(corio_rt_block_on(rt, full2_main, &s, &r), 0);
        CHECK_EQ(r, 0);
        CHECK_EQ(corio_rt_free(rt), 0);
        CHECK_EQ(atomic_load(&s.sent), s.received + s.dropped);
        if (!s.close_early)
            CHECK_EQ(s.dropped, 0);
    }
}

/* A user's program with int, char and 3-byte messages, built like one
 * (-Werror, LTO against libcorio.a: tests/small_messages.c); it runs and
 * every message arrives whole. */
TEST(sync_small_messages_program_builds_and_runs)
{
    char cmd[512], out[64];
    snprintf(cmd, sizeof cmd, "%s/tests/small_messages", test_build_dir());
    CHECK_EQ(test_run_capture(cmd, out, sizeof out), 0);
    CHECK(strcmp(out, "35\n") == 0);
}
