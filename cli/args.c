/*
 * The shared argument layer (cli/args.h): number parsing with ranges, the
 * usable CPU count, and the process's single interrupt flag. The flag is
 * the only mutable global of the CLI: a signal handler can reach nothing
 * else, and a volatile sig_atomic_t is what it may write.
 */
#include "cli/args.h"
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_interrupted;   /* written by on_signal only */

int lf_arg_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno == ERANGE || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int lf_arg_double(const char *s, double lo, double hi, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int lf_cli_bad_option(const char *cmd, char *const argv[], const struct option *longopts) {
    const char *arg = optind > 0 ? argv[optind - 1] : NULL;
    if (arg && strncmp(arg, "--", 2) == 0 && arg[2]) {
        /* A long option: glibc leaves optopt 0 when the name is unknown (or
         * an ambiguous prefix) and sets it to the option's value when the
         * option is known but its value is missing. */
        char name[128], safe[4 * sizeof name];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
        lf_text_clean(safe, sizeof safe, name, true);   /* argv may hold escapes */
        if (optopt != 0)
            return lf_cli_usage_error(cmd, "option '--%s' needs a value", safe);
        return lf_cli_usage_error(cmd, "unknown option '--%s'", safe);
    }
    /* A short option: optopt is the letter either way; it needs a value
     * when a long option with that value takes one. */
    for (const struct option *o = longopts; o && o->name; o++)
        if (o->val == optopt && o->has_arg == required_argument && optopt > 0)
            return lf_cli_usage_error(cmd, "option '-%c' needs a value", optopt);
    if (optopt > 32 && optopt < 127)
        return lf_cli_usage_error(cmd, "unknown option '-%c'", optopt);
    return lf_cli_usage_error(cmd, "unknown option");
}

int lf_usable_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return 1;
}

static void on_signal(int sig) {
    (void)sig;
    g_interrupted = 1;
}

volatile sig_atomic_t *lf_cli_interrupt_begin(lf_cli_signals *saved) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = (int)SA_RESETHAND;   /* a second Ctrl-C kills at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &saved->old_int);
    sigaction(SIGTERM, &sa, &saved->old_term);
    return &g_interrupted;
}

void lf_cli_interrupt_end(const lf_cli_signals *saved) {
    sigaction(SIGINT, &saved->old_int, NULL);
    sigaction(SIGTERM, &saved->old_term, NULL);
}
