/* Unit tests for common/wire: codec round trips, size cap and budget, hostile bytes, and every
 * validation rule accepted and refused with its code, field and Vietnamese reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "money.h"
#include "period.h"
#include "text.h"
#include "wire.h"

#define COMMUNE 24664u

/* ---- codec ------------------------------------------------------------------------------------ */

/* Encodes env, decodes it, re-encodes the result: the bytes must be equal. Returns the decoded
 * envelope for further checks (caller frees). */
static Dk__Envelope *round_trip(Dk__Envelope *env)
{
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    assert_int_equal(wire_encode(env, &a, &alen), 0);
    assert_non_null(a);
    Dk__Envelope *out = NULL;
    assert_int_equal(wire_decode(a, alen, &out), 0);
    assert_non_null(out);
    assert_int_equal(out->msg_case, env->msg_case);
    assert_true(out->has_schema_version);
    assert_int_equal(out->schema_version, WIRE_SCHEMA_VERSION);
    assert_int_equal(wire_encode(out, &b, &blen), 0);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    free(a);
    free(b);
    return out;
}

static void fill_event(Dk__Event *ev, Dk__Activity *a, uint64_t seq)
{
    dk__event__init(ev);
    dk__activity__init(a);
    ev->has_commune = 1;
    ev->commune = COMMUNE;
    ev->has_seq = 1;
    ev->seq = seq;
    ev->has_date = 1;
    ev->date = 20231118;
    ev->has_recorded_at = 1;
    ev->recorded_at = 1700280000;
    ev->title = "Hội nghị tuyên truyền ở thôn 3";
    ev->note = "Ghi chú\ndòng hai";
    ev->body_case = DK__EVENT__BODY_ACTIVITY;
    ev->activity = a;
    a->has_kind = 1;
    a->kind = DK__ACTIVITY_KIND__PROPAGANDA;
    a->has_channel = 1;
    a->channel = DK__CHANNEL__CONFERENCE;
    a->has_sessions = 1;
    a->sessions = 2;
    a->has_participants = 1;
    a->participants = (uint32_t)(100 + seq);
}

static void test_round_trip_every_kind(void **state)
{
    (void)state;
    Dk__Envelope env = DK__ENVELOPE__INIT;
    Dk__Envelope *out;

    Dk__Hello hello = DK__HELLO__INIT;
    uint8_t inst[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    hello.has_commune = 1;
    hello.commune = COMMUNE;
    hello.has_instance = 1;
    hello.instance.data = inst;
    hello.instance.len = 16;
    hello.has_first_seq = 1;
    hello.first_seq = 5;
    hello.has_last_seq = 1;
    hello.last_seq = 900;
    hello.agent_version = "0.1.0";
    env.msg_case = DK__ENVELOPE__MSG_HELLO;
    env.hello = &hello;
    out = round_trip(&env);
    assert_int_equal(out->hello->commune, COMMUNE);
    assert_int_equal(out->hello->last_seq, 900);
    assert_memory_equal(out->hello->instance.data, inst, 16);
    assert_string_equal(out->hello->agent_version, "0.1.0");
    wire_free(&out);
    assert_null(out);

    Dk__Welcome welcome = DK__WELCOME__INIT;
    welcome.has_high_water = 1;
    welcome.high_water = 899;
    welcome.has_server_time = 1;
    welcome.server_time = -5; /* negative int64 survives */
    env.msg_case = DK__ENVELOPE__MSG_WELCOME;
    env.welcome = &welcome;
    out = round_trip(&env);
    assert_int_equal(out->welcome->high_water, 899);
    assert_int_equal(out->welcome->server_time, -5);
    wire_free(&out);

    Dk__Event evs[3];
    Dk__Activity acts[3];
    Dk__Event *evp[3];
    for (int i = 0; i < 3; i++) {
        fill_event(&evs[i], &acts[i], (uint64_t)i + 1);
        evp[i] = &evs[i];
    }
    Dk__FundMovement fm = DK__FUND_MOVEMENT__INIT;
    fm.has_fund = 1;
    fm.fund = DK__FUND__FOR_THE_POOR;
    fm.has_flow = 1;
    fm.flow = DK__FLOW__RECEIPT;
    fm.has_source = 1;
    fm.source = DK__SOURCE__BUSINESS;
    fm.has_amount = 1;
    fm.amount = MONEY_MAX;
    evs[1].body_case = DK__EVENT__BODY_FUND;
    evs[1].fund = &fm;
    Dk__Void vd = DK__VOID__INIT;
    vd.has_target_seq = 1;
    vd.target_seq = 1;
    evs[2].body_case = DK__EVENT__BODY_VOID;
    evs[2].void_ = &vd;
    evs[2].title = NULL;
    Dk__Batch batch = DK__BATCH__INIT;
    batch.has_batch_id = 1;
    batch.batch_id = 77;
    batch.n_events = 3;
    batch.events = evp;
    env.msg_case = DK__ENVELOPE__MSG_BATCH;
    env.batch = &batch;
    out = round_trip(&env);
    assert_int_equal(out->batch->n_events, 3);
    assert_string_equal(out->batch->events[0]->title, "Hội nghị tuyên truyền ở thôn 3");
    assert_string_equal(out->batch->events[0]->note, "Ghi chú\ndòng hai");
    assert_int_equal(out->batch->events[1]->body_case, DK__EVENT__BODY_FUND);
    assert_int_equal(out->batch->events[1]->fund->amount, MONEY_MAX);
    assert_int_equal(out->batch->events[2]->void_->target_seq, 1);
    wire_rules_t rules;
    wire_rules_init(&rules);
    for (size_t i = 0; i < out->batch->n_events; i++) {
        wire_fault_t f;
        assert_int_equal(wire_check_event(out->batch->events[i], &rules, &f), 0);
        assert_int_equal(f.code, 0);
    }
    wire_free(&out);

    Dk__EventResult r1 = DK__EVENT_RESULT__INIT, r2 = DK__EVENT_RESULT__INIT;
    r1.has_seq = 1;
    r1.seq = 1;
    r1.has_result = 1;
    r1.result = DK__RESULT_CODE__STORED;
    r2.has_seq = 1;
    r2.seq = 2;
    r2.has_result = 1;
    r2.result = DK__RESULT_CODE__REJECTED;
    r2.has_code = 1;
    r2.code = DK_EV_MONEY;
    r2.reason = "Số tiền (fund.amount) phải lớn hơn 0 đ.";
    r2.field = "fund.amount";
    Dk__EventResult *rs[2] = {&r1, &r2};
    Dk__Ack ack = DK__ACK__INIT;
    ack.has_batch_id = 1;
    ack.batch_id = 77;
    ack.n_results = 2;
    ack.results = rs;
    env.msg_case = DK__ENVELOPE__MSG_ACK;
    env.ack = &ack;
    out = round_trip(&env);
    assert_int_equal(out->ack->results[1]->code, DK_EV_MONEY);
    assert_string_equal(out->ack->results[1]->field, "fund.amount");
    wire_free(&out);

    Dk__Heartbeat hb = DK__HEARTBEAT__INIT;
    hb.has_backlog = 1;
    hb.backlog = 12;
    env.msg_case = DK__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &hb;
    out = round_trip(&env);
    assert_int_equal(out->heartbeat->backlog, 12);
    wire_free(&out);

    Dk__HeartbeatAck hba = DK__HEARTBEAT_ACK__INIT;
    hba.has_version = 1;
    hba.version = 4000;
    env.msg_case = DK__ENVELOPE__MSG_HEARTBEAT_ACK;
    env.heartbeat_ack = &hba;
    out = round_trip(&env);
    assert_int_equal(out->heartbeat_ack->version, 4000);
    wire_free(&out);

    Dk__SnapshotRequest sr = DK__SNAPSHOT_REQUEST__INIT;
    sr.has_since_version = 1;
    sr.since_version = 10;
    sr.has_max_cells = 1;
    sr.max_cells = 500;
    env.msg_case = DK__ENVELOPE__MSG_SNAPSHOT_REQUEST;
    env.snapshot_request = &sr;
    out = round_trip(&env);
    assert_int_equal(out->snapshot_request->max_cells, 500);
    wire_free(&out);

    int64_t m[3] = {1, -2, 3000000};
    Dk__Cell cell = DK__CELL__INIT;
    cell.has_unit = 1;
    cell.unit = COMMUNE;
    cell.has_day = 1;
    cell.day = 20231118;
    cell.has_category = 1;
    cell.category = 0x1000000000000001ull;
    cell.n_m = 3;
    cell.m = m;
    Dk__Cell *cells[1] = {&cell};
    Dk__UnitState us = DK__UNIT_STATE__INIT;
    us.has_unit = 1;
    us.unit = COMMUNE;
    us.last_error = "timeout";
    Dk__UnitState *uss[1] = {&us};
    Dk__Snapshot snap = DK__SNAPSHOT__INIT;
    snap.has_version = 1;
    snap.version = 99;
    snap.has_full = 1;
    snap.full = 1;
    snap.n_cells = 1;
    snap.cells = cells;
    snap.n_units = 1;
    snap.units = uss;
    env.msg_case = DK__ENVELOPE__MSG_SNAPSHOT;
    env.snapshot = &snap;
    out = round_trip(&env);
    assert_int_equal(out->snapshot->cells[0]->n_m, 3);
    assert_int_equal(out->snapshot->cells[0]->m[1], -2);
    assert_string_equal(out->snapshot->units[0]->last_error, "timeout");
    wire_free(&out);

    Dk__Update up = DK__UPDATE__INIT;
    up.has_version = 1;
    up.version = 100;
    up.has_prev_version = 1;
    up.prev_version = 99;
    up.n_cells = 1;
    up.cells = cells;
    env.msg_case = DK__ENVELOPE__MSG_UPDATE;
    env.update = &up;
    out = round_trip(&env);
    assert_int_equal(out->update->prev_version, 99);
    wire_free(&out);

    Dk__Refusal ref = DK__REFUSAL__INIT;
    ref.has_code = 1;
    ref.code = DK_EAUTH;
    ref.reason = "Khóa không được phép.";
    env.msg_case = DK__ENVELOPE__MSG_REFUSAL;
    env.refusal = &ref;
    out = round_trip(&env);
    assert_int_equal(out->refusal->code, DK_EAUTH);
    wire_free(&out);
    wire_free(&out); /* idempotent */
    wire_free(NULL);
}

static void test_encode_rules(void **state)
{
    (void)state;
    uint8_t *buf = (uint8_t *)1;
    size_t len = 5;
    Dk__Envelope env = DK__ENVELOPE__INIT;
    assert_int_equal(wire_encode(&env, &buf, &len), DK_EINVAL); /* no message */
    assert_null(buf);
    assert_int_equal(len, 0);
    /* schema_version is forced to ours, the caller's struct untouched */
    Dk__Heartbeat hb = DK__HEARTBEAT__INIT;
    env.msg_case = DK__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &hb;
    env.has_schema_version = 1;
    env.schema_version = 42;
    assert_int_equal(wire_encode(&env, &buf, &len), 0);
    assert_int_equal(env.schema_version, 42);
    Dk__Envelope *out;
    assert_int_equal(wire_decode(buf, len, &out), 0);
    assert_int_equal(out->schema_version, WIRE_SCHEMA_VERSION);
    wire_free(&out);
    free(buf);

    /* a frame over the cap is not produced */
    static char big[WIRE_MAX_FRAME];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    Dk__Refusal ref = DK__REFUSAL__INIT;
    ref.reason = big;
    env.msg_case = DK__ENVELOPE__MSG_REFUSAL;
    env.refusal = &ref;
    assert_int_equal(wire_encode(&env, &buf, &len), DK_ETOOBIG);
    assert_null(buf);
    /* just under the cap is fine and decodes */
    big[WIRE_MAX_FRAME - 16] = '\0';
    assert_int_equal(wire_encode(&env, &buf, &len), 0);
    assert_true(len <= WIRE_MAX_FRAME);
    assert_int_equal(wire_decode(buf, len, &out), 0);
    assert_int_equal(strlen(out->refusal->reason), WIRE_MAX_FRAME - 16);
    wire_free(&out);
    free(buf);
}

static void test_decode_refusals(void **state)
{
    (void)state;
    Dk__Envelope *out = (Dk__Envelope *)1;
    /* over the cap: refused before unpacking, whatever the bytes */
    uint8_t *big = calloc(1, WIRE_MAX_FRAME + 1);
    assert_int_equal(wire_decode(big, WIRE_MAX_FRAME + 1, &out), DK_ETOOBIG);
    assert_null(out);
    free(big);
    /* empty frame: an envelope with no message */
    assert_int_equal(wire_decode("", 0, &out), DK_EDECODE);
    assert_null(out);
    /* only a schema version */
    const uint8_t only_schema[] = {0x08, 0x01};
    assert_int_equal(wire_decode(only_schema, sizeof(only_schema), &out), DK_EDECODE);
    /* a newer schema */
    const uint8_t newer[] = {0x08, 0x02, 0x72, 0x00}; /* schema 2, heartbeat {} */
    assert_int_equal(wire_decode(newer, sizeof(newer), &out), DK_EV_SCHEMA);
    assert_null(out);
    const uint8_t ok[] = {0x08, 0x01, 0x72, 0x00};
    assert_int_equal(wire_decode(ok, sizeof(ok), &out), 0);
    assert_int_equal(out->msg_case, DK__ENVELOPE__MSG_HEARTBEAT);
    wire_free(&out);
    const uint8_t absent_schema[] = {0x72, 0x00};
    assert_int_equal(wire_decode(absent_schema, sizeof(absent_schema), &out), 0);
    wire_free(&out);
    /* two oneof members (heartbeat then refusal) */
    const uint8_t two[] = {0x72, 0x00, 0x9a, 0x01, 0x00};
    assert_int_equal(wire_decode(two, sizeof(two), &out), DK_EDECODE);
    assert_null(out);
    /* wrong wire type for a submessage, truncated length, bad varint */
    const uint8_t wrongtype[] = {0x70, 0x01};
    assert_int_equal(wire_decode(wrongtype, sizeof(wrongtype), &out), DK_EDECODE);
    const uint8_t trunc[] = {0x72, 0x05, 0x08};
    assert_int_equal(wire_decode(trunc, sizeof(trunc), &out), DK_EDECODE);
    /* field number 0 as a two-byte key inside a heartbeat (found by fuzzing): protobuf-c reads it
     * but could not read its own re-encoding, so it is refused */
    const uint8_t field0[] = {0x72, 0x06, 0x08, 0x00, 0x80, 0x00, 0xaa, 0x06};
    assert_int_equal(wire_decode(field0, sizeof(field0), &out), DK_EDECODE);
    assert_null(out);
    Dk__Event *ev0 = (Dk__Event *)1;
    const uint8_t field0_event[] = {0x10, 0x01, 0x80, 0x00, 0x05};
    assert_int_equal(wire_event_decode(field0_event, sizeof(field0_event), &ev0), DK_EDECODE);
    assert_null(ev0);
    /* an unknown field with a real number is kept and survives re-encoding */
    const uint8_t unknown_ok[] = {0x72, 0x05, 0x08, 0x03, 0xf8, 0x06, 0x01};
    assert_int_equal(wire_decode(unknown_ok, sizeof(unknown_ok), &out), 0);
    assert_int_equal(out->heartbeat->backlog, 3);
    assert_int_equal(out->heartbeat->base.n_unknown_fields, 1);
    uint8_t *re;
    size_t relen;
    assert_int_equal(wire_encode(out, &re, &relen), 0);
    wire_free(&out);
    assert_int_equal(wire_decode(re, relen, &out), 0);
    assert_int_equal(out->heartbeat->base.n_unknown_fields, 1);
    wire_free(&out);
    free(re);
    const uint8_t badvarint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(wire_decode(badvarint, sizeof(badvarint), &out), DK_EDECODE);
    assert_null(out);
}

/* Every prefix of a real batch: a clean result and no crash; garbage likewise. */
static void test_truncated_and_garbage(void **state)
{
    (void)state;
    Dk__Event evs[20];
    Dk__Activity acts[20];
    Dk__Event *evp[20];
    for (int i = 0; i < 20; i++) {
        fill_event(&evs[i], &acts[i], (uint64_t)i + 1);
        evp[i] = &evs[i];
    }
    Dk__Batch batch = DK__BATCH__INIT;
    batch.n_events = 20;
    batch.events = evp;
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_BATCH;
    env.batch = &batch;
    uint8_t *buf;
    size_t len;
    assert_int_equal(wire_encode(&env, &buf, &len), 0);
    int full = 0;
    for (size_t n = 0; n <= len; n++) {
        Dk__Envelope *out = NULL;
        int rc = wire_decode(buf, n, &out);
        assert_true(rc == 0 || rc == DK_EDECODE);
        if (rc == 0) {
            assert_non_null(out);
            full += n == len;
        } else {
            assert_null(out);
        }
        wire_free(&out);
    }
    assert_int_equal(full, 1);
    /* deterministic garbage, and single-byte flips of the real frame */
    uint32_t x = 2463534242u;
    uint8_t junk[512];
    for (int round = 0; round < 3000; round++) {
        size_t n = (size_t)(round % (int)sizeof(junk));
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            junk[i] = (uint8_t)x;
        }
        Dk__Envelope *out = NULL;
        int rc = wire_decode(junk, n, &out);
        assert_true(rc == 0 || rc == DK_EDECODE || rc == DK_EV_SCHEMA || rc == DK_ETOOBIG);
        wire_free(&out);
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t saved = buf[i];
        buf[i] ^= (uint8_t)(0x5a + i);
        Dk__Envelope *out = NULL;
        int rc = wire_decode(buf, len, &out);
        assert_true(rc == 0 || rc == DK_EDECODE || rc == DK_EV_SCHEMA || rc == DK_ETOOBIG);
        if (rc == 0 && out->msg_case == DK__ENVELOPE__MSG_BATCH) {
            for (size_t k = 0; k < out->batch->n_events; k++) {
                wire_fault_t f;
                (void)wire_check_event(out->batch->events[k], NULL, &f);
                assert_true(text_utf8_valid(f.reason, strlen(f.reason)));
            }
        }
        wire_free(&out);
        buf[i] = saved;
    }
    free(buf);
}

/* A frame under the size cap whose decoded form would need more than the budget: 60,000 empty
 * events are 2 bytes each packed but hundreds of bytes each decoded. */
static void test_decode_budget(void **state)
{
    (void)state;
    size_t n_events = 60000;
    size_t inner = n_events * 2;
    uint8_t *buf = malloc(inner + 16);
    size_t p = 0;
    buf[p++] = 0x62; /* field 12, length-delimited */
    size_t v = inner;
    while (v >= 0x80) {
        buf[p++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    buf[p++] = (uint8_t)v;
    for (size_t i = 0; i < n_events; i++) {
        buf[p++] = 0x12; /* Batch.events */
        buf[p++] = 0x00;
    }
    assert_true(p <= WIRE_MAX_FRAME);
    Dk__Envelope *out = (Dk__Envelope *)1;
    assert_int_equal(wire_decode(buf, p, &out), DK_ETOOBIG);
    assert_null(out);
    free(buf);

    /* a realistic full batch near the cap fits the budget */
    enum { N = 600 };
    static Dk__Event evs[N];
    static Dk__Activity acts[N];
    static Dk__Event *evp[N];
    for (int i = 0; i < N; i++) {
        fill_event(&evs[i], &acts[i], (uint64_t)i + 1);
        evp[i] = &evs[i];
    }
    Dk__Batch batch = DK__BATCH__INIT;
    batch.n_events = N;
    batch.events = evp;
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_BATCH;
    env.batch = &batch;
    size_t len;
    assert_int_equal(wire_encode(&env, &buf, &len), 0);
    assert_true(len > WIRE_MAX_FRAME / 4);
    assert_int_equal(wire_decode(buf, len, &out), 0);
    assert_int_equal(out->batch->n_events, N);
    wire_free(&out);
    free(buf);
}

static void test_event_codec(void **state)
{
    (void)state;
    Dk__Event ev;
    Dk__Activity a;
    fill_event(&ev, &a, 42);
    uint8_t key[16];
    memset(key, 0xab, sizeof(key));
    ev.has_origin_key = 1;
    ev.origin_key.data = key;
    ev.origin_key.len = 16;
    uint8_t *buf;
    size_t len;
    assert_int_equal(wire_event_encode(&ev, &buf, &len), 0);
    assert_false(ev.has_schema_version); /* caller's struct untouched */
    Dk__Event *out = NULL;
    assert_int_equal(wire_event_decode(buf, len, &out), 0);
    assert_true(out->has_schema_version);
    assert_int_equal(out->schema_version, WIRE_SCHEMA_VERSION);
    assert_int_equal(out->seq, 42);
    assert_memory_equal(out->origin_key.data, key, 16);
    assert_string_equal(out->title, ev.title);
    assert_int_equal(out->activity->participants, 142);
    assert_int_equal(wire_check_event(out, NULL, NULL), 0);
    uint8_t *again;
    size_t again_len;
    assert_int_equal(wire_event_encode(out, &again, &again_len), 0);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, buf, len);
    free(again);
    wire_event_free(&out);
    assert_null(out);
    wire_event_free(&out);
    /* cap and garbage */
    assert_int_equal(wire_event_decode(buf, WIRE_MAX_FRAME + 1, &out), DK_ETOOBIG);
    assert_int_equal(wire_event_decode(buf, len - 1, &out), DK_EDECODE);
    assert_null(out);
    free(buf);
    /* an event without a body decodes (validation refuses it) */
    assert_int_equal(wire_event_decode("", 0, &out), 0);
    wire_fault_t f;
    assert_int_equal(wire_check_event(out, NULL, &f), DK_EV_MISSING);
    wire_event_free(&out);
}

/* protobuf-c would cut "ab\0cd" to "ab"; the codec makes validation see and refuse it. */
static void test_nul_in_text(void **state)
{
    (void)state;
    Dk__Event ev;
    Dk__Activity a;
    fill_event(&ev, &a, 3);
    ev.title = "abXcd";
    ev.note = "noteYz";
    uint8_t *buf;
    size_t len;
    assert_int_equal(wire_event_encode(&ev, &buf, &len), 0);
    uint8_t *x = memmem(buf, len, "abXcd", 5);
    assert_non_null(x);
    x[2] = 0;
    Dk__Event *out;
    assert_int_equal(wire_event_decode(buf, len, &out), 0);
    wire_fault_t f;
    assert_int_equal(wire_check_event(out, NULL, &f), DK_EV_TEXT);
    assert_string_equal(f.field, "title");
    wire_event_free(&out);
    /* the same inside a batch, in the second event's note */
    x[2] = 'X';
    Dk__Event ev2;
    Dk__Activity a2;
    fill_event(&ev2, &a2, 4);
    ev2.note = "noteYz";
    Dk__Event *evp[2] = {&ev, &ev2};
    ev.note = NULL;
    Dk__Batch batch = DK__BATCH__INIT;
    batch.n_events = 2;
    batch.events = evp;
    Dk__Envelope env = DK__ENVELOPE__INIT;
    env.msg_case = DK__ENVELOPE__MSG_BATCH;
    env.batch = &batch;
    uint8_t *fb;
    size_t flen;
    assert_int_equal(wire_encode(&env, &fb, &flen), 0);
    uint8_t *y = memmem(fb, flen, "noteYz", 6);
    assert_non_null(y);
    y[4] = 0;
    Dk__Envelope *eo;
    assert_int_equal(wire_decode(fb, flen, &eo), 0);
    assert_int_equal(wire_check_event(eo->batch->events[0], NULL, &f), 0);
    assert_int_equal(wire_check_event(eo->batch->events[1], NULL, &f), DK_EV_TEXT);
    assert_string_equal(f.field, "note");
    wire_free(&eo);
    free(fb);
    free(buf);
}

/* ---- validation ------------------------------------------------------------------------------- */

typedef struct {
    Dk__Event ev;
    Dk__Activity a;
    Dk__FundMovement f;
    Dk__Void v;
    uint8_t key[17];
    char text[8192];
    wire_rules_t rules;
} fx_t;

enum {
    B_PROP, B_TRAIN, B_TOUR, B_MODEL, B_FEST, B_INSP, B_REVIEW, B_COMM, B_CONTR, B_STATUS,
    B_MEET, B_RECEIPT, B_SPEND, B_OPEN, B_CAMPAIGN_SPEND, B_VOID, B_COUNT
};

static void fx_init(fx_t *x, int base)
{
    memset(x, 0, sizeof(*x));
    dk__event__init(&x->ev);
    dk__activity__init(&x->a);
    dk__fund_movement__init(&x->f);
    dk__void__init(&x->v);
    x->rules.commune = COMMUNE;
    x->rules.max_area = 20;
    x->rules.max_organiser = 7;
    assert_int_equal(period_yyyymmdd_to_day(20231120, &x->rules.today), 0);
    Dk__Event *e = &x->ev;
    e->has_schema_version = 1;
    e->schema_version = 1;
    e->has_commune = 1;
    e->commune = COMMUNE;
    e->has_seq = 1;
    e->seq = 10;
    e->has_date = 1;
    e->date = 20231118;
    e->has_area = 1;
    e->area = 3;
    e->has_organiser = 1;
    e->organiser = 1;
    e->title = "Hoạt động ở thôn 3";
    e->body_case = DK__EVENT__BODY_ACTIVITY;
    e->activity = &x->a;
    Dk__Activity *a = &x->a;
    a->has_kind = 1;
    a->has_contents = 1;
    a->contents = 0x3;
    switch (base) {
    case B_PROP:
        a->kind = DK__ACTIVITY_KIND__PROPAGANDA;
        a->has_channel = 1;
        a->channel = DK__CHANNEL__SOCIAL_MEDIA;
        a->has_sessions = 1;
        a->sessions = 1;
        a->has_items = 1;
        a->items = 5;
        a->has_participants = 1;
        a->participants = 80;
        break;
    case B_TRAIN:
    case B_TOUR:
    case B_INSP:
    case B_MEET:
        a->kind = base == B_TRAIN  ? DK__ACTIVITY_KIND__TRAINING
                  : base == B_TOUR ? DK__ACTIVITY_KIND__STUDY_TOUR
                  : base == B_INSP ? DK__ACTIVITY_KIND__INSPECTION
                                   : DK__ACTIVITY_KIND__MEETING;
        a->has_sessions = 1;
        a->sessions = 2;
        a->has_participants = 1;
        a->participants = 30;
        break;
    case B_REVIEW:
        a->kind = DK__ACTIVITY_KIND__REVIEW;
        a->has_review = 1;
        a->review = DK__REVIEW_KIND__REVIEW_TWENTY_YEARS;
        a->has_sessions = 1;
        a->sessions = 1;
        a->has_collectives = 1;
        a->collectives = 2;
        break;
    case B_MODEL:
        a->kind = DK__ACTIVITY_KIND__MODEL;
        a->has_model_stage = 1;
        a->model_stage = DK__MODEL_STAGE__MODEL_NEW;
        e->title = "Mô hình “Tuyến đường hoa”";
        break;
    case B_FEST:
        a->kind = DK__ACTIVITY_KIND__FESTIVAL;
        a->has_festival = 1;
        a->festival = DK__FESTIVAL__UNITY_DAY;
        a->has_areas_held = 1;
        a->areas_held = 9;
        a->has_areas_total = 1;
        a->areas_total = 12;
        a->has_participants = 1;
        a->participants = 900;
        a->has_families = 1;
        a->families = 5;
        break;
    case B_COMM:
        a->kind = DK__ACTIVITY_KIND__COMMENDATION;
        a->has_collectives = 1;
        a->collectives = 3;
        a->has_individuals = 1;
        a->individuals = 11;
        break;
    case B_CONTR:
        a->kind = DK__ACTIVITY_KIND__CONTRIBUTION;
        a->has_amount = 1;
        a->amount = 150000000;
        a->has_land_m2 = 1;
        a->land_m2 = 300;
        e->donor = "Bà con thôn 3";
        break;
    case B_STATUS:
        a->kind = DK__ACTIVITY_KIND__STATUS;
        a->has_status = 1;
        a->status = DK__STATUS_KIND__CULTURED_HOUSEHOLDS;
        a->has_status_done = 1;
        a->status_done = 410;
        a->has_status_total = 1;
        a->status_total = 450;
        break;
    case B_RECEIPT:
    case B_SPEND:
    case B_OPEN:
    case B_CAMPAIGN_SPEND: {
        Dk__FundMovement *f = &x->f;
        e->body_case = DK__EVENT__BODY_FUND;
        e->fund = f;
        f->has_fund = 1;
        f->fund = base == B_CAMPAIGN_SPEND ? DK__FUND__CAMPAIGN : DK__FUND__FOR_THE_POOR;
        f->has_flow = 1;
        f->has_amount = 1;
        f->amount = 45000000;
        if (base == B_RECEIPT) {
            f->flow = DK__FLOW__RECEIPT;
            f->has_source = 1;
            f->source = DK__SOURCE__BUSINESS;
            e->donor = "Công ty TNHH Cà phê Đắk Mil";
        } else if (base == B_SPEND) {
            f->flow = DK__FLOW__SPENDING;
            f->has_purpose = 1;
            f->purpose = DK__PURPOSE__NEW_HOUSE;
            f->has_houses = 1;
            f->houses = 1;
            f->has_households = 1;
            f->households = 1;
        } else if (base == B_CAMPAIGN_SPEND) {
            f->flow = DK__FLOW__SPENDING;
            f->has_purpose = 1;
            f->purpose = DK__PURPOSE__C_FESTIVAL;
        } else {
            f->flow = DK__FLOW__OPENING;
        }
        break;
    }
    case B_VOID:
        e->body_case = DK__EVENT__BODY_VOID;
        e->void_ = &x->v;
        e->has_area = 0;
        e->has_organiser = 0;
        e->title = NULL;
        e->note = "Nhập trùng";
        x->v.has_target_seq = 1;
        x->v.target_seq = 4;
        break;
    default:
        fail();
    }
}

/* The refusal must carry the code, the field, and a Vietnamese sentence naming the field. */
static void expect(const fx_t *x, int code, const char *field, const char *name)
{
    wire_fault_t f;
    memset(&f, 0x7f, sizeof(f));
    int rc = wire_check_event(&x->ev, &x->rules, &f);
    if (rc != code || strcmp(f.field, field ? field : "") != 0) {
        print_error("case %s: got %d (%s) field '%s' reason '%s', want %d field '%s'\n", name, rc,
                    err_str(rc), f.field, f.reason, code, field ? field : "");
        fail();
    }
    assert_int_equal(f.code, code);
    if (code == 0) {
        assert_string_equal(f.reason, "");
        return;
    }
    size_t n = strlen(f.reason);
    assert_true(n > 0);
    assert_true(text_utf8_valid(f.reason, n));
    assert_false(text_has_control(f.reason, n, false));
    char paren[64];
    snprintf(paren, sizeof(paren), "(%s)", field);
    if (!strstr(f.reason, paren)) {
        print_error("case %s: reason '%s' does not name %s\n", name, f.reason, paren);
        fail();
    }
    const char *label = wire_field_label_vi(field);
    assert_non_null(label);
    assert_memory_equal(f.reason, label, strlen(label));
    /* the same code without a fault buffer */
    assert_int_equal(wire_check_event(&x->ev, &x->rules, NULL), code);
}

static void test_valid_bases(void **state)
{
    (void)state;
    fx_t *x = malloc(sizeof(*x));
    for (int b = 0; b < B_COUNT; b++) {
        fx_init(x, b);
        char name[16];
        snprintf(name, sizeof(name), "base %d", b);
        expect(x, 0, NULL, name);
    }
    free(x);
}

typedef void (*mutate_fn)(fx_t *x);

typedef struct {
    const char *name;
    int base;
    mutate_fn mutate;
    int code;
    const char *field;
} rule_case_t;

#define MUT(fn, body)                                                                              \
    static void fn(fx_t *x)                                                                        \
    {                                                                                              \
        Dk__Event *e = &x->ev;                                                                     \
        Dk__Activity *a = &x->a;                                                                   \
        Dk__FundMovement *f = &x->f;                                                               \
        (void)e;                                                                                   \
        (void)a;                                                                                   \
        (void)f;                                                                                   \
        body;                                                                                      \
    }

static void fill_text(char *dst, const char *unit, size_t times)
{
    dst[0] = '\0';
    for (size_t i = 0; i < times; i++) {
        strcat(dst, unit);
    }
}

/* event-level */
MUT(schema2, e->schema_version = 2)
MUT(schema0, e->schema_version = 0)
MUT(schema_absent, e->has_schema_version = 0)
MUT(no_commune, e->has_commune = 0)
MUT(commune0, e->commune = 0)
MUT(commune6, e->commune = 100000)
MUT(commune_other, e->commune = 24667)
MUT(commune_any, e->commune = 1; x->rules.commune = 0)
MUT(no_seq, e->has_seq = 0)
MUT(seq0, e->seq = 0)
/* seq bounds (WIRE_MAX_SEQ: max_seq + 1 must never wrap at the agent) */
MUT(seq_max, e->seq = WIRE_MAX_SEQ)
MUT(seq_over, e->seq = WIRE_MAX_SEQ + 1)
MUT(seq_huge, e->seq = UINT64_MAX)
MUT(seq_placeholder, e->seq = 1ULL << 50) /* agents/csvimport.c, main.c validate with this seq */
MUT(corr_max, e->seq = WIRE_MAX_SEQ; e->has_corrects_seq = 1; e->corrects_seq = WIRE_MAX_SEQ - 1)
MUT(corr_over, e->seq = WIRE_MAX_SEQ; e->has_corrects_seq = 1; e->corrects_seq = WIRE_MAX_SEQ + 1)
MUT(corr_huge, e->has_corrects_seq = 1; e->corrects_seq = UINT64_MAX)
MUT(void_seq_huge, e->seq = UINT64_MAX)
MUT(void_target_max, e->seq = WIRE_MAX_SEQ; x->v.target_seq = WIRE_MAX_SEQ - 1)
MUT(void_target_over, e->seq = WIRE_MAX_SEQ; x->v.target_seq = WIRE_MAX_SEQ + 1)
MUT(void_target_huge, x->v.target_seq = UINT64_MAX)
MUT(no_body, e->body_case = DK__EVENT__BODY__NOT_SET)
MUT(key15, e->has_origin_key = 1; e->origin_key.data = x->key; e->origin_key.len = 15)
MUT(key17, e->has_origin_key = 1; e->origin_key.data = x->key; e->origin_key.len = 17)
MUT(key16, e->has_origin_key = 1; e->origin_key.data = x->key; e->origin_key.len = 16)
MUT(no_date, e->has_date = 0)
MUT(date_feb30, e->date = 20230230)
MUT(date_month13, e->date = 20231301)
MUT(date_short, e->date = 231118)
MUT(date_1999, e->date = 19991231)
MUT(date_2000, e->date = 20000101)
MUT(date_tomorrow, e->date = 20231121)
MUT(date_after, e->date = 20231122)
MUT(area_over, e->area = 21)
MUT(area_max, e->area = 20)
MUT(area_zero, e->area = 0)
MUT(area_unchecked, e->area = 9999; x->rules.max_area = 0)
MUT(area_abs, e->area = 10000; x->rules.max_area = 0)
MUT(org_over, e->organiser = 8)
MUT(org_max, e->organiser = 7)
MUT(org_default, e->organiser = 15; x->rules.max_organiser = 0)
MUT(org_default_over, e->organiser = 16; x->rules.max_organiser = 0)
MUT(title_long, fill_text(x->text, "ệ", 201); e->title = x->text)
MUT(title_max, fill_text(x->text, "ệ", 200); e->title = x->text)
MUT(title_newline, e->title = "dòng 1\ndòng 2")
MUT(title_del, e->title = "abc\x7f")
MUT(title_c1, e->title = "abc\xc2\x85")
MUT(title_bad_utf8, e->title = "abc\xc3")
MUT(title_overlong, e->title = "\xc0\xaf")
MUT(title_surrogate, e->title = "\xed\xa0\x80")
MUT(donor_long, fill_text(x->text, "a", 201); e->donor = x->text)
MUT(donor_tab, e->donor = "a\tb")
MUT(note_newline, e->note = "dòng 1\r\ndòng 2\n")
MUT(note_long, fill_text(x->text, "ơ", 2001); e->note = x->text)
MUT(note_max, fill_text(x->text, "ơ", 2000); e->note = x->text)
MUT(note_ctrl, e->note = "a\x1b[31m")
MUT(note_bad, e->note = "\xff")
MUT(corr_ok, e->has_corrects_seq = 1; e->corrects_seq = 9)
MUT(corr_same, e->has_corrects_seq = 1; e->corrects_seq = 10)
MUT(corr_zero, e->has_corrects_seq = 1; e->corrects_seq = 0)
/* activity */
MUT(no_kind, a->has_kind = 0)
MUT(kind0, a->kind = 0)
MUT(kind12, a->kind = 12)
MUT(kind_neg, a->kind = -1)
MUT(contents0, a->contents = 0)
MUT(contents32, a->contents = 32)
MUT(contents31, a->contents = 31)
MUT(contents_absent, a->has_contents = 0)
MUT(channel10, a->channel = 10)
MUT(channel_neg, a->channel = -5)
MUT(no_channel, a->has_channel = 0)
MUT(channel_zero, a->channel = 0)
MUT(prop_no_counts, a->has_sessions = 0; a->has_items = 0)
MUT(prop_items_only, a->has_sessions = 0)
MUT(prop_sessions_only, a->has_items = 0)
MUT(sessions_over, a->sessions = 10001)
MUT(sessions_max, a->sessions = 10000)
MUT(participants_over, a->participants = 1000001)
MUT(participants_max, a->participants = 1000000)
MUT(items_over, a->items = 1000001)
MUT(festival_on_training, a->has_festival = 1; a->festival = DK__FESTIVAL__UNITY_DAY)
MUT(festival_zero_on_training, a->has_festival = 1; a->festival = 0)
MUT(items_on_training, a->has_items = 1; a->items = 3)
MUT(channel_on_training, a->has_channel = 1; a->channel = DK__CHANNEL__FORUM)
MUT(amount_on_training, a->has_amount = 1; a->amount = 1000)
MUT(status_on_training, a->has_status_total = 1; a->status_total = 4)
MUT(no_sessions, a->has_sessions = 0)
MUT(sessions0, a->sessions = 0)
MUT(no_stage, a->has_model_stage = 0)
MUT(stage3, a->model_stage = 3)
MUT(model_no_title, e->title = NULL)
MUT(model_blank_title, e->title = "   ")
MUT(model_sessions, a->has_sessions = 1; a->sessions = 2)
MUT(review_kind4, a->review = 4)
MUT(review_no_kind, a->has_review = 0)
MUT(review_no_sessions, a->has_sessions = 0)
MUT(review_on_model, a->has_review = 1; a->review = DK__REVIEW_KIND__REVIEW_ONE_YEAR)
MUT(no_festival, a->has_festival = 0)
MUT(festival5, a->festival = 5)
MUT(no_total, a->has_areas_total = 0)
MUT(total0, a->areas_total = 0)
MUT(held_over, a->areas_held = 13)
MUT(held_all, a->areas_held = 12)
MUT(held_absent, a->has_areas_held = 0)
MUT(total_over, a->areas_total = 10001; a->areas_held = 1)
MUT(status_on_festival, a->has_status_done = 1; a->status_done = 1)
MUT(comm_none, a->has_collectives = 0; a->has_individuals = 0)
MUT(comm_zero, a->collectives = 0; a->individuals = 0)
MUT(comm_individuals, a->has_collectives = 0)
MUT(comm_over, a->individuals = 100001)
MUT(contr_none, a->has_amount = 0; a->has_land_m2 = 0)
MUT(contr_land, a->has_amount = 0)
MUT(contr_workdays, a->has_amount = 0; a->has_land_m2 = 0; a->has_workdays = 1; a->workdays = 5)
MUT(contr_structures, a->has_amount = 0; a->has_land_m2 = 0; a->has_structures = 1; a->structures = 1)
MUT(contr_money_over, a->amount = MONEY_MAX + 1)
MUT(contr_money_max, a->amount = MONEY_MAX)
MUT(contr_land_over, a->land_m2 = WIRE_MAX_LAND_M2 + 1)
MUT(contr_workdays_over, a->has_workdays = 1; a->workdays = WIRE_MAX_WORKDAYS + 1)
MUT(contr_sessions, a->has_sessions = 1; a->sessions = 1)
MUT(no_status, a->has_status = 0)
MUT(status4, a->status = 4)
MUT(no_status_total, a->has_status_total = 0)
MUT(status_total0, a->status_total = 0)
MUT(status_done_over, a->status_done = 451)
MUT(status_done_all, a->status_done = 450)
MUT(status_done_absent, a->has_status_done = 0)
MUT(status_total_over, a->status_total = WIRE_MAX_COUNT + 1)
MUT(activity_null, e->activity = NULL)
/* fund */
MUT(no_fund, f->has_fund = 0)
MUT(fund3, f->fund = 3)
MUT(no_flow, f->has_flow = 0)
MUT(flow4, f->flow = 4)
MUT(no_amount, f->has_amount = 0)
MUT(amount0, f->amount = 0)
MUT(amount_over, f->amount = MONEY_MAX + 1)
MUT(amount_huge, f->amount = UINT64_MAX)
MUT(amount_max, f->amount = MONEY_MAX)
MUT(amount1, f->amount = 1)
MUT(receipt_purpose, f->has_purpose = 1; f->purpose = DK__PURPOSE__HEALTH)
MUT(receipt_no_source, f->has_source = 0)
MUT(source7, f->source = 7)
MUT(receipt_households, f->has_households = 1; f->households = 3)
MUT(spend_source, f->has_source = 1; f->source = DK__SOURCE__INDIVIDUAL)
MUT(spend_no_purpose, f->has_purpose = 0)
MUT(purpose_campaign_on_poor, f->purpose = DK__PURPOSE__C_TRAINING)
MUT(purpose_poor_on_campaign, f->purpose = DK__PURPOSE__LIVELIHOOD)
MUT(purpose8, f->purpose = 8)
MUT(purpose19, f->purpose = DK__PURPOSE__OTHER_POOR)
MUT(purpose39, f->purpose = DK__PURPOSE__OTHER_CAMPAIGN)
MUT(houses_over, f->houses = WIRE_MAX_AWARDS + 1)
MUT(gift_packs, f->purpose = DK__PURPOSE__TET_GIFTS; f->has_gift_packs = 1; f->gift_packs = 350)
MUT(campaign_households, f->has_households = 1; f->households = 3)
MUT(open_source, f->has_source = 1; f->source = DK__SOURCE__STATE_BUDGET)
MUT(open_purpose, f->has_purpose = 1; f->purpose = DK__PURPOSE__HEALTH)
MUT(open_houses, f->has_houses = 1; f->houses = 1)
MUT(fund_null, e->fund = NULL)
/* void */
MUT(void_no_target, x->v.has_target_seq = 0)
MUT(void_target0, x->v.target_seq = 0)
MUT(void_target_self, x->v.target_seq = 10)
MUT(void_target_after, x->v.target_seq = 11)
MUT(void_title, e->title = "x")
MUT(void_empty_title, e->title = "")
MUT(void_donor, e->donor = "x")
MUT(void_area, e->has_area = 1; e->area = 2)
MUT(void_organiser, e->has_organiser = 1; e->organiser = 2)
MUT(void_corrects, e->has_corrects_seq = 1; e->corrects_seq = 4)
MUT(void_date_bad, e->date = 20231132)
MUT(void_no_date, e->has_date = 0)
MUT(void_null, e->void_ = NULL)

static const rule_case_t rule_cases[] = {
    {"schema 2", B_PROP, schema2, DK_EV_SCHEMA, "schema_version"},
    {"schema 0", B_PROP, schema0, DK_EV_SCHEMA, "schema_version"},
    {"schema absent", B_PROP, schema_absent, 0, NULL},
    {"no commune", B_PROP, no_commune, DK_EV_MISSING, "commune"},
    {"commune 0", B_PROP, commune0, DK_EV_COMMUNE, "commune"},
    {"commune 6 digits", B_PROP, commune6, DK_EV_COMMUNE, "commune"},
    {"commune other", B_PROP, commune_other, DK_EV_COMMUNE, "commune"},
    {"commune any", B_PROP, commune_any, 0, NULL},
    {"no seq", B_PROP, no_seq, DK_EV_MISSING, "seq"},
    {"seq 0", B_PROP, seq0, DK_EV_RANGE, "seq"},
    {"seq max", B_PROP, seq_max, 0, NULL},
    {"seq max + 1", B_PROP, seq_over, DK_EV_RANGE, "seq"},
    {"seq 2^64-1", B_RECEIPT, seq_huge, DK_EV_RANGE, "seq"},
    {"seq agent placeholder", B_RECEIPT, seq_placeholder, 0, NULL},
    {"corrects max", B_PROP, corr_max, 0, NULL},
    {"corrects max + 1", B_PROP, corr_over, DK_EV_RANGE, "corrects_seq"},
    {"corrects 2^64-1", B_RECEIPT, corr_huge, DK_EV_RANGE, "corrects_seq"},
    {"void seq 2^64-1", B_VOID, void_seq_huge, DK_EV_RANGE, "seq"},
    {"void target max", B_VOID, void_target_max, 0, NULL},
    {"void target max + 1", B_VOID, void_target_over, DK_EV_RANGE, "void.target_seq"},
    {"void target 2^64-1", B_VOID, void_target_huge, DK_EV_RANGE, "void.target_seq"},
    {"no body", B_PROP, no_body, DK_EV_MISSING, "body"},
    {"key 15", B_PROP, key15, DK_EV_RANGE, "origin_key"},
    {"key 17", B_PROP, key17, DK_EV_RANGE, "origin_key"},
    {"key 16", B_PROP, key16, 0, NULL},
    {"no date", B_PROP, no_date, DK_EV_MISSING, "date"},
    {"30 Feb", B_PROP, date_feb30, DK_EV_DATE, "date"},
    {"month 13", B_PROP, date_month13, DK_EV_DATE, "date"},
    {"short date", B_PROP, date_short, DK_EV_DATE, "date"},
    {"1999", B_PROP, date_1999, DK_EV_DATE, "date"},
    {"2000-01-01", B_PROP, date_2000, 0, NULL},
    {"tomorrow", B_PROP, date_tomorrow, 0, NULL},
    {"after tomorrow", B_PROP, date_after, DK_EV_DATE, "date"},
    {"area over", B_PROP, area_over, DK_EV_AREA, "area"},
    {"area max", B_PROP, area_max, 0, NULL},
    {"area 0", B_PROP, area_zero, 0, NULL},
    {"area unchecked", B_PROP, area_unchecked, 0, NULL},
    {"area absolute cap", B_PROP, area_abs, DK_EV_AREA, "area"},
    {"organiser over", B_PROP, org_over, DK_EV_ORGANISER, "organiser"},
    {"organiser max", B_PROP, org_max, 0, NULL},
    {"organiser default", B_PROP, org_default, 0, NULL},
    {"organiser default over", B_PROP, org_default_over, DK_EV_ORGANISER, "organiser"},
    {"title 201", B_PROP, title_long, DK_EV_TEXT, "title"},
    {"title 200", B_PROP, title_max, 0, NULL},
    {"title newline", B_PROP, title_newline, DK_EV_TEXT, "title"},
    {"title DEL", B_PROP, title_del, DK_EV_TEXT, "title"},
    {"title C1", B_PROP, title_c1, DK_EV_TEXT, "title"},
    {"title cut UTF-8", B_PROP, title_bad_utf8, DK_EV_TEXT, "title"},
    {"title overlong", B_PROP, title_overlong, DK_EV_TEXT, "title"},
    {"title surrogate", B_PROP, title_surrogate, DK_EV_TEXT, "title"},
    {"donor 201", B_RECEIPT, donor_long, DK_EV_TEXT, "donor"},
    {"donor tab", B_RECEIPT, donor_tab, DK_EV_TEXT, "donor"},
    {"note newlines", B_PROP, note_newline, 0, NULL},
    {"note 2001", B_PROP, note_long, DK_EV_TEXT, "note"},
    {"note 2000", B_PROP, note_max, 0, NULL},
    {"note ESC", B_PROP, note_ctrl, DK_EV_TEXT, "note"},
    {"note bad", B_PROP, note_bad, DK_EV_TEXT, "note"},
    {"corrects ok", B_PROP, corr_ok, 0, NULL},
    {"corrects self", B_PROP, corr_same, DK_EV_TARGET, "corrects_seq"},
    {"corrects 0", B_PROP, corr_zero, DK_EV_TARGET, "corrects_seq"},
    {"corrects fund", B_SPEND, corr_same, DK_EV_TARGET, "corrects_seq"},
    {"no kind", B_PROP, no_kind, DK_EV_MISSING, "activity.kind"},
    {"kind 0", B_PROP, kind0, DK_EV_MISSING, "activity.kind"},
    {"kind 12", B_PROP, kind12, DK_EV_ENUM, "activity.kind"},
    {"kind -1", B_PROP, kind_neg, DK_EV_ENUM, "activity.kind"},
    {"contents 0", B_PROP, contents0, DK_EV_RANGE, "activity.contents"},
    {"contents 32", B_PROP, contents32, DK_EV_RANGE, "activity.contents"},
    {"contents 31", B_PROP, contents31, 0, NULL},
    {"contents absent", B_PROP, contents_absent, 0, NULL},
    {"channel 10", B_PROP, channel10, DK_EV_ENUM, "activity.channel"},
    {"channel -5", B_PROP, channel_neg, DK_EV_ENUM, "activity.channel"},
    {"no channel", B_PROP, no_channel, DK_EV_MISSING, "activity.channel"},
    {"channel 0", B_PROP, channel_zero, DK_EV_MISSING, "activity.channel"},
    {"propaganda no counts", B_PROP, prop_no_counts, DK_EV_MISSING, "activity.sessions"},
    {"propaganda items only", B_PROP, prop_items_only, 0, NULL},
    {"propaganda sessions only", B_PROP, prop_sessions_only, 0, NULL},
    {"sessions over", B_PROP, sessions_over, DK_EV_RANGE, "activity.sessions"},
    {"sessions max", B_PROP, sessions_max, 0, NULL},
    {"participants over", B_PROP, participants_over, DK_EV_RANGE, "activity.participants"},
    {"participants max", B_PROP, participants_max, 0, NULL},
    {"items over", B_PROP, items_over, DK_EV_RANGE, "activity.items"},
    {"festival on training", B_TRAIN, festival_on_training, DK_EV_KIND, "activity.festival"},
    {"festival 0 on training", B_TRAIN, festival_zero_on_training, 0, NULL},
    {"items on training", B_TRAIN, items_on_training, DK_EV_KIND, "activity.items"},
    {"channel on training", B_TRAIN, channel_on_training, DK_EV_KIND, "activity.channel"},
    {"amount on training", B_TRAIN, amount_on_training, DK_EV_KIND, "activity.amount"},
    {"status on training", B_TRAIN, status_on_training, DK_EV_KIND, "activity.status_total"},
    {"training no sessions", B_TRAIN, no_sessions, DK_EV_MISSING, "activity.sessions"},
    {"training sessions 0", B_TRAIN, sessions0, DK_EV_MISSING, "activity.sessions"},
    {"tour no sessions", B_TOUR, no_sessions, DK_EV_MISSING, "activity.sessions"},
    {"inspection no sessions", B_INSP, no_sessions, DK_EV_MISSING, "activity.sessions"},
    {"meeting no sessions", B_MEET, no_sessions, DK_EV_MISSING, "activity.sessions"},
    {"review no sessions", B_REVIEW, review_no_sessions, DK_EV_MISSING, "activity.sessions"},
    {"review kind 4", B_REVIEW, review_kind4, DK_EV_ENUM, "activity.review"},
    {"review kind optional", B_REVIEW, review_no_kind, 0, NULL},
    {"review on model", B_MODEL, review_on_model, DK_EV_KIND, "activity.review"},
    {"model no stage", B_MODEL, no_stage, DK_EV_MISSING, "activity.model_stage"},
    {"model stage 3", B_MODEL, stage3, DK_EV_ENUM, "activity.model_stage"},
    {"model no title", B_MODEL, model_no_title, DK_EV_MISSING, "title"},
    {"model blank title", B_MODEL, model_blank_title, DK_EV_MISSING, "title"},
    {"sessions on model", B_MODEL, model_sessions, DK_EV_KIND, "activity.sessions"},
    {"festival missing", B_FEST, no_festival, DK_EV_MISSING, "activity.festival"},
    {"festival 5", B_FEST, festival5, DK_EV_ENUM, "activity.festival"},
    {"festival no total", B_FEST, no_total, DK_EV_MISSING, "activity.areas_total"},
    {"festival total 0", B_FEST, total0, DK_EV_MISSING, "activity.areas_total"},
    {"festival held > total", B_FEST, held_over, DK_EV_RANGE, "activity.areas_held"},
    {"festival held = total", B_FEST, held_all, 0, NULL},
    {"festival held absent", B_FEST, held_absent, 0, NULL},
    {"festival total over", B_FEST, total_over, DK_EV_RANGE, "activity.areas_total"},
    {"status on festival", B_FEST, status_on_festival, DK_EV_KIND, "activity.status_done"},
    {"commendation none", B_COMM, comm_none, DK_EV_MISSING, "activity.collectives"},
    {"commendation zeros", B_COMM, comm_zero, DK_EV_MISSING, "activity.collectives"},
    {"commendation individuals", B_COMM, comm_individuals, 0, NULL},
    {"commendation over", B_COMM, comm_over, DK_EV_RANGE, "activity.individuals"},
    {"contribution none", B_CONTR, contr_none, DK_EV_MISSING, "activity.amount"},
    {"contribution land", B_CONTR, contr_land, 0, NULL},
    {"contribution workdays", B_CONTR, contr_workdays, 0, NULL},
    {"contribution structures", B_CONTR, contr_structures, 0, NULL},
    {"contribution money over", B_CONTR, contr_money_over, DK_EV_MONEY, "activity.amount"},
    {"contribution money max", B_CONTR, contr_money_max, 0, NULL},
    {"contribution land over", B_CONTR, contr_land_over, DK_EV_RANGE, "activity.land_m2"},
    {"contribution workdays over", B_CONTR, contr_workdays_over, DK_EV_RANGE, "activity.workdays"},
    {"sessions on contribution", B_CONTR, contr_sessions, DK_EV_KIND, "activity.sessions"},
    {"status missing", B_STATUS, no_status, DK_EV_MISSING, "activity.status"},
    {"status 4", B_STATUS, status4, DK_EV_ENUM, "activity.status"},
    {"status no total", B_STATUS, no_status_total, DK_EV_MISSING, "activity.status_total"},
    {"status total 0", B_STATUS, status_total0, DK_EV_MISSING, "activity.status_total"},
    {"status done > total", B_STATUS, status_done_over, DK_EV_RANGE, "activity.status_done"},
    {"status done = total", B_STATUS, status_done_all, 0, NULL},
    {"status done absent", B_STATUS, status_done_absent, 0, NULL},
    {"status total over", B_STATUS, status_total_over, DK_EV_RANGE, "activity.status_total"},
    {"activity NULL", B_PROP, activity_null, DK_EV_MISSING, "activity.kind"},
    {"fund missing", B_RECEIPT, no_fund, DK_EV_MISSING, "fund.fund"},
    {"fund 3", B_RECEIPT, fund3, DK_EV_ENUM, "fund.fund"},
    {"flow missing", B_RECEIPT, no_flow, DK_EV_MISSING, "fund.flow"},
    {"flow 4", B_RECEIPT, flow4, DK_EV_ENUM, "fund.flow"},
    {"amount missing", B_RECEIPT, no_amount, DK_EV_MISSING, "fund.amount"},
    {"amount 0", B_RECEIPT, amount0, DK_EV_MONEY, "fund.amount"},
    {"amount 10^15", B_RECEIPT, amount_over, DK_EV_MONEY, "fund.amount"},
    {"amount 2^64-1", B_SPEND, amount_huge, DK_EV_MONEY, "fund.amount"},
    {"amount max", B_RECEIPT, amount_max, 0, NULL},
    {"amount 1", B_OPEN, amount1, 0, NULL},
    {"opening amount 0", B_OPEN, amount0, DK_EV_MONEY, "fund.amount"},
    {"receipt purpose", B_RECEIPT, receipt_purpose, DK_EV_LEDGER, "fund.purpose"},
    {"receipt no source", B_RECEIPT, receipt_no_source, DK_EV_MISSING, "fund.source"},
    {"source 7", B_RECEIPT, source7, DK_EV_ENUM, "fund.source"},
    {"receipt households", B_RECEIPT, receipt_households, DK_EV_KIND, "fund.households"},
    {"spending source", B_SPEND, spend_source, DK_EV_LEDGER, "fund.source"},
    {"spending no purpose", B_SPEND, spend_no_purpose, DK_EV_MISSING, "fund.purpose"},
    {"campaign purpose on poor", B_SPEND, purpose_campaign_on_poor, DK_EV_LEDGER, "fund.purpose"},
    {"poor purpose on campaign", B_CAMPAIGN_SPEND, purpose_poor_on_campaign, DK_EV_LEDGER,
     "fund.purpose"},
    {"purpose 8", B_SPEND, purpose8, DK_EV_ENUM, "fund.purpose"},
    {"purpose 19 poor", B_SPEND, purpose19, 0, NULL},
    {"purpose 39 campaign", B_CAMPAIGN_SPEND, purpose39, 0, NULL},
    {"houses over", B_SPEND, houses_over, DK_EV_RANGE, "fund.houses"},
    {"gift packs", B_SPEND, gift_packs, 0, NULL},
    {"campaign households", B_CAMPAIGN_SPEND, campaign_households, DK_EV_KIND, "fund.households"},
    {"opening source", B_OPEN, open_source, DK_EV_LEDGER, "fund.source"},
    {"opening purpose", B_OPEN, open_purpose, DK_EV_LEDGER, "fund.purpose"},
    {"opening houses", B_OPEN, open_houses, DK_EV_KIND, "fund.houses"},
    {"fund NULL", B_RECEIPT, fund_null, DK_EV_MISSING, "fund.fund"},
    {"void no target", B_VOID, void_no_target, DK_EV_MISSING, "void.target_seq"},
    {"void target 0", B_VOID, void_target0, DK_EV_MISSING, "void.target_seq"},
    {"void target self", B_VOID, void_target_self, DK_EV_TARGET, "void.target_seq"},
    {"void target after", B_VOID, void_target_after, DK_EV_TARGET, "void.target_seq"},
    {"void title", B_VOID, void_title, DK_EV_KIND, "title"},
    {"void empty title", B_VOID, void_empty_title, 0, NULL},
    {"void donor", B_VOID, void_donor, DK_EV_KIND, "donor"},
    {"void area", B_VOID, void_area, DK_EV_KIND, "area"},
    {"void organiser", B_VOID, void_organiser, DK_EV_KIND, "organiser"},
    {"void corrects", B_VOID, void_corrects, DK_EV_KIND, "corrects_seq"},
    {"void bad date", B_VOID, void_date_bad, DK_EV_DATE, "date"},
    {"void no date", B_VOID, void_no_date, 0, NULL},
    {"void NULL", B_VOID, void_null, DK_EV_MISSING, "void.target_seq"},
};

static void test_rules(void **state)
{
    (void)state;
    fx_t *x = malloc(sizeof(*x));
    for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
        const rule_case_t *c = &rule_cases[i];
        fx_init(x, c->base);
        c->mutate(x);
        expect(x, c->code, c->field, c->name);
    }
    free(x);
}

/* Every DK_EV_* code is produced by some case, and every label used is known. */
static void test_rules_cover_codes(void **state)
{
    (void)state;
    const int codes[] = {DK_EV_SCHEMA, DK_EV_MISSING, DK_EV_RANGE, DK_EV_ENUM, DK_EV_DATE,
                         DK_EV_TEXT, DK_EV_MONEY, DK_EV_KIND, DK_EV_COMMUNE, DK_EV_TARGET,
                         DK_EV_AREA, DK_EV_ORGANISER, DK_EV_LEDGER};
    for (size_t k = 0; k < sizeof(codes) / sizeof(codes[0]); k++) {
        int seen = 0;
        for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
            seen += rule_cases[i].code == codes[k];
        }
        assert_true(seen > 0);
        const char *generic = wire_code_reason_vi(codes[k]);
        assert_true(strlen(generic) > 0);
        assert_true(text_utf8_valid(generic, strlen(generic)));
    }
    assert_null(wire_field_label_vi("nope"));
    assert_null(wire_field_label_vi(NULL));
    assert_string_equal(wire_field_label_vi("fund.amount"), "Số tiền");
}

static void test_fault_set(void **state)
{
    (void)state;
    wire_fault_t f;
    assert_int_equal(wire_fault_set(&f, DK_EV_TARGET, "corrects_seq", "Bản ghi số %d không có.", 7),
                     DK_EV_TARGET);
    assert_int_equal(f.code, DK_EV_TARGET);
    assert_string_equal(f.field, "corrects_seq");
    assert_string_equal(f.reason, "Bản ghi số 7 không có.");
    /* a long sentence is cut on a character boundary */
    char longtext[1000];
    fill_text(longtext, "ữ", 300);
    wire_fault_set(&f, DK_EV_CONFLICT, NULL, "%s", longtext);
    assert_string_equal(f.field, "");
    assert_true(strlen(f.reason) < sizeof(f.reason));
    assert_true(strlen(f.reason) >= sizeof(f.reason) - 4);
    assert_true(text_utf8_valid(f.reason, strlen(f.reason)));
    assert_int_equal(wire_fault_set(NULL, DK_EV_RANGE, "x", "y"), DK_EV_RANGE);
    /* NULL event and default rules */
    assert_int_equal(wire_check_event(NULL, NULL, &f), DK_EV_MISSING);
    wire_rules_t r;
    wire_rules_init(&r);
    assert_int_equal(r.commune, 0);
    assert_int_equal(r.max_organiser, WIRE_MAX_ORGANISER_DEFAULT);
    assert_int_equal(r.today, period_today());
    /* today <= 0 reads the clock: a date far in the future is refused */
    fx_t *x = malloc(sizeof(*x));
    fx_init(x, B_PROP);
    x->rules.today = 0;
    assert_int_equal(wire_check_event(&x->ev, &x->rules, &f), 0);
    x->ev.date = period_day_to_yyyymmdd(period_today() + 2);
    assert_int_equal(wire_check_event(&x->ev, &x->rules, &f), DK_EV_DATE);
    x->ev.date = period_day_to_yyyymmdd(period_today() + 1);
    assert_int_equal(wire_check_event(&x->ev, &x->rules, &f), 0);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_kind),
        cmocka_unit_test(test_encode_rules),
        cmocka_unit_test(test_decode_refusals),
        cmocka_unit_test(test_truncated_and_garbage),
        cmocka_unit_test(test_decode_budget),
        cmocka_unit_test(test_event_codec),
        cmocka_unit_test(test_nul_in_text),
        cmocka_unit_test(test_valid_bases),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_rules_cover_codes),
        cmocka_unit_test(test_fault_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
