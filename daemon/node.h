/*
 * node: assembles a running tmbusd from its parts (configuration, keys,
 * roster, store, route, api, peers, ZAP handler, event loop) and owns the
 * group commit: modules append inside the open batch, and after every loop
 * round the node commits and tells each registered listener the outcome,
 * which only then acknowledges. The node's state is private; nothing but
 * main uses this header.
 */
#ifndef TMBUS_NODE_H
#define TMBUS_NODE_H

#include <stdbool.h>

#include "config.h"

struct node;

struct keyset;
struct store;

/* Opens cfg's store with the store key of the member's keys and, after a
 * rotation, of the key file they replaced (cfg->previous_keys, which must
 * be a member key file of cfg->member), as tmbusd does; tools that work
 * on a stopped node's store (tmbus-admin bundle import) call it too.
 * Blocks on file I/O. Returns the store, or NULL (logged). */
struct store *node_open_store(const struct config *cfg, const struct keyset *keys);

/* Loads keys, store and roster named by cfg (taking responsibility over
 * cfg), starts the ZAP handler, then binds and dials. The roster file must
 * be the roster the store keeps as trusted or its direct successor, and it
 * becomes the trusted one. Returns NULL on failure (logged); then
 * *is_config_error tells a refused roster or member key file (the
 * operator's to fix: exit CONFIG_EX_CONFIG) from any other failure. cfg is
 * freed either way. */
struct node *node_new(struct config *cfg, bool *is_config_error);

/* Commits or rolls back, closes every socket, wipes keys. Accepts NULL. */
void node_free(struct node **np);

/* Runs the event loop until SIGTERM or SIGINT. Blocks. Returns 0 or -1. */
int node_run(struct node *n);

/* Called after every commit attempt with arg and whether the batch is now
 * durable; a listener acknowledges only what was committed. */
typedef void (*node_commit_fn)(void *arg, bool is_committed);

/* Registers fn(arg) to hear about every commit attempt, after those
 * registered before it. Returns 0, or -1 when the list is full. */
int node_listen(struct node *n, node_commit_fn fn, void *arg);

#endif
