/* inbox — see inbox.h. inotify (uv_fs_event) shows half-written files and has no IN_CLOSE_WRITE
 * in libuv (PITFALLS §5.4), so an event only schedules a rescan; what is imported is decided by the
 * rescan alone: regular files named *.csv that are not hidden or temporary. Writers are asked to
 * write another name and rename(2) it into place (config/templates/HUONG-DAN.txt). */
#define LOG_TAG "inbox"
#include "inbox.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csvimport.h"
#include "err.h"
#include "log.h"
#include "xmalloc.h"

#define DEBOUNCE_MS 300

struct inbox {
    uv_loop_t *loop;
    char *dir;
    outbox_t *ob;
    wire_rules_t rules;    /* agentconf_wire_rules of the agent's config */
    int64_t rescan_ms;
    inbox_recorded_cb cb;
    void *arg;
    uv_fs_event_t watch;
    uv_timer_t rescan;
    uv_timer_t debounce;
    bool watching;
    int closing;
};

static int ensure_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        log_error("mkdir %s: %s", path, strerror(errno));
        return DK_EIO;
    }
    return 0;
}

static int ensure_dirs(const char *dir)
{
    int rc = ensure_dir(dir);
    char *p = xasprintf("%s/done", dir);
    if (rc == 0) {
        rc = ensure_dir(p);
    }
    free(p);
    p = xasprintf("%s/rejected", dir);
    if (rc == 0) {
        rc = ensure_dir(p);
    }
    free(p);
    return rc;
}

/* A complete file to import: *.csv (any case), not hidden, not an editor's lock or temp file. */
static bool wanted(const char *name)
{
    size_t len = strlen(name);
    if (len < 5 || name[0] == '.' || name[0] == '~' || name[0] == '#') {
        return false;
    }
    return strcasecmp(name + len - 4, ".csv") == 0;
}

/* Moves dir/name into dir/sub/, never overwriting: a second file of the same name gets a time
 * prefix. Returns the new path (caller frees) or NULL. */
static char *move_to(const char *dir, const char *name, const char *sub)
{
    char *from = xasprintf("%s/%s", dir, name);
    char *to = xasprintf("%s/%s/%s", dir, sub, name);
    struct stat st;
    if (stat(to, &st) == 0) {
        free(to);
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        to = xasprintf("%s/%s/%s-%d-%s", dir, sub, stamp, (int)getpid(), name);
    }
    if (rename(from, to) != 0) {
        log_error("move %s -> %s: %s", from, to, strerror(errno));
        free(to);
        to = NULL;
    }
    free(from);
    return to;
}

static void write_report(const char *moved, const char *name, const csvimport_t *c,
                         const uint64_t *seqs, const bool *was_new)
{
    char *path = xasprintf("%s.txt", moved);
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        log_error("report %s: %s", tmp, strerror(errno));
    } else {
        csvimport_report(f, name, c, seqs, was_new);
        if (fclose(f) != 0 || rename(tmp, path) != 0) {
            log_error("report %s: %s", path, strerror(errno));
        }
    }
    free(tmp);
    free(path);
}

int inbox_import_file(outbox_t *ob, const char *inbox_dir, const char *name,
                      const wire_rules_t *rules)
{
    char *path = xasprintf("%s/%s", inbox_dir, name);
    csvimport_t *c = NULL;
    wire_rules_t r = *rules;
    r.commune = outbox_commune(ob); /* the outbox's commune is the one its events carry */
    int rc = csvimport_parse_file_rules(path, &r, &c);
    free(path);
    if (rc == DK_EIO && errno == ENOENT) {
        csvimport_destroy(&c);
        return DK_ENOTFOUND; /* gone meanwhile (renamed by its writer) */
    }
    uint64_t *seqs = NULL;
    bool *was_new = NULL;
    int added = 0;
    if (rc == 0) {
        was_new = xcalloc(c->n_events + 1, sizeof *was_new);
        added = outbox_append(ob, c->events, c->n_events, was_new);
        if (added < 0) {
            /* The store failed: leave the file where it is; the next scan tries again. */
            log_error("file=%s not recorded: %s", name, err_str(added));
            free(was_new);
            csvimport_destroy(&c);
            return added;
        }
        seqs = xcalloc(c->n_events + 1, sizeof *seqs);
        for (size_t i = 0; i < c->n_events; i++) {
            seqs[i] = c->events[i]->seq;
        }
    }
    char *moved = move_to(inbox_dir, name, rc == 0 ? "done" : "rejected");
    if (moved) {
        write_report(moved, name, c, seqs, was_new);
    }
    if (rc == 0) {
        log_info("file=%s recorded rows=%zu new=%d", name, c->n_events, added);
    } else {
        log_warn("file=%s rejected errors=%zu (report in rejected/)", name,
                 c->n_errors + c->more_errors);
    }
    free(moved);
    free(seqs);
    free(was_new);
    csvimport_destroy(&c);
    return rc == 0 ? added : rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int inbox_scan(inbox_t *ib)
{
    DIR *d = opendir(ib->dir);
    if (!d) {
        log_warn("scan %s: %s", ib->dir, strerror(errno));
        ensure_dirs(ib->dir);
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!wanted(de->d_name)) {
            continue;
        }
        char *p = xasprintf("%s/%s", ib->dir, de->d_name);
        struct stat st;
        bool reg = stat(p, &st) == 0 && S_ISREG(st.st_mode);
        free(p);
        if (!reg) {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (n > 1) {
        qsort(names, n, sizeof *names, cmp_str);
    }
    int processed = 0, total_new = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = inbox_import_file(ib->ob, ib->dir, names[i], &ib->rules);
        if (rc != DK_ENOTFOUND) {
            processed++;
        }
        if (rc > 0) {
            total_new += rc;
        }
        free(names[i]);
    }
    free(names);
    if (total_new > 0 && ib->cb) {
        ib->cb(ib->arg, total_new);
    }
    return processed;
}

static void on_scan_timer(uv_timer_t *t)
{
    inbox_t *ib = t->data;
    inbox_scan(ib);
    if (!ib->watching) {
        inbox_start(ib); /* the folder may be back */
    }
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    inbox_t *ib = h->data;
    if (status < 0) {
        log_warn("watch %s: %s; rescanning on the timer", ib->dir, uv_strerror(status));
        uv_fs_event_stop(&ib->watch);
        ib->watching = false;
    }
    /* Whatever the event says, the decision is made by a rescan shortly after. */
    uv_timer_start(&ib->debounce, on_scan_timer, DEBOUNCE_MS, 0);
}

inbox_t *inbox_new(uv_loop_t *loop, const char *dir, outbox_t *ob, const wire_rules_t *rules,
                   int64_t rescan_ms, inbox_recorded_cb cb, void *arg)
{
    if (ensure_dirs(dir) != 0) {
        return NULL;
    }
    inbox_t *ib = xcalloc(1, sizeof *ib);
    ib->loop = loop;
    ib->dir = xstrdup(dir);
    ib->ob = ob;
    ib->rules = *rules;
    ib->rescan_ms = rescan_ms > 0 ? rescan_ms : 5000;
    ib->cb = cb;
    ib->arg = arg;
    if (loop) {
        uv_fs_event_init(loop, &ib->watch);
        uv_timer_init(loop, &ib->rescan);
        uv_timer_init(loop, &ib->debounce);
        ib->watch.data = ib->rescan.data = ib->debounce.data = ib;
    }
    return ib;
}

int inbox_start(inbox_t *ib)
{
    if (!ib->loop) {
        return DK_EINVAL;
    }
    ensure_dirs(ib->dir);
    if (!ib->watching) {
        int rc = uv_fs_event_start(&ib->watch, on_fs_event, ib->dir, 0);
        if (rc == 0) {
            ib->watching = true;
        } else {
            log_warn("watch %s: %s; relying on the periodic rescan", ib->dir, uv_strerror(rc));
        }
    }
    if (!uv_is_active((uv_handle_t *)&ib->rescan)) {
        uv_timer_start(&ib->rescan, on_scan_timer, 0, (uint64_t)ib->rescan_ms);
    }
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    inbox_t *ib = h->data;
    if (--ib->closing == 0) {
        free(ib->dir);
        free(ib);
    }
}

void inbox_destroy(inbox_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    inbox_t *ib = *self_p;
    *self_p = NULL;
    if (!ib->loop) {
        free(ib->dir);
        free(ib);
        return;
    }
    ib->closing = 3;
    uv_close((uv_handle_t *)&ib->watch, on_closed);
    uv_close((uv_handle_t *)&ib->rescan, on_closed);
    uv_close((uv_handle_t *)&ib->debounce, on_closed);
}
