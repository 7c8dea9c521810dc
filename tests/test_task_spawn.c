/* tests/test_task_spawn.c - spawning tasks (corio/task.h): coroutine and
 * stackless spawns with their join results, stackless futures of every size
 * copied whole, a stackless task spawning and joining a coroutine, invalid
 * arguments and plain-code misuse, detached spawns and released handles.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <corio.h>

#include "core/taskmem.h"
#include "test.h"
#include "util.h"

/* ==== spawn and join ====================================================== */

static int spawn_join_main(void *arg)
{
    int x = 5;
    corio_task *t;
    CHECK_EQ(corio_spawn(add_ten, &x, &t), 0);
    CHECK(t != NULL);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 15);
    /* NULL result pointer is fine */
    CHECK_EQ(corio_spawn(add_ten, &x, &t), 0);
    CHECK(t != NULL);
    CHECK_EQ(corio_task_join(t, NULL), 0);
    /* a negative result is a result like any other */
    x = -30;
    CHECK_EQ(corio_spawn(add_ten, &x, &t), 0);
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, -20);
    return 1;
}

TEST(task_spawn_join_returns_result)
{
    CHECK_EQ(run_ok(spawn_join_main, NULL), 1);
}

static int stackless_main(void *arg)
{
    count_fut f;
    count_init(&f, 3, 99);
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_future(&f.base, sizeof f, &t), 0);
    CHECK(t != NULL);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 99);
    CHECK_EQ(f.pending_left, 3); /* the task polled its own copy */
    return 0;
}

TEST(task_spawn_future_stackless_result)
{
    CHECK_EQ(run_ok(stackless_main, NULL), 0);
}

/* Stackless futures of many sizes are copied whole into the task, 16-byte
 * aligned, and polled in place there. */
typedef struct big_fut {
    corio_future base;
    size_t size;
    int polls;
    unsigned char data[]; /* size - sizeof(big_fut) bytes of pattern */
} big_fut;

static corio_poll big_poll(corio_future *f, corio_context *cx)
{
    big_fut *b = (big_fut *)f;
    CHECK_EQ((uintptr_t)f % 16, 0);
    size_t n = b->size - sizeof(big_fut);
    for (size_t i = 0; i < n; i++)
        if (b->data[i] != (unsigned char)(i * 7 + 1))
            test_failf(__FILE__, __LINE__, "byte %zu of %zu not copied", i, b->size);
    if (b->polls++ < 2) {
        corio_waker_wake_by_ref(corio_context_waker(cx));
        return CORIO_PENDING;
    }
    f->result = (int)(b->size & 0x7fffffff);
    return CORIO_READY;
}
static const corio_future_vtable big_vt = {big_poll, NULL};

static int spawn_sized(size_t size)
{
    big_fut *b = malloc(size);
    CHECK(b != NULL);
    corio_future_init(&b->base, &big_vt);
    b->size = size;
    b->polls = 0;
    for (size_t i = 0; i < size - sizeof(big_fut); i++)
        b->data[i] = (unsigned char)(i * 7 + 1);
    corio_task *t = NULL;
    int rc = corio_spawn_future(&b->base, size, &t);
    memset(b, 0, size); /* the task has its own copy */
    free(b);
    if (rc < 0)
        return rc;
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, (int)size);
    return 0;
}

static int sizes_main(void *arg)
{
    static const size_t sizes[] = {sizeof(big_fut), sizeof(big_fut) + 1, 100, 500, 513,
                                   4096, 65536 + 3, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        CHECK_EQ(spawn_sized(sizes[i]), 0);
    return 0;
}

TEST(task_spawn_future_sizes_copied_whole)
{
    CHECK_EQ(run_ok(sizes_main, NULL), 0);
}

/* task.h documents no upper size limit for a stackless future (-EINVAL is
 * only for one smaller than a corio_future; else -ENOMEM, CORIO_ESHUTDOWN,
 * CORIO_EWRONGCTX): a future with a 2 MiB buffer in its state must spawn and
 * run. */
static int huge_main(void *arg)
{
    int rc = spawn_sized(2u << 20);
    if (rc != 0)
        test_failf(__FILE__, __LINE__, "spawning a 2 MiB stackless future: %s (%d)",
                   corio_err_name(rc), rc);
    return 0;
}

TEST(task_spawn_future_huge_state)
{
    CHECK_EQ(run_ok(huge_main, NULL), 0);
}

/* A stackless future that spawns a coroutine from its poll and waits for it
 * by polling a corio_join_fut inline (futures composed by hand). */
typedef struct parent_fut {
    corio_future base;
    corio_task *child;
    corio_join_fut jf;
    int polls;
} parent_fut;

static int child_fn(void *arg)
{
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    return 64;
}

static corio_poll parent_poll(corio_future *f, corio_context *cx)
{
    parent_fut *p = (parent_fut *)f;
    p->polls++;
    if (!p->child) {
        CHECK_EQ(corio_spawn(child_fn, NULL, &p->child), 0);
        CHECK(p->child != NULL);
        corio_join_fut_init(&p->jf, p->child);
    }
    if (corio_future_poll(&p->jf.base, cx) == CORIO_PENDING)
        return CORIO_PENDING;
    CHECK_EQ(p->jf.base.result, 0);
    corio_task_release(p->child);
    f->result = p->jf.value + 1;
    return CORIO_READY;
}
static const corio_future_vtable parent_vt = {parent_poll, NULL};

static int parent_main(void *arg)
{
    parent_fut p;
    memset(&p, 0, sizeof p);
    corio_future_init(&p.base, &parent_vt);
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_future(&p.base, sizeof p, &t), 0);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 65);
    return 0;
}

TEST(task_stackless_spawns_and_polls_join_fut)
{
    CHECK_EQ(run_ok(parent_main, NULL), 0);
}

static int spawn_bad_args_main(void *arg)
{
    corio_task *t = (corio_task *)0x1;
    CHECK_EQ(corio_spawn_with(NULL, NULL, NULL, &t), -EINVAL); /* no function */
    corio_future bad = {NULL, 0};
    CHECK_EQ(corio_spawn_future(&bad, sizeof bad, &t), -EINVAL); /* no vtable */
    count_fut f;
    count_init(&f, 0, 0);
    CHECK_EQ(corio_spawn_future(&f.base, 1, &t), -EINVAL); /* smaller than a future */
    return 0;
}

TEST(task_spawn_invalid_arguments)
{
    CHECK_EQ(run_ok(spawn_bad_args_main, NULL), 0);
}

TEST(task_spawn_from_plain_code_without_runtime_is_wrongctx)
{
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_with(NULL, add_ten, NULL, &t), CORIO_EWRONGCTX);
    CHECK(t == NULL);
    CHECK_EQ(corio_spawn(add_ten, NULL, &t), CORIO_EWRONGCTX);
    CHECK(t == NULL); /* no handle */
    CHECK_EQ(corio_spawn(add_ten, NULL, NULL), CORIO_EWRONGCTX);
    count_fut f;
    count_init(&f, 0, 0);
    CHECK_EQ(corio_spawn_future(&f.base, sizeof f, &t), CORIO_EWRONGCTX);
    CHECK_EQ(corio_task_id(corio_task_current()), 0);
    CHECK(!corio_task_is_cancelled(corio_task_current()));
}

static atomic_int detached_done;

static int detached_fn(void *arg)
{
    CHECK_EQ(corio_sleep(CORIO_MSEC(5)), 0);
    atomic_fetch_add(&detached_done, 1);
    return 0;
}

static int detached_main(void *arg)
{
    int *stackless_runs = arg;
    for (int i = 0; i < 10; i++)
        CHECK_EQ(corio_spawn(detached_fn, NULL, NULL), 0);
    ready_fut ff;
    ready_fut_init(&ff, stackless_runs);
    CHECK_EQ(corio_spawn_future(&ff.base, sizeof ff, NULL), 0);
    for (int i = 0; atomic_load(&detached_done) < 10; i++) {
        CHECK(i < 2000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(task_detached_spawns_run)
{
    atomic_store(&detached_done, 0);
    int stackless_runs = 0;
    CHECK_EQ(run_ok(detached_main, &stackless_runs), 0);
    CHECK_EQ(atomic_load(&detached_done), 10);
    CHECK_EQ(stackless_runs, 1);
}

/* A finished detached task's memory is given back, coroutine or stackless,
 * and so is that of a task whose handle was released: rounds of thousands of
 * them after the first reuse its memory, and the task allocator reserves
 * nothing more. (Plain build: the sanitizer builds use malloc for tasks, and
 * their leak checker covers this.) */
static int detached_rounds_main(void *arg)
{
    (void)arg;
    size_t after_first = 0;
    int runs = 0;
    /* Fewer under the sanitizers: tasks are plain mallocs there (their leak
     * checker does this test's job) and each coroutine is costly. */
    int rounds = SCALE(20, 3, 2), per_round = SCALE(5000, 1000, 200);
    for (int round = 0; round < rounds; round++) {
        atomic_store(&detached_done, 0);
        for (int i = 0; i < per_round; i++) {
            CHECK_EQ(corio_spawn(detached_fn, NULL, NULL), 0);
            ready_fut ff;
            ready_fut_init(&ff, &runs);
            CHECK_EQ(corio_spawn_future(&ff.base, sizeof ff, NULL), 0);
            corio_task *t;
            CHECK_EQ(corio_spawn(detached_fn, NULL, &t), 0);
            corio_task_release(t);
        }
        while (atomic_load(&detached_done) < 2 * per_round)
            CHECK_EQ(corio_yield(), 0);
        if (round == 0)
            after_first = taskmem_reserved_bytes();
    }
    CHECK_EQ(runs, rounds * per_round);
    CHECK_EQ(taskmem_reserved_bytes(), after_first);
    return 0;
}

TEST(task_detached_memory_given_back)
{
    /* One thread: every block freed goes back to the list it came from. */
    CHECK_EQ(run_main(detached_rounds_main, NULL), 0);
}

/* Released handles: the task goes on, detached, and completes. */
static int release_main(void *arg)
{
    for (int i = 0; i < 5; i++) {
        corio_task *t;
        CHECK_EQ(corio_spawn(detached_fn, NULL, &t), 0);
        CHECK(t != NULL);
        corio_task_release(t);
    }
    /* release after the task has finished */
    int x = 1;
    corio_task *t;
    CHECK_EQ(corio_spawn(add_ten, &x, &t), 0);
    while (!corio_task_is_finished(t))
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    corio_task_release(t);
    corio_task_release(NULL); /* harmless */
    for (int i = 0; atomic_load(&detached_done) < 5; i++) {
        CHECK(i < 2000);
        CHECK_EQ(corio_sleep(CORIO_MSEC(1)), 0);
    }
    return 0;
}

TEST(task_release_handle_task_goes_on)
{
    atomic_store(&detached_done, 0);
    CHECK_EQ(run_ok(release_main, NULL), 0);
    CHECK_EQ(atomic_load(&detached_done), 5);
}

