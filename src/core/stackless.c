/* core/stackless.c - stackless tasks: a future spawned directly.
 *
 * The task header and a copy of the future share one allocation, so a
 * stackless task costs sizeof(corio_task) plus the future's own size. The
 * future is polled with the task's waker; when the task is cancelled it is
 * dropped (its vtable's drop) instead of polled, and never polled again.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/task_run.h"
#include "core/taskmem.h"
#include "core/worker.h"
#include "corio/error.h"
#include "corio/task.h"

typedef struct futtask {
    corio_task t;
    alignas(16) unsigned char fut[];
} futtask;

bool fut_poll(corio_task **tp, worker *w, bool cancelled)
{
    corio_task *t = *tp;
    futtask *ft = (futtask *)t;
    corio_future *f = (corio_future *)(void *)ft->fut;
    if (cancelled) {
        corio_future_drop(f);
        t->poll_flags |= TF_CANCEL_SEEN;
        t->result = CORIO_ECANCELED;
        return true;
    }
    corio_waker wk = task_waker_borrowed(t);
    corio_context cx = {&wk};
    w->current = t;
    corio_poll p = f->vtable->poll(f, &cx);
    w->current = NULL;
    if (p == CORIO_READY) {
        t->result = f->result;
        return true;
    }
    return false;
}

_Static_assert(TASKMEM_MAX_POOLED / 16 < MEM_LARGE, "mem_units cannot hold a pooled size");

int task_spawn_future(struct sched *s, worker *here, const corio_spawn_opts *opts,
                      const corio_spawn_site *site, const corio_future *fut, size_t size,
                      corio_task **out)
{
    if (size > SIZE_MAX - sizeof(futtask) - 15)
        return -ENOMEM;
    size_t bytes = (sizeof(futtask) + size + 15) & ~(size_t)15;
    futtask *ft = taskmem_alloc(bytes);
    if (!ft)
        return -ENOMEM;
    int rc = task_init(&ft->t, true, s, opts, site, out != NULL);
    if (rc < 0) {
        taskmem_free(ft, bytes);
        return rc;
    }
    ft->t.mem_units = bytes > TASKMEM_MAX_POOLED ? MEM_LARGE : (uint8_t)(bytes / 16);
    memcpy(ft->fut, fut, size);
    rc = task_submit(&ft->t, here);
    if (rc < 0)
        return rc;
    if (out)
        *out = &ft->t;
    return 0;
}

int corio_spawn_future_ex(const corio_spawn_opts *opts, const corio_spawn_site *site,
                          const corio_future *fut, size_t size, corio_task **out)
{
    if (out)
        *out = NULL; /* on every failure (docs/conventions.md) */
    if (!fut || size < sizeof(corio_future) || !fut->vtable || !fut->vtable->poll ||
        (opts && opts->stack_size > CORIO_STACK_SIZE_MAX))
        return -EINVAL; /* the stack size does not apply, but is checked alike */
    worker *here = worker_current();
    struct sched *s = spawn_target(opts, here);
    if (!s)
        return CORIO_EWRONGCTX;
    return task_spawn_future(s, here, opts, site, fut, size, out);
}
