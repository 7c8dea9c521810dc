/* choose_channel.c - oneshot, mpsc or broadcast: one short demo of each.
 *
 * Mirrors "Efficient Channel Usage" of seed 000 ("Mastering Async Rust"):
 *
 *     // For single producer, single consumer
 *     use tokio::sync::oneshot;
 *     // For multiple producers, single consumer
 *     use tokio::sync::mpsc;
 *     // For multiple producers, multiple consumers
 *     use tokio::sync::broadcast;
 *
 * The seed only names the three; each demo below is the use it stands for.
 *  - oneshot (corio/oneshot.h): exactly one value, from one task to one
 *    other: the reply to a request. The request carries the sender; the
 *    worker answers with corio_oneshot_send (which also gives the sender
 *    back, as tokio's send consumes it); the requester awaits
 *    corio_oneshot_recv. A worker that gives up without answering releases
 *    the sender, and the requester gets CORIO_ECLOSED instead of waiting
 *    for ever (tokio's RecvError).
 *  - mpsc (corio/mpsc.h): a stream of values from many tasks into one: each
 *    producer holds its own clone of the sender (corio_mpsc_tx_clone); the
 *    one receiver gets every message once, and CORIO_ECLOSED after the last
 *    sender is released. A message goes to one receiver only: work queues,
 *    a writer task owning a socket.
 *  - broadcast (corio/broadcast.h): every message to every subscriber:
 *    each receiver (corio_broadcast_subscribe) sees each message sent after
 *    it subscribed: events, shutdown signals, cache invalidations. Sending
 *    never waits: a subscriber that falls more than `capacity` messages
 *    behind loses the oldest and is told how many (the lag). The seed's
 *    "multiple producers, multiple consumers" is not a work queue: the
 *    consumers do not share the messages out, each gets them all.
 *  - Messages are fixed-size values copied in and out (corio/chan.h): an
 *    int, or a small struct, here.
 * #[tokio::main] is corio_run, a multi-thread runtime.
 *
 *   usage: choose_channel [producers] [messages]   (default 3 3)
 */
#include <corio.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static long n_producers = 3; /* mpsc producers, and broadcast subscribers */
static long n_messages = 3;  /* per producer, and broadcast messages */

/* ---- oneshot: one reply to one request ------------------------------------------ */

typedef struct request {
    int question;
    corio_oneshot_tx *reply; /* the worker owns it: answers, or releases it */
} request;

static int square_worker(void *arg)
{
    request *req = arg;
    int rc = corio_sleep(CORIO_MSEC(5)); /* the work */
    if (rc < 0 || req->question < 0) {   /* gives up: no answer */
        corio_oneshot_tx_release(req->reply);
        return rc;
    }
    int answer = req->question * req->question;
    return corio_oneshot_send(req->reply, &answer); /* sends and gives the sender back */
}

/* Ask a worker task, await the answer: 0 with *answer, or why not. */
static int ask(int question, int *answer)
{
    corio_oneshot_tx *tx;
    corio_oneshot_rx *rx;
    int rc = corio_oneshot_new(sizeof(int), &tx, &rx);
    if (rc < 0)
        return rc;
    request req = {question, tx};
    corio_task *worker;
    rc = corio_spawn(square_worker, &req, &worker);
    if (rc < 0) {
        corio_oneshot_tx_release(tx);
    } else {
        rc = corio_oneshot_recv(rx, answer);
        corio_task_join(worker, NULL); /* req lives on this stack: wait for the worker */
    }
    corio_oneshot_rx_release(rx);
    return rc;
}

static bool demo_oneshot(void)
{
    printf("oneshot - one reply to one request:\n");
    int answer = 0;
    int rc = ask(7, &answer);
    printf("  asked a worker for 7 * 7, it replied %d (%s)\n", answer, corio_err_name(rc));
    int rc2 = ask(-1, &answer);
    printf("  a worker that gave up without replying: the receive returned %s\n",
           corio_err_name(rc2));
    return rc == 0 && answer == 49 && rc2 == CORIO_ECLOSED;
}

/* ---- mpsc: many producers, one consumer ------------------------------------------ */

typedef struct tagged {
    int producer, seq;
} tagged;

typedef struct mpsc_producer {
    corio_mpsc_tx *tx; /* its own clone */
    int id;
} mpsc_producer;

static int mpsc_producer_task(void *arg)
{
    mpsc_producer *p = arg;
    int rc = 0;
    for (int seq = 0; seq < n_messages && rc == 0; seq++) {
        tagged m = {p->id, seq};
        rc = corio_mpsc_send(p->tx, &m);
    }
    corio_mpsc_tx_release(p->tx);
    return rc;
}

static bool demo_mpsc(void)
{
    printf("mpsc - many producers, one consumer:\n");
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    mpsc_producer *ps = calloc((size_t)n_producers, sizeof *ps);
    long *per = calloc((size_t)n_producers, sizeof *per);
    if (!ps || !per || corio_mpsc_new(sizeof(tagged), 16, &tx, &rx) < 0) {
        free(ps);
        free(per);
        return false;
    }
    for (int i = 0; i < n_producers; i++) {
        ps[i] = (mpsc_producer){corio_mpsc_tx_clone(tx), i};
        if (corio_spawn(mpsc_producer_task, &ps[i], NULL) < 0)
            corio_mpsc_tx_release(ps[i].tx);
    }
    corio_mpsc_tx_release(tx); /* only the producers' clones keep it open */
    tagged m;
    long total = 0, misordered = 0;
    while (corio_mpsc_recv(rx, &m) == 0) {
        if (m.producer >= 0 && m.producer < n_producers && m.seq == per[m.producer])
            per[m.producer]++;
        else
            misordered++;
        total++;
    }
    corio_mpsc_rx_release(rx);
    bool ok = total == n_producers * n_messages && misordered == 0;
    printf("  %ld producers x %ld messages -> the one consumer received %ld:", n_producers,
           n_messages, total);
    for (int i = 0; i < n_producers; i++) {
        printf(" %ld from producer %d%s", per[i], i, i + 1 < n_producers ? "," : "\n");
        ok = ok && per[i] == n_messages;
    }
    printf("  every message once, each producer's in order: %s\n", ok ? "yes" : "no");
    free(ps);
    free(per);
    return ok;
}

/* ---- broadcast: every subscriber gets every message ----------------------------- */

typedef struct subscriber {
    corio_broadcast_rx *rx; /* subscribed before anything is sent */
    int id;
    long sum, count;
    uint64_t lagged;
} subscriber;

static int subscriber_task(void *arg)
{
    subscriber *s = arg;
    int value, rc;
    uint64_t lag;
    while ((rc = corio_broadcast_recv(s->rx, &value, &lag)) == 0) {
        s->sum += value;
        s->count++;
        s->lagged += lag;
    }
    corio_broadcast_rx_release(s->rx);
    return rc == CORIO_ECLOSED ? 0 : rc; /* closed: every sender gone, all read */
}

static bool demo_broadcast(void)
{
    printf("broadcast - every subscriber gets every message:\n");
    corio_broadcast_tx *tx;
    corio_broadcast_rx *first;
    subscriber *subs = calloc((size_t)n_producers, sizeof *subs);
    corio_task **handles = calloc((size_t)n_producers, sizeof *handles);
    if (!subs || !handles || corio_broadcast_new(sizeof(int), (size_t)n_messages, &tx, &first) < 0) {
        free(subs);
        free(handles);
        return false;
    }
    /* Room for every message (capacity n_messages), so that no subscriber
     * can lag however late it runs; subscribe them all before the first
     * send: a receiver sees only what is sent after it subscribed. */
    long started = 0;
    for (int i = 0; i < n_producers; i++) {
        subs[i].id = i + 1;
        if (corio_broadcast_subscribe(tx, &subs[i].rx) < 0)
            break;
        if (corio_spawn(subscriber_task, &subs[i], &handles[i]) < 0) {
            corio_broadcast_rx_release(subs[i].rx);
            break;
        }
        started++;
    }
    corio_broadcast_rx_release(first); /* the subscribers' receivers are enough */
    long sent = 0, want_sum = 0;
    for (int k = 1; k <= n_messages; k++) {
        int value = 10 * k;
        if (corio_broadcast_send(tx, &value) == 0) { /* taken: every subscriber gets it */
            sent++;
            want_sum += value;
        }
    }
    corio_broadcast_tx_release(tx); /* the last sender: subscribers drain, then ECLOSED */
    bool ok = started == n_producers && sent == n_messages;
    for (int i = 0; i < started; i++) {
        int r = -1;
        ok = corio_task_join(handles[i], &r) == 0 && r == 0 && ok;
        printf("  subscriber %d received %ld of %ld messages (sum %ld, lagged %llu)\n", subs[i].id,
               subs[i].count, sent, subs[i].sum, (unsigned long long)subs[i].lagged);
        ok = ok && subs[i].count == sent && subs[i].sum == want_sum;
    }
    printf("  every subscriber got every message: %s\n", ok ? "yes" : "no");
    free(subs);
    free(handles);
    return ok;
}

static int async_main(void *arg)
{
    (void)arg;
    bool a = demo_oneshot();
    bool b = demo_mpsc();
    bool c = demo_broadcast();
    return a && b && c ? 0 : 1;
}

#define USAGE_NAME "choose_channel"
#define USAGE_ARGS "choose_channel [producers] [messages]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        n_producers = arg_long(argv[1], 1, 1000);
    if (argc > 2)
        n_messages = arg_long(argv[2], 1, 100000);
    if (n_producers < 1)
        n_producers = 1;
    if (n_messages < 1)
        n_messages = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result = 1;
    int rc = corio_run(async_main, NULL, &result);
    if (rc < 0)
        printf("corio_run: %s\n", corio_strerror(rc));
    return rc == 0 ? result : 1;
}
