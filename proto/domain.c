/*
 * domain: the name tables of the wire's enums, indexed by wire value, and
 * the member id and client name rules. A table here is the only spelling
 * of its names: output, parsing, logs and the node's replies all read it.
 * Adding a value to a .proto enum means adding its name here, nowhere else.
 */
#include "domain.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "wire_limits.h"

struct table {
    const char *const *names; /* indexed by value; [0] is NULL */
    int max;
    const char *list;
};

static const char *const tlp[] = {NULL, "clear", "green", "amber", "amber+strict", "red"};
static const char *const sector[] = {NULL,     "energy",    "telecom", "government", "finance",
                                     "health", "transport", "water",   "other"};
static const char *const category[] = {NULL,
                                       "software-licences",
                                       "hardware",
                                       "malware-detection",
                                       "threat-prevention",
                                       "incident-response",
                                       "training",
                                       "connectivity",
                                       "advisory",
                                       "other"};
static const char *const priority[] = {NULL, "critical", "high", "medium", "low"};
static const char *const need_status[] = {NULL,      "open",   "partially_covered",
                                          "covered", "closed", "withdrawn"};
static const char *const offer_status[] = {NULL,        "proposed",  "accepted", "declined",
                                           "delivered", "confirmed", "withdrawn"};
static const char *const need_action[] = {NULL, "edit", "close", "withdraw"};
static const char *const offer_action[] = {NULL,      "accept",  "decline",
                                           "deliver", "confirm", "withdraw"};
static const char *const receipt_state[] = {NULL, "delivered", "rejected"};
static const char *const kind[] = {NULL,           "need",    "offer",     "need_update",
                                   "offer_update", "receipt", "need_share"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define TABLE(a, list)                                                                             \
    {                                                                                              \
        a, COUNT(a) - 1, list                                                                      \
    }

static const struct table tables[DOMAIN_ENUM_COUNT] = {
    [DOMAIN_TLP] = TABLE(tlp, "clear, green, amber, amber+strict, red"),
    [DOMAIN_SECTOR] =
        TABLE(sector, "energy, telecom, government, finance, health, transport, water, other"),
    [DOMAIN_CATEGORY] = TABLE(category, "software-licences, hardware, malware-detection, "
                                        "threat-prevention, incident-response, training, "
                                        "connectivity, advisory, other"),
    [DOMAIN_PRIORITY] = TABLE(priority, "critical, high, medium, low"),
    [DOMAIN_NEED_STATUS] =
        TABLE(need_status, "open, partially_covered, covered, closed, withdrawn"),
    [DOMAIN_OFFER_STATUS] =
        TABLE(offer_status, "proposed, accepted, declined, delivered, confirmed, withdrawn"),
    [DOMAIN_NEED_ACTION] = TABLE(need_action, "edit, close, withdraw"),
    [DOMAIN_OFFER_ACTION] = TABLE(offer_action, "accept, decline, deliver, confirm, withdraw"),
    [DOMAIN_RECEIPT_STATE] = TABLE(receipt_state, "delivered, rejected"),
    [DOMAIN_KIND] = TABLE(kind, "need, offer, need_update, offer_update, receipt, need_share"),
};

static const struct table *table_of(enum domain_enum e)
{
    return (unsigned)e < DOMAIN_ENUM_COUNT ? &tables[e] : NULL;
}

const char *domain_name(enum domain_enum e, int value)
{
    const struct table *t = table_of(e);

    return t != NULL && value >= 1 && value <= t->max ? t->names[value] : NULL;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

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

int domain_parse(enum domain_enum e, const char *name, int *out)
{
    const struct table *t = table_of(e);

    if (t == NULL || name == NULL || out == NULL)
        return -1;
    /* People write "TLP:AMBER+STRICT", as TLP 2.0 itself does. */
    if (e == DOMAIN_TLP && strncasecmp(name, "tlp:", 4) == 0)
        name += 4;
    for (int i = 1; i <= t->max; i++) {
        if (is_same_name(name, t->names[i])) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

const char *domain_names(enum domain_enum e)
{
    const struct table *t = table_of(e);

    return t != NULL ? t->list : "";
}

int domain_max(enum domain_enum e)
{
    const struct table *t = table_of(e);

    return t != NULL ? t->max : 0;
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool domain_is_member_id(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > WIRE_MEMBER_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

bool domain_is_word(const char *s, size_t max)
{
    size_t n = s != NULL ? strnlen(s, max + 1) : 0;

    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

bool domain_is_client_name(const char *s)
{
    return domain_is_word(s, WIRE_CLIENT_NAME_MAX) && s[0] != '.';
}

/* HOST of tcp://HOST:PORT, the len bytes at h. */
static bool is_tcp_host(const char *h, size_t len)
{
    if (len == 1 && h[0] == '*')
        return true;
    if (len >= 3 && h[0] == '[' && h[len - 1] == ']') {
        for (size_t i = 1; i + 1 < len; i++)
            if (!is_alnum(h[i]) && h[i] != ':' && h[i] != '.' && h[i] != '%')
                return false;
        return true;
    }
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(h[i]) && h[i] != '.' && h[i] != '-' && h[i] != '_')
            return false;
    return true;
}

int domain_check_endpoint(const char *s, char *why, size_t why_size)
{
    static const char *const others[] = {"ipc://", "inproc://"};
    const char *colon, *rest;
    unsigned long port = 0;

    for (const char *p = s; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            snprintf(why, why_size, "has a space or control character");
            return -1;
        }
    }
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        if (strncmp(s, others[i], strlen(others[i])) == 0) {
            if (s[strlen(others[i])] != '\0')
                return 0;
            snprintf(why, why_size, "names no %s after %s", i == 0 ? "path" : "name", others[i]);
            return -1;
        }
    }
    if (strncmp(s, "tcp://", 6) != 0) {
        snprintf(why, why_size, "does not start with tcp://, ipc:// or inproc://");
        return -1;
    }
    rest = s + 6;
    /* An IPv6 host has colons of its own: its port follows the ']'. */
    if (rest[0] == '[') {
        const char *close = strchr(rest, ']');
        colon = close != NULL && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strrchr(rest, ':');
    }
    if (colon == NULL) {
        snprintf(why, why_size, "has no :PORT after the host");
        return -1;
    }
    if (!is_tcp_host(rest, (size_t)(colon - rest))) {
        snprintf(why, why_size, "has no host, or one that is not a name, an address or *");
        return -1;
    }
    for (const char *p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || port > 65535) {
            port = 0;
            break;
        }
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port < 1 || port > 65535) {
        snprintf(why, why_size, "port '%.8s' is not 1..65535", colon + 1);
        return -1;
    }
    return 0;
}
