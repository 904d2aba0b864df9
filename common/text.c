/* text — UTF-8 helpers and a Vietnamese-only NFC.
 *
 * Why not libicu or utf8proc: Debian has both, but the only normalisation doanket needs is for
 * Vietnamese (staff type with Unikey/VNI in "Unicode tổ hợp" mode, which produces NFD-like text,
 * and Excel round-trips whatever it gets). A 132-entry table of canonical decompositions, taken
 * from UnicodeData.txt for every Vietnamese vowel with every modifier and tone, and Unicode's
 * composition algorithm restricted to those marks, covers it exactly without another dependency. */
#include "text.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/* Canonical decompositions of the Vietnamese precomposed letters: composed = first + second.
 * Generated with Python's unicodedata (Unicode 14) from NFC(base + modifier + tone) for
 * base in aeiouy/AEIOUY, modifier in {none, U+0302, U+0306, U+031B} as the letter allows,
 * tone in {none, U+0300, U+0301, U+0303, U+0309, U+0323}. Sorted by composed code point. */
static const struct {
    uint16_t composed, first, second;
} VN_DECOMP[] = {
    {0x00C0, 0x0041, 0x0300}, {0x00C1, 0x0041, 0x0301}, {0x00C2, 0x0041, 0x0302},
    {0x00C3, 0x0041, 0x0303}, {0x00C8, 0x0045, 0x0300}, {0x00C9, 0x0045, 0x0301},
    {0x00CA, 0x0045, 0x0302}, {0x00CC, 0x0049, 0x0300}, {0x00CD, 0x0049, 0x0301},
    {0x00D2, 0x004F, 0x0300}, {0x00D3, 0x004F, 0x0301}, {0x00D4, 0x004F, 0x0302},
    {0x00D5, 0x004F, 0x0303}, {0x00D9, 0x0055, 0x0300}, {0x00DA, 0x0055, 0x0301},
    {0x00DD, 0x0059, 0x0301}, {0x00E0, 0x0061, 0x0300}, {0x00E1, 0x0061, 0x0301},
    {0x00E2, 0x0061, 0x0302}, {0x00E3, 0x0061, 0x0303}, {0x00E8, 0x0065, 0x0300},
    {0x00E9, 0x0065, 0x0301}, {0x00EA, 0x0065, 0x0302}, {0x00EC, 0x0069, 0x0300},
    {0x00ED, 0x0069, 0x0301}, {0x00F2, 0x006F, 0x0300}, {0x00F3, 0x006F, 0x0301},
    {0x00F4, 0x006F, 0x0302}, {0x00F5, 0x006F, 0x0303}, {0x00F9, 0x0075, 0x0300},
    {0x00FA, 0x0075, 0x0301}, {0x00FD, 0x0079, 0x0301}, {0x0102, 0x0041, 0x0306},
    {0x0103, 0x0061, 0x0306}, {0x0128, 0x0049, 0x0303}, {0x0129, 0x0069, 0x0303},
    {0x0168, 0x0055, 0x0303}, {0x0169, 0x0075, 0x0303}, {0x01A0, 0x004F, 0x031B},
    {0x01A1, 0x006F, 0x031B}, {0x01AF, 0x0055, 0x031B}, {0x01B0, 0x0075, 0x031B},
    {0x1EA0, 0x0041, 0x0323}, {0x1EA1, 0x0061, 0x0323}, {0x1EA2, 0x0041, 0x0309},
    {0x1EA3, 0x0061, 0x0309}, {0x1EA4, 0x00C2, 0x0301}, {0x1EA5, 0x00E2, 0x0301},
    {0x1EA6, 0x00C2, 0x0300}, {0x1EA7, 0x00E2, 0x0300}, {0x1EA8, 0x00C2, 0x0309},
    {0x1EA9, 0x00E2, 0x0309}, {0x1EAA, 0x00C2, 0x0303}, {0x1EAB, 0x00E2, 0x0303},
    {0x1EAC, 0x1EA0, 0x0302}, {0x1EAD, 0x1EA1, 0x0302}, {0x1EAE, 0x0102, 0x0301},
    {0x1EAF, 0x0103, 0x0301}, {0x1EB0, 0x0102, 0x0300}, {0x1EB1, 0x0103, 0x0300},
    {0x1EB2, 0x0102, 0x0309}, {0x1EB3, 0x0103, 0x0309}, {0x1EB4, 0x0102, 0x0303},
    {0x1EB5, 0x0103, 0x0303}, {0x1EB6, 0x1EA0, 0x0306}, {0x1EB7, 0x1EA1, 0x0306},
    {0x1EB8, 0x0045, 0x0323}, {0x1EB9, 0x0065, 0x0323}, {0x1EBA, 0x0045, 0x0309},
    {0x1EBB, 0x0065, 0x0309}, {0x1EBC, 0x0045, 0x0303}, {0x1EBD, 0x0065, 0x0303},
    {0x1EBE, 0x00CA, 0x0301}, {0x1EBF, 0x00EA, 0x0301}, {0x1EC0, 0x00CA, 0x0300},
    {0x1EC1, 0x00EA, 0x0300}, {0x1EC2, 0x00CA, 0x0309}, {0x1EC3, 0x00EA, 0x0309},
    {0x1EC4, 0x00CA, 0x0303}, {0x1EC5, 0x00EA, 0x0303}, {0x1EC6, 0x1EB8, 0x0302},
    {0x1EC7, 0x1EB9, 0x0302}, {0x1EC8, 0x0049, 0x0309}, {0x1EC9, 0x0069, 0x0309},
    {0x1ECA, 0x0049, 0x0323}, {0x1ECB, 0x0069, 0x0323}, {0x1ECC, 0x004F, 0x0323},
    {0x1ECD, 0x006F, 0x0323}, {0x1ECE, 0x004F, 0x0309}, {0x1ECF, 0x006F, 0x0309},
    {0x1ED0, 0x00D4, 0x0301}, {0x1ED1, 0x00F4, 0x0301}, {0x1ED2, 0x00D4, 0x0300},
    {0x1ED3, 0x00F4, 0x0300}, {0x1ED4, 0x00D4, 0x0309}, {0x1ED5, 0x00F4, 0x0309},
    {0x1ED6, 0x00D4, 0x0303}, {0x1ED7, 0x00F4, 0x0303}, {0x1ED8, 0x1ECC, 0x0302},
    {0x1ED9, 0x1ECD, 0x0302}, {0x1EDA, 0x01A0, 0x0301}, {0x1EDB, 0x01A1, 0x0301},
    {0x1EDC, 0x01A0, 0x0300}, {0x1EDD, 0x01A1, 0x0300}, {0x1EDE, 0x01A0, 0x0309},
    {0x1EDF, 0x01A1, 0x0309}, {0x1EE0, 0x01A0, 0x0303}, {0x1EE1, 0x01A1, 0x0303},
    {0x1EE2, 0x01A0, 0x0323}, {0x1EE3, 0x01A1, 0x0323}, {0x1EE4, 0x0055, 0x0323},
    {0x1EE5, 0x0075, 0x0323}, {0x1EE6, 0x0055, 0x0309}, {0x1EE7, 0x0075, 0x0309},
    {0x1EE8, 0x01AF, 0x0301}, {0x1EE9, 0x01B0, 0x0301}, {0x1EEA, 0x01AF, 0x0300},
    {0x1EEB, 0x01B0, 0x0300}, {0x1EEC, 0x01AF, 0x0309}, {0x1EED, 0x01B0, 0x0309},
    {0x1EEE, 0x01AF, 0x0303}, {0x1EEF, 0x01B0, 0x0303}, {0x1EF0, 0x01AF, 0x0323},
    {0x1EF1, 0x01B0, 0x0323}, {0x1EF2, 0x0059, 0x0300}, {0x1EF3, 0x0079, 0x0300},
    {0x1EF4, 0x0059, 0x0323}, {0x1EF5, 0x0079, 0x0323}, {0x1EF6, 0x0059, 0x0309},
    {0x1EF7, 0x0079, 0x0309}, {0x1EF8, 0x0059, 0x0303}, {0x1EF9, 0x0079, 0x0303},
};

#define VN_DECOMP_N (sizeof VN_DECOMP / sizeof VN_DECOMP[0])

/* Canonical combining class of the eight Vietnamese marks; 0 for anything else. */
static int vn_ccc(uint32_t cp)
{
    switch (cp) {
    case 0x031B: /* horn */
        return 216;
    case 0x0323: /* dot below */
        return 220;
    case 0x0300: /* grave */
    case 0x0301: /* acute */
    case 0x0302: /* circumflex */
    case 0x0303: /* tilde */
    case 0x0306: /* breve */
    case 0x0309: /* hook above */
        return 230;
    default:
        return 0;
    }
}

/* Combining marks outside our eight: a letter followed by one of these is left as typed, since
 * composing across a mark whose class we do not model could break canonical equivalence. */
static int other_combining(uint32_t cp)
{
    return (cp >= 0x0300 && cp <= 0x036F && vn_ccc(cp) == 0) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
           (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) ||
           (cp >= 0xFE20 && cp <= 0xFE2F);
}

static int decomp_find(uint32_t cp)
{
    size_t lo = 0, hi = VN_DECOMP_N;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (VN_DECOMP[mid].composed == cp) {
            return (int)mid;
        }
        if (VN_DECOMP[mid].composed < cp) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -1;
}

static uint32_t compose_pair(uint32_t first, uint32_t second)
{
    for (size_t i = 0; i < VN_DECOMP_N; i++) {
        if (VN_DECOMP[i].first == first && VN_DECOMP[i].second == second) {
            return VN_DECOMP[i].composed;
        }
    }
    return 0;
}

int32_t text_utf8_next(const char *s, size_t len, size_t *pos)
{
    const unsigned char *p = (const unsigned char *)s + *pos;
    size_t left = len - *pos;
    unsigned c = p[0];
    uint32_t cp;
    size_t n;
    uint32_t min;
    if (c < 0x80) {
        *pos += 1;
        return (int32_t)c;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        *pos += 1;
        return -1;
    }
    if (left < n) {
        *pos += 1;
        return -1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *pos += 1;
            return -1;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        *pos += 1;
        return -1;
    }
    *pos += n;
    return (int32_t)cp;
}

size_t text_utf8_put(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) {
        return 0;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp <= 0x10FFFF) {
        o[0] = (unsigned char)(0xF0 | (cp >> 18));
        o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}

bool text_utf8_valid(const char *s, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        if ((unsigned char)s[pos] < 0x80) {
            pos++;
            continue;
        }
        if (text_utf8_next(s, len, &pos) < 0) {
            return false;
        }
    }
    return true;
}

size_t text_utf8_chars(const char *s, size_t len)
{
    size_t pos = 0, n = 0;
    while (pos < len) {
        (void)text_utf8_next(s, len, &pos);
        n++;
    }
    return n;
}

bool text_has_control(const char *s, size_t len, bool allow_newline)
{
    size_t pos = 0;
    while (pos < len) {
        int32_t cp = text_utf8_next(s, len, &pos);
        if (cp < 0) {
            continue;
        }
        if (allow_newline && (cp == '\n' || cp == '\r' || cp == '\t')) {
            continue;
        }
        if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
            return true;
        }
    }
    return false;
}

/* Decodes a valid UTF-8 string into code points; *n receives the count. Caller frees. */
static uint32_t *decode_all(const char *s, size_t len, size_t *n)
{
    uint32_t *cps = xmalloc((len + 1) * sizeof *cps);
    size_t pos = 0, k = 0;
    while (pos < len) {
        cps[k++] = (uint32_t)text_utf8_next(s, len, &pos);
    }
    *n = k;
    return cps;
}

/* Fully decomposes a Vietnamese letter: *base receives the base letter, marks[] the marks in
 * canonical order (at most two). Returns the number of marks; 0 for anything else. */
static int decompose(uint32_t cp, uint32_t *base, uint32_t marks[2])
{
    uint32_t tmp[2];
    int n = 0;
    int i;
    while ((i = decomp_find(cp)) >= 0 && n < 2) {
        tmp[n++] = VN_DECOMP[i].second;
        cp = VN_DECOMP[i].first;
    }
    *base = cp;
    for (int j = 0; j < n; j++) {
        marks[j] = tmp[n - 1 - j];
    }
    return n;
}

char *text_nfc_len(const char *s, size_t len, size_t *out_len)
{
    if (!text_utf8_valid(s, len)) {
        return NULL;
    }
    size_t n;
    uint32_t *cps = decode_all(s, len, &n);
    /* A letter may come out longer than it went in when a mark cannot recompose ("ổ" + horn
     * becomes "ơ" + circumflex + hook), but each input code point yields at most three code
     * points of at most its own UTF-8 length, hence 3 * len. */
    char *out = xmalloc(3 * len + 1);
    size_t o = 0;
    size_t i = 0;
    uint32_t *marks = xmalloc((n + 2) * sizeof *marks);
    while (i < n) {
        size_t j = i + 1;
        while (j < n && vn_ccc(cps[j]) != 0) {
            j++;
        }
        if (j < n && other_combining(cps[j])) {
            /* Leave this letter and its marks exactly as they came. */
            for (size_t k = i; k < j; k++) {
                o += text_utf8_put(cps[k], out + o);
            }
            i = j;
            continue;
        }
        uint32_t starter;
        size_t nm = (size_t)decompose(cps[i], &starter, marks);
        for (size_t k = i + 1; k < j; k++) {
            marks[nm++] = cps[k];
        }
        /* Canonical ordering: a stable insertion sort by combining class. */
        for (size_t a = 1; a < nm; a++) {
            uint32_t m = marks[a];
            size_t b = a;
            while (b > 0 && vn_ccc(marks[b - 1]) > vn_ccc(m)) {
                marks[b] = marks[b - 1];
                b--;
            }
            marks[b] = m;
        }
        /* Canonical composition: a mark composes with the starter unless an uncomposed mark of
         * the same or higher class stands between them (it is "blocked"). The marks are sorted,
         * so the last leftover has the highest class so far. */
        size_t nleft = 0;
        for (size_t a = 0; a < nm; a++) {
            uint32_t c = 0;
            bool blocked = nleft > 0 && vn_ccc(marks[nleft - 1]) >= vn_ccc(marks[a]);
            if (!blocked) {
                c = compose_pair(starter, marks[a]);
            }
            if (c != 0) {
                starter = c;
            } else {
                marks[nleft++] = marks[a];
            }
        }
        o += text_utf8_put(starter, out + o);
        for (size_t a = 0; a < nleft; a++) {
            o += text_utf8_put(marks[a], out + o);
        }
        i = j;
    }
    out[o] = '\0';
    free(marks);
    free(cps);
    if (out_len != NULL) {
        *out_len = o;
    }
    return out;
}

char *text_nfc(const char *s, size_t len)
{
    return text_nfc_len(s, len, NULL);
}

static bool fold_space(uint32_t cp)
{
    return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == '_' || cp == '-' || cp == 0x00A0 ||
           (cp >= 0x2000 && cp <= 0x200B) || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
           cp == 0xFEFF;
}

char *text_fold(const char *s, size_t len)
{
    if (!text_utf8_valid(s, len)) {
        return NULL;
    }
    size_t n;
    uint32_t *cps = decode_all(s, len, &n);
    /* Folding never makes text longer: every output character replaces one that is at least as
     * long in UTF-8 (marks and spaces are dropped or merged). */
    char *out = xmalloc(len + 1);
    size_t o = 0;
    bool pending_space = false;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = cps[i];
        uint32_t marks[2];
        if (fold_space(cp)) {
            pending_space = o > 0;
            continue;
        }
        if (cp >= 0x0300 && cp <= 0x036F) {
            continue;
        }
        (void)decompose(cp, &cp, marks);
        if (cp == 0x0110 || cp == 0x0111) {
            cp = 'd';
        } else if (cp >= 'A' && cp <= 'Z') {
            cp += 'a' - 'A';
        }
        if (pending_space) {
            out[o++] = ' ';
            pending_space = false;
        }
        o += text_utf8_put(cp, out + o);
    }
    out[o] = '\0';
    free(cps);
    return out;
}

size_t text_utf8_cut(char *s)
{
    size_t n = strlen(s);
    /* Find the start of the last character: at most 3 continuation bytes back. */
    size_t i = n, back = 0;
    while (i > 0 && back < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0) {
        return n;
    }
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (need > 1 && back + 1 < need) {
        s[i - 1] = '\0';
        return i - 1;
    }
    return n;
}
