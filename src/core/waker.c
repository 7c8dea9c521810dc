/* core/waker.c - the public waker operations, the no-op waker, and thread
 * parkers: the wakers that plain threads (not running any task) block on.
 *
 * A parker is a futex word plus a reference count. Each thread lazily gets
 * one; its wakers hold references, so a waker kept by a task after the thread
 * stopped waiting (or exited) stays valid. Waking sets the word to NOTIFIED
 * and wakes the futex only if the owner may be asleep.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/worker.h"
#include "corio/error.h"
#include "corio/future.h"
#include "corio/runtime.h"

corio_waker corio_waker_clone(const corio_waker *w)
{
    if (!w->vtable)
        return CORIO_WAKER_NONE;
    corio_waker c = {w->vtable, w->vtable->clone(w->data)};
    return c;
}

void corio_waker_wake(corio_waker *w)
{
    const corio_waker_vtable *vt = w->vtable;
    const void *d = w->data;
    *w = CORIO_WAKER_NONE;
    if (vt)
        vt->wake(d);
}

void corio_waker_wake_by_ref(const corio_waker *w)
{
    if (w->vtable)
        w->vtable->wake_by_ref(w->data);
}

void corio_waker_drop(corio_waker *w)
{
    const corio_waker_vtable *vt = w->vtable;
    const void *d = w->data;
    *w = CORIO_WAKER_NONE;
    if (vt)
        vt->drop(d);
}

bool corio_waker_will_wake(const corio_waker *a, const corio_waker *b)
{
    return a->vtable == b->vtable && a->data == b->data;
}

void corio_waker_store(corio_waker *slot, const corio_waker *w)
{
    if (slot->vtable && corio_waker_will_wake(slot, w))
        return;
    corio_waker_drop(slot);
    *slot = corio_waker_clone(w);
}

static const void *noop_clone(const void *d)
{
    return d;
}
static void noop_fn(const void *d)
{
    (void)d;
}
static const corio_waker_vtable noop_vtable = {noop_clone, noop_fn, noop_fn, noop_fn};

corio_waker corio_waker_noop(void)
{
    corio_waker w = {&noop_vtable, NULL};
    return w;
}

/* ---- parkers -------------------------------------------------------------- */

enum { P_EMPTY = 0, P_NOTIFIED = 1, P_PARKED = 2 };

typedef struct parker {
    _Atomic int state;
    _Atomic int refs;
} parker;

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

static parker *parker_current(void)
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

static void parker_park(parker *p)
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
        syscall(SYS_futex, &p->state, FUTEX_WAIT_PRIVATE, P_PARKED, NULL, NULL, 0);
        expect = P_NOTIFIED;
        if (atomic_compare_exchange_strong_explicit(&p->state, &expect, P_EMPTY,
                                                    memory_order_acquire, memory_order_relaxed))
            return;
        /* spurious wakeup: still PARKED */
    }
}

/* Poll `f` on this plain thread until ready, parking in between. */
int block_on_parked(corio_future *f)
{
    parker *p = parker_current();
    if (!p)
        return -ENOMEM;
    corio_waker w = {&parker_vtable, p};
    corio_context cx = {&w};
    while (f->vtable->poll(f, &cx) != CORIO_READY)
        parker_park(p);
    return f->result;
}

int corio_block_on_future(corio_future *fut)
{
    if (worker_current())
        return CORIO_EWRONGCTX;
    /* A temporary current-thread runtime, so that timers work too. */
    corio_rt *rt;
    corio_rt_builder b = corio_rt_builder_current_thread();
    int rc = corio_rt_build(&b, &rt);
    if (rc < 0)
        return rc;
    rc = corio_rt_block_on_future(rt, fut);
    corio_rt_free(rt);
    return rc;
}
