/* tests/util_fs.c - file-system helpers shared by the fs tests (see
 * util_fs.h). */
#include "util_fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"

void fs_tmp_make(tmpdir *d)
{
    strcpy(d->path, "/tmp/corio-fs-XXXXXX");
    CHECK(mkdtemp(d->path) != NULL);
}

void slow_read_make(slow_read *s)
{
    fs_tmp_make(&s->d);
    fs_path_in(s->fifo, sizeof s->fifo, &s->d, "fifo");
    CHECK_EQ(mkfifo(s->fifo, 0600), 0);
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
