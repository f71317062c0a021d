/*
 * testutil: see testutil.h.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <sodium.h>

const char *tu_tempdir(void)
{
    static char path[512];
    const char *base = getenv("TMPDIR");

    snprintf(path, sizeof(path), "%s/tmbus-test-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(path) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

void tu_rmtree(const char *path)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
}

int tu_run(const char *cmd, char *out, size_t size)
{
    char full[4096];
    FILE *p;
    size_t got = 0;
    int st;

    snprintf(full, sizeof(full), "%s 2>&1", cmd);
    if ((p = popen(full, "r")) == NULL)
        return -1;
    if (size > 0) {
        got = fread(out, 1, size - 1, p);
        out[got] = '\0';
    }
    /* Drain whatever did not fit so the child never blocks on a full pipe. */
    char sink[256];
    while (fread(sink, 1, sizeof(sink), p) > 0)
        ;
    st = pclose(p);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

struct keyset *tu_member_keys(const char *member)
{
    uint8_t seed[32];
    struct keyset *ks;

    crypto_generichash(seed, sizeof(seed), (const uint8_t *)member, strlen(member), NULL, 0);
    if ((ks = keys_from_seed(KEYS_MEMBER, member, seed)) == NULL)
        abort();
    return ks;
}

const uint8_t tu_store_key[32] = {
    0x74, 0x6d, 0x62, 0x75, 0x73, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x73, 0x74, 0x6f, 0x72, 0x65,
    0x20, 0x6b, 0x65, 0x79, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
};
