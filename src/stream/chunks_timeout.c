/* stream/chunks_timeout.c - chunks of up to `max` items, or fewer once
 * `timeout` has passed since a chunk's first item (tokio-stream's
 * chunks_timeout).
 *
 * Invariants: chunk_.items is the stream's buffer (max_ words, allocated at
 * the first poll); chunk_.len > 0 means a chunk is being filled and timer_
 * is armed (its deadline: first item's arrival + timeout). A delivered chunk
 * is lent to the consumer until the next poll, which starts the next chunk
 * over the same buffer (len was reset when it was delivered, and its items
 * were the consumer's from then on). up_done_: the upstream ran out and its
 * last partial chunk is out or going out; the next poll after it ends.
 */
#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_chunks_timeout) == 144, "corio/stream.h gives its size");
#endif

/* The items inside the chunks are the upstream's: its item drop is theirs. */
static void release(corio_stream_chunks_timeout *s)
{
    if (s->chunk_.len) {
        for (size_t i = 0; i < s->chunk_.len; i++)
            stream_discard(s->up_, s->chunk_.items[i]);
        s->chunk_.len = 0;
        corio_future_drop(&s->timer_.base); /* disarm */
    }
    free(s->chunk_.items);
    s->chunk_.items = NULL;
}

/* Lend the chunk being filled to the consumer. */
static corio_stream_poll deliver(corio_stream_chunks_timeout *s, corio_item *out,
                                 corio_chunk *lent)
{
    *lent = s->chunk_; /* the consumer's view */
    s->chunk_.len = 0;
    out->p = lent;
    return CORIO_STREAM_ITEM;
}

static corio_stream_poll chunks_poll(corio_stream *base, corio_context *cx, corio_item *out)
{
    corio_stream_chunks_timeout *s = (corio_stream_chunks_timeout *)base;
    /* The view handed out lives right after the buffer's words: the
     * stream's own chunk_ keeps counting the next chunk meanwhile. Computed
     * once the buffer exists (an offset from NULL is undefined). */
    corio_chunk *lent;
    if (__builtin_expect(!s->chunk_.items, 0)) {
        if (s->up_done_)
            goto ended;
        if (s->max_ > (SIZE_MAX - sizeof(corio_chunk)) / sizeof(corio_item)) {
            corio_stream_drop(s->up_);
            return stream_finish(base, -ENOMEM);
        }
        s->chunk_.items = malloc(s->max_ * sizeof(corio_item) + sizeof(corio_chunk));
        if (!s->chunk_.items) {
            corio_stream_drop(s->up_);
            return stream_finish(base, -ENOMEM);
        }
    }
    if (s->up_done_)
        goto ended;
    lent = (corio_chunk *)(s->chunk_.items + s->max_);
    for (;;) {
        corio_item it;
        corio_stream_poll p = corio_stream_poll_next(s->up_, cx, &it);
        if (p == CORIO_STREAM_ITEM) {
            if (s->chunk_.len == 0) /* a chunk starts: its clock too */
                corio_sleep_fut_init(&s->timer_, s->timeout_);
            s->chunk_.items[s->chunk_.len++] = it;
            if (s->chunk_.len == s->max_) {
                corio_future_drop(&s->timer_.base);
                return deliver(s, out, lent);
            }
            continue;
        }
        if (p == CORIO_STREAM_END) {
            if (s->up_->result < 0) {
                int rc = s->up_->result;
                release(s);
                return stream_finish(base, rc);
            }
            s->up_done_ = true;
            if (s->chunk_.len) {
                corio_future_drop(&s->timer_.base);
                return deliver(s, out, lent);
            }
            goto ended;
        }
        break;
    }
    if (s->chunk_.len && corio_future_poll(&s->timer_.base, cx) == CORIO_READY)
        return deliver(s, out, lent); /* the timer is spent: nothing to disarm */
    return CORIO_STREAM_PENDING;
ended:
    release(s);
    return stream_finish(base, 0);
}

static void chunks_drop(corio_stream *base)
{
    corio_stream_chunks_timeout *s = (corio_stream_chunks_timeout *)base;
    release(s);
    corio_stream_drop(s->up_);
}

static const corio_stream_vtable chunks_vt = {chunks_poll, chunks_drop};

/* This stream's items are chunks: one discarded (by a filter or a take
 * built on it) hands each item inside it to the upstream's drop. */
static void chunk_items_drop(corio_item chunk, void *arg)
{
    corio_stream_chunks_timeout *s = arg;
    const corio_chunk *c = chunk.p;
    for (size_t i = 0; i < c->len; i++)
        stream_discard(s->up_, c->items[i]);
}

void corio_stream_chunks_timeout_init(corio_stream_chunks_timeout *s, corio_stream *up, size_t max,
                                      corio_duration timeout)
{
    if (!s)
        return;
    if (!stream_ok(up)) {
        stream_invalid(&s->base);
        return;
    }
    corio_stream_init(&s->base, &chunks_vt);
    if (up->item_drop)
        corio_stream_set_item_drop(&s->base, chunk_items_drop, s);
    s->up_ = up;
    s->max_ = max ? max : 1;
    s->timeout_ = timeout;
    s->chunk_.items = NULL;
    s->chunk_.len = 0;
    s->up_done_ = false;
}
