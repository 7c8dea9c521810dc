/* io/copy.c - corio_fd_copy and corio_fd_copy_bidirectional (corio/io.h).
 *
 * A future with one or two directions, each a small state machine over the
 * fd engine (io/fd.h: fd_io_poll): READ into the direction's buffer, WRITE
 * it out (as many writes as it takes), READ again, until a read returns end
 * of file: DONE (the bidirectional form first shuts down the write half of
 * the other fd). Each direction waits on its own two waiters (read on
 * `from`, write on `to`), so both directions wait at once and a wake of
 * either polls the future, which moves whichever can move.
 *
 * Budget: a direction moves at most COPY_ROUNDS buffers a poll; then the
 * future wakes itself and returns PENDING, so that two fds that are always
 * ready (a fast local peer) do not keep the task, and its worker, for
 * ever.
 *
 * Ownership: the buffers come at the first poll and go at the last one
 * (READY) or at the drop; so do the waiters (fd_io_poll leaves a waiter
 * unqueued when it returns READY; io_waiter_drop takes care of the others).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "corio/error.h"
#include "io/fd.h"

#define COPY_ROUNDS 16

enum { DIR_READ = 0, DIR_WRITE, DIR_DONE };

/* What one direction's poll came to. */
enum { STEP_PENDING, STEP_DONE, STEP_YIELD, STEP_ERROR };

/* The write half of `to` is done with: shut it down if it is a socket, so
 * that its peer reads end of file. 0, or shutdown's error (a peer already
 * gone is no error: nobody is left to tell). */
static int shut_write(corio_fd *to)
{
    if (!(to->flags & FD_SOCK))
        return 0;
    if (shutdown(to->reg.fd, SHUT_WR) == 0 || errno == ENOTCONN)
        return 0;
    return -errno;
}

static int dir_poll(corio_copy_dir_ *d, corio_context *cx, bool shut, uint64_t *count,
                    int *err)
{
    for (unsigned rounds = 0; d->state_ != DIR_DONE;) {
        ssize_t n;
        if (d->state_ == DIR_READ) {
            if (rounds == COPY_ROUNDS)
                return STEP_YIELD;
            io_buf a = {d->buf_, CORIO_COPY_BUF};
            if (fd_io_poll(d->from_, IO_READ_BITS, &d->rw_, cx, fd_reader(d->from_), &a, &n) ==
                CORIO_PENDING)
                return STEP_PENDING;
            if (n < 0) {
                *err = (int)n;
                return STEP_ERROR;
            }
            if (n == 0) {
                d->state_ = DIR_DONE;
                if (shut && (*err = shut_write(d->to_)) < 0)
                    return STEP_ERROR;
                break;
            }
            d->pos_ = 0;
            d->end_ = (size_t)n;
            d->state_ = DIR_WRITE;
            rounds++;
        }
        io_buf a = {d->buf_ + d->pos_, d->end_ - d->pos_};
        if (fd_io_poll(d->to_, IO_WRITE_BITS, &d->ww_, cx, fd_writer(d->to_), &a, &n) ==
            CORIO_PENDING)
            return STEP_PENDING;
        if (n <= 0) {
            *err = n < 0 ? (int)n : -EIO; /* a write that took nothing */
            return STEP_ERROR;
        }
        d->pos_ += (size_t)n;
        *count += (uint64_t)n;
        if (d->pos_ == d->end_)
            d->state_ = DIR_READ;
    }
    return STEP_DONE;
}

/* Everything the future holds goes back: waiters, buffers. */
static void copy_release(corio_fd_copy_fut *f)
{
    for (unsigned i = 0; i < f->ndirs_; i++) {
        corio_copy_dir_ *d = &f->dir_[i];
        if (d->from_)
            io_waiter_drop(&d->from_->reg, &d->rw_);
        if (d->to_)
            io_waiter_drop(&d->to_->reg, &d->ww_);
        free(d->buf_);
        d->buf_ = NULL;
    }
}

static corio_poll copy_finish(corio_fd_copy_fut *f, int result)
{
    copy_release(f);
    f->base.result = result;
    return CORIO_READY;
}

static corio_poll copy_poll(corio_future *base, corio_context *cx)
{
    corio_fd_copy_fut *f = (corio_fd_copy_fut *)base;
    for (unsigned i = 0; i < f->ndirs_; i++) {
        corio_copy_dir_ *d = &f->dir_[i];
        if (!d->from_ || !d->to_)
            return copy_finish(f, -EINVAL);
        if (!d->buf_ && d->state_ != DIR_DONE && !(d->buf_ = malloc(CORIO_COPY_BUF)))
            return copy_finish(f, -ENOMEM);
    }
    bool all_done = true, yield = false;
    for (unsigned i = 0; i < f->ndirs_; i++) {
        corio_copy_dir_ *d = &f->dir_[i];
        if (d->state_ == DIR_DONE)
            continue;
        int err = 0;
        switch (dir_poll(d, cx, f->ndirs_ == 2, i == 0 ? &f->a_to_b : &f->b_to_a, &err)) {
        case STEP_ERROR:
            return copy_finish(f, err);
        case STEP_DONE:
            free(d->buf_); /* this way is over: its buffer is not needed */
            d->buf_ = NULL;
            break;
        case STEP_YIELD:
            yield = true;
            all_done = false;
            break;
        default:
            all_done = false;
        }
    }
    if (all_done)
        return copy_finish(f, 0);
    if (yield)
        corio_waker_wake_by_ref(cx->waker);
    return CORIO_PENDING;
}

static void copy_drop(corio_future *base)
{
    copy_release((corio_fd_copy_fut *)base);
}

static const corio_future_vtable copy_vt = {copy_poll, copy_drop};

static void copy_init(corio_fd_copy_fut *f, unsigned ndirs, corio_fd *a, corio_fd *b)
{
    *f = (corio_fd_copy_fut){.ndirs_ = ndirs};
    f->dir_[0].from_ = a;
    f->dir_[0].to_ = b;
    f->dir_[1].from_ = b;
    f->dir_[1].to_ = a;
    corio_future_init(&f->base, &copy_vt);
}

void corio_fd_copy_fut_init(corio_fd_copy_fut *fut, corio_fd *from, corio_fd *to)
{
    if (fut)
        copy_init(fut, 1, from, to);
}

void corio_fd_copy_bidirectional_fut_init(corio_fd_copy_fut *fut, corio_fd *a, corio_fd *b)
{
    if (fut)
        copy_init(fut, 2, a, b);
}

int corio_fd_copy(corio_fd *from, corio_fd *to, uint64_t *copied)
{
    corio_fd_copy_fut f;
    copy_init(&f, 1, from, to);
    int rc = corio_await(&f.base);
    if (copied)
        *copied = f.a_to_b;
    return rc ? rc : f.base.result;
}

int corio_fd_copy_bidirectional(corio_fd *a, corio_fd *b, uint64_t *a_to_b, uint64_t *b_to_a)
{
    corio_fd_copy_fut f;
    copy_init(&f, 2, a, b);
    int rc = corio_await(&f.base);
    if (a_to_b)
        *a_to_b = f.a_to_b;
    if (b_to_a)
        *b_to_a = f.b_to_a;
    return rc ? rc : f.base.result;
}
