/* corio/tcp.h - TCP listeners and streams.
 *
 *     int serve(void *arg) {
 *         corio_tcp_listener *l;
 *         int rc = corio_tcp_listen("127.0.0.1:8080", 1024, &l);
 *         if (rc < 0) return rc;
 *         for (corio_tcp *c; corio_tcp_accept(l, &c) == 0; )
 *             corio_spawn(echo, c, NULL);             // a task per connection
 *         return corio_tcp_listener_close(l);
 *     }
 *
 * Every call that waits suspends the calling coroutine task, never the
 * worker thread; it takes part in cancellation and deadline scopes like any
 * await: interrupted, it returns CORIO_ECANCELED or CORIO_ETIMEDOUT, and
 * each call says below what it had done by then (its cancel safety). In
 * plain code and in stackless poll functions the waiting calls return
 * CORIO_EWRONGCTX; poll the future forms there (a stream is a corio_fd,
 * corio_tcp_as_fd, so corio/io.h's read and write futures work on it).
 *
 * Listeners and streams are registered with the runtime they were made on
 * and may be used from any of its tasks; one task may read while another
 * writes. Closing one while another task is in a call on it is undefined:
 * shut it down instead (corio_tcp_shutdown), which makes the other's read
 * return 0. After the runtime is freed, the calls that wait for the socket
 * (accept, read, write, readv, writev, read_exact, write_all, and their
 * futures), made in a task of another runtime, return CORIO_ESHUTDOWN; the
 * calls that do not wait act on the socket as usual (local_addr,
 * peer_addr, shutdown, set_nodelay, set_keepalive, as_fd; a read of len 0
 * returns 0, and read_exact and write_all of len 0 return 0 in plain code
 * too, having nothing to wait for), and closing works. From plain code the
 * other waiting calls return CORIO_EWRONGCTX, whether the runtime is alive
 * or freed.
 *
 * A call that makes a listener or a stream sets *out to NULL when it fails.
 *
 * NULL (docs/conventions.md): calls returning a status or a count return
 * -EINVAL for a NULL listener, stream or address; closing NULL returns 0;
 * corio_tcp_as_fd(NULL) is NULL. A _fut_init does nothing for a NULL
 * future; a future made with a NULL listener, stream or address finishes
 * with -EINVAL at its first poll.
 *
 * Errors are the system's, negated (-ECONNREFUSED, -ECONNRESET, -EPIPE,
 * -EADDRINUSE, -EMFILE...), plus corio's own (corio/error.h). A write to a
 * peer that has gone returns -EPIPE or -ECONNRESET: corio never lets
 * SIGPIPE kill the process.
 */
#ifndef CORIO_TCP_H
#define CORIO_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "api.h"
#include "future.h"
#include "io.h"
#include "net.h"
#include "time.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_tcp_listener corio_tcp_listener;
typedef struct corio_tcp corio_tcp;

/* ---- listening ----------------------------------------------------------------- */

typedef struct corio_tcp_listen_opts {
    int backlog;    /* the accept queue's length; <= 0: 1024 */
    bool reuseport; /* SO_REUSEPORT: several listeners (processes or
                     * runtimes) share the port, the kernel spreads
                     * connections over them */
    bool v6only;    /* IPV6_V6ONLY on an IPv6 address (default: off, so
                     * "[::]:port" also takes IPv4 connections) */
} corio_tcp_listen_opts;

/* Listen on `addr` (a numeric address or a host name: every address it
 * resolves to is tried in turn, the first that binds is used) with
 * SO_REUSEADDR (a restarted server binds at once, despite connections of
 * the old one in TIME_WAIT). Inside a task; it waits only to resolve a
 * name. Returns 0 and
 * *out, or -EINVAL (NULL, malformed address), -EADDRINUSE, -EACCES (a
 * privileged port), -EADDRNOTAVAIL (not this host's address), -EMFILE,
 * CORIO_ENOHOST, CORIO_EWRONGCTX (no runtime), CORIO_ESHUTDOWN. */
CORIO_API int corio_tcp_listen(const char *addr, int backlog, corio_tcp_listener **out);
/* The same with options; NULL opts: the defaults (as a zeroed struct). */
CORIO_API int corio_tcp_listen_with(const char *addr, const corio_tcp_listen_opts *opts,
                                    corio_tcp_listener **out);

/* Wait for a connection and take it: 0 and *out, a new stream (with
 * TCP_NODELAY off, as the system makes it). Errors:
 *   -EMFILE, -ENFILE, -ENOBUFS, -ENOMEM  no fd or memory for the
 *                    connection, which stays queued. The call first waits
 *                    a while (1 ms, doubling up to 1 s, back to 1 ms after
 *                    an accept succeeds) so that a loop that retries at
 *                    once does not spin a core while the process is out of
 *                    fds; the connection is taken at the first retry after
 *                    an fd is free;
 *   -ENOMEM, -ENOSPC after the same wait, when the system gave the fd but
 *                    corio could not register it (no memory; -ENOSPC: the
 *                    system's limit on fds watched by epoll): that one
 *                    connection is closed, and its peer sees it closed;
 *   -ECONNABORTED and the like are not returned: a connection reset while
 *                    it was queued is skipped;
 *   -EBADF           its fd is not open (closed behind corio's back: a
 *                    corio_tcp_listener_close during the accept is
 *                    undefined, above); CORIO_ESHUTDOWN; -EINVAL (NULL);
 *                    CORIO_ECANCELED, CORIO_ETIMEDOUT, CORIO_EWRONGCTX.
 * Cancel safety: an interrupted accept has taken no connection. */
CORIO_API int corio_tcp_accept(corio_tcp_listener *l, corio_tcp **out);

/* The address the listener is bound to (with the port the kernel chose for
 * port 0). 0, or -EINVAL, or getsockname's error. */
CORIO_API int corio_tcp_listener_local_addr(const corio_tcp_listener *l, corio_addr *out);

/* Stop listening, free `l`. Any thread. 0, or close's error; NULL: 0. */
CORIO_API int corio_tcp_listener_close(corio_tcp_listener *l);

/* corio_tcp_accept as a future: result 0 (and `stream` is set) or a code.
 * Dropped before it is ready, it has taken no connection. */
typedef struct corio_tcp_accept_fut {
    corio_future base;
    corio_tcp *stream;
    corio_tcp_listener *l_;
    int err_;                 /* the error being backed off from */
    corio_sleep_fut backoff_; /* armed while backing off */
    corio_io_waiter_ w_;
} corio_tcp_accept_fut;
CORIO_API void corio_tcp_accept_fut_init(corio_tcp_accept_fut *f, corio_tcp_listener *l);

/* ---- connecting ------------------------------------------------------------------ */

/* Connect to `addr`, a numeric address or a host name: every address the
 * name resolves to is tried in turn until one accepts; the error of the
 * last one is returned if none does. Put a deadline around it with
 * corio_timeout_call (or corio_timeout on the future form): it covers the
 * lookup and every attempt. Returns 0 and *out, or -ECONNREFUSED,
 * -ENETUNREACH, -EHOSTUNREACH, -ETIMEDOUT (the system's own timeout),
 * CORIO_ENOHOST, -EAGAIN (no DNS answer), -EINVAL (NULL, malformed),
 * -EMFILE, CORIO_ECANCELED, CORIO_ETIMEDOUT, CORIO_EWRONGCTX,
 * CORIO_ESHUTDOWN. Interrupted, it leaves no socket behind. */
CORIO_API int corio_tcp_connect(const char *addr, corio_tcp **out);

/* Connect to one resolved address. As corio_tcp_connect. */
CORIO_API int corio_tcp_connect_addr(const corio_addr *addr, corio_tcp **out);

/* corio_tcp_connect_addr as a future: result 0 (and `stream` is set) or a
 * code. The socket is made at the first poll; dropped before it is ready,
 * the future closes it. */
typedef struct corio_tcp_connect_fut {
    corio_future base;
    corio_tcp *stream;
    corio_addr addr_;
    corio_io_waiter_ w_;
} corio_tcp_connect_fut;
CORIO_API void corio_tcp_connect_fut_init(corio_tcp_connect_fut *f, const corio_addr *addr);

/* ---- reading and writing ----------------------------------------------------------- */

/* Read up to `len` bytes, waiting until some arrive. The count (0: the peer
 * closed its side, or len == 0, which returns at once, waiting for
 * nothing, as read(2) of 0 bytes), or -ECONNRESET, -EBADF (fd not open),
 * CORIO_ESHUTDOWN, an interruption code, -EINVAL. Cancel safety: an
 * interrupted read has read nothing. */
CORIO_API ssize_t corio_tcp_read(corio_tcp *c, void *buf, size_t len);

/* Write up to `len` bytes, waiting until there is room for some. The count
 * (may be less than len), or -EPIPE, -ECONNRESET, and as corio_tcp_read.
 * Cancel safety: an interrupted write has written nothing. */
CORIO_API ssize_t corio_tcp_write(corio_tcp *c, const void *buf, size_t len);

/* Scatter and gather: as read and write over `iovcnt` buffers (readv(2),
 * writev(2); at most IOV_MAX). A readv with no room (iovcnt 0, or every
 * iov_len 0) is a read of len 0: 0 at once. */
CORIO_API ssize_t corio_tcp_readv(corio_tcp *c, const struct iovec *iov, int iovcnt);
CORIO_API ssize_t corio_tcp_writev(corio_tcp *c, const struct iovec *iov, int iovcnt);

/* Read exactly `len` bytes. 0, or CORIO_EEOF when the peer closed first,
 * or an error as corio_tcp_read. Cancel safety: NOT cancel safe - an
 * interrupted call may have read part of the bytes into buf, and they are
 * gone from the stream; use the future form to learn how many. */
CORIO_API int corio_tcp_read_exact(corio_tcp *c, void *buf, size_t len);

/* Write all `len` bytes. 0, or an error as corio_tcp_write. Cancel safety:
 * NOT cancel safe - an interrupted call may have sent a prefix; use the
 * future form to learn how long. */
CORIO_API int corio_tcp_write_all(corio_tcp *c, const void *buf, size_t len);

/* read_exact and write_all as futures: result 0 or a code; `done` counts
 * the bytes moved so far, also when the future is dropped or fails. */
typedef struct corio_tcp_exact_fut {
    corio_future base;
    size_t done;
    corio_tcp *c_;
    void *buf_;
    size_t len_;
    int write_;
    corio_io_waiter_ w_;
} corio_tcp_exact_fut;
CORIO_API void corio_tcp_read_exact_fut_init(corio_tcp_exact_fut *f, corio_tcp *c, void *buf,
                                             size_t len);
CORIO_API void corio_tcp_write_all_fut_init(corio_tcp_exact_fut *f, corio_tcp *c,
                                            const void *buf, size_t len);

/* ---- the connection ------------------------------------------------------------------ */

/* Shut down one or both halves (SHUT_WR: send FIN, the peer's reads return
 * 0; SHUT_RD; SHUT_RDWR). Another task's read in progress returns 0 after
 * SHUT_RD or SHUT_RDWR. 0, or -ENOTCONN, -EINVAL. Any thread. */
CORIO_API int corio_tcp_shutdown(corio_tcp *c, int how);

/* The local and the peer's address. 0, or -EINVAL, -ENOTCONN. */
CORIO_API int corio_tcp_local_addr(const corio_tcp *c, corio_addr *out);
CORIO_API int corio_tcp_peer_addr(const corio_tcp *c, corio_addr *out);

/* TCP_NODELAY: send small writes at once (no Nagle delay). 0 or -errno. */
CORIO_API int corio_tcp_set_nodelay(corio_tcp *c, bool on);
/* SO_KEEPALIVE, with the idle time before the first probe (idle > 0: in
 * whole seconds, rounded up, at most 32767 s; <= 0 keeps the system's).
 * 0 or -errno. */
CORIO_API int corio_tcp_set_keepalive(corio_tcp *c, bool on, corio_duration idle);

/* The stream as an async fd (for corio/io.h's futures and readiness). It
 * stays the stream's: close the stream, not the fd. NULL for NULL. */
CORIO_API corio_fd *corio_tcp_as_fd(corio_tcp *c);

/* Close the connection and free `c`. Any thread. 0, or close's error;
 * NULL: 0. Data not yet sent still goes out (the system's default). */
CORIO_API int corio_tcp_close(corio_tcp *c);

#ifdef __cplusplus
}
#endif
#endif
