/* core/task.c - task state transitions, references, wakers, join handles.
 *
 * Every transition is a CAS loop or a single fetch-op on the state word (see
 * core/task.h for the bits). Orders: transitions that hand the task to
 * another thread (wake, idle, complete) use release; those that take it over
 * (to running, reading COMPLETE) use acquire; reference decrements use
 * acq_rel so the thread that frees sees every write made under a reference.
 */
#include "core/task.h"

#include <stdlib.h>
#include <string.h>

#include "core/worker.h"
#include "corio/error.h"

#if UINTPTR_MAX == UINT64_MAX
/* The per-task cost is part of the contract (docs/runtime.md). */
_Static_assert(sizeof(corio_task) == 80, "task header grew");
#endif

static _Atomic uint64_t next_task_id = 1;

int task_init(corio_task *t, bool stackless, struct sched *s, const corio_spawn_opts *opts,
              const corio_spawn_site *site, bool joinable)
{
    uint64_t refs = joinable ? 3 : 2; /* registry + queue (+ handle) */
    uint64_t st = ST_NOTIFIED | refs * ST_REF_ONE | (joinable ? ST_JOIN_INTEREST : 0);
    atomic_init(&t->state, st);
    t->next = NULL;
    t->sched = s;
    t->join_waker = CORIO_WAKER_NONE;
    /* Relaxed: ids only need to be unique, not ordered with anything. */
    t->id = atomic_fetch_add_explicit(&next_task_id, 1, memory_order_relaxed);
    t->site = site;
    t->reg_prev = t->reg_next = NULL;
    t->result = 0;
    t->flags = stackless ? TF_FUTURE : 0;
    t->mem_units = 0;
    if (opts && opts->name) {
        size_t n = strlen(opts->name);
        task_named *tn = malloc(sizeof *tn + n + 1);
        if (!tn)
            return -ENOMEM;
        if (site)
            tn->site = *site;
        else
            tn->site = (corio_spawn_site){"?", 0, "?"};
        memcpy(tn->name, opts->name, n + 1);
        t->site = &tn->site;
        t->flags |= TF_NAMED;
    }
    return 0;
}

static void task_dealloc(corio_task *t)
{
    if (t->join_waker.vtable)
        corio_waker_drop(&t->join_waker);
    if (t->flags & TF_NAMED)
        free((task_named *)(void *)t->site);
    task_vt(t)->dealloc(t);
}

void task_abandon(corio_task *t)
{
    task_dealloc(t);
}

static inline void task_ref_inc(corio_task *t)
{
    /* Relaxed: a new reference is made from an existing one, which already
     * keeps the task alive; nothing is published by the increment. */
    atomic_fetch_add_explicit(&t->state, ST_REF_ONE, memory_order_relaxed);
}

void task_ref_dec(corio_task *t)
{
    uint64_t prev = atomic_fetch_sub_explicit(&t->state, ST_REF_ONE, memory_order_acq_rel);
    if ((prev & ST_REF_MASK) == ST_REF_ONE)
        task_dealloc(t);
}

/* Returns true when the caller must schedule the task (NOTIFIED was newly set
 * on an idle task; a reference for the queue is then needed). */
static bool transition_notify(corio_task *t)
{
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        if (s & (ST_COMPLETE | ST_NOTIFIED))
            return false;
        uint64_t ns = s | ST_NOTIFIED;
        bool sched = !(s & ST_RUNNING);
        /* Release: whatever the waker did before waking happens-before the
         * poll that the notification causes. Acquire: when this schedules
         * the task, this thread writes the task's queue link next, which the
         * last poller read before its release at the idle transition. */
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, ns, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return sched;
    }
}

void task_wake_by_ref(corio_task *t)
{
    if (transition_notify(t)) {
        task_ref_inc(t);
        sched_schedule(t->sched, t);
    }
}

static void task_wake_by_val(corio_task *t)
{
    if (transition_notify(t))
        sched_schedule(t->sched, t); /* the waker's reference goes to the queue */
    else
        task_ref_dec(t);
}

void task_cancel(corio_task *t)
{
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        if (s & (ST_COMPLETE | ST_CANCELLED))
            return;
        uint64_t ns = s | ST_CANCELLED | ST_NOTIFIED;
        bool sched = !(s & (ST_RUNNING | ST_NOTIFIED));
        /* acq_rel for the same reason as in transition_notify. */
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, ns, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            if (sched) {
                task_ref_inc(t);
                sched_schedule(t->sched, t);
            }
            return;
        }
    }
}

static void task_complete(corio_task *t)
{
    sched_unregister(t->sched, t);
    /* JOIN_INTEREST is only ever cleared, so a snapshot without it stays true:
     * nobody can install a join waker, and both references (registry and
     * queue) can go in the same atomic step as COMPLETE. */
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    if (!(s & ST_JOIN_INTEREST)) {
        uint64_t prev = atomic_fetch_add_explicit(
            &t->state, ST_COMPLETE - ST_RUNNING - 2 * ST_REF_ONE, memory_order_acq_rel);
        if ((prev & ST_REF_MASK) == 2 * ST_REF_ONE)
            task_dealloc(t);
        return;
    }
    /* Release publishes t->result to the joiner, who reads COMPLETE with
     * acquire; acquire pairs with the joiner's release of JOIN_WAKER so the
     * stored waker is visible here. */
    uint64_t prev = atomic_fetch_add_explicit(&t->state, ST_COMPLETE - ST_RUNNING - ST_REF_ONE,
                                              memory_order_acq_rel);
    if ((prev & ST_JOIN_INTEREST) && (prev & ST_JOIN_WAKER))
        corio_waker_wake_by_ref(&t->join_waker);
    task_ref_dec(t);
}

void task_run(corio_task *t, worker *w)
{
    bool cancelled;
    if (t->flags & TF_YIELDED) {
        /* A yielded coroutine never left RUNNING: just resume it. */
        t->flags &= ~TF_YIELDED;
        cancelled = atomic_load_explicit(&t->state, memory_order_relaxed) & ST_CANCELLED;
    } else {
        uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
        for (;;) {
            uint64_t ns = (s & ~ST_NOTIFIED) | ST_RUNNING;
            /* Acquire: see everything the waker did before notifying. */
            if (atomic_compare_exchange_weak_explicit(&t->state, &s, ns, memory_order_acquire,
                                                      memory_order_relaxed))
                break;
        }
        cancelled = s & ST_CANCELLED;
    }
    if (task_vt(t)->poll(&t, w, cancelled)) {
        task_complete(t);
        return;
    }
    if (t->flags & TF_YIELDED) {
        sched_requeue_yielded(w, t);
        return;
    }
    /* To idle. If notified meanwhile, keep RUNNING->idle but requeue with the
     * queue reference we hold; otherwise that reference is dropped. */
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        uint64_t ns = s & ~ST_RUNNING;
        if (!(s & ST_NOTIFIED))
            ns -= ST_REF_ONE;
        /* Release: the poll's writes are visible to the next poller. The
         * queue reference cannot be the last one (the registry holds one). */
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, ns, memory_order_acq_rel,
                                                  memory_order_relaxed))
            break;
    }
    if (s & ST_NOTIFIED)
        sched_schedule(t->sched, t);
}

/* ---- the task waker ------------------------------------------------------- */

static const void *tw_clone(const void *d)
{
    task_ref_inc((corio_task *)d);
    return d;
}
static void tw_wake(const void *d)
{
    task_wake_by_val((corio_task *)d);
}
static void tw_wake_by_ref(const void *d)
{
    task_wake_by_ref((corio_task *)d);
}
static void tw_drop(const void *d)
{
    task_ref_dec((corio_task *)d);
}

const corio_waker_vtable task_waker_vtable = {tw_clone, tw_wake, tw_wake_by_ref, tw_drop};

/* ---- join handles ---------------------------------------------------------- */

void corio_task_release(corio_task *t)
{
    if (!t)
        return;
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        uint64_t ns = s & ~ST_JOIN_INTEREST;
        if (!(s & ST_COMPLETE))
            ns &= ~ST_JOIN_WAKER; /* take the waker slot back, to drop it now */
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, ns, memory_order_acq_rel,
                                                  memory_order_relaxed))
            break;
    }
    if (!(s & ST_COMPLETE) && (s & ST_JOIN_WAKER))
        corio_waker_drop(&t->join_waker);
    task_ref_dec(t);
}

void corio_task_abort(corio_task *t)
{
    if (t)
        task_cancel(t);
}

bool corio_task_is_finished(const corio_task *t)
{
    return task_is_complete(t);
}

uint64_t corio_task_id(const corio_task *t)
{
    return t->id;
}

const char *corio_task_name(const corio_task *t)
{
    return (t->flags & TF_NAMED) ? ((const task_named *)(const void *)t->site)->name : NULL;
}

const corio_spawn_site *corio_task_site(const corio_task *t)
{
    return t->site;
}

/* Poll for completion, installing `waker` for the task side to wake. */
static corio_poll join_poll(corio_task *t, const corio_waker *waker)
{
    uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    if (s & ST_COMPLETE)
        return CORIO_READY;
    if (s & ST_JOIN_WAKER) {
        if (corio_waker_will_wake(&t->join_waker, waker))
            return CORIO_PENDING;
        /* Take the slot back to replace the waker; fails if completed. */
        for (;;) {
            if (s & ST_COMPLETE)
                return CORIO_READY;
            if (atomic_compare_exchange_weak_explicit(&t->state, &s, s & ~ST_JOIN_WAKER,
                                                      memory_order_acquire, memory_order_acquire))
                break;
        }
        corio_waker_drop(&t->join_waker);
    }
    t->join_waker = corio_waker_clone(waker);
    s = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        if (s & ST_COMPLETE) {
            /* Completed before the waker was published: we still own it. */
            corio_waker_drop(&t->join_waker);
            /* Acquire: the completer's result, published with COMPLETE. */
            (void)atomic_load_explicit(&t->state, memory_order_acquire);
            return CORIO_READY;
        }
        /* Release: the waker written above is visible to the completer. */
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, s | ST_JOIN_WAKER,
                                                  memory_order_release, memory_order_relaxed))
            return CORIO_PENDING;
    }
}

static int join_outcome(corio_task *t, int *value)
{
    *value = t->result;
    return (t->flags & TF_CANCEL_SEEN) ? CORIO_ECANCELED : 0;
}

static corio_poll join_fut_poll(corio_future *f, corio_context *cx)
{
    corio_join_fut *jf = (corio_join_fut *)f;
    if (join_poll(jf->task, cx->waker) == CORIO_PENDING)
        return CORIO_PENDING;
    f->result = join_outcome(jf->task, &jf->value);
    return CORIO_READY;
}

static const corio_future_vtable join_fut_vtable = {join_fut_poll, NULL};

void corio_join_fut_init(corio_join_fut *f, corio_task *t)
{
    corio_future_init(&f->base, &join_fut_vtable);
    f->task = t;
    f->value = 0;
}

int task_join_finished(corio_task *t, int *value)
{
    int rc = join_outcome(t, value);
    corio_task_release(t);
    return rc;
}

int corio_task_join(corio_task *t, int *result)
{
    if (!t)
        return -EINVAL;
    corio_join_fut jf;
    corio_join_fut_init(&jf, t);
    int rc = worker_current() ? corio_await(&jf.base) : block_on_parked(&jf.base);
    if (rc == 0 || task_is_complete(t)) {
        if (result)
            *result = jf.value;
    }
    corio_task_release(t);
    return rc;
}
