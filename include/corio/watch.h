/* corio/watch.h - a channel that holds one value, the latest sent, and
 * tells receivers when it changes (tokio::sync::watch).
 *
 * A watch channel is made with an initial value. Senders replace the value
 * (corio_watch_send); they never wait. Receivers read the current value
 * whenever they like (corio_watch_get) and wait for a newer one
 * (corio_watch_changed). Only the latest value is kept: a receiver that
 * is slow sees the newest, never a queue of the ones in between. Use it
 * for configuration, state, "the latest reading", a shutdown flag.
 *
 * Versions and "seen": every send makes a new version. Each receiver
 * remembers the version it has seen. A new receiver (from corio_watch_new,
 * corio_watch_subscribe or corio_watch_rx_clone) has seen the value that is
 * current when it is made, or whatever the receiver it was cloned from had
 * seen. corio_watch_changed waits until the current version is not the one
 * seen, then marks it seen; corio_watch_get_and_update copies the value and
 * marks it seen; corio_watch_get copies it and marks nothing (tokio's
 * borrow); corio_watch_has_changed asks without waiting.
 * corio_watch_mark_changed and corio_watch_mark_unchanged set the mark by
 * hand.
 *
 * Handles: corio_watch_new gives one sender and one receiver. Senders are
 * cloned (corio_watch_tx_clone) and shared; receivers are cloned
 * (corio_watch_rx_clone) or made from a sender (corio_watch_subscribe).
 * Each handle is given back once with its _release; the channel (and the
 * value in it) is freed with the last handle of either kind.
 *
 * Messages (corio/chan.h): the value is msg_size bytes, copied in by send
 * and out by the reads. corio_watch_send takes the value when it returns
 * 0; the value it replaced goes to the drop function (corio_chan_opts), and
 * so does the last value when the channel is freed: each value sent is
 * dropped exactly once, or handed back to the caller by
 * corio_watch_send_replace. A value that owns something (a pointer to a
 * refcounted object) needs a clone function too (the `clone, clone_arg`
 * pair of corio_chan_opts, to corio_watch_new_with): it is called on each
 * copy the reads make, before the channel's copy can be replaced, and
 * takes the reader's own reference; then the reader owns what it read. Both run with the channel's lock held, on the thread that
 * sends or reads: keep them short, never block or call into this channel.
 *
 * Close: when the last sender is released the channel is closed:
 * corio_watch_changed returns CORIO_ECLOSED (after reporting a last value
 * the receiver had not seen, if any), and a waiting one wakes with it. The
 * value stays readable with corio_watch_get. When no receiver is left,
 * corio_watch_send returns CORIO_ECLOSED and takes nothing
 * (corio_watch_send_replace still stores the value, for receivers
 * subscribed later).
 *
 * Fairness: a send wakes every waiting receiver at once; each then reads
 * the latest value (not every value: a watch keeps only the last).
 *
 * Cancel safety: corio_watch_changed marks the version seen only in the
 * poll that completes. Interrupted (CORIO_ECANCELED, CORIO_ETIMEDOUT, its
 * future dropped by corio_timeout or a select), it has marked nothing:
 * the next call reports the same change. Sends never wait.
 *
 * Threads: every function may be called from any thread. A sender may be
 * used by many tasks and threads at once; a receiver by one at a time.
 * corio_watch_changed suspends a coroutine task or blocks a plain thread;
 * a stackless task polls a corio_watch_changed_fut.
 *
 * Memory: one allocation per channel, 112 bytes plus msg_size; 64 bytes
 * per receiver; nothing per sender clone; a waiting changed holds a
 * 48-byte waiter inside its 72-byte future. Speed: has_changed and a
 * changed that finds a change read one atomic word (no lock); reads of the
 * value and sends take a spinlock for the copy.
 */
#ifndef CORIO_WATCH_H
#define CORIO_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "chan.h"
#include "future.h"
#include "waiter.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_watch_tx corio_watch_tx;
typedef struct corio_watch_rx corio_watch_rx;

/* Make a channel of values of `msg_size` bytes holding a copy of `initial`
 * (which it takes, as a send does), with no drop or clone function, and
 * give its first sender and receiver in *tx and *rx. The receiver has seen
 * the initial value. Returns 0, -EINVAL (a NULL argument, msg_size 0 or
 * above CORIO_CHAN_MSG_MAX) or -ENOMEM; on failure nothing is taken and
 * *tx, *rx are set to NULL (those of the pointers that are not NULL). */
CORIO_API int corio_watch_new(size_t msg_size, const void *initial, corio_watch_tx **tx,
                              corio_watch_rx **rx);

/* The same from options: opts->msg_size, the drop function `drop,
 * drop_arg` and the clone function `clone, clone_arg` (NULL: reads are
 * plain copies); capacity is unused. Returns as corio_watch_new. NULL opts
 * means the defaults, a zeroed struct (docs/conventions.md), whose
 * msg_size 0 is -EINVAL. */
CORIO_API int corio_watch_new_with(const corio_chan_opts *opts, const void *initial,
                                   corio_watch_tx **tx, corio_watch_rx **rx);

/* Replace the value by a copy of msg_size bytes at `msg` (dropping the old
 * one) and wake the receivers waiting in corio_watch_changed. Never waits;
 * any thread. Returns 0 (taken), CORIO_ECLOSED (no receiver exists: not
 * taken, nothing changed) or -EINVAL (NULL tx or msg). */
CORIO_API int corio_watch_send(corio_watch_tx *tx, const void *msg);

/* Replace the value whether or not a receiver exists, and copy the value
 * it replaced into `old` (msg_size bytes: the caller owns it now, it is
 * not dropped), or drop it when `old` is NULL. Wakes the waiting
 * receivers. Returns 0 or -EINVAL (NULL tx or msg). Never waits. */
CORIO_API int corio_watch_send_replace(corio_watch_tx *tx, const void *msg, void *old);

/* Copy the current value into `out` (msg_size bytes, through the clone
 * function if there is one); marks nothing seen. Returns 0 or -EINVAL
 * (NULL rx or out); works after the close too. Never waits; any thread. */
CORIO_API int corio_watch_get(corio_watch_rx *rx, void *out);

/* The same, and mark the value copied as seen. 0 or -EINVAL. */
CORIO_API int corio_watch_get_and_update(corio_watch_rx *rx, void *out);

/* Copy the current value from the sender's side (as corio_watch_get).
 * 0 or -EINVAL. */
CORIO_API int corio_watch_tx_get(corio_watch_tx *tx, void *out);

/* Whether the current value is newer than the one `rx` has seen, in
 * *changed, without waiting or marking anything. Returns 0, CORIO_ECLOSED
 * (every sender is gone; *changed is still set) or -EINVAL (NULL rx or
 * changed). */
CORIO_API int corio_watch_has_changed(const corio_watch_rx *rx, bool *changed);

/* Mark the current value seen (has_changed says false, changed waits for
 * the next send). Does nothing for NULL. */
CORIO_API void corio_watch_mark_unchanged(corio_watch_rx *rx);

/* Mark the value as not seen (has_changed says true, changed returns at
 * once). Does nothing for NULL. */
CORIO_API void corio_watch_mark_changed(corio_watch_rx *rx);

/* Wait until the current value is newer than the one `rx` has seen (at
 * once if it already is), then mark it seen; read it with corio_watch_get.
 * Returns:
 *   0                there is a value `rx` had not seen (now marked seen);
 *   CORIO_ECLOSED    every sender is gone and `rx` has seen the last value;
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  the task was cancelled, or a deadline
 *                    scope expired, before or while waiting: nothing is
 *                    marked (the future, if any, has been dropped);
 *   -EINVAL          rx is NULL;
 *   CORIO_EWRONGCTX  inside a stackless task's poll function;
 *   -ENOMEM          plain code whose thread parker cannot be allocated.
 * Any thread, one at a time per receiver: suspends a coroutine task,
 * blocks a plain thread. */
CORIO_API int corio_watch_changed(corio_watch_rx *rx);

/* A new receiver of the channel of `tx` that has seen the current value.
 * Returns 0 with it in *rx, -EINVAL (a NULL argument) or -ENOMEM (on failure
 * *rx is NULL). */
CORIO_API int corio_watch_subscribe(corio_watch_tx *tx, corio_watch_rx **rx);

/* A new receiver that has seen what `rx` has seen. 0 with it in *out,
 * -EINVAL or -ENOMEM (on failure *out is NULL). */
CORIO_API int corio_watch_rx_clone(const corio_watch_rx *rx, corio_watch_rx **out);

/* Another sender (a counted reference: it may be the same pointer; never
 * fails), given back with its own corio_watch_tx_release. NULL for NULL. */
CORIO_API corio_watch_tx *corio_watch_tx_clone(corio_watch_tx *tx);

/* Give back a sender; the last one closes the channel (waiting receivers
 * wake with CORIO_ECLOSED). Does nothing for NULL. */
CORIO_API void corio_watch_tx_release(corio_watch_tx *tx);

/* Give back a receiver, which must have no changed in progress. Does
 * nothing for NULL. */
CORIO_API void corio_watch_rx_release(corio_watch_rx *rx);

/* How many receivers exist now (a snapshot). 0 for NULL. */
CORIO_API size_t corio_watch_receiver_count(const corio_watch_tx *tx);

/* The future form of corio_watch_changed, to race in a select or bound
 * with corio_timeout. Its result: 0 (a change, now marked seen),
 * CORIO_ECLOSED or -EINVAL. Dropped unfinished, it has marked nothing.
 * 72 bytes.
 * Its only output is base.result (and what it writes through the pointers it
 * was given); its other fields are private. */
typedef struct corio_watch_changed_fut {
    corio_future base;
    corio_watch_rx *rx;
    corio_waiter_ w_;
} corio_watch_changed_fut;

/* Initialise (lazy). Does nothing for a NULL f; a NULL rx makes the future
 * finish with -EINVAL. */
CORIO_API void corio_watch_changed_fut_init(corio_watch_changed_fut *f, corio_watch_rx *rx);

#ifdef __cplusplus
}
#endif
#endif
