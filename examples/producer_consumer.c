/* producer_consumer.c - producers and a consumer joined by an mpsc channel.
 *
 * Mirrors three programs of the seeds. "Concurrent Processing" of seed 001
 * ("Rust Asynchronous Programming Guide"):
 *
 *     async fn producer(tx: mpsc::Sender<i32>) {
 *         for i in 0..10 { tx.send(i).await.unwrap(); sleep(100 ms).await; } }
 *     async fn consumer(mut rx: mpsc::Receiver<i32>) {
 *         while let Some(value) = rx.recv().await { println!("Received: {}", value); } }
 *     let (tx, rx) = mpsc::channel(32);
 *     tokio::spawn(producer(tx));
 *     consumer(rx).await;
 *
 * `producer_consumer_pattern` of seed 000 ("Efficient Channel Usage"):
 *
 *     let (tx, mut rx) = mpsc::channel::<WorkItem>(1000);
 *     for i in 0..10 {
 *         let tx = tx.clone();
 *         tokio::spawn(async move { for j in 0..100 {
 *             if tx.send(WorkItem::new(i, j)).await.is_err() { break; } // Receiver dropped
 *         } });
 *     }
 *     drop(tx); // Close the channel
 *     while let Some(item) = rx.recv().await { process_work_item(item).await; }
 *
 * and "Channels for Task Communication" of seed 003: the same producer as
 * seed 001's, returning anyhow::Result, with a consumer printing
 * "Consumed: N", on mpsc::channel(5), both spawned and joined with
 * `tokio::join!(producer_handle, consumer_handle)`.
 *
 * How the C version maps onto it:
 *  - mpsc::channel(n) is corio_mpsc_new(msg_size, n, &tx, &rx): messages
 *    are msg_size bytes copied in and out, so an i32 travels as an int and
 *    a WorkItem as a small struct, both by value.
 *  - Moving `tx` into a task is passing the corio_mpsc_tx pointer as the
 *    task's argument; the task then owns it and releases it when done.
 *    `tx.clone()` is corio_mpsc_tx_clone, `drop(tx)` is
 *    corio_mpsc_tx_release. When the last sender is released the channel
 *    closes: the receiver gets what is left, then CORIO_ECLOSED, which ends
 *    `while let Some(..) = rx.recv().await` (the loop below on
 *    corio_mpsc_recv returning 0).
 *  - `.unwrap()` and `?` on a send become a check of its status: 0, or
 *    CORIO_ECLOSED once the receiver is gone (the seed's `is_err() =>
 *    break`); the message then stays the sender's.
 *  - process_work_item(item).await is a corio_yield: a real await in the
 *    consumer's loop, so the producers (blocked on the full channel) get to
 *    run while it processes.
 *  - #[tokio::main] is corio_run, a multi-thread runtime; tokio::spawn is
 *    corio_spawn (a NULL handle detaches the task, as dropping a
 *    JoinHandle does), tokio::join! on two handles is two corio_task_join.
 * Every item is checked to arrive exactly once: the single-producer runs
 * in order 0..9, the 10 x 100 work items each once and, per producer, in
 * the order it sent them (a channel is FIFO per sender).
 *
 *   usage: producer_consumer [delay_ms] [producers] [items]   (default 100 10 100)
 */
#include <corio.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long delay_ms = 100;
static long n_producers = 10;
static long n_items = 100;

/* ---- seed 001: mpsc::channel(32), a spawned producer, main consumes --------- */

/* async fn producer(tx): 10 values, delay_ms apart. Owns tx. */
static int producer(void *arg)
{
    corio_mpsc_tx *tx = arg;
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++) {
        rc = corio_mpsc_send(tx, &i); /* .await.unwrap() */
        if (rc == 0)
            rc = corio_sleep(CORIO_MSEC(delay_ms));
    }
    if (rc < 0)
        printf("producer: %s\n", corio_strerror(rc));
    corio_mpsc_tx_release(tx); /* tx dropped at the end of the fn: the channel closes */
    return rc;
}

/* async fn consumer(rx): prints what arrives until the channel closes.
 * Returns how many values came 0, 1, 2... in order. */
static int consumer(corio_mpsc_rx *rx, const char *verb)
{
    int value, in_order = 0, received = 0;
    while (corio_mpsc_recv(rx, &value) == 0) { /* while let Some(value) */
        printf("%s: %d\n", verb, value);
        if (value == received)
            in_order++;
        received++;
    }
    return received == in_order ? received : -1;
}

static bool seed_001(void)
{
    printf("seed 001: mpsc::channel(32), producer spawned, consumer in main\n");
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    if (corio_mpsc_new(sizeof(int), 32, &tx, &rx) < 0)
        return false;
    if (corio_spawn(producer, tx, NULL) < 0) { /* tokio::spawn(producer(tx)); */
        corio_mpsc_tx_release(tx);
        corio_mpsc_rx_release(rx);
        return false;
    }
    int n = consumer(rx, "Received"); /* consumer(rx).await; */
    corio_mpsc_rx_release(rx);
    printf("  values 0..9 each once, in order: %s\n\n", n == 10 ? "yes" : "no");
    return n == 10;
}

/* ---- seed 000: 10 producers x 100 WorkItems on mpsc::channel(1000) ----------- */

typedef struct work_item {
    int producer, seq;
} work_item;

typedef struct producer_arg {
    corio_mpsc_tx *tx; /* this producer's clone */
    int id;
} producer_arg;

static int item_producer(void *arg)
{
    producer_arg *p = arg;
    for (int j = 0; j < n_items; j++) {
        work_item item = {p->id, j}; /* WorkItem::new(i, j) */
        if (corio_mpsc_send(p->tx, &item) < 0)
            break; /* Receiver dropped */
    }
    corio_mpsc_tx_release(p->tx);
    return 0;
}

typedef struct tally {
    long received, duplicates, out_of_order, bad;
    int *next_seq; /* per producer: the seq expected next */
} tally;

/* process_work_item(item).await */
static void process_work_item(tally *t, work_item item)
{
    t->received++;
    if (item.producer < 0 || item.producer >= n_producers || item.seq < 0 || item.seq >= n_items)
        t->bad++;
    else if (item.seq < t->next_seq[item.producer])
        t->duplicates++;
    else if (item.seq > t->next_seq[item.producer])
        t->out_of_order++;
    else
        t->next_seq[item.producer]++;
    corio_yield();
}

static bool seed_000(void)
{
    printf("seed 000: producer_consumer_pattern, mpsc::channel::<WorkItem>(1000), "
           "%ld producers x %ld items\n", n_producers, n_items);
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    producer_arg *args = calloc((size_t)n_producers, sizeof *args);
    tally t = {0, 0, 0, 0, calloc((size_t)n_producers, sizeof(int))};
    if (!args || !t.next_seq || corio_mpsc_new(sizeof(work_item), 1000, &tx, &rx) < 0) {
        free(args);
        free(t.next_seq);
        return false;
    }
    long spawned = 0;
    for (int i = 0; i < n_producers; i++) {
        args[i] = (producer_arg){corio_mpsc_tx_clone(tx), i}; /* let tx = tx.clone(); */
        if (corio_spawn(item_producer, &args[i], NULL) < 0) {
            corio_mpsc_tx_release(args[i].tx);
            break;
        }
        spawned++;
    }
    corio_mpsc_tx_release(tx); /* drop(tx); // Close the channel */

    work_item item;
    int rc;
    while ((rc = corio_mpsc_recv(rx, &item)) == 0)
        process_work_item(&t, item);
    corio_mpsc_rx_release(rx);

    long complete = 0;
    for (int i = 0; i < n_producers; i++)
        complete += t.next_seq[i] == n_items;
    bool ok = spawned == n_producers && complete == n_producers && t.received == n_producers * n_items &&
              t.duplicates + t.out_of_order + t.bad == 0;
    printf("  received %ld items; every producer's %ld items each once and in its order: %s "
           "(duplicates %ld, out of order %ld)\n",
           t.received, n_items, ok ? "yes" : "no", t.duplicates, t.out_of_order);
    printf("  the loop ended with %s once the last of the %ld producers released its sender\n\n",
           corio_err_name(rc), spawned);
    free(args);
    free(t.next_seq);
    return ok && rc == CORIO_ECLOSED;
}

/* ---- seed 003: mpsc::channel(5), producer and consumer spawned and joined ----- */

/* async fn consumer(mut rx), spawned: owns rx. */
static int consumer_task(void *arg)
{
    corio_mpsc_rx *rx = arg;
    int n = consumer(rx, "Consumed");
    corio_mpsc_rx_release(rx);
    return n;
}

static bool seed_003(void)
{
    printf("seed 003: mpsc::channel(5), producer and consumer spawned, tokio::join!\n");
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    corio_task *producer_handle, *consumer_handle;
    if (corio_mpsc_new(sizeof(int), 5, &tx, &rx) < 0)
        return false;
    if (corio_spawn(producer, tx, &producer_handle) < 0) {
        corio_mpsc_tx_release(tx);
        corio_mpsc_rx_release(rx);
        return false;
    }
    if (corio_spawn(consumer_task, rx, &consumer_handle) < 0) {
        corio_mpsc_rx_release(rx); /* the producer's sends now fail: it ends */
        corio_task_join(producer_handle, NULL);
        return false;
    }
    int pr = -1, cr = -1; /* let _ = tokio::join!(producer_handle, consumer_handle); */
    int pj = corio_task_join(producer_handle, &pr);
    int cj = corio_task_join(consumer_handle, &cr);
    bool ok = pj == 0 && cj == 0 && pr == 0 && cr == 10;
    printf("  producer returned Ok: %s; values 0..9 each once, in order: %s\n", pr == 0 ? "yes" : "no",
           cr == 10 ? "yes" : "no");
    return ok;
}

static int async_main(void *arg)
{
    (void)arg;
    bool a = seed_001();
    bool b = seed_000();
    bool c = seed_003();
    return a && b && c ? 0 : 1;
}

#define USAGE_NAME "producer_consumer"
#define USAGE_ARGS "producer_consumer [delay_ms] [producers] [items]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 4) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        delay_ms = arg_long(argv[1], 0, 60000);
    if (argc > 2)
        n_producers = arg_long(argv[2], 1, 10000);
    if (argc > 3)
        n_items = arg_long(argv[3], 1, 1000000);
    if (delay_ms < 0)
        delay_ms = 0;
    if (n_producers < 1)
        n_producers = 1;
    if (n_items < 1)
        n_items = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result = 1;
    int rc = corio_run(async_main, NULL, &result);
    if (rc < 0)
        printf("corio_run: %s\n", corio_strerror(rc));
    return rc == 0 ? result : 1;
}
