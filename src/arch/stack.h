/* stack.h - coroutine stacks: a process-wide pool with per-runtime caches.
 *
 * Memory is reserved with mmap(MAP_NORESERVE) and committed lazily by the
 * kernel on first touch, so an idle coroutine costs the pages its frames
 * touched (typically one or two), whatever its stack size.
 *
 * Overflow detection: every stack has a guard of STACK_GUARD_BYTES below it
 * where the kernel allows. Overflowing into it raises SIGSEGV; corio's
 * handler, running on an alternate signal stack, reports the task's name and
 * spawn site and aborts. Two kinds of guard:
 *  - Linux 6.13 and later: a lightweight guard region (madvise
 *    MADV_GUARD_INSTALL), markers in the page table that cost no mapping, so
 *    every stack gets one, whatever their number. Checked once per process
 *    that it really faults (an emulator may accept the advice and ignore
 *    it); installed when a stack is first handed out, and kept for the
 *    stack's life (MADV_DONTNEED leaves guard markers in place).
 *  - otherwise a PROT_NONE mapping below the stack (two mappings per
 *    stack), under the kernel's default vm.max_map_count (65530): used while
 *    the stacks' mappings stay under a quarter of vm.max_map_count.
 *    Beyond that budget, stacks are carved from shared slabs without guards.
 *    Their lowest CANARY_BYTES are never written legitimately (the usable
 *    stack ends above them) and are checked to still be zero each time the
 *    coroutine switches out; an overflow that wrote there is reported the
 *    same way. Reading the untouched canary maps the kernel's shared zero
 *    page where the kernel has one, at no memory cost; on kernels that
 *    commit a page for it instead (seen on this project's VMs) an unguarded
 *    stack costs one more resident page. Checking only when the coroutine is
 *    deep in its stack would save that page but miss an overflow that came
 *    back up before its next switch, and a check at the end by mincore or a
 *    read costs a system call or a page fault per finished coroutine, which
 *    a storm of them cannot afford.
 */
#ifndef CORIO_ARCH_STACK_H
#define CORIO_ARCH_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STACK_CANARY_BYTES 64
#define STACK_CACHE_MAX 64
/* The largest stack there is (1 GiB): stack_round_size refuses more, so no
 * size computation of the pool can overflow. */
#define STACK_SIZE_MAX ((size_t)1 << 30)
/* The guard below a guarded stack. Costs address space only (no mapping
 * or one, whatever its size), and is larger than the largest frame most
 * code has: a function with a 20 KiB local array that writes its far end
 * first still lands in the guard, not in the stack below. Code built with
 * -fstack-clash-protection (corio.pc hands it to users) probes every page of
 * a larger frame on the way down, so any frame faults in the guard. */
#define STACK_GUARD_BYTES ((size_t)64 * 1024)

typedef struct stack {
    char *lo;           /* lowest address of the stack memory (canary first) */
    size_t size;        /* bytes from lo to the top */
    struct stack *next; /* free-list link */
    bool guarded;
    bool guard_pending; /* a lightweight guard to install when first handed out */
    uint16_t color;     /* bytes left unused at the top (cache colouring) */
    unsigned valgrind_id;
    void *fiber;        /* the sanitizer's fiber of the coroutines that run on
                         * this stack, created with the first one and kept:
                         * TSan takes milliseconds to create one. NULL in
                         * other builds; never touched by this file. */
} stack;

/* A per-runtime cache of free stacks: no lock and no system call on the hot
 * path. Up to STACK_CACHE_MAX stacks of the runtime's size are kept as they
 * are; every other returned stack waits on the `dirty` list (still resident,
 * as it was while in use, so this never raises peak memory) until the
 * runtime has nothing to run and calls stack_cache_trim, which gives it back
 * to the process pool (a madvise each, 1 to 25 us): a storm of coroutines
 * finishing at once pays no system call on its critical path. New
 * coroutines take dirty stacks first (warm, no page fault). */
typedef struct stack_cache {
    size_t size;
    unsigned n;
    stack *items[STACK_CACHE_MAX];
    stack *dirty;
    size_t n_dirty;
    /* Never-used (or given back) stacks of `size`, taken from the pool up
     * to STACK_COLD_BATCH (a slab's worth) at a time, neighbours in one
     * slab when the slab is new: each runtime
     * thread's new coroutines get stacks next to each other, not
     * alternating with another thread's. Interleaved, the stacks of two
     * workers sat at twice the slab's stride from each other and their hot
     * top lines collided in the caches (ping_pong, 2 runtimes in one
     * process: 30% slower than in two processes). Not resident: they cost
     * address space (and, on kernels without lightweight guards, the
     * guard mappings their slab was made with) until the runtime ends. */
    stack *cold;
    unsigned n_cold;
} stack_cache;

#define STACK_COLD_BATCH 64

/* The usable range of a stack: above the canary, below the colour gap.
 * Stack tops are staggered by a multiple of 64 bytes (16 colours), so the
 * hot top lines of many coroutines do not all fall in the same cache sets
 * (stacks are page-aligned, so their tops would otherwise alias). */
static inline char *stack_usable_lo(const stack *s)
{
    return s->lo + STACK_CANARY_BYTES;
}
static inline size_t stack_usable_size(const stack *s)
{
    return s->size - STACK_CANARY_BYTES - s->color;
}

/* Round a requested size up to whole pages and the minimum; 0 for a size
 * above STACK_SIZE_MAX. */
size_t stack_round_size(size_t size);

void stack_cache_init(stack_cache *c, size_t size);
/* Give every cached stack back to the process pool. */
void stack_cache_flush(stack_cache *c);

/* Give up to `max` dirty stacks back to the process pool; returns whether
 * any are left. For a runtime with nothing else to do. */
bool stack_cache_trim(stack_cache *c, size_t max);

static inline bool stack_cache_has_dirty(const stack_cache *c)
{
    return c->dirty != NULL;
}

/* Past this many dirty stacks, a runtime trims one at each of its regular
 * checks even when it never idles, so a busy runtime does not keep its
 * finished coroutines' stacks forever; never on the path of a finishing
 * coroutine, where a madvise (up to 25 us on a VM) per coroutine made a
 * storm of 100,000 fall seconds behind its timers. */
#define STACK_DIRTY_MAX 65536

static inline bool stack_cache_over(const stack_cache *c)
{
    return c->n_dirty > STACK_DIRTY_MAX;
}

/* A stack of `size` (already rounded) from the cache or the pool, or NULL. */
stack *stack_get(stack_cache *c, size_t size);
/* Return a stack after its coroutine finished. */
void stack_put(stack_cache *c, stack *s);

/* Where an unguarded stack's canary is (its lowest STACK_CANARY_BYTES, one
 * aligned cache line); NULL for a guarded stack, which needs none. */
static inline const uint64_t *stack_canary(const stack *s)
{
    return s->guarded ? NULL : (const uint64_t *)(const void *)s->lo;
}

/* True while the canary at `canary` (stack_canary) is intact. */
static inline bool stack_canary_ok(const uint64_t *canary)
{
    uint64_t acc = 0;
    for (unsigned i = 0; i < STACK_CANARY_BYTES / 8; i++)
        acc |= canary[i];
    return acc == 0;
}

/* Called from the SIGSEGV/SIGBUS handler with the faulting address and the
 * stack pointer at the fault (NULL when unknown). It runs on the alternate
 * signal stack, so it may only make async-signal-safe calls; it reports and
 * aborts if the fault is an overflow of the coroutine it knows to be running
 * on this thread, and returns otherwise (the fault is then re-raised with the
 * disposition that was in place before corio's). The layer that runs
 * coroutines hands it in: this one knows stacks, not tasks. */
typedef void (*stack_fault_hook)(const void *addr, const void *sp);

/* Install the SIGSEGV/SIGBUS handler that calls `hook` (the first call
 * installs it process-wide; later calls must pass the same hook), and an
 * alternate signal stack for the calling thread, which is unmapped when the
 * thread exits. */
void stack_overflow_handler_install(stack_fault_hook hook);

/* Whether a fault at `addr` with stack pointer `sp` (NULL: unknown) is an
 * overflow of `s`. */
bool stack_is_overflow_fault(const stack *s, const void *addr, const void *sp);

/* Make stacks created from now on use PROT_NONE mappings as guards, as on
 * kernels without lightweight guard regions (tests of that path). */
void stack_use_mapping_guards(void);

/* Statistics, for tests and the runtime's metrics. */
typedef struct stack_stats {
    size_t mapped_stacks;  /* stacks ever created and not unmapped */
    size_t guarded_stacks; /* of which with a guard */
    bool light_guards;     /* lightweight guard regions are in use */
    size_t pooled_stacks;  /* in the process pool now */
} stack_stats;
void stack_get_stats(stack_stats *out);

#endif
