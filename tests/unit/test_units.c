/* Unit tests for aggregator/units: the real official list of config/units/, strict parsing with
 * file:line:column errors, effective dates, configured names taking precedence, folders, and the
 * registry an aggregator config builds (units-file + [commune]/[child] names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* dk-link: dkaggregator */

#include "aconf.h"
#include "err.h"
#include "period.h"
#include "units.h"

#define HDR "code,level,parent,type,name_vi,valid_from,valid_to\n"
#define REAL DK_SOURCE_DIR "/config/units/dak-nong-2023.csv"

static char dir[256];

static int32_t day(int y, int m, int d)
{
    int32_t v;
    assert_int_equal(period_ymd_to_day(y, m, d, &v), 0);
    return v;
}

static const char *write_file(const char *name, const char *text)
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
    snprintf(dir, sizeof dir, "%s/units-XXXXXX", tmp);
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

static void test_real_file(void **state)
{
    (void)state;
    units_t *u = units_new();
    char err[512] = "";
    int rc = units_load(u, REAL, err, sizeof err);
    if (rc != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(units_count(u), 80); /* 1 province, 8 districts, 71 communes */
    int32_t d = day(2023, 11, 18);
    units_entry_t e;
    assert_int_equal(units_find(u, 24667, d, &e), 0);
    assert_string_equal(e.full_name, "Xã Đắk Lao");
    assert_string_equal(e.name, "Đắk Lao");
    assert_string_equal(e.type, "Xã");
    assert_int_equal(e.level, UNITS_LEVEL_COMMUNE);
    assert_int_equal(e.parent, 663);
    assert_false(e.configured);
    assert_int_equal(e.valid_from, UNITS_OPEN_FROM);
    assert_int_equal(e.valid_to, day(2025, 6, 30));
    assert_string_equal(units_name(u, 24664, d), "Thị trấn Đắk Mil");
    assert_string_equal(units_name(u, 663, d), "Huyện Đắk Mil");
    assert_string_equal(units_name(u, 660, d), "Thành phố Gia Nghĩa");
    assert_string_equal(units_name(u, 67, d), "Tỉnh Đắk Nông");
    assert_string_equal(units_name(u, 666, d), "Huyện Đắk R'Lấp");
    assert_int_equal(units_find(u, 663, d, &e), 0);
    assert_int_equal(e.level, UNITS_LEVEL_DISTRICT);
    assert_int_equal(e.parent, 67);
    /* Unknown codes. */
    assert_int_equal(units_find(u, 24999, d, &e), DK_ENOTFOUND);
    assert_null(units_name(u, 24999, d));
    char *l = units_label(u, 24999, d);
    assert_string_equal(l, "Đơn vị 24999");
    free(l);
    l = units_label(NULL, 24667, d);
    assert_string_equal(l, "Đơn vị 24667");
    free(l);
    /* After the 2025 reform: not in force, but its figures still carry its last name. */
    int32_t later = day(2025, 7, 1);
    assert_int_equal(units_find(u, 24667, later, &e), DK_ENOTFOUND);
    assert_int_equal(units_find_near(u, 24667, later, &e), 0);
    assert_string_equal(e.full_name, "Xã Đắk Lao");
    assert_int_equal(e.parent, 663);
    assert_int_equal(units_find_near(u, 24999, later, &e), DK_ENOTFOUND);
    assert_string_equal(units_name(u, 24667, later), "Xã Đắk Lao");
    l = units_label(u, 24667, later);
    assert_string_equal(l, "Xã Đắk Lao");
    free(l);
    units_destroy(&u);
    units_destroy(&u);
    assert_null(u);
}

/* A file with errors: one line each, with the message naming FILE:LINE:COLUMN. */
static void expect_error(const char *text, const char *want)
{
    units_t *u = units_new();
    char err[512] = "";
    int rc = units_load_string(u, text, strlen(text), "bad.csv", err, sizeof err);
    if (rc != DK_ECONFIG || strstr(err, want) == NULL) {
        fail_msg("rc %d, error '%s', wanted '%s' for:\n%s", rc, err, want, text);
    }
    assert_int_equal(units_count(u), 0); /* all-or-nothing */
    units_destroy(&u);
}

static void test_bad_files(void **state)
{
    (void)state;
    expect_error("", "bad.csv:1:1: empty file");
    expect_error("code,level,parent,type,name,valid_from,valid_to\n",
                 "bad.csv:1:24: header field 'name': expected 'name_vi'");
    expect_error(HDR "67,province,,Tỉnh,Đắk Nông,,\n663,district,67,Huyện,Đắk Mil,\n",
                 "bad.csv:3:31: 6 fields, expected 7");
    expect_error(HDR "67,province,,Tỉnh,Đắk Nông,,,\n", "bad.csv:2:30: more than 7 fields");
    expect_error(HDR "6x,province,,Tỉnh,Đắk Nông,,\n",
                 "bad.csv:2:1: code: '6x': a province code is 2 digits");
    expect_error(HDR "67,province,,Tỉnh,Đắk Nông,,\n2466,commune,67,Xã,Đắk Lao,,\n",
                 "bad.csv:3:1: code: '2466': a commune code is 5 digits");
    expect_error(HDR "67,provinz,,Tỉnh,Đắk Nông,,\n", "bad.csv:2:4: level: 'provinz'");
    expect_error(HDR "67,province,,Tỉnh,Đắk Nông,,\n663,district,,Huyện,Đắk Mil,,\n",
                 "bad.csv:3:14: parent: empty: a district needs");
    /* The parent must be a unit above: 663 is unknown here. Column counts characters. */
    expect_error(HDR "67,province,,Tỉnh,Đắk Nông,,\n24667,commune,663,Xã,Đắk Lao,,\n",
                 "bad.csv:3:15: parent: '663': no unit of a level above commune");
    /* ...and a commune is not above a commune. */
    expect_error(HDR "67,province,,Tỉnh,Đắk Nông,,\n24667,commune,67,Xã,Đắk Lao,,\n"
                     "24668,commune,24667,Xã,Đắk Gằn,,\n",
                 "bad.csv:4:15: parent: '24667'");
    expect_error(HDR "67,province,,Tinh,Đắk Nông,,\n", "bad.csv:2:14: type: 'Tinh'");
    expect_error(HDR "67,province,,Tỉnh,,,\n", "bad.csv:2:19: name_vi: empty");
    /* NFD: "Đắk" written with a combining acute (U+0301) after "ă". Column 22 is the mark. */
    expect_error(HDR "67,province,,Tỉnh,Đă\xCC\x81k Nông,,\n",
                 "bad.csv:2:21: name_vi: combining mark U+0301");
    expect_error(HDR "67,province,,Tỉnh,Đắk Nông,2023-02-29,\n",
                 "bad.csv:2:28: valid_from: '2023-02-29': no such day");
    expect_error(HDR "67,province,,Tỉnh,Đắk Nông,,30/06/2025\n",
                 "bad.csv:2:29: valid_to: '30/06/2025': expected a date YYYY-MM-DD");
    expect_error(HDR "67,province,,Tỉnh,Đắk Nông,2025-07-01,2025-06-30\n",
                 "bad.csv:2:39: valid_to: '2025-06-30' is before valid_from '2025-07-01'");
    expect_error(HDR "67,province,,Tỉnh,\"Đắk \"Nông\",,\n",
                 "bad.csv:2:25: name_vi: text after the closing quote");
    expect_error(HDR "67,province,,Tỉnh,\"Đắk Nông,,\n", "bad.csv:2:19: name_vi: quoted field");
    expect_error(HDR "67,province,,Tỉnh,Đắk \"Nông\",,\n",
                 "bad.csv:2:23: name_vi: a quote inside an unquoted field");
    expect_error(HDR "67,province,,Tỉnh,Đắk\tNông,,\n", "bad.csv:2:22: control character");
    expect_error(HDR "67,province,,Tỉnh,Đắk \xFF,,\n", "bad.csv:2:23: not valid UTF-8");
    expect_error(HDR "67,province,,Tỉnh,Đắk Nông,,\n\n663,district,67,Huyện,Đắk Mil,,\n",
                 "bad.csv:3:1: empty line");
    /* Overlapping validity of one code: names the other row. */
    expect_error(HDR "67,province,,Tỉnh,Đắk Nông,,2025-06-30\n"
                     "67,province,,Tỉnh,Lâm Đồng mới,2025-06-30,\n",
                 "bad.csv:3:1: code: province 00067 is valid on days also covered by bad.csv:2");
}

static void test_quoting_bom_crlf(void **state)
{
    (void)state;
    const char *text = "\xEF\xBB\xBF" HDR "67,province,,Tỉnh,\"Đắk \"\"Nông\"\"\",,\r\n"
                       "\"663\",district,67,Huyện,\"Đắk Mil, cũ\",,\r\n";
    units_t *u = units_new();
    char err[512] = "";
    int rc = units_load_string(u, text, strlen(text), "q.csv", err, sizeof err);
    if (rc != 0) {
        fail_msg("%s", err);
    }
    assert_string_equal(units_name(u, 67, 0), "Tỉnh Đắk \"Nông\"");
    assert_string_equal(units_name(u, 663, 0), "Huyện Đắk Mil, cũ");
    units_destroy(&u);
}

static void test_effective_dates(void **state)
{
    (void)state;
    /* Code 24667 is one commune until the reform and another (a merged one) after it; code 68
     * is a province from 2025-07-01 only. */
    const char *text = HDR "67,province,,Tỉnh,Đắk Nông,,2025-06-30\n"
                           "663,district,67,Huyện,Đắk Mil,,2025-06-30\n"
                           "24667,commune,663,Xã,Đắk Lao,2004-01-01,2025-06-30\n"
                           "68,province,,Tỉnh,Lâm Đồng,2025-07-01,\n"
                           "24667,commune,68,Xã,Đắk Mil Mới,2025-07-01,\n";
    units_t *u = units_new();
    char err[512] = "";
    assert_int_equal(units_load_string(u, text, strlen(text), "e.csv", err, sizeof err), 0);
    units_entry_t e;
    assert_int_equal(units_find(u, 24667, day(2025, 6, 30), &e), 0);
    assert_string_equal(e.full_name, "Xã Đắk Lao");
    assert_int_equal(e.parent, 663);
    assert_int_equal(e.valid_from, day(2004, 1, 1));
    assert_int_equal(units_find(u, 24667, day(2025, 7, 1), &e), 0);
    assert_string_equal(e.full_name, "Xã Đắk Mil Mới");
    assert_int_equal(e.parent, 68);
    assert_int_equal(e.valid_to, UNITS_OPEN_TO);
    /* Before the first row: not in force; the nearest row names it. */
    assert_int_equal(units_find(u, 24667, day(2003, 12, 31), &e), DK_ENOTFOUND);
    assert_string_equal(units_name(u, 24667, day(2003, 12, 31)), "Xã Đắk Lao");
    assert_int_equal(units_find(u, 68, day(2025, 6, 30), &e), DK_ENOTFOUND);
    assert_int_equal(units_find(u, 68, day(2030, 1, 1), &e), 0);
    assert_int_equal(units_find(u, 67, day(2030, 1, 1), &e), DK_ENOTFOUND);
    assert_string_equal(units_name(u, 67, day(2030, 1, 1)), "Tỉnh Đắk Nông");

    /* A later file may name parents of an earlier one; a bad later file changes nothing. */
    const char *more = HDR "24668,commune,68,Phường,Bắc Gia Nghĩa,2025-07-01,\n";
    assert_int_equal(units_load_string(u, more, strlen(more), "more.csv", err, sizeof err), 0);
    assert_int_equal(units_count(u), 6);
    const char *bad = HDR "24669,commune,68,Phường,Nam Gia Nghĩa,2025-07-01,\n"
                          "24667,commune,68,Xã,Trùng,2026-01-01,\n";
    assert_int_equal(units_load_string(u, bad, strlen(bad), "bad2.csv", err, sizeof err),
                     DK_ECONFIG);
    assert_non_null(strstr(err, "bad2.csv:3:1: code: commune 24667"));
    assert_non_null(strstr(err, "e.csv:6"));
    assert_int_equal(units_count(u), 6);
    assert_null(units_name(u, 24669, day(2025, 7, 1)));

    /* Configured names win on every day, keeping the official level and parent. */
    units_set_name(u, 24667, "Xã Đắk Lao (cấu hình)");
    units_set_name(u, 24667, "");
    assert_int_equal(units_find(u, 24667, day(2023, 1, 1), &e), 0);
    assert_string_equal(e.full_name, "Xã Đắk Lao (cấu hình)");
    assert_string_equal(e.name, "Đắk Lao");
    assert_true(e.configured);
    assert_int_equal(e.parent, 663);
    assert_string_equal(units_name(u, 24667, day(2030, 1, 1)), "Xã Đắk Lao (cấu hình)");
    units_set_name(u, 99999, "Đơn vị thử");
    assert_int_equal(units_find(u, 99999, 0, &e), 0);
    assert_int_equal(e.level, UNITS_LEVEL_UNKNOWN);
    assert_string_equal(e.type, "");
    units_destroy(&u);
}

static void test_folder_and_io(void **state)
{
    (void)state;
    char err[512] = "";
    units_t *u = units_new();
    char path[400];
    snprintf(path, sizeof path, "%s/none.csv", dir);
    assert_int_equal(units_load(u, path, err, sizeof err), DK_EIO);
    assert_non_null(strstr(err, "none.csv: cannot open"));
    /* A folder: *.csv files in name order, so the later file's parent comes from the earlier. */
    snprintf(path, sizeof path, "%s/units", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(units_load(u, path, err, sizeof err), DK_ECONFIG);
    assert_non_null(strstr(err, "without any .csv file"));
    write_file("units/b-2025.csv", HDR "24668,commune,67,Phường,Bắc Gia Nghĩa,2025-07-01,\n");
    write_file("units/a-2023.csv", HDR "67,province,,Tỉnh,Đắk Nông,,\n");
    write_file("units/notes.txt", "not a CSV\n");
    assert_int_equal(units_load(u, path, err, sizeof err), 0);
    assert_int_equal(units_count(u), 2);
    assert_string_equal(units_name(u, 24668, day(2025, 8, 1)), "Phường Bắc Gia Nghĩa");
    /* A bad file in a folder: all-or-nothing, the error names the file. */
    units_t *v = units_new();
    write_file("units/c-bad.csv", HDR "24669,commune,67,Phuong,Nam,,\n");
    assert_int_equal(units_load(v, path, err, sizeof err), DK_ECONFIG);
    assert_non_null(strstr(err, "units/c-bad.csv:2:18: type: 'Phuong'"));
    assert_int_equal(units_count(v), 0);
    units_destroy(&v);
    units_destroy(&u);
}

/* The registry of an aggregator config: units-file (relative to the config's folder), then the
 * configured names of [commune] and [child] sections, which take precedence. */
static void test_from_conf(void **state)
{
    (void)state;
    char text[2048];
    snprintf(text, sizeof text,
             "[aggregator]\n"
             "unit = 67\n"
             "name = Tỉnh Đắk Nông (thử)\n"
             "level = province\n"
             "data-dir = data\n"
             "key-file = agg.key\n"
             "units-file = real.csv\n"
             "\n"
             "[child dakmil]\n"
             "unit = 663\n"
             "endpoint = tcp://127.0.0.1:7700\n"
             "server-key = rq:rM>}U?@Lns47E1%%kR.o@n%%FcmmsL/@{H8]yhU\n"
             "\n"
             "[child cujut]\n"
             "unit = 662\n"
             "endpoint = tcp://127.0.0.1:7710\n"
             "server-key = Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\n"
             "title = Huyện Cư Jút (cấu hình)\n");
    /* A copy of the real file beside the config, named relatively. */
    FILE *in = fopen(REAL, "rb");
    assert_non_null(in);
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, in);
    fclose(in);
    buf[n] = '\0';
    write_file("real.csv", buf);
    char cpath[512];
    snprintf(cpath, sizeof cpath, "%s", write_file("province.ini", text));
    aconf_t *conf = NULL;
    char err[600] = "";
    if (aconf_load(cpath, &conf, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_non_null(conf->agg.units_file);
    assert_true(conf->agg.units_file[0] == '/');
    units_t *u = NULL;
    if (units_from_conf(conf, &u, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    int32_t d = day(2023, 6, 1);
    assert_string_equal(units_name(u, 24667, d), "Xã Đắk Lao");
    assert_string_equal(units_name(u, 663, d), "Huyện Đắk Mil");
    assert_string_equal(units_name(u, 662, d), "Huyện Cư Jút (cấu hình)");
    assert_string_equal(units_name(u, 67, d), "Tỉnh Đắk Nông (thử)");
    units_destroy(&u);
    aconf_destroy(&conf);

    /* A bad units file fails the load with its file:line:column. */
    write_file("real.csv", HDR "67,province,,Tỉnh,Đắk Nông,,\n663,district,67,Huyen,Đắk Mil,,\n");
    assert_int_equal(aconf_load(cpath, &conf, err, sizeof err), 0);
    assert_int_equal(units_from_conf(conf, &u, err, sizeof err), DK_ECONFIG);
    assert_null(u);
    assert_non_null(strstr(err, "real.csv:3:17: type: 'Huyen'"));
    aconf_destroy(&conf);

    /* No units-file: only configured names. */
    const char *plain = write_file("district.ini",
                                   "[aggregator]\nunit = 663\nname = Huyện Đắk Mil\n"
                                   "data-dir = data\nkey-file = agg.key\n\n"
                                   "[commune 24667]\nname = Xã Đắk Lao (huyện đặt)\n"
                                   "public-key = rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yhU\n"
                                   "areas = 9\n");
    if (aconf_load(plain, &conf, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_null(conf->agg.units_file);
    assert_int_equal(units_from_conf(conf, &u, err, sizeof err), 0);
    assert_int_equal(units_count(u), 0);
    assert_string_equal(units_name(u, 24667, d), "Xã Đắk Lao (huyện đặt)");
    assert_null(units_name(u, 24664, d));
    units_destroy(&u);
    aconf_destroy(&conf);
}

/* The example configs of config/ name their units file relative to their folder: it loads. */
static void test_example_configs(void **state)
{
    (void)state;
    const char *files[] = {"district.ini", "province.ini", "nation.ini", "province-2025.ini"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[512], err[600] = "";
        snprintf(path, sizeof path, "%s/config/%s", DK_SOURCE_DIR, files[i]);
        aconf_t *conf = NULL;
        if (aconf_load(path, &conf, err, sizeof err) != 0) {
            fail_msg("%s", err);
        }
        assert_non_null(conf->agg.units_file);
        units_t *u = NULL;
        if (units_from_conf(conf, &u, err, sizeof err) != 0) {
            fail_msg("%s: %s", files[i], err);
        }
        assert_true(units_count(u) >= 80);
        /* A commune no [commune] section of a parent names, and a district. */
        assert_string_equal(units_name(u, 24667, day(2023, 11, 18)), "Xã Đắk Lao");
        assert_string_equal(units_name(u, 664, day(2023, 11, 18)), "Huyện Krông Nô");
        units_destroy(&u);
        aconf_destroy(&conf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_file),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_quoting_bom_crlf),
        cmocka_unit_test(test_effective_dates),
        cmocka_unit_test(test_folder_and_io),
        cmocka_unit_test(test_from_conf),
        cmocka_unit_test(test_example_configs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
