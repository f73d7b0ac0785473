/*
 * Resource limits and size arithmetic from file headers:
 *  - GGUF headers whose counts, dimensions or offsets would overflow or
 *    misalign are refused with LF_EFORMAT (hand-built byte streams);
 *  - a model whose block count exceeds what the file holds is refused
 *    before the per-layer tables are allocated;
 *  - the memory budget (lf_model_opts.mem_budget): a model, a context, an
 *    adapter, an adapter set attached to a context and a merge that do not
 *    fit are refused with LF_ETOOBIG naming the sizes; they load when the
 *    budget allows; lf_ctx_estimate_bytes agrees with what contexts
 *    allocate for the KV cache;
 *  - the CLI (`localfit generate`, `localfit quality`) refuses under a
 *    small usable memory (a recorded sysroot with a tiny MemAvailable),
 *    with the sizes and the --force hint, and runs with --force.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli_run.h"
#include "tiny_model.h"
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];
static char g_model[300];   /* a tiny synthetic model saved as GGUF */
static size_t g_model_size;

static lf_model_params tiny_params(void) { return tiny_model_params("tiny-limits"); }

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/lf-hard-lim-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    lf_model_params hp = tiny_params();
    lf_model *m = NULL;
    lf_error err = {0};
    snprintf(g_model, sizeof g_model, "%s/tiny.gguf", g_dir);
    if (lf_model_synth(&m, &hp, LF_MIX_F32, 3, &err) < 0 || lf_model_save_gguf(m, g_model, &err) < 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    lf_model_free(m);
    struct stat st;
    stat(g_model, &st);
    g_model_size = (size_t)st.st_size;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rm_tree(g_dir);
    return 0;
}

/* ---- hand-built GGUF headers ------------------------------------------------ */

typedef struct gbuf {
    uint8_t b[4096];
    size_t n;
} gbuf;

static void put(gbuf *g, const void *p, size_t n) {
    assert_true(g->n + n <= sizeof g->b);
    memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void u32(gbuf *g, uint32_t v) { put(g, &v, 4); }
static void u64(gbuf *g, uint64_t v) { put(g, &v, 8); }
static void str(gbuf *g, const char *s) {
    u64(g, strlen(s));
    put(g, s, strlen(s));
}
static void header(gbuf *g, uint64_t n_tensors, uint64_t n_kv) {
    g->n = 0;
    put(g, "GGUF", 4);
    u32(g, 3);
    u64(g, n_tensors);
    u64(g, n_kv);
}
/* A tensor info: name, dims, type, offset. */
static void tinfo(gbuf *g, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type,
                  uint64_t off) {
    str(g, name);
    u32(g, nd);
    for (uint32_t i = 0; i < nd; i++)
        u64(g, ne[i]);
    u32(g, type);
    u64(g, off);
}
static void pad_to(gbuf *g, size_t align) {
    while (g->n % align)
        g->b[g->n++] = 0;
}

static int open_buf(gbuf *g, lf_error *err) {
    lf_gguf *h = NULL;
    /* an exact-size heap copy so a read past the end is caught */
    uint8_t *copy = malloc(g->n);
    memcpy(copy, g->b, g->n);
    int rc = lf_gguf_open_memory(&h, copy, g->n, err);
    lf_gguf_close(h);
    free(copy);
    return rc;
}

static void test_gguf_overflows(void **state) {
    (void)state;
    gbuf g;
    lf_error err;

    /* zero row length hides the overflow of the other dimensions from the
     * element count; the row count is still refused */
    header(&g, 1, 0);
    const uint64_t ne1[4] = {0, 1ull << 62, 4, 1};
    tinfo(&g, "t", 4, ne1, LF_TYPE_F32, 0);
    pad_to(&g, 32);
    memset(&err, 0, sizeof err);
    assert_int_equal(open_buf(&g, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "overflow"));

    /* the element count itself */
    header(&g, 1, 0);
    const uint64_t ne2[2] = {1ull << 40, 1ull << 40};
    tinfo(&g, "t", 2, ne2, LF_TYPE_F32, 0);
    pad_to(&g, 32);
    memset(&err, 0, sizeof err);
    assert_int_equal(open_buf(&g, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "overflow"));

    /* counts that cannot fit in the file: refused before allocating */
    header(&g, 1ull << 60, 0);
    memset(&err, 0, sizeof err);
    assert_int_equal(open_buf(&g, &err), LF_EFORMAT);
    header(&g, 0, 1ull << 61);
    memset(&err, 0, sizeof err);
    assert_int_equal(open_buf(&g, &err), LF_EFORMAT);

    /* a string length beyond the file */
    header(&g, 0, 1);
    u64(&g, UINT64_MAX - 3);
    memset(&err, 0, sizeof err);
    assert_int_equal(open_buf(&g, &err), LF_EFORMAT);

    /* an offset that wraps around */
    header(&g, 1, 0);
    const uint64_t ne3[1] = {32};
    tinfo(&g, "t", 1, ne3, LF_TYPE_F32, UINT64_MAX - 31);
    pad_to(&g, 32);
    memset(&err, 0, sizeof err);
    assert_int_equal(open_buf(&g, &err), LF_EFORMAT);

    /* general.alignment 1 lets F32 data sit at an odd address: refused; the
     * same tensor at a 4-byte aligned offset opens (the data section starts
     * right after the infos, the buffer is malloc-aligned) */
    for (int aligned = 0; aligned < 2; aligned++) {
        header(&g, 1, 1);
        str(&g, "general.alignment");
        u32(&g, LF_GGUF_UINT32);
        u32(&g, 1);
        const uint64_t ne4[1] = {4};
        tinfo(&g, "t", 1, ne4, LF_TYPE_F32, 0);
        const size_t data = g.n;
        uint64_t off = aligned ? (4 - data % 4) % 4 : (data % 4 == 3 ? 2 : 1);
        memcpy(g.b + data - 8, &off, 8);
        for (int i = 0; i < 20; i++)
            g.b[g.n++] = 0;
        memset(&err, 0, sizeof err);
        int rc = open_buf(&g, &err);
        if (aligned) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, LF_EFORMAT);
            assert_non_null(strstr(err.msg, "aligned"));
        }
    }
}

/* A llama header claiming two billion layers over a handful of tensors. */
static void test_block_count_lie(void **state) {
    (void)state;
    lf_gguf_writer *w = lf_gguf_writer_new();
    assert_non_null(w);
    lf_gguf_writer_set_str(w, "general.architecture", "llama");
    lf_gguf_writer_set_u32(w, "llama.block_count", 2000000000u);
    lf_gguf_writer_set_u32(w, "llama.embedding_length", 32);
    lf_gguf_writer_set_u32(w, "llama.feed_forward_length", 32);
    lf_gguf_writer_set_u32(w, "llama.attention.head_count", 1);
    static float emb[32 * 8], norm[32];
    const int64_t ne_e[2] = {32, 8}, ne_n[1] = {32};
    lf_gguf_writer_add_tensor(w, "token_embd.weight", LF_TYPE_F32, 2, ne_e, emb, sizeof emb);
    lf_gguf_writer_add_tensor(w, "output_norm.weight", LF_TYPE_F32, 1, ne_n, norm, sizeof norm);
    char path[300];
    snprintf(path, sizeof path, "%s/layers.gguf", g_dir);
    lf_error err = {0};
    assert_int_equal(lf_gguf_writer_write(w, path, &err), 0);
    lf_gguf_writer_free(w);
    lf_model *m = NULL;
    assert_int_equal(lf_model_load(&m, path, NULL, &err), LF_EFORMAT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "block_count = 2000000000"));
}

/* ---- the memory budget ------------------------------------------------------- */

static void test_budget_model(void **state) {
    (void)state;
    lf_model *m = NULL;
    lf_error err = {0};
    lf_model_opts o = {.mem_budget = g_model_size - 1};
    assert_int_equal(lf_model_load(&m, g_model, &o, &err), LF_ETOOBIG);
    assert_null(m);
    char need[32], have[32];
    snprintf(need, sizeof need, "%zu bytes", g_model_size);
    snprintf(have, sizeof have, "(%zu bytes)", g_model_size - 1);
    assert_non_null(strstr(err.msg, need));
    assert_non_null(strstr(err.msg, have));
    o.mem_budget = g_model_size;
    assert_int_equal(lf_model_load(&m, g_model, &o, &err), 0);
    assert_int_equal(lf_model_mem_budget(m), g_model_size);
    lf_model_free(m);
}

static void test_budget_context(void **state) {
    (void)state;
    lf_model *m = NULL;
    lf_error err = {0};
    assert_int_equal(lf_model_load(&m, g_model, NULL, &err), 0);
    const lf_model_params *hp = lf_model_hparams(m);
    /* the KV share, computed here from the shape: K and V, f16 */
    const int n_ctx = 200;
    const size_t kv_expect = (size_t)hp->n_layer * hp->n_head_kv * n_ctx * 2 * hp->head_dim * 2;
    size_t kv = 0, est = lf_ctx_estimate_bytes(m, n_ctx, LF_TYPE_F16, 1, &kv);
    assert_int_equal(kv, kv_expect);
    assert_true(est > kv);
    lf_ctx *c = NULL;
    assert_int_equal(lf_ctx_new(&c, m, n_ctx, LF_TYPE_F16, NULL, &err), 0);
    assert_int_equal(lf_ctx_kv_bytes(c), kv_expect);
    lf_ctx_free(c);

    /* the model fits, the context does not */
    const size_t model = lf_model_total_bytes(m);
    lf_model_set_mem_budget(m, model + est - 1);
    assert_int_equal(lf_ctx_new(&c, m, n_ctx, LF_TYPE_F16, NULL, &err), LF_ETOOBIG);
    assert_null(c);
    assert_non_null(strstr(err.msg, "context of 200 positions"));
    assert_non_null(strstr(err.msg, "KV cache"));
    lf_model_set_mem_budget(m, model + est);
    assert_int_equal(lf_ctx_new(&c, m, n_ctx, LF_TYPE_F16, NULL, &err), 0);

    /* adapters attached to that context: refused until the budget has room */
    const char *targets[] = {"attn_q", "ffn_up"};
    lf_lora *l = NULL;
    assert_int_equal(lf_lora_synth(&l, m, 8, targets, 2, 1, &err), 0);
    float scale = 1.0f;
    assert_int_equal(lf_ctx_set_adapters(c, &l, &scale, 1, &err), LF_ETOOBIG);
    assert_non_null(strstr(err.msg, "adapters"));
    lf_model_set_mem_budget(m, model + est + lf_lora_bytes(l));
    assert_int_equal(lf_ctx_set_adapters(c, &l, &scale, 1, &err), 0);

    /* merging: the merged tensors and a working copy must fit too */
    lf_model *merged = NULL;
    lf_model_set_mem_budget(m, model + 1024);
    assert_int_equal(lf_model_merge_lora(&merged, m, &l, &scale, 1, &err), LF_ETOOBIG);
    assert_null(merged);
    assert_non_null(strstr(err.msg, "merge"));
    lf_model_set_mem_budget(m, 0);
    assert_int_equal(lf_model_merge_lora(&merged, m, &l, &scale, 1, &err), 0);
    lf_model_free(merged);
    lf_ctx_free(c);
    lf_lora_free(l);
    lf_model_free(m);
}

/* An adapter file larger than what the budget leaves next to its base. */
static void test_budget_adapter(void **state) {
    (void)state;
    lf_model *m = NULL;
    lf_error err = {0};
    assert_int_equal(lf_model_load(&m, g_model, NULL, &err), 0);
    const lf_model_params *hp = lf_model_hparams(m);
    enum { R = 4 };
    float *a = calloc((size_t)R * hp->n_embd, sizeof *a), *b = calloc((size_t)R * hp->n_embd, sizeof *b);
    lf_gguf_writer *w = lf_gguf_writer_new();
    lf_gguf_writer_set_str(w, "general.architecture", "llama");
    lf_gguf_writer_set_str(w, "general.type", "adapter");
    lf_gguf_writer_set_str(w, "adapter.type", "lora");
    lf_gguf_writer_set_f32(w, "adapter.lora.alpha", 8);
    const int64_t ne_a[2] = {hp->n_embd, R}, ne_b[2] = {R, hp->n_embd};
    size_t bytes = (size_t)R * hp->n_embd * sizeof(float);
    lf_gguf_writer_add_tensor(w, "blk.0.attn_q.weight.lora_a", LF_TYPE_F32, 2, ne_a, a, bytes);
    lf_gguf_writer_add_tensor(w, "blk.0.attn_q.weight.lora_b", LF_TYPE_F32, 2, ne_b, b, bytes);
    char path[300];
    snprintf(path, sizeof path, "%s/adapter.gguf", g_dir);
    assert_int_equal(lf_gguf_writer_write(w, path, &err), 0);
    lf_gguf_writer_free(w);
    free(a);
    free(b);
    struct stat st;
    stat(path, &st);
    lf_lora *l = NULL;
    lf_model_set_mem_budget(m, lf_model_total_bytes(m) + (size_t)st.st_size - 1);
    assert_int_equal(lf_lora_load(&l, path, m, &err), LF_ETOOBIG);
    assert_null(l);
    assert_non_null(strstr(err.msg, "adapter"));
    lf_model_set_mem_budget(m, lf_model_total_bytes(m) + (size_t)st.st_size);
    assert_int_equal(lf_lora_load(&l, path, m, &err), 0);
    lf_lora_free(l);
    lf_model_free(m);
}

/* ---- the CLI under a small usable memory -------------------------------------- */

/* A sysroot whose only file is /proc/meminfo with MemAvailable kb. */
static void make_sysroot(char *env, size_t size, unsigned long kb) {
    char d[400], f[450];
    snprintf(d, sizeof d, "%s/root-%lu", g_dir, kb);
    mkdir(d, 0755);
    snprintf(f, sizeof f, "%s/proc", d);
    mkdir(f, 0755);
    snprintf(f, sizeof f, "%s/proc/meminfo", d);
    FILE *fp = fopen(f, "w");
    assert_non_null(fp);
    fprintf(fp, "MemTotal:       %lu kB\nMemFree:        %lu kB\nMemAvailable:   %lu kB\n",
            kb * 4, kb, kb);
    fclose(fp);
    snprintf(env, size, "LOCALFIT_SYSROOT=%s", d);
}

static void test_cli_budget(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    char env_small[512], env_mid[512];
    make_sysroot(env_small, sizeof env_small, (unsigned long)(g_model_size / 1024 / 2));
    make_sysroot(env_mid, sizeof env_mid, (unsigned long)(g_model_size / 1024 + 2048));
    const char *const small[] = {env_small, NULL}, *const mid[] = {env_mid, NULL};
    cli_out o;

    const char *const gen[] = {"generate", "-m", g_model, "-n", "2", "-t", "1", NULL};
    assert_int_equal(cli_run(&o, small, gen), 1);
    assert_non_null(strstr(o.err, "more than the usable memory"));
    char need[32];
    snprintf(need, sizeof need, "%zu bytes", g_model_size);
    assert_non_null(strstr(o.err, need));
    assert_non_null(strstr(o.err, "--force"));
    cli_out_free(&o);

    const char *const gen_force[] = {"generate", "-m", g_model, "-n", "2", "-t", "1", "--force", NULL};
    assert_int_equal(cli_run(&o, small, gen_force), 0);
    cli_out_free(&o);

    /* the model fits in 2 MiB more, a 100k-position context does not */
    const char *const gen_ctx[] = {"generate", "-m", g_model, "-n", "2", "-t", "1", "-c", "100000", NULL};
    assert_int_equal(cli_run(&o, mid, gen_ctx), 1);
    assert_non_null(strstr(o.err, "context of 100000 positions"));
    cli_out_free(&o);
    assert_int_equal(cli_run(&o, mid, gen), 0);
    cli_out_free(&o);

    const char *const qual[] = {"quality", "-m", g_model, "-q", "Q8_0", "--generated",
                                "--chunks", "1", "-c", "16", "-t", "1", NULL};
    assert_int_equal(cli_run(&o, small, qual), 1);
    assert_non_null(strstr(o.err, "more than the usable memory"));
    cli_out_free(&o);
    const char *const qual_force[] = {"quality", "-m", g_model, "-q", "Q8_0", "--generated",
                                      "--chunks", "1", "-c", "16", "-t", "1", "--force", NULL};
    assert_int_equal(cli_run(&o, small, qual_force), 0);
    cli_out_free(&o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_overflows),
        cmocka_unit_test(test_block_count_lie),
        cmocka_unit_test(test_budget_model),
        cmocka_unit_test(test_budget_context),
        cmocka_unit_test(test_budget_adapter),
        cmocka_unit_test(test_cli_budget),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
