/* stream/filter.c - keep the items a predicate accepts (StreamExt::filter).
 * A rejected item is the filter's (it pulled it) and goes to its item
 * drop at once; the filter then polls again, so one poll may pull many
 * items: up to CORIO_STREAM_BUDGET rejects, after which it wakes its task
 * and answers PENDING (so a filter that rejects a long run of an always
 * ready upstream cannot keep the other tasks of a worker from running:
 * the consumers' budget counts only the items they get). Otherwise it
 * answers PENDING only when its upstream does.
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_filter) == 56, "corio/stream.h gives its size");
#endif

static corio_stream_poll filter_poll(corio_stream *base, corio_context *cx, corio_item *out)
{
    corio_stream_filter *s = (corio_stream_filter *)base;
    for (int k = 0;;) {
        corio_stream_poll p = corio_stream_poll_next(s->up_, cx, out);
        if (p == CORIO_STREAM_ITEM) {
            if (s->fn_(*out, s->arg_))
                return p;
            stream_discard(base, *out);
            if (++k == CORIO_STREAM_BUDGET) { /* let the others run, then go on */
                corio_waker_wake_by_ref(corio_context_waker(cx));
                return CORIO_STREAM_PENDING;
            }
            continue;
        }
        if (p == CORIO_STREAM_END)
            return stream_finish(base, s->up_->result);
        return p;
    }
}

static void filter_drop(corio_stream *base)
{
    corio_stream_drop(((corio_stream_filter *)base)->up_);
}

static const corio_stream_vtable filter_vt = {filter_poll, filter_drop};

void corio_stream_filter_init(corio_stream_filter *s, corio_stream *up, corio_stream_filter_fn fn,
                              void *arg)
{
    if (!s)
        return;
    if (!stream_ok(up) || !fn) {
        stream_invalid(&s->base);
        return;
    }
    corio_stream_init(&s->base, &filter_vt);
    stream_inherit_drop(&s->base, up);
    s->up_ = up;
    s->fn_ = fn;
    s->arg_ = arg;
}
