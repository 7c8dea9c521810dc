/* rt/inject.c - the inject queue (see inject.h). */
#include "rt/inject.h"

void inject_init(inject *in, void (*notify)(void *arg), void *notify_arg)
{
    pthread_mutex_init(&in->lock, NULL);
    in->q = (task_queue){0};
    in->closed = false;
    atomic_init(&in->len, 0);
    in->notify = notify;
    in->notify_arg = notify_arg;
}

void inject_destroy(inject *in)
{
    /* A push still inside its critical section (in notify, say) finishes
     * before the lock can be taken. */
    pthread_mutex_lock(&in->lock);
    pthread_mutex_unlock(&in->lock);
    pthread_mutex_destroy(&in->lock);
}

bool inject_push(inject *in, corio_task *t, bool refuse_if_closed)
{
    pthread_mutex_lock(&in->lock);
    if (refuse_if_closed && in->closed) {
        pthread_mutex_unlock(&in->lock);
        return false;
    }
    tq_push(&in->q, t);
    atomic_store_explicit(&in->len, in->q.len, memory_order_seq_cst);
    if (in->notify)
        in->notify(in->notify_arg);
    pthread_mutex_unlock(&in->lock);
    return true;
}

size_t inject_take_all(inject *in, task_queue *out)
{
    if (atomic_load_explicit(&in->len, memory_order_relaxed) == 0)
        return 0;
    pthread_mutex_lock(&in->lock);
    size_t n = in->q.len;
    tq_take_all(out, &in->q);
    atomic_store_explicit(&in->len, 0, memory_order_relaxed);
    pthread_mutex_unlock(&in->lock);
    return n;
}

void inject_close(inject *in)
{
    pthread_mutex_lock(&in->lock);
    in->closed = true;
    pthread_mutex_unlock(&in->lock);
}

bool inject_is_closed(inject *in)
{
    pthread_mutex_lock(&in->lock);
    bool c = in->closed;
    pthread_mutex_unlock(&in->lock);
    return c;
}
