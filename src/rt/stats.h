/* rt/stats.h - a worker's counters for corio/introspect.h (internal).
 *
 * Each counter has one writer, the worker's own thread, and any number of
 * readers (corio_rt_worker_metrics, from any thread). So the writer adds
 * with a relaxed load and a relaxed store, not a read-modify-write: a plain
 * add to a line the worker owns, no locked instruction on the hot path; the
 * atomics are only there so that a reader gets a whole value, never a torn
 * one (and TSan sees no race). Readers get each counter as it was at some
 * moment; nothing is ordered by them.
 *
 * Busy time is one word, so that a reader needs one load to get a value
 * that is consistent and never goes back: while the worker is asleep (or,
 * current-thread, not driven) it holds the busy nanoseconds so far; while
 * it is awake, BUSY_AWAKE plus the instant the busy time would have begun
 * had it never slept (the instant it woke, less the busy time before), so
 * that the busy time is now minus that.
 */
#ifndef CORIO_RT_STATS_H
#define CORIO_RT_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "corio/introspect.h"
#include "corio/time.h"

#define BUSY_AWAKE (1ull << 63)

typedef struct worker_stats {
    _Alignas(64) _Atomic uint64_t polls; /* (the multi-thread flavour keeps its own); a line per worker */
    _Atomic uint64_t parks;
    _Atomic uint64_t steals;
    _Atomic uint64_t steal_ops;
    _Atomic uint64_t overflows;
    _Atomic uint64_t busy; /* see the top */
} worker_stats;

/* By the counter's one writer only. */
static inline void stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* stat_add with a release store: a reader that acquires the new value sees
 * what the writer stored before it. */
static inline void stat_add_release(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_release);
}

/* The worker wakes (or starts being driven) at `now`. */
static inline void stats_awake(worker_stats *s, corio_instant now)
{
    uint64_t b = atomic_load_explicit(&s->busy, memory_order_relaxed);
    if (b & BUSY_AWAKE)
        return;
    atomic_store_explicit(&s->busy, BUSY_AWAKE | (now - b), memory_order_relaxed);
}

/* The worker goes to sleep (or stops being driven) at `now`. */
static inline void stats_asleep(worker_stats *s, corio_instant now)
{
    uint64_t b = atomic_load_explicit(&s->busy, memory_order_relaxed);
    if (!(b & BUSY_AWAKE))
        return;
    uint64_t began = b & ~BUSY_AWAKE;
    atomic_store_explicit(&s->busy, now > began ? now - began : 0, memory_order_relaxed);
}

/* Any thread: the counters into *out (local_queue_depth is the
 * flavour's). */
void stats_read(worker_stats *s, corio_worker_metrics *out);

#endif
