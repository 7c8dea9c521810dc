/* stream_pipeline.c - one task, a five-stage stream over 0..n-1: then (an
 * async map that yields to the scheduler when x % yield_every == 0, 0:
 * never, and returns x+1), filter x % 3 != 0, map 2x, fold into a
 * wrapping u64 sum, checked. ops = n (../shared/peers/README.md). tokio:
 * stream::iter(..).then(..).filter(..).map(..).fold(..).
 *
 *   stream_pipeline [threads=1] [n=1000000] [yield_every=64]
 *
 * The async map is a real future every item, as tokio's async block is: the
 * corio_stream_async_fn initialises it in the then-stage's slot, and its
 * first poll either yields (wakes its task, PENDING, then READY at the next
 * poll) or completes. (Returning NULL for the items that need no future,
 * which the API allows, would skip that poll: not done here, to compare
 * the same work.)
 */
#include "bench.h"

#include <corio/stream.h>

static struct {
    uint64_t n, yield_every, sum;
    double secs;
} g;

/* The async block: yields once when asked, then answers x + 1. */
typedef struct plus_one {
    corio_future base;
    corio_item *out;
    uint64_t x;
    bool yield;
} plus_one;

static corio_poll plus_one_poll(corio_future *f, corio_context *cx)
{
    plus_one *p = (plus_one *)f;
    if (p->yield) { /* tokio's yield_now: wake ourselves, pending once */
        p->yield = false;
        corio_waker_wake_by_ref(corio_context_waker(cx));
        return CORIO_PENDING;
    }
    p->out->u = p->x + 1;
    f->result = 0;
    return CORIO_READY;
}

static const corio_future_vtable plus_one_vt = {plus_one_poll, NULL};

static corio_future *plus_one_start(void *slot, corio_item item, corio_item *out, void *arg)
{
    uint64_t every = *(const uint64_t *)arg;
    plus_one *p = slot;
    corio_future_init(&p->base, &plus_one_vt);
    p->out = out;
    p->x = item.u;
    p->yield = every != 0 && item.u % every == 0;
    return &p->base;
}

static bool not_div3(corio_item x, void *arg)
{
    (void)arg;
    return x.u % 3 != 0;
}

static corio_item twice(corio_item x, void *arg)
{
    (void)arg;
    return (corio_item){.u = x.u * 2};
}

static corio_item add(corio_item acc, corio_item x, void *arg)
{
    (void)arg;
    return (corio_item){.u = acc.u + x.u}; /* unsigned: wraps */
}

static int pipeline_task(void *arg)
{
    (void)arg;
    corio_stream_range src;
    corio_stream_then then;
    corio_stream_filter filter;
    corio_stream_map map;
    corio_stream_range_init(&src, 0, (int64_t)g.n);
    corio_stream_then_init(&then, &src.base, sizeof(plus_one), plus_one_start, &g.yield_every);
    corio_stream_filter_init(&filter, &then.base, not_div3, NULL);
    corio_stream_map_init(&map, &filter.base, twice, NULL);
    corio_item sum;
    bench_check(corio_stream_fold(&map.base, (corio_item){.u = 0}, add, NULL, &sum),
                "corio_stream_fold");
    g.sum = sum.u;
    return 0;
}

static int main_task(void *arg)
{
    (void)arg;
    uint64_t t0 = now_ns();
    corio_task *t;
    bench_check(corio_spawn(pipeline_task, NULL, &t), "corio_spawn");
    bench_check(corio_task_join(t, NULL), "corio_task_join");
    g.secs = (double)(now_ns() - t0) / 1e9;
    return 0;
}

int main(int argc, char **argv)
{
    int threads = bench_threads(argc, argv, "stream_pipeline");
    g.n = arg_u64(argc, argv, "n", 1000000);
    g.yield_every = arg_u64(argc, argv, "yield_every", 64);
    bench_run(main_task, NULL);
    uint64_t want = 0;
    for (uint64_t x = 1; x <= g.n; x++)
        if (x % 3 != 0)
            want += 2 * x;
    if (g.sum != want) {
        fprintf(stderr, "stream_pipeline: bad sum %llu, want %llu\n", (unsigned long long)g.sum,
                (unsigned long long)want);
        return 1;
    }
    bench_report("stream_pipeline", threads, g.n, g.secs, "yield_every=%llu",
                 (unsigned long long)g.yield_every);
    return 0;
}
