/*
 * The argument layer every command shares (as git's parse-options): whole-
 * string numbers with their ranges checked, the CPU count a command's
 * default thread count comes from, and the one interrupt flag with its
 * handler. Commands turn a failed parse into their usage error (exit 2,
 * lf_cli_usage_error), naming the flag.
 *
 *     int threads = lf_usable_cpus();
 *     if (lf_arg_int(optarg, 1, 4096, &threads) < 0)
 *         return lf_cli_usage_error(cmd, "-t: '%s' is not 1-4096", optarg);
 *     lf_cli_signals saved;
 *     o.interrupted = lf_cli_interrupt_begin(&saved);   // runner polls it
 *     rc = lf_bench_run(&m, &o, &run, &err);
 *     lf_cli_interrupt_end(&saved);
 */
#ifndef LF_CLI_ARGS_H
#define LF_CLI_ARGS_H

#include <signal.h>

struct option;

/* A whole decimal integer in [lo, hi] into *out. Returns 0, or -1 with *out
 * untouched (empty, trailing characters, out of range). */
int lf_arg_int(const char *s, int lo, int hi, int *out);
/* A whole finite number in [lo, hi] into *out; 0 or -1 as lf_arg_int. */
int lf_arg_double(const char *s, double lo, double hi, double *out);

/* The usage error for getopt_long's '?' (main sets opterr = 0, so getopt
 * prints nothing itself): "unknown option '--x'" or "option '--suite' needs
 * a value", naming the option from optopt and argv[optind - 1]. longopts
 * tells which short options take a value. Returns LF_EXIT_USAGE. */
int lf_cli_bad_option(const char *cmd, char *const argv[], const struct option *longopts);

/* CPUs in this process's affinity mask (at least 1): the default thread
 * count of commands that compute. */
int lf_usable_cpus(void);

/* The previous dispositions, restored by lf_cli_interrupt_end. */
typedef struct lf_cli_signals {
    struct sigaction old_int, old_term;
} lf_cli_signals;

/* Installs the handler for SIGINT and SIGTERM: it only sets the process's
 * one interrupt flag, which long runs poll (the bench runner finishes the
 * repetition under way and keeps the run as interrupted). One-shot
 * (SA_RESETHAND): a second Ctrl-C kills at once. Returns the flag. */
volatile sig_atomic_t *lf_cli_interrupt_begin(lf_cli_signals *saved);
/* Restores what lf_cli_interrupt_begin replaced. The flag stays as it is. */
void lf_cli_interrupt_end(const lf_cli_signals *saved);

#endif /* LF_CLI_ARGS_H */
