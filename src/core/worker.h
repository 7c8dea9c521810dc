/* core/worker.h - the per-thread execution context (internal).
 *
 * A worker is the thread-side half of running tasks: the context of the
 * scheduler loop (coroutines switch back to it), the task being polled, the
 * thread's cache of coroutine stacks, and the timer wheel that tasks polled
 * here arm their timers in. A scheduler owns its workers and sets them up
 * (a scheduler may extend the struct: it must be the first member); the
 * core only reads them.
 *
 * The thread-local pointer to the current worker is only ever read through
 * worker_current(), which reads the thread pointer afresh (arch/tls.h):
 * coroutines may resume on another thread, and a compiler may otherwise keep
 * a thread-local address across a context switch. Code on a coroutine stack
 * never keeps a worker pointer across a switch either; it asks
 * worker_current() again.
 */
#ifndef CORIO_CORE_WORKER_H
#define CORIO_CORE_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdatomic.h>

#include "arch/ctx.h"
#include "arch/stack.h"
#include "arch/tls.h"
#include "core/sched.h"
#include "core/task.h"

struct wheel;
struct reactor;

typedef struct worker {
    arch_ctx ctx;          /* the scheduler loop's context */
    sched *sched;
    corio_task *current;   /* task being polled, NULL in the loop itself */
    struct coro *coro;     /* current when it is a coroutine, else NULL (also
                            * while a stackless task is polled): the one test
                            * of "in a coroutine task?" anywhere; only
                            * core/coro.c writes it, next to each write of
                            * current */
    unsigned budget;       /* polls left before the loop checks timers and
                            * other threads' wakes again (the current-thread
                            * scheduler's; the multi-thread one counts its
                            * own) */
    corio_task *deferred;  /* set by sched->yield_next: the coroutine that
                            * yields straight to another, for the core to
                            * queue (sched->yielded) once the switch is done */
    unsigned coop;         /* awaits the running coroutine may complete at
                            * once before one yields (CORIO_COOP_BUDGET at
                            * each resume by the loop) */
    uint32_t rand;         /* worker_rand's state (zero is a fine start) */
    struct reactor *io;    /* the I/O driver fds opened here register with
                            * (the io layer's; the core never looks inside) */
    struct wheel *timers;  /* where timers polled here are armed (the time
                            * layer's; the core never looks inside) */
    stack_cache stacks;
    ctx_fpenv fpenv;       /* FP control state new coroutines start with */
    /* sanitizer fiber state of the loop's own stack */
    void *asan_fake_stack;
    const void *asan_stack_bottom;
    size_t asan_stack_size;
    void *tsan_fiber;
} worker;

/* A new value of the worker's quasi-random sequence, for fairness choices
 * (the branch a select polls first): a Weyl sequence, evenly spread over
 * 32 bits, high bits included; cheap, not unpredictable. */
static inline uint32_t worker_rand(worker *w)
{
    return w->rand += 0x9E3779B9u;
}

/* The slow path of worker_current (also where the offset is learnt). */
worker *worker_current_slow(void);

#ifdef ARCH_HAVE_TP
/* tls_worker's offset from the thread pointer, 0 until first learnt
 * (core/worker.c). Relaxed: every thread computes the same value. */
extern _Atomic ptrdiff_t worker_tls_offset;

static inline worker *worker_current(void)
{
    ptrdiff_t off = atomic_load_explicit(&worker_tls_offset, memory_order_relaxed);
    if (__builtin_expect(off == 0, 0))
        return worker_current_slow();
    return *(worker **)(void *)(arch_thread_pointer() + off);
}
#else
static inline worker *worker_current(void)
{
    return worker_current_slow();
}
#endif

/* The runtime a plain thread belongs to (a thread of a runtime's blocking
 * pool), NULL for every other: what spawns with no runtime named, and
 * corio_rt_current, use when there is no worker. Set by the thread itself,
 * which never runs coroutines, so a plain thread-local. */
void worker_set_handle(sched *s);
sched *worker_handle(void);

/* Make w the calling thread's worker (NULL: none), ready to run coroutines:
 * its loop context, FP state and sanitizer fiber are taken from this thread,
 * and stack overflows on this thread are reported. */
void worker_enter(worker *w);
void worker_leave(worker *w);

#endif
