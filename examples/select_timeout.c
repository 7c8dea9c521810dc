/* select_timeout.c - racing a future against a timer, and two tasks
 * against each other.
 *
 * Mirrors two seeds:
 *  - seed 003, "Composing Futures with select!":
 *        tokio::select! {
 *            _ = sleep(Duration::from_secs(1)) => { println!("Timeout!"); }
 *            result = fetch_data() => { println!("Got data: {:?}", result); }
 *        }
 *        async fn fetch_data() -> String { sleep(500 ms).await; "data".to_string() }
 *    "Only the branch that completes first is executed. The others are dropped."
 *  - seed 001, "Select and Join":
 *        select! {
 *            result1 = task1 => println!("Task 1 finished first: {:?}", result1),
 *            result2 = task2 => println!("Task 2 finished first: {:?}", result2),
 *        }
 *
 * How the C version maps onto it:
 *  - each branch is a future: the sleep is a corio_sleep_fut, fetch_data()
 *    a hand-written future (a sleep, then "data"), task1/task2 the join
 *    futures (corio_join_fut) of two spawned tasks;
 *  - `select! { a => .., b => .. }` is corio_select(CORIO_FUTURES(&a.base,
 *    &b.base), &i): i says which branch won, and the winner's output is in
 *    its own future (fetch.data, join.value); the C `if` on i is the arms;
 *  - the losers are dropped by the select before it returns: the program
 *    shows it (the losing fetch's timer is disarmed; a losing join only
 *    stops waiting: its task goes on, and is joined after, as in tokio
 *    where dropping a JoinHandle does not stop the task). In the seed,
 *    task1 and task2 are plain async blocks, not spawned: there the loser
 *    is dropped and never finishes; the C version's equivalent of that is
 *    the first part's losing fetch future.
 *
 *   usage: select_timeout [fast | scale=X]   (default: the seeds' durations;
 *                                             fast = scale=0.1)
 */
#include <corio.h>
#include <errno.h>
#include <corio/select.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double scale = 1.0;

static corio_duration ms(double m)
{
    return (corio_duration)(m * scale * 1e6);
}

static double ms_since(corio_instant t0)
{
    return (double)(corio_instant_now() - t0) / 1e6;
}

/* ---- fetch_data() ---------------------------------------------------------------- */

typedef struct fetch_fut {
    corio_future base; /* result: 0, data set */
    corio_sleep_fut delay;
    const char *data;
    bool dropped;
} fetch_fut;

static corio_poll fetch_poll(corio_future *f, corio_context *cx)
{
    fetch_fut *ff = (fetch_fut *)f;
    if (corio_future_poll(&ff->delay.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    ff->data = "data";
    f->result = 0;
    return CORIO_READY;
}

static void fetch_drop(corio_future *f)
{
    fetch_fut *ff = (fetch_fut *)f;
    corio_future_drop(&ff->delay.base);
    ff->dropped = true;
}

static const corio_future_vtable fetch_vtable = {fetch_poll, fetch_drop};

static void fetch_data(fetch_fut *f, double takes_ms)
{
    corio_future_init(&f->base, &fetch_vtable);
    corio_sleep_fut_init(&f->delay, ms(takes_ms));
    f->data = NULL;
    f->dropped = false;
}

/* The seed's select!, with fetch_data() taking `takes_ms`. */
static int race(double takes_ms)
{
    printf("  fetch_data() takes %.0f ms, the sleep 1000 ms:\n", takes_ms);
    corio_instant t0 = corio_instant_now();
    corio_sleep_fut timeout;
    fetch_fut fetch;
    corio_sleep_fut_init(&timeout, ms(1000));
    fetch_data(&fetch, takes_ms);
    size_t i;
    if (corio_select(CORIO_FUTURES(&timeout.base, &fetch.base), &i) < 0)
        return 1;
    if (i == 0)
        printf("    Timeout!\n");
    else
        printf("    Got data: \"%s\"\n", fetch.data);
    printf("    after %.0f ms; the fetch was %s\n", ms_since(t0),
           fetch.dropped ? "dropped (its timer disarmed)" : "the winner, not dropped");
    return 0;
}

/* ---- seed 001: two tasks ------------------------------------------------------------- */

static int work(void *arg)
{
    double takes = *(double *)arg;
    int rc = corio_sleep(ms(takes));
    return rc < 0 ? rc : (int)takes;
}

static int race_operations(void)
{
    static double t1 = 300, t2 = 100;
    corio_task *task1, *task2;
    if (corio_spawn(work, &t1, &task1) < 0 || corio_spawn(work, &t2, &task2) < 0)
        return 1;
    corio_join_fut j1, j2;
    corio_join_fut_init(&j1, task1);
    corio_join_fut_init(&j2, task2);
    size_t i;
    if (corio_select(CORIO_FUTURES(&j1.base, &j2.base), &i) < 0)
        return 1;
    if (i == 0)
        printf("  Task 1 finished first: Ok(%d)\n", j1.value);
    else
        printf("  Task 2 finished first: Ok(%d)\n", j2.value);
    /* Task 2 (100 ms) is due long before task 1 (300 ms), and usually
     * wins. On a starved machine both may be done by the time the select
     * polls them: it then picks one at random, as select! does (tokio
     * starts at a random branch too); or the thread that should run task 2
     * may be held up so long that task 1 does finish first. */
    if (i == 0)
        printf("  (task 2 %s)\n", corio_task_is_finished(task2)
                                     ? "had finished too: the select found both ready and "
                                       "picked one at random"
                                     : "had not finished yet: its thread was held up");
    /* The losing join was dropped; its task runs on. Join both now. */
    int r1, r2;
    int rc1 = corio_task_join(task1, &r1), rc2 = corio_task_join(task2, &r2);
    printf("  the other task went on to its end: Task 1 -> %d, Task 2 -> %d\n", r1, r2);
    return rc1 | rc2;
}

static int async_main(void *arg)
{
    (void)arg;
    printf("seed 003: select! { sleep(1 s) => Timeout!, fetch_data() => Got data }\n");
    if (race(500) || race(1500))
        return 1;
    printf("seed 001: select! { result1 = task1, result2 = task2 }\n");
    return race_operations();
}

/* X of scale=X: a number above 0 and at most 100, nothing after it. */
#include "example_args.h"

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "fast") == 0)
            scale = 0.1;
        else if (strncmp(argv[i], "scale=", 6) == 0 && parse_scale(argv[i] + 6, &scale))
            ;
        else {
            fprintf(stderr, "usage: %s [fast | scale=X]\n", argv[0]);
            return 2;
        }
    }
    if (scale <= 0)
        scale = 1.0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (scale != 1.0)
        printf("(durations scaled by %g: the lines below name the seeds' durations)\n", scale);
    int result;
    return corio_run(async_main, NULL, &result) == 0 ? result : 1;
}
