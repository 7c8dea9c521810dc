/* io/driver.h - the I/O backend interface (internal).
 *
 * The backend is the only code that talks to the kernel's event API. It is
 * small on purpose (as Redis keeps ae_epoll.c behind ae.c): epoll implements
 * it now (io/epoll.c); io_uring is meant to implement the same calls. It
 * knows nothing of tasks or wakers: it reports what fired as a neutral list
 * of (token, readiness) pairs, the way ae_epoll.c fills fired[], and the
 * reactor (io/reactor.h) turns that into wakes.
 *
 * Contract:
 *  - driver_poll is called by one thread at a time (the reactor's turn
 *    holder); every other call may come from any thread at any time.
 *  - A registration is edge-triggered for both directions at once: after
 *    driver_add, the backend reports each change from "not ready" to "ready"
 *    (and, once, the state at the time of the add). A token is reported only
 *    between its driver_add and the return of its driver_del; one that was
 *    already copied out by a driver_poll in progress is still in that poll's
 *    list (the reactor frees a registration only after the turn that may
 *    have seen it).
 *  - driver_unpark makes a driver_poll in progress return, or the next one
 *    return at once; it shows up as no event at all.
 */
#ifndef CORIO_IO_DRIVER_H
#define CORIO_IO_DRIVER_H

#include <stdint.h>

typedef struct driver driver;

/* Readiness bits, the backend's neutral vocabulary. */
enum {
    DRV_READABLE = 1u << 0,
    DRV_WRITABLE = 1u << 1,
    DRV_READ_CLOSED = 1u << 2,  /* the peer will send nothing more (EOF, HUP) */
    DRV_WRITE_CLOSED = 1u << 3, /* nothing more can be sent (HUP) */
    DRV_ERROR = 1u << 4,        /* an error is pending on the fd */
};

typedef struct driver_event {
    void *token;
    uint32_t ready; /* DRV_* bits */
} driver_event;

/* Returns 0 or a negative errno (-EMFILE, -ENOMEM...). */
int driver_open(driver **out);
void driver_close(driver *d);

/* Start reporting `fd`'s readiness, with `token`. 0 or a negative errno
 * (-EPERM: a regular file, which epoll cannot watch; -ENOMEM...). */
int driver_add(driver *d, int fd, void *token);
/* Stop reporting `fd`. 0 or a negative errno. */
int driver_del(driver *d, int fd);

/* Wait until an event arrives, the driver is unparked, or `timeout_ns`
 * passes (< 0: no limit; 0: just look). Fills up to `cap` events and
 * returns how many, or a negative errno. */
int driver_poll(driver *d, int64_t timeout_ns, driver_event *fired, int cap);

/* Wake a driver_poll in progress, or make the next one return at once. Any
 * thread, async-signal-safe. */
void driver_unpark(driver *d);

#endif
