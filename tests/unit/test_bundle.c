/*
 * Unit tests for daemon/bundle.c: a bundle and a vector written and read
 * back item by item; the signature checked under the signer's key only;
 * every cut of a file refused as truncated and every altered byte refused
 * (by the bounds or by the signature); logs out of order, lengths over
 * their limits and bytes after the signature refused before anything
 * they announce is read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bundle.h"
#include "keys.h"

struct file {
    char *buf;
    size_t len;
};

static struct keyset *member(const char *id)
{
    uint8_t seed[32] = {0};

    memcpy(seed, id, strlen(id));
    return keys_from_seed(KEYS_MEMBER, id, seed);
}

static void header(struct bundle_header *h, enum bundle_kind kind)
{
    memset(h, 0, sizeof(*h));
    h->kind = kind;
    h->created_at = 1800000000;
    strcpy(h->coalition, "unit-coalition");
    strcpy(h->from, "UA");
    strcpy(h->to, "EE");
    memset(h->answers, 0x5a, sizeof(h->answers));
}

/* UA's bundle for EE: two envelopes of UA's relayed log from seq 4, one
 * of its direct log to EE. */
static struct file write_bundle(const struct keyset *ks)
{
    struct bundle_header h;
    struct bundle_writer *w;
    struct file f = {0};
    FILE *out = open_memstream(&f.buf, &f.len);
    const uint8_t a[] = "first envelope", b[] = "second", c[] = "red";

    assert_non_null(out);
    header(&h, BUNDLE_KIND_ENVELOPES);
    assert_non_null(w = bundle_writer_new(out, &h));
    assert_int_equal(bundle_writer_section(w, "UA", "", 4, 2), 0);
    assert_int_equal(bundle_writer_envelope(w, a, sizeof(a)), 0);
    assert_int_equal(bundle_writer_envelope(w, b, sizeof(b)), 0);
    assert_int_equal(bundle_writer_section(w, "UA", "EE", 1, 1), 0);
    assert_int_equal(bundle_writer_envelope(w, c, sizeof(c)), 0);
    assert_int_equal(bundle_writer_finish(w, ks), 0);
    bundle_writer_free(&w);
    assert_int_equal(fclose(out), 0);
    return f;
}

struct seen {
    struct bundle_item items[8];
    size_t n;
};

static int remember(void *arg, const struct bundle_item *item)
{
    struct seen *s = arg;

    assert_true(s->n < 8);
    s->items[s->n++] = *item;
    return 0;
}

static void test_round_trip(void **state)
{
    struct keyset *ua = member("UA"), *ee = member("EE");
    struct file f = write_bundle(ua);
    struct bundle_header h, want;
    struct seen s = {0};

    (void)state;
    assert_int_equal(bundle_check((uint8_t *)f.buf, f.len, ua->sign_pk, &h, remember, &s),
                     BUNDLE_OK);
    header(&want, BUNDLE_KIND_ENVELOPES);
    assert_memory_equal(&h, &want, sizeof(h));
    assert_int_equal(s.n, 6);
    assert_int_equal(s.items[0].kind, BUNDLE_ITEM_SECTION);
    assert_int_equal(s.items[0].seq, 4);
    assert_int_equal(s.items[0].count, 2);
    assert_int_equal(s.items[1].kind, BUNDLE_ITEM_ENVELOPE);
    assert_int_equal(s.items[1].seq, 4);
    assert_int_equal(s.items[2].seq, 5);
    assert_string_equal(s.items[3].peer, "EE");
    assert_int_equal(s.items[4].len, 4);
    assert_int_equal(s.items[5].kind, BUNDLE_ITEM_END);
    /* Another member's key does not verify it. */
    assert_int_equal(bundle_check((uint8_t *)f.buf, f.len, ee->sign_pk, NULL, NULL, NULL),
                     BUNDLE_E_SIGNATURE);
    free(f.buf);
    keys_free(&ua);
    keys_free(&ee);
}

static void test_every_cut_and_flip(void **state)
{
    struct keyset *ua = member("UA");
    struct file f = write_bundle(ua);
    uint8_t *copy = malloc(f.len);

    (void)state;
    assert_non_null(copy);
    for (size_t cut = 0; cut < f.len; cut++)
        assert_int_equal(bundle_check((uint8_t *)f.buf, cut, ua->sign_pk, NULL, NULL, NULL),
                         BUNDLE_E_TRUNCATED);
    for (size_t at = 0; at < f.len; at++) {
        memcpy(copy, f.buf, f.len);
        copy[at] ^= 0x01;
        assert_int_not_equal(bundle_check(copy, f.len, ua->sign_pk, NULL, NULL, NULL), BUNDLE_OK);
    }
    /* A byte after the signature. */
    uint8_t *longer = malloc(f.len + 1);
    assert_non_null(longer);
    memcpy(longer, f.buf, f.len);
    longer[f.len] = 0;
    assert_int_equal(bundle_check(longer, f.len + 1, ua->sign_pk, NULL, NULL, NULL),
                     BUNDLE_E_MALFORMED);
    free(longer);
    free(copy);
    free(f.buf);
    keys_free(&ua);
}

static void test_vector(void **state)
{
    struct keyset *ee = member("EE");
    struct bundle_header h;
    struct bundle_writer *w;
    struct seen s = {0};
    struct file f = {0};
    uint8_t id[ENVELOPE_HASH_BYTES];
    FILE *out = open_memstream(&f.buf, &f.len);

    (void)state;
    memset(id, 7, sizeof(id));
    header(&h, BUNDLE_KIND_VECTOR);
    strcpy(h.from, "EE");
    strcpy(h.to, "UA");
    assert_non_null(w = bundle_writer_new(out, &h));
    assert_int_equal(bundle_writer_head(w, "EE", "UA", 2, id), 0);
    assert_int_equal(bundle_writer_head(w, "UA", "", 9, id), 0);
    /* Out of order, and a section in a vector: refused by the writer. */
    assert_int_equal(bundle_writer_head(w, "EE", "", 1, id), -1);
    assert_int_equal(bundle_writer_section(w, "ZZ", "", 1, 1), -1);
    assert_int_equal(bundle_writer_finish(w, ee), 0);
    bundle_writer_free(&w);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(bundle_check((uint8_t *)f.buf, f.len, ee->sign_pk, &h, remember, &s),
                     BUNDLE_OK);
    assert_int_equal(h.kind, BUNDLE_KIND_VECTOR);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.items[1].seq, 9);
    assert_memory_equal(s.items[1].id, id, sizeof(id));
    free(f.buf);
    keys_free(&ee);
}

/* Hand-made bytes: the header of a bundle from UA to EE, then tail. */
static enum bundle_status check_raw(const uint8_t *tail, size_t n)
{
    uint8_t buf[256];
    size_t len = 0;

    memcpy(buf, BUNDLE_MAGIC, BUNDLE_MAGIC_BYTES);
    len = BUNDLE_MAGIC_BYTES;
    buf[len++] = BUNDLE_FORMAT;
    buf[len++] = BUNDLE_KIND_ENVELOPES;
    buf[len++] = 1;
    buf[len++] = 'c';
    buf[len++] = 2;
    memcpy(buf + len, "UA", 2);
    len += 2;
    buf[len++] = 2;
    memcpy(buf + len, "EE", 2);
    len += 2;
    memset(buf + len, 0, 8 + BUNDLE_HASH_BYTES);
    len += 8 + BUNDLE_HASH_BYTES;
    memcpy(buf + len, tail, n);
    return bundle_check(buf, len + n, NULL, NULL, NULL, NULL);
}

static void test_bounds(void **state)
{
    /* A section of UA's log from seq 1, one envelope announced as 2 GiB:
     * refused from its length, with nothing more to read. */
    const uint8_t huge[] = {'S', 2, 'U', 'A', 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x80, 0, 0, 0};
    /* seq 0 and count 0. */
    const uint8_t seq0[] = {'S', 2, 'U', 'A', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t count0[] = {'S', 2, 'U', 'A', 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    /* An id that is not a member id, and a head in a bundle. */
    const uint8_t bad_id[] = {'S', 2, 'U', '/', 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
    const uint8_t head[] = {'H', 2, 'U', 'A', 0};
    /* Over BUNDLE_MAX_ENVELOPES in one section. */
    const uint8_t many[] = {'S', 2, 'U', 'A', 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};

    (void)state;
    assert_int_equal(check_raw(huge, sizeof(huge)), BUNDLE_E_MALFORMED);
    assert_int_equal(check_raw(seq0, sizeof(seq0)), BUNDLE_E_MALFORMED);
    assert_int_equal(check_raw(count0, sizeof(count0)), BUNDLE_E_MALFORMED);
    assert_int_equal(check_raw(bad_id, sizeof(bad_id)), BUNDLE_E_MALFORMED);
    assert_int_equal(check_raw(head, sizeof(head)), BUNDLE_E_MALFORMED);
    assert_int_equal(check_raw(many, sizeof(many)), BUNDLE_E_TOO_LARGE);
    /* An end with no signature after it. */
    assert_int_equal(check_raw((const uint8_t *)"E", 1), BUNDLE_E_TRUNCATED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_cut_and_flip),
        cmocka_unit_test(test_vector),
        cmocka_unit_test(test_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
