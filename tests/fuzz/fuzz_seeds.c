/*
 * Seed corpora for the fuzz targets, generated rather than committed: the
 * shared models are too big to fuzz whole and may not be there at all, so
 * each real file is cut down to its metadata plus small tensors (slices of
 * the first rows of big ones keep their real bytes), and everything else is
 * written here with the project's own writers: a GGUF holding one tensor of
 * every supported type and a value of every metadata type, tiny synthetic
 * models of each architecture, adapters for the LoRA target's base, the
 * vocabularies, story text, the llama-bench fixtures and a bundle exported
 * by the store. Every seed is small (well under the fuzzers' max_len).
 */
#include "tests/fuzz/fuzz.h"

#include "model/model.h"
#include "store/store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Largest tensor copied whole into a GGUF seed; bigger ones are sliced to
 * as many of their first rows as fit. */
#define SMALL_TENSOR 2048
#define MAX_SEED_TENSORS 12

typedef struct seeds {
    const char *out;
    int n;
    int failed;
} seeds;

static void fail(seeds *s, const char *what, const char *msg) {
    fprintf(stderr, "fuzz seeds: %s: %s\n", what, msg);
    s->failed = 1;
}

static void target_dir(seeds *s, const char *target, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", s->out, target);
    mkdir(s->out, 0755);
    mkdir(buf, 0755);
}

static void put(seeds *s, const char *target, const char *name, const void *data, size_t size) {
    char dir[4096], path[8192];
    target_dir(s, target, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fail(s, path, strerror(errno));
        return;
    }
    s->n++;
}

static void put_writer(seeds *s, const char *target, const char *name, lf_gguf_writer *w) {
    char dir[4096], path[8192];
    lf_error err = {0};
    target_dir(s, target, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (lf_gguf_writer_write(w, path, &err) < 0)
        fail(s, path, err.msg);
    else
        s->n++;
}

static uint8_t *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    *size = 0;
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (;;) {
        if (*size == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + *size, 1, cap - *size, f);
        if (got == 0)
            break;
        *size += got;
    }
    fclose(f);
    return buf;
}

/* ---- GGUF seeds from real files --------------------------------------- */

/* The metadata of path and its small tensors (or first-row slices),
 * or only the metadata (kv_only: vocabulary seeds). */
static void cut_down(seeds *s, const char *models, const char *file, const char *target,
                     bool kv_only) {
    char path[4096], name[256];
    snprintf(path, sizeof path, "%s/%s", models, file);
    lf_gguf *g = NULL;
    lf_error err = {0};
    if (lf_gguf_open(&g, path, &err) < 0)
        return;   /* absent or unreadable: the other seeds still come */
    lf_gguf_writer *w = lf_gguf_writer_new();
    for (int64_t i = 0; w && i < lf_gguf_n_kv(g); i++)
        lf_gguf_writer_copy_kv(w, lf_gguf_kv_at(g, i));
    int added = 0;
    for (int64_t i = 0; w && !kv_only && i < lf_gguf_n_tensors(g) && added < MAX_SEED_TENSORS; i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        uint32_t nd = t->n_dims;
        size_t bytes = t->nbytes;
        if (bytes > SMALL_TENSOR) {
            size_t row = lf_row_size(t->type, t->ne[0]);
            if (row == 0 || row > SMALL_TENSOR)
                continue;
            int64_t rows = (int64_t)(SMALL_TENSOR / row);
            ne[1] = rows;
            ne[2] = ne[3] = 1;
            nd = 2;
            bytes = (size_t)rows * row;
        }
        if (lf_gguf_writer_add_tensor(w, t->name, t->type, nd, ne, t->data, bytes) == 0)
            added++;
    }
    const char *base = strrchr(file, '/');
    snprintf(name, sizeof name, "%s", base ? base + 1 : file);
    if (w)
        put_writer(s, target, name, w);
    lf_gguf_writer_free(w);
    lf_gguf_close(g);
}

/* ---- synthetic GGUF: every tensor type and metadata type ---------------- */

static void every_type(seeds *s) {
    lf_gguf_writer *w = lf_gguf_writer_new();
    if (!w)
        return;
    lf_gguf_writer_set_str(w, "general.architecture", "llama");
    lf_gguf_writer_set_str(w, "general.name", "every-type \x1b[31mred\x1b[0m <script>x</script>");
    lf_gguf_writer_set_u32(w, "general.alignment", 32);
    const uint8_t u8 = 200;
    const int8_t i8 = -100;
    const uint16_t u16 = 60000;
    const int16_t i16 = -30000;
    const int32_t i32 = -2000000000;
    const uint64_t u64 = 1ull << 40;
    const int64_t i64 = -(1ll << 40);
    const double f64 = 3.25;
    const uint8_t b = 1;
    lf_gguf_writer_set_scalar(w, "t.u8", LF_GGUF_UINT8, &u8);
    lf_gguf_writer_set_scalar(w, "t.i8", LF_GGUF_INT8, &i8);
    lf_gguf_writer_set_scalar(w, "t.u16", LF_GGUF_UINT16, &u16);
    lf_gguf_writer_set_scalar(w, "t.i16", LF_GGUF_INT16, &i16);
    lf_gguf_writer_set_scalar(w, "t.i32", LF_GGUF_INT32, &i32);
    lf_gguf_writer_set_scalar(w, "t.u64", LF_GGUF_UINT64, &u64);
    lf_gguf_writer_set_scalar(w, "t.i64", LF_GGUF_INT64, &i64);
    lf_gguf_writer_set_scalar(w, "t.f64", LF_GGUF_FLOAT64, &f64);
    lf_gguf_writer_set_scalar(w, "t.bool", LF_GGUF_BOOL, &b);
    lf_gguf_writer_set_f32(w, "t.f32", 1.5f);
    const float fa[4] = {1, -2, 0.5f, 1e30f};
    const int32_t ia[3] = {1, -1, 7};
    lf_gguf_writer_set_arr(w, "t.arr_f32", LF_GGUF_FLOAT32, fa, 4);
    lf_gguf_writer_set_arr(w, "t.arr_i32", LF_GGUF_INT32, ia, 3);
    const char *strs[3] = {"a", "", "\xe2\x96\x81the"};
    lf_gguf_writer_set_arr_str(w, "t.arr_str", strs, 3);

    enum { COLS = 256, ROWS = 2 };
    float src[COLS * ROWS];
    uint64_t x = 12345;
    for (int i = 0; i < COLS * ROWS; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        src[i] = (float)((int64_t)(x >> 33) % 2001 - 1000) / 500.0f;
    }
    static uint8_t bufs[LF_TYPE_COUNT][COLS * ROWS * 4];
    for (int t = 0; t < LF_TYPE_COUNT; t++) {
        if (!lf_type_supported((lf_type)t))
            continue;
        size_t n = lf_quantize((lf_type)t, src, bufs[t], ROWS, COLS);
        if (n == 0)
            continue;
        char name[64];
        snprintf(name, sizeof name, "t.%s", lf_type_name((lf_type)t));
        const int64_t ne[2] = {COLS, ROWS};
        lf_gguf_writer_add_tensor(w, name, (lf_type)t, 2, ne, bufs[t], n);
    }
    put_writer(s, "gguf", "every-type.gguf", w);
    lf_gguf_writer_free(w);

    /* the same file as GGUF version 2 (identical layout for little-endian) */
    char path[8192];
    snprintf(path, sizeof path, "%s/gguf/every-type.gguf", s->out);
    size_t size;
    uint8_t *data = slurp(path, &size);
    if (data && size > 8) {
        data[4] = 2;
        put(s, "gguf", "every-type-v2.gguf", data, size);
    }
    free(data);
}

/* ---- tiny synthetic models ------------------------------------------------ */

static void tiny_models(seeds *s) {
    for (int a = 0; a < LF_ARCH_COUNT; a++) {
        lf_model_params hp;
        lf_model_params_init(&hp, (lf_arch)a);
        snprintf(hp.name, sizeof hp.name, "tiny-%s", lf_arch_name((lf_arch)a));
        hp.n_layer = a % 2 ? 2 : 1;
        hp.n_embd = 32;
        hp.n_head = 2;
        hp.n_head_kv = a % 3 ? 1 : 2;
        hp.n_ff = 64;
        hp.n_vocab = 64;
        hp.n_ctx_train = 64;
        if (hp.swa_window)
            hp.swa_window = 4;
        lf_model *m = NULL;
        lf_error err = {0};
        lf_mix mix = a % 2 ? LF_MIX_Q8_0 : LF_MIX_Q4_K_M;
        if (lf_model_synth(&m, &hp, mix, 7 + (uint64_t)a, &err) < 0 &&
            lf_model_synth(&m, &hp, LF_MIX_F32, 7, &err) < 0)
            continue;   /* an architecture the synthesizer cannot make */
        char dir[4096], path[8192];
        target_dir(s, "model", dir, sizeof dir);
        snprintf(path, sizeof path, "%s/tiny-%s.gguf", dir, lf_arch_name((lf_arch)a));
        if (lf_model_save_gguf(m, path, &err) < 0)
            fail(s, path, err.msg);
        else
            s->n++;
        lf_model_free(m);
    }
}

/* ---- adapters for the LoRA target's base ---------------------------------- */

static void add_pair(lf_gguf_writer *w, const char *base, int64_t n_in, int64_t n_out, int rank,
                     lf_type type_a, float **keep, int *n_keep, uint8_t **qkeep) {
    char name[96];
    float *a = malloc((size_t)(rank * n_in) * sizeof *a);
    float *b = malloc((size_t)(rank * n_out) * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return;
    }
    for (int64_t i = 0; i < rank * n_in; i++)
        a[i] = (float)((i * 7919) % 23 - 11) / 64.0f;
    for (int64_t i = 0; i < rank * n_out; i++)
        b[i] = (float)((i * 104729) % 17 - 8) / 128.0f;
    keep[(*n_keep)++] = a;
    keep[(*n_keep)++] = b;
    const int64_t ne_a[2] = {n_in, rank}, ne_b[2] = {rank, n_out};
    snprintf(name, sizeof name, "%s.lora_a", base);
    if (type_a == LF_TYPE_F32) {
        lf_gguf_writer_add_tensor(w, name, LF_TYPE_F32, 2, ne_a, a, (size_t)(rank * n_in) * 4);
    } else {
        size_t rb = lf_row_size(type_a, n_in);
        uint8_t *q = malloc(rb * (size_t)rank);
        if (q && lf_quantize(type_a, a, q, rank, n_in) == rb * (size_t)rank) {
            *qkeep = q;
            lf_gguf_writer_add_tensor(w, name, type_a, 2, ne_a, q, rb * (size_t)rank);
        } else {
            free(q);
        }
    }
    snprintf(name, sizeof name, "%s.lora_b", base);
    lf_gguf_writer_add_tensor(w, name, LF_TYPE_F32, 2, ne_b, b, (size_t)(rank * n_out) * 4);
}

static void adapters(seeds *s, const char *models) {
    if (models) {
        char path[4096];
        snprintf(path, sizeof path, "%s/stories260K-lora-r4.gguf", models);
        size_t size;
        uint8_t *data = slurp(path, &size);
        if (data)
            put(s, "lora", "stories260K-lora-r4.gguf", data, size);
        free(data);
    }
    lf_model_params hp;
    lf_fuzz_lora_base_params(&hp);
    lf_error err = {0};
    if (lf_model_params_check(&hp, &err) < 0) {
        fail(s, "lora base", err.msg);
        return;
    }
    const int64_t E = hp.n_embd, nk = (int64_t)hp.n_head_kv * hp.head_dim;
    for (int variant = 0; variant < 2; variant++) {
        lf_gguf_writer *w = lf_gguf_writer_new();
        float *keep[32];
        int n_keep = 0;
        uint8_t *q = NULL;
        if (!w)
            return;
        lf_gguf_writer_set_str(w, "general.architecture", "llama");
        lf_gguf_writer_set_str(w, "general.type", "adapter");
        lf_gguf_writer_set_str(w, "adapter.type", "lora");
        lf_gguf_writer_set_f32(w, "adapter.lora.alpha", variant ? 16.0f : 8.0f);
        const int rank = variant ? 2 : 4;
        add_pair(w, "blk.0.attn_q.weight", E, E, rank, variant ? LF_TYPE_Q8_0 : LF_TYPE_F32,
                 keep, &n_keep, &q);
        add_pair(w, "blk.1.attn_v.weight", E, nk, rank, LF_TYPE_F32, keep, &n_keep, &q);
        if (!variant) {
            add_pair(w, "blk.4.ffn_up.weight", E, hp.n_ff, rank, LF_TYPE_F32, keep, &n_keep, &q);
            add_pair(w, "blk.2.ffn_down.weight", hp.n_ff, E, rank, LF_TYPE_F32, keep, &n_keep, &q);
        } else {
            add_pair(w, "output.weight", E, hp.n_vocab, rank, LF_TYPE_F32, keep, &n_keep, &q);
        }
        put_writer(s, "lora", variant ? "synthetic-q8.gguf" : "synthetic-f32.gguf", w);
        lf_gguf_writer_free(w);
        for (int i = 0; i < n_keep; i++)
            free(keep[i]);
        free(q);
    }
}

/* ---- vocabularies ------------------------------------------------------- */

static void vocabularies(seeds *s, const char *models) {
    if (models) {
        cut_down(s, models, "stories260K.gguf", "vocab", true);
        cut_down(s, models, "TinyStories-656K.f32.gguf", "vocab", true);
        cut_down(s, models, "kquant/kq-Q4_K_M.gguf", "vocab", true);
    }
    lf_error err = {0};
    lf_vocab *v = NULL;
    if (lf_vocab_synthetic(&v, 300, &err) == 0) {
        lf_gguf_writer *w = lf_gguf_writer_new();
        if (w && lf_vocab_write_gguf(v, w, &err) == 0)
            put_writer(s, "vocab", "synthetic-spm.gguf", w);
        lf_gguf_writer_free(w);
        lf_vocab_free(v);
    }
    for (int pre = 0; pre < LF_PRE_COUNT; pre++) {
        v = lf_fuzz_synth_bpe(pre);
        lf_gguf_writer *w = lf_gguf_writer_new();
        char name[64];
        snprintf(name, sizeof name, "synthetic-bpe-%s.gguf", lf_vocab_pre_name((lf_vocab_pre)pre));
        if (w && lf_vocab_write_gguf(v, w, &err) == 0)
            put_writer(s, "vocab", name, w);
        lf_gguf_writer_free(w);
        lf_vocab_free(v);
    }
}

/* ---- text ------------------------------------------------------------------ */

static void texts(seeds *s, const char *datasets) {
    static const char *const builtin[] = {
        "Once upon a time, there was a little girl named Lily. She loved to play outside.",
        "The cat sat on the mat. \"Hello!\" said Tom, and they were happy.\n\nThe end.",
        ("caf\xc3\xa9, na\xc3\xafve, \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e, \xf0\x9f\x98\x80, "
         "\xe2\x96\x81 and <|user|> <|endoftext|> 12 345 it's"),
        "   spaces\t\ttabs\r\nand \x01\x1b[2J control",
    };
    char name[64];
    int k = 0;
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++, k++) {
        char buf[512];
        size_t len = strlen(builtin[i]);
        buf[0] = (char)(k % 8 | (k % 2 ? 0x80 : 0));
        memcpy(buf + 1, builtin[i], len);
        snprintf(name, sizeof name, "builtin-%zu", i);
        put(s, "tokenize", name, buf, len + 1);
    }
    if (!datasets)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/tinystories_val.txt", datasets);
    size_t size;
    uint8_t *data = slurp(path, &size);
    if (!data)
        return;
    /* the first stories, a chunk each, through every vocabulary slot */
    size_t pos = 0;
    for (int i = 0; i < 12 && pos < size; i++, k++) {
        size_t len = size - pos < 400 ? size - pos : 400;
        char buf[401];
        buf[0] = (char)(k % 8 | (k % 3 ? 0 : 0x80));
        memcpy(buf + 1, data + pos, len);
        snprintf(name, sizeof name, "story-%d", i);
        put(s, "tokenize", name, buf, len + 1);
        pos += 997;
    }
    free(data);
}

/* ---- import: fixtures and an exported bundle ------------------------------ */

static void imports(seeds *s, const char *fixtures) {
    static const char *const files[] = {"cpu.json", "cpu.jsonl", "gpu.jsonl", "old-no-samples.json"};
    for (size_t i = 0; fixtures && i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/llama-bench/%s", fixtures, files[i]);
        size_t size;
        uint8_t *data = slurp(path, &size);
        if (data)
            put(s, "import", files[i], data, size);
        free(data);
    }
    lf_store *st = NULL;
    lf_error err = {0};
    if (lf_store_open(&st, ":memory:", 0, &err) < 0) {
        fail(s, "bundle", err.msg);
        return;
    }
    lf_run run;
    lf_store_run_init(&run);
    lf_strlcpy(run.device_id, "fuzz-device", sizeof run.device_id);
    lf_strlcpy(run.suite, "smoke", sizeof run.suite);
    lf_strlcpy(run.label, "<b>label</b>, \"quoted\"", sizeof run.label);
    lf_strlcpy(run.git_commit, "0123456789abcdef0123456789abcdef01234567", sizeof run.git_commit);
    lf_strlcpy(run.git_branch, "main", sizeof run.git_branch);
    lf_result r;
    lf_result_init(&r);
    r.kind = LF_TEST_TG;
    r.unit = LF_UNIT_TPS;
    lf_strlcpy(r.model, "<script>alert(1)</script>", sizeof r.model);
    lf_strlcpy(r.quant, "Q4_K_M", sizeof r.quant);
    lf_strlcpy(r.kv_type, "f16", sizeof r.kv_type);
    lf_strlcpy(r.backend, "cpu", sizeof r.backend);
    r.threads = 2;
    r.n_gen = 16;
    const double samples[5] = {101.5, 99.25, 100.0, 98.0, 102.75};
    lf_quality q;
    lf_quality_init(&q);
    lf_strlcpy(q.model, "stories260K", sizeof q.model);
    lf_strlcpy(q.variant, "Q4_0", sizeof q.variant);
    q.kld_mean = 0.0123;
    q.ppl = 7.5;
    q.n_tokens = 4096;
    q.ctx = 128;
    if (lf_store_device_put(st, "fuzz-device", "fuzz-2c-8g", "{\"schema\":\"localfit.device/1\"}",
                            &err) < 0 ||
        lf_store_run_begin(st, &run, &err) < 0 ||
        lf_store_result_add(st, run.id, &r, samples, 5, &err) < 0 ||
        lf_store_quality_add(st, run.id, &q, &err) < 0 ||
        lf_store_run_finish(st, run.id, LF_RUN_COMPLETE, &err) < 0) {
        fail(s, "bundle", err.msg);
        lf_store_close(st);
        return;
    }
    for (int with_fixtures = 0; with_fixtures < 2; with_fixtures++) {
        if (with_fixtures) {
            if (!fixtures)
                break;
            char path[4096];
            snprintf(path, sizeof path, "%s/llama-bench/cpu.jsonl", fixtures);
            lf_import_opts o = {.format = LF_IMPORT_AUTO};
            lf_import_stats st_i;
            if (lf_store_import_file(st, path, &o, &st_i, &err) < 0) {
                fail(s, "bundle", err.msg);
                break;
            }
        }
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
            break;
        int rc = lf_store_export_bundle(st, NULL, 0, f, &err);
        fclose(f);
        if (rc < 0)
            fail(s, "bundle", err.msg);
        else
            put(s, "import", with_fixtures ? "bundle-with-llama-bench.json" : "bundle.json", text, len);
        free(text);
    }
    lf_store_close(st);
}

/* ---- suite files -------------------------------------------------------- */

#ifndef LF_SOURCE_DIR
#define LF_SOURCE_DIR "."
#endif

static void suites(seeds *s) {
    static const char *const names[] = {"smoke", "quick", "default", "full", "perf"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[4096], name[64];
        snprintf(path, sizeof path, "%s/datasets/suites/%s.conf", LF_SOURCE_DIR, names[i]);
        size_t size;
        uint8_t *data = slurp(path, &size);
        snprintf(name, sizeof name, "%s.conf", names[i]);
        if (data)
            put(s, "suite", name, data, size);
        free(data);
    }
    static const char builtin[] =
        "1-64*2\n# every key once\nname = x\ndescription = <b>\x1b[1m</b>\n"
        "shape.s = llama layers=1 dim=32 heads=2 kv_heads=1 ff=64 vocab=64 ctx=64\n"
        "models = s\nquants = Q8_0\nadapters = none, r2x2:merged\nthreads = 1-2\n"
        "n_prompt = 8,16\nn_gen = 4\ndepth = 0\nkv = f16, q8_0\ntests = pp, tg\n"
        "reps = 1-2\ntarget_ci = 5%\nbudget = 0.01\nwarmup = 0\nseed = 3\nroofs = no\n"
        "pin = no\nlora_targets = attn_q\n[a]\nthreads = 1\n[b]\nn_gen = 1-8+3\n";
    put(s, "suite", "every-key.conf", builtin, sizeof builtin - 1);
}

int lf_fuzz_write_seeds(const char *outdir, const char *models, const char *datasets,
                        const char *fixtures) {
    seeds s = {.out = outdir};
    if (mkdir(outdir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "fuzz seeds: %s: %s\n", outdir, strerror(errno));
        return -1;
    }
    if (models) {
        static const char *const real[] = {
            "stories260K.gguf", "stories260K-Q8_0.gguf", "stories260K-Q4_1.gguf",
            "stories260K-Q5_0.gguf", "stories260K-IQ4_NL.gguf", "TinyStories-656K.f16.gguf",
            "kquant/kq-Q2_K.gguf", "kquant/kq-Q3_K_M.gguf", "kquant/kq-Q4_K_M.gguf",
            "kquant/kq-Q5_K_M.gguf", "kquant/kq-Q6_K.gguf", "kquant/kq-IQ4_XS.gguf",
        };
        for (size_t i = 0; i < sizeof real / sizeof real[0]; i++)
            cut_down(&s, models, real[i], "gguf", false);
    }
    every_type(&s);
    tiny_models(&s);
    adapters(&s, models);
    vocabularies(&s, models);
    texts(&s, datasets);
    imports(&s, fixtures);
    suites(&s);
    return s.failed ? -1 : s.n;
}
