/* broadcast_fanout.c - one sender, two subscribers, every message to both.
 *
 * Mirrors "Broadcast Channels for Fan-Out" of seed 003 ("Advanced async
 * patterns"):
 *
 *     let (tx, _rx) = broadcast::channel(100);
 *     let tx1 = tx.clone();
 *     let handle1 = tokio::spawn(async move {
 *         let mut rx1 = tx1.subscribe();
 *         while let Ok(msg) = rx1.recv().await { println!("Subscriber 1: {}", msg); }
 *     });
 *     let tx2 = tx.clone();
 *     let handle2 = tokio::spawn(async move { ... "Subscriber 2: {}" ... });
 *     for i in 0..5 {
 *         let _ = tx.send(format!("Message {}", i));
 *         tokio::time::sleep(Duration::from_millis(100)).await;
 *     }
 *     let _ = tokio::join!(handle1, handle2);
 *
 * How the C version maps onto it:
 *  - broadcast::channel(100) is corio_broadcast_new(msg_size, 100, &tx,
 *    &rx). A broadcast message is copied once into the channel's ring and
 *    once out to each subscriber, so a String becomes a fixed-size value:
 *    a struct holding `char text[32]`, formatted with snprintf. (A message
 *    that owns heap memory would travel as a pointer, and the channel
 *    would need a clone and a drop function, the `clone` and `drop` of
 *    corio_chan_opts given to corio_broadcast_new_with, to give each
 *    subscriber its own reference: more than this needs.)
 *  - A subscriber is a corio_broadcast_rx; `tx.subscribe()` is
 *    corio_broadcast_subscribe(tx, &rx). `rx.recv().await` is
 *    corio_broadcast_recv, returning 0 with the message (`Ok(msg)`), or
 *    CORIO_ECLOSED once every sender is released and the subscriber has
 *    read everything (`Err(Closed)`, which ends the `while let Ok`). A
 *    subscriber that fell more than 100 messages behind would get the
 *    oldest message still kept and the count it missed in `lagged` (tokio's
 *    Err(Lagged(n))); here none falls behind, and the summary says so.
 *  - Two changes make the C program correct where the seed's is not:
 *    * The seed subscribes inside each spawned task, which races with the
 *      first send: if main sends "Message 0" before a task has run, that
 *      subscriber never sees it (a receiver gets only what is sent after it
 *      subscribed). Here main subscribes both receivers before it spawns the
 *      tasks, and hands each task its receiver.
 *    * The seed never ends: each task keeps its own sender clone (tx1, tx2)
 *      alive inside its loop, so the channel never closes and
 *      `tokio::join!` waits for ever. Here the tasks hold no sender, and
 *      main releases `tx` after the last send (corio_broadcast_tx_release):
 *      the subscribers read what is left, get CORIO_ECLOSED, and end.
 *    `_rx`, which in the seed only keeps `send` from failing before anyone
 *    subscribed, is released once the two subscribers exist.
 *  - `let _ = tx.send(..)` ignores the result; corio_broadcast_send returns
 *    0 when the message was taken (every receiver subscribed then gets it)
 *    or CORIO_ECLOSED when no receiver exists. Main counts the receivers
 *    with corio_broadcast_receiver_count before each send and prints the
 *    total. Sending never waits.
 *  - #[tokio::main] is corio_run, a multi-thread runtime: the two
 *    subscribers may run on two threads at once, so their lines for one
 *    message come in either order; each one's own lines are in order.
 *
 *   usage: broadcast_fanout [delay_ms] [messages]   (default 100 5)
 */
#include <corio.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long delay_ms = 100;
static long n_messages = 5;

typedef struct message {
    char text[32]; /* format!("Message {}", i) */
} message;

typedef struct subscriber {
    int id;
    corio_broadcast_rx *rx; /* the task owns it */
    long received, in_order;
    uint64_t lagged;
    int end; /* what ended its loop */
} subscriber;

static int subscriber_task(void *arg)
{
    subscriber *s = arg;
    message msg;
    uint64_t lag;
    int rc;
    while ((rc = corio_broadcast_recv(s->rx, &msg, &lag)) == 0) { /* while let Ok(msg) */
        printf("Subscriber %d: %s\n", s->id, msg.text);
        char want[sizeof msg.text];
        snprintf(want, sizeof want, "Message %ld", s->received + (long)lag + s->lagged);
        if (strcmp(msg.text, want) == 0)
            s->in_order++;
        s->received++;
        s->lagged += lag;
    }
    s->end = rc;
    corio_broadcast_rx_release(s->rx);
    return rc == CORIO_ECLOSED ? 0 : rc;
}

static int async_main(void *arg)
{
    (void)arg;
    corio_broadcast_tx *tx;
    corio_broadcast_rx *first;
    int rc = corio_broadcast_new(sizeof(message), 100, &tx, &first);
    if (rc < 0)
        return 1;
    subscriber subs[2] = {{.id = 1}, {.id = 2}};
    corio_task *handles[2];
    int started = 0;
    for (int i = 0; i < 2; i++) {
        if (corio_broadcast_subscribe(tx, &subs[i].rx) < 0) /* tx.subscribe(), before any send */
            break;
        if (corio_spawn(subscriber_task, &subs[i], &handles[i]) < 0) {
            corio_broadcast_rx_release(subs[i].rx);
            break;
        }
        started++;
    }
    corio_broadcast_rx_release(first); /* `_rx`: the subscribers exist now */

    /* Send to all subscribers */
    long delivered = 0;
    for (long i = 0; i < n_messages && started == 2; i++) {
        message msg;
        snprintf(msg.text, sizeof msg.text, "Message %ld", i);
        /* Nothing subscribes or releases a receiver while main sends (the
         * subscribers end only after the close), so the count just before
         * the send is the number of receivers that get the message. */
        size_t receivers = corio_broadcast_receiver_count(tx);
        if (corio_broadcast_send(tx, &msg) == 0)
            delivered += (long)receivers;
        if (corio_sleep(CORIO_MSEC(delay_ms)) < 0)
            break;
    }
    corio_broadcast_tx_release(tx); /* the last sender: the channel closes */
    printf("sent %ld messages; the sends counted %ld receivers in all (%ld per message)\n",
           n_messages, delivered, delivered / n_messages);

    bool ok = started == 2; /* let _ = tokio::join!(handle1, handle2); */
    for (int i = 0; i < started; i++) {
        int r = -1;
        ok = corio_task_join(handles[i], &r) == 0 && r == 0 && ok;
        printf("subscriber %d: %ld of %ld messages, in order: %s, lagged %llu, then %s\n", subs[i].id,
               subs[i].received, n_messages, subs[i].in_order == n_messages ? "yes" : "no",
               (unsigned long long)subs[i].lagged, corio_err_name(subs[i].end));
        ok = ok && subs[i].received == n_messages && subs[i].in_order == n_messages &&
             subs[i].end == CORIO_ECLOSED;
    }
    printf("both subscribers got every message: %s\n", ok ? "yes" : "no");
    return ok ? 0 : 1;
}

#define USAGE_NAME "broadcast_fanout"
#define USAGE_ARGS "broadcast_fanout [delay_ms] [messages]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        delay_ms = arg_long(argv[1], 0, 60000);
    if (argc > 2)
        n_messages = arg_long(argv[2], 1, 100000);
    if (delay_ms < 0)
        delay_ms = 0;
    if (n_messages < 1)
        n_messages = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result = 1;
    int rc = corio_run(async_main, NULL, &result);
    if (rc < 0)
        printf("corio_run: %s\n", corio_strerror(rc));
    return rc == 0 ? result : 1;
}
