/*
 * Helpers for the reports tests: temporary directories, reading files,
 * running a program with a fixed argv (no shell) and a safety timeout,
 * finding a program in PATH, base64 decoding and PNG header checks —
 * written independently of reports/ so the tests do not grade the module
 * with its own code.
 */
#ifndef LF_TEST_REPORTS_HELPERS_H
#define LF_TEST_REPORTS_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

/* mkdtemp under $TMPDIR or /tmp; returns a malloc'd path or NULL. */
char *th_tempdir(const char *tag);
/* rm -r (nftw); ignores errors. */
void th_rmtree(const char *path);
/* Reads a whole file (NUL-terminated, *len without it); NULL if absent. */
char *th_read(const char *path, size_t *len);
bool th_write(const char *path, const char *data, bool executable);
bool th_exists(const char *path);
/* Runs argv[0] (PATH lookup) with stdout to out_path and stderr to
 * err_path (NULL = /dev/null), stdin from /dev/null. Returns the exit
 * status, 128+signal, -1 if it could not start, -2 on timeout (killed). */
int th_run(char *const argv[], const char *out_path, const char *err_path, int timeout_s);
/* Full path (malloc'd) of an executable in PATH, or NULL. */
char *th_which(const char *prog);
/* Decodes standard base64; returns malloc'd bytes or NULL if invalid. */
unsigned char *th_base64_decode(const char *s, size_t n, size_t *out_len);
/* PNG signature + IHDR; fills width/height. */
bool th_png_size(const unsigned char *p, size_t n, unsigned *w, unsigned *h);
/* Number of non-overlapping occurrences of needle in hay. */
size_t th_count(const char *hay, const char *needle);

/* The built localfit and a scratch folder for a test that runs it with
 * its output in files. */
typedef struct th_cli {
    char bin[4096];                      /* LF_BINARY_DIR/localfit */
    char *dir;                           /* th_tempdir(tag) */
    char db[4200], out[4200], err[4200]; /* dir/results.db, dir/stdout, dir/stderr */
} th_cli;
/* NULL when the folder cannot be made. */
th_cli *th_cli_new(const char *tag);
void th_cli_free(th_cli *c);   /* removes the folder; NULL ok */
/* Runs localfit with the NULL-terminated args, stdout and stderr into
 * c->out and c->err, killed after timeout_s; th_run's status. */
int th_cli_run(th_cli *c, int timeout_s, ...);
/* *state as a th_cli, or skips the test, saying so, when the binary is
 * missing. */
th_cli *th_cli_need(void **state);

#endif
