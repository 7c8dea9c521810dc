/* tests/test_task_identity.c - what a handle tells about its task
 * (corio/task.h): ids (unique, and the same inside the task through
 * corio_task_current), names and spawn sites (copied, outliving the task and
 * its runtime), spawn options (stack size), and is_finished.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <corio.h>

#include "test.h"
#include "util.h"

/* ==== identity: ids, names, sites ========================================= */

typedef struct ident {
    uint64_t seen_id;
    size_t big;
} ident;

static int ident_fn(void *arg)
{
    ident *id = arg;
    id->seen_id = corio_task_id(corio_task_current());
    if (id->big) {
        /* Use more stack than the default would give: only a bigger stack
         * (corio_spawn_opts.stack_size) makes this work. */
        volatile char *buf = __builtin_alloca(id->big);
        for (size_t i = 0; i < id->big; i += 1024)
            buf[i] = (char)i;
        CHECK_EQ(corio_yield(), 0);
        for (size_t i = 0; i < id->big; i += 1024)
            CHECK_EQ(buf[i], (char)i);
    }
    return 0;
}

static int spawn_line; /* the line of the corio_spawn_with below */

static int ident_main(void *arg)
{
    uint64_t main_id = corio_task_id(corio_task_current());
    CHECK(main_id != 0);
    char name[32];
    strcpy(name, "worker-7");
    ident a = {0, 0}, b = {0, 0}, c = {0, 0};
    corio_spawn_opts o = {.name = name, .stack_size = 64 * 1024};
    corio_task *ta = NULL;
    spawn_line = __LINE__ + 1;
    CHECK_EQ(corio_spawn_with(&o, ident_fn, &a, &ta), 0);
    strcpy(name, "clobbered"); /* the name was copied */
    corio_task *tb;
    CHECK_EQ(corio_spawn(ident_fn, &b, &tb), 0);
    int line_b = __LINE__ - 1;
    /* 1 MiB stack, 600 KiB of it in use: more than the 256 KiB default */
    c.big = 600 * 1024;
    corio_spawn_opts big = {.stack_size = 1024 * 1024};
    corio_task *tc = NULL;
    CHECK_EQ(corio_spawn_with(&big, ident_fn, &c, &tc), 0);

    CHECK(ta && tb && tc);
    CHECK(strcmp(corio_task_name(ta), "worker-7") == 0);
    CHECK(corio_task_name(tb) == NULL);
    const corio_spawn_site *sa = corio_task_site(ta), *sb = corio_task_site(tb);
    CHECK(sa && sb);
    CHECK(strcmp(sa->file, __FILE__) == 0);
    CHECK_EQ(sa->line, spawn_line);
    CHECK(strcmp(sa->func, "ident_main") == 0);
    CHECK(strcmp(sb->file, __FILE__) == 0);
    CHECK_EQ(sb->line, line_b);
    uint64_t ia = corio_task_id(ta), ib = corio_task_id(tb), ic = corio_task_id(tc);
    CHECK(ia != 0 && ib != 0 && ic != 0);
    CHECK(ia != ib && ib != ic && ia != ic);
    CHECK(ia != main_id && ib != main_id && ic != main_id);
    CHECK_EQ(corio_task_join(ta, NULL), 0);
    CHECK_EQ(corio_task_join(tb, NULL), 0);
    CHECK_EQ(corio_task_join(tc, NULL), 0);
    CHECK_EQ(a.seen_id, ia); /* the id seen inside == the handle's */
    CHECK_EQ(b.seen_id, ib);
    CHECK_EQ(c.seen_id, ic);
    CHECK_EQ(corio_task_id(corio_task_current()), main_id);
    return 0;
}

TEST(task_identity_name_site_ids)
{
    CHECK_EQ(corio_task_id(corio_task_current()), 0);
    CHECK_EQ(run_ok(ident_main, NULL), 0);
    CHECK_EQ(corio_task_id(corio_task_current()), 0);
}

/* Name and site stay readable through the handle after the task finished,
 * and after its runtime is gone. */
TEST(task_name_outlives_task_and_runtime)
{
    corio_rt *rt = new_rt();
    corio_spawn_opts o = {.rt = rt, .name = "short-lived"};
    corio_task *t = NULL, *u = NULL;
    int x = 0;
    CHECK_EQ(corio_spawn_with(&o, add_ten, &x, &t), 0);
    int line = __LINE__ - 1;
    o.name = "never-ran";
    count_fut f;
    count_init(&f, 1000000, 0); /* never finishes on its own */
    CHECK_EQ(corio_spawn_future_ex(&o, CORIO_HERE, &f.base, sizeof f, &u), 0);
    for (int i = 0; !corio_task_is_finished(t); i++) {
        CHECK(i < 100);
        CHECK_EQ(corio_rt_block_on(rt, nothing_main, NULL, NULL), 0);
    }
    CHECK(strcmp(corio_task_name(t), "short-lived") == 0);
    CHECK_EQ(corio_task_site(t)->line, line);
    CHECK_EQ(corio_rt_free(rt), 0);
    CHECK(strcmp(corio_task_name(t), "short-lived") == 0);
    CHECK(strcmp(corio_task_name(u), "never-ran") == 0);
    CHECK(strcmp(corio_task_site(u)->file, __FILE__) == 0);
    CHECK(corio_task_id(t) != corio_task_id(u));
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 10);
    CHECK_EQ(corio_task_join(u, &r), CORIO_ECANCELED);
}

/* Ids stay unique across many tasks and runtimes. */
static int ids_main(void *arg)
{
    enum { N = 300 };
    uint64_t *ids = arg;
    for (int i = 0; i < N; i++) {
        corio_task *t;
        CHECK_EQ(corio_spawn(nothing_main, NULL, &t), 0);
        CHECK(t != NULL);
        ids[i] = corio_task_id(t);
        CHECK_EQ(corio_task_join(t, NULL), 0); /* memory is reused, ids are not */
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

TEST(task_ids_unique)
{
    uint64_t ids[600];
    CHECK_EQ(run_ok(ids_main, ids), 0);
    CHECK_EQ(run_ok(ids_main, ids + 300), 0);
    qsort(ids, 600, sizeof ids[0], cmp_u64);
    CHECK(ids[0] != 0);
    for (int i = 1; i < 600; i++)
        CHECK(ids[i] != ids[i - 1]);
}

static int finished_main(void *arg)
{
    slot s;
    slot_init(&s);
    slot_fut f;
    slot_fut_init(&f, &s);
    corio_task *t = NULL;
    CHECK_EQ(corio_spawn_future(&f.base, sizeof f, &t), 0);
    CHECK(!corio_task_is_finished(t)); /* not run yet */
    task_wait_waker(&s);
    CHECK(!corio_task_is_finished(t)); /* pending */
    slot_complete(&s, 4);
    yield_until_finished(t);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 4);
    slot_destroy(&s);
    return 0;
}

TEST(task_is_finished_before_after)
{
    CHECK_EQ(run_ok(finished_main, NULL), 0);
}

