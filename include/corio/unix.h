/* corio/unix.h - Unix-domain sockets: stream listeners and streams, and
 * datagram sockets (the second half of this header).
 *
 *     int serve(void *arg) {
 *         corio_unix_listener *l;
 *         int rc = corio_unix_listen("/run/app.sock", 1024, &l);
 *         if (rc < 0) return rc;                  // -EADDRINUSE: the path exists
 *         for (corio_unix *c; corio_unix_accept(l, &c) == 0; )
 *             corio_spawn(echo, c, NULL);          // a task per connection
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
 * the last socket bound to it. Each socket type has abstract names of its
 * own: a stream listener and a datagram socket may both hold "@myapp", and
 * a connect of the other type finds nobody there (-ECONNREFUSED). A longer
 * path is -ENAMETOOLONG (we check before the kernel, which would say
 * -EINVAL, or silently cut the name); an empty path or a lone "@" is
 * -EINVAL.
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
 * down instead). After the runtime is freed, the calls that wait for the
 * socket (accept, the reads and writes, and their futures), made in a task
 * of another runtime, return CORIO_ESHUTDOWN; the calls that do not wait
 * act on the socket as usual (shutdown, peer_cred, the _as_fd calls; a
 * read of len 0 returns 0, and read_exact and write_all of len 0 return 0
 * in plain code too, having nothing to wait for), and closing works. From
 * plain code the other waiting calls return CORIO_EWRONGCTX, whether the
 * runtime is alive or freed.
 *
 * A call that makes a listener or a stream sets *out to NULL when it fails.
 *
 * NULL (docs/conventions.md), for streams and datagram sockets alike:
 * calls returning a status or a count return -EINVAL for a NULL listener,
 * stream, socket or path; closing NULL returns 0; the _as_fd calls return
 * NULL for NULL. A _fut_init does nothing for a NULL future; a future made
 * with a NULL listener, stream or socket finishes with -EINVAL at its
 * first poll.
 */
#ifndef CORIO_UNIX_H
#define CORIO_UNIX_H

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

typedef struct corio_unix_listener corio_unix_listener;
typedef struct corio_unix corio_unix;

/* Longest path or abstract name (after the '@'), in bytes, without a NUL. */
#define CORIO_UNIX_PATH_MAX 107

/* ---- listening ------------------------------------------------------------------ */

/* Listen on `path` (a file system path or "@abstract") with an accept queue
 * of `backlog` (<= 0: 1024; the system caps it at net.core.somaxconn).
 * Never waits. Inside a task. Returns 0 and *out, or:
 *   -EADDRINUSE      the path exists (any file, a stale socket file too),
 *                    or the abstract name is taken (by a stream socket);
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
 *   -EPROTOTYPE      a datagram socket is bound at the path (an abstract
 *                    name only a datagram socket holds: -ECONNREFUSED);
 *   -EACCES, -ENAMETOOLONG,
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

/* ==== datagram sockets ============================================================
 *
 *     int serve(void *arg) {
 *         corio_unix_dgram *d;
 *         int rc = corio_unix_dgram_bind("/run/app.dgram", &d);
 *         if (rc < 0) return rc;
 *         char buf[2048];
 *         corio_unix_addr from;
 *         ssize_t n;
 *         while ((n = corio_unix_dgram_recv_from(d, buf, sizeof buf, &from)) >= 0)
 *             if (from.path[0])                       // "" : an unbound sender
 *                 corio_unix_dgram_send_to(d, buf, (size_t)n, from.path);
 *         return corio_unix_dgram_close(d);
 *     }
 *
 * A datagram socket is what a UDP socket is (corio/udp.h), with paths for
 * addresses, and shares its implementation: one call moves one datagram,
 * a receive takes the next one whole (cut to the buffer, the rest
 * discarded, the future's `truncated` says so; an empty datagram is
 * received as 0), a send sends it whole or fails. Unlike UDP, the kernel
 * never drops a Unix datagram: a sender waits while the receiver's queue
 * is full (net.unix.max_dgram_qlen datagrams, 10 by default). A datagram
 * larger than the socket's send buffer (about 208 KiB by default) is
 * -EMSGSIZE.
 *
 * Paths and abstract names ("@name") are those of the stream half above,
 * with the same rules: binding makes the file and fails with -EADDRINUSE
 * when the path exists; closing never removes it (unlink it yourself).
 *
 * A socket is bound (corio_unix_dgram_bind: others can send to it),
 * unbound (corio_unix_dgram_unbound: it can send; its datagrams arrive
 * from "", which cannot be answered), or one of a connected pair
 * (corio_unix_dgram_pair). corio_unix_dgram_connect fixes a peer: send and
 * recv then work, and only the peer's datagrams are received.
 *
 * Waiting, interruption and threads are as for UDP sockets: every call that
 * waits suspends the calling coroutine task and takes part in cancellation
 * and deadline scopes; interrupted, it returns CORIO_ECANCELED or
 * CORIO_ETIMEDOUT and has moved nothing (cancel safety: an interrupted
 * receive has taken no datagram, an interrupted send has sent none). In
 * plain code and in stackless poll functions the waiting calls return
 * CORIO_EWRONGCTX; poll the future forms there (corio_timeout on them
 * bounds a single call, and they can be raced in a select). Several tasks
 * may receive and send on one socket at once; closing it while another
 * task is in a call on it is undefined (corio_unix_dgram_shutdown wakes a
 * receiver instead). After the runtime is freed, the calls that wait for
 * the socket (send_to, recv_from, send, recv, and their futures), made in
 * a task of another runtime, return CORIO_ESHUTDOWN; the calls that do not
 * wait act on the socket as usual (connect, local_addr, peer_addr,
 * shutdown, as_fd), and closing works.
 */

typedef struct corio_unix_dgram corio_unix_dgram;

/* A Unix socket's address as text: a path, "@name" for an abstract name
 * (cut at a NUL byte inside the name, which corio cannot make but other
 * programs may), or "" for an unbound socket. It can be handed to
 * corio_unix_dgram_send_to as it is - but for a path of the full 108
 * bytes without a NUL, which another program may bind and corio cannot
 * (send_to says -ENAMETOOLONG). */
typedef struct corio_unix_addr {
    char path[CORIO_UNIX_PATH_MAX + 2]; /* '@', the name, the NUL */
} corio_unix_addr;

/* ---- the socket ------------------------------------------------------------------ */

/* A datagram socket bound to `path` (a file system path or "@abstract").
 * Never waits. Inside a task. Returns 0 and *out, or the codes of
 * corio_unix_listen: -EADDRINUSE (the path exists, or the abstract name
 * is taken), -ENAMETOOLONG, -EINVAL (NULL, "", "@"), -ENOENT, -EACCES,
 * -ENOTDIR, -EROFS, -EMFILE, CORIO_EWRONGCTX, CORIO_ESHUTDOWN. No file is
 * left behind by a call that failed. *out is NULL on failure. */
CORIO_API int corio_unix_dgram_bind(const char *path, corio_unix_dgram **out);

/* A datagram socket bound to no address: it can send (with send_to, or
 * after connect), but nobody can send to it unless it is connected. Inside
 * a task. 0 and *out, or -EMFILE, -EINVAL (NULL), CORIO_EWRONGCTX,
 * CORIO_ESHUTDOWN. */
CORIO_API int corio_unix_dgram_unbound(corio_unix_dgram **out);

/* Two unbound datagram sockets connected to each other (socketpair(2)).
 * Inside a task. 0 and *a, *b, or -EMFILE, -EINVAL (NULL),
 * CORIO_EWRONGCTX, CORIO_ESHUTDOWN. */
CORIO_API int corio_unix_dgram_pair(corio_unix_dgram **a, corio_unix_dgram **b);

/* Close the socket and free `d`. Any thread. 0, or close's error; NULL: 0.
 * The socket file stays (unlink it yourself). */
CORIO_API int corio_unix_dgram_close(corio_unix_dgram *d);

/* Set the socket's peer to the socket bound at `path`: send and recv then
 * go to and come from it only. Never waits (a Unix connect is done, or
 * refused, at once). Connecting again changes the peer. Returns 0, or
 * -ENOENT (no such path), -ECONNREFUSED (no socket is bound there, or a
 * stale file; an abstract name no datagram socket holds, a stream
 * listener's included), -EPROTOTYPE (a stream socket is bound at the
 * path), -EACCES, -ENAMETOOLONG, -EINVAL (NULL, "",
 * "@"). Any thread. */
CORIO_API int corio_unix_dgram_connect(corio_unix_dgram *d, const char *path);

/* The address the socket is bound to, and the connected peer's: 0 and
 * *out ("" when unbound), or -ENOTCONN (peer: not connected), -EINVAL
 * (NULL). Any thread. */
CORIO_API int corio_unix_dgram_local_addr(const corio_unix_dgram *d, corio_unix_addr *out);
CORIO_API int corio_unix_dgram_peer_addr(const corio_unix_dgram *d, corio_unix_addr *out);

/* shutdown(2) of one or both directions (SHUT_RD, SHUT_WR, SHUT_RDWR):
 * after SHUT_RD, receives, a waiting one included, return 0 once the
 * queue is empty; after SHUT_WR, sends fail with -EPIPE. 0, or -EINVAL.
 * Any thread. */
CORIO_API int corio_unix_dgram_shutdown(corio_unix_dgram *d, int how);

/* The socket as an async fd (corio/io.h). It stays the socket's: close the
 * socket, not the fd. NULL for NULL. */
CORIO_API corio_fd *corio_unix_dgram_as_fd(corio_unix_dgram *d);

/* ---- sending and receiving ----------------------------------------------------------- */

/* Send one datagram of `len` bytes to the socket bound at `path`, waiting
 * while the receiver's queue (or our send buffer) is full. On a connected
 * socket the datagram goes to `path` all the same. Returns len, or
 * -ENOENT (no such path), -ECONNREFUSED (nobody is bound there; an
 * abstract name no datagram socket holds), -EPROTOTYPE (a stream socket
 * is bound at the path), -EPERM (the receiver is connected to another socket), -EMSGSIZE (too
 * large), -EACCES, -ENAMETOOLONG, -EINVAL (NULL d or path, "", "@", a
 * NULL buf with len > 0), CORIO_ESHUTDOWN, CORIO_ECANCELED,
 * CORIO_ETIMEDOUT, CORIO_EWRONGCTX. Cancel safety: an interrupted send has
 * sent nothing. A receiver with a full queue gives no readiness event to
 * an unconnected sender, so this wait also retries on a timer (1 ms,
 * doubling to 64 ms): a send that waits for a slow receiver may send up
 * to 64 ms after room was made. Connected sends (corio_unix_dgram_send)
 * are woken by the kernel. */
CORIO_API ssize_t corio_unix_dgram_send_to(corio_unix_dgram *d, const void *buf, size_t len,
                                           const char *path);

/* Receive one datagram into buf (at most `len` bytes; the rest of a longer
 * one is discarded), waiting until one arrives; its sender's address goes
 * to *from (may be NULL). Returns the bytes copied (0 for an empty
 * datagram, or after SHUT_RD), or -EINVAL (NULL d, NULL buf with len > 0),
 * CORIO_ESHUTDOWN, CORIO_ECANCELED, CORIO_ETIMEDOUT, CORIO_EWRONGCTX.
 * Cancel safety: an interrupted receive has taken no datagram. */
CORIO_API ssize_t corio_unix_dgram_recv_from(corio_unix_dgram *d, void *buf, size_t len,
                                             corio_unix_addr *from);

/* Send one datagram to the connected peer: as send_to, plus -ENOTCONN
 * (not connected) and -ECONNREFUSED (the peer has gone; connect again),
 * -EPIPE after SHUT_WR. */
CORIO_API ssize_t corio_unix_dgram_send(corio_unix_dgram *d, const void *buf, size_t len);

/* Receive one datagram: corio_unix_dgram_recv_from with from NULL. */
CORIO_API ssize_t corio_unix_dgram_recv(corio_unix_dgram *d, void *buf, size_t len);

/* ---- future forms ---------------------------------------------------------------- */

/* recv_from and recv as a future: result is the bytes copied or a code;
 * once done, `from` holds the sender and `truncated` whether the datagram
 * was longer than the buffer. The buffer must stay valid until the future
 * is done or dropped. Dropped before it is ready, it has taken no
 * datagram. */
typedef struct corio_unix_dgram_recv_fut {
    corio_future base;
    corio_unix_addr from;
    bool truncated;
    corio_unix_dgram *d_;
    void *buf_;
    size_t len_;
    corio_addr from_;
    corio_io_waiter_ w_;
} corio_unix_dgram_recv_fut;
CORIO_API void corio_unix_dgram_recv_from_fut_init(corio_unix_dgram_recv_fut *f,
                                                   corio_unix_dgram *d, void *buf, size_t len);
CORIO_API void corio_unix_dgram_recv_fut_init(corio_unix_dgram_recv_fut *f, corio_unix_dgram *d,
                                              void *buf, size_t len);

/* send_to (`path` is copied at init; a bad one is its code, -EINVAL or
 * -ENAMETOOLONG, when polled) and send as a future: result is len or a
 * code. The buffer must stay valid until the future is done or dropped.
 * Dropped before it is ready, it has sent nothing. */
typedef struct corio_unix_dgram_send_fut {
    corio_future base;
    corio_unix_dgram *d_;
    const void *buf_;
    size_t len_;
    int to_err_; /* 1: has a destination; 0: none; < 0: the bad path's code */
    unsigned retry_ms_;
    corio_addr to_;
    corio_sleep_fut retry_;
    corio_io_waiter_ w_;
} corio_unix_dgram_send_fut;
CORIO_API void corio_unix_dgram_send_to_fut_init(corio_unix_dgram_send_fut *f,
                                                 corio_unix_dgram *d, const void *buf,
                                                 size_t len, const char *path);
CORIO_API void corio_unix_dgram_send_fut_init(corio_unix_dgram_send_fut *f, corio_unix_dgram *d,
                                              const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
