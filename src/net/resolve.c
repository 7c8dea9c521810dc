/* net/resolve.c - host names looked up off the worker threads
 * (corio_addr_resolve, corio/net.h).
 *
 * A lookup is a job on the runtime's blocking pool (getaddrinfo blocks).
 * The request is on the heap with two references, the caller's and the
 * job's: a caller that is interrupted (cancelled, past its deadline) drops
 * its own and returns, and the job, whenever it ends - or, cancelled
 * before it started, its drop - drops the other. Whoever is last frees.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/coro.h"
#include "core/worker.h"
#include "corio/error.h"
#include "corio/task.h"
#include "net/addr.h"
#include "rt/blocking.h"
#include "rt/runtime.h"

typedef struct lookup {
    _Atomic int refs;
    int rc;
    size_t max, n;
    char host[ADDR_HOST_MAX];
    char port[8];
    corio_addr out[];
} lookup;

static void lookup_unref(void *arg)
{
    lookup *q = arg;
    /* AcqRel: the last one out sees the other's writes before freeing. */
    if (atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) == 1)
        free(q);
}

static int lookup_job(void *arg)
{
    lookup *q = arg;
    q->rc = addr_lookup(q->host, q->port, 0, q->out, q->max, &q->n);
    lookup_unref(q);
    return 0;
}

int addr_resolve(const char *host, const char *port, corio_addr *out, size_t max, size_t *n)
{
    int rc = addr_lookup(host, port, 1, out, max, n);
    if (rc != -EINVAL || addr_loose_ipv4(host))
        return rc; /* numeric (or a malformed one): done, no thread needed */
    if (!worker_current())
        return addr_lookup(host, port, 0, out, max, n); /* plain code: block */
    if ((rc = coro_await_enter()) != 0)
        return rc; /* cancelled, past a deadline, or a stackless poll */
    if (max > 64)
        max = 64; /* more is never useful, and bounds the request */
    lookup *q = malloc(sizeof *q + max * sizeof q->out[0]);
    if (!q)
        return -ENOMEM;
    atomic_init(&q->refs, 2);
    q->rc = -EAGAIN;
    q->max = max;
    q->n = 0;
    strcpy(q->host, host); /* both shorter than their arrays (addr_split) */
    strcpy(q->port, port);
    corio_task *job;
    rc = blocking_pool_spawn_owned(rt_current()->pool, NULL, NULL, lookup_job, lookup_unref, q,
                                   &job);
    if (rc < 0) {
        free(q);
        return rc;
    }
    /* CORIO_ESHUTDOWN only when the job was cancelled (the pool is
     * closing): a cancelled scope around the caller is CORIO_ECANCELED. */
    rc = blocking_job_join(job);
    if (rc == 0) {
        rc = q->rc;
        if (rc == 0) {
            memcpy(out, q->out, q->n * sizeof out[0]);
            *n = q->n;
        }
    }
    lookup_unref(q);
    return rc;
}

int corio_addr_resolve(const char *host_port, corio_addr *out, size_t max, size_t *n)
{
    if (!host_port || !out || !max || !n)
        return -EINVAL;
    char host[ADDR_HOST_MAX], port[8];
    int rc = addr_split(host_port, host, port);
    if (rc < 0)
        return rc;
    return addr_resolve(host, port, out, max, n);
}
