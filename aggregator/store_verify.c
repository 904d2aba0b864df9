/* store_verify — recounts every local tally cell from the stored events (chains resolved as
 * store.h says) in one read txn and compares with the stored cells. Contract in store.h. */
#define LOG_TAG "store"
#include <stdlib.h>
#include <string.h>

#include "category.h"
#include "err.h"
#include "log.h"
#include "store_int.h"
#include "xmalloc.h"

/* ---- verify ------------------------------------------------------------------------------ */
/* A chain during the recount: its best (highest seq, non-void) member's contribution. */
typedef struct {
    uint64_t root;
    bool voided, has;
    uint32_t day;
    uint64_t cat;
    int64_t m[CATEGORY_MEASURES];
} vchain_t;

typedef struct {
    uint64_t seq;
    size_t chain; /* index into chains */
} vseq_t;

typedef struct {
    vchain_t *chains;
    size_t nch, capch;
    vseq_t *seqs; /* ascending by seq (events are walked in key order) */
    size_t nseq, capseq;
} vcommune_t;

static vseq_t *vseq_find(vcommune_t *vc, uint64_t seq)
{
    size_t lo = 0, hi = vc->nseq;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (vc->seqs[mid].seq < seq) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < vc->nseq && vc->seqs[lo].seq == seq ? &vc->seqs[lo] : NULL;
}

static void vseq_add(vcommune_t *vc, uint64_t seq, size_t chain)
{
    if (vc->nseq == vc->capseq) {
        vc->capseq = vc->capseq ? vc->capseq * 2 : 256;
        vc->seqs = xrealloc(vc->seqs, vc->capseq * sizeof *vc->seqs);
    }
    vc->seqs[vc->nseq].seq = seq;
    vc->seqs[vc->nseq++].chain = chain;
}

/* Adds the commune's effective chains to the recount and resets vc. */
static int vcommune_flush(uint32_t commune, vcommune_t *vc, tally_set_t *recount)
{
    for (size_t i = 0; i < vc->nch; i++) {
        vchain_t *ch = &vc->chains[i];
        if (ch->voided || !ch->has) {
            continue;
        }
        tally_cell_t *c = tally_set_put(recount, commune, ch->day, ch->cat, NULL);
        if (tally_add(c, ch->m, CATEGORY_MEASURES, +1) != 0) {
            return DK_EMISMATCH;
        }
    }
    vc->nch = vc->nseq = 0;
    return 0;
}

/* Resolves an origin-key alias (a consumed seq) to the stored seq it duplicated. */
static uint64_t alias_of(MDB_txn *txn, store_t *s, uint32_t commune, uint64_t seq)
{
    uint8_t key[12];
    st_seq_key(key, commune, seq);
    MDB_val k = {12, key}, v;
    if (mdb_get(txn, s->dbi[DBI_DECIDED], &k, &v) == 0 && v.mv_size >= 13 &&
        ((uint8_t *)v.mv_data)[0] == 2) {
        return st_get_u64((uint8_t *)v.mv_data + 5);
    }
    return 0;
}

static int recount_events(MDB_txn *txn, store_t *s, tally_set_t *recount, FILE *report,
                          size_t *problems)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[DBI_EVENTS], &cur);
    if (rc != 0) {
        return rc;
    }
    vcommune_t vc = {0};
    uint32_t commune = 0;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 12) {
            rc = DK_ESTORE;
            break;
        }
        uint32_t c = st_get_u32(k.mv_data);
        uint64_t seq = st_get_u64((uint8_t *)k.mv_data + 4);
        if (c != commune) {
            if ((rc = vcommune_flush(commune, &vc, recount)) != 0) {
                break;
            }
            commune = c;
        }
        st_evrec_t rec;
        if (st_event_parse(v.mv_data, v.mv_size, true, &rec) != 0) {
            if (report) {
                fprintf(report, "event commune=%u seq=%llu: undecodable\n", c,
                        (unsigned long long)seq);
            }
            (*problems)++;
            st_evrec_clear(&rec);
            continue;
        }
        const Dk__Event *ev = rec.ev;
        bool is_void = ev->body_case == DK__EVENT__BODY_VOID;
        uint64_t target = is_void ? (ev->void_ ? ev->void_->target_seq : 0)
                                  : (ev->has_corrects_seq ? ev->corrects_seq : 0);
        size_t chain;
        if (target) {
            vseq_t *t = vseq_find(&vc, target);
            if (!t) {
                uint64_t a = alias_of(txn, s, c, target);
                t = a ? vseq_find(&vc, a) : NULL;
            }
            if (!t) {
                if (report) {
                    fprintf(report, "event commune=%u seq=%llu: corrects/voids seq %llu that is "
                                    "not stored\n",
                            c, (unsigned long long)seq, (unsigned long long)target);
                }
                (*problems)++;
                st_evrec_clear(&rec);
                continue;
            }
            chain = t->chain;
        } else {
            if (vc.nch == vc.capch) {
                vc.capch = vc.capch ? vc.capch * 2 : 256;
                vc.chains = xrealloc(vc.chains, vc.capch * sizeof *vc.chains);
            }
            chain = vc.nch++;
            memset(&vc.chains[chain], 0, sizeof vc.chains[chain]);
            vc.chains[chain].root = seq;
        }
        vseq_add(&vc, seq, chain);
        vchain_t *ch = &vc.chains[chain];
        if (is_void) {
            ch->voided = true;
        } else if (category_of_event(ev, &ch->cat, ch->m) == 0) {
            /* Walking seqs upwards, a later member always has the higher seq: it wins. */
            ch->has = true;
            ch->day = ev->date;
        } else {
            if (report) {
                fprintf(report, "event commune=%u seq=%llu: no category\n", c,
                        (unsigned long long)seq);
            }
            (*problems)++;
        }
        st_evrec_clear(&rec);
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) {
        rc = vcommune_flush(commune, &vc, recount);
    }
    free(vc.chains);
    free(vc.seqs);
    return rc;
}

static void report_diff(FILE *report, const tally_cell_t *c, const tally_cell_t *r)
{
    for (size_t i = 0; i < TALLY_MAX_MEASURES; i++) {
        int64_t a = c ? c->m[i] : 0, b = r ? r->m[i] : 0;
        if (a != b && report) {
            const tally_cell_t *k = c ? c : r;
            fprintf(report, "unit=%u day=%u category=%llu measure=%zu stored=%lld recount=%lld\n",
                    k->unit, k->day, (unsigned long long)k->category, i, (long long)a,
                    (long long)b);
        }
    }
}

int store_verify(store_t *self, FILE *report)
{
    MDB_txn *txn;
    int rc = st_rd_begin(self, &txn);
    if (rc != 0) {
        return rc;
    }
    tally_set_t *recount = tally_set_new();
    size_t problems = 0, cells = 0, child_cells = 0, diffs = 0;
    int64_t tallied = 0;
    uint64_t version = st_meta_get(txn, self, "version");
    rc = recount_events(txn, self, recount, report, &problems);
    MDB_cursor *cur = NULL;
    if (rc == 0) {
        rc = mdb_cursor_open(txn, self->dbi[DBI_CELLS], &cur);
    }
    MDB_val k, v;
    uint32_t child_owner = 0;
    size_t child_n = 0;
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        tally_cell_t c;
        if (tally_cell_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &c)) {
            rc = DK_ESTORE;
            break;
        }
        cells++;
        tallied += c.m[DK__MEASURE__M_EVENTS];
        if (c.owner != 0) {
            if (child_owner != c.owner && child_n && report) {
                fprintf(report, "child cells (not recounted): %zu of child %u\n", child_n,
                        child_owner);
            }
            if (child_owner != c.owner) {
                child_n = 0;
            }
            child_owner = c.owner;
            child_n++;
            child_cells++;
            continue;
        }
        tally_cell_t *r = tally_set_get(recount, c.unit, c.day, c.category);
        if (r) {
            r->version = 1; /* seen */
        }
        if (r ? !tally_same_measures(&c, r) : !tally_is_zero(&c)) {
            diffs++;
            report_diff(report, &c, r);
        }
    }
    if (cur) {
        mdb_cursor_close(cur);
    }
    if (child_n && report) {
        fprintf(report, "child cells (not recounted): %zu of child %u\n", child_n, child_owner);
    }
    if (rc == MDB_NOTFOUND) {
        rc = 0;
        for (size_t i = 0; i < tally_set_count(recount); i++) {
            tally_cell_t *r = tally_set_at(recount, i);
            if (r->version == 0 && !tally_is_zero(r)) {
                diffs++;
                report_diff(report, NULL, r);
            }
        }
        uint64_t meta_tallied = st_meta_get(txn, self, "tallied");
        if ((uint64_t)tallied != meta_tallied) {
            problems++;
            if (report) {
                fprintf(report, "events counter: stored=%llu cells sum=%lld\n",
                        (unsigned long long)meta_tallied, (long long)tallied);
            }
        }
    }
    st_rd_end(self, txn);
    tally_set_destroy(&recount);
    if (rc != 0) {
        log_error("verify dir=%s: %s", self->dir,
                  rc > 0 || rc <= MDB_KEYEXIST ? mdb_strerror(rc) : err_str(rc));
        return st_map_rc(rc);
    }
    if (report) {
        fprintf(report, "verify version=%llu cells=%zu child_cells=%zu differences=%zu "
                        "problems=%zu: %s\n",
                (unsigned long long)version, cells, child_cells, diffs, problems,
                diffs || problems ? "MISMATCH" : "ok");
    }
    return diffs || problems ? DK_EMISMATCH : 0;
}
