/* core/error.c - names and descriptions of error codes. */
#include <string.h>

#include "corio/error.h"

/* noinline and the asm keep a compiler from treating this as a constant of
 * the calling function (see error.h): errno's address is computed here, on
 * whatever thread the call runs. */
__attribute__((noinline)) int corio_errno(void)
{
    __asm__ volatile("" ::: "memory");
    return errno;
}

const char *corio_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case CORIO_ECANCELED:
        return "operation cancelled (the task was aborted or the runtime is shutting down)";
    case CORIO_ETIMEDOUT:
        return "operation timed out";
    case CORIO_ECLOSED:
        return "channel or handle closed by the other side";
    case CORIO_ESHUTDOWN:
        return "runtime is shutting down";
    case CORIO_EWRONGCTX:
        return "called from the wrong context (inside vs outside a corio task)";
    case CORIO_EPANIC:
        return "task panicked";
    case CORIO_EEOF:
        return "unexpected end of stream";
    case CORIO_ENOHOST:
        return "unknown host name";
    default:
        break;
    }
    if (err < 0 && err > -4000) {
        /* strerror is not guaranteed thread-safe; strerrordesc_np (glibc
         * 2.32+) returns a static string. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
        extern const char *strerrordesc_np(int);
        const char *s = strerrordesc_np(-err);
        if (s)
            return s;
#endif
    }
    return "unknown error";
}

const char *corio_err_name(int err)
{
    switch (err) {
    case 0:
        return "OK";
    case CORIO_ECANCELED:
        return "CORIO_ECANCELED";
    case CORIO_ETIMEDOUT:
        return "CORIO_ETIMEDOUT";
    case CORIO_ECLOSED:
        return "CORIO_ECLOSED";
    case CORIO_ESHUTDOWN:
        return "CORIO_ESHUTDOWN";
    case CORIO_EWRONGCTX:
        return "CORIO_EWRONGCTX";
    case CORIO_EPANIC:
        return "CORIO_EPANIC";
    case CORIO_EEOF:
        return "CORIO_EEOF";
    case CORIO_ENOHOST:
        return "CORIO_ENOHOST";
    default:
        break;
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    if (err < 0 && err > -4000) {
        extern const char *strerrorname_np(int);
        const char *s = strerrorname_np(-err);
        if (s)
            return s;
    }
#endif
    return "UNKNOWN";
}
