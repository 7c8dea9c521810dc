/* time/sleep.c - the sleep future and corio_sleep. */
#include "corio/error.h"
#include "corio/time.h"

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

void corio_sleep_fut_init_until(corio_sleep_fut *f, corio_instant deadline)
{
    if (!f)
        return;
    corio_future_init(&f->base, &sleep_vtable);
    corio_timer_init(&f->timer, deadline);
}

void corio_sleep_fut_init(corio_sleep_fut *f, corio_duration d)
{
    corio_sleep_fut_init_until(f, corio_instant_add(corio_instant_now(), d));
}

int corio_sleep_until(corio_instant deadline)
{
    corio_sleep_fut f;
    corio_sleep_fut_init_until(&f, deadline);
    return corio_await(&f.base);
}

int corio_sleep(corio_duration d)
{
    return corio_sleep_until(corio_instant_add(corio_instant_now(), d));
}
