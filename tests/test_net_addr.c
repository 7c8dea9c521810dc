/* Tests of corio/net.h: address strings and name resolution. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "util.h"

static void parse_ok(const char *in, const char *out, int family, unsigned port)
{
    corio_addr a;
    int rc = corio_addr_parse(in, &a);
    if (rc != 0)
        test_failf(__FILE__, __LINE__, "parse(\"%s\") = %s", in, corio_err_name(rc));
    CHECK_EQ(a.sa.ss_family, family);
    CHECK_EQ(corio_addr_port(&a), port);
    char buf[CORIO_ADDR_STRLEN];
    CHECK_EQ(corio_addr_format(&a, buf, sizeof buf), (int)strlen(out));
    if (strcmp(buf, out) != 0)
        test_failf(__FILE__, __LINE__, "format(parse(\"%s\")) = \"%s\", not \"%s\"", in, buf, out);
}

TEST(net_addr_parse_and_format_round_trip)
{
    parse_ok("127.0.0.1:8080", "127.0.0.1:8080", AF_INET, 8080);
    parse_ok("0.0.0.0:0", "0.0.0.0:0", AF_INET, 0);
    parse_ok("[::1]:0", "[::1]:0", AF_INET6, 0);
    parse_ok("[::]:65535", "[::]:65535", AF_INET6, 65535);
    parse_ok("[2001:db8::42]:443", "[2001:db8::42]:443", AF_INET6, 443);
    parse_ok("[::ffff:10.0.0.1]:1", "[::ffff:10.0.0.1]:1", AF_INET6, 1);
    parse_ok("255.255.255.255:9", "255.255.255.255:9", AF_INET, 9);
    parse_ok("10.0.0.1:1", "10.0.0.1:1", AF_INET, 1);
    /* an IPv6 scope stays allowed in brackets (interface 1 is loopback) */
    corio_addr a;
    CHECK_EQ(corio_addr_parse("[fe80::1%1]:22", &a), 0);
    CHECK_EQ(a.sa.ss_family, AF_INET6);
    CHECK_EQ(((struct sockaddr_in6 *)&a.sa)->sin6_scope_id, 1);
}

TEST(net_addr_bad_strings_are_einval)
{
    const char *bad[] = {
        "",                 /* nothing */
        "127.0.0.1",        /* no port */
        "127.0.0.1:",       /* empty port */
        ":80",              /* empty host */
        "127.0.0.1:65536",  /* port too big */
        "127.0.0.1:123456", /* port too long */
        "127.0.0.1:8o",     /* not a number */
        "127.0.0.1:-1",     /* negative */
        "::1:80",           /* IPv6 without brackets */
        "[::1]80",          /* no colon after the bracket */
        "[::1:80",          /* unclosed bracket */
        "[]:80",            /* empty IPv6 host */
        "300.1.1.1:80",     /* not an address */
        "localhost:80",     /* a name: parse is numeric only */
        "[localhost]:80",
        /* IPv4 is a dotted quad of decimals (inet_pton), not inet_aton's
         * forms, which getaddrinfo took: each was another address */
        "127.1:80",         /* 127.0.0.1 */
        "1.2.3:80",         /* 1.2.0.3 */
        "0x7f.0.0.1:80",    /* hexadecimal */
        "010.0.0.1:80",     /* octal: 8.0.0.1 */
        "01.2.3.4:80",      /* a leading zero */
        "2130706433:80",    /* one number */
        "127.0.0.1 x:80",   /* junk after it */
        " 127.0.0.1:80",    /* a space before it */
        /* brackets hold an IPv6 address, nothing else */
        "[127.0.0.1]:80",
        "[1.2.3.4]:0",
        "[fe80::1%]:22",    /* an empty scope */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        corio_addr a;
        int rc = corio_addr_parse(bad[i], &a);
        if (rc != -EINVAL)
            test_failf(__FILE__, __LINE__, "parse(\"%s\") = %s, not -EINVAL", bad[i],
                       corio_err_name(rc));
    }
    corio_addr a;
    CHECK_EQ(corio_addr_parse(NULL, &a), -EINVAL);
    CHECK_EQ(corio_addr_parse("127.0.0.1:1", NULL), -EINVAL);
    char buf[8];
    CHECK_EQ(corio_addr_format(NULL, buf, sizeof buf), -EINVAL);
    CHECK_EQ(corio_addr_parse("127.0.0.1:8080", &a), 0);
    CHECK_EQ(corio_addr_format(&a, NULL, 4), -EINVAL);
    CHECK_EQ(corio_addr_format(&a, buf, sizeof buf), -ENOSPC); /* 14 bytes do not fit in 8 */
    CHECK_EQ(buf[0], '\0');
    CHECK_EQ(corio_addr_port(NULL), 0);
    corio_addr none = {0};
    CHECK_EQ(corio_addr_format(&none, buf, sizeof buf), -EINVAL);
    CHECK_EQ(corio_addr_port(&none), 0);
}

static int resolve_main(void *arg)
{
    (void)arg;
    corio_addr out[8];
    size_t n = 0;
    /* numeric: at once */
    CHECK_EQ(corio_addr_resolve("127.0.0.1:99", out, 8, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(corio_addr_port(&out[0]), 99);
    /* a name from /etc/hosts, through the blocking pool */
    CHECK_EQ(corio_addr_resolve("localhost:80", out, 8, &n), 0);
    CHECK(n >= 1);
    for (size_t i = 0; i < n; i++) {
        CHECK(out[i].sa.ss_family == AF_INET || out[i].sa.ss_family == AF_INET6);
        CHECK_EQ(corio_addr_port(&out[i]), 80);
    }
    /* an unknown name (.invalid never resolves, RFC 6761): no address */
    int rc = corio_addr_resolve("no-such-host.invalid:80", out, 8, &n);
    CHECK(rc == CORIO_ENOHOST || rc == -EAGAIN);
    /* misuse */
    CHECK_EQ(corio_addr_resolve(NULL, out, 8, &n), -EINVAL);
    CHECK_EQ(corio_addr_resolve("localhost:80", NULL, 8, &n), -EINVAL);
    CHECK_EQ(corio_addr_resolve("localhost:80", out, 0, &n), -EINVAL);
    CHECK_EQ(corio_addr_resolve("localhost:80", out, 8, NULL), -EINVAL);
    CHECK_EQ(corio_addr_resolve("localhost", out, 8, &n), -EINVAL);
    /* brackets hold an IPv6 address, for the calls that take names too */
    CHECK_EQ(corio_addr_resolve("[127.0.0.1]:80", out, 8, &n), -EINVAL);
    CHECK_EQ(corio_addr_resolve("[localhost]:80", out, 8, &n), -EINVAL);
    CHECK_EQ(corio_addr_resolve("[::1]:80", out, 8, &n), 0);
    CHECK_EQ(out[0].sa.ss_family, AF_INET6);
    /* IPv4 in inet_aton's other forms is malformed for the calls that take
     * names too (getaddrinfo would read "010.0.0.1" as 8.0.0.1), at once,
     * without a lookup; even a cancelled task gets -EINVAL, not the code of
     * an await */
    const char *loose[] = {"127.1:80", "1.2.3:80", "0x7f.0.0.1:80", "010.0.0.1:80",
                           "2130706433:80"};
    for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++)
        CHECK_EQ(corio_addr_resolve(loose[i], out, 8, &n), -EINVAL);
    corio_tcp *c = NULL;
    CHECK_EQ(corio_tcp_connect("127.1:9", &c), -EINVAL);
    CHECK(c == NULL);
    /* names that look like hex are names */
    int rc2 = corio_addr_resolve("cafe.invalid:80", out, 8, &n);
    CHECK(rc2 == CORIO_ENOHOST || rc2 == -EAGAIN);
    return 0;
}

TEST(net_resolve_numbers_names_and_unknown_hosts)
{
    CHECK_EQ(run_main(resolve_main, NULL), 0);
    /* plain code blocks the thread instead */
    corio_addr a;
    size_t n;
    CHECK_EQ(corio_addr_resolve("localhost:1", &a, 1, &n), 0);
    CHECK_EQ(n, 1);
}

/* A cancelled lookup returns at once and leaks nothing (its job frees the
 * request when it ends). */
static int resolve_forever(void *arg)
{
    (void)arg;
    corio_addr a[4];
    size_t n;
    return corio_addr_resolve("localhost:80", a, 4, &n);
}

static int resolve_cancel_main(void *arg)
{
    int rounds = (int)(intptr_t)arg;
    for (int i = 0; i < rounds; i++) {
        corio_task *t;
        CHECK_EQ(corio_spawn(resolve_forever, NULL, &t), 0);
        if (i % 2)
            corio_yield();
        corio_task_abort(t);
        int r;
        int rc = corio_task_join(t, &r);
        CHECK(rc == 0 || rc == CORIO_ECANCELED);
        CHECK(r == 0 || r == CORIO_ECANCELED);
    }
    return 0;
}

/* Each lookup's request (about 1.4 KiB) would be lost if the caller that
 * gave up, or the job that never ran, forgot its reference. malloc's own
 * count moves by some KiB with thread arenas and caches however many
 * lookups run, so it is read after a first round (glibc's resolver state,
 * the arenas of the pool's threads) and must not grow with the count. */
static void cancel_rounds(int rounds)
{
    CHECK_EQ(run_main(resolve_cancel_main, (void *)(intptr_t)rounds), 0);
    corio_rt *rt = new_mt_rt(2);
    int rc;
    CHECK_EQ(corio_rt_block_on(rt, resolve_cancel_main, (void *)(intptr_t)rounds, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(corio_rt_free(rt), 0);
}

TEST(net_resolve_cancelled_leaks_nothing)
{
    cancel_rounds(50);
    size_t before = heap_in_use();
    cancel_rounds(SCALE(300, 100, 50));
    size_t after = heap_in_use();
    if (after > before + 65536)
        test_failf(__FILE__, __LINE__, "heap grew by %zu bytes", after - before);
}
