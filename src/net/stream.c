/* net/stream.c - the stream sockets' shared core (net/stream.h): accept
 * with its back-off, scatter/gather, read_exact and write_all, for TCP and
 * Unix alike. Every wait goes through the fd engine (io/fd.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "net/stream.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio/error.h"

#define BACKOFF_MAX_MS 1000

static inline corio_duration ms(unsigned n)
{
    return (corio_duration)n * 1000000;
}

/* ---- accepting -------------------------------------------------------------------------- */

static ssize_t accept_call(int fd, void *arg, bool *drained)
{
    (void)drained; /* more may be queued: keep the readiness */
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0)
        return -errno;
    *(int *)arg = c;
    return 0;
}

/* Out of fds or memory (from accept4: the connection stays queued), or out
 * of memory or epoll watches to register an accepted one (io_reg_open's
 * -ENOMEM, -ENOSPC: that connection is closed): retrying at once would
 * spin, on a listener still readable, or on the next connection. */
static bool out_of_resources(ssize_t e)
{
    return e == -EMFILE || e == -ENFILE || e == -ENOBUFS || e == -ENOMEM || e == -ENOSPC;
}

/* A connection that went wrong while queued: skip it, take the next. */
static bool skippable(ssize_t e)
{
    return e == -ECONNABORTED || e == -EPROTO || e == -EPERM || e == -ENETDOWN ||
           e == -ENOPROTOOPT || e == -EHOSTDOWN || e == -ENONET || e == -EHOSTUNREACH ||
           e == -EOPNOTSUPP || e == -ENETUNREACH;
}

corio_poll stream_accept_poll(stream_listener *l, size_t conn_size, int *err,
                              corio_sleep_fut *backoff, corio_io_waiter_ *w, corio_context *cx,
                              corio_fd **conn, int *result)
{
    if (!l) {
        *result = -EINVAL;
        return CORIO_READY;
    }
    if (*err) {
        if (corio_future_poll(&backoff->base, cx) == CORIO_PENDING)
            return CORIO_PENDING;
        *result = *err;
        *err = 0;
        return CORIO_READY;
    }
    for (;;) {
        int cfd = -1;
        ssize_t res;
        if (fd_io_poll(&l->fd, IO_READ_BITS, w, cx, accept_call, &cfd, &res) == CORIO_PENDING)
            return CORIO_PENDING;
        if (res == 0) {
            corio_fd *cf;
            int rc = fd_adopt(cfd, conn_size, FD_SOCK, &cf);
            if (rc < 0) {
                close(cfd);
                res = rc;
            } else {
                /* Relaxed: a hint shared by the listener's acceptors. */
                __atomic_store_n(&l->backoff_ms, 0, __ATOMIC_RELAXED);
                *conn = cf;
                *result = 0;
                return CORIO_READY;
            }
        }
        if (skippable(res))
            continue;
        if (out_of_resources(res)) {
            unsigned b = __atomic_load_n(&l->backoff_ms, __ATOMIC_RELAXED);
            b = b ? (b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2) : 1;
            __atomic_store_n(&l->backoff_ms, b, __ATOMIC_RELAXED);
            *err = (int)res;
            corio_sleep_fut_init(backoff, ms(b));
            return stream_accept_poll(l, conn_size, err, backoff, w, cx, conn, result);
        }
        *result = (int)res;
        return CORIO_READY;
    }
}

void stream_accept_drop(stream_listener *l, int err, corio_sleep_fut *backoff,
                        corio_io_waiter_ *w)
{
    if (!l)
        return;
    io_waiter_drop(&l->fd.reg, w);
    if (err)
        corio_future_drop(&backoff->base);
}

/* ---- scatter and gather ------------------------------------------------------------------- */

typedef struct iov_args {
    const struct iovec *iov;
    int n;
} iov_args;

static size_t iov_total(const struct iovec *iov, int n)
{
    size_t t = 0;
    for (int i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

/* A message header over a's buffers, for recvmsg and sendmsg (a socket:
 * the calls fd_recv_call and fd_send_call make for one buffer). */
static struct msghdr iov_msg(const iov_args *a)
{
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = (struct iovec *)a->iov;
    m.msg_iovlen = (size_t)a->n;
    return m;
}

static ssize_t readv_call(int fd, void *arg, bool *drained)
{
    iov_args *a = arg;
    struct msghdr m = iov_msg(a);
    return fd_io_result(recvmsg(fd, &m, 0), iov_total(a->iov, a->n), true, drained);
}

static ssize_t writev_call(int fd, void *arg, bool *drained)
{
    iov_args *a = arg;
    struct msghdr m = iov_msg(a);
    return fd_io_result(sendmsg(fd, &m, MSG_NOSIGNAL), iov_total(a->iov, a->n), false, drained);
}

static int iov_check(corio_fd *f, const struct iovec *iov, int n)
{
    if (!f || n < 0 || n > IOV_MAX || (!iov && n))
        return -EINVAL;
    return 0;
}

/* No room in any buffer (not a sum, which could wrap). */
static bool iov_empty(const struct iovec *iov, int n)
{
    for (int i = 0; i < n; i++)
        if (iov[i].iov_len)
            return false;
    return true;
}

ssize_t stream_readv(corio_fd *f, const struct iovec *iov, int iovcnt)
{
    int rc = iov_check(f, iov, iovcnt);
    if (rc)
        return rc;
    if (iov_empty(iov, iovcnt))
        return corio_fd_read(f, NULL, 0); /* a read of nothing: 0 at once */
    iov_args a = {iov, iovcnt};
    return fd_io(f, IO_READ_BITS, readv_call, &a);
}

ssize_t stream_writev(corio_fd *f, const struct iovec *iov, int iovcnt)
{
    int rc = iov_check(f, iov, iovcnt);
    if (rc)
        return rc;
    iov_args a = {iov, iovcnt};
    return fd_io(f, IO_WRITE_BITS, writev_call, &a);
}

/* ---- read_exact, write_all ---------------------------------------------------------------- */

corio_poll stream_exact_poll(corio_fd *f, int write, void *buf, size_t len, size_t *done,
                             corio_io_waiter_ *w, corio_context *cx, int *result)
{
    if (!f || (!buf && len)) {
        *result = -EINVAL;
        return CORIO_READY;
    }
    while (*done < len) {
        size_t left = len - *done;
        io_buf b = {(char *)buf + *done, left > INT_MAX ? INT_MAX : left};
        ssize_t n;
        if (fd_io_poll(f, write ? IO_WRITE_BITS : IO_READ_BITS, w, cx,
                       write ? fd_send_call : fd_recv_call, &b, &n) == CORIO_PENDING)
            return CORIO_PENDING;
        if (n <= 0) {
            *result = n < 0 ? (int)n : CORIO_EEOF;
            return CORIO_READY;
        }
        *done += (size_t)n;
    }
    *result = 0;
    return CORIO_READY;
}

int stream_read_exact(corio_fd *f, void *buf, size_t len)
{
    if (!f || (!buf && len))
        return -EINVAL;
    for (size_t done = 0; done < len;) {
        ssize_t n = corio_fd_read(f, (char *)buf + done, len - done);
        if (n <= 0)
            return n < 0 ? (int)n : CORIO_EEOF;
        done += (size_t)n;
    }
    return 0;
}

int stream_write_all(corio_fd *f, const void *buf, size_t len)
{
    if (!f || (!buf && len))
        return -EINVAL;
    for (size_t done = 0; done < len;) {
        ssize_t n = corio_fd_write(f, (const char *)buf + done, len - done);
        if (n < 0)
            return (int)n;
        done += (size_t)n;
    }
    return 0;
}

/* ---- the connection --------------------------------------------------------------------- */

int stream_shutdown(corio_fd *f, int how)
{
    if (!f)
        return -EINVAL;
    return shutdown(f->reg.fd, how) < 0 ? -errno : 0;
}

int net_sock_addr(int fd, corio_addr *out, int peer)
{
    memset(out, 0, sizeof *out);
    out->len = sizeof out->sa;
    int rc = peer ? getpeername(fd, (struct sockaddr *)&out->sa, &out->len)
                  : getsockname(fd, (struct sockaddr *)&out->sa, &out->len);
    return rc < 0 ? -errno : 0;
}
