/* rt/runtime.c - the flavour-neutral runtime: builders, build, the current
 * runtime, spawning blocking jobs. Driving (block_on, corio_run) is in
 * rt/block_on.c, shutdown in rt/shutdown.c, the flavours in
 * rt/current_thread.c and rt/multi_thread.c, the blocking pool in
 * rt/blocking.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "core/worker.h"
#include "corio/error.h"
#include "rt/blocking.h"
#include "rt/runtime.h"

#define DEFAULT_EVENT_INTERVAL 61
#define DEFAULT_GLOBAL_QUEUE_INTERVAL 31
#define DEFAULT_MAX_BLOCKING_THREADS 512
#define DEFAULT_BLOCKING_KEEP_ALIVE CORIO_SEC(10)
#define MIN_THREAD_STACK (64u * 1024u)

/* Every field left 0 gets its default (worker_threads excepted: see
 * corio_rt_build). The builders start from this, and corio_rt_build applies
 * it again, since 0 in a field means its default. */
static void fill_defaults(corio_rt_builder *b)
{
    if (!b->stack_size)
        b->stack_size = CORIO_DEFAULT_STACK_SIZE;
    if (!b->event_interval)
        b->event_interval = DEFAULT_EVENT_INTERVAL;
    if (!b->global_queue_interval)
        b->global_queue_interval = DEFAULT_GLOBAL_QUEUE_INTERVAL;
    if (!b->max_blocking_threads)
        b->max_blocking_threads = DEFAULT_MAX_BLOCKING_THREADS;
    if (!b->blocking_keep_alive)
        b->blocking_keep_alive = DEFAULT_BLOCKING_KEEP_ALIVE;
}

static corio_rt_builder builder_defaults(corio_rt_flavor flavor)
{
    corio_rt_builder b;
    memset(&b, 0, sizeof b);
    b.flavor = flavor;
    fill_defaults(&b);
    return b;
}

corio_rt_builder corio_rt_builder_current_thread(void)
{
    return builder_defaults(CORIO_RT_CURRENT_THREAD);
}

corio_rt_builder corio_rt_builder_multi_thread(void)
{
    /* worker_threads stays 0: decided when the runtime is built, so that the
     * environment and the affinity mask of that moment count. */
    return builder_defaults(CORIO_RT_MULTI_THREAD);
}

/* The default worker count: CORIO_WORKER_THREADS, else the CPUs in this
 * process's affinity mask. 0 when the variable is set but not a count. */
static unsigned default_workers(void)
{
    const char *e = getenv("CORIO_WORKER_THREADS");
    if (e) {
        /* Decimal digits only (as tokio's TOKIO_WORKER_THREADS: empty, a
         * sign or spaces are errors too). */
        if (*e < '0' || *e > '9')
            return 0;
        char *end;
        unsigned long v = strtoul(e, &end, 10);
        if (*end || v == 0 || v > CORIO_MAX_WORKER_THREADS)
            return 0;
        return (unsigned)v;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    return 1;
}

int corio_rt_build(const corio_rt_builder *b, corio_rt **out)
{
    if (out)
        *out = NULL; /* on every failure (docs/conventions.md) */
    if (!b || !out)
        return -EINVAL;
    if ((b->flavor != CORIO_RT_CURRENT_THREAD && b->flavor != CORIO_RT_MULTI_THREAD) ||
        b->stack_size > CORIO_STACK_SIZE_MAX ||
        /* worker_threads is the multi-thread flavour's only (runtime.h:
         * a field that does not apply is ignored) */
        (b->flavor == CORIO_RT_MULTI_THREAD && b->worker_threads > CORIO_MAX_WORKER_THREADS) ||
        (b->thread_stack_size && b->thread_stack_size < MIN_THREAD_STACK) ||
        b->blocking_keep_alive < 0)
        return -EINVAL;
    corio_rt_builder v = *b;
    fill_defaults(&v);
    if (v.flavor == CORIO_RT_MULTI_THREAD && !v.worker_threads &&
        (v.worker_threads = default_workers()) == 0)
        return -EINVAL;
    corio_rt *rt;
    int rc = v.flavor == CORIO_RT_MULTI_THREAD ? multi_thread_build(&v, &rt)
                                                : current_thread_build(&v, &rt);
    if (rc < 0)
        return rc;
    rc = blocking_pool_new(&rt->pool, rt, &v);
    if (rc < 0) {
        rt->ops->shutdown(rt);
        rt->ops->destroy(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

corio_rt *corio_rt_current(void)
{
    return rt_current();
}

int corio_spawn_blocking_ex(const corio_spawn_opts *opts, const corio_spawn_site *site,
                            corio_fn fn, void *arg, corio_task **out)
{
    if (out)
        *out = NULL; /* on every failure (docs/conventions.md) */
    if (!fn || (opts && opts->stack_size > CORIO_STACK_SIZE_MAX))
        return -EINVAL;
    corio_rt *rt = opts && opts->rt ? opts->rt : rt_current();
    if (!rt)
        return CORIO_EWRONGCTX;
    if (rt_is_closed(rt))
        return CORIO_ESHUTDOWN; /* as corio_spawn: closed, its tasks cancelled */
    return blocking_pool_spawn(rt->pool, opts, site, fn, arg, out);
}
