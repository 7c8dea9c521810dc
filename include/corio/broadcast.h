/* corio/broadcast.h - a multi-producer, multi-consumer channel where every
 * receiver sees every message (tokio::sync::broadcast).
 *
 * The channel is a ring of `capacity` messages (rounded up to a power of
 * two, as tokio does). A send writes the next slot of the ring, overwriting
 * the oldest message when the ring is full, and never waits. Each receiver
 * keeps its own place in the ring and reads every message sent after it
 * subscribed, in order. A receiver that falls more than capacity messages
 * behind has lost the ones overwritten: its next receive skips to the
 * oldest message still kept, and says how many it skipped (the lag). Lag is
 * not an error: the receive returns 0 with that oldest message, and
 * `*lagged` (or the future's `lagged` field) holds the count skipped right
 * before it; the sum of all lags plus the messages received is the number
 * of messages sent since the receiver subscribed. A receiver that does not
 * care passes NULL for `lagged`.
 *
 * Handles: corio_broadcast_new gives one sender and one receiver. Senders
 * are cloned (corio_broadcast_tx_clone) and shared freely; more receivers
 * are made from a sender (corio_broadcast_subscribe) at any time, and see
 * only what is sent after. Each handle is given back exactly once with its
 * _release call; the channel is freed with the last handle of either kind.
 *
 * Messages (corio/chan.h): msg_size bytes copied in by send and out by each
 * receive. A successful send takes the message; a send that fails (no
 * receiver: CORIO_ECLOSED) did not, and the caller still owns it. The ring
 * holds each message until its slot is overwritten by a later send or the
 * channel is freed, and then passes it to the drop function (corio_chan_
 * opts), exactly once per message sent, whoever has read it. Receivers
 * being released changes nothing in the ring.
 *
 * Messages that own something (a pointer to a refcounted object): a receive
 * copies the bytes, and without more the ring's copy may be dropped (the
 * object freed) at any time after, by a send that overwrites it. Give the
 * channel a clone function (the `clone, clone_arg` pair of corio_chan_opts,
 * to corio_broadcast_new_with): it is called on each receiver's copy while
 * the channel guarantees that the message has not been dropped, and takes
 * the receiver's own reference (an atomic increment); the drop function
 * releases the ring's. Each receiver then owns what it received, as a
 * tokio receiver owns its clone. Both run on the thread that calls send or
 * receive, must be short and must not block or call into this channel: a
 * drop runs while other senders wait for the channel's send lock, a clone
 * while the next send to that slot waits. Plain values (integers, structs
 * without pointers) need neither.
 *
 * Close: when the last sender is released the channel closes. Receivers
 * still get every message kept for them; after that, receives return
 * CORIO_ECLOSED, and a waiting receive wakes with it. When no receiver is
 * left, send returns CORIO_ECLOSED (a later subscribe makes it work again).
 *
 * Fairness: there is nothing to be fair about: a send wakes every receiver
 * waiting, and each takes the message at its own pace.
 *
 * Cancel safety: a receive takes its message in the poll that completes.
 * A receive interrupted by cancellation or a deadline (CORIO_ECANCELED,
 * CORIO_ETIMEDOUT, its future dropped by corio_timeout or a select) has
 * consumed nothing: the next receive returns the same message, with the
 * same lag count. Send never waits.
 *
 * Threads: every function may be called from any thread. A sender may be
 * used by many tasks and threads at once; a receiver by one at a time.
 * corio_broadcast_recv suspends a coroutine task, or blocks a plain thread
 * (a thread that runs no task); in a stackless task's poll function, poll
 * a corio_broadcast_recv_fut instead.
 *
 * Memory: 192 bytes per channel, plus per slot 8 bytes and msg_size
 * rounded up to 8 (4 bytes more with a clone function), plus msg_size
 * bytes once with a drop function (where a message pushed out of the
 * ring waits for its drop), all allocated when the channel is made; 64
 * bytes per receiver; nothing per sender
 * clone; a waiting receive holds a 48-byte waiter inside its 88-byte
 * future (on the waiting coroutine's stack).
 *
 * Speed: a receive that finds its message reads the slot and writes only
 * its own receiver: no lock, no read-modify-write shared with other
 * receivers (a sequence number per slot tells it the slot holds the right
 * message and was not overwritten while it copied). A send takes a short
 * lock shared only with other senders, and touches the wait queue only
 * when some receiver waits.
 */
#ifndef CORIO_BROADCAST_H
#define CORIO_BROADCAST_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "chan.h"
#include "future.h"
#include "waiter.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_broadcast_tx corio_broadcast_tx;
typedef struct corio_broadcast_rx corio_broadcast_rx;

/* The largest capacity, after rounding up to a power of two. */
#define CORIO_BROADCAST_CAPACITY_MAX ((size_t)1 << 30)

/* Make a channel of messages of `msg_size` bytes holding `capacity` of them
 * (rounded up to a power of two), with no drop or clone function, and give
 * its first sender and receiver in *tx and *rx. Returns 0, -EINVAL (a NULL
 * out-parameter, msg_size 0 or above CORIO_CHAN_MSG_MAX, capacity 0 or
 * above CORIO_BROADCAST_CAPACITY_MAX) or -ENOMEM; on failure *tx and *rx
 * are set to NULL (those of the pointers that are not NULL). */
CORIO_API int corio_broadcast_new(size_t msg_size, size_t capacity, corio_broadcast_tx **tx,
                                  corio_broadcast_rx **rx);

/* The same from options: opts->msg_size, opts->capacity, the drop function
 * `drop, drop_arg` and the clone function `clone, clone_arg` (NULL:
 * receivers get plain copies). Returns as corio_broadcast_new. NULL opts
 * means the defaults, a zeroed struct (docs/conventions.md), whose
 * msg_size 0 is -EINVAL. */
CORIO_API int corio_broadcast_new_with(const corio_chan_opts *opts, corio_broadcast_tx **tx,
                                       corio_broadcast_rx **rx);

/* Send: copy msg_size bytes from `msg` into the ring, overwriting (and
 * dropping) the oldest message if it is full, and wake the receivers that
 * wait. Never waits; any thread. Returns:
 *   0                sent: the channel took the message, and every
 *                    receiver subscribed now will get it (or count it in
 *                    its lag);
 *   CORIO_ECLOSED    no receiver exists: the message was not taken, the
 *                    caller still owns it;
 *   -EINVAL          tx or msg is NULL.
 * The number of receivers is corio_broadcast_receiver_count's answer (a
 * snapshot), not send's. */
CORIO_API int corio_broadcast_send(corio_broadcast_tx *tx, const void *msg);

/* Receive the next message into `msg` (msg_size bytes), waiting while
 * there is none. *lagged (when `lagged` is not NULL) is set on every
 * return: the number of messages this receiver lost to overwriting just
 * before this one, 0 unless the call returns 0 after a lag. Returns:
 *   0                a message is in *msg (and it is consumed);
 *   CORIO_ECLOSED    every sender is gone and this receiver has read every
 *                    message kept for it;
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  the task was cancelled, or a deadline
 *                    scope expired, before or while waiting: nothing was
 *                    consumed (the future, if any, has been dropped);
 *   -EINVAL          rx or msg is NULL;
 *   CORIO_EWRONGCTX  inside a stackless task's poll function;
 *   -ENOMEM          plain code whose thread parker cannot be allocated.
 * *msg is unspecified unless 0 is returned. Any thread (one at a time per
 * receiver): suspends a coroutine task, blocks a plain thread. */
CORIO_API int corio_broadcast_recv(corio_broadcast_rx *rx, void *msg, uint64_t *lagged);

/* Receive without waiting: as corio_broadcast_recv, but -EAGAIN when no
 * message is there yet (and the channel is not closed). Returns 0,
 * -EAGAIN, CORIO_ECLOSED or -EINVAL; sets *lagged as recv does. Any
 * context, also a stackless task's poll function. */
CORIO_API int corio_broadcast_try_recv(corio_broadcast_rx *rx, void *msg, uint64_t *lagged);

/* A new receiver for the channel of `tx`, which will see the messages sent
 * after this call (none before). Returns 0 with it in *rx, -EINVAL (a NULL
 * argument) or -ENOMEM (on failure *rx is NULL). Any thread. */
CORIO_API int corio_broadcast_subscribe(corio_broadcast_tx *tx, corio_broadcast_rx **rx);

/* Another sender for the same channel, given back with its own
 * corio_broadcast_tx_release (it may be the same pointer: a sender is a
 * counted reference; never fails). NULL for NULL. */
CORIO_API corio_broadcast_tx *corio_broadcast_tx_clone(corio_broadcast_tx *tx);

/* Give back a sender. The last one closes the channel (waiting receivers
 * wake and drain what is left, then get CORIO_ECLOSED). Does nothing for
 * NULL. */
CORIO_API void corio_broadcast_tx_release(corio_broadcast_tx *tx);

/* Give back a receiver. It must have no receive in progress (its futures
 * finished or dropped). Does nothing for NULL. */
CORIO_API void corio_broadcast_rx_release(corio_broadcast_rx *rx);

/* How many receivers exist now (a snapshot). 0 for NULL. */
CORIO_API size_t corio_broadcast_receiver_count(const corio_broadcast_tx *tx);

/* How many messages `rx` has not read yet, at most the capacity (a
 * snapshot; a lag shows as the capacity). 0 for NULL. */
CORIO_API size_t corio_broadcast_len(const corio_broadcast_rx *rx);

/* The future form of corio_broadcast_recv, to race in a select or bound
 * with corio_timeout. Its result: 0 (the message is in *msg, the lag count
 * in `lagged`), CORIO_ECLOSED or -EINVAL. Dropped unfinished, it has
 * consumed nothing. 88 bytes. */
typedef struct corio_broadcast_recv_fut {
    corio_future base;
    corio_broadcast_rx *rx;
    void *msg;       /* where the message goes */
    uint64_t lagged; /* output: messages lost just before this one */
    corio_waiter_ w_;
} corio_broadcast_recv_fut;

/* Initialise `f` to receive from `rx` into `msg`. Does nothing for NULL f. */
CORIO_API void corio_broadcast_recv_fut_init(corio_broadcast_recv_fut *f, corio_broadcast_rx *rx,
                                             void *msg);

#ifdef __cplusplus
}
#endif
#endif
