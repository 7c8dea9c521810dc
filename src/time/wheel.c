/* time/wheel.c - the hierarchical timing wheel (see wheel.h). */
#include "time/wheel.h"

#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#define LEVEL_BITS 6
#define SLOT_MASK ((uint64_t)WHEEL_SLOTS - 1)
#define MAX_TICKS ((1ull << (LEVEL_BITS * WHEEL_LEVELS)) - 1)
#define FIRE_BATCH 64 /* wakers collected under the lock, then woken outside it */

static inline void set_wheel(corio_timer *t, wheel *w)
{
    /* Release: a cancel that reads NULL also sees the waker moved out. */
    __atomic_store_n(&t->wheel_, (void *)w, __ATOMIC_RELEASE);
}

void wheel_init(wheel *w, corio_instant now)
{
    memset(w, 0, sizeof *w);
    spin_init(&w->lock);
    w->start = now;
    atomic_init(&w->hint, UINT64_MAX);
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

/* With the lock held. */
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
    corio_instant d = t->deadline_;
    bool earlier = false;
    spin_lock(&w->lock);
    file_timer(w, t, tick_of(w, d));
    set_wheel(t, w);
    if (d < atomic_load_explicit(&w->hint, memory_order_relaxed)) {
        atomic_store_explicit(&w->hint, d, memory_order_seq_cst);
        earlier = true;
    }
    spin_unlock(&w->lock);
    if (earlier && w->on_earlier)
        w->on_earlier(w->on_earlier_arg, d);
}

/* With the lock held: unlink `t` from wherever it is linked (a slot, or the
 * list a firing has taken out of its slot), keeping the occupancy bit of a
 * slot it leaves empty exact. */
static void unlink_locked(wheel *w, corio_timer *t)
{
    corio_timer **pp = t->pprev_;
    *pp = t->next_;
    if (t->next_)
        t->next_->pprev_ = pp;
    t->next_ = NULL;
    t->pprev_ = NULL;
    corio_timer **first = &w->slots[0][0];
    if (pp >= first && pp < first + WHEEL_LEVELS * WHEEL_SLOTS && *pp == NULL) {
        size_t i = (size_t)(pp - first);
        w->occupied[i / WHEEL_SLOTS] &= ~(1ull << (i % WHEEL_SLOTS));
    }
}

/* Threads that may be using the address of a wheel that is not their own
 * (wheel_remove, wheel_holds_for): a wheel's runtime cannot be freed while
 * one of its own threads runs a task, but it can while a plain thread or
 * another runtime's task cancels a timer armed in it. Such a thread counts
 * itself here before it loads t->wheel_, and wheel_clear, after it has
 * disarmed every timer (so that no later load finds the wheel), waits for
 * the count to drop to 0 before the wheel may be freed. Without it, a
 * timer dropped from plain code while its wheel's runtime was being freed
 * locked the spinlock of freed memory. A thread that removes a timer from
 * its own wheel, the common case, does not touch the count. */
static _Atomic unsigned long foreign_users;

static void foreign_enter(void)
{
    /* An acq_rel read-modify-write, met by wheel_clear's (no fences: TSan
     * does not support them). The two are ordered in the counter's
     * modification order. If ours comes first, wheel_clear's reads our
     * count and waits for us. If theirs comes first, ours reads from it and
     * synchronizes with it, so our next load of t->wheel_ sees the disarm
     * that wheel_clear did before it: NULL, and the wheel is not touched. */
    atomic_fetch_add_explicit(&foreign_users, 1, memory_order_acq_rel);
}

static void foreign_leave(void)
{
    atomic_fetch_sub_explicit(&foreign_users, 1, memory_order_release);
}

static bool remove_locked_from(corio_timer *t, wheel *w)
{
    spin_lock(&w->lock);
    /* It may have fired between the load and the lock; it cannot have moved
     * to another wheel: only its owner (the caller) arms it. */
    bool armed = t->wheel_ == w;
    if (armed) {
        unlink_locked(w, t);
        set_wheel(t, NULL);
    }
    spin_unlock(&w->lock);
    return armed;
}

bool wheel_remove(corio_timer *t, const wheel *here)
{
    wheel *w = wheel_of(t);
    if (!w)
        return false;
    if (w == here)
        return remove_locked_from(t, w);
    foreign_enter();
    w = wheel_of(t); /* again, now that wheel_clear would wait for us */
    bool armed = w && remove_locked_from(t, w);
    foreign_leave();
    return armed;
}

bool wheel_holds_for(const corio_timer *t, const wheel *here)
{
    wheel *w = wheel_of(t);
    if (!w)
        return false;
    if (w == here)
        return true;
    foreign_enter();
    w = wheel_of(t);
    bool same = w && w->owner == here->owner;
    foreign_leave();
    return same;
}

bool wheel_update_waker(corio_timer *t, const corio_waker *waker)
{
    wheel *w = wheel_of(t);
    if (!w)
        return false;
    /* The clone and the drop run outside the lock: a waker's functions are
     * the user's code, of unknown cost. */
    corio_waker fresh = CORIO_WAKER_NONE, old = CORIO_WAKER_NONE;
    bool armed, done = false;
    spin_lock(&w->lock);
    armed = t->wheel_ == w;
    if (armed && corio_waker_will_wake(&t->waker_, waker))
        done = true;
    spin_unlock(&w->lock);
    if (!armed || done)
        return armed;
    fresh = corio_waker_clone(waker);
    spin_lock(&w->lock);
    armed = t->wheel_ == w;
    if (armed) {
        old = t->waker_;
        t->waker_ = fresh;
        fresh = CORIO_WAKER_NONE;
    }
    spin_unlock(&w->lock);
    corio_waker_drop(&old);
    corio_waker_drop(&fresh);
    return armed;
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
    /* Above level 0 the current slot's start has passed, so what it holds is
     * due a whole turn later (deadlines close to the wheel's span, clamped
     * ones included): look at it last, after the slots ahead of it. */
    unsigned from = level ? (now_slot + 1) & (unsigned)SLOT_MASK : now_slot;
    uint64_t rot = (occ >> from) | (from ? occ << (64 - from) : 0);
    unsigned slot = (from + (unsigned)__builtin_ctzll(rot)) & SLOT_MASK;
    uint64_t level_start = w->elapsed & ~(level_range - 1);
    uint64_t d = level_start + (uint64_t)slot * slot_range;
    if (d <= w->elapsed && !(level == 0 && d == w->elapsed))
        d += level_range; /* the slot has wrapped around: it is in the next turn */
    *deadline = d;
    *slot_out = slot;
    return 1;
}

/* The earliest occupied slot over all levels. With exact occupancy bits the
 * lowest occupied level holds it; taking the minimum over all levels costs
 * six ctz and keeps that true whatever the bits say. */
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

/* With the lock held. A higher level's slot is due at its first tick, when
 * its timers are re-filed into lower levels: waking then is early for them
 * but right. */
static corio_instant next_deadline_locked(wheel *w)
{
    unsigned level, slot;
    uint64_t tick;
    return next_expiration(w, &level, &slot, &tick) ? w->start + tick * WHEEL_TICK_NS
                                                    : UINT64_MAX;
}

corio_instant wheel_next_deadline(wheel *w)
{
    spin_lock(&w->lock);
    corio_instant d = next_deadline_locked(w);
    spin_unlock(&w->lock);
    return d;
}

static void wake_batch(corio_waker *batch, size_t n)
{
    for (size_t i = 0; i < n; i++)
        corio_waker_wake(&batch[i]);
}

/* Entered with the lock held; returns without it. */
static size_t advance_locked(wheel *w, corio_instant now)
{
    uint64_t now_tick = now <= w->start ? 0 : (now - w->start) / WHEEL_TICK_NS;
    corio_waker batch[FIRE_BATCH];
    size_t n = 0, fired = 0;
    unsigned level, slot;
    uint64_t tick;
    while (next_expiration(w, &level, &slot, &tick) && tick <= now_tick) {
        /* Take the slot's list out; its timers stay armed (and cancellable:
         * their pprev chain now starts at `list`) until processed. */
        corio_timer *list = w->slots[level][slot];
        w->slots[level][slot] = NULL;
        w->occupied[level] &= ~(1ull << slot);
        if (list)
            list->pprev_ = &list;
        w->elapsed = tick;
        while (list) {
            corio_timer *t = list;
            unlink_locked(w, t);
            uint64_t when = tick_of(w, t->deadline_);
            if (when > tick) {
                file_timer(w, t, when); /* cascade to a lower level */
                continue;
            }
            batch[n++] = t->waker_;
            t->waker_ = CORIO_WAKER_NONE;
            set_wheel(t, NULL);
            fired++;
            if (n == FIRE_BATCH) {
                /* Wake outside the lock; a cancel meanwhile unlinks from
                 * `list`, which stays valid on this frame. */
                spin_unlock(&w->lock);
                wake_batch(batch, n);
                n = 0;
                spin_lock(&w->lock);
            }
        }
    }
    if (now_tick > w->elapsed)
        w->elapsed = now_tick;
    atomic_store_explicit(&w->hint, next_deadline_locked(w), memory_order_seq_cst);
    spin_unlock(&w->lock);
    wake_batch(batch, n);
    return fired;
}

size_t wheel_advance(wheel *w, corio_instant now)
{
    spin_lock(&w->lock);
    return advance_locked(w, now);
}

size_t wheel_try_advance(wheel *w, corio_instant now)
{
    if (!spin_trylock(&w->lock))
        return 0;
    return advance_locked(w, now);
}

void wheel_clear(wheel *w)
{
    spin_lock(&w->lock);
    for (unsigned l = 0; l < WHEEL_LEVELS; l++) {
        for (unsigned s = 0; s < WHEEL_SLOTS; s++) {
            corio_timer *t;
            while ((t = w->slots[l][s]) != NULL) {
                unlink_locked(w, t);
                corio_waker old = t->waker_;
                t->waker_ = CORIO_WAKER_NONE;
                set_wheel(t, NULL); /* after the waker is out, as a fire does */
                if (!old.vtable)
                    continue;
                /* A waker's drop is the user's code, which may drop another
                 * timer of this wheel (and take its lock): outside the
                 * lock, as wheel_update_waker does. t is not touched again;
                 * the slot is read afresh. */
                spin_unlock(&w->lock);
                corio_waker_drop(&old);
                spin_lock(&w->lock);
            }
        }
    }
    spin_unlock(&w->lock);
    /* No load of a timer's wheel_ finds this wheel any more; wait for the
     * foreign threads that found it before (see foreign_users). They hold
     * it for a few instructions: a spinlock, never user code. */
    while (atomic_fetch_add_explicit(&foreign_users, 0, memory_order_acq_rel) != 0)
        sched_yield(); /* a read-modify-write: see foreign_enter */
}
