/* libFuzzer target for the agent's CSV import (agents/csvimport, agents/record): arbitrary bytes as
 * a commune's CSV file through csvimport_parse (the in-memory parse; no outbox, no file), which
 * reads the rows, turns each into an event with record_set and validates it with
 * wire_check_event. The file kind (activities or fund movements) comes from the header, so the
 * seeds (tests/fuzz/corpus/csv/: the real files of tests/data/csv/ and config/templates/) cover
 * both. Checked on every input, besides no crash, no leak and no sanitizer report:
 *   - a good file (rc 0) has no error, one event per data row, and every event passes
 *     wire_check_event with the same rules, belongs to the commune, carries a 16-byte origin_key
 *     distinct from every other row's, and its line is a real line of the file;
 *   - a bad file (DK_EINVAL) yields no event and at least one error; every error has a non-empty
 *     UTF-8 reason, a line within the file (0 only for a file-wide problem, which then has no
 *     column), and a column, when given, within the fields a row can have and on a line >= 1;
 *   - the same bytes with a UTF-8 BOM in front give the same outcome, errors and row identities
 *     (csvimport.h: the keys do not depend on the encoding variant);
 *   - the Vietnamese report and the event descriptions can be written. */
/* dk-link: dkagent */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvimport.h"
#include "err.h"
#include "period.h"
#include "record.h"
#include "text.h"
#include "wire.h"

#define COMMUNE 24664

/* Names the broken invariant (the line just above) before libFuzzer records the crash. */
#define FAIL()                                                                                     \
    (fprintf(stderr, "%s:%d: invariant broken (the condition above)\n", __FILE__, __LINE__),       \
     abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;
static int32_t today;

static void check_text(const char *s, bool need)
{
    if (s == NULL) {
        if (need) {
            FAIL();
        }
        return;
    }
    size_t n = strlen(s);
    if ((need && n == 0) || !text_utf8_valid(s, n)) {
        FAIL();
    }
}

static void check_result(const csvimport_t *c, int rc, const char *buf, size_t len)
{
    size_t nlines = 1, ndelim = 0;
    for (size_t i = 0; i < len; i++) {
        nlines += buf[i] == '\n';
        ndelim += c->delimiter != 0 && buf[i] == c->delimiter;
    }
    if (c->n_errors > CSVIMPORT_MAX_ERRORS ||
        (c->more_errors && c->n_errors != CSVIMPORT_MAX_ERRORS)) {
        FAIL();
    }
    for (size_t i = 0; i < c->n_errors; i++) {
        const csvimport_error_t *e = &c->errors[i];
        check_text(e->reason, true);
        check_text(e->header, false);
        if (e->line < 0 || (size_t)e->line > nlines || e->column < 0 ||
            (size_t)e->column > ndelim + 1) {
            FAIL();
        }
        if (e->line == 0 && e->column != 0) {
            FAIL(); /* a column error always names the row's line */
        }
    }
    if (rc == 0) {
        if (c->n_errors != 0 || c->more_errors != 0 || c->n_events == 0 || c->n_events != c->rows ||
            (c->kind != RECORD_ACTIVITY && c->kind != RECORD_FUND) ||
            (c->delimiter != ',' && c->delimiter != ';')) {
            FAIL();
        }
        wire_rules_t rules;
        wire_rules_init(&rules);
        rules.commune = COMMUNE;
        rules.today = today;
        for (size_t i = 0; i < c->n_events; i++) {
            const Dk__Event *ev = c->events[i];
            wire_fault_t f;
            if (wire_check_event(ev, &rules, &f) != 0) {
                FAIL(); /* a recorded row the aggregator would refuse */
            }
            if (!ev->has_commune || ev->commune != COMMUNE || !ev->has_origin_key ||
                ev->origin_key.len != WIRE_ORIGIN_KEY_LEN) {
                FAIL();
            }
            if ((c->kind == RECORD_ACTIVITY) != (ev->body_case == DK__EVENT__BODY_ACTIVITY) ||
                (c->kind == RECORD_FUND) != (ev->body_case == DK__EVENT__BODY_FUND)) {
                FAIL();
            }
            if (c->event_lines[i] < 2 || (size_t)c->event_lines[i] > nlines ||
                (i > 0 && c->event_lines[i] <= c->event_lines[i - 1])) {
                FAIL();
            }
            for (size_t j = 0; j < i; j++) {
                if (memcmp(c->events[j]->origin_key.data, ev->origin_key.data,
                           WIRE_ORIGIN_KEY_LEN) == 0) {
                    FAIL(); /* two rows of one file with one identity: one would be lost */
                }
            }
            record_describe(devnull, ev);
        }
    } else {
        if (rc != DK_EINVAL || c->n_errors == 0 || c->n_events != 0) {
            FAIL();
        }
    }
    csvimport_report(devnull, "fuzz.csv", c, NULL, NULL);
}

static void same_result(const csvimport_t *a, int rca, const csvimport_t *b, int rcb)
{
    if (rca != rcb || a->kind != b->kind || a->rows != b->rows || a->n_events != b->n_events ||
        a->n_errors != b->n_errors || a->more_errors != b->more_errors) {
        FAIL();
    }
    for (size_t i = 0; i < a->n_events; i++) {
        if (a->event_lines[i] != b->event_lines[i] ||
            memcmp(a->events[i]->origin_key.data, b->events[i]->origin_key.data,
                   WIRE_ORIGIN_KEY_LEN) != 0) {
            FAIL();
        }
    }
    for (size_t i = 0; i < a->n_errors; i++) {
        if (a->errors[i].line != b->errors[i].line || a->errors[i].column != b->errors[i].column ||
            strcmp(a->errors[i].reason, b->errors[i].reason) != 0) {
            FAIL();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (devnull == NULL) {
        devnull = fopen("/dev/null", "w");
        if (devnull == NULL || period_ymd_to_day(2023, 12, 31, &today) != 0) {
            FAIL();
        }
    }
    /* An exact-size copy, so ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    csvimport_t *c = NULL;
    int rc = csvimport_parse(buf, size, COMMUNE, today, &c);
    if (c == NULL) {
        FAIL();
    }
    check_result(c, rc, buf, size);

    if (size < 3 || memcmp(buf, "\xEF\xBB\xBF", 3) != 0) {
        char *bom = malloc(size + 3);
        memcpy(bom, "\xEF\xBB\xBF", 3);
        memcpy(bom + 3, data, size);
        csvimport_t *c2 = NULL;
        int rc2 = csvimport_parse(bom, size + 3, COMMUNE, today, &c2);
        if (c2 == NULL || !c2->bom) {
            FAIL();
        }
        same_result(c, rc, c2, rc2);
        csvimport_destroy(&c2);
        free(bom);
    }
    csvimport_destroy(&c);
    if (c != NULL) {
        FAIL();
    }
    free(buf);
    return 0;
}
