/* sync/cancel_token.c - cancellation tokens and their trees
 * (corio/cancel_token.h).
 *
 * A token is a heap node: a cancelled flag, the tree links (parent, first
 * child, siblings), and a wait queue. The links of every token descending
 * from one corio_cancel_token_new are guarded by one spinlock, which lives
 * in that first token (`lock_root`; a token's lock_root never changes, so
 * finding the lock needs no lock).
 *
 * Invariants, all under the tree lock:
 *  - only uncancelled tokens are linked: cancel detaches the token from its
 *    parent and every descendant from its own, and a child of a cancelled
 *    token is born detached. So "cancelled" is one flag per token, set
 *    once, and is_cancelled is one load: no walk up the tree;
 *  - a linked token is alive: its last release unlinks it under the lock
 *    before it gives up the memory reference that its handles hold.
 *
 * Two counts: `handles` are the callers' (new, child, clone; release), and
 * the last one unlinks the token; `refs` keep the memory: one for all the
 * handles together, one per token whose lock_root this is, one while a
 * cancel wakes the token's waiters. The memory goes when refs reaches 0.
 *
 * Cancel marks the subtree breadth-first under the lock, threading the
 * tokens on a list through their own `wake_next` field (no recursion, no
 * allocation), each with a reference; after the unlock it closes each
 * token's wait queue (W_CLOSED wakes its waiters) and drops the reference.
 * A waiter checks the flag again under its queue's lock before queueing:
 * the flag is set before the queue is closed, so either the waiter sees it
 * or the close sees the waiter.
 */
#include <errno.h>
#include <stdlib.h>

#include "corio/cancel_token.h"
#include "corio/error.h"
#include "sync/waitq.h"

struct corio_cancel_token {
    unsigned handles;   /* atomic: the callers' handles */
    unsigned refs;      /* atomic: references to the memory */
    unsigned cancelled; /* atomic: set once, under the tree lock */
    int tree_lock;      /* the tree's spinlock, used in lock_root only */
    corio_cancel_token *lock_root;                  /* fixed at birth */
    corio_cancel_token *parent, *first_child;       /* under the tree lock */
    corio_cancel_token *prev, *next;                /* siblings, same */
    corio_cancel_token *wake_next;                  /* a cancel's list */
    corio_waitq_ wq;
};

/* ---- the tree lock: the same protocol as a wait queue's ------------------ */

/* Wait until the tree lock is free, with plain loads (the line is not
 * bounced between waiters). Acquire: is_cancelled reads what the last
 * holder wrote once it sees the lock free. */
static void tree_wait_free(const corio_cancel_token *root)
{
    unsigned spins = 0;
    while (__atomic_load_n(&root->tree_lock, __ATOMIC_ACQUIRE)) {
        if (++spins < 100)
            cpu_relax();
        else
            sched_yield(); /* the holder may be walking a big subtree */
    }
}

static void tree_lock(corio_cancel_token *root)
{
    /* Acquire: the previous holder's link changes are visible. */
    while (__atomic_exchange_n(&root->tree_lock, 1, __ATOMIC_ACQUIRE))
        tree_wait_free(root);
}

static void tree_unlock(corio_cancel_token *root)
{
    __atomic_store_n(&root->tree_lock, 0, __ATOMIC_RELEASE);
}

/* ---- memory -------------------------------------------------------------- */

static corio_cancel_token *token_alloc(void)
{
    corio_cancel_token *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->handles = 1;
    t->refs = 1; /* the handles' */
    t->lock_root = t;
    t->wq = (corio_waitq_)CORIO_WAITQ_INIT_;
    return t;
}

static void token_ref(corio_cancel_token *t)
{
    /* Relaxed: the caller already holds a reference (or the tree lock
     * while t is linked, which implies one), so t cannot go meanwhile. */
    __atomic_fetch_add(&t->refs, 1, __ATOMIC_RELAXED);
}

static void token_unref(corio_cancel_token *t)
{
    /* Acq_rel: every holder's use of the token is released with its
     * reference, and the last one acquires them all before the free (an
     * acquire fence would do on the last one only; TSan cannot see
     * fences). */
    if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    corio_cancel_token *root = t->lock_root;
    free(t);
    if (root != t)
        token_unref(root); /* a root's own lock_root is itself: depth 2 */
}

static bool flag_of(const corio_cancel_token *t)
{
    /* Acquire: pairs with cancel's release store, so what the canceller
     * wrote before cancelling, and the unlinking done with the flag, are
     * visible once the flag is seen. */
    return __atomic_load_n(&t->cancelled, __ATOMIC_ACQUIRE) != 0;
}

/* ---- links (under the tree lock) ----------------------------------------- */

static void link_child(corio_cancel_token *p, corio_cancel_token *c)
{
    c->parent = p;
    c->prev = NULL;
    c->next = p->first_child;
    if (p->first_child)
        p->first_child->prev = c;
    p->first_child = c;
}

static void unlink_from_parent(corio_cancel_token *t)
{
    corio_cancel_token *p = t->parent;
    if (!p)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        p->first_child = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->parent = t->prev = t->next = NULL;
}

/* The last handle of an uncancelled token went: its children go to its
 * parent (or become parentless, still in the same tree), and it leaves. */
static void unlink_and_adopt(corio_cancel_token *t)
{
    corio_cancel_token *p = t->parent;
    corio_cancel_token *c = t->first_child;
    t->first_child = NULL;
    while (c) {
        corio_cancel_token *next = c->next;
        c->prev = c->next = NULL;
        if (p)
            link_child(p, c);
        else
            c->parent = NULL;
        c = next;
    }
    unlink_from_parent(t);
}

/* ---- the API ------------------------------------------------------------- */

int corio_cancel_token_new(corio_cancel_token **out)
{
    if (!out)
        return -EINVAL;
    corio_cancel_token *t = token_alloc();
    *out = t; /* NULL on failure */
    if (!t)
        return -ENOMEM;
    return 0;
}

int corio_cancel_token_child(corio_cancel_token *parent, corio_cancel_token **out)
{
    if (out)
        *out = NULL; /* on every failure */
    if (!parent || !out)
        return -EINVAL;
    corio_cancel_token *t = token_alloc(); /* not under the spinlock */
    if (!t)
        return -ENOMEM;
    corio_cancel_token *root = parent->lock_root;
    tree_lock(root);
    if (__atomic_load_n(&parent->cancelled, __ATOMIC_RELAXED)) {
        /* (Relaxed: the flag is written under this lock.) Born cancelled,
         * and a tree of its own: it is never linked. */
        tree_unlock(root);
        __atomic_store_n(&t->cancelled, 1, __ATOMIC_RELAXED);
    } else {
        t->lock_root = root;
        token_ref(root);
        link_child(parent, t);
        tree_unlock(root);
    }
    *out = t;
    return 0;
}

corio_cancel_token *corio_cancel_token_clone(corio_cancel_token *tok)
{
    if (tok)
        /* Relaxed: the caller's own handle keeps the token alive. */
        __atomic_fetch_add(&tok->handles, 1, __ATOMIC_RELAXED);
    return tok;
}

void corio_cancel_token_release(corio_cancel_token *tok)
{
    if (!tok)
        return;
    /* Acq_rel: the last one sees every other holder's use of the token. */
    if (__atomic_sub_fetch(&tok->handles, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    /* A cancelled token is unlinked for good: no lock needed. */
    if (!flag_of(tok)) {
        corio_cancel_token *root = tok->lock_root;
        tree_lock(root);
        if (!__atomic_load_n(&tok->cancelled, __ATOMIC_RELAXED))
            unlink_and_adopt(tok);
        tree_unlock(root);
    }
    token_unref(tok);
}

void corio_cancel_token_cancel(corio_cancel_token *tok)
{
    if (!tok || flag_of(tok))
        return;
    corio_cancel_token *root = tok->lock_root;
    tree_lock(root);
    if (__atomic_load_n(&tok->cancelled, __ATOMIC_RELAXED)) {
        tree_unlock(root); /* another cancel got there first */
        return;
    }
    unlink_from_parent(tok);
    /* Breadth first: the list is the queue of tokens still to visit. */
    corio_cancel_token *head = tok, *tail = tok;
    tok->wake_next = NULL;
    token_ref(tok);
    for (corio_cancel_token *x = head; x; x = x->wake_next) {
        corio_cancel_token *c = x->first_child;
        x->first_child = NULL;
        while (c) {
            corio_cancel_token *next = c->next;
            c->parent = c->prev = c->next = NULL;
            token_ref(c); /* linked, hence alive */
            c->wake_next = NULL;
            tail->wake_next = c;
            tail = c;
            c = next;
        }
        /* Release: see flag_of; x is unlinked by now. */
        __atomic_store_n(&x->cancelled, 1, __ATOMIC_RELEASE);
    }
    tree_unlock(root);
    /* Wake outside the tree lock; each token's queue lock is taken by
     * waitq_close_all itself, as often as its wake list fills. */
    for (corio_cancel_token *x = head; x;) {
        corio_cancel_token *next = x->wake_next;
        waitq_close_all(&x->wq);
        token_unref(x);
        x = next;
    }
}

bool corio_cancel_token_is_cancelled(const corio_cancel_token *tok)
{
    if (!tok)
        return false;
    if (flag_of(tok))
        return true;
    /* Not marked: but a cancel marks its subtree one token after another,
     * under the tree lock, and a caller that saw another token of that
     * subtree cancelled (its flag, or a wake of its waiters) must see this
     * one cancelled too: "at once", says the header. Such a caller is
     * ordered after the canceller's taking of the lock (it happens before
     * the canceller's release of any flag), so this acquire load reads the
     * lock held, or a later release of it (the canceller's unlock, or one
     * after it, chained by the lockers' exchanges) with every flag of that
     * cancel visible. Held: wait for the holder (a cancel, a child being
     * made, a last release), then look again. */
    tree_wait_free(tok->lock_root); /* fixed; tok keeps it alive */
    return flag_of(tok);
}

/* ---- the wait future ----------------------------------------------------- */

static corio_poll ct_poll(corio_future *base, corio_context *cx)
{
    corio_cancel_token_wait_fut *f = (corio_cancel_token_wait_fut *)base;
    corio_cancel_token *t = f->token;
    switch (waiter_state(&f->w_)) {
    case W_CLOSED:
        f->w_.state_ = W_IDLE;
        base->result = 0;
        return CORIO_READY;
    case W_QUEUED:
        waitq_lock(&t->wq);
        if (waiter_state(&f->w_) == W_QUEUED) {
            waitq_update_waker(&f->w_, corio_context_waker(cx));
            waitq_unlock(&t->wq);
            return CORIO_PENDING;
        }
        waitq_unlock(&t->wq);
        return ct_poll(base, cx); /* cancelled meanwhile */
    default:
        break;
    }
    if (!t) {
        base->result = -EINVAL;
        return CORIO_READY;
    }
    if (flag_of(t))
        goto ready;
    waitq_lock(&t->wq);
    if (flag_of(t)) {
        waitq_unlock(&t->wq);
        goto ready;
    }
    waitq_push(&t->wq, &f->w_, corio_context_waker(cx), false);
    waitq_unlock(&t->wq);
    return CORIO_PENDING;
ready:
    base->result = 0;
    return CORIO_READY;
}

static void ct_drop(corio_future *base)
{
    corio_cancel_token_wait_fut *f = (corio_cancel_token_wait_fut *)base;
    corio_cancel_token *t = f->token;
    if (waiter_state(&f->w_) == W_QUEUED) {
        waitq_lock(&t->wq);
        if (waiter_state(&f->w_) == W_QUEUED)
            waitq_remove(&t->wq, &f->w_);
        waitq_unlock(&t->wq);
    }
    /* W_CLOSED unseen: a cancellation is for everyone; nothing to pass on. */
    f->w_.state_ = W_IDLE;
}

static const corio_future_vtable ct_vtable = {ct_poll, ct_drop};

void corio_cancel_token_wait_fut_init(corio_cancel_token_wait_fut *f, corio_cancel_token *tok)
{
    if (!f)
        return;
    corio_future_init(&f->base, &ct_vtable);
    f->token = tok;
    waiter_init(&f->w_);
}

int corio_cancel_token_wait(corio_cancel_token *tok)
{
    if (!tok)
        return -EINVAL;
    int ctx = sync_enter();
    if (ctx < 0)
        return ctx;
    if (flag_of(tok)) {
        sync_ready(ctx);
        return 0;
    }
    corio_cancel_token_wait_fut f;
    corio_cancel_token_wait_fut_init(&f, tok);
    int rc = sync_wait(&f.base);
    return rc ? rc : f.base.result;
}
