/* task/join_set.c - JoinSet: tasks joined in the order they finish
 * (corio/join_set.h).
 *
 * Each task of the set has an entry: its join handle, its id, and a slot
 * of the set's wakeset (task/wakeset.h), whose waker is the task's join
 * waker. When the task completes it pushes its slot on the ready stack;
 * join_next drains the stack into the set's own FIFO of ready entries and
 * polls their join futures, so it never looks at the tasks that are still
 * running.
 *
 * Entries live in blocks owned by the wakeset's core and are reused, never
 * freed before the core: a task wakes its join waker after publishing
 * COMPLETE, so a wake may come after join_next took the task out and the
 * entry went back to the free list, or on to a new task. Such a late wake
 * makes join_next poll a free entry (skipped) or the new task's join
 * (pending: a spurious poll). Harmless either way.
 *
 * Freeing waits for the aborted tasks inside a shield (core/coro.h), so
 * a cancelled owner's free waits too: the tasks' cleanup has run when it
 * returns, wherever the owner was interrupted.
 *
 * Lists (the set is used by one thread at a time; see the header):
 *  - live: doubly linked, every entry holding a task (abort_all, free);
 *  - free: entries without a task, through `next`;
 *  - ready (rhead..rtail): entries drained from the stack or found
 *    finished at spawn, through ws.next, oldest first. An entry is on the
 *    stack or on this list (never both, at most once) exactly while its
 *    slot is queued (wakeset.h), whether it holds a task or not.
 */
#include "corio/join_set.h"

#include <stdlib.h>

#include "core/coro.h"
#include "core/worker.h"
#include "corio/error.h"
#include "rt/parker.h"
#include "task/wakeset.h"

#define BLOCK_ENTRIES 32

typedef struct js_entry {
    ws_slot ws;
    corio_task *task; /* NULL: free */
    uint64_t id;
    struct js_entry *prev, *next; /* live list; free list (next) */
} js_entry;

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(js_entry) == 56, "join set entry grew (corio/join_set.h gives its size)");
_Static_assert(sizeof(corio_join_set_join_next_fut) == 40, "corio/join_set.h gives its size");
#endif

struct corio_join_set {
    ws_core *core;
    js_entry *live;
    js_entry *free;
    js_entry *rhead, *rtail;
    size_t len;
};

int corio_join_set_new(corio_join_set **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL; /* on every failure (docs/conventions.md) */
    corio_join_set *s = malloc(sizeof *s);
    if (!s)
        return -ENOMEM;
    s->core = ws_new(0);
    if (!s->core) {
        free(s);
        return -ENOMEM;
    }
    s->live = s->free = s->rhead = s->rtail = NULL;
    s->len = 0;
    *out = s;
    return 0;
}

/* ---- entries --------------------------------------------------------------------- */

static js_entry *entry_get(corio_join_set *s)
{
    if (!s->free) {
        js_entry *blk = ws_add_chunk(s->core, BLOCK_ENTRIES * sizeof(js_entry));
        if (!blk)
            return NULL;
        for (size_t i = 0; i < BLOCK_ENTRIES; i++) {
            ws_slot_init(&blk[i].ws, s->core);
            blk[i].task = NULL;
            blk[i].next = i + 1 < BLOCK_ENTRIES ? &blk[i + 1] : NULL;
        }
        s->free = blk;
    }
    js_entry *e = s->free;
    s->free = e->next;
    return e;
}

static void entry_put(corio_join_set *s, js_entry *e)
{
    e->task = NULL;
    e->next = s->free;
    s->free = e;
}

/* Take a live entry out of the set (its handle already given back). */
static void unlink_live(corio_join_set *s, js_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        s->live = e->next;
    if (e->next)
        e->next->prev = e->prev;
    s->len--;
    entry_put(s, e);
}

/* Append a chain (through ws.next, NULL-terminated) to the ready list. */
static void ready_append(corio_join_set *s, ws_slot *chain)
{
    if (s->rtail)
        s->rtail->ws.next = chain;
    else
        s->rhead = (js_entry *)chain;
    ws_slot *last = chain;
    while (last->next)
        last = last->next;
    s->rtail = (js_entry *)last;
}

/* The owner found entry e's task finished: queue it as a wake would, but
 * on the ready list directly (no wake of the owner, which is running). */
static void ready_local(corio_join_set *s, js_entry *e)
{
    /* Acq_rel, as ws_notify: already queued means it is on the stack or
     * the list already, and will be polled. */
    if (atomic_exchange_explicit(&e->ws.queued, 1, memory_order_acq_rel))
        return;
    e->ws.next = NULL;
    ready_append(s, &e->ws);
}

/* Poll entry e's join with its own waker. */
static corio_poll poll_entry(js_entry *e, corio_join_fut *jf)
{
    /* The calling task is in the set (a late wake of a former task of its
     * entry brought it here): it cannot have finished while it runs this,
     * and its join future would answer -EDEADLK (corio/task.h), not
     * pending. Its join waker stays as add() installed it. */
    if (__builtin_expect(e->task == corio_task_current(), 0))
        return CORIO_PENDING;
    corio_waker w = ws_slot_waker(&e->ws);
    corio_context cx = {&w};
    corio_join_fut_init(jf, e->task);
    return corio_future_poll(&jf->base, &cx);
}

/* A task was spawned into entry e: keep it, and install its join waker
 * (or find it finished already). */
static void add(corio_join_set *s, js_entry *e, corio_task *t, uint64_t *id)
{
    e->task = t;
    e->id = corio_task_id(t);
    e->prev = NULL;
    e->next = s->live;
    if (s->live)
        s->live->prev = e;
    s->live = e;
    s->len++;
    if (id)
        *id = e->id;
    corio_join_fut jf;
    if (poll_entry(e, &jf) == CORIO_READY)
        ready_local(s, e);
}

/* The next finished task, if any: true with its result and id, taken out
 * of the set and its handle given back. */
static bool take_ready(corio_join_set *s, int *value, uint64_t *id)
{
    for (;;) {
        if (!s->rhead) {
            ws_slot *chain = ws_drain(s->core);
            if (!chain)
                return false;
            ready_append(s, chain);
        }
        js_entry *e = s->rhead;
        s->rhead = (js_entry *)e->ws.next;
        if (!s->rhead)
            s->rtail = NULL;
        ws_slot_take(&e->ws);
        if (!e->task)
            continue; /* a late wake for a task joined already */
        corio_join_fut jf;
        if (poll_entry(e, &jf) == CORIO_PENDING)
            continue; /* a late wake of a former task of this entry */
        *value = jf.base.result == CORIO_ECANCELED ? CORIO_ECANCELED : jf.value;
        *id = e->id;
        corio_task_release(e->task);
        unlink_live(s, e);
        return true;
    }
}

/* ---- spawning ------------------------------------------------------------------- */

int corio_join_set_spawn_ex(corio_join_set *set, const corio_spawn_opts *opts,
                            const corio_spawn_site *site, corio_fn fn, void *arg, uint64_t *id)
{
    if (!set)
        return -EINVAL;
    js_entry *e = entry_get(set);
    if (!e)
        return -ENOMEM;
    corio_task *t;
    int rc = corio_spawn_ex(opts, site, fn, arg, &t);
    if (rc < 0) {
        entry_put(set, e);
        return rc;
    }
    add(set, e, t, id);
    return 0;
}

int corio_join_set_spawn_future_ex(corio_join_set *set, const corio_spawn_opts *opts,
                                   const corio_spawn_site *site, const corio_future *fut,
                                   size_t size, uint64_t *id)
{
    if (!set)
        return -EINVAL;
    js_entry *e = entry_get(set);
    if (!e)
        return -ENOMEM;
    corio_task *t;
    int rc = corio_spawn_future_ex(opts, site, fut, size, &t);
    if (rc < 0) {
        entry_put(set, e);
        return rc;
    }
    add(set, e, t, id);
    return 0;
}

/* ---- joining ---------------------------------------------------------------------- */

static corio_poll next_poll(corio_future *base, corio_context *cx)
{
    corio_join_set_join_next_fut *f = (corio_join_set_join_next_fut *)base;
    corio_join_set *s = f->set;
    if (!s) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    if (s->len == 0) {
        base->result = -ECHILD;
        return CORIO_READY;
    }
    /* Before draining: see task/wakeset.h. */
    ws_set_owner(s->core, corio_context_waker(cx));
    if (!take_ready(s, &f->value, &f->id)) {
        /* Nothing finished, and the one task left is the caller: it would
         * wait for its own end (corio_task_join's -EDEADLK). */
        if (s->len == 1 && s->live->task == corio_task_current()) {
            base->result = -EDEADLK;
            return CORIO_READY;
        }
        return CORIO_PENDING;
    }
    base->result = 0;
    return CORIO_READY;
}

/* Joined nothing; give back the waker it left for the tasks to wake. */
static void next_drop(corio_future *base)
{
    corio_join_set *s = ((corio_join_set_join_next_fut *)base)->set;
    if (!s)
        return;
    spin_lock(&s->core->lock);
    corio_waker w = s->core->owner;
    s->core->owner = CORIO_WAKER_NONE;
    spin_unlock(&s->core->lock);
    corio_waker_drop(&w);
}

static const corio_future_vtable next_vtable = {next_poll, next_drop};

void corio_join_set_join_next_fut_init(corio_join_set_join_next_fut *f, corio_join_set *set)
{
    if (!f)
        return;
    corio_future_init(&f->base, &next_vtable);
    f->set = set;
    f->value = 0;
    f->id = 0;
}

/* Whether the caller may wait: a coroutine task or plain code (0), else
 * CORIO_EWRONGCTX. *in_task: a coroutine task. */
static int wait_ctx(bool *in_task)
{
    worker *w = worker_current();
    *in_task = w != NULL;
    if (w && !w->coro)
        return CORIO_EWRONGCTX;
    return 0;
}

int corio_join_set_join_next(corio_join_set *set, int *result, uint64_t *id)
{
    if (!set)
        return -EINVAL;
    bool in_task;
    int rc = wait_ctx(&in_task);
    if (rc < 0)
        return rc;
    if (set->len == 0)
        return -ECHILD;
    corio_join_set_join_next_fut f;
    corio_join_set_join_next_fut_init(&f, set);
    rc = in_task ? corio_await(&f.base) : block_on_parked(&f.base);
    if (rc < 0)
        return rc; /* interrupted: f was dropped, nothing joined */
    if (f.base.result == 0) {
        if (result)
            *result = f.value;
        if (id)
            *id = f.id;
    }
    return f.base.result;
}

int corio_join_set_try_join_next(corio_join_set *set, int *result, uint64_t *id)
{
    if (!set)
        return -EINVAL;
    if (set->len == 0)
        return -ECHILD;
    int v;
    uint64_t i;
    if (!take_ready(set, &v, &i))
        return -EAGAIN;
    if (result)
        *result = v;
    if (id)
        *id = i;
    return 0;
}

/* ---- aborting, detaching, shutting down ------------------------------------------ */

void corio_join_set_abort_all(corio_join_set *set)
{
    if (!set)
        return;
    for (js_entry *e = set->live; e; e = e->next)
        corio_task_abort(e->task);
}

void corio_join_set_detach_all(corio_join_set *set)
{
    if (!set)
        return;
    while (set->live) {
        js_entry *e = set->live;
        corio_task_release(e->task); /* takes its join waker back, if still set */
        unlink_live(set, e);
    }
}

int corio_join_set_shutdown(corio_join_set *set)
{
    if (!set)
        return -EINVAL;
    corio_join_set_abort_all(set);
    for (;;) {
        int rc = corio_join_set_join_next(set, NULL, NULL);
        if (rc == -ECHILD)
            return 0;
        if (rc < 0)
            return rc;
    }
}

void corio_join_set_free(corio_join_set *set)
{
    if (!set)
        return;
    /* Freed by one of its own tasks: that task cannot wait for itself (the
     * shielded wait below would never end). It is aborted as the others
     * are (its next await returns CORIO_ECANCELED) and detached first. */
    corio_task *self = corio_task_current();
    for (js_entry *e = self ? set->live : NULL; e; e = e->next) {
        if (corio_task_id(e->task) == corio_task_id(self)) {
            corio_task_abort(e->task);
            corio_task_release(e->task);
            unlink_live(set, e);
            break;
        }
    }
    if (set->len) {
        /* Aborts, then waits. A coroutine waits shielded (core/coro.h):
         * cancelled, or past its deadline, it still waits for the cleanup
         * of the tasks it has just aborted, which bounds the wait; what the
         * shield held back reaches its next await. Only a poll function,
         * which cannot wait, leaves the rest aborted, to finish alone. */
        coro_scope sh;
        bool shielded = coro_shield_enter(&sh) == 0;
        int rc = corio_join_set_shutdown(set);
        if (shielded)
            coro_shield_exit(&sh);
        if (rc < 0) {
            corio_join_set_abort_all(set);
            corio_join_set_detach_all(set);
        }
    }
    /* Entries left on the ready list or the stack are in the core's
     * blocks: they go with it, after the last late wake. */
    ws_close(set->core);
    free(set);
}

/* ---- queries --------------------------------------------------------------------- */

size_t corio_join_set_len(const corio_join_set *set)
{
    return set ? set->len : 0;
}

bool corio_join_set_is_empty(const corio_join_set *set)
{
    return set && set->len == 0; /* NULL: false, as every query of NULL */
}
