/*
 * api_audit: the audit request (PROTOCOL.md §8.5, §13) for admin clients:
 * a page of the node's audit log, newest first, or one entry's inclusion
 * proof in the latest signed checkpoint. It reads the log through audit.c
 * and the store and never writes; a page stays within API_AUDIT_PAGE_MAX
 * entries, far under the client's message limit, and every other client
 * is refused (logged, counted and recorded in the log itself).
 */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "log.h"
#include "stats.h"
#include "store.h"

/* One entry read for a page, encoded and decoded. */
struct page_entry {
    uint64_t index;
    uint8_t bytes[AUDIT_ENTRY_MAX];
    size_t len;
    struct audit_entry e;
};

struct page {
    struct page_entry *items;
    size_t n, want;
};

static int take_entry(void *arg, uint64_t idx, const uint8_t *entry, size_t len)
{
    struct page *pg = arg;
    struct page_entry *it = &pg->items[pg->n];

    if (pg->n == pg->want)
        return 1;
    if (len > sizeof(it->bytes) || audit_entry_decode(entry, len, &it->e) != 0) {
        log_warnx("api: audit entry %llu is malformed in the store", (unsigned long long)idx);
        return -1;
    }
    it->index = idx;
    memcpy(it->bytes, entry, len);
    it->len = len;
    pg->n++;
    return 0;
}

/* Points the reply's view of an entry at what it holds. */
static void fill_entry(Tmbus__Api__AuditEntry *out, struct page_entry *it)
{
    struct audit_entry *e = &it->e;

    tmbus__api__audit_entry__init(out);
    out->index = it->index;
    out->entry = (ProtobufCBinaryData){it->len, it->bytes};
    out->at_ms = e->at_ms;
    out->kind = (char *)audit_kind_name(e->kind);
    out->outcome = (char *)audit_outcome_name(e->outcome);
    out->actor_kind = (char *)audit_actor_name(e->actor_kind);
    out->actor = e->actor;
    if (e->has_key)
        out->key = (ProtobufCBinaryData){sizeof(e->key), e->key};
    out->origin = e->origin;
    out->peer = e->peer;
    out->seq = e->seq;
    if (e->has_id)
        out->envelope_id = (ProtobufCBinaryData){sizeof(e->id), e->id};
    out->detail = e->detail;
}

static void internal(struct api *a, const struct request *rq)
{
    api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
               "the node's store failed");
}

/* A page: the entries below before (0: the end), newest first. */
static void answer_page(struct api *a, const struct request *rq, uint64_t before, size_t limit)
{
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__AuditPage ap = TMBUS__API__AUDIT_PAGE__INIT;
    Tmbus__Api__AuditEntry *views = NULL, **ptrs = NULL;
    struct page pg = {0};
    uint8_t root[AUDIT_HASH_BYTES];
    uint64_t size, end, start;

    audit_head(a->audit, &size, root);
    end = before == 0 || before > size ? size : before;
    start = end > limit ? end - limit : 0;
    pg.want = (size_t)(end - start);
    pg.items = calloc(limit, sizeof(*pg.items));
    views = calloc(limit, sizeof(*views));
    ptrs = calloc(limit, sizeof(*ptrs));
    ensure(pg.items != NULL && views != NULL && ptrs != NULL);
    if (pg.want > 0 && store_audit_each(a->store, start, take_entry, &pg) < 0) {
        internal(a, rq);
        goto out;
    }
    for (size_t i = 0; i < pg.n; i++) {
        fill_entry(&views[i], &pg.items[pg.n - 1 - i]);
        ptrs[i] = &views[i];
    }
    ap.n_entries = pg.n;
    ap.entries = ptrs;
    ap.size = size;
    ap.next = start;
    r.id = rq->id;
    r.kind_case = TMBUS__API__REPLY__KIND_AUDIT;
    r.audit = &ap;
    api_answer(a, rq->rid, rq->rid_len, &r);
    stats_count(a->stats, "api.audit", 1);
out:
    free(pg.items);
    free(views);
    free(ptrs);
}

/* A proof: entry index in the latest signed checkpoint. */
static void answer_proof(struct api *a, const struct request *rq, uint64_t index)
{
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Api__AuditPage ap = TMBUS__API__AUDIT_PAGE__INIT;
    Tmbus__Api__AuditCheckpoint ac = TMBUS__API__AUDIT_CHECKPOINT__INIT;
    Tmbus__Api__AuditEntry view, *vp = &view;
    ProtobufCBinaryData hashes[AUDIT_PROOF_MAX];
    uint8_t proof[AUDIT_PROOF_MAX][AUDIT_HASH_BYTES], root[AUDIT_HASH_BYTES];
    struct audit_checkpoint cp;
    struct page_entry it = {.index = index};
    uint64_t size;
    int n;

    if (audit_latest(a->audit, &cp) != 1 || index >= cp.size) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_NOT_FOUND, "api.rejected.audit-not-found",
                   "no signed checkpoint covers that entry yet");
        return;
    }
    if ((n = audit_prove_entry(a->audit, index, cp.size, it.bytes, &it.len, proof)) < 0 ||
        audit_entry_decode(it.bytes, it.len, &it.e) != 0) {
        internal(a, rq);
        return;
    }
    fill_entry(&view, &it);
    for (int i = 0; i < n; i++)
        hashes[i] = (ProtobufCBinaryData){AUDIT_HASH_BYTES, proof[i]};
    ac.member = cp.member;
    ac.size = cp.size;
    ac.root = (ProtobufCBinaryData){AUDIT_HASH_BYTES, cp.root};
    ac.at = cp.at;
    ac.sig = (ProtobufCBinaryData){KEYS_SIGNATURE_BYTES, cp.sig};
    audit_head(a->audit, &size, root);
    ap.n_entries = 1;
    ap.entries = &vp;
    ap.size = size;
    ap.checkpoint = &ac;
    ap.n_proof = (size_t)n;
    ap.proof = hashes;
    r.id = rq->id;
    r.kind_case = TMBUS__API__REPLY__KIND_AUDIT;
    r.audit = &ap;
    api_answer(a, rq->rid, rq->rid_len, &r);
    stats_count(a->stats, "api.audit-proof", 1);
}

void api_on_audit(struct api *a, const struct request *rq, const Tmbus__Api__AuditQuery *q)
{
    size_t limit = q->limit == 0 ? API_AUDIT_PAGE_DEFAULT : q->limit;

    if (rq->client->role != CONFIG_ROLE_ADMIN) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.audit-denied",
                   "only admin clients may read the audit log");
        return;
    }
    if (q->limit > API_AUDIT_PAGE_MAX) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.audit-query",
                   "limit is over 100 entries");
        return;
    }
    if (a->audit == NULL) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_NOT_FOUND, "api.rejected.audit-not-found",
                   "this node keeps no audit log");
        return;
    }
    if (q->prove)
        answer_proof(a, rq, q->index);
    else
        answer_page(a, rq, q->before, limit);
}
