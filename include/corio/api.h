/* corio/api.h - how the public functions are declared.
 *
 * CORIO_API marks every function of corio's public API. The library is
 * built with hidden visibility for everything else, so only these leave it
 * (the internal names are also made local in libcorio.a: a program may
 * define its own task_init or driver_open).
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
