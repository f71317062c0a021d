/*
 * bench_side: what the side-by-side benchmark programs (bench_mqtt,
 * bench_nats) share, so that they measure the same thing the same way as
 * bench_e2e: its flags, the pacing of publishers, the stamp a message
 * carries (publisher, sequence, send time) and the receiver's record from
 * which the one result line is printed. It knows nothing of any broker and
 * never opens a socket.
 */
#ifndef BENCH_SIDE_H
#define BENCH_SIDE_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_SIDE_STAMP_BYTES 16 /* send time (8), publisher (4), sequence (4) */
#define BENCH_SIDE_MIN_SIZE    BENCH_SIDE_STAMP_BYTES
#define BENCH_SIDE_MAX_SIZE    65536 /* a message, including its stamp */
#define BENCH_SIDE_MAX_CLIENTS 256
#define BENCH_SIDE_MAX_COUNT   10000000
#define BENCH_SIDE_MAX_SECONDS 600

/* The flags every side-by-side program takes, bench_e2e's plus the two
 * loopback ports of the brokers the caller started. */
struct bench_side_opts {
    size_t size;      /* --size BYTES: each message's payload, stamp included */
    int clients;      /* --clients C: publishers, each on its own connection */
    uint64_t count;   /* --count N: messages in all, shared among the publishers */
    double rate;      /* --rate R: messages per second offered in all; 0 = as fast as possible */
    double seconds;   /* --seconds T: publishing stops after T seconds even if N are not sent */
    int window;       /* --window W: a publisher's messages sent and not yet acknowledged */
    int pub_port;     /* --pub-port P: the broker the publishers talk to (member A's) */
    int sub_port;     /* --sub-port P: the broker the subscriber talks to (member B's) */
    double drain;     /* --drain S: how long to wait for deliveries after the last send */
    const char *name; /* the system's name in the result line */
};

/* Parses argv into *o (defaults first); prints the usage to stderr and
 * returns -1 on an unknown flag or a value out of bounds, 0 otherwise. */
int bench_side_parse(int argc, char **argv, const char *name, struct bench_side_opts *o);

/* The monotonic clock, in nanoseconds; the same clock in every process on
 * this machine, so a stamp written by one is comparable in another. */
uint64_t bench_side_now_ns(void);

/* How many of the N messages publisher c (0-based) sends. */
uint64_t bench_side_share(const struct bench_side_opts *o, int c);

/* Blocks until the time message i (0-based) of one publisher is due when
 * the publisher started at start_ns and offers rate_each messages a
 * second (0 = never waits). Returns at once when the message is late. */
void bench_side_pace(uint64_t start_ns, uint64_t i, double rate_each);

/* Fills the first BENCH_SIDE_STAMP_BYTES of buf (size >= that) with the
 * current time, the publisher and the sequence, little-endian. */
void bench_side_stamp(uint8_t *buf, uint32_t client, uint32_t seq);

/* The receiver's record: which messages arrived, and each one's latency.
 * One thread writes it (bench_side_record_receive), then the main thread
 * reads it after that thread stopped. */
struct bench_side_record;

/* A record sized for o's messages; NULL when out of memory. */
struct bench_side_record *bench_side_record_new(const struct bench_side_opts *o);

/* Notes a received message: its latency is now minus its stamp. A message
 * too short to hold a stamp, or naming a publisher or sequence that was
 * never sent, counts as foreign; a second copy counts as a duplicate and
 * not again as delivered. Returns 1 for a first delivery, 0 otherwise. */
int bench_side_record_receive(struct bench_side_record *r, const uint8_t *buf, size_t len);

/* Messages delivered once so far (read by any thread; a relaxed count). */
uint64_t bench_side_record_delivered(const struct bench_side_record *r);

/* Prints the human-readable summary to stderr and the one result line to
 * stdout: sent, delivered, seconds from start_ns to the last delivery,
 * messages per second, latency p50/p99/max in milliseconds. Sorts the
 * record's latencies in place. */
void bench_side_record_report(struct bench_side_record *r, const struct bench_side_opts *o,
                              uint64_t sent, uint64_t start_ns);

/* Frees r and clears *rp; accepts NULL. */
void bench_side_record_free(struct bench_side_record **rp);

#endif
