/* io/reactor.c - registrations, readiness, and the turn (io/reactor.h). */
#include "io/reactor.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "corio/error.h"

#define FIRED_CAP 256
#define WAKE_BATCH 16

struct reactor {
    struct reactor_head h; /* first: reactor_regs */
    driver *drv;
    pthread_mutex_t mu;    /* regs, released, closed, refs */
    io_reg *regs;          /* open registrations */
    io_reg *released;      /* closed, freed at the next turn (through `next`) */
    _Atomic int has_released;
    /* Counts registrations made. The kernel orders an epoll_ctl before the
     * events it reports for it, but the C memory model (and TSan) cannot
     * see that: a turn's acquire load of this, after its poll, makes a new
     * registration's initialisation (release, in io_reg_open) visible to
     * the thread that dispatches its first event. */
    _Atomic unsigned long made;
    bool closed;
    bool refusing; /* reactor_refuse: no new registration */
    pthread_mutex_t shared_mu;
    io_reg *shared;        /* reactor_shared_reg's, under shared_mu */
    unsigned (*hook)(void); /* its hook: set before it is registered */
    unsigned refs;         /* the runtime's, and one per registration not freed */
    driver_event fired[FIRED_CAP]; /* the turn holder's */
};

int reactor_open(reactor **out)
{
    reactor *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    int rc = driver_open(&r->drv);
    if (rc < 0) {
        free(r);
        return rc;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->shared_mu, NULL);
    r->refs = 1;
    *out = r;
    return 0;
}

static void reactor_unref(reactor *r, unsigned n)
{
    pthread_mutex_lock(&r->mu);
    bool last = (r->refs -= n) == 0;
    pthread_mutex_unlock(&r->mu);
    if (last) {
        pthread_mutex_destroy(&r->mu);
        pthread_mutex_destroy(&r->shared_mu);
        free(r);
    }
}

/* ---- waking ------------------------------------------------------------------ */

typedef struct wake_batch {
    corio_waker w[WAKE_BATCH];
    unsigned n;
} wake_batch;

static void batch_wake(wake_batch *b)
{
    for (unsigned i = 0; i < b->n; i++)
        corio_waker_wake(&b->w[i]);
    b->n = 0;
}

static void unlink_waiter(io_reg *g, corio_io_waiter_ *w)
{
    if (w->prev_)
        w->prev_->next_ = w->next_;
    else
        g->waiters = w->next_;
    if (w->next_)
        w->next_->prev_ = w->prev_;
    w->next_ = w->prev_ = NULL;
}

/* Wake every waiter of g that waits for one of `ready`'s bits. Returns how
 * many. Takes g's lock; a full batch is woken with the lock dropped, then
 * the scan starts over (the woken are no longer in the list). */
static unsigned wake_waiters(io_reg *g, uint32_t ready)
{
    wake_batch b;
    b.n = 0;
    unsigned woken = 0;
    spin_lock(&g->lock);
    corio_io_waiter_ *w = g->waiters;
    while (w) {
        corio_io_waiter_ *next = w->next_;
        if (w->bits_ & ready) {
            unlink_waiter(g, w);
            b.w[b.n++] = w->waker_;
            w->waker_ = CORIO_WAKER_NONE;
            /* Release: from here on the owner may see 0 without the lock
             * and free the future; we never touch w again. */
            __atomic_store_n(&w->queued_, 0, __ATOMIC_RELEASE);
            woken++;
            if (b.n == WAKE_BATCH) {
                spin_unlock(&g->lock);
                batch_wake(&b);
                spin_lock(&g->lock);
                next = g->waiters;
            }
        }
        w = next;
    }
    spin_unlock(&g->lock);
    batch_wake(&b);
    return woken;
}

/* Record `ready` in g's readiness (a new tick), then wake its waiters. */
static unsigned set_ready(io_reg *g, uint32_t ready)
{
    uint64_t cur = atomic_load_explicit(&g->readiness, memory_order_relaxed);
    uint64_t next;
    do {
        next = ((cur >> 32) + 1) << 32 | (uint32_t)cur | ready;
        /* Release: pairs with io_reg_load's acquire (an operation that sees
         * the bits sees the turn's view of the fd). The lock that
         * wake_waiters takes next orders the bits before any waiter's check
         * under it (the header's no-lost-wake argument). */
    } while (!atomic_compare_exchange_weak_explicit(&g->readiness, &cur, next,
                                                    memory_order_acq_rel, memory_order_relaxed));
    return wake_waiters(g, ready);
}

/* ---- the turn ----------------------------------------------------------------- */

static void free_released(reactor *r)
{
    pthread_mutex_lock(&r->mu);
    io_reg *list = r->released;
    r->released = NULL;
    atomic_store_explicit(&r->has_released, 0, memory_order_relaxed);
    unsigned n = 0;
    while (list) {
        io_reg *next = list->next;
        free(list);
        list = next;
        n++;
    }
    r->refs -= n; /* the runtime's own reference remains: never the last */
    pthread_mutex_unlock(&r->mu);
}

int reactor_turn(reactor *r, int64_t timeout_ns)
{
    /* Relaxed: a close that is not seen yet is freed at the next turn. */
    if (atomic_load_explicit(&r->has_released, memory_order_relaxed))
        free_released(r);
    int n = driver_poll(r->drv, timeout_ns, r->fired, FIRED_CAP);
    if (n <= 0)
        return n;
    (void)atomic_load_explicit(&r->made, memory_order_acquire);
    int woken = 0;
    for (int i = 0; i < n; i++) {
        io_reg *g = r->fired[i].token;
        /* Relaxed: IO_HOOK is set before the registration is published.
         * The hook's wakes count as the waiters' do: a worker's
         * non-blocking turn (multi_thread.c, maintenance) that woke a task
         * into its own LIFO slot and said 0 would park on top of it. */
        if (atomic_load_explicit(&g->readiness, memory_order_relaxed) & IO_HOOK)
            woken += (int)r->hook();
        else
            woken += (int)set_ready(g, r->fired[i].ready);
    }
    return woken;
}

void reactor_unpark(reactor *r)
{
    driver_unpark(r->drv);
}

void reactor_refuse(reactor *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->refusing = true;
    pthread_mutex_unlock(&r->mu);
}

void reactor_close(reactor *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->shared_mu);
    io_reg *shared = r->shared; /* the reactor's own: nobody else closes it */
    r->shared = NULL;
    pthread_mutex_unlock(&r->shared_mu);
    io_reg_close(shared);
    pthread_mutex_lock(&r->mu);
    r->closed = true;
    /* Waiters left now are futures of other runtimes' tasks (this one's
     * have all ended): wake them to see IO_SHUTDOWN. Their wakes take no
     * lock of ours. */
    for (io_reg *g = r->regs; g; g = g->next)
        set_ready(g, IO_SHUTDOWN);
    io_reg *list = r->released;
    r->released = NULL;
    unsigned n = 0;
    while (list) {
        io_reg *next = list->next;
        free(list);
        list = next;
        n++;
    }
    r->refs -= n;
    driver_close(r->drv);
    r->drv = NULL;
    pthread_mutex_unlock(&r->mu);
    reactor_unref(r, 1);
}

/* ---- registrations ------------------------------------------------------------- */

/* io_reg_open with `bits` in the readiness word from the start. */
static int reg_open(reactor *r, int fd, size_t size, uint64_t bits, io_reg **out)
{
    if (size < sizeof(io_reg))
        size = sizeof(io_reg);
    io_reg *g = calloc(1, size);
    if (!g)
        return -ENOMEM;
    atomic_init(&g->readiness, bits);
    spin_init(&g->lock);
    g->fd = fd;
    g->r = r;
    /* Before the add: its first event may be dispatched at once. */
    atomic_fetch_add_explicit(&r->made, 1, memory_order_release);
    pthread_mutex_lock(&r->mu);
    int rc = r->closed || r->refusing ? CORIO_ESHUTDOWN : driver_add(r->drv, fd, g);
    if (rc < 0) {
        pthread_mutex_unlock(&r->mu);
        free(g);
        return rc;
    }
    g->next = r->regs;
    if (r->regs)
        r->regs->prev = g;
    r->regs = g;
    r->refs++;
    atomic_fetch_add_explicit(&r->h.nregs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&r->mu);
    *out = g;
    return 0;
}

int io_reg_open(reactor *r, int fd, size_t size, io_reg **out)
{
    /* Ready both ways to begin with: the first operation tries its call. */
    return reg_open(r, fd, size, IO_REG_INITIAL, out);
}

int reactor_shared_reg(reactor *r, int fd, unsigned (*hook)(void))
{
    pthread_mutex_lock(&r->shared_mu);
    int rc = 0;
    if (!r->shared) {
        r->hook = hook;
        rc = reg_open(r, fd, sizeof(io_reg), IO_HOOK, &r->shared);
    }
    pthread_mutex_unlock(&r->shared_mu);
    return rc;
}

void io_reg_close(io_reg *g)
{
    if (!g)
        return;
    reactor *r = g->r;
    set_ready(g, IO_CLOSED);
    pthread_mutex_lock(&r->mu);
    if (g->prev)
        g->prev->next = g->next;
    else
        r->regs = g->next;
    if (g->next)
        g->next->prev = g->prev;
    atomic_fetch_sub_explicit(&r->h.nregs, 1, memory_order_relaxed);
    if (!r->closed) {
        driver_del(r->drv, g->fd);
        g->next = r->released;
        r->released = g;
        atomic_store_explicit(&r->has_released, 1, memory_order_relaxed);
        pthread_mutex_unlock(&r->mu);
        return;
    }
    pthread_mutex_unlock(&r->mu);
    free(g);
    reactor_unref(r, 1);
}

corio_poll io_reg_poll_ready(io_reg *g, corio_io_waiter_ *w, uint32_t bits, corio_context *cx,
                             uint64_t *seen)
{
    uint64_t cur = io_reg_load(g);
    if (!(cur & bits)) {
        spin_lock(&g->lock);
        cur = atomic_load_explicit(&g->readiness, memory_order_acquire);
        if (!(cur & bits)) {
            if (!w->queued_) {
                w->bits_ = bits;
                w->waker_ = corio_waker_clone(corio_context_waker(cx));
                w->prev_ = NULL;
                w->next_ = g->waiters;
                if (g->waiters)
                    g->waiters->prev_ = w;
                g->waiters = w;
                /* Relaxed: read without the lock only by the owner (us). */
                __atomic_store_n(&w->queued_, 1, __ATOMIC_RELAXED);
            } else {
                corio_waker_store(&w->waker_, corio_context_waker(cx));
            }
            spin_unlock(&g->lock);
            return CORIO_PENDING;
        }
        spin_unlock(&g->lock);
    }
    io_waiter_drop(g, w);
    *seen = cur;
    return CORIO_READY;
}

void io_waiter_drop(io_reg *g, corio_io_waiter_ *w)
{
    /* Acquire: a turn that took us off wrote queued_ = 0 last. */
    if (__atomic_load_n(&w->queued_, __ATOMIC_ACQUIRE)) {
        spin_lock(&g->lock);
        if (w->queued_) {
            unlink_waiter(g, w);
            w->queued_ = 0;
        }
        spin_unlock(&g->lock);
    }
    corio_waker_drop(&w->waker_);
}
