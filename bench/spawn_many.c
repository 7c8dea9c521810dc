/* spawn_many.c - from inside a task, spawn n trivial tasks; each decrements
 * an atomic counter and the last one wakes the waiter (tokio's
 * benches/rt_multi_threaded.rs spawn_many; see ../shared/peers/README.md).
 *
 *   spawn_many [threads=1] [n=1000000]
 *
 * The spawner and the n children are detached coroutine tasks (like tokio's
 * dropped JoinHandles). The main task spawns the spawner, then awaits a
 * one-shot future the last child fires. secs runs from the spawner's spawn to
 * the main task's wake-up; building the runtime is not timed.
 */
#include <stdatomic.h>

#include "bench.h"

static struct {
    uint64_t n;
    _Atomic uint64_t remaining;
    bench_done done;
    double secs;
} g;

static int child(void *arg)
{
    (void)arg;
    bench_count_down(&g.remaining, &g.done);
    return 0;
}

static int spawner(void *arg)
{
    (void)arg;
    for (uint64_t i = 0; i < g.n; i++)
        bench_check(corio_spawn(child, NULL, NULL), "corio_spawn");
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    atomic_store_explicit(&g.remaining, g.n, memory_order_relaxed);
    bench_done_init(&g.done);
    if (g.n == 0)
        bench_done_fire(&g.done);
    uint64_t t0 = now_ns();
    bench_check(corio_spawn(spawner, NULL, NULL), "corio_spawn");
    bench_check(corio_await(&g.done.base), "corio_await");
    g.secs = (double)(now_ns() - t0) / 1e9;
    return 0;
}

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "spawn_many");
    g.n = arg_u64(argc, argv, "n", 1000000);
    bench_run(main_task, NULL);
    bench_report("spawn_many", threads, g.n, g.secs, NULL);
    return 0;
}
