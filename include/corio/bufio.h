/* corio/bufio.h - buffered reading and writing over any async fd
 * (tokio's BufReader and BufWriter, AsyncBufReadExt::read_line/read_until).
 *
 *     corio_bufreader r;
 *     corio_bufreader_init(&r, corio_tcp_as_fd(conn), 0);   // 8 KiB
 *     char line[1024];
 *     ssize_t n;
 *     while ((n = corio_bufreader_read_line(&r, line, sizeof line)) > 0)
 *         handle(line, (size_t)n);          // "GET / HTTP/1.1\r\n", NUL-terminated
 *     // n == 0: the peer closed; n == -EMSGSIZE: a line over 1023 bytes
 *     corio_bufreader_drop(&r);             // the fd stays open, the caller's
 *
 * Both work over a corio_fd: a pipe or any fd opened with corio_fd_open, a
 * TCP stream (corio_tcp_as_fd), a Unix stream. They borrow it: the fd must
 * outlive them, and is neither closed nor flushed by their drop. A reader
 * and a writer may share one fd (one task reading while another writes);
 * a reader or a writer itself is used by one task at a time.
 *
 * Every call that waits is an await (corio/io.h): inside a coroutine task
 * only (CORIO_EWRONGCTX elsewhere); interrupted, it returns CORIO_ECANCELED
 * or CORIO_ETIMEDOUT, and each call says what it had done by then (its
 * cancel safety). The short version: nothing is ever lost or duplicated.
 * A read_delim/read_line that is interrupted keeps the part of the line it
 * had received in the reader's buffer, and the next call returns the whole
 * line (tokio's read_line is not cancel safe: corio's is). An interrupted
 * flush keeps what it did not send in the writer's buffer.
 *
 * No future forms (docs/conventions.md, Deadlines): a call is a loop of fd
 * reads or writes that keeps its progress in the reader or writer, so a
 * deadline scope or a cancellation interrupts it losing nothing. To race
 * one in a select, race the fd's readiness (corio_fd_wait_fut) and call it
 * when ready, or run it in a task of its own.
 *
 * The structs live in the caller's storage; fields ending in _ are
 * private. The buffer is malloc'd by init and freed by drop.
 */
#ifndef CORIO_BUFIO_H
#define CORIO_BUFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "api.h"
#include "io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The capacity init gives for 0. */
#define CORIO_BUFIO_DEFAULT_CAP 8192

/* ---- reading ---------------------------------------------------------------------- */

typedef struct corio_bufreader {
    corio_fd *fd_;
    char *buf_;
    size_t cap_;  /* may grow to hold one long line (read_delim's size) */
    size_t pos_;  /* first byte not consumed */
    size_t end_;  /* end of the data read */
    size_t scan_; /* bytes after pos_ known to hold no delimiter */
    int scan_delim_;
} corio_bufreader;

/* Make `r` a reader of `fd` with a buffer of `cap` bytes (0: 8 KiB): 0, or
 * -EINVAL (r or fd NULL), -ENOMEM. Any thread; nothing is read yet. */
CORIO_API int corio_bufreader_init(corio_bufreader *r, corio_fd *fd, size_t cap);

/* Free the buffer; data still in it is lost (corio_bufreader_buffered says
 * how much). The fd is not closed. NULL, or a reader already dropped: nothing. */
CORIO_API void corio_bufreader_drop(corio_bufreader *r);

/* Bytes read from the fd and not yet consumed (0 for NULL). */
CORIO_API size_t corio_bufreader_buffered(const corio_bufreader *r);

/* Read up to `len` bytes: first what is buffered; when the buffer is empty,
 * one read of the fd (straight into `buf` when len is at least the
 * buffer's capacity, else into the buffer). The count (0: end of stream,
 * or len == 0), or a code as corio_fd_read, or -EINVAL (r NULL, buf NULL
 * with len > 0). Cancel safety: an interrupted read has consumed nothing. */
CORIO_API ssize_t corio_bufreader_read(corio_bufreader *r, void *buf, size_t len);

/* Read up to and including the next `delim` byte into `out`, which has
 * room for `size` bytes; the line is NUL-terminated after its last byte,
 * so a line is at most size-1 bytes, delimiter included (fgets' rule).
 * Returns:
 *   n > 0       a line of n bytes. It ends with `delim` - or, at the end of
 *               the stream, it is the last part of the stream, which had no
 *               `delim` after it; the next call then returns 0;
 *   0           end of stream: nothing was left (tokio's Ok(0));
 *   -EMSGSIZE   no `delim` within the first size-1 bytes: the line is
 *               too long. Those size-1 bytes ARE consumed: they are in
 *               `out`, NUL-terminated (to log, or to deal with in pieces);
 *               the rest of the line stays in the stream, and the next
 *               call starts there (a caller that wants to skip the line
 *               calls again until a result ends with `delim`; a server
 *               usually closes the connection);
 *   -EINVAL     r or out NULL, or size < 2;
 *   -ENOMEM     the buffer had to grow (below) and could not;
 *   a code of corio_fd_read (-ECONNRESET, -EBADF, CORIO_ESHUTDOWN...) or
 *               an interruption code: nothing is consumed, and what had
 *               arrived of the line stays buffered for the next call.
 * Bytes are bytes: a NUL in the line is copied like any other (the count
 * tells the length); "\r\n" is left as it is (the line ends "\r\n": strip
 * the '\r' yourself if the protocol wants it).
 * Cancel safety: an interrupted call consumes nothing; the next call
 * returns the whole line, including the bytes that had arrived before the
 * interruption. For that, the reader keeps a partial line in its own
 * buffer, which grows to size-1 bytes if it is smaller (and stays so). */
CORIO_API ssize_t corio_bufreader_read_delim(corio_bufreader *r, int delim, char *out,
                                             size_t size);

/* corio_bufreader_read_delim(r, '\n', out, size). */
CORIO_API ssize_t corio_bufreader_read_line(corio_bufreader *r, char *out, size_t size);

/* ---- writing ------------------------------------------------------------------------ */

typedef struct corio_bufwriter {
    corio_fd *fd_;
    char *buf_;
    size_t cap_;
    size_t pos_; /* first byte not yet written to the fd */
    size_t end_; /* end of the data buffered */
    int err_;    /* owed to the next call: what cut a direct write short */
} corio_bufwriter;

/* Make `w` a writer to `fd` with a buffer of `cap` bytes (0: 8 KiB): 0, or
 * -EINVAL (w or fd NULL), -ENOMEM. */
CORIO_API int corio_bufwriter_init(corio_bufwriter *w, corio_fd *fd, size_t cap);

/* Free the buffer. Data not flushed is lost (corio_bufwriter_buffered says
 * how much): flush first. The fd is not closed. NULL, or dropped: nothing. */
CORIO_API void corio_bufwriter_drop(corio_bufwriter *w);

/* Bytes buffered and not yet written to the fd (0 for NULL). */
CORIO_API size_t corio_bufwriter_buffered(const corio_bufwriter *w);

/* Take `len` bytes: into the buffer while they fit; when they do not, the
 * buffer is flushed first, and then data of at least the buffer's capacity
 * is written straight to the fd (no copy), smaller data is buffered. So
 * many small writes cost one system call per buffer-full.
 * Returns len, or:
 *   fewer than len (> 0): only when interrupted, or failing, in the
 *               middle of writing `buf` straight to the fd: that many
 *               bytes of buf were written, and the writer keeps the code
 *               that stopped it. The next call, write or flush, returns
 *               that code having taken and written nothing - even a write
 *               that would fit in the buffer - so a loop that writes until
 *               a call fails sees why the count was short (write(2)'s
 *               short count, then its error). The call after that works
 *               as usual (and meets the interruption or the broken pipe
 *               again if it is still there and the call waits);
 *   a negative code, when none of `buf` was taken: the code kept from a
 *               write cut short (above), a code of corio_fd_write (-EPIPE
 *               for a peer that has gone, -ECONNRESET...), an
 *               interruption code, or -EINVAL (w NULL, buf NULL with
 *               len > 0).
 * A write that fits in the buffer does not wait, so it succeeds in a
 * cancelled task or past a deadline too; the flush that sends it returns
 * the interruption code.
 * Cancel safety: an interrupted write has taken what its count says and
 * nothing more; what was buffered before stays buffered, less what the
 * interrupted flush had written: nothing lost or sent twice. */
CORIO_API ssize_t corio_bufwriter_write(corio_bufwriter *w, const void *buf, size_t len);

/* Write everything buffered to the fd: 0, or a code as
 * corio_bufwriter_write (the code kept from a write cut short, writing
 * nothing then; -EPIPE when the peer has gone: on a socket no
 * SIGPIPE is raised; a pipe whose reader has gone raises SIGPIPE as
 * write(2) does, unless the program ignores it). On an error what was not
 * written stays buffered. Cancel safety: an interrupted flush has written
 * a prefix of the buffer, which is gone from it; the rest stays. */
CORIO_API int corio_bufwriter_flush(corio_bufwriter *w);

#ifdef __cplusplus
}
#endif
#endif
