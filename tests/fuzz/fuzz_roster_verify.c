/*
 * fuzz_roster_verify: feeds arbitrary bytes to roster_verify, the decoder
 * every node runs on a roster that arrives from a peer or a file. The input
 * is also checked as a trusted roster and, when that succeeds, used as the
 * previous roster for itself, so that the chain and old-threshold paths
 * run too. Nothing here may crash, leak or hand out an unverified roster.
 */
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "roster.h"

#define COALITION "tallinn-mechanism"
#define NOW       1800000000 /* 2027-01-15, inside the seeds' validity */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Asks every question a caller would, so that a bad view crashes here. */
static void touch(const struct roster *r)
{
    struct roster_member m;
    struct roster_governor g;
    struct envelope_member_keys k;
    volatile size_t sink = 0;

    sink += roster_version(r) + roster_threshold(r) + roster_signer_count(r);
    sink += (size_t)roster_expires_at(r) + (size_t)roster_issued_at(r);
    sink += roster_hash(r)[0] + roster_coalition(r)[0];
    for (size_t i = 0; i < roster_member_count(r); i++) {
        roster_member_at(r, i, &m);
        sink += m.id[0] + m.name[0] + m.sign_pk[0] + m.box_pk[0] + m.transport_pk[31];
        for (size_t e = 0; e < m.n_endpoints; e++)
            sink += m.endpoints[e][0];
        for (size_t j = 0; j < m.n_groups; j++)
            sink += m.groups[j][0];
        ensure(roster_find(r, m.id, &m) == 0);
        ensure(roster_find_by_transport(r, m.transport_pk, &m) == 0);
        ensure(roster_envelope_lookup((void *)(uintptr_t)r, m.id, "", 1, &k) == 0);
    }
    for (size_t i = 0; i < roster_governor_count(r); i++) {
        roster_governor_at(r, i, &g);
        ensure(roster_find(r, g.member, &m) == 0);
        sink += g.sign_pk[0] + g.has_signed;
    }
    ensure(roster_signer_count(r) >= roster_threshold(r));
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct roster *r = NULL, *trusted = NULL, *next = NULL, *shown = NULL;
    char why[160];

    log_init("fuzz_roster_verify", LOG_LEVEL_WARN);
    if (roster_verify(data, size, COALITION, NOW, NULL, &r) == ROSTER_OK)
        touch(r);
    else
        ensure(r == NULL);
    if (roster_verify_trusted(data, size, COALITION, &trusted) == ROSTER_OK) {
        touch(trusted);
        /* A roster never follows itself: the version cannot match. */
        ensure(roster_verify(data, size, COALITION, NOW, trusted, &next) != ROSTER_OK);
        ensure(next == NULL);
    } else {
        ensure(trusted == NULL);
    }
    (void)roster_inspect(data, size, NULL, NOW, NULL, false, &shown, why, sizeof(why));
    roster_free(&shown);
    roster_free(&trusted);
    roster_free(&r);
    return 0;
}
