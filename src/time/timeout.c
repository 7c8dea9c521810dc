/* time/timeout.c - the timeout future and corio_timeout: a deadline on one
 * future (tokio::time::timeout). */
#include "corio/error.h"
#include "corio/time.h"

static corio_poll timeout_poll(corio_future *f, corio_context *cx)
{
    corio_timeout_fut *to = (corio_timeout_fut *)f;
    /* The inner future first, as tokio does: a ready future never times out,
     * and the timer is only armed when the inner one is pending. */
    if (corio_future_poll(to->inner, cx) == CORIO_READY) {
        corio_timer_cancel(&to->timer);
        f->result = 0;
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

/* A zeroed or NULL inner future finishes at once with -EINVAL. */
static corio_poll timeout_invalid_poll(corio_future *f, corio_context *cx)
{
    (void)cx;
    f->result = -EINVAL;
    return CORIO_READY;
}

static const corio_future_vtable timeout_invalid_vtable = {timeout_invalid_poll, NULL};

static bool future_valid(const corio_future *f)
{
    return f && f->vtable && f->vtable->poll;
}

void corio_timeout_fut_init_until(corio_timeout_fut *f, corio_future *inner,
                                  corio_instant deadline)
{
    if (!f)
        return;
    corio_future_init(&f->base, future_valid(inner) ? &timeout_vtable : &timeout_invalid_vtable);
    f->inner = inner;
    corio_timer_init(&f->timer, deadline);
}

void corio_timeout_fut_init(corio_timeout_fut *f, corio_future *inner, corio_duration d)
{
    corio_timeout_fut_init_until(f, inner, corio_instant_add(corio_instant_now(), d));
}

int corio_timeout_until(corio_future *inner, corio_instant deadline)
{
    if (!future_valid(inner))
        return -EINVAL;
    corio_timeout_fut f;
    corio_timeout_fut_init_until(&f, inner, deadline);
    int rc = corio_await(&f.base);
    return rc < 0 ? rc : f.base.result;
}

int corio_timeout(corio_future *inner, corio_duration d)
{
    return corio_timeout_until(inner, corio_instant_add(corio_instant_now(), d));
}
