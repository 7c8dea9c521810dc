/* net/dgram.c - the datagram sockets' shared core (net/dgram.h): one
 * datagram in or out per call, for UDP and Unix datagram sockets alike.
 * Every wait goes through the fd engine (io/fd.h); sends use MSG_NOSIGNAL.
 * An ICMP error on a connected UDP socket raises EPOLLERR, which is in
 * both directions' bits: a receive waiting for a datagram wakes and
 * returns the error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "net/dgram.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "corio/error.h"

#define RETRY_MAX_MS 64

typedef struct recv_args {
    void *buf;
    size_t len;
    corio_addr *from; /* may be NULL */
    bool truncated;
    bool shut_eof; /* EAGAIN on a socket shut for reading is 0 */
} recv_args;

/* Linux reports a Unix datagram socket shut for reading (SHUT_RD) as
 * readable (EPOLLIN | EPOLLRDHUP), yet its non-blocking receive says
 * EAGAIN once the queue is empty - as a stream's would not - so the
 * waiting receiver would wait on for an edge that never comes. Asked only
 * on the way to a wait: one poll(2) more before the task suspends. */
static bool shut_for_reading(int fd)
{
    struct pollfd p = {fd, POLLRDHUP, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLRDHUP);
}

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
    if (n < 0) {
        int e = errno;
        return e == EAGAIN && a->shut_eof && shut_for_reading(fd) ? 0 : -e;
    }
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

ssize_t dgram_recv(corio_fd *f, void *buf, size_t len, corio_addr *from, bool *truncated)
{
    recv_args a = {buf, len, from, false, false};
    ssize_t n = fd_io(f, IO_READ_BITS, recv_call, &a);
    if (truncated)
        *truncated = n >= 0 && a.truncated;
    return n;
}

ssize_t dgram_send(corio_fd *f, const void *buf, size_t len, const corio_addr *to)
{
    send_args a = {buf, len, to};
    return fd_io(f, IO_WRITE_BITS, send_call, &a);
}

corio_poll dgram_recv_poll(corio_fd *f, void *buf, size_t len, corio_addr *from, bool shut_eof,
                           bool *truncated, corio_io_waiter_ *w, corio_context *cx, int *result)
{
    recv_args a = {buf, len, from, false, shut_eof};
    ssize_t res;
    if (fd_io_poll(f, IO_READ_BITS, w, cx, recv_call, &a, &res) == CORIO_PENDING)
        return CORIO_PENDING;
    *truncated = res >= 0 && a.truncated;
    *result = (int)res;
    return CORIO_READY;
}

corio_poll dgram_send_poll(corio_fd *f, const void *buf, size_t len, const corio_addr *to,
                           corio_sleep_fut *retry, unsigned *retry_ms, corio_io_waiter_ *w,
                           corio_context *cx, int *result)
{
    send_args a = {buf, len, to};
    ssize_t res;
    for (;;) {
        /* Also on every wake by the timer: keeps the waiter's waker current. */
        if (fd_io_poll(f, IO_WRITE_BITS, w, cx, send_call, &a, &res) == CORIO_READY)
            break;
        if (!retry)
            return CORIO_PENDING;
        if (*retry_ms == 0) {
            *retry_ms = 1;
            corio_sleep_fut_init(retry, CORIO_MSEC(1));
        }
        if (corio_future_poll(&retry->base, cx) == CORIO_PENDING)
            return CORIO_PENDING;
        /* The timer fired: try the send itself, readiness or not. */
        bool drained = false;
        res = send_call(f->reg.fd, &a, &drained);
        if (res != -EAGAIN) {
            io_waiter_drop(&f->reg, w);
            break;
        }
        *retry_ms = *retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : *retry_ms * 2;
        corio_future_drop(&retry->base);
        corio_sleep_fut_init(retry, CORIO_MSEC(*retry_ms));
    }
    if (retry && *retry_ms) {
        corio_future_drop(&retry->base);
        *retry_ms = 0;
    }
    *result = (int)res;
    return CORIO_READY;
}

void dgram_send_drop(corio_fd *f, corio_sleep_fut *retry, unsigned retry_ms,
                     corio_io_waiter_ *w)
{
    io_waiter_drop(&f->reg, w);
    if (retry && retry_ms)
        corio_future_drop(&retry->base);
}
