/* stream/from_mpsc.c - an mpsc receiver as a stream (ReceiverStream).
 *
 * Each poll is one poll of the channel's receive future, set up afresh
 * (it keeps no state of its own: the waiting receiver's waker lives in the
 * channel), so the stream may be moved until its first poll. A message
 * leaves the channel only in the poll that delivers it. The receiver is
 * the stream's: released when the stream ends or is dropped (dropping the
 * receive future first takes the stored waker back from the channel).
 */
#include <string.h>

#include "stream/internal.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_stream_mpsc) == 72, "corio/stream.h gives its size");
#endif

static void release(corio_stream_mpsc *s)
{
    corio_future_drop(&s->recv_.base);
    corio_mpsc_rx_release(s->recv_.rx);
    s->recv_.rx = NULL;
}

static corio_stream_poll mpsc_poll(corio_stream *base, corio_context *cx, corio_item *out)
{
    corio_stream_mpsc *s = (corio_stream_mpsc *)base;
    s->buf_.u = 0; /* a message smaller than an item fills its first bytes */
    corio_mpsc_recv_fut_init(&s->recv_, s->recv_.rx, &s->buf_);
    if (corio_future_poll(&s->recv_.base, cx) == CORIO_PENDING)
        return CORIO_STREAM_PENDING;
    int rc = s->recv_.base.result;
    if (rc == 0) {
        *out = s->buf_;
        return CORIO_STREAM_ITEM;
    }
    /* Ready: the receive registered nothing, only the receiver is left. */
    corio_mpsc_rx_release(s->recv_.rx);
    s->recv_.rx = NULL;
    return stream_finish(base, rc == CORIO_ECLOSED ? 0 : rc);
}

static void mpsc_drop(corio_stream *base)
{
    release((corio_stream_mpsc *)base);
}

static const corio_stream_vtable mpsc_vt = {mpsc_poll, mpsc_drop};

void corio_stream_mpsc_init(corio_stream_mpsc *s, corio_mpsc_rx *rx)
{
    if (!s)
        return;
    if (!rx || corio_mpsc_msg_size(rx) > sizeof(corio_item)) {
        stream_invalid(&s->base);
        return;
    }
    corio_stream_init(&s->base, &mpsc_vt);
    corio_mpsc_recv_fut_init(&s->recv_, rx, &s->buf_);
    s->buf_.u = 0;
}
