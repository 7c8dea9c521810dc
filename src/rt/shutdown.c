/* rt/shutdown.c - corio_rt_free: shut a runtime down and free it, from plain
 * code or from a task of another runtime.
 *
 * From plain code the calling thread runs the flavour's shutdown: close,
 * cancel every task left, run them until they have unwound through their
 * cleanup, stop the runtime's threads. A task of another runtime cannot run
 * a second runtime on its thread, so a helper thread does it while the task
 * waits (suspended, not blocking its thread).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/task.h"
#include "core/worker.h"
#include "corio/error.h"
#include "rt/blocking.h"
#include "rt/runtime.h"

/* Tasks first (they are cancelled and unwind; none can await a blocking
 * job once cancelled), then the blocking pool, bounded by `deadline`. */
static int rt_shutdown_and_destroy(corio_rt *rt, corio_instant deadline)
{
    int rc = rt->ops->shutdown(rt);
    if (rc < 0)
        return rc;
    rc = blocking_pool_shutdown(rt->pool, deadline);
    rt->ops->destroy(rt);
    return rc;
}

typedef struct free_job {
    corio_future base; /* result: the shutdown's */
    corio_rt *rt;
    corio_instant deadline;
    pthread_mutex_t mu;
    bool done;
    int rc;
    corio_waker waker;
    _Atomic int refs; /* the helper thread and the waiting task */
} free_job;

static void free_job_unref(free_job *j)
{
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_destroy(&j->mu);
        corio_waker_drop(&j->waker);
        free(j);
    }
}

static void *free_thread(void *arg)
{
    free_job *j = arg;
    int rc = rt_shutdown_and_destroy(j->rt, j->deadline);
    pthread_mutex_lock(&j->mu);
    j->done = true;
    j->rc = rc;
    corio_waker w = j->waker;
    j->waker = CORIO_WAKER_NONE;
    pthread_mutex_unlock(&j->mu);
    corio_waker_wake(&w);
    free_job_unref(j);
    return NULL;
}

static corio_poll free_job_poll(corio_future *f, corio_context *cx)
{
    free_job *j = (free_job *)f;
    pthread_mutex_lock(&j->mu);
    bool done = j->done;
    if (done)
        f->result = j->rc;
    else
        corio_waker_store(&j->waker, cx->waker);
    pthread_mutex_unlock(&j->mu);
    return done ? CORIO_READY : CORIO_PENDING;
}

static const corio_future_vtable free_job_vtable = {free_job_poll, NULL};

static int free_on_thread(corio_rt *rt, corio_instant deadline)
{
    free_job *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    corio_future_init(&j->base, &free_job_vtable);
    j->rt = rt;
    j->deadline = deadline;
    pthread_mutex_init(&j->mu, NULL);
    atomic_init(&j->refs, 2);
    pthread_attr_t attr;
    pthread_t th;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&th, &attr, free_thread, j);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        pthread_mutex_destroy(&j->mu);
        free(j);
        return -rc;
    }
    /* If the waiting task is cancelled, the shutdown still completes; the
     * task learns only that it stopped waiting. */
    rc = corio_await(&j->base);
    if (rc == 0)
        rc = j->base.result;
    free_job_unref(j);
    return rc;
}

static int rt_free_until(corio_rt *rt, corio_instant deadline)
{
    if (!rt)
        return 0;
    worker *cur = worker_current();
    if (cur) {
        /* A runtime cannot shut itself down from inside; and only a
         * coroutine can wait for the helper thread. */
        if (rt_current() == rt || !cur->coro)
            return CORIO_EWRONGCTX;
        return free_on_thread(rt, deadline);
    }
    /* A job of its own blocking pool would wait for itself. */
    if (rt_current() == rt)
        return CORIO_EWRONGCTX;
    return rt_shutdown_and_destroy(rt, deadline);
}

int corio_rt_free(corio_rt *rt)
{
    return rt_free_until(rt, UINT64_MAX);
}

int corio_rt_shutdown_timeout(corio_rt *rt, corio_duration d)
{
    return rt_free_until(rt, corio_instant_add(corio_instant_now(), d < 0 ? 0 : d));
}
