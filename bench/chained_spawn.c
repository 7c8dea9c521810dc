/* chained_spawn.c - each task spawns the next one and exits, depth n; the
 * last signals completion (../shared/peers/README.md).
 *
 *   chained_spawn [threads=1] [n=1000000]
 *
 * Detached coroutine tasks, as tokio's dropped JoinHandles: the task at depth
 * k spawns depth k-1, and depth 0 fires the one-shot future the main task
 * awaits (n+1 tasks in all, as in the tokio and Go peers). Only one or two
 * tasks are alive at any time, so one pooled stack serves the whole chain.
 */
#include <stdint.h>

#include "bench.h"

static struct {
    uint64_t n;
    bench_done done;
    double secs;
} g;

static int step(void *arg)
{
    uintptr_t left = (uintptr_t)arg;
    if (left == 0)
        bench_done_fire(&g.done);
    else
        bench_check(corio_spawn(step, (void *)(left - 1), NULL), "corio_spawn");
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    bench_done_init(&g.done);
    uint64_t t0 = now_ns();
    bench_check(corio_spawn(step, (void *)(uintptr_t)g.n, NULL), "corio_spawn");
    bench_check(corio_await(&g.done.base), "corio_await");
    g.secs = (double)(now_ns() - t0) / 1e9;
    return 0;
}

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "chained_spawn");
    g.n = arg_u64(argc, argv, "n", 1000000);
    bench_run(main_task, NULL);
    bench_report("chained_spawn", threads, g.n, g.secs, NULL);
    return 0;
}
