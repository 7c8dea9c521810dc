/* stream/merge.c - the items of several streams as they come (select_all,
 * tokio-stream's merge).
 *
 * live_ has bit i set while ups_[i] has not ended. A poll polls the live
 * streams from start_, the one after the stream that gave the last item
 * (round robin), and returns the first item found; PENDING only when every
 * live stream said PENDING (each then stored the waker). The merge ends when
 * live_ is 0; a failing stream fails it, and the live others are dropped.
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_merge) == 64, "corio/stream.h gives its size");
#endif

static void drop_live(corio_stream_merge *s)
{
    for (size_t i = 0; i < s->n_; i++)
        if (s->live_ >> i & 1)
            corio_stream_drop(s->ups_[i]);
    s->live_ = 0;
}

static corio_stream_poll merge_poll(corio_stream *base, corio_context *cx, corio_item *out)
{
    corio_stream_merge *s = (corio_stream_merge *)base;
    size_t n = s->n_, i = s->start_;
    for (size_t k = 0; k < n && s->live_; k++, i = i + 1 == n ? 0 : i + 1) {
        if (!(s->live_ >> i & 1))
            continue;
        corio_stream *u = s->ups_[i];
        corio_stream_poll p = corio_stream_poll_next(u, cx, out);
        if (p == CORIO_STREAM_ITEM) {
            s->start_ = i + 1 == n ? 0 : i + 1; /* the next one goes first next time */
            return p;
        }
        if (p == CORIO_STREAM_END) {
            s->live_ &= ~(1ull << i);
            if (u->result < 0) {
                int rc = u->result;
                drop_live(s);
                return stream_finish(base, rc);
            }
        }
    }
    if (!s->live_)
        return stream_finish(base, 0);
    return CORIO_STREAM_PENDING;
}

static void merge_drop(corio_stream *base)
{
    drop_live((corio_stream_merge *)base);
}

static const corio_stream_vtable merge_vt = {merge_poll, merge_drop};

void corio_stream_merge_init(corio_stream_merge *s, corio_stream *const *streams, size_t n)
{
    if (!s)
        return;
    bool ok = n <= CORIO_STREAM_MERGE_MAX && (streams || n == 0);
    for (size_t i = 0; ok && i < n; i++)
        if (streams[i] && !stream_ok(streams[i]))
            ok = false;
    if (!ok) {
        stream_invalid(&s->base);
        return;
    }
    corio_stream_init(&s->base, &merge_vt);
    s->ups_ = streams;
    s->n_ = n;
    s->start_ = 0;
    s->live_ = 0;
    for (size_t i = 0; i < n; i++)
        if (streams[i])
            s->live_ |= 1ull << i;
    /* The inputs' items pass through: the first input's drop stands for
     * all (they are meant to carry one kind of item). */
    for (size_t i = 0; i < n; i++)
        if (streams[i]) {
            stream_inherit_drop(&s->base, streams[i]);
            break;
        }
}
