/* rt/runtime.c - the flavour-neutral runtime: builders, build, the current
 * runtime, and corio_run. Driving is in rt/block_on.c, shutdown in
 * rt/shutdown.c, the flavours in rt/current_thread.c (and, to come,
 * rt/multi_thread.c). */
#include <string.h>

#include "core/worker.h"
#include "corio/error.h"
#include "rt/runtime.h"

#define DEFAULT_EVENT_INTERVAL 61

corio_rt_builder corio_rt_builder_current_thread(void)
{
    corio_rt_builder b;
    memset(&b, 0, sizeof b);
    b.flavor = CORIO_RT_CURRENT_THREAD;
    b.stack_size = CORIO_DEFAULT_STACK_SIZE;
    b.event_interval = DEFAULT_EVENT_INTERVAL;
    return b;
}

int corio_rt_build(const corio_rt_builder *b, corio_rt **out)
{
    if (!b || !out || b->flavor != CORIO_RT_CURRENT_THREAD ||
        b->stack_size > CORIO_STACK_SIZE_MAX)
        return -EINVAL;
    corio_rt_builder v = *b;
    if (!v.stack_size)
        v.stack_size = CORIO_DEFAULT_STACK_SIZE;
    if (!v.event_interval)
        v.event_interval = DEFAULT_EVENT_INTERVAL;
    return current_thread_build(&v, out);
}

corio_rt *rt_current(void)
{
    worker *w = worker_current();
    return w ? (corio_rt *)(void *)w->sched : NULL;
}

corio_rt *corio_rt_current(void)
{
    return rt_current();
}

int corio_run(corio_fn fn, void *arg, int *result)
{
    if (!fn)
        return -EINVAL;
    if (worker_current())
        return CORIO_EWRONGCTX; /* a runtime cannot be driven from a task */
    corio_rt *rt;
    corio_rt_builder b = corio_rt_builder_current_thread();
    int rc = corio_rt_build(&b, &rt);
    if (rc < 0)
        return rc;
    rc = corio_rt_block_on(rt, fn, arg, result);
    int frc = corio_rt_free(rt);
    return rc < 0 ? rc : frc;
}
