/*
 * feed: a ring of the last FEED_KEEP deliveries as display lines. Text
 * from the bus is copied with its control characters replaced by spaces,
 * so that a line can neither break an SSE record ("data:" ends at a line
 * break) nor reach a terminal; HTML escaping is left to whoever renders
 * it (html_text, or the script's textContent).
 */
#include <stdio.h>
#include <string.h>

#include "feed.h"

void feed_init(struct feed *f)
{
    memset(f, 0, sizeof(*f));
    f->next_seq = 1;
}

/* Copies src into dst (size bytes with the NUL), control characters as
 * spaces; a cut never splits a UTF-8 sequence. */
static void copy_line(char *dst, size_t size, const char *src)
{
    size_t n = 0;

    for (; src != NULL && *src != '\0' && n + 1 < size; src++) {
        unsigned char c = (unsigned char)*src;
        dst[n++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    dst[n] = '\0';
    if (src != NULL && *src != '\0')
        while (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0x80)
            dst[--n] = '\0';
    if (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0xc0)
        dst[--n] = '\0';
}

void feed_add(struct feed *f, const struct tmbus_delivery *d)
{
    struct feed_event *e = &f->ring[f->next_seq % FEED_KEEP];
    const char *kind = tmbus_delivery_kind(d);
    const struct tmbus_need *need = tmbus_delivery_need(d);
    const struct tmbus_offer *offer = tmbus_delivery_offer(d);
    const struct tmbus_need_change *nc = tmbus_delivery_need_update(d);
    const struct tmbus_offer_change *oc = tmbus_delivery_offer_update(d);
    char text[FEED_LINE_MAX];

    memset(e, 0, sizeof(*e));
    e->seq = f->next_seq++;
    e->at = tmbus_delivery_created_at(d);
    copy_line(e->kind, sizeof(e->kind), kind != NULL ? kind : "unknown");
    copy_line(e->sender, sizeof(e->sender), tmbus_delivery_sender(d));
    tmbus_id_to_hex(tmbus_delivery_id(d), e->id_hex);
    if (need != NULL)
        snprintf(text, sizeof(text), "need \"%s\" (%s)", need->title,
                 tmbus_priority_name(need->priority) ? tmbus_priority_name(need->priority) : "?");
    else if (offer != NULL)
        snprintf(
            text, sizeof(text), "offer of %llu, EUR %llu.%02u", (unsigned long long)offer->quantity,
            (unsigned long long)(offer->value_cents / 100), (unsigned)(offer->value_cents % 100));
    else if (nc != NULL)
        snprintf(text, sizeof(text), "need update: %s",
                 tmbus_need_action_name(nc->action) ? tmbus_need_action_name(nc->action) : "?");
    else if (oc != NULL)
        snprintf(text, sizeof(text), "offer update: %s",
                 tmbus_offer_action_name(oc->action) ? tmbus_offer_action_name(oc->action) : "?");
    else
        snprintf(text, sizeof(text), "%s", e->kind);
    {
        char line[FEED_LINE_MAX + TMBUS_MEMBER_MAX + 4];
        snprintf(line, sizeof(line), "%s: %s", e->sender, text);
        copy_line(e->line, sizeof(e->line), line);
    }
}

uint64_t feed_oldest(const struct feed *f)
{
    return f->next_seq > FEED_KEEP ? f->next_seq - FEED_KEEP : 1;
}

const struct feed_event *feed_get(const struct feed *f, uint64_t seq)
{
    if (seq < feed_oldest(f) || seq >= f->next_seq)
        return NULL;
    return &f->ring[seq % FEED_KEEP];
}

size_t feed_sse(const struct feed_event *e, char *buf, size_t size)
{
    int n = snprintf(buf, size, "id: %llu\nevent: bus\ndata: %s\n\n", (unsigned long long)e->seq,
                     e->line);

    return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}
