/* spawn_blocking.c - from inside a task, corio_spawn_blocking n trivial
 * jobs (each returns its index), then join every handle in order and add up
 * the results (tokio's spawn_blocking; see ../shared/peers/README.md).
 *
 *   spawn_blocking [threads=1] [n=100000]
 *
 * The pool is the runtime's default (up to 512 threads, 10 s keep-alive),
 * as tokio's. Prints also os_threads= (the process's threads at the end:
 * about the size the pool grew to).
 */
#include <stdlib.h>

#include "bench.h"

static struct {
    uint64_t n;
    double secs;
    uint64_t sum;
    long os_threads;
} g;

static int job(void *arg)
{
    return (int)(intptr_t)arg;
}

static long os_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    long n = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %ld", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

static int main_task(void *arg)
{
    (void)arg;
    corio_task **hs = malloc((g.n ? g.n : 1) * sizeof *hs);
    if (!hs) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < g.n; i++)
        bench_check(corio_spawn_blocking(job, (void *)(intptr_t)i, &hs[i]),
                    "corio_spawn_blocking");
    uint64_t sum = 0;
    for (uint64_t i = 0; i < g.n; i++) {
        int r = 0;
        bench_check(corio_task_join(hs[i], &r), "corio_task_join");
        sum += (uint64_t)r;
    }
    g.secs = (double)(now_ns() - t0) / 1e9;
    g.sum = sum;
    g.os_threads = os_threads();
    free(hs);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "spawn_blocking");
    g.n = arg_u64(argc, argv, "n", 100000);
    if (g.n > (uint64_t)INT32_MAX) {
        fprintf(stderr, "n too large: a job's result is an int\n");
        return 2;
    }
    bench_run(main_task, NULL);
    if (g.sum != g.n * (g.n ? g.n - 1 : 0) / 2) {
        fprintf(stderr, "spawn_blocking: sum %llu, expected %llu\n", (unsigned long long)g.sum,
                (unsigned long long)(g.n * (g.n ? g.n - 1 : 0) / 2));
        return 1;
    }
    bench_report("spawn_blocking", threads, g.n, g.secs, "os_threads=%ld", g.os_threads);
    return 0;
}
