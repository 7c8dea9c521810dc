/* rt/idle.h - which workers of a multi-thread runtime sleep, which search
 * for work, and whom to wake when work appears (internal).
 *
 * tokio's protocol (runtime/scheduler/multi_thread/idle.rs), which keeps
 * both promises: no lost wakeup, and no thundering herd.
 *
 *  - `state` packs the number of unparked workers (high half) and of
 *    searching workers (low half). A searching worker is one with no task of
 *    its own that is looking through the other queues; at most half of the
 *    workers search at once.
 *  - New work (a push to the global queue, or to a local queue that others
 *    may steal from) wakes a sleeper only when nobody is searching and not
 *    everybody is awake: a searcher will find the work; an awake worker
 *    without it is a searcher or will become one.
 *  - The woken worker is counted as searching before it runs, so a second
 *    push right after does not wake a second one.
 *  - The last searcher to give up and park looks at every queue once more
 *    after it has counted itself parked: work pushed before that look is
 *    found; work pushed after it sees no searcher and wakes someone. (The
 *    multi-thread scheduler leaves out a short local queue whose owner is
 *    still polling, and wakes nobody for one: its watch covers those, see
 *    rt/multi_thread.c.)
 *
 * Every access to `state` is seq_cst: its reads and the pushers' reads of
 * it, and the queue counts on the other side, form store-load pairs across
 * threads (the same Dekker shape as the current-thread park handshake).
 */
#ifndef CORIO_RT_IDLE_H
#define CORIO_RT_IDLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct idle {
    _Atomic uint64_t state; /* unparked << 32 | searching */
    unsigned num_workers;
    pthread_mutex_t lock;
    unsigned *sleepers; /* stack of parked worker indices, under lock */
    unsigned n_sleepers;
} idle;

/* Every worker starts unparked, not searching. 0 or -ENOMEM. */
int idle_init(idle *id, unsigned num_workers);
void idle_destroy(idle *id);

/* The worker to wake for new work, already counted as unparked and
 * searching and taken off the sleepers, or -1 when nobody needs waking. */
int idle_worker_to_notify(idle *id);

/* Any sleeper but `except` (a worker index, or -1), already counted as
 * unparked and searching and taken off the sleepers, or -1: for making
 * another worker the watcher over stuck workers, the timers and the I/O
 * driver (rt/multi_thread.c), whatever the searchers. `mark`, when not
 * NULL, is set to 1 + the index before the lock is dropped: the woken
 * worker finds it set once awake (idle_from_parked takes the lock). */
int idle_wake_any(idle *id, int except, _Atomic int *mark);

/* A worker with nothing to run wants to search: false when half of them
 * already do (it parks instead). */
bool idle_to_searching(idle *id);

/* A searching worker found work. Returns true when it was the last searcher
 * (it then wakes another, so that someone keeps looking). */
bool idle_from_searching(idle *id);

/* A worker goes to sleep (`searching`: it was counted as searching).
 * Returns true when it was the last searcher: it must then look at every
 * queue once more before sleeping. */
bool idle_to_parked(idle *id, unsigned index, bool searching);

/* A worker that woke up. Notified (taken off the sleepers by the notifier,
 * counted unparked and searching): it runs as a searcher. Still on the
 * sleepers (its timeout or a driver event woke it): it takes itself off and
 * counts itself unparked, and searching only without work of its own
 * (`has_work`: tasks its driver turn or timers queued for it). A worker
 * that comes back with its own tasks is not looking for anyone else's, as
 * in tokio (transition_from_parked): counted as a searcher, it would wake
 * another worker as soon as it ran its first task (the last searcher
 * finding work does), and that one the next, for every burst of I/O.
 * Returns whether it is searching. */
bool idle_from_parked(idle *id, unsigned index, bool has_work);

/* Whether the worker is on the sleepers (for shutdown and tests). */
bool idle_is_parked(idle *id, unsigned index);

static inline unsigned idle_num_unparked(idle *id)
{
    return (unsigned)(atomic_load_explicit(&id->state, memory_order_seq_cst) >> 32);
}

static inline unsigned idle_num_searching(idle *id)
{
    return (unsigned)(atomic_load_explicit(&id->state, memory_order_seq_cst) & 0xffffffffu);
}

#endif
