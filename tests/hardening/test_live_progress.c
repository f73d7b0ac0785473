/*
 * The live progress display on a real terminal: `localfit bench --progress
 * live` runs on a pseudo-terminal (forkpty), the way a user sees it. The
 * table of each model is redrawn in place; after the run finishes the
 * display is drawn once more, and that last drawing must only show rows the
 * runner still owns (the rows of a finished group were once read after
 * being freed: a garbage first row in a Release build, an abort under
 * ASan, which CI runs this test under). Every row drawn must name a test
 * of the plan, and the run must exit 0.
 *
 * The model is a tiny synthetic one saved as GGUF, so nothing is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli_run.h"
#include "tiny_model.h"
#include "model/model.h"

#include <errno.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[256];
static char g_model[300];

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/lf-hard-pty-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    lf_model_params hp = tiny_model_params("tiny-pty");
    lf_model *m = NULL;
    lf_error err = {0};
    snprintf(g_model, sizeof g_model, "%s/tiny.gguf", g_dir);
    if (lf_model_synth(&m, &hp, LF_MIX_Q8_0, 5, &err) < 0 || lf_model_save_gguf(m, g_model, &err) < 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        lf_model_free(m);
        return -1;
    }
    lf_model_free(m);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rm_tree(g_dir);
    return 0;
}

/* Runs localfit with args on a pseudo-terminal; returns its status and
 * everything it wrote to the terminal (malloc'd) in *out. */
static int run_on_pty(const char *const *args, char **out, size_t *len) {
    int n_args = 0;
    while (args[n_args])
        n_args++;
    char **argv = calloc((size_t)n_args + 2, sizeof *argv);
    argv[0] = (char *)cli_bin();
    for (int i = 0; i < n_args; i++)
        argv[i + 1] = (char *)args[i];
    struct winsize ws = {.ws_row = 40, .ws_col = 160};
    int master = -1;
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    if (pid == 0) {
        setenv("TERM", "xterm", 1);
        setenv("NO_COLOR", "1", 1);
        unsetenv("LINES");
        execv(argv[0], argv);
        _exit(127);
    }
    free(argv);
    assert_true(pid > 0);
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (n + 1 >= cap)
            b = realloc(b, cap *= 2);
        ssize_t r = read(master, b + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;   /* EIO once the child side is closed */
        n += (size_t)r;
    }
    b[n] = 0;
    close(master);
    int st = 0;
    waitpid(pid, &st, 0);
    *out = b;
    *len = n;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Whether a drawn row's name is one of the plan's tests. */
static bool known_row(const char *name) {
    static const char *const ok[] = {"pp16 t1 f16", "tg8 t1 f16", "model_load", "load"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (!strncmp(name, ok[i], strlen(ok[i])))
            return true;
    return false;
}

static void test_live_table_on_pty(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    const char *const args[] = {"bench", "-m", g_model, "-p", "16", "-n", "8", "-t", "1", "--reps", "3", "--probe", "quick",
                                "--no-store", "--progress", "live", NULL};
    char *out = NULL;
    size_t len = 0;
    int status = run_on_pty(args, &out, &len);
    if (status != 0 || strstr(out, "Sanitizer"))
        print_message("localfit on a pty exited %d:\n%s\n", status, out);
    assert_int_equal(status, 0);
    assert_null(strstr(out, "AddressSanitizer"));
    assert_null(strstr(out, "runtime error"));
    /* the live region: each line starts with an erase-line sequence; rows
     * are "  M name ..." with M one of the state marks */
    int rows = 0, headers = 0;
    for (char *p = strstr(out, "\033[2K"); p; p = strstr(p + 1, "\033[2K")) {
        char line[512];
        size_t k = 0;
        for (const char *q = p + 4; *q && *q != '\n' && *q != '\r' && k + 1 < sizeof line; q++)
            line[k++] = *q;
        line[k] = 0;
        if (strstr(line, " tests, ") && strstr(line, " elapsed")) {
            headers++;
            continue;
        }
        if (line[0] == ' ' && line[1] == ' ' && line[2] && strchr(" >*x", line[2]) && line[3] == ' ' &&
            strncmp(line + 4, "...", 3)) {
            char *name = line + 4;
            char *gap = strstr(name, "  ");   /* the name is padded to its column */
            if (gap)
                *gap = 0;
            if (!known_row(name))
                print_message("a drawn row names no test of the plan: '%s'\n", name);
            assert_true(known_row(name));
            rows++;
        }
    }
    if (headers < 2 || rows < 3)
        print_message("%d headers, %d rows in:\n%s\n", headers, rows, out);
    assert_true(headers >= 2);
    assert_true(rows >= 3);
    /* the last header drawn counts every test as finished */
    char *last = NULL;
    for (char *p = strstr(out, "tests, "); p; p = strstr(p + 1, "tests, "))
        last = p;
    assert_non_null(last);
    char *slash = last;
    while (slash > out && *slash != '/')
        slash--;
    char *open = slash;
    while (open > out && open[-1] >= '0' && open[-1] <= '9')
        open--;
    int done = atoi(open), total = atoi(slash + 1);
    assert_true(total >= 2);
    assert_int_equal(done, total);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_table_on_pty),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
