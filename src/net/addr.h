/* net/addr.h - address strings, split and looked up (internal). */
#ifndef CORIO_NET_ADDR_H
#define CORIO_NET_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "corio/net.h"

/* Longest host part of an address string we accept (a DNS name is at most
 * 253 bytes; an IPv6 address with a scope id is shorter). */
#define ADDR_HOST_MAX 256

/* Split "host:port" / "[v6host]:port" into host (NUL-terminated, brackets
 * removed) and port text. 0, or -EINVAL for a malformed string: no port, a
 * port that is not a decimal 0-65535, an empty host, a host too long, an
 * IPv6 address without brackets, brackets around what is not an IPv6
 * address (a scope "%..." after it is left to the lookup). */
int addr_split(const char *s, char host[ADDR_HOST_MAX], char port[8]);

/* getaddrinfo for a stream socket on a split address; `numeric`: no name
 * lookup (fails with -EINVAL for a name, and for an IPv4 address that is
 * not a dotted quad of decimals: inet_aton's forms). Fills up to max
 * addresses. 0 with *n >= 1, or the codes of corio_addr_resolve. */
int addr_lookup(const char *host, const char *port, int numeric, corio_addr *out, size_t max,
                size_t *n);

/* An IPv4 address in one of inet_aton's forms but not a dotted quad of
 * decimals ("127.1", "0x7f.0.0.1", "010.0.0.1", "2130706433"): refused with
 * -EINVAL wherever a host is taken, names included (getaddrinfo would read
 * it as an address before any name lookup). */
bool addr_loose_ipv4(const char *host);

/* Look up a split address: numeric at once; a name on the blocking pool
 * inside a coroutine task (in plain code, here, blocking the thread). The
 * codes of corio_addr_resolve. */
int addr_resolve(const char *host, const char *port, corio_addr *out, size_t max, size_t *n);

/* A Unix socket path ("/run/x.sock", or "@name" for an abstract name) as
 * a sockaddr_un in out->sa, with out->len: 0, or -EINVAL (NULL, "", "@")
 * or -ENAMETOOLONG (more than CORIO_UNIX_PATH_MAX bytes; corio/unix.h). */
int addr_unix(const char *path, corio_addr *out);

/* A non-blocking, close-on-exec Unix socket of `type` (SOCK_STREAM,
 * SOCK_DGRAM) bound to `path` (bind_it) or connected to it: the fd, or
 * addr_unix's codes, socket's, bind's or connect's (-EADDRINUSE, -ENOENT,
 * -ECONNREFUSED...). A file made by a bind stays. */
int addr_unix_socket(const char *path, int type, bool bind_it);

#endif
