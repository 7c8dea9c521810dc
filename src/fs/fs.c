/* fs/fs.c - whole files, paths and directory listings (corio/fs.h).
 *
 * Each call is one request (fs/op.h): its `run` makes the system calls, on
 * a pool thread for a task or right here in plain code. A call is described
 * once, as a future (an fs_call: how to make its request and take its
 * results); the blocking call runs that description on its own stack. A task's request
 * carries copies of the paths (and of the data to write) in its own memory,
 * so the caller's may go as soon as the call returns; results the caller
 * never took (a file's buffer, a listing) are freed with the request.
 * errno is read only inside `run`, right after the call that set it, on a
 * thread that does not switch coroutines.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/op.h"

/* A request for a call on paths: the caller's own strings in plain code,
 * copies after `extra` bytes of mem in a task. NULL: out of memory. */
static fs_op *path_op(int ctx, fs_op *local, const char *path, const char *path2, size_t extra)
{
    if (ctx == FS_PLAIN) {
        fs_op_init(local);
        local->path = path;
        local->path2 = path2;
        return local;
    }
    size_t l1 = strlen(path), l2 = path2 ? strlen(path2) : 0;
    size_t strs = l1 + 1 + (path2 ? l2 + 1 : 0);
    if (extra > SIZE_MAX - strs)
        return NULL;
    fs_op *op = fs_op_new(extra + strs);
    if (!op)
        return NULL;
    size_t at = extra;
    op->path = fs_op_copy_str(op, &at, path, l1);
    if (path2)
        op->path2 = fs_op_copy_str(op, &at, path2, l2);
    return op;
}

/* The request of a call on the future's paths (extra: 0). */
static int make_path_op(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out, void (*run)(fs_op *))
{
    fs_op *op = path_op(ctx, local, f->path_, f->path2_, 0);
    if (!op)
        return -ENOMEM;
    op->run = run;
    op->mode = f->mode_;
    *out = op;
    return 0;
}

/* ---- reading a whole file ----------------------------------------------------- */

static void run_read_file(fs_op *op)
{
    int fd = open(op->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        op->rc = -errno;
        return;
    }
    /* Room for the size stat says and the NUL: the read that finds the end
     * of the file then needs no more room. Files that do not say (/proc,
     * a FIFO) start at 8 KiB and double. */
    struct stat st;
    size_t cap = 8192;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (unsigned long long)st.st_size < SIZE_MAX / 2)
        cap = (size_t)st.st_size + 1;
    char *buf = malloc(cap);
    size_t n = 0;
    int rc = buf ? 0 : -ENOMEM;
    while (rc == 0) {
        if (n == cap) { /* it grew, or never said: more room */
            if (cap > SIZE_MAX / 2) {
                rc = -EFBIG;
                break;
            }
            char *b = realloc(buf, cap * 2);
            if (!b) {
                rc = -ENOMEM;
                break;
            }
            buf = b;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno != EINTR)
            rc = -errno;
        else if (r == 0)
            break;
        else if (r > 0)
            n += (size_t)r;
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        op->rc = rc;
        return;
    }
    buf[n] = '\0'; /* n < cap: the loop only reads with room left */
    if (cap - n > 4096) { /* doubled past a file that did not say its size */
        char *b = realloc(buf, n + 1);
        if (b)
            buf = b;
    }
    op->data = buf;
    op->n = n;
    op->rc = 0;
}

static int make_read_file(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out)
{
    return make_path_op(f, ctx, local, out, run_read_file);
}

static ssize_t take_read_file(corio_fs_fut *f, fs_op *op)
{
    if (op->rc == 0) {
        *(char **)f->out_ = op->data; /* taken: the request's free leaves it */
        *(size_t *)f->out2_ = op->n;
        op->data = NULL;
    }
    return op->rc;
}

static void clear_buf_len(corio_fs_fut *f)
{
    if (f->out_)
        *(char **)f->out_ = NULL;
    if (f->out2_)
        *(size_t *)f->out2_ = 0;
}

static const fs_call read_file_call = {make_read_file, take_read_file, clear_buf_len, false};

void corio_fs_read_file_fut_init(corio_fs_fut *f, const char *path, char **buf, size_t *len)
{
    if (fs_fut_init(f, &read_file_call, path && buf && len)) {
        f->path_ = path;
        f->out_ = buf;
        f->out2_ = len;
    }
}

int corio_fs_read_file(const char *path, char **buf, size_t *len)
{
    corio_fs_fut f;
    corio_fs_read_file_fut_init(&f, path, buf, len);
    return (int)fs_call_run(&f);
}

/* ---- writing a whole file ------------------------------------------------------- */

static void run_write_file(fs_op *op)
{
    int fd = open(op->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        op->rc = -errno;
        return;
    }
    const char *p = op->src;
    size_t left = op->len;
    int rc = 0;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (w == 0) {
            rc = -EIO; /* took nothing (some sysfs files do): never loop, as file.c's write_all */
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (close(fd) < 0 && errno != EINTR && rc == 0)
        rc = -errno; /* NFS reports a failed write-back here */
    op->rc = rc;
}

static int make_write_file(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out)
{
    /* A task's job writes from its own copy: the caller may free buf as
     * soon as the call returns, interrupted or not. */
    fs_op *op = path_op(ctx, local, f->path_, NULL, ctx == FS_TASK ? f->len_ : 0);
    if (!op)
        return -ENOMEM;
    if (op->heap) {
        if (f->len_)
            memcpy(op->mem, f->buf_, f->len_);
        op->src = op->mem;
    } else {
        op->src = f->buf_;
    }
    op->len = f->len_;
    op->run = run_write_file;
    *out = op;
    return 0;
}

static const fs_call write_file_call = {make_write_file, fs_take_rc, NULL, false};

void corio_fs_write_file_fut_init(corio_fs_fut *f, const char *path, const void *buf, size_t len)
{
    if (fs_fut_init(f, &write_file_call, path && (buf || !len))) {
        f->path_ = path;
        f->buf_ = (void *)buf;
        f->len_ = len;
    }
}

int corio_fs_write_file(const char *path, const void *buf, size_t len)
{
    corio_fs_fut f;
    corio_fs_write_file_fut_init(&f, path, buf, len);
    return (int)fs_call_run(&f);
}

/* ---- metadata and changes --------------------------------------------------------- */

static void run_stat(fs_op *op)
{
    op->rc = stat(op->path, &op->st) < 0 ? -errno : 0;
}

static int make_stat(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out)
{
    return make_path_op(f, ctx, local, out, run_stat);
}

static ssize_t take_stat(corio_fs_fut *f, fs_op *op)
{
    if (op->rc == 0)
        *(struct stat *)f->out_ = op->st;
    return op->rc;
}

static const fs_call stat_call = {make_stat, take_stat, NULL, false};

void corio_fs_metadata_fut_init(corio_fs_fut *f, const char *path, struct stat *st)
{
    if (fs_fut_init(f, &stat_call, path && st)) {
        f->path_ = path;
        f->out_ = st;
    }
}

int corio_fs_metadata(const char *path, struct stat *st)
{
    corio_fs_fut f;
    corio_fs_metadata_fut_init(&f, path, st);
    return (int)fs_call_run(&f);
}

static void run_remove(fs_op *op)
{
    /* remove(3): unlink, and rmdir for a directory */
    op->rc = remove(op->path) < 0 ? -errno : 0;
}

static int make_remove(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out)
{
    return make_path_op(f, ctx, local, out, run_remove);
}

static const fs_call remove_call = {make_remove, fs_take_rc, NULL, false};

void corio_fs_remove_fut_init(corio_fs_fut *f, const char *path)
{
    if (fs_fut_init(f, &remove_call, path != NULL))
        f->path_ = path;
}

int corio_fs_remove(const char *path)
{
    corio_fs_fut f;
    corio_fs_remove_fut_init(&f, path);
    return (int)fs_call_run(&f);
}

static void run_rename(fs_op *op)
{
    op->rc = rename(op->path, op->path2) < 0 ? -errno : 0;
}

static int make_rename(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out)
{
    return make_path_op(f, ctx, local, out, run_rename);
}

static const fs_call rename_call = {make_rename, fs_take_rc, NULL, false};

void corio_fs_rename_fut_init(corio_fs_fut *f, const char *from, const char *to)
{
    if (fs_fut_init(f, &rename_call, from && to)) {
        f->path_ = from;
        f->path2_ = to;
    }
}

int corio_fs_rename(const char *from, const char *to)
{
    corio_fs_fut f;
    corio_fs_rename_fut_init(&f, from, to);
    return (int)fs_call_run(&f);
}

static void run_mkdir(fs_op *op)
{
    op->rc = mkdir(op->path, op->mode) < 0 ? -errno : 0;
}

static int make_mkdir(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out)
{
    return make_path_op(f, ctx, local, out, run_mkdir);
}

static const fs_call mkdir_call = {make_mkdir, fs_take_rc, NULL, false};

void corio_fs_mkdir_fut_init(corio_fs_fut *f, const char *path, mode_t mode)
{
    if (fs_fut_init(f, &mkdir_call, path != NULL)) {
        f->path_ = path;
        f->mode_ = mode;
    }
}

int corio_fs_mkdir(const char *path, mode_t mode)
{
    corio_fs_fut f;
    corio_fs_mkdir_fut_init(&f, path, mode);
    return (int)fs_call_run(&f);
}

/* ---- directory listings -------------------------------------------------------------- */

static corio_fs_type type_of(int dfd, const struct dirent *de)
{
    unsigned char t = de->d_type;
    if (t == DT_UNKNOWN) { /* the file system does not say: ask */
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return CORIO_FS_OTHER;
        return S_ISREG(st.st_mode)   ? CORIO_FS_FILE
               : S_ISDIR(st.st_mode) ? CORIO_FS_DIR
               : S_ISLNK(st.st_mode) ? CORIO_FS_SYMLINK
                                     : CORIO_FS_OTHER;
    }
    return t == DT_REG ? CORIO_FS_FILE : t == DT_DIR ? CORIO_FS_DIR
                       : t == DT_LNK ? CORIO_FS_SYMLINK : CORIO_FS_OTHER;
}

/* The listing is gathered in two growing arrays (types and name offsets;
 * the names one after the other), then laid out in one allocation: the
 * entries, then the names they point to. */
static void run_read_dir(fs_op *op)
{
    DIR *d = opendir(op->path);
    if (!d) {
        op->rc = -errno;
        return;
    }
    struct item {
        size_t name;
        corio_fs_type type;
    } *items = NULL;
    char *names = NULL;
    size_t n = 0, cap = 0, nlen = 0, ncap = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            rc = -errno; /* 0 at the end */
            break;
        }
        const char *nm = de->d_name;
        if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
            continue;
        size_t l = strlen(nm) + 1;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 32;
            struct item *it = realloc(items, c * sizeof *it);
            if (!it) {
                rc = -ENOMEM;
                break;
            }
            items = it;
            cap = c;
        }
        if (ncap - nlen < l) {
            size_t c = ncap ? ncap * 2 : 1024;
            while (c - nlen < l)
                c *= 2;
            char *nb = realloc(names, c);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            names = nb;
            ncap = c;
        }
        memcpy(names + nlen, nm, l);
        items[n].name = nlen;
        items[n].type = type_of(dirfd(d), de);
        nlen += l;
        n++;
    }
    closedir(d);
    corio_fs_dirent *ents = NULL;
    if (rc == 0) {
        ents = malloc(n * sizeof *ents + nlen + 1); /* +1: never malloc(0) */
        if (!ents)
            rc = -ENOMEM;
    }
    if (rc == 0) {
        char *dst = (char *)(ents + n);
        if (nlen)
            memcpy(dst, names, nlen);
        for (size_t i = 0; i < n; i++) {
            ents[i].name = dst + items[i].name;
            ents[i].type = items[i].type;
        }
        op->ents = ents;
        op->n = n;
    }
    free(items);
    free(names);
    op->rc = rc;
}

static int make_read_dir(corio_fs_fut *f, int ctx, fs_op *local, fs_op **out)
{
    return make_path_op(f, ctx, local, out, run_read_dir);
}

static ssize_t take_read_dir(corio_fs_fut *f, fs_op *op)
{
    if (op->rc == 0) {
        *(corio_fs_dirent **)f->out_ = op->ents;
        *(size_t *)f->out2_ = op->n;
        op->ents = NULL;
    }
    return op->rc;
}

static void clear_entries_n(corio_fs_fut *f)
{
    if (f->out_)
        *(corio_fs_dirent **)f->out_ = NULL;
    if (f->out2_)
        *(size_t *)f->out2_ = 0;
}

static const fs_call read_dir_call = {make_read_dir, take_read_dir, clear_entries_n, false};

void corio_fs_read_dir_fut_init(corio_fs_fut *f, const char *path, corio_fs_dirent **entries,
                                size_t *n)
{
    if (fs_fut_init(f, &read_dir_call, path && entries && n)) {
        f->path_ = path;
        f->out_ = entries;
        f->out2_ = n;
    }
}

int corio_fs_read_dir(const char *path, corio_fs_dirent **entries, size_t *n)
{
    corio_fs_fut f;
    corio_fs_read_dir_fut_init(&f, path, entries, n);
    return (int)fs_call_run(&f);
}

