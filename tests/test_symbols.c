/* tests/test_symbols.c - only corio_* names leave the library.
 *
 * libcorio.so exports the CORIO_API functions and nothing else; libcorio.a
 * also holds the names its files share, all in the reserved corio__
 * namespace (src/internal_names.h), so a program may define its own
 * task_init or driver_open. These tests read the symbol tables with nm and
 * link a program that defines such names (tests/symbol_clash.c).
 */
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static const char *nm_tool(void)
{
    const char *nm = getenv("CORIO_NM");
    return nm && *nm ? nm : "nm";
}

/* Run `nm <flags> <lib>` and ask fn(name, ctx) whether each defined
 * global symbol (text, data, bss, read-only, weak) is fine, but a
 * sanitizer's own markers beside our globals (ASan's one-definition
 * indicators, __odr_asan.<name>: artefacts of that build only). Every
 * name refused is printed with `why`, and the test fails if there is one.
 * Returns how many symbols were asked about. */
typedef bool (*symbol_fn)(const char *name, void *ctx);

static int each_global(const char *flags, const char *lib, symbol_fn fn, void *ctx,
                       const char *why)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s %s %s/lib/%s 2>&1", nm_tool(), flags, test_build_dir(), lib);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    char line[512];
    int n = 0, bad = 0;
    while (fgets(line, sizeof line, p)) {
        char addr[64], type[8], name[256];
        if (sscanf(line, "%63s %7s %255s", addr, type, name) != 3 || !strchr("TDBRVWiu", type[0]))
            continue;
        if (strncmp(name, "__odr_asan", 10) == 0)
            continue;
        n++;
        if (!fn(name, ctx)) {
            printf("%s exports %s (%s): %s\n", lib, name, type, why);
            bad++;
        }
    }
    CHECK_EQ(pclose(p), 0);
    CHECK_EQ(bad, 0);
    return n;
}

/* A public corio_ name, or (*internal_ok) an internal corio__ one. */
static bool is_corio_name(const char *name, void *internal_ok)
{
    return strncmp(name, "corio_", 6) == 0 && (name[6] != '_' || *(bool *)internal_ok);
}

/* Check that every defined global symbol of `lib` is a public corio_ one,
 * or (`internal_ok`) an internal corio__ one; returns how many there are. */
static int check_exports(const char *flags, const char *lib, bool internal_ok)
{
    return each_global(flags, lib, is_corio_name, &internal_ok, "not a corio_ name");
}

TEST(symbols_static_library_exports_only_api)
{
    int n = check_exports("-g --defined-only", "libcorio.a", true);
    printf("libcorio.a: %d global symbols, all corio_* or corio__*\n", n);
    CHECK(n > 40); /* the API itself is there */
}

TEST(symbols_shared_library_exports_only_api)
{
    int n = check_exports("-D --defined-only", "libcorio.so", false);
    printf("libcorio.so: %d dynamic symbols, all corio_*\n", n);
    CHECK(n > 40);
}

TEST(symbols_user_program_may_define_internal_names)
{
    char cmd[512], out[256];
    snprintf(cmd, sizeof cmd, "%s/tests/symbol_clash", test_build_dir());
    CHECK_EQ(test_run_capture(cmd, out, sizeof out), 0);
    CHECK(strcmp(out, "ok\n") == 0);
}

/* Every name libcorio.so exports is declared in a public header: nothing
 * leaves the library by mistake (a helper that lost its `static`, an
 * internal name without the corio__ prefix that the visibility rules let
 * through), and nothing is exported without a contract. Reads the headers
 * from include/corio (the suite runs from the repository's root). */
static char *read_headers(size_t *len)
{
    glob_t g;
    CHECK_EQ(glob("include/corio/*.h", 0, NULL, &g), 0);
    CHECK(g.gl_pathc > 10);
    size_t cap = 1 << 20, n = 0;
    char *all = malloc(cap);
    CHECK(all != NULL);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        FILE *f = fopen(g.gl_pathv[i], "r");
        CHECK(f != NULL);
        size_t r;
        while ((r = fread(all + n, 1, cap - n - 1, f)) > 0) {
            n += r;
            if (cap - n < 4096) {
                cap *= 2;
                all = realloc(all, cap);
                CHECK(all != NULL);
            }
        }
        fclose(f);
    }
    all[n] = 0;
    globfree(&g);
    *len = n;
    return all;
}

static bool is_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* `name` appears in `text` as a whole word. */
static bool has_word(const char *text, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = text; (p = strstr(p, name)) != NULL; p += len)
        if ((p == text || !is_ident_char(p[-1])) && !is_ident_char(p[len]))
            return true;
    return false;
}

static bool in_headers(const char *name, void *headers)
{
    return has_word(headers, name);
}

TEST(symbols_every_export_is_declared_in_a_header)
{
    size_t len;
    char *headers = read_headers(&len);
    int n = each_global("-D --defined-only", "libcorio.so", in_headers, headers,
                        "no header in include/corio declares it");
    free(headers);
    printf("%d exports, each declared in a header\n", n);
    CHECK(n > 40);
}
