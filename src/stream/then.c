/* stream/then.c - each item through an async function, one at a time, in
 * order (StreamExt::then).
 *
 * Invariants: fut_ is the future in flight (in slot_), or NULL when the next
 * poll must pull an item first. out_ is where the future writes its output:
 * it lives in the stream, which does not move once polled. slot_ is
 * allocated at the first item and freed when the stream ends or is
 * dropped; the future in it is dropped first.
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_then) == 88, "corio/stream.h gives its size");
#endif

static void release(corio_stream_then *s)
{
    if (s->fut_) {
        corio_future_drop(s->fut_);
        s->fut_ = NULL;
    }
    free(s->slot_);
    s->slot_ = NULL;
}

/* End the stream with rc: drop what is in flight, then the upstream (when
 * it has not ended: its END already released it). */
static corio_stream_poll fail(corio_stream_then *s, int rc)
{
    release(s);
    corio_stream_drop(s->up_);
    return stream_finish(&s->base, rc);
}

static corio_stream_poll then_poll(corio_stream *base, corio_context *cx, corio_item *out)
{
    corio_stream_then *s = (corio_stream_then *)base;
    corio_future *f = s->fut_;
    if (!f) {
        corio_item it;
        corio_stream_poll p = corio_stream_poll_next(s->up_, cx, &it);
        if (p == CORIO_STREAM_PENDING)
            return p;
        if (p == CORIO_STREAM_END) {
            release(s);
            return stream_finish(base, s->up_->result);
        }
        if (__builtin_expect(!s->slot_, 0)) {
            s->slot_ = malloc(s->slot_size_ ? s->slot_size_ : 1);
            if (!s->slot_) {
                stream_discard(s->up_, it); /* still the upstream's kind of item */
                return fail(s, -ENOMEM);
            }
        }
        f = s->fn_(s->slot_, it, &s->out_, s->arg_);
        if (!f) { /* answered at once */
            *out = s->out_;
            return CORIO_STREAM_ITEM;
        }
        s->fut_ = f;
    }
    if (corio_future_poll(f, cx) == CORIO_PENDING)
        return CORIO_STREAM_PENDING;
    s->fut_ = NULL; /* ready: it owns nothing any more */
    if (f->result < 0)
        return fail(s, f->result);
    *out = s->out_;
    return CORIO_STREAM_ITEM;
}

static void then_drop(corio_stream *base)
{
    corio_stream_then *s = (corio_stream_then *)base;
    release(s);
    corio_stream_drop(s->up_);
}

static const corio_stream_vtable then_vt = {then_poll, then_drop};

void corio_stream_then_init(corio_stream_then *s, corio_stream *up, size_t slot_size,
                            corio_stream_async_fn fn, void *arg)
{
    if (!s)
        return;
    if (!stream_ok(up) || !fn) {
        stream_invalid(&s->base);
        return;
    }
    corio_stream_init(&s->base, &then_vt);
    s->up_ = up;
    s->fn_ = fn;
    s->arg_ = arg;
    s->slot_size_ = slot_size;
    s->slot_ = NULL;
    s->fut_ = NULL;
    s->out_.u = 0;
}
