/* net/udp.c - UDP sockets (corio/udp.h).
 *
 * A socket is an async fd (io/fd.h) and nothing more: every wait goes
 * through the fd engine, so readiness, cancellation and deadlines work as
 * for any fd. Sockets are made non-blocking and close-on-exec at creation
 * and bound before they are registered.
 *
 * A datagram call never reports "drained": a receive that got less than
 * its buffer says nothing about the datagrams queued behind, and a send
 * that went through says nothing about the room left. Readiness is cleared
 * only by EAGAIN. An ICMP error on a connected socket raises EPOLLERR,
 * which is in both directions' bits: a receive waiting for a datagram
 * wakes and returns the error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "corio/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio/error.h"
#include "io/fd.h"
#include "net/addr.h"
#include "net/stream.h"

/* Addresses tried for a host name. */
#define MAX_ADDRS 16

struct corio_udp {
    corio_fd fd; /* first */
};

/* ---- the socket ------------------------------------------------------------------ */

static int bind_one(const corio_addr *a)
{
    int fd = socket(a->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

int corio_udp_bind(const char *addr, corio_udp **out)
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
        int fd = bind_one(&addrs[i]);
        if (fd < 0) {
            rc = fd;
            continue;
        }
        corio_fd *f;
        if ((rc = fd_adopt(fd, sizeof(corio_udp), FD_SOCK, &f)) < 0) {
            close(fd);
            return rc;
        }
        *out = (corio_udp *)f;
        return 0;
    }
    return rc;
}

int corio_udp_close(corio_udp *u)
{
    return u ? corio_fd_close(&u->fd) : 0;
}

int corio_udp_local_addr(const corio_udp *u, corio_addr *out)
{
    return u && out ? net_sock_addr(u->fd.reg.fd, out, 0) : -EINVAL;
}

int corio_udp_peer_addr(const corio_udp *u, corio_addr *out)
{
    return u && out ? net_sock_addr(u->fd.reg.fd, out, 1) : -EINVAL;
}

int corio_udp_set_broadcast(corio_udp *u, bool on)
{
    if (!u)
        return -EINVAL;
    int v = on;
    return setsockopt(u->fd.reg.fd, SOL_SOCKET, SO_BROADCAST, &v, sizeof v) < 0 ? -errno : 0;
}

corio_fd *corio_udp_as_fd(corio_udp *u)
{
    return u ? &u->fd : NULL;
}

/* ---- the calls ----------------------------------------------------------------------- */

typedef struct recv_args {
    void *buf;
    size_t len;
    corio_addr *from; /* may be NULL */
    bool truncated;
} recv_args;

static ssize_t recv_call(int fd, void *arg, bool *drained)
{
    (void)drained; /* more datagrams may be queued behind this one */
    recv_args *a = arg;
    struct iovec iov = {a->buf, a->len};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (a->from) {
        m.msg_name = &a->from->sa;
        m.msg_namelen = sizeof a->from->sa;
    }
    ssize_t n = recvmsg(fd, &m, 0);
    if (n < 0)
        return -errno;
    if (a->from)
        a->from->len = m.msg_namelen;
    a->truncated = (m.msg_flags & MSG_TRUNC) != 0;
    return n;
}

typedef struct send_args {
    const void *buf;
    size_t len;
    const corio_addr *to; /* NULL: the connected peer */
} send_args;

static ssize_t send_call(int fd, void *arg, bool *drained)
{
    (void)drained;
    send_args *a = arg;
    ssize_t n = sendto(fd, a->buf, a->len, MSG_NOSIGNAL,
                       a->to ? (const struct sockaddr *)&a->to->sa : NULL, a->to ? a->to->len : 0);
    return n < 0 ? -errno : n;
}

ssize_t corio_udp_send_to(corio_udp *u, const void *buf, size_t len, const corio_addr *to)
{
    if (!u || !to || to->len == 0 || (!buf && len))
        return -EINVAL;
    send_args a = {buf, len, to};
    return fd_io(&u->fd, IO_WRITE_BITS, send_call, &a);
}

ssize_t corio_udp_send(corio_udp *u, const void *buf, size_t len)
{
    if (!u || (!buf && len))
        return -EINVAL;
    send_args a = {buf, len, NULL};
    return fd_io(&u->fd, IO_WRITE_BITS, send_call, &a);
}

ssize_t corio_udp_recv_from(corio_udp *u, void *buf, size_t len, corio_addr *from)
{
    if (!u || (!buf && len))
        return -EINVAL;
    recv_args a = {buf, len, from, false};
    return fd_io(&u->fd, IO_READ_BITS, recv_call, &a);
}

ssize_t corio_udp_recv(corio_udp *u, void *buf, size_t len)
{
    return corio_udp_recv_from(u, buf, len, NULL);
}

/* ---- connecting ------------------------------------------------------------------------ */

int corio_udp_connect_addr(corio_udp *u, const corio_addr *addr)
{
    if (!u || !addr || addr->len == 0)
        return -EINVAL;
    return connect(u->fd.reg.fd, (const struct sockaddr *)&addr->sa, addr->len) < 0 ? -errno : 0;
}

int corio_udp_connect(corio_udp *u, const char *addr)
{
    if (!u || !addr)
        return -EINVAL;
    char host[ADDR_HOST_MAX], port[8];
    int rc = addr_split(addr, host, port);
    if (rc < 0)
        return rc;
    corio_addr addrs[MAX_ADDRS];
    size_t n;
    if ((rc = addr_resolve(host, port, addrs, MAX_ADDRS, &n)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = corio_udp_connect_addr(u, &addrs[i])) == 0)
            return 0;
    return rc;
}

/* ---- future forms ---------------------------------------------------------------- */

static corio_poll recv_fut_poll(corio_future *base, corio_context *cx)
{
    corio_udp_recv_fut *f = (corio_udp_recv_fut *)base;
    if (!f->u_ || (!f->buf_ && f->len_)) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    recv_args a = {f->buf_, f->len_, &f->from, false};
    ssize_t res;
    if (fd_io_poll(&f->u_->fd, IO_READ_BITS, &f->w_, cx, recv_call, &a, &res) == CORIO_PENDING)
        return CORIO_PENDING;
    f->truncated = res >= 0 && a.truncated;
    base->result = (int)res;
    return CORIO_READY;
}

static void recv_fut_drop(corio_future *base)
{
    corio_udp_recv_fut *f = (corio_udp_recv_fut *)base;
    if (f->u_)
        io_waiter_drop(&f->u_->fd.reg, &f->w_);
}

static const corio_future_vtable recv_vt = {recv_fut_poll, recv_fut_drop};

void corio_udp_recv_from_fut_init(corio_udp_recv_fut *f, corio_udp *u, void *buf, size_t len)
{
    if (!f)
        return;
    memset(f, 0, sizeof *f);
    f->u_ = u;
    f->buf_ = buf;
    f->len_ = len;
    corio_future_init(&f->base, &recv_vt);
}

void corio_udp_recv_fut_init(corio_udp_recv_fut *f, corio_udp *u, void *buf, size_t len)
{
    corio_udp_recv_from_fut_init(f, u, buf, len);
}

static corio_poll send_fut_poll(corio_future *base, corio_context *cx)
{
    corio_udp_send_fut *f = (corio_udp_send_fut *)base;
    if (!f->u_ || (!f->buf_ && f->len_) || f->has_to_ < 0) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    send_args a = {f->buf_, f->len_, f->has_to_ ? &f->to_ : NULL};
    ssize_t res;
    if (fd_io_poll(&f->u_->fd, IO_WRITE_BITS, &f->w_, cx, send_call, &a, &res) == CORIO_PENDING)
        return CORIO_PENDING;
    base->result = (int)res;
    return CORIO_READY;
}

static void send_fut_drop(corio_future *base)
{
    corio_udp_send_fut *f = (corio_udp_send_fut *)base;
    if (f->u_)
        io_waiter_drop(&f->u_->fd.reg, &f->w_);
}

static const corio_future_vtable send_vt = {send_fut_poll, send_fut_drop};

static void send_init(corio_udp_send_fut *f, corio_udp *u, const void *buf, size_t len,
                      int has_to, const corio_addr *to)
{
    if (!f)
        return;
    memset(f, 0, sizeof *f);
    f->u_ = u;
    f->buf_ = buf;
    f->len_ = len;
    f->has_to_ = has_to;
    if (has_to > 0)
        f->to_ = *to;
    corio_future_init(&f->base, &send_vt);
}

void corio_udp_send_to_fut_init(corio_udp_send_fut *f, corio_udp *u, const void *buf,
                                size_t len, const corio_addr *to)
{
    /* A missing or empty destination: -EINVAL when polled. */
    send_init(f, u, buf, len, to && to->len ? 1 : -1, to);
}

void corio_udp_send_fut_init(corio_udp_send_fut *f, corio_udp *u, const void *buf, size_t len)
{
    send_init(f, u, buf, len, 0, NULL);
}
