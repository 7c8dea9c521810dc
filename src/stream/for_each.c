/* stream/for_each.c - call a function for each item (StreamExt::for_each,
 * and try_for_each when the function returns an error).
 *
 * The future owns its stream until the stream ends or the function stops
 * it (then the future drops it), or the future is dropped. done_: owns
 * nothing. CORIO_STREAM_BUDGET items per poll at most.
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_for_each_fut) == 48, "corio/stream.h gives its size");
#endif

static corio_poll for_each_poll(corio_future *base, corio_context *cx)
{
    corio_stream_for_each_fut *f = (corio_stream_for_each_fut *)base;
    if (f->done_)
        return CORIO_READY;
    corio_stream *s = f->s_;
    for (int k = 0; k < CORIO_STREAM_BUDGET; k++) {
        corio_item it;
        corio_stream_poll p = corio_stream_poll_next(s, cx, &it);
        if (p == CORIO_STREAM_PENDING)
            return CORIO_PENDING;
        if (p == CORIO_STREAM_END) {
            base->result = s->result;
            f->done_ = true;
            return CORIO_READY;
        }
        int rc = f->fn_(it, f->arg_);
        if (rc < 0) {
            corio_stream_drop(s);
            base->result = rc;
            f->done_ = true;
            return CORIO_READY;
        }
    }
    return stream_budget_yield(cx);
}

static void for_each_drop(corio_future *base)
{
    corio_stream_for_each_fut *f = (corio_stream_for_each_fut *)base;
    if (f->done_)
        return;
    f->done_ = true;
    corio_stream_drop(f->s_);
}

static const corio_future_vtable for_each_vt = {for_each_poll, for_each_drop};

void corio_stream_for_each_fut_init(corio_stream_for_each_fut *f, corio_stream *s,
                                    corio_stream_item_fn fn, void *arg)
{
    if (!f)
        return;
    bool ok = stream_ok(s) && fn;
    corio_future_init(&f->base, ok ? &for_each_vt : &stream_einval_vt);
    f->s_ = s;
    f->fn_ = fn;
    f->arg_ = arg;
    f->done_ = !ok;
}

int corio_stream_for_each(corio_stream *s, corio_stream_item_fn fn, void *arg)
{
    if (!stream_ok(s) || !fn)
        return -EINVAL;
    corio_stream_for_each_fut f;
    corio_stream_for_each_fut_init(&f, s, fn, arg);
    int rc = corio_await(&f.base);
    return rc < 0 ? rc : f.base.result;
}
