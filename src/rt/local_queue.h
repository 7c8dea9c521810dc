/* rt/local_queue.h - a worker's run queue: a bounded ring its owner pushes
 * to and pops from, and other workers steal half of (internal).
 *
 * The algorithm is tokio's (runtime/scheduler/multi_thread/queue.rs):
 *
 *   tail      written by the owner only (release), read by stealers (acquire)
 *   head      (steal << 32 | real), changed by CAS: the owner's pops move
 *             `real`; a stealer first moves `real` past the tasks it takes,
 *             keeping `steal` where it was, copies them, then moves `steal`
 *             up to `real`. While the two differ a steal is in progress, and
 *             the owner treats the slots from `steal` on as taken: it never
 *             writes over a slot a stealer may still be reading.
 *   buf[i]    written by the owner at `tail` before publishing it, read by
 *             pops and steals of slots below the tail they acquired.
 *
 * Indices are u32 counters that wrap; slot = index & MASK. Only one steal at
 * a time is possible per queue (a second stealer sees steal != real and
 * gives up on this victim). Slots are relaxed atomics: every ordering comes
 * from head and tail, and the atomics keep the slot accesses that race by
 * design (a stealer reading a slot the owner is about to reuse, after the
 * stealer's CAS told the owner it may) well-defined.
 */
#ifndef CORIO_RT_LOCAL_QUEUE_H
#define CORIO_RT_LOCAL_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/task.h"

/* Four times tokio's 256: moving a coroutine to another worker costs more
 * than moving a tokio task (its stack's hot lines follow it), and a queue
 * that overflows sends half of it through the global queue, to whichever
 * worker pulls it (docs/runtime.md). 8 KiB per worker. */
#define LQ_CAP 1024u
#define LQ_MASK (LQ_CAP - 1)

typedef struct local_queue {
    _Atomic uint64_t head;
    _Atomic uint32_t tail;
    _Atomic(corio_task *) buf[LQ_CAP];
} local_queue;

static inline uint64_t lq_pack(uint32_t steal, uint32_t real)
{
    return (uint64_t)steal << 32 | real;
}
static inline uint32_t lq_steal(uint64_t h)
{
    return (uint32_t)(h >> 32);
}
static inline uint32_t lq_real(uint64_t h)
{
    return (uint32_t)h;
}

/* `q` must be zeroed memory (the workers are calloc'd): the slots are left
 * as they are, so that the 8 KiB ring's pages stay untouched, not resident,
 * until a busy moment fills them (docs/runtime.md: a worker's cost). A slot
 * is only ever read after a push has written it. */
static inline void lq_init(local_queue *q)
{
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
}

/* Tasks in the queue (a snapshot; exact for the owner). */
static inline uint32_t lq_len(local_queue *q)
{
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
    return t - lq_real(h);
}

static inline bool lq_is_empty(local_queue *q)
{
    return lq_len(q) == 0;
}

/* Owner: append `t`. Returns false when the queue is full (the caller moves
 * work out: lq_take_half, then pushes again, or sends `t` elsewhere). */
static inline bool lq_push(local_queue *q, corio_task *t)
{
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    /* Relaxed: only this thread writes the tail. */
    uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (tail - lq_steal(h) >= LQ_CAP)
        return false;
    atomic_store_explicit(&q->buf[tail & LQ_MASK], t, memory_order_relaxed);
    /* Release: the slot is written before a stealer or pop can see it. */
    atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
    return true;
}

/* Owner, after lq_push failed: take the older half out (oldest first,
 * linked through their `next` fields) to move to the global queue. Returns
 * the first task and stores the last in *last and how many in *n. Returns
 * NULL with *n = 0 when the queue has room after all (a steal finished
 * since: push again), NULL with *n = 1 when a steal is in progress (its
 * slots are not ours to reuse yet: send the task elsewhere).
 *
 * lq_push refuses when tail - steal reaches the capacity, and `steal` lags
 * behind `real` while a stealer copies: the queue may then hold fewer than
 * the capacity, fewer even than half of it once the steal ends. So this
 * moves tasks only when the queue is really full (tail - real == LQ_CAP,
 * which with steal == real is the only way push can have failed). */
static inline corio_task *lq_take_half(local_queue *q, corio_task **last, uint32_t *n)
{
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    uint32_t real = lq_real(h);
    /* Relaxed: only this thread writes the tail. */
    uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    *n = 1;
    if (lq_steal(h) != real)
        return NULL;
    *n = 0;
    if (tail - real < LQ_CAP)
        return NULL;
    uint32_t take = LQ_CAP / 2;
    /* AcqRel: claims the slots against stealers (who read head with
     * acquire) and sees their finished steals. A stealer that got in first
     * makes this fail: the queue then has room, push again. */
    if (!atomic_compare_exchange_strong_explicit(&q->head, &h, lq_pack(real + take, real + take),
                                                 memory_order_acq_rel, memory_order_acquire))
        return NULL;
    corio_task *first = atomic_load_explicit(&q->buf[real & LQ_MASK], memory_order_relaxed);
    corio_task *prev = first;
    for (uint32_t i = 1; i < take; i++) {
        corio_task *t = atomic_load_explicit(&q->buf[(real + i) & LQ_MASK], memory_order_relaxed);
        prev->next = t;
        prev = t;
    }
    prev->next = NULL;
    *last = prev;
    *n = take;
    return first;
}

/* Owner: the oldest task, or NULL. */
static inline corio_task *lq_pop(local_queue *q)
{
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    for (;;) {
        uint32_t steal = lq_steal(h), real = lq_real(h);
        uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (real == tail)
            return NULL;
        uint32_t next_real = real + 1;
        /* No steal in progress: both move; else only ours. */
        uint64_t next = steal == real ? lq_pack(next_real, next_real) : lq_pack(steal, next_real);
        if (atomic_compare_exchange_weak_explicit(&q->head, &h, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            return atomic_load_explicit(&q->buf[real & LQ_MASK], memory_order_relaxed);
    }
}

/* The owner: start loading the header of the task lq_pop would return
 * next. A hint only: a stealer may take that task (and it may even be done
 * and freed) before it is used, which a prefetch does not mind. */
static inline void lq_prefetch_next(local_queue *q)
{
    uint32_t real = lq_real(atomic_load_explicit(&q->head, memory_order_relaxed));
    if (real != atomic_load_explicit(&q->tail, memory_order_relaxed))
        __builtin_prefetch(atomic_load_explicit(&q->buf[real & LQ_MASK], memory_order_relaxed));
}

/* A stealer: move about half of `src`'s tasks to `dst` (the stealer's own
 * queue, which must have room for them: the stealer only steals when its
 * queue is empty). Returns one of them to run now (it is not put in dst),
 * or NULL when there was nothing to take or another steal was in progress.
 * *taken (may be NULL): how many it took, the one returned included. */
static inline corio_task *lq_steal_into(local_queue *src, local_queue *dst, uint32_t *taken)
{
    uint32_t dst_tail = atomic_load_explicit(&dst->tail, memory_order_relaxed);
    uint64_t dh = atomic_load_explicit(&dst->head, memory_order_acquire);
    if (dst_tail - lq_steal(dh) > LQ_CAP / 2)
        return NULL; /* no room: the caller runs its own tasks first */
    /* Claim: move src.real past the tasks to take, keeping src.steal. */
    uint64_t h = atomic_load_explicit(&src->head, memory_order_acquire);
    uint32_t first, n;
    for (;;) {
        uint32_t steal = lq_steal(h), real = lq_real(h);
        if (steal != real)
            return NULL; /* another stealer is at work */
        uint32_t tail = atomic_load_explicit(&src->tail, memory_order_acquire);
        n = tail - real;
        n -= n / 2;
        if (n == 0)
            return NULL;
        if (atomic_compare_exchange_weak_explicit(&src->head, &h, lq_pack(steal, real + n),
                                                  memory_order_acq_rel, memory_order_acquire)) {
            first = real;
            break;
        }
    }
    /* Copy them: the last one is returned, the others go to dst. */
    for (uint32_t i = 0; i + 1 < n; i++) {
        corio_task *t = atomic_load_explicit(&src->buf[(first + i) & LQ_MASK], memory_order_relaxed);
        atomic_store_explicit(&dst->buf[(dst_tail + i) & LQ_MASK], t, memory_order_relaxed);
    }
    corio_task *ret =
        atomic_load_explicit(&src->buf[(first + n - 1) & LQ_MASK], memory_order_relaxed);
    /* Done copying: move src.steal up to src.real (which the owner's pops
     * may have moved on meanwhile). Release: our slot reads happen before
     * the owner may write over those slots. */
    h = atomic_load_explicit(&src->head, memory_order_acquire);
    for (;;) {
        uint32_t real = lq_real(h);
        if (atomic_compare_exchange_weak_explicit(&src->head, &h, lq_pack(real, real),
                                                  memory_order_acq_rel, memory_order_acquire))
            break;
    }
    if (n > 1)
        atomic_store_explicit(&dst->tail, dst_tail + n - 1, memory_order_release);
    if (taken)
        *taken = n;
    return ret;
}

#endif
