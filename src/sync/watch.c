/* sync/watch.c - the watch channel (corio/watch.h).
 *
 * The value lives in the channel's own allocation, behind a spinlock held
 * for a copy (and the user's clone or drop). `version` counts sends; it is
 * written under that lock and read without it, so "has it changed?" is one
 * atomic load. A receiver's `seen` is the version it has seen, or
 * SEEN_NONE after mark_changed (no version is ever equal to it).
 *
 * Waking: as in the broadcast channel. A receiver that waits queues its
 * future's waiter, counts itself in `waiting` with a read-modify-write,
 * and rechecks the version and the close; a send, after bumping the
 * version, reads `waiting` with a read-modify-write and takes the queue's
 * lock only when it is not zero, to wake everyone. `waiting` has one
 * modification order: either the send sees the waiter, or the waiter's
 * increment reads from the send's and its recheck sees the new version.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"
#include "corio/watch.h"
#include "sync/chan.h"
#include "sync/waitq.h"

#define CACHE_LINE 64
#define SEEN_NONE UINT64_MAX

/* The channel; a sender handle is a pointer to it. */
struct corio_watch_tx {
    int lock;         /* spinlock (arch/spin.h's protocol): the value */
    unsigned waiting; /* atomic; changed under wq's lock: waiters queued */
    uint64_t version; /* atomic; written under `lock` */
    corio_waitq_ wq;
    int closed;       /* atomic: every sender is gone */
    size_t senders;   /* atomic */
    size_t receivers; /* atomic */
    size_t refs;      /* atomic: senders + receivers */
    size_t msg_size;
    corio_msg_clone_fn clone;
    void *clone_arg;
    corio_msg_drop_fn drop;
    void *drop_arg;
    _Alignas(16) unsigned char value[];
};

struct corio_watch_rx {
    struct corio_watch_tx *c;
    uint64_t seen;
};

/* One receiver per cache line: each is written by its own task. */
#define RX_SIZE CACHE_LINE

typedef struct corio_watch_tx chan;

static inline void value_lock(chan *c)
{
    /* Acquire: the previous holder's copy of the value is visible. */
    while (__atomic_exchange_n(&c->lock, 1, __ATOMIC_ACQUIRE)) {
        unsigned spins = 0;
        while (__atomic_load_n(&c->lock, __ATOMIC_RELAXED)) {
            if (++spins < 100)
                cpu_relax();
            else
                sched_yield();
        }
    }
}

static inline void value_unlock(chan *c)
{
    __atomic_store_n(&c->lock, 0, __ATOMIC_RELEASE);
}

static inline uint64_t version_of(const chan *c)
{
    /* Acquire: pairs with the send's release, for what the sender wrote
     * before sending (the value itself is read under the lock). */
    return __atomic_load_n(&c->version, __ATOMIC_ACQUIRE);
}

static inline bool is_closed(const chan *c)
{
    /* Acquire: the last sender's sends happen before its close. */
    return __atomic_load_n(&c->closed, __ATOMIC_ACQUIRE) != 0;
}

/* ---- waking ------------------------------------------------------------ */

/* Take off and wake the waiters queued now (sync/waitq.h). */
static void wake_waiters(chan *c, unsigned state)
{
    waitq_news_wake_all(&c->wq, &c->waiting, state);
}

/* ---- creation and handles ---------------------------------------------- */

static corio_watch_rx *rx_new(chan *c, uint64_t seen)
{
    void *mem;
    if (posix_memalign(&mem, CACHE_LINE, RX_SIZE) != 0)
        return NULL;
    corio_watch_rx *r = mem;
    r->c = c;
    r->seen = seen;
    /* Relaxed: the caller holds a handle that keeps the channel alive. */
    __atomic_fetch_add(&c->receivers, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&c->refs, 1, __ATOMIC_RELAXED);
    return r;
}

int corio_watch_new_with(const corio_chan_opts *opts, const void *initial, corio_watch_tx **tx,
                         corio_watch_rx **rx)
{
    CHAN_NEW_BEGIN(opts, tx, rx);
    if (!initial)
        return -EINVAL;
    chan *c = malloc(sizeof *c + opts->msg_size);
    if (!c)
        return -ENOMEM;
    memset(c, 0, sizeof *c);
    c->wq = (corio_waitq_)CORIO_WAITQ_INIT_;
    c->msg_size = opts->msg_size;
    c->clone = opts->clone;
    c->clone_arg = opts->clone_arg;
    c->drop = opts->drop;
    c->drop_arg = opts->drop_arg;
    c->senders = 1;
    c->refs = 1;
    corio_watch_rx *r = rx_new(c, 0);
    if (!r) {
        free(c);
        return -ENOMEM;
    }
    memcpy(c->value, initial, opts->msg_size);
    *tx = c;
    *rx = r;
    return 0;
}

int corio_watch_new(size_t msg_size, const void *initial, corio_watch_tx **tx, corio_watch_rx **rx)
{
    corio_chan_opts o = {.msg_size = msg_size};
    return corio_watch_new_with(&o, initial, tx, rx);
}

static void chan_unref(chan *c)
{
    /* Acq_rel: every handle's last use happens before the free. */
    if (__atomic_fetch_sub(&c->refs, 1, __ATOMIC_ACQ_REL) != 1)
        return;
    if (c->drop)
        c->drop(c->value, c->drop_arg);
    free(c);
}

corio_watch_tx *corio_watch_tx_clone(corio_watch_tx *tx)
{
    if (!tx)
        return NULL;
    __atomic_fetch_add(&tx->senders, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&tx->refs, 1, __ATOMIC_RELAXED);
    return tx;
}

void corio_watch_tx_release(corio_watch_tx *tx)
{
    if (!tx)
        return;
    /* Acq_rel: the other senders' sends happen before the close. */
    if (__atomic_fetch_sub(&tx->senders, 1, __ATOMIC_ACQ_REL) == 1) {
        __atomic_store_n(&tx->closed, 1, __ATOMIC_RELEASE);
        /* A waiter queuing later takes the queue's lock after this store
         * and sees it on its recheck. */
        wake_waiters(tx, W_CLOSED);
    }
    chan_unref(tx);
}

int corio_watch_subscribe(corio_watch_tx *tx, corio_watch_rx **rx)
{
    if (rx)
        *rx = NULL; /* on every failure (docs/conventions.md) */
    if (!tx || !rx)
        return -EINVAL;
    corio_watch_rx *r = rx_new(tx, version_of(tx));
    if (!r)
        return -ENOMEM;
    *rx = r;
    return 0;
}

int corio_watch_rx_clone(const corio_watch_rx *rx, corio_watch_rx **out)
{
    if (out)
        *out = NULL; /* on every failure (docs/conventions.md) */
    if (!rx || !out)
        return -EINVAL;
    corio_watch_rx *r = rx_new(rx->c, rx->seen);
    if (!r)
        return -ENOMEM;
    *out = r;
    return 0;
}

void corio_watch_rx_release(corio_watch_rx *rx)
{
    if (!rx)
        return;
    chan *c = rx->c;
    __atomic_fetch_sub(&c->receivers, 1, __ATOMIC_RELAXED);
    free(rx);
    chan_unref(c);
}

size_t corio_watch_receiver_count(const corio_watch_tx *tx)
{
    return tx ? __atomic_load_n(&tx->receivers, __ATOMIC_RELAXED) : 0;
}

/* ---- send and read ----------------------------------------------------- */

static void store_value(chan *c, const void *msg, void *old)
{
    value_lock(c);
    if (old)
        memcpy(old, c->value, c->msg_size);
    else if (c->drop)
        c->drop(c->value, c->drop_arg);
    memcpy(c->value, msg, c->msg_size);
    uint64_t v = __atomic_load_n(&c->version, __ATOMIC_RELAXED) + 1;
    /* Release: what the sender wrote before the send, for whoever sees
     * the new version without the lock. */
    __atomic_store_n(&c->version, v, __ATOMIC_RELEASE);
    value_unlock(c);
    /* A read-modify-write, not a load (see the top of the file). */
    if (waitq_news_waiters(&c->waiting))
        wake_waiters(c, W_WOKEN);
}

int corio_watch_send(corio_watch_tx *tx, const void *msg)
{
    if (!tx || !msg)
        return -EINVAL;
    if (__atomic_load_n(&tx->receivers, __ATOMIC_RELAXED) == 0)
        return CORIO_ECLOSED;
    store_value(tx, msg, NULL);
    return 0;
}

int corio_watch_send_replace(corio_watch_tx *tx, const void *msg, void *old)
{
    if (!tx || !msg)
        return -EINVAL;
    store_value(tx, msg, old);
    return 0;
}

/* Copy the value out (and clone it); the version copied, under the lock. */
static uint64_t load_value(chan *c, void *out)
{
    value_lock(c);
    memcpy(out, c->value, c->msg_size);
    if (c->clone)
        c->clone(out, c->clone_arg);
    uint64_t v = __atomic_load_n(&c->version, __ATOMIC_RELAXED);
    value_unlock(c);
    return v;
}

int corio_watch_get(corio_watch_rx *rx, void *out)
{
    if (!rx || !out)
        return -EINVAL;
    (void)load_value(rx->c, out);
    return 0;
}

int corio_watch_get_and_update(corio_watch_rx *rx, void *out)
{
    if (!rx || !out)
        return -EINVAL;
    rx->seen = load_value(rx->c, out);
    return 0;
}

int corio_watch_tx_get(corio_watch_tx *tx, void *out)
{
    if (!tx || !out)
        return -EINVAL;
    (void)load_value(tx, out);
    return 0;
}

int corio_watch_has_changed(const corio_watch_rx *rx, bool *changed)
{
    if (!rx || !changed)
        return -EINVAL;
    bool closed = is_closed(rx->c);
    *changed = version_of(rx->c) != rx->seen;
    return closed ? CORIO_ECLOSED : 0;
}

void corio_watch_mark_unchanged(corio_watch_rx *rx)
{
    if (rx)
        rx->seen = version_of(rx->c);
}

void corio_watch_mark_changed(corio_watch_rx *rx)
{
    if (rx)
        rx->seen = SEEN_NONE;
}

/* ---- changed ----------------------------------------------------------- */

/* 0 (a change, marked seen), CORIO_ECLOSED, or -EAGAIN: nothing yet. */
static int changed_try(corio_watch_rx *rx)
{
    chan *c = rx->c;
    /* The close first: a version read after seeing it is the last one. */
    bool closed = is_closed(c);
    uint64_t v = version_of(c);
    if (v != rx->seen) {
        rx->seen = v;
        return 0;
    }
    return closed ? CORIO_ECLOSED : -EAGAIN;
}

static bool has_news(const corio_watch_rx *rx)
{
    return version_of(rx->c) != rx->seen || is_closed(rx->c);
}

static bool has_news_any(const void *rx)
{
    return has_news(rx);
}

static corio_poll changed_poll(corio_future *base, corio_context *cx)
{
    corio_watch_changed_fut *f = (corio_watch_changed_fut *)base;
    corio_watch_rx *rx = f->rx;
    if (!rx) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    chan *c = rx->c;
    /* Polled again while queued (a select's other branch woke the task,
     * or a new waker): stay queued unless there is news. */
    if (waiter_state(&f->w_) == W_QUEUED &&
        waitq_news_repoll(&c->wq, &c->waiting, &f->w_, corio_context_waker(cx), has_news_any, rx))
        return CORIO_PENDING;
    f->w_.state_ = W_IDLE; /* nobody else touches it from here */
    for (;;) {
        int rc = changed_try(rx);
        if (rc != -EAGAIN) {
            base->result = rc;
            return CORIO_READY;
        }
        if (waitq_news_park(&c->wq, &c->waiting, &f->w_, corio_context_waker(cx), has_news_any, rx))
            return CORIO_PENDING;
    }
}

static void changed_drop(corio_future *base)
{
    corio_watch_changed_fut *f = (corio_watch_changed_fut *)base;
    if (waiter_state(&f->w_) == W_QUEUED)
        waitq_news_drop(&f->rx->c->wq, &f->rx->c->waiting, &f->w_);
    f->w_.state_ = W_IDLE;
}

static const corio_future_vtable changed_vtable = {changed_poll, changed_drop};

void corio_watch_changed_fut_init(corio_watch_changed_fut *f, corio_watch_rx *rx)
{
    if (!f)
        return;
    corio_future_init(&f->base, &changed_vtable);
    f->rx = rx;
    waiter_init(&f->w_);
}

int corio_watch_changed(corio_watch_rx *rx)
{
    if (!rx)
        return -EINVAL;
    int ctx = sync_enter();
    if (ctx < 0)
        return ctx;
    int rc = changed_try(rx);
    if (rc != -EAGAIN) {
        if (rc == 0)
            sync_ready(ctx);
        return rc;
    }
    corio_watch_changed_fut f;
    corio_watch_changed_fut_init(&f, rx);
    rc = sync_wait(&f.base);
    return rc ? rc : f.base.result;
}
