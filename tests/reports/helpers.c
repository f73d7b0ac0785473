/*
 * Test helpers for the reports suites (see helpers.h). Processes are
 * started with posix_spawnp and an explicit argv: no shell is involved, as
 * in the module under test.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

extern char **environ;

char *th_tempdir(const char *tag) {
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/lf-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(tmpl))
        return NULL;
    return strdup(tmpl);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void th_rmtree(const char *path) {
    if (path)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *th_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

bool th_write(const char *path, const char *data, bool executable) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fputs(data, f) >= 0;
    ok &= fclose(f) == 0;
    return ok && (!executable || chmod(path, 0755) == 0);
}

bool th_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int th_run(char *const argv[], const char *out_path, const char *err_path, int timeout_s) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path ? err_path : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e)
        return -1;
    /* A safety limit only (a hung browser must not hang the suite); the
     * tests' verdicts never depend on how long anything took. */
    struct timespec nap = {0, 50 * 1000 * 1000};
    for (long waited_ms = 0;; waited_ms += 50) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0 && errno != EINTR)
            return -1;
        if (waited_ms >= (long)timeout_s * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -2;
        }
        nanosleep(&nap, NULL);
    }
}

char *th_which(const char *prog) {
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char *copy = strdup(path), *save = NULL, *found = NULL;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", d, prog);
        if (access(full, X_OK) == 0)
            found = strdup(full);
    }
    free(copy);
    return found;
}

static int b64val(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

unsigned char *th_base64_decode(const char *s, size_t n, size_t *out_len) {
    if (n % 4)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; out && i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            v[k] = s[i + k] == '=' && i + 4 == n && k >= 2 ? 0 : b64val(s[i + k]);
            if (v[k] < 0) {
                free(out);
                return NULL;
            }
        }
        unsigned x = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        out[o++] = (unsigned char)(x >> 16);
        if (s[i + 2] != '=')
            out[o++] = (unsigned char)(x >> 8);
        if (s[i + 3] != '=')
            out[o++] = (unsigned char)x;
    }
    if (out_len)
        *out_len = o;
    return out;
}

bool th_png_size(const unsigned char *p, size_t n, unsigned *w, unsigned *h) {
    if (n < 24 || memcmp(p, "\x89PNG\r\n\x1a\n", 8) || memcmp(p + 12, "IHDR", 4))
        return false;
    *w = (unsigned)p[16] << 24 | (unsigned)p[17] << 16 | (unsigned)p[18] << 8 | p[19];
    *h = (unsigned)p[20] << 24 | (unsigned)p[21] << 16 | (unsigned)p[22] << 8 | p[23];
    return true;
}

size_t th_count(const char *hay, const char *needle) {
    size_t n = 0, k = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)); p += k)
        n++;
    return n;
}

th_cli *th_cli_new(const char *tag) {
    th_cli *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = th_tempdir(tag))) {
        free(c);
        return NULL;
    }
    snprintf(c->bin, sizeof c->bin, "%s/localfit", LF_BINARY_DIR);
    snprintf(c->db, sizeof c->db, "%s/results.db", c->dir);
    snprintf(c->out, sizeof c->out, "%s/stdout", c->dir);
    snprintf(c->err, sizeof c->err, "%s/stderr", c->dir);
    return c;
}

void th_cli_free(th_cli *c) {
    if (!c)
        return;
    th_rmtree(c->dir);
    free(c->dir);
    free(c);
}

int th_cli_run(th_cli *c, int timeout_s, ...) {
    char *argv[40] = {c->bin};
    int n = 1;
    va_list ap;
    va_start(ap, timeout_s);
    for (char *a; n < 39 && (a = va_arg(ap, char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return th_run(argv, c->out, c->err, timeout_s);
}

th_cli *th_cli_need(void **state) {
    th_cli *c = *state;
    if (!th_exists(c->bin)) {
        print_message("%s not built: skipping\n", c->bin);
        skip();
    }
    return c;
}
