/*
 * output: how the CLI shows things. Aligned text tables for people, one
 * compact JSON object per line for programs, RFC 4180 CSV for
 * spreadsheets. Text that came from other members is never written raw to
 * a terminal: control characters become '?' in tables.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, one column wide */

struct table {
    size_t ncols;
    size_t nrows, cap;
    char **cells; /* nrows * ncols, row 0 the headers if any */
    size_t *max;  /* per column, 0 for no limit */
};

struct table *table_new(size_t ncols, const char *const headers[])
{
    struct table *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    if ((t->max = calloc(ncols, sizeof(*t->max))) == NULL ||
        (headers != NULL && table_add(t, headers) == -1))
        table_free(&t);
    return t;
}

int table_add(struct table *t, const char *const cells[])
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap == 0 ? 16 : 2 * t->cap;
        char **more = realloc(t->cells, cap * t->ncols * sizeof(*more));
        if (more == NULL)
            return -1;
        t->cells = more;
        t->cap = cap;
    }
    for (size_t c = 0; c < t->ncols; c++) {
        char *copy = strdup(cells[c] != NULL ? cells[c] : "");
        if (copy == NULL) {
            while (c-- > 0)
                free(t->cells[t->nrows * t->ncols + c]);
            return -1;
        }
        t->cells[t->nrows * t->ncols + c] = copy;
    }
    t->nrows++;
    return 0;
}

void table_set_max(struct table *t, size_t col, size_t width)
{
    if (col < t->ncols)
        t->max[col] = width < 2 ? 2 : width;
}

/* Columns a UTF-8 string takes: one per code point (continuation bytes do
 * not count). Wide scripts are rare in this data; close enough. */
static size_t columns(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/* Prints s in exactly width columns (truncated with an ellipsis when
 * longer, padded unless it is the last column). */
static void put_cell(FILE *f, const char *s, size_t width, bool is_last)
{
    size_t n = columns(s), shown = 0;
    size_t keep = n > width ? width - 1 : n;

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p & 0xc0) != 0x80) {
            if (shown == keep)
                break;
            shown++;
        }
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
    }
    if (n > width)
        fputs(ELLIPSIS, f);
    if (!is_last)
        for (size_t i = (n > width ? width : n); i < width; i++)
            fputc(' ', f);
}

void table_print(const struct table *t, FILE *f)
{
    size_t *width = calloc(t->ncols, sizeof(*width));

    if (width == NULL)
        return;
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = columns(t->cells[r * t->ncols + c]);
            if (t->max[c] != 0 && n > t->max[c])
                n = t->max[c];
            if (n > width[c])
                width[c] = n;
        }
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            if (c > 0)
                fputs("  ", f);
            put_cell(f, t->cells[r * t->ncols + c], width[c], c + 1 == t->ncols);
        }
        fputc('\n', f);
    }
    free(width);
}

void table_free(struct table **tp)
{
    struct table *t;

    if (tp == NULL || (t = *tp) == NULL)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->max);
    free(t);
    *tp = NULL;
}

int output_json_line(json_t *obj)
{
    int rc = -1;

    if (obj != NULL && json_dumpf(obj, stdout, JSON_COMPACT) == 0 && fputc('\n', stdout) != EOF &&
        fflush(stdout) == 0)
        rc = 0;
    json_decref(obj);
    return rc;
}

void output_csv_field(FILE *f, const char *s)
{
    if (s == NULL)
        s = "";
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* ---- needs and offers as JSON -------------------------------------------- */

/* An enum's name, or JSON null for a value the library does not know. */
static json_t *enum_json(const char *name)
{
    return name != NULL ? json_string(name) : json_null();
}

/* json_string refuses invalid UTF-8; the library checks what it returns,
 * but a NULL here would silently drop a field, so say so instead. */
static json_t *text_json(const char *s)
{
    json_t *j = json_string(s != NULL ? s : "");

    return j != NULL ? j : json_string("(invalid UTF-8)");
}

static json_t *eur_json(uint64_t cents)
{
    char buf[32];

    cli_format_eur(cents, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *id_json(const uint8_t *id)
{
    char hex[TMBUS_ID_HEX_BYTES];

    if (id == NULL)
        return json_null();
    tmbus_id_to_hex(id, hex);
    return json_string(hex);
}

void output_need_fields(json_t *o, const struct tmbus_need *n)
{
    json_object_set_new(o, "title", text_json(n->title));
    json_object_set_new(o, "category", enum_json(tmbus_category_name(n->category)));
    json_object_set_new(o, "quantity", json_integer((json_int_t)n->quantity));
    json_object_set_new(o, "unit", text_json(n->unit));
    json_object_set_new(o, "value_eur", eur_json(n->value_cents));
    json_object_set_new(o, "priority", enum_json(tmbus_priority_name(n->priority)));
    json_object_set_new(o, "tlp", enum_json(tmbus_tlp_name(n->tlp)));
    json_object_set_new(o, "deadline", text_json(n->deadline));
    json_object_set_new(o, "beneficiary", text_json(n->beneficiary));
    json_object_set_new(o, "sector", enum_json(tmbus_sector_name(n->sector)));
    json_object_set_new(o, "description", text_json(n->description));
    json_object_set_new(o, "contact", text_json(n->contact));
}

void output_offer_fields(json_t *o, const struct tmbus_offer *f)
{
    json_object_set_new(o, "need", id_json(f->need_id));
    json_object_set_new(o, "description", text_json(f->description));
    json_object_set_new(o, "quantity", json_integer((json_int_t)f->quantity));
    json_object_set_new(o, "value_eur", eur_json(f->value_cents));
    json_object_set_new(o, "tlp", enum_json(tmbus_tlp_name(f->tlp)));
    json_object_set_new(o, "delivery_date", text_json(f->delivery_date));
    json_object_set_new(o, "conditions", text_json(f->conditions));
}

json_t *output_board_need(const struct tmbus_board_need *bn)
{
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "type", json_string("need"));
    json_object_set_new(o, "id", id_json(bn->id));
    json_object_set_new(o, "owner", text_json(bn->owner));
    json_object_set_new(o, "author_revoked", json_boolean(bn->is_author_revoked));
    json_object_set_new(o, "created_at", json_integer(bn->created_at));
    json_object_set_new(o, "status", text_json(bn->status));
    output_need_fields(o, &bn->need);
    json_object_set_new(o, "accepted_quantity", json_integer((json_int_t)bn->accepted_quantity));
    json_object_set_new(o, "delivered_quantity", json_integer((json_int_t)bn->delivered_quantity));
    return o;
}

json_t *output_board_offer(const struct tmbus_board_offer *bo)
{
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "type", json_string("offer"));
    json_object_set_new(o, "id", id_json(bo->id));
    json_object_set_new(o, "donor", text_json(bo->donor));
    json_object_set_new(o, "author_revoked", json_boolean(bo->is_author_revoked));
    json_object_set_new(o, "created_at", json_integer(bo->created_at));
    json_object_set_new(o, "status", text_json(bo->status));
    output_offer_fields(o, &bo->offer);
    return o;
}

/* ---- needs and offers as table rows -------------------------------------- */

static const char *const need_headers[] = {"ID",       "OWNER",    "PRIORITY", "CATEGORY", "TITLE",
                                           "QUANTITY", "COVERAGE", "STATUS",   "DEADLINE"};
static const char *const offer_headers[] = {"ID",       "NEED", "DONOR",  "QUANTITY",   "VALUE EUR",
                                            "DELIVERY", "TLP",  "STATUS", "DESCRIPTION"};

struct table *output_need_table(void)
{
    struct table *t = table_new(sizeof(need_headers) / sizeof(need_headers[0]), need_headers);

    if (t != NULL) {
        table_set_max(t, 1, 16);
        table_set_max(t, 4, 40);
        table_set_max(t, 5, 24);
    }
    return t;
}

struct table *output_offer_table(void)
{
    struct table *t = table_new(sizeof(offer_headers) / sizeof(offer_headers[0]), offer_headers);

    if (t != NULL) {
        table_set_max(t, 2, 16);
        table_set_max(t, 8, 48);
    }
    return t;
}

static void short_id(const uint8_t *id, char *out)
{
    char hex[TMBUS_ID_HEX_BYTES];

    if (id == NULL) {
        strcpy(out, "-");
        return;
    }
    tmbus_id_to_hex(id, hex);
    memcpy(out, hex, CLI_ID_SHORT);
    out[CLI_ID_SHORT] = '\0';
}

static const char *or_dash(const char *s)
{
    return s != NULL && *s != '\0' ? s : "-";
}

void output_author(const char *member, bool is_revoked, char *out, size_t size)
{
    snprintf(out, size, "%s%s", member, is_revoked ? " (revoked)" : "");
}

int output_need_row(struct table *t, const struct tmbus_board_need *bn)
{
    char id[CLI_ID_SHORT + 1], qty[TMBUS_FIELD_MAX + 32], cov[48], owner[CLI_OWNER_CELL];
    const struct tmbus_need *n = &bn->need;

    short_id(bn->id, id);
    output_author(bn->owner, bn->is_author_revoked, owner, sizeof(owner));
    if (n->unit != NULL && *n->unit != '\0')
        snprintf(qty, sizeof(qty), "%llu %s", (unsigned long long)n->quantity, n->unit);
    else
        snprintf(qty, sizeof(qty), "%llu", (unsigned long long)n->quantity);
    snprintf(cov, sizeof(cov), "%llu/%llu", (unsigned long long)bn->accepted_quantity,
             (unsigned long long)n->quantity);
    const char *cells[] = {id,
                           owner,
                           or_dash(tmbus_priority_name(n->priority)),
                           or_dash(tmbus_category_name(n->category)),
                           n->title,
                           qty,
                           cov,
                           or_dash(bn->status),
                           or_dash(n->deadline)};
    return table_add(t, cells);
}

int output_offer_row(struct table *t, const struct tmbus_board_offer *bo)
{
    char id[CLI_ID_SHORT + 1], need[CLI_ID_SHORT + 1], qty[32], eur[32], donor[CLI_OWNER_CELL];
    const struct tmbus_offer *f = &bo->offer;

    short_id(bo->id, id);
    output_author(bo->donor, bo->is_author_revoked, donor, sizeof(donor));
    short_id(f->need_id, need);
    snprintf(qty, sizeof(qty), "%llu", (unsigned long long)f->quantity);
    cli_format_eur(f->value_cents, eur, sizeof(eur));
    const char *cells[] = {id,
                           need,
                           donor,
                           qty,
                           eur,
                           or_dash(f->delivery_date),
                           or_dash(tmbus_tlp_name(f->tlp)),
                           or_dash(bo->status),
                           f->description};
    return table_add(t, cells);
}

void output_text(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s != NULL ? s : ""); *p != '\0'; p++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

int cli_print_id(const struct cli *cli, const uint8_t id[TMBUS_ID_BYTES])
{
    char hex[TMBUS_ID_HEX_BYTES];

    tmbus_id_to_hex(id, hex);
    if (cli->is_json ? output_json_line(json_pack("{s:s}", "id", hex)) == -1
                     : printf("%s\n", hex) < 0)
        return cli_fail(CLI_EX_FAIL, "cannot write to stdout");
    return CLI_EX_OK;
}
