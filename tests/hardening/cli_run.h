/*
 * Running the built `localfit` from the hardening tests: a fixed argv
 * through fork + execve (no shell), extra environment entries, stdout and
 * stderr captured whole. Tests skip when the binary is missing.
 */
#ifndef LF_TEST_CLI_RUN_H
#define LF_TEST_CLI_RUN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cli_out {
    int status;        /* exit status, or 128 + signal */
    char *out, *err;   /* NUL-terminated, malloc'd */
    size_t out_len, err_len;
} cli_out;

/* LF_BINARY_DIR/localfit ($LOCALFIT_TEST_CLI instead when set, to run the
 * tests against another build), or NULL when it was not built. */
const char *cli_bin(void);
/* Runs localfit with args (NULL-terminated, without argv[0]); env: extra
 * "K=V" entries (NULL-terminated, may be NULL) added to the current
 * environment. Returns the status (also in *o). */
int cli_run(cli_out *o, const char *const *env, const char *const *args);
/* cli_run with stdout sent to the file at stdout_path (opened for
 * writing, e.g. /dev/full) instead of being captured; o->out stays empty. */
int cli_run_to(cli_out *o, const char *stdout_path, const char *const *env, const char *const *args);
/* cli_run_to as user uid (0: unchanged; the caller must be root to
 * change it): file modes then bind the command as they bind a user. */
int cli_run_as(cli_out *o, const char *stdout_path, unsigned uid, const char *const *env,
               const char *const *args);
void cli_out_free(cli_out *o);
/* Whether the n bytes at p hold a byte sequence a terminal would act on:
 * ESC, another C0 control except \n and \t, DEL, a C1 control (raw or as
 * UTF-8) or a bidi override. Returns the offset of the first, or -1. */
long unsafe_at(const char *p, size_t n);
/* Removes dir and everything below it (no shell). */
void rm_tree(const char *dir);

/* A test's scratch folder (a new /tmp/lf-cli-XXXXXX) and a database path
 * in it, as a cmocka setup and teardown: *state points to a cli_scratch,
 * removed with everything in the folder afterwards. */
typedef struct cli_scratch {
    char dir[64];
    char db[128];      /* dir/results.db, not created */
} cli_scratch;
int cli_scratch_setup(void **state);
int cli_scratch_teardown(void **state);
/* Skips the calling test, saying so, when localfit was not built. */
void cli_need_binary(void);

#endif
