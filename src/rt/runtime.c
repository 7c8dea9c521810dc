/* rt/runtime.c - the runtime object and the current-thread scheduler.
 *
 * The thread inside corio_rt_block_on (or corio_rt_free) drives the runtime:
 * it runs ready tasks from the local FIFO, moves tasks pushed from other
 * threads (the inject queue, under a mutex) into it, fires due timers, and
 * parks in the I/O driver when nothing is ready. Other threads only touch the
 * inject queue and unpark the driver.
 *
 * Parking handshake (no lost wakeup): the driver sets parked=1 (with an
 * exchange), then reads the inject length; a pusher stores the length, then
 * exchanges parked to 0 and unparks if it was 1. Both sides are seq_cst and
 * each has a read-modify-write between its store and its load, so at least
 * one sees the other. The unpark happens under the inject lock, so corio_rt_free, which
 * takes that lock after closing, cannot free the driver under a pusher.
 *
 * Registry: every live task is on a list owned by the driving thread, so
 * shutdown can cancel them all. Tasks spawned from other threads join it when
 * the driver first pulls them from the inject queue.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/fiber.h"
#include "core/worker.h"
#include "corio/error.h"
#include "corio/runtime.h"
#include "io/driver.h"
#include "rt/queue.h"
#include "time/wheel.h"

typedef struct sched {
    size_t stack_size;
    unsigned event_interval;
    worker w;
    task_queue runq; /* driving thread only */
    corio_task *registry;
    size_t live;
    wheel wheel;
    driver *drv;
    pthread_mutex_t inj_lock;
    task_queue inject;      /* under inj_lock */
    bool closed;            /* under inj_lock (read without it by the driver) */
    _Atomic size_t inj_len; /* mirror of inject.len, to skip the lock when empty */
    _Atomic int parked;
    _Atomic int driving;
} sched;

struct corio_rt {
    sched s;
};

/* initial-exec: one %fs-relative load instead of a __tls_get_addr call in
 * -fPIC code (the library is built position-independent for the .so). */
static __thread worker *tls_worker __attribute__((tls_model("initial-exec")));

__attribute__((noinline)) worker *worker_current(void)
{
    /* noinline plus the empty asm keep the compiler from caching the TLS
     * address in a caller across a coroutine switch. */
    worker *w = tls_worker;
    __asm__ volatile("" ::: "memory");
    return w;
}

__attribute__((noinline)) void worker_set_current(worker *w)
{
    tls_worker = w;
    __asm__ volatile("" ::: "memory");
}

struct wheel *sched_wheel(sched *s)
{
    return &s->wheel;
}

size_t sched_stack_size(sched *s)
{
    return s->stack_size;
}

sched *sched_of(corio_rt *rt)
{
    return &rt->s;
}

corio_rt *sched_rt(sched *s)
{
    return (corio_rt *)s;
}

static void reg_add(sched *s, corio_task *t)
{
    t->reg_prev = NULL;
    t->reg_next = s->registry;
    if (s->registry)
        s->registry->reg_prev = t;
    s->registry = t;
    t->flags |= TF_REGISTERED;
    s->live++;
}

void sched_unregister(sched *s, corio_task *t)
{
    if (!(t->flags & TF_REGISTERED))
        return;
    if (t->reg_prev)
        t->reg_prev->reg_next = t->reg_next;
    else
        s->registry = t->reg_next;
    if (t->reg_next)
        t->reg_next->reg_prev = t->reg_prev;
    t->reg_prev = t->reg_next = NULL;
    t->flags &= ~TF_REGISTERED;
    s->live--;
}

/* Push to the inject queue from any thread. Returns false if closed and
 * `refuse_if_closed`. */
static bool inject_push(sched *s, corio_task *t, bool refuse_if_closed)
{
    pthread_mutex_lock(&s->inj_lock);
    if (refuse_if_closed && s->closed) {
        pthread_mutex_unlock(&s->inj_lock);
        return false;
    }
    tq_push(&s->inject, t);
    atomic_store_explicit(&s->inj_len, s->inject.len, memory_order_seq_cst);
    if (atomic_exchange_explicit(&s->parked, 0, memory_order_seq_cst))
        driver_unpark(s->drv);
    pthread_mutex_unlock(&s->inj_lock);
    return true;
}

void sched_schedule(sched *s, corio_task *t)
{
    if (worker_current() == &s->w)
        tq_push(&s->runq, t);
    else
        inject_push(s, t, false);
}

void sched_requeue_yielded(worker *w, corio_task *t)
{
    tq_push(&w->sched->runq, t);
}

corio_task *sched_yield_next(worker *w, corio_task *self)
{
    if (w->budget == 0)
        return NULL;
    task_queue *q = &w->sched->runq;
    corio_task *head = q->head;
    if (!head) {
        w->budget--;
        return self;
    }
    if (!(head->flags & TF_YIELDED)) /* only coroutines ever carry it */
        return NULL;
    tq_pop(q);
    /* With many yielders, the next ones' headers and stack tops are cold:
     * start loading them a hand-off ahead (about +20% at 1000 tasks; two
     * ahead measured no better). */
    corio_task *after = q->head;
    if (after) {
        __builtin_prefetch(after->next);
        coro_prefetch(after);
    }
    self->flags |= TF_YIELDED;
    tq_push(q, self);
    w->budget--;
    return head;
}

int sched_submit(sched *s, corio_task *t)
{
    if (worker_current() == &s->w) {
        if (s->closed)
            return CORIO_ESHUTDOWN;
        reg_add(s, t);
        tq_push(&s->runq, t);
        return 0;
    }
    return inject_push(s, t, true) ? 0 : CORIO_ESHUTDOWN;
}

static void pull_inject(sched *s)
{
    if (atomic_load_explicit(&s->inj_len, memory_order_relaxed) == 0)
        return;
    task_queue q = {0};
    pthread_mutex_lock(&s->inj_lock);
    tq_take_all(&q, &s->inject);
    atomic_store_explicit(&s->inj_len, 0, memory_order_relaxed);
    pthread_mutex_unlock(&s->inj_lock);
    for (corio_task *t = q.head; t; t = t->next)
        if (!(t->flags & TF_REGISTERED))
            reg_add(s, t);
    tq_take_all(&s->runq, &q);
}

static void park(sched *s)
{
    corio_instant next = wheel_next_deadline(&s->wheel);
    /* An exchange, not a store: a seq_cst store followed by a seq_cst load
     * (STLR; LDAR on AArch64) is a correct Dekker handshake on hardware, but
     * qemu-user running AArch64 on an x86 host lets that store and load
     * pass each other (the suite hung 1 time in 2 there); a read-modify-write
     * is a full barrier in every implementation. */
    atomic_exchange_explicit(&s->parked, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&s->inj_len, memory_order_seq_cst) == 0) {
        int64_t timeout = -1;
        if (next != UINT64_MAX) {
            corio_instant now = corio_now();
            timeout = next > now ? (int64_t)(next - now) : 0;
        }
        driver_park(s->drv, timeout);
    }
    atomic_store_explicit(&s->parked, 0, memory_order_relaxed);
}

/* Drive until `until` completes, or (until == NULL) no task is left. */
static void run_until(sched *s, corio_task *until)
{
    for (;;) {
        corio_task *t;
        s->w.budget = s->event_interval;
        while (s->w.budget > 0 && (t = tq_pop(&s->runq)) != NULL) {
            s->w.budget--;
            task_run(t, &s->w);
        }
        pull_inject(s);
        wheel_advance(&s->wheel, corio_now());
        bool done = until ? task_is_complete(until) : s->live == 0;
        if (done)
            return;
        if (s->runq.len == 0) {
            /* Idle: give finished coroutines' stacks back first, a batch at
             * a time (about 0.2 ms), then look for work again before
             * sleeping. */
            if (stack_cache_has_dirty(&s->w.stacks) && stack_cache_trim(&s->w.stacks, 256))
                continue;
            park(s);
        }
    }
}

static void enter(sched *s)
{
    ctx_init_thread(&s->w.ctx);
    s->w.tsan_fiber = TSAN_CURRENT_FIBER();
    s->w.fpenv = ctx_fpenv_capture(); /* coroutines inherit the driver's */
    stack_overflow_handler_install();
    worker_set_current(&s->w);
}

static void leave(sched *s)
{
    worker_set_current(NULL);
    ctx_free_thread(&s->w.ctx);
}

/* ---- public ---------------------------------------------------------------- */

corio_rt_builder corio_rt_builder_current_thread(void)
{
    corio_rt_builder b;
    memset(&b, 0, sizeof b);
    b.flavor = CORIO_RT_CURRENT_THREAD;
    b.stack_size = CORIO_DEFAULT_STACK_SIZE;
    b.event_interval = 61;
    return b;
}

int corio_rt_build(const corio_rt_builder *b, corio_rt **out)
{
    if (!b || !out || b->flavor != CORIO_RT_CURRENT_THREAD)
        return -EINVAL;
    corio_rt *rt = calloc(1, sizeof *rt);
    if (!rt)
        return -ENOMEM;
    sched *s = &rt->s;
    s->stack_size = stack_round_size(b->stack_size ? b->stack_size : CORIO_DEFAULT_STACK_SIZE);
    s->event_interval = b->event_interval ? b->event_interval : 61;
    s->w.sched = s;
    stack_cache_init(&s->w.stacks, s->stack_size);
    wheel_init(&s->wheel, corio_now());
    int rc = driver_open(&s->drv);
    if (rc < 0) {
        free(rt);
        return rc;
    }
    pthread_mutex_init(&s->inj_lock, NULL);
    *out = rt;
    return 0;
}

static const corio_spawn_site main_site = {"<block_on>", 0, "corio_rt_block_on"};

static int block_on_task(sched *s, corio_task *main, int *result)
{
    run_until(s, main);
    leave(s);
    atomic_store_explicit(&s->driving, 0, memory_order_release);
    return task_join_finished(main, result);
}

static int block_on_begin(sched *s)
{
    if (worker_current())
        return CORIO_EWRONGCTX;
    if (atomic_exchange_explicit(&s->driving, 1, memory_order_acquire))
        return -EBUSY;
    if (s->closed) {
        atomic_store_explicit(&s->driving, 0, memory_order_release);
        return CORIO_ESHUTDOWN;
    }
    enter(s);
    return 0;
}

static void block_on_abort(sched *s)
{
    leave(s);
    atomic_store_explicit(&s->driving, 0, memory_order_release);
}

int corio_rt_block_on(corio_rt *rt, corio_fn fn, void *arg, int *result)
{
    if (!rt || !fn)
        return -EINVAL;
    sched *s = &rt->s;
    int rc = block_on_begin(s);
    if (rc < 0)
        return rc;
    corio_task *main;
    corio_spawn_opts o = {.rt = rt};
    rc = corio_spawn_at(&main, &o, fn, arg, &main_site);
    if (rc < 0) {
        block_on_abort(s);
        return rc;
    }
    int value = 0;
    rc = block_on_task(s, main, &value);
    if (result)
        *result = value;
    return rc;
}

/* Polls a future that lives outside the task, through a pointer. */
typedef struct ref_fut {
    corio_future base;
    corio_future *inner;
} ref_fut;

static corio_poll ref_fut_poll(corio_future *f, corio_context *cx)
{
    ref_fut *r = (ref_fut *)f;
    if (corio_future_poll(r->inner, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    f->result = r->inner->result;
    return CORIO_READY;
}

static void ref_fut_drop(corio_future *f)
{
    corio_future_drop(((ref_fut *)f)->inner);
}

static const corio_future_vtable ref_fut_vtable = {ref_fut_poll, ref_fut_drop};

int corio_rt_block_on_future(corio_rt *rt, corio_future *fut)
{
    if (!rt || !fut)
        return -EINVAL;
    sched *s = &rt->s;
    int rc = block_on_begin(s);
    if (rc < 0)
        return rc;
    /* The future stays where the caller put it: spawn a small stackless
     * wrapper that polls it through a pointer. */
    ref_fut rf = {{&ref_fut_vtable, 0}, fut};
    corio_task *main;
    corio_spawn_opts o = {.rt = rt};
    rc = corio_spawn_future_at(&main, &o, &rf.base, sizeof rf, &main_site);
    if (rc < 0) {
        block_on_abort(s);
        return rc;
    }
    int value = 0;
    rc = block_on_task(s, main, &value);
    return rc < 0 ? rc : value;
}


/* Free a closed runtime that has no task left. */
static void rt_destroy(sched *s)
{
    stack_cache_flush(&s->w.stacks);
    /* Synchronise with a pusher still inside inject_push (see the top). */
    pthread_mutex_lock(&s->inj_lock);
    pthread_mutex_unlock(&s->inj_lock);
    pthread_mutex_destroy(&s->inj_lock);
    driver_close(s->drv);
    free(sched_rt(s));
}

/* ---- corio_rt_free from a task: the shutdown on a helper thread ---------- */

typedef struct free_job {
    corio_future base;
    corio_rt *rt;
    pthread_mutex_t mu;
    bool done;
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
    corio_rt_free(j->rt);
    pthread_mutex_lock(&j->mu);
    j->done = true;
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
    if (!done)
        corio_waker_store(&j->waker, cx->waker);
    pthread_mutex_unlock(&j->mu);
    return done ? CORIO_READY : CORIO_PENDING;
}

static const corio_future_vtable free_job_vtable = {free_job_poll, NULL};

static void free_on_thread(corio_rt *rt)
{
    free_job *j = calloc(1, sizeof *j);
    pthread_attr_t attr;
    pthread_t th;
    if (j) {
        corio_future_init(&j->base, &free_job_vtable);
        j->rt = rt;
        pthread_mutex_init(&j->mu, NULL);
        atomic_init(&j->refs, 2);
    }
    if (!j || pthread_attr_init(&attr) != 0) {
        fprintf(stderr, "corio: corio_rt_free: out of memory for the shutdown thread; runtime "
                        "leaked\n");
        free(j);
        return;
    }
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, free_thread, j);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        fprintf(stderr, "corio: corio_rt_free: cannot start the shutdown thread (%s); runtime "
                        "leaked\n",
                corio_strerror(-rc));
        pthread_mutex_destroy(&j->mu);
        free(j);
        return;
    }
    /* If the waiting task is cancelled, the shutdown still completes. */
    corio_await(&j->base);
    free_job_unref(j);
}

void corio_rt_free(corio_rt *rt)
{
    if (!rt)
        return;
    sched *s = &rt->s;
    worker *cur = worker_current();
    if (cur) {
        if (cur->sched == s) {
            fprintf(stderr, "corio: corio_rt_free called from one of the runtime's own tasks: "
                            "ignored (%s)\n",
                    corio_strerror(CORIO_EWRONGCTX));
            return;
        }
        /* From a task of another runtime: this thread cannot drive a second
         * runtime, so a helper thread runs the shutdown while the calling
         * task waits (suspended, not blocking its thread). */
        free_on_thread(rt);
        return;
    }
    if (atomic_exchange_explicit(&s->driving, 1, memory_order_acquire)) {
        fprintf(stderr, "corio: corio_rt_free while another thread drives the runtime: ignored\n");
        return;
    }
    enter(s);
    pthread_mutex_lock(&s->inj_lock);
    s->closed = true;
    pthread_mutex_unlock(&s->inj_lock);
    pull_inject(s);
    for (corio_task *t = s->registry; t; t = t->reg_next)
        task_cancel(t);
    run_until(s, NULL);
    leave(s);
    rt_destroy(s);
}

corio_rt *corio_rt_current(void)
{
    worker *w = worker_current();
    return w ? sched_rt(w->sched) : NULL;
}

int corio_run(corio_fn fn, void *arg)
{
    if (worker_current())
        return CORIO_EWRONGCTX; /* a runtime cannot be driven from a task */
    corio_rt *rt;
    corio_rt_builder b = corio_rt_builder_current_thread();
    int rc = corio_rt_build(&b, &rt);
    if (rc < 0)
        return rc;
    int result = 0;
    rc = corio_rt_block_on(rt, fn, arg, &result);
    corio_rt_free(rt);
    return rc < 0 ? rc : result;
}
