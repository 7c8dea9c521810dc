/* stream/fold.c - fold a stream into one value (StreamExt::fold).
 *
 * The future owns its stream until the stream ends (then the stream has
 * released itself) or the future is dropped. done_: ready, owns nothing.
 * Each poll handles CORIO_STREAM_BUDGET items at most (corio/stream.h,
 * FAIRNESS).
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_fold_fut) == 56, "corio/stream.h gives its size");
#endif

static corio_poll fold_poll(corio_future *base, corio_context *cx)
{
    corio_stream_fold_fut *f = (corio_stream_fold_fut *)base;
    if (f->done_)
        return CORIO_READY;
    corio_stream *s = f->s_;
    corio_stream_fold_fn fn = f->fn_;
    void *arg = f->arg_;
    corio_item acc = f->acc;
    for (int k = 0; k < CORIO_STREAM_BUDGET; k++) {
        corio_item it;
        corio_stream_poll p = corio_stream_poll_next(s, cx, &it);
        if (p == CORIO_STREAM_ITEM) {
            acc = fn(acc, it, arg);
            continue;
        }
        f->acc = acc;
        if (p == CORIO_STREAM_PENDING)
            return CORIO_PENDING;
        base->result = s->result;
        f->done_ = true;
        return CORIO_READY;
    }
    f->acc = acc;
    return stream_budget_yield(cx);
}

static void fold_drop(corio_future *base)
{
    corio_stream_fold_fut *f = (corio_stream_fold_fut *)base;
    if (f->done_)
        return;
    f->done_ = true;
    corio_stream_drop(f->s_);
}

static const corio_future_vtable fold_vt = {fold_poll, fold_drop};

void corio_stream_fold_fut_init(corio_stream_fold_fut *f, corio_stream *s, corio_item init,
                                corio_stream_fold_fn fn, void *arg)
{
    if (!f)
        return;
    bool ok = stream_ok(s) && fn;
    corio_future_init(&f->base, ok ? &fold_vt : &stream_einval_vt);
    f->acc = init;
    f->s_ = s;
    f->fn_ = fn;
    f->arg_ = arg;
    f->done_ = !ok;
}

int corio_stream_fold(corio_stream *s, corio_item init, corio_stream_fold_fn fn, void *arg,
                      corio_item *acc)
{
    if (!stream_ok(s) || !fn || !acc)
        return -EINVAL;
    corio_stream_fold_fut f;
    corio_stream_fold_fut_init(&f, s, init, fn, arg);
    int rc = corio_await(&f.base); /* interrupted: it dropped f, so the stream */
    if (rc == CORIO_EWRONGCTX)
        return rc; /* f was never polled: nothing touched */
    *acc = f.acc;
    return rc < 0 ? rc : f.base.result;
}
