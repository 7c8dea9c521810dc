/* read_file.c - reading a file in a task: blocking, or off the workers.
 *
 * Mirrors "Common Pitfalls: 1. Blocking the Runtime" of seed 003 ("Tokio:
 * a deep dive"):
 *
 *     // Bad: Blocking operations in async code
 *     let data = std::fs::read_to_string("file.txt").unwrap(); // Blocks!
 *     // Good: Use async alternatives
 *     let data = tokio::fs::read_to_string("file.txt").await?;
 *
 * A current-thread runtime runs two tasks: a ticker that wakes every 2 ms
 * and records the longest gap between two of its ticks, and a task that
 * reads file.txt - first with open/read/close right in the task (what
 * std::fs::read_to_string does), then with corio_fs_read_file, which runs
 * the same system calls on the runtime's blocking pool and suspends only
 * the task that waits. A page-cached file reads too fast to show anything,
 * so file.txt is a FIFO fed by a thread that plays a slow device (a cold
 * disk, a network file system): it hands out the text in 4 pieces over
 * `slow_ms`. Blocking, the whole runtime stops for that long: the ticker's
 * gap is slow_ms, and it does not tick once while the read is in progress.
 * Off the workers, the ticker keeps its 2 ms, and ticks all along the read.
 *
 *   usage: read_file [slow_ms]   (default 200)
 */
#include <corio.h>
#include <corio/fs.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long slow_ms = 200;
static char path[64];
static const char *const pieces[] = {"the quick ", "brown fox ", "jumps over ", "the lazy dog\n"};

/* ---- the slow device ------------------------------------------------------------ */

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Waits for a reader to open the FIFO, then writes a piece every
 * slow_ms/4 ms and closes it (the reader sees the end of the file). */
static void *slow_device(void *arg)
{
    (void)arg;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    for (int i = 0; i < 4; i++) {
        nap_ms(slow_ms / 4);
        size_t len = strlen(pieces[i]);
        if (write(fd, pieces[i], len) != (ssize_t)len)
            break;
    }
    close(fd);
    return NULL;
}

/* ---- the ticker ------------------------------------------------------------------- */

typedef struct ticker {
    atomic_bool stop;
    atomic_bool reading; /* set by the reader while its read is in progress */
    int ticks;
    int ticks_reading; /* ticks while it was set */
    double longest_ms;
} ticker;

static double now_ms(void)
{
    return (double)corio_instant_now() / 1e6;
}

static int tick(void *arg)
{
    ticker *t = arg;
    double last = now_ms();
    while (!atomic_load(&t->stop) && corio_sleep(CORIO_MSEC(2)) == 0) {
        double now = now_ms();
        if (now - last > t->longest_ms)
            t->longest_ms = now - last;
        last = now;
        t->ticks++;
        if (atomic_load(&t->reading))
            t->ticks_reading++;
    }
    return 0;
}

/* ---- the two ways to read ---------------------------------------------------------- */

/* std::fs::read_to_string, in C: blocks the thread, so the runtime. */
static int read_to_string_blocking(const char *p, char **out, size_t *len)
{
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 64, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

typedef struct trial {
    bool blocking;
    size_t bytes;
    double took_ms;
    ticker t;
    int rc;
} trial;

static int reader(void *arg)
{
    trial *tr = arg;
    corio_task *ticker_task;
    corio_spawn(tick, &tr->t, &ticker_task);
    corio_sleep(CORIO_MSEC(10)); /* the ticker is ticking */
    pthread_t dev;
    pthread_create(&dev, NULL, slow_device, NULL);
    double t0 = now_ms();
    char *data = NULL;
    size_t len = 0;
    atomic_store(&tr->t.reading, true);
    if (tr->blocking)
        tr->rc = read_to_string_blocking(path, &data, &len); /* Blocks! */
    else
        tr->rc = corio_fs_read_file(path, &data, &len); /* .await */
    atomic_store(&tr->t.reading, false);
    tr->took_ms = now_ms() - t0;
    tr->bytes = len;
    free(data);
    corio_sleep(CORIO_MSEC(10));
    atomic_store(&tr->t.stop, true);
    corio_task_join(ticker_task, NULL);
    pthread_join(dev, NULL);
    return 0;
}

static int run_trial(trial *tr)
{
    corio_rt_builder b = corio_rt_builder_current_thread();
    corio_rt *rt;
    int rc = corio_rt_build(&b, &rt);
    if (rc < 0)
        return rc;
    rc = corio_rt_block_on(rt, reader, tr, NULL);
    corio_rt_free(rt);
    return rc < 0 ? rc : tr->rc;
}

#define USAGE_NAME "read_file"
#define USAGE_ARGS "read_file [slow_ms]"

#include "example_args.h"

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s\n", USAGE_ARGS);
        return 2;
    }
    if (argc > 1)
        slow_ms = arg_long(argv[1], 4, 600000);
    if (slow_ms < 4)
        slow_ms = 4;
    char dir[] = "/tmp/corio-read-file-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/file.txt", dir);
    if (mkfifo(path, 0600) < 0)
        return 1;
    printf("reading file.txt, a device that takes %ld ms, while a ticker task wakes every 2 ms "
           "(current-thread runtime)\n", slow_ms);
    trial blocking = {.blocking = true}, async = {.blocking = false};
    int rc1 = run_trial(&blocking);
    int rc2 = run_trial(&async);
    unlink(path);
    rmdir(dir);
    if (rc1 < 0 || rc2 < 0) {
        printf("failed: %s / %s\n", corio_strerror(rc1), corio_strerror(rc2));
        return 1;
    }
    printf("blocking read in the task:  %zu bytes in %.0f ms, ticker's longest gap %.1f ms, "
           "%d ticks during the read\n",
           blocking.bytes, blocking.took_ms, blocking.t.longest_ms, blocking.t.ticks_reading);
    printf("corio_fs_read_file:         %zu bytes in %.0f ms, ticker's longest gap %.1f ms, "
           "%d ticks during the read\n",
           async.bytes, async.took_ms, async.t.longest_ms, async.t.ticks_reading);
    printf("the blocking read stalled every other task for %.0f ms; off the workers the "
           "longest stall was %.1fx shorter\n",
           blocking.t.longest_ms, blocking.t.longest_ms / async.t.longest_ms);
    return 0;
}
