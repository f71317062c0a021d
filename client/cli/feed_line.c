/*
 * feed_line: the strict decoder of one tmbus import line, see feed_line.h.
 * It owns the field lists of the feed format (what export writes, import
 * reads back) and the reasons a line is refused; it never talks to the
 * node, so that --dry-run, the import itself and the fuzzer all run the
 * same checks. Money is a decimal string of EUR, never a float.
 */
#include "feed_line.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"

/* The reason a line is rejected: filled by the first check that fails. */
struct line_error {
    char why[FEED_LINE_WHY_MAX];
};

/* Fields each line type may carry. Those after the posting fields are
 * what export adds (read-only board facts): import accepts and ignores
 * them, so that an export reads back. */
static const char *const need_fields[] = {"type",
                                          "title",
                                          "category",
                                          "quantity",
                                          "unit",
                                          "value_eur",
                                          "priority",
                                          "tlp",
                                          "deadline",
                                          "beneficiary",
                                          "sector",
                                          "description",
                                          "contact",
                                          "to",
                                          "id",
                                          "owner",
                                          "status",
                                          "created_at",
                                          "accepted_quantity",
                                          "delivered_quantity",
                                          "author_revoked",
                                          NULL};
static const char *const offer_fields[] = {
    "type",          "need",           "description", "quantity", "value_eur", "tlp",
    "delivery_date", "conditions",     "to",          "id",       "donor",     "status",
    "created_at",    "author_revoked", NULL};

__attribute__((format(printf, 2, 3))) static int reject(struct line_error *e, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(e->why, sizeof(e->why), fmt, ap);
    va_end(ap);
    return -1;
}

static bool is_listed(const char *const *list, const char *name)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

/* An optional string field: NULL when absent or null. */
static int get_string(json_t *o, const char *name, bool is_required, const char **out,
                      struct line_error *e)
{
    json_t *v = json_object_get(o, name);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return is_required ? reject(e, "missing field '%s'", name) : 0;
    if (!json_is_string(v))
        return reject(e, "field '%s' must be a string", name);
    /* A NUL inside would cut the text short without a word. */
    if (strlen(json_string_value(v)) != json_string_length(v))
        return reject(e, "field '%s' holds a NUL character", name);
    *out = json_string_value(v);
    if (is_required && **out == '\0')
        return reject(e, "field '%s' must not be empty", name);
    return 0;
}

static int get_enum(json_t *o, const char *name, bool is_required,
                    int (*parse)(const char *, int *), const char *(*names)(void), int *out,
                    struct line_error *e)
{
    const char *s;

    *out = 0;
    if (get_string(o, name, is_required, &s, e) == -1)
        return -1;
    if (s == NULL || *s == '\0')
        return 0;
    if (parse(s, out) != TMBUS_OK)
        return reject(e, "field '%s': '%.64s' is not one of: %s", name, s, names());
    return 0;
}

static int get_quantity(json_t *o, struct line_error *e, uint64_t *out)
{
    json_t *v = json_object_get(o, "quantity");

    if (v == NULL || json_is_null(v))
        return reject(e, "missing field 'quantity'");
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return reject(e, "field 'quantity' must be a positive whole number");
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* value_eur: a string "1234.56" (as export writes it), or a whole number
 * of EUR. A JSON real is refused: binary floating point cannot hold cents
 * exactly. */
static int get_eur(json_t *o, struct line_error *e, uint64_t *out)
{
    json_t *v = json_object_get(o, "value_eur");
    const char *why;

    if (v == NULL || json_is_null(v))
        return reject(e, "missing field 'value_eur'");
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return reject(e, "field 'value_eur' cannot be negative");
        if ((uint64_t)json_integer_value(v) > UINT64_MAX / 100)
            return reject(e, "field 'value_eur' is too large");
        *out = (uint64_t)json_integer_value(v) * 100;
        return 0;
    }
    if (!json_is_string(v))
        return reject(e, "field 'value_eur' must be a string like \"1234.56\" (a JSON number with "
                         "a fraction is not exact)");
    if (cli_parse_eur(json_string_value(v), out, &why) == -1)
        return reject(e, "field 'value_eur': '%.64s': %s", json_string_value(v), why);
    return 0;
}

static int get_date(json_t *o, const char *name, const char **out, struct line_error *e)
{
    if (get_string(o, name, false, out, e) == -1)
        return -1;
    if (*out != NULL && **out != '\0' && !date_is_day(*out))
        return reject(e, "field '%s': '%.64s' is not a date YYYY-MM-DD", name, *out);
    return 0;
}

/* "to": "all" (the default when absent) or an array of member ids. The
 * names point into o. */
static int get_to(json_t *o, struct cli_to *to, struct line_error *e)
{
    json_t *v = json_object_get(o, "to"), *item;
    size_t i;

    memset(to, 0, sizeof(*to));
    if (v == NULL || json_is_null(v) ||
        (json_is_string(v) && strcmp(json_string_value(v), "all") == 0)) {
        to->all = true;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > TMBUS_MAX_RECIPIENTS)
        return reject(e, "field 'to' must be \"all\" or an array of 1 to %d member ids",
                      TMBUS_MAX_RECIPIENTS);
    if ((to->names = calloc(json_array_size(v) + 1, sizeof(*to->names))) == NULL)
        return reject(e, "out of memory");
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item) || json_string_length(item) == 0)
            return reject(e, "field 'to' must hold member ids (non-empty strings)");
        to->names[to->n++] = (char *)(uintptr_t)json_string_value(item);
    }
    return 0;
}

static int check_fields(json_t *o, const char *const *allowed, const char *type, const char *posted,
                        struct line_error *e)
{
    const char *key;
    json_t *v;

    json_object_foreach(o, key, v)
    {
        (void)v;
        if (!is_listed(allowed, key))
            return reject(e, "unknown field '%.64s' in a %s (fields: %s)", key, type, posted);
    }
    return 0;
}

static bool is_hex(const char *s)
{
    return *s != '\0' && strspn(s, "0123456789abcdefABCDEF") == strlen(s);
}

static int decode_need(json_t *o, struct feed_line *l, struct line_error *e)
{
    struct tmbus_need *n = &l->need;

    if (check_fields(o, need_fields, "need", FEED_NEED_FIELDS, e) == -1 ||
        get_string(o, "title", true, &n->title, e) == -1 ||
        get_enum(o, "category", true, tmbus_category_parse, tmbus_category_names, &n->category,
                 e) == -1 ||
        get_quantity(o, e, &n->quantity) == -1 || get_string(o, "unit", true, &n->unit, e) == -1 ||
        get_eur(o, e, &n->value_cents) == -1 ||
        get_enum(o, "priority", true, tmbus_priority_parse, tmbus_priority_names, &n->priority,
                 e) == -1 ||
        get_enum(o, "tlp", true, tmbus_tlp_parse, tmbus_tlp_names, &n->tlp, e) == -1 ||
        get_date(o, "deadline", &n->deadline, e) == -1 ||
        get_string(o, "beneficiary", false, &n->beneficiary, e) == -1 ||
        get_enum(o, "sector", false, tmbus_sector_parse, tmbus_sector_names, &n->sector, e) == -1 ||
        get_string(o, "description", false, &n->description, e) == -1 ||
        get_string(o, "contact", false, &n->contact, e) == -1 || get_to(o, &l->to, e) == -1)
        return -1;
    if (tmbus_need_validate(n, e->why, sizeof(e->why)) != TMBUS_OK)
        return -1;
    return 0;
}

static int decode_offer(json_t *o, struct feed_line *l, struct line_error *e)
{
    struct tmbus_offer *f = &l->offer;
    const char *need;

    if (check_fields(o, offer_fields, "offer", FEED_OFFER_FIELDS, e) == -1 ||
        get_string(o, "need", false, &need, e) == -1 ||
        get_string(o, "description", true, &f->description, e) == -1 ||
        get_quantity(o, e, &f->quantity) == -1 || get_eur(o, e, &f->value_cents) == -1 ||
        get_enum(o, "tlp", false, tmbus_tlp_parse, tmbus_tlp_names, &f->tlp, e) == -1 ||
        get_date(o, "delivery_date", &f->delivery_date, e) == -1 ||
        get_string(o, "conditions", false, &f->conditions, e) == -1 || get_to(o, &l->to, e) == -1)
        return -1;
    if (need != NULL && *need == '\0')
        need = NULL; /* a catalogue offer, answering no need */
    if (need == NULL) {
        if (f->tlp == 0)
            return reject(e, "field 'tlp' is required for a catalogue offer (one without 'need')");
        return tmbus_offer_validate(f, e->why, sizeof(e->why)) == TMBUS_OK ? 0 : -1;
    }
    if (!is_hex(need) || strlen(need) < CLI_ID_PREFIX_MIN || strlen(need) > CLI_ID_HEX)
        return reject(e,
                      "field 'need': '%.80s' is not a need id (64 hex digits, or a unique "
                      "prefix of at least %d)",
                      need, CLI_ID_PREFIX_MIN);
    l->need_ref = need;
    /* Without the need, check the rest against a stand-in for it. */
    static const uint8_t placeholder[TMBUS_ID_BYTES] = {1};
    struct tmbus_offer check = *f;
    check.need_id = placeholder;
    if (check.tlp == 0)
        check.tlp = TMBUS_TLP_AMBER;
    return tmbus_offer_validate(&check, e->why, sizeof(e->why)) == TMBUS_OK ? 0 : -1;
}

int feed_line_decode(const char *text, size_t len, struct feed_line *out, char *why, size_t whylen)
{
    struct line_error e = {""};
    json_error_t jerr;
    const char *type;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (memchr(text, '\0', len) != NULL) {
        reject(&e, "the line holds a NUL byte");
        goto out;
    }
    /* JSON_REJECT_DUPLICATES: {"tlp":"red","tlp":"clear"} must not pass
     * as whichever one a parser happens to keep. */
    if ((out->json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
        reject(&e, "malformed JSON at column %d: %s", jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(out->json)) {
        reject(&e, "not a JSON object");
        goto out;
    }
    if (get_string(out->json, "type", true, &type, &e) == -1)
        goto out;
    if (strcmp(type, "need") == 0) {
        out->kind = FEED_LINE_NEED;
        rc = decode_need(out->json, out, &e);
    } else if (strcmp(type, "offer") == 0) {
        out->kind = FEED_LINE_OFFER;
        rc = decode_offer(out->json, out, &e);
    } else {
        reject(&e, "field 'type': '%.32s' is not one of: need, offer", type);
    }
out:
    if (rc == -1) {
        feed_line_free(out);
        snprintf(why, whylen, "%s", e.why);
    }
    return rc;
}

void feed_line_free(struct feed_line *l)
{
    free(l->to.names);
    json_decref(l->json);
    memset(l, 0, sizeof(*l));
}
