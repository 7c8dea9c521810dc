/* sync/oneshot.c - the one-message channel (corio/oneshot.h).
 *
 * One allocation holds the state, the receiver's waker and the message.
 * A spinlock, held for a few instructions, guards state and waker (the two
 * sides touch them once or twice each in the channel's life, so a lock
 * costs nothing worth a lock-free protocol). The message is written by the
 * sender before SENT is set under the lock, and read by the receiver after
 * it saw SENT under the lock: the lock orders them.
 *
 * Two references, one per handle; the last release frees the channel, and
 * hands a message still inside to the drop function.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/spin.h"
#include "corio/error.h"
#include "corio/oneshot.h"
#include "sync/chan.h"
#include "sync/waitq.h"

enum {
    OS_SENT = 1,      /* a message is inside, not received yet */
    OS_TX_GONE = 2,   /* the sender sent or was released */
    OS_RX_CLOSED = 4, /* the receiver closed or was released */
    OS_RECEIVED = 8,  /* the message has been taken */
};

typedef struct oneshot {
    spinlock lock;
    unsigned state;       /* under the lock */
    _Atomic int refs;     /* handles alive: 2, then 1, then freed */
    corio_waker rx_waker; /* under the lock */
    corio_msg_drop_fn drop;
    void *drop_arg;
    size_t msg_size;
    _Alignas(16) unsigned char msg[];
} oneshot;

static inline oneshot *of_tx(const corio_oneshot_tx *tx)
{
    return (oneshot *)tx;
}
static inline oneshot *of_rx(const corio_oneshot_rx *rx)
{
    return (oneshot *)rx;
}

int corio_oneshot_new_with(const corio_chan_opts *opts, corio_oneshot_tx **tx,
                           corio_oneshot_rx **rx)
{
    CHAN_NEW_BEGIN(opts, tx, rx);
    oneshot *o = malloc(sizeof *o + ((opts->msg_size + 15) & ~(size_t)15));
    if (!o)
        return -ENOMEM;
    spin_init(&o->lock);
    o->state = 0;
    atomic_init(&o->refs, 2);
    o->rx_waker = CORIO_WAKER_NONE;
    o->drop = opts->drop;
    o->drop_arg = opts->drop_arg;
    o->msg_size = opts->msg_size;
    *tx = (corio_oneshot_tx *)o;
    *rx = (corio_oneshot_rx *)o;
    return 0;
}

int corio_oneshot_new(size_t msg_size, corio_oneshot_tx **tx, corio_oneshot_rx **rx)
{
    corio_chan_opts opts = {.msg_size = msg_size};
    return corio_oneshot_new_with(&opts, tx, rx);
}

static void os_unref(oneshot *o)
{
    /* Acq_rel: the last one sees every write the other side made. */
    if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) != 1)
        return;
    if ((o->state & OS_SENT) && o->drop)
        o->drop(o->msg, o->drop_arg);
    corio_waker_drop(&o->rx_waker);
    free(o);
}

/* The sender is done (sent or not): mark it, take the receiver's waker. */
static corio_waker os_tx_finish(oneshot *o, unsigned add)
{
    o->state |= OS_TX_GONE | add;
    corio_waker w = o->rx_waker;
    o->rx_waker = CORIO_WAKER_NONE;
    return w;
}

int corio_oneshot_send(corio_oneshot_tx *tx, const void *msg)
{
    oneshot *o = of_tx(tx);
    if (!o || !msg)
        return -EINVAL;
    corio_waker w = CORIO_WAKER_NONE;
    int rc = 0;
    spin_lock(&o->lock);
    if (o->state & OS_RX_CLOSED) {
        /* No receive waits here: the close woke the one that did, and a
         * receive after the close registers nothing (os_take_locked). */
        rc = CORIO_ECLOSED;
        o->state |= OS_TX_GONE;
    } else {
        memcpy(o->msg, msg, o->msg_size);
        w = os_tx_finish(o, OS_SENT);
    }
    spin_unlock(&o->lock);
    corio_waker_wake(&w);
    os_unref(o);
    return rc;
}

void corio_oneshot_tx_release(corio_oneshot_tx *tx)
{
    oneshot *o = of_tx(tx);
    if (!o)
        return;
    spin_lock(&o->lock);
    corio_waker w = os_tx_finish(o, 0);
    spin_unlock(&o->lock);
    corio_waker_wake(&w);
    os_unref(o);
}

bool corio_oneshot_tx_is_closed(const corio_oneshot_tx *tx)
{
    oneshot *o = of_tx(tx);
    if (!o)
        return false;
    spin_lock(&o->lock);
    bool closed = o->state & OS_RX_CLOSED;
    spin_unlock(&o->lock);
    return closed;
}

/* Under the lock: take the message (0), or say why not (-EAGAIN while it
 * may still come, CORIO_ECLOSED when it cannot: the sender is gone, the
 * message was taken, or the receiver closed, after which no send succeeds). */
static int os_take_locked(oneshot *o, void *out)
{
    if (o->state & OS_SENT) {
        memcpy(out, o->msg, o->msg_size);
        o->state = (o->state & ~OS_SENT) | OS_RECEIVED;
        return 0;
    }
    if (o->state & (OS_TX_GONE | OS_RECEIVED | OS_RX_CLOSED))
        return CORIO_ECLOSED;
    return -EAGAIN;
}

int corio_oneshot_try_recv(corio_oneshot_rx *rx, void *out)
{
    oneshot *o = of_rx(rx);
    if (!o || !out)
        return -EINVAL;
    spin_lock(&o->lock);
    int rc = os_take_locked(o, out);
    spin_unlock(&o->lock);
    return rc;
}

void corio_oneshot_rx_close(corio_oneshot_rx *rx)
{
    oneshot *o = of_rx(rx);
    if (!o)
        return;
    spin_lock(&o->lock);
    o->state |= OS_RX_CLOSED;
    /* A receive waiting meanwhile (another thread's, or a future set
     * aside) returns CORIO_ECLOSED now, unless a message came first. */
    corio_waker w = o->rx_waker;
    o->rx_waker = CORIO_WAKER_NONE;
    spin_unlock(&o->lock);
    corio_waker_wake(&w);
}

void corio_oneshot_rx_release(corio_oneshot_rx *rx)
{
    oneshot *o = of_rx(rx);
    if (!o)
        return;
    spin_lock(&o->lock);
    o->state |= OS_RX_CLOSED;
    corio_waker w = o->rx_waker;
    o->rx_waker = CORIO_WAKER_NONE;
    spin_unlock(&o->lock);
    corio_waker_drop(&w);
    os_unref(o);
}

/* ---- the receive future --------------------------------------------------- */

static corio_poll recv_poll(corio_future *base, corio_context *cx)
{
    corio_oneshot_recv_fut *f = (corio_oneshot_recv_fut *)base;
    oneshot *o = of_rx(f->rx);
    if (!o || !f->out) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    spin_lock(&o->lock);
    int rc = os_take_locked(o, f->out);
    if (rc == -EAGAIN) {
        corio_waker_store(&o->rx_waker, corio_context_waker(cx));
        spin_unlock(&o->lock);
        return CORIO_PENDING;
    }
    spin_unlock(&o->lock);
    base->result = rc;
    return CORIO_READY;
}

static void recv_drop(corio_future *base)
{
    corio_oneshot_recv_fut *f = (corio_oneshot_recv_fut *)base;
    oneshot *o = of_rx(f->rx);
    if (!o)
        return;
    spin_lock(&o->lock);
    corio_waker w = o->rx_waker;
    o->rx_waker = CORIO_WAKER_NONE;
    spin_unlock(&o->lock);
    corio_waker_drop(&w);
}

static const corio_future_vtable recv_vtable = {recv_poll, recv_drop};

void corio_oneshot_recv_fut_init(corio_oneshot_recv_fut *f, corio_oneshot_rx *rx, void *out)
{
    if (!f)
        return;
    corio_future_init(&f->base, &recv_vtable);
    f->rx = rx;
    f->out = out;
}

int corio_oneshot_recv(corio_oneshot_rx *rx, void *out)
{
    oneshot *o = of_rx(rx);
    if (!o || !out)
        return -EINVAL;
    int ctx = sync_enter();
    if (ctx < 0)
        return ctx;
    spin_lock(&o->lock);
    int rc = os_take_locked(o, out);
    spin_unlock(&o->lock);
    if (rc != -EAGAIN) {
        sync_ready(ctx);
        return rc;
    }
    corio_oneshot_recv_fut f;
    corio_oneshot_recv_fut_init(&f, rx, out);
    rc = sync_wait(&f.base);
    return rc ? rc : f.base.result;
}
