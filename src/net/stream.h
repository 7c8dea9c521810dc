/* net/stream.h - what the stream sockets share: TCP (net/tcp.c) and Unix
 * (net/unix.c) listeners and connections (internal).
 *
 * A listener is a stream_listener, a connection a bare corio_fd, each
 * inside its public type's struct (first). The public futures of both
 * modules keep their own fields; the cores below poll those fields, so the
 * two modules differ only in how a socket is made and in their options.
 */
#ifndef CORIO_NET_STREAM_H
#define CORIO_NET_STREAM_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "corio/io.h"
#include "corio/net.h"
#include "corio/time.h"
#include "io/fd.h"

typedef struct stream_listener {
    corio_fd fd;         /* first */
    unsigned backoff_ms; /* accept's pause after running out of fds; atomic */
} stream_listener;

/* One poll of an accept on `l` (NULL: -EINVAL). A connection taken becomes
 * an fd object of `conn_size` bytes in *conn. `err`, `backoff` and `w` are
 * the future's own state, zeroed at its init. CORIO_READY with *result (0
 * and *conn set, or a code; corio/tcp.h says which), or CORIO_PENDING. */
corio_poll stream_accept_poll(stream_listener *l, size_t conn_size, int *err,
                              corio_sleep_fut *backoff, corio_io_waiter_ *w, corio_context *cx,
                              corio_fd **conn, int *result);
void stream_accept_drop(stream_listener *l, int err, corio_sleep_fut *backoff,
                        corio_io_waiter_ *w);

/* readv, writev (sendmsg, MSG_NOSIGNAL), read_exact, write_all on a
 * connection: the codes of corio_tcp_readv... (-EINVAL for a NULL f). */
ssize_t stream_readv(corio_fd *f, const struct iovec *iov, int iovcnt);
ssize_t stream_writev(corio_fd *f, const struct iovec *iov, int iovcnt);
int stream_read_exact(corio_fd *f, void *buf, size_t len);
int stream_write_all(corio_fd *f, const void *buf, size_t len);

/* One poll of a read_exact (`write` 0) or a write_all (1) future, whose
 * fields these are: CORIO_READY with *result, or CORIO_PENDING. */
corio_poll stream_exact_poll(corio_fd *f, int write, void *buf, size_t len, size_t *done,
                             corio_io_waiter_ *w, corio_context *cx, int *result);

/* shutdown(2): 0, -errno, -EINVAL for NULL. */
int stream_shutdown(corio_fd *f, int how);

/* getsockname (peer 0) or getpeername (peer 1) of any socket (UDP's too)
 * into *out: 0 or -errno. */
int net_sock_addr(int fd, corio_addr *out, int peer);

#endif
