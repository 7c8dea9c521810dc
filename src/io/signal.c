/* io/signal.c - waiting for Unix signals (corio/signal.h).
 *
 * One process-wide hub: a delivery counter per signal and a self-pipe. The
 * handler (async-signal-safe) increments the signal's counter, then writes
 * a byte to the pipe. Every runtime whose tasks wait for signals has the
 * pipe's read end registered in its reactor (reactor_shared_reg): a write
 * wakes the waiters of every such runtime at once.
 *
 * A listener remembers the counter's value it has seen. Its poll:
 *   1. the counter moved since: ready (and it takes the new value);
 *   2. else, if the pipe's registration is not ready, wait in it;
 *   3. else drain the pipe (any listener may: the bytes carry nothing, the
 *      counters do), clear the readiness with the tick seen, and go to 1.
 * The handler counts before it writes, and a listener looks at the counter
 * after every drain and before it waits, so a delivery is seen either by
 * that look or through the edge its byte makes: none is lost.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "corio/signal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/coro.h"
#include "corio/error.h"
#include "io/reactor.h"
#include "rt/runtime.h"

#define NSIGS 65 /* 1..64 */

static struct {
    pthread_mutex_t mu; /* installing handlers, making the pipe */
    int pipe_r, pipe_w; /* -1 until the first open */
    _Atomic uint64_t count[NSIGS];
    bool installed[NSIGS];
} hub = {PTHREAD_MUTEX_INITIALIZER, -1, -1, {0}, {0}};

struct corio_signal {
    int signum;
    uint64_t seen; /* the counter's value last taken */
};

static void on_signal(int signum)
{
    int saved = errno;
    /* Relaxed is enough for the count itself; the write below (a system
     * call) orders it before the byte any listener reads. */
    atomic_fetch_add_explicit(&hub.count[signum], 1, memory_order_relaxed);
    char b = (char)signum;
    ssize_t r = write(hub.pipe_w, &b, 1); /* EAGAIN: full, readable anyway */
    (void)r;
    errno = saved;
}

static bool catchable(int signum)
{
    if (signum <= 0 || signum >= NSIGS || signum >= NSIG)
        return false;
    switch (signum) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGTRAP:
        return false;
    default:
        return true;
    }
}

/* Under hub.mu. */
static int make_pipe(void)
{
    if (hub.pipe_r >= 0)
        return 0;
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
        return -errno;
    hub.pipe_r = p[0];
    __atomic_store_n(&hub.pipe_w, p[1], __ATOMIC_RELEASE);
    return 0;
}

int corio_signal_open(int signum, corio_signal **out)
{
    if (out)
        *out = NULL;
    if (!out || !catchable(signum))
        return -EINVAL;
    corio_signal *s = malloc(sizeof *s);
    if (!s)
        return -ENOMEM;
    pthread_mutex_lock(&hub.mu);
    int rc = make_pipe();
    if (rc == 0 && !hub.installed[signum]) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(signum, &sa, NULL) < 0)
            rc = -errno; /* e.g. a number the C library keeps for itself */
        else
            hub.installed[signum] = true;
    }
    /* Acquire: deliveries counted before this value are not ours. */
    s->signum = signum;
    s->seen = atomic_load_explicit(&hub.count[signum], memory_order_acquire);
    pthread_mutex_unlock(&hub.mu);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void corio_signal_close(corio_signal *s)
{
    free(s);
}

int corio_signal_number(const corio_signal *s)
{
    return s ? s->signum : 0;
}

/* ---- the future ------------------------------------------------------------------- */

static void drain(int fd)
{
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0)
        ;
}

static corio_poll recv_poll(corio_future *base, corio_context *cx)
{
    corio_signal_recv_fut *f = (corio_signal_recv_fut *)base;
    corio_signal *s = f->s_;
    if (!s) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    io_reg *g = f->reg_;
    if (!g) {
        corio_rt *rt = rt_current();
        if (!rt) {
            base->result = CORIO_EWRONGCTX;
            return CORIO_READY;
        }
        int rc = reactor_shared_reg(rt->io, hub.pipe_r, &g);
        if (rc < 0) {
            base->result = rc;
            return CORIO_READY;
        }
        f->reg_ = g;
    }
    for (;;) {
        uint64_t c = atomic_load_explicit(&hub.count[s->signum], memory_order_acquire);
        if (c != s->seen) {
            s->seen = c;
            io_waiter_drop(g, &f->w_);
            base->result = 0;
            return CORIO_READY;
        }
        uint64_t seen;
        if (io_reg_poll_ready(g, &f->w_, IO_READ_BITS, cx, &seen) == CORIO_PENDING)
            return CORIO_PENDING;
        if (seen & (IO_SHUTDOWN | IO_CLOSED)) {
            base->result = CORIO_ESHUTDOWN;
            return CORIO_READY;
        }
        drain(g->fd);
        io_reg_clear(g, seen, IO_READ_BITS);
    }
}

static void recv_drop(corio_future *base)
{
    corio_signal_recv_fut *f = (corio_signal_recv_fut *)base;
    if (f->reg_)
        io_waiter_drop(f->reg_, &f->w_);
}

static const corio_future_vtable recv_vt = {recv_poll, recv_drop};

void corio_signal_recv_fut_init(corio_signal_recv_fut *f, corio_signal *s)
{
    if (!f)
        return;
    memset(f, 0, sizeof *f);
    f->s_ = s;
    corio_future_init(&f->base, &recv_vt);
}

int corio_signal_recv(corio_signal *s)
{
    if (!s)
        return -EINVAL;
    corio_signal_recv_fut f;
    corio_signal_recv_fut_init(&f, s);
    int rc = corio_await(&f.base);
    return rc ? rc : f.base.result;
}

int corio_ctrl_c(void)
{
    corio_signal *s;
    int rc = corio_signal_open(SIGINT, &s);
    if (rc < 0)
        return rc;
    rc = corio_signal_recv(s);
    corio_signal_close(s);
    return rc;
}
