/* arch/asym.h - an asymmetric lock: its owner thread takes it with two
 * plain stores and a load, any other thread (a visitor) pays a process-wide
 * memory barrier instead (membarrier(2)) (internal).
 *
 * For data that one thread changes all the time and others read rarely:
 * the current-thread runtime's list of live tasks, changed by its driving
 * thread at every spawn and completion, and walked by a task dump from any
 * thread. A spinlock there cost two locked instructions per task, about a
 * fifth of a spawn-and-complete (chained_spawn on one thread).
 *
 * The protocol (Dekker's, with the owner's fence moved to the visitor):
 *   owner:   busy = 1; (compiler barrier); if wanted: busy = 0, take `slow`;
 *            ... change the data ...; busy = 0 (release)
 *   visitor: take `slow`; wanted = 1; membarrier (every thread of the
 *            process runs a full barrier); wait until busy == 0 (acquire);
 *            ... read the data ...; wanted = 0 (release); drop `slow`
 * After the membarrier, either the owner's busy = 1 is visible to the
 * visitor (it waits for the owner's release) or the owner's later load of
 * `wanted` sees 1 (it takes `slow`, which the visitor holds): never both
 * inside at once. Without the barrier the owner's store could still sit in
 * its store buffer while the visitor reads busy == 0. The owner drops busy
 * before it takes `slow`, so the two never wait for each other.
 *
 * Every happens-before edge the data needs is an acquire/release pair
 * (busy's release to the visitor's acquire; wanted's release to the
 * owner's acquire; `slow`), so TSan, which does not know membarrier, sees
 * each access ordered.
 *
 * Where membarrier's private expedited command is missing (kernels before
 * 4.14, qemu-user, some sandboxes), or for a lock made with
 * asym_init(l, false), every side takes `slow`: a plain spinlock.
 *
 * Owner means one thread at a time: a new owner must come after the last
 * one by an acquire/release pair of its own (the current-thread runtime's
 * `driving` claim).
 */
#ifndef CORIO_ARCH_ASYM_H
#define CORIO_ARCH_ASYM_H

#include <stdatomic.h>
#include <stdbool.h>

#include "arch/spin.h"

typedef struct asym_lock {
    _Atomic int busy;   /* the owner is inside, on the fast path */
    _Atomic int wanted; /* a visitor is in, or on its way */
    spinlock slow;      /* visitors, and the owner when one is there */
    bool fast;          /* the owner's fast path is in use */
} asym_lock;

/* `single_owner`: only one thread at a time takes the owner's side (else
 * the lock is a spinlock for everyone). */
void asym_init(asym_lock *l, bool single_owner);

/* The owner's side, when the fast path cannot be taken (out of line: the
 * fast path stays a few instructions). Returns false. */
bool asym_owner_lock_slow(asym_lock *l);

/* The owner's side. Returns what asym_owner_unlock needs back. */
static inline bool asym_owner_lock(asym_lock *l)
{
    if (__builtin_expect(l->fast, 1)) {
        atomic_store_explicit(&l->busy, 1, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst); /* the rest is the visitor's barrier */
        /* Acquire: a visitor's reads are done before we change anything. */
        if (__builtin_expect(!atomic_load_explicit(&l->wanted, memory_order_acquire), 1))
            return true;
    }
    return asym_owner_lock_slow(l);
}

static inline void asym_owner_unlock(asym_lock *l, bool fast)
{
    if (__builtin_expect(fast, 1))
        atomic_store_explicit(&l->busy, 0, memory_order_release); /* to the visitor */
    else
        spin_unlock(&l->slow);
}

/* A visitor's side (any thread; a system call when the fast path is on). */
void asym_visit_lock(asym_lock *l);
void asym_visit_unlock(asym_lock *l);

#endif
