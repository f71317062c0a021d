/*
 * clitest: running the tmbus CLI binary from integration tests and
 * checking what it printed (see clitest.h). Forks and execs the real
 * binary with stdout and stderr in files of the federation's directory;
 * never links the CLI's own code.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clitest.h"

#define OUT_MAX  (1024 * 1024)
#define ARGS_MAX 48

void clitest_run_free(struct clitest_run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

char *clitest_slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf = calloc(1, OUT_MAX + 1);
    size_t n = 0;

    assert_non_null(buf);
    if (fp != NULL) {
        n = fread(buf, 1, OUT_MAX, fp);
        fclose(fp);
    }
    buf[n] = '\0';
    return buf;
}

void clitest_write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

struct fed *clitest_fed_start(size_t n, const char *const ids[], char (*conf)[FED_PATH_MAX])
{
    struct fed *f = fed_new(n, ids);

    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        char text[4 * FED_PATH_MAX];
        snprintf(conf[i], FED_PATH_MAX, "%s/%s-client.conf", fed_dir(f), fed_id(f, i));
        snprintf(text, sizeof(text),
                 "# tmbus client configuration\n[client]\nendpoint = %s\nnode_key = %s\n"
                 "key = %s\n",
                 fed_client_endpoint(f, i), fed_member_pub_path(f, i), fed_client_key_path(f, i));
        clitest_write_file(conf[i], text);
        assert_int_equal(fed_start(f, i), 0);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (i != j)
                assert_int_equal(fed_wait_link(f, i, 0, fed_id(f, j), CLITEST_LINK_MS), 0);
    return f;
}

void clitest_pair_setup(void **state, size_t size)
{
    static const char *const ids[] = {"UA", "EE"};
    struct clitest_pair *p;

    assert_true(size >= sizeof(*p));
    p = calloc(1, size);
    assert_non_null(p);
    *state = p;
    p->f = clitest_fed_start(2, ids, p->conf);
}

int clitest_pair_teardown(void **state)
{
    struct clitest_pair *p = *state;

    if (p == NULL)
        return 0;
    fed_free(&p->f);
    free(p);
    *state = NULL;
    return 0;
}

void clitest_run_signal(struct fed *f, struct clitest_run *r, const char *in_path, int sig,
                        int sig_after_ms, const char *const argv[])
{
    char out_path[FED_PATH_MAX], err_path[FED_PATH_MAX];
    const char *args[ARGS_MAX + 2] = {TMBUS_CLI_BIN};
    int64_t start = fed_now_ms();
    bool is_signalled = false;
    int wstatus = 0;
    size_t n = 1;
    pid_t pid;

    for (; argv[n - 1] != NULL; n++) {
        assert_true(n <= ARGS_MAX);
        args[n] = argv[n - 1];
    }
    args[n] = NULL;
    snprintf(out_path, sizeof(out_path), "%s/cli.out", fed_dir(f));
    snprintf(err_path, sizeof(err_path), "%s/cli.err", fed_dir(f));
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int in = open(in_path != NULL ? in_path : "/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        unsetenv("TMBUS_CONFIG");
        fed_exec(args);
        _exit(127);
    }
    for (;;) {
        pid_t w = waitpid(pid, &wstatus, WNOHANG);
        if (w == pid)
            break;
        assert_int_equal(w, 0);
        if (sig != 0 && !is_signalled && fed_now_ms() - start >= fed_ms(sig_after_ms)) {
            kill(pid, sig);
            is_signalled = true;
        }
        if (fed_now_ms() - start > fed_ms(CLITEST_RUN_MS)) {
            kill(pid, SIGKILL);
            waitpid(pid, &wstatus, 0);
            fail_msg("tmbus %s did not finish within %d ms", argv[0], fed_ms(CLITEST_RUN_MS));
        }
        fed_sleep_ms(10);
    }
    r->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    r->out = clitest_slurp(out_path);
    r->err = clitest_slurp(err_path);
}

void clitest_run(struct fed *f, struct clitest_run *r, const char *in_path,
                 const char *const argv[])
{
    clitest_run_signal(f, r, in_path, 0, 0, argv);
}

void clitest_assert_failed(const struct clitest_run *r, int status, const char *substr)
{
    size_t len = strlen(r->err);

    if (r->status != status || strncmp(r->err, "tmbus: ", 7) != 0 || len == 0 ||
        r->err[len - 1] != '\n' || strchr(r->err, '\n') != r->err + len - 1 ||
        strstr(r->err, substr) == NULL)
        fail_msg("expected status %d and one line with '%s'; got status %d, stderr: %s", status,
                 substr, r->status, r->err);
}

void clitest_assert_failed_json(const struct clitest_run *r, int status, const char *code,
                                const char *substr)
{
    size_t len = strlen(r->err);
    json_error_t jerr;
    json_t *e = NULL, *o;

    if (r->status == status && len > 0 && r->err[len - 1] == '\n' &&
        strchr(r->err, '\n') == r->err + len - 1)
        e = json_loads(r->err, 0, &jerr);
    if (e == NULL) {
        fail_msg("expected status %d and one JSON line; got status %d, stderr: %s", status,
                 r->status, r->err);
        return;
    }
    o = json_object_get(e, "error");
    if (!json_is_object(o) || json_integer_value(json_object_get(o, "status")) != status ||
        !json_is_string(json_object_get(o, "code")) ||
        !json_is_string(json_object_get(o, "reason")) ||
        strcmp(json_string_value(json_object_get(o, "code")), code) != 0 ||
        strstr(json_string_value(json_object_get(o, "reason")), substr) == NULL)
        fail_msg("expected {\"error\":{\"code\":\"%s\",\"status\":%d} with '%s'; got: %s", code,
                 status, substr, r->err);
    json_decref(e);
}

void clitest_assert_ok(const struct clitest_run *r)
{
    if (r->status != 0)
        fail_msg("tmbus failed with status %d: %s", r->status, r->err);
}

json_t *clitest_json_of(const struct clitest_run *r)
{
    json_error_t e;
    json_t *j = json_loads(r->out, JSON_REJECT_DUPLICATES, &e);

    if (j == NULL || !json_is_object(j))
        fail_msg("not one JSON object (%s): %s", e.text, r->out);
    return j;
}

bool clitest_is_hex_id(const char *s)
{
    return s != NULL && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

const char *clitest_str_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        fail_msg("field '%s' is not a string", key);
    return json_string_value(v);
}

json_int_t clitest_int_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        fail_msg("field '%s' is not an integer", key);
    return json_integer_value(v);
}

json_t *clitest_wait_on_board(struct fed *f, const char *conf, const char *kind, const char *id)
{
    int64_t deadline = fed_now_ms() + fed_ms(CLITEST_SEEN_MS);
    const char *list = strcmp(kind, "need") == 0 ? "needs" : "offers";

    for (;;) {
        struct clitest_run r = {0};
        CLITEST_RUN(f, &r, "-c", conf, kind, "list", "--json");
        clitest_assert_ok(&r);
        json_t *j = clitest_json_of(&r), *item;
        size_t k;
        json_array_foreach(json_object_get(j, list), k, item)
        {
            if (strcmp(clitest_str_of(item, "id"), id) == 0) {
                json_t *copy = json_deep_copy(item);
                json_decref(j);
                clitest_run_free(&r);
                return copy;
            }
        }
        json_decref(j);
        clitest_run_free(&r);
        if (fed_now_ms() > deadline)
            fail_msg("%s %s never reached the board read with %s", kind, id, conf);
        fed_sleep_ms(200);
    }
}
