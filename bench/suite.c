/*
 * The benchmark matrix: its defaults, suite files (datasets/suites/NAME.conf,
 * grammar in datasets/suites/README.md) and llama-bench style command-line
 * flags. Both spellings go through one table of keys and one set of value
 * parsers, so `-p 128,512` on the command line and `n_prompt = 128, 512` in
 * a file mean the same and fail with the same words.
 *
 * The parser reads untrusted text (it is fuzzed): every line is bounded,
 * every list and range has a cap, nothing is allocated in proportion to a
 * number written in the file, and a failed parse leaves the caller's matrix
 * untouched (the file is parsed into a copy that replaces it on success).
 */
#include "bench/bench.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LIST 256          /* values in one list after range expansion */
#define MAX_MODELS 64
#define MAX_ADAPTERS 32
#define MAX_PARTS 64
#define MAX_SHAPES 64
#define MAX_LINE 4096
#define MAX_FILE (1 << 20)

/* ---- keys ---------------------------------------------------------------- */

typedef enum key_id {
    K_NAME = 0, K_DESC, K_MODELS, K_QUANTS, K_ADAPTERS, K_THREADS, K_NPROMPT, K_NGEN,
    K_DEPTH, K_KV, K_TESTS, K_ISA, K_REPS, K_TARGET, K_BUDGET, K_WARMUP, K_PASSES, K_SEED,
    K_ROOFS, K_PIN, K_LORA_TARGETS, K_SHAPE, K_COUNT
} key_id;

typedef struct key_def {
    const char *key;            /* suite spelling */
    const char *alias[5];       /* flag spellings without dashes, '-' as '_' */
    bool part;                  /* may differ per [section] */
    bool is_switch;             /* a flag without a value means "yes" */
} key_def;

static const key_def keys[K_COUNT] = {
    [K_NAME] = {"name", {0}, false, false},
    [K_DESC] = {"description", {0}, false, false},
    [K_MODELS] = {"models", {"m", "model"}, true, false},
    [K_QUANTS] = {"quants", {"q", "quant"}, true, false},
    [K_ADAPTERS] = {"adapters", {"lora", "adapter", "loras"}, true, false},
    [K_THREADS] = {"threads", {"t", "thread"}, true, false},
    [K_NPROMPT] = {"n_prompt", {"p", "prompt"}, true, false},
    [K_NGEN] = {"n_gen", {"n", "gen"}, true, false},
    [K_DEPTH] = {"depth", {"d", "n_depth"}, true, false},
    [K_KV] = {"kv", {"kv_type", "ctk", "cache_type"}, true, false},
    [K_TESTS] = {"tests", {"test"}, true, false},
    [K_ISA] = {"isa", {0}, false, false},
    [K_REPS] = {"reps", {"r", "repetitions"}, false, false},
    [K_TARGET] = {"target_ci", {"ci"}, false, false},
    [K_BUDGET] = {"budget", {0}, false, false},
    [K_WARMUP] = {"warmup", {"warm_up"}, false, false},
    [K_PASSES] = {"passes", {0}, false, false},
    [K_SEED] = {"seed", {0}, false, false},
    [K_ROOFS] = {"roofs", {0}, false, true},
    [K_PIN] = {"pin", {0}, false, true},
    [K_LORA_TARGETS] = {"lora_targets", {0}, false, false},
    [K_SHAPE] = {"shape", {0}, false, false},
};

static const char *const lora_target_names[] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "output",
};

/* ---- small helpers ---------------------------------------------------------- */

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

static int list_push(lf_bench_list *l, int v) {
    if (l->n >= MAX_LIST)
        return LF_ERANGE;
    int *p = realloc(l->v, sizeof *p * (size_t)(l->n + 1));
    if (!p)
        return LF_ENOMEM;
    l->v = p;
    l->v[l->n++] = v;
    return 0;
}

static void list_free(lf_bench_list *l) {
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int list_copy(lf_bench_list *dst, const lf_bench_list *src) {
    dst->v = NULL;
    dst->n = 0;
    if (!src->n)
        return 0;
    dst->v = malloc(sizeof *dst->v * (size_t)src->n);
    if (!dst->v)
        return LF_ENOMEM;
    memcpy(dst->v, src->v, sizeof *dst->v * (size_t)src->n);
    dst->n = src->n;
    return 0;
}

static void part_free(lf_bench_part *p) {
    for (int i = 0; i < p->n_models; i++)
        free(p->models[i]);
    free(p->models);
    free(p->adapters);
    list_free(&p->quants);
    list_free(&p->threads);
    list_free(&p->n_prompt);
    list_free(&p->n_gen);
    list_free(&p->depth);
    list_free(&p->kv);
    memset(p, 0, sizeof *p);
}

static int part_copy(lf_bench_part *dst, const lf_bench_part *src) {
    memset(dst, 0, sizeof *dst);
    memcpy(dst->name, src->name, sizeof dst->name);
    dst->tests = src->tests;
    if (src->n_models) {
        dst->models = calloc((size_t)src->n_models, sizeof *dst->models);
        if (!dst->models)
            goto oom;
        for (int i = 0; i < src->n_models; i++) {
            if (!(dst->models[i] = strdup(src->models[i])))
                goto oom;
            dst->n_models = i + 1;
        }
    }
    if (src->n_adapters) {
        dst->adapters = malloc(sizeof *dst->adapters * (size_t)src->n_adapters);
        if (!dst->adapters)
            goto oom;
        memcpy(dst->adapters, src->adapters, sizeof *dst->adapters * (size_t)src->n_adapters);
        dst->n_adapters = src->n_adapters;
    }
    if (list_copy(&dst->quants, &src->quants) || list_copy(&dst->threads, &src->threads) ||
        list_copy(&dst->n_prompt, &src->n_prompt) || list_copy(&dst->n_gen, &src->n_gen) ||
        list_copy(&dst->depth, &src->depth) || list_copy(&dst->kv, &src->kv))
        goto oom;
    return 0;
oom:
    part_free(dst);
    return LF_ENOMEM;
}

void lf_bench_matrix_free(lf_bench_matrix *m) {
    if (!m)
        return;
    for (int i = 0; i < m->n_parts; i++)
        part_free(&m->parts[i]);
    free(m->parts);
    free(m->shapes);
    list_free(&m->isa);
    memset(m, 0, sizeof *m);
}

/* Deep copy; dst is overwritten. */
static int matrix_copy(lf_bench_matrix *dst, const lf_bench_matrix *src) {
    *dst = *src;
    dst->parts = NULL;
    dst->n_parts = 0;
    dst->shapes = NULL;
    dst->n_shapes = 0;
    dst->isa.v = NULL;
    dst->isa.n = 0;
    if (src->n_parts) {
        dst->parts = calloc((size_t)src->n_parts, sizeof *dst->parts);
        if (!dst->parts)
            goto oom;
        for (int i = 0; i < src->n_parts; i++) {
            if (part_copy(&dst->parts[i], &src->parts[i]) < 0)
                goto oom;
            dst->n_parts = i + 1;
        }
    }
    if (src->n_shapes) {
        dst->shapes = malloc(sizeof *dst->shapes * (size_t)src->n_shapes);
        if (!dst->shapes)
            goto oom;
        memcpy(dst->shapes, src->shapes, sizeof *dst->shapes * (size_t)src->n_shapes);
        dst->n_shapes = src->n_shapes;
    }
    if (list_copy(&dst->isa, &src->isa) < 0)
        goto oom;
    return 0;
oom:
    lf_bench_matrix_free(dst);
    return LF_ENOMEM;
}

static void set_default_targets(lf_bench_matrix *m) {
    m->n_lora_targets = 7;   /* every linear map of a block: what QLoRA-style fine-tunes adapt */
    for (int i = 0; i < 7; i++)
        lf_strlcpy(m->lora_targets[i], lora_target_names[i], sizeof m->lora_targets[i]);
}

void lf_bench_matrix_init(lf_bench_matrix *m) {
    memset(m, 0, sizeof *m);
    m->reps_min = 3;
    m->reps_max = 20;
    m->target_ci = 0.03;
    m->budget_s = 10;
    m->warmup = 1;
    m->passes = 1;
    m->seed = 1;
    m->pin = true;
    set_default_targets(m);
    m->parts = calloc(1, sizeof *m->parts);
    if (!m->parts)
        return;   /* n_parts stays 0: lf_bench_run reports it */
    m->n_parts = 1;
    lf_bench_part *p = &m->parts[0];
    /* Allocation failures here leave a list empty, which the planner
     * reports as a configuration without values. */
    (void)list_push(&p->quants, LF_MIX_Q4_K_M);
    (void)list_push(&p->threads, 0);
    (void)list_push(&p->n_prompt, 512);
    (void)list_push(&p->n_gen, 128);
    (void)list_push(&p->depth, 0);
    (void)list_push(&p->kv, LF_TYPE_F16);
    p->tests = 1u << LF_TEST_PP | 1u << LF_TEST_TG;
    p->adapters = calloc(1, sizeof *p->adapters);
    if (p->adapters) {
        lf_strlcpy(p->adapters[0].spec, "none", sizeof p->adapters[0].spec);
        p->n_adapters = 1;
    }
}

/* ---- value parsers ------------------------------------------------------- */

/* Parses a non-negative decimal integer <= max; the whole string. */
static bool parse_uint(const char *s, long long max, long long *out) {
    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0 || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out) {
    static const char *const yes[] = {"yes", "on", "true", "1"}, *const no[] = {"no", "off", "false", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i]))
            return *out = true, true;
        if (!strcasecmp(s, no[i]))
            return *out = false, true;
    }
    return false;
}

int lf_bench_quant_parse(const char *s, lf_mix *out) {
    /* the mix names and llama.cpp's short forms (Q4_K = Q4_K_M) */
    return lf_mix_parse(s, out) == 0 ? 0 : LF_EINVAL;
}

static bool ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

int lf_bench_adapter_parse(const char *s, lf_bench_adapter *out, lf_error *err) {
    memset(out, 0, sizeof *out);
    char buf[512];
    if (strlen(s) >= sizeof buf)
        return lf_error_set(err, LF_EINVAL, "adapter '%.40s...': too long", s);
    lf_strlcpy(buf, s, sizeof buf);
    char *v = trim(buf);
    if (!strcasecmp(v, "none")) {
        lf_strlcpy(out->spec, "none", sizeof out->spec);
        out->mode = LF_ADAPTER_NONE;
        return 0;
    }
    out->mode = LF_ADAPTER_RUNTIME;
    size_t n = strlen(v);
    if (ends_with_ci(v, ":merged")) {
        out->mode = LF_ADAPTER_MERGED;
        v[n - 7] = 0;
    } else if (ends_with_ci(v, ":runtime")) {
        v[n - 8] = 0;
    }
    if ((v[0] == 'r' || v[0] == 'R') && isdigit((unsigned char)v[1])) {
        char *x = strpbrk(v + 1, "xX");
        long long rank, k = 1;
        if (x)
            *x = 0;
        if (!parse_uint(v + 1, 4096, &rank) || rank < 1 ||
            (x && (!parse_uint(x + 1, 8, &k) || k < 1)))
            return lf_error_set(err, LF_EINVAL,
                                "adapter '%s': rRANK[xK] needs a rank of 1-4096 and 1-8 adapters", s);
        out->rank = (int)rank;
        out->n = (int)k;
        int w = k > 1 ? snprintf(out->spec, sizeof out->spec, "r%dx%d", out->rank, out->n)
                      : snprintf(out->spec, sizeof out->spec, "r%d", out->rank);
        if (out->mode == LF_ADAPTER_MERGED)
            snprintf(out->spec + w, sizeof out->spec - (size_t)w, ":merged");
        return 0;
    }
    if (ends_with_ci(v, ".gguf") && strlen(v) > 5) {
        if (strlen(v) >= sizeof out->path)
            return lf_error_set(err, LF_EINVAL, "adapter path too long: '%.60s...'", v);
        lf_strlcpy(out->path, v, sizeof out->path);
        out->n = 1;
        const char *base = strrchr(v, '/');
        base = base ? base + 1 : v;
        snprintf(out->spec, sizeof out->spec, "%.240s%s", base,
                 out->mode == LF_ADAPTER_MERGED ? ":merged" : "");
        return 0;
    }
    return lf_error_set(err, LF_EINVAL,
                        "adapter '%s': expected none, rRANK[xK][:merged] (e.g. r16, r8x2:merged) "
                        "or an adapter FILE.gguf[:merged]", s);
}

/* Expands one list item "A", "A-B", "A-B+S" or "A-B*F" into l. lo is the
 * smallest value allowed, hi the largest. */
static int expand_range(const char *item, long long lo, long long hi, lf_bench_list *l,
                        const char *what, lf_error *err) {
    char buf[128];
    if (strlen(item) >= sizeof buf)
        return lf_error_set(err, LF_EINVAL, "%s: '%.40s...' is not a number or range", what, item);
    lf_strlcpy(buf, item, sizeof buf);
    char *dash = strchr(buf, '-');
    long long a, b, step = 1;
    bool mult = false;
    if (!dash) {
        if (!parse_uint(buf, hi, &a) || a < lo)
            return lf_error_set(err, LF_EINVAL, "%s: '%s' is not a value in %lld-%lld", what, item, lo, hi);
        int rc = list_push(l, (int)a);
        return rc == LF_ERANGE ? lf_error_set(err, rc, "%s: more than %d values", what, MAX_LIST)
               : rc ? lf_error_set(err, rc, "%s: out of memory", what) : 0;
    }
    *dash = 0;
    char *rest = dash + 1, *op = strpbrk(rest, "+*");
    if (op) {
        mult = *op == '*';
        *op = 0;
        if (!parse_uint(op + 1, hi, &step) || step < (mult ? 2 : 1))
            return lf_error_set(err, LF_EINVAL,
                                "%s: bad step in range '%s' (+N adds N >= 1, *N multiplies by N >= 2)", what,
                                item);
    }
    if (!parse_uint(buf, hi, &a) || !parse_uint(rest, hi, &b) || a < lo || b < a)
        return lf_error_set(err, LF_EINVAL,
                            "%s: '%s' is not a range FIRST-LAST with %lld <= FIRST <= LAST <= %lld", what,
                            item, lo, hi);
    if (mult && a == 0)
        return lf_error_set(err, LF_EINVAL, "%s: range '%s' multiplies from 0", what, item);
    for (long long v = a; v <= b; v = mult ? v * step : v + step) {
        int rc = list_push(l, (int)v);
        if (rc == LF_ERANGE)
            return lf_error_set(err, rc, "%s: range '%s' gives more than %d values", what, item, MAX_LIST);
        if (rc)
            return lf_error_set(err, rc, "%s: out of memory", what);
    }
    return 0;
}

/* Splits value at commas into trimmed items; calls fn on each. Empty
 * items are an error. */
typedef int (*item_fn)(void *ctx, const char *item, lf_error *err);
static int for_items(const char *value, const char *what, item_fn fn, void *ctx, lf_error *err) {
    size_t len = strlen(value);
    char *buf = malloc(len + 1);
    if (!buf)
        return lf_error_set(err, LF_ENOMEM, "%s: out of memory", what);
    memcpy(buf, value, len + 1);
    int rc = 0;
    char *p = buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        char *item = trim(p);
        if (!*item) {
            rc = lf_error_set(err, LF_EINVAL, "%s: empty value in the list '%s'", what, value);
            break;
        }
        if ((rc = fn(ctx, item, err)) < 0)
            break;
        if (!comma)
            break;
        p = comma + 1;
    }
    free(buf);
    return rc;
}

typedef struct int_ctx {
    lf_bench_list *l;
    long long lo, hi;
    const char *what;
    bool all;                  /* "all" means 0 */
} int_ctx;

static int int_item(void *vctx, const char *item, lf_error *err) {
    int_ctx *c = vctx;
    if (c->all && !strcasecmp(item, "all"))
        return list_push(c->l, 0) < 0 ? lf_error_set(err, LF_ERANGE, "%s: too many values", c->what) : 0;
    size_t il = strlen(item);
    if (c->all && il > 4 && !strcasecmp(item + il - 4, "-all")) {
        /* "N-all": N up to the usable threads, known only when running;
         * kept as -N */
        char num[16];
        long long v;
        if (il - 4 >= sizeof num)
            return lf_error_set(err, LF_EINVAL, "%s: '%s' is not N-all", c->what, item);
        memcpy(num, item, il - 4);
        num[il - 4] = 0;
        if (!parse_uint(num, c->hi, &v) || v < 1)
            return lf_error_set(err, LF_EINVAL, "%s: '%s' is not N-all with N >= 1", c->what, item);
        return list_push(c->l, (int)-v) < 0 ? lf_error_set(err, LF_ERANGE, "%s: too many values", c->what)
                                            : 0;
    }
    return expand_range(item, c->lo, c->hi, c->l, c->what, err);
}

static int kv_item(void *vctx, const char *item, lf_error *err) {
    lf_bench_list *l = vctx;
    lf_type t;
    if (lf_kv_type_parse(item, &t) < 0)
        return lf_error_set(err, LF_EINVAL, "kv: '%s' is not a KV cache type (f16, q8_0, f32)", item);
    return list_push(l, t) < 0 ? lf_error_set(err, LF_ERANGE, "kv: too many values") : 0;
}

static int quant_item(void *vctx, const char *item, lf_error *err) {
    lf_bench_list *l = vctx;
    lf_mix mix;
    if (lf_bench_quant_parse(item, &mix) < 0)
        return lf_error_set(err, LF_EINVAL,
                            "quants: '%s' is not a quantization (F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 "
                            "Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS)",
                            item);
    return list_push(l, mix) < 0 ? lf_error_set(err, LF_ERANGE, "quants: too many values") : 0;
}

static int isa_item(void *vctx, const char *item, lf_error *err) {
    lf_bench_list *l = vctx;
    lf_isa_level lv;
    if (!strcasecmp(item, "all")) {
        /* every SIMD kernel set this CPU runs, weakest first (the ISA table
         * gives ratios to the first); scalar is the reference, not a
         * performance target: name it to include it */
        lf_isa cpu;
        lf_isa_detect(&cpu);
        for (int v = LF_ISA_SCALAR + 1; v < LF_ISA_COUNT; v++)
            if (lf_isa_supported(&cpu, (lf_isa_level)v) && list_push(l, v) < 0)
                return lf_error_set(err, LF_ERANGE, "isa: too many values");
        return 0;
    }
    if (lf_isa_level_parse(item, &lv) < 0)
        return lf_error_set(err, LF_EINVAL,
                            "isa: '%s' is not a kernel ISA (scalar, avx2, avx512, neon, all)", item);
    return list_push(l, lv) < 0 ? lf_error_set(err, LF_ERANGE, "isa: too many values") : 0;
}

static int tests_item(void *vctx, const char *item, lf_error *err) {
    unsigned *mask = vctx;
    if (!strcasecmp(item, "all")) {
        *mask |= 1u << LF_TEST_PP | 1u << LF_TEST_TG | 1u << LF_TEST_TTFT | 1u << LF_TEST_ADAPTER_LOAD |
                 1u << LF_TEST_ADAPTER_SWAP | 1u << LF_TEST_MODEL_LOAD;
        return 0;
    }
    lf_test_kind k;
    if (lf_test_kind_parse(item, &k) < 0 || k == LF_TEST_PG)
        return lf_error_set(err, LF_EINVAL,
                            "tests: '%s' is not a test (pp, tg, ttft, adapter_load, adapter_swap, "
                            "model_load, all)", item);
    *mask |= 1u << k;
    return 0;
}

typedef struct model_ctx {
    char ***models;
    int *n;
} model_ctx;

static int model_item(void *vctx, const char *item, lf_error *err) {
    model_ctx *c = vctx;
    if (*c->n >= MAX_MODELS)
        return lf_error_set(err, LF_ERANGE, "models: more than %d models", MAX_MODELS);
    if (strlen(item) >= 512)
        return lf_error_set(err, LF_EINVAL, "models: name or path too long: '%.60s...'", item);
    char **p = realloc(*c->models, sizeof *p * (size_t)(*c->n + 1));
    if (!p)
        return lf_error_set(err, LF_ENOMEM, "models: out of memory");
    *c->models = p;
    if (!(p[*c->n] = strdup(item)))
        return lf_error_set(err, LF_ENOMEM, "models: out of memory");
    (*c->n)++;
    return 0;
}

typedef struct adapter_ctx {
    lf_bench_adapter **a;
    int *n;
} adapter_ctx;

static int adapter_item(void *vctx, const char *item, lf_error *err) {
    adapter_ctx *c = vctx;
    if (*c->n >= MAX_ADAPTERS)
        return lf_error_set(err, LF_ERANGE, "adapters: more than %d adapter configurations", MAX_ADAPTERS);
    lf_bench_adapter ad;
    int rc = lf_bench_adapter_parse(item, &ad, err);
    if (rc < 0)
        return rc;
    lf_bench_adapter *p = realloc(*c->a, sizeof *p * (size_t)(*c->n + 1));
    if (!p)
        return lf_error_set(err, LF_ENOMEM, "adapters: out of memory");
    *c->a = p;
    p[(*c->n)++] = ad;
    return 0;
}

typedef struct target_set {
    char lora_targets[8][16];
    int n_lora_targets;
} target_set;

static int target_item(void *vctx, const char *item, lf_error *err) {
    target_set *m = vctx;
    size_t nn = sizeof lora_target_names / sizeof lora_target_names[0];
    for (size_t i = 0; i < nn; i++)
        if (!strcmp(item, lora_target_names[i])) {
            if (m->n_lora_targets >= 8)
                return lf_error_set(err, LF_ERANGE, "lora_targets: at most 8");
            for (int j = 0; j < m->n_lora_targets; j++)
                if (!strcmp(m->lora_targets[j], item))
                    return 0;
            lf_strlcpy(m->lora_targets[m->n_lora_targets++], item, sizeof m->lora_targets[0]);
            return 0;
        }
    return lf_error_set(err, LF_EINVAL,
                        "lora_targets: '%s' is not a target (attn_q, attn_k, attn_v, attn_output, "
                        "ffn_gate, ffn_up, ffn_down, output)", item);
}

/* "3%", "0.03" or "3" (>= 1 read as percent). */
static bool parse_rel(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v <= 0)
        return false;
    if (*end == '%') {
        end++;
        v /= 100;
    } else if (v >= 1) {
        v /= 100;
    }
    if (*end || v <= 0 || v >= 1)
        return false;
    *out = v;
    return true;
}

/* "10", "10s", "1.5m", "500ms" → seconds. */
static bool parse_seconds(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v <= 0)
        return false;
    if (!strcmp(end, "ms"))
        v /= 1000;
    else if (!strcmp(end, "m") || !strcmp(end, "min"))
        v *= 60;
    else if (*end && strcmp(end, "s"))
        return false;
    if (v > 1e6)
        return false;
    *out = v;
    return true;
}

static bool valid_name(const char *s, size_t max) {
    size_t n = strlen(s);
    if (!n || n >= max)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return false;
    return true;
}

/* "[ARCH] key=value ..." (whitespace or commas between tokens). */
static int parse_shape(const char *name, const char *spec, lf_bench_shape *out, lf_error *err) {
    memset(out, 0, sizeof *out);
    if (!valid_name(name, sizeof out->name))
        return lf_error_set(err, LF_EINVAL, "shape name '%s': use letters, digits, '.', '_', '-' (< 64)",
                            name);
    lf_strlcpy(out->name, name, sizeof out->name);
    char buf[MAX_LINE];
    if (strlen(spec) >= sizeof buf)
        return lf_error_set(err, LF_EINVAL, "shape %s: too long", name);
    lf_strlcpy(buf, spec, sizeof buf);
    lf_arch arch = LF_ARCH_LLAMA;
    struct { const char *k[3]; long long max; long long v; } f[] = {
        {{"layers", "n_layer"}, 512, 0},       {{"dim", "embd", "n_embd"}, 65536, 0},
        {{"heads", "n_head"}, 1024, 0},        {{"kv_heads", "n_head_kv"}, 1024, 0},
        {{"head_dim"}, 4096, 0},               {{"ff", "n_ff"}, 1 << 20, 0},
        {{"vocab", "n_vocab"}, 1 << 22, 0},    {{"ctx", "n_ctx"}, 1 << 22, 0},
    };
    enum { F_LAYERS, F_DIM, F_HEADS, F_KVH, F_HD, F_FF, F_VOCAB, F_CTX, F_N };
    bool tied = false, qkv_bias = false, qk_norm = false;
    double rope_base = 0, eps = 0;
    int tok_i = 0;
    for (char *save = NULL, *t = strtok_r(buf, " \t,", &save); t;
         t = strtok_r(NULL, " \t,", &save), tok_i++) {
        char *eq = strchr(t, '=');
        if (!eq) {
            bool *flag = !strcmp(t, "tied") ? &tied : !strcmp(t, "qkv_bias") ? &qkv_bias
                         : !strcmp(t, "qk_norm") ? &qk_norm : NULL;
            if (flag) {
                *flag = true;
                continue;
            }
            lf_error e2 = {0};
            if (tok_i == 0 && lf_arch_parse(t, &arch, &e2) == 0)
                continue;
            return lf_error_set(err, LF_EINVAL,
                                "shape %s: '%s' is neither an architecture (first) nor key=value", name, t);
        }
        *eq = 0;
        const char *k = t, *v = eq + 1;
        if (!strcmp(k, "arch")) {
            lf_error e2 = {0};
            if (lf_arch_parse(v, &arch, &e2) < 0)
                return lf_error_set(err, LF_EINVAL, "shape %s: unknown architecture '%s'", name, v);
            continue;
        }
        if (!strcmp(k, "rope_base") || !strcmp(k, "eps") || !strcmp(k, "norm_eps")) {
            char *end;
            double d = strtod(v, &end);
            if (end == v || *end || !isfinite(d) || d <= 0 || d > 1e9)
                return lf_error_set(err, LF_EINVAL, "shape %s: %s '%s' is not a positive number", name, k, v);
            *(k[0] == 'r' ? &rope_base : &eps) = d;
            continue;
        }
        if (!strcmp(k, "tied") || !strcmp(k, "qkv_bias") || !strcmp(k, "qk_norm")) {
            bool b;
            if (!parse_bool(v, &b))
                return lf_error_set(err, LF_EINVAL, "shape %s: %s '%s' is not yes/no", name, k, v);
            *(k[0] == 't' ? &tied : k[2] == 'v' ? &qkv_bias : &qk_norm) = b;
            continue;
        }
        int found = -1;
        for (int i = 0; i < F_N && found < 0; i++)
            for (int j = 0; j < 3 && f[i].k[j]; j++)
                if (!strcmp(k, f[i].k[j]))
                    found = i;
        if (found < 0)
            return lf_error_set(err, LF_EINVAL,
                                "shape %s: unknown key '%s' (layers, dim, heads, kv_heads, head_dim, ff, "
                                "vocab, ctx, rope_base, eps, tied, qkv_bias, qk_norm, arch)", name, k);
        if (!parse_uint(v, f[found].max, &f[found].v) || f[found].v < 1)
            return lf_error_set(err, LF_EINVAL, "shape %s: %s '%s' is not a size in 1-%lld", name, k, v,
                                f[found].max);
    }
    static const char *const need[] = {"layers", "dim", "heads", NULL, NULL, "ff", "vocab"};
    for (int i = 0; i <= F_VOCAB; i++)
        if (need[i] && !f[i].v)
            return lf_error_set(err, LF_EINVAL, "shape %s: %s is required (layers, dim, heads, ff, vocab)",
                                name, need[i]);
    lf_model_params *hp = &out->hp;
    lf_model_params_init(hp, arch);
    snprintf(hp->name, sizeof hp->name, "%s", name);
    hp->n_layer = (int)f[F_LAYERS].v;
    hp->n_embd = (int)f[F_DIM].v;
    hp->n_head = (int)f[F_HEADS].v;
    hp->n_head_kv = (int)f[F_KVH].v;
    hp->head_dim = (int)f[F_HD].v;
    hp->n_ff = (int)f[F_FF].v;
    hp->n_vocab = (int)f[F_VOCAB].v;
    hp->n_ctx_train = f[F_CTX].v ? (int)f[F_CTX].v : 4096;
    if (rope_base > 0)
        hp->rope_base = (float)rope_base;
    if (eps > 0)
        hp->norm_eps = (float)eps;
    hp->tied = tied;
    hp->qkv_bias = hp->qkv_bias || qkv_bias;
    hp->qk_norm = hp->qk_norm || qk_norm;
    int rc = lf_model_params_check(hp, err);
    if (rc < 0)
        return lf_error_wrap(err, "shape %s", name);
    return 0;
}

static int add_shape(lf_bench_matrix *m, const lf_bench_shape *s, bool replace, lf_error *err) {
    for (int i = 0; i < m->n_shapes; i++)
        if (!strcmp(m->shapes[i].name, s->name)) {
            if (!replace)
                return lf_error_set(err, LF_EINVAL, "shape %s is defined twice", s->name);
            m->shapes[i] = *s;
            return 0;
        }
    if (m->n_shapes >= MAX_SHAPES)
        return lf_error_set(err, LF_ERANGE, "more than %d shapes", MAX_SHAPES);
    lf_bench_shape *p = realloc(m->shapes, sizeof *p * (size_t)(m->n_shapes + 1));
    if (!p)
        return lf_error_set(err, LF_ENOMEM, "shapes: out of memory");
    m->shapes = p;
    p[m->n_shapes++] = *s;
    return 0;
}

/* ---- applying one key ----------------------------------------------------- */

/* Applies key to part p (part keys) or m (global keys). append: add to the
 * part's list instead of replacing it. */
static int apply_part_key(lf_bench_part *p, key_id k, const char *value, bool append, lf_error *err) {
    const char *what = keys[k].key;
    lf_bench_list tmp = {0};
    int rc = 0;
    switch (k) {
    case K_MODELS: {
        char **models = NULL;
        int n = 0;
        model_ctx c = {&models, &n};
        rc = for_items(value, what, model_item, &c, err);
        if (rc == 0 && append && p->n_models + n > MAX_MODELS)
            rc = lf_error_set(err, LF_ERANGE, "models: more than %d models", MAX_MODELS);
        if (rc == 0 && append) {
            char **q = realloc(p->models, sizeof *q * (size_t)(p->n_models + n));
            if (!q) {
                rc = lf_error_set(err, LF_ENOMEM, "models: out of memory");
            } else {
                memcpy(q + p->n_models, models, sizeof *q * (size_t)n);
                p->models = q;
                p->n_models += n;
                free(models);
                return 0;
            }
        }
        if (rc == 0) {
            for (int i = 0; i < p->n_models; i++)
                free(p->models[i]);
            free(p->models);
            p->models = models;
            p->n_models = n;
            return 0;
        }
        for (int i = 0; i < n; i++)
            free(models[i]);
        free(models);
        return rc;
    }
    case K_ADAPTERS: {
        lf_bench_adapter *a = NULL;
        int n = 0;
        if (append && p->n_adapters) {
            a = malloc(sizeof *a * (size_t)p->n_adapters);
            if (!a)
                return lf_error_set(err, LF_ENOMEM, "adapters: out of memory");
            memcpy(a, p->adapters, sizeof *a * (size_t)p->n_adapters);
            n = p->n_adapters;
        }
        adapter_ctx c = {&a, &n};
        rc = for_items(value, what, adapter_item, &c, err);
        if (rc < 0) {
            free(a);
            return rc;
        }
        free(p->adapters);
        p->adapters = a;
        p->n_adapters = n;
        return 0;
    }
    case K_NPROMPT:
    case K_NGEN:
        /* llama-bench's convention: a length of 0 skips the test (`-p 0`
         * runs only tg, `-n 0` only pp) */
        if (!strcmp(value, "0")) {
            if (k == K_NPROMPT) {
                list_free(&p->n_prompt);
                p->tests &= ~(1u << LF_TEST_PP | 1u << LF_TEST_TTFT);
            } else {
                list_free(&p->n_gen);
                p->tests &= ~(1u << LF_TEST_TG);
            }
            return 0;
        }
        break;
    case K_TESTS: {
        unsigned mask = 0;
        rc = for_items(value, what, tests_item, &mask, err);
        if (rc < 0)
            return rc;
        p->tests = append ? p->tests | mask : mask;
        return 0;
    }
    default:
        break;
    }
    lf_bench_list *dst = k == K_QUANTS ? &p->quants : k == K_KV ? &p->kv : k == K_THREADS ? &p->threads
                         : k == K_NPROMPT ? &p->n_prompt : k == K_NGEN ? &p->n_gen
                         : k == K_DEPTH ? &p->depth : NULL;
    if (!dst)
        return lf_error_set(err, LF_EINVAL, "%s: not a per-part key", what);
    if (append && (rc = list_copy(&tmp, dst)) < 0)
        return lf_error_set(err, rc, "%s: out of memory", what);
    if (k == K_QUANTS) {
        rc = for_items(value, what, quant_item, &tmp, err);
    } else if (k == K_KV) {
        rc = for_items(value, what, kv_item, &tmp, err);
    } else {
        /* threads: 1-4096 or "all"; token counts: up to 1M; depth may be 0 */
        int_ctx c = {&tmp, k == K_DEPTH ? 0 : 1, k == K_THREADS ? 4096 : 1 << 20, what, k == K_THREADS};
        rc = for_items(value, what, int_item, &c, err);
    }
    if (rc < 0) {
        list_free(&tmp);
        return rc;
    }
    list_free(dst);
    *dst = tmp;
    return 0;
}

static int apply_global_key(lf_bench_matrix *m, key_id k, const char *sub, const char *value,
                            bool replace_shape, lf_error *err) {
    const char *what = keys[k].key;
    switch (k) {
    case K_NAME:
        if (!valid_name(value, sizeof m->name))
            return lf_error_set(err, LF_EINVAL, "name '%s': use letters, digits, '.', '_', '-' (< 64)",
                                value);
        lf_strlcpy(m->name, value, sizeof m->name);
        return 0;
    case K_DESC:
        lf_strlcpy(m->description, value, sizeof m->description);
        return 0;
    case K_ISA: {
        lf_bench_list tmp = {0};
        int rc = for_items(value, what, isa_item, &tmp, err);
        if (rc < 0) {
            list_free(&tmp);
            return rc;
        }
        list_free(&m->isa);
        m->isa = tmp;
        return 0;
    }
    case K_REPS: {
        char buf[64];
        lf_strlcpy(buf, value, sizeof buf);
        char *dash = strchr(buf, '-');
        long long a, b;
        if (dash)
            *dash = 0;
        if (!parse_uint(buf, 1000, &a) || a < 1 || (dash && (!parse_uint(dash + 1, 1000, &b) || b < a)))
            return lf_error_set(err, LF_EINVAL, "reps: '%s' is not MIN or MIN-MAX (1 <= MIN <= MAX <= 1000)",
                                value);
        m->reps_min = (int)a;
        m->reps_max = dash ? (int)b : (m->reps_max > a ? m->reps_max : (int)a);
        return 0;
    }
    case K_TARGET:
        if (!parse_rel(value, &m->target_ci))
            return lf_error_set(err, LF_EINVAL, "target_ci: '%s' is not a width such as 3%% or 0.03", value);
        return 0;
    case K_BUDGET:
        if (!parse_seconds(value, &m->budget_s))
            return lf_error_set(err, LF_EINVAL, "budget: '%s' is not a time such as 10, 10s, 500ms, 2m",
                                value);
        return 0;
    case K_WARMUP: {
        long long v;
        if (!parse_uint(value, 100, &v))
            return lf_error_set(err, LF_EINVAL, "warmup: '%s' is not a count in 0-100", value);
        m->warmup = (int)v;
        return 0;
    }
    case K_PASSES: {
        long long v;
        if (!parse_uint(value, 100, &v) || v < 1)
            return lf_error_set(err, LF_EINVAL, "passes: '%s' is not a count in 1-100", value);
        m->passes = (int)v;
        return 0;
    }
    case K_SEED: {
        errno = 0;
        char *end;
        unsigned long long v = strtoull(value, &end, 10);
        if (!isdigit((unsigned char)value[0]) || *end || errno)
            return lf_error_set(err, LF_EINVAL, "seed: '%s' is not a number", value);
        m->seed = v;
        return 0;
    }
    case K_ROOFS: case K_PIN: {
        bool b;
        if (!parse_bool(value, &b))
            return lf_error_set(err, LF_EINVAL, "%s: '%s' is not yes or no", what, value);
        *(k == K_ROOFS ? &m->roofs : &m->pin) = b;
        return 0;
    }
    case K_LORA_TARGETS: {
        target_set t = {.n_lora_targets = 0};
        int rc = for_items(value, what, target_item, &t, err);
        if (rc < 0)
            return rc;
        memcpy(m->lora_targets, t.lora_targets, sizeof m->lora_targets);
        m->n_lora_targets = t.n_lora_targets;
        return 0;
    }
    case K_SHAPE: {
        lf_bench_shape s;
        int rc = parse_shape(sub, value, &s, err);
        return rc < 0 ? rc : add_shape(m, &s, replace_shape, err);
    }
    default:
        return lf_error_set(err, LF_EINVAL, "%s: not a suite-wide key", what);
    }
}

/* Finds a key by suite name or alias after normalizing: leading dashes
 * dropped, '-' read as '_'. "shape.NAME" sets *sub. */
static int find_key(const char *name, bool allow_alias, key_id *out, char *sub, size_t sub_size) {
    char buf[128];
    while (*name == '-')
        name++;
    if (strlen(name) >= sizeof buf)
        return -1;
    lf_strlcpy(buf, name, sizeof buf);
    for (char *p = buf; *p; p++) {
        if (*p == '-')
            *p = '_';
        *p = (char)tolower((unsigned char)*p);
    }
    if (!strncmp(buf, "shape.", 6)) {
        if (sub)
            lf_strlcpy(sub, name + 6, sub_size);
        *out = K_SHAPE;
        return 0;
    }
    for (int k = 0; k < K_COUNT; k++) {
        if (!strcmp(buf, keys[k].key) && (k != K_SHAPE || allow_alias)) {
            *out = (key_id)k;
            return 0;
        }
        if (allow_alias)
            for (int j = 0; j < 5 && keys[k].alias[j]; j++)
                if (!strcmp(buf, keys[k].alias[j])) {
                    *out = (key_id)k;
                    return 0;
                }
    }
    /* a few plural/singular spellings people type in files too */
    static const struct { const char *s; key_id k; } extra[] = {
        {"model", K_MODELS}, {"quant", K_QUANTS}, {"adapter", K_ADAPTERS}, {"test", K_TESTS},
        {"thread", K_THREADS}, {"kv_type", K_KV},
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        if (!strcmp(buf, extra[i].s)) {
            *out = extra[i].k;
            return 0;
        }
    return -1;
}

/* err prefixed with "flag: " unless the key's parser named it already
 * (no "threads: threads: ..."). Returns err's code. */
static int wrap_once(lf_error *err, const char *flag) {
    size_t n = strlen(flag);
    if (err && strncmp(err->msg, flag, n) == 0 && err->msg[n] == ':')
        return err->code;
    return lf_error_wrap(err, "%s", flag);
}

int lf_bench_matrix_parse_flag(lf_bench_matrix *m, const char *flag, const char *value, lf_error *err) {
    key_id k;
    char sub[128] = "";
    if (!flag || find_key(flag, true, &k, sub, sizeof sub) < 0)
        return lf_error_set(err, LF_EUSAGE, "unknown benchmark option '%s'", flag ? flag : "(null)");
    if (!value) {
        if (!keys[k].is_switch)
            return lf_error_set(err, LF_EINVAL, "%s needs a value", flag);
        value = "yes";
    }
    if (!*value)
        return lf_error_set(err, LF_EINVAL, "%s: empty value", flag);
    if (k == K_SHAPE && !sub[0]) {
        /* --shape NAME=SPEC */
        const char *eq = strchr(value, '=');
        size_t n = eq ? (size_t)(eq - value) : 0;
        if (!eq || n == 0 || n >= sizeof sub)
            return lf_error_set(err, LF_EINVAL, "%s: expected NAME=SPEC, e.g. tiny='llama layers=2 dim=128 "
                                "heads=4 ff=256 vocab=512'", flag);
        memcpy(sub, value, n);
        sub[n] = 0;
        value = eq + 1;
    }
    int rc;
    if (keys[k].part) {
        bool append = (m->given_ >> k) & 1u;
        /* every part gets the same value, so a bad value fails on the first
         * part before anything changed */
        for (int i = 0; i < m->n_parts; i++)
            if ((rc = apply_part_key(&m->parts[i], k, value, append, err)) < 0)
                return wrap_once(err, flag);
    } else {
        if ((rc = apply_global_key(m, k, sub, value, true, err)) < 0)
            return wrap_once(err, flag);
    }
    m->given_ |= 1u << k;
    return 0;
}

/* ---- suite files ------------------------------------------------------------ */

/* What lf_suite_parse carries from one line of a suite file to the next. */
typedef struct suite_parse {
    const char *file;            /* for messages: "file:line: ..." */
    int lineno;                  /* 1-based: the line being parsed */
    lf_bench_matrix tmp;         /* the copy being built; parts[0] = the defaults */
    lf_bench_part *sections;     /* [n_sections], owned here until moved into tmp */
    int n_sections;
    unsigned seen_base, seen_sec;   /* bit per key_id: given in the defaults / this section */
    int key_line[K_COUNT];       /* line each whole-suite key was given on */
    bool name_set;               /* 'name' was given */
} suite_parse;

/* Refuses what is no suite text at all: too large, or a NUL byte. */
static int check_text(const char *file, const char *text, size_t len, lf_error *err) {
    if (len > MAX_FILE)
        return lf_error_set(err, LF_EFORMAT, "%s: larger than %d bytes", file, MAX_FILE);
    const char *nul = memchr(text, 0, len);
    if (nul) {
        int at = 1;
        for (const char *q = text; q < nul; q++)
            at += *q == '\n';
        return lf_error_set(err, LF_EFORMAT, "%s:%d: NUL byte in a text file", file, at);
    }
    return 0;
}

/* Cuts a line's comment: '#' at the start or after whitespace. */
static void strip_comment(char *line) {
    for (char *h = line; (h = strchr(h, '#')); h++)
        if (h == line || isspace((unsigned char)h[-1])) {
            *h = 0;
            break;
        }
}

/* "[name]": opens a section, a copy of the defaults (tmp.parts[0]). */
static int parse_section(suite_parse *P, char *s, lf_error *err) {
    const char *file = P->file;
    int lineno = P->lineno;
    size_t n = strlen(s);
    if (s[n - 1] != ']')
        return lf_error_set(err, LF_EFORMAT, "%s:%d: section header without ']': '%s'", file, lineno, s);
    s[n - 1] = 0;
    char *name = trim(s + 1);
    if (!valid_name(name, sizeof P->sections->name))
        return lf_error_set(err, LF_EFORMAT,
                            "%s:%d: section name '%s': use letters, digits, '.', '_', '-' (< 64)",
                            file, lineno, name);
    for (int i = 0; i < P->n_sections; i++)
        if (!strcmp(P->sections[i].name, name))
            return lf_error_set(err, LF_EFORMAT, "%s:%d: section [%s] appears twice", file, lineno,
                                name);
    if (P->n_sections >= MAX_PARTS)
        return lf_error_set(err, LF_EFORMAT, "%s:%d: more than %d sections", file, lineno, MAX_PARTS);
    lf_bench_part *p = realloc(P->sections, sizeof *p * (size_t)(P->n_sections + 1));
    if (!p)
        return lf_error_set(err, LF_ENOMEM, "%s:%d: out of memory", file, lineno);
    P->sections = p;
    if (part_copy(&P->sections[P->n_sections], &P->tmp.parts[0]) < 0)
        return lf_error_set(err, LF_ENOMEM, "%s:%d: out of memory", file, lineno);
    lf_strlcpy(P->sections[P->n_sections].name, name, sizeof P->sections->name);
    P->n_sections++;
    P->seen_sec = 0;
    return 0;
}

/* A whole-suite key (name, reps, shape.NAME, ...): before the first
 * section only, and once (shape.NAME excepted from this check). */
static int parse_global_key(suite_parse *P, key_id k, const char *key, const char *sub,
                            const char *value, lf_error *err) {
    if (P->n_sections)
        return lf_error_set(err, LF_EFORMAT,
                            "%s:%d: '%s' applies to the whole suite: put it before the first [section]",
                            P->file, P->lineno, key);
    if (k != K_SHAPE && ((P->seen_base >> k) & 1u))
        return lf_error_set(err, LF_EFORMAT, "%s:%d: '%s' is set twice (first on line %d)", P->file,
                            P->lineno, key, P->key_line[k]);
    P->seen_base |= 1u << k;
    P->key_line[k] = P->lineno;
    int rc = apply_global_key(&P->tmp, k, sub, value, false, err);
    if (rc < 0) {
        lf_error_wrap(err, "%s:%d", P->file, P->lineno);
        return rc;
    }
    if (k == K_NAME)
        P->name_set = true;
    return 0;
}

/* A key that may differ per section: into the open section, else into the
 * defaults; once in each. */
static int parse_part_key(suite_parse *P, key_id k, const char *key, const char *value,
                          lf_error *err) {
    int ns = P->n_sections;
    unsigned *seen = ns ? &P->seen_sec : &P->seen_base;
    if ((*seen >> k) & 1u)
        return lf_error_set(err, LF_EFORMAT, "%s:%d: '%s' is set twice in %s%s%s", P->file, P->lineno,
                            key, ns ? "section [" : "the defaults", ns ? P->sections[ns - 1].name : "",
                            ns ? "]" : "");
    *seen |= 1u << k;
    lf_bench_part *p = ns ? &P->sections[ns - 1] : &P->tmp.parts[0];
    int rc = apply_part_key(p, k, value, false, err);
    if (rc < 0) {
        lf_error_wrap(err, "%s:%d", P->file, P->lineno);
        return rc;
    }
    return 0;
}

/* "key = value": the key found by its suite spelling (no flag aliases),
 * then applied to the suite or to a part. */
static int parse_assignment(suite_parse *P, char *s, lf_error *err) {
    const char *file = P->file;
    int lineno = P->lineno;
    char *eq = strchr(s, '=');
    if (!eq)
        return lf_error_set(err, LF_EFORMAT, "%s:%d: expected 'key = value', got '%.80s'", file, lineno,
                            s);
    *eq = 0;
    char *key = trim(s), *value = trim(eq + 1);
    if (!*key)
        return lf_error_set(err, LF_EFORMAT, "%s:%d: no key before '='", file, lineno);
    key_id k;
    char sub[128] = "";
    if (find_key(key, false, &k, sub, sizeof sub) < 0 || (k == K_SHAPE && !sub[0]))
        return lf_error_set(err, LF_EFORMAT,
                            "%s:%d: unknown key '%s' (name, description, models, quants, adapters, "
                            "threads, n_prompt, n_gen, depth, kv, tests, isa, reps, target_ci, budget, "
                            "warmup, passes, seed, roofs, pin, lora_targets, shape.NAME)", file, lineno, key);
    if (!*value)
        return lf_error_set(err, LF_EFORMAT, "%s:%d: no value for '%s'", file, lineno, key);
    return keys[k].part ? parse_part_key(P, k, key, value, err)
                        : parse_global_key(P, k, key, sub, value, err);
}

/* The last step, after every line parsed: the sections (if any) replace the
 * defaults as the parts, and a suite without 'name' takes the file's stem. */
static void finish_matrix(suite_parse *P) {
    lf_bench_matrix *tmp = &P->tmp;
    if (P->n_sections) {
        part_free(&tmp->parts[0]);
        free(tmp->parts);
        tmp->parts = P->sections;
        tmp->n_parts = P->n_sections;
        P->sections = NULL;
        P->n_sections = 0;
    }
    if (!P->name_set) {
        /* the file's stem */
        const char *b = strrchr(P->file, '/');
        b = b ? b + 1 : P->file;
        char stem[64];
        lf_strlcpy(stem, b, sizeof stem);
        char *dot = strrchr(stem, '.');
        if (dot && dot != stem)
            *dot = 0;
        if (valid_name(stem, sizeof tmp->name))
            lf_strlcpy(tmp->name, stem, sizeof tmp->name);
    }
    tmp->given_ = 0;
}

int lf_suite_parse(lf_bench_matrix *m, const char *file, const char *text, size_t len, lf_error *err) {
    int rc = check_text(file, text, len, err);
    if (rc < 0)
        return rc;
    if (m->n_parts < 1)
        return lf_error_set(err, LF_EINVAL, "%s: matrix not initialized", file);
    suite_parse P = {.file = file};
    if (matrix_copy(&P.tmp, m) < 0)
        return lf_error_set(err, LF_ENOMEM, "%s: out of memory", file);
    /* The base part: keys before the first section; sections start from it. */
    for (int i = 1; i < P.tmp.n_parts; i++)
        part_free(&P.tmp.parts[i]);
    P.tmp.n_parts = 1;
    P.tmp.parts[0].name[0] = 0;
    char line[MAX_LINE + 2];
    size_t pos = 0;
    while (pos < len) {
        P.lineno++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (ll > MAX_LINE) {
            rc = lf_error_set(err, LF_EFORMAT, "%s:%d: line longer than %d bytes", file, P.lineno,
                              MAX_LINE);
            goto fail;
        }
        memcpy(line, text + pos, ll);
        line[ll] = 0;
        pos += ll + (nl ? 1 : 0);
        strip_comment(line);
        char *s = trim(line);
        if (!*s)
            continue;
        rc = *s == '[' ? parse_section(&P, s, err) : parse_assignment(&P, s, err);
        if (rc < 0)
            goto fail;
    }
    finish_matrix(&P);
    lf_bench_matrix_free(m);
    *m = P.tmp;
    return 0;
fail:
    for (int i = 0; i < P.n_sections; i++)
        part_free(&P.sections[i]);
    free(P.sections);
    lf_bench_matrix_free(&P.tmp);
    /* a bad value in a file is a malformed file; only memory stays itself */
    if (rc != LF_ENOMEM)
        rc = LF_EFORMAT;
    if (err)
        err->code = rc;
    return rc;
}

int lf_suite_names(const char *datadir, char names[][64], int max) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/suites", datadir);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name);
        if (l > 5 && l < 64 && !strcmp(e->d_name + l - 5, ".conf")) {
            memcpy(names[n], e->d_name, l - 5);
            names[n++][l - 5] = 0;
        }
    }
    closedir(d);
    /* a stable order for listings and messages */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[64];
            memcpy(t, names[j], 64);
            memcpy(names[j], names[j - 1], 64);
            memcpy(names[j - 1], t, 64);
        }
    return n;
}

/* Names of the built-in suites in datadir/suites, comma-separated. */
static void builtin_names(const char *datadir, char *buf, size_t size) {
    buf[0] = 0;
    char names[32][64];
    int n = lf_suite_names(datadir, names, 32);
    size_t used = 0;
    for (int i = 0; i < n && used + 1 < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
}

int lf_suite_load(lf_bench_matrix *m, const char *name_or_path, const char *datadir, lf_error *err) {
    if (!name_or_path || !*name_or_path)
        return lf_error_set(err, LF_EINVAL, "no suite given");
    if (!datadir || !*datadir) {
        datadir = getenv("LOCALFIT_DATADIR");
        if (!datadir || !*datadir)
            datadir = "datasets";
    }
    char path[4096];
    bool builtin = !strchr(name_or_path, '/') && !ends_with_ci(name_or_path, ".conf");
    if (builtin) {
        if (!valid_name(name_or_path, 64))
            return lf_error_set(err, LF_EINVAL, "suite name '%s' is not a name or a file", name_or_path);
        snprintf(path, sizeof path, "%s/suites/%s.conf", datadir, name_or_path);
    } else {
        if (strlen(name_or_path) >= sizeof path)
            return lf_error_set(err, LF_EINVAL, "suite path too long");
        lf_strlcpy(path, name_or_path, sizeof path);
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        if (builtin && e == ENOENT) {
            char names[512];
            builtin_names(datadir, names, sizeof names);
            return lf_error_set(err, LF_ENOTFOUND,
                                "no suite '%s' (built-in suites: %s; or give a .conf file)", name_or_path,
                                names[0] ? names : "none found in datadir");
        }
        return lf_error_set(err, e == ENOENT ? LF_ENOTFOUND : LF_EIO, "suite %s: %s", path, strerror(e));
    }
    char *buf = malloc(MAX_FILE + 1);
    if (!buf) {
        fclose(f);
        return lf_error_set(err, LF_ENOMEM, "suite %s: out of memory", path);
    }
    size_t n = fread(buf, 1, MAX_FILE + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return lf_error_set(err, LF_EIO, "suite %s: read error", path);
    }
    int rc = lf_suite_parse(m, path, buf, n, err);
    free(buf);
    return rc;
}
