/* corio/oneshot.h - a channel for exactly one message
 * (tokio::sync::oneshot).
 *
 * The usual way for a task to hand one result to another: a request
 * carries a oneshot sender, the worker sends the answer, the requester
 * awaits the receiver. corio_oneshot_new makes the pair; the message is
 * msg_size bytes copied in and out (corio/chan.h: by value, or a pointer
 * whose ownership passes with it).
 *
 * Close: releasing the sender without sending makes the receive return
 * CORIO_ECLOSED. Releasing (or closing) the receiver makes a later send
 * fail with CORIO_ECLOSED, and the sender keeps its message; a receive
 * after the close gets a message sent before it, else CORIO_ECLOSED at
 * once (tokio's Receiver::close). A message sent
 * but never received is handed to the drop function (corio_chan_opts) when
 * the last of the two handles goes.
 *
 * Fairness: one sender, one receiver, one message: nothing to order.
 *
 * Cancel safety: a receive interrupted (CORIO_ECANCELED, CORIO_ETIMEDOUT,
 * its future dropped by a timeout or a select) consumes nothing: the
 * message, if it arrives, waits for the next receive. Sending never waits.
 *
 * Threads: each handle is used by one task or thread at a time, but for
 * corio_oneshot_rx_close, which may be called from anywhere while a
 * receive waits (the receive then returns CORIO_ECLOSED, see there); the
 * two handles may be on different threads, runtimes, or plain threads.
 * Receiving
 * suspends a coroutine task, or blocks a plain thread. Sending never
 * waits, so it is also fine inside a poll function.
 *
 * Memory: one allocation per channel, 64 bytes + msg_size (rounded to 16).
 * No allocation per wait.
 */
#ifndef CORIO_ONESHOT_H
#define CORIO_ONESHOT_H

#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "chan.h"
#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_oneshot_tx corio_oneshot_tx;
typedef struct corio_oneshot_rx corio_oneshot_rx;

/* Make a channel for one message of `msg_size` bytes (1..CORIO_CHAN_MSG_MAX).
 * Returns 0 with both handles set, -EINVAL (a size out of range, NULL out
 * pointers) or -ENOMEM; on any failure both handles are set to NULL (those
 * of the pointers that are not NULL). */
CORIO_API int corio_oneshot_new(size_t msg_size, corio_oneshot_tx **tx, corio_oneshot_rx **rx);
/* The same with options: msg_size, and the drop function for a message
 * sent but never received (capacity is ignored). NULL opts means the
 * defaults, a zeroed struct (docs/conventions.md), whose msg_size 0 is
 * -EINVAL. */
CORIO_API int corio_oneshot_new_with(const corio_chan_opts *opts, corio_oneshot_tx **tx,
                                     corio_oneshot_rx **rx);

/* Send the message (msg_size bytes at `msg`) and give the sender back.
 * Returns 0 (the receiver owns the message now) or CORIO_ECLOSED (the
 * receiver is gone or closed: the message was not taken, the caller still
 * owns it; the sender is given back all the same). -EINVAL for a NULL tx
 * or msg: then nothing happens and tx stays the caller's. Never waits. */
CORIO_API int corio_oneshot_send(corio_oneshot_tx *tx, const void *msg);

/* Give the sender back without sending: the receiver gets CORIO_ECLOSED.
 * Does nothing for NULL. */
CORIO_API void corio_oneshot_tx_release(corio_oneshot_tx *tx);

/* Whether the receiver has been released or closed (a send would fail).
 * false for NULL. */
CORIO_API bool corio_oneshot_tx_is_closed(const corio_oneshot_tx *tx);

/* Wait for the message and copy it to `out` (msg_size bytes). Returns:
 *   0                received (a second receive returns CORIO_ECLOSED);
 *   CORIO_ECLOSED    nothing will come: the sender was released without
 *                    sending, or the receiver was closed before a send;
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  interrupted; nothing consumed;
 *   -EINVAL          rx or out NULL;
 *   CORIO_EWRONGCTX  inside a stackless task's poll function (poll a
 *                    corio_oneshot_recv_fut);
 *   -ENOMEM          plain code whose thread parker cannot be allocated.
 * The receiver stays the caller's: release it afterwards. */
CORIO_API int corio_oneshot_recv(corio_oneshot_rx *rx, void *out);

/* Take the message if it is there: 0, -EAGAIN (not yet), CORIO_ECLOSED
 * (nothing will come: sender released without sending, receiver closed,
 * or already received), -EINVAL. */
CORIO_API int corio_oneshot_try_recv(corio_oneshot_rx *rx, void *out);

/* Refuse the message from now on: a later send fails with CORIO_ECLOSED.
 * A message sent before can still be received; without one, receives
 * return CORIO_ECLOSED, a receive waiting meanwhile (from another thread,
 * or a future polled before) included. Does nothing for NULL. */
CORIO_API void corio_oneshot_rx_close(corio_oneshot_rx *rx);

/* Give the receiver back (a message sent and not received goes to the drop
 * function). Does nothing for NULL. */
CORIO_API void corio_oneshot_rx_release(corio_oneshot_rx *rx);

/* The receive as a future. Its result: 0 (the message is in `out`),
 * CORIO_ECLOSED or -EINVAL. Dropped unfinished, it consumes nothing.
 * Its only output is base.result (and what it writes through the pointers it
 * was given); its other fields are private. */
typedef struct corio_oneshot_recv_fut {
    corio_future base;
    corio_oneshot_rx *rx;
    void *out;
} corio_oneshot_recv_fut;

/* Initialise (lazy). Does nothing for a NULL f; a NULL rx or out makes the
 * future finish with -EINVAL. */
CORIO_API void corio_oneshot_recv_fut_init(corio_oneshot_recv_fut *f, corio_oneshot_rx *rx,
                                           void *out);

#ifdef __cplusplus
}
#endif
#endif
