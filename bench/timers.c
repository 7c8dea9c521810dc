/* timers.c - n tasks each sleep a pseudo-random time in [0, max_ms] ms
 * (xorshift64*, the peers' seed), then count down; the last one wakes the
 * waiter (../shared/peers/README.md).
 *
 *   timers [threads=1] [n=1000000] [max_ms=1000]
 *
 * Each sleeper is a stackless task: a small custom future embedding a
 * corio_timer, spawned with corio_spawn_future, so a task costs the task
 * header plus 64 bytes and no stack. As in the tokio and Go peers the sleep
 * starts when the task first runs (tokio's sleep() reads the clock when the
 * task's body starts), not when it is spawned. Until that first poll the
 * future's `result` field holds the duration plus one: it is the future's
 * own field until the future is ready, and it keeps the future at 64 bytes.
 *
 * Prints also max_ms=, spawn_secs= (the spawn loop alone) and late_ms=
 * (secs * 1000 - max_ms), like the peers.
 */
#include <limits.h>
#include <stdatomic.h>

#include "bench.h"

static struct {
    uint64_t n;
    _Atomic uint64_t remaining;
    bench_done done;
    uint64_t max_ms;
    double secs, spawn_secs;
} g;

typedef struct sleeper {
    corio_future base; /* result: ms + 1 until the first poll, then 0 */
    corio_timer timer;
} sleeper;

static corio_poll sleeper_poll(corio_future *f, corio_context *cx)
{
    sleeper *s = (sleeper *)f;
    if (f->result > 0) { /* first poll: the sleep starts now */
        corio_timer_init(&s->timer, corio_instant_add(corio_instant_now(), CORIO_MSEC(f->result - 1)));
        f->result = 0;
    }
    if (corio_timer_poll(&s->timer, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    bench_count_down(&g.remaining, &g.done);
    return CORIO_READY;
}

static void sleeper_drop(corio_future *f)
{
    corio_timer_cancel(&((sleeper *)f)->timer);
}

static const corio_future_vtable sleeper_vtable = {sleeper_poll, sleeper_drop};

static int main_task(void *arg)
{
    (void)arg;
    uint64_t seed = BENCH_SEED;
    atomic_store_explicit(&g.remaining, g.n, memory_order_relaxed);
    bench_done_init(&g.done);
    if (g.n == 0)
        bench_done_fire(&g.done);
    sleeper s;
    corio_future_init(&s.base, &sleeper_vtable);
    corio_timer_init(&s.timer, 0);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < g.n; i++) {
        s.base.result = (int)(rng_next(&seed) % (g.max_ms + 1)) + 1;
        bench_check(corio_spawn_future(&s.base, sizeof s, NULL), "corio_spawn_future");
    }
    g.spawn_secs = (double)(now_ns() - t0) / 1e9;
    bench_check(corio_await(&g.done.base), "corio_await");
    g.secs = (double)(now_ns() - t0) / 1e9;
    return 0;
}

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "timers");
    g.n = arg_u64(argc, argv, "n", 1000000);
    g.max_ms = arg_u64(argc, argv, "max_ms", 1000);
    if (g.max_ms >= INT_MAX) {
        fprintf(stderr, "timers: max_ms must be below %d\n", INT_MAX);
        return 2;
    }
    bench_run(main_task, NULL);
    bench_report("timers", threads, g.n, g.secs, "max_ms=%llu spawn_secs=%.6f late_ms=%.1f",
                 (unsigned long long)g.max_ms, g.spawn_secs, g.secs * 1000 - (double)g.max_ms);
    return 0;
}
