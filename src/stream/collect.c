/* stream/collect.c - collect a stream's items into an array
 * (StreamExt::collect).
 *
 * The array doubles from 16 items. Until the future is ready it owns the
 * stream and the array with the items in it (a drop gives the items to the
 * stream's item drop, read before the stream is dropped); once ready,
 * items/len are the caller's. done_: owns nothing.
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_collect_fut) == 56, "corio/stream.h gives its size");
#endif


static bool grow(corio_stream_collect_fut *f)
{
    size_t cap = f->cap_ ? f->cap_ * 2 : 16;
    if (cap > SIZE_MAX / sizeof(corio_item) / 2)
        return false;
    corio_item *p = realloc(f->items, cap * sizeof(corio_item));
    if (!p)
        return false;
    f->items = p;
    f->cap_ = cap;
    return true;
}

static corio_poll collect_poll(corio_future *base, corio_context *cx)
{
    corio_stream_collect_fut *f = (corio_stream_collect_fut *)base;
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
        if (f->len == f->cap_ && !grow(f)) {
            stream_discard(s, it);
            corio_stream_drop(s);
            base->result = -ENOMEM;
            f->done_ = true;
            return CORIO_READY;
        }
        f->items[f->len++] = it;
    }
    return stream_budget_yield(cx);
}

static void collect_drop_fut(corio_future *base)
{
    corio_stream_collect_fut *f = (corio_stream_collect_fut *)base;
    if (f->done_)
        return;
    f->done_ = true;
    /* The items' drop, read before the stream goes. */
    corio_item_drop_fn fn = f->s_->item_drop;
    void *arg = f->s_->item_drop_arg;
    corio_stream_drop(f->s_);
    if (fn)
        for (size_t i = 0; i < f->len; i++)
            fn(f->items[i], arg);
    free(f->items);
    f->items = NULL;
    f->len = f->cap_ = 0;
}

static const corio_future_vtable collect_vt = {collect_poll, collect_drop_fut};

void corio_stream_collect_fut_init(corio_stream_collect_fut *f, corio_stream *s)
{
    if (!f)
        return;
    bool ok = stream_ok(s);
    corio_future_init(&f->base, ok ? &collect_vt : &stream_einval_vt);
    f->items = NULL;
    f->len = 0;
    f->cap_ = 0;
    f->s_ = s;
    f->done_ = !ok;
}

int corio_stream_collect(corio_stream *s, corio_item **items, size_t *len)
{
    if (!stream_ok(s) || !items || !len)
        return -EINVAL;
    corio_stream_collect_fut f;
    corio_stream_collect_fut_init(&f, s);
    int rc = corio_await(&f.base);
    if (rc == CORIO_EWRONGCTX)
        return rc; /* f was never polled: nothing touched */
    if (rc < 0) { /* interrupted: f was dropped, the items with it */
        *items = NULL;
        *len = 0;
        return rc;
    }
    *items = f.items;
    *len = f.len;
    return f.base.result;
}
