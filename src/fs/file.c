/* fs/file.c - an open file (corio_file, corio/fs.h).
 *
 * A corio_file is an fd with a reference count and turns (fs/op.h): the
 * caller's reference, and one for each task's request that may still be
 * running, so that an fd is never closed - and its number never reused by
 * another open - while a job interrupted by its caller may still make a
 * system call on it. The last reference closes the fd. Requests on one
 * file run one at a time, in the order they were made.
 *
 * A task's read goes into the request's own buffer and is copied out only
 * once the join said the job is done: an interrupted caller's buffer is
 * never written after it returned. A task's write goes from a copy made at
 * the call. Both are capped at CORIO_FS_CHUNK per call. Each call is
 * described once, as a future (fs/op.h's fs_call), which the blocking call
 * runs on its own stack.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/op.h"

struct corio_file {
    _Atomic int refs; /* the caller's, and each task request's */
    int fd;
    fs_turns turns;
};

static int file_unref(corio_file *f)
{
    /* AcqRel: the last one sees every request's system calls done. */
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return 0;
    int rc = close(f->fd) < 0 && errno != EINTR ? -errno : 0;
    fs_turns_destroy(&f->turns);
    free(f);
    return rc;
}

static void release_file(fs_op *op)
{
    (void)file_unref(op->owner);
}

/* A request on `f`: on the caller's stack in plain code (the caller holds
 * the file meanwhile), else on the heap with `extra` bytes of mem and a
 * reference to the file. NULL: out of memory. */
static fs_op *file_op(int ctx, fs_op *local, corio_file *f, size_t extra)
{
    fs_op *op = local;
    if (ctx == FS_PLAIN) {
        fs_op_init(local);
    } else {
        if (!(op = fs_op_new(extra)))
            return NULL;
        /* Relaxed: the caller holds a reference, so the count is not 0. */
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
        op->owner = f;
        op->release = release_file;
    }
    op->fd_in = f->fd;
    op->turns = &f->turns;
    return op;
}

/* ---- opening and closing --------------------------------------------------------- */

static void run_open(fs_op *op)
{
    int fd = open(op->path, op->flags | O_CLOEXEC, op->mode);
    op->fd = fd;
    op->rc = fd < 0 ? -errno : 0;
}

static int make_open(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out)
{
    fs_op *op = local;
    if (ctx == FS_PLAIN) {
        fs_op_init(op);
        op->path = f->path_;
    } else {
        size_t l = strlen(f->path_);
        if (!(op = fs_op_new(l + 1)))
            return -ENOMEM;
        size_t at = 0;
        op->path = fs_op_copy_str(op, &at, f->path_, l);
    }
    op->flags = f->flags_;
    op->mode = f->mode_;
    op->run = run_open;
    *out = op;
    return 0;
}

static ssize_t take_open(corio_fs_fut *f, fs_op *op)
{
    if (op->rc < 0)
        return op->rc;
    corio_file *file = malloc(sizeof *file);
    if (!file)
        return -ENOMEM; /* the request's free closes the fd */
    atomic_init(&file->refs, 1);
    file->fd = op->fd;
    fs_turns_init(&file->turns);
    op->fd = -1; /* taken */
    *(corio_file **)f->out_ = file;
    return 0;
}

static void clear_file(corio_fs_fut *f)
{
    if (f->out_)
        *(corio_file **)f->out_ = NULL;
}

static const fs_call open_call = {make_open, take_open, clear_file, false};

void corio_file_open_fut_init(corio_fs_fut *f, const char *path, int flags, mode_t mode,
                              corio_file **out)
{
    if (fs_fut_init(f, &open_call, path && out)) {
        f->path_ = path;
        f->flags_ = flags;
        f->mode_ = mode;
        f->out_ = out;
    }
}

int corio_file_open(const char *path, int flags, mode_t mode, corio_file **out)
{
    corio_fs_fut f;
    corio_file_open_fut_init(&f, path, flags, mode, out);
    return (int)fs_call_run(&f);
}

int corio_file_close(corio_file *f)
{
    return f ? file_unref(f) : 0;
}

int corio_file_raw(const corio_file *f)
{
    return f ? f->fd : -1;
}

/* ---- reading and writing ------------------------------------------------------------ */

/* op->flags: 1 for a positional call (pread, pwrite) at op->off. */
static void run_read(fs_op *op)
{
    ssize_t n;
    do
        n = op->flags ? pread(op->fd_in, op->dst, op->len, op->off)
                      : read(op->fd_in, op->dst, op->len);
    while (n < 0 && errno == EINTR);
    op->rc = n < 0 ? -errno : n;
}

static void run_write(fs_op *op)
{
    ssize_t n;
    do
        n = op->flags ? pwrite(op->fd_in, op->src, op->len, op->off)
                      : write(op->fd_in, op->src, op->len);
    while (n < 0 && errno == EINTR);
    op->rc = n < 0 ? -errno : n;
}

/* A read or write request of the future's: `len_ - done` bytes at
 * `buf_ + done` (write_all's rest; done is 0 for the others), capped at
 * CORIO_FS_CHUNK in a task; 1 (nothing to do) for none. */
static int make_rw(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out, int write)
{
    size_t len = f->len_ - f->done;
    if (len == 0)
        return 1;
    if (ctx == FS_TASK && len > CORIO_FS_CHUNK)
        len = CORIO_FS_CHUNK;
    fs_op *op = file_op(ctx, local, f->file_, ctx == FS_TASK ? len : 0);
    if (!op)
        return -ENOMEM;
    char *buf = (char *)f->buf_ + f->done;
    if (!write) {
        op->dst = op->heap ? (void *)op->mem : buf;
        op->run = run_read;
    } else {
        if (op->heap)
            memcpy(op->mem, buf, len); /* the job writes from its own copy */
        op->src = op->heap ? (const void *)op->mem : buf;
        op->run = run_write;
    }
    op->len = len;
    op->flags = f->flags_;
    op->off = f->off_;
    *out = op;
    return 0;
}

static int make_read(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out)
{
    return make_rw(f, ctx, local, out, 0);
}

static int make_write(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out)
{
    return make_rw(f, ctx, local, out, 1);
}

static ssize_t take_read(corio_fs_fut *f, fs_op *op)
{
    /* Only now, the job done and the caller still here. */
    if (op->rc > 0 && op->heap)
        memcpy(f->buf_, op->mem, (size_t)op->rc);
    return op->rc;
}

static const fs_call read_call = {make_read, take_read, NULL, false};
static const fs_call write_call = {make_write, fs_take_rc, NULL, false};
static const fs_call write_all_call = {make_write, fs_take_rc, NULL, true};

/* op->flags: 1 for a positional call (pread, pwrite) at op->off. */
static void rw_init(corio_fs_fut *f, const fs_call *c, corio_file *file, const void *buf,
                    size_t len, int positional, off_t off)
{
    if (fs_fut_init(f, c, file && (buf || !len) && off >= 0)) {
        f->file_ = file;
        f->buf_ = (void *)buf;
        f->len_ = len;
        f->flags_ = positional;
        f->off_ = off;
    }
}

void corio_file_read_fut_init(corio_fs_fut *f, corio_file *file, void *buf, size_t len)
{
    rw_init(f, &read_call, file, buf, len, 0, 0);
}

void corio_file_pread_fut_init(corio_fs_fut *f, corio_file *file, void *buf, size_t len,
                               off_t offset)
{
    rw_init(f, &read_call, file, buf, len, 1, offset);
}

void corio_file_write_fut_init(corio_fs_fut *f, corio_file *file, const void *buf, size_t len)
{
    rw_init(f, &write_call, file, buf, len, 0, 0);
}

void corio_file_pwrite_fut_init(corio_fs_fut *f, corio_file *file, const void *buf, size_t len,
                                off_t offset)
{
    rw_init(f, &write_call, file, buf, len, 1, offset);
}

void corio_file_write_all_fut_init(corio_fs_fut *f, corio_file *file, const void *buf,
                                   size_t len)
{
    rw_init(f, &write_all_call, file, buf, len, 0, 0);
}

ssize_t corio_file_read(corio_file *f, void *buf, size_t len)
{
    corio_fs_fut fut;
    corio_file_read_fut_init(&fut, f, buf, len);
    return fs_call_run(&fut);
}

ssize_t corio_file_pread(corio_file *f, void *buf, size_t len, off_t offset)
{
    corio_fs_fut fut;
    corio_file_pread_fut_init(&fut, f, buf, len, offset);
    return fs_call_run(&fut);
}

ssize_t corio_file_write(corio_file *f, const void *buf, size_t len)
{
    corio_fs_fut fut;
    corio_file_write_fut_init(&fut, f, buf, len);
    return fs_call_run(&fut);
}

ssize_t corio_file_pwrite(corio_file *f, const void *buf, size_t len, off_t offset)
{
    corio_fs_fut fut;
    corio_file_pwrite_fut_init(&fut, f, buf, len, offset);
    return fs_call_run(&fut);
}

int corio_file_write_all(corio_file *f, const void *buf, size_t len)
{
    if (!f || (!buf && len))
        return -EINVAL;
    const char *p = buf;
    while (len > 0) {
        ssize_t n = corio_file_write(f, p, len);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EIO; /* write(2) took nothing of a regular file: never loop */
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- seek, sync, metadata -------------------------------------------------------------- */

static void run_seek(fs_op *op)
{
    off_t pos = lseek(op->fd_in, op->off, op->flags);
    op->rc = pos < 0 ? -errno : 0;
    op->off = pos;
}

static int make_file_op(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out,
                        void (*run)(fs_op *))
{
    fs_op *op = file_op(ctx, local, f->file_, 0);
    if (!op)
        return -ENOMEM;
    op->off = f->off_;
    op->flags = f->flags_;
    op->run = run;
    *out = op;
    return 0;
}

static int make_seek(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out)
{
    return make_file_op(f, ctx, local, out, run_seek);
}

static ssize_t take_seek(corio_fs_fut *f, fs_op *op)
{
    if (op->rc == 0 && f->out_)
        *(off_t *)f->out_ = op->off;
    return op->rc;
}

static const fs_call seek_call = {make_seek, take_seek, NULL, false};

void corio_file_seek_fut_init(corio_fs_fut *f, corio_file *file, off_t offset, int whence,
                              off_t *pos)
{
    if (fs_fut_init(f, &seek_call, file != NULL)) {
        f->file_ = file;
        f->off_ = offset;
        f->flags_ = whence;
        f->out_ = pos;
    }
}

int corio_file_seek(corio_file *f, off_t offset, int whence, off_t *pos)
{
    corio_fs_fut fut;
    corio_file_seek_fut_init(&fut, f, offset, whence, pos);
    return (int)fs_call_run(&fut);
}

static void run_sync(fs_op *op)
{
    op->rc = fsync(op->fd_in) < 0 ? -errno : 0;
}

static void run_fstat(fs_op *op)
{
    op->rc = fstat(op->fd_in, &op->st) < 0 ? -errno : 0;
}

static int make_sync(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out)
{
    return make_file_op(f, ctx, local, out, run_sync);
}

static int make_fstat(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out)
{
    return make_file_op(f, ctx, local, out, run_fstat);
}

static ssize_t take_fstat(corio_fs_fut *f, fs_op *op)
{
    if (op->rc == 0)
        *(struct stat *)f->out_ = op->st;
    return op->rc;
}

static const fs_call sync_call = {make_sync, fs_take_rc, NULL, false};
static const fs_call fstat_call = {make_fstat, take_fstat, NULL, false};

void corio_file_sync_fut_init(corio_fs_fut *f, corio_file *file)
{
    if (fs_fut_init(f, &sync_call, file != NULL))
        f->file_ = file;
}

void corio_file_metadata_fut_init(corio_fs_fut *f, corio_file *file, struct stat *st)
{
    if (fs_fut_init(f, &fstat_call, file && st)) {
        f->file_ = file;
        f->out_ = st;
    }
}

int corio_file_sync(corio_file *f)
{
    corio_fs_fut fut;
    corio_file_sync_fut_init(&fut, f);
    return (int)fs_call_run(&fut);
}

int corio_file_metadata(corio_file *f, struct stat *st)
{
    corio_fs_fut fut;
    corio_file_metadata_fut_init(&fut, f, st);
    return (int)fs_call_run(&fut);
}
