/* outbox — see outbox.h. Layout of the LMDB environment (keys big-endian so they sort as numbers):
 *   meta      "commune" u32, "instance" 16 bytes, "next_seq" u64, "session" outbox_session_t,
 *             "conflict" + seq u64 -> "" (a waiting event answered DK_EV_CONFLICT: renumber it)
 *   events    seq u64 -> header (state u8, 7 zero bytes, recorded_at i64, state_at i64) + packed Event
 *   waiting   seq u64 -> recorded_at i64      (index of WAITING events, what the sender walks)
 *   acked     acked_at i64 | seq u64 -> ""    (index of ACKED events by time, what pruning walks)
 *   rejected  seq u64 -> code i32 | rejected_at i64 | field NUL reason NUL
 *   origin    origin_key (16 bytes) -> seq u64 (CSV row identity, kept forever)
 * Counting with mdb_stat on the index tables keeps `status` O(1) whatever the backlog. */
#define LOG_TAG "outbox"
#include "outbox.h"

#include <errno.h>
#include <lmdb.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "wire.h"
#include "xmalloc.h"

#define HDR_LEN 24
#define MAP_SIZE (1024ULL * 1024 * 1024)

struct outbox {
    MDB_env *env;
    MDB_dbi meta, events, waiting, acked, rejected, origin;
    uint32_t commune;
    uint8_t instance[OUTBOX_INSTANCE_LEN];
    bool readonly;
    int64_t retention;
    char *dir;
};

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static int store_err(const char *what, int rc)
{
    log_error("%s: %s", what, mdb_strerror(rc));
    return rc == MDB_MAP_FULL ? DK_EFULL : DK_ESTORE;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---- open / close ------------------------------------------------------------------------------ */

static int open_dbis(outbox_t *ob, MDB_txn *txn, unsigned flags)
{
    struct {
        const char *name;
        MDB_dbi *dbi;
    } t[] = {{"meta", &ob->meta},         {"events", &ob->events},     {"waiting", &ob->waiting},
             {"acked", &ob->acked},       {"rejected", &ob->rejected}, {"origin", &ob->origin}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int rc = mdb_dbi_open(txn, t[i].name, flags, t[i].dbi);
        if (rc != 0) {
            return store_err(t[i].name, rc);
        }
    }
    return 0;
}

static int meta_get(outbox_t *ob, MDB_txn *txn, const char *key, MDB_val *v)
{
    MDB_val k = {strlen(key), (void *)key};
    return mdb_get(txn, ob->meta, &k, v);
}

static int meta_put(outbox_t *ob, MDB_txn *txn, const char *key, const void *data, size_t len)
{
    MDB_val k = {strlen(key), (void *)key};
    MDB_val v = {len, (void *)data};
    return mdb_put(txn, ob->meta, &k, &v, 0);
}

static int init_meta(outbox_t *ob, MDB_txn *txn, uint32_t commune)
{
    MDB_val v;
    int rc = meta_get(ob, txn, "commune", &v);
    if (rc == 0) {
        uint32_t have = 0;
        if (v.mv_size == 4) {
            const uint8_t *p = v.mv_data;
            have = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        }
        if (have != commune) {
            log_error("outbox %s belongs to commune=%u, config says commune=%u", ob->dir, have,
                      commune);
            return DK_ECONFIG;
        }
        ob->commune = commune;
        rc = meta_get(ob, txn, "instance", &v);
        if (rc != 0 || v.mv_size != OUTBOX_INSTANCE_LEN) {
            return store_err("instance", rc ? rc : MDB_CORRUPTED);
        }
        memcpy(ob->instance, v.mv_data, OUTBOX_INSTANCE_LEN);
        return 0;
    }
    if (rc != MDB_NOTFOUND) {
        return store_err("meta", rc);
    }
    if (ob->readonly) {
        return DK_ENOTFOUND;
    }
    uint8_t c[4] = {(uint8_t)(commune >> 24), (uint8_t)(commune >> 16), (uint8_t)(commune >> 8),
                    (uint8_t)commune};
    if (getrandom(ob->instance, sizeof ob->instance, 0) != (ssize_t)sizeof ob->instance) {
        log_error("getrandom: %s", strerror(errno));
        return DK_EIO;
    }
    uint8_t ns[8];
    put_u64(ns, 1);
    if ((rc = meta_put(ob, txn, "commune", c, 4)) || (rc = meta_put(ob, txn, "instance",
                                                                    ob->instance, 16)) ||
        (rc = meta_put(ob, txn, "next_seq", ns, 8))) {
        return store_err("meta put", rc);
    }
    ob->commune = commune;
    log_info("new outbox dir=%s commune=%u", ob->dir, commune);
    return 0;
}

int outbox_open(const char *dir, uint32_t commune, bool readonly, outbox_t **out)
{
    *out = NULL;
    outbox_t *ob = xcalloc(1, sizeof *ob);
    ob->readonly = readonly;
    ob->retention = OUTBOX_RETENTION_DEFAULT;
    ob->dir = xstrdup(dir);
    int ret = DK_ESTORE;
    MDB_txn *txn = NULL;
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (readonly) {
            ret = DK_ENOTFOUND;
            goto fail;
        }
        if (mkdir(dir, 0700) != 0) {
            log_error("mkdir %s: %s", dir, strerror(errno));
            ret = DK_EIO;
            goto fail;
        }
    } else if (readonly) {
        char *p = xasprintf("%s/data.mdb", dir);
        int e = access(p, R_OK);
        free(p);
        if (e != 0) {
            ret = DK_ENOTFOUND;
            goto fail;
        }
    }
    int rc = mdb_env_create(&ob->env);
    if (rc == 0) {
        mdb_env_set_maxdbs(ob->env, 8);
        mdb_env_set_mapsize(ob->env, MAP_SIZE);
        rc = mdb_env_open(ob->env, dir, readonly ? MDB_RDONLY : 0, 0600);
    }
    if (rc != 0) {
        log_error("open outbox %s: %s", dir, mdb_strerror(rc));
        ret = rc == ENOENT ? DK_ENOTFOUND : DK_ESTORE;
        goto fail;
    }
    int dead = 0;
    mdb_reader_check(ob->env, &dead);
    if (dead > 0) {
        log_info("cleared %d stale readers in %s", dead, dir);
    }
    rc = mdb_txn_begin(ob->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
    if (rc != 0) {
        ret = store_err("txn", rc);
        goto fail;
    }
    if (readonly) {
        rc = mdb_dbi_open(txn, "meta", 0, &ob->meta);
        if (rc == MDB_NOTFOUND) {
            ret = DK_ENOTFOUND;
            goto fail;
        }
    }
    if ((ret = open_dbis(ob, txn, readonly ? 0 : MDB_CREATE)) != 0) {
        goto fail;
    }
    if ((ret = init_meta(ob, txn, commune)) != 0) {
        goto fail;
    }
    /* Commit even a read-only txn: aborting it would close the DBI handles opened in it. */
    if ((rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        ret = store_err("commit", rc);
        goto fail;
    }
    *out = ob;
    return 0;
fail:
    if (txn) {
        mdb_txn_abort(txn);
    }
    if (ob->env) {
        mdb_env_close(ob->env);
    }
    free(ob->dir);
    free(ob);
    return ret;
}

void outbox_close(outbox_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    outbox_t *ob = *self_p;
    mdb_env_close(ob->env);
    free(ob->dir);
    free(ob);
    *self_p = NULL;
}

/* The mapping of /proc/self/maps that holds addr: [*lo, *hi). 0 or -1. */
static int mapping_of(const void *addr, uintptr_t *lo, uintptr_t *hi)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) {
        return -1;
    }
    char line[512];
    int ret = -1;
    uintptr_t a = (uintptr_t)addr;
    while (fgets(line, sizeof line, f)) {
        unsigned long l, h;
        if (sscanf(line, "%lx-%lx", &l, &h) == 2 && a >= l && a < h) {
            *lo = l;
            *hi = h;
            ret = 0;
            break;
        }
    }
    fclose(f);
    return ret;
}

/* Why: reading 10,000 events to send them maps every page of data.mdb into the process (~2 MB of
 * RSS for 10,000 events, kept for as long as the agent runs). LMDB maps the file read-only and
 * shared (no MDB_WRITEMAP; writes go through pwrite), so MADV_DONTNEED only removes page-table
 * entries: the next access maps the same page-cache page again, nothing can be lost. LMDB does not
 * tell where its map is (me_mapaddr is only set with MDB_FIXEDMAP), so the mapping is found from a
 * value read in place. */
void outbox_trim(outbox_t *ob)
{
    MDB_txn *txn = NULL;
    MDB_val v;
    MDB_envinfo info;
    MDB_stat st;
    uintptr_t lo = 0, hi = 0;
    int found = -1;
    if (mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn) == 0) {
        if (meta_get(ob, txn, "commune", &v) == 0 && mdb_env_info(ob->env, &info) == 0 &&
            mdb_env_stat(ob->env, &st) == 0) {
            found = mapping_of(v.mv_data, &lo, &hi);
        }
        mdb_txn_abort(txn);
    }
    if (found == 0) {
        size_t used = ((size_t)info.me_last_pgno + 1) * st.ms_psize;
        size_t len = used < hi - lo ? used : hi - lo;
        if (madvise((void *)lo, len, MADV_DONTNEED) != 0) {
            log_debug("madvise dir=%s: %s", ob->dir, strerror(errno));
        }
    }
    malloc_trim(0);
}

const uint8_t *outbox_instance(const outbox_t *ob)
{
    return ob->instance;
}

uint32_t outbox_commune(const outbox_t *ob)
{
    return ob->commune;
}

void outbox_set_retention(outbox_t *ob, int64_t seconds)
{
    ob->retention = seconds;
}

/* ---- helpers on one event record ---------------------------------------------------------------- */

static void hdr_write(uint8_t *h, outbox_state_t st, int64_t recorded_at, int64_t state_at)
{
    memset(h, 0, HDR_LEN);
    h[0] = (uint8_t)st;
    put_u64(h + 8, (uint64_t)recorded_at);
    put_u64(h + 16, (uint64_t)state_at);
}

/* Rewrites the state of event seq in place (the packed body is kept). */
static int set_state(outbox_t *ob, MDB_txn *txn, uint64_t seq, outbox_state_t st, int64_t at,
                     int64_t *old_state_at)
{
    uint8_t kb[8];
    put_u64(kb, seq);
    MDB_val k = {8, kb}, v;
    int rc = mdb_get(txn, ob->events, &k, &v);
    if (rc != 0) {
        return rc;
    }
    if (v.mv_size < HDR_LEN) {
        return MDB_CORRUPTED;
    }
    uint8_t *copy = xmalloc(v.mv_size);
    memcpy(copy, v.mv_data, v.mv_size);
    if (old_state_at) {
        *old_state_at = (int64_t)get_u64(copy + 16);
    }
    hdr_write(copy, st, (int64_t)get_u64(copy + 8), at);
    MDB_val nv = {v.mv_size, copy};
    rc = mdb_put(txn, ob->events, &k, &nv, 0);
    free(copy);
    return rc;
}

static void entry_from(outbox_entry_t *e, uint64_t seq, const MDB_val *v)
{
    const uint8_t *p = v->mv_data;
    memset(e, 0, sizeof *e);
    e->seq = seq;
    e->state = (outbox_state_t)p[0];
    e->recorded_at = (int64_t)get_u64(p + 8);
    e->state_at = (int64_t)get_u64(p + 16);
    e->packed_len = v->mv_size - HDR_LEN;
    e->packed = xmalloc(e->packed_len ? e->packed_len : 1);
    memcpy(e->packed, p + HDR_LEN, e->packed_len);
}

static void entry_reject_info(outbox_t *ob, MDB_txn *txn, outbox_entry_t *e)
{
    uint8_t kb[8];
    put_u64(kb, e->seq);
    MDB_val k = {8, kb}, v;
    if (mdb_get(txn, ob->rejected, &k, &v) == 0 && v.mv_size >= 14) {
        const uint8_t *p = v.mv_data;
        e->code = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
                            p[3]);
        const char *s = (const char *)p + 12;
        size_t rest = v.mv_size - 12;
        size_t fl = strnlen(s, rest);
        e->field = xstrndup(s, fl);
        e->reason = fl < rest ? xstrndup(s + fl + 1, strnlen(s + fl + 1, rest - fl - 1))
                              : xstrdup("");
    }
}

void outbox_entry_clear(outbox_entry_t *e)
{
    if (!e) {
        return;
    }
    free(e->field);
    free(e->reason);
    free(e->packed);
    memset(e, 0, sizeof *e);
}

static uint64_t next_seq_get(outbox_t *ob, MDB_txn *txn)
{
    MDB_val v;
    if (meta_get(ob, txn, "next_seq", &v) == 0 && v.mv_size == 8) {
        return get_u64(v.mv_data);
    }
    return 1;
}

/* ---- append ------------------------------------------------------------------------------------- */

int outbox_append(outbox_t *ob, Dk__Event **events, size_t n, bool *was_new)
{
    if (ob->readonly) {
        return DK_EINVAL;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(ob->env, NULL, 0, &txn);
    if (rc != 0) {
        return store_err("append begin", rc);
    }
    uint64_t next = next_seq_get(ob, txn);
    int64_t now = now_s();
    int added = 0, ret = 0;
    for (size_t i = 0; i < n; i++) {
        Dk__Event *ev = events[i];
        bool has_origin = ev->has_origin_key && ev->origin_key.len == WIRE_ORIGIN_KEY_LEN;
        if (has_origin) {
            MDB_val k = {WIRE_ORIGIN_KEY_LEN, ev->origin_key.data}, v;
            rc = mdb_get(txn, ob->origin, &k, &v);
            if (rc == 0 && v.mv_size == 8) {
                ev->has_seq = 1;
                ev->seq = get_u64(v.mv_data);
                if (was_new) {
                    was_new[i] = false;
                }
                continue;
            }
            if (rc != MDB_NOTFOUND && rc != 0) {
                ret = store_err("origin get", rc);
                goto fail;
            }
        }
        ev->has_commune = 1;
        ev->commune = ob->commune;
        ev->has_seq = 1;
        ev->seq = next++;
        if (!ev->has_recorded_at || ev->recorded_at == 0) {
            ev->has_recorded_at = 1;
            ev->recorded_at = now;
        }
        if (!ev->has_schema_version) {
            ev->has_schema_version = 1;
            ev->schema_version = WIRE_SCHEMA_VERSION;
        }
        /* Why every event gets an origin key: the aggregator dedupes on it, so an event that
         * must be renumbered (outbox_reconcile) after the aggregator stored it under its old
         * number is acknowledged as a DUPLICATE instead of being counted twice. The caller's
         * event is left as it was (its origin_key memory is the caller's). */
        uint8_t gen[WIRE_ORIGIN_KEY_LEN];
        ProtobufCBinaryData saved_key = ev->origin_key;
        protobuf_c_boolean saved_has = ev->has_origin_key;
        if (!has_origin) {
            if (getrandom(gen, sizeof gen, 0) != (ssize_t)sizeof gen) {
                log_error("getrandom: %s", strerror(errno));
                ret = DK_EIO;
                goto fail;
            }
            ev->has_origin_key = 1;
            ev->origin_key.len = sizeof gen;
            ev->origin_key.data = gen;
        }
        uint8_t *buf;
        size_t len;
        ret = wire_event_encode(ev, &buf, &len);
        ev->has_origin_key = saved_has;
        ev->origin_key = saved_key;
        if (ret != 0) {
            goto fail;
        }
        uint8_t *val = xmalloc(HDR_LEN + len);
        hdr_write(val, OUTBOX_WAITING, ev->recorded_at, 0);
        memcpy(val + HDR_LEN, buf, len);
        free(buf);
        uint8_t kb[8], rb[8];
        put_u64(kb, ev->seq);
        put_u64(rb, (uint64_t)ev->recorded_at);
        MDB_val k = {8, kb}, v = {HDR_LEN + len, val}, wv = {8, rb};
        rc = mdb_put(txn, ob->events, &k, &v, MDB_NOOVERWRITE);
        free(val);
        if (rc == 0) {
            rc = mdb_put(txn, ob->waiting, &k, &wv, 0);
        }
        if (rc == 0 && has_origin) {
            MDB_val ok = {WIRE_ORIGIN_KEY_LEN, ev->origin_key.data}, ov = {8, kb};
            rc = mdb_put(txn, ob->origin, &ok, &ov, MDB_NOOVERWRITE);
        }
        if (rc != 0) {
            ret = store_err("append put", rc);
            goto fail;
        }
        if (was_new) {
            was_new[i] = true;
        }
        added++;
    }
    uint8_t nb[8];
    put_u64(nb, next);
    if ((rc = meta_put(ob, txn, "next_seq", nb, 8)) != 0) {
        ret = store_err("next_seq", rc);
        goto fail;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        return store_err("append commit", rc);
    }
    if (added > 0) {
        log_info("saved commune=%u events=%d last_seq=%llu", ob->commune, added,
                 (unsigned long long)(next - 1));
    }
    return added;
fail:
    mdb_txn_abort(txn);
    return ret;
}

int outbox_has_origin(outbox_t *ob, const uint8_t *origin_key, uint64_t *seq)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return store_err("origin begin", rc);
    }
    MDB_val k = {WIRE_ORIGIN_KEY_LEN, (void *)origin_key}, v;
    rc = mdb_get(txn, ob->origin, &k, &v);
    int ret = 0;
    if (rc == 0) {
        if (seq && v.mv_size == 8) {
            *seq = get_u64(v.mv_data);
        }
        ret = 1;
    } else if (rc != MDB_NOTFOUND) {
        ret = store_err("origin get", rc);
    }
    mdb_txn_abort(txn);
    return ret;
}

/* ---- reads -------------------------------------------------------------------------------------- */

int outbox_get(outbox_t *ob, uint64_t seq, outbox_entry_t *e)
{
    memset(e, 0, sizeof *e);
    MDB_txn *txn;
    int rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return store_err("get begin", rc);
    }
    uint8_t kb[8];
    put_u64(kb, seq);
    MDB_val k = {8, kb}, v;
    rc = mdb_get(txn, ob->events, &k, &v);
    int ret = 0;
    if (rc == 0 && v.mv_size >= HDR_LEN) {
        entry_from(e, seq, &v);
        if (e->state == OUTBOX_REJECTED) {
            entry_reject_info(ob, txn, e);
        }
    } else if (rc == MDB_NOTFOUND) {
        ret = DK_ENOTFOUND;
    } else {
        ret = store_err("get", rc ? rc : MDB_CORRUPTED);
    }
    mdb_txn_abort(txn);
    return ret;
}

int outbox_next_waiting(outbox_t *ob, uint64_t after, outbox_entry_t *e, size_t max)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return store_err("waiting begin", rc);
    }
    if ((rc = mdb_cursor_open(txn, ob->waiting, &cur)) != 0) {
        mdb_txn_abort(txn);
        return store_err("waiting cursor", rc);
    }
    uint8_t kb[8];
    put_u64(kb, after + 1);
    MDB_val k = {8, kb}, v;
    size_t n = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && n < max) {
        uint64_t seq = get_u64(k.mv_data);
        MDB_val ek = k, ev;
        if (mdb_get(txn, ob->events, &ek, &ev) == 0 && ev.mv_size >= HDR_LEN) {
            entry_from(&e[n++], seq, &ev);
        } else {
            log_error("waiting seq=%llu has no event record", (unsigned long long)seq);
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        for (size_t i = 0; i < n; i++) {
            outbox_entry_clear(&e[i]);
        }
        return store_err("waiting walk", rc);
    }
    return (int)n;
}

/* ---- results ------------------------------------------------------------------------------------ */

static int del_key(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len)
{
    MDB_val k = {len, (void *)key};
    return mdb_del(txn, dbi, &k, NULL);
}

/* Conflict marks live in meta as "conflict" + seq (u64 BE): waiting events the aggregator answered
 * DK_EV_CONFLICT for, to renumber at the next Welcome. */
#define CONFLICT_PREFIX "conflict"
#define CONFLICT_PREFIX_LEN 8
#define CONFLICT_KEY_LEN (CONFLICT_PREFIX_LEN + 8)

static void conflict_key(uint8_t *k, uint64_t seq)
{
    memcpy(k, CONFLICT_PREFIX, CONFLICT_PREFIX_LEN);
    put_u64(k + CONFLICT_PREFIX_LEN, seq);
}

/* The marked seqs, ascending, into *out (caller frees); their count, or a negative LMDB code. */
static int conflict_list(outbox_t *ob, MDB_txn *txn, uint64_t **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, ob->meta, &cur);
    if (rc != 0) {
        return rc;
    }
    uint8_t kb[CONFLICT_KEY_LEN];
    conflict_key(kb, 0);
    MDB_val k = {sizeof kb, kb}, v;
    size_t n = 0, cap = 0;
    uint64_t *seqs = NULL;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != CONFLICT_KEY_LEN ||
            memcmp(k.mv_data, CONFLICT_PREFIX, CONFLICT_PREFIX_LEN) != 0) {
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            seqs = xrealloc(seqs, cap * sizeof *seqs);
        }
        seqs[n++] = get_u64((const uint8_t *)k.mv_data + CONFLICT_PREFIX_LEN);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        free(seqs);
        return rc;
    }
    *out = seqs;
    *n_out = n;
    return 0;
}

int outbox_apply_results(outbox_t *ob, const uint64_t *acked, size_t na,
                         const outbox_reject_t *rejected, size_t nr, int64_t now)
{
    if (ob->readonly) {
        return DK_EINVAL;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(ob->env, NULL, 0, &txn);
    if (rc != 0) {
        return store_err("results begin", rc);
    }
    for (size_t i = 0; i < na; i++) {
        uint8_t kb[8];
        put_u64(kb, acked[i]);
        rc = del_key(txn, ob->waiting, kb, 8);
        if (rc == MDB_NOTFOUND) {
            continue; /* not waiting (a late duplicate ack): leave as it is */
        }
        if (rc == 0) {
            rc = set_state(ob, txn, acked[i], OUTBOX_ACKED, now, NULL);
        }
        if (rc == 0) {
            uint8_t ak[16];
            put_u64(ak, (uint64_t)now);
            put_u64(ak + 8, acked[i]);
            MDB_val k = {16, ak}, v = {0, ""};
            rc = mdb_put(txn, ob->acked, &k, &v, 0);
        }
        if (rc == 0) {
            /* A rejection record kept while a restored aggregator decided again; or a mark. */
            uint8_t ck[CONFLICT_KEY_LEN];
            conflict_key(ck, acked[i]);
            rc = del_key(txn, ob->rejected, kb, 8);
            if (rc == MDB_NOTFOUND || rc == 0) {
                rc = del_key(txn, ob->meta, ck, sizeof ck);
            }
            if (rc == MDB_NOTFOUND) {
                rc = 0;
            }
        }
        if (rc != 0) {
            mdb_txn_abort(txn);
            return store_err("ack", rc);
        }
    }
    for (size_t i = 0; i < nr; i++) {
        const outbox_reject_t *r = &rejected[i];
        uint8_t kb[8];
        put_u64(kb, r->seq);
        if (r->code == DK_EV_CONFLICT) {
            /* Why not final: this agent never sends two contents under one seq, so the
             * aggregator holds another event under it (this outbox restored from an older image,
             * or a second machine with the same key): ours was never stored there and must get a
             * new number, not vanish into the rejected list. The seq is decided at the
             * aggregator, so leaving it creates no hole. */
            MDB_val wk = {8, kb}, wv;
            rc = mdb_get(txn, ob->waiting, &wk, &wv);
            if (rc == MDB_NOTFOUND) {
                continue;
            }
            if (rc == 0) {
                uint8_t ck[CONFLICT_KEY_LEN];
                conflict_key(ck, r->seq);
                MDB_val mk = {sizeof ck, ck}, mv = {0, ""};
                rc = mdb_put(txn, ob->meta, &mk, &mv, 0);
                log_warn("conflict commune=%u seq=%llu: the aggregator holds another event under "
                         "this number; it will be renumbered and sent again",
                         ob->commune, (unsigned long long)r->seq);
            }
            if (rc != 0) {
                mdb_txn_abort(txn);
                return store_err("conflict mark", rc);
            }
            continue;
        }
        rc = del_key(txn, ob->waiting, kb, 8);
        if (rc == MDB_NOTFOUND) {
            continue;
        }
        if (rc == 0) {
            rc = set_state(ob, txn, r->seq, OUTBOX_REJECTED, now, NULL);
        }
        if (rc == 0) {
            const char *f = r->field ? r->field : "";
            const char *why = r->reason ? r->reason : "";
            size_t fl = strlen(f), wl = strlen(why);
            uint8_t *val = xmalloc(12 + fl + 1 + wl + 1);
            uint32_t c = (uint32_t)r->code;
            val[0] = (uint8_t)(c >> 24);
            val[1] = (uint8_t)(c >> 16);
            val[2] = (uint8_t)(c >> 8);
            val[3] = (uint8_t)c;
            put_u64(val + 4, (uint64_t)now);
            memcpy(val + 12, f, fl + 1);
            memcpy(val + 12 + fl + 1, why, wl + 1);
            MDB_val k = {8, kb}, v = {12 + fl + 1 + wl + 1, val};
            rc = mdb_put(txn, ob->rejected, &k, &v, 0);
            free(val);
            log_warn("rejected commune=%u seq=%llu code=%d field=%s", ob->commune,
                     (unsigned long long)r->seq, r->code, f);
        }
        if (rc != 0) {
            mdb_txn_abort(txn);
            return store_err("reject", rc);
        }
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        return store_err("results commit", rc);
    }
    return 0;
}

/* ---- welcome reconciliation --------------------------------------------------------------------- */

/* One waiting event during renumbering. */
typedef struct {
    uint64_t old, nw;
    bool move;
    uint8_t hdr[HDR_LEN];
    Dk__Event *e;
    uint8_t *rej; /* its rejection record (kept until a new result arrives), or NULL */
    size_t rej_len;
} wev_t;

static uint64_t *ev_ref(Dk__Event *e, int r)
{
    if (r == 0) {
        return e->has_corrects_seq && e->corrects_seq ? &e->corrects_seq : NULL;
    }
    return e->body_case == DK__EVENT__BODY_VOID && e->void_ && e->void_->has_target_seq
               ? &e->void_->target_seq
               : NULL;
}

/* Index of old seq in w[0..n) (sorted by old), or -1. */
static long wev_find(const wev_t *w, size_t n, uint64_t seq)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (w[mid].old < seq) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && w[lo].old == seq ? (long)lo : -1;
}

static bool seq_in(const uint64_t *a, size_t n, uint64_t seq)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a[mid] < seq) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && a[lo] == seq;
}

/* Gives the waiting events that must move (see outbox.h: all of them when all is set) new seqs:
 * the lowest numbers above max_seq that the outbox does not hold, in the old order, remapping
 * corrections and voids that point at moved events. Two phases, because the old and new ranges
 * may overlap: every moved event is read, decoded and deleted under its old number first, then
 * written under its new one. *count: how many moved; *last: the highest new seq (0: none). */
static int renumber_waiting(outbox_t *ob, MDB_txn *txn, uint64_t high_water, uint64_t max_seq,
                            bool all, const uint64_t *marked, size_t n_marked, uint64_t *count,
                            uint64_t *last)
{
    *count = 0;
    *last = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, ob->waiting, &cur);
    if (rc != 0) {
        return rc;
    }
    size_t n = 0, cap = 64;
    wev_t *w = xcalloc(cap, sizeof *w);
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (n == cap) {
            cap *= 2;
            w = xrealloc(w, cap * sizeof *w);
        }
        memset(&w[n], 0, sizeof w[n]);
        w[n++].old = get_u64(k.mv_data);
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        goto done;
    }
    rc = 0;
    /* Decide who moves (references point backwards, so one forward pass sees every target). */
    size_t moving = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint8_t kb[8];
        put_u64(kb, w[i].old);
        MDB_val ek = {8, kb}, ev;
        if ((rc = mdb_get(txn, ob->events, &ek, &ev)) != 0) {
            break;
        }
        if (ev.mv_size < HDR_LEN ||
            wire_event_decode((uint8_t *)ev.mv_data + HDR_LEN, ev.mv_size - HDR_LEN, &w[i].e) !=
                0) {
            log_error("outbox seq=%llu does not decode", (unsigned long long)w[i].old);
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(w[i].hdr, ev.mv_data, HDR_LEN);
        bool keyed = w[i].e->has_origin_key && w[i].e->origin_key.len == WIRE_ORIGIN_KEY_LEN;
        /* Why a key is needed below high_water: without one, an event of ours stored there
         * (ack lost) would be counted twice under a new number; a keyless (older) event is
         * sent as it is, and moves only if the aggregator answers DK_EV_CONFLICT. */
        bool mv = all || seq_in(marked, n_marked, w[i].old) ||
                  (keyed && w[i].old <= high_water);
        for (int r = 0; r < 2 && !mv; r++) {
            uint64_t *ref = ev_ref(w[i].e, r);
            long j = ref ? wev_find(w, i, *ref) : -1;
            mv = j >= 0 && w[j].move;
        }
        w[i].move = mv;
        moving += mv;
    }
    if (rc != 0 || moving == 0) {
        goto done;
    }
    /* Phase 1: take every moved event out under its old number. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!w[i].move) {
            continue;
        }
        uint8_t kb[8];
        put_u64(kb, w[i].old);
        MDB_val rk = {8, kb}, rv;
        rc = mdb_get(txn, ob->rejected, &rk, &rv);
        if (rc == 0) {
            w[i].rej_len = rv.mv_size;
            w[i].rej = xmalloc(rv.mv_size ? rv.mv_size : 1);
            memcpy(w[i].rej, rv.mv_data, rv.mv_size);
            rc = del_key(txn, ob->rejected, kb, 8);
        } else if (rc == MDB_NOTFOUND) {
            rc = 0;
        }
        if (rc == 0) {
            rc = del_key(txn, ob->events, kb, 8);
        }
        if (rc == 0) {
            rc = del_key(txn, ob->waiting, kb, 8);
        }
    }
    /* Phase 2: new numbers, lowest free above max_seq, in the old order. */
    uint64_t s = max_seq;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!w[i].move) {
            continue;
        }
        Dk__Event *e = w[i].e;
        uint64_t lowest = s;
        for (int r = 0; r < 2; r++) {
            uint64_t *ref = ev_ref(e, r);
            if (!ref) {
                continue;
            }
            long j = wev_find(w, n, *ref);
            if (j >= 0 && w[j].move) {
                *ref = w[j].nw; /* moved earlier in this pass: j < i */
            }
            if (*ref > lowest) {
                lowest = *ref; /* a correction must follow what it corrects */
            }
        }
        uint64_t nseq = lowest + 1;
        for (;;) {
            uint8_t kb[8];
            put_u64(kb, nseq);
            MDB_val ek = {8, kb}, ev;
            rc = mdb_get(txn, ob->events, &ek, &ev);
            if (rc == MDB_NOTFOUND) {
                rc = 0;
                break;
            }
            if (rc != 0) {
                break;
            }
            nseq++; /* held by an event that stays (waiting above max_seq, acked, rejected) */
        }
        if (rc != 0) {
            break;
        }
        if (nseq > s + 1) {
            log_debug("commune=%u renumber skips to seq=%llu", ob->commune,
                      (unsigned long long)nseq);
        }
        s = nseq;
        w[i].nw = nseq;
        e->seq = nseq;
        uint8_t *buf;
        size_t len;
        if (wire_event_encode(e, &buf, &len) != 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        uint8_t *val = xmalloc(HDR_LEN + len);
        memcpy(val, w[i].hdr, HDR_LEN);
        memcpy(val + HDR_LEN, buf, len);
        free(buf);
        uint8_t nkb[8], rb[8];
        put_u64(nkb, nseq);
        memcpy(rb, w[i].hdr + 8, 8);
        MDB_val nk = {8, nkb}, nv = {HDR_LEN + len, val}, wv = {8, rb};
        rc = mdb_put(txn, ob->events, &nk, &nv, MDB_NOOVERWRITE);
        free(val);
        if (rc == 0) {
            rc = mdb_put(txn, ob->waiting, &nk, &wv, 0);
        }
        if (rc == 0 && w[i].rej) {
            MDB_val rv = {w[i].rej_len, w[i].rej};
            rc = mdb_put(txn, ob->rejected, &nk, &rv, 0);
        }
        if (rc == 0 && e->has_origin_key && e->origin_key.len == WIRE_ORIGIN_KEY_LEN) {
            /* A CSV row's identity follows it (a generated key is not in the index). */
            MDB_val ok = {WIRE_ORIGIN_KEY_LEN, e->origin_key.data}, ov;
            rc = mdb_get(txn, ob->origin, &ok, &ov);
            if (rc == 0 && ov.mv_size == 8 && get_u64(ov.mv_data) == w[i].old) {
                MDB_val nov = {8, nkb};
                rc = mdb_put(txn, ob->origin, &ok, &nov, 0);
            } else if (rc == 0 || rc == MDB_NOTFOUND) {
                rc = 0;
            }
        }
        if (rc == 0) {
            log_info("renumbered commune=%u seq=%llu -> %llu", ob->commune,
                     (unsigned long long)w[i].old, (unsigned long long)nseq);
        }
    }
    if (rc == 0) {
        *count = moving;
        *last = s;
    }
done:
    for (size_t i = 0; i < n; i++) {
        wire_event_free(&w[i].e);
        free(w[i].rej);
    }
    free(w);
    return rc;
}

/* Legacy: an outbox written before DK_EV_CONFLICT stopped being final holds such events in the
 * rejected list. They are made WAITING and marked (their rejection was not a verdict on them). */
static int unreject_conflicts(outbox_t *ob, MDB_txn *txn)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, ob->rejected, &cur);
    if (rc != 0) {
        return rc;
    }
    size_t n = 0, cap = 0;
    uint64_t *seqs = NULL;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *p = v.mv_data;
        if (k.mv_size != 8 || v.mv_size < 4) {
            continue;
        }
        int32_t code = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                                 (uint32_t)p[2] << 8 | p[3]);
        if (code == DK_EV_CONFLICT) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                seqs = xrealloc(seqs, cap * sizeof *seqs);
            }
            seqs[n++] = get_u64(k.mv_data);
        }
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        free(seqs);
        return rc;
    }
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint8_t kb[8], ck[CONFLICT_KEY_LEN];
        put_u64(kb, seqs[i]);
        conflict_key(ck, seqs[i]);
        MDB_val ek = {8, kb}, ev;
        rc = mdb_get(txn, ob->events, &ek, &ev);
        if (rc == MDB_NOTFOUND) {
            rc = del_key(txn, ob->rejected, kb, 8);
            continue;
        }
        if (rc != 0) {
            break;
        }
        uint8_t rb[8];
        memcpy(rb, (uint8_t *)ev.mv_data + 8, 8);
        if ((rc = set_state(ob, txn, seqs[i], OUTBOX_WAITING, 0, NULL)) != 0) {
            break;
        }
        MDB_val wv = {8, rb}, mk = {sizeof ck, ck}, mv = {0, ""};
        if ((rc = mdb_put(txn, ob->waiting, &ek, &wv, 0)) == 0 &&
            (rc = mdb_put(txn, ob->meta, &mk, &mv, 0)) == 0) {
            rc = del_key(txn, ob->rejected, kb, 8);
        }
        log_warn("commune=%u seq=%llu was refused as a number conflict: it will be renumbered "
                 "and sent again",
                 ob->commune, (unsigned long long)seqs[i]);
    }
    free(seqs);
    return rc;
}

int outbox_reconcile(outbox_t *ob, uint64_t high_water, uint64_t max_seq,
                     const uint8_t *agg_instance, size_t agg_instance_len, uint64_t *resent,
                     uint64_t *renumbered)
{
    uint64_t n_resent = 0, n_renum = 0;
    if (resent) {
        *resent = 0;
    }
    if (renumbered) {
        *renumbered = 0;
    }
    if (ob->readonly) {
        return DK_EINVAL;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(ob->env, NULL, 0, &txn);
    if (rc != 0) {
        return store_err("reconcile begin", rc);
    }
    uint64_t next = next_seq_get(ob, txn);
    bool same_instance = agg_instance && agg_instance_len == OUTBOX_INSTANCE_LEN &&
                         memcmp(agg_instance, ob->instance, OUTBOX_INSTANCE_LEN) == 0;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint64_t *marked = NULL;
    size_t n_marked = 0;
    if ((rc = unreject_conflicts(ob, txn)) != 0 ||
        (rc = conflict_list(ob, txn, &marked, &n_marked)) != 0) {
        goto fail;
    }
    /* The first waiting seq tells whether anything may have to move. */
    uint64_t first = 0;
    if ((rc = mdb_cursor_open(txn, ob->waiting, &cur)) != 0) {
        goto fail;
    }
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    if (rc == 0) {
        first = get_u64(k.mv_data);
    }
    mdb_cursor_close(cur);
    cur = NULL;
    if (rc != 0 && rc != MDB_NOTFOUND) {
        goto fail;
    }
    rc = 0;
    bool reinstalled = !same_instance && max_seq > 0 && first > 0 && first <= max_seq;
    if (first > 0 && (reinstalled || n_marked > 0 || first <= high_water)) {
        uint64_t last = 0;
        rc = renumber_waiting(ob, txn, high_water, max_seq, reinstalled, marked, n_marked,
                              &n_renum, &last);
        if (rc != 0) {
            goto fail;
        }
        if (n_renum > 0) {
            if (last >= next) {
                next = last + 1;
                uint8_t nb[8];
                put_u64(nb, next);
                if ((rc = meta_put(ob, txn, "next_seq", nb, 8)) != 0) {
                    goto fail;
                }
            }
            log_warn("commune=%u renumbered %llu waiting events after seq=%llu (%s)",
                     ob->commune, (unsigned long long)n_renum, (unsigned long long)max_seq,
                     reinstalled ? "another agent instance used those numbers"
                                 : "the aggregator has decided their old numbers");
        }
    }
    /* Every mark was either acted on or is stale (the event is no longer waiting). */
    for (size_t i = 0; i < n_marked && rc == 0; i++) {
        uint8_t ck[CONFLICT_KEY_LEN];
        conflict_key(ck, marked[i]);
        rc = del_key(txn, ob->meta, ck, sizeof ck);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
        }
    }
    if (rc != 0) {
        goto fail;
    }
    if (max_seq >= next) {
        uint8_t nb[8];
        put_u64(nb, max_seq + 1);
        if ((rc = meta_put(ob, txn, "next_seq", nb, 8)) != 0) {
            goto fail;
        }
        log_info("commune=%u continues numbering after seq=%llu (the aggregator's max)",
                 ob->commune, (unsigned long long)max_seq);
    }
    /* Acked or rejected events above the aggregator's high-water mark: it lost them (restored
     * from an older backup). A rejected one must be decided again too, or the aggregator's
     * high-water mark would stop below it for ever (and every Welcome would resend the rest). */
    if ((rc = mdb_cursor_open(txn, ob->events, &cur)) != 0) {
        goto fail;
    }
    uint8_t kb[8];
    put_u64(kb, high_water + 1);
    k.mv_size = 8;
    k.mv_data = kb;
    size_t cap = 0, n = 0;
    uint64_t *seqs = NULL;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint8_t st = v.mv_size >= HDR_LEN ? ((const uint8_t *)v.mv_data)[0] : OUTBOX_WAITING;
        if (st == OUTBOX_ACKED || st == OUTBOX_REJECTED) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                seqs = xrealloc(seqs, cap * sizeof *seqs);
            }
            seqs[n++] = get_u64(k.mv_data) << 1 | (st == OUTBOX_ACKED);
        }
    }
    mdb_cursor_close(cur);
    cur = NULL;
    if (rc != MDB_NOTFOUND) {
        free(seqs);
        goto fail;
    }
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint64_t seq = seqs[i] >> 1;
        bool was_acked = seqs[i] & 1;
        int64_t acked_at = 0;
        uint8_t sk[8];
        put_u64(sk, seq);
        rc = set_state(ob, txn, seq, OUTBOX_WAITING, 0, &acked_at);
        if (rc == 0 && was_acked) {
            uint8_t ak[16];
            put_u64(ak, (uint64_t)acked_at);
            put_u64(ak + 8, seq);
            rc = del_key(txn, ob->acked, ak, 16);
            if (rc == MDB_NOTFOUND) {
                rc = 0;
            }
        }
        if (rc == 0) {
            MDB_val ek = {8, sk}, ev;
            rc = mdb_get(txn, ob->events, &ek, &ev);
            if (rc == 0) {
                uint8_t rb[8];
                memcpy(rb, (uint8_t *)ev.mv_data + 8, 8);
                MDB_val wv = {8, rb};
                rc = mdb_put(txn, ob->waiting, &ek, &wv, 0);
            }
        }
    }
    free(seqs);
    if (rc != 0) {
        goto fail;
    }
    n_resent = n;
    free(marked);
    marked = NULL;
    if ((rc = mdb_txn_commit(txn)) != 0) {
        return store_err("reconcile commit", rc);
    }
    if (n_resent > 0) {
        log_warn("commune=%u aggregator high_water=%llu is below %llu acknowledged events: "
                 "resending them",
                 ob->commune, (unsigned long long)high_water, (unsigned long long)n_resent);
    }
    if (resent) {
        *resent = n_resent;
    }
    if (renumbered) {
        *renumbered = n_renum;
    }
    return 0;
fail:
    free(marked);
    if (cur) {
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return store_err("reconcile", rc);
}

/* ---- pruning and stats -------------------------------------------------------------------------- */

int outbox_prune(outbox_t *ob, int64_t now)
{
    if (ob->readonly) {
        return DK_EINVAL;
    }
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(ob->env, NULL, 0, &txn);
    if (rc != 0) {
        return store_err("prune begin", rc);
    }
    if ((rc = mdb_cursor_open(txn, ob->acked, &cur)) != 0) {
        mdb_txn_abort(txn);
        return store_err("prune cursor", rc);
    }
    int64_t limit = now - ob->retention;
    int pruned = 0;
    MDB_val k, v;
    /* Bounded per call so a huge backlog never holds the writer for long. */
    while (pruned < 10000 && (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
        if (k.mv_size != 16 || (int64_t)get_u64(k.mv_data) >= limit) {
            break;
        }
        uint8_t sk[8];
        memcpy(sk, (uint8_t *)k.mv_data + 8, 8);
        if ((rc = mdb_cursor_del(cur, 0)) != 0) {
            break;
        }
        rc = del_key(txn, ob->events, sk, 8);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            break;
        }
        rc = 0;
        pruned++;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return store_err("prune", rc);
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        return store_err("prune commit", rc);
    }
    if (pruned > 0) {
        log_info("pruned commune=%u acknowledged events=%d", ob->commune, pruned);
    }
    return pruned;
}

int outbox_stats(outbox_t *ob, outbox_stats_t *st)
{
    memset(st, 0, sizeof *st);
    MDB_txn *txn;
    int rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return store_err("stats begin", rc);
    }
    MDB_stat s;
    if (mdb_stat(txn, ob->waiting, &s) == 0) {
        st->waiting = s.ms_entries;
    }
    if (mdb_stat(txn, ob->acked, &s) == 0) {
        st->acked = s.ms_entries;
    }
    if (mdb_stat(txn, ob->rejected, &s) == 0) {
        st->rejected = s.ms_entries;
    }
    if (mdb_stat(txn, ob->origin, &s) == 0) {
        st->origin_keys = s.ms_entries;
    }
    MDB_cursor *cur;
    MDB_val k, v;
    if (mdb_cursor_open(txn, ob->waiting, &cur) == 0) {
        if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0 && v.mv_size == 8) {
            st->oldest_waiting = (int64_t)get_u64(v.mv_data);
        }
        mdb_cursor_close(cur);
    }
    if (mdb_cursor_open(txn, ob->events, &cur) == 0) {
        if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0 && k.mv_size == 8) {
            st->first_seq = get_u64(k.mv_data);
        }
        mdb_cursor_close(cur);
    }
    st->last_seq = next_seq_get(ob, txn) - 1;
    mdb_txn_abort(txn);
    return 0;
}

int outbox_rejected_list(outbox_t *ob, outbox_entry_t *e, size_t max)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return store_err("rejected begin", rc);
    }
    if ((rc = mdb_cursor_open(txn, ob->rejected, &cur)) != 0) {
        mdb_txn_abort(txn);
        return store_err("rejected cursor", rc);
    }
    size_t n = 0;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_LAST); rc == 0 && n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
        MDB_val ev;
        MDB_val ek = k;
        if (mdb_get(txn, ob->events, &ek, &ev) == 0 && ev.mv_size >= HDR_LEN) {
            entry_from(&e[n], get_u64(k.mv_data), &ev);
            entry_reject_info(ob, txn, &e[n]);
            n++;
        }
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return (int)n;
}

/* The session record is this struct's bytes: written and read by the same binary on one machine. */
int outbox_session_put(outbox_t *ob, const outbox_session_t *s)
{
    if (ob->readonly) {
        return DK_EINVAL;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(ob->env, NULL, 0, &txn);
    if (rc != 0) {
        return store_err("session begin", rc);
    }
    if ((rc = meta_put(ob, txn, "session", s, sizeof *s)) != 0) {
        mdb_txn_abort(txn);
        return store_err("session put", rc);
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        return store_err("session commit", rc);
    }
    return 0;
}

int outbox_session_get(outbox_t *ob, outbox_session_t *s)
{
    memset(s, 0, sizeof *s);
    MDB_txn *txn;
    int rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return store_err("session begin", rc);
    }
    MDB_val v;
    if (meta_get(ob, txn, "session", &v) == 0 && v.mv_size == sizeof *s) {
        memcpy(s, v.mv_data, sizeof *s);
        s->last_error[sizeof s->last_error - 1] = '\0';
    }
    mdb_txn_abort(txn);
    return 0;
}
