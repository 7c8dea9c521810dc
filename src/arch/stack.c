/* stack.c - the coroutine stack pool (see stack.h for the design).
 *
 * Invariants: a stack is either in use by exactly one coroutine, in exactly
 * one runtime's cache, or in the process pool. The pool is a mutex-protected
 * free list per size; caches are only touched by their runtime's thread.
 * Stacks pushed to the pool have their memory given back to the kernel
 * (MADV_DONTNEED), so a burst of coroutines does not keep its resident
 * memory once it is over; only the runtimes' small caches stay warm.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "stack.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND 1
#endif
#endif

#define PAGE 4096u
#define SLAB_STACKS 64
#define MIN_STACK (16u * 1024u)

typedef struct pool_list {
    size_t size;
    stack *head;
    struct pool_list *next;
} pool_list;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pool_list *pools;
static size_t n_mapped, n_guarded, n_pooled, guard_budget;

size_t stack_round_size(size_t size)
{
    if (size < MIN_STACK)
        size = MIN_STACK;
    return (size + PAGE - 1) & ~(size_t)(PAGE - 1);
}

void stack_cache_init(stack_cache *c, size_t size)
{
    c->size = stack_round_size(size);
    c->n = 0;
}

static size_t read_guard_budget(void)
{
    long maps = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &maps) != 1)
            maps = 65530;
        fclose(f);
    }
    /* Two mappings per guarded stack; leave three quarters for the rest. */
    return (size_t)(maps / 4) / 2;
}

static unsigned next_color;

static void stack_register(stack *s)
{
    s->color = (uint16_t)((next_color++ % 16) * 64);
#ifdef HAVE_VALGRIND
    s->valgrind_id = VALGRIND_STACK_REGISTER(s->lo, s->lo + s->size);
#else
    s->valgrind_id = 0;
#endif
}

/* Create stacks of `size` with the pool lock held: one guarded stack, or a
 * slab of unguarded ones (all but one go to the pool list `pl`). */
static stack *stack_create_locked(pool_list *pl, size_t size)
{
    if (guard_budget == 0)
        guard_budget = read_guard_budget();
    int prot = PROT_READ | PROT_WRITE;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK;
    if (n_guarded < guard_budget) {
        char *m = mmap(NULL, size + PAGE, prot, flags, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        if (mprotect(m, PAGE, PROT_NONE) != 0) {
            munmap(m, size + PAGE);
            return NULL;
        }
        stack *s = malloc(sizeof *s);
        if (!s) {
            munmap(m, size + PAGE);
            return NULL;
        }
        s->lo = m + PAGE;
        s->size = size;
        s->guarded = true;
        s->next = NULL;
        stack_register(s);
        n_guarded++;
        n_mapped++;
        return s;
    }
    stack *descs = calloc(SLAB_STACKS, sizeof *descs);
    if (!descs)
        return NULL;
    char *m = mmap(NULL, size * SLAB_STACKS, prot, flags, -1, 0);
    if (m == MAP_FAILED) {
        free(descs);
        return NULL;
    }
    for (unsigned i = 0; i < SLAB_STACKS; i++) {
        stack *s = &descs[i];
        s->lo = m + (size_t)i * size;
        s->size = size;
        s->guarded = false;
        stack_register(s);
        if (i > 0) {
            s->next = pl->head;
            pl->head = s;
            n_pooled++;
        }
    }
    n_mapped += SLAB_STACKS;
    descs[0].next = NULL;
    return &descs[0];
}

static pool_list *pool_find_locked(size_t size)
{
    for (pool_list *p = pools; p; p = p->next)
        if (p->size == size)
            return p;
    pool_list *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->size = size;
    p->next = pools;
    pools = p;
    return p;
}

static stack *pool_get(size_t size)
{
    pthread_mutex_lock(&pool_lock);
    stack *s = NULL;
    pool_list *pl = pool_find_locked(size);
    if (pl) {
        s = pl->head;
        if (s) {
            pl->head = s->next;
            n_pooled--;
        } else {
            s = stack_create_locked(pl, size);
        }
    }
    pthread_mutex_unlock(&pool_lock);
    return s;
}

static void pool_put(stack *s)
{
    /* Give the stack's pages back to the kernel: a burst of coroutines must
     * not keep its resident memory once it is over. The runtimes' caches
     * (STACK_CACHE_MAX each) keep a few stacks warm for the hot path. */
    madvise(s->lo, s->size, MADV_DONTNEED);
    pthread_mutex_lock(&pool_lock);
    pool_list *pl = pool_find_locked(s->size);
    if (pl) {
        s->next = pl->head;
        pl->head = s;
        n_pooled++;
    }
    pthread_mutex_unlock(&pool_lock);
    /* pool_find_locked can only fail for a size never seen, which cannot be
     * the size of a stack that exists: pl is never NULL here. */
}

stack *stack_get(stack_cache *c, size_t size)
{
    if (size == c->size && c->n > 0)
        return c->items[--c->n];
    return pool_get(size);
}

void stack_put(stack_cache *c, stack *s)
{
    if (s->size == c->size && c->n < STACK_CACHE_MAX) {
        c->items[c->n++] = s;
        return;
    }
    pool_put(s);
}

void stack_cache_flush(stack_cache *c)
{
    while (c->n > 0)
        pool_put(c->items[--c->n]);
}

bool stack_is_overflow_fault(const stack *s, const void *addr, const void *sp)
{
    const char *a = addr, *p = sp;
    /* Faulting in the guard page or canary, or with the stack pointer
     * already below the usable stack (an unguarded stack that ran on into
     * its neighbours until something unmapped). */
    if (a >= s->lo - PAGE && a < s->lo + STACK_CANARY_BYTES)
        return true;
    return p && p < s->lo + STACK_CANARY_BYTES && p >= s->lo - (64u << 20);
}

void stack_get_stats(stack_stats *out)
{
    pthread_mutex_lock(&pool_lock);
    out->mapped_stacks = n_mapped;
    out->guarded_stacks = n_guarded;
    out->pooled_stacks = n_pooled;
    pthread_mutex_unlock(&pool_lock);
}

/* ---- overflow reporting --------------------------------------------------- */

/* Implemented by the coroutine layer: report and abort if the fault at
 * `addr`, with the stack pointer at `sp`, is an overflow of the coroutine
 * running on this thread; return otherwise. */
void coro_check_fault(const void *addr, const void *sp);

static struct sigaction old_segv, old_bus;

static const void *fault_sp(void *ucv)
{
    ucontext_t *uc = ucv;
#if defined(__x86_64__)
    return (const void *)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (const void *)uc->uc_mcontext.sp;
#else
    (void)uc;
    return NULL;
#endif
}

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
    coro_check_fault(si->si_addr, fault_sp(uc));
    /* Not an overflow of ours: restore the previous disposition and return,
     * so the faulting instruction runs again and faults as it would have. */
    sigaction(sig, sig == SIGSEGV ? &old_segv : &old_bus, NULL);
}

static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

static void handler_install_once(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
}

static __thread char *altstack_mem;

void stack_overflow_handler_install(void)
{
    pthread_once(&handler_once, handler_install_once);
    if (altstack_mem)
        return;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_size >= 16384) {
        altstack_mem = (char *)1; /* the thread already has one */
        return;
    }
    size_t sz = 64 * 1024;
    char *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = m, .ss_size = sz, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) == 0)
        altstack_mem = m;
    else
        munmap(m, sz);
}
