/*
 * keyfile: reads and writes tmbus key files. Every byte of a file's text,
 * and every decoded secret, lives in sodium_malloc memory and is wiped on
 * every path. This file must never echo a value into a reason (a mistyped
 * line may be a secret), never read a key through stdio buffers, and never
 * log: it returns reasons, and its callers log or print them.
 */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "domain.h"

#define FIELD_NAME_MAX 32 /* longest field name echoed in a reason */
#define SEED_BYTES     32

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

/* In the order a file writes them. */
static const char *const field_names[F_COUNT] = {
    "kind",       "member",     "sign-public",      "sign-secret",
    "box-public", "box-secret", "transport-public", "transport-secret",
};

#define MEMBER_PUBLIC_FIELDS                                                                       \
    (BIT(F_KIND) | BIT(F_MEMBER) | BIT(F_SIGN_PK) | BIT(F_BOX_PK) | BIT(F_TRANSPORT_PK))
#define CLIENT_PUBLIC_FIELDS   (BIT(F_KIND) | BIT(F_TRANSPORT_PK))
#define GOVERNOR_PUBLIC_FIELDS (BIT(F_KIND) | BIT(F_MEMBER) | BIT(F_SIGN_PK))

/* Each kind's name and the fields it must hold, no more. */
static const struct {
    const char *name;
    unsigned fields;
} kinds[] = {
    [KEYFILE_MEMBER_SECRET] = {"member-secret", MEMBER_PUBLIC_FIELDS | BIT(F_SIGN_SK) |
                                                    BIT(F_BOX_SK) | BIT(F_TRANSPORT_SK)},
    [KEYFILE_MEMBER_PUBLIC] = {"member-public", MEMBER_PUBLIC_FIELDS},
    [KEYFILE_CLIENT_SECRET] = {"client-secret", CLIENT_PUBLIC_FIELDS | BIT(F_TRANSPORT_SK)},
    [KEYFILE_CLIENT_PUBLIC] = {"client-public", CLIENT_PUBLIC_FIELDS},
    [KEYFILE_GOVERNOR_SECRET] = {"governor-secret", GOVERNOR_PUBLIC_FIELDS | BIT(F_SIGN_SK)},
    [KEYFILE_GOVERNOR_PUBLIC] = {"governor-public", GOVERNOR_PUBLIC_FIELDS},
};

#define KIND_MAX KEYFILE_GOVERNOR_PUBLIC

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t size, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && size > 0) {
        va_start(ap, fmt);
        vsnprintf(why, size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static bool is_kind(enum keyfile_kind kind)
{
    return kind >= KEYFILE_MEMBER_SECRET && kind <= KIND_MAX;
}

const char *keyfile_kind_name(enum keyfile_kind kind)
{
    return is_kind(kind) ? kinds[kind].name : NULL;
}

bool keyfile_kind_is_secret(enum keyfile_kind kind)
{
    return kind == KEYFILE_MEMBER_SECRET || kind == KEYFILE_CLIENT_SECRET ||
           kind == KEYFILE_GOVERNOR_SECRET;
}

enum keyfile_kind keyfile_kind_public(enum keyfile_kind kind)
{
    if (!is_kind(kind))
        return 0;
    return keyfile_kind_is_secret(kind) ? kind + 1 : kind;
}

void keyfile_clear(struct keyfile *kf)
{
    if (kf == NULL)
        return;
    sodium_free(kf->secret); /* accepts NULL; wipes before unmapping */
    sodium_memzero(kf, sizeof(*kf));
}

/* ---- reading ------------------------------------------------------------- */

/* What the parser is filling, and on which line it saw each field. */
struct parse {
    const char *name;
    struct keyfile *kf;
    int line_of[F_COUNT]; /* 0: absent */
    char *why;
    size_t why_size;
};

/* The field name as typed, if it is short and plain enough to echo without
 * risk of echoing key material; otherwise a placeholder. */
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

/* Only the canonical, padded base64 of exactly want bytes. libsodium
 * already refuses missing padding, set unused bits and stray bytes; the
 * length check states the contract outright rather than lean on that. */
static int from_base64(const char *text, uint8_t *bin, size_t want)
{
    const char *end = NULL;
    size_t got = 0, n = strlen(text);

    if (n != sodium_base64_ENCODED_LEN(want, sodium_base64_VARIANT_ORIGINAL) - 1 ||
        sodium_base642bin(bin, want, text, n, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) !=
            0 ||
        got != want || *end != '\0') {
        sodium_memzero(bin, want);
        return -1;
    }
    return 0;
}

static int parse_key_field(struct parse *p, int line, enum field f, const char *value)
{
    struct keyfile *kf = p->kf;
    uint8_t *dst = NULL;
    size_t want = WIRE_KEY_BYTES;

    switch (f) {
    case F_SIGN_PK:
        dst = kf->sign_pk;
        break;
    case F_SIGN_SK:
        dst = kf->secret->sign_sk;
        want = KEYFILE_SIGN_SECRET_BYTES;
        break;
    case F_BOX_PK:
        dst = kf->box_pk;
        break;
    case F_BOX_SK:
        dst = kf->secret->box_sk;
        break;
    case F_TRANSPORT_PK:
        dst = kf->transport_pk;
        break;
    default: /* F_TRANSPORT_SK: kind and member are handled by the caller */
        dst = kf->secret->transport_sk;
        break;
    }
    if (from_base64(value, dst, want) == -1)
        return fail(p->why, p->why_size,
                    "%s:%d: %s is not the base64 encoding of exactly %zu bytes", p->name, line,
                    field_names[f], want);
    return 0;
}

/* Parses one "name = value" line, already trimmed, not blank, not a
 * comment. */
static int parse_line(struct parse *p, int line, char *s)
{
    char *eq, *name, *value;
    int f;

    if ((eq = strchr(s, '=')) == NULL)
        return fail(p->why, p->why_size, "%s:%d: expected 'name = value'", p->name, line);
    *eq = '\0';
    name = trim(s);
    value = trim(eq + 1);
    for (f = 0; f < F_COUNT; f++)
        if (strcmp(name, field_names[f]) == 0)
            break;
    if (f == F_COUNT)
        return fail(p->why, p->why_size, "%s:%d: unknown field '%s'", p->name, line,
                    loggable(name));
    if (p->line_of[f] != 0)
        return fail(p->why, p->why_size, "%s:%d: duplicate field '%s' (first on line %d)", p->name,
                    line, field_names[f], p->line_of[f]);
    p->line_of[f] = line;
    if (f == F_KIND) {
        for (int k = 1; k <= KIND_MAX; k++)
            if (strcmp(value, kinds[k].name) == 0)
                p->kf->kind = (enum keyfile_kind)k;
        if (p->kf->kind == 0)
            return fail(p->why, p->why_size, "%s:%d: unknown kind '%s'", p->name, line,
                        loggable(value));
        return 0;
    }
    if (f == F_MEMBER) {
        if (!domain_is_member_id(value, strlen(value)))
            return fail(p->why, p->why_size,
                        "%s:%d: member is not a member id (1 to %d of A-Z a-z 0-9 _ -)", p->name,
                        line, WIRE_MEMBER_ID_MAX);
        memcpy(p->kf->member, value, strlen(value) + 1);
        return 0;
    }
    return parse_key_field(p, line, (enum field)f, value);
}

/* Recomputes every public key of a secret file from its secret and
 * compares. The Ed25519 secret is seed || public key, so the seed is
 * re-expanded: reading the public half back would not notice a tampered
 * seed. */
static int check_consistent(struct parse *p)
{
    const struct keyfile *kf = p->kf;
    unsigned fields = kinds[kf->kind].fields;
    uint8_t pk[WIRE_KEY_BYTES], seed[SEED_BYTES];
    uint8_t *sk;
    int rc = -1;

    if ((sk = sodium_malloc(KEYFILE_SIGN_SECRET_BYTES)) == NULL) {
        errno = ENOMEM;
        return fail(p->why, p->why_size, "cannot allocate locked memory");
    }
    if (fields & BIT(F_SIGN_SK)) {
        crypto_sign_ed25519_sk_to_seed(seed, kf->secret->sign_sk);
        crypto_sign_seed_keypair(pk, sk, seed);
        if (sodium_memcmp(sk, kf->secret->sign_sk, KEYFILE_SIGN_SECRET_BYTES) != 0 ||
            memcmp(pk, kf->sign_pk, sizeof(pk)) != 0) {
            fail(p->why, p->why_size, "%s: sign-public does not match sign-secret", p->name);
            goto out;
        }
    }
    if ((fields & BIT(F_BOX_SK)) && (crypto_scalarmult_base(pk, kf->secret->box_sk) != 0 ||
                                     memcmp(pk, kf->box_pk, sizeof(pk)) != 0)) {
        fail(p->why, p->why_size, "%s: box-public does not match box-secret", p->name);
        goto out;
    }
    if ((fields & BIT(F_TRANSPORT_SK)) &&
        (crypto_scalarmult_base(pk, kf->secret->transport_sk) != 0 ||
         memcmp(pk, kf->transport_pk, sizeof(pk)) != 0)) {
        fail(p->why, p->why_size, "%s: transport-public does not match transport-secret", p->name);
        goto out;
    }
    rc = 0;
out:
    sodium_memzero(seed, sizeof(seed));
    sodium_free(sk);
    errno = EINVAL;
    return rc;
}

/* Parses NUL-terminated text in place, then checks that it holds exactly
 * the fields of its kind. */
static int parse_text(struct parse *p, char *text)
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
        if (parse_line(p, line, t) == -1)
            return -1;
    }
    if (p->kf->kind == 0)
        return fail(p->why, p->why_size, "%s: missing field 'kind'", p->name);
    for (int f = 0; f < F_COUNT; f++) {
        bool is_wanted = (kinds[p->kf->kind].fields & BIT(f)) != 0;
        if (is_wanted && p->line_of[f] == 0)
            return fail(p->why, p->why_size, "%s: missing field '%s' for kind %s", p->name,
                        field_names[f], kinds[p->kf->kind].name);
        if (!is_wanted && p->line_of[f] != 0)
            return fail(p->why, p->why_size, "%s:%d: field '%s' does not belong in a %s file",
                        p->name, p->line_of[f], field_names[f], kinds[p->kf->kind].name);
    }
    return 0;
}

int keyfile_parse(const char *name, const char *text, size_t len, struct keyfile *out, char *why,
                  size_t why_size)
{
    struct parse p = {name != NULL ? name : "key file", out, {0}, why, why_size};
    char *copy = NULL;
    int rc = -1, saved;

    if (out == NULL || (text == NULL && len > 0)) {
        errno = EINVAL;
        return fail(why, why_size, "keyfile: nothing to parse");
    }
    memset(out, 0, sizeof(*out));
    if (sodium_init() < 0) {
        errno = ENOMEM;
        return fail(why, why_size, "keyfile: libsodium failed to initialise");
    }
    if (len > KEYFILE_MAX) {
        errno = EINVAL;
        return fail(why, why_size, "%s is larger than %d bytes; not a key file", p.name,
                    KEYFILE_MAX);
    }
    if (len > 0 && memchr(text, '\0', len) != NULL) {
        errno = EINVAL;
        return fail(why, why_size, "%s contains a NUL byte; not a key file", p.name);
    }
    /* Every kind gets a secret while parsing: a file says its kind on any
     * line, and a secret line may come first. */
    if ((copy = sodium_malloc(len + 1)) == NULL ||
        (out->secret = sodium_malloc(sizeof(*out->secret))) == NULL) {
        errno = ENOMEM;
        fail(why, why_size, "cannot allocate locked memory");
        goto out;
    }
    sodium_memzero(out->secret, sizeof(*out->secret));
    if (len > 0)
        memcpy(copy, text, len);
    copy[len] = '\0';
    if (parse_text(&p, copy) == -1) {
        /* libsodium's base64 decoder may have left ERANGE behind. */
        errno = EINVAL;
        goto out;
    }
    if (keyfile_kind_is_secret(out->kind)) {
        if (check_consistent(&p) == -1)
            goto out;
    } else {
        sodium_free(out->secret);
        out->secret = NULL;
    }
    rc = 0;
out:
    saved = errno;
    sodium_free(copy);
    if (rc == -1)
        keyfile_clear(out);
    errno = saved;
    return rc;
}

/* Refuses a secret file that group or others may touch. */
static int check_mode(const char *path, mode_t mode, char *why, size_t why_size)
{
    const char *how = "readable";

    if ((mode & 077) == 0)
        return 0;
    if ((mode & 044) == 0)
        how = (mode & 022) ? "writable" : "accessible";
    errno = EACCES;
    return fail(why, why_size, "%s is %s by group or others (mode %04o); chmod 600 it", path, how,
                (unsigned)(mode & 07777));
}

int keyfile_read(const char *path, struct keyfile *out, char *why, size_t why_size)
{
    struct stat st;
    char *text = NULL;
    size_t got = 0;
    int fd = -1, rc = -1, saved;

    if (out == NULL || path == NULL) {
        errno = EINVAL;
        return fail(why, why_size, "keyfile: no path given");
    }
    memset(out, 0, sizeof(*out));
    if (sodium_init() < 0) {
        errno = ENOMEM;
        return fail(why, why_size, "keyfile: libsodium failed to initialise");
    }
    /* O_NONBLOCK: opening a FIFO planted in place of a key must not hang. */
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1) {
        saved = errno;
        if (errno == ELOOP)
            fail(why, why_size, "%s is a symbolic link; refusing to follow it", path);
        else
            fail(why, why_size, "cannot open key file %s: %s", path, strerror(errno));
        errno = saved;
        return -1;
    }
    if (fstat(fd, &st) == -1) {
        saved = errno;
        fail(why, why_size, "cannot stat key file %s: %s", path, strerror(errno));
        goto out;
    }
    saved = EINVAL;
    if (!S_ISREG(st.st_mode)) {
        fail(why, why_size, "%s is not a regular file", path);
        goto out;
    }
    if (st.st_size > KEYFILE_MAX) {
        fail(why, why_size, "%s is larger than %d bytes; not a key file", path, KEYFILE_MAX);
        goto out;
    }
    if ((text = sodium_malloc(KEYFILE_MAX + 1)) == NULL) {
        saved = ENOMEM;
        fail(why, why_size, "cannot allocate locked memory");
        goto out;
    }
    /* Read one byte past the cap to notice a file that grew since fstat. */
    for (;;) {
        ssize_t n = read(fd, text + got, KEYFILE_MAX + 1 - got);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            saved = errno;
            fail(why, why_size, "cannot read key file %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > KEYFILE_MAX) {
            fail(why, why_size, "%s is larger than %d bytes; not a key file", path, KEYFILE_MAX);
            goto out;
        }
    }
    if (keyfile_parse(path, text, got, out, why, why_size) == -1) {
        saved = errno;
        goto out;
    }
    if (keyfile_kind_is_secret(out->kind) && check_mode(path, st.st_mode, why, why_size) == -1) {
        saved = errno;
        keyfile_clear(out);
        goto out;
    }
    rc = 0;
out:
    close(fd);
    sodium_free(text); /* accepts NULL; wipes first */
    if (rc == -1)
        errno = saved;
    return rc;
}

/* ---- writing ------------------------------------------------------------- */

/* A text buffer being filled; overflow sticks. */
struct text {
    char *buf;
    size_t size, len;
    bool is_overflow;
};

static void put(struct text *t, const char *s)
{
    size_t n = strlen(s);

    if (t->is_overflow || n >= t->size - t->len) {
        t->is_overflow = true;
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
    if (t->is_overflow || enc >= t->size - t->len) {
        t->is_overflow = true;
        return;
    }
    sodium_bin2base64(t->buf + t->len, enc, bin, len, sodium_base64_VARIANT_ORIGINAL);
    t->len += enc - 1;
    put(t, "\n");
}

int keyfile_render(const struct keyfile *kf, bool is_secret, char *buf, size_t size, size_t *len)
{
    enum keyfile_kind kind;
    struct text t = {buf, size, 0, false};
    unsigned fields;

    if (kf == NULL || buf == NULL || size == 0 || !is_kind(kf->kind) ||
        (is_secret && (!keyfile_kind_is_secret(kf->kind) || kf->secret == NULL)))
        return -1;
    if (sodium_init() < 0)
        return -1;
    kind = is_secret ? kf->kind : keyfile_kind_public(kf->kind);
    fields = kinds[kind].fields;
    buf[0] = '\0';
    put(&t, is_secret ? "# tmbus secret keys: keep this file private (mode 0600), never share "
                        "it.\n"
                      : "# tmbus public keys: safe to share.\n");
    put(&t, "kind = ");
    put(&t, kinds[kind].name);
    put(&t, "\n");
    if (fields & BIT(F_MEMBER)) {
        put(&t, "member = ");
        put(&t, kf->member);
        put(&t, "\n");
    }
    if (fields & BIT(F_SIGN_PK))
        put_key(&t, F_SIGN_PK, kf->sign_pk, WIRE_KEY_BYTES);
    if (fields & BIT(F_SIGN_SK))
        put_key(&t, F_SIGN_SK, kf->secret->sign_sk, KEYFILE_SIGN_SECRET_BYTES);
    if (fields & BIT(F_BOX_PK))
        put_key(&t, F_BOX_PK, kf->box_pk, WIRE_KEY_BYTES);
    if (fields & BIT(F_BOX_SK))
        put_key(&t, F_BOX_SK, kf->secret->box_sk, WIRE_KEY_BYTES);
    if (fields & BIT(F_TRANSPORT_PK))
        put_key(&t, F_TRANSPORT_PK, kf->transport_pk, WIRE_KEY_BYTES);
    if (fields & BIT(F_TRANSPORT_SK))
        put_key(&t, F_TRANSPORT_SK, kf->secret->transport_sk, WIRE_KEY_BYTES);
    if (t.is_overflow) {
        sodium_memzero(buf, size);
        return -1;
    }
    if (len != NULL)
        *len = t.len;
    return 0;
}

/* Writes len bytes to a fresh file tmp with mode, whatever the umask, and
 * syncs it. Returns 0 or -1 with errno set; tmp is gone on failure. */
static int write_fresh(const char *tmp, const char *text, size_t len, mode_t mode)
{
    size_t done = 0;
    int fd, saved;

    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)) == -1)
        return -1;
    if (fchmod(fd, mode) == -1)
        goto fail;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1)
            goto fail;
        done += (size_t)w;
    }
    if (fsync(fd) == -1)
        goto fail;
    if (close(fd) == -1) {
        fd = -1;
        goto fail;
    }
    return 0;
fail:
    saved = errno;
    if (fd != -1)
        close(fd);
    unlink(tmp);
    errno = saved;
    return -1;
}

int keyfile_write(const char *path, const struct keyfile *kf, bool is_secret, char *why,
                  size_t why_size)
{
    char tmp[4096];
    char *text = NULL;
    size_t len = 0;
    int rc = -1, saved = EINVAL;

    if (path == NULL || kf == NULL) {
        errno = EINVAL;
        return fail(why, why_size, "keyfile: nothing to write");
    }
    if (snprintf(tmp, sizeof(tmp), "%s.new%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return fail(why, why_size, "%s: path too long", path);
    }
    if (sodium_init() < 0 || (text = sodium_malloc(KEYFILE_MAX)) == NULL) {
        errno = ENOMEM;
        return fail(why, why_size, "cannot allocate locked memory");
    }
    if (keyfile_render(kf, is_secret, text, KEYFILE_MAX, &len) == -1) {
        fail(why, why_size, "%s: cannot render an invalid key set", path);
        goto out;
    }
    if (write_fresh(tmp, text, len, is_secret ? 0600 : 0644) == -1) {
        saved = errno;
        fail(why, why_size, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (link(tmp, path) == -1) {
        saved = errno;
        if (errno == EEXIST)
            fail(why, why_size, "%s already exists; refusing to overwrite it", path);
        else
            fail(why, why_size, "cannot create %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    unlink(tmp);
    rc = 0;
out:
    sodium_free(text);
    if (rc == -1)
        errno = saved;
    return rc;
}
