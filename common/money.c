/* money — đồng formatting and strict parsing.
 *
 * The parser's job is to refuse anything a person could have meant two ways. Vietnamese writes
 * 1.250.000 with dots for thousands and a comma for decimals; spreadsheets and English habits give
 * 1,250,000 and 1250000.00. Where one reading is an integer number of đồng and the other is not,
 * or the two readings differ ("1,250"), we refuse with a reason the commune staff can act on,
 * rather than guess: a wrong amount that looks right is the worst outcome for a fund ledger. */
#include "money.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "text.h"

/* Writes v with dots grouping thousands into out (at least 27 bytes); returns the length. */
static size_t group_dots(uint64_t v, char *out)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) {
            out[o++] = '.';
        }
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return o;
}

static int put(char *buf, size_t len, const char *s)
{
    size_t n = strlen(s);
    if (buf == NULL || n + 1 > len) {
        return DK_ETOOBIG;
    }
    memcpy(buf, s, n + 1);
    return (int)n;
}

int money_format(uint64_t dong, char *buf, size_t len)
{
    char tmp[40];
    size_t n = group_dots(dong, tmp);
    memcpy(tmp + n, " đ", sizeof " đ");
    return put(buf, len, tmp);
}

int money_format_short(uint64_t dong, char *buf, size_t len)
{
    static const uint64_t MILLION = 1000000ULL, BILLION = 1000000000ULL;
    if (dong < MILLION) {
        return money_format(dong, buf, len);
    }
    uint64_t div = dong < BILLION ? MILLION : BILLION;
    const char *unit = dong < BILLION ? "triệu" : "tỷ";
    /* Truncate toward zero: hundredths are floor((dong mod div) * 100 / div). The product cannot
     * overflow since dong mod div < 10^9. */
    uint64_t whole = dong / div;
    unsigned frac = (unsigned)((dong % div) * 100 / div);
    char tmp[64];
    size_t n = group_dots(whole, tmp);
    if (frac != 0) {
        if (frac % 10 == 0) {
            n += (size_t)snprintf(tmp + n, sizeof tmp - n, ",%u", frac / 10);
        } else {
            n += (size_t)snprintf(tmp + n, sizeof tmp - n, ",%02u", frac);
        }
    }
    snprintf(tmp + n, sizeof tmp - n, " %s đ", unit);
    return put(buf, len, tmp);
}

/* ---- parsing ---- */

#define WHY_EMPTY "chưa nhập số tiền"
#define WHY_NEGATIVE "số tiền không được âm"
#define WHY_CHAR "số tiền chỉ gồm chữ số, dấu chấm, dấu phẩy hoặc khoảng trắng phân cách hàng nghìn"
#define WHY_UNIT "đơn vị không hợp lệ: chỉ nhận đ, đồng, VND hoặc VNĐ sau số tiền"
#define WHY_FORMAT "sai định dạng số: dấu phân cách đứng đầu, đứng cuối hoặc liền nhau"
#define WHY_MIXED "lẫn lộn dấu phân cách hàng nghìn (vd. '1.250,000'): hãy viết 1.250.000"
#define WHY_GROUP "mỗi nhóm hàng nghìn phải có đúng 3 chữ số (vd. 1.250.000)"
#define WHY_LEADZERO "số có phân cách hàng nghìn không được bắt đầu bằng chữ số 0"
#define WHY_FRACTION "số tiền phải là số nguyên đồng, không có phần lẻ (vd. '1,5' hay '1.25')"
#define WHY_AMBIGUOUS "không rõ dấu phân cách: '1,250' có thể là 1,25 hoặc 1250"
#define WHY_TOOBIG "số tiền vượt quá giới hạn 999.999.999.999.999 đ"

/* Length of a space-like separator at p (ASCII space, NBSP, narrow NBSP), else 0. */
static size_t space_len(const char *p, const char *end)
{
    if (p < end && *p == ' ') {
        return 1;
    }
    if (end - p >= 2 && (unsigned char)p[0] == 0xC2 && (unsigned char)p[1] == 0xA0) {
        return 2;
    }
    if (end - p >= 3 && (unsigned char)p[0] == 0xE2 && (unsigned char)p[1] == 0x80 &&
        (unsigned char)p[2] == 0xAF) {
        return 3;
    }
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

#define MAX_TOKENS 32

typedef struct {
    const char *tok[MAX_TOKENS]; /* digit runs */
    size_t len[MAX_TOKENS];
    char sep[MAX_TOKENS]; /* sep[i] separates tok[i] and tok[i+1]: '.', ',' or ' ' */
    int n;
} number_t;

static int fail(const char **why_vi, const char *why)
{
    if (why_vi != NULL) {
        *why_vi = why;
    }
    return DK_EINVAL;
}

/* Splits [p, end) (digits and separators only) into tokens. */
static const char *tokenize(const char *p, const char *end, number_t *nb)
{
    nb->n = 0;
    while (p < end) {
        if (!is_digit(*p)) {
            return WHY_FORMAT;
        }
        if (nb->n == MAX_TOKENS) {
            return WHY_TOOBIG;
        }
        nb->tok[nb->n] = p;
        while (p < end && is_digit(*p)) {
            p++;
        }
        nb->len[nb->n] = (size_t)(p - nb->tok[nb->n]);
        nb->n++;
        if (p == end) {
            break;
        }
        size_t sl = space_len(p, end);
        char sep = sl ? ' ' : *p;
        p += sl ? sl : 1;
        if (p == end) {
            return WHY_FORMAT;
        }
        nb->sep[nb->n - 1] = sep;
    }
    return nb->n == 0 ? WHY_EMPTY : NULL;
}

static bool all_zeros(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '0') {
            return false;
        }
    }
    return true;
}

/* Applies the grouping rules of money.h; on success *value holds the amount. */
static const char *interpret(const number_t *nb, uint64_t *value)
{
    int ntok = nb->n;
    /* A last part of other than 3 digits after '.' or ',' is a decimal part. */
    if (ntok >= 2) {
        char last = nb->sep[ntok - 2];
        size_t llen = nb->len[ntok - 1];
        if ((last == '.' || last == ',') && llen != 3) {
            for (int i = 0; i < ntok - 2; i++) {
                if (nb->sep[i] == last) {
                    return nb->sep[0] == last && all_zeros(nb->tok[ntok - 1], llen) ? WHY_GROUP
                                                                                    : WHY_MIXED;
                }
            }
            if (!all_zeros(nb->tok[ntok - 1], llen)) {
                return WHY_FRACTION;
            }
            if (llen > 2) {
                return WHY_GROUP;
            }
            ntok--;
        }
    }
    int nsep = ntok - 1;
    for (int i = 1; i < nsep; i++) {
        if (nb->sep[i] != nb->sep[0]) {
            return WHY_MIXED;
        }
    }
    if (nsep > 0) {
        if (nb->len[0] > 3 || nb->tok[0][0] == '0') {
            return nb->len[0] > 3 ? WHY_GROUP : WHY_LEADZERO;
        }
        for (int i = 1; i < ntok; i++) {
            if (nb->len[i] != 3) {
                return WHY_GROUP;
            }
        }
        if (nsep == 1 && nb->sep[0] == ',' && ntok == nb->n) {
            return WHY_AMBIGUOUS;
        }
    }
    /* Every digit of the integer part, most significant first; more than 15 significant digits
     * exceeds MONEY_MAX (which is fifteen nines). */
    uint64_t v = 0;
    int sig = 0;
    for (int i = 0; i < ntok; i++) {
        for (size_t j = 0; j < nb->len[i]; j++) {
            int d = nb->tok[i][j] - '0';
            if (sig == 0 && d == 0) {
                continue;
            }
            if (++sig > 15) {
                return WHY_TOOBIG;
            }
            v = v * 10 + (uint64_t)d;
        }
    }
    if (v > MONEY_MAX) {
        return WHY_TOOBIG;
    }
    *value = v;
    return NULL;
}

/* True when [p, end) is an accepted currency unit. */
static bool unit_ok(const char *p, const char *end)
{
    for (const char *q = p; q < end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c <= ' ' || c == '-' || c == '_' || c == 0x7F) {
            return false;
        }
    }
    char *f = text_fold(p, (size_t)(end - p));
    bool ok = f != NULL && (strcmp(f, "d") == 0 || strcmp(f, "dong") == 0 || strcmp(f, "vnd") == 0);
    free(f);
    return ok;
}

int money_parse(const char *s, uint64_t *out, const char **why_vi)
{
    if (s == NULL) {
        return fail(why_vi, WHY_EMPTY);
    }
    const char *p = s, *end = s + strlen(s);
    size_t sl = 0;
    while (p < end) {
        sl = *p == '\t' ? 1 : space_len(p, end);
        if (sl == 0) {
            break;
        }
        p += sl;
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    if (p == end) {
        return fail(why_vi, WHY_EMPTY);
    }
    if (*p == '-' || (end - p >= 3 && memcmp(p, "\xE2\x88\x92", 3) == 0)) {
        return fail(why_vi, WHY_NEGATIVE);
    }
    /* The number: digits and separators. */
    const char *q = p;
    while (q < end) {
        if (is_digit(*q) || *q == '.' || *q == ',') {
            q++;
        } else if ((sl = space_len(q, end)) > 0) {
            q += sl;
        } else {
            break;
        }
    }
    const char *num_end = q;
    while (num_end > p) {
        size_t n = 0;
        for (size_t k = 1; k <= 3 && k <= (size_t)(num_end - p) && n == 0; k++) {
            n = space_len(num_end - k, num_end) == k ? k : 0;
        }
        if (n == 0) {
            break;
        }
        num_end -= n;
    }
    if (q < end && !unit_ok(q, end)) {
        return fail(why_vi, p == q ? WHY_CHAR : WHY_UNIT);
    }
    if (num_end == p) {
        return fail(why_vi, WHY_EMPTY);
    }
    number_t nb;
    const char *why = tokenize(p, num_end, &nb);
    uint64_t v = 0;
    if (why == NULL) {
        why = interpret(&nb, &v);
    }
    if (why != NULL) {
        return fail(why_vi, why);
    }
    *out = v;
    return 0;
}
