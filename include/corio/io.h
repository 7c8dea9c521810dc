/* corio/io.h - any file descriptor as an async one.
 *
 * A corio_fd wraps an fd that the kernel can report readiness for (a
 * socket, a pipe, an eventfd, a terminal, the socket of another C library
 * such as libpq or hiredis) and registers it with the I/O driver of the
 * runtime it was opened on. Reading and writing it then suspends the
 * calling task, not the thread, until the fd is ready:
 *
 *     corio_fd *f;
 *     int rc = corio_fd_open(pipe_read_end, &f);       // now O_NONBLOCK
 *     char buf[512];
 *     ssize_t n = corio_fd_read(f, buf, sizeof buf);    // awaits data
 *     corio_fd_close(f);                                // closes the fd too
 *
 * For an operation corio has no call for (recvmsg, a library's own
 * non-blocking read), wait for readiness and clear it when the call says
 * EAGAIN, with the readiness the wait saw (so that an event that arrived
 * during the call is not lost):
 *
 *     corio_fd_ready ready;
 *     for (;;) {
 *         if ((rc = corio_fd_wait(f, CORIO_READABLE, &ready)) < 0)
 *             return rc;                    // cancelled, timed out, shut down
 *         ssize_t n = recvmsg(corio_fd_raw(f), &msg, 0);
 *         if (n >= 0 || errno != EAGAIN)
 *             break;
 *         corio_fd_clear_ready(f, &ready, CORIO_READABLE);
 *     }
 *
 * Readiness is edge-triggered underneath and kept per direction: one task
 * may read while another writes. Several tasks may wait on one fd; a
 * readiness event wakes every waiter for that direction.
 *
 * Regular files cannot be watched this way (epoll refuses them:
 * corio_fd_open returns -EPERM); files are read off the worker threads by
 * corio/fs.h instead.
 *
 * Threads: the fd may be used from any task of any runtime, and closed from
 * any thread, but it is registered with one runtime's driver, the one of
 * the runtime it was opened on, and only that driver reports its
 * readiness. A task that waits on it - from any runtime - is woken only
 * while that runtime runs: a multi-thread runtime's workers always do, but
 * a current-thread runtime runs only while some thread is inside its
 * corio_rt_block_on (corio/runtime.h). While nobody drives it, a wait from
 * another runtime's task does not end when the fd becomes ready: it ends
 * when the runtime is driven again, at the wait's deadline or
 * cancellation, or when the runtime is freed (CORIO_ESHUTDOWN). So open
 * the fd on the runtime whose tasks use it. Once that runtime is freed,
 * every call that waits for readiness (read, write, wait and their
 * futures) returns CORIO_ESHUTDOWN; corio_fd_raw, corio_fd_clear_ready,
 * corio_fd_release and corio_fd_close still work. Closing an fd
 * while another task is in an operation on it is undefined, as close(2) on
 * an fd that another thread reads is; to make another task's read return,
 * shut the socket down (corio/net.h) instead.
 *
 * Every waiting call here is an await: in a cancelled task, or past the
 * deadline of an enclosing deadline scope, it returns CORIO_ECANCELED or
 * CORIO_ETIMEDOUT, and that after consuming nothing (no byte was read or
 * written by the interrupted call). In plain code, and in a stackless
 * task's poll function, the calls return CORIO_EWRONGCTX, whatever the
 * state of the fd's runtime (alive or freed): poll the future forms there.
 *
 * NULL (docs/conventions.md): functions returning a status or a count
 * return -EINVAL for a NULL corio_fd, corio_fd_close returns 0,
 * corio_fd_raw -1, corio_fd_clear_ready does nothing. A _fut_init does
 * nothing for a NULL future; a future made with a NULL corio_fd finishes
 * with -EINVAL at its first poll.
 */
#ifndef CORIO_IO_H
#define CORIO_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api.h"
#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_fd corio_fd;

/* Interest: what to wait for (a bit set). */
enum {
    CORIO_READABLE = 1, /* data, a connection to accept, EOF or an error */
    CORIO_WRITABLE = 2, /* room to write, a connect that finished, or an error */
};

/* Make `fd` async: set O_NONBLOCK on it and register it with the driver of
 * the calling task's runtime (a stackless task's too; not from plain code,
 * blocking-pool jobs included). The corio_fd owns the fd from then on. Returns 0 and *out, or:
 *   -EINVAL          fd < 0, or out is NULL;
 *   -EPERM           the fd cannot be watched for readiness (a regular
 *                    file or a directory);
 *   -EBADF           fd is not open;
 *   -ENOMEM          out of memory;
 *   CORIO_EWRONGCTX  not in a task: plain code (a blocking-pool job too);
 *   CORIO_ESHUTDOWN  the runtime is shutting down.
 * On error the fd is left as it was (still the caller's) and *out is set
 * to NULL (when out is not NULL). */
CORIO_API int corio_fd_open(int fd, corio_fd **out);

/* Unregister and close the fd, and free `f`. Any thread. Returns 0, or
 * close(2)'s error (the fd is closed and `f` freed regardless). NULL: 0. */
CORIO_API int corio_fd_close(corio_fd *f);

/* Unregister and free `f`, giving the fd back to the caller open (and still
 * O_NONBLOCK) in *fd. Returns 0, or -EINVAL when f or fd is NULL (then
 * nothing changes; *fd is -1 when fd is not NULL). */
CORIO_API int corio_fd_release(corio_fd *f, int *fd);

/* The fd number (-1 for NULL, as every raw fd query). It stays the corio_fd's: do not close it. */
CORIO_API int corio_fd_raw(const corio_fd *f);

/* ---- readiness ------------------------------------------------------------ */

/* What a wait saw: the directions found ready, and (private) the state
 * that corio_fd_clear_ready needs. */
typedef struct corio_fd_ready {
    unsigned dirs; /* CORIO_READABLE and/or CORIO_WRITABLE */
    uint64_t seen_;
} corio_fd_ready;

/* Inside a task: wait until the fd is ready for any direction in `interest`
 * (CORIO_READABLE, CORIO_WRITABLE or both). Returns at once when it already
 * is. Returns 0 and fills *ready (may be NULL), or:
 *   -EINVAL           f NULL, or interest names no direction;
 *   -EBADF            the fd is not open (closed behind corio's back: a
 *                     corio_fd_close during the wait is undefined, above);
 *   CORIO_ESHUTDOWN   its runtime is gone;
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT, CORIO_EWRONGCTX   as corio_await.
 * "Ready" is a hint: the next system call may still say EAGAIN (another
 * task took the data). Then call corio_fd_clear_ready and wait again. */
CORIO_API int corio_fd_wait(corio_fd *f, unsigned interest, corio_fd_ready *ready);

/* A system call made after corio_fd_wait said EAGAIN: forget the readiness
 * for `interest` that `ready` saw - unless an event has come since, in
 * which case the next wait returns at once. Also right after a read that
 * drained the fd without EAGAIN: on a stream socket or a pipe, a read that
 * returned less than it asked for (not on a datagram socket, where a short
 * read is one small datagram). Any thread; NULL: nothing. */
CORIO_API void corio_fd_clear_ready(corio_fd *f, const corio_fd_ready *ready, unsigned interest);

/* ---- reading and writing -------------------------------------------------- */

/* Inside a task: read up to `len` bytes, waiting until some are there.
 * Returns the count (0: end of file, or len == 0, which returns at once
 * without waiting for readiness, as read(2) of 0 bytes), or a negative code:
 * read(2)'s error (-ECONNRESET...; -EBADF, as corio_fd_wait), CORIO_ESHUTDOWN,
 * or an interruption code as corio_fd_wait. Cancel safety: an interrupted
 * read has read nothing. */
CORIO_API ssize_t corio_fd_read(corio_fd *f, void *buf, size_t len);

/* Inside a task: write up to `len` bytes, waiting until there is room for
 * some. Returns how many were written (possibly fewer than len), or a
 * negative code as corio_fd_read (-EPIPE for a closed peer: on a socket
 * corio sends with MSG_NOSIGNAL, so no SIGPIPE is raised). Cancel safety:
 * an interrupted write has written nothing. */
CORIO_API ssize_t corio_fd_write(corio_fd *f, const void *buf, size_t len);

/* ---- copying ------------------------------------------------------------------ *
 *
 *   corio_fd_copy(from, to, &copied)                       tokio::io::copy
 *   corio_fd_copy_bidirectional(a, b, &a_to_b, &b_to_a)    copy_bidirectional
 *
 * The body of a proxy or a relay: bytes read from one fd are written to the
 * other until the reader reaches end of file, through a buffer of
 * CORIO_COPY_BUF bytes per direction (allocated at the first poll, freed at
 * the end). A socket, a pipe, a terminal: any corio_fd (corio_tcp_as_fd,
 * corio_unix_as_fd give a connection's). Bytes already taken into a
 * corio_bufreader are not seen: write its buffered bytes first.
 *
 * corio_fd_copy returns 0 once `from` reached end of file and every byte
 * read was written; `to` is left open (not shut down). The bidirectional
 * form copies both ways at once in the calling task; when one side reaches
 * end of file it shuts down the write half of the other (if it is a
 * socket: shutdown(SHUT_WR), so that its peer reads end of file too) and
 * goes on with the other direction; it returns 0 once both directions
 * have ended. The counts (may be NULL) are the bytes written each way, set
 * whatever the outcome. Other returns:
 *   -EINVAL          an fd NULL;
 *   -ENOMEM          no memory for the buffers;
 *   a read's or write's error (-ECONNRESET, -EPIPE...), or CORIO_ESHUTDOWN:
 *                    the first one in either direction ends the copy;
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT, CORIO_EWRONGCTX   as corio_await.
 * Not cancel safe, like tokio's: a copy interrupted (cancelled, timed out,
 * or dropped as a future) between a read and its write has lost the bytes
 * in its buffer - they were read from `from` and not written to `to`. The
 * counts say how far it got. A copy between two fds that are always ready
 * yields to other tasks after CORIO_COPY_BUF * 16 bytes a direction, so it
 * does not hold its worker. */
#define CORIO_COPY_BUF 8192

CORIO_API int corio_fd_copy(corio_fd *from, corio_fd *to, uint64_t *copied);
CORIO_API int corio_fd_copy_bidirectional(corio_fd *a, corio_fd *b, uint64_t *a_to_b,
                                          uint64_t *b_to_a);

/* ---- future forms ------------------------------------------------------------ */

/* Private: a pending operation's place in its fd's list of waiters. */
typedef struct corio_io_waiter_ {
    struct corio_io_waiter_ *next_, *prev_;
    corio_waker waker_;
    unsigned bits_;   /* what it waits for */
    unsigned queued_;
} corio_io_waiter_;

/* corio_fd_wait as a future: result is 0 (and `ready` is filled) or a
 * code, as corio_fd_wait returns. */
typedef struct corio_fd_wait_fut {
    corio_future base;
    corio_fd *fd_;
    unsigned interest_;
    corio_fd_ready ready;
    corio_io_waiter_ w_;
} corio_fd_wait_fut;
CORIO_API void corio_fd_wait_fut_init(corio_fd_wait_fut *fut, corio_fd *f, unsigned interest);

/* corio_fd_read and corio_fd_write as futures: result is the count or a
 * code (a read of len 0 is done at its first poll, with 0). The buffer
 * must stay valid until the future is done or dropped. */
typedef struct corio_fd_io_fut {
    corio_future base;
    corio_fd *fd_;
    void *buf_;
    size_t len_;
    corio_io_waiter_ w_;
} corio_fd_io_fut;
CORIO_API void corio_fd_read_fut_init(corio_fd_io_fut *fut, corio_fd *f, void *buf, size_t len);
CORIO_API void corio_fd_write_fut_init(corio_fd_io_fut *fut, corio_fd *f, const void *buf,
                                       size_t len);

/* Private: one direction of a copy. */
typedef struct corio_copy_dir_ {
    corio_fd *from_, *to_;
    char *buf_;         /* CORIO_COPY_BUF bytes, from the first poll */
    size_t pos_, end_;  /* [pos_, end_): read, not yet written */
    unsigned state_;
    corio_io_waiter_ rw_, ww_;
} corio_copy_dir_;

/* corio_fd_copy and corio_fd_copy_bidirectional as futures: result is 0
 * or a code as they return; a_to_b and b_to_a (from -> to for the one-way
 * form) are the bytes written each way so far, readable at any time. The
 * fds must stay open until the future is done or dropped; the drop frees
 * the buffers (and loses their bytes, see above). */
typedef struct corio_fd_copy_fut {
    corio_future base;
    uint64_t a_to_b, b_to_a;
    corio_copy_dir_ dir_[2];
    unsigned ndirs_;
} corio_fd_copy_fut;
CORIO_API void corio_fd_copy_fut_init(corio_fd_copy_fut *fut, corio_fd *from, corio_fd *to);
CORIO_API void corio_fd_copy_bidirectional_fut_init(corio_fd_copy_fut *fut, corio_fd *a,
                                                    corio_fd *b);

#ifdef __cplusplus
}
#endif
#endif
