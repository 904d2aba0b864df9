/* inbox — the CSV drop folder watched by `dk-agent run`.
 *
 * Watches the folder with uv_fs_event, but never trusts an event: on any event (debounced) and on a
 * periodic timer it rescans the folder and imports every complete `*.csv` file (hidden files, names
 * starting with '.' or '~', and other suffixes such as `.tmp` or `.part` are ignored; scripts
 * write `name.tmp` then rename to `name.csv`). A file is imported all-or-nothing (csvimport.h),
 * then moved to `done/` (recorded) or `rejected/` (nothing recorded) inside the inbox, with a
 * report `<name>.csv.txt` beside it. Moving happens after the outbox commit, so a crash in between
 * re-imports the file, which records nothing new (row identity). The watch is re-armed if the
 * folder disappears and comes back. */
#ifndef DK_INBOX_H
#define DK_INBOX_H

#include <stdint.h>
#include <uv.h>

#include "outbox.h"
#include "wire.h"

typedef struct inbox inbox_t;

/* Called after a file recorded new events (so the sender can push them now). */
typedef void (*inbox_recorded_cb)(void *arg, int new_events);

/* A watcher of folder dir (created if missing, with done/ and rejected/) that records into ob.
 * rules (copied): what every row must pass, agentconf_wire_rules() of the agent's config (the
 * same as `dk-agent record`). rescan_ms: period of the safety rescan. Returns NULL (logged) if the
 * folder cannot be made. */
inbox_t *inbox_new(uv_loop_t *loop, const char *dir, outbox_t *ob, const wire_rules_t *rules,
                   int64_t rescan_ms, inbox_recorded_cb cb, void *arg);

/* Starts watching and schedules an immediate scan. Returns 0 or DK_EIO. */
int inbox_start(inbox_t *ib);

/* Scans the folder once now, importing every complete CSV file. Returns the number of files
 * processed (>= 0). Also usable without a loop running. */
int inbox_scan(inbox_t *ib);

/* Processes one file: parse with rules (borrowed; its commune is taken from ob), record (one
 * outbox transaction), move, write the report.
 * Returns new events recorded (>= 0), or a negative DK_E* when the file was rejected or could not
 * be read (it is moved to rejected/ when it was read). */
int inbox_import_file(outbox_t *ob, const char *inbox_dir, const char *name,
                      const wire_rules_t *rules);

/* Stops and closes the handles; the memory is freed in the close callbacks. NULL-safe. */
void inbox_destroy(inbox_t **self_p);

#endif
