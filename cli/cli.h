/*
 * cli — the `localfit` command: a table of subcommands (main.c), one file
 * per subcommand (cmd_*.c). Commands parse their flags with getopt_long,
 * call the libraries, print results to stdout and progress to stderr, and
 * return the exit status: 0 ok, 1 failure (after printing the lf_error),
 * 2 usage error.
 */
#ifndef LF_CLI_H
#define LF_CLI_H

#include "common/common.h"

#include <stdio.h>

enum { LF_EXIT_OK = 0, LF_EXIT_FAIL = 1, LF_EXIT_USAGE = 2 };

/* Command preconditions, checked by main before the command runs. */
enum {
    LF_CMD_KERNELS = 1 << 0,   /* lf_kernels_init before running */
};

typedef struct lf_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    int flags;
    const char *summary;       /* one line for `localfit help` */
} lf_cmd;

/* Prints "localfit: <msg>" to stderr and returns LF_EXIT_FAIL. */
int lf_cli_fail(const lf_error *err);
/* Prints "localfit CMD: <printf msg>\nTry 'localfit CMD --help'." and
 * returns LF_EXIT_USAGE. */
int lf_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Directory of the shipped datasets (LOCALFIT_DATADIR, else the source
 * tree's datasets/ recorded at build time). */
const char *lf_cli_datadir(void);

#define LF_CMD_DECL(name) int cmd_##name(int argc, char **argv)
LF_CMD_DECL(probe);
LF_CMD_DECL(gguf);
LF_CMD_DECL(kernels);
LF_CMD_DECL(generate);
LF_CMD_DECL(synth);
LF_CMD_DECL(quality);
LF_CMD_DECL(bench);
LF_CMD_DECL(runs);
LF_CMD_DECL(db);
LF_CMD_DECL(import);
LF_CMD_DECL(export);
LF_CMD_DECL(compare);
LF_CMD_DECL(recommend);
LF_CMD_DECL(sweep);
LF_CMD_DECL(report);
LF_CMD_DECL(run);

/* cli/budget.c: the memory budget for lf_model_opts.mem_budget: the
 * probe's usable memory (cgroup limit, MemAvailable) in bytes; 0 (no
 * limit) with force (--force) or when the probe cannot tell. */
uint64_t lf_cli_mem_budget(bool force);
/* cli/budget.c: this machine for the recommender (recommend, sweep): a
 * quick probe with the bandwidth and compute figures of st's profile of it,
 * else measured now and stored in st (when writable). st may be NULL.
 * note (may be NULL) says where the figures came from. */
struct lf_store;
struct lf_device;
int lf_cli_device_stored(struct lf_store *st, struct lf_device *dev, char *note,
                         size_t note_size, lf_error *err);

/* cli/read_text.c: the whole file at path in a heap buffer (caller frees),
 * its length in *len; NULL with err set (LF_EIO naming the file, LF_ENOMEM). */
char *lf_cli_read_text(const char *path, size_t *len, lf_error *err);

#endif /* LF_CLI_H */
