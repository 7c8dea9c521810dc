/* corio/udp.h - UDP sockets.
 *
 *     int echo(void *arg) {
 *         corio_udp *u;
 *         int rc = corio_udp_bind("127.0.0.1:9000", &u);
 *         if (rc < 0) return rc;
 *         char buf[1500];
 *         corio_addr from;
 *         ssize_t n;
 *         while ((n = corio_udp_recv_from(u, buf, sizeof buf, &from)) >= 0)
 *             corio_udp_send_to(u, buf, (size_t)n, &from);
 *         return corio_udp_close(u);
 *     }
 *
 * Datagram semantics: one call moves one datagram.
 *  - A receive takes the next datagram whole. When it is longer than the
 *    buffer, the buffer is filled and the rest of that datagram is
 *    discarded: the call returns the bytes copied (as tokio and recv(2)
 *    do), never the datagram's real length; the future form's `truncated`
 *    tells that it happened. A receive of len 0 takes a datagram and
 *    discards it. An empty datagram is received as 0 - which, unlike on a
 *    stream, is no end of anything.
 *  - A send sends the whole datagram or fails: it returns len, never less.
 *    A datagram too large for the protocol (65507 bytes over IPv4) is
 *    -EMSGSIZE. A send waits only while the socket's send buffer is full.
 *  - UDP itself may lose, duplicate or reorder datagrams; corio adds no
 *    guarantee (on the loopback interface nothing is lost unless a
 *    receive buffer overflows).
 *
 * A socket is unconnected after bind: send_to names the destination of each
 * datagram, recv_from takes datagrams from anyone and says who sent them.
 * corio_udp_connect fixes a peer: send and recv then work, only that peer's
 * datagrams are received, and an ICMP "port unreachable" that comes back
 * for a datagram sent to it makes a later send or receive (also one in
 * progress) fail with -ECONNREFUSED (once; the next call works again).
 *
 * Every call that waits suspends the calling coroutine task, never the
 * worker thread; it takes part in cancellation and deadline scopes like any
 * await: interrupted, it returns CORIO_ECANCELED or CORIO_ETIMEDOUT, and
 * has then moved nothing (cancel safety: an interrupted receive has taken
 * no datagram, an interrupted send has sent none). In plain code and in
 * stackless poll functions the waiting calls return CORIO_EWRONGCTX; poll
 * the future forms there (corio_timeout on them bounds a single call).
 *
 * A socket is registered with the runtime it was made on and may be used
 * from any of its tasks; several tasks may receive (each datagram goes to
 * one of them) and send on one socket at once. Closing it while another
 * task is in a call on it is undefined. After the runtime is freed, the
 * calls that wait for the socket (send_to, recv_from, send, recv, and
 * their futures), made in a task of another runtime, return
 * CORIO_ESHUTDOWN; the calls that do not wait act on the socket as usual
 * (connect, connect_addr, local_addr, peer_addr, set_broadcast, as_fd),
 * and closing works. From plain code the waiting calls return
 * CORIO_EWRONGCTX, whether the runtime is alive or freed.
 *
 * Errors are the system's, negated (-EADDRINUSE, -ECONNREFUSED,
 * -EMSGSIZE...), plus corio's own (corio/error.h).
 *
 * NULL (docs/conventions.md): calls returning a status or a count return
 * -EINVAL for a NULL socket or address; closing NULL returns 0;
 * corio_udp_as_fd(NULL) is NULL. A _fut_init does nothing for a NULL
 * future; a future made with a NULL socket (or a NULL buffer with len > 0)
 * finishes with -EINVAL at its first poll.
 */
#ifndef CORIO_UDP_H
#define CORIO_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "api.h"
#include "future.h"
#include "io.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_udp corio_udp;

/* ---- the socket ------------------------------------------------------------------ */

/* Make a UDP socket bound to `addr`: a numeric address ("127.0.0.1:0",
 * "[::]:5353", "0.0.0.0:0") or a host name ("localhost:0"; every address
 * it resolves to is tried in turn, the first that binds is used). Port 0
 * asks for any free port (corio_udp_local_addr tells which). No
 * SO_REUSEADDR. Inside a task; it waits only to resolve a name. Returns 0 and *out, or -EINVAL
 * (NULL, malformed address or port), -EADDRINUSE, -EACCES (a privileged
 * port), -EADDRNOTAVAIL (not this host's address), -EMFILE, CORIO_ENOHOST,
 * -EAGAIN (no DNS answer), CORIO_ECANCELED, CORIO_ETIMEDOUT (while
 * resolving), CORIO_EWRONGCTX (no runtime), CORIO_ESHUTDOWN. *out is NULL
 * on failure. */
CORIO_API int corio_udp_bind(const char *addr, corio_udp **out);

/* Close the socket and free `u`. Any thread. 0, or close's error; NULL: 0. */
CORIO_API int corio_udp_close(corio_udp *u);

/* The address the socket is bound to (with the port the kernel chose for
 * port 0). 0, or -EINVAL (NULL), or getsockname's error. */
CORIO_API int corio_udp_local_addr(const corio_udp *u, corio_addr *out);

/* The connected peer's address. 0, or -ENOTCONN (not connected), -EINVAL. */
CORIO_API int corio_udp_peer_addr(const corio_udp *u, corio_addr *out);

/* SO_BROADCAST: allow sending to a broadcast address (without it such a
 * send fails with -EACCES). 0, -EINVAL (NULL) or -errno. */
CORIO_API int corio_udp_set_broadcast(corio_udp *u, bool on);

/* The socket as an async fd (for corio/io.h's readiness calls). It stays the
 * socket's: close the socket, not the fd. NULL for NULL. */
CORIO_API corio_fd *corio_udp_as_fd(corio_udp *u);

/* ---- unconnected: a destination per datagram ---------------------------------------- */

/* Send one datagram of `len` bytes to `to`, waiting while the send buffer is
 * full. On a connected socket the datagram goes to `to` all the same.
 * Returns len, or -EINVAL (NULL u or to, an empty `to`, NULL buf with
 * len > 0), -EAFNOSUPPORT (`to` is of a family the socket cannot send
 * to: IPv6 from an IPv4 socket), -EMSGSIZE (too large), -EACCES (a
 * broadcast address without corio_udp_set_broadcast), -ENETUNREACH,
 * -EBADF (fd not open), CORIO_ESHUTDOWN, CORIO_ECANCELED, CORIO_ETIMEDOUT,
 * CORIO_EWRONGCTX. Cancel safety: an interrupted send has sent nothing. */
CORIO_API ssize_t corio_udp_send_to(corio_udp *u, const void *buf, size_t len,
                                    const corio_addr *to);

/* Receive one datagram into buf (at most `len` bytes; the rest of a longer
 * datagram is discarded), waiting until one arrives; its sender goes to
 * *from (may be NULL). Returns the bytes copied, or -ECONNREFUSED (a
 * connected socket's peer is not there), -EINVAL (NULL u, NULL buf with
 * len > 0), -EBADF, CORIO_ESHUTDOWN, CORIO_ECANCELED, CORIO_ETIMEDOUT,
 * CORIO_EWRONGCTX. Cancel safety: an interrupted receive has taken no
 * datagram; the next one gets it. */
CORIO_API ssize_t corio_udp_recv_from(corio_udp *u, void *buf, size_t len, corio_addr *from);

/* ---- connected: one peer ------------------------------------------------------------ */

/* Set the socket's peer to `addr`, a numeric address or a host name (every
 * address it resolves to is tried in turn until connect(2) takes one of
 * the socket's family). Nothing is sent: UDP has no handshake, so this
 * succeeds whether or not anyone listens there (an absent peer shows as
 * -ECONNREFUSED later). Connecting again changes the peer. It waits only
 * to resolve a name. Returns 0, or -EINVAL (NULL, malformed), -EAFNOSUPPORT
 * (no address of the socket's family), -ENETUNREACH, CORIO_ENOHOST,
 * -EAGAIN (no DNS answer), CORIO_ECANCELED, CORIO_ETIMEDOUT,
 * CORIO_EWRONGCTX. Interrupted (while resolving), the peer is unchanged. */
CORIO_API int corio_udp_connect(corio_udp *u, const char *addr);

/* The same with a resolved address; never waits. */
CORIO_API int corio_udp_connect_addr(corio_udp *u, const corio_addr *addr);

/* Send one datagram to the connected peer. As corio_udp_send_to, plus
 * -EDESTADDRREQ (not connected) and -ECONNREFUSED (an ICMP port
 * unreachable came back for an earlier datagram). */
CORIO_API ssize_t corio_udp_send(corio_udp *u, const void *buf, size_t len);

/* Receive one datagram from the connected peer. As corio_udp_recv_from
 * with from NULL (on an unconnected socket it takes datagrams from anyone,
 * as recv(2) does). */
CORIO_API ssize_t corio_udp_recv(corio_udp *u, void *buf, size_t len);

/* ---- future forms ---------------------------------------------------------------- */

/* corio_udp_recv_from and corio_udp_recv as a future: result is the bytes
 * copied or a code; once done, `from` holds the sender and `truncated`
 * whether the datagram was longer than the buffer (and cut). The buffer
 * must stay valid until the future is done or dropped. Dropped before it
 * is ready, it has taken no datagram. */
typedef struct corio_udp_recv_fut {
    corio_future base;
    corio_addr from;
    bool truncated;
    corio_udp *u_;
    void *buf_;
    size_t len_;
    corio_io_waiter_ w_;
} corio_udp_recv_fut;
CORIO_API void corio_udp_recv_from_fut_init(corio_udp_recv_fut *f, corio_udp *u, void *buf,
                                            size_t len);
CORIO_API void corio_udp_recv_fut_init(corio_udp_recv_fut *f, corio_udp *u, void *buf,
                                       size_t len);

/* corio_udp_send_to (to != NULL; copied at init) and corio_udp_send (the
 * second init) as a future: result is len or a code. The buffer must stay
 * valid until the future is done or dropped. Dropped before it is ready,
 * it has sent nothing. */
typedef struct corio_udp_send_fut {
    corio_future base;
    corio_udp *u_;
    const void *buf_;
    size_t len_;
    int has_to_;
    corio_addr to_;
    corio_io_waiter_ w_;
} corio_udp_send_fut;
CORIO_API void corio_udp_send_to_fut_init(corio_udp_send_fut *f, corio_udp *u, const void *buf,
                                          size_t len, const corio_addr *to);
CORIO_API void corio_udp_send_fut_init(corio_udp_send_fut *f, corio_udp *u, const void *buf,
                                       size_t len);

#ifdef __cplusplus
}
#endif
#endif
