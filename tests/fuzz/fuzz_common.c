/*
 * fuzz_common: the fuzzers' fixed federation, see fuzz_common.h. It keeps
 * its key sets in static storage built lazily, so that linking it into a
 * harness that never asks for them (fuzz_roster_verify) costs nothing.
 */
/* nftw, for removing the scratch directory. */
#define _XOPEN_SOURCE 700

#include "fuzz_common.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"

static const char *const member_ids[FUZZ_N_MEMBERS] = {"A", "B", "C"};
static struct keyset *members[FUZZ_N_MEMBERS];
static struct envelope_keyring *keyring_b;

/* Derives every member's keys once. A fuzzer is single-threaded, so a
 * plain flag is enough. */
static void federation_init(void)
{
    static int done;
    uint8_t seed[32];

    if (done)
        return;
    ensure(sodium_init() >= 0);
    for (size_t i = 0; i < FUZZ_N_MEMBERS; i++) {
        crypto_generichash(seed, sizeof(seed), (const uint8_t *)member_ids[i],
                           strlen(member_ids[i]), NULL, 0);
        members[i] = keys_from_seed(KEYS_MEMBER, member_ids[i], seed);
        ensure(members[i] != NULL);
    }
    sodium_memzero(seed, sizeof(seed));
    done = 1;
}

const char *fuzz_member_id(size_t i)
{
    ensure(i < FUZZ_N_MEMBERS);
    return member_ids[i];
}

const struct keyset *fuzz_member(const char *id)
{
    federation_init();
    for (size_t i = 0; i < FUZZ_N_MEMBERS; i++)
        if (id != NULL && strcmp(id, member_ids[i]) == 0)
            return members[i];
    return NULL;
}

int fuzz_lookup(void *arg, const char *member, const char *log_peer, uint64_t seq,
                struct envelope_member_keys *out)
{
    const struct keyset *ks = fuzz_member(member);

    (void)log_peer;
    (void)seq;
    (void)arg;
    if (ks == NULL)
        return -1;
    memcpy(out->sign_pk, ks->sign_pk, sizeof(out->sign_pk));
    memcpy(out->box_pk, ks->box_pk, sizeof(out->box_pk));
    return 0;
}

struct envelope_keyring *fuzz_keyring_b(void)
{
    if (keyring_b == NULL) {
        keyring_b = envelope_keyring_new(fuzz_member("B"));
        ensure(keyring_b != NULL);
    }
    return keyring_b;
}

/* ---- scratch files ------------------------------------------------------ */

static char scratch_dir[PATH_MAX];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes the scratch directory and everything a harness put in it. */
static void scratch_remove(void)
{
    if (scratch_dir[0] != '\0' && nftw(scratch_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", scratch_dir);
}

const char *fuzz_scratch_dir(void)
{
    const char *tmp = getenv("TMPDIR");

    if (scratch_dir[0] != '\0')
        return scratch_dir;
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    ensure((size_t)snprintf(scratch_dir, sizeof(scratch_dir), "%s/tmbus-fuzz-XXXXXX", tmp) <
           sizeof(scratch_dir));
    ensure(mkdtemp(scratch_dir) != NULL);
    atexit(scratch_remove);
    return scratch_dir;
}

const char *fuzz_scratch_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[PATH_MAX];
    size_t done = 0;
    int fd;

    ensure((size_t)snprintf(path, sizeof(path), "%s/%s", fuzz_scratch_dir(), name) < sizeof(path));
    /* A fresh file rather than O_TRUNC: ext4 flushes a truncated file's
     * new blocks when it is closed, which made every input wait on the
     * disk. */
    ensure(unlink(path) == 0 || errno == ENOENT);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ensure(fd != -1);
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        ensure(n > 0);
        done += (size_t)n;
    }
    ensure(close(fd) == 0);
    return path;
}
