/* api — the dashboard's JSON API under /api/v1/ (docs/api.md). Pure request -> reply functions
 * over the store; the http module does the transport (and /api/v1/stream itself).
 *
 * Every reply is built from one model (report.h) or one store query, so every figure is exact and
 * from one store version. Money is integer đồng (plus *_text formatted strings). Errors are JSON:
 * {"error": "...", "field": "period"} with 400/404/500. */
#ifndef DK_API_H
#define DK_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aconf.h"
#include "child.h"
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

/* Gives the API the running child puller (borrowed, may be NULL: then POST .../pull answers 503
 * and `pulling` is false). Set by the daemon after child_new; must outlive the API's use of it. */
void api_set_child(api_t *self, child_t *child);

/* Answers POST `path` (after "/api/v1"): only "/children/NAME/pull" (child_pull_now; 202, 404
 * when no such child, 503 when no puller runs). Other paths: 404 if unknown, 405 if GET-only. */
void api_handle_post(api_t *self, const char *path, api_reply_t *reply);

/* True when `path` (after "/api/v1") is a POST route (http: GET there gives 405, Allow: POST). */
bool api_is_post_route(const char *path);

/* ---- child aggregators as people see them (GET /children, `dk-aggregator status`) ------------ */
/* A child is stale when no pull succeeded within 2 pull intervals (plus 1 s for the whole-second
 * clock), or never, or it is no longer configured (its figures stay in the store, unrefreshed). */
typedef struct {
    char *name;              /* [child NAME]; "" for a record of a child no longer configured */
    uint32_t unit;
    char *title;             /* [child] title, else the official name, else "Đơn vị NNNNN" */
    char *endpoint;          /* "" when not configured */
    bool configured;
    int64_t interval;        /* seconds between pulls; 0 when not configured */
    int64_t last_pull;       /* unix seconds of the last successful pull; 0: never */
    int64_t age;             /* now - last_pull; -1 when never */
    uint64_t child_version;  /* the child's version at that pull */
    char epoch[2 * 16 + 1];  /* the child's store epoch at that pull, hex; "" when none */
    uint32_t failed_pulls;   /* failed attempts since the last success */
    int64_t last_attempt;    /* unix seconds of the last failed attempt; 0: none */
    char last_error[256];    /* Vietnamese, for people; "" after a success */
    bool stale;
    uint32_t *units;         /* the units whose figures come from this child (owner == unit) */
    size_t nunits;
    uint64_t events;         /* sum of those units' counted events */
} api_child_t;

/* Reads the freshness of every configured child (confs, n: from child_conf_parse, in that order)
 * and of every child record in the store that no section configures any more, at time now.
 * *out gets *n entries; free with api_children_free. Returns 0 or DK_ESTORE. */
int api_children_read(struct store *store, const child_conf_t *confs, size_t nconfs, int64_t now,
                      api_child_t **out, size_t *n);
/* The same with names from a unit registry (aggregator/units.h, borrowed, may be NULL): a child
 * without a [child] title, and a record no section configures any more, get the registry's name
 * (else "Đơn vị NNNNN"). */
struct units;
int api_children_read_units(struct store *store, const child_conf_t *confs, size_t nconfs,
                            const struct units *units, int64_t now, api_child_t **out, size_t *n);
void api_children_free(api_child_t *list, size_t n);

#endif
