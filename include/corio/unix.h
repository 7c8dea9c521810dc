/* corio/unix.h - Unix-domain stream sockets: listeners and streams.
 *
 *     int serve(void *arg) {
 *         corio_unix_listener *l;
 *         int rc = corio_unix_listen("/run/app.sock", 1024, &l);
 *         if (rc < 0) return rc;                  // -EADDRINUSE: the path exists
 *         for (corio_unix *c; corio_unix_accept(l, &c) == 0; )
 *             corio_spawn_detached(echo, c);
 *         corio_unix_listener_close(l);
 *         unlink("/run/app.sock");                 // closing does not
 *         return 0;
 *     }
 *
 * A stream behaves exactly as a corio_tcp (corio/tcp.h), with which it
 * shares its implementation: the same reads and writes, the same futures,
 * the same cancel safety, the same errors (-EPIPE or -ECONNRESET writing to
 * a peer that has gone, never SIGPIPE). This header says where it differs.
 *
 * Paths. A path is a file system path, at most 107 bytes (sun_path holds
 * 108 with the NUL), or, on Linux, an abstract name: a leading '@' stands
 * for the NUL byte that starts one ("@myapp" is "\0myapp", at most 107
 * bytes after the '@'); an abstract name makes no file and goes away with
 * the last socket bound to it. A longer path is -ENAMETOOLONG (we check
 * before the kernel, which would say -EINVAL, or silently cut the name); an
 * empty path or a lone "@" is -EINVAL.
 *
 * Files. Listening creates the socket file (with the process's umask) and
 * never removes one: when the path exists, even as the file of a listener
 * that is gone, listen returns -EADDRINUSE. Closing the listener does not
 * unlink the file either. Both are the caller's decision (unlink(2) before
 * listening again), as in every other runtime: a server that removed the
 * path first could take over another live server's name.
 *
 * Every call that waits suspends the calling coroutine task, never the
 * worker thread, and takes part in cancellation and deadline scopes;
 * interrupted, it returns CORIO_ECANCELED or CORIO_ETIMEDOUT. In plain code
 * and in stackless poll functions the waiting calls return CORIO_EWRONGCTX;
 * poll the future forms there. Listeners and streams are registered with
 * the runtime they were made on and may be used from any of its tasks;
 * closing one while another task is in a call on it is undefined (shut it
 * down instead). After the runtime is freed every call returns
 * CORIO_ESHUTDOWN; only closing still works.
 *
 * A call that makes a listener or a stream sets *out to NULL when it fails.
 */
#ifndef CORIO_UNIX_H
#define CORIO_UNIX_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "api.h"
#include "future.h"
#include "io.h"
#include "time.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_unix_listener corio_unix_listener;
typedef struct corio_unix corio_unix;

/* Longest path or abstract name (after the '@'), in bytes, without a NUL. */
#define CORIO_UNIX_PATH_MAX 107

/* ---- listening ------------------------------------------------------------------ */

/* Listen on `path` (a file system path or "@abstract") with an accept queue
 * of `backlog` (<= 0: 1024; the system caps it at net.core.somaxconn).
 * Never waits. Inside a task. Returns 0 and *out, or:
 *   -EADDRINUSE      the path exists (any file, a stale socket file too),
 *                    or the abstract name is taken;
 *   -ENAMETOOLONG    longer than CORIO_UNIX_PATH_MAX;
 *   -EINVAL          NULL, "" or "@";
 *   -ENOENT, -EACCES, -ENOTDIR, -EROFS   the directory's fault;
 *   -EMFILE, CORIO_EWRONGCTX (no runtime), CORIO_ESHUTDOWN.
 * On failure no file is left behind by this call. */
CORIO_API int corio_unix_listen(const char *path, int backlog, corio_unix_listener **out);

/* Wait for a connection and take it: 0 and *out, or the codes of
 * corio_tcp_accept (including its pause on -EMFILE and -ENFILE). Cancel
 * safety: an interrupted accept has taken no connection. */
CORIO_API int corio_unix_accept(corio_unix_listener *l, corio_unix **out);

/* Stop listening, free `l`. The socket file stays (unlink it yourself).
 * Any thread. 0, or close's error; NULL: 0. */
CORIO_API int corio_unix_listener_close(corio_unix_listener *l);

/* The listener as an async fd (readiness: a connection is waiting). It
 * stays the listener's. NULL for NULL. */
CORIO_API corio_fd *corio_unix_listener_as_fd(corio_unix_listener *l);

/* corio_unix_accept as a future: result 0 (and `stream` is set) or a code.
 * Dropped before it is ready, it has taken no connection. */
typedef struct corio_unix_accept_fut {
    corio_future base;
    corio_unix *stream;
    corio_unix_listener *l_;
    int err_;                 /* the error being backed off from */
    corio_sleep_fut backoff_; /* armed while backing off */
    corio_io_waiter_ w_;
} corio_unix_accept_fut;
CORIO_API void corio_unix_accept_fut_init(corio_unix_accept_fut *f, corio_unix_listener *l);

/* ---- connecting ------------------------------------------------------------------ */

/* Connect to the listener at `path` ("@name" for an abstract one). The
 * kernel connects a Unix socket at once or refuses, so this call never
 * waits (and has no future form); the connection is queued at the
 * listener until it accepts it. Inside a task. Returns 0 and *out, or:
 *   -ENOENT          no such path (or abstract name: -ECONNREFUSED);
 *   -ECONNREFUSED    nobody listens there (a stale socket file, a file
 *                    that is no socket);
 *   -EAGAIN          the listener's accept queue is full (a non-blocking
 *                    Unix connect cannot wait for room: try again later);
 *   -EACCES, -EPROTOTYPE (a datagram socket), -ENAMETOOLONG,
 *   -EINVAL (NULL, "", "@"), -EMFILE, CORIO_EWRONGCTX, CORIO_ESHUTDOWN. */
CORIO_API int corio_unix_connect(const char *path, corio_unix **out);

/* A connected pair of streams (socketpair(2)), both registered with the
 * calling context's runtime: 0 and *a, *b, or -EMFILE, CORIO_EWRONGCTX,
 * CORIO_ESHUTDOWN, -EINVAL (NULL). */
CORIO_API int corio_unix_pair(corio_unix **a, corio_unix **b);

/* ---- reading and writing ----------------------------------------------------------- */

/* As corio_tcp_read, _write, _readv, _writev, _read_exact, _write_all
 * (corio/tcp.h), with their results, errors and cancel safety: read, write,
 * readv and writev move nothing when interrupted; read_exact and write_all
 * are NOT cancel safe (use their futures' `done`). */
CORIO_API ssize_t corio_unix_read(corio_unix *c, void *buf, size_t len);
CORIO_API ssize_t corio_unix_write(corio_unix *c, const void *buf, size_t len);
CORIO_API ssize_t corio_unix_readv(corio_unix *c, const struct iovec *iov, int iovcnt);
CORIO_API ssize_t corio_unix_writev(corio_unix *c, const struct iovec *iov, int iovcnt);
CORIO_API int corio_unix_read_exact(corio_unix *c, void *buf, size_t len);
CORIO_API int corio_unix_write_all(corio_unix *c, const void *buf, size_t len);

/* read_exact and write_all as futures: result 0 or a code; `done` counts
 * the bytes moved so far, also when the future is dropped or fails. */
typedef struct corio_unix_exact_fut {
    corio_future base;
    size_t done;
    corio_unix *c_;
    void *buf_;
    size_t len_;
    int write_;
    corio_io_waiter_ w_;
} corio_unix_exact_fut;
CORIO_API void corio_unix_read_exact_fut_init(corio_unix_exact_fut *f, corio_unix *c, void *buf,
                                              size_t len);
CORIO_API void corio_unix_write_all_fut_init(corio_unix_exact_fut *f, corio_unix *c,
                                             const void *buf, size_t len);

/* ---- the connection ------------------------------------------------------------------ */

/* Shut down one or both halves, as corio_tcp_shutdown. 0, or -ENOTCONN,
 * -EINVAL. Any thread. */
CORIO_API int corio_unix_shutdown(corio_unix *c, int how);

/* The peer's credentials, as the kernel recorded them when the connection
 * was made (SO_PEERCRED; for a pair, the calling process's): its process
 * id, user id and group id. Any out-pointer may be NULL. 0, or -EINVAL (c
 * NULL), or getsockopt's error. */
CORIO_API int corio_unix_peer_cred(const corio_unix *c, pid_t *pid, uid_t *uid, gid_t *gid);

/* The stream as an async fd (for corio/io.h's futures and readiness). It
 * stays the stream's: close the stream, not the fd. NULL for NULL. */
CORIO_API corio_fd *corio_unix_as_fd(corio_unix *c);

/* Close the connection and free `c`. Any thread. 0, or close's error;
 * NULL: 0. */
CORIO_API int corio_unix_close(corio_unix *c);

#ifdef __cplusplus
}
#endif
#endif
