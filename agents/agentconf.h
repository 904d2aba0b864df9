/* agentconf — dk-agent's configuration (one INI file, `dk-agent -c agent.ini`).
 *
 *   [agent]
 *   commune = 24664                     ; official 5-digit commune code (required)
 *   name = Xã Đức Minh                  ; shown in messages
 *   data-dir = /var/lib/doanket-agent   ; the outbox (LMDB) lives here (created if missing)
 *   inbox = /srv/doanket/inbox          ; CSV drop folder watched by `run` (empty: none)
 *   aggregator = tcp://10.0.0.5:7700    ; the district aggregator's ROUTER
 *   server-key = <40 Z85 characters>    ; the aggregator's public key (or a .pub file)
 *   key-file = agent.key                ; this commune's key pair (`dk-agent keygen` writes it)
 *   retention = 30d                     ; how long acknowledged events are kept
 *   batch = 256                         ; events per batch (1..256)
 *   window = 4                          ; unacknowledged batches in flight (1..64)
 *   heartbeat = 10s                     ; heartbeat to the aggregator
 *   ack-timeout = 20s                   ; no answer for this long: resynchronise (with backoff)
 *   retry-max = 60s                     ; longest backoff between attempts
 *   rescan = 5s                         ; inbox safety rescan
 *   max-area = 0                        ; residential areas in the commune (0: not checked)
 *
 * Relative paths are resolved against the config file's folder. Errors name file, line and key. */
#ifndef DK_AGENTCONF_H
#define DK_AGENTCONF_H

#include <stdint.h>
#include <stdio.h>

#include "wire.h"

typedef struct {
    int64_t commune;
    char *name;
    char *data_dir;
    char *inbox;       /* NULL: no inbox */
    char *aggregator;
    char *server_key;  /* Z85 or a path (keys_load_public), may be "" */
    char *key_file;
    int64_t retention_ms;
    int64_t batch;
    int64_t window;
    int64_t heartbeat_ms;
    int64_t ack_timeout_ms;
    int64_t retry_max_ms;
    int64_t rescan_ms;
    int64_t max_area;
} agentconf_t;

/* Loads path into *c (zeroed by the caller). Returns 0, DK_ECONFIG or DK_EIO with a one-line
 * message naming file, line and key in err. */
int agentconf_load(const char *path, agentconf_t *c, char *err, size_t errlen);

/* Frees what a load stored; safe on a zeroed struct and twice. */
void agentconf_release(agentconf_t *c);

/* The rules every event of this commune must pass before the agent records it (dk-agent record,
 * dk-agent import, the inbox of dk-agent run): the commune and max-area; today from the clock.
 * The one place these are built, so the three paths cannot drift apart. */
void agentconf_wire_rules(const agentconf_t *c, wire_rules_t *rules);

/* A commented example config with every key. */
void agentconf_print_doc(FILE *out);

#endif
