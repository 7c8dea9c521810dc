/* oneshot.c - one task, n times: make a oneshot channel, spawn a task that
 * sends the index on it, await the receive; checks the sum. ops = n
 * (../shared/peers/README.md).
 *
 *   oneshot [threads=1] [n=1000000]
 */
#include "bench.h"

static struct {
    uint64_t n, sum;
    double secs;
} g;

typedef struct job {
    corio_oneshot_tx *tx;
    uint64_t i;
} job;

/* A stackless sender: the spawned task only sends, like tokio's async
 * block; the index travels in the future itself. */
typedef struct send_fut {
    corio_future base;
    corio_oneshot_tx *tx;
    uint64_t i;
} send_fut;

static corio_poll send_poll(corio_future *f, corio_context *cx)
{
    (void)cx;
    send_fut *s = (send_fut *)f;
    (void)corio_oneshot_send(s->tx, &s->i);
    f->result = 0;
    return CORIO_READY;
}

static const corio_future_vtable send_vt = {send_poll, NULL};

static int loop_task(void *arg)
{
    (void)arg;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < g.n; i++) {
        corio_oneshot_tx *tx;
        corio_oneshot_rx *rx;
        bench_check(corio_oneshot_new(sizeof(uint64_t), &tx, &rx), "corio_oneshot_new");
        send_fut s = {.tx = tx, .i = i};
        corio_future_init(&s.base, &send_vt);
        bench_check(corio_spawn_future(&s.base, sizeof s, NULL), "corio_spawn_future");
        uint64_t v;
        bench_check(corio_oneshot_recv(rx, &v), "corio_oneshot_recv");
        corio_oneshot_rx_release(rx);
        sum += v;
    }
    g.sum = sum;
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    uint64_t t0 = now_ns();
    corio_task *t;
    bench_check(corio_spawn(loop_task, NULL, &t), "corio_spawn");
    bench_check(corio_task_join(t, NULL), "corio_task_join");
    g.secs = (double)(now_ns() - t0) / 1e9;
    return 0;
}

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "oneshot");
    g.n = arg_u64(argc, argv, "n", 1000000);
    bench_run(main_task, NULL);
    if (g.sum != g.n * (g.n ? g.n - 1 : 0) / 2) {
        fprintf(stderr, "oneshot: bad sum %llu\n", (unsigned long long)g.sum);
        return 1;
    }
    bench_report("oneshot", threads, g.n, g.secs, NULL);
    return 0;
}
