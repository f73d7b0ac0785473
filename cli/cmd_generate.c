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

#include <getopt.h>
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

static int parse_float(const char *s, float *out) {
    char *end;
    float v = strtof(s, &end);
    if (*s == 0 || *end != 0)
        return -1;
    *out = v;
    return 0;
}

int cmd_generate(int argc, char **argv) {
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
    const char *model_path = NULL, *prompt = NULL;
    int n_predict = 64, threads = 0, n_ctx = 0;
    float temp = 0.8f, top_p = 0.95f;
    uint64_t seed = 42;
    lf_type kv = LF_TYPE_F16;
    bool merge = false, ignore_eos = false, warmup = true, force = false;
    char *lora_files[MAX_LORA];
    float lora_scales[MAX_LORA];
    int n_lora = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "m:p:n:t:c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': model_path = optarg; break;
        case 'p': prompt = optarg; break;
        case 'n':
            if (lf_arg_int(optarg, 0, 1 << 20, &n_predict) < 0)
                return lf_cli_usage_error(argv[0], "-n: '%s' is not a token count", optarg);
            break;
        case 't':
            if (lf_arg_int(optarg, 1, 1024, &threads) < 0)
                return lf_cli_usage_error(argv[0], "--threads: '%s' is not a thread count", optarg);
            break;
        case 'c':
            if (lf_arg_int(optarg, 1, 1 << 24, &n_ctx) < 0)
                return lf_cli_usage_error(argv[0], "--ctx: '%s' is not a context length", optarg);
            break;
        case O_TEMP:
            if (parse_float(optarg, &temp) < 0 || temp < 0)
                return lf_cli_usage_error(argv[0], "--temp: '%s' is not a temperature", optarg);
            break;
        case O_TOPP:
            if (parse_float(optarg, &top_p) < 0 || top_p <= 0 || top_p > 1)
                return lf_cli_usage_error(argv[0], "--top-p: '%s' is not in (0, 1]", optarg);
            break;
        case O_SEED: {
            char *end;
            seed = strtoull(optarg, &end, 10);
            if (*optarg == 0 || *end != 0)
                return lf_cli_usage_error(argv[0], "--seed: '%s' is not a number", optarg);
            break;
        }
        case O_KV:
            if (lf_kv_type_parse(optarg, &kv) < 0)
                return lf_cli_usage_error(argv[0], "--kv: '%s' (use f16, q8_0 or f32)", optarg);
            break;
        case O_LORA: {
            if (n_lora == MAX_LORA)
                return lf_cli_usage_error(argv[0], "at most %d adapters", MAX_LORA);
            lora_files[n_lora] = optarg;
            lora_scales[n_lora] = 1.0f;
            /* FILE:SCALE — the scale is what follows the last ':' if it parses */
            char *colon = strrchr(optarg, ':');
            if (colon && parse_float(colon + 1, &lora_scales[n_lora]) == 0) {
                *colon = 0;
            } else {
                lora_scales[n_lora] = 1.0f;
            }
            n_lora++;
            break;
        }
        case O_MERGE: merge = true; break;
        case O_NOEOS: ignore_eos = true; break;
        case O_NOWARM: warmup = false; break;
        case O_FORCE: force = true; break;
        case 'h': usage(stdout); return LF_EXIT_OK;
        default: return lf_cli_usage_error(argv[0], "unknown option");
        }
    }
    if (optind < argc)
        return lf_cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    if (!model_path)
        return lf_cli_usage_error(argv[0], "a model is required (-m MODEL.gguf)");
    if (merge && n_lora == 0)
        return lf_cli_usage_error(argv[0], "--lora-merge needs at least one --lora");
    if (threads == 0)
        threads = lf_usable_cpus();

    lf_error err = {0};
    int status = LF_EXIT_FAIL;
    lf_model *model = NULL, *merged = NULL;
    lf_lora *loras[MAX_LORA] = {0};
    lf_pool *pool = NULL;
    lf_ctx *ctx = NULL;
    int32_t *toks = NULL;

    double t0 = lf_now_s();
    /* the budget covers the model, the context and the adapters below */
    lf_model_opts mopts = {.mem_budget = lf_cli_mem_budget(force), .interleave = true};
    if (lf_model_load(&model, model_path, &mopts, &err) < 0)
        goto done;
    double t_load = lf_now_s() - t0;
    const lf_model_params *hp = lf_model_hparams(model);
    const lf_vocab *vocab = lf_model_vocab(model);
    char name[4 * sizeof hp->name];   /* general.name is untrusted */
    fprintf(stderr, "model: %s (%s, %d layers, %d embd, %.2f M params, %.1f MiB) loaded in %.2f ms\n",
            lf_text_clean(name, sizeof name, hp->name, true), lf_arch_name(hp->arch), hp->n_layer, hp->n_embd,
            lf_model_n_params(model) / 1e6, lf_model_total_bytes(model) / 1048576.0, t_load * 1e3);

    for (int i = 0; i < n_lora; i++) {
        t0 = lf_now_s();
        if (lf_lora_load(&loras[i], lora_files[i], model, &err) < 0)
            goto done;
        fprintf(stderr, "adapter: %s (rank %d, alpha %g, %d tensors, scale %g) loaded in %.3f ms\n",
                lora_files[i], lf_lora_rank(loras[i]), lf_lora_alpha(loras[i]),
                lf_lora_n_pairs(loras[i]) * 2, lora_scales[i], (lf_now_s() - t0) * 1e3);
    }
    const lf_model *run_model = model;
    if (merge) {
        t0 = lf_now_s();
        if (lf_model_merge_lora(&merged, model, loras, lora_scales, n_lora, &err) < 0)
            goto done;
        fprintf(stderr, "adapters merged in %.3f ms\n", (lf_now_s() - t0) * 1e3);
        run_model = merged;
    }

    /* the prompt */
    int n_prompt = 0, cap = 0;
    int32_t bos = vocab ? lf_vocab_bos(vocab) : 1;
    if (bos < 0)
        bos = 1;
    if (prompt && *prompt) {
        if (!vocab) {
            lf_error_set(&err, LF_EUNSUPP, "%s has no tokenizer: cannot encode the prompt", model_path);
            goto done;
        }
        size_t len = strlen(prompt);
        cap = (int)len + 8;
        toks = malloc((size_t)cap * sizeof *toks);
        if (!toks) {
            lf_error_set(&err, LF_ENOMEM, "out of memory");
            goto done;
        }
        int rc = lf_tokenize(vocab, prompt, len, true, toks, cap, &n_prompt, &err);
        if (rc == LF_ERANGE) {
            cap = n_prompt;
            int32_t *t2 = realloc(toks, (size_t)cap * sizeof *toks);
            if (!t2) {
                lf_error_set(&err, LF_ENOMEM, "out of memory");
                goto done;
            }
            toks = t2;
            rc = lf_tokenize(vocab, prompt, len, true, toks, cap, &n_prompt, &err);
        }
        if (rc < 0)
            goto done;
    }
    if (n_prompt == 0) {
        free(toks);
        toks = malloc(sizeof *toks);
        if (!toks) {
            lf_error_set(&err, LF_ENOMEM, "out of memory");
            goto done;
        }
        toks[0] = bos;
        n_prompt = 1;
    }
    if (n_ctx == 0) {
        n_ctx = n_prompt + n_predict;
        if (n_ctx < 128)
            n_ctx = 128;
    }
    if (n_prompt + n_predict > n_ctx) {
        lf_error_set(&err, LF_ERANGE, "prompt (%d tokens) + %d new tokens exceed --ctx %d",
                     n_prompt, n_predict, n_ctx);
        goto done;
    }

    pool = lf_pool_create(threads, true);
    if (!pool) {
        lf_error_set(&err, LF_ENOMEM, "cannot start %d threads", threads);
        goto done;
    }
    if (lf_ctx_new(&ctx, run_model, n_ctx, kv, pool, &err) < 0)
        goto done;
    if (n_lora > 0 && !merge) {
        t0 = lf_now_s();
        if (lf_ctx_set_adapters(ctx, loras, lora_scales, n_lora, &err) < 0)
            goto done;
        fprintf(stderr, "adapters attached in %.3f ms\n", (lf_now_s() - t0) * 1e3);
    }

    const float *logits;
    if (warmup) {
        /* one token through every layer faults the mapped weights in, so
         * the timings below measure compute, not page faults */
        t0 = lf_now_s();
        if (lf_ctx_eval(ctx, &bos, 1, false, &logits, &err) < 0)
            goto done;
        lf_ctx_reset(ctx);
        fprintf(stderr, "warm-up: %.1f ms\n", (lf_now_s() - t0) * 1e3);
    }
    t0 = lf_now_s();
    if (lf_ctx_eval(ctx, toks, n_prompt, false, &logits, &err) < 0)
        goto done;
    double t_pp = lf_now_s() - t0;
    int32_t eos = vocab ? lf_vocab_eos(vocab) : -1;
    uint64_t rng = seed;
    double t_tg = 0;
    int n_gen = 0;
    char piece[256];
    for (int i = 0; i < n_predict; i++) {
        int32_t tok = lf_sample(logits, hp->n_vocab, temp, top_p, &rng);
        if (tok == eos && !ignore_eos)
            break;
        if (vocab) {
            int len = lf_token_to_piece(vocab, tok, piece, sizeof piece);
            if (len > (int)sizeof piece - 1)
                len = (int)sizeof piece - 1;
            const char *pc = piece;
            /* a story started from BOS alone: drop the word-initial space
             * of its first piece, as llama.cpp does after BOS */
            if (n_gen == 0 && n_prompt == 1 && toks[0] == bos && len > 0 && piece[0] == ' ') {
                pc++;
                len--;
            }
            if (len > 0)
                fwrite(pc, 1, (size_t)len, stdout);
        } else {
            printf("[%d]", tok);
        }
        fflush(stdout);
        n_gen++;
        if (i + 1 == n_predict)
            break;   /* the last token needs no evaluation */
        t0 = lf_now_s();
        if (lf_ctx_eval(ctx, &tok, 1, false, &logits, &err) < 0)
            goto done;
        t_tg += lf_now_s() - t0;
    }
    printf("\n");
    int n_tg = n_gen > 0 ? n_gen - (n_gen == n_predict ? 1 : 0) : 0;
    fprintf(stderr, "pp: %d tokens in %.3f s = %.1f tokens/s\n", n_prompt, t_pp,
            t_pp > 0 ? n_prompt / t_pp : 0.0);
    if (n_tg > 0)
        fprintf(stderr, "tg: %d tokens in %.3f s = %.1f tokens/s\n", n_tg, t_tg, n_tg / t_tg);
    fprintf(stderr, "threads %d, context %d, KV cache %s %.1f MiB, weights %.1f MiB/token\n", threads,
            n_ctx, lf_type_name(kv), lf_ctx_kv_bytes(ctx) / 1048576.0,
            lf_model_weight_bytes(run_model) / 1048576.0);
    status = LF_EXIT_OK;
done:
    if (status != LF_EXIT_OK)
        lf_cli_fail(&err);
    lf_ctx_free(ctx);
    lf_pool_free(pool);
    free(toks);
    lf_model_free(merged);
    for (int i = 0; i < n_lora; i++)
        lf_lora_free(loras[i]);
    lf_model_free(model);
    return status;
}
