/* keys — CURVE key pairs.
 *
 * The secret file is written to a temporary file in the same folder, fsync'ed, then linked into
 * place with link(2), which fails if the name exists: unlike rename(2) it can never replace a key
 * someone already has, and a crash leaves either no key file or a complete one (plus, at worst, a
 * stray ".tmp." file). Secret keys pass through stack buffers while parsing and writing; each such
 * buffer is wiped with sodium_memzero before it goes out of scope. */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "err.h"
#include "xmalloc.h"

#define LOG_TAG "keys"
#include "log.h"

/* A key file is a few lines; anything larger is not one. */
#define KEYS_FILE_MAX 65536

static const char Z85_CHARS[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                ".-:+=^!/*?&<>()[]{}@%$#";

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void keys_wipe(keys_t *k)
{
    if (k != NULL) {
        sodium_memzero(k, sizeof *k);
    }
}

bool keys_z85_valid(const char *s)
{
    if (s == NULL || strnlen(s, KEYS_Z85_LEN + 1) != KEYS_Z85_LEN) {
        return false;
    }
    /* Each 5-character block encodes a 32-bit word: its value must stay below 2^32. */
    for (int b = 0; b < KEYS_Z85_LEN; b += 5) {
        uint64_t v = 0;
        for (int i = 0; i < 5; i++) {
            const char *c = strchr(Z85_CHARS, s[b + i]);
            if (s[b + i] == '\0' || c == NULL) {
                return false;
            }
            v = v * 85 + (uint64_t)(c - Z85_CHARS);
        }
        if (v > UINT32_MAX) {
            return false;
        }
    }
    uint8_t bin[32];
    bool ok = zmq_z85_decode(bin, s) != NULL;
    sodium_memzero(bin, sizeof bin);
    return ok;
}

/* True when secret derives public. */
static bool pair_matches(const keys_t *k)
{
    char derived[41];
    bool ok = zmq_curve_public(derived, k->secret_key) == 0 && strcmp(derived, k->public_key) == 0;
    sodium_memzero(derived, sizeof derived);
    return ok;
}

int keys_generate(keys_t *k)
{
    memset(k, 0, sizeof *k);
    if (zmq_curve_keypair(k->public_key, k->secret_key) != 0) {
        log_error("zmq_curve_keypair failed: %s (libzmq without CURVE?)",
                  zmq_strerror(zmq_errno()));
        keys_wipe(k);
        return DK_ENET;
    }
    return 0;
}

/* Parses key file text. need_secret: a secret-key line is required (else only public-key, or a
 * bare 40-character key on a line of its own, is). */
static int parse_text(const char *text, size_t len, keys_t *k, bool need_secret, char *err,
                      size_t errlen)
{
    keys_t got;
    memset(&got, 0, sizeof got);
    int have_pub = 0, have_sec = 0, bare_line = 0;
    int rc = DK_EINVAL;
    size_t pos = 0;
    int lineno = 0;
    char line[256];
    while (pos < len) {
        lineno++;
        size_t start = pos;
        while (pos < len && text[pos] != '\n') {
            pos++;
        }
        size_t n = pos - start;
        if (pos < len) {
            pos++; /* the '\n' */
        }
        if (memchr(text + start, '\0', n) != NULL) {
            errf(err, errlen, "line %d: contains a NUL byte", lineno);
            goto done;
        }
        if (n >= sizeof line) {
            errf(err, errlen, "line %d: too long for a key file", lineno);
            goto done;
        }
        memcpy(line, text + start, n);
        line[n] = '\0';
        char *p = line, *e = line + n;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
            *--e = '\0';
        }
        /* A bare key first: Z85 has '#' and '=' in its alphabet, so such a line could otherwise
         * pass for a comment or a setting. */
        if (!need_secret && !have_pub && keys_z85_valid(p)) {
            memcpy(got.public_key, p, KEYS_Z85_LEN + 1);
            have_pub = lineno;
            bare_line = lineno;
            continue;
        }
        if (*p == '\0' || *p == '#') {
            continue;
        }
        char *eq = strchr(p, '=');
        if (eq == NULL) {
            errf(err, errlen, "line %d: expected 'public-key = \"...\"' or 'secret-key = \"...\"'",
                 lineno);
            goto done;
        }
        char *name_end = eq;
        while (name_end > p && (name_end[-1] == ' ' || name_end[-1] == '\t')) {
            name_end--;
        }
        *name_end = '\0';
        char *v = eq + 1;
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        size_t vlen = strlen(v);
        if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
            v[vlen - 1] = '\0';
            v++;
        }
        int is_pub = strcmp(p, "public-key") == 0, is_sec = strcmp(p, "secret-key") == 0;
        if (!is_pub && !is_sec) {
            errf(err, errlen,
                 "line %d: unknown setting '%.40s' (expected public-key or secret-key)", lineno, p);
            goto done;
        }
        if ((is_pub && have_pub) || (is_sec && have_sec)) {
            errf(err, errlen, "line %d: %s given twice", lineno, p);
            goto done;
        }
        if (!keys_z85_valid(v)) {
            errf(err, errlen, "line %d: %s is not a valid Z85 key (40 characters)", lineno, p);
            goto done;
        }
        memcpy(is_pub ? got.public_key : got.secret_key, v, KEYS_Z85_LEN + 1);
        if (is_pub) {
            have_pub = lineno;
        } else {
            have_sec = lineno;
        }
    }
    if (!have_pub) {
        errf(err, errlen, "line %d: no public-key line", lineno);
        goto done;
    }
    if (need_secret && !have_sec) {
        errf(err, errlen, "line %d: no secret-key line", lineno);
        goto done;
    }
    if (have_sec && bare_line) {
        errf(err, errlen, "line %d: a bare key in a file with a secret-key line", bare_line);
        goto done;
    }
    if (have_sec && !pair_matches(&got)) {
        errf(err, errlen, "line %d: secret-key does not belong to the public-key on line %d",
             have_sec, have_pub);
        goto done;
    }
    *k = got;
    rc = 0;
done:
    sodium_memzero(line, sizeof line);
    sodium_memzero(&got, sizeof got);
    return rc;
}

int keys_parse(const char *text, size_t len, keys_t *k, char *err, size_t errlen)
{
    return parse_text(text, len, k, true, err, errlen);
}

int keys_parse_public(const char *text, size_t len, char out[41], char *err, size_t errlen)
{
    keys_t k;
    int rc = parse_text(text, len, &k, false, err, errlen);
    if (rc == 0) {
        memcpy(out, k.public_key, KEYS_Z85_LEN + 1);
    }
    keys_wipe(&k);
    return rc;
}

/* Reads a whole small file into a buffer the caller wipes and frees. */
static int read_small(const char *path, char **out, size_t *out_len, struct stat *st, char *err,
                      size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        errf(err, errlen, "%s: %s", path, strerror(e));
        return e == ENOENT ? DK_ENOTFOUND : DK_EIO;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        errf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return DK_EIO;
    }
    if (st->st_size > KEYS_FILE_MAX) {
        errf(err, errlen, "%s: too large for a key file (%lld bytes)", path,
             (long long)st->st_size);
        close(fd);
        return DK_EINVAL;
    }
    size_t cap = (size_t)st->st_size + 1;
    char *buf = xmalloc(cap);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            errf(err, errlen, "%s: read: %s", path, strerror(errno));
            sodium_memzero(buf, cap);
            free(buf);
            close(fd);
            return DK_EIO;
        }
        if (r == 0 || n + (size_t)r == cap) {
            n += (size_t)r;
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    if (n == cap) {
        /* It grew while we read it. */
        errf(err, errlen, "%s: changed while being read", path);
        sodium_memzero(buf, cap);
        free(buf);
        return DK_EIO;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

static int load_file(const char *path, keys_t *k, bool need_secret, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t n = 0;
    struct stat st;
    int rc = read_small(path, &buf, &n, &st, err, errlen);
    if (rc != 0) {
        return rc;
    }
    char perr[200] = "";
    rc = parse_text(buf, n, k, need_secret, perr, sizeof perr);
    if (rc != 0) {
        errf(err, errlen, "%s: %s", path, perr);
    } else if (need_secret && (st.st_mode & 077) != 0) {
        log_warn("secret key file %s is readable by group or others (mode %03o): chmod 600 it",
                 path, (unsigned)(st.st_mode & 0777));
    }
    sodium_memzero(buf, n);
    free(buf);
    return rc;
}

int keys_load(const char *path, keys_t *k, char *err, size_t errlen)
{
    memset(k, 0, sizeof *k);
    int rc = load_file(path, k, true, err, errlen);
    if (rc != 0) {
        keys_wipe(k);
    }
    return rc;
}

int keys_load_public(const char *path_or_z85, char out[41], char *err, size_t errlen)
{
    struct stat st;
    if (keys_z85_valid(path_or_z85) && stat(path_or_z85, &st) != 0) {
        memcpy(out, path_or_z85, KEYS_Z85_LEN + 1);
        return 0;
    }
    keys_t k;
    memset(&k, 0, sizeof k);
    int rc = load_file(path_or_z85, &k, false, err, errlen);
    if (rc == 0) {
        memcpy(out, k.public_key, KEYS_Z85_LEN + 1);
    }
    keys_wipe(&k);
    return rc;
}

static int fsync_dir_of(const char *path)
{
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Writes data to path with mode, atomically and never replacing an existing file. */
static int write_new_file(const char *path, const char *data, size_t len, mode_t mode)
{
    char *tmp = xasprintf("%s.tmp.XXXXXX", path);
    int rc = DK_EIO;
    const char *what = "create";
    int fd = mkstemp(tmp);
    if (fd < 0) {
        goto fail;
    }
    what = "chmod";
    if (fchmod(fd, mode) != 0) {
        goto fail_unlink;
    }
    what = "write";
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            goto fail_unlink;
        }
        off += (size_t)w;
    }
    what = "fsync";
    if (fsync(fd) != 0) {
        goto fail_unlink;
    }
    what = "close";
    int c = close(fd);
    fd = -1;
    if (c != 0) {
        goto fail_unlink;
    }
    what = "link";
    if (link(tmp, path) != 0) {
        if (errno == EEXIST) {
            rc = DK_EEXIST;
        }
        goto fail_unlink;
    }
    unlink(tmp);
    if (fsync_dir_of(path) != 0) {
        log_warn("fsync of the folder of %s failed: %s", path, strerror(errno));
    }
    free(tmp);
    return 0;
fail_unlink : {
    int e = errno;
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    errno = e;
}
fail:
    if (rc != DK_EEXIST) {
        log_error("cannot save key file %s (%s): %s", path, what, strerror(errno));
    }
    free(tmp);
    return rc;
}

int keys_save(const keys_t *k, const char *path)
{
    if (!keys_z85_valid(k->public_key) || !keys_z85_valid(k->secret_key) || !pair_matches(k)) {
        log_error("refusing to save an invalid key pair to %s", path);
        return DK_EINVAL;
    }
    char *pub_path = xasprintf("%s.pub", path);
    struct stat st;
    int rc;
    if (lstat(path, &st) == 0 || lstat(pub_path, &st) == 0) {
        log_error("key file %s or %s exists already: not overwriting it", path, pub_path);
        free(pub_path);
        return DK_EEXIST;
    }
    char secret_text[256];
    int n = snprintf(secret_text, sizeof secret_text,
                     "# doanket CURVE key — keep secret (mode 0600; share only the .pub file)\n"
                     "public-key = \"%s\"\n"
                     "secret-key = \"%s\"\n",
                     k->public_key, k->secret_key);
    rc = write_new_file(path, secret_text, (size_t)n, 0600);
    sodium_memzero(secret_text, sizeof secret_text);
    if (rc != 0) {
        if (rc == DK_EEXIST) {
            log_error("key file %s exists already: not overwriting it", path);
        }
        free(pub_path);
        return rc;
    }
    char *pub_text = xasprintf("# doanket CURVE public key\npublic-key = \"%s\"\n", k->public_key);
    rc = write_new_file(pub_path, pub_text, strlen(pub_text), 0644);
    free(pub_text);
    if (rc != 0) {
        /* Leave no half pair behind: the secret file is ours, we created it just now. */
        unlink(path);
        if (rc == DK_EEXIST) {
            log_error("key file %s exists already: not overwriting it", pub_path);
        }
    } else {
        log_info("saved CURVE key pair to %s and %s public=%s", path, pub_path, k->public_key);
    }
    free(pub_path);
    return rc;
}

static int setopt(void *zsock, int opt, const void *val, size_t len, const char *name)
{
    if (zmq_setsockopt(zsock, opt, val, len) != 0) {
        log_error("zmq_setsockopt %s failed: %s", name, zmq_strerror(zmq_errno()));
        return DK_ENET;
    }
    return 0;
}

int keys_apply_server(void *zsock, const keys_t *k)
{
    if (zsock == NULL || k == NULL || !keys_z85_valid(k->secret_key)) {
        return DK_EINVAL;
    }
    int one = 1;
    int rc = setopt(zsock, ZMQ_CURVE_SERVER, &one, sizeof one, "ZMQ_CURVE_SERVER");
    if (rc == 0) {
        rc = setopt(zsock, ZMQ_CURVE_SECRETKEY, k->secret_key, KEYS_Z85_LEN + 1,
                    "ZMQ_CURVE_SECRETKEY");
    }
    return rc;
}

int keys_apply_client(void *zsock, const keys_t *mine, const char *server_public)
{
    if (zsock == NULL || mine == NULL || !keys_z85_valid(server_public) ||
        !keys_z85_valid(mine->public_key) || !keys_z85_valid(mine->secret_key)) {
        return DK_EINVAL;
    }
    int rc =
        setopt(zsock, ZMQ_CURVE_SERVERKEY, server_public, KEYS_Z85_LEN + 1, "ZMQ_CURVE_SERVERKEY");
    if (rc == 0) {
        rc = setopt(zsock, ZMQ_CURVE_PUBLICKEY, mine->public_key, KEYS_Z85_LEN + 1,
                    "ZMQ_CURVE_PUBLICKEY");
    }
    if (rc == 0) {
        rc = setopt(zsock, ZMQ_CURVE_SECRETKEY, mine->secret_key, KEYS_Z85_LEN + 1,
                    "ZMQ_CURVE_SECRETKEY");
    }
    return rc;
}
