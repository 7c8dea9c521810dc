/* corio.h - the umbrella header: an asynchronous runtime for C.
 *
 *   #include <corio.h>
 *
 * See docs/ for the guides and README.md for the tour. Modules:
 *   corio/error.h    error codes and corio_strerror
 *   corio/future.h   futures, wakers, corio_await
 *   corio/task.h     spawn, join handles, abort, yield
 *   corio/runtime.h  runtimes, block_on, corio_run
 *   corio/introspect.h  metrics and a task dump of a running runtime
 *   corio/time.h     now, sleep, timeout, interval
 *   corio/io.h       any fd as an async one
 *   corio/net.h      socket addresses, host name resolution
 *   corio/tcp.h      TCP listeners and streams
 *   corio/udp.h      UDP sockets
 *   corio/unix.h     Unix-domain stream and datagram sockets
 *   corio/fs.h       files and directories, off the worker threads
 *   corio/bufio.h    buffered reader (lines) and writer over any async fd
 *   corio/signal.h   waiting for Unix signals, ctrl_c
 *   corio/mutex.h    a mutex tasks may hold across awaits
 *   corio/rwlock.h   readers-writer lock
 *   corio/semaphore.h  counting semaphore
 *   corio/notify.h   wake one task or all
 *   corio/barrier.h  wait until n tasks arrive
 *   corio/cancel_token.h  cancellation tokens, in trees
 *   corio/chan.h     what every channel shares (messages, options)
 *   corio/mpsc.h     multi-producer single-consumer channels
 *   corio/oneshot.h  one-message channels
 *   corio/broadcast.h  every receiver gets every message
 *   corio/watch.h    the latest value, and changes to it
 *   (docs/sync.md is the guide to the last eleven)
 *   corio/join.h     join_all, try_join_all over futures; task_join_all over handles
 *   corio/select.h   the first of N futures (select!), references (&mut fut)
 *   corio/join_set.h tasks joined in the order they finish (JoinSet)
 *   (docs/combinators.md is the guide to these three)
 *   corio/scope.h    structured concurrency: every task joined before the scope returns
 *                    (docs/scopes.md)
 *   corio/stream.h   streams: poll_next and the adapters of pipelines (docs/streams.md)
 */
#ifndef CORIO_H
#define CORIO_H

#define CORIO_VERSION_MAJOR 0
#define CORIO_VERSION_MINOR 1
#define CORIO_VERSION_PATCH 0
/* "MAJOR.MINOR.PATCH", made from the three numbers above. */
#define CORIO_VERSION_STR_(x) #x
#define CORIO_VERSION_XSTR_(x) CORIO_VERSION_STR_(x)
#define CORIO_VERSION_STRING                                                                  \
    CORIO_VERSION_XSTR_(CORIO_VERSION_MAJOR) "." CORIO_VERSION_XSTR_(CORIO_VERSION_MINOR) "." \
        CORIO_VERSION_XSTR_(CORIO_VERSION_PATCH)

#include "corio/error.h"
#include "corio/future.h"
#include "corio/runtime.h"
#include "corio/introspect.h"
#include "corio/task.h"
#include "corio/time.h"
#include "corio/io.h"
#include "corio/net.h"
#include "corio/tcp.h"
#include "corio/udp.h"
#include "corio/unix.h"
#include "corio/fs.h"
#include "corio/bufio.h"
#include "corio/signal.h"
#include "corio/barrier.h"
#include "corio/broadcast.h"
#include "corio/cancel_token.h"
#include "corio/chan.h"
#include "corio/mpsc.h"
#include "corio/mutex.h"
#include "corio/notify.h"
#include "corio/oneshot.h"
#include "corio/rwlock.h"
#include "corio/semaphore.h"
#include "corio/watch.h"
#include "corio/join.h"
#include "corio/join_set.h"
#include "corio/scope.h"
#include "corio/select.h"
#include "corio/stream.h"

#endif
