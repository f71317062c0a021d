/*
 * fuzz_config: feeds arbitrary bytes, as a file, to config_load, the
 * reader of tmbusd's configuration (config.c over inifile.c) that runs at
 * every start and every SIGHUP on a file a person wrote. A success must
 * give a configuration whose every field keeps its rules, that may be
 * reloaded over itself, and whose clients are found by their keys; a
 * failure must give a reason. Nothing may crash, overflow or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "fuzz_common.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct config *c)
{
    char err[CONFIG_ERR_MAX];

    ensure(util_is_member_id(c->member, strlen(c->member)));
    ensure(c->coalition != NULL && c->coalition[0] != '\0');
    ensure(c->keys != NULL && c->keys[0] != '\0');
    ensure(c->roster != NULL && c->roster[0] != '\0');
    ensure(c->data_dir != NULL && c->data_dir[0] != '\0');
    ensure(c->peer_listen != NULL && c->client_listen != NULL && c->http_listen != NULL);
    ensure(c->n_clients <= CONFIG_MAX_CLIENTS);
    ensure(c->dial_all || c->n_dial <= CONFIG_MAX_PEERS);
    for (size_t i = 0; i < c->n_dial; i++)
        ensure(util_is_member_id(c->dial[i], strlen(c->dial[i])));
    for (size_t i = 0; i < c->n_dial_only; i++)
        ensure(util_is_member_id(c->dial_only[i], strlen(c->dial_only[i])));
    for (size_t i = 0; i < c->n_endpoint_overrides; i++) {
        ensure(util_is_member_id(c->override_member[i], strlen(c->override_member[i])));
        ensure(c->override_endpoint[i] != NULL && c->override_endpoint[i][0] != '\0');
    }
    for (size_t i = 0; i < c->n_clients; i++) {
        const struct config_client *cl = &c->clients[i];
        ensure(strnlen(cl->name, sizeof(cl->name)) < sizeof(cl->name) && cl->name[0] != '\0');
        ensure(cl->role >= CONFIG_ROLE_READER && cl->role <= CONFIG_ROLE_ADMIN);
        ensure(cl->clearance >= CONFIG_TLP_CLEAR && cl->clearance <= CONFIG_TLP_RED);
        /* Keys are unique, so each client is the one found by its key. */
        ensure(config_find_client(c, cl->transport_pk) == cl);
    }
    /* The cross-option rules of finish(). */
    ensure(c->peer_timeout_ms > c->heartbeat_ms);
    ensure(c->peer_round_max > c->credit_window);
    for (size_t i = 0; i < c->n_dial; i++)
        ensure(strcmp(c->dial[i], c->member) != 0);
    for (size_t i = 0; i < c->n_dial_only; i++)
        ensure(strcmp(c->dial_only[i], c->member) != 0);
    if (c->http_listen[0] != '\0' && !c->http_allow_remote) {
        struct sockaddr_storage a;
        ensure(config_parse_address(c->http_listen, &a) == 0 && config_is_loopback(&a));
    }
    ensure(config_reload_allowed(c, c, err, sizeof(err)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CONFIG_ERR_MAX] = "";
    struct config *c;

    log_init("fuzz_config", LOG_LEVEL_WARN);
    c = config_load(fuzz_scratch_file("tmbusd.conf", data, size), err, sizeof(err));
    if (c != NULL)
        check(c);
    else
        ensure(err[0] != '\0');
    config_free(&c);
    ensure(c == NULL);
    return 0;
}
