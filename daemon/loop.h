/*
 * loop: the one event loop, after Redis's ae. Polls ZeroMQ sockets and
 * plain file descriptors with zmq_poll, runs timers, and calls a hook after
 * every round (the node commits its batch there). Single-threaded; owns
 * nothing it polls.
 */
#ifndef TMBUS_LOOP_H
#define TMBUS_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#define LOOP_MAX_ITEMS 1024

struct loop;

/* Called when a socket or fd is readable. */
typedef void (*loop_ready_fn)(void *arg);
/* Called when a timer fires; returns the next delay in ms, or -1 to stop. */
typedef int64_t (*loop_timer_fn)(void *arg);
/* Called once after every round in which at least one callback ran. */
typedef void (*loop_round_fn)(void *arg);

struct loop *loop_new(void);
void loop_free(struct loop **lp);

/* Watches a ZeroMQ socket (socket != NULL) or an fd for readability.
 * Returns 0, or -1 when LOOP_MAX_ITEMS are in use. */
int loop_add_socket(struct loop *l, void *socket, loop_ready_fn fn, void *arg);
int loop_add_fd(struct loop *l, int fd, loop_ready_fn fn, void *arg);
/* Stops watching; safe to call from inside a callback. */
void loop_remove_socket(struct loop *l, void *socket);

/* Starts a timer that first fires after delay_ms. Returns an id > 0. */
uint64_t loop_add_timer(struct loop *l, int64_t delay_ms, loop_timer_fn fn, void *arg);
void loop_remove_timer(struct loop *l, uint64_t id);

void loop_set_round_hook(struct loop *l, loop_round_fn fn, void *arg);

/* Runs until loop_stop. Returns 0, or -1 when zmq_poll fails for a reason
 * other than EINTR. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* Monotonic milliseconds. */
int64_t loop_now_ms(void);

#endif
