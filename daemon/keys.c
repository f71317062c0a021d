/*
 * keys: generates, derives, saves and loads key sets, and performs the only
 * operations that touch their secrets (sign, pair key). Every secret byte
 * lives in one sodium_malloc allocation per key set, or in a sodium_malloc
 * text buffer while a key file is read or written, and is wiped on every
 * path. This file must never log key material, never read a secret through
 * stdio buffers, and never hand out a secret key other than the CURVE one.
 */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"

#define SIGN_SECRET_BYTES 64 /* Ed25519 secret key: seed || public key */
#define SEED_BYTES        32
#define PAIR_LABEL        "tmbus pair v1" /* hashed with its NUL: 14 bytes */
#define FIELD_NAME_MAX    32              /* longest field name echoed in a log */

/* One allocation for every kind; the parts a kind does not use stay zero. */
struct keys_secret {
    uint8_t sign_sk[SIGN_SECRET_BYTES];
    uint8_t box_sk[KEYS_PUBLIC_BYTES];
    uint8_t transport_sk[KEYS_CURVE_SECRET_BYTES];
};

enum field {
    F_KIND,
    F_MEMBER,
    F_SIGN_PK,
    F_SIGN_SK,
    F_BOX_PK,
    F_BOX_SK,
    F_TRANSPORT_PK,
    F_TRANSPORT_SK,
    F_COUNT
};

#define BIT(f) (1u << (f))

static const char *const field_names[F_COUNT] = {
    "kind",       "member",     "sign-public",      "sign-secret",
    "box-public", "box-secret", "transport-public", "transport-secret",
};

/* The six kinds of key file and the fields each must hold, no more. */
struct file_kind {
    const char *name;
    enum keys_kind kind;
    bool is_secret;
    unsigned fields;
};

#define MEMBER_PUBLIC_FIELDS                                                                       \
    (BIT(F_KIND) | BIT(F_MEMBER) | BIT(F_SIGN_PK) | BIT(F_BOX_PK) | BIT(F_TRANSPORT_PK))
#define CLIENT_PUBLIC_FIELDS   (BIT(F_KIND) | BIT(F_TRANSPORT_PK))
#define GOVERNOR_PUBLIC_FIELDS (BIT(F_KIND) | BIT(F_MEMBER) | BIT(F_SIGN_PK))

static const struct file_kind file_kinds[] = {
    {"member-secret", KEYS_MEMBER, true,
     MEMBER_PUBLIC_FIELDS | BIT(F_SIGN_SK) | BIT(F_BOX_SK) | BIT(F_TRANSPORT_SK)},
    {"member-public", KEYS_MEMBER, false, MEMBER_PUBLIC_FIELDS},
    {"client-secret", KEYS_CLIENT, true, CLIENT_PUBLIC_FIELDS | BIT(F_TRANSPORT_SK)},
    {"client-public", KEYS_CLIENT, false, CLIENT_PUBLIC_FIELDS},
    {"governor-secret", KEYS_GOVERNOR, true, GOVERNOR_PUBLIC_FIELDS | BIT(F_SIGN_SK)},
    {"governor-public", KEYS_GOVERNOR, false, GOVERNOR_PUBLIC_FIELDS},
};

/* What a key file said, public half; the secret half goes straight into a
 * struct keys_secret. */
struct parsed {
    const struct file_kind *fk;
    char member[UTIL_MEMBER_ID_MAX + 1];
    uint8_t sign_pk[KEYS_PUBLIC_BYTES];
    uint8_t box_pk[KEYS_PUBLIC_BYTES];
    uint8_t transport_pk[KEYS_PUBLIC_BYTES];
    int line_of[F_COUNT]; /* 0: field absent */
};

/* A text buffer in sodium_malloc memory, for writing key files. */
struct text {
    char *buf;
    size_t len;
    bool overflow;
};

static bool kind_is_valid(enum keys_kind kind)
{
    return kind == KEYS_MEMBER || kind == KEYS_CLIENT || kind == KEYS_GOVERNOR;
}

/* The file kind of a valid key kind; callers have checked kind already. */
static const struct file_kind *file_kind_of(enum keys_kind kind, bool is_secret)
{
    for (size_t i = 0; i < sizeof(file_kinds) / sizeof(file_kinds[0]); i++)
        if (file_kinds[i].kind == kind && file_kinds[i].is_secret == is_secret)
            return &file_kinds[i];
    log_abort(__FILE__, __LINE__, "no file kind for a valid key kind");
}

/* Checks the member argument against the kind; logs why it is refused. */
static int check_member_arg(enum keys_kind kind, const char *member)
{
    if (!kind_is_valid(kind)) {
        log_warnx("keys: unknown key kind %d", (int)kind);
        return -1;
    }
    if (kind == KEYS_CLIENT) {
        if (member != NULL) {
            log_warnx("keys: client keys belong to no member");
            return -1;
        }
        return 0;
    }
    if (member == NULL || !util_is_member_id(member, strlen(member))) {
        log_warnx("keys: a member or governor key set needs a valid member id");
        return -1;
    }
    return 0;
}

/* A zeroed key set with its zeroed secret allocation, or NULL. */
static struct keyset *keyset_new(enum keys_kind kind, const char *member)
{
    struct keyset *ks;

    if (sodium_init() < 0) {
        log_warnx("keys: libsodium failed to initialise");
        return NULL;
    }
    if ((ks = calloc(1, sizeof(*ks))) == NULL) {
        log_warn("keys: calloc");
        return NULL;
    }
    if ((ks->secret = sodium_malloc(sizeof(*ks->secret))) == NULL) {
        log_warn("keys: sodium_malloc");
        free(ks);
        return NULL;
    }
    sodium_memzero(ks->secret, sizeof(*ks->secret));
    ks->kind = kind;
    if (member != NULL)
        memcpy(ks->member, member, strlen(member) + 1);
    return ks;
}

struct keyset *keys_generate(enum keys_kind kind, const char *member)
{
    struct keyset *ks;

    if (check_member_arg(kind, member) == -1 || (ks = keyset_new(kind, member)) == NULL)
        return NULL;
    if (kind == KEYS_MEMBER || kind == KEYS_GOVERNOR)
        crypto_sign_keypair(ks->sign_pk, ks->secret->sign_sk);
    if (kind == KEYS_MEMBER)
        crypto_box_keypair(ks->box_pk, ks->secret->box_sk);
    /* CurveZMQ keys are X25519 key pairs, so crypto_box makes them too. */
    if (kind == KEYS_MEMBER || kind == KEYS_CLIENT)
        crypto_box_keypair(ks->transport_pk, ks->secret->transport_sk);
    return ks;
}

/* BLAKE2b-256 keyed by seed over label: the seed of one key pair. */
static void derive_seed(uint8_t out[SEED_BYTES], const uint8_t seed[SEED_BYTES], const char *label)
{
    crypto_generichash(out, SEED_BYTES, (const uint8_t *)label, strlen(label), seed, SEED_BYTES);
}

struct keyset *keys_from_seed(enum keys_kind kind, const char *member, const uint8_t seed[32])
{
    uint8_t sub[SEED_BYTES];
    struct keyset *ks;

    if (check_member_arg(kind, member) == -1 || (ks = keyset_new(kind, member)) == NULL)
        return NULL;
    if (kind == KEYS_MEMBER || kind == KEYS_GOVERNOR) {
        derive_seed(sub, seed, "tmbus seed sign");
        crypto_sign_seed_keypair(ks->sign_pk, ks->secret->sign_sk, sub);
    }
    if (kind == KEYS_MEMBER) {
        derive_seed(sub, seed, "tmbus seed box");
        crypto_box_seed_keypair(ks->box_pk, ks->secret->box_sk, sub);
    }
    if (kind == KEYS_MEMBER || kind == KEYS_CLIENT) {
        derive_seed(sub, seed, "tmbus seed transport");
        crypto_box_seed_keypair(ks->transport_pk, ks->secret->transport_sk, sub);
    }
    sodium_memzero(sub, sizeof(sub));
    return ks;
}

void keys_free(struct keyset **ksp)
{
    if (ksp == NULL || *ksp == NULL)
        return;
    sodium_free((*ksp)->secret); /* zeroes before unmapping */
    free(*ksp);
    *ksp = NULL;
}

void keys_to_base64(const uint8_t *bin, size_t len, char *out, size_t size)
{
    ensure(size >= sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL));
    sodium_bin2base64(out, size, bin, len, sodium_base64_VARIANT_ORIGINAL);
}

int keys_from_base64(const char *text, uint8_t *bin, size_t want)
{
    const char *end = NULL;
    size_t got = 0;

    /* Only the canonical, padded encoding of exactly want bytes. libsodium
     * already refuses missing padding, set unused bits and stray bytes; the
     * length checks state the contract outright rather than lean on that. */
    if (strlen(text) != sodium_base64_ENCODED_LEN(want, sodium_base64_VARIANT_ORIGINAL) - 1 ||
        sodium_base642bin(bin, want, text, strlen(text), NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != want || *end != '\0') {
        sodium_memzero(bin, want);
        return -1;
    }
    return 0;
}

/* The field name as typed, if it is short and plain enough to echo in a log
 * without risk of echoing key material; otherwise a placeholder. */
static const char *loggable(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > FIELD_NAME_MAX)
        return "(unprintable)";
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
            return "(unprintable)";
    return s;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Trims blanks at both ends of s in place and returns the new start. */
static char *trim(char *s)
{
    size_t n;

    while (is_blank(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_blank(s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Decodes one base64 key field into its place in p or sec. */
static int parse_key_field(const char *path, int line, enum field f, const char *value,
                           struct parsed *p, struct keys_secret *sec)
{
    uint8_t *dst = NULL;
    size_t want = KEYS_PUBLIC_BYTES;

    switch (f) {
    case F_SIGN_PK:
        dst = p->sign_pk;
        break;
    case F_SIGN_SK:
        dst = sec->sign_sk;
        want = SIGN_SECRET_BYTES;
        break;
    case F_BOX_PK:
        dst = p->box_pk;
        break;
    case F_BOX_SK:
        dst = sec->box_sk;
        break;
    case F_TRANSPORT_PK:
        dst = p->transport_pk;
        break;
    case F_TRANSPORT_SK:
        dst = sec->transport_sk;
        break;
    default:
        ensure(!"not a key field");
    }
    if (keys_from_base64(value, dst, want) == -1) {
        log_warnx("%s:%d: %s is not the base64 encoding of exactly %zu bytes", path, line,
                  field_names[f], want);
        return -1;
    }
    return 0;
}

/* Parses one "name = value" line (already trimmed, not blank, not a
 * comment). */
static int parse_line(const char *path, int line, char *s, struct parsed *p,
                      struct keys_secret *sec)
{
    char *eq, *name, *value;
    int f;

    if ((eq = strchr(s, '=')) == NULL) {
        log_warnx("%s:%d: expected 'name = value'", path, line);
        return -1;
    }
    *eq = '\0';
    name = trim(s);
    value = trim(eq + 1);
    for (f = 0; f < F_COUNT; f++)
        if (strcmp(name, field_names[f]) == 0)
            break;
    if (f == F_COUNT) {
        log_warnx("%s:%d: unknown field '%s'", path, line, loggable(name));
        return -1;
    }
    if (p->line_of[f] != 0) {
        log_warnx("%s:%d: duplicate field '%s' (first on line %d)", path, line, field_names[f],
                  p->line_of[f]);
        return -1;
    }
    p->line_of[f] = line;
    if (f == F_KIND) {
        for (size_t i = 0; i < sizeof(file_kinds) / sizeof(file_kinds[0]); i++)
            if (strcmp(value, file_kinds[i].name) == 0)
                p->fk = &file_kinds[i];
        if (p->fk == NULL) {
            log_warnx("%s:%d: unknown kind '%s'", path, line, loggable(value));
            return -1;
        }
        return 0;
    }
    if (f == F_MEMBER) {
        if (!util_is_member_id(value, strlen(value))) {
            log_warnx("%s:%d: member is not a member id (1 to %d of A-Z a-z 0-9 _ -)", path, line,
                      UTIL_MEMBER_ID_MAX);
            return -1;
        }
        memcpy(p->member, value, strlen(value) + 1);
        return 0;
    }
    return parse_key_field(path, line, (enum field)f, value, p, sec);
}

/* Parses a whole key file held NUL-terminated in text (modified in place),
 * then checks that it holds exactly the fields of its kind. */
static int parse_text(const char *path, char *text, struct parsed *p, struct keys_secret *sec)
{
    char *next;
    int line = 0;

    for (char *s = text; s != NULL; s = next) {
        line++;
        if ((next = strchr(s, '\n')) != NULL)
            *next++ = '\0';
        char *t = trim(s);
        if (*t == '\0' || *t == '#')
            continue;
        if (parse_line(path, line, t, p, sec) == -1)
            return -1;
    }
    if (p->fk == NULL) {
        log_warnx("%s: missing field 'kind'", path);
        return -1;
    }
    for (int f = 0; f < F_COUNT; f++) {
        bool wanted = (p->fk->fields & BIT(f)) != 0;
        if (wanted && p->line_of[f] == 0) {
            log_warnx("%s: missing field '%s' for kind %s", path, field_names[f], p->fk->name);
            return -1;
        }
        if (!wanted && p->line_of[f] != 0) {
            log_warnx("%s:%d: field '%s' does not belong in a %s file", path, p->line_of[f],
                      field_names[f], p->fk->name);
            return -1;
        }
    }
    return 0;
}

static int check_mode(const char *path, mode_t mode)
{
    const char *how = "readable";

    if ((mode & 077) == 0)
        return 0;
    if ((mode & 044) == 0)
        how = (mode & 022) ? "writable" : "accessible";
    log_warnx("%s is %s by group or others (mode %04o); chmod 600 it", path, how,
              (unsigned)(mode & 07777));
    return -1;
}

/* Reads and parses a key file. The whole text, secrets included, is only
 * ever in sodium_malloc memory, and is wiped before returning. Refuses
 * symbolic links, non-regular files, files over KEYS_FILE_MAX and secret
 * files that group or others can access. On success *secp is a
 * sodium_malloc'd secret (zero for a public file) the caller frees. */
static int load_file(const char *path, struct parsed *p, struct keys_secret **secp)
{
    struct stat st;
    struct keys_secret *sec = NULL;
    char *text = NULL;
    size_t got = 0;
    int fd = -1, rc = -1;

    memset(p, 0, sizeof(*p));
    *secp = NULL;
    if (sodium_init() < 0) {
        log_warnx("keys: libsodium failed to initialise");
        goto out;
    }
    /* O_NONBLOCK: opening a FIFO planted in place of a key must not hang. */
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1) {
        if (errno == ELOOP)
            log_warnx("%s is a symbolic link; refusing to follow it", path);
        else
            log_warn("cannot open key file %s", path);
        goto out;
    }
    if (fstat(fd, &st) == -1) {
        log_warn("cannot stat key file %s", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        log_warnx("%s is not a regular file", path);
        goto out;
    }
    if (st.st_size > KEYS_FILE_MAX) {
        log_warnx("%s is larger than %d bytes; not a key file", path, KEYS_FILE_MAX);
        goto out;
    }
    if ((text = sodium_malloc(KEYS_FILE_MAX + 2)) == NULL ||
        (sec = sodium_malloc(sizeof(*sec))) == NULL) {
        log_warn("keys: sodium_malloc");
        goto out;
    }
    sodium_memzero(sec, sizeof(*sec));
    /* Read one byte past the cap to notice a file that grew since fstat. */
    for (;;) {
        ssize_t n = read(fd, text + got, KEYS_FILE_MAX + 1 - got);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            log_warn("cannot read key file %s", path);
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > KEYS_FILE_MAX) {
            log_warnx("%s is larger than %d bytes; not a key file", path, KEYS_FILE_MAX);
            goto out;
        }
    }
    text[got] = '\0';
    if (memchr(text, '\0', got) != NULL) {
        log_warnx("%s contains a NUL byte; not a key file", path);
        goto out;
    }
    if (parse_text(path, text, p, sec) == -1)
        goto out;
    if (p->fk->is_secret && check_mode(path, st.st_mode) == -1)
        goto out;
    *secp = sec;
    sec = NULL;
    rc = 0;
out:
    if (fd != -1)
        close(fd);
    sodium_free(text); /* accepts NULL; zeroes first */
    sodium_free(sec);
    return rc;
}

/* Recomputes every public key of a secret file from its secret and compares.
 * The Ed25519 secret is seed || public key, so the seed is re-expanded: just
 * reading the public half back would not notice a tampered seed. */
static int check_consistent(const char *path, const struct parsed *p, const struct keys_secret *sec)
{
    uint8_t pk[KEYS_PUBLIC_BYTES], seed[SEED_BYTES];
    uint8_t *sk = NULL;
    unsigned fields = p->fk->fields;
    int rc = -1;

    if ((sk = sodium_malloc(SIGN_SECRET_BYTES)) == NULL) {
        log_warn("keys: sodium_malloc");
        goto out;
    }
    if (fields & BIT(F_SIGN_SK)) {
        crypto_sign_ed25519_sk_to_seed(seed, sec->sign_sk);
        crypto_sign_seed_keypair(pk, sk, seed);
        if (sodium_memcmp(sk, sec->sign_sk, SIGN_SECRET_BYTES) != 0 ||
            memcmp(pk, p->sign_pk, sizeof(pk)) != 0) {
            log_warnx("%s: sign-public does not match sign-secret", path);
            goto out;
        }
    }
    if ((fields & BIT(F_BOX_SK)) &&
        (crypto_scalarmult_base(pk, sec->box_sk) != 0 || memcmp(pk, p->box_pk, sizeof(pk)) != 0)) {
        log_warnx("%s: box-public does not match box-secret", path);
        goto out;
    }
    if ((fields & BIT(F_TRANSPORT_SK)) && (crypto_scalarmult_base(pk, sec->transport_sk) != 0 ||
                                           memcmp(pk, p->transport_pk, sizeof(pk)) != 0)) {
        log_warnx("%s: transport-public does not match transport-secret", path);
        goto out;
    }
    rc = 0;
out:
    sodium_memzero(seed, sizeof(seed));
    sodium_free(sk);
    return rc;
}

struct keyset *keys_load(const char *path)
{
    struct parsed p;
    struct keys_secret *sec = NULL;
    struct keyset *ks = NULL;

    if (load_file(path, &p, &sec) == -1)
        goto out;
    if (!p.fk->is_secret) {
        log_warnx("%s: kind %s is not a secret key file", path, p.fk->name);
        goto out;
    }
    if (check_consistent(path, &p, sec) == -1)
        goto out;
    if ((ks = calloc(1, sizeof(*ks))) == NULL) {
        log_warn("keys: calloc");
        goto out;
    }
    ks->kind = p.fk->kind;
    memcpy(ks->member, p.member, sizeof(ks->member));
    memcpy(ks->sign_pk, p.sign_pk, sizeof(ks->sign_pk));
    memcpy(ks->box_pk, p.box_pk, sizeof(ks->box_pk));
    memcpy(ks->transport_pk, p.transport_pk, sizeof(ks->transport_pk));
    ks->secret = sec;
    sec = NULL;
out:
    sodium_free(sec);
    return ks;
}

/* Loads the public half of a key file of the given kind, public or secret;
 * a secret file must pass the same checks as in keys_load. */
static int load_public_of(const char *path, enum keys_kind kind, struct parsed *p)
{
    struct keys_secret *sec = NULL;
    int rc = -1;

    if (load_file(path, p, &sec) == -1)
        goto out;
    if (p->fk->kind != kind) {
        log_warnx("%s: kind %s is not a %s key file", path, p->fk->name,
                  file_kind_of(kind, false)->name);
        goto out;
    }
    if (p->fk->is_secret && check_consistent(path, p, sec) == -1)
        goto out;
    rc = 0;
out:
    sodium_free(sec);
    return rc;
}

int keys_load_public(const char *path, struct keys_public *out)
{
    struct parsed p;

    if (load_public_of(path, KEYS_MEMBER, &p) == -1)
        return -1;
    memset(out, 0, sizeof(*out));
    memcpy(out->member, p.member, sizeof(out->member));
    memcpy(out->sign_pk, p.sign_pk, sizeof(out->sign_pk));
    memcpy(out->box_pk, p.box_pk, sizeof(out->box_pk));
    memcpy(out->transport_pk, p.transport_pk, sizeof(out->transport_pk));
    return 0;
}

int keys_load_governor_public(const char *path, char *member, uint8_t *sign_pk)
{
    struct parsed p;

    if (load_public_of(path, KEYS_GOVERNOR, &p) == -1)
        return -1;
    memcpy(member, p.member, UTIL_MEMBER_ID_MAX + 1);
    memcpy(sign_pk, p.sign_pk, KEYS_PUBLIC_BYTES);
    return 0;
}

static void put(struct text *t, const char *s)
{
    size_t n = strlen(s);

    if (t->overflow || n >= KEYS_FILE_MAX - t->len) {
        t->overflow = true;
        return;
    }
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
}

/* Appends "name = base64\n", encoding straight into the buffer so that a
 * secret never passes through any other memory. */
static void put_key(struct text *t, enum field f, const uint8_t *bin, size_t len)
{
    size_t enc = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);

    put(t, field_names[f]);
    put(t, " = ");
    if (t->overflow || enc >= KEYS_FILE_MAX - t->len) {
        t->overflow = true;
        return;
    }
    keys_to_base64(bin, len, t->buf + t->len, enc);
    t->len += enc - 1;
    put(t, "\n");
}

/* Renders the secret or public file of ks into t. */
static void render(struct text *t, const struct keyset *ks, bool is_secret)
{
    const struct file_kind *fk = file_kind_of(ks->kind, is_secret);

    put(t, is_secret ? "# tmbus secret keys: keep this file private (mode 0600), never share "
                       "it.\n"
                     : "# tmbus public keys: safe to share.\n");
    put(t, "kind = ");
    put(t, fk->name);
    put(t, "\n");
    if (fk->fields & BIT(F_MEMBER)) {
        put(t, "member = ");
        put(t, ks->member);
        put(t, "\n");
    }
    if (fk->fields & BIT(F_SIGN_PK))
        put_key(t, F_SIGN_PK, ks->sign_pk, KEYS_PUBLIC_BYTES);
    if (fk->fields & BIT(F_SIGN_SK))
        put_key(t, F_SIGN_SK, ks->secret->sign_sk, SIGN_SECRET_BYTES);
    if (fk->fields & BIT(F_BOX_PK))
        put_key(t, F_BOX_PK, ks->box_pk, KEYS_PUBLIC_BYTES);
    if (fk->fields & BIT(F_BOX_SK))
        put_key(t, F_BOX_SK, ks->secret->box_sk, KEYS_PUBLIC_BYTES);
    if (fk->fields & BIT(F_TRANSPORT_PK))
        put_key(t, F_TRANSPORT_PK, ks->transport_pk, KEYS_PUBLIC_BYTES);
    if (fk->fields & BIT(F_TRANSPORT_SK))
        put_key(t, F_TRANSPORT_SK, ks->secret->transport_sk, KEYS_CURVE_SECRET_BYTES);
}

/* Writes text to path with mode, atomically and never over an existing
 * file: util_write_file fills a fresh temporary name, which link() then
 * publishes; link fails with EEXIST instead of replacing, so two writers
 * racing for one path cannot both win. */
static int write_new(const char *path, const struct text *t, unsigned mode)
{
    char tmp[4096];
    int rc = -1;

    if (snprintf(tmp, sizeof(tmp), "%s.new%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        log_warnx("%s: path too long", path);
        return -1;
    }
    if (util_write_file(tmp, t->buf, t->len, mode) == -1) {
        log_warn("cannot write %s", tmp);
        return -1;
    }
    if (link(tmp, path) == -1) {
        if (errno == EEXIST)
            log_warnx("%s already exists; refusing to overwrite it", path);
        else
            log_warn("cannot create %s", path);
        goto out;
    }
    rc = 0;
out:
    unlink(tmp);
    return rc;
}

/* Fails, logged, when path (or a symbolic link of that name) exists. */
static int check_absent(const char *path)
{
    struct stat st;

    if (lstat(path, &st) == 0) {
        log_warnx("%s already exists; refusing to overwrite it", path);
        return -1;
    }
    if (errno != ENOENT) {
        log_warn("cannot check %s", path);
        return -1;
    }
    return 0;
}

int keys_save(const struct keyset *ks, const char *secret_path, const char *public_path)
{
    struct text sec = {0}, pub = {0};
    bool wrote_secret = false;
    int rc = -1;

    if (ks == NULL || !kind_is_valid(ks->kind)) {
        log_warnx("keys: cannot save an invalid key set");
        goto out;
    }
    /* Check both names first so that a refusal leaves nothing half done. */
    if ((secret_path != NULL && check_absent(secret_path) == -1) ||
        (public_path != NULL && check_absent(public_path) == -1))
        goto out;
    if ((sec.buf = sodium_malloc(KEYS_FILE_MAX)) == NULL ||
        (pub.buf = sodium_malloc(KEYS_FILE_MAX)) == NULL) {
        log_warn("keys: sodium_malloc");
        goto out;
    }
    render(&sec, ks, true);
    render(&pub, ks, false);
    ensure(!sec.overflow && !pub.overflow);
    if (secret_path != NULL) {
        if (write_new(secret_path, &sec, 0600) == -1)
            goto out;
        wrote_secret = true;
    }
    if (public_path != NULL && write_new(public_path, &pub, 0644) == -1)
        goto out;
    rc = 0;
out:
    /* Both files or neither: a lone secret would be a key nobody can use. */
    if (rc == -1 && wrote_secret)
        unlink(secret_path);
    sodium_free(sec.buf);
    sodium_free(pub.buf);
    return rc;
}

int keys_sign(const struct keyset *ks, const uint8_t *msg, size_t len,
              uint8_t sig[KEYS_SIGNATURE_BYTES])
{
    if (ks == NULL || (ks->kind != KEYS_MEMBER && ks->kind != KEYS_GOVERNOR)) {
        log_warnx("keys: this key set cannot sign");
        return -1;
    }
    return crypto_sign_detached(sig, NULL, msg, len, ks->secret->sign_sk) == 0 ? 0 : -1;
}

int keys_pair_key(const struct keyset *ks, const uint8_t peer_box_pk[KEYS_PUBLIC_BYTES],
                  uint8_t out[KEYS_PAIR_KEY_BYTES])
{
    crypto_generichash_state st;
    uint8_t shared[crypto_scalarmult_BYTES];
    const uint8_t *lo, *hi;
    int rc = -1;

    if (ks == NULL || ks->kind != KEYS_MEMBER) {
        log_warnx("keys: only a member key set has pair keys");
        goto out;
    }
    /* libsodium refuses a result of all zeros, i.e. a low-order peer key. */
    if (crypto_scalarmult(shared, ks->secret->box_sk, peer_box_pk) != 0)
        goto out;
    if (memcmp(ks->box_pk, peer_box_pk, KEYS_PUBLIC_BYTES) <= 0) {
        lo = ks->box_pk;
        hi = peer_box_pk;
    } else {
        lo = peer_box_pk;
        hi = ks->box_pk;
    }
    crypto_generichash_init(&st, NULL, 0, KEYS_PAIR_KEY_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)PAIR_LABEL, sizeof(PAIR_LABEL));
    crypto_generichash_update(&st, shared, sizeof(shared));
    crypto_generichash_update(&st, lo, KEYS_PUBLIC_BYTES);
    crypto_generichash_update(&st, hi, KEYS_PUBLIC_BYTES);
    crypto_generichash_final(&st, out, KEYS_PAIR_KEY_BYTES);
    rc = 0;
out:
    if (rc == -1)
        sodium_memzero(out, KEYS_PAIR_KEY_BYTES);
    sodium_memzero(shared, sizeof(shared));
    sodium_memzero(&st, sizeof(st));
    return rc;
}

const uint8_t *keys_transport_secret(const struct keyset *ks)
{
    if (ks == NULL || (ks->kind != KEYS_MEMBER && ks->kind != KEYS_CLIENT))
        return NULL;
    return ks->secret->transport_sk;
}
