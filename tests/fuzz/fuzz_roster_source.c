/*
 * fuzz_roster_source: feeds arbitrary bytes, as a roster source file, to
 * roster_build (roster_build.c over inifile.c), which `tmbus-admin roster
 * create` runs on a file a secretariat wrote. The source may name key
 * files of a small fixed federation made once in a scratch directory
 * (keys/A.pub, keys/B.pub, keys/C.pub, keys/A-1.pub and keys/A-0.pub
 * for older generations of A, keys/a-gov.pub and keys/b-gov.pub held by A and B) and
 * roster-v1.bin, a signed version 1 to follow. What it builds must be a
 * well-formed roster that the governors can sign; nothing may crash,
 * overflow or leak.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "fuzz_common.h"
#include "log.h"
#include "roster.h"
#include "roster_build.h"

#define NOW 1767225600 /* 2026-01-01, before the seeds' expiry */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keyset *governors[2];

static struct keyset *make_keys(enum keys_kind kind, const char *member, const char *label)
{
    uint8_t seed[32];
    struct keyset *ks;

    crypto_generichash(seed, sizeof(seed), (const uint8_t *)label, strlen(label), NULL, 0);
    ks = keys_from_seed(kind, member, seed);
    ensure(ks != NULL);
    return ks;
}

static void save_public(const struct keyset *ks, const char *name)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/keys/%s.pub", fuzz_scratch_dir(), name);
    ensure(keys_save(ks, NULL, path) == 0);
}

/* The scratch federation, once per process. */
static void setup(void)
{
    static const char *const members[] = {"A", "B", "C"};
    static const char v1[] = "[roster]\ncoalition = fuzz-coalition\nversion = 1\n"
                             "expires = 2030-01-01\nthreshold = 1\n"
                             "[member A]\nname = Alpha\nrole = coordinator\nkeys = keys/A.pub\n"
                             "[member B]\nname = Bravo\nrole = donor\nkeys = keys/B.pub\n"
                             "[governor a-gov]\nkey = keys/a-gov.pub\n";
    static int done;
    char path[PATH_MAX];
    uint8_t *buf = NULL, *signed_buf = NULL;
    size_t len, signed_len;
    FILE *f;

    if (done)
        return;
    ensure(sodium_init() >= 0);
    snprintf(path, sizeof(path), "%s/keys", fuzz_scratch_dir());
    ensure(mkdir(path, 0700) == 0);
    for (size_t i = 0; i < 3; i++) {
        struct keyset *ks = make_keys(KEYS_MEMBER, members[i], members[i]);
        save_public(ks, members[i]);
        keys_free(&ks);
    }
    for (size_t i = 0; i < 2; i++) {
        static const char *const old_labels[] = {"A-1", "A-0"};
        struct keyset *old = make_keys(KEYS_MEMBER, "A", old_labels[i]);
        save_public(old, old_labels[i]);
        keys_free(&old);
    }
    governors[0] = make_keys(KEYS_GOVERNOR, "A", "a-gov");
    governors[1] = make_keys(KEYS_GOVERNOR, "B", "b-gov");
    save_public(governors[0], "a-gov");
    save_public(governors[1], "b-gov");

    ensure(roster_build(fuzz_scratch_file("v1.ini", (const uint8_t *)v1, sizeof(v1) - 1), NOW, &buf,
                        &len) == 0);
    ensure(roster_sign(buf, len, governors[0], &signed_buf, &signed_len) == 0);
    snprintf(path, sizeof(path), "%s/roster-v1.bin", fuzz_scratch_dir());
    ensure((f = fopen(path, "wb")) != NULL);
    ensure(fwrite(signed_buf, 1, signed_len, f) == signed_len && fclose(f) == 0);
    free(buf);
    free(signed_buf);
    done = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    struct roster *r = NULL;
    char why[160];

    log_init("fuzz_roster_source", LOG_LEVEL_WARN);
    setup();
    if (roster_build(fuzz_scratch_file("roster.ini", data, size), NOW, &buf, &len) != 0) {
        ensure(buf == NULL);
        return 0;
    }
    ensure(buf != NULL && len > 0);
    /* Unsigned, it fails only on signatures: its fields are sound. */
    (void)roster_inspect(buf, len, NULL, NOW, NULL, false, &r, why, sizeof(why));
    ensure(r != NULL);
    roster_free(&r);
    /* Each governor signs when the roster lists its key, else refuses. */
    for (size_t i = 0; i < 2; i++) {
        uint8_t *signed_buf = NULL;
        size_t signed_len;
        if (roster_sign(buf, len, governors[i], &signed_buf, &signed_len) == 0) {
            ensure(signed_buf != NULL && signed_len > len);
            free(buf);
            buf = signed_buf;
            len = signed_len;
        }
    }
    free(buf);
    return 0;
}
