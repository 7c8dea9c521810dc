/* rt/registry.h - the multi-thread runtime's list of live tasks, so that
 * shutdown can cancel every one of them (internal; tokio's OwnedTasks).
 *
 * Sharded by task id, a spinlock per shard: a task is added on the thread
 * that spawns it and removed on the worker that completes it, which never
 * wait for each other for long. The shard is picked by the id's block
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
 * Both flavours keep one: the current-thread runtime's has a single shard,
 * whose lock its one driving thread takes uncontended, there so that
 * introspection (rt/introspect.c) can read the list from any thread while
 * the runtime runs, or while its driver is stuck.
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

#include "arch/spin.h"
#include "core/task.h"

typedef struct reg_shard {
    _Alignas(64) spinlock lock;
    bool closed;
    corio_task *head;
    size_t live;
    uint64_t added; /* tasks ever added */
} reg_shard;

typedef struct registry {
    unsigned mask;       /* shards - 1, a power of two */
    _Atomic bool closed; /* set before any shard closes */
    reg_shard *shards;
} registry;

/* 0 or -ENOMEM. `min_shards` is rounded up to a power of two. */
int registry_init(registry *r, unsigned min_shards);
void registry_destroy(registry *r);

/* false once closed (nothing added). */
bool registry_add(registry *r, corio_task *t);
void registry_remove(registry *r, corio_task *t);

/* Refuse new tasks, then cancel every live one (task_cancel: they are
 * queued and unwind). */
void registry_close_and_cancel(registry *r);

/* Tasks still registered (each shard counted under its lock, so that a
 * count of 0 comes after every removal it counts: for shutdown). */
size_t registry_live(registry *r);

/* Tasks registered now, and ever, added up over the shards. */
void registry_counts(registry *r, uint64_t *live, uint64_t *added);

static inline unsigned registry_shards(const registry *r)
{
    return r->mask + 1;
}

/* Call fn(t, arg) for each task of shard `i`, under the shard's lock (the
 * task cannot be freed meanwhile; fn must be short and take no lock that a
 * spawn or a completion may hold), until fn returns false. Returns false
 * when fn did. */
bool registry_each(registry *r, unsigned i, bool (*fn)(corio_task *t, void *arg), void *arg);

#endif
