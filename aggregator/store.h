/* store — dk-aggregator's LMDB store: events, dedupe, exact tallies, unit states, versions,
 * changes-since, snapshot pages, verify, backup, and child aggregators' cells.
 *
 * One store_t (one MDB_env) per process, opened early (PITFALLS §3.12). Threads: any thread may
 * call any function; the writing functions (store_commit, store_child_apply,
 * store_child_note_failure) may run on different threads at once (e.g. ingest's worker and the
 * loop thread): LMDB serialises their write txns, each begun and ended on its calling thread. Any
 * thread may read concurrently (the env is opened with MDB_NOTLS; every read function opens and
 * ends its own short read txn; a read callback may call other read functions). Every txn of this
 * process holds an internal rwlock shared; map growth after MDB_MAP_FULL takes it exclusively (so
 * no txn of any thread is alive), then retries the whole commit, so callers never see MAP_FULL
 * unless the max map size is reached (DK_EFULL). Never call a writing function from inside a read
 * callback (store_*_foreach, store_events_recent): it could not grow the map there (DK_EFULL).
 *
 * Epoch: 16 random bytes in meta naming this store's history, made when the store is created and
 * made anew (logged) the first time a copy made by store_backup is opened read-write (the copy
 * carries a "restored" mark). Versions are comparable only within one epoch: a reader holding
 * version V of epoch E must do a full resync when it sees another epoch (a store restored from an
 * older backup may already have climbed past V with other changes). Snapshot.epoch and
 * Update.epoch carry it.
 *
 * Durability: default LMDB sync mode. When store_commit returns 0 the commit is on disk: only then
 * may the caller acknowledge.
 *
 * Identity and outcomes of an event (DESIGN.md guarantee 1): (commune, seq) forever.
 *  - seq never seen                         -> STORED (or REJECTED, see below); the seq is decided.
 *  - seq stored before with identical bytes -> DUPLICATE.
 *  - seq rejected before, identical bytes   -> REJECTED again with the remembered code/reason/field.
 *  - seq decided before, different bytes    -> REJECTED DK_EV_CONFLICT (nothing changes).
 *  - seq > WIRE_MAX_SEQ (wire.h) -> REJECTED DK_EV_RANGE (field "seq") and NOT remembered: the
 *    seq is not decided, high_water and max_seq do not move (an agent renumbers after max_seq).
 *  - origin_key already stored for this commune under another seq -> DUPLICATE, whatever the event
 *    is (original, correction or void) and whatever chain it names: a known origin_key is always
 *    the same CSV row (the key hashes the row's whole content, the seq it corrects or voids
 *    included), re-sent under a new seq by a reinstalled agent. The seq is consumed (high-water
 *    mark advances) and is remembered as an alias of the stored one (a later correction or void
 *    naming the alias applies to the stored event). This is decided after the caller's verdict and
 *    the commune checks but before the target of a correction/void is looked at, so a re-sent row
 *    never becomes its chain's head again and a re-sent void is not DK_EV_TARGET. Every event
 *    carrying an origin_key therefore needs a key of its own (never the key of the chain it
 *    corrects).
 *  - correction (corrects_seq = T) or void (void.target_seq = T): T must be < seq, stored, not a
 *    void itself, and its chain not voided, else REJECTED DK_EV_TARGET. When T is not decided yet
 *    and T > high-water mark (it may still arrive), the outcome is STORE_DEFERRED: nothing is
 *    recorded, the caller must NOT acknowledge that event (the agent resends it later).
 *  - the caller's own validation failure (item.reject_code) -> REJECTED and remembered (unless
 *    the seq was decided before: then the rules above).
 * A chain is an original event and every correction/void of it (or of its corrections). Its
 * effective version is: nothing if any void is in the chain, else the member with the highest
 * seq. A correction with a lower seq than the chain's current head is stored (history) but changes
 * no tally. verify recounts with exactly this rule.
 *
 * Versions (guarantee 5): a counter that grows by one with every commit that changed anything.
 * Each cell and unit state records the version that last changed it; an index by version makes
 * "changes since V" cheap.
 *
 * LMDB layout (all keys fixed-width big-endian; one env, named DBIs opened once at open):
 *   meta      "version" "events" "rejected" "tallied" "layout" ("horizon": oldest since_version
 *             the changes index answers; absent = 0; "restored": 1 in a store_backup copy never
 *             opened read-write) -> u64 BE; "epoch" -> 16 bytes
 *   events    commune u32 | seq u64            -> version u64 | root u64 | recv_at i64 | flags u8
 *             (bit 0: a void) | the packed Event as received
 *             (root: the original seq of the chain for a correction/void, 0 for an original)
 *   evlog     n u64 (arrival order, APPEND)    -> commune u32 | seq u64
 *   decided   commune u32 | seq u64            -> kind u8 (1 rejected, 2 alias) | code i32 |
 *             alias_of u64 | hash[32] (BLAKE2b of the bytes) | field\0 | reason\0
 *   origins   commune u32 | origin_key[16]     -> seq u64 (the stored event with this key; stores
 *             written before the key was unique per row may point to a later member of a chain)
 *   heads     commune u32 | root seq u64       -> head seq u64 | void seq u64 (absent: head=root)
 *   cells     unit u32 | day u32 | category u64 -> tally.h value (version, owner, measures)
 *   owned     owner u32 | cell key[16]         -> (empty) cells owned by a child aggregator
 *   units     unit u32                         -> owner u32 | high_water | max_seq | last_contact |
 *             backlog | oldest_waiting | events | records | rejected | version | last_pull |
 *             child_version (u64 BE each) | failed_pulls u32 | last_attempt i64 | instance
 *             (len u8 + 16 bytes) | last_error (len u16 + bytes). The owner field is the unit's
 *             owner: a child may write cells only of units it owns (or that nobody owns yet).
 *   children  child unit u32                   -> same encoding (freshness fields)
 *   spare     (reserved, empty)
 *   changes   version u64 | type u8 | id[16]    -> (empty); type 1 cell (id = cell key),
 *             2 unit (id = unit u32 + zeros), 3 child (same). One entry per object, at the version
 *             that last changed it (the old entry is deleted when it changes again).
 * Cells whose measures return to all zero are kept (with their version) so that "changes since V"
 * reports them as zero; full snapshots and queries skip them. */
#ifndef DK_STORE_H
#define DK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "doanket.pb-c.h"
#include "tally.h"

typedef struct store store_t;

/* ---- open / close ------------------------------------------------------------------------- */
typedef struct {
    uint64_t map_size;     /* initial map size in bytes; 0: 1 GiB (grows by doubling on MAP_FULL) */
    uint64_t max_map_size; /* growth limit; 0: 64 GiB; below map_size: map_size */
    bool read_only;        /* status/export/verify beside a running daemon: no writes, no create */
    unsigned max_readers;  /* 0: 126 */
    uint32_t unit;         /* this aggregator's own unit code (Snapshot.unit); 0 if none */
} store_opts_t;

/* Opens (creating when not read_only) the store in folder dir (must exist; the LMDB files
 * data.mdb/lock.mdb go inside). opts may be NULL (defaults). Opens every DBI in one write txn
 * (read-only: one read txn; a store never written gives DK_ENOTFOUND), runs mdb_reader_check.
 * Returns 0 and *out (free with store_close); DK_EIO (folder missing, permissions), DK_ESTORE
 * (LMDB failure, incompatible layout; logged with the LMDB message), DK_ENOTFOUND. */
int store_open(const char *dir, const store_opts_t *opts, store_t **out);

/* Closes the env; NULL-safe, idempotent, nulls *self_p. No other call may be in flight. */
void store_close(store_t **self_p);

/* Clears stale reader slots (processes killed while reading). Returns the number cleared (>= 0)
 * or DK_ESTORE. Safe from a periodic timer. */
int store_reader_check(store_t *self);

/* The current version (one short read txn). Returns 0 on any read failure (logged). */
uint64_t store_version(store_t *self);

/* The folder the store was opened on (borrowed; lives as long as the store). */
const char *store_dir(const store_t *self);

#define STORE_EPOCH_LEN 16
/* Copies the store's epoch (as read or made at open) into out. Returns 0, or DK_ENOTFOUND for a
 * read-only open of a store that no read-write open has given an epoch yet. */
int store_epoch(const store_t *self, uint8_t out[STORE_EPOCH_LEN]);

/* ---- commit ------------------------------------------------------------------------------- */
typedef struct {
    uint32_t commune;        /* the authenticated commune (ZAP User-Id), never taken from ev */
    const Dk__Event *ev;     /* decoded event; borrowed for the call. Must have has_seq, seq > 0 */
    const uint8_t *bytes;    /* the event's packed bytes as received (borrowed); compared for */
    size_t len;              /*   DUPLICATE vs CONFLICT and stored as the event */
    int reject_code;         /* 0, or the caller's validation verdict (DK_EV_*, wire_check_event) */
    const char *reject_field;  /* with reject_code: field at fault (may be NULL), borrowed */
    const char *reject_reason; /* with reject_code: Vietnamese reason (may be NULL), borrowed */
} store_item_t;

/* A contact from a commune's agent, written in the same commit (Hello/Heartbeat). */
typedef struct {
    uint32_t commune;
    int64_t last_contact;    /* unix seconds; 0: unchanged */
    bool has_backlog;        /* backlog and oldest_waiting are set (Heartbeat) */
    uint64_t backlog;
    int64_t oldest_waiting;
    const uint8_t *instance; /* agent instance (<= 16 bytes), borrowed; NULL: unchanged */
    size_t instance_len;
} store_touch_t;

/* Outcome of one item; the numbers of STORED/DUPLICATE/REJECTED equal Dk__ResultCode's. */
typedef enum {
    STORE_STORED = 1,
    STORE_DUPLICATE = 2,
    STORE_REJECTED = 3,
    STORE_DEFERRED = 4, /* correction/void whose target may still arrive: do not ack, not recorded */
} store_outcome_t;

typedef struct {
    uint32_t commune;
    uint64_t seq;
    store_outcome_t outcome;
    int code;       /* DK_EV_* when REJECTED, else 0 */
    char *field;    /* REJECTED: field at fault or NULL; owned by the result */
    char *reason;   /* REJECTED: Vietnamese reason (never NULL when rejected); owned by the result */
} store_result_t;

/* A unit's state (Dk__UnitState + owner). For a local commune: everything but the child fields;
 * for a child aggregator's record (store_child_*): unit, version, last_pull, child_version,
 * failed_pulls, last_error, plus last_attempt. */
typedef struct {
    uint32_t unit;
    uint32_t owner;          /* 0: a commune whose events this aggregator stores; else the child
                                aggregator whose snapshot reported it */
    uint64_t high_water;     /* every seq <= high_water is stored or rejected for good */
    uint64_t max_seq;        /* highest seq decided (stored, rejected or consumed) */
    int64_t last_contact;
    uint64_t backlog;
    int64_t oldest_waiting;
    uint64_t events;         /* events that count in the tallies now (originals not voided): the
                                sum of M_EVENTS over the unit's cells; UnitState.events */
    uint64_t records;        /* event records stored (originals, corrections, voids); not on the
                                wire. A child-owned unit: STORE_FRESH_OWN or 0 (see below) */
    uint64_t rejected;       /* seqs rejected */
    uint64_t version;        /* this store's version that last changed this state */
    uint8_t instance[16];
    size_t instance_len;
    /* child aggregator freshness */
    int64_t last_pull;       /* unix seconds of the last successful pull (0: never) */
    uint64_t child_version;  /* the child's version at that pull */
    uint32_t failed_pulls;   /* failed attempts since the last success */
    int64_t last_attempt;    /* unix seconds of the last failed attempt (0: none) */
    char last_error[256];    /* "" after a success */
} store_unit_t;

/* Freshness of a unit owned by a child aggregator (owner != 0), so that a parent of a parent can
 * tell old figures from current ones (a nation over provinces over districts):
 *  - records == STORE_FRESH_OWN ("own"): the unit is local at the child (its state came with no
 *    freshness of its own); last_pull/child_version = this store's last successful pull of the
 *    child and the child's version then; failed_pulls/last_error = this store's failed attempts
 *    of the child since (store_child_apply and store_child_note_failure keep them so, which bumps
 *    these units' versions: they travel in this store's incremental snapshots).
 *  - otherwise ("received"): the child passed on a freshness it got from further down; the fields
 *    are as received (last_pull: when the figures were last current at their source, 0: never).
 * Either way UnitState.last_pull in this store's snapshots is "the time the unit's figures were
 * last current at their source" (0 for a commune local to this store: current now). */
#define STORE_FRESH_OWN 1
/* True when u is child-owned with an "own" freshness (also a state written before this rule:
 * no last_pull, failed_pulls or last_error). */
bool store_unit_is_fresh_own(const store_unit_t *u);

typedef struct {
    uint64_t version;        /* the version after the commit (== prev_version when nothing changed) */
    uint64_t prev_version;
    store_result_t *results; /* one per item, in the items' order */
    size_t nresults;
    tally_cell_t *cells;     /* new absolute value of every changed cell (key order) */
    size_t ncells;
    store_unit_t *units;     /* new state of every changed unit (local communes and child records) */
    size_t nunits;
    size_t stored, duplicates, rejected, deferred; /* counts of outcomes */
    uint8_t epoch[STORE_EPOCH_LEN]; /* the store's epoch (Update.epoch) */
} store_commit_t;

/* Writes n items and nt touches in ONE write transaction (group commit) and fills *result (which
 * the caller must later clear with store_commit_clear, also on failure). Items are processed in
 * (commune, seq) order, so a correction and its target in the same group work in any input order;
 * results are in input order. On MDB_MAP_FULL the txn is aborted, the map doubled (up to the max)
 * and the whole commit retried. Returns 0 (committed and synced: now ack), DK_EFULL (max map size
 * reached; nothing written), DK_ESTORE (LMDB failure; nothing written), DK_EINVAL (read-only store
 * or an item without ev/seq: nothing written). On failure *result holds no results. */
int store_commit(store_t *self, const store_item_t *items, size_t n, const store_touch_t *touches,
                 size_t nt, store_commit_t *result);

/* Frees what *result owns and zeroes it. NULL-safe. */
void store_commit_clear(store_commit_t *result);

/* Builds the live update of a commit (version, prev_version, epoch, changed cells and units).
 * *out is owned by the caller: free with store_update_free. Returns 0. */
int store_update_build(const store_commit_t *result, Dk__Update **out);
void store_update_free(Dk__Update **update_p);

/* Fills *cell_out (Dk__Cell, its m array owned: free with store_pb_cell_clear) from cell. */
void store_pb_cell_fill(const tally_cell_t *cell, Dk__Cell *cell_out);
void store_pb_cell_clear(Dk__Cell *cell);
/* Fills *out (Dk__UnitState; instance/last_error owned: free with store_pb_unit_clear). */
void store_pb_unit_fill(const store_unit_t *unit, Dk__UnitState *out);
void store_pb_unit_clear(Dk__UnitState *u);

/* ---- per-unit state ----------------------------------------------------------------------- */
/* The state of unit (a commune, or a unit reported by a child). Returns 0, DK_ENOTFOUND, or
 * DK_ESTORE. */
int store_unit_get(store_t *self, uint32_t unit, store_unit_t *out);

/* Calls cb for every unit state in unit order from one read txn; u is valid during the call only.
 * cb returns 0 to go on, anything else stops and is returned. Returns 0, cb's value or DK_ESTORE. */
typedef int(store_unit_cb)(void *arg, const store_unit_t *u);
int store_units_foreach(store_t *self, store_unit_cb *cb, void *arg);

/* ---- snapshots ---------------------------------------------------------------------------- */
#define STORE_SNAPSHOT_MAX_CELLS 100000 /* max_cells is capped at this; 0 means 1000 */
#define STORE_CURSOR_MAX 32             /* bytes of a `next` cursor, at most */

/* One snapshot page from ONE read txn into *out (owned by the caller: store_snapshot_free).
 *  full: every non-zero cell in key order, max_cells per page; the first page (cursor NULL) also
 *        carries every unit state and child record.
 *  !full: every cell, unit state and child record changed after since_version (cells that became
 *        zero come with no measures), in version order, max_cells entries per page (units count).
 *        `resync` is set (and nothing else) when since_version is ahead of the current version or
 *        older than what the changes index can answer.
 * `next` is set when more remains: pass it back as cursor (cursor_len bytes) with the same
 * full/since_version. version = the store's version at this page's txn; events = the sum of the
 * M_EVENTS measure over all cells at that version (local: effective events, i.e. originals not
 * voided; plus children's) == the sum of UnitState.events of all units, so a consistent full
 * snapshot's cells (and its units' events) sum to it; unit = opts.unit; epoch = store_epoch
 * (also on a resync answer).
 * Clone rule for a multi-page full snapshot: its pages come from different txns, so after the last
 * page ask for the changes since the FIRST page's version and apply them; the result is then the
 * state at that last reply's version. Returns 0, DK_EINVAL (bad cursor), DK_ESTORE. */
int store_snapshot_page(store_t *self, bool full, uint64_t since_version, const uint8_t *cursor,
                        size_t cursor_len, size_t max_cells, Dk__Snapshot **out);
/* Frees a snapshot made by store_snapshot_page; NULL-safe, nulls *snap_p. (Not for snapshots
 * unpacked by protobuf-c: use dk__snapshot__free_unpacked for those.) */
void store_snapshot_free(Dk__Snapshot **snap_p);

/* ---- queries for the dashboard and exports (one read txn each) ---------------------------- */
/* Calls cb for every non-zero cell of unit (0: all units) with day_from <= day <= day_to, in key
 * order (unit, day, category). cell is valid during the call only. cb returns 0 to go on; anything
 * else stops and is returned. Returns 0, cb's value, DK_ESTORE. */
typedef int(store_cell_cb)(void *arg, const tally_cell_t *cell);
int store_cells_foreach(store_t *self, uint32_t unit, uint32_t day_from, uint32_t day_to,
                        store_cell_cb *cb, void *arg);

/* A stored event as the recent-events query gives it. Every pointer dies when cb returns. */
typedef struct {
    uint32_t commune;
    uint64_t seq;
    uint64_t arrival;        /* arrival number (all-communes query: pass as `before` to page on);
                                0 in the per-commune query */
    uint64_t version;        /* store version that stored it */
    int64_t received_at;     /* unix seconds the aggregator stored it */
    const Dk__Event *ev;     /* decoded */
    uint64_t root;           /* 0 for an original; else the original seq of its chain */
    uint64_t head;           /* the chain's effective member now (== seq when this one counts) */
    uint64_t voided_by;      /* seq of the void that cancelled the chain, 0 if none */
    bool effective;          /* this event's figures are in the tallies now */
} store_event_t;
typedef int(store_event_cb)(void *arg, const store_event_t *e);

/* Newest first: events of commune (0: of all communes, by arrival), at most limit (0: 100).
 * before pages backwards, exclusive: a seq (commune given) or an arrival number (all); 0 starts
 * from the newest. Returns 0,
 * cb's non-zero value, DK_ESTORE. */
int store_events_recent(store_t *self, uint32_t commune, uint64_t before, size_t limit,
                        store_event_cb *cb, void *arg);
/* One event by (commune, seq). Returns 0 after calling cb once, DK_ENOTFOUND, DK_ESTORE. */
int store_event_get(store_t *self, uint32_t commune, uint64_t seq, store_event_cb *cb, void *arg);

#define STORE_NDBI 12
typedef struct {
    uint64_t version;
    uint64_t events;         /* event records stored (originals, corrections, voids) */
    uint64_t rejected;       /* seqs rejected */
    uint64_t tallied;        /* sum of M_EVENTS over all cells (== Snapshot.events) */
    uint64_t map_size;       /* bytes of address space mapped */
    uint64_t max_map_size;
    uint64_t used_size;      /* bytes of the map in use (last page + 1) x page size */
    unsigned readers_used;   /* reader slots in use (all processes) */
    unsigned max_readers;
    struct {
        const char *name;    /* static string */
        uint64_t entries;
    } dbi[STORE_NDBI];
} store_stats_t;
/* Fills *out from one read txn. Returns 0, DK_ESTORE. */
int store_stats(store_t *self, store_stats_t *out);

/* ---- verify and backup -------------------------------------------------------------------- */
/* Recounts every local cell (owner 0) from the stored events (chains resolved as above) in one
 * read txn and compares with the stored cells; prints every difference to report (may be NULL) as
 * "unit=U day=D category=C measure=I stored=S recount=R", plus a summary line, and child-owned cells
 * as "child cells (not recounted): N of child U". Returns 0 (all equal), DK_EMISMATCH, DK_ESTORE. */
int store_verify(store_t *self, FILE *report);

/* Live compacted copy into dir (must not exist, or be an empty folder): mdb_env_copy2 with
 * MDB_CP_COMPACT into a temporary folder beside dir; then opens the copy alone, checks its version
 * is >= the version before the copy and marks it "restored" (so its first read-write open makes a
 * new epoch); fsync, rename into place. Nothing is left under dir on failure. Returns 0, DK_EEXIST
 * (dir not empty), DK_EIO, DK_ESTORE, DK_EMISMATCH. Takes a read txn for its duration: off-peak. */
int store_backup(store_t *self, const char *dir);

/* ---- child aggregators (parents: province over districts, nation over provinces) ---------- */
/* Applies one complete pull of child `child_unit` (pages in order, borrowed) in ONE write txn:
 * cells get the absolute values given (never added), owned by child_unit; zero-measure cells in
 * an incremental page set the cell to zero. When full, the child's cells missing from the pages are
 * set to zero (a child restored from an older backup leaves no double counts). Unit states in the
 * pages replace the stored ones (owner child_unit). Records the child's version (the highest page
 * version) and epoch (Snapshot.epoch, kept in the child record's instance/instance_len; 0 bytes
 * when the child sends none), last_pull = now, failed_pulls = 0, last_error = "" and bumps this
 * store's version. Every page must carry the same epoch, and an incremental apply (!full) the
 * epoch the record holds, else DK_EINVAL (nothing applied: do a full resync).
 * A cell or unit whose unit is already owned by local events or another child refuses the whole
 * apply (DK_EAUTH, logged with the unit). A page with resync set: DK_EINVAL. *result gets the
 * version, prev_version, changed cells and units (results empty); clear it with
 * store_commit_clear. Returns 0, DK_EAUTH, DK_EINVAL, DK_EFULL, DK_ESTORE. */
int store_child_apply(store_t *self, uint32_t child_unit, const Dk__Snapshot *const *pages,
                      size_t npages, bool full, int64_t now, store_commit_t *result);

/* Records a failed pull of child_unit durably: failed_pulls + 1, last_attempt = now, last_error
 * (English, cut to 255 bytes). Bumps the version (the change is visible to readers).
 * Returns 0, DK_EFULL, DK_ESTORE. */
int store_child_note_failure(store_t *self, uint32_t child_unit, int64_t now, const char *error);

/* The freshness record of child_unit (fields of store_unit_t: unit, version, last_pull,
 * child_version, failed_pulls, last_attempt, last_error; instance/instance_len = the child's epoch
 * at the last applied pull). Returns 0, DK_ENOTFOUND, DK_ESTORE. */
int store_child_get(store_t *self, uint32_t child_unit, store_unit_t *out);
/* Calls cb for every child record in unit order (one read txn). Same returns as
 * store_units_foreach. */
int store_child_foreach(store_t *self, store_unit_cb *cb, void *arg);

#endif
