/* libFuzzer target for common/text: arbitrary bytes (embedded NULs included) through every
 * function of text.h. Checked on every input, besides no crash, no leak and no sanitizer report:
 *   - text_utf8_valid agrees with an independent strict decoder written here (RFC 3629: no
 *     overlong forms, no surrogates, nothing above U+10FFFF, no truncated sequence);
 *   - text_utf8_next walks valid text code point by code point and text_utf8_put re-encodes it to
 *     the same bytes; text_utf8_chars is never above len and equals that count on valid text;
 *   - text_nfc / text_nfc_len / text_fold return NULL exactly when the input is not valid UTF-8;
 *   - text_nfc output is valid UTF-8, its reported length is right, and it is a fixed point
 *     (text_nfc(text_nfc(x)) == text_nfc(x)); pure ASCII passes unchanged; controls are neither
 *     added nor removed;
 *   - text_fold output is valid UTF-8, no longer than its input (text.c allocates len + 1),
 *     idempotent, free of combining marks U+0300..U+036F, of ASCII capitals, and of leading,
 *     trailing or doubled spaces, and does not depend on NFC vs NFD
 *     (text_fold(text_nfc(x)) == text_fold(x)), which is what loose header matching relies on;
 *   - text_has_control with newlines allowed implies it without. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* Names the broken invariant (the line just above) before libFuzzer records the crash. */
#define FAIL()                                                                                     \
    (fprintf(stderr, "%s:%d: invariant broken (the condition above)\n", __FILE__, __LINE__),       \
     abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Independent strict UTF-8 decoder: returns the sequence length at s[0..len) or 0 if invalid. */
static size_t ref_seq(const uint8_t *s, size_t len, uint32_t *cp)
{
    uint8_t b = s[0];
    size_t n;
    uint32_t c, min;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if ((b & 0xE0) == 0xC0) {
        n = 2, c = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
        n = 3, c = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
        n = 4, c = b & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n > len) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        return 0;
    }
    *cp = c;
    return n;
}

static bool ref_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = ref_seq(s + i, len - i, &cp);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

static bool is_control(uint32_t cp, bool allow_newline)
{
    if (allow_newline && (cp == '\n' || cp == '\r' || cp == '\t')) {
        return false;
    }
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

static void check_fold(size_t len, const char *f)
{
    size_t flen = strlen(f);
    if (flen > len || !text_utf8_valid(f, flen)) {
        FAIL();
    }
    if (flen > 0 && (f[0] == ' ' || f[flen - 1] == ' ' || strstr(f, "  ") != NULL)) {
        FAIL();
    }
    size_t pos = 0;
    while (pos < flen) {
        int32_t cp = text_utf8_next(f, flen, &pos);
        if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 'A' && cp <= 'Z')) {
            FAIL();
        }
    }
    char *again = text_fold(f, flen);
    if (again == NULL || strcmp(again, f) != 0) {
        FAIL(); /* folding a folded text must change nothing */
    }
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so ASan sees any read past the end. */
    char *s = malloc(size ? size : 1);
    memcpy(s, data, size);
    bool valid = text_utf8_valid(s, size);
    if (valid != ref_valid(data, size)) {
        FAIL();
    }

    size_t chars = text_utf8_chars(s, size);
    if (chars > size) {
        FAIL();
    }
    bool ctl = text_has_control(s, size, false);
    bool ctl_nl = text_has_control(s, size, true);
    if (ctl_nl && !ctl) {
        FAIL();
    }
    if (valid) {
        /* Decode and re-encode: same bytes, same count, and the controls seen by hand agree. */
        size_t pos = 0, n = 0, o = 0;
        bool ref_ctl = false, ref_ctl_nl = false;
        char *re = malloc(size + 4);
        while (pos < size) {
            int32_t cp = text_utf8_next(s, size, &pos);
            if (cp < 0) {
                FAIL();
            }
            size_t w = text_utf8_put((uint32_t)cp, re + o);
            if (w == 0) {
                FAIL();
            }
            o += w;
            n++;
            ref_ctl |= is_control((uint32_t)cp, false);
            ref_ctl_nl |= is_control((uint32_t)cp, true);
        }
        if (pos != size || o != size || memcmp(re, s, size) != 0 || n != chars || ref_ctl != ctl ||
            ref_ctl_nl != ctl_nl) {
            FAIL();
        }
        free(re);
    } else if (size > 0) {
        /* text_utf8_next always advances, by one byte on an invalid sequence. */
        size_t pos = 0;
        while (pos < size) {
            size_t before = pos;
            int32_t cp = text_utf8_next(s, size, &pos);
            if (pos <= before || pos > size || (cp < 0 && pos != before + 1)) {
                FAIL();
            }
        }
    }

    size_t nlen = 0;
    char *nfc = text_nfc_len(s, size, &nlen);
    char *nfc2 = text_nfc(s, size);
    char *fold = text_fold(s, size);
    if (!valid) {
        if (nfc != NULL || nfc2 != NULL || fold != NULL) {
            FAIL();
        }
        free(s);
        return 0;
    }
    if (nfc == NULL || nfc2 == NULL || fold == NULL) {
        FAIL();
    }
    if (nfc[nlen] != '\0' || memcmp(nfc, nfc2, nlen + 1) != 0 || !text_utf8_valid(nfc, nlen)) {
        FAIL();
    }
    bool ascii = true;
    for (size_t i = 0; i < size; i++) {
        ascii &= (unsigned char)s[i] < 0x80;
    }
    if (ascii && (nlen != size || memcmp(nfc, s, size) != 0)) {
        FAIL();
    }
    if (text_has_control(nfc, nlen, false) != ctl || text_has_control(nfc, nlen, true) != ctl_nl) {
        FAIL();
    }
    size_t nlen2 = 0;
    char *nfcnfc = text_nfc_len(nfc, nlen, &nlen2);
    if (nfcnfc == NULL || nlen2 != nlen || memcmp(nfcnfc, nfc, nlen) != 0) {
        FAIL(); /* NFC is a fixed point */
    }
    free(nfcnfc);

    /* text_fold stops nothing at a NUL, but its result is a C string: compare folds only when
     * the input has no NUL (strlen then is the result's length). */
    if (memchr(s, '\0', size) == NULL) {
        check_fold(size, fold);
        char *fold_nfc = text_fold(nfc, nlen);
        if (fold_nfc == NULL || strcmp(fold_nfc, fold) != 0) {
            FAIL(); /* NFC and NFD of one text must fold alike */
        }
        free(fold_nfc);
    }
    free(fold);
    free(nfc2);
    free(nfc);
    free(s);
    return 0;
}
