/* libFuzzer target for common/conf: arbitrary bytes through conf_load_string with a table that uses
 * every key type and both kinds of repeated section. Must never crash, leak or read out of bounds;
 * on failure everything must have been released (checked below), on success conf_release frees it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

typedef struct {
    char *name;
    int64_t port;
    bool verbose;
    char *data;
    char *key;
    int64_t heartbeat;
    int64_t max_message;
    char **peers;
    int level;
} server_t;

typedef struct {
    int64_t code;
    char *name;
    char *public_key;
    int64_t areas;
} commune_t;

typedef struct {
    char *id;
    char *url;
} child_t;

static const conf_key_t server_keys[] = {
    {"name", CONF_STRING, offsetof(server_t, name), NULL, 1, 100, NULL, "name"},
    {"port", CONF_INT, offsetof(server_t, port), "5555", 1, 65535, NULL, "port"},
    {"verbose", CONF_BOOL, offsetof(server_t, verbose), "no", 0, 0, NULL, "verbose"},
    {"data", CONF_PATH, offsetof(server_t, data), "data", 0, 0, NULL, "data"},
    {"key", CONF_KEY, offsetof(server_t, key), "", 0, 0, NULL, "key"},
    {"heartbeat", CONF_DURATION, offsetof(server_t, heartbeat), "5s", 0, 86400000, NULL, "hb"},
    {"max-message", CONF_SIZE, offsetof(server_t, max_message), "64KiB", 0, 0, NULL, "max"},
    {"peers", CONF_LIST, offsetof(server_t, peers), "", 0, 8, NULL, "peers"},
    {"log-level", CONF_ENUM, offsetof(server_t, level), "info", 0, 0, "error|warn|info|debug",
     "level"},
    CONF_END,
};
static const conf_key_t commune_keys[] = {
    {"name", CONF_STRING, offsetof(commune_t, name), NULL, 0, 0, NULL, "name"},
    {"public-key", CONF_KEY, offsetof(commune_t, public_key), NULL, 0, 0, NULL, "key"},
    {"areas", CONF_INT, offsetof(commune_t, areas), "1", 1, 200, NULL, "areas"},
    CONF_END,
};
static const conf_key_t child_keys[] = {
    {"url", CONF_STRING, offsetof(child_t, url), NULL, 0, 0, NULL, "url"},
    CONF_END,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0'; /* conf_load_string sees up to the first NUL, like any C string */
    server_t server;
    memset(&server, 0x5a, sizeof server); /* conf must not free what it did not allocate */
    commune_t *communes = (commune_t *)text;
    size_t ncommunes = 99;
    child_t *children = NULL;
    size_t nchildren = 0;
    conf_section_t s[] = {
        {.name = "server", .size = sizeof server, .keys = server_keys, .single = &server},
        {.name = "commune", .repeated = true, .id_type = CONF_INT, .id_min = 1, .id_max = 99999,
         .id_offset = offsetof(commune_t, code), .size = sizeof(commune_t), .keys = commune_keys,
         .list = (void **)&communes, .count = &ncommunes},
        {.name = "child", .repeated = true, .id_offset = offsetof(child_t, id),
         .size = sizeof(child_t), .keys = child_keys, .list = (void **)&children,
         .count = &nchildren},
    };
    conf_error_t err;
    int rc = conf_load_string(text, "/etc/doanket/fuzz.ini", s, 3, &err);
    if (rc == 0) {
        if (server.name == NULL || server.peers == NULL) {
            abort();
        }
        for (size_t i = 0; i < ncommunes; i++) {
            if (communes[i].name == NULL || communes[i].public_key == NULL ||
                strlen(communes[i].public_key) != 40) {
                abort();
            }
        }
    } else {
        char buf[700];
        conf_error_format(&err, buf, sizeof buf);
        if (server.name != NULL || server.peers != NULL || communes != NULL || ncommunes != 0 ||
            children != NULL) {
            abort(); /* all-or-nothing */
        }
    }
    conf_release(s, 3);
    free(text);
    return 0;
}
