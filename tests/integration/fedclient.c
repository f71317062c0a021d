/*
 * fedclient: see fedclient.h. Everything goes through libtmbus; payloads
 * are built and read with the generated protobuf-c code, as a member's
 * program would. Test code only.
 */
#include "fedclient.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "payload.pb-c.h"

struct tmbus *fc_connect(struct fed *f, size_t i)
{
    struct tmbus *h = NULL;
    char err[256] = "";
    int rc;

    rc =
        tmbus_connect_files(fed_client_endpoint(f, i), fed_member_pub_path(f, i),
                            fed_client_key_path(f, i), fed_ms(FC_CONNECT_MS), &h, err, sizeof(err));
    if (rc != TMBUS_OK) {
        fprintf(stderr, "fedclient: %s cannot connect to node %s: %s (%s)\n", fed_client_name(f, i),
                fed_id(f, i), tmbus_strerror(rc), err);
        return NULL;
    }
    return h;
}

void fc_tag(char *out, size_t size, const char *prefix)
{
    uint8_t r[6];
    char hex[2 * sizeof(r) + 1];

    randombytes_buf(r, sizeof(r));
    sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
    snprintf(out, size, "%s-%s", prefix, hex);
}

size_t fc_need(uint8_t *buf, size_t size, enum fc_tlp tlp, const char *tag, uint32_t index)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Need need = TMBUS__PAYLOAD__NEED__INIT;
    char title[FC_TAG_MAX + 16];
    size_t len;

    snprintf(title, sizeof(title), "%s #%" PRIu32, tag, index);
    need.beneficiary = "Regional energy operator (test)";
    need.sector = TMBUS__PAYLOAD__SECTOR__SECTOR_ENERGY;
    need.category = TMBUS__PAYLOAD__CATEGORY__CATEGORY_SOFTWARE_LICENCES;
    need.title = title;
    need.description = "Integration test need.";
    need.quantity = 1 + index % 50;
    need.unit = "licences";
    need.value_cents = 100000;
    need.priority = TMBUS__PAYLOAD__PRIORITY__PRIORITY_MEDIUM;
    need.tlp = (Tmbus__Payload__Tlp)tlp;
    need.contact = "duty desk";
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &need;
    len = tmbus__payload__payload__get_packed_size(&p);
    if (len > size)
        return 0;
    tmbus__payload__payload__pack(&p, buf);
    return len;
}

int fc_post(struct tmbus *h, enum fc_tlp tlp, const char *tag, uint32_t index,
            const char *const *recipients, size_t n, uint8_t id[TMBUS_ID_BYTES])
{
    uint8_t buf[FC_PAYLOAD_MAX];
    size_t len = fc_need(buf, sizeof(buf), tlp, tag, index);

    if (len == 0)
        return TMBUS_EINVALID;
    return tmbus_post(h, buf, len, recipients, n, n == 0, 0, fed_ms(FC_CALL_MS), id);
}

int fc_counter(struct tmbus *h, const char *name, uint64_t *value)
{
    struct tmbus_status *s = NULL;
    int rc;

    *value = 0;
    if ((rc = tmbus_status(h, fed_ms(FC_CALL_MS), &s)) != TMBUS_OK)
        return rc;
    for (size_t i = 0; i < tmbus_status_counter_count(s) && rc == TMBUS_OK; i++) {
        const struct tmbus_counter *c = tmbus_status_counter_at(s, i);

        /* A listed counter that cannot be read is a broken status. */
        if (c == NULL)
            rc = TMBUS_EPROTOCOL;
        else if (strcmp(c->name, name) == 0)
            *value = c->value;
    }
    tmbus_status_free(&s);
    if (rc != TMBUS_OK)
        *value = 0;
    return rc;
}

int fc_envelopes(struct tmbus *h, uint64_t *n)
{
    struct tmbus_status *s = NULL;
    int rc;

    *n = 0;
    if ((rc = tmbus_status(h, fed_ms(FC_CALL_MS), &s)) != TMBUS_OK)
        return rc;
    *n = tmbus_status_envelopes(s);
    tmbus_status_free(&s);
    return TMBUS_OK;
}

int fc_post_receipt(struct tmbus *h, const uint8_t *id, const char *to)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Receipt r = TMBUS__PAYLOAD__RECEIPT__INIT;
    Tmbus__Payload__Receipt__Entry e = TMBUS__PAYLOAD__RECEIPT__ENTRY__INIT, *ep = &e;
    const char *const rcpt[] = {to};
    uint8_t buf[128];
    size_t len;

    e.envelope_id.data = (uint8_t *)(uintptr_t)id;
    e.envelope_id.len = TMBUS_ID_BYTES;
    e.state = TMBUS__PAYLOAD__RECEIPT__STATE__STATE_DELIVERED;
    r.entries = &ep;
    r.n_entries = 1;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_RECEIPT;
    p.receipt = &r;
    len = tmbus__payload__payload__get_packed_size(&p);
    if (len > sizeof(buf))
        return TMBUS_EINVALID;
    tmbus__payload__payload__pack(&p, buf);
    return tmbus_post(h, buf, len, rcpt, 1, false, 0, fed_ms(FC_CALL_MS), NULL);
}

void fc_inbox_init(struct fc_inbox *in, const char *tag)
{
    memset(in, 0, sizeof(*in));
    snprintf(in->tag, sizeof(in->tag), "%s", tag);
}

void fc_inbox_free(struct fc_inbox *in)
{
    free(in->got);
    memset(in, 0, sizeof(*in));
}

/* Reads "TAG #N" out of a delivered need; false for anything else. */
static bool tagged_index(const struct fc_inbox *in, const uint8_t *payload, size_t len,
                         uint32_t *index)
{
    Tmbus__Payload__Payload *p = tmbus__payload__payload__unpack(NULL, len, payload);
    size_t tag_len = strlen(in->tag);
    bool ok = false;

    if (p == NULL)
        return false;
    if (p->kind_case == TMBUS__PAYLOAD__PAYLOAD__KIND_NEED &&
        strncmp(p->need->title, in->tag, tag_len) == 0 &&
        strncmp(p->need->title + tag_len, " #", 2) == 0) {
        char *end;
        unsigned long v = strtoul(p->need->title + tag_len + 2, &end, 10);
        if (*end == '\0' && v <= UINT32_MAX) {
            *index = (uint32_t)v;
            ok = true;
        }
    }
    tmbus__payload__payload__free_unpacked(p, NULL);
    return ok;
}

static void remember(struct fc_inbox *in, const struct tmbus_delivery *d)
{
    struct fc_got *g;
    const uint8_t *payload;
    size_t len;

    if (in->n == in->cap) {
        size_t cap = in->cap ? 2 * in->cap : 256;
        struct fc_got *grown = realloc(in->got, cap * sizeof(*grown));
        if (grown == NULL)
            abort();
        in->got = grown;
        in->cap = cap;
    }
    g = &in->got[in->n++];
    memset(g, 0, sizeof(*g));
    g->number = tmbus_delivery_number(d);
    snprintf(g->sender, sizeof(g->sender), "%s", tmbus_delivery_sender(d));
    snprintf(g->log_peer, sizeof(g->log_peer), "%s", tmbus_delivery_log_peer(d));
    g->seq = tmbus_delivery_seq(d);
    memcpy(g->id, tmbus_delivery_id(d), TMBUS_ID_BYTES);
    payload = tmbus_delivery_payload(d, &len);
    g->is_tagged = tagged_index(in, payload, len, &g->index);
    if (g->is_tagged)
        in->n_tagged++;
}

static int ack_to(struct tmbus *h, struct fc_inbox *in, uint64_t number)
{
    int rc;

    if (number <= in->acked)
        return TMBUS_OK;
    if ((rc = tmbus_ack(h, number, fed_ms(FC_CALL_MS))) != TMBUS_OK) {
        fprintf(stderr, "fedclient: ack of %" PRIu64 " failed: %s (%s)\n", number,
                tmbus_strerror(rc), tmbus_last_error(h));
        return rc;
    }
    in->acked = number;
    return TMBUS_OK;
}

size_t fc_receive(struct tmbus *h, struct fc_inbox *in, size_t want, int idle_ms,
                  unsigned ack_every)
{
    int64_t idle_until = fed_now_ms() + idle_ms;
    unsigned since_ack = 0;

    while (in->n_tagged < want && fed_now_ms() < idle_until) {
        struct tmbus_delivery *d = NULL;
        int rc = tmbus_next(h, 100, &d);

        if (rc == TMBUS_ETIMEOUT)
            continue;
        if (rc != TMBUS_OK) {
            /* The node may be restarting: the library resubscribes on
             * its own the next time we wait. */
            fed_sleep_ms(50);
            continue;
        }
        remember(in, d);
        tmbus_delivery_free(&d);
        idle_until = fed_now_ms() + idle_ms;
        if (ack_every > 0 && ++since_ack >= ack_every) {
            if (ack_to(h, in, in->got[in->n - 1].number) == TMBUS_OK)
                since_ack = 0;
        }
    }
    if (ack_every > 0 && in->n > 0)
        ack_to(h, in, in->got[in->n - 1].number);
    return in->n_tagged;
}

size_t fc_expect_quiet(struct tmbus *h, struct fc_inbox *in, int quiet_ms)
{
    int64_t until = fed_now_ms() + quiet_ms;
    size_t before = in->n;

    while (fed_now_ms() < until) {
        struct tmbus_delivery *d = NULL;
        if (tmbus_next(h, 50, &d) == TMBUS_OK) {
            remember(in, d);
            tmbus_delivery_free(&d);
        }
    }
    return in->n - before;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, TMBUS_ID_BYTES);
}

/* Per (sender, log) the last seq seen, for fc_check_order. */
struct last_seq {
    char sender[TMBUS_MEMBER_MAX + 1];
    char log_peer[TMBUS_MEMBER_MAX + 1];
    uint64_t seq;
};

int fc_check_order(const struct fc_inbox *in)
{
    struct last_seq logs[64];
    size_t n_logs = 0;
    uint8_t(*ids)[TMBUS_ID_BYTES];
    int rc = 0;

    for (size_t i = 0; i < in->n; i++) {
        const struct fc_got *g = &in->got[i];
        size_t k;

        if (i > 0 && in->got[i - 1].number >= g->number) {
            fprintf(stderr, "fedclient: delivery number %" PRIu64 " after %" PRIu64 "\n", g->number,
                    in->got[i - 1].number);
            return -1;
        }
        for (k = 0; k < n_logs; k++)
            if (strcmp(logs[k].sender, g->sender) == 0 &&
                strcmp(logs[k].log_peer, g->log_peer) == 0)
                break;
        if (k == n_logs) {
            if (n_logs == sizeof(logs) / sizeof(logs[0]))
                return -1;
            memset(&logs[k], 0, sizeof(logs[k]));
            strcpy(logs[k].sender, g->sender);
            strcpy(logs[k].log_peer, g->log_peer);
            n_logs++;
        } else if (logs[k].seq >= g->seq) {
            fprintf(stderr, "fedclient: %s/%s seq %" PRIu64 " delivered after seq %" PRIu64 "\n",
                    g->sender, g->log_peer, g->seq, logs[k].seq);
            return -1;
        }
        logs[k].seq = g->seq;
    }
    if (in->n == 0)
        return 0;
    if ((ids = malloc(in->n * TMBUS_ID_BYTES)) == NULL)
        abort();
    for (size_t i = 0; i < in->n; i++)
        memcpy(ids[i], in->got[i].id, TMBUS_ID_BYTES);
    qsort(ids, in->n, TMBUS_ID_BYTES, cmp_id);
    for (size_t i = 1; i < in->n && rc == 0; i++)
        if (memcmp(ids[i - 1], ids[i], TMBUS_ID_BYTES) == 0) {
            fprintf(stderr, "fedclient: one envelope delivered twice\n");
            rc = -1;
        }
    free(ids);
    return rc;
}

const struct fc_got *fc_find_index(const struct fc_inbox *in, uint32_t index)
{
    for (size_t i = 0; i < in->n; i++)
        if (in->got[i].is_tagged && in->got[i].index == index)
            return &in->got[i];
    return NULL;
}
