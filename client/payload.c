/*
 * payload: the names of the domain's enums, the checks a need or offer
 * must pass before it is posted, and the codec between tmbus.h's plain C
 * structs and tmbus.payload.Payload. Everything here is pure: no handle,
 * no I/O, no global state, so all of it is thread-safe. Payloads may be
 * TLP:AMBER or RED: every buffer and decoded message is wiped before it
 * is freed.
 */
#include "payload.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

/* ---- names -------------------------------------------------------------- */

/* Tables indexed by the wire value; index 0 ("unspecified") is NULL. */
static const char *const tlp_table[] = {NULL, "clear", "green", "amber", "amber+strict", "red"};
static const char *const sector_table[] = {
    NULL, "energy", "telecom", "government", "finance", "health", "transport", "water", "other"};
static const char *const category_table[] = {NULL,
                                             "software-licences",
                                             "hardware",
                                             "malware-detection",
                                             "threat-prevention",
                                             "incident-response",
                                             "training",
                                             "connectivity",
                                             "advisory",
                                             "other"};
static const char *const priority_table[] = {NULL, "critical", "high", "medium", "low"};
static const char *const need_status_table[] = {NULL,      "open",   "partially_covered",
                                                "covered", "closed", "withdrawn"};
static const char *const offer_status_table[] = {NULL,        "proposed",  "accepted", "declined",
                                                 "delivered", "confirmed", "withdrawn"};
static const char *const need_action_table[] = {NULL, "edit", "close", "withdraw"};
static const char *const offer_action_table[] = {NULL,      "accept",  "decline",
                                                 "deliver", "confirm", "withdraw"};
static const char *const receipt_state_table[] = {NULL, "delivered", "rejected"};
static const char *const kind_table[] = {"need", "offer", "need_update", "offer_update", "receipt"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_in(const char *const *table, size_t n, int value)
{
    return value >= 1 && (size_t)value < n ? table[value] : NULL;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Case-insensitive, with '-' and '_' alike, so that "Partially-Covered"
 * and "software_licences" are found. */
static bool is_same_name(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        int x = *a == '_' ? '-' : lower((unsigned char)*a);
        int y = *b == '_' ? '-' : lower((unsigned char)*b);
        if (x != y)
            return false;
    }
    return *a == '\0' && *b == '\0';
}

static int parse_in(const char *const *table, size_t n, const char *name, int *out)
{
    if (name == NULL || out == NULL)
        return TMBUS_EINVALID;
    for (size_t i = 1; i < n; i++) {
        if (is_same_name(name, table[i])) {
            *out = (int)i;
            return TMBUS_OK;
        }
    }
    return TMBUS_EINVALID;
}

#define NAMED_ENUM(prefix, table, list)                                                            \
    const char *tmbus_##prefix##_name(int value)                                                   \
    {                                                                                              \
        return name_in(table, COUNT(table), value);                                                \
    }                                                                                              \
    int tmbus_##prefix##_parse(const char *name, int *out)                                         \
    {                                                                                              \
        return parse_in(table, COUNT(table), name, out);                                           \
    }                                                                                              \
    const char *tmbus_##prefix##_names(void)                                                       \
    {                                                                                              \
        return list;                                                                               \
    }

NAMED_ENUM(sector, sector_table,
           "energy, telecom, government, finance, health, transport, water, other")
NAMED_ENUM(category, category_table,
           "software-licences, hardware, malware-detection, threat-prevention, "
           "incident-response, training, connectivity, advisory, other")
NAMED_ENUM(priority, priority_table, "critical, high, medium, low")
NAMED_ENUM(need_status, need_status_table, "open, partially_covered, covered, closed, withdrawn")
NAMED_ENUM(offer_status, offer_status_table,
           "proposed, accepted, declined, delivered, confirmed, withdrawn")
NAMED_ENUM(need_action, need_action_table, "edit, close, withdraw")
NAMED_ENUM(offer_action, offer_action_table, "accept, decline, deliver, confirm, withdraw")

const char *tmbus_tlp_name(int tlp)
{
    return name_in(tlp_table, COUNT(tlp_table), tlp);
}

int tmbus_tlp_parse(const char *name, int *out)
{
    /* People write "TLP:AMBER+STRICT", as TLP 2.0 itself does. */
    if (name != NULL && strncasecmp(name, "tlp:", 4) == 0)
        name += 4;
    return parse_in(tlp_table, COUNT(tlp_table), name, out);
}

const char *tmbus_tlp_names(void)
{
    return "clear, green, amber, amber+strict, red";
}

const char *tmbus_receipt_state_name(int state)
{
    return name_in(receipt_state_table, COUNT(receipt_state_table), state);
}

int tmbus_kind_parse(const char *name, const char **out)
{
    if (name == NULL || out == NULL)
        return TMBUS_EINVALID;
    for (size_t i = 0; i < COUNT(kind_table); i++) {
        if (is_same_name(name, kind_table[i])) {
            *out = kind_table[i];
            return TMBUS_OK;
        }
    }
    return TMBUS_EINVALID;
}

const char *tmbus_kind_names(void)
{
    return "need, offer, need_update, offer_update, receipt";
}

/* ---- ids ---------------------------------------------------------------- */

void tmbus_id_to_hex(const uint8_t id[TMBUS_ID_BYTES], char out[TMBUS_ID_HEX_BYTES])
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < TMBUS_ID_BYTES; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 0xf];
    }
    out[2 * TMBUS_ID_BYTES] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)lower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int tmbus_id_from_hex(const char *hex, uint8_t out[TMBUS_ID_BYTES])
{
    uint8_t id[TMBUS_ID_BYTES];

    if (hex == NULL || out == NULL || strlen(hex) != 2 * TMBUS_ID_BYTES)
        return TMBUS_EINVALID;
    for (size_t i = 0; i < TMBUS_ID_BYTES; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return TMBUS_EINVALID;
        id[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, id, sizeof(id));
    return TMBUS_OK;
}

/* ---- checks ------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int invalid(char *why, size_t size, const char *fmt,
                                                         ...)
{
    va_list ap;

    if (why != NULL && size > 0) {
        va_start(ap, fmt);
        vsnprintf(why, size, fmt, ap);
        va_end(ap);
    }
    return TMBUS_EINVALID;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF
 * (what protobuf's other implementations demand of a string field). */
static bool is_utf8(const uint8_t *s, size_t len)
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

/* A text field: at most max bytes of UTF-8 without control characters;
 * free text may hold tabs and line breaks, a one-line field not. */
static int check_text(const char *field, const char *s, size_t max, bool is_one_line,
                      bool is_required, char *why, size_t why_size)
{
    size_t len = s != NULL ? strlen(s) : 0;

    if (len == 0)
        return is_required ? invalid(why, why_size, "%s is required", field) : TMBUS_OK;
    if (len > max)
        return invalid(why, why_size, "%s is %zu bytes long; at most %zu are allowed", field, len,
                       max);
    if (!is_utf8((const uint8_t *)s, len))
        return invalid(why, why_size, "%s is not valid UTF-8", field);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool is_break = c == '\n' || c == '\r';
        if (c == 0x7f || (c < 0x20 && c != '\t' && (is_one_line || !is_break)))
            return invalid(why, why_size, "%s must be %s without control characters", field,
                           is_one_line ? "one line" : "text");
    }
    return TMBUS_OK;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "YYYY-MM-DD", a day that exists, years 1970 to 9999. */
static bool is_date(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    if (strlen(s) != TMBUS_DATE_BYTES || s[4] != '-' || s[7] != '-')
        return false;
    for (size_t i = 0; i < TMBUS_DATE_BYTES; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1970 || m < 1 || m > 12 || d < 1)
        return false;
    return d <= days[m - 1] + (m == 2 && is_leap(y));
}

static int check_date(const char *field, const char *s, char *why, size_t why_size)
{
    if (s == NULL || *s == '\0' || is_date(s))
        return TMBUS_OK;
    return invalid(why, why_size, "%s must be a date as YYYY-MM-DD", field);
}

/* An enum field: unset is allowed only when is_required is false. */
static int check_enum(const char *field, int value, const char *(*name)(int),
                      const char *(*names)(void), bool is_required, char *why, size_t why_size)
{
    if (value == 0 && !is_required)
        return TMBUS_OK;
    if (value == 0)
        return invalid(why, why_size, "%s is required (one of %s)", field, names());
    if (name(value) == NULL)
        return invalid(why, why_size, "%s %d is not one of %s", field, value, names());
    return TMBUS_OK;
}

static bool is_set(const char *s)
{
    return s != NULL && *s != '\0';
}

int payload_check_need(const struct tmbus_need *n, bool is_edit, char *why, size_t why_size)
{
    bool req = !is_edit;
    int rc;

    if (n == NULL)
        return invalid(why, why_size, "no need given");
    if ((rc = check_text("beneficiary", n->beneficiary, TMBUS_FIELD_MAX, true, false, why,
                         why_size)) != TMBUS_OK ||
        (rc = check_enum("sector", n->sector, tmbus_sector_name, tmbus_sector_names, req, why,
                         why_size)) != TMBUS_OK ||
        (rc = check_enum("category", n->category, tmbus_category_name, tmbus_category_names, req,
                         why, why_size)) != TMBUS_OK ||
        (rc = check_text("title", n->title, TMBUS_TITLE_MAX, true, req, why, why_size)) !=
            TMBUS_OK ||
        (rc = check_text("description", n->description, TMBUS_TEXT_MAX, false, false, why,
                         why_size)) != TMBUS_OK)
        return rc;
    if (req && n->quantity == 0)
        return invalid(why, why_size, "quantity must be 1 or more");
    if (n->quantity > INT64_MAX || n->value_cents > INT64_MAX)
        return invalid(why, why_size, "quantity and value must be at most %lld",
                       (long long)INT64_MAX);
    if ((rc = check_text("unit", n->unit, TMBUS_UNIT_MAX, true, false, why, why_size)) !=
            TMBUS_OK ||
        (rc = check_enum("priority", n->priority, tmbus_priority_name, tmbus_priority_names, req,
                         why, why_size)) != TMBUS_OK ||
        (rc = check_date("deadline", n->deadline, why, why_size)) != TMBUS_OK ||
        (rc = check_enum("tlp", n->tlp, tmbus_tlp_name, tmbus_tlp_names, req, why, why_size)) !=
            TMBUS_OK ||
        (rc = check_text("contact", n->contact, TMBUS_FIELD_MAX, true, false, why, why_size)) !=
            TMBUS_OK)
        return rc;
    if (is_edit && !is_set(n->beneficiary) && n->sector == 0 && n->category == 0 &&
        !is_set(n->title) && !is_set(n->description) && n->quantity == 0 && !is_set(n->unit) &&
        n->value_cents == 0 && n->priority == 0 && !is_set(n->deadline) && n->tlp == 0 &&
        !is_set(n->contact))
        return invalid(why, why_size, "an edit must change at least one field");
    return TMBUS_OK;
}

int tmbus_need_validate(const struct tmbus_need *need, char *why, size_t why_size)
{
    if (why != NULL && why_size > 0)
        why[0] = '\0';
    return payload_check_need(need, false, why, why_size);
}

int tmbus_offer_validate(const struct tmbus_offer *o, char *why, size_t why_size)
{
    int rc;

    if (why != NULL && why_size > 0)
        why[0] = '\0';
    if (o == NULL)
        return invalid(why, why_size, "no offer given");
    if ((rc = check_text("description", o->description, TMBUS_TEXT_MAX, false, false, why,
                         why_size)) != TMBUS_OK)
        return rc;
    if (o->quantity == 0)
        return invalid(why, why_size, "quantity must be 1 or more");
    if (o->quantity > INT64_MAX || o->value_cents > INT64_MAX)
        return invalid(why, why_size, "quantity and value must be at most %lld",
                       (long long)INT64_MAX);
    if ((rc = check_date("delivery date", o->delivery_date, why, why_size)) != TMBUS_OK ||
        (rc = check_text("conditions", o->conditions, TMBUS_CONDITIONS_MAX, false, false, why,
                         why_size)) != TMBUS_OK ||
        (rc = check_enum("tlp", o->tlp, tmbus_tlp_name, tmbus_tlp_names, true, why, why_size)) !=
            TMBUS_OK)
        return rc;
    return TMBUS_OK;
}

int payload_check_reason(const char *reason, char *why, size_t why_size)
{
    return check_text("reason", reason, TMBUS_REASON_MAX, true, false, why, why_size);
}

/* ---- encoding ----------------------------------------------------------- */

/* protobuf-c wants char * for string fields it only reads when packing. */
static char *text(const char *s)
{
    return (char *)(s != NULL ? s : "");
}

static void fill_need(Tmbus__Payload__Need *m, const struct tmbus_need *n)
{
    m->beneficiary = text(n->beneficiary);
    m->sector = (Tmbus__Payload__Sector)n->sector;
    m->category = (Tmbus__Payload__Category)n->category;
    m->title = text(n->title);
    m->description = text(n->description);
    m->quantity = n->quantity;
    m->unit = text(n->unit);
    m->value_cents = n->value_cents;
    m->priority = (Tmbus__Payload__Priority)n->priority;
    m->deadline = text(n->deadline);
    m->tlp = (Tmbus__Payload__Tlp)n->tlp;
    m->contact = text(n->contact);
}

static int pack(const Tmbus__Payload__Payload *p, uint8_t **out, size_t *len, char *why,
                size_t why_size)
{
    size_t size = tmbus__payload__payload__get_packed_size(p);

    if (size > TMBUS_MAX_PAYLOAD)
        return invalid(why, why_size, "the payload would be %zu bytes; at most %d are allowed",
                       size, TMBUS_MAX_PAYLOAD);
    if ((*out = malloc(size > 0 ? size : 1)) == NULL) {
        invalid(why, why_size, "out of memory");
        return TMBUS_ENOMEM;
    }
    *len = tmbus__payload__payload__pack(p, *out);
    return TMBUS_OK;
}

int payload_encode_need(const struct tmbus_need *n, uint8_t **out, size_t *len, char *why,
                        size_t why_size)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Need m = TMBUS__PAYLOAD__NEED__INIT;
    int rc;

    *out = NULL;
    *len = 0;
    if ((rc = payload_check_need(n, false, why, why_size)) != TMBUS_OK)
        return rc;
    fill_need(&m, n);
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &m;
    return pack(&p, out, len, why, why_size);
}

int payload_encode_offer(const struct tmbus_offer *o, uint8_t **out, size_t *len, char *why,
                         size_t why_size)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Offer m = TMBUS__PAYLOAD__OFFER__INIT;
    int rc;

    *out = NULL;
    *len = 0;
    if ((rc = tmbus_offer_validate(o, why, why_size)) != TMBUS_OK)
        return rc;
    if (o->need_id != NULL) {
        m.need_id.data = (uint8_t *)o->need_id;
        m.need_id.len = TMBUS_ID_BYTES;
    }
    m.description = text(o->description);
    m.quantity = o->quantity;
    m.value_cents = o->value_cents;
    m.delivery_date = text(o->delivery_date);
    m.conditions = text(o->conditions);
    m.tlp = (Tmbus__Payload__Tlp)o->tlp;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER;
    p.offer = &m;
    return pack(&p, out, len, why, why_size);
}

int payload_encode_need_update(const uint8_t *need_id, int action, const struct tmbus_need *edit,
                               const char *reason, uint8_t **out, size_t *len, char *why,
                               size_t why_size)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__NeedUpdate u = TMBUS__PAYLOAD__NEED_UPDATE__INIT;
    Tmbus__Payload__Need m = TMBUS__PAYLOAD__NEED__INIT;
    int rc;

    *out = NULL;
    *len = 0;
    if (need_id == NULL)
        return invalid(why, why_size, "which need? (no need id given)");
    if (tmbus_need_action_name(action) == NULL)
        return invalid(why, why_size, "action %d is not one of %s", action,
                       tmbus_need_action_names());
    if (action == TMBUS_NEED_EDIT && edit == NULL)
        return invalid(why, why_size, "an edit needs the new field values");
    if (action != TMBUS_NEED_EDIT && edit != NULL)
        return invalid(why, why_size, "only an edit carries field values");
    if ((rc = payload_check_reason(reason, why, why_size)) != TMBUS_OK)
        return rc;
    if (edit != NULL) {
        if ((rc = payload_check_need(edit, true, why, why_size)) != TMBUS_OK)
            return rc;
        fill_need(&m, edit);
        u.need = &m;
    }
    u.need_id.data = (uint8_t *)need_id;
    u.need_id.len = TMBUS_ID_BYTES;
    u.action = (Tmbus__Payload__NeedUpdate__Action)action;
    u.reason = text(reason);
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE;
    p.need_update = &u;
    return pack(&p, out, len, why, why_size);
}

int payload_encode_offer_update(const uint8_t *offer_id, int action, const char *reason,
                                uint8_t **out, size_t *len, char *why, size_t why_size)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__OfferUpdate u = TMBUS__PAYLOAD__OFFER_UPDATE__INIT;
    int rc;

    *out = NULL;
    *len = 0;
    if (offer_id == NULL)
        return invalid(why, why_size, "which offer? (no offer id given)");
    if (tmbus_offer_action_name(action) == NULL)
        return invalid(why, why_size, "action %d is not one of %s", action,
                       tmbus_offer_action_names());
    if ((rc = payload_check_reason(reason, why, why_size)) != TMBUS_OK)
        return rc;
    u.offer_id.data = (uint8_t *)offer_id;
    u.offer_id.len = TMBUS_ID_BYTES;
    u.action = (Tmbus__Payload__OfferUpdate__Action)action;
    u.reason = text(reason);
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE;
    p.offer_update = &u;
    return pack(&p, out, len, why, why_size);
}

/* ---- decoding ----------------------------------------------------------- */

Tmbus__Payload__Payload *payload_decode(const uint8_t *data, size_t len)
{
    if (data == NULL || len == 0 || len > TMBUS_MAX_PAYLOAD)
        return NULL;
    return tmbus__payload__payload__unpack(NULL, len, data);
}

const char *payload_kind(const Tmbus__Payload__Payload *p)
{
    if (p == NULL)
        return NULL;
    switch (p->kind_case) {
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED:
        return p->need != NULL ? kind_table[0] : NULL;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER:
        return p->offer != NULL ? kind_table[1] : NULL;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE:
        return p->need_update != NULL ? kind_table[2] : NULL;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE:
        return p->offer_update != NULL ? kind_table[3] : NULL;
    case TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT:
        return p->receipt != NULL ? kind_table[4] : NULL;
    default:
        return NULL;
    }
}

void payload_need_view(const Tmbus__Payload__Need *m, struct tmbus_need *out)
{
    out->beneficiary = m->beneficiary;
    out->sector = (int)m->sector;
    out->category = (int)m->category;
    out->title = m->title;
    out->description = m->description;
    out->quantity = m->quantity;
    out->unit = m->unit;
    out->value_cents = m->value_cents;
    out->priority = (int)m->priority;
    out->deadline = m->deadline;
    out->tlp = (int)m->tlp;
    out->contact = m->contact;
}

void payload_offer_view(const Tmbus__Payload__Offer *m, struct tmbus_offer *out)
{
    out->need_id = m->need_id.len == TMBUS_ID_BYTES ? m->need_id.data : NULL;
    out->description = m->description;
    out->quantity = m->quantity;
    out->value_cents = m->value_cents;
    out->delivery_date = m->delivery_date;
    out->conditions = m->conditions;
    out->tlp = (int)m->tlp;
}

/* ---- wiping ------------------------------------------------------------- */

static void wipe_value(const ProtobufCFieldDescriptor *f, void *member)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        char *s = *(char **)member;
        /* Unset strings point at protobuf-c's shared, read-only "". */
        if (s != NULL && s != protobuf_c_empty_string && *s != '\0')
            sodium_memzero(s, strlen(s));
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = member;
        if (b->data != NULL && b->len > 0)
            sodium_memzero(b->data, b->len);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        payload_wipe(*(ProtobufCMessage **)member);
        break;
    default:
        break;
    }
}

static size_t element_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 0; /* scalars hold nothing worth wiping */
    }
}

void payload_wipe(ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d;

    if (m == NULL)
        return;
    d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        uint8_t *member = (uint8_t *)m + f->offset;
        size_t size = element_size(f);

        if (size == 0)
            continue;
        /* Only the oneof member that is set holds a valid pointer. */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
            *(const uint32_t *)((const uint8_t *)m + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const uint8_t *)m + f->quantifier_offset);
            uint8_t *array = *(uint8_t **)member;
            for (size_t k = 0; array != NULL && k < n; k++)
                wipe_value(f, array + k * size);
        } else {
            wipe_value(f, member);
        }
    }
}

void payload_free(Tmbus__Payload__Payload *p)
{
    if (p == NULL)
        return;
    payload_wipe(&p->base);
    tmbus__payload__payload__free_unpacked(p, NULL);
}
