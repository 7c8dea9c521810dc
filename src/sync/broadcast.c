/* sync/broadcast.c - the broadcast channel (corio/broadcast.h).
 *
 * The ring: `mask + 1` slots, each a sequence word followed by the message
 * bytes. Message number p (counting from 0 since the channel was made)
 * lives in slot p & mask. The slot's word says which message it holds and
 * whether it is complete: SEQ_READY(p) = (p + 1) << 1 once p is written,
 * SEQ_READY(p) | 1 while p is being written, 0 for a slot never written.
 *
 * Senders write under `slock`, the send lock (shared with subscribe only):
 * mark the slot odd, drop the message it held, write the new bytes, mark
 * it ready, advance `tail`. A receiver reads its slot without any lock,
 * seqlock style: word, bytes, word again; the same ready word both times
 * means the bytes are message p, whole. A word for an older message means
 * "not sent yet"; one for a newer message (or a change while copying)
 * means p was overwritten: the receiver lagged, and skips to the oldest
 * kept, tail - capacity. The bytes are atomic words, stored with release
 * and loaded with acquire (plain moves on x86): a reader that sees any
 * word of a later message also sees that sender's odd mark on its second
 * look, with no fence (ThreadSanitizer models none), and the race a
 * seqlock tolerates is not undefined behaviour.
 *
 * With a clone function, a copy alone is not enough: the clone must run
 * before the ring's copy can be dropped. Readers then also pin the slot (a
 * counter per slot), and a sender that marked a slot odd waits for its
 * pins to go before dropping: Dekker's pattern between the pin and the
 * word, both sequentially consistent.
 *
 * Waking: a receiver with nothing to read queues its future's waiter,
 * counts itself in `waiting` (a read-modify-write), then rechecks its
 * slot. A sender, after publishing, reads `waiting` with a read-modify-
 * write too: only when it is not zero does it take the queue's lock and
 * wake everyone queued. Both are in `waiting`'s one modification order, so
 * either the sender sees the waiter or the waiter sees the message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "corio/broadcast.h"
#include "corio/error.h"
#include "sync/chan.h"
#include "sync/waitq.h"

#define CACHE_LINE 64

#define SEQ_READY(p) (((uint64_t)(p) + 1) << 1)
#define SEQ_WRITING(p) (SEQ_READY(p) | 1)

enum { READ_OK, READ_EMPTY, READ_LAGGED };

/* Every function that copies a message to or from the caller's buffer
 * (send, try_recv, recv, and recv_poll, which a caller reaches through the
 * future's vtable) is opaque to the caller's optimiser. data_load and
 * data_store copy whole 8-byte words and have a fast path for msg_size 8,
 * and which branch runs depends on msg_size, a field gcc cannot see.
 * Optimised into a caller whose buffer is smaller (an int channel, with
 * -flto against libcorio.a), gcc keeps the 8-byte branch it cannot rule
 * out and fails -Werror builds with -Wstringop-overflow ("writing 8 bytes
 * into a region of size 4") or -Wstringop-overread, for a copy that never
 * happens. noinline alone is not enough: gcc's interprocedural constant
 * propagation still clones the function for a constant argument (the
 * address of the caller's global int: corio_broadcast_recv.constprop) and
 * warns in the clone. noipa (gcc 8+) forbids inlining, cloning and every
 * other interprocedural use of the body; the fast path stays inlined
 * inside these functions, where the buffer's size is unknown. The cost is
 * one call, the price of any call into libcorio.so. Compilers without
 * noipa (clang) do not warn on this, and get noinline. */
#define COPY_ENTRY SYNC_COPY_ENTRY /* sync/waitq.h */

/* The channel; a sender handle is a pointer to it. */
struct corio_broadcast_tx {
    /* Read-mostly: set at creation. */
    unsigned char *ring;
    size_t stride; /* bytes per slot: 8 + msg_size rounded up to 8 */
    uint64_t mask; /* capacity - 1 */
    size_t msg_size;
    unsigned *pins; /* per slot, only with a clone function */
    corio_msg_clone_fn clone;
    void *clone_arg;

    /* The senders' line. */
    _Alignas(CACHE_LINE) int slock; /* the send lock (arch/spin.h's protocol) */
    uint64_t tail;                      /* atomic: messages sent */
    size_t receivers;                   /* atomic; incremented under slock */
    unsigned char *scratch;             /* msg_size bytes, under the send lock */
    corio_msg_drop_fn drop;
    void *drop_arg;

    /* The waiting side's line. */
    _Alignas(CACHE_LINE) corio_waitq_ wq;
    unsigned waiting; /* atomic; changed under wq's lock: waiters queued */
    int closed;       /* atomic: every sender is gone */
    size_t senders;   /* atomic */
    size_t refs;      /* atomic: senders + receivers */
};

struct corio_broadcast_rx {
    struct corio_broadcast_tx *c;
    uint64_t next;   /* the message it reads next */
    uint64_t lagged; /* lost since the last message returned */
};

/* One receiver per cache line: each writes its own on every receive. */
#define RX_SIZE CACHE_LINE

typedef struct corio_broadcast_tx chan;

/* ---- the send lock ------------------------------------------------------ */

static inline void send_lock(chan *c)
{
    /* Acquire: the previous holder's slot writes are visible. */
    while (__atomic_exchange_n(&c->slock, 1, __ATOMIC_ACQUIRE)) {
        unsigned spins = 0;
        while (__atomic_load_n(&c->slock, __ATOMIC_RELAXED)) {
            if (++spins < 100)
                cpu_relax();
            else
                sched_yield();
        }
    }
}

static inline void send_unlock(chan *c)
{
    __atomic_store_n(&c->slock, 0, __ATOMIC_RELEASE);
}

/* ---- slots -------------------------------------------------------------- */

static inline uint64_t *slot_seq(const chan *c, uint64_t p)
{
    return (uint64_t *)(void *)(c->ring + (size_t)(p & c->mask) * c->stride);
}

static inline uint64_t *slot_data(const chan *c, uint64_t p)
{
    return slot_seq(c, p) + 1;
}

/* Copy a message out of a slot, a word at a time. A sender may be
 * overwriting it; the seqlock check after decides whether it counts.
 * Acquire: a word from a later sender brings that sender's odd mark. */
static inline void data_load(const chan *c, const uint64_t *src, void *dst)
{
    if (c->msg_size == 8) {
        uint64_t w = __atomic_load_n(src, __ATOMIC_ACQUIRE);
        memcpy(dst, &w, 8);
        return;
    }
    unsigned char *d = dst;
    size_t n = c->msg_size;
    for (; n >= 8; n -= 8, d += 8, src++) {
        uint64_t w = __atomic_load_n(src, __ATOMIC_ACQUIRE);
        memcpy(d, &w, 8);
    }
    if (n) {
        uint64_t w = __atomic_load_n(src, __ATOMIC_ACQUIRE);
        memcpy(d, &w, n);
    }
}

/* Release: the odd mark before every word (see data_load). */
static inline void data_store(const chan *c, uint64_t *dst, const void *src)
{
    if (c->msg_size == 8) {
        uint64_t w;
        memcpy(&w, src, 8);
        __atomic_store_n(dst, w, __ATOMIC_RELEASE);
        return;
    }
    const unsigned char *s = src;
    size_t n = c->msg_size;
    for (; n >= 8; n -= 8, s += 8, dst++) {
        uint64_t w;
        memcpy(&w, s, 8);
        __atomic_store_n(dst, w, __ATOMIC_RELEASE);
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        __atomic_store_n(dst, w, __ATOMIC_RELEASE);
    }
}

static inline int seq_verdict(uint64_t seq, uint64_t p)
{
    /* seq >> 1 is (message number + 1) of what the slot holds or gets. */
    return (seq >> 1) > p + 1 ? READ_LAGGED : READ_EMPTY;
}

/* Read message p without a clone function. */
static inline __attribute__((always_inline)) int read_seq(const chan *c, uint64_t p, void *msg)
{
    const uint64_t *seq = slot_seq(c, p);
    /* Acquire: pairs with the sender's release of the ready word, so the
     * bytes read below are at least those of message p. */
    uint64_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
    if (s1 != SEQ_READY(p))
        return seq_verdict(s1, p);
    data_load(c, seq + 1, msg);
    /* Relaxed: ordered after the acquire loads of the words; if one of
     * them came from a later sender, this sees its odd mark or later. */
    uint64_t s2 = __atomic_load_n(seq, __ATOMIC_RELAXED);
    return s2 == s1 ? READ_OK : READ_LAGGED;
}

/* Read message p with the clone function: pin the slot so that no sender
 * drops it before the clone has run. */
static int read_pinned(const chan *c, uint64_t p, void *msg)
{
    unsigned *pin = &c->pins[p & c->mask];
    const uint64_t *seq = slot_seq(c, p);
    /* Seq_cst pin and word load against the sender's seq_cst odd mark and
     * pin load: either this load sees the mark, or the sender sees the pin
     * and waits for it. */
    __atomic_fetch_add(pin, 1, __ATOMIC_SEQ_CST);
    uint64_t s = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
    int r = READ_OK;
    if (s == SEQ_READY(p)) {
        data_load(c, seq + 1, msg);
        c->clone(msg, c->clone_arg);
    } else {
        r = seq_verdict(s, p);
    }
    /* Release: the copy and the clone happen before the sender's drop. */
    __atomic_fetch_sub(pin, 1, __ATOMIC_RELEASE);
    return r;
}

static inline bool is_closed(const chan *c)
{
    /* Acquire: every message sent before the last sender went is visible
     * once the receiver sees the channel closed. */
    return __atomic_load_n(&c->closed, __ATOMIC_ACQUIRE) != 0;
}

/* The receiver lost message `p` (its slot holds a newer one): move to the
 * oldest kept, counting what it skips. */
static void rx_skip(corio_broadcast_rx *rx, uint64_t p)
{
    const chan *c = rx->c;
    uint64_t tail = __atomic_load_n(&c->tail, __ATOMIC_ACQUIRE);
    uint64_t cap = c->mask + 1;
    uint64_t oldest = tail > cap ? tail - cap : 0;
    /* The slot may be in the middle of being overwritten, before tail
     * moves: p is gone all the same. */
    if (oldest <= p)
        oldest = p + 1;
    rx->lagged += oldest - p;
    rx->next = oldest;
}

/* Receive without waiting: 0, -EAGAIN or CORIO_ECLOSED. */
static int rx_try_slow(corio_broadcast_rx *rx, void *msg, uint64_t *lagged)
{
    const chan *c = rx->c;
    bool saw_closed = false;
    for (;;) {
        uint64_t p = rx->next;
        int r = c->clone ? read_pinned(c, p, msg) : read_seq(c, p, msg);
        if (r == READ_OK) {
            rx->next = p + 1;
            *lagged = rx->lagged;
            rx->lagged = 0;
            return 0;
        }
        if (r == READ_LAGGED) {
            rx_skip(rx, p);
            continue;
        }
        if (saw_closed)
            return CORIO_ECLOSED;
        if (!is_closed(c))
            return -EAGAIN;
        saw_closed = true; /* look once more: all sends are visible now */
    }
}

/* The common case inline: no clone function, the next message there and
 * whole, no lag pending. */
static inline __attribute__((always_inline)) int rx_try(corio_broadcast_rx *rx, void *msg,
                                                         uint64_t *lagged)
{
    const chan *c = rx->c;
    if (!c->clone && !rx->lagged) {
        uint64_t p = rx->next;
        if (read_seq(c, p, msg) == READ_OK) {
            rx->next = p + 1;
            *lagged = 0;
            return 0;
        }
    }
    return rx_try_slow(rx, msg, lagged);
}

/* Whether rx_try would do anything but -EAGAIN now (a message, a lag, the
 * close). */
static bool rx_has_news(const corio_broadcast_rx *rx)
{
    const chan *c = rx->c;
    uint64_t p = rx->next;
    uint64_t s = __atomic_load_n(slot_seq(c, p), __ATOMIC_ACQUIRE);
    return s == SEQ_READY(p) || seq_verdict(s, p) == READ_LAGGED || is_closed(c);
}

static bool rx_has_news_any(const void *rx)
{
    return rx_has_news(rx);
}

/* ---- waking ----------------------------------------------------------- */

/* Take off and wake the waiters queued now (sync/waitq.h). */
static void wake_waiters(chan *c, unsigned state)
{
    waitq_news_wake_all(&c->wq, &c->waiting, state);
}

/* ---- creation and handles ---------------------------------------------- */

static size_t round_pow2(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

int corio_broadcast_new_with(const corio_chan_opts *opts, corio_broadcast_tx **tx,
                             corio_broadcast_rx **rx)
{
    CHAN_NEW_BEGIN(opts, tx, rx);
    size_t msg_size = opts->msg_size;
    if (opts->capacity == 0 || opts->capacity > CORIO_BROADCAST_CAPACITY_MAX)
        return -EINVAL;
    size_t cap = round_pow2(opts->capacity);
    size_t stride = 8 + ((msg_size + 7) & ~(size_t)7);
    if (cap > SIZE_MAX / stride)
        return -ENOMEM;

    void *mem = NULL, *ring = NULL;
    if (posix_memalign(&mem, CACHE_LINE, sizeof(chan)) != 0)
        return -ENOMEM;
    chan *c = mem;
    corio_broadcast_rx *r;
    memset(c, 0, sizeof *c);
    if (posix_memalign(&ring, CACHE_LINE, cap * stride) != 0)
        goto nomem;
    memset(ring, 0, cap * stride);
    c->ring = ring;
    if (opts->clone && !(c->pins = calloc(cap, sizeof *c->pins)))
        goto nomem;
    if (opts->drop && !(c->scratch = malloc(msg_size)))
        goto nomem;
    if (posix_memalign(&mem, CACHE_LINE, RX_SIZE) != 0)
        goto nomem;
    r = mem;
    c->stride = stride;
    c->mask = cap - 1;
    c->msg_size = msg_size;
    c->clone = opts->clone;
    c->clone_arg = opts->clone_arg;
    c->drop = opts->drop;
    c->drop_arg = opts->drop_arg;
    c->wq = (corio_waitq_)CORIO_WAITQ_INIT_;
    c->receivers = 1;
    c->senders = 1;
    c->refs = 2;
    r->c = c;
    r->next = 0;
    r->lagged = 0;
    *tx = c;
    *rx = r;
    return 0;
nomem:
    free(c->scratch);
    free(c->pins);
    free(ring);
    free(c);
    return -ENOMEM;
}

int corio_broadcast_new(size_t msg_size, size_t capacity, corio_broadcast_tx **tx,
                        corio_broadcast_rx **rx)
{
    corio_chan_opts o = {.msg_size = msg_size, .capacity = capacity};
    return corio_broadcast_new_with(&o, tx, rx);
}

static void chan_free(chan *c)
{
    if (c->drop) {
        uint64_t tail = c->tail, cap = c->mask + 1;
        for (uint64_t p = tail > cap ? tail - cap : 0; p < tail; p++)
            c->drop(slot_data(c, p), c->drop_arg);
    }
    free(c->scratch);
    free(c->pins);
    free(c->ring);
    free(c);
}

static void chan_unref(chan *c)
{
    /* Acq_rel: every handle's last use happens before the free. */
    if (__atomic_fetch_sub(&c->refs, 1, __ATOMIC_ACQ_REL) == 1)
        chan_free(c);
}

corio_broadcast_tx *corio_broadcast_tx_clone(corio_broadcast_tx *tx)
{
    if (!tx)
        return NULL;
    /* Relaxed: the caller's own handle keeps the channel alive. */
    __atomic_fetch_add(&tx->senders, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&tx->refs, 1, __ATOMIC_RELAXED);
    return tx;
}

void corio_broadcast_tx_release(corio_broadcast_tx *tx)
{
    if (!tx)
        return;
    /* Acq_rel: the last sender sees every other sender's messages before
     * it publishes the close (release below). */
    if (__atomic_fetch_sub(&tx->senders, 1, __ATOMIC_ACQ_REL) == 1) {
        __atomic_store_n(&tx->closed, 1, __ATOMIC_RELEASE);
        /* A waiter that queues after this takes the queue's lock after
         * the store, so its recheck sees the close. */
        wake_waiters(tx, W_CLOSED);
    }
    chan_unref(tx);
}

int corio_broadcast_subscribe(corio_broadcast_tx *tx, corio_broadcast_rx **rx)
{
    if (rx)
        *rx = NULL; /* on every failure (docs/conventions.md) */
    if (!tx || !rx)
        return -EINVAL;
    void *mem;
    if (posix_memalign(&mem, CACHE_LINE, RX_SIZE) != 0)
        return -ENOMEM;
    corio_broadcast_rx *r = mem;
    r->c = tx;
    r->lagged = 0;
    __atomic_fetch_add(&tx->refs, 1, __ATOMIC_RELAXED);
    /* Under the send lock: each send either counts this receiver and is
     * seen by it, or neither. */
    send_lock(tx);
    __atomic_fetch_add(&tx->receivers, 1, __ATOMIC_RELAXED);
    r->next = __atomic_load_n(&tx->tail, __ATOMIC_RELAXED);
    send_unlock(tx);
    *rx = r;
    return 0;
}

void corio_broadcast_rx_release(corio_broadcast_rx *rx)
{
    if (!rx)
        return;
    chan *c = rx->c;
    __atomic_fetch_sub(&c->receivers, 1, __ATOMIC_RELAXED);
    free(rx);
    chan_unref(c);
}

size_t corio_broadcast_receiver_count(const corio_broadcast_tx *tx)
{
    return tx ? __atomic_load_n(&tx->receivers, __ATOMIC_RELAXED) : 0;
}

size_t corio_broadcast_len(const corio_broadcast_rx *rx)
{
    if (!rx)
        return 0;
    uint64_t tail = __atomic_load_n(&rx->c->tail, __ATOMIC_ACQUIRE);
    uint64_t n = tail > rx->next ? tail - rx->next : 0;
    uint64_t cap = rx->c->mask + 1;
    return (size_t)(n < cap ? n : cap);
}

/* ---- send ------------------------------------------------------------- */

COPY_ENTRY int corio_broadcast_send(corio_broadcast_tx *tx, const void *msg)
{
    if (!tx || !msg)
        return -EINVAL;
    chan *c = tx;
    send_lock(c);
    /* Under the send lock, which subscribe takes too: a receiver counted
     * here gets this message (a later one, its next position after it). */
    if (__atomic_load_n(&c->receivers, __ATOMIC_RELAXED) == 0) {
        send_unlock(c);
        return CORIO_ECLOSED;
    }
    uint64_t p = __atomic_load_n(&c->tail, __ATOMIC_RELAXED); /* ours under the lock */
    uint64_t *seq = slot_seq(c, p);
    bool full = __atomic_load_n(seq, __ATOMIC_RELAXED) != 0;
    if (c->clone) {
        /* An exchange, not a seq_cst store: the Dekker handshake with
         * read_pinned needs this mark ordered before the pin load below.
         * STLR then LDAR is ordered on AArch64 hardware, but qemu-user
         * running AArch64 lets them pass (a reader's clone then ran on a
         * message the drop had freed: the suite's aarch64 run); a
         * read-modify-write is a full barrier everywhere (as in
         * rt/current_thread.c's park). */
        (void)__atomic_exchange_n(seq, SEQ_WRITING(p), __ATOMIC_SEQ_CST);
        /* Seq_cst (see read_pinned), and acquire: the readers' copies and
         * clones happen before the drop and the overwrite. */
        unsigned *pin = &c->pins[p & c->mask];
        unsigned spins = 0;
        while (__atomic_load_n(pin, __ATOMIC_SEQ_CST) != 0) {
            if (++spins < 100)
                cpu_relax();
            else
                sched_yield();
        }
    } else {
        /* Relaxed: the words' release stores below carry it (data_load). */
        __atomic_store_n(seq, SEQ_WRITING(p), __ATOMIC_RELAXED);
    }
    if (full && c->drop) {
        /* The drop gets a private copy: readers may still be reading the
         * slot's bytes, which must not be written by anyone but us. */
        data_load(c, seq + 1, c->scratch);
        c->drop(c->scratch, c->drop_arg);
    }
    data_store(c, seq + 1, msg);
    /* Release: the bytes before the ready word (read_seq's acquire). */
    __atomic_store_n(seq, SEQ_READY(p), __ATOMIC_RELEASE);
    __atomic_store_n(&c->tail, p + 1, __ATOMIC_RELEASE);
    send_unlock(c);
    /* A read-modify-write, not a load: `waiting` has one modification
     * order. If this comes after a receiver's increment, it sees the
     * waiter; if before, the receiver's increment (acquire) reads from this
     * release (or a later change), and its recheck sees the ready word. */
    if (waitq_news_waiters(&c->waiting))
        wake_waiters(c, W_WOKEN);
    return 0;
}

/* ---- receive ---------------------------------------------------------- */

COPY_ENTRY static corio_poll recv_poll(corio_future *base, corio_context *cx)
{
    corio_broadcast_recv_fut *f = (corio_broadcast_recv_fut *)base;
    corio_broadcast_rx *rx = f->rx;
    if (!rx || !f->msg) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    chan *c = rx->c;
    /* Polled again while queued (a select's other branch woke the task,
     * or a new waker): stay queued unless there is news. */
    if (waiter_state(&f->w_) == W_QUEUED &&
        waitq_news_repoll(&c->wq, &c->waiting, &f->w_, corio_context_waker(cx), rx_has_news_any, rx))
        return CORIO_PENDING;
    /* Idle, or taken off by a send or the close (woken, closed): from here
     * on nobody else touches the waiter. */
    f->w_.state_ = W_IDLE;
    for (;;) {
        int rc = rx_try(rx, f->msg, &f->lagged);
        if (rc != -EAGAIN) {
            base->result = rc;
            return CORIO_READY;
        }
        if (waitq_news_park(&c->wq, &c->waiting, &f->w_, corio_context_waker(cx), rx_has_news_any, rx))
            return CORIO_PENDING;
    }
}

static void recv_drop(corio_future *base)
{
    corio_broadcast_recv_fut *f = (corio_broadcast_recv_fut *)base;
    if (waiter_state(&f->w_) == W_QUEUED)
        waitq_news_drop(&f->rx->c->wq, &f->rx->c->waiting, &f->w_);
    f->w_.state_ = W_IDLE;
}

static const corio_future_vtable recv_vtable = {recv_poll, recv_drop};

void corio_broadcast_recv_fut_init(corio_broadcast_recv_fut *f, corio_broadcast_rx *rx, void *msg)
{
    if (!f)
        return;
    corio_future_init(&f->base, &recv_vtable);
    f->rx = rx;
    f->msg = msg;
    f->lagged = 0;
    waiter_init(&f->w_);
}

COPY_ENTRY int corio_broadcast_try_recv(corio_broadcast_rx *rx, void *msg, uint64_t *lagged)
{
    uint64_t lag = 0;
    int rc = -EINVAL;
    if (rx && msg)
        rc = rx_try(rx, msg, &lag);
    if (lagged)
        *lagged = rc == 0 ? lag : 0;
    return rc;
}

COPY_ENTRY int corio_broadcast_recv(corio_broadcast_rx *rx, void *msg, uint64_t *lagged)
{
    if (lagged)
        *lagged = 0;
    if (!rx || !msg)
        return -EINVAL;
    int ctx = sync_enter();
    if (ctx < 0)
        return ctx;
    uint64_t lag = 0;
    int rc = rx_try(rx, msg, &lag);
    if (rc != -EAGAIN) {
        if (rc == 0) {
            if (lagged)
                *lagged = lag;
            sync_ready(ctx);
        }
        return rc;
    }
    corio_broadcast_recv_fut f;
    corio_broadcast_recv_fut_init(&f, rx, msg);
    rc = sync_wait(&f.base);
    if (rc)
        return rc;
    if (f.base.result == 0 && lagged)
        *lagged = f.lagged;
    return f.base.result;
}
