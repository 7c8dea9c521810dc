/* corio/fs.h - files and directories, off the worker threads (tokio::fs).
 *
 *     char *text;
 *     size_t len;
 *     int rc = corio_fs_read_file("config.toml", &text, &len);  // awaits
 *     if (rc == 0) { parse(text, len); free(text); }
 *
 * Regular files cannot be waited on with epoll (they are always "ready",
 * and a read that misses the page cache blocks the thread anyway), so every
 * call here that touches the file system runs its system calls as a job on
 * the runtime's blocking pool (corio_spawn_blocking) and waits for the job:
 *
 *   - in a coroutine task the call suspends the task, not the worker, and
 *     is an await like any other: in a cancelled task, or past the deadline
 *     of an enclosing deadline scope (corio_timeout_call), it returns
 *     CORIO_ECANCELED or CORIO_ETIMEDOUT at once;
 *   - in plain code (main, a thread of your own, a corio_spawn_blocking
 *     job) it simply makes the system calls on the calling thread, which
 *     blocks, as std::fs does;
 *   - in a stackless task's poll function it returns CORIO_EWRONGCTX.
 *
 * An interrupted call returns at once, but the system call it handed to
 * the pool cannot be stopped: it may still run, in the background, after
 * the call has returned. What that means is said for each call below
 * ("Interrupted:"); in short:
 *   - nothing the caller passed in is read or written after the call has
 *     returned: a job reads into its own buffer and the call copies out
 *     only if it is still waiting when the job ends; a job writes from its
 *     own copy of the caller's data. So the caller may free or reuse its
 *     buffers, and its path strings, as soon as the call returns, whatever
 *     it returned;
 *   - nothing leaks: a result nobody waits for any more (a read file's
 *     buffer, an opened fd, a directory listing) is freed or closed by the
 *     job when it ends;
 *   - a change to the file system (a write, a truncate, a create, a remove,
 *     a rename, a mkdir) that was interrupted may or may not happen: treat
 *     its outcome as unknown, as after a crash;
 *   - on a corio_file, an interrupted read or write may still move the
 *     file position: use corio_file_pread/pwrite, or seek afterwards.
 *     Calls on one corio_file are still run one at a time in the order
 *     they were made, interrupted ones included, so a seek made after an
 *     interrupted read happens after that read.
 *
 * A call waiting when its runtime shuts down is interrupted like any await:
 * the shutdown cancels its task, so it returns CORIO_ECANCELED; its job,
 * if it has not started when the blocking pool shuts down, never runs.
 * (CORIO_ESHUTDOWN: the pool refused the job.)
 *
 * Future forms. Every call here that waits has one (end of this header),
 * so that it can be raced in a select, bounded by corio_timeout, or
 * awaited from a stackless task's poll function, where the calls
 * themselves return CORIO_EWRONGCTX. All share one type, corio_fs_fut:
 * initialise it with the call's arguments (corio_fs_read_file_fut_init,
 * corio_file_read_fut_init...), poll or await it; once done, base.result
 * is what the call would have returned and the out-parameters given at
 * the init are set as the call sets them. The request is made and handed
 * to the pool at the first poll (calls on one corio_file keep the order of
 * their first polls); until then nothing happens. The rule above holds
 * for a future dropped before it is done ("interrupted"): from the drop
 * on, nothing the caller passed in is read or written, its out-parameters
 * are left as they were, and the job's own results are freed or closed by
 * the job. So the caller's buffers, path strings and out-parameters need
 * to stay valid only until the future is done or dropped.
 *
 * Costs: one malloc per call for the job's request (none in plain code),
 * plus a pool thread's wake-up (a few microseconds; a busy pool's threads
 * spin briefly for the next job). In a task, a read or write of more than
 * CORIO_FS_CHUNK bytes moves CORIO_FS_CHUNK at the most per call (the job
 * copies through a buffer of its own, as tokio's File does); a whole-file
 * call has no such limit.
 *
 * Errors are the system's, negated (-ENOENT, -EACCES, -EISDIR, -ENOTDIR,
 * -EEXIST, -ENOSPC...), never errno; plus -EINVAL for NULL arguments,
 * -ENOMEM, CORIO_ESHUTDOWN, -EAGAIN (in a task: the blocking pool has no
 * thread and cannot start one, as corio_spawn_blocking says), and the
 * interruption codes.
 *
 * Threads: every call may be made from any task of any runtime and from
 * any plain thread. A corio_file may be used by several tasks at once
 * (their calls are run one after the other); closing it while a call of
 * another task is in progress on it is undefined, as with close(2). A
 * plain call that waits for its turn behind tasks' calls whose jobs have
 * not started runs them itself, on its thread (a corio_spawn_blocking job
 * would otherwise wait for jobs queued behind it).
 */
#ifndef CORIO_FS_H
#define CORIO_FS_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "api.h"
#include "future.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most a task's corio_file_read, _write, _pread or _pwrite moves per
 * call (2 MiB, tokio's MAX_BUF). */
#define CORIO_FS_CHUNK ((size_t)2 << 20)

/* ---- whole files and paths -------------------------------------------------- */

/* Read the whole file at `path` into a buffer malloc'd for it: 0 and *buf
 * (free it with free()) and *len (the byte count). The buffer holds one
 * more byte, a NUL after the contents, so a text file can be used as a C
 * string at once (std::fs::read_to_string; corio does not check that the
 * text is UTF-8, and a file with a NUL in it reads in full, *len says how
 * far). Reads until end of file, so files whose size stat does not tell
 * (/proc) read in full. Errors: -ENOENT, -EACCES, -EISDIR, -ENOTDIR,
 * -ENOMEM, -EINVAL (a NULL argument), CORIO_ESHUTDOWN, CORIO_ECANCELED,
 * CORIO_ETIMEDOUT, CORIO_EWRONGCTX; *buf is NULL and *len 0 on every error.
 * Interrupted: returns at once; the file may go on being read in the
 * background, into the job's buffer, which the job frees. */
CORIO_API int corio_fs_read_file(const char *path, char **buf, size_t *len);

/* Create the file at `path` (mode 0666 less the umask), or truncate it if
 * it exists, and write `len` bytes of `buf` to it: 0, or -ENOENT (no such
 * directory), -EACCES, -EISDIR, -ENOSPC, -EDQUOT, -EIO, -EINVAL (a NULL
 * path, or a NULL buf with len > 0), -ENOMEM, CORIO_ESHUTDOWN, and the
 * interruption codes. It does not fsync: where the data must be on disk,
 * use corio_file_open, corio_file_write_all, then corio_file_sync. In a
 * task the job writes from a copy of `buf` made at the call
 * (tokio::fs::write copies too): the memory cost is len.
 * Interrupted: the file may be created, truncated, written in part or in
 * full, in the background. */
CORIO_API int corio_fs_write_file(const char *path, const void *buf, size_t len);

/* stat(2) of `path` (following symbolic links) into *st: 0, or -ENOENT,
 * -ENOTDIR, -EACCES, -EINVAL (NULL), ... Interrupted: *st is not written. */
CORIO_API int corio_fs_metadata(const char *path, struct stat *st);

/* Remove the file, symbolic link or empty directory at `path` (remove(3)):
 * 0, or -ENOENT, -ENOTEMPTY (a directory with entries), -EACCES, -EBUSY,
 * -EINVAL (NULL), ... Interrupted: it may still be removed. */
CORIO_API int corio_fs_remove(const char *path);

/* rename(2): 0, or -ENOENT, -EXDEV (another file system), -EISDIR,
 * -ENOTEMPTY, -EINVAL (NULL), ... Interrupted: it may still happen. */
CORIO_API int corio_fs_rename(const char *from, const char *to);

/* mkdir(2) with `mode` (less the umask; 0755 is usual): 0, or -EEXIST,
 * -ENOENT (no parent), -ENOTDIR, -EACCES, -EINVAL (NULL), ... Interrupted:
 * the directory may still be made. */
CORIO_API int corio_fs_mkdir(const char *path, mode_t mode);

/* ---- directory listings ---------------------------------------------------------- */

/* What a directory entry is (from the entry itself, or lstat when the file
 * system does not say: a symbolic link is CORIO_FS_SYMLINK, not followed). */
typedef enum corio_fs_type {
    CORIO_FS_OTHER = 0, /* a device, a FIFO, a socket, or unknown */
    CORIO_FS_FILE = 1,
    CORIO_FS_DIR = 2,
    CORIO_FS_SYMLINK = 3,
} corio_fs_type;

typedef struct corio_fs_dirent {
    const char *name;   /* the entry's name, without the directory */
    corio_fs_type type;
} corio_fs_dirent;

/* List the directory at `path`: 0, *entries (an array of *n entries, names
 * included, in one malloc'd block: give it back with free()) and *n.
 * "." and ".." are left out; the order is the file system's (sort it with
 * qsort if it matters). An empty directory gives *n == 0 and a non-NULL
 * *entries, to be freed all the same. Errors: -ENOENT, -ENOTDIR, -EACCES,
 * -ENOMEM, -EINVAL (NULL), and the codes of every call here; then *entries
 * is NULL and *n 0. Interrupted: the listing the job makes is freed by it. */
CORIO_API int corio_fs_read_dir(const char *path, corio_fs_dirent **entries, size_t *n);

/* ---- open files ------------------------------------------------------------------------ */

typedef struct corio_file corio_file;

/* open(2) `path` with `flags` (O_RDONLY, O_WRONLY or O_RDWR, with O_CREAT,
 * O_TRUNC, O_APPEND, O_EXCL...; O_CLOEXEC is always added) and `mode` (for
 * O_CREAT): 0 and *out, or -ENOENT, -EACCES, -EEXIST, -EISDIR (a directory
 * opened for writing), -ENOTDIR, -EMFILE, -ENOMEM, -EINVAL (NULL), the
 * interruption codes; *out is NULL on error. A directory may be opened
 * read-only (its reads fail with -EISDIR). Interrupted: the file may still
 * be opened (and created or truncated, as the flags say) in the background;
 * the job then closes it.
 * Whatever open(2) opens is accepted, as by tokio's File: besides regular
 * files and directories, a FIFO, a terminal, a device. Their calls run on
 * the pool like the others, so a read that waits for a FIFO's writer or a
 * terminal's input holds a pool thread while it waits (interrupted, it goes
 * on waiting in the background, and the file's later calls queue behind
 * it); and on a file that cannot seek (a FIFO, a terminal) the calls that
 * use an offset - pread, pwrite, seek - return -ESPIPE. For such an fd,
 * corio_fd (corio/io.h) waits for readiness without holding a thread, and
 * its interrupted read has read nothing; corio_fs_read_file reads a FIFO
 * to its end. */
CORIO_API int corio_file_open(const char *path, int flags, mode_t mode, corio_file **out);

/* Close the file and free `f`: 0, or close(2)'s error (-EIO: data written
 * before may be lost; sync first where that matters). If a call on `f`
 * that was interrupted is still running in the background, the fd is closed
 * when that call ends, and this returns 0. Closing does not wait for the
 * pool (close of a local file does not block). NULL: 0. */
CORIO_API int corio_file_close(corio_file *f);

/* The fd (-1 for NULL); it stays the corio_file's: do not close it. */
CORIO_API int corio_file_raw(const corio_file *f);

/* Read up to `len` bytes at the file position, which moves past them: the
 * count (0: end of file, or len == 0), or -EISDIR, -EBADF (not open for
 * reading), -EIO, -EINVAL (NULL), -ENOMEM, CORIO_ESHUTDOWN, the
 * interruption codes. In a task at most CORIO_FS_CHUNK per call.
 * Interrupted: `buf` is not written, but the read may still happen in the
 * background and move the position (what it read is thrown away). */
CORIO_API ssize_t corio_file_read(corio_file *f, void *buf, size_t len);

/* Write up to `len` bytes at the file position (at the end with O_APPEND):
 * the count (a regular file takes all of it unless the disk is full; in a
 * task at most CORIO_FS_CHUNK per call), or -ENOSPC, -EDQUOT, -EFBIG,
 * -EBADF (not open for writing), -EIO, -EINVAL, -ENOMEM, CORIO_ESHUTDOWN,
 * the interruption codes. The job writes from a copy of `buf`.
 * Interrupted: the write may still land, whole, in the background. */
CORIO_API ssize_t corio_file_write(corio_file *f, const void *buf, size_t len);

/* corio_file_write until all `len` bytes are written: 0 or a code as
 * corio_file_write. Interrupted: a prefix of buf (whole chunks, and the
 * chunk in flight may still land) has been written. */
CORIO_API int corio_file_write_all(corio_file *f, const void *buf, size_t len);

/* pread(2) and pwrite(2): as read and write, at `offset`, without using or
 * moving the file position, so an interrupted pread changes nothing at all
 * (a cancel-safe read); an interrupted pwrite may still land. -EINVAL also
 * for a negative offset; -ESPIPE for a file that cannot seek (a FIFO, a
 * terminal: see corio_file_open; never for a regular file or a
 * directory). */
CORIO_API ssize_t corio_file_pread(corio_file *f, void *buf, size_t len, off_t offset);
CORIO_API ssize_t corio_file_pwrite(corio_file *f, const void *buf, size_t len, off_t offset);

/* lseek(2): move the position to `offset` from SEEK_SET, SEEK_CUR or
 * SEEK_END (or SEEK_DATA, SEEK_HOLE); 0 and *pos (may be NULL) the new
 * position, or -EINVAL (NULL f, a bad whence, a position below 0), -ENXIO,
 * -ESPIPE (a file that cannot seek: a FIFO, a terminal), and the
 * interruption codes. Runs on the pool like the rest (after the
 * calls made before it). Interrupted: the position may still move. */
CORIO_API int corio_file_seek(corio_file *f, off_t offset, int whence, off_t *pos);

/* fsync(2): 0 once the file's data and metadata are on stable storage, or
 * -EIO, -ENOSPC, -EINVAL (NULL f, or a file that cannot be synced: a
 * FIFO, a terminal), and the interruption codes. Interrupted:
 * the sync goes on in the background; its outcome is unknown (call it
 * again to be sure). */
CORIO_API int corio_file_sync(corio_file *f);

/* fstat(2) of an open file: 0 and *st, or a code as corio_fs_metadata. */
CORIO_API int corio_file_metadata(corio_file *f, struct stat *st);

/* ---- future forms ------------------------------------------------------------------- */

/* A call of this header as a future (see the top of this header). Polled
 * outside any runtime (by hand, in plain code) it makes its system calls
 * at its first poll, blocking, as the plain call does there. A future that
 * returned CORIO_READY stays finished: polled again, it returns
 * CORIO_READY with the same base.result and makes no call (initialise it
 * again to repeat the call). */
typedef struct corio_fs_fut {
    corio_future base; /* result: what the call returns (a count, 0 or a code) */
    size_t done;       /* corio_file_write_all_fut_init: bytes written so far */
    /* private */
    const void *call_;
    void *op_;
    corio_join_fut join_;
    int state_;
    int err_;
    const char *path_, *path2_;
    corio_file *file_;
    void *buf_;
    size_t len_;
    off_t off_;
    int flags_;
    mode_t mode_;
    void *out_, *out2_;
} corio_fs_fut;

/* The calls above, with the same arguments, as futures: initialise, then
 * poll or await. A NULL f does nothing. */
CORIO_API void corio_fs_read_file_fut_init(corio_fs_fut *f, const char *path, char **buf,
                                           size_t *len);
CORIO_API void corio_fs_write_file_fut_init(corio_fs_fut *f, const char *path, const void *buf,
                                            size_t len);
CORIO_API void corio_fs_metadata_fut_init(corio_fs_fut *f, const char *path, struct stat *st);
CORIO_API void corio_fs_remove_fut_init(corio_fs_fut *f, const char *path);
CORIO_API void corio_fs_rename_fut_init(corio_fs_fut *f, const char *from, const char *to);
CORIO_API void corio_fs_mkdir_fut_init(corio_fs_fut *f, const char *path, mode_t mode);
CORIO_API void corio_fs_read_dir_fut_init(corio_fs_fut *f, const char *path,
                                          corio_fs_dirent **entries, size_t *n);
CORIO_API void corio_file_open_fut_init(corio_fs_fut *f, const char *path, int flags, mode_t mode,
                                        corio_file **out);
CORIO_API void corio_file_read_fut_init(corio_fs_fut *f, corio_file *file, void *buf, size_t len);
CORIO_API void corio_file_write_fut_init(corio_fs_fut *f, corio_file *file, const void *buf,
                                         size_t len);
CORIO_API void corio_file_pread_fut_init(corio_fs_fut *f, corio_file *file, void *buf, size_t len,
                                         off_t offset);
CORIO_API void corio_file_pwrite_fut_init(corio_fs_fut *f, corio_file *file, const void *buf,
                                          size_t len, off_t offset);
CORIO_API void corio_file_seek_fut_init(corio_fs_fut *f, corio_file *file, off_t offset,
                                        int whence, off_t *pos);
CORIO_API void corio_file_sync_fut_init(corio_fs_fut *f, corio_file *file);
CORIO_API void corio_file_metadata_fut_init(corio_fs_fut *f, corio_file *file, struct stat *st);

/* corio_file_write_all as a future: writes chunk after chunk (each
 * CORIO_FS_CHUNK at most, one request at a time) until all `len` bytes are
 * written; result 0 or a code. `done` counts the bytes written so far,
 * also when the future fails or is dropped (then the chunk in flight may
 * still land, beyond `done`). */
CORIO_API void corio_file_write_all_fut_init(corio_fs_fut *f, corio_file *file, const void *buf,
                                             size_t len);

#ifdef __cplusplus
}
#endif
#endif
