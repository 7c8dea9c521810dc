/* time/timer.c - the raw timer, the building block of every future that
 * waits for an instant.
 *
 * A timer is armed lazily by its first pending poll, in the timer wheel of
 * the worker whose task polls it, with a clone of the polling task's waker.
 * Firing disarms it and wakes that waker; the next poll then sees the
 * deadline passed. The timer records its wheel (time/wheel.h), so it can be
 * cancelled from any thread, however far its task has moved.
 */
#include "core/worker.h"
#include "corio/error.h"
#include "corio/time.h"
#include "time/wheel.h"

void corio_timer_init(corio_timer *t, corio_instant deadline)
{
    if (!t)
        return;
    t->next_ = NULL;
    t->pprev_ = NULL;
    t->wheel_ = NULL;
    t->deadline_ = deadline;
    t->waker_ = CORIO_WAKER_NONE;
}

corio_instant corio_timer_deadline(const corio_timer *t)
{
    return t ? t->deadline_ : 0;
}

bool corio_timer_is_armed(const corio_timer *t)
{
    return t && wheel_of(t) != NULL;
}

void corio_timer_cancel(corio_timer *t)
{
    if (!t)
        return;
    worker *w = worker_current();
    wheel_remove(t, w ? w->timers : NULL);
    /* Not armed any more: the waker, if firing did not take it, is ours. */
    corio_waker_drop(&t->waker_);
}

void corio_timer_reset(corio_timer *t, corio_instant deadline)
{
    if (!t)
        return;
    corio_timer_cancel(t);
    t->deadline_ = deadline;
}

corio_poll corio_timer_poll(corio_timer *t, corio_context *cx)
{
    worker *w = worker_current();
    wheel *here = w ? w->timers : NULL;
    for (;;) {
        if (corio_instant_now() >= t->deadline_) {
            corio_timer_cancel(t);
            return CORIO_READY;
        }
        wheel *held = wheel_of(t);
        if (held) {
            /* Any wheel of this runtime will do: its workers advance each
             * other's wheels. (Asked through wheel_holds_for: a wheel of
             * another runtime may be freed meanwhile.) */
            if (here && wheel_holds_for(t, here)) {
                if (wheel_update_waker(t, cx->waker)) /* still armed: refresh the waker */
                    return CORIO_PENDING;
                continue; /* fired meanwhile: look at the clock again */
            }
            /* Armed by another runtime, which may not be driven any more,
             * or may be freed with the waker we would leave there: disarm
             * it and arm it here instead. */
            corio_timer_cancel(t);
        }
        if (!here) {
            /* Polled by hand outside any runtime: nothing will fire it. Ask
             * to be polled again rather than hang. */
            corio_waker_wake_by_ref(cx->waker);
            return CORIO_PENDING;
        }
        corio_waker_store(&t->waker_, cx->waker);
        wheel_insert(here, t);
        return CORIO_PENDING;
    }
}
