/* time/wheel.h - the hierarchical timing wheel (internal).
 *
 * Six levels of 64 slots; a level-L slot spans 64^L ticks of 1 ms, so the
 * wheel covers 64^6 ms (about 2.2 years); later deadlines wait in the top
 * level and are re-filed as it turns. A timer goes in the level given by the
 * highest bit in which its deadline tick differs from the wheel's current
 * tick, so lower levels always hold earlier timers and the next expiry is
 * found with one count-trailing-zeros per level. Slots are hlists
 * (next + pprev), so insert and cancel are O(1), and unlinking needs nothing
 * but the timer. The wheel keeps no count: the occupancy bits say whether
 * anything is armed. wheel_remove keeps them exact (it sees when it empties
 * one of its own slots); any other unlink can leave a stale bit, which costs
 * at most one spurious wakeup, because the next expiry is the earliest slot
 * over all levels and processing an empty slot only clears its bit.
 *
 * A deadline d (ns) becomes tick ceil((d - start) / 1 ms), and a tick fires
 * only when the clock has reached it, so no timer fires early.
 */
#ifndef CORIO_TIME_WHEEL_H
#define CORIO_TIME_WHEEL_H

#include <stddef.h>
#include <stdint.h>

#include "corio/time.h"

#define WHEEL_LEVELS 6
#define WHEEL_SLOTS 64
#define WHEEL_TICK_NS 1000000ull

typedef struct wheel {
    corio_instant start;  /* instant of tick 0 */
    uint64_t elapsed;     /* ticks processed so far */
    uint64_t occupied[WHEEL_LEVELS];
    corio_timer *slots[WHEEL_LEVELS][WHEEL_SLOTS];
} wheel;

void wheel_init(wheel *w, corio_instant now);
void wheel_insert(wheel *w, corio_timer *t);

static inline void wheel_unlink(corio_timer *t)
{
    if (!t->pprev_)
        return;
    *t->pprev_ = t->next_;
    if (t->next_)
        t->next_->pprev_ = t->pprev_;
    t->next_ = NULL;
    t->pprev_ = NULL;
}

/* Cancel an armed timer of this wheel. */
static inline void wheel_remove(wheel *w, corio_timer *t)
{
    corio_timer **pp = t->pprev_;
    if (!pp)
        return;
    wheel_unlink(t);
    /* pprev points into the slot array when t was first in its slot. */
    corio_timer **first = &w->slots[0][0];
    if (pp >= first && pp < first + WHEEL_LEVELS * WHEEL_SLOTS && *pp == NULL) {
        size_t i = (size_t)(pp - first);
        w->occupied[i / WHEEL_SLOTS] &= ~(1ull << (i % WHEEL_SLOTS));
    }
}

/* The instant the next timer is due, or UINT64_MAX when none is armed. */
corio_instant wheel_next_deadline(wheel *w);

/* Fire (wake) every timer due at `now`. Returns how many fired. */
size_t wheel_advance(wheel *w, corio_instant now);

#endif
