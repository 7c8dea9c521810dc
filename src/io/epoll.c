/* io/epoll.c - the epoll backend (io/driver.h).
 *
 * Every fd is added once, edge-triggered for reading and writing and for
 * the peer's hang-up (EPOLLRDHUP), with the reactor's token in data.ptr.
 * The wake-up eventfd is added level-triggered with a NULL token: a wake
 * makes it readable, the polling thread reads it back to zero and reports
 * no event for it.
 *
 * Waiting uses epoll_pwait2 when the kernel has it (nanosecond timeouts,
 * Linux 5.11+), else epoll_wait with the timeout rounded up to whole
 * milliseconds, so a poll never returns before a timer's deadline by
 * rounding.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "arch/fiber.h"
#include "io/driver.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_FIRED 256

struct driver {
    int epfd;
    int evfd;
    int has_pwait2; /* 1 yes, 0 no, -1 unknown */
    struct epoll_event evs[MAX_FIRED]; /* the polling thread's */
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
#if defined(SYS_epoll_pwait2) && !defined(CORIO_TSAN)
    /* (Not under TSan, which intercepts epoll_wait and runs signal
     * handlers during it, but not during a raw system call: arch/fiber.h.) */
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
        /* Rounded up, without overflowing near INT64_MAX. */
        int64_t m = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
        ms = m > 0x7fffffff ? 0x7fffffff : (int)m;
    }
    return epoll_wait(d->epfd, evs, n, ms);
}

static uint32_t to_ready(uint32_t e)
{
    uint32_t r = 0;
    if (e & EPOLLIN)
        r |= DRV_READABLE;
    if (e & EPOLLOUT)
        r |= DRV_WRITABLE;
    if (e & EPOLLRDHUP)
        r |= DRV_READABLE | DRV_READ_CLOSED;
    if (e & EPOLLHUP)
        r |= DRV_READABLE | DRV_WRITABLE | DRV_READ_CLOSED | DRV_WRITE_CLOSED;
    if (e & EPOLLERR) /* both ways: whichever operation runs next reports it */
        r |= DRV_READABLE | DRV_WRITABLE | DRV_ERROR;
    return r;
}

int driver_add(driver *d, int fd, void *token)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.ptr = token};
    return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int driver_del(driver *d, int fd)
{
    struct epoll_event ev = {0}; /* kernels before 2.6.9 want one */
    return epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, &ev) < 0 ? -errno : 0;
}

int driver_poll(driver *d, int64_t timeout_ns, driver_event *fired, int cap)
{
    if (cap > MAX_FIRED)
        cap = MAX_FIRED;
    int n = wait_events(d, d->evs, cap, timeout_ns);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (d->evs[i].data.ptr == NULL) {
            uint64_t v;
            ssize_t r = read(d->evfd, &v, sizeof v);
            (void)r;
            continue;
        }
        fired[k].token = d->evs[i].data.ptr;
        fired[k].ready = to_ready(d->evs[i].events);
        k++;
    }
    return k;
}

void driver_unpark(driver *d)
{
    uint64_t one = 1;
    ssize_t r = write(d->evfd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is saturated, so it is readable anyway */
}
