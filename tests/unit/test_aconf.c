/* Unit tests for aggregator/aconf: the aggregator's config tables, the raw sections kept for
 * other modules ([http], [child NAME]) with their real line numbers, and the checks beyond conf's
 * (a public key used twice). Also zap_user_parse, the other half of the identity contract. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "aconf.h"
#include "err.h"
#include "zap.h"

#define K1 "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yhU"
#define K2 "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
#define K3 "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"

static char dir[256];

static const char *write_conf(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/aconf-XXXXXX", tmp);
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *full =
    "[aggregator]\n"                         /* 1 */
    "unit = 663\n"                           /* 2 */
    "name = Huyện Đắk Mil\n"                 /* 3 */
    "data-dir = data\n"                      /* 4 */
    "key-file = agg.key\n"                   /* 5 */
    "organisers = Hội Nông dân, Hội Phụ nữ\n" /* 6 */
    "\n"                                     /* 7 */
    "[http]\n"                               /* 8 */
    "port = 0 ; any\n"                       /* 9 */
    "\n"                                     /* 10 */
    "[commune 24664]\n"                      /* 11 */
    "name = Thị trấn Đắk Mil\n"              /* 12 */
    "public-key = \"" K1 "\"\n"              /* 13 */
    "areas = 12\n"                           /* 14 */
    "\n"                                     /* 15 */
    "[child dakmil]\n"                       /* 16 */
    "unit = 663\n"                           /* 17 */
    "endpoint = \"tcp://10.0.0.1:7700\"\n"   /* 18 */
    "\n"                                     /* 19 */
    "[reader province]\n"                    /* 20 */
    "public-key = \"" K2 "\"\n"              /* 21 */
    "[commune 24667]\n"                      /* 22 */
    "name = Xã Đắk Lao\n"                    /* 23 */
    "public-key = \"" K3 "\"\n"              /* 24 */
    "areas = 9\n"                            /* 25 */
    "organisers = Đoàn Thanh niên\n";        /* 26 */

static void test_load_full(void **state)
{
    (void)state;
    const char *path = write_conf("full.ini", full);
    aconf_t *c = NULL;
    char err[600];
    assert_int_equal(aconf_load(path, &c, err, sizeof err), 0);
    assert_int_equal(c->agg.unit, 663);
    assert_int_equal(c->unit, 663);
    assert_string_equal(c->name, "Huyện Đắk Mil");
    assert_string_equal(c->level, "district");
    assert_int_equal(c->agg.commit_window, 5);
    assert_int_equal(c->agg.max_batch, 20000);
    assert_string_equal(c->agg.publish, "");
    assert_non_null(strstr(c->agg.data_dir, "/data")); /* relative to the config's folder */
    assert_int_equal(c->n_organisers, 2);
    assert_int_equal(c->n_communes, 2);
    assert_int_equal(c->n_readers, 1);
    assert_string_equal(c->readers[0].name, "province");
    assert_int_equal(c->readers[0].role, ACONF_ROLE_PROVINCE);
    const aconf_commune_t *a = aconf_commune(c, 24664);
    assert_non_null(a);
    assert_string_equal(a->public_key, K1);
    assert_int_equal(a->areas, 12);
    assert_null(aconf_commune(c, 11111));
    assert_int_equal(aconf_organisers(c, 24664), 2); /* the district's list */
    assert_int_equal(aconf_organisers(c, 24667), 1); /* its own */

    /* raw sections for other modules, with their lines */
    const aconf_section_t *h = aconf_section(c, "http", NULL);
    assert_non_null(h);
    assert_int_equal(h->line, 8);
    assert_int_equal(h->n_items, 1);
    assert_string_equal(h->items[0].key, "port");
    assert_string_equal(h->items[0].value, "0"); /* inline comment cut */
    assert_int_equal(h->items[0].line, 9);
    const aconf_section_t *ch = aconf_section(c, "child", "dakmil");
    assert_non_null(ch);
    assert_int_equal(ch->n_items, 2);
    assert_string_equal(ch->items[1].value, "tcp://10.0.0.1:7700"); /* quotes removed */
    assert_null(aconf_section(c, "child", "other"));

    /* the text for conf_load_string keeps line numbers and only that type's lines */
    char *t = aconf_section_text(c, "child");
    int line = 1;
    const char *p = t, *hdr = strstr(t, "[child dakmil]");
    assert_non_null(hdr);
    for (; p < hdr; p++) {
        line += *p == '\n';
    }
    assert_int_equal(line, 16);
    assert_null(strstr(t, "[commune"));
    assert_null(strstr(t, "[http]"));
    free(t);
    aconf_destroy(&c);
    assert_null(c);
    aconf_destroy(&c); /* idempotent */
}

static void expect_error(const char *text, const char *needle1, const char *needle2)
{
    const char *path = write_conf("bad.ini", text);
    aconf_t *c = NULL;
    char err[600];
    int rc = aconf_load(path, &c, err, sizeof err);
    assert_int_equal(rc, DK_ECONFIG);
    assert_null(c);
    if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2))) {
        fail_msg("error '%s' lacks '%s' / '%s'", err, needle1, needle2 ? needle2 : "");
    }
}

static void test_errors(void **state)
{
    (void)state;
    /* a bad value names file:line and key */
    expect_error("[aggregator]\nunit = 663\nname = X\ndata-dir = d\nkey-file = k\n"
                 "[commune 24664]\nname = A\npublic-key = \"" K1 "\"\nareas = many\n",
                 "bad.ini:9", "areas");
    /* a required key missing */
    expect_error("[aggregator]\nunit = 663\nname = X\ndata-dir = d\n", "key-file", NULL);
    /* an unknown section (not one kept for another module) */
    expect_error("[aggregator]\nunit = 663\nname = X\ndata-dir = d\nkey-file = k\n[bogus]\n"
                 "a = 1\n",
                 "bad.ini:6", NULL);
    /* the same key for two communes */
    expect_error("[aggregator]\nunit = 663\nname = X\ndata-dir = d\nkey-file = k\n"
                 "[commune 24664]\nname = A\npublic-key = \"" K1 "\"\nareas = 3\n"
                 "[commune 24667]\nname = B\npublic-key = \"" K1 "\"\nareas = 3\n",
                 "bad.ini:12: [commune 24667] public-key", "[commune 24664] (line 8)");
    /* a commune key reused by a reader */
    expect_error("[aggregator]\nunit = 663\nname = X\ndata-dir = d\nkey-file = k\n"
                 "[commune 24664]\nname = A\npublic-key = \"" K1 "\"\nareas = 3\n"
                 "[reader p]\npublic-key = \"" K1 "\"\n",
                 "bad.ini:11: [reader p] public-key", "[commune 24664] (line 8)");
    /* a reader first, then a commune with its key: the later one is named with its line */
    expect_error("[aggregator]\nunit = 663\nname = X\ndata-dir = d\nkey-file = k\n"
                 "[reader p]\npublic-key = \"" K2 "\"\n"
                 "[commune 24664]\nname = A\npublic-key = \"" K2 "\"\nareas = 3\n",
                 "bad.ini:10: [commune 24664] public-key", "[reader p] (line 7)");
    /* a key that is not Z85 */
    expect_error("[aggregator]\nunit = 663\nname = X\ndata-dir = d\nkey-file = k\n"
                 "[commune 24664]\nname = A\npublic-key = short\nareas = 3\n",
                 "bad.ini:8", "public-key");
    /* a missing file */
    aconf_t *c = NULL;
    char err[600];
    assert_int_equal(aconf_load("/nonexistent/x.ini", &c, err, sizeof err), DK_EIO);
    assert_non_null(strstr(err, "/nonexistent/x.ini"));
}

/* Writes a config with n communes (codes 10000.., in descending order so that the file order is
 * not the sorted order), each with its own key; with dup_of/dup_at set, commune dup_at reuses the
 * key of commune dup_of. *dup_line gets the line of the reused key. */
static const char *write_big(const char *name, int n, int dup_of, int dup_at, int *dup_line)
{
    size_t cap = (size_t)n * 160 + 512, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text + len, cap - len,
                            "[aggregator]\nunit = 663\nname = X\ndata-dir = d\nkey-file = k\n"
                            "organisers = A, B\n");
    int line = 6;
    for (int i = 0; i < n; i++) {
        int code = 10000 + (n - 1 - i);
        uint8_t key[32] = {0};
        int kcode = code == dup_at ? dup_of : code;
        memcpy(key, &kcode, sizeof kcode);
        key[31] = 0x5A;
        char z85[41];
        assert_non_null(zmq_z85_encode(z85, key, 32));
        len += (size_t)snprintf(text + len, cap - len,
                                "\n[commune %d]\nname = Xã %d\npublic-key = \"%s\"\nareas = %d\n",
                                code, code, z85, 1 + code % 20);
        if (code == dup_at && dup_line) {
            *dup_line = line + 4;
        }
        line += 5;
    }
    const char *path = write_conf(name, text);
    free(text);
    return path;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Thousands of communes (every commune of a province or more) load fast: the duplicate-key check
 * and aconf_commune are O(n log n) / O(log n), not pairwise scans. The bound is generous for a
 * shared machine; the pairwise check took far longer. */
static void test_many_communes(void **state)
{
    (void)state;
    enum { N = 5000 };
    const char *path = write_big("big.ini", N, 0, 0, NULL);
    aconf_t *c = NULL;
    char err[600];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(aconf_load(path, &c, err, sizeof err), 0);
    double ms = ms_since(&t0);
    print_message("aconf_load of %d communes: %.1f ms\n", N, ms);
    assert_true(ms < 3000);
    assert_int_equal(c->n_communes, N);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int code = 10000; code < 10000 + N; code++) {
        const aconf_commune_t *a = aconf_commune(c, (uint32_t)code);
        assert_non_null(a);
        assert_int_equal(a->code, code);
        assert_int_equal(a->areas, 1 + code % 20);
        assert_int_equal(aconf_organisers(c, (uint32_t)code), 2);
    }
    assert_true(ms_since(&t0) < 1000);
    assert_null(aconf_commune(c, 9999));
    assert_null(aconf_commune(c, 10000 + N));
    aconf_destroy(&c);

    /* a duplicate deep in the file is still refused, naming file:line and both sections */
    int line = 0;
    path = write_big("bigdup.ini", N, 10017, 10004, &line);
    assert_true(line > 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(aconf_load(path, &c, err, sizeof err), DK_ECONFIG);
    assert_true(ms_since(&t0) < 3000);
    assert_null(c);
    char want[80];
    snprintf(want, sizeof want, "bigdup.ini:%d: [commune 10004] public-key", line);
    if (!strstr(err, want) || !strstr(err, "[commune 10017]")) {
        fail_msg("error '%s' lacks '%s' / [commune 10017]", err, want);
    }
}

static void test_user_parse(void **state)
{
    (void)state;
    uint32_t commune = 0;
    const char *reader = NULL;
    assert_int_equal(zap_user_parse("commune:24664", &commune, &reader), ZAP_PEER_COMMUNE);
    assert_int_equal(commune, 24664);
    assert_int_equal(zap_user_parse("reader:province", &commune, &reader), ZAP_PEER_READER);
    assert_string_equal(reader, "province");
    assert_int_equal(zap_user_parse(NULL, &commune, &reader), ZAP_PEER_NONE);
    assert_int_equal(zap_user_parse("", &commune, &reader), ZAP_PEER_NONE);
    assert_int_equal(zap_user_parse("commune:", &commune, &reader), ZAP_PEER_NONE);
    assert_int_equal(zap_user_parse("commune:0", &commune, &reader), ZAP_PEER_NONE);
    assert_int_equal(zap_user_parse("commune:100000", &commune, &reader), ZAP_PEER_NONE);
    assert_int_equal(zap_user_parse("commune:12x", &commune, &reader), ZAP_PEER_NONE);
    assert_int_equal(zap_user_parse("reader:", &commune, &reader), ZAP_PEER_NONE);
    assert_int_equal(zap_user_parse("admin", &commune, &reader), ZAP_PEER_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_full),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_many_communes),
        cmocka_unit_test(test_user_parse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
