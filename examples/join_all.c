/* join_all.c - a task per item, then every result: join_all, and JoinSet.
 *
 * Mirrors seed 003, "Managing Many Tasks":
 *
 *     async fn process_many_items(items: Vec<u64>) -> Vec<Result<String, ..>> {
 *         let mut handles = vec![];
 *         for item in items {
 *             handles.push(tokio::spawn(async move { process_item(item).await }));
 *         }
 *         futures::future::join_all(handles).await.into_iter().map(|r| r.unwrap()).collect()
 *     }
 *     async fn process_item(id: u64) -> Result<String, ..> { Ok(format!("Processed {}", id)) }
 *
 * and its "Copy-Pasting async fn as Threads" lesson: not a shared `results`
 * vector pushed from every task, but `join_all` of the handles, collected.
 *
 * How the C version maps onto it:
 *  - tokio::spawn is corio_spawn; the handles go in an array;
 *  - join_all(handles).await is corio_task_join_all(handles, n, results):
 *    it waits for every task, puts each task's result (an int) in
 *    results[i], in the order of the handles, and gives every handle back.
 *    The String of each item is written by its task into the item's own
 *    slot (C tasks return an int): no task touches another's memory, so
 *    there is nothing to lock. Each task gets a waker of its own, so a task
 *    that finishes costs the same whether 10 or 10000 are joined;
 *  - tokio's JoinSet (the second part) takes the results in the order the
 *    tasks finish rather than the order they were spawned: the items take
 *    different times, and join_next hands back the fastest first, with the
 *    task's id.
 *
 *   usage: join_all [items] [unit_ms]   (default 1000 items, 10 ms: in the JoinSet
 *                                        part, item i of 14 takes (13 - i) % 7 units)
 */
#include <corio.h>
#include <errno.h>
#include <corio/join.h>
#include <corio/join_set.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long unit_ms = 10;

typedef struct item {
    unsigned long id;
    long takes_ms;
    char out[32]; /* the item's String */
} item;

/* process_item(id) -> Ok(format!("Processed {}", id)) */
static int process_item(void *arg)
{
    item *it = arg;
    int rc = corio_sleep(CORIO_MSEC(it->takes_ms)); /* the async work */
    if (rc < 0)
        return rc;
    snprintf(it->out, sizeof it->out, "Processed %lu", it->id);
    return 0;
}

/* Spawn a task per item, then join_all(handles): results[i] is item i's. */
static int process_many_items(item *items, size_t n, int *results)
{
    corio_task **handles = calloc(n, sizeof *handles);
    if (!handles)
        return -ENOMEM;
    size_t spawned = 0;
    int rc = 0;
    while (spawned < n && (rc = corio_spawn(process_item, &items[spawned], &handles[spawned])) == 0)
        spawned++;
    int jrc = corio_task_join_all(handles, spawned, results); /* join_all(handles).await */
    free(handles);
    return rc < 0 ? rc : jrc;
}

static int async_main(void *arg)
{
    size_t n = *(size_t *)arg;
    item *items = calloc(n, sizeof *items);
    if (!items)
        return 1;
    for (size_t i = 0; i < n; i++)
        items[i] = (item){.id = i, .takes_ms = (long)(i % 3)};

    printf("1. process_many_items: %zu tasks, join_all of their handles\n", n);
    int *results = calloc(n, sizeof *results);
    corio_instant t0 = corio_instant_now();
    int rc = results ? process_many_items(items, n, results) : -ENOMEM;
    double ms = (double)(corio_instant_now() - t0) / 1e6;
    if (rc < 0) {
        printf("   failed: %s\n", corio_strerror(rc));
        return 1;
    }
    size_t right = 0;
    for (size_t i = 0; i < n; i++) {
        if (results[i] < 0) /* r.unwrap() */
            continue;
        char want[32];
        snprintf(want, sizeof want, "Processed %zu", i);
        right += strcmp(items[i].out, want) == 0;
    }
    printf("   results[0] = \"%s\", results[%zu] = \"%s\"\n", items[0].out, n - 1, items[n - 1].out);
    printf("   %zu of %zu results right, in the items' order; took %.1f ms\n", right, n, ms);

    printf("2. the same with a JoinSet: results in the order the tasks finish\n");
    corio_join_set *set;
    if (corio_join_set_new(&set) < 0)
        return 1;
    size_t m = n < 14 ? n : 14;
    uint64_t *ids = calloc(m, sizeof *ids);
    for (size_t i = 0; i < m; i++) {
        items[i] = (item){.id = i, .takes_ms = (long)((m - 1 - i) % 7) * unit_ms};
        if (corio_join_set_spawn(set, process_item, &items[i], &ids[i]) < 0)
            return 1;
    }
    long last = -1, in_order = 1;
    size_t joined = 0;
    int result;
    uint64_t id;
    printf("   ");
    while (corio_join_set_join_next(set, &result, &id) == 0) {
        size_t i = 0;
        while (i < m && ids[i] != id)
            i++;
        printf("%s#%zu (%ld ms)", joined ? ", " : "", i, items[i].takes_ms);
        in_order &= items[i].takes_ms >= last;
        last = items[i].takes_ms;
        joined += result == 0 && i < m;
    }
    /* The order is the order the timers fired and the tasks ran: fastest
     * first, unless the machine is so busy that a task runs later than a
     * slower one's timer (a timer fires no earlier than asked, but may fire
     * late). So it is reported, not required: that join_next hands back
     * tasks in the order they finish is checked exactly, with gates instead
     * of timers, by the test join_set_join_next_in_completion_order. */
    printf("\n   %zu of %zu joined, fastest first: %s\n", joined, m,
           in_order ? "yes" : "no (a timer fired late: a busy machine)");
    corio_join_set_free(set);
    free(ids);
    free(items);
    free(results);
    return right == n && joined == m ? 0 : 1;
}

#define USAGE_NAME "join_all"
#define USAGE_ARGS "join_all [items] [unit_ms]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    size_t n = 1000;
    if (argc > 1)
        n = arg_long(argv[1], 1, 1000000);
    if (argc > 2)
        unit_ms = arg_long(argv[2], 1, 60000);
    if (n < 1)
        n = 1;
    if (unit_ms < 1)
        unit_ms = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int result;
    return corio_run(async_main, &n, &result) == 0 ? result : 1;
}
