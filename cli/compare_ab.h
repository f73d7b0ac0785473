/*
 * The A/B mode of `localfit compare` (compare_ab.c): two builds run
 * alternately (ABBA) on the same bench options, judged as pairs.
 *
 *     lf_compare_report rep;
 *     if (lf_cli_compare_ab("old/localfit", "new/localfit", argc, argv, 6, &opts, stderr,
 *                           &rep, &err) < 0) die(err.msg);
 *     lf_compare_write_md(&rep, stdout);
 *     lf_compare_report_free(&rep);
 */
#ifndef LF_CLI_COMPARE_AB_H
#define LF_CLI_COMPARE_AB_H

#include "bench/bench.h"

#include <stdio.h>

/* Runs `old_bin bench ARGS` and `new_bin bench ARGS` n_pairs times each in
 * ABBA order (temporary databases, removed after) and judges every test
 * with lf_compare_paired. log (may be NULL) gets one line per invocation.
 * rep is filled (lf_compare_report_free it) only on success. Returns 0;
 * LF_EINVAL (n_pairs not 2..256), LF_ENOTFOUND (a build is not an
 * executable), LF_ETOOL (a bench invocation failed: its exit status in the
 * message), LF_EIO, LF_ENOMEM, the store's errors. */
int lf_cli_compare_ab(const char *old_bin, const char *new_bin, int n_args, char **args, int n_pairs,
                      const lf_compare_opts *o, FILE *log, lf_compare_report *rep, lf_error *err);

#endif /* LF_CLI_COMPARE_AB_H */
