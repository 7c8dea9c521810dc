/* stream/range.c - the integers of [start, end) as a stream. Holds
 * nothing: next_ is the next value, end_ the bound (next_ >= end_: ran out).
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_range) == 48, "corio/stream.h gives its size");
#endif

static corio_stream_poll range_poll(corio_stream *base, corio_context *cx, corio_item *out)
{
    (void)cx;
    corio_stream_range *s = (corio_stream_range *)base;
    if (s->next_ >= s->end_)
        return stream_finish(base, 0);
    out->i = s->next_++;
    return CORIO_STREAM_ITEM;
}

static const corio_stream_vtable range_vt = {range_poll, NULL};

void corio_stream_range_init(corio_stream_range *s, int64_t start, int64_t end)
{
    if (!s)
        return;
    corio_stream_init(&s->base, &range_vt);
    s->next_ = start;
    s->end_ = end;
}
