/* xmalloc — allocation that never returns NULL.
 *
 * Out of memory is not a condition doanket recovers from: these abort with a log line instead,
 * so callers need no NULL checks (STYLE.md: one deliberate OOM policy). */
#ifndef DK_XMALLOC_H
#define DK_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* A copy of s that the caller frees; NULL when s is NULL. */
char *xstrdup(const char *s);
/* A copy of the first n bytes of s, NUL-terminated; the caller frees. */
char *xstrndup(const char *s, size_t n);
/* Like asprintf, aborting on failure; the caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
