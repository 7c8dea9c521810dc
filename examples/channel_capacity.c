/* channel_capacity.c - a channel of capacity 1 against one of capacity 100.
 *
 * Mirrors "Use Buffered Channels" of seed 001 ("Rust Asynchronous
 * Programming Guide"):
 *
 *     // Unbuffered - may cause blocking
 *     let (tx, rx) = mpsc::channel(1);
 *     // Buffered - better performance
 *     let (tx, rx) = mpsc::channel(100);
 *
 * The seed only states it; this program measures it. How it goes:
 *  - One workload, run twice: a producer task sends `messages` values, a
 *    consumer task receives them, over corio_mpsc_new(sizeof(uint64_t),
 *    capacity, ..) with capacity 1, then 100. Each side does a little work
 *    per message (`work` rounds of integer mixing: the producer makes the
 *    value, the consumer digests it into a checksum), so that neither is a
 *    bare loop around the channel.
 *  - With capacity 1, the producer can get at most one message ahead: it
 *    waits for room almost every time, and the consumer for a message,
 *    so nearly every message costs a suspend and a wakeup on each side
 *    (a switch, and on the multi-thread runtime a wakeup across threads).
 *    With capacity 100 each side runs on for up to 100 messages before it
 *    must wait: far fewer suspensions per message. To show that, each side
 *    first tries without waiting (corio_mpsc_try_send, corio_mpsc_try_recv)
 *    and counts the times it had to wait (-EAGAIN, then the waiting
 *    corio_mpsc_send or corio_mpsc_recv).
 *  - (tokio's mpsc::channel(1) is not unbuffered either: it holds one
 *    message, as here. Neither library has a rendezvous channel.)
 *  - Printed: the time and throughput of each run, and the ratio. They are
 *    figures of this machine and its load, not a benchmark: the test checks
 *    only that every message arrived once and the checksums are right.
 *  - #[tokio::main] is corio_run, a multi-thread runtime: the producer and
 *    the consumer may run on two threads at once.
 *
 *   usage: channel_capacity [messages] [work]   (default 100000 20)
 */
#include <corio.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static long n_messages = 100000;
static long work_rounds = 20;

/* A little CPU work per message: `work_rounds` rounds of a 64-bit mix. */
static uint64_t work(uint64_t x)
{
    for (long i = 0; i < work_rounds; i++) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 29;
    }
    return x;
}

typedef struct run {
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    long sent, received, send_waits, recv_waits;
    uint64_t checksum;
} run;

static int producer(void *arg)
{
    run *r = arg;
    int rc = 0;
    for (long i = 0; i < n_messages; i++) {
        uint64_t v = work((uint64_t)i);
        rc = corio_mpsc_try_send(r->tx, &v);
        if (rc == -EAGAIN) { /* full: this send waits */
            r->send_waits++;
            rc = corio_mpsc_send(r->tx, &v);
        }
        if (rc < 0)
            break;
        r->sent++;
    }
    corio_mpsc_tx_release(r->tx); /* the consumer's loop ends after the last */
    return rc;
}

static int consumer(void *arg)
{
    run *r = arg;
    uint64_t v;
    int rc;
    for (;;) {
        rc = corio_mpsc_try_recv(r->rx, &v);
        if (rc == -EAGAIN) { /* empty: this receive waits */
            r->recv_waits++;
            rc = corio_mpsc_recv(r->rx, &v);
        }
        if (rc < 0)
            break;
        r->checksum += work(v);
        r->received++;
    }
    corio_mpsc_rx_release(r->rx);
    return rc == CORIO_ECLOSED ? 0 : rc;
}

/* One run at `capacity`: messages per second, or -1 on failure. */
static double measure(size_t capacity, uint64_t want)
{
    run r = {0};
    if (corio_mpsc_new(sizeof(uint64_t), capacity, &r.tx, &r.rx) < 0)
        return -1;
    corio_instant t0 = corio_instant_now();
    corio_task *p, *c;
    if (corio_spawn(consumer, &r, &c) < 0) {
        corio_mpsc_tx_release(r.tx);
        corio_mpsc_rx_release(r.rx);
        return -1;
    }
    if (corio_spawn(producer, &r, &p) < 0) {
        corio_mpsc_tx_release(r.tx); /* the consumer sees the channel closed */
        corio_task_join(c, NULL);
        return -1;
    }
    int pr = -1, cr = -1;
    int pj = corio_task_join(p, &pr), cj = corio_task_join(c, &cr);
    double secs = (double)(corio_instant_now() - t0) / 1e9;
    bool ok = pj == 0 && cj == 0 && pr == 0 && cr == 0 && r.sent == n_messages &&
              r.received == n_messages && r.checksum == want;
    double rate = secs > 0 ? (double)r.received / secs : 0;
    printf("capacity %3zu: %ld of %ld messages received, checksum right: %s; %.1f ms, %.0f msg/s; "
           "producer waited for room %ld times, consumer for a message %ld times\n",
           capacity, r.received, n_messages, r.checksum == want ? "yes" : "no", secs * 1e3, rate,
           r.send_waits, r.recv_waits);
    return ok ? rate : -1;
}

static int async_main(void *arg)
{
    (void)arg;
    uint64_t want = 0; /* what the consumer must add up: from a plain loop */
    for (long i = 0; i < n_messages; i++)
        want += work(work((uint64_t)i));
    printf("%ld messages, %ld rounds of work per message on each side\n", n_messages, work_rounds);
    double one = measure(1, want);
    double hundred = measure(100, want);
    if (one <= 0 || hundred <= 0)
        return 1;
    printf("capacity 100 moved %.1fx as many messages per second as capacity 1\n", hundred / one);
    return 0;
}

#define USAGE_NAME "channel_capacity"
#define USAGE_ARGS "channel_capacity [messages] [work]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        n_messages = arg_long(argv[1], 1, 100000000);
    if (argc > 2)
        work_rounds = arg_long(argv[2], 0, 1000000);
    if (n_messages < 1)
        n_messages = 1;
    if (work_rounds < 0)
        work_rounds = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result = 1;
    int rc = corio_run(async_main, NULL, &result);
    if (rc < 0)
        printf("corio_run: %s\n", corio_strerror(rc));
    return rc == 0 ? result : 1;
}
