/* core/taskmem.c - the task memory allocator (see taskmem.h). */
#include "core/taskmem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "arch/fiber.h"
#include "arch/populate.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND 1
#endif
#endif

#define CLASS_BYTES 16
#define MAX_BLOCK TASKMEM_MAX_POOLED
#define NCLASS (MAX_BLOCK / CLASS_BYTES + 1)
#define CHUNK (2u << 20)
#define LOCAL_MAX_BYTES (8u << 20) /* per class and thread before spilling */

typedef struct block {
    struct block *next;
} block;

/* A list in the depot: its first block carries the list's bookkeeping, so
 * that a thread takes a whole list back in O(1). Walking a list to split it
 * would load every block's link in turn, each a cache miss when the blocks
 * were freed on another core: 256 of them per refill cost a thread that
 * spawns into a runtime from outside it 15% of its time. Hence the smallest
 * class is 32 bytes (size_class). */
typedef struct batch {
    block first; /* first.next: the rest of the list */
    struct batch *next_batch;
    block *tail;
    size_t count;
} batch;

_Static_assert(sizeof(batch) <= 2 * CLASS_BYTES, "a batch header fits the smallest block");

static inline unsigned size_class(size_t size)
{
    unsigned cls = (unsigned)((size + CLASS_BYTES - 1) / CLASS_BYTES);
    return cls < 2 ? 2 : cls;
}

typedef struct tcache {
    block *free[NCLASS];
    block *tail[NCLASS]; /* last block of free[], so a spill is O(1) */
    size_t count[NCLASS];
    char *bump, *bump_end;
    char *ready_end; /* [chunk start, ready_end) has been populated */
} tcache;

static pthread_mutex_t depot_lock = PTHREAD_MUTEX_INITIALIZER;
static batch *depot[NCLASS]; /* under depot_lock: a stack of spilled lists */
static _Atomic size_t reserved;
/* Decided once (pthread_once): 1 under sanitizers/valgrind. Release/acquire
 * so a thread that sees 0 or 1 also sees the key created. */
static _Atomic int use_malloc = -1;

/* The cache itself is heap-allocated: initial-exec TLS (one %fs-relative
 * load) must stay small, because a dlopen'ed libcorio.so takes it from the
 * static TLS surplus. */
static __thread tcache *tcp __attribute__((tls_model("initial-exec")));
static pthread_key_t tc_key;
static pthread_once_t tc_once = PTHREAD_ONCE_INIT;

/* Push the list head..tail of n blocks of class cls to the depot, as one
 * batch. The header goes in the head, the block freed last: still in this
 * thread's cache. */
static void depot_push(unsigned cls, block *head, block *tail, size_t n)
{
    batch *b = (batch *)head;
    b->tail = tail;
    b->count = n;
    pthread_mutex_lock(&depot_lock);
    b->next_batch = depot[cls];
    depot[cls] = b;
    pthread_mutex_unlock(&depot_lock);
}

/* Move the whole free list of class cls to the depot, in O(1). */
static void spill(tcache *c, unsigned cls)
{
    block *head = c->free[cls], *tail = c->tail[cls];
    size_t n = c->count[cls];
    if (!head)
        return;
    c->free[cls] = c->tail[cls] = NULL;
    c->count[cls] = 0;
    depot_push(cls, head, tail, n);
}

static void tc_dtor(void *p)
{
    tcache *c = p;
    for (unsigned cls = 2; cls < NCLASS; cls++)
        spill(c, cls);
    /* The rest of this thread's bump chunk is abandoned (at most 2 MiB). */
    tcp = NULL;
    free(c);
}

static void tc_key_init(void)
{
    pthread_key_create(&tc_key, tc_dtor);
    int m;
#if defined(CORIO_ASAN) || defined(CORIO_TSAN)
    m = 1;
#elif defined(HAVE_VALGRIND)
    m = RUNNING_ON_VALGRIND ? 1 : 0;
#else
    m = 0;
#endif
    atomic_store_explicit(&use_malloc, m, memory_order_release);
}

/* This thread's cache, registered so that the thread's exit gives its
 * blocks back to the depot. */
static tcache *tcache_new(void)
{
    pthread_once(&tc_once, tc_key_init);
    tcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_setspecific(tc_key, c);
    tcp = c;
    return c;
}

/* Take the depot's newest list of class cls whole; the thread's own list
 * of that class is empty (taskmem_alloc found it so). */
static bool refill_from_depot(tcache *c, unsigned cls)
{
    pthread_mutex_lock(&depot_lock);
    batch *b = depot[cls];
    if (b)
        depot[cls] = b->next_batch;
    pthread_mutex_unlock(&depot_lock);
    if (!b)
        return false;
    c->free[cls] = &b->first;
    c->tail[cls] = b->tail;
    c->count[cls] = b->count;
    return true;
}

static bool new_chunk(tcache *c)
{
    char *m = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return false;
    c->bump = m;
    c->bump_end = m + CHUNK;
    c->ready_end = m;
    atomic_fetch_add_explicit(&reserved, CHUNK, memory_order_relaxed);
    return true;
}

/* The bump pointer has crossed into memory not populated yet: commit the
 * next POPULATE_AHEAD bytes in one call (arch/populate.h), not a page fault
 * per page (a burst of a million spawns took 4,000 more faults when
 * coroutine tasks grew from 112 to 128 bytes). Only memory the bump is
 * about to hand out, and at most POPULATE_AHEAD of it, is committed early. */
#define POPULATE_AHEAD ((size_t)64 * 1024)
static __attribute__((noinline)) void populate_ahead(tcache *c)
{
    char *from = (char *)((uintptr_t)(c->bump - 1) & ~(uintptr_t)4095);
    if (from < c->ready_end)
        from = c->ready_end;
    size_t len = POPULATE_AHEAD;
    if (len > (size_t)(c->bump_end - from))
        len = (size_t)(c->bump_end - from);
    if (len)
        mem_populate(from, len);
    c->ready_end = from + len;
}

__attribute__((noinline)) void *taskmem_alloc(size_t size)
{
    int um = atomic_load_explicit(&use_malloc, memory_order_acquire);
    if (um != 0) {
        if (um < 0) {
            pthread_once(&tc_once, tc_key_init);
            um = atomic_load_explicit(&use_malloc, memory_order_acquire);
        }
        if (um)
            return malloc(size);
    }
    if (size > MAX_BLOCK)
        return malloc(size);
    unsigned cls = size_class(size);
    tcache *c = tcp;
    if (!c && !(c = tcache_new()))
        return malloc(size);
    block *b = c->free[cls];
    if (b) {
        c->free[cls] = b->next; /* tail[] goes stale when the list empties: */
        c->count[cls]--;        /* it is only read while the list is not */
        return b;
    }
    if (refill_from_depot(c, cls)) {
        b = c->free[cls];
        c->free[cls] = b->next;
        c->count[cls]--;
        return b;
    }
    size_t bytes = (size_t)cls * CLASS_BYTES;
    /* Blocks of whole cache lines start on one (see taskmem.h). Every block
     * of a class has the same size, and the free lists only ever hold
     * blocks of their own class, so aligning where one is carved is
     * enough. Chunks are page-aligned. */
    uintptr_t align = bytes % 128 == 0 ? 128 : bytes % 64 == 0 ? 64 : CLASS_BYTES;
    char *p = (char *)(((uintptr_t)c->bump + align - 1) & ~(align - 1));
    if (!c->bump || (uintptr_t)p + bytes > (uintptr_t)c->bump_end) {
        if (!new_chunk(c))
            return NULL;
        p = c->bump;
    }
    c->bump = p + bytes;
    if (c->bump > c->ready_end)
        populate_ahead(c);
    return p;
}

__attribute__((noinline)) void taskmem_free(void *p, size_t size)
{
    if (!p)
        return;
    if (atomic_load_explicit(&use_malloc, memory_order_acquire) == 1 || size > MAX_BLOCK) {
        free(p);
        return;
    }
    unsigned cls = size_class(size);
    tcache *c = tcp;
    if (!c && !(c = tcache_new())) {
        /* No memory for a cache: hand the block straight to the depot. */
        block *b = p;
        b->next = NULL;
        depot_push(cls, b, b, 1);
        return;
    }
    block *b = p;
    b->next = c->free[cls];
    if (!b->next)
        c->tail[cls] = b;
    c->free[cls] = b;
    if (++c->count[cls] * (size_t)cls * CLASS_BYTES > LOCAL_MAX_BYTES)
        spill(c, cls);
}

size_t taskmem_reserved_bytes(void)
{
    return atomic_load_explicit(&reserved, memory_order_relaxed);
}
