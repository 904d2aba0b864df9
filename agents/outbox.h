/* outbox — the commune agent's durable queue of events (its own LMDB environment in data-dir).
 *
 * An event is "saved" only when outbox_append has committed it: from then on it survives SIGKILL
 * and power loss (default LMDB sync mode). Each event is kept with its state:
 *   WAITING  — not yet acknowledged by the aggregator (will be sent, and resent, until it is);
 *   ACKED    — the aggregator stored it (or had it already) at time T; retained for the retention
 *              window so an aggregator restored from an older backup can ask for it again;
 *   REJECTED — refused by the aggregator, with its code, field and Vietnamese reason
 *              (`dk-agent rejected`); never pruned; resent only when an aggregator restored from
 *              an older backup no longer knows it (seq above its high-water mark).
 * Every event gets an origin key (16 bytes, wire field origin_key): a CSV row brings its own
 * (the row identity); any other event gets a random one at append. The aggregator dedupes on it,
 * so an event that must be renumbered (below) is acknowledged as DUPLICATE if the aggregator
 * already stored it under its old number: renumbering never counts anything twice.
 * Sequence numbers are assigned in the same write transaction that stores the event. The outbox
 * also keeps an instance id (16 random bytes made at creation), an index of CSV origin keys (so a
 * row recorded once is never recorded again; kept forever) and the sender's session state, which
 * `dk-agent status` reads beside the running daemon (LMDB: one writer, many readers, many
 * processes).
 *
 * Threads: an outbox_t belongs to one thread. Several processes may open the same folder. */
#ifndef DK_OUTBOX_H
#define DK_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "doanket.pb-c.h"

#define OUTBOX_INSTANCE_LEN 16
/* Default retention of acknowledged events: 30 days. */
#define OUTBOX_RETENTION_DEFAULT (30LL * 24 * 3600)

typedef struct outbox outbox_t;

typedef enum {
    OUTBOX_WAITING = 0,
    OUTBOX_ACKED = 1,
    OUTBOX_REJECTED = 2,
} outbox_state_t;

/* One stored event as read back (outbox_get, outbox_next_waiting, outbox_rejected_list). */
typedef struct {
    uint64_t seq;
    outbox_state_t state;
    int64_t recorded_at;  /* when it was typed or imported (unix seconds) */
    int64_t state_at;     /* ACKED: when acknowledged; REJECTED: when refused; WAITING: 0 */
    int32_t code;         /* REJECTED: the aggregator's DK_EV_* code */
    char *field;          /* REJECTED: the wire field at fault (may be ""); owned */
    char *reason;         /* REJECTED: Vietnamese reason; owned */
    uint8_t *packed;      /* the packed Dk__Event (wire_event_encode form); owned */
    size_t packed_len;
} outbox_entry_t;

/* Counters for `status` and heartbeats. */
typedef struct {
    uint64_t waiting;        /* events not yet acknowledged */
    uint64_t acked;          /* acknowledged events still retained */
    uint64_t rejected;       /* events the aggregator refused */
    int64_t oldest_waiting;  /* recorded_at of the oldest waiting event; 0 when none */
    uint64_t first_seq;      /* oldest seq the outbox holds; 0 when empty */
    uint64_t last_seq;       /* last seq assigned; 0 when none */
    uint64_t origin_keys;    /* CSV row identities remembered */
} outbox_stats_t;

/* The sender's session as the running daemon last wrote it (outbox_session_put). */
typedef struct {
    int64_t updated_at;      /* when the daemon last wrote this (0: never) */
    int32_t pid;             /* the daemon's pid */
    bool connected;          /* a session with the aggregator is up (handshake + welcome) */
    bool auth_refused;       /* the aggregator refused our CURVE key (handshake failed: auth) */
    int64_t last_ack;        /* unix seconds of the last acknowledgement received (0: never) */
    int64_t last_contact;    /* unix seconds of the last message from the aggregator (0: never) */
    uint64_t high_water;     /* the aggregator's high-water mark, as last told */
    char last_error[200];    /* English, for the log reader; "" when none */
} outbox_session_t;

/* Opens (creating when missing, with mode 0700) the outbox environment in folder dir for commune.
 * A new outbox gets a random instance id. An existing outbox made for another commune is refused
 * (DK_ECONFIG), so a misconfigured agent never sends one commune's events as another's.
 * readonly: open for reading only (status, rejected); fails with DK_ENOTFOUND if none exists.
 * Returns 0, DK_EIO (folder), DK_ESTORE (LMDB), DK_ECONFIG, DK_ENOTFOUND. *out NULL on failure. */
int outbox_open(const char *dir, uint32_t commune, bool readonly, outbox_t **out);

/* Closes and frees; NULL-safe, idempotent, nulls *self_p. */
void outbox_close(outbox_t **self_p);

/* The instance id (16 bytes) and the commune. */
const uint8_t *outbox_instance(const outbox_t *ob);
uint32_t outbox_commune(const outbox_t *ob);

/* Sets the retention of acknowledged events, in seconds (default OUTBOX_RETENTION_DEFAULT). */
void outbox_set_retention(outbox_t *ob, int64_t seconds);

/* Appends n events in ONE write transaction (all or nothing). For each event: commune is set to
 * the outbox's commune, seq to the next sequence number, recorded_at to now when it is 0, and
 * schema_version when absent (the events are modified in place). An event without an origin_key
 * is stored with a random one (the caller's event is left without it; only CSV row keys go into
 * the origin index that outbox_has_origin reads). An event carrying an origin_key
 * already in the index is not stored again: its seq is set to the seq recorded earlier and
 * was_new[i] (when was_new is not NULL) to false. Returns the number of new events stored (>= 0),
 * or DK_ETOOBIG (an event packs larger than WIRE_MAX_FRAME), DK_ESTORE, DK_EINVAL (readonly).
 * The caller validates the events (wire_check_event) BEFORE calling, with seq set to a
 * placeholder; nothing here checks content. */
int outbox_append(outbox_t *ob, Dk__Event **events, size_t n, bool *was_new);

/* True (1) when origin key (16 bytes) is already known, 0 when not, negative DK_E* on failure. */
int outbox_has_origin(outbox_t *ob, const uint8_t *origin_key, uint64_t *seq);

/* Reads event seq into *e (the caller frees with outbox_entry_clear). DK_ENOTFOUND when the
 * outbox does not hold it (never stored, or pruned). */
int outbox_get(outbox_t *ob, uint64_t seq, outbox_entry_t *e);

/* Up to max waiting events with seq > after, in seq order, into e[0..]; returns how many (>= 0)
 * or DK_ESTORE. The caller clears each entry. */
int outbox_next_waiting(outbox_t *ob, uint64_t after, outbox_entry_t *e, size_t max);

/* The aggregator's results, applied in one write transaction: acked[0..na) become ACKED at time
 * now (and lose any older rejection record); rejected (code, field, reason) move to the rejected
 * list. A rejection with code DK_EV_CONFLICT (the aggregator holds that seq of this commune with
 * other content: a restored disk image, another machine with the same key) is never final: the
 * event stays WAITING, marked for renumbering at the next outbox_reconcile (the sender says Hello
 * again at once). Seqs that are not WAITING any more are left as they are (a late duplicate ack).
 * Returns 0 or DK_ESTORE. */
typedef struct {
    uint64_t seq;
    int32_t code;
    const char *field;
    const char *reason;
} outbox_reject_t;
int outbox_apply_results(outbox_t *ob, const uint64_t *acked, size_t na,
                         const outbox_reject_t *rejected, size_t nr, int64_t now);

/* Welcome from the aggregator: reconciles the outbox with what the aggregator holds, in one txn.
 *  - If max_seq is beyond the last seq assigned (agent reinstalled with an empty outbox, or this
 *    outbox restored from an older disk image), numbering continues after max_seq.
 *  - Renumbering: waiting events get new seqs above max_seq when
 *      . agg_instance differs from ours (len 16) or is absent and the first waiting seq is
 *        <= max_seq (a reinstalled outbox): every waiting event moves;
 *      . otherwise, the waiting events with an origin key and seq <= high_water (decided at the
 *        aggregator: an event of ours whose ack was lost, which the origin key turns into a
 *        DUPLICATE, or another event under the same number, e.g. recorded after a restore from an
 *        older image), the events marked by a DK_EV_CONFLICT result, and every waiting event that
 *        corrects or voids a moved one.
 *    New seqs are the lowest numbers above max_seq the outbox does not hold (so the aggregator's
 *    high-water mark can reach them without a hole), in the old order; references to moved
 *    events are remapped. Events whose old seq may be undecided at the aggregator keep it.
 *  - Legacy REJECTED events with code DK_EV_CONFLICT are treated as marked (made WAITING).
 *  - ACKED and REJECTED events with seq > high_water (the aggregator was restored from an older
 *    backup) become WAITING again, to be resent (a REJECTED one keeps its rejection record until
 *    a new result arrives).
 * *resent receives how many events became waiting again, *renumbered how many got new seqs
 * (either may be NULL). Returns 0 or DK_ESTORE. */
int outbox_reconcile(outbox_t *ob, uint64_t high_water, uint64_t max_seq,
                     const uint8_t *agg_instance, size_t agg_instance_len, uint64_t *resent,
                     uint64_t *renumbered);

/* Deletes ACKED events acknowledged before now - retention. Returns the number pruned or
 * DK_ESTORE. Origin keys stay (a file dropped again after the window still counts once). */
int outbox_prune(outbox_t *ob, int64_t now);

/* Counters. Returns 0 or DK_ESTORE. */
int outbox_stats(outbox_t *ob, outbox_stats_t *st);

/* Rejected events, newest first, up to max; returns how many or DK_ESTORE. Caller clears each. */
int outbox_rejected_list(outbox_t *ob, outbox_entry_t *e, size_t max);

/* Writes / reads the sender's session state. put returns 0 or DK_ESTORE; get returns 0 (a zeroed
 * struct when never written) or DK_ESTORE. */
int outbox_session_put(outbox_t *ob, const outbox_session_t *s);
int outbox_session_get(outbox_t *ob, outbox_session_t *s);

/* Gives back memory a burst (a drain, a prune) left mapped in this process: drops the process's
 * mapping of the database file's pages (they stay in the OS file cache and are mapped again on the
 * next read; the data is untouched) and returns free heap to the OS. Call between transactions of
 * this thread, when idle; costs well under a millisecond for a small outbox. */
void outbox_trim(outbox_t *ob);

/* Frees what an entry owns and zeroes it. NULL-safe. */
void outbox_entry_clear(outbox_entry_t *e);

#endif
