/* tests/util_fs.h - file-system helpers shared by tests/test_fs.c and
 * tests/test_fs_interrupt.c (definitions in tests/util_fs.c). */
#ifndef CORIO_TESTS_UTIL_FS_H
#define CORIO_TESTS_UTIL_FS_H

#include <stddef.h>

/* A scratch directory under /tmp. */
typedef struct tmpdir {
    char path[64];
} tmpdir;

/* Create a fresh scratch directory (mkdtemp; checked). */
void fs_tmp_make(tmpdir *d);

/* Remove the scratch directory and all in it (checked). */
void fs_tmp_remove(tmpdir *d);

/* out = "<d's path>/<name>" (at most cap bytes). */
void fs_path_in(char *out, size_t cap, const tmpdir *d, const char *name);

/* The test byte pattern's byte at offset i. */
unsigned char fs_pattern(size_t i);

/* A scratch directory with a FIFO in it, for reads that block. */
typedef struct slow_read {
    tmpdir d;
    char fifo[128];
} slow_read;

/* Make s's scratch directory and its FIFO, which nobody writes: a read of
 * it blocks in its job until the test writes (checked). */
void slow_read_make(slow_read *s);

#endif
