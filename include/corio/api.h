/* corio/api.h - how the public functions are declared.
 *
 * CORIO_API marks every function of corio's public API. The library is
 * built with hidden visibility for everything else, so only these leave
 * libcorio.so; in libcorio.a the names its files share carry the reserved
 * corio__ prefix (src/internal_names.h), so a program may define its own
 * task_init or driver_open (docs/conventions.md).
 */
#ifndef CORIO_API_H
#define CORIO_API_H

#ifndef CORIO_API
#if defined(__GNUC__) || defined(__clang__)
#define CORIO_API __attribute__((visibility("default")))
#else
#define CORIO_API
#endif
#endif

#endif
