/* rt/global_queue.h - the multi-thread runtime's global run queue, for
 * tasks spawned or woken from outside its workers, and for a worker's
 * overflow (internal).
 *
 * No lock that every remote spawn contends on (tokio#7944): the queue is a
 * set of shards, one per worker, each an intrusive multi-producer queue
 * (Vyukov's): a push is one exchange on the shard's tail and one store, from
 * any thread, never blocked by a consumer. A task goes to the shard picked
 * by its id, so pushes from many threads spread over the shards. Popping is
 * single-consumer per shard: a worker takes a shard's consumer flag with a
 * try-lock (never waits for it) and pops a batch.
 *
 * `len` counts what was pushed and not yet popped, and is incremented
 * before the push links the task in: between the two, a consumer may find
 * the shard momentarily unlinkable (the producer has swapped the tail but
 * not yet written the link) while `len` says there is work. Idle checks use
 * `len`, so a worker never goes to sleep on work that is about to become
 * visible; the producer's notification after its push covers the rest.
 */
#ifndef CORIO_RT_GLOBAL_QUEUE_H
#define CORIO_RT_GLOBAL_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/task.h"

typedef struct gq_shard {
    _Atomic(corio_task *) tail; /* producers */
    _Alignas(64) corio_task *head; /* the consumer holding `consuming` */
    _Atomic int consuming;
    corio_task stub;
} gq_shard;

typedef struct global_queue {
    unsigned nshards;
    gq_shard *shards;
    /* Written by every push and pop: a line of its own, away from what the
     * workers only read. */
    _Alignas(64) _Atomic size_t len;
    char pad_[64 - sizeof(size_t)];
} global_queue;

/* 0 or -ENOMEM. */
int gq_init(global_queue *q, unsigned nshards);
void gq_destroy(global_queue *q);

/* Push one task, or a chain first..last of n linked through `next`, from
 * any thread. */
void gq_push(global_queue *q, corio_task *t);
void gq_push_batch(global_queue *q, corio_task *first, corio_task *last, size_t n);

static inline size_t gq_len(global_queue *q)
{
    return atomic_load_explicit(&q->len, memory_order_seq_cst);
}

/* Pop up to `max` tasks, starting with shard `start`, into `out`; returns
 * how many. Never waits: a shard whose consumer flag is taken is skipped. */
size_t gq_pop_batch(global_queue *q, unsigned start, corio_task **out, size_t max);

#endif
