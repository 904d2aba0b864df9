/* agentconf — see agentconf.h. One declarative table (common/conf.h) parses, defaults,
 * range-checks and documents every key. */
#include "agentconf.h"

#include <stddef.h>
#include <string.h>

#include "conf.h"
#include "err.h"

static const conf_key_t agent_keys[] = {
    {"commune", CONF_INT, offsetof(agentconf_t, commune), NULL, 1, 99999, NULL,
     "official 5-digit commune code"},
    {"name", CONF_STRING, offsetof(agentconf_t, name), "", 0, 0, NULL, "commune name (UTF-8)"},
    {"data-dir", CONF_PATH, offsetof(agentconf_t, data_dir), NULL, 0, 0, NULL,
     "folder of the outbox (LMDB), created if missing"},
    {"inbox", CONF_PATH, offsetof(agentconf_t, inbox), "", 0, 0, NULL,
     "CSV drop folder watched by `run` (empty: none)"},
    {"aggregator", CONF_STRING, offsetof(agentconf_t, aggregator), "", 0, 0, NULL,
     "ZeroMQ endpoint of the district aggregator, tcp://host:port"},
    {"server-key", CONF_STRING, offsetof(agentconf_t, server_key), "", 0, 0, NULL,
     "the aggregator's CURVE public key (40 Z85 characters) or a file holding it"},
    {"key-file", CONF_PATH, offsetof(agentconf_t, key_file), "agent.key", 0, 0, NULL,
     "this commune's CURVE key pair (written by `dk-agent keygen`)"},
    {"retention", CONF_DURATION, offsetof(agentconf_t, retention_ms), "30d", 0,
     3650LL * 86400000, NULL, "how long acknowledged events are kept"},
    {"batch", CONF_INT, offsetof(agentconf_t, batch), "256", 1, 256, NULL,
     "events per batch"},
    {"window", CONF_INT, offsetof(agentconf_t, window), "4", 1, 64, NULL,
     "unacknowledged batches in flight"},
    {"heartbeat", CONF_DURATION, offsetof(agentconf_t, heartbeat_ms), "10s", 200, 3600000, NULL,
     "heartbeat interval"},
    {"ack-timeout", CONF_DURATION, offsetof(agentconf_t, ack_timeout_ms), "20s", 200, 3600000,
     NULL, "no answer for this long: resynchronise the session"},
    {"retry-max", CONF_DURATION, offsetof(agentconf_t, retry_max_ms), "60s", 100, 3600000, NULL,
     "longest backoff between attempts"},
    {"rescan", CONF_DURATION, offsetof(agentconf_t, rescan_ms), "5s", 100, 3600000, NULL,
     "inbox safety rescan interval"},
    {"max-area", CONF_INT, offsetof(agentconf_t, max_area), "0", 0, 9999, NULL,
     "residential areas in the commune (0: not checked here)"},
    CONF_END,
};

static void sections(agentconf_t *c, conf_section_t *s)
{
    memset(s, 0, sizeof *s);
    s->name = "agent";
    s->size = sizeof *c;
    s->keys = agent_keys;
    s->single = c;
    s->doc = "The commune agent";
}

int agentconf_load(const char *path, agentconf_t *c, char *err, size_t errlen)
{
    conf_section_t s;
    sections(c, &s);
    conf_error_t e;
    int rc = conf_load(path, &s, 1, &e);
    if (rc != 0 && err && errlen) {
        conf_error_format(&e, err, errlen);
    }
    if (rc == 0 && c->inbox && c->inbox[0] == '\0') {
        c->inbox = NULL;
    }
    return rc;
}

void agentconf_release(agentconf_t *c)
{
    conf_section_t s;
    sections(c, &s);
    conf_release(&s, 1);
}

void agentconf_print_doc(FILE *out)
{
    agentconf_t c = {0};
    conf_section_t s;
    sections(&c, &s);
    conf_print_doc(out, &s, 1);
}

void agentconf_wire_rules(const agentconf_t *c, wire_rules_t *rules)
{
    wire_rules_init(rules);
    rules->commune = (uint32_t)c->commune;
    rules->max_area = (uint32_t)c->max_area;
}
