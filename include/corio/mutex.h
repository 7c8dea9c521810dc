/* corio/mutex.h - a mutex that tasks may hold across awaits
 * (tokio::sync::Mutex, with Go's fast path).
 *
 * When to use it, and when not: a plain pthread mutex (or a spinlock) is
 * the right lock for data touched between two awaits, never across one:
 * it needs no task (any code can take it), cannot fail or be interrupted,
 * and a task never suspends holding it. (Speed is not the reason: without
 * contention corio's lock and unlock are one compare-and-swap each, the
 * cost of a pthread mutex's in a process with more than one thread; only
 * a single-threaded process, where glibc skips the locked instructions,
 * has a cheaper pthread mutex.)
 * corio's mutex is for a critical section that awaits inside (a read from a socket while holding a
 * connection, a sleep in a rate limiter): while one task holds it, the
 * others that want it suspend; their threads go on running other tasks.
 * Holding a pthread mutex across an await is a bug: on the multi-thread
 * runtime the task may resume on another thread, which then unlocks a mutex
 * it does not own (undefined behaviour; an error-checking mutex says
 * EPERM); and any task of the same thread that wants that mutex meanwhile
 * blocks the whole worker, and with it the task that would unlock it
 * (deadlock). docs/sync.md has the full lesson.
 *
 * Fairness: a running task may take a free mutex even if others wait
 * (barging, as Go's sync.Mutex allows), which keeps a hot lock on one
 * thread instead of handing it around in a convoy. Unlocking wakes the
 * longest waiter, which takes the mutex or, if a barger got there first,
 * waits again at the head of the queue. No waiter starves: once the head
 * has waited more than 1 ms, the mutex switches to hand-off mode (Go's
 * starvation mode): each unlock hands it straight to the head of the queue,
 * in FIFO order, and newcomers queue behind, until a waiter gets it after
 * less than 1 ms or the queue empties.
 *
 * Ownership: the mutex is not tied to a task or a thread: whoever locked it
 * may pass the right to unlock to another task (tokio's OwnedMutexGuard).
 * Unlocking a mutex that is not locked is undefined.
 *
 * Close: a mutex is never closed; no call returns CORIO_ECLOSED.
 *
 * Cancel safety: a lock interrupted by cancellation or a deadline
 * (CORIO_ECANCELED, CORIO_ETIMEDOUT, or its future dropped by a timeout or
 * a select) does not hold the mutex afterwards, and the wakeup or hand-off
 * it had been given goes on to the next waiter.
 *
 * Threads: every function may be called from any thread. corio_mutex_lock
 * suspends a coroutine task; in plain code (a thread that runs no task) it
 * blocks the thread. A stackless task polls a corio_mutex_lock_fut.
 *
 * Memory: 32 bytes per mutex (init in place, nothing to destroy; it must
 * have no waiter when its memory goes), 48 bytes per waiter inside the
 * waiting future. Speed: lock and unlock without contention are one
 * compare-and-swap each (plus, for a task, the cancellation check and the
 * cooperative budget that every await pays).
 */
#ifndef CORIO_MUTEX_H
#define CORIO_MUTEX_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "future.h"
#include "waiter.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_mutex {
    uintptr_t state_; /* locked | waiters | woken | hand-off bits */
    corio_waitq_ wq_;
} corio_mutex;

/* Static initialiser: `static corio_mutex m = CORIO_MUTEX_INIT;` */
#define CORIO_MUTEX_INIT {0, CORIO_WAITQ_INIT_}

/* Initialise unlocked. Does nothing for NULL. */
CORIO_API void corio_mutex_init(corio_mutex *m);

/* Lock, waiting while another holds it. Returns:
 *   0                the caller holds the mutex (corio_mutex_unlock it);
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  the task was cancelled or a deadline
 *                    scope expired, before or while waiting: not locked;
 *   -EINVAL          m is NULL;
 *   CORIO_EWRONGCTX  inside a stackless task's poll function;
 *   -ENOMEM          plain code whose thread parker cannot be allocated. */
CORIO_API int corio_mutex_lock(corio_mutex *m);

/* Lock if free and not promised to a waiter: 0 or -EBUSY (-EINVAL: NULL).
 * Never waits; any context. */
CORIO_API int corio_mutex_try_lock(corio_mutex *m);

/* Unlock, waking or handing over to the longest waiter. Any thread, never
 * waits. Does nothing for NULL. */
CORIO_API void corio_mutex_unlock(corio_mutex *m);

/* Whether it is locked right now (a snapshot). false for NULL. */
CORIO_API bool corio_mutex_is_locked(const corio_mutex *m);

/* The future form, to race in a select or bound with corio_timeout. Its
 * result: 0 (locked: the awaiting side holds it) or -EINVAL. Dropped
 * unfinished, it holds nothing and passes on any wakeup or hand-off it got.
 * 72 bytes.
 * Its only output is base.result (and what it writes through the pointers it
 * was given); its other fields are private. */
typedef struct corio_mutex_lock_fut {
    corio_future base;
    corio_mutex *mutex;
    corio_waiter_ w_;
} corio_mutex_lock_fut;

/* Initialise (lazy). Does nothing for a NULL f; a NULL m makes the future
 * finish with -EINVAL. */
CORIO_API void corio_mutex_lock_fut_init(corio_mutex_lock_fut *f, corio_mutex *m);

#ifdef __cplusplus
}
#endif
#endif
