/* libFuzzer target: money_parse on arbitrary text; whatever parses must be within MONEY_MAX and
 * survive money_format -> money_parse unchanged; money_format_short must fit its documented size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256) {
        return 0;
    }
    char s[257];
    memcpy(s, data, size);
    s[size] = '\0';
    uint64_t v = 0;
    const char *why = NULL;
    int rc = money_parse(s, &v, &why);
    if (rc != 0) {
        if (why == NULL || why[0] == '\0') {
            abort();
        }
    } else {
        if (v > MONEY_MAX) {
            abort();
        }
        char buf[32], sbuf[40];
        if (money_format(v, buf, sizeof buf) <= 0 ||
            money_format_short(v, sbuf, sizeof sbuf) <= 0) {
            abort();
        }
        uint64_t back = ~0ULL;
        if (money_parse(buf, &back, &why) != 0 || back != v) {
            abort();
        }
    }
    /* The bytes as a number, too: format and short form never fail in their documented sizes. */
    if (size >= 8) {
        uint64_t x;
        memcpy(&x, data, 8);
        char buf[32], sbuf[40];
        if (money_format(x, buf, sizeof buf) <= 0 ||
            money_format_short(x, sbuf, sizeof sbuf) <= 0) {
            abort();
        }
        if (x <= MONEY_MAX) {
            uint64_t back;
            if (money_parse(buf, &back, NULL) != 0 || back != x) {
                abort();
            }
        }
    }
    return 0;
}
