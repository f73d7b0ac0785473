/*
 * The shared argument layer (cli/args.h): number parsing with ranges, the
 * usable CPU count, and the process's single interrupt flag. The flag is
 * the only mutable global of the CLI: a signal handler can reach nothing
 * else, and a volatile sig_atomic_t is what it may write.
 */
#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
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
