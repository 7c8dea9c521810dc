/* mutex.c - `tasks` tasks each `iters` times: lock the async mutex,
 * increment a shared counter, every `yield_every`-th iteration yield while
 * holding it, unlock; checks the final count. ops = tasks x iters
 * (../shared/peers/README.md).
 *
 *   mutex [threads=1] [tasks=100] [iters=10000] [yield_every=100]
 */
#include "bench.h"

static struct {
    uint64_t tasks, iters, every, counter;
    _Alignas(64) corio_mutex m; /* a line of its own (see semaphore.c) */
    double secs;
} g = {.m = CORIO_MUTEX_INIT};

static int worker(void *arg)
{
    (void)arg;
    for (uint64_t i = 0; i < g.iters; i++) {
        bench_check(corio_mutex_lock(&g.m), "corio_mutex_lock");
        g.counter++;
        if (g.every > 0 && i % g.every == g.every - 1)
            bench_check(corio_yield(), "corio_yield");
        corio_mutex_unlock(&g.m);
    }
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
        bench_check(corio_spawn(worker, NULL, &hs[i]), "corio_spawn");
    for (uint64_t i = 0; i < g.tasks; i++)
        bench_check(corio_task_join(hs[i], NULL), "corio_task_join");
    g.secs = (double)(now_ns() - t0) / 1e9;
    free(hs);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "mutex");
    g.tasks = arg_u64(argc, argv, "tasks", 100);
    g.iters = arg_u64(argc, argv, "iters", 10000);
    g.every = arg_u64(argc, argv, "yield_every", 100);
    bench_run(main_task, NULL);
    if (g.counter != g.tasks * g.iters) {
        fprintf(stderr, "mutex: count %llu\n", (unsigned long long)g.counter);
        return 1;
    }
    bench_report("mutex", threads, g.tasks * g.iters, g.secs, "tasks=%llu iters=%llu yield_every=%llu",
                 (unsigned long long)g.tasks, (unsigned long long)g.iters,
                 (unsigned long long)g.every);
    return 0;
}
