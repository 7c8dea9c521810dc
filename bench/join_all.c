/* join_all.c - from inside a task, `rounds` times: spawn `tasks` tasks that
 * each yield once and return their index, then wait for all their join
 * handles together (corio_task_join_all; tokio: futures' join_all) and add
 * up the results; checks the sum. ops = tasks x rounds
 * (../shared/peers/README.md).
 *
 * The tasks are stackless, as tokio's async blocks are: a future that is
 * pending once (after waking its task: tokio's yield_now) and then ready
 * with its index.
 *
 *   join_all [threads=1] [tasks=10000] [rounds=100]
 */
#include "bench.h"

#include <corio/join.h>

static struct {
    uint64_t tasks, rounds, sum;
    double secs;
} g;

typedef struct yield_once {
    corio_future base;
    int index;
    bool yielded;
} yield_once;

static corio_poll yield_once_poll(corio_future *f, corio_context *cx)
{
    yield_once *y = (yield_once *)f;
    if (!y->yielded) {
        y->yielded = true;
        corio_waker_wake_by_ref(corio_context_waker(cx));
        return CORIO_PENDING;
    }
    f->result = y->index;
    return CORIO_READY;
}

static const corio_future_vtable yield_once_vt = {yield_once_poll, NULL};

static int loop_task(void *arg)
{
    (void)arg;
    size_t n = (size_t)g.tasks;
    corio_task **handles = malloc((n ? n : 1) * sizeof *handles);
    int *results = malloc((n ? n : 1) * sizeof *results);
    if (!handles || !results)
        bench_check(-ENOMEM, "malloc");
    uint64_t sum = 0;
    for (uint64_t r = 0; r < g.rounds; r++) {
        for (size_t i = 0; i < n; i++) {
            yield_once y = {.index = (int)i, .yielded = false};
            corio_future_init(&y.base, &yield_once_vt);
            bench_check(corio_spawn_future(&y.base, sizeof y, &handles[i]), "corio_spawn_future");
        }
        bench_check(corio_task_join_all(handles, n, results), "corio_task_join_all");
        for (size_t i = 0; i < n; i++)
            sum += (uint64_t)results[i];
    }
    free(handles);
    free(results);
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
    int threads = bench_threads(argc, argv, "join_all");
    g.tasks = arg_u64(argc, argv, "tasks", 10000);
    g.rounds = arg_u64(argc, argv, "rounds", 100);
    if (g.tasks > INT32_MAX) {
        fprintf(stderr, "join_all: bad value for tasks: %llu\n", (unsigned long long)g.tasks);
        return 2;
    }
    bench_run(main_task, NULL);
    uint64_t want = g.rounds * (g.tasks * (g.tasks ? g.tasks - 1 : 0) / 2);
    if (g.sum != want) {
        fprintf(stderr, "join_all: bad sum %llu (want %llu)\n", (unsigned long long)g.sum,
                (unsigned long long)want);
        return 1;
    }
    bench_report("join_all", threads, g.tasks * g.rounds, g.secs, "tasks=%llu",
                 (unsigned long long)g.tasks);
    return 0;
}
