/* io/fd.c - the async fd (corio/io.h) and the operation engine (io/fd.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "io/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/coro.h"
#include "corio/error.h"
#include "core/worker.h"

/* ---- the engine -------------------------------------------------------------- */

/* What a ready word means for an operation that cannot go on: 0 if it can. */
static inline ssize_t ready_error(uint64_t seen)
{
    if (__builtin_expect(!(seen & (IO_CLOSED | IO_SHUTDOWN)), 1))
        return 0;
    return (seen & IO_CLOSED) ? -EBADF : CORIO_ESHUTDOWN;
}

/* Try `call` once the word `seen` says ready: CORIO_READY with *res, or
 * CORIO_PENDING when it said EAGAIN (readiness cleared: wait again). */
static inline corio_poll try_call(corio_fd *f, uint64_t seen, uint32_t bits, io_call_fn call,
                                  void *arg, ssize_t *res)
{
    ssize_t n = ready_error(seen);
    if (n == 0) {
        bool drained = false;
        do
            n = call(f->reg.fd, arg, &drained);
        while (n == -EINTR);
        if (n == -EAGAIN) {
            io_reg_clear(&f->reg, seen, bits);
            return CORIO_PENDING;
        }
        /* A short read on an FD_MSG fd may leave more queued: there only
         * EAGAIN clears readiness. */
        if (drained && !((f->flags & FD_MSG) && (bits & DRV_READABLE)))
            io_reg_clear(&f->reg, seen, bits & (DRV_READABLE | DRV_WRITABLE));
    }
    *res = n;
    return CORIO_READY;
}

corio_poll fd_io_poll(corio_fd *f, uint32_t bits, corio_io_waiter_ *w, corio_context *cx,
                      io_call_fn call, void *arg, ssize_t *res)
{
    for (;;) {
        uint64_t seen;
        if (io_reg_poll_ready(&f->reg, w, bits, cx, &seen) == CORIO_PENDING)
            return CORIO_PENDING;
        if (try_call(f, seen, bits, call, arg, res) == CORIO_READY)
            return CORIO_READY;
    }
}

typedef struct io_call_fut {
    corio_future base;
    corio_fd *f;
    uint32_t bits;
    io_call_fn call;
    void *arg;
    ssize_t res;
    corio_io_waiter_ w;
} io_call_fut;

static corio_poll io_call_fut_poll(corio_future *base, corio_context *cx)
{
    io_call_fut *fut = (io_call_fut *)base;
    return fd_io_poll(fut->f, fut->bits, &fut->w, cx, fut->call, fut->arg, &fut->res);
}

static void io_call_fut_drop(corio_future *base)
{
    io_call_fut *fut = (io_call_fut *)base;
    io_waiter_drop(&fut->f->reg, &fut->w);
}

static const corio_future_vtable io_call_fut_vt = {io_call_fut_poll, io_call_fut_drop};

ssize_t fd_io(corio_fd *f, uint32_t bits, io_call_fn call, void *arg)
{
    int rc = coro_await_enter();
    if (rc)
        return rc;
    /* The common case, ready at once: no future, no waiter. */
    uint64_t seen = io_reg_load(&f->reg);
    if (seen & bits) {
        ssize_t res;
        if (try_call(f, seen, bits, call, arg, &res) == CORIO_READY) {
            coro_await_ready();
            return res;
        }
    }
    io_call_fut fut = {.f = f, .bits = bits, .call = call, .arg = arg};
    corio_future_init(&fut.base, &io_call_fut_vt);
    rc = corio_await(&fut.base);
    return rc ? rc : fut.res;
}

/* A read of no bytes, inside a coroutine task: 0 at once, as read(2) of 0
 * bytes gives, without waiting for readiness (an idle stream may never be
 * readable). Still an await that is ready at once: an interrupted task gets
 * its code, plain code CORIO_EWRONGCTX, as from any read. */
static ssize_t fd_io_empty(void)
{
    int rc = coro_await_enter();
    if (rc)
        return rc;
    coro_await_ready();
    return 0;
}

/* ---- opening and closing ------------------------------------------------------ */

/* The calling task's reactor; NULL in plain code (CORIO_EWRONGCTX). A
 * runtime that is shutting down has one, which refuses new registrations
 * (reactor_refuse: CORIO_ESHUTDOWN from io_reg_open). */
static struct reactor *reactor_here(void)
{
    worker *w = worker_current();
    return w ? w->io : NULL;
}

int fd_adopt(int fd, size_t size, unsigned flags, corio_fd **out)
{
    struct reactor *io = reactor_here();
    if (!io)
        return CORIO_EWRONGCTX;
    io_reg *g;
    int rc = io_reg_open(io, fd, size, &g);
    if (rc < 0)
        return rc;
    corio_fd *f = (corio_fd *)g;
    f->flags = flags;
    *out = f;
    return 0;
}

int fd_open_sized(int fd, size_t size, unsigned flags, corio_fd **out)
{
    struct reactor *io = reactor_here();
    if (!io)
        return CORIO_EWRONGCTX;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return -EPERM;
    if (S_ISSOCK(st.st_mode)) {
        int type;
        socklen_t tl = sizeof type;
        flags |= FD_SOCK;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM)
            flags |= FD_MSG;
    } else if (!S_ISFIFO(st.st_mode)) {
        flags |= FD_MSG;
    }
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    io_reg *g;
    int rc = io_reg_open(io, fd, size, &g);
    if (rc < 0) {
        if (!(fl & O_NONBLOCK))
            fcntl(fd, F_SETFL, fl);
        return rc;
    }
    corio_fd *f = (corio_fd *)g;
    f->flags = flags;
    *out = f;
    return 0;
}

int corio_fd_open(int fd, corio_fd **out)
{
    if (out)
        *out = NULL; /* on every failure (docs/conventions.md) */
    if (fd < 0 || !out)
        return -EINVAL;
    return fd_open_sized(fd, sizeof(corio_fd), 0, out);
}

int corio_fd_close(corio_fd *f)
{
    if (!f)
        return 0;
    int fd = f->reg.fd;
    io_reg_close(&f->reg); /* f may be freed from here on */
    return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

int corio_fd_release(corio_fd *f, int *fd)
{
    if (fd)
        *fd = -1;
    if (!f || !fd)
        return -EINVAL;
    *fd = f->reg.fd;
    io_reg_close(&f->reg);
    return 0;
}

int corio_fd_raw(const corio_fd *f)
{
    return f ? f->reg.fd : -1;
}

/* ---- readiness ------------------------------------------------------------------ */

static uint32_t interest_bits(unsigned interest)
{
    uint32_t bits = 0;
    if (interest & CORIO_READABLE)
        bits |= IO_READ_BITS;
    if (interest & CORIO_WRITABLE)
        bits |= IO_WRITE_BITS;
    return bits;
}

static corio_poll wait_poll(corio_future *base, corio_context *cx)
{
    corio_fd_wait_fut *fut = (corio_fd_wait_fut *)base;
    uint32_t bits = interest_bits(fut->interest_);
    if (!fut->fd_ || !bits) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    uint64_t seen;
    if (io_reg_poll_ready(&fut->fd_->reg, &fut->w_, bits, cx, &seen) == CORIO_PENDING)
        return CORIO_PENDING;
    base->result = (int)ready_error(seen);
    if (base->result == 0) {
        unsigned dirs = 0;
        if (seen & (IO_READ_BITS & ~(uint32_t)(IO_CLOSED | IO_SHUTDOWN)))
            dirs |= CORIO_READABLE;
        if (seen & (IO_WRITE_BITS & ~(uint32_t)(IO_CLOSED | IO_SHUTDOWN)))
            dirs |= CORIO_WRITABLE;
        fut->ready.dirs = dirs & fut->interest_;
        fut->ready.seen_ = seen;
    }
    return CORIO_READY;
}

static void wait_drop(corio_future *base)
{
    corio_fd_wait_fut *fut = (corio_fd_wait_fut *)base;
    if (fut->fd_)
        io_waiter_drop(&fut->fd_->reg, &fut->w_);
}

static const corio_future_vtable wait_vt = {wait_poll, wait_drop};

void corio_fd_wait_fut_init(corio_fd_wait_fut *fut, corio_fd *f, unsigned interest)
{
    if (!fut)
        return;
    *fut = (corio_fd_wait_fut){.fd_ = f, .interest_ = interest};
    corio_future_init(&fut->base, &wait_vt);
}

int corio_fd_wait(corio_fd *f, unsigned interest, corio_fd_ready *ready)
{
    if (!f || !interest_bits(interest))
        return -EINVAL;
    corio_fd_wait_fut fut;
    corio_fd_wait_fut_init(&fut, f, interest);
    int rc = corio_await(&fut.base);
    if (rc)
        return rc;
    if (fut.base.result == 0 && ready)
        *ready = fut.ready;
    return fut.base.result;
}

void corio_fd_clear_ready(corio_fd *f, const corio_fd_ready *ready, unsigned interest)
{
    if (!f || !ready)
        return;
    io_reg_clear(&f->reg, ready->seen_, interest_bits(interest));
}

/* ---- reading and writing ----------------------------------------------------------- */

static size_t clamp_len(size_t len)
{
    /* A future's result is an int; Linux moves at most 0x7ffff000 a call. */
    return len > INT_MAX ? INT_MAX : len;
}

ssize_t fd_io_result(ssize_t n, size_t len, bool reading, bool *drained)
{
    if (n < 0)
        return -errno;
    *drained = (size_t)n < len && (n > 0 || !reading);
    return n;
}

static ssize_t read_call(int fd, void *arg, bool *drained)
{
    io_buf *a = arg;
    return fd_io_result(read(fd, a->buf, a->len), a->len, true, drained);
}

/* On a socket, recv rather than read: the same bytes, without the file
 * layer's position handling on the way (fdget_pos, vfs_read): about 0.3 us
 * a message less kernel time in tcp_echo on two workers. */
ssize_t fd_recv_call(int fd, void *arg, bool *drained)
{
    io_buf *a = arg;
    return fd_io_result(recv(fd, a->buf, a->len, 0), a->len, true, drained);
}

static ssize_t write_call(int fd, void *arg, bool *drained)
{
    io_buf *a = arg;
    return fd_io_result(write(fd, a->buf, a->len), a->len, false, drained);
}

ssize_t fd_send_call(int fd, void *arg, bool *drained)
{
    io_buf *a = arg;
    return fd_io_result(send(fd, a->buf, a->len, MSG_NOSIGNAL), a->len, false, drained);
}

io_call_fn fd_reader(const corio_fd *f)
{
    return (f->flags & FD_SOCK) ? fd_recv_call : read_call;
}

io_call_fn fd_writer(const corio_fd *f)
{
    return (f->flags & FD_SOCK) ? fd_send_call : write_call;
}

ssize_t corio_fd_read(corio_fd *f, void *buf, size_t len)
{
    if (!f || (!buf && len))
        return -EINVAL;
    if (len == 0)
        return fd_io_empty();
    io_buf a = {buf, clamp_len(len)};
    return fd_io(f, IO_READ_BITS, fd_reader(f), &a);
}

ssize_t corio_fd_write(corio_fd *f, const void *buf, size_t len)
{
    if (!f || (!buf && len))
        return -EINVAL;
    io_buf a = {(void *)buf, clamp_len(len)};
    return fd_io(f, IO_WRITE_BITS, fd_writer(f), &a);
}

/* The public future: its own storage holds the call's arguments. */
static corio_poll rw_poll(corio_future *base, corio_context *cx, uint32_t bits, io_call_fn call)
{
    corio_fd_io_fut *fut = (corio_fd_io_fut *)base;
    if (!fut->fd_ || (!fut->buf_ && fut->len_)) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    if (fut->len_ == 0 && bits == IO_READ_BITS) { /* as corio_fd_read: no wait */
        base->result = 0;
        return CORIO_READY;
    }
    io_buf a = {fut->buf_, fut->len_};
    ssize_t res;
    if (fd_io_poll(fut->fd_, bits, &fut->w_, cx, call, &a, &res) == CORIO_PENDING)
        return CORIO_PENDING;
    base->result = (int)res;
    return CORIO_READY;
}

static corio_poll read_fut_poll(corio_future *base, corio_context *cx)
{
    corio_fd_io_fut *fut = (corio_fd_io_fut *)base;
    return rw_poll(base, cx, IO_READ_BITS, fut->fd_ ? fd_reader(fut->fd_) : read_call);
}

static corio_poll write_fut_poll(corio_future *base, corio_context *cx)
{
    corio_fd_io_fut *fut = (corio_fd_io_fut *)base;
    return rw_poll(base, cx, IO_WRITE_BITS, fut->fd_ ? fd_writer(fut->fd_) : write_call);
}

static void rw_drop(corio_future *base)
{
    corio_fd_io_fut *fut = (corio_fd_io_fut *)base;
    if (fut->fd_)
        io_waiter_drop(&fut->fd_->reg, &fut->w_);
}

static const corio_future_vtable read_vt = {read_fut_poll, rw_drop};
static const corio_future_vtable write_vt = {write_fut_poll, rw_drop};

void corio_fd_read_fut_init(corio_fd_io_fut *fut, corio_fd *f, void *buf, size_t len)
{
    if (!fut)
        return;
    *fut = (corio_fd_io_fut){.fd_ = f, .buf_ = buf, .len_ = clamp_len(len)};
    corio_future_init(&fut->base, &read_vt);
}

void corio_fd_write_fut_init(corio_fd_io_fut *fut, corio_fd *f, const void *buf, size_t len)
{
    if (!fut)
        return;
    *fut = (corio_fd_io_fut){.fd_ = f, .buf_ = (void *)buf, .len_ = clamp_len(len)};
    corio_future_init(&fut->base, &write_vt);
}
