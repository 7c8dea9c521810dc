/* net/unix.c - Unix-domain stream sockets (corio/unix.h; the datagram
 * sockets are net/unix_dgram.c).
 *
 * A listener and a stream are what TCP's are (net/stream.c does their
 * accepting, scatter/gather, read_exact and write_all); only making the
 * sockets differs. A Unix connect completes, or fails, inside connect(2):
 * there is no EINPROGRESS to wait on, so the socket is registered once it
 * is connected (as TCP's are, after connect).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "corio/unix.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio/error.h"
#include "io/fd.h"
#include "net/addr.h"
#include "net/stream.h"

struct corio_unix {
    corio_fd fd; /* first */
};

struct corio_unix_listener {
    stream_listener s; /* first */
};

/* ---- listening ------------------------------------------------------------------ */

int corio_unix_listen(const char *path, int backlog, corio_unix_listener **out)
{
    if (out)
        *out = NULL;
    if (!out)
        return -EINVAL;
    int fd = addr_unix_socket(path, SOCK_STREAM, true);
    if (fd < 0)
        return fd;
    bool made_file = path[0] != '@';
    int rc = listen(fd, backlog > 0 ? backlog : 1024) < 0 ? -errno : 0;
    corio_fd *f;
    if (rc == 0 && (rc = fd_adopt(fd, sizeof(corio_unix_listener), FD_SOCK, &f)) == 0) {
        *out = (corio_unix_listener *)f;
        return 0;
    }
    close(fd);
    if (made_file) /* ours: bind just made it */
        unlink(path);
    return rc;
}

int corio_unix_listener_close(corio_unix_listener *l)
{
    return l ? corio_fd_close(&l->s.fd) : 0;
}

corio_fd *corio_unix_listener_as_fd(corio_unix_listener *l)
{
    return l ? &l->s.fd : NULL;
}

static corio_poll accept_poll(corio_future *base, corio_context *cx)
{
    corio_unix_accept_fut *f = (corio_unix_accept_fut *)base;
    corio_fd *c;
    if (stream_accept_poll(f->l_ ? &f->l_->s : NULL, sizeof(corio_unix), &f->err_, &f->backoff_,
                           &f->w_, cx, &c, &base->result) == CORIO_PENDING)
        return CORIO_PENDING;
    if (base->result == 0)
        f->stream = (corio_unix *)c;
    return CORIO_READY;
}

static void accept_drop(corio_future *base)
{
    corio_unix_accept_fut *f = (corio_unix_accept_fut *)base;
    stream_accept_drop(f->l_ ? &f->l_->s : NULL, f->err_, &f->backoff_, &f->w_);
}

static const corio_future_vtable accept_vt = {accept_poll, accept_drop};

void corio_unix_accept_fut_init(corio_unix_accept_fut *f, corio_unix_listener *l)
{
    if (!f)
        return;
    memset(f, 0, sizeof *f);
    f->l_ = l;
    corio_future_init(&f->base, &accept_vt);
}

int corio_unix_accept(corio_unix_listener *l, corio_unix **out)
{
    if (out)
        *out = NULL;
    if (!l || !out)
        return -EINVAL;
    corio_unix_accept_fut f;
    corio_unix_accept_fut_init(&f, l);
    int rc = corio_await(&f.base);
    if (rc)
        return rc;
    if (f.base.result == 0)
        *out = f.stream;
    return f.base.result;
}

/* ---- connecting ------------------------------------------------------------------ */

int corio_unix_connect(const char *path, corio_unix **out)
{
    if (out)
        *out = NULL;
    if (!out)
        return -EINVAL;
    /* Connected (or refused) here; registered after, as TCP's sockets are. */
    int fd = addr_unix_socket(path, SOCK_STREAM, false);
    if (fd < 0)
        return fd;
    corio_fd *f;
    int rc = fd_adopt(fd, sizeof(corio_unix), FD_SOCK, &f);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *out = (corio_unix *)f;
    return 0;
}

int corio_unix_pair(corio_unix **a, corio_unix **b)
{
    if (a)
        *a = NULL;
    if (b)
        *b = NULL;
    if (!a || !b)
        return -EINVAL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    corio_fd *fa, *fb;
    int rc = fd_adopt(sv[0], sizeof(corio_unix), FD_SOCK, &fa);
    if (rc < 0) {
        close(sv[0]);
        close(sv[1]);
        return rc;
    }
    if ((rc = fd_adopt(sv[1], sizeof(corio_unix), FD_SOCK, &fb)) < 0) {
        corio_fd_close(fa);
        close(sv[1]);
        return rc;
    }
    *a = (corio_unix *)fa;
    *b = (corio_unix *)fb;
    return 0;
}

/* ---- reading and writing ----------------------------------------------------------- */

ssize_t corio_unix_read(corio_unix *c, void *buf, size_t len)
{
    return corio_fd_read(c ? &c->fd : NULL, buf, len);
}

ssize_t corio_unix_write(corio_unix *c, const void *buf, size_t len)
{
    return corio_fd_write(c ? &c->fd : NULL, buf, len);
}

ssize_t corio_unix_readv(corio_unix *c, const struct iovec *iov, int iovcnt)
{
    return stream_readv(c ? &c->fd : NULL, iov, iovcnt);
}

ssize_t corio_unix_writev(corio_unix *c, const struct iovec *iov, int iovcnt)
{
    return stream_writev(c ? &c->fd : NULL, iov, iovcnt);
}

int corio_unix_read_exact(corio_unix *c, void *buf, size_t len)
{
    return stream_read_exact(c ? &c->fd : NULL, buf, len);
}

int corio_unix_write_all(corio_unix *c, const void *buf, size_t len)
{
    return stream_write_all(c ? &c->fd : NULL, buf, len);
}

static corio_poll exact_poll(corio_future *base, corio_context *cx)
{
    corio_unix_exact_fut *f = (corio_unix_exact_fut *)base;
    return stream_exact_poll(f->c_ ? &f->c_->fd : NULL, f->write_, f->buf_, f->len_, &f->done,
                             &f->w_, cx, &base->result);
}

static void exact_drop(corio_future *base)
{
    corio_unix_exact_fut *f = (corio_unix_exact_fut *)base;
    if (f->c_)
        io_waiter_drop(&f->c_->fd.reg, &f->w_);
}

static const corio_future_vtable exact_vt = {exact_poll, exact_drop};

static void exact_init(corio_unix_exact_fut *f, corio_unix *c, void *buf, size_t len, int write)
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

void corio_unix_read_exact_fut_init(corio_unix_exact_fut *f, corio_unix *c, void *buf,
                                    size_t len)
{
    exact_init(f, c, buf, len, 0);
}

void corio_unix_write_all_fut_init(corio_unix_exact_fut *f, corio_unix *c, const void *buf,
                                   size_t len)
{
    exact_init(f, c, (void *)buf, len, 1);
}

/* ---- the connection --------------------------------------------------------------------- */

int corio_unix_shutdown(corio_unix *c, int how)
{
    return stream_shutdown(c ? &c->fd : NULL, how);
}

int corio_unix_peer_cred(const corio_unix *c, pid_t *pid, uid_t *uid, gid_t *gid)
{
    if (!c)
        return -EINVAL;
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(c->fd.reg.fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        return -errno;
    if (pid)
        *pid = cr.pid;
    if (uid)
        *uid = cr.uid;
    if (gid)
        *gid = cr.gid;
    return 0;
}

corio_fd *corio_unix_as_fd(corio_unix *c)
{
    return c ? &c->fd : NULL;
}

int corio_unix_close(corio_unix *c)
{
    return c ? corio_fd_close(&c->fd) : 0;
}
