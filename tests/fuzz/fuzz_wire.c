/* libFuzzer target: arbitrary bytes through everything that meets untrusted frames in common/.
 * wire_decode; for a Batch, every event through wire_check_event, category_of_event and
 * category_describe_vi, and the event codec (encode, decode, re-check); then the whole envelope
 * re-encoded and decoded again. Also the bytes as a bare Event (the stored form). Must never
 * crash, leak or trip a sanitizer. Seeds: tests/fuzz/corpus/wire/ (tests/tools/wire_seeds). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "category.h"
#include "err.h"
#include "text.h"
#include "wire.h"

static void check_fault(const wire_fault_t *f, int rc)
{
    if (f->code != rc) {
        abort();
    }
    size_t n = strlen(f->reason);
    if (!text_utf8_valid(f->reason, n) || (rc != 0 && n == 0)) {
        abort();
    }
}

static void exercise_event(const Dk__Event *ev, const wire_rules_t *rules)
{
    wire_fault_t f;
    int rc = wire_check_event(ev, rules, &f);
    check_fault(&f, rc);
    uint64_t cat;
    int64_t m[CATEGORY_MEASURES];
    if (category_of_event(ev, &cat, m) == 0) {
        char desc[160];
        int d = category_describe_vi(cat, desc, sizeof(desc));
        if (d != 0 && d != DK_ETOOBIG) {
            abort();
        }
        if (!text_utf8_valid(desc, strlen(desc))) {
            abort();
        }
        if (rc == 0 && m[DK__MEASURE__M_EVENTS] != 1) {
            abort();
        }
    } else if (rc == 0 && ev->body_case != DK__EVENT__BODY_VOID) {
        abort(); /* a valid activity or fund event always has a category */
    }
    uint8_t *buf;
    size_t len;
    if (wire_event_encode(ev, &buf, &len) == 0) {
        Dk__Event *again = NULL;
        if (wire_event_decode(buf, len, &again) != 0) {
            abort(); /* what we encode we must decode */
        }
        wire_fault_t g;
        int rc2 = wire_check_event(again, rules, &g);
        if (rc == 0 && rc2 != 0) {
            abort(); /* a valid event stays valid through its stored form */
        }
        wire_event_free(&again);
        free(buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wire_rules_t rules = {.commune = 0, .max_area = 0, .max_organiser = 0, .today = 20000};
    Dk__Envelope *env = NULL;
    int rc = wire_decode(data, size, &env);
    if (rc == 0) {
        if (env->msg_case == DK__ENVELOPE__MSG_BATCH) {
            for (size_t i = 0; i < env->batch->n_events; i++) {
                exercise_event(env->batch->events[i], &rules);
            }
        }
        uint8_t *buf;
        size_t len;
        if (wire_encode(env, &buf, &len) == 0) {
            Dk__Envelope *again = NULL;
            int rc2 = wire_decode(buf, len, &again);
            if (rc2 != 0 && rc2 != DK_ETOOBIG) {
                abort();
            }
            wire_free(&again);
            free(buf);
        }
        wire_free(&env);
    } else if (env != NULL) {
        abort();
    }
    Dk__Event *ev = NULL;
    if (wire_event_decode(data, size, &ev) == 0) {
        exercise_event(ev, &rules);
        wire_event_free(&ev);
    }
    return 0;
}
