/* net/unix_dgram.c - Unix-domain datagram sockets (corio/unix.h, second
 * half).
 *
 * A socket is an async fd and nothing more, as a UDP socket is; sending and
 * receiving are the datagram core's (net/dgram.c), and paths become
 * sockets the way the stream sockets' do (addr_unix_socket, net/addr.c). What
 * is ours: turning a sender's sockaddr_un back into a path, and the retry
 * timer of an unconnected send (net/dgram.h says why readiness alone would
 * leave it waiting for ever). The waiting calls are their futures awaited.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "corio/unix.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "corio/error.h"
#include "io/fd.h"
#include "net/addr.h"
#include "net/dgram.h"
#include "net/stream.h"

struct corio_unix_dgram {
    corio_fd fd; /* first */
};

/* A sockaddr_un the kernel handed back, as text: "/path", "@name" or "". */
static void path_of(const corio_addr *a, corio_unix_addr *out)
{
    const struct sockaddr_un *sa = (const struct sockaddr_un *)&a->sa;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t n = a->len > off ? a->len - off : 0;
    if (n > sizeof sa->sun_path)
        n = sizeof sa->sun_path;
    memset(out, 0, sizeof *out);
    if (n == 0 || sa->sun_family != AF_UNIX)
        return; /* unnamed */
    if (sa->sun_path[0] == '\0') { /* abstract: up to the length, or a NUL */
        out->path[0] = '@';
        size_t k = strnlen(sa->sun_path + 1, n - 1);
        memcpy(out->path + 1, sa->sun_path + 1, k);
    } else {
        memcpy(out->path, sa->sun_path, strnlen(sa->sun_path, n));
    }
}

static int adopt(int fd, corio_unix_dgram **out)
{
    corio_fd *f;
    int rc = fd_adopt(fd, sizeof(corio_unix_dgram), FD_SOCK | FD_MSG, &f);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *out = (corio_unix_dgram *)f;
    return 0;
}

/* ---- the socket ------------------------------------------------------------------ */

int corio_unix_dgram_bind(const char *path, corio_unix_dgram **out)
{
    if (out)
        *out = NULL;
    if (!out)
        return -EINVAL;
    int fd = addr_unix_socket(path, SOCK_DGRAM, true);
    if (fd < 0)
        return fd;
    int rc = adopt(fd, out);
    if (rc < 0 && path[0] != '@')
        unlink(path); /* ours: bind just made it */
    return rc;
}

int corio_unix_dgram_unbound(corio_unix_dgram **out)
{
    if (out)
        *out = NULL;
    if (!out)
        return -EINVAL;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : adopt(fd, out);
}

int corio_unix_dgram_pair(corio_unix_dgram **a, corio_unix_dgram **b)
{
    if (a)
        *a = NULL;
    if (b)
        *b = NULL;
    if (!a || !b)
        return -EINVAL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    int rc = adopt(sv[0], a);
    if (rc < 0) {
        close(sv[1]);
        return rc;
    }
    if ((rc = adopt(sv[1], b)) < 0) {
        corio_unix_dgram_close(*a);
        *a = NULL;
    }
    return rc;
}

int corio_unix_dgram_close(corio_unix_dgram *d)
{
    return d ? corio_fd_close(&d->fd) : 0;
}

int corio_unix_dgram_connect(corio_unix_dgram *d, const char *path)
{
    if (!d)
        return -EINVAL;
    corio_addr sa;
    int rc = addr_unix(path, &sa);
    if (rc < 0)
        return rc;
    return connect(d->fd.reg.fd, (const struct sockaddr *)&sa.sa, sa.len) < 0 ? -errno : 0;
}

static int sock_path(const corio_unix_dgram *d, corio_unix_addr *out, int peer)
{
    if (!d || !out)
        return -EINVAL;
    corio_addr a;
    int rc = net_sock_addr(d->fd.reg.fd, &a, peer);
    if (rc == 0)
        path_of(&a, out);
    return rc;
}

int corio_unix_dgram_local_addr(const corio_unix_dgram *d, corio_unix_addr *out)
{
    return sock_path(d, out, 0);
}

int corio_unix_dgram_peer_addr(const corio_unix_dgram *d, corio_unix_addr *out)
{
    return sock_path(d, out, 1);
}

int corio_unix_dgram_shutdown(corio_unix_dgram *d, int how)
{
    return stream_shutdown(d ? &d->fd : NULL, how);
}

corio_fd *corio_unix_dgram_as_fd(corio_unix_dgram *d)
{
    return d ? &d->fd : NULL;
}

/* ---- receiving ------------------------------------------------------------------------- */

static corio_poll recv_poll(corio_future *base, corio_context *cx)
{
    corio_unix_dgram_recv_fut *f = (corio_unix_dgram_recv_fut *)base;
    if (!f->d_ || (!f->buf_ && f->len_)) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    if (dgram_recv_poll(&f->d_->fd, f->buf_, f->len_, &f->from_, true, &f->truncated, &f->w_, cx,
                        &base->result) == CORIO_PENDING)
        return CORIO_PENDING;
    if (base->result >= 0)
        path_of(&f->from_, &f->from);
    return CORIO_READY;
}

static void recv_drop(corio_future *base)
{
    corio_unix_dgram_recv_fut *f = (corio_unix_dgram_recv_fut *)base;
    if (f->d_)
        io_waiter_drop(&f->d_->fd.reg, &f->w_);
}

static const corio_future_vtable recv_vt = {recv_poll, recv_drop};

void corio_unix_dgram_recv_from_fut_init(corio_unix_dgram_recv_fut *f, corio_unix_dgram *d,
                                         void *buf, size_t len)
{
    if (!f)
        return;
    memset(f, 0, sizeof *f);
    f->d_ = d;
    f->buf_ = buf;
    f->len_ = len;
    corio_future_init(&f->base, &recv_vt);
}

void corio_unix_dgram_recv_fut_init(corio_unix_dgram_recv_fut *f, corio_unix_dgram *d,
                                    void *buf, size_t len)
{
    corio_unix_dgram_recv_from_fut_init(f, d, buf, len);
}

ssize_t corio_unix_dgram_recv_from(corio_unix_dgram *d, void *buf, size_t len,
                                   corio_unix_addr *from)
{
    if (!d || (!buf && len))
        return -EINVAL;
    corio_unix_dgram_recv_fut f;
    corio_unix_dgram_recv_from_fut_init(&f, d, buf, len);
    int rc = corio_await(&f.base);
    if (rc)
        return rc;
    if (f.base.result >= 0 && from)
        *from = f.from;
    return f.base.result;
}

ssize_t corio_unix_dgram_recv(corio_unix_dgram *d, void *buf, size_t len)
{
    return corio_unix_dgram_recv_from(d, buf, len, NULL);
}

/* ---- sending ------------------------------------------------------------------------------ */

static corio_poll send_poll(corio_future *base, corio_context *cx)
{
    corio_unix_dgram_send_fut *f = (corio_unix_dgram_send_fut *)base;
    if (!f->d_ || (!f->buf_ && f->len_) || f->to_err_ < 0) {
        base->result = f->to_err_ < 0 ? f->to_err_ : -EINVAL;
        return CORIO_READY;
    }
    /* Only a send with a destination needs the retry timer. */
    bool to = f->to_err_ > 0;
    return dgram_send_poll(&f->d_->fd, f->buf_, f->len_, to ? &f->to_ : NULL,
                           to ? &f->retry_ : NULL, &f->retry_ms_, &f->w_, cx, &base->result);
}

static void send_drop(corio_future *base)
{
    corio_unix_dgram_send_fut *f = (corio_unix_dgram_send_fut *)base;
    if (f->d_)
        dgram_send_drop(&f->d_->fd, &f->retry_, f->retry_ms_, &f->w_);
}

static const corio_future_vtable send_vt = {send_poll, send_drop};

static void send_init(corio_unix_dgram_send_fut *f, corio_unix_dgram *d, const void *buf,
                      size_t len, const char *path, bool has_to)
{
    if (!f)
        return;
    memset(f, 0, sizeof *f);
    f->d_ = d;
    f->buf_ = buf;
    f->len_ = len;
    if (has_to) {
        int rc = addr_unix(path, &f->to_);
        f->to_err_ = rc < 0 ? rc : 1;
    }
    corio_future_init(&f->base, &send_vt);
}

void corio_unix_dgram_send_to_fut_init(corio_unix_dgram_send_fut *f, corio_unix_dgram *d,
                                       const void *buf, size_t len, const char *path)
{
    send_init(f, d, buf, len, path, true);
}

void corio_unix_dgram_send_fut_init(corio_unix_dgram_send_fut *f, corio_unix_dgram *d,
                                    const void *buf, size_t len)
{
    send_init(f, d, buf, len, NULL, false);
}

static ssize_t send_await(corio_unix_dgram_send_fut *f)
{
    int rc = corio_await(&f->base);
    return rc ? rc : f->base.result;
}

ssize_t corio_unix_dgram_send_to(corio_unix_dgram *d, const void *buf, size_t len,
                                 const char *path)
{
    if (!d || !path || (!buf && len))
        return -EINVAL;
    corio_unix_dgram_send_fut f;
    corio_unix_dgram_send_to_fut_init(&f, d, buf, len, path);
    return send_await(&f);
}

ssize_t corio_unix_dgram_send(corio_unix_dgram *d, const void *buf, size_t len)
{
    if (!d || (!buf && len))
        return -EINVAL;
    corio_unix_dgram_send_fut f;
    corio_unix_dgram_send_fut_init(&f, d, buf, len);
    return send_await(&f);
}
