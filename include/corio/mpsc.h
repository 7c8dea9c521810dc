/* corio/mpsc.h - multi-producer, single-consumer channels
 * (tokio::sync::mpsc).
 *
 * The workhorse channel: many tasks (or threads) send, one receives, in
 * FIFO order. Messages are msg_size bytes copied in and out (corio/chan.h:
 * by value, or a pointer whose ownership passes with the message).
 *
 * Bounded (corio_mpsc_new with a capacity): a send waits while the channel
 * holds `capacity` messages. That wait is the backpressure that keeps a
 * fast producer from burying a slow consumer. Unbounded
 * (corio_mpsc_new_unbounded): a send never waits; the queue grows (it
 * only fails with -ENOMEM).
 *
 * Fairness: senders waiting for room are served in the order they began
 * to wait; a new send does not overtake them. Each message freed by the
 * receiver is reserved for the longest waiting sender.
 *
 * Close: the channel closes when every sender has been released (the
 * receiver then receives what is left, then CORIO_ECLOSED), or when the
 * receiver closes it (corio_mpsc_rx_close: sends fail with CORIO_ECLOSED from
 * then on, also those waiting; what is inside can still be received) or is
 * released (what is inside goes to the drop function).
 *
 * Cancel safety: a receive interrupted (CORIO_ECANCELED, CORIO_ETIMEDOUT,
 * its future dropped by a timeout or a select) consumes no message: recv
 * is safe to race in a select loop. A send interrupted while waiting for
 * room has not sent its message (the caller still owns it), and the room
 * reserved for it, if any, goes to the next waiting sender.
 *
 * Threads: senders may be shared by any number of tasks and threads; the
 * receiver is used by one task or thread at a time. A waiting send or
 * receive suspends a coroutine task and blocks a plain thread (tokio's
 * blocking_send and blocking_recv, under the same names). Inside a stackless
 * task's poll function, poll the future forms instead.
 *
 * Memory: one allocation of 192 bytes per channel (the senders' and the
 * receiver's fields on cache lines of their own), plus the ring:
 * capacity rounded up to a power of two, times msg_size, rounded up to
 * whole 64-byte cache lines of its own (bounded: made once; unbounded:
 * grows by doubling, from 16 messages). A bounded ring of at most 64
 * bytes (8 pointer-sized messages) is the channel allocation's fourth
 * line: 256 bytes in all. A waiting sender
 * costs its future (80 bytes, on its own stack); a waiting receiver nothing
 * beyond its future.
 */
#ifndef CORIO_MPSC_H
#define CORIO_MPSC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "api.h"
#include "chan.h"
#include "future.h"
#include "waiter.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_mpsc_tx corio_mpsc_tx;
typedef struct corio_mpsc_rx corio_mpsc_rx;

/* The largest capacity of a bounded channel. */
#define CORIO_MPSC_CAPACITY_MAX ((size_t)1 << 30)

/* A bounded channel of messages of `msg_size` bytes (1..CORIO_CHAN_MSG_MAX)
 * holding at most `capacity` (1..CORIO_MPSC_CAPACITY_MAX). Returns 0 with
 * one sender and the receiver set, -EINVAL or -ENOMEM; on any failure both
 * handles are set to NULL (those of the pointers that are not NULL). */
CORIO_API int corio_mpsc_new(size_t msg_size, size_t capacity, corio_mpsc_tx **tx,
                             corio_mpsc_rx **rx);
/* An unbounded channel: sends never wait. */
CORIO_API int corio_mpsc_new_unbounded(size_t msg_size, corio_mpsc_tx **tx, corio_mpsc_rx **rx);
/* With options: msg_size, capacity (0: unbounded), and the drop function
 * for messages left inside when the channel is freed. NULL opts means the
 * defaults, a zeroed struct (docs/conventions.md), whose msg_size 0 is
 * -EINVAL. */
CORIO_API int corio_mpsc_new_with(const corio_chan_opts *opts, corio_mpsc_tx **tx,
                                  corio_mpsc_rx **rx);

/* Another sender for the same channel (the channel stays open while any
 * sender is held). Returns tx's channel as a new handle, to be released on
 * its own; NULL for NULL. Any thread. */
CORIO_API corio_mpsc_tx *corio_mpsc_tx_clone(corio_mpsc_tx *tx);
/* Give a sender back; the last one closes the channel for the receiver
 * (after what is inside). Does nothing for NULL. Any thread. */
CORIO_API void corio_mpsc_tx_release(corio_mpsc_tx *tx);
/* Whether the receiver is gone or has closed the channel. false for NULL. */
CORIO_API bool corio_mpsc_tx_is_closed(const corio_mpsc_tx *tx);

/* Send one message (msg_size bytes at `msg`), waiting for room in a full
 * bounded channel. Returns:
 *   0                sent: the receiver will get it;
 *   CORIO_ECLOSED    the receiver is gone or closed (before or while
 *                    waiting): not sent, the caller keeps the message;
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  the task is cancelled or its deadline
 *                    scope expired, when the call is made (even with room)
 *                    or while it waits: not sent;
 *   -ENOMEM          unbounded channel that cannot grow: not sent;
 *   -EINVAL          tx or msg NULL;
 *   CORIO_EWRONGCTX  a bounded send inside a stackless task's poll function
 *                    (poll a corio_mpsc_send_fut; or use try_send).
 * An unbounded send never waits, so it works in every context and is never
 * interrupted. */
CORIO_API int corio_mpsc_send(corio_mpsc_tx *tx, const void *msg);

/* Send if there is room now: 0, -EAGAIN (full, or senders are waiting
 * first), CORIO_ECLOSED, -ENOMEM, -EINVAL. Never waits; any context. */
CORIO_API int corio_mpsc_try_send(corio_mpsc_tx *tx, const void *msg);

/* Receive the oldest message into `out` (msg_size bytes), waiting while the
 * channel is empty. Returns:
 *   0                a message is in *out;
 *   CORIO_ECLOSED    empty, and every sender is released or the channel
 *                    was closed: nothing more will come;
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  interrupted: no message consumed;
 *   -EINVAL          rx or out NULL;
 *   CORIO_EWRONGCTX  in a stackless task's poll function;
 *   -ENOMEM          plain code whose thread parker cannot be allocated. */
CORIO_API int corio_mpsc_recv(corio_mpsc_rx *rx, void *out);

/* Receive up to `max` messages into `out` (an array of max * msg_size
 * bytes), waiting only while the channel is empty: returns how many (>= 1),
 * or recv's negative codes (-EINVAL also for max == 0). It has no future
 * form (docs/conventions.md, Deadlines): to race a batch, race a
 * corio_mpsc_recv_fut for the first message, then take the rest with
 * corio_mpsc_try_recv. */
CORIO_API ssize_t corio_mpsc_recv_many(corio_mpsc_rx *rx, void *out, size_t max);

/* Receive if a message is there: 0, -EAGAIN (empty), CORIO_ECLOSED (empty
 * and closed), -EINVAL. Never waits; any context. */
CORIO_API int corio_mpsc_try_recv(corio_mpsc_rx *rx, void *out);

/* Close from the receiving side: every send fails from now on (waiting
 * ones too, with CORIO_ECLOSED); messages inside can still be received.
 * Does nothing for NULL. */
CORIO_API void corio_mpsc_rx_close(corio_mpsc_rx *rx);

/* Give the receiver back: the channel closes, and messages inside go to
 * the drop function. Does nothing for NULL. */
CORIO_API void corio_mpsc_rx_release(corio_mpsc_rx *rx);

/* Messages inside right now (a snapshot). 0 for NULL. */
CORIO_API size_t corio_mpsc_len(const corio_mpsc_rx *rx);
/* The bound given at creation; 0 for an unbounded channel and for NULL. */
CORIO_API size_t corio_mpsc_capacity(const corio_mpsc_rx *rx);
/* The size of one message, given at creation; 0 for NULL. */
CORIO_API size_t corio_mpsc_msg_size(const corio_mpsc_rx *rx);

/* The send as a future: result 0, CORIO_ECLOSED, -ENOMEM or -EINVAL. `msg`
 * must stay valid until it completes or is dropped; dropped unfinished, it
 * sent nothing. 80 bytes.
 * Its only output is base.result (and what it writes through the pointers it
 * was given); its other fields are private. */
typedef struct corio_mpsc_send_fut {
    corio_future base;
    corio_mpsc_tx *tx;
    const void *msg;
    corio_waiter_ w_;
} corio_mpsc_send_fut;

/* Initialise (lazy). Does nothing for a NULL f; a NULL tx or msg makes the
 * future finish with -EINVAL. */
CORIO_API void corio_mpsc_send_fut_init(corio_mpsc_send_fut *f, corio_mpsc_tx *tx, const void *msg);

/* The receive as a future: result 0 (message in *out), CORIO_ECLOSED or
 * -EINVAL. Dropped unfinished, it consumed nothing.
 * Its only output is base.result (and what it writes through the pointers it
 * was given); its other fields are private. */
typedef struct corio_mpsc_recv_fut {
    corio_future base;
    corio_mpsc_rx *rx;
    void *out;
} corio_mpsc_recv_fut;

/* Initialise (lazy). Does nothing for a NULL f; a NULL rx or out makes the
 * future finish with -EINVAL. */
CORIO_API void corio_mpsc_recv_fut_init(corio_mpsc_recv_fut *f, corio_mpsc_rx *rx, void *out);

#ifdef __cplusplus
}
#endif
#endif
