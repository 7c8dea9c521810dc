/* io/driver.h - the I/O driver interface (internal).
 *
 * The scheduler parks in the driver when it has nothing to run, and any
 * thread can unpark it. The interface is small on purpose (as Redis keeps
 * ae_epoll.c behind ae.c): epoll implements it now (io/epoll.c); a
 * completion-based io_uring backend is meant to implement the same calls,
 * with readiness registration added by the networking layer.
 */
#ifndef CORIO_IO_DRIVER_H
#define CORIO_IO_DRIVER_H

#include <stdint.h>

typedef struct driver driver;

/* Returns 0 or a negative errno (-EMFILE, -ENOMEM...). */
int driver_open(driver **out);
void driver_close(driver *d);

/* Sleep until unparked, an event arrives, or `timeout_ns` passes
 * (< 0: no limit; 0: just poll). Returns 0 or a negative errno. */
int driver_park(driver *d, int64_t timeout_ns);

/* Wake a parked driver, or make its next park return at once. Any thread,
 * async-signal-safe. */
void driver_unpark(driver *d);

#endif
