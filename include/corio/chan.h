/* corio/chan.h - what every channel shares: messages, their ownership and
 * the options a channel is created with (mpsc, oneshot, broadcast, watch).
 *
 * Messages: a channel carries messages of one fixed size, `msg_size`
 * bytes (1 to CORIO_CHAN_MSG_MAX), given when it is created. Sending
 * copies msg_size bytes from the caller's buffer into the channel;
 * receiving copies them out into the caller's buffer. Small values (an
 * int, a struct of a few fields) travel by value this way. Anything larger
 * or of varying size travels by pointer: make msg_size sizeof(void *) and
 * send the pointer; ownership of what it points to passes with the
 * message, to the receiver on a successful receive, and back to the sender
 * when a send fails (closed channel, full, interrupted: the send did not
 * take the message, so the caller still owns it).
 *
 * Nothing leaks: messages still inside a channel when its last handle is
 * released are handed, one by one, to the channel's drop function (the
 * `drop, drop_arg` pair of corio_chan_opts), which frees what they own.
 * Without one they are simply discarded. A channel that gives one message
 * to several receivers (broadcast, watch) also takes a clone function (the
 * `clone, clone_arg` pair), which gives each receiver its own reference.
 *
 * Handles: each channel is allocated by the library and reference counted
 * by its handles (a sender, a receiver...); each handle is given back
 * exactly once with its _release call; the channel is freed with the last.
 * A handle is a pointer, used by one task or thread at a time unless its
 * header says otherwise (the channels' senders may be shared).
 */
#ifndef CORIO_CHAN_H
#define CORIO_CHAN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest message a channel carries by value. */
#define CORIO_CHAN_MSG_MAX ((size_t)65536)

/* Called for each message left in a channel when it is freed. */
typedef void (*corio_msg_drop_fn)(void *msg, void *arg);

/* Called on a receiver's copy of a message while the channel's own copy is
 * still alive: takes the receiver's own reference to what the message
 * points to (an atomic increment of a refcount, say). */
typedef void (*corio_msg_clone_fn)(void *msg, void *arg);

typedef struct corio_chan_opts {
    size_t msg_size;        /* bytes per message, 1..CORIO_CHAN_MSG_MAX */
    size_t capacity;        /* messages it holds (mpsc: 0 = unbounded;
                             * broadcast: required; oneshot, watch: unused) */
    corio_msg_drop_fn drop; /* for messages left inside; NULL: none */
    void *drop_arg;
    /* For channels that hand one message to several receivers (broadcast,
     * watch): called on each receiver's copy, before the channel's copy
     * can be dropped, so that a pointer message can be refcounted: each
     * receiver then owns a reference, the drop function releases the
     * channel's. NULL: receivers get plain copies. mpsc and oneshot ignore
     * it: there a message has exactly one owner, and moves to it. */
    corio_msg_clone_fn clone;
    void *clone_arg;
} corio_chan_opts;

#ifdef __cplusplus
}
#endif
#endif
