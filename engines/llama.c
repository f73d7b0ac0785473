/*
 * llama.cpp as a measured engine: builds llama-bench's argument vector for
 * a test, runs it (posix_spawnp, no shell; stdout and stderr captured
 * through pipes; a timeout and the caller's interrupt flag end it), and
 * reads its `-o jsonl` output through the store's llama-bench importer, so
 * a record means the same whether it was imported or measured here.
 */
#include "engines/engines.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

void lf_engine_llama_init(lf_engine_llama *e, const char *path) {
    memset(e, 0, sizeof *e);
    lf_strlcpy(e->path, path && *path ? path : "llama-bench", sizeof e->path);
    e->timeout_s = 600;
    e->have_cpus = sched_getaffinity(0, sizeof e->cpus, &e->cpus) == 0;
}

int lf_engine_llama_pass(lf_engine_llama *e, const char *arg, lf_error *err) {
    if (e->n_pass >= LF_ENGINE_MAX_PASS || strlen(arg) >= sizeof e->pass[0])
        return lf_error_set(err, LF_ERANGE, "llama.cpp: too many or too long arguments to pass on ('%s')",
                            arg);
    lf_strlcpy(e->pass[e->n_pass++], arg, sizeof e->pass[0]);
    return 0;
}

/* KV types both engines have (llama-bench -ctk/-ctv names). */
static bool kv_known(const char *kv) {
    return !strcmp(kv, "f16") || !strcmp(kv, "q8_0") || !strcmp(kv, "f32");
}

bool lf_engine_llama_supports(const lf_result *r) {
    return (r->kind == LF_TEST_PP || r->kind == LF_TEST_TG || r->kind == LF_TEST_PG) &&
           r->n_adapters == 0 && !r->adapter[0] && kv_known(r->kv_type) && r->threads > 0;
}

void lf_engine_test_from_result(const lf_result *r, lf_engine_test *t) {
    memset(t, 0, sizeof *t);
    t->kind = r->kind;
    t->n_prompt = r->kind == LF_TEST_TG ? 0 : r->n_prompt;
    t->n_gen = r->kind == LF_TEST_PP ? 0 : r->n_gen;
    t->n_depth = r->n_depth;
    t->threads = r->threads;
    lf_strlcpy(t->kv_type, r->kv_type, sizeof t->kv_type);
}

void lf_engine_argv_free(char **argv) {
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

int lf_engine_llama_argv(const lf_engine_llama *e, const char *model, const lf_engine_test *t,
                         int reps, char ***out, lf_error *err) {
    *out = NULL;
    bool ok = (t->kind == LF_TEST_PP && t->n_prompt > 0) || (t->kind == LF_TEST_TG && t->n_gen > 0) ||
              (t->kind == LF_TEST_PG && t->n_prompt > 0 && t->n_gen > 0);
    if (!ok || t->threads < 1 || t->n_depth < 0 || reps < 1 || !kv_known(t->kv_type))
        return lf_error_set(err, LF_EINVAL, "llama.cpp: %s p%d n%d d%d t%d kv=%s is not a llama-bench test",
                            lf_test_kind_name(t->kind), t->n_prompt, t->n_gen, t->n_depth, t->threads,
                            t->kv_type);
    char p[16], n[16], pg[40], d[16], th[16], r[16];
    /* pp and tg: the other length 0 so llama-bench runs only this test;
     * pg: -pg alone (with -p 0 -n 0 it runs nothing else) */
    snprintf(p, sizeof p, "%d", t->kind == LF_TEST_PP ? t->n_prompt : 0);
    snprintf(n, sizeof n, "%d", t->kind == LF_TEST_TG ? t->n_gen : 0);
    snprintf(pg, sizeof pg, "%d,%d", t->n_prompt, t->n_gen);
    snprintf(d, sizeof d, "%d", t->n_depth);
    snprintf(th, sizeof th, "%d", t->threads);
    snprintf(r, sizeof r, "%d", reps);
    const char *fixed[24];
    int k = 0;
    fixed[k++] = e->path;
    fixed[k++] = "-m";
    fixed[k++] = model;
    fixed[k++] = "-p";
    fixed[k++] = p;
    fixed[k++] = "-n";
    fixed[k++] = n;
    if (t->kind == LF_TEST_PG) {
        fixed[k++] = "-pg";
        fixed[k++] = pg;
    }
    fixed[k++] = "-d";
    fixed[k++] = d;
    fixed[k++] = "-t";
    fixed[k++] = th;
    fixed[k++] = "-ctk";
    fixed[k++] = t->kv_type;
    fixed[k++] = "-ctv";
    fixed[k++] = t->kv_type;
    fixed[k++] = "-r";
    fixed[k++] = r;
    fixed[k++] = "-o";
    fixed[k++] = "jsonl";
    char **argv = calloc((size_t)(k + e->n_pass + 1), sizeof *argv);
    if (!argv)
        return lf_error_set(err, LF_ENOMEM, "llama.cpp: out of memory");
    for (int i = 0; i < k + e->n_pass; i++) {
        argv[i] = strdup(i < k ? fixed[i] : e->pass[i - k]);
        if (!argv[i]) {
            lf_engine_argv_free(argv);
            return lf_error_set(err, LF_ENOMEM, "llama.cpp: out of memory");
        }
    }
    *out = argv;
    return 0;
}

static bool executable(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0;
}

int lf_engine_llama_check(const lf_engine_llama *e, lf_error *err) {
    if (strchr(e->path, '/')) {
        if (executable(e->path))
            return 0;
        return lf_error_set(err, LF_ENOTFOUND, "llama.cpp: %s: %s", e->path,
                            access(e->path, F_OK) == 0 ? "not an executable file" : "no such file");
    }
    const char *path = getenv("PATH");
    char dir[4096];
    for (const char *p = path ? path : ""; *p;) {
        const char *c = strchr(p, ':');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l > 0 && l + strlen(e->path) + 2 < sizeof dir) {
            snprintf(dir, sizeof dir, "%.*s/%s", (int)l, p, e->path);
            if (executable(dir))
                return 0;
        }
        p += l + (c ? 1 : 0);
    }
    return lf_error_set(err, LF_ENOTFOUND,
                        "llama.cpp: '%s' not found in PATH (give its path: --engine llama.cpp=PATH)",
                        e->path);
}

/* A growable byte buffer for one pipe. */
typedef struct obuf {
    char *p;
    size_t n, cap;
} obuf;

static int obuf_read(obuf *b, int fd) {
    if (b->cap - b->n < 4096) {
        size_t cap = b->cap ? 2 * b->cap : 16384;
        char *q = realloc(b->p, cap);
        if (!q)
            return LF_ENOMEM;
        b->p = q;
        b->cap = cap;
    }
    ssize_t r = read(fd, b->p + b->n, b->cap - b->n - 1);
    if (r < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : LF_EIO;
    b->n += (size_t)r;
    b->p[b->n] = '\0';
    return r == 0 ? 0 : 1;
}

/* The last non-empty line of text (stderr), for the message. */
static void last_line(const obuf *b, char *buf, size_t size) {
    buf[0] = '\0';
    if (!b->p)
        return;
    size_t e = b->n;
    while (e > 0 && (b->p[e - 1] == '\n' || b->p[e - 1] == '\r' || b->p[e - 1] == ' '))
        e--;
    size_t s = e;
    while (s > 0 && b->p[s - 1] != '\n')
        s--;
    lf_text_clean_n(buf, size, b->p + s, e - s, true);
}

/* Runs argv with stdout and stderr captured. Returns 0 with the exit
 * status in *status (or -signal), LF_EINTR / LF_ETOOL (timeout) after
 * killing it, LF_ENOTFOUND when it could not start. */
static int spawn_capture(const lf_engine_llama *e, char **argv, obuf *out, obuf *errb, int *status,
                         lf_error *err) {
    int po[2], pe[2];
    if (pipe(po) < 0)
        return lf_error_set(err, LF_EIO, "llama.cpp: pipe: %s", strerror(errno));
    if (pipe(pe) < 0) {
        close(po[0]);
        close(po[1]);
        return lf_error_set(err, LF_EIO, "llama.cpp: pipe: %s", strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, po[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, pe[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&fa, po[0]);
    posix_spawn_file_actions_addclose(&fa, pe[0]);
    posix_spawn_file_actions_addclose(&fa, po[1]);
    posix_spawn_file_actions_addclose(&fa, pe[1]);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    /* the child inherits the calling thread's CPU affinity: give it the
     * CPUs the engine was set up with for the spawn, then restore ours */
    cpu_set_t mine;
    bool swap = e->have_cpus && sched_getaffinity(0, sizeof mine, &mine) == 0 &&
                sched_setaffinity(0, sizeof e->cpus, &e->cpus) == 0;
    pid_t pid;
    int src = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    if (swap)
        (void)sched_setaffinity(0, sizeof mine, &mine);
    posix_spawn_file_actions_destroy(&fa);
    close(po[1]);
    close(pe[1]);
    if (src != 0) {
        close(po[0]);
        close(pe[0]);
        return lf_error_set(err, src == ENOENT ? LF_ENOTFOUND : LF_ETOOL, "llama.cpp: cannot run %s: %s",
                            argv[0], strerror(src));
    }
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    obuf *bufs[2] = {out, errb};
    int open_fds = 2, rc = 0;
    double t0 = lf_now_s();
    while (open_fds > 0) {
        /* short waits so the interrupt flag and the timeout are seen */
        int pr = poll(fds, 2, 100);
        if (pr < 0 && errno != EINTR) {
            rc = lf_error_set(err, LF_EIO, "llama.cpp: poll: %s", strerror(errno));
            break;
        }
        for (int i = 0; pr > 0 && i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int r = obuf_read(bufs[i], fds[i].fd);
            if (r < 0) {
                rc = lf_error_set(err, r, "llama.cpp: reading its output failed");
                break;
            }
            if (r == 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
        if (rc < 0)
            break;
        if (e->interrupted && *e->interrupted) {
            rc = lf_error_set(err, LF_EINTR, "llama.cpp: interrupted");
            break;
        }
        if (e->timeout_s > 0 && lf_now_s() - t0 > e->timeout_s) {
            rc = lf_error_set(err, LF_ETOOL, "llama.cpp: %s ran longer than %.0f s and was stopped",
                              argv[0], e->timeout_s);
            break;
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    if (rc < 0)
        kill(pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            st = 0;
            break;
        }
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -1;
    return rc;
}

/* Runs one test; appends its result to out. */
static int run_one(const lf_engine_llama *e, const char *model, const lf_engine_test *t, int reps,
                   lf_summarize_fn summarize, lf_run_full *out, lf_error *err) {
    char **argv;
    int rc = lf_engine_llama_argv(e, model, t, reps, &argv, err);
    if (rc < 0)
        return rc;
    obuf ob = {0}, eb = {0};
    int status = 0;
    rc = spawn_capture(e, argv, &ob, &eb, &status, err);
    char line[256];
    last_line(&eb, line, sizeof line);
    if (rc == 0 && status != 0) {
        if (status == 127 && !ob.n)
            rc = lf_error_set(err, LF_ENOTFOUND, "llama.cpp: cannot run %s", e->path);
        else if (status < 0)
            rc = lf_error_set(err, LF_ETOOL, "llama.cpp: %s was killed by signal %d%s%s", e->path, -status,
                              line[0] ? ": " : "", line);
        else
            rc = lf_error_set(err, LF_ETOOL, "llama.cpp: %s exited with status %d%s%s", e->path, status,
                              line[0] ? ": " : "", line);
    }
    lf_run_full one;
    memset(&one, 0, sizeof one);
    if (rc == 0) {
        char name[1100];
        snprintf(name, sizeof name, "llama.cpp: output of %s", e->path);
        rc = lf_store_llama_parse(name, ob.p ? ob.p : "", ob.n, summarize, &one, err);
    }
    /* the record must be the test asked for: a wrapper or another build
     * printing something else must not be stored under this test */
    if (rc == 0) {
        const lf_result *r = &one.results[0];
        if (one.n_results != 1 || r->kind != t->kind || r->n_prompt != t->n_prompt ||
            r->n_gen != t->n_gen || r->n_depth != t->n_depth || r->threads != t->threads)
            rc = lf_error_set(err, LF_EFORMAT,
                              "llama.cpp: %s printed %d record%s, not the one test asked for (%s p%d n%d d%d t%d)",
                              e->path, one.n_results, one.n_results == 1 ? "" : "s", lf_test_kind_name(t->kind),
                              t->n_prompt, t->n_gen, t->n_depth, t->threads);
    }
    if (rc == 0) {
        int k = out->n_results;
        lf_result *a = realloc(out->results, sizeof *a * (size_t)(k + 1));
        if (a)
            out->results = a;
        double **b = realloc(out->samples, sizeof *b * (size_t)(k + 1));
        if (b)
            out->samples = b;
        int *c = realloc(out->n_samples_stored, sizeof *c * (size_t)(k + 1));
        if (c)
            out->n_samples_stored = c;
        if (!a || !b || !c) {
            rc = lf_error_set(err, LF_ENOMEM, "llama.cpp: out of memory");
        } else {
            out->results[k] = one.results[0];
            out->samples[k] = one.samples[0];
            out->n_samples_stored[k] = one.n_samples_stored[0];
            one.samples[0] = NULL;
            out->n_results++;
            if (k == 0)
                out->run = one.run;
        }
    }
    lf_run_full_free(&one);
    free(ob.p);
    free(eb.p);
    lf_engine_argv_free(argv);
    return rc;
}

int lf_engine_llama_run(const lf_engine_llama *e, const char *model, const lf_engine_test *t,
                        int n, int reps, lf_summarize_fn summarize, lf_run_full *out,
                        lf_error *err) {
    memset(out, 0, sizeof *out);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = run_one(e, model, &t[i], reps, summarize, out, err);
    if (rc < 0)
        lf_run_full_free(out);
    return rc;
}
