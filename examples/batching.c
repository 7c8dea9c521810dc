/* batching.c - one task per item vs one task per batch of items.
 *
 * Mirrors "Reduce Context Switching" of seed 001 ("Rust Asynchronous
 * Programming Guide", Performance Optimization):
 *
 *     // Bad - too many small tasks
 *     for i in 0..1000 {
 *         tokio::spawn(async move { process_item(i).await; });
 *     }
 *     // Good - batch processing
 *     let chunk_size = 100;
 *     for chunk in items.chunks(chunk_size) {
 *         tokio::spawn(async move { for item in chunk { process_item(item).await; } });
 *     }
 *
 * How the C version maps onto it:
 *  - process_item() is a few nanoseconds of arithmetic (a 64-bit hash of the
 *    item, reduced below 1000). The Rust one is async; this one never needs
 *    to wait, which is what makes the difference stand out: each task costs
 *    its spawn (an allocation and a queue push), a stack and a context
 *    switch to run it, and its join, a thousand times what the item does.
 *  - tokio::spawn(async move { .. }) is corio_spawn(fn, arg, &handle), the
 *    item's number (or the chunk's) passed in `arg`. The Rust snippet drops
 *    its JoinHandles; here every handle is kept and joined, so that the
 *    timing covers the work until it is done, and the results are checked.
 *  - items.chunks(chunk_size) is a range of item numbers per task: [k*B,
 *    min((k+1)*B, N)). Each task adds its items' results into one shared
 *    atomic sum: one atomic add per item for the small tasks, one per batch
 *    for the batched ones.
 *  - #[tokio::main] is corio_run: a multi-thread runtime with one worker per
 *    CPU; the spawned tasks spread over the workers by work stealing.
 * Both ways must give the sum a plain loop gives. The times and their ratio
 * depend on the machine and its load; they are printed, not promised.
 *
 *   usage: batching [items] [batch]      (default 200000 items, batches of 1000)
 */
#include <corio.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static long n_items = 200000;
static long batch = 1000;

static _Atomic uint64_t sum;      /* what the tasks computed */
static atomic_long tasks_ran;     /* how many task bodies ran */

/* ---- the work ------------------------------------------------------------------ */

/* A short step of work: the item's hash (splitmix64), reduced below 1000. */
static uint64_t process_item(uint64_t i)
{
    uint64_t x = i + 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    x ^= x >> 31;
    return x % 1000;
}

/* Bad: one task per item. */
static int item_task(void *arg)
{
    uint64_t i = (uintptr_t)arg;
    atomic_fetch_add_explicit(&sum, process_item(i), memory_order_relaxed);
    atomic_fetch_add_explicit(&tasks_ran, 1, memory_order_relaxed);
    return 0;
}

/* Good: one task per chunk of `batch` items. */
static int batch_task(void *arg)
{
    long first = (long)(uintptr_t)arg * batch;
    long end = first + batch < n_items ? first + batch : n_items;
    uint64_t s = 0;
    for (long i = first; i < end; i++)
        s += process_item((uint64_t)i);
    atomic_fetch_add_explicit(&sum, s, memory_order_relaxed);
    atomic_fetch_add_explicit(&tasks_ran, 1, memory_order_relaxed);
    return 0;
}

/* ---- the two ways ---------------------------------------------------------------- */

typedef struct outcome {
    long spawned, ran;
    uint64_t sum;
    double ms;
} outcome;

/* Spawn `ntasks` tasks of fn(0..ntasks-1), join them all, time it. */
static int spawn_and_join(corio_fn fn, long ntasks, outcome *o)
{
    corio_task **h = malloc((size_t)ntasks * sizeof *h);
    if (!h)
        return -ENOMEM;
    atomic_store(&sum, 0);
    atomic_store(&tasks_ran, 0);
    corio_instant t0 = corio_instant_now();
    long spawned = 0;
    int rc = 0;
    for (; spawned < ntasks; spawned++) {
        rc = corio_spawn(fn, (void *)(uintptr_t)spawned, &h[spawned]);
        if (rc < 0)
            break;
    }
    int bad = 0;
    for (long k = 0; k < spawned; k++) {
        int r = -1;
        if (corio_task_join(h[k], &r) < 0 || r != 0)
            bad = 1;
    }
    o->ms = (double)(corio_instant_now() - t0) / 1e6;
    free(h);
    o->spawned = spawned;
    o->ran = atomic_load(&tasks_ran);
    o->sum = atomic_load(&sum);
    if (rc < 0)
        return rc;
    return bad ? CORIO_ECANCELED : 0;
}

static int async_main(void *arg)
{
    (void)arg;
    uint64_t want = 0; /* a plain loop, for reference */
    for (long i = 0; i < n_items; i++)
        want += process_item((uint64_t)i);
    printf("%ld items; process_item() is a hash of the item; sum from a plain loop: %llu\n",
           n_items, (unsigned long long)want);

    long nbatches = (n_items + batch - 1) / batch;
    outcome bad, good;
    int rc = spawn_and_join(item_task, n_items, &bad);
    if (rc < 0) {
        printf("one task per item: %s after %ld spawns\n", corio_strerror(rc), bad.spawned);
        return 1;
    }
    printf("  Bad  - one task per item:      %7ld tasks spawned, %7ld ran, sum %llu, "
           "%8.1f ms (%.0f ns per item)\n",
           bad.spawned, bad.ran, (unsigned long long)bad.sum, bad.ms, bad.ms * 1e6 / (double)n_items);
    rc = spawn_and_join(batch_task, nbatches, &good);
    if (rc < 0) {
        printf("batches: %s after %ld spawns\n", corio_strerror(rc), good.spawned);
        return 1;
    }
    printf("  Good - batches of %-6ld       %7ld tasks spawned, %7ld ran, sum %llu, "
           "%8.1f ms (%.0f ns per item)\n",
           batch, good.spawned, good.ran, (unsigned long long)good.sum, good.ms,
           good.ms * 1e6 / (double)n_items);
    printf("batching was %.1fx as fast here (timings vary with the machine and its load)\n",
           good.ms > 0 ? bad.ms / good.ms : 0.0);
    int same = bad.sum == want && good.sum == want;
    printf("both sums equal the plain loop's: %s\n", same ? "yes" : "no");
    return same && bad.ran == n_items && good.ran == nbatches ? 0 : 1;
}

#define USAGE_NAME "batching"
#define USAGE_ARGS "batching [items] [batch]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        n_items = arg_long(argv[1], 1, 10000000);
    if (argc > 2)
        batch = arg_long(argv[2], 1, 10000000);
    if (n_items < 1)
        n_items = 1;
    if (batch < 1)
        batch = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result = 1;
    int rc = corio_run(async_main, NULL, &result);
    if (rc < 0)
        printf("corio_run: %s\n", corio_strerror(rc));
    return rc == 0 ? result : 1;
}
