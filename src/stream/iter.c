/* stream/iter.c - a stream over the items of an array (stream::iter).
 *
 * The array is borrowed; pos_ counts the items delivered. Invariant: items
 * [pos_, n_) are the stream's until delivered, so an early drop hands them
 * to the item drop; the delivered ones are the consumer's.
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_iter) == 56, "corio/stream.h gives its size");
#endif

static corio_stream_poll iter_poll(corio_stream *base, corio_context *cx, corio_item *out)
{
    (void)cx;
    corio_stream_iter *s = (corio_stream_iter *)base;
    if (s->pos_ == s->n_)
        return stream_finish(base, 0);
    *out = s->items_[s->pos_++];
    return CORIO_STREAM_ITEM;
}

static void iter_drop(corio_stream *base)
{
    corio_stream_iter *s = (corio_stream_iter *)base;
    if (base->item_drop)
        while (s->pos_ < s->n_)
            stream_discard(base, s->items_[s->pos_++]);
}

static const corio_stream_vtable iter_vt = {iter_poll, iter_drop};

void corio_stream_iter_init(corio_stream_iter *s, const corio_item *items, size_t n)
{
    if (!s)
        return;
    if (!items && n) {
        stream_invalid(&s->base);
        return;
    }
    corio_stream_init(&s->base, &iter_vt);
    s->items_ = items;
    s->n_ = n;
    s->pos_ = 0;
}
