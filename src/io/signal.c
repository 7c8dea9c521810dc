/* io/signal.c - waiting for Unix signals (corio/signal.h).
 *
 * One process-wide hub: a delivery counter per signal, a self-pipe, and the
 * list of waiting listeners' futures (of any runtimes) under a mutex. The
 * handler (async-signal-safe) increments the signal's counter, then writes
 * a byte to the pipe. Every runtime whose tasks wait for signals watches
 * the pipe's read end in its reactor (reactor_shared_reg), with dispatch()
 * as the hook its events call: drain the pipe, then, under the mutex, wake
 * every waiter whose signal's counter moved past what it saw.
 *
 * No delivery is lost: the handler counts before it writes; a dispatch
 * drains before it looks at the counters; a waiter looks at its counter
 * and queues itself in one critical section. So a count a waiter missed
 * was made before a byte that no dispatch had drained yet when it queued;
 * the dispatch that drains that byte - in whichever runtime - looks at the
 * counters after, with the waiter in the list. (Draining is what makes an
 * edge vanish for the other reactors' pollers: epoll re-checks the pipe
 * before it reports; that is why the waking is done by the drainer, for
 * every runtime, and not through each reactor's own readiness.)
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
#include "core/worker.h"

#define NSIGS 65 /* 1..64 */

static struct {
    pthread_mutex_t mu; /* installing handlers, making the pipe, `waiters` */
    int pipe_r, pipe_w; /* -1 until the first open */
    _Atomic uint64_t count[NSIGS];
    bool installed[NSIGS];
    corio_signal_recv_fut *waiters; /* pending futures, through next_ */
} hub = {PTHREAD_MUTEX_INITIALIZER, -1, -1, {0}, {0}, NULL};

struct corio_signal {
    int signum;
    uint64_t seen; /* the counter's value last taken */
};

static void on_signal(int signum)
{
    int saved = errno;
    /* SeqCst: ordered before the write below, whose byte a dispatch
     * drains before it reads the count. */
    atomic_fetch_add_explicit(&hub.count[signum], 1, memory_order_seq_cst);
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

static uint64_t count_of(int signum)
{
    return atomic_load_explicit(&hub.count[signum], memory_order_seq_cst);
}

static void unlink_waiter(corio_signal_recv_fut *f)
{
    if (f->prev_)
        f->prev_->next_ = f->next_;
    else
        hub.waiters = f->next_;
    if (f->next_)
        f->next_->prev_ = f->prev_;
    f->next_ = f->prev_ = NULL;
    f->queued_ = 0;
}

/* The reactors' hook for the pipe: on the turn's thread. Returns how many
 * waiters it woke (of any runtime): the turn counts them, as it counts the
 * fds' waiters (reactor_turn). */
static unsigned dispatch(void)
{
    char buf[64];
    unsigned woken = 0;
    while (read(hub.pipe_r, buf, sizeof buf) > 0)
        ;
    for (;;) {
        corio_waker batch[16];
        unsigned n = 0;
        pthread_mutex_lock(&hub.mu);
        corio_signal_recv_fut *f = hub.waiters;
        while (f && n < 16) {
            corio_signal_recv_fut *next = f->next_;
            if (count_of(f->s_->signum) != f->s_->seen) {
                unlink_waiter(f);
                batch[n++] = f->waker_;
                f->waker_ = CORIO_WAKER_NONE;
            }
            f = next;
        }
        pthread_mutex_unlock(&hub.mu);
        for (unsigned i = 0; i < n; i++)
            corio_waker_wake(&batch[i]);
        woken += n;
        if (n < 16)
            return woken;
    }
}

static corio_poll recv_poll(corio_future *base, corio_context *cx)
{
    corio_signal_recv_fut *f = (corio_signal_recv_fut *)base;
    corio_signal *s = f->s_;
    if (!s) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    if (!f->watched_) {
        worker *w = worker_current();
        if (!w || !w->io) {
            base->result = CORIO_EWRONGCTX;
            return CORIO_READY;
        }
        int rc = reactor_shared_reg(w->io, hub.pipe_r, dispatch);
        if (rc < 0) {
            base->result = rc;
            return CORIO_READY;
        }
        f->watched_ = 1;
    }
    pthread_mutex_lock(&hub.mu);
    uint64_t c = count_of(s->signum);
    if (c != s->seen) {
        s->seen = c;
        if (f->queued_)
            unlink_waiter(f);
        pthread_mutex_unlock(&hub.mu);
        corio_waker_drop(&f->waker_);
        base->result = 0;
        return CORIO_READY;
    }
    if (!f->queued_) {
        f->waker_ = corio_waker_clone(corio_context_waker(cx));
        f->prev_ = NULL;
        f->next_ = hub.waiters;
        if (hub.waiters)
            hub.waiters->prev_ = f;
        hub.waiters = f;
        f->queued_ = 1;
    } else {
        corio_waker_store(&f->waker_, corio_context_waker(cx));
    }
    pthread_mutex_unlock(&hub.mu);
    return CORIO_PENDING;
}

static void recv_drop(corio_future *base)
{
    corio_signal_recv_fut *f = (corio_signal_recv_fut *)base;
    pthread_mutex_lock(&hub.mu);
    if (f->queued_)
        unlink_waiter(f);
    pthread_mutex_unlock(&hub.mu);
    corio_waker_drop(&f->waker_);
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

int corio_signal_ctrl_c(void)
{
    corio_signal *s;
    int rc = corio_signal_open(SIGINT, &s);
    if (rc < 0)
        return rc;
    rc = corio_signal_recv(s);
    corio_signal_close(s);
    return rc;
}
