/* net/bufio.c - buffered reader and writer over a corio_fd (corio/bufio.h).
 *
 * Built on corio_fd_read and corio_fd_write only, whose interrupted calls
 * move no byte: so the reader's and the writer's own state is the whole
 * truth about what was consumed or sent, and keeping that state exact at
 * every return is what makes each call cancel safe.
 *
 * Reader: buf_[pos_, end_) is data read and not consumed. read_delim keeps
 * a partial line there across calls (interrupted ones included) and
 * remembers in scan_ how much of it it has already searched for that
 * delimiter, so a long line arriving in many small reads is scanned once.
 * The buffer is compacted (moved to the front) only when the data reaches
 * its end, and grows only while one line needs more room than it has.
 *
 * Writer: buf_[pos_, end_) is data taken and not yet written; a flush
 * advances pos_ as the fd takes bytes, so an interrupted flush leaves
 * exactly the unwritten rest. A write straight to the fd that stops after
 * some bytes must return their count, so the code that stopped it waits in
 * err_ for the next call: without that, a next write small enough for the
 * buffer would succeed and the caller would never learn why the count was
 * short.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "corio/bufio.h"

/* ---- reader ----------------------------------------------------------------------- */

int corio_bufreader_init(corio_bufreader *r, corio_fd *fd, size_t cap)
{
    if (!r || !fd)
        return -EINVAL;
    if (cap == 0)
        cap = CORIO_BUFIO_DEFAULT_CAP;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    *r = (corio_bufreader){.fd_ = fd, .buf_ = buf, .cap_ = cap, .scan_delim_ = -1};
    return 0;
}

void corio_bufreader_drop(corio_bufreader *r)
{
    if (!r)
        return;
    free(r->buf_);
    *r = (corio_bufreader){.scan_delim_ = -1};
}

size_t corio_bufreader_buffered(const corio_bufreader *r)
{
    return r ? r->end_ - r->pos_ : 0;
}

/* Consume n buffered bytes. */
static void consume(corio_bufreader *r, size_t n)
{
    r->pos_ += n;
    r->scan_ = r->scan_ > n ? r->scan_ - n : 0;
    if (r->pos_ == r->end_)
        r->pos_ = r->end_ = 0; /* empty: the whole buffer is room again */
}

ssize_t corio_bufreader_read(corio_bufreader *r, void *buf, size_t len)
{
    if (!r || !r->buf_ || (!buf && len))
        return -EINVAL;
    if (len == 0)
        return 0;
    size_t avail = r->end_ - r->pos_;
    if (avail == 0) {
        if (len >= r->cap_) /* a big read gains nothing from a copy */
            return corio_fd_read(r->fd_, buf, len);
        ssize_t n = corio_fd_read(r->fd_, r->buf_, r->cap_);
        if (n <= 0)
            return n; /* end of stream, or an error: nothing consumed */
        r->pos_ = 0;
        r->end_ = (size_t)n;
        avail = (size_t)n;
    }
    size_t k = avail < len ? avail : len;
    memcpy(buf, r->buf_ + r->pos_, k);
    consume(r, k);
    return (ssize_t)k;
}

/* Hand the first n buffered bytes to the caller as a line. */
static ssize_t take_line(corio_bufreader *r, char *out, size_t n)
{
    memcpy(out, r->buf_ + r->pos_, n);
    out[n] = '\0';
    consume(r, n);
    return (ssize_t)n;
}

ssize_t corio_bufreader_read_delim(corio_bufreader *r, int delim, char *out, size_t size)
{
    if (!r || !r->buf_ || !out || size < 2)
        return -EINVAL;
    int d = (unsigned char)delim;
    size_t max = size - 1; /* the longest line that fits, delimiter included */
    if (r->scan_delim_ != d) {
        r->scan_delim_ = d;
        r->scan_ = 0;
    }
    for (;;) {
        size_t avail = r->end_ - r->pos_;
        size_t lim = avail < max ? avail : max;
        if (r->scan_ < lim) {
            const char *from = r->buf_ + r->pos_;
            const char *p = memchr(from + r->scan_, d, lim - r->scan_);
            if (p)
                return take_line(r, out, (size_t)(p - from) + 1);
            r->scan_ = lim;
        }
        if (avail >= max) {
            take_line(r, out, max);
            return -EMSGSIZE;
        }
        if (r->end_ == r->cap_) { /* no room after the data: make some */
            if (r->pos_ > 0) {
                memmove(r->buf_, r->buf_ + r->pos_, avail);
                r->pos_ = 0;
                r->end_ = avail;
            } else { /* the partial line fills the buffer: grow, up to max */
                size_t cap = r->cap_ <= max / 2 ? r->cap_ * 2 : max;
                char *b = realloc(r->buf_, cap);
                if (!b)
                    return -ENOMEM;
                r->buf_ = b;
                r->cap_ = cap;
            }
        }
        ssize_t n = corio_fd_read(r->fd_, r->buf_ + r->end_, r->cap_ - r->end_);
        if (n < 0)
            return n; /* interrupted or failed: the partial line stays */
        if (n == 0) /* end of stream: the last piece, then 0 */
            return avail ? take_line(r, out, avail) : 0;
        r->end_ += (size_t)n;
    }
}

ssize_t corio_bufreader_read_line(corio_bufreader *r, char *out, size_t size)
{
    return corio_bufreader_read_delim(r, '\n', out, size);
}

/* ---- writer ------------------------------------------------------------------------- */

int corio_bufwriter_init(corio_bufwriter *w, corio_fd *fd, size_t cap)
{
    if (!w || !fd)
        return -EINVAL;
    if (cap == 0)
        cap = CORIO_BUFIO_DEFAULT_CAP;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    *w = (corio_bufwriter){.fd_ = fd, .buf_ = buf, .cap_ = cap};
    return 0;
}

void corio_bufwriter_drop(corio_bufwriter *w)
{
    if (!w)
        return;
    free(w->buf_);
    *w = (corio_bufwriter){0};
}

size_t corio_bufwriter_buffered(const corio_bufwriter *w)
{
    return w ? w->end_ - w->pos_ : 0;
}

static int flush_buf(corio_bufwriter *w)
{
    while (w->pos_ < w->end_) {
        ssize_t n = corio_fd_write(w->fd_, w->buf_ + w->pos_, w->end_ - w->pos_);
        if (n < 0)
            return (int)n; /* the rest stays buffered */
        w->pos_ += (size_t)n;
    }
    w->pos_ = w->end_ = 0;
    return 0;
}

/* The code a write cut short left for this call (0: none), given once. */
static int take_err(corio_bufwriter *w)
{
    int e = w->err_;
    w->err_ = 0;
    return e;
}

ssize_t corio_bufwriter_write(corio_bufwriter *w, const void *buf, size_t len)
{
    if (!w || !w->buf_ || (!buf && len))
        return -EINVAL;
    int owed = take_err(w);
    if (owed < 0)
        return owed; /* nothing taken */
    if (len == 0)
        return 0;
    if (len <= w->cap_ - w->end_) {
        memcpy(w->buf_ + w->end_, buf, len);
        w->end_ += len;
        return (ssize_t)len;
    }
    int rc = flush_buf(w);
    if (rc < 0)
        return rc; /* none of buf taken */
    if (len < w->cap_) {
        memcpy(w->buf_, buf, len);
        w->end_ = len;
        return (ssize_t)len;
    }
    const char *p = buf; /* at least a buffer-full: straight to the fd */
    size_t done = 0;
    while (done < len) {
        ssize_t n = corio_fd_write(w->fd_, p + done, len - done);
        if (n < 0) {
            if (!done)
                return n;
            w->err_ = (int)n; /* for the next call */
            return (ssize_t)done;
        }
        done += (size_t)n;
    }
    return (ssize_t)len;
}

int corio_bufwriter_flush(corio_bufwriter *w)
{
    if (!w || !w->buf_)
        return -EINVAL;
    int owed = take_err(w);
    return owed < 0 ? owed : flush_buf(w);
}
