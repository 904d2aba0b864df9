/* Unit tests for common/conf: every type, every error path (with the exact file:line text),
 * defaults, repeated sections, relative paths, quoting, UTF-8 kept byte for byte, release. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "err.h"

#define KEY_A "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
#define KEY_B "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"

typedef struct {
    char *name;
    int64_t port;
    bool verbose;
    char *data;
    char *key;
    int64_t heartbeat;
    int64_t max_message;
    char **peers;
    int log_level;
    char *title;
} server_t;

typedef struct {
    int64_t code;
    char *name;
    char *public_key;
    int64_t areas;
    bool enabled;
} commune_t;

typedef struct {
    char *id;
    char *url;
} child_t;

static const conf_key_t server_keys[] = {
    {"name", CONF_STRING, offsetof(server_t, name), NULL, 1, 100, NULL, "Display name"},
    {"port", CONF_INT, offsetof(server_t, port), "5555", 1, 65535, NULL, "TCP port"},
    {"verbose", CONF_BOOL, offsetof(server_t, verbose), "false", 0, 0, NULL, "Log more"},
    {"data", CONF_PATH, offsetof(server_t, data), "data", 0, 0, NULL, "Data folder"},
    {"key", CONF_KEY, offsetof(server_t, key), "", 0, 0, NULL, "Server public key"},
    {"heartbeat", CONF_DURATION, offsetof(server_t, heartbeat), "5s", 100, 3600000, NULL,
     "Heartbeat interval"},
    {"max-message", CONF_SIZE, offsetof(server_t, max_message), "64KiB", 1024, 16 << 20, NULL,
     "Largest message"},
    {"peers", CONF_LIST, offsetof(server_t, peers), "", 0, 4, NULL, "Peer endpoints"},
    {"log-level", CONF_ENUM, offsetof(server_t, log_level), "info", 0, 0, "error|warn|info|debug",
     "Log level"},
    {"title", CONF_STRING, offsetof(server_t, title), "Báo cáo", 0, 0, NULL, "Report title"},
    CONF_END,
};

static const conf_key_t commune_keys[] = {
    {"name", CONF_STRING, offsetof(commune_t, name), NULL, 0, 0, NULL, "Commune name"},
    {"public-key", CONF_KEY, offsetof(commune_t, public_key), NULL, 0, 0, NULL, "Agent key"},
    {"areas", CONF_INT, offsetof(commune_t, areas), "1", 1, 200, NULL, "Residential areas"},
    {"enabled", CONF_BOOL, offsetof(commune_t, enabled), "on", 0, 0, NULL, "Accept events"},
    CONF_END,
};

static const conf_key_t child_keys[] = {
    {"url", CONF_STRING, offsetof(child_t, url), NULL, 0, 0, NULL, "Snapshot endpoint"},
    CONF_END,
};

typedef struct {
    server_t server;
    commune_t *communes;
    size_t ncommunes;
    child_t *children;
    size_t nchildren;
    conf_section_t s[3];
} cfg_t;

static void cfg_init(cfg_t *c)
{
    memset(c, 0, sizeof *c);
    c->s[0] = (conf_section_t){.name = "server", .size = sizeof(server_t), .keys = server_keys,
                               .single = &c->server, .doc = "The server"};
    c->s[1] = (conf_section_t){.name = "commune", .repeated = true, .id_type = CONF_INT,
                               .id_min = 1, .id_max = 99999,
                               .id_offset = offsetof(commune_t, code), .size = sizeof(commune_t),
                               .keys = commune_keys, .list = (void **)&c->communes,
                               .count = &c->ncommunes, .doc = "One commune"};
    c->s[2] = (conf_section_t){.name = "child", .repeated = true, .id_type = CONF_STRING,
                               .id_offset = offsetof(child_t, id), .size = sizeof(child_t),
                               .keys = child_keys, .list = (void **)&c->children,
                               .count = &c->nchildren, .doc = "A child aggregator"};
}

static char errbuf[600];

/* Loads text named "t.ini"; on failure formats the error into errbuf and checks nothing leaked
 * into the structs. */
static int load(cfg_t *c, const char *text)
{
    cfg_init(c);
    conf_error_t e;
    int rc = conf_load_string(text, "t.ini", c->s, 3, &e);
    errbuf[0] = '\0';
    if (rc != 0) {
        conf_error_format(&e, errbuf, sizeof errbuf);
        assert_null(c->server.name);
        assert_null(c->server.peers);
        assert_null(c->server.title);
        assert_null(c->communes);
        assert_int_equal(c->ncommunes, 0);
        assert_null(c->children);
    }
    return rc;
}

static void expect_error(const char *text, const char *want)
{
    cfg_t c;
    int rc = load(&c, text);
    if (rc != DK_ECONFIG || strcmp(errbuf, want) != 0) {
        print_error("text:\n%.300s\nwant: %s\ngot:  %s (rc %d)\n", text, want, errbuf, rc);
        fail();
    }
    conf_release(c.s, 3);
}

static void test_all_types(void **state)
{
    (void)state;
    cfg_t c;
    int rc = load(&c, "[server]\n"
                      "name = Huyện Đắk Mil\n"
                      "port = 6000\n"
                      "verbose = YES\n"
                      "data = /var/lib/dk\n"
                      "key = " KEY_A "\n"
                      "heartbeat = 500ms\n"
                      "max-message = 1MiB\n"
                      "peers = a, b ,,c\n"
                      "log-level = Debug\n"
                      "title = \"\"\n");
    assert_int_equal(rc, 0);
    assert_string_equal(c.server.name, "Huyện Đắk Mil");
    assert_int_equal(c.server.port, 6000);
    assert_true(c.server.verbose);
    assert_string_equal(c.server.data, "/var/lib/dk");
    assert_string_equal(c.server.key, KEY_A);
    assert_int_equal(c.server.heartbeat, 500);
    assert_int_equal(c.server.max_message, 1 << 20);
    assert_string_equal(c.server.peers[0], "a");
    assert_string_equal(c.server.peers[1], "b");
    assert_string_equal(c.server.peers[2], "c");
    assert_null(c.server.peers[3]);
    assert_int_equal(c.server.log_level, 3);
    assert_string_equal(c.server.title, "");
    conf_release(c.s, 3);
    assert_null(c.server.name);
    assert_null(c.server.peers);
    conf_release(c.s, 3); /* twice is fine */
}

static void test_units_and_bools(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;
    } durations[] = {{"0", 0}, {"1s", 1000}, {"5m", 300000}, {"45m", 2700000}, {"1h", 3600000}};
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        char text[200];
        snprintf(text, sizeof text, "[server]\nname=x\nheartbeat = %s\n", durations[i].text);
        cfg_t c;
        /* 0 is below the range 100ms..1h: only check it parses to the right error */
        int rc = load(&c, text);
        if (durations[i].ms >= 100) {
            assert_int_equal(rc, 0);
            assert_int_equal(c.server.heartbeat, durations[i].ms);
        } else {
            assert_string_equal(errbuf, "t.ini:3: [server] heartbeat: 0 is outside 100ms..1h");
        }
        conf_release(c.s, 3);
    }
    static const struct {
        const char *text;
        int64_t bytes;
    } sizes[] = {{"4096", 4096}, {"2048B", 2048}, {"64KiB", 65536}, {"16MiB", 16 << 20},
                 {"3kib", 3072}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char text[200];
        snprintf(text, sizeof text, "[server]\nname=x\nmax-message = %s\n", sizes[i].text);
        cfg_t c;
        assert_int_equal(load(&c, text), 0);
        assert_int_equal(c.server.max_message, sizes[i].bytes);
        conf_release(c.s, 3);
    }
    const char *yes[] = {"true", "yes", "on", "1", "TRUE"};
    const char *no[] = {"false", "no", "off", "0", "Off"};
    for (int i = 0; i < 5; i++) {
        char text[200];
        cfg_t c;
        snprintf(text, sizeof text, "[server]\nname=x\nverbose=%s\n", yes[i]);
        assert_int_equal(load(&c, text), 0);
        assert_true(c.server.verbose);
        conf_release(c.s, 3);
        snprintf(text, sizeof text, "[server]\nname=x\nverbose=%s\n", no[i]);
        assert_int_equal(load(&c, text), 0);
        assert_false(c.server.verbose);
        conf_release(c.s, 3);
    }
    cfg_t c;
    assert_int_equal(load(&c, "[server]\nname=x\nport=-0\n"), DK_ECONFIG);
    assert_string_equal(errbuf, "t.ini:3: [server] port: -0 is outside 1..65535");
    assert_int_equal(load(&c, "[server]\nname=x\nport=+65535\n"), 0);
    assert_int_equal(c.server.port, 65535);
    conf_release(c.s, 3);
}

static void test_defaults(void **state)
{
    (void)state;
    cfg_t c;
    assert_int_equal(load(&c, "[server]\nname = x\n"
                              "[commune 24664]\nname = A\npublic-key = " KEY_A "\n"
                              "[commune 24667]\nname = B\npublic-key = " KEY_B "\nareas = 12\n"
                              "enabled = no\n"),
                     0);
    assert_int_equal(c.server.port, 5555);
    assert_false(c.server.verbose);
    assert_string_equal(c.server.data, "data"); /* no folder in "t.ini": kept as written */
    assert_null(c.server.key);                  /* empty default: not set */
    assert_int_equal(c.server.heartbeat, 5000);
    assert_int_equal(c.server.max_message, 65536);
    assert_non_null(c.server.peers);
    assert_null(c.server.peers[0]);
    assert_int_equal(c.server.log_level, 2);
    assert_string_equal(c.server.title, "Báo cáo");
    assert_int_equal(c.ncommunes, 2);
    assert_int_equal(c.communes[0].code, 24664);
    assert_int_equal(c.communes[0].areas, 1);
    assert_true(c.communes[0].enabled);
    assert_int_equal(c.communes[1].code, 24667);
    assert_int_equal(c.communes[1].areas, 12);
    assert_false(c.communes[1].enabled);
    assert_int_equal(c.nchildren, 0);
    assert_null(c.children);
    conf_release(c.s, 3);
}

static void test_repeated(void **state)
{
    (void)state;
    cfg_t c;
    /* many instances (forces the array to grow), in file order, plus string ids */
    char text[20000];
    size_t o = (size_t)snprintf(text, sizeof text, "[server]\nname = x\n");
    for (int i = 0; i < 50; i++) {
        o += (size_t)snprintf(text + o, sizeof text - o,
                              "[commune %d]\nname = Xã %d\npublic-key = %s\n", 24000 + 50 - i, i,
                              i % 2 ? KEY_A : KEY_B);
    }
    o += (size_t)snprintf(text + o, sizeof text - o,
                          "[child dak-mil]\nurl = tcp://10.0.0.2:5556\n"
                          "[ CHILD  Đắk Song ]\nurl = tcp://10.0.0.3:5556\n");
    assert_int_equal(load(&c, text), 0);
    assert_int_equal(c.ncommunes, 50);
    for (int i = 0; i < 50; i++) {
        char want[40];
        snprintf(want, sizeof want, "Xã %d", i);
        assert_int_equal(c.communes[i].code, 24000 + 50 - i);
        assert_string_equal(c.communes[i].name, want);
        assert_int_equal(c.communes[i].areas, 1);
    }
    assert_int_equal(c.nchildren, 2);
    assert_string_equal(c.children[0].id, "dak-mil");
    assert_string_equal(c.children[1].id, "Đắk Song");
    assert_string_equal(c.children[1].url, "tcp://10.0.0.3:5556");
    conf_release(c.s, 3);
    assert_null(c.communes);
    assert_int_equal(c.ncommunes, 0);

    /* an empty repeated section still exists, and is checked */
    expect_error("[server]\nname=x\n[commune 1]\n[commune 2]\nname=b\npublic-key=" KEY_A "\n",
                 "t.ini:3: [commune 1] name: required key missing");
    /* the error in a later instance releases the earlier ones (ASan would see a leak) */
    expect_error("[server]\nname=x\n[commune 1]\nname=a\npublic-key=" KEY_A "\n"
                 "[child x]\nurl=u\n[commune 2]\nname=b\npublic-key=" KEY_A "\nareas=0\n",
                 "t.ini:11: [commune 2] areas: 0 is outside 1..200");
}

static void test_paths(void **state)
{
    (void)state;
    cfg_t c;
    cfg_init(&c);
    conf_error_t e;
    assert_int_equal(conf_load_string("[server]\nname=x\n", "/etc/dk/district.ini", c.s, 3, &e),
                     0);
    assert_string_equal(c.server.data, "/etc/dk/data"); /* the default is resolved too */
    conf_release(c.s, 3);
    assert_int_equal(conf_load_string("[server]\nname=x\ndata = ../store/x\n",
                                      "cfg/district.ini", c.s, 3, &e),
                     0);
    assert_string_equal(c.server.data, "cfg/../store/x");
    conf_release(c.s, 3);
    assert_int_equal(conf_load_string("[server]\nname=x\ndata = /abs/olute\n", "/etc/d.ini", c.s,
                                      3, &e),
                     0);
    assert_string_equal(c.server.data, "/abs/olute");
    conf_release(c.s, 3);
    assert_int_equal(conf_load_string("[server]\nname=x\ndata = \n", "/etc/d.ini", c.s, 3, &e),
                     0);
    assert_null(c.server.data); /* empty: not set */
    conf_release(c.s, 3);

    /* conf_load resolves against the file's real folder */
    const char *tmp = getenv("TMPDIR");
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof tmpl, "%s/dkconfXXXXXX", tmp ? tmp : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    char path[PATH_MAX + 20];
    snprintf(path, sizeof path, "%s/x.ini", d);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[server]\nname = x\ndata = store\n", f);
    fclose(f);
    assert_int_equal(conf_load(path, c.s, 3, &e), 0);
    char *real = realpath(d, NULL);
    char want[PATH_MAX + 20];
    snprintf(want, sizeof want, "%s/store", real);
    assert_string_equal(c.server.data, want);
    conf_release(c.s, 3);
    unlink(path);
    rmdir(d);
    free(real);
}

static void test_quotes_and_comments(void **state)
{
    (void)state;
    cfg_t c;
    assert_int_equal(load(&c, "# a comment\n; another\n[server] ; trailing comment\n"
                              "name = \"a ; b # c\"   ; comment\n"
                              "title = \"  padded \\\"q\\\" \\\\ \"\n"
                              "data = /x/y#z ; the # without space is kept\n"
                              "peers = a;b, c # comment\n"),
                     0);
    assert_string_equal(c.server.name, "a ; b # c");
    assert_string_equal(c.server.title, "  padded \"q\" \\ ");
    assert_string_equal(c.server.data, "/x/y#z");
    assert_string_equal(c.server.peers[0], "a;b");
    assert_string_equal(c.server.peers[1], "c");
    conf_release(c.s, 3);
    /* key = value and key: value, case-insensitive names */
    assert_int_equal(load(&c, "[SERVER]\nName: x\nPORT=7\n"), 0);
    assert_string_equal(c.server.name, "x");
    assert_int_equal(c.server.port, 7);
    conf_release(c.s, 3);
}

static void test_utf8_kept(void **state)
{
    (void)state;
    /* "Đắk Nông" in NFC and in NFD (decomposed): both must come back byte for byte */
    const char *nfc = "\xc4\x90\xe1\xba\xaf\x6b N\xc3\xb4ng";
    const char *nfd = "\xc4\x90\x61\xcc\x86\xcc\x81k No\xcc\x82ng";
    char text[200];
    snprintf(text, sizeof text, "[server]\nname = %s\ntitle = %s\n", nfc, nfd);
    cfg_t c;
    assert_int_equal(load(&c, text), 0);
    assert_string_equal(c.server.name, nfc);
    assert_string_equal(c.server.title, nfd);
    assert_int_equal(strlen(c.server.title), strlen(nfd));
    conf_release(c.s, 3);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("[server]\nname=x\n[foo]\n", "t.ini:3: unknown section [foo]");
    expect_error("[server]\nname=x\nbogus = 1\n", "t.ini:3: [server] bogus: unknown key");
    expect_error("[server]\nport=1\nname=x\nport = 2\n",
                 "t.ini:4: [server] port: given twice in this section (first at line 2)");
    expect_error("[server]\nname=x\n[server]\n",
                 "t.ini:3: section [server] appears twice (first at line 1)");
    expect_error("[server]\nname=x\n[commune 24664]\nname=a\npublic-key=" KEY_A "\n"
                 "[commune 24664]\n",
                 "t.ini:6: duplicate section [commune 24664] (first at line 3)");
    expect_error("[server]\nname=x\n[child a]\nurl=1\n[child a]\nurl=2\n",
                 "t.ini:5: duplicate section [child a] (first at line 3)");
    expect_error("[server]\nname=x\n[commune 24664]\nname = a\n",
                 "t.ini:3: [commune 24664] public-key: required key missing");
    expect_error("[commune 24664]\nname = a\npublic-key=" KEY_A "\n",
                 "t.ini: [server] name: required key missing");
    expect_error("[server]\nname=x\nport = 12.5\n",
                 "t.ini:3: [server] port: \"12.5\": not a whole number");
    expect_error("[server]\nname=x\nport = 0x10\n",
                 "t.ini:3: [server] port: \"0x10\": not a whole number");
    expect_error("[server]\nname=x\nport = 99999999999999999999\n",
                 "t.ini:3: [server] port: \"99999999999999999999\": not a whole number");
    expect_error("[server]\nname=x\nport = 65536\n",
                 "t.ini:3: [server] port: 65536 is outside 1..65535");
    expect_error("[server]\nname=x\nport =\n", "t.ini:3: [server] port: \"\": not a whole number");
    expect_error("[server]\nname=x\nverbose = maybe\n",
                 "t.ini:3: [server] verbose: not a boolean (true/false, yes/no, on/off, 1/0)");
    expect_error("[server]\nname=x\n[commune 1]\nname=a\npublic-key = \"\"\n",
                 "t.ini:5: [commune 1] public-key: required, must not be empty");
    expect_error("[server]\nname=x\nkey = abc\n",
                 "t.ini:3: [server] key: not a Z85 public key (40 characters expected, got 3)");
    expect_error("[server]\nname=x\nkey = Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI~\n",
                 "t.ini:3: [server] key: not a Z85 public key (invalid characters)");
    expect_error("[server]\nname=x\nheartbeat = 60\n",
                 "t.ini:3: [server] heartbeat: \"60\": a duration needs a unit: ms, s, m, h or d "
                 "(e.g. 60s)");
    expect_error("[server]\nname=x\nheartbeat = 1.5s\n",
                 "t.ini:3: [server] heartbeat: \"1.5s\": not a duration (a whole number and a "
                 "unit: 500ms, 60s, 5m, 2h, 30d)");
    expect_error("[server]\nname=x\nheartbeat = 2h\n",
                 "t.ini:3: [server] heartbeat: 2h is outside 100ms..1h");
    expect_error("[server]\nname=x\nheartbeat = 9999999999999999d\n",
                 "t.ini:3: [server] heartbeat: \"9999999999999999d\": duration too large");
    expect_error("[server]\nname=x\nmax-message = 64KB\n",
                 "t.ini:3: [server] max-message: \"64KB\": unknown size unit (use B, KiB, MiB, "
                 "GiB or TiB)");
    expect_error("[server]\nname=x\nmax-message = 1GiB\n",
                 "t.ini:3: [server] max-message: 1GiB is outside 1KiB..16MiB");
    expect_error("[server]\nname=x\nmax-message = -5\n",
                 "t.ini:3: [server] max-message: \"-5\": not a size (a whole number of bytes, or "
                 "with a unit: 64KiB, 16MiB, 1GiB)");
    expect_error("[server]\nname=x\npeers = a,b,c,d,e\n",
                 "t.ini:3: [server] peers: 5 items; between 0 and 4 expected");
    expect_error("[server]\nname=x\nlog-level = loud\n",
                 "t.ini:3: [server] log-level: \"loud\" is not one of error|warn|info|debug");
    expect_error("[server]\nname=\n", "t.ini:2: [server] name: length 0 bytes is outside 1..100");
    expect_error("name = x\n[server]\n", "t.ini:1: name: key outside any section");
    expect_error("[server]\nname=x\njust words\n",
                 "t.ini:3: syntax error: expected [section], key = value or a comment");
    expect_error("[server\nname=x\n",
                 "t.ini:1: syntax error: expected [section], key = value or a comment");
    expect_error("[server]\nname=x\n  continued\n",
                 "t.ini:3: syntax error: expected [section], key = value or a comment");
    expect_error("[server] junk\nname=x\n", "t.ini:1: text after the section header");
    expect_error("[server]\nname=\"x\n", "t.ini:2: [server] name: missing closing quote");
    expect_error("[server]\nname=\"x\" y\n", "t.ini:2: [server] name: text after the closing quote");
    expect_error("[server]\nname=\"a\\nb\"\n",
                 "t.ini:2: [server] name: unknown escape in quoted value (only \\\" and \\\\)");
    expect_error("[server]\nname=\xc3\x28\n", "t.ini:2: [server] name: value is not valid UTF-8");
    expect_error("[server]\nname=\xc0\xaf\n", "t.ini:2: [server] name: value is not valid UTF-8");
    expect_error("[server]\nname=\xed\xa0\x80\n",
                 "t.ini:2: [server] name: value is not valid UTF-8");
    expect_error("[server]\nname=a\x01z\n",
                 "t.ini:2: [server] name: value contains a control character");
    expect_error("[server x]\nname=x\n", "t.ini:1: section [server] takes no id");
    expect_error("[server]\nname=x\n[commune]\n",
                 "t.ini:3: section [commune] needs an id: [commune ID]");
    expect_error("[server]\nname=x\n[commune abc]\n",
                 "t.ini:3: [commune abc]: the id is not a whole number");
    expect_error("[server]\nname=x\n[commune 100000]\n",
                 "t.ini:3: [commune 100000]: the id is outside 1..99999");
    expect_error("[\xff]\n", "t.ini:1: section header is not valid UTF-8");

    char *long_line = malloc(CONF_MAX_LINE + 100);
    strcpy(long_line, "[server]\nname=");
    size_t o = strlen(long_line);
    memset(long_line + o, 'x', CONF_MAX_LINE);
    strcpy(long_line + o + CONF_MAX_LINE, "\n");
    expect_error(long_line, "t.ini:2: [server] line longer than 4096 bytes");
    /* the longest allowed line is fine (name is limited to 100 bytes: use title) */
    strcpy(long_line, "[server]\nname=x\ntitle=");
    o = strlen(long_line);
    memset(long_line + o, 'y', CONF_MAX_LINE - 6);
    strcpy(long_line + o + CONF_MAX_LINE - 6, "\n");
    cfg_t c;
    assert_int_equal(load(&c, long_line), 0);
    assert_int_equal(strlen(c.server.title), CONF_MAX_LINE - 6);
    conf_release(c.s, 3);
    free(long_line);
}

static void test_bad_default(void **state)
{
    (void)state;
    typedef struct {
        int64_t n;
    } t_t;
    static const conf_key_t keys[] = {
        {"n", CONF_DURATION, offsetof(t_t, n), "5", 0, 0, NULL, "bad default"},
        CONF_END,
    };
    t_t t = {0};
    conf_section_t s = {.name = "t", .size = sizeof t, .keys = keys, .single = &t};
    conf_error_t e;
    char buf[300];
    assert_int_equal(conf_load_string("", "x.ini", &s, 1, &e), DK_ECONFIG);
    conf_error_format(&e, buf, sizeof buf);
    assert_string_equal(buf, "x.ini: [t] n: default: \"5\": a duration needs a unit: ms, s, m, h "
                             "or d (e.g. 60s)");
}

static void test_optional_section(void **state)
{
    (void)state;
    typedef struct {
        char *url;
        int64_t every;
    } t_t;
    static const conf_key_t keys[] = {
        {"url", CONF_STRING, offsetof(t_t, url), NULL, 0, 0, NULL, "required when present"},
        {"every", CONF_DURATION, offsetof(t_t, every), "1m", 0, 0, NULL, "poll interval"},
        CONF_END,
    };
    t_t t = {0};
    conf_section_t s = {.name = "parent", .optional = true, .size = sizeof t, .keys = keys,
                        .single = &t};
    conf_error_t e;
    assert_int_equal(conf_load_string("", "x.ini", &s, 1, &e), 0);
    assert_null(t.url);
    assert_int_equal(t.every, 60000);
    conf_release(&s, 1);
    char buf[300];
    assert_int_equal(conf_load_string("[parent]\nevery=2m\n", "x.ini", &s, 1, &e), DK_ECONFIG);
    conf_error_format(&e, buf, sizeof buf);
    assert_string_equal(buf, "x.ini:1: [parent] url: required key missing");
}

static void test_files(void **state)
{
    (void)state;
    cfg_t c;
    cfg_init(&c);
    conf_error_t e;
    char buf[600];
    assert_int_equal(conf_load(DK_TEST_DATA "/conf/district.ini", c.s, 3, &e), 0);
    assert_string_equal(c.server.name, "Huyện Đắk Mil");
    assert_int_equal(c.server.port, 5555);
    assert_true(c.server.verbose);
    char *real = realpath(DK_TEST_DATA "/conf", NULL);
    char want[PATH_MAX + 40];
    snprintf(want, sizeof want, "%s/data/district", real);
    free(real);
    assert_string_equal(c.server.data, want);
    assert_int_equal(c.server.heartbeat, 5000);
    assert_int_equal(c.server.max_message, 65536);
    assert_string_equal(c.server.peers[1], "tcp://127.0.0.1:5557");
    assert_int_equal(c.ncommunes, 2);
    assert_string_equal(c.communes[0].name, "Xã Đắk Lao");
    assert_string_equal(c.communes[0].public_key, KEY_A);
    assert_string_equal(c.communes[1].name, "Thị trấn Đắk Mil");
    assert_int_equal(c.communes[1].areas, 12);

    /* reload: a fresh set of structs while the first stays live, then swap and release */
    cfg_t fresh;
    cfg_init(&fresh);
    assert_int_equal(conf_load(DK_TEST_DATA "/conf/district.ini", fresh.s, 3, &e), 0);
    assert_string_equal(c.communes[0].name, "Xã Đắk Lao"); /* the live one is untouched */
    conf_release(c.s, 3);
    assert_string_equal(fresh.communes[1].name, "Thị trấn Đắk Mil");
    conf_release(fresh.s, 3);

    cfg_init(&c);
    assert_int_equal(conf_load(DK_TEST_DATA "/conf/bad-key.ini", c.s, 3, &e), DK_ECONFIG);
    conf_error_format(&e, buf, sizeof buf);
    assert_string_equal(buf, DK_TEST_DATA "/conf/bad-key.ini:6: [commune 24664] public-key: not "
                                          "a Z85 public key (40 characters expected, got 9)");
    assert_null(c.server.name);
    assert_null(c.communes);

    cfg_init(&c);
    assert_int_equal(conf_load(DK_TEST_DATA "/conf/crlf.ini", c.s, 3, &e), 0);
    assert_string_equal(c.server.name, "crlf");
    assert_int_equal(c.server.port, 7);
    conf_release(c.s, 3);
    assert_int_equal(conf_load(DK_TEST_DATA "/conf/bom.ini", c.s, 3, &e), 0);
    assert_string_equal(c.server.name, "bom");
    conf_release(c.s, 3);

    assert_int_equal(conf_load(DK_TEST_DATA "/conf/does-not-exist.ini", c.s, 3, &e), DK_EIO);
    conf_error_format(&e, buf, sizeof buf);
    assert_string_equal(buf, DK_TEST_DATA
                        "/conf/does-not-exist.ini: cannot open: No such file or directory");

    /* a NUL byte in a file (conf_load_string cannot see one) */
    char tmpl[PATH_MAX];
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/dkconfXXXXXX", tmp ? tmp : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    char path[PATH_MAX + 20];
    snprintf(path, sizeof path, "%s/nul.ini", d);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite("[server]\nname=a\0b\n", 1, 18, f);
    fclose(f);
    assert_int_equal(conf_load(path, c.s, 3, &e), DK_ECONFIG);
    assert_int_equal(e.line, 2);
    assert_string_equal(e.message, "contains a NUL byte");
    unlink(path);
    rmdir(d);
}

static void test_print_doc(void **state)
{
    (void)state;
    cfg_t c;
    cfg_init(&c);
    char *doc = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&doc, &len);
    conf_print_doc(f, c.s, 3);
    fclose(f);
    assert_non_null(strstr(doc, "# The server\n[server]\n"));
    assert_non_null(strstr(doc, "# TCP port\n#   whole number, range 1..65535, default 5555\n"
                                "port = 5555\n"));
    assert_non_null(strstr(doc, "#   duration (500ms, 60s, 5m, 2h, 30d), range 100ms..1h, "
                                "default 5s\nheartbeat = 5s\n"));
    assert_non_null(strstr(doc, "range 1KiB..16MiB, default 64KiB\n"));
    assert_non_null(strstr(doc, "#   text, length 1..100 bytes, required\n#name = \n"));
    assert_non_null(strstr(doc, "#[commune NUMBER]\n"));
    assert_non_null(strstr(doc, "#   one of error|warn|info|debug, default info\nlog-level = info"));
    assert_non_null(strstr(doc, "key = \"\"\n"));
    /* the documentation, with the required key filled in, is a valid config giving the defaults */
    char *text = NULL;
    size_t tlen = 0;
    f = open_memstream(&text, &tlen);
    fputs(doc, f);
    fclose(f);
    char *req = strstr(text, "#name = \n");
    assert_non_null(req);
    memcpy(req, "name=x  \n", 9);
    cfg_t back;
    assert_int_equal(load(&back, text), 0);
    assert_int_equal(back.server.port, 5555);
    assert_string_equal(back.server.title, "Báo cáo");
    assert_int_equal(back.ncommunes, 0);
    conf_release(back.s, 3);
    free(text);
    free(doc);
}

static void test_error_format(void **state)
{
    (void)state;
    conf_error_t e = {.file = "district.ini", .line = 12, .section = "commune 24664",
                      .key = "public-key", .message = "not a Z85 public key"};
    char buf[200];
    int n = conf_error_format(&e, buf, sizeof buf);
    assert_string_equal(buf, "district.ini:12: [commune 24664] public-key: not a Z85 public key");
    assert_int_equal(n, (int)strlen(buf));
    char small[10];
    assert_int_equal(conf_error_format(&e, small, sizeof small), n);
    assert_string_equal(small, "district.");
    e.line = 0;
    e.key[0] = '\0';
    e.section[0] = '\0';
    conf_error_format(&e, buf, sizeof buf);
    assert_string_equal(buf, "district.ini: not a Z85 public key");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_types),     cmocka_unit_test(test_units_and_bools),
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_repeated),
        cmocka_unit_test(test_paths),         cmocka_unit_test(test_quotes_and_comments),
        cmocka_unit_test(test_utf8_kept),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bad_default),   cmocka_unit_test(test_optional_section),
        cmocka_unit_test(test_files),         cmocka_unit_test(test_print_doc),
        cmocka_unit_test(test_error_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
