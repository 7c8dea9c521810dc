/* corio/notify.h - wake one task or all of them, without data
 * (tokio::sync::Notify).
 *
 * A notify is the bare signal under the other primitives: a task waits
 * with corio_notify_wait; another task or thread calls corio_notify_one to
 * wake one waiter, or corio_notify_waiters to wake every task waiting now.
 *
 * corio_notify_one with no task waiting stores a permit (at most one: more
 * calls before a wait still make one), which the next wait consumes and
 * returns at once, so a notify that comes just before the wait is never
 * lost. corio_notify_waiters stores nothing: it wakes the waits that have
 * begun, and every corio_notify_wait_fut initialised before the call, even if
 * it had not been polled yet (so "init the future, check the condition,
 * await the future" cannot miss a notify_waiters in between).
 *
 * Fairness: notify_one wakes the longest waiter (FIFO).
 *
 * Close: a notify is never closed; no call returns CORIO_ECLOSED.
 *
 * Cancel safety: a wait interrupted (CORIO_ECANCELED, CORIO_ETIMEDOUT, its
 * future dropped by a timeout or a select) after it had been chosen by
 * notify_one passes the notification on: to the next waiter, or back into
 * the permit. No notification is lost; one from notify_waiters is not
 * passed on (it was for those waiting at the time).
 *
 * Threads: any thread may notify. corio_notify_wait suspends a coroutine
 * task, or blocks a plain thread. Memory: 32 bytes per notify (init in
 * place, nothing to destroy; no waiter may remain when its memory goes),
 * 72 bytes per wait future.
 */
#ifndef CORIO_NOTIFY_H
#define CORIO_NOTIFY_H

#include <stdint.h>

#include "api.h"
#include "future.h"
#include "waiter.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_notify {
    uintptr_t state_; /* notify_waiters calls << 2 | waiters << 1 | permit */
    corio_waitq_ wq_;
} corio_notify;

#define CORIO_NOTIFY_INIT {0, CORIO_WAITQ_INIT_}

/* Initialise with no permit. Does nothing for NULL. */
CORIO_API void corio_notify_init(corio_notify *n);

/* Wake the longest waiter, or store the permit if none waits. Any thread,
 * never waits. Does nothing for NULL. */
CORIO_API void corio_notify_one(corio_notify *n);

/* Wake every waiter now (and every corio_notify_wait_fut initialised before
 * this call); store no permit. Any thread, never waits. Does nothing for
 * NULL. */
CORIO_API void corio_notify_waiters(corio_notify *n);

/* Wait for a notification (or consume the stored permit at once). Returns
 * 0, CORIO_ECANCELED or CORIO_ETIMEDOUT (nothing consumed; see cancel
 * safety), -EINVAL (NULL), CORIO_EWRONGCTX in a stackless task's poll
 * function, -ENOMEM (plain code without a parker). */
CORIO_API int corio_notify_wait(corio_notify *n);

/* The future form. Its result: 0, or -EINVAL for a NULL notify.
 * Its only output is base.result (and what it writes through the pointers it
 * was given); its other fields are private. */
typedef struct corio_notify_wait_fut {
    corio_future base;
    corio_notify *notify;
    corio_waiter_ w_;
} corio_notify_wait_fut;

/* Also records how many notify_waiters calls there have been, so the
 * future completes if one comes before its first poll. Does nothing for a
 * NULL f; a NULL n makes the future finish with -EINVAL. */
CORIO_API void corio_notify_wait_fut_init(corio_notify_wait_fut *f, corio_notify *n);

#ifdef __cplusplus
}
#endif
#endif
