/* corio/time.h - the monotonic clock, sleeps, timeouts and intervals.
 *
 * Times are nanoseconds: corio_instant on the monotonic clock
 * (CLOCK_MONOTONIC), corio_duration a signed span. Timers live in the
 * runtime's hierarchical timing wheel (1 ms ticks, O(1) insert and cancel).
 * A timer never fires early: a sleep returns at or after its deadline, at most
 * about one millisecond late on an idle runtime.
 *
 * Every future here arms its timer in the wheel of the runtime whose task
 * polls it. A timer records that wheel, so it may be cancelled, and the
 * future dropped, from any thread: another task, another runtime, plain code.
 * Dropping an unfinished sleep, timeout or interval removes its timer at once.
 *
 * Deadlines: no corio call takes a deadline argument. Bound one wait with
 * corio_timeout on its future; bound a whole stretch of code (many waits,
 * nested calls) with a deadline scope, corio_timeout_call. Durations come
 * after the object they apply to; the _until forms take an instant instead
 * of a duration (docs/conventions.md).
 *
 * NULL (docs/conventions.md): initialisers (_init, _fut_init) and
 * give-backs (corio_timer_cancel, corio_interval_drop) do nothing for a
 * NULL timer, future or interval; corio_timer_reset and
 * corio_interval_set_missed_tick do nothing; queries return 0 or false;
 * corio_interval_tick returns -EINVAL. corio_timer_poll is the exception,
 * on every poll's hot path: t and cx must not be NULL. A timeout made with
 * a NULL inner future finishes with -EINVAL.
 *
 * Future fields: a future's only output is base.result; the other fields
 * are private, except an interval's `next` (the instant of its next tick),
 * which may be read.
 */
#ifndef CORIO_TIME_H
#define CORIO_TIME_H

#include "api.h"

#include <stdbool.h>
#include <stdint.h>

#include "future.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t corio_instant; /* ns on the monotonic clock */
typedef int64_t corio_duration; /* ns */

#define CORIO_NSEC(n) ((corio_duration)(n))
#define CORIO_USEC(n) ((corio_duration)(n) * 1000)
#define CORIO_MSEC(n) ((corio_duration)(n) * 1000000)
#define CORIO_SEC(n) ((corio_duration)(n) * 1000000000)

/* The current monotonic time. Cheap (a vDSO clock read), any thread. */
CORIO_API corio_instant corio_instant_now(void);

/* `t` moved by `d`, saturating instead of wrapping. */
CORIO_API corio_instant corio_instant_add(corio_instant t, corio_duration d);

/* ---- the raw timer: a building block for custom futures ------------------ */

/* A timer entry. Fields are private. 48 bytes; keep it in the future that
 * uses it (it must not move while armed). */
typedef struct corio_timer {
    struct corio_timer *next_;
    struct corio_timer **pprev_;
    void *wheel_; /* the wheel holding it, NULL when not armed */
    corio_instant deadline_;
    corio_waker waker_;
} corio_timer;

/* Set the deadline; nothing is armed until the first poll. */
CORIO_API void corio_timer_init(corio_timer *t, corio_instant deadline);
/* For poll functions (t and cx not NULL): CORIO_READY once the deadline has
 * passed; else arms the timer (or refreshes its waker) in the wheel of the
 * calling task's runtime (moving it there if another runtime armed it) and
 * returns CORIO_PENDING. Outside any runtime nothing can fire it: it wakes
 * the waker at once and says pending, so the caller polls it again. */
CORIO_API corio_poll corio_timer_poll(corio_timer *t, corio_context *cx);
/* Disarm (harmless if not armed), from any thread. The drop of every future
 * that embeds one. The timer stays initialised and can be polled again. */
CORIO_API void corio_timer_cancel(corio_timer *t);
/* Disarm and set a new deadline. */
CORIO_API void corio_timer_reset(corio_timer *t, corio_instant deadline);
/* The deadline it was given (0 for NULL). */
CORIO_API corio_instant corio_timer_deadline(const corio_timer *t);
/* Whether the timer is armed in a wheel (it has been polled, and has neither
 * fired nor been cancelled since). */
CORIO_API bool corio_timer_is_armed(const corio_timer *t);

/* ---- sleep ---------------------------------------------------------------- */

/* corio_sleep as a future: finishes with result 0 once `d` has passed from
 * the init (d <= 0: at its first poll), or at the instant `deadline` for
 * the _until form. Lazy: the timer is armed at the first poll, in the wheel
 * of the runtime of the task that polls it. Dropping it unfinished
 * disarms the timer; it must not move once polled. Does nothing for a
 * NULL f. 64 bytes. */
typedef struct corio_sleep_fut {
    corio_future base; /* result: 0 */
    corio_timer timer;
} corio_sleep_fut;

CORIO_API void corio_sleep_fut_init(corio_sleep_fut *f, corio_duration d);
CORIO_API void corio_sleep_fut_init_until(corio_sleep_fut *f, corio_instant deadline);

/* Suspend the calling task for `d` (d <= 0, or a deadline already passed:
 * return at once without suspending). Returns 0, CORIO_ECANCELED, or
 * CORIO_ETIMEDOUT inside an expired deadline scope; CORIO_EWRONGCTX outside
 * a coroutine task. */
CORIO_API int corio_sleep(corio_duration d);
CORIO_API int corio_sleep_until(corio_instant deadline);

/* ---- timeouts -------------------------------------------------------------
 * Its only output is base.result (and what it writes through the pointers it
 * was given); its other fields are private. */

typedef struct corio_timeout_fut {
    corio_future base; /* result: 0 (inner completed: its output is in
                        * inner->result) or CORIO_ETIMEDOUT (inner dropped) */
    corio_future *inner;
    corio_timer timer;
} corio_timeout_fut;

/* Wrap `inner`: poll it first; when the deadline passes before it is ready,
 * drop it and finish with CORIO_ETIMEDOUT. A NULL or zeroed inner future
 * makes the timeout finish at once with -EINVAL. */
CORIO_API void corio_timeout_fut_init(corio_timeout_fut *f, corio_future *inner, corio_duration d);
CORIO_API void corio_timeout_fut_init_until(corio_timeout_fut *f, corio_future *inner,
                                            corio_instant deadline);

/* Await `inner` for at most `d` (like tokio::time::timeout). Returns 0 when
 * inner completed (its output is in inner->result), CORIO_ETIMEDOUT (inner
 * dropped), CORIO_ECANCELED (inner dropped), -EINVAL for a NULL or zeroed
 * inner, or CORIO_EWRONGCTX outside a coroutine task (inner left alone). */
CORIO_API int corio_timeout(corio_future *inner, corio_duration d);
CORIO_API int corio_timeout_until(corio_future *inner, corio_instant deadline);

/* A deadline scope: run fn(arg) on the calling coroutine with a deadline `d`
 * from now. Once the deadline's timer has fired, the await fn is blocked
 * in, and every later await inside fn, returns CORIO_ETIMEDOUT, so fn
 * unwinds through its cleanup (as with cancellation, but scoped to this
 * call). The timer fires as every timer does: never early, and when the
 * runtime next looks at its timers (between polls: at the latest after
 * event_interval polls, or once nothing is ready). On a current-thread
 * runtime that is never while fn computes or in an await of fn that
 * completes without suspending (a corio_yield with nothing else ready
 * included): fn that computes past its deadline meets it in the first
 * await that is still pending when the runtime looks (on a multi-thread
 * runtime another worker may fire it sooner). Returns:
 *   0                fn returned without any await of it being interrupted by
 *                    this deadline (its work is complete, even if it finished
 *                    just after the deadline while computing); *result = fn's;
 *   CORIO_ETIMEDOUT  an await inside fn returned CORIO_ETIMEDOUT for this
 *                    deadline; *result still gets fn's return value;
 *   CORIO_ECANCELED  the task was cancelled; *result gets fn's return value;
 *   -EINVAL          fn NULL;
 *   CORIO_EWRONGCTX  plain code, or a stackless task's poll function.
 * fn is not called at all when the task is already cancelled or an enclosing
 * scope has already expired (that code is returned). A deadline of its own
 * already passed at the call (d <= 0) is fired at once: fn is called, and
 * its first await returns CORIO_ETIMEDOUT, even one that would complete
 * without suspending. Scopes nest: an inner scope cannot outlive the outer
 * one's deadline. */
CORIO_API int corio_timeout_call(corio_duration d, corio_fn fn, void *arg, int *result);
CORIO_API int corio_timeout_call_until(corio_instant deadline, corio_fn fn, void *arg, int *result);

/* ---- intervals ------------------------------------------------------------ */

/* What an interval does when ticks were missed (the task was late):
 *  BURST: fire the missed ticks back to back until caught up (tokio's default);
 *  DELAY: fire now, then `period` after now (the schedule shifts);
 *  SKIP:  fire now, then on the next multiple of `period` of the original
 *         schedule (missed ticks are dropped). */
typedef enum corio_missed_tick {
    CORIO_MISSED_BURST = 0,
    CORIO_MISSED_DELAY = 1,
    CORIO_MISSED_SKIP = 2,
} corio_missed_tick;

typedef struct corio_interval {
    corio_future base; /* result: 0 on a tick */
    corio_duration period;
    corio_instant next; /* deadline of the next tick */
    corio_missed_tick missed;
    corio_timer timer;
} corio_interval;

/* Ticks at now, now+period, now+2*period... (the first tick is immediate, as
 * in tokio). period must be > 0 (a smaller one is taken as 1 ns). Policy
 * CORIO_MISSED_BURST. */
CORIO_API void corio_interval_init(corio_interval *iv, corio_duration period);
/* First tick at `start` instead of now. */
CORIO_API void corio_interval_init_at(corio_interval *iv, corio_instant start, corio_duration period);
/* What to do about missed ticks from now on (default CORIO_MISSED_BURST). */
CORIO_API void corio_interval_set_missed_tick(corio_interval *iv, corio_missed_tick policy);
/* Wait for the next tick: 0, CORIO_ECANCELED or CORIO_ETIMEDOUT (scope),
 * -EINVAL for NULL, CORIO_EWRONGCTX outside a coroutine task (await
 * &iv->base from a stackless task's poll function). The interval can also be awaited as a future
 * (&iv->base), one tick per await. */
CORIO_API int corio_interval_tick(corio_interval *iv);
/* Drop the interval: disarm its timer. Call it before the interval's memory
 * goes; initialise it again before reusing it. */
CORIO_API void corio_interval_drop(corio_interval *iv);

#ifdef __cplusplus
}
#endif
#endif
