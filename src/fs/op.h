/* fs/op.h - one file-system request, run on the blocking pool (internal to
 * src/fs/; everything here is static inline, so no name leaves the files
 * that include it).
 *
 * A request (fs_op) holds the inputs of one call and its results. In plain
 * code it lives on the caller's stack, points at the caller's own buffers,
 * and its `run` is called right there. In a task it is on the heap, with
 * copies of the caller's inputs (paths, data to write) in its trailing
 * `mem` and a buffer of its own for data read, and two references: the
 * caller's and the job's (resolve.c's scheme). The caller joins the job;
 * interrupted, it drops its reference and returns at once, without having
 * touched the results; the job drops the other one when it ends (or,
 * cancelled before it started, in its `cancelled` drop). Whoever is last
 * frees the request, and with it any result still in it: a caller that got
 * its answer takes the results out first (fd -1, data NULL...), so what is
 * left is exactly what nobody will use. The job writes the results before
 * its unref (release) and the caller reads them after the join returned 0,
 * which orders them (the task's completion is a release/acquire pair).
 *
 * Turns: requests on one open file run in the order they were made, even
 * when their callers gave up on them: each takes a ticket, at submission,
 * under the turns' lock held across the spawn, so tickets enter the pool's
 * FIFO queue in ticket order; a job waits for its ticket to be served.
 * Since every earlier ticket is ahead of it in the queue, the one it waits
 * for is running or done: the pool's thread limit cannot deadlock them. A
 * job cancelled before it ran (shutdown) never waits: if its turn has not
 * come it is parked in the turns' `skipped` list, and the turn before it
 * skips it when it passes (fs_turns_pass).
 *
 * Plain code takes a ticket too and waits on its own thread. That thread
 * may be one of the pool's (a corio_spawn_blocking job), and the job whose
 * turn it waits for may be queued behind it, with no thread left to run it
 * (max_blocking_threads): so a plain caller whose turn has not come runs
 * the requests ahead of it itself, when their jobs have not started yet.
 * A submitted job is `pending` in the turns until it starts or a plain
 * caller claims it; a claimed job, when it runs, only waits for its turn
 * to have passed (the request has run: its results are in it) and ends.
 */
#ifndef CORIO_FS_OP_H
#define CORIO_FS_OP_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/coro.h"
#include "core/worker.h"
#include "corio/error.h"
#include "corio/fs.h"
#include "corio/task.h"
#include "rt/blocking.h"
#include "rt/runtime.h"

struct fs_op;

typedef struct fs_turns {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t next, serving;  /* under mu */
    struct fs_op *skipped;   /* under mu: jobs cancelled before their turn */
    struct fs_op *pending;   /* under mu: jobs submitted, not started nor claimed */
} fs_turns;

static inline void fs_turns_init(fs_turns *t)
{
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->next = t->serving = 0;
    t->skipped = NULL;
    t->pending = NULL;
}

static inline void fs_turns_destroy(fs_turns *t)
{
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
}

typedef struct fs_op fs_op;
struct fs_op {
    _Atomic int refs;
    bool heap;                  /* a task's request (else plain code's, on its stack) */
    void (*run)(fs_op *op);     /* the system calls: set rc and the results */
    void (*release)(fs_op *op); /* at the free: gives back `owner` (NULL: nothing) */
    void *owner;                /* the corio_file of a file call */
    fs_turns *turns;            /* a file call's: run in turn */
    uint64_t ticket;
    fs_op *next_skipped; /* in turns->skipped */
    fs_op *next_pending; /* in turns->pending */
    int pend;            /* under the turns' mu: FS_PEND_* */
    ssize_t rc; /* the call's outcome: a count, 0 or a negative code */
    /* inputs */
    const char *path, *path2;
    int fd_in;
    void *dst;
    const void *src;
    size_t len;
    off_t off;
    int flags;
    mode_t mode;
    /* results that need giving back if nobody takes them */
    int fd;                /* an opened fd, -1 */
    char *data;            /* read_file's buffer */
    size_t n;              /* its length, or the listing's count */
    corio_fs_dirent *ents; /* read_dir's listing */
    struct stat st;
    _Alignas(16) char mem[]; /* a task's request: copies of paths, data */
};

enum { FS_PEND_NO = 0, FS_PEND_QUEUED = 1, FS_PEND_CLAIMED = 2 };

static inline void fs_op_init(fs_op *op)
{
    memset(op, 0, sizeof *op);
    op->fd = -1;
    op->fd_in = -1;
    atomic_init(&op->refs, 1);
}

/* A task's request with `extra` bytes of `mem`. NULL when out of memory. */
static inline fs_op *fs_op_new(size_t extra)
{
    if (extra > SIZE_MAX - sizeof(fs_op))
        return NULL;
    fs_op *op = malloc(sizeof(fs_op) + extra);
    if (op) {
        fs_op_init(op);
        op->heap = true;
    }
    return op;
}

static inline void fs_op_free(fs_op *op)
{
    if (op->fd >= 0)
        close(op->fd);
    free(op->data);
    free(op->ents);
    if (op->release)
        op->release(op);
    if (op->heap)
        free(op);
}

static inline void fs_op_unref(fs_op *op)
{
    /* AcqRel: the last one out sees the other's writes before freeing. */
    if (!op->heap || atomic_fetch_sub_explicit(&op->refs, 1, memory_order_acq_rel) == 1)
        fs_op_free(op);
}

/* The turn of the request that was being served is over: serve the next
 * ticket, skipping those whose jobs were cancelled before they ran (their
 * references, kept until now, go). */
static inline void fs_turns_pass(fs_turns *t)
{
    fs_op *done = NULL;
    pthread_mutex_lock(&t->mu);
    t->serving++;
    for (fs_op **pp = &t->skipped; *pp;) {
        if ((*pp)->ticket != t->serving) {
            pp = &(*pp)->next_skipped;
            continue;
        }
        fs_op *op = *pp;
        *pp = op->next_skipped;
        op->next_skipped = done;
        done = op;
        t->serving++;
        pp = &t->skipped; /* the next one may be earlier in the list */
    }
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    while (done) { /* after the unlock: the last may free the file, turns and all */
        fs_op *next = done->next_skipped;
        fs_op_unref(done);
        done = next;
    }
}

/* Under t->mu: take `op` off the pending list; true when a plain caller
 * had claimed it (it runs there, or has run). */
static inline bool fs_turns_unpend(fs_turns *t, fs_op *op)
{
    if (op->pend == FS_PEND_CLAIMED)
        return true;
    for (fs_op **pp = &t->pending; *pp; pp = &(*pp)->next_pending) {
        if (*pp == op) {
            *pp = op->next_pending;
            break;
        }
    }
    op->pend = FS_PEND_NO;
    return false;
}

/* Plain code's turn (`ticket`): wait for it, running meanwhile the
 * requests ahead whose jobs have not started (see the top). */
static inline void fs_turns_wait_plain(fs_turns *t, uint64_t ticket)
{
    pthread_mutex_lock(&t->mu);
    while (t->serving != ticket) {
        fs_op *op = t->pending;
        while (op && op->ticket != t->serving)
            op = op->next_pending;
        if (!op) {
            pthread_cond_wait(&t->cv, &t->mu);
            continue;
        }
        fs_turns_unpend(t, op);
        op->pend = FS_PEND_CLAIMED;
        /* Relaxed: the job's reference, alive while op was pending (its
         * job takes it off the list under mu first), keeps the count
         * above 0; mu orders the rest. */
        atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
        pthread_mutex_unlock(&t->mu);
        op->run(op);
        fs_turns_pass(t); /* also tells its job that it has run */
        fs_op_unref(op);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
}

static inline int fs_job(void *arg)
{
    fs_op *op = arg;
    fs_turns *t = op->turns;
    if (t) {
        pthread_mutex_lock(&t->mu);
        bool claimed = fs_turns_unpend(t, op);
        /* Claimed: wait until it has run (its turn passed, under mu: its
         * results are then seen by whoever joins this job). */
        while (claimed ? t->serving <= op->ticket : t->serving != op->ticket)
            pthread_cond_wait(&t->cv, &t->mu);
        pthread_mutex_unlock(&t->mu);
        if (claimed) {
            fs_op_unref(op);
            return 0;
        }
    }
    op->run(op);
    if (t)
        fs_turns_pass(t);
    fs_op_unref(op);
    return 0;
}

/* The job was cancelled before it ran (the pool is shutting down: this
 * runs on the thread that shuts it down). It must not wait for its turn -
 * the call being served may block for ever, and the shutdown has a
 * deadline - so a job whose turn has not come is left in the turns'
 * skipped list, with its reference, for the turn before it to pass on. */
static inline void fs_job_cancelled(void *arg)
{
    fs_op *op = arg;
    if (op->turns) {
        fs_turns *t = op->turns;
        pthread_mutex_lock(&t->mu);
        if (fs_turns_unpend(t, op)) {
            /* A plain caller runs it, with a reference of its own; no
             * wait here (the shutdown has a deadline), and its results
             * are nobody's: the caller sees its join cancelled. */
            pthread_mutex_unlock(&t->mu);
            fs_op_unref(op);
            return;
        }
        op->rc = CORIO_ESHUTDOWN;
        bool now = t->serving == op->ticket;
        if (!now) {
            op->next_skipped = t->skipped;
            t->skipped = op;
        }
        pthread_mutex_unlock(&t->mu);
        if (!now)
            return;
        fs_turns_pass(t);
    } else {
        op->rc = CORIO_ESHUTDOWN;
    }
    fs_op_unref(op);
}

/* Where the call is made: FS_PLAIN (make the system calls here), FS_TASK
 * (a coroutine task: through the pool), or the code an await would return
 * now (cancelled, past a deadline, a stackless poll: CORIO_EWRONGCTX).
 * A blocking pool's thread has no worker: plain code. */
enum { FS_PLAIN = 0, FS_TASK = 1 };

static inline int fs_context(void)
{
    if (!worker_current())
        return FS_PLAIN;
    int rc = coro_await_enter();
    return rc ? rc : FS_TASK;
}

/* Hand a task's request to the pool: 0 and *job (a handle to join, whose
 * completion says the request has run), or -ENOMEM, -EAGAIN (no pool
 * thread), CORIO_ESHUTDOWN; then the job never was, and the request has
 * the caller's reference only. */
static inline int fs_op_submit(fs_op *op, corio_task **job)
{
    /* Relaxed: the spawn publishes the request to the job. */
    atomic_store_explicit(&op->refs, 2, memory_order_relaxed);
    blocking_pool *pool = rt_current()->pool;
    int rc;
    if (op->turns) {
        pthread_mutex_lock(&op->turns->mu);
        op->ticket = op->turns->next++;
        rc = blocking_pool_spawn_owned(pool, NULL, NULL, fs_job, fs_job_cancelled, op, job);
        if (rc < 0) {
            op->turns->next--; /* nobody else took one: we hold the lock */
        } else { /* the job looks for itself here first, under the lock */
            op->pend = FS_PEND_QUEUED;
            op->next_pending = op->turns->pending;
            op->turns->pending = op;
        }
        pthread_mutex_unlock(&op->turns->mu);
    } else {
        rc = blocking_pool_spawn_owned(pool, NULL, NULL, fs_job, fs_job_cancelled, op, job);
    }
    if (rc < 0)
        atomic_store_explicit(&op->refs, 1, memory_order_relaxed); /* the job never was */
    return rc;
}

/* Run `op`: 0 when it ran (op->rc is the outcome, its results are in it),
 * or the wait's code: -ENOMEM, -EAGAIN (no pool thread), CORIO_ESHUTDOWN,
 * CORIO_ECANCELED, CORIO_ETIMEDOUT; then the caller must not look at the
 * results (the job may still be running). Either way the caller then
 * drops its reference (fs_op_unref). */
static inline int fs_op_exec(fs_op *op)
{
    if (!op->heap) {
        if (op->turns) {
            pthread_mutex_lock(&op->turns->mu);
            op->ticket = op->turns->next++;
            pthread_mutex_unlock(&op->turns->mu);
            fs_turns_wait_plain(op->turns, op->ticket);
        }
        op->run(op);
        if (op->turns)
            fs_turns_pass(op->turns);
        return 0;
    }
    corio_task *job;
    int rc = fs_op_submit(op, &job);
    if (rc < 0)
        return rc;
    return blocking_job_join(job);
}

/* A copy of `s` in the request's memory at *at, which moves past it. */
static inline const char *fs_op_copy_str(fs_op *op, size_t *at, const char *s, size_t len)
{
    char *p = op->mem + *at;
    memcpy(p, s, len + 1);
    *at += len + 1;
    return p;
}

/* ---- calls, as blocking calls and as futures --------------------------------------
 *
 * Every call of corio/fs.h is described once, by a corio_fs_fut holding its
 * arguments and an fs_call saying how to turn them into a request and the
 * request's results into the caller's out-parameters. The blocking call
 * fills a future on its own stack and runs it with fs_call_run (plain code:
 * here; a task: through the pool, joined); the future form polls the same
 * description (fs_fut_vt): at its first poll it makes the request and hands
 * it to the pool, then it polls a join future on the job. Dropped while the
 * job runs, it gives back its handle and its reference: the job finishes
 * alone, on its own copies, and never touches the caller's memory - the
 * results are copied out (take) only by the poll that sees the job done.
 */
typedef struct fs_call {
    /* Fill a request for `ctx` (FS_PLAIN: `local`, the caller's own
     * buffers; FS_TASK: the heap, with copies): 0 and *out, 1 when there is
     * nothing to do (the call's outcome is 0), or -ENOMEM. */
    int (*make)(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out);
    /* The request has run: move its results out to the caller (a result
     * taken is cleared in the request, so that its free leaves it) and
     * return the call's outcome, op->rc. */
    ssize_t (*take)(corio_fs_fut *f, fs_op *op);
    /* Set the out-parameters as they are on a failure (NULL, 0); NULL:
     * the call has none. They may be NULL pointers. */
    void (*clear)(corio_fs_fut *f);
    /* write_all: the call is made again for the rest until all len_ bytes
     * are done (f->done); 0 when they are. */
    bool repeat;
} fs_call;

/* The take of a call whose only result is its outcome. */
static inline ssize_t fs_take_rc(corio_fs_fut *f, fs_op *op)
{
    (void)f;
    return op->rc;
}

enum { FS_FUT_IDLE = 0, FS_FUT_RUNNING = 1, FS_FUT_DONE = 2 };

/* The blocking call: its outcome, or the wait's code. */
static inline ssize_t fs_call_run(corio_fs_fut *f)
{
    const fs_call *c = f->call_;
    if (c->clear)
        c->clear(f);
    if (f->err_)
        return f->err_;
    int ctx = fs_context();
    if (ctx < 0)
        return ctx;
    fs_op local, *op;
    int rc = c->make(f, ctx, &local, &op);
    if (rc)
        return rc > 0 ? 0 : rc;
    ssize_t r = fs_op_exec(op);
    if (r == 0)
        r = c->take(f, op);
    fs_op_unref(op);
    return r;
}

/* One step of a future: the outcome of the request it makes now (FS_PLAIN,
 * outside any runtime: here and at once) and 1, or 0 with the job handed
 * to the pool and f->join_ set, or the code that ends the future and 1. */
static inline int fs_fut_start(corio_fs_fut *f, ssize_t *res)
{
    const fs_call *c = f->call_;
    /* A poll function runs on a worker; only a future polled by hand
     * outside any runtime sees none. */
    int ctx = worker_current() ? FS_TASK : FS_PLAIN;
    fs_op local, *op;
    int rc = c->make(f, ctx, &local, &op);
    if (rc) {
        *res = rc > 0 ? 0 : rc;
        return 1;
    }
    if (ctx == FS_PLAIN) {
        fs_op_exec(op);
        *res = c->take(f, op);
        fs_op_unref(op);
        return 1;
    }
    corio_task *job;
    if ((rc = fs_op_submit(op, &job)) < 0) {
        fs_op_unref(op);
        *res = rc;
        return 1;
    }
    f->op_ = op;
    corio_join_fut_init(&f->join_, job);
    f->state_ = FS_FUT_RUNNING;
    return 0;
}

static inline corio_poll fs_fut_poll(corio_future *base, corio_context *cx)
{
    corio_fs_fut *f = (corio_fs_fut *)base;
    if (f->state_ == FS_FUT_DONE)
        return CORIO_READY; /* finished: polled again, it makes no call again */
    const fs_call *c = f->call_;
    ssize_t r = f->err_;
    while (r == 0) {
        if (f->state_ == FS_FUT_RUNNING || !fs_fut_start(f, &r)) {
            if (corio_future_poll(&f->join_.base, cx) == CORIO_PENDING)
                return CORIO_PENDING;
            fs_op *op = f->op_;
            int jrc = f->join_.base.result;
            corio_task_release(f->join_.task);
            f->op_ = NULL;
            f->state_ = FS_FUT_IDLE;
            /* Cancelled before it ran: the pool is closing. */
            r = jrc == 0 ? c->take(f, op) : jrc == CORIO_ECANCELED ? CORIO_ESHUTDOWN : jrc;
            fs_op_unref(op);
        }
        if (!c->repeat || r < 0)
            break;
        f->done += (size_t)r;
        if (f->done >= f->len_) {
            r = 0;
            break;
        }
        if (r == 0) {
            r = -EIO; /* write(2) took nothing of a regular file: never loop */
            break;
        }
        r = 0; /* the rest, at once */
    }
    if (r < 0 && c->clear)
        c->clear(f);
    f->state_ = FS_FUT_DONE;
    base->result = (int)r;
    return CORIO_READY;
}

static inline void fs_fut_drop(corio_future *base)
{
    corio_fs_fut *f = (corio_fs_fut *)base;
    if (f->state_ != FS_FUT_RUNNING)
        return;
    /* The job goes on alone, on its own request; whoever is last frees it. */
    corio_future_drop(&f->join_.base);
    corio_task_release(f->join_.task);
    fs_op_unref(f->op_);
    f->op_ = NULL;
    f->state_ = FS_FUT_DONE;
}

static const corio_future_vtable fs_fut_vt = {fs_fut_poll, fs_fut_drop};

/* Start describing a call in `f` (NULL: nothing), -EINVAL for it when `ok`
 * is false. */
static inline bool fs_fut_init(corio_fs_fut *f, const fs_call *c, bool ok)
{
    if (!f)
        return false;
    memset(f, 0, sizeof *f);
    f->call_ = c;
    f->err_ = ok ? 0 : -EINVAL;
    corio_future_init(&f->base, &fs_fut_vt);
    return true;
}

#endif
