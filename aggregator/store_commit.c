/* store_commit — the store's event commit: dedupe by (commune, seq) and origin key, remembered
 * rejections, corrections and voids (chains), exact tallies and per-commune state, all in one
 * write txn with map growth on MDB_MAP_FULL. The rules are in store.h ("Identity and outcomes");
 * the write context (st_w_*) is in store.c. */
#define LOG_TAG "store"
#include <errno.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "category.h"
#include "err.h"
#include "log.h"
#include "store_int.h"
#include "wire.h"
#include "xmalloc.h"

/* ---- commit: events -------------------------------------------------------------------------- */
/* events value header: version u64 | root u64 | recv_at i64 | flags u8, then the packed event. */
static int set_result(store_result_t *r, store_outcome_t out, int code, const char *field,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int set_result(store_result_t *r, store_outcome_t out, int code, const char *field,
                      const char *fmt, ...)
{
    r->outcome = out;
    r->code = code;
    free(r->field);
    free(r->reason);
    r->field = field && *field ? xstrdup(field) : NULL;
    r->reason = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0) {
            abort();
        }
        va_end(ap);
        r->reason = msg;
    }
    return 0;
}

static void hash_bytes(const uint8_t *b, size_t len, uint8_t out[32])
{
    crypto_generichash(out, 32, b, len, NULL, 0);
}

/* Marks (commune, seq) decided in the unit state: max_seq, and the high-water mark advances over
 * every seq now decided (batches may have arrived out of order). */
static int advance(st_wctx_t *w, store_unit_t *u, uint32_t commune, uint64_t seq)
{
    if (seq > u->max_seq) {
        u->max_seq = seq;
    }
    if (seq == u->high_water + 1 && seq == u->max_seq) {
        /* In-order arrival (the common case): nothing above seq is decided, no lookups. */
        u->high_water = seq;
        return 0;
    }
    for (;;) {
        uint8_t key[12];
        st_seq_key(key, commune, u->high_water + 1);
        MDB_val k = {12, key}, v;
        int rc = mdb_get(w->txn, w->s->dbi[DBI_EVENTS], &k, &v);
        if (rc == MDB_NOTFOUND) {
            rc = mdb_get(w->txn, w->s->dbi[DBI_DECIDED], &k, &v);
        }
        if (rc == MDB_NOTFOUND) {
            return 0;
        }
        if (rc != 0) {
            return rc;
        }
        u->high_water++;
    }
}

/* Remembers a rejection (kind 1) or an origin-key alias (kind 2) of (commune, seq). */
static int record_decided(st_wctx_t *w, store_unit_t *u, const store_item_t *it, uint8_t kind,
                          uint64_t alias_of, const store_result_t *r)
{
    const char *field = r->field ? r->field : "";
    const char *reason = r->reason ? r->reason : "";
    size_t fl = strlen(field), rl = strlen(reason);
    size_t len = 1 + 4 + 8 + 32 + fl + 1 + rl + 1;
    uint8_t *buf = xmalloc(len);
    buf[0] = kind;
    st_put_u32(buf + 1, (uint32_t)r->code);
    st_put_u64(buf + 5, alias_of);
    hash_bytes(it->bytes, it->len, buf + 13);
    memcpy(buf + 45, field, fl + 1);
    memcpy(buf + 45 + fl + 1, reason, rl + 1);
    uint8_t key[12];
    st_seq_key(key, it->commune, it->ev->seq);
    MDB_val k = {12, key}, v = {len, buf};
    int rc = mdb_put(w->txn, w->s->dbi[DBI_DECIDED], &k, &v, MDB_NOOVERWRITE);
    free(buf);
    if (rc != 0) {
        return rc;
    }
    if (kind == 1) {
        u->rejected++;
        w->rejected++;
    }
    w->meta_dirty = true;
    return advance(w, u, it->commune, it->ev->seq);
}

static int reject(st_wctx_t *w, store_unit_t *u, const store_item_t *it, store_result_t *r, int code,
                  const char *field, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static int reject(st_wctx_t *w, store_unit_t *u, const store_item_t *it, store_result_t *r, int code,
                  const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) {
        abort();
    }
    va_end(ap);
    set_result(r, STORE_REJECTED, code, field, "%s", msg);
    free(msg);
    log_info("rejected commune=%u seq=%llu code=%d field=%s", it->commune,
             (unsigned long long)it->ev->seq, code, field ? field : "-");
    return record_decided(w, u, it, 1, 0, r);
}


/* Adds sign x the contribution of event ev (of commune) to the cached cells and the unit's and
 * store's effective event counts. */
static int contribute(st_wctx_t *w, store_unit_t *u, uint32_t commune, const Dk__Event *ev, int sign)
{
    uint64_t cat;
    int64_t m[CATEGORY_MEASURES];
    int rc = category_of_event(ev, &cat, m);
    if (rc != 0) {
        return rc;
    }
    tally_cell_t *c;
    if ((rc = st_w_cell(w, commune, ev->date, cat, &c)) != 0) {
        return rc;
    }
    if (tally_add(c, m, CATEGORY_MEASURES, sign) != 0) {
        return DK_EV_RANGE;
    }
    int64_t d = sign * m[DK__MEASURE__M_EVENTS];
    u->events = (uint64_t)((int64_t)u->events + d);
    w->tallied = (uint64_t)((int64_t)w->tallied + d);
    return 0;
}

/* Contribution of the stored event (commune, seq), decoded from the store. */
static int contribute_stored(st_wctx_t *w, store_unit_t *u, uint32_t commune, uint64_t seq, int sign)
{
    st_evrec_t rec;
    int rc = st_event_load(w->txn, w->s, commune, seq, true, &rec);
    if (rc == 0) {
        rc = contribute(w, u, commune, rec.ev, sign);
    } else if (rc == MDB_NOTFOUND || rc == DK_EDECODE) {
        log_error("commune=%u seq=%llu: chain member missing or undecodable", commune,
                  (unsigned long long)seq);
        rc = DK_ESTORE;
    }
    st_evrec_clear(&rec);
    return rc;
}

/* Where a correction or void of target points: its stored event (resolving an origin-key alias),
 * the chain's root, or why not. Returns 0 (found), STORE_DEFERRED (may still arrive), or fills
 * r with a DK_EV_TARGET rejection text and returns DK_EV_TARGET. */
static int resolve_target(st_wctx_t *w, const store_unit_t *u, uint32_t commune, uint64_t seq,
                          uint64_t *target, uint64_t *root, const char **why_fmt)
{
    for (int hop = 0; hop < 2; hop++) {
        st_evrec_t rec;
        int rc = st_event_load(w->txn, w->s, commune, *target, false, &rec);
        if (rc == 0) {
            if (rec.flags & 1) {
                *why_fmt = "Sự kiện số %llu là một lệnh hủy: không thể sửa hoặc hủy nó.";
                return DK_EV_TARGET;
            }
            *root = rec.root ? rec.root : *target;
            return 0;
        }
        if (rc != MDB_NOTFOUND) {
            return rc;
        }
        uint8_t key[12];
        st_seq_key(key, commune, *target);
        MDB_val k = {12, key}, v;
        rc = mdb_get(w->txn, w->s->dbi[DBI_DECIDED], &k, &v);
        if (rc == 0) {
            const uint8_t *p = v.mv_data;
            if (v.mv_size >= 13 && p[0] == 2) {
                *target = st_get_u64(p + 5); /* the stored event this seq duplicated */
                continue;
            }
            *why_fmt = "Sự kiện số %llu đã bị từ chối nên không thể sửa hoặc hủy.";
            return DK_EV_TARGET;
        }
        if (rc != MDB_NOTFOUND) {
            return rc;
        }
        if (*target > u->high_water) {
            return STORE_DEFERRED;
        }
        break;
    }
    *why_fmt = "Không có sự kiện số %llu để sửa hoặc hủy.";
    return DK_EV_TARGET;
}

static int put_event(st_wctx_t *w, const store_item_t *it, uint64_t root, bool is_void)
{
    size_t len = ST_EV_HDR + it->len;
    uint8_t *buf = xmalloc(len);
    st_put_u64(buf, w->next);
    st_put_u64(buf + 8, root);
    st_put_u64(buf + 16, (uint64_t)w->now);
    buf[24] = is_void ? 1 : 0;
    memcpy(buf + ST_EV_HDR, it->bytes, it->len);
    uint8_t key[12];
    st_seq_key(key, it->commune, it->ev->seq);
    MDB_val k = {12, key}, v = {len, buf};
    int rc = mdb_put(w->txn, w->s->dbi[DBI_EVENTS], &k, &v, MDB_NOOVERWRITE);
    free(buf);
    if (rc != 0) {
        return rc;
    }
    w->events++;
    uint8_t lk[8];
    st_put_u64(lk, w->events);
    MDB_val lkv = {8, lk}, lv = {12, key};
    return mdb_put(w->txn, w->s->dbi[DBI_EVLOG], &lkv, &lv, MDB_APPEND);
}

static int put_head(st_wctx_t *w, uint32_t commune, uint64_t root, uint64_t head, uint64_t voided)
{
    uint8_t key[12], val[16];
    st_seq_key(key, commune, root);
    st_put_u64(val, head);
    st_put_u64(val + 8, voided);
    MDB_val k = {12, key}, v = {16, val};
    return mdb_put(w->txn, w->s->dbi[DBI_HEADS], &k, &v, 0);
}

/* Decides one item (see store.h for the rules). Returns 0 with *r filled, or an LMDB/DK error
 * that fails the whole commit. */
static int commit_item(st_wctx_t *w, const store_item_t *it, store_result_t *r)
{
    const Dk__Event *ev = it->ev;
    uint32_t c = it->commune;
    uint64_t seq = ev->seq;
    r->commune = c;
    r->seq = seq;
    uint8_t key[12];
    st_seq_key(key, c, seq);
    MDB_val k = {12, key}, v;

    /* 0. A seq beyond WIRE_MAX_SEQ (a buggy agent) is refused but never decided: remembering it
     * would raise max_seq there, and the agent, told max_seq at its next Welcome, renumbers after
     * it (max_seq + 1 must not wrap). */
    if (seq > WIRE_MAX_SEQ) {
        log_warn("refused commune=%u seq=%llu: over WIRE_MAX_SEQ, not recorded", c,
                 (unsigned long long)seq);
        return set_result(r, STORE_REJECTED, DK_EV_RANGE, "seq",
                          "Số thứ tự bản ghi (seq) %llu vượt quá giới hạn %llu: phần mềm của "
                          "xã đánh số sai, bản ghi không được ghi nhận.",
                          (unsigned long long)seq, (unsigned long long)WIRE_MAX_SEQ);
    }

    store_unit_t *u;
    int rc = st_w_unit(w, c, false, true, 0, &u);
    if (rc != 0) {
        return rc;
    }
    /* 1. Decided before: the same answer again, or a conflict. Every decided seq is <= max_seq,
     * so a seq above it needs no lookup. */
    rc = seq > u->max_seq ? MDB_NOTFOUND : mdb_get(w->txn, w->s->dbi[DBI_EVENTS], &k, &v);
    if (rc == 0) {
        if (v.mv_size == ST_EV_HDR + it->len &&
            memcmp((uint8_t *)v.mv_data + ST_EV_HDR, it->bytes, it->len) == 0) {
            return set_result(r, STORE_DUPLICATE, 0, NULL, NULL);
        }
        return set_result(r, STORE_REJECTED, DK_EV_CONFLICT, "seq",
                          "Số thứ tự %llu của xã %u đã được dùng cho một sự kiện khác.",
                          (unsigned long long)seq, c);
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    rc = seq > u->max_seq ? MDB_NOTFOUND : mdb_get(w->txn, w->s->dbi[DBI_DECIDED], &k, &v);
    if (rc == 0) {
        const uint8_t *p = v.mv_data;
        uint8_t h[32];
        hash_bytes(it->bytes, it->len, h);
        if (v.mv_size < 47 || memcmp(p + 13, h, 32) != 0) {
            return set_result(r, STORE_REJECTED, DK_EV_CONFLICT, "seq",
                              "Số thứ tự %llu của xã %u đã được dùng cho một sự kiện khác.",
                              (unsigned long long)seq, c);
        }
        if (p[0] == 2) {
            return set_result(r, STORE_DUPLICATE, 0, NULL, NULL);
        }
        const char *field = (const char *)p + 45;
        const char *reason = field + strnlen(field, v.mv_size - 45) + 1;
        return set_result(r, STORE_REJECTED, (int32_t)st_get_u32(p + 1), field, "%s", reason);
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }

    /* 2. The caller's validation verdict. */
    if (it->reject_code) {
        return reject(w, u, it, r, it->reject_code, it->reject_field, "%s",
                      it->reject_reason && *it->reject_reason
                          ? it->reject_reason
                          : "Sự kiện không hợp lệ nên không được ghi nhận.");
    }
    if (u->owner != 0) {
        return reject(w, u, it, r, DK_EV_COMMUNE, "commune",
                      "Xã %u thuộc số liệu của đơn vị %u, không nhận sự kiện trực tiếp.", c,
                      u->owner);
    }
    if (ev->has_commune && ev->commune != c) {
        return reject(w, u, it, r, DK_EV_COMMUNE, "commune",
                      "Sự kiện ghi mã xã %u nhưng được gửi từ xã %u.", ev->commune, c);
    }

    /* 3. The same CSV row (origin_key) stored before under another seq: a reinstalled agent (its
     * origin index lost) re-importing its files. A row's key hashes its whole content (for a
     * correction or void, the seq it names too), so a known key is always the same row, whatever
     * chain it names: the new seq becomes an alias of the stored one and nothing else changes.
     * This runs before the target is resolved, so a re-imported void or correction row is a
     * DUPLICATE rather than a DK_EV_TARGET (chain voided since) and never becomes the head of its
     * chain again over a later correction. */
    uint8_t okey[4 + 16];
    bool has_origin = ev->has_origin_key && ev->origin_key.len == 16;
    if (has_origin) {
        st_put_u32(okey, c);
        memcpy(okey + 4, ev->origin_key.data, 16);
        MDB_val ok = {sizeof okey, okey}, ov;
        rc = mdb_get(w->txn, w->s->dbi[DBI_ORIGINS], &ok, &ov);
        if (rc == 0 && ov.mv_size == 8) {
            uint64_t prior = st_get_u64(ov.mv_data);
            set_result(r, STORE_DUPLICATE, 0, NULL, NULL);
            log_info("duplicate row commune=%u seq=%llu same origin_key as seq=%llu", c,
                     (unsigned long long)seq, (unsigned long long)prior);
            return record_decided(w, u, it, 2, prior, r);
        }
        if (rc != 0 && rc != MDB_NOTFOUND) {
            return rc;
        }
    }

    /* 4. Corrections and voids: find the chain. */
    bool is_void = ev->body_case == DK__EVENT__BODY_VOID;
    uint64_t target = 0, root = 0;
    const char *tfield = is_void ? "void.target_seq" : "corrects_seq";
    if (is_void) {
        target = ev->void_ && ev->void_->has_target_seq ? ev->void_->target_seq : 0;
        if (target == 0) {
            return reject(w, u, it, r, DK_EV_MISSING, tfield,
                          "Lệnh hủy thiếu số thứ tự của sự kiện cần hủy.");
        }
    } else if (ev->has_corrects_seq && ev->corrects_seq) {
        target = ev->corrects_seq;
    }
    uint64_t head = 0, voided = 0;
    if (target) {
        if (target >= seq) {
            return reject(w, u, it, r, DK_EV_TARGET, tfield,
                          "Sự kiện cần sửa hoặc hủy (số %llu) phải có số thứ tự nhỏ hơn %llu.",
                          (unsigned long long)target, (unsigned long long)seq);
        }
        const char *why = NULL;
        uint64_t asked = target;
        rc = resolve_target(w, u, c, seq, &target, &root, &why);
        if (rc == STORE_DEFERRED) {
            log_info("deferred commune=%u seq=%llu target=%llu (not received yet)", c,
                     (unsigned long long)seq, (unsigned long long)asked);
            return set_result(r, STORE_DEFERRED, 0, NULL, NULL);
        }
        if (rc == DK_EV_TARGET) {
            return reject(w, u, it, r, DK_EV_TARGET, tfield, why, (unsigned long long)asked);
        }
        if (rc != 0) {
            return rc;
        }
        if ((rc = st_head_get(w->txn, w->s, c, root, &head, &voided)) != 0) {
            return rc;
        }
        if (voided) {
            return reject(w, u, it, r, DK_EV_TARGET, tfield,
                          "Sự kiện số %llu đã bị hủy (bởi sự kiện số %llu).",
                          (unsigned long long)asked, (unsigned long long)voided);
        }
    }

    /* 5. Tallies. All checks that can refuse are done before any cell changes, except overflow,
     * which is undone by hand. */
    if (!is_void) {
        uint64_t cat;
        int64_t m[CATEGORY_MEASURES];
        if (category_of_event(ev, &cat, m) != 0) {
            return reject(w, u, it, r, DK_EV_KIND, NULL,
                          "Không xác định được loại hoạt động hoặc quỹ của sự kiện.");
        }
    }
    bool counts = !target || is_void || seq > head;
    if (target && counts) {
        if ((rc = contribute_stored(w, u, c, head, -1)) != 0) {
            return rc == DK_EV_RANGE ? reject(w, u, it, r, DK_EV_RANGE, NULL,
                                              "Số liệu làm tổng cộng vượt quá giới hạn.")
                                     : rc;
        }
    }
    if (!is_void && counts) {
        if ((rc = contribute(w, u, c, ev, +1)) != 0) {
            if (rc != DK_EV_RANGE) {
                return rc;
            }
            if (target && (rc = contribute_stored(w, u, c, head, +1)) != 0) {
                return rc;
            }
            return reject(w, u, it, r, DK_EV_RANGE, NULL,
                          "Số liệu làm tổng cộng vượt quá giới hạn.");
        }
    }

    /* 6. The event, its chain and its row key. */
    if ((rc = put_event(w, it, root, is_void)) != 0) {
        return rc;
    }
    if (target) {
        if (is_void) {
            rc = put_head(w, c, root, head, seq);
        } else if (counts) {
            rc = put_head(w, c, root, seq, 0);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (has_origin) {
        MDB_val ok = {sizeof okey, okey}, ov;
        uint8_t sb[8];
        st_put_u64(sb, seq);
        ov.mv_size = 8;
        ov.mv_data = sb;
        if ((rc = mdb_put(w->txn, w->s->dbi[DBI_ORIGINS], &ok, &ov, 0)) != 0) {
            return rc;
        }
    }
    u->records++;
    w->meta_dirty = true;
    set_result(r, STORE_STORED, 0, NULL, NULL);
    return advance(w, u, c, seq);
}

static int apply_touch(st_wctx_t *w, const store_touch_t *t)
{
    store_unit_t *u;
    int rc = st_w_unit(w, t->commune, false, true, 0, &u);
    if (rc != 0) {
        return rc;
    }
    if (u->owner != 0) {
        log_warn("touch commune=%u ignored: the unit belongs to child %u", t->commune, u->owner);
        return 0;
    }
    if (t->last_contact) {
        u->last_contact = t->last_contact;
    }
    if (t->has_backlog) {
        u->backlog = t->backlog;
        u->oldest_waiting = t->oldest_waiting;
    }
    if (t->instance) {
        u->instance_len = t->instance_len > 16 ? 16 : t->instance_len;
        memset(u->instance, 0, sizeof u->instance);
        memcpy(u->instance, t->instance, u->instance_len);
    }
    return 0;
}

typedef struct {
    const store_item_t *items;
    size_t i;
} order_t;

static int cmp_order(const void *a, const void *b)
{
    const order_t *x = a, *y = b;
    const store_item_t *p = &x->items[x->i], *q = &y->items[y->i];
    if (p->commune != q->commune) {
        return p->commune < q->commune ? -1 : 1;
    }
    if (p->ev->seq != q->ev->seq) {
        return p->ev->seq < q->ev->seq ? -1 : 1;
    }
    return x->i < y->i ? -1 : (x->i > y->i);
}

void st_results_free(store_commit_t *r)
{
    for (size_t i = 0; i < r->nresults; i++) {
        free(r->results[i].field);
        free(r->results[i].reason);
    }
    free(r->results);
    free(r->cells);
    free(r->units);
    memset(r, 0, sizeof *r);
}

void store_commit_clear(store_commit_t *result)
{
    if (result) {
        st_results_free(result);
    }
}

static int commit_once(store_t *s, const store_item_t *items, size_t n, const order_t *order,
                       const store_touch_t *touches, size_t nt, store_commit_t *res,
                       uint64_t *seen_map)
{
    st_wctx_t w;
    int rc = st_w_begin(s, &w);
    if (rc != 0) {
        return rc;
    }
    res->results = n ? xcalloc(n, sizeof *res->results) : NULL;
    res->nresults = n;
    for (size_t k = 0; k < n && rc == 0; k++) {
        size_t i = order[k].i;
        rc = commit_item(&w, &items[i], &res->results[i]);
    }
    for (size_t k = 0; k < nt && rc == 0; k++) {
        rc = apply_touch(&w, &touches[k]);
    }
    if (rc == 0) {
        rc = st_w_end(&w, res, false);
    }
    *seen_map = w.map_size;
    st_w_free(&w); /* aborts the txn when it is still alive */
    return rc;
}

int store_commit(store_t *self, const store_item_t *items, size_t n, const store_touch_t *touches,
                 size_t nt, store_commit_t *result)
{
    memset(result, 0, sizeof *result);
    if (self->ro) {
        return DK_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!items[i].ev || !items[i].ev->has_seq || items[i].ev->seq == 0 ||
            (!items[i].bytes && items[i].len)) {
            log_error("commit: item %zu has no event or seq", i);
            return DK_EINVAL;
        }
    }
    order_t *order = n ? xmalloc(n * sizeof *order) : NULL;
    for (size_t i = 0; i < n; i++) {
        order[i].items = items;
        order[i].i = i;
    }
    if (n > 1) {
        qsort(order, n, sizeof *order, cmp_order);
    }
    int rc;
    for (;;) {
        uint64_t seen_map = 0;
        rc = commit_once(self, items, n, order, touches, nt, result, &seen_map);
        if (rc != MDB_MAP_FULL) {
            break;
        }
        st_results_free(result);
        if ((rc = st_grow_map(self, seen_map)) != 0) {
            break;
        }
    }
    free(order);
    if (rc != 0) {
        if (rc != DK_EFULL) {
            log_error("commit dir=%s items=%zu: %s", self->dir, n,
                      rc < -1000 || rc > 0 ? mdb_strerror(rc) : err_str(rc));
        }
        st_results_free(result);
        return st_map_rc(rc);
    }
    for (size_t i = 0; i < n; i++) {
        switch (result->results[i].outcome) {
        case STORE_STORED: result->stored++; break;
        case STORE_DUPLICATE: result->duplicates++; break;
        case STORE_REJECTED: result->rejected++; break;
        case STORE_DEFERRED: result->deferred++; break;
        }
    }
    log_debug("commit version=%llu items=%zu stored=%zu dup=%zu rejected=%zu deferred=%zu",
              (unsigned long long)result->version, n, result->stored, result->duplicates,
              result->rejected, result->deferred);
    return 0;
}
