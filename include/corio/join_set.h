/* corio/join_set.h - a set of tasks joined in the order they finish
 * (tokio::task::JoinSet).
 *
 *   corio_join_set *set;
 *   corio_join_set_new(&set);
 *   for (int i = 0; i < n; i++)
 *       corio_join_set_spawn(set, work, &items[i], NULL);
 *   int r; uint64_t id;
 *   while (corio_join_set_join_next(set, &r, &id) == 0)
 *       printf("task %llu finished: %d\n", (unsigned long long)id, r);
 *   corio_join_set_free(set);
 *
 * A set owns the join handles of the tasks spawned into it (coroutine or
 * stackless, with the spawn functions' options). join_next returns the
 * next task to finish, whichever it is, with its result and id, and gives
 * its handle back; a task that finished stays in the set until it is
 * joined. Each task has a waker of its own, so a finishing task costs
 * O(1) however many the set holds.
 *
 * What happens to the tasks: a set never loses one. Each is either joined
 * (join_next, shutdown), detached (detach_all: it runs on, on its own), or
 * aborted and waited for when the set is shut down or freed: freeing a set
 * aborts every task still in it (cancellation: each coroutine's pending
 * await returns CORIO_ECANCELED, so it unwinds through its own cleanup; a
 * stackless task's future is dropped) and waits until every one has
 * finished, so their cleanup has run when corio_join_set_free returns,
 * also when the caller is itself cancelled (see corio_join_set_free).
 *
 * Results: a joined task's result is what its function returned (a
 * stackless task: its future's output), or CORIO_ECANCELED when
 * cancellation reached it (abort_all, shutdown, or the runtime's
 * shutdown): as tokio's JoinError::Cancelled,
 * what such a task returned after its cleanup is not reported. -ENOMEM
 * when its coroutine could not get a stack.
 *
 * Cancel safety: join_next interrupted (CORIO_ECANCELED, CORIO_ETIMEDOUT,
 * its future dropped by a select or a timeout) joins nothing: a task that
 * finished meanwhile stays in the set for the next join_next. Safe to race
 * in a select loop.
 *
 * Threads: a set is used by one task or thread at a time (tokio's
 * &mut JoinSet): spawning into it, joining from it and freeing it are not
 * safe to do from two threads at once; guard a shared set with a
 * corio_mutex. Its tasks run wherever their runtime runs them, and may
 * finish on any thread. The waiting calls (join_next, shutdown, free)
 * suspend a coroutine task and block a plain thread (as corio_task_join
 * does); inside a stackless task's poll function, poll a
 * corio_join_set_join_next_fut instead (join_next and shutdown return
 * CORIO_EWRONGCTX there, and free cannot wait: see it).
 *
 * Memory: about 100 bytes for the set, and an entry of 56 bytes per task,
 * taken in blocks of 32 and reused; the entries stay allocated until the
 * set is freed (a set that once held 10000 tasks keeps 560 KB). The
 * entries may outlive the set a little, until the last of its tasks'
 * memory is freed (a task drops its join waker then).
 *
 * NULL (docs/conventions.md): functions returning a status return -EINVAL
 * for a NULL set, the queries 0 and false, the give-backs do nothing.
 */
#ifndef CORIO_JOIN_SET_H
#define CORIO_JOIN_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "future.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_join_set corio_join_set;

/* A new, empty set: 0, -EINVAL (out NULL) or -ENOMEM (*out = NULL). Any
 * thread. */
CORIO_API int corio_join_set_new(corio_join_set **out);

/* ---- spawning into the set --------------------------------------------------
 *
 *   corio_join_set_spawn(set, fn, arg, &id)                   a coroutine task
 *   corio_join_set_spawn_with(set, &opts, fn, arg, &id)
 *   corio_join_set_spawn_future(set, &fut.base, sizeof fut, &id)   a stackless task
 *   corio_join_set_spawn_future_with(set, &opts, &fut.base, sizeof fut, &id)
 *
 * Spawn as corio_spawn_ex / corio_spawn_future_ex do (same options, same
 * rules for `arg` and the future), and keep the handle in the set. *id (id
 * may be NULL) receives the task's id, which join_next reports with its
 * result. Returns 0, or the spawn's error (nothing was spawned, nothing
 * added): -EINVAL (also for a NULL set), -ENOMEM (also when no entry can be
 * had), CORIO_ESHUTDOWN, CORIO_EWRONGCTX (plain code without opts->rt). */
#define corio_join_set_spawn(set, fn, arg, id) \
    corio_join_set_spawn_ex((set), NULL, CORIO_HERE, (fn), (arg), (id))
#define corio_join_set_spawn_with(set, opts, fn, arg, id) \
    corio_join_set_spawn_ex((set), (opts), CORIO_HERE, (fn), (arg), (id))
#define corio_join_set_spawn_future(set, fut, size, id) \
    corio_join_set_spawn_future_ex((set), NULL, CORIO_HERE, (fut), (size), (id))
#define corio_join_set_spawn_future_with(set, opts, fut, size, id) \
    corio_join_set_spawn_future_ex((set), (opts), CORIO_HERE, (fut), (size), (id))

CORIO_API int corio_join_set_spawn_ex(corio_join_set *set, const corio_spawn_opts *opts,
                                      const corio_spawn_site *site, corio_fn fn, void *arg,
                                      uint64_t *id);
CORIO_API int corio_join_set_spawn_future_ex(corio_join_set *set, const corio_spawn_opts *opts,
                                             const corio_spawn_site *site,
                                             const corio_future *fut, size_t size, uint64_t *id);

/* ---- joining ------------------------------------------------------------------ */

/* Wait for the next task of the set to finish (tasks that finished
 * already come first, in about the order they finished), take it out of
 * the set and give its handle back. Returns:
 *   0                a task was joined: *result (result may be NULL) is its
 *                    result (see Results at the top), *id (may be NULL) its
 *                    id;
 *   -ECHILD          the set is empty: nothing to wait for (as wait(2)
 *                    says when a process has no children); at once;
 *   -EDEADLK         the only task left in the set is the caller itself,
 *                    which cannot wait for its own end; at once (the set
 *                    unchanged; corio_task_join's code for the same
 *                    mistake);
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  the caller was interrupted: nothing
 *                    joined, the set unchanged (see Cancel safety);
 *   -EINVAL          set NULL;
 *   CORIO_EWRONGCTX  in a stackless task's poll function (poll a
 *                    corio_join_set_join_next_fut instead);
 *   -ENOMEM          plain code whose thread parker cannot be allocated.
 * *result and *id are written only when 0 is returned. */
CORIO_API int corio_join_set_join_next(corio_join_set *set, int *result, uint64_t *id);

/* join_next without waiting: 0 (a finished task joined, as above),
 * -EAGAIN (tasks are in the set but none has finished), -ECHILD (empty),
 * -EINVAL. Any context. */
CORIO_API int corio_join_set_try_join_next(corio_join_set *set, int *result, uint64_t *id);

/* join_next as a future. base.result: 0 (a task was joined: its result in
 * `value`, its id in `id`), -ECHILD (the set was empty when polled),
 * -EDEADLK (polled by the one task left in the set, as join_next), or
 * -EINVAL (set NULL). Dropped unfinished, it joined nothing. The set must
 * outlive it; one join_next at a time per set. 40 bytes. */
typedef struct corio_join_set_join_next_fut {
    corio_future base;
    corio_join_set *set;
    int value;
    uint64_t id;
} corio_join_set_join_next_fut;

/* A join_next of `set`; lazy. Does nothing for a NULL f. */
CORIO_API void corio_join_set_join_next_fut_init(corio_join_set_join_next_fut *f,
                                                 corio_join_set *set);

/* ---- aborting, detaching, shutting down ------------------------------------------ */

/* Abort every task in the set (corio_task_abort on each). They stay in the
 * set until joined: join_next reports each with its result, CORIO_ECANCELED
 * for those cancellation reached (a task that finished first keeps its
 * own result). Any context. */
CORIO_API void corio_join_set_abort_all(corio_join_set *set);

/* Give back every handle without waiting: the tasks go on, detached, and
 * the set is empty. Any context. */
CORIO_API void corio_join_set_detach_all(corio_join_set *set);

/* Abort every task and wait until every one has finished, discarding
 * their results; the set is then empty and can be reused. Returns 0,
 * CORIO_ECANCELED or CORIO_ETIMEDOUT (the caller was interrupted: the
 * tasks not yet joined stay in the set, aborted), -EINVAL (set NULL),
 * CORIO_EWRONGCTX (a stackless task's poll function: abort_all only). */
CORIO_API int corio_join_set_shutdown(corio_join_set *set);

/* Free the set: abort every task in it and wait for all of them to finish
 * (their cleanup has run when it returns), then free it. A coroutine
 * caller that is itself cancelled, or whose deadline scope has expired,
 * still waits: the wait is shielded from its interruption (which its next
 * await then returns), and bounded, since the tasks were aborted first. In
 * a stackless task's poll function, which cannot wait, the tasks not
 * finished yet are aborted and detached instead: their cleanup still runs,
 * once each, but maybe after this returns. A task of the set that frees
 * it is aborted with the others but detached, not waited for (it cannot
 * wait for itself): its next await returns CORIO_ECANCELED. Does nothing
 * for NULL. */
CORIO_API void corio_join_set_free(corio_join_set *set);

/* ---- queries --------------------------------------------------------------------- */

/* Tasks in the set: running, or finished and not joined yet (0 for NULL). */
CORIO_API size_t corio_join_set_len(const corio_join_set *set);
/* Whether the set holds no task (false for NULL). */
CORIO_API bool corio_join_set_is_empty(const corio_join_set *set);

#ifdef __cplusplus
}
#endif
#endif
