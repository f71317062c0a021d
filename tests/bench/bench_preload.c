/*
 * bench_preload: a preloaded log for the relay and catch-up benchmarks,
 * sealed by the node's own envelope code with member 0's real keys and
 * appended through its store. Never runs while a node holds the store.
 */
#include "bench_preload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envelope.h"
#include "fedclient.h"
#include "keys.h"
#include "roster.h"
#include "store.h"

#define COMMIT_EVERY 10000 /* envelopes per transaction while filling */

int bench_preload(struct fed *f, uint32_t n, bool is_for_1, const char *tag)
{
    struct keyset *ks = keys_load(fed_member_key_path(f, 0));
    struct envelope_keyring *kr = ks ? envelope_keyring_new(ks) : NULL;
    struct store *st = fed_store_open(f, 0);
    struct roster *r = NULL;
    struct roster_member m1, m2;
    uint8_t prev[ENVELOPE_HASH_BYTES], payload[FC_PAYLOAD_MAX];
    int rc = -1;

    if (ks == NULL || kr == NULL || st == NULL ||
        roster_load(fed_roster_path(f), FED_COALITION, &r) == -1 ||
        roster_find(r, fed_id(f, 1), &m1) == -1 || roster_find(r, fed_id(f, 2), &m2) == -1)
        goto out;
    struct envelope_recipient rcpt[2] = {{m2.id, m2.box_pk}, {m1.id, m1.box_pk}};
    for (uint32_t seq = 1; seq <= n; seq++) {
        struct envelope_seal_args a = {0};
        struct envelope_info info;
        struct store_entry e = {0};
        uint8_t *env;
        size_t len;

        a.coalition = FED_COALITION;
        a.seq = seq;
        a.prev_hash = seq > 1 ? prev : NULL;
        a.roster_version = roster_version(r);
        a.created_at = (int64_t)time(NULL);
        a.payload = payload;
        a.payload_len = fc_need(payload, sizeof(payload), FC_TLP_GREEN, tag, seq);
        a.recipients = rcpt;
        a.n_recipients = is_for_1 ? 2 : 1;
        if ((seq - 1) % COMMIT_EVERY == 0 && store_begin(st) == -1)
            goto out;
        if (envelope_seal(kr, &a, &env, &len, &info) != ENVELOPE_OK)
            goto out;
        strcpy(e.log.origin, fed_id(f, 0));
        e.seq = seq;
        e.id = info.id;
        e.prev = a.prev_hash;
        e.envelope = env;
        e.envelope_len = len;
        int appended = store_append(st, &e);
        free(env);
        if (appended == -1)
            goto out;
        memcpy(prev, info.id, sizeof(prev));
        if ((seq % COMMIT_EVERY == 0 || seq == n) && store_commit(st) == -1)
            goto out;
    }
    rc = 0;
out:
    roster_free(&r);
    store_close(&st);
    envelope_keyring_free(&kr);
    keys_free(&ks);
    return rc;
}
