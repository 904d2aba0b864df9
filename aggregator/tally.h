/* tally — the pure arithmetic of tally cells and their LMDB encoding (no I/O).
 *
 * A cell is (unit, day, category) -> measures (DESIGN.md "Tallies"). Measures are indexed by
 * Dk__Measure (M_EVENTS .. M_GIFT_PACKS, CATEGORY_MEASURES of them today); a cell holds room for
 * TALLY_MAX_MEASURES so measures appended to the proto later need no layout change.
 *
 * On-disk encoding (aggregator/store.c's "cells" DBI):
 *   key   16 bytes  unit u32 BE | day u32 BE | category u64 BE
 *         (memcmp order = unit, then day, then category: one unit's day range is one cursor range)
 *   value version u64 BE | owner u32 BE | n u8 | n x int64 BE  (n = measures up to the last
 *         non-zero one; missing measures read as 0, so appended measures stay compatible)
 *
 * tally_set_t is a small hash map of cells by key, used by the store to gather a commit's changes
 * and by verify to recount. */
#ifndef DK_TALLY_H
#define DK_TALLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TALLY_MAX_MEASURES 32
#define TALLY_KEY_LEN 16
#define TALLY_VAL_MAX (8 + 4 + 1 + 8 * TALLY_MAX_MEASURES)

typedef struct {
    uint32_t unit;      /* commune code (or a child's unit code at higher levels) */
    uint32_t day;       /* YYYYMMDD */
    uint64_t category;  /* packed, common/category.h */
    uint64_t version;   /* the store version that last changed the cell */
    uint32_t owner;     /* 0: counted from this aggregator's events; else the child aggregator's unit */
    int64_t m[TALLY_MAX_MEASURES]; /* measures by Dk__Measure index; unused tail is 0 */
} tally_cell_t;

/* Key of (unit, day, category) into key[TALLY_KEY_LEN]. */
void tally_key_encode(uint8_t key[TALLY_KEY_LEN], uint32_t unit, uint32_t day, uint64_t category);
/* Reverse of tally_key_encode. Returns 0, DK_EINVAL when len != TALLY_KEY_LEN. */
int tally_key_decode(const void *key, size_t len, uint32_t *unit, uint32_t *day,
                     uint64_t *category);

/* Encodes the value part of cell (version, owner, measures) into buf (TALLY_VAL_MAX bytes);
 * returns the number of bytes written. */
size_t tally_val_encode(const tally_cell_t *cell, uint8_t buf[TALLY_VAL_MAX]);
/* Decodes a value into cell's version, owner and measures (unit/day/category untouched).
 * Returns 0, DK_EDECODE when the bytes are not a cell value. */
int tally_val_decode(const void *val, size_t len, tally_cell_t *cell);
/* A whole stored cell from its key and value (cell zeroed first). Returns 0, or DK_EINVAL /
 * DK_EDECODE as the two functions above. */
int tally_cell_decode(const void *key, size_t klen, const void *val, size_t vlen,
                      tally_cell_t *cell);

/* cell->m[i] += sign * delta[i] for i < n (sign is +1 or -1). Returns 0, or DK_EINVAL when a sum
 * would overflow int64 (cell unchanged then). */
int tally_add(tally_cell_t *cell, const int64_t *delta, size_t n, int sign);

/* True when every measure is 0. */
bool tally_is_zero(const tally_cell_t *cell);
/* True when a and b hold the same measures (keys, version and owner are not compared). */
bool tally_same_measures(const tally_cell_t *a, const tally_cell_t *b);
/* Number of measures up to the last non-zero one (0 for an all-zero cell). */
size_t tally_used(const tally_cell_t *cell);

/* ---- a hash map of cells by (unit, day, category) ---------------------------------------- */
typedef struct tally_set tally_set_t;

tally_set_t *tally_set_new(void);
/* NULL-safe, idempotent, nulls *self_p. */
void tally_set_destroy(tally_set_t **self_p);
/* The cell for (unit, day, category), or NULL. The pointer stays valid until the next
 * tally_set_put or tally_set_destroy. */
tally_cell_t *tally_set_get(tally_set_t *self, uint32_t unit, uint32_t day, uint64_t category);
/* The cell for (unit, day, category), created all-zero (version 0, owner 0) when absent; *created
 * (may be NULL) says which. Same pointer lifetime as tally_set_get. */
tally_cell_t *tally_set_put(tally_set_t *self, uint32_t unit, uint32_t day, uint64_t category,
                            bool *created);
size_t tally_set_count(const tally_set_t *self);
/* The i-th cell in insertion order (0 <= i < count); same pointer lifetime as tally_set_get. */
tally_cell_t *tally_set_at(tally_set_t *self, size_t i);
/* Sorts the cells by key (unit, day, category); tally_set_at then walks them in key order. */
void tally_set_sort(tally_set_t *self);

#endif
