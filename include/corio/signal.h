/* corio/signal.h - waiting for Unix signals.
 *
 *     corio_signal *term;
 *     corio_signal_open(SIGTERM, &term);     // from now on, SIGTERM is counted
 *     ...
 *     corio_signal_recv(term);               // suspends the task until one came
 *     corio_signal_close(term);
 *
 * or, for the common case, `corio_signal_ctrl_c()`: wait for the next SIGINT.
 *
 * Any number of listeners may wait for the same signal, in any tasks of any
 * runtimes: each delivery wakes every one of them. A listener counts the
 * deliveries from its corio_signal_open on, so a signal that arrives while
 * its task is busy elsewhere is not lost: the next recv returns at once.
 * Deliveries that arrive before a recv are coalesced into one, as the
 * kernel itself coalesces a pending signal (tokio's `Signal::recv`).
 *
 * The first listener for a signal installs corio's handler for it (with
 * SA_RESTART), and it stays installed for the life of the process: from
 * then on the signal's default action (ending the process, for SIGINT and
 * SIGTERM) no longer happens, also once every listener is closed - the
 * program decides what a signal does. The handler is async-signal-safe: it
 * counts the delivery and writes a byte to a pipe that the I/O driver of
 * every runtime with a waiting listener watches, so it does not matter
 * which thread the handler runs on. A signal sent to the process (kill,
 * the terminal's ^C) reaches the listeners as long as one thread does not
 * block it with pthread_sigmask; one sent to a thread (raise, pthread_kill,
 * tgkill, a timer's SIGEV_THREAD_ID) stays pending while that thread
 * blocks it, and is counted only once that thread unblocks it.
 *
 * Not allowed (-EINVAL): SIGKILL and SIGSTOP, which cannot be caught; the
 * synchronous fault signals SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP,
 * which a handler that returns would only raise again (and corio reports
 * stack overflows through SIGSEGV); and numbers outside 1..NSIG-1 or
 * reserved by the C library.
 */
#ifndef CORIO_SIGNAL_H
#define CORIO_SIGNAL_H

#include <stdint.h>

#include "api.h"
#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_signal corio_signal;

/* Start listening for `signum`: deliveries from now on are counted for this
 * listener. Any thread, also plain code with no runtime. Returns 0 and
 * *out, or -EINVAL (see above; out NULL), -ENOMEM, or sigaction's or
 * pipe's error (-EMFILE). */
CORIO_API int corio_signal_open(int signum, corio_signal **out);

/* Inside a task: wait until the signal has been delivered since the open or
 * the last recv that returned 0. Returns 0, or:
 *   -EINVAL          s is NULL;
 *   CORIO_ECANCELED, CORIO_ETIMEDOUT   interrupted (cancel safe: a delivery
 *                    that came meanwhile is still there for the next recv);
 *   CORIO_EWRONGCTX  plain code or a stackless poll function: poll the
 *                    future form (corio_block_on_future in plain code);
 *   -EMFILE and the like: the runtime's driver could not watch the pipe.
 * A runtime's shutdown cancels its tasks: a recv waiting then returns
 * CORIO_ECANCELED, as every await does.
 * One recv at a time per listener; several tasks that all want the signal
 * each open their own. */
CORIO_API int corio_signal_recv(corio_signal *s);

/* Stop listening and free `s` (the handler stays installed, see above).
 * Any thread; NULL: nothing. Not while a recv on it is in progress. */
CORIO_API void corio_signal_close(corio_signal *s);

/* The signal number `s` listens for (0 for NULL). */
CORIO_API int corio_signal_number(const corio_signal *s);

/* Inside a task: wait for the next SIGINT (Ctrl-C) - a listener opened,
 * awaited and closed. Returns corio_signal_recv's codes, or
 * corio_signal_open's. tokio's `signal::ctrl_c()`. */
CORIO_API int corio_signal_ctrl_c(void);

/* corio_signal_recv as a future: result 0 or a code as above. Dropped
 * before it is ready, it consumes nothing. */
typedef struct corio_signal_recv_fut {
    corio_future base;
    corio_signal *s_;
    struct corio_signal_recv_fut *next_, *prev_; /* the waiting list (private) */
    corio_waker waker_;
    unsigned queued_, watched_;
} corio_signal_recv_fut;
/* Initialise (lazy). Does nothing for a NULL f; a NULL s makes the future
 * finish with -EINVAL. */
CORIO_API void corio_signal_recv_fut_init(corio_signal_recv_fut *f, corio_signal *s);

#ifdef __cplusplus
}
#endif
#endif
