/*
 * post: libtmbus's typed posts (needs, offers and their updates) and the
 * bookkeeping of pipelined posts: which tickets are in flight on a handle
 * and the outcomes waiting to be taken. A typed post is checked and
 * encoded by payload.c, then posted as tmbus_post or tmbus_post_send does;
 * the encoded payload, which may be TLP:AMBER or RED, is wiped whatever
 * happens. Nothing is sent when a check fails. It never touches the
 * socket: tmbus.c sends and hands it the answers.
 */
#include "tmbus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"
#include "payload.h"

/* ---- posts in flight ------------------------------------------------------ */

#define REASON_MAX 256 /* an outcome's one-line reason */

struct tmbus_posted {
    uint64_t ticket;
    int result;
    char reason[REASON_MAX];
    size_t n_ids;
    uint8_t (*ids)[TMBUS_ID_BYTES];
    struct tmbus_posted *next; /* in the handle's queue */
};

void post_queue_init(struct post_queue *q)
{
    memset(q, 0, sizeof(*q));
    q->window = TMBUS_POST_WINDOW_DEFAULT;
}

void post_queue_clear(struct post_queue *q)
{
    struct tmbus_posted *p;

    while ((p = post_queue_take(q)) != NULL)
        tmbus_posted_free(&p);
    free(q->flight);
    q->flight = NULL;
    q->n_flight = q->cap_flight = 0;
}

bool post_queue_is_full(const struct post_queue *q)
{
    return q->n_flight >= q->window;
}

int post_queue_track(struct post_queue *q, uint64_t ticket, int64_t deadline_ms)
{
    if (q->n_flight == q->cap_flight) {
        size_t cap = q->cap_flight ? 2 * q->cap_flight : 16;
        struct post_flight *f = realloc(q->flight, cap * sizeof(*f));
        if (f == NULL)
            return TMBUS_ENOMEM;
        q->flight = f;
        q->cap_flight = cap;
    }
    q->flight[q->n_flight++] = (struct post_flight){ticket, deadline_ms};
    return TMBUS_OK;
}

/* Queues an outcome to be taken. */
static void push(struct post_queue *q, struct tmbus_posted *p)
{
    if (q->tail != NULL)
        q->tail->next = p;
    else
        q->head = p;
    q->tail = p;
}

/* Removes flight entry i, keeping the order of the rest (the oldest
 * first, so that expiry and answers in order stay cheap). */
static void drop_flight(struct post_queue *q, size_t i)
{
    memmove(&q->flight[i], &q->flight[i + 1], (q->n_flight - i - 1) * sizeof(*q->flight));
    q->n_flight--;
}

/* A new outcome for ticket, or NULL when out of memory. */
static struct tmbus_posted *outcome(uint64_t ticket, int result, const char *reason)
{
    struct tmbus_posted *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->ticket = ticket;
    p->result = result;
    if (reason != NULL)
        snprintf(p->reason, sizeof(p->reason), "%s", reason);
    return p;
}

bool post_queue_answer(struct post_queue *q, Tmbus__Api__Reply *r, int result)
{
    const Tmbus__Api__Receipt *rc = NULL;
    struct tmbus_posted *p;
    size_t i;

    for (i = 0; i < q->n_flight && q->flight[i].ticket != r->id; i++)
        ;
    if (i == q->n_flight)
        return false;
    if (result == TMBUS_OK) {
        rc = r->kind_case == TMBUS__API__REPLY__KIND_RECEIPT ? r->receipt : NULL;
        for (size_t k = 0; rc != NULL && k < rc->n_placed; k++)
            if (rc->placed[k]->id.len != TMBUS_ID_BYTES)
                rc = NULL;
        if (rc == NULL || rc->n_placed == 0 || rc->n_placed > TMBUS_MAX_RECIPIENTS) {
            result = TMBUS_EPROTOCOL;
            rc = NULL;
        }
    }
    /* Out of memory the answer is left where it is: the post stays in
     * flight and times out, as if the answer had been lost. */
    if ((p = outcome(r->id, result,
                     result == TMBUS_OK ? ""
                     : result == TMBUS_EPROTOCOL
                         ? "the node answered a post without a receipt"
                         : client_reply_reason(r, "refused by the node"))) == NULL)
        goto out;
    if (rc != NULL) {
        if ((p->ids = calloc(rc->n_placed, TMBUS_ID_BYTES)) == NULL) {
            tmbus_posted_free(&p);
            goto out;
        }
        for (size_t k = 0; k < rc->n_placed; k++)
            memcpy(p->ids[k], rc->placed[k]->id.data, TMBUS_ID_BYTES);
        p->n_ids = rc->n_placed;
    }
    push(q, p);
    drop_flight(q, i);
out:
    tmbus__api__reply__free_unpacked(r, NULL);
    return true;
}

void post_queue_fail_all(struct post_queue *q, int err, const char *reason)
{
    size_t kept = 0;

    for (size_t i = 0; i < q->n_flight; i++) {
        struct tmbus_posted *p = outcome(q->flight[i].ticket, err, reason);
        if (p != NULL)
            push(q, p);
        else
            q->flight[kept++] = q->flight[i]; /* retried at the next failure or expiry */
    }
    q->n_flight = kept;
}

int64_t post_queue_expire(struct post_queue *q, int64_t now_ms)
{
    int64_t next = -1;

    for (size_t i = 0; i < q->n_flight;) {
        const struct post_flight *f = &q->flight[i];
        struct tmbus_posted *p;

        if (f->deadline_ms < 0 || f->deadline_ms > now_ms) {
            if (f->deadline_ms >= 0 && (next < 0 || f->deadline_ms < next))
                next = f->deadline_ms;
            i++;
            continue;
        }
        if ((p = outcome(f->ticket, TMBUS_ETIMEOUT,
                         "no answer from the node in time (the post may have been committed)")) ==
            NULL) {
            i++;
            continue;
        }
        push(q, p);
        drop_flight(q, i);
    }
    return next;
}

struct tmbus_posted *post_queue_take(struct post_queue *q)
{
    struct tmbus_posted *p = q->head;

    if (p == NULL)
        return NULL;
    q->head = p->next;
    if (q->head == NULL)
        q->tail = NULL;
    p->next = NULL;
    return p;
}

/* ---- outcomes ------------------------------------------------------------- */

uint64_t tmbus_posted_ticket(const struct tmbus_posted *p)
{
    return p != NULL ? p->ticket : 0;
}

int tmbus_posted_result(const struct tmbus_posted *p)
{
    return p != NULL ? p->result : TMBUS_EINVALID;
}

const char *tmbus_posted_reason(const struct tmbus_posted *p)
{
    return p != NULL ? p->reason : "";
}

size_t tmbus_posted_count(const struct tmbus_posted *p)
{
    return p != NULL ? p->n_ids : 0;
}

const uint8_t *tmbus_posted_id(const struct tmbus_posted *p, size_t i)
{
    return p != NULL && i < p->n_ids ? p->ids[i] : NULL;
}

void tmbus_posted_free(struct tmbus_posted **pp)
{
    if (pp == NULL || *pp == NULL)
        return;
    free((*pp)->ids);
    free(*pp);
    *pp = NULL;
}

/* ---- needs, offers and updates ----------------------------------------- */

/* Posts an encoded payload (rc from its encoder, reason in why) and wipes
 * and frees it whatever happens. */
static int post_encoded(struct tmbus *h, int rc, const char *why, uint8_t *buf, size_t len,
                        const char *const *recipients, size_t n_recipients, bool all,
                        int timeout_ms, uint8_t *out_id)
{
    if (rc == TMBUS_OK)
        rc = tmbus_post(h, buf, len, recipients, n_recipients, all, 0, timeout_ms, out_id);
    else
        client_fail(h, rc, "%s", why);
    if (buf != NULL) {
        sodium_memzero(buf, len);
        free(buf);
    }
    return rc;
}

/* TLP:RED goes to named recipients only: say so before the node does. */
static int check_red(struct tmbus *h, int tlp, bool all)
{
    if (tlp == TMBUS_TLP_RED && all)
        return client_fail(h, TMBUS_EINVALID,
                           "a TLP:RED post must name its recipients, not go to all");
    return TMBUS_OK;
}

/* Encodes a need for posting, after the client-side checks: TMBUS_OK with
 * *buf (the caller's to free), or an error with its reason in why. */
static int encode_need(struct tmbus *h, const struct tmbus_need *need, bool all, uint8_t **buf,
                       size_t *len, char *why, size_t why_len)
{
    int rc;

    client_clear_error(h);
    rc = payload_encode_need(need, buf, len, why, why_len);
    if (rc == TMBUS_OK && (rc = check_red(h, need->tlp, all)) != TMBUS_OK)
        snprintf(why, why_len, "%s", tmbus_last_error(h));
    return rc;
}

int tmbus_post_need(struct tmbus *h, const struct tmbus_need *need, const char *const *recipients,
                    size_t n_recipients, bool all, int timeout_ms, uint8_t out_id[TMBUS_ID_BYTES])
{
    char why[TMBUS_VALIDATE_ERROR_MAX] = "";
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    rc = encode_need(h, need, all, &buf, &len, why, sizeof(why));
    return post_encoded(h, rc, why, buf, len, recipients, n_recipients, all, timeout_ms, out_id);
}

int tmbus_post_need_send(struct tmbus *h, const struct tmbus_need *need,
                         const char *const *recipients, size_t n_recipients, bool all, int flags,
                         int timeout_ms, uint64_t *ticket)
{
    char why[TMBUS_VALIDATE_ERROR_MAX] = "";
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    rc = encode_need(h, need, all, &buf, &len, why, sizeof(why));
    if (rc == TMBUS_OK)
        rc = tmbus_post_send(h, buf, len, recipients, n_recipients, all, 0, flags, timeout_ms,
                             ticket);
    else
        client_fail(h, rc, "%s", why);
    if (buf != NULL) {
        sodium_memzero(buf, len);
        free(buf);
    }
    return rc;
}

int tmbus_post_offer(struct tmbus *h, const struct tmbus_offer *offer,
                     const char *const *recipients, size_t n_recipients, bool all, int timeout_ms,
                     uint8_t out_id[TMBUS_ID_BYTES])
{
    char why[TMBUS_VALIDATE_ERROR_MAX] = "";
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    client_clear_error(h);
    rc = payload_encode_offer(offer, &buf, &len, why, sizeof(why));
    if (rc == TMBUS_OK && (rc = check_red(h, offer->tlp, all)) != TMBUS_OK)
        snprintf(why, sizeof(why), "%s", tmbus_last_error(h));
    return post_encoded(h, rc, why, buf, len, recipients, n_recipients, all, timeout_ms, out_id);
}

int tmbus_need_update(struct tmbus *h, const uint8_t need_id[TMBUS_ID_BYTES], int action,
                      const struct tmbus_need *edit, const char *reason,
                      const char *const *recipients, size_t n_recipients, bool all, int timeout_ms,
                      uint8_t out_id[TMBUS_ID_BYTES])
{
    char why[TMBUS_VALIDATE_ERROR_MAX] = "";
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    client_clear_error(h);
    rc = payload_encode_need_update(need_id, action, edit, reason, &buf, &len, why, sizeof(why));
    if (rc == TMBUS_OK && edit != NULL && (rc = check_red(h, edit->tlp, all)) != TMBUS_OK)
        snprintf(why, sizeof(why), "%s", tmbus_last_error(h));
    return post_encoded(h, rc, why, buf, len, recipients, n_recipients, all, timeout_ms, out_id);
}

int tmbus_offer_update(struct tmbus *h, const uint8_t offer_id[TMBUS_ID_BYTES], int action,
                       const char *reason, const char *const *recipients, size_t n_recipients,
                       bool all, int timeout_ms, uint8_t out_id[TMBUS_ID_BYTES])
{
    char why[TMBUS_VALIDATE_ERROR_MAX] = "";
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    client_clear_error(h);
    rc = payload_encode_offer_update(offer_id, action, reason, &buf, &len, why, sizeof(why));
    return post_encoded(h, rc, why, buf, len, recipients, n_recipients, all, timeout_ms, out_id);
}
