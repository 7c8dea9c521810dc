/* core/waker.c - the public waker operations and the no-op waker. The
 * wakers themselves are implemented by whatever they wake: tasks
 * (core/task.c), parked threads (rt/parker.c), user code. A NULL waker
 * pointer is treated like the empty waker. */
#include <stddef.h>

#include "corio/future.h"

corio_waker corio_waker_clone(const corio_waker *w)
{
    if (!w || !w->vtable)
        return CORIO_WAKER_NONE;
    corio_waker c = {w->vtable, w->vtable->clone(w->data)};
    return c;
}

void corio_waker_wake(corio_waker *w)
{
    if (!w)
        return;
    const corio_waker_vtable *vt = w->vtable;
    const void *d = w->data;
    *w = CORIO_WAKER_NONE;
    if (vt)
        vt->wake(d);
}

void corio_waker_wake_by_ref(const corio_waker *w)
{
    if (w && w->vtable)
        w->vtable->wake_by_ref(w->data);
}

void corio_waker_drop(corio_waker *w)
{
    if (!w)
        return;
    const corio_waker_vtable *vt = w->vtable;
    const void *d = w->data;
    *w = CORIO_WAKER_NONE;
    if (vt)
        vt->drop(d);
}

bool corio_waker_will_wake(const corio_waker *a, const corio_waker *b)
{
    static const corio_waker none = CORIO_WAKER_NONE; /* NULL is the empty waker */
    if (!a)
        a = &none;
    if (!b)
        b = &none;
    /* Two empty wakers (NULL vtable, whatever the data) wake the same
     * nothing. */
    return a->vtable == b->vtable && (!a->vtable || a->data == b->data);
}

void corio_waker_store(corio_waker *slot, const corio_waker *w)
{
    if (!slot)
        return;
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
