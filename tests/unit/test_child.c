/* Unit tests of aggregator/child.c's config side: [child NAME] sections, their defaults and the
 * checks a province config needs (timeout < interval, no unit twice, Z85 keys, line numbers in
 * errors), and the example configs shipped in config/ (they must load). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "aconf.h"
#include "child.h"
#include "err.h"
#include "keys.h"

static char tmpdir[512];

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/child-XXXXXX", t ? t : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *write_conf(const char *name, const char *body)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
    return path;
}

static const char *key1(void)
{
    static keys_t k;
    if (!k.public_key[0]) {
        assert_int_equal(keys_generate(&k), 0);
    }
    return k.public_key;
}

static const char *key2(void)
{
    static keys_t k;
    if (!k.public_key[0]) {
        assert_int_equal(keys_generate(&k), 0);
    }
    return k.public_key;
}

/* Loads a province config whose [child] sections are `children`; returns the parse result. */
static int parse(const char *children, child_conf_t **list, size_t *n, char *err, size_t errlen)
{
    char body[4096];
    snprintf(body, sizeof body,
             "[aggregator]\nunit = 67\nname = Tỉnh Đắk Nông\nlevel = province\ndata-dir = data\n"
             "key-file = p.key\n\n%s",
             children);
    aconf_t *conf = NULL;
    char aerr[512];
    int rc = aconf_load(write_conf("p.ini", body), &conf, aerr, sizeof aerr);
    if (rc < 0) {
        fprintf(stderr, "aconf: %s\n", aerr);
        return rc;
    }
    rc = child_conf_parse(conf, list, n, err, errlen);
    aconf_destroy(&conf);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text,
             "[child dakmil]\nunit = 663\nendpoint = tcp://127.0.0.1:7700\nserver-key = \"%s\"\n\n"
             "[child cujut]\nunit = 662\nendpoint = tcp://127.0.0.1:7710\nserver-key = \"%s\"\n"
             "interval = 5s\ntimeout = 2s\nkey-file = reader.key\nfull-every = 0\n",
             key1(), key2());
    child_conf_t *l = NULL;
    size_t n = 0;
    char err[512] = "";
    assert_int_equal(parse(text, &l, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(l[0].name, "dakmil");
    assert_int_equal(l[0].unit, 663);
    assert_int_equal(l[0].interval_ms, 60000);
    assert_int_equal(l[0].timeout_ms, 20000);
    assert_int_equal(l[0].page_cells, 1000);
    assert_int_equal(l[0].full_every, 60);
    assert_null(l[0].key_file);
    assert_string_equal(l[0].server_key, key1());
    assert_int_equal(l[0].line, 8);
    assert_string_equal(l[1].name, "cujut");
    assert_int_equal(l[1].interval_ms, 5000);
    assert_int_equal(l[1].timeout_ms, 2000);
    assert_int_equal(l[1].full_every, 0);
    assert_non_null(l[1].key_file);
    /* relative to the config's folder */
    assert_non_null(strstr(l[1].key_file, tmpdir));
    child_conf_free(l, n);
}

static void expect_error(const char *children, const char *needle)
{
    child_conf_t *l = NULL;
    size_t n = 0;
    char err[512] = "";
    int rc = parse(children, &l, &n, err, sizeof err);
    if (rc != DK_ECONFIG || !strstr(err, needle)) {
        fail_msg("expected DK_ECONFIG with '%s', got %d '%s'", needle, rc, err);
    }
    assert_null(l);
    assert_int_equal(n, 0);
}

static void test_errors(void **state)
{
    (void)state;
    char t[1024];
    snprintf(t, sizeof t,
             "[child a]\nunit = 663\nendpoint = tcp://x:1\nserver-key = \"%s\"\ntimeout = 60s\n",
             key1());
    expect_error(t, "timeout");
    snprintf(t, sizeof t,
             "[child a]\nunit = 663\nendpoint = tcp://x:1\nserver-key = \"%s\"\n\n"
             "[child b]\nunit = 663\nendpoint = tcp://y:1\nserver-key = \"%s\"\n",
             key1(), key2());
    expect_error(t, "[child b] unit");
    snprintf(t, sizeof t, "[child a]\nunit = 67\nendpoint = tcp://x:1\nserver-key = \"%s\"\n",
             key1());
    expect_error(t, "own unit");
    expect_error("[child a]\nunit = 663\nendpoint = tcp://x:1\nserver-key = abc\n", "server-key");
    snprintf(t, sizeof t, "[child a]\nunit = 663\nserver-key = \"%s\"\n", key1());
    expect_error(t, "endpoint");
    snprintf(t, sizeof t,
             "[child a]\nunit = 663\nendpoint = tcp://x:1\nserver-key = \"%s\"\nspeed = 3\n",
             key1());
    expect_error(t, "p.ini:12");
}

static void test_no_children(void **state)
{
    (void)state;
    child_conf_t *l = NULL;
    size_t n = 7;
    char err[256];
    assert_int_equal(parse("", &l, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    child_conf_free(l, n);
}

/* The example configs of config/ must load as they are (placeholders are valid keys). */
static void test_examples(void **state)
{
    (void)state;
    const char *files[] = {"district.ini", "province.ini", "nation.ini", "province-2025.ini"};
    size_t want[] = {0, 8, 1, 1};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/config/%s", DK_SOURCE_DIR, files[i]);
        aconf_t *conf = NULL;
        char err[512] = "";
        int rc = aconf_load(path, &conf, err, sizeof err);
        if (rc < 0) {
            fail_msg("%s: %s", files[i], err);
        }
        child_conf_t *l = NULL;
        size_t n = 0;
        rc = child_conf_parse(conf, &l, &n, err, sizeof err);
        if (rc < 0) {
            fail_msg("%s: %s", files[i], err);
        }
        assert_int_equal(n, want[i]);
        child_conf_free(l, n);
        aconf_destroy(&conf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_no_children),
        cmocka_unit_test(test_examples),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
