/*
 * bench_mqtt: the side-by-side workload through Mosquitto. Publishers send
 * QoS 1 messages to broker A (each with up to --window unacknowledged),
 * A's bridge forwards them at QoS 1 to broker B, and one QoS 1 subscriber
 * with a persistent session at B receives (and so acknowledges) each one;
 * throughput and latency are measured as bench_e2e measures them. The
 * brokers are started by the caller (tests/bench/side-by-side) on loopback
 * ports; this program never starts or configures one. A program, never a
 * test: every loop is bounded in count and time.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

#include "bench_side.h"

#define HOST          "127.0.0.1"
#define KEEPALIVE     60
#define TOPIC_PREFIX  "bench/" /* what A's bridge forwards to B */
#define PROBE_TOPIC   "bench/probe"
#define SUB_CLIENT_ID "bench-sub" /* fixed: the subscriber's session persists at B */
#define READY_SECONDS 20          /* connect, subscribe and a probe through the bridge */
#define PROBE_EVERY   0.5         /* seconds between probes while the bridge comes up */

/* One connection and what its network thread tells the others. */
struct conn {
    struct mosquitto *mosq;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int connected; /* CONNACK accepted: 1, refused: -1 */
    int subscribed;
    int inflight;      /* publishes not yet acknowledged */
    uint64_t acked;    /* publishes acknowledged by the broker */
    int probe_seen;    /* subscriber only */
    uint32_t index;    /* publisher only: its number */
    uint64_t sent;     /* publisher only: accepted by mosquitto_publish */
    uint64_t start_ns; /* publisher only */
    const struct bench_side_opts *opts;
    struct bench_side_record *record; /* subscriber only */
};

static double since(uint64_t t0_ns)
{
    return (double)(bench_side_now_ns() - t0_ns) / 1e9;
}

static void on_connect(struct mosquitto *mosq, void *arg, int rc)
{
    struct conn *c = arg;

    (void)mosq;
    pthread_mutex_lock(&c->mu);
    c->connected = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

static void on_subscribe(struct mosquitto *mosq, void *arg, int mid, int qos_count,
                         const int *granted)
{
    struct conn *c = arg;

    (void)mosq, (void)mid;
    pthread_mutex_lock(&c->mu);
    c->subscribed = qos_count == 1 && granted[0] == 1 ? 1 : -1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

static void on_publish(struct mosquitto *mosq, void *arg, int mid)
{
    struct conn *c = arg;

    (void)mosq, (void)mid;
    pthread_mutex_lock(&c->mu);
    c->inflight--;
    c->acked++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

/* The subscriber's network thread: libmosquitto sends the PUBACK for a QoS
 * 1 message as part of handling it. */
static void on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *m)
{
    struct conn *c = arg;

    (void)mosq;
    if (strcmp(m->topic, PROBE_TOPIC) == 0) {
        pthread_mutex_lock(&c->mu);
        c->probe_seen = 1;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    bench_side_record_receive(c->record, m->payload, (size_t)m->payloadlen);
}

/* Waits until *field is non-zero or the deadline passes; returns it. */
static int wait_for(struct conn *c, const int *field, uint64_t deadline_ns)
{
    struct timespec ts;
    int v;

    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t left = deadline_ns > bench_side_now_ns() ? deadline_ns - bench_side_now_ns() : 0;
    uint64_t abs_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + left;
    ts.tv_sec = (time_t)(abs_ns / 1000000000u);
    ts.tv_nsec = (long)(abs_ns % 1000000000u);
    pthread_mutex_lock(&c->mu);
    while (*field == 0 && pthread_cond_timedwait(&c->cond, &c->mu, &ts) == 0)
        ;
    v = *field;
    pthread_mutex_unlock(&c->mu);
    return v;
}

static int conn_open(struct conn *c, const char *id, int clean, int port, int window,
                     uint64_t deadline_ns)
{
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->mosq = mosquitto_new(id, clean, c);
    if (c->mosq == NULL)
        return -1;
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_int_option(c->mosq, MOSQ_OPT_SEND_MAXIMUM, window);
    mosquitto_connect_callback_set(c->mosq, on_connect);
    mosquitto_subscribe_callback_set(c->mosq, on_subscribe);
    mosquitto_publish_callback_set(c->mosq, on_publish);
    mosquitto_message_callback_set(c->mosq, on_message);
    int rc = mosquitto_connect(c->mosq, HOST, port, KEEPALIVE);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bench_mqtt: connect %s to port %d: %s\n", id, port,
                mosquitto_strerror(rc));
        return -1;
    }
    if (mosquitto_loop_start(c->mosq) != MOSQ_ERR_SUCCESS)
        return -1;
    if (wait_for(c, &c->connected, deadline_ns) != 1) {
        fprintf(stderr, "bench_mqtt: %s: no CONNACK from port %d\n", id, port);
        return -1;
    }
    return 0;
}

/* Waits for room in the window until end_ns, and takes it: 0, or -1 when
 * the time ran out first. */
static int window_wait(struct conn *c, int window, uint64_t end_ns)
{
    int rc = 0;

    pthread_mutex_lock(&c->mu);
    while (c->inflight >= window && rc == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10000000; /* 10 ms: rechecks the clock */
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&c->cond, &c->mu, &ts);
        if (bench_side_now_ns() >= end_ns)
            rc = -1;
    }
    if (rc == 0)
        c->inflight++;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static void conn_close(struct conn *c)
{
    if (c->mosq == NULL)
        return;
    mosquitto_disconnect(c->mosq);
    mosquitto_loop_stop(c->mosq, false);
    mosquitto_destroy(c->mosq);
    c->mosq = NULL;
}

/* Sends this publisher's share, paced and windowed, until the share is
 * sent or --seconds pass; then waits (up to --drain) for its acks. */
static void *publisher(void *arg)
{
    struct conn *c = arg;
    const struct bench_side_opts *o = c->opts;
    uint64_t share = bench_side_share(o, (int)c->index);
    uint64_t end_ns = c->start_ns + (uint64_t)(o->seconds * 1e9);
    double rate_each = o->rate / o->clients;
    uint8_t *buf = calloc(1, o->size);
    char topic[32];

    if (buf == NULL)
        return NULL;
    snprintf(topic, sizeof(topic), TOPIC_PREFIX "%" PRIu32, c->index);
    for (uint64_t i = 0; i < share && bench_side_now_ns() < end_ns; i++) {
        bench_side_pace(c->start_ns, i, rate_each);
        if (window_wait(c, o->window, end_ns) == -1)
            break;
        bench_side_stamp(buf, c->index, (uint32_t)i);
        int rc = mosquitto_publish(c->mosq, NULL, topic, (int)o->size, buf, 1, false);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "bench_mqtt: publisher %" PRIu32 ": %s\n", c->index,
                    mosquitto_strerror(rc));
            pthread_mutex_lock(&c->mu);
            c->inflight--;
            pthread_mutex_unlock(&c->mu);
            break;
        }
        c->sent++;
    }
    free(buf);
    uint64_t drain_end = bench_side_now_ns() + (uint64_t)(o->drain * 1e9);
    while (bench_side_now_ns() < drain_end) {
        pthread_mutex_lock(&c->mu);
        int left = c->inflight;
        pthread_mutex_unlock(&c->mu);
        if (left == 0)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Publishes probes at A, on a connection of their own (so that no
 * publisher's window counts them), until the subscriber at B sees one: the
 * bridge is up and B holds the subscription. */
static int await_bridge(const struct bench_side_opts *o, struct conn *sub, uint64_t deadline_ns)
{
    struct conn probe = {0};
    int rc = -1;

    if (conn_open(&probe, "bench-probe", 1, o->pub_port, 1, deadline_ns) == -1)
        goto out;
    while (rc == -1 && bench_side_now_ns() < deadline_ns) {
        mosquitto_publish(probe.mosq, NULL, PROBE_TOPIC, 5, "probe", 1, false);
        uint64_t next = bench_side_now_ns() + (uint64_t)(PROBE_EVERY * 1e9);
        if (wait_for(sub, &sub->probe_seen, next < deadline_ns ? next : deadline_ns))
            rc = 0;
    }
    if (rc == -1)
        fprintf(stderr, "bench_mqtt: no probe came through the bridge in %d s\n", READY_SECONDS);
out:
    conn_close(&probe);
    return rc;
}

int main(int argc, char **argv)
{
    struct bench_side_opts o;
    struct conn sub = {0}, *pubs = NULL;
    pthread_t *threads = NULL;
    int started = 0, rc = 1;

    if (bench_side_parse(argc, argv, "mosquitto", &o) == -1)
        return 2;
    mosquitto_lib_init();
    uint64_t ready_by = bench_side_now_ns() + (uint64_t)READY_SECONDS * 1000000000u;
    sub.opts = &o;
    sub.record = bench_side_record_new(&o);
    pubs = calloc((size_t)o.clients, sizeof(*pubs));
    threads = calloc((size_t)o.clients, sizeof(*threads));
    if (sub.record == NULL || pubs == NULL || threads == NULL) {
        fprintf(stderr, "bench_mqtt: out of memory\n");
        goto out;
    }
    if (conn_open(&sub, SUB_CLIENT_ID, 0, o.sub_port, o.window, ready_by) == -1 ||
        mosquitto_subscribe(sub.mosq, NULL, TOPIC_PREFIX "#", 1) != MOSQ_ERR_SUCCESS ||
        wait_for(&sub, &sub.subscribed, ready_by) != 1) {
        fprintf(stderr, "bench_mqtt: the subscriber at port %d is not ready\n", o.sub_port);
        goto out;
    }
    for (int i = 0; i < o.clients; i++) {
        char id[32];
        snprintf(id, sizeof(id), "bench-pub-%d", i);
        pubs[i].index = (uint32_t)i;
        pubs[i].opts = &o;
        if (conn_open(&pubs[i], id, 1, o.pub_port, o.window, ready_by) == -1)
            goto out;
    }
    if (await_bridge(&o, &sub, ready_by) == -1)
        goto out;

    uint64_t start_ns = bench_side_now_ns();
    fprintf(stderr, "bench_mqtt: %d publisher(s) at port %d, subscriber at port %d: go\n",
            o.clients, o.pub_port, o.sub_port);
    for (; started < o.clients; started++) {
        pubs[started].start_ns = start_ns;
        if (pthread_create(&threads[started], NULL, publisher, &pubs[started]) != 0)
            break;
    }
    uint64_t sent = 0, acked = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        sent += pubs[i].sent;
        pthread_mutex_lock(&pubs[i].mu);
        acked += pubs[i].acked;
        pthread_mutex_unlock(&pubs[i].mu);
    }
    fprintf(stderr, "bench_mqtt: %" PRIu64 " sent, %" PRIu64 " acknowledged by A in %.3f s\n", sent,
            acked, since(start_ns));
    uint64_t drain_end = bench_side_now_ns() + (uint64_t)(o.drain * 1e9);
    while (bench_side_record_delivered(sub.record) < sent && bench_side_now_ns() < drain_end) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    /* Stop the subscriber's thread before reading its record. */
    conn_close(&sub);
    bench_side_record_report(sub.record, &o, sent, start_ns);
    rc = started == o.clients && bench_side_record_delivered(sub.record) == sent ? 0 : 1;
out:
    for (int i = 0; pubs != NULL && i < o.clients; i++)
        conn_close(&pubs[i]);
    conn_close(&sub);
    bench_side_record_free(&sub.record);
    free(pubs);
    free(threads);
    mosquitto_lib_cleanup();
    return rc;
}
