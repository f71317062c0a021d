/*
 * post: libtmbus's typed posts: needs, offers and their updates. Each is
 * checked and encoded by payload.c, then posted as tmbus_post does; the
 * encoded payload, which may be TLP:AMBER or RED, is wiped whatever
 * happens. Nothing is sent when a check fails.
 */
#include "tmbus.h"

#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "internal.h"
#include "payload.h"

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

int tmbus_post_need(struct tmbus *h, const struct tmbus_need *need, const char *const *recipients,
                    size_t n_recipients, bool all, int timeout_ms, uint8_t out_id[TMBUS_ID_BYTES])
{
    char why[TMBUS_VALIDATE_ERROR_MAX] = "";
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (h == NULL)
        return TMBUS_EINVALID;
    client_clear_error(h);
    rc = payload_encode_need(need, &buf, &len, why, sizeof(why));
    if (rc == TMBUS_OK && (rc = check_red(h, need->tlp, all)) != TMBUS_OK)
        snprintf(why, sizeof(why), "%s", tmbus_last_error(h));
    return post_encoded(h, rc, why, buf, len, recipients, n_recipients, all, timeout_ms, out_id);
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
