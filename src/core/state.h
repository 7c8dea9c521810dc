/* core/state.h - the task state word and its transitions (internal).
 *
 * A task's whole lifecycle is one atomic 64-bit word (tokio's `State`):
 *
 *   RUNNING        a thread is polling the task (a coroutine is on a CPU,
 *                  or parked by yield in a run queue, still RUNNING)
 *   COMPLETE       finished; `result` and the poll flags are published
 *   NOTIFIED       the task must be polled (again): exactly one run queue
 *                  holds it, or it is RUNNING and its poller requeues it
 *   JOIN_INTEREST  a join handle exists
 *   JOIN_WAKER     `join_waker` is set, and owned by the task side
 *   CANCELLED      abort was requested (sticky)
 *   bits 8..63     reference count, REF_ONE per reference
 *
 * References: one per join handle, one for the scheduler's registry of live
 * tasks (dropped at completion), one while NOTIFIED and queued (the queue's),
 * one per waker. The last reference frees the task.
 *
 * Every change of the word is one of the transitions below; nothing else
 * writes it. Each returns an outcome that says what its caller must do next
 * (queue the task, drop a reference, wake the joiner...), so no caller
 * re-derives it from the bits. The rules that make wakeups never lost:
 *  - only the transition that sets NOTIFIED on an idle (not RUNNING, not
 *    NOTIFIED, not COMPLETE) task queues it, so a task is in at most one queue;
 *  - a wake while RUNNING only sets NOTIFIED; the poller sees it in
 *    to_idle (the same CAS that clears RUNNING) and requeues the task itself.
 *
 * Memory orders, once for all transitions: a transition that hands the task
 * to another thread (notify, to_idle, to_complete) releases what the caller
 * wrote before it; one that takes the task over (to_running, seeing
 * COMPLETE) acquires. Notify is acq_rel: when it queues the task, the queue
 * link it writes next was last read by the previous poller before its
 * release in to_idle. Reference decrements are acq_rel, so the thread that
 * frees sees every write made under any reference.
 */
#ifndef CORIO_CORE_STATE_H
#define CORIO_CORE_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define ST_RUNNING (1ull << 0)
#define ST_COMPLETE (1ull << 1)
#define ST_NOTIFIED (1ull << 2)
#define ST_JOIN_INTEREST (1ull << 3)
#define ST_JOIN_WAKER (1ull << 4)
#define ST_CANCELLED (1ull << 5)
#define ST_REF_ONE (1ull << 8)
#define ST_REF_MASK (~(ST_REF_ONE - 1))

#define MUST_USE __attribute__((warn_unused_result))

typedef _Atomic uint64_t task_state;

/* A new task: NOTIFIED (it is about to be queued), with `refs` references
 * (registry + queue, + handle when `joinable`). Before publication. */
static inline void state_init(task_state *st, bool joinable)
{
    uint64_t refs = joinable ? 3 : 2;
    atomic_init(st, ST_NOTIFIED | refs * ST_REF_ONE | (joinable ? ST_JOIN_INTEREST : 0));
}

static inline uint64_t state_load(const task_state *st)
{
    return atomic_load_explicit((task_state *)st, memory_order_acquire);
}

/* ---- references ------------------------------------------------------------ */

static inline void state_ref_inc(task_state *st)
{
    /* Relaxed: a new reference is made from an existing one, which already
     * keeps the task alive; nothing is published by the increment. */
    atomic_fetch_add_explicit(st, ST_REF_ONE, memory_order_relaxed);
}

/* Drop one reference: true when it was the last (the caller frees). */
static inline MUST_USE bool state_ref_dec(task_state *st)
{
    uint64_t prev = atomic_fetch_sub_explicit(st, ST_REF_ONE, memory_order_acq_rel);
    return (prev & ST_REF_MASK) == ST_REF_ONE;
}

/* ---- polling ------------------------------------------------------------- */

typedef enum {
    RUN_OK,        /* poll it */
    RUN_CANCELLED, /* poll it knowing it is cancelled (a stackless task is dropped) */
} run_outcome;

/* NOTIFIED and idle -> RUNNING, clearing NOTIFIED. The caller popped the task
 * from a run queue (which held it, with its reference). */
static inline MUST_USE run_outcome state_to_running(task_state *st)
{
    uint64_t s = atomic_load_explicit(st, memory_order_relaxed);
    for (;;) {
        uint64_t ns = (s & ~ST_NOTIFIED) | ST_RUNNING;
        /* Acquire: everything the waker did before notifying is visible. */
        if (atomic_compare_exchange_weak_explicit(st, &s, ns, memory_order_acquire,
                                                  memory_order_relaxed))
            return (s & ST_CANCELLED) ? RUN_CANCELLED : RUN_OK;
    }
}

typedef enum {
    IDLE_OK,       /* idle now; the queue's reference was dropped */
    IDLE_NOTIFIED, /* woken while running: still NOTIFIED, queue it again
                    * (the queue's reference is kept for that) */
} idle_outcome;

/* RUNNING -> idle, after a poll that returned pending. */
static inline MUST_USE idle_outcome state_to_idle(task_state *st)
{
    uint64_t s = atomic_load_explicit(st, memory_order_relaxed);
    for (;;) {
        uint64_t ns = s & ~ST_RUNNING;
        if (!(s & ST_NOTIFIED))
            ns -= ST_REF_ONE; /* never the last: the registry holds one */
        /* Release: this poll's writes are visible to the next poller.
         * Acquire: a notifier's writes, when NOTIFIED is seen. */
        if (atomic_compare_exchange_weak_explicit(st, &s, ns, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return (s & ST_NOTIFIED) ? IDLE_NOTIFIED : IDLE_OK;
    }
}

typedef struct complete_outcome {
    bool wake_joiner; /* the join waker is set and the task side owns it: wake it */
    bool dealloc;     /* the references dropped with COMPLETE were the last */
} complete_outcome;

/* RUNNING -> COMPLETE, dropping `drop_refs` references in the same step (the
 * registry's and the queue's, when nobody can install a join waker any more).
 * Release publishes `result` and the poll flags to the joiner. */
static inline MUST_USE complete_outcome state_to_complete(task_state *st, unsigned drop_refs)
{
    /* Acquire: when JOIN_WAKER is seen, the waker the joiner stored before
     * its release is visible. */
    uint64_t prev = atomic_fetch_add_explicit(
        st, ST_COMPLETE - ST_RUNNING - drop_refs * ST_REF_ONE, memory_order_acq_rel);
    complete_outcome o;
    o.wake_joiner = (prev & ST_JOIN_INTEREST) && (prev & ST_JOIN_WAKER);
    o.dealloc = drop_refs && (prev & ST_REF_MASK) == drop_refs * ST_REF_ONE;
    return o;
}

/* ---- waking and cancelling ------------------------------------------------- */

typedef enum {
    NOTIFY_NONE,   /* already notified, running or complete: nothing to queue */
    NOTIFY_SUBMIT, /* newly notified and idle: the caller queues it, with a
                    * reference for the queue */
} notify_outcome;

/* Set NOTIFIED (a wake). */
static inline MUST_USE notify_outcome state_to_notified(task_state *st)
{
    uint64_t s = atomic_load_explicit(st, memory_order_relaxed);
    for (;;) {
        if (s & (ST_COMPLETE | ST_NOTIFIED))
            return NOTIFY_NONE;
        /* acq_rel: see the top of this file. */
        if (atomic_compare_exchange_weak_explicit(st, &s, s | ST_NOTIFIED, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return (s & ST_RUNNING) ? NOTIFY_NONE : NOTIFY_SUBMIT;
    }
}

/* RUNNING and woken while running -> RUNNING, NOTIFIED cleared: the poller
 * takes the wake itself and will poll again without going through to_idle
 * (a coroutine whose await was woken during its own poll yields instead of
 * suspending; the yield is what queues it, as any yield does). Only the
 * poller of a RUNNING task calls it. Returns whether NOTIFIED was set.
 * Acquire: the notifier's writes are visible to the poll that follows (a
 * wake after the clear sets NOTIFIED again, for to_idle to see). */
static inline MUST_USE bool state_take_notified(task_state *st)
{
    if (!(atomic_load_explicit(st, memory_order_relaxed) & ST_NOTIFIED))
        return false;
    (void)atomic_fetch_and_explicit(st, ~ST_NOTIFIED, memory_order_acquire);
    return true;
}

/* CORIO_DEBUG's quarantine (core/task.c): a freed task's word becomes
 * STATE_DEAD, a value no live task has, so that a handle used after its
 * give-back is recognised. Only on memory no reference reaches any more. */
#define STATE_DEAD 0xDEADDEADDEADDEADull

static inline void state_poison(task_state *st)
{
    atomic_store_explicit(st, STATE_DEAD, memory_order_relaxed);
}

/* Set CANCELLED and NOTIFIED (an abort). NOTIFY_SUBMIT as for a wake; nothing
 * at all happens on a task already complete or already cancelled. */
static inline MUST_USE notify_outcome state_to_cancelled(task_state *st)
{
    uint64_t s = atomic_load_explicit(st, memory_order_relaxed);
    for (;;) {
        if (s & (ST_COMPLETE | ST_CANCELLED))
            return NOTIFY_NONE;
        uint64_t ns = s | ST_CANCELLED | ST_NOTIFIED;
        if (atomic_compare_exchange_weak_explicit(st, &s, ns, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return (s & (ST_RUNNING | ST_NOTIFIED)) ? NOTIFY_NONE : NOTIFY_SUBMIT;
    }
}

/* ---- the join handle's side ------------------------------------------------ */

/* Give up JOIN_INTEREST (the handle is given back); also takes JOIN_WAKER
 * back unless the task completed. Returns the word before: if it had
 * JOIN_WAKER and not COMPLETE, the caller now owns the join waker and drops
 * it. The caller still drops the handle's reference. */
static inline MUST_USE uint64_t state_unset_join_interest(task_state *st)
{
    uint64_t s = atomic_load_explicit(st, memory_order_relaxed);
    for (;;) {
        uint64_t ns = s & ~ST_JOIN_INTEREST;
        if (!(s & ST_COMPLETE))
            ns &= ~ST_JOIN_WAKER;
        if (atomic_compare_exchange_weak_explicit(st, &s, ns, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return s;
    }
}

/* Publish the join waker the caller has just written: false when the task
 * completed first (the caller still owns the waker, and the result is
 * visible). Release: the waker is visible to the completer. */
static inline MUST_USE bool state_set_join_waker(task_state *st)
{
    /* Acquire on the loads: when COMPLETE is seen, so is the result. */
    uint64_t s = atomic_load_explicit(st, memory_order_acquire);
    for (;;) {
        if (s & ST_COMPLETE)
            return false;
        if (atomic_compare_exchange_weak_explicit(st, &s, s | ST_JOIN_WAKER, memory_order_acq_rel,
                                                  memory_order_acquire))
            return true;
    }
}

/* Take the join waker back to replace it: false when the task completed (the
 * task side may be using it; the result is visible). */
static inline MUST_USE bool state_unset_join_waker(task_state *st)
{
    uint64_t s = atomic_load_explicit(st, memory_order_acquire);
    for (;;) {
        if (s & ST_COMPLETE)
            return false;
        if (atomic_compare_exchange_weak_explicit(st, &s, s & ~ST_JOIN_WAKER, memory_order_acquire,
                                                  memory_order_acquire))
            return true;
    }
}

#endif
