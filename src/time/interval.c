/* time/interval.c - intervals: a timer re-armed on a fixed schedule, with a
 * policy for the ticks a late task missed. */
#include "corio/error.h"
#include "corio/time.h"

static corio_poll interval_poll(corio_future *f, corio_context *cx)
{
    corio_interval *iv = (corio_interval *)f;
    if (corio_timer_poll(&iv->timer, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    corio_instant now = corio_instant_now();
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
    if (!iv)
        return;
    corio_future_init(&iv->base, &interval_vtable);
    iv->period = period > 0 ? period : 1;
    iv->next = start;
    iv->missed = CORIO_MISSED_BURST;
    corio_timer_init(&iv->timer, start);
}

void corio_interval_init(corio_interval *iv, corio_duration period)
{
    corio_interval_init_at(iv, corio_instant_now(), period);
}

void corio_interval_set_missed_tick(corio_interval *iv, corio_missed_tick policy)
{
    if (iv)
        iv->missed = policy;
}

int corio_interval_tick(corio_interval *iv)
{
    if (!iv)
        return -EINVAL;
    return corio_await(&iv->base);
}

void corio_interval_drop(corio_interval *iv)
{
    if (iv)
        corio_future_drop(&iv->base);
}
