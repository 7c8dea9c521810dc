/* corio/scope.h - structured concurrency: a scope whose tasks all finish
 * before it returns (trio's nursery; what tokio#1879 and tokio#2592 asked
 * tokio for).
 *
 *   static int body(corio_scope *sc, void *arg) {
 *       struct job *jobs = arg;                  (the caller's stack array)
 *       for (int i = 0; i < 4; i++)
 *           corio_scope_spawn(sc, work, &jobs[i], &jobs[i].result);
 *       return 0;                                (the scope joins them)
 *   }
 *   ...
 *   struct job jobs[4];                          (borrowed by the children)
 *   int rc = corio_scope_run(body, jobs, NULL);  (every child has finished)
 *
 * The model. corio_scope_run opens a scope, calls body(scope, arg) in the
 * calling task, then waits until every task spawned into the scope has
 * finished, and only then returns. The scope is a value on the stack of
 * corio_scope_run; the body and the children get a pointer to it and may
 * spawn more children into it. No task of a scope can outlive it, so
 * children may borrow what lives in frames that enclose the scope: `arg`
 * and anything the caller of corio_scope_run owns. This is what plain
 * corio_spawn cannot allow: a detached or forgotten task can outlive any
 * stack frame, so what it is given must be the heap's.
 *
 * Why a function, not an open/close pair: an opened scope that a `return`
 * or a `goto` skips the close of would leave children borrowing a dead
 * frame; with corio_scope_run the join cannot be forgotten, and it is the
 * only way to get a corio_scope. It is the form of corio_timeout_call (a
 * deadline scope), for the same reason: C has no destructors.
 *
 * Borrowing rule: a child may use memory that outlives corio_scope_run's
 * call (the caller's locals, `arg`, the heap). The body's OWN locals are
 * gone when the body returns, which is before the final join: a child may
 * borrow them only if the body calls corio_scope_join before returning
 * (which waits for every child spawned so far, even when cancelled). The
 * scope pointer itself is valid until corio_scope_run returns: give it only
 * to the scope's own tasks.
 *
 * Failure policy (try_join, trio): a task fails when it returns a negative
 * value (a stackless child: its future's output is negative). The first
 * failure of the body or of any child, while the scope is not cancelled
 * yet, cancels the scope and is what corio_scope_run returns. A
 * non-negative result, positive included, is success: it is a value, as a
 * task's result always is, delivered through the `result` pointer given to
 * the spawn; it never fails the scope. Results a task returns after the
 * scope was cancelled (CORIO_ECANCELED from its interrupted await, most
 * likely) are delivered to their `result` pointers but do not change what
 * the scope returns.
 *
 * Cancellation of a scope (a failure, corio_scope_cancel, or its owner
 * being interrupted, an enclosing deadline included) aborts every child
 * (corio_task_abort: a coroutine's pending and later awaits return
 * CORIO_ECANCELED, so it unwinds through its cleanup; a stackless child's
 * future is dropped, and its result is CORIO_ECANCELED), interrupts the
 * body (each await of the body returns CORIO_ECANCELED, or CORIO_ETIMEDOUT
 * for an enclosing deadline, from then on, as inside corio_timeout_call), and
 * refuses new spawns. It is sticky and never undone. Cleanup always runs:
 * nothing is detached, every child's function returns (or its future is
 * dropped) before corio_scope_run does.
 *
 * The owner's own cancellation. If the task that runs corio_scope_run is
 * aborted (or an enclosing deadline scope passes) while the scope is open,
 * the scope is cancelled with that code (at the body's next spawn, or at
 * the join) and then STILL WAITS for its children: its joins are shielded from the owner's cancellation, which
 * otherwise makes every await return at once (the core's shields,
 * src/core/coro.h). The wait is bounded by the children's cleanup, since
 * they were cancelled first. corio_scope_run then returns CORIO_ECANCELED
 * (or the enclosing deadline's CORIO_ETIMEDOUT), which counts as delivered:
 * the task goes on unwinding as from any interrupted await; unless a
 * failure came first, the body's included: a body whose await returned
 * CORIO_ECANCELED and that then returns a negative value of its own before
 * the scope is cancelled makes that value the result.
 *
 * Deadline: a scope takes none of its own; put a deadline scope around it,
 * as around any call (docs/conventions.md, Deadlines):
 * corio_timeout_call(d, fn, arg, &r) where fn calls corio_scope_run. When
 * the deadline passes, the owner is interrupted, so the scope is cancelled
 * with CORIO_ETIMEDOUT: children aborted, the body's awaits return
 * CORIO_ETIMEDOUT, corio_scope_run returns CORIO_ETIMEDOUT after the join
 * (unless a failure came first), and corio_timeout_call returns
 * CORIO_ETIMEDOUT, which no child's failure can: that is how the caller
 * tells the deadline from a child that failed with CORIO_ETIMEDOUT.
 *
 * Nesting: scopes compose. An inner scope opened by the body or by a child
 * of an outer scope is inside a task of the outer one: when the outer scope
 * is cancelled, that task is aborted (a child) or interrupted (the body),
 * and the inner scope's join, which sees it, cancels the inner children in
 * turn; the outer scope's join waits for that task, which waits for the
 * inner children. So an inner scope never outlives the outer one, and an
 * outer deadline reaches the innermost task.
 *
 * Threads and contexts. corio_scope_run is for a coroutine task (it
 * suspends the task) or plain code (it blocks the thread; the children go
 * to opts->rt, or to the runtime of a blocking-pool thread; there the body
 * is never interrupted. A current-thread opts->rt must be driven meanwhile
 * by another thread in corio_rt_block_on, or the children never run and
 * the scope waits for them forever). In a stackless task's poll function, which
 * must not wait, it returns CORIO_EWRONGCTX. Children run wherever their
 * runtime runs them (any worker of a multi-thread runtime) and may finish
 * on any thread. corio_scope_spawn, _cancel and _is_cancelled may be called
 * from any thread, by the body or any child, while the scope is open.
 * corio_scope_join only by the body.
 *
 * Memory: the scope itself lives on corio_scope_run's stack (112
 * bytes, nothing allocated). Each child costs a 56-byte node, malloc'd at
 * its spawn and freed when both the scope has returned and the child's
 * task memory is freed (the task keeps a waker of its node until then),
 * on top of the task itself (a coroutine: a 128-byte block, and its stack while
 * it runs; a stackless child: the 80-byte task header, a 32-byte wrapper and
 * its future, rounded up to 16).
 *
 * NULL and misuse (docs/conventions.md): functions returning a status
 * return -EINVAL for a NULL scope, body, fn or future; _cancel does
 * nothing and _is_cancelled returns false for NULL. Spawning into a scope
 * whose final join has completed returns CORIO_ECLOSED; into a cancelled
 * one, the code the body's awaits return (CORIO_ECANCELED or
 * CORIO_ETIMEDOUT): nothing is spawned and `arg` stays the caller's.
 */
#ifndef CORIO_SCOPE_H
#define CORIO_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "future.h"
#include "task.h"
#include "time.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_scope corio_scope;

/* The body of a scope: runs in the task (or thread) that opened it. Its
 * return value is stored in *result; negative fails the scope. */
typedef int (*corio_scope_fn)(corio_scope *scope, void *arg);

/* Options of corio_scope_run_with; NULL: the defaults (all fields zero). */
typedef struct corio_scope_opts {
    corio_rt *rt;            /* where children go by default; NULL: the
                              * calling task's runtime (required in plain
                              * code outside a blocking-pool thread) */
} corio_scope_opts;

/* ---- running a scope -------------------------------------------------------
 *
 *   int corio_scope_run(body, arg, &result)
 *   int corio_scope_run_with(&opts, body, arg, &result)    children on another runtime
 *
 * Open a scope, call body(scope, arg), store its return value in *result
 * (result may be NULL), wait until every child of the scope has finished
 * (see the top of this file), and return:
 *   0                the body returned >= 0 and no child failed;
 *   a negative value the first failure: the body's or a child's negative
 *                    result;
 *   CORIO_ECANCELED  corio_scope_cancel, or the calling task was cancelled;
 *   CORIO_ETIMEDOUT  an enclosing deadline scope passed;
 * (whichever came first), and, before the body is called (it is then not
 * called, *result set to 0 when result is not NULL):
 *   -EINVAL          body NULL;
 *   CORIO_EWRONGCTX  a stackless task's poll function; plain code with no
 *                    runtime for the children;
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  the calling task is already
 *                    interrupted (as corio_timeout_call).
 * A failure is what the scope ran returned (docs/conventions.md, Results):
 * the body's is in *result, each child's in its spawn's `result`; a
 * negative status that none of them holds is the scope's own. A code both
 * could give (a child that returned CORIO_ECANCELED or CORIO_ETIMEDOUT
 * itself, before the scope was cancelled) is told apart the same way:
 * corio_scope_cancel was called by the caller's own code, the owner's
 * cancellation is corio_task_is_cancelled(corio_task_current()), and an
 * enclosing deadline is what corio_timeout_call returns. */
CORIO_API int corio_scope_run(corio_scope_fn body, void *arg, int *result);
CORIO_API int corio_scope_run_with(const corio_scope_opts *opts, corio_scope_fn body, void *arg,
                                   int *result);

/* ---- spawning into a scope -------------------------------------------------
 *
 *   corio_scope_spawn(scope, fn, arg, &result)                     a coroutine child
 *   corio_scope_spawn_with(scope, &opts, fn, arg, &result)
 *   corio_scope_spawn_future(scope, &fut.base, sizeof fut, &result)     a stackless child
 *   corio_scope_spawn_future_with(scope, &opts, &fut.base, sizeof fut, &result)
 *
 * Spawn a child as corio_spawn_ex / corio_spawn_future_ex do (same
 * options; opts->rt NULL means the scope's runtime). The scope keeps its
 * handle; nobody else gets one. When the child finishes, its result (fn's
 * return value; a stackless child's output, or CORIO_ECANCELED when it was
 * cancelled) is written to *result (result may be NULL), which must stay
 * valid until the scope has joined the child (see the borrowing rule):
 * read it after corio_scope_join or corio_scope_run. Returns 0, or nothing
 * was spawned:
 *   -EINVAL          scope, fn or fut NULL, or a bad future or stack size;
 *   -ENOMEM;  CORIO_ESHUTDOWN (the runtime is shutting down);
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  the scope is cancelled;
 *   CORIO_ECLOSED    the scope's final join is over;
 *   CORIO_EWRONGCTX  no runtime to spawn into.
 * Any thread, by the body or any child of the scope. */
#define corio_scope_spawn(scope, fn, arg, result) \
    corio_scope_spawn_ex((scope), NULL, CORIO_HERE, (fn), (arg), (result))
#define corio_scope_spawn_with(scope, opts, fn, arg, result) \
    corio_scope_spawn_ex((scope), (opts), CORIO_HERE, (fn), (arg), (result))
#define corio_scope_spawn_future(scope, fut, size, result) \
    corio_scope_spawn_future_ex((scope), NULL, CORIO_HERE, (fut), (size), (result))
#define corio_scope_spawn_future_with(scope, opts, fut, size, result) \
    corio_scope_spawn_future_ex((scope), (opts), CORIO_HERE, (fut), (size), (result))

CORIO_API int corio_scope_spawn_ex(corio_scope *scope, const corio_spawn_opts *opts,
                                   const corio_spawn_site *site, corio_fn fn, void *arg,
                                   int *result);
CORIO_API int corio_scope_spawn_future_ex(corio_scope *scope, const corio_spawn_opts *opts,
                                          const corio_spawn_site *site, const corio_future *fut,
                                          size_t size, int *result);

/* ---- inside the scope ----------------------------------------------------- */

/* From the body: wait until every child spawned so far has finished (their
 * results are then in place, and the body's own locals they borrowed are
 * free again). Like the final join it is shielded: if the body is
 * interrupted meanwhile (the scope or its owner cancelled, a deadline), the
 * children are cancelled and still waited for. Returns 0 or what
 * corio_scope_run would return now (the first failure, CORIO_ECANCELED,
 * CORIO_ETIMEDOUT; told apart as there); -EINVAL for NULL; -EDEADLK when called by a child (it
 * would wait for itself); CORIO_EWRONGCTX in a stackless task's poll
 * function. The scope stays open: the body may spawn again after it. */
CORIO_API int corio_scope_join(corio_scope *scope);

/* Cancel the scope (see Cancellation at the top): corio_scope_run returns
 * CORIO_ECANCELED unless a failure came first. Any thread, by the body or a
 * child; harmless when already cancelled. Does nothing for NULL. Does not
 * wait: the children unwind on their own, and the join waits for them. */
CORIO_API void corio_scope_cancel(corio_scope *scope);

/* Whether the scope was cancelled (by any of the causes above). Any thread;
 * false for NULL. For the body of a plain-code scope, whose waits are never
 * interrupted, and for loops that do not await. */
CORIO_API bool corio_scope_is_cancelled(const corio_scope *scope);

#ifdef __cplusplus
}
#endif
#endif
