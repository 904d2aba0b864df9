/* category — tally categories packed into a uint64, and what one event contributes to a cell.
 *
 * A tally cell is (unit, day, category) -> measures (DESIGN.md "Tallies"); the measures are the
 * Dk__Measure indexes (M_EVENTS .. M_GIFT_PACKS). The category says what kind of thing was
 * counted. Packed layout (bit 0 = least significant):
 *
 *   bits 60..63  family      1 = activity, 2 = fund (0 is never a valid category)
 *   activity:
 *     bits  0..7   kind        Dk__ActivityKind
 *     bits  8..15  contents    Activity.contents bit mask (bits 0..4 used; 0 = none given)
 *     bits 16..23  channel     Dk__Channel (propaganda; 0 otherwise)
 *     bits 24..31  subkind     festival / model stage / review kind / status kind, the one that
 *                              belongs to kind (0 = none)
 *     bits 32..39  organiser   0 = the committee, n = member organisation n
 *   fund:
 *     bits  0..7   fund        Dk__Fund
 *     bits  8..15  flow        Dk__Flow
 *     bits 16..23  source      Dk__Source (receipts; 0 otherwise)
 *     bits 24..31  purpose     Dk__Purpose (spending; 0 otherwise)
 *     bits 32..39  organiser
 *   bits 40..59 are zero (room to grow).
 *
 * Sorting categories as unsigned numbers (or big-endian keys) groups them by family, then
 * organiser, then subkind/purpose, channel/source, contents/flow, kind/fund. */
#ifndef DK_CATEGORY_H
#define DK_CATEGORY_H

#include <stddef.h>
#include <stdint.h>

#include "doanket.pb-c.h"

#define CATEGORY_MEASURES 18   /* DK__MEASURE__M_GIFT_PACKS + 1 */

enum { CATEGORY_NONE = 0, CATEGORY_ACTIVITY = 1, CATEGORY_FUND = 2 };

/* Fields for category_get / category_set. Activity fields and fund fields share bit positions:
 * asking a fund category for CATEGORY_KIND gives 0 (it is not an activity). */
typedef enum {
    CATEGORY_FAMILY = 0,   /* CATEGORY_ACTIVITY / CATEGORY_FUND */
    CATEGORY_KIND,         /* activity */
    CATEGORY_CONTENTS,     /* activity */
    CATEGORY_CHANNEL,      /* activity */
    CATEGORY_SUBKIND,      /* activity: festival, model stage, review or status kind */
    CATEGORY_FUND_ID,      /* fund: Dk__Fund */
    CATEGORY_FLOW,         /* fund */
    CATEGORY_SOURCE,       /* fund */
    CATEGORY_PURPOSE,      /* fund */
    CATEGORY_ORGANISER     /* both */
} category_field_t;

/* Builds categories. Values above 255 are truncated to their low 8 bits (validated events never
 * have such values). */
uint64_t category_activity(uint32_t kind, uint32_t contents, uint32_t channel, uint32_t subkind,
                           uint32_t organiser);
uint64_t category_fund(uint32_t fund, uint32_t flow, uint32_t source, uint32_t purpose,
                       uint32_t organiser);

/* The family (CATEGORY_ACTIVITY, CATEGORY_FUND, or CATEGORY_NONE for anything else). */
int category_family(uint64_t cat);

/* The value of field in cat; 0 when the field does not belong to cat's family. */
uint32_t category_get(uint64_t cat, category_field_t field);

/* cat with field set to value (low 8 bits; family: 0..15). A field of the other family leaves cat
 * unchanged. */
uint64_t category_set(uint64_t cat, category_field_t field, uint32_t value);

/* The category an activity or fund event counts under, and the measures it adds to its cell:
 * m[M_EVENTS] = 1 and each number the event carries at its Measure index (absent = 0); m must
 * hold CATEGORY_MEASURES values, all written. The event should have passed wire_check_event.
 * Returns 0; DK_EINVAL for a void event (the aggregator subtracts the target's contribution
 * instead), an event with no body, or values that do not fit the layout (never for a valid
 * event). A correction (corrects_seq) contributes like any event; the aggregator subtracts the
 * corrected event's contribution itself. */
int category_of_event(const Dk__Event *ev, uint64_t *category, int64_t m[CATEGORY_MEASURES]);

/* Writes a Vietnamese description of cat with catalog labels into buf (always NUL-terminated when
 * len > 0), e.g. "Tuyên truyền · Hội nghị nhân dân · Nội dung 1, 3 · Hội Nông dân" or
 * "Quỹ Vì người nghèo · Chi · Xây nhà Đại đoàn kết · Ủy ban MTTQ". Unknown codes print as "mã N".
 * Returns 0; DK_ETOOBIG when it did not fit (buf holds a cut, still valid UTF-8 text);
 * DK_EINVAL when cat has no valid family. */
int category_describe_vi(uint64_t cat, char *buf, size_t len);

#endif
