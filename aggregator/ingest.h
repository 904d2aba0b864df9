/* ingest — validation and group commit of the batches the server receives.
 *
 * Each batch is validated when it is submitted (wire_check_event with the commune's rules from the
 * config, on the loop thread). Batches that arrive within the commit window (aconf commit-window)
 * or until max-batch events are queued are written with ONE store_commit, i.e. one LMDB write
 * transaction, in a libuv worker thread with exactly one commit in flight (batches arriving during
 * a commit form the next group). Then, on the loop thread and in this order:
 *   1. each batch's done callback gets its Ack (results per event: STORED, DUPLICATE or REJECTED
 *      with code, Vietnamese reason and field),
 *   2. every commit listener gets the live Update (new version, prev_version, changed cells and
 *      units) — the server publishes it on PUB, the dashboard sends it as SSE.
 * Nothing is acknowledged before its commit returned. A failed commit (disk full that cannot grow,
 * I/O error) acks nothing: the done callbacks get NULL, the agents resend later.
 *
 * Heartbeats and Hellos update the commune's state (last contact, backlog, instance) in the next
 * commit as well; they need no callback. */
#ifndef DK_INGEST_H
#define DK_INGEST_H

#include <stdint.h>
#include <uv.h>

#include "aconf.h"
#include "doanket.pb-c.h"
#include "store.h"

typedef struct ingest ingest_t;

/* Called once per submitted batch on the loop thread after its commit. ack is borrowed for the
 * call (NULL when the commit failed: send nothing). */
typedef void(ingest_done_fn)(void *arg, const Dk__Ack *ack);

/* Called on the loop thread after every successful commit that changed the version, after all
 * acks of that commit were handed out. update is borrowed for the call. */
typedef void(ingest_commit_fn)(void *arg, const Dk__Update *update);

/* Creates the ingest for store (borrowed; outlives ingest) with the rules of conf (copied what it
 * needs). Returns 0 and *out. */
int ingest_new(ingest_t **out, uv_loop_t *loop, store_t *store, const aconf_t *conf);

/* Uses the rules of conf (copied) for batches validated from now on (SIGHUP). */
void ingest_set_conf(ingest_t *self, const aconf_t *conf);

/* Registers a commit listener (up to 16). cb runs on the loop thread; arg is borrowed. */
int ingest_on_commit(ingest_t *self, ingest_commit_fn *cb, void *arg);

/* Queued events beyond INGEST_QUEUE_FACTOR x max-batch are refused (DK_EAGAIN) until commits
 * catch up, so a flood cannot exhaust memory. */
#define INGEST_QUEUE_FACTOR 8

/* Queues a batch pushed by the authenticated commune `commune` (from the ZAP User-Id), validating
 * and packing its events now (loop thread). batch is borrowed and must stay valid until done is
 * called (exactly once, also at shutdown). Events whose commune field differs from `commune` are
 * REJECTED with DK_EV_COMMUNE. An event whose outcome is not decided yet (a correction or void of
 * an event that may still arrive: STORE_DEFERRED) is left out of the Ack's results: the agent
 * resends it. Returns 0; DK_EAGAIN when the queue is full; DK_ECLOSED after ingest_stop (done is
 * then not called in either case). */
int ingest_submit(ingest_t *self, uint32_t commune, const Dk__Batch *batch, ingest_done_fn *done,
                  void *arg);

/* The same with the events' packed bytes as received (raw[i], raw_len[i] for batch->events[i],
 * borrowed like batch): they are stored and compared as they are, instead of re-packing each
 * decoded event. raw may be NULL (then it is ingest_submit). */
int ingest_submit_raw(ingest_t *self, uint32_t commune, const Dk__Batch *batch,
                      const uint8_t *const *raw, const size_t *raw_len, ingest_done_fn *done,
                      void *arg);

/* Records contact from commune in the next commit: now (unix s), the agent's backlog and oldest
 * waiting event (from a Heartbeat; pass has_backlog=0 for a Hello), and instance (16 bytes or
 * NULL). Never fails for the caller; the state is written with the next commit. */
void ingest_touch(ingest_t *self, uint32_t commune, int64_t now, int has_backlog, uint64_t backlog,
                  int64_t oldest_waiting, const uint8_t *instance, size_t instance_len);

/* Writing jobs of other modules (child pulls: store_child_apply, store_child_note_failure) must
 * not run beside a commit: the store has ONE writer thread at a time. ingest_write runs work(arg)
 * on the commit worker between two commits (never beside one), then done(arg, rc) on the loop
 * thread with work's return value. Returns 0, or DK_ECLOSED after ingest_stop (nothing is called).
 * work must not touch ZeroMQ sockets or libuv handles. */
typedef int(ingest_work_fn)(void *arg);
typedef void(ingest_work_done_fn)(void *arg, int rc);
int ingest_write(ingest_t *self, ingest_work_fn *work, ingest_work_done_fn *done, void *arg);

/* With on != 0, commits run on the loop thread instead of the worker (still grouped, one at a
 * time). For a process where another module writes the store from the loop thread itself (child
 * pulls calling store_child_apply directly): the store allows ONE writer thread. Call before the
 * first submit. */
void ingest_set_inline(ingest_t *self, int on);

/* Hands update (borrowed) to every commit listener, as after a commit (for writers that went
 * through ingest_write, e.g. a child pull, so PUB and SSE see their changes too), and raises
 * ingest_version to update->version. Loop thread. */
void ingest_publish(ingest_t *self, const Dk__Update *update);

/* The version of the last successful commit (the store's version at start). */
uint64_t ingest_version(const ingest_t *self);

/* Events committed / batches committed / commits since start (for logs and the benchmark). */
uint64_t ingest_events(const ingest_t *self);
uint64_t ingest_commits(const ingest_t *self);

/* Shutdown: accepts no new batch, commits what is queued (the acks go out through the done
 * callbacks), then calls idle(arg) on the loop thread once nothing is in flight. */
void ingest_stop(ingest_t *self, void (*idle)(void *arg), void *arg);

/* Frees; NULL-safe, idempotent, nulls *self_p. Call only when idle (after ingest_stop's callback
 * or when nothing was ever submitted). The timer handle is closed here and the memory is freed in
 * its close callback: run the loop once more before uv_loop_close. */
void ingest_destroy(ingest_t **self_p);

#endif
