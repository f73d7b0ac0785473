/*
 * The localfit entry point: global options, then dispatch to a subcommand
 * from the table below, git-style. Everything a command does lives in its
 * own cmd_*.c; this file only routes and enforces preconditions.
 */
#include "cli/cli.h"
#include "kernels/kernels.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifndef LF_VERSION
#define LF_VERSION "0.0.0"
#endif
#ifndef LF_DATADIR
#define LF_DATADIR "datasets"
#endif

static const lf_cmd commands[] = {
    {"probe", cmd_probe, 0, "Profile this device: CPU, topology, limits, GPUs, bandwidth, compute"},
    {"gguf", cmd_gguf, LF_CMD_KERNELS, "Inspect GGUF files (info, dump a tensor)"},
    {"kernels", cmd_kernels, LF_CMD_KERNELS, "Benchmark the matrix kernels per type, shape, ISA and threads"},
    {"generate", cmd_generate, LF_CMD_KERNELS, "Generate text with a GGUF model (and LoRA adapters)"},
    {"synth", cmd_synth, LF_CMD_KERNELS, "Synthesize a catalog model in a quantization, optionally as GGUF"},
    {"quality", cmd_quality, LF_CMD_KERNELS, "Perplexity and KL divergence of quantizations against a base"},
    {"bench", cmd_bench, LF_CMD_KERNELS, "Benchmark models x quants x adapters and store the results"},
    {"runs", cmd_runs, 0, "List, show or delete stored runs"},
    {"db", cmd_db, 0, "Check the results database"},
    {"import", cmd_import, 0, "Import llama-bench JSON/JSONL or localfit bundles"},
    {"export", cmd_export, 0, "Export runs as a localfit bundle or CSV"},
    {"compare", cmd_compare, 0, "Compare two runs; exit 1 on a significant regression"},
    {"recommend", cmd_recommend, 0, "Recommend the best-fitting local model for a device"},
    {"sweep", cmd_sweep, LF_CMD_KERNELS, "Every quantization of one model: size, speed, quality"},
    {"report", cmd_report, 0, "Capability report (markdown, HTML, JSON) with plots"},
    {"run", cmd_run, LF_CMD_KERNELS, "Quick start: probe, quick bench, store, recommend, HTML report"},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

int lf_cli_fail(const lf_error *err) {
    /* Messages quote file names, keys and values from untrusted input:
     * escaped so they cannot drive the terminal (common/text.c). */
    char safe[4 * sizeof err->msg];
    fprintf(stderr, "localfit: %s\n",
            err && err->msg[0] ? lf_text_clean(safe, sizeof safe, err->msg, true)
                               : lf_strerror(err ? err->code : LF_EINVAL));
    if (err && err->code == LF_ETOOBIG)
        fprintf(stderr, "localfit: (--force tries anyway)\n");
    return LF_EXIT_FAIL;
}

int lf_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "localfit %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'localfit %s --help'.\n", cmd);
    va_end(ap);
    return LF_EXIT_USAGE;
}

const char *lf_cli_datadir(void) {
    const char *d = getenv("LOCALFIT_DATADIR");
    return d && *d ? d : LF_DATADIR;
}

static void print_help(FILE *f) {
    fprintf(f,
            "usage: localfit [--version] [--help] COMMAND [ARGS]\n\n"
            "Which generative model, at which quantization, with which adapters,\n"
            "runs well on this device - measured, not guessed.\n\n"
            "Commands:\n");
    for (int i = 0; i < n_commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\nRun 'localfit COMMAND --help' for a command's options.\n"
            "Environment: LOCALFIT_DB (database), LOCALFIT_ISA (force a kernel ISA),\n"
            "LOCALFIT_SYSROOT (root for hardware files), NO_COLOR.\n");
}

/* A command's output is its result: one lost to a full disk or a closed
 * pipe must not look like success. Every command's stdout is checked here
 * once it returns (buffered writes fail only at the flush). */
static int stdout_checked(int rc) {
    errno = 0;
    int flushed = fflush(stdout);
    if (flushed == 0 && !ferror(stdout))
        return rc;
    fprintf(stderr, "localfit: cannot write the output to standard output: %s\n",
            errno ? strerror(errno) : "write error");
    return rc == LF_EXIT_OK ? LF_EXIT_FAIL : rc;
}

static const lf_cmd *find_command(const char *name) {
    for (int i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return LF_EXIT_USAGE;
    }
    /* Commands report a bad option themselves, once, naming it
     * (lf_cli_bad_option); getopt's own line would say it twice. */
    opterr = 0;
    const char *name = argv[1];
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("localfit %s\n", LF_VERSION);
        return stdout_checked(LF_EXIT_OK);
    }
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        print_help(stdout);
        return stdout_checked(LF_EXIT_OK);
    }
    if (!strcmp(name, "help")) {
        if (argc > 2) {
            const lf_cmd *c = find_command(argv[2]);
            if (!c) {
                fprintf(stderr, "localfit: '%s' is not a command. See 'localfit help'.\n", argv[2]);
                return LF_EXIT_USAGE;
            }
            char *hargv[] = {(char *)c->name, "--help", NULL};
            return stdout_checked(c->fn(2, hargv));
        }
        print_help(stdout);
        return stdout_checked(LF_EXIT_OK);
    }
    const lf_cmd *c = find_command(name);
    if (!c) {
        fprintf(stderr, "localfit: '%s' is not a command. See 'localfit help'.\n", name);
        return LF_EXIT_USAGE;
    }
    if (c->flags & LF_CMD_KERNELS) {
        lf_error err = {0};
        if (lf_kernels_init(LF_ISA_AUTO_LEVEL, &err) < 0)
            return lf_cli_fail(&err);
    }
    /* The command sees argv[0] = its own name, as getopt expects. */
    return stdout_checked(c->fn(argc - 1, argv + 1));
}
