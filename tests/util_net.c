/* tests/util_net.c - network helpers shared by the net tests (see
 * util_net.h). */
#include "util_net.h"

#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "util.h"

void net_run_both(corio_fn fn, void *arg)
{
    CHECK_EQ(run_main(fn, arg), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, fn, arg, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

corio_tcp_listener *net_listen_any(char addr[CORIO_ADDR_STRLEN])
{
    corio_tcp_listener *l;
    CHECK_EQ(corio_tcp_listen("127.0.0.1:0", 128, &l), 0);
    corio_addr a;
    CHECK_EQ(corio_tcp_listener_local_addr(l, &a), 0);
    CHECK(corio_addr_port(&a) != 0);
    CHECK(corio_addr_format(&a, addr, CORIO_ADDR_STRLEN) > 0);
    return l;
}

int net_tcp_pending_reader(void *arg)
{
    corio_tcp *c = arg;
    char b;
    return (int)corio_tcp_read(c, &b, 1);
}

void net_tmp_path(char *buf, size_t size, const char *tag)
{
    static atomic_int seq;
    snprintf(buf, size, "/tmp/corio-test-%d-%s-%d.sock", (int)getpid(), tag,
             atomic_fetch_add(&seq, 1));
    unlink(buf);
}

bool net_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}
