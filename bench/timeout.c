/* timeout.c - one task, n times: wrap a future in a 1 s timeout and await
 * it (corio_timeout; tokio::time::timeout); checks that none timed out and
 * the sum of the outputs. ops = n (../shared/peers/README.md). pending=0:
 * the future is ready at its first poll, so the timer is never armed (as in
 * tokio, the inner future is polled first); pending=1: it is pending once
 * (after waking its task), so the timer is armed in the wheel and then
 * cancelled: a timer insert and cancel per operation.
 *
 *   timeout [threads=1] [n=1000000] [pending=0]
 */
#include "bench.h"

static struct {
    uint64_t n, sum, timed_out;
    int pending;
    double secs;
} g;

typedef struct maybe_pending {
    corio_future base;
    uint64_t v;
    bool pending;
} maybe_pending;

static corio_poll maybe_poll(corio_future *f, corio_context *cx)
{
    maybe_pending *m = (maybe_pending *)f;
    if (m->pending) {
        m->pending = false;
        corio_waker_wake_by_ref(corio_context_waker(cx));
        return CORIO_PENDING;
    }
    f->result = 0;
    return CORIO_READY;
}

static const corio_future_vtable maybe_vt = {maybe_poll, NULL};

static int loop_task(void *arg)
{
    (void)arg;
    uint64_t sum = 0, timed_out = 0;
    bool pending = g.pending;
    for (uint64_t i = 0; i < g.n; i++) {
        maybe_pending m = {.v = i, .pending = pending};
        corio_future_init(&m.base, &maybe_vt);
        int rc = corio_timeout(&m.base, CORIO_SEC(1));
        if (rc == CORIO_ETIMEDOUT)
            timed_out++;
        else if (rc == 0)
            sum += m.v;
        else
            bench_check(rc, "corio_timeout");
    }
    g.sum = sum;
    g.timed_out = timed_out;
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
    int threads = bench_threads(argc, argv, "timeout");
    g.n = arg_u64(argc, argv, "n", 1000000);
    g.pending = arg_ll(argc, argv, "pending", 0) != 0;
    bench_run(main_task, NULL);
    uint64_t want = (uint64_t)((unsigned __int128)g.n * (g.n ? g.n - 1 : 0) / 2);
    if (g.timed_out != 0 || g.sum != want) {
        fprintf(stderr, "timeout: %llu timed out, sum %llu (want %llu)\n",
                (unsigned long long)g.timed_out, (unsigned long long)g.sum,
                (unsigned long long)want);
        return 1;
    }
    bench_report("timeout", threads, g.n, g.secs, "pending=%d timed_out=%llu", g.pending,
                 (unsigned long long)g.timed_out);
    return 0;
}
