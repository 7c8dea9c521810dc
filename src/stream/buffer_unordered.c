/* stream/buffer_unordered.c - up to `limit` async maps in flight, outputs
 * in completion order (StreamExt::buffer_unordered over a map).
 *
 * The slots live in the tail of a wakeset core (task/wakeset.h): each slot
 * is a ws_slot (its own waker), a link for the free list, the future in
 * flight, its output word, and slot_size bytes for the future. A future is
 * polled once when it starts and afterwards only when its slot was woken:
 * the owner drains the core's ready stack once per poll, appends what it
 * took to todo_ and polls those. A poll that finds an output returns it at
 * once; slots still in todo_ are polled by the next poll. PENDING is
 * answered only with todo_ empty, after the owner's waker was stored and
 * the stack drained in this poll: a slot pushed since (a future that woke
 * itself while polled) found the stack empty and woke the owner, so no
 * wake is lost, and a self-waking future cannot keep the poll from
 * returning.
 *
 * Invariants: a slot is free (on free_, fut NULL) or busy (fut set,
 * counted in in_flight_ <= limit_). A free slot may still sit on the ready
 * stack or todo_ from a wake after its last poll: it is skipped (fut NULL),
 * or polled spuriously if it was reused meanwhile, which futures allow.
 * The upstream is polled only while in_flight_ < limit_ (backpressure).
 * The core is reference counted: a future that keeps a clone of its slot's
 * waker after it was dropped keeps the memory alive, never the stream.
 */
#include <stdalign.h>

#include "stream/internal.h"
#include "task/wakeset.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_buffer_unordered) == 120, "corio/stream.h gives its size");
#endif

typedef struct bslot {
    ws_slot ws; /* first: a drained ws_slot is its bslot */
    struct bslot *link;
    corio_future *fut;
    corio_item out;
    alignas(16) unsigned char mem[];
} bslot;

static inline bslot *slot_at(corio_stream_buffer_unordered *s, size_t i)
{
    return (bslot *)((unsigned char *)ws_tail(s->core_) + i * s->stride_);
}

/* First poll: the core and its slots, all free. */
static int start(corio_stream_buffer_unordered *s)
{
    size_t room = (s->slot_size_ + 15) & ~(size_t)15;
    if (room < s->slot_size_ || room > SIZE_MAX / 2 - sizeof(bslot))
        return -ENOMEM;
    s->stride_ = sizeof(bslot) + room;
    if (s->limit_ > (SIZE_MAX / 2) / s->stride_)
        return -ENOMEM;
    ws_core *c = ws_new(s->limit_ * s->stride_);
    if (!c)
        return -ENOMEM;
    s->core_ = c;
    s->free_ = NULL;
    for (size_t i = s->limit_; i-- > 0;) {
        bslot *b = slot_at(s, i);
        ws_slot_init(&b->ws, c);
        b->fut = NULL;
        b->out.u = 0;
        b->link = s->free_;
        s->free_ = b;
    }
    return 0;
}

/* Drop every future in flight and give the core back. */
static void release(corio_stream_buffer_unordered *s)
{
    if (!s->core_)
        return;
    for (size_t i = 0; i < s->limit_; i++) {
        bslot *b = slot_at(s, i);
        if (b->fut) {
            corio_future *f = b->fut;
            b->fut = NULL;
            corio_future_drop(f);
        }
    }
    s->in_flight_ = 0;
    s->todo_ = NULL;
    ws_close(s->core_);
    s->core_ = NULL;
}

static corio_stream_poll fail(corio_stream_buffer_unordered *s, int rc)
{
    release(s);
    corio_stream_drop(s->up_); /* nothing when it has ended */
    return stream_finish(&s->base, rc);
}

/* Poll the future of busy slot b with the slot's waker. ITEM: its output
 * is in *out and the slot is free again; END: it failed (the stream has
 * been ended); PENDING. */
static corio_stream_poll poll_slot(corio_stream_buffer_unordered *s, bslot *b, corio_item *out)
{
    corio_waker w = ws_slot_waker(&b->ws);
    corio_context scx = {&w};
    corio_future *f = b->fut;
    if (corio_future_poll(f, &scx) == CORIO_PENDING)
        return CORIO_STREAM_PENDING;
    b->fut = NULL;
    s->in_flight_--;
    b->link = s->free_;
    s->free_ = b;
    if (f->result < 0)
        return fail(s, f->result);
    *out = b->out;
    return CORIO_STREAM_ITEM;
}

static corio_stream_poll bu_poll(corio_stream *base, corio_context *cx, corio_item *out)
{
    corio_stream_buffer_unordered *s = (corio_stream_buffer_unordered *)base;
    if (__builtin_expect(!s->core_, 0)) {
        int rc = start(s);
        if (rc < 0)
            return fail(s, rc);
    }
    /* Before any slot can be woken by a first poll, and before draining
     * (task/wakeset.h). */
    ws_set_owner(s->core_, corio_context_waker(cx));
    while (!s->up_done_ && s->in_flight_ < s->limit_) {
        corio_item it;
        corio_stream_poll p = corio_stream_poll_next(s->up_, cx, &it);
        if (p == CORIO_STREAM_PENDING)
            break;
        if (p == CORIO_STREAM_END) {
            if (s->up_->result < 0)
                return fail(s, s->up_->result);
            s->up_done_ = true;
            break;
        }
        bslot *b = s->free_;
        s->free_ = b->link;
        corio_future *f = s->fn_(b->mem, it, &b->out, s->arg_);
        if (!f) { /* answered at once */
            b->link = s->free_;
            s->free_ = b;
            *out = b->out;
            return CORIO_STREAM_ITEM;
        }
        b->fut = f;
        s->in_flight_++;
        corio_stream_poll r = poll_slot(s, b, out);
        if (r != CORIO_STREAM_PENDING)
            return r;
    }
    /* One drain per poll, appended to what a previous poll left: a future
     * that wakes itself while polled (a yield) is pushed again, and is
     * polled by the next poll of the stream, not by this one (draining
     * until empty would poll it for ever and never let the task go). The
     * stack was emptied by this drain, after ws_set_owner: that push, or
     * an earlier one since, woke the owner's waker (task/wakeset.h). */
    ws_slot *fresh = ws_drain(s->core_);
    if (!s->todo_) {
        s->todo_ = fresh;
    } else if (fresh) {
        ws_slot *t = s->todo_;
        while (t->next)
            t = t->next;
        t->next = fresh;
    }
    while (s->todo_) {
        ws_slot *w = s->todo_;
        s->todo_ = w->next;
        ws_slot_take(w);
        bslot *b = (bslot *)w;
        if (!b->fut)
            continue; /* woken after it finished */
        corio_stream_poll r = poll_slot(s, b, out);
        if (r != CORIO_STREAM_PENDING)
            return r;
    }
    if (s->up_done_ && s->in_flight_ == 0) {
        release(s);
        return stream_finish(base, 0);
    }
    return CORIO_STREAM_PENDING;
}

static void bu_drop(corio_stream *base)
{
    corio_stream_buffer_unordered *s = (corio_stream_buffer_unordered *)base;
    release(s);
    corio_stream_drop(s->up_);
}

static const corio_stream_vtable bu_vt = {bu_poll, bu_drop};

void corio_stream_buffer_unordered_init(corio_stream_buffer_unordered *s, corio_stream *up,
                                        size_t limit, size_t slot_size, corio_stream_async_fn fn,
                                        void *arg)
{
    if (!s)
        return;
    if (!stream_ok(up) || !fn) {
        stream_invalid(&s->base);
        return;
    }
    corio_stream_init(&s->base, &bu_vt);
    s->up_ = up;
    s->fn_ = fn;
    s->arg_ = arg;
    s->limit_ = limit ? limit : 1;
    s->slot_size_ = slot_size;
    s->stride_ = 0;
    s->in_flight_ = 0;
    s->core_ = NULL;
    s->free_ = NULL;
    s->todo_ = NULL;
    s->up_done_ = false;
}
