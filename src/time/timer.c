/* time/timer.c - the clock, raw timers, sleep, timeout and interval futures.
 *
 * A timer is armed lazily by its first pending poll, in the wheel of the
 * runtime whose task polls it, with a clone of the polling task's waker.
 * Firing unlinks it and wakes that waker; the next poll then sees the
 * deadline passed. Cancel just unlinks (O(1)). Every public future here
 * disarms in its drop, so abandoning one leaves nothing in the wheel.
 */
#include <time.h>

#include "core/worker.h"
#include "corio/error.h"
#include "corio/time.h"
#include "time/wheel.h"

corio_instant corio_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (corio_instant)ts.tv_sec * 1000000000ull + (corio_instant)ts.tv_nsec;
}

corio_instant corio_instant_add(corio_instant t, corio_duration d)
{
    if (d >= 0) {
        corio_instant r = t + (corio_instant)d;
        return r < t ? UINT64_MAX : r;
    }
    corio_instant m = (corio_instant)(-(d + 1)) + 1;
    return m > t ? 0 : t - m;
}

/* ---- raw timers ----------------------------------------------------------- */

void corio_timer_init(corio_timer *t, corio_instant deadline)
{
    t->next_ = NULL;
    t->pprev_ = NULL;
    t->deadline_ = deadline;
    t->waker_ = CORIO_WAKER_NONE;
}

corio_instant corio_timer_deadline(const corio_timer *t)
{
    return t->deadline_;
}

static wheel *current_wheel(void)
{
    worker *w = worker_current();
    return w ? sched_wheel(w->sched) : NULL;
}

void corio_timer_cancel(corio_timer *t)
{
    if (t->pprev_) {
        /* The timer is in the wheel of the runtime whose task armed it,
         * which must be the one cancelling it (see time.h). wheel_remove
         * only touches the slot bits of the wheel it is given, so a wrong
         * or missing wheel here costs a stale bit, not a corrupt count. */
        wheel *w = current_wheel();
        if (w)
            wheel_remove(w, t);
        else
            wheel_unlink(t);
    }
    corio_waker_drop(&t->waker_);
}

void corio_timer_reset(corio_timer *t, corio_instant deadline)
{
    corio_timer_cancel(t);
    t->deadline_ = deadline;
}

corio_poll corio_timer_poll(corio_timer *t, corio_context *cx)
{
    if (corio_now() >= t->deadline_) {
        corio_timer_cancel(t);
        return CORIO_READY;
    }
    if (t->pprev_) {
        corio_waker_store(&t->waker_, cx->waker); /* still armed: refresh the waker */
        return CORIO_PENDING;
    }
    wheel *w = current_wheel();
    if (!w) {
        /* Polled by hand outside any runtime: nothing will fire it. Ask to
         * be polled again rather than hang. */
        corio_waker_wake_by_ref(cx->waker);
        return CORIO_PENDING;
    }
    corio_waker_store(&t->waker_, cx->waker);
    wheel_insert(w, t);
    return CORIO_PENDING;
}

/* ---- sleep ---------------------------------------------------------------- */

static corio_poll sleep_poll(corio_future *f, corio_context *cx)
{
    corio_sleep_fut *s = (corio_sleep_fut *)f;
    if (corio_timer_poll(&s->timer, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    f->result = 0;
    return CORIO_READY;
}

static void sleep_drop(corio_future *f)
{
    corio_timer_cancel(&((corio_sleep_fut *)f)->timer);
}

static const corio_future_vtable sleep_vtable = {sleep_poll, sleep_drop};

void corio_sleep_until_fut_init(corio_sleep_fut *f, corio_instant deadline)
{
    corio_future_init(&f->base, &sleep_vtable);
    corio_timer_init(&f->timer, deadline);
}

void corio_sleep_fut_init(corio_sleep_fut *f, corio_duration d)
{
    corio_sleep_until_fut_init(f, corio_instant_add(corio_now(), d));
}

int corio_sleep_until(corio_instant deadline)
{
    corio_sleep_fut f;
    corio_sleep_until_fut_init(&f, deadline);
    return corio_await(&f.base);
}

int corio_sleep(corio_duration d)
{
    return corio_sleep_until(corio_instant_add(corio_now(), d));
}

/* ---- timeout -------------------------------------------------------------- */

static corio_poll timeout_poll(corio_future *f, corio_context *cx)
{
    corio_timeout_fut *to = (corio_timeout_fut *)f;
    /* The inner future first, as tokio does: a ready future never times out,
     * and the timer is only armed when the inner one is pending. */
    if (corio_future_poll(to->inner, cx) == CORIO_READY) {
        corio_timer_cancel(&to->timer);
        f->result = to->inner->result;
        return CORIO_READY;
    }
    if (corio_timer_poll(&to->timer, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    corio_future_drop(to->inner);
    f->result = CORIO_ETIMEDOUT;
    return CORIO_READY;
}

static void timeout_drop(corio_future *f)
{
    corio_timeout_fut *to = (corio_timeout_fut *)f;
    corio_timer_cancel(&to->timer);
    corio_future_drop(to->inner);
}

static const corio_future_vtable timeout_vtable = {timeout_poll, timeout_drop};

void corio_timeout_fut_init(corio_timeout_fut *f, corio_future *inner, corio_duration d)
{
    corio_future_init(&f->base, &timeout_vtable);
    f->inner = inner;
    corio_timer_init(&f->timer, corio_instant_add(corio_now(), d));
}

int corio_timeout(corio_future *inner, corio_duration d)
{
    corio_timeout_fut f;
    corio_timeout_fut_init(&f, inner, d);
    return corio_await(&f.base);
}

/* ---- interval ------------------------------------------------------------- */

static corio_poll interval_poll(corio_future *f, corio_context *cx)
{
    corio_interval *iv = (corio_interval *)f;
    if (corio_timer_poll(&iv->timer, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    corio_instant now = corio_now();
    corio_instant due = iv->next;
    corio_instant next = corio_instant_add(due, iv->period);
    if (now >= next) { /* at least one whole tick was missed */
        switch (iv->missed) {
        case CORIO_MISSED_BURST:
            break; /* keep the schedule: the next ticks are due at once */
        case CORIO_MISSED_DELAY:
            next = corio_instant_add(now, iv->period);
            break;
        case CORIO_MISSED_SKIP: {
            uint64_t p = (uint64_t)iv->period;
            next = due + ((now - due) / p + 1) * p;
            break;
        }
        }
    }
    iv->next = next;
    corio_timer_init(&iv->timer, next);
    f->result = 0;
    return CORIO_READY;
}

static void interval_drop(corio_future *f)
{
    corio_timer_cancel(&((corio_interval *)f)->timer);
}

static const corio_future_vtable interval_vtable = {interval_poll, interval_drop};

void corio_interval_init_at(corio_interval *iv, corio_instant start, corio_duration period)
{
    corio_future_init(&iv->base, &interval_vtable);
    iv->period = period > 0 ? period : 1;
    iv->next = start;
    iv->missed = CORIO_MISSED_BURST;
    corio_timer_init(&iv->timer, start);
}

void corio_interval_init(corio_interval *iv, corio_duration period)
{
    corio_interval_init_at(iv, corio_now(), period);
}

void corio_interval_set_missed_tick(corio_interval *iv, corio_missed_tick policy)
{
    iv->missed = policy;
}

int corio_interval_tick(corio_interval *iv)
{
    return corio_await(&iv->base);
}

void corio_interval_stop(corio_interval *iv)
{
    corio_timer_cancel(&iv->timer);
}
