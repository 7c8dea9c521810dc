/* corio.h - the umbrella header: an asynchronous runtime for C.
 *
 *   #include <corio.h>
 *
 * See docs/ for the guides and README.md for the tour. Modules:
 *   corio/error.h    error codes and corio_strerror
 *   corio/future.h   futures, wakers, corio_await
 *   corio/task.h     spawn, join handles, abort, yield
 *   corio/runtime.h  runtimes, block_on, corio_run
 *   corio/time.h     now, sleep, timeout, interval
 *   corio/mutex.h    a mutex tasks may hold across awaits
 *   corio/semaphore.h  counting semaphore
 *   corio/notify.h   wake one task or all
 *   corio/chan.h     what every channel shares (messages, options)
 *   corio/mpsc.h     multi-producer single-consumer channels
 *   corio/oneshot.h  one-message channels
 */
#ifndef CORIO_H
#define CORIO_H

#define CORIO_VERSION_MAJOR 0
#define CORIO_VERSION_MINOR 1
#define CORIO_VERSION_PATCH 0
#define CORIO_VERSION_STRING "0.1.0"

#include "corio/error.h"
#include "corio/future.h"
#include "corio/runtime.h"
#include "corio/task.h"
#include "corio/time.h"
#include "corio/chan.h"
#include "corio/mpsc.h"
#include "corio/mutex.h"
#include "corio/notify.h"
#include "corio/oneshot.h"
#include "corio/semaphore.h"

#endif
