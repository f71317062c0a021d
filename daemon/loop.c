/*
 * loop: zmq_poll over a small array of items plus a list of timers. The
 * arrays are rebuilt only when something is added or removed, so a round
 * costs one zmq_poll and a scan. Owns no socket: callers close their own.
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "log.h"

struct watch {
    void *socket;
    int fd;
    loop_ready_fn fn;
    void *arg;
    bool is_removed;
};

struct timer {
    uint64_t id;
    int64_t due_ms;
    loop_timer_fn fn;
    void *arg;
    bool is_removed;
};

struct loop {
    struct watch watches[LOOP_MAX_ITEMS];
    size_t n_watches;
    struct timer *timers;
    size_t n_timers, cap_timers;
    uint64_t next_timer_id;
    loop_round_fn round_fn;
    void *round_arg;
    bool is_stopping;
};

int64_t loop_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
    return calloc(1, sizeof(struct loop));
}

void loop_free(struct loop **lp)
{
    if (lp == NULL || *lp == NULL)
        return;
    free((*lp)->timers);
    free(*lp);
    *lp = NULL;
}

static int add_watch(struct loop *l, void *socket, int fd, loop_ready_fn fn, void *arg)
{
    if (l->n_watches == LOOP_MAX_ITEMS) {
        log_warnx("loop: more than %d sockets", LOOP_MAX_ITEMS);
        return -1;
    }
    l->watches[l->n_watches++] = (struct watch){socket, fd, fn, arg, false};
    return 0;
}

int loop_add_socket(struct loop *l, void *socket, loop_ready_fn fn, void *arg)
{
    return add_watch(l, socket, -1, fn, arg);
}

int loop_add_fd(struct loop *l, int fd, loop_ready_fn fn, void *arg)
{
    return add_watch(l, NULL, fd, fn, arg);
}

void loop_remove_socket(struct loop *l, void *socket)
{
    for (size_t i = 0; i < l->n_watches; i++)
        if (l->watches[i].socket == socket)
            l->watches[i].is_removed = true;
}

uint64_t loop_add_timer(struct loop *l, int64_t delay_ms, loop_timer_fn fn, void *arg)
{
    if (l->n_timers == l->cap_timers) {
        size_t cap = l->cap_timers ? l->cap_timers * 2 : 16;
        struct timer *t = realloc(l->timers, cap * sizeof(*t));
        ensure(t != NULL);
        l->timers = t;
        l->cap_timers = cap;
    }
    l->timers[l->n_timers++] =
        (struct timer){++l->next_timer_id, loop_now_ms() + delay_ms, fn, arg, false};
    return l->next_timer_id;
}

void loop_remove_timer(struct loop *l, uint64_t id)
{
    for (size_t i = 0; i < l->n_timers; i++)
        if (l->timers[i].id == id)
            l->timers[i].is_removed = true;
}

void loop_set_round_hook(struct loop *l, loop_round_fn fn, void *arg)
{
    l->round_fn = fn;
    l->round_arg = arg;
}

void loop_stop(struct loop *l)
{
    l->is_stopping = true;
}

/* Drops removed watches and timers, keeping order. */
static void compact(struct loop *l)
{
    size_t j = 0;

    for (size_t i = 0; i < l->n_watches; i++)
        if (!l->watches[i].is_removed)
            l->watches[j++] = l->watches[i];
    l->n_watches = j;
    j = 0;
    for (size_t i = 0; i < l->n_timers; i++)
        if (!l->timers[i].is_removed)
            l->timers[j++] = l->timers[i];
    l->n_timers = j;
}

/* Runs due timers; returns the poll timeout until the next one. */
static long run_timers(struct loop *l, bool *ran)
{
    int64_t now = loop_now_ms();
    long timeout = 1000;

    /* Index loop: a timer callback may add timers (and so realloc). */
    for (size_t i = 0; i < l->n_timers; i++) {
        if (l->timers[i].is_removed)
            continue;
        if (l->timers[i].due_ms <= now) {
            int64_t next = l->timers[i].fn(l->timers[i].arg);
            *ran = true;
            if (next < 0)
                l->timers[i].is_removed = true;
            else
                l->timers[i].due_ms = loop_now_ms() + next;
        }
        if (!l->timers[i].is_removed && l->timers[i].due_ms - now < timeout)
            timeout = (long)(l->timers[i].due_ms - now);
    }
    return timeout < 0 ? 0 : timeout;
}

int loop_run(struct loop *l)
{
    zmq_pollitem_t items[LOOP_MAX_ITEMS];

    while (!l->is_stopping) {
        bool ran = false;
        long timeout = run_timers(l, &ran);
        size_t n;
        int rc;

        compact(l);
        n = l->n_watches;
        for (size_t i = 0; i < n; i++)
            items[i] = (zmq_pollitem_t){l->watches[i].socket, l->watches[i].fd, ZMQ_POLLIN, 0};
        /* After a round that did work, poll without waiting so the round
         * hook (the group commit) runs before we sleep. */
        rc = zmq_poll(items, (int)n, ran ? 0 : timeout);
        if (rc == -1 && errno != EINTR) {
            log_warnx("loop: zmq_poll: %s", zmq_strerror(errno));
            return -1;
        }
        for (size_t i = 0; rc > 0 && i < n && !l->is_stopping; i++) {
            if (!(items[i].revents & ZMQ_POLLIN) || l->watches[i].is_removed)
                continue;
            l->watches[i].fn(l->watches[i].arg);
            ran = true;
        }
        if (ran && l->round_fn != NULL)
            l->round_fn(l->round_arg);
    }
    return 0;
}
