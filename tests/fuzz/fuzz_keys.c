/* libFuzzer target: arbitrary bytes as a CURVE key file (keys_parse, the memory side of
 * keys_load), as a public key file (keys_parse_public) and as a key (keys_z85_valid). A parsed
 * pair must be valid and matching. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    keys_t k;
    char err[256];
    if (keys_parse((const char *)data, size, &k, err, sizeof err) == 0) {
        char derived[41];
        if (!keys_z85_valid(k.public_key) || !keys_z85_valid(k.secret_key) ||
            zmq_curve_public(derived, k.secret_key) != 0 || strcmp(derived, k.public_key) != 0) {
            abort();
        }
    } else if (memchr(err, '\0', sizeof err) == NULL) {
        abort();
    }
    keys_wipe(&k);
    char pub[41];
    if (keys_parse_public((const char *)data, size, pub, err, sizeof err) == 0 &&
        !keys_z85_valid(pub)) {
        abort();
    }
    if (size <= 64) {
        char s[65];
        memcpy(s, data, size);
        s[size] = '\0';
        if (keys_z85_valid(s)) {
            uint8_t bin[32];
            if (strlen(s) != 40 || zmq_z85_decode(bin, s) == NULL) {
                abort();
            }
        }
    }
    return 0;
}
