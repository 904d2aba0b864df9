/* err — the project's error codes.
 *
 * Every function that can fail returns int: 0 ok, a negative DK_E* code on failure. Foreign codes
 * (errno, LMDB, libuv, libzmq) are mapped at the module that calls the foreign library; the original
 * detail goes to the log line, not into the code. Codes are stable: they travel to communes in Ack
 * results (EventResult.code), so a number is never reused for another meaning. */
#ifndef DK_ERR_H
#define DK_ERR_H

enum {
    DK_OK = 0,
    /* generic runtime failures */
    DK_ENOMEM = -1,       /* out of memory (normally we abort through xmalloc instead) */
    DK_EIO = -2,          /* a file or disk operation failed */
    DK_EINVAL = -3,       /* bad argument or bad input in general */
    DK_ENOTFOUND = -4,    /* the thing asked for does not exist */
    DK_EEXIST = -5,       /* it exists already */
    DK_EAGAIN = -6,       /* try again later (queue full, peer busy) */
    DK_ECONFIG = -7,      /* configuration error */
    DK_ESTORE = -8,       /* LMDB failure */
    DK_ENET = -9,         /* ZeroMQ / network failure */
    DK_ETOOBIG = -10,     /* a frame or value larger than allowed */
    DK_EDECODE = -11,     /* bytes that do not decode as the expected message */
    DK_EAUTH = -12,       /* the peer is not allowed to do this */
    DK_ECLOSED = -13,     /* the object is closing or closed */
    DK_ETIMEOUT = -14,    /* a deadline passed */
    DK_EFULL = -15,       /* the store is full and cannot grow */
    DK_EMISMATCH = -16,   /* a recount or check found a difference */

    /* event validation (common/wire.c). These travel back to communes. */
    DK_EV_SCHEMA = -100,     /* schema version not supported */
    DK_EV_MISSING = -101,    /* a required field is missing */
    DK_EV_RANGE = -102,      /* a number is out of its allowed range */
    DK_EV_ENUM = -103,       /* an unknown enum value */
    DK_EV_DATE = -104,       /* an impossible or out-of-bounds date */
    DK_EV_TEXT = -105,       /* text is not valid UTF-8, has control characters or is too long */
    DK_EV_MONEY = -106,      /* negative or absurd money amount */
    DK_EV_KIND = -107,       /* a field that does not belong to this kind of event */
    DK_EV_COMMUNE = -108,    /* event for a commune this sender may not submit for */
    DK_EV_TARGET = -109,     /* correction/void of an event that does not exist or is void */
    DK_EV_CONFLICT = -110,   /* same seq, different content than what was stored */
    DK_EV_AREA = -111,       /* residential area number out of the commune's range */
    DK_EV_ORGANISER = -112,  /* unknown member organisation */
    DK_EV_LEDGER = -113,     /* fund ledger rule broken (e.g. purpose on a receipt) */
};

/* A short English description of code, for logs. Never NULL; unknown codes give "unknown error".
 * The string is static. */
const char *err_str(int code);

#endif
