/* stream/stream.c - the stream interface's own functions: drop, the item
 * drop setter, and `next` (the future that takes one item, and its await).
 *
 * A next future holds no progress of its own: everything is in the stream,
 * so dropping one unfinished loses nothing (the cancel safety of
 * corio_stream_next). It is READY at once for a stream that has ended.
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_item) == 8, "an item is one word");
_Static_assert(sizeof(corio_stream) == 32, "corio/stream.h gives its size");
_Static_assert(sizeof(corio_stream_next_fut) == 32, "corio/stream.h gives its size");
#endif

void corio_stream_drop(corio_stream *s)
{
    if (!s || !s->vtable)
        return;
    if (s->vtable->drop)
        s->vtable->drop(s);
    /* Whatever it was, it holds nothing now: a second drop, or a poll, is
     * harmless. */
    s->vtable = &stream_ended_vt;
}

void corio_stream_set_item_drop(corio_stream *s, corio_item_drop_fn fn, void *arg)
{
    if (!s)
        return;
    s->item_drop = fn;
    s->item_drop_arg = arg;
}

static corio_poll next_poll(corio_future *base, corio_context *cx)
{
    corio_stream_next_fut *f = (corio_stream_next_fut *)base;
    switch (corio_stream_poll_next(f->s, cx, f->out)) {
    case CORIO_STREAM_ITEM:
        base->result = 0;
        return CORIO_READY;
    case CORIO_STREAM_END:
        base->result = f->s->result < 0 ? f->s->result : CORIO_ECLOSED;
        return CORIO_READY;
    default:
        return CORIO_PENDING;
    }
}

/* No drop: the stream keeps its progress. */
static const corio_future_vtable next_vt = {next_poll, NULL};

static corio_poll einval_poll(corio_future *base, corio_context *cx)
{
    (void)cx;
    base->result = -EINVAL;
    return CORIO_READY;
}

const corio_future_vtable stream_einval_vt = {einval_poll, NULL};

void corio_stream_next_fut_init(corio_stream_next_fut *f, corio_stream *s, corio_item *out)
{
    if (!f)
        return;
    corio_future_init(&f->base, stream_ok(s) && out ? &next_vt : &stream_einval_vt);
    f->s = s;
    f->out = out;
}

int corio_stream_next(corio_stream *s, corio_item *out)
{
    if (!stream_ok(s) || !out)
        return -EINVAL;
    corio_stream_next_fut f;
    corio_stream_next_fut_init(&f, s, out);
    int rc = corio_await(&f.base);
    return rc < 0 ? rc : f.base.result;
}
