/* rt/blocking.c - the blocking pool (see blocking.h).
 *
 * One mutex and two condition variables: `work` wakes an idle thread for a
 * new job, `done` tells shutdown a thread has exited. `threads` counts the
 * live threads, `idle` those waiting for a job. Threads are detached: one
 * that exits after its keep-alive is gone for good; shutdown waits for the
 * count to reach zero. A pool abandoned past a shutdown deadline is freed by
 * its last thread (`abandoned`).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "rt/blocking.h"

#include <pthread.h>
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
    unsigned threads, idle, max_threads;
    bool shutdown, abandoned;
    corio_duration keep_alive;
    size_t thread_stack_size;
    void (*on_start)(void *), (*on_stop)(void *);
    void *hook_arg;
    char name_prefix[16];
};

static void *pool_thread(void *arg);

/* ---- the jobs' scheduler (core/sched.h) --------------------------------------- */

static bool start_thread_locked(blocking_pool *p)
{
    pthread_attr_t attr;
    pthread_t th;
    if (pthread_attr_init(&attr) != 0)
        return false;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (p->thread_stack_size)
        pthread_attr_setstacksize(&attr, p->thread_stack_size);
    p->threads++;
    int rc = pthread_create(&th, &attr, pool_thread, p);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        p->threads--;
    return rc == 0;
}

/* Queue a job and make sure a thread will take it: an idle one, or a new
 * one below the limit; at the limit it waits for a busy one. With the lock
 * held. Returns false (nothing queued) when there is no thread at all and
 * none could be started. */
static bool enqueue_locked(blocking_pool *p, corio_task *t)
{
    if (p->idle > p->queue.len) {
        tq_push(&p->queue, t);
        pthread_cond_signal(&p->work);
        return true;
    }
    if (p->threads < p->max_threads && !start_thread_locked(p) && p->threads == 0)
        return false;
    tq_push(&p->queue, t);
    return true;
}

static void pool_schedule(sched *s, corio_task *t)
{
    /* Jobs are only queued by submit: they never wait for a wake. */
    (void)s;
    (void)t;
}

static int pool_submit(sched *s, struct worker *here, corio_task *t)
{
    (void)here;
    blocking_pool *p = (blocking_pool *)s;
    pthread_mutex_lock(&p->lock);
    int rc = p->shutdown ? CORIO_ESHUTDOWN : enqueue_locked(p, t) ? 0 : -EAGAIN;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static void pool_release(sched *s, corio_task *t)
{
    (void)s;
    (void)t; /* jobs are not in the runtime's registry: nothing to undo */
}

/* Complete a job taken off the queue, cancelled, on this thread: its drop
 * runs instead of fn (task_run sees CANCELLED), the queue's reference goes. */
static void run_cancelled(blocking_pool *p, corio_task *t)
{
    worker pw;
    memset(&pw, 0, sizeof pw);
    pw.sched = &p->s;
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
    pthread_mutex_lock(&p->lock);
    bool queued = tq_remove(&p->queue, t);
    pthread_mutex_unlock(&p->lock);
    if (queued)
        run_cancelled(p, t); /* ours now: nobody else can run it */
    else
        task_cancel(t); /* running (it cannot be stopped) or done */
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
} job_fut;

static corio_poll job_poll(corio_future *f, corio_context *cx)
{
    (void)cx;
    job_fut *j = (job_fut *)f;
    f->result = j->fn(j->arg);
    return CORIO_READY;
}

static const corio_future_vtable job_vtable = {job_poll, NULL};

int blocking_pool_spawn(blocking_pool *p, const corio_spawn_opts *opts,
                        const corio_spawn_site *site, corio_fn fn, void *arg, corio_task **out)
{
    job_fut j;
    corio_future_init(&j.base, &job_vtable);
    j.fn = fn;
    j.arg = arg;
    return task_spawn_future(&p->s, NULL, opts, site, &j.base, sizeof j, out);
}

/* ---- the threads ------------------------------------------------------------------- */

static void pool_free(blocking_pool *p)
{
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
    memset(&pw, 0, sizeof pw);
    pw.sched = &p->s;
    pthread_mutex_lock(&p->lock);
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
        struct timespec until;
        deadline_of(&until, p->keep_alive);
        p->idle++;
        int rc = 0;
        while (!p->queue.head && !p->shutdown && rc == 0)
            rc = pthread_cond_timedwait(&p->work, &p->lock, &until);
        p->idle--;
        if (!p->queue.head && !p->shutdown)
            break; /* kept alive long enough with nothing to do */
    }
    pthread_mutex_unlock(&p->lock);
    worker_set_handle(NULL);
    /* The hook runs while the thread still counts: the runtime's free
     * waits for it, so whatever hook_arg points to may go once it returns. */
    if (p->on_stop)
        p->on_stop(p->hook_arg);
    pthread_mutex_lock(&p->lock);
    p->threads--;
    bool last_of_abandoned = p->abandoned && p->threads == 0;
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

unsigned blocking_pool_threads(blocking_pool *p)
{
    pthread_mutex_lock(&p->lock);
    unsigned n = p->threads;
    pthread_mutex_unlock(&p->lock);
    return n;
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
        while (p->threads > 0)
            pthread_cond_wait(&p->done, &p->lock);
    } else {
        struct timespec until = {(time_t)(deadline / 1000000000u),
                                 (long)(deadline % 1000000000u)};
        while (p->threads > 0 && rc == 0)
            rc = pthread_cond_timedwait(&p->done, &p->lock, &until);
        if (p->threads > 0) {
            p->abandoned = true; /* the last thread frees it */
            pthread_mutex_unlock(&p->lock);
            return CORIO_ETIMEDOUT;
        }
    }
    pthread_mutex_unlock(&p->lock);
    pool_free(p);
    return 0;
}
