/* io/epoll.c - the epoll driver: parking, unparking through an eventfd.
 *
 * Parking uses epoll_pwait2 when the kernel has it (nanosecond timeouts,
 * Linux 5.11+), else epoll_wait with the timeout rounded up to whole
 * milliseconds, so a park never returns before a timer's deadline by
 * rounding. The eventfd stays registered edge-free: a wake makes it
 * readable, the parked thread reads it back to zero.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "io/driver.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct driver {
    int epfd;
    int evfd;
    int has_pwait2; /* 1 yes, 0 no, -1 unknown */
};

int driver_open(driver **out)
{
    driver *d = malloc(sizeof *d);
    if (!d)
        return -ENOMEM;
    d->has_pwait2 = -1;
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (d->epfd < 0) {
        int e = errno;
        free(d);
        return -e;
    }
    d->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->evfd < 0) {
        int e = errno;
        close(d->epfd);
        free(d);
        return -e;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->evfd, &ev) < 0) {
        int e = errno;
        close(d->evfd);
        close(d->epfd);
        free(d);
        return -e;
    }
    *out = d;
    return 0;
}

void driver_close(driver *d)
{
    if (!d)
        return;
    close(d->evfd);
    close(d->epfd);
    free(d);
}

static int wait_events(driver *d, struct epoll_event *evs, int n, int64_t timeout_ns)
{
#ifdef SYS_epoll_pwait2
    if (d->has_pwait2 != 0) {
        struct timespec ts, *tp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = timeout_ns / 1000000000;
            ts.tv_nsec = timeout_ns % 1000000000;
            tp = &ts;
        }
        long r = syscall(SYS_epoll_pwait2, d->epfd, evs, n, tp, NULL, 0);
        if (r >= 0 || errno != ENOSYS) {
            d->has_pwait2 = 1;
            return (int)r;
        }
        d->has_pwait2 = 0;
    }
#endif
    int ms = -1;
    if (timeout_ns >= 0) {
        int64_t m = (timeout_ns + 999999) / 1000000;
        ms = m > 0x7fffffff ? 0x7fffffff : (int)m;
    }
    return epoll_wait(d->epfd, evs, n, ms);
}

int driver_park(driver *d, int64_t timeout_ns)
{
    struct epoll_event evs[64];
    int n = wait_events(d, evs, 64, timeout_ns);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == NULL) {
            uint64_t v;
            ssize_t r = read(d->evfd, &v, sizeof v);
            (void)r;
        }
    }
    return 0;
}

void driver_unpark(driver *d)
{
    uint64_t one = 1;
    ssize_t r = write(d->evfd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is saturated, so it is readable anyway */
}
