/* keys — CURVE key pairs for ZeroMQ: generate, save, load, check, apply to sockets.
 *
 * Keys are Z85 text (40 characters + NUL). A key pair lives in two files:
 *   PATH      (mode 0600)  # doanket CURVE key — keep secret
 *                          public-key = "<40 chars>"
 *                          secret-key = "<40 chars>"
 *   PATH.pub  (mode 0644)  # doanket CURVE public key
 *                          public-key = "<40 chars>"
 * Blank lines and lines starting with '#' are ignored; spaces around '=' are allowed; the value
 * may be quoted or not. Secret keys are never logged, and buffers here that held one are wiped. */
#ifndef DK_KEYS_H
#define DK_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define KEYS_Z85_LEN 40

typedef struct {
    char public_key[41]; /* Z85, NUL-terminated */
    char secret_key[41]; /* Z85, NUL-terminated */
} keys_t;

/* A fresh key pair (zmq_curve_keypair). DK_ENET if libzmq lacks CURVE. */
int keys_generate(keys_t *k);

/* True when s is exactly 40 Z85 characters that decode to 32 bytes. s may be NULL (false). */
bool keys_z85_valid(const char *s);

/* Writes the secret file at path atomically (temporary file, fsync, no-overwrite rename, fsync of
 * the folder) with mode 0600, then path + ".pub" with mode 0644. DK_EEXIST if either file already
 * exists (nothing is written), DK_EINVAL if k holds invalid keys, DK_EIO on a file error (nothing
 * is left behind). */
int keys_save(const keys_t *k, const char *path);

/* Parses the text of a secret key file (text[0..len), need not be NUL-terminated) into *k. Both
 * keys are required and must form a pair. On failure returns DK_EINVAL and writes into err (may
 * be NULL) a message naming the line: "line 3: secret-key is not a valid Z85 key". The memory
 * variant behind keys_load; also used by the fuzzer. */
int keys_parse(const char *text, size_t len, keys_t *k, char *err, size_t errlen);

/* Parses the text of a public key file (a .pub file, a secret key file or a bare 40-character key
 * on a line of its own) into out. Errors as keys_parse. */
int keys_parse_public(const char *text, size_t len, char out[41], char *err, size_t errlen);

/* Loads a secret key file. DK_ENOTFOUND if it does not exist, DK_EIO if unreadable, DK_EINVAL if
 * malformed; err receives a message naming the file (and line). Logs a warning if the file is
 * readable by group or others. *k is zeroed on failure. */
int keys_load(const char *path, keys_t *k, char *err, size_t errlen);

/* A public key from a literal 40-character Z85 key, or from a file: a .pub file, a secret key
 * file (only its public-key line is used), or a file holding the bare key. out receives the key.
 * Errors as keys_load. */
int keys_load_public(const char *path_or_z85, char out[41], char *err, size_t errlen);

/* Makes zsock a CURVE server with k's secret key. Call right after zmq_socket(), before bind.
 * DK_ENET if libzmq refuses an option, DK_EINVAL for invalid keys. */
int keys_apply_server(void *zsock, const keys_t *k);

/* Makes zsock a CURVE client with its own pair and the server's public key (Z85). Call before
 * connect. DK_ENET if libzmq refuses an option, DK_EINVAL for invalid keys. */
int keys_apply_client(void *zsock, const keys_t *mine, const char *server_public);

/* Wipes a key pair (the secret half, really) from memory. NULL-safe. */
void keys_wipe(keys_t *k);

#endif
