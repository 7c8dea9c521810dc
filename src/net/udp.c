/* net/udp.c - UDP sockets (corio/udp.h).
 *
 * A socket is an async fd (io/fd.h) and nothing more: every wait goes
 * through the fd engine, so readiness, cancellation and deadlines work as
 * for any fd. Sockets are made non-blocking and close-on-exec at creation
 * and bound before they are registered. Sending and receiving are the
 * datagram core's (net/dgram.c), shared with Unix datagram sockets; this
 * file makes sockets, resolves addresses and checks arguments.
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
#include "net/dgram.h"
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
        if ((rc = fd_adopt(fd, sizeof(corio_udp), FD_SOCK | FD_MSG, &f)) < 0) {
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

ssize_t corio_udp_send_to(corio_udp *u, const void *buf, size_t len, const corio_addr *to)
{
    if (!u || !to || to->len == 0 || (!buf && len))
        return -EINVAL;
    return dgram_send(&u->fd, buf, len, to);
}

ssize_t corio_udp_send(corio_udp *u, const void *buf, size_t len)
{
    if (!u || (!buf && len))
        return -EINVAL;
    return dgram_send(&u->fd, buf, len, NULL);
}

ssize_t corio_udp_recv_from(corio_udp *u, void *buf, size_t len, corio_addr *from)
{
    if (!u || (!buf && len))
        return -EINVAL;
    return dgram_recv(&u->fd, buf, len, from, NULL);
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
    return dgram_recv_poll(&f->u_->fd, f->buf_, f->len_, &f->from, false, &f->truncated, &f->w_, cx,
                           &base->result);
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
    return dgram_send_poll(&f->u_->fd, f->buf_, f->len_, f->has_to_ ? &f->to_ : NULL, NULL, NULL,
                           &f->w_, cx, &base->result);
}

static void send_fut_drop(corio_future *base)
{
    corio_udp_send_fut *f = (corio_udp_send_fut *)base;
    if (f->u_)
        dgram_send_drop(&f->u_->fd, NULL, 0, &f->w_);
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
