/* stream/for_each_concurrent.c - an async function on every item, up to
 * `limit` at once (StreamExt::for_each_concurrent): a buffer_unordered
 * (stream/buffer_unordered.c) driven to its end, its outputs thrown away.
 * Everything the future holds is in that inner stream: its end or its drop
 * releases the stream, the futures in flight and the slots. done_: owns
 * nothing. CORIO_STREAM_BUDGET outputs per poll at most.
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_for_each_concurrent_fut) == 144,
               "corio/stream.h gives its size");
#endif

static corio_poll fec_poll(corio_future *base, corio_context *cx)
{
    corio_stream_for_each_concurrent_fut *f = (corio_stream_for_each_concurrent_fut *)base;
    if (f->done_)
        return CORIO_READY;
    for (int k = 0; k < CORIO_STREAM_BUDGET; k++) {
        corio_item it;
        corio_stream_poll p = corio_stream_poll_next(&f->bu_.base, cx, &it);
        if (p == CORIO_STREAM_PENDING)
            return CORIO_PENDING;
        if (p == CORIO_STREAM_END) {
            base->result = f->bu_.base.result;
            f->done_ = true;
            return CORIO_READY;
        }
    }
    return stream_budget_yield(cx);
}

static void fec_drop(corio_future *base)
{
    corio_stream_for_each_concurrent_fut *f = (corio_stream_for_each_concurrent_fut *)base;
    if (f->done_)
        return;
    f->done_ = true;
    corio_stream_drop(&f->bu_.base);
}

static const corio_future_vtable fec_vt = {fec_poll, fec_drop};

void corio_stream_for_each_concurrent_fut_init(corio_stream_for_each_concurrent_fut *f,
                                               corio_stream *s, size_t limit, size_t slot_size,
                                               corio_stream_async_fn fn, void *arg)
{
    if (!f)
        return;
    bool ok = stream_ok(s) && fn;
    corio_future_init(&f->base, ok ? &fec_vt : &stream_einval_vt);
    corio_stream_buffer_unordered_init(&f->bu_, s, limit, slot_size, fn, arg);
    f->done_ = !ok;
}

int corio_stream_for_each_concurrent(corio_stream *s, size_t limit, size_t slot_size,
                                     corio_stream_async_fn fn, void *arg)
{
    if (!stream_ok(s) || !fn)
        return -EINVAL;
    corio_stream_for_each_concurrent_fut f;
    corio_stream_for_each_concurrent_fut_init(&f, s, limit, slot_size, fn, arg);
    int rc = corio_await(&f.base);
    return rc < 0 ? rc : f.base.result;
}
