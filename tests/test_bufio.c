/* Tests of corio/bufio.h: buffered reading and writing over a corio_fd. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <corio/bufio.h>

#include "test.h"
#include "util.h"

/* ---- helpers ---------------------------------------------------------------------- */

/* A pipe, both ends async. */
typedef struct chan_pair {
    corio_fd *r, *w;
} chan_pair;

static void pipe_pair(chan_pair *c)
{
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    CHECK_EQ(corio_fd_open(p[0], &c->r), 0);
    CHECK_EQ(corio_fd_open(p[1], &c->w), 0);
}

static void sock_pair(chan_pair *c, int type)
{
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
    CHECK_EQ(corio_fd_open(sv[0], &c->r), 0);
    CHECK_EQ(corio_fd_open(sv[1], &c->w), 0);
}

static void write_str(corio_fd *w, const char *s)
{
    size_t len = strlen(s);
    CHECK_EQ(corio_fd_write(w, s, len), (ssize_t)len);
}

/* A task that writes its pieces with a pause after each, then closes. */
typedef struct pieces {
    corio_fd *w;
    const char *const *parts;
    int n;
} pieces;

static int write_pieces(void *arg)
{
    pieces *p = arg;
    for (int i = 0; i < p->n; i++) {
        write_str(p->w, p->parts[i]);
        corio_sleep(CORIO_MSEC(5));
    }
    CHECK_EQ(corio_fd_close(p->w), 0);
    return 0;
}

static void expect_line(corio_bufreader *r, const char *want)
{
    char line[256];
    ssize_t n = corio_bufreader_read_line(r, line, sizeof line);
    if (n != (ssize_t)strlen(want) || strcmp(line, want) != 0)
        test_failf(__FILE__, __LINE__, "read_line: %zd \"%s\", not \"%s\"", n,
                   n >= 0 ? line : "", want);
}

/* ---- reading lines ---------------------------------------------------------------- */

static int lines_main(void *arg)
{
    (void)arg;
    chan_pair c;
    pipe_pair(&c);
    static const char *const parts[] = {"hel", "lo\nwor", "ld\n\nlast ", "line\r\nno end"};
    pieces p = {c.w, parts, 4};
    corio_task *t;
    CHECK_EQ(corio_spawn(write_pieces, &p, &t), 0);
    corio_bufreader r;
    CHECK_EQ(corio_bufreader_init(&r, c.r, 4), 0); /* smaller than a line: grows */
    expect_line(&r, "hello\n");                    /* split across three reads */
    expect_line(&r, "world\n");
    expect_line(&r, "\n");                         /* an empty line */
    expect_line(&r, "last line\r\n");              /* CRLF left as it is */
    expect_line(&r, "no end");                     /* EOF mid-line: the piece */
    char line[16];
    CHECK_EQ(corio_bufreader_read_line(&r, line, sizeof line), 0); /* then EOF */
    CHECK_EQ(corio_bufreader_read_line(&r, line, sizeof line), 0);
    CHECK_EQ(join_rc(t), 0);
    corio_bufreader_drop(&r);
    corio_bufreader_drop(&r); /* twice: nothing */
    corio_fd_close(c.r);
    return 0;
}

TEST(bufio_read_line_split_crlf_and_eof)
{
    CHECK_EQ(run_main(lines_main, NULL), 0);
}

TEST(bufio_read_line_multi_thread)
{
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, lines_main, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

static int long_lines_main(void *arg)
{
    (void)arg;
    chan_pair c;
    pipe_pair(&c);
    corio_bufreader r;
    CHECK_EQ(corio_bufreader_init(&r, c.r, 0), 0);
    static const char data[] = "abcdefghij\nshort\n1234567\nab;cd;\nx\0y\n";
    CHECK_EQ(corio_fd_write(c.w, data, sizeof data - 1), (ssize_t)sizeof data - 1);
    char out[8]; /* lines of up to 7 bytes */
    /* too long: the first 7 bytes, consumed, NUL-terminated; the rest stays */
    CHECK_EQ(corio_bufreader_read_line(&r, out, sizeof out), -EMSGSIZE);
    CHECK(strcmp(out, "abcdefg") == 0);
    CHECK_EQ(corio_bufreader_read_line(&r, out, sizeof out), 4);
    CHECK(strcmp(out, "hij\n") == 0);
    CHECK_EQ(corio_bufreader_read_line(&r, out, sizeof out), 6);
    CHECK(strcmp(out, "short\n") == 0);
    /* 7 bytes and the newline make 8: one too many */
    CHECK_EQ(corio_bufreader_read_line(&r, out, sizeof out), -EMSGSIZE);
    CHECK(strcmp(out, "1234567") == 0);
    CHECK_EQ(corio_bufreader_read_line(&r, out, sizeof out), 1);
    CHECK(strcmp(out, "\n") == 0);
    /* another delimiter */
    CHECK_EQ(corio_bufreader_read_delim(&r, ';', out, sizeof out), 3);
    CHECK(strcmp(out, "ab;") == 0);
    CHECK_EQ(corio_bufreader_read_delim(&r, ';', out, sizeof out), 3);
    CHECK(strcmp(out, "cd;") == 0);
    /* a NUL is a byte like any other */
    CHECK_EQ(corio_bufreader_read_line(&r, out, sizeof out), 1);
    CHECK_EQ(corio_bufreader_read_line(&r, out, sizeof out), 4);
    CHECK(memcmp(out, "x\0y\n", 5) == 0);
    /* a line longer than the reader's buffer, with room for it: it grows */
    corio_bufreader small;
    CHECK_EQ(corio_bufreader_init(&small, c.r, 16), 0);
    char big[3000];
    memset(big, 'z', sizeof big);
    big[2000] = '\n';
    big[2001] = '\0';
    write_str(c.w, big);
    char line[2100];
    CHECK_EQ(corio_bufreader_read_line(&small, line, sizeof line), 2001);
    CHECK(memcmp(line, big, 2001) == 0);
    CHECK(small.cap_ >= 2001 && small.cap_ <= 2099);
    corio_bufreader_drop(&small);
    corio_bufreader_drop(&r);
    corio_fd_close(c.r);
    corio_fd_close(c.w);
    return 0;
}

TEST(bufio_read_until_max_length_and_delimiters)
{
    CHECK_EQ(run_main(long_lines_main, NULL), 0);
}

static int read_main(void *arg)
{
    (void)arg;
    chan_pair c;
    pipe_pair(&c);
    corio_bufreader r;
    CHECK_EQ(corio_bufreader_init(&r, c.r, 64), 0);
    write_str(c.w, "line one\nrest of the data");
    char line[64], b[64];
    expect_line(&r, "line one\n");
    CHECK_EQ(corio_bufreader_buffered(&r), 16);
    CHECK_EQ(corio_bufreader_read(&r, b, 4), 4); /* from the buffer */
    CHECK(memcmp(b, "rest", 4) == 0);
    CHECK_EQ(corio_bufreader_read(&r, b, sizeof b), 12); /* what is buffered, no more */
    CHECK(memcmp(b, " of the data", 12) == 0);
    CHECK_EQ(corio_bufreader_buffered(&r), 0);
    /* an empty buffer and a big read: straight from the fd */
    char big[200];
    memset(big, 'q', sizeof big);
    CHECK_EQ(corio_fd_write(c.w, big, sizeof big), (ssize_t)sizeof big);
    char into[128];
    CHECK_EQ(corio_bufreader_read(&r, into, sizeof into), 128);
    CHECK_EQ(corio_bufreader_buffered(&r), 0); /* nothing went through the buffer */
    CHECK_EQ(corio_bufreader_read(&r, b, 10), 10); /* a small one fills it */
    CHECK_EQ(corio_bufreader_buffered(&r), 54);    /* 64 read, 10 taken */
    CHECK_EQ(corio_bufreader_read(&r, b, 0), 0);
    corio_fd_close(c.w);
    size_t total = 0;
    ssize_t n;
    while ((n = corio_bufreader_read(&r, b, sizeof b)) > 0)
        total += (size_t)n;
    CHECK_EQ(n, 0);
    CHECK_EQ(total, 62);
    CHECK_EQ(corio_bufreader_read_line(&r, line, sizeof line), 0);
    corio_bufreader_drop(&r);
    corio_fd_close(c.r);
    return 0;
}

TEST(bufio_read_buffers_small_reads_and_bypasses_big_ones)
{
    CHECK_EQ(run_main(read_main, NULL), 0);
}

/* ---- cancel safety of read_line ---------------------------------------------------------- */

typedef struct reader_arg {
    corio_bufreader *r;
    char line[64];
    ssize_t n;
} reader_arg;

static int read_one_line(void *arg)
{
    reader_arg *a = arg;
    a->n = corio_bufreader_read_line(a->r, a->line, sizeof a->line);
    return a->n < 0 ? (int)a->n : 0;
}

static int cancel_line_main(void *arg)
{
    (void)arg;
    chan_pair c;
    pipe_pair(&c);
    corio_bufreader r;
    CHECK_EQ(corio_bufreader_init(&r, c.r, 0), 0);
    reader_arg a = {.r = &r};
    /* a deadline while half a line has come */
    write_str(c.w, "partial");
    int result;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(20), read_one_line, &a, &result), CORIO_ETIMEDOUT);
    CHECK_EQ(a.n, CORIO_ETIMEDOUT);
    CHECK_EQ(corio_bufreader_buffered(&r), 7); /* kept */
    /* a task aborted in the middle of the next piece */
    write_str(c.w, " li");
    corio_task *t;
    CHECK_EQ(corio_spawn(read_one_line, &a, &t), 0);
    for (int i = 0; i < 5000 && corio_bufreader_buffered(&r) < 10; i++)
        corio_sleep(CORIO_MSEC(1)); /* it has read " li" and waits for more */
    corio_task_abort(t);
    CHECK_EQ(join_rc(t), CORIO_ECANCELED);
    CHECK_EQ(a.n, CORIO_ECANCELED);
    CHECK_EQ(corio_bufreader_buffered(&r), 10);
    /* the rest: the whole line comes out */
    write_str(c.w, "ne\nnext\n");
    expect_line(&r, "partial line\n");
    expect_line(&r, "next\n");
    corio_bufreader_drop(&r);
    corio_fd_close(c.r);
    corio_fd_close(c.w);
    return 0;
}

TEST(bufio_interrupted_read_line_keeps_the_partial_line)
{
    CHECK_EQ(run_main(cancel_line_main, NULL), 0);
}

/* ---- writing --------------------------------------------------------------------------------- */

/* Packets waiting on a SOCK_SEQPACKET socket: one per write system call. */
static int count_packets(int fd, size_t *bytes)
{
    char buf[65536];
    int n = 0;
    *bytes = 0;
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k < 0) {
            CHECK_EQ(errno, EAGAIN);
            return n;
        }
        *bytes += (size_t)k;
        n++;
    }
}

static int coalesce_main(void *arg)
{
    (void)arg;
    chan_pair c;
    sock_pair(&c, SOCK_SEQPACKET);
    corio_bufwriter w;
    CHECK_EQ(corio_bufwriter_init(&w, c.w, 4096), 0);
    /* 1000 writes of 10 bytes: 409 fit in the buffer at a time */
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(corio_bufwriter_write(&w, "0123456789", 10), 10);
    CHECK_EQ(corio_bufwriter_buffered(&w), 10000 - 2 * 4090);
    CHECK_EQ(corio_bufwriter_flush(&w), 0);
    CHECK_EQ(corio_bufwriter_buffered(&w), 0);
    CHECK_EQ(corio_bufwriter_flush(&w), 0); /* nothing: no system call */
    size_t bytes;
    CHECK_EQ(count_packets(corio_fd_raw(c.r), &bytes), 3);
    CHECK_EQ(bytes, 10000);
    /* a write larger than the buffer: the buffer first, then it, direct */
    static char big[10000];
    memset(big, 'b', sizeof big);
    CHECK_EQ(corio_bufwriter_write(&w, "head", 4), 4);
    CHECK_EQ(corio_bufwriter_write(&w, big, sizeof big), (ssize_t)sizeof big);
    CHECK_EQ(corio_bufwriter_buffered(&w), 0);
    CHECK_EQ(count_packets(corio_fd_raw(c.r), &bytes), 2);
    CHECK_EQ(bytes, 10004);
    /* one that does not fit beside what is buffered, but fits alone */
    char mid[3000];
    memset(mid, 'm', sizeof mid);
    CHECK_EQ(corio_bufwriter_write(&w, mid, sizeof mid), 3000);
    CHECK_EQ(corio_bufwriter_write(&w, mid, sizeof mid), 3000);
    CHECK_EQ(corio_bufwriter_buffered(&w), 3000);
    CHECK_EQ(count_packets(corio_fd_raw(c.r), &bytes), 1);
    CHECK_EQ(corio_bufwriter_flush(&w), 0);
    CHECK_EQ(count_packets(corio_fd_raw(c.r), &bytes), 1);
    CHECK_EQ(corio_bufwriter_write(&w, "x", 0), 0);
    corio_bufwriter_drop(&w);
    corio_bufwriter_drop(&w);
    corio_fd_close(c.r);
    corio_fd_close(c.w);
    return 0;
}

TEST(bufio_small_writes_are_coalesced)
{
    CHECK_EQ(run_main(coalesce_main, NULL), 0);
}

static int epipe_main(void *arg)
{
    (void)arg;
    chan_pair c;
    sock_pair(&c, SOCK_STREAM);
    corio_bufwriter w;
    CHECK_EQ(corio_bufwriter_init(&w, c.w, 0), 0);
    CHECK_EQ(corio_fd_close(c.r), 0); /* the peer goes */
    CHECK_EQ(corio_bufwriter_write(&w, "hello", 5), 5); /* buffered */
    CHECK_EQ(corio_bufwriter_flush(&w), -EPIPE);       /* no SIGPIPE */
    CHECK_EQ(corio_bufwriter_buffered(&w), 5);         /* kept */
    static char big[20000];
    CHECK_EQ(corio_bufwriter_write(&w, big, sizeof big), -EPIPE); /* the flush first */
    corio_bufwriter_drop(&w);
    corio_fd_close(c.w);
    return 0;
}

TEST(bufio_flush_to_a_closed_peer_is_epipe)
{
    CHECK_EQ(run_main(epipe_main, NULL), 0);
}

/* An interrupted flush keeps what it did not send: nothing is lost or sent
 * twice. The socket's buffer is made small, the reader starts late. */
typedef struct drain {
    corio_fd *r;
    size_t total;
    uint64_t sum;
} drain;

static int drain_all(void *arg)
{
    drain *d = arg;
    unsigned char b[4096];
    ssize_t n;
    while ((n = corio_fd_read(d->r, b, sizeof b)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            d->sum = d->sum * 31 + b[i];
        d->total += (size_t)n;
    }
    CHECK_EQ(n, 0);
    return 0;
}

static int flush_twice(void *arg)
{
    return corio_bufwriter_flush(arg);
}

static int cancel_flush_main(void *arg)
{
    (void)arg;
    chan_pair c;
    sock_pair(&c, SOCK_STREAM);
    int small = 4096;
    CHECK_EQ(setsockopt(corio_fd_raw(c.w), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    size_t len = 1 << 20;
    corio_bufwriter w;
    CHECK_EQ(corio_bufwriter_init(&w, c.w, len + 1), 0);
    unsigned char *data = malloc(len);
    uint64_t sum = 0;
    for (size_t i = 0; i < len; i++) {
        data[i] = (unsigned char)(i * 13 + (i >> 10));
        sum = sum * 31 + data[i];
    }
    CHECK_EQ(corio_bufwriter_write(&w, data, len), (ssize_t)len); /* all buffered */
    int result;
    CHECK_EQ(corio_timeout_call(CORIO_MSEC(20), flush_twice, &w, &result), CORIO_ETIMEDOUT);
    size_t left = corio_bufwriter_buffered(&w);
    CHECK(left > 0 && left < len); /* a prefix went */
    drain d = {c.r, 0, 0};
    corio_task *t;
    CHECK_EQ(corio_spawn(drain_all, &d, &t), 0);
    CHECK_EQ(corio_bufwriter_flush(&w), 0);
    CHECK_EQ(corio_bufwriter_buffered(&w), 0);
    CHECK_EQ(corio_fd_close(c.w), 0);
    CHECK_EQ(join_rc(t), 0);
    CHECK_EQ(d.total, len);
    CHECK(d.sum == sum);
    free(data);
    corio_bufwriter_drop(&w);
    corio_fd_close(c.r);
    return 0;
}

TEST(bufio_interrupted_flush_keeps_the_rest)
{
    CHECK_EQ(run_main(cancel_flush_main, NULL), 0);
}

/* A write straight to the fd cut short by a deadline returns its count;
 * the code that cut it is owed to the next call (a write small enough for
 * the buffer, or a flush), which takes nothing; the call after that works.
 * Before, the small write was buffered as if nothing had happened. */
typedef struct cut_write {
    corio_bufwriter *w;
    const char *big;
    size_t len;
    int then_flush; /* the next call: 0 a small write, 1 a flush */
    ssize_t n1, n2, n3;
} cut_write;

static int write_big_then_small(void *arg)
{
    cut_write *x = arg;
    x->n1 = corio_bufwriter_write(x->w, x->big, x->len); /* straight to the fd */
    x->n2 = x->then_flush ? corio_bufwriter_flush(x->w) : corio_bufwriter_write(x->w, "x", 1);
    x->n3 = corio_bufwriter_write(x->w, "y", 1); /* fits: buffered, no wait */
    return 0;
}

static int cut_write_main(void *arg)
{
    (void)arg;
    for (int then_flush = 0; then_flush < 2; then_flush++) {
        chan_pair c;
        sock_pair(&c, SOCK_STREAM);
        corio_bufwriter w;
        CHECK_EQ(corio_bufwriter_init(&w, c.w, 1024), 0);
        size_t len = 4 << 20; /* more than the socket takes: the write waits */
        char *big = malloc(len);
        memset(big, 'B', len);
        cut_write x = {&w, big, len, then_flush, 0, 0, 0};
        int result;
        CHECK_EQ(corio_timeout_call(CORIO_MSEC(20), write_big_then_small, &x, &result),
                 CORIO_ETIMEDOUT);
        CHECK(x.n1 > 0 && x.n1 < (ssize_t)len);
        CHECK_EQ(x.n2, CORIO_ETIMEDOUT); /* owed, and nothing taken */
        CHECK_EQ(x.n3, 1);
        CHECK_EQ(corio_bufwriter_buffered(&w), 1);
        drain d = {c.r, 0, 0};
        corio_task *t;
        CHECK_EQ(corio_spawn(drain_all, &d, &t), 0);
        CHECK_EQ(corio_bufwriter_flush(&w), 0); /* owes nothing now */
        CHECK_EQ(corio_fd_close(c.w), 0);
        CHECK_EQ(join_rc(t), 0);
        CHECK_EQ(d.total, (size_t)x.n1 + 1); /* the count, then "y": no "x" */
        uint64_t sum = 0;
        for (ssize_t i = 0; i < x.n1; i++)
            sum = sum * 31 + 'B';
        CHECK(d.sum == sum * 31 + 'y');
        free(big);
        corio_bufwriter_drop(&w);
        corio_fd_close(c.r);
    }
    return 0;
}

TEST(bufio_write_cut_short_owes_its_code_to_the_next_call)
{
    CHECK_EQ(run_main(cut_write_main, NULL), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, cut_write_main, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

/* ---- NULL answers and misuse ------------------------------------------------------------- */

static int null_main(void *arg)
{
    (void)arg;
    chan_pair c;
    pipe_pair(&c);
    corio_bufreader r;
    corio_bufwriter w;
    char b[8];
    CHECK_EQ(corio_bufreader_init(NULL, c.r, 0), -EINVAL);
    CHECK_EQ(corio_bufreader_init(&r, NULL, 0), -EINVAL);
    CHECK_EQ(corio_bufwriter_init(NULL, c.w, 0), -EINVAL);
    CHECK_EQ(corio_bufwriter_init(&w, NULL, 0), -EINVAL);
    CHECK_EQ(corio_bufreader_read(NULL, b, 1), -EINVAL);
    CHECK_EQ(corio_bufreader_read_line(NULL, b, sizeof b), -EINVAL);
    CHECK_EQ(corio_bufreader_read_delim(NULL, ';', b, sizeof b), -EINVAL);
    CHECK_EQ(corio_bufreader_buffered(NULL), 0);
    corio_bufreader_drop(NULL);
    CHECK_EQ(corio_bufwriter_write(NULL, b, 1), -EINVAL);
    CHECK_EQ(corio_bufwriter_flush(NULL), -EINVAL);
    CHECK_EQ(corio_bufwriter_buffered(NULL), 0);
    corio_bufwriter_drop(NULL);
    CHECK_EQ(corio_bufreader_init(&r, c.r, 0), 0);
    CHECK_EQ(corio_bufreader_read_line(&r, NULL, 8), -EINVAL);
    CHECK_EQ(corio_bufreader_read_line(&r, b, 1), -EINVAL); /* no room for a byte */
    CHECK_EQ(corio_bufreader_read_line(&r, b, 0), -EINVAL);
    CHECK_EQ(corio_bufreader_read(&r, NULL, 1), -EINVAL);
    corio_bufreader_drop(&r);
    CHECK_EQ(corio_bufreader_read(&r, b, 1), -EINVAL); /* dropped */
    CHECK_EQ(corio_bufwriter_init(&w, c.w, 0), 0);
    CHECK_EQ(corio_bufwriter_write(&w, NULL, 1), -EINVAL);
    corio_bufwriter_drop(&w);
    CHECK_EQ(corio_bufwriter_flush(&w), -EINVAL);
    corio_fd_close(c.r);
    corio_fd_close(c.w);
    return 0;
}

TEST(bufio_null_answers)
{
    CHECK_EQ(run_main(null_main, NULL), 0);
}

/* ---- stress ------------------------------------------------------------------------------------ */

/* Pairs of tasks on the multi-thread runtime: a writer sends numbered lines
 * of varied lengths through a bufwriter in small and large writes; a
 * reader reads them with read_line under very short deadlines that keep
 * interrupting it, and retries. Every line must come out whole, in order,
 * once. */
#define LINES 400

typedef struct stress_pair {
    chan_pair c;
    atomic_int ok;
    int timeouts;
} stress_pair;

static size_t make_line(char *out, int i)
{
    size_t len = (size_t)snprintf(out, 32, "%d:", i);
    size_t pad = (size_t)(i * 7919 % 300);
    memset(out + len, 'a' + i % 26, pad);
    len += pad;
    out[len++] = '\n';
    out[len] = '\0';
    return len;
}

static int stress_writer(void *arg)
{
    stress_pair *p = arg;
    corio_bufwriter w;
    CHECK_EQ(corio_bufwriter_init(&w, p->c.w, 256), 0);
    char line[400];
    for (int i = 0; i < LINES; i++) {
        size_t len = make_line(line, i);
        /* in two pieces, to cross buffer boundaries */
        size_t half = len / 2;
        CHECK_EQ(corio_bufwriter_write(&w, line, half), (ssize_t)half);
        CHECK_EQ(corio_bufwriter_write(&w, line + half, len - half), (ssize_t)(len - half));
        if (i % 50 == 0) {
            CHECK_EQ(corio_bufwriter_flush(&w), 0);
            corio_yield();
        }
    }
    CHECK_EQ(corio_bufwriter_flush(&w), 0);
    corio_bufwriter_drop(&w);
    CHECK_EQ(corio_fd_close(p->c.w), 0);
    return 0;
}

typedef struct long_reader {
    corio_bufreader *r;
    char line[512];
    ssize_t n;
} long_reader;

static int read_long_line(void *arg)
{
    long_reader *a = arg;
    a->n = corio_bufreader_read_line(a->r, a->line, sizeof a->line);
    return 0;
}

static int stress_reader(void *arg)
{
    stress_pair *p = arg;
    corio_bufreader r;
    CHECK_EQ(corio_bufreader_init(&r, p->c.r, 64), 0);
    long_reader a = {.r = &r};
    char want[400];
    for (int i = 0; i < LINES;) {
        int result;
        int rc = corio_timeout_call(CORIO_USEC(20 + i % 200), read_long_line, &a, &result);
        /* The scope may report CORIO_ETIMEDOUT although read_line got its
         * line (the deadline passed in a yield after a read that was ready
         * at once): what read_line returned is what counts. */
        CHECK(rc == 0 || rc == CORIO_ETIMEDOUT);
        if (a.n == CORIO_ETIMEDOUT) {
            CHECK_EQ(rc, CORIO_ETIMEDOUT);
            p->timeouts++;
            continue;
        }
        size_t len = make_line(want, i);
        CHECK_EQ(a.n, (ssize_t)len);
        CHECK(strcmp(a.line, want) == 0);
        i++;
    }
    CHECK_EQ(corio_bufreader_read_line(&r, a.line, sizeof a.line), 0);
    corio_bufreader_drop(&r);
    corio_fd_close(p->c.r);
    atomic_store(&p->ok, 1);
    return 0;
}

static int bufio_stress_main(void *arg)
{
    (void)arg;
    int pairs = SCALE(40, 16, 8);
    stress_pair *ps = calloc((size_t)pairs, sizeof *ps);
    corio_task **ts = calloc((size_t)pairs * 2, sizeof *ts);
    for (int i = 0; i < pairs; i++) {
        if (i % 2)
            pipe_pair(&ps[i].c);
        else
            sock_pair(&ps[i].c, SOCK_STREAM);
        CHECK_EQ(corio_spawn(stress_reader, &ps[i], &ts[2 * i]), 0);
        CHECK_EQ(corio_spawn(stress_writer, &ps[i], &ts[2 * i + 1]), 0);
    }
    int timeouts = 0;
    for (int i = 0; i < pairs; i++) {
        CHECK_EQ(join_rc(ts[2 * i]), 0);
        CHECK_EQ(join_rc(ts[2 * i + 1]), 0);
        CHECK_EQ(atomic_load(&ps[i].ok), 1);
        timeouts += ps[i].timeouts;
    }
    CHECK(timeouts > 0); /* the deadlines did interrupt reads */
    free(ps);
    free(ts);
    return 0;
}

TEST_SLOW(bufio_stress_multi_thread_interrupted_readers)
{
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, bufio_stress_main, NULL, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}
