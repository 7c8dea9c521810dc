/* rt/global_queue.c - the sharded global run queue (see global_queue.h).
 *
 * Each shard is Vyukov's intrusive MPSC queue: `tail` is the last node
 * pushed, `head` the next to pop, a stub node keeps the list non-empty.
 * The link of a node (its `next`) is written by the producer after its
 * exchange and read by the consumer, so it is accessed atomically.
 */
#include "rt/global_queue.h"

#include <stdlib.h>
#include <string.h>

#include "corio/error.h"

static inline corio_task *link_load(corio_task *t)
{
    return __atomic_load_n(&t->next, __ATOMIC_ACQUIRE);
}

static inline void link_store(corio_task *t, corio_task *next)
{
    /* Release: what the producer wrote into the task before pushing it is
     * visible to the consumer that follows this link. */
    __atomic_store_n(&t->next, next, __ATOMIC_RELEASE);
}

int gq_init(global_queue *q, unsigned nshards)
{
    if (nshards == 0)
        nshards = 1;
    q->shards = aligned_alloc(_Alignof(gq_shard), nshards * sizeof *q->shards);
    if (!q->shards)
        return -ENOMEM;
    memset(q->shards, 0, nshards * sizeof *q->shards);
    q->nshards = nshards;
    atomic_init(&q->len, 0);
    for (unsigned i = 0; i < nshards; i++) {
        gq_shard *s = &q->shards[i];
        s->stub.next = NULL;
        s->head = &s->stub;
        atomic_init(&s->tail, &s->stub);
        atomic_init(&s->consuming, 0);
    }
    return 0;
}

void gq_destroy(global_queue *q)
{
    free(q->shards);
    q->shards = NULL;
}

static void shard_link(gq_shard *s, corio_task *first, corio_task *last)
{
    /* AcqRel: orders the chain's contents before the tail swap, and the
     * previous node's push before our link to it. */
    corio_task *prev = atomic_exchange_explicit(&s->tail, last, memory_order_acq_rel);
    link_store(prev, first);
}

void gq_push(global_queue *q, corio_task *t)
{
    link_store(t, NULL);
    /* SeqCst: one side of the idle handshake (idle.h): the count is up
     * before the pusher looks for a worker to wake. */
    atomic_fetch_add_explicit(&q->len, 1, memory_order_seq_cst);
    shard_link(&q->shards[t->id % q->nshards], t, t);
}

void gq_push_batch(global_queue *q, corio_task *first, corio_task *last, size_t n)
{
    link_store(last, NULL);
    atomic_fetch_add_explicit(&q->len, n, memory_order_seq_cst);
    shard_link(&q->shards[first->id % q->nshards], first, last);
}

/* One node off the shard, or NULL (empty, or a producer is between its
 * exchange and its link: try again later). With `consuming` held. */
static corio_task *shard_pop(gq_shard *s)
{
    corio_task *head = s->head;
    corio_task *next = link_load(head);
    if (head == &s->stub) {
        if (!next)
            return NULL;
        s->head = next;
        head = next;
        next = link_load(head);
    }
    if (next) {
        s->head = next;
        return head;
    }
    if (head != atomic_load_explicit(&s->tail, memory_order_acquire))
        return NULL; /* a push is half done */
    /* head is the last node: put the stub behind it, so it can be taken. */
    link_store(&s->stub, NULL);
    shard_link(s, &s->stub, &s->stub);
    next = link_load(head);
    if (next) {
        s->head = next;
        return head;
    }
    return NULL;
}

size_t gq_pop_batch(global_queue *q, unsigned start, corio_task **out, size_t max)
{
    size_t n = 0;
    if (max == 0 || atomic_load_explicit(&q->len, memory_order_relaxed) == 0)
        return 0;
    for (unsigned k = 0; k < q->nshards && n < max; k++) {
        gq_shard *s = &q->shards[(start + k) % q->nshards];
        if (atomic_load_explicit(&s->consuming, memory_order_relaxed) ||
            atomic_exchange_explicit(&s->consuming, 1, memory_order_acquire))
            continue;
        corio_task *t;
        while (n < max && (t = shard_pop(s)) != NULL)
            out[n++] = t;
        atomic_store_explicit(&s->consuming, 0, memory_order_release);
    }
    if (n)
        atomic_fetch_sub_explicit(&q->len, n, memory_order_relaxed);
    return n;
}
