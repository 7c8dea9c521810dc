/* mpsc.c - a bounded channel of u64 with capacity `cap`; `producers` tasks
 * send n/producers values each (0..per-1); one consumer task receives them
 * one recv at a time and sums them (checks count and sum). ops = n
 * (../shared/peers/README.md).
 *
 *   mpsc [threads=1] [n=10000000] [producers=1] [cap=1024]
 */
#include "bench.h"

static struct {
    uint64_t per, producers, cap, total, sum;
    double secs;
} g;

static int consumer(void *arg)
{
    corio_mpsc_rx *rx = arg;
    uint64_t v, sum = 0, got = 0;
    while (corio_mpsc_recv(rx, &v) == 0) {
        sum += v;
        got++;
    }
    corio_mpsc_rx_release(rx);
    if (got != g.total) {
        fprintf(stderr, "mpsc: got %llu of %llu\n", (unsigned long long)got,
                (unsigned long long)g.total);
        exit(1);
    }
    g.sum = sum;
    return 0;
}

static int producer(void *arg)
{
    corio_mpsc_tx *tx = arg;
    for (uint64_t i = 0; i < g.per; i++)
        bench_check(corio_mpsc_send(tx, &i), "corio_mpsc_send");
    corio_mpsc_tx_release(tx);
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    bench_check(corio_mpsc_new(sizeof(uint64_t), (size_t)g.cap, &tx, &rx), "corio_mpsc_new");
    uint64_t t0 = now_ns();
    corio_task *c;
    bench_check(corio_spawn(consumer, rx, &c), "corio_spawn");
    for (uint64_t p = 0; p < g.producers; p++)
        bench_check(corio_spawn(producer, corio_mpsc_tx_clone(tx), NULL), "corio_spawn");
    corio_mpsc_tx_release(tx);
    bench_check(corio_task_join(c, NULL), "corio_task_join");
    g.secs = (double)(now_ns() - t0) / 1e9;
    return 0;
}

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "mpsc");
    uint64_t n = arg_u64(argc, argv, "n", 10000000);
    g.producers = arg_u64(argc, argv, "producers", 1);
    if (g.producers == 0)
        g.producers = 1;
    g.cap = arg_u64(argc, argv, "cap", 1024);
    g.per = n / g.producers;
    g.total = g.per * g.producers;
    bench_run(main_task, NULL);
    uint64_t expect = g.producers * (g.per * (g.per - 1) / 2);
    if (g.sum != expect) {
        fprintf(stderr, "mpsc: sum %llu, expected %llu\n", (unsigned long long)g.sum,
                (unsigned long long)expect);
        return 1;
    }
    bench_report("mpsc", threads, g.total, g.secs, "producers=%llu cap=%llu",
                 (unsigned long long)g.producers, (unsigned long long)g.cap);
    return 0;
}
