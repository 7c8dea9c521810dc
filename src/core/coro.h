/* core/coro.h - what other files need of coroutine tasks (internal).
 *
 * Interruption scopes: a coroutine carries a chain of scopes, innermost
 * first. Each await asks every scope of the chain whether it has ended (its
 * `ended` hook: the layer that made the scope decides what ending means; the
 * time layer's deadline scopes end when their timer fires). Once a scope has
 * ended, that await and every later await inside it return the scope's
 * `code` (CORIO_ETIMEDOUT for a deadline), so the code inside unwinds through
 * its own cleanup, as it does on cancellation, which is checked first. A
 * scope lives on the coroutine's stack; scopes are strictly nested.
 *
 * Shields: a scope with no `ended` hook is a shield. An await looks at the
 * chain only up to the innermost shield: neither the task's cancellation
 * nor a scope outside the shield reaches the awaits inside it (scopes
 * pushed inside the shield still do), and the wait in progress completes
 * normally. Nothing is lost: both are sticky, so the first await after the
 * shield is popped returns them. A shield costs the common await path
 * nothing: like any scope it makes `scope` non-NULL, which already sends
 * the await to the slow path, and a task without scopes tests exactly what
 * it tested before. Shields exist for waits that must not be cut short
 * because memory they protect is borrowed by others: a structured scope's
 * join (task/scope.c) waits for children that use its owner's stack, and a
 * JoinSet's free waits for the cleanup of the tasks it aborted; each is
 * bounded because it cancels what it waits for first. Such a wait asks
 * coro_shield_held_back what the shield is holding back (so that it can
 * cancel its children when its owner is cancelled), then goes on waiting.
 * A cancel while shielded still wakes the task (state_to_cancelled sets
 * NOTIFIED), so the shielded wait is polled once more and sees it.
 * Coroutine tasks only: a stackless task's cancellation is its future's
 * drop, which cannot wait, so there is nothing to shield (enter returns
 * CORIO_EWRONGCTX in a poll function, as in plain code, where nothing is
 * ever cancelled).
 */
#ifndef CORIO_CORE_CORO_H
#define CORIO_CORE_CORO_H

#include <stdbool.h>

#include "arch/ctx.h"
#include "arch/fiber.h"
#include "arch/stack.h"
#include "core/task.h"

typedef struct coro_scope {
    struct coro_scope *outer;
    /* Whether the scope has ended; called on the coroutine, at each await,
     * until it says true once. */
    bool (*ended)(struct coro_scope *sc);
    int code;       /* what awaits return once it has ended */
    bool is_ended;  /* the hook said so (sticky) */
    bool delivered; /* an await returned `code` for this scope */
} coro_scope;

/* Push `sc` (its `ended` and `code` set by the caller) on the calling
 * coroutine. Returns 0, CORIO_EWRONGCTX outside a coroutine task, or the
 * code an await would return right now (cancelled, or an enclosing scope
 * has ended): then nothing is pushed. */
int coro_scope_enter(coro_scope *sc);

/* Pop `sc`, which must be the innermost scope. Returns CORIO_ECANCELED when
 * cancellation was delivered to the task, else `sc->code` when an await
 * returned it for this scope, else 0. */
int coro_scope_exit(coro_scope *sc);

/* Push the shield `sh` (its fields are set here) on the calling coroutine.
 * 0, or CORIO_EWRONGCTX outside a coroutine task (then nothing is pushed). */
int coro_shield_enter(coro_scope *sh);

/* Pop `sh`, which must be the innermost scope. Nothing is delivered: the
 * next await outside it sees what the shield held back. */
void coro_shield_exit(coro_scope *sh);

/* What an await would return now if `sh` (the innermost scope) were not
 * there: CORIO_ECANCELED, the code of an enclosing scope that has ended,
 * or 0. Delivers nothing. 0 when `sh` is not the caller's innermost scope. */
int coro_shield_held_back(coro_scope *sh);

/* For a primitive whose wait is an await but which can often complete
 * without suspending (a free mutex, a channel that has a message): call
 * coro_await_enter before touching the primitive; it returns what
 * corio_await would before its first poll: 0, the interruption code
 * (CORIO_ECANCELED, a scope's CORIO_ETIMEDOUT) or CORIO_EWRONGCTX outside a
 * coroutine task. After completing at once, call coro_await_ready, which
 * charges the cooperative budget as a ready await does (and may yield). */
int coro_await_enter(void);
void coro_await_ready(void);

/* For a combinator that polls futures inline before it ever awaits
 * (corio_select's fast path, in its header): coro_await_enter that also
 * charges the cooperative budget first, as coro_await_ready would after
 * (so a first poll that completes needs no second call; the yield, if the
 * budget is spent, comes before anything is polled), and stores the
 * calling task's waker in *wk, borrowed: valid while the task runs; a poll
 * that keeps it clones it. `rand`, when not NULL, gets a value of the
 * worker's quasi-random sequence (worker_rand), for a fair choice of the
 * first future to poll. Returns as coro_await_enter; *wk and *rand are set
 * only on 0. */
int coro_await_enter_polling(corio_waker *wk, uint32_t *rand);

/* After such an inline round found every future pending: when the task was
 * woken meanwhile (a future that woke itself, a wake that raced the
 * round), take that wake and yield, as corio_await does there, and return
 * 1: poll again (with the same waker). 0: not woken, really wait (await a
 * future that owns the rest). An interruption the yield let in (it is
 * checked only when woken): CORIO_ECANCELED or a scope's code, after
 * which the caller drops what it polled. Only right after such a round. */
int coro_await_woken(void);

/* A coroutine task: 120 bytes on 64-bit. Fields needed only before the
 * first run share memory with fields needed only after it (a million tasks
 * that have not started yet is what spawn_many holds). Its own file
 * (core/coro.c) is the only one to touch it, but for coro_prefetch. */
typedef struct coro {
    corio_task t;
    arch_ctx ctx;
    union {
        size_t req_stack; /* before TF_STARTED: requested size, 0: default */
        stack *stk;       /* after: the stack, NULL once given back */
    };
    /* From the first run on: the canary of an unguarded stack (NULL on a
     * guarded one), checked at each switch out (stack.h). Here, not read
     * through `stk`, whose descriptor is a cache line of its own. */
    const uint64_t *canary;
    union {
        struct { /* before the first run */
            corio_fn fn;
            void *arg;
        };
        struct { /* from the first run on */
            coro_scope *scope; /* innermost interruption scope */
            /* A coroutine that yielded straight to this one, to queue once
             * this one is running (and so the other's context saved): set
             * by the switching side, taken by this one where it lands in
             * corio_yield (sched.h, yield_next). Next to `scope`, which
             * the landing side reads anyway. */
            struct corio_task *handoff;
        };
    };
#ifdef CORIO_ASAN
    void *asan_fake;
#endif
#ifdef CORIO_TSAN
    void *tsan_fiber;
#endif
} coro;

/* The stack overflow hook (arch/stack.h): reports and aborts if the fault is
 * an overflow of the coroutine running on this thread. */
void coro_check_fault(const void *addr, const void *sp);

/* Prefetch the saved stack top of a suspended coroutine task (no-op for a
 * stackless one): a hint for a scheduler about to switch to it soon. Only
 * for a task the caller's thread owns (in its own run queue). */
static inline void coro_prefetch(const corio_task *t)
{
    if (!task_is_started_coro(t))
        return;
#ifndef CORIO_CTX_UCONTEXT
    const coro *c = (const coro *)t;
    __builtin_prefetch(c->ctx.sp);
    __builtin_prefetch((const char *)c->ctx.sp + 64);
    if (c->canary)
        __builtin_prefetch(c->canary);
#endif
}

#endif
