/* rt/registry.c - the sharded list of live tasks (see registry.h). */
#include "rt/registry.h"

#include <stdlib.h>
#include <string.h>

#include "corio/error.h"

static inline reg_shard *shard_of(registry *r, const corio_task *t)
{
    return &r->shards[(t->id / TASK_ID_BLOCK) & r->mask];
}

int registry_init(registry *r, unsigned min_shards)
{
    unsigned n = 1;
    while (n < min_shards)
        n <<= 1;
    r->shards = aligned_alloc(_Alignof(reg_shard), n * sizeof *r->shards);
    if (!r->shards)
        return -ENOMEM;
    memset(r->shards, 0, n * sizeof *r->shards);
    r->mask = n - 1;
    atomic_init(&r->closed, false);
    for (unsigned i = 0; i < n; i++)
        spin_init(&r->shards[i].lock);
    return 0;
}

void registry_destroy(registry *r)
{
    free(r->shards);
    r->shards = NULL;
}

bool registry_add(registry *r, corio_task *t)
{
    /* Acquire, against the release in registry_close_and_cancel: a spawn
     * that comes after any cancel of the close (from that task's cleanup,
     * say: the cancel's acq_rel CAS on the task's state and the task's
     * acquire of it carry the order) sees the registry closed, whichever
     * shard its task falls in. A spawn that reads false here races the
     * close; if its shard is closed by the time it takes the lock it is
     * refused below, and if not, the close finds the task and cancels it. */
    if (atomic_load_explicit(&r->closed, memory_order_acquire))
        return false;
    reg_shard *s = shard_of(r, t);
    spin_lock(&s->lock);
    if (s->closed) {
        spin_unlock(&s->lock);
        return false;
    }
    t->reg_prev = NULL;
    t->reg_next = s->head;
    if (s->head)
        s->head->reg_prev = t;
    s->head = t;
    t->sched_flags |= TS_REGISTERED;
    s->live++;
    s->added++;
    spin_unlock(&s->lock);
    return true;
}

void registry_remove(registry *r, corio_task *t)
{
    reg_shard *s = shard_of(r, t);
    spin_lock(&s->lock);
    if (t->sched_flags & TS_REGISTERED) {
        if (t->reg_prev)
            t->reg_prev->reg_next = t->reg_next;
        else
            s->head = t->reg_next;
        if (t->reg_next)
            t->reg_next->reg_prev = t->reg_prev;
        t->reg_prev = t->reg_next = NULL;
        t->sched_flags &= ~TS_REGISTERED;
        s->live--;
    }
    spin_unlock(&s->lock);
}

void registry_close_and_cancel(registry *r)
{
    atomic_store_explicit(&r->closed, true, memory_order_release); /* registry_add */
    for (unsigned i = 0; i <= r->mask; i++) {
        reg_shard *s = &r->shards[i];
        spin_lock(&s->lock);
        s->closed = true;
        /* task_cancel only sets bits and may queue the task (a lock-free
         * push): short enough to do under the shard's lock, which keeps the
         * tasks from being freed meanwhile (removal takes the lock). */
        for (corio_task *t = s->head; t; t = t->reg_next)
            task_cancel(t);
        spin_unlock(&s->lock);
    }
}

size_t registry_live(registry *r)
{
    size_t n = 0;
    for (unsigned i = 0; i <= r->mask; i++) {
        reg_shard *s = &r->shards[i];
        spin_lock(&s->lock);
        n += s->live;
        spin_unlock(&s->lock);
    }
    return n;
}

void registry_counts(registry *r, uint64_t *live, uint64_t *added)
{
    uint64_t l = 0, a = 0;
    for (unsigned i = 0; i <= r->mask; i++) {
        reg_shard *s = &r->shards[i];
        spin_lock(&s->lock);
        l += s->live;
        a += s->added;
        spin_unlock(&s->lock);
    }
    *live = l;
    *added = a;
}

bool registry_each(registry *r, unsigned i, bool (*fn)(corio_task *t, void *arg), void *arg)
{
    reg_shard *s = &r->shards[i];
    bool all = true;
    spin_lock(&s->lock);
    for (corio_task *t = s->head; t && all; t = t->reg_next)
        all = fn(t, arg);
    spin_unlock(&s->lock);
    return all;
}
