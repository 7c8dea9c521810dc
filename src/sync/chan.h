/* sync/chan.h - what every channel's constructor shares (internal): the
 * handles it makes are NULL on every failure (docs/conventions.md, so a
 * cleanup path may release them unconditionally), and the options every
 * channel needs (a message size; NULL options are a zeroed struct, whose
 * size 0 is invalid). */
#ifndef CORIO_SYNC_CHAN_H
#define CORIO_SYNC_CHAN_H

#include <stdbool.h>
#include <stddef.h>

#include "corio/chan.h"
#include "corio/error.h"

/* True when `opts` gives a message size a channel can carry. */
static inline bool chan_opts_ok(const corio_chan_opts *opts)
{
    return opts && opts->msg_size != 0 && opts->msg_size <= CORIO_CHAN_MSG_MAX;
}

/* The first statement of a channel's _new_with: clears the handle
 * pointers it was given, and returns -EINVAL from the constructor when one
 * is missing or the options are not usable. (A macro: the handles are of
 * each channel's own types.) */
#define CHAN_NEW_BEGIN(opts, tx, rx)                                                     \
    do {                                                                                 \
        if (tx)                                                                          \
            *(tx) = NULL;                                                                \
        if (rx)                                                                          \
            *(rx) = NULL;                                                                \
        if (!(tx) || !(rx) || !chan_opts_ok(opts))                                       \
            return -EINVAL;                                                              \
    } while (0)

#endif
