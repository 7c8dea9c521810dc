/* tests/test_wheel.c - the timing wheel on its own, with no clock: every
 * instant is given, so each test checks exactly which timer fires at which
 * tick (levels, slot edges, cascading, cancellation, far deadlines) and is
 * the same on a loaded machine. In the style of tokio's time/wheel tests.
 *
 * These use the wheel's internal interface (src/time/wheel.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "time/wheel.h"
#include "util.h"

#define MS 1000000ull
#define START (1000ull * MS) /* the wheel's tick 0, an arbitrary instant */

typedef struct wtimer {
    corio_timer t;
    cw_target target;
} wtimer;

/* Arm `wt` for `deadline` (ns after START) in `w`, with a counting waker. */
static void arm(wheel *w, wtimer *wt, uint64_t deadline)
{
    corio_timer_init(&wt->t, START + deadline);
    wt->t.waker_ = cw_new(&wt->target);
    wheel_insert(w, &wt->t);
    CHECK(corio_timer_is_armed(&wt->t));
}

static int fired(wtimer *wt)
{
    return atomic_load(&wt->target.wakes);
}

static void advance_to(wheel *w, uint64_t at)
{
    wheel_advance(w, START + at);
}

/* Every timer fires at the first advance at or after its deadline, and not
 * before, for deadlines spread over the first three levels with sub-tick
 * offsets, advancing a tenth of a tick at a time. */
TEST(wheel_fires_at_deadline_never_before)
{
    enum { N = 600 };
    wheel w;
    wheel_init(&w, START);
    wtimer *ts = calloc(N, sizeof *ts);
    uint64_t *dl = calloc(N, sizeof *dl);
    uint64_t *fired_at = calloc(N, sizeof *fired_at);
    for (int i = 0; i < N; i++) {
        /* 0.37 ms steps with a spread that reaches level 2 (4096 ms): */
        dl[i] = (uint64_t)i * 370000ull + (i % 7 == 0 ? (uint64_t)i * 9 * MS : 0);
        arm(&w, &ts[i], dl[i]);
    }
    uint64_t last = 0;
    for (int i = 0; i < N; i++)
        if (dl[i] > last)
            last = dl[i];
    for (uint64_t now = 0; now <= last + 2 * MS; now += MS / 10) {
        advance_to(&w, now);
        for (int i = 0; i < N; i++)
            if (!fired_at[i] && fired(&ts[i])) {
                fired_at[i] = now + 1; /* +1: 0 means not yet */
                CHECK(!corio_timer_is_armed(&ts[i].t));
            }
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ(fired(&ts[i]), 1);
        uint64_t at = fired_at[i] - 1;
        if (at < dl[i])
            test_failf(__FILE__, __LINE__, "timer %d due at %llu ns fired early, at %llu ns", i,
                       (unsigned long long)dl[i], (unsigned long long)at);
        /* A deadline rounds up to the next whole tick, which fires at the
         * first advance that reaches it. */
        if (at > dl[i] + MS)
            test_failf(__FILE__, __LINE__, "timer %d due at %llu ns fired late, at %llu ns", i,
                       (unsigned long long)dl[i], (unsigned long long)at);
        CHECK_EQ(atomic_load(&ts[i].target.refs), 0); /* the waker was consumed */
    }
    CHECK_EQ(wheel_next_deadline(&w), UINT64_MAX);
    free(ts);
    free(dl);
    free(fired_at);
}

/* Deadlines on both sides of every level's slot and level edges: each fires
 * when the clock reaches its tick, not one tick before, even when the wheel
 * is advanced straight to the tick before and then to the tick itself
 * (which makes the higher levels cascade in one go). */
TEST(wheel_slot_and_level_edges)
{
    static const uint64_t edges[] = {1,       63,      64,      65,       127,      128,
                                     4095,    4096,    4097,    262143,   262144,   262145,
                                     4160,    16777215, 16777216, 16777217, 1073741823,
                                     1073741824, 1073741825};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        uint64_t tick = edges[i];
        wheel w;
        wheel_init(&w, START);
        wtimer a;
        memset(&a, 0, sizeof a);
        arm(&w, &a, tick * MS);
        CHECK(wheel_next_deadline(&w) <= START + tick * MS);
        advance_to(&w, tick * MS - 1); /* one ns before: not due */
        if (fired(&a))
            test_failf(__FILE__, __LINE__, "timer at tick %llu fired a nanosecond early",
                       (unsigned long long)tick);
        CHECK(corio_timer_is_armed(&a.t));
        advance_to(&w, tick * MS);
        if (fired(&a) != 1)
            test_failf(__FILE__, __LINE__, "timer at tick %llu did not fire on its tick",
                       (unsigned long long)tick);
        CHECK_EQ(wheel_next_deadline(&w), UINT64_MAX);
    }
}

/* The same edges reached step by step through every slot the wheel's next
 * expiry points at, as a runtime does: park until wheel_next_deadline, then
 * advance to it. The timer fires exactly at its own deadline. */
TEST(wheel_cascades_through_next_deadline)
{
    static const uint64_t ticks[] = {70, 4100, 262200, 16777300};
    for (size_t i = 0; i < sizeof ticks / sizeof ticks[0]; i++) {
        wheel w;
        wheel_init(&w, START);
        wtimer a;
        memset(&a, 0, sizeof a);
        arm(&w, &a, ticks[i] * MS);
        int hops = 0;
        corio_instant when;
        while ((when = wheel_next_deadline(&w)) != UINT64_MAX) {
            CHECK(when <= START + ticks[i] * MS); /* never a sleep past the deadline */
            CHECK_EQ(fired(&a), 0);
            wheel_advance(&w, when);
            CHECK(++hops <= 2 * WHEEL_LEVELS);
        }
        CHECK_EQ(fired(&a), 1);
        CHECK_EQ(w.elapsed, ticks[i]);
    }
}

/* Three timers in one slot, A the oldest (last in the slot's list), C the
 * newest (first): cancelling C then B leaves A armed, the slot still marked
 * occupied, and A fires on time. */
TEST(wheel_cancel_neighbours_newer_first_keeps_older)
{
    wheel w;
    wheel_init(&w, START);
    wtimer a, b, c;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    arm(&w, &a, 10 * MS);
    arm(&w, &b, 10 * MS);
    arm(&w, &c, 10 * MS);
    CHECK(wheel_remove(&c.t, NULL));
    CHECK(wheel_remove(&b.t, NULL));
    CHECK(!wheel_remove(&b.t, NULL)); /* a second cancel finds nothing */
    corio_waker_drop(&b.t.waker_);
    corio_waker_drop(&c.t.waker_);
    CHECK(corio_timer_is_armed(&a.t));
    CHECK_EQ(wheel_next_deadline(&w), START + 10 * MS);
    advance_to(&w, 10 * MS);
    CHECK_EQ(fired(&a), 1);
    CHECK_EQ(fired(&b) + fired(&c), 0);
    CHECK_EQ(atomic_load(&b.target.refs) + atomic_load(&c.target.refs), 0);
    CHECK_EQ(wheel_next_deadline(&w), UINT64_MAX);
}

/* Cancelling the older ones instead (from the middle and the tail of the
 * list), and then the last one: the slot's occupancy bit goes exactly when
 * the slot empties. */
TEST(wheel_cancel_keeps_occupancy_exact)
{
    wheel w;
    wheel_init(&w, START);
    wtimer a, b, c, far;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    memset(&far, 0, sizeof far);
    arm(&w, &a, 5 * MS);
    arm(&w, &b, 5 * MS);
    arm(&w, &c, 5 * MS);
    arm(&w, &far, 300 * MS);
    CHECK(wheel_remove(&b.t, NULL));
    CHECK(wheel_remove(&a.t, NULL));
    CHECK_EQ(wheel_next_deadline(&w), START + 5 * MS);
    CHECK(wheel_remove(&c.t, NULL));
    /* Now only `far` is left: the next expiry is its slot, not the empty one. */
    CHECK(wheel_next_deadline(&w) > START + 5 * MS);
    CHECK(wheel_next_deadline(&w) <= START + 300 * MS);
    corio_waker_drop(&a.t.waker_);
    corio_waker_drop(&b.t.waker_);
    corio_waker_drop(&c.t.waker_);
    CHECK(wheel_remove(&far.t, NULL));
    corio_waker_drop(&far.t.waker_);
    CHECK_EQ(wheel_next_deadline(&w), UINT64_MAX);
}

/* A deadline beyond the wheel's range (64^6 ms, about 2.2 years) waits in
 * the top level and is re-filed as the wheel turns; it never fires early. */
TEST(wheel_far_deadline_refiled_not_early)
{
    wheel w;
    wheel_init(&w, START);
    wtimer a;
    memset(&a, 0, sizeof a);
    uint64_t range_ms = 1ull << 36;
    uint64_t dl = (range_ms + 12345) * MS;
    arm(&w, &a, dl);
    advance_to(&w, range_ms * MS / 2);
    CHECK_EQ(fired(&a), 0);
    advance_to(&w, dl - MS);
    CHECK_EQ(fired(&a), 0);
    CHECK(corio_timer_is_armed(&a.t));
    advance_to(&w, dl);
    CHECK_EQ(fired(&a), 1);
}

/* A top-level slot that is the wheel's current one holds timers of the
 * next turn (a far deadline clamped to the wheel's span lands there once
 * the wheel has moved off a slot boundary, as a "wait forever" sleep does):
 * it must not hide the earlier top-level slots ahead of it. Here a 20-day
 * timer (level 5) armed beside such a far one is still the next expiry,
 * and fires at its deadline, not when the top level turns 2.2 years on. */
TEST(wheel_far_deadline_does_not_hide_earlier_top_level_timer)
{
    wheel w;
    wheel_init(&w, START);
    advance_to(&w, 5 * MS); /* off the boundary: the far one goes in the current slot */
    wtimer far, mid;
    memset(&far, 0, sizeof far);
    memset(&mid, 0, sizeof mid);
    arm(&w, &far, UINT64_MAX - START);
    uint64_t mid_dl = 20ull * 86400 * 1000 * MS;
    arm(&w, &mid, mid_dl);
    CHECK(wheel_next_deadline(&w) <= START + mid_dl);
    advance_to(&w, mid_dl - MS);
    CHECK_EQ(fired(&mid), 0);
    advance_to(&w, mid_dl);
    CHECK_EQ(fired(&mid), 1);
    CHECK_EQ(fired(&far), 0);
    CHECK(corio_timer_is_armed(&far.t));
    CHECK(wheel_remove(&far.t, NULL));
    corio_waker_drop(&far.t.waker_);
    CHECK_EQ(wheel_next_deadline(&w), UINT64_MAX);
}

/* A deadline already passed (or at tick 0) fires at the next advance. */
TEST(wheel_past_deadline_fires_next_advance)
{
    wheel w;
    wheel_init(&w, START);
    advance_to(&w, 50 * MS);
    wtimer a;
    memset(&a, 0, sizeof a);
    arm(&w, &a, 20 * MS);
    CHECK(wheel_next_deadline(&w) <= START + 51 * MS);
    advance_to(&w, 51 * MS);
    CHECK_EQ(fired(&a), 1);
}

/* wheel_clear disarms what is left and drops its wakers. */
TEST(wheel_clear_disarms_everything)
{
    wheel w;
    wheel_init(&w, START);
    wtimer ts[5];
    memset(ts, 0, sizeof ts);
    for (int i = 0; i < 5; i++)
        arm(&w, &ts[i], (uint64_t)(i * 1000 + 3) * MS);
    wheel_clear(&w);
    for (int i = 0; i < 5; i++) {
        CHECK(!corio_timer_is_armed(&ts[i].t));
        CHECK_EQ(atomic_load(&ts[i].target.refs), 0);
        CHECK_EQ(fired(&ts[i]), 0);
        corio_timer_cancel(&ts[i].t); /* harmless now */
    }
    CHECK_EQ(wheel_next_deadline(&w), UINT64_MAX);
}

/* A timer records its wheel: cancelling from another thread while the
 * owner inserts and advances (firing others in batches) is safe and exact:
 * every timer either fires once or is cancelled, never both, never lost. */
typedef struct xcancel {
    wheel w;
    wtimer *ts;
    int n;
    atomic_int armed_upto; /* timers [0, armed_upto) are armed or done */
    atomic_int stop;
} xcancel;

static void *xcancel_thread(void *arg)
{
    xcancel *x = arg;
    for (int i = 0; i < x->n; i += 2) {
        while (atomic_load(&x->armed_upto) <= i)
            ;
        if (wheel_remove(&x->ts[i].t, NULL))
            corio_waker_drop(&x->ts[i].t.waker_);
    }
    return NULL;
}

TEST(wheel_cancel_from_another_thread_while_firing)
{
    xcancel *x = calloc(1, sizeof *x);
    x->n = SCALE(20000, 5000, 2000);
    x->ts = calloc((size_t)x->n, sizeof *x->ts);
    wheel_init(&x->w, START);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, xcancel_thread, x), 0);
    uint64_t now = 0;
    for (int i = 0; i < x->n; i++) {
        arm(&x->w, &x->ts[i], now + (uint64_t)(i % 5) * MS);
        atomic_store(&x->armed_upto, i + 1);
        if (i % 64 == 0) {
            now += MS;
            advance_to(&x->w, now);
        }
    }
    CHECK_EQ(pthread_join(th, NULL), 0);
    advance_to(&x->w, now + 10 * MS);
    for (int i = 0; i < x->n; i++) {
        CHECK(!corio_timer_is_armed(&x->ts[i].t));
        int f = fired(&x->ts[i]), d = atomic_load(&x->ts[i].target.drops);
        CHECK_EQ(f + d, 1);
        if (i % 2)
            CHECK_EQ(f, 1); /* odd ones were never cancelled */
        CHECK_EQ(atomic_load(&x->ts[i].target.refs), 0);
    }
    CHECK_EQ(wheel_next_deadline(&x->w), UINT64_MAX);
    free(x->ts);
    free(x);
}

/* Two threads advance one wheel at once (the owner's wheel_advance and a
 * foreign worker's wheel_try_advance, as the multi-thread runtime does for a
 * stuck worker), over slots holding more than one firing batch (so each
 * advance unlocks mid-slot), while a third cancels: every timer fires once
 * or is cancelled, never both, never lost, never left armed. */
typedef struct xadv {
    wheel w;
    wtimer *ts;
    int n;
    atomic_int armed_upto;
    atomic_int stop;
    atomic_ullong now; /* ns after START */
} xadv;

static void *xadv_advancer(void *arg)
{
    xadv *x = arg;
    while (!atomic_load(&x->stop))
        wheel_try_advance(&x->w, START + atomic_load(&x->now));
    return NULL;
}

static void *xadv_canceller(void *arg)
{
    xadv *x = arg;
    for (int i = 0; i < x->n; i += 3) {
        while (atomic_load(&x->armed_upto) <= i)
            ;
        if (wheel_remove(&x->ts[i].t, NULL))
            corio_waker_drop(&x->ts[i].t.waker_);
    }
    return NULL;
}

TEST(wheel_two_advancers_and_a_canceller)
{
    xadv *x = calloc(1, sizeof *x);
    x->n = SCALE(30000, 8000, 3000);
    x->ts = calloc((size_t)x->n, sizeof *x->ts);
    wheel_init(&x->w, START);
    pthread_t adv, can;
    CHECK_EQ(pthread_create(&adv, NULL, xadv_advancer, x), 0);
    CHECK_EQ(pthread_create(&can, NULL, xadv_canceller, x), 0);
    uint64_t now = 0;
    for (int i = 0; i < x->n; i++) {
        /* 200 a tick, spread over the next 1 to 3 ticks: slots of ~70..200. */
        arm(&x->w, &x->ts[i], now + (uint64_t)(1 + i % 3) * MS);
        atomic_store(&x->armed_upto, i + 1);
        if (i % 200 == 199) {
            now += MS;
            atomic_store(&x->now, now);
            advance_to(&x->w, now);
        }
    }
    CHECK_EQ(pthread_join(can, NULL), 0);
    atomic_store(&x->stop, 1);
    CHECK_EQ(pthread_join(adv, NULL), 0);
    advance_to(&x->w, now + 10 * MS);
    for (int i = 0; i < x->n; i++) {
        CHECK(!corio_timer_is_armed(&x->ts[i].t));
        int f = fired(&x->ts[i]), d = atomic_load(&x->ts[i].target.drops);
        CHECK_EQ(f + d, 1);
        if (i % 3)
            CHECK_EQ(f, 1);
        CHECK_EQ(atomic_load(&x->ts[i].target.refs), 0);
    }
    CHECK_EQ(wheel_next_deadline(&x->w), UINT64_MAX);
    free(x->ts);
    free(x);
}
