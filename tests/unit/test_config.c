/*
 * test_config: unit tests of the config module. The refusals are a table of
 * (file text, exact error after the file name), so each case names the line
 * it expects; every refused text is a small change to MIN, which is shown to
 * load. Every test works in its own temporary directory and removes it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testutil.h"

#define EXAMPLE_CONF TMBUS_VECTORS_DIR "/../../deploy/examples/tmbusd.conf"

/* 32 bytes of 0x01, 0x02 and 0x03 in base64. */
#define K1 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define K2 "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
#define K3 "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="

/* The required options only, on lines 1..7; cases append from line 8. */
#define MIN                                                                                        \
    "[node]\n"                                                                                     \
    "member = EE\n"                                                                                \
    "coalition = tallinn-mechanism\n"                                                              \
    "keys = /etc/tmbus/EE.key\n"                                                                   \
    "roster = /etc/tmbus/roster.bin\n"                                                             \
    "data_dir = /var/lib/tmbus/EE\n"                                                               \
    "client_listen = tcp://127.0.0.1:7102\n"

static int setup(void **state)
{
    char *dir = strdup(tu_tempdir());

    assert_non_null(dir);
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    tu_rmtree(*state);
    free(*state);
    return 0;
}

/* Writes text to dir/name and returns the path (static, overwritten). */
static const char *write_conf(const char *dir, const char *name, const char *text)
{
    static char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return path;
}

static struct config *load_text(const char *dir, const char *text, char *err, size_t errlen)
{
    return config_load(write_conf(dir, "tmbusd.conf", text), err, errlen);
}

/* Loads text, which must load; the caller frees. */
static struct config *must_load(const char *dir, const char *text)
{
    char err[CONFIG_ERR_MAX];
    struct config *c = load_text(dir, text, err, sizeof(err));

    if (c == NULL)
        fail_msg("expected to load, got: %s", err);
    return c;
}

/* Loads text, which must be refused with exactly path + want. */
static void must_refuse(const char *dir, const char *text, const char *want)
{
    char err[CONFIG_ERR_MAX], full[CONFIG_ERR_MAX + 4096];
    struct config *c;

    c = load_text(dir, text, err, sizeof(err));
    if (c != NULL) {
        config_free(&c);
        fail_msg("expected refusal '%s', but it loaded:\n%s", want, text);
    }
    snprintf(full, sizeof(full), "%s/tmbusd.conf%s", dir, want);
    if (strcmp(err, full) != 0)
        fail_msg("want: %s\n got: %s\nfor:\n%s", full, err, text);
}

static void test_defaults(void **state)
{
    struct config *c = must_load(*state, MIN "[client a]\nkey = " K1 "\n");
    char want[4096];

    snprintf(want, sizeof(want), "%s/tmbusd.conf", (const char *)*state);
    assert_string_equal(c->path, want);
    assert_string_equal(c->member, "EE");
    assert_string_equal(c->coalition, "tallinn-mechanism");
    assert_string_equal(c->keys, "/etc/tmbus/EE.key");
    assert_string_equal(c->roster, "/etc/tmbus/roster.bin");
    assert_string_equal(c->data_dir, "/var/lib/tmbus/EE");
    assert_string_equal(c->peer_listen, "");
    assert_string_equal(c->client_listen, "tcp://127.0.0.1:7102");
    assert_int_equal(c->log_level, LOG_LEVEL_INFO);
    assert_true(c->dial_all);
    assert_int_equal(c->n_dial, 0);
    assert_int_equal(c->n_dial_only, 0);
    assert_int_equal(c->n_endpoint_overrides, 0);
    assert_int_equal(c->batch_max, 256);
    assert_int_equal(c->credit_window, 1024);
    assert_int_equal(c->peer_round_max, 4096);
    assert_int_equal(c->batch_envelopes, 64);
    assert_int_equal(c->peer_round_ms, 50);
    assert_int_equal(c->heartbeat_ms, 1000);
    assert_int_equal(c->peer_timeout_ms, 5000);
    assert_int_equal(c->reconnect_max_ms, 10000);
    assert_int_equal(c->n_clients, 1);
    assert_string_equal(c->clients[0].name, "a");
    assert_int_equal(c->clients[0].role, CONFIG_ROLE_READER);
    assert_int_equal(c->clients[0].clearance, CONFIG_TLP_CLEAR);
    config_free(&c);
    assert_null(c);
    /* Left out, peer_round_max keeps above a raised credit_window. */
    c = must_load(*state, MIN "[limits]\ncredit_window = 65536\n");
    assert_int_equal(c->peer_round_max, 131072);
    config_free(&c);
    /* [http] is off by default; its grace is three peer timeouts unless
     * set; loopback and allowed remote addresses load. */
    c = must_load(*state, MIN);
    assert_string_equal(c->http_listen, "");
    assert_false(c->http_allow_remote);
    assert_int_equal(c->health_grace_ms, 15000);
    config_free(&c);
    c = must_load(*state, MIN "[limits]\npeer_timeout_ms = 2000\n[http]\nlisten = 127.0.0.2:0\n");
    assert_string_equal(c->http_listen, "127.0.0.2:0");
    assert_int_equal(c->health_grace_ms, 6000);
    config_free(&c);
    c = must_load(*state, MIN "[http]\nlisten = [::1]:9464\nhealth_grace_ms = 0\n");
    assert_int_equal(c->health_grace_ms, 0);
    config_free(&c);
    c = must_load(*state, MIN "[http]\nlisten = 0.0.0.0:9464\nallow_remote = true\n");
    assert_true(c->http_allow_remote);
    config_free(&c);
    /* [retention] is off by default; days of day_seconds. */
    c = must_load(*state, MIN);
    assert_int_equal(c->retention_after_expiry, 0);
    assert_int_equal(c->retention_after_closed, 0);
    assert_int_equal(c->retention_day_s, 86400);
    assert_int_equal(c->retention_batch, 64);
    assert_int_equal(c->retention_interval_ms, 1000);
    config_free(&c);
    c = must_load(*state, MIN "[retention]\nafter_expiry = 30\nafter_closed = 90\n"
                              "day_seconds = 1\nbatch = 64\ninterval_ms = 50\n");
    assert_int_equal(c->retention_after_expiry, 30);
    assert_int_equal(c->retention_after_closed, 90);
    assert_int_equal(c->retention_day_s, 1);
    assert_int_equal(c->retention_batch, 64);
    assert_int_equal(c->retention_interval_ms, 50);
    config_free(&c);
    config_free(&c);   /* accepts NULL */
    config_free(NULL); /* and a NULL pointer to it */
}

static void test_full(void **state)
{
    const char *dir = *state;
    char want[4096];
    uint8_t k2[KEYS_PUBLIC_BYTES];
    struct config *c = must_load(dir, "; a comment\n"
                                      "# another\n"
                                      "\n"
                                      "[node]\n"
                                      "  member = UA  ; indented, with a comment\n"
                                      "\tcoalition = tm.test-2\n"
                                      "keys = keys/UA.key\n"
                                      "roster = /r/roster.bin\n"
                                      "data_dir = data\n"
                                      "peer_listen = ipc:///run/tmbus/peer\n"
                                      "client_listen = inproc://clients\n"
                                      "log_level = debug\n"
                                      "[peers]\n"
                                      "dial = EE,PL , LV\n"
                                      "dial_only = NL, DE\n"
                                      "endpoint.EE = tcp://10.0.0.1:7101\n"
                                      "endpoint.LV = tcp://[::1]:7201\n"
                                      "[limits]\n"
                                      "batch_max = 65536\n"
                                      "credit_window = 1\n"
                                      "heartbeat_ms = 50\n"
                                      "peer_timeout_ms = 600000\n"
                                      "reconnect_max_ms = 100\n"
                                      "[client desk1]\n"
                                      "key = " K1 "\n"
                                      "role = poster\n"
                                      "clearance = amber+strict\n"
                                      "[client feed.inventory-2]\n"
                                      "clearance = red\n"
                                      "role = admin\n"
                                      "key = " K2 "\n");

    assert_string_equal(c->member, "UA");
    assert_string_equal(c->coalition, "tm.test-2");
    /* Relative paths are relative to the file's directory. */
    snprintf(want, sizeof(want), "%s/keys/UA.key", dir);
    assert_string_equal(c->keys, want);
    assert_string_equal(c->roster, "/r/roster.bin");
    snprintf(want, sizeof(want), "%s/data", dir);
    assert_string_equal(c->data_dir, want);
    assert_string_equal(c->peer_listen, "ipc:///run/tmbus/peer");
    assert_string_equal(c->client_listen, "inproc://clients");
    assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);

    assert_false(c->dial_all);
    assert_int_equal(c->n_dial, 3);
    assert_string_equal(c->dial[0], "EE");
    assert_string_equal(c->dial[1], "PL");
    assert_string_equal(c->dial[2], "LV");
    assert_int_equal(c->n_dial_only, 2);
    assert_string_equal(c->dial_only[0], "NL");
    assert_string_equal(c->dial_only[1], "DE");
    assert_int_equal(c->n_endpoint_overrides, 2);
    assert_string_equal(c->override_member[0], "EE");
    assert_string_equal(c->override_endpoint[0], "tcp://10.0.0.1:7101");
    assert_string_equal(c->override_member[1], "LV");
    assert_string_equal(c->override_endpoint[1], "tcp://[::1]:7201");

    assert_int_equal(c->batch_max, 65536);
    assert_int_equal(c->credit_window, 1);
    assert_int_equal(c->peer_round_max, 4096);
    assert_int_equal(c->heartbeat_ms, 50);
    assert_int_equal(c->peer_timeout_ms, 600000);
    assert_int_equal(c->reconnect_max_ms, 100);

    assert_int_equal(c->n_clients, 2);
    assert_string_equal(c->clients[0].name, "desk1");
    assert_int_equal(c->clients[0].role, CONFIG_ROLE_POSTER);
    assert_int_equal(c->clients[0].clearance, CONFIG_TLP_AMBER_STRICT);
    assert_string_equal(c->clients[1].name, "feed.inventory-2");
    assert_int_equal(c->clients[1].role, CONFIG_ROLE_ADMIN);
    assert_int_equal(c->clients[1].clearance, CONFIG_TLP_RED);
    memset(k2, 0x02, sizeof(k2));
    assert_memory_equal(c->clients[1].transport_pk, k2, sizeof(k2));
    config_free(&c);
}

static void test_dial_none_and_empty_peer_listen(void **state)
{
    struct config *c = must_load(*state, MIN "peer_listen =\n[peers]\ndial = none\n");

    assert_string_equal(c->peer_listen, "");
    assert_false(c->dial_all);
    assert_int_equal(c->n_dial, 0);
    config_free(&c);
}

struct refusal {
    const char *text;
    const char *want; /* after the path */
};

static const struct refusal refusals[] = {
    /* unknown section, unknown option, option outside any section */
    {MIN "[bogus]\nx = 1\n", ":8: unknown section [bogus]"},
    {MIN "[clients desk]\n", ":8: unknown section [clients desk]"},
    {MIN "colour = blue\n", ":8: unknown option 'colour' in [node]"},
    {MIN "[limits]\nbatch = 3\n", ":9: unknown option 'batch' in [limits]"},
    {MIN "[client a]\nkey = " K1 "\nclearence = red\n",
     ":10: unknown option 'clearence' in [client a]"},
    {"x = 1\n" MIN, ":1: option 'x' is outside any section"},
    /* duplicate option, client name, client key */
    {MIN "member = LV\n", ":8: duplicate option 'member' in [node] (first on line 2)"},
    {MIN "[limits]\nheartbeat_ms = 100\n[node]\n[limits]\nheartbeat_ms = 200\n",
     ":12: duplicate option 'heartbeat_ms' in [limits] (first on line 9)"},
    {MIN "[client a]\nkey = " K1 "\nrole = poster\nrole = admin\n",
     ":11: duplicate option 'role' in [client a] (first on line 10)"},
    {MIN "[peers]\nendpoint.LV = tcp://a:1\nendpoint.LV = tcp://b:1\n",
     ":10: duplicate option 'endpoint.LV' in [peers] (first on line 9)"},
    {MIN "[client a]\nkey = " K1 "\n[client a]\nkey = " K2 "\n",
     ":10: duplicate client name 'a' (first on line 8)"},
    {MIN "[client a]\nkey = " K1 "\n[client b]\nkey = " K1 "\n",
     ":11: duplicate client key: [client a] has the same key (line 9)"},
    {MIN "[client a]\nkey = " K1 "\n[client b]\nkey = " K2 "\n[client c]\nkey = " K1 "\n",
     ":13: duplicate client key: [client a] has the same key (line 9)"},
    /* bad values: enums name what is allowed */
    {MIN "log_level = loud\n", ":8: log_level: 'loud' is not one of warn, info, debug"},
    {MIN "[client a]\nkey = " K1 "\nrole = boss\n",
     ":10: role: 'boss' is not one of reader, poster, admin"},
    {MIN "[client a]\nkey = " K1 "\nclearance = amber-strict\n",
     ":10: clearance: 'amber-strict' is not one of clear, green, amber, amber+strict, red"},
    {MIN "[client a]\nkey = not-base64\n",
     ":9: key: not the base64 encoding of a 32-byte public key"},
    {MIN "[client a]\nkey = AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ==\n",
     ":9: key: not the base64 encoding of a 32-byte public key"},
    {MIN "peer_listen = http://0.0.0.0:7101\n",
     ":8: peer_listen: 'http://0.0.0.0:7101' does not start with tcp://, ipc:// or inproc://"},
    /* An endpoint libzmq would take but not as written: a port out of
     * range binds a random one. */
    {MIN "peer_listen = tcp://\n", ":8: peer_listen: 'tcp://' has no :PORT after the host"},
    {MIN "peer_listen = tcp://127.0.0.1:99999\n",
     ":8: peer_listen: 'tcp://127.0.0.1:99999' port '99999' is not 1..65535"},
    {MIN "peer_listen = tcp://127.0.0.1:0\n",
     ":8: peer_listen: 'tcp://127.0.0.1:0' port '0' is not 1..65535"},
    {MIN "peer_listen = tcp://127.0.0.1:*\n",
     ":8: peer_listen: 'tcp://127.0.0.1:*' port '*' is not 1..65535"},
    {MIN "peer_listen = tcp://127.0.0.1:71o1\n",
     ":8: peer_listen: 'tcp://127.0.0.1:71o1' port '71o1' is not 1..65535"},
    {MIN "peer_listen = tcp://127.0.0.1:123456789012\n",
     ":8: peer_listen: 'tcp://127.0.0.1:123456789012' port '12345678' is not 1..65535"},
    {MIN "peer_listen = tcp://:7101\n",
     ":8: peer_listen: 'tcp://:7101' has no host, or one that is not a name, an address or *"},
    {MIN "peer_listen = tcp://a/b:7101\n",
     ":8: peer_listen: 'tcp://a/b:7101' has no host, or one that is not a name, an address or *"},
    {MIN "peer_listen = tcp://[::1]7101\n",
     ":8: peer_listen: 'tcp://[::1]7101' has no :PORT after the host"},
    {MIN "peer_listen = ipc://\n", ":8: peer_listen: 'ipc://' names no path after ipc://"},
    {"[node]\nclient_listen =\n",
     ":2: client_listen: '' does not start with tcp://, ipc:// or inproc://"},
    {MIN "[peers]\nendpoint.LV = tcp://lv.example.org:65536\n",
     ":9: endpoint.LV: 'tcp://lv.example.org:65536' port '65536' is not 1..65535"},
    {"[node]\nmember = E E\n", ":2: member: 'E E' is not a member id (1..32 of A-Z a-z 0-9 _ -)"},
    {"[node]\ncoalition = tallinn mechanism\n",
     ":2: coalition: 'tallinn mechanism' is not 1..64 of A-Z a-z 0-9 _ . -"},
    {"[node]\nkeys =\n", ":2: keys: must not be empty"},
    {MIN "[peers]\ndial = LV, N L\n",
     ":9: dial: 'N L' is not a member id (1..32 of A-Z a-z 0-9 _ -)"},
    {MIN "[peers]\ndial = LV,,PL\n", ":9: dial: empty item in the list"},
    {MIN "[peers]\ndial =\n", ":9: dial: empty; write all, none or a comma list of member ids"},
    {MIN "[peers]\ndial_only = PL, PL\n", ":9: dial_only: PL is listed twice"},
    {MIN "[peers]\nendpoint.N/L = tcp://a:1\n", ":9: endpoint.N/L: 'N/L' is not a member id"},
    {MIN "[peers]\nendpoint.LV = udp://a:1\n",
     ":9: endpoint.LV: 'udp://a:1' does not start with tcp://, ipc:// or inproc://"},
    {MIN "[client a b]\nkey = " K1 "\n",
     ":8: bad client name 'a b' (1..64 of A-Z a-z 0-9 _ . -, not starting with '.')"},
    {MIN "[client .hidden]\nkey = " K1 "\n",
     ":8: bad client name '.hidden' (1..64 of A-Z a-z 0-9 _ . -, not starting with '.')"},
    {MIN "[client]\n", ":8: a client section needs a name: [client NAME]"},
    /* out of bounds, and not numbers */
    {MIN "[limits]\nbatch_max = 0\n", ":9: batch_max: 0 is out of range 1..65536"},
    {MIN "[retention]\nday_seconds = 0\n", ":9: day_seconds: 0 is out of range 1..86400"},
    {MIN "[retention]\nafter_closed = 36501\n", ":9: after_closed: 36501 is out of range 0..36500"},
    {MIN "[limits]\nbatch_max = 65537\n", ":9: batch_max: 65537 is out of range 1..65536"},
    /* commit_interval_ms was never read (every loop round commits) and is gone */
    {MIN "[limits]\ncommit_interval_ms = 2\n",
     ":9: unknown option 'commit_interval_ms' in [limits]"},
    {MIN "[limits]\nheartbeat_ms = 99999999999999999999999\n",
     ":9: heartbeat_ms: 99999999999999999999999 is out of range 50..60000"},
    {MIN "[limits]\nreconnect_max_ms = 4294967296\n",
     ":9: reconnect_max_ms: 4294967296 is out of range 100..600000"},
    {MIN "[limits]\ncredit_window = 12x\n", ":9: credit_window: '12x' is not a whole number"},
    {MIN "[limits]\ncredit_window = -1\n", ":9: credit_window: '-1' is not a whole number"},
    {MIN "[limits]\ncredit_window =\n", ":9: credit_window: '' is not a whole number"},
    /* required options: a client's names its section's line */
    {MIN "[client a]\nrole = poster\n", ":8: [client a] key is required"},
    {MIN "[client a]\nkey = " K1 "\n[client empty]\n", ":10: [client empty] key is required"},
    /* options that must agree */
    {MIN "[limits]\nheartbeat_ms = 5000\n",
     ":9: peer_timeout_ms (5000) must exceed heartbeat_ms (5000)"},
    {MIN "[limits]\npeer_timeout_ms = 300\nheartbeat_ms = 300\n",
     ":9: peer_timeout_ms (300) must exceed heartbeat_ms (300)"},
    {MIN "[limits]\npeer_round_max = 1024\n",
     ":9: peer_round_max (1024) must exceed credit_window (1024)"},
    {MIN "[limits]\ncredit_window = 600\npeer_round_max = 500\n",
     ":10: peer_round_max (500) must exceed credit_window (600)"},
    {MIN "[limits]\npeer_round_max = 131073\n",
     ":9: peer_round_max: 131073 is out of range 2..131072"},
    {MIN "[limits]\nbatch_envelopes = 1025\n", ":9: batch_envelopes: 1025 is out of range 1..1024"},
    {MIN "[limits]\nbatch_envelopes = 0\n", ":9: batch_envelopes: 0 is out of range 1..1024"},
    {MIN "[limits]\npeer_round_ms = 60001\n", ":9: peer_round_ms: 60001 is out of range 0..60000"},
    {MIN "[peers]\ndial = LV, EE\n", ":9: dial: EE is this node's own member id"},
    {MIN "[peers]\ndial_only = EE\n", ":9: dial_only: EE is this node's own member id"},
    {MIN "[peers]\ndial = LV, PL\ndial_only = PL\n", ":10: PL is in both dial and dial_only"},
    {MIN "[peers]\nendpoint.EE = tcp://a:1\n", ":9: endpoint.EE: this node does not dial itself"},
    {MIN "[peers]\ndial_only = PL\nendpoint.PL = tcp://a:1\n",
     ":10: endpoint.PL: PL is in dial_only and is never dialled"},
    /* [http]: an address, loopback unless allowed, a boolean */
    {MIN "[http]\nlisten = localhost:9464\n",
     ":9: listen: 'localhost:9464' is not IPV4:PORT or [IPV6]:PORT"},
    {MIN "[http]\nlisten = 127.0.0.1\n", ":9: listen: '127.0.0.1' is not IPV4:PORT or [IPV6]:PORT"},
    {MIN "[http]\nlisten = 127.0.0.1:65536\n",
     ":9: listen: '127.0.0.1:65536' is not IPV4:PORT or [IPV6]:PORT"},
    {MIN "[http]\nlisten = 127.0.0.1:-1\n",
     ":9: listen: '127.0.0.1:-1' is not IPV4:PORT or [IPV6]:PORT"},
    {MIN "[http]\nlisten = ::1:9464\n", ":9: listen: '::1:9464' is not IPV4:PORT or [IPV6]:PORT"},
    {MIN "[http]\nlisten = 0.0.0.0:9464\n",
     ":9: listen: 0.0.0.0:9464 is not a loopback address; /metrics and /healthz have no "
     "authentication (set allow_remote = true to open them anyway)"},
    {MIN "[http]\nlisten = [::]:9464\nallow_remote = false\n",
     ":9: listen: [::]:9464 is not a loopback address; /metrics and /healthz have no "
     "authentication (set allow_remote = true to open them anyway)"},
    {MIN "[http]\nallow_remote = yes\n", ":9: allow_remote: 'yes' is neither true nor false"},
    /* what inih refuses, and lines it cannot hold */
    {MIN "this is not ini\n", ":8: syntax error (expected [section] or name = value)"},
    {MIN "[limits\n", ":8: syntax error (expected [section] or name = value)"},
    {MIN "; "
         "x123456789x123456789x123456789x123456789x123456789x123456789x123456789x123456789"
         "x123456789x123456789x123456789x123456789x123456789x123456789x123456789x123456789"
         "x123456789x123456789x123456789x123456\n",
     ":8: line longer than 198 characters"},
    /* the first error in the file is the one reported */
    {MIN "colour = blue\n[bogus]\n", ":8: unknown option 'colour' in [node]"},
    {MIN "garbage\ncolour = blue\n", ":8: syntax error (expected [section] or name = value)"},
    {MIN "colour = blue\ngarbage\n", ":8: unknown option 'colour' in [node]"},
};

static void test_refusals(void **state)
{
    const char *dir = *state;
    struct config *c;

    /* MIN itself loads, so each refusal is for the change it makes. */
    c = must_load(dir, MIN);
    config_free(&c);
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
        must_refuse(dir, refusals[i].text, refusals[i].want);
}

/* The longest line inih can hold loads; the line test above is one longer. */
static void test_longest_line(void **state)
{
    char text[1024];
    char pad[200];
    struct config *c;

    memset(pad, 'x', sizeof(pad));
    pad[196] = '\0'; /* "; " + 196 = 198 characters */
    snprintf(text, sizeof(text), MIN "; %s\n", pad);
    c = must_load(*state, text);
    config_free(&c);
}

/* Each required [node] option, left out, is named without a line. */
static void test_required(void **state)
{
    static const char *const lines[] = {
        "member = EE\n",   "coalition = tallinn-mechanism\n",     "keys = /k\n", "roster = /r\n",
        "data_dir = /d\n", "client_listen = tcp://127.0.0.1:1\n",
    };
    static const char *const names[] = {"member", "coalition", "keys",
                                        "roster", "data_dir",  "client_listen"};
    const size_t n = sizeof(lines) / sizeof(lines[0]);
    char text[1024], want[64];

    for (size_t skip = 0; skip <= n; skip++) {
        size_t used = (size_t)snprintf(text, sizeof(text), "[node]\n");
        for (size_t i = 0; i < n; i++)
            if (i != skip)
                used += (size_t)snprintf(text + used, sizeof(text) - used, "%s", lines[i]);
        if (skip == n) {
            struct config *c = must_load(*state, text);
            config_free(&c);
            continue;
        }
        snprintf(want, sizeof(want), ": [node] %s is required", names[skip]);
        must_refuse(*state, text, want);
    }
    must_refuse(*state, "", ": [node] member is required");
}

static void test_unreadable(void **state)
{
    char path[4096], err[CONFIG_ERR_MAX], want[4200];
    struct config *c;

    snprintf(path, sizeof(path), "%s/missing/tmbusd.conf", (const char *)*state);
    c = config_load(path, err, sizeof(err));
    assert_null(c);
    snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
    assert_string_equal(err, want);

    /* A directory is not a configuration file either. */
    c = config_load(*state, err, sizeof(err));
    assert_null(c);
    assert_non_null(strstr(err, ": cannot read: "));
}

static void test_find_client(void **state)
{
    struct config *c = must_load(*state, MIN "[client a]\nkey = " K1 "\nrole = poster\n"
                                             "[client b]\nkey = " K2 "\nrole = admin\n");
    uint8_t pk[KEYS_PUBLIC_BYTES];
    const struct config_client *cl;

    memset(pk, 0x02, sizeof(pk));
    cl = config_find_client(c, pk);
    assert_non_null(cl);
    assert_string_equal(cl->name, "b");
    assert_int_equal(cl->role, CONFIG_ROLE_ADMIN);
    memset(pk, 0x01, sizeof(pk));
    cl = config_find_client(c, pk);
    assert_non_null(cl);
    assert_string_equal(cl->name, "a");
    memset(pk, 0x03, sizeof(pk));
    assert_null(config_find_client(c, pk));
    config_free(&c);

    c = must_load(*state, MIN);
    assert_null(config_find_client(c, pk));
    config_free(&c);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(config_role_name(CONFIG_ROLE_READER), "reader");
    assert_string_equal(config_role_name(CONFIG_ROLE_POSTER), "poster");
    assert_string_equal(config_role_name(CONFIG_ROLE_ADMIN), "admin");
    assert_string_equal(config_tlp_name(CONFIG_TLP_CLEAR), "clear");
    assert_string_equal(config_tlp_name(CONFIG_TLP_GREEN), "green");
    assert_string_equal(config_tlp_name(CONFIG_TLP_AMBER), "amber");
    assert_string_equal(config_tlp_name(CONFIG_TLP_AMBER_STRICT), "amber+strict");
    assert_string_equal(config_tlp_name(CONFIG_TLP_RED), "red");
    assert_string_equal(config_tlp_name((enum config_tlp)9), "unknown");
}

/* Loads MIN plus extra and checks whether it may replace old. */
static bool reload_ok(const char *dir, const struct config *old, const char *text, char *err,
                      size_t errlen)
{
    struct config *c = must_load(dir, text);
    bool ok = config_reload_allowed(old, c, err, errlen);

    config_free(&c);
    return ok;
}

/* MIN's [node], with one option's value replaced or added. */
static void node_text(char *text, size_t size, const char *name, const char *value)
{
    static const char *const names[] = {"member", "coalition", "keys",
                                        "roster", "data_dir",  "client_listen"};
    static const char *const values[] = {"EE",
                                         "tallinn-mechanism",
                                         "/etc/tmbus/EE.key",
                                         "/etc/tmbus/roster.bin",
                                         "/var/lib/tmbus/EE",
                                         "tcp://127.0.0.1:7102"};
    size_t used = (size_t)snprintf(text, size, "[node]\n");
    bool replaced = false;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        bool is_it = strcmp(names[i], name) == 0;
        used += (size_t)snprintf(text + used, size - used, "%s = %s\n", names[i],
                                 is_it ? value : values[i]);
        replaced |= is_it;
    }
    if (!replaced)
        used += (size_t)snprintf(text + used, size - used, "%s = %s\n", name, value);
    assert_true(used < size);
}

static void test_reload(void **state)
{
    static const struct {
        const char *name, *value;
    } fixed[] = {
        {"member", "LV"},
        {"coalition", "other-coalition"},
        {"keys", "/etc/tmbus/EE-new.key"},
        {"data_dir", "/var/lib/tmbus/EE2"},
        {"peer_listen", "tcp://0.0.0.0:7101"},
        {"client_listen", "tcp://127.0.0.1:7103"},
    };
    const char *dir = *state;
    char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX], text[1024];
    struct config *old = must_load(dir, MIN "[client a]\nkey = " K1 "\n");

    /* What SIGHUP may change. */
    err[0] = '\0';
    assert_true(reload_ok(dir, old, MIN "[client a]\nkey = " K1 "\n", err, sizeof(err)));
    assert_true(reload_ok(dir, old, MIN "[limits]\nbatch_max = 17\npeer_timeout_ms = 9000\n", err,
                          sizeof(err)));
    assert_true(reload_ok(dir, old, MIN "log_level = debug\n", err, sizeof(err)));
    assert_true(
        reload_ok(dir, old, MIN "[peers]\ndial = LV\nendpoint.LV = tcp://x:1\n", err, sizeof(err)));
    assert_true(reload_ok(dir, old, MIN "[client b]\nkey = " K3 "\nrole = admin\nclearance = red\n",
                          err, sizeof(err)));
    /* The roster path may change: node.c re-verifies whatever it names. */
    node_text(text, sizeof(text), "roster", "/etc/tmbus/roster-v2.bin");
    assert_true(reload_ok(dir, old, text, err, sizeof(err)));
    assert_string_equal(err, "");

    /* What it may not, each named. */
    node_text(text, sizeof(text), "member", "LV");
    assert_false(reload_ok(dir, old, text, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "%s/tmbusd.conf: [node] member cannot change without a restart (running 'EE', "
             "file 'LV')",
             dir);
    assert_string_equal(err, want);
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        char what[96];
        node_text(text, sizeof(text), fixed[i].name, fixed[i].value);
        err[0] = '\0';
        assert_false(reload_ok(dir, old, text, err, sizeof(err)));
        snprintf(what, sizeof(what), ": [node] %s cannot change without a restart", fixed[i].name);
        if (strstr(err, what) == NULL)
            fail_msg("changing %s: %s", fixed[i].name, err);
    }
    config_free(&old);
}

static void test_example_parses(void **state)
{
    char err[CONFIG_ERR_MAX];
    struct config *c = config_load(EXAMPLE_CONF, err, sizeof(err));

    (void)state;
    if (c == NULL)
        fail_msg("%s", err);
    assert_string_equal(c->member, "EE");
    assert_string_equal(c->coalition, "tallinn-mechanism");
    assert_string_equal(c->peer_listen, "tcp://0.0.0.0:7101");
    assert_true(c->dial_all);
    assert_int_equal(c->n_dial_only, 1);
    assert_string_equal(c->dial_only[0], "UA");
    assert_int_equal(c->n_endpoint_overrides, 1);
    assert_string_equal(c->override_member[0], "PL");
    assert_int_equal(c->n_clients, 2);
    assert_string_equal(c->clients[0].name, "desk1");
    assert_int_equal(c->clients[0].role, CONFIG_ROLE_POSTER);
    assert_int_equal(c->clients[0].clearance, CONFIG_TLP_AMBER);
    assert_int_equal(c->clients[1].role, CONFIG_ROLE_READER);
    config_free(&c);
}

/* Many clients: the client array grows without losing earlier ones. */
static void test_many_clients(void **state)
{
    size_t size = 100 * 1024, used = 0;
    char *text = malloc(size);
    uint8_t pk[KEYS_PUBLIC_BYTES];
    char b64[64];
    struct config *c;

    assert_non_null(text);
    used += (size_t)snprintf(text, size, "%s", MIN);
    for (int i = 0; i < 300; i++) {
        memset(pk, 0, sizeof(pk));
        pk[0] = (uint8_t)(i & 0xff);
        pk[1] = (uint8_t)(i >> 8);
        keys_to_base64(pk, sizeof(pk), b64, sizeof(b64));
        used += (size_t)snprintf(text + used, size - used, "[client c%d]\nkey = %s\n", i, b64);
        assert_true(used < size);
    }
    c = must_load(*state, text);
    assert_int_equal(c->n_clients, 300);
    pk[0] = 7;
    pk[1] = 0;
    assert_string_equal(config_find_client(c, pk)->name, "c7");
    pk[0] = 299 & 0xff;
    pk[1] = 299 >> 8;
    assert_string_equal(config_find_client(c, pk)->name, "c299");
    config_free(&c);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dial_none_and_empty_peer_listen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_longest_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_client, setup, teardown),
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test(test_example_parses),
        cmocka_unit_test_setup_teardown(test_many_clients, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
