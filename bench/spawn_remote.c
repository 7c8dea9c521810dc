/* spawn_remote.c - a plain thread outside the runtime spawns n trivial
 * tasks into it; each decrements an atomic counter, the last one wakes the
 * waiter (tokio's Handle::spawn from a std::thread; see
 * ../shared/peers/README.md).
 *
 *   spawn_remote [threads=1] [n=1000000]
 *
 * The spawner names the runtime (corio_spawn_opts.rt) and detaches the
 * coroutine tasks. On the multi-thread runtime they go to its sharded
 * global queue (no lock shared by every remote spawn); on the current-thread
 * one to its inject queue. secs runs from the first spawn to the main task's
 * wake-up.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "bench.h"

static struct {
    uint64_t n;
    corio_rt *rt;
    _Atomic uint64_t remaining;
    bench_done done;
    uint64_t t0;
    double secs;
} g;

static int child(void *arg)
{
    (void)arg;
    bench_count_down(&g.remaining, &g.done);
    return 0;
}

static void *spawner(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "spawner"); /* apart from the workers in perf */
    corio_spawn_opts o = {.rt = g.rt};
    g.t0 = now_ns();
    for (uint64_t i = 0; i < g.n; i++)
        bench_check(corio_spawn_with(&o, child, NULL, NULL), "corio_spawn_with");
    return NULL;
}

static int main_task(void *arg)
{
    (void)arg;
    g.rt = corio_rt_current();
    atomic_store_explicit(&g.remaining, g.n, memory_order_relaxed);
    bench_done_init(&g.done);
    if (g.n == 0)
        bench_done_fire(&g.done);
    pthread_t th;
    if (pthread_create(&th, NULL, spawner, NULL) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        exit(1);
    }
    bench_check(corio_await(&g.done.base), "corio_await");
    uint64_t t1 = now_ns();
    pthread_join(th, NULL); /* orders g.t0 */
    g.secs = (double)(t1 - g.t0) / 1e9;
    return 0;
}

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "spawn_remote");
    g.n = arg_u64(argc, argv, "n", 1000000);
    bench_run(main_task, NULL);
    bench_report("spawn_remote", threads, g.n, g.secs, NULL);
    return 0;
}
