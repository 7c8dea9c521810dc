/* stream/take.c - the first n items (StreamExt::take). left_ counts the
 * items still to deliver; at 0 the upstream has been dropped (in the poll
 * that delivered the n-th item), and the next poll ends the stream.
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_take) == 48, "corio/stream.h gives its size");
#endif

static corio_stream_poll take_poll(corio_stream *base, corio_context *cx, corio_item *out)
{
    corio_stream_take *s = (corio_stream_take *)base;
    if (s->left_ == 0) {
        corio_stream_drop(s->up_); /* n == 0: never polled */
        return stream_finish(base, 0);
    }
    corio_stream_poll p = corio_stream_poll_next(s->up_, cx, out);
    if (p == CORIO_STREAM_ITEM) {
        if (--s->left_ == 0)
            corio_stream_drop(s->up_); /* let a channel's senders know at once */
        return p;
    }
    if (p == CORIO_STREAM_END)
        return stream_finish(base, s->up_->result);
    return p;
}

static void take_drop(corio_stream *base)
{
    corio_stream_drop(((corio_stream_take *)base)->up_);
}

static const corio_stream_vtable take_vt = {take_poll, take_drop};

void corio_stream_take_init(corio_stream_take *s, corio_stream *up, uint64_t n)
{
    if (!s)
        return;
    if (!stream_ok(up)) {
        stream_invalid(&s->base);
        return;
    }
    corio_stream_init(&s->base, &take_vt);
    stream_inherit_drop(&s->base, up);
    s->up_ = up;
    s->left_ = n;
}
