/* semaphore.c - `tasks` tasks each `iters` times: acquire one permit,
 * yield once while holding it, release; checks all permits are back.
 * ops = tasks x iters (../shared/peers/README.md).
 *
 *   semaphore [threads=1] [tasks=1000] [permits=10] [iters=1000]
 */
#include "bench.h"

static struct {
    uint64_t tasks, permits, iters;
    /* A line of its own, as a contended object wants: placed by the
     * linker after the library's globals, it straddled two lines in some
     * builds, which cost the 2-worker run 15%. */
    _Alignas(64) corio_semaphore sem;
    double secs;
} g;

static int worker(void *arg)
{
    (void)arg;
    for (uint64_t i = 0; i < g.iters; i++) {
        bench_check(corio_semaphore_acquire(&g.sem, 1), "corio_semaphore_acquire");
        bench_check(corio_yield(), "corio_yield");
        corio_semaphore_release(&g.sem, 1);
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
    int threads = bench_threads(argc, argv, "semaphore");
    g.tasks = arg_u64(argc, argv, "tasks", 1000);
    g.permits = arg_u64(argc, argv, "permits", 10);
    if (g.permits == 0)
        g.permits = 1;
    g.iters = arg_u64(argc, argv, "iters", 1000);
    corio_semaphore_init(&g.sem, (size_t)g.permits);
    bench_run(main_task, NULL);
    if (corio_semaphore_available(&g.sem) != g.permits) {
        fprintf(stderr, "semaphore: %zu permits back of %llu\n", corio_semaphore_available(&g.sem),
                (unsigned long long)g.permits);
        return 1;
    }
    bench_report("semaphore", threads, g.tasks * g.iters, g.secs, "tasks=%llu permits=%llu iters=%llu",
                 (unsigned long long)g.tasks, (unsigned long long)g.permits,
                 (unsigned long long)g.iters);
    return 0;
}
