/* arch/asym.c - the visitor's side of the asymmetric lock (see asym.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "arch/asym.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_once_t membarrier_once = PTHREAD_ONCE_INIT;
static bool membarrier_ok;

static long membarrier(int cmd)
{
    return syscall(SYS_membarrier, cmd, 0, 0);
}

/* Registered once per process: the expedited command needs it. */
static void membarrier_setup(void)
{
    long cmds = membarrier(MEMBARRIER_CMD_QUERY);
    membarrier_ok = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                    membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

void asym_init(asym_lock *l, bool single_owner)
{
    atomic_init(&l->busy, 0);
    atomic_init(&l->wanted, 0);
    spin_init(&l->slow);
    l->fast = false;
    if (single_owner) {
        pthread_once(&membarrier_once, membarrier_setup);
        l->fast = membarrier_ok;
    }
}

bool asym_owner_lock_slow(asym_lock *l)
{
    if (l->fast) /* a visitor is in or coming: step aside, then wait for it */
        atomic_store_explicit(&l->busy, 0, memory_order_release);
    spin_lock(&l->slow);
    return false;
}

void asym_visit_lock(asym_lock *l)
{
    spin_lock(&l->slow);
    if (!l->fast)
        return;
    atomic_store_explicit(&l->wanted, 1, memory_order_relaxed);
    /* Every thread of the process passes a full barrier: the owner's
     * busy = 1, if it stored it before its barrier, is now visible below;
     * if it did not, its load of `wanted` comes after the barrier and sees
     * the 1 (see asym.h). It cannot fail once registered. */
    membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    /* Acquire: with the owner's release of busy, its changes are visible. */
    while (atomic_load_explicit(&l->busy, memory_order_acquire))
        spin_wait_zero(&l->busy);
}

void asym_visit_unlock(asym_lock *l)
{
    if (l->fast)
        atomic_store_explicit(&l->wanted, 0, memory_order_release); /* to the owner's acquire */
    spin_unlock(&l->slow);
}
