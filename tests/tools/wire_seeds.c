/* wire_seeds DIR — writes real packed Envelope frames into DIR, one file per message, as the seed
 * corpus of tests/fuzz/fuzz_wire.c (tests/fuzz/corpus/wire/). Deterministic: running it again
 * writes the same bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "wire.h"

static const char *dir;

static int save(const char *name, Dk__Envelope *env)
{
    uint8_t *buf;
    size_t len;
    int rc = wire_encode(env, &buf, &len);
    if (rc != 0) {
        fprintf(stderr, "wire_seeds: %s: encode failed: %s\n", name, err_str(rc));
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "wire_seeds: %s: %s\n", path, strerror(errno));
        free(buf);
        return 1;
    }
    free(buf);
    return 0;
}

static void base_event(Dk__Event *ev, uint64_t seq)
{
    dk__event__init(ev);
    ev->has_commune = 1;
    ev->commune = 24664;
    ev->has_seq = 1;
    ev->seq = seq;
    ev->has_date = 1;
    ev->date = 20231118;
    ev->has_recorded_at = 1;
    ev->recorded_at = 1700280000;
    ev->has_area = 1;
    ev->area = 3;
    ev->has_organiser = 1;
    ev->organiser = (uint32_t)(seq % 8);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: wire_seeds DIR\n");
        return 2;
    }
    dir = argv[1];
    int bad = 0;
    Dk__Envelope env = DK__ENVELOPE__INIT;

    uint8_t inst[16] = {0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
                        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    Dk__Hello hello = DK__HELLO__INIT;
    hello.has_commune = 1;
    hello.commune = 24664;
    hello.has_instance = 1;
    hello.instance.data = inst;
    hello.instance.len = 16;
    hello.has_first_seq = 1;
    hello.first_seq = 1;
    hello.has_last_seq = 1;
    hello.last_seq = 40;
    hello.agent_version = "0.1.0";
    env.msg_case = DK__ENVELOPE__MSG_HELLO;
    env.hello = &hello;
    bad |= save("hello", &env);

    Dk__Welcome welcome = DK__WELCOME__INIT;
    welcome.has_commune = 1;
    welcome.commune = 24664;
    welcome.has_high_water = 1;
    welcome.high_water = 38;
    welcome.has_max_seq = 1;
    welcome.max_seq = 39;
    welcome.has_version = 1;
    welcome.version = 1200;
    welcome.has_server_time = 1;
    welcome.server_time = 1700280100;
    welcome.has_instance = 1;
    welcome.instance.data = inst;
    welcome.instance.len = 16;
    env.msg_case = DK__ENVELOPE__MSG_WELCOME;
    env.welcome = &welcome;
    bad |= save("welcome", &env);

    /* One batch holding an event of every kind, funds and a void. */
    enum { N = 17 };
    Dk__Event evs[N];
    Dk__Activity acts[N];
    Dk__FundMovement funds[4];
    Dk__Event *evp[N];
    for (int i = 0; i < N; i++) {
        base_event(&evs[i], (uint64_t)i + 1);
        dk__activity__init(&acts[i]);
        evp[i] = &evs[i];
    }
    for (int k = 1; k <= 11; k++) {
        Dk__Event *e = &evs[k - 1];
        Dk__Activity *a = &acts[k - 1];
        e->body_case = DK__EVENT__BODY_ACTIVITY;
        e->activity = a;
        e->title = "Hội nghị nhân dân thôn Thuận Hòa";
        a->has_kind = 1;
        a->kind = (Dk__ActivityKind)k;
        a->has_contents = 1;
        a->contents = (uint32_t)(k % 31) + 1;
        a->has_participants = 1;
        a->participants = 50u + (uint32_t)k;
        a->has_sessions = k == 1 || k == 2 || k == 3 || k == 6 || k == 7 || k == 11;
        a->sessions = 2;
        a->has_participants = k != 10;
    }
    acts[0].has_channel = 1;
    acts[0].channel = DK__CHANNEL__LOUDSPEAKER;
    acts[0].has_items = 1;
    acts[0].items = 12;
    acts[3].has_model_stage = 1;
    acts[3].model_stage = DK__MODEL_STAGE__MODEL_MAINTAINED;
    acts[4].has_festival = 1;
    acts[4].festival = DK__FESTIVAL__UNITY_DAY;
    acts[4].has_areas_held = 1;
    acts[4].areas_held = 11;
    acts[4].has_areas_total = 1;
    acts[4].areas_total = 12;
    acts[4].has_families = 1;
    acts[4].families = 6;
    acts[6].has_review = 1;
    acts[6].review = DK__REVIEW_KIND__REVIEW_TWENTY_YEARS;
    acts[7].has_collectives = 1;
    acts[7].collectives = 2;
    acts[7].has_individuals = 1;
    acts[7].individuals = 9;
    acts[8].has_amount = 1;
    acts[8].amount = 125000000;
    acts[8].has_land_m2 = 1;
    acts[8].land_m2 = 420;
    acts[8].has_workdays = 1;
    acts[8].workdays = 300;
    acts[8].has_structures = 1;
    acts[8].structures = 4;
    evs[8].donor = "Nhân dân bon Bu Đăk";
    acts[9].has_status = 1;
    acts[9].status = DK__STATUS_KIND__CULTURED_HOUSEHOLDS;
    acts[9].has_status_done = 1;
    acts[9].status_done = 410;
    acts[9].has_status_total = 1;
    acts[9].status_total = 452;
    evs[10].note = "Họp phối hợp với UBND xã\nvà các đoàn thể";
    for (int j = 0; j < 4; j++) {
        Dk__FundMovement *f = &funds[j];
        dk__fund_movement__init(f);
        Dk__Event *e = &evs[11 + j];
        e->body_case = DK__EVENT__BODY_FUND;
        e->fund = f;
        f->has_fund = 1;
        f->fund = j == 3 ? DK__FUND__CAMPAIGN : DK__FUND__FOR_THE_POOR;
        f->has_flow = 1;
        f->has_amount = 1;
        f->amount = 20000000u + (uint64_t)j;
    }
    funds[0].flow = DK__FLOW__OPENING;
    funds[1].flow = DK__FLOW__RECEIPT;
    funds[1].has_source = 1;
    funds[1].source = DK__SOURCE__BUSINESS;
    evs[12].donor = "Công ty Cà phê Đắk Mil";
    funds[2].flow = DK__FLOW__SPENDING;
    funds[2].has_purpose = 1;
    funds[2].purpose = DK__PURPOSE__TET_GIFTS;
    funds[2].has_gift_packs = 1;
    funds[2].gift_packs = 40;
    funds[2].has_households = 1;
    funds[2].households = 40;
    funds[3].flow = DK__FLOW__SPENDING;
    funds[3].has_purpose = 1;
    funds[3].purpose = DK__PURPOSE__C_FESTIVAL;
    /* a correction of seq 2 and a void of seq 3 */
    uint8_t key[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
    evs[15] = evs[1];
    evs[15].seq = 16;
    evs[15].has_corrects_seq = 1;
    evs[15].corrects_seq = 2;
    evs[15].has_origin_key = 1;
    evs[15].origin_key.data = key;
    evs[15].origin_key.len = 16;
    Dk__Void vd = DK__VOID__INIT;
    vd.has_target_seq = 1;
    vd.target_seq = 3;
    evs[16].body_case = DK__EVENT__BODY_VOID;
    evs[16].void_ = &vd;
    evs[16].has_area = 0;
    evs[16].has_organiser = 0;
    evs[16].note = "Nhập trùng";
    Dk__Batch batch = DK__BATCH__INIT;
    batch.has_batch_id = 1;
    batch.batch_id = 1;
    batch.n_events = N;
    batch.events = evp;
    env.msg_case = DK__ENVELOPE__MSG_BATCH;
    env.batch = &batch;
    wire_rules_t rules;
    wire_rules_init(&rules);
    for (int i = 0; i < N; i++) {
        wire_fault_t f;
        if (wire_check_event(&evs[i], &rules, &f) != 0) {
            fprintf(stderr, "wire_seeds: event %d is not valid: %s\n", i + 1, f.reason);
            bad = 1;
        }
    }
    bad |= save("batch_all_kinds", &env);

    /* each event alone, and a batch of invalid events (exercise every refusal path) */
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "batch_one_%02d", i + 1);
        batch.n_events = 1;
        batch.events = &evp[i];
        bad |= save(name, &env);
    }
    /* bare events: the form the aggregator stores and the outbox keeps */
    for (int i = 0; i < N; i += 4) {
        char name[32];
        snprintf(name, sizeof(name), "event_%02d", i + 1);
        uint8_t *buf;
        size_t len;
        if (wire_event_encode(&evs[i], &buf, &len) != 0) {
            bad = 1;
            continue;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
            fprintf(stderr, "wire_seeds: %s: %s\n", path, strerror(errno));
            bad = 1;
        }
        free(buf);
    }
    batch.events = evp;
    batch.n_events = 6;
    acts[0].has_channel = 0;          /* propaganda without channel */
    acts[1].has_festival = 1;         /* festival on a training */
    acts[1].festival = DK__FESTIVAL__BORDER_DAY;
    evs[2].date = 20230230;           /* no such day */
    acts[3].model_stage = 7;          /* unknown enum */
    evs[4].title = "bad\x01text";    /* control character */
    acts[5].sessions = 99999;         /* over the cap */
    bad |= save("batch_invalid", &env);

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
    r2.code = DK_EV_KIND;
    r2.field = "activity.festival";
    r2.reason = "Ngày hội (activity.festival) không dùng cho hoạt động loại “Tập huấn”.";
    Dk__EventResult *rs[2] = {&r1, &r2};
    Dk__Ack ack = DK__ACK__INIT;
    ack.has_batch_id = 1;
    ack.batch_id = 1;
    ack.n_results = 2;
    ack.results = rs;
    ack.has_high_water = 1;
    ack.high_water = 2;
    ack.has_version = 1;
    ack.version = 1201;
    env.msg_case = DK__ENVELOPE__MSG_ACK;
    env.ack = &ack;
    bad |= save("ack", &env);

    Dk__Heartbeat hb = DK__HEARTBEAT__INIT;
    hb.has_backlog = 1;
    hb.backlog = 3;
    hb.has_oldest_waiting = 1;
    hb.oldest_waiting = 1700280000;
    hb.has_sent_at = 1;
    hb.sent_at = 1700280200;
    env.msg_case = DK__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &hb;
    bad |= save("heartbeat", &env);

    Dk__HeartbeatAck hba = DK__HEARTBEAT_ACK__INIT;
    hba.has_high_water = 1;
    hba.high_water = 40;
    hba.has_version = 1;
    hba.version = 1202;
    env.msg_case = DK__ENVELOPE__MSG_HEARTBEAT_ACK;
    env.heartbeat_ack = &hba;
    bad |= save("heartbeat_ack", &env);

    Dk__SnapshotRequest sr = DK__SNAPSHOT_REQUEST__INIT;
    sr.has_since_version = 1;
    sr.since_version = 1100;
    sr.has_after = 1;
    sr.after.data = inst;
    sr.after.len = 8;
    sr.has_max_cells = 1;
    sr.max_cells = 1000;
    env.msg_case = DK__ENVELOPE__MSG_SNAPSHOT_REQUEST;
    env.snapshot_request = &sr;
    bad |= save("snapshot_request", &env);

    int64_t m1[18] = {1, 2, 80, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    int64_t m2[10] = {3, 0, 0, 0, 0, 0, 0, 0, 0, 60000000};
    Dk__Cell c1 = DK__CELL__INIT, c2 = DK__CELL__INIT;
    c1.has_unit = 1;
    c1.unit = 24664;
    c1.has_day = 1;
    c1.day = 20231118;
    c1.has_category = 1;
    c1.category = 0x1000000100080301ull;
    c1.n_m = 18;
    c1.m = m1;
    c1.has_version = 1;
    c1.version = 1201;
    c2 = c1;
    c2.category = 0x2000000001000102ull;
    c2.n_m = 10;
    c2.m = m2;
    Dk__Cell *cells[2] = {&c1, &c2};
    Dk__UnitState us = DK__UNIT_STATE__INIT;
    us.has_unit = 1;
    us.unit = 24664;
    us.has_high_water = 1;
    us.high_water = 40;
    us.has_events = 1;
    us.events = 40;
    us.has_last_contact = 1;
    us.last_contact = 1700280200;
    us.last_error = "không kết nối được";
    Dk__UnitState *uss[1] = {&us};
    Dk__Snapshot snap = DK__SNAPSHOT__INIT;
    snap.has_version = 1;
    snap.version = 1202;
    snap.has_full = 1;
    snap.full = 1;
    snap.n_cells = 2;
    snap.cells = cells;
    snap.n_units = 1;
    snap.units = uss;
    snap.has_next = 1;
    snap.next.data = inst;
    snap.next.len = 12;
    snap.has_unit = 1;
    snap.unit = 663;
    snap.has_events = 1;
    snap.events = 40;
    env.msg_case = DK__ENVELOPE__MSG_SNAPSHOT;
    env.snapshot = &snap;
    bad |= save("snapshot", &env);

    Dk__Update up = DK__UPDATE__INIT;
    up.has_version = 1;
    up.version = 1203;
    up.has_prev_version = 1;
    up.prev_version = 1202;
    up.n_cells = 2;
    up.cells = cells;
    up.n_units = 1;
    up.units = uss;
    env.msg_case = DK__ENVELOPE__MSG_UPDATE;
    env.update = &up;
    bad |= save("update", &env);

    Dk__Refusal ref = DK__REFUSAL__INIT;
    ref.has_code = 1;
    ref.code = DK_EV_SCHEMA;
    ref.reason = "Phiên bản dữ liệu mới hơn phiên bản máy chủ hỗ trợ.";
    env.msg_case = DK__ENVELOPE__MSG_REFUSAL;
    env.refusal = &ref;
    bad |= save("refusal", &env);
    return bad ? 1 : 0;
}
