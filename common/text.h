/* text — UTF-8 helpers for validation, CSV import and loose matching of Vietnamese text.
 *
 * Every function takes (s, len): s need not be NUL-terminated and may contain NUL bytes (which
 * text_utf8_valid accepts as U+0000 and text_has_control reports). No function keeps a pointer
 * into s. Strings returned are allocated with xmalloc, NUL-terminated, and owned by the caller
 * (free()). */
#ifndef DK_TEXT_H
#define DK_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when s[0..len) is well-formed UTF-8: no overlong forms, no surrogates (U+D800..U+DFFF),
 * nothing above U+10FFFF, no truncated sequence. len 0 is valid. */
bool text_utf8_valid(const char *s, size_t len);

/* Number of code points in s[0..len). For invalid UTF-8 each byte that does not start or continue
 * a well-formed sequence counts as one, so the result is never larger than len. */
size_t text_utf8_chars(const char *s, size_t len);

/* True when s[0..len) holds a control character: C0 (U+0000..U+001F, including embedded NUL),
 * DEL (U+007F) or C1 (U+0080..U+009F). With allow_newline, '\n', '\r' and '\t' are allowed.
 * Invalid UTF-8 bytes are not controls (check validity with text_utf8_valid first). */
bool text_has_control(const char *s, size_t len, bool allow_newline);

/* Vietnamese NFC: composes every Vietnamese letter written decomposed (base letter followed by
 * U+0302 circumflex, U+0306 breve, U+031B horn and/or a tone mark U+0300 grave, U+0301 acute,
 * U+0303 tilde, U+0309 hook above, U+0323 dot below, in any canonically equivalent order) or partly
 * composed ("ê" + U+0301) into its precomposed code point (ế U+1EBF), upper and lower case, with
 * Unicode's canonical ordering and blocking rules. đ/Đ has no decomposition and stays as it is.
 * A letter followed by any other combining mark, and all other text, passes unchanged.
 * Returns a new string (caller frees); NULL when s[0..len) is not valid UTF-8.
 * *out_len, when out_len is not NULL, receives the length of the result. */
char *text_nfc(const char *s, size_t len);
char *text_nfc_len(const char *s, size_t len, size_t *out_len);

/* A folded form for loose matching of CSV headers, unit names and suffixes: Vietnamese NFC,
 * lower case, Vietnamese diacritics stripped (and any combining mark U+0300..U+036F), đ -> d,
 * every run of whitespace (ASCII, NBSP, U+2000..U+200B, U+202F, U+3000, BOM U+FEFF), '_' and '-'
 * collapsed to one space, trimmed. "Số tiền (đồng)" -> "so tien (dong)", " Ngày_HỌP " -> "ngay
 * hop". ASCII and Vietnamese letters are lower-cased; other scripts pass unchanged. Returns a new
 * string (caller frees); NULL when s[0..len) is not valid UTF-8. */
char *text_fold(const char *s, size_t len);

/* Decodes one code point at s[*pos..len) and advances *pos. Returns the code point, or -1 (and
 * advances by one byte) on an invalid or truncated sequence. Precondition: *pos < len. */
int32_t text_utf8_next(const char *s, size_t len, size_t *pos);

/* Encodes cp (0..0x10FFFF, not a surrogate) into out (at least 4 bytes); returns the byte count,
 * 0 for a code point that cannot be encoded. */
size_t text_utf8_put(uint32_t cp, char *out);

/* Cuts the NUL-terminated string s back so it does not end in the middle of a UTF-8 character
 * (what snprintf leaves when it truncates Vietnamese text): drops at most 3 trailing bytes of an
 * incomplete sequence, nothing else. Returns the new length. */
size_t text_utf8_cut(char *s);

#endif
