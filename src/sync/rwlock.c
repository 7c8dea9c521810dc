/* sync/rwlock.c - the readers-writer lock (corio/rwlock.h).
 *
 * Built on the fair semaphore, as tokio builds its RwLock: the lock is a
 * semaphore of MAX_READERS permits, a read takes one, a write takes all of
 * them. Everything the header promises comes from the semaphore's own
 * contract: FIFO grants; a waiter that needs more than is free takes what
 * is free and holds it while it waits for the rest, and while it waits
 * every newcomer queues (a waiting writer blocks later readers); an
 * interrupted acquire hands what it held on. Unlocking is releasing, and
 * the permit count carries the happens-before from one holder to the next
 * (the semaphore's compare-and-swap and its queue lock are acquire-release).
 *
 * Nothing here closes the semaphore, so CORIO_ECLOSED never comes out.
 */
#include <errno.h>
#include <stddef.h>

#include "corio/error.h"
#include "corio/rwlock.h"

#define WRITE_PERMITS CORIO_RWLOCK_MAX_READERS

void corio_rwlock_init(corio_rwlock *rw)
{
    if (!rw)
        return;
    corio_semaphore_init(&rw->sem_, CORIO_RWLOCK_MAX_READERS);
}

/* The semaphore's "not now" is the lock's "busy", as corio_mutex_try_lock
 * says it. */
static int busy_code(int rc)
{
    return rc == -EAGAIN ? -EBUSY : rc;
}

int corio_rwlock_read(corio_rwlock *rw)
{
    if (!rw)
        return -EINVAL;
    return corio_semaphore_acquire(&rw->sem_, 1);
}

int corio_rwlock_try_read(corio_rwlock *rw)
{
    if (!rw)
        return -EINVAL;
    return busy_code(corio_semaphore_try_acquire(&rw->sem_, 1));
}

void corio_rwlock_read_unlock(corio_rwlock *rw)
{
    if (!rw)
        return;
    corio_semaphore_release(&rw->sem_, 1);
}

int corio_rwlock_write(corio_rwlock *rw)
{
    if (!rw)
        return -EINVAL;
    return corio_semaphore_acquire(&rw->sem_, WRITE_PERMITS);
}

int corio_rwlock_try_write(corio_rwlock *rw)
{
    if (!rw)
        return -EINVAL;
    return busy_code(corio_semaphore_try_acquire(&rw->sem_, WRITE_PERMITS));
}

void corio_rwlock_write_unlock(corio_rwlock *rw)
{
    if (!rw)
        return;
    corio_semaphore_release(&rw->sem_, WRITE_PERMITS);
}

void corio_rwlock_downgrade(corio_rwlock *rw)
{
    if (!rw)
        return;
    /* Keep one permit (a read); the rest go to the queue in order, as an
     * unlock's would, so no writer can take the lock in between. */
    corio_semaphore_release(&rw->sem_, WRITE_PERMITS - 1);
}

/* ---- the futures: a semaphore acquire under the lock's own name ---------- */

/* Both future types are the header and then the acquire, at one offset, so
 * one poll and one drop serve both. */
_Static_assert(offsetof(corio_rwlock_read_fut, acq_) == offsetof(corio_rwlock_write_fut, acq_),
               "the rwlock futures share one layout");

static corio_semaphore_acquire_fut *acq_of(corio_future *base)
{
    return (corio_semaphore_acquire_fut *)((char *)base + offsetof(corio_rwlock_read_fut, acq_));
}

static corio_poll rw_fut_poll(corio_future *base, corio_context *cx)
{
    corio_semaphore_acquire_fut *acq = acq_of(base);
    if (corio_future_poll(&acq->base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    base->result = acq->base.result;
    return CORIO_READY;
}

static void rw_fut_drop(corio_future *base)
{
    corio_future_drop(&acq_of(base)->base);
}

static const corio_future_vtable rw_fut_vtable = {rw_fut_poll, rw_fut_drop};

/* A NULL lock gives the acquire a NULL semaphore: its first poll says
 * -EINVAL. */
void corio_rwlock_read_fut_init(corio_rwlock_read_fut *f, corio_rwlock *rw)
{
    if (!f)
        return;
    corio_future_init(&f->base, &rw_fut_vtable);
    corio_semaphore_acquire_fut_init(&f->acq_, rw ? &rw->sem_ : NULL, 1);
}

void corio_rwlock_write_fut_init(corio_rwlock_write_fut *f, corio_rwlock *rw)
{
    if (!f)
        return;
    corio_future_init(&f->base, &rw_fut_vtable);
    corio_semaphore_acquire_fut_init(&f->acq_, rw ? &rw->sem_ : NULL, WRITE_PERMITS);
}
