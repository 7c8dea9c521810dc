/* tests/small_messages.c - a user program whose messages are smaller than
 * the channels' inlined 8-byte copy: int, char, 3-byte structs, in locals
 * and in globals, through every call that copies into or out of a caller's
 * buffer.
 *
 * Its build is the check: it is compiled like a user's program (the
 * library's flags, -Werror, link-time optimisation against libcorio.a in
 * an LTO build), where gcc once inlined the 8-byte copy into the caller and
 * failed the build with -Wstringop-overflow for a copy that never runs
 * (sync/waitq.h, SYNC_COPY_ENTRY). tests/test_sync_mpsc.c runs it. */
#include <corio.h>
#include <stdio.h>

typedef struct three {
    char b[3];
} three;

static int g_int = 3, g_int_out;
static char g_char_out;
static three g_three_out;

static int body(void *arg)
{
    (void)arg;
    int sum = 0;
    corio_mpsc_tx *tx;
    corio_mpsc_rx *rx;
    if (corio_mpsc_new(sizeof(int), 4, &tx, &rx))
        return -1;
    int v = 5, w = 0;
    corio_mpsc_send(tx, &v);
    corio_mpsc_send(tx, &g_int);
    corio_mpsc_try_send(tx, &v);
    corio_mpsc_recv(rx, &w);
    sum += w;
    corio_mpsc_recv(rx, &g_int_out);
    sum += g_int_out;
    corio_mpsc_try_recv(rx, &w);
    sum += w;
    corio_mpsc_recv_fut rf;
    corio_mpsc_send(tx, &v);
    corio_mpsc_recv_fut_init(&rf, rx, &w);
    if (corio_await(&rf.base) == 0)
        sum += w;
    corio_mpsc_tx_release(tx);
    corio_mpsc_rx_release(rx);

    corio_mpsc_tx *ct;
    corio_mpsc_rx *cr;
    if (corio_mpsc_new(1, 2, &ct, &cr))
        return -1;
    char c = 7;
    corio_mpsc_send(ct, &c);
    corio_mpsc_recv(cr, &g_char_out);
    sum += g_char_out;
    corio_mpsc_tx_release(ct);
    corio_mpsc_rx_release(cr);

    corio_broadcast_tx *bt;
    corio_broadcast_rx *br;
    if (corio_broadcast_new(sizeof(three), 4, &bt, &br))
        return -1;
    three t = {{1, 2, 3}};
    corio_broadcast_send(bt, &t);
    uint64_t lag;
    corio_broadcast_recv(br, &g_three_out, &lag);
    sum += g_three_out.b[2];
    corio_broadcast_tx_release(bt);
    corio_broadcast_rx_release(br);

    corio_oneshot_tx *ot;
    corio_oneshot_rx *orx;
    if (corio_oneshot_new(sizeof(char), &ot, &orx))
        return -1;
    corio_oneshot_send(ot, &c);
    corio_oneshot_recv(orx, &g_char_out);
    sum += g_char_out;
    corio_oneshot_rx_release(orx);
    return sum; /* 5 + 3 + 5 + 5 + 7 + 3 + 7 */
}

int main(void)
{
    int r = 0;
    if (corio_run(body, NULL, &r) != 0)
        return 2;
    printf("%d\n", r);
    return r == 35 ? 0 : 1;
}
