/* rt/introspect.c - corio/introspect.h: metrics and the task dump, for both
 * flavours.
 *
 * Everything here reads what the runtime publishes anyway (the registry of
 * live tasks under its shard locks, the queues' lengths, the workers'
 * counters of rt/stats.h, the pool's counts under its lock), so a reading
 * never waits for a worker to answer: it works while they are all stuck.
 *
 * The snapshot copies each shard of the registry under that shard's lock in
 * two passes: one measures (tasks, bytes of strings), then, outside the
 * lock, the buffers grow to fit, and a second pass copies - unless the
 * shard grew in between, in which case it measures again. Strings are kept
 * as offsets while the buffers may move, and become pointers at the end,
 * when the snapshot is one block: header, infos, strings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/task.h"
#include "corio/error.h"
#include "corio/introspect.h"
#include "io/reactor.h"
#include "rt/blocking.h"
#include "rt/registry.h"
#include "rt/runtime.h"
#include "rt/stats.h"

void stats_read(worker_stats *s, corio_worker_metrics *out)
{
    out->parks = atomic_load_explicit(&s->parks, memory_order_acquire);
    out->polls = atomic_load_explicit(&s->polls, memory_order_relaxed);
    out->steals = atomic_load_explicit(&s->steals, memory_order_relaxed);
    out->steal_ops = atomic_load_explicit(&s->steal_ops, memory_order_relaxed);
    out->overflows = atomic_load_explicit(&s->overflows, memory_order_relaxed);
    uint64_t b = atomic_load_explicit(&s->busy, memory_order_relaxed);
    if (b & BUSY_AWAKE) {
        corio_instant now = corio_instant_now(), began = b & ~BUSY_AWAKE;
        b = now > began ? now - began : 0;
    }
    out->busy_ns = b;
    out->local_queue_depth = 0;
}

int corio_rt_metrics(corio_rt *rt, corio_metrics *out)
{
    if (!rt || !out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->flavor = rt->flavor;
    registry_counts(rt->ops->tasks(rt, &out->workers), &out->alive_tasks, &out->spawned_tasks);
    out->global_queue_depth = rt->ops->global_depth(rt);
    size_t queued;
    blocking_pool_stats(rt->pool, &out->blocking_threads, &out->idle_blocking_threads, &queued);
    out->blocking_queue_depth = queued;
    out->io_fds = reactor_regs(rt->io);
    return 0;
}

int corio_rt_worker_metrics(corio_rt *rt, unsigned index, corio_worker_metrics *out)
{
    unsigned workers = 0;
    if (rt)
        rt->ops->tasks(rt, &workers);
    if (!rt || !out || index >= workers)
        return -EINVAL;
    rt->ops->worker_metrics(rt, index, out);
    return 0;
}

/* ---- the snapshot -------------------------------------------------------------- */

/* A task's strings, as the snapshot keeps them. */
typedef struct task_strings {
    const char *name, *file, *func;
    int line;
} task_strings;

static task_strings strings_of(const corio_task *t)
{
    task_strings s = {NULL, "?", "?", 0};
    if (t->kind & TK_NAMED)
        s.name = ((const task_named *)(const void *)t->site)->name;
    if (t->site) {
        if (t->site->file)
            s.file = t->site->file;
        if (t->site->func)
            s.func = t->site->func;
        s.line = t->site->line;
    }
    return s;
}

static size_t strings_size(const task_strings *s)
{
    return (s->name ? strlen(s->name) + 1 : 0) + strlen(s->file) + 1 + strlen(s->func) + 1;
}

static corio_task_status status_of(uint64_t st)
{
    if (st & ST_COMPLETE)
        return CORIO_TASK_FINISHED;
    if (st & ST_RUNNING)
        return CORIO_TASK_RUNNING;
    if (st & ST_NOTIFIED)
        return CORIO_TASK_QUEUED;
    return CORIO_TASK_WAITING;
}

/* While copying: strings are offsets into `str` (+1, 0 for none), cast
 * into the pointers. */
typedef struct snap_build {
    corio_task_info *infos;
    size_t n, cap;
    char *str;
    size_t str_len, str_cap;
    size_t need_n, need_str; /* the shard's, as measured */
} snap_build;

static bool measure(corio_task *t, void *arg)
{
    snap_build *b = arg;
    task_strings s = strings_of(t);
    b->need_n++;
    b->need_str += strings_size(&s);
    return true;
}

static uintptr_t put_str(snap_build *b, const char *s)
{
    size_t n = strlen(s) + 1;
    memcpy(b->str + b->str_len, s, n);
    uintptr_t off = b->str_len + 1;
    b->str_len += n;
    return off;
}

static bool copy(corio_task *t, void *arg)
{
    snap_build *b = arg;
    task_strings s = strings_of(t);
    size_t sz = strings_size(&s);
    if (b->n == b->cap || b->str_len + sz > b->str_cap)
        return false;
    uint64_t st = state_load(&t->state);
    corio_task_info *i = &b->infos[b->n++];
    i->id = t->id;
    i->status = status_of(st);
    i->cancelled = (st & ST_CANCELLED) != 0;
    i->coroutine = task_is_coro(t);
    i->name = s.name ? (const char *)put_str(b, s.name) : NULL;
    i->file = (const char *)put_str(b, s.file);
    i->func = (const char *)put_str(b, s.func);
    i->line = s.line;
    return true;
}

/* Room for `n` more infos and `bytes` more of strings. */
static int reserve(snap_build *b, size_t n, size_t bytes)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap * 2 > b->n + n ? b->cap * 2 : b->n + n;
        corio_task_info *p = realloc(b->infos, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        b->infos = p;
        b->cap = cap;
    }
    if (b->str_len + bytes > b->str_cap) {
        size_t cap = b->str_cap * 2 > b->str_len + bytes ? b->str_cap * 2 : b->str_len + bytes;
        char *p = realloc(b->str, cap);
        if (!p)
            return -ENOMEM;
        b->str = p;
        b->str_cap = cap;
    }
    return 0;
}

static const char *fix(const char *off, const char *base)
{
    uintptr_t o = (uintptr_t)off;
    return o ? base + o - 1 : NULL;
}

int corio_rt_task_snapshot(corio_rt *rt, corio_task_snapshot **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!rt)
        return -EINVAL;
    snap_build b = {0};
    int rc = 0;
    unsigned workers;
    registry *reg = rt->ops->tasks(rt, &workers);
    for (unsigned i = 0; i < registry_shards(reg) && rc == 0; i++) {
        size_t n0 = b.n, len0 = b.str_len;
        for (unsigned tries = 0;; tries++) {
            b.need_n = b.need_str = 0;
            registry_each(reg, i, measure, &b);
            /* Some slack: tasks spawned between the passes need not cost
             * another measure. It doubles at each retry, so that a shard
             * growing fast between the passes is caught up with. */
            unsigned sh = tries < 12 ? tries : 12;
            if ((rc = reserve(&b, b.need_n + (16u << sh), b.need_str + (1024u << sh))) < 0)
                break;
            if (registry_each(reg, i, copy, &b))
                break;
            b.n = n0; /* the shard grew past the room: again */
            b.str_len = len0;
        }
    }
    corio_task_snapshot *s = NULL;
    if (rc == 0) {
        s = malloc(sizeof *s + b.n * sizeof *b.infos + b.str_len);
        if (!s)
            rc = -ENOMEM;
    }
    if (rc == 0) {
        s->n = b.n;
        s->tasks = (corio_task_info *)(void *)(s + 1);
        char *strs = (char *)(s->tasks + b.n);
        if (b.str_len)
            memcpy(strs, b.str, b.str_len);
        for (size_t k = 0; k < b.n; k++) {
            corio_task_info *d = &s->tasks[k];
            *d = b.infos[k];
            d->name = fix(d->name, strs);
            d->file = fix(d->file, strs);
            d->func = fix(d->func, strs);
        }
        *out = s;
    }
    free(b.infos);
    free(b.str);
    return rc;
}

void corio_task_snapshot_free(corio_task_snapshot *s)
{
    free(s);
}

/* ---- the dump ------------------------------------------------------------------- */

static int cmp_str(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* Grouping order: site, then name. */
static int cmp_site(const void *pa, const void *pb)
{
    const corio_task_info *a = pa, *b = pb;
    int c = strcmp(a->file, b->file);
    if (c == 0)
        c = (a->line > b->line) - (a->line < b->line);
    if (c == 0)
        c = strcmp(a->func, b->func);
    if (c == 0)
        c = cmp_str(a->name, b->name);
    if (c == 0)
        c = (a->id > b->id) - (a->id < b->id);
    return c;
}

typedef struct task_group {
    const corio_task_info *first; /* the group: first .. first + n */
    size_t n, by_status[4], cancelled;
} task_group;

static int cmp_group(const void *pa, const void *pb)
{
    const task_group *a = pa, *b = pb;
    if (a->n != b->n)
        return a->n < b->n ? 1 : -1;
    return cmp_site(a->first, b->first);
}

static bool same_group(const corio_task_info *a, const corio_task_info *b)
{
    return a->line == b->line && strcmp(a->file, b->file) == 0 &&
           strcmp(a->func, b->func) == 0 && cmp_str(a->name, b->name) == 0;
}

/* Groups of at most this many tasks list their ids. */
#define DUMP_IDS 4

static void dump_groups(FILE *f, corio_task_snapshot *s, task_group *g, size_t ng)
{
    fprintf(f, "%zu live tasks by spawn site and name (largest groups first):\n", s->n);
    fprintf(f, "  %8s %8s %8s %8s %9s  %s\n", "tasks", "running", "queued", "waiting",
            "cancelled", "site");
    for (size_t k = 0; k < ng; k++) {
        const corio_task_info *t = g[k].first;
        fprintf(f, "  %8zu %8zu %8zu %8zu %9zu  %s:%d (%s)", g[k].n,
                g[k].by_status[CORIO_TASK_RUNNING], g[k].by_status[CORIO_TASK_QUEUED],
                g[k].by_status[CORIO_TASK_WAITING], g[k].cancelled, t->file, t->line, t->func);
        if (t->name)
            fprintf(f, " \"%s\"", t->name);
        if (g[k].by_status[CORIO_TASK_FINISHED])
            fprintf(f, ", %zu finishing", g[k].by_status[CORIO_TASK_FINISHED]);
        if (g[k].n <= DUMP_IDS) {
            fprintf(f, ", id");
            for (size_t i = 0; i < g[k].n; i++)
                fprintf(f, "%s%llu", i ? ", " : " ", (unsigned long long)t[i].id);
        }
        fputc('\n', f);
    }
}

int corio_rt_dump(corio_rt *rt, FILE *f)
{
    if (!rt || !f)
        return -EINVAL;
    corio_metrics m;
    corio_rt_metrics(rt, &m);
    fprintf(f, "corio runtime %p: %s, %u worker%s\n", (void *)rt,
            m.flavor == CORIO_RT_MULTI_THREAD ? "multi-thread" : "current-thread", m.workers,
            m.workers == 1 ? "" : "s");
    fprintf(f,
            "  tasks: %llu alive, %llu spawned, %llu in the global queue; I/O: %llu fds; "
            "blocking pool: %u threads (%u idle), %llu jobs queued\n",
            (unsigned long long)m.alive_tasks, (unsigned long long)m.spawned_tasks,
            (unsigned long long)m.global_queue_depth, (unsigned long long)m.io_fds,
            m.blocking_threads, m.idle_blocking_threads,
            (unsigned long long)m.blocking_queue_depth);
    for (unsigned i = 0; i < m.workers; i++) {
        corio_worker_metrics w;
        corio_rt_worker_metrics(rt, i, &w);
        fprintf(f,
                "  worker %u: %llu polls, %llu parks, %llu steals in %llu, %llu overflows, "
                "%llu queued, busy %.3f s\n",
                i, (unsigned long long)w.polls, (unsigned long long)w.parks,
                (unsigned long long)w.steals, (unsigned long long)w.steal_ops,
                (unsigned long long)w.overflows, (unsigned long long)w.local_queue_depth,
                (double)w.busy_ns / 1e9);
    }
    corio_task_snapshot *s;
    int rc = corio_rt_task_snapshot(rt, &s);
    if (rc < 0)
        return rc;
    task_group *g = NULL;
    size_t ng = 0;
    if (s->n) {
        qsort(s->tasks, s->n, sizeof *s->tasks, cmp_site);
        g = calloc(s->n, sizeof *g);
        if (!g) {
            corio_task_snapshot_free(s);
            return -ENOMEM;
        }
        for (size_t i = 0; i < s->n; i++) {
            const corio_task_info *t = &s->tasks[i];
            if (ng == 0 || !same_group(g[ng - 1].first, t))
                g[ng++].first = t;
            task_group *cur = &g[ng - 1];
            cur->n++;
            cur->by_status[t->status]++;
            cur->cancelled += t->cancelled;
        }
        qsort(g, ng, sizeof *g, cmp_group);
    }
    dump_groups(f, s, g, ng);
    free(g);
    corio_task_snapshot_free(s);
    return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}
