/* corio/rwlock.h - a readers-writer lock that tasks may hold across awaits
 * (tokio::sync::RwLock).
 *
 * Many readers at once, or one writer alone. Like corio_mutex, it is for a
 * critical section that awaits inside; data touched only between two
 * awaits is better served by a pthread rwlock (see corio/mutex.h for why a
 * pthread lock must never be held across an await).
 *
 * Fairness: strictly first come, first served, so writers never starve.
 * Lock requests are granted in the order they started waiting. A writer
 * that waits blocks every read that comes after it, even while the lock is
 * held by readers only: a later read (and try_read) queues behind the
 * writer instead of joining the readers. When a writer unlocks, the run of
 * readers at the head of the queue is let in together, up to the next
 * waiting writer. A try_read or try_write never overtakes a waiter.
 *
 * How: the lock is a fair corio_semaphore holding CORIO_RWLOCK_MAX_READERS
 * permits (tokio's design); a read takes one permit, a write takes them
 * all. A writer at the head of the queue takes the permits as the readers
 * before it give them back, and holds them while it waits for the rest.
 *
 * Readers: at most CORIO_RWLOCK_MAX_READERS (2^29 - 1) hold the lock at
 * once; one more waits (in the queue, in order) until a reader leaves.
 *
 * Ownership: the lock is not tied to a task or a thread: whoever locked it
 * may hand the right to unlock to another task or thread (tokio's owned
 * guards). Unlocking what is not held (a read_unlock without a read, a
 * write_unlock without the write) is undefined.
 *
 * Close: an rwlock is never closed; no call returns CORIO_ECLOSED.
 *
 * Cancel safety: a read or write interrupted (CORIO_ECANCELED,
 * CORIO_ETIMEDOUT, its future dropped by a timeout or a select) holds
 * nothing afterwards. What it had been granted, in full or in part (a
 * queued writer holds the permits of the readers that left before it), is
 * handed on to the next waiters at once: cancelling a writer queued behind
 * readers lets the readers queued behind it in.
 *
 * Threads: every function may be called from any thread. corio_rwlock_read
 * and corio_rwlock_write suspend a coroutine task; called from plain code (a
 * thread that runs no task) they block that thread. A stackless task's poll
 * function polls a corio_rwlock_read_fut / corio_rwlock_write_fut instead.
 *
 * Memory: 32 bytes per lock (no allocation: init it in place; nothing to
 * destroy; it must have no waiter when its memory goes), 96 bytes per wait
 * future, which holds the waiter (on the waiting coroutine's stack for the
 * blocking forms). Speed: read, read_unlock, write and write_unlock without
 * contention are one compare-and-swap each; the queue's spinlock is taken
 * only when someone waits.
 */
#ifndef CORIO_RWLOCK_H
#define CORIO_RWLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "future.h"
#include "semaphore.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_rwlock {
    corio_semaphore sem_; /* MAX_READERS permits: read 1, write all */
} corio_rwlock;

/* The most readers that hold one lock at once (tokio's MAX_READS). */
#define CORIO_RWLOCK_MAX_READERS ((size_t)(UINT32_MAX >> 3))

/* Static initialiser: `static corio_rwlock rw = CORIO_RWLOCK_INIT;` */
#define CORIO_RWLOCK_INIT {CORIO_SEMAPHORE_INIT(CORIO_RWLOCK_MAX_READERS)}

/* Initialise unlocked. Nothing to destroy later. Does nothing for NULL. */
CORIO_API void corio_rwlock_init(corio_rwlock *rw);

/* Lock for reading, waiting while a writer holds the lock or waits for it
 * (see fairness). Returns:
 *   0                the caller holds a read lock (corio_rwlock_read_unlock);
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  the task was cancelled, or a deadline
 *                    scope expired, before or while waiting: nothing held
 *                    (see cancel safety);
 *   -EINVAL          rw is NULL;
 *   CORIO_EWRONGCTX  inside a stackless task's poll function;
 *   -ENOMEM          plain code whose thread parker cannot be allocated. */
CORIO_API int corio_rwlock_read(corio_rwlock *rw);

/* Lock for reading if no writer holds the lock or waits for it (and fewer
 * than CORIO_RWLOCK_MAX_READERS read): 0, -EBUSY, or -EINVAL (NULL).
 * Never waits; any context. */
CORIO_API int corio_rwlock_try_read(corio_rwlock *rw);

/* Give back one read lock; the last reader to leave lets the waiting
 * writer in. Any thread, never waits. Does nothing for NULL. */
CORIO_API void corio_rwlock_read_unlock(corio_rwlock *rw);

/* Lock for writing (exclusive), waiting while anyone holds the lock or
 * waits before. Returns as corio_rwlock_read: 0 (the caller holds the
 * write lock: corio_rwlock_write_unlock), CORIO_ECANCELED, CORIO_ETIMEDOUT
 * (nothing held; what the wait had gathered is handed on), -EINVAL,
 * CORIO_EWRONGCTX, -ENOMEM. */
CORIO_API int corio_rwlock_write(corio_rwlock *rw);

/* Lock for writing if nobody holds the lock or waits for it: 0, -EBUSY, or
 * -EINVAL (NULL). Never waits; any context. */
CORIO_API int corio_rwlock_try_write(corio_rwlock *rw);

/* Give back the write lock, letting in the next waiters in order (a run of
 * readers, or one writer). Any thread, never waits. Does nothing for NULL. */
CORIO_API void corio_rwlock_write_unlock(corio_rwlock *rw);

/* Turn the write lock the caller holds into a read lock, atomically (no
 * writer can get in between; tokio's RwLockWriteGuard::downgrade): the
 * readers queued at the head are let in with it; a writer at the head goes
 * on waiting, now for this read lock too. Give it back with
 * corio_rwlock_read_unlock. Any thread, never waits. Does nothing for NULL. */
CORIO_API void corio_rwlock_downgrade(corio_rwlock *rw);

/* The future forms, to race in a select or bound with corio_timeout. Their
 * result: 0 (the awaiting side holds the read, or the write, lock), or
 * -EINVAL for a NULL lock. Dropped unfinished, they hold nothing and hand
 * on what they had been granted. 96 bytes each. */
typedef struct corio_rwlock_read_fut {
    corio_future base;
    corio_semaphore_acquire_fut acq_;
} corio_rwlock_read_fut;

typedef struct corio_rwlock_write_fut {
    corio_future base;
    corio_semaphore_acquire_fut acq_;
} corio_rwlock_write_fut;

/* Initialise (lazy: nothing is queued until the first poll). Do nothing
 * for a NULL f. */
CORIO_API void corio_rwlock_read_fut_init(corio_rwlock_read_fut *f, corio_rwlock *rw);
CORIO_API void corio_rwlock_write_fut_init(corio_rwlock_write_fut *f, corio_rwlock *rw);

#ifdef __cplusplus
}
#endif
#endif
