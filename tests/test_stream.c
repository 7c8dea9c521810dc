/* tests/test_stream.c - streams and their adapters (corio/stream.h): one
 * test per promise of the header, mostly on the current-thread runtime
 * (the multi-thread stress loops are in test_stream_stress.c).
 */
#include <errno.h>
#include <string.h>

#include "corio/stream.h"
#include "test.h"
#include "util.h"
#include "util_stream.h"

/* ---- helpers ----------------------------------------------------------------- */

static bool obj_is_odd(corio_item x, void *arg)
{
    (void)arg;
    return *(int64_t *)x.p % 2 != 0;
}

/* An async map: sleeps item.i % 100 ms (or `ms` from arg when set), then
 * answers item * 2; fails with item.i - 1000 for items >= 1000. Counts in
 * flight and the peak. */
typedef struct delay_cfg {
    int in_flight, peak, started, finished, drops;
    int fixed_ms; /* -1: item % 100 */
} delay_cfg;

typedef struct delay_fut {
    corio_future base;
    corio_sleep_fut sleep;
    corio_item *out;
    int64_t x;
    delay_cfg *cfg;
} delay_fut;

static corio_poll delay_poll(corio_future *f, corio_context *cx)
{
    delay_fut *d = (delay_fut *)f;
    if (corio_future_poll(&d->sleep.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    d->cfg->in_flight--;
    d->cfg->finished++;
    if (d->x >= 1000) {
        f->result = -(int)(d->x - 1000) - 1;
        return CORIO_READY;
    }
    d->out->i = d->x * 2;
    f->result = 0;
    return CORIO_READY;
}

static void delay_drop(corio_future *f)
{
    delay_fut *d = (delay_fut *)f;
    corio_future_drop(&d->sleep.base);
    d->cfg->in_flight--;
    d->cfg->drops++;
}

static const corio_future_vtable delay_vt = {delay_poll, delay_drop};

static corio_future *delay_start(void *mem, corio_item item, corio_item *out, void *arg)
{
    delay_cfg *cfg = arg;
    delay_fut *d = mem;
    corio_future_init(&d->base, &delay_vt);
    int ms = cfg->fixed_ms >= 0 ? cfg->fixed_ms : (int)(item.i % 100);
    corio_sleep_fut_init(&d->sleep, CORIO_MSEC(ms));
    d->out = out;
    d->x = item.i;
    d->cfg = cfg;
    cfg->started++;
    if (++cfg->in_flight > cfg->peak)
        cfg->peak = cfg->in_flight;
    CHECK(((uintptr_t)mem & 15) == 0);
    return &d->base;
}

/* An async map answering at once (NULL: no future). */
static corio_future *instant_start(void *mem, corio_item item, corio_item *out, void *arg)
{
    (void)mem;
    (*(int *)arg)++;
    out->i = item.i + 1;
    return NULL;
}

/* ---- next, sources, misuse ---------------------------------------------------- */

static int next_sources_main(void *arg)
{
    (void)arg;
    corio_stream_range r;
    corio_stream_range_init(&r, 3, 6);
    corio_item it;
    for (int64_t v = 3; v < 6; v++) {
        CHECK_EQ(corio_stream_next(&r.base, &it), 0);
        CHECK_EQ(it.i, v);
    }
    CHECK_EQ(corio_stream_next(&r.base, &it), CORIO_ECLOSED);
    CHECK_EQ(corio_stream_next(&r.base, &it), CORIO_ECLOSED); /* fused */
    CHECK_EQ(r.base.result, 0);
    corio_stream_drop(&r.base); /* ended: nothing to do, harmless */
    corio_stream_range_init(&r, 5, 5);
    CHECK_EQ(corio_stream_next(&r.base, &it), CORIO_ECLOSED);
    /* An array, in order; a NULL array of 0 items is empty. */
    corio_item arr[3] = {{.i = 7}, {.i = 8}, {.i = 9}};
    corio_stream_iter a;
    corio_stream_iter_init(&a, arr, 3);
    for (int k = 0; k < 3; k++) {
        CHECK_EQ(corio_stream_next(&a.base, &it), 0);
        CHECK_EQ(it.i, 7 + k);
    }
    CHECK_EQ(corio_stream_next(&a.base, &it), CORIO_ECLOSED);
    corio_stream_iter_init(&a, NULL, 0);
    CHECK_EQ(corio_stream_next(&a.base, &it), CORIO_ECLOSED);
    return 0;
}

TEST(stream_next_delivers_items_then_closed_fused)
{
    CHECK_EQ(run_main(next_sources_main, NULL), 0);
}

static int misuse_main(void *arg)
{
    (void)arg;
    corio_item it = {.u = 0};
    static corio_stream zeroed;
    CHECK_EQ(corio_stream_next(NULL, &it), -EINVAL);
    CHECK_EQ(corio_stream_next(&zeroed, &it), -EINVAL);
    corio_stream_range r;
    corio_stream_range_init(&r, 0, 3);
    CHECK_EQ(corio_stream_next(&r.base, NULL), -EINVAL);
    /* An adapter on a bad upstream, or without its function, ends with
     * -EINVAL and leaves the upstream alone. */
    cstream cs;
    stream_cs_init(&cs, 3);
    corio_stream_map m;
    corio_stream_map_init(&m, &cs.base, NULL, NULL);
    CHECK_EQ(corio_stream_next(&m.base, &it), -EINVAL);
    corio_stream_drop(&m.base);
    CHECK_EQ(cs.polls + cs.drops, 0);
    corio_stream_filter f;
    corio_stream_filter_init(&f, NULL, stream_is_odd, NULL);
    CHECK_EQ(corio_stream_next(&f.base, &it), -EINVAL);
    corio_stream_take t;
    corio_stream_take_init(&t, &zeroed, 1);
    CHECK_EQ(corio_stream_next(&t.base, &it), -EINVAL);
    corio_stream_iter a;
    corio_stream_iter_init(&a, NULL, 2);
    CHECK_EQ(corio_stream_next(&a.base, &it), -EINVAL);
    corio_stream_merge mg;
    corio_stream_merge_init(&mg, (corio_stream *[]){&cs.base, &zeroed}, 2);
    CHECK_EQ(corio_stream_next(&mg.base, &it), -EINVAL);
    corio_stream_mpsc ms;
    corio_stream_mpsc_init(&ms, NULL);
    CHECK_EQ(corio_stream_next(&ms.base, &it), -EINVAL);
    /* Messages larger than an item: refused, the receiver stays the
     * caller's (still open: a send succeeds). */
    corio_mpsc_tx *btx;
    corio_mpsc_rx *brx;
    CHECK_EQ(corio_mpsc_new(16, 4, &btx, &brx), 0);
    CHECK_EQ(corio_mpsc_msg_size(brx), 16u);
    corio_stream_mpsc_init(&ms, brx);
    CHECK_EQ(corio_stream_next(&ms.base, &it), -EINVAL);
    char big[16] = "sixteen bytes..";
    CHECK_EQ(corio_mpsc_try_send(btx, big), 0);
    corio_mpsc_rx_release(brx);
    corio_mpsc_tx_release(btx);
    CHECK_EQ(cs.polls + cs.drops, 0);
    /* Consumers. */
    CHECK_EQ(corio_stream_fold(&cs.base, it, NULL, NULL, &it), -EINVAL);
    CHECK_EQ(corio_stream_for_each(NULL, NULL, NULL), -EINVAL);
    corio_item *items;
    size_t len;
    CHECK_EQ(corio_stream_collect(&cs.base, NULL, &len), -EINVAL);
    CHECK_EQ(corio_stream_for_each_concurrent(&cs.base, 2, 8, NULL, NULL), -EINVAL);
    CHECK_EQ(cs.polls + cs.drops, 0);
    corio_stream_collect_fut cf;
    corio_stream_collect_fut_init(&cf, NULL);
    CHECK_EQ(corio_await(&cf.base), 0);
    CHECK_EQ(cf.base.result, -EINVAL);
    corio_future_drop(&cf.base);
    (void)items;
    /* NULL is a no-op for the initialisers and the give-backs. */
    corio_stream_drop(NULL);
    corio_stream_drop(&zeroed);
    corio_stream_set_item_drop(NULL, stream_obj_item_drop, NULL);
    corio_stream_range_init(NULL, 0, 1);
    corio_stream_map_init(NULL, &cs.base, stream_times10, NULL);
    corio_stream_next_fut_init(NULL, &cs.base, &it);
    corio_stream_fold_fut_init(NULL, &cs.base, it, stream_sum_fn, NULL);
    return 0;
}

TEST(stream_null_and_misuse_are_einval_and_touch_nothing)
{
    CHECK_EQ(run_main(misuse_main, NULL), 0);
    /* Plain code: the await form refuses, the stream is untouched. */
    corio_stream_range r;
    corio_stream_range_init(&r, 0, 3);
    corio_item it = {.u = 0};
    CHECK_EQ(corio_stream_next(&r.base, &it), CORIO_EWRONGCTX);
    CHECK_EQ(corio_stream_fold(&r.base, it, stream_sum_fn, NULL, &it), CORIO_EWRONGCTX);
    /* ... and the future form runs with corio_block_on_future. */
    corio_stream_next_fut nf;
    corio_stream_next_fut_init(&nf, &r.base, &it);
    CHECK_EQ(corio_block_on_future(&nf.base), 0);
    CHECK_EQ(nf.base.result, 0);
    CHECK_EQ(it.i, 0);
}

/* Outside a task the await forms say CORIO_EWRONGCTX and touch nothing:
 * not the stream, and not the caller's output variables either (fold's
 * *acc, collect's *items and *len). */
TEST(stream_consumers_outside_a_task_leave_outputs_untouched)
{
    corio_stream_range r;
    corio_stream_range_init(&r, 0, 3);
    corio_item acc = {.i = 77};
    CHECK_EQ(corio_stream_fold(&r.base, (corio_item){.i = 1}, stream_sum_fn, NULL, &acc),
             CORIO_EWRONGCTX);
    CHECK_EQ(acc.i, 77);
    corio_item sentinel, *items = &sentinel;
    size_t len = 55;
    CHECK_EQ(corio_stream_collect(&r.base, &items, &len), CORIO_EWRONGCTX);
    CHECK(items == &sentinel);
    CHECK_EQ(len, 55);
    /* The stream was not polled either. */
    corio_stream_next_fut nf;
    corio_item it = {.i = -1};
    corio_stream_next_fut_init(&nf, &r.base, &it);
    CHECK_EQ(corio_block_on_future(&nf.base), 0);
    CHECK_EQ(nf.base.result, 0);
    CHECK_EQ(it.i, 0);
}

/* ---- map, filter, take; ownership of items and upstreams ----------------------- */

static int pipeline_main(void *arg)
{
    (void)arg;
    cstream cs;
    stream_cs_init(&cs, 10);
    cs.pend = true; /* every other poll pending: adapters pass PENDING through */
    corio_stream_filter f;
    corio_stream_map m;
    corio_stream_take t;
    corio_stream_filter_init(&f, &cs.base, stream_is_odd, NULL);
    corio_stream_map_init(&m, &f.base, stream_times10, NULL);
    corio_stream_take_init(&t, &m.base, 3);
    corio_item *items;
    size_t len;
    CHECK_EQ(corio_stream_collect(&t.base, &items, &len), 0);
    CHECK_EQ(len, 3);
    CHECK_EQ(items[0].i, 10);
    CHECK_EQ(items[1].i, 30);
    CHECK_EQ(items[2].i, 50);
    free(items);
    /* take dropped the pipeline under it at the 3rd item, never pulling a
     * 4th: the source was dropped once, having given 0..5. */
    CHECK_EQ(cs.drops, 1);
    CHECK_EQ(cs.next, 6);
    /* take(0) drops its upstream without polling it. */
    stream_cs_init(&cs, 10);
    corio_stream_take_init(&t, &cs.base, 0);
    corio_item it;
    CHECK_EQ(corio_stream_next(&t.base, &it), CORIO_ECLOSED);
    CHECK_EQ(cs.polls, 0);
    CHECK_EQ(cs.drops, 1);
    /* A stream that ran out released its upstream itself: the source's
     * END is passed on with its result, the source is not dropped. */
    stream_cs_init(&cs, 4);
    cs.end_rc = -EIO;
    corio_stream_map_init(&m, &cs.base, stream_times10, NULL);
    corio_item sum;
    CHECK_EQ(corio_stream_fold(&m.base, (corio_item){.i = 0}, stream_sum_fn, NULL, &sum), -EIO);
    CHECK_EQ(sum.i, 60);
    CHECK_EQ(m.base.result, -EIO);
    corio_stream_drop(&m.base);
    CHECK_EQ(cs.drops, 0);
    /* One drop of the last stage drops the whole pipeline. */
    stream_cs_init(&cs, 10);
    corio_stream_filter_init(&f, &cs.base, stream_is_odd, NULL);
    corio_stream_map_init(&m, &f.base, stream_times10, NULL);
    CHECK_EQ(corio_stream_next(&m.base, &it), 0);
    corio_stream_drop(&m.base);
    CHECK_EQ(cs.drops, 1);
    corio_stream_drop(&m.base); /* a second drop is harmless */
    CHECK_EQ(cs.drops, 1);
    return 0;
}

TEST(stream_map_filter_take_pipeline_owns_and_releases_upstreams)
{
    CHECK_EQ(run_main(pipeline_main, NULL), 0);
}

static int item_drop_main(void *arg)
{
    (void)arg;
    atomic_store(&stream_live_objs, 0);
    corio_item arr[6];
    for (int k = 0; k < 6; k++)
        arr[k] = stream_obj_item(k);
    int drops = 0;
    corio_stream_iter src;
    corio_stream_iter_init(&src, arr, 6);
    corio_stream_set_item_drop(&src.base, stream_obj_item_drop, &drops);
    corio_stream_filter f; /* inherits the item drop */
    corio_stream_filter_init(&f, &src.base, obj_is_odd, NULL);
    corio_item it;
    CHECK_EQ(corio_stream_next(&f.base, &it), 0); /* 0 rejected, 1 delivered */
    CHECK_EQ(*(int64_t *)it.p, 1);
    CHECK_EQ(drops, 1);
    stream_obj_item_drop(it, NULL); /* delivered: the consumer's */
    CHECK_EQ(corio_stream_next(&f.base, &it), 0); /* 2 rejected, 3 delivered */
    stream_obj_item_drop(it, NULL);
    CHECK_EQ(drops, 2);
    /* Dropped early: the undelivered 4 and 5 go to the source's drop. */
    corio_stream_drop(&f.base);
    CHECK_EQ(drops, 4);
    CHECK_EQ(atomic_load(&stream_live_objs), 0);
    CHECK_EQ(atomic_load(&stream_live_objs), 0);
    return 0;
}

TEST(stream_item_drop_gets_rejected_and_undelivered_items)
{
    CHECK_EQ(run_main(item_drop_main, NULL), 0);
}

static int collect_drop_main(void *arg)
{
    (void)arg;
    atomic_store(&stream_live_objs, 0);
    int drops = 0;
    one_then_never s = {.given = false, .w = CORIO_WAKER_NONE};
    corio_stream_init(&s.base, &stream_otn_vt);
    corio_stream_set_item_drop(&s.base, stream_obj_item_drop, &drops);
    corio_stream_collect_fut cf;
    corio_stream_collect_fut_init(&cf, &s.base);
    CHECK_EQ(corio_timeout(&cf.base, CORIO_MSEC(5)), CORIO_ETIMEDOUT);
    CHECK_EQ(drops, 1); /* the collected item went to the stream's drop */
    CHECK(cf.items == NULL);
    CHECK_EQ(atomic_load(&stream_live_objs), 0);
    CHECK(s.w.vtable == NULL); /* the stream was dropped */
    return 0;
}

TEST(stream_collect_dropped_unfinished_drops_its_items_and_stream)
{
    CHECK_EQ(run_main(collect_drop_main, NULL), 0);
}

/* ---- then ---------------------------------------------------------------------- */

static int then_main(void *arg)
{
    (void)arg;
    /* In order, one at a time, each future's output. */
    delay_cfg cfg = {.fixed_ms = -1};
    corio_item arr[4] = {{.i = 7}, {.i = 1}, {.i = 5}, {.i = 2}};
    corio_stream_iter src;
    corio_stream_iter_init(&src, arr, 4);
    corio_stream_then th;
    corio_stream_then_init(&th, &src.base, sizeof(delay_fut), delay_start, &cfg);
    corio_item it;
    for (int k = 0; k < 4; k++) {
        CHECK_EQ(corio_stream_next(&th.base, &it), 0);
        CHECK_EQ(it.i, arr[k].i * 2);
        CHECK_EQ(cfg.peak, 1);
    }
    CHECK_EQ(corio_stream_next(&th.base, &it), CORIO_ECLOSED);
    CHECK(th.slot_ == NULL); /* released at the end */
    /* NULL from the function: answered at once, no future. */
    int calls = 0;
    corio_stream_range r;
    corio_stream_range_init(&r, 0, 5);
    corio_stream_then_init(&th, &r.base, 0, instant_start, &calls);
    corio_item sum;
    CHECK_EQ(corio_stream_fold(&th.base, (corio_item){.i = 0}, stream_sum_fn, NULL, &sum), 0);
    CHECK_EQ(sum.i, 15);
    CHECK_EQ(calls, 5);
    /* A failing future fails the stream with its code; the upstream is
     * dropped then. */
    cstream cs;
    stream_cs_init(&cs, 2000);
    cs.next = 1003; /* -> result -4 */
    cfg = (delay_cfg){.fixed_ms = 0};
    corio_stream_then_init(&th, &cs.base, sizeof(delay_fut), delay_start, &cfg);
    CHECK_EQ(corio_stream_next(&th.base, &it), -4);
    CHECK_EQ(corio_stream_next(&th.base, &it), -4); /* fused */
    CHECK_EQ(th.base.result, -4);
    CHECK_EQ(cs.drops, 1);
    return 0;
}

TEST(stream_then_maps_through_futures_in_order_and_fails_on_error)
{
    CHECK_EQ(run_main(then_main, NULL), 0);
}

static int then_cancel_main(void *arg)
{
    (void)arg;
    delay_cfg cfg = {.fixed_ms = 30};
    corio_stream_range r;
    corio_stream_range_init(&r, 1, 3);
    corio_stream_then th;
    corio_stream_then_init(&th, &r.base, sizeof(delay_fut), delay_start, &cfg);
    /* The next is interrupted: nothing lost, the future stays in flight. */
    corio_item it = {.i = -1};
    corio_stream_next_fut nf;
    corio_stream_next_fut_init(&nf, &th.base, &it);
    double t0 = mono_ms();
    CHECK_EQ(corio_timeout(&nf.base, CORIO_MSEC(5)), CORIO_ETIMEDOUT);
    CHECK_EQ(cfg.started, 1);
    CHECK_EQ(cfg.drops, 0);
    CHECK_EQ(corio_stream_next(&th.base, &it), 0);
    CHECK_EQ(it.i, 2);
    CHECK(mono_ms() - t0 < 29.0 + 30.0); /* the same sleep went on */
    CHECK_EQ(cfg.started, 1);
    /* Dropping the stream drops the future in flight. */
    corio_stream_next_fut_init(&nf, &th.base, &it);
    CHECK_EQ(corio_timeout(&nf.base, CORIO_MSEC(2)), CORIO_ETIMEDOUT);
    CHECK_EQ(cfg.in_flight, 1);
    corio_stream_drop(&th.base);
    CHECK_EQ(cfg.drops, 1);
    CHECK_EQ(cfg.in_flight, 0);
    CHECK(th.slot_ == NULL);
    return 0;
}

TEST(stream_interrupted_next_loses_nothing_drop_drops_future_in_flight)
{
    CHECK_EQ(run_main(then_cancel_main, NULL), 0);
}

/* ---- buffer_unordered, for_each_concurrent ----------------------------------------- */

static int buffer_unordered_main(void *arg)
{
    (void)arg;
    /* Items 40, 10, 30, 20, 5, 15 (ms), limit 3. */
    corio_item arr[6] = {{.i = 40}, {.i = 10}, {.i = 30}, {.i = 20}, {.i = 5}, {.i = 15}};
    corio_stream_iter src;
    corio_stream_iter_init(&src, arr, 6);
    delay_cfg cfg = {.fixed_ms = -1};
    corio_stream_buffer_unordered bu;
    corio_stream_buffer_unordered_init(&bu, &src.base, 3, sizeof(delay_fut), delay_start, &cfg);
    corio_item it;
    int64_t got[6];
    for (int k = 0; k < 6; k++) {
        CHECK_EQ(corio_stream_next(&bu.base, &it), 0);
        got[k] = it.i / 2;
        CHECK(cfg.in_flight <= 3);
    }
    CHECK_EQ(corio_stream_next(&bu.base, &it), CORIO_ECLOSED);
    CHECK_EQ(cfg.peak, 3);
    CHECK_EQ(cfg.started, 6);
    /* Completion order: 10 (t10), 30 starts at 10... 40@40, 30@30? the
     * first three are 40, 10, 30; 10 ends first, then 20 starts (ends at
     * 30), 30 ends at 30: so 10 first, 40 among the last. */
    CHECK_EQ(got[0], 10);
    int64_t total = 0;
    for (int k = 0; k < 6; k++)
        total += got[k];
    CHECK_EQ(total, 120);
    CHECK(got[0] != 40 && got[1] != 40);
    return 0;
}

TEST(stream_buffer_unordered_limit_in_flight_completion_order)
{
    CHECK_EQ(run_main(buffer_unordered_main, NULL), 0);
}

static int bu_fail_main(void *arg)
{
    (void)arg;
    /* 1001 fails (-2) at once while 50 and 60 are in flight: they are
     * dropped, the stream fails. */
    corio_item arr[4] = {{.i = 50}, {.i = 60}, {.i = 1001}, {.i = 70}};
    corio_stream_iter src;
    corio_stream_iter_init(&src, arr, 4);
    delay_cfg cfg = {.fixed_ms = -1};
    corio_stream_buffer_unordered bu;
    corio_stream_buffer_unordered_init(&bu, &src.base, 3, sizeof(delay_fut), delay_start, &cfg);
    corio_item it;
    CHECK_EQ(corio_stream_next(&bu.base, &it), -2);
    CHECK_EQ(cfg.drops, 2);
    CHECK_EQ(cfg.in_flight, 0);
    CHECK_EQ(cfg.started, 3); /* 70 never pulled */
    /* Dropped with futures in flight: each dropped once. */
    corio_stream_iter_init(&src, arr, 2);
    cfg = (delay_cfg){.fixed_ms = -1};
    corio_stream_buffer_unordered_init(&bu, &src.base, 4, sizeof(delay_fut), delay_start, &cfg);
    corio_stream_next_fut nf;
    corio_stream_next_fut_init(&nf, &bu.base, &it);
    CHECK_EQ(corio_timeout(&nf.base, CORIO_MSEC(3)), CORIO_ETIMEDOUT);
    CHECK_EQ(cfg.in_flight, 2);
    corio_stream_drop(&bu.base);
    CHECK_EQ(cfg.drops, 2);
    CHECK_EQ(cfg.in_flight, 0);
    /* NULL answers and limit 0 (taken as 1). */
    int calls = 0;
    corio_stream_range r;
    corio_stream_range_init(&r, 0, 100);
    corio_stream_buffer_unordered_init(&bu, &r.base, 0, 0, instant_start, &calls);
    corio_item sum;
    CHECK_EQ(corio_stream_fold(&bu.base, (corio_item){.i = 0}, stream_sum_fn, NULL, &sum), 0);
    CHECK_EQ(sum.i, 5050);
    return 0;
}

TEST(stream_buffer_unordered_failure_and_drop_drop_futures_in_flight)
{
    CHECK_EQ(run_main(bu_fail_main, NULL), 0);
}

static int fec_main(void *arg)
{
    (void)arg;
    corio_stream_range r;
    corio_stream_range_init(&r, 0, 20);
    delay_cfg cfg = {.fixed_ms = 10};
    double t0 = mono_ms();
    CHECK_EQ(corio_stream_for_each_concurrent(&r.base, 5, sizeof(delay_fut), delay_start, &cfg), 0);
    double ms = mono_ms() - t0;
    CHECK_EQ(cfg.peak, 5); /* never more than the limit */
    CHECK_EQ(cfg.finished, 20);
    CHECK(ms >= 39.0); /* 4 rounds of 10 ms, not 1 */
    CHECK(ms < 40.0 * 5);
    /* A failing future ends it with its code; the others are dropped. */
    corio_item arr[3] = {{.i = 30}, {.i = 1004}, {.i = 40}};
    corio_stream_iter src;
    corio_stream_iter_init(&src, arr, 3);
    cfg = (delay_cfg){.fixed_ms = 0};
    CHECK_EQ(corio_stream_for_each_concurrent(&src.base, 8, sizeof(delay_fut), delay_start, &cfg),
             -5);
    CHECK_EQ(cfg.in_flight, 0);
    /* Interrupted: stream and futures dropped. */
    cstream cs;
    stream_cs_init(&cs, 1000);
    cfg = (delay_cfg){.fixed_ms = 1000};
    corio_stream_for_each_concurrent_fut ff;
    corio_stream_for_each_concurrent_fut_init(&ff, &cs.base, 3, sizeof(delay_fut), delay_start,
                                              &cfg);
    CHECK_EQ(corio_timeout(&ff.base, CORIO_MSEC(5)), CORIO_ETIMEDOUT);
    CHECK_EQ(cfg.drops, 3);
    CHECK_EQ(cs.drops, 1);
    CHECK_EQ(cs.next, 3); /* backpressure: 3 pulled, no more */
    return 0;
}

TEST(stream_for_each_concurrent_never_exceeds_limit)
{
    CHECK_EQ(run_main(fec_main, NULL), 0);
}

/* An async function whose future yields (wakes itself and answers PENDING)
 * until another task has run: a buffer_unordered must give the task back
 * to its worker between two polls of such a future, not poll it again and
 * again inside one poll of the stream (on a current-thread runtime the
 * other task would never run: a hang). */
typedef struct yield_until_fut {
    corio_future base;
    corio_item *out;
    int64_t x;
    atomic_int *flag;
} yield_until_fut;

static corio_poll yield_until_poll(corio_future *f, corio_context *cx)
{
    yield_until_fut *y = (yield_until_fut *)f;
    if (!atomic_load(y->flag)) {
        corio_waker_wake_by_ref(corio_context_waker(cx));
        return CORIO_PENDING;
    }
    y->out->i = y->x;
    f->result = 0;
    return CORIO_READY;
}

static const corio_future_vtable yield_until_vt = {yield_until_poll, NULL};

static corio_future *yield_until_start(void *mem, corio_item item, corio_item *out, void *arg)
{
    yield_until_fut *y = mem;
    corio_future_init(&y->base, &yield_until_vt);
    y->out = out;
    y->x = item.i;
    y->flag = arg;
    return &y->base;
}

static int set_atomic_flag(void *arg)
{
    atomic_store((atomic_int *)arg, 1);
    return 0;
}

static int bu_self_waking_main(void *arg)
{
    (void)arg;
    atomic_int flag = 0;
    corio_task *t;
    CHECK_EQ(corio_spawn(set_atomic_flag, &flag, &t), 0);
    corio_stream_range r;
    corio_stream_range_init(&r, 0, 4);
    corio_stream_buffer_unordered bu;
    corio_stream_buffer_unordered_init(&bu, &r.base, 2, sizeof(yield_until_fut),
                                       yield_until_start, &flag);
    corio_item sum;
    CHECK_EQ(corio_stream_fold(&bu.base, (corio_item){.i = 0}, stream_sum_fn, NULL, &sum), 0);
    CHECK_EQ(sum.i, 0 + 1 + 2 + 3);
    CHECK_EQ(join_rc(t), 0);
    /* for_each_concurrent, the same inner stream. */
    atomic_store(&flag, 0);
    CHECK_EQ(corio_spawn(set_atomic_flag, &flag, &t), 0);
    corio_stream_range_init(&r, 0, 4);
    CHECK_EQ(corio_stream_for_each_concurrent(&r.base, 3, sizeof(yield_until_fut),
                                              yield_until_start, &flag),
             0);
    CHECK_EQ(join_rc(t), 0);
    return 0;
}

TEST_T(stream_buffer_unordered_self_waking_future_lets_other_tasks_run, 10, 0)
{
    CHECK_EQ(run_main_flavor(0, bu_self_waking_main, NULL), 0);
    CHECK_EQ(run_main_flavor(1, bu_self_waking_main, NULL), 0);
}
