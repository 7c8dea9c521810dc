/* corio/net.h - socket addresses and host name resolution.
 *
 * An address string is "host:port": an IPv4 address as a dotted quad
 * ("127.0.0.1:8080", "0.0.0.0:0"), an IPv6 address in brackets ("[::1]:0",
 * "[fe80::1%eth0]:22"; brackets hold nothing else), or, where a call says
 * so, a host name ("localhost:6379", "example.com:443"; what is not a
 * numeric address goes to getaddrinfo as it is). Port 0 asks the kernel
 * for a free one. A corio_addr holds one resolved address, IPv4 or IPv6,
 * by value.
 *
 * Name resolution (corio_addr_resolve, and the calls that take host names)
 * runs getaddrinfo on the runtime's blocking pool, off the worker threads,
 * as tokio does. The pool grows with demand (up to the builder's
 * max_blocking_threads), so slow lookups do not queue behind each other
 * the way they do on libuv's fixed pool of 4 threads (libuv#28), and a
 * caller that is cancelled or times out returns at once: its lookup
 * finishes in the background and its answer is thrown away. A numeric
 * address never goes to the pool.
 */
#ifndef CORIO_NET_H
#define CORIO_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One socket address (IPv4 or IPv6; the socket calls also use it for
 * whatever family the kernel hands back). `len` is 0 for "no address". */
typedef struct corio_addr {
    struct sockaddr_storage sa;
    socklen_t len;
} corio_addr;

/* Longest string corio_addr_format writes, with its NUL
 * ("[ffff:...%interface]:65535"). */
#define CORIO_ADDR_STRLEN 80

/* Parse a numeric address string ("127.0.0.1:80", "[::1]:0") into *out.
 * Host names are not looked up here (see corio_addr_resolve). Returns 0, or
 * -EINVAL for NULL arguments, a missing or malformed port (not 0-65535), a
 * malformed or non-numeric host, an IPv6 address without brackets, or
 * brackets around anything but an IPv6 address ("[127.0.0.1]:80"). An
 * IPv4 address is a dotted quad of four decimal numbers, as inet_pton
 * reads it: inet_aton's short, hexadecimal and octal forms ("127.1:80",
 * "0x7f.0.0.1:80", "010.0.0.1:80") are -EINVAL, not another address. Any
 * thread; never waits. */
CORIO_API int corio_addr_parse(const char *str, corio_addr *out);

/* Write `a` as "127.0.0.1:80" or "[::1]:80" into buf (`size` bytes, with
 * the NUL; CORIO_ADDR_STRLEN is always enough). Returns the length without
 * the NUL, -ENOSPC when it does not fit (buf then holds ""), -EINVAL for
 * NULL arguments or an address that is not IPv4 or IPv6. */
CORIO_API int corio_addr_format(const corio_addr *a, char *buf, size_t size);

/* The port of an IPv4 or IPv6 address, in host order (0 otherwise). */
CORIO_API uint16_t corio_addr_port(const corio_addr *a);

/* Resolve "host:port" (a host name or a numeric address) to at most `max`
 * addresses, stored in out[0..*n), in the order getaddrinfo gives them
 * (the order to try them in). Inside a task it suspends the task while the
 * lookup runs on the blocking pool; in plain code it blocks the thread.
 * Returns 0 with *n >= 1, or:
 *   -EINVAL          NULL arguments, max == 0, a malformed string or port
 *                    (an IPv4 address other than a dotted quad of decimals,
 *                    such as inet_aton's "127.1" or "010.0.0.1", included);
 *   CORIO_ENOHOST    the name is unknown;
 *   -EAGAIN          no answer right now (DNS servers unreachable);
 *   -ENOMEM          out of memory;
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT   interrupted (the lookup goes on in
 *                    the background; nothing is stored);
 *   CORIO_ESHUTDOWN  the runtime is shutting down. */
CORIO_API int corio_addr_resolve(const char *host_port, corio_addr *out, size_t max, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
