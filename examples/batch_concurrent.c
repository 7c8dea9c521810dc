/* batch_concurrent.c - process many items with a bounded number in flight,
 * inside one task, instead of a task per item.
 *
 * Mirrors "Reduce Context Switching" of seed 001 ("Rust Asynchronous
 * Programming Guide", Performance Optimization), written with streams:
 *
 *     // Bad - too many small tasks
 *     for i in 0..1000 { tokio::spawn(async move { process_item(i).await; }); }
 *     // Good - batch processing
 *     stream::iter(0..1000).for_each_concurrent(100, |i| process_item(i)).await;
 *     // ... or batches that fill up or time out (tokio-stream's chunks_timeout)
 *     ReceiverStream::new(rx).chunks_timeout(100, Duration::from_secs(1))
 *
 * How the C version maps onto it:
 *  - process_item(i) is an async function that waits (a sleep of `ms`) and
 *    then adds i to a sum: a future set up in a slot that
 *    corio_stream_for_each_concurrent provides, 100 of them reused for the
 *    whole run. No task is spawned, no allocation per item: the items'
 *    waits overlap inside the calling task, at most `limit` at a time
 *    (the stream is not asked for more while `limit` are in flight).
 *  - chunks_timeout gathers the items a producer task sends on a channel
 *    into batches of up to 100 (or fewer once a batch is 1 s old), each
 *    processed at once.
 *  - #[tokio::main] is corio_run.
 * The times depend on the machine; what is printed as yes/no is promised.
 *
 *   usage: batch_concurrent [items] [limit] [ms]      (default 1000 100 10)
 */
#include <corio.h>
#include <errno.h>
#include <corio/stream.h>
#include <stdio.h>
#include <stdlib.h>

static long n_items = 1000, limit = 100, item_ms = 10;

typedef struct tally {
    long in_flight, peak, done;
    long long sum;
} tally;

/* process_item(i): sleep, then count i. */
typedef struct process_fut {
    corio_future base;
    corio_sleep_fut sleep;
    tally *t;
    int64_t i;
} process_fut;

static corio_poll process_poll(corio_future *f, corio_context *cx)
{
    process_fut *p = (process_fut *)f;
    if (corio_future_poll(&p->sleep.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    p->t->in_flight--;
    p->t->done++;
    p->t->sum += p->i;
    f->result = 0;
    return CORIO_READY;
}

static void process_drop(corio_future *f)
{
    process_fut *p = (process_fut *)f;
    corio_future_drop(&p->sleep.base);
    p->t->in_flight--;
}

static const corio_future_vtable process_vt = {process_poll, process_drop};

static corio_future *process_item(void *slot, corio_item item, corio_item *out, void *arg)
{
    (void)out; /* for_each_concurrent keeps no output */
    tally *t = arg;
    process_fut *p = slot;
    corio_future_init(&p->base, &process_vt);
    corio_sleep_fut_init(&p->sleep, CORIO_MSEC(item_ms));
    p->t = t;
    p->i = item.i;
    if (++t->in_flight > t->peak)
        t->peak = t->in_flight;
    return &p->base;
}

static int concurrent(void)
{
    tally t = {0};
    corio_stream_range items;
    corio_stream_range_init(&items, 0, n_items);
    corio_instant t0 = corio_instant_now();
    int rc = corio_stream_for_each_concurrent(&items.base, (size_t)limit, sizeof(process_fut),
                                              process_item, &t);
    if (rc < 0)
        return rc;
    double ms = (double)(corio_instant_now() - t0) / 1e6;
    long rounds = (n_items + limit - 1) / limit;
    printf("for_each_concurrent(%ld): processed %ld items, sum %lld, at most %ld in flight: %s\n",
           limit, t.done, t.sum, limit, t.peak <= limit ? "yes" : "no");
    printf("peak in flight %ld; took %.0f ms (%ld rounds of %ld ms; one at a time would take %ld "
           "ms)\n",
           t.peak, ms, rounds, item_ms, n_items * item_ms);
    printf("the waits overlapped: %s\n", ms < (double)(n_items * item_ms) / 2 ? "yes" : "no");
    return 0;
}

static int producer(void *arg)
{
    corio_mpsc_tx *tx = arg;
    for (int64_t i = 0; i < n_items; i++)
        if (corio_mpsc_send(tx, &i) < 0)
            break;
    corio_mpsc_tx_release(tx);
    return 0;
}

static int batched(void)
{
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    int rc = corio_mpsc_new(sizeof(int64_t), 256, &tx, &rx);
    if (rc < 0)
        return rc;
    if ((rc = corio_spawn(producer, tx, NULL)) < 0) {
        corio_mpsc_tx_release(tx);
        corio_mpsc_rx_release(rx);
        return rc;
    }
    corio_stream_mpsc src;
    corio_stream_chunks_timeout chunks;
    corio_stream_mpsc_init(&src, rx);
    corio_stream_chunks_timeout_init(&chunks, &src.base, (size_t)limit, CORIO_SEC(1));
    corio_item it;
    long batches = 0, items = 0, full = 0;
    long long sum = 0;
    while ((rc = corio_stream_next(&chunks.base, &it)) == 0) {
        const corio_chunk *c = it.p; /* lent until the next call */
        for (size_t k = 0; k < c->len; k++)
            sum += c->items[k].i;
        batches++;
        items += (long)c->len;
        full += c->len == (size_t)limit;
    }
    if (rc != CORIO_ECLOSED)
        return rc;
    printf("chunks_timeout(%ld, 1 s): %ld items in %ld batches (%ld full), sum %lld\n", limit, items,
           batches, full, sum);
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    printf("seed 001: batch processing with a bounded number in flight\n");
    int rc = concurrent();
    if (rc < 0)
        return rc;
    return batched();
}

#define USAGE_NAME "batch_concurrent"
#define USAGE_ARGS "batch_concurrent [items] [limit] [ms]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 4) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        n_items = arg_long(argv[1], 0, 10000000);
    if (argc > 2)
        limit = arg_long(argv[2], 1, 100000);
    if (argc > 3)
        item_ms = arg_long(argv[3], 0, 60000);
    if (n_items < 0 || limit < 1 || item_ms < 0) {
        fprintf(stderr, "usage: batch_concurrent [items] [limit] [ms]\n");
        return 2;
    }
    int result = 0;
    int rc = corio_run(main_task, NULL, &result);
    if (rc < 0 || result < 0) {
        fprintf(stderr, "batch_concurrent: %s\n", corio_strerror(rc < 0 ? rc : result));
        return 1;
    }
    return 0;
}
