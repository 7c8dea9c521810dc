/* tests/test_stack_pool.c - coroutine stacks: memory per coroutine, lazy
 * stacks, the pool and custom sizes.
 *
 * The promises tested come from DESIGN.md and include/corio/task.h: an idle
 * coroutine costs a few KiB of resident memory; a task that has not run yet
 * costs no stack; 100k live coroutines work under the kernel's default
 * vm.max_map_count (65530); stacks are reused and a burst's memory goes
 * back; a stack size is honoured per spawn and per runtime, and one above
 * CORIO_STACK_SIZE_MAX is refused. Memory figures are only enforced in the
 * plain build: sanitizers change the memory picture. Overflows are tested
 * in test_stack.c.
 */
#include <corio.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/stack.h"
#include "test.h"
#include "util.h"

#define KIB 1024u

/* ---- helpers ---------------------------------------------------------------- */

/* A field of /proc/self/status in KiB (VmSize, VmRSS...), -1 if absent. */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kb = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

static long count_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        if (c == '\n')
            n++;
    fclose(f);
    return n;
}

/* ---- 100k live coroutines --------------------------------------------------- */

static gate live_gate;

static int live_fn(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    return gate_wait(&live_gate, i);
}

typedef struct live_args {
    size_t n;
    double rss_per_coro;  /* bytes */
    double vm_per_coro;   /* bytes */
    long mappings;
    stack_stats stats; /* with every coroutine live */
} live_args;

static int live_main(void *arg)
{
    live_args *la = arg;
    gate_init(&live_gate, la->n);
    long rss0 = test_rss_kb(), vm0 = status_kb("VmSize");
    corio_instant t0 = corio_instant_now();
    for (size_t i = 0; i < la->n; i++)
        CHECK_EQ(corio_spawn(live_fn, (void *)(uintptr_t)i, NULL), 0);
    yield_until(&live_gate.started, la->n);
    corio_instant t1 = corio_instant_now();
    long rss1 = test_rss_kb(), vm1 = status_kb("VmSize");
    la->mappings = count_mappings();
    stack_get_stats(&la->stats);
    la->rss_per_coro = (double)(rss1 - rss0) * 1024.0 / (double)la->n;
    la->vm_per_coro = (double)(vm1 - vm0) * 1024.0 / (double)la->n;
    CHECK_EQ(live_gate.passed, 0);
    gate_open(&live_gate, la->n);
    yield_until(&live_gate.passed, la->n);
    corio_instant t2 = corio_instant_now();
    printf("%zu live coroutines: RSS +%ld KiB = %.0f bytes each, address space %.0f KiB each, "
           "%ld mappings (max_map_count %ld); started in %.1f ms, finished in %.1f ms\n",
           la->n, rss1 - rss0, la->rss_per_coro, la->vm_per_coro / 1024.0, la->mappings,
           max_map_count(), (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6);
    gate_free(&live_gate);
    return 0;
}

TEST(stack_100k_live_coroutines_memory)
{
    live_args la;
    memset(&la, 0, sizeof la);
    la.n = SCALE(100000, 20000, 2000);
    CHECK_EQ(run_main(live_main, &la), 0);
    CHECK(la.mappings > 0 && la.mappings < max_map_count());
    printf("stacks: %zu mapped, %zu guarded (%s guards)\n", la.stats.mapped_stacks,
           la.stats.guarded_stacks, la.stats.light_guards ? "lightweight" : "mapping");
    /* Lightweight guards cost no mapping: every stack has one, far past
     * the budget that mapping guards have (a quarter of max_map_count). */
    if (la.stats.light_guards)
        CHECK_EQ(la.stats.guarded_stacks, la.stats.mapped_stacks);
    /* One page of stack and the task; with mapping guards, two pages where
     * the kernel commits a page for the canary read of an unguarded stack
     * (docs/runtime.md). Under qemu-user the RSS is the emulator's, with
     * bookkeeping of its own for every guest page touched (about 1.5 KiB
     * more here). */
    if (!UNDER_SAN)
        CHECK(la.rss_per_coro <=
              (test_emulated() ? 12288.0 : la.stats.light_guards ? 6144.0 : 8192.0));
}

/* ---- unstarted tasks cost no stack ---------------------------------------------- */

static size_t unstarted_ran;

static int unstarted_fn(void *arg)
{
    unstarted_ran++;
    return 0;
}

typedef struct unstarted_args {
    size_t n;
    double rss_per, vm_per;
} unstarted_args;

static int unstarted_main(void *arg)
{
    unstarted_args *ua = arg;
    long rss0 = test_rss_kb(), vm0 = status_kb("VmSize");
    for (size_t i = 0; i < ua->n; i++)
        CHECK_EQ(corio_spawn(unstarted_fn, NULL, NULL), 0);
    long rss1 = test_rss_kb(), vm1 = status_kb("VmSize");
    CHECK_EQ(unstarted_ran, 0); /* nothing ran: no yield yet */
    ua->rss_per = (double)(rss1 - rss0) * 1024.0 / (double)ua->n;
    ua->vm_per = (double)(vm1 - vm0) * 1024.0 / (double)ua->n;
    printf("%zu spawned, not yet run: RSS %.0f bytes each, address space %.0f bytes each\n",
           ua->n, ua->rss_per, ua->vm_per);
    yield_until(&unstarted_ran, ua->n);
    return 0;
}

TEST(stack_unstarted_tasks_cost_no_stack)
{
    unstarted_args ua;
    memset(&ua, 0, sizeof ua);
    ua.n = SCALE(100000, 20000, 2000);
    CHECK_EQ(run_main(unstarted_main, &ua), 0);
    CHECK_EQ(unstarted_ran, ua.n);
    if (!UNDER_SAN) {
        CHECK(ua.rss_per < 512.0);
        /* No stack reserved either: a stack is 256 KiB of address space. */
        CHECK(ua.vm_per < 4096.0);
    }
}

/* ---- the pool: stacks are reused, and a burst's memory goes back -------------- */

static gate burst_gate;
static size_t burst_stack_bytes;

static int burst_fn(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    if (burst_stack_bytes)
        CHECK(deep_recurse(0, frames_for(burst_stack_bytes)) != 12345678);
    return gate_wait(&burst_gate, i);
}

typedef struct burst_args {
    size_t n;
    long vm_growth[2];
    long rss_base, rss_peak, rss_after;
} burst_args;

static void burst_round(size_t n)
{
    gate_init(&burst_gate, n);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(corio_spawn(burst_fn, (void *)(uintptr_t)i, NULL), 0);
    yield_until(&burst_gate.started, n);
}

static void burst_finish(size_t n)
{
    gate_open(&burst_gate, n);
    yield_until(&burst_gate.passed, n);
    /* Let the finished tasks be torn down. */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(corio_yield(), 0);
    gate_free(&burst_gate);
}

static int reuse_main(void *arg)
{
    burst_args *ba = arg;
    burst_stack_bytes = 0;
    for (int round = 0; round < 2; round++) {
        long vm0 = status_kb("VmSize");
        burst_round(ba->n);
        ba->vm_growth[round] = status_kb("VmSize") - vm0;
        burst_finish(ba->n);
    }
    printf("two rounds of %zu live coroutines: address space +%ld KiB, then +%ld KiB\n", ba->n,
           ba->vm_growth[0], ba->vm_growth[1]);
    return 0;
}

TEST(stack_pool_reuses_stacks)
{
    burst_args ba;
    memset(&ba, 0, sizeof ba);
    ba.n = SCALE(20000, 5000, 1000);
    CHECK_EQ(run_main(reuse_main, &ba), 0);
    CHECK(ba.vm_growth[0] > 0);
    /* The second round runs on the first round's stacks. (TSan maps new
     * shadow state for every new fiber: no figure to check there.) */
    if (!UNDER_TSAN)
        CHECK(ba.vm_growth[1] * 20 < ba.vm_growth[0]);
}

/* ---- each thread's new stacks are neighbours ------------------------------------ */

/* Two runtime threads taking new stacks turn about get runs of neighbours
 * each (stack.h: STACK_COLD_BATCH), not every other stack of one slab; and
 * a flushed cache gives back the cold stacks it held. */
TEST(stack_caches_take_neighbouring_stacks)
{
    enum { N = 40 };
    /* A size no other test uses: its pool list starts empty. */
    size_t size = stack_round_size(200 * KIB + 3 * 4096);
    stack_cache a, b;
    stack_cache_init(&a, size);
    stack_cache_init(&b, size);
    stack_stats before;
    stack_get_stats(&before);
    stack *sa[N], *sb[N];
    for (int i = 0; i < N; i++) {
        sa[i] = stack_get(&a, size);
        sb[i] = stack_get(&b, size);
        CHECK(sa[i] && sb[i]);
    }
    /* Neighbours: one stride apart (a guard, if any, between them). A run
     * breaks only where a slab ends: 16 stacks a slab with guard mappings,
     * 64 otherwise. */
    int near_a = 0, near_b = 0;
    for (int i = 1; i < N; i++) {
        size_t stride_a = size + (sa[i]->guarded ? STACK_GUARD_BYTES : 0);
        size_t stride_b = size + (sb[i]->guarded ? STACK_GUARD_BYTES : 0);
        near_a += (size_t)(sa[i]->lo - sa[i - 1]->lo) == stride_a;
        near_b += (size_t)(sb[i]->lo - sb[i - 1]->lo) == stride_b;
    }
    printf("neighbours in a row: %d and %d of %d\n", near_a, near_b, N - 1);
    CHECK(near_a >= N - 1 - (N + 15) / 16);
    CHECK(near_b >= N - 1 - (N + 15) / 16);
    for (int i = 0; i < N; i++) {
        stack_put(&a, sa[i]);
        stack_put(&b, sb[i]);
    }
    stack_cache_flush(&a);
    stack_cache_flush(&b);
    stack_stats after;
    stack_get_stats(&after);
    /* Every stack made for this size is back in the pool, the cold ones
     * the caches held included. */
    CHECK_EQ(after.pooled_stacks - before.pooled_stacks,
             after.mapped_stacks - before.mapped_stacks);
}

static int give_back_main(void *arg)
{
    burst_args *ba = arg;
    burst_stack_bytes = 128 * KIB;
    ba->rss_base = test_rss_kb();
    burst_round(ba->n);
    ba->rss_peak = test_rss_kb();
    burst_finish(ba->n);
    /* Finished coroutines' stacks go back when the runtime next has nothing
     * to do (stack_cache_trim, a batch per loop turn): sleeping gives it
     * that. How long the kernel takes to free the pages depends on the
     * machine (about 50 ms here, seconds on a loaded VM), so wait until the
     * memory has gone, within a bound that only a runtime that never gives
     * stacks back would reach. */
    long peak = ba->rss_peak - ba->rss_base;
    double t0 = mono_ms();
    do {
        CHECK_EQ(corio_sleep(CORIO_MSEC(20)), 0);
        ba->rss_after = test_rss_kb();
    } while ((ba->rss_after - ba->rss_base) * 100 >= peak * 35 && mono_ms() - t0 < 20000);
    printf("%zu coroutines using 128 KiB of stack each: RSS +%ld KiB at the peak, +%ld KiB "
           "kept after they finished\n",
           ba->n, ba->rss_peak - ba->rss_base, ba->rss_after - ba->rss_base);
    return 0;
}

TEST(stack_burst_memory_goes_back)
{
    burst_args ba;
    memset(&ba, 0, sizeof ba);
    ba.n = SCALE(2000, 2000, 300);
    CHECK_EQ(run_main(give_back_main, &ba), 0);
    long peak = ba.rss_peak - ba.rss_base, kept = ba.rss_after - ba.rss_base;
    CHECK(peak > (long)(ba.n * 100)); /* the stacks were really used: ~128 KiB each */
    if (!UNDER_SAN)
        CHECK(kept * 100 < peak * 35);
}

/* ---- custom stack sizes ------------------------------------------------------- */

static int big_stack_task(void *arg)
{
    size_t bytes = *(size_t *)arg;
    int r = deep_recurse(0, frames_for(bytes));
    CHECK_EQ(corio_yield(), 0); /* switches out and in with a deep high-water mark */
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    return r == 12345678 ? -1 : 1;
}

static int per_spawn_main(void *arg)
{
    size_t use = 400 * KIB;
    corio_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.stack_size = 512 * KIB;
    o.name = "big-stack";
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_with(&o, big_stack_task, &use, &t), 0);
    CHECK(strcmp(corio_task_name(t), "big-stack") == 0);
    int res = 0;
    CHECK_EQ(corio_task_join(t, &res), 0);
    CHECK_EQ(res, 1);
    /* Several at once, so they cannot share one stack. */
    corio_task *ts[8];
    for (int i = 0; i < 8; i++)
        CHECK_EQ(corio_spawn_with(&o, big_stack_task, &use, &ts[i]), 0);
    for (int i = 0; i < 8; i++) {
        CHECK_EQ(corio_task_join(ts[i], &res), 0);
        CHECK_EQ(res, 1);
    }
    return 0;
}

TEST(stack_custom_size_per_spawn)
{
    CHECK_EQ(run_main(per_spawn_main, NULL), 0);
}

static int per_rt_main(void *arg)
{
    size_t use = 400 * KIB;
    /* The main task itself has the runtime's default size... */
    CHECK(deep_recurse(0, frames_for(use)) != 12345678);
    /* ...and so have the tasks it spawns. */
    corio_task *t;
    CHECK_EQ(corio_spawn(big_stack_task, &use, &t), 0);
    CHECK(t != NULL);
    int res = 0;
    CHECK_EQ(corio_task_join(t, &res), 0);
    CHECK_EQ(res, 1);
    return 0;
}

TEST(stack_custom_size_per_runtime)
{
    corio_rt *rt = new_rt_sized(512 * KIB);
    int r = -1;
    CHECK_EQ(corio_rt_block_on(rt, per_rt_main, NULL, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* Small custom stacks that finished wait in the runtime's cache (on its
 * dirty list) next to the default-size ones; a task of the default size
 * spawned afterwards must get a default-size stack, not one of those: it
 * uses 200 KiB of its 256 KiB. Repeated, with the small stacks returned
 * both before and while the deep task runs. */
static int small_task(void *arg)
{
    (void)arg;
    CHECK(deep_recurse(0, 4) != 12345678); /* touches its stack a little */
    return 1;
}

static int sizes_mixed_main(void *arg)
{
    (void)arg;
    size_t use = 200 * KIB;
    corio_spawn_opts small;
    memset(&small, 0, sizeof small);
    small.stack_size = 16 * KIB;
    for (int round = 0; round < 4; round++) {
        corio_task *ts[100];
        for (int i = 0; i < 100; i++)
            CHECK_EQ(corio_spawn_with(&small, small_task, NULL, &ts[i]), 0);
        for (int i = 0; i < 100; i++)
            CHECK_EQ(corio_task_join(ts[i], NULL), 0);
        corio_task *deep;
        CHECK_EQ(corio_spawn(big_stack_task, &use, &deep), 0);
        for (int i = 0; i < 50; i++)
            CHECK_EQ(corio_spawn_with(&small, small_task, NULL, NULL), 0);
        int res = 0;
        CHECK_EQ(corio_task_join(deep, &res), 0);
        CHECK_EQ(res, 1);
    }
    return 0;
}

TEST(stack_default_size_after_small_stacks_returned)
{
    CHECK_EQ(run_main(sizes_mixed_main, NULL), 0);
}

/* A stack size above CORIO_STACK_SIZE_MAX is refused up front (-EINVAL),
 * for a spawn and for a runtime's default, rather than failing later when
 * the stack is mapped: nothing is spawned and the function never runs. */
static size_t too_big_ran;

static int too_big_fn(void *arg)
{
    too_big_ran++;
    return 0;
}

typedef struct sleeper_fut_for_size_check {
    corio_future base;
} sleeper_fut_for_size_check;

static corio_poll ready_poll(corio_future *f, corio_context *cx)
{
    (void)cx;
    f->result = 0;
    return CORIO_READY;
}
static const corio_future_vtable ready_vt = {ready_poll, NULL};

static int too_big_main(void *arg)
{
    corio_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.stack_size = CORIO_STACK_SIZE_MAX + 1;
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_with(&o, too_big_fn, NULL, &t), -EINVAL);
    CHECK(t == NULL);
    CHECK_EQ(corio_spawn_with(&o, too_big_fn, NULL, NULL), -EINVAL);
    o.stack_size = (size_t)-1;
    CHECK_EQ(corio_spawn_with(&o, too_big_fn, NULL, NULL), -EINVAL);
    o.stack_size = (size_t)1 << 60; /* once wrapped around to a 64 KiB mapping */
    CHECK_EQ(corio_spawn_with(&o, too_big_fn, NULL, NULL), -EINVAL);
    sleeper_fut_for_size_check sf;
    corio_future_init(&sf.base, &ready_vt); /* valid: only the size is wrong */
    CHECK_EQ(corio_spawn_future_with(&o, &sf.base, sizeof sf, NULL), -EINVAL);
    CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    CHECK_EQ(too_big_ran, 0);
    /* The runtime is unharmed: a spawn with a valid size still runs. */
    o.stack_size = 64 * KIB;
    CHECK_EQ(corio_spawn_with(&o, too_big_fn, NULL, &t), 0);
    CHECK_EQ(corio_task_join(t, NULL), 0);
    CHECK_EQ(too_big_ran, 1);
    /* The largest size allowed works (committed lazily: it costs address
     * space), or, where the address space is short, fails with -ENOMEM as
     * the task's result: never a crash. */
    o.stack_size = CORIO_STACK_SIZE_MAX;
    CHECK_EQ(corio_spawn_with(&o, too_big_fn, NULL, &t), 0);
    int res = -1;
    CHECK_EQ(corio_task_join(t, &res), 0);
    CHECK(res == 0 || res == -ENOMEM);
    printf("a %zu-byte stack: %s\n", (size_t)CORIO_STACK_SIZE_MAX,
           res == 0 ? "ran" : "-ENOMEM");
    return 0;
}

TEST(stack_size_above_max_spawn_is_einval)
{
    CHECK_EQ(run_main(too_big_main, NULL), 0);
}

TEST(stack_size_above_max_runtime_is_einval)
{
    corio_rt_builder b = corio_rt_builder_current_thread();
    b.stack_size = CORIO_STACK_SIZE_MAX + 1;
    corio_rt *rt = NULL;
    CHECK_EQ(corio_rt_build(&b, &rt), -EINVAL);
    CHECK(rt == NULL);
    b.stack_size = (size_t)1 << 60;
    CHECK_EQ(corio_rt_build(&b, &rt), -EINVAL);
    b.stack_size = (size_t)-1; /* once silently taken as the 256 KiB default */
    CHECK_EQ(corio_rt_build(&b, &rt), -EINVAL);
    CHECK(rt == NULL);
}
