/* rt/inject.h - the inject queue: where tasks spawned or woken by other
 * threads wait until the thread driving the runtime takes them (internal).
 *
 * A mutex and a FIFO, plus a mirror of the length that the owner reads
 * without the lock to skip it when empty. The owner takes everything at
 * once. `notify` runs under the lock right after each push, so that whatever
 * it touches (the runtime's driver, to unpark it) cannot be freed under it:
 * the runtime's teardown takes the lock once after closing, which waits for
 * every push in progress. Once closed, pushes that may be refused are.
 */
#ifndef CORIO_RT_INJECT_H
#define CORIO_RT_INJECT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "rt/queue.h"

typedef struct inject {
    pthread_mutex_t lock;
    task_queue q;       /* under lock */
    bool closed;        /* under lock */
    _Atomic size_t len; /* mirror of q.len */
    void (*notify)(void *arg);
    void *notify_arg;
} inject;

void inject_init(inject *in, void (*notify)(void *arg), void *notify_arg);
/* After inject_close; waits for the pushes in progress to finish. */
void inject_destroy(inject *in);

/* Push from any thread. Returns false (nothing pushed) when closed and
 * `refuse_if_closed`; wakes go through even when closed, so the tasks
 * being cancelled at shutdown can still be woken. */
bool inject_push(inject *in, corio_task *t, bool refuse_if_closed);

/* Move every queued task to the end of `out`. Returns how many. */
size_t inject_take_all(inject *in, task_queue *out);

/* The length as last published. seq_cst: it is one side of the park
 * handshake of the current-thread scheduler. */
static inline size_t inject_len(inject *in)
{
    return atomic_load_explicit(&in->len, memory_order_seq_cst);
}

void inject_close(inject *in);
bool inject_is_closed(inject *in);

#endif
