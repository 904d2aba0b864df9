/* wire — the envelope codec and the event validation that agent and aggregator share.
 *
 * Decoding is bounded: a frame longer than WIRE_MAX_FRAME is refused before protobuf-c sees it,
 * and protobuf-c allocates through a counting allocator with a hard byte budget
 * (WIRE_DECODE_BUDGET), so a hostile frame can neither blow memory nor crash the reader.
 * Strings: protobuf-c would silently cut a text at an embedded NUL; wire_decode and
 * wire_event_decode find such NULs in the raw bytes and turn them into a control character in the
 * decoded text, so wire_check_event refuses the event (DK_EV_TEXT) instead of storing a cut text.
 *
 * Validation (wire_check_event) is the one rule book: the agent runs it before it stores an event
 * in its outbox, the aggregator before it stores the event. Every refusal carries a stable code
 * (DK_EV_* from err.h), the wire field path and a Vietnamese sentence for the commune. */
#ifndef DK_WIRE_H
#define DK_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "doanket.pb-c.h"

/* The schema version this build writes and understands. Readers refuse newer versions. */
#define WIRE_SCHEMA_VERSION 1
/* Largest frame (one packed Envelope) accepted or produced; the ROUTER's ZMQ_MAXMSGSIZE too. */
#define WIRE_MAX_FRAME (128 * 1024)
/* Bytes protobuf-c may hold at once while unpacking one frame. Decoded structs are much larger
 * than their packed form (an empty Event is 2 bytes packed, ~250 bytes decoded), so a legitimate
 * full-size batch needs room; a frame that needs more is refused (DK_ETOOBIG). */
#define WIRE_DECODE_BUDGET (64 * WIRE_MAX_FRAME)

/* Limits the validation applies (texts in Unicode characters). */
#define WIRE_MAX_TITLE 200
#define WIRE_MAX_DONOR 200
#define WIRE_MAX_NOTE 2000
#define WIRE_MIN_DATE 20000101u           /* earliest event date accepted */
#define WIRE_MAX_ORGANISER_DEFAULT 15     /* member organisations 1..15 (0: the committee) */
#define WIRE_MAX_AREA 9999                /* absolute cap on a residential area number */
#define WIRE_MAX_SESSIONS 10000           /* sessions in one event */
#define WIRE_MAX_COUNT 1000000            /* people, items, families, households, status figures */
#define WIRE_MAX_AREAS 10000              /* festival areas_held / areas_total */
#define WIRE_MAX_AWARDS 100000            /* collectives, individuals, houses */
#define WIRE_MAX_WORKDAYS 100000000       /* ngày công */
#define WIRE_MAX_LAND_M2 1000000000ull    /* 1,000 km² */
#define WIRE_ORIGIN_KEY_LEN 16
/* Largest seq, corrects_seq and void.target_seq accepted: 2^53 - 1, far beyond any commune's
 * lifetime (a million events a day for 24 million years), so max_seq + 1 never wraps at the
 * agent, and every seq is an exact integer in the dashboard's JSON (JavaScript's
 * Number.MAX_SAFE_INTEGER). It stays above the placeholder seq (2^50) the agent validates new
 * records with. */
#define WIRE_MAX_SEQ ((1ULL << 53) - 1)

/* ---- codec ------------------------------------------------------------------------------------ */

/* Decodes one frame into a new Envelope that the caller frees with wire_free.
 * Returns 0; DK_ETOOBIG when len > WIRE_MAX_FRAME or unpacking needs more than
 * WIRE_DECODE_BUDGET bytes; DK_EDECODE when the bytes are not an Envelope, the envelope holds no
 * message (oneof NOT_SET), holds more than one oneof member, or holds a field numbered 0
 * (which protobuf-c reads but could not read back after re-encoding); DK_EV_SCHEMA when its
 * schema_version is newer than WIRE_SCHEMA_VERSION (absent = 1). On failure *out is NULL.
 * The events inside a Batch are NOT validated here: call wire_check_event on each. */
int wire_decode(const void *buf, size_t len, Dk__Envelope **out);

/* Frees an envelope made by wire_decode (never one built by hand) and sets *env_p to NULL.
 * NULL-safe and idempotent. */
void wire_free(Dk__Envelope **env_p);

/* Packs env into a new buffer (*buf, *len) that the caller frees with free(). schema_version is
 * written as WIRE_SCHEMA_VERSION whatever env holds (env itself is not changed).
 * Returns 0; DK_EINVAL when env holds no message; DK_ETOOBIG when the packed size exceeds
 * WIRE_MAX_FRAME (then *buf is NULL). */
int wire_encode(const Dk__Envelope *env, uint8_t **buf, size_t *len);

/* Packs one event (the form the aggregator stores and the agent's outbox keeps) into a new buffer
 * the caller frees with free(). schema_version is written as WIRE_SCHEMA_VERSION when ev has
 * none. Returns 0 or DK_ETOOBIG (larger than WIRE_MAX_FRAME). */
int wire_event_encode(const Dk__Event *ev, uint8_t **buf, size_t *len);

/* Decodes one packed event into a new Event the caller frees with wire_event_free.
 * Returns 0; DK_ETOOBIG (len > WIRE_MAX_FRAME or over budget); DK_EDECODE (also for a field
 * numbered 0, as wire_decode). No validation and no
 * schema check here (wire_check_event does both). On failure *out is NULL. */
int wire_event_decode(const void *buf, size_t len, Dk__Event **out);

/* Frees an event made by wire_event_decode and sets *ev_p to NULL. NULL-safe. Never pass an
 * event that is part of an envelope (wire_free frees those). */
void wire_event_free(Dk__Event **ev_p);

/* ---- validation ------------------------------------------------------------------------------ */

typedef struct {
    int code;          /* DK_EV_* (err.h); 0 when no fault */
    char field[48];    /* wire field path, e.g. "fund.amount", "activity.sessions", "date"; "" if none */
    char reason[320];  /* Vietnamese sentence naming the field, UTF-8, e.g.
                          "Số tiền (fund.amount) phải lớn hơn 0 đ và dưới 1.000.000.000.000.000 đ." */
} wire_fault_t;

typedef struct {
    uint32_t commune;        /* 0: any commune; else the event's commune must equal it */
    uint32_t max_area;       /* 0: only the absolute cap WIRE_MAX_AREA; else area <= max_area */
    uint32_t max_organiser;  /* 0: WIRE_MAX_ORGANISER_DEFAULT; else organiser <= max_organiser */
    int32_t today;           /* day number (common/period.h: days since 1970-01-01) of today in
                                Vietnam; dates after today+1 are refused. <= 0: computed from the
                                clock at each check. */
} wire_rules_t;

/* Fills rules with the defaults: any commune, area unchecked, organisers 0..15, today from the
 * clock (Vietnam time). */
void wire_rules_init(wire_rules_t *rules);

/* Checks one event against every rule. rules may be NULL (the defaults). fault may be NULL; when
 * given it is always written (code 0 and empty strings when the event is fine).
 * Returns 0 or the fault's code (the first rule broken):
 *   DK_EV_SCHEMA    schema_version 0 or newer than ours (absent = 1)
 *   DK_EV_MISSING   a required field is absent (commune, seq, date, kind, fund, flow, the
 *                   fields a kind needs, target_seq, body)
 *   DK_EV_COMMUNE   commune not 1..99999, or not rules->commune when that is set
 *   DK_EV_RANGE     seq 0, seq / corrects_seq / void.target_seq over WIRE_MAX_SEQ, origin_key
 *                   not 16 bytes, a count over its cap or inconsistent
 *                   (areas_held > areas_total, status_done > status_total), contents not 1..31
 *   DK_EV_DATE      not a real YYYYMMDD, before 2000-01-01 or after today+1
 *   DK_EV_AREA      area over max_area (or WIRE_MAX_AREA)
 *   DK_EV_ORGANISER organiser over max_organiser
 *   DK_EV_TEXT      title/donor over 200 characters, note over 2000, invalid UTF-8, control
 *                   characters (note may hold newlines) or NUL
 *   DK_EV_MONEY     an amount of 10^15 đ or more (MONEY_MAX), or a fund amount of 0
 *   DK_EV_ENUM      an enum value this build does not know
 *   DK_EV_KIND      a field that does not belong to this kind of event (festival on a training,
 *                   households on a receipt, any body field or corrects_seq on a void...)
 *   DK_EV_LEDGER    fund rules: receipt with a purpose or without a source; spending with a
 *                   source, without a purpose, or a purpose of the other fund (1–19 only for
 *                   FOR_THE_POOR, 20–39 only for CAMPAIGN); opening balance with either
 *   DK_EV_TARGET    void target_seq >= seq, or corrects_seq >= seq / 0
 * Fields present with value 0 count as absent for "does not belong" rules (CSV zero columns).
 * A void event needs only commune, seq and void.target_seq; date is optional there, note allowed. */
int wire_check_event(const Dk__Event *ev, const wire_rules_t *rules, wire_fault_t *fault);

/* Writes a fault: code, field path (may be NULL) and a Vietnamese sentence from fmt (printf
 * style, UTF-8). For other modules that refuse events for reasons of their own (DK_EV_TARGET,
 * DK_EV_CONFLICT, DK_EV_COMMUNE at ingest), so every refusal reads the same. Returns code. */
int wire_fault_set(wire_fault_t *fault, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The Vietnamese name a commune person knows a wire field by ("fund.amount" -> "Số tiền"), or
 * NULL for an unknown path. Static string. */
const char *wire_field_label_vi(const char *field);

/* A generic Vietnamese sentence for a DK_EV_* code (never NULL; static). */
const char *wire_code_reason_vi(int code);

#endif
