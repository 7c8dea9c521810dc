/* ping_pong.c - `pairs` task pairs; A sends a u64 to B on a bounded channel
 * of capacity 1, B sends it back on another; `rounds` round trips per pair.
 * ops = pairs x rounds (../shared/peers/README.md).
 *
 *   ping_pong [threads=1] [pairs=1000] [rounds=1000]
 */
#include "bench.h"

static struct {
    uint64_t pairs, rounds;
    double secs;
} g;

typedef struct pair {
    corio_mpsc_tx *ping_tx, *pong_tx;
    corio_mpsc_rx *ping_rx, *pong_rx;
} pair;

static int echo(void *arg)
{
    pair *p = arg;
    uint64_t v;
    while (corio_mpsc_recv(p->ping_rx, &v) == 0)
        if (corio_mpsc_send(p->pong_tx, &v) != 0)
            break;
    corio_mpsc_rx_release(p->ping_rx);
    corio_mpsc_tx_release(p->pong_tx);
    return 0;
}

static int pinger(void *arg)
{
    pair *p = arg;
    for (uint64_t i = 0; i < g.rounds; i++) {
        uint64_t v;
        bench_check(corio_mpsc_send(p->ping_tx, &i), "corio_mpsc_send");
        bench_check(corio_mpsc_recv(p->pong_rx, &v), "corio_mpsc_recv");
        if (v != i) {
            fprintf(stderr, "ping_pong: got %llu, sent %llu\n", (unsigned long long)v,
                    (unsigned long long)i);
            exit(1);
        }
    }
    corio_mpsc_tx_release(p->ping_tx);
    corio_mpsc_rx_release(p->pong_rx);
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    pair *ps = calloc(g.pairs ? g.pairs : 1, sizeof *ps);
    corio_task **hs = malloc((g.pairs ? g.pairs : 1) * sizeof *hs);
    if (!ps || !hs)
        bench_check(-ENOMEM, "malloc");
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < g.pairs; i++) {
        pair *p = &ps[i];
        bench_check(corio_mpsc_new(sizeof(uint64_t), 1, &p->ping_tx, &p->ping_rx), "corio_mpsc_new");
        bench_check(corio_mpsc_new(sizeof(uint64_t), 1, &p->pong_tx, &p->pong_rx), "corio_mpsc_new");
        bench_check(corio_spawn(echo, p, NULL), "corio_spawn");
        bench_check(corio_spawn(pinger, p, &hs[i]), "corio_spawn");
    }
    for (uint64_t i = 0; i < g.pairs; i++)
        bench_check(corio_task_join(hs[i], NULL), "corio_task_join");
    g.secs = (double)(now_ns() - t0) / 1e9;
    free(hs);
    /* The echo tasks may still be releasing their handles: the runtime's
     * shutdown joins them before ps goes. */
    return 0;
}

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "ping_pong");
    g.pairs = arg_u64(argc, argv, "pairs", 1000);
    g.rounds = arg_u64(argc, argv, "rounds", 1000);
    bench_run(main_task, NULL);
    bench_report("ping_pong", threads, g.pairs * g.rounds, g.secs, "pairs=%llu rounds=%llu",
                 (unsigned long long)g.pairs, (unsigned long long)g.rounds);
    return 0;
}
