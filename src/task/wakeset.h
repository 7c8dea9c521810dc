/* task/wakeset.h - a waker per child and a ready list: how a combinator
 * that waits for many children (task_join_all, a join_all of more than 64
 * futures, a JoinSet) learns which of them to poll again without polling
 * them all (futures' FuturesUnordered) (internal).
 *
 * A wakeset is a heap block, the `core`, shared by the owner (the
 * combinator) and the wakers it hands to its children: each child is polled
 * with a waker of its own whose data is the child's `ws_slot`. Waking a
 * slot pushes it on the core's ready stack, once until the owner takes it
 * off, and wakes the owner's waker when the stack was empty. The owner
 * drains the stack when it is polled and polls only the slots it finds.
 *
 * Lifetime: a child may keep (or be in the middle of waking) a clone of its
 * waker after the owner stopped caring: a task wakes its join waker after
 * publishing COMPLETE, and drops it only when the task's memory goes, maybe
 * much later. So the core is reference counted: one reference for the
 * owner, one per waker clone; its slots live in memory the core owns (its
 * tail and its chunks) and are never freed before it. The ready stack holds
 * no references: a slot pushed after the owner left just sits there until
 * the core goes. ws_close tells late wakes to leave the owner's waker alone.
 *
 * Invariants:
 *  - `queued` is 1 from the wake that pushes a slot until the owner, having
 *    taken the slot off the stack, is about to poll its child again
 *    (ws_slot_take): a slot is on the stack at most once, and is never on
 *    it and on the owner's own list of drained slots at the same time.
 *  - The stack goes from empty to not empty only by a push that then wakes
 *    the owner; the owner drains it whole (one exchange), so no slot waits
 *    on it unseen. Draining after storing its waker (ws_set_owner), the
 *    owner cannot miss a push: either its exchange takes the slot, or the
 *    pusher sees an empty stack and wakes the waker just stored (the push
 *    reads from the exchange, so the store under the lock happened before).
 *  - Only the owner writes `owner` (under `lock`) and reads it without the
 *    lock; wakers clone it under the lock, then wake the clone after
 *    unlocking (a wake may run a user's waker: never under a spinlock).
 */
#ifndef CORIO_TASK_WAKESET_H
#define CORIO_TASK_WAKESET_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "arch/spin.h"
#include "corio/future.h"

typedef struct ws_core ws_core;

typedef struct ws_slot {
    ws_core *core;
    struct ws_slot *next; /* on the ready stack */
    _Atomic int queued;
} ws_slot;

/* Extra memory for slots, owned by the core. */
typedef struct ws_chunk {
    struct ws_chunk *next;
    alignas(16) unsigned char mem[];
} ws_chunk;

struct ws_core {
    _Atomic size_t refs;
    _Atomic(ws_slot *) ready;
    spinlock lock;
    bool closed;       /* under lock: late wakes leave `owner` alone */
    corio_waker owner; /* under lock; the owner reads it without */
    ws_chunk *chunks;  /* the owner's */
    alignas(16) unsigned char tail[];
};

static void ws_free(ws_core *c)
{
    for (ws_chunk *k = c->chunks, *nk; k; k = nk) {
        nk = k->next;
        free(k);
    }
    free(c);
}

/* Drop one reference: the last one frees the core and its slots. */
static inline void ws_release(ws_core *c)
{
    /* Acq_rel: whoever frees sees every write made under every reference
     * (the owner's chunk list, the slots' last pushes). */
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        ws_free(c);
}

/* A new core with `tail_bytes` of slot memory after it (ws_tail), one
 * reference (the owner's). NULL when out of memory. */
static inline ws_core *ws_new(size_t tail_bytes)
{
    if (tail_bytes > SIZE_MAX - sizeof(ws_core))
        return NULL;
    ws_core *c = malloc(sizeof(ws_core) + tail_bytes);
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    atomic_init(&c->ready, NULL);
    spin_init(&c->lock);
    c->closed = false;
    c->owner = CORIO_WAKER_NONE;
    c->chunks = NULL;
    return c;
}

static inline void *ws_tail(ws_core *c)
{
    return c->tail;
}

/* More slot memory, freed with the core. NULL when out of memory. */
static inline void *ws_add_chunk(ws_core *c, size_t bytes)
{
    if (bytes > SIZE_MAX - sizeof(ws_chunk))
        return NULL;
    ws_chunk *k = malloc(sizeof(ws_chunk) + bytes);
    if (!k)
        return NULL;
    k->next = c->chunks;
    c->chunks = k;
    return k->mem;
}

static inline void ws_slot_init(ws_slot *s, ws_core *c)
{
    s->core = c;
    s->next = NULL;
    atomic_init(&s->queued, 0);
}

/* Mark `s` ready: push it unless it is queued already; wake the owner when
 * the stack was empty. Any thread. */
static void ws_notify(ws_slot *s)
{
    /* Acq_rel: the first wake since the owner took the slot wins; what the
     * child did before waking is published by the push below. */
    if (atomic_exchange_explicit(&s->queued, 1, memory_order_acq_rel))
        return;
    ws_core *c = s->core;
    ws_slot *old = atomic_load_explicit(&c->ready, memory_order_relaxed);
    do
        s->next = old;
    /* Release: s->next (and the child's work) is visible to the owner's
     * drain. Acquire: when the stack was empty, the owner's exchange is
     * read, so its waker store under the lock happened before ours. */
    while (!atomic_compare_exchange_weak_explicit(&c->ready, &old, s, memory_order_acq_rel,
                                                  memory_order_relaxed));
    if (old)
        return; /* the push that made the stack non-empty woke the owner */
    spin_lock(&c->lock);
    corio_waker w = c->closed ? CORIO_WAKER_NONE : corio_waker_clone(&c->owner);
    spin_unlock(&c->lock);
    corio_waker_wake(&w);
}

static const void *ws_waker_clone(const void *d)
{
    /* Relaxed: made from a live reference (see state_ref_inc). */
    atomic_fetch_add_explicit(&((ws_slot *)d)->core->refs, 1, memory_order_relaxed);
    return d;
}

static void ws_waker_wake_by_ref(const void *d)
{
    ws_notify((ws_slot *)d);
}

static void ws_waker_wake(const void *d)
{
    ws_slot *s = (ws_slot *)d;
    ws_core *c = s->core;
    ws_notify(s);
    ws_release(c);
}

static void ws_waker_drop(const void *d)
{
    ws_release(((ws_slot *)d)->core);
}

static const corio_waker_vtable ws_waker_vtable = {ws_waker_clone, ws_waker_wake,
                                                   ws_waker_wake_by_ref, ws_waker_drop};

/* The waker of slot `s`, borrowed (no reference taken): hand it to a
 * child's poll, which clones it if it keeps it. */
static inline corio_waker ws_slot_waker(ws_slot *s)
{
    corio_waker w = {&ws_waker_vtable, s};
    return w;
}

/* The owner, before draining: wake `w` on the next push. */
static inline void ws_set_owner(ws_core *c, const corio_waker *w)
{
    if (corio_waker_will_wake(&c->owner, w))
        return;
    corio_waker nw = corio_waker_clone(w);
    spin_lock(&c->lock);
    corio_waker old = c->owner;
    c->owner = nw;
    spin_unlock(&c->lock);
    corio_waker_drop(&old);
}

/* The owner: take every slot pushed so far, oldest first (the stack is
 * reversed), chained through `next`. Each stays queued until ws_slot_take. */
static inline ws_slot *ws_drain(ws_core *c)
{
    if (!atomic_load_explicit(&c->ready, memory_order_acquire))
        return NULL;
    /* Acq_rel: acquire the pushes; release for the handshake with the
     * next pusher (see the top). */
    ws_slot *s = atomic_exchange_explicit(&c->ready, NULL, memory_order_acq_rel);
    ws_slot *rev = NULL;
    while (s) {
        ws_slot *n = s->next;
        s->next = rev;
        rev = s;
        s = n;
    }
    return rev;
}

/* The owner, about to poll the child of a drained slot: from now on a wake
 * pushes it again. */
static inline void ws_slot_take(ws_slot *s)
{
    /* An exchange, not a store: a wake that found the slot still queued
     * (and pushed nothing) wrote the 1 this reads, so what the child did
     * before that wake (a task's COMPLETE) is visible to the poll that
     * follows; a wake after this one reads the 0 and pushes. */
    (void)atomic_exchange_explicit(&s->queued, 0, memory_order_acq_rel);
}

/* The owner is done with the core: late wakes touch only the stack, and
 * the owner's waker is given back; then the owner's reference goes. */
static inline void ws_close(ws_core *c)
{
    spin_lock(&c->lock);
    c->closed = true;
    corio_waker old = c->owner;
    c->owner = CORIO_WAKER_NONE;
    spin_unlock(&c->lock);
    corio_waker_drop(&old);
    ws_release(c);
}

#endif
