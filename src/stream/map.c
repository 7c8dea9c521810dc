/* stream/map.c - each item through a function (StreamExt::map). Holds only
 * its upstream; ends when (and as) the upstream ends.
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_map) == 56, "corio/stream.h gives its size");
#endif

static corio_stream_poll map_poll(corio_stream *base, corio_context *cx, corio_item *out)
{
    corio_stream_map *s = (corio_stream_map *)base;
    corio_item it;
    corio_stream_poll p = corio_stream_poll_next(s->up_, cx, &it);
    if (p == CORIO_STREAM_ITEM) {
        *out = s->fn_(it, s->arg_);
        return p;
    }
    if (p == CORIO_STREAM_END)
        return stream_finish(base, s->up_->result);
    return p;
}

static void map_drop(corio_stream *base)
{
    corio_stream_drop(((corio_stream_map *)base)->up_);
}

static const corio_stream_vtable map_vt = {map_poll, map_drop};

void corio_stream_map_init(corio_stream_map *s, corio_stream *up, corio_stream_map_fn fn, void *arg)
{
    if (!s)
        return;
    if (!stream_ok(up) || !fn) {
        stream_invalid(&s->base);
        return;
    }
    corio_stream_init(&s->base, &map_vt);
    s->up_ = up;
    s->fn_ = fn;
    s->arg_ = arg;
}
