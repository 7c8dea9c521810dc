/* task/join.c - join_all and try_join_all over N futures (corio/join.h).
 *
 * Both are one poll loop over the caller's array. Two ways to find the
 * futures worth polling:
 *  - small (n <= 64): a bitmap of finished futures in the join itself;
 *    every poll polls every unfinished future with the task's own waker,
 *    as tokio's join! does. Nothing is allocated.
 *  - many (n > 64): at the first poll, a wakeset (task/wakeset.h) with one
 *    slot per future; each future is polled with its slot's waker, and a
 *    later poll polls only the futures whose slots were woken. One
 *    allocation per join, O(1) per wake.
 *
 * Invariants: a future is finished once it completed or was dropped; it is
 * then never polled or dropped again (its bit, or its slot's `done`).
 * `left` counts the futures not finished. A join that is ready or invalid
 * (phase DONE) owns nothing: its drop does nothing.
 */
#include "corio/join.h"

#include "corio/error.h"
#include "task/wakeset.h"

#define SMALL_MAX 64

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(corio_join_all_fut) == 64, "corio/join.h gives its size");
_Static_assert(sizeof(corio_try_join_all_fut) == 72, "corio/join.h gives its size");
#endif

/* FRESH: not polled yet; FIRST: many mode's first pass is due (every
 * future is polled once, each with its own waker); POLLING; DONE: ready,
 * invalid or dropped, owns nothing. */
enum { PH_FRESH = 0, PH_FIRST, PH_POLLING, PH_DONE };

/* A future's slot in many mode (the wakeset's tail holds n of them). */
typedef struct jslot {
    ws_slot ws;
    bool done;
} jslot;

static bool fut_ok(const corio_future *f)
{
    return f->vtable && f->vtable->poll;
}

/* Arguments a join accepts: an array for n > 0, entries NULL or valid. */
static bool args_ok(corio_future *const *futs, size_t n)
{
    if (n && !futs)
        return false;
    for (size_t i = 0; i < n; i++)
        if (futs[i] && !fut_ok(futs[i]))
            return false;
    return true;
}

static void st_init(corio_join_state_ *st, corio_future *const *futs, size_t n)
{
    st->futs = futs;
    st->n = n;
    st->left = 0;
    st->done = 0;
    st->many = NULL;
    st->phase = PH_FRESH;
}

static inline jslot *slots_of(ws_core *c)
{
    return (jslot *)ws_tail(c);
}

/* Outcome of one pass over the futures worth polling. */
enum { J_PENDING, J_READY, J_FAILED };

/* Poll future i (not finished) with `cx`: J_READY when it completed (it is
 * then finished), J_FAILED when it completed with an error and `try_`
 * stops at errors, J_PENDING otherwise. */
static inline int poll_one(corio_join_state_ *st, size_t i, corio_context *cx, bool try_)
{
    corio_future *f = st->futs[i];
    if (f->vtable->poll(f, cx) == CORIO_PENDING)
        return J_PENDING;
    st->left--;
    return try_ && f->result < 0 ? J_FAILED : J_READY;
}

/* Drop every future not finished (small mode: per the bitmap; many: per
 * the slots). */
static void drop_unfinished(corio_join_state_ *st)
{
    if (st->many) {
        jslot *sl = slots_of(st->many);
        for (size_t i = 0; i < st->n; i++)
            if (!sl[i].done) {
                sl[i].done = true;
                corio_future_drop(st->futs[i]);
            }
    } else {
        for (size_t i = 0; i < st->n; i++)
            if (!(st->done >> i & 1)) {
                st->done |= 1ull << i;
                corio_future_drop(st->futs[i]);
            }
    }
    st->left = 0;
}

/* The join is over (ready, failed or dropped): give back the wakeset. */
static void finish(corio_join_state_ *st)
{
    st->phase = PH_DONE;
    if (st->many) {
        ws_close(st->many);
        st->many = NULL;
    }
}

/* First poll: count the futures; set up the wakeset above SMALL_MAX.
 * -ENOMEM when it cannot be had (nothing polled yet). */
static int start(corio_join_state_ *st)
{
    size_t live = 0;
    for (size_t i = 0; i < st->n; i++)
        live += st->futs[i] != NULL;
    st->left = live;
    if (st->n <= SMALL_MAX) {
        for (size_t i = 0; i < st->n; i++)
            if (!st->futs[i])
                st->done |= 1ull << i; /* left out: finished from the start */
        st->phase = PH_POLLING;
        return 0;
    }
    if (st->n > SIZE_MAX / sizeof(jslot))
        return -ENOMEM;
    ws_core *c = ws_new(st->n * sizeof(jslot));
    if (!c)
        return -ENOMEM;
    jslot *sl = slots_of(c);
    for (size_t i = 0; i < st->n; i++) {
        ws_slot_init(&sl[i].ws, c);
        sl[i].done = st->futs[i] == NULL;
    }
    st->many = c;
    st->phase = PH_FIRST;
    return 0;
}

/* Many mode: poll future i with its slot's waker. */
static inline int poll_slot(corio_join_state_ *st, jslot *s, size_t i, bool try_)
{
    corio_waker w = ws_slot_waker(&s->ws);
    corio_context scx = {&w};
    int r = poll_one(st, i, &scx, try_);
    if (r != J_PENDING)
        s->done = true;
    return r;
}

/* One poll of the join: J_READY (all done), J_FAILED (*failed set; the
 * failing future is finished, the others not dropped yet) or J_PENDING. */
static int join_pass(corio_join_state_ *st, corio_context *cx, bool try_, size_t *failed)
{
    if (!st->many) {
        for (size_t i = 0; i < st->n; i++) {
            if (st->done >> i & 1)
                continue;
            int r = poll_one(st, i, cx, try_);
            if (r == J_PENDING)
                continue;
            st->done |= 1ull << i;
            if (r == J_FAILED) {
                *failed = i;
                return J_FAILED;
            }
        }
        return st->left ? J_PENDING : J_READY;
    }
    ws_core *c = st->many;
    jslot *sl = slots_of(c);
    /* Before any child can be woken with a slot's waker (the first pass),
     * and before draining (every later one): see task/wakeset.h. */
    ws_set_owner(c, corio_context_waker(cx));
    if (st->phase == PH_FIRST) {
        st->phase = PH_POLLING;
        for (size_t i = 0; i < st->n; i++) {
            if (sl[i].done)
                continue;
            int r = poll_slot(st, &sl[i], i, try_);
            if (r == J_FAILED) {
                *failed = i;
                return J_FAILED;
            }
        }
        return st->left ? J_PENDING : J_READY;
    }
    for (ws_slot *s = ws_drain(c); s;) {
        ws_slot *next = s->next;
        ws_slot_take(s);
        jslot *js = (jslot *)s;
        if (!js->done) {
            size_t i = (size_t)(js - sl);
            if (poll_slot(st, js, i, try_) == J_FAILED) {
                /* The rest of the drained chain stays queued: the wakeset
                 * is closed below, nothing polls them again. */
                *failed = i;
                return J_FAILED;
            }
        }
        s = next;
    }
    return st->left ? J_PENDING : J_READY;
}

/* The poll of both join futures; `try_` stops at the first error. */
static corio_poll join_poll(corio_future *base, corio_join_state_ *st, corio_context *cx, bool try_,
                            size_t *failed)
{
    if (st->phase == PH_DONE)
        return CORIO_READY; /* invalid (result set at init), or polled again once ready */
    if (st->phase == PH_FRESH) {
        int rc = start(st);
        if (rc < 0) {
            st->phase = PH_DONE; /* nothing polled: the futures are left alone */
            base->result = rc;
            return CORIO_READY;
        }
    }
    size_t fi = CORIO_INDEX_NONE;
    switch (join_pass(st, cx, try_, &fi)) {
    case J_PENDING:
        return CORIO_PENDING;
    case J_FAILED:
        base->result = st->futs[fi]->result;
        *failed = fi;
        drop_unfinished(st); /* the losers: dropped in the poll that failed */
        break;
    default:
        base->result = 0;
        break;
    }
    finish(st);
    return CORIO_READY;
}

static void join_drop(corio_join_state_ *st)
{
    if (st->phase == PH_DONE)
        return;
    if (st->phase != PH_FRESH) /* FRESH: no wakeset yet, bitmap not set up */
        drop_unfinished(st);
    else
        for (size_t i = 0; i < st->n; i++)
            corio_future_drop(st->futs[i]);
    finish(st);
}

/* ---- join_all -------------------------------------------------------------- */

static corio_poll join_all_poll(corio_future *base, corio_context *cx)
{
    corio_join_all_fut *f = (corio_join_all_fut *)base;
    size_t unused;
    return join_poll(base, &f->st_, cx, false, &unused);
}

static void join_all_drop(corio_future *base)
{
    join_drop(&((corio_join_all_fut *)base)->st_);
}

static const corio_future_vtable join_all_vtable = {join_all_poll, join_all_drop};

void corio_join_all_fut_init(corio_join_all_fut *f, corio_future *const *futs, size_t n)
{
    if (!f)
        return;
    corio_future_init(&f->base, &join_all_vtable);
    st_init(&f->st_, futs, n);
    if (!args_ok(futs, n)) {
        f->st_.phase = PH_DONE;
        f->base.result = -EINVAL;
    }
}

int corio_join_all(corio_future *const *futs, size_t n)
{
    if (!args_ok(futs, n))
        return -EINVAL;
    corio_join_all_fut f;
    corio_join_all_fut_init(&f, futs, n);
    int rc = corio_await(&f.base);
    return rc < 0 ? rc : f.base.result;
}

/* ---- try_join_all ------------------------------------------------------------ */

static corio_poll try_join_poll(corio_future *base, corio_context *cx)
{
    corio_try_join_all_fut *f = (corio_try_join_all_fut *)base;
    return join_poll(base, &f->st_, cx, true, &f->failed);
}

static void try_join_drop(corio_future *base)
{
    join_drop(&((corio_try_join_all_fut *)base)->st_);
}

static const corio_future_vtable try_join_vtable = {try_join_poll, try_join_drop};

void corio_try_join_all_fut_init(corio_try_join_all_fut *f, corio_future *const *futs, size_t n)
{
    if (!f)
        return;
    corio_future_init(&f->base, &try_join_vtable);
    f->failed = CORIO_INDEX_NONE;
    st_init(&f->st_, futs, n);
    if (!args_ok(futs, n)) {
        f->st_.phase = PH_DONE;
        f->base.result = -EINVAL;
    }
}

int corio_try_join_all(corio_future *const *futs, size_t n, size_t *failed)
{
    if (failed)
        *failed = CORIO_INDEX_NONE;
    if (!args_ok(futs, n))
        return -EINVAL;
    corio_try_join_all_fut f;
    corio_try_join_all_fut_init(&f, futs, n);
    int rc = corio_await(&f.base);
    if (rc < 0)
        return rc;
    if (failed)
        *failed = f.failed;
    return f.base.result;
}
