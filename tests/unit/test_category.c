/* Unit tests for common/category: packing round trips, event -> (category, measures), text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "category.h"
#include "err.h"
#include "text.h"

static void test_pack_round_trip(void **state)
{
    (void)state;
    for (uint32_t kind = 1; kind <= 11; kind++) {
        for (uint32_t contents = 0; contents <= 31; contents += 5) {
            for (uint32_t org = 0; org <= 15; org += 3) {
                uint64_t c = category_activity(kind, contents, 7, 2, org);
                assert_int_equal(category_family(c), CATEGORY_ACTIVITY);
                assert_int_equal(category_get(c, CATEGORY_FAMILY), CATEGORY_ACTIVITY);
                assert_int_equal(category_get(c, CATEGORY_KIND), kind);
                assert_int_equal(category_get(c, CATEGORY_CONTENTS), contents);
                assert_int_equal(category_get(c, CATEGORY_CHANNEL), 7);
                assert_int_equal(category_get(c, CATEGORY_SUBKIND), 2);
                assert_int_equal(category_get(c, CATEGORY_ORGANISER), org);
                /* fund fields are not there */
                assert_int_equal(category_get(c, CATEGORY_FUND_ID), 0);
                assert_int_equal(category_get(c, CATEGORY_PURPOSE), 0);
                /* nothing outside the documented bits */
                assert_int_equal(c & 0x0fffff0000000000ull, 0);
            }
        }
    }
    uint64_t f = category_fund(DK__FUND__CAMPAIGN, DK__FLOW__SPENDING, 0, DK__PURPOSE__OTHER_CAMPAIGN, 7);
    assert_int_equal(category_family(f), CATEGORY_FUND);
    assert_int_equal(category_get(f, CATEGORY_FUND_ID), DK__FUND__CAMPAIGN);
    assert_int_equal(category_get(f, CATEGORY_FLOW), DK__FLOW__SPENDING);
    assert_int_equal(category_get(f, CATEGORY_SOURCE), 0);
    assert_int_equal(category_get(f, CATEGORY_PURPOSE), 39);
    assert_int_equal(category_get(f, CATEGORY_ORGANISER), 7);
    assert_int_equal(category_get(f, CATEGORY_KIND), 0);
    /* set: changes one field only, refuses the other family's fields */
    uint64_t g = category_set(f, CATEGORY_SOURCE, DK__SOURCE__BUSINESS);
    assert_int_equal(category_get(g, CATEGORY_SOURCE), DK__SOURCE__BUSINESS);
    assert_int_equal(category_get(g, CATEGORY_PURPOSE), 39);
    assert_true(category_set(f, CATEGORY_CHANNEL, 3) == f);
    uint64_t h = category_set(g, CATEGORY_ORGANISER, 0);
    assert_int_equal(category_get(h, CATEGORY_ORGANISER), 0);
    assert_int_equal(category_get(h, CATEGORY_FUND_ID), DK__FUND__CAMPAIGN);
    /* family ordering: all activities sort before all funds */
    assert_true(category_activity(255, 255, 255, 255, 255) < category_fund(0, 0, 0, 0, 0));
    /* invalid */
    assert_int_equal(category_family(0), CATEGORY_NONE);
    assert_int_equal(category_family(3ull << 60), CATEGORY_NONE);
    assert_int_equal(category_get(3ull << 60 | 5, CATEGORY_KIND), 0);
}

static void test_activity_event(void **state)
{
    (void)state;
    Dk__Event ev = DK__EVENT__INIT;
    Dk__Activity a = DK__ACTIVITY__INIT;
    ev.body_case = DK__EVENT__BODY_ACTIVITY;
    ev.activity = &a;
    ev.has_organiser = 1;
    ev.organiser = 2;
    a.has_kind = 1;
    a.kind = DK__ACTIVITY_KIND__FESTIVAL;
    a.has_contents = 1;
    a.contents = 0x5;
    a.has_festival = 1;
    a.festival = DK__FESTIVAL__UNITY_DAY;
    a.has_channel = 1; /* not a propaganda: ignored by the category */
    a.channel = DK__CHANNEL__FORUM;
    a.has_participants = 1;
    a.participants = 320;
    a.has_areas_held = 1;
    a.areas_held = 9;
    a.has_areas_total = 1;
    a.areas_total = 12;
    a.has_families = 1;
    a.families = 4;
    a.has_individuals = 1;
    a.individuals = 6;
    uint64_t cat = 0;
    int64_t m[CATEGORY_MEASURES];
    memset(m, 0x55, sizeof(m));
    assert_int_equal(category_of_event(&ev, &cat, m), 0);
    assert_true(cat == category_activity(DK__ACTIVITY_KIND__FESTIVAL, 5, 0, DK__FESTIVAL__UNITY_DAY, 2));
    int64_t want[CATEGORY_MEASURES] = {0};
    want[DK__MEASURE__M_EVENTS] = 1;
    want[DK__MEASURE__M_PARTICIPANTS] = 320;
    want[DK__MEASURE__M_AREAS_HELD] = 9;
    want[DK__MEASURE__M_AREAS_TOTAL] = 12;
    want[DK__MEASURE__M_FAMILIES] = 4;
    want[DK__MEASURE__M_INDIVIDUALS] = 6;
    assert_memory_equal(m, want, sizeof(want));

    /* a contribution with money, land, workdays and structures */
    Dk__Activity c = DK__ACTIVITY__INIT;
    c.has_kind = 1;
    c.kind = DK__ACTIVITY_KIND__CONTRIBUTION;
    c.has_amount = 1;
    c.amount = 999999999999999ull;
    c.has_land_m2 = 1;
    c.land_m2 = 250;
    c.has_workdays = 1;
    c.workdays = 40;
    c.has_structures = 1;
    c.structures = 3;
    ev.activity = &c;
    ev.has_organiser = 0;
    assert_int_equal(category_of_event(&ev, &cat, m), 0);
    assert_true(cat == category_activity(DK__ACTIVITY_KIND__CONTRIBUTION, 0, 0, 0, 0));
    assert_int_equal(m[DK__MEASURE__M_AMOUNT], 999999999999999ll);
    assert_int_equal(m[DK__MEASURE__M_LAND_M2], 250);
    assert_int_equal(m[DK__MEASURE__M_WORKDAYS], 40);
    assert_int_equal(m[DK__MEASURE__M_STRUCTURES], 3);
    assert_int_equal(m[DK__MEASURE__M_EVENTS], 1);

    /* propaganda keeps its channel; status keeps its subkind and both figures */
    Dk__Activity p = DK__ACTIVITY__INIT;
    p.has_kind = 1;
    p.kind = DK__ACTIVITY_KIND__PROPAGANDA;
    p.has_channel = 1;
    p.channel = DK__CHANNEL__LOUDSPEAKER;
    p.has_sessions = 1;
    p.sessions = 3;
    p.has_items = 1;
    p.items = 12;
    ev.activity = &p;
    assert_int_equal(category_of_event(&ev, &cat, m), 0);
    assert_int_equal(category_get(cat, CATEGORY_CHANNEL), DK__CHANNEL__LOUDSPEAKER);
    assert_int_equal(m[DK__MEASURE__M_SESSIONS], 3);
    assert_int_equal(m[DK__MEASURE__M_ITEMS], 12);
    Dk__Activity s = DK__ACTIVITY__INIT;
    s.has_kind = 1;
    s.kind = DK__ACTIVITY_KIND__STATUS;
    s.has_status = 1;
    s.status = DK__STATUS_KIND__MODEL_AREAS;
    s.has_status_done = 1;
    s.status_done = 4;
    s.has_status_total = 1;
    s.status_total = 11;
    ev.activity = &s;
    assert_int_equal(category_of_event(&ev, &cat, m), 0);
    assert_int_equal(category_get(cat, CATEGORY_SUBKIND), DK__STATUS_KIND__MODEL_AREAS);
    assert_int_equal(m[DK__MEASURE__M_STATUS_DONE], 4);
    assert_int_equal(m[DK__MEASURE__M_STATUS_TOTAL], 11);
}

static void test_fund_event(void **state)
{
    (void)state;
    Dk__Event ev = DK__EVENT__INIT;
    Dk__FundMovement f = DK__FUND_MOVEMENT__INIT;
    ev.body_case = DK__EVENT__BODY_FUND;
    ev.fund = &f;
    f.has_fund = 1;
    f.fund = DK__FUND__FOR_THE_POOR;
    f.has_flow = 1;
    f.flow = DK__FLOW__SPENDING;
    f.has_purpose = 1;
    f.purpose = DK__PURPOSE__TET_GIFTS;
    f.has_amount = 1;
    f.amount = 350000000;
    f.has_households = 1;
    f.households = 350;
    f.has_gift_packs = 1;
    f.gift_packs = 350;
    uint64_t cat;
    int64_t m[CATEGORY_MEASURES];
    assert_int_equal(category_of_event(&ev, &cat, m), 0);
    assert_true(cat == category_fund(DK__FUND__FOR_THE_POOR, DK__FLOW__SPENDING, 0,
                                     DK__PURPOSE__TET_GIFTS, 0));
    int64_t want[CATEGORY_MEASURES] = {0};
    want[DK__MEASURE__M_EVENTS] = 1;
    want[DK__MEASURE__M_AMOUNT] = 350000000;
    want[DK__MEASURE__M_HOUSEHOLDS] = 350;
    want[DK__MEASURE__M_GIFT_PACKS] = 350;
    assert_memory_equal(m, want, sizeof(want));

    /* a receipt keeps its source */
    Dk__FundMovement r = DK__FUND_MOVEMENT__INIT;
    r.has_fund = 1;
    r.fund = DK__FUND__CAMPAIGN;
    r.has_flow = 1;
    r.flow = DK__FLOW__RECEIPT;
    r.has_source = 1;
    r.source = DK__SOURCE__STATE_BUDGET;
    r.has_amount = 1;
    r.amount = 20000000;
    ev.fund = &r;
    ev.has_organiser = 1;
    ev.organiser = 0;
    assert_int_equal(category_of_event(&ev, &cat, m), 0);
    assert_int_equal(category_get(cat, CATEGORY_SOURCE), DK__SOURCE__STATE_BUDGET);
    assert_int_equal(category_get(cat, CATEGORY_FLOW), DK__FLOW__RECEIPT);
    assert_int_equal(m[DK__MEASURE__M_AMOUNT], 20000000);
}

static void test_refused_events(void **state)
{
    (void)state;
    uint64_t cat = 77;
    int64_t m[CATEGORY_MEASURES];
    Dk__Event ev = DK__EVENT__INIT;
    assert_int_equal(category_of_event(&ev, &cat, m), DK_EINVAL); /* no body */
    Dk__Void v = DK__VOID__INIT;
    v.has_target_seq = 1;
    v.target_seq = 3;
    ev.body_case = DK__EVENT__BODY_VOID;
    ev.void_ = &v;
    assert_int_equal(category_of_event(&ev, &cat, m), DK_EINVAL);
    assert_true(cat == 0);
    for (int i = 0; i < CATEGORY_MEASURES; i++) {
        assert_int_equal(m[i], 0);
    }
    /* values that do not fit the layout */
    Dk__Activity a = DK__ACTIVITY__INIT;
    a.has_kind = 1;
    a.kind = DK__ACTIVITY_KIND__TRAINING;
    ev.body_case = DK__EVENT__BODY_ACTIVITY;
    ev.activity = &a;
    ev.has_organiser = 1;
    ev.organiser = 256;
    assert_int_equal(category_of_event(&ev, &cat, m), DK_EINVAL);
    ev.organiser = 255;
    assert_int_equal(category_of_event(&ev, &cat, m), 0);
    a.kind = 0;
    assert_int_equal(category_of_event(&ev, &cat, m), DK_EINVAL);
    assert_int_equal(category_of_event(NULL, &cat, m), DK_EINVAL);
}

static void test_describe(void **state)
{
    (void)state;
    char buf[256];
    uint64_t c = category_activity(DK__ACTIVITY_KIND__PROPAGANDA, 0x5, DK__CHANNEL__CONFERENCE, 0, 1);
    assert_int_equal(category_describe_vi(c, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "Tuyên truyền · Hội nghị nhân dân · Nội dung 1, 3 · Hội Nông dân");
    c = category_fund(DK__FUND__FOR_THE_POOR, DK__FLOW__SPENDING, 0, DK__PURPOSE__NEW_HOUSE, 0);
    assert_int_equal(category_describe_vi(c, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "Quỹ Vì người nghèo · Chi · Xây nhà Đại đoàn kết · Ủy ban MTTQ");
    c = category_activity(DK__ACTIVITY_KIND__FESTIVAL, 0, 0, DK__FESTIVAL__BORDER_DAY, 40);
    assert_int_equal(category_describe_vi(c, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "Ngày hội · Ngày hội Biên phòng toàn dân · mã 40");
    /* too small: cut at a character boundary, still valid UTF-8 */
    for (size_t len = 1; len < 40; len++) {
        char small[40];
        int rc = category_describe_vi(c, small, len);
        assert_int_equal(rc, DK_ETOOBIG);
        assert_true(strlen(small) < len);
        assert_true(text_utf8_valid(small, strlen(small)));
    }
    assert_int_equal(category_describe_vi(0, buf, sizeof(buf)), DK_EINVAL);
    assert_int_equal(category_describe_vi(c, NULL, 0), DK_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_round_trip),
        cmocka_unit_test(test_activity_event),
        cmocka_unit_test(test_fund_event),
        cmocka_unit_test(test_refused_events),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
