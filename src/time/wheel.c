/* time/wheel.c - the hierarchical timing wheel (see wheel.h). */
#include "time/wheel.h"

#include <string.h>

#define LEVEL_BITS 6
#define SLOT_MASK ((uint64_t)WHEEL_SLOTS - 1)
#define MAX_TICKS ((1ull << (LEVEL_BITS * WHEEL_LEVELS)) - 1)

void wheel_init(wheel *w, corio_instant now)
{
    memset(w, 0, sizeof *w);
    w->start = now;
}

static uint64_t tick_of(const wheel *w, corio_instant deadline)
{
    if (deadline <= w->start)
        return 0;
    return (deadline - w->start + WHEEL_TICK_NS - 1) / WHEEL_TICK_NS;
}

static unsigned level_for(uint64_t elapsed, uint64_t when)
{
    uint64_t masked = (elapsed ^ when) | SLOT_MASK;
    if (masked > MAX_TICKS)
        masked = MAX_TICKS;
    unsigned significant = 63u - (unsigned)__builtin_clzll(masked);
    return significant / LEVEL_BITS;
}

static void file_timer(wheel *w, corio_timer *t, uint64_t when)
{
    if (when <= w->elapsed)
        when = w->elapsed + 1; /* due now: the next processed tick fires it */
    if (when - w->elapsed > MAX_TICKS)
        when = w->elapsed + MAX_TICKS; /* re-filed when the top level turns */
    unsigned level = level_for(w->elapsed, when);
    unsigned slot = (unsigned)((when >> (level * LEVEL_BITS)) & SLOT_MASK);
    corio_timer **head = &w->slots[level][slot];
    t->next_ = *head;
    if (*head)
        (*head)->pprev_ = &t->next_;
    *head = t;
    t->pprev_ = head;
    w->occupied[level] |= 1ull << slot;
}

void wheel_insert(wheel *w, corio_timer *t)
{
    file_timer(w, t, tick_of(w, t->deadline_));
}

/* The first tick of the next occupied slot of `level` at or after elapsed. */
static int level_next(const wheel *w, unsigned level, uint64_t *deadline, unsigned *slot_out)
{
    uint64_t occ = w->occupied[level];
    if (!occ)
        return 0;
    unsigned shift = level * LEVEL_BITS;
    uint64_t slot_range = 1ull << shift;
    uint64_t level_range = slot_range << LEVEL_BITS;
    unsigned now_slot = (unsigned)((w->elapsed >> shift) & SLOT_MASK);
    uint64_t rot = (occ >> now_slot) | (now_slot ? occ << (64 - now_slot) : 0);
    unsigned slot = (now_slot + (unsigned)__builtin_ctzll(rot)) & SLOT_MASK;
    uint64_t level_start = w->elapsed & ~(level_range - 1);
    uint64_t d = level_start + (uint64_t)slot * slot_range;
    if (d <= w->elapsed && !(level == 0 && d == w->elapsed))
        d += level_range; /* the slot has wrapped around: it is in the next turn */
    *deadline = d;
    *slot_out = slot;
    return 1;
}

/* The earliest occupied slot over all levels. With exact occupancy bits the
 * lowest occupied level always holds it; taking the minimum keeps that true
 * even with a stale bit, whose wrapped deadline could otherwise hide (and
 * let `elapsed` jump past) a due slot of a higher level. */
static int next_expiration(const wheel *w, unsigned *level, unsigned *slot, uint64_t *tick)
{
    int found = 0;
    for (unsigned l = 0; l < WHEEL_LEVELS; l++) {
        uint64_t t;
        unsigned s;
        if (level_next(w, l, &t, &s) && (!found || t < *tick)) {
            *tick = t;
            *slot = s;
            *level = l;
            found = 1;
        }
    }
    return found;
}

corio_instant wheel_next_deadline(wheel *w)
{
    unsigned level, slot;
    uint64_t tick;
    if (!next_expiration(w, &level, &slot, &tick))
        return UINT64_MAX;
    /* A higher level's slot is due at its first tick, when its timers are
     * re-filed into lower levels: waking then is early for them but right. */
    return w->start + tick * WHEEL_TICK_NS;
}

size_t wheel_advance(wheel *w, corio_instant now)
{
    uint64_t now_tick = now <= w->start ? 0 : (now - w->start) / WHEEL_TICK_NS;
    size_t fired = 0;
    unsigned level, slot;
    uint64_t tick;
    while (next_expiration(w, &level, &slot, &tick) && tick <= now_tick) {
        corio_timer *list = w->slots[level][slot];
        w->slots[level][slot] = NULL;
        w->occupied[level] &= ~(1ull << slot);
        if (list)
            list->pprev_ = &list;
        w->elapsed = tick;
        while (list) {
            corio_timer *t = list;
            list = t->next_;
            if (list)
                list->pprev_ = &list;
            t->next_ = NULL;
            t->pprev_ = NULL;
            uint64_t when = tick_of(w, t->deadline_);
            if (when <= tick) {
                fired++;
                corio_waker_wake(&t->waker_);
            } else {
                file_timer(w, t, when); /* cascade to a lower level */
            }
        }
    }
    if (now_tick > w->elapsed)
        w->elapsed = now_tick;
    return fired;
}
