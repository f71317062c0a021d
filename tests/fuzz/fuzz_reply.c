/*
 * fuzz_reply: feeds arbitrary bytes, as a reply the node sends over the
 * client socket, to libtmbus's reader of one request's answer: the first
 * byte chooses which (a board page, two pages into one board, the report,
 * a delivery state, the status, the roster history with and without a
 * caller for it, an audit page, an audit proof, the answer to a post in
 * flight), the rest is unpacked as a
 * Reply. A node, or whoever holds its key, may send anything: a reader
 * may refuse it, but what it accepts must keep every promise tmbus.h
 * makes about the views (counts matching arrays, strings readable to
 * their NUL, names from their lists, member ids, one-line reasons), and
 * nothing may crash or leak.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tmbus.h"
#include "wire_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first byte of an input, modulo READERS (make_corpus writes these
 * numbers: keep the order). */
enum reader {
    READ_BOARD,
    READ_BOARD_TWICE,
    READ_REPORT,
    READ_DELIVERY_STATE,
    READ_STATUS,
    READ_ROSTER_HISTORY,
    READ_ROSTER_PUBLISHED,
    READ_AUDIT_PAGE,
    READ_AUDIT_PROOF,
    READ_POSTED,
    READERS
};

static volatile size_t sink;

static void must(bool cond)
{
    if (!cond)
        abort();
}

/* Reads s to its NUL; s must not be NULL. Returns its length. */
static size_t touch(const char *s)
{
    size_t n;

    must(s != NULL);
    n = strlen(s);
    sink += n;
    return n;
}

/* Reads len bytes at p (NULL only when len is 0). */
static void touch_bytes(const uint8_t *p, size_t len)
{
    must(p != NULL || len == 0);
    for (size_t i = 0; i < len; i++)
        sink += p[i];
}

/* Whether s is exactly one of the names name gives for 1, 2, ... */
static bool is_name_of(const char *s, const char *(*name)(int))
{
    const char *n;

    for (int v = 1; (n = name(v)) != NULL; v++)
        if (strcmp(s, n) == 0)
            return true;
    return false;
}

/* "one line": no control character but tab. */
static bool is_one_line(const char *s)
{
    touch(s);
    for (; *s != '\0'; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return false;
    return true;
}

/* A member id: 1..WIRE_MEMBER_ID_MAX of A-Z a-z 0-9 _ -. */
static bool is_member(const char *s)
{
    size_t n = touch(s);

    if (n == 0 || n > WIRE_MEMBER_ID_MAX)
        return false;
    for (; *s != '\0'; s++)
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", *s) == NULL)
            return false;
    return true;
}

static bool is_one_of(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return false;
}

static void check_need(const struct tmbus_need *n)
{
    touch(n->beneficiary);
    touch(n->title);
    touch(n->description);
    touch(n->unit);
    touch(n->deadline);
    touch(n->contact);
}

static void check_offer(const struct tmbus_offer *o)
{
    if (o->need_id != NULL)
        touch_bytes(o->need_id, TMBUS_ID_BYTES);
    touch(o->description);
    touch(o->delivery_date);
    touch(o->conditions);
}

static void check_board(const struct tmbus_board *b)
{
    size_t n = tmbus_board_need_count(b), len;
    const char *next = tmbus_board_next(b);

    for (size_t i = 0; i < n; i++) {
        const struct tmbus_board_need *v = tmbus_board_need_at(b, i);
        must(v != NULL);
        touch_bytes(v->id, TMBUS_ID_BYTES);
        must(is_member(v->owner));
        check_need(&v->need);
        must(is_name_of(v->status, tmbus_need_status_name));
    }
    must(tmbus_board_need_at(b, n) == NULL);
    n = tmbus_board_offer_count(b);
    for (size_t i = 0; i < n; i++) {
        const struct tmbus_board_offer *v = tmbus_board_offer_at(b, i);
        must(v != NULL);
        touch_bytes(v->id, TMBUS_ID_BYTES);
        must(is_member(v->donor));
        check_offer(&v->offer);
        must(is_name_of(v->status, tmbus_offer_status_name));
    }
    must(tmbus_board_offer_at(b, n) == NULL);
    /* A cursor goes back to the node as tmbus_board_query.after. */
    len = touch(next);
    must(len < TMBUS_BOARD_CURSOR_BYTES && len % 2 == 0);
    for (size_t i = 0; i < len; i++)
        must(strchr("0123456789abcdef", next[i]) != NULL);
}

static void check_report(const struct tmbus_report *r)
{
    static const char *const open[] = {"open", "partially_covered"};
    size_t n = tmbus_report_need_count(r);
    const struct tmbus_report_total *t;

    for (size_t i = 0; i < n; i++) {
        const struct tmbus_report_need *v = tmbus_report_need_at(r, i);
        must(v != NULL);
        touch_bytes(v->id, TMBUS_ID_BYTES);
        must(is_member(v->owner));
        touch(v->title);
        touch(v->deadline);
        must(is_one_of(v->status, open, 2));
    }
    must(tmbus_report_need_at(r, n) == NULL);
    must(tmbus_report_need_total(r) >= n);
    for (int by = TMBUS_REPORT_BY_DONOR; by <= TMBUS_REPORT_BY_SECTOR; by++) {
        n = tmbus_report_total_count(r, by);
        for (size_t i = 0; i < n; i++) {
            must((t = tmbus_report_total_at(r, by, i)) != NULL);
            must(by != TMBUS_REPORT_BY_DONOR ? touch(t->key) > 0 : is_member(t->key));
        }
        must(tmbus_report_total_at(r, by, n) == NULL);
    }
    must((t = tmbus_report_overall(r)) != NULL && strcmp(t->key, "total") == 0);
}

static void check_delivery_state(const struct tmbus_delivery_state *s)
{
    static const char *const states[] = {"pending", "delivered", "rejected"};
    size_t n = tmbus_delivery_state_count(s);

    for (size_t i = 0; i < n; i++) {
        const struct tmbus_delivery_entry *e = tmbus_delivery_state_at(s, i);
        must(e != NULL);
        must(is_member(e->member));
        must(is_one_of(e->state, states, 3));
        must(is_one_line(e->reason));
    }
    must(tmbus_delivery_state_at(s, n) == NULL);
}

static void check_status(const struct tmbus_status *s)
{
    static const char *const states[] = {"down", "connecting", "up"};
    const uint8_t *digest = tmbus_status_board_digest(s);
    size_t n = tmbus_status_key_switch_count(s);
    const char *log_peer;
    uint64_t seq;

    must(is_member(tmbus_status_member(s)));
    touch(tmbus_status_version(s));
    sink += tmbus_status_roster_version(s) + tmbus_status_uptime_s(s) +
            tmbus_status_audit_epoch(s) + tmbus_status_retention_pruned(s) +
            tmbus_status_retention_bytes_freed(s) + tmbus_status_envelopes(s) +
            tmbus_status_inbox(s) + tmbus_status_key_switch_id(s) + tmbus_status_store_full(s) +
            tmbus_status_recovering(s);
    if (digest != NULL)
        touch_bytes(digest, TMBUS_ID_BYTES);
    for (size_t i = 0; i < n; i++) {
        log_peer = NULL;
        must(tmbus_status_key_switch_head(s, i, &log_peer, &seq) == TMBUS_OK);
        must(log_peer != NULL && (log_peer[0] == '\0' || is_member(log_peer)));
    }
    must(tmbus_status_key_switch_head(s, n, &log_peer, &seq) == TMBUS_EINVALID);
    n = tmbus_status_counter_count(s);
    for (size_t i = 0; i < n; i++) {
        const struct tmbus_counter *c = tmbus_status_counter_at(s, i);
        must(c != NULL);
        touch(c->name);
    }
    must(tmbus_status_counter_at(s, n) == NULL);
    n = tmbus_status_peer_count(s);
    for (size_t i = 0; i < n; i++) {
        const struct tmbus_peer *p = tmbus_status_peer_at(s, i);
        must(p != NULL);
        must(is_member(p->member));
        must(is_one_of(p->state, states, 3));
    }
    must(tmbus_status_peer_at(s, n) == NULL);
}

static void check_roster_history(const struct tmbus_roster_history *rh)
{
    size_t n = tmbus_roster_history_count(rh);

    for (size_t i = 0; i < n; i++) {
        const struct tmbus_roster_entry *e = tmbus_roster_history_at(rh, i);
        must(e != NULL);
        touch_bytes(e->hash, TMBUS_ID_BYTES);
    }
    must(tmbus_roster_history_at(rh, n) == NULL);
}

static void check_audit_entry(const struct tmbus_audit_entry *e)
{
    touch(e->kind);
    touch(e->outcome);
    touch(e->actor_kind);
    touch(e->actor);
    touch(e->origin);
    touch(e->peer);
    touch(e->detail);
    if (e->has_key)
        touch_bytes(e->key, sizeof(e->key));
    if (e->has_id)
        touch_bytes(e->id, TMBUS_ID_BYTES);
    must(e->entry_len > 0 && e->entry_len <= TMBUS_AUDIT_ENTRY_MAX);
    touch_bytes(e->entry, e->entry_len);
}

static void check_audit_page(const struct tmbus_audit_page *p)
{
    size_t n = tmbus_audit_page_count(p);

    must(n <= TMBUS_AUDIT_PAGE_MAX);
    for (size_t i = 0; i < n; i++) {
        const struct tmbus_audit_entry *e = tmbus_audit_page_at(p, i);
        must(e != NULL);
        check_audit_entry(e);
    }
    must(tmbus_audit_page_at(p, n) == NULL);
}

static void check_audit_proof(const struct tmbus_audit_proof *p, uint64_t index)
{
    check_audit_entry(&p->entry);
    must(p->entry.index == index);
    must(is_member(p->member));
    must(p->n_hashes <= TMBUS_AUDIT_PROOF_MAX);
    sink += p->is_verified;
}

/* The answer to a post in flight under r's id, as tmbus.c hands it to
 * the post queue (result: what r's code maps to, here OK or refused). */
static void read_posted(Tmbus__Api__Reply *r)
{
    struct post_queue q;
    struct tmbus_posted *p;
    uint64_t ticket = r->id;
    int result = r->code == TMBUS__API__CODE__CODE_OK ? TMBUS_OK : TMBUS_EDENIED;
    size_t n;

    post_queue_init(&q);
    must(post_queue_track(&q, ticket, -1) == TMBUS_OK);
    must(post_queue_answer(&q, r, result));
    if ((p = post_queue_take(&q)) != NULL) {
        must(tmbus_posted_ticket(p) == ticket);
        must(is_one_line(tmbus_posted_reason(p)));
        n = tmbus_posted_count(p);
        if (tmbus_posted_result(p) == TMBUS_OK) {
            must(n >= 1 && n <= TMBUS_MAX_RECIPIENTS);
            must(tmbus_posted_reason(p)[0] == '\0');
        } else {
            must(n == 0);
            must(tmbus_posted_reason(p)[0] != '\0');
        }
        for (size_t i = 0; i < n; i++)
            touch_bytes(tmbus_posted_id(p, i), TMBUS_ID_BYTES);
        must(tmbus_posted_id(p, n) == NULL);
        tmbus_posted_free(&p);
    } else {
        must(q.n_flight == 1); /* out of memory: the post stays in flight */
    }
    post_queue_clear(&q);
}

/* The index an audit proof reply claims to prove, so that an honest one
 * is read as the answer to its question. */
static uint64_t proof_index(const Tmbus__Api__Reply *r)
{
    if (r->kind_case == TMBUS__API__REPLY__KIND_AUDIT && r->audit != NULL &&
        r->audit->n_entries > 0)
        return r->audit->entries[0]->index;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Tmbus__Api__Reply *r;

    if (size < 1 || (r = tmbus__api__reply__unpack(NULL, size - 1, data + 1)) == NULL)
        return 0;
    switch (data[0] % READERS) {
    case READ_BOARD:
    case READ_BOARD_TWICE: {
        struct tmbus_board *b = NULL;
        size_t needs, offers;
        int rc = results_read_board(NULL, r, &b);
        if (rc == TMBUS_OK) {
            check_board(b);
            if (data[0] % READERS == READ_BOARD_TWICE) {
                /* The same page again, as the board's next one. */
                needs = tmbus_board_need_count(b);
                offers = tmbus_board_offer_count(b);
                r = tmbus__api__reply__unpack(NULL, size - 1, data + 1);
                must(r != NULL);
                must(results_read_board(NULL, r, &b) == TMBUS_OK);
                must(tmbus_board_need_count(b) == 2 * needs);
                must(tmbus_board_offer_count(b) == 2 * offers);
                check_board(b);
            }
        } else {
            must(rc == TMBUS_EPROTOCOL);
        }
        tmbus_board_free(&b);
        break;
    }
    case READ_REPORT: {
        struct tmbus_report *rep = NULL;
        if (results_read_report(NULL, r, &rep) == TMBUS_OK)
            check_report(rep);
        else
            must(rep == NULL);
        tmbus_report_free(&rep);
        break;
    }
    case READ_DELIVERY_STATE: {
        struct tmbus_delivery_state *s = NULL;
        if (results_read_delivery_state(NULL, r, &s) == TMBUS_OK)
            check_delivery_state(s);
        else
            must(s == NULL);
        tmbus_delivery_state_free(&s);
        break;
    }
    case READ_STATUS: {
        struct tmbus_status *s = NULL;
        if (results_read_status(NULL, r, &s) == TMBUS_OK)
            check_status(s);
        else
            must(s == NULL);
        tmbus_status_free(&s);
        break;
    }
    case READ_ROSTER_HISTORY: {
        struct tmbus_roster_history *rh = NULL;
        if (results_read_roster_history(NULL, r, &rh) == TMBUS_OK)
            check_roster_history(rh);
        else
            must(rh == NULL);
        tmbus_roster_history_free(&rh);
        break;
    }
    case READ_ROSTER_PUBLISHED:
        sink += (size_t)results_read_roster_history(NULL, r, NULL);
        break;
    case READ_AUDIT_PAGE: {
        struct tmbus_audit_page *p = NULL;
        if (audit_read_page(NULL, r, &p) == TMBUS_OK)
            check_audit_page(p);
        else
            must(p == NULL);
        tmbus_audit_page_free(&p);
        break;
    }
    case READ_AUDIT_PROOF: {
        struct tmbus_audit_proof *p = NULL;
        uint64_t index = proof_index(r);
        if (audit_read_proof(NULL, r, index, &p) == TMBUS_OK)
            check_audit_proof(p, index);
        else
            must(p == NULL);
        tmbus_audit_proof_free(&p);
        break;
    }
    case READ_POSTED:
        read_posted(r);
        break;
    }
    return 0;
}
