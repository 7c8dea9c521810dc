/* rt/registry.c - the sharded list of live tasks (see registry.h). */
#include "rt/registry.h"

#include <stdlib.h>

#include "corio/error.h"

int registry_init(registry *r, unsigned min_shards)
{
    unsigned n = 1;
    while (n < min_shards)
        n <<= 1;
    r->shards = calloc(n, sizeof *r->shards);
    if (!r->shards)
        return -ENOMEM;
    r->mask = n - 1;
    for (unsigned i = 0; i < n; i++)
        spin_init(&r->shards[i].lock);
    atomic_init(&r->live, 0);
    return 0;
}

void registry_destroy(registry *r)
{
    free(r->shards);
    r->shards = NULL;
}

bool registry_add(registry *r, corio_task *t)
{
    reg_shard *s = &r->shards[t->id & r->mask];
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
    /* Relaxed: shutdown reads it with acquire after the shards' locks. */
    atomic_fetch_add_explicit(&r->live, 1, memory_order_relaxed);
    spin_unlock(&s->lock);
    return true;
}

void registry_remove(registry *r, corio_task *t)
{
    reg_shard *s = &r->shards[t->id & r->mask];
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
        /* Release: a shutdown that sees the count reach 0 sees this task's
         * completion done. */
        atomic_fetch_sub_explicit(&r->live, 1, memory_order_release);
    }
    spin_unlock(&s->lock);
}

void registry_close_and_cancel(registry *r)
{
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
