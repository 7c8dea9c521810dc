/* corio/select.h - wait for the first of N futures (tokio::select!).
 *
 *   size_t i;
 *   int rc = corio_select(CORIO_FUTURES(&recv.base, &tick.base), &i);
 *   if (rc == 0 && i == 0) ...   recv won: its output is in recv.base.result
 *
 * The first future to complete wins; corio_select returns its index, and
 * its output is in that future's own result field (and whatever fields the
 * future has), exactly as if it had been awaited alone. The select is also
 * a future, corio_select_fut, to poll from a stackless task, to nest in a
 * join or another select, or to bound with corio_timeout (a timeout is
 * also just one more branch: a corio_sleep_fut).
 *
 * What happens to the losers: from its initialisation on, a select owns
 * its branches. When one completes, every other branch is dropped
 * (corio_future_drop) at once, in the poll that saw the winner, before the
 * select returns: their cleanup runs there (timers disarmed, queued waits
 * given up, per each future's drop). A select dropped before any branch
 * won (its task cancelled, a deadline, it lost an outer select) drops
 * every branch. So each branch either completes (the winner) or is dropped,
 * exactly once. A winner is never dropped; a loser is never polled again.
 *
 * Cancel safety: a select loses what its dropped branches lose, and
 * nothing else. Racing cancel-safe futures (a channel receive, a sleep, a
 * join future, a notify wait) loses no message: a receive that lost the
 * race consumed nothing, so a select in a loop that re-initialises its
 * futures each time round sees every message. A branch that is not cancel
 * safe (a write_all, a bounded send that had reserved room) loses what its
 * own header says it loses when dropped. To keep a future going across
 * iterations (a deadline for the whole loop, a write in progress), make it
 * outside the loop and race a corio_ref_fut of it (tokio's `&mut fut`): the
 * select drops the reference, never the future, which stays armed and is
 * raced again next time round; drop it yourself once done with it.
 *
 * Fairness: each poll starts at a branch chosen pseudo-randomly (from the
 * worker's or the thread's sequence, then by xorshift steps), as tokio
 * picks a random start, so a branch that is always ready (a busy channel)
 * cannot starve the others (a timeout, a shutdown signal); among branches
 * ready at the same poll, the first one polled wins. corio_select_biased
 * polls in array order, always from the first (tokio's `biased;`):
 * cheaper by the generator step, and the order is a priority (put a
 * shutdown signal first), at the price of starvation of the later
 * branches by an always-ready earlier one.
 *
 * Cost: nothing is allocated; a select whose first polled branch is ready
 * costs that poll, the drops of the others, and a few nanoseconds. Every
 * poll polls every branch (a wake does not say which branch it was for), so
 * a select is for a handful of branches; for many tasks, use a JoinSet.
 * corio_select over two branches reads each future's vtable once, when it
 * starts; built with link-time optimisation (or with the library's sources
 * in the program), the compiler can then call those poll and drop
 * functions directly, even inline, as Rust's select! does.
 *
 * Disabled branches: a NULL entry is never polled nor dropped (tokio's `if`
 * guard on a branch): after a channel closed, pass NULL in its place.
 *
 * Threads: corio_select suspends a coroutine task; elsewhere it returns
 * CORIO_EWRONGCTX (poll the corio_select_fut from a stackless task, or run
 * it with corio_block_on_future in plain code). The branches may be woken
 * from any thread.
 *
 * NULL and misuse (docs/conventions.md): a NULL array, n == 0, no branch
 * that is not NULL, or a zeroed branch (no vtable or poll function) is
 * -EINVAL, and the branches are left alone: not polled, not dropped. A
 * future may be one branch of one select at a time; the same future twice
 * in one array is undefined and not detected (a ready one would be
 * dropped as the loser of itself).
 */
#ifndef CORIO_SELECT_H
#define CORIO_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Also in corio/join.h (the same definitions): CORIO_FUTURES(f1, f2, ...)
 * is an array of the given future pointers (a compound literal, living as
 * long as the enclosing block) followed by its length. C only. */
#ifndef CORIO_INDEX_NONE
#define CORIO_INDEX_NONE SIZE_MAX
#endif
#ifndef CORIO_FUTURES
#define CORIO_FUTURES(...)                                                               \
    (corio_future *[]){__VA_ARGS__},                                                     \
        (sizeof((corio_future *[]){__VA_ARGS__}) / sizeof(corio_future *))
#endif

/* base.result: 0 once a branch won (its index in `index`, its output in
 * its own result field), -EINVAL for bad arguments (nothing polled).
 * `index` is CORIO_INDEX_NONE until a branch has won. 48 bytes. */
typedef struct corio_select_fut {
    corio_future base;
    size_t index;
    corio_future *const *futs_;
    size_t n_;
    uint32_t rng_;
    uint8_t biased_;
    uint8_t phase_;
} corio_select_fut;

/* Race the n branches of `futs` (the array must outlive the select),
 * fairly (a varying first branch). Lazy: nothing is polled before the
 * select is. Does nothing for a NULL f. */
CORIO_API void corio_select_fut_init(corio_select_fut *f, corio_future *const *futs, size_t n);
/* The same, polling the branches in array order (tokio's `biased;`).
 * Does nothing for a NULL f. */
CORIO_API void corio_select_fut_init_biased(corio_select_fut *f, corio_future *const *futs,
                                            size_t n);

/* Await the first of the branches to complete; store its index in *index
 * (index may be NULL; it is CORIO_INDEX_NONE unless 0 is returned) and
 * drop the others. Returns:
 *   0                branch *index won: its output is in its result field;
 *                    every other branch has been dropped;
 *   CORIO_ECANCELED  the task was cancelled: every branch has been dropped,
 *                    none won;
 *   CORIO_ETIMEDOUT  the deadline of an enclosing deadline scope passed:
 *                    the same;
 *   -EINVAL          bad arguments (see the top): nothing touched;
 *   CORIO_EWRONGCTX  not in a coroutine task: nothing touched.
 * A branch that completes with an error (a receive that finds the channel
 * closed: CORIO_ECLOSED in its result) still wins: the select reports
 * which branch finished first, not whether it succeeded. */
CORIO_API int corio_select(corio_future *const *futs, size_t n, size_t *index);

/* corio_select, polling in array order (see Fairness). */
CORIO_API int corio_select_biased(corio_future *const *futs, size_t n, size_t *index);

/* ---- racing a future without giving it up ---------------------------------- */

/* A reference to a future (tokio's `&mut fut` in a select!): polling it
 * polls `inner` (with the same context) and, once inner is ready, copies
 * its result; dropping it does nothing, so the select or join that owns
 * the reference never drops `inner`. The caller keeps inner: it may race
 * it again through a new reference, await it, and must drop it if it
 * abandons it unfinished. Do not poll inner again once it was ready. A
 * reference to NULL or to a zeroed future completes at once with -EINVAL.
 * 24 bytes.
 * Its only output is base.result (and what it writes through the pointers it
 * was given); its other fields are private. */
typedef struct corio_ref_fut {
    corio_future base;
    corio_future *inner;
} corio_ref_fut;

/* Make `f` a reference to `inner`. Does nothing for a NULL f. */
CORIO_API void corio_ref_fut_init(corio_ref_fut *f, corio_future *inner);

#ifdef __cplusplus
}
#endif
#endif
