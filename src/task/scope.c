/* task/scope.c - structured concurrency: corio_scope_run and its children
 * (corio/scope.h).
 *
 * The scope is a struct on corio_scope_run's stack. Each child has a node
 * (its handle, where its result goes) on the scope's list, and runs
 * wrapped: a coroutine child runs child_main, which calls the user's
 * function and then reports; a stackless child's future is wrapped in a
 * scope_fut, whose poll and drop report. Reporting (child_done) writes the
 * result, fails the scope on a negative one (cancelling the siblings
 * before the child counts as finished, so the scope is still there), then
 * counts the child out under the lock and takes the joiner's waker if it
 * was the last. That decrement is the child's last touch of the scope or
 * its node: the joiner sees live == 0 only under the same lock, so by the
 * time it frees the nodes and returns (the scope's memory goes with its
 * frame) no child is inside the lock any more.
 *
 * A child that never runs its function (a coroutine that could get no
 * stack) cannot report itself: each child's join waker is a waker of its
 * node, which reports it when its task completes (see node_finished).
 *
 * Invariants (all under `lock` but cancel_code, which is also read without
 * it by the body's interruption hook):
 *  - `live` counts children spawned (or being spawned) and not reported;
 *  - nodes are only ever pushed on `children`, never removed before the
 *    scope returns, so a walk from a snapshot of the head needs no lock;
 *  - cancel_code goes from 0 to a code once; a spawn checks it under the
 *    lock, and after pushing its node checks it again, so every child is
 *    either in the canceller's snapshot or aborted by its own spawner;
 *  - `closed` is set once the final join saw live == 0: no task of the
 *    scope is left, so only a stale pointer could spawn after it.
 * The joins are shielded (core/coro.h): an owner that is cancelled does
 * not stop waiting; its join cancels the scope instead and waits on.
 */
#include "corio/scope.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "arch/spin.h"
#include "core/coro.h"
#include "core/worker.h"
#include "corio/error.h"
#include "corio/runtime.h"
#include "rt/parker.h"

typedef struct scope_child {
    struct scope_child *next;
    corio_scope *scope;
    corio_task *task; /* the handle; set by the spawner before it is listed */
    int *result;
    corio_fn fn; /* coroutine children */
    void *arg;
    _Atomic unsigned refs; /* the scope's, and each clone of the node's waker */
    _Atomic bool reported; /* child_done ran */
} scope_child;

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(scope_child) == 56, "corio/scope.h gives the node's size");
#endif

struct corio_scope {
    spinlock lock;
    _Atomic int cancel_code; /* 0, or what the body's awaits return once cancelled */
    int status;              /* the first failure (what corio_scope_run returns) */
    size_t live;
    scope_child *children;
    corio_waker join_waker; /* the waiting join's, taken by the last child */
    bool final;             /* the body has returned */
    bool closed;            /* the final join is over */
    bool owner_interrupted; /* the owner's own cancellation cancelled it (owner only) */
    corio_task *owner;      /* NULL in plain code */
    corio_waker owner_wk;   /* a reference to the owner, to interrupt its body */
    corio_rt *rt;           /* children's runtime (the scope's) */
    coro_scope body_sc;     /* the body's interruption scope */
};

/* ---- cancellation ------------------------------------------------------------ */

/* Cancel the scope: `status` becomes its result unless one was set,
 * `code` what the body's awaits return. True when this call cancelled it. */
static bool scope_cancel(corio_scope *s, int status, int code)
{
    spin_lock(&s->lock);
    if (atomic_load_explicit(&s->cancel_code, memory_order_relaxed)) {
        spin_unlock(&s->lock);
        return false;
    }
    if (!s->status)
        s->status = status;
    /* Relaxed: the body's hook acts on the flag alone; what it needs of
     * the scope besides (nothing) would come through the lock. */
    atomic_store_explicit(&s->cancel_code, code, memory_order_relaxed);
    scope_child *head = s->children;
    spin_unlock(&s->lock);
    /* Outside the lock (an abort may take scheduler locks and wake); the
     * nodes from `head` on stay listed until the scope returns, and their
     * handles stay held until then. */
    for (scope_child *n = head; n; n = n->next)
        corio_task_abort(n->task);
    /* Interrupt the body's pending await (no need when the body is the
     * canceller: it sees the flag at its next await). */
    if (s->owner && corio_task_current() != s->owner)
        corio_waker_wake_by_ref(&s->owner_wk);
    return true;
}

/* The body's interruption hook: ended once the scope is cancelled. */
static bool body_ended(coro_scope *sc)
{
    corio_scope *s = (corio_scope *)(void *)((char *)sc - offsetof(corio_scope, body_sc));
    int code = atomic_load_explicit(&s->cancel_code, memory_order_relaxed);
    if (!code)
        return false;
    sc->code = code;
    return true;
}

/* ---- children ---------------------------------------------------------------- */

/* Child n finished with result r: deliver it, fail the scope if r < 0,
 * count the child out. Its last touch of the scope and of n. */
static void child_done(scope_child *n, int r)
{
    /* Once: the child's own report and the safety net below may both come
     * (acq_rel: the loser sees the winner's writes; it only returns). */
    if (atomic_exchange_explicit(&n->reported, true, memory_order_acq_rel))
        return;
    corio_scope *s = n->scope;
    if (n->result)
        *n->result = r; /* published to the joiner by the unlock below */
    if (r < 0)
        scope_cancel(s, r, CORIO_ECANCELED); /* nothing if already cancelled */
    corio_waker w = CORIO_WAKER_NONE;
    spin_lock(&s->lock);
    if (--s->live == 0) {
        w = s->join_waker;
        s->join_waker = CORIO_WAKER_NONE;
    }
    spin_unlock(&s->lock);
    corio_waker_wake(&w); /* consumes it; the empty waker does nothing */
}

static int child_main(void *p)
{
    scope_child *n = p;
    int r = n->fn(n->arg);
    child_done(n, r);
    return r;
}

/* A stackless child: the user's future, copied after this header. */
typedef struct scope_fut {
    corio_future base;
    scope_child *node;
    bool done;
    alignas(16) unsigned char inner[];
} scope_fut;

static corio_poll scope_fut_poll(corio_future *f, corio_context *cx)
{
    scope_fut *sf = (scope_fut *)f;
    corio_future *in = (corio_future *)(void *)sf->inner;
    if (in->vtable->poll(in, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    sf->done = true;
    f->result = in->result;
    child_done(sf->node, in->result);
    return CORIO_READY;
}

static void scope_fut_drop(corio_future *f)
{
    scope_fut *sf = (scope_fut *)f;
    if (sf->done)
        return;
    sf->done = true;
    corio_future_drop((corio_future *)(void *)sf->inner);
    f->result = CORIO_ECANCELED;
    child_done(sf->node, CORIO_ECANCELED);
}

static const corio_future_vtable scope_fut_vtable = {scope_fut_poll, scope_fut_drop};

/* The safety net: each child's join waker is its node's, so a child that
 * finished without reporting is reported when its task completes. Only a
 * coroutine that never ran can do that (no stack could be had: its result
 * is -ENOMEM); any other child reported before its task completed, so the
 * wake finds it reported and does nothing. The task keeps its join waker
 * until it is freed, which may be after the scope returned: the node is
 * reference-counted, and a wake of a reported node touches nothing else. */

static void node_unref(scope_child *n)
{
    /* Acq_rel: whoever frees sees every write made under other refs. */
    if (atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) == 1)
        free(n);
}

/* The task of n has completed: report it if it did not itself. */
static void node_finished(scope_child *n)
{
    /* Acquire: pairs with child_done's exchange (program order before the
     * task's completion, which the waker's caller has seen). */
    if (atomic_load_explicit(&n->reported, memory_order_acquire))
        return;
    corio_join_fut jf;
    corio_join_fut_init(&jf, n->task);
    corio_waker none = corio_waker_noop();
    corio_context cx = {&none};
    if (corio_future_poll(&jf.base, &cx) == CORIO_READY) /* always: it completed */
        child_done(n, jf.base.result == CORIO_ECANCELED ? CORIO_ECANCELED : jf.value);
}

static const void *nw_clone(const void *d)
{
    /* Relaxed: made from a reference the caller holds. */
    atomic_fetch_add_explicit(&((scope_child *)d)->refs, 1, memory_order_relaxed);
    return d;
}
static void nw_wake_by_ref(const void *d)
{
    node_finished((scope_child *)d);
}
static void nw_wake(const void *d)
{
    node_finished((scope_child *)d);
    node_unref((scope_child *)d);
}
static void nw_drop(const void *d)
{
    node_unref((scope_child *)d);
}

static const corio_waker_vtable node_waker_vtable = {nw_clone, nw_wake, nw_wake_by_ref, nw_drop};

/* The body spawning after its owner was interrupted from outside (the
 * owner's task aborted, an enclosing deadline scope passed), which the
 * body's awaits report but which cancels the scope only at its join
 * otherwise: cancel the scope now with that code and return it, as a
 * spawn into a cancelled scope does. 0 when not interrupted, or not called
 * by the owner (a child sees its own interruption at its own awaits). */
static int owner_interrupted_now(corio_scope *s)
{
    if (!s->owner || corio_task_current() != s->owner)
        return 0;
    int why = coro_await_enter();
    if (why >= 0 || why == CORIO_EWRONGCTX)
        return 0;
    scope_cancel(s, why, why);
    return why;
}

/* Reserve a place for a child: 0, or why none may be spawned. */
static int reserve(corio_scope *s)
{
    int rc = 0;
    spin_lock(&s->lock);
    int code = atomic_load_explicit(&s->cancel_code, memory_order_relaxed);
    if (s->closed)
        rc = CORIO_ECLOSED;
    else if (code)
        rc = code;
    else
        s->live++;
    spin_unlock(&s->lock);
    return rc;
}

/* The spawn failed: give the place back. */
static void unreserve(corio_scope *s)
{
    corio_waker w = CORIO_WAKER_NONE;
    spin_lock(&s->lock);
    if (--s->live == 0) {
        w = s->join_waker;
        s->join_waker = CORIO_WAKER_NONE;
    }
    spin_unlock(&s->lock);
    corio_waker_wake(&w);
}

/* The child of node n was spawned: list it (abort it if the scope was
 * cancelled meanwhile, which the canceller's snapshot may have missed). */
static void list_child(corio_scope *s, scope_child *n)
{
    spin_lock(&s->lock);
    n->next = s->children;
    s->children = n;
    int code = atomic_load_explicit(&s->cancel_code, memory_order_relaxed);
    spin_unlock(&s->lock);
    if (code)
        corio_task_abort(n->task);
    /* Install the safety net (it finds the task done at once if it is). */
    corio_join_fut jf;
    corio_join_fut_init(&jf, n->task);
    corio_waker nw = {&node_waker_vtable, n};
    corio_context cx = {&nw};
    if (corio_future_poll(&jf.base, &cx) == CORIO_READY)
        node_finished(n);
}

/* A new node for scope s (its one reference is the scope's). */
static scope_child *node_new(corio_scope *s, int *result, corio_fn fn, void *arg)
{
    scope_child *n = malloc(sizeof *n);
    if (!n)
        return NULL;
    n->next = NULL;
    n->scope = s;
    n->task = NULL;
    n->result = result;
    n->fn = fn;
    n->arg = arg;
    atomic_init(&n->refs, 1);
    atomic_init(&n->reported, false);
    return n;
}

/* The options a child is spawned with: the scope's runtime by default. */
static const corio_spawn_opts *child_opts(corio_scope *s, const corio_spawn_opts *opts,
                                          corio_spawn_opts *buf)
{
    if (!s->rt || (opts && opts->rt))
        return opts;
    if (opts)
        *buf = *opts;
    else
        memset(buf, 0, sizeof *buf);
    buf->rt = s->rt;
    return buf;
}

int corio_scope_spawn_ex(corio_scope *scope, const corio_spawn_opts *opts,
                         const corio_spawn_site *site, corio_fn fn, void *arg, int *result)
{
    if (!scope || !fn)
        return -EINVAL;
    int why = owner_interrupted_now(scope);
    if (why < 0)
        return why;
    scope_child *n = node_new(scope, result, fn, arg);
    if (!n)
        return -ENOMEM;
    int rc = reserve(scope);
    if (rc < 0) {
        free(n);
        return rc;
    }
    corio_spawn_opts buf;
    rc = corio_spawn_ex(child_opts(scope, opts, &buf), site, child_main, n, &n->task);
    if (rc < 0) {
        unreserve(scope);
        free(n);
        return rc;
    }
    list_child(scope, n);
    return 0;
}

int corio_scope_spawn_future_ex(corio_scope *scope, const corio_spawn_opts *opts,
                                const corio_spawn_site *site, const corio_future *fut,
                                size_t size, int *result)
{
    if (!scope || !fut || size < sizeof(corio_future) || !fut->vtable || !fut->vtable->poll)
        return -EINVAL;
    if (size > SIZE_MAX / 2)
        return -ENOMEM;
    int why = owner_interrupted_now(scope);
    if (why < 0)
        return why;
    size_t total = sizeof(scope_fut) + size;
    scope_fut *sf = malloc(total); /* copied into the task by the spawn */
    scope_child *n = node_new(scope, result, NULL, NULL);
    if (!sf || !n) {
        free(sf);
        free(n);
        return -ENOMEM;
    }
    int rc = reserve(scope);
    if (rc < 0) {
        free(sf);
        free(n);
        return rc;
    }
    corio_future_init(&sf->base, &scope_fut_vtable);
    sf->node = n;
    sf->done = false;
    memcpy(sf->inner, fut, size);
    corio_spawn_opts buf;
    rc = corio_spawn_future_ex(child_opts(scope, opts, &buf), site, &sf->base, total, &n->task);
    free(sf);
    if (rc < 0) {
        unreserve(scope);
        free(n);
        return rc;
    }
    list_child(scope, n);
    return 0;
}

/* ---- joining ------------------------------------------------------------------- */

typedef struct scope_join_fut {
    corio_future base;
    corio_scope *s;
    coro_scope *shield; /* the owner's shield; NULL in plain code */
} scope_join_fut;

/* Every child finished? Then the final join closes the scope. Under lock. */
static bool all_done_locked(corio_scope *s)
{
    if (s->live)
        return false;
    if (s->final)
        s->closed = true;
    return true;
}

static corio_poll scope_join_poll(corio_future *f, corio_context *cx)
{
    scope_join_fut *jf = (scope_join_fut *)f;
    corio_scope *s = jf->s;
    spin_lock(&s->lock);
    bool done = all_done_locked(s);
    spin_unlock(&s->lock);
    if (done)
        return CORIO_READY;
    /* The interruptions the shield holds back (the owner cancelled, an
     * enclosing deadline, this scope's own cancellation as the body sees
     * it) cancel the children instead; the wait goes on. */
    if (jf->shield) {
        int why = coro_shield_held_back(jf->shield);
        if (why && scope_cancel(s, why, why))
            s->owner_interrupted = true;
    }
    spin_lock(&s->lock);
    done = all_done_locked(s);
    if (!done && !corio_waker_will_wake(&s->join_waker, cx->waker)) {
        corio_waker old = s->join_waker;
        s->join_waker = corio_waker_clone(cx->waker);
        spin_unlock(&s->lock);
        corio_waker_drop(&old);
        return CORIO_PENDING;
    }
    spin_unlock(&s->lock);
    return done ? CORIO_READY : CORIO_PENDING;
}

static const corio_future_vtable scope_join_vtable = {scope_join_poll, NULL};

/* Wait, shielded, until every child has finished. */
static void scope_wait(corio_scope *s)
{
    scope_join_fut jf;
    corio_future_init(&jf.base, &scope_join_vtable);
    jf.s = s;
    jf.shield = NULL;
    if (s->owner) {
        coro_scope sh;
        (void)coro_shield_enter(&sh); /* the owner is a coroutine */
        jf.shield = &sh;
        int rc = corio_await(&jf.base); /* 0: nothing reaches into a shield */
        (void)rc;
        coro_shield_exit(&sh);
    } else {
        while (block_on_parked(&jf.base) < 0) /* -ENOMEM: no parker yet */
            sched_yield();
    }
    /* Ready: a waker the last child did not take is ours to drop. */
    spin_lock(&s->lock);
    corio_waker w = s->join_waker;
    s->join_waker = CORIO_WAKER_NONE;
    spin_unlock(&s->lock);
    corio_waker_drop(&w);
}

int corio_scope_join(corio_scope *scope)
{
    if (!scope)
        return -EINVAL;
    worker *w = worker_current();
    corio_task *cur = w ? w->current : NULL;
    if (w && !w->coro)
        return CORIO_EWRONGCTX;
    if (cur != scope->owner)
        return -EDEADLK;
    scope_wait(scope);
    spin_lock(&scope->lock);
    int rc = scope->status;
    spin_unlock(&scope->lock);
    return rc;
}

/* ---- running --------------------------------------------------------------------- */

int corio_scope_run_with(const corio_scope_opts *opts, corio_scope_fn body, void *arg,
                         int *result)
{
    if (result)
        *result = 0; /* the body's return value replaces it once it runs */
    if (!body)
        return -EINVAL;
    worker *w = worker_current();
    corio_task *cur = w ? w->current : NULL;
    if (w && !w->coro)
        return CORIO_EWRONGCTX;
    if (!cur && !(opts && opts->rt) && !worker_handle())
        return CORIO_EWRONGCTX;

    corio_scope s;
    spin_init(&s.lock);
    atomic_init(&s.cancel_code, 0);
    s.status = 0;
    s.live = 0;
    s.children = NULL;
    s.join_waker = CORIO_WAKER_NONE;
    s.final = s.closed = s.owner_interrupted = false;
    s.owner = cur;
    s.owner_wk = CORIO_WAKER_NONE;
    /* The children's runtime: opts->rt, else the one the scope runs in (a
     * child spawned by a plain thread or by a task of another runtime goes
     * there too, not to the spawner's runtime or nowhere). */
    s.rt = opts && opts->rt ? opts->rt : corio_rt_current();
    if (cur) {
        s.body_sc.ended = body_ended;
        s.body_sc.code = CORIO_ECANCELED;
        int rc = coro_scope_enter(&s.body_sc);
        if (rc < 0)
            return rc; /* already interrupted: nothing pushed, body not called */
        corio_waker bw = task_waker_borrowed(cur);
        s.owner_wk = corio_waker_clone(&bw);
    }

    int r = body(&s, arg);
    if (result)
        *result = r;
    if (r < 0)
        scope_cancel(&s, r, CORIO_ECANCELED);
    if (cur)
        (void)coro_scope_exit(&s.body_sc); /* what it says is in s.status */
    spin_lock(&s.lock);
    s.final = true;
    spin_unlock(&s.lock);

    scope_wait(&s);

    /* Every child has reported: the handles can go, and the nodes. */
    for (scope_child *n = s.children, *next; n; n = next) {
        next = n->next;
        corio_task_release(n->task);
        node_unref(n); /* the task may still hold its waker's */
    }
    corio_waker_drop(&s.owner_wk);
    if (s.owner_interrupted)
        (void)coro_await_enter(); /* deliver what the shield held back */
    return s.status;
}

int corio_scope_run(corio_scope_fn body, void *arg, int *result)
{
    return corio_scope_run_with(NULL, body, arg, result);
}

/* ---- queries and cancel ------------------------------------------------------------ */

void corio_scope_cancel(corio_scope *scope)
{
    if (scope)
        scope_cancel(scope, CORIO_ECANCELED, CORIO_ECANCELED);
}

bool corio_scope_is_cancelled(const corio_scope *scope)
{
    return scope && atomic_load_explicit(&((corio_scope *)scope)->cancel_code,
                                         memory_order_relaxed) != 0;
}
