/* api — the dashboard's JSON API under /api/v1/ (docs/api.md). Pure request -> reply functions
 * over the store; the http module does the transport (and /api/v1/stream itself).
 *
 * Every reply is built from one model (report.h) or one store query, so every figure is exact and
 * from one store version. Money is integer đồng (plus *_text formatted strings). Errors are JSON:
 * {"error": "...", "field": "period"} with 400/404/500. */
#ifndef DK_API_H
#define DK_API_H

#include <stddef.h>
#include <stdint.h>

#include "aconf.h"
#include "http.h"
#include "period.h"

struct store;
typedef struct api api_t;

typedef struct {
    unsigned status;          /* HTTP status */
    const char *content_type; /* static string */
    char *body;               /* owned */
    size_t len;
    char *filename;           /* owned; set: send Content-Disposition: attachment */
} api_reply_t;

/* Looks up query argument `name` of the request; returns NULL when absent. */
typedef const char *(api_arg_fn)(void *arg, const char *name);

/* A new API over store (borrowed), conf (borrowed) and hc (borrowed: plan, month-start,
 * silent-after). Loads the plan file when hc->plan is set. Returns 0 or DK_ECONFIG/DK_EIO with a
 * line in err. */
int api_new(api_t **out, struct store *store, const aconf_t *conf, const http_conf_t *hc,
            char *err, size_t errlen);
/* NULL-safe, idempotent, nulls *self_p. */
void api_destroy(api_t **self_p);

/* Answers GET `path` (the part after "/api/v1", e.g. "/units") into *reply (zeroed by caller;
 * clear with api_reply_clear). Unknown paths give 404. */
void api_handle(api_t *self, const char *path, api_arg_fn *arg, void *arg_ctx, api_reply_t *reply);
void api_reply_clear(api_reply_t *reply);

/* The store's current version (for SSE). */
uint64_t api_version(api_t *self);

#endif
