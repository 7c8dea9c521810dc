/* corio/time.h - the monotonic clock, sleeps, timeouts and intervals.
 *
 * Times are nanoseconds: corio_instant on the monotonic clock
 * (CLOCK_MONOTONIC), corio_duration a signed span. Timers live in the
 * runtime's hierarchical timing wheel (1 ms ticks, O(1) insert and cancel).
 * A timer never fires early: a sleep returns at or after its deadline, at most
 * about one millisecond late on an idle runtime.
 *
 * Every future here must be polled from a task of a runtime (it registers with
 * that runtime's wheel), and dropped or cancelled from a task of the same
 * runtime. Dropping an unfinished sleep, timeout or interval removes its
 * timer at once.
 */
#ifndef CORIO_TIME_H
#define CORIO_TIME_H

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
corio_instant corio_now(void);

/* `t` moved by `d`, saturating instead of wrapping. */
corio_instant corio_instant_add(corio_instant t, corio_duration d);

/* ---- the raw timer: a building block for custom futures ------------------ */

/* A timer entry. Fields are private. 40 bytes; keep it in the future that
 * uses it (it must not move while armed). */
typedef struct corio_timer {
    struct corio_timer *next_;
    struct corio_timer **pprev_; /* non-NULL while in a wheel */
    corio_instant deadline_;
    corio_waker waker_;
} corio_timer;

/* Set the deadline; nothing is armed until the first poll. */
void corio_timer_init(corio_timer *t, corio_instant deadline);
/* CORIO_READY once the deadline has passed; else arms the timer (or refreshes
 * its waker) in the calling task's runtime and returns CORIO_PENDING. */
corio_poll corio_timer_poll(corio_timer *t, corio_context *cx);
/* Disarm (harmless if not armed). The drop of every future that embeds one. */
void corio_timer_cancel(corio_timer *t);
/* Disarm and set a new deadline. */
void corio_timer_reset(corio_timer *t, corio_instant deadline);
corio_instant corio_timer_deadline(const corio_timer *t);

/* ---- sleep ---------------------------------------------------------------- */

typedef struct corio_sleep_fut {
    corio_future base; /* result: 0 */
    corio_timer timer;
} corio_sleep_fut;

void corio_sleep_fut_init(corio_sleep_fut *f, corio_duration d);
void corio_sleep_until_fut_init(corio_sleep_fut *f, corio_instant deadline);

/* Suspend the calling task for `d` (d <= 0, or a deadline already passed:
 * return at once without suspending). Returns 0, CORIO_ECANCELED, or
 * CORIO_ETIMEDOUT inside an expired corio_with_timeout scope. */
int corio_sleep(corio_duration d);
int corio_sleep_until(corio_instant deadline);

/* ---- timeouts ------------------------------------------------------------- */

typedef struct corio_timeout_fut {
    corio_future base; /* result: the inner future's, or CORIO_ETIMEDOUT */
    corio_future *inner;
    corio_timer timer;
} corio_timeout_fut;

/* Wrap `inner`: poll it first; when the deadline passes before it is ready,
 * drop it and finish with CORIO_ETIMEDOUT. */
void corio_timeout_fut_init(corio_timeout_fut *f, corio_future *inner, corio_duration d);

/* Await `inner` for at most `d`: its result, CORIO_ETIMEDOUT (inner dropped),
 * or CORIO_ECANCELED. Like tokio::time::timeout. */
int corio_timeout(corio_future *inner, corio_duration d);

/* Run fn(arg) on the calling coroutine with a deadline `d` from now. Once the
 * deadline passes, the await fn is blocked in, and every later await inside
 * fn, returns CORIO_ETIMEDOUT, so fn unwinds through its cleanup (as with
 * cancellation, but scoped to this call). Returns:
 *   0                fn returned without any await of it being interrupted by
 *                    the deadline (its work is complete, even if it finished
 *                    just after the deadline while computing); *result = fn's;
 *   CORIO_ETIMEDOUT  an await inside fn returned CORIO_ETIMEDOUT for this
 *                    deadline; *result still gets fn's return value;
 *   CORIO_ECANCELED  the task was cancelled;
 *   CORIO_EWRONGCTX  plain code.
 * fn is not called at all when the task is already cancelled or an enclosing
 * scope has already expired (that code is returned). Scopes nest. */
int corio_with_timeout(corio_duration d, corio_fn fn, void *arg, int *result);

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
void corio_interval_init(corio_interval *iv, corio_duration period);
/* First tick at `start` instead of now. */
void corio_interval_init_at(corio_interval *iv, corio_instant start, corio_duration period);
void corio_interval_set_missed_tick(corio_interval *iv, corio_missed_tick policy);
/* Wait for the next tick: 0, CORIO_ECANCELED or CORIO_ETIMEDOUT (scope). The
 * interval can also be awaited as a future (&iv->base), one tick per await. */
int corio_interval_tick(corio_interval *iv);
/* Disarm the interval's timer (call before the interval's memory goes). */
void corio_interval_stop(corio_interval *iv);

#ifdef __cplusplus
}
#endif
#endif
