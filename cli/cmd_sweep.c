/*
 * `localfit sweep` — every quantization of one model side by side: size,
 * bits per weight, prompt and generation speed measured here (the bench
 * runner on a small matrix, pp128 and tg32 by default, stored as a run of
 * suite "sweep"), quality (KL divergence, perplexity and same-top rate
 * measured on a text against the file's own weights when the model is a
 * real GGUF file; llama.cpp's published Llama-3-8B figures for a catalog
 * model, whose weights are synthetic), and the level recommended under the
 * same constraints `localfit recommend` takes.
 *
 * A GGUF model is quantized to each level into temporary files (removed at
 * the end), which are benchmarked and scored against the original; the
 * results are stored under the original's name with the level as quant. A
 * catalog model is synthesized in each mix by the runner.
 */
#include "bench/bench.h"
#include "catalog/catalog.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "bench/quality.h"
#include "probes/probes.h"
#include "recommend/recommend.h"
#include "reports/reports.h"   /* LF_QUALITY_COLLAPSED_NOTE */
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LEVELS 24
#define DEFAULT_QUANTS "F16,Q8_0,Q6_K,Q5_K_M,Q5_0,Q4_K_M,Q4_0,IQ4_NL,Q3_K_M,Q2_K"

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit sweep MODEL.gguf|CATALOG_NAME [--quants LIST] [-f TEXT]\n"
            "                      [--ctx N] [--chunks N] [-t N] [-p N] [-n N]\n"
            "                      [--min-tps N] [--context N] [--memory-fraction F]\n"
            "                      [--max-ttft S] [--quality-floor X] [--kv f16|q8_0]\n"
            "                      [--db PATH] [--no-store] [--json]\n\n"
            "Every quantization of one model side by side: size, bits per weight, prompt\n"
            "and generation tokens/s measured here, quality, and the recommended level.\n\n"
            "  MODEL                a GGUF file (real weights: quality measured on TEXT\n"
            "                       against the file) or a catalog name (synthetic weights:\n"
            "                       quality from llama.cpp's published Llama-3-8B table)\n"
            "  -q, --quants LIST    levels to compare (default " DEFAULT_QUANTS ")\n"
            "  -f, --file TEXT      text to measure KLD / perplexity on (GGUF models;\n"
            "                       without it, tokens are sampled from the model)\n"
            "  -c, --ctx N          quality window, tokens (default 256, at most the model's)\n"
            "      --chunks N       quality windows to score (default 8)\n"
            "  -t, --threads N      threads for speed and quality (default: all usable)\n"
            "  -p, --n-prompt N     prompt tokens of the pp test (default 128)\n"
            "  -n, --n-gen N        generated tokens of the tg test (default 32)\n"
            "Constraints for the recommended level (as `localfit recommend`):\n"
            "      --min-tps N      decode tokens/s at the full context (default 5; 0 = none)\n"
            "      --context N      context tokens needed (default min(4096, model's))\n"
            "      --memory-fraction F   share of usable memory (default 0.9)\n"
            "      --max-ttft S     time to first token, seconds\n"
            "      --quality-floor X     minimum score after loss (GGUF: 100 x exp(-KLD));\n"
            "                       kld:X = maximum KLD\n"
            "      --kv TYPE        KV cache type: f16 (default) or q8_0\n"
            "Output:\n"
            "      --db PATH        results database (default $LOCALFIT_DB, else\n"
            "                       $XDG_DATA_HOME/localfit/results.db)\n"
            "      --no-store       store nothing (the database is still read if it exists:\n"
            "                       the device profile and the calibration)\n"
            "      --json           JSON (schema localfit.sweep/1)\n"
            "  -h, --help           this help\n");
}

/* One quantization level and everything known about it. */
typedef struct level {
    char quant[16];
    lf_mix mix;
    bool is_base;              /* the GGUF file itself */
    char path[4096];           /* GGUF: the file benchmarked and scored */
    uint64_t size;             /* tensor bytes */
    double bpw;
    double weight_read;        /* bytes read per decoded token (bench), NAN */
    double params;             /* matmul parameters (bench), NAN */
    double pp, pp_lo, pp_hi, tg, tg_lo, tg_hi;   /* measured tokens/s, NAN */
    /* quality */
    bool q_measured, q_known;
    double kld, kld_err, ppl, ppl_err, dppl, same_top;
    /* recommendation */
    bool fits;
    int rank;
    uint64_t mem_total;
    lf_rec_prediction tg_ctx;
    double quality;
    char reason[256];
    char became[16];           /* GGUF: the type a collapsed level fell back to, "" none */
} level;

typedef struct sweep {
    bool gguf;
    const lf_catalog_model *cm;   /* catalog model */
    lf_catalog_model shape;       /* GGUF: its shape as a catalog entry (KV, compute) */
    char name[128];               /* model name in results */
    char base[4096];
    level lv[MAX_LEVELS];
    int n;
    char tokens_from[16];         /* "text" / "generated" / "published" */
    int q_ctx, q_chunks;
    int64_t context;
    char tmpdir[2048];
    lf_rec_observation *fresh;    /* this sweep's results as observations (owned) */
    int n_fresh;
} sweep;

/* A finite number >= 0 (constraints). */
static int parse_num(const char *s, double *out) {
    return lf_arg_double(s, 0, HUGE_VAL, out);
}

static bool is_gguf_path(const char *s) {
    size_t l = strlen(s);
    struct stat st;
    return (l > 5 && !strcasecmp(s + l - 5, ".gguf")) || strchr(s, '/') ||
           (stat(s, &st) == 0 && S_ISREG(st.st_mode));
}

/* Total elements of every tensor of a catalog model (for bits per weight). */
static double catalog_elements(const lf_catalog_model *m) {
    double n = 0;
    int nt = lf_catalog_n_tensors(m);
    for (int i = 0; i < nt; i++) {
        lf_catalog_tensor t;
        if (lf_catalog_tensor_at(m, i, &t) == 0)
            n += (double)t.ne0 * (double)t.ne1 * (double)t.ne2;
    }
    return n;
}

/* ---- GGUF: the levels as files ------------------------------------------- */

static int prepare_gguf(sweep *S, lf_error *err) {
    lf_model *m = NULL;
    lf_model_opts mo = {.no_vocab = true};
    int rc = lf_model_load(&m, S->base, &mo, err);
    if (rc < 0)
        return rc;
    const lf_model_params *hp = lf_model_hparams(m);
    lf_catalog_model *c = &S->shape;
    lf_catalog_from_hparams(hp, c);
    lf_strlcpy(c->name, S->name, sizeof c->name);
    lf_strlcpy(c->display, S->name, sizeof c->display);
    c->quality_score = 100;   /* a GGUF file has no published score: 100 x exp(-KLD) */
    /* the file's own level, named by the rule bench results use (a file
     * without general.file_type: the type holding the most bytes) */
    lf_mix base_mix;
    char base_label[32];
    (void)lf_bench_quant_label(m, base_label, sizeof base_label, &base_mix);
    level *b = &S->lv[0];
    memset(b, 0, sizeof *b);
    b->is_base = true;
    b->mix = base_mix;
    lf_strlcpy(b->quant, base_mix < LF_MIX_COUNT ? lf_mix_name(base_mix) : base_label, sizeof b->quant);
    lf_strlcpy(b->path, S->base, sizeof b->path);
    b->size = lf_model_total_bytes(m);
    b->bpw = (double)b->size * 8.0 / (double)lf_model_n_params(m);
    lf_model_free(m);
    /* a level equal to the file's own type is the file itself */
    int k = 1;
    for (int i = 1; i < S->n; i++)
        if (S->lv[i].mix != base_mix)
            S->lv[k++] = S->lv[i];
    S->n = k;

    const char *tmp = getenv("TMPDIR");
    snprintf(S->tmpdir, sizeof S->tmpdir, "%s/localfit-sweep-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(S->tmpdir)) {
        S->tmpdir[0] = '\0';
        return lf_error_set(err, LF_EIO, "cannot create a temporary directory under %s",
                            tmp && *tmp ? tmp : "/tmp");
    }
    for (int i = 1; i < S->n; i++) {
        level *l = &S->lv[i];
        char q[16];   /* a copy: l->quant lives in *S like the destination */
        lf_strlcpy(q, l->quant, sizeof q);
        snprintf(l->path, sizeof l->path, "%s/%s-%s.gguf", S->tmpdir, S->name, q);
        fprintf(stderr, "sweep: quantizing %s to %s\n", S->name, l->quant);
        if ((rc = lf_quality_write_quantized(S->base, l->mix, l->path, err)) < 0)
            return lf_error_wrap(err, "quantizing to %s", l->quant);
        /* a K-quant level on rows its blocks do not divide falls back to
         * other types: say so, it measures as the level it became */
        lf_model *qm = NULL;
        lf_model_opts qo = {.no_vocab = true};
        if (lf_model_load(&qm, l->path, &qo, NULL) == 0 &&
            lf_bench_mix_collapsed(qm, l->mix, l->became, sizeof l->became))
            fprintf(stderr, "sweep: %s collapses to %s on %s (its rows are not a multiple of the "
                    "256-element K-quant block): other types replace its K-quants, %s holding "
                    "the most bytes\n",
                    l->quant, l->became, S->name, l->became);
        lf_model_free(qm);
    }
    return 0;
}

static void cleanup_gguf(sweep *S) {
    if (!S->tmpdir[0])
        return;
    for (int i = 1; i < S->n; i++)
        if (S->lv[i].path[0])
            unlink(S->lv[i].path);
    rmdir(S->tmpdir);
}

/* ---- speed: the bench runner on a small matrix --------------------------- */

/* The level a result measured: by quant, once relabel has run (a GGUF
 * level's quant is unique among the levels: they are deduplicated). */
static int level_of_result(const sweep *S, const lf_result *r) {
    for (int i = 0; i < S->n; i++)
        if (!strcasecmp(r->quant, S->lv[i].quant))
            return i;
    return -1;
}

/* lf_bench_opts.relabel: a GGUF level's result goes under the model's own
 * name and path with the level as quant, before the runner stores it (the
 * temporary file it measured is removed at the end). */
static void relabel(lf_result *r, void *user) {
    const sweep *S = user;
    if (!S->gguf)
        return;
    for (int i = 0; i < S->n; i++)
        if (!strcmp(r->model_path, S->lv[i].path)) {
            lf_strlcpy(r->model, S->name, sizeof r->model);
            lf_strlcpy(r->model_path, S->base, sizeof r->model_path);
            lf_strlcpy(r->quant, S->lv[i].quant, sizeof r->quant);
            return;
        }
}

static int measure_speed(sweep *S, int threads, int n_prompt, int n_gen, lf_store *st,
                         const lf_device *dev, lf_run *stored, lf_error *err) {
    lf_bench_matrix m;
    lf_bench_matrix_init(&m);
    lf_strlcpy(m.name, "sweep", sizeof m.name);
    char buf[64];
    int rc = 0;
    if (S->gguf) {
        for (int i = 0; i < S->n && rc == 0; i++)
            rc = lf_bench_matrix_parse_flag(&m, "models", S->lv[i].path, err);
    } else {
        rc = lf_bench_matrix_parse_flag(&m, "models", S->cm->name, err);
        for (int i = 0; i < S->n && rc == 0; i++)
            rc = lf_bench_matrix_parse_flag(&m, "quants", S->lv[i].quant, err);
    }
    snprintf(buf, sizeof buf, "%d", threads);
    if (rc == 0)
        rc = lf_bench_matrix_parse_flag(&m, "threads", buf, err);
    snprintf(buf, sizeof buf, "%d", n_prompt);
    if (rc == 0)
        rc = lf_bench_matrix_parse_flag(&m, "n_prompt", buf, err);
    snprintf(buf, sizeof buf, "%d", n_gen);
    if (rc == 0)
        rc = lf_bench_matrix_parse_flag(&m, "n_gen", buf, err);
    if (rc == 0)
        rc = lf_bench_matrix_parse_flag(&m, "tests", "pp,tg", err);
    if (rc < 0) {
        lf_bench_matrix_free(&m);
        return rc;
    }
    /* Enough repetitions for a median and its interval, not a full bench. */
    m.reps_min = 3;
    m.reps_max = 10;
    m.budget_s = 3;
    m.target_ci = 0.03;

    lf_bench_opts o;
    lf_bench_opts_init(&o);
    o.store = st;
    o.device = dev;
    o.datadir = lf_cli_datadir();
    o.suite_name = "sweep";
    o.output = LF_BENCH_OUT_NONE;
    o.relabel = relabel;
    o.user = S;
    lf_run_full rf;
    memset(&rf, 0, sizeof rf);
    o.results = &rf;
    lf_cli_signals saved;
    o.interrupted = lf_cli_interrupt_begin(&saved);
    rc = lf_bench_run(&m, &o, stored, err);
    lf_cli_interrupt_end(&saved);
    lf_bench_matrix_free(&m);

    for (int i = 0; i < rf.n_results; i++) {
        const lf_result *r = &rf.results[i];
        int li = level_of_result(S, r);
        if (li < 0)
            continue;
        level *l = &S->lv[li];
        double *v = r->kind == LF_TEST_PP ? &l->pp : r->kind == LF_TEST_TG ? &l->tg : NULL;
        if (v) {
            v[0] = r->median;
            v[1] = r->ci_low;
            v[2] = r->ci_high;
        }
        double wb = r->weight_bytes, p = r->n_params;   /* NAN when unknown */
        if (wb > 0)
            l->weight_read = wb;
        if (p > 0)
            l->params = p;
    }
    /* this sweep's results calibrate its recommendation even when nothing
     * is stored (stored ones come back through the store) */
    if (!st && rf.n_results > 0 && (S->fresh = calloc((size_t)rf.n_results, sizeof *S->fresh))) {
        for (int i = 0; i < rf.n_results; i++)
            if (lf_rec_observation_from_result(NULL, dev, &rf.results[i], NULL,
                                               &S->fresh[S->n_fresh]) == 1)
                S->n_fresh++;
    }
    lf_run_full_free(&rf);
    return rc;
}

/* ---- quality ---------------------------------------------------------------- */

static void qprogress(void *arg, int done, int total) {
    (void)arg;
    if (done == total || done % 4 == 0)
        fprintf(stderr, "\rsweep: quality window %d/%d", done, total);
    if (done == total)
        fputc('\n', stderr);
}

static int measure_quality(sweep *S, const char *text, size_t text_len, int threads,
                           lf_error *err) {
    lf_quality_variant *v = calloc((size_t)S->n, sizeof *v);
    lf_quality_result *res = calloc((size_t)S->n + 1, sizeof *res);
    lf_pool *pool = lf_pool_create(threads, true);
    int rc;
    if (!v || !res || !pool) {
        rc = lf_error_set(err, LF_ENOMEM, "sweep: out of memory");
        goto out;
    }
    int nv = 0;
    for (int i = 1; i < S->n; i++)
        v[nv++] = (lf_quality_variant){.path = S->lv[i].path, .name = S->lv[i].quant};
    lf_quality_opts qo;
    lf_quality_opts_init(&qo);
    qo.n_ctx = S->q_ctx;
    qo.n_chunks = S->q_chunks;
    qo.pool = pool;
    qo.force_generated = text == NULL;
    if (isatty(2))
        qo.progress = qprogress;
    fprintf(stderr, "sweep: scoring %d levels against %s (ctx %d, %d windows)\n", nv, S->name,
            S->q_ctx, S->q_chunks);
    if ((rc = lf_quality_run(S->base, v, nv, text, text_len, &qo, res, err)) < 0)
        goto out;
    lf_strlcpy(S->tokens_from, res[0].token_source, sizeof S->tokens_from);
    for (int i = 0; i < S->n; i++) {
        level *l = &S->lv[i];
        const lf_quality_result *q = &res[i];   /* res[0] = base against itself */
        l->q_measured = l->q_known = true;
        l->kld = q->kld_mean;
        l->kld_err = q->kld_err;
        l->ppl = q->ppl;
        l->ppl_err = q->ppl_err;
        l->dppl = q->dppl;
        l->same_top = q->same_top;
        if (i > 0 && q->size_bytes) {
            l->size = q->size_bytes;
            l->bpw = q->bpw;
        }
    }
    rc = 0;
out:
    lf_pool_free(pool);
    free(v);
    free(res);
    return rc;
}

static int store_quality(const sweep *S, lf_store *st, int64_t run_id, lf_error *err) {
    for (int i = 0; i < S->n; i++) {
        const level *l = &S->lv[i];
        if (!l->q_measured)
            continue;
        lf_quality q;
        lf_quality_init(&q);
        lf_strlcpy(q.model, S->name, sizeof q.model);
        /* a collapsed level keeps its mark in the store, where the report
         * reads it (the report has no model to tell it by) */
        snprintf(q.variant, sizeof q.variant, "%s%s%s", l->quant, l->became[0] ? "=" : "",
                 l->became);
        q.ppl = l->ppl;
        q.ppl_err = l->ppl_err;
        q.dppl = l->dppl;
        q.kld_mean = l->kld;
        q.kld_mean_err = l->kld_err;
        q.same_top = l->same_top;
        q.ctx = S->q_ctx;
        int rc = lf_store_quality_add(st, run_id, &q, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- the recommended level ------------------------------------------------ */

/* Catalog model: exactly what `localfit recommend --models M --quants ...`
 * decides. */
static int recommend_catalog(sweep *S, const lf_catalog *cat, const lf_rec_target *t,
                             lf_rec_constraints *k, const lf_rec_calibration *cal, lf_error *err) {
    char mixes[MAX_LEVELS * 17] = "";
    for (int i = 0; i < S->n; i++) {
        if (i)
            strcat(mixes, ",");
        strcat(mixes, S->lv[i].quant);
    }
    k->models = S->cm->name;
    k->mixes = mixes;
    lf_rec_result r;
    int rc = lf_rec_recommend(cat, t, k, cal, &r, err);
    k->models = k->mixes = NULL;
    if (rc < 0)
        return rc;
    for (int i = 0; i < r.n; i++) {
        const lf_rec_candidate *c = &r.cand[i];
        if (c->model != S->cm)
            continue;   /* a longer name sharing the prefix */
        for (int j = 0; j < S->n; j++) {
            level *l = &S->lv[j];
            if (strcasecmp(l->quant, c->quant->name))
                continue;
            l->fits = c->fits;
            l->mem_total = c->mem.total;
            l->tg_ctx = c->tg;
            l->quality = c->quality;
            lf_strlcpy(l->reason, c->reason, sizeof l->reason);
        }
    }
    int rank = 0;
    for (int i = 0; i < r.n; i++)
        for (int j = 0; j < S->n && r.cand[i].fits && r.cand[i].model == S->cm; j++)
            if (!strcasecmp(S->lv[j].quant, r.cand[i].quant->name))
                S->lv[j].rank = ++rank;
    lf_rec_result_free(&r);
    return 0;
}

/* GGUF model: recommend's fit rules and order (lf_rec_fit_check,
 * lf_rec_rank_cmp) with the measured sizes and KLDs: quality = 100 x
 * exp(-KLD). */
static int recommend_gguf(sweep *S, const lf_rec_target *t, const lf_rec_constraints *k,
                          const lf_rec_calibration *cal, lf_error *err) {
    const lf_catalog_model *m = &S->shape;
    uint64_t budget = (uint64_t)((double)t->usable_memory * k->memory_fraction);
    for (int i = 0; i < S->n; i++) {
        level *l = &S->lv[i];
        l->reason[0] = '\0';
        uint64_t kv = lf_rec_kv_bytes(m, k->context, k->kv_type);
        l->mem_total = l->size + kv + lf_rec_compute_bytes(m, k->context) +
                       lf_rec_overhead_bytes(l->size);
        l->quality = l->q_known ? lf_rec_quality(100, l->kld) : NAN;
        lf_rec_workload w = {.model = S->name, .mix = l->quant,
                             .weight_bytes = l->weight_read > 0 ? (uint64_t)l->weight_read : l->size,
                             .kv_bytes = kv, .params = l->params > 0 ? l->params : 0};
        int rc = lf_rec_predict(cal, t, LF_REC_TG, &w, &l->tg_ctx, err);
        if (rc < 0)
            return rc;
        /* Measured here at an empty context: the time per token is that plus
         * the KV reads at depth (a small file may run from the cache, where
         * the calibration's memory roof does not apply to its weights). */
        double e_kv = cal->tg_all.median > 0 ? cal->tg_all.median : l->tg_ctx.efficiency;
        if (l->tg > 0 && l->tg_ctx.source != LF_REC_MEASURED && e_kv > 0) {
            /* KV bytes at the device's typical efficiency, not the one
             * extrapolated down to this file's size */
            double kv_s = cal->kv_mult * (double)kv / (e_kv * t->bandwidth_gbs * 1e9);
            double v = 1.0 / (1.0 / l->tg + kv_s);
            double r = v / l->tg_ctx.value;
            l->tg_ctx.value = v;
            l->tg_ctx.lo *= r;
            l->tg_ctx.hi *= r;
        }
        double ttft = NAN;
        if (l->pp > 0 && l->tg > 0) {
            int64_t prompt = k->prompt > 0 ? k->prompt : (k->context < 512 ? k->context : 512);
            ttft = (double)prompt / l->pp + 1.0 / l->tg;
        }
        lf_rec_fit_input f = {.n_ctx_max = m->n_ctx, .kld = l->q_known ? l->kld : NAN,
                        .quality = l->quality, .mem_total = l->mem_total, .budget = budget,
                        .tg = l->tg_ctx.value, .ttft_s = ttft};
        l->fits = lf_rec_fit_check(&f, k, l->reason, sizeof l->reason);
    }
    /* Rank what fits: best quality (within 0.01), then the faster decoder. */
    for (int r = 1;; r++) {
        int best = -1;
        for (int i = 0; i < S->n; i++) {
            const level *l = &S->lv[i];
            if (!l->fits || l->rank)
                continue;
            if (best < 0)
                best = i;
            else if (lf_rec_rank_cmp(l->quality, l->tg_ctx.value, S->lv[best].quality,
                                     S->lv[best].tg_ctx.value) < 0)
                best = i;
        }
        if (best < 0)
            break;
        S->lv[best].rank = r;
    }
    return 0;
}

/* ---- output ------------------------------------------------------------------ */

static const char *num(char *buf, size_t size, double v, int dec) {
    if (!isfinite(v))
        return lf_strlcpy(buf, "-", size);
    snprintf(buf, size, "%.*f", dec, v);
    return buf;
}

static void print_text(const sweep *S, const lf_rec_target *t, const lf_rec_constraints *k,
                       int n_prompt, int n_gen, int n_obs, const lf_run *run, const char *note) {
    printf("Sweep of %s (%s)\n", S->name,
           S->gguf ? "GGUF file: quality measured against it"
                   : "catalog model, synthetic weights: quality published for Llama-3-8B");
    if (S->gguf)
        printf("Quality: %s tokens, window %d, %d windows (KLD / PPL against %s)\n",
               S->tokens_from, S->q_ctx, S->q_chunks, S->lv[0].quant);
    printf("Speed: pp%d and tg%d, medians with their 95%% CI, measured here\n", n_prompt, n_gen);
    printf("Device: %s (%s)\n\n", t->name, note);
    char pp[16], tg[16];
    snprintf(pp, sizeof pp, "pp%d t/s", n_prompt);
    snprintf(tg, sizeof tg, "tg%d t/s", n_gen);
    int qw = 8;   /* the quant column: as wide as a collapsed level's "Q5_K_M=Q5_1" */
    for (int i = 0; i < S->n; i++) {
        int w = (int)(strlen(S->lv[i].quant) + (S->lv[i].became[0] ? 1 + strlen(S->lv[i].became) : 0));
        qw = w > qw ? w : qw;
    }
    printf("%-*s %10s %6s %17s %15s %10s %16s %8s %s\n", qw, "quant", "size", "bpw", pp, tg, "KLD",
           S->gguf ? "PPL" : "dPPL (8B)", "same-top", "recommended");
    for (int i = 0; i < S->n; i++) {
        const level *l = &S->lv[i];
        char sz[32], b1[24], b2[24], b3[24], ppc[80], tgc[80], kld[24], ppl[48], st[24], rec[300];
        lf_format_bytes(sz, sizeof sz, (double)l->size);
        /* a median and the half-width of its 95% CI, in % */
        snprintf(ppc, sizeof ppc, "%s", num(b1, sizeof b1, l->pp, 1));
        if (isfinite(l->pp_lo) && l->pp > 0)
            snprintf(ppc, sizeof ppc, "%s ±%s%%", b1,
                     num(b2, sizeof b2, 100 * (l->pp_hi - l->pp_lo) / (2 * l->pp), 0));
        snprintf(tgc, sizeof tgc, "%s", num(b1, sizeof b1, l->tg, 1));
        if (isfinite(l->tg_lo) && l->tg > 0)
            snprintf(tgc, sizeof tgc, "%s ±%s%%", b1,
                     num(b3, sizeof b3, 100 * (l->tg_hi - l->tg_lo) / (2 * l->tg), 0));
        num(kld, sizeof kld, l->q_known ? l->kld : NAN, 4);
        if (S->gguf)
            num(ppl, sizeof ppl, l->ppl, 3);
        else
            num(ppl, sizeof ppl, l->dppl, 3);
        num(st, sizeof st, l->q_known && isfinite(l->same_top) ? 100 * l->same_top : NAN, 1);
        if (l->rank == 1)
            snprintf(rec, sizeof rec, "<- RECOMMENDED");
        else if (l->fits)
            snprintf(rec, sizeof rec, "fits (#%d)", l->rank);
        else
            snprintf(rec, sizeof rec, "no: %s", l->reason);
        char qn[40];   /* a collapsed level: "Q6_K=Q8_0" */
        snprintf(qn, sizeof qn, "%s%s%s", l->quant, l->became[0] ? "=" : "", l->became);
        printf("%-*s %10s %6.2f %17s %15s %10s %16s %8s %s\n", qw, qn, sz, l->bpw, ppc, tgc,
               kld, ppl, st, rec);
    }
    bool any_collapsed = false;
    for (int i = 0; i < S->n; i++)
        any_collapsed |= S->lv[i].became[0] != 0;
    if (any_collapsed)
        printf("\n%s\n", LF_QUALITY_COLLAPSED_NOTE);
    if (S->gguf)
        printf("%sThe levels are quantized by localfit's own quantizer, not llama-quantize: tensor "
               "types and rounding can differ, so a level's KLD can differ from that of llama.cpp's "
               "file of the same name.\n", any_collapsed ? "" : "\n");
    const level *w = NULL;
    for (int i = 0; i < S->n; i++)
        if (S->lv[i].rank == 1)
            w = &S->lv[i];
    char a[32];
    printf("\nConstraints: context %lld, KV %s, at most %.0f%% of %s",
           (long long)k->context, lf_type_name(k->kv_type), 100 * k->memory_fraction,
           lf_format_bytes(a, sizeof a, (double)t->usable_memory));
    if (k->min_tps > 0)
        printf(", tg >= %g tok/s", k->min_tps);
    if (k->max_ttft_s > 0)
        printf(", ttft <= %g s", k->max_ttft_s);
    if (k->max_kld > 0)
        printf(", KLD <= %g", k->max_kld);
    if (k->min_quality > 0)
        printf(", quality >= %g", k->min_quality);
    printf("; speeds calibrated on %d observation%s of this device\n", n_obs, n_obs == 1 ? "" : "s");
    if (w) {
        printf("Recommended: %s %s: quality %.1f%s, needs %s, decode %.1f tok/s at %lld ctx "
               "[%.1f-%.1f, %s]\n",
               S->name, w->quant, w->quality, S->gguf ? " (100 x exp(-KLD))" : "",
               lf_format_bytes(a, sizeof a, (double)w->mem_total), w->tg_ctx.value,
               (long long)k->context, w->tg_ctx.lo, w->tg_ctx.hi,
               lf_rec_source_name(w->tg_ctx.source));
    } else {
        printf("Recommended: none of these levels meets the constraints (reasons above)\n");
    }
    if (run && run->id > 0)
        printf("Stored as run %.8s (suite sweep)\n", run->uuid);
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static void print_json(const sweep *S, const lf_rec_target *t, const lf_rec_constraints *k,
                       int n_prompt, int n_gen, int n_obs, const lf_run *run) {
    json_t *root = json_object();
    json_object_set_new(root, "schema", json_string("localfit.sweep/1"));
    json_object_set_new(root, "model", json_string(S->name));
    json_object_set_new(root, "source", json_string(S->gguf ? "gguf" : "catalog"));
    json_object_set_new(root, "quality_source",
                        json_string(S->gguf ? "measured" : "published (Llama-3-8B)"));
    if (S->gguf) {
        json_object_set_new(root, "tokens", json_string(S->tokens_from));
        json_object_set_new(root, "quality_ctx", json_integer(S->q_ctx));
        json_object_set_new(root, "quality_chunks", json_integer(S->q_chunks));
    }
    json_object_set_new(root, "n_prompt", json_integer(n_prompt));
    json_object_set_new(root, "n_gen", json_integer(n_gen));
    json_object_set_new(root, "device", json_string(t->name));
    json_object_set_new(root, "usable_memory", json_integer((json_int_t)t->usable_memory));
    json_object_set_new(root, "context", json_integer((json_int_t)k->context));
    json_object_set_new(root, "observations", json_integer(n_obs));
    json_object_set_new(root, "run", run && run->id > 0 ? json_string(run->uuid) : json_null());
    json_t *arr = json_array();
    const char *rec = NULL;
    for (int i = 0; i < S->n; i++) {
        const level *l = &S->lv[i];
        if (l->rank == 1)
            rec = l->quant;
        json_t *o = json_object();
        json_object_set_new(o, "quant", json_string(l->quant));
        json_object_set_new(o, "size_bytes", json_integer((json_int_t)l->size));
        json_object_set_new(o, "bpw", jnum(l->bpw));
        json_object_set_new(o, "pp", jnum(l->pp));
        json_object_set_new(o, "pp_ci", json_pack("[o,o]", jnum(l->pp_lo), jnum(l->pp_hi)));
        json_object_set_new(o, "tg", jnum(l->tg));
        json_object_set_new(o, "tg_ci", json_pack("[o,o]", jnum(l->tg_lo), jnum(l->tg_hi)));
        json_object_set_new(o, "kld", jnum(l->q_known ? l->kld : NAN));
        json_object_set_new(o, "kld_err", jnum(l->q_measured ? l->kld_err : NAN));
        json_object_set_new(o, "ppl", jnum(l->q_measured ? l->ppl : NAN));
        json_object_set_new(o, "dppl", jnum(l->q_known ? l->dppl : NAN));
        json_object_set_new(o, "same_top", jnum(l->q_known ? l->same_top : NAN));
        json_object_set_new(o, "quality", jnum(l->quality));
        json_object_set_new(o, "memory_bytes", json_integer((json_int_t)l->mem_total));
        json_object_set_new(o, "tg_at_context",
                            json_pack("{s:o,s:o,s:o,s:s}", "value", jnum(l->tg_ctx.value), "lo",
                                      jnum(l->tg_ctx.lo), "hi", jnum(l->tg_ctx.hi), "source",
                                      lf_rec_source_name(l->tg_ctx.source)));
        json_object_set_new(o, "fits", json_boolean(l->fits));
        json_object_set_new(o, "rank", json_integer(l->rank));
        if (!l->fits)
            json_object_set_new(o, "reason", json_string(l->reason));
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "levels", arr);
    json_object_set_new(root, "recommended", rec ? json_string(rec) : json_null());
    char *s = json_dumps(root, JSON_INDENT(2));
    if (s)
        puts(s);
    free(s);
    json_decref(root);
}

/* ---- the command line -------------------------------------------------------- */

enum { O_CHUNKS = 256, O_MIN_TPS, O_CONTEXT, O_MEMFRAC, O_MAX_TTFT, O_QFLOOR, O_KV,
       O_DB, O_NOSTORE, O_JSON };

/* Parse steps return GO_ON to carry on, else the exit status to return. */
enum { GO_ON = -1 };

/* The command line, parsed. */
typedef struct sweep_args {
    const char *model, *quants, *text_path, *db;
    int q_ctx, q_chunks;          /* quality window (tokens) and windows */
    int threads;                  /* 0: the device's usable threads */
    int n_prompt, n_gen;          /* tokens of the pp and tg tests */
    bool no_store, json, context_given;
    lf_rec_constraints k;
    lf_mix mixes[MAX_LEVELS - 1]; /* --quants, deduplicated, in order */
    int n_mixes;
} sweep_args;

/* One option (getopt_long's c and optarg) into *a: GO_ON, or the exit
 * status (0 after --help, the usage error for a bad value). */
static int parse_option(sweep_args *a, int c, const char *arg) {
    const char *cmd = "sweep";
    lf_rec_constraints *k = &a->k;
    switch (c) {
    case 'q': a->quants = arg; break;
    case 'f': a->text_path = arg; break;
    case 'c':
        if (lf_arg_int(arg, 8, 1 << 16, &a->q_ctx) < 0)
            return lf_cli_usage_error(cmd, "--ctx wants 8..65536, not '%s'", arg);
        break;
    case O_CHUNKS:
        if (lf_arg_int(arg, 1, 1 << 20, &a->q_chunks) < 0)
            return lf_cli_usage_error(cmd, "--chunks wants a positive integer, not '%s'", arg);
        break;
    case 't':
        if (lf_arg_int(arg, 1, 4096, &a->threads) < 0)
            return lf_cli_usage_error(cmd, "--threads wants a positive integer, not '%s'", arg);
        break;
    case 'p':
        if (lf_arg_int(arg, 1, 1 << 16, &a->n_prompt) < 0)
            return lf_cli_usage_error(cmd, "-p wants 1..65536, not '%s'", arg);
        break;
    case 'n':
        if (lf_arg_int(arg, 1, 1 << 16, &a->n_gen) < 0)
            return lf_cli_usage_error(cmd, "-n wants 1..65536, not '%s'", arg);
        break;
    case O_MIN_TPS:
        if (parse_num(arg, &k->min_tps) < 0)
            return lf_cli_usage_error(cmd, "--min-tps: '%s' is not a number", arg);
        break;
    case O_CONTEXT: {
        int v;
        if (lf_arg_int(arg, 1, 1 << 24, &v) < 0)
            return lf_cli_usage_error(cmd, "--context wants 1..16777216, not '%s'", arg);
        k->context = v;
        a->context_given = true;
        break;
    }
    case O_MEMFRAC:
        if (parse_num(arg, &k->memory_fraction) < 0 || !(k->memory_fraction > 0) ||
            k->memory_fraction > 1)
            return lf_cli_usage_error(cmd, "--memory-fraction must be in (0, 1]");
        break;
    case O_MAX_TTFT:
        if (parse_num(arg, &k->max_ttft_s) < 0)
            return lf_cli_usage_error(cmd, "--max-ttft: '%s' is not a number", arg);
        break;
    case O_QFLOOR:
        if (!strncasecmp(arg, "kld:", 4) ? parse_num(arg + 4, &k->max_kld) < 0
                                         : parse_num(strncasecmp(arg, "score:", 6) ? arg : arg + 6,
                                                     &k->min_quality) < 0)
            return lf_cli_usage_error(cmd, "--quality-floor: '%s' is not SCORE or kld:X", arg);
        break;
    case O_KV:
        if (lf_kv_type_parse(arg, &k->kv_type) < 0)
            return lf_cli_usage_error(cmd, "--kv: '%s' is not f32, f16 or q8_0", arg);
        break;
    case O_DB: a->db = arg; break;
    case O_NOSTORE: a->no_store = true; break;
    case O_JSON: a->json = true; break;
    case 'h': usage(stdout); return LF_EXIT_OK;
    default: return lf_cli_usage_error(cmd, "unknown option");
    }
    return GO_ON;
}

/* --quants into a->mixes, checked before anything is loaded: GO_ON, or the
 * exit status. */
static int parse_levels(sweep_args *a) {
    const char *cmd = "sweep";
    char *list = strdup(a->quants);
    if (!list)
        return LF_EXIT_FAIL;
    for (char *save = NULL, *tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        lf_mix mix;
        if (lf_bench_quant_parse(tok, &mix) < 0) {
            int urc = lf_cli_usage_error(cmd, "--quants: unknown quantization '%s'", tok);
            free(list);   /* after the message: tok points into it */
            return urc;
        }
        bool dup = false;
        for (int i = 0; i < a->n_mixes; i++)
            dup |= a->mixes[i] == mix;
        if (dup)
            continue;
        if (a->n_mixes == MAX_LEVELS - 1) {
            free(list);
            return lf_cli_usage_error(cmd, "--quants: at most %d levels", MAX_LEVELS - 1);
        }
        a->mixes[a->n_mixes++] = mix;
    }
    free(list);
    if (a->n_mixes == 0)
        return lf_cli_usage_error(cmd, "--quants: no quantization given");
    return GO_ON;
}

/* The whole command line into *a, defaults first: GO_ON, or the exit status. */
static int parse_args(int argc, char **argv, sweep_args *a) {
    static const struct option opts[] = {
        {"quants", required_argument, 0, 'q'},  {"file", required_argument, 0, 'f'},
        {"ctx", required_argument, 0, 'c'},     {"chunks", required_argument, 0, O_CHUNKS},
        {"threads", required_argument, 0, 't'}, {"n-prompt", required_argument, 0, 'p'},
        {"n-gen", required_argument, 0, 'n'},   {"min-tps", required_argument, 0, O_MIN_TPS},
        {"context", required_argument, 0, O_CONTEXT},
        {"memory-fraction", required_argument, 0, O_MEMFRAC},
        {"max-ttft", required_argument, 0, O_MAX_TTFT},
        {"quality-floor", required_argument, 0, O_QFLOOR},
        {"kv", required_argument, 0, O_KV},     {"db", required_argument, 0, O_DB},
        {"no-store", no_argument, 0, O_NOSTORE}, {"json", no_argument, 0, O_JSON},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    const char *cmd = "sweep";
    memset(a, 0, sizeof *a);
    a->quants = DEFAULT_QUANTS;
    a->q_ctx = 256;
    a->q_chunks = 8;
    a->n_prompt = 128;
    a->n_gen = 32;
    lf_rec_constraints_init(&a->k);
    a->k.min_tps = 5;   /* as recommend: a reading speed */
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "q:f:c:t:p:n:h", opts, NULL)) != -1) {
        if (c == '?')
            return lf_cli_bad_option(cmd, argv, opts);
        int rc = parse_option(a, c, optarg);
        if (rc != GO_ON)
            return rc;
    }
    if (optind >= argc)
        return lf_cli_usage_error(cmd, "give a model: a GGUF file or a catalog name");
    if (optind + 1 < argc)
        return lf_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    a->model = argv[optind];
    return parse_levels(a);
}

/* ---- the steps of a sweep ------------------------------------------------------ */

/* The model: a GGUF file (its name without .gguf, and TEXT read when given)
 * or a catalog entry (S->gguf already says which). 0, or an LF_E* with err
 * set; *text is the caller's to free. */
static int select_model(sweep *S, const lf_catalog *cat, const char *model, const char *text_path,
                        char **text, size_t *text_len, lf_error *err) {
    if (S->gguf) {
        struct stat sb;
        if (stat(model, &sb) != 0 || !S_ISREG(sb.st_mode))
            return lf_error_set(err, LF_ENOTFOUND, "%s: no such file (and not a catalog model name)",
                                model);
        lf_strlcpy(S->base, model, sizeof S->base);
        const char *b = strrchr(model, '/');
        lf_strlcpy(S->name, b ? b + 1 : model, sizeof S->name);
        size_t l = strlen(S->name);
        if (l > 5 && !strcasecmp(S->name + l - 5, ".gguf"))
            S->name[l - 5] = '\0';
        if (text_path && !(*text = lf_cli_read_text(text_path, text_len, err)))
            return err->code;
        return 0;
    }
    int rc = lf_catalog_match(cat, model, &S->cm, err);
    if (rc < 0) {
        lf_error_wrap(err, "'%s' is neither a GGUF file nor a catalog model", model);
        return rc;
    }
    lf_strlcpy(S->name, S->cm->name, sizeof S->name);
    lf_strlcpy(S->tokens_from, "published", sizeof S->tokens_from);
    return 0;
}

/* The levels: a GGUF's own type first (level 0), then --quants, with every
 * measurement unknown (NAN) until made. */
static void init_levels(sweep *S, const lf_mix *mixes, int n_mixes) {
    S->n = S->gguf ? 1 : 0;   /* a GGUF's own type is level 0 */
    for (int i = 0; i < n_mixes; i++) {
        level *l = &S->lv[S->n++];
        memset(l, 0, sizeof *l);
        l->mix = mixes[i];
        lf_strlcpy(l->quant, lf_mix_name(mixes[i]), sizeof l->quant);
    }
    for (int i = 0; i < S->n; i++) {
        level *l = &S->lv[i];
        l->pp = l->pp_lo = l->pp_hi = l->tg = l->tg_lo = l->tg_hi = NAN;
        l->weight_read = l->params = NAN;
        l->kld = l->kld_err = l->ppl = l->ppl_err = l->dppl = l->same_top = l->quality = NAN;
    }
}

/* The store and this device calibrated from it. --no-store still reads: the
 * cached device profile and the device's measurements calibrate the
 * recommendation; nothing is written (*st may stay NULL). note says where
 * the device's figures came from. */
static int open_store_device(const sweep_args *a, lf_store **st, lf_device *dev, char *note,
                             size_t note_size, lf_error *err) {
    if (a->no_store) {
        (void)lf_store_open_path(st, a->db, LF_STORE_READONLY | LF_STORE_NOCREATE, NULL);
    } else {
        int rc = lf_store_open_path(st, a->db, 0, err);
        if (rc < 0)
            return rc;
    }
    return lf_cli_device_stored(*st, dev, note, note_size, err);
}

/* Each level's size and bits per weight: a GGUF's levels are written as
 * files (prepare_gguf); a catalog model's are computed, with the published
 * quality of each. */
static int size_levels(sweep *S, const lf_catalog *cat, lf_error *err) {
    int rc;
    if (S->gguf) {
        if ((rc = prepare_gguf(S, err)) < 0)
            return rc;
        if (S->lv[0].mix >= LF_MIX_COUNT) {
            /* the file's own type is unknown: it is the reference, not a level */
            lf_strlcpy(S->lv[0].quant, "base", sizeof S->lv[0].quant);
        }
        return 0;
    }
    double elems = catalog_elements(S->cm);
    for (int i = 0; i < S->n; i++) {
        level *l = &S->lv[i];
        lf_rec_memory mem;
        if ((rc = lf_rec_weight_bytes(S->cm, l->mix, &mem, err)) < 0)
            return rc;
        l->size = mem.weights;
        l->bpw = elems > 0 ? (double)mem.weights * 8.0 / elems : NAN;
        const lf_catalog_quant *q = lf_catalog_find_quant(cat, l->quant);
        if (q) {
            l->q_known = true;
            l->kld = q->kld;
            l->dppl = q->dppl;
            l->same_top = isfinite(q->same_top) ? q->same_top / 100.0 : NAN;
        }
    }
    return 0;
}

/* Speed of every level (stored as a run in st unless --no-store), then a
 * GGUF's quality, stored with that run. */
static int measure_levels(sweep *S, const sweep_args *a, lf_store *st, const lf_device *dev,
                          const char *text, size_t text_len, lf_run *stored, lf_error *err) {
    fprintf(stderr, "sweep: measuring pp%d and tg%d of %d levels on %d thread%s\n", a->n_prompt,
            a->n_gen, S->n, a->threads, a->threads == 1 ? "" : "s");
    int rc = measure_speed(S, a->threads, a->n_prompt, a->n_gen, a->no_store ? NULL : st, dev,
                           stored, err);
    if (rc < 0 || !S->gguf)
        return rc;
    if ((rc = measure_quality(S, text, text_len, a->threads, err)) < 0)
        return rc;
    if (st && stored->id > 0 && (rc = store_quality(S, st, stored->id, err)) < 0)
        return rc;
    return 0;
}

/* The recommended level, calibrated on everything stored for the device
 * (this sweep included): sets *t, the levels' fit and rank, and *obs /
 * *n_obs (the caller frees *obs). */
static int recommend_level(sweep *S, const lf_catalog *cat, lf_store *st, const lf_device *dev,
                           lf_rec_constraints *k, lf_rec_target *t, lf_rec_observation **obs,
                           int *n_obs, lf_error *err) {
    int rc = lf_rec_target_from_device(t, dev, err);
    if (rc < 0)
        return rc;
    if (st && (rc = lf_rec_observations_load(st, cat, dev, obs, n_obs, NULL, err)) < 0)
        return rc;
    if (S->n_fresh > 0) {
        lf_rec_observation *all = realloc(*obs, sizeof *all * (size_t)(*n_obs + S->n_fresh));
        if (!all)
            return lf_error_set(err, LF_ENOMEM, "out of memory");
        memcpy(all + *n_obs, S->fresh, sizeof *all * (size_t)S->n_fresh);
        *obs = all;
        *n_obs += S->n_fresh;
    }
    lf_rec_calibration cal;
    if ((rc = lf_rec_calibrate(&cal, *obs, *n_obs, t->kind, err)) < 0)
        return rc;
    return S->gguf ? recommend_gguf(S, t, k, &cal, err) : recommend_catalog(S, cat, t, k, &cal, err);
}

/* ---- main ------------------------------------------------------------------ */

int cmd_sweep(int argc, char **argv) {
    sweep_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != GO_ON)
        return rc;
    sweep *S = calloc(1, sizeof *S);
    lf_catalog *cat = NULL;
    lf_store *st = NULL;
    lf_device *dev = calloc(1, sizeof *dev);
    char *text = NULL;
    size_t text_len = 0;
    lf_rec_observation *obs = NULL;
    int n_obs = 0;
    lf_run stored;
    memset(&stored, 0, sizeof stored);
    lf_error err = {0};
    char note[256] = "";
    lf_rec_target t;
    if (!S || !dev) {
        lf_error_set(&err, LF_ENOMEM, "out of memory");
        goto fail;
    }
    S->q_ctx = a.q_ctx;
    S->q_chunks = a.q_chunks;
    if (lf_catalog_load(&cat, lf_cli_datadir(), &err) < 0)
        goto fail;
    /* the model and its levels */
    S->gguf = is_gguf_path(a.model);
    if (!S->gguf && a.text_path) {
        rc = lf_cli_usage_error("sweep", "-f: '%s' is a catalog model with synthetic weights; "
                                         "its quality is the published one (give a GGUF file "
                                         "to measure)", a.model);
        goto out;
    }
    if (select_model(S, cat, a.model, a.text_path, &text, &text_len, &err) < 0)
        goto fail;
    init_levels(S, a.mixes, a.n_mixes);
    if (open_store_device(&a, &st, dev, note, sizeof note, &err) < 0)
        goto fail;
    /* dev's count, not lf_usable_cpus(): it also heeds the cpuset and the
     * cgroup CPU quota */
    if (a.threads == 0)
        a.threads = dev->limits.usable_threads > 0 ? dev->limits.usable_threads : 1;
    if (size_levels(S, cat, &err) < 0)
        goto fail;
    if (!a.context_given)
        a.k.context = S->gguf ? (S->shape.n_ctx < 4096 ? S->shape.n_ctx : 4096)
                              : (S->cm->n_ctx < 4096 ? S->cm->n_ctx : 4096);
    if (measure_levels(S, &a, st, dev, text, text_len, &stored, &err) < 0)
        goto fail;
    if (recommend_level(S, cat, st, dev, &a.k, &t, &obs, &n_obs, &err) < 0)
        goto fail;
    if (a.json)
        print_json(S, &t, &a.k, a.n_prompt, a.n_gen, n_obs, &stored);
    else
        print_text(S, &t, &a.k, a.n_prompt, a.n_gen, n_obs, &stored, note);
    rc = LF_EXIT_OK;
    goto out;
fail:
    rc = lf_cli_fail(&err);
out:
    if (S) {
        cleanup_gguf(S);
        free(S->fresh);
    }
    free(S);
    free(dev);
    free(text);
    free(obs);
    lf_catalog_free(cat);
    lf_store_close(st);
    return rc;
}
