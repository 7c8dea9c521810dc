/* tests/test_smoke.c - the first end-to-end checks: a runtime runs a task. */
#include <corio.h>

#include "test.h"

static int add_one(void *arg)
{
    int *x = arg;
    *x += 1;
    return 42;
}

TEST(smoke_block_on_returns_result)
{
    corio_rt *rt;
    corio_rt_builder b = corio_rt_builder_current_thread();
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    int x = 0, r = 0;
    CHECK_EQ(corio_rt_block_on(rt, add_one, &x, &r), 0);
    CHECK_EQ(x, 1);
    CHECK_EQ(r, 42);
    CHECK_EQ(corio_rt_free(rt), 0);
}

static int sleeper(void *arg)
{
    corio_instant t0 = corio_instant_now();
    CHECK_EQ(corio_sleep(CORIO_MSEC(20)), 0);
    CHECK(corio_instant_now() - t0 >= (corio_instant)CORIO_MSEC(20));
    return 7;
}

static int spawner(void *arg)
{
    corio_task *t;
    CHECK_EQ(corio_spawn(sleeper, NULL, &t), 0);
    CHECK(t != NULL);
    int r = 0;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 7);
    return 0;
}

TEST(smoke_spawn_sleep_join)
{
    int r = -1;
    CHECK_EQ(corio_run(spawner, NULL, &r), 0);
    CHECK_EQ(r, 0);
}
