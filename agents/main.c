/* dk-agent — the commune's agent: records events into a durable outbox and pushes them to the
 * district aggregator. Subcommands: run, record activity|fund|void, import, status, rejected,
 * keygen. Everything a commune person reads is Vietnamese; logs are English on stderr.
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or config error. */
#define LOG_TAG "agent"
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "agentconf.h"
#include "csvimport.h"
#include "err.h"
#include "inbox.h"
#include "keys.h"
#include "log.h"
#include "money.h"
#include "outbox.h"
#include "period.h"
#include "record.h"
#include "sender.h"
#include "wire.h"
#include "xmalloc.h"

#define SEQ_PLACEHOLDER (1ULL << 50)

static void usage(FILE *out)
{
    fprintf(out,
            "Cách dùng: dk-agent [-c agent.ini] LỆNH ...\n\n"
            "Các lệnh:\n"
            "  run                       chạy dịch vụ: gửi bản ghi lên huyện, theo dõi thư mục nhận tệp\n"
            "  record activity --...     ghi một hoạt động (dk-agent record activity --help)\n"
            "  record fund --...         ghi một khoản thu/chi quỹ (dk-agent record fund --help)\n"
            "  record void --seq N       hủy bản ghi số N\n"
            "  import TỆP.csv ...        nhập tệp CSV theo mẫu (config/templates/)\n"
            "  status                    tình trạng kết nối và hàng chờ\n"
            "  rejected                  các bản ghi huyện từ chối, kèm lý do\n"
            "  keygen                    tạo cặp khóa của xã, in khóa công khai để gửi huyện\n"
            "  config-doc                in mẫu tệp cấu hình\n\n"
            "Mặc định -c agent.ini. Mã thoát: 0 thành công, 1 lỗi khi chạy, 2 sai cách dùng/cấu hình.\n");
}

static int load_conf(const char *path, agentconf_t *c)
{
    char err[600];
    int rc = agentconf_load(path, c, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "Lỗi cấu hình: %s\n", err);
        return 2;
    }
    return 0;
}

static int open_outbox(const agentconf_t *c, bool readonly, outbox_t **ob)
{
    int rc = outbox_open(c->data_dir, (uint32_t)c->commune, readonly, ob);
    if (rc == DK_ENOTFOUND) {
        fprintf(stderr, "Chưa có hàng chờ tại %s (chưa ghi bản ghi nào).\n", c->data_dir);
        return 1;
    }
    if (rc == DK_ECONFIG) {
        fprintf(stderr, "%s: hàng chờ này thuộc xã khác (xem commune trong cấu hình).\n",
                c->data_dir);
        return 2;
    }
    if (rc != 0) {
        fprintf(stderr, "Không mở được hàng chờ %s: %s\n", c->data_dir, err_str(rc));
        return 1;
    }
    outbox_set_retention(*ob, c->retention_ms / 1000);
    return 0;
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
    if (t <= 0) {
        snprintf(buf, len, "chưa có");
        return;
    }
    time_t tt = (time_t)(t + 7 * 3600); /* Vietnam time */
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%H:%M %d/%m/%Y", &tm);
}

static void fmt_age(int64_t secs, char *buf, size_t len)
{
    if (secs < 0) {
        secs = 0;
    }
    if (secs < 60) {
        snprintf(buf, len, "%lld giây", (long long)secs);
    } else if (secs < 3600) {
        snprintf(buf, len, "%lld phút", (long long)(secs / 60));
    } else if (secs < 86400) {
        snprintf(buf, len, "%lld giờ %lld phút", (long long)(secs / 3600),
                 (long long)(secs % 3600 / 60));
    } else {
        snprintf(buf, len, "%lld ngày %lld giờ", (long long)(secs / 86400),
                 (long long)(secs % 86400 / 3600));
    }
}

/* ---- record ------------------------------------------------------------------------------------- */

static int cmd_record(const char *conf_path, int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "Thiếu loại: dk-agent record activity|fund|void --help\n");
        return 2;
    }
    record_kind_t kind;
    if (strcmp(argv[0], "activity") == 0 || strcmp(argv[0], "hoat-dong") == 0) {
        kind = RECORD_ACTIVITY;
    } else if (strcmp(argv[0], "fund") == 0 || strcmp(argv[0], "quy") == 0) {
        kind = RECORD_FUND;
    } else if (strcmp(argv[0], "void") == 0 || strcmp(argv[0], "huy") == 0) {
        kind = RECORD_VOID;
    } else {
        fprintf(stderr, "Không hiểu loại '%s': dùng activity, fund hoặc void\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            record_print_help(stdout, kind);
            return 0;
        }
    }
    Dk__Event *ev = record_event_new(kind);
    int ret = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "Không hiểu '%s' (các trường viết dạng --tên giá-trị)\n", a);
            goto out;
        }
        char *name = xstrdup(a + 2);
        const char *value;
        char *eq = strchr(name, '=');
        if (eq) {
            *eq = '\0';
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(stderr, "Thiếu giá trị cho --%s\n", name);
            free(name);
            goto out;
        }
        const record_field_t *f = record_field_by_name(name, kind);
        if (!f) {
            fprintf(stderr, "Không có trường --%s cho lệnh này (xem --help)\n", name);
            free(name);
            goto out;
        }
        free(name);
        char why[600];
        if (record_set(ev, f, value, why, sizeof why) != 0) {
            fprintf(stderr, "%s\n", why);
            goto out;
        }
    }
    agentconf_t c = {0};
    if ((ret = load_conf(conf_path, &c)) != 0) {
        goto out;
    }
    ev->has_commune = 1;
    ev->commune = (uint32_t)c.commune;
    ev->has_seq = 1;
    ev->seq = SEQ_PLACEHOLDER;
    wire_rules_t rules;
    agentconf_wire_rules(&c, &rules);
    wire_fault_t fault;
    if (wire_check_event(ev, &rules, &fault) != 0) {
        const record_field_t *f = record_field_by_wire(fault.field, kind);
        fprintf(stderr, "Chưa lưu: %s%s%s%s\n", fault.reason, f ? " (--" : "", f ? f->name : "",
                f ? ")" : "");
        agentconf_release(&c);
        ret = 2;
        goto out;
    }
    ev->has_seq = 0;
    outbox_t *ob = NULL;
    if ((ret = open_outbox(&c, false, &ob)) != 0) {
        agentconf_release(&c);
        goto out;
    }
    int rc = outbox_append(ob, &ev, 1, NULL);
    if (rc < 0) {
        fprintf(stderr, "Không lưu được bản ghi: %s\n", err_str(rc));
        ret = 1;
    } else {
        printf("Đã lưu bản ghi số %llu của %s (mã %lld).\n", (unsigned long long)ev->seq,
               c.name && c.name[0] ? c.name : "xã", (long long)c.commune);
        record_describe(stdout, ev);
        printf("Bản ghi sẽ được gửi lên huyện khi có kết nối (xem: dk-agent status).\n");
        ret = 0;
    }
    outbox_close(&ob);
    agentconf_release(&c);
out:
    record_event_free(&ev);
    return ret;
}

/* ---- import ------------------------------------------------------------------------------------- */

static int cmd_import(const char *conf_path, int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "Cách dùng: dk-agent import TỆP.csv ...\n");
        return 2;
    }
    agentconf_t c = {0};
    int ret = load_conf(conf_path, &c);
    if (ret != 0) {
        return ret;
    }
    outbox_t *ob = NULL;
    if ((ret = open_outbox(&c, false, &ob)) != 0) {
        agentconf_release(&c);
        return ret;
    }
    wire_rules_t rules;
    agentconf_wire_rules(&c, &rules); /* the same rules as `record` (max-area included) */
    for (int i = 0; i < argc; i++) {
        csvimport_t *ci = NULL;
        int rc = csvimport_parse_file_rules(argv[i], &rules, &ci);
        if (rc != 0) {
            csvimport_report(stdout, argv[i], ci, NULL, NULL);
            ret = 1;
        } else {
            bool *was_new = xcalloc(ci->n_events + 1, sizeof *was_new);
            int added = outbox_append(ob, ci->events, ci->n_events, was_new);
            if (added < 0) {
                fprintf(stderr, "%s: không lưu được: %s\n", argv[i], err_str(added));
                ret = 1;
            } else {
                uint64_t *seqs = xcalloc(ci->n_events + 1, sizeof *seqs);
                for (size_t j = 0; j < ci->n_events; j++) {
                    seqs[j] = ci->events[j]->seq;
                }
                csvimport_report(stdout, argv[i], ci, seqs, was_new);
                free(seqs);
            }
            free(was_new);
        }
        csvimport_destroy(&ci);
        if (i + 1 < argc) {
            printf("\n");
        }
    }
    outbox_close(&ob);
    agentconf_release(&c);
    return ret;
}

/* ---- status / rejected -------------------------------------------------------------------------- */

static bool daemon_alive(const outbox_session_t *s)
{
    if (s->pid <= 0 || s->updated_at <= 0) {
        return false;
    }
    if (kill(s->pid, 0) != 0 && errno != EPERM) {
        return false;
    }
    return time(NULL) - s->updated_at < 120;
}

static int cmd_status(const char *conf_path)
{
    agentconf_t c = {0};
    int ret = load_conf(conf_path, &c);
    if (ret != 0) {
        return ret;
    }
    outbox_t *ob = NULL;
    int rc = outbox_open(c.data_dir, (uint32_t)c.commune, true, &ob);
    printf("%s (mã %lld)\n", c.name && c.name[0] ? c.name : "Xã", (long long)c.commune);
    if (rc == DK_ENOTFOUND) {
        printf("Chưa có bản ghi nào (hàng chờ chưa được tạo tại %s).\n", c.data_dir);
        agentconf_release(&c);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "Không mở được hàng chờ %s: %s\n", c.data_dir, err_str(rc));
        agentconf_release(&c);
        return rc == DK_ECONFIG ? 2 : 1;
    }
    outbox_stats_t st;
    outbox_session_t s;
    if ((rc = outbox_stats(ob, &st)) != 0 || (rc = outbox_session_get(ob, &s)) != 0) {
        /* Never print a count that could not be read: 0 waiting would be a lie. */
        fprintf(stderr, "Không đọc được hàng chờ %s: %s\n", c.data_dir, err_str(rc));
        outbox_close(&ob);
        agentconf_release(&c);
        return 1;
    }
    int64_t now = time(NULL);
    bool alive = daemon_alive(&s);
    char t[64], age[64];
    if (!alive) {
        printf("Kết nối với huyện: KHÔNG — dịch vụ gửi (dk-agent run) không chạy.\n");
    } else if (s.auth_refused) {
        printf("Kết nối với huyện: KHÔNG — Máy này chưa được huyện cấp quyền (khóa không được "
               "chấp nhận). Gửi khóa công khai của xã cho huyện (dk-agent keygen đã in khóa).\n");
    } else if (s.connected) {
        printf("Kết nối với huyện: CÓ (dịch vụ gửi đang chạy, pid %d).\n", s.pid);
    } else {
        printf("Kết nối với huyện: KHÔNG — đang thử kết nối lại%s%s%s.\n",
               s.last_error[0] ? " (" : "", s.last_error, s.last_error[0] ? ")" : "");
    }
    printf("Bản ghi đang chờ gửi: %llu\n", (unsigned long long)st.waiting);
    if (st.waiting > 0) {
        fmt_age(now - st.oldest_waiting, age, sizeof age);
        fmt_time(st.oldest_waiting, t, sizeof t);
        printf("Bản ghi chờ lâu nhất: %s (ghi lúc %s)\n", age, t);
    }
    fmt_time(s.last_ack, t, sizeof t);
    if (s.last_ack > 0) {
        fmt_age(now - s.last_ack, age, sizeof age);
        printf("Lần huyện xác nhận gần nhất: %s (%s trước)\n", t, age);
    } else {
        printf("Lần huyện xác nhận gần nhất: chưa có\n");
    }
    printf("Bản ghi đã được huyện nhận (còn lưu tại máy): %llu\n", (unsigned long long)st.acked);
    printf("Bản ghi bị huyện từ chối: %llu%s\n", (unsigned long long)st.rejected,
           st.rejected ? " (xem: dk-agent rejected)" : "");
    printf("Số bản ghi cuối cùng: %llu\n", (unsigned long long)st.last_seq);
    outbox_close(&ob);
    agentconf_release(&c);
    return 0;
}

static int cmd_rejected(const char *conf_path)
{
    agentconf_t c = {0};
    int ret = load_conf(conf_path, &c);
    if (ret != 0) {
        return ret;
    }
    outbox_t *ob = NULL;
    int rc = outbox_open(c.data_dir, (uint32_t)c.commune, true, &ob);
    if (rc == DK_ENOTFOUND) {
        printf("Không có bản ghi nào bị từ chối.\n");
        agentconf_release(&c);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "Không mở được hàng chờ %s: %s\n", c.data_dir, err_str(rc));
        agentconf_release(&c);
        return 1;
    }
    enum { MAX = 1000 };
    outbox_entry_t *e = xcalloc(MAX, sizeof *e);
    int n = outbox_rejected_list(ob, e, MAX);
    if (n <= 0) {
        printf("Không có bản ghi nào bị từ chối.\n");
    } else {
        printf("%d bản ghi bị huyện từ chối (mới nhất trước). Sửa và ghi lại bằng "
               "record ... hoặc nhập lại tệp đã sửa:\n\n",
               n);
    }
    for (int i = 0; i < n; i++) {
        char t[64];
        fmt_time(e[i].state_at, t, sizeof t);
        printf("Bản ghi số %llu (từ chối lúc %s):\n", (unsigned long long)e[i].seq, t);
        const char *label = e[i].field && e[i].field[0] ? wire_field_label_vi(e[i].field) : NULL;
        printf("  Lý do: %s\n", e[i].reason && e[i].reason[0] ? e[i].reason
                                                               : wire_code_reason_vi(e[i].code));
        if (e[i].field && e[i].field[0]) {
            printf("  Trường: %s (%s)\n", label ? label : e[i].field, e[i].field);
        }
        Dk__Event *ev = NULL;
        if (wire_event_decode(e[i].packed, e[i].packed_len, &ev) == 0) {
            record_describe(stdout, ev);
            wire_event_free(&ev);
        }
        outbox_entry_clear(&e[i]);
    }
    free(e);
    outbox_close(&ob);
    agentconf_release(&c);
    return 0;
}

/* ---- keygen ------------------------------------------------------------------------------------- */

static int cmd_keygen(const char *conf_path)
{
    agentconf_t c = {0};
    int ret = load_conf(conf_path, &c);
    if (ret != 0) {
        return ret;
    }
    keys_t k;
    char err[300];
    if (keys_load(c.key_file, &k, err, sizeof err) == 0) {
        printf("Khóa của xã đã có tại %s (không tạo lại).\nKhóa công khai (gửi cho huyện):\n%s\n",
               c.key_file, k.public_key);
        keys_wipe(&k);
        agentconf_release(&c);
        return 0;
    }
    int rc = keys_generate(&k);
    if (rc == 0) {
        rc = keys_save(&k, c.key_file);
    }
    if (rc != 0) {
        fprintf(stderr, "Không tạo được khóa tại %s: %s\n", c.key_file, err_str(rc));
        keys_wipe(&k);
        agentconf_release(&c);
        return 1;
    }
    printf("Đã tạo cặp khóa của xã tại %s (giữ bí mật tệp này).\n"
           "Khóa công khai (gửi cho huyện để được cấp quyền):\n%s\n",
           c.key_file, k.public_key);
    keys_wipe(&k);
    agentconf_release(&c);
    return 0;
}

/* ---- run ---------------------------------------------------------------------------------------- */

typedef struct {
    uv_loop_t *loop;
    sender_t *sender;
    inbox_t *inbox;
    uv_signal_t sigint, sigterm;
} run_t;

static void on_recorded(void *arg, int n)
{
    run_t *r = arg;
    sender_kick(r->sender);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    run_t *r = h->data;
    log_info("signal %d: stopping", signum);
    inbox_destroy(&r->inbox);
    sender_destroy(&r->sender);
    uv_signal_stop(&r->sigint);
    uv_signal_stop(&r->sigterm);
    uv_close((uv_handle_t *)&r->sigint, NULL);
    uv_close((uv_handle_t *)&r->sigterm, NULL);
}

static int cmd_run(const char *conf_path)
{
    agentconf_t c = {0};
    int ret = load_conf(conf_path, &c);
    if (ret != 0) {
        return ret;
    }
    if (!c.aggregator || !c.aggregator[0] || !c.server_key || !c.server_key[0]) {
        fprintf(stderr, "%s: [agent] aggregator và server-key phải được cấu hình để chạy.\n",
                conf_path);
        agentconf_release(&c);
        return 2;
    }
    /* The static dk-agent carries libzmq without its GSSAPI/NORM transports (agents/CMakeLists.txt):
     * only tcp:// reaches a district aggregator anyway. */
    if (strncmp(c.aggregator, "tcp://", 6) != 0) {
        fprintf(stderr, "%s: [agent] aggregator = %s: địa chỉ phải có dạng tcp://máy:cổng.\n",
                conf_path, c.aggregator);
        agentconf_release(&c);
        return 2;
    }
    keys_t k;
    char server_key[41], err[400];
    if (keys_load(c.key_file, &k, err, sizeof err) != 0) {
        fprintf(stderr, "Không đọc được khóa của xã: %s (tạo bằng: dk-agent keygen)\n", err);
        agentconf_release(&c);
        return 2;
    }
    if (keys_load_public(c.server_key, server_key, err, sizeof err) != 0) {
        fprintf(stderr, "%s: server-key: %s\n", conf_path, err);
        keys_wipe(&k);
        agentconf_release(&c);
        return 2;
    }
    outbox_t *ob = NULL;
    if ((ret = open_outbox(&c, false, &ob)) != 0) {
        keys_wipe(&k);
        agentconf_release(&c);
        return ret;
    }
    struct sigaction sa = {0};
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    /* libzmq's I/O and reaper threads would each get a malloc arena of their own; the agent's
     * traffic is a few messages a second, so one shared arena costs nothing and saves its pages. */
    mallopt(M_ARENA_MAX, 1);
    uv_loop_t loop;
    uv_loop_init(&loop);
    void *zctx = zmq_ctx_new();
    run_t r = {.loop = &loop};
    sender_opts_t so = {
        .endpoint = c.aggregator,
        .server_key = server_key,
        .keys = &k,
        .batch = (uint32_t)c.batch,
        .window = (uint32_t)c.window,
        .heartbeat_ms = c.heartbeat_ms,
        .ack_timeout_ms = c.ack_timeout_ms,
        .retry_max_ms = c.retry_max_ms,
    };
    r.sender = sender_new(&loop, zctx, ob, &so);
    keys_wipe(&k);
    if (!r.sender || sender_start(r.sender) != 0) {
        fprintf(stderr, "Không khởi động được kết nối tới %s\n", c.aggregator);
        ret = 1;
        sender_destroy(&r.sender);
        goto done;
    }
    if (c.inbox) {
        wire_rules_t rules;
        agentconf_wire_rules(&c, &rules); /* the same rules as `record` and `import` */
        r.inbox = inbox_new(&loop, c.inbox, ob, &rules, c.rescan_ms, on_recorded, &r);
        if (!r.inbox || inbox_start(r.inbox) != 0) {
            fprintf(stderr, "Không theo dõi được thư mục nhận tệp %s\n", c.inbox);
            ret = 1;
            inbox_destroy(&r.inbox);
            sender_destroy(&r.sender);
            goto done;
        }
        log_info("watching inbox %s", c.inbox);
    }
    uv_signal_init(&loop, &r.sigint);
    uv_signal_init(&loop, &r.sigterm);
    r.sigint.data = r.sigterm.data = &r;
    uv_signal_start(&r.sigint, on_signal, SIGINT);
    uv_signal_start(&r.sigterm, on_signal, SIGTERM);
    uv_run(&loop, UV_RUN_DEFAULT);
done:
    uv_walk(&loop, close_walk, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        log_warn("loop did not close cleanly");
    }
    outbox_close(&ob);
    zmq_ctx_term(zctx);
    agentconf_release(&c);
    return ret;
}

int main(int argc, char **argv)
{
    const char *conf_path = "agent.ini";
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            conf_path = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-v") == 0) {
            log_set_level(LOG_DEBUG);
            i++;
        } else {
            fprintf(stderr, "Không hiểu tùy chọn '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i++];
    if (strcmp(cmd, "run") == 0) {
        return cmd_run(conf_path);
    } else if (strcmp(cmd, "record") == 0) {
        return cmd_record(conf_path, argc - i, argv + i);
    } else if (strcmp(cmd, "import") == 0) {
        return cmd_import(conf_path, argc - i, argv + i);
    } else if (strcmp(cmd, "status") == 0) {
        return cmd_status(conf_path);
    } else if (strcmp(cmd, "rejected") == 0) {
        return cmd_rejected(conf_path);
    } else if (strcmp(cmd, "keygen") == 0) {
        return cmd_keygen(conf_path);
    } else if (strcmp(cmd, "config-doc") == 0) {
        agentconf_print_doc(stdout);
        return 0;
    } else if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "Không có lệnh '%s'\n", cmd);
    usage(stderr);
    return 2;
}
