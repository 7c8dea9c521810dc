/* join_handles.c - `tokio::join!` of spawned tasks' handles.
 *
 * Mirrors two seeds:
 *  - seed 001, "Basic Usage":
 *        let task1 = tokio::spawn(async { println!("Task 1 running");
 *            sleep(1 s).await; println!("Task 1 completed"); });
 *        let task2 = tokio::spawn(async { ... sleep(2 s) ... });
 *        let _ = tokio::join!(task1, task2);
 *  - seed 003, "Channels for Task Communication": a producer sends 0..9 on
 *    mpsc::channel(5), sleeping 100 ms after each; a consumer prints
 *    "Consumed: i"; main does `let _ = tokio::join!(producer_handle,
 *    consumer_handle);`.
 *
 * How the C version maps onto it:
 *  - tokio::spawn is corio_spawn, which gives a join handle (corio_task *);
 *  - `tokio::join!(h1, h2)` on handles is corio_task_join_all over an array
 *    of them: it waits for both (they already run concurrently, so it takes
 *    the longer one's time, not the sum), stores each result, and gives the
 *    handles back;
 *  - to join handles together with other futures (a timer, a receive), the
 *    handle's future form, corio_join_fut, goes into corio_join_all or a
 *    select like any future: the program's second part joins the
 *    producer's and the consumer's corio_join_fut with corio_join_all.
 *
 *   usage: join_handles [unit_ms]   (default 1000: Task 1 sleeps one unit,
 *                                    Task 2 two; the producer unit/10 per item)
 */
#include <corio.h>
#include <errno.h>
#include <corio/join.h>
#include <stdio.h>
#include <stdlib.h>

static long unit_ms = 1000;

static double ms_since(corio_instant t0)
{
    return (double)(corio_instant_now() - t0) / 1e6;
}

/* ---- seed 001 ------------------------------------------------------------------- */

static int task1(void *arg)
{
    (void)arg;
    printf("Task 1 running\n");
    int rc = corio_sleep(CORIO_MSEC(unit_ms));
    printf("Task 1 completed\n");
    return rc;
}

static int task2(void *arg)
{
    (void)arg;
    printf("Task 2 running\n");
    int rc = corio_sleep(CORIO_MSEC(2 * unit_ms));
    printf("Task 2 completed\n");
    return rc;
}

static int basic_usage(void)
{
    corio_instant t0 = corio_instant_now();
    corio_task *t1, *t2;
    if (corio_spawn(task1, NULL, &t1) < 0)
        return 1;
    if (corio_spawn(task2, NULL, &t2) < 0) {
        corio_task_join(t1, NULL);
        return 1;
    }
    /* let _ = tokio::join!(task1, task2); */
    int results[2] = {-1, -1};
    int rc = corio_task_join_all((corio_task *[]){t1, t2}, 2, results);
    printf("both joined after %.0f ms (task sleeps: %ld and %ld ms); results %d, %d\n",
           ms_since(t0), unit_ms, 2 * unit_ms, results[0], results[1]);
    return (rc | results[0] | results[1]) == 0 ? 0 : 1;
}

/* ---- seed 003 ------------------------------------------------------------------- */

static int producer(void *arg)
{
    corio_mpsc_tx *tx = arg;
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++) {
        rc = corio_mpsc_send(tx, &i);
        if (rc == 0)
            rc = corio_sleep(CORIO_MSEC(unit_ms / 10));
    }
    corio_mpsc_tx_release(tx); /* the channel closes for the consumer */
    return rc;
}

static int consumer(void *arg)
{
    corio_mpsc_rx *rx = arg;
    int item, n = 0;
    while (corio_mpsc_recv(rx, &item) == 0) {
        printf("Consumed: %d\n", item);
        n++;
    }
    corio_mpsc_rx_release(rx);
    return n;
}

static int channels(void)
{
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    if (corio_mpsc_new(sizeof(int), 5, &tx, &rx) < 0)
        return 1;
    corio_instant t0 = corio_instant_now();
    corio_task *ph, *ch;
    if (corio_spawn(producer, tx, &ph) < 0 || corio_spawn(consumer, rx, &ch) < 0)
        return 1; /* (a real program would release what it made) */
    /* let _ = tokio::join!(producer_handle, consumer_handle); with the
     * handles' futures, as they would go with any other futures. */
    corio_join_fut pj, cj;
    corio_join_fut_init(&pj, ph);
    corio_join_fut_init(&cj, ch);
    int rc = corio_join_all(CORIO_FUTURES(&pj.base, &cj.base));
    corio_task_release(ph); /* a corio_join_fut borrows its handle */
    corio_task_release(ch);
    printf("producer and consumer joined after %.0f ms: producer returned %d, consumer received "
           "%d items\n",
           ms_since(t0), pj.value, cj.value);
    return rc == 0 && pj.base.result == 0 && pj.value == 0 && cj.value == 10 ? 0 : 1;
}

static int async_main(void *arg)
{
    (void)arg;
    printf("seed 001: tokio::join!(task1, task2)\n");
    if (basic_usage())
        return 1;
    printf("seed 003: tokio::join!(producer_handle, consumer_handle)\n");
    return channels();
}

#define USAGE_NAME "join_handles"
#define USAGE_ARGS "join_handles [unit_ms]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        unit_ms = arg_long(argv[1], 10, 60000);
    if (unit_ms < 10)
        unit_ms = 10;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result;
    return corio_run(async_main, NULL, &result) == 0 ? result : 1;
}
