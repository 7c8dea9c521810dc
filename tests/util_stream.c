/* tests/util_stream.c - stream helpers shared by the stream tests (see
 * util_stream.h). */
#include "util_stream.h"

#include <stdlib.h>
#include <string.h>

#include "test.h"

static corio_stream_poll cs_poll(corio_stream *b, corio_context *cx, corio_item *out)
{
    cstream *s = (cstream *)b;
    s->polls++;
    CHECK(s->drops == 0);
    if (s->pend && (s->flip = !s->flip)) {
        corio_waker_wake_by_ref(corio_context_waker(cx));
        return CORIO_STREAM_PENDING;
    }
    if (s->next == s->n) {
        b->result = s->end_rc;
        b->vtable = NULL; /* polled again after END would crash: fused adapters never do */
        return CORIO_STREAM_END;
    }
    out->i = s->next++;
    return CORIO_STREAM_ITEM;
}

static void cs_drop(corio_stream *b)
{
    ((cstream *)b)->drops++;
}

static const corio_stream_vtable stream_cs_vt = {cs_poll, cs_drop};

void stream_cs_init(cstream *s, int64_t n)
{
    memset(s, 0, sizeof *s);
    corio_stream_init(&s->base, &stream_cs_vt);
    s->n = n;
}

/* Heap objects as pointer items, counted. */
atomic_int stream_live_objs;

corio_item stream_obj_item(int64_t v)
{
    int64_t *p = malloc(sizeof *p);
    CHECK(p != NULL);
    *p = v;
    atomic_fetch_add(&stream_live_objs, 1);
    return (corio_item){.p = p};
}

void stream_obj_item_drop(corio_item it, void *arg)
{
    if (arg)
        (*(int *)arg)++;
    free(it.p);
    atomic_fetch_sub(&stream_live_objs, 1);
}

bool stream_is_odd(corio_item x, void *arg)
{
    (void)arg;
    return x.i % 2 != 0;
}

corio_item stream_times10(corio_item x, void *arg)
{
    (void)arg;
    return (corio_item){.i = x.i * 10};
}

corio_item stream_sum_fn(corio_item acc, corio_item x, void *arg)
{
    (void)arg;
    return (corio_item){.i = acc.i + x.i};
}

static corio_stream_poll otn_poll(corio_stream *b, corio_context *cx, corio_item *out)
{
    one_then_never *s = (one_then_never *)b;
    if (!s->given) {
        s->given = true;
        *out = stream_obj_item(42);
        return CORIO_STREAM_ITEM;
    }
    corio_waker_store(&s->w, corio_context_waker(cx));
    return CORIO_STREAM_PENDING;
}

static void otn_drop(corio_stream *b)
{
    corio_waker_drop(&((one_then_never *)b)->w);
}

const corio_stream_vtable stream_otn_vt = {otn_poll, otn_drop};
