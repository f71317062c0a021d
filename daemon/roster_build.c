/*
 * roster_build: what only tmbus-admin needs of rosters: building an
 * unsigned SignedRoster from its INI source (deploy/examples/roster.ini)
 * and adding a governor's signature to one. What it makes passes the same
 * strict decode and field checks as what a node receives (roster.c's
 * roster_open_fields). A node never calls anything here, and this file
 * never decides whether a roster is trusted: that is roster_verify's.
 */
#include "roster_build.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inifile.h"
#include "domain.h"
#include "log.h"
#include "roster.pb-c.h"
#include "roster_internal.h"

/* ---- signing ----------------------------------------------------------- */

int roster_sign_detached(const uint8_t *buf, size_t len, const struct keyset *governor,
                         uint8_t pk[KEYS_PUBLIC_BYTES], uint8_t sig[KEYS_SIGNATURE_BYTES])
{
    SignedRoster *sr = NULL;
    Roster *ro = NULL;
    bool is_listed = false;
    uint8_t *msg = NULL;
    size_t mlen;
    char why[160];
    enum roster_status st;
    int rc = -1;

    if (governor->kind != KEYS_GOVERNOR) {
        log_warnx("roster: signing needs a governor key");
        return -1;
    }
    if ((st = roster_open_fields(buf, len, &sr, &ro, why, sizeof(why))) != ROSTER_OK) {
        log_warnx("roster: cannot sign: %s: %s", roster_status_name(st), why);
        goto out;
    }
    for (size_t i = 0; i < ro->n_governors; i++)
        is_listed |=
            memcmp(ro->governors[i]->sign_key.data, governor->sign_pk, KEYS_PUBLIC_BYTES) == 0;
    if (!is_listed) {
        log_warnx("roster: the governor key of %s is not listed in this roster", governor->member);
        goto out;
    }
    mlen = ROSTER_SIG_TAG_BYTES + sr->roster.len;
    if ((msg = malloc(mlen)) == NULL) {
        log_warnx("roster: out of memory");
        goto out;
    }
    memcpy(msg, roster_sig_tag, ROSTER_SIG_TAG_BYTES);
    memcpy(msg + ROSTER_SIG_TAG_BYTES, sr->roster.data, sr->roster.len);
    if (keys_sign(governor, msg, mlen, sig) == -1) {
        log_warnx("roster: signing failed");
        goto out;
    }
    memcpy(pk, governor->sign_pk, KEYS_PUBLIC_BYTES);
    rc = 0;
out:
    free(msg);
    if (ro != NULL)
        tmbus__roster__roster__free_unpacked(ro, NULL);
    if (sr != NULL)
        tmbus__roster__signed_roster__free_unpacked(sr, NULL);
    return rc;
}

int roster_attach(const uint8_t *buf, size_t len, const uint8_t pk[KEYS_PUBLIC_BYTES],
                  const uint8_t sig[KEYS_SIGNATURE_BYTES], uint8_t **out, size_t *out_len)
{
    SignedRoster *sr = NULL;
    Roster *ro = NULL;
    RosterSignature **sigs = NULL, **saved;
    RosterSignature mine = TMBUS__ROSTER__ROSTER_SIGNATURE__INIT;
    uint8_t pk_copy[KEYS_PUBLIC_BYTES], sig_copy[KEYS_SIGNATURE_BYTES];
    bool is_listed = false;
    uint8_t *packed = NULL;
    size_t n = 0, plen, saved_n;
    char why[160];
    enum roster_status st;
    int rc = -1;

    if ((st = roster_open_fields(buf, len, &sr, &ro, why, sizeof(why))) != ROSTER_OK) {
        log_warnx("roster: cannot add a signature: %s: %s", roster_status_name(st), why);
        goto out;
    }
    for (size_t i = 0; i < ro->n_governors; i++)
        is_listed |= memcmp(ro->governors[i]->sign_key.data, pk, KEYS_PUBLIC_BYTES) == 0;
    if (!is_listed) {
        log_warnx("roster: the signature's key is not a governor key of this roster");
        goto out;
    }
    if ((sigs = calloc(sr->n_signatures + 1, sizeof(*sigs))) == NULL) {
        log_warnx("roster: out of memory");
        goto out;
    }
    /* Keep every other signature in its order; this one replaces any
     * earlier one by the same key and goes last. */
    for (size_t i = 0; i < sr->n_signatures; i++)
        if (memcmp(sr->signatures[i]->sign_key.data, pk, KEYS_PUBLIC_BYTES) != 0)
            sigs[n++] = sr->signatures[i];
    if (n >= ROSTER_MAX_SIGNATURES) {
        log_warnx("roster: already %zu signatures, the most a roster holds", n);
        goto out;
    }
    memcpy(pk_copy, pk, KEYS_PUBLIC_BYTES);
    memcpy(sig_copy, sig, KEYS_SIGNATURE_BYTES);
    mine.sign_key.data = pk_copy;
    mine.sign_key.len = KEYS_PUBLIC_BYTES;
    mine.signature.data = sig_copy;
    mine.signature.len = KEYS_SIGNATURE_BYTES;
    sigs[n++] = &mine;
    /* Swap our array in only for packing; sr's own is restored before the
     * free so that protobuf-c frees what it allocated. */
    saved = sr->signatures;
    saved_n = sr->n_signatures;
    sr->signatures = sigs;
    sr->n_signatures = n;
    plen = tmbus__roster__signed_roster__get_packed_size(sr);
    if ((packed = malloc(plen)) != NULL)
        tmbus__roster__signed_roster__pack(sr, packed);
    sr->signatures = saved;
    sr->n_signatures = saved_n;
    if (packed == NULL) {
        log_warnx("roster: out of memory");
        goto out;
    }
    *out = packed;
    *out_len = plen;
    rc = 0;
out:
    free(sigs);
    if (ro != NULL)
        tmbus__roster__roster__free_unpacked(ro, NULL);
    if (sr != NULL)
        tmbus__roster__signed_roster__free_unpacked(sr, NULL);
    return rc;
}

int roster_sign(const uint8_t *buf, size_t len, const struct keyset *governor, uint8_t **out,
                size_t *out_len)
{
    uint8_t pk[KEYS_PUBLIC_BYTES], sig[KEYS_SIGNATURE_BYTES];

    if (roster_sign_detached(buf, len, governor, pk, sig) == -1)
        return -1;
    return roster_attach(buf, len, pk, sig, out, out_len);
}

/* ---- building from a source file --------------------------------------- */

/*
 * The source is INI, read with inih through our own line reader so that
 * every error names its line, and lines longer than inih's buffer are
 * refused instead of being split in two. Sections: one [roster], one
 * [member ID] per member, one [governor LABEL] per governance key. Key file
 * paths are relative to the source's directory.
 */
#define SOURCE_MAX (1024 * 1024)
#define LABEL_MAX  64

enum section { SEC_NONE, SEC_ROSTER, SEC_MEMBER, SEC_GOVERNOR };

struct src_key {
    uint32_t key_id;
    enum roster_key_status status;
    struct keys_public pub;
};

/* "last_seq = KEY_ID LOG:SEQ ...": how far a retired key signed in a log. */
struct src_limit {
    uint32_t key_id;
    char log_peer[UTIL_MEMBER_ID_MAX + 1]; /* "" for the relayed log */
    uint64_t last_seq;
    SignedUpTo pb;
};

struct src_member {
    char id[UTIL_MEMBER_ID_MAX + 1];
    char name[ROSTER_NAME_MAX + 1];
    enum roster_role role;
    bool has_name, has_role, has_active, has_key_id;
    uint32_t active_id;
    size_t active; /* index into keys */
    size_t n_keys;
    struct src_key keys[ROSTER_MAX_KEYS];
    size_t n_endpoints;
    char endpoints[ROSTER_MAX_ENDPOINTS][ROSTER_ENDPOINT_MAX + 1];
    size_t n_groups;
    char groups[ROSTER_MAX_GROUPS][ROSTER_GROUP_MAX + 1];
    int line;
    /* Scratch for encoding: points into the fields above. */
    Member pb;
    MemberKeys pb_keys[ROSTER_MAX_KEYS];
    MemberKeys *pb_key_ptrs[ROSTER_MAX_KEYS];
    char *pb_endpoints[ROSTER_MAX_ENDPOINTS];
    char *pb_groups[ROSTER_MAX_GROUPS];
    struct src_limit *limits; /* malloc'd, n_limits of them */
    size_t n_limits;
    SignedUpTo **pb_limits[ROSTER_MAX_KEYS]; /* malloc'd per key when it has any */
};

struct src_governor {
    char label[LABEL_MAX + 1];
    char member[UTIL_MEMBER_ID_MAX + 1];  /* from the key file */
    char claimed[UTIL_MEMBER_ID_MAX + 1]; /* "member =", if given */
    uint8_t sign_pk[KEYS_PUBLIC_BYTES];
    bool has_key;
    int line;
    Governor pb;
};

struct source {
    char dir[PATH_MAX];
    int lineno;   /* of the line being handled; set by inifile's callbacks */
    int err_line; /* 0: no error yet */
    char err[INIFILE_WHY_MAX];

    enum section cur;
    size_t cur_index;
    bool has_roster;
    int roster_line;
    char coalition[ENVELOPE_COALITION_MAX + 1];
    uint64_t version;
    int64_t expires;
    uint32_t threshold;
    char previous[PATH_MAX];
    bool has_coalition, has_version, has_expires, has_threshold, has_previous;

    size_t n_members;
    struct src_member *members; /* ROSTER_MAX_MEMBERS */
    size_t n_governors;
    struct src_governor governors[ROSTER_MAX_GOVERNORS];
};

static int fail(struct source *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first error with the current line; returns 0, which the
 * on_* functions below return for a failure. */
static int fail(struct source *s, const char *fmt, ...)
{
    va_list ap;

    if (s->err_line == 0) {
        s->err_line = s->lineno > 0 ? s->lineno : 1;
        va_start(ap, fmt);
        vsnprintf(s->err, sizeof(s->err), fmt, ap);
        va_end(ap);
    }
    return 0;
}

static int copy_str(struct source *s, char *dst, size_t size, const char *src, const char *what)
{
    if (strlen(src) >= size) {
        fail(s, "%s longer than %zu characters", what, size - 1);
        return -1;
    }
    strcpy(dst, src);
    return 0;
}

static int resolve(struct source *s, const char *rel, char *out, size_t size)
{
    int n =
        rel[0] == '/' ? snprintf(out, size, "%s", rel) : snprintf(out, size, "%s/%s", s->dir, rel);
    if (n < 0 || (size_t)n >= size) {
        fail(s, "path too long");
        return -1;
    }
    return 0;
}

static int parse_uint(const char *v, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long n;

    if (v[0] < '0' || v[0] > '9')
        return -1;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || n > max)
        return -1;
    *out = n;
    return 0;
}

/* A "[...]" line, told by inifile before any of its options. */
static void begin_section(struct source *s, const char *name)
{
    s->cur = SEC_NONE;
    if (strcmp(name, "roster") == 0) {
        if (s->has_roster) {
            fail(s, "second [roster] section");
            return;
        }
        s->has_roster = true;
        s->roster_line = s->lineno;
        s->cur = SEC_ROSTER;
    } else if (strncmp(name, "member ", 7) == 0) {
        const char *id = name + 7;
        if (!util_is_member_id(id, strlen(id))) {
            fail(s, "bad member id '%s'", id);
            return;
        }
        for (size_t i = 0; i < s->n_members; i++) {
            if (strcmp(s->members[i].id, id) == 0) {
                fail(s, "member %s listed twice", id);
                return;
            }
        }
        if (s->n_members == ROSTER_MAX_MEMBERS) {
            fail(s, "more than %d members", ROSTER_MAX_MEMBERS);
            return;
        }
        struct src_member *m = &s->members[s->n_members];
        strcpy(m->id, id);
        m->line = s->lineno;
        s->cur = SEC_MEMBER;
        s->cur_index = s->n_members++;
    } else if (strncmp(name, "governor ", 9) == 0) {
        const char *label = name + 9;
        if (!domain_is_word(label, LABEL_MAX)) {
            fail(s, "bad governor label '%s'", label);
            return;
        }
        for (size_t i = 0; i < s->n_governors; i++) {
            if (strcmp(s->governors[i].label, label) == 0) {
                fail(s, "governor %s listed twice", label);
                return;
            }
        }
        if (s->n_governors == ROSTER_MAX_GOVERNORS) {
            fail(s, "more than %d governors", ROSTER_MAX_GOVERNORS);
            return;
        }
        struct src_governor *g = &s->governors[s->n_governors];
        strcpy(g->label, label);
        g->line = s->lineno;
        s->cur = SEC_GOVERNOR;
        s->cur_index = s->n_governors++;
    } else {
        fail(s, "unknown section [%s]", name);
    }
}

static int on_roster(struct source *s, const char *name, const char *value)
{
    uint64_t n;

    if (strcmp(name, "coalition") == 0) {
        if (s->has_coalition)
            return fail(s, "coalition given twice");
        if (!domain_is_word(value, ENVELOPE_COALITION_MAX))
            return fail(s, "bad coalition id");
        strcpy(s->coalition, value);
        s->has_coalition = true;
    } else if (strcmp(name, "version") == 0) {
        if (s->has_version)
            return fail(s, "version given twice");
        if (parse_uint(value, UINT64_MAX, &n) == -1 || n == 0)
            return fail(s, "version must be a whole number from 1");
        s->version = n;
        s->has_version = true;
    } else if (strcmp(name, "expires") == 0) {
        if (s->has_expires)
            return fail(s, "expires given twice");
        if (util_parse_utc(value, &s->expires) == -1)
            return fail(s, "expires must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
        s->has_expires = true;
    } else if (strcmp(name, "threshold") == 0) {
        if (s->has_threshold)
            return fail(s, "threshold given twice");
        if (parse_uint(value, ROSTER_MAX_GOVERNORS, &n) == -1 || n == 0)
            return fail(s, "threshold must be 1..%d", ROSTER_MAX_GOVERNORS);
        s->threshold = (uint32_t)n;
        s->has_threshold = true;
    } else if (strcmp(name, "previous") == 0) {
        if (s->has_previous)
            return fail(s, "previous given twice");
        if (resolve(s, value, s->previous, sizeof(s->previous)) == -1)
            return 0;
        s->has_previous = true;
    } else {
        return fail(s, "unknown key '%s' in [roster]", name);
    }
    return 1;
}

/* Adds a key generation read from a member-public file. */
static int add_key(struct source *s, struct src_member *m, uint32_t key_id,
                   enum roster_key_status status, const char *rel)
{
    char path[PATH_MAX];
    struct src_key *k;

    if (m->n_keys == ROSTER_MAX_KEYS)
        return fail(s, "more than %d key generations", ROSTER_MAX_KEYS);
    if (resolve(s, rel, path, sizeof(path)) == -1)
        return 0;
    k = &m->keys[m->n_keys];
    if (keys_load_public(path, &k->pub) == -1)
        return fail(s, "cannot read member public key file %s", rel);
    if (strcmp(k->pub.member, m->id) != 0)
        return fail(s, "%s holds the keys of %s, not %s", rel, k->pub.member, m->id);
    k->key_id = key_id;
    k->status = status;
    m->n_keys++;
    return 1;
}

/* "active = ID PATH", "retired = ID PATH" or "revoked = ID PATH". */
static int add_old_key(struct source *s, struct src_member *m, enum roster_key_status status,
                       const char *value)
{
    char id[16];
    const char *sp = strchr(value, ' ');
    uint64_t n;

    if (sp == NULL || (size_t)(sp - value) >= sizeof(id))
        return fail(s, "expected KEY_ID PATH");
    memcpy(id, value, (size_t)(sp - value));
    id[sp - value] = '\0';
    while (*sp == ' ')
        sp++;
    if (parse_uint(id, UINT32_MAX, &n) == -1 || n == 0 || *sp == '\0')
        return fail(s, "expected KEY_ID PATH with a key id from 1");
    return add_key(s, m, (uint32_t)n, status, sp);
}

/* "last_seq = KEY_ID LOG:SEQ [LOG:SEQ ...]": the last seq generation
 * KEY_ID signed in each log, LOG being "*" for the relayed log or the
 * member id of a direct log's peer. */
static int add_limits(struct source *s, struct src_member *m, const char *value)
{
    char word[UTIL_MEMBER_ID_MAX + 32];
    const char *p = value;
    uint64_t key_id = 0;
    bool has_key = false;
    size_t added = 0;

    while (*p != '\0') {
        size_t n = strcspn(p, " \t");
        char *colon;
        uint64_t seq;

        if (n == 0) {
            p++;
            continue;
        }
        if (n >= sizeof(word))
            return fail(s, "last_seq: '%.*s' is too long", (int)n, p);
        memcpy(word, p, n);
        word[n] = '\0';
        p += n;
        if (!has_key) {
            if (parse_uint(word, UINT32_MAX, &key_id) == -1 || key_id == 0)
                return fail(s, "last_seq: expected KEY_ID LOG:SEQ ... with a key id from 1");
            has_key = true;
            continue;
        }
        if ((colon = strrchr(word, ':')) == NULL)
            return fail(s, "last_seq: expected LOG:SEQ, not '%s'", word);
        *colon = '\0';
        if (parse_uint(colon + 1, INT64_MAX, &seq) == -1 || seq == 0)
            return fail(s, "last_seq: the seq of log %s must be a whole number from 1", word);
        if (strcmp(word, "*") != 0 && !util_is_member_id(word, strlen(word)))
            return fail(s, "last_seq: log '%s' is neither * nor a member id", word);
        if (m->n_limits == ROSTER_MAX_SIGNED_LOGS * ROSTER_MAX_KEYS)
            return fail(s, "last_seq: too many logs");
        struct src_limit *l = realloc(m->limits, (m->n_limits + 1) * sizeof(*m->limits));
        if (l == NULL)
            return fail(s, "out of memory");
        m->limits = l;
        l = &m->limits[m->n_limits++];
        memset(l, 0, sizeof(*l));
        l->key_id = (uint32_t)key_id;
        strcpy(l->log_peer, strcmp(word, "*") == 0 ? "" : word);
        l->last_seq = seq;
        added++;
    }
    if (added == 0)
        return fail(s, "last_seq: expected KEY_ID LOG:SEQ [LOG:SEQ ...]");
    return 1;
}

/* "groups = a, b, c": comma separated, may repeat. */
static int add_groups(struct source *s, struct src_member *m, const char *value)
{
    const char *p = value;

    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        char g[ROSTER_GROUP_MAX + 1];
        while (n > 0 && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0 || n > ROSTER_GROUP_MAX)
            return fail(s, "group names are 1..%d characters", ROSTER_GROUP_MAX);
        memcpy(g, p, n);
        g[n] = '\0';
        if (!domain_is_word(g, ROSTER_GROUP_MAX))
            return fail(s, "bad group name '%s'", g);
        for (size_t i = 0; i < m->n_groups; i++)
            if (strcmp(m->groups[i], g) == 0)
                return fail(s, "group %s listed twice", g);
        if (m->n_groups == ROSTER_MAX_GROUPS)
            return fail(s, "more than %d groups", ROSTER_MAX_GROUPS);
        strcpy(m->groups[m->n_groups++], g);
        p = end != NULL ? end + 1 : p + n;
    }
    return 1;
}

static int on_member(struct source *s, struct src_member *m, const char *name, const char *value)
{
    uint64_t n;

    if (strcmp(name, "name") == 0) {
        if (m->has_name)
            return fail(s, "name given twice");
        if (!roster_is_name(value))
            return fail(s, "name must be 1..%d printable characters", ROSTER_NAME_MAX);
        if (copy_str(s, m->name, sizeof(m->name), value, "name") == -1)
            return 0;
        m->has_name = true;
    } else if (strcmp(name, "role") == 0) {
        if (m->has_role)
            return fail(s, "role given twice");
        if (roster_role_parse(value, &m->role) == -1)
            return fail(s, "role must be beneficiary, donor, observer or coordinator");
        m->has_role = true;
    } else if (strcmp(name, "keys") == 0) {
        if (m->has_active)
            return fail(s, "keys given twice (list older generations as retired or revoked)");
        m->active = m->n_keys;
        if (add_key(s, m, 1, ROSTER_KEY_ACTIVE, value) != 1)
            return 0;
        m->has_active = true;
    } else if (strcmp(name, "key_id") == 0) {
        if (m->has_key_id)
            return fail(s, "key_id given twice");
        if (parse_uint(value, UINT32_MAX, &n) == -1 || n == 0)
            return fail(s, "key_id must be a whole number from 1");
        m->active_id = (uint32_t)n;
        m->has_key_id = true;
    } else if (strcmp(name, "active") == 0) {
        /* The generation a rotation replaces, ACTIVE beside keys until
         * a later version retires it (PROTOCOL.md 3.4). */
        return add_old_key(s, m, ROSTER_KEY_ACTIVE, value);
    } else if (strcmp(name, "retired") == 0) {
        return add_old_key(s, m, ROSTER_KEY_RETIRED, value);
    } else if (strcmp(name, "revoked") == 0) {
        return add_old_key(s, m, ROSTER_KEY_REVOKED, value);
    } else if (strcmp(name, "last_seq") == 0) {
        return add_limits(s, m, value);
    } else if (strcmp(name, "endpoint") == 0) {
        char why[DOMAIN_WHY_MAX];
        if (!roster_is_endpoint(value))
            return fail(s, "endpoint must be 1..%d characters without spaces", ROSTER_ENDPOINT_MAX);
        /* Stricter than what a node accepts in a signed roster, which
         * stays as it was: new rosters only name endpoints a node can use. */
        if (domain_check_endpoint(value, why, sizeof(why)) == -1)
            return fail(s, "endpoint '%s' %s", value, why);
        if (m->n_endpoints == ROSTER_MAX_ENDPOINTS)
            return fail(s, "more than %d endpoints", ROSTER_MAX_ENDPOINTS);
        strcpy(m->endpoints[m->n_endpoints++], value);
    } else if (strcmp(name, "groups") == 0) {
        return add_groups(s, m, value);
    } else {
        return fail(s, "unknown key '%s' in [member %s]", name, m->id);
    }
    return 1;
}

static int on_governor(struct source *s, struct src_governor *g, const char *name,
                       const char *value)
{
    char path[PATH_MAX];

    if (strcmp(name, "key") == 0) {
        if (g->has_key)
            return fail(s, "key given twice");
        if (resolve(s, value, path, sizeof(path)) == -1)
            return 0;
        if (keys_load_governor_public(path, g->member, g->sign_pk) == -1)
            return fail(s, "cannot read governor public key file %s", value);
        g->has_key = true;
    } else if (strcmp(name, "member") == 0) {
        if (g->claimed[0] != '\0')
            return fail(s, "member given twice");
        if (!util_is_member_id(value, strlen(value)))
            return fail(s, "bad member id '%s'", value);
        strcpy(g->claimed, value);
    } else {
        return fail(s, "unknown key '%s' in [governor %s]", name, g->label);
    }
    return 1;
}

/* Hands inifile the first error, if there is one. */
static int report(const struct source *s, char *why, size_t whylen)
{
    if (s->err_line == 0)
        return 0;
    snprintf(why, whylen, "%s", s->err);
    return -1;
}

static int on_section(void *arg, const char *name, int lineno, char *why, size_t whylen)
{
    struct source *s = arg;

    s->lineno = lineno;
    begin_section(s, name);
    return report(s, why, whylen);
}

/* One "name = value" of the current section. Returns 1, or 0 with the
 * error recorded. */
static int handle_value(struct source *s, const char *name, const char *value)
{
    switch (s->cur) {
    case SEC_ROSTER:
        return on_roster(s, name, value);
    case SEC_MEMBER:
        return on_member(s, &s->members[s->cur_index], name, value);
    case SEC_GOVERNOR:
        return on_governor(s, &s->governors[s->cur_index], name, value);
    case SEC_NONE:
        break;
    }
    return fail(s, "'%s' outside a [roster], [member ID] or [governor LABEL] section", name);
}

/* The section is ignored: begin_section has tracked it, with its line. */
static int on_value(void *arg, const char *section, const char *name, const char *value, int lineno,
                    char *why, size_t whylen)
{
    struct source *s = arg;

    (void)section;
    s->lineno = lineno;
    handle_value(s, name, value);
    return report(s, why, whylen);
}

/* Whole-file checks that have a line of their own to blame. */
static int finish(struct source *s, int64_t now)
{
    if (!s->has_roster) {
        s->lineno = 1;
        return fail(s, "no [roster] section");
    }
    s->lineno = s->roster_line;
    if (!s->has_coalition || !s->has_version || !s->has_expires || !s->has_threshold)
        return fail(s, "[roster] needs coalition, version, expires and threshold");
    if (s->version > 1 && !s->has_previous)
        return fail(s, "version %llu needs previous = the roster it replaces",
                    (unsigned long long)s->version);
    if (s->version == 1 && s->has_previous)
        return fail(s, "version 1 has no previous roster");
    if (s->expires <= now)
        return fail(s, "expires is not in the future");
    if (s->n_members == 0)
        return fail(s, "no [member ID] sections");
    if (s->n_governors == 0)
        return fail(s, "no [governor LABEL] sections");
    for (size_t i = 0; i < s->n_members; i++) {
        struct src_member *m = &s->members[i];
        s->lineno = m->line;
        if (!m->has_name || !m->has_role || !m->has_active)
            return fail(s, "[member %s] needs name, role and keys", m->id);
        if (m->has_key_id)
            m->keys[m->active].key_id = m->active_id;
        for (size_t k = 0; k < m->n_keys; k++)
            for (size_t j = 0; j < k; j++)
                if (m->keys[j].key_id == m->keys[k].key_id)
                    return fail(s, "[member %s] uses key id %u twice", m->id, m->keys[k].key_id);
        for (size_t l = 0; l < m->n_limits; l++) {
            size_t k = 0;
            while (k < m->n_keys && m->keys[k].key_id != m->limits[l].key_id)
                k++;
            if (k == m->n_keys || m->keys[k].status != ROSTER_KEY_RETIRED)
                return fail(s, "[member %s] last_seq names key %u, which is not a retired key",
                            m->id, m->limits[l].key_id);
        }
    }
    for (size_t i = 0; i < s->n_governors; i++) {
        struct src_governor *g = &s->governors[i];
        s->lineno = g->line;
        if (!g->has_key)
            return fail(s, "[governor %s] needs key", g->label);
        if (g->claimed[0] != '\0' && strcmp(g->claimed, g->member) != 0)
            return fail(s, "[governor %s] key file is held by %s, not %s", g->label, g->member,
                        g->claimed);
    }
    return 1;
}

/* Points key k's signed_up_to at the member's limits for it. Returns 0 or
 * -1 when out of memory. */
static int encode_limits(struct src_member *m, size_t k, MemberKeys *pk)
{
    size_t n = 0;

    for (size_t l = 0; l < m->n_limits; l++)
        n += m->limits[l].key_id == m->keys[k].key_id;
    if (n == 0)
        return 0;
    if ((m->pb_limits[k] = calloc(n, sizeof(*m->pb_limits[k]))) == NULL)
        return -1;
    n = 0;
    for (size_t l = 0; l < m->n_limits; l++) {
        struct src_limit *sl = &m->limits[l];
        if (sl->key_id != m->keys[k].key_id)
            continue;
        tmbus__roster__signed_up_to__init(&sl->pb);
        sl->pb.log_peer = sl->log_peer;
        sl->pb.last_seq = sl->last_seq;
        m->pb_limits[k][n++] = &sl->pb;
    }
    pk->n_signed_up_to = n;
    pk->signed_up_to = m->pb_limits[k];
    return 0;
}

static int encode_member(struct src_member *m)
{
    tmbus__roster__member__init(&m->pb);
    m->pb.id = m->id;
    m->pb.name = m->name;
    m->pb.role = (Tmbus__Roster__Role)m->role;
    for (size_t k = 0; k < m->n_keys; k++) {
        MemberKeys *pk = &m->pb_keys[k];
        tmbus__roster__member_keys__init(pk);
        pk->key_id = m->keys[k].key_id;
        pk->status = (Tmbus__Roster__KeyStatus)m->keys[k].status;
        pk->sign_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, m->keys[k].pub.sign_pk};
        pk->box_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, m->keys[k].pub.box_pk};
        pk->transport_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, m->keys[k].pub.transport_pk};
        if (encode_limits(m, k, pk) == -1)
            return -1;
        m->pb_key_ptrs[k] = pk;
    }
    m->pb.n_keys = m->n_keys;
    m->pb.keys = m->pb_key_ptrs;
    for (size_t e = 0; e < m->n_endpoints; e++)
        m->pb_endpoints[e] = m->endpoints[e];
    m->pb.n_endpoints = m->n_endpoints;
    m->pb.endpoints = m->n_endpoints ? m->pb_endpoints : NULL;
    for (size_t g = 0; g < m->n_groups; g++)
        m->pb_groups[g] = m->groups[g];
    m->pb.n_groups = m->n_groups;
    m->pb.groups = m->n_groups ? m->pb_groups : NULL;
    return 0;
}

/* Packs the parsed source into an unsigned SignedRoster. */
static int encode(struct source *s, int64_t now, const uint8_t *prev_hash, uint8_t **out,
                  size_t *out_len)
{
    Roster ro;
    SignedRoster sr;
    Member **members = NULL;
    Governor *governors[ROSTER_MAX_GOVERNORS];
    uint8_t hash[HASH_BYTES];
    uint8_t *rbuf = NULL, *sbuf = NULL;
    size_t rlen, slen;
    int rc = -1;

    /* The _init functions, not the INIT macros: those cast away the const
     * of protobuf_c_empty_string. */
    tmbus__roster__roster__init(&ro);
    tmbus__roster__signed_roster__init(&sr);
    if ((members = calloc(s->n_members, sizeof(*members))) == NULL)
        goto out;
    for (size_t i = 0; i < s->n_members; i++) {
        if (encode_member(&s->members[i]) == -1)
            goto out;
        members[i] = &s->members[i].pb;
    }
    for (size_t i = 0; i < s->n_governors; i++) {
        Governor *g = &s->governors[i].pb;
        tmbus__roster__governor__init(g);
        g->member = s->governors[i].member;
        g->sign_key = (ProtobufCBinaryData){KEYS_PUBLIC_BYTES, s->governors[i].sign_pk};
        governors[i] = g;
    }
    ro.format = ROSTER_FORMAT;
    ro.coalition = s->coalition;
    ro.version = s->version;
    if (prev_hash != NULL) {
        memcpy(hash, prev_hash, HASH_BYTES);
        ro.previous_hash = (ProtobufCBinaryData){HASH_BYTES, hash};
    }
    ro.issued_at = now;
    ro.expires_at = s->expires;
    ro.threshold = s->threshold;
    ro.n_governors = s->n_governors;
    ro.governors = governors;
    ro.n_members = s->n_members;
    ro.members = members;
    rlen = tmbus__roster__roster__get_packed_size(&ro);
    if ((rbuf = malloc(rlen ? rlen : 1)) == NULL)
        goto out;
    tmbus__roster__roster__pack(&ro, rbuf);
    sr.roster = (ProtobufCBinaryData){rlen, rbuf};
    slen = tmbus__roster__signed_roster__get_packed_size(&sr);
    if ((sbuf = malloc(slen)) == NULL)
        goto out;
    tmbus__roster__signed_roster__pack(&sr, sbuf);
    *out = sbuf;
    *out_len = slen;
    sbuf = NULL;
    rc = 0;
out:
    if (rc == -1)
        log_warnx("roster: out of memory");
    free(sbuf);
    free(rbuf);
    free(members);
    return rc;
}

/* roster_build, and roster_build_next when previous_path is not NULL: the
 * version and previous then come from that roster, whatever the source
 * says. */
static int build(const char *source_path, const char *previous_path, int64_t now, uint8_t **out,
                 size_t *out_len)
{
    static const struct inifile_handlers handlers = {on_section, on_value};
    struct source *s = NULL;
    struct roster *prev = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    SignedRoster *sr = NULL;
    Roster *ro = NULL;
    char why[160], err[PATH_MAX + INIFILE_WHY_MAX];
    const char *slash;
    bool dir_fits = true;
    int rc = -1;

    if ((s = calloc(1, sizeof(*s))) == NULL ||
        (s->members = calloc(ROSTER_MAX_MEMBERS, sizeof(*s->members))) == NULL) {
        log_warnx("roster: out of memory");
        goto out;
    }
    if ((slash = strrchr(source_path, '/')) == NULL)
        strcpy(s->dir, ".");
    else if (slash == source_path)
        strcpy(s->dir, "/");
    else if ((size_t)(slash - source_path) < sizeof(s->dir))
        snprintf(s->dir, sizeof(s->dir), "%.*s", (int)(slash - source_path), source_path);
    else
        dir_fits = false;

    /* Such a path cannot be opened either, so inifile_read reports it
     * first; the check after it is for a system where it could. */
    if (inifile_read(source_path, SOURCE_MAX, &handlers, s, err, sizeof(err)) == -1) {
        log_warnx("%s", err);
        goto out;
    }
    if (!dir_fits) {
        log_warnx("%s: path too long", source_path);
        goto out;
    }
    if (previous_path != NULL && s->has_coalition) {
        if (roster_load(previous_path, s->coalition, &prev) == -1) {
            log_warnx("%s: the current roster is refused", previous_path);
            goto out;
        }
        if (roster_version(prev) == UINT64_MAX || strlen(previous_path) >= sizeof(s->previous)) {
            log_warnx("%s: cannot follow this roster", previous_path);
            goto out;
        }
        s->version = roster_version(prev) + 1;
        s->has_version = true;
        strcpy(s->previous, previous_path);
        s->has_previous = true;
        roster_free(&prev);
    }
    finish(s, now);
    if (s->err_line != 0) {
        log_warnx("%s:%d: %s", source_path, s->err_line, s->err);
        goto out;
    }
    if (s->has_previous) {
        if (roster_load(s->previous, s->coalition, &prev) == -1) {
            log_warnx("%s:%d: previous roster refused", source_path, s->roster_line);
            goto out;
        }
        if (roster_version(prev) == UINT64_MAX || roster_version(prev) + 1 != s->version) {
            log_warnx("%s:%d: version %llu does not follow the previous roster's %llu", source_path,
                      s->roster_line, (unsigned long long)s->version,
                      (unsigned long long)roster_version(prev));
            goto out;
        }
    }
    if (encode(s, now, prev ? roster_hash(prev) : NULL, &buf, &len) == -1)
        goto out;
    /* What we built must pass the same field checks as what we receive:
     * this catches what spans sections (a governor held by no member, a
     * threshold above the governing members, a shared transport key). */
    if (roster_open_fields(buf, len, &sr, &ro, why, sizeof(why)) != ROSTER_OK) {
        log_warnx("%s: %s", source_path, why);
        goto out;
    }
    *out = buf;
    *out_len = len;
    buf = NULL;
    rc = 0;
out:
    if (ro != NULL)
        tmbus__roster__roster__free_unpacked(ro, NULL);
    if (sr != NULL)
        tmbus__roster__signed_roster__free_unpacked(sr, NULL);
    roster_free(&prev);
    free(buf);
    if (s != NULL && s->members != NULL) {
        for (size_t i = 0; i < s->n_members; i++) {
            free(s->members[i].limits);
            for (size_t k = 0; k < ROSTER_MAX_KEYS; k++)
                free(s->members[i].pb_limits[k]);
        }
        free(s->members);
    }
    free(s);
    return rc;
}

int roster_build(const char *source_path, int64_t now, uint8_t **out, size_t *out_len)
{
    return build(source_path, NULL, now, out, out_len);
}

int roster_build_next(const char *source_path, const char *previous_path, int64_t now,
                      uint8_t **out, size_t *out_len)
{
    return build(source_path, previous_path, now, out, out_len);
}

/* ---- what changed between two rosters ----------------------------------- */

static const char *key_status_name(int status)
{
    switch (status) {
    case TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_ACTIVE:
        return "active";
    case TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_RETIRED:
        return "retired";
    case TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_REVOKED:
        return "revoked";
    default:
        return "unknown";
    }
}

/* Prints one change; returns 1, to count it. */
static int change(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int change(FILE *out, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    return 1;
}

static const Member *member_by_id(const Roster *ro, const char *id)
{
    for (size_t i = 0; i < ro->n_members; i++)
        if (strcmp(ro->members[i]->id, id) == 0)
            return ro->members[i];
    return NULL;
}

static const MemberKeys *keys_by_id(const Member *m, uint32_t key_id)
{
    for (size_t i = 0; i < m->n_keys; i++)
        if (m->keys[i]->key_id == key_id)
            return m->keys[i];
    return NULL;
}

static bool same_strings(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static void print_strings(FILE *out, char **v, size_t n)
{
    if (n == 0)
        fputs("-", out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%s", i ? "," : "", v[i]);
}

static const char *role_name(int role)
{
    const char *s = (role >= 1 && role <= 4) ? roster_role_name((enum roster_role)role) : NULL;
    return s != NULL ? s : "unknown";
}

/* The changes of one member present in both rosters. */
static int diff_member(const Member *a, const Member *b, FILE *out)
{
    int n = 0;

    if (strcmp(a->name, b->name) != 0)
        n += change(out, "  member %s: name \"%s\" -> \"%s\"\n", a->id, a->name, b->name);
    if (a->role != b->role)
        n += change(out, "  member %s: role %s -> %s\n", a->id, role_name(a->role),
                    role_name(b->role));
    if (!same_strings(a->endpoints, a->n_endpoints, b->endpoints, b->n_endpoints)) {
        fprintf(out, "  member %s: endpoints ", a->id);
        print_strings(out, a->endpoints, a->n_endpoints);
        fputs(" -> ", out);
        print_strings(out, b->endpoints, b->n_endpoints);
        fputc('\n', out);
        n++;
    }
    if (!same_strings(a->groups, a->n_groups, b->groups, b->n_groups)) {
        fprintf(out, "  member %s: groups ", a->id);
        print_strings(out, a->groups, a->n_groups);
        fputs(" -> ", out);
        print_strings(out, b->groups, b->n_groups);
        fputc('\n', out);
        n++;
    }
    for (size_t i = 0; i < b->n_keys; i++) {
        const MemberKeys *nk = b->keys[i], *ok = keys_by_id(a, nk->key_id);
        if (ok == NULL) {
            fprintf(out, "  member %s: key generation %u added (%s)\n", a->id, nk->key_id,
                    key_status_name(nk->status));
            n++;
        } else if (ok->status != nk->status) {
            fprintf(out, "  member %s: key generation %u %s -> %s%s\n", a->id, nk->key_id,
                    key_status_name(ok->status), key_status_name(nk->status),
                    nk->status == TMBUS__ROSTER__KEY_STATUS__KEY_STATUS_REVOKED
                        ? " (its links close and its envelopes are refused)"
                        : "");
            n++;
        } else if (memcmp(ok->sign_key.data, nk->sign_key.data, KEYS_PUBLIC_BYTES) != 0 ||
                   memcmp(ok->box_key.data, nk->box_key.data, KEYS_PUBLIC_BYTES) != 0 ||
                   memcmp(ok->transport_key.data, nk->transport_key.data, KEYS_PUBLIC_BYTES) != 0) {
            fprintf(out, "  member %s: key generation %u has other keys\n", a->id, nk->key_id);
            n++;
        }
    }
    for (size_t i = 0; i < a->n_keys; i++)
        if (keys_by_id(b, a->keys[i]->key_id) == NULL) {
            fprintf(out, "  member %s: key generation %u dropped\n", a->id, a->keys[i]->key_id);
            n++;
        }
    return n;
}

static bool has_governor(const Roster *ro, const Governor *g)
{
    for (size_t i = 0; i < ro->n_governors; i++)
        if (strcmp(ro->governors[i]->member, g->member) == 0 &&
            memcmp(ro->governors[i]->sign_key.data, g->sign_key.data, KEYS_PUBLIC_BYTES) == 0)
            return true;
    return false;
}

int roster_diff(const uint8_t *old_buf, size_t old_len, const uint8_t *new_buf, size_t new_len,
                FILE *out)
{
    SignedRoster *osr = NULL, *nsr = NULL;
    Roster *a = NULL, *b = NULL;
    char why[160], w1[32], w2[32], fp[64];
    enum roster_status st;
    int n = -1;

    if ((st = roster_open_fields(old_buf, old_len, &osr, &a, why, sizeof(why))) != ROSTER_OK ||
        (st = roster_open_fields(new_buf, new_len, &nsr, &b, why, sizeof(why))) != ROSTER_OK) {
        log_warnx("roster: cannot compare: %s: %s", roster_status_name(st), why);
        goto out;
    }
    n = 0;
    if (strcmp(a->coalition, b->coalition) != 0)
        n += change(out, "  coalition %s -> %s\n", a->coalition, b->coalition);
    if (a->version != b->version)
        fprintf(out, "  version %llu -> %llu\n", (unsigned long long)a->version,
                (unsigned long long)b->version);
    if (a->expires_at != b->expires_at) {
        util_format_utc(a->expires_at, w1, sizeof(w1));
        util_format_utc(b->expires_at, w2, sizeof(w2));
        fprintf(out, "  expires %s -> %s\n", w1, w2);
        n++;
    }
    if (a->threshold != b->threshold)
        n += change(out, "  threshold %u -> %u\n", a->threshold, b->threshold);
    for (size_t i = 0; i < b->n_members; i++) {
        const Member *m = b->members[i], *old = member_by_id(a, m->id);
        if (old == NULL) {
            fprintf(out, "  member %s added: \"%s\", %s, key generation(s) %zu\n", m->id, m->name,
                    role_name(m->role), m->n_keys);
            n++;
        } else {
            n += diff_member(old, m, out);
        }
    }
    for (size_t i = 0; i < a->n_members; i++)
        if (member_by_id(b, a->members[i]->id) == NULL) {
            fprintf(out, "  member %s removed (its links close and its envelopes are refused)\n",
                    a->members[i]->id);
            n++;
        }
    for (size_t i = 0; i < b->n_governors; i++)
        if (!has_governor(a, b->governors[i])) {
            keys_to_base64(b->governors[i]->sign_key.data, 9, fp, sizeof(fp));
            fprintf(out, "  governor key of %s added (%s...)\n", b->governors[i]->member, fp);
            n++;
        }
    for (size_t i = 0; i < a->n_governors; i++)
        if (!has_governor(b, a->governors[i])) {
            keys_to_base64(a->governors[i]->sign_key.data, 9, fp, sizeof(fp));
            fprintf(out, "  governor key of %s removed (%s...)\n", a->governors[i]->member, fp);
            n++;
        }
out:
    if (a != NULL)
        tmbus__roster__roster__free_unpacked(a, NULL);
    if (b != NULL)
        tmbus__roster__roster__free_unpacked(b, NULL);
    if (osr != NULL)
        tmbus__roster__signed_roster__free_unpacked(osr, NULL);
    if (nsr != NULL)
        tmbus__roster__signed_roster__free_unpacked(nsr, NULL);
    return n;
}
