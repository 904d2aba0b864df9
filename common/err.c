#include "err.h"

const char *err_str(int code)
{
    switch (code) {
    case DK_OK: return "ok";
    case DK_ENOMEM: return "out of memory";
    case DK_EIO: return "input/output error";
    case DK_EINVAL: return "invalid argument or input";
    case DK_ENOTFOUND: return "not found";
    case DK_EEXIST: return "already exists";
    case DK_EAGAIN: return "try again";
    case DK_ECONFIG: return "configuration error";
    case DK_ESTORE: return "store (LMDB) error";
    case DK_ENET: return "network error";
    case DK_ETOOBIG: return "too big";
    case DK_EDECODE: return "cannot decode";
    case DK_EAUTH: return "not authorised";
    case DK_ECLOSED: return "closed";
    case DK_ETIMEOUT: return "timed out";
    case DK_EFULL: return "store full";
    case DK_EMISMATCH: return "mismatch";
    case DK_EV_SCHEMA: return "unsupported schema version";
    case DK_EV_MISSING: return "required field missing";
    case DK_EV_RANGE: return "value out of range";
    case DK_EV_ENUM: return "unknown enum value";
    case DK_EV_DATE: return "invalid date";
    case DK_EV_TEXT: return "invalid text";
    case DK_EV_MONEY: return "invalid money amount";
    case DK_EV_KIND: return "field not allowed for this kind";
    case DK_EV_COMMUNE: return "commune not allowed";
    case DK_EV_TARGET: return "corrected or voided event not found";
    case DK_EV_CONFLICT: return "sequence reused with different content";
    case DK_EV_AREA: return "residential area out of range";
    case DK_EV_ORGANISER: return "unknown organiser";
    case DK_EV_LEDGER: return "fund ledger rule broken";
    default: return "unknown error";
    }
}
