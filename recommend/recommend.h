/*
 * recommend — which catalog model, at which quantization, fits a device and
 * how fast it will run there, with how much confidence.
 *
 *   memory model      exact weight bytes (every tensor of the catalog shape
 *                     in the type the mix gives it, lf_row_size per row),
 *                     KV cache for the context and KV type, LoRA adapters,
 *                     compute buffers and runtime overhead.
 *   performance model decode tok/s = eff_tg × bandwidth ÷ bytes read per
 *                     token (weights + KV at that depth); prefill tok/s =
 *                     eff_pp × compute peak ÷ (2 × matmul params). The
 *                     efficiencies are learned from observations of this
 *                     device (per quantization and thread count, falling
 *                     back to the quant class; a size slope shared by the
 *                     mixes; the cost of KV reads at depth; a model's own
 *                     factor when it was measured in other mixes; see
 *                     perf.c), else typical defaults with a wider interval.
 *                     Every figure carries its source (measured /
 *                     calibrated / estimated) and an interval.
 *   selection         constraints filter catalog models × quant mixes; the
 *                     best quality among what fits wins (quality = published
 *                     score × exp(−KLD of the quant), see select.c), ties go
 *                     to the faster, and every candidate whose score was
 *                     verified against its source ranks before those whose
 *                     score was not; the Pareto front (quality, speed,
 *                     memory) is marked and every rejected candidate gets a
 *                     reason.
 *
 * The core takes observations as an array and knows nothing of the store;
 * the CLI reads them from wherever they live.
 *
 * Usage:
 *     lf_rec_target t = {.kind = LF_REC_CPU, .usable_memory = 16ull << 30,
 *                        .bandwidth_gbs = 120, .int8_tops = 2};
 *     lf_rec_calibration cal;
 *     lf_rec_calibrate(&cal, obs, n_obs, t.kind, &err);   // n_obs may be 0
 *     lf_rec_constraints c;
 *     lf_rec_constraints_init(&c);
 *     c.min_tps = 15; c.context = 4096;
 *     lf_rec_result r;
 *     if (lf_rec_recommend(cat, &t, &c, &cal, &r, &err) < 0) die(err.msg);
 *     if (r.winner >= 0) printf("%s %s\n", r.cand[r.winner].model->name,
 *                               r.cand[r.winner].quant->name);
 *     lf_rec_result_free(&r);
 */
#ifndef LF_RECOMMEND_H
#define LF_RECOMMEND_H

#include "catalog/catalog.h"
#include "common/common.h"
#include "kernels/kernels.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- target ---------------------------------------------------------- */
typedef enum lf_rec_kind { LF_REC_CPU, LF_REC_GPU, LF_REC_UNIFIED } lf_rec_kind;
const char *lf_rec_kind_name(lf_rec_kind k);   /* "cpu", "gpu", "unified" */

/* What the model runs on. Fill from a probe, from gpus.csv or from flags. */
typedef struct lf_rec_target {
    char name[96];
    char source[128];          /* where the numbers come from */
    lf_rec_kind kind;
    uint64_t usable_memory;    /* bytes a model may use (RAM under limits, VRAM, pool) */
    double bandwidth_gbs;      /* read bandwidth, 1e9 bytes/s */
    double int8_tops;          /* peak int8 dot throughput, 1e12 ops/s; 0 = unknown */
    double fp32_tflops;        /* peak float matmul (GPU: FP16 matrix), 1e12 FLOP/s; 0 = unknown */
    int threads;               /* threads the model will run with (calibration prefers
                                  observations at this count); 0 = any */
} lf_rec_target;

/* Fills t from a gpus.csv row: VRAM for discrete parts; for unified parts
 * 75% of the pool (what the OS lets a GPU wire, e.g. macOS's default). */
void lf_rec_target_from_gpu(lf_rec_target *t, const lf_catalog_gpu *g);

/* ---- memory model ------------------------------------------------------ */
enum {
    LF_REC_LORA_Q = 1 << 0, LF_REC_LORA_K = 1 << 1, LF_REC_LORA_V = 1 << 2,
    LF_REC_LORA_O = 1 << 3, LF_REC_LORA_GATE = 1 << 4, LF_REC_LORA_UP = 1 << 5,
    LF_REC_LORA_DOWN = 1 << 6,
};

typedef struct lf_rec_adapter {
    int rank;
    unsigned targets;          /* LF_REC_LORA_* bits */
    lf_type type;              /* storage type of A and B (F16, F32) */
} lf_rec_adapter;

typedef struct lf_rec_memory {   /* bytes */
    uint64_t weights;          /* all tensors as stored under the mix (MoE: every expert) */
    uint64_t weights_read;     /* read per decoded token (token_embd: one row unless tied;
                                  MoE: the expected bytes, k of n experts) */
    uint64_t kv_cache;         /* K and V for the whole context */
    uint64_t adapters;
    uint64_t compute;          /* activations and scratch for a 512-token batch */
    uint64_t overhead;         /* runtime: 64 MiB + 1% of the weights */
    uint64_t total;
    double matmul_params;      /* elements of the matrices a token passes through
                                  (MoE: k of n experts) */
} lf_rec_memory;

/* Weight bytes of m under mix: each tensor of lf_catalog_tensor_at gets
 * lf_mix_tensor_type_model (vectors stay F32; a type whose block does not
 * divide the row falls back to F16, as synth does) and costs
 * lf_row_size(type, ne0) × ne1 × ne2; a per-expert tensor (ne2 > 1) is read
 * n_expert_used / ne2 per token. Fills weights, weights_read and
 * matmul_params of *out (other fields untouched). LF_EINVAL for a bad mix. */
int lf_rec_weight_bytes(const lf_catalog_model *m, lf_mix mix, lf_rec_memory *out,
                        lf_error *err);
/* n_layer × n_ctx × n_head_kv × 2 (K and V) × lf_row_size(kv_type, head_dim).
 * 0 if kv_type cannot hold head_dim-element rows. */
uint64_t lf_rec_kv_bytes(const lf_catalog_model *m, int64_t n_ctx, lf_type kv_type);
/* Σ over targeted projections and layers of rank × (in + out) elements. */
uint64_t lf_rec_adapter_bytes(const lf_catalog_model *m, const lf_rec_adapter *a);
/* Activations for a batch of min(512, n_ctx) tokens (F32): hidden, Q/K/V,
 * FFN gate and up, one attention-score tile of n_ctx per query, one row of
 * logits. An approximation; documented in memory.c. */
uint64_t lf_rec_compute_bytes(const lf_catalog_model *m, int64_t n_ctx);
/* Everything above for one configuration; total = sum. */
int lf_rec_memory_estimate(const lf_catalog_model *m, lf_mix mix, int64_t n_ctx,
                           lf_type kv_type, const lf_rec_adapter *adapters, int n_adapters,
                           lf_rec_memory *out, lf_error *err);

/* ---- observations and calibration ------------------------------------- */
typedef enum lf_rec_test { LF_REC_PP, LF_REC_TG } lf_rec_test;
const char *lf_rec_test_name(lf_rec_test t);   /* "pp", "tg" */

/* One stored measurement of this device. */
typedef struct lf_rec_observation {
    char model[64];            /* catalog name (or file stem) */
    char mix[16];              /* "Q4_K_M", "Q8_0", "F16" … */
    uint64_t weight_bytes;     /* weight bytes read per token */
    double params;             /* matmul parameters (count) */
    uint64_t kv_bytes;         /* KV bytes read per token at the test depth */
    lf_rec_test test;
    double tokens_per_s;
    int threads;
    double bandwidth_gbs;      /* read bandwidth of the device at the time */
    double compute_tops;       /* compute peak at the time (1e12/s); 0 = unknown */
    bool moe;                  /* a mixture-of-experts model (weight_bytes and params
                                  are then the expected k-of-n share) */
} lf_rec_observation;

/* Quant classes calibrated separately: they differ in how close to the
 * bandwidth roof their kernels get. */
typedef enum lf_rec_class {
    LF_REC_CLASS_FLOAT, LF_REC_CLASS_Q8, LF_REC_CLASS_LEGACY, LF_REC_CLASS_KQUANT,
    LF_REC_CLASS_IQUANT, LF_REC_N_CLASS
} lf_rec_class;
lf_rec_class lf_rec_class_of(const char *mix);
const char *lf_rec_class_name(lf_rec_class c);

typedef struct lf_rec_fit {
    int n;                     /* observations behind the fit */
    double median;             /* median efficiency */
    bool has_slope;            /* eff = a + b·ln(size) (Theil–Sen) */
    double a, b;
    double spread;             /* robust spread of ln(observed / fitted) */
} lf_rec_fit;

typedef struct lf_rec_calibration {
    lf_rec_kind kind;          /* for the defaults */
    lf_rec_fit tg[LF_REC_N_CLASS], pp[LF_REC_N_CLASS];   /* all thread counts (a summary) */
    lf_rec_fit tg_all, pp_all; /* every class pooled: fallback for empty classes */
    /* Reading the KV cache costs more than streaming the same bytes of
     * weights (attention is not a matrix product): decode at depth is
     * modelled as bytes = weights + kv_mult × KV bytes, kv_mult learned from
     * pairs of one configuration at a shallow and a deep context (1 when
     * there are none). */
    double kv_mult;
    int kv_pairs;
    /* How efficiency grows with size (d eff / d ln bytes or ln params),
     * learned only from pairs of the same mix at the same thread count so
     * that the levels of different kernels do not pass for a size effect;
     * shared by every mix at that thread count (threads 0: all counts). */
    int n_slopes;
    struct lf_rec_slope {
        int threads;
        bool tg_ok, pp_ok;     /* enough pairs (3+) to trust */
        double tg, pp;
    } slopes[17];
    bool pp_absolute;          /* some pp observation had no compute peak: pp
                                  efficiencies are achieved TOPS, not fractions */
    /* Mixture-of-experts models gather their k experts' rows from a large
     * set instead of streaming one matrix, which costs more per byte: their
     * efficiency is the dense level at the same mix, size and thread count
     * times a factor learned from this device's MoE observations (the
     * median ratio, index LF_REC_PP / LF_REC_TG). Dense levels, classes and
     * slopes are learned from dense observations only. */
    struct lf_rec_moe_fit {
        int n;                 /* MoE observations behind the factor; 0 = none */
        double factor;         /* observed ÷ dense level (1 when n == 0) */
        double half;           /* log half-width of its interval */
    } moe[2];
    const lf_rec_observation *obs;   /* borrowed: must outlive the calibration */
    int n_obs;
} lf_rec_calibration;

/* Typical efficiencies when nothing was measured (fractions of the roof). */
double lf_rec_default_efficiency(lf_rec_kind kind, lf_rec_test test);
/* The MoE factor assumed before any MoE model was measured on the device
 * (a prediction that uses it is an estimate). */
double lf_rec_default_moe_factor(lf_rec_test test);

/* Learns efficiencies from obs (n may be 0: then every prediction is an
 * estimate). obs is borrowed, not copied. Observations with non-positive
 * speed, bytes or bandwidth are ignored. Never fails for n >= 0 except
 * LF_EINVAL for n < 0 or obs NULL with n > 0; allocates nothing. */
int lf_rec_calibrate(lf_rec_calibration *cal, const lf_rec_observation *obs, int n,
                     lf_rec_kind kind, lf_error *err);

typedef enum lf_rec_source { LF_REC_MEASURED, LF_REC_CALIBRATED, LF_REC_ESTIMATED } lf_rec_source;
const char *lf_rec_source_name(lf_rec_source s);   /* "measured", … */

typedef struct lf_rec_prediction {
    double value, lo, hi;      /* tokens/s and its interval */
    double efficiency;         /* the efficiency used (or implied, if measured) */
    lf_rec_source source;
    int n_points;              /* observations behind it */
} lf_rec_prediction;

/* What one prediction is about. */
typedef struct lf_rec_workload {
    const char *model;         /* for the measured lookup; may be NULL */
    const char *mix;
    uint64_t weight_bytes;     /* read per token */
    uint64_t kv_bytes;         /* KV read per token at this depth */
    double params;             /* matmul params */
    bool moe;                  /* mixture of experts: bytes and params are the
                                  expected k-of-n share; the MoE factor applies */
} lf_rec_workload;

/* tokens/s of test for w on t. Measured when obs hold the same model, mix,
 * test, thread count (when t->threads is set) and KV bytes (±10%). A decode
 * of the same model and mix at another depth is the next best once the KV
 * cost was learned (kv_pairs > 0): its own efficiency with this depth's KV
 * bytes (interval growing with the distance). Otherwise calibrated from the most specific set of observations that has
 * any: the same mix at t->threads, the same quant class at t->threads, every
 * class at t->threads, then the same three at any thread count (each step
 * widening the interval); a set of 4+ points spanning 2x in size gets a
 * size slope. Else estimated from defaults (interval ×/÷1.5).
 * A MoE workload (w->moe) is the dense level times this device's learned
 * MoE factor (calibrated), or times the model's own factor when it was
 * measured in other mixes; with no MoE observation at all, times the
 * default factor, and then it is an estimate whatever the dense level.
 * LF_EINVAL if the target lacks the bandwidth (tg) or compute peak (pp)
 * the model needs and nothing was measured. */
int lf_rec_predict(const lf_rec_calibration *cal, const lf_rec_target *t, lf_rec_test test,
                   const lf_rec_workload *w, lf_rec_prediction *out, lf_error *err);

/* ---- leave-one-out validation ------------------------------------------ */
typedef struct lf_rec_validation_row {
    int index;                 /* into obs */
    lf_rec_test test;
    double actual, predicted;  /* tokens/s */
    double abs_pct_err;        /* |predicted − actual| / actual × 100 */
    lf_rec_source source;
} lf_rec_validation_row;

typedef struct lf_rec_validation {
    lf_rec_validation_row *rows;   /* owned; lf_rec_validation_free */
    int n;
    int n_tg, n_pp;
    double median_abs_pct_tg, median_abs_pct_pp, median_abs_pct;   /* NAN if no rows */
} lf_rec_validation;

/* Predicts each observation from the others: every observation of the same
 * configuration (model, mix, test, depth) is held out with it, so a repeat
 * of the same run cannot answer for it. The target of each prediction is
 * the device as it was at that observation (its bandwidth and peak). */
int lf_rec_validate(const lf_rec_observation *obs, int n, lf_rec_kind kind,
                    lf_rec_validation *out, lf_error *err);
void lf_rec_validation_free(lf_rec_validation *v);

/* ---- selection --------------------------------------------------------- */
typedef struct lf_rec_constraints {
    double min_tps;            /* decode tok/s at a full context; 0 = none */
    int64_t context;           /* tokens the application needs */
    int64_t prompt;            /* prompt tokens for TTFT; 0 = min(512, context) */
    double max_ttft_s;         /* 0 = none */
    double memory_fraction;    /* share of usable memory to plan with, (0, 1] */
    double max_kld;            /* quality floor as published KLD; 0 = none */
    double min_quality;        /* quality floor as score after loss; 0 = none */
    const char *licenses;      /* comma list ("apache-2.0,mit"); NULL = any */
    const char *task;          /* "chat", "code" …; NULL = any */
    const char *models;        /* comma list of name prefixes; NULL = all */
    const char *mixes;         /* comma list of quant names; NULL = all */
    lf_type kv_type;           /* F16 or Q8_0 … */
    const lf_rec_adapter *adapters;
    int n_adapters;
} lf_rec_constraints;

/* Defaults: context 4096, memory_fraction 0.9, KV F16, no other limits. */
void lf_rec_constraints_init(lf_rec_constraints *c);

/* The constraints a candidate can fail (lf_rec_candidate.failed), for
 * summaries by reason. */
enum {
    LF_REC_FAIL_LICENSE = 1u << 0,
    LF_REC_FAIL_TASK = 1u << 1,
    LF_REC_FAIL_CONTEXT = 1u << 2,
    LF_REC_FAIL_KLD = 1u << 3,
    LF_REC_FAIL_QUALITY = 1u << 4,
    LF_REC_FAIL_MEMORY = 1u << 5,
    LF_REC_FAIL_SPEED = 1u << 6,
    LF_REC_FAIL_TTFT = 1u << 7,
    LF_REC_N_FAIL = 8
};
#define LF_REC_MISS_CATEGORY 1000.0
/* "memory", "decode speed", …: one LF_REC_FAIL_* bit's name. */
const char *lf_rec_fail_name(unsigned bit);

typedef struct lf_rec_candidate {
    const lf_catalog_model *model;
    const lf_catalog_quant *quant;
    lf_mix mix;
    lf_rec_memory mem;
    uint64_t budget;           /* usable × memory_fraction, bytes */
    lf_rec_prediction tg;      /* decode at depth = context */
    lf_rec_prediction tg0;     /* decode at depth 0 (llama-bench's tg) */
    lf_rec_prediction pp;      /* prefill; value 0 when unknown */
    bool pp_known;
    double ttft_s;             /* prompt / pp + 1 / tg0; NAN when unknown */
    double quality;            /* score × exp(−kld) */
    bool fits;
    bool pareto;               /* on the front among fitting candidates */
    int rank;                  /* 1 = winner; 0 = rejected */
    char reason[256];          /* why rejected ("needs 9.8 GiB > 7.2 GiB usable; …") */
    unsigned failed;           /* LF_REC_FAIL_* bits of the constraints it fails */
    double miss;               /* how far from fitting: the sum over failed limits of
                                * how far past each it is (0.2 = 20%), plus
                                * LF_REC_MISS_CATEGORY per license or task */
} lf_rec_candidate;

typedef struct lf_rec_result {
    lf_rec_candidate *cand;    /* owned: fitting by rank (verified scores first),
                                  then rejected */
    int n;
    int n_fit;
    int winner;                /* index into cand, -1 if nothing fits */
    int nearest;               /* the rejected candidate with the least miss, -1 none */
    int context;               /* the context used */
} lf_rec_result;

/* Evaluates catalog models × mixes under c on t. Fails (LF_EINVAL) on bad
 * constraints or a target without memory or bandwidth; a constraint that
 * nothing meets is a result with winner -1, not an error. */
int lf_rec_recommend(const lf_catalog *cat, const lf_rec_target *t,
                     const lf_rec_constraints *c, const lf_rec_calibration *cal,
                     lf_rec_result *out, lf_error *err);
void lf_rec_result_free(lf_rec_result *r);

/* "MoE 30.5B/3.3B": a sparse model's total and active parameters (the
 * shape's counts, embedding included) for tables and reports; "" for a
 * dense model. Returns buf. */
char *lf_rec_moe_label(const lf_catalog_model *m, char *buf, size_t size);

/* The quality formula, exposed for reports and sweep: score × exp(−kld). */
double lf_rec_quality(double score, double kld);

/* ---- the fit rules, for candidates that are not catalog rows ------------
 * lf_rec_recommend judges catalog model × mix; `sweep` judges GGUF files
 * with measured sizes and KLDs. Both go through these, so the reasons and
 * the ranking cannot drift apart. */

/* One configuration's figures as the constraints judge them. */
typedef struct lf_rec_fit_input {
    int n_ctx_max;             /* the model's trained context, tokens */
    double kld;                /* mean KLD of the quant; NAN: unknown, not judged */
    double quality;            /* score after loss; NAN: unknown, not judged */
    uint64_t mem_total;        /* bytes the configuration needs */
    uint64_t budget;           /* usable × memory_fraction, bytes */
    double tg;                 /* decode tokens/s at the full context */
    double ttft_s;             /* time to first token, s; NAN: unknown */
    bool ttft_unknown_fails;   /* an unknown ttft fails a max_ttft_s limit */
} lf_rec_fit_input;

/* Appends to reason (a NUL-terminated buffer of size bytes, "a; b" style)
 * every constraint of k that f fails: context, KLD, quality, memory,
 * decode speed, time to first token. Returns true when none failed. */
bool lf_rec_fit_check(const lf_rec_fit_input *f, const lf_rec_constraints *k, char *reason,
                      size_t size);
/* lf_rec_fit_check's judgement as the LF_REC_FAIL_* bits that failed (0:
 * fits); adds to *miss (may be NULL) how far past its limits f is. */
unsigned lf_rec_fit_judge(const lf_rec_fit_input *f, const lf_rec_constraints *k, char *reason,
                          size_t size, double *miss);
/* The runtime's own memory next to the weights: 64 MiB + 1% of them. */
uint64_t lf_rec_overhead_bytes(uint64_t weights);
/* Order of fitting candidates: higher quality first (differences under
 * 0.01 are ties; NAN counts as 0), then the faster decoder. Negative when
 * a ranks before b, positive after, 0 for a tie. */
int lf_rec_rank_cmp(double quality_a, double tg_a, double quality_b, double tg_b);

/* ---- glue: the probed device and the results store (observe.c) ----------
 * The core above takes plain arrays; these fill them from what localfit
 * measured: a device profile (probes) becomes a target, stored pp/tg results
 * of catalog models (store) become observations. Each observation gets the
 * bandwidth the device reaches with the thread count the result was measured
 * at (the probe's scaling curve), so a one-thread run is not judged against
 * the all-thread roof. They only read: the profile is the caller's (the
 * CLI gets it from lf_device_current) or stored (lf_rec_device_find);
 * nothing here probes, measures or writes.
 *
 *     lf_device dev; char note[256];
 *     lf_device_current(st, &o, &dev, ...);   // bench/bench.h: probe + stored figures
 *     lf_rec_target t;  lf_rec_target_from_device(&t, &dev, &err);
 *     lf_rec_observation *obs; int n;
 *     lf_rec_observations_load(st, cat, &dev, &obs, &n, NULL, &err);  // free(obs)
 */
struct lf_device;
struct lf_store;
struct lf_result;

/* A CPU target from a profile: usable memory under the process limits,
 * measured read bandwidth with all threads, int8 and FP32 peaks of all
 * cores. LF_EINVAL when the profile has no measured bandwidth or memory. */
int lf_rec_target_from_device(lf_rec_target *t, const struct lf_device *d, lf_error *err);

/* Read bandwidth (GB/s) of d with `threads` threads: the measured curve
 * point when there is one, else the all-threads figure; 0 if unmeasured. */
double lf_rec_device_bandwidth(const struct lf_device *d, int threads);

/* One stored result as an observation of d. Returns 1 when converted, 0
 * when the result is not one the model learns from: not pp/tg in tokens/s,
 * with adapters, another backend (llama-bench GPU rows), a kernel ISA other
 * than isa (a level name; NULL or "" accepts any), an unknown quant, or a
 * model that is neither in the catalog nor carries its byte and parameter
 * counts (lf_result weight_bytes, n_params, kv_bytes), or
 * one whose weights fit in twice d's last-level cache (it runs from the
 * cache: its speed says nothing about models that stream from memory).
 * A prompt processed at depth is left out too (the prefill model has no
 * attention term). KV bytes are those read per token at the test's mean
 * depth (n_depth + n_gen/2 for tg). A model is sparse (out->moe) by the
 * catalog or, outside it, by the expert counts bench stored with the
 * result (its weight bytes are then the active ones and its working set
 * model_bytes). cat may be NULL. */
int lf_rec_observation_from_result(const lf_catalog *cat, const struct lf_device *d,
                                   const struct lf_result *r, const char *isa,
                                   lf_rec_observation *out);

/* Every stored result of d's runs that converts (above), measured with the
 * best kernel ISA among them (a forced `--isa scalar` run says nothing about
 * the speed the device normally reaches). Repeats of one configuration
 * (model, mix, test, threads, prompt, generation, depth, KV type) become
 * one observation, so a configuration run ten times does not outweigh one
 * run once: the fastest of the repeats measured with the same build as the
 * newest (commit and tool version) — other processes only slow a run down,
 * so the fastest is the least disturbed — while older builds' results of
 * that configuration are set aside. *out is
 * malloc'd (caller frees; NULL when *n == 0). src (may be NULL) receives a
 * malloc'd array of the newest result behind each observation, for labels.
 * LF_ENOMEM or the store's errors. */
int lf_rec_observations_load(struct lf_store *st, const lf_catalog *cat,
                             const struct lf_device *d, lf_rec_observation **out, int *n,
                             struct lf_result **src, lf_error *err);

/* A stored device by id, unique id prefix or slug (as `runs list` shows
 * it). LF_ENOTFOUND (message lists the stored devices) or LF_EINVAL
 * (ambiguous); LF_EFORMAT if its stored profile does not parse. */
int lf_rec_device_find(struct lf_store *st, const char *query, struct lf_device *out,
                       lf_error *err);

#endif /* LF_RECOMMEND_H */
