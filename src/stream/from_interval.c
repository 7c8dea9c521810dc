/* stream/from_interval.c - an interval's ticks as a stream
 * (IntervalStream). The item is the instant the tick was due: the
 * interval's `next` before the poll that fires it. Never ends; the drop
 * disarms the interval's timer.
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_interval) == 120, "corio/stream.h gives its size");
#endif

static corio_stream_poll interval_poll(corio_stream *base, corio_context *cx, corio_item *out)
{
    corio_stream_interval *s = (corio_stream_interval *)base;
    corio_instant due = s->iv.next;
    if (corio_future_poll(&s->iv.base, cx) == CORIO_PENDING)
        return CORIO_STREAM_PENDING;
    out->u = due;
    return CORIO_STREAM_ITEM;
}

static void interval_drop(corio_stream *base)
{
    corio_interval_drop(&((corio_stream_interval *)base)->iv);
}

static const corio_stream_vtable interval_vt = {interval_poll, interval_drop};

void corio_stream_interval_init(corio_stream_interval *s, corio_duration period)
{
    if (!s)
        return;
    corio_stream_init(&s->base, &interval_vt);
    corio_interval_init(&s->iv, period);
}
