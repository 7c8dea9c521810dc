/* rt/registry.h - the multi-thread runtime's list of live tasks, so that
 * shutdown can cancel every one of them (internal; tokio's OwnedTasks).
 *
 * Sharded by task id, a spinlock per shard: a task is added on the thread
 * that spawns it (spawned from outside the runtime's threads: on the one
 * that takes it in, rt/multi_thread.c's take_in_new) and removed on the
 * worker that completes it, which never wait for each other for long. The shard is picked by the id's block
 * (task ids come to each thread in blocks of TASK_ID_BLOCK, core/task.h),
 * so the tasks one thread spawns in a row share a shard that other threads
 * are rarely using at the time: the lock's cache line stays where it is.
 * No count is shared by every spawn either: each shard counts its own. Once closed, no
 * task is added (the spawn fails with CORIO_ESHUTDOWN), so closing and then
 * cancelling every task found leaves none uncancelled.
 *
 * The shards close one after another, so the registry as a whole is closed
 * first (`closed`, read by every add): a task cancelled from an early shard
 * may run its cleanup on another worker at once, and a spawn there must not
 * slip into a shard not yet closed (it did, and returned 0 during the
 * shutdown).
 *
 * Both flavours keep one. The current-thread runtime's has a single shard
 * and a single owner, its driving thread, the only one that adds and
 * removes: its lock is asymmetric (arch/asym.h), two plain stores for the
 * owner, a membarrier for the rare visitor, so that introspection
 * (rt/introspect.c) can walk the list from any thread, while the runtime
 * runs or while its driver is stuck, without a locked instruction on every
 * spawn. The multi-thread runtime's shards are spinlocks for all.
 *
 * The counts (`live`, `added`) are changed under the shard's lock and read
 * without it (stat_add_release by the holder, rt/stats.h: a reader that
 * acquires a count sees the list change made before it).
 *
 * Links: corio_task.reg_prev/reg_next and TS_REGISTERED in sched_flags,
 * under the shard's lock.
 */
#ifndef CORIO_RT_REGISTRY_H
#define CORIO_RT_REGISTRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/asym.h"
#include "core/task.h"
#include "rt/stats.h"

typedef struct reg_shard {
    _Alignas(64) asym_lock lock;
    bool closed;
    corio_task *head;
    _Atomic uint64_t live;
    _Atomic uint64_t added; /* tasks ever added */
} reg_shard;

typedef struct registry {
    unsigned mask;       /* shards - 1, a power of two */
    _Atomic bool closed; /* set before any shard closes */
    reg_shard *shards;
} registry;

/* 0 or -ENOMEM. `min_shards` is rounded up to a power of two.
 * `single_owner`: one thread at a time adds, removes and closes (the
 * current-thread runtime's driver); anyone may read. */
int registry_init(registry *r, unsigned min_shards, bool single_owner);
void registry_destroy(registry *r);

/* Inline: on the path of every spawn and completion. */
static inline reg_shard *reg_shard_of(registry *r, const corio_task *t)
{
    return &r->shards[(t->id / TASK_ID_BLOCK) & r->mask];
}

/* false once closed (nothing added). */
static inline bool registry_add(registry *r, corio_task *t)
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
    reg_shard *s = reg_shard_of(r, t);
    bool fast = asym_owner_lock(&s->lock);
    if (s->closed) {
        asym_owner_unlock(&s->lock, fast);
        return false;
    }
    t->reg_prev = NULL;
    t->reg_next = s->head;
    if (s->head)
        s->head->reg_prev = t;
    s->head = t;
    t->sched_flags |= TS_REGISTERED;
    stat_add_release(&s->live, 1);
    stat_add_release(&s->added, 1);
    asym_owner_unlock(&s->lock, fast);
    return true;
}

/* Returns whether t was registered (and now is not). */
static inline bool registry_remove(registry *r, corio_task *t)
{
    reg_shard *s = reg_shard_of(r, t);
    bool fast = asym_owner_lock(&s->lock);
    bool was = (t->sched_flags & TS_REGISTERED) != 0;
    if (was) {
        if (t->reg_prev)
            t->reg_prev->reg_next = t->reg_next;
        else
            s->head = t->reg_next;
        if (t->reg_next)
            t->reg_next->reg_prev = t->reg_prev;
        t->reg_prev = t->reg_next = NULL;
        t->sched_flags &= ~TS_REGISTERED;
        stat_add_release(&s->live, (uint64_t)-1);
    }
    asym_owner_unlock(&s->lock, fast);
    return was;
}

/* Refuse new tasks, then cancel every live one (task_cancel: they are
 * queued and unwind). */
void registry_close_and_cancel(registry *r);

/* Tasks still registered (acquire: a count of 0 comes after every removal
 * it counts: for shutdown). */
size_t registry_live(registry *r);

/* Tasks registered now, and ever, added up over the shards (each shard's
 * as it was at some moment). */
void registry_counts(registry *r, uint64_t *live, uint64_t *added);

static inline unsigned registry_shards(const registry *r)
{
    return r->mask + 1;
}

/* Call fn(t, arg) for each task of shard `i`, under the shard's lock (the
 * task cannot be freed meanwhile; fn must be short and take no lock that a
 * spawn or a completion may hold), until fn returns false. Returns false
 * when fn did. Any thread (a visitor's side of the lock). */
bool registry_each(registry *r, unsigned i, bool (*fn)(corio_task *t, void *arg), void *arg);

#endif
