/* testevent — the deterministic test event (commune, seq) that the test and bench tools send.
 *
 * Content is a pure function of (commune, seq) so tests can compute expected totals; it is
 * mirrored by expected_event() in tests/system/dkharness.py; dk-testclient and dk-loadgen both
 * send it.
 * Every event passes wire_check_event with the default rules and any commune config with at least
 * 5 residential areas (areas 1..5, dates in 2023, organiser 0).
 *
 * Header-only (static inline) because every tests/tools/<name>.c is its own executable. */
#ifndef DK_TESTEVENT_H
#define DK_TESTEVENT_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "doanket.pb-c.h"
#include "wire.h"

/* One event and the storage its pointers refer to: keep it alive while ev is used. */
typedef struct {
    Dk__Event ev;
    Dk__Activity act;
    Dk__FundMovement fund;
    Dk__Void vd;
    char title[64];
} testevent_t;

/* Fills e with event seq of commune (seq % 4 == 0: a fund receipt; otherwise a propaganda
 * conference). e->ev points into e itself. */
static inline void testevent_make(testevent_t *e, uint32_t commune, uint64_t seq)
{
    memset(e, 0, sizeof *e);
    dk__event__init(&e->ev);
    e->ev.has_schema_version = 1;
    e->ev.schema_version = WIRE_SCHEMA_VERSION;
    e->ev.has_commune = 1;
    e->ev.commune = commune;
    e->ev.has_seq = 1;
    e->ev.seq = seq;
    e->ev.has_recorded_at = 1;
    e->ev.recorded_at = 1700000000 + (int64_t)seq;
    e->ev.has_date = 1;
    e->ev.date = 20230000 + (uint32_t)(1 + seq % 12) * 100 + (uint32_t)(1 + seq % 28);
    e->ev.has_area = 1;
    e->ev.area = (uint32_t)(1 + seq % 5);
    if (seq % 4 == 0) {
        dk__fund_movement__init(&e->fund);
        e->fund.has_fund = 1;
        e->fund.fund = DK__FUND__FOR_THE_POOR;
        e->fund.has_flow = 1;
        e->fund.flow = DK__FLOW__RECEIPT;
        e->fund.has_source = 1;
        e->fund.source = DK__SOURCE__INDIVIDUAL;
        e->fund.has_amount = 1;
        e->fund.amount = 10000 * (1 + (seq * 7 + commune) % 500);
        e->ev.body_case = DK__EVENT__BODY_FUND;
        e->ev.fund = &e->fund;
        snprintf(e->title, sizeof e->title, "Ủng hộ quỹ Vì người nghèo %" PRIu64, seq);
    } else {
        dk__activity__init(&e->act);
        e->act.has_kind = 1;
        e->act.kind = DK__ACTIVITY_KIND__PROPAGANDA;
        e->act.has_contents = 1;
        e->act.contents = 1u << (seq % 5);
        e->act.has_channel = 1;
        e->act.channel = DK__CHANNEL__CONFERENCE;
        e->act.has_sessions = 1;
        e->act.sessions = (uint32_t)(1 + seq % 3);
        e->act.has_participants = 1;
        e->act.participants = (uint32_t)(10 + (seq * 13 + commune) % 90);
        e->ev.body_case = DK__EVENT__BODY_ACTIVITY;
        e->ev.activity = &e->act;
        snprintf(e->title, sizeof e->title, "Hội nghị tuyên truyền %" PRIu64, seq);
    }
    e->ev.title = e->title;
}

#endif
