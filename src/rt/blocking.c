/* rt/blocking.c - the blocking pool (see blocking.h).
 *
 * One mutex over everything below, and two condition variables: `work`
 * wakes an idle thread for a new job, `done` tells shutdown a thread has
 * exited. Threads are joinable: one that exits (keep-alive over, or
 * shutdown) leaves its id in `exited`, and the next submit, or the
 * shutdown, joins it, so that when the runtime's free returns no thread of
 * the pool is left, not even one on its way out (valgrind then sees no
 * thread's memory at exit). A pool abandoned past a shutdown deadline is
 * freed by its last thread (`abandoned`); its threads detach themselves.
 *
 * Counting, as tokio's pool does, so that a burst of jobs neither wakes
 * one thread twice nor starts threads that then find nothing to do:
 *   threads   live threads, counted from before pthread_create is called;
 *   idle      threads waiting on `work` that no job has claimed yet;
 *   notified  wake-ups owed: a submit that finds an idle thread moves it
 *             from `idle` to `notified` and signals; a waiting thread
 *             leaves its wait only by taking one of these (or at shutdown,
 *             or at its keep-alive timeout with none to take), so a
 *             spurious wake-up or a stolen signal cannot lose a job.
 *   starting  threads counted in `threads` that have not yet reached the
 *             queue (being created);
 *   claimed   spinners (below) claimed by a submit, not yet back at the
 *             queue;
 *   exiting   threads counted in `threads` that have left their loop for
 *             good (keep-alive over) and are on their way out (running
 *             on_thread_stop): they never come back to the queue, so they
 *             do not count against max_blocking_threads, nor as a thread
 *             that will take a queued job;
 *   aborting  jobs taken out of the queue by an abort (pool_aborted), not
 *             yet completed cancelled by the aborting thread, which is
 *             not one of the pool's: the pool is not freed before it is 0
 *             (as it is not before `threads`);
 *   spinner   whether one thread, just done with a job and finding none,
 *             is spinning for SPIN_NS before it goes idle (at most one
 *             does): a submit that finds it set clears it, and the spinner,
 *             seeing it cleared (a relaxed read outside the lock: a hint,
 *             acted on under the lock), comes for the job. Jobs that arrive
 *             every few microseconds then cost no sleep and wake-up each.
 * A job that finds no more jobs queued than threads on their way to the
 * queue (notified + starting + claimed) needs no one else; otherwise it
 * goes to the spinner, else to an idle thread, else starts a new one (below
 * the limit), else waits in the queue for a busy one to come back for it.
 * So no job waits behind a running one while a thread could take it, and a
 * burst of jobs faster than threads wake up does not start a thread for
 * each. Signals and thread
 * creation happen after the unlock: a thread woken while the lock is held
 * would only block on it again.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "rt/blocking.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/task_run.h"
#include "core/worker.h"
#include "corio/error.h"
#include "rt/queue.h"
#include "rt/runtime.h"

struct blocking_pool {
    sched s; /* first: the jobs' scheduler */
    corio_rt *rt;
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    task_queue queue; /* jobs not started yet */
    unsigned threads, idle, notified, max_threads;
    unsigned starting, claimed, exiting, aborting; /* see the top of the file */
    _Atomic bool spinner; /* written under the lock only */
    bool shutdown, abandoned;
    pthread_t *exited; /* threads gone (or going), to be joined */
    unsigned n_exited, cap_exited;
    corio_duration keep_alive;
    size_t thread_stack_size;
    void (*on_start)(void *), (*on_stop)(void *);
    void *hook_arg;
    char name_prefix[16];
};

static void *pool_thread(void *arg);
static void pool_free(blocking_pool *p);

/* Held for reading by corio_task_abort's way into a pool (pool_aborted),
 * from its look at the job (not finished) to its claim on the pool
 * (`aborting`); taken for writing, and given back at once, by pool_free
 * before the pool goes. The job may finish and the pool be shut down and
 * freed right after the abort saw it unfinished: the abort would then lock
 * a freed mutex. Every job of a pool has finished before the pool is freed,
 * so an abort that gets the lock after a pool_free sees its job finished
 * and leaves the pool alone. One lock for every pool: aborts of blocking
 * jobs and pool frees are rare. */
static pthread_rwlock_t pool_gone_lock = PTHREAD_RWLOCK_INITIALIZER;

/* ---- the jobs' scheduler (core/sched.h) --------------------------------------- */

/* Start one more thread, counted in `threads` already (by the caller,
 * under the lock). Without the lock. */
static bool start_thread(blocking_pool *p)
{
    pthread_attr_t attr;
    pthread_t th;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        if (p->thread_stack_size)
            pthread_attr_setstacksize(&attr, p->thread_stack_size);
        rc = pthread_create(&th, &attr, pool_thread, p);
        pthread_attr_destroy(&attr);
    }
    return rc == 0;
}

static void pool_schedule(sched *s, corio_task *t)
{
    /* Jobs are only queued by submit: they never wait for a wake. */
    (void)s;
    (void)t;
}

/* Under the lock: take the ids of the threads that have exited, for the
 * caller to join after the unlock (join_exited). */
static pthread_t *take_exited(blocking_pool *p, unsigned *n)
{
    *n = 0;
    if (p->n_exited == 0)
        return NULL;
    pthread_t *ids = p->exited;
    *n = p->n_exited;
    p->exited = NULL;
    p->n_exited = p->cap_exited = 0;
    return ids;
}

/* Join them (each has left its loop: a join waits at most for the end of
 * its exit), and free the array. */
static void join_exited(pthread_t *ids, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        pthread_join(ids[i], NULL);
    free(ids);
}

static int pool_submit(sched *s, struct worker *here, corio_task *t)
{
    (void)here;
    blocking_pool *p = (blocking_pool *)s;
    enum { QUEUED, SIGNAL, START } what = QUEUED;
    pthread_mutex_lock(&p->lock);
    if (p->shutdown) {
        pthread_mutex_unlock(&p->lock);
        return CORIO_ESHUTDOWN;
    }
    tq_push(&p->queue, t);
    if (p->queue.len <= p->notified + p->starting + p->claimed) {
        /* enough threads are on their way to the queue already */
    } else if (atomic_load_explicit(&p->spinner, memory_order_relaxed)) {
        atomic_store_explicit(&p->spinner, false, memory_order_relaxed);
        p->claimed++;
    } else if (p->idle > 0) {
        p->idle--;
        p->notified++;
        what = SIGNAL;
    } else if (p->threads - p->exiting < p->max_threads) {
        /* Not p->threads: a thread on its way out after its keep-alive
         * takes no more jobs. Counted, the job would wait for it (with
         * max_blocking_threads 1, forever, until shutdown cancelled it). */
        p->threads++;
        p->starting++;
        what = START;
    }
    unsigned n_exited;
    pthread_t *exited = take_exited(p, &n_exited);
    pthread_mutex_unlock(&p->lock);
    join_exited(exited, n_exited);
    if (what == SIGNAL)
        pthread_cond_signal(&p->work);
    if (what != START || start_thread(p))
        return 0;
    /* No thread: the count goes back, and with no thread at all that will
     * come back to the queue (exiting ones will not) the job cannot run -
     * take it back, unless a thread that came back for more work has
     * started it meanwhile. */
    pthread_mutex_lock(&p->lock);
    p->threads--;
    p->starting--;
    bool taken_back = p->threads == p->exiting && tq_remove(&p->queue, t);
    bool free_it = p->abandoned && p->threads == 0 && p->aborting == 0; /* see pool_thread's end */
    if (p->threads == 0)
        pthread_cond_broadcast(&p->done);
    pthread_mutex_unlock(&p->lock);
    if (free_it)
        pool_free(p);
    return taken_back ? -EAGAIN : 0;
}

static void pool_release(sched *s, corio_task *t)
{
    (void)s;
    (void)t; /* jobs are not in the runtime's registry: nothing to undo */
}

/* Complete a job taken off the queue, cancelled, on this thread: its drop
 * runs instead of fn (task_run sees CANCELLED), the queue's reference goes. */
/* The core's view of a thread running the pool's jobs (stackless: no
 * stacks, no timers). */
static void pool_worker_init(worker *pw, blocking_pool *p)
{
    memset(pw, 0, sizeof *pw);
    pw->sched = &p->s;
}

static void run_cancelled(blocking_pool *p, corio_task *t)
{
    worker pw;
    pool_worker_init(&pw, p);
    task_cancel(t);
    task_run(t, &pw);
}

static corio_task *pool_yield_next(struct worker *w, corio_task *self)
{
    (void)w;
    return self; /* jobs are stackless: never called */
}

static void pool_yielded(struct worker *w, corio_task *t)
{
    (void)w;
    (void)t; /* never called: only coroutines yield */
}

/* A job aborted before its turn leaves the queue now: it completes
 * cancelled on the aborting thread (fn never runs), and its joiner wakes. */
static void pool_aborted(sched *s, corio_task *t)
{
    blocking_pool *p = (blocking_pool *)s;
    pthread_rwlock_rdlock(&pool_gone_lock);
    if (task_is_complete(t)) { /* finished since corio_task_abort looked: p may be gone */
        pthread_rwlock_unlock(&pool_gone_lock);
        return;
    }
    pthread_mutex_lock(&p->lock);
    bool queued = tq_remove(&p->queue, t);
    if (queued)
        p->aborting++; /* the shutdown waits for run_cancelled below */
    pthread_mutex_unlock(&p->lock);
    if (!queued)
        task_cancel(t); /* running (it cannot be stopped) or done */
    pthread_rwlock_unlock(&pool_gone_lock);
    if (!queued)
        return;
    run_cancelled(p, t); /* ours now: nobody else can run it */
    pthread_mutex_lock(&p->lock);
    p->aborting--;
    bool last_of_abandoned = p->abandoned && p->threads == 0 && p->aborting == 0;
    pthread_cond_broadcast(&p->done);
    pthread_mutex_unlock(&p->lock);
    if (last_of_abandoned)
        pool_free(p);
}

static const sched_vtable pool_vtable = {
    .schedule = pool_schedule,
    .submit = pool_submit,
    .release = pool_release,
    .yield_next = pool_yield_next,
    .yielded = pool_yielded,
    .aborted = pool_aborted,
};

/* ---- a job ------------------------------------------------------------------------ */

typedef struct job_fut {
    corio_future base; /* result: fn's */
    corio_fn fn;
    void *arg;
    void (*cancelled)(void *arg); /* NULL, or called instead of fn */
} job_fut;

static corio_poll job_poll(corio_future *f, corio_context *cx)
{
    (void)cx;
    job_fut *j = (job_fut *)f;
    f->result = j->fn(j->arg);
    return CORIO_READY;
}

/* Cancelled before it ran. */
static void job_drop(corio_future *f)
{
    job_fut *j = (job_fut *)f;
    if (j->cancelled)
        j->cancelled(j->arg);
}

static const corio_future_vtable job_vtable = {job_poll, job_drop};

int blocking_pool_spawn(blocking_pool *p, const corio_spawn_opts *opts,
                        const corio_spawn_site *site, corio_fn fn, void *arg, corio_task **out)
{
    return blocking_pool_spawn_owned(p, opts, site, fn, NULL, arg, out);
}

int blocking_pool_spawn_owned(blocking_pool *p, const corio_spawn_opts *opts,
                              const corio_spawn_site *site, corio_fn fn,
                              void (*cancelled)(void *arg), void *arg, corio_task **out)
{
    job_fut j;
    corio_future_init(&j.base, &job_vtable);
    j.fn = fn;
    j.arg = arg;
    j.cancelled = cancelled;
    return task_spawn_future(&p->s, NULL, opts, site, &j.base, sizeof j, out);
}

/* ---- the threads ------------------------------------------------------------------- */

static void pool_free(blocking_pool *p)
{
    /* Wait out an abort between its look at a job and its claim. */
    pthread_rwlock_wrlock(&pool_gone_lock);
    pthread_rwlock_unlock(&pool_gone_lock);
    free(p->exited); /* an abandoned pool's: ids of threads already joined */
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    free(p);
}

static void deadline_of(struct timespec *ts, corio_duration d)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    int64_t ns = ts->tv_nsec + d % 1000000000;
    ts->tv_sec += d / 1000000000 + ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
}

#define SPIN_NS 50000 /* about the cost of a sleep and a wake-up, twice */

/* Spin as the pool's spinner for up to SPIN_NS (with the lock, released
 * meanwhile). True when a submit claimed the spinner; false when the time
 * ran out first, or shutdown began (spinner cleared either way). */
static bool spin(blocking_pool *p)
{
    atomic_store_explicit(&p->spinner, true, memory_order_relaxed);
    pthread_mutex_unlock(&p->lock);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (atomic_load_explicit(&p->spinner, memory_order_relaxed)) {
        /* Yield rather than pause: on a machine with fewer cores than
         * runnable threads, the submitter may need this core. */
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > SPIN_NS)
            break;
    }
    pthread_mutex_lock(&p->lock);
    bool claimed = !atomic_load_explicit(&p->spinner, memory_order_relaxed);
    if (claimed)
        p->claimed--; /* at the queue now */
    atomic_store_explicit(&p->spinner, false, memory_order_relaxed);
    return claimed && !p->shutdown;
}

static void *pool_thread(void *arg)
{
    blocking_pool *p = arg;
    char name[16];
    pthread_mutex_lock(&p->lock);
    unsigned n = p->threads;
    pthread_mutex_unlock(&p->lock);
    snprintf(name, sizeof name, "%.*s-%u", 10, p->name_prefix, n);
    pthread_setname_np(pthread_self(), name);
    if (p->on_start)
        p->on_start(p->hook_arg);
    /* Spawns and corio_rt_current in a job mean the runtime. */
    worker_set_handle(&p->rt->s);
    worker pw;
    pool_worker_init(&pw, p);
    bool retired = false; /* counted in `exiting` */
    pthread_mutex_lock(&p->lock);
    p->starting--; /* at the queue now */
    for (;;) {
        corio_task *t = tq_pop(&p->queue);
        if (t) {
            pthread_mutex_unlock(&p->lock);
            task_run(t, &pw); /* fn(arg); a job aborted before now is dropped */
            pthread_mutex_lock(&p->lock);
            continue;
        }
        if (p->shutdown)
            break;
        if (!atomic_load_explicit(&p->spinner, memory_order_relaxed) && spin(p))
            continue; /* a submit came to the spinner */
        if (p->shutdown)
            break; /* it began while the lock was let go to spin */
        /* Idle until a submit claims this thread (a token in `notified`). */
        struct timespec until;
        deadline_of(&until, p->keep_alive);
        p->idle++;
        bool woken = false;
        for (;;) {
            int rc = pthread_cond_timedwait(&p->work, &p->lock, &until);
            if (p->notified > 0) {
                p->notified--;
                woken = true;
                break;
            }
            if (p->shutdown || rc == ETIMEDOUT)
                break;
        }
        if (woken)
            continue;
        /* Left unclaimed (shutdown, or keep-alive over): no longer idle. */
        p->idle--;
        if (p->shutdown)
            break;
        if (!p->queue.head) {
            /* Kept alive long enough with nothing to do. From here on no
             * job is for this thread (see `exiting`), decided under the
             * same lock as the look at the queue. */
            p->exiting++;
            retired = true;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    worker_set_handle(NULL);
    /* The hook runs while the thread still counts: the runtime's free
     * waits for it, so whatever hook_arg points to may go once it returns. */
    if (p->on_stop)
        p->on_stop(p->hook_arg);
    pthread_mutex_lock(&p->lock);
    if (retired)
        p->exiting--;
    p->threads--;
    bool last_of_abandoned = p->abandoned && p->threads == 0 && p->aborting == 0;
    /* Leave our id to be joined; nobody joins the threads of an abandoned
     * pool (nor ours, if the array cannot grow): detach then. */
    bool left = false;
    if (!p->abandoned) {
        if (p->n_exited == p->cap_exited) {
            unsigned cap = p->cap_exited ? 2 * p->cap_exited : 8;
            pthread_t *a = realloc(p->exited, cap * sizeof *a);
            if (a) {
                p->exited = a;
                p->cap_exited = cap;
            }
        }
        if (p->n_exited < p->cap_exited) {
            p->exited[p->n_exited++] = pthread_self();
            left = true;
        }
    }
    if (!left)
        pthread_detach(pthread_self());
    pthread_cond_broadcast(&p->done);
    /* Nothing of p is touched after this unlock (but by the last thread of
     * an abandoned pool, which is then the only one left). */
    pthread_mutex_unlock(&p->lock);
    if (last_of_abandoned)
        pool_free(p);
    return NULL;
}

int blocking_pool_new(blocking_pool **out, corio_rt *rt, const corio_rt_builder *b)
{
    blocking_pool *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->s.vt = &pool_vtable;
    p->s.stack_size = 0;
    p->rt = rt;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->work, &ca);
    pthread_cond_init(&p->done, &ca);
    pthread_condattr_destroy(&ca);
    p->max_threads = b->max_blocking_threads;
    p->keep_alive = b->blocking_keep_alive;
    p->thread_stack_size = b->thread_stack_size;
    p->on_start = b->on_thread_start;
    p->on_stop = b->on_thread_stop;
    p->hook_arg = b->hook_arg;
    snprintf(p->name_prefix, sizeof p->name_prefix, "%s",
             b->thread_name_prefix ? b->thread_name_prefix : "corio-blocking");
    *out = p;
    return 0;
}

void blocking_pool_stats(blocking_pool *p, unsigned *threads, unsigned *idle, size_t *queued)
{
    pthread_mutex_lock(&p->lock);
    /* Those on their way out for good are gone already, as far as anyone
     * can use them. */
    *threads = p->threads - p->exiting;
    *idle = p->idle + atomic_load_explicit(&p->spinner, memory_order_relaxed);
    *queued = p->queue.len;
    pthread_mutex_unlock(&p->lock);
}

int blocking_pool_shutdown(blocking_pool *p, corio_instant deadline)
{
    pthread_mutex_lock(&p->lock);
    p->shutdown = true;
    /* Jobs not started complete cancelled here: their joiners wake. */
    task_queue pending = p->queue;
    p->queue = (task_queue){0};
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    corio_task *t;
    while ((t = tq_pop(&pending)) != NULL)
        run_cancelled(p, t);
    pthread_mutex_lock(&p->lock);
    int rc = 0;
    if (deadline == UINT64_MAX) {
        while (p->threads > 0 || p->aborting > 0)
            pthread_cond_wait(&p->done, &p->lock);
    } else {
        struct timespec until = {(time_t)(deadline / 1000000000u),
                                 (long)(deadline % 1000000000u)};
        while ((p->threads > 0 || p->aborting > 0) && rc == 0)
            rc = pthread_cond_timedwait(&p->done, &p->lock, &until);
        if (p->threads > 0 || p->aborting > 0) {
            p->abandoned = true; /* the last thread frees it */
            unsigned n;
            pthread_t *ids = take_exited(p, &n);
            pthread_mutex_unlock(&p->lock);
            join_exited(ids, n); /* those already gone, at least */
            return CORIO_ETIMEDOUT;
        }
    }
    unsigned n;
    pthread_t *ids = take_exited(p, &n);
    pthread_mutex_unlock(&p->lock);
    join_exited(ids, n); /* every thread, now all have left their loops */
    pool_free(p);
    return 0;
}

int blocking_job_join(corio_task *job)
{
    corio_join_fut jf;
    corio_join_fut_init(&jf, job);
    int wait = corio_await(&jf.base);
    int rc = wait, ignored;
    /* Interrupted when the job had ended: its outcome, as corio_task_join
     * reports it then - nothing is lost. */
    if (wait == 0 || task_is_complete(job)) {
        rc = task_outcome(job, &ignored);
        if (rc == CORIO_ECANCELED) /* the job's own: cancelled before it ran */
            rc = wait ? wait : CORIO_ESHUTDOWN;
    }
    corio_task_release(job);
    return rc;
}
