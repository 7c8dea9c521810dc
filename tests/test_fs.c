/* Tests of corio/fs.h: files and directories off the worker threads.
 *
 * A FIFO stands in for a slow disk: opening it blocks until a writer comes,
 * and reading it blocks until data does, so a test decides exactly when a
 * job's system call may finish - after its caller was cancelled or timed
 * out, say.
 */
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

/* ---- helpers -------------------------------------------------------------------- */

/* A plain thread that, after `delay_ms`, opens the FIFO for writing, writes
 * `data` and closes it. */
typedef struct fifo_writer {
    pthread_t th;
    char path[128];
    int delay_ms;
    const char *data;
} fifo_writer;

static void *fifo_writer_main(void *arg)
{
    fifo_writer *w = arg;
    sleep_ms(w->delay_ms);
    int fd = open(w->path, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    size_t len = strlen(w->data);
    CHECK_EQ(write(fd, w->data, len), (ssize_t)len);
    close(fd);
    return NULL;
}

static void fifo_writer_start(fifo_writer *w, const char *path, int delay_ms, const char *data)
{
    snprintf(w->path, sizeof w->path, "%s", path);
    w->delay_ms = delay_ms;
    w->data = data;
    CHECK_EQ(pthread_create(&w->th, NULL, fifo_writer_main, w), 0);
}

/* ---- whole files ------------------------------------------------------------------ */

static int round_trip_main(void *arg)
{
    tmpdir *d = arg;
    char p[128];
    fs_path_in(p, sizeof p, d, "hello.txt");
    CHECK_EQ(corio_fs_write_file(p, "hello, world\n", 13), 0);
    char *buf = NULL;
    size_t len = 99;
    CHECK_EQ(corio_fs_read_file(p, &buf, &len), 0);
    CHECK_EQ(len, 13);
    CHECK(strcmp(buf, "hello, world\n") == 0); /* NUL-terminated */
    free(buf);
    /* write_file truncates */
    CHECK_EQ(corio_fs_write_file(p, "hi", 2), 0);
    CHECK_EQ(corio_fs_read_file(p, &buf, &len), 0);
    CHECK_EQ(len, 2);
    CHECK(strcmp(buf, "hi") == 0);
    free(buf);
    /* an empty file: "" */
    CHECK_EQ(corio_fs_write_file(p, NULL, 0), 0);
    CHECK_EQ(corio_fs_read_file(p, &buf, &len), 0);
    CHECK_EQ(len, 0);
    CHECK(buf != NULL && buf[0] == '\0');
    free(buf);
    /* a large file, with NULs in it */
    size_t big = (size_t)SCALE(9, 5, 3) << 20;
    unsigned char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = fs_pattern(i);
    fs_path_in(p, sizeof p, d, "big.bin");
    CHECK_EQ(corio_fs_write_file(p, data, big), 0);
    CHECK_EQ(corio_fs_read_file(p, &buf, &len), 0);
    CHECK_EQ(len, big);
    CHECK(memcmp(buf, data, big) == 0);
    CHECK_EQ(buf[big], '\0');
    free(buf);
    free(data);
    struct stat st;
    CHECK_EQ(corio_fs_metadata(p, &st), 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ(st.st_size, (off_t)big);
    /* a file whose size stat does not tell reads in full */
    CHECK_EQ(corio_fs_read_file("/proc/self/status", &buf, &len), 0);
    CHECK(len > 100 && strlen(buf) == len);
    CHECK(strstr(buf, "VmRSS") != NULL);
    free(buf);
    return 0;
}

TEST(fs_read_write_file_round_trip)
{
    tmpdir d;
    fs_tmp_make(&d);
    CHECK_EQ(run_main(round_trip_main, &d), 0);
    fs_tmp_remove(&d);
}

TEST(fs_read_write_file_round_trip_multi_thread)
{
    tmpdir d;
    fs_tmp_make(&d);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, round_trip_main, &d, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    fs_tmp_remove(&d);
}

TEST(fs_plain_code_blocks_and_works)
{
    /* No runtime at all: the system calls are made on this thread. */
    tmpdir d;
    fs_tmp_make(&d);
    CHECK_EQ(round_trip_main(&d), 0);
    fs_tmp_remove(&d);
}

/* ---- errors ------------------------------------------------------------------------------ */

static int errors_main(void *arg)
{
    tmpdir *d = arg;
    char p[128], q[128];
    char *buf = (char *)1;
    size_t len = 1;
    fs_path_in(p, sizeof p, d, "missing");
    CHECK_EQ(corio_fs_read_file(p, &buf, &len), -ENOENT);
    CHECK(buf == NULL && len == 0); /* cleared on error */
    CHECK_EQ(corio_fs_read_file(d->path, &buf, &len), -EISDIR);
    fs_path_in(p, sizeof p, d, "f");
    CHECK_EQ(corio_fs_write_file(p, "x", 1), 0);
    fs_path_in(q, sizeof q, d, "f/x");
    CHECK_EQ(corio_fs_read_file(q, &buf, &len), -ENOTDIR);
    CHECK_EQ(corio_fs_write_file(q, "x", 1), -ENOTDIR);
    fs_path_in(q, sizeof q, d, "no/such/dir");
    CHECK_EQ(corio_fs_write_file(q, "x", 1), -ENOENT);
    CHECK_EQ(corio_fs_write_file(d->path, "x", 1), -EISDIR);
    struct stat st;
    fs_path_in(q, sizeof q, d, "missing");
    CHECK_EQ(corio_fs_metadata(q, &st), -ENOENT);
    CHECK_EQ(corio_fs_remove(q), -ENOENT);
    CHECK_EQ(corio_fs_rename(q, p), -ENOENT);
    CHECK_EQ(corio_fs_mkdir(p, 0755), -EEXIST);
    corio_fs_dirent *e = (corio_fs_dirent *)1;
    size_t n = 1;
    CHECK_EQ(corio_fs_read_dir(p, &e, &n), -ENOTDIR);
    CHECK(e == NULL && n == 0);
    CHECK_EQ(corio_fs_read_dir(q, &e, &n), -ENOENT);
    corio_file *f = (corio_file *)1;
    CHECK_EQ(corio_file_open(q, O_RDONLY, 0, &f), -ENOENT);
    CHECK(f == NULL);
    CHECK_EQ(corio_file_open(p, O_WRONLY | O_CREAT | O_EXCL, 0644, &f), -EEXIST);
    CHECK_EQ(corio_file_open(d->path, O_WRONLY, 0, &f), -EISDIR);
    /* a directory opened read-only: its reads say so */
    CHECK_EQ(corio_file_open(d->path, O_RDONLY, 0, &f), 0);
    char b[8];
    CHECK_EQ(corio_file_read(f, b, sizeof b), -EISDIR);
    CHECK_EQ(corio_file_close(f), 0);
    /* reading a write-only file, writing a read-only one */
    CHECK_EQ(corio_file_open(p, O_WRONLY, 0, &f), 0);
    CHECK_EQ(corio_file_read(f, b, sizeof b), -EBADF);
    CHECK_EQ(corio_file_close(f), 0);
    CHECK_EQ(corio_file_open(p, O_RDONLY, 0, &f), 0);
    CHECK_EQ(corio_file_write(f, "y", 1), -EBADF);
    CHECK_EQ(corio_file_seek(f, 0, 12345, NULL), -EINVAL); /* a bad whence */
    CHECK_EQ(corio_file_seek(f, -5, SEEK_SET, NULL), -EINVAL);
    CHECK_EQ(corio_file_pread(f, b, 1, -1), -EINVAL);
    CHECK_EQ(corio_file_close(f), 0);
    /* NULL answers (docs/conventions.md) */
    CHECK_EQ(corio_fs_read_file(NULL, &buf, &len), -EINVAL);
    CHECK_EQ(corio_fs_read_file(p, NULL, &len), -EINVAL);
    CHECK_EQ(corio_fs_read_file(p, &buf, NULL), -EINVAL);
    CHECK_EQ(corio_fs_write_file(NULL, "x", 1), -EINVAL);
    CHECK_EQ(corio_fs_write_file(p, NULL, 1), -EINVAL);
    CHECK_EQ(corio_fs_metadata(NULL, &st), -EINVAL);
    CHECK_EQ(corio_fs_metadata(p, NULL), -EINVAL);
    CHECK_EQ(corio_fs_remove(NULL), -EINVAL);
    CHECK_EQ(corio_fs_rename(NULL, p), -EINVAL);
    CHECK_EQ(corio_fs_rename(p, NULL), -EINVAL);
    CHECK_EQ(corio_fs_mkdir(NULL, 0755), -EINVAL);
    CHECK_EQ(corio_fs_read_dir(NULL, &e, &n), -EINVAL);
    CHECK_EQ(corio_fs_read_dir(p, NULL, &n), -EINVAL);
    CHECK_EQ(corio_fs_read_dir(p, &e, NULL), -EINVAL);
    CHECK_EQ(corio_file_open(NULL, O_RDONLY, 0, &f), -EINVAL);
    CHECK_EQ(corio_file_open(p, O_RDONLY, 0, NULL), -EINVAL);
    CHECK_EQ(corio_file_close(NULL), 0);
    CHECK_EQ(corio_file_raw(NULL), -1);
    CHECK_EQ(corio_file_read(NULL, b, 1), -EINVAL);
    CHECK_EQ(corio_file_write(NULL, b, 1), -EINVAL);
    CHECK_EQ(corio_file_write_all(NULL, b, 1), -EINVAL);
    CHECK_EQ(corio_file_pread(NULL, b, 1, 0), -EINVAL);
    CHECK_EQ(corio_file_pwrite(NULL, b, 1, 0), -EINVAL);
    CHECK_EQ(corio_file_seek(NULL, 0, SEEK_SET, NULL), -EINVAL);
    CHECK_EQ(corio_file_sync(NULL), -EINVAL);
    CHECK_EQ(corio_file_metadata(NULL, &st), -EINVAL);
    return 0;
}

TEST(fs_errors_and_null_answers)
{
    tmpdir d;
    fs_tmp_make(&d);
    CHECK_EQ(run_main(errors_main, &d), 0);
    CHECK_EQ(errors_main(&d), 0); /* and the same from plain code */
    fs_tmp_remove(&d);
}

/* ---- open files ---------------------------------------------------------------------- */

static int file_main(void *arg)
{
    tmpdir *d = arg;
    char p[128];
    fs_path_in(p, sizeof p, d, "f.dat");
    corio_file *f;
    CHECK_EQ(corio_file_open(p, O_RDWR | O_CREAT | O_TRUNC, 0600, &f), 0);
    CHECK(corio_file_raw(f) >= 0);
    CHECK_EQ(corio_file_write(f, "0123456789", 10), 10);
    CHECK_EQ(corio_file_write_all(f, "abcdef", 6), 0);
    off_t pos = -1;
    CHECK_EQ(corio_file_seek(f, 0, SEEK_CUR, &pos), 0);
    CHECK_EQ(pos, 16);
    CHECK_EQ(corio_file_seek(f, 2, SEEK_SET, &pos), 0);
    CHECK_EQ(pos, 2);
    char b[32] = {0};
    CHECK_EQ(corio_file_read(f, b, 5), 5);
    CHECK(memcmp(b, "23456", 5) == 0);
    /* pread/pwrite leave the position alone */
    CHECK_EQ(corio_file_pread(f, b, 3, 10), 3);
    CHECK(memcmp(b, "abc", 3) == 0);
    CHECK_EQ(corio_file_pwrite(f, "XY", 2, 0), 2);
    CHECK_EQ(corio_file_read(f, b, 2), 2);
    CHECK(memcmp(b, "78", 2) == 0);
    /* past the end: 0 */
    CHECK_EQ(corio_file_seek(f, 0, SEEK_END, &pos), 0);
    CHECK_EQ(pos, 16);
    CHECK_EQ(corio_file_read(f, b, sizeof b), 0);
    CHECK_EQ(corio_file_pread(f, b, sizeof b, 100), 0);
    CHECK_EQ(corio_file_read(f, b, 0), 0);
    CHECK_EQ(corio_file_sync(f), 0);
    struct stat st;
    CHECK_EQ(corio_file_metadata(f, &st), 0);
    CHECK_EQ(st.st_size, 16);
    CHECK_EQ(st.st_mode & 0777, 0600);
    CHECK_EQ(corio_file_close(f), 0);
    char *all;
    size_t len;
    CHECK_EQ(corio_fs_read_file(p, &all, &len), 0);
    CHECK(strcmp(all, "XY23456789abcdef") == 0);
    free(all);
    /* O_APPEND */
    CHECK_EQ(corio_file_open(p, O_WRONLY | O_APPEND, 0, &f), 0);
    CHECK_EQ(corio_file_write(f, "!", 1), 1);
    CHECK_EQ(corio_file_close(f), 0);
    CHECK_EQ(corio_fs_read_file(p, &all, &len), 0);
    CHECK(strcmp(all, "XY23456789abcdef!") == 0);
    free(all);
    /* a task's read or write moves at most CORIO_FS_CHUNK, plain code all */
    size_t big = CORIO_FS_CHUNK + 4096;
    unsigned char *data = malloc(big), *back = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = fs_pattern(i);
    CHECK_EQ(corio_file_open(p, O_RDWR | O_TRUNC, 0, &f), 0);
    CHECK_EQ(corio_file_write_all(f, data, big), 0);
    CHECK_EQ(corio_file_seek(f, 0, SEEK_SET, NULL), 0);
    size_t got = 0;
    int calls = 0;
    while (got < big) {
        ssize_t n = corio_file_read(f, back + got, big - got);
        CHECK(n > 0 && (size_t)n <= big);
        got += (size_t)n;
        calls++;
    }
    bool in_task = corio_task_current() != NULL;
    CHECK_EQ(calls, in_task ? 2 : 1);
    CHECK(memcmp(data, back, big) == 0);
    CHECK_EQ(corio_file_close(f), 0);
    free(data);
    free(back);
    return 0;
}

TEST(fs_file_read_write_seek_sync)
{
    tmpdir d;
    fs_tmp_make(&d);
    CHECK_EQ(run_main(file_main, &d), 0);
    CHECK_EQ(file_main(&d), 0); /* plain code */
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, file_main, &d, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
    fs_tmp_remove(&d);
}

/* A FIFO opens as a corio_file (open(2) takes it, as tokio's File does):
 * reads and writes work, and the calls that use an offset say -ESPIPE, as
 * corio_file_open's comment says. */
static int fifo_file_main(void *arg)
{
    tmpdir *d = arg;
    char p[128];
    fs_path_in(p, sizeof p, d, "pipe");
    unlink(p);
    CHECK_EQ(mkfifo(p, 0600), 0);
    corio_file *f;
    /* O_RDWR: the open waits for no writer, and our own data is there to read */
    CHECK_EQ(corio_file_open(p, O_RDWR, 0, &f), 0);
    CHECK_EQ(corio_file_write(f, "abc", 3), 3);
    char b[8];
    CHECK_EQ(corio_file_pread(f, b, sizeof b, 0), -ESPIPE);
    CHECK_EQ(corio_file_pwrite(f, "x", 1, 0), -ESPIPE);
    off_t pos = 7;
    CHECK_EQ(corio_file_seek(f, 0, SEEK_SET, &pos), -ESPIPE);
    CHECK_EQ(pos, 7); /* not written on error */
    CHECK_EQ(corio_file_read(f, b, sizeof b), 3); /* nothing taken by the refusals */
    CHECK(memcmp(b, "abc", 3) == 0);
    CHECK_EQ(corio_file_close(f), 0);
    CHECK_EQ(unlink(p), 0);
    return 0;
}

TEST(fs_file_on_a_fifo_reads_and_writes_and_cannot_seek)
{
    tmpdir d;
    fs_tmp_make(&d);
    CHECK_EQ(run_main(fifo_file_main, &d), 0);
    CHECK_EQ(fifo_file_main(&d), 0); /* plain code */
    fs_tmp_remove(&d);
}

/* ---- paths and listings ---------------------------------------------------------------- */

static int cmp_dirent(const void *a, const void *b)
{
    return strcmp(((const corio_fs_dirent *)a)->name, ((const corio_fs_dirent *)b)->name);
}

static int paths_main(void *arg)
{
    tmpdir *d = arg;
    char p[128], q[128];
    fs_path_in(p, sizeof p, d, "sub");
    CHECK_EQ(corio_fs_mkdir(p, 0755), 0);
    CHECK_EQ(corio_fs_mkdir(p, 0755), -EEXIST);
    struct stat st;
    CHECK_EQ(corio_fs_metadata(p, &st), 0);
    CHECK(S_ISDIR(st.st_mode));
    /* an empty directory: 0 entries, still an array to free */
    corio_fs_dirent *e;
    size_t n = 99;
    CHECK_EQ(corio_fs_read_dir(p, &e, &n), 0);
    CHECK_EQ(n, 0);
    CHECK(e != NULL);
    free(e);
    fs_path_in(q, sizeof q, d, "sub/a.txt");
    CHECK_EQ(corio_fs_write_file(q, "a", 1), 0);
    fs_path_in(q, sizeof q, d, "sub/inner");
    CHECK_EQ(corio_fs_mkdir(q, 0700), 0);
    fs_path_in(q, sizeof q, d, "sub/link");
    CHECK_EQ(symlink("a.txt", q), 0);
    fs_path_in(q, sizeof q, d, "sub/fifo");
    CHECK_EQ(mkfifo(q, 0600), 0);
    /* many entries, long names: the arrays grow */
    for (int i = 0; i < 300; i++) {
        char name[160];
        snprintf(name, sizeof name, "sub/file-%03d-%0100d", i, i);
        char full[300];
        snprintf(full, sizeof full, "%s/%s", d->path, name);
        CHECK_EQ(corio_fs_write_file(full, "", 0), 0);
    }
    CHECK_EQ(corio_fs_read_dir(p, &e, &n), 0);
    CHECK_EQ(n, 304);
    qsort(e, n, sizeof e[0], cmp_dirent);
    CHECK(strcmp(e[0].name, "a.txt") == 0);
    CHECK_EQ(e[0].type, CORIO_FS_FILE);
    CHECK(strcmp(e[1].name, "fifo") == 0);
    CHECK_EQ(e[1].type, CORIO_FS_OTHER);
    CHECK(strncmp(e[2].name, "file-000-", 9) == 0);
    CHECK_EQ(strlen(e[2].name), 109);
    CHECK_EQ(e[2].type, CORIO_FS_FILE);
    CHECK(strcmp(e[302].name, "inner") == 0);
    CHECK_EQ(e[302].type, CORIO_FS_DIR);
    CHECK(strcmp(e[303].name, "link") == 0);
    CHECK_EQ(e[303].type, CORIO_FS_SYMLINK);
    free(e);
    /* rename, remove */
    char from[128], to[128];
    fs_path_in(from, sizeof from, d, "sub/a.txt");
    fs_path_in(to, sizeof to, d, "sub/b.txt");
    CHECK_EQ(corio_fs_rename(from, to), 0);
    CHECK_EQ(corio_fs_metadata(from, &st), -ENOENT);
    CHECK_EQ(corio_fs_metadata(to, &st), 0);
    CHECK_EQ(corio_fs_remove(p), -ENOTEMPTY); /* not empty */
    CHECK_EQ(corio_fs_remove(to), 0);
    CHECK_EQ(corio_fs_metadata(to, &st), -ENOENT);
    fs_path_in(q, sizeof q, d, "sub/inner");
    CHECK_EQ(corio_fs_remove(q), 0); /* an empty directory */
    CHECK_EQ(corio_fs_metadata(q, &st), -ENOENT);
    return 0;
}

TEST(fs_mkdir_read_dir_rename_remove)
{
    tmpdir d;
    fs_tmp_make(&d);
    CHECK_EQ(run_main(paths_main, &d), 0);
    fs_tmp_remove(&d);
    fs_tmp_make(&d);
    CHECK_EQ(paths_main(&d), 0); /* plain code */
    fs_tmp_remove(&d);
}

/* ---- not stalling the runtime ------------------------------------------------------------ */

typedef struct ticker {
    atomic_int stop;
    int ticks;
    double longest_gap_ms;
} ticker;

static int ticker_main(void *arg)
{
    ticker *t = arg;
    double last = mono_ms();
    while (!atomic_load(&t->stop)) {
        corio_sleep(CORIO_MSEC(2));
        double now = mono_ms();
        if (now - last > t->longest_gap_ms)
            t->longest_gap_ms = now - last;
        last = now;
        t->ticks++;
    }
    return 0;
}

static int no_stall_main(void *arg)
{
    slow_read *s = arg;
    ticker t = {0};
    corio_task *tt;
    CHECK_EQ(corio_spawn(ticker_main, &t, &tt), 0);
    double t0 = mono_ms(); /* before the writer's thread starts its 150 ms */
    fifo_writer w;
    fifo_writer_start(&w, s->fifo, 150, "slow data");
    char *buf;
    size_t len;
    /* blocks 150 ms in open(2) on a pool thread; the ticker goes on */
    CHECK_EQ(corio_fs_read_file(s->fifo, &buf, &len), 0);
    CHECK(mono_ms() - t0 >= 100);
    CHECK(strcmp(buf, "slow data") == 0);
    free(buf);
    atomic_store(&t.stop, 1);
    CHECK_EQ(join_rc(tt), 0);
    pthread_join(w.th, NULL);
    CHECK(t.ticks >= 20);
    if (t.longest_gap_ms > 60)
        test_failf(__FILE__, __LINE__, "the ticker stalled %.1f ms", t.longest_gap_ms);
    return 0;
}

TEST_TIMING(fs_read_does_not_stall_a_current_thread_runtime)
{
    slow_read s;
    slow_read_make(&s);
    CHECK_EQ(run_main(no_stall_main, &s), 0);
    fs_tmp_remove(&s.d);
}
