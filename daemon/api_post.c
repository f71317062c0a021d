/*
 * api_post: the policy a client's post passes before it is sealed: the
 * client's role and clearance, the payload's view (decoded once here and
 * handed on to the board and the route), the member's roster role, the
 * recipients, the TLP rule and the board's rules. It seals through the
 * route and answers only after the node's commit; it never reads a socket.
 * Only a node writes receipts: a client's Receipt payload is refused here,
 * whatever the client's role, so no client can pre-empt its node's word.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "board.h"
#include "log.h"
#include "message.h"
#include "store.h"
#include "validate.h"

static int64_t now_unix(void)
{
    return (int64_t)time(NULL);
}

/* The reason for a refused recipient list, naming the first recipient at
 * fault so that a typo in a long list is found at once. The rule checks
 * names in order, so the shortest prefix of the list that fails ends with
 * that name; a name that is not a member id is counted, not echoed. */
static const char *recipients_reason(struct api *a, const Tmbus__Api__Post *post,
                                     enum route_recipients fault, char *buf, size_t size)
{
    const char *const *names = (const char *const *)post->recipients;
    size_t i = 0;

    while (i < post->n_recipients &&
           route_check_recipients(a->route, names, i + 1) == ROUTE_RECIPIENTS_OK)
        i++;
    if (i == post->n_recipients)
        return route_recipients_reason(fault);
    if (fault == ROUTE_RECIPIENTS_BAD_ID)
        snprintf(buf, size, "%s (recipient %zu)", route_recipients_reason(fault), i + 1);
    else
        snprintf(buf, size, "%s: %s", route_recipients_reason(fault), names[i]);
    return buf;
}

/* Collects the post's recipients into names[]: every roster member for
 * `all`, else the named ones, checked. Returns 0, or -1 after rejecting. */
static int post_recipients(struct api *a, const struct request *rq, const Tmbus__Api__Post *post,
                           const char **names, size_t *n)
{
    const struct roster *r = route_roster(a->route);
    enum route_recipients fault;
    struct roster_member m;
    char why[128];

    *n = 0;
    if (post->all) {
        if (roster_member_count(r) > ENVELOPE_MAX_RECIPIENTS) {
            api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.too-many-recipients",
                       "the roster has more members than one post can address");
            return -1;
        }
        for (size_t i = 0; i < roster_member_count(r); i++) {
            roster_member_at(r, i, &m);
            names[(*n)++] = m.id;
        }
        return 0;
    }
    if (post->n_recipients == 0) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.no-recipients",
                   "name at least one recipient, or set all");
        return -1;
    }
    if (post->n_recipients > ENVELOPE_MAX_RECIPIENTS) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.too-many-recipients",
                   "at most 128 recipients");
        return -1;
    }
    fault =
        route_check_recipients(a->route, (const char *const *)post->recipients, post->n_recipients);
    switch (fault) {
    case ROUTE_RECIPIENTS_OK:
        break;
    case ROUTE_RECIPIENTS_UNKNOWN:
        api_reject(a, rq, TMBUS__API__CODE__CODE_NOT_FOUND, "api.rejected.unknown-recipient",
                   recipients_reason(a, post, fault, why, sizeof(why)));
        return -1;
    case ROUTE_RECIPIENTS_TWICE:
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.duplicate-recipient",
                   recipients_reason(a, post, fault, why, sizeof(why)));
        return -1;
    default:
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.bad-recipient",
                   recipients_reason(a, post, fault, why, sizeof(why)));
        return -1;
    }
    /* The roster's own strings: they outlive the request. */
    for (size_t i = 0; i < post->n_recipients; i++) {
        ensure(roster_find(r, post->recipients[i], &m) == 0);
        names[(*n)++] = m.id;
    }
    return 0;
}

/* The role rule (message_role_allows) applied to this member's own roster
 * role. Returns true, or false after rejecting. */
static bool member_may_post(struct api *a, const struct request *rq, const struct message *msg)
{
    struct roster_member self;
    const char *why;

    if (roster_find(route_roster(a->route), a->cfg->member, &self) == -1) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.member-role",
                   "this member is no longer in the roster");
        return false;
    }
    if (!message_role_allows(msg->kind, (int)self.role, &why)) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.member-role", why);
        return false;
    }
    return true;
}

/* The board's rules, before anything is sealed. Returns true, or false
 * after rejecting with the board's reason. */
static bool board_allows(struct api *a, const struct request *rq, const struct message *msg)
{
    char why[VALIDATE_WHY_MAX];

    switch (
        board_check_post(a->store, a->cfg->member, rq->client->clearance, msg, why, sizeof(why))) {
    case BOARD_CHECK_OK:
        return true;
    case BOARD_CHECK_INVALID:
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.board-invalid", why);
        return false;
    case BOARD_CHECK_NOT_FOUND:
        api_reject(a, rq, TMBUS__API__CODE__CODE_NOT_FOUND, "api.rejected.board-not-found", why);
        return false;
    case BOARD_CHECK_DENIED:
        api_reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.board-denied", why);
        return false;
    default:
        api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal", why);
        return false;
    }
}

/* An update about a TLP:RED need or offer goes to exactly the member at the
 * other end of the direct log the original travelled in. */
static bool red_recipients_match(struct api *a, const struct board_referent *ref,
                                 const char *const *names, size_t n)
{
    const char *other = strcmp(ref->origin, a->cfg->member) == 0 ? ref->peer : ref->origin;

    if (strcmp(ref->origin, a->cfg->member) != 0 && strcmp(ref->peer, a->cfg->member) != 0)
        return false;
    return n == 1 && strcmp(names[0], other) == 0;
}

void api_on_post(struct api *a, const struct request *rq, const Tmbus__Api__Post *post)
{
    struct board_referent ref;
    const char *names[ROSTER_MAX_MEMBERS];
    struct route_placed *placed = NULL;
    struct pending *pd;
    struct message msg = {0};
    const char *reason = NULL;
    size_t n = 0, n_placed = 0;
    bool is_direct;
    int tlp;

    if (!api_client_may_post(rq->client)) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.role",
                   "this client's role may not post");
        goto out;
    }
    /* Nothing can be committed until the node's disk has room again (the
     * node tries on a timer): refused at once, not sealed to fail. */
    if (store_is_full(a->store)) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.store-full",
                   API_STORE_FULL);
        goto out;
    }
    /* A post now could take a seq of our own log that a peer holds from
     * before this node's data was lost: it would fork the log. */
    if (route_is_recovering(a->route)) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_UNAVAILABLE, "api.rejected.recovering",
                   ROUTE_RECOVERING_REASON);
        goto out;
    }
    if (post->payload.len == 0 || post->payload.len > ENVELOPE_MAX_PAYLOAD) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.payload-size",
                   "the payload must be 1 byte to 504 KiB");
        goto out;
    }
    /* The one decoding of this payload: every check below, the board and
     * the route read the view. */
    if (message_decode(post->payload.data, post->payload.len, &msg) == -1 ||
        msg.kind == MESSAGE_NONE) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.bad-payload",
                   "the payload is not a tmbus.payload.Payload");
        goto out;
    }
    /* A receipt is the node's own word about what it received; a client's
     * would reach the poster's node before (or instead of) the real one. */
    if (msg.kind == MESSAGE_RECEIPT) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.receipt",
                   "only a node writes receipts");
        goto out;
    }
    /* A need share is the owner's node's, written when a member is
     * admitted (admission.c); a client posts the need itself. */
    if (msg.kind == MESSAGE_NEED_SHARE) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.need-share",
                   "only a node shares needs with a new member");
        goto out;
    }
    if (msg.has_unknown) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.unknown-field",
                   "the payload has fields this node does not know");
        goto out;
    }
    if (post->expires_at < 0 || (post->expires_at != 0 && post->expires_at <= now_unix())) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.expired",
                   "expires_at is in the past");
        goto out;
    }
    if (!member_may_post(a, rq, &msg))
        goto out;
    if (post_recipients(a, rq, post, names, &n) == -1)
        goto out;
    tlp = message_tlp(&msg, route_roster(a->route), names, n, false);
    if (tlp == 0) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.no-tlp",
                   "a need or offer must carry a TLP label");
        goto out;
    }
    if (tlp < 0) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.bad-tlp",
                   "unknown TLP label");
        goto out;
    }
    /* The board first: a client acts only on what it may see, and a hidden
     * referent answers as a missing one, before any rule below could tell
     * them apart. */
    if (!board_allows(a, rq, &msg))
        goto out;
    /* A message about a need or an offer is handled under the higher of its
     * own label and its referent's (proto/PROTOCOL.md §6.5). */
    if (board_referent_of(a->store, &msg, &ref) != 0) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
                   "the node's store failed");
        goto out;
    }
    if ((int)ref.tlp > tlp)
        tlp = (int)ref.tlp;
    /* TLP:RED goes to named members only, one direct envelope each. */
    is_direct = tlp == MESSAGE_TLP_RED;
    if (is_direct && post->all) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.red-to-all",
                   "TLP:RED must name its recipients");
        goto out;
    }
    if (is_direct && route_check_direct(a->route, names, n) != ROUTE_RECIPIENTS_OK) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.red-to-self",
                   route_recipients_reason(ROUTE_RECIPIENTS_RED_TO_SELF));
        goto out;
    }
    if (ref.is_red && !red_recipients_match(a, &ref, names, n)) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INVALID, "api.rejected.red-recipients",
                   "an update about a TLP:RED need or offer goes only to the other member "
                   "of the direct log its original travelled in");
        goto out;
    }
    if (tlp > (int)rq->client->clearance) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_DENIED, "api.rejected.clearance",
                   "the post's TLP is above this client's clearance");
        goto out;
    }
    placed = calloc(ENVELOPE_MAX_RECIPIENTS, sizeof(*placed));
    ensure(placed != NULL);
    if (route_batch(a->route) == -1 ||
        route_post(a->route, &msg, names, n, is_direct, post->expires_at, placed, &n_placed,
                   &reason) == -1) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
                   reason ? reason : "the node's store failed");
        goto out;
    }
    /* Who posted it: its delivery state (who it went to) is told to this
     * client and to admin clients only (api_on_delivery). */
    if (store_post_client_set(a->store, placed[0].id, rq->client->name) == -1) {
        api_reject(a, rq, TMBUS__API__CODE__CODE_INTERNAL, "api.rejected.internal",
                   "the node's store failed");
        goto out;
    }
    api_note(a, rq, AUDIT_OK, placed[0].id, placed[0].seq, NULL);
    pd = api_add_pending(a, PENDING_POST, rq);
    pd->placed = placed;
    pd->n_placed = n_placed;
    placed = NULL;
out:
    free(placed);
    message_clear(&msg);
}
