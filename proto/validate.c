/*
 * validate: field rules of tmbus.payload messages, the strictest of what
 * the client and the node each used to check on their own. Pure and
 * thread-safe; it only reads the message and writes a reason. It must
 * never copy a field's text into the reason: payloads may be TLP:RED, and
 * reasons are logged and sent back to clients.
 */
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "date.h"
#include "domain.h"
#include "wire_limits.h"

typedef Tmbus__Payload__Need Need;
typedef Tmbus__Payload__Offer Offer;

__attribute__((format(printf, 4, 5))) static enum validate_fault
fault(enum validate_fault f, char *why, size_t size, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && size > 0) {
        va_start(ap, fmt);
        vsnprintf(why, size, fmt, ap);
        va_end(ap);
    }
    return f;
}

bool validate_is_utf8(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        size_t more;
        uint32_t cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            more = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            more = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            more = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i - 1 < more)
            return false;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += more + 1;
    }
    return true;
}

enum validate_fault validate_text(const char *field, const char *s, size_t max, unsigned flags,
                                  char *why, size_t why_size)
{
    bool is_one_line = (flags & VALIDATE_ONE_LINE) != 0;
    size_t len = s != NULL ? strlen(s) : 0;

    if (len == 0)
        return (flags & VALIDATE_REQUIRED) != 0
                   ? fault(VALIDATE_BAD_FIELD, why, why_size, "%s is required", field)
                   : VALIDATE_OK;
    if (len > max)
        return fault(VALIDATE_BAD_FIELD, why, why_size,
                     "%s is %zu bytes long; at most %zu are allowed", field, len, max);
    if (!validate_is_utf8((const uint8_t *)s, len))
        return fault(VALIDATE_BAD_FIELD, why, why_size, "%s is not valid UTF-8", field);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool is_break = c == '\n' || c == '\r';
        /* C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F) include the
         * single-byte CSI that some terminals obey, so they go with C0. */
        bool is_c1 = c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] < 0xa0;
        if (c == 0x7f || is_c1 || (c < 0x20 && c != '\t' && (is_one_line || !is_break)))
            return fault(VALIDATE_BAD_FIELD, why, why_size,
                         "%s must be %s without control characters", field,
                         is_one_line ? "one line" : "text");
    }
    return VALIDATE_OK;
}

static enum validate_fault check_date(const char *field, const char *s, char *why, size_t why_size)
{
    if (s == NULL || *s == '\0' || date_is_day(s))
        return VALIDATE_OK;
    return fault(VALIDATE_BAD_FIELD, why, why_size, "%s must be a date as YYYY-MM-DD", field);
}

/* An enum field: unset is allowed only when is_required is false. */
static enum validate_fault check_enum(const char *field, enum domain_enum e, int value,
                                      bool is_required, char *why, size_t why_size)
{
    if (value == 0 && !is_required)
        return VALIDATE_OK;
    if (value == 0)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "%s is required (one of %s)", field,
                     domain_names(e));
    if (domain_name(e, value) == NULL)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "%s %d is not one of %s", field, value,
                     domain_names(e));
    return VALIDATE_OK;
}

/* Quantities and values travel as uint64 but are summed and stored as
 * signed 64-bit numbers. */
static enum validate_fault check_amounts(uint64_t quantity, uint64_t value_cents, bool is_required,
                                         char *why, size_t why_size)
{
    if (is_required && quantity == 0)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "quantity must be 1 or more");
    if (quantity > INT64_MAX || value_cents > INT64_MAX)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "quantity and value must be at most %lld",
                     (long long)INT64_MAX);
    return VALIDATE_OK;
}

static bool has_unknown(const ProtobufCMessage *m)
{
    return m != NULL && m->n_unknown_fields > 0;
}

static bool is_set(const char *s)
{
    return s != NULL && *s != '\0';
}

enum validate_fault validate_need(const Need *n, bool is_edit, char *why, size_t why_size)
{
    bool req = !is_edit;
    unsigned one_line = VALIDATE_ONE_LINE;
    enum validate_fault f;

    if (n == NULL)
        return fault(VALIDATE_MALFORMED, why, why_size, "no need given");
    if (has_unknown(&n->base))
        return fault(VALIDATE_MALFORMED, why, why_size,
                     "the need has fields this side does not know");
    if ((f = validate_text("beneficiary", n->beneficiary, WIRE_FIELD_MAX, one_line, why,
                           why_size)) != VALIDATE_OK ||
        (f = check_enum("sector", DOMAIN_SECTOR, (int)n->sector, req, why, why_size)) !=
            VALIDATE_OK ||
        (f = check_enum("category", DOMAIN_CATEGORY, (int)n->category, req, why, why_size)) !=
            VALIDATE_OK ||
        (f = validate_text("title", n->title, WIRE_TITLE_MAX,
                           one_line | (req ? VALIDATE_REQUIRED : 0), why, why_size)) !=
            VALIDATE_OK ||
        (f = validate_text("description", n->description, WIRE_DESCRIPTION_MAX, 0, why,
                           why_size)) != VALIDATE_OK ||
        (f = check_amounts(n->quantity, n->value_cents, req, why, why_size)) != VALIDATE_OK ||
        (f = validate_text("unit", n->unit, WIRE_UNIT_MAX, one_line, why, why_size)) !=
            VALIDATE_OK ||
        (f = check_enum("priority", DOMAIN_PRIORITY, (int)n->priority, req, why, why_size)) !=
            VALIDATE_OK ||
        (f = check_date("deadline", n->deadline, why, why_size)) != VALIDATE_OK ||
        (f = check_enum("tlp", DOMAIN_TLP, (int)n->tlp, req, why, why_size)) != VALIDATE_OK ||
        (f = validate_text("contact", n->contact, WIRE_FIELD_MAX, one_line, why, why_size)) !=
            VALIDATE_OK)
        return f;
    if (is_edit && !is_set(n->beneficiary) && n->sector == 0 && n->category == 0 &&
        !is_set(n->title) && !is_set(n->description) && n->quantity == 0 && !is_set(n->unit) &&
        n->value_cents == 0 && n->priority == 0 && !is_set(n->deadline) && n->tlp == 0 &&
        !is_set(n->contact))
        return fault(VALIDATE_BAD_FIELD, why, why_size, "an edit must change at least one field");
    return VALIDATE_OK;
}

enum validate_fault validate_offer(const Offer *o, char *why, size_t why_size)
{
    enum validate_fault f;

    if (o == NULL)
        return fault(VALIDATE_MALFORMED, why, why_size, "no offer given");
    if (has_unknown(&o->base))
        return fault(VALIDATE_MALFORMED, why, why_size,
                     "the offer has fields this side does not know");
    if (o->need_id.len != 0 && o->need_id.len != WIRE_ID_BYTES)
        return fault(VALIDATE_BAD_FIELD, why, why_size,
                     "the offer's need id must be empty or %d bytes", WIRE_ID_BYTES);
    if ((f = validate_text("description", o->description, WIRE_DESCRIPTION_MAX, 0, why,
                           why_size)) != VALIDATE_OK ||
        (f = check_amounts(o->quantity, o->value_cents, true, why, why_size)) != VALIDATE_OK ||
        (f = check_date("delivery date", o->delivery_date, why, why_size)) != VALIDATE_OK ||
        (f = validate_text("conditions", o->conditions, WIRE_CONDITIONS_MAX, 0, why, why_size)) !=
            VALIDATE_OK ||
        (f = check_enum("tlp", DOMAIN_TLP, (int)o->tlp, true, why, why_size)) != VALIDATE_OK)
        return f;
    return VALIDATE_OK;
}

static enum validate_fault check_reason(const char *reason, char *why, size_t why_size)
{
    return validate_text("reason", reason, WIRE_REASON_MAX, VALIDATE_ONE_LINE, why, why_size);
}

enum validate_fault validate_need_update(const Tmbus__Payload__NeedUpdate *u, char *why,
                                         size_t why_size)
{
    bool is_edit;
    enum validate_fault f;

    if (u == NULL)
        return fault(VALIDATE_MALFORMED, why, why_size, "no need update given");
    if (has_unknown(&u->base) || (u->need != NULL && has_unknown(&u->need->base)))
        return fault(VALIDATE_MALFORMED, why, why_size,
                     "the update has fields this side does not know");
    if (u->need_id.len != WIRE_ID_BYTES)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "a need update must name a %d-byte need id",
                     WIRE_ID_BYTES);
    if (domain_name(DOMAIN_NEED_ACTION, (int)u->action) == NULL)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "action %d is not one of %s",
                     (int)u->action, domain_names(DOMAIN_NEED_ACTION));
    is_edit = u->action == TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_EDIT;
    if (is_edit && u->need == NULL)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "an edit needs the new field values");
    if (!is_edit && u->need != NULL)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "only an edit carries field values");
    if ((f = check_reason(u->reason, why, why_size)) != VALIDATE_OK)
        return f;
    return is_edit ? validate_need(u->need, true, why, why_size) : VALIDATE_OK;
}

enum validate_fault validate_offer_update(const Tmbus__Payload__OfferUpdate *u, char *why,
                                          size_t why_size)
{
    if (u == NULL)
        return fault(VALIDATE_MALFORMED, why, why_size, "no offer update given");
    if (has_unknown(&u->base))
        return fault(VALIDATE_MALFORMED, why, why_size,
                     "the update has fields this side does not know");
    if (u->offer_id.len != WIRE_ID_BYTES)
        return fault(VALIDATE_BAD_FIELD, why, why_size,
                     "an offer update must name a %d-byte offer id", WIRE_ID_BYTES);
    if (domain_name(DOMAIN_OFFER_ACTION, (int)u->action) == NULL)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "action %d is not one of %s",
                     (int)u->action, domain_names(DOMAIN_OFFER_ACTION));
    return check_reason(u->reason, why, why_size);
}

enum validate_fault validate_receipt(const Tmbus__Payload__Receipt *r, char *why, size_t why_size)
{
    enum validate_fault f;

    if (r == NULL)
        return fault(VALIDATE_MALFORMED, why, why_size, "no receipt given");
    if (has_unknown(&r->base))
        return fault(VALIDATE_MALFORMED, why, why_size,
                     "the receipt has fields this side does not know");
    if (r->n_entries == 0 || r->n_entries > WIRE_RECEIPT_ENTRIES_MAX)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "a receipt holds 1 to %d entries",
                     WIRE_RECEIPT_ENTRIES_MAX);
    for (size_t i = 0; i < r->n_entries; i++) {
        const Tmbus__Payload__Receipt__Entry *e = r->entries[i];
        if (e == NULL || has_unknown(&e->base))
            return fault(VALIDATE_MALFORMED, why, why_size,
                         "receipt entry %zu is missing or has unknown fields", i);
        if (e->envelope_id.len != WIRE_ID_BYTES)
            return fault(VALIDATE_BAD_FIELD, why, why_size,
                         "receipt entry %zu must name a %d-byte envelope id", i, WIRE_ID_BYTES);
        if (domain_name(DOMAIN_RECEIPT_STATE, (int)e->state) == NULL)
            return fault(VALIDATE_BAD_FIELD, why, why_size,
                         "receipt entry %zu: state %d is not one of %s", i, (int)e->state,
                         domain_names(DOMAIN_RECEIPT_STATE));
        if ((f = check_reason(e->reason, why, why_size)) != VALIDATE_OK)
            return f;
    }
    return VALIDATE_OK;
}

enum validate_fault validate_need_share(const Tmbus__Payload__NeedShare *s, char *why,
                                        size_t why_size)
{
    if (s == NULL)
        return fault(VALIDATE_MALFORMED, why, why_size, "no need share given");
    if (has_unknown(&s->base) || (s->need != NULL && has_unknown(&s->need->base)))
        return fault(VALIDATE_MALFORMED, why, why_size,
                     "the share has fields this side does not know");
    if (s->need_id.len != WIRE_ID_BYTES)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "a need share must name a %d-byte need id",
                     WIRE_ID_BYTES);
    if (s->seq == 0 || s->seq > INT64_MAX)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "a need share's seq must be 1 to %lld",
                     (long long)INT64_MAX);
    if (s->created_at < 0)
        return fault(VALIDATE_BAD_FIELD, why, why_size,
                     "a need share's created_at must be 0 or more");
    if (s->need == NULL)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "a need share carries the need");
    if (s->need->tlp == TMBUS__PAYLOAD__TLP__TLP_RED)
        return fault(VALIDATE_BAD_FIELD, why, why_size, "a TLP:RED need is never shared");
    return validate_need(s->need, false, why, why_size);
}

enum validate_fault validate_payload(const Tmbus__Payload__Payload *p, char *why, size_t why_size)
{
    if (p == NULL)
        return fault(VALIDATE_MALFORMED, why, why_size, "no payload given");
    if (has_unknown(&p->base))
        return fault(VALIDATE_MALFORMED, why, why_size,
                     "the payload has fields this side does not know");
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED:
        return validate_need(p->need, false, why, why_size);
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        return validate_offer(p->offer, why, why_size);
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        return validate_need_update(p->need_update, why, why_size);
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE:
        return validate_offer_update(p->offer_update, why, why_size);
    case TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT:
        return validate_receipt(p->receipt, why, why_size);
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE:
        return validate_need_share(p->need_share, why, why_size);
    default:
        return fault(VALIDATE_MALFORMED, why, why_size, "the payload has no kind");
    }
}
