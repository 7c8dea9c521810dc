/* core/task.c - the task lifecycle: init, poll, wake, cancel, complete,
 * references, the task waker, join handles and the join future.
 *
 * Every change of the state word goes through core/state.h; this file only
 * acts on the outcomes. The scheduler is reached through t->sched->vt
 * (core/sched.h). Joining from plain code blocks a thread, which is the
 * runtime layer's business: corio_task_join lives in rt/block_on.c, on top
 * of the join future defined here.
 */
#include "core/task.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sched.h"
#include "core/taskmem.h"
#include "core/worker.h"
#include "corio/error.h"

#if UINTPTR_MAX == UINT64_MAX
/* The per-task cost is part of the contract (docs/runtime.md). */
_Static_assert(sizeof(corio_task) == 80, "task header grew");
#endif

static _Atomic uint64_t next_task_id = 1;

/* Ids are handed out to each thread in blocks (TASK_ID_BLOCK, task.h), so
 * a spawn costs no atomic read-modify-write on a line that every spawning
 * thread shares. */
static __thread uint64_t id_next, id_end;

__attribute__((noinline)) uint64_t task_next_id(void)
{
    if (id_next == id_end) {
        /* Relaxed: ids only need to be unique, not ordered with anything. */
        id_next = atomic_fetch_add_explicit(&next_task_id, TASK_ID_BLOCK, memory_order_relaxed);
        id_end = id_next + TASK_ID_BLOCK;
    }
    return id_next++;
}

int task_set_name(corio_task *t, const char *name)
{
    size_t n = strlen(name);
    task_named *tn = malloc(sizeof *tn + n + 1);
    if (!tn)
        return -ENOMEM;
    tn->site = t->site ? *t->site : (corio_spawn_site){"?", 0, "?"};
    memcpy(tn->name, name, n + 1);
    t->site = &tn->site;
    t->kind |= TK_NAMED;
    return 0;
}

static void task_free_now(corio_task *t)
{
    if (t->kind & TK_NAMED)
        free((task_named *)(void *)t->site);
    /* Both kinds are one block: a coroutine's stack went back when it
     * finished (a coroutine is only freed after it completed). */
    taskmem_free(t, t->mem_units == MEM_LARGE ? SIZE_MAX : (size_t)t->mem_units * 16);
}

/* ---- CORIO_DEBUG: catching handles used after they were given back ----------
 *
 * Using a handle after corio_task_join or corio_task_release is undefined:
 * the task's memory is recycled at once. With CORIO_DEBUG=1 in the
 * environment (read once, at the first task's end), a task's memory is not
 * recycled at once: its state word is set to STATE_DEAD and it waits in a
 * quarantine of the last DEBUG_QUARANTINE dead tasks, and the handle
 * functions check for that (and for a handle already given back while its
 * task still runs), and abort with a message naming the call and the task. */
#define DEBUG_QUARANTINE 65536

static _Atomic int debug_mode = -1; /* -1: not read yet */
static pthread_mutex_t quarantine_lock = PTHREAD_MUTEX_INITIALIZER;
static corio_task **quarantine;
static size_t quarantine_next;

static bool debug_on(void)
{
    int m = atomic_load_explicit(&debug_mode, memory_order_relaxed);
    if (__builtin_expect(m >= 0, 1))
        return m;
    const char *e = getenv("CORIO_DEBUG");
    m = e && *e && strcmp(e, "0") != 0;
    atomic_store_explicit(&debug_mode, m, memory_order_relaxed);
    return m;
}

static void quarantine_put(corio_task *t)
{
    /* The id survives: the message about a later misuse names it. */
    state_poison(&t->state);
    corio_task *evicted = NULL;
    pthread_mutex_lock(&quarantine_lock);
    if (!quarantine)
        quarantine = calloc(DEBUG_QUARANTINE, sizeof *quarantine);
    if (quarantine) {
        evicted = quarantine[quarantine_next];
        quarantine[quarantine_next] = t;
        quarantine_next = (quarantine_next + 1) % DEBUG_QUARANTINE;
    } else {
        evicted = t; /* no memory for a quarantine: free as usual */
    }
    pthread_mutex_unlock(&quarantine_lock);
    if (evicted)
        task_free_now(evicted);
}

void task_handle_check(const corio_task *t, const char *call, bool giving_back)
{
    if (!t || !debug_on())
        return;
    uint64_t s = atomic_load_explicit(&((corio_task *)t)->state, memory_order_acquire);
    const char *what = NULL;
    if (s == STATE_DEAD)
        what = "its task has already been freed";
    else if (giving_back && !(s & ST_JOIN_INTEREST))
        what = "it was already given back (joined or released)";
    if (!what)
        return;
    fprintf(stderr,
            "corio: %s on the handle of task %llu, but %s: using a handle after giving it back "
            "is undefined (caught because CORIO_DEBUG is set)\n",
            call, (unsigned long long)t->id, what);
    abort();
}

void task_dealloc(corio_task *t)
{
    if (t->join_waker.vtable)
        corio_waker_drop(&t->join_waker);
    if (__builtin_expect(debug_on(), 0))
        quarantine_put(t);
    else
        task_free_now(t);
}

struct sched *spawn_target(const corio_spawn_opts *opts, worker *here)
{
    if (opts && opts->rt)
        return sched_of_rt(opts->rt);
    return here ? here->sched : worker_handle();
}

int task_submit(corio_task *t, worker *here)
{
    int rc = t->sched->vt->submit(t->sched, here, t);
    if (rc < 0)
        task_dealloc(t);
    return rc;
}

void task_ref_dec(corio_task *t)
{
    if (state_ref_dec(&t->state))
        task_dealloc(t);
}

/* ---- polling --------------------------------------------------------------- */

/* ---- waking and cancelling --------------------------------------------------- */

static void task_wake_by_ref(corio_task *t)
{
    if (state_to_notified(&t->state) == NOTIFY_SUBMIT) {
        state_ref_inc(&t->state); /* the queue's */
        t->sched->vt->schedule(t->sched, t);
    }
}

static void task_wake_by_val(corio_task *t)
{
    if (state_to_notified(&t->state) == NOTIFY_SUBMIT)
        t->sched->vt->schedule(t->sched, t); /* the waker's reference goes to the queue */
    else
        task_ref_dec(t);
}

void task_cancel(corio_task *t)
{
    if (state_to_cancelled(&t->state) == NOTIFY_SUBMIT) {
        state_ref_inc(&t->state);
        t->sched->vt->schedule(t->sched, t);
    }
}

/* ---- the task waker ---------------------------------------------------------- */

static const void *tw_clone(const void *d)
{
    state_ref_inc(&((corio_task *)d)->state);
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

/* ---- join handles ------------------------------------------------------------ */

void corio_task_release(corio_task *t)
{
    if (!t)
        return;
    task_handle_check(t, "corio_task_release", true);
    uint64_t s = state_unset_join_interest(&t->state);
    if (!(s & ST_COMPLETE) && (s & ST_JOIN_WAKER))
        corio_waker_drop(&t->join_waker); /* taken back from the task side */
    task_ref_dec(t);
}

void corio_task_abort(corio_task *t)
{
    task_handle_check(t, "corio_task_abort", false);
    /* A finished task's runtime (what `sched` points to) may be gone while
     * its handle is still valid: nothing to do then. Otherwise the runtime
     * lives until the task finishes. The last access to t is the
     * cancellation itself: another thread may be joining t meanwhile and
     * give the handle back as soon as that lets it finish. */
    if (!t || task_is_complete(t))
        return;
    sched *s = t->sched;
    if (s->vt->aborted)
        s->vt->aborted(s, t); /* cancels it, its own way */
    else
        task_cancel(t);
}

bool corio_task_is_finished(const corio_task *t)
{
    task_handle_check(t, "corio_task_is_finished", false);
    return t && task_is_complete(t);
}

bool corio_task_is_cancelled(const corio_task *t)
{
    task_handle_check(t, "corio_task_is_cancelled", false);
    return t && (state_load(&t->state) & ST_CANCELLED);
}

uint64_t corio_task_id(const corio_task *t)
{
    task_handle_check(t, "corio_task_id", false);
    return t ? t->id : 0;
}

const char *corio_task_name(const corio_task *t)
{
    task_handle_check(t, "corio_task_name", false);
    if (!t || !(t->kind & TK_NAMED))
        return NULL;
    return ((const task_named *)(const void *)t->site)->name;
}

const corio_spawn_site *corio_task_site(const corio_task *t)
{
    task_handle_check(t, "corio_task_site", false);
    return t ? t->site : NULL;
}

corio_task *corio_task_current(void)
{
    worker *w = worker_current();
    return w ? w->current : NULL;
}

int task_outcome(const corio_task *t, int *value)
{
    *value = t->result;
    return (t->poll_flags & TF_CANCEL_SEEN) ? CORIO_ECANCELED : 0;
}

/* Poll for completion, installing `waker` for the task side to wake. */
static corio_poll join_poll(corio_task *t, const corio_waker *waker)
{
    uint64_t s = state_load(&t->state);
    if (s & ST_COMPLETE)
        return CORIO_READY;
    if (s & ST_JOIN_WAKER) {
        if (corio_waker_will_wake(&t->join_waker, waker))
            return CORIO_PENDING;
        if (!state_unset_join_waker(&t->state))
            return CORIO_READY;
        corio_waker_drop(&t->join_waker);
    }
    t->join_waker = corio_waker_clone(waker);
    if (state_set_join_waker(&t->state))
        return CORIO_PENDING;
    corio_waker_drop(&t->join_waker); /* completed first: still ours */
    return CORIO_READY;
}

static corio_poll join_fut_poll(corio_future *f, corio_context *cx)
{
    corio_join_fut *jf = (corio_join_fut *)f;
    if (!jf->task) {
        f->result = -EINVAL;
        return CORIO_READY;
    }
    /* Polled by the very task it joins (a handle passed to its own task):
     * that task cannot finish while it runs this poll, so the join would
     * wait for ever. Say so at once, with corio_task_join's code for the
     * same mistake, and install no waker (a running task is never
     * complete, so nothing is lost by not looking). */
    if (__builtin_expect(jf->task == corio_task_current(), 0)) {
        f->result = -EDEADLK;
        return CORIO_READY;
    }
    /* A join future borrows a handle that must still be held: one already
     * given back (joined or released) names a task that may be freed, and
     * the join would then wait for ever on its dead state word (or on the
     * task that recycled its memory). CORIO_DEBUG=1 catches it here as it
     * does in corio_task_join; this form is how corio_task_join_all and a
     * select on a task join too. */
    task_handle_check(jf->task, "corio_join_fut", true);
    if (join_poll(jf->task, cx->waker) == CORIO_PENDING)
        return CORIO_PENDING;
    f->result = task_outcome(jf->task, &jf->value);
    return CORIO_READY;
}

static const corio_future_vtable join_fut_vtable = {join_fut_poll, NULL};

void corio_join_fut_init(corio_join_fut *f, corio_task *t)
{
    if (!f)
        return;
    corio_future_init(&f->base, &join_fut_vtable);
    f->task = t;
    f->value = 0;
}
