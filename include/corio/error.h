/* corio/error.h - error codes.
 *
 * Every corio function reports failure by returning a negative code, never
 * through errno: coroutines migrate between threads and errno is thread-local.
 * Where a POSIX errno fits, the code is its negation (-ECONNREFUSED, -ENOMEM);
 * the codes below -4000 are corio's own. corio_strerror() names any of them.
 */
#ifndef CORIO_ERROR_H
#define CORIO_ERROR_H

#include "api.h"

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The task was cancelled (corio_task_abort, runtime shutdown). Sticky: once a
 * coroutine task is cancelled, every await it makes returns this code. */
#define CORIO_ECANCELED (-ECANCELED)
/* A deadline passed: corio_timeout's, or a deadline scope's
 * (corio_timeout_call), which every wait inside the scope returns. */
#define CORIO_ETIMEDOUT (-ETIMEDOUT)
/* The other side of a channel or handle is gone. */
#define CORIO_ECLOSED (-4001)
/* The runtime is shutting down, or has shut down: nothing new is accepted. */
#define CORIO_ESHUTDOWN (-4002)
/* The call must be made from inside a corio task (e.g. corio_await in plain
 * code), or from outside one (e.g. corio_rt_block_on inside a task). */
#define CORIO_EWRONGCTX (-4003)
/* A stream ended before the call had what it needed (corio_tcp_read_exact
 * saw end of file part-way). */
#define CORIO_EEOF (-4005)
/* A host name that the resolver does not know (getaddrinfo's EAI_NONAME,
 * EAI_NODATA). A lookup that could not be made right now (no answer from
 * the DNS servers) is -EAGAIN instead. */
#define CORIO_ENOHOST (-4006)
/* Reserved for a task that fails in a way that is not an error code of its
 * own (a future reporting misuse); nothing returns it yet. */
#define CORIO_EPANIC (-4004)

/* The calling thread's errno, read afresh. For code in a coroutine task that
 * calls a libc function after an await: the task may have resumed on another
 * thread, and a compiler may keep the address of errno it computed before
 * the await (glibc's __errno_location is declared const), so a plain `errno`
 * there can read the old thread's. Read it through this call instead, right
 * after the call that set it:
 *     int fd = open(path, O_RDONLY);
 *     if (fd < 0) return -corio_errno();
 * corio's own functions never need it: they return negative codes. */
CORIO_API int corio_errno(void);

/* A static, human-readable description of `err` (a negative corio code or a
 * negated errno). Never returns NULL. Thread-safe. */
CORIO_API const char *corio_strerror(int err);

/* The symbolic name of `err`, e.g. "CORIO_ETIMEDOUT" or "ECONNREFUSED";
 * "UNKNOWN" for a code it does not know. A static string, valid for the
 * life of the process; never NULL. Thread-safe. */
CORIO_API const char *corio_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
