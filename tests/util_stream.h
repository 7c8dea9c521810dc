/* tests/util_stream.h - stream helpers shared by tests/test_stream.c and
 * tests/test_stream_sources.c (definitions in tests/util_stream.c). */
#ifndef CORIO_TESTS_UTIL_STREAM_H
#define CORIO_TESTS_UTIL_STREAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "corio/stream.h"

/* A stream of 0..n-1 that counts its polls and drops; `pend` makes every
 * other poll PENDING (after waking itself); it ends with `end_rc`. */
typedef struct cstream {
    corio_stream base;
    int64_t next, n;
    int end_rc;
    bool pend, flip;
    int polls, drops;
} cstream;

/* Zero `s` and make it a cstream of 0..n-1 (no pend, end_rc 0). */
void stream_cs_init(cstream *s, int64_t n);

/* Heap objects as pointer items: the count of those not yet freed. */
extern atomic_int stream_live_objs;

/* A fresh heap int64_t `v` as a pointer item (counted in stream_live_objs). */
corio_item stream_obj_item(int64_t v);

/* Item drop for stream_obj_item items: frees it; counts the call in
 * *(int *)arg when arg is set. */
void stream_obj_item_drop(corio_item it, void *arg);

/* Filter: whether the integer item is odd. */
bool stream_is_odd(corio_item x, void *arg);

/* Map: the integer item times 10. */
corio_item stream_times10(corio_item x, void *arg);

/* Fold: acc + x, as integers. */
corio_item stream_sum_fn(corio_item acc, corio_item x, void *arg);

/* A stream that gives one pointer item (stream_obj_item(42)), then stays
 * pending for ever; its drop drops the stored waker. Zero it and give it
 * stream_otn_vt (corio_stream_init). */
typedef struct one_then_never {
    corio_stream base;
    bool given;
    corio_waker w;
} one_then_never;

extern const corio_stream_vtable stream_otn_vt;

#endif
