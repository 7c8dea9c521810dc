/* net/tcp.c - TCP listeners and streams (corio/tcp.h).
 *
 * Both are async fds (io/fd.h) with a few fields more: every wait goes
 * through the fd engine, so readiness, cancellation and deadlines work the
 * same as for any fd. Sockets are made non-blocking and close-on-exec at
 * creation (accept4, SOCK_NONBLOCK), so registering them costs one
 * epoll_ctl and no fcntl. What TCP shares with Unix-domain streams
 * (accepting, scatter/gather, read_exact, write_all) is in net/stream.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "corio/tcp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio/error.h"
#include "io/fd.h"
#include "net/addr.h"
#include "net/stream.h"

/* Addresses tried for a host name. */
#define MAX_ADDRS 16

struct corio_tcp {
    corio_fd fd; /* first */
};

struct corio_tcp_listener {
    stream_listener s; /* first */
};

/* ---- listening ------------------------------------------------------------------------ */

static int listen_one(const corio_addr *a, const corio_tcp_listen_opts *o)
{
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    int rc = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (rc == 0 && o->reuseport)
        rc = setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (rc == 0 && a->sa.ss_family == AF_INET6) {
        int v6only = o->v6only;
        rc = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if (rc == 0)
        rc = bind(fd, (const struct sockaddr *)&a->sa, a->len);
    if (rc == 0)
        rc = listen(fd, o->backlog > 0 ? o->backlog : 1024);
    if (rc < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

int corio_tcp_listen_with(const char *addr, const corio_tcp_listen_opts *opts,
                          corio_tcp_listener **out)
{
    if (out)
        *out = NULL;
    if (!addr || !out)
        return -EINVAL;
    const corio_tcp_listen_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    char host[ADDR_HOST_MAX], port[8];
    int rc = addr_split(addr, host, port);
    if (rc < 0)
        return rc;
    corio_addr addrs[MAX_ADDRS];
    size_t n;
    if ((rc = addr_resolve(host, port, addrs, MAX_ADDRS, &n)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        int fd = listen_one(&addrs[i], opts);
        if (fd < 0) {
            rc = fd;
            continue;
        }
        corio_fd *f;
        if ((rc = fd_adopt(fd, sizeof(corio_tcp_listener), FD_SOCK, &f)) < 0) {
            close(fd);
            return rc;
        }
        *out = (corio_tcp_listener *)f;
        return 0;
    }
    return rc;
}

int corio_tcp_listen(const char *addr, int backlog, corio_tcp_listener **out)
{
    corio_tcp_listen_opts o = {.backlog = backlog};
    return corio_tcp_listen_with(addr, &o, out);
}

int corio_tcp_listener_local_addr(const corio_tcp_listener *l, corio_addr *out)
{
    if (!l || !out)
        return -EINVAL;
    return net_sock_addr(l->s.fd.reg.fd, out, 0);
}

int corio_tcp_listener_close(corio_tcp_listener *l)
{
    return l ? corio_fd_close(&l->s.fd) : 0;
}

/* ---- accepting -------------------------------------------------------------------------- */

static corio_poll accept_poll(corio_future *base, corio_context *cx)
{
    corio_tcp_accept_fut *f = (corio_tcp_accept_fut *)base;
    corio_fd *c;
    if (stream_accept_poll(f->l_ ? &f->l_->s : NULL, sizeof(corio_tcp), &f->err_, &f->backoff_,
                           &f->w_, cx, &c, &base->result) == CORIO_PENDING)
        return CORIO_PENDING;
    if (base->result == 0)
        f->stream = (corio_tcp *)c;
    return CORIO_READY;
}

static void accept_drop(corio_future *base)
{
    corio_tcp_accept_fut *f = (corio_tcp_accept_fut *)base;
    stream_accept_drop(f->l_ ? &f->l_->s : NULL, f->err_, &f->backoff_, &f->w_);
}

static const corio_future_vtable accept_vt = {accept_poll, accept_drop};

void corio_tcp_accept_fut_init(corio_tcp_accept_fut *f, corio_tcp_listener *l)
{
    if (!f)
        return;
    memset(f, 0, sizeof *f);
    f->l_ = l;
    corio_future_init(&f->base, &accept_vt);
}

int corio_tcp_accept(corio_tcp_listener *l, corio_tcp **out)
{
    if (out)
        *out = NULL;
    if (!l || !out)
        return -EINVAL;
    corio_tcp_accept_fut f;
    corio_tcp_accept_fut_init(&f, l);
    int rc = corio_await(&f.base);
    if (rc)
        return rc;
    if (f.base.result == 0)
        *out = f.stream;
    return f.base.result;
}

/* ---- connecting ------------------------------------------------------------------------- */

static corio_poll connect_fail(corio_tcp_connect_fut *f, int err)
{
    corio_fd_close(&f->stream->fd);
    f->stream = NULL;
    f->base.result = err;
    return CORIO_READY;
}

static corio_poll connect_poll(corio_future *base, corio_context *cx)
{
    corio_tcp_connect_fut *f = (corio_tcp_connect_fut *)base;
    if (!f->stream) {
        sa_family_t fam = f->addr_.sa.ss_family;
        if ((fam != AF_INET && fam != AF_INET6) || f->addr_.len == 0) {
            base->result = -EINVAL;
            return CORIO_READY;
        }
        int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            base->result = -errno;
            return CORIO_READY;
        }
        /* Connect first, register after: registered before, the socket
         * would report its unconnected state (EPOLLHUP) to a turn made in
         * between, and that is no edge of this connection. */
        int rc = connect(fd, (const struct sockaddr *)&f->addr_.sa, f->addr_.len) == 0
                     ? 0
                     : -errno;
        if (rc < 0 && rc != -EINPROGRESS) {
            close(fd);
            base->result = rc;
            return CORIO_READY;
        }
        corio_fd *cf;
        int reg = fd_adopt(fd, sizeof(corio_tcp), FD_SOCK, &cf);
        if (reg < 0) {
            close(fd);
            base->result = reg;
            return CORIO_READY;
        }
        f->stream = (corio_tcp *)cf;
        if (rc == 0) {
            base->result = 0;
            return CORIO_READY;
        }
        /* In progress: not writable until connected. Forget the
         * registration's optimistic start (unless an event came already:
         * getpeername below tells a stale one). */
        io_reg_clear(&cf->reg, IO_REG_INITIAL, DRV_WRITABLE);
    }
    io_reg *g = &f->stream->fd.reg;
    for (;;) {
        uint64_t seen;
        if (io_reg_poll_ready(g, &f->w_, IO_WRITE_BITS, cx, &seen) == CORIO_PENDING)
            return CORIO_PENDING;
        if (seen & IO_SHUTDOWN)
            return connect_fail(f, CORIO_ESHUTDOWN);
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(g->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err)
            return connect_fail(f, -err);
        /* Writable and no error: connected - unless the readiness was a
         * stale one, which getpeername tells. */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getpeername(g->fd, (struct sockaddr *)&ss, &sl) == 0) {
            base->result = 0;
            return CORIO_READY;
        }
        if (errno != ENOTCONN)
            return connect_fail(f, -errno);
        io_reg_clear(g, seen, IO_WRITE_BITS);
    }
}

static void connect_drop(corio_future *base)
{
    corio_tcp_connect_fut *f = (corio_tcp_connect_fut *)base;
    if (f->stream) {
        io_waiter_drop(&f->stream->fd.reg, &f->w_);
        corio_fd_close(&f->stream->fd);
        f->stream = NULL;
    }
}

static const corio_future_vtable connect_vt = {connect_poll, connect_drop};

void corio_tcp_connect_fut_init(corio_tcp_connect_fut *f, const corio_addr *addr)
{
    if (!f)
        return;
    memset(f, 0, sizeof *f);
    if (addr)
        f->addr_ = *addr;
    corio_future_init(&f->base, &connect_vt);
}

int corio_tcp_connect_addr(const corio_addr *addr, corio_tcp **out)
{
    if (out)
        *out = NULL;
    if (!addr || !out)
        return -EINVAL;
    corio_tcp_connect_fut f;
    corio_tcp_connect_fut_init(&f, addr);
    int rc = corio_await(&f.base);
    if (rc)
        return rc;
    if (f.base.result == 0)
        *out = f.stream;
    return f.base.result;
}

/* Codes after which trying the next address is pointless. Not
 * CORIO_ETIMEDOUT: it is -ETIMEDOUT, which is also the system's own answer
 * for one address that never replied (SYN retries spent), after which the
 * next address must still be tried. When it was the caller's deadline
 * instead, the next attempt's await returns CORIO_ETIMEDOUT at once
 * (deadlines are sticky) without making a socket, so nothing is lost. */
static bool final_error(int rc)
{
    return rc == CORIO_ECANCELED || rc == CORIO_EWRONGCTX || rc == CORIO_ESHUTDOWN ||
           rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM;
}

int corio_tcp_connect(const char *addr, corio_tcp **out)
{
    if (out)
        *out = NULL;
    if (!addr || !out)
        return -EINVAL;
    char host[ADDR_HOST_MAX], port[8];
    int rc = addr_split(addr, host, port);
    if (rc < 0)
        return rc;
    corio_addr addrs[MAX_ADDRS];
    size_t n;
    if ((rc = addr_resolve(host, port, addrs, MAX_ADDRS, &n)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        rc = corio_tcp_connect_addr(&addrs[i], out);
        if (rc == 0 || final_error(rc))
            return rc;
    }
    return rc;
}

/* ---- reading and writing ---------------------------------------------------------------- */

ssize_t corio_tcp_read(corio_tcp *c, void *buf, size_t len)
{
    return corio_fd_read(c ? &c->fd : NULL, buf, len);
}

ssize_t corio_tcp_write(corio_tcp *c, const void *buf, size_t len)
{
    return corio_fd_write(c ? &c->fd : NULL, buf, len);
}

ssize_t corio_tcp_readv(corio_tcp *c, const struct iovec *iov, int iovcnt)
{
    return stream_readv(c ? &c->fd : NULL, iov, iovcnt);
}

ssize_t corio_tcp_writev(corio_tcp *c, const struct iovec *iov, int iovcnt)
{
    return stream_writev(c ? &c->fd : NULL, iov, iovcnt);
}

/* ---- read_exact, write_all ---------------------------------------------------------------- */

static corio_poll exact_poll(corio_future *base, corio_context *cx)
{
    corio_tcp_exact_fut *f = (corio_tcp_exact_fut *)base;
    return stream_exact_poll(f->c_ ? &f->c_->fd : NULL, f->write_, f->buf_, f->len_, &f->done,
                             &f->w_, cx, &base->result);
}

static void exact_drop(corio_future *base)
{
    corio_tcp_exact_fut *f = (corio_tcp_exact_fut *)base;
    if (f->c_)
        io_waiter_drop(&f->c_->fd.reg, &f->w_);
}

static const corio_future_vtable exact_vt = {exact_poll, exact_drop};

static void exact_init(corio_tcp_exact_fut *f, corio_tcp *c, void *buf, size_t len, int write)
{
    if (!f)
        return;
    memset(f, 0, sizeof *f);
    f->c_ = c;
    f->buf_ = buf;
    f->len_ = len;
    f->write_ = write;
    corio_future_init(&f->base, &exact_vt);
}

void corio_tcp_read_exact_fut_init(corio_tcp_exact_fut *f, corio_tcp *c, void *buf, size_t len)
{
    exact_init(f, c, buf, len, 0);
}

void corio_tcp_write_all_fut_init(corio_tcp_exact_fut *f, corio_tcp *c, const void *buf,
                                  size_t len)
{
    exact_init(f, c, (void *)buf, len, 1);
}

int corio_tcp_read_exact(corio_tcp *c, void *buf, size_t len)
{
    return stream_read_exact(c ? &c->fd : NULL, buf, len);
}

int corio_tcp_write_all(corio_tcp *c, const void *buf, size_t len)
{
    return stream_write_all(c ? &c->fd : NULL, buf, len);
}

/* ---- the connection --------------------------------------------------------------------- */

int corio_tcp_shutdown(corio_tcp *c, int how)
{
    return stream_shutdown(c ? &c->fd : NULL, how);
}

int corio_tcp_local_addr(const corio_tcp *c, corio_addr *out)
{
    return c && out ? net_sock_addr(c->fd.reg.fd, out, 0) : -EINVAL;
}

int corio_tcp_peer_addr(const corio_tcp *c, corio_addr *out)
{
    return c && out ? net_sock_addr(c->fd.reg.fd, out, 1) : -EINVAL;
}

int corio_tcp_set_nodelay(corio_tcp *c, bool on)
{
    if (!c)
        return -EINVAL;
    int v = on;
    return setsockopt(c->fd.reg.fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0 ? -errno : 0;
}

int corio_tcp_set_keepalive(corio_tcp *c, bool on, corio_duration idle)
{
    if (!c)
        return -EINVAL;
    /* TCP_KEEPIDLE counts whole seconds (at least 1); <= 0: the system's.
     * Rounded up without adding first: idle + 1 s - 1 overflows for an idle
     * near the type's maximum (a "forever"), which is undefined and came
     * out as a negative count. */
    int idle_s = 0;
    if (idle > 0) {
        corio_duration s = idle / CORIO_SEC(1) + (idle % CORIO_SEC(1) != 0);
        idle_s = s > 32767 ? 32767 : (int)s; /* the kernel's MAX_TCP_KEEPIDLE */
    }
    int v = on;
    if (setsockopt(c->fd.reg.fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v) < 0)
        return -errno;
    if (on && idle_s > 0 &&
        setsockopt(c->fd.reg.fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s) < 0)
        return -errno;
    return 0;
}

corio_fd *corio_tcp_as_fd(corio_tcp *c)
{
    return c ? &c->fd : NULL;
}

int corio_tcp_close(corio_tcp *c)
{
    return c ? corio_fd_close(&c->fd) : 0;
}
