/*
 * `localfit generate` — text generation with a GGUF model: tokenize the
 * prompt, prefill it in one batch, then sample token by token, printing the
 * continuation to stdout as it comes. LoRA adapters are applied at run time
 * (or merged with --lora-merge). Timings go to stderr: model load, adapter
 * load / merge / attach, prompt processing and generation speed.
 */
#include "cli/args.h"
#include "cli/cli.h"
#include "model/model.h"

#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LORA 16

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit generate -m MODEL.gguf [-p TEXT] [-n N] [--temp T] [--top-p P]\n"
            "                         [--seed S] [--threads N] [--ctx N] [--kv f16|q8_0|f32]\n"
            "                         [--lora FILE[:SCALE]]... [--lora-merge] [--force]\n\n"
            "Generates a continuation of TEXT (or from the start-of-text token) and\n"
            "prints it to stdout; load, adapter and speed figures go to stderr.\n\n"
            "  -m, --model FILE      GGUF model\n"
            "  -p, --prompt TEXT     prompt (default: none, start from BOS)\n"
            "  -n, --n-predict N     tokens to generate (default 64)\n"
            "      --temp T          temperature, 0 = greedy (default 0.8)\n"
            "      --top-p P         nucleus sampling mass (default 0.95)\n"
            "      --seed S          sampling seed (default 42)\n"
            "  -t, --threads N       threads (default: all usable CPUs)\n"
            "  -c, --ctx N           context length (default: prompt + n, at least 128)\n"
            "      --kv TYPE         KV cache type: f16 (default), q8_0 or f32\n"
            "      --lora FILE[:S]   LoRA adapter with scale S (default 1); repeatable\n"
            "      --lora-merge      merge the adapters into the weights (F32) instead\n"
            "      --ignore-eos      keep generating past end-of-text\n"
            "      --no-warmup       skip the one-token warm-up before timing\n"
            "      --force           run even if model, context and adapters exceed the usable\n"
            "                        memory (otherwise refused before loading, with the sizes)\n"
            "  -h, --help            this help\n");
}

/* A finite float (the shared lf_arg_double, within float range) into *out:
 * 0, or -1 with *out untouched. */
static int arg_float(const char *s, float *out) {
    double d;
    if (lf_arg_double(s, -FLT_MAX, FLT_MAX, &d) < 0)
        return -1;
    *out = (float)d;
    return 0;
}

/* parse_args' result when the command should go on and run. */
enum { GO_ON = -1 };

/* What the flags ask for; threads and n_ctx are 0 until resolved. */
typedef struct gen_opts {
    const char *cmd, *model_path, *prompt;
    int n_predict, threads, n_ctx;
    float temp, top_p;
    uint64_t seed;
    lf_type kv;
    bool merge, ignore_eos, warmup, force;
    char *lora_files[MAX_LORA];   /* point into argv, the ":SCALE" cut off */
    float lora_scales[MAX_LORA];
    int n_lora;
} gen_opts;

/* What a run holds, released by gen_free; run_model is model or merged. */
typedef struct gen_run {
    lf_model *model, *merged;
    const lf_model *run_model;
    lf_lora *loras[MAX_LORA];
    lf_pool *pool;
    lf_ctx *ctx;
    int32_t *toks;   /* (n_prompt) the prompt's tokens */
    int n_prompt;
    int32_t bos;
} gen_run;

/* --lora FILE[:SCALE] into o; GO_ON, or the usage error's exit status. */
static int parse_lora(gen_opts *o, char *arg) {
    if (o->n_lora == MAX_LORA)
        return lf_cli_usage_error(o->cmd, "at most %d adapters", MAX_LORA);
    o->lora_files[o->n_lora] = arg;
    o->lora_scales[o->n_lora] = 1.0f;
    /* FILE:SCALE — the scale is what follows the last ':' if it parses */
    char *colon = strrchr(arg, ':');
    if (colon && arg_float(colon + 1, &o->lora_scales[o->n_lora]) == 0) {
        *colon = 0;
    } else {
        /* a suffix that reads as a number but is not a finite float
         * ("nan", "inf", "1e309") is a bad scale, not part of the name */
        char *end = NULL;
        if (colon && colon[1]) {
            (void)strtod(colon + 1, &end);
            if (end && *end == 0)
                return lf_cli_usage_error(o->cmd, "--lora %s: the scale '%s' is not a finite number", arg,
                                          colon + 1);
        }
        o->lora_scales[o->n_lora] = 1.0f;
    }
    o->n_lora++;
    return GO_ON;
}

/* The flags into o; GO_ON, or the exit status (--help, usage errors). */
static int parse_args(int argc, char **argv, gen_opts *o) {
    enum { O_TEMP = 256, O_TOPP, O_SEED, O_KV, O_LORA, O_MERGE, O_NOEOS, O_NOWARM, O_FORCE };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"prompt", required_argument, 0, 'p'},
        {"n-predict", required_argument, 0, 'n'}, {"temp", required_argument, 0, O_TEMP},
        {"top-p", required_argument, 0, O_TOPP}, {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, 't'}, {"ctx", required_argument, 0, 'c'},
        {"kv", required_argument, 0, O_KV},     {"lora", required_argument, 0, O_LORA},
        {"lora-merge", no_argument, 0, O_MERGE}, {"ignore-eos", no_argument, 0, O_NOEOS},
        {"no-warmup", no_argument, 0, O_NOWARM}, {"force", no_argument, 0, O_FORCE},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    const char *cmd = o->cmd;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "m:p:n:t:c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': o->model_path = optarg; break;
        case 'p': o->prompt = optarg; break;
        case 'n':
            if (lf_arg_int(optarg, 0, 1 << 20, &o->n_predict) < 0)
                return lf_cli_usage_error(cmd, "-n: '%s' is not a token count", optarg);
            break;
        case 't':
            if (lf_arg_int(optarg, 1, 1024, &o->threads) < 0)
                return lf_cli_usage_error(cmd, "--threads: '%s' is not a thread count", optarg);
            break;
        case 'c':
            if (lf_arg_int(optarg, 1, 1 << 24, &o->n_ctx) < 0)
                return lf_cli_usage_error(cmd, "--ctx: '%s' is not a context length", optarg);
            break;
        case O_TEMP:
            if (arg_float(optarg, &o->temp) < 0 || o->temp < 0)
                return lf_cli_usage_error(cmd, "--temp: '%s' is not a temperature", optarg);
            break;
        case O_TOPP:
            if (arg_float(optarg, &o->top_p) < 0 || o->top_p <= 0 || o->top_p > 1)
                return lf_cli_usage_error(cmd, "--top-p: '%s' is not in (0, 1]", optarg);
            break;
        case O_SEED: {
            char *end;
            o->seed = strtoull(optarg, &end, 10);
            if (*optarg == 0 || *end != 0)
                return lf_cli_usage_error(cmd, "--seed: '%s' is not a number", optarg);
            break;
        }
        case O_KV:
            if (lf_kv_type_parse(optarg, &o->kv) < 0)
                return lf_cli_usage_error(cmd, "--kv: '%s' (use f16, q8_0 or f32)", optarg);
            break;
        case O_LORA: {
            int rc = parse_lora(o, optarg);
            if (rc != GO_ON)
                return rc;
            break;
        }
        case O_MERGE: o->merge = true; break;
        case O_NOEOS: o->ignore_eos = true; break;
        case O_NOWARM: o->warmup = false; break;
        case O_FORCE: o->force = true; break;
        case 'h': usage(stdout); return LF_EXIT_OK;
        default: return lf_cli_bad_option(cmd, argv, opts);
        }
    }
    if (optind < argc)
        return lf_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->model_path)
        return lf_cli_usage_error(cmd, "a model is required (-m MODEL.gguf)");
    if (o->merge && o->n_lora == 0)
        return lf_cli_usage_error(cmd, "--lora-merge needs at least one --lora");
    if (o->threads == 0)
        o->threads = lf_usable_cpus();
    return GO_ON;
}

/* Loads the model and the adapters (merged into a copy with --lora-merge),
 * printing each load's figures to stderr. 0, or <0 with err set. */
static int load_model(const gen_opts *o, gen_run *r, lf_error *err) {
    double t0 = lf_now_s();
    /* the budget covers the model, the context and the adapters below */
    lf_model_opts mopts = {.mem_budget = lf_cli_mem_budget(o->force), .interleave = true};
    if (lf_model_load(&r->model, o->model_path, &mopts, err) < 0)
        return -1;
    double t_load = lf_now_s() - t0;
    const lf_model_params *hp = lf_model_hparams(r->model);
    char name[4 * sizeof hp->name];   /* general.name is untrusted */
    fprintf(stderr, "model: %s (%s, %d layers, %d embd, %.2f M params, %.1f MiB) loaded in %.2f ms\n",
            lf_text_clean(name, sizeof name, hp->name, true), lf_arch_name(hp->arch), hp->n_layer, hp->n_embd,
            lf_model_n_params(r->model) / 1e6, lf_model_total_bytes(r->model) / 1048576.0, t_load * 1e3);

    for (int i = 0; i < o->n_lora; i++) {
        t0 = lf_now_s();
        if (lf_lora_load(&r->loras[i], o->lora_files[i], r->model, err) < 0)
            return -1;
        fprintf(stderr, "adapter: %s (rank %d, alpha %g, %d tensors, scale %g) loaded in %.3f ms\n",
                o->lora_files[i], lf_lora_rank(r->loras[i]), lf_lora_alpha(r->loras[i]),
                lf_lora_n_pairs(r->loras[i]) * 2, o->lora_scales[i], (lf_now_s() - t0) * 1e3);
    }
    r->run_model = r->model;
    if (o->merge) {
        t0 = lf_now_s();
        if (lf_model_merge_lora(&r->merged, r->model, r->loras, o->lora_scales, o->n_lora, err) < 0)
            return -1;
        fprintf(stderr, "adapters merged in %.3f ms\n", (lf_now_s() - t0) * 1e3);
        r->run_model = r->merged;
    }
    return 0;
}

/* The prompt's tokens into r->toks (BOS alone without a prompt), and the
 * context length resolved and checked against them. 0, or <0 with err set. */
static int encode_prompt(gen_opts *o, gen_run *r, lf_error *err) {
    const lf_vocab *vocab = lf_model_vocab(r->model);
    int cap = 0;
    r->bos = vocab ? lf_vocab_bos(vocab) : 1;
    if (r->bos < 0)
        r->bos = 1;
    if (o->prompt && *o->prompt) {
        if (!vocab)
            return lf_error_set(err, LF_EUNSUPP, "%s has no tokenizer: cannot encode the prompt",
                                o->model_path);
        size_t len = strlen(o->prompt);
        cap = (int)len + 8;
        r->toks = malloc((size_t)cap * sizeof *r->toks);
        if (!r->toks)
            return lf_error_set(err, LF_ENOMEM, "out of memory");
        int rc = lf_tokenize(vocab, o->prompt, len, true, r->toks, cap, &r->n_prompt, err);
        if (rc == LF_ERANGE) {
            cap = r->n_prompt;
            int32_t *t2 = realloc(r->toks, (size_t)cap * sizeof *r->toks);
            if (!t2)
                return lf_error_set(err, LF_ENOMEM, "out of memory");
            r->toks = t2;
            rc = lf_tokenize(vocab, o->prompt, len, true, r->toks, cap, &r->n_prompt, err);
        }
        if (rc < 0)
            return rc;
    }
    if (r->n_prompt == 0) {
        free(r->toks);
        r->toks = malloc(sizeof *r->toks);
        if (!r->toks)
            return lf_error_set(err, LF_ENOMEM, "out of memory");
        r->toks[0] = r->bos;
        r->n_prompt = 1;
    }
    if (o->n_ctx == 0) {
        o->n_ctx = r->n_prompt + o->n_predict;
        if (o->n_ctx < 128)
            o->n_ctx = 128;
    }
    if (r->n_prompt + o->n_predict > o->n_ctx)
        return lf_error_set(err, LF_ERANGE, "prompt (%d tokens) + %d new tokens exceed --ctx %d",
                            r->n_prompt, o->n_predict, o->n_ctx);
    /* past the trained context the positions are ones the model never saw:
     * the text degrades without any error, so say so */
    int trained = lf_model_hparams(r->model)->n_ctx_train;
    if (trained > 0 && r->n_prompt + o->n_predict > trained)
        lf_warn("generate: prompt (%d tokens) + %d new tokens go past %s's trained context of %d tokens; "
                "the text past it is unreliable",
                r->n_prompt, o->n_predict, o->model_path, trained);
    return 0;
}

/* The thread pool and the context, with the adapters attached unless they
 * were merged. 0, or <0 with err set. */
static int start_ctx(const gen_opts *o, gen_run *r, lf_error *err) {
    r->pool = lf_pool_create(o->threads, true);
    if (!r->pool)
        return lf_error_set(err, LF_ENOMEM, "cannot start %d threads", o->threads);
    if (lf_ctx_new(&r->ctx, r->run_model, o->n_ctx, o->kv, r->pool, err) < 0)
        return -1;
    if (o->n_lora > 0 && !o->merge) {
        double t0 = lf_now_s();
        if (lf_ctx_set_adapters(r->ctx, r->loras, o->lora_scales, o->n_lora, err) < 0)
            return -1;
        fprintf(stderr, "adapters attached in %.3f ms\n", (lf_now_s() - t0) * 1e3);
    }
    return 0;
}

/* Writes token tok's text to stdout (its id without a vocabulary); the
 * first token after a lone BOS loses its word-initial space. */
static void print_token(const gen_run *r, const lf_vocab *vocab, int32_t tok, int n_gen) {
    char piece[256];
    if (vocab) {
        int len = lf_token_to_piece(vocab, tok, piece, sizeof piece);
        if (len > (int)sizeof piece - 1)
            len = (int)sizeof piece - 1;
        const char *pc = piece;
        /* a story started from BOS alone: drop the word-initial space
         * of its first piece, as llama.cpp does after BOS */
        if (n_gen == 0 && r->n_prompt == 1 && r->toks[0] == r->bos && len > 0 && piece[0] == ' ') {
            pc++;
            len--;
        }
        if (len > 0)
            fwrite(pc, 1, (size_t)len, stdout);
    } else {
        printf("[%d]", tok);
    }
    fflush(stdout);
}

/* NaN or infinite logits come from weights holding such values: sampling
 * them prints nothing meaningful, so the run stops naming the model. */
static int check_logits(const float *logits, int n, const char *model, lf_error *err) {
    for (int i = 0; i < n; i++)
        if (!isfinite(logits[i]))
            return lf_error_set(err, LF_ERANGE,
                                "%s: the logits are not finite (token %d of the vocabulary is %s): the "
                                "model's weights hold NaN or infinite values",
                                model, i, isnan(logits[i]) ? "NaN" : "infinite");
    return 0;
}

/* Warm-up, prefill, then sampling and printing token by token; the speed
 * figures go to stderr at the end. 0, or <0 with err set. */
static int generate(const gen_opts *o, gen_run *r, lf_error *err) {
    const lf_model_params *hp = lf_model_hparams(r->model);
    const lf_vocab *vocab = lf_model_vocab(r->model);
    const float *logits;
    double t0;
    if (o->warmup) {
        /* one token through every layer faults the mapped weights in, so
         * the timings below measure compute, not page faults */
        t0 = lf_now_s();
        if (lf_ctx_eval(r->ctx, &r->bos, 1, false, &logits, err) < 0)
            return -1;
        lf_ctx_reset(r->ctx);
        fprintf(stderr, "warm-up: %.1f ms\n", (lf_now_s() - t0) * 1e3);
    }
    t0 = lf_now_s();
    if (lf_ctx_eval(r->ctx, r->toks, r->n_prompt, false, &logits, err) < 0)
        return -1;
    double t_pp = lf_now_s() - t0;
    if (check_logits(logits, hp->n_vocab, o->model_path, err) < 0)
        return -1;
    int32_t eos = vocab ? lf_vocab_eos(vocab) : -1;
    uint64_t rng = o->seed;
    double t_tg = 0;
    int n_gen = 0;
    for (int i = 0; i < o->n_predict; i++) {
        int32_t tok = lf_sample(logits, hp->n_vocab, o->temp, o->top_p, &rng);
        if (tok == eos && !o->ignore_eos)
            break;
        print_token(r, vocab, tok, n_gen);
        n_gen++;
        if (i + 1 == o->n_predict)
            break;   /* the last token needs no evaluation */
        t0 = lf_now_s();
        if (lf_ctx_eval(r->ctx, &tok, 1, false, &logits, err) < 0)
            return -1;
        t_tg += lf_now_s() - t0;
        if (check_logits(logits, hp->n_vocab, o->model_path, err) < 0)
            return -1;
    }
    printf("\n");
    int n_tg = n_gen > 0 ? n_gen - (n_gen == o->n_predict ? 1 : 0) : 0;
    fprintf(stderr, "pp: %d tokens in %.3f s = %.1f tokens/s\n", r->n_prompt, t_pp,
            t_pp > 0 ? r->n_prompt / t_pp : 0.0);
    if (n_tg > 0)
        fprintf(stderr, "tg: %d tokens in %.3f s = %.1f tokens/s\n", n_tg, t_tg, n_tg / t_tg);
    fprintf(stderr, "threads %d, context %d, KV cache %s %.1f MiB, weights %.1f MiB/token\n",
            o->threads, o->n_ctx, lf_type_name(o->kv), lf_ctx_kv_bytes(r->ctx) / 1048576.0,
            lf_model_weight_bytes(r->run_model) / 1048576.0);
    return 0;
}

/* Releases everything r holds (in the reverse order of taking it). */
static void gen_free(gen_run *r, int n_lora) {
    lf_ctx_free(r->ctx);
    lf_pool_free(r->pool);
    free(r->toks);
    lf_model_free(r->merged);
    for (int i = 0; i < n_lora; i++)
        lf_lora_free(r->loras[i]);
    lf_model_free(r->model);
}

int cmd_generate(int argc, char **argv) {
    gen_opts o = {.cmd = argv[0], .n_predict = 64, .temp = 0.8f, .top_p = 0.95f, .seed = 42,
                  .kv = LF_TYPE_F16, .warmup = true};
    int status = parse_args(argc, argv, &o);
    if (status != GO_ON)
        return status;

    lf_error err = {0};
    gen_run r = {0};
    status = LF_EXIT_FAIL;
    if (load_model(&o, &r, &err) == 0 && encode_prompt(&o, &r, &err) == 0 &&
        start_ctx(&o, &r, &err) == 0 && generate(&o, &r, &err) == 0)
        status = LF_EXIT_OK;
    if (status != LF_EXIT_OK)
        lf_cli_fail(&err);
    gen_free(&r, o.n_lora);
    return status;
}
