/* rt/block_on.c - driving a runtime from plain code, and waiting on a task
 * or a future from a plain thread: corio_rt_block_on(_future), corio_run,
 * corio_block_on_future, corio_task_join.
 *
 * Inside a coroutine, waiting is an await (core/coro.c). In plain code it
 * blocks the thread: either by driving a runtime on it (block_on) or by
 * parking it until a waker fires (rt/parker.c). Both belong to the layer
 * that owns runtimes, which is why the plain-thread half of joining lives
 * here and not beside the join future in core/task.c.
 */
#include "core/task.h"
#include "core/worker.h"
#include "corio/error.h"
#include "rt/parker.h"
#include "rt/runtime.h"

static const corio_spawn_site main_site = {"<block_on>", 0, "corio_rt_block_on"};

/* Drive `rt` on this plain thread until the task spawned by `spawn` (with
 * `sp`) completes; its outcome and result as corio_task_join gives them. */
static int block_on_task(corio_rt *rt, int (*spawn)(corio_rt *, void *, corio_task **), void *sp,
                         int *value)
{
    if (worker_current())
        return CORIO_EWRONGCTX;
    int rc = rt->ops->enter(rt);
    if (rc < 0)
        return rc;
    corio_task *main;
    rc = spawn(rt, sp, &main);
    if (rc < 0) {
        rt->ops->exit(rt);
        return rc;
    }
    rt->ops->drive(rt, main);
    rt->ops->exit(rt);
    rc = task_outcome(main, value);
    /* A coroutine that got no stack completes with -ENOMEM as its result
     * without its function having run (corio_task_join's rule). Here that
     * is this call's own failure: runtime.h promises -ENOMEM "no memory for
     * the main task" and *result 0 whenever fn did not run, and a caller
     * would otherwise take -ENOMEM for what fn returned. */
    if (rc == 0 && task_is_coro(main) && !(main->poll_flags & TF_STARTED)) {
        rc = -ENOMEM;
        *value = 0;
    }
    corio_task_release(main);
    return rc;
}

typedef struct fn_spawn {
    corio_fn fn;
    void *arg;
} fn_spawn;

static int spawn_fn(corio_rt *rt, void *p, corio_task **out)
{
    fn_spawn *fs = p;
    corio_spawn_opts o = {.rt = rt};
    return corio_spawn_ex(&o, &main_site, fs->fn, fs->arg, out);
}

int corio_rt_block_on(corio_rt *rt, corio_fn fn, void *arg, int *result)
{
    if (result)
        *result = 0; /* written on every path: 0 unless fn ran */
    if (!rt || !fn)
        return -EINVAL;
    fn_spawn fs = {fn, arg};
    int value = 0;
    int rc = block_on_task(rt, spawn_fn, &fs, &value);
    if (rc == 0 || rc == CORIO_ECANCELED) {
        if (result)
            *result = value;
    }
    return rc;
}

/* Polls a future that lives outside the task, through a pointer: the main
 * task of corio_rt_block_on_future. */
typedef struct ref_fut {
    corio_future base;
    corio_future *inner;
} ref_fut;

static corio_poll ref_fut_poll(corio_future *f, corio_context *cx)
{
    ref_fut *r = (ref_fut *)f;
    if (corio_future_poll(r->inner, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    f->result = 0;
    return CORIO_READY;
}

static void ref_fut_drop(corio_future *f)
{
    corio_future_drop(((ref_fut *)f)->inner);
}

static const corio_future_vtable ref_fut_vtable = {ref_fut_poll, ref_fut_drop};

static int spawn_ref(corio_rt *rt, void *p, corio_task **out)
{
    ref_fut rf = {{&ref_fut_vtable, 0}, p};
    corio_spawn_opts o = {.rt = rt};
    return corio_spawn_future_ex(&o, &main_site, &rf.base, sizeof rf, out);
}

static bool future_valid(const corio_future *f)
{
    return f && f->vtable && f->vtable->poll;
}

int corio_rt_block_on_future(corio_rt *rt, corio_future *fut)
{
    if (!rt || !future_valid(fut))
        return -EINVAL;
    int value;
    return block_on_task(rt, spawn_ref, fut, &value);
}

int corio_block_on_future(corio_future *fut)
{
    if (!future_valid(fut))
        return -EINVAL;
    if (worker_current())
        return CORIO_EWRONGCTX;
    /* A temporary current-thread runtime, so that timers work too. */
    corio_rt *rt;
    corio_rt_builder b = corio_rt_builder_current_thread();
    int rc = corio_rt_build(&b, &rt);
    if (rc < 0)
        return rc;
    rc = corio_rt_block_on_future(rt, fut);
    int frc = corio_rt_free(rt);
    return rc < 0 ? rc : frc;
}

int corio_task_join(corio_task *t, int *result)
{
    if (!t)
        return -EINVAL;
    worker *w = worker_current();
    if (w && w->current == t)
        return -EDEADLK; /* a task cannot wait for itself; the handle stays yours */
    task_handle_check(t, "corio_task_join", true);
    if (w && !w->coro)
        return CORIO_EWRONGCTX; /* inside a poll function: it cannot block */
    corio_join_fut jf;
    corio_join_fut_init(&jf, t);
    int rc = w ? corio_await(&jf.base) : block_on_parked(&jf.base);
    int value = 0;
    /* Decided once: the task may complete at any moment after the await
     * was interrupted, and a second look at COMPLETE could then report
     * `value` (0, never read from the task) as its result. */
    bool have = rc == 0 || task_is_complete(t);
    if (have)
        rc = task_outcome(t, &value); /* interrupted, but nothing was left to wait for */
    if (result && have)
        *result = value;
    corio_task_release(t);
    return rc;
}

int corio_run(corio_fn fn, void *arg, int *result)
{
    if (result)
        *result = 0; /* written on every path: 0 unless fn ran */
    if (!fn)
        return -EINVAL;
    if (worker_current())
        return CORIO_EWRONGCTX; /* a runtime cannot be driven from a task */
    corio_rt *rt;
    corio_rt_builder b = corio_rt_builder_multi_thread();
    int rc = corio_rt_build(&b, &rt);
    if (rc < 0)
        return rc;
    rc = corio_rt_block_on(rt, fn, arg, result);
    int frc = corio_rt_free(rt);
    return rc < 0 ? rc : frc;
}
