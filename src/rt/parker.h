/* rt/parker.h - thread parkers: what a plain thread (one not running any
 * task) blocks on while it waits for a future (internal).
 *
 * A parker is a futex word plus a reference count. Each thread lazily gets
 * one; its wakers hold references, so a waker kept by a task after the
 * thread stopped waiting (or exited) stays valid. Waking sets the word to
 * NOTIFIED and wakes the futex only if the owner may be asleep; a wake that
 * comes before the park makes the park return at once.
 */
#ifndef CORIO_RT_PARKER_H
#define CORIO_RT_PARKER_H

#include "corio/future.h"

typedef struct parker parker;

/* The calling thread's parker, NULL when it cannot be allocated. */
parker *parker_current(void);

/* A borrowed waker for `p` (valid while p is the calling thread's). */
corio_waker parker_waker(parker *p);

/* Block until woken (returns at once if woken since the last park). */
void parker_park(parker *p);

/* Poll `f` on the calling plain thread until ready, parking in between.
 * Returns 0 (the output is in f->result) or -ENOMEM. */
int block_on_parked(corio_future *f);

#endif
