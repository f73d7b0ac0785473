/*
 * `localfit quality` — what each quantization of a model costs: perplexity,
 * ΔPPL, PPL ratio, KL divergence (mean, median, p99, max) and same-top-token
 * rate of every variant against the base on the same tokens, with ± errors,
 * following llama.cpp's perplexity protocol (bench/quality.h). Variants
 * are the base quantized in memory (--quants) or other files (--files).
 * Results to stdout as a table or JSON (schema localfit.quality/1);
 * progress to stderr.
 */
#include "cli/args.h"
#include "cli/cli.h"
#include "bench/quality.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_VARIANTS 64
#define MAX_LORA 16

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit quality -m BASE.gguf (--quants Q8_0,Q4_K_M,... | --files A.gguf [B.gguf ...])\n"
            "                        -f TEXT [--ctx 512] [--chunks N] [--threads N]\n"
            "                        [--lora FILE[:SCALE]]... [--kv f16|q8_0|f32] [--seed S]\n"
            "                        [--generated] [--json] [--force]\n\n"
            "Scores each variant against the base on the same tokens, as llama.cpp's\n"
            "perplexity tool does: windows of --ctx tokens from the tokenized TEXT, BOS\n"
            "first, the second half of each window scored. When the base vocabulary\n"
            "cannot encode text, windows are sampled from the base model instead\n"
            "(reported as token source \"generated\").\n\n"
            "  -m, --model FILE      base model (GGUF; F32/F16 for --quants)\n"
            "  -q, --quants LIST     mixes to quantize the base to in memory, comma-separated\n"
            "                        (F16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L\n"
            "                        Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS)\n"
            "      --files FILE...   variant GGUF files (every further argument too)\n"
            "  -f, --file TEXT       text file to score (required unless --generated)\n"
            "  -c, --ctx N           window length in tokens (default 512)\n"
            "      --chunks N        score at most N windows (default: all; generated: 16)\n"
            "  -t, --threads N       threads (default: all usable CPUs)\n"
            "      --lora FILE[:S]   LoRA adapter applied to base and variants; repeatable\n"
            "      --kv TYPE         KV cache type: f16 (default), q8_0 or f32\n"
            "      --seed S          seed for generated tokens (default 42)\n"
            "      --generated       sample the tokens from the base even if TEXT is usable\n"
            "      --json            JSON instead of the table\n"
            "      --force           run even if the models and their contexts exceed the\n"
            "                        usable memory (otherwise refused, with the sizes)\n"
            "  -h, --help            this help\n");
}

static void progress(void *arg, int done, int total) {
    (void)arg;
    if (done == total || done % 8 == 0)
        fprintf(stderr, "\rquality: window %d/%d", done, total);
    if (done == total)
        fputc('\n', stderr);
}

/* Prints s left-aligned in a field of width display columns (UTF-8 aware:
 * "±" is two bytes but one column). */
static void cell(const char *s, int width) {
    int cols = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        cols += (*p & 0xC0) != 0x80;
    printf("%s%*s", s, width > cols ? width - cols : 1, "");
}

static void print_table(const lf_quality_result *r, int n) {
    printf("token source: %s, ctx %d, %d windows, %lld scored tokens; base PPL %.4f ± %.4f\n\n",
           r[0].token_source, r[0].n_ctx, r[0].n_chunks, (long long)r[0].n_tokens, r[0].base_ppl,
           r[0].base_ppl_err);
    static const char *const head[] = {"variant", "bpw", "size", "PPL", "ΔPPL", "PPL ratio",
                                       "KLD mean", "KLD median", "KLD p99", "KLD max",
                                       "same top %", "tokens"};
    int wid[] = {8, 7, 11, 20, 20, 18, 22, 11, 10, 9, 16, 8};
    for (int i = 0; i < n; i++)
        if ((int)strlen(r[i].name) + 2 > wid[0])
            wid[0] = (int)strlen(r[i].name) + 2;
    for (int k = 0; k < 12; k++)
        cell(head[k], wid[k]);
    printf("\n");
    for (int i = 0; i < n; i++) {
        char b[12][64];
        lf_strlcpy(b[0], r[i].name, sizeof b[0]);
        snprintf(b[1], sizeof b[1], "%.2f", r[i].bpw);
        lf_format_bytes(b[2], sizeof b[2], (double)r[i].size_bytes);
        snprintf(b[3], sizeof b[3], "%.4f ± %.4f", r[i].ppl, r[i].ppl_err);
        snprintf(b[4], sizeof b[4], "%+.4f ± %.4f", r[i].dppl, r[i].dppl_err);
        snprintf(b[5], sizeof b[5], "%.4f ± %.4f", r[i].ppl_ratio, r[i].ppl_ratio_err);
        snprintf(b[6], sizeof b[6], "%.6f ± %.6f", r[i].kld_mean, r[i].kld_err);
        snprintf(b[7], sizeof b[7], "%.6f", r[i].kld_median);
        snprintf(b[8], sizeof b[8], "%.5f", r[i].kld_p99);
        snprintf(b[9], sizeof b[9], "%.4f", r[i].kld_max);
        snprintf(b[10], sizeof b[10], "%.2f ± %.2f", 100 * r[i].same_top, 100 * r[i].same_top_err);
        snprintf(b[11], sizeof b[11], "%lld", (long long)r[i].n_tokens);
        for (int k = 0; k < 12; k++)
            cell(b[k], wid[k]);
        printf("\n");
    }
    for (int i = 0; i < n; i++)
        if (strstr(r[i].name, " (=")) {   /* a collapsed level, marked by lf_quality_run */
            printf("\nA (=B): level A's K-quant blocks do not fit this model's rows (not a "
                   "multiple of 256 elements), so it fell back to other types, B's holding the "
                   "most bytes; where its size is B's too, it is B under another name.\n");
            break;
        }
    fflush(stdout);
}

static void print_json(const char *base, const lf_quality_result *r, int n) {
    json_t *root = json_object();
    json_object_set_new(root, "schema", json_string("localfit.quality/1"));
    json_object_set_new(root, "base", json_string(base));
    json_object_set_new(root, "token_source", json_string(r[0].token_source));
    json_object_set_new(root, "n_ctx", json_integer(r[0].n_ctx));
    json_object_set_new(root, "n_chunks", json_integer(r[0].n_chunks));
    json_object_set_new(root, "n_tokens", json_integer(r[0].n_tokens));
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(r[i].name));
        json_object_set_new(o, "is_base", json_boolean(i == 0));
        json_object_set_new(o, "size_bytes", json_integer((json_int_t)r[i].size_bytes));
        json_object_set_new(o, "bpw", json_real(r[i].bpw));
        json_object_set_new(o, "ppl", json_real(r[i].ppl));
        json_object_set_new(o, "ppl_err", json_real(r[i].ppl_err));
        json_object_set_new(o, "base_ppl", json_real(r[i].base_ppl));
        json_object_set_new(o, "dppl", json_real(r[i].dppl));
        json_object_set_new(o, "dppl_err", json_real(r[i].dppl_err));
        json_object_set_new(o, "ppl_ratio", json_real(r[i].ppl_ratio));
        json_object_set_new(o, "ppl_ratio_err", json_real(r[i].ppl_ratio_err));
        json_object_set_new(o, "kld_mean", json_real(r[i].kld_mean));
        json_object_set_new(o, "kld_err", json_real(r[i].kld_err));
        json_object_set_new(o, "kld_median", json_real(r[i].kld_median));
        json_object_set_new(o, "kld_p99", json_real(r[i].kld_p99));
        json_object_set_new(o, "kld_max", json_real(r[i].kld_max));
        json_object_set_new(o, "same_top", json_real(r[i].same_top));
        json_object_set_new(o, "same_top_err", json_real(r[i].same_top_err));
        json_object_set_new(o, "n_tokens", json_integer(r[i].n_tokens));
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "results", arr);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(root);
}

/* -q LIST: one variant per quantization. Returns a usage status, or -1
 * to go on. */
static int add_quants(const char *cmd, const char *arg, lf_quality_variant *vars, int *n_vars) {
    char *list = strdup(arg);
    if (!list)
        return LF_EXIT_FAIL;
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        lf_mix m;
        if (lf_mix_parse(tok, &m) < 0) {
            int rc = lf_cli_usage_error(cmd, "unknown quantization '%s'", tok);
            free(list);   /* after the message: tok points into it */
            return rc;
        }
        if (*n_vars == MAX_VARIANTS) {
            free(list);
            return lf_cli_usage_error(cmd, "at most %d variants", MAX_VARIANTS);
        }
        vars[(*n_vars)++] = (lf_quality_variant){.mix = m, .from_mix = true};
    }
    free(list);
    return -1;
}

/* --lora FILE[:SCALE]: the path (a heap copy the caller frees; NULL when
 * out of memory) and its scale (1 without one). */
static char *lora_spec(const char *arg, float *scale) {
    char *s = strdup(arg);
    if (!s)
        return NULL;
    *scale = 1.0f;
    char *colon = strrchr(s, ':');
    if (colon && colon != s) {
        char *end;
        float v = strtof(colon + 1, &end);
        if (colon[1] && !*end) {
            *scale = v;
            *colon = '\0';
        }
    }
    return s;
}

/* Scores the variants against model and prints them; the exit status. */
static int score(const char *model, const lf_quality_variant *vars, int n_vars, const char *text,
                 size_t text_len, const lf_quality_opts *qo, bool json) {
    lf_error err = {0};
    lf_quality_result *res = calloc((size_t)n_vars + 1, sizeof *res);
    double t0 = lf_now_s();
    int qrc = res ? lf_quality_run(model, vars, n_vars, text, text_len, qo, res, &err)
                  : lf_error_set(&err, LF_ENOMEM, "out of memory");
    int rc = LF_EXIT_OK;
    if (qrc < 0) {
        rc = lf_cli_fail(&err);
    } else {
        fprintf(stderr, "quality: %d variant%s scored in %.1f s\n", n_vars, n_vars == 1 ? "" : "s",
                lf_now_s() - t0);
        if (json)
            print_json(model, res, n_vars + 1);
        else
            print_table(res, n_vars + 1);
    }
    free(res);
    return rc;
}

int cmd_quality(int argc, char **argv) {
    enum { O_FILES = 256, O_CHUNKS, O_LORA, O_KV, O_SEED, O_GEN, O_JSON, O_FORCE };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"quants", required_argument, 0, 'q'},
        {"files", required_argument, 0, O_FILES}, {"file", required_argument, 0, 'f'},
        {"ctx", required_argument, 0, 'c'},     {"chunks", required_argument, 0, O_CHUNKS},
        {"threads", required_argument, 0, 't'}, {"lora", required_argument, 0, O_LORA},
        {"kv", required_argument, 0, O_KV},     {"seed", required_argument, 0, O_SEED},
        {"generated", no_argument, 0, O_GEN},   {"json", no_argument, 0, O_JSON},
        {"force", no_argument, 0, O_FORCE},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    const char *model = NULL, *text_path = NULL;
    lf_quality_variant vars[MAX_VARIANTS];
    int n_vars = 0;
    bool files_mode = false, json = false, force = false;
    const char *lora_paths[MAX_LORA];
    char *lora_bufs[MAX_LORA];
    float lora_scales[MAX_LORA];
    int n_lora = 0, threads = 0, rc = LF_EXIT_OK;
    lf_quality_opts qo;
    lf_quality_opts_init(&qo);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "m:q:f:c:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'f': text_path = optarg; break;
        case 'q':
            if ((rc = add_quants(argv[0], optarg, vars, &n_vars)) >= 0)
                goto out;
            rc = LF_EXIT_OK;
            break;
        case O_FILES:
            files_mode = true;
            if (n_vars == MAX_VARIANTS) {
                rc = lf_cli_usage_error(argv[0], "at most %d variants", MAX_VARIANTS);
                goto out;
            }
            vars[n_vars++] = (lf_quality_variant){.path = optarg};
            break;
        case 'c':
            if (lf_arg_int(optarg, 4, 1 << 20, &qo.n_ctx) < 0) {
                rc = lf_cli_usage_error(argv[0], "--ctx wants an integer >= 4, not '%s'", optarg);
                goto out;
            }
            break;
        case O_CHUNKS:
            if (lf_arg_int(optarg, 1, 1 << 30, &qo.n_chunks) < 0) {
                rc = lf_cli_usage_error(argv[0], "--chunks wants a positive integer, not '%s'",
                                        optarg);
                goto out;
            }
            break;
        case 't':
            if (lf_arg_int(optarg, 1, 4096, &threads) < 0) {
                rc = lf_cli_usage_error(argv[0], "--threads wants a positive integer, not '%s'",
                                        optarg);
                goto out;
            }
            break;
        case O_LORA:
            if (n_lora == MAX_LORA) {
                rc = lf_cli_usage_error(argv[0], "at most %d adapters", MAX_LORA);
                goto out;
            }
            if (!(lora_bufs[n_lora] = lora_spec(optarg, &lora_scales[n_lora]))) {
                rc = LF_EXIT_FAIL;
                goto out;
            }
            lora_paths[n_lora] = lora_bufs[n_lora];
            n_lora++;
            break;
        case O_KV: {
            lf_type t;
            if (lf_kv_type_parse(optarg, &t) < 0) {
                rc = lf_cli_usage_error(argv[0], "--kv is f16, q8_0 or f32, not '%s'", optarg);
                goto out;
            }
            qo.kv_type = t;
            break;
        }
        case O_SEED: qo.seed = strtoull(optarg, NULL, 0); break;
        case O_GEN: qo.force_generated = true; break;
        case O_FORCE: force = true; break;
        case O_JSON: json = true; break;
        case 'h': usage(stdout); rc = LF_EXIT_OK; goto out;
        default: rc = lf_cli_bad_option(argv[0], argv, opts); goto out;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (!files_mode) {
            rc = lf_cli_usage_error(argv[0], "unexpected argument '%s'", argv[i]);
            goto out;
        }
        if (n_vars == MAX_VARIANTS) {
            rc = lf_cli_usage_error(argv[0], "at most %d variants", MAX_VARIANTS);
            goto out;
        }
        vars[n_vars++] = (lf_quality_variant){.path = argv[i]};
    }
    if (!model) {
        rc = lf_cli_usage_error(argv[0], "-m BASE.gguf is required");
        goto out;
    }
    if (n_vars == 0) {
        rc = lf_cli_usage_error(argv[0], "give --quants or --files");
        goto out;
    }
    if (!text_path && !qo.force_generated) {
        rc = lf_cli_usage_error(argv[0], "-f TEXT is required (or --generated)");
        goto out;
    }

    lf_error err = {0};
    size_t text_len = 0;
    char *text = NULL;
    if (text_path && !(text = lf_cli_read_text(text_path, &text_len, &err))) {
        rc = lf_cli_fail(&err);
        goto out;
    }
    if (threads == 0)
        threads = lf_usable_cpus();
    lf_pool *pool = lf_pool_create(threads, true);
    if (!pool) {
        free(text);
        lf_error_set(&err, LF_ENOMEM, "cannot create %d threads", threads);
        rc = lf_cli_fail(&err);
        goto out;
    }
    qo.pool = pool;
    qo.mem_budget = lf_cli_mem_budget(force);
    qo.lora_paths = lora_paths;
    qo.lora_scales = lora_scales;
    qo.n_lora = n_lora;
    if (isatty(2))
        qo.progress = progress;
    rc = score(model, vars, n_vars, text, text_len, &qo, json);
    lf_pool_free(pool);
    free(text);
out:
    for (int i = 0; i < n_lora; i++)
        free(lora_bufs[i]);
    return rc;
}
