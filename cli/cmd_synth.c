/*
 * `localfit synth` — a catalog model (or an explicit shape) synthesized in a
 * quantization mix: weights generated directly in the target block formats,
 * in memory, optionally written as a GGUF with standard llama metadata and a
 * minimal vocabulary. Prints the shape, parameter count, size and timings.
 * The catalog entry → hyperparameters conversion is lf_catalog_to_hparams
 * (catalog/hparams.c), shared with `bench`. Mixture-of-experts shapes take
 * --experts/--experts-used (and the expert widths). Like bench and
 * generate, it refuses a model larger than the usable memory before
 * allocating anything, with the sizes (--force skips the check).
 */
#include "catalog/catalog.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "model/model.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit synth --model NAME --quant MIX [-o FILE.gguf] [--seed S] [--threads N]\n"
            "       localfit synth --layers N --dim N --heads N [--kv-heads N] [--head-dim N]\n"
            "                      --ff N --vocab N [--arch A] --quant MIX [-o FILE.gguf]\n\n"
            "Synthesizes a model directly in a quantization (valid blocks, realistic\n"
            "scales) and prints its size, parameter count and the time it took; -o\n"
            "writes it as a GGUF file that other GGUF readers load.\n\n"
            "  -m, --model NAME     catalog model (datasets/models.json; prefix ok)\n"
            "  -q, --quant MIX      F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M\n"
            "                       Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS\n"
            "  -o, --output FILE    write a GGUF file\n"
            "      --seed S         generator seed (default 1)\n"
            "  -t, --threads N      threads (default: all usable CPUs)\n"
            "      --arch A         llama (default), qwen2, qwen3, gemma, gemma2, gemma3, phi3,\n"
            "                       olmo2, granite, qwen2moe, qwen3moe, olmoe, granitemoe,\n"
            "                       gpt-oss (needs --experts; experts written in MXFP4)\n"
            "      --layers, --dim, --heads, --kv-heads, --head-dim, --ff, --vocab, --ctx N\n"
            "                       explicit shape (overrides the catalog entry's values)\n"
            "      --tied           no output.weight (tied embeddings)\n"
            "      --experts N      mixture of experts: N experts per layer (qwen2moe,\n"
            "                       qwen3moe, olmoe, granitemoe; llama = Mixtral)\n"
            "      --experts-used K experts per token (top k; default 2, at most N)\n"
            "      --ff-exp N       FFN width of one expert (default --ff)\n"
            "      --shared-ff N    FFN width of the shared expert (qwen2moe; default --ff-exp)\n"
            "      --swa N          sliding window of the sliding-window layers (gemma2,\n"
            "                       gemma3, gpt-oss; default the architecture's)\n"
            "      --force          skip the usable-memory check\n"
            "  -h, --help           this help\n");
}

/* Accepts mix names and the plain K-quant type names ("q4_k" → Q4_K_S). */
static int parse_quant(const char *s, lf_mix *out) {
    if (lf_mix_parse(s, out) == 0)
        return 0;
    static const struct { const char *name; lf_mix mix; } alias[] = {
        {"q2_k", LF_MIX_Q2_K}, {"q3_k", LF_MIX_Q3_K_S}, {"q4_k", LF_MIX_Q4_K_S},
        {"q5_k", LF_MIX_Q5_K_S}, {"q6_k", LF_MIX_Q6_K},
    };
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (strcasecmp(s, alias[i].name) == 0) {
            *out = alias[i].mix;
            return 0;
        }
    return -1;
}

/* The synthesized model's shape, experts, mix, parameters and sizes. */
static void print_summary(const lf_model *m, lf_mix mix, uint64_t seed) {
    const lf_model_params *h = lf_model_hparams(m);
    char b1[32], b2[32];
    printf("model      %s (%s)\n", h->name, lf_arch_name(h->arch));
    printf("shape      %d layers, embd %d, heads %d/%d kv, head_dim %d, ff %d, vocab %d, ctx %d%s%s%s\n",
           h->n_layer, h->n_embd, h->n_head, h->n_head_kv, h->head_dim, h->n_ff, h->n_vocab,
           h->n_ctx_train, h->tied ? ", tied" : "", h->qkv_bias ? ", qkv bias" : "",
           h->qk_norm ? ", qk-norm" : "");
    if (h->n_expert > 0)
        printf("experts    %d, %d per token, ff %d%s\n", h->n_expert, h->n_expert_used, h->n_ff_exp,
               h->n_expert_shared > 0 ? ", shared expert" : "");
    printf("quant      %s (seed %llu)\n", lf_mix_name(mix), (unsigned long long)seed);
    printf("params     %.3f B\n", lf_model_n_params(m) / 1e9);
    printf("size       %s (%.2f bits/weight), %s read per token\n",
           lf_format_bytes(b1, sizeof b1, (double)lf_model_total_bytes(m)),
           8.0 * lf_model_total_bytes(m) / (double)lf_model_n_params(m),
           lf_format_bytes(b2, sizeof b2, (double)lf_model_weight_bytes(m)));
}

int cmd_synth(int argc, char **argv) {
    enum { O_SEED = 256, O_ARCH, O_LAYERS, O_DIM, O_HEADS, O_KVH, O_HD, O_FF, O_VOCAB, O_CTX,
           O_EXPERTS, O_USED, O_FF_EXP, O_FF_SH, O_TIED, O_FORCE, O_SWA };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},  {"quant", required_argument, 0, 'q'},
        {"output", required_argument, 0, 'o'}, {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, 't'}, {"arch", required_argument, 0, O_ARCH},
        {"layers", required_argument, 0, O_LAYERS}, {"dim", required_argument, 0, O_DIM},
        {"heads", required_argument, 0, O_HEADS}, {"kv-heads", required_argument, 0, O_KVH},
        {"head-dim", required_argument, 0, O_HD}, {"ff", required_argument, 0, O_FF},
        {"vocab", required_argument, 0, O_VOCAB}, {"ctx", required_argument, 0, O_CTX},
        {"tied", no_argument, 0, O_TIED},      {"help", no_argument, 0, 'h'},
        {"experts", required_argument, 0, O_EXPERTS}, {"experts-used", required_argument, 0, O_USED},
        {"ff-exp", required_argument, 0, O_FF_EXP}, {"shared-ff", required_argument, 0, O_FF_SH},
        {"force", no_argument, 0, O_FORCE}, {"swa", required_argument, 0, O_SWA},
        {0, 0, 0, 0},
    };
    const char *name = NULL, *quant = NULL, *out = NULL, *arch_s = NULL;
    uint64_t seed = 1;
    int threads = 0, swa = 0, shape[O_FF_SH - O_LAYERS + 1] = {0};
    bool tied = false, force = false;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "m:q:o:t:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': name = optarg; break;
        case 'q': quant = optarg; break;
        case 'o': out = optarg; break;
        case 't':
            if (lf_arg_int(optarg, 1, 1 << 30, &threads) < 0 || threads > 1024)
                return lf_cli_usage_error(argv[0], "--threads: '%s' is not a thread count", optarg);
            break;
        case O_SEED: {
            char *end;
            seed = strtoull(optarg, &end, 10);
            if (*optarg == 0 || *end != 0)
                return lf_cli_usage_error(argv[0], "--seed: '%s' is not a number", optarg);
            break;
        }
        case O_ARCH: arch_s = optarg; break;
        case O_LAYERS: case O_DIM: case O_HEADS: case O_KVH: case O_HD: case O_FF: case O_VOCAB:
        case O_CTX: case O_EXPERTS: case O_USED: case O_FF_EXP: case O_FF_SH:
            if (lf_arg_int(optarg, 1, 1 << 30, &shape[ch - O_LAYERS]) < 0)
                return lf_cli_usage_error(argv[0], "'%s' is not a positive size", optarg);
            break;
        case O_SWA:
            if (lf_arg_int(optarg, 1, 1 << 30, &swa) < 0)
                return lf_cli_usage_error(argv[0], "--swa: '%s' is not a positive window", optarg);
            break;
        case O_TIED: tied = true; break;
        case O_FORCE: force = true; break;
        case 'h': usage(stdout); return LF_EXIT_OK;
        default: return lf_cli_bad_option(argv[0], argv, opts);
        }
    }
    if (optind < argc)
        return lf_cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    if (!quant)
        return lf_cli_usage_error(argv[0], "--quant is required");
    lf_mix mix;
    if (parse_quant(quant, &mix) < 0)
        return lf_cli_usage_error(argv[0], "--quant: unknown quantization '%s'", quant);
    if (!name && (!shape[O_LAYERS - O_LAYERS] || !shape[O_DIM - O_LAYERS] ||
                  !shape[O_HEADS - O_LAYERS] || !shape[O_FF - O_LAYERS] || !shape[O_VOCAB - O_LAYERS]))
        return lf_cli_usage_error(argv[0],
                                  "give --model NAME or a shape (--layers --dim --heads --ff --vocab)");
    if (threads == 0)
        threads = lf_usable_cpus();

    lf_error err = {0};
    lf_model_params hp;
    lf_catalog *cat = NULL;
    if (name) {
        if (lf_catalog_load(&cat, lf_cli_datadir(), &err) < 0)
            return lf_cli_fail(&err);
        const lf_catalog_model *cm;
        if (lf_catalog_match(cat, name, &cm, &err) < 0 || lf_catalog_to_hparams(cm, &hp, &err) < 0) {
            lf_catalog_free(cat);
            return lf_cli_fail(&err);
        }
        lf_catalog_free(cat);
    } else {
        lf_arch arch = LF_ARCH_LLAMA;
        if (arch_s && lf_arch_parse(arch_s, &arch, &err) < 0)
            return lf_cli_usage_error(argv[0], "--arch: %s", err.msg);
        lf_model_params_init(&hp, arch);
        snprintf(hp.name, sizeof hp.name, "synthetic-%s", lf_arch_name(arch));
    }
    /* explicit flags override */
    int *fields[] = {&hp.n_layer, &hp.n_embd, &hp.n_head, &hp.n_head_kv, &hp.head_dim,
                     &hp.n_ff, &hp.n_vocab, &hp.n_ctx_train, &hp.n_expert, &hp.n_expert_used,
                     &hp.n_ff_exp, &hp.n_ff_shexp};
    for (int i = 0; i <= O_FF_SH - O_LAYERS; i++)
        if (shape[i])
            *fields[i] = shape[i];
    if (hp.n_expert > 0 && hp.n_expert_used == 0)
        hp.n_expert_used = hp.n_expert < 2 ? hp.n_expert : 2;
    if (hp.n_expert == 0 && (shape[O_USED - O_LAYERS] || shape[O_FF_EXP - O_LAYERS] ||
                             shape[O_FF_SH - O_LAYERS]))
        return lf_cli_usage_error(argv[0], "--experts-used, --ff-exp and --shared-ff need --experts");
    if (tied)
        hp.tied = true;
    if (swa && hp.swa_window == 0)
        return lf_cli_usage_error(argv[0], "--swa: %s has no sliding-window layers",
                                  lf_arch_name(hp.arch));
    if (swa)
        hp.swa_window = swa;
    if (lf_model_params_check(&hp, &err) < 0)
        return lf_cli_fail(&err);
    /* refuse what cannot fit before allocating any of it */
    uint64_t need;
    if (lf_model_synth_bytes(&hp, mix, &need, &err) < 0)
        return lf_cli_fail(&err);
    const uint64_t budget = lf_cli_mem_budget(force);
    if (budget && need > budget) {
        char b_need[32], b_have[32];
        lf_error_set(&err, LF_ETOOBIG,
                     "synth: the model needs %s (%llu bytes of weights) in memory, more than the "
                     "usable memory of %s (%llu bytes)",
                     lf_format_bytes(b_need, sizeof b_need, (double)need), (unsigned long long)need,
                     lf_format_bytes(b_have, sizeof b_have, (double)budget),
                     (unsigned long long)budget);
        return lf_cli_fail(&err);
    }

    lf_pool *pool = lf_pool_create(threads, false);
    if (!pool) {
        lf_error_set(&err, LF_ENOMEM, "cannot start %d threads", threads);
        return lf_cli_fail(&err);
    }
    lf_model *m;
    double t0 = lf_now_s();
    int rc = lf_model_synth_ex(&m, &hp, mix, seed, pool, &err);
    double t_synth = lf_now_s() - t0;
    lf_pool_free(pool);
    if (rc < 0)
        return lf_cli_fail(&err);
    print_summary(m, mix, seed);
    printf("synth time %.2f s (%d threads)\n", t_synth, threads);
    if (out) {
        t0 = lf_now_s();
        if (lf_model_save_gguf(m, out, &err) < 0) {
            lf_model_free(m);
            return lf_cli_fail(&err);
        }
        printf("written    %s in %.2f s\n", out, lf_now_s() - t0);
    }
    lf_model_free(m);
    return LF_EXIT_OK;
}
