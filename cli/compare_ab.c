/*
 * `localfit compare --ab OLD NEW [bench options]`: the drift-immune A/B
 * gate. Runs `OLD bench ...` and `NEW bench ...` as child processes,
 * alternating in ABBA order (A B, B A, A B, ...) so that machine drift -
 * a neighbour's compile starting, heat, a frequency step - lands on both
 * builds alike, each side into its own temporary database (the two builds
 * may have different schemas). Then it pairs the invocations and judges
 * every test with lf_compare_paired (bench.h, section 3).
 *
 * A build is named by the path of an executable; a build that needs an
 * environment (LOCALFIT_ISA=scalar, say) is a two-line wrapper script:
 *     #!/bin/sh
 *     LOCALFIT_ISA=scalar exec /path/to/localfit "$@"
 * The temporary directory is removed afterwards.
 */
#include "cli/compare_ab.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Invocation k (0-based) of the ABBA sequence runs A when true. Pair j is
 * invocations 2j and 2j+1; even pairs start with A, odd pairs with B. */
static bool runs_a(int k) {
    bool a_first = (k / 2) % 2 == 0;
    return (k % 2 == 0) == a_first;
}

/* Runs `bin bench ARGS --db db --label label --quiet [--probe quick]` with
 * stdout to /dev/null; 0, or LF_ETOOL with the exit status. */
static int run_bench(const char *bin, int n_args, char **args, const char *db, const char *label,
                     lf_error *err) {
    bool has_probe = false;
    for (int i = 0; i < n_args; i++)
        has_probe |= !strcmp(args[i], "--probe") || !strncmp(args[i], "--probe=", 8);
    char **argv = calloc((size_t)n_args + 12, sizeof *argv);
    if (!argv)
        return lf_error_set(err, LF_ENOMEM, "compare --ab: out of memory");
    int k = 0;
    argv[k++] = (char *)bin;
    argv[k++] = "bench";
    for (int i = 0; i < n_args; i++)
        argv[k++] = args[i];
    argv[k++] = "--db";
    argv[k++] = (char *)db;
    argv[k++] = "--label";
    argv[k++] = (char *)label;
    argv[k++] = "--quiet";
    /* The roofs do not matter when both builds share the machine and the
     * minute: a quick probe saves measuring bandwidth in each database. */
    if (!has_probe) {
        argv[k++] = "--probe";
        argv[k++] = "quick";
    }
    argv[k] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        free(argv);
        return lf_error_set(err, LF_ETOOL, "compare --ab: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        if (strchr(bin, '/'))
            execv(bin, argv);
        else
            execvp(bin, argv);
        fprintf(stderr, "localfit compare --ab: cannot run %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    free(argv);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return lf_error_set(err, LF_ETOOL, "compare --ab: waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        return lf_error_set(err, LF_ETOOL, "compare --ab: '%s bench' exited with status %d (%s)", bin,
                            WEXITSTATUS(status), label);
    return lf_error_set(err, LF_ETOOL, "compare --ab: '%s bench' was killed by signal %d (%s)", bin,
                        WTERMSIG(status), label);
}

/* Every run of db, by label "ab-J", into runs[J] (J < n_pairs). */
static int load_side(const char *db, int n_pairs, lf_run_full *runs, lf_error *err) {
    lf_store *st = NULL;
    /* Writable: an older build leaves its own schema behind (the very case
     * --ab is for), and these temporary files are ours to upgrade. */
    int rc = lf_store_open_path(&st, db, LF_STORE_NOCREATE, err);
    if (rc < 0)
        return rc;
    for (int j = 0; j < n_pairs && rc == 0; j++) {
        char label[32];
        snprintf(label, sizeof label, "ab-%d", j);
        lf_run_filter f = LF_RUN_FILTER_INIT;
        f.label = label;
        f.limit = 1;
        lf_run *list = NULL;
        int n = 0;
        if ((rc = lf_store_runs_list(st, &f, &list, &n, err)) < 0)
            break;
        if (n < 1)
            rc = lf_error_set(err, LF_ENOTFOUND, "compare --ab: run %s missing in %s", label, db);
        else
            rc = lf_store_run_load(st, list[0].id, &runs[j], err);
        free(list);
    }
    lf_store_close(st);
    return rc;
}

static int find_result(const lf_run_full *rf, const lf_result *r) {
    for (int i = 0; i < rf->n_results; i++)
        if (lf_compare_same_test(&rf->results[i], r))
            return i;
    return -1;
}

/* The report from the loaded pairs: one row per test of A's first run,
 * then tests only B ran. */
static int judge(const lf_run_full *ra, const lf_run_full *rb, int n_pairs, const lf_compare_opts *o,
                 lf_compare_report *rep, lf_error *err) {
    int cap = ra[0].n_results + rb[0].n_results;
    rep->rows = calloc((size_t)(cap > 0 ? cap : 1), sizeof *rep->rows);
    lf_ab_pair *pairs = calloc((size_t)n_pairs, sizeof *pairs);
    if (!rep->rows || !pairs) {
        free(pairs);
        return lf_error_set(err, LF_ENOMEM, "compare --ab: out of memory");
    }
    /* A suite is many tests, and one false alarm fails the build: alpha is
     * for the whole suite (Bonferroni over the tests both builds ran). */
    int family = 0;
    for (int i = 0; i < ra[0].n_results; i++)
        family += find_result(&rb[0], &ra[0].results[i]) >= 0;
    lf_compare_opts each = *o;
    if (family > 1)
        each.alpha = o->alpha / family;
    rep->alpha_per_test = each.alpha;
    for (int i = 0; i < ra[0].n_results; i++) {
        const lf_result *t = &ra[0].results[i];
        lf_compare_row *row = &rep->rows[rep->n_rows++];
        row->test = *t;
        lf_compare_test_name(t, row->name, sizeof row->name);
        int m = 0;
        for (int j = 0; j < n_pairs; j++) {
            int ia = find_result(&ra[j], t), ib = find_result(&rb[j], t);
            if (ia < 0 || ib < 0)
                continue;
            pairs[m++] = (lf_ab_pair){ra[j].samples[ia], rb[j].samples[ib], ra[j].n_samples_stored[ia],
                                      rb[j].n_samples_stored[ib], !runs_a(2 * j)};
        }
        if (find_result(&rb[0], t) < 0) {
            row->base_median = t->median;
            row->cand_median = row->ratio = row->ratio_lo = row->ratio_hi = row->p = NAN;
            row->noise = row->min_detect = NAN;
            row->verdict = LF_VERDICT_ONLY_BASELINE;
        } else {
            lf_compare_paired(pairs, m, t->unit, &each, row);
        }
        lf_compare_count(rep, row);
    }
    for (int i = 0; i < rb[0].n_results; i++) {
        const lf_result *t = &rb[0].results[i];
        if (find_result(&ra[0], t) >= 0)
            continue;
        lf_compare_row *row = &rep->rows[rep->n_rows++];
        row->test = *t;
        lf_compare_test_name(t, row->name, sizeof row->name);
        row->cand_median = t->median;
        row->base_median = row->ratio = row->ratio_lo = row->ratio_hi = row->p = NAN;
        row->noise = row->min_detect = NAN;
        row->verdict = LF_VERDICT_ONLY_CANDIDATE;
        lf_compare_count(rep, row);
    }
    free(pairs);
    return 0;
}

static void remove_db(const char *db) {
    char p[PATH_MAX + 8];
    static const char *const tails[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        snprintf(p, sizeof p, "%s%s", db, tails[i]);
        (void)unlink(p);
    }
}

int lf_cli_compare_ab(const char *old_bin, const char *new_bin, int n_args, char **args, int n_pairs,
                      const lf_compare_opts *o, FILE *log, lf_compare_report *rep, lf_error *err) {
    memset(rep, 0, sizeof *rep);
    if (n_pairs < 2 || n_pairs > 256)
        return lf_error_set(err, LF_EINVAL, "compare --ab: --pairs must be 2..256, not %d", n_pairs);
    for (int s = 0; s < 2; s++) {
        const char *bin = s ? new_bin : old_bin;
        if (strchr(bin, '/') && access(bin, X_OK) != 0)
            return lf_error_set(err, LF_ENOTFOUND, "compare --ab: %s is not an executable: %s", bin,
                                strerror(errno));
    }
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX], dba[PATH_MAX + 8], dbb[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/localfit-ab-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return lf_error_set(err, LF_EIO, "compare --ab: cannot create a directory in %s: %s",
                            tmp && *tmp ? tmp : "/tmp", strerror(errno));
    snprintf(dba, sizeof dba, "%s/a.db", dir);
    snprintf(dbb, sizeof dbb, "%s/b.db", dir);
    int rc = 0;
    for (int k = 0; k < 2 * n_pairs && rc == 0; k++) {
        bool a = runs_a(k);
        char label[32];
        snprintf(label, sizeof label, "ab-%d", k / 2);
        if (log)
            fprintf(log, "localfit compare --ab: pair %d/%d: %s\n", k / 2 + 1, n_pairs,
                    a ? "A (baseline build)" : "B (candidate build)");
        rc = run_bench(a ? old_bin : new_bin, n_args, args, a ? dba : dbb, label, err);
    }
    lf_run_full *ra = calloc((size_t)n_pairs * 2, sizeof *ra), *rb = ra ? ra + n_pairs : NULL;
    if (rc == 0 && !ra)
        rc = lf_error_set(err, LF_ENOMEM, "compare --ab: out of memory");
    if (rc == 0 && (rc = load_side(dba, n_pairs, ra, err)) == 0 &&
        (rc = load_side(dbb, n_pairs, rb, err)) == 0) {
        rep->baseline = ra[0].run;
        rep->candidate = rb[0].run;
        rep->opts = *o;
        rep->paired = true;
        rep->n_pairs = n_pairs;
        rep->roof_ratio = rep->base_roof_gbs = rep->cand_roof_gbs = NAN;
        rc = judge(ra, rb, n_pairs, o, rep, err);
    }
    for (int j = 0; ra && j < 2 * n_pairs; j++)
        lf_run_full_free(&ra[j]);
    free(ra);
    remove_db(dba);
    remove_db(dbb);
    (void)rmdir(dir);
    if (rc < 0)
        lf_compare_report_free(rep);
    return rc;
}
