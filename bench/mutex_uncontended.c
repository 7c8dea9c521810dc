/* mutex_uncontended.c - one task: n x (lock, increment, unlock) on the
 * async mutex; checks the count. ops = n (../shared/peers/README.md).
 *
 *   mutex_uncontended [threads=1] [n=10000000]
 */
#include "bench.h"

static struct {
    uint64_t n, counter;
    double secs;
} g;

static int loop_task(void *arg)
{
    (void)arg;
    corio_mutex m;
    corio_mutex_init(&m);
    uint64_t count = 0;
    for (uint64_t i = 0; i < g.n; i++) {
        bench_check(corio_mutex_lock(&m), "corio_mutex_lock");
        count++;
        corio_mutex_unlock(&m);
    }
    g.counter = count;
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
    int threads = bench_threads(argc, argv, "mutex_uncontended");
    g.n = arg_u64(argc, argv, "n", 10000000);
    bench_run(main_task, NULL);
    if (g.counter != g.n) {
        fprintf(stderr, "mutex_uncontended: count %llu\n", (unsigned long long)g.counter);
        return 1;
    }
    bench_report("mutex_uncontended", threads, g.n, g.secs, NULL);
    return 0;
}
