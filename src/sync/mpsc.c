/* sync/mpsc.c - multi-producer, single-consumer channels (corio/mpsc.h).
 *
 * A ring of msg_size-byte slots, positions head (next to receive) and
 * tail (next to send) counting up forever, masked into the ring. One
 * spinlock, the sender queue's, guards everything but the buffer's bytes'
 * meaning: a send and a receive each take it once, for a copy and a few
 * stores, which beats a lock-free ring on one core and keeps every rule
 * below easy to check.
 *
 * Invariants, under the lock:
 *  - count = tail - head <= ring size; bounded: count + reserved <= cap.
 *  - Bounded: when the lock is dropped, either no sender waits or there is
 *    no room (count + reserved == cap): grant_locked restores it after
 *    every change that makes room. A granted sender (W_GRANTED) owns one
 *    unit of `reserved` until it writes its message or its drop gives the
 *    unit to the next waiter.
 *  - rx_waiting: the receiver has a pending recv whose waker is rx_waker.
 *    The first send after that moves the waker out and wakes it (after
 *    the unlock).
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
#include "sync/waitq.h"

typedef struct mpsc {
    corio_waitq_ txq; /* senders waiting for room; its lock is the channel's */
    unsigned char *buf;
    size_t mask;      /* ring slots - 1 */
    size_t head, tail;
    size_t cap;       /* the bound; 0: unbounded */
    size_t reserved;  /* room granted to waiting senders */
    size_t senders;
    bool rx_alive, closed, rx_waiting;
    corio_waker rx_waker;
    size_t msg_size;
    corio_msg_drop_fn drop;
    void *drop_arg;
} mpsc;

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

static size_t ring_size_for(size_t n)
{
    size_t r = 1;
    while (r < n)
        r <<= 1;
    return r;
}

int corio_mpsc_new_with(const corio_chan_opts *opts, corio_mpsc_tx **tx, corio_mpsc_rx **rx)
{
    if (!tx || !rx)
        return -EINVAL;
    *tx = NULL; /* on every failure: releasing them is then harmless */
    *rx = NULL;
    if (!opts || opts->msg_size == 0 || opts->msg_size > CORIO_CHAN_MSG_MAX ||
        opts->capacity > CORIO_MPSC_CAPACITY_MAX)
        return -EINVAL;
    mpsc *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    size_t ring = ring_size_for(opts->capacity ? opts->capacity : UNBOUNDED_FIRST);
    c->buf = malloc(ring * opts->msg_size);
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
    for (; c->head != c->tail; c->head++)
        if (c->drop)
            c->drop(slot(c, c->head), c->drop_arg);
    corio_waker_drop(&c->rx_waker);
    free(c->buf);
    free(c);
}

/* ---- under the lock ------------------------------------------------------- */

static inline void push_locked(mpsc *c, const void *msg, corio_waker *rxw)
{
    copy_msg(slot(c, c->tail), msg, c->msg_size);
    c->tail++;
    if (c->rx_waiting) {
        c->rx_waiting = false;
        *rxw = c->rx_waker;
        c->rx_waker = CORIO_WAKER_NONE;
    }
}

static inline bool has_room_locked(const mpsc *c)
{
    return c->tail - c->head + c->reserved < c->cap;
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
        waitq_take(&c->txq, c->txq.head_, W_GRANTED, l);
    }
}

/* Unbounded: make room for one more, dropping the lock to allocate. */
static int grow_locked(mpsc *c)
{
    while (c->tail - c->head > c->mask) {
        size_t old = c->mask + 1;
        if (old > SIZE_MAX / 2 / c->msg_size)
            return -ENOMEM;
        waitq_unlock(&c->txq);
        unsigned char *nb = malloc(old * 2 * c->msg_size);
        waitq_lock(&c->txq);
        if (!nb)
            return -ENOMEM;
        if (c->closed) {
            free(nb); /* the receiver may be draining the ring unlocked */
            return 0;
        }
        if (c->mask + 1 != old || c->tail - c->head <= c->mask) {
            free(nb); /* someone else grew it meanwhile */
            continue;
        }
        /* Unwrap into the new ring, keeping positions. */
        size_t nmask = old * 2 - 1;
        for (size_t p = c->head; p != c->tail; p++)
            memcpy(nb + (p & nmask) * c->msg_size, slot(c, p), c->msg_size);
        free(c->buf);
        c->buf = nb;
        c->mask = nmask;
    }
    return 0;
}

/* Take up to max messages into out: how many, or -EAGAIN / CORIO_ECLOSED. */
static inline ssize_t take_locked(mpsc *c, void *out, size_t max, wake_list *l)
{
    size_t count = c->tail - c->head;
    if (count == 0)
        return (c->senders == 0 || c->closed) ? CORIO_ECLOSED : -EAGAIN;
    size_t n = count < max ? count : max;
    if (n == 1) {
        copy_msg(out, slot(c, c->head), c->msg_size);
    } else {
        size_t first = (c->mask + 1) - (c->head & c->mask); /* up to the ring's end */
        if (first > n)
            first = n;
        memcpy(out, slot(c, c->head), first * c->msg_size);
        if (n > first)
            memcpy((unsigned char *)out + first * c->msg_size, c->buf, (n - first) * c->msg_size);
    }
    c->head += n;
    if (c->txq.head_)
        grant_locked(c, l);
    return (ssize_t)n;
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
        return true;
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
    int rc = try_send(c, f->msg);
    if (rc != -EAGAIN) {
        base->result = rc;
        return CORIO_READY;
    }
    waitq_lock(&c->txq);
    if (c->closed) {
        rc = CORIO_ECLOSED;
    } else if (!c->txq.head_ && has_room_locked(c)) {
        push_locked(c, f->msg, &w); /* room was made meanwhile */
        rc = 0;
    } else {
        waitq_push(&c->txq, &f->w_, corio_context_waker(cx), false);
        waitq_unlock(&c->txq);
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

static inline ssize_t try_recv(mpsc *c, void *out, size_t max)
{
    wake_list l;
    wake_list_init(&l);
    waitq_lock(&c->txq);
    ssize_t n = take_locked(c, out, max, &l);
    waitq_unlock(&c->txq);
    wake_list_wake(&l);
    return n;
}

SYNC_COPY_ENTRY int corio_mpsc_try_recv(corio_mpsc_rx *rx, void *out)
{
    mpsc *c = of_rx(rx);
    if (!c || !out)
        return -EINVAL;
    ssize_t n = try_recv(c, out, 1);
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
    wake_list l;
    wake_list_init(&l);
    waitq_lock(&c->txq);
    ssize_t n = take_locked(c, out, max, &l);
    if (n == -EAGAIN) {
        corio_waker_store(&c->rx_waker, corio_context_waker(cx));
        c->rx_waiting = true;
        waitq_unlock(&c->txq);
        return CORIO_PENDING;
    }
    waitq_unlock(&c->txq);
    wake_list_wake(&l);
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
    /* No separate fast path: the future's first poll is one, and a
     * receive that must wait then takes the channel's lock once, not twice
     * (ping_pong: a wait on every receive). */
    recv_many_fut f = {.rx = rx, .out = out, .max = max, .n = 0};
    corio_future_init(&f.base, &many_vtable);
    int rc = sync_wait(&f.base);
    if (rc)
        return rc;
    return f.base.result ? f.base.result : f.n;
}

SYNC_COPY_ENTRY int corio_mpsc_recv(corio_mpsc_rx *rx, void *out)
{
    if (!rx || !out)
        return -EINVAL;
    ssize_t n = recv_wait(rx, out, 1);
    return n > 0 ? 0 : (int)n;
}

SYNC_COPY_ENTRY ssize_t corio_mpsc_recv_many(corio_mpsc_rx *rx, void *out, size_t max)
{
    if (!rx || !out || max == 0)
        return -EINVAL;
    return recv_wait(rx, out, max);
}

void corio_mpsc_close(corio_mpsc_rx *rx)
{
    mpsc *c = of_rx(rx);
    if (!c)
        return;
    waitq_lock(&c->txq);
    c->closed = true;
    waitq_unlock(&c->txq);
    waitq_close_all(&c->txq);
}

void corio_mpsc_rx_release(corio_mpsc_rx *rx)
{
    mpsc *c = of_rx(rx);
    if (!c)
        return;
    corio_mpsc_close(rx);
    /* Closed: nothing is written any more and only we move head, so the
     * messages left can be dropped without the lock (the drop function is
     * the user's and may take long). */
    waitq_lock(&c->txq);
    size_t tail = c->tail;
    waitq_unlock(&c->txq);
    for (size_t p = c->head; p != tail; p++)
        if (c->drop)
            c->drop(slot(c, p), c->drop_arg);
    waitq_lock(&c->txq);
    c->head = tail; /* published under the lock for len() */
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
    size_t n = c->tail - c->head;
    waitq_unlock(&c->txq);
    return n;
}

size_t corio_mpsc_capacity(const corio_mpsc_rx *rx)
{
    mpsc *c = of_rx(rx);
    return c ? c->cap : 0;
}
