/*
 * fork + execve of the built localfit with captured output (cli_run.h).
 */
#include "cli_run.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

extern char **environ;

const char *cli_bin(void) {
    static char path[4096];
    struct stat st;
    const char *other = getenv("LOCALFIT_TEST_CLI");   /* another build, e.g. an older one */
    if (other && *other)
        snprintf(path, sizeof path, "%s", other);
    else
        snprintf(path, sizeof path, "%s/localfit", LF_BINARY_DIR);
    return stat(path, &st) == 0 ? path : NULL;
}

static char *slurp_fd(int fd, size_t *len) {
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (n + 1 >= cap)
            b = realloc(b, cap *= 2);
        ssize_t r = read(fd, b + n, cap - n - 1);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    b[n] = '\0';
    *len = n;
    return b;
}

int cli_run(cli_out *o, const char *const *env, const char *const *args) {
    return cli_run_to(o, NULL, env, args);
}

int cli_run_to(cli_out *o, const char *stdout_path, const char *const *env, const char *const *args) {
    return cli_run_as(o, stdout_path, 0, env, args);
}

int cli_run_as(cli_out *o, const char *stdout_path, unsigned uid, const char *const *env,
               const char *const *args) {
    memset(o, 0, sizeof *o);
    char tout[] = "/tmp/lf-cli-out-XXXXXX", terr[] = "/tmp/lf-cli-err-XXXXXX";
    int fo = mkstemp(tout), fe = mkstemp(terr);
    unlink(tout);
    unlink(terr);
    int n_env = 0, n_args = 0;
    while (environ[n_env])
        n_env++;
    for (int i = 0; env && env[i]; i++)
        n_env++;
    while (args[n_args])
        n_args++;
    char **argv = calloc((size_t)n_args + 2, sizeof *argv);
    char **envp = calloc((size_t)n_env + 1, sizeof *envp);
    argv[0] = (char *)cli_bin();
    for (int i = 0; i < n_args; i++)
        argv[i + 1] = (char *)args[i];
    int k = 0;
    for (int i = 0; env && env[i]; i++)
        envp[k++] = (char *)env[i];
    for (int i = 0; environ[i]; i++) {
        /* an extra entry replaces the inherited one */
        const char *eq = strchr(environ[i], '=');
        size_t kl = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
        bool dup = false;
        for (int j = 0; env && env[j]; j++)
            dup |= strncmp(env[j], environ[i], kl) == 0;
        if (!dup)
            envp[k++] = environ[i];
    }
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        int so = stdout_path ? open(stdout_path, O_WRONLY) : fo;
        dup2(so, 1);
        dup2(fe, 2);
        if (uid && (setgid(uid) != 0 || setuid(uid) != 0))
            _exit(126);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    o->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    o->out = slurp_fd(fo, &o->out_len);
    o->err = slurp_fd(fe, &o->err_len);
    close(fo);
    close(fe);
    free(argv);
    free(envp);
    return o->status;
}

void cli_out_free(cli_out *o) {
    free(o->out);
    free(o->err);
    memset(o, 0, sizeof *o);
}

long unsafe_at(const char *p, size_t n) {
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) {
        unsigned c = u[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            return (long)i;
        /* a raw C1 byte: in UTF-8 such a byte only ever follows another
         * byte >= 0x80 (as a continuation) */
        if (c >= 0x80 && c <= 0x9f && (i == 0 || u[i - 1] < 0x80))
            return (long)i;
        if (c == 0xc2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)
            return (long)i;
        if (c == 0xe2 && i + 2 < n && u[i + 1] == 0x80 && u[i + 2] >= 0xaa && u[i + 2] <= 0xae)
            return (long)i;
        if (c == 0xe2 && i + 2 < n && u[i + 1] == 0x81 && u[i + 2] >= 0xa6 && u[i + 2] <= 0xa9)
            return (long)i;
    }
    return -1;
}

void rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            rm_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

int cli_scratch_setup(void **state) {
    cli_scratch *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    snprintf(c->dir, sizeof c->dir, "/tmp/lf-cli-XXXXXX");
    if (!mkdtemp(c->dir)) {
        free(c);
        return -1;
    }
    snprintf(c->db, sizeof c->db, "%s/results.db", c->dir);
    *state = c;
    return 0;
}

int cli_scratch_teardown(void **state) {
    cli_scratch *c = *state;
    rm_tree(c->dir);
    free(c);
    return 0;
}

void cli_need_binary(void) {
    if (!cli_bin()) {
        print_message("localfit not built: skipping\n");
        skip();
    }
}
