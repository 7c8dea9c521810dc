/* core/coro.c - coroutine tasks: spawn, the await loop, yield,
 * interruption scopes, stack overflow reports.
 *
 * A coroutine task is polled by switching to its stack; it runs until it
 * awaits a pending future (it switches back and the task goes idle), yields
 * (it switches back, still RUNNING, and is queued at the back), or returns.
 * The stack is taken at the first poll and given back at the end, so a task
 * that has not started costs only this struct.
 *
 * Invariant: code running on a coroutine stack never keeps a worker pointer
 * across a switch (the coroutine may resume on another thread); it asks
 * worker_current() again.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/coro.h"

#include "arch/fiber.h"
#include "core/task_run.h"
#include "core/taskmem.h"
#include "core/worker.h"
#include "corio/error.h"
#include "corio/task.h"

_Static_assert(STACK_SIZE_MAX == CORIO_STACK_SIZE_MAX, "one stack size limit");

#if UINTPTR_MAX == UINT64_MAX && !defined(CORIO_ASAN) && !defined(CORIO_TSAN)
_Static_assert(sizeof(coro) == 120, "coroutine task grew (docs/runtime.md lists its size)");
#endif
/* Allocated and freed as a whole number of 16-byte units (mem_units):
 * 128 bytes, which taskmem places on a 128-byte boundary, so that no two
 * tasks share a cache line (or an adjacent-line prefetch pair). Packed at
 * 112 bytes (its size then), two tasks running on two workers falsely
 * shared a line: every state change and waker reference of one pulled the
 * line from the other core (ping_pong with 2 pairs on 2 workers: 3.5M
 * round trips/s packed, 6-7M aligned). tokio aligns its tasks to 128 bytes
 * for the same reason. */
#define CORO_BLOCK 128
_Static_assert(sizeof(coro) <= CORO_BLOCK, "struct coro outgrew its 128-byte block");
#define CORO_UNITS (CORO_BLOCK / 16)

static coro *current_coro(void)
{
    worker *w = worker_current();
    return w ? w->coro : NULL;
}

/* ---- switching ------------------------------------------------------------ */

static void coro_entry(void *p)
{
    coro *c = p;
    {
        worker *w = worker_current();
        (void)w;
        ASAN_FINISH_SWITCH(NULL, &w->asan_stack_bottom, &w->asan_stack_size);
    }
    corio_fn fn = c->fn;
    void *arg = c->arg;
    c->scope = NULL; /* overlays fn/arg from here on */
    c->handoff = NULL;
    int r = fn(arg);
    c->t.result = r;
    c->t.poll_flags |= TF_FINISHED;
    worker *w = worker_current();
    ASAN_START_SWITCH(NULL, w->asan_stack_bottom, w->asan_stack_size);
    TSAN_SWITCH_TO(w->tsan_fiber);
    ctx_switch(&c->ctx, &w->ctx);
    abort(); /* a finished coroutine is never resumed */
}

/* Switch from the context `from` into coroutine `to`, telling the sanitizers
 * (`fake`: where ASan keeps the fake stack of the context being left).
 * `peer`: from a coroutine suspended in corio_yield to another one
 * suspended there (see ctx_switch_peer). */
static inline void switch_into(arch_ctx *from, void **fake, coro *to, bool peer)
{
#ifdef CORIO_ASAN
    ASAN_START_SWITCH(fake, to->stk->lo, to->stk->size);
#else
    (void)fake;
#endif
#ifdef CORIO_TSAN
    TSAN_SWITCH_TO(to->tsan_fiber);
#endif
    /* The canary is checked when `to` switches out again: start loading
     * its line now, while `to` runs (it lies at the far end of the stack,
     * cold, and was a cache miss at nearly every switch out once a worker
     * ran more coroutines than fit in its caches). */
    if (to->canary)
        __builtin_prefetch(to->canary);
    if (peer)
        ctx_switch_peer(from, &to->ctx);
    else
        ctx_switch(from, &to->ctx);
#ifdef CORIO_ASAN
    ASAN_FINISH_SWITCH(*fake, NULL, NULL);
#endif
}

#ifdef CORIO_ASAN
#define CORO_FAKE_STACK(c) (&(c)->asan_fake)
#else
#define CORO_FAKE_STACK(c) ((void **)NULL)
#endif

/* From the coroutine back to its worker's loop. */
static void coro_suspend(coro *c)
{
    worker *w = worker_current();
#ifdef CORIO_ASAN
    ASAN_START_SWITCH(&c->asan_fake, w->asan_stack_bottom, w->asan_stack_size);
#endif
    TSAN_SWITCH_TO(w->tsan_fiber);
    ctx_switch(&c->ctx, &w->ctx);
#ifdef CORIO_ASAN
    ASAN_FINISH_SWITCH(c->asan_fake, NULL, NULL);
#endif
}

/* Decimal digits of v into buf (at least 21 bytes); async-signal-safe. */
static const char *fmt_ulong(char *buf, unsigned long v)
{
    char *p = buf + 20;
    *p = 0;
    do
        *--p = (char)('0' + v % 10);
    while (v /= 10);
    return p;
}

static void report_overflow(coro *c) __attribute__((noreturn));
static void report_overflow(coro *c)
{
    /* Only async-signal-safe calls: this also runs in the SIGSEGV handler. */
    const char *name = corio_task_name(&c->t);
    const corio_spawn_site *site = c->t.site;
    char id[21], line[21], size[21];
    const char *parts[] = {
        "corio: stack overflow in task ", fmt_ulong(id, (unsigned long)c->t.id), " '",
        name ? name : "(unnamed)", "' spawned at ", site ? site->file : "?", ":",
        fmt_ulong(line, (unsigned long)(site ? site->line : 0)), " (", site ? site->func : "?",
        "), stack size ", fmt_ulong(size, (unsigned long)c->stk->size),
        " bytes; raise it with corio_spawn_opts.stack_size or corio_rt_builder.stack_size\n"};
    char buf[512];
    size_t len = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t pl = strlen(parts[i]);
        if (len + pl >= sizeof buf)
            pl = sizeof buf - 1 - len;
        memcpy(buf + len, parts[i], pl);
        len += pl;
    }
    ssize_t wr = write(2, buf, len);
    (void)wr;
    signal(SIGABRT, SIG_DFL);
    abort();
}

void coro_check_fault(const void *addr, const void *sp)
{
    coro *c = current_coro();
    if (c && (c->t.poll_flags & TF_STARTED) && c->stk && stack_is_overflow_fault(c->stk, addr, sp))
        report_overflow(c);
}

bool coro_poll(corio_task **tp, worker *w, bool cancelled)
{
    coro *c = (coro *)*tp;
    (void)cancelled; /* the coroutine reads CANCELLED itself at each await */
    if (!(c->t.poll_flags & TF_STARTED)) {
        size_t sz = c->req_stack ? c->req_stack : w->sched->stack_size;
        stack *stk = stack_get(&w->stacks, sz);
        if (!stk) {
            c->t.result = -ENOMEM; /* could not start: the function never ran */
            return true;
        }
        c->stk = stk;
        /* Kept in the task, so that the check at each switch out does not
         * read the stack's descriptor (a cache line of its own, missed at
         * every switch once a worker runs more coroutines than fit in L1). */
        c->canary = stack_canary(stk);
        c->t.poll_flags |= TF_STARTED;
        ctx_make(&c->ctx, stack_usable_lo(c->stk), stack_usable_size(c->stk), coro_entry, c,
                 w->fpenv);
#ifdef CORIO_TSAN
        /* One fiber per stack, reused by each coroutine that runs on it:
         * the next one starts after the previous one finished and its
         * stack went through this worker's cache or the pool (the pool's
         * mutex), so the order TSan then sees between them is a real one. */
        if (!stk->fiber)
            stk->fiber = TSAN_CREATE_FIBER();
        c->tsan_fiber = stk->fiber;
#endif
    }
    w->current = &c->t;
    w->coro = c;
    w->coop = CORIO_COOP_BUDGET;
    switch_into(&w->ctx, &w->asan_fake_stack, c, false);
    /* The coroutine that switched back may be another one (direct yields). */
    c = (coro *)w->current;
    w->current = NULL;
    w->coro = NULL;
    *tp = &c->t;
    if (c->canary && !stack_canary_ok(c->canary))
        report_overflow(c);
    if (!(c->t.poll_flags & TF_FINISHED))
        return false;
    stack_put(&w->stacks, c->stk);
    c->stk = NULL;
    return true;
}

/* ---- awaiting ------------------------------------------------------------- */

/* The interruption an await would see from the scopes of the chain that
 * starts at `sc`, walking outward, and from the task's cancellation: the
 * innermost scope that has ended, unless the task is cancelled, which wins.
 * A shield (a scope with no `ended` hook) ends the walk: what lies beyond
 * it, cancellation included, is held back. `*hit` receives the scope whose
 * code is returned (NULL for cancellation or nothing). Calls the hooks of
 * the scopes it passes (they are sticky, so calling one again is harmless)
 * but delivers nothing. */
static int interruption_from(coro *c, coro_scope *sc, coro_scope **hit)
{
    /* Relaxed: only the flag itself is acted on; nothing is published with
     * it. */
    bool cancelled = atomic_load_explicit(&c->t.state, memory_order_relaxed) & ST_CANCELLED;
    *hit = NULL;
    for (; sc; sc = sc->outer) {
        if (!sc->ended) /* a shield */
            return *hit ? (*hit)->code : 0;
        if (!*hit) {
            if (!sc->is_ended && sc->ended(sc))
                sc->is_ended = true;
            if (sc->is_ended) {
                *hit = sc;
                if (!cancelled)
                    return sc->code; /* no shield further out can hold it back */
            }
        }
    }
    if (cancelled) {
        *hit = NULL;
        return CORIO_ECANCELED;
    }
    return *hit ? (*hit)->code : 0;
}

/* The error an await must return now, if any: cancellation first, then the
 * innermost scope that has ended, both up to the innermost shield. Both are
 * sticky. */
static __attribute__((noinline)) int coro_interrupted_slow(coro *c)
{
    coro_scope *hit;
    int err = interruption_from(c, c->scope, &hit);
    if (hit)
        hit->delivered = true;
    else if (err)
        c->t.poll_flags |= TF_CANCEL_SEEN;
    return err;
}

static inline int coro_interrupted(coro *c)
{
    /* Relaxed, as above. The common case, inline: not cancelled, no scope.
     * A shield is a scope, so a shielded task takes the slow path: the
     * common path tests exactly what it tested before shields existed. */
    if (__builtin_expect(!(atomic_load_explicit(&c->t.state, memory_order_relaxed) & ST_CANCELLED) &&
                             !c->scope,
                         1))
        return 0;
    return coro_interrupted_slow(c);
}

/* Resumed by a direct switch from another coroutine: finish what that one
 * left to do now that its context is saved - queue it if it yielded
 * (sched.h, yield_next: flagged TF_YIELDED), or, if it suspended
 * (suspend_pending), the loop's after-poll step: idle, or queued again when
 * woken meanwhile. Before its context was saved, another worker could have
 * resumed it half-saved. Reads only this coroutine's own fields unless
 * there is one: a scheduler that never defers pays one load. */
static __attribute__((noinline)) void queue_handoff(coro *c)
{
    corio_task *d = c->handoff;
    c->handoff = NULL;
    if (d->poll_flags & TF_YIELDED) {
        worker *w = worker_current(); /* afresh: we may be on another thread */
        w->sched->vt->yielded(w, d);
        return;
    }
    task_poll_pending(d);
}

static inline void take_handoff(coro *c)
{
    if (__builtin_expect(c->handoff != NULL, 0))
        queue_handoff(c);
}

/* corio_yield's way back to the scheduler loop, which requeues us (kept
 * out of line: the common yield is the direct switch below). */
static __attribute__((noinline)) int yield_to_loop(coro *c, bool check)
{
    c->t.poll_flags |= TF_YIELDED;
    coro_suspend(c);
    take_handoff(c);
    return check ? coro_interrupted(c) : 0;
}

/* corio_yield's body, inlined into it and into corio_await's cooperative
 * yield, so that corio_yield keeps the one caller a tight loop of yields
 * may have (LTO then inlines it there).
 *
 * `check`: report an interruption (cancellation, an ended deadline scope)
 * as corio_yield does. The budget yields of an await that already
 * completed pass false: checking would mark a scope's deadline as
 * delivered (coro_interrupted_slow) although no await returned it, and
 * corio_timeout_call would then report a timeout for a body whose every
 * await succeeded. The next await checks anyway. */
static inline __attribute__((always_inline)) int yield_now(bool check)
{
    worker *w = worker_current();
    if (__builtin_expect(!w || !w->coro, 0))
        return CORIO_EWRONGCTX;
    coro *c = w->coro;
    if (check) {
        int err = coro_interrupted(c);
        if (err)
            return err;
    }
    corio_task *next = w->sched->vt->yield_next(w, &c->t);
    if (next == &c->t)
        return 0; /* nothing else is ready */
    if (__builtin_expect(!next, 0))
        return yield_to_loop(c, check);
    /* Hand the CPU straight to the next yielded coroutine: one switch
     * instead of two. We are queued already (or handed over below), still
     * RUNNING. */
    coro *n = (coro *)next;
    n->t.poll_flags &= ~TF_YIELDED;
    if (c->canary && !stack_canary_ok(c->canary))
        report_overflow(c);
    w->current = next;
    w->coro = n;
    w->coop = CORIO_COOP_BUDGET;
    if (w->deferred) { /* the scheduler left us to queue once switched */
        n->handoff = w->deferred;
        w->deferred = NULL;
    }
    switch_into(&c->ctx, CORO_FAKE_STACK(c), n, true);
    take_handoff(c);
    return check ? coro_interrupted(c) : 0;
}

int corio_yield(void)
{
    return yield_now(true);
}

/* Charge one completed await to the cooperative budget of worker `w` (the
 * caller's, read afresh); when it is spent, refill it and yield (an
 * interruption shows at the next await). True when it yielded: the
 * caller may be on another worker now. */
static inline bool coop_charge(worker *w)
{
    if (__builtin_expect(--w->coop != 0, 1))
        return false;
    w->coop = CORIO_COOP_BUDGET; /* also when nothing else is ready */
    (void)yield_now(false);
    return true;
}

/* After a poll that left `c` pending: if it was woken meanwhile (a future
 * that woke itself, a wake that raced the poll), take that wake and yield
 * instead of suspending (suspending would only have the loop queue it
 * again): no switch when nothing else is ready, one straight to the next
 * task otherwise, back to the loop when its budget is spent. True when it
 * did: the caller polls again. */
static inline bool take_wake_and_yield(coro *c)
{
    if (!state_take_notified(&c->t.state))
        return false;
    (void)yield_now(false);
    return true;
}

/* An await is pending: suspend until woken. Straight into the next task
 * when the scheduler offers one (sched.h, suspend_next), doing what the
 * loop does around a poll: the next one's to_running here, this one's
 * to_idle by the next one once the switch has saved this context
 * (queue_handoff); else back to the loop. */
static void suspend_pending(coro *c)
{
    worker *w = worker_current();
    corio_task *next = w->sched->vt->suspend_next ? w->sched->vt->suspend_next(w) : NULL;
    if (!next) {
        coro_suspend(c);
        take_handoff(c); /* resumed by the loop, or by a direct switch */
        return;
    }
    /* CANCELLED needs no handling here: the coroutine reads it itself at
     * its next await, as after a resume by the loop. */
    (void)task_poll_begin(next);
    if (c->canary && !stack_canary_ok(c->canary))
        report_overflow(c);
    coro *n = (coro *)next;
    n->handoff = &c->t; /* not flagged TF_YIELDED: its to_idle */
    w->current = next;
    w->coro = n;
    w->coop = CORIO_COOP_BUDGET;
    switch_into(&c->ctx, CORO_FAKE_STACK(c), n, false);
    /* Resumed: by the loop, by a suspension like this one, or by a yield
     * that left us the yielder to queue. */
    take_handoff(c);
}

int corio_await(corio_future *f)
{
    if (!f || !f->vtable || !f->vtable->poll)
        return -EINVAL;
    coro *c = current_coro();
    if (!c)
        return CORIO_EWRONGCTX;
    corio_waker wk = task_waker_borrowed(&c->t);
    corio_context cx = {&wk};
    for (;;) {
        int err = coro_interrupted(c);
        if (err) {
            corio_future_drop(f);
            return err;
        }
        if (f->vtable->poll(f, &cx) == CORIO_READY) {
            /* Read afresh: the task may have moved since it started. */
            (void)coop_charge(worker_current());
            return 0;
        }
        if (take_wake_and_yield(c))
            continue; /* an interruption: the loop's top sees it */
        suspend_pending(c);
    }
}

int coro_await_enter(void)
{
    coro *c = current_coro();
    if (!c)
        return CORIO_EWRONGCTX;
    return coro_interrupted(c);
}

void coro_await_ready(void)
{
    (void)coop_charge(worker_current());
}

int coro_await_woken(void)
{
    coro *c = current_coro();
    if (!take_wake_and_yield(c))
        return 0;
    int err = coro_interrupted(c);
    return err ? err : 1;
}

int coro_await_enter_polling(corio_waker *wk, uint32_t *rand)
{
    worker *w = worker_current();
    if (__builtin_expect(!w || !w->coro, 0))
        return CORIO_EWRONGCTX;
    coro *c = w->coro;
    if (__builtin_expect(coop_charge(w), 0))
        w = worker_current(); /* afresh: the yield may have moved us; the check below
                               * sees what it let in */
    int err = coro_interrupted(c);
    if (err)
        return err;
    *wk = task_waker_borrowed(&c->t);
    if (rand)
        *rand = worker_rand(w);
    return 0;
}


int coro_scope_enter(coro_scope *sc)
{
    coro *c = current_coro();
    if (!c)
        return CORIO_EWRONGCTX;
    int err = coro_interrupted(c);
    if (err)
        return err;
    sc->is_ended = false;
    sc->delivered = false;
    sc->outer = c->scope;
    c->scope = sc;
    return 0;
}

int coro_scope_exit(coro_scope *sc)
{
    coro *c = current_coro();
    if (c && c->scope == sc)
        c->scope = sc->outer;
    if (c && (c->t.poll_flags & TF_CANCEL_SEEN))
        return CORIO_ECANCELED;
    return sc->delivered ? sc->code : 0;
}

int coro_shield_enter(coro_scope *sh)
{
    coro *c = current_coro();
    if (!c)
        return CORIO_EWRONGCTX;
    sh->ended = NULL; /* what makes it a shield */
    sh->code = 0;
    sh->is_ended = false;
    sh->delivered = false;
    sh->outer = c->scope;
    c->scope = sh;
    return 0;
}

void coro_shield_exit(coro_scope *sh)
{
    coro *c = current_coro();
    if (c && c->scope == sh)
        c->scope = sh->outer;
}

int coro_shield_held_back(coro_scope *sh)
{
    coro *c = current_coro();
    if (!c || c->scope != sh)
        return 0;
    coro_scope *hit;
    /* Walk on as if the shield were not there (it is the innermost). */
    return interruption_from(c, sh->outer, &hit);
}

/* ---- spawning ------------------------------------------------------------- */

int corio_spawn_ex(const corio_spawn_opts *opts, const corio_spawn_site *site, corio_fn fn,
                   void *arg, corio_task **out)
{
    if (out)
        *out = NULL; /* on every failure (docs/conventions.md) */
    if (!fn || (opts && opts->stack_size > CORIO_STACK_SIZE_MAX))
        return -EINVAL;
    worker *here = worker_current();
    struct sched *s = spawn_target(opts, here);
    if (!s)
        return CORIO_EWRONGCTX;
    coro *c = taskmem_alloc(CORO_UNITS * 16);
    if (!c)
        return -ENOMEM;
    int rc = task_init(&c->t, false, s, opts, site, out != NULL);
    if (rc < 0) {
        taskmem_free(c, CORO_UNITS * 16);
        return rc;
    }
    c->t.mem_units = CORO_UNITS;
    c->req_stack = (opts && opts->stack_size) ? stack_round_size(opts->stack_size) : 0;
    c->fn = fn;
    c->arg = arg;
    rc = task_submit(&c->t, here);
    if (rc < 0)
        return rc;
    if (out)
        *out = &c->t;
    return 0;
}
