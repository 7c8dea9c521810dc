/* time/deadline.c - deadline scopes: a deadline on a whole stretch of a
 * coroutine (corio_timeout_call).
 *
 * The scope is an interruption scope of the coroutine (core/coro.h) whose
 * `ended` hook is "my timer is no longer armed": the timer is armed on entry
 * with the task's waker, so it fires (and wakes the task, wherever it waits)
 * exactly when the deadline passes, and from then on every await inside the
 * scope returns CORIO_ETIMEDOUT.
 */
#include <stddef.h>

#include "core/coro.h"
#include "core/task.h"
#include "corio/error.h"
#include "corio/time.h"

typedef struct deadline_scope {
    coro_scope sc;
    corio_timer timer;
} deadline_scope;

static bool deadline_ended(coro_scope *sc)
{
    deadline_scope *ds = (deadline_scope *)(void *)((char *)sc - offsetof(deadline_scope, sc));
    return !corio_timer_is_armed(&ds->timer);
}

int corio_timeout_call_until(corio_instant deadline, corio_fn fn, void *arg, int *result)
{
    if (!fn)
        return -EINVAL;
    deadline_scope ds;
    ds.sc.ended = deadline_ended;
    ds.sc.code = CORIO_ETIMEDOUT;
    corio_timer_init(&ds.timer, deadline);
    int rc = coro_scope_enter(&ds.sc);
    if (rc < 0)
        return rc;
    /* Arm it now, for the task: a deadline already passed leaves it
     * unarmed, which ends the scope at the first await. */
    corio_waker wk = task_waker_borrowed(corio_task_current());
    corio_context cx = {&wk};
    (void)corio_timer_poll(&ds.timer, &cx);
    int r = fn(arg);
    rc = coro_scope_exit(&ds.sc);
    corio_timer_cancel(&ds.timer);
    if (result)
        *result = r;
    return rc;
}

int corio_timeout_call(corio_duration d, corio_fn fn, void *arg, int *result)
{
    return corio_timeout_call_until(corio_instant_add(corio_instant_now(), d), fn, arg, result);
}
