/*
 * test_keys: unit tests of the keys module and of `tmbus-admin keygen`.
 * Each refusal test first shows that the untampered file loads, so that a
 * refusal for the wrong reason (or a loader that refuses everything) fails.
 * Every test works in its own temporary directory and removes it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keys.h"
#include "log.h"
#include "testutil.h"

#define B64_32   sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)
#define B64_64   sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)
#define TEXT_MAX (2 * KEYS_FILE_MAX)

/* ---- helpers ---- */

/* snprintf that fails the test instead of truncating; returns the length. */
static size_t xsnprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static size_t xsnprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < size);
    return (size_t)n;
}

static int setup(void **state)
{
    char *dir = strdup(tu_tempdir());

    if (dir == NULL)
        return -1;
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    tu_rmtree(*state);
    free(*state);
    return 0;
}

static const char *in_dir(const char *dir, const char *name)
{
    static char bufs[4][1024];
    static int next;
    char *p = bufs[next++ % 4];

    xsnprintf(p, sizeof(bufs[0]), "%s/%s", dir, name);
    return p;
}

static void read_text(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    assert_non_null(f);
    n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* Writes len bytes to a fresh file with exactly mode. */
static void write_bytes(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd;

    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    write_bytes(path, text, strlen(text), mode);
}

/* Copies in to out, replacing the line of field (up to its newline) with
 * repl, or dropping it when repl is NULL. Fails the test if field is not
 * present exactly once. */
static void replace_field(const char *in, const char *field, const char *repl, char *out,
                          size_t size)
{
    size_t flen = strlen(field), o = 0;
    int hits = 0;

    for (const char *s = in; *s != '\0';) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) + 1 : strlen(s);
        const char *piece = s;
        size_t plen = n;

        if (strncmp(s, field, flen) == 0 && strncmp(s + flen, " = ", 3) == 0) {
            hits++;
            piece = repl ? repl : "";
            plen = strlen(piece);
        }
        assert_true(o + plen < size);
        memcpy(out + o, piece, plen);
        o += plen;
        s += n;
    }
    out[o] = '\0';
    assert_int_equal(hits, 1);
}

/* The base64 value of field in a key file text. */
static void field_value(const char *text, const char *field, char *out, size_t size)
{
    char pat[64];
    const char *p, *nl;

    xsnprintf(pat, sizeof(pat), "\n%s = ", field);
    assert_non_null(p = strstr(text, pat));
    p += strlen(pat);
    assert_non_null(nl = strchr(p, '\n'));
    assert_true((size_t)(nl - p) < size);
    memcpy(out, p, (size_t)(nl - p));
    out[nl - p] = '\0';
}

static void b64_line(char *out, size_t size, const char *field, const uint8_t *bin, size_t len)
{
    char b64[256];

    keys_to_base64(bin, len, b64, sizeof(b64));
    xsnprintf(out, size, "%s = %s\n", field, b64);
}

static void assert_sign_verifies(const struct keyset *signer, const uint8_t *pk)
{
    static const uint8_t msg[] = "need: 40 EDR licences for a water utility";
    uint8_t sig[KEYS_SIGNATURE_BYTES];

    assert_int_equal(keys_sign(signer, msg, sizeof(msg), sig), 0);
    assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg), pk), 0);
    sig[0] ^= 1;
    assert_int_not_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg), pk), 0);
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

/* Saves a fresh member "EE" into dir as EE.key / EE.pub and returns it. */
static struct keyset *saved_member(const char *dir)
{
    struct keyset *ks = keys_generate(KEYS_MEMBER, "EE");

    assert_non_null(ks);
    assert_int_equal(keys_save(ks, in_dir(dir, "EE.key"), in_dir(dir, "EE.pub")), 0);
    return ks;
}

/* ---- round trips ---- */

static void round_trip(const char *dir, enum keys_kind kind, const char *member)
{
    const char *sk_path = in_dir(dir, "k.key"), *pk_path = in_dir(dir, "k.pub");
    struct keyset *ks = keys_generate(kind, member), *back;

    assert_non_null(ks);
    assert_int_equal(keys_save(ks, sk_path, pk_path), 0);
    assert_int_equal(mode_of(sk_path), 0600);
    assert_int_equal(mode_of(pk_path), 0644);
    assert_non_null(back = keys_load(sk_path));
    assert_int_equal(back->kind, kind);
    assert_string_equal(back->member, member ? member : "");
    assert_memory_equal(back->sign_pk, ks->sign_pk, KEYS_PUBLIC_BYTES);
    assert_memory_equal(back->box_pk, ks->box_pk, KEYS_PUBLIC_BYTES);
    assert_memory_equal(back->transport_pk, ks->transport_pk, KEYS_PUBLIC_BYTES);

    if (kind != KEYS_CLIENT) {
        assert_sign_verifies(back, ks->sign_pk);
        assert_false(sodium_is_zero(ks->sign_pk, KEYS_PUBLIC_BYTES));
    } else {
        uint8_t sig[KEYS_SIGNATURE_BYTES];
        assert_int_equal(keys_sign(back, (const uint8_t *)"x", 1, sig), -1);
        assert_true(sodium_is_zero(back->sign_pk, KEYS_PUBLIC_BYTES));
    }
    if (kind != KEYS_GOVERNOR) {
        uint8_t pk[KEYS_PUBLIC_BYTES];
        assert_non_null(keys_transport_secret(back));
        assert_memory_equal(keys_transport_secret(back), keys_transport_secret(ks),
                            KEYS_CURVE_SECRET_BYTES);
        assert_int_equal(crypto_scalarmult_base(pk, keys_transport_secret(back)), 0);
        assert_memory_equal(pk, ks->transport_pk, KEYS_PUBLIC_BYTES);
    } else {
        assert_null(keys_transport_secret(back));
        assert_true(sodium_is_zero(back->transport_pk, KEYS_PUBLIC_BYTES));
    }
    if (kind == KEYS_MEMBER) {
        /* The loaded box secret is the generated one: same pair key. */
        struct keyset *peer = tu_member_keys("PL");
        uint8_t a[KEYS_PAIR_KEY_BYTES], b[KEYS_PAIR_KEY_BYTES];
        assert_int_equal(keys_pair_key(ks, peer->box_pk, a), 0);
        assert_int_equal(keys_pair_key(back, peer->box_pk, b), 0);
        assert_memory_equal(a, b, sizeof(a));
        keys_free(&peer);
    }
    keys_free(&back);
    keys_free(&ks);
    assert_null(ks);
    keys_free(&ks); /* accepts NULL */
}

static void test_round_trip_member(void **state)
{
    round_trip(*state, KEYS_MEMBER, "EE");
}

static void test_round_trip_client(void **state)
{
    round_trip(*state, KEYS_CLIENT, NULL);
}

static void test_round_trip_governor(void **state)
{
    round_trip(*state, KEYS_GOVERNOR, "PL");
}

static void test_generate_refuses_bad_member(void **state)
{
    struct keyset *ks;

    (void)state;
    assert_null(keys_generate(KEYS_MEMBER, NULL));
    assert_null(keys_generate(KEYS_MEMBER, "../etc"));
    assert_null(keys_generate(KEYS_GOVERNOR, ""));
    assert_null(keys_generate(KEYS_CLIENT, "EE"));
    assert_null(keys_generate((enum keys_kind)7, "EE"));
    assert_non_null(ks = keys_generate(KEYS_MEMBER, "EE"));
    keys_free(&ks);
}

/* ---- refusals on load ---- */

static void test_load_refuses_loose_modes(void **state)
{
    const char *dir = *state, *path = in_dir(dir, "EE.key");
    static const mode_t loose[] = {0640, 0604, 0666, 0620, 0602, 0700 | 0010};
    struct keyset *ks = saved_member(dir), *back;
    struct keys_public pub;

    for (size_t i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
        assert_int_equal(chmod(path, loose[i]), 0);
        assert_null(keys_load(path));
        /* The public half of a secret file is no excuse either. */
        assert_int_equal(keys_load_public(path, &pub), -1);
    }
    assert_int_equal(chmod(path, 0400), 0);
    assert_non_null(back = keys_load(path));
    keys_free(&back);
    assert_int_equal(chmod(path, 0600), 0);
    assert_non_null(back = keys_load(path));
    keys_free(&back);
    keys_free(&ks);
}

static void test_load_refuses_symlink_and_non_files(void **state)
{
    const char *dir = *state;
    struct keyset *ks = saved_member(dir), *back;
    struct keys_public pub;

    assert_int_equal(symlink(in_dir(dir, "EE.key"), in_dir(dir, "link.key")), 0);
    assert_int_equal(symlink(in_dir(dir, "EE.pub"), in_dir(dir, "link.pub")), 0);
    assert_null(keys_load(in_dir(dir, "link.key")));
    assert_int_equal(keys_load_public(in_dir(dir, "link.pub"), &pub), -1);
    assert_int_equal(mkdir(in_dir(dir, "d.key"), 0700), 0);
    assert_null(keys_load(in_dir(dir, "d.key")));
    assert_int_equal(mkfifo(in_dir(dir, "f.key"), 0600), 0);
    assert_null(keys_load(in_dir(dir, "f.key"))); /* must not hang */
    assert_null(keys_load(in_dir(dir, "absent.key")));

    assert_non_null(back = keys_load(in_dir(dir, "EE.key")));
    keys_free(&back);
    assert_int_equal(keys_load_public(in_dir(dir, "EE.pub"), &pub), 0);
    keys_free(&ks);
}

static void test_load_refuses_oversize(void **state)
{
    const char *dir = *state, *path = in_dir(dir, "big.key");
    struct keyset *ks = saved_member(dir), *back;
    char *text = calloc(1, TEXT_MAX);
    size_t len;

    assert_non_null(text);
    read_text(in_dir(dir, "EE.key"), text, TEXT_MAX);
    len = strlen(text);
    /* Pad with one comment line to exactly KEYS_FILE_MAX bytes: loads. */
    text[len] = '#';
    memset(text + len + 1, 'x', KEYS_FILE_MAX - len - 2);
    text[KEYS_FILE_MAX - 1] = '\n';
    write_bytes(path, text, KEYS_FILE_MAX, 0600);
    assert_non_null(back = keys_load(path));
    keys_free(&back);
    /* One byte more: refused. */
    text[KEYS_FILE_MAX - 1] = 'x';
    text[KEYS_FILE_MAX] = '\n';
    write_bytes(path, text, KEYS_FILE_MAX + 1, 0600);
    assert_null(keys_load(path));
    free(text);
    keys_free(&ks);
}

/* A member secret file, tampered with by edit, must not load; the same
 * file untouched must. */
struct edit {
    const char *field;   /* line to replace; NULL: append */
    const char *replace; /* replacement line(s) or appended text; NULL: drop */
};

static void expect_refused(const char *dir, const char *base, const struct edit *e)
{
    const char *path = in_dir(dir, "t.key");
    char *text = calloc(1, TEXT_MAX);

    assert_non_null(text);
    if (e->field != NULL) {
        replace_field(base, e->field, e->replace, text, TEXT_MAX);
    } else {
        xsnprintf(text, TEXT_MAX, "%s%s", base, e->replace);
    }
    write_text(path, text, 0600);
    if (keys_load(path) != NULL)
        fail_msg("tampered file loaded: %s / %s", e->field ? e->field : "(append)",
                 e->replace ? e->replace : "(drop)");
    free(text);
}

static void test_load_refuses_tampering(void **state)
{
    const char *dir = *state;
    struct keyset *ks = saved_member(dir), *other = keys_generate(KEYS_MEMBER, "EE"), *back;
    char base[TEXT_MAX], line[9][256], val[B64_64 + 1];
    uint8_t bin[64] = {0};

    assert_non_null(other);
    read_text(in_dir(dir, "EE.key"), base, sizeof(base));
    write_text(in_dir(dir, "ok.key"), base, 0600);
    assert_non_null(back = keys_load(in_dir(dir, "ok.key")));
    keys_free(&back);

    /* Public keys that belong to other secrets. */
    b64_line(line[0], sizeof(line[0]), "sign-public", other->sign_pk, 32);
    b64_line(line[1], sizeof(line[1]), "box-public", other->box_pk, 32);
    b64_line(line[2], sizeof(line[2]), "transport-public", other->transport_pk, 32);
    /* A sign-secret whose seed half was changed but whose public half was
     * not: only re-deriving from the seed notices. */
    field_value(base, "sign-secret", val, sizeof(val));
    val[0] = val[0] == 'A' ? 'B' : 'A';
    xsnprintf(line[3], sizeof(line[3]), "sign-secret = %s\n", val);
    /* And one whose public half (bytes 32..63) was changed instead. */
    field_value(base, "sign-secret", val, sizeof(val));
    val[60] = val[60] == 'A' ? 'B' : 'A';
    xsnprintf(line[8], sizeof(line[8]), "sign-secret = %s\n", val);
    /* Bad base64, wrong lengths, trailing garbage. */
    field_value(base, "box-secret", val, sizeof(val));
    val[4] = '!';
    xsnprintf(line[4], sizeof(line[4]), "box-secret = %s\n", val);
    b64_line(line[5], sizeof(line[5]), "box-public", bin, 31);
    b64_line(line[6], sizeof(line[6]), "box-public", bin, 33);
    field_value(base, "transport-public", val, sizeof(val));
    xsnprintf(line[7], sizeof(line[7]), "transport-public = %sAAAA\n", val);

    const struct edit edits[] = {
        {"sign-public", line[0]},
        {"box-public", line[1]},
        {"transport-public", line[2]},
        {"sign-secret", line[3]},
        {"sign-secret", line[8]},
        {"box-secret", line[4]},
        {"box-public", line[5]},
        {"box-public", line[6]},
        {"transport-public", line[7]},
        {"sign-secret", "sign-secret = AAAA\n"},
        {"member", "member = ../../etc\n"},
        {"member", "member = \n"},
        {"kind", "kind = member-private\n"},
        {"kind", "kind = member-public\n"}, /* public kind with secret fields */
        {"kind", "kind = client-secret\n"},
        {"box-secret", "box-secret\n"}, /* no '=' */
        {"box-secret", NULL},           /* missing field */
        {"kind", NULL},
        {"member", NULL},
        {NULL, "kind = member-secret\n"}, /* duplicate field */
        {NULL, "member = EE\n"},
        {NULL, "colour = blue\n"}, /* unknown field */
        {NULL, "= x\n"},
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++)
        expect_refused(dir, base, &edits[i]);

    keys_free(&other);
    keys_free(&ks);
}

static void test_load_refuses_nul_and_wrong_fields_for_kind(void **state)
{
    const char *dir = *state;
    struct keyset *gov = keys_generate(KEYS_GOVERNOR, "PL"), *back;
    char base[TEXT_MAX], text[TEXT_MAX + 512], line[256];
    size_t len;

    assert_non_null(gov);
    assert_int_equal(keys_save(gov, in_dir(dir, "g.key"), NULL), 0);
    read_text(in_dir(dir, "g.key"), base, sizeof(base));
    assert_non_null(back = keys_load(in_dir(dir, "g.key")));
    keys_free(&back);

    /* A box key in a governor file. */
    b64_line(line, sizeof(line), "box-public", gov->sign_pk, 32);
    xsnprintf(text, sizeof(text), "%s%s", base, line);
    write_text(in_dir(dir, "t1.key"), text, 0600);
    assert_null(keys_load(in_dir(dir, "t1.key")));

    /* An embedded NUL byte, in a comment line that would otherwise pass. */
    len = strlen(base);
    memcpy(text, base, len);
    memcpy(text + len, "# a\0b\n", 6);
    write_bytes(in_dir(dir, "t2.key"), text, len + 6, 0600);
    assert_null(keys_load(in_dir(dir, "t2.key")));
    write_bytes(in_dir(dir, "t3.key"), text, len + 3, 0600); /* "# a" only */
    assert_non_null(back = keys_load(in_dir(dir, "t3.key")));
    keys_free(&back);
    keys_free(&gov);
}

static void test_load_accepts_comments_blanks_and_spacing(void **state)
{
    const char *dir = *state;
    struct keyset *ks = saved_member(dir), *back;
    char base[TEXT_MAX], text[TEXT_MAX + 256], *p;
    size_t o = 0;

    read_text(in_dir(dir, "EE.key"), base, sizeof(base));
    /* Reformat every "a = b" line as "  a=b \r" around comments and blanks. */
    o += xsnprintf(text, sizeof(text), "\n# written by hand\n\n");
    for (p = strtok(base, "\n"); p != NULL; p = strtok(NULL, "\n")) {
        char *eq = strstr(p, " = ");
        if (eq == NULL) {
            o += xsnprintf(text + o, sizeof(text) - o, "%s\n", p);
            continue;
        }
        *eq = '\0';
        o += xsnprintf(text + o, sizeof(text) - o, "  %s=\t%s \r\n\n", p, eq + 3);
    }
    write_text(in_dir(dir, "spaced.key"), text, 0600);
    assert_non_null(back = keys_load(in_dir(dir, "spaced.key")));
    assert_memory_equal(back->box_pk, ks->box_pk, KEYS_PUBLIC_BYTES);
    keys_free(&back);
    keys_free(&ks);
}

/* ---- saving ---- */

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void test_save_refuses_overwrite(void **state)
{
    const char *dir = *state;
    struct keyset *a = saved_member(dir), *b = keys_generate(KEYS_MEMBER, "EE");
    char before[TEXT_MAX], after[TEXT_MAX], pub_before[TEXT_MAX], pub_after[TEXT_MAX];

    assert_non_null(b);
    read_text(in_dir(dir, "EE.key"), before, sizeof(before));
    read_text(in_dir(dir, "EE.pub"), pub_before, sizeof(pub_before));
    assert_int_equal(keys_save(b, in_dir(dir, "EE.key"), in_dir(dir, "EE.pub")), -1);
    assert_int_equal(keys_save(b, in_dir(dir, "EE.key"), NULL), -1);
    assert_int_equal(keys_save(b, NULL, in_dir(dir, "EE.pub")), -1);
    /* A fresh secret name with an existing public name: nothing written. */
    assert_int_equal(keys_save(b, in_dir(dir, "new.key"), in_dir(dir, "EE.pub")), -1);
    assert_int_equal(access(in_dir(dir, "new.key"), F_OK), -1);
    /* A dangling symlink counts as existing. */
    assert_int_equal(symlink(in_dir(dir, "nowhere"), in_dir(dir, "dangling.key")), 0);
    assert_int_equal(keys_save(b, in_dir(dir, "dangling.key"), NULL), -1);
    assert_int_equal(access(in_dir(dir, "nowhere"), F_OK), -1);

    read_text(in_dir(dir, "EE.key"), after, sizeof(after));
    read_text(in_dir(dir, "EE.pub"), pub_after, sizeof(pub_after));
    assert_string_equal(before, after);
    assert_string_equal(pub_before, pub_after);
    assert_int_equal(count_entries(dir), 3); /* EE.key, EE.pub, dangling.key */

    /* Positive control: a fresh pair of names works. */
    assert_int_equal(keys_save(b, in_dir(dir, "b.key"), in_dir(dir, "b.pub")), 0);
    assert_int_equal(count_entries(dir), 5);
    keys_free(&a);
    keys_free(&b);
}

/* ---- derivation and pair keys ---- */

static void test_from_seed_deterministic(void **state)
{
    uint8_t seed[32], seed2[32], sub[32], pk[32], sk[64];
    struct keyset *a, *b, *c;

    (void)state;
    memset(seed, 0x42, sizeof(seed));
    memcpy(seed2, seed, sizeof(seed2));
    seed2[31] ^= 1;
    assert_non_null(a = keys_from_seed(KEYS_MEMBER, "EE", seed));
    assert_non_null(b = keys_from_seed(KEYS_MEMBER, "EE", seed));
    assert_non_null(c = keys_from_seed(KEYS_MEMBER, "EE", seed2));
    assert_memory_equal(a->sign_pk, b->sign_pk, 32);
    assert_memory_equal(a->box_pk, b->box_pk, 32);
    assert_memory_equal(a->transport_pk, b->transport_pk, 32);
    assert_memory_equal(keys_transport_secret(a), keys_transport_secret(b), 32);
    assert_memory_not_equal(a->sign_pk, c->sign_pk, 32);
    assert_memory_not_equal(a->box_pk, c->box_pk, 32);
    assert_memory_not_equal(a->transport_pk, c->transport_pk, 32);
    /* Separate keys per purpose. */
    assert_memory_not_equal(a->box_pk, a->transport_pk, 32);

    /* The documented derivation, recomputed here. */
    crypto_generichash(sub, 32, (const uint8_t *)"tmbus seed sign", 15, seed, 32);
    crypto_sign_seed_keypair(pk, sk, sub);
    assert_memory_equal(pk, a->sign_pk, 32);
    crypto_generichash(sub, 32, (const uint8_t *)"tmbus seed box", 14, seed, 32);
    crypto_box_seed_keypair(pk, sk, sub);
    assert_memory_equal(pk, a->box_pk, 32);
    crypto_generichash(sub, 32, (const uint8_t *)"tmbus seed transport", 20, seed, 32);
    crypto_box_seed_keypair(pk, sk, sub);
    assert_memory_equal(pk, a->transport_pk, 32);
    assert_memory_equal(sk, keys_transport_secret(a), 32);
    keys_free(&a);
    keys_free(&b);
    keys_free(&c);

    /* A client seed set has only the transport key, a governor only sign. */
    assert_non_null(a = keys_from_seed(KEYS_CLIENT, NULL, seed));
    assert_memory_equal(a->transport_pk, pk, 32);
    assert_true(sodium_is_zero(a->sign_pk, 32) && sodium_is_zero(a->box_pk, 32));
    keys_free(&a);
    assert_non_null(a = keys_from_seed(KEYS_GOVERNOR, "PL", seed));
    assert_true(sodium_is_zero(a->transport_pk, 32) && sodium_is_zero(a->box_pk, 32));
    assert_false(sodium_is_zero(a->sign_pk, 32));
    keys_free(&a);
}

static void test_pair_key(void **state)
{
    struct keyset *a = tu_member_keys("EE"), *b = tu_member_keys("PL"), *c = tu_member_keys("UA");
    struct keyset *client = keys_generate(KEYS_CLIENT, NULL);
    uint8_t ab[32], ba[32], ac[32], ca[32], bc[32], aa[32], out[32], zero[32] = {0};
    uint8_t one[32] = {1}, seed[32], sub[32], box_pk[32], box_sk[32], shared[32], want[32];
    crypto_generichash_state st;

    (void)state;
    assert_non_null(client);
    assert_int_equal(keys_pair_key(a, b->box_pk, ab), 0);
    assert_int_equal(keys_pair_key(b, a->box_pk, ba), 0);
    assert_memory_equal(ab, ba, 32);
    assert_int_equal(keys_pair_key(a, c->box_pk, ac), 0);
    assert_int_equal(keys_pair_key(c, a->box_pk, ca), 0);
    assert_int_equal(keys_pair_key(b, c->box_pk, bc), 0);
    assert_memory_equal(ac, ca, 32);
    assert_memory_not_equal(ab, ac, 32);
    assert_memory_not_equal(ab, bc, 32);
    assert_memory_not_equal(ac, bc, 32);
    assert_int_equal(keys_pair_key(a, a->box_pk, aa), 0); /* sealing to oneself */

    /* Low-order points: refused, and out is not left holding anything. */
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(keys_pair_key(a, zero, out), -1);
    assert_true(sodium_is_zero(out, 32));
    assert_int_equal(keys_pair_key(a, one, out), -1);
    assert_int_equal(keys_pair_key(client, b->box_pk, out), -1);

    /* Known answer: the construction in keys.h, from A's seed. */
    crypto_generichash(seed, 32, (const uint8_t *)"EE", 2, NULL, 0); /* as tu_member_keys */
    crypto_generichash(sub, 32, (const uint8_t *)"tmbus seed box", 14, seed, 32);
    crypto_box_seed_keypair(box_pk, box_sk, sub);
    assert_memory_equal(box_pk, a->box_pk, 32);
    assert_int_equal(crypto_scalarmult(shared, box_sk, b->box_pk), 0);
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)"tmbus pair v1\0", 14);
    crypto_generichash_update(&st, shared, 32);
    if (memcmp(a->box_pk, b->box_pk, 32) < 0) {
        crypto_generichash_update(&st, a->box_pk, 32);
        crypto_generichash_update(&st, b->box_pk, 32);
    } else {
        crypto_generichash_update(&st, b->box_pk, 32);
        crypto_generichash_update(&st, a->box_pk, 32);
    }
    crypto_generichash_final(&st, want, 32);
    assert_memory_equal(want, ab, 32);

    keys_free(&a);
    keys_free(&b);
    keys_free(&c);
    keys_free(&client);
}

/* The store key: the construction in keys.h, the same for the same key
 * set, another for another member, none for a client. */
static void test_store_key(void **state)
{
    struct keyset *a = tu_member_keys("EE"), *a2 = tu_member_keys("EE"), *b = tu_member_keys("PL");
    struct keyset *client = keys_generate(KEYS_CLIENT, NULL);
    uint8_t *ka = NULL, *ka2 = NULL, *kb = NULL, *kc = NULL;
    uint8_t seed[32], sub[32], box_pk[32], box_sk[32], want[KEYS_STORE_KEY_BYTES];

    (void)state;
    assert_non_null(client);
    assert_non_null(ka = keys_derive_store_key(a));
    assert_non_null(ka2 = keys_derive_store_key(a2));
    assert_non_null(kb = keys_derive_store_key(b));
    assert_memory_equal(ka, ka2, KEYS_STORE_KEY_BYTES);
    assert_memory_not_equal(ka, kb, KEYS_STORE_KEY_BYTES);
    assert_null(kc = keys_derive_store_key(client));
    assert_null(keys_derive_store_key(NULL));

    crypto_generichash(seed, 32, (const uint8_t *)"EE", 2, NULL, 0); /* as tu_member_keys */
    crypto_generichash(sub, 32, (const uint8_t *)"tmbus seed box", 14, seed, 32);
    crypto_box_seed_keypair(box_pk, box_sk, sub);
    crypto_generichash(want, sizeof(want), (const uint8_t *)"tmbus store v1\0", 15, box_sk, 32);
    assert_memory_equal(want, ka, KEYS_STORE_KEY_BYTES);

    keys_store_key_free(&ka);
    assert_null(ka);
    keys_store_key_free(&ka); /* NULL is accepted */
    keys_store_key_free(NULL);
    keys_store_key_free(&ka2);
    keys_store_key_free(&kb);
    keys_free(&a);
    keys_free(&a2);
    keys_free(&b);
    keys_free(&client);
}

static void test_sign_and_transport_by_kind(void **state)
{
    struct keyset *m = tu_member_keys("EE"), *g = keys_generate(KEYS_GOVERNOR, "EE");
    struct keyset *c = keys_generate(KEYS_CLIENT, NULL);
    uint8_t sig[KEYS_SIGNATURE_BYTES], out[32];

    (void)state;
    assert_non_null(g);
    assert_non_null(c);
    assert_sign_verifies(m, m->sign_pk);
    assert_sign_verifies(g, g->sign_pk);
    assert_int_equal(keys_sign(c, (const uint8_t *)"x", 1, sig), -1);
    assert_int_equal(keys_pair_key(g, m->box_pk, out), -1);
    assert_non_null(keys_transport_secret(m));
    assert_non_null(keys_transport_secret(c));
    assert_null(keys_transport_secret(g));
    keys_free(&m);
    keys_free(&g);
    keys_free(&c);
}

/* ---- public files ---- */

static void test_load_public_and_governor(void **state)
{
    const char *dir = *state;
    struct keyset *m = saved_member(dir), *g = keys_generate(KEYS_GOVERNOR, "PL");
    struct keyset *c = keys_generate(KEYS_CLIENT, NULL);
    struct keys_public pub;
    char member[UTIL_MEMBER_ID_MAX + 1];
    uint8_t pk[KEYS_PUBLIC_BYTES];

    assert_non_null(g);
    assert_non_null(c);
    assert_int_equal(keys_save(g, in_dir(dir, "g.key"), in_dir(dir, "g.pub")), 0);
    assert_int_equal(keys_save(c, in_dir(dir, "c.key"), in_dir(dir, "c.pub")), 0);

    memset(&pub, 0xff, sizeof(pub));
    assert_int_equal(keys_load_public(in_dir(dir, "EE.pub"), &pub), 0);
    assert_string_equal(pub.member, "EE");
    assert_memory_equal(pub.sign_pk, m->sign_pk, 32);
    assert_memory_equal(pub.box_pk, m->box_pk, 32);
    assert_memory_equal(pub.transport_pk, m->transport_pk, 32);
    memset(&pub, 0, sizeof(pub));
    assert_int_equal(keys_load_public(in_dir(dir, "EE.key"), &pub), 0);
    assert_memory_equal(pub.box_pk, m->box_pk, 32);
    assert_int_equal(keys_load_public(in_dir(dir, "g.pub"), &pub), -1);
    assert_int_equal(keys_load_public(in_dir(dir, "c.pub"), &pub), -1);
    assert_int_equal(keys_load_public(in_dir(dir, "g.key"), &pub), -1);

    memset(member, 0, sizeof(member));
    assert_int_equal(keys_load_governor_public(in_dir(dir, "g.pub"), member, pk), 0);
    assert_string_equal(member, "PL");
    assert_memory_equal(pk, g->sign_pk, 32);
    assert_int_equal(keys_load_governor_public(in_dir(dir, "g.key"), member, pk), 0);
    assert_memory_equal(pk, g->sign_pk, 32);
    assert_int_equal(keys_load_governor_public(in_dir(dir, "EE.pub"), member, pk), -1);
    assert_int_equal(keys_load_governor_public(in_dir(dir, "c.pub"), member, pk), -1);

    /* Public files are not secret key files. */
    assert_null(keys_load(in_dir(dir, "EE.pub")));
    assert_null(keys_load(in_dir(dir, "g.pub")));
    assert_null(keys_load(in_dir(dir, "c.pub")));
    /* A public file holding a secret field is refused. */
    {
        char text[TEXT_MAX], line[256];
        read_text(in_dir(dir, "EE.pub"), text, sizeof(text));
        b64_line(line, sizeof(line), "box-secret", m->box_pk, 32);
        strncat(text, line, sizeof(text) - strlen(text) - 1);
        write_text(in_dir(dir, "bad.pub"), text, 0644);
        assert_int_equal(keys_load_public(in_dir(dir, "bad.pub"), &pub), -1);
    }
    keys_free(&m);
    keys_free(&g);
    keys_free(&c);
}

static void test_base64_helpers(void **state)
{
    uint8_t bin[32], back[32], big[64], back64[64];
    char b64[B64_32], long_b64[B64_64], text[128];

    (void)state;
    randombytes_buf(bin, sizeof(bin));
    keys_to_base64(bin, sizeof(bin), b64, sizeof(b64));
    assert_int_equal(strlen(b64), 44);
    assert_int_equal(keys_from_base64(b64, back, 32), 0);
    assert_memory_equal(bin, back, 32);
    assert_int_equal(keys_from_base64(b64, back, 31), -1);
    assert_int_equal(keys_from_base64(b64, big, 33), -1);
    xsnprintf(text, sizeof(text), "%s=", b64);
    assert_int_equal(keys_from_base64(text, back, 32), -1);
    xsnprintf(text, sizeof(text), "%sA", b64);
    assert_int_equal(keys_from_base64(text, back, 32), -1);
    xsnprintf(text, sizeof(text), " %s", b64);
    assert_int_equal(keys_from_base64(text, back, 32), -1);
    xsnprintf(text, sizeof(text), "%.43s", b64); /* padding removed */
    assert_int_equal(keys_from_base64(text, back, 32), -1);
    assert_int_equal(keys_from_base64("", back, 32), -1);
    /* Non-canonical: the last character's unused bits set. */
    memset(bin, 0, sizeof(bin));
    keys_to_base64(bin, sizeof(bin), b64, sizeof(b64));
    assert_int_equal(keys_from_base64(b64, back, 32), 0);
    b64[42] = 'B';
    assert_int_equal(keys_from_base64(b64, back, 32), -1);
    randombytes_buf(big, sizeof(big));
    keys_to_base64(big, sizeof(big), long_b64, sizeof(long_b64));
    assert_int_equal(strlen(long_b64), 88);
    assert_int_equal(keys_from_base64(long_b64, back64, 64), 0);
    assert_memory_equal(big, back64, 64);
}

/* ---- tmbus-admin keygen ---- */

static int admin(const char *args, char *out, size_t size)
{
    char cmd[2048];

    if (access(TMBUS_ADMIN_BIN, X_OK) != 0)
        fail_msg("%s is not built", TMBUS_ADMIN_BIN);
    xsnprintf(cmd, sizeof(cmd), "%s %s", TMBUS_ADMIN_BIN, args);
    return tu_run(cmd, out, size);
}

static void test_cli_keygen(void **state)
{
    const char *dir = *state;
    char kd[1024], cmd[2048], out[4096];
    struct keyset *ks;
    struct keys_public pub;

    if (access(TMBUS_ADMIN_BIN, X_OK) != 0)
        fail_msg("%s is not built", TMBUS_ADMIN_BIN);
    xsnprintf(kd, sizeof(kd), "%s/keys", dir);
    /* A loose umask must not loosen the files nor the new directory. */
    xsnprintf(cmd, sizeof(cmd), "umask 000; %s keygen member EE '%s'", TMBUS_ADMIN_BIN, kd);
    assert_int_equal(tu_run(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "EE.key"));
    assert_int_equal(mode_of(kd), 0700);
    assert_int_equal(mode_of(in_dir(kd, "EE.key")), 0600);
    assert_int_equal(mode_of(in_dir(kd, "EE.pub")), 0644);
    assert_non_null(ks = keys_load(in_dir(kd, "EE.key")));
    assert_int_equal(ks->kind, KEYS_MEMBER);
    assert_string_equal(ks->member, "EE");
    assert_int_equal(keys_load_public(in_dir(kd, "EE.pub"), &pub), 0);
    assert_memory_equal(pub.sign_pk, ks->sign_pk, 32);
    keys_free(&ks);

    /* Never overwrites. */
    xsnprintf(cmd, sizeof(cmd), "keygen member EE '%s'", kd);
    assert_int_equal(admin(cmd, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "already exists"));

    xsnprintf(cmd, sizeof(cmd), "keygen governor EE gov-1 '%s'", kd);
    assert_int_equal(admin(cmd, out, sizeof(out)), 0);
    assert_int_equal(mode_of(in_dir(kd, "gov-1.key")), 0600);
    assert_int_equal(mode_of(in_dir(kd, "gov-1.pub")), 0644);
    assert_non_null(ks = keys_load(in_dir(kd, "gov-1.key")));
    assert_int_equal(ks->kind, KEYS_GOVERNOR);
    assert_string_equal(ks->member, "EE");
    keys_free(&ks);

    xsnprintf(cmd, sizeof(cmd), "keygen client desk_1 '%s'", kd);
    assert_int_equal(admin(cmd, out, sizeof(out)), 0);
    assert_int_equal(mode_of(in_dir(kd, "desk_1.key")), 0600);
    assert_int_equal(mode_of(in_dir(kd, "desk_1.pub")), 0644);
    assert_non_null(ks = keys_load(in_dir(kd, "desk_1.key")));
    assert_int_equal(ks->kind, KEYS_CLIENT);
    assert_string_equal(ks->member, "");
    keys_free(&ks);
    assert_int_equal(count_entries(kd), 6);
}

static void test_cli_keygen_usage(void **state)
{
    const char *dir = *state;
    char cmd[2048], out[4096];

    /* "@" stands for the test's directory. */
    static const char *const bad[] = {
        "keygen",
        "keygen member",
        "keygen member EE",
        "keygen planet EE @",
        "keygen member ../EE @",
        "keygen member 'E E' @",
        "keygen member EE @ extra",
        "keygen governor EE @",
        "keygen governor 'bad id' gov @",
        "keygen governor EE ../gov @",
        "keygen client @",
        "keygen client a/b @",
        "keygen member EE ''",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *at = strchr(bad[i], '@');
        if (at == NULL)
            xsnprintf(cmd, sizeof(cmd), "%s", bad[i]);
        else
            xsnprintf(cmd, sizeof(cmd), "%.*s%s%s", (int)(at - bad[i]), bad[i], dir, at + 1);
        if (admin(cmd, out, sizeof(out)) != 64)
            fail_msg("'%s' did not exit 64: %s", cmd, out);
    }
    assert_int_equal(count_entries(dir), 0); /* nothing written */
    assert_int_equal(admin("keygen --help", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "keygen governor MEMBER NAME DIR"));
    /* Positive control for the argument shapes above. */
    xsnprintf(cmd, sizeof(cmd), "keygen member EE %s", dir);
    assert_int_equal(admin(cmd, out, sizeof(out)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_governor, setup, teardown),
        cmocka_unit_test(test_generate_refuses_bad_member),
        cmocka_unit_test_setup_teardown(test_load_refuses_loose_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_refuses_symlink_and_non_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_refuses_oversize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_refuses_tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_refuses_nul_and_wrong_fields_for_kind, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_load_accepts_comments_blanks_and_spacing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_save_refuses_overwrite, setup, teardown),
        cmocka_unit_test(test_from_seed_deterministic),
        cmocka_unit_test(test_pair_key),
        cmocka_unit_test(test_store_key),
        cmocka_unit_test(test_sign_and_transport_by_kind),
        cmocka_unit_test_setup_teardown(test_load_public_and_governor, setup, teardown),
        cmocka_unit_test(test_base64_helpers),
        cmocka_unit_test_setup_teardown(test_cli_keygen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_keygen_usage, setup, teardown),
    };

    log_init("test_keys", LOG_LEVEL_WARN);
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
