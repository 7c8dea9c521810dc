/* cleanup_guard.c - cleanup that runs even when a task is cancelled
 * (seed 002, "Forgetting about task cancellation").
 *
 * The seed's problem, in Rust:
 *     task_counter.fetch_add(1);
 *     do_something().await;          // the task may be cancelled here...
 *     task_counter.fetch_sub(1);     // ...and then this never runs
 * and its fix, a scopeguard whose destructor runs when the future is
 * dropped. In corio a cancelled coroutine is not dropped at its await: the
 * await returns CORIO_ECANCELED (and so does every later one), so the code
 * after it runs, as straight-line C. The guard is simply the code after the
 * await, written so that it runs on every path (here: no early return
 * between the increment and the decrement; bigger functions use one
 * `goto out` cleanup label). Two ways to cancel are shown:
 *  1. corio_task_abort on three running tasks;
 *  2. a scope (corio/scope.h) inside a deadline scope (corio_timeout_call):
 *     the scope cancels its children when the deadline passes, and returns
 *     only once their cleanup has run, so the counter is back to 0 the
 *     moment corio_scope_run returns.
 *
 *   usage: cleanup_guard [unit_ms]   (default 100)
 */
#include <corio.h>
#include <errno.h>
#include <corio/scope.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static long unit_ms = 100;

typedef struct counters {
    atomic_int active;   /* the seed's task_counter */
    atomic_int cleanups; /* how often the guard ran */
} counters;

/* do_something(): a long wait, the point where the task is cancelled. */
static int do_something(void)
{
    return corio_sleep(CORIO_MSEC(50 * unit_ms));
}

static int my_task(void *arg)
{
    counters *c = arg;
    atomic_fetch_add(&c->active, 1);
    char *buf = malloc(4096); /* a resource the guard gives back too */
    int rc = buf ? do_something() : -ENOMEM;
    /* The guard: reached whether do_something finished, failed or was
     * cancelled (rc == CORIO_ECANCELED). */
    free(buf);
    atomic_fetch_sub(&c->active, 1);
    atomic_fetch_add(&c->cleanups, 1);
    return rc;
}

static int spawn_three(corio_scope *sc, void *arg)
{
    for (int i = 0; i < 3; i++) {
        int rc = corio_scope_spawn(sc, my_task, arg, NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int run_three(void *arg)
{
    return corio_scope_run(spawn_three, arg, NULL);
}

static int async_main(void *arg)
{
    (void)arg;
    int ok = 1;

    printf("1. three tasks aborted mid-await\n");
    counters a = {0, 0};
    corio_task *t[3];
    for (int i = 0; i < 3; i++)
        if (corio_spawn(my_task, &a, &t[i]) < 0)
            return 1;
    corio_sleep(CORIO_MSEC(unit_ms)); /* they are in do_something() by now... */
    while (atomic_load(&a.active) < 3) /* ...unless the machine is busy: wait for them */
        corio_sleep(CORIO_MSEC(1));
    printf("  active before the abort: %d\n", atomic_load(&a.active));
    for (int i = 0; i < 3; i++)
        corio_task_abort(t[i]);
    for (int i = 0; i < 3; i++) {
        int r = 0;
        int rc = corio_task_join(t[i], &r);
        printf("  task %d: join %s, it returned %s\n", i, corio_err_name(rc), corio_err_name(r));
    }
    printf("  active after: %d, cleanup ran %d time(s)\n", atomic_load(&a.active),
           atomic_load(&a.cleanups));
    ok &= atomic_load(&a.active) == 0 && atomic_load(&a.cleanups) == 3;

    printf("2. three tasks in a scope with a deadline of 2 units\n");
    counters s = {0, 0};
    corio_instant t0 = corio_instant_now();
    int rc = 0; /* the scope's status; the deadline scope's own is CORIO_ETIMEDOUT too */
    (void)corio_timeout_call(CORIO_MSEC(2 * unit_ms), run_three, &s, &rc);
    printf("  scope returned %s after %.0f ms\n", corio_err_name(rc),
           (double)(corio_instant_now() - t0) / 1e6);
    printf("  active when it returned: %d, cleanup ran %d time(s)\n", atomic_load(&s.active),
           atomic_load(&s.cleanups));
    ok &= rc == CORIO_ETIMEDOUT && atomic_load(&s.active) == 0 && atomic_load(&s.cleanups) == 3;
    return ok ? 0 : 1;
}

#define USAGE_NAME "cleanup_guard"
#define USAGE_ARGS "cleanup_guard [unit_ms]"

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
