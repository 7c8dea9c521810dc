/* tests/util_fs.c - file-system helpers shared by the fs tests (see
 * util_fs.h). */
#include "util_fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

void fs_tmp_make(tmpdir *d)
{
    strcpy(d->path, "/tmp/corio-fs-XXXXXX");
    CHECK(mkdtemp(d->path) != NULL);
}

void fs_tmp_remove(tmpdir *d)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->path);
    CHECK_EQ(system(cmd), 0);
}

void fs_path_in(char *out, size_t cap, const tmpdir *d, const char *name)
{
    snprintf(out, cap, "%s/%s", d->path, name);
}

unsigned char fs_pattern(size_t i)
{
    return (unsigned char)(i * 131 + (i >> 9) + 7);
}
