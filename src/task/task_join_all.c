/* task/task_join_all.c - corio_task_join_all: wait for N tasks, giving
 * each handle back as its task finishes (corio/join.h).
 *
 * Each task is joined through a corio_join_fut polled with a waker of its
 * own (a slot of a wakeset, task/wakeset.h), so the task's completion
 * pushes exactly that slot on the ready stack; the join then polls only
 * the slots it drains: O(1) per finished task, not O(n) per wake. The
 * first poll visits every task once, installing the wakers (or finding the
 * task finished already).
 *
 * Invariants: slot i is `done` once task i's result was taken and its
 * handle given back (or the entry was NULL); `left` counts the others. A
 * task wakes its join waker once, when it completes; a slot drained after
 * its task was taken (a late wake) is skipped.
 */
#include "corio/join.h"

#include "core/worker.h"
#include "corio/error.h"
#include "rt/parker.h"
#include "task/wakeset.h"

enum { PH_FRESH = 0, PH_FIRST, PH_POLLING, PH_DONE };

typedef struct tslot {
    ws_slot ws;
    bool done;
} tslot;

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(tslot) == 32, "corio/join.h gives the memory per task");
#endif

static inline tslot *slots_of(ws_core *c)
{
    return (tslot *)ws_tail(c);
}

/* What a join reports in results[i]: the task's result, or CORIO_ECANCELED
 * when cancellation reached it. */
static inline int folded(const corio_join_fut *jf)
{
    return jf->base.result == CORIO_ECANCELED ? CORIO_ECANCELED : jf->value;
}

/* Poll task i's join with `cx`: true when it has finished (result stored,
 * handle given back). */
static bool take_task(corio_task_join_all_fut *f, size_t i, corio_context *cx)
{
    corio_join_fut jf;
    corio_join_fut_init(&jf, f->tasks[i]);
    if (corio_future_poll(&jf.base, cx) == CORIO_PENDING)
        return false;
    if (f->results)
        f->results[i] = folded(&jf);
    corio_task_release(f->tasks[i]);
    return true;
}

/* The same for a task with a slot: then its slot is done. */
static bool poll_task(corio_task_join_all_fut *f, size_t i, tslot *s, corio_context *cx)
{
    if (!take_task(f, i, cx))
        return false;
    s->done = true;
    f->left_--;
    return true;
}

static bool poll_slot(corio_task_join_all_fut *f, size_t i, tslot *s)
{
    corio_waker w = ws_slot_waker(&s->ws);
    corio_context scx = {&w};
    return poll_task(f, i, s, &scx);
}

static int start(corio_task_join_all_fut *f)
{
    if (f->n > SIZE_MAX / sizeof(tslot))
        return -ENOMEM;
    ws_core *c = ws_new(f->n * sizeof(tslot));
    if (!c)
        return -ENOMEM;
    tslot *sl = slots_of(c);
    size_t left = 0;
    for (size_t i = 0; i < f->n; i++) {
        ws_slot_init(&sl[i].ws, c);
        sl[i].done = f->tasks[i] == NULL;
        if (f->tasks[i])
            left++;
        else if (f->results)
            f->results[i] = -EINVAL;
    }
    f->ws_ = c;
    f->left_ = left;
    f->phase_ = PH_FIRST;
    return 0;
}

static void finish(corio_task_join_all_fut *f)
{
    f->phase_ = PH_DONE;
    if (f->ws_) {
        ws_close(f->ws_);
        f->ws_ = NULL;
    }
}

/* Whether `t` (not NULL) is one of the n handles: a task that joins itself
 * would wait for its own end (-EDEADLK). */
static bool lists(corio_task *const *tasks, size_t n, const corio_task *t)
{
    for (size_t i = 0; t && i < n; i++)
        if (tasks[i] == t)
            return true;
    return false;
}

static corio_poll tja_poll(corio_future *base, corio_context *cx)
{
    corio_task_join_all_fut *f = (corio_task_join_all_fut *)base;
    if (f->phase_ == PH_DONE)
        return CORIO_READY;
    if (f->phase_ == PH_FRESH) {
        if (f->n == 0) {
            f->phase_ = PH_DONE;
            base->result = 0;
            return CORIO_READY;
        }
        /* The polling task among the handles would wait for its own end
         * (corio_task_join_all's -EDEADLK): say so before any handle is
         * touched. corio_task_join_all checked already and starts the
         * future itself, so this is only the future form's cost, once. */
        if (lists(f->tasks, f->n, corio_task_current())) {
            f->phase_ = PH_DONE;
            base->result = -EDEADLK;
            return CORIO_READY;
        }
        int rc = start(f);
        if (rc < 0) {
            f->phase_ = PH_DONE;
            base->result = rc;
            return CORIO_READY;
        }
    }
    ws_core *c = f->ws_;
    tslot *sl = slots_of(c);
    ws_set_owner(c, corio_context_waker(cx));
    if (f->phase_ == PH_FIRST) {
        f->phase_ = PH_POLLING;
        for (size_t i = 0; i < f->n; i++)
            if (!sl[i].done)
                (void)poll_slot(f, i, &sl[i]);
    } else {
        for (ws_slot *s = ws_drain(c); s;) {
            ws_slot *next = s->next;
            ws_slot_take(s);
            tslot *ts = (tslot *)s;
            if (!ts->done)
                (void)poll_slot(f, (size_t)(ts - sl), ts);
            s = next;
        }
    }
    if (f->left_)
        return CORIO_PENDING;
    base->result = 0;
    finish(f);
    return CORIO_READY;
}

/* Task i at the drop: its result stored if it has finished (ready without
 * a waker), else its handle given back (it goes on, detached). */
static void drop_task(corio_task_join_all_fut *f, size_t i)
{
    corio_waker none = CORIO_WAKER_NONE;
    corio_context ncx = {&none};
    if (corio_task_is_finished(f->tasks[i]))
        (void)take_task(f, i, &ncx);
    else
        corio_task_release(f->tasks[i]);
}

/* Dropped before every task finished: store what has finished by now
 * (nothing is lost to the interruption), give back every other handle:
 * those tasks go on, detached. Also when never polled (it lost a biased
 * select, say): then there are no slots, and NULL entries get -EINVAL
 * here, as the first poll would have given them. */
static void tja_drop(corio_future *base)
{
    corio_task_join_all_fut *f = (corio_task_join_all_fut *)base;
    if (f->phase_ == PH_DONE)
        return;
    if (f->phase_ == PH_FRESH) {
        for (size_t i = 0; i < f->n; i++) {
            if (f->tasks[i])
                drop_task(f, i);
            else if (f->results)
                f->results[i] = -EINVAL;
        }
        f->phase_ = PH_DONE;
        return;
    }
    tslot *sl = slots_of(f->ws_);
    for (size_t i = 0; i < f->n; i++) {
        if (!sl[i].done)
            drop_task(f, i);
        sl[i].done = true;
    }
    f->left_ = 0;
    finish(f);
}

static const corio_future_vtable tja_vtable = {tja_poll, tja_drop};

void corio_task_join_all_fut_init(corio_task_join_all_fut *f, corio_task *const *tasks, size_t n,
                                  int *results)
{
    if (!f)
        return;
    corio_future_init(&f->base, &tja_vtable);
    f->tasks = tasks;
    f->n = n;
    f->results = results;
    f->left_ = 0;
    f->ws_ = NULL;
    f->phase_ = PH_FRESH;
    if (n && !tasks) {
        f->phase_ = PH_DONE;
        f->base.result = -EINVAL;
    }
}

int corio_task_join_all(corio_task *const *tasks, size_t n, int *results)
{
    if (n && !tasks)
        return -EINVAL;
    worker *w = worker_current();
    if (w) {
        if (!w->coro)
            return CORIO_EWRONGCTX; /* a poll function cannot block */
        if (lists(tasks, n, w->current))
            return -EDEADLK;
    }
    if (n == 0)
        return 0;
    corio_task_join_all_fut f;
    corio_task_join_all_fut_init(&f, tasks, n, results);
    /* Set up before the wait, so that -ENOMEM leaves every handle alone. */
    int rc = start(&f);
    if (rc < 0)
        return rc;
    if (w)
        rc = corio_await(&f.base); /* interrupted: it dropped f (handles given back) */
    else if ((rc = block_on_parked(&f.base)) < 0)
        finish(&f); /* no parker: nothing was polled, the handles are untouched */
    return rc < 0 ? rc : f.base.result;
}
