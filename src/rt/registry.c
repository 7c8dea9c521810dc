/* rt/registry.c - the sharded list of live tasks (see registry.h). */
#include "rt/registry.h"

#include <stdlib.h>
#include <string.h>

#include "corio/error.h"

int registry_init(registry *r, unsigned min_shards, bool single_owner)
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
    for (unsigned i = 0; i < n; i++) {
        asym_init(&r->shards[i].lock, single_owner);
        atomic_init(&r->shards[i].live, 0);
        atomic_init(&r->shards[i].added, 0);
    }
    return 0;
}

void registry_destroy(registry *r)
{
    free(r->shards);
    r->shards = NULL;
}

void registry_close_and_cancel(registry *r)
{
    atomic_store_explicit(&r->closed, true, memory_order_release); /* registry_add */
    for (unsigned i = 0; i <= r->mask; i++) {
        reg_shard *s = &r->shards[i];
        bool fast = asym_owner_lock(&s->lock);
        s->closed = true;
        /* task_cancel only sets bits and may queue the task (a lock-free
         * push): short enough to do under the shard's lock, which keeps the
         * tasks from being freed meanwhile (removal takes the lock). */
        for (corio_task *t = s->head; t; t = t->reg_next)
            task_cancel(t);
        asym_owner_unlock(&s->lock, fast);
    }
}

size_t registry_live(registry *r)
{
    size_t n = 0;
    for (unsigned i = 0; i <= r->mask; i++)
        n += (size_t)atomic_load_explicit(&r->shards[i].live, memory_order_acquire);
    return n;
}

void registry_counts(registry *r, uint64_t *live, uint64_t *added)
{
    uint64_t l = 0, a = 0;
    for (unsigned i = 0; i <= r->mask; i++) {
        reg_shard *s = &r->shards[i];
        l += atomic_load_explicit(&s->live, memory_order_acquire);
        a += atomic_load_explicit(&s->added, memory_order_relaxed);
    }
    *live = l;
    *added = a;
}

bool registry_each(registry *r, unsigned i, bool (*fn)(corio_task *t, void *arg), void *arg)
{
    reg_shard *s = &r->shards[i];
    bool all = true;
    asym_visit_lock(&s->lock);
    for (corio_task *t = s->head; t && all; t = t->reg_next)
        all = fn(t, arg);
    asym_visit_unlock(&s->lock);
    return all;
}
