/* corio/waiter.h - the private parts that the synchronisation primitives'
 * public structs are made of.
 *
 * Nothing here is for users to touch: the types exist so that a mutex, a
 * semaphore or a notify can live in the caller's own storage (a struct
 * member, a global, a coroutine's stack) and so that the future of every
 * waiting operation can hold its place in a wait queue without allocating.
 * Every field ends in `_` (docs/conventions.md: private).
 *
 * A wait queue is a FIFO of waiters under a spinlock held for a few
 * instructions at a time. A waiter is a node in a pending future: its
 * memory is the future's, which does not move once polled. It is queued by
 * the future's first poll and taken off either by whoever grants it what
 * it waits for, or by the future's drop. Plain integer fields are accessed
 * with the compiler's atomic builtins, so the header is also valid C++.
 */
#ifndef CORIO_WAITER_H
#define CORIO_WAITER_H

#include <stddef.h>
#include <stdint.h>

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_waiter_ {
    struct corio_waiter_ *next_, *prev_;
    corio_waker waker_;  /* under the queue's lock */
    unsigned state_;     /* atomic: idle, queued, woken, granted */
    unsigned flags_;     /* what the primitive records about this waiter */
    size_t need_;        /* what it still waits for (permits...) */
} corio_waiter_;         /* 48 bytes on 64-bit */

typedef struct corio_waitq_ {
    int lock_;           /* spinlock */
    unsigned len_;
    corio_waiter_ *head_, *tail_;
} corio_waitq_;          /* 24 bytes on 64-bit */

#define CORIO_WAITQ_INIT_ {0, 0, NULL, NULL}

#ifdef __cplusplus
}
#endif
#endif
