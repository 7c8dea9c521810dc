/* tests/test_stream_sources.c - streams: merge, the mpsc and interval sources,
 * consumers, chunks_timeout, the multi-thread runtime (split from
 * tests/test_stream.c by behaviour; the helpers it shares with it are in
 * tests/util_stream.c). */
#include <errno.h>
#include <string.h>

#include "corio/stream.h"
#include "test.h"
#include "util.h"
#include "util_stream.h"

/* ---- merge ------------------------------------------------------------------------ */

static int merge_main(void *arg)
{
    (void)arg;
    corio_stream_range a, b, c;
    corio_stream_range_init(&a, 0, 3);
    corio_stream_range_init(&b, 100, 105);
    corio_stream_range_init(&c, 200, 201);
    corio_stream *ins[4] = {&a.base, NULL, &b.base, &c.base};
    corio_stream_merge m;
    corio_stream_merge_init(&m, ins, 4);
    corio_item it;
    int64_t firsts[3];
    for (int k = 0; k < 3; k++) {
        CHECK_EQ(corio_stream_next(&m.base, &it), 0);
        firsts[k] = it.i / 100;
    }
    /* Round robin: the first three items come from three streams. */
    CHECK(firsts[0] != firsts[1] && firsts[1] != firsts[2] && firsts[0] != firsts[2]);
    int n = 3;
    int64_t last_a = -1, last_b = 99;
    while (corio_stream_next(&m.base, &it) == 0) {
        n++;
        if (it.i < 100) {
            CHECK(it.i > last_a); /* each input's order is kept */
            last_a = it.i;
        } else if (it.i < 200) {
            CHECK(it.i > last_b);
            last_b = it.i;
        }
    }
    CHECK_EQ(n, 9);
    CHECK_EQ(m.base.result, 0);
    /* A failing input fails the merge; the others are dropped. */
    cstream x, y;
    stream_cs_init(&x, 2);
    x.end_rc = -EPIPE;
    stream_cs_init(&y, 1000);
    y.pend = true;
    corio_stream *ins2[2] = {&x.base, &y.base};
    corio_stream_merge_init(&m, ins2, 2);
    int rc;
    while ((rc = corio_stream_next(&m.base, &it)) == 0)
        ;
    CHECK_EQ(rc, -EPIPE);
    CHECK_EQ(y.drops, 1);
    CHECK_EQ(x.drops, 0); /* it ended: released itself */
    /* Empty merge ends at once. */
    corio_stream_merge_init(&m, NULL, 0);
    CHECK_EQ(corio_stream_next(&m.base, &it), CORIO_ECLOSED);
    return 0;
}

TEST(stream_merge_round_robin_keeps_each_order_and_ends_after_all)
{
    CHECK_EQ(run_main(merge_main, NULL), 0);
}

/* ---- mpsc: ReceiverStream, backpressure -------------------------------------------- */

typedef struct bp {
    corio_mpsc_tx *tx;
    int n, sent, received, max_ahead;
    int waited; /* sends that had to wait */
} bp;

static int bp_producer(void *arg)
{
    bp *p = arg;
    for (int k = 0; k < p->n; k++) {
        uint64_t v = (uint64_t)k;
        if (corio_mpsc_try_send(p->tx, &v) != 0) {
            p->waited++;
            CHECK_EQ(corio_mpsc_send(p->tx, &v), 0);
        }
        p->sent++;
    }
    corio_mpsc_tx_release(p->tx);
    return 0;
}

static corio_item add1(corio_item x, void *arg)
{
    (void)arg;
    return (corio_item){.u = x.u + 1};
}

static int backpressure_main(void *arg)
{
    (void)arg;
    bp p = {.n = 30};
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 4, &p.tx, &rx), 0);
    corio_stream_mpsc ms;
    corio_stream_mpsc_init(&ms, rx);
    corio_stream_map m;
    corio_stream_map_init(&m, &ms.base, add1, NULL);
    corio_task *t;
    CHECK_EQ(corio_spawn(bp_producer, &p, &t), 0);
    corio_item it;
    int rc;
    while ((rc = corio_stream_next(&m.base, &it)) == 0) {
        CHECK_EQ(it.u, (uint64_t)p.received + 1); /* in order */
        p.received++;
        int ahead = p.sent - p.received;
        if (ahead > p.max_ahead)
            p.max_ahead = ahead;
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0); /* the slow consumer */
    }
    CHECK_EQ(rc, CORIO_ECLOSED);
    CHECK_EQ(p.received, 30);
    /* The producer was held back: never more than the capacity (and the
     * one send completing into freed room) ahead, and it did wait. */
    CHECK(p.max_ahead <= 4 + 1);
    CHECK(p.max_ahead >= 3);
    CHECK(p.waited >= 20);
    CHECK_EQ(join_rc(t), 0);
    return 0;
}

TEST(stream_backpressure_slow_consumer_makes_mpsc_producer_wait)
{
    CHECK_EQ(run_main(backpressure_main, NULL), 0);
}

static int mpsc_release_main(void *arg)
{
    (void)arg;
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 8, &tx, &rx), 0);
    for (uint64_t v = 0; v < 5; v++)
        CHECK_EQ(corio_mpsc_send(tx, &v), 0);
    corio_stream_mpsc ms;
    corio_stream_mpsc_init(&ms, rx);
    corio_stream_take t;
    corio_stream_take_init(&t, &ms.base, 2);
    corio_item it;
    CHECK_EQ(corio_stream_next(&t.base, &it), 0);
    CHECK(!corio_mpsc_tx_is_closed(tx));
    CHECK_EQ(corio_stream_next(&t.base, &it), 0);
    CHECK_EQ(it.u, 1);
    /* The take dropped the receiver stream at its last item: the channel
     * is closed for the senders at once. */
    CHECK(corio_mpsc_tx_is_closed(tx));
    uint64_t v = 9;
    CHECK_EQ(corio_mpsc_send(tx, &v), CORIO_ECLOSED);
    CHECK_EQ(corio_stream_next(&t.base, &it), CORIO_ECLOSED);
    corio_mpsc_tx_release(tx);
    /* Ends when every sender is gone and the channel is empty. */
    CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 8, &tx, &rx), 0);
    v = 3;
    CHECK_EQ(corio_mpsc_send(tx, &v), 0);
    corio_mpsc_tx_release(tx);
    corio_stream_mpsc_init(&ms, rx);
    CHECK_EQ(corio_stream_next(&ms.base, &it), 0);
    CHECK_EQ(it.u, 3);
    CHECK_EQ(corio_stream_next(&ms.base, &it), CORIO_ECLOSED);
    CHECK_EQ(ms.base.result, 0);
    return 0;
}

TEST(stream_mpsc_ends_when_closed_and_take_releases_receiver)
{
    CHECK_EQ(run_main(mpsc_release_main, NULL), 0);
}

static int next_select_main(void *arg)
{
    (void)arg;
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 8, &tx, &rx), 0);
    corio_stream_mpsc ms;
    corio_stream_mpsc_init(&ms, rx);
    /* A select of next against a sleep: the sleep wins, nothing is lost. */
    for (int round = 0; round < 3; round++) {
        corio_item it;
        corio_stream_next_fut nf;
        corio_sleep_fut sl;
        corio_stream_next_fut_init(&nf, &ms.base, &it);
        corio_sleep_fut_init(&sl, CORIO_MSEC(2));
        size_t i;
        CHECK_EQ(corio_select(CORIO_FUTURES(&nf.base, &sl.base), &i), 0);
        CHECK_EQ(i, 1);
        uint64_t v = 10 + (uint64_t)round;
        CHECK_EQ(corio_mpsc_send(tx, &v), 0);
        corio_stream_next_fut_init(&nf, &ms.base, &it);
        corio_sleep_fut_init(&sl, CORIO_MSEC(1000));
        CHECK_EQ(corio_select(CORIO_FUTURES(&nf.base, &sl.base), &i), 0);
        CHECK_EQ(i, 0);
        CHECK_EQ(nf.base.result, 0);
        CHECK_EQ(it.u, v);
    }
    corio_mpsc_tx_release(tx);
    corio_item it;
    CHECK_EQ(corio_stream_next(&ms.base, &it), CORIO_ECLOSED);
    return 0;
}

TEST(stream_next_in_a_select_loses_nothing)
{
    CHECK_EQ(run_main(next_select_main, NULL), 0);
}

/* A task that consumes a receiver stream with for_each until aborted. */
static int count_item(corio_item it, void *arg)
{
    (void)it;
    (*(int *)arg)++;
    return 0;
}

typedef struct fe_arg {
    corio_mpsc_rx *rx;
    int seen;
} fe_arg;

static int fe_task(void *arg)
{
    fe_arg *a = arg;
    corio_stream_mpsc ms;
    corio_stream_mpsc_init(&ms, a->rx);
    return corio_stream_for_each(&ms.base, count_item, &a->seen);
}

static int cancel_main(void *arg)
{
    (void)arg;
    corio_mpsc_tx *tx;
    fe_arg a = {0};
    CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 8, &tx, &a.rx), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(fe_task, &a, &t), 0);
    uint64_t v = 1;
    CHECK_EQ(corio_mpsc_send(tx, &v), 0);
    settle();
    CHECK_EQ(a.seen, 1);
    corio_task_abort(t);
    CHECK_EQ(join_rc(t), CORIO_ECANCELED);
    /* The for_each dropped its stream, which released the receiver. */
    CHECK(corio_mpsc_tx_is_closed(tx));
    corio_mpsc_tx_release(tx);
    return 0;
}

TEST(stream_cancelled_consumer_drops_its_stream)
{
    CHECK_EQ(run_main(cancel_main, NULL), 0);
}

/* ---- consumers: fold, for_each, budget ------------------------------------------------ */

static int stop_at_5(corio_item it, void *arg)
{
    (*(int *)arg)++;
    return it.i == 5 ? -ECONNRESET : 0;
}

static int consumers_main(void *arg)
{
    (void)arg;
    cstream cs;
    stream_cs_init(&cs, 100);
    int calls = 0;
    CHECK_EQ(corio_stream_for_each(&cs.base, stop_at_5, &calls), -ECONNRESET);
    CHECK_EQ(calls, 6);
    CHECK_EQ(cs.drops, 1); /* stopped: the stream was dropped */
    corio_stream_range r;
    corio_stream_range_init(&r, 0, 10);
    calls = 0;
    CHECK_EQ(corio_stream_for_each(&r.base, count_item, &calls), 0);
    CHECK_EQ(calls, 10);
    corio_stream_range_init(&r, 1, 101);
    corio_stream_fold_fut ff;
    corio_stream_fold_fut_init(&ff, &r.base, (corio_item){.i = 0}, stream_sum_fn, NULL);
    CHECK_EQ(corio_await(&ff.base), 0);
    CHECK_EQ(ff.base.result, 0);
    CHECK_EQ(ff.acc.i, 5050);
    return 0;
}

TEST(stream_for_each_stops_on_error_fold_accumulates)
{
    CHECK_EQ(run_main(consumers_main, NULL), 0);
}

static int ticker(void *arg)
{
    size_t *n = arg;
    for (;;) {
        (*n)++;
        if (corio_yield() < 0)
            return 0;
    }
}

static int budget_main(void *arg)
{
    (void)arg;
    size_t ticks = 0;
    corio_task *t;
    CHECK_EQ(corio_spawn(ticker, &ticks, &t), 0);
    corio_stream_range r;
    corio_stream_range_init(&r, 0, 100 * CORIO_STREAM_BUDGET);
    corio_item sum;
    size_t before = ticks;
    CHECK_EQ(corio_stream_fold(&r.base, (corio_item){.i = 0}, stream_sum_fn, NULL, &sum), 0);
    /* The other task ran while the always-ready fold went on: about once
     * per budget. */
    CHECK(ticks - before >= 50);
    corio_task_abort(t);
    join_rc(t);
    return 0;
}

TEST(stream_consumer_yields_after_its_budget)
{
    CHECK_EQ(run_main(budget_main, NULL), 0);
}

static bool every_1000th(corio_item x, void *arg)
{
    (void)arg;
    return x.i % 1000 == 999;
}

/* A filter that rejects a long run of an always-ready stream: the
 * consumer's budget counts only the items it gets, so the filter yields
 * itself after CORIO_STREAM_BUDGET rejects (losing nothing). */
static int filter_budget_main(void *arg)
{
    (void)arg;
    size_t ticks = 0;
    corio_task *t;
    CHECK_EQ(corio_spawn(ticker, &ticks, &t), 0);
    corio_stream_range r;
    corio_stream_range_init(&r, 0, 100000);
    corio_stream_filter f;
    corio_stream_filter_init(&f, &r.base, every_1000th, NULL);
    corio_item sum;
    size_t before = ticks;
    CHECK_EQ(corio_stream_fold(&f.base, (corio_item){.i = 0}, stream_sum_fn, NULL, &sum), 0);
    CHECK_EQ(sum.i, 100 * 999 + 1000 * (99 * 100 / 2)); /* 999, 1999, ... 99999 */
    CHECK(ticks - before >= 100000 / CORIO_STREAM_BUDGET / 2);
    /* The same under corio_stream_next, an await. */
    corio_stream_range_init(&r, 0, 100000);
    corio_stream_filter_init(&f, &r.base, every_1000th, NULL);
    before = ticks;
    corio_item it;
    int n = 0, rc;
    while ((rc = corio_stream_next(&f.base, &it)) == 0)
        CHECK_EQ(it.i, 1000 * n++ + 999);
    CHECK_EQ(rc, CORIO_ECLOSED);
    CHECK_EQ(n, 100);
    CHECK(ticks - before >= 100000 / CORIO_STREAM_BUDGET / 2);
    corio_task_abort(t);
    join_rc(t);
    return 0;
}

TEST(stream_filter_rejecting_a_long_run_lets_other_tasks_run)
{
    CHECK_EQ(run_main(filter_budget_main, NULL), 0);
}

/* ---- interval, chunks_timeout -------------------------------------------------------- */

static int interval_main(void *arg)
{
    (void)arg;
    /* The clock is read before the interval is made, which reads it for its
     * first due instant: read after, a thread preempted in between (the
     * suite under qemu on a loaded machine) saw the last tick come less
     * than 10 ms after its t0, though no tick came early. */
    double t0 = mono_ms();
    corio_stream_interval iv;
    corio_stream_interval_init(&iv, CORIO_MSEC(5));
    corio_stream_take t;
    corio_stream_take_init(&t, &iv.base, 3);
    corio_item it;
    uint64_t prev = 0;
    int n = 0;
    while (corio_stream_next(&t.base, &it) == 0) {
        if (n)
            CHECK_EQ(it.u - prev, (uint64_t)CORIO_MSEC(5)); /* due instants */
        prev = it.u;
        n++;
    }
    CHECK_EQ(n, 3);
    CHECK(mono_ms() - t0 >= 9.999); /* immediate, +5, +10: never early */
    CHECK(iv.iv.timer.wheel_ == NULL); /* dropped by the take: disarmed */
    return 0;
}

TEST(stream_interval_ticks_until_dropped)
{
    CHECK_EQ(run_main(interval_main, NULL), 0);
}

typedef struct chunk_feed {
    corio_mpsc_tx *tx;
} chunk_feed;

/* The chunk timeout and the feeder's pause (sanitizers: slower). */
#define CHUNK_MS SCALE(20, 100, 100)
#define PAUSE_MS (4 * CHUNK_MS)

static int chunk_feeder(void *arg)
{
    chunk_feed *f = arg;
    /* 0..4 at once, then 5 after PAUSE_MS, then close. */
    for (uint64_t v = 0; v < 5; v++)
        CHECK_EQ(corio_mpsc_send(f->tx, &v), 0);
    CHECK_EQ(corio_sleep(CORIO_MSEC(PAUSE_MS)), 0);
    uint64_t v = 5;
    CHECK_EQ(corio_mpsc_send(f->tx, &v), 0);
    corio_mpsc_tx_release(f->tx);
    return 0;
}

static int chunks_main(void *arg)
{
    (void)arg;
    chunk_feed feed;
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 16, &feed.tx, &rx), 0);
    corio_stream_mpsc ms;
    corio_stream_mpsc_init(&ms, rx);
    corio_stream_chunks_timeout ch;
    corio_stream_chunks_timeout_init(&ch, &ms.base, 3, CORIO_MSEC(CHUNK_MS));
    corio_task *t;
    CHECK_EQ(corio_spawn(chunk_feeder, &feed, &t), 0);
    corio_item it;
    double t0 = mono_ms();
    /* Full chunk: at once. */
    CHECK_EQ(corio_stream_next(&ch.base, &it), 0);
    const corio_chunk *c = it.p;
    CHECK_EQ(c->len, 3);
    CHECK_EQ(c->items[0].u, 0);
    CHECK_EQ(c->items[2].u, 2);
    CHECK(mono_ms() - t0 < CHUNK_MS * 0.9);
    /* 3 and 4, then nothing: delivered once CHUNK_MS since 3 passed. */
    CHECK_EQ(corio_stream_next(&ch.base, &it), 0);
    c = it.p;
    CHECK_EQ(c->len, 2);
    CHECK_EQ(c->items[0].u, 3);
    CHECK_EQ(c->items[1].u, 4);
    double dt = mono_ms() - t0;
    CHECK(dt >= CHUNK_MS * 0.95 && dt < PAUSE_MS * 0.95);
    /* 5, then the channel closes: the partial chunk, then the end. */
    CHECK_EQ(corio_stream_next(&ch.base, &it), 0);
    c = it.p;
    CHECK_EQ(c->len, 1);
    CHECK_EQ(c->items[0].u, 5);
    CHECK_EQ(corio_stream_next(&ch.base, &it), CORIO_ECLOSED);
    CHECK_EQ(join_rc(t), 0);
    /* Dropped while filling a chunk: its items go to the item drop, the
     * timer is disarmed. */
    atomic_store(&stream_live_objs, 0);
    int drops = 0;
    one_then_never s = {.given = false, .w = CORIO_WAKER_NONE};
    corio_stream_init(&s.base, &stream_otn_vt);
    corio_stream_set_item_drop(&s.base, stream_obj_item_drop, &drops);
    corio_stream_chunks_timeout_init(&ch, &s.base, 4, CORIO_SEC(10));
    corio_stream_next_fut nf;
    corio_stream_next_fut_init(&nf, &ch.base, &it);
    CHECK_EQ(corio_timeout(&nf.base, CORIO_MSEC(3)), CORIO_ETIMEDOUT);
    CHECK(ch.timer_.timer.wheel_ != NULL);
    corio_stream_drop(&ch.base);
    CHECK_EQ(drops, 1);
    CHECK_EQ(atomic_load(&stream_live_objs), 0);
    CHECK(ch.timer_.timer.wheel_ == NULL);
    return 0;
}

TEST(stream_chunks_timeout_full_timed_out_and_last_chunks)
{
    CHECK_EQ(run_main(chunks_main, NULL), 0);
}

static bool reject_chunk_or_item(corio_item x, void *arg)
{
    (void)x;
    (void)arg;
    return false;
}

/* A filter built on a chunks_timeout whose items own heap objects: a
 * rejected chunk is a view lent by the chunks_timeout, its items the
 * filter's. They go, one by one, to the item drop set for them; the
 * chunk itself is not an item of that drop (giving it to it freed a
 * pointer into the chunks_timeout's buffer). The same through a take. */
static int chunks_filtered_main(void *arg)
{
    (void)arg;
    atomic_store(&stream_live_objs, 0);
    corio_item arr[5];
    for (int i = 0; i < 5; i++)
        arr[i] = stream_obj_item(i);
    int drops = 0;
    corio_stream_iter src;
    corio_stream_iter_init(&src, arr, 5);
    corio_stream_set_item_drop(&src.base, stream_obj_item_drop, &drops);
    corio_stream_chunks_timeout ch;
    corio_stream_chunks_timeout_init(&ch, &src.base, 2, CORIO_SEC(10));
    corio_stream_take tk;
    corio_stream_take_init(&tk, &ch.base, 10);
    corio_stream_filter f;
    corio_stream_filter_init(&f, &tk.base, reject_chunk_or_item, NULL);
    corio_item it;
    CHECK_EQ(corio_stream_next(&f.base, &it), CORIO_ECLOSED);
    CHECK_EQ(drops, 5);
    CHECK_EQ(atomic_load(&stream_live_objs), 0);
    return 0;
}

TEST(stream_filter_over_chunks_drops_the_items_of_rejected_chunks)
{
    CHECK_EQ(run_main(chunks_filtered_main, NULL), 0);
}

/* ---- the multi-thread runtime --------------------------------------------------------- */

typedef struct mt_arg {
    corio_mpsc_tx *tx;
    int n;
} mt_arg;

static int mt_producer(void *arg)
{
    mt_arg *a = arg;
    for (uint64_t v = 0; v < (uint64_t)a->n; v++)
        CHECK_EQ(corio_mpsc_send(a->tx, &v), 0);
    corio_mpsc_tx_release(a->tx);
    return 0;
}

static int mt_main(void *arg)
{
    (void)arg;
    mt_arg a = {.n = 2000};
    corio_mpsc_rx *rx;
    CHECK_EQ(corio_mpsc_new(sizeof(uint64_t), 8, &a.tx, &rx), 0);
    corio_task *t;
    CHECK_EQ(corio_spawn(mt_producer, &a, &t), 0);
    corio_stream_mpsc ms;
    corio_stream_mpsc_init(&ms, rx);
    corio_stream_filter f;
    corio_stream_filter_init(&f, &ms.base, stream_is_odd, NULL);
    corio_stream_map m;
    corio_stream_map_init(&m, &f.base, stream_times10, NULL);
    corio_item sum;
    CHECK_EQ(corio_stream_fold(&m.base, (corio_item){.i = 0}, stream_sum_fn, NULL, &sum), 0);
    CHECK_EQ(sum.i, 10 * 1000 * 1000); /* odd numbers below 2000: 1000^2 */
    CHECK_EQ(join_rc(t), 0);
    return 0;
}

TEST(stream_pipeline_on_multi_thread_runtime)
{
    corio_rt *rt = new_mt_rt(2);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, mt_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    corio_rt_free(rt);
}
