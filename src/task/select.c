/* task/select.c - the first of N futures (corio/select.h), and the
 * reference future that lets a select race a future it does not own.
 *
 * A select keeps no per-branch state: until one wins, every branch is
 * pending, so each poll polls every enabled branch, from a start chosen by
 * a xorshift generator (fair) or from 0 (biased). The generator's state is
 * the select's own once seeded. corio_select seeds it from its worker's
 * sequence (worker_rand); a corio_select_fut polled first from elsewhere
 * (a stackless task, plain code) from a per-thread generator, read in a
 * function of its own that never suspends (a coroutine may move between
 * threads between two polls, never inside one).
 *
 * corio_select polls every branch once itself, with the task's waker that
 * coro_await_enter_polling hands it, before it builds any select future:
 * most selects in a loop find a branch ready, and then cost that round and
 * the drops. Only when no branch was ready does it await a select future
 * whose first poll is skipped (PH_POLLED: the first round just polled
 * every branch with the same waker, so the task sleeps until one wakes it).
 *
 * Invariants: phase POLLING/POLLED: the select owns every enabled branch;
 * DONE: it owns nothing (a branch won and the others were dropped, or it
 * was dropped, or its arguments were bad and it never owned anything).
 */
#include "corio/select.h"

#include "core/coro.h"
#include "corio/error.h"

enum { PH_POLLING = 0, PH_DONE, PH_POLLED };

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_select_fut) == 48, "corio/select.h gives its size");
_Static_assert(sizeof(corio_ref_fut) == 24, "corio/select.h gives its size");
#endif

static __thread uint32_t thread_seed __attribute__((tls_model("initial-exec")));

/* One xorshift32 step (never 0 from a value that is not 0). */
static inline uint32_t xorshift(uint32_t x)
{
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

/* The next value of the calling thread's generator (never 0). */
static __attribute__((noinline)) uint32_t seed_next(void)
{
    uint32_t x = thread_seed;
    if (__builtin_expect(x == 0, 0))
        x = 0x9E3779B9u ^ (uint32_t)(uintptr_t)&thread_seed; /* differs per thread */
    return thread_seed = xorshift(x);
}

/* The branch to start from, in [0, n), for a generator value (no division). */
static inline size_t start_of(uint32_t x, size_t n)
{
    return (size_t)(((uint64_t)x * n) >> 32);
}

/* The branch to poll first: [0, n) from the select's generator. */
static inline size_t fair_start(corio_select_fut *s)
{
    uint32_t x = s->rng_;
    x = x == 0 ? seed_next() : xorshift(x);
    s->rng_ = x;
    return start_of(x, s->n_);
}

/* One branch, f with its vtable vt (args_ok checked every branch that is
 * not NULL has one): a NULL branch is never polled nor dropped. */
static inline bool branch_ready(corio_future *f, const corio_future_vtable *vt,
                                corio_context *cx)
{
    return f && vt->poll(f, cx) == CORIO_READY;
}

static inline void branch_drop(corio_future *f, const corio_future_vtable *vt)
{
    if (f && vt->drop)
        vt->drop(f);
}

/* The vtable of a branch, NULL for a disabled one. */
static inline const corio_future_vtable *vtable_of(corio_future *f)
{
    return f ? f->vtable : NULL;
}

/* Drop every branch but `keep` (CORIO_INDEX_NONE: all of them). */
static inline void drop_branches(corio_future *const *futs, size_t n, size_t keep)
{
    for (size_t j = 0; j < n; j++)
        if (j != keep)
            branch_drop(futs[j], vtable_of(futs[j]));
}

/* Poll branch i: true when it is ready, and then every other is dropped. */
static inline bool poll_one(corio_future *const *futs, size_t n, size_t i, corio_context *cx)
{
    if (!branch_ready(futs[i], vtable_of(futs[i]), cx))
        return false;
    drop_branches(futs, n, i);
    return true;
}

/* Poll every enabled branch once, from `start` round: the first that is
 * ready wins, and the others are dropped before anyone sees it. Returns
 * the winner's index, or CORIO_INDEX_NONE when all are pending. */
static inline size_t poll_round(corio_future *const *futs, size_t n, size_t start,
                                corio_context *cx)
{
    for (size_t i = start; i < n; i++) /* from start to the end, */
        if (poll_one(futs, n, i, cx))
            return i;
    for (size_t i = 0; i < start; i++) /* then round from the first */
        if (poll_one(futs, n, i, cx))
            return i;
    return CORIO_INDEX_NONE;
}

/* Two branches, the common select, as corio_select polls them: each
 * future with the vtable read when the select began (a future's vtable is
 * its type, it never changes). Read there, before anything else is
 * stored, the compiler can see, where the select is inlined into its
 * caller (LTO, a static build with the program), which functions those
 * are, and call or even inline them directly, as a Rust select! does. */
typedef struct pair {
    corio_future *f[2];
    const corio_future_vtable *vt[2];
} pair;

static inline pair pair_of(corio_future *const *futs)
{
    return (pair){{futs[0], futs[1]}, {vtable_of(futs[0]), vtable_of(futs[1])}};
}

/* Branch i of the pair: true when it is ready, and then the other is
 * dropped. */
static inline bool pair_poll_one(const pair *p, int i, corio_context *cx)
{
    if (!branch_ready(p->f[i], p->vt[i], cx))
        return false;
    branch_drop(p->f[1 - i], p->vt[1 - i]);
    return true;
}

/* Constant indices on each side of the test of `start`, so that each call
 * names one known future. */
static inline size_t pair_round(const pair *p, size_t start, corio_context *cx)
{
    if (start == 0) {
        if (pair_poll_one(p, 0, cx))
            return 0;
        if (pair_poll_one(p, 1, cx))
            return 1;
    } else {
        if (pair_poll_one(p, 1, cx))
            return 1;
        if (pair_poll_one(p, 0, cx))
            return 0;
    }
    return CORIO_INDEX_NONE;
}

static corio_poll select_poll(corio_future *base, corio_context *cx)
{
    corio_select_fut *s = (corio_select_fut *)base;
    if (__builtin_expect(s->phase_ != PH_POLLING, 0)) {
        if (s->phase_ == PH_POLLED) { /* corio_select's own round was this poll */
            s->phase_ = PH_POLLING;
            return CORIO_PENDING;
        }
        return CORIO_READY; /* invalid (result set at init), or polled again once done */
    }
    size_t i = poll_round(s->futs_, s->n_, s->biased_ ? 0 : fair_start(s), cx);
    if (i == CORIO_INDEX_NONE)
        return CORIO_PENDING;
    s->index = i;
    s->phase_ = PH_DONE;
    base->result = 0;
    return CORIO_READY;
}

static void select_drop(corio_future *base)
{
    corio_select_fut *s = (corio_select_fut *)base;
    if (s->phase_ == PH_DONE)
        return;
    s->phase_ = PH_DONE;
    drop_branches(s->futs_, s->n_, CORIO_INDEX_NONE);
}

static const corio_future_vtable select_vtable = {select_poll, select_drop};

/* Bad arguments: no array, no branch, or a zeroed branch. */
static bool args_ok(corio_future *const *futs, size_t n)
{
    if (!futs || n == 0)
        return false;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        corio_future *f = futs[i];
        if (!f)
            continue;
        if (!f->vtable || !f->vtable->poll)
            return false;
        any = true;
    }
    return any;
}

static inline void init(corio_select_fut *f, corio_future *const *futs, size_t n, bool biased)
{
    corio_future_init(&f->base, &select_vtable);
    f->index = CORIO_INDEX_NONE;
    f->futs_ = futs;
    f->n_ = n;
    f->rng_ = 0;
    f->biased_ = biased;
    f->phase_ = PH_POLLING;
}

static void init_checked(corio_select_fut *f, corio_future *const *futs, size_t n, bool biased)
{
    if (!f)
        return;
    init(f, futs, n, biased);
    if (!args_ok(futs, n)) {
        f->phase_ = PH_DONE;
        f->base.result = -EINVAL;
    }
}

void corio_select_fut_init(corio_select_fut *f, corio_future *const *futs, size_t n)
{
    init_checked(f, futs, n, false);
}

void corio_select_fut_init_biased(corio_select_fut *f, corio_future *const *futs, size_t n)
{
    init_checked(f, futs, n, true);
}

/* The rest of a select whose first round found every branch pending: it
 * awaits a select future whose first poll is skipped, as that round was it. */
static __attribute__((noinline)) int select_wait(corio_future *const *futs, size_t n,
                                                 size_t *index, uint32_t seed, bool biased)
{
    corio_select_fut f;
    init(&f, futs, n, biased);
    f.rng_ = seed; /* the first round's start; the next poll steps on from it */
    f.phase_ = PH_POLLED;
    int rc = corio_await(&f.base); /* interrupted: it dropped f, so every branch */
    if (index)
        *index = rc < 0 ? CORIO_INDEX_NONE : f.index;
    if (rc < 0)
        return rc;
    return f.base.result;
}

static inline int select_run(corio_future *const *futs, size_t n, size_t *index, bool biased)
{
    if (!args_ok(futs, n)) {
        if (index)
            *index = CORIO_INDEX_NONE;
        return -EINVAL;
    }
    pair p = {{NULL, NULL}, {NULL, NULL}};
    if (n == 2)
        p = pair_of(futs); /* before anything is stored: see pair */
    corio_waker wk;
    uint32_t seed = 0;
    int rc = coro_await_enter_polling(&wk, biased ? NULL : &seed);
    if (rc != 0) {
        if (rc != CORIO_EWRONGCTX) /* interrupted: the select owned the branches */
            drop_branches(futs, n, CORIO_INDEX_NONE);
        if (index)
            *index = CORIO_INDEX_NONE;
        return rc;
    }
    /* Rounds as select_poll's, without a select future, for as long as a
     * round ends with the task woken (a branch that woke itself). */
    corio_context cx = {&wk};
    for (;;) {
        size_t start = biased ? 0 : start_of(seed, n);
        size_t i = n == 2 ? pair_round(&p, start, &cx) : poll_round(futs, n, start, &cx);
        if (i != CORIO_INDEX_NONE) {
            if (index)
                *index = i;
            return 0;
        }
        rc = coro_await_woken();
        if (rc == 0)
            break;
        if (rc < 0) {
            drop_branches(futs, n, CORIO_INDEX_NONE);
            if (index)
                *index = CORIO_INDEX_NONE;
            return rc;
        }
        seed = xorshift(seed | 1); /* the next round starts elsewhere */
    }
    return select_wait(futs, n, index, seed, biased);
}

int corio_select(corio_future *const *futs, size_t n, size_t *index)
{
    return select_run(futs, n, index, false);
}

int corio_select_biased(corio_future *const *futs, size_t n, size_t *index)
{
    return select_run(futs, n, index, true);
}

/* ---- references ---------------------------------------------------------------- */

static corio_poll ref_poll(corio_future *base, corio_context *cx)
{
    corio_ref_fut *r = (corio_ref_fut *)base;
    if (corio_future_poll(r->inner, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    base->result = r->inner->result;
    return CORIO_READY;
}

/* No drop: the inner future stays its owner's. */
static const corio_future_vtable ref_vtable = {ref_poll, NULL};

static corio_poll ref_invalid_poll(corio_future *base, corio_context *cx)
{
    (void)cx;
    base->result = -EINVAL;
    return CORIO_READY;
}

static const corio_future_vtable ref_invalid_vtable = {ref_invalid_poll, NULL};

void corio_ref_fut_init(corio_ref_fut *f, corio_future *inner)
{
    if (!f)
        return;
    bool ok = inner && inner->vtable && inner->vtable->poll;
    corio_future_init(&f->base, ok ? &ref_vtable : &ref_invalid_vtable);
    f->inner = inner;
}
