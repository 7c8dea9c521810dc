/* two_tasks.c - two spawned tasks that sleep, joined by main.
 *
 * Mirrors "Basic Usage" of seed 001 ("Rust Asynchronous Programming Guide"):
 *
 *     let task1 = tokio::spawn(async {
 *         println!("Task 1 running"); sleep(1 s).await; println!("Task 1 completed"); });
 *     let task2 = tokio::spawn(async {
 *         println!("Task 2 running"); sleep(2 s).await; println!("Task 2 completed"); });
 *     let _ = tokio::join!(task1, task2);
 *
 * How the C version maps onto it:
 *  - each `async` block is a coroutine function; tokio::spawn is corio_spawn,
 *    which returns a join handle (corio_task *).
 *  - `tokio::join!(task1, task2)` on two JoinHandles is two corio_task_join
 *    calls in a row: both tasks already run concurrently, so joining one after
 *    the other waits max(1 s, 2 s), not the sum.
 *  - `#[tokio::main]` is corio_run, which (like it) runs on a multi-thread
 *    runtime: the two tasks may start on two workers at once, so "Task 1
 *    running" and "Task 2 running" come in either order, as in tokio; both
 *    come before either task finishes.
 * The last line (elapsed time) is not in the Rust program.
 *
 *   usage: two_tasks [unit_ms]      (default 1000: Task 1 sleeps 1 unit, Task 2 two)
 */
#include <corio.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static long unit_ms = 1000;

static int task1(void *arg)
{
    (void)arg;
    printf("Task 1 running\n");
    int rc = corio_sleep(CORIO_MSEC(unit_ms));
    printf("Task 1 completed\n");
    return rc;
}

static int task2(void *arg)
{
    (void)arg;
    printf("Task 2 running\n");
    int rc = corio_sleep(CORIO_MSEC(2 * unit_ms));
    printf("Task 2 completed\n");
    return rc;
}

static int async_main(void *arg)
{
    (void)arg;
    corio_instant t0 = corio_instant_now();
    corio_task *t1, *t2;
    if (corio_spawn(task1, NULL, &t1) < 0)
        return 1;
    if (corio_spawn(task2, NULL, &t2) < 0) {
        corio_task_join(t1, NULL);
        return 1;
    }
    /* Wait for all tasks */
    int r1 = -1, r2 = -1;
    int j1 = corio_task_join(t1, &r1);
    int j2 = corio_task_join(t2, &r2);
    double ms = (double)(corio_instant_now() - t0) / 1e6;
    printf("both joined after %.0f ms (task sleeps: %ld and %ld ms)\n", ms, unit_ms, 2 * unit_ms);
    return (j1 | j2 | r1 | r2) == 0 ? 0 : 1;
}

#define USAGE_NAME "two_tasks"
#define USAGE_ARGS "two_tasks [unit_ms]"

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
