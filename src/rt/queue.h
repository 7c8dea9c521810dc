/* rt/queue.h - an intrusive FIFO of tasks (linked through corio_task.next).
 * Pushing never allocates, so waking a task can never fail. Not thread-safe:
 * the owner serialises access (its thread, or a lock). */
#ifndef CORIO_RT_QUEUE_H
#define CORIO_RT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/task.h"

typedef struct task_queue {
    corio_task *head, *tail;
    size_t len;
} task_queue;

static inline void tq_push(task_queue *q, corio_task *t)
{
    t->next = NULL;
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    q->len++;
}

static inline corio_task *tq_pop(task_queue *q)
{
    corio_task *t = q->head;
    if (t) {
        q->head = t->next;
        if (!q->head)
            q->tail = NULL;
        q->len--;
        t->next = NULL;
    }
    return t;
}

/* Take `t` out of `q` if it is there (a walk: for short or rare uses).
 * Returns whether it was. */
static inline bool tq_remove(task_queue *q, corio_task *t)
{
    corio_task *prev = NULL;
    for (corio_task *x = q->head; x; prev = x, x = x->next) {
        if (x != t)
            continue;
        if (prev)
            prev->next = x->next;
        else
            q->head = x->next;
        if (q->tail == x)
            q->tail = prev;
        q->len--;
        x->next = NULL;
        return true;
    }
    return false;
}

/* Move all of `src` to the end of `dst`. */
static inline void tq_take_all(task_queue *dst, task_queue *src)
{
    if (!src->head)
        return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    dst->len += src->len;
    src->head = src->tail = NULL;
    src->len = 0;
}

#endif
