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
 * the call. Both are capped at CORIO_FS_CHUNK per call.
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

int corio_file_open(const char *path, int flags, mode_t mode, corio_file **out)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return -EINVAL;
    int ctx = fs_context();
    if (ctx < 0)
        return ctx;
    fs_op local, *op = &local;
    if (ctx == FS_PLAIN) {
        fs_op_init(op);
        op->path = path;
    } else {
        size_t l = strlen(path);
        if (!(op = fs_op_new(l + 1)))
            return -ENOMEM;
        size_t at = 0;
        op->path = fs_op_copy_str(op, &at, path, l);
    }
    op->flags = flags;
    op->mode = mode;
    op->run = run_open;
    int rc = fs_op_exec(op);
    if (rc == 0 && (rc = (int)op->rc) == 0) {
        corio_file *f = malloc(sizeof *f);
        if (!f) {
            rc = -ENOMEM; /* the request's free closes the fd */
        } else {
            atomic_init(&f->refs, 1);
            f->fd = op->fd;
            fs_turns_init(&f->turns);
            op->fd = -1; /* taken */
            *out = f;
        }
    }
    fs_op_unref(op);
    return rc;
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

static ssize_t file_read(corio_file *f, void *buf, size_t len, int positional, off_t off)
{
    if (!f || (!buf && len) || off < 0)
        return -EINVAL;
    int ctx = fs_context();
    if (ctx < 0)
        return ctx;
    if (len == 0)
        return 0;
    if (ctx == FS_TASK && len > CORIO_FS_CHUNK)
        len = CORIO_FS_CHUNK;
    fs_op local, *op = file_op(ctx, &local, f, ctx == FS_TASK ? len : 0);
    if (!op)
        return -ENOMEM;
    op->dst = op->heap ? (void *)op->mem : buf;
    op->len = len;
    op->flags = positional;
    op->off = off;
    op->run = run_read;
    ssize_t rc = fs_op_exec(op);
    if (rc == 0) {
        rc = op->rc;
        /* Only now, the job done and the caller still here. */
        if (rc > 0 && op->heap)
            memcpy(buf, op->mem, (size_t)rc);
    }
    fs_op_unref(op);
    return rc;
}

static ssize_t file_write(corio_file *f, const void *buf, size_t len, int positional, off_t off)
{
    if (!f || (!buf && len) || off < 0)
        return -EINVAL;
    int ctx = fs_context();
    if (ctx < 0)
        return ctx;
    if (len == 0)
        return 0;
    if (ctx == FS_TASK && len > CORIO_FS_CHUNK)
        len = CORIO_FS_CHUNK;
    fs_op local, *op = file_op(ctx, &local, f, ctx == FS_TASK ? len : 0);
    if (!op)
        return -ENOMEM;
    if (op->heap) {
        memcpy(op->mem, buf, len);
        op->src = op->mem;
    } else {
        op->src = buf;
    }
    op->len = len;
    op->flags = positional;
    op->off = off;
    op->run = run_write;
    ssize_t rc = fs_op_exec(op);
    if (rc == 0)
        rc = op->rc;
    fs_op_unref(op);
    return rc;
}

ssize_t corio_file_read(corio_file *f, void *buf, size_t len)
{
    return file_read(f, buf, len, 0, 0);
}

ssize_t corio_file_pread(corio_file *f, void *buf, size_t len, off_t offset)
{
    return file_read(f, buf, len, 1, offset);
}

ssize_t corio_file_write(corio_file *f, const void *buf, size_t len)
{
    return file_write(f, buf, len, 0, 0);
}

ssize_t corio_file_pwrite(corio_file *f, const void *buf, size_t len, off_t offset)
{
    return file_write(f, buf, len, 1, offset);
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

int corio_file_seek(corio_file *f, off_t offset, int whence, off_t *pos)
{
    if (!f)
        return -EINVAL;
    int ctx = fs_context();
    if (ctx < 0)
        return ctx;
    fs_op local, *op = file_op(ctx, &local, f, 0);
    if (!op)
        return -ENOMEM;
    op->off = offset;
    op->flags = whence;
    op->run = run_seek;
    int rc = fs_op_exec(op);
    if (rc == 0 && (rc = (int)op->rc) == 0 && pos)
        *pos = op->off;
    fs_op_unref(op);
    return rc;
}

static void run_sync(fs_op *op)
{
    op->rc = fsync(op->fd_in) < 0 ? -errno : 0;
}

static void run_fstat(fs_op *op)
{
    op->rc = fstat(op->fd_in, &op->st) < 0 ? -errno : 0;
}

static int file_call(corio_file *f, void (*run)(fs_op *), struct stat *st)
{
    if (!f)
        return -EINVAL;
    int ctx = fs_context();
    if (ctx < 0)
        return ctx;
    fs_op local, *op = file_op(ctx, &local, f, 0);
    if (!op)
        return -ENOMEM;
    op->run = run;
    int rc = fs_op_exec(op);
    if (rc == 0 && (rc = (int)op->rc) == 0 && st)
        *st = op->st;
    fs_op_unref(op);
    return rc;
}

int corio_file_sync(corio_file *f)
{
    return file_call(f, run_sync, NULL);
}

int corio_file_metadata(corio_file *f, struct stat *st)
{
    return st ? file_call(f, run_fstat, st) : -EINVAL;
}
