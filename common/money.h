/* money — amounts in integer đồng: formatting and strict parsing. Never a float.
 *
 * Parsing rules (money_parse), for what commune staff type:
 *   - Digits, optionally grouped by thousands with ONE kind of separator: '.', ',' or a space
 *     (ASCII space, NBSP U+00A0, narrow NBSP U+202F): "1.250.000", "1,250,000", "1 250 000",
 *     "1250000". The first group has 1-3 digits and does not start with 0, every further group
 *     exactly 3 digits.
 *   - A single dot group is the Vietnamese thousands separator: "5.000" is 5000.
 *   - A single comma group ("1,250") is refused: in Vietnamese it reads 1,25.
 *   - An optional decimal part that is all zeros, 1-2 digits, after a separator that differs
 *     from the grouping one: "1.250.000,00", "1,250,000.00", "1250000.00", "1250000,0",
 *     "1 250 000,00". Any other fraction ("1,5", "1.25", "100.50") is not a whole number of đồng.
 *   - An optional unit after the number (spaces allowed between): đ, đồng, d, dong, VND, VNĐ, in
 *     any case, NFC or NFD.
 *   - Leading/trailing spaces are ignored. Refused: empty, negative, '+', mixed separators
 *     ("1.250,000"), groups not of 3, any other character, and anything above MONEY_MAX.
 *   Leading zeros are allowed only in an ungrouped number ("0050" is 50).
 *
 * Formatting (money_format_short) truncates toward zero, never rounding up past the true value:
 * 1.999.999.999 đ is "1,99 tỷ đ", so a short figure never overstates an amount. */
#ifndef DK_MONEY_H
#define DK_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* The largest amount accepted anywhere (just below 10^15 đ). */
#define MONEY_MAX 999999999999999ULL

/* "1.250.000 đ" ("0 đ"): dots group thousands. Any uint64_t is formatted.
 * Returns the length in bytes (the đ is 2 bytes of UTF-8), or DK_ETOOBIG if buf (len bytes
 * including the NUL) is too short; 32 bytes are always enough. */
int money_format(uint64_t dong, char *buf, size_t len);

/* Short form for dashboards: under one million the full form ("350.000 đ"); from one million
 * "12,5 triệu đ", "350 triệu đ"; from one billion "1,25 tỷ đ", "1.250 tỷ đ". At most two decimals
 * (comma), trailing zeros dropped, truncated toward zero. Returns the length, or DK_ETOOBIG;
 * 40 bytes are always enough. */
int money_format_short(uint64_t dong, char *buf, size_t len);

/* Parses s (NUL-terminated) under the rules above into *out. 0 on success; DK_EINVAL with a short
 * static Vietnamese reason in *why_vi (when why_vi is not NULL), e.g.
 * "không rõ dấu phân cách: '1,250' có thể là 1,25 hoặc 1250". *out is untouched on failure. */
int money_parse(const char *s, uint64_t *out, const char **why_vi);

#endif
