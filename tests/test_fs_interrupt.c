/* tests/test_fs_interrupt.c - files: interruption, stress, shutdown with jobs
 * in flight, the future forms (split from tests/test_fs.c by behaviour; the
 * helpers it shares with it are in tests/util_fs.c). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <corio/fs.h>

#include "test.h"
#include "util.h"
#include "util_fs.h"

/* ---- interruption ------------------------------------------------------------------------ */

static int read_fifo_file(void *arg)
{
    char *buf = (char *)1;
    size_t len = 1;
    int rc = corio_fs_read_file(arg, &buf, &len);
    CHECK(rc != 0 || buf != NULL);
    if (rc == 0)
        free(buf);
    else
        CHECK(buf == NULL && len == 0);
    return rc;
}

/* Inside a task: wait until a job has the FIFO at `path` open for reading
 * (or is blocked opening it), and return an fd that writes to it. Opening
 * it lets that job's open(2) return; the job then blocks in read(2) until
 * the fd is written to or closed. */
static int fifo_wait_reader(const char *path)
{
    for (int i = 0; i < 10000; i++) {
        int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0)
            return fd;
        CHECK_EQ(errno, ENXIO); /* no reader yet */
        corio_sleep(CORIO_MSEC(1));
    }
    test_fail(__FILE__, __LINE__, "no job opened the FIFO");
}

typedef struct two_fifos {
    tmpdir d;
    char fifo[128], fifo2[128];
} two_fifos;

static int abort_read_file_main(void *arg)
{
    two_fifos *s = arg;
    /* Aborted while its job is blocked reading: returns at once. */
    corio_task *t;
    CHECK_EQ(corio_spawn(read_fifo_file, s->fifo, &t), 0);
    int w1 = fifo_wait_reader(s->fifo);
    corio_sleep(CORIO_MSEC(5));
    double t0 = mono_ms();
    corio_task_abort(t);
    int r;
    CHECK_EQ(corio_task_join(t, &r), CORIO_ECANCELED);
    CHECK_EQ(r, CORIO_ECANCELED);
    CHECK(mono_ms() - t0 < 500); /* at once: without the abort it would wait for ever */
    /* The same under a deadline (its job may be blocked in open, or in
     * read, or not have started yet: the caller returns all the same). */
    int result;
    t0 = mono_ms();
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(30), read_fifo_file, s->fifo2, &result),
             CORIO_ETIMEDOUT);
    CHECK_EQ(result, CORIO_ETIMEDOUT);
    CHECK(mono_ms() - t0 < 1000);
    int w2 = fifo_wait_reader(s->fifo2);
    /* Now let both jobs finish: each reads the data, sees the end and
     * frees what it read (a leak would show under ASan, and in the heap
     * count of the test). */
    CHECK_EQ(write(w1, "data nobody reads", 17), 17);
    CHECK_EQ(write(w2, "data nobody reads", 17), 17);
    close(w1);
    close(w2);
    return 0;
}

static void two_fifos_make(two_fifos *s)
{
    fs_tmp_make(&s->d);
    fs_path_in(s->fifo, sizeof s->fifo, &s->d, "fifo");
    fs_path_in(s->fifo2, sizeof s->fifo2, &s->d, "fifo2");
    CHECK_EQ(mkfifo(s->fifo, 0600), 0);
    CHECK_EQ(mkfifo(s->fifo2, 0600), 0);
}

TEST(fs_read_file_interrupted_returns_at_once_and_leaks_nothing)
{
    two_fifos s;
    two_fifos_make(&s);
    CHECK_EQ(run_main(abort_read_file_main, &s), 0);
    size_t before = heap_in_use();
    for (int i = 0; i < SCALE(20, 5, 3); i++)
        CHECK_EQ(run_main(abort_read_file_main, &s), 0);
    size_t after = heap_in_use();
    if (after > before + 65536)
        test_failf(__FILE__, __LINE__, "heap grew by %zu bytes", after - before);
    fs_tmp_remove(&s.d);
}

/* A read interrupted while its job waits for data: the caller's buffer is
 * freed the moment the call returns (ASan would catch a late write), a
 * second buffer is kept to check that it stays untouched, and the data the
 * interrupted read took is thrown away. Calls on the file stay in order:
 * the next read runs after the interrupted one. */
typedef struct late_read {
    corio_file *f;
    unsigned char *buf;
    size_t len;
} late_read;

static int read_into(void *arg)
{
    late_read *l = arg;
    return (int)corio_file_read(l->f, l->buf, l->len);
}

/* Inside a task: wait until the FIFO written by `wfd` is empty (a job
 * read what was in it). */
static void fifo_wait_drained(int wfd)
{
    for (int i = 0; i < 10000; i++) {
        int n = -1;
        CHECK_EQ(ioctl(wfd, FIONREAD, &n), 0);
        if (n == 0)
            return;
        corio_sleep(CORIO_MSEC(1));
    }
    test_fail(__FILE__, __LINE__, "nobody read the FIFO");
}

typedef struct kept_read {
    late_read l;
    atomic_int entered;
} kept_read;

static int kept_read_task(void *arg)
{
    kept_read *k = arg;
    atomic_store(&k->entered, 1);
    return (int)corio_file_read(k->l.f, k->l.buf, k->l.len);
}

static int interrupted_read_main(void *arg)
{
    slow_read *s = arg;
    corio_file *f;
    /* O_RDWR: opening a FIFO so does not wait for a writer, and its reads
     * never see an end: they wait for data. */
    CHECK_EQ(corio_file_open(s->fifo, O_RDWR, 0, &f), 0);
    int wfd = open(s->fifo, O_WRONLY | O_CLOEXEC);
    CHECK(wfd >= 0);
    late_read freed = {f, malloc(64), 64};
    int result;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(20), read_into, &freed, &result), CORIO_ETIMEDOUT);
    CHECK_EQ(result, CORIO_ETIMEDOUT);
    free(freed.buf); /* the job must never write here */
    unsigned char kept_buf[64];
    memset(kept_buf, 0xAB, sizeof kept_buf);
    kept_read kept = {{f, kept_buf, sizeof kept_buf}, 0};
    corio_task *t;
    CHECK_EQ(corio_spawn(kept_read_task, &kept, &t), 0);
    while (!atomic_load(&kept.entered))
        corio_yield();
    corio_sleep(CORIO_MSEC(10)); /* in its call, waiting for its job */
    corio_task_abort(t);
    CHECK_EQ(join_rc(t), CORIO_ECANCELED);
    /* Feed the two jobs in flight, one after the other: the calls on the
     * file run in order, so the first write goes to the first job. */
    char junk[64];
    memset(junk, 'j', sizeof junk);
    CHECK_EQ(write(wfd, junk, 64), 64);
    fifo_wait_drained(wfd);
    CHECK_EQ(write(wfd, junk, 64), 64);
    fifo_wait_drained(wfd);
    CHECK_EQ(write(wfd, "third", 5), 5);
    char b[64] = {0};
    CHECK_EQ(corio_file_read(f, b, sizeof b), 5); /* after both, in order */
    CHECK(memcmp(b, "third", 5) == 0);
    for (size_t i = 0; i < sizeof kept_buf; i++)
        CHECK_EQ(kept_buf[i], 0xAB);
    close(wfd);
    CHECK_EQ(corio_file_close(f), 0);
    return 0;
}

TEST(fs_interrupted_read_never_writes_the_callers_buffer)
{
    slow_read s;
    slow_read_make(&s);
    CHECK_EQ(run_main(interrupted_read_main, &s), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, interrupted_read_main, &s, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    fs_tmp_remove(&s.d);
}

/* Closing a file while an interrupted read is still blocked in its job:
 * the fd stays open (its number is not reused) until that read ends. */
static int close_while_busy_main(void *arg)
{
    slow_read *s = arg;
    corio_file *f;
    CHECK_EQ(corio_file_open(s->fifo, O_RDWR, 0, &f), 0);
    int fd = corio_file_raw(f);
    unsigned char b[16];
    late_read l = {f, b, sizeof b};
    int result;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(10), read_into, &l, &result), CORIO_ETIMEDOUT);
    CHECK_EQ(corio_file_close(f), 0);
    CHECK(fcntl(fd, F_GETFD) >= 0); /* still open: the job holds it */
    int wfd = open(s->fifo, O_WRONLY | O_CLOEXEC);
    CHECK(wfd >= 0);
    CHECK_EQ(write(wfd, "x", 1), 1);
    close(wfd);
    for (int i = 0; i < 1000 && fcntl(fd, F_GETFD) >= 0; i++)
        corio_sleep(CORIO_MSEC(1));
    CHECK_EQ(fcntl(fd, F_GETFD), -1); /* closed by the job's end */
    return 0;
}

TEST(fs_close_waits_for_an_interrupted_call_to_end)
{
    slow_read s;
    slow_read_make(&s);
    CHECK_EQ(run_main(close_while_busy_main, &s), 0);
    fs_tmp_remove(&s.d);
}

/* A cancelled task's calls return CORIO_ECANCELED before doing anything. */
static int cancelled_calls(void *arg)
{
    tmpdir *d = arg;
    corio_sleep(CORIO_SEC(30)); /* aborted here */
    char p[128];
    fs_path_in(p, sizeof p, d, "never");
    CHECK_EQ(corio_fs_write_file(p, "x", 1), CORIO_ECANCELED);
    char *buf;
    size_t len;
    CHECK_EQ(corio_fs_read_file(p, &buf, &len), CORIO_ECANCELED);
    CHECK_EQ(corio_fs_mkdir(p, 0755), CORIO_ECANCELED);
    struct stat st;
    CHECK_EQ(corio_fs_metadata(p, &st), -ECANCELED);
    return 0;
}

static int cancelled_main(void *arg)
{
    tmpdir *d = arg;
    corio_task *t;
    CHECK_EQ(corio_spawn(cancelled_calls, d, &t), 0);
    corio_sleep(CORIO_MSEC(5));
    corio_task_abort(t);
    CHECK_EQ(join_rc(t), 0);
    char p[128];
    fs_path_in(p, sizeof p, d, "never");
    struct stat st;
    CHECK_EQ(corio_fs_metadata(p, &st), -ENOENT); /* nothing was made */
    return 0;
}

TEST(fs_calls_in_a_cancelled_task_do_nothing)
{
    tmpdir d;
    fs_tmp_make(&d);
    CHECK_EQ(run_main(cancelled_main, &d), 0);
    fs_tmp_remove(&d);
}

/* A call interrupted by a cancelled scope (corio_scope_cancel), its task
 * not cancelled, returns CORIO_ECANCELED as every await there does - not
 * CORIO_ESHUTDOWN, which says the pool refused or dropped the job. */
typedef struct scope_read {
    corio_file *f;
    ssize_t rc;
} scope_read;

static int cancel_scope_child(void *arg)
{
    settle(); /* the body is waiting for its read's job by now */
    corio_scope_cancel(arg);
    return 0;
}

static int scope_read_body(corio_scope *sc, void *arg)
{
    scope_read *s = arg;
    CHECK_EQ(corio_scope_spawn(sc, cancel_scope_child, sc, NULL), 0);
    char c;
    s->rc = corio_file_read(s->f, &c, 1); /* blocks in the job: nobody writes */
    CHECK(!corio_task_is_cancelled(corio_task_current()));
    return 0;
}

static int scope_read_main(void *arg)
{
    slow_read *sr = arg;
    scope_read s = {NULL, 0};
    CHECK_EQ(corio_file_open(sr->fifo, O_RDWR, 0, &s.f), 0);
    CHECK_EQ(corio_scope_run(scope_read_body, &s, NULL), CORIO_ECANCELED);
    CHECK_EQ(s.rc, CORIO_ECANCELED);
    /* End the job's read (it goes on in the background), then close. */
    int wfd = open(sr->fifo, O_WRONLY | O_CLOEXEC);
    CHECK(wfd >= 0);
    CHECK_EQ(write(wfd, "x", 1), 1);
    close(wfd);
    CHECK_EQ(corio_file_close(s.f), 0);
    return 0;
}

TEST(fs_call_in_a_cancelled_scope_returns_ecanceled)
{
    slow_read sr;
    slow_read_make(&sr);
    CHECK_EQ(run_main(scope_read_main, &sr), 0);
    fs_tmp_remove(&sr.d);
}

/* ---- stress --------------------------------------------------------------------------------- */

typedef struct stress {
    tmpdir d;
    corio_file *shared; /* every task pwrites its own block, then preads it */
    atomic_int done, interrupted;
} stress;

typedef struct stress_arg {
    stress *s;
    int id;
} stress_arg;

#define BLOCK 512

static int stress_task(void *arg)
{
    stress_arg *a = arg;
    stress *s = a->s;
    char p[128], name[32];
    snprintf(name, sizeof name, "t%d", a->id);
    fs_path_in(p, sizeof p, &s->d, name);
    unsigned char data[BLOCK], back[BLOCK];
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < BLOCK; i++)
            data[i] = fs_pattern(i + (size_t)a->id * 7 + (size_t)round);
        size_t len = 1 + (size_t)(a->id * 37 + round * 101) % BLOCK;
        int rc = corio_fs_write_file(p, data, len);
        if (rc < 0)
            goto interrupted;
        char *buf;
        size_t n;
        rc = corio_fs_read_file(p, &buf, &n);
        if (rc < 0)
            goto interrupted;
        CHECK_EQ(n, len);
        CHECK(memcmp(buf, data, len) == 0);
        free(buf);
        off_t off = (off_t)a->id * BLOCK;
        ssize_t w = corio_file_pwrite(s->shared, data, BLOCK, off);
        if (w < 0)
            goto interrupted;
        CHECK_EQ(w, BLOCK);
        ssize_t r = corio_file_pread(s->shared, back, BLOCK, off);
        if (r < 0)
            goto interrupted;
        CHECK_EQ(r, BLOCK);
        CHECK(memcmp(back, data, BLOCK) == 0);
    }
    atomic_fetch_add(&s->done, 1);
    return 0;
interrupted:
    CHECK(corio_task_is_cancelled(corio_task_current()));
    atomic_fetch_add(&s->interrupted, 1);
    return 0;
}

static int stress_main(void *arg)
{
    stress *s = arg;
    int n = SCALE(400, 150, 60);
    char p[128];
    fs_path_in(p, sizeof p, &s->d, "shared");
    CHECK_EQ(corio_file_open(p, O_RDWR | O_CREAT, 0600, &s->shared), 0);
    stress_arg *args = calloc((size_t)n, sizeof *args);
    corio_task **ts = calloc((size_t)n, sizeof *ts);
    for (int i = 0; i < n; i++) {
        args[i] = (stress_arg){s, i};
        CHECK_EQ(corio_spawn(stress_task, &args[i], &ts[i]), 0);
    }
    /* abort every fifth at some point of its work */
    for (int i = 0; i < n; i += 5) {
        if (i % 3 == 0)
            corio_yield();
        corio_task_abort(ts[i]);
    }
    int not_run = 0;
    for (int i = 0; i < n; i++)
        if (join_rc(ts[i]) == CORIO_ECANCELED)
            not_run++; /* aborted before it ever ran */
    CHECK_EQ(atomic_load(&s->done) + atomic_load(&s->interrupted) + not_run, n);
    CHECK(atomic_load(&s->done) >= n * 4 / 5);
    CHECK_EQ(corio_file_close(s->shared), 0);
    free(args);
    free(ts);
    return 0;
}

TEST_SLOW(fs_stress_multi_thread_with_aborts)
{
    stress s = {0};
    fs_tmp_make(&s.d);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, stress_main, &s, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    fs_tmp_remove(&s.d);
}

/* ---- shutdown -------------------------------------------------------------------------------- */

/* With one pool thread, blocked in a read of the file, a second call on the
 * same file stays queued; the runtime is shut down with a deadline: the
 * queued job never runs (its caller, cancelled by the shutdown, gets
 * CORIO_ECANCELED), the shutdown does not wait on the file's turns, and
 * once the blocked read ends the file serves its next call as usual. */
typedef struct shut {
    corio_file *f;
    atomic_int entered;
    atomic_int cancelled; /* calls that returned CORIO_ECANCELED */
} shut;

static int blocked_read(void *arg)
{
    shut *s = arg;
    char b[8];
    atomic_fetch_add(&s->entered, 1);
    int rc = (int)corio_file_read(s->f, b, sizeof b);
    if (rc == CORIO_ECANCELED)
        atomic_fetch_add(&s->cancelled, 1);
    return rc;
}

static int shut_main(void *arg)
{
    shut *s = arg;
    corio_task *t;
    CHECK_EQ(corio_spawn(blocked_read, s, &t), 0);
    corio_task_release(t);
    corio_sleep(CORIO_MSEC(20)); /* its job holds the only pool thread */
    CHECK_EQ(corio_spawn(blocked_read, s, &t), 0);
    corio_task_release(t);
    corio_sleep(CORIO_MSEC(20)); /* its job is queued */
    CHECK_EQ(atomic_load(&s->entered), 2);
    return 0;
}

TEST(fs_shutdown_skips_queued_calls_without_waiting)
{
    slow_read sr;
    slow_read_make(&sr);
    shut s = {0};
    CHECK_EQ(corio_file_open(sr.fifo, O_RDWR, 0, &s.f), 0); /* plain code */
    corio_rt_builder b = corio_rt_builder_current_thread();
    b.max_blocking_threads = 1;
    corio_rt *rt;
    CHECK_EQ(corio_rt_build(&b, &rt), 0);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, shut_main, &s, &rc), 0);
    CHECK_EQ(rc, 0);
    double t0 = mono_ms();
    CHECK_EQ(corio_rt_shutdown_timeout(rt, CORIO_MSEC(50)), CORIO_ETIMEDOUT);
    CHECK(mono_ms() - t0 < 1000);
    /* The shutdown cancelled both tasks: the queued call too reports
     * CORIO_ECANCELED (not CORIO_ESHUTDOWN), as corio/fs.h says. */
    CHECK_EQ(atomic_load(&s.cancelled), 2);
    /* End the blocked read; then a plain read is served in its turn. */
    int wfd = open(sr.fifo, O_WRONLY | O_CLOEXEC);
    CHECK(wfd >= 0);
    CHECK_EQ(write(wfd, "a", 1), 1);
    sleep_ms(20);
    CHECK_EQ(write(wfd, "b", 1), 1);
    char c = 0;
    CHECK_EQ(corio_file_read(s.f, &c, 1), 1);
    CHECK_EQ(c, 'b');
    close(wfd);
    CHECK_EQ(corio_file_close(s.f), 0);
    sleep_ms(50); /* the abandoned pool's thread exits and frees the pool */
    fs_tmp_remove(&sr.d);
}

/* A corio_spawn_blocking job is plain code: its call on a file waits for
 * its turn on the pool thread it holds. With that the only one, the job of
 * a task's call made before it on the same file cannot start: the plain
 * call runs it itself (it did wait for ever). */
typedef struct plain_turn {
    corio_file *f;
    atomic_int gate;
    ssize_t job_rc, task_rc;
} plain_turn;

static int plain_turn_job(void *arg)
{
    plain_turn *p = arg;
    while (!atomic_load(&p->gate))
        sleep_ms(1);
    char b[8];
    p->job_rc = corio_file_pread(p->f, b, 5, 0);
    CHECK(p->job_rc != 5 || memcmp(b, "hello", 5) == 0);
    return 0;
}

static int plain_turn_task(void *arg)
{
    plain_turn *p = arg;
    char b[8];
    p->task_rc = corio_file_pread(p->f, b, 5, 0);
    CHECK(p->task_rc != 5 || memcmp(b, "hello", 5) == 0);
    return 0;
}

static int plain_turn_joins(void *arg)
{
    corio_task **t = arg;
    CHECK_EQ(corio_task_join(t[0], NULL), 0);
    CHECK_EQ(corio_task_join(t[1], NULL), 0);
    return 0;
}

static int plain_turn_main(void *arg)
{
    plain_turn *p = arg;
    corio_task *t[2];
    CHECK_EQ(corio_spawn_blocking(plain_turn_job, p, &t[0]), 0);
    corio_sleep(CORIO_MSEC(10)); /* it holds the only pool thread */
    CHECK_EQ(corio_spawn(plain_turn_task, p, &t[1]), 0);
    corio_sleep(CORIO_MSEC(10)); /* its call's job is queued behind it */
    CHECK(!corio_task_is_finished(t[1]));
    atomic_store(&p->gate, 1);
    int r;
    CHECK_EQ(corio_timeout_call(CORIO_SEC(5), plain_turn_joins, t, &r), 0);
    CHECK_EQ(p->task_rc, 5);
    CHECK_EQ(p->job_rc, 5);
    return 0;
}

TEST(fs_plain_call_in_a_blocking_job_runs_the_calls_ahead_of_it)
{
    tmpdir d;
    fs_tmp_make(&d);
    char path[128];
    fs_path_in(path, sizeof path, &d, "data");
    CHECK_EQ(corio_fs_write_file(path, "hello", 5), 0);
    for (int mt = 0; mt < 2; mt++) {
        plain_turn p = {0};
        CHECK_EQ(corio_file_open(path, O_RDONLY, 0, &p.f), 0);
        corio_rt_builder b = flavor_builder(mt);
        b.max_blocking_threads = 1;
        corio_rt *rt;
        CHECK_EQ(corio_rt_build(&b, &rt), 0);
        int rc;
        CHECK_EQ(corio_rt_block_on(rt, plain_turn_main, &p, &rc), 0);
        CHECK_EQ(rc, 0);
        CHECK_EQ(corio_rt_free(rt), 0);
        CHECK_EQ(corio_file_close(p.f), 0);
    }
    fs_tmp_remove(&d);
}

/* ---- future forms ---------------------------------------------------------------- */

/* Every call as a future, awaited: the same outcomes and out-parameters as
 * the calls; write_all's `done`; -EINVAL for NULL arguments as a result. */
static int await_ok(corio_fs_fut *f)
{
    CHECK_EQ(corio_await(&f->base), 0);
    return f->base.result;
}

static int futures_main(void *arg)
{
    tmpdir *d = arg;
    corio_fs_fut f;
    char p[128], q[128], sub[128];
    fs_path_in(p, sizeof p, d, "fut.bin");
    fs_path_in(q, sizeof q, d, "fut2.bin");
    fs_path_in(sub, sizeof sub, d, "subdir");
    /* a file larger than a chunk: write_all in several requests */
    size_t big = CORIO_FS_CHUNK + (size_t)SCALE(1 << 20, 300000, 100000);
    unsigned char *data = malloc(big), *back = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = fs_pattern(i);
    corio_file *file = (corio_file *)1;
    corio_file_open_fut_init(&f, p, O_RDWR | O_CREAT | O_TRUNC, 0600, &file);
    CHECK(file == (corio_file *)1); /* lazy: nothing until polled */
    CHECK_EQ(await_ok(&f), 0);
    CHECK(file != NULL && file != (corio_file *)1);
    corio_file_write_all_fut_init(&f, file, data, big);
    CHECK_EQ(await_ok(&f), 0);
    CHECK_EQ(f.done, big);
    corio_file_sync_fut_init(&f, file);
    CHECK_EQ(await_ok(&f), 0);
    struct stat st;
    corio_file_metadata_fut_init(&f, file, &st);
    CHECK_EQ(await_ok(&f), 0);
    CHECK_EQ(st.st_size, (off_t)big);
    off_t pos = -1;
    corio_file_seek_fut_init(&f, file, 0, SEEK_SET, &pos);
    CHECK_EQ(await_ok(&f), 0);
    CHECK_EQ(pos, 0);
    size_t got = 0;
    while (got < big) {
        corio_file_read_fut_init(&f, file, back + got, big - got);
        int n = await_ok(&f);
        CHECK(n > 0 && (size_t)n <= CORIO_FS_CHUNK);
        got += (size_t)n;
    }
    CHECK(memcmp(data, back, big) == 0);
    corio_file_read_fut_init(&f, file, back, 10);
    CHECK_EQ(await_ok(&f), 0); /* end of file */
    corio_file_pwrite_fut_init(&f, file, "XYZ", 3, 5);
    CHECK_EQ(await_ok(&f), 3);
    char small[8] = {0};
    corio_file_pread_fut_init(&f, file, small, 5, 4);
    CHECK_EQ(await_ok(&f), 5);
    CHECK(small[0] == (char)fs_pattern(4) && memcmp(small + 1, "XYZ", 3) == 0);
    corio_file_write_fut_init(&f, file, "tail", 4);
    CHECK_EQ(await_ok(&f), 4);
    CHECK_EQ(corio_file_close(file), 0);
    /* whole files and paths */
    corio_fs_write_file_fut_init(&f, q, "hello", 5);
    CHECK_EQ(await_ok(&f), 0);
    char *buf = (char *)1;
    size_t len = 99;
    corio_fs_read_file_fut_init(&f, q, &buf, &len);
    CHECK_EQ(await_ok(&f), 0);
    CHECK_EQ(len, 5);
    CHECK(strcmp(buf, "hello") == 0);
    free(buf);
    corio_fs_metadata_fut_init(&f, q, &st);
    CHECK_EQ(await_ok(&f), 0);
    CHECK_EQ(st.st_size, 5);
    corio_fs_mkdir_fut_init(&f, sub, 0755);
    CHECK_EQ(await_ok(&f), 0);
    corio_fs_mkdir_fut_init(&f, sub, 0755);
    CHECK_EQ(await_ok(&f), -EEXIST);
    char moved[160];
    snprintf(moved, sizeof moved, "%s/moved", sub);
    corio_fs_rename_fut_init(&f, q, moved);
    CHECK_EQ(await_ok(&f), 0);
    corio_fs_dirent *ents = NULL;
    size_t n = 0;
    corio_fs_read_dir_fut_init(&f, sub, &ents, &n);
    CHECK_EQ(await_ok(&f), 0);
    CHECK_EQ(n, 1);
    CHECK(strcmp(ents[0].name, "moved") == 0 && ents[0].type == CORIO_FS_FILE);
    free(ents);
    corio_fs_remove_fut_init(&f, moved);
    CHECK_EQ(await_ok(&f), 0);
    corio_fs_remove_fut_init(&f, sub);
    CHECK_EQ(await_ok(&f), 0);
    corio_fs_remove_fut_init(&f, p);
    CHECK_EQ(await_ok(&f), 0);
    /* failures: the out-parameters as the calls leave them */
    buf = (char *)1;
    len = 7;
    corio_fs_read_file_fut_init(&f, moved, &buf, &len);
    CHECK_EQ(await_ok(&f), -ENOENT);
    CHECK(buf == NULL && len == 0);
    ents = (corio_fs_dirent *)1;
    corio_fs_read_dir_fut_init(&f, moved, &ents, &n);
    CHECK_EQ(await_ok(&f), -ENOENT);
    CHECK(ents == NULL && n == 0);
    file = (corio_file *)1;
    corio_file_open_fut_init(&f, moved, O_RDONLY, 0, &file);
    CHECK_EQ(await_ok(&f), -ENOENT);
    CHECK(file == NULL);
    /* NULL arguments: -EINVAL as the result, at the first poll */
    corio_fs_read_file_fut_init(&f, NULL, &buf, &len);
    CHECK_EQ(await_ok(&f), -EINVAL);
    corio_fs_write_file_fut_init(&f, p, NULL, 3);
    CHECK_EQ(await_ok(&f), -EINVAL);
    corio_fs_rename_fut_init(&f, p, NULL);
    CHECK_EQ(await_ok(&f), -EINVAL);
    corio_file_read_fut_init(&f, NULL, small, 1);
    CHECK_EQ(await_ok(&f), -EINVAL);
    corio_file_pread_fut_init(&f, (corio_file *)1, small, 1, -1);
    CHECK_EQ(await_ok(&f), -EINVAL);
    corio_file_metadata_fut_init(&f, NULL, &st);
    CHECK_EQ(await_ok(&f), -EINVAL);
    corio_fs_read_file_fut_init(NULL, p, &buf, &len); /* nothing */
    free(data);
    free(back);
    return 0;
}

TEST(fs_future_forms_of_every_call)
{
    tmpdir d;
    fs_tmp_make(&d);
    CHECK_EQ(run_main(futures_main, &d), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, futures_main, &d, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    fs_tmp_remove(&d);
}

/* The futures under corio_timeout and in a select: the read that loses
 * (its job blocked on a FIFO) is dropped, returns at once, never writes
 * the caller's buffer afterwards (freed here: ASan), and the file's calls
 * keep their order; the winner's outcome is the call's. */
static int fut_race_main(void *arg)
{
    slow_read *s = arg;
    corio_file *file;
    CHECK_EQ(corio_file_open(s->fifo, O_RDWR, 0, &file), 0);
    int wfd = open(s->fifo, O_WRONLY | O_CLOEXEC);
    CHECK(wfd >= 0);
    corio_fs_fut rf;
    unsigned char *lost = malloc(64);
    corio_file_read_fut_init(&rf, file, lost, 64);
    double t0 = mono_ms();
    CHECK_EQ(corio_timeout(&rf.base, CORIO_MSEC(20)), CORIO_ETIMEDOUT);
    CHECK(mono_ms() - t0 < 2000);
    free(lost);
    /* a select: a sleep beats the blocked read, which is dropped */
    unsigned char kept[64];
    memset(kept, 0xAB, sizeof kept);
    corio_fs_fut rf2;
    corio_file_read_fut_init(&rf2, file, kept, sizeof kept);
    corio_sleep_fut sl;
    corio_sleep_fut_init(&sl, CORIO_MSEC(10));
    size_t idx = 9;
    CHECK_EQ(corio_select(CORIO_FUTURES(&rf2.base, &sl.base), &idx), 0);
    CHECK_EQ(idx, 1);
    /* feed the two dropped reads' jobs, in order */
    char junk[64];
    memset(junk, 'j', sizeof junk);
    CHECK_EQ(write(wfd, junk, 64), 64);
    fifo_wait_drained(wfd);
    CHECK_EQ(write(wfd, junk, 64), 64);
    fifo_wait_drained(wfd);
    for (size_t i = 0; i < sizeof kept; i++)
        CHECK_EQ(kept[i], 0xAB);
    /* now the read wins a select against a long sleep */
    CHECK_EQ(write(wfd, "win", 3), 3);
    char b[16] = {0};
    corio_file_read_fut_init(&rf2, file, b, sizeof b);
    corio_sleep_fut_init(&sl, CORIO_SEC(10));
    CHECK_EQ(corio_select(CORIO_FUTURES(&rf2.base, &sl.base), &idx), 0);
    CHECK_EQ(idx, 0);
    CHECK_EQ(rf2.base.result, 3);
    CHECK(memcmp(b, "win", 3) == 0);
    close(wfd);
    CHECK_EQ(corio_file_close(file), 0);
    return 0;
}

TEST(fs_futures_race_in_select_and_under_timeout)
{
    slow_read s;
    slow_read_make(&s);
    size_t before = heap_in_use();
    CHECK_EQ(run_main(fut_race_main, &s), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, fut_race_main, &s, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    size_t after = heap_in_use();
    if (after > before + 65536)
        test_failf(__FILE__, __LINE__, "heap grew by %zu bytes", after - before);
    fs_tmp_remove(&s.d);
}

/* The futures where the calls cannot go: a stackless task (spawned as the
 * future itself), and plain code (corio_block_on_future). */
typedef struct fs_stackless {
    corio_fs_fut f;
    char *buf;
    size_t len;
} fs_stackless;

static int stackless_main(void *arg)
{
    const char *p = arg;
    char *b;
    size_t l;
    fs_stackless *s = calloc(1, sizeof *s);
    corio_fs_read_file_fut_init(&s->f, p, &s->buf, &s->len);
    /* the call itself refuses a poll function; its future does not */
    corio_task *t;
    CHECK_EQ(corio_spawn_future(&s->f.base, sizeof s->f, &t), 0);
    int r;
    CHECK_EQ(corio_task_join(t, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(s->len, 4);
    CHECK(strcmp(s->buf, "data") == 0);
    free(s->buf);
    free(s);
    CHECK_EQ(corio_fs_read_file(p, &b, &l), 0);
    free(b);
    return 0;
}

TEST(fs_futures_in_stackless_tasks_and_plain_code)
{
    tmpdir d;
    fs_tmp_make(&d);
    char p[128];
    fs_path_in(p, sizeof p, &d, "s.txt");
    CHECK_EQ(corio_fs_write_file(p, "data", 4), 0); /* plain code */
    CHECK_EQ(run_main(stackless_main, p), 0);
    corio_fs_fut f;
    char *buf = NULL;
    size_t len = 0;
    corio_fs_read_file_fut_init(&f, p, &buf, &len);
    CHECK_EQ(corio_block_on_future(&f.base), 0);
    CHECK_EQ(f.base.result, 0);
    CHECK_EQ(len, 4);
    free(buf);
    fs_tmp_remove(&d);
}

/* A finished future stays finished: awaited or polled again it returns its
 * result and makes no call again (an append does not append twice). */
static int finished_fut_main(void *arg)
{
    const char *p = arg;
    corio_file *file = NULL;
    CHECK_EQ(corio_file_open(p, O_WRONLY | O_APPEND, 0, &file), 0);
    corio_fs_fut f;
    corio_file_write_all_fut_init(&f, file, "abc", 3);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 0);
    CHECK_EQ(f.done, 3);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 0);
    CHECK_EQ(f.done, 3);
    corio_file_write_fut_init(&f, file, "de", 2);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 2);
    CHECK_EQ(corio_await(&f.base), 0);
    CHECK_EQ(f.base.result, 2);
    CHECK_EQ(corio_file_close(file), 0);
    return 0;
}

TEST(fs_future_polled_again_after_ready_makes_no_call)
{
    tmpdir d;
    fs_tmp_make(&d);
    char p[128];
    fs_path_in(p, sizeof p, &d, "again.txt");
    CHECK_EQ(corio_fs_write_file(p, "", 0), 0);
    for (int mt = 0; mt < 2; mt++)
        CHECK_EQ(run_main_flavor(mt, finished_fut_main, p), 0);
    /* by hand, outside any runtime */
    corio_file *file = NULL;
    CHECK_EQ(corio_file_open(p, O_WRONLY | O_APPEND, 0, &file), 0);
    corio_fs_fut f;
    corio_file_write_fut_init(&f, file, "f", 1);
    corio_waker w = corio_waker_noop();
    CHECK_EQ(poll_with(&f.base, &w), CORIO_READY);
    CHECK_EQ(f.base.result, 1);
    CHECK_EQ(poll_with(&f.base, &w), CORIO_READY);
    CHECK_EQ(f.base.result, 1);
    CHECK_EQ(corio_file_close(file), 0);
    char *buf = NULL;
    size_t len = 0;
    CHECK_EQ(corio_fs_read_file(p, &buf, &len), 0);
    CHECK_EQ(len, 11);
    CHECK(memcmp(buf, "abcdeabcdef", 11) == 0);
    free(buf);
    fs_tmp_remove(&d);
}
