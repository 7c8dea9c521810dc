/* corio/stream.h - streams: values that arrive over time, and the adapters
 * that build pipelines from them (futures' Stream and StreamExt,
 * tokio-stream's wrappers).
 *
 *   corio_stream_range r;  corio_stream_range_init(&r, 0, 1000);
 *   corio_stream_filter f; corio_stream_filter_init(&f, &r.base, is_odd, NULL);
 *   corio_stream_map m;    corio_stream_map_init(&m, &f.base, square, NULL);
 *   corio_item it;
 *   while (corio_stream_next(&m.base, &it) == 0)
 *       printf("%lld\n", (long long)it.i);
 *
 * THE MODEL. A stream is to an iterator what a future is to a function
 * call: a struct whose first member is a `corio_stream`, with a `poll_next`
 * that answers one of three things:
 *   CORIO_STREAM_ITEM     an item is in *out (the item is now the caller's);
 *   CORIO_STREAM_PENDING  none yet: the waker of the context has been
 *                         stored, and is woken when polling again may give
 *                         one (exactly the future contract of future.h);
 *   CORIO_STREAM_END      no item will ever come: base.result says why (0:
 *                         the stream ran out; negative: it failed, e.g. an
 *                         async map's future failed, or -ENOMEM).
 * Streams are lazy (nothing happens before the first poll_next), fused (an
 * ended stream answers END again, with the same result) and pinned once
 * polled (their memory must not move: on a coroutine's stack it does not).
 * Polled from a stackless future: call corio_stream_poll_next from the
 * future's poll. From a coroutine task: corio_stream_next(s, &item), an
 * await. In a select: the corio_stream_next_fut future.
 *
 * ITEMS are one 8-byte word, `corio_item`: an integer (u, i), a double (d)
 * or a pointer (p). A fixed word keeps every adapter free of sizes and
 * copies, makes a pipeline's hot path a register move, and covers both
 * cases that matter: numbers by value, anything else by pointer. Ownership
 * of what a pointer item points to travels with the item: an item belongs
 * to whoever received it last from a poll_next (the consumer, or the
 * adapter that pulled it, which passes it on, gives it to a user function,
 * or discards it). A stream that must discard items it owns (a filter's
 * rejects, the undelivered rest of an array, a chunk in progress when the
 * stream is dropped) gives each one to its item drop function
 * (corio_stream_set_item_drop; NULL, the default, discards silently: right
 * for numbers). Adapters that pass items through unchanged (filter, take,
 * merge, collect) copy their upstream's item drop when they are
 * initialised; map and then make new items and start with none. A
 * chunks_timeout's items are chunks: when its upstream has an item drop,
 * its own hands each item of a discarded chunk (one that a filter or a
 * take built on it throws away) to the upstream's drop, never the chunk
 * itself.
 *
 * ASYNC FUNCTIONS (then, buffer_unordered, for_each_concurrent). C has no
 * closures nor async blocks, so an "async function of an item" is a
 * corio_stream_async_fn: a plain function that *initialises a future* in a
 * slot of memory the adapter provides (slot_size bytes, given when the
 * adapter is built, aligned for any type), and returns it; the adapter
 * polls that future in place, with a waker of its own, and drops it if the
 * stream is dropped first. The future stores its output item in *out before
 * it completes with a result >= 0; a negative result fails the stream with
 * that code. Returning NULL instead says "done at once, *out is written":
 * an async function whose answer is often ready (a cache hit) pays for no
 * future at all. Why slots rather than one heap future per item: the slot
 * is allocated once per adapter (buffer_unordered: `limit` of them) and
 * reused, so an item costs no allocation; the future type is the user's
 * own, any size, with any state and drop; and it is the same shape as
 * every other corio future, so a sleep, a channel receive or a join future
 * can be embedded as is. Coroutine code that wants straight-line async code
 * per item writes it in the body of its corio_stream_next loop (that loop
 * is the async function), or spawns tasks: a poll function cannot suspend
 * a coroutine, so no adapter can call a coroutine function.
 *
 * OWNERSHIP OF STREAMS. An adapter owns its upstream from its
 * initialisation on (the upstream's storage stays the caller's and must
 * outlive the adapter): it polls it, and it drops it when the adapter is
 * dropped or ends early (take). So one corio_stream_drop on the last stage
 * releases a whole pipeline. A consumer future (fold, collect, for_each,
 * for_each_concurrent) owns its stream the same way. A stream that has
 * answered END has released everything it held (buffers, timers, its
 * upstream): as for a future that was ready, dropping it then does
 * nothing. Drop every stream abandoned before its end, exactly once;
 * dropping one twice, or one never initialised, is undefined (dropping an
 * ended one is fine).
 *
 * CANCEL SAFETY. Every stream keeps all of its progress in itself, never in
 * the next future that polls it: an interrupted corio_stream_next
 * (CORIO_ECANCELED, CORIO_ETIMEDOUT, its future dropped by a select or a
 * timeout) loses nothing; the item it was waiting for (an async map's
 * future in flight, a chunk being filled, a channel receive) is delivered
 * by the next call. What dropping a stream loses is per adapter, in the
 * table of docs/streams.md and at each adapter below.
 *
 * BACKPRESSURE. Every adapter pulls: it polls its upstream only when its
 * consumer asks for an item and it has room, so a slow consumer slows the
 * source, down to a bounded channel's senders (which then wait).
 * buffer_unordered and for_each_concurrent never have more than `limit`
 * futures in flight and hold no completed output beyond the one returned.
 *
 * THREADS. A stream is polled by one task at a time (it may move between
 * threads with its task, on the multi-thread runtime); its items' wakers may
 * be woken from any thread (a channel fed from other workers, futures
 * completed elsewhere). Nothing here blocks a thread.
 *
 * FAIRNESS. The consumer futures (fold, collect, for_each,
 * for_each_concurrent) handle at most CORIO_STREAM_BUDGET items per poll,
 * then wake their task and return PENDING, so a stream that is always ready
 * cannot keep the other tasks of a worker from running. A filter that
 * rejects CORIO_STREAM_BUDGET items in a row does the same (it wakes its
 * task and answers PENDING), so a long run of rejects cannot either.
 * corio_stream_next is an await, under corio_await's own budget.
 *
 * MEMORY. Every stream lives in the caller's storage; the size of each
 * struct is given at its type (x86-64). Heap memory, allocated at the first
 * poll and freed when the stream ends or is dropped: then, slot_size;
 * buffer_unordered and for_each_concurrent, about 64 + limit * (48 +
 * slot_size) bytes; chunks_timeout, 16 + 8 * max; collect, its result array.
 * Nothing is allocated per item.
 *
 * NULL (docs/conventions.md): initialisers do nothing for a NULL stream; an
 * adapter built on a NULL or zeroed upstream (or with bad arguments: a NULL
 * function) ends at its first poll with -EINVAL and leaves its upstream
 * alone (it never owned it). corio_stream_drop(NULL) does nothing.
 * corio_stream_poll_next is the hot-path helper and does not check.
 */
#ifndef CORIO_STREAM_H
#define CORIO_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "future.h"
#include "mpsc.h"
#include "time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- items and the stream interface ------------------------------------------ */

/* One item: 8 bytes. */
typedef union corio_item {
    uint64_t u;
    int64_t i;
    double d;
    void *p;
} corio_item;

typedef enum corio_stream_poll {
    CORIO_STREAM_PENDING = 0,
    CORIO_STREAM_ITEM = 1,
    CORIO_STREAM_END = 2,
} corio_stream_poll;

typedef struct corio_stream corio_stream;

typedef struct corio_stream_vtable {
    /* One step (see THE MODEL). On ITEM the item is in *out; on END the
     * reason is in self->result, and the stream has released everything. */
    corio_stream_poll (*poll_next)(corio_stream *self, corio_context *cx, corio_item *out);
    /* Release what an unfinished stream holds, its upstream included. May
     * be NULL when there is nothing to release. */
    void (*drop)(corio_stream *self);
} corio_stream_vtable;

/* What a stream calls for an item it owns and discards. */
typedef void (*corio_item_drop_fn)(corio_item item, void *arg);

/* 32 bytes. */
struct corio_stream {
    const corio_stream_vtable *vtable;
    corio_item_drop_fn item_drop; /* NULL: items are discarded silently */
    void *item_drop_arg;
    int result; /* once ended: 0 (ran out) or a negative code */
};

/* Initialise the header of a stream (for streams of your own). */
static inline void corio_stream_init(corio_stream *s, const corio_stream_vtable *vt)
{
    if (!s)
        return;
    s->vtable = vt;
    s->item_drop = NULL;
    s->item_drop_arg = NULL;
    s->result = 0;
}

/* Poll `s` once (from a poll function or an adapter). Hot path: s and out
 * must not be NULL, s must be initialised. */
static inline corio_stream_poll corio_stream_poll_next(corio_stream *s, corio_context *cx,
                                                       corio_item *out)
{
    return s->vtable->poll_next(s, cx, out);
}

/* Abandon a stream: release what it holds (its upstream too). Does
 * nothing for NULL, for a zeroed stream, or for one that has ended. */
CORIO_API void corio_stream_drop(corio_stream *s);

/* Set the function that receives the items `s` discards or still holds
 * when dropped (see ITEMS). Adapters built on `s` afterwards inherit it
 * when they pass its items through. Does nothing for NULL. */
CORIO_API void corio_stream_set_item_drop(corio_stream *s, corio_item_drop_fn fn, void *arg);

/* ---- taking items: next -------------------------------------------------------- */

/* The next item as a future, to race in a select or bound with a timeout.
 * base.result: 0 (the item is in *out), CORIO_ECLOSED (the stream ended:
 * ran out), the stream's own negative code (it failed), or -EINVAL (s or
 * out NULL, or a zeroed stream). Dropped unfinished, it loses nothing: the
 * stream keeps its progress. 32 bytes.
 * Its only output is base.result (and what it writes through the pointers it
 * was given); its other fields are private. */
typedef struct corio_stream_next_fut {
    corio_future base;
    corio_stream *s;
    corio_item *out;
} corio_stream_next_fut;

/* Does nothing for a NULL f. Lazy. */
CORIO_API void corio_stream_next_fut_init(corio_stream_next_fut *f, corio_stream *s,
                                          corio_item *out);

/* Inside a coroutine task: wait for the next item of `s`. Returns:
 *   0                an item is in *out (it is the caller's);
 *   CORIO_ECLOSED    the stream ended: nothing more will come (again at
 *                    every later call);
 *   < 0 other        the stream failed with that code (its result), or
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  interrupted (task cancelled,
 *                    deadline scope): nothing lost, the stream keeps what
 *                    it was doing and the next call delivers it;
 *   -EINVAL          s or out NULL, or a zeroed stream;
 *   CORIO_EWRONGCTX  not in a coroutine task (poll the stream instead).
 * So the usual loop is `while ((rc = corio_stream_next(s, &it)) == 0)`,
 * then `rc == CORIO_ECLOSED` for a normal end. The stream is not dropped
 * in any case: drop it unless it ended. */
CORIO_API int corio_stream_next(corio_stream *s, corio_item *out);

/* ---- sources --------------------------------------------------------------------- */

/* The items of an array, in order (futures' stream::iter). The array is
 * borrowed: it must outlive the stream; items are copied out, and pointer
 * items become the consumer's as they are delivered. Dropped early, the
 * undelivered ones go to the item drop (set it on this stream). 56 bytes. */
typedef struct corio_stream_iter {
    corio_stream base;
    const corio_item *items_;
    size_t n_, pos_;
} corio_stream_iter;

CORIO_API void corio_stream_iter_init(corio_stream_iter *s, const corio_item *items, size_t n);

/* The integers start, start+1, ..., end-1 as .i (empty when end <= start).
 * Holds nothing. 48 bytes. */
typedef struct corio_stream_range {
    corio_stream base;
    int64_t next_, end_;
} corio_stream_range;

CORIO_API void corio_stream_range_init(corio_stream_range *s, int64_t start, int64_t end);

/* The messages of an mpsc receiver (tokio-stream's ReceiverStream). The
 * channel's msg_size must be sizeof(corio_item) (8: a uint64_t, int64_t,
 * double or pointer); a smaller one is copied into the first bytes of a
 * zeroed item. The stream takes the receiver over: it ends (result 0) when
 * the channel is closed and empty, then releases the receiver; dropped, it
 * releases it (the channel closes; messages still inside go to the
 * channel's own drop function, corio_chan_opts). Cancel safety: a message
 * is taken from the channel only when it is delivered. Backpressure: a
 * bounded channel's senders wait while the consumer does not ask. The
 * senders may be on any thread. 72 bytes. */
typedef struct corio_stream_mpsc {
    corio_stream base;
    corio_mpsc_recv_fut recv_;
    corio_item buf_;
} corio_stream_mpsc;

/* A NULL rx, or one whose messages are larger than an item, makes a stream
 * that ends with -EINVAL (it does not take such a receiver over: the
 * caller still owns it). */
CORIO_API void corio_stream_mpsc_init(corio_stream_mpsc *s, corio_mpsc_rx *rx);

/* The ticks of an interval (tokio-stream's IntervalStream): an item per
 * tick, .u the instant the tick was due (corio_instant). Never ends (put a
 * take after it). The interval is in the stream (`iv`: set its missed-tick
 * policy there); dropping the stream disarms its timer. 120 bytes. */
typedef struct corio_stream_interval {
    corio_stream base;
    corio_interval iv;
} corio_stream_interval;

/* Ticks at now, now + period, ... (as corio_interval_init). */
CORIO_API void corio_stream_interval_init(corio_stream_interval *s, corio_duration period);

/* ---- adapters ---------------------------------------------------------------- */

/* Map each item through fn (StreamExt::map). fn gets the item (it is
 * fn's: a pointer item it does not pass on, it frees) and returns the new
 * one. Holds nothing but its upstream. 56 bytes. */
typedef corio_item (*corio_stream_map_fn)(corio_item item, void *arg);
typedef struct corio_stream_map {
    corio_stream base;
    corio_stream *up_;
    corio_stream_map_fn fn_;
    void *arg_;
} corio_stream_map;

CORIO_API void corio_stream_map_init(corio_stream_map *s, corio_stream *up, corio_stream_map_fn fn,
                                     void *arg);

/* Keep the items for which fn returns true (StreamExt::filter); the others
 * go to the filter's item drop (its upstream's, unless set). fn only looks
 * at the item. Holds nothing but its upstream. 56 bytes. */
typedef bool (*corio_stream_filter_fn)(corio_item item, void *arg);
typedef struct corio_stream_filter {
    corio_stream base;
    corio_stream *up_;
    corio_stream_filter_fn fn_;
    void *arg_;
} corio_stream_filter;

CORIO_API void corio_stream_filter_init(corio_stream_filter *s, corio_stream *up,
                                        corio_stream_filter_fn fn, void *arg);

/* An async function (see ASYNC FUNCTIONS): initialise in `slot` a future
 * that processes `item` (it is the function's, then the future's) and
 * stores the output item in *out before completing with result >= 0, and
 * return it; or write *out and return NULL when the answer is there at
 * once. Called from a poll function: it must not block or await. `slot`
 * and `out` stay at their addresses until the future completes or is
 * dropped. A future that completes with a negative result fails the stream
 * with that code. */
typedef corio_future *(*corio_stream_async_fn)(void *slot, corio_item item, corio_item *out,
                                               void *arg);

/* Map each item through an async function, one at a time, in order
 * (StreamExt::then). Memory: slot_size bytes allocated at the first item
 * (-ENOMEM ends the stream). Dropped, it drops the future in flight (its
 * item is lost, per that future's drop). 88 bytes. */
typedef struct corio_stream_then {
    corio_stream base;
    corio_stream *up_;
    corio_stream_async_fn fn_;
    void *arg_;
    size_t slot_size_;
    void *slot_;
    corio_future *fut_; /* in flight, or NULL */
    corio_item out_;
} corio_stream_then;

CORIO_API void corio_stream_then_init(corio_stream_then *s, corio_stream *up, size_t slot_size,
                                      corio_stream_async_fn fn, void *arg);

/* The first n items (StreamExt::take). After the n-th item is delivered it
 * drops its upstream at once (a receiver stream then closes its channel)
 * and ends at the next poll. 48 bytes. */
typedef struct corio_stream_take {
    corio_stream base;
    corio_stream *up_;
    uint64_t left_;
} corio_stream_take;

CORIO_API void corio_stream_take_init(corio_stream_take *s, corio_stream *up, uint64_t n);

/* The items of up to CORIO_STREAM_MERGE_MAX streams, as they come
 * (futures' select_all, tokio-stream's merge). Every poll polls the
 * streams not yet ended, starting with the one after the stream that gave
 * the last item (round robin: an always-ready stream cannot starve the
 * others). Ends (result 0) when all
 * have ended; when one fails, the merge fails with its code and drops the
 * others. The array is borrowed (it must outlive the merge); the streams
 * are owned. Holds nothing else. 64 bytes. */
#define CORIO_STREAM_MERGE_MAX 64
typedef struct corio_stream_merge {
    corio_stream base;
    corio_stream *const *ups_;
    size_t n_, start_;
    uint64_t live_; /* bit i: ups_[i] not ended */
} corio_stream_merge;

/* n == 0 or NULL entries: those are ended from the start; n above the max
 * or a zeroed entry: the merge ends with -EINVAL (dropping nothing). */
CORIO_API void corio_stream_merge_init(corio_stream_merge *s, corio_stream *const *streams, size_t n);

/* Map each item through an async function, up to `limit` at once,
 * delivering the outputs in the order they complete (StreamExt::map then
 * buffer_unordered). The upstream is polled only while fewer than `limit`
 * futures are in flight; each future is polled with a waker of its own, so
 * a wake costs O(1) whatever the limit. When the upstream ends, the futures
 * in flight are finished before the stream ends; when it fails, or a future
 * fails, the stream fails at once and drops the others. Dropped, it drops
 * every future in flight (their items are lost, per each future's drop).
 * Memory: one allocation at the first poll, about 64 + limit * (48 +
 * slot_size) bytes (a late wake of a finished future keeps it until it
 * drops its waker). limit 0 is taken as 1. 120 bytes. */
typedef struct corio_stream_buffer_unordered {
    corio_stream base;
    corio_stream *up_;
    corio_stream_async_fn fn_;
    void *arg_;
    size_t limit_, slot_size_, stride_, in_flight_;
    void *core_, *free_, *todo_;
    bool up_done_;
} corio_stream_buffer_unordered;

CORIO_API void corio_stream_buffer_unordered_init(corio_stream_buffer_unordered *s,
                                                  corio_stream *up, size_t limit, size_t slot_size,
                                                  corio_stream_async_fn fn, void *arg);

/* Chunks of up to `max` items (tokio-stream's chunks_timeout): a chunk is
 * delivered when it holds `max` items, or when `timeout` has passed since
 * its first item arrived (with what it has), or when the upstream ends
 * (the last, partial chunk). The item is .p, a `const corio_chunk *`
 * borrowed from the stream: valid until the next poll or drop of this
 * stream; the items in it are the consumer's. Never delivers an empty
 * chunk. Dropped, the items of the chunk being filled go to the item drop
 * (the upstream's unless set), and the timer is disarmed. Memory: 16 + 8 *
 * max bytes at the first poll. max 0 is taken as 1. 144 bytes. */
typedef struct corio_chunk {
    corio_item *items;
    size_t len;
} corio_chunk;

typedef struct corio_stream_chunks_timeout {
    corio_stream base;
    corio_stream *up_;
    size_t max_;
    corio_duration timeout_;
    corio_chunk chunk_;
    corio_sleep_fut timer_; /* armed while a chunk is being filled */
    bool up_done_;
} corio_stream_chunks_timeout;

CORIO_API void corio_stream_chunks_timeout_init(corio_stream_chunks_timeout *s, corio_stream *up,
                                                size_t max, corio_duration timeout);

/* ---- consuming: fold, collect, for_each, for_each_concurrent ------------------- */

/* Telling failures apart (docs/conventions.md, Results). A consumer
 * (corio_stream_next, fold, collect, for_each, for_each_concurrent)
 * returns, besides its own codes (-EINVAL, CORIO_EWRONGCTX, -ENOMEM, an
 * interruption), the failure of what it ran: the stream's - then the
 * stream ended and s->result holds that same code (the stream's memory is
 * the caller's, readable after it was dropped) - or the code of the
 * function or future it called (for_each's fn, for_each_concurrent's
 * futures) - then s->result is 0, since the stream did not end. An
 * interruption is told from fn returning the same code by
 * corio_task_is_cancelled(corio_task_current()), or by the return value of
 * the enclosing deadline scope (corio_timeout_call). */

/* Items a consumer future handles in one poll before it yields. */
#define CORIO_STREAM_BUDGET 128

/* Fold the items into an accumulator (StreamExt::fold): acc = fn(acc,
 * item) for each item; fn owns the item. base.result: 0 once the stream ran
 * out (the final value in `acc`), or the stream's negative code (acc as it
 * was). The future owns the stream: dropped unfinished, it drops it (acc
 * stays as it was; the caller frees what it may point to). 56 bytes. */
typedef corio_item (*corio_stream_fold_fn)(corio_item acc, corio_item item, void *arg);
typedef struct corio_stream_fold_fut {
    corio_future base;
    corio_item acc;
    corio_stream *s_;
    corio_stream_fold_fn fn_;
    void *arg_;
    bool done_;
} corio_stream_fold_fut;

CORIO_API void corio_stream_fold_fut_init(corio_stream_fold_fut *f, corio_stream *s, corio_item init,
                                          corio_stream_fold_fn fn, void *arg);

/* Await the fold: 0 (the value in *acc), the stream's negative code (*acc
 * as far as it got: the items before the failure are folded in), CORIO_ECANCELED or CORIO_ETIMEDOUT (interrupted: the stream
 * has been dropped, *acc as far as it got), -EINVAL (s, fn or acc NULL:
 * nothing touched), CORIO_EWRONGCTX (not in a coroutine task: nothing
 * touched). */
CORIO_API int corio_stream_fold(corio_stream *s, corio_item init, corio_stream_fold_fn fn,
                                void *arg, corio_item *acc);

/* Collect every item into a new array (StreamExt::collect). base.result:
 * 0 once the stream ran out, the stream's negative code, or -ENOMEM (the
 * array could not grow: the stream has been dropped). In every case the
 * caller owns `items` (free() it; NULL when len is 0) and the items in it.
 * Dropped unfinished, it drops the stream, and the items collected so far
 * go to the stream's item drop; the array is freed. 56 bytes. */
typedef struct corio_stream_collect_fut {
    corio_future base;
    corio_item *items;
    size_t len;
    size_t cap_;
    corio_stream *s_;
    bool done_;
} corio_stream_collect_fut;

CORIO_API void corio_stream_collect_fut_init(corio_stream_collect_fut *f, corio_stream *s);

/* Await the collect: the result as above, with the array in *items and its
 * length in *len (set in every case; NULL and 0 when interrupted);
 * CORIO_ECANCELED, CORIO_ETIMEDOUT (interrupted: the stream is dropped,
 * what was collected went to its item drop), -EINVAL, CORIO_EWRONGCTX
 * (nothing touched). */
CORIO_API int corio_stream_collect(corio_stream *s, corio_item **items, size_t *len);

/* Call fn for each item (StreamExt::for_each; fn owns the item). fn
 * returns 0 to go on, or a negative code to stop: the stream is then
 * dropped and the for_each completes with that code (try_for_each).
 * base.result: 0 once the stream ran out, fn's code, or the stream's. The
 * future owns the stream: dropped unfinished, it drops it. 48 bytes. */
typedef int (*corio_stream_item_fn)(corio_item item, void *arg);
typedef struct corio_stream_for_each_fut {
    corio_future base;
    corio_stream *s_;
    corio_stream_item_fn fn_;
    void *arg_;
    bool done_;
} corio_stream_for_each_fut;

CORIO_API void corio_stream_for_each_fut_init(corio_stream_for_each_fut *f, corio_stream *s,
                                              corio_stream_item_fn fn, void *arg);

/* Await the for_each: its result as above; CORIO_ECANCELED,
 * CORIO_ETIMEDOUT (interrupted: the stream has been dropped), -EINVAL (s or
 * fn NULL), CORIO_EWRONGCTX (nothing touched). */
CORIO_API int corio_stream_for_each(corio_stream *s, corio_stream_item_fn fn, void *arg);

/* Run an async function on every item, up to `limit` at once, inside the
 * calling task (StreamExt::for_each_concurrent): a buffer_unordered whose
 * outputs are thrown away (the futures' *out is scratch). The stream is
 * polled only while fewer than `limit` futures are in flight. base.result:
 * 0 once the stream ran out and every future finished; the first negative
 * result of a future, or the stream's code (the futures still in flight
 * are dropped then). Dropped unfinished: the stream and every future in
 * flight are dropped. Memory as buffer_unordered. 144 bytes. */
typedef struct corio_stream_for_each_concurrent_fut {
    corio_future base;
    corio_stream_buffer_unordered bu_;
    bool done_;
} corio_stream_for_each_concurrent_fut;

CORIO_API void corio_stream_for_each_concurrent_fut_init(corio_stream_for_each_concurrent_fut *f,
                                                         corio_stream *s, size_t limit,
                                                         size_t slot_size, corio_stream_async_fn fn,
                                                         void *arg);

/* Await it: its result as above; CORIO_ECANCELED, CORIO_ETIMEDOUT
 * (interrupted: stream and futures in flight dropped), -EINVAL (s or fn
 * NULL: nothing touched), CORIO_EWRONGCTX (nothing touched). */
CORIO_API int corio_stream_for_each_concurrent(corio_stream *s, size_t limit, size_t slot_size,
                                               corio_stream_async_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
