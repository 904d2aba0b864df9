/* Unit tests for common/keys: generation, Z85 checks, key files and a real CURVE connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "err.h"
#include "keys.h"

static char g_dir[512];

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/test_keys.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(g_dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(g_dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                char p[1024];
                snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(g_dir);
    return 0;
}

static void path_in(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", g_dir, name);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs stderr into a file so tests can read what was logged. */
static int g_saved_stderr = -1;
static char g_log_path[600];

static void capture_start(void)
{
    snprintf(g_log_path, sizeof g_log_path, "%s/log.txt", g_dir);
    fflush(stderr);
    g_saved_stderr = dup(2);
    int fd = open(g_log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    dup2(fd, 2);
    close(fd);
}

static char *capture_end(void)
{
    fflush(stderr);
    dup2(g_saved_stderr, 2);
    close(g_saved_stderr);
    char *text = read_text(g_log_path);
    unlink(g_log_path);
    return text;
}

static int count_files(void)
{
    int n = 0;
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static void test_generate_and_z85(void **state)
{
    (void)state;
    keys_t a, b;
    assert_int_equal(keys_generate(&a), 0);
    assert_int_equal(keys_generate(&b), 0);
    assert_true(keys_z85_valid(a.public_key));
    assert_true(keys_z85_valid(a.secret_key));
    assert_int_equal(strlen(a.public_key), 40);
    assert_string_not_equal(a.public_key, b.public_key);
    assert_string_not_equal(a.secret_key, b.secret_key);
    char derived[41];
    assert_int_equal(zmq_curve_public(derived, a.secret_key), 0);
    assert_string_equal(derived, a.public_key);

    assert_false(keys_z85_valid(NULL));
    assert_false(keys_z85_valid(""));
    char s[64];
    memcpy(s, a.public_key, 41);
    s[39] = '\0';
    assert_false(keys_z85_valid(s)); /* 39 characters */
    memcpy(s, a.public_key, 41);
    s[40] = 'a';
    s[41] = '\0';
    assert_false(keys_z85_valid(s)); /* 41 characters */
    static const char not_z85[] = " \"',;\\_`|~";
    for (size_t i = 0; i < sizeof not_z85 - 1; i++) {
        memcpy(s, a.public_key, 41);
        s[17] = not_z85[i];
        assert_false(keys_z85_valid(s));
    }
    /* "%%%%%" encodes 85^5 - 1, more than 32 bits */
    memcpy(s, a.public_key, 41);
    memcpy(s + 5, "%%%%%", 5);
    assert_false(keys_z85_valid(s));
    assert_true(keys_z85_valid("0000000000000000000000000000000000000000"));
    /* the largest block that still fits in 32 bits: 0xFFFFFFFF is "%nSc0" */
    assert_true(keys_z85_valid("%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0"));
    assert_false(keys_z85_valid("%nSc1%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0"));
}

static void test_save_load(void **state)
{
    (void)state;
    keys_t k, got;
    char path[600], pub[700], err[512];
    assert_int_equal(keys_generate(&k), 0);
    path_in(path, sizeof path, "agent.key");
    snprintf(pub, sizeof pub, "%s.pub", path);
    capture_start();
    int rc = keys_save(&k, path);
    char *log = capture_end();
    assert_int_equal(rc, 0);
    assert_null(strstr(log, k.secret_key));

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(pub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(count_files(), 2); /* no temporary file left */

    char *text = read_text(path);
    assert_non_null(strstr(text, "# doanket CURVE key — keep secret"));
    assert_non_null(strstr(text, k.secret_key));
    text = read_text(pub);
    assert_non_null(strstr(text, k.public_key));
    assert_null(strstr(text, k.secret_key));
    assert_null(strstr(text, "secret-key"));

    capture_start();
    rc = keys_load(path, &got, err, sizeof err);
    log = capture_end();
    assert_int_equal(rc, 0);
    assert_string_equal(got.public_key, k.public_key);
    assert_string_equal(got.secret_key, k.secret_key);
    assert_null(strstr(log, "readable")); /* 0600: no warning */

    char out[41];
    assert_int_equal(keys_load_public(pub, out, err, sizeof err), 0);
    assert_string_equal(out, k.public_key);
    assert_int_equal(keys_load_public(path, out, err, sizeof err), 0); /* secret file */
    assert_string_equal(out, k.public_key);
    memset(out, 0, sizeof out);
    assert_int_equal(keys_load_public(k.public_key, out, err, sizeof err), 0); /* literal */
    assert_string_equal(out, k.public_key);

    /* never overwrite: not the pair, not a lone secret file, not a lone .pub */
    keys_t other;
    assert_int_equal(keys_generate(&other), 0);
    capture_start();
    rc = keys_save(&other, path);
    log = capture_end();
    assert_int_equal(rc, DK_EEXIST);
    assert_null(strstr(log, other.secret_key));
    assert_int_equal(keys_load(path, &got, err, sizeof err), 0);
    assert_string_equal(got.secret_key, k.secret_key);
    unlink(path);
    capture_start();
    assert_int_equal(keys_save(&other, path), DK_EEXIST);
    capture_end();
    assert_int_equal(access(path, F_OK), -1);
    unlink(pub);
    write_text(path, "x", 0600);
    capture_start();
    assert_int_equal(keys_save(&other, path), DK_EEXIST);
    capture_end();
    assert_int_equal(access(pub, F_OK), -1);
    unlink(path);
    assert_int_equal(count_files(), 0);

    /* an invalid pair is refused */
    keys_t bad = k;
    memcpy(bad.secret_key, other.secret_key, 41);
    capture_start();
    assert_int_equal(keys_save(&bad, path), DK_EINVAL);
    capture_end();
    assert_int_equal(count_files(), 0);

    /* a folder that does not exist */
    char nodir[700];
    snprintf(nodir, sizeof nodir, "%s/missing/agent.key", g_dir);
    capture_start();
    assert_int_equal(keys_save(&k, nodir), DK_EIO);
    capture_end();
}

static void test_permissions_warning(void **state)
{
    (void)state;
    keys_t k, got;
    char path[600], err[512], text[512];
    assert_int_equal(keys_generate(&k), 0);
    path_in(path, sizeof path, "loose.key");
    snprintf(text, sizeof text, "public-key = \"%s\"\nsecret-key = \"%s\"\n", k.public_key,
             k.secret_key);
    write_text(path, text, 0644);
    capture_start();
    int rc = keys_load(path, &got, err, sizeof err);
    char *log = capture_end();
    assert_int_equal(rc, 0);
    assert_non_null(strstr(log, "readable by group or others"));
    assert_non_null(strstr(log, path));
    assert_null(strstr(log, k.secret_key));
    unlink(path);
}

/* Loads text as a key file and expects failure with err mentioning each of the needles. */
static void expect_load_fail(const char *text, int want_rc, const char *needle)
{
    char path[600], err[512] = "";
    path_in(path, sizeof path, "bad.key");
    write_text(path, text, 0600);
    keys_t k;
    memset(&k, 0x55, sizeof k);
    capture_start();
    int rc = keys_load(path, &k, err, sizeof err);
    char *log = capture_end();
    if (rc != want_rc || strstr(err, path) == NULL || strstr(err, needle) == NULL) {
        print_error("loading [%s]: rc=%d err=\"%s\" (want %d, \"%s\")\n", text, rc, err, want_rc,
                    needle);
        fail();
    }
    assert_int_equal(k.secret_key[0], 0); /* wiped */
    (void)log;
    unlink(path);
}

static void test_bad_files(void **state)
{
    (void)state;
    keys_t k, k2;
    assert_int_equal(keys_generate(&k), 0);
    assert_int_equal(keys_generate(&k2), 0);
    char t[1024], err[512];
    const char *P = k.public_key, *S = k.secret_key;

    /* missing */
    char path[600];
    path_in(path, sizeof path, "nope.key");
    keys_t got;
    assert_int_equal(keys_load(path, &got, err, sizeof err), DK_ENOTFOUND);
    assert_non_null(strstr(err, path));
    char out[41];
    assert_int_equal(keys_load_public(path, out, err, sizeof err), DK_ENOTFOUND);
    /* a folder is not a key file */
    assert_int_equal(keys_load(g_dir, &got, err, sizeof err), DK_EIO);

    expect_load_fail("", DK_EINVAL, "no public-key");
    expect_load_fail("# only a comment\n", DK_EINVAL, "no public-key");
    snprintf(t, sizeof t, "public-key = \"%s\"\n", P);
    expect_load_fail(t, DK_EINVAL, "no secret-key");
    /* truncated in the middle of the secret */
    snprintf(t, sizeof t, "public-key = \"%s\"\nsecret-key = \"%.20s", P, S);
    expect_load_fail(t, DK_EINVAL, "line 2: secret-key is not a valid Z85 key");
    snprintf(t, sizeof t, "public-key = \"%s\"\nsecret-key = \"%s", P, S); /* lost quote */
    expect_load_fail(t, DK_EINVAL, "line 2");
    /* bad Z85 */
    snprintf(t, sizeof t, "public-key = \"%.39s~\"\nsecret-key = \"%s\"\n", P, S);
    expect_load_fail(t, DK_EINVAL, "line 1: public-key is not a valid Z85 key");
    /* wrong line */
    snprintf(t, sizeof t, "# c\n\npublic-key = \"%s\"\nprivate-key = \"%s\"\n", P, S);
    expect_load_fail(t, DK_EINVAL, "line 4: unknown setting 'private-key'");
    snprintf(t, sizeof t, "public-key = \"%s\"\nhello\nsecret-key = \"%s\"\n", P, S);
    expect_load_fail(t, DK_EINVAL, "line 2: expected");
    /* duplicate */
    snprintf(t, sizeof t, "public-key = \"%s\"\npublic-key = \"%s\"\nsecret-key = \"%s\"\n", P, P,
             S);
    expect_load_fail(t, DK_EINVAL, "line 2: public-key given twice");
    /* halves of two pairs */
    snprintf(t, sizeof t, "public-key = \"%s\"\nsecret-key = \"%s\"\n", k2.public_key, S);
    expect_load_fail(t, DK_EINVAL, "line 2: secret-key does not belong");
    /* a NUL byte inside */
    {
        path_in(path, sizeof path, "nul.key");
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int n = snprintf(t, sizeof t, "public-key = \"%s\"\nsecret-key = \"%s\"\n", P, S);
        t[5] = '\0';
        assert_int_equal(write(fd, t, (size_t)n), n);
        close(fd);
        assert_int_equal(keys_load(path, &got, err, sizeof err), DK_EINVAL);
        assert_non_null(strstr(err, "line 1: contains a NUL byte"));
        unlink(path);
    }
    /* a long line and a huge file */
    memset(t, 'a', 600);
    t[600] = '\0';
    expect_load_fail(t, DK_EINVAL, "line 1: too long");
    {
        path_in(path, sizeof path, "big.key");
        FILE *f = fopen(path, "w");
        for (int i = 0; i < 10000; i++) {
            fputs("# padding padding\n", f);
        }
        fclose(f);
        assert_int_equal(keys_load(path, &got, err, sizeof err), DK_EINVAL);
        assert_non_null(strstr(err, "too large"));
        unlink(path);
    }
    /* error messages never carry the secret key */
    snprintf(t, sizeof t, "public-key = \"%s\"\nsecret-key = \"%s\"\nsecret-key = \"%s\"\n", P, S,
             S);
    path_in(path, sizeof path, "dup.key");
    write_text(path, t, 0600);
    assert_int_equal(keys_load(path, &got, err, sizeof err), DK_EINVAL);
    assert_null(strstr(err, S));
    unlink(path);

    /* accepted variations: CRLF, no quotes, spaces, comments */
    snprintf(t, sizeof t, "# x\r\n  public-key=%s  \r\n\tsecret-key =   \"%s\"\r\n# end", P, S);
    assert_int_equal(keys_parse(t, strlen(t), &got, err, sizeof err), 0);
    assert_string_equal(got.secret_key, S);

    /* public keys: bare key file, bad literal */
    path_in(path, sizeof path, "bare.pub");
    snprintf(t, sizeof t, "%s\n", P);
    write_text(path, t, 0644);
    assert_int_equal(keys_load_public(path, out, err, sizeof err), 0);
    assert_string_equal(out, P);
    unlink(path);
    /* keys holding '#' or '=' (both are Z85 characters) still load */
    for (int want = 0; want < 2; want++) {
        keys_t odd;
        int tries = 0;
        do {
            assert_int_equal(keys_generate(&odd), 0);
            assert_true(++tries < 100000);
        } while (strchr(odd.public_key, want == 0 ? '#' : '=') == NULL);
        path_in(path, sizeof path, "odd.pub");
        snprintf(t, sizeof t, "%s\n", odd.public_key);
        write_text(path, t, 0644);
        assert_int_equal(keys_load_public(path, out, err, sizeof err), 0);
        assert_string_equal(out, odd.public_key);
        unlink(path);
        path_in(path, sizeof path, "odd.key");
        capture_start();
        assert_int_equal(keys_save(&odd, path), 0);
        capture_end();
        assert_int_equal(keys_load(path, &got, err, sizeof err), 0);
        assert_string_equal(got.secret_key, odd.secret_key);
        snprintf(t, sizeof t, "%s.pub", path);
        assert_int_equal(keys_load_public(t, out, err, sizeof err), 0);
        assert_string_equal(out, odd.public_key);
        unlink(t);
        unlink(path);
    }
    assert_int_equal(keys_load_public("tooshortkey", out, err, sizeof err), DK_ENOTFOUND);
    path_in(path, sizeof path, "bad.pub");
    write_text(path, "public-key = \"nonsense\"\n", 0644);
    assert_int_equal(keys_load_public(path, out, err, sizeof err), DK_EINVAL);
    assert_non_null(strstr(err, "line 1"));
    unlink(path);
    /* keys_parse_public without a file */
    memset(out, 0, sizeof out);
    snprintf(t, sizeof t, "# doanket CURVE public key\npublic-key = \"%s\"\n", P);
    assert_int_equal(keys_parse_public(t, strlen(t), out, err, sizeof err), 0);
    assert_string_equal(out, P);
    assert_int_equal(keys_parse_public(P, 40, out, err, sizeof err), 0);
    assert_int_equal(keys_parse_public(P, 39, out, err, sizeof err), DK_EINVAL);
    assert_non_null(strstr(err, "line 1"));
    /* keys_parse without a file */
    assert_int_equal(keys_parse("garbage", 7, &got, err, sizeof err), DK_EINVAL);
    assert_non_null(strstr(err, "line 1"));
    assert_int_equal(keys_parse("garbage", 7, &got, NULL, 0), DK_EINVAL);
}

/* ---- a real CURVE connection with a ZAP handler ---- */

typedef struct {
    void *ctx;
    char allowed[41];
    atomic_int stop;
    atomic_int requests;
} zap_t;

static void *zap_thread(void *arg)
{
    zap_t *z = arg;
    void *rep = zmq_socket(z->ctx, ZMQ_REP);
    int timeout = 50, zero = 0;
    zmq_setsockopt(rep, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(rep, ZMQ_LINGER, &zero, sizeof zero);
    int rc = zmq_bind(rep, "inproc://zeromq.zap.01");
    assert_int_equal(rc, 0);
    while (!atomic_load(&z->stop)) {
        char frames[8][64];
        int lens[8];
        int n = 0;
        int more = 1;
        while (more && n < 8) {
            int r = zmq_recv(rep, frames[n], sizeof frames[n], 0);
            if (r < 0) {
                break;
            }
            lens[n++] = r;
            size_t ml = sizeof more;
            zmq_getsockopt(rep, ZMQ_RCVMORE, &more, &ml);
        }
        if (n == 0) {
            continue;
        }
        atomic_fetch_add(&z->requests, 1);
        /* version, request id, domain, address, identity, mechanism, client key */
        char key[41] = "";
        if (n == 7 && lens[6] == 32) {
            zmq_z85_encode(key, (const uint8_t *)frames[6], 32);
        }
        int ok = strcmp(key, z->allowed) == 0;
        zmq_send(rep, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(rep, frames[1], (size_t)lens[1], ZMQ_SNDMORE);
        zmq_send(rep, ok ? "200" : "400", 3, ZMQ_SNDMORE);
        zmq_send(rep, ok ? "OK" : "unknown key", ok ? 2 : 11, ZMQ_SNDMORE);
        zmq_send(rep, ok ? "commune-24664" : "", ok ? 13 : 0, ZMQ_SNDMORE);
        zmq_send(rep, "", 0, 0);
    }
    zmq_close(rep);
    return NULL;
}

/* One request/reply from a client with keys mine against server; returns 1 if it went through. */
static int exchange(void *ctx, const char *endpoint, const keys_t *mine, const char *server_pub,
                    void *server, int expect_ok)
{
    void *req = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, t = expect_ok ? 5000 : 700;
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &t, sizeof t);
    assert_int_equal(keys_apply_client(req, mine, server_pub), 0);
    assert_int_equal(zmq_connect(req, endpoint), 0);
    assert_int_equal(zmq_send(req, "hello", 5, ZMQ_DONTWAIT) == 5 || !expect_ok, 1);
    int got = 0;
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    zmq_msg_init(&body);
    if (zmq_msg_recv(&id, server, 0) >= 0) {
        assert_int_equal(zmq_msg_recv(&body, server, 0), 5);
        assert_memory_equal(zmq_msg_data(&body), "hello", 5);
        const char *uid = zmq_msg_gets(&body, "User-Id");
        assert_non_null(uid);
        assert_string_equal(uid, "commune-24664");
        zmq_msg_send(&id, server, ZMQ_SNDMORE);
        zmq_send(server, "welcome", 7, 0);
        char buf[16];
        assert_int_equal(zmq_recv(req, buf, sizeof buf, 0), 7);
        assert_memory_equal(buf, "welcome", 7);
        got = 1;
    }
    zmq_msg_close(&id);
    zmq_msg_close(&body);
    zmq_close(req);
    return got;
}

static void test_curve_connection(void **state)
{
    (void)state;
    keys_t server_keys, client_keys, stranger, fake_server;
    assert_int_equal(keys_generate(&server_keys), 0);
    assert_int_equal(keys_generate(&client_keys), 0);
    assert_int_equal(keys_generate(&stranger), 0);
    assert_int_equal(keys_generate(&fake_server), 0);

    /* round trip through files first, as the programs do */
    char path[600], pub[700], err[512];
    path_in(path, sizeof path, "server.key");
    snprintf(pub, sizeof pub, "%s.pub", path);
    capture_start();
    assert_int_equal(keys_save(&server_keys, path), 0);
    capture_end();
    keys_t loaded;
    char server_pub[41];
    assert_int_equal(keys_load(path, &loaded, err, sizeof err), 0);
    assert_int_equal(keys_load_public(pub, server_pub, err, sizeof err), 0);

    void *ctx = zmq_ctx_new();
    zap_t zap = {.ctx = ctx};
    memcpy(zap.allowed, client_keys.public_key, 41);
    atomic_init(&zap.stop, 0);
    atomic_init(&zap.requests, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, zap_thread, &zap), 0);
    usleep(50 * 1000); /* the ZAP socket must be bound before the server binds */

    void *server = zmq_socket(ctx, ZMQ_ROUTER);
    int zero = 0, t = 5000;
    zmq_setsockopt(server, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(server, ZMQ_RCVTIMEO, &t, sizeof t);
    assert_int_equal(keys_apply_server(server, &loaded), 0);
    assert_int_equal(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    char endpoint[128];
    size_t elen = sizeof endpoint;
    assert_int_equal(zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, endpoint, &elen), 0);

    assert_int_equal(exchange(ctx, endpoint, &client_keys, server_pub, server, 1), 1);
    assert_true(atomic_load(&zap.requests) >= 1);

    t = 700;
    zmq_setsockopt(server, ZMQ_RCVTIMEO, &t, sizeof t);
    /* an unknown client key is refused by the ZAP handler */
    int before = atomic_load(&zap.requests);
    assert_int_equal(exchange(ctx, endpoint, &stranger, server_pub, server, 0), 0);
    assert_true(atomic_load(&zap.requests) > before);
    /* a client that expects another server key never gets through */
    assert_int_equal(exchange(ctx, endpoint, &client_keys, fake_server.public_key, server, 0), 0);

    zmq_close(server);
    atomic_store(&zap.stop, 1);
    pthread_join(th, NULL);
    zmq_ctx_term(ctx);
    keys_wipe(&loaded);
    assert_int_equal(loaded.secret_key[0], 0);
}

static void test_apply_errors(void **state)
{
    (void)state;
    keys_t k, bad;
    assert_int_equal(keys_generate(&k), 0);
    memset(&bad, 0, sizeof bad);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    assert_int_equal(keys_apply_server(NULL, &k), DK_EINVAL);
    assert_int_equal(keys_apply_server(s, &bad), DK_EINVAL);
    assert_int_equal(keys_apply_client(s, &k, "short"), DK_EINVAL);
    assert_int_equal(keys_apply_client(s, &bad, k.public_key), DK_EINVAL);
    /* libzmq refusing an option maps to DK_ENET: a pointer that is not a socket (ENOTSOCK) */
    uint64_t not_a_socket[32];
    memset(not_a_socket, 0, sizeof not_a_socket);
    capture_start();
    int rc1 = keys_apply_server(not_a_socket, &k);
    int rc2 = keys_apply_client(not_a_socket, &k, k.public_key);
    char *log = capture_end();
    assert_int_equal(rc1, DK_ENET);
    assert_int_equal(rc2, DK_ENET);
    assert_null(strstr(log, k.secret_key));
    zmq_close(s);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_and_z85),
        cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissions_warning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_curve_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
