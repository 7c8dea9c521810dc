/* sync/mpsc.c - multi-producer, single-consumer channels (corio/mpsc.h).
 *
 * A ring of msg_size-byte slots, positions head (next to receive) and
 * tail (next to send) counting up forever, masked into the ring.
 *
 * The senders' side is one spinlock, the sender queue's: a send takes it
 * for a copy and a few stores. The receiver of a bounded channel takes no
 * lock to receive: it reads `tail` (acquire), copies the messages below
 * it, and publishes its new `head`. On one core this costs the same as a
 * lock; across cores it keeps the lock's line with the senders and moves
 * only the lines of the messages and of the two positions, each written by
 * one side. The ring of an unbounded channel may be reallocated by a
 * growing sender, so its receiver takes the lock.
 *
 * Invariants:
 *  - tail is written only under the lock; head only by the receiver (for
 *    an unbounded channel, under the lock too). count = tail - head; for a
 *    bounded channel count + reserved <= cap.
 *  - Bounded: when the lock is dropped, either no sender waits or there is
 *    no room: grant_locked restores it after every change that makes room.
 *    The receiver makes room without the lock, so a sender that queues and
 *    a receiver that frees a slot meet in a Dekker handshake: the sender
 *    counts itself in tx_waiting (a seq_cst read-modify-write), then reads
 *    head (seq_cst); the receiver exchanges head (seq_cst), then reads
 *    tx_waiting (seq_cst) and, if anyone waits, takes the lock to grant.
 *    One of the two sees the other. A granted sender (W_GRANTED) owns one
 *    unit of `reserved` until it writes its message or its drop gives the
 *    unit to the next waiter.
 *  - rx_waiting (under the lock): the receiver has a pending recv whose
 *    waker is rx_waker; it set it after finding tail == head under the
 *    lock, so the next send, which publishes tail under the lock, sees it,
 *    moves the waker out and wakes it after the unlock.
 *  - After `closed` nothing is written to the ring, and the ring is never
 *    reallocated (a grow that dropped the lock gives up): the receiver
 *    may drain it without the lock.
 *  - The channel is freed by whoever makes senders == 0 and !rx_alive.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"
#include "corio/mpsc.h"
#include "sync/chan.h"
#include "sync/waitq.h"

#define CACHE_LINE 64

typedef struct mpsc {
    /* Read-mostly. */
    unsigned char *buf; /* a bounded channel's never changes */
    size_t mask;        /* ring slots - 1 */
    size_t cap;         /* the bound; 0: unbounded */
    size_t msg_size;
    corio_msg_drop_fn drop;
    void *drop_arg;
    /* The senders' line: under the lock. */
    _Alignas(CACHE_LINE) corio_waitq_ txq; /* senders waiting for room; its lock */
    size_t tail;      /* atomic: written under the lock, read by the receiver */
    size_t head_seen; /* the last head the senders read: head_seen <= head */
    size_t reserved;  /* room granted to waiting senders */
    size_t senders;
    bool rx_alive, closed, rx_waiting;
    /* The receiver's line. */
    _Alignas(CACHE_LINE) size_t head; /* atomic: written by the receiver */
    size_t tail_seen;                 /* the receiver's: the last tail it read */
    /* Atomic: senders queued in txq. Written only when a sender queues or
     * is taken off, read by every bounded receive (rx_grant): here, not on
     * the senders' line, so that a receive does not pull that line from a
     * sender on another core each time (their handshake, see the top, is
     * the same wherever it lives). */
    unsigned tx_waiting;
    /* Under the lock (with rx_waiting), but here: the senders' line is
     * full, and a receiver that registers it has just read head and
     * tail_seen, on this line; a sender that takes it to wake the receiver
     * has (with a ring of one message) just read head here to find room.
     * On a line of its own it cost each of them one more cache miss
     * (ping_pong, 1,000 pairs: the channels do not fit in L1). */
    corio_waker rx_waker;
} mpsc;

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(mpsc) == 192, "mpsc changed size (corio/mpsc.h gives its size)");
#endif

#define UNBOUNDED_FIRST 16

static inline mpsc *of_tx(const corio_mpsc_tx *tx)
{
    return (mpsc *)tx;
}
static inline mpsc *of_rx(const corio_mpsc_rx *rx)
{
    return (mpsc *)rx;
}

static inline void *slot(const mpsc *c, size_t pos)
{
    return c->buf + (pos & c->mask) * c->msg_size;
}

/* The common u64/pointer message gets an inlined copy. */
static inline void copy_msg(void *dst, const void *src, size_t n)
{
    if (n == 8)
        memcpy(dst, src, 8);
    else
        memcpy(dst, src, n);
}

/* The ring, in whole cache lines of its own: written by the senders and
 * read by the receiver, it must not share a line with another channel's
 * ring (a small one, from a plain malloc, would: ping_pong's rings of one
 * message sat 32 bytes apart). */
static unsigned char *ring_alloc(size_t bytes)
{
    void *m;
    size_t rounded = (bytes + CACHE_LINE - 1) & ~(size_t)(CACHE_LINE - 1);
    if (rounded < bytes || posix_memalign(&m, CACHE_LINE, rounded) != 0)
        return NULL;
    return m;
}

/* A small bounded ring is the allocation's fourth line: one allocation
 * instead of two, and next to the receiver's line, so that the L2's fetch
 * of line pairs brings both (ping_pong, 1,000 pairs: +4%). Told by the
 * sizes alone, at creation and at destruction (not by the address: an
 * allocator without chunk headers may place a separate ring right after
 * the channel). */
static inline bool ring_is_inline(size_t cap, size_t slots, size_t msg_size)
{
    return cap && msg_size <= CACHE_LINE / slots;
}

static size_t ring_size_for(size_t n)
{
    size_t r = 1;
    while (r < n)
        r <<= 1;
    return r;
}

int corio_mpsc_new_with(const corio_chan_opts *opts, corio_mpsc_tx **tx, corio_mpsc_rx **rx)
{
    CHAN_NEW_BEGIN(opts, tx, rx);
    if (opts->capacity > CORIO_MPSC_CAPACITY_MAX)
        return -EINVAL;
    mpsc *c;
    size_t ring = ring_size_for(opts->capacity ? opts->capacity : UNBOUNDED_FIRST);
    bool inline_ring = ring_is_inline(opts->capacity, ring, opts->msg_size);
    if (ring > SIZE_MAX / opts->msg_size)
        return -ENOMEM; /* (32-bit: a ring larger than the address space) */
    if (posix_memalign((void **)&c, CACHE_LINE, sizeof *c + (inline_ring ? CACHE_LINE : 0)) != 0)
        return -ENOMEM;
    memset(c, 0, sizeof *c);
    c->buf = inline_ring ? (unsigned char *)(c + 1) : ring_alloc(ring * opts->msg_size);
    if (!c->buf) {
        free(c);
        return -ENOMEM;
    }
    c->txq = (corio_waitq_)CORIO_WAITQ_INIT_;
    c->mask = ring - 1;
    c->cap = opts->capacity;
    c->senders = 1;
    c->rx_alive = true;
    c->rx_waker = CORIO_WAKER_NONE;
    c->msg_size = opts->msg_size;
    c->drop = opts->drop;
    c->drop_arg = opts->drop_arg;
    *tx = (corio_mpsc_tx *)c;
    *rx = (corio_mpsc_rx *)c;
    return 0;
}

int corio_mpsc_new(size_t msg_size, size_t capacity, corio_mpsc_tx **tx, corio_mpsc_rx **rx)
{
    if (capacity == 0) {
        if (tx)
            *tx = NULL;
        if (rx)
            *rx = NULL;
        return -EINVAL;
    }
    corio_chan_opts opts = {.msg_size = msg_size, .capacity = capacity};
    return corio_mpsc_new_with(&opts, tx, rx);
}

int corio_mpsc_new_unbounded(size_t msg_size, corio_mpsc_tx **tx, corio_mpsc_rx **rx)
{
    corio_chan_opts opts = {.msg_size = msg_size, .capacity = 0};
    return corio_mpsc_new_with(&opts, tx, rx);
}

/* Hand what is left to the drop function, then free. No lock: nobody else
 * holds the channel any more. */
static void mpsc_destroy(mpsc *c)
{
    for (size_t p = c->head; p != c->tail; p++)
        if (c->drop)
            c->drop(slot(c, p), c->drop_arg);
    corio_waker_drop(&c->rx_waker);
    if (!ring_is_inline(c->cap, c->mask + 1, c->msg_size))
        free(c->buf);
    free(c);
}

/* ---- under the lock ------------------------------------------------------- */

static inline void push_locked(mpsc *c, const void *msg, corio_waker *rxw)
{
    copy_msg(slot(c, c->tail), msg, c->msg_size);
    /* Release: the message is written before the receiver sees it. */
    __atomic_store_n(&c->tail, c->tail + 1, __ATOMIC_RELEASE);
    if (c->rx_waiting) {
        c->rx_waiting = false;
        *rxw = c->rx_waker;
        c->rx_waker = CORIO_WAKER_NONE;
    }
}

/* Room for one more (bounded)? The cached head first; only when it says
 * full, the receiver's (seq_cst: the second half of a queuing sender's
 * handshake, see the top). */
static inline bool has_room_locked(mpsc *c)
{
    if (c->tail - c->head_seen + c->reserved < c->cap)
        return true;
    c->head_seen = __atomic_load_n(&c->head, __ATOMIC_SEQ_CST);
    return c->tail - c->head_seen + c->reserved < c->cap;
}

/* Grant room to waiting senders while there is some (bounded). Drops and
 * retakes the lock to wake when the list fills. */
static void grant_locked(mpsc *c, wake_list *l)
{
    while (c->txq.head_ && has_room_locked(c)) {
        if (wake_list_full(l)) {
            waitq_unlock(&c->txq);
            wake_list_wake(l);
            waitq_lock(&c->txq);
            continue;
        }
        c->reserved++;
        __atomic_fetch_sub(&c->tx_waiting, 1, __ATOMIC_RELAXED);
        waitq_take(&c->txq, c->txq.head_, W_GRANTED, l);
    }
}

/* Unbounded: make room for one more, dropping the lock to allocate (its
 * receiver moves head only under the lock, so head is stable here). */
static int grow_locked(mpsc *c)
{
    while (c->tail - __atomic_load_n(&c->head, __ATOMIC_RELAXED) > c->mask) {
        size_t old = c->mask + 1;
        if (old > SIZE_MAX / 2 / c->msg_size)
            return -ENOMEM;
        waitq_unlock(&c->txq);
        unsigned char *nb = ring_alloc(old * 2 * c->msg_size);
        waitq_lock(&c->txq);
        if (!nb)
            return -ENOMEM;
        if (c->closed) {
            free(nb); /* the receiver may be draining the ring unlocked */
            return 0;
        }
        size_t head = __atomic_load_n(&c->head, __ATOMIC_RELAXED);
        if (c->mask + 1 != old || c->tail - head <= c->mask) {
            free(nb); /* someone else grew it meanwhile */
            continue;
        }
        /* Unwrap into the new ring, keeping positions. */
        size_t nmask = old * 2 - 1;
        for (size_t p = head; p != c->tail; p++)
            memcpy(nb + (p & nmask) * c->msg_size, slot(c, p), c->msg_size);
        free(c->buf);
        c->buf = nb;
        c->mask = nmask;
    }
    return 0;
}

/* How many messages the receiver can take now, from *h (the head, read
 * here): tail_seen is read afresh only once the receiver has used it up. */
static inline size_t rx_count(mpsc *c, size_t *h)
{
    *h = __atomic_load_n(&c->head, __ATOMIC_RELAXED); /* only we write it */
    size_t count = c->tail_seen - *h;
    if (count == 0) {
        /* Acquire: pairs with push_locked's release; the messages below
         * the tail are whole. */
        c->tail_seen = __atomic_load_n(&c->tail, __ATOMIC_ACQUIRE);
        count = c->tail_seen - *h;
    }
    return count;
}

/* The receiver: take up to max messages below the tail it has seen (read
 * afresh when it has used that up): how many, or -EAGAIN. No lock for a
 * bounded channel; the caller holds it for an unbounded one. */
static inline ssize_t rx_take(mpsc *c, void *out, size_t max)
{
    size_t h;
    size_t count = rx_count(c, &h);
    if (count == 0)
        return -EAGAIN;
    size_t n = count < max ? count : max;
    if (n == 1) {
        copy_msg(out, slot(c, h), c->msg_size);
    } else {
        size_t first = (c->mask + 1) - (h & c->mask); /* up to the ring's end */
        if (first > n)
            first = n;
        memcpy(out, slot(c, h), first * c->msg_size);
        if (n > first)
            memcpy((unsigned char *)out + first * c->msg_size, c->buf, (n - first) * c->msg_size);
    }
    /* A seq_cst exchange, not a store: the first half of the handshake
     * with a sender that queues for room (see the top); it also releases
     * the slots just read to the senders. */
    __atomic_exchange_n(&c->head, h + n, __ATOMIC_SEQ_CST);
    return (ssize_t)n;
}

/* After a bounded receive made room: grant it to waiting senders. */
static void rx_grant(mpsc *c)
{
    if (!__atomic_load_n(&c->tx_waiting, __ATOMIC_SEQ_CST))
        return;
    wake_list l;
    wake_list_init(&l);
    waitq_lock(&c->txq);
    grant_locked(c, &l);
    waitq_unlock(&c->txq);
    wake_list_wake(&l);
}

/* Take up to max messages, the lock only where it must be taken: how many,
 * -EAGAIN (empty, senders left) or CORIO_ECLOSED (empty for good). With
 * `wk`, an empty channel registers it for the next send. */
static ssize_t take_or_register(mpsc *c, void *out, size_t max, const corio_waker *wk)
{
    ssize_t n;
    if (c->cap) {
        n = rx_take(c, out, max);
        if (n > 0) {
            rx_grant(c);
            return n;
        }
    }
    waitq_lock(&c->txq);
    n = rx_take(c, out, max); /* the tail read under the lock is the last */
    if (n == -EAGAIN) {
        if (c->senders == 0 || c->closed) {
            n = CORIO_ECLOSED;
        } else if (wk) {
            corio_waker_store(&c->rx_waker, wk);
            c->rx_waiting = true;
        }
    }
    waitq_unlock(&c->txq);
    if (n > 0 && c->cap)
        rx_grant(c);
    return n;
}

/* ---- senders -------------------------------------------------------------- */

corio_mpsc_tx *corio_mpsc_tx_clone(corio_mpsc_tx *tx)
{
    mpsc *c = of_tx(tx);
    if (!c)
        return NULL;
    waitq_lock(&c->txq);
    c->senders++;
    waitq_unlock(&c->txq);
    return tx;
}

void corio_mpsc_tx_release(corio_mpsc_tx *tx)
{
    mpsc *c = of_tx(tx);
    if (!c)
        return;
    corio_waker w = CORIO_WAKER_NONE;
    waitq_lock(&c->txq);
    bool last = --c->senders == 0;
    if (last && c->rx_waiting) { /* it will find the channel closed */
        c->rx_waiting = false;
        w = c->rx_waker;
        c->rx_waker = CORIO_WAKER_NONE;
    }
    bool free_it = last && !c->rx_alive;
    waitq_unlock(&c->txq);
    corio_waker_wake(&w);
    if (free_it)
        mpsc_destroy(c);
}

bool corio_mpsc_tx_is_closed(const corio_mpsc_tx *tx)
{
    mpsc *c = of_tx(tx);
    if (!c)
        return false;
    waitq_lock(&c->txq);
    bool closed = c->closed;
    waitq_unlock(&c->txq);
    return closed;
}

/* Send without waiting: 0, -EAGAIN (no room, or others wait first),
 * CORIO_ECLOSED, -ENOMEM. */
static inline int try_send(mpsc *c, const void *msg)
{
    corio_waker w = CORIO_WAKER_NONE;
    int rc = 0;
    waitq_lock(&c->txq);
    if (c->cap == 0 && !c->closed)
        rc = grow_locked(c); /* may drop the lock: closed is checked after */
    if (rc == 0) {
        if (c->closed)
            rc = CORIO_ECLOSED;
        else if (c->cap && (c->txq.head_ || !has_room_locked(c)))
            rc = -EAGAIN;
        else
            push_locked(c, msg, &w);
    }
    waitq_unlock(&c->txq);
    corio_waker_wake(&w);
    return rc;
}

SYNC_COPY_ENTRY int corio_mpsc_try_send(corio_mpsc_tx *tx, const void *msg)
{
    mpsc *c = of_tx(tx);
    if (!c || !msg)
        return -EINVAL;
    return try_send(c, msg);
}

SYNC_COPY_ENTRY static corio_poll send_poll(corio_future *base, corio_context *cx)
{
    corio_mpsc_send_fut *f = (corio_mpsc_send_fut *)base;
    mpsc *c = of_tx(f->tx);
    corio_waker w = CORIO_WAKER_NONE;
    switch (waiter_state(&f->w_)) {
    case W_GRANTED:
        f->w_.state_ = W_IDLE;
        waitq_lock(&c->txq);
        c->reserved--;
        if (c->closed) {
            base->result = CORIO_ECLOSED;
        } else {
            push_locked(c, f->msg, &w);
            base->result = 0;
        }
        waitq_unlock(&c->txq);
        corio_waker_wake(&w);
        return CORIO_READY;
    case W_CLOSED:
        f->w_.state_ = W_IDLE;
        base->result = CORIO_ECLOSED;
        return CORIO_READY;
    case W_QUEUED:
        waitq_lock(&c->txq);
        if (waiter_state(&f->w_) == W_QUEUED) {
            waitq_update_waker(&f->w_, corio_context_waker(cx));
            waitq_unlock(&c->txq);
            return CORIO_PENDING;
        }
        waitq_unlock(&c->txq);
        return send_poll(base, cx);
    default:
        break;
    }
    if (!c || !f->msg) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    if (c->cap == 0) {
        base->result = try_send(c, f->msg); /* unbounded: never waits */
        return CORIO_READY;
    }
    /* try_send's test and, failing it, the queueing, under one lock: a
     * send that waits (corio_mpsc_send has just failed its try_send) takes
     * the lock once here, not twice. */
    int rc;
    waitq_lock(&c->txq);
    if (c->closed) {
        rc = CORIO_ECLOSED;
    } else if (!c->txq.head_ && has_room_locked(c)) {
        push_locked(c, f->msg, &w);
        rc = 0;
    } else {
        waitq_push(&c->txq, &f->w_, corio_context_waker(cx), false);
        /* Seq_cst: the sender's half of the handshake with a receiver
         * that makes room without the lock (see the top): count ourselves,
         * then look at head again (grant_locked, through has_room_locked),
         * granting in order whatever room there is by now. */
        __atomic_fetch_add(&c->tx_waiting, 1, __ATOMIC_SEQ_CST);
        wake_list l;
        wake_list_init(&l);
        grant_locked(c, &l);
        waitq_unlock(&c->txq);
        wake_list_wake(&l); /* may hold our own waker: a spare wake, harmless */
        if (waiter_state(&f->w_) == W_GRANTED)
            return send_poll(base, cx);
        return CORIO_PENDING;
    }
    waitq_unlock(&c->txq);
    corio_waker_wake(&w);
    base->result = rc;
    return CORIO_READY;
}

static void send_drop(corio_future *base)
{
    corio_mpsc_send_fut *f = (corio_mpsc_send_fut *)base;
    mpsc *c = of_tx(f->tx);
    unsigned st = waiter_state(&f->w_);
    if (st != W_QUEUED && st != W_GRANTED) {
        f->w_.state_ = W_IDLE;
        return;
    }
    wake_list l;
    wake_list_init(&l);
    waitq_lock(&c->txq);
    st = waiter_state(&f->w_);
    if (st == W_QUEUED) {
        waitq_remove(&c->txq, &f->w_);
        __atomic_fetch_sub(&c->tx_waiting, 1, __ATOMIC_RELAXED);
    } else if (st == W_GRANTED) {
        c->reserved--; /* the room goes to the next waiter */
        grant_locked(c, &l);
    }
    f->w_.state_ = W_IDLE;
    waitq_unlock(&c->txq);
    wake_list_wake(&l);
}

static const corio_future_vtable send_vtable = {send_poll, send_drop};

void corio_mpsc_send_fut_init(corio_mpsc_send_fut *f, corio_mpsc_tx *tx, const void *msg)
{
    if (!f)
        return;
    corio_future_init(&f->base, &send_vtable);
    f->tx = tx;
    f->msg = msg;
    waiter_init(&f->w_);
}

SYNC_COPY_ENTRY int corio_mpsc_send(corio_mpsc_tx *tx, const void *msg)
{
    mpsc *c = of_tx(tx);
    if (!c || !msg)
        return -EINVAL;
    if (c->cap == 0)
        return try_send(c, msg); /* unbounded: never waits */
    int ctx = sync_enter();
    if (ctx < 0)
        return ctx;
    int rc = try_send(c, msg);
    if (rc != -EAGAIN) {
        if (rc == 0)
            sync_ready(ctx);
        return rc;
    }
    corio_mpsc_send_fut f;
    corio_mpsc_send_fut_init(&f, tx, msg);
    rc = sync_wait(&f.base);
    return rc ? rc : f.base.result;
}

/* ---- the receiver --------------------------------------------------------- */

SYNC_COPY_ENTRY int corio_mpsc_try_recv(corio_mpsc_rx *rx, void *out)
{
    mpsc *c = of_rx(rx);
    if (!c || !out)
        return -EINVAL;
    ssize_t n = take_or_register(c, out, 1, NULL);
    return n > 0 ? 0 : (int)n;
}

/* The receive future; `max` messages at most (recv_many's, 1 for recv). */
typedef struct recv_many_fut {
    corio_future base;
    corio_mpsc_rx *rx;
    void *out;
    size_t max;
    ssize_t n;
} recv_many_fut;

static corio_poll recv_poll_max(corio_future *base, corio_context *cx, mpsc *c, void *out,
                                size_t max, ssize_t *got)
{
    ssize_t n = take_or_register(c, out, max, corio_context_waker(cx));
    if (n == -EAGAIN)
        return CORIO_PENDING;
    *got = n;
    base->result = n > 0 ? 0 : (int)n;
    return CORIO_READY;
}

static void recv_drop_common(mpsc *c)
{
    corio_waker w;
    waitq_lock(&c->txq);
    c->rx_waiting = false;
    w = c->rx_waker;
    c->rx_waker = CORIO_WAKER_NONE;
    waitq_unlock(&c->txq);
    corio_waker_drop(&w);
}

SYNC_COPY_ENTRY static corio_poll recv_poll(corio_future *base, corio_context *cx)
{
    corio_mpsc_recv_fut *f = (corio_mpsc_recv_fut *)base;
    mpsc *c = of_rx(f->rx);
    if (!c || !f->out) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    ssize_t got;
    return recv_poll_max(base, cx, c, f->out, 1, &got);
}

static void recv_drop(corio_future *base)
{
    corio_mpsc_recv_fut *f = (corio_mpsc_recv_fut *)base;
    if (f->rx)
        recv_drop_common(of_rx(f->rx));
}

static const corio_future_vtable recv_vtable = {recv_poll, recv_drop};

void corio_mpsc_recv_fut_init(corio_mpsc_recv_fut *f, corio_mpsc_rx *rx, void *out)
{
    if (!f)
        return;
    corio_future_init(&f->base, &recv_vtable);
    f->rx = rx;
    f->out = out;
}

SYNC_COPY_ENTRY static corio_poll many_poll(corio_future *base, corio_context *cx)
{
    recv_many_fut *f = (recv_many_fut *)base;
    return recv_poll_max(base, cx, of_rx(f->rx), f->out, f->max, &f->n);
}

static void many_drop(corio_future *base)
{
    recv_drop_common(of_rx(((recv_many_fut *)base)->rx));
}

static const corio_future_vtable many_vtable = {many_poll, many_drop};

static ssize_t recv_wait(corio_mpsc_rx *rx, void *out, size_t max)
{
    /* No separate fast path for a receive that must wait: the future's
     * first poll is one, and takes the channel's lock once, not twice
     * (ping_pong: a wait on every receive). */
    recv_many_fut f = {.rx = rx, .out = out, .max = max, .n = 0};
    corio_future_init(&f.base, &many_vtable);
    int rc = sync_wait(&f.base);
    if (rc)
        return rc;
    return f.base.result ? f.base.result : f.n;
}

/* The fast path of a bounded channel's receive: a message is there, so it
 * is taken without the lock and without building and awaiting the future
 * (mpsc producers=4 on one thread: about 70 instructions fewer a message,
 * 308 -> 237). sync_enter before taking: an interrupted call, or one in a
 * poll function, takes nothing. Returns how many, 0 (none there: wait), or
 * sync_enter's error. */
static inline ssize_t recv_now(mpsc *c, void *out, size_t max)
{
    size_t h;
    if (!c->cap || rx_count(c, &h) == 0) /* a receive that must wait pays only this */
        return 0;
    int ctx = sync_enter();
    if (ctx < 0)
        return ctx;
    ssize_t n = rx_take(c, out, max); /* > 0: only we take */
    rx_grant(c);
    sync_ready(ctx);
    return n;
}

SYNC_COPY_ENTRY int corio_mpsc_recv(corio_mpsc_rx *rx, void *out)
{
    if (!rx || !out)
        return -EINVAL;
    ssize_t n = recv_now(of_rx(rx), out, 1);
    if (n == 0)
        n = recv_wait(rx, out, 1);
    return n > 0 ? 0 : (int)n;
}

SYNC_COPY_ENTRY ssize_t corio_mpsc_recv_many(corio_mpsc_rx *rx, void *out, size_t max)
{
    if (!rx || !out || max == 0)
        return -EINVAL;
    ssize_t n = recv_now(of_rx(rx), out, max);
    return n != 0 ? n : recv_wait(rx, out, max);
}

void corio_mpsc_rx_close(corio_mpsc_rx *rx)
{
    mpsc *c = of_rx(rx);
    if (!c)
        return;
    waitq_lock(&c->txq);
    c->closed = true;
    waitq_unlock(&c->txq);
    /* The senders queued now fail (none queue after `closed`); the count
     * of them goes down with each. */
    waitq_news_wake_all(&c->txq, &c->tx_waiting, W_CLOSED);
}

void corio_mpsc_rx_release(corio_mpsc_rx *rx)
{
    mpsc *c = of_rx(rx);
    if (!c)
        return;
    corio_mpsc_rx_close(rx);
    /* Closed: nothing is written any more and only we move head, so the
     * messages left can be dropped without the lock (the drop function is
     * the user's and may take long). */
    waitq_lock(&c->txq);
    size_t tail = c->tail;
    waitq_unlock(&c->txq);
    for (size_t p = __atomic_load_n(&c->head, __ATOMIC_RELAXED); p != tail; p++)
        if (c->drop)
            c->drop(slot(c, p), c->drop_arg);
    waitq_lock(&c->txq);
    __atomic_store_n(&c->head, tail, __ATOMIC_RELAXED); /* under the lock, for len() */
    c->rx_alive = false;
    c->rx_waiting = false;
    bool free_it = c->senders == 0;
    waitq_unlock(&c->txq);
    if (free_it)
        mpsc_destroy(c);
}

size_t corio_mpsc_len(const corio_mpsc_rx *rx)
{
    mpsc *c = of_rx(rx);
    if (!c)
        return 0;
    waitq_lock(&c->txq);
    size_t n = c->tail - __atomic_load_n(&c->head, __ATOMIC_ACQUIRE);
    waitq_unlock(&c->txq);
    return n;
}

size_t corio_mpsc_capacity(const corio_mpsc_rx *rx)
{
    mpsc *c = of_rx(rx);
    return c ? c->cap : 0;
}

size_t corio_mpsc_msg_size(const corio_mpsc_rx *rx)
{
    mpsc *c = of_rx(rx);
    return c ? c->msg_size : 0;
}
