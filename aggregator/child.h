/* child — a parent aggregator pulling its child aggregators' snapshots (province over districts,
 * nation over provinces).
 *
 * Config (one section per child, in the parent's dk-aggregator config; aconf keeps the raw lines,
 * this module parses them with its own common/conf.h table):
 *
 *   [child dakmil]                       ; NAME: a short ASCII name, used in logs and the API
 *   unit = 663                           ; the child's unit code (checked against Snapshot.unit)
 *   endpoint = tcp://10.0.3.2:7700       ; the child dk-aggregator's ROUTER ([aggregator] bind)
 *   server-key = <40 Z85 characters>     ; the child aggregator's public key
 *   key-file = /etc/doanket/reader.key   ; optional: this parent's key pair used to pull (keys.h
 *                                        ;   format). Default: the parent's [aggregator] key-file.
 *                                        ;   Its public key must be a [reader NAME] in the child's
 *                                        ;   config (role = province).
 *   interval = 60s                       ; pull period (1s .. 1d)
 *   timeout = 20s                        ; one pull attempt's deadline; must be < interval
 *   page-cells = 5000                    ; SnapshotRequest.max_cells (the child caps it)
 *   full-every = 60                      ; force a full resync every N successful pulls (0: never)
 *   title = Huyện Đắk Mil                ; optional: the unit's name on the dashboard and in status
 *
 * Protocol (DESIGN.md guarantee 5, proto/doanket.proto SnapshotRequest/Snapshot): one CURVE DEALER
 * per child, in the loop thread (common/zloop.h). A pull sends SnapshotRequest{since_version = the
 * child version the store holds; absent when none is held or a resync is due} and follows `next`
 * until it is absent. A full snapshot is followed by an incremental pass since its first page's
 * version (Clone pattern), so its pages, read at different versions, become consistent. Every page
 * of one pull is collected in memory and applied in ONE store transaction (store_child_apply):
 * absolute cell values, replace-all when full. So a parent never adds a child's figures twice, and a
 * pull that fails half way changes nothing.
 *
 * A full resync happens when: the store holds no version for the child; the child answers
 * `resync`; the child's epoch (Snapshot.epoch, held durably with its version in the store's child
 * record) differs from the one held — a child restored from an older backup gets a new epoch, so
 * this holds even when its version has already climbed past the one held — or its pages of one
 * pull disagree on it; the child's version is lower than the one held; a unit state
 * in an incremental reply goes backwards (a commune's high-water mark or event count below what
 * the parent holds); the sum of the child's unit event counts does not match Snapshot.events; or
 * every `full-every` pulls as a safety net.
 *
 * Each child has its own timer, socket and deadline: a slow or dead child never stalls another.
 * On a timeout the socket is closed and a fresh one is made for the next attempt (a DEALER would
 * otherwise deliver a stale reply to the next request). Failures are recorded durably in the store
 * (failed attempts, last error, time) so the dashboard can mark stale children; successes record
 * the child's version and the time of the pull.
 *
 * Threading: everything runs in the loop thread that owns the store's writer. */
#ifndef DK_CHILD_H
#define DK_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "aconf.h"
#include "doanket.pb-c.h"

struct store;

typedef struct child_s child_t;

/* One [child NAME] section as parsed. */
typedef struct {
    char *name;          /* NAME of [child NAME] */
    int64_t unit;        /* the child's unit code */
    char *endpoint;      /* ZeroMQ endpoint of the child's ROUTER */
    char *server_key;    /* Z85 public key of the child aggregator */
    char *key_file;      /* the parent's key pair for pulling; NULL: [aggregator] key-file */
    int64_t interval_ms; /* pull period */
    int64_t timeout_ms;  /* one attempt's deadline (< interval_ms) */
    int64_t page_cells;  /* cells per page asked for */
    int64_t full_every;  /* forced full resync every N successful pulls; 0: never */
    int line;            /* line of the section header, for messages */
    char *title;         /* the child unit's name as people read it ("" when not given) */
} child_conf_t;

/* What a caller (the API, `status`, tests) can see of one child without touching the store. The
 * durable record (last successful pull, child version, failed pulls, last error) is the store's
 * child state; this is the live side. Strings are borrowed and live until the next child_* call. */
typedef struct {
    const char *name;
    uint32_t unit;
    const char *endpoint;
    bool pulling;            /* a pull is in flight */
    uint64_t pulls_ok;       /* since start */
    uint64_t pulls_failed;   /* since start */
    uint32_t failed_in_row;  /* consecutive failures (0 after a success) */
    int64_t last_ok;         /* unix seconds of the last successful pull (0: none since start) */
    int64_t last_attempt;    /* unix seconds */
    uint64_t child_version;  /* the child's version at the last successful pull */
    bool last_full;          /* the last successful pull was a full resync */
    const char *last_error;  /* English, "" when the last attempt succeeded */
} child_info_t;

/* Parses every [child NAME] section of conf into *out (n entries, caller frees with
 * child_conf_free). Returns 0, or DK_ECONFIG with one line naming file, line, section and key in
 * err (errlen bytes). Checks: unit 1..99999, endpoint not empty, server-key is Z85, timeout <
 * interval, no unit given twice, the child's unit differs from conf->unit. */
int child_conf_parse(const aconf_t *conf, child_conf_t **out, size_t *n, char *err, size_t errlen);
void child_conf_free(child_conf_t *list, size_t n);

/* Writes the documentation of the [child NAME] keys (for `dk-aggregator --help`). */
void child_print_help(FILE *out);

/* Makes the puller for every [child NAME] of conf (zero children is fine: child_count() == 0 and
 * start/stop do nothing). Loads the key files now, so a bad key fails at start-up. zmq_ctx and
 * store are borrowed and must outlive the puller; loop is the loop thread's. Returns 0 with *out
 * set, DK_ECONFIG (err says which file/line/key) or DK_EIO (a key file cannot be read). */
int child_new(const aconf_t *conf, struct store *store, uv_loop_t *loop, void *zmq_ctx,
              child_t **out, char *err, size_t errlen);

/* Arms every child's timer; the first pull of each starts within a second or two (spread so that
 * many children do not pull at once). Returns 0. */
int child_start(child_t *self);

/* Stops the timers, abandons pulls in flight (nothing half-applied: pages are applied only when
 * complete) and closes the sockets (linger 0). After stop, run the loop until the close callbacks
 * have fired (uv_run), then child_destroy. Idempotent. */
void child_stop(child_t *self);

/* Frees the puller; NULL-safe, idempotent, nulls *self_p. Call after child_stop and the loop has
 * run the close callbacks. */
void child_destroy(child_t **self_p);

/* Asks for a pull now (on demand, e.g. from the dashboard API): of the child named `name`, or of
 * every child when name is NULL. A child already pulling is left alone (its pull counts). Returns
 * 0, DK_ENOTFOUND (no such child) or DK_ECLOSED (stopped). The pull completes asynchronously. */
int child_pull_now(child_t *self, const char *name);

/* Marks a child (or all, name NULL) for a full resync at its next pull. Same returns. */
int child_resync(child_t *self, const char *name);

/* Number of children and the live state of child i (0 <= i < count). */
size_t child_count(const child_t *self);
void child_info(const child_t *self, size_t i, child_info_t *out);

/* Called in the loop thread after every successful apply (and every recorded failure, which also
 * bumps the store's version) with the live update of that store transaction: the new version,
 * prev_version, the changed cells and units. It has the signature of ingest_commit_fn, so the
 * daemon can register the same listeners it gives ingest_on_commit (PUB socket, SSE). update is
 * borrowed for the call. Up to 8 listeners; returns 0 or DK_EFULL. */
typedef void(child_update_fn)(void *arg, const Dk__Update *update);
int child_on_update(child_t *self, child_update_fn *fn, void *arg);

#endif
