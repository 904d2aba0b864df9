/* tally — cell arithmetic, key/value encoding and a hash set of cells. See tally.h. */
#include "tally.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "xmalloc.h"

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint32_t get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    return ((uint64_t)get_u32(p) << 32) | get_u32(p + 4);
}

void tally_key_encode(uint8_t key[TALLY_KEY_LEN], uint32_t unit, uint32_t day, uint64_t category)
{
    put_u32(key, unit);
    put_u32(key + 4, day);
    put_u64(key + 8, category);
}

int tally_key_decode(const void *key, size_t len, uint32_t *unit, uint32_t *day,
                     uint64_t *category)
{
    if (len != TALLY_KEY_LEN) {
        return DK_EINVAL;
    }
    const uint8_t *p = key;
    *unit = get_u32(p);
    *day = get_u32(p + 4);
    *category = get_u64(p + 8);
    return 0;
}

size_t tally_used(const tally_cell_t *cell)
{
    size_t n = TALLY_MAX_MEASURES;
    while (n > 0 && cell->m[n - 1] == 0) {
        n--;
    }
    return n;
}

size_t tally_val_encode(const tally_cell_t *cell, uint8_t buf[TALLY_VAL_MAX])
{
    size_t n = tally_used(cell);
    put_u64(buf, cell->version);
    put_u32(buf + 8, cell->owner);
    buf[12] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        put_u64(buf + 13 + 8 * i, (uint64_t)cell->m[i]);
    }
    return 13 + 8 * n;
}

int tally_val_decode(const void *val, size_t len, tally_cell_t *cell)
{
    const uint8_t *p = val;
    if (len < 13) {
        return DK_EDECODE;
    }
    size_t n = p[12];
    if (n > TALLY_MAX_MEASURES || len != 13 + 8 * n) {
        return DK_EDECODE;
    }
    cell->version = get_u64(p);
    cell->owner = get_u32(p + 8);
    for (size_t i = 0; i < TALLY_MAX_MEASURES; i++) {
        cell->m[i] = i < n ? (int64_t)get_u64(p + 13 + 8 * i) : 0;
    }
    return 0;
}

int tally_add(tally_cell_t *cell, const int64_t *delta, size_t n, int sign)
{
    int64_t out[TALLY_MAX_MEASURES];
    if (n > TALLY_MAX_MEASURES) {
        return DK_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t d = delta[i];
        int bad = sign < 0 ? __builtin_sub_overflow(cell->m[i], d, &out[i])
                           : __builtin_add_overflow(cell->m[i], d, &out[i]);
        if (bad) {
            return DK_EINVAL;
        }
    }
    memcpy(cell->m, out, n * sizeof out[0]);
    return 0;
}

bool tally_is_zero(const tally_cell_t *cell)
{
    return tally_used(cell) == 0;
}

bool tally_same_measures(const tally_cell_t *a, const tally_cell_t *b)
{
    return memcmp(a->m, b->m, sizeof a->m) == 0;
}

/* ---- hash set ---------------------------------------------------------------------------- */
/* Open addressing over indexes into a dense array of cells: the array keeps insertion order
 * (tally_set_at) and the slots map hash -> index + 1 (0 = empty). */
struct tally_set {
    tally_cell_t *cells;
    size_t n, cap;
    uint32_t *slots;
    size_t nslots; /* power of two */
};

static uint64_t hash_key(uint32_t unit, uint32_t day, uint64_t category)
{
    uint64_t h = category * 0x9E3779B97F4A7C15ull;
    h ^= ((uint64_t)unit << 32 | day) + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return h;
}

tally_set_t *tally_set_new(void)
{
    tally_set_t *s = xcalloc(1, sizeof *s);
    s->nslots = 64;
    s->slots = xcalloc(s->nslots, sizeof *s->slots);
    return s;
}

void tally_set_destroy(tally_set_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    free((*self_p)->cells);
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

static size_t find_slot(const tally_set_t *s, uint32_t unit, uint32_t day, uint64_t category)
{
    size_t mask = s->nslots - 1;
    size_t i = hash_key(unit, day, category) & mask;
    for (;;) {
        uint32_t ix = s->slots[i];
        if (ix == 0) {
            return i;
        }
        const tally_cell_t *c = &s->cells[ix - 1];
        if (c->unit == unit && c->day == day && c->category == category) {
            return i;
        }
        i = (i + 1) & mask;
    }
}

static void rehash(tally_set_t *s, size_t nslots)
{
    free(s->slots);
    s->nslots = nslots;
    s->slots = xcalloc(nslots, sizeof *s->slots);
    for (size_t k = 0; k < s->n; k++) {
        const tally_cell_t *c = &s->cells[k];
        s->slots[find_slot(s, c->unit, c->day, c->category)] = (uint32_t)(k + 1);
    }
}

tally_cell_t *tally_set_get(tally_set_t *self, uint32_t unit, uint32_t day, uint64_t category)
{
    uint32_t ix = self->slots[find_slot(self, unit, day, category)];
    return ix ? &self->cells[ix - 1] : NULL;
}

tally_cell_t *tally_set_put(tally_set_t *self, uint32_t unit, uint32_t day, uint64_t category,
                            bool *created)
{
    size_t slot = find_slot(self, unit, day, category);
    if (self->slots[slot]) {
        if (created) {
            *created = false;
        }
        return &self->cells[self->slots[slot] - 1];
    }
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 32;
        self->cells = xrealloc(self->cells, self->cap * sizeof *self->cells);
    }
    tally_cell_t *c = &self->cells[self->n++];
    memset(c, 0, sizeof *c);
    c->unit = unit;
    c->day = day;
    c->category = category;
    self->slots[slot] = (uint32_t)self->n;
    if (self->n * 2 > self->nslots) {
        rehash(self, self->nslots * 2);
    }
    if (created) {
        *created = true;
    }
    return c;
}

size_t tally_set_count(const tally_set_t *self)
{
    return self->n;
}

tally_cell_t *tally_set_at(tally_set_t *self, size_t i)
{
    return i < self->n ? &self->cells[i] : NULL;
}

static int cmp_cell(const void *a, const void *b)
{
    const tally_cell_t *x = a, *y = b;
    if (x->unit != y->unit) {
        return x->unit < y->unit ? -1 : 1;
    }
    if (x->day != y->day) {
        return x->day < y->day ? -1 : 1;
    }
    if (x->category != y->category) {
        return x->category < y->category ? -1 : 1;
    }
    return 0;
}

void tally_set_sort(tally_set_t *self)
{
    if (self->n > 1) {
        qsort(self->cells, self->n, sizeof *self->cells, cmp_cell);
    }
    rehash(self, self->nslots);
}

int tally_cell_decode(const void *key, size_t klen, const void *val, size_t vlen,
                      tally_cell_t *cell)
{
    memset(cell, 0, sizeof *cell);
    int rc = tally_key_decode(key, klen, &cell->unit, &cell->day, &cell->category);
    return rc ? rc : tally_val_decode(val, vlen, cell);
}
