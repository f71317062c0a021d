/*
 * bench_nats: the side-by-side workload through NATS JetStream. Publishers
 * publish asynchronously to a leaf node server (member A's, JetStream
 * domain "leaf") whose file stream captures the subjects, each with up to
 * --window publishes whose JetStream ack has not come back; the hub server
 * (member B's, domain "hub") holds a file stream that sources the leaf's
 * stream across the leaf connection, and a durable push consumer at the
 * hub acknowledges each message it receives. Throughput and latency are
 * measured as bench_e2e measures them. The servers are started by the
 * caller (tests/bench/side-by-side); this program creates the streams and
 * the consumer afresh, and never starts a server. A program, never a test.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "bench_side.h"

#define LEAF_STREAM    "BENCH"     /* at A: captures SUBJECTS */
#define HUB_STREAM     "BENCH_HUB" /* at B: sources LEAF_STREAM */
#define SUBJECTS       "bench.>"
#define SUBJECT_PREFIX "bench."
#define PROBE_SUBJECT  "bench.probe"
#define LEAF_API       "$JS.leaf.API" /* the leaf's JetStream, seen from the hub */
#define CONSUMER       "bench-sub"
#define DELIVER        "bench-deliver"
#define MAX_ACK_PEND   20000 /* consumer: deliveries not yet acked */
#define READY_SECONDS  20    /* streams, consumer and a probe through the source */
#define PROBE_EVERY_MS 500

/* One publisher: its connection, JetStream context and window. */
struct publisher {
    natsConnection *nc;
    jsCtx *js;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int inflight;
    uint64_t acked, failed;
    uint32_t index;
    uint64_t sent;
    uint64_t start_ns;
    const struct bench_side_opts *opts;
};

/* The subscriber: its record and whether the probe came through. */
struct subscriber {
    struct bench_side_record *record;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int probe_seen;
};

static int check(natsStatus s, jsErrCode err, const char *what)
{
    if (s == NATS_OK)
        return 0;
    fprintf(stderr, "bench_nats: %s: %s (JetStream error %d: %s)\n", what, natsStatus_GetText(s),
            (int)err, nats_GetLastError(NULL));
    return -1;
}

static void timed_wait(pthread_cond_t *cond, pthread_mutex_t *mu, long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(cond, mu, &ts);
}

/* The library's thread for a publisher's acks: frees a window slot. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
    struct publisher *p = arg;

    (void)js;
    pthread_mutex_lock(&p->mu);
    p->inflight--;
    if (pa != NULL)
        p->acked++;
    else
        p->failed++;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    if (pae != NULL && p->failed == 1)
        fprintf(stderr, "bench_nats: publisher %" PRIu32 ": %s\n", p->index,
                pae->ErrText != NULL ? pae->ErrText : natsStatus_GetText(pae->Err));
    natsMsg_Destroy(msg);
}

/* The subscription's thread: one message at a time, each acknowledged. */
static void on_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    struct subscriber *s = arg;

    (void)nc, (void)sub;
    if (strcmp(natsMsg_GetSubject(msg), PROBE_SUBJECT) == 0) {
        pthread_mutex_lock(&s->mu);
        s->probe_seen = 1;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mu);
    } else {
        bench_side_record_receive(s->record, (const uint8_t *)natsMsg_GetData(msg),
                                  (size_t)natsMsg_GetDataLength(msg));
    }
    natsMsg_Ack(msg, NULL);
    natsMsg_Destroy(msg);
}

static int connect_to(natsConnection **nc, int port, const char *name)
{
    natsOptions *opts = NULL;
    char url[64];
    natsStatus s;

    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", port);
    s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, url);
    if (s == NATS_OK)
        s = natsOptions_SetName(opts, name);
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, opts);
    natsOptions_Destroy(opts);
    return check(s, 0, url);
}

/* The leaf's stream (capturing the subjects) and the hub's (sourcing it),
 * both on disk, made afresh. */
static int make_streams(jsCtx *leaf, jsCtx *hub)
{
    jsStreamConfig cfg;
    jsStreamSource src, *srcs[1] = {&src};
    jsExternalStream ext;
    jsStreamInfo *si = NULL;
    jsErrCode err = 0;
    const char *subjects[1] = {SUBJECTS};

    js_DeleteStream(hub, HUB_STREAM, NULL, NULL);
    js_DeleteStream(leaf, LEAF_STREAM, NULL, NULL);
    jsStreamConfig_Init(&cfg);
    cfg.Name = LEAF_STREAM;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    if (check(js_AddStream(&si, leaf, &cfg, NULL, &err), err, "add the leaf's stream") == -1)
        return -1;
    jsStreamInfo_Destroy(si);
    si = NULL;

    jsExternalStream_Init(&ext);
    ext.APIPrefix = LEAF_API;
    ext.DeliverPrefix = ""; /* same account: deliveries need no prefix */
    jsStreamSource_Init(&src);
    src.Name = LEAF_STREAM;
    src.External = &ext;
    jsStreamConfig_Init(&cfg);
    cfg.Name = HUB_STREAM;
    cfg.Storage = js_FileStorage;
    cfg.Sources = srcs;
    cfg.SourcesLen = 1;
    if (check(js_AddStream(&si, hub, &cfg, NULL, &err), err, "add the hub's stream") == -1)
        return -1;
    jsStreamInfo_Destroy(si);
    return 0;
}

/* A durable push consumer on the hub's stream, every message acked
 * explicitly, and the subscription that receives its deliveries. */
static int subscribe(jsCtx *hub, struct subscriber *s, natsSubscription **sub)
{
    jsConsumerConfig cc;
    jsConsumerInfo *ci = NULL;
    jsSubOptions so;
    jsErrCode err = 0;

    jsConsumerConfig_Init(&cc);
    cc.Durable = CONSUMER;
    cc.DeliverSubject = DELIVER;
    cc.DeliverPolicy = js_DeliverAll;
    cc.AckPolicy = js_AckExplicit;
    cc.MaxAckPending = MAX_ACK_PEND;
    if (check(js_AddConsumer(&ci, hub, HUB_STREAM, &cc, NULL, &err), err, "add the consumer") == -1)
        return -1;
    jsConsumerInfo_Destroy(ci);
    jsSubOptions_Init(&so);
    so.Stream = HUB_STREAM;
    so.Consumer = CONSUMER;
    so.ManualAck = true;
    natsStatus st = js_Subscribe(sub, hub, SUBJECTS, on_message, s, NULL, &so, &err);
    if (check(st, err, "subscribe to the consumer") == -1)
        return -1;
    /* The default pending limit (65536 messages, 64 MiB) would drop
     * messages of 8 KiB long before the consumer's ack window is full. */
    natsSubscription_SetPendingLimits(*sub, -1, -1);
    return 0;
}

/* Publishes probes at the leaf until the hub's consumer delivers one: the
 * source runs across the leaf connection. */
static int await_source(jsCtx *leaf, struct subscriber *s)
{
    uint64_t deadline = bench_side_now_ns() + (uint64_t)READY_SECONDS * 1000000000u;
    int seen = 0;

    while (!seen && bench_side_now_ns() < deadline) {
        jsPubAck *pa = NULL;
        if (js_Publish(&pa, leaf, PROBE_SUBJECT, "probe", 5, NULL, NULL) == NATS_OK)
            jsPubAck_Destroy(pa);
        pthread_mutex_lock(&s->mu);
        if (!s->probe_seen)
            timed_wait(&s->cond, &s->mu, PROBE_EVERY_MS);
        seen = s->probe_seen;
        pthread_mutex_unlock(&s->mu);
    }
    if (!seen)
        fprintf(stderr, "bench_nats: no probe came through the source in %d s\n", READY_SECONDS);
    return seen ? 0 : -1;
}

static int publisher_open(struct publisher *p)
{
    jsOptions jo;
    char name[32];

    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    snprintf(name, sizeof(name), "bench-pub-%" PRIu32, p->index);
    if (connect_to(&p->nc, p->opts->pub_port, name) == -1)
        return -1;
    jsOptions_Init(&jo);
    /* The window is ours (below); the library's is a backstop as large. */
    jo.PublishAsync.MaxPending = p->opts->window;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = p;
    return check(natsConnection_JetStream(&p->js, p->nc, &jo), 0, "JetStream context");
}

static void publisher_close(struct publisher *p)
{
    jsCtx_Destroy(p->js);
    p->js = NULL;
    natsConnection_Destroy(p->nc);
    p->nc = NULL;
}

/* Sends this publisher's share, paced and windowed, until the share is
 * sent or --seconds pass; then waits (up to --drain) for its acks. */
static void *publisher_run(void *arg)
{
    struct publisher *p = arg;
    const struct bench_side_opts *o = p->opts;
    uint64_t share = bench_side_share(o, (int)p->index);
    uint64_t end_ns = p->start_ns + (uint64_t)(o->seconds * 1e9);
    double rate_each = o->rate / o->clients;
    uint8_t *buf = calloc(1, o->size);
    char subject[32];

    if (buf == NULL)
        return NULL;
    snprintf(subject, sizeof(subject), SUBJECT_PREFIX "%" PRIu32, p->index);
    for (uint64_t i = 0; i < share && bench_side_now_ns() < end_ns; i++) {
        bench_side_pace(p->start_ns, i, rate_each);
        int room = 1;
        pthread_mutex_lock(&p->mu);
        while (p->inflight >= o->window && (room = bench_side_now_ns() < end_ns))
            timed_wait(&p->cond, &p->mu, 10);
        if (room)
            p->inflight++;
        pthread_mutex_unlock(&p->mu);
        if (!room)
            break;
        bench_side_stamp(buf, p->index, (uint32_t)i);
        natsStatus s = js_PublishAsync(p->js, subject, buf, (int)o->size, NULL);
        if (s != NATS_OK) {
            check(s, 0, "publish");
            pthread_mutex_lock(&p->mu);
            p->inflight--;
            pthread_mutex_unlock(&p->mu);
            break;
        }
        p->sent++;
    }
    free(buf);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = (int64_t)(o->drain * 1000);
    check(js_PublishAsyncComplete(p->js, &po), 0, "wait for the publish acks");
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_side_opts o;
    struct subscriber sub = {0};
    struct publisher *pubs = NULL;
    pthread_t *threads = NULL;
    natsConnection *hub_nc = NULL, *leaf_nc = NULL;
    jsCtx *hub_js = NULL, *leaf_js = NULL;
    natsSubscription *nsub = NULL;
    int started = 0, opened = 0, rc = 1;

    if (bench_side_parse(argc, argv, "nats", &o) == -1)
        return 2;
    pthread_mutex_init(&sub.mu, NULL);
    pthread_cond_init(&sub.cond, NULL);
    sub.record = bench_side_record_new(&o);
    pubs = calloc((size_t)o.clients, sizeof(*pubs));
    threads = calloc((size_t)o.clients, sizeof(*threads));
    if (sub.record == NULL || pubs == NULL || threads == NULL) {
        fprintf(stderr, "bench_nats: out of memory\n");
        goto out;
    }
    if (connect_to(&leaf_nc, o.pub_port, "bench-setup-leaf") == -1 ||
        connect_to(&hub_nc, o.sub_port, "bench-sub") == -1 ||
        check(natsConnection_JetStream(&leaf_js, leaf_nc, NULL), 0, "JetStream at the leaf") ||
        check(natsConnection_JetStream(&hub_js, hub_nc, NULL), 0, "JetStream at the hub") ||
        make_streams(leaf_js, hub_js) == -1 || subscribe(hub_js, &sub, &nsub) == -1 ||
        await_source(leaf_js, &sub) == -1)
        goto out;
    for (; opened < o.clients; opened++) {
        pubs[opened].index = (uint32_t)opened;
        pubs[opened].opts = &o;
        if (publisher_open(&pubs[opened]) == -1)
            goto out;
    }

    uint64_t start_ns = bench_side_now_ns();
    fprintf(stderr, "bench_nats: %d publisher(s) at port %d, consumer at port %d: go\n", o.clients,
            o.pub_port, o.sub_port);
    for (; started < o.clients; started++) {
        pubs[started].start_ns = start_ns;
        if (pthread_create(&threads[started], NULL, publisher_run, &pubs[started]) != 0)
            break;
    }
    uint64_t sent = 0, acked = 0, failed = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        sent += pubs[i].sent;
        pthread_mutex_lock(&pubs[i].mu);
        acked += pubs[i].acked;
        failed += pubs[i].failed;
        pthread_mutex_unlock(&pubs[i].mu);
    }
    fprintf(stderr,
            "bench_nats: %" PRIu64 " sent, %" PRIu64 " acknowledged by the leaf, %" PRIu64
            " refused, in %.3f s\n",
            sent, acked, failed, (double)(bench_side_now_ns() - start_ns) / 1e9);
    uint64_t drain_end = bench_side_now_ns() + (uint64_t)(o.drain * 1e9);
    while (bench_side_record_delivered(sub.record) < sent && bench_side_now_ns() < drain_end) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    /* Stop the subscription's thread before reading its record: a drain
     * returns once the callback has run for the last message it took. */
    if (natsSubscription_Drain(nsub) == NATS_OK)
        natsSubscription_WaitForDrainCompletion(nsub, 5000);
    bench_side_record_report(sub.record, &o, sent, start_ns);
    rc = started == o.clients && bench_side_record_delivered(sub.record) == sent ? 0 : 1;
out:
    for (int i = 0; i < opened; i++)
        publisher_close(&pubs[i]);
    natsSubscription_Destroy(nsub);
    jsCtx_Destroy(leaf_js);
    jsCtx_Destroy(hub_js);
    natsConnection_Destroy(leaf_nc);
    natsConnection_Destroy(hub_nc);
    bench_side_record_free(&sub.record);
    free(pubs);
    free(threads);
    nats_Close();
    return rc;
}
