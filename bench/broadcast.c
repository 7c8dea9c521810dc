/* broadcast.c - one sender task sends u64 0..n-1 on a broadcast channel of
 * capacity `cap`; each of `receivers` tasks receives all n and checks count
 * and sum. ops = n x receivers (../shared/peers/README.md).
 *
 *   broadcast [threads=1] [receivers=8] [n=1000000] [cap=1024]
 *
 * As in the tokio peer, the send never waits, so the sender paces itself:
 * every receiver publishes how many values it has consumed (received plus
 * lagged), and every cap/2 sends the sender yields until the slowest is at
 * most cap/2 behind. The next cap/2 sends then overwrite nothing unread,
 * so lagged=0 in a normal run; sender_yields counts those yields.
 */
#include "bench.h"

#define MAX_RECEIVERS 256

typedef struct progress {
    _Alignas(64) _Atomic uint64_t consumed; /* one line each: no false sharing */
} progress;

typedef struct receiver {
    corio_broadcast_rx *rx;
    progress *prog;
    uint64_t sum, got, lagged;
} receiver;

static struct {
    uint64_t n, receivers, cap, yields;
    corio_broadcast_tx *tx;
    progress prog[MAX_RECEIVERS];
    receiver r[MAX_RECEIVERS];
    double secs;
} g;

static int recv_task(void *arg)
{
    receiver *r = arg;
    uint64_t sum = 0, got = 0, lagged = 0;
    for (;;) {
        uint64_t v, lag = 0;
        int rc = corio_broadcast_recv(r->rx, &v, &lag);
        if (rc == CORIO_ECLOSED)
            break;
        bench_check(rc, "corio_broadcast_recv");
        lagged += lag;
        sum += v;
        got++;
        /* Release: pairs with the sender's acquire (as in the peer). */
        atomic_store_explicit(&r->prog->consumed, got + lagged, memory_order_release);
    }
    r->sum = sum;
    r->got = got;
    r->lagged = lagged;
    return 0;
}

static int send_task(void *arg)
{
    (void)arg;
    uint64_t half = g.cap / 2;
    for (uint64_t i = 0; i < g.n; i++) {
        if (i >= half && i % half == 0) {
            for (;;) {
                uint64_t min = UINT64_MAX;
                for (uint64_t k = 0; k < g.receivers; k++) {
                    uint64_t c = atomic_load_explicit(&g.prog[k].consumed, memory_order_acquire);
                    if (c < min)
                        min = c;
                }
                if (min + half >= i)
                    break;
                g.yields++;
                bench_check(corio_yield(), "corio_yield");
            }
        }
        bench_check(corio_broadcast_send(g.tx, &i), "corio_broadcast_send");
    }
    corio_broadcast_tx_release(g.tx);
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    corio_broadcast_rx *first;
    bench_check(corio_broadcast_new(sizeof(uint64_t), (size_t)g.cap, &g.tx, &first),
                "corio_broadcast_new");
    corio_task *hs[MAX_RECEIVERS];
    uint64_t t0 = now_ns();
    for (uint64_t k = 0; k < g.receivers; k++) {
        receiver *r = &g.r[k];
        r->prog = &g.prog[k];
        if (k == 0)
            r->rx = first;
        else
            bench_check(corio_broadcast_subscribe(g.tx, &r->rx), "corio_broadcast_subscribe");
        bench_check(corio_spawn(recv_task, r, &hs[k]), "corio_spawn");
    }
    corio_task *s;
    bench_check(corio_spawn(send_task, NULL, &s), "corio_spawn");
    bench_check(corio_task_join(s, NULL), "corio_task_join");
    for (uint64_t k = 0; k < g.receivers; k++)
        bench_check(corio_task_join(hs[k], NULL), "corio_task_join");
    g.secs = (double)(now_ns() - t0) / 1e9;
    for (uint64_t k = 0; k < g.receivers; k++)
        corio_broadcast_rx_release(g.r[k].rx);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "broadcast");
    g.receivers = arg_u64(argc, argv, "receivers", 8);
    g.n = arg_u64(argc, argv, "n", 1000000);
    g.cap = arg_u64(argc, argv, "cap", 1024);
    if (g.receivers == 0)
        g.receivers = 1;
    if (g.receivers > MAX_RECEIVERS) {
        fprintf(stderr, "broadcast: at most %d receivers\n", MAX_RECEIVERS);
        return 2;
    }
    if (g.cap < 2)
        g.cap = 2;
    bench_run(main_task, NULL);
    uint64_t lagged = 0;
    for (uint64_t k = 0; k < g.receivers; k++) {
        receiver *r = &g.r[k];
        lagged += r->lagged;
        if (r->got + r->lagged != g.n ||
            (r->lagged == 0 && r->sum != g.n * (g.n ? g.n - 1 : 0) / 2)) {
            fprintf(stderr, "broadcast: receiver %llu got %llu (lagged %llu), sum %llu\n",
                    (unsigned long long)k, (unsigned long long)r->got,
                    (unsigned long long)r->lagged, (unsigned long long)r->sum);
            return 1;
        }
    }
    bench_report("broadcast", threads, g.n * g.receivers, g.secs,
                 "receivers=%llu cap=%llu lagged=%llu sender_yields=%llu",
                 (unsigned long long)g.receivers, (unsigned long long)g.cap,
                 (unsigned long long)lagged, (unsigned long long)g.yields);
    return 0;
}
