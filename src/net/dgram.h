/* net/dgram.h - what the datagram sockets share: UDP (net/udp.c) and Unix
 * datagram sockets (net/unix_dgram.c) (internal).
 *
 * A datagram socket is a bare corio_fd inside its public type's struct
 * (first). Addresses travel as corio_addr, whose sockaddr_storage holds a
 * sockaddr_un as well as an IPv4 or IPv6 address; each module turns them
 * into its own public form. The futures of both modules keep their own
 * fields; the cores below poll those fields.
 *
 * A datagram call never reports "drained" (a receive that got less than its
 * buffer says nothing of the datagrams queued behind, a send that went
 * through nothing of the room left): readiness is cleared only by EAGAIN.
 */
#ifndef CORIO_NET_DGRAM_H
#define CORIO_NET_DGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "corio/io.h"
#include "corio/net.h"
#include "corio/time.h"
#include "io/fd.h"

/* Inside a coroutine task: receive one datagram into buf (at most len
 * bytes, the rest discarded), its sender into *from (may be NULL), whether
 * it was cut into *truncated (may be NULL). The count, or a code as
 * fd_io's. */
ssize_t dgram_recv(corio_fd *f, void *buf, size_t len, corio_addr *from, bool *truncated);

/* Inside a coroutine task: send one datagram to `to` (NULL: the connected
 * peer), waiting while the send buffer is full. len, or a code. */
ssize_t dgram_send(corio_fd *f, const void *buf, size_t len, const corio_addr *to);

/* One poll of a receive future whose fields these are: CORIO_READY with
 * *result (the count or a code) and *from, *truncated; or CORIO_PENDING.
 * `shut_eof`: an empty queue on a socket shut for reading is 0 (an end),
 * not a wait (Unix datagram sockets; net/dgram.c says why). */
corio_poll dgram_recv_poll(corio_fd *f, void *buf, size_t len, corio_addr *from, bool shut_eof,
                           bool *truncated, corio_io_waiter_ *w, corio_context *cx, int *result);

/* One poll of a send future. `retry` (NULL: none) is for a socket whose
 * readiness cannot tell when an unconnected send may go on: a Unix
 * datagram sent with a destination to a receiver whose queue is full says
 * EAGAIN, and no event ever comes for it. The send is then also retried
 * when the timer `retry` fires (`*retry_ms`: 0 before the first, then 1,
 * 2, 4... up to 64 ms), as well as on writability. The retry timer is the
 * future's own: dgram_send_drop gives it back. */
corio_poll dgram_send_poll(corio_fd *f, const void *buf, size_t len, const corio_addr *to,
                           corio_sleep_fut *retry, unsigned *retry_ms, corio_io_waiter_ *w,
                           corio_context *cx, int *result);
void dgram_send_drop(corio_fd *f, corio_sleep_fut *retry, unsigned retry_ms,
                     corio_io_waiter_ *w);

#endif
