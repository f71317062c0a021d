/*
 * audit: the node's audit log as an admin client reads it (tmbus.h, "the
 * node's audit log"): pages of entries and one entry's inclusion proof,
 * which is checked here with the same hashing the node uses (merkle.c).
 * Every field the node sends is checked against its bound before the
 * caller sees it; nothing here trusts the node's word that a proof holds.
 */
#include "tmbus.h"

#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "internal.h"
#include "merkle.h"

#define DETAIL_MAX 128 /* the log's bounds (PROTOCOL.md §13) */
#define ACTOR_MAX  64

struct tmbus_audit_page {
    Tmbus__Api__Reply *reply;
    struct tmbus_audit_entry *entries;
    size_t n;
    uint64_t size, next;
};

static bool is_name(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

/* Copies a checked entry view; strings point into e. Returns 0 or -1. */
static int take_entry(struct tmbus_audit_entry *out, const Tmbus__Api__AuditEntry *e)
{
    if (e->entry.len == 0 || e->entry.len > TMBUS_AUDIT_ENTRY_MAX || !is_name(e->kind, 16) ||
        !is_name(e->outcome, 16) || !is_name(e->actor_kind, 16) || !is_name(e->actor, ACTOR_MAX) ||
        !is_name(e->origin, ACTOR_MAX) || !is_name(e->peer, ACTOR_MAX) ||
        !is_name(e->detail, DETAIL_MAX) || (e->key.len != 0 && e->key.len != 32) ||
        (e->envelope_id.len != 0 && e->envelope_id.len != TMBUS_ID_BYTES))
        return -1;
    memset(out, 0, sizeof(*out));
    out->index = e->index;
    out->at_ms = e->at_ms;
    out->kind = e->kind;
    out->outcome = e->outcome;
    out->actor_kind = e->actor_kind;
    out->actor = e->actor;
    out->has_key = e->key.len == 32;
    if (out->has_key)
        memcpy(out->key, e->key.data, 32);
    out->origin = e->origin;
    out->peer = e->peer;
    out->seq = e->seq;
    out->has_id = e->envelope_id.len == TMBUS_ID_BYTES;
    if (out->has_id)
        memcpy(out->id, e->envelope_id.data, TMBUS_ID_BYTES);
    out->detail = e->detail;
    out->entry = e->entry.data;
    out->entry_len = e->entry.len;
    return 0;
}

/* One audit request; TMBUS_OK with its reply, of any kind, in *out. */
static int ask(struct tmbus *h, Tmbus__Api__AuditQuery *q, int timeout_ms, Tmbus__Api__Reply **out)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;

    req.kind_case = TMBUS__API__REQUEST__KIND_AUDIT;
    req.audit = q;
    return client_call(h, &req, timeout_ms, out);
}

/* Whether r is an audit reply; frees r and records why when it is not. */
static bool is_audit(struct tmbus *h, Tmbus__Api__Reply *r)
{
    if (r->kind_case == TMBUS__API__REPLY__KIND_AUDIT && r->audit != NULL)
        return true;
    client_free_reply(r, false);
    client_fail(h, TMBUS_EPROTOCOL, "the node answered an audit query with something else");
    return false;
}

int tmbus_audit_list(struct tmbus *h, uint64_t before, uint32_t limit, int timeout_ms,
                     struct tmbus_audit_page **out)
{
    Tmbus__Api__AuditQuery q = TMBUS__API__AUDIT_QUERY__INIT;
    Tmbus__Api__Reply *r = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || out == NULL || limit > TMBUS_AUDIT_PAGE_MAX)
        return TMBUS_EINVALID;
    client_clear_error(h);
    q.before = before;
    q.limit = limit;
    if ((rc = ask(h, &q, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    return audit_read_page(h, r, out);
}

int audit_read_page(struct tmbus *h, Tmbus__Api__Reply *r, struct tmbus_audit_page **out)
{
    struct tmbus_audit_page *p;
    const Tmbus__Api__AuditPage *m;

    *out = NULL;
    if (!is_audit(h, r))
        return TMBUS_EPROTOCOL;
    if ((p = calloc(1, sizeof(*p))) == NULL) {
        client_free_reply(r, false);
        return client_fail(h, TMBUS_ENOMEM, "out of memory");
    }
    p->reply = r;
    m = r->audit;
    if (m->n_entries > TMBUS_AUDIT_PAGE_MAX ||
        (m->n_entries > 0 && (p->entries = calloc(m->n_entries, sizeof(*p->entries))) == NULL)) {
        tmbus_audit_page_free(&p);
        return client_fail(h, TMBUS_EPROTOCOL, "the node sent an audit page we cannot hold");
    }
    for (size_t i = 0; i < m->n_entries; i++)
        if (take_entry(&p->entries[i], m->entries[i]) != 0) {
            tmbus_audit_page_free(&p);
            return client_fail(h, TMBUS_EPROTOCOL, "the node sent an audit entry we cannot read");
        }
    p->n = m->n_entries;
    p->size = m->size;
    p->next = m->next;
    *out = p;
    return TMBUS_OK;
}

size_t tmbus_audit_page_count(const struct tmbus_audit_page *p)
{
    return p != NULL ? p->n : 0;
}

const struct tmbus_audit_entry *tmbus_audit_page_at(const struct tmbus_audit_page *p, size_t i)
{
    return p != NULL && i < p->n ? &p->entries[i] : NULL;
}

uint64_t tmbus_audit_page_size(const struct tmbus_audit_page *p)
{
    return p != NULL ? p->size : 0;
}

uint64_t tmbus_audit_page_next(const struct tmbus_audit_page *p)
{
    return p != NULL ? p->next : 0;
}

void tmbus_audit_page_free(struct tmbus_audit_page **pp)
{
    if (pp == NULL || *pp == NULL)
        return;
    free((*pp)->entries);
    client_free_reply((*pp)->reply, false);
    free(*pp);
    *pp = NULL;
}

/* The proof and what it points into. */
struct proof_holder {
    struct tmbus_audit_proof proof; /* first: the caller's pointer */
    Tmbus__Api__Reply *reply;
};

int tmbus_audit_prove(struct tmbus *h, uint64_t index, int timeout_ms,
                      struct tmbus_audit_proof **out)
{
    Tmbus__Api__AuditQuery q = TMBUS__API__AUDIT_QUERY__INIT;
    Tmbus__Api__Reply *r = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || out == NULL)
        return TMBUS_EINVALID;
    client_clear_error(h);
    q.prove = true;
    q.index = index;
    if ((rc = ask(h, &q, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    return audit_read_proof(h, r, index, out);
}

int audit_read_proof(struct tmbus *h, Tmbus__Api__Reply *r, uint64_t index,
                     struct tmbus_audit_proof **out)
{
    const Tmbus__Api__AuditPage *m;
    const Tmbus__Api__AuditCheckpoint *c;
    struct proof_holder *ph;
    struct tmbus_audit_proof *p;
    uint8_t leaf[TMBUS_AUDIT_HASH_BYTES];

    *out = NULL;
    if (!is_audit(h, r))
        return TMBUS_EPROTOCOL;
    m = r->audit;
    c = m->checkpoint;
    if ((ph = calloc(1, sizeof(*ph))) == NULL) {
        client_free_reply(r, false);
        return client_fail(h, TMBUS_ENOMEM, "out of memory");
    }
    ph->reply = r;
    p = &ph->proof;
    if (m->n_entries != 1 || c == NULL || m->n_proof > TMBUS_AUDIT_PROOF_MAX ||
        take_entry(&p->entry, m->entries[0]) != 0 || p->entry.index != index ||
        !domain_is_member_id(c->member, strlen(c->member)) ||
        c->root.len != TMBUS_AUDIT_HASH_BYTES || c->sig.len != sizeof(p->sig)) {
        tmbus_audit_proof_free(&p);
        return client_fail(h, TMBUS_EPROTOCOL, "the node sent an audit proof we cannot read");
    }
    for (size_t i = 0; i < m->n_proof; i++) {
        if (m->proof[i].len != TMBUS_AUDIT_HASH_BYTES) {
            tmbus_audit_proof_free(&p);
            return client_fail(h, TMBUS_EPROTOCOL, "the node sent an audit proof we cannot read");
        }
        memcpy(p->hashes[i], m->proof[i].data, TMBUS_AUDIT_HASH_BYTES);
    }
    p->n_hashes = m->n_proof;
    p->member = c->member;
    p->size = c->size;
    memcpy(p->root, c->root.data, TMBUS_AUDIT_HASH_BYTES);
    p->at = c->at;
    memcpy(p->sig, c->sig.data, sizeof(p->sig));
    merkle_hash_leaf(p->entry.entry, p->entry.entry_len, leaf);
    p->is_verified = merkle_verify_inclusion(
        leaf, index, p->size, p->root, (const uint8_t(*)[MERKLE_HASH_BYTES])p->hashes, p->n_hashes);
    *out = p;
    return TMBUS_OK;
}

void tmbus_audit_proof_free(struct tmbus_audit_proof **pp)
{
    if (pp == NULL || *pp == NULL)
        return;
    /* The proof is the holder's first member. */
    struct proof_holder *ph = (struct proof_holder *)(void *)*pp;
    client_free_reply(ph->reply, false);
    free(ph);
    *pp = NULL;
}
