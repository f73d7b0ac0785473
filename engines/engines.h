/*
 * engines — other inference engines measured beside localfit. Today one:
 * llama.cpp, through its own `llama-bench` binary, so a llama-bench built
 * for CUDA, Metal or Vulkan measures the user's GPU through the engine they
 * really run, on the same tests (pp, tg, depth, threads, KV type) as
 * localfit's, and the results join the same run with engine "llama.cpp".
 *
 * The binary is started with an argument vector (posix_spawnp: no shell
 * ever sees a path), its stdout read as `-o jsonl` and parsed by the
 * store's llama-bench importer (lf_store_llama_parse), its stderr kept for
 * the message when it fails. A run is bounded by a timeout and stops when
 * the caller's interrupt flag is set (the child is killed).
 *
 * Catalog models and shapes exist only in memory in localfit; llama.cpp
 * needs a file, so lf_engine_model_file synthesizes the same weights (same
 * parameters, mix and seed) once into a cache file whose name carries a
 * hash of all of them: a different shape or seed never reuses a file.
 *
 * Usage:
 *     lf_engine_llama e;
 *     lf_engine_llama_init(&e, "llama-bench");      // or a path
 *     if (lf_engine_llama_check(&e, &err) < 0) warn(err.msg);  // missing binary
 *     lf_engine_test t = {LF_TEST_TG, 0, 128, 0, 4, "f16"};
 *     lf_run_full out;
 *     if (lf_engine_llama_run(&e, "model.gguf", &t, 1, 1, NULL, &out, &err) == 0) {
 *         ... out.results[0] (engine "llama.cpp"), out.samples[0] ...
 *         lf_run_full_free(&out);
 *     }
 *
 * Never calls: bench/, recommend/, reports/, cli/ (they are above).
 */
#ifndef LF_ENGINES_H
#define LF_ENGINES_H

#include "common/common.h"
#include "model/model.h"
#include "store/store.h"

#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#define LF_ENGINE_LOCALFIT "localfit"
#define LF_ENGINE_LLAMA "llama.cpp"

/* Most arguments passed through to llama-bench (-ngl 99, -fa 1 ...). */
#define LF_ENGINE_MAX_PASS 16

typedef struct lf_engine_llama {
    char path[1024];             /* llama-bench: a path, or a name looked up in PATH */
    double timeout_s;            /* per invocation; 0 = none (default 600) */
    volatile sig_atomic_t *interrupted;   /* polled while it runs; NULL none */
    char pass[LF_ENGINE_MAX_PASS][64];    /* extra arguments, in order */
    int n_pass;
    /* The CPUs llama-bench may use: the calling thread's when
     * lf_engine_llama_init ran (before localfit pinned it to one core for
     * its own pools; a child started from a pinned thread would inherit
     * the pin and run all its threads on that core). */
    cpu_set_t cpus;
    bool have_cpus;
} lf_engine_llama;

/* One test as llama-bench runs it. */
typedef struct lf_engine_test {
    lf_test_kind kind;           /* LF_TEST_PP, LF_TEST_TG or LF_TEST_PG */
    int n_prompt, n_gen;         /* tokens (pp: n_prompt, tg: n_gen, pg: both) */
    int n_depth;                 /* tokens already in the KV cache */
    int threads;
    char kv_type[16];            /* "f16", "q8_0", "f32": -ctk and -ctv */
} lf_engine_test;

/* path as given ("" or NULL: "llama-bench"), timeout 600 s, nothing
 * passed, the calling thread's CPUs for llama-bench. */
void lf_engine_llama_init(lf_engine_llama *e, const char *path);
/* Appends one argument for llama-bench. LF_ERANGE when full or too long. */
int lf_engine_llama_pass(lf_engine_llama *e, const char *arg, lf_error *err);

/* Whether a localfit test has a llama-bench equivalent: pp, tg or pg,
 * without adapters, with a KV type llama-bench takes. */
bool lf_engine_llama_supports(const lf_result *r);
/* The test of r as llama-bench runs it (r must be supported). */
void lf_engine_test_from_result(const lf_result *r, lf_engine_test *t);

/* The argument vector for one invocation: the binary, -m model, the test
 * (-p/-n or -pg, -d, -t, -ctk/-ctv), -r reps, -o jsonl, then e's pass
 * arguments; NULL-terminated. *out is malloc'd (lf_engine_argv_free).
 * LF_EINVAL for an unsupported test, LF_ENOMEM. */
int lf_engine_llama_argv(const lf_engine_llama *e, const char *model, const lf_engine_test *t,
                         int reps, char ***out, lf_error *err);
void lf_engine_argv_free(char **argv);

/* Whether e->path names an executable file (a path with '/', else found in
 * PATH). LF_ENOTFOUND naming it otherwise. */
int lf_engine_llama_check(const lf_engine_llama *e, lf_error *err);

/* Runs the tests t[0..n) on model (a GGUF file llama.cpp can load), reps
 * repetitions each, one invocation per test, and parses the output into
 * out (lf_run_full_free it): one result per test, in order, with its
 * samples, engine "llama.cpp". summarize fills the CI (NULL: none).
 * Failures, with what and why in err: LF_ENOTFOUND (no such binary),
 * LF_ETOOL (it failed: exit status or signal and the last line of its
 * stderr; or it ran past the timeout and was killed), LF_EFORMAT (output
 * that is not llama-bench's JSON, or a record for another test),
 * LF_EINTR (interrupted: the child was killed), LF_ENOMEM, LF_EIO. On
 * failure out is empty. */
int lf_engine_llama_run(const lf_engine_llama *e, const char *model, const lf_engine_test *t,
                        int n, int reps, lf_summarize_fn summarize, lf_run_full *out,
                        lf_error *err);

/* The directory of cached model files: $XDG_CACHE_HOME/localfit/models,
 * else ~/.cache/localfit/models (not created). LF_ENOTFOUND without a
 * home directory, LF_ERANGE when buf is too small. */
int lf_engine_cache_dir(char *buf, size_t size, lf_error *err);
/* A GGUF file holding exactly the weights lf_model_synth(hp, mix, seed)
 * makes, for an engine that needs a file: DIR/NAME-MIX-HASH.gguf with
 * HASH over every parameter, the mix and the seed; written once (to a
 * temporary name, then renamed, so a crash never leaves half a file) and
 * reused after. dir NULL: lf_engine_cache_dir. *created says whether it
 * was written now. LF_EIO naming the file, the synthesizer's errors. */
int lf_engine_model_file(const char *dir, const lf_model_params *hp, lf_mix mix, uint64_t seed,
                         char *path, size_t size, bool *created, lf_error *err);

#endif /* LF_ENGINES_H */
