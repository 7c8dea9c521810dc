/* corio/future.h - futures, wakers and the poll context.
 *
 * A future is anything that can wait. It is a struct whose first member is a
 * `corio_future`; its `poll` either finishes (returns CORIO_READY after
 * storing its output, an int, in `base.result`: 0, a count, or a negative
 * code) or stores a clone of the waker it was handed and returns
 * CORIO_PENDING. Whoever makes progress possible later
 * (a timer, the I/O driver, another task, a plain thread) wakes that waker and
 * the owning task polls the future again.
 *
 * Futures are lazy: initialising one does nothing; only polls make progress.
 *
 * Ownership rules, which every future in corio follows:
 *  - A future that returned CORIO_READY owns nothing any more: whatever it
 *    registered (a timer, a waker) was released by that last poll. Its output
 *    fields stay readable. It is not polled again: what a further poll does
 *    is the future's own affair (as in Rust), and a future that moves data
 *    (a read, a recv, a send) may do it once more. Initialise it afresh to
 *    repeat its operation. (corio/fs.h's futures promise more: see there.)
 *  - A future abandoned before it is ready (cancelled task, elapsed timeout,
 *    losing branch of a select) has its vtable's `drop` called exactly once,
 *    which must release what the future holds. `drop` may be NULL when there
 *    is nothing to release.
 *  - A future's memory does not move once it has been polled. Futures declared
 *    on a coroutine's stack are therefore pinned for free.
 *
 * Wakers are thread-safe: any thread may wake, clone or drop one, also threads
 * that do not belong to any runtime. Waking a task that has finished is
 * harmless. A waker is two words, passed by value; a clone is a reference
 * count increment. The waker functions treat a NULL pointer like the empty
 * waker.
 *
 * The static inline helpers below (corio_future_poll, corio_context_waker)
 * are for poll functions, on the hot path of every poll: they take non-NULL
 * pointers and do not check.
 */
#ifndef CORIO_FUTURE_H
#define CORIO_FUTURE_H

#include "api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- wakers -------------------------------------------------------------- */

/* A waker's functions must be thread-safe and must not block: the runtime
 * calls them from any thread, also from inside its scheduler loop. */
typedef struct corio_waker_vtable {
    /* Return the data pointer of a new waker for the same target. */
    const void *(*clone)(const void *data);
    /* Wake the target and release this waker (consuming). */
    void (*wake)(const void *data);
    /* Wake the target; the waker stays valid. */
    void (*wake_by_ref)(const void *data);
    /* Release this waker without waking. */
    void (*drop)(const void *data);
} corio_waker_vtable;

typedef struct corio_waker {
    const corio_waker_vtable *vtable; /* NULL: the empty waker */
    const void *data;
} corio_waker;

/* The empty waker: a valid "no waker" value; every operation on it is a no-op. */
#define CORIO_WAKER_NONE ((corio_waker){NULL, NULL})

/* A new waker for the same target as `w` (reference count increment). */
CORIO_API corio_waker corio_waker_clone(const corio_waker *w);
/* Wake the target of `*w` and release it; `*w` becomes CORIO_WAKER_NONE. */
CORIO_API void corio_waker_wake(corio_waker *w);
/* Wake the target of `*w`; `*w` stays valid. */
CORIO_API void corio_waker_wake_by_ref(const corio_waker *w);
/* Release `*w` without waking; `*w` becomes CORIO_WAKER_NONE. */
CORIO_API void corio_waker_drop(corio_waker *w);
/* True when `a` and `b` wake the same target, so a future may keep the waker it
 * already stored instead of cloning the new one. */
CORIO_API bool corio_waker_will_wake(const corio_waker *a, const corio_waker *b);
/* Replace the waker in `*slot` by a clone of `w`, unless it already wakes the
 * same target. The usual way for a poll function to store its waker. */
CORIO_API void corio_waker_store(corio_waker *slot, const corio_waker *w);
/* A waker that does nothing when woken (for polling a future by hand). */
CORIO_API corio_waker corio_waker_noop(void);

/* ---- poll context --------------------------------------------------------- */

typedef struct corio_context {
    const corio_waker *waker; /* borrowed: clone it to keep it */
} corio_context;

static inline const corio_waker *corio_context_waker(const corio_context *cx)
{
    return cx->waker;
}

/* ---- futures ------------------------------------------------------------- */

typedef enum corio_poll {
    CORIO_PENDING = 0,
    CORIO_READY = 1,
} corio_poll;

typedef struct corio_future corio_future;

typedef struct corio_future_vtable {
    /* Make progress. On CORIO_READY the result is in self->result. */
    corio_poll (*poll)(corio_future *self, corio_context *cx);
    /* Release what an unfinished future holds. May be NULL. */
    void (*drop)(corio_future *self);
} corio_future_vtable;

struct corio_future {
    const corio_future_vtable *vtable;
    int result; /* the output, valid once poll returned CORIO_READY: 0, a
                 * count, or a negative code */
};

/* Initialise the header of a future whose poll/drop live in `vt`. */
static inline void corio_future_init(corio_future *f, const corio_future_vtable *vt)
{
    if (!f)
        return;
    f->vtable = vt;
    f->result = 0;
}

/* Poll `f` once with context `cx` (for futures that wrap other futures). */
static inline corio_poll corio_future_poll(corio_future *f, corio_context *cx)
{
    return f->vtable->poll(f, cx);
}

/* Abandon an unfinished future: call its drop function, if any. */
static inline void corio_future_drop(corio_future *f)
{
    if (f && f->vtable && f->vtable->drop)
        f->vtable->drop(f);
}

/* ---- awaiting ------------------------------------------------------------ */

/* Inside a coroutine task: poll `fut` until it is ready, suspending the task
 * (not the thread) while it is pending. Returns a status, never the
 * future's output, which is in fut->result once this returns 0:
 *   0                the future completed;
 *   CORIO_ECANCELED  the task is cancelled; `fut` has been dropped.
 *                    Sticky: once the task is cancelled, every await returns
 *                    it at once (after dropping its future);
 *   CORIO_ETIMEDOUT  the deadline of an enclosing deadline scope
 *                    (corio_timeout_call) passed; `fut` has been dropped.
 *                    Sticky within the scope;
 *   -EINVAL          fut is NULL, or has no vtable or no poll function
 *                    (a zeroed future);
 *   CORIO_EWRONGCTX  plain code, or a stackless task's poll function (which
 *                    must return CORIO_PENDING instead); `fut` is left alone:
 *                    use corio_block_on_future in plain code.
 * Every corio call documented as suspending the task (sleep, join, yield...)
 * is an await and can return the two interruption codes.
 *
 * A cooperative budget (tokio's): a task gets CORIO_COOP_BUDGET awaits that
 * complete at once each time the scheduler resumes it; the await that uses
 * up the budget yields (corio_yield) before it returns 0, so a loop over
 * futures that are always ready (a channel that is never empty) cannot keep
 * the others from running. The result is never lost: an await whose future
 * completed returns 0 even when the task was cancelled during that yield
 * (the next await reports it). */
CORIO_API int corio_await(corio_future *fut);

/* Awaits that complete at once between two suspensions of a task, before
 * corio_await yields for it. */
#define CORIO_COOP_BUDGET 128

/* From plain code (any thread that is not running a corio task): run `fut`
 * to completion on a temporary current-thread runtime (so timers work), then
 * free that runtime. Returns 0 (the output is in fut->result), -EINVAL for a
 * NULL or zeroed future, CORIO_EWRONGCTX inside a task, or an error from
 * building the runtime (-ENOMEM, -EMFILE). */
CORIO_API int corio_block_on_future(corio_future *fut);

#ifdef __cplusplus
}
#endif
#endif
