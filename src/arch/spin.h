/* arch/spin.h - a spinlock for critical sections of a few dozen instructions.
 *
 * For data that one thread uses almost always and others only rarely (a
 * worker's timer wheel, cancelled from another worker now and then): an
 * uncontended lock and unlock are one exchange and one store, against a
 * function call and two atomics for a pthread mutex. A waiter spins with the
 * CPU's pause hint for a while, then yields its time slice, so a holder that
 * was preempted gets the CPU back instead of being spun against forever.
 *
 * Never hold one across anything that can block or take long: a system
 * call, a wake of unknown cost, a user callback.
 */
#ifndef CORIO_ARCH_SPIN_H
#define CORIO_ARCH_SPIN_H

#include <sched.h>
#include <stdatomic.h>

typedef struct spinlock {
    _Atomic int held;
} spinlock;

#define SPINLOCK_INIT {0}

static inline void spin_init(spinlock *l)
{
    atomic_init(&l->held, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#endif
}

/* Wait until *v reads 0: spin with the pause hint, then yield the time
 * slice, so that a writer that was preempted gets the CPU back. Plain
 * (relaxed) loads, so the line is not bounced between waiters; the caller
 * orders what it needs after. */
static inline void spin_wait_zero(_Atomic int *v)
{
    unsigned spins = 0;
    while (atomic_load_explicit(v, memory_order_relaxed)) {
        if (++spins < 100)
            cpu_relax();
        else
            sched_yield();
    }
}

static inline void spin_lock(spinlock *l)
{
    /* Acquire: the holder's writes made before its release are visible. */
    while (atomic_exchange_explicit(&l->held, 1, memory_order_acquire))
        spin_wait_zero(&l->held);
}

static inline int spin_trylock(spinlock *l)
{
    return !atomic_load_explicit(&l->held, memory_order_relaxed) &&
           !atomic_exchange_explicit(&l->held, 1, memory_order_acquire);
}

static inline void spin_unlock(spinlock *l)
{
    atomic_store_explicit(&l->held, 0, memory_order_release);
}

#endif
