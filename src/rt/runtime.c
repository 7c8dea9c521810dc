/* rt/runtime.c - the flavour-neutral runtime: builders, build, the current
 * runtime. Driving (block_on, corio_run) is in rt/block_on.c, shutdown in
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

corio_rt *corio_rt_current(void)
{
    return rt_current();
}
