/* io/reactor.h - registered fds, their readiness, and the turn that wakes
 * the tasks waiting on them (internal).
 *
 * One reactor per runtime. It owns the backend (io/driver.h) and a
 * registration (io_reg) per fd made async. A turn asks the backend what
 * fired, records it in each registration's readiness word and wakes the
 * waiters that wanted it: the backend reports, the reactor wakes.
 *
 * Readiness word (io_reg.readiness): the low 32 bits are the DRV_* bits
 * seen since they were last cleared, plus IO_SHUTDOWN and IO_CLOSED; the
 * high 32 bits are a tick that every event increments. An operation that
 * finds the fd ready remembers the whole word, tries its system call, and
 * on EAGAIN clears the bits only if the tick has not moved (io_reg_clear):
 * an edge that arrived while the call was in progress keeps the bits set,
 * so the operation tries again instead of waiting for an edge that already
 * came (tokio's scheduled_io tick scheme). A tick wraps after 2^32 events,
 * which no system call outlasts.
 *
 * Invariants:
 *  - Only a turn sets DRV_* bits; only io_reg_clear takes them off, and
 *    only with an unchanged tick. IO_SHUTDOWN and IO_CLOSED are never
 *    cleared; with either set every poll is ready (and the operation
 *    reports CORIO_ESHUTDOWN or -EBADF).
 *  - A waiter (corio_io_waiter_, in a pending future) is in its
 *    registration's list iff `queued_`; the list, the waiters' wakers and
 *    `queued_` are touched only under the registration's lock. A turn sets
 *    the bits before it takes the lock, and a waiter reads them under the
 *    lock before it queues itself: whichever takes the lock second sees the
 *    other's work, so no wake is lost.
 *  - Wakers are woken after the lock is dropped.
 *  - Turns are made by one thread at a time (the runtime's driver holder).
 *    A registration closed by io_reg_close is taken out of the backend at
 *    once but freed only at the start of a later turn: the turn that may
 *    have copied out an event for it has ended by then. After the reactor
 *    is closed (runtime freed) no turn comes, and a close frees at once.
 *  - The reactor's memory lives until the runtime has closed it and every
 *    registration has been freed (a reference each).
 */
#ifndef CORIO_IO_REACTOR_H
#define CORIO_IO_REACTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/spin.h"
#include "corio/future.h"
#include "corio/io.h"
#include "io/driver.h"

typedef struct reactor reactor;

enum {
    IO_SHUTDOWN = 1u << 8, /* the runtime is gone */
    IO_CLOSED = 1u << 9,   /* io_reg_close was called */
    IO_HOOK = 1u << 10,    /* the reactor's shared registration: its events
                            * call the hook instead (reactor_shared_reg) */
    /* what a reader and a writer wait for */
    IO_READ_BITS = DRV_READABLE | DRV_READ_CLOSED | DRV_ERROR | IO_SHUTDOWN | IO_CLOSED,
    IO_WRITE_BITS = DRV_WRITABLE | DRV_WRITE_CLOSED | DRV_ERROR | IO_SHUTDOWN | IO_CLOSED,
};

typedef struct io_reg {
    _Atomic uint64_t readiness; /* tick << 32 | bits */
    spinlock lock;              /* over `waiters` */
    int fd;
    reactor *r;
    corio_io_waiter_ *waiters;
    struct io_reg *next, *prev; /* the reactor's list, under its mutex */
} io_reg;

/* ---- the runtime's side ------------------------------------------------------ */

int reactor_open(reactor **out);
/* The runtime has closed to new tasks (its shutdown began): a registration
 * asked for from now on gets CORIO_ESHUTDOWN, as a spawn does. The ones
 * open keep working until reactor_close. Without it, the cleanup of a
 * cancelled task could open an fd or a socket whose every wait was doomed
 * (CORIO_ECANCELED in that task, CORIO_ESHUTDOWN anywhere else once the
 * reactor was gone), where corio/io.h promises CORIO_ESHUTDOWN at once. */
void reactor_refuse(reactor *r);
/* The runtime is going away: no turn will come again. Every registration
 * still open becomes IO_SHUTDOWN and its waiters are woken; the backend is
 * closed. The memory goes when the last registration is freed. */
void reactor_close(reactor *r);
/* Poll the backend (timeout as driver_poll's), record readiness, wake the
 * waiters. One thread at a time. Returns how many waiters were woken, the
 * shared registration's hook's wakes included (a caller may sleep on a 0:
 * the turn woke nobody), or a negative errno. */
int reactor_turn(reactor *r, int64_t timeout_ns);
/* Make a turn in progress return (any thread, async-signal-safe). */
void reactor_unpark(reactor *r);
/* Watch a process-wide fd in this reactor (the signal pipe's read end,
 * io/signal.c): every event for it calls hook() on the turn's thread,
 * instead of waking waiters; the hook returns how many wakers it woke,
 * which the turn counts in its result. Made at the first call (later
 * calls, with the same fd and hook, find it made); freed with the reactor.
 * 0, or io_reg_open's codes. */
int reactor_shared_reg(reactor *r, int fd, unsigned (*hook)(void));

/* Registrations open now (relaxed: a hint for "worth a non-blocking turn"). */
static inline unsigned reactor_regs(const reactor *r);

/* ---- the operations' side ---------------------------------------------------- */

/* Register `fd` (already non-blocking) with `r`, in a zeroed allocation of
 * `size` bytes that begins with the io_reg (the owner's struct: freed with
 * it). 0, or a negative errno from the backend (-EPERM for a regular file),
 * -ENOMEM, CORIO_ESHUTDOWN. The registration starts out readable and
 * writable, so the first operation tries its system call at once. */
int io_reg_open(reactor *r, int fd, size_t size, io_reg **out);
/* Take `g` out of the backend and mark it IO_CLOSED (waiters still queued
 * are woken); free it once no turn can see it. Does not close the fd. */
void io_reg_close(io_reg *g);

/* Ready for `bits` (IO_READ_BITS or IO_WRITE_BITS)? Returns CORIO_READY
 * with the readiness word in *seen, or queues `w` (storing cx's waker) and
 * returns CORIO_PENDING. */
corio_poll io_reg_poll_ready(io_reg *g, corio_io_waiter_ *w, uint32_t bits, corio_context *cx,
                             uint64_t *seen);
/* A future that may have queued `w` is dropped (or done): unqueue it, drop
 * its waker. */
void io_waiter_drop(io_reg *g, corio_io_waiter_ *w);

/* The readiness word, acquire: what a turn recorded with it is visible. */
static inline uint64_t io_reg_load(io_reg *g)
{
    return atomic_load_explicit(&g->readiness, memory_order_acquire);
}

/* An operation found `seen`'s bits ready, but its system call said EAGAIN
 * (or moved less than it could: pass only DRV_READABLE / DRV_WRITABLE then,
 * as an end of stream may be waiting behind the data): take `bits` off,
 * unless an event came since (the tick moved). EAGAIN also proves a
 * closed or error bit of its direction stale (a closed stream reads 0, an
 * error is returned, neither says EAGAIN), so those go too when named; the
 * IO_CLOSED and IO_SHUTDOWN bits never do. */
static inline void io_reg_clear(io_reg *g, uint64_t seen, uint32_t bits)
{
    uint64_t cur = seen;
    bits &= DRV_READABLE | DRV_WRITABLE | DRV_READ_CLOSED | DRV_WRITE_CLOSED | DRV_ERROR;
    while ((cur >> 32) == (seen >> 32) && (cur & bits)) {
        /* Relaxed: nothing is published by clearing. */
        if (atomic_compare_exchange_weak_explicit(&g->readiness, &cur, cur & ~(uint64_t)bits,
                                                  memory_order_relaxed, memory_order_relaxed))
            return;
    }
}

/* The readiness word a registration starts with (tick 0). */
#define IO_REG_INITIAL ((uint64_t)(DRV_READABLE | DRV_WRITABLE))

/* ---- inline parts ------------------------------------------------------------ */

struct reactor_head {
    _Atomic unsigned nregs;
};

static inline unsigned reactor_regs(const reactor *r)
{
    return atomic_load_explicit(&((const struct reactor_head *)(const void *)r)->nregs,
                                memory_order_relaxed);
}

#endif
