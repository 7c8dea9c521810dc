/* tests/util_net.h - network helpers shared by the tests/test_net_*.c files
 * (definitions in tests/util_net.c). */
#ifndef CORIO_TESTS_UTIL_NET_H
#define CORIO_TESTS_UTIL_NET_H

#include <stdbool.h>
#include <stddef.h>

#include <corio.h>

/* Run fn(arg) as the main task of a fresh current-thread runtime, then of a
 * fresh two-worker multi-thread runtime; checks both return 0. */
void net_run_both(corio_fn fn, void *arg);

/* Listen on 127.0.0.1 with a port of the kernel's choosing; *addr gets the
 * string to connect to (checked). */
corio_tcp_listener *net_listen_any(char addr[CORIO_ADDR_STRLEN]);

/* A task function: one read of one byte from the corio_tcp `arg`; returns
 * what the read returned (0 at end of stream, or its error). */
int net_tcp_pending_reader(void *arg);

/* A fresh socket path in /tmp, unique to this process and call (tagged with
 * `tag`; nothing left at it). */
void net_tmp_path(char *buf, size_t size, const char *tag);

/* Whether something exists at `path` (stat). */
bool net_exists(const char *path);

#endif
