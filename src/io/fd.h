/* io/fd.h - the async fd and the engine of every readiness-driven
 * operation on it (internal; shared with the sockets of net/).
 *
 * An operation is a system call that may say EAGAIN (io_call_fn). The
 * engine tries it while the fd is ready for the operation's direction, and
 * clears that readiness when the call says EAGAIN (with the tick it saw,
 * io/reactor.h), then waits. A call that moved fewer bytes than it could
 * have ("drained") clears it too, sparing the EAGAIN round: with
 * edge-triggered readiness, more data or room brings a new event (tokio's
 * PollEvented does the same). A short read drains only a pipe or a stream
 * socket: not an FD_MSG fd, where it may be one datagram or line of
 * several queued.
 *
 * A corio_fd is the registration plus what the operations need to know of
 * the fd; a socket type of net/ is a corio_fd with more fields after it
 * (fd_open_sized).
 */
#ifndef CORIO_IO_FD_H
#define CORIO_IO_FD_H

#include <stdbool.h>
#include <sys/types.h>

#include "corio/io.h"
#include "io/reactor.h"

enum {
    FD_SOCK = 1u << 0, /* a socket: writes go through send(MSG_NOSIGNAL) */
    FD_MSG = 1u << 1,  /* a short read is no sign of a drained fd (fd_io_poll
                        * then leaves readiness to EAGAIN): a datagram or
                        * seqpacket socket (one message a read), a terminal
                        * (one line), any fd but a pipe or a stream socket */
};

struct corio_fd {
    io_reg reg; /* first: freed with the registration */
    unsigned flags;
};

/* A system call: >= 0 done (set *drained when it moved less than it could
 * have), or a negative errno (-EAGAIN: not ready after all). */
typedef ssize_t (*io_call_fn)(int fd, void *arg, bool *drained);

/* The calls of a socket's recv and send (MSG_NOSIGNAL), on an io_buf. */
typedef struct io_buf {
    void *buf;
    size_t len;
} io_buf;
ssize_t fd_recv_call(int fd, void *arg, bool *drained);
ssize_t fd_send_call(int fd, void *arg, bool *drained);

/* The calls that read and write `f` on an io_buf: recv and send for a
 * socket, read and write otherwise. */
io_call_fn fd_reader(const corio_fd *f);
io_call_fn fd_writer(const corio_fd *f);

/* An io_call_fn's result from a system call's `n` of `len` bytes asked: a
 * read that moved less than it could drained the fd (0, the end of the
 * stream, did not); so did any short write. -errno for n < 0. */
ssize_t fd_io_result(ssize_t n, size_t len, bool reading, bool *drained);

/* Register `fd` (made non-blocking) with the calling context's runtime, in
 * an object of `size` bytes (>= sizeof(corio_fd)). The codes of
 * corio_fd_open. */
int fd_open_sized(int fd, size_t size, unsigned flags, corio_fd **out);

/* The same for an fd known to be a non-blocking socket that the caller just
 * made (an accepted or a new socket): no checks, no system call but the
 * registration's. */
int fd_adopt(int fd, size_t size, unsigned flags, corio_fd **out);

/* Inside a coroutine task: run `call` until it is done, waiting for `bits`
 * (IO_READ_BITS or IO_WRITE_BITS) as needed. Its result, -EBADF (closed),
 * CORIO_ESHUTDOWN, or an interruption code. */
ssize_t fd_io(corio_fd *f, uint32_t bits, io_call_fn call, void *arg);

/* The same as one poll of a future: CORIO_READY with *res, or CORIO_PENDING
 * with `w` queued. */
corio_poll fd_io_poll(corio_fd *f, uint32_t bits, corio_io_waiter_ *w, corio_context *cx,
                      io_call_fn call, void *arg, ssize_t *res);

#endif
