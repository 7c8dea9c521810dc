/* tests/test_migrate.c - a coroutine task that resumes on another thread.
 *
 * A current-thread runtime may be driven by one thread, left while a task
 * sleeps, and driven by another: the task resumes there. At -O2 (and with
 * LTO, as this suite is built for gcc) a compiler may keep errno's address,
 * or a thread-local's, from before the await. These tests check that the
 * ways the headers give for per-thread state (corio_errno,
 * CORIO_THREAD_LOCAL) read the thread the task is on after a move. */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test.h"
#include "util.h"

CORIO_THREAD_LOCAL(int, tl_value)

typedef struct mover {
    corio_rt *rt;
    corio_task *task;
    atomic_int started;
    long before, after; /* kernel thread ids (pthread_self is const too) */
    int tl_before, tl_after;
    int err_helper, err_plain;
    int open_rc;
} mover;

static __attribute__((noinline)) int moving_task(void *arg)
{
    mover *m = arg;
    errno = 0; /* the compiler may compute errno's address here... */
    *tl_value() = 111;
    m->before = syscall(SYS_gettid);
    atomic_store(&m->started, 1);
    int rc = corio_sleep(CORIO_MSEC(30)); /* ...suspends on thread A... */
    /* ...and resumes on thread B. */
    m->after = syscall(SYS_gettid);
    m->open_rc = open("/nonexistent/corio-test", O_RDONLY);
    m->err_plain = errno;
    m->err_helper = corio_errno();
    m->tl_after = *tl_value();
    return rc;
}

static int first_main(void *arg)
{
    mover *m = arg;
    CHECK_EQ(corio_spawn(moving_task, m, &m->task), 0);
    while (!atomic_load(&m->started))
        CHECK_EQ(corio_yield(), 0);
    return 0; /* leave the task sleeping: block_on returns on thread A */
}

static int second_main(void *arg)
{
    mover *m = arg;
    int r = -1;
    CHECK_EQ(corio_task_join(m->task, &r), 0);
    return r;
}

static void *thread_b(void *arg)
{
    mover *m = arg;
    *tl_value() = 222; /* thread B's copy */
    int r = -1;
    CHECK_EQ(corio_rt_block_on(m->rt, second_main, m, &r), 0);
    CHECK_EQ(r, 0);
    return NULL;
}

TEST(migrate_errno_and_thread_locals_follow_the_thread)
{
    mover m;
    memset(&m, 0, sizeof m);
    m.rt = new_rt();
    *tl_value() = 1; /* thread A's copy */
    int r = -1;
    CHECK_EQ(corio_rt_block_on(m.rt, first_main, &m, &r), 0);
    CHECK_EQ(r, 0);
    pthread_t b;
    CHECK_EQ(pthread_create(&b, NULL, thread_b, &m), 0);
    CHECK_EQ(pthread_join(b, NULL), 0);
    CHECK_EQ(corio_rt_free(m.rt), 0);
    CHECK(m.before != m.after); /* it did move */
    CHECK_EQ(m.open_rc, -1);
    CHECK_EQ(m.err_helper, ENOENT);
    CHECK_EQ(m.tl_after, 222); /* thread B's variable, not A's */
    CHECK_EQ(*tl_value(), 111); /* the write before the await went to A's */
    printf("after the move: corio_errno() %d (ENOENT), plain errno %d%s\n", m.err_helper,
           m.err_plain,
           m.err_plain == ENOENT ? "" : " (stale: the compiler kept thread A's errno address)");
}
