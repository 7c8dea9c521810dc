/* net/addr.c - socket addresses: parse, format, look up (corio/net.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "net/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <net/if.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "corio/error.h"
#include "corio/unix.h"

int addr_split(const char *s, char host[ADDR_HOST_MAX], char port[8])
{
    const char *colon;
    size_t hlen;
    bool bracketed = s[0] == '[';
    if (bracketed) {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        colon = close + 1;
        s++;
        hlen = (size_t)(close - s);
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -EINVAL;
        hlen = (size_t)(colon - s);
        if (memchr(s, ':', hlen)) /* IPv6 without brackets: which colon is the port's? */
            return -EINVAL;
    }
    if (hlen == 0 || hlen >= ADDR_HOST_MAX)
        return -EINVAL;
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (plen == 0 || plen > 5)
        return -EINVAL;
    unsigned v = 0;
    for (size_t i = 0; i < plen; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -EINVAL;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v > 65535)
        return -EINVAL;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (bracketed) { /* an IPv6 address, nothing else ("[127.0.0.1]", "[name]") */
        char v6[ADDR_HOST_MAX];
        size_t l = strcspn(host, "%");
        memcpy(v6, host, l);
        v6[l] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, v6, &a6) != 1)
            return -EINVAL;
    }
    memcpy(port, p, plen + 1);
    return 0;
}

static int from_gai(int e)
{
    switch (e) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return CORIO_ENOHOST;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_SYSTEM:
        return errno ? -errno : -EIO;
    default:
        return -EINVAL;
    }
}

bool addr_loose_ipv4(const char *host)
{
    struct in_addr a4;
    return inet_aton(host, &a4) != 0 && inet_pton(AF_INET, host, &a4) != 1;
}

int addr_lookup(const char *host, const char *port, int numeric, corio_addr *out, size_t max,
                size_t *n)
{
    /* getaddrinfo reads IPv4 with inet_aton, which takes "127.1",
     * "0x7f.0.0.1", "2130706433" and octal "010.0.0.1" (8.0.0.1) too, with
     * AI_NUMERICHOST or without (before any name lookup): a typo would
     * become another address. A numeric IPv4 host is a dotted quad. */
    if (addr_loose_ipv4(host))
        return -EINVAL;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : 0);
    int e = getaddrinfo(host, port, &hints, &res);
    if (e != 0)
        return numeric && e == EAI_NONAME ? -EINVAL : from_gai(e);
    size_t k = 0;
    for (struct addrinfo *ai = res; ai && k < max; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof out[k].sa)
            continue;
        memset(&out[k], 0, sizeof out[k]);
        memcpy(&out[k].sa, ai->ai_addr, ai->ai_addrlen);
        out[k].len = ai->ai_addrlen;
        k++;
    }
    freeaddrinfo(res);
    if (k == 0)
        return CORIO_ENOHOST;
    *n = k;
    return 0;
}

int corio_addr_parse(const char *str, corio_addr *out)
{
    if (!str || !out)
        return -EINVAL;
    char host[ADDR_HOST_MAX], port[8];
    int rc = addr_split(str, host, port);
    if (rc < 0)
        return rc;
    size_t n;
    return addr_lookup(host, port, 1, out, 1, &n);
}

int corio_addr_format(const corio_addr *a, char *buf, size_t size)
{
    if (!a || !buf)
        return -EINVAL;
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    int len;
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        len = snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
    } else if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        char scope[IF_NAMESIZE + 2] = "";
        if (in6->sin6_scope_id) {
            char ifn[IF_NAMESIZE];
            if (if_indextoname(in6->sin6_scope_id, ifn))
                snprintf(scope, sizeof scope, "%%%s", ifn);
            else
                snprintf(scope, sizeof scope, "%%%u", in6->sin6_scope_id);
        }
        len = snprintf(buf, size, "[%s%s]:%u", host, scope, ntohs(in6->sin6_port));
    } else {
        if (size)
            buf[0] = '\0';
        return -EINVAL;
    }
    if (len < 0 || (size_t)len >= size) {
        if (size)
            buf[0] = '\0';
        return -ENOSPC;
    }
    return len;
}

uint16_t corio_addr_port(const corio_addr *a)
{
    if (!a)
        return 0;
    if (a->sa.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
    if (a->sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
    return 0;
}

int addr_unix(const char *path, corio_addr *out)
{
    if (!path)
        return -EINVAL;
    bool abstract = path[0] == '@';
    size_t n = strlen(path + abstract);
    if (n == 0)
        return -EINVAL;
    if (n > CORIO_UNIX_PATH_MAX)
        return -ENAMETOOLONG;
    memset(out, 0, sizeof *out);
    struct sockaddr_un *sa = (struct sockaddr_un *)&out->sa;
    sa->sun_family = AF_UNIX;
    if (abstract) { /* sun_path[0] stays 0; the name has no NUL of its own */
        memcpy(sa->sun_path + 1, path + 1, n);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    } else {
        memcpy(sa->sun_path, path, n + 1);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int addr_unix_socket(const char *path, int type, bool bind_it)
{
    corio_addr a;
    int rc = addr_unix(path, &a);
    if (rc < 0)
        return rc;
    int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    const struct sockaddr *sa = (const struct sockaddr *)&a.sa;
    if ((bind_it ? bind(fd, sa, a.len) : connect(fd, sa, a.len)) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}
