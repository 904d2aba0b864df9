/* ingest — group commit. See ingest.h.
 *
 * Why a worker thread: an LMDB commit with sync on costs one or two fsyncs (milliseconds). Doing it
 * on the loop thread would stop the ROUTER, the ZAP handler and HTTP for that long. So the whole
 * write transaction (store_commit) runs in one uv_queue_work job, with exactly one job in flight:
 * LMDB's single writer and its "one txn, one thread" rule hold, and while the job runs the loop
 * keeps receiving, validating and packing batches for the next group (the two cores overlap).
 * Everything the job needs is prepared on the loop thread (verdicts and bytes per event, touches),
 * and nothing the job reads is changed by the loop while it runs (the pending list of a job is
 * detached from the queue when it starts). */
#define LOG_TAG "ingest"
#include "ingest.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "metrics.h"
#include "period.h"
#include "wire.h"
#include "xmalloc.h"

#define MAX_LISTENERS 16
#define TOUCH_ONLY_DELAY_MS 200

typedef struct pending {
    struct pending *next;
    uint32_t commune;
    const Dk__Batch *batch;  /* borrowed until done is called: never touched after that */
    size_t n;                /* batch->n_events */
    wire_rules_t rules;
    ingest_done_fn *done;
    void *arg;
    size_t first;   /* index of its first event in the job's item array */
    /* checked on the loop thread at submit, so the worker only commits */
    wire_fault_t *faults;  /* per event */
    uint8_t **bufs;        /* packed events we made (NULL where the raw bytes are used) */
    const uint8_t **bytes; /* packed events: bufs[i] or the bytes as received */
    size_t *lens;
    int8_t *pre;           /* 1: refused before the store (no seq, other commune, too big) */
} pending_t;

typedef struct touch {
    store_touch_t t;
    uint8_t instance[16];
} touch_t;

typedef struct wjob {
    struct wjob *next;
    ingest_work_fn *work;
    ingest_work_done_fn *done;
    void *arg;
    int rc;
} wjob_t;

/* One commit in flight: what the worker reads and writes. */
typedef struct {
    uv_work_t req;
    ingest_t *owner;
    pending_t *batches;      /* detached from the queue */
    size_t nevents;
    touch_t *touches;
    size_t ntouches;
    wjob_t *wjobs;           /* other modules' write jobs, run after the commit */
    /* filled by the worker */
    size_t *ridx;            /* per item: 1-based index into result.results; 0: not stored */
    store_commit_t result;
    struct hw {              /* the local communes of result.units sorted by unit (loop thread) */
        uint32_t unit;
        size_t index;
    } *hw;
    size_t nhw;
    int rc;
    double ms, prep_ms;
} job_t;

struct ingest {
    uv_loop_t *loop;
    store_t *store;
    uv_timer_t timer;
    int timer_armed;
    uint64_t timer_due;
    uint32_t window_ms;
    size_t max_batch;
    pending_t *head, *tail;
    size_t queued_events;
    touch_t *touches;        /* one per commune, latest wins */
    size_t ntouches, cap_touches;
    uint32_t *touch_slot;    /* open-addressing hash commune -> index+1 into touches (0: free) */
    size_t touch_slots;      /* a power of two, at least twice cap_touches */
    wjob_t *wjobs_head, *wjobs_tail;
    job_t *inflight;
    int inline_commit;       /* commit on the loop thread (another module writes from it too) */
    int stopping;
    void (*idle_cb)(void *arg);
    void *idle_arg;
    struct {
        ingest_commit_fn *cb;
        void *arg;
    } listeners[MAX_LISTENERS];
    size_t nlisteners;
    /* rules per commune, from the config, sorted by commune (bsearch per batch) */
    struct rule {
        uint32_t commune;
        uint32_t max_area;
        uint32_t max_organiser;
    } *rules;
    size_t nrules;
    uint32_t default_organisers;
    uint64_t version, events, commits;
};

static void start(ingest_t *self, int force);
static void check_batch(pending_t *p, const uint8_t *const *raw, const size_t *raw_len);
#define maybe_start(self) start((self), 0)

static int rule_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct rule *)a)->commune, y = ((const struct rule *)b)->commune;
    return x < y ? -1 : x > y;
}

/* Rebuilds the sorted rules table (at start and on SIGHUP): a batch looks its commune up with a
 * binary search instead of walking the commune list (thousands of communes, a batch per event). */
static void set_rules(ingest_t *self, const aconf_t *conf)
{
    free(self->rules);
    self->nrules = conf->n_communes;
    self->rules = xcalloc(self->nrules ? self->nrules : 1, sizeof *self->rules);
    for (size_t i = 0; i < conf->n_communes; i++) {
        uint32_t code = (uint32_t)conf->communes[i].code;
        self->rules[i].commune = code;
        self->rules[i].max_area = (uint32_t)conf->communes[i].areas;
        self->rules[i].max_organiser = (uint32_t)aconf_organisers(conf, code);
    }
    if (self->nrules > 1) {
        qsort(self->rules, self->nrules, sizeof *self->rules, rule_cmp);
    }
    self->window_ms = (uint32_t)conf->agg.commit_window;
    self->max_batch = (size_t)conf->agg.max_batch;
}

int ingest_new(ingest_t **out, uv_loop_t *loop, store_t *store, const aconf_t *conf)
{
    ingest_t *self = xcalloc(1, sizeof *self);
    self->loop = loop;
    self->store = store;
    uv_timer_init(loop, &self->timer);
    self->timer.data = self;
    set_rules(self, conf);
    self->version = store_version(store);
    *out = self;
    return 0;
}

void ingest_set_conf(ingest_t *self, const aconf_t *conf)
{
    set_rules(self, conf);
}

int ingest_on_commit(ingest_t *self, ingest_commit_fn *cb, void *arg)
{
    if (self->nlisteners >= MAX_LISTENERS) {
        return DK_EFULL;
    }
    self->listeners[self->nlisteners].cb = cb;
    self->listeners[self->nlisteners].arg = arg;
    self->nlisteners++;
    return 0;
}

void ingest_publish(ingest_t *self, const Dk__Update *update)
{
    if (update->version > self->version) {
        self->version = update->version;
    }
    for (size_t i = 0; i < self->nlisteners; i++) {
        self->listeners[i].cb(self->listeners[i].arg, update);
    }
}

static void rules_for(const ingest_t *self, uint32_t commune, wire_rules_t *r)
{
    wire_rules_init(r);
    r->commune = commune;
    r->today = period_today();
    struct rule probe = {.commune = commune};
    const struct rule *e = bsearch(&probe, self->rules, self->nrules, sizeof probe, rule_cmp);
    if (e) {
        r->max_area = e->max_area;
        /* 0 organisers configured means only the committee itself (organiser 0); wire's 0
         * means "default 15", so keep the default in that case. */
        r->max_organiser = e->max_organiser;
    }
}

static void on_timer(uv_timer_t *t)
{
    ingest_t *self = t->data;
    self->timer_armed = 0;
    maybe_start(self);
}

/* Arms the commit timer to fire within ms (an earlier deadline wins). */
static void arm(ingest_t *self, uint64_t ms)
{
    uint64_t due = uv_now(self->loop) + ms;
    if (!self->timer_armed || due < self->timer_due) {
        self->timer_armed = 1;
        self->timer_due = due;
        uv_timer_start(&self->timer, on_timer, ms, 0);
    }
}

int ingest_submit(ingest_t *self, uint32_t commune, const Dk__Batch *batch, ingest_done_fn *done,
                  void *arg)
{
    return ingest_submit_raw(self, commune, batch, NULL, NULL, done, arg);
}

int ingest_submit_raw(ingest_t *self, uint32_t commune, const Dk__Batch *batch,
                      const uint8_t *const *raw, const size_t *raw_len, ingest_done_fn *done,
                      void *arg)
{
    if (self->stopping) {
        return DK_ECLOSED;
    }
    /* Bound the memory a flood can take: the agents resend what is refused here. */
    /* An empty queue always takes a whole batch, however small max-batch is configured. */
    if (self->queued_events > 0 &&
        self->queued_events + batch->n_events > INGEST_QUEUE_FACTOR * self->max_batch) {
        return DK_EAGAIN;
    }
    pending_t *p = xcalloc(1, sizeof *p);
    p->commune = commune;
    p->batch = batch;
    p->n = batch->n_events;
    p->done = done;
    p->arg = arg;
    rules_for(self, commune, &p->rules);
    check_batch(p, raw, raw_len);
    metrics_observe_batch(p->n);
    if (self->tail) {
        self->tail->next = p;
    } else {
        self->head = p;
    }
    self->tail = p;
    self->queued_events += batch->n_events;
    if (self->queued_events >= self->max_batch || self->window_ms == 0) {
        maybe_start(self);
    } else {
        arm(self, self->window_ms);
    }
    return 0;
}

/* ---- the touches of the next commit: one per commune, found by hash -------------------------- */

static size_t touch_hash(uint32_t commune, size_t slots)
{
    return (size_t)((commune * 2654435761u) & (uint32_t)(slots - 1));
}

/* The slot of commune in the hash (holding its index+1, or 0 where it would go). */
static size_t touch_find(const ingest_t *self, uint32_t commune)
{
    size_t mask = self->touch_slots - 1, h = touch_hash(commune, self->touch_slots);
    while (self->touch_slot[h] != 0 &&
           self->touches[self->touch_slot[h] - 1].t.commune != commune) {
        h = (h + 1) & mask;
    }
    return h;
}

/* Makes room for one more touch: grows the array and rehashes (the load stays at most 1/2). */
static void touch_reserve(ingest_t *self)
{
    if (self->ntouches < self->cap_touches) {
        return;
    }
    self->cap_touches = self->cap_touches ? 2 * self->cap_touches : 16;
    self->touches = xrealloc(self->touches, self->cap_touches * sizeof *self->touches);
    free(self->touch_slot);
    self->touch_slots = 2 * self->cap_touches;
    self->touch_slot = xcalloc(self->touch_slots, sizeof *self->touch_slot);
    for (size_t i = 0; i < self->ntouches; i++) {
        self->touch_slot[touch_find(self, self->touches[i].t.commune)] = (uint32_t)(i + 1);
    }
}

/* The queued touch of commune, made empty when there is none yet (*created then true).
 * A linear scan here cost O(communes) per Heartbeat with thousands of agents. */
static touch_t *touch_get(ingest_t *self, uint32_t commune, bool *created)
{
    size_t h = 0;
    *created = false;
    if (self->touch_slots > 0) {
        h = touch_find(self, commune);
        if (self->touch_slot[h] != 0) {
            return &self->touches[self->touch_slot[h] - 1];
        }
    }
    if (self->ntouches == self->cap_touches) {
        touch_reserve(self);
        h = touch_find(self, commune);
    }
    self->touch_slot[h] = (uint32_t)(self->ntouches + 1);
    touch_t *t = &self->touches[self->ntouches++];
    memset(t, 0, sizeof *t);
    t->t.commune = commune;
    *created = true;
    return t;
}

/* A failed commit must not lose what its touches said (above all a new agent instance, which the
 * next Welcome reports): they go back into the queue, under any newer touch of the same commune,
 * which wins field by field. */
static void touches_requeue(ingest_t *self, const touch_t *old, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const touch_t *o = &old[i];
        bool created;
        touch_t *t = touch_get(self, o->t.commune, &created);
        if (created) {
            *t = *o;
            continue;
        }
        if (!t->t.has_backlog && o->t.has_backlog) {
            t->t.has_backlog = true;
            t->t.backlog = o->t.backlog;
            t->t.oldest_waiting = o->t.oldest_waiting;
        }
        if (t->t.instance_len == 0 && o->t.instance_len > 0) {
            memcpy(t->instance, o->instance, sizeof t->instance);
            t->t.instance_len = o->t.instance_len;
        }
    }
}

void ingest_touch(ingest_t *self, uint32_t commune, int64_t now, int has_backlog, uint64_t backlog,
                  int64_t oldest_waiting, const uint8_t *instance, size_t instance_len)
{
    bool created;
    touch_t *t = touch_get(self, commune, &created);
    t->t.last_contact = now;
    if (has_backlog) {
        t->t.has_backlog = true;
        t->t.backlog = backlog;
        t->t.oldest_waiting = oldest_waiting;
    }
    if (instance && instance_len > 0) {
        size_t n = instance_len > 16 ? 16 : instance_len;
        memcpy(t->instance, instance, n);
        t->t.instance_len = n;
    }
    if (!self->stopping) {
        arm(self, self->window_ms > TOUCH_ONLY_DELAY_MS ? self->window_ms : TOUCH_ONLY_DELAY_MS);
    }
}

int ingest_write(ingest_t *self, ingest_work_fn *work, ingest_work_done_fn *done, void *arg)
{
    if (self->stopping) {
        return DK_ECLOSED;
    }
    wjob_t *w = xcalloc(1, sizeof *w);
    w->work = work;
    w->done = done;
    w->arg = arg;
    if (self->wjobs_tail) {
        self->wjobs_tail->next = w;
    } else {
        self->wjobs_head = w;
    }
    self->wjobs_tail = w;
    maybe_start(self);
    return 0;
}

/* ---- the worker ------------------------------------------------------------------------------ */

/* Validates and packs the events of p (loop thread, at submit): the worker thread then does
 * nothing but the commit, so checking the next group overlaps the current commit. */
static void check_batch(pending_t *p, const uint8_t *const *raw, const size_t *raw_len)
{
    size_t n = p->batch->n_events ? p->batch->n_events : 1;
    p->faults = xmalloc(n * sizeof *p->faults);
    p->bufs = xcalloc(n, sizeof *p->bufs);
    p->bytes = xcalloc(n, sizeof *p->bytes);
    p->lens = xcalloc(n, sizeof *p->lens);
    p->pre = xcalloc(n, 1);
    for (size_t i = 0; i < p->batch->n_events; i++) {
        const Dk__Event *ev = p->batch->events[i];
        wire_fault_t *f = &p->faults[i];
        if (!ev->has_seq || ev->seq == 0) {
            wire_fault_set(f, DK_EV_MISSING, "seq",
                           "Sự kiện thiếu số thứ tự (seq) hợp lệ; không thể ghi nhận.");
            p->pre[i] = 1;
            continue;
        }
        if (ev->has_commune && ev->commune != p->commune) {
            wire_fault_set(f, DK_EV_COMMUNE, "commune",
                           "Khóa của xã %u không được gửi sự kiện của xã %u.", p->commune,
                           ev->commune);
            p->pre[i] = 1;
            continue;
        }
        wire_check_event(ev, &p->rules, f);
        if (raw) {
            p->bytes[i] = raw[i];
            p->lens[i] = raw_len[i];
        } else if (wire_event_encode(ev, &p->bufs[i], &p->lens[i]) < 0) {
            wire_fault_set(f, DK_EV_RANGE, NULL, "Sự kiện quá lớn để lưu.");
            p->pre[i] = 1;
        } else {
            p->bytes[i] = p->bufs[i];
        }
    }
}

static void pending_free(pending_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->bufs[i]);
    }
    free(p->bufs);
    free(p->bytes);
    free(p->lens);
    free(p->faults);
    free(p->pre);
    free(p);
}

static void work_cb(uv_work_t *req)
{
    job_t *job = req->data;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t n = job->nevents;
    job->ridx = xcalloc(n ? n : 1, sizeof *job->ridx);
    size_t k = 0, nstore = 0;
    /* store_commit takes only what goes into the store; pre-refused events are kept aside. */
    store_item_t *to_store = xcalloc(n ? n : 1, sizeof *to_store);
    size_t *map = xcalloc(n ? n : 1, sizeof *map);
    for (pending_t *p = job->batches; p; p = p->next) {
        p->first = k;
        for (size_t i = 0; i < p->batch->n_events; i++, k++) {
            if (p->pre[i]) {
                continue;
            }
            const wire_fault_t *f = &p->faults[i];
            store_item_t *it = &to_store[nstore];
            it->commune = p->commune;
            it->ev = p->batch->events[i];
            it->bytes = p->bytes[i];
            it->len = p->lens[i];
            if (f->code != 0) {
                it->reject_code = f->code;
                it->reject_field = f->field[0] ? f->field : NULL;
                it->reject_reason = f->reason;
            }
            map[nstore++] = k;
        }
    }
    job->rc = 0;
    if (nstore > 0 || job->ntouches > 0) {
        store_touch_t *tt = xcalloc(job->ntouches ? job->ntouches : 1, sizeof *tt);
        for (size_t i = 0; i < job->ntouches; i++) {
            tt[i] = job->touches[i].t;
            tt[i].instance = job->touches[i].t.instance_len ? job->touches[i].instance : NULL;
        }
        struct timespec c0;
        clock_gettime(CLOCK_MONOTONIC, &c0);
        job->prep_ms = (double)(c0.tv_sec - t0.tv_sec) * 1e3 +
                       (double)(c0.tv_nsec - t0.tv_nsec) / 1e6;
        job->rc = store_commit(job->owner->store, to_store, nstore, tt, job->ntouches,
                               &job->result);
        free(tt);
    }
    if (job->rc == 0) {
        for (size_t i = 0; i < nstore; i++) {
            job->ridx[map[i]] = i + 1;
        }
    }
    free(to_store);
    free(map);
    for (wjob_t *w = job->wjobs; w; w = w->next) {
        w->rc = w->work(w->arg);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    job->ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

/* ---- back on the loop thread ----------------------------------------------------------------- */

static int hw_cmp(const void *a, const void *b)
{
    const struct hw *x = a, *y = b;
    if (x->unit != y->unit) {
        return x->unit < y->unit ? -1 : 1;
    }
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorts the commit's local units once, so each batch's Ack finds its high water by binary search
 * (a scan per batch was O(batches x units) per commit). */
static void hw_index(job_t *job)
{
    const store_commit_t *r = &job->result;
    job->hw = xmalloc((r->nunits ? r->nunits : 1) * sizeof *job->hw);
    job->nhw = 0;
    for (size_t i = 0; i < r->nunits; i++) {
        if (r->units[i].owner == 0) {
            job->hw[job->nhw++] = (struct hw){r->units[i].unit, i};
        }
    }
    if (job->nhw > 1) {
        qsort(job->hw, job->nhw, sizeof *job->hw, hw_cmp);
    }
}

static uint64_t high_water_of(ingest_t *self, const job_t *job, uint32_t commune)
{
    const store_commit_t *r = &job->result;
    size_t lo = 0, hi = job->nhw;
    while (lo < hi) { /* the first entry of commune (file order of units, as before) */
        size_t mid = lo + (hi - lo) / 2;
        if (job->hw[mid].unit < commune) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < job->nhw && job->hw[lo].unit == commune) {
        return r->units[job->hw[lo].index].high_water;
    }
    store_unit_t u;
    if (store_unit_get(self->store, commune, &u) == 0) {
        return u.high_water;
    }
    return 0;
}

static void answer(ingest_t *self, job_t *job, pending_t *p)
{
    if (job->rc < 0) {
        p->done(p->arg, NULL);
        return;
    }
    size_t n = p->batch->n_events;
    Dk__EventResult *res = xcalloc(n ? n : 1, sizeof *res);
    Dk__EventResult **ptrs = xcalloc(n ? n : 1, sizeof *ptrs);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = p->first + i;
        const Dk__Event *ev = p->batch->events[i];
        Dk__EventResult *r = &res[m];
        dk__event_result__init(r);
        r->has_seq = true;
        r->seq = ev->has_seq ? ev->seq : 0;
        r->has_result = true;
        if (p->pre[i] || job->ridx[k] == 0) {
            r->result = DK__RESULT_CODE__REJECTED;
            r->has_code = true;
            r->code = p->faults[i].code;
            r->reason = p->faults[i].reason;
            r->field = p->faults[i].field[0] ? p->faults[i].field : NULL;
        } else {
            const store_result_t *sr = &job->result.results[job->ridx[k] - 1];
            if (sr->outcome == STORE_DEFERRED) {
                continue; /* not decided: no ack for it, the agent resends */
            }
            r->result = (Dk__ResultCode)sr->outcome;
            if (sr->outcome == STORE_REJECTED) {
                r->has_code = true;
                r->code = sr->code;
                r->reason = sr->reason;
                r->field = sr->field;
            }
        }
        metrics_count_event((int)r->result, r->has_code ? r->code : 0);
        ptrs[m++] = r;
    }
    Dk__Ack ack = DK__ACK__INIT;
    ack.has_batch_id = p->batch->has_batch_id;
    ack.batch_id = p->batch->batch_id;
    ack.n_results = m;
    ack.results = ptrs;
    ack.has_high_water = true;
    ack.high_water = high_water_of(self, job, p->commune);
    ack.has_version = true;
    ack.version = job->result.version;
    p->done(p->arg, &ack);
    free(ptrs);
    free(res);
}

static void after_work_cb(uv_work_t *req, int status)
{
    job_t *job = req->data;
    ingest_t *self = job->owner;
    (void)status;
    self->inflight = NULL;
    if (job->rc < 0) {
        log_error("commit failed events=%zu: %s; nothing acknowledged", job->nevents,
                  err_str(job->rc));
    } else if (job->nevents > 0 || job->ntouches > 0) {
        self->commits++;
        metrics_observe_commit(job->ms / 1e3, job->nevents);
        self->events += job->result.stored;
        log_debug("commit events=%zu stored=%zu dup=%zu rejected=%zu version=%llu ms=%.1f "
                  "check_ms=%.1f",
                  job->nevents, job->result.stored, job->result.duplicates, job->result.rejected,
                  (unsigned long long)job->result.version, job->ms, job->prep_ms);
        if (job->ms > 1000) {
            log_warn("slow commit events=%zu ms=%.0f", job->nevents, job->ms);
        }
    }
    /* 1. acks, only now that the commit returned */
    if (job->rc == 0) {
        hw_index(job);
    }
    pending_t *p = job->batches;
    while (p) {
        pending_t *next = p->next;
        answer(self, job, p);
        pending_free(p);
        p = next;
    }
    /* 2. the live update */
    if (job->rc == 0 && job->result.version != job->result.prev_version) {
        self->version = job->result.version;
        Dk__Update *u = NULL;
        if (store_update_build(&job->result, &u) == 0 && u) {
            ingest_publish(self, u);
            store_update_free(&u);
        }
    }
    /* 3. other modules' write jobs */
    wjob_t *w = job->wjobs;
    while (w) {
        wjob_t *next = w->next;
        if (w->done) {
            w->done(w->arg, w->rc);
        }
        free(w);
        w = next;
    }
    store_commit_clear(&job->result);
    free(job->hw);
    free(job->ridx);
    int failed = job->rc < 0;
    if (failed) {
        touches_requeue(self, job->touches, job->ntouches);
    }
    free(job->touches);
    free(job);
    if (failed && !self->stopping && (self->head || self->ntouches)) {
        /* Do not spin on a failing disk: retry after a pause. */
        arm(self, 1000);
        return;
    }
    /* What arrived during this commit has waited long enough: commit it now (inline: on the next
     * loop turn, so the loop gets its turn between commits). */
    if (self->inline_commit) {
        if (self->head || self->wjobs_head || (self->stopping && self->ntouches)) {
            arm(self, 0);
        } else {
            start(self, 0);
        }
        return;
    }
    start(self, 1);
}

/* Starts a commit if none is in flight and there is something to do, and it is due: forced
 * (a commit just finished), the queue reached max-batch, the window timer fired, or stopping. */
static void start(ingest_t *self, int force)
{
    if (self->inflight) {
        return;
    }
    int have = self->head != NULL || self->ntouches > 0 || self->wjobs_head != NULL;
    if (!have) {
        if (self->stopping && self->idle_cb) {
            void (*cb)(void *) = self->idle_cb;
            self->idle_cb = NULL;
            cb(self->idle_arg);
        }
        return;
    }
    int due = (force && (self->head || self->wjobs_head)) || self->stopping || !self->timer_armed || self->queued_events >= self->max_batch ||
              self->wjobs_head != NULL;
    if (!due) {
        return;
    }
    if (self->timer_armed) {
        uv_timer_stop(&self->timer);
        self->timer_armed = 0;
    }
    job_t *job = xcalloc(1, sizeof *job);
    job->owner = self;
    job->req.data = job;
    /* Take whole batches up to max-batch events (at least one batch). */
    pending_t *last = NULL;
    size_t n = 0;
    for (pending_t *p = self->head; p; p = p->next) {
        if (last && n + p->batch->n_events > self->max_batch) {
            break;
        }
        n += p->batch->n_events;
        last = p;
    }
    if (last) {
        job->batches = self->head;
        self->head = last->next;
        if (!self->head) {
            self->tail = NULL;
        }
        last->next = NULL;
    }
    job->nevents = n;
    self->queued_events -= n;
    job->touches = self->touches;
    job->ntouches = self->ntouches;
    self->touches = NULL;
    self->ntouches = self->cap_touches = 0;
    free(self->touch_slot);
    self->touch_slot = NULL;
    self->touch_slots = 0;
    job->wjobs = self->wjobs_head;
    self->wjobs_head = self->wjobs_tail = NULL;
    self->inflight = job;
    if (self->inline_commit) {
        work_cb(&job->req);
        after_work_cb(&job->req, 0);
        return;
    }
    int rc = uv_queue_work(self->loop, &job->req, work_cb, after_work_cb);
    if (rc < 0) {
        /* Cannot happen with a live loop; run it here rather than lose the batches. */
        log_warn("uv_queue_work: %s; committing on the loop thread", uv_strerror(rc));
        work_cb(&job->req);
        after_work_cb(&job->req, 0);
    }
    if (self->head) {
        arm(self, self->window_ms);
    }
}

void ingest_set_inline(ingest_t *self, int on)
{
    self->inline_commit = on;
}

uint64_t ingest_version(const ingest_t *self)
{
    return self->version;
}

uint64_t ingest_events(const ingest_t *self)
{
    return self->events;
}

uint64_t ingest_commits(const ingest_t *self)
{
    return self->commits;
}

void ingest_stop(ingest_t *self, void (*idle)(void *arg), void *arg)
{
    self->stopping = 1;
    self->idle_cb = idle;
    self->idle_arg = arg;
    if (self->timer_armed) {
        uv_timer_stop(&self->timer);
        self->timer_armed = 0;
    }
    maybe_start(self);
}

static void on_close(uv_handle_t *h)
{
    ingest_t *self = h->data;
    free(self->rules);
    free(self->touches);
    free(self->touch_slot);
    free(self);
}

void ingest_destroy(ingest_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    ingest_t *self = *self_p;
    *self_p = NULL;
    /* Anything still queued can no longer be committed: tell the submitters (no ack). */
    pending_t *p = self->head;
    while (p) {
        pending_t *next = p->next;
        p->done(p->arg, NULL);
        pending_free(p);
        p = next;
    }
    self->head = self->tail = NULL;
    wjob_t *w = self->wjobs_head;
    while (w) {
        wjob_t *next = w->next;
        if (w->done) {
            w->done(w->arg, DK_ECLOSED);
        }
        free(w);
        w = next;
    }
    uv_timer_stop(&self->timer);
    uv_close((uv_handle_t *)&self->timer, on_close);
}
