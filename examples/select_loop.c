/* select_loop.c - select! in a loop: a channel and a timeout.
 *
 * Mirrors "select! with Loops" of seed 003:
 *
 *     let (tx, mut rx) = mpsc::channel::<String>(10);
 *     tokio::spawn(async move {
 *         for i in 0..5 {
 *             let _ = tx.send(format!("Message {}", i)).await;
 *             sleep(Duration::from_millis(100)).await;
 *         }
 *     });
 *     loop {
 *         tokio::select! {
 *             Some(msg) = rx.recv() => { println!("Received: {}", msg); }
 *             _ = sleep(Duration::from_secs(1)) => {
 *                 println!("Timeout - no message received");
 *                 break;
 *             }
 *         }
 *     }
 *
 * How the C version maps onto it:
 *  - each turn of the loop makes the two futures afresh (a receive and a
 *    1 s sleep) and races them with corio_select; the loser is dropped. A
 *    receive that loses consumed nothing (corio/mpsc.h: cancel safe), so no
 *    message is lost however often the timer wins;
 *  - `Some(msg) = rx.recv()` disables its branch when the pattern fails (the
 *    channel closed: recv gives None). In C the receive wins with
 *    CORIO_ECLOSED in its result, and the loop puts NULL in its place from
 *    then on: a NULL branch is disabled. The sleep then wins, a second
 *    later (tokio's sleep started with that turn's select!, 100 ms
 *    earlier, so its timeout comes 100 ms sooner);
 *  - a second run makes the producer slower than the timeout: the timer
 *    wins while messages are still to come, and (as in the seed) the loop
 *    ends there.
 * The loop itself is the dozen lines of `receive_loop`.
 *
 *   usage: select_loop [unit_ms]   (default 100: the producer's pause; the
 *                                   timeout is ten units)
 */
#include <corio.h>
#include <errno.h>
#include <corio/select.h>
#include <stdio.h>
#include <stdlib.h>

static long unit_ms = 100;

typedef struct message {
    char text[32];
} message;

typedef struct producer_args {
    corio_mpsc_tx *tx;
    long pause_ms;
} producer_args;

static int producer(void *arg)
{
    producer_args *p = arg;
    for (int i = 0; i < 5; i++) {
        message m;
        snprintf(m.text, sizeof m.text, "Message %d", i);
        if (corio_mpsc_send(p->tx, &m) < 0 || corio_sleep(CORIO_MSEC(p->pause_ms)) < 0)
            break;
    }
    corio_mpsc_tx_release(p->tx); /* the channel closes */
    return 0;
}

/* The seed's loop: returns how many messages it received. */
static int receive_loop(corio_mpsc_rx *rx)
{
    int received = 0;
    for (bool open = true;;) {
        message msg;
        corio_mpsc_recv_fut recv;
        corio_sleep_fut timeout;
        corio_mpsc_recv_fut_init(&recv, rx, &msg);
        corio_sleep_fut_init(&timeout, CORIO_MSEC(10 * unit_ms));
        size_t i;
        if (corio_select(CORIO_FUTURES(open ? &recv.base : NULL, &timeout.base), &i) < 0)
            break;
        if (i == 1) {
            printf("Timeout - no message received\n");
            break;
        }
        if (recv.base.result == 0) {
            printf("Received: %s\n", msg.text);
            received++;
        } else {
            open = false; /* closed: `Some(msg)` no longer matches */
        }
    }
    return received;
}

static int run(long pause_ms)
{
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    if (corio_mpsc_new(sizeof(message), 10, &tx, &rx) < 0)
        return -1;
    producer_args p = {tx, pause_ms};
    /* Before the spawn: another worker may start the producer's pauses at
     * once. */
    corio_instant t0 = corio_instant_now();
    corio_task *t;
    if (corio_spawn(producer, &p, &t) < 0)
        return -1;
    int received = receive_loop(rx);
    double ms = (double)(corio_instant_now() - t0) / 1e6;
    corio_mpsc_rx_release(rx); /* a producer still sending gets CORIO_ECLOSED */
    corio_task_join(t, NULL);
    printf("the loop received %d message%s and ended after %.0f ms\n", received,
           received == 1 ? "" : "s", ms);
    return received;
}

static int async_main(void *arg)
{
    (void)arg;
    printf("1. the producer pauses %ld ms, the timeout is %ld ms\n", unit_ms, 10 * unit_ms);
    if (run(unit_ms) != 5)
        return 1;
    printf("2. the producer pauses %ld ms: longer than the timeout\n", 15 * unit_ms);
    if (run(15 * unit_ms) != 1)
        return 1;
    return 0;
}

#define USAGE_NAME "select_loop"
#define USAGE_ARGS "select_loop [unit_ms]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        unit_ms = arg_long(argv[1], 1, 60000);
    if (unit_ms < 1)
        unit_ms = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result;
    return corio_run(async_main, NULL, &result) == 0 ? result : 1;
}
