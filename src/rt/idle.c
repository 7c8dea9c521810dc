/* rt/idle.c - sleeping and searching workers (see idle.h). */
#include "rt/idle.h"

#include <stdlib.h>

#include "corio/error.h"

#define UNPARK_ONE ((uint64_t)1 << 32)
#define SEARCH_ONE ((uint64_t)1)

static inline unsigned num_searching(uint64_t s)
{
    return (unsigned)(s & 0xffffffffu);
}

static inline unsigned num_unparked(uint64_t s)
{
    return (unsigned)(s >> 32);
}

int idle_init(idle *id, unsigned num_workers)
{
    id->sleepers = calloc(num_workers ? num_workers : 1, sizeof *id->sleepers);
    if (!id->sleepers)
        return -ENOMEM;
    id->num_workers = num_workers;
    id->n_sleepers = 0;
    atomic_init(&id->state, (uint64_t)num_workers * UNPARK_ONE);
    pthread_mutex_init(&id->lock, NULL);
    return 0;
}

void idle_destroy(idle *id)
{
    pthread_mutex_destroy(&id->lock);
    free(id->sleepers);
}

static bool should_notify(idle *id)
{
    uint64_t s = atomic_load_explicit(&id->state, memory_order_seq_cst);
    return num_searching(s) == 0 && num_unparked(s) < id->num_workers;
}

/* With the lock held and a sleeper there: take the last one off the
 * sleepers, counted unparked and searching. */
static int pop_sleeper_locked(idle *id)
{
    atomic_fetch_add_explicit(&id->state, UNPARK_ONE + SEARCH_ONE, memory_order_seq_cst);
    return (int)id->sleepers[--id->n_sleepers];
}

int idle_worker_to_notify(idle *id)
{
    /* The cheap test first, without the lock: the common case on a busy
     * runtime is that someone is searching or everyone is awake. */
    if (!should_notify(id))
        return -1;
    pthread_mutex_lock(&id->lock);
    int w = should_notify(id) && id->n_sleepers > 0 ? pop_sleeper_locked(id) : -1;
    pthread_mutex_unlock(&id->lock);
    return w;
}

int idle_wake_any(idle *id, int except, _Atomic int *mark)
{
    pthread_mutex_lock(&id->lock);
    int w = -1;
    for (unsigned i = id->n_sleepers; i-- > 0;) {
        if ((int)id->sleepers[i] == except)
            continue;
        /* The one found goes last, to be popped (the others keep their
         * order but for the one swapped into its place). */
        unsigned t = id->sleepers[i];
        id->sleepers[i] = id->sleepers[id->n_sleepers - 1];
        id->sleepers[id->n_sleepers - 1] = t;
        w = pop_sleeper_locked(id);
        if (mark)
            atomic_store_explicit(mark, w + 1, memory_order_relaxed);
        break;
    }
    pthread_mutex_unlock(&id->lock);
    return w;
}

bool idle_to_searching(idle *id)
{
    uint64_t s = atomic_load_explicit(&id->state, memory_order_seq_cst);
    if (2 * num_searching(s) >= id->num_workers)
        return false;
    atomic_fetch_add_explicit(&id->state, SEARCH_ONE, memory_order_seq_cst);
    return true;
}

bool idle_from_searching(idle *id)
{
    uint64_t prev = atomic_fetch_sub_explicit(&id->state, SEARCH_ONE, memory_order_seq_cst);
    return num_searching(prev) == 1;
}

bool idle_to_parked(idle *id, unsigned index, bool searching)
{
    pthread_mutex_lock(&id->lock);
    uint64_t dec = UNPARK_ONE + (searching ? SEARCH_ONE : 0);
    uint64_t prev = atomic_fetch_sub_explicit(&id->state, dec, memory_order_seq_cst);
    id->sleepers[id->n_sleepers++] = index;
    pthread_mutex_unlock(&id->lock);
    return searching && num_searching(prev) == 1;
}

bool idle_from_parked(idle *id, unsigned index, bool has_work)
{
    bool searching = true; /* notified: the notifier counted it searching */
    pthread_mutex_lock(&id->lock);
    for (unsigned i = 0; i < id->n_sleepers; i++) {
        if (id->sleepers[i] == index) {
            id->sleepers[i] = id->sleepers[--id->n_sleepers];
            searching = !has_work;
            atomic_fetch_add_explicit(&id->state, UNPARK_ONE + (searching ? SEARCH_ONE : 0),
                                      memory_order_seq_cst);
            break;
        }
    }
    pthread_mutex_unlock(&id->lock);
    return searching;
}

bool idle_is_parked(idle *id, unsigned index)
{
    pthread_mutex_lock(&id->lock);
    bool found = false;
    for (unsigned i = 0; i < id->n_sleepers && !found; i++)
        found = id->sleepers[i] == index;
    pthread_mutex_unlock(&id->lock);
    return found;
}
