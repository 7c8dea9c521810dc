/* stack.c - the coroutine stack pool (see stack.h for the design).
 *
 * Invariants: a stack is either in use by exactly one coroutine, in exactly
 * one runtime's cache, or in the process pool. The pool is a mutex-protected
 * free list per size; caches are only touched by their runtime's thread.
 * The pool keeps up to WARM_MAX returned stacks resident; stacks returned
 * beyond that have their memory given back to the kernel (MADV_DONTNEED),
 * so a burst of coroutines does not keep its resident memory once it is
 * over, while a steady server never pays a page fault per coroutine.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "stack.h"
#include "fiber.h"
#include "populate.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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
#define SLAB_STACKS 64   /* stacks per mapping: unguarded, or with light guards */
#define GUARDED_SLAB 16  /* stacks per mapping with guard mappings (two VMAs each) */
#define SLAB_MAX_BYTES ((size_t)1 << 32) /* a slab of huge stacks holds fewer */
#define WARM_MAX 1024    /* returned stacks kept warm, process-wide */
#define KEEP_TOP (16u * 1024u) /* bytes of a warm stack left resident */
#define MIN_STACK (16u * 1024u)

typedef struct pool_list {
    size_t size;
    stack *warm; /* returned stacks whose pages are still resident */
    stack *cold; /* never used, or given back with MADV_DONTNEED */
    struct pool_list *next;
} pool_list;

/* Every descriptor array, kept by its first address: the stacks are only
 * ever reachable through interior pointers (&descs[i]), which leak checkers
 * (valgrind's "possibly lost") count as leaks. Under pool_lock. */
typedef struct slab_rec {
    stack *descs;
    size_t n;
    struct slab_rec *next;
} slab_rec;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pool_list *pools;
static slab_rec *slabs;
static size_t n_mapped, n_guarded, n_pooled, n_warm, guard_budget;
static size_t n_guard_maps; /* stacks guarded by a mapping: against guard_budget */

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
/* Which guards new slabs get (stack.h). Under pool_lock. */
enum { GUARDS_UNKNOWN, GUARDS_LIGHT, GUARDS_MAPPINGS };
static int guard_kind;

size_t stack_round_size(size_t size)
{
    if (size < MIN_STACK)
        size = MIN_STACK;
    if (size > STACK_SIZE_MAX)
        return 0; /* refused: the caller reports -EINVAL */
    return (size + PAGE - 1) & ~(size_t)(PAGE - 1);
}

void stack_cache_init(stack_cache *c, size_t size)
{
    c->size = stack_round_size(size);
    c->n = 0;
    c->dirty = NULL;
    c->n_dirty = 0;
    c->cold = NULL;
    c->n_cold = 0;
}

#ifdef CORIO_TSAN
/* Under TSan a stack keeps the sanitizer fiber its coroutines ran on
 * (stack.h). A process forked with pooled stacks would switch to fibers
 * created before the fork, which TSan's state in the child does not know
 * as such: it then reports races between the parent's past accesses and
 * the child's coroutines. The child forgets them (leaked, not destroyed:
 * they belong to the parent's TSan state), so its coroutines get fibers of
 * their own. The pool lock is held across the fork, so no slab is half
 * made in the child. */
static void stack_atfork_prepare(void)
{
    pthread_mutex_lock(&pool_lock);
}

static void stack_atfork_parent(void)
{
    pthread_mutex_unlock(&pool_lock);
}

static void stack_atfork_child(void)
{
    for (slab_rec *r = slabs; r; r = r->next)
        for (size_t i = 0; i < r->n; i++)
            r->descs[i].fiber = NULL;
    pthread_mutex_unlock(&pool_lock);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void stack_atfork_register(void)
{
    pthread_atfork(stack_atfork_prepare, stack_atfork_parent, stack_atfork_child);
}
#endif

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

/* Can this process use lightweight guard regions? Installs one on a page
 * of its own and checks that it stops a read: the kernel refuses a write(2)
 * from it with EFAULT. Kernels before 6.13 refuse the advice; an emulator
 * (qemu-user) may accept and ignore it, which the write catches. Not under
 * valgrind, which does not know them: it takes the guard for memory it may
 * read, and reads it a word at a time, a fault each (the demo's echo part
 * never finished). */
static bool light_guards_work(void)
{
#ifdef HAVE_VALGRIND
    if (RUNNING_ON_VALGRIND)
        return false;
#endif
    char *probe = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe == MAP_FAILED)
        return false;
    bool stopped = false;
    int p[2];
    if (madvise(probe, PAGE, MADV_GUARD_INSTALL) == 0 && pipe2(p, O_CLOEXEC) == 0) {
        stopped = write(p[1], probe, 1) < 0 && errno == EFAULT;
        close(p[0]);
        close(p[1]);
    }
    munmap(probe, PAGE);
    return stopped;
}

void stack_use_mapping_guards(void)
{
    pthread_mutex_lock(&pool_lock);
    guard_kind = GUARDS_MAPPINGS;
    pthread_mutex_unlock(&pool_lock);
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

/* Create a slab of stacks of `size` with the pool lock held: SLAB_STACKS
 * stacks with lightweight guards (installed when each is first handed out:
 * pool_get), or, without those, up to GUARDED_SLAB stacks each with a guard
 * mapping below it while the guard budget lasts, else SLAB_STACKS unguarded
 * ones. One is returned, the others go to the cold list of `pl`. One mmap
 * per slab: creating stacks one by one cost a third of yield_many's first
 * round (1000 coroutines). */
static stack *stack_create_locked(pool_list *pl, size_t size)
{
#ifdef CORIO_TSAN
    pthread_once(&atfork_once, stack_atfork_register);
#endif
    int prot = PROT_READ | PROT_WRITE;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK;
    if (guard_kind == GUARDS_UNKNOWN)
        guard_kind = light_guards_work() ? GUARDS_LIGHT : GUARDS_MAPPINGS;
    bool light = guard_kind == GUARDS_LIGHT;
    if (!light && guard_budget == 0)
        guard_budget = read_guard_budget();
    bool maps = !light && n_guard_maps < guard_budget; /* guard mappings for this slab */
    bool guarded = light || maps;
    size_t n = maps ? GUARDED_SLAB : SLAB_STACKS;
    if (maps && guard_budget - n_guard_maps < n)
        n = guard_budget - n_guard_maps;
    /* size <= STACK_SIZE_MAX (1 GiB), so the stride cannot overflow, and
     * the slab is capped so that stride * n cannot either. */
    size_t stride = guarded ? size + STACK_GUARD_BYTES : size;
    if (n > SLAB_MAX_BYTES / stride)
        n = SLAB_MAX_BYTES / stride ? SLAB_MAX_BYTES / stride : 1;
    stack *descs = calloc(n, sizeof *descs);
    slab_rec *rec = malloc(sizeof *rec);
    if (!descs || !rec) {
        free(descs);
        free(rec);
        return NULL;
    }
    char *m = mmap(NULL, stride * n, prot, flags, -1, 0);
    if (m == MAP_FAILED) {
        free(descs);
        free(rec);
        return NULL;
    }
    rec->descs = descs;
    rec->n = n;
    rec->next = slabs;
    slabs = rec;
    /* A stack's first touch must commit a 4 KiB page, not a 2 MiB one, on
     * machines where transparent huge pages are "always". */
    madvise(m, stride * n, MADV_NOHUGEPAGE);
    for (size_t i = 0; i < n; i++) {
        stack *st = &descs[i];
        char *base = m + i * stride;
        if (light) {
            st->guard_pending = true;
        } else if (guarded && mprotect(base, STACK_GUARD_BYTES, PROT_NONE) != 0) {
            guarded = false; /* out of mappings: the canary still checks */
        }
        st->lo = guarded ? base + STACK_GUARD_BYTES : base;
        st->size = size;
        st->guarded = guarded;
        stack_register(st);
        if (guarded)
            n_guarded++;
        if (guarded && maps)
            n_guard_maps++;
    }
    /* The others to the cold list in address order, from its head (a
     * cache takes them from there, neighbours together). */
    for (size_t i = n; i-- > 1;) {
        descs[i].next = pl->cold;
        pl->cold = &descs[i];
        n_pooled++;
    }
    n_mapped += n;
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

/* A cold stack about to be handed out: its lightweight guard (once per
 * stack) and its top page. Outside the pool lock: a system call each (3 us
 * on the project's VM). */
static void cold_prepare(stack *s)
{
    /* A guard the kernel refuses now (out of memory for page tables)
     * leaves the stack to its canary. */
    if (s->guard_pending) {
        s->guard_pending = false;
        if (madvise(s->lo - STACK_GUARD_BYTES, STACK_GUARD_BYTES, MADV_GUARD_INSTALL) != 0) {
            s->guarded = false;
            pthread_mutex_lock(&pool_lock);
            n_guarded--; /* counted when its slab was made */
            pthread_mutex_unlock(&pool_lock);
        }
    }
    /* A cold stack's top page is the one its coroutine touches first,
     * and always: commit it without a page fault (populate.h). */
    mem_populate(s->lo + s->size - PAGE, PAGE);
}

/* A stack of `size` from the pool: a warm one, else a cold one. For the
 * cache's own size (c not NULL), up to STACK_COLD_BATCH - 1 more cold ones
 * go to the cache's cold list: the head of the pool's cold list, which a
 * new slab fills with its stacks in order. */
static stack *pool_get(stack_cache *c, size_t size)
{
    pthread_mutex_lock(&pool_lock);
    stack *s = NULL;
    bool cold = false;
    pool_list *pl = pool_find_locked(size);
    if (pl) {
        if ((s = pl->warm) != NULL) {
            pl->warm = s->next;
            n_warm--;
            n_pooled--;
        } else {
            if (!pl->cold && (s = stack_create_locked(pl, size)) != NULL) {
                cold = true;
            } else if ((s = pl->cold) != NULL) {
                pl->cold = s->next;
                n_pooled--;
                cold = true;
            }
            /* c->cold is empty here (stack_get takes from it first). */
            if (s && c) {
                stack **tail = &c->cold;
                while (c->n_cold < STACK_COLD_BATCH - 1 && pl->cold) {
                    *tail = pl->cold;
                    pl->cold = (*tail)->next;
                    (*tail)->next = NULL;
                    tail = &(*tail)->next;
                    n_pooled--;
                    c->n_cold++;
                }
            }
        }
    }
    pthread_mutex_unlock(&pool_lock);
    if (s && cold)
        cold_prepare(s);
    return s;
}

static void pool_push_locked(stack *s, bool warm)
{
    /* pool_find_locked only fails (ENOMEM) for a size never seen, which
     * cannot be the size of a stack that exists. */
    pool_list *pl = pool_find_locked(s->size);
    if (!pl)
        return;
    if (warm) {
        s->next = pl->warm;
        pl->warm = s;
        n_warm++;
    } else {
        s->next = pl->cold;
        pl->cold = s;
    }
    n_pooled++;
}

static void pool_put(stack *s)
{
    /* Up to WARM_MAX returned stacks keep their top KEEP_TOP bytes resident
     * (the next coroutines start there without a page fault); everything
     * below, and the whole of any stack beyond WARM_MAX, goes back to the
     * kernel, so a burst of coroutines, deep or not, does not keep its
     * resident memory once it is over. Unmapped ranges make madvise cheap
     * for the common shallow stack. */
    if (s->size > KEEP_TOP)
        madvise(s->lo, s->size - KEEP_TOP, MADV_DONTNEED);
    pthread_mutex_lock(&pool_lock);
    if (n_warm < WARM_MAX) {
        pool_push_locked(s, true);
        pthread_mutex_unlock(&pool_lock);
        return;
    }
    pthread_mutex_unlock(&pool_lock);
    madvise(s->lo + s->size - KEEP_TOP, KEEP_TOP, MADV_DONTNEED);
    pthread_mutex_lock(&pool_lock);
    pool_push_locked(s, false);
    pthread_mutex_unlock(&pool_lock);
}

stack *stack_get(stack_cache *c, size_t size)
{
    if (size == c->size) {
        if (c->n > 0)
            return c->items[--c->n];
    }
    /* A dirty stack of the right size (the list is short-lived and usually
     * holds the runtime's own size: take the head only if it fits). */
    stack *d = c->dirty;
    if (d && d->size == size) {
        c->dirty = d->next;
        c->n_dirty--;
        return d;
    }
    if (size == c->size && c->cold) {
        stack *s = c->cold;
        c->cold = s->next;
        c->n_cold--;
        cold_prepare(s);
        return s;
    }
    return pool_get(size == c->size ? c : NULL, size);
}

void stack_put(stack_cache *c, stack *s)
{
    if (s->size == c->size && c->n < STACK_CACHE_MAX) {
        c->items[c->n++] = s;
        return;
    }
    s->next = c->dirty;
    c->dirty = s;
    c->n_dirty++;
}

/* Stacks trimmed together: sorted by address, neighbours in one slab are
 * given back with one madvise. */
#define TRIM_BATCH 64

static int by_address(const void *a, const void *b)
{
    const char *x = (*(stack *const *)a)->lo, *y = (*(stack *const *)b)->lo;
    return x < y ? -1 : x > y;
}

/* b follows a in one slab: same size and guarding, b's guard (if any)
 * starting where a's top ends. */
static bool adjacent(const stack *a, const stack *b)
{
    return a->size == b->size && a->guarded == b->guarded &&
           a->lo + a->size + (b->guarded ? STACK_GUARD_BYTES : 0) == b->lo;
}

/* A run of k >= 2 neighbours goes back to the kernel in one madvise over
 * all of them, the guards between included (they hold no pages): one system
 * call and one TLB flush - on a multi-thread runtime an interrupt to every
 * other core running it - instead of one or two per stack. They go to the
 * pool cold: a burst that is over keeps none of its memory. */
static void pool_put_run(stack **run, size_t k)
{
    char *from = run[0]->lo, *to = run[k - 1]->lo + run[k - 1]->size;
    madvise(from, (size_t)(to - from), MADV_DONTNEED);
    pthread_mutex_lock(&pool_lock);
    for (size_t i = 0; i < k; i++)
        pool_push_locked(run[i], false);
    pthread_mutex_unlock(&pool_lock);
}

static void pool_put_batch(stack **v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, by_address);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && adjacent(v[j - 1], v[j]))
            j++;
        if (j - i >= 2)
            pool_put_run(v + i, j - i);
        else
            pool_put(v[i]);
        i = j;
    }
}

bool stack_cache_trim(stack_cache *c, size_t max)
{
    stack *batch[TRIM_BATCH];
    while (c->dirty && max > 0) {
        size_t n = 0;
        while (c->dirty && max > 0 && n < TRIM_BATCH) {
            stack *s = c->dirty;
            c->dirty = s->next;
            c->n_dirty--;
            batch[n++] = s;
            max--;
        }
        pool_put_batch(batch, n);
    }
    return c->dirty != NULL;
}

void stack_cache_flush(stack_cache *c)
{
    if (c->cold) {
        /* Back in one piece, in the order they came (neighbours together). */
        stack *tail = c->cold;
        while (tail->next)
            tail = tail->next;
        pthread_mutex_lock(&pool_lock);
        pool_list *pl = pool_find_locked(c->size); /* exists: it made them */
        if (pl) {
            tail->next = pl->cold;
            pl->cold = c->cold;
            n_pooled += c->n_cold;
        }
        pthread_mutex_unlock(&pool_lock);
        c->cold = NULL;
        c->n_cold = 0;
    }
    while (c->n > 0) {
        stack *s = c->items[--c->n];
        s->next = c->dirty;
        c->dirty = s;
        c->n_dirty++;
    }
    stack_cache_trim(c, SIZE_MAX);
}

bool stack_is_overflow_fault(const stack *s, const void *addr, const void *sp)
{
    const char *a = addr, *p = sp;
    /* Faulting in the guard page or canary, or with the stack pointer
     * already below the usable stack (an unguarded stack that ran on into
     * its neighbours until something unmapped). */
    if (a >= s->lo - (s->guarded ? STACK_GUARD_BYTES : PAGE) && a < s->lo + STACK_CANARY_BYTES)
        return true;
    return p && p < s->lo + STACK_CANARY_BYTES && p >= s->lo - (64u << 20);
}

void stack_get_stats(stack_stats *out)
{
    pthread_mutex_lock(&pool_lock);
    out->mapped_stacks = n_mapped;
    out->guarded_stacks = n_guarded;
    out->light_guards = guard_kind == GUARDS_LIGHT;
    out->pooled_stacks = n_pooled;
    pthread_mutex_unlock(&pool_lock);
}

/* ---- overflow reporting --------------------------------------------------- */

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

/* Atomic: runtimes on several threads install it (with the same value);
 * the handler may run on any thread. Lock-free, so async-signal-safe. */
static _Atomic(stack_fault_hook) fault_hook;

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
    stack_fault_hook hook = atomic_load_explicit(&fault_hook, memory_order_acquire);
    if (hook)
        hook(si->si_addr, fault_sp(uc));
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

/* The calling thread's alternate signal stack: mapped by the first install
 * on the thread, unmapped by a key destructor when the thread exits (a
 * process whose threads each drive a runtime once must not keep 64 KiB per
 * thread that ever did). */
#define ALTSTACK_BYTES (64 * 1024)
static __thread char *altstack_mem;
static pthread_key_t altstack_key;
static pthread_once_t altstack_once = PTHREAD_ONCE_INIT;

static void altstack_release(void *m)
{
    stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    munmap(m, ALTSTACK_BYTES);
}

static void altstack_key_init(void)
{
    pthread_key_create(&altstack_key, altstack_release);
}

void stack_overflow_handler_install(stack_fault_hook hook)
{
    atomic_store_explicit(&fault_hook, hook, memory_order_release);
    pthread_once(&handler_once, handler_install_once);
    if (altstack_mem)
        return;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_size >= 16384) {
        altstack_mem = (char *)1; /* the thread already has one of its own */
        return;
    }
    pthread_once(&altstack_once, altstack_key_init);
    char *m = mmap(NULL, ALTSTACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                   0);
    if (m == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = m, .ss_size = ALTSTACK_BYTES, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0 || pthread_setspecific(altstack_key, m) != 0) {
        stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
        sigaltstack(&off, NULL);
        munmap(m, ALTSTACK_BYTES);
        return;
    }
    altstack_mem = m;
}
