/* yield_many.c - `tasks` coroutine tasks each yield to the scheduler `yields`
 * times (tokio yield_now, Go runtime.Gosched); the main task joins them all.
 * ops = tasks x yields (../shared/peers/README.md).
 *
 *   yield_many [threads=1] [tasks=1000] [yields=1000]
 *
 * As in the tokio peer, the main task keeps every join handle and joins them
 * in spawn order; secs runs from the first spawn to the last join.
 */
#include "bench.h"

static struct {
    uint64_t tasks, yields;
    double secs;
} g;

static int yielder(void *arg)
{
    (void)arg;
    for (uint64_t i = 0; i < g.yields; i++)
        bench_check(corio_yield(), "corio_yield");
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    corio_task **hs = malloc((g.tasks ? g.tasks : 1) * sizeof *hs);
    if (!hs)
        bench_check(-ENOMEM, "malloc");
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < g.tasks; i++)
        bench_check(corio_spawn(yielder, NULL, &hs[i]), "corio_spawn");
    for (uint64_t i = 0; i < g.tasks; i++)
        bench_check(corio_task_join(hs[i], NULL), "corio_task_join");
    g.secs = (double)(now_ns() - t0) / 1e9;
    free(hs);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "yield_many");
    g.tasks = arg_u64(argc, argv, "tasks", 1000);
    g.yields = arg_u64(argc, argv, "yields", 1000);
    bench_run(main_task, NULL);
    bench_report("yield_many", threads, g.tasks * g.yields, g.secs, "tasks=%llu yields=%llu",
                 (unsigned long long)g.tasks, (unsigned long long)g.yields);
    return 0;
}
