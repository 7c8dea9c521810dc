/* time/wheel.h - the hierarchical timing wheel (internal).
 *
 * Six levels of 64 slots; a level-L slot spans 64^L ticks of 1 ms, so the
 * wheel covers 64^6 ms (about 2.2 years); later deadlines wait in the top
 * level and are re-filed as it turns. A timer goes in the level given by the
 * highest bit in which its deadline tick differs from the wheel's current
 * tick, so lower levels always hold earlier timers and the next expiry is
 * found with one count-trailing-zeros per level. Slots are hlists
 * (next + pprev), so insert and cancel are O(1), and unlinking needs nothing
 * but the timer. Occupancy bits are exact: a slot's bit is set exactly while
 * the slot holds a timer.
 *
 * A deadline d (ns) becomes tick ceil((d - start) / 1 ms), and a tick fires
 * only when the clock has reached it, so no timer fires early.
 *
 * Ownership and locking. Each runtime worker has a wheel; its timers are
 * inserted by the tasks polled on that worker, and the worker advances it.
 * Any thread may cancel a timer (a coroutine may have moved to another
 * worker, a future may be dropped from plain code), so every access to the
 * wheel is under its spinlock, and a timer records the wheel that holds it:
 *
 *   armed   <=> t->wheel_ != NULL, written only under that wheel's lock
 *               (set by wheel_insert, cleared by firing or wheel_remove),
 *               read by the timer's owner without the lock (acquire);
 *   next_, pprev_   under the lock of the wheel that holds the timer;
 *   waker_  while armed, under that lock; otherwise the owner's;
 *   deadline_       the owner's, changed only while the timer is not armed.
 *
 * Firing moves each due timer's waker out under the lock and wakes it after
 * unlocking, in batches: once wheel_remove has returned, the wheel never
 * touches the timer again, so its memory may go. A timer's owner is whoever
 * owns the memory it lives in (the future that embeds it).
 */
#ifndef CORIO_TIME_WHEEL_H
#define CORIO_TIME_WHEEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/spin.h"
#include "corio/time.h"

#define WHEEL_LEVELS 6
#define WHEEL_SLOTS 64
#define WHEEL_TICK_NS 1000000ull

typedef struct wheel {
    spinlock lock;
    corio_instant start; /* instant of tick 0 */
    uint64_t elapsed;    /* ticks processed so far */
    uint64_t occupied[WHEEL_LEVELS];
    corio_timer *slots[WHEEL_LEVELS][WHEEL_SLOTS];
    /* No later than the earliest armed deadline (UINT64_MAX: none), for
     * other threads to read without the lock: lowered by inserts, set
     * exactly by each advance, left as it is by removals (too early costs
     * one needless look, never a late timer). */
    _Atomic uint64_t hint;
    /* Called (outside the lock) when an insert lowers the hint: a runtime
     * whose sleeping thread waits for another wheel's deadlines hears of an
     * earlier one. NULL: nobody to tell. */
    void (*on_earlier)(void *arg, corio_instant deadline);
    void *on_earlier_arg;
    /* The runtime whose wheels this is one of (set by the runtime; NULL for
     * a bare wheel): a timer armed here and polled by a task of another
     * runtime moves to that runtime's wheel (time/timer.c). */
    const void *owner;
} wheel;

void wheel_init(wheel *w, corio_instant now);

static inline corio_instant wheel_hint(wheel *w)
{
    /* seq_cst: one side of the handshake with a sleeper's timeout (see the
     * multi-thread scheduler's park). */
    return atomic_load_explicit(&w->hint, memory_order_seq_cst);
}

/* wheel_advance unless another thread holds the wheel's lock (the owner,
 * busy with it): for a thread that advances the wheels of others. Returns
 * how many fired. */
size_t wheel_try_advance(wheel *w, corio_instant now);

/* Disarm every timer left (their wakers are dropped, each outside the lock:
 * a drop may cancel another timer of this wheel): for a runtime going
 * away with timers still armed by code that never dropped its futures, so
 * that their later cancel does not touch freed memory. It then waits until
 * no thread outside the wheel's runtime may still use the wheel's address
 * (see wheel_remove), so that the caller may free it on return. */
void wheel_clear(wheel *w);

/* Arm `t` (not armed; its deadline and waker set by the owner) in `w`. */
void wheel_insert(wheel *w, corio_timer *t);

/* Disarm `t` if it is armed in whichever wheel holds it. Returns true when
 * this call disarmed it (false: it was not armed, or fired meanwhile).
 * `here` is the calling thread's own wheel (NULL in plain code): a wheel
 * other than it may belong to a runtime being freed at this very moment
 * (any thread may cancel a timer), so the call then announces itself to
 * wheel_clear, which waits for it before the wheel's memory goes. */
bool wheel_remove(corio_timer *t, const wheel *here);

/* Whether `t` is armed in a wheel of the runtime that owns `here` (not
 * NULL), read safely even while another runtime that holds `t` is being
 * freed (as wheel_remove). */
bool wheel_holds_for(const corio_timer *t, const wheel *here);

/* The wheel holding `t`, NULL when it is not armed. */
static inline wheel *wheel_of(const corio_timer *t)
{
    return (wheel *)__atomic_load_n(&t->wheel_, __ATOMIC_ACQUIRE);
}

/* Replace the waker of an armed timer by a clone of `waker` (unless it
 * already wakes the same target). Returns false when `t` is no longer armed
 * (it fired meanwhile); nothing is stored then. */
bool wheel_update_waker(corio_timer *t, const corio_waker *waker);

/* The instant the next timer is due, or UINT64_MAX when none is armed. */
corio_instant wheel_next_deadline(wheel *w);

/* Fire (wake) every timer due at `now`. Returns how many fired. */
size_t wheel_advance(wheel *w, corio_instant now);

#endif
