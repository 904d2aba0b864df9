/* log: one line per call on stderr, tagged with the module, Vietnam time, filtered by level. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define LOG_TAG "testmod"
#include "log.h"

/* Runs fn with stderr sent to a temporary file and returns what was written (caller frees). */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/dk-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    fn();
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)len, 0), len);
    close(fd);
    unlink(path);
    return buf;
}

static void write_three(void)
{
    log_set_level(LOG_INFO);
    log_info("commit events=%d version=%llu", 12, 40ULL);
    log_debug("this is below the level");
    log_error("open dir=%s failed", "/nonexistent");
}

static void test_format_and_filter(void **state)
{
    (void)state;
    char *out = capture(write_three);
    /* exactly two lines: the debug line is filtered */
    int lines = 0;
    for (char *p = out; *p; p++) {
        lines += *p == '\n';
    }
    assert_int_equal(lines, 2);
    assert_non_null(strstr(out, "INFO  [testmod] commit events=12 version=40\n"));
    assert_non_null(strstr(out, "ERROR [testmod] open dir=/nonexistent failed\n"));
    assert_null(strstr(out, "below the level"));
    /* ISO time with Vietnam's offset at the start of each line */
    assert_int_equal(out[4], '-');
    assert_int_equal(out[10], 'T');
    assert_memory_equal(out + 23, "+07:00 ", 7);
    free(out);
}

static void write_debug(void)
{
    log_set_level(LOG_DEBUG);
    log_debug("seq=%d", 7);
    log_set_level(LOG_INFO);
}

static void test_debug_level(void **state)
{
    (void)state;
    char *out = capture(write_debug);
    assert_non_null(strstr(out, "DEBUG [testmod] seq=7\n"));
    free(out);
}

static void write_long(void)
{
    log_set_level(LOG_INFO);
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_warn("big=%s", big);
}

/* A line longer than the buffer is cut, still ends with a newline, and is one line. */
static void test_long_line_truncated(void **state)
{
    (void)state;
    char *out = capture(write_long);
    size_t n = strlen(out);
    assert_true(n > 1000 && n < 2100);
    assert_int_equal(out[n - 1], '\n');
    assert_null(memchr(out, '\n', n - 1));
    free(out);
}

static void test_level_parse(void **state)
{
    (void)state;
    assert_int_equal(log_level_parse("error"), LOG_ERROR);
    assert_int_equal(log_level_parse("WARN"), LOG_WARN);
    assert_int_equal(log_level_parse("info"), LOG_INFO);
    assert_int_equal(log_level_parse("Debug"), LOG_DEBUG);
    assert_int_equal(log_level_parse("verbose"), -1);
    assert_int_equal(log_level_parse(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_filter),
        cmocka_unit_test(test_debug_level),
        cmocka_unit_test(test_long_line_truncated),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
