/* select_abort.c - cancellation with select! and abort().
 *
 * Mirrors two seeds:
 *  - seed 003, "Cancellation with select!":
 *        let handle = tokio::spawn(async {
 *            for i in 0..100 {
 *                println!("Working on step {}", i);
 *                tokio::time::sleep(Duration::from_millis(100)).await;
 *            }
 *        });
 *        tokio::select! {
 *            _ = handle => println!("Task completed"),
 *            _ = tokio::time::sleep(Duration::from_secs(1)) => {
 *                println!("Cancelled!");
 *                handle.abort(); // Force task to stop
 *            }
 *        }
 *  - seed 004, "Cancellation": my_task() sleeps 10 s; main sleeps 2 s, then
 *        select! { _ = &mut task => "Task completed successfully.",
 *                  _ = sleep(1 s) => { "Timeout reached, cancelling task."; task.abort(); } }
 *
 * How the C version maps onto it:
 *  - `_ = handle` is the handle's future, corio_join_fut, raced with a
 *    corio_sleep_fut by corio_select. The join future only borrows the
 *    handle (seed 004's `&mut task`): when the sleep wins, the join future
 *    is dropped, the task runs on, and the handle is still there to abort;
 *  - handle.abort() is corio_task_abort: cancellation is cooperative, so
 *    the worker's pending sleep returns CORIO_ECANCELED and the worker runs
 *    its own cleanup before it ends (tokio drops the future instead; in C
 *    the function unwinds). The program joins the handle after the abort
 *    and shows the cleanup ran, once, and that the steps stopped.
 *
 *   usage: select_abort [unit_ms]   (default 100: one step; the timeout is
 *                                    ten steps, seed 004's times are in steps too)
 */
#include <corio.h>
#include <errno.h>
#include <corio/select.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static long unit_ms = 100;

typedef struct worker_state {
    atomic_bool started;
    int steps_done;
    atomic_int cleanups;
} worker_state;

static int worker(void *arg)
{
    worker_state *w = arg;
    int rc = 0;
    atomic_store(&w->started, true);
    for (int i = 0; i < 100; i++) {
        printf("Working on step %d\n", i);
        if ((rc = corio_sleep(CORIO_MSEC(unit_ms))) < 0)
            break;
        w->steps_done = i + 1;
    }
    /* The cleanup: runs whether the loop ended or was cancelled. */
    atomic_fetch_add(&w->cleanups, 1);
    printf("worker: cleanup after %d steps (%s)\n", w->steps_done,
           rc < 0 ? corio_err_name(rc) : "finished");
    return rc;
}

/* Seed 004's my_task(): one long sleep (10 s: a hundred steps). */
static int my_task(void *arg)
{
    worker_state *w = arg;
    int rc = corio_sleep(CORIO_MSEC(100 * unit_ms));
    if (rc == 0)
        printf("Task completed\n");
    atomic_fetch_add(&w->cleanups, 1);
    printf("my_task: cleanup (%s)\n", rc < 0 ? corio_err_name(rc) : "finished");
    return rc;
}

/* Race the task's join against a timeout of `steps` units; abort on timeout. */
static int race_and_abort(corio_task *handle, long steps, const char *done_msg,
                          const char *timeout_msg)
{
    corio_join_fut join;
    corio_sleep_fut timeout;
    corio_join_fut_init(&join, handle);
    corio_sleep_fut_init(&timeout, CORIO_MSEC(steps * unit_ms));
    size_t i;
    if (corio_select(CORIO_FUTURES(&join.base, &timeout.base), &i) < 0)
        return -1;
    if (i == 0) {
        printf("%s\n", done_msg);
    } else {
        printf("%s\n", timeout_msg);
        corio_task_abort(handle); /* Force task to stop */
    }
    int result = 0;
    int rc = corio_task_join(handle, &result);
    printf("join: %s, the worker returned %s\n", rc == 0 ? "0" : corio_err_name(rc),
           result == 0 ? "0" : corio_err_name(result));
    return (int)i;
}

static int async_main(void *arg)
{
    (void)arg;
    printf("seed 003: select! { _ = handle => .., _ = sleep(1 s) => { Cancelled!; handle.abort() } }\n");
    static worker_state w1;
    corio_task *h;
    corio_instant t0 = corio_instant_now(); /* before the worker can take a step */
    if (corio_spawn(worker, &w1, &h) < 0)
        return 1;
    /* The task is running before the race starts: on a busy machine a
     * worker thread may take a while to pick it up, and an abort that came
     * first would cancel a task that never ran (no step, no cleanup). */
    while (!atomic_load(&w1.started))
        corio_sleep(CORIO_MSEC(1));
    if (race_and_abort(h, 10, "Task completed", "Cancelled!") != 1)
        return 1;
    double ms = (double)(corio_instant_now() - t0) / 1e6;
    int steps = w1.steps_done;
    corio_sleep(CORIO_MSEC(3 * unit_ms)); /* were it still running, it would go on */
    printf("stopped after %d of 100 steps, %.0f ms; cleanup ran %d time(s); no step since: %s\n",
           steps, ms, atomic_load(&w1.cleanups), w1.steps_done == steps ? "yes" : "NO");

    printf("seed 004: sleep 2 s, then select! { _ = &mut task => .., _ = sleep(1 s) => abort }\n");
    static worker_state w2;
    if (corio_spawn(my_task, &w2, &h) < 0)
        return 1;
    corio_sleep(CORIO_MSEC(20 * unit_ms));
    if (race_and_abort(h, 10, "Task completed successfully.", "Timeout reached, cancelling task.") !=
        1)
        return 1;
    printf("cleanup ran %d time(s)\n", atomic_load(&w2.cleanups));
    return atomic_load(&w1.cleanups) == 1 && atomic_load(&w2.cleanups) == 1 ? 0 : 1;
}

#define USAGE_NAME "select_abort"
#define USAGE_ARGS "select_abort [unit_ms]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        unit_ms = arg_long(argv[1], 1, 60000);
    if (unit_ms < 1)
        unit_ms = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result;
    return corio_run(async_main, NULL, &result) == 0 ? result : 1;
}
