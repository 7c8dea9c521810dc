/* scope_borrow.c - structured concurrency: tasks that borrow their parent's
 * stack (corio/scope.h).
 *
 * tokio::spawn needs 'static futures, so a task cannot borrow a local of
 * the function that spawned it (tokio#1879, tokio#2592: scoped tasks were
 * never shipped). With plain corio_spawn the same holds: a detached task
 * may outlive any frame. corio_scope_run does not return before every task
 * spawned into its scope has finished, so they may use the caller's
 * locals. Four parts:
 *  1. four children sum slices of an array on the parent's stack and write
 *     their sums into another stack array;
 *  2. a failure cancels the siblings (try_join): one child fails with
 *     -EIO, the others are cancelled, their cleanup runs, and -EIO is the
 *     scope's result;
 *  3. a deadline scope: children slower than the deadline are cancelled;
 *  4. the parent itself is aborted while its children use its stack: the
 *     scope still waits for them before the parent unwinds.
 *
 *   usage: scope_borrow [unit_ms]   (default 100)
 */
#include <corio.h>
#include <errno.h>
#include <corio/scope.h>
#include <stdio.h>
#include <stdlib.h>

static long unit_ms = 100;

static double ms_since(corio_instant t0)
{
    return (double)(corio_instant_now() - t0) / 1e6;
}

/* ---- 1. borrowing ------------------------------------------------------------ */

typedef struct slice {
    const int *data; /* the parent's array */
    int n;
    long *sum; /* the parent's result slot */
} slice;

static int sum_slice(void *arg)
{
    slice *s = arg;
    long sum = 0;
    for (int i = 0; i < s->n; i++) {
        sum += s->data[i];
        if (i % 100 == 99)
            corio_yield(); /* interleave with the siblings */
    }
    *s->sum = sum;
    return 0;
}

typedef struct sum_job {
    int data[1000];
    long sums[4];
    slice slices[4];
} sum_job;

static int sum_body(corio_scope *sc, void *arg)
{
    sum_job *j = arg;
    for (int i = 0; i < 4; i++) {
        j->slices[i] = (slice){j->data + 250 * i, 250, &j->sums[i]};
        int rc = corio_scope_spawn(sc, sum_slice, &j->slices[i], NULL);
        if (rc < 0)
            return rc;
    }
    return 0; /* corio_scope_run joins them */
}

/* ---- 2. and 3.: children that sleep, one maybe failing ---------------------- */

typedef struct fetch {
    int id;
    long units;  /* how long it works */
    int fail;    /* return -EIO at the end */
    int cleanup; /* the cleanup ran */
    int result;  /* the scope writes the child's result here */
} fetch;

static int fetch_task(void *arg)
{
    fetch *f = arg;
    int rc = corio_sleep(CORIO_MSEC(f->units * unit_ms));
    f->cleanup = 1; /* runs whether the sleep finished or was cancelled */
    if (rc < 0)
        return rc;
    return f->fail ? -EIO : f->id * 10;
}

static int fetch_body(corio_scope *sc, void *arg)
{
    fetch *fs = arg;
    for (int i = 0; i < 4; i++) {
        int rc = corio_scope_spawn(sc, fetch_task, &fs[i], &fs[i].result);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A scope takes no deadline of its own: a deadline scope goes around it. */
static int fetch_scope(void *arg)
{
    return corio_scope_run(fetch_body, arg, NULL);
}

static void print_fetches(const fetch *fs)
{
    for (int i = 0; i < 4; i++) {
        char res[32];
        if (fs[i].result < 0)
            snprintf(res, sizeof res, "%s", corio_err_name(fs[i].result));
        else
            snprintf(res, sizeof res, "%d", fs[i].result);
        printf("  child %d (%ld units%s): result %s, cleanup ran: %s\n", fs[i].id, fs[i].units,
               fs[i].fail ? ", fails" : "", res, fs[i].cleanup ? "yes" : "NO");
    }
}

/* ---- 4. the parent aborted ------------------------------------------------------ */

static int careful_child(void *arg)
{
    int *slot = arg;
    int rc = corio_sleep(CORIO_MSEC(100 * unit_ms));
    /* Cancelled: the cleanup still writes into the parent's frame, which
     * the scope keeps alive until this returns. */
    *slot = rc == CORIO_ECANCELED ? 1 : 2;
    return rc;
}

static int careful_body(corio_scope *sc, void *arg)
{
    int *slots = arg;
    for (int i = 0; i < 3; i++)
        corio_scope_spawn(sc, careful_child, &slots[i], NULL);
    return corio_sleep(CORIO_MSEC(100 * unit_ms));
}

static int parent_task(void *arg)
{
    int *seen = arg;
    int slots[3] = {0, 0, 0}; /* borrowed by the children */
    int rc = corio_scope_run(careful_body, slots, NULL);
    *seen = slots[0] + slots[1] + slots[2];
    printf("  parent: scope returned %s; the children's cleanup had written %d of 3 slots\n",
           corio_err_name(rc), *seen);
    return rc;
}

static int async_main(void *arg)
{
    (void)arg;
    int ok = 1;

    printf("1. four children sum a 1000-int array on the parent's stack\n");
    sum_job j; /* this frame's: borrowed */
    for (int i = 0; i < 1000; i++)
        j.data[i] = i + 1;
    int rc = corio_scope_run(sum_body, &j, NULL);
    long total = j.sums[0] + j.sums[1] + j.sums[2] + j.sums[3];
    printf("  scope returned %d; sums %ld + %ld + %ld + %ld = %ld (expected 500500)\n", rc,
           j.sums[0], j.sums[1], j.sums[2], j.sums[3], total);
    ok &= rc == 0 && total == 500500;

    printf("2. a failure cancels the siblings\n");
    fetch fs[4] = {{0, 10, 0, 0, 0}, {1, 1, 1, 0, 0}, {2, 10, 0, 0, 0}, {3, 10, 0, 0, 0}};
    corio_instant t0 = corio_instant_now();
    rc = corio_scope_run(fetch_body, fs, NULL);
    printf("  scope returned %s after %.0f ms\n", corio_err_name(rc), ms_since(t0));
    print_fetches(fs);
    ok &= rc == -EIO && fs[0].result == CORIO_ECANCELED && fs[0].cleanup;

    printf("3. a deadline scope of 3 units\n");
    fetch gs[4] = {{0, 1, 0, 0, 0}, {1, 2, 0, 0, 0}, {2, 5, 0, 0, 0}, {3, 8, 0, 0, 0}};
    t0 = corio_instant_now();
    (void)corio_timeout_call(CORIO_MSEC(3 * unit_ms), fetch_scope, gs, &rc); /* rc: the scope's */
    printf("  scope returned %s after %.0f ms\n", corio_err_name(rc), ms_since(t0));
    print_fetches(gs);
    ok &= rc == CORIO_ETIMEDOUT && gs[0].result == 0 && gs[1].result == 10 &&
          gs[2].result == CORIO_ECANCELED && gs[3].cleanup;

    printf("4. the parent is aborted while its children borrow its stack\n");
    int seen = 0;
    corio_task *p;
    if (corio_spawn(parent_task, &seen, &p) < 0)
        return 1;
    corio_sleep(CORIO_MSEC(unit_ms));
    corio_task_abort(p);
    int r;
    rc = corio_task_join(p, &r);
    printf("  join: %s; every child had finished first: %s\n", corio_err_name(rc),
           seen == 3 ? "yes" : "NO");
    ok &= seen == 3;
    return ok ? 0 : 1;
}

#define USAGE_NAME "scope_borrow"
#define USAGE_ARGS "scope_borrow [unit_ms]"

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
