/*
 * config: reads tmbusd's INI file into a struct config that nothing changes
 * afterwards. Every option is one row of the table options[] below, which
 * gives its section, type, default, bounds and whether SIGHUP may change it;
 * parsing, defaults, the required check and the reload rule all read that
 * table. It holds paths and public keys only, never secrets, and never opens
 * the files it names. It does not log: the caller logs the one error line.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "envelope.h"
#include "inifile.h"

#define FILE_MAX    (1024 * 1024) /* largest configuration file we read */
#define VALUE_SHOWN 48            /* characters of a bad value echoed back */

/* The option table stores enums through int pointers; that is only sound
 * while each enum is int-sized (GCC and Clang make these unsigned int, which
 * may alias int). */
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum log_level is not int-sized");
_Static_assert(sizeof(enum config_client_role) == sizeof(int), "role is not int-sized");
_Static_assert(sizeof(enum config_tlp) == sizeof(int), "tlp is not int-sized");

enum type {
    T_WORD,         /* char *: 1..max of A-Z a-z 0-9 _ . - */
    T_PATH,         /* char *: not empty; relative to the file's directory */
    T_ENDPOINT,     /* char *: domain_check_endpoint; "" only if that is the default */
    T_MEMBER,       /* char[UTIL_MEMBER_ID_MAX + 1]: a member id */
    T_MEMBER_LIST,  /* comma list of member ids: off is the array, off_n the count;
                       with off_aux, also "all" (sets that bool) or "none" */
    T_ENDPOINT_MAP, /* "NAME.ID = endpoint", repeatable: off the ids, off_n the count,
                       off_aux the endpoints */
    T_ENUM,         /* int-sized enum, one of choices */
    T_UINT32,       /* uint32_t in min..max */
    T_KEY,          /* uint8_t[KEYS_PUBLIC_BYTES] from base64 */
    T_ADDRESS,      /* char *: "IPV4:PORT" or "[IPV6]:PORT"; "" only if that is the default */
    T_BOOL,         /* bool: true or false */
};

struct choice {
    const char *name;
    int value;
};

struct option {
    const char *section; /* "client" rows apply to every [client NAME] */
    const char *name;    /* for T_ENDPOINT_MAP, the prefix before the id */
    enum type type;
    const char *def; /* default, as it would be written; NULL: none */
    bool required;
    bool reloadable; /* may SIGHUP change it? */
    uint32_t min, max;
    const struct choice *choices; /* ends with a NULL name */
    size_t off;                   /* in struct config, or struct config_client */
    size_t off_n, off_aux;        /* see enum type; 0 when unused */
};

/* off_aux == 0 can mean "unused" because offset 0 is never a list's flag. */
_Static_assert(offsetof(struct config, path) == 0, "struct config must start with path");

static const struct choice log_levels[] = {
    {"warn", LOG_LEVEL_WARN}, {"info", LOG_LEVEL_INFO}, {"debug", LOG_LEVEL_DEBUG}, {NULL, 0}};

static const struct choice roles[] = {{"reader", CONFIG_ROLE_READER},
                                      {"poster", CONFIG_ROLE_POSTER},
                                      {"admin", CONFIG_ROLE_ADMIN},
                                      {NULL, 0}};

static const struct choice tlps[] = {
    {"clear", CONFIG_TLP_CLEAR}, {"green", CONFIG_TLP_GREEN},
    {"amber", CONFIG_TLP_AMBER}, {"amber+strict", CONFIG_TLP_AMBER_STRICT},
    {"red", CONFIG_TLP_RED},     {NULL, 0}};

#define CFG(f)    offsetof(struct config, f)
#define CLIENT(f) offsetof(struct config_client, f)

/* clang-format off */
static const struct option options[] = {
    /* section  name                  type            default  req    reload */
    {"node",   "member",             T_MEMBER,       NULL,    true,  false,
     .off = CFG(member)},
    {"node",   "coalition",          T_WORD,         NULL,    true,  false,
     .max = ENVELOPE_COALITION_MAX, .off = CFG(coalition)},
    {"node",   "keys",               T_PATH,         NULL,    true,  false, .off = CFG(keys)},
    /* Read at start only, to wrap the store's data key for keys after a
     * rotation; a reload may drop it, as nothing reads it again. */
    {"node",   "previous_keys",      T_PATH,         NULL,    false, true,
     .off = CFG(previous_keys)},
    /* The next generation of a rotation: loaded at start and by a SIGHUP
     * that adds it; the node signs with it once the roster lists it as
     * the member's newer ACTIVE generation (node.c, settle_keys). */
    {"node",   "next_keys",          T_PATH,         NULL,    false, true,
     .off = CFG(next_keys)},
    /* node.c re-reads the roster on SIGHUP and accepts only a version that
     * chains from the one it trusts, so pointing at a new file is safe. */
    {"node",   "roster",             T_PATH,         NULL,    true,  true,  .off = CFG(roster)},
    {"node",   "data_dir",           T_PATH,         NULL,    true,  false, .off = CFG(data_dir)},
    {"node",   "peer_listen",        T_ENDPOINT,     "",      false, false,
     .off = CFG(peer_listen)},
    {"node",   "client_listen",      T_ENDPOINT,     NULL,    true,  false,
     .off = CFG(client_listen)},
    {"node",   "log_level",          T_ENUM,         "info",  false, true,
     .choices = log_levels, .off = CFG(log_level)},

    {"peers",  "dial",               T_MEMBER_LIST,  "all",   false, true,
     .off = CFG(dial), .off_n = CFG(n_dial), .off_aux = CFG(dial_all)},
    {"peers",  "dial_only",          T_MEMBER_LIST,  "",      false, true,
     .off = CFG(dial_only), .off_n = CFG(n_dial_only)},
    {"peers",  "endpoint.",          T_ENDPOINT_MAP, NULL,    false, true,
     .off = CFG(override_member), .off_n = CFG(n_endpoint_overrides),
     .off_aux = CFG(override_endpoint)},

    {"limits", "batch_max",          T_UINT32,       "256",   false, true,
     .min = 1, .max = 65536, .off = CFG(batch_max)},
    /* In envelopes. Measured with bench_catchup (README, Benchmarks): a
     * window of 256 leaves a catching-up link waiting on acks between
     * commits. A wider one makes the receiver's loop rounds longer (it
     * takes a window's worth in one round), which its clients and the
     * link's liveness feel: 4096 envelopes addressed to a node took its
     * round past a 2 s peer timeout in a sanitizer build. */
    {"limits", "credit_window",      T_UINT32,       "1024",  false, true,
     .min = 1, .max = 65536, .off = CFG(credit_window)},
    /* The envelopes in one batch this node sends (PEER_MSG_MAX_BATCH at
     * most): a receiver applies a batch in one loop round, so a smaller one
     * lets it commit, and answer its clients, between batches. Measured
     * with bench_catchup --probe (README, Benchmarks). */
    {"limits", "batch_envelopes",    T_UINT32,       "64",    false, true,
     .min = 1, .max = 1024, .off = CFG(batch_envelopes)},
    /* How long a round reads peers' messages while a client waits for its
     * commit, before it leaves the rest in libzmq's queues for the next
     * one; 0: no limit (PROTOCOL.md 7.6). */
    {"limits", "peer_round_ms",      T_UINT32,       "50",    false, true,
     .min = 0, .max = 60000, .off = CFG(peer_round_ms)},
    /* Must also exceed credit_window; left out, it grows with it to twice
     * credit_window: both in finish(). */
    {"limits", "peer_round_max",     T_UINT32,       "4096",  false, true,
     .min = 2, .max = 131072, .off = CFG(peer_round_max)},
    {"limits", "heartbeat_ms",       T_UINT32,       "1000",  false, true,
     .min = 50, .max = 60000, .off = CFG(heartbeat_ms)},
    /* Must also exceed heartbeat_ms: checked in finish(). */
    {"limits", "peer_timeout_ms",    T_UINT32,       "5000",  false, true,
     .min = 200, .max = 600000, .off = CFG(peer_timeout_ms)},
    {"limits", "reconnect_max_ms",   T_UINT32,       "10000", false, true,
     .min = 100, .max = 600000, .off = CFG(reconnect_max_ms)},
    /* The forwarding rule of proto/PROTOCOL.md 7.3: 0 relays at once, as
     * every relay did before the rule, at the cost of about one copy of
     * each envelope per relay in a mesh. */
    {"limits", "relay_delay_ms",     T_UINT32,       "100",   false, true,
     .min = 0, .max = 10000, .off = CFG(relay_delay_ms)},
    /* PROTOCOL.md 4.6: how long a starting node waits for peers it has
     * not heard before it takes posts. Read at start; a reload changes
     * nothing until the next one. 0 takes posts at once, as before. */
    {"limits", "recover_wait_ms",    T_UINT32,       "30000", false, true,
     .min = 0, .max = 3600000, .off = CFG(recover_wait_ms)},
    /* A link's up/down lines (peer.c, log_flap): the first this many
     * cycles a minute are logged one by one, the rest summed up in one
     * line. 0 logs every change. */
    {"limits", "link_log_burst",     T_UINT32,       "3",     false, true,
     .min = 0, .max = 1000, .off = CFG(link_log_burst)},

    /* Off unless set. Not authenticated: loopback only unless
     * allow_remote says otherwise (checked in finish()). */
    {"http",   "listen",             T_ADDRESS,      "",      false, false,
     .off = CFG(http_listen)},
    {"http",   "allow_remote",       T_BOOL,         "false", false, false,
     .off = CFG(http_allow_remote)},
    /* Left out, it is three peer timeouts: in finish(). */
    {"http",   "health_grace_ms",    T_UINT32,       "15000", false, true,
     .min = 0, .max = 3600000, .off = CFG(health_grace_ms)},
    /* Below it the store is about to fill: time for an operator before
     * commits start failing. 0: not checked. */
    {"http",   "health_min_free_mb", T_UINT32,       "64",    false, true,
     .min = 0, .max = 16777216, .off = CFG(health_min_free_mb)},

    /* Retention of old ciphertext (PROTOCOL.md 5.8), off unless a rule
     * is set: pruning loses the bodies for good at this node, so each
     * coalition must choose it knowing its longest outage. In days of
     * day_seconds seconds; only tests make a day shorter. */
    {"retention", "after_expiry",    T_UINT32,       "0",     false, false,
     .min = 0, .max = 36500, .off = CFG(retention_after_expiry)},
    {"retention", "after_closed",    T_UINT32,       "0",     false, false,
     .min = 0, .max = 36500, .off = CFG(retention_after_closed)},
    {"retention", "day_seconds",     T_UINT32,       "86400", false, false,
     .min = 1, .max = 86400, .off = CFG(retention_day_s)},
    /* A round runs inside the loop round's batch and holds the loop while
     * it rewrites: bench_retention measured 64 rewrites at 18 ms and 256
     * at 170 ms on a heavily loaded two-core machine, so 64 keeps a round
     * short where it matters. */
    {"retention", "batch",           T_UINT32,       "64",    false, false,
     .min = 1, .max = 65536, .off = CFG(retention_batch)},
    {"retention", "interval_ms",     T_UINT32,       "1000",  false, false,
     .min = 10, .max = 3600000, .off = CFG(retention_interval_ms)},

    /* Least privilege when role or clearance is left out. */
    {"client", "key",                T_KEY,          NULL,    true,  true,
     .off = CLIENT(transport_pk)},
    {"client", "role",               T_ENUM,         "reader", false, true,
     .choices = roles, .off = CLIENT(role)},
    {"client", "clearance",          T_ENUM,         "clear", false, true,
     .choices = tlps, .off = CLIENT(clearance)},
};
/* clang-format on */

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* Where each option of one [client NAME] section was set (0: not set). */
struct client_lines {
    int header;
    int opt[N_OPTIONS];
};

struct parser {
    char dir[PATH_MAX];
    int lineno; /* of the line being handled; set by inifile's callbacks */

    bool failed;
    int err_line; /* 0: the error belongs to no one line */
    char err[CONFIG_ERR_MAX];

    const char *section; /* a table section name; NULL before any, or after a bad one */
    bool bad_section;    /* the current section was refused: skip its options */
    char header[INIFILE_SECTION_MAX + 1];

    struct config *c;
    int lines[N_OPTIONS]; /* where each non-client option was set */
    int *override_lines;  /* parallel to c->override_member */
    size_t cap_clients;
    struct client_lines *client_lines; /* parallel to c->clients */
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first error, with the line being parsed; returns -1. */
static int fail(struct parser *p, const char *fmt, ...)
{
    va_list ap;

    if (!p->failed) {
        p->failed = true;
        p->err_line = p->lineno;
        va_start(ap, fmt);
        vsnprintf(p->err, sizeof(p->err), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void *field(void *base, size_t off)
{
    return (char *)base + off;
}

static const void *cfield(const void *base, size_t off)
{
    return (const char *)base + off;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* The option of the current section called name, or NULL. */
static const struct option *find_option(const char *section, const char *name)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option *o = &options[i];
        if (strcmp(o->section, section) != 0)
            continue;
        if (o->type == T_ENDPOINT_MAP ? strncmp(name, o->name, strlen(o->name)) == 0
                                      : strcmp(name, o->name) == 0)
            return o;
    }
    return NULL;
}

static const char *choice_name(const struct choice *ch, int value)
{
    for (; ch->name != NULL; ch++)
        if (ch->value == value)
            return ch->name;
    return "unknown";
}

/* Replaces the string at *dst with a copy of value, made absolute against
 * the file's directory for paths. */
static int set_string(struct parser *p, char **dst, const char *value, bool is_path)
{
    char buf[PATH_MAX];
    char *s;
    int n;

    if (is_path && value[0] != '/') {
        n = snprintf(buf, sizeof(buf), "%s/%s", p->dir, value);
        if (n < 0 || (size_t)n >= sizeof(buf))
            return fail(p, "path too long");
        value = buf;
    }
    if ((s = strdup(value)) == NULL)
        return fail(p, "out of memory");
    free(*dst);
    *dst = s;
    return 0;
}

/* Parses "all", "none" (where allowed) or a comma list of distinct member
 * ids into a fresh array that replaces the old one. */
static int set_member_list(struct parser *p, const struct option *o, void *base, const char *value)
{
    char(**ids)[UTIL_MEMBER_ID_MAX + 1] = field(base, o->off);
    char(*list)[UTIL_MEMBER_ID_MAX + 1] = NULL;
    size_t *n_ids = field(base, o->off_n);
    size_t n = 0, cap = 1;
    const char *s = value, *comma, *a, *b;
    int rc = -1;

    if (o->off_aux != 0) {
        bool *all = field(base, o->off_aux);
        *all = strcmp(value, "all") == 0;
        if (*all || strcmp(value, "none") == 0) {
            rc = 0;
            goto out;
        }
    }
    if (value[0] == '\0') {
        if (o->off_aux != 0) {
            fail(p, "%s: empty; write all, none or a comma list of member ids", o->name);
            goto out;
        }
        rc = 0;
        goto out;
    }
    for (a = value; *a != '\0'; a++)
        cap += *a == ',';
    if (cap > CONFIG_MAX_PEERS) {
        fail(p, "%s: more than %d member ids", o->name, CONFIG_MAX_PEERS);
        goto out;
    }
    if ((list = calloc(cap, sizeof(*list))) == NULL) {
        fail(p, "out of memory");
        goto out;
    }
    for (;;) {
        comma = strchr(s, ',');
        a = s;
        b = comma != NULL ? comma : s + strlen(s);
        while (a < b && is_blank(*a))
            a++;
        while (b > a && is_blank(b[-1]))
            b--;
        if (a == b) {
            fail(p, "%s: empty item in the list", o->name);
            goto out;
        }
        if (!util_is_member_id(a, (size_t)(b - a))) {
            fail(p, "%s: '%.*s' is not a member id (1..%d of A-Z a-z 0-9 _ -)", o->name,
                 (int)(b - a > VALUE_SHOWN ? VALUE_SHOWN : b - a), a, UTIL_MEMBER_ID_MAX);
            goto out;
        }
        memcpy(list[n], a, (size_t)(b - a));
        list[n][b - a] = '\0';
        for (size_t i = 0; i < n; i++) {
            if (strcmp(list[i], list[n]) == 0) {
                fail(p, "%s: %s is listed twice", o->name, list[n]);
                goto out;
            }
        }
        n++;
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    rc = 0;
out:
    if (rc == 0) {
        free(*ids);
        *ids = list;
        *n_ids = n;
    } else {
        free(list);
    }
    return rc;
}

/* Adds one "endpoint.ID = endpoint" line. */
static int add_override(struct parser *p, const struct option *o, void *base, const char *name,
                        const char *value)
{
    char(**ids)[UTIL_MEMBER_ID_MAX + 1] = field(base, o->off);
    char ***endpoints = field(base, o->off_aux);
    size_t *n = field(base, o->off_n);
    const char *id = name + strlen(o->name);
    char(*more_ids)[UTIL_MEMBER_ID_MAX + 1];
    char **more_endpoints;
    int *more_lines;
    char *copy;
    char why[DOMAIN_WHY_MAX];

    if (!util_is_member_id(id, strlen(id)))
        return fail(p, "%s: '%.*s' is not a member id", name, VALUE_SHOWN, id);
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*ids)[i], id) == 0)
            return fail(p, "duplicate option '%s' in [%s] (first on line %d)", name, p->header,
                        p->override_lines[i]);
    if (domain_check_endpoint(value, why, sizeof(why)) == -1)
        return fail(p, "%s: '%.*s' %s", name, VALUE_SHOWN, value, why);
    if (*n == CONFIG_MAX_PEERS)
        return fail(p, "more than %d endpoint overrides", CONFIG_MAX_PEERS);
    /* Grow all three arrays first, so that a failure leaves them consistent. */
    if ((more_ids = realloc(*ids, (*n + 1) * sizeof(**ids))) == NULL)
        return fail(p, "out of memory");
    *ids = more_ids;
    if ((more_endpoints = realloc(*endpoints, (*n + 1) * sizeof(**endpoints))) == NULL)
        return fail(p, "out of memory");
    *endpoints = more_endpoints;
    if ((more_lines = realloc(p->override_lines, (*n + 1) * sizeof(*more_lines))) == NULL)
        return fail(p, "out of memory");
    p->override_lines = more_lines;
    if ((copy = strdup(value)) == NULL)
        return fail(p, "out of memory");
    strcpy((*ids)[*n], id);
    (*endpoints)[*n] = copy;
    p->override_lines[*n] = p->lineno;
    (*n)++;
    return 0;
}

static int set_enum(struct parser *p, const struct option *o, int *dst, const char *value)
{
    char allowed[128] = "";
    size_t used = 0;

    for (const struct choice *ch = o->choices; ch->name != NULL; ch++) {
        if (strcmp(ch->name, value) == 0) {
            *dst = ch->value;
            return 0;
        }
        used += (size_t)snprintf(allowed + used, sizeof(allowed) - used, "%s%s",
                                 ch == o->choices ? "" : ", ", ch->name);
        ensure(used < sizeof(allowed));
    }
    return fail(p, "%s: '%.*s' is not one of %s", o->name, VALUE_SHOWN, value, allowed);
}

int config_parse_address(const char *text, struct sockaddr_storage *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon, *h = text;
    size_t hlen;
    char *end;
    unsigned long port;

    memset(out, 0, sizeof(*out));
    if ((colon = strrchr(text, ':')) == NULL || colon[1] == '\0')
        return -1;
    hlen = (size_t)(colon - text);
    if (text[0] == '[') {
        if (hlen < 2 || colon[-1] != ']')
            return -1;
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || colon[1] < '0' || colon[1] > '9' || port > 65535)
        return -1;
    if (text[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return -1;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)out;
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return -1;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    return 0;
}

bool config_is_loopback(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    if (a->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
    return false;
}

static int set_uint32(struct parser *p, const struct option *o, uint32_t *dst, const char *value)
{
    unsigned long long n;
    char *end;

    if (value[0] < '0' || value[0] > '9')
        return fail(p, "%s: '%.*s' is not a whole number", o->name, VALUE_SHOWN, value);
    errno = 0;
    n = strtoull(value, &end, 10);
    if (*end != '\0')
        return fail(p, "%s: '%.*s' is not a whole number", o->name, VALUE_SHOWN, value);
    if (errno == ERANGE || n < o->min || n > o->max)
        return fail(p, "%s: %.*s is out of range %" PRIu32 "..%" PRIu32, o->name, VALUE_SHOWN,
                    value, o->min, o->max);
    *dst = (uint32_t)n;
    return 0;
}

/* Checks value against o's type and stores it into base (the config, or
 * the current client). Returns 0, or -1 with the error recorded. */
static int set_value(struct parser *p, const struct option *o, void *base, const char *name,
                     const char *value)
{
    char why[DOMAIN_WHY_MAX];

    switch (o->type) {
    case T_WORD:
        if (!domain_is_word(value, o->max))
            return fail(p, "%s: '%.*s' is not 1..%" PRIu32 " of A-Z a-z 0-9 _ . -", o->name,
                        VALUE_SHOWN, value, o->max);
        return set_string(p, field(base, o->off), value, false);
    case T_PATH:
        if (value[0] == '\0')
            return fail(p, "%s: must not be empty", o->name);
        return set_string(p, field(base, o->off), value, true);
    case T_ENDPOINT:
        if (!(value[0] == '\0' && o->def != NULL && o->def[0] == '\0') &&
            domain_check_endpoint(value, why, sizeof(why)) == -1)
            return fail(p, "%s: '%.*s' %s", o->name, VALUE_SHOWN, value, why);
        return set_string(p, field(base, o->off), value, false);
    case T_MEMBER:
        if (!domain_is_member_id(value, strlen(value)))
            return fail(p, "%s: '%.*s' is not a member id (1..%d of A-Z a-z 0-9 _ -)", o->name,
                        VALUE_SHOWN, value, UTIL_MEMBER_ID_MAX);
        strcpy(field(base, o->off), value);
        return 0;
    case T_MEMBER_LIST:
        return set_member_list(p, o, base, value);
    case T_ENDPOINT_MAP:
        return add_override(p, o, base, name, value);
    case T_ENUM:
        return set_enum(p, o, field(base, o->off), value);
    case T_UINT32:
        return set_uint32(p, o, field(base, o->off), value);
    case T_ADDRESS: {
        struct sockaddr_storage a;
        if (!(value[0] == '\0' && o->def != NULL && o->def[0] == '\0') &&
            config_parse_address(value, &a) == -1)
            return fail(p, "%s: '%.*s' is not IPV4:PORT or [IPV6]:PORT", o->name, VALUE_SHOWN,
                        value);
        return set_string(p, field(base, o->off), value, false);
    }
    case T_BOOL:
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
            return fail(p, "%s: '%.*s' is neither true nor false", o->name, VALUE_SHOWN, value);
        *(bool *)field(base, o->off) = strcmp(value, "true") == 0;
        return 0;
    case T_KEY:
        /* Never echo the value: a secret key pasted here by mistake must
         * not end up in a log. */
        if (keys_from_base64(value, field(base, o->off), KEYS_PUBLIC_BYTES) == -1)
            return fail(p, "%s: not the base64 encoding of a %d-byte public key", o->name,
                        KEYS_PUBLIC_BYTES);
        return 0;
    }
    ensure(!"unknown option type");
    return -1;
}

/* Stores the defaults of one section's options into base. */
static void apply_defaults(struct parser *p, const char *section, void *base)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option *o = &options[i];
        if (strcmp(o->section, section) != 0 || o->def == NULL)
            continue;
        /* A default that does not parse is a bug in the table, and so is
         * one we cannot store for lack of memory only in theory. */
        ensure(set_value(p, o, base, o->name, o->def) == 0);
    }
}

/* A "[client NAME]" header: a new, distinct client with the defaults. */
static void begin_client(struct parser *p, const char *name)
{
    struct config *c = p->c;
    struct config_client *cl;

    if (!domain_is_client_name(name)) {
        fail(p, "bad client name '%.*s' (1..%d of A-Z a-z 0-9 _ . -, not starting with '.')",
             VALUE_SHOWN, name, CONFIG_CLIENT_NAME_MAX);
        return;
    }
    for (size_t i = 0; i < c->n_clients; i++) {
        if (strcmp(c->clients[i].name, name) == 0) {
            fail(p, "duplicate client name '%s' (first on line %d)", name,
                 p->client_lines[i].header);
            return;
        }
    }
    if (c->n_clients == CONFIG_MAX_CLIENTS) {
        fail(p, "more than %d clients", CONFIG_MAX_CLIENTS);
        return;
    }
    if (c->n_clients == p->cap_clients) {
        size_t cap = p->cap_clients == 0 ? 8 : 2 * p->cap_clients;
        struct config_client *more = realloc(c->clients, cap * sizeof(*more));
        if (more == NULL) {
            fail(p, "out of memory");
            return;
        }
        c->clients = more;
        struct client_lines *more_lines = realloc(p->client_lines, cap * sizeof(*more_lines));
        if (more_lines == NULL) {
            fail(p, "out of memory");
            return;
        }
        p->client_lines = more_lines;
        p->cap_clients = cap;
    }
    cl = &c->clients[c->n_clients];
    memset(cl, 0, sizeof(*cl));
    strcpy(cl->name, name);
    memset(&p->client_lines[c->n_clients], 0, sizeof(p->client_lines[0]));
    p->client_lines[c->n_clients].header = p->lineno;
    apply_defaults(p, "client", cl);
    c->n_clients++;
    p->section = "client";
}

/* A "[...]" line, told by inifile before any of its options, so that an
 * empty [client NAME] is checked too. */
static void begin_section(struct parser *p, const char *name)
{
    static const char *const plain[] = {"node", "peers", "limits", "http", "retention"};

    snprintf(p->header, sizeof(p->header), "%s", name);
    p->section = NULL;
    p->bad_section = true;
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        if (strcmp(name, plain[i]) == 0) {
            p->section = plain[i];
            p->bad_section = false;
            return;
        }
    }
    if (strcmp(name, "client") == 0) {
        fail(p, "a client section needs a name: [client NAME]");
        return;
    }
    if (strncmp(name, "client ", 7) == 0) {
        begin_client(p, name + 7);
        p->bad_section = p->section == NULL;
        return;
    }
    fail(p, "unknown section [%.*s]", VALUE_SHOWN, name);
}

/* One "name = value" of the current section. Returns 0, or -1 with the
 * error recorded. */
static int handle_value(struct parser *p, const char *name, const char *value)
{
    struct config *c = p->c;
    const struct option *o;
    bool is_client;
    void *base;
    int *lines;
    size_t i;

    if (p->bad_section)
        return 0; /* reported at the header */
    if (p->section == NULL)
        return fail(p, "option '%.*s' is outside any section", VALUE_SHOWN, name);
    if ((o = find_option(p->section, name)) == NULL)
        return fail(p, "unknown option '%.*s' in [%s]", VALUE_SHOWN, name, p->header);
    i = (size_t)(o - options);
    is_client = strcmp(p->section, "client") == 0;
    base = is_client ? (void *)&c->clients[c->n_clients - 1] : (void *)c;
    lines = is_client ? p->client_lines[c->n_clients - 1].opt : p->lines;
    /* Overrides are many rows of one option; add_override checks each id. */
    if (o->type != T_ENDPOINT_MAP && lines[i] != 0)
        return fail(p, "duplicate option '%s' in [%s] (first on line %d)", name, p->header,
                    lines[i]);
    if (set_value(p, o, base, name, value) == -1)
        return -1;
    lines[i] = p->lineno;
    if (o->type == T_KEY) {
        const struct config_client *cl = base;
        for (size_t k = 0; k + 1 < c->n_clients; k++) {
            if (p->client_lines[k].opt[i] != 0 &&
                memcmp(c->clients[k].transport_pk, cl->transport_pk, KEYS_PUBLIC_BYTES) == 0)
                return fail(p, "duplicate client key: [client %s] has the same key (line %d)",
                            c->clients[k].name, p->client_lines[k].opt[i]);
        }
    }
    return 0;
}

/* Hands inifile the first error, if the last callback recorded it. */
static int report(const struct parser *p, char *why, size_t whylen)
{
    if (!p->failed)
        return 0;
    snprintf(why, whylen, "%s", p->err);
    return -1;
}

static int on_section(void *arg, const char *name, int lineno, char *why, size_t whylen)
{
    struct parser *p = arg;

    p->lineno = lineno;
    begin_section(p, name);
    return report(p, why, whylen);
}

/* The section is ignored: begin_section has tracked it, checked. */
static int on_value(void *arg, const char *section, const char *name, const char *value, int lineno,
                    char *why, size_t whylen)
{
    struct parser *p = arg;

    (void)section;
    p->lineno = lineno;
    handle_value(p, name, value);
    return report(p, why, whylen);
}

static size_t option_index(const char *section, const char *name)
{
    const struct option *o = find_option(section, name);

    ensure(o != NULL);
    return (size_t)(o - options);
}

static bool list_has(char (*ids)[UTIL_MEMBER_ID_MAX + 1], size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

/* The checks that need the whole file: required options, and options that
 * must agree with each other. */
static void finish(struct parser *p)
{
    struct config *c = p->c;
    size_t hb = option_index("limits", "heartbeat_ms");
    size_t pt = option_index("limits", "peer_timeout_ms");
    size_t prm = option_index("limits", "peer_round_max");
    size_t cw = option_index("limits", "credit_window");
    size_t dial = option_index("peers", "dial");
    size_t dial_only = option_index("peers", "dial_only");
    size_t hl = option_index("http", "listen");
    size_t grace = option_index("http", "health_grace_ms");
    struct sockaddr_storage http_addr;

    p->lineno = 0;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option *o = &options[i];
        if (o->required && strcmp(o->section, "client") != 0 && p->lines[i] == 0) {
            fail(p, "[%s] %s is required", o->section, o->name);
            return;
        }
    }
    for (size_t k = 0; k < c->n_clients; k++) {
        for (size_t i = 0; i < N_OPTIONS; i++) {
            const struct option *o = &options[i];
            if (o->required && strcmp(o->section, "client") == 0 &&
                p->client_lines[k].opt[i] == 0) {
                p->lineno = p->client_lines[k].header;
                fail(p, "[client %s] %s is required", c->clients[k].name, o->name);
                return;
            }
        }
    }
    if (c->peer_timeout_ms <= c->heartbeat_ms) {
        p->lineno = p->lines[pt] != 0 ? p->lines[pt] : p->lines[hb];
        fail(p, "peer_timeout_ms (%" PRIu32 ") must exceed heartbeat_ms (%" PRIu32 ")",
             c->peer_timeout_ms, c->heartbeat_ms);
        return;
    }
    /* An honest peer has at most credit_window envelopes in flight, plus a
     * few vectors and heartbeats: its round must never be cut short. */
    if (p->lines[prm] == 0 && c->peer_round_max < 2 * c->credit_window)
        c->peer_round_max = 2 * c->credit_window;
    if (c->peer_round_max <= c->credit_window) {
        p->lineno = p->lines[prm] != 0 ? p->lines[prm] : p->lines[cw];
        fail(p, "peer_round_max (%" PRIu32 ") must exceed credit_window (%" PRIu32 ")",
             c->peer_round_max, c->credit_window);
        return;
    }
    if (list_has(c->dial, c->n_dial, c->member)) {
        p->lineno = p->lines[dial];
        fail(p, "dial: %s is this node's own member id", c->member);
        return;
    }
    if (list_has(c->dial_only, c->n_dial_only, c->member)) {
        p->lineno = p->lines[dial_only];
        fail(p, "dial_only: %s is this node's own member id", c->member);
        return;
    }
    for (size_t i = 0; i < c->n_dial_only; i++) {
        if (list_has(c->dial, c->n_dial, c->dial_only[i])) {
            p->lineno = p->lines[dial_only] > p->lines[dial] ? p->lines[dial_only] : p->lines[dial];
            fail(p, "%s is in both dial and dial_only", c->dial_only[i]);
            return;
        }
    }
    /* The endpoints answer anyone who can connect, without credentials:
     * only an operator who says so may open them beyond this host. */
    if (c->http_listen[0] != '\0' && !c->http_allow_remote) {
        ensure(config_parse_address(c->http_listen, &http_addr) == 0);
        if (!config_is_loopback(&http_addr)) {
            p->lineno = p->lines[hl];
            fail(p,
                 "listen: %s is not a loopback address; /metrics and /healthz have no "
                 "authentication (set allow_remote = true to open them anyway)",
                 c->http_listen);
            return;
        }
    }
    if (p->lines[grace] == 0)
        c->health_grace_ms = 3 * c->peer_timeout_ms;
    for (size_t i = 0; i < c->n_endpoint_overrides; i++) {
        p->lineno = p->override_lines[i];
        if (strcmp(c->override_member[i], c->member) == 0) {
            fail(p, "endpoint.%s: this node does not dial itself", c->override_member[i]);
            return;
        }
        if (list_has(c->dial_only, c->n_dial_only, c->override_member[i])) {
            fail(p, "endpoint.%s: %s is in dial_only and is never dialled", c->override_member[i],
                 c->override_member[i]);
            return;
        }
    }
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
    static const struct inifile_handlers handlers = {on_section, on_value};
    struct parser *p = NULL;
    struct config *c = NULL;
    const char *slash;
    bool dir_fits = true, ok = false;

    if (errlen > 0)
        err[0] = '\0';
    if ((p = calloc(1, sizeof(*p))) == NULL || (c = calloc(1, sizeof(*c))) == NULL ||
        (c->path = strdup(path)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    p->c = c;
    if ((slash = strrchr(path, '/')) == NULL)
        strcpy(p->dir, ".");
    else if (slash == path)
        strcpy(p->dir, "");
    else if ((size_t)(slash - path) < sizeof(p->dir))
        snprintf(p->dir, sizeof(p->dir), "%.*s", (int)(slash - path), path);
    else
        dir_fits = false;

    apply_defaults(p, "node", c);
    apply_defaults(p, "peers", c);
    apply_defaults(p, "limits", c);
    apply_defaults(p, "http", c);
    apply_defaults(p, "retention", c);
    /* Such a path cannot be opened either, so inifile_read reports it
     * first; the check after it is for a system where it could. */
    if (inifile_read(path, FILE_MAX, &handlers, p, err, errlen) == -1)
        goto out;
    if (!dir_fits) {
        snprintf(err, errlen, "%s: path too long", path);
        goto out;
    }
    finish(p);
    if (p->failed) {
        if (p->err_line > 0)
            snprintf(err, errlen, "%s:%d: %s", path, p->err_line, p->err);
        else
            snprintf(err, errlen, "%s: %s", path, p->err);
        goto out;
    }
    ok = true;
out:
    if (p != NULL) {
        free(p->override_lines);
        free(p->client_lines);
        free(p);
    }
    if (!ok)
        config_free(&c);
    return c;
}

void config_free(struct config **cp)
{
    struct config *c;

    if (cp == NULL || (c = *cp) == NULL)
        return;
    free(c->path);
    free(c->coalition);
    free(c->keys);
    free(c->previous_keys);
    free(c->next_keys);
    free(c->roster);
    free(c->data_dir);
    free(c->peer_listen);
    free(c->client_listen);
    free(c->http_listen);
    free(c->dial);
    free(c->dial_only);
    for (size_t i = 0; i < c->n_endpoint_overrides; i++)
        free(c->override_endpoint[i]);
    free(c->override_member);
    free(c->override_endpoint);
    free(c->clients);
    free(c);
    *cp = NULL;
}

const struct config_client *config_find_client(const struct config *c, const uint8_t *pk)
{
    /* Public keys: no need for a constant-time comparison. */
    for (size_t i = 0; i < c->n_clients; i++)
        if (memcmp(c->clients[i].transport_pk, pk, KEYS_PUBLIC_BYTES) == 0)
            return &c->clients[i];
    return NULL;
}

/* The option's value in c as text, for a reload refusal. */
static const char *show(const struct option *o, const struct config *c, char *buf, size_t size)
{
    switch (o->type) {
    case T_WORD:
    case T_PATH:
    case T_ENDPOINT:
    case T_ADDRESS:
        return *(char *const *)cfield(c, o->off);
    case T_BOOL:
        return *(const bool *)cfield(c, o->off) ? "true" : "false";
    case T_MEMBER:
        return cfield(c, o->off);
    case T_ENUM:
        return choice_name(o->choices, *(const int *)cfield(c, o->off));
    case T_UINT32:
        snprintf(buf, size, "%" PRIu32, *(const uint32_t *)cfield(c, o->off));
        return buf;
    default:
        /* Lists and clients are all reloadable; nothing compares them. */
        ensure(!"not a single value");
        return NULL;
    }
}

bool config_reload_allowed(const struct config *old, const struct config *new, char *err,
                           size_t errlen)
{
    char a[16], b[16];

    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option *o = &options[i];
        if (o->reloadable)
            continue;
        const char *was = show(o, old, a, sizeof(a));
        const char *now = show(o, new, b, sizeof(b));
        if (strcmp(was, now) != 0) {
            snprintf(err, errlen,
                     "%s: [%s] %s cannot change without a restart (running '%s', file '%s')",
                     new->path, o->section, o->name, was, now);
            return false;
        }
    }
    return true;
}

const char *config_role_name(enum config_client_role role)
{
    return choice_name(roles, (int)role);
}

const char *config_tlp_name(enum config_tlp tlp)
{
    return choice_name(tlps, (int)tlp);
}
