/* stream/internal.h - what the stream adapters share (internal): the
 * "ended" state every stream falls into, argument checks, the consumers'
 * budget.
 *
 * Invariant of every stream in this folder: once it has answered
 * CORIO_STREAM_END it has released everything it held (its upstream, its
 * buffers, its timer) and its vtable is stream_ended_vt, whose poll answers
 * END again (fused) and whose drop does nothing. So "ended" is one pointer
 * compare, no adapter keeps a flag for it, and dropping an ended stream is
 * harmless.
 *
 * Everything here is static: no name leaves the object that includes it.
 */
#ifndef CORIO_STREAM_INTERNAL_H
#define CORIO_STREAM_INTERNAL_H

#include <errno.h>
#include <stdlib.h>

#include "corio/error.h"
#include "corio/stream.h"

static inline corio_stream_poll stream_ended_poll(corio_stream *s, corio_context *cx,
                                                  corio_item *out)
{
    (void)s;
    (void)cx;
    (void)out;
    return CORIO_STREAM_END;
}

static const corio_stream_vtable stream_ended_vt = {stream_ended_poll, NULL};

/* End `s` with `rc` (0 or a negative code). The caller has released what
 * s held. */
static inline corio_stream_poll stream_finish(corio_stream *s, int rc)
{
    s->result = rc;
    s->vtable = &stream_ended_vt;
    return CORIO_STREAM_END;
}

/* An initialised stream that can be polled. */
static inline bool stream_ok(const corio_stream *s)
{
    return s && s->vtable && s->vtable->poll_next;
}

/* Make `s` a stream that ends with -EINVAL at its first poll (bad
 * arguments at init: it owns nothing). */
static inline void stream_invalid(corio_stream *s)
{
    corio_stream_init(s, &stream_ended_vt);
    s->result = -EINVAL;
}

/* Give an item the stream owns to its item drop. */
static inline void stream_discard(const corio_stream *s, corio_item it)
{
    if (s->item_drop)
        s->item_drop(it, s->item_drop_arg);
}

/* Inherit the upstream's item drop (adapters that pass items through). */
static inline void stream_inherit_drop(corio_stream *s, const corio_stream *up)
{
    s->item_drop = up->item_drop;
    s->item_drop_arg = up->item_drop_arg;
}

/* The vtable of a consumer or next future built with bad arguments: its
 * first poll says -EINVAL (stream.c). */
extern const corio_future_vtable stream_einval_vt;

/* A consumer used up its budget in this poll: have the task polled again
 * after the others, and say PENDING. */
static inline corio_poll stream_budget_yield(corio_context *cx)
{
    corio_waker_wake_by_ref(corio_context_waker(cx));
    return CORIO_PENDING;
}

#endif
