/* stream_pipeline.c - stream pipelines: an async map, a filter and a map
 * collected into an array, a channel read as a stream, a plain loop over
 * a stream's items.
 *
 * Mirrors "Advanced Pattern 5: Streams and Async Iterators" of seed 003
 * and "Stream Processing" of seed 001:
 *
 *     let stream = stream::iter(0..5)
 *         .then(|i| async move { sleep(100ms).await; i * 2 })
 *         .filter(|x| ready(x % 2 == 0))
 *         .map(|x| x + 1);
 *     let results: Vec<_> = stream.collect().await;     // [1, 3, 5, 7, 9]
 *
 *     let stream = ReceiverStream::new(rx);             // 0..9 sent by a task
 *     stream.map(|x| x * 2).filter(|x| ready(x % 2 == 0))
 *           .for_each(|x| async move { println!("Processed: {}", x) }).await;
 *
 *     let mut stream = tokio_stream::iter(vec![1, 2, 3, 4, 5]);
 *     while let Some(value) = stream.next().await { println!("Processing: {}", value); }
 *
 * How the C version maps onto it:
 *  - Each stage is a struct on the task's stack, built on the one before
 *    (corio_stream_range_init, _then_init, _filter_init, _map_init); the
 *    last one owns the chain. Items are corio_item words (.i here).
 *  - The async closure of `then` is a future: corio_stream_then calls
 *    sleep_double() with a slot of sizeof(sleep_double_fut) bytes, which
 *    sets up a sleep in it; the stage polls it and takes its output.
 *  - collect gives a malloc'd array; for_each takes a plain function (its
 *    closure never waits); the while loop is corio_stream_next, which
 *    returns CORIO_ECLOSED when the stream ends (None).
 *  - #[tokio::main] is corio_run (the multi-thread runtime).
 *
 *   usage: stream_pipeline [sleep_ms]      (default 100, as in the seed)
 */
#include <corio.h>
#include <errno.h>
#include <corio/stream.h>
#include <stdio.h>
#include <stdlib.h>

static long sleep_ms = 100;

/* ---- seed 003: iter -> then -> filter -> map -> collect ---------------------- */

/* The async closure: sleep, then i * 2. */
typedef struct sleep_double_fut {
    corio_future base;
    corio_sleep_fut sleep;
    corio_item *out;
    int64_t i;
} sleep_double_fut;

static corio_poll sleep_double_poll(corio_future *f, corio_context *cx)
{
    sleep_double_fut *s = (sleep_double_fut *)f;
    if (corio_future_poll(&s->sleep.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    s->out->i = s->i * 2;
    f->result = 0;
    return CORIO_READY;
}

static void sleep_double_drop(corio_future *f)
{
    corio_future_drop(&((sleep_double_fut *)f)->sleep.base);
}

static const corio_future_vtable sleep_double_vt = {sleep_double_poll, sleep_double_drop};

static corio_future *sleep_double(void *slot, corio_item item, corio_item *out, void *arg)
{
    (void)arg;
    sleep_double_fut *s = slot;
    corio_future_init(&s->base, &sleep_double_vt);
    corio_sleep_fut_init(&s->sleep, CORIO_MSEC(sleep_ms));
    s->out = out;
    s->i = item.i;
    return &s->base;
}

static bool is_even(corio_item x, void *arg)
{
    (void)arg;
    return x.i % 2 == 0;
}

static corio_item plus_one(corio_item x, void *arg)
{
    (void)arg;
    return (corio_item){.i = x.i + 1};
}

static corio_item times_two(corio_item x, void *arg)
{
    (void)arg;
    return (corio_item){.i = x.i * 2};
}

static int iter_pipeline(void)
{
    corio_stream_range src;
    corio_stream_then then;
    corio_stream_filter filter;
    corio_stream_map map;
    corio_stream_range_init(&src, 0, 5);
    corio_stream_then_init(&then, &src.base, sizeof(sleep_double_fut), sleep_double, NULL);
    corio_stream_filter_init(&filter, &then.base, is_even, NULL);
    corio_stream_map_init(&map, &filter.base, plus_one, NULL);
    corio_instant t0 = corio_instant_now();
    corio_item *items;
    size_t len;
    int rc = corio_stream_collect(&map.base, &items, &len);
    if (rc < 0)
        return rc;
    double ms = (double)(corio_instant_now() - t0) / 1e6;
    printf("Results: [");
    for (size_t k = 0; k < len; k++)
        printf("%s%lld", k ? ", " : "", (long long)items[k].i);
    printf("]\n");
    free(items);
    /* then is one item at a time: five sleeps one after the other. */
    printf("five async steps one after the other: %s\n",
           ms >= 5.0 * (double)sleep_ms * 0.99 ? "yes" : "no");
    return 0;
}

/* ---- seed 003: ReceiverStream -> map -> filter -> for_each ------------------------ */

static int producer(void *arg)
{
    corio_mpsc_tx *tx = arg;
    for (int64_t i = 0; i < 10; i++)
        if (corio_mpsc_send(tx, &i) < 0)
            break;
    corio_mpsc_tx_release(tx); /* the stream ends once the channel is empty */
    return 0;
}

static int print_processed(corio_item x, void *arg)
{
    (*(int *)arg)++;
    printf("Processed: %lld\n", (long long)x.i);
    return 0;
}

static int receiver_pipeline(void)
{
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    int rc = corio_mpsc_new(sizeof(int64_t), 10, &tx, &rx);
    if (rc < 0)
        return rc;
    rc = corio_spawn(producer, tx, NULL);
    if (rc < 0) {
        corio_mpsc_tx_release(tx);
        corio_mpsc_rx_release(rx);
        return rc;
    }
    corio_stream_mpsc src;
    corio_stream_map map;
    corio_stream_filter filter;
    corio_stream_mpsc_init(&src, rx);
    corio_stream_map_init(&map, &src.base, times_two, NULL);
    corio_stream_filter_init(&filter, &map.base, is_even, NULL);
    int n = 0;
    rc = corio_stream_for_each(&filter.base, print_processed, &n);
    if (rc < 0)
        return rc;
    printf("the for_each ended with the channel: %d items\n", n);
    return 0;
}

/* ---- seed 001: while let Some(value) = stream.next().await ------------------------- */

static int next_loop(void)
{
    const corio_item values[] = {{.i = 1}, {.i = 2}, {.i = 3}, {.i = 4}, {.i = 5}};
    corio_stream_iter stream;
    corio_stream_iter_init(&stream, values, 5);
    corio_item value;
    int rc;
    while ((rc = corio_stream_next(&stream.base, &value)) == 0)
        printf("Processing: %lld\n", (long long)value.i);
    printf("next returned CORIO_ECLOSED at the end: %s\n", rc == CORIO_ECLOSED ? "yes" : "no");
    return rc == CORIO_ECLOSED ? 0 : rc;
}

static int main_task(void *arg)
{
    (void)arg;
    int rc;
    printf("seed 003: iter(0..5).then(sleep %ld ms, i * 2).filter(even).map(+1).collect()\n",
           sleep_ms);
    if ((rc = iter_pipeline()) < 0)
        return rc;
    printf("seed 003: ReceiverStream.map(* 2).filter(even).for_each(println)\n");
    if ((rc = receiver_pipeline()) < 0)
        return rc;
    printf("seed 001: while let Some(value) = stream.next().await\n");
    return next_loop();
}

#define USAGE_NAME "stream_pipeline"
#define USAGE_ARGS "stream_pipeline [sleep_ms]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        sleep_ms = arg_long(argv[1], 0, 60000);
    int result = 0;
    int rc = corio_run(main_task, NULL, &result);
    if (rc < 0 || result < 0) {
        fprintf(stderr, "stream_pipeline: %s\n", corio_strerror(rc < 0 ? rc : result));
        return 1;
    }
    return 0;
}
