/* rt/parker.c - thread parkers (see parker.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "rt/parker.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/fiber.h"
#include "corio/error.h"

enum { P_EMPTY = 0, P_NOTIFIED = 1, P_PARKED = 2 };

struct parker {
    _Atomic int state;
    _Atomic int refs;
};

static void parker_unref(parker *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        free(p);
}

static const void *pk_clone(const void *d)
{
    parker *p = (parker *)d;
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return d;
}

static void pk_wake_by_ref(const void *d)
{
    parker *p = (parker *)d;
    /* Release: the waker's writes happen-before the parked thread's return. */
    if (atomic_exchange_explicit(&p->state, P_NOTIFIED, memory_order_release) == P_PARKED)
        syscall(SYS_futex, &p->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void pk_wake(const void *d)
{
    pk_wake_by_ref(d);
    parker_unref((parker *)d);
}

static void pk_drop(const void *d)
{
    parker_unref((parker *)d);
}

static const corio_waker_vtable parker_vtable = {pk_clone, pk_wake, pk_wake_by_ref, pk_drop};

static pthread_key_t parker_key;
static pthread_once_t parker_once = PTHREAD_ONCE_INIT;

static void parker_key_dtor(void *p)
{
    parker_unref(p);
}

static void parker_key_init(void)
{
    pthread_key_create(&parker_key, parker_key_dtor);
}

parker *parker_current(void)
{
    pthread_once(&parker_once, parker_key_init);
    parker *p = pthread_getspecific(parker_key);
    if (!p) {
        p = malloc(sizeof *p);
        if (!p)
            return NULL;
        atomic_init(&p->state, P_EMPTY);
        atomic_init(&p->refs, 1);
        pthread_setspecific(parker_key, p);
    }
    return p;
}

corio_waker parker_waker(parker *p)
{
    corio_waker w = {&parker_vtable, p};
    return w;
}

void parker_park(parker *p)
{
    /* Acquire on the exchange: see the waker's writes. */
    if (atomic_exchange_explicit(&p->state, P_EMPTY, memory_order_acquire) == P_NOTIFIED)
        return;
    int expect = P_EMPTY;
    if (!atomic_compare_exchange_strong_explicit(&p->state, &expect, P_PARKED, memory_order_acquire,
                                                 memory_order_acquire)) {
        atomic_store_explicit(&p->state, P_EMPTY, memory_order_relaxed); /* was NOTIFIED */
        return;
    }
    for (;;) {
        syscall(SYS_futex, &p->state, FUTEX_WAIT_PRIVATE, P_PARKED, SAN_SLEEP_SLICE, NULL, 0);
        san_signal_point();
        expect = P_NOTIFIED;
        if (atomic_compare_exchange_strong_explicit(&p->state, &expect, P_EMPTY,
                                                    memory_order_acquire, memory_order_relaxed))
            return;
        /* spurious wakeup: still PARKED */
    }
}

int block_on_parked(corio_future *f)
{
    parker *p = parker_current();
    if (!p)
        return -ENOMEM;
    corio_waker w = parker_waker(p);
    corio_context cx = {&w};
    while (f->vtable->poll(f, &cx) != CORIO_READY)
        parker_park(p);
    return 0;
}
