/* corio/cancel_token.h - cancellation tokens: ask a group of tasks to stop
 * (tokio_util::sync::CancellationToken).
 *
 * A token starts uncancelled; corio_cancel_token_cancel cancels it, once
 * and for good (later calls do nothing). Anyone holding it may ask
 * corio_cancel_token_is_cancelled, or wait for the cancellation with
 * corio_cancel_token_wait (or race a corio_cancel_token_wait_fut against the
 * work in a select). It is how a program tells many tasks "stop" without
 * aborting them: each picks its own moment and unwinds on its own terms
 * (corio_task_abort, by contrast, interrupts the task's next await).
 *
 * Trees: corio_cancel_token_child makes a child token. Cancelling a token
 * cancels all of its descendants (children, their children...), at once:
 * when cancel returns, every one of them says it is cancelled. Cancelling
 * a child touches neither its parent nor its siblings. A child made from a
 * token that is already cancelled is born cancelled. Releasing a token
 * that still has children does not cut them off: they are adopted by its
 * parent (tokio's behaviour), so cancelling an ancestor still reaches them.
 *
 * Ownership: tokens are allocated by the library and reference counted.
 * new and child give the caller one handle; corio_cancel_token_clone makes
 * another (to hand to another task); every handle is given back with
 * corio_cancel_token_release, exactly once. When the last handle goes, the
 * token is unlinked from its tree and freed (a server that makes a child
 * per request and releases it after keeps nothing per finished request).
 * A corio_cancel_token_wait_fut borrows the handle it was made from, which must
 * stay held until the future is finished or dropped.
 *
 * Fairness: a cancel wakes every waiter of every token it reaches at once;
 * there is no order to keep. Close: a token is not closed (a cancel is its
 * only event); no call returns CORIO_ECLOSED.
 *
 * Cancel safety: a wait interrupted (CORIO_ECANCELED, CORIO_ETIMEDOUT, its
 * future dropped) consumes nothing: the token is unchanged and a later wait
 * sees the cancellation as every other does.
 *
 * Cost: cancel walks the subtree iteratively (no recursion: a chain a
 * million tokens deep is fine) while holding its tree's spinlock (a few
 * nanoseconds per token), then wakes the waiters of each token after
 * dropping it. One spinlock serves each tree (the tokens descending from
 * one corio_cancel_token_new); child, cancel and the last release of an
 * uncancelled token take it for O(1), except that cancel takes it for the
 * size of the subtree and a release for the number of children adopted.
 * is_cancelled is one atomic load when the token is cancelled, and one
 * more of its tree's lock when not (waiting, while a cancel or another
 * operation of the tree holds it, for it to finish: so that a token seen
 * cancelled means its whole cancelled subtree is seen so); clone and
 * release (not the last) one atomic add.
 *
 * Threads: every function may be called from any thread. corio_cancel_
 * token_wait suspends a coroutine task; called from plain code (a thread
 * that runs no task) it blocks that thread. A stackless task's poll
 * function polls a corio_cancel_token_wait_fut instead.
 *
 * Memory: 88 bytes per token (one allocation each, by new and child); the
 * root of a tree stays allocated until its last descendant is released
 * (the tree's lock lives in it). 72 bytes per wait future, which holds the
 * waiter.
 */
#ifndef CORIO_CANCEL_TOKEN_H
#define CORIO_CANCEL_TOKEN_H

#include <stdbool.h>

#include "api.h"
#include "future.h"
#include "waiter.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_cancel_token corio_cancel_token; /* opaque */

/* A new, uncancelled root token: 0 and *out set; -EINVAL (out NULL) or
 * -ENOMEM, *out set to NULL. Release it with corio_cancel_token_release. */
CORIO_API int corio_cancel_token_new(corio_cancel_token **out);

/* A new child of `parent` (born cancelled if parent is): 0 and *out set;
 * -EINVAL (parent or out NULL) or -ENOMEM, *out set to NULL (if out is
 * not NULL). The child is a
 * token of its own, released on its own. */
CORIO_API int corio_cancel_token_child(corio_cancel_token *parent, corio_cancel_token **out);

/* Another handle to the same token (the same pointer, counted once more);
 * release each one. NULL for NULL. */
CORIO_API corio_cancel_token *corio_cancel_token_clone(corio_cancel_token *tok);

/* Give back one handle. The last one unlinks the token from its tree (its
 * children go to its parent) and frees it. Does nothing for NULL. */
CORIO_API void corio_cancel_token_release(corio_cancel_token *tok);

/* Cancel the token and all of its descendants, and wake everything that
 * waits for any of them. Nothing happens to a token already cancelled.
 * Never waits. Does nothing for NULL. */
CORIO_API void corio_cancel_token_cancel(corio_cancel_token *tok);

/* Whether the token is cancelled (itself or through an ancestor). Once
 * true, true for good; what the canceller wrote before cancelling is
 * visible to a caller that sees true. false for NULL. */
CORIO_API bool corio_cancel_token_is_cancelled(const corio_cancel_token *tok);

/* Wait until the token is cancelled (returns at once if it is). Returns:
 *   0                the token is cancelled;
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT  the task is cancelled, or a deadline
 *                    scope expired (checked first: returned even when the
 *                    token is cancelled too, as by every await, see
 *                    corio_await); nothing consumed;
 *   -EINVAL          tok is NULL;
 *   CORIO_EWRONGCTX  inside a stackless task's poll function;
 *   -ENOMEM          plain code whose thread parker cannot be allocated. */
CORIO_API int corio_cancel_token_wait(corio_cancel_token *tok);

/* The future form of the wait, to race in a select or bound with
 * corio_timeout: its result is 0 once the token is cancelled, or -EINVAL
 * for a NULL token. It borrows `tok`. Dropping it unfinished just takes it
 * off the token's queue. 72 bytes.
 * Its only output is base.result (and what it writes through the pointers it
 * was given); its other fields are private. */
typedef struct corio_cancel_token_wait_fut {
    corio_future base;
    corio_cancel_token *token;
    corio_waiter_ w_;
} corio_cancel_token_wait_fut;

/* Initialise (lazy). Does nothing for a NULL f. */
CORIO_API void corio_cancel_token_wait_fut_init(corio_cancel_token_wait_fut *f,
                                               corio_cancel_token *tok);

#ifdef __cplusplus
}
#endif
#endif
