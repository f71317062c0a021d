/*
 * bench_bundle: how fast an air-gap bundle moves a member's log. Member
 * AA's store is preloaded with n envelopes of its relayed log (addressed to
 * CC, and to BB too with --for-b, so that BB opens each and applies it to
 * its board); BB, which never linked, writes its vector, AA exports a
 * bundle for it and BB imports it with its node stopped, each a real
 * tmbus-admin process. Prints, per round, the bundle's size, each step's
 * time and rate and the import's peak memory; then the medians.
 * Benchmarks only: bounded by n and by ROUND_TIMEOUT_S.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_preload.h"
#include "bench_util.h"
#include "fed.h"

#define PAYLOAD_TAG     "bench-bundle"
#define DEFAULT_N       100000
#define DEFAULT_ROUNDS  3
#define MAX_ROUNDS      20
#define ROUND_TIMEOUT_S 600 /* a step still running then is killed */
#define N_MAX           2000000

extern char **environ;

struct step {
    double seconds;     /* wall */
    double cpu_seconds; /* user + system: what a shared machine's load does not inflate */
    unsigned long maxrss_kib;
};

/* Runs tmbus-admin with argv (NULL-terminated, after the program's name),
 * its output to DIR/admin.log; *out gets its wall time and peak memory.
 * Returns its exit status, or -1. */
static int run_admin(struct fed *f, const char *const *args, struct step *out)
{
    const char *argv[12] = {TMBUS_ADMIN_BIN};
    char log[FED_PATH_MAX + 32];
    posix_spawn_file_actions_t fa;
    struct rusage ru;
    int64_t t0 = fed_now_ms();
    size_t n = 1;
    pid_t pid;
    int st;

    while (args[n - 1] != NULL && n < 11) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    snprintf(log, sizeof(log), "%s/admin.log", fed_dir(f));
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawn(&pid, TMBUS_ADMIN_BIN, &fa, NULL, (char *const *)argv, environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    /* Bounded: a step that runs away is killed. */
    while (wait4(pid, &st, WNOHANG, &ru) == 0) {
        if (fed_now_ms() - t0 > ROUND_TIMEOUT_S * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return -1;
        }
        fed_sleep_ms(5);
    }
    out->seconds = (double)(fed_now_ms() - t0) / 1000.0;
    out->cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    out->maxrss_kib = (unsigned long)ru.ru_maxrss;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct result {
    double bytes;
    struct step vector, export, import;
};

static int one_round(uint32_t n, bool is_for_b, struct result *r)
{
    static const char *const ids[] = {"AA", "BB", "CC"};
    struct fed *f = fed_new(3, ids);
    char vec[FED_PATH_MAX + 32], bun[FED_PATH_MAX + 32];
    struct stat sb;
    int rc = -1;

    if (f == NULL)
        return -1;
    snprintf(vec, sizeof(vec), "%s/bb.tmv", fed_dir(f));
    snprintf(bun, sizeof(bun), "%s/aa-for-bb.tmb", fed_dir(f));
    /* Each node once, so that its store trusts the roster; never linked. */
    for (size_t i = 0; i < 2; i++)
        if (fed_set_dial(f, i, "none") == -1 || fed_start(f, i) == -1 || fed_stop(f, i) != 0)
            goto out;
    if (bench_preload(f, n, is_for_b, PAYLOAD_TAG) == -1)
        goto out;
    {
        const char *const v[] = {"bundle", "vector", "-c", fed_conf_path(f, 1), "--to", "AA",
                                 "--out",  vec,      NULL};
        const char *const x[] = {"bundle", "export", "-c", fed_conf_path(f, 0), "--for", vec,
                                 "--out",  bun,      NULL};
        const char *const i[] = {"bundle", "import", "-c", fed_conf_path(f, 1), bun, NULL};

        if (run_admin(f, v, &r->vector) != 0 || run_admin(f, x, &r->export) != 0 ||
            stat(bun, &sb) != 0 || run_admin(f, i, &r->import) != 0) {
            fprintf(stderr, "bench_bundle: a step failed; see %s/admin.log\n", fed_dir(f));
            goto out;
        }
    }
    r->bytes = (double)sb.st_size;
    fed_pass(f);
    rc = 0;
out:
    fed_free(&f);
    return rc;
}

int main(int argc, char **argv)
{
    double export_rate[MAX_ROUNDS], import_rate[MAX_ROUNDS], rss[MAX_ROUNDS];
    uint32_t n = DEFAULT_N;
    int rounds = DEFAULT_ROUNDS;
    bool is_for_b = false;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--for-b") == 0)
            is_for_b = true;
        else {
            fprintf(stderr,
                    "usage: bench_bundle [-n ENVELOPES] [--rounds R] [--for-b]\n"
                    "       (defaults: %d envelopes for CC only, %d rounds)\n",
                    DEFAULT_N, DEFAULT_ROUNDS);
            return 2;
        }
    }
    if (n == 0 || n > N_MAX || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "bench_bundle: 1..%u envelopes, 1..%d rounds\n", N_MAX, MAX_ROUNDS);
        return 2;
    }
    printf("bench_bundle: %u envelopes of AA's relayed log, %s\n", n,
           is_for_b ? "addressed to BB (opened and applied at import)" : "not addressed to BB");
    for (int k = 0; k < rounds; k++) {
        struct result r = {0};

        if (one_round(n, is_for_b, &r) == -1)
            return 1;
        export_rate[k] = n / r.export.seconds;
        import_rate[k] = n / r.import.seconds;
        rss[k] = (double)r.import.maxrss_kib;
        printf("  round %d: bundle %.1f MiB; vector %.2f s; export %.2f s (%.2f s CPU, %.0f "
               "env/s, peak %lu KiB); import %.2f s (%.2f s CPU, %.0f env/s, peak %lu KiB)\n",
               k + 1, r.bytes / (1024.0 * 1024.0), r.vector.seconds, r.export.seconds,
               r.export.cpu_seconds, export_rate[k], r.export.maxrss_kib, r.import.seconds,
               r.import.cpu_seconds, import_rate[k], r.import.maxrss_kib);
        fflush(stdout);
    }
    printf("median: export %.0f env/s, import %.0f env/s, import peak %.0f KiB\n",
           bench_median(export_rate, (size_t)rounds), bench_median(import_rate, (size_t)rounds),
           bench_median(rss, (size_t)rounds));
    return 0;
}
