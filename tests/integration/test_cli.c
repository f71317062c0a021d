/*
 * Integration: the tmbus CLI, run as a user would run it (the real binary,
 * by path) against real tmbusd nodes. Checks exit statuses, the one-line
 * "tmbus: …" reasons on stderr, and the --json output parsed with jansson:
 * posting needs and offers, reading the board by id prefix, watch resuming
 * at the durable cursor, import's per-line verdicts, export read back by
 * import, keygen whose snippet the node accepts, and the errors for an
 * unreachable node and a refused key, errors as JSON with --json, a
 * recipient not in the roster named, and status as a health check.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* tests/CMakeLists.txt gives every test_cli*.c the path of the binary;
 * without it this test must not build, rather than pass without running. */
#ifndef TMBUS_CLI_BIN
#error "TMBUS_CLI_BIN (the path of the tmbus binary) is not defined"
#endif

#include "clitest.h"

#define UA 0
#define EE 1

struct ctx {
    struct clitest_pair p; /* first: clitest_pair_teardown frees it */
    char need_id[65];      /* the need test_post_and_read posted */
    char offer_id[65];
};

/* ---- setup ------------------------------------------------------------------ */

static int setup(void **state)
{
    clitest_pair_setup(state, sizeof(struct ctx));
    return 0;
}

/* ---- usage and field errors, before any node is asked ---------------------- */

static void test_usage_and_field_errors(void **state)
{
    struct ctx *c = *state;
    struct clitest_run r = {0};

    CLITEST_RUN(c->p.f, &r, "--help");
    clitest_assert_ok(&r);
    assert_non_null(strstr(r.out, "usage: tmbus"));
    clitest_run_free(&r);
    static const char *const helps[][3] = {
        {"need", "post", "--help"},  {"need", "list", "--help"},  {"need", "show", "--help"},
        {"offer", "post", "--help"}, {"offer", "list", "--help"}, {"watch", "--help", NULL},
        {"status", "--help", NULL},  {"import", "--help", NULL},  {"export", "--help", NULL},
        {"keygen", "--help", NULL},  {"need", "--help", NULL},    {"offer", "--help", NULL}};
    for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
        clitest_run(c->p.f, &r, NULL,
                    (const char *const[]){helps[i][0], helps[i][1], helps[i][2], NULL});
        clitest_assert_ok(&r);
        if (strstr(r.out, "usage: tmbus") == NULL)
            fail_msg("%s %s --help printed no usage", helps[i][0], helps[i][1]);
        clitest_run_free(&r);
    }

    CLITEST_RUN(c->p.f, &r, "frobnicate");
    clitest_assert_failed(&r, 64, "unknown command 'frobnicate'");
    clitest_run_free(&r);
    CLITEST_RUN(c->p.f, &r, "status", "--bogus");
    clitest_assert_failed(&r, 64, "unknown option --bogus");
    clitest_run_free(&r);
    CLITEST_RUN(c->p.f, &r, "status");
    clitest_assert_failed(&r, 78, "no client configuration");
    clitest_run_free(&r);

    /* Money is exact: at most two decimals, never negative. */
    static const char *const bad_values[][2] = {{"1.234", "at most two decimals"},
                                                {"-5", "cannot be negative"},
                                                {"12,50", "digits with at most two decimals"},
                                                {"1e3", "digits with at most two decimals"},
                                                {".5", "digits with at most two decimals"}};
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "need", "post", "--title", "T", "--category",
                    "hardware", "--quantity", "1", "--unit", "u", "--value-eur", bad_values[i][0],
                    "--priority", "high", "--tlp", "amber");
        clitest_assert_failed(&r, 64, bad_values[i][1]);
        clitest_run_free(&r);
    }
    /* A bad enum value lists the allowed ones. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "need", "post", "--title", "T", "--category",
                "hardwar", "--quantity", "1", "--unit", "u", "--value-eur", "1", "--priority",
                "high", "--tlp", "amber");
    clitest_assert_failed(&r, 64, "'hardwar' is not one of: software-licences, hardware");
    clitest_run_free(&r);
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "need", "post", "--title", "T", "--category",
                "hardware", "--quantity", "1", "--unit", "u", "--value-eur", "1", "--priority",
                "high", "--tlp", "orange");
    clitest_assert_failed(&r, 64, "amber+strict");
    clitest_run_free(&r);
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "need", "post", "--title", "T");
    clitest_assert_failed(&r, 64, "is required");
    clitest_run_free(&r);
    /* Every need names its sector, and the usage says so. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "need", "post", "--title", "T", "--category",
                "hardware", "--quantity", "1", "--unit", "u", "--value-eur", "1", "--priority",
                "high", "--tlp", "amber");
    clitest_assert_failed(&r, 64, "need post: --sector is required");
    clitest_run_free(&r);
    CLITEST_RUN(c->p.f, &r, "need", "post", "--help");
    clitest_assert_ok(&r);
    assert_non_null(strstr(r.out, "--tlp L --sector S\n"));
    assert_null(strstr(r.out, "[--sector"));
    clitest_run_free(&r);

    /* With --json, the error is one JSON object on stderr: code, status and
     * reason; stdout stays empty. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "--json", "need", "post", "--title", "T");
    clitest_assert_failed_json(&r, 64, "usage", "--category is required");
    assert_string_equal(r.out, "");
    clitest_run_free(&r);
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "need", "list", "--status", "sleeping");
    clitest_assert_failed(&r, 64, "partially_covered");
    clitest_run_free(&r);
}

/* ---- connection errors ------------------------------------------------------ */

static void test_unreachable_and_refused(void **state)
{
    struct ctx *c = *state;
    char conf[FED_PATH_MAX], keys[FED_PATH_MAX], text[4 * FED_PATH_MAX];
    struct clitest_run r = {0};

    /* Nothing listens on port 1. */
    snprintf(conf, sizeof(conf), "%s/nowhere.conf", fed_dir(c->p.f));
    snprintf(text, sizeof(text),
             "[client]\nendpoint = tcp://127.0.0.1:1\nnode_key = %s\nkey = %s\n",
             fed_member_pub_path(c->p.f, UA), fed_client_key_path(c->p.f, UA));
    clitest_write_file(conf, text);
    CLITEST_RUN(c->p.f, &r, "-c", conf, "--timeout", "700", "status");
    clitest_assert_failed(
        &r, 69,
        "cannot reach the node at tcp://127.0.0.1:1 within 700 ms: is tmbusd running "
        "and is node_key its key?");
    clitest_run_free(&r);

    /* A key the node does not know. */
    snprintf(keys, sizeof(keys), "%s/rogue-keys", fed_dir(c->p.f));
    CLITEST_RUN(c->p.f, &r, "keygen", "rogue", keys);
    clitest_assert_ok(&r);
    clitest_run_free(&r);
    snprintf(conf, sizeof(conf), "%s/rogue.conf", fed_dir(c->p.f));
    snprintf(text, sizeof(text), "[client]\nendpoint = %s\nnode_key = %s\nkey = %s/rogue.key\n",
             fed_client_endpoint(c->p.f, UA), fed_member_pub_path(c->p.f, UA), keys);
    clitest_write_file(conf, text);
    CLITEST_RUN(c->p.f, &r, "-c", conf, "--timeout", "3000", "status");
    clitest_assert_failed(&r, 77, "refused");
    clitest_run_free(&r);

    /* A configuration with a mistake names the file and line. */
    snprintf(conf, sizeof(conf), "%s/typo.conf", fed_dir(c->p.f));
    clitest_write_file(conf, "[client]\nendpoint = tcp://127.0.0.1:1\nnodekey = x\n");
    CLITEST_RUN(c->p.f, &r, "-c", conf, "status");
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "typo.conf:3"));
    clitest_run_free(&r);
}

/* ---- keygen: files, modes, and a snippet the node accepts -------------------- */

static void test_keygen_snippet_is_accepted(void **state)
{
    struct ctx *c = *state;
    char dir[FED_PATH_MAX], path[2 * FED_PATH_MAX], conf[FED_PATH_MAX], text[4 * FED_PATH_MAX];
    struct clitest_run r = {0};
    struct stat st;
    char *file, *snippet;
    FILE *fp;

    snprintf(dir, sizeof(dir), "%s/desk-keys", fed_dir(c->p.f));
    CLITEST_RUN(c->p.f, &r, "keygen", "desk2", dir);
    clitest_assert_ok(&r);
    snippet = strstr(r.out, "[client desk2]\nkey = ");
    assert_non_null(snippet);
    snippet = strdup(snippet);
    assert_non_null(snippet);
    clitest_run_free(&r);

    snprintf(path, sizeof(path), "%s/desk2.key", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    file = clitest_slurp(path);
    assert_non_null(strstr(file, "\nkind = client-secret\ntransport-public = "));
    assert_non_null(strstr(file, "\ntransport-secret = "));
    free(file);
    snprintf(path, sizeof(path), "%s/desk2.pub", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    file = clitest_slurp(path);
    assert_non_null(strstr(file, "\nkind = client-public\ntransport-public = "));
    assert_null(strstr(file, "secret ="));
    free(file);

    /* Never over an existing pair. */
    CLITEST_RUN(c->p.f, &r, "keygen", "desk2", dir);
    clitest_assert_failed(&r, 1, "refusing to overwrite");
    clitest_run_free(&r);
    CLITEST_RUN(c->p.f, &r, "keygen", "../escape", dir);
    clitest_assert_failed(&r, 64, "bad client name");
    clitest_run_free(&r);

    /* The printed section goes into EE's configuration as is. */
    fp = fopen(fed_conf_path(c->p.f, EE), "a");
    assert_non_null(fp);
    fprintf(fp, "\n%s", snippet);
    fclose(fp);
    free(snippet);
    long mark = fed_log_mark(c->p.f, EE);
    assert_int_equal(fed_reload(c->p.f, EE), 0);
    (void)mark;
    snprintf(conf, sizeof(conf), "%s/desk2.conf", fed_dir(c->p.f));
    snprintf(text, sizeof(text), "[client]\nendpoint = %s\nnode_key = %s\nkey = %s/desk2.key\n",
             fed_client_endpoint(c->p.f, EE), fed_member_pub_path(c->p.f, EE), dir);
    clitest_write_file(conf, text);
    int64_t deadline = fed_now_ms() + CLITEST_SEEN_MS;
    for (;;) {
        CLITEST_RUN(c->p.f, &r, "-c", conf, "--timeout", "2000", "status", "--json");
        if (r.status == 0)
            break;
        if (fed_now_ms() > deadline)
            fail_msg("the node never admitted the keygen key: %s", r.err);
        clitest_run_free(&r);
        fed_sleep_ms(300);
    }
    json_t *j = clitest_json_of(&r);
    assert_string_equal(clitest_str_of(j, "member"), "EE");
    json_decref(j);
    clitest_run_free(&r);
}

/* ---- needs and offers -------------------------------------------------------- */

static void test_post_and_read(void **state)
{
    struct ctx *c = *state;
    struct clitest_run r = {0};
    json_t *j, *need, *offer;
    char prefix[9];

    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "--json", "need", "post", "--title",
                "Firewall appliances", "--category", "hardware", "--quantity", "5", "--unit",
                "devices", "--value-eur", "12000.5", "--priority", "high", "--tlp", "amber",
                "--deadline", "2030-02-28", "--beneficiary", "Regional energy operator", "--sector",
                "energy", "--description", "For five substations", "--contact", "desk@cert.example",
                "--all");
    clitest_assert_ok(&r);
    j = clitest_json_of(&r);
    assert_true(clitest_is_hex_id(clitest_str_of(j, "id")));
    strcpy(c->need_id, clitest_str_of(j, "id"));
    json_decref(j);
    clitest_run_free(&r);

    /* A recipient that is not a roster member is named. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "need", "post", "--title", "Typo", "--category",
                "training", "--quantity", "3", "--unit", "days", "--value-eur", "300", "--priority",
                "low", "--tlp", "green", "--sector", "government", "--to", "EE,XX");
    clitest_assert_failed(&r, 1, "a recipient is not a roster member: XX");
    clitest_run_free(&r);

    /* need show tells people when the need was posted, in ISO 8601 UTC. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "need", "show", c->need_id);
    clitest_assert_ok(&r);
    {
        const char *at = strstr(r.out, "created");
        int y, mo, d, h, mi, s;
        char z = 0;
        assert_non_null(at);
        at += strlen("created");
        assert_int_equal(sscanf(at, " %4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &z), 7);
        assert_int_equal(z, 'Z');
    }
    clitest_run_free(&r);

    /* Plain output is the id alone. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "need", "post", "--title", "Second need",
                "--category", "training", "--quantity", "3", "--unit", "days", "--value-eur", "300",
                "--priority", "low", "--tlp", "green", "--beneficiary", "Ministry", "--sector",
                "government", "--to", "UA,EE");
    clitest_assert_ok(&r);
    assert_int_equal(strlen(r.out), 65);
    clitest_run_free(&r);

    /* EE reads it by a prefix, with every field as posted. */
    need = clitest_wait_on_board(c->p.f, c->p.conf[EE], "need", c->need_id);
    assert_string_equal(clitest_str_of(need, "owner"), "UA");
    assert_string_equal(clitest_str_of(need, "value_eur"), "12000.50");
    assert_string_equal(clitest_str_of(need, "category"), "hardware");
    assert_string_equal(clitest_str_of(need, "tlp"), "amber");
    assert_string_equal(clitest_str_of(need, "deadline"), "2030-02-28");
    assert_string_equal(clitest_str_of(need, "status"), "open");
    assert_int_equal(clitest_int_of(need, "quantity"), 5);
    json_decref(need);

    memcpy(prefix, c->need_id, 8);
    prefix[8] = '\0';
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[EE], "need", "show", prefix, "--json");
    clitest_assert_ok(&r);
    j = clitest_json_of(&r);
    assert_string_equal(clitest_str_of(json_object_get(j, "need"), "id"), c->need_id);
    assert_true(json_is_array(json_object_get(j, "offers")));
    json_decref(j);
    clitest_run_free(&r);
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[EE], "need", "show", prefix);
    clitest_assert_ok(&r);
    assert_non_null(strstr(r.out, "Firewall appliances"));
    clitest_run_free(&r);
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[EE], "need", "list");
    clitest_assert_ok(&r);
    assert_non_null(strstr(r.out, "COVERAGE"));
    assert_non_null(strstr(r.out, "0/5"));
    clitest_run_free(&r);

    /* Unknown, too short and not hex. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[EE], "need", "show", "0000000000");
    clitest_assert_failed(&r, 1, "unknown need id");
    clitest_run_free(&r);
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[EE], "need", "show", "abc");
    clitest_assert_failed(&r, 64, "at least 8");
    clitest_run_free(&r);

    /* EE, a donor, answers; the offer reaches UA's board. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[EE], "--json", "offer", "post", "--need", prefix,
                "--quantity", "2", "--value-eur", "4800", "--description",
                "Two appliances, with support", "--delivery-date", "2030-01-15");
    clitest_assert_ok(&r);
    j = clitest_json_of(&r);
    assert_true(clitest_is_hex_id(clitest_str_of(j, "id")));
    strcpy(c->offer_id, clitest_str_of(j, "id"));
    json_decref(j);
    clitest_run_free(&r);
    offer = clitest_wait_on_board(c->p.f, c->p.conf[UA], "offer", c->offer_id);
    assert_string_equal(clitest_str_of(offer, "donor"), "EE");
    assert_string_equal(clitest_str_of(offer, "need"), c->need_id);
    assert_string_equal(clitest_str_of(offer, "value_eur"), "4800.00");
    assert_string_equal(clitest_str_of(offer, "tlp"), "amber"); /* the need's, by default */
    assert_string_equal(clitest_str_of(offer, "status"), "proposed");
    json_decref(offer);
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "offer", "list", "--need", c->need_id, "--json");
    clitest_assert_ok(&r);
    j = clitest_json_of(&r);
    assert_int_equal(json_array_size(json_object_get(j, "offers")), 1);
    json_decref(j);
    clitest_run_free(&r);

    /* An offer for a need nobody posted. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[EE], "offer", "post", "--need", "ffffffff00",
                "--quantity", "1", "--value-eur", "1", "--description", "x");
    clitest_assert_failed(&r, 1, "unknown need id");
    clitest_run_free(&r);
    /* A donor may not post needs: the node says why. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[EE], "need", "post", "--title", "T", "--category",
                "hardware", "--quantity", "1", "--unit", "u", "--value-eur", "1", "--priority",
                "high", "--tlp", "amber", "--beneficiary", "B", "--sector", "energy");
    clitest_assert_failed(&r, 77, "the node refused: ");
    clitest_run_free(&r);

    /* status names the member and the peer link. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "status", "--json");
    clitest_assert_ok(&r);
    j = clitest_json_of(&r);
    assert_string_equal(clitest_str_of(j, "member"), "UA");
    assert_int_equal(clitest_int_of(j, "roster_version"), 1);
    assert_string_equal(clitest_str_of(json_array_get(json_object_get(j, "peers"), 0), "member"),
                        "EE");
    assert_true(json_is_object(json_object_get(j, "counters")));
    json_decref(j);
    clitest_run_free(&r);
}

/* ---- watch ------------------------------------------------------------------- */

/* Reads stdout as JSON lines into an array (the caller decrefs). */
static json_t *json_lines(const struct clitest_run *r)
{
    json_t *all = json_array();
    const char *p = r->out;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        json_error_t e;
        assert_non_null(nl);
        json_t *j = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, &e);
        if (j == NULL)
            fail_msg("not a JSON line (%s): %.*s", e.text, (int)(nl - p), p);
        json_array_append_new(all, j);
        p = nl + 1;
    }
    return all;
}

static void test_watch_resumes_at_cursor(void **state)
{
    struct ctx *c = *state;
    struct clitest_run r = {0};
    json_t *first, *second, *d;

    /* EE got UA's two needs (and its own offer): one now, the next after. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[EE], "watch", "--json", "--count", "1");
    clitest_assert_ok(&r);
    first = json_lines(&r);
    clitest_run_free(&r);
    assert_int_equal(json_array_size(first), 1);
    d = json_array_get(first, 0);
    assert_string_equal(clitest_str_of(d, "kind"), "need");
    assert_string_equal(clitest_str_of(d, "sender"), "UA");
    assert_string_equal(clitest_str_of(d, "id"), c->need_id);
    assert_string_equal(clitest_str_of(json_object_get(d, "need"), "title"), "Firewall appliances");

    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[EE], "watch", "--json", "--count", "1");
    clitest_assert_ok(&r);
    second = json_lines(&r);
    clitest_run_free(&r);
    assert_int_equal(json_array_size(second), 1);
    /* Acked means never again: the next run starts after it. */
    assert_true(clitest_int_of(json_array_get(second, 0), "number") > clitest_int_of(d, "number"));
    json_decref(first);
    json_decref(second);

    /* A filter, the human format, and a clean stop on SIGTERM. */
    clitest_run_signal(
        c->p.f, &r, NULL, SIGTERM, 1500,
        (const char *const[]){"-c", c->p.conf[UA], "watch", "--kind", "offer", NULL});
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, " EE offer "));
    assert_null(strstr(r.out, " UA need "));
    clitest_run_free(&r);

    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "watch", "--kind", "needs");
    clitest_assert_failed(&r, 64, "need_update");
    clitest_run_free(&r);
}

/* ---- import and export --------------------------------------------------------- */

static void test_import_reports_each_line(void **state)
{
    struct ctx *c = *state;
    char path[FED_PATH_MAX], text[4096];
    struct clitest_run r = {0};

    snprintf(path, sizeof(path), "%s/feed.jsonl", fed_dir(c->p.f));
    snprintf(
        text, sizeof(text),
        "{\"type\":\"need\",\"title\":\"Feed need, \\\"quoted\\\"\",\"category\":\"hardware\","
        "\"quantity\":5,\"unit\":\"devices\",\"value_eur\":\"12000.00\",\"priority\":\"high\","
        "\"tlp\":\"amber\",\"beneficiary\":\"Operator\",\"sector\":\"energy\",\"to\":\"all\"}\n"
        "{\"type\":\"need\",\"title\":\"A\",\"title\":\"B\"}\n"
        "{\"type\":\"need\", broken\n"
        "\n"
        "{\"type\":\"need\",\"title\":\"A\",\"category\":\"hardware\",\"quantity\":1,"
        "\"unit\":\"u\",\"value_eur\":1.5,\"priority\":\"high\",\"tlp\":\"amber\"}\n"
        "{\"type\":\"need\",\"title\":\"A\",\"category\":\"hardwre\",\"quantity\":1,"
        "\"unit\":\"u\",\"value_eur\":\"1\",\"priority\":\"high\",\"tlp\":\"amber\"}\n"
        "{\"type\":\"need\",\"colour\":\"red\"}\n"
        "{\"type\":\"offer\",\"need\":\"%.12s\",\"quantity\":1,\"value_eur\":\"99.99\","
        "\"description\":\"From the feed\"}\n"
        "{\"type\":\"offer\",\"need\":\"ffffffffffff\",\"quantity\":1,\"value_eur\":\"1\","
        "\"description\":\"x\"}\n"
        "{\"type\":\"need\",\"title\":\"Feed need two\",\"category\":\"training\","
        "\"quantity\":2,\"unit\":\"days\",\"value_eur\":\"10\",\"priority\":\"low\","
        "\"tlp\":\"green\",\"beneficiary\":\"Ministry\",\"sector\":\"government\","
        "\"to\":[\"UA\",\"EE\"]}\n",
        c->need_id);
    clitest_write_file(path, text);

    /* Dry run: same verdicts, nothing posted, the need id checked for form. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "import", "--dry-run", path);
    assert_int_equal(r.status, 65);
    assert_non_null(strstr(r.out, "would import 2 needs, 2 offers; rejected 5 lines"));
    clitest_run_free(&r);

    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "import", path);
    if (r.status != 65 || strstr(r.out, "imported 2 needs, 0 offers; rejected 7 lines") == NULL)
        fail_msg("status %d, stdout: %s, stderr: %s", r.status, r.out, r.err);
    static const char *const verdicts[] = {
        "tmbus: line 2: malformed JSON", "duplicate object key", "tmbus: line 3: malformed JSON",
        "tmbus: line 5: field 'value_eur'",
        "tmbus: line 6: field 'category': 'hardwre' is not one of: software-licences",
        "tmbus: line 7: unknown field 'colour'",
        /* UA is the beneficiary: its node refuses its offers. */
        "tmbus: line 8: the node refused: ", "tmbus: line 9: field 'need': unknown need id"};
    for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
        if (strstr(r.err, verdicts[i]) == NULL)
            fail_msg("stderr lacks '%s': %s", verdicts[i], r.err);
    assert_non_null(strstr(r.out, "line 1: need "));
    assert_non_null(strstr(r.out, "line 10: need "));
    clitest_run_free(&r);

    /* From stdin, a clean feed exits 0; --json reports each line. The offer
     * carries at least its (amber) need's label, as every offer must. */
    snprintf(text, sizeof(text),
             "{\"type\":\"offer\",\"need\":\"%s\",\"quantity\":3,\"value_eur\":\"10.5\","
             "\"description\":\"stdin offer\",\"tlp\":\"amber\",\"to\":[\"UA\"]}\n",
             c->need_id);
    clitest_write_file(path, text);
    clitest_run(c->p.f, &r, path,
                (const char *const[]){"-c", c->p.conf[EE], "import", "-", "--json", NULL});
    clitest_assert_ok(&r);
    json_t *lines = json_lines(&r);
    assert_int_equal(json_array_size(lines), 2);
    assert_true(clitest_is_hex_id(clitest_str_of(json_array_get(lines, 0), "id")));
    assert_int_equal(clitest_int_of(json_array_get(lines, 1), "offers"), 1);
    assert_int_equal(clitest_int_of(json_array_get(lines, 1), "rejected"), 0);
    json_decref(lines);
    clitest_run_free(&r);
}

/* A run of needs is posted with many in flight: each line is still
 * reported once, in line order, and a line the node refuses fails alone. */
static void test_import_pipelines_needs(void **state)
{
    enum { N_LINES = 40, BAD_LINE = 17 };
    struct ctx *c = *state;
    char path[FED_PATH_MAX], text[N_LINES * 256], want[64];
    struct clitest_run r = {0};
    size_t off = 0;
    const char *at;

    snprintf(path, sizeof(path), "%s/many.jsonl", fed_dir(c->p.f));
    for (int i = 1; i <= N_LINES; i++)
        off += (size_t)snprintf(
            text + off, sizeof(text) - off,
            "{\"type\":\"need\",\"title\":\"Pipelined %d\",\"category\":\"hardware\","
            "\"quantity\":1,\"unit\":\"u\",\"value_eur\":\"1\",\"priority\":\"low\","
            "\"tlp\":\"green\",\"sector\":\"energy\",\"to\":[\"%s\"]}\n",
            i, i == BAD_LINE ? "XX" : "EE");
    clitest_write_file(path, text);
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "import", path);
    if (r.status != 65 || strstr(r.out, "imported 39 needs, 0 offers; rejected 1 line") == NULL)
        fail_msg("status %d, stdout: %s, stderr: %s", r.status, r.out, r.err);
    snprintf(want, sizeof(want), "tmbus: line %d: ", BAD_LINE);
    assert_non_null(strstr(r.err, want));
    at = r.out;
    for (int i = 1; i <= N_LINES; i++) {
        if (i == BAD_LINE)
            continue;
        snprintf(want, sizeof(want), "line %d: need ", i);
        if ((at = strstr(at, want)) == NULL)
            fail_msg("stdout lacks '%s' in line order: %s", want, r.out);
    }
    clitest_run_free(&r);
}

static void test_export_reads_back(void **state)
{
    struct ctx *c = *state;
    char path[FED_PATH_MAX];
    struct clitest_run r = {0};
    size_t n_needs = 0, n_offers = 0, rows = 0;
    json_t *lines, *item;
    size_t k;

    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "export", "--json");
    clitest_assert_ok(&r);
    lines = json_lines(&r);
    json_array_foreach(lines, k, item)
    {
        const char *type = clitest_str_of(item, "type");
        assert_true(clitest_is_hex_id(clitest_str_of(item, "id")));
        if (strcmp(type, "need") == 0)
            n_needs++;
        else if (strcmp(type, "offer") == 0)
            n_offers++;
        else
            fail_msg("export wrote type '%s'", type);
    }
    assert_true(n_needs >= 3);
    assert_true(n_offers >= 1);
    json_decref(lines);

    /* Import takes back what export wrote. */
    snprintf(path, sizeof(path), "%s/export.jsonl", fed_dir(c->p.f));
    clitest_write_file(path, r.out);
    clitest_run_free(&r);
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "import", "--dry-run", path);
    clitest_assert_ok(&r);
    clitest_run_free(&r);

    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "export", "--csv");
    clitest_assert_ok(&r);
    assert_true(strncmp(r.out, "type,id,member,status,created_at,need,title,", 44) == 0);
    for (const char *p = r.out; (p = strstr(p, "\r\n")) != NULL; p += 2)
        rows++;
    /* One row each, plus the header; the quoted title holds no line break. */
    assert_int_equal(rows, n_needs + n_offers + 1);
    assert_non_null(strstr(r.out, ",\"Feed need, \"\"quoted\"\"\","));
    clitest_run_free(&r);

    /* With --json among the arguments, the error is JSON too. */
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "export", "--csv", "--json");
    clitest_assert_failed_json(&r, 64, "usage", "not both");
    clitest_run_free(&r);
    fed_pass(c->p.f);
}

/* ---- status as a health check ---------------------------------------------- */

/* status shows the node's version and uptime and exits 0 while every
 * peer link is up; once EE stops, 75 with EE named, and in JSON the
 * status still on stdout and a "degraded" error on stderr. Stops EE:
 * runs last. */
static void test_status_health(void **state)
{
    struct ctx *c = *state;
    struct clitest_run r = {0};
    json_t *j;
    long mark;

    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "status", "--json");
    clitest_assert_ok(&r);
    j = clitest_json_of(&r);
    assert_string_equal(clitest_str_of(j, "version"), TMBUS_VERSION_STRING);
    assert_true(clitest_int_of(j, "uptime_s") >= 0);
    json_decref(j);
    clitest_run_free(&r);
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "status");
    clitest_assert_ok(&r);
    assert_non_null(strstr(r.out, "version         " TMBUS_VERSION_STRING "\n"));
    assert_non_null(strstr(r.out, "uptime          "));
    clitest_run_free(&r);

    mark = fed_log_mark(c->p.f, UA);
    assert_int_equal(fed_stop(c->p.f, EE), 0);
    assert_int_equal(fed_wait_log_from(c->p.f, UA, mark, "peer EE: link down", CLITEST_LINK_MS), 0);
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "status");
    clitest_assert_failed(&r, 75, "1 of 1 peer links not up: EE (");
    assert_non_null(strstr(r.out, "member          UA\n"));
    clitest_run_free(&r);
    CLITEST_RUN(c->p.f, &r, "-c", c->p.conf[UA], "status", "--json");
    assert_int_equal(r.status, 75);
    j = clitest_json_of(&r);
    assert_string_equal(clitest_str_of(j, "member"), "UA");
    json_decref(j);
    assert_non_null(strstr(r.err, "\"code\":\"degraded\""));
    clitest_run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_and_field_errors),
        cmocka_unit_test(test_unreachable_and_refused),
        cmocka_unit_test(test_keygen_snippet_is_accepted),
        cmocka_unit_test(test_post_and_read),
        cmocka_unit_test(test_watch_resumes_at_cursor),
        cmocka_unit_test(test_import_reports_each_line),
        cmocka_unit_test(test_import_pipelines_needs),
        cmocka_unit_test(test_export_reads_back),
        cmocka_unit_test(test_status_health),
    };

    return cmocka_run_group_tests(tests, setup, clitest_pair_teardown);
}
