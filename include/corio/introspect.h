/* corio/introspect.h - seeing inside a running runtime: metrics and a task
 * dump (tokio's RuntimeMetrics and Handle::dump; what tokio-console shows).
 *
 *   corio_metrics m;
 *   corio_rt_metrics(rt, &m);             counts for the whole runtime
 *   corio_worker_metrics wm;
 *   corio_rt_worker_metrics(rt, 0, &wm);  one worker's counters
 *   corio_task_snapshot *s;
 *   corio_rt_task_snapshot(rt, &s);       every live task: id, name, spawn
 *   ...                                   site, status
 *   corio_task_snapshot_free(s);
 *   corio_rt_dump(rt, stderr);            all of it, for a human
 *
 * Where from: any thread, and any task, of this runtime or another (a task
 * may dump its own runtime), while `rt` is alive - from its build until its
 * corio_rt_free or corio_rt_shutdown_timeout begins. They never wait for
 * the runtime's threads: they read what those publish, taking at most a
 * short internal lock that spawns also take, so they answer even while
 * every worker is stuck in a long poll, or a current-thread runtime's
 * driving thread is, or nobody drives it - the times a dump is wanted
 * most. Not from a signal handler (they allocate, or lock).
 *
 * What a reading is worth: each number is exact at some moment during the
 * call (but for alive_tasks of a multi-thread runtime, a sum of the counts
 * of the list's shards, each exact at its own moment), and the numbers are
 * not one consistent picture (a task may finish between the count of alive
 * tasks and the snapshot); counters only grow,
 * so two readings a second apart give rates. Reading costs the runtime
 * nothing between readings: every counter is one the scheduler keeps
 * anyway, or a plain store on a cache line its own worker owns.
 *
 * Cost of a reading: corio_rt_metrics takes no lock of the runtime's list
 * of tasks (it reads the counts that list keeps; only the blocking pool's
 * lock, briefly); corio_rt_task_snapshot allocates one block for the whole
 * snapshot (48 bytes per task, plus its strings) and holds each lock of
 * that list (4 per worker; one for the current-thread flavour, a
 * membarrier(2) each time) while it copies its share of the tasks: call it
 * for a dump, not in a loop.
 */
#ifndef CORIO_INTROSPECT_H
#define CORIO_INTROSPECT_H

#include "api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The whole runtime. */
typedef struct corio_metrics {
    corio_rt_flavor flavor;
    /* Worker threads: 1 for the current-thread flavour (the thread that
     * drives it), worker_threads for the multi-thread one. */
    unsigned workers;
    /* Tasks spawned and not yet finished (tokio's num_alive_tasks): queued,
     * running or waiting, the main task of corio_rt_block_on included.
     * Blocking jobs are counted below, not here. A task leaves this count
     * when it completes, whether or not its handle is still held.
     * A task spawned from outside the runtime's threads (not from its
     * driving thread or a worker) joins this count, spawned_tasks and the
     * snapshot only when the driving thread or a worker takes it from the
     * inject or global queue; until then (every worker stuck in a poll,
     * or nobody driving a current-thread runtime) it is counted in
     * global_queue_depth only. */
    uint64_t alive_tasks;
    /* Tasks ever accepted by this runtime (refused spawns are not counted;
     * those spawned from outside: see above). */
    uint64_t spawned_tasks;
    /* Tasks spawned or woken by threads outside the runtime's workers that
     * no worker has taken yet (the global queue; the current-thread
     * flavour's inject queue). */
    uint64_t global_queue_depth;
    /* The blocking pool (corio_spawn_blocking, and the file-system calls
     * and name lookups that run there): threads alive, those of them
     * waiting for a job, and jobs queued for a thread. */
    unsigned blocking_threads;
    unsigned idle_blocking_threads;
    uint64_t blocking_queue_depth;
    /* File descriptors registered with the I/O driver (sockets, corio_fd,
     * signal and wake-up fds of the runtime's own). */
    uint64_t io_fds;
} corio_metrics;

/* Read the runtime's metrics into *out. 0, or -EINVAL (a NULL argument). */
CORIO_API int corio_rt_metrics(corio_rt *rt, corio_metrics *out);

/* One worker thread. Counters start at 0 when the runtime is built and only
 * grow; the depth is a momentary value. */
typedef struct corio_worker_metrics {
    /* Task polls: a stackless task's poll function called once, or a
     * coroutine run from a resume to its next suspension. */
    uint64_t polls;
    /* Times the worker went to sleep with nothing to do (tokio's
     * park_count). */
    uint64_t parks;
    /* Tasks it took from other workers' queues, and how many times it did
     * (each steal moves one task or more; tokio's steal_count and
     * steal_operations). Always 0 for the current-thread flavour. */
    uint64_t steals;
    uint64_t steal_ops;
    /* Times its local queue was full and it moved half of it to the global
     * queue (tokio's overflow_count). Always 0 for the current-thread
     * flavour, whose queue is unbounded. */
    uint64_t overflows;
    /* Tasks in its local queue (its LIFO slot included): now for the
     * multi-thread flavour; the current-thread one publishes it at each
     * turn of its loop (at most event_interval polls ago). */
    uint64_t local_queue_depth;
    /* Time it has spent awake (running tasks, stealing, its timers and I/O)
     * rather than asleep, in nanoseconds, up to about the moment of the
     * call (tokio's total_busy_duration). Current-thread: only while a
     * thread drives the runtime. */
    uint64_t busy_ns;
} corio_worker_metrics;

/* Read worker `index`'s counters (0 <= index < corio_metrics.workers) into
 * *out. 0, or -EINVAL (a NULL argument, an index out of range). */
CORIO_API int corio_rt_worker_metrics(corio_rt *rt, unsigned index, corio_worker_metrics *out);

/* ---- the task dump ----------------------------------------------------------- */

typedef enum corio_task_status {
    /* Waiting for a waker: suspended in an await, or a stackless task whose
     * poll returned CORIO_PENDING. */
    CORIO_TASK_WAITING = 0,
    /* Ready and queued for a worker (new, or woken). */
    CORIO_TASK_QUEUED = 1,
    /* Being polled on a worker now. A coroutine that called corio_yield
     * counts as running until its next turn. */
    CORIO_TASK_RUNNING = 2,
    /* Finished, on its way out of the runtime's list. */
    CORIO_TASK_FINISHED = 3,
} corio_task_status;

typedef struct corio_task_info {
    uint64_t id;              /* corio_task_id */
    corio_task_status status;
    bool cancelled;           /* abort or shutdown has asked it to stop */
    bool coroutine;           /* a coroutine (false: a stackless future) */
    /* Copies, owned by the snapshot: the task's name (NULL when unnamed)
     * and its spawn site (file and func "?", line 0, when spawned with no
     * site). */
    const char *name;
    const char *file;
    int line;
    const char *func;
} corio_task_info;

typedef struct corio_task_snapshot {
    size_t n;                /* tasks */
    corio_task_info *tasks;  /* n of them, in no particular order */
} corio_task_snapshot;

/* Every live task of the runtime (those counted in alive_tasks: not those
 * spawned from outside still in the inject or global queue), each as it
 * was at some moment during the call; tasks spawned or finished meanwhile
 * may or may not be in it. The snapshot is self-contained: it stays valid
 * after the tasks and the runtime are gone. Give it back with
 * corio_task_snapshot_free. 0 and *out set, or -EINVAL (a NULL argument),
 * -ENOMEM (*out is then NULL). */
CORIO_API int corio_rt_task_snapshot(corio_rt *rt, corio_task_snapshot **out);

/* Free a snapshot (NULL: nothing). */
CORIO_API void corio_task_snapshot_free(corio_task_snapshot *s);

/* Write a report for a human to `f`: the runtime's metrics, a line per
 * worker, then the live tasks grouped by spawn site and name, the largest
 * groups first, each with how many are running, queued, waiting and
 * cancelled. Like Go's goroutine dump or tokio-console's task list; wire it
 * to a signal for a program that seems stuck (examples/introspection.c).
 * 0, or -EINVAL (a NULL argument), -ENOMEM, or -EIO (writing to f failed). */
CORIO_API int corio_rt_dump(corio_rt *rt, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
