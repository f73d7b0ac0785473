/*
 * Tests for the GGUF reader and writer and `localfit gguf`: a writer →
 * reader round trip of every metadata type and several tensor types, the
 * written file re-parsed by an independent minimal reader in this file;
 * nested arrays copied byte for byte; hand-built corrupt files (bad magic
 * and version, huge counts, bad offsets, overlapping or out-of-range data,
 * unknown types) and every truncation and thousands of random mutations of
 * valid files, all of which must fail cleanly with an offset in the message
 * (run under ASan to catch over-reads); every shared model file opened; and
 * the CLI's info/dump output checked against the library.
 */
#include "gguf/gguf_internal.h"
#include "gguf/gguf.h"
#include "test_util.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#ifdef LF_HAVE_CLI
#include <jansson.h>
#endif

/* ---- a byte builder (independent of the writer under test) ---------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void b_put(buf *b, const void *v, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, v, n);
    b->n += n;
}
static void b_u8(buf *b, uint8_t v) { b_put(b, &v, 1); }
static void b_u32(buf *b, uint32_t v) { b_put(b, &v, 4); }
static void b_u64(buf *b, uint64_t v) { b_put(b, &v, 8); }
static void b_str(buf *b, const char *s) {
    b_u64(b, strlen(s));
    b_put(b, s, strlen(s));
}
static void b_pad(buf *b, size_t align) {
    while (b->n % align)
        b_u8(b, 0);
}
static void patch_u32(buf *b, size_t off, uint32_t v) { memcpy(b->p + off, &v, 4); }
static void patch_u64(buf *b, size_t off, uint64_t v) { memcpy(b->p + off, &v, 8); }

/* Opens a private exact-size copy (so ASan sees any over-read); on success
 * *copy receives the buffer, which the caller frees after lf_gguf_close. */
static int open_copy(const uint8_t *p, size_t n, lf_gguf **g, lf_error *err, uint8_t **copy) {
    uint8_t *c = malloc(n ? n : 1);
    assert_non_null(c);
    if (n)
        memcpy(c, p, n);
    int rc = lf_gguf_open_memory(g, c, n, err);
    if (rc == 0)
        *copy = c;
    else
        free(c);
    return rc;
}

/* The hand-built base file and where its fields sit. */
typedef struct {
    size_t version, n_tensors, n_kv, key0_len, kv0_type, kv1_type, kv1_val, arr_type, arr_n,
        sarr_n, sarr_s0_len, key3, t0_ndims, t0_ne0, t0_ne1, t0_type, t0_off, t1_name,
        t1_ne0, t1_off, data;
} layout;

static buf build_base(layout *L) {
    buf b = {0};
    b_put(&b, "GGUF", 4);
    L->version = b.n;
    b_u32(&b, 3);
    L->n_tensors = b.n;
    b_u64(&b, 2);
    L->n_kv = b.n;
    b_u64(&b, 4);
    L->key0_len = b.n;
    b_str(&b, "general.architecture");
    L->kv0_type = b.n;
    b_u32(&b, LF_GGUF_STRING);
    b_str(&b, "llama");
    b_str(&b, "general.alignment");
    L->kv1_type = b.n;
    b_u32(&b, LF_GGUF_UINT32);
    L->kv1_val = b.n;
    b_u32(&b, 32);
    b_str(&b, "arr.u16");
    b_u32(&b, LF_GGUF_ARRAY);
    L->arr_type = b.n;
    b_u32(&b, LF_GGUF_UINT16);
    L->arr_n = b.n;
    b_u64(&b, 3);
    for (uint16_t v = 1; v <= 3; v++)
        b_put(&b, &v, 2);
    L->key3 = b.n;
    b_str(&b, "arr.str");
    b_u32(&b, LF_GGUF_ARRAY);
    b_u32(&b, LF_GGUF_STRING);
    L->sarr_n = b.n;
    b_u64(&b, 2);
    L->sarr_s0_len = b.n;
    b_str(&b, "a");
    b_str(&b, "bc");
    /* tensor a: Q8_0 [32, 2] at 0 (68 bytes); tensor b: F32 [8] at 96 */
    b_str(&b, "a");
    L->t0_ndims = b.n;
    b_u32(&b, 2);
    L->t0_ne0 = b.n;
    b_u64(&b, 32);
    L->t0_ne1 = b.n;
    b_u64(&b, 2);
    L->t0_type = b.n;
    b_u32(&b, LF_TYPE_Q8_0);
    L->t0_off = b.n;
    b_u64(&b, 0);
    L->t1_name = b.n;
    b_str(&b, "b");
    b_u32(&b, 1);
    L->t1_ne0 = b.n;
    b_u64(&b, 8);
    b_u32(&b, LF_TYPE_F32);
    L->t1_off = b.n;
    b_u64(&b, 96);
    b_pad(&b, 32);
    L->data = b.n;
    for (int i = 0; i < 2; i++) {            /* two Q8_0 blocks: d = 1, q = i */
        lf_half d = lf_float_to_half(1.0f);
        b_put(&b, &d, 2);
        for (int j = 0; j < 32; j++)
            b_u8(&b, (uint8_t)(j - 16));
    }
    b_pad(&b, 32);
    for (int i = 0; i < 8; i++) {
        float f = (float)i * 0.5f;
        b_put(&b, &f, 4);
    }
    return b;
}

static void test_base_file_reads(void **state) {
    (void)state;
    layout L;
    buf b = build_base(&L);
    lf_gguf *g;
    lf_error err = {0};
    assert_int_equal(lf_gguf_open_memory(&g, b.p, b.n, &err), 0);
    assert_int_equal(lf_gguf_version(g), 3);
    assert_int_equal(lf_gguf_alignment(g), 32);
    assert_int_equal(lf_gguf_data_offset(g), L.data);
    assert_string_equal(lf_gguf_path(g), "");
    char s[16];
    assert_int_equal(lf_gguf_get_str(g, "general.architecture", s, sizeof s), 0);
    assert_string_equal(s, "llama");
    const lf_gguf_kv *kv = lf_gguf_find_kv(g, "arr.u16");
    assert_non_null(kv);
    assert_int_equal(kv->arr_type, LF_GGUF_UINT16);
    assert_int_equal(kv->arr_n, 3);
    assert_true(lf_gguf_arr_num(kv, 2) == 3.0);
    assert_true(lf_gguf_arr_num(kv, 3) == 0.0);    /* out of range */
    kv = lf_gguf_find_kv(g, "arr.str");
    lf_gguf_str str = lf_gguf_arr_str(kv, 1);
    assert_int_equal(str.len, 2);
    assert_memory_equal(str.ptr, "bc", 2);
    assert_null(lf_gguf_arr_str(kv, 2).ptr);
    const lf_gguf_tensor *t = lf_gguf_find_tensor(g, "a");
    assert_non_null(t);
    assert_int_equal(t->nbytes, 68);
    assert_ptr_equal(t->data, b.p + L.data);
    float y[64];
    lf_dequantize(t->type, t->data, y, 2, 32);
    assert_true(y[0] == -16.0f && y[63] == 15.0f);
    t = lf_gguf_find_tensor(g, "b");
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->ne[1], 1);
    assert_true(((const float *)t->data)[7] == 3.5f);
    assert_null(lf_gguf_find_tensor(g, "c"));
    assert_null(lf_gguf_tensor_at(g, 2));
    assert_null(lf_gguf_kv_at(g, -1));
    lf_gguf_close(g);
    free(b.p);
}

/* ---- corrupt files ------------------------------------------------------- */

typedef void (*corrupt_fn)(buf *b, const layout *L);

static void expect_fail(const buf *b, int code, const char *what) {
    lf_gguf *g = NULL;
    lf_error err = {0};
    uint8_t *copy = NULL;
    int rc = open_copy(b->p, b->n, &g, &err, &copy);
    if (rc != code)
        print_message("%s: got %d (%s), want %d\n", what, rc, err.msg, code);
    assert_int_equal(rc, code);
    assert_null(g);
    assert_non_null(strstr(err.msg, "offset "));
}

#define CORRUPT(name, body)                                          \
    static void name(buf *b, const layout *L) {                      \
        (void)L;                                                     \
        body;                                                        \
    }
CORRUPT(c_magic, b->p[3] = 'X')
CORRUPT(c_v1, patch_u32(b, L->version, 1))
CORRUPT(c_v0, patch_u32(b, L->version, 0))
CORRUPT(c_v4, patch_u32(b, L->version, 4))
CORRUPT(c_big_endian, patch_u32(b, L->version, 0x03000000))
CORRUPT(c_nkv_huge, patch_u64(b, L->n_kv, 1ull << 62))
CORRUPT(c_nkv_one_more, patch_u64(b, L->n_kv, 5))
CORRUPT(c_nt_huge, patch_u64(b, L->n_tensors, UINT64_MAX))
CORRUPT(c_nt_one_more, patch_u64(b, L->n_tensors, 3))
CORRUPT(c_key_len, patch_u64(b, L->key0_len, 1ull << 40))
CORRUPT(c_key_len_max, patch_u64(b, L->key0_len, UINT64_MAX))
CORRUPT(c_vtype, patch_u32(b, L->kv0_type, 13))
CORRUPT(c_arr_type, patch_u32(b, L->arr_type, 99))
CORRUPT(c_arr_n, patch_u64(b, L->arr_n, 1ull << 61))
CORRUPT(c_arr_n_wrap, patch_u64(b, L->arr_n, 1ull << 63))
CORRUPT(c_sarr_n, patch_u64(b, L->sarr_n, UINT64_MAX / 2))
CORRUPT(c_sarr_len, patch_u64(b, L->sarr_s0_len, UINT64_MAX - 3))
CORRUPT(c_align_type, patch_u32(b, L->kv1_type, LF_GGUF_INT32))
CORRUPT(c_align_33, patch_u32(b, L->kv1_val, 33))
CORRUPT(c_align_0, patch_u32(b, L->kv1_val, 0))
CORRUPT(c_ndims_0, patch_u32(b, L->t0_ndims, 0))
CORRUPT(c_ndims_5, patch_u32(b, L->t0_ndims, 5))
CORRUPT(c_ne_neg, patch_u64(b, L->t0_ne0, 1ull << 63))
CORRUPT(c_ne_overflow, { patch_u64(b, L->t0_ne0, 1ull << 40); patch_u64(b, L->t0_ne1, 1ull << 40); })
CORRUPT(c_ne_block, patch_u64(b, L->t0_ne0, 33))
CORRUPT(c_ne_big, patch_u64(b, L->t0_ne1, 1000))
CORRUPT(c_row_bytes_wrap, patch_u64(b, L->t1_ne0, 1ull << 62))   /* 4 · 2^62 bytes wraps */
CORRUPT(c_type_unsupported, patch_u32(b, L->t0_type, LF_TYPE_IQ2_XXS))
CORRUPT(c_type_unknown, patch_u32(b, L->t0_type, 1000))
CORRUPT(c_off_unaligned, patch_u64(b, L->t1_off, 95))
CORRUPT(c_off_huge, patch_u64(b, L->t1_off, UINT64_MAX - 31))
CORRUPT(c_off_past_end, patch_u64(b, L->t1_off, 4096))
CORRUPT(c_overlap, patch_u64(b, L->t1_off, 64))
CORRUPT(c_dup_key, memcpy(b->p + L->key3 + 8, "arr.u16", 7))
CORRUPT(c_dup_tensor, b->p[L->t1_name + 8] = 'a')
CORRUPT(c_nul_key, b->p[L->key0_len + 10] = 0)

static void test_corrupt_files(void **state) {
    (void)state;
    static const struct {
        corrupt_fn fn;
        int code;
        const char *what;
    } cases[] = {
        {c_magic, LF_EFORMAT, "bad magic"},
        {c_v1, LF_EUNSUPP, "version 1"},
        {c_v0, LF_EFORMAT, "version 0"},
        {c_v4, LF_EUNSUPP, "version 4"},
        {c_big_endian, LF_EUNSUPP, "big-endian"},
        {c_nkv_huge, LF_EFORMAT, "huge kv count"},
        {c_nkv_one_more, LF_EFORMAT, "kv count one too many"},
        {c_nt_huge, LF_EFORMAT, "huge tensor count"},
        {c_nt_one_more, LF_EFORMAT, "tensor count one too many"},
        {c_key_len, LF_EFORMAT, "huge key length"},
        {c_key_len_max, LF_EFORMAT, "max key length"},
        {c_vtype, LF_EFORMAT, "unknown value type"},
        {c_arr_type, LF_EFORMAT, "unknown array type"},
        {c_arr_n, LF_EFORMAT, "huge array count"},
        {c_arr_n_wrap, LF_EFORMAT, "array count whose byte size wraps"},
        {c_sarr_n, LF_EFORMAT, "huge string array count"},
        {c_sarr_len, LF_EFORMAT, "huge string length in array"},
        {c_align_type, LF_EFORMAT, "alignment not u32"},
        {c_align_33, LF_EFORMAT, "alignment not a power of two"},
        {c_align_0, LF_EFORMAT, "alignment zero"},
        {c_ndims_0, LF_EFORMAT, "0 dims"},
        {c_ndims_5, LF_EFORMAT, "5 dims"},
        {c_ne_neg, LF_EFORMAT, "negative dim"},
        {c_ne_overflow, LF_EFORMAT, "element count overflow"},
        {c_ne_block, LF_EFORMAT, "row not a block multiple"},
        {c_ne_big, LF_EFORMAT, "tensor larger than the file"},
        {c_row_bytes_wrap, LF_EFORMAT, "row byte size wraps to 0"},
        {c_type_unsupported, LF_EUNSUPP, "unsupported type"},
        {c_type_unknown, LF_EFORMAT, "unknown type"},
        {c_off_unaligned, LF_EFORMAT, "unaligned offset"},
        {c_off_huge, LF_EFORMAT, "offset overflow"},
        {c_off_past_end, LF_EFORMAT, "offset past the end"},
        {c_overlap, LF_EFORMAT, "overlapping tensors"},
        {c_dup_key, LF_EFORMAT, "duplicate key"},
        {c_dup_tensor, LF_EFORMAT, "duplicate tensor"},
        {c_nul_key, LF_EFORMAT, "NUL in key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        layout L;
        buf b = build_base(&L);
        cases[i].fn(&b, &L);
        expect_fail(&b, cases[i].code, cases[i].what);
        free(b.p);
    }
    /* The message names what is wrong in the user's terms. */
    layout L;
    buf u = build_base(&L);
    c_type_unsupported(&u, &L);
    lf_gguf *g = NULL;
    lf_error err = {0};
    assert_int_equal(lf_gguf_open_memory(&g, u.p, u.n, &err), LF_EUNSUPP);
    assert_non_null(strstr(err.msg, "iq2_xxs"));
    assert_non_null(strstr(err.msg, "'a'"));
    free(u.p);
    /* Empty and tiny inputs. */
    buf e = {0};
    b_put(&e, "GGU", 3);
    expect_fail(&e, LF_EFORMAT, "3 bytes");
    e.n = 0;
    expect_fail(&e, LF_EFORMAT, "empty");
    free(e.p);
}

/* Nested arrays: [[u8 ×3], [str ×2], [[i32 ×2]]], then one nested too deep. */
static buf build_nested(int depth) {
    buf b = {0};
    b_put(&b, "GGUF", 4);
    b_u32(&b, 2);                            /* version 2 parses like 3 */
    b_u64(&b, 0);
    b_u64(&b, 2);
    b_str(&b, "nested");
    b_u32(&b, LF_GGUF_ARRAY);
    b_u32(&b, LF_GGUF_ARRAY);
    b_u64(&b, 3);
    b_u32(&b, LF_GGUF_UINT8);
    b_u64(&b, 3);
    b_u8(&b, 1), b_u8(&b, 2), b_u8(&b, 3);
    b_u32(&b, LF_GGUF_STRING);
    b_u64(&b, 2);
    b_str(&b, "x");
    b_str(&b, "yz");
    b_u32(&b, LF_GGUF_ARRAY);
    b_u64(&b, 1);
    b_u32(&b, LF_GGUF_INT32);
    b_u64(&b, 2);
    b_u32(&b, 7), b_u32(&b, 8);
    b_str(&b, "deep");
    b_u32(&b, LF_GGUF_ARRAY);
    for (int d = 0; d < depth; d++) {
        b_u32(&b, LF_GGUF_ARRAY);
        b_u64(&b, 1);
    }
    b_u32(&b, LF_GGUF_BOOL);
    b_u64(&b, 1);
    b_u8(&b, 1);
    return b;
}

static void test_nested_arrays(void **state) {
    (void)state;
    buf b = build_nested(10);
    lf_gguf *g;
    lf_error err = {0};
    assert_int_equal(lf_gguf_open_memory(&g, b.p, b.n, &err), 0);
    assert_int_equal(lf_gguf_version(g), 2);
    const lf_gguf_kv *kv = lf_gguf_find_kv(g, "nested");
    assert_int_equal(kv->type, LF_GGUF_ARRAY);
    assert_int_equal(kv->arr_type, LF_GGUF_ARRAY);
    assert_int_equal(kv->arr_n, 3);
    assert_true(lf_gguf_arr_num(kv, 0) == 0.0);          /* not numeric */
    assert_null(lf_gguf_arr_str(kv, 0).ptr);

    /* Copy both keys through the writer and compare the value bytes. */
    char dir[] = "/tmp/lf-gguf-nested-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/n.gguf", dir);
    lf_gguf_writer *w = lf_gguf_writer_new();
    for (int64_t i = 0; i < lf_gguf_n_kv(g); i++)
        assert_int_equal(lf_gguf_writer_copy_kv(w, lf_gguf_kv_at(g, i)), 0);
    assert_int_equal(lf_gguf_writer_write(w, path, &err), 0);
    lf_gguf_writer_free(w);
    lf_gguf *h;
    assert_int_equal(lf_gguf_open(&h, path, &err), 0);
    assert_int_equal(lf_gguf_n_kv(h), 2);
    for (int64_t i = 0; i < 2; i++) {
        const lf_gguf_kv *a = lf_gguf_kv_at(g, i), *c = lf_gguf_kv_at(h, i);
        assert_string_equal(a->key, c->key);
        size_t na, nc;
        const void *ra = lf_gguf_kv_raw(a, &na), *rc = lf_gguf_kv_raw(c, &nc);
        assert_int_equal(na, nc);
        assert_memory_equal(ra, rc, na);
    }
    lf_gguf_close(h);
    lf_gguf_close(g);
    unlink(path);
    rmdir(dir);
    free(b.p);

    /* Deeper than the reader's limit: refused, not a stack overflow. */
    b = build_nested(100000);
    expect_fail(&b, LF_EFORMAT, "nesting too deep");
    free(b.p);
}

/* ---- writer round trip --------------------------------------------------- */

typedef struct {
    const char *name;
    lf_type type;
    uint32_t n_dims;
    int64_t ne[4];
} tspec;

static const tspec rt_tensors[] = {
    {"t.f32", LF_TYPE_F32, 2, {5, 3, 1, 1}},
    {"t.f16", LF_TYPE_F16, 1, {7, 1, 1, 1}},
    {"t.bf16.4d", LF_TYPE_BF16, 4, {2, 3, 4, 5}},
    {"t.q4_0", LF_TYPE_Q4_0, 2, {64, 3, 1, 1}},
    {"t.q4_k", LF_TYPE_Q4_K, 2, {256, 2, 1, 1}},
    {"t.q8_0.3d", LF_TYPE_Q8_0, 3, {32, 1, 2, 1}},
    {"t.iq4_xs", LF_TYPE_IQ4_XS, 1, {256, 1, 1, 1}},
    {"t.q2_k", LF_TYPE_Q2_K, 2, {256, 3, 1, 1}},
    {"t.q5_1", LF_TYPE_Q5_1, 2, {32, 5, 1, 1}},
};
#define N_RT (sizeof rt_tensors / sizeof rt_tensors[0])

static int64_t spec_nelem(const tspec *s) { return s->ne[0] * s->ne[1] * s->ne[2] * s->ne[3]; }

/* Quantized random data for each spec (caller frees). */
static void *make_tensor_data(const tspec *s, uint64_t seed, size_t *nbytes) {
    int64_t n = spec_nelem(s), rows = n / s->ne[0];
    float *x = malloc(n * sizeof *x);
    trng r = {seed};
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)trng_gauss(&r);
    *nbytes = lf_row_size(s->type, s->ne[0]) * rows;
    void *q = malloc(*nbytes);
    assert_int_equal(lf_quantize(s->type, x, q, rows, s->ne[0]), *nbytes);
    free(x);
    return q;
}

static const char *const rt_strs[] = {"", "hello", "üñí©ødé ✓", "tab\there"};

/* Writes the round-trip file: every scalar type, strings, arrays of each
 * element type, a string array, a replaced key, alignment 64. */
static void write_rt_file(const char *path, void **data) {
    lf_gguf_writer *w = lf_gguf_writer_new();
    assert_non_null(w);
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    int64_t i64 = -(1ll << 60);
    double f64 = 3.141592653589793;
    assert_int_equal(lf_gguf_writer_set_u32(w, "k.replaced", 1), 0);
    assert_int_equal(lf_gguf_writer_set_str(w, "general.architecture", "testarch"), 0);
    assert_int_equal(lf_gguf_writer_set_u32(w, "general.alignment", 64), 0);
    assert_int_equal(lf_gguf_writer_set_scalar(w, "k.u8", LF_GGUF_UINT8, &u8), 0);
    assert_int_equal(lf_gguf_writer_set_scalar(w, "k.i8", LF_GGUF_INT8, &i8), 0);
    assert_int_equal(lf_gguf_writer_set_scalar(w, "k.u16", LF_GGUF_UINT16, &u16), 0);
    assert_int_equal(lf_gguf_writer_set_scalar(w, "k.i16", LF_GGUF_INT16, &i16), 0);
    assert_int_equal(lf_gguf_writer_set_u32(w, "k.u32", 4000000000u), 0);
    assert_int_equal(lf_gguf_writer_set_i32(w, "k.i32", -2000000000), 0);
    assert_int_equal(lf_gguf_writer_set_f32(w, "k.f32", 0.1f), 0);
    assert_int_equal(lf_gguf_writer_set_bool(w, "k.bool", true), 0);
    assert_int_equal(lf_gguf_writer_set_u64(w, "k.u64", UINT64_MAX), 0);
    assert_int_equal(lf_gguf_writer_set_scalar(w, "k.i64", LF_GGUF_INT64, &i64), 0);
    assert_int_equal(lf_gguf_writer_set_scalar(w, "k.f64", LF_GGUF_FLOAT64, &f64), 0);
    assert_int_equal(lf_gguf_writer_set_str(w, "k.str.empty", ""), 0);
    assert_int_equal(lf_gguf_writer_set_str(w, "k.str.utf8", rt_strs[2]), 0);
    static const uint8_t a_u8[] = {1, 2, 255};
    static const int8_t a_i8[] = {-1, 0, 127};
    static const uint16_t a_u16[] = {65535, 0};
    static const int16_t a_i16[] = {-32768, 32767};
    static const uint32_t a_u32[] = {1, 2, 3, 4000000000u};
    static const int32_t a_i32[] = {-5, 5};
    static const float a_f32[] = {1.5f, -2.25f, 1e30f};
    static const bool a_bool[] = {true, false, true};
    static const uint64_t a_u64[] = {UINT64_MAX, 0};
    static const int64_t a_i64[] = {INT64_MIN, INT64_MAX};
    static const double a_f64[] = {1e-300, -0.5};
    assert_int_equal(lf_gguf_writer_set_arr(w, "a.u8", LF_GGUF_UINT8, a_u8, 3), 0);
    assert_int_equal(lf_gguf_writer_set_arr(w, "a.i8", LF_GGUF_INT8, a_i8, 3), 0);
    assert_int_equal(lf_gguf_writer_set_arr(w, "a.u16", LF_GGUF_UINT16, a_u16, 2), 0);
    assert_int_equal(lf_gguf_writer_set_arr(w, "a.i16", LF_GGUF_INT16, a_i16, 2), 0);
    assert_int_equal(lf_gguf_writer_set_arr(w, "a.u32", LF_GGUF_UINT32, a_u32, 4), 0);
    assert_int_equal(lf_gguf_writer_set_arr(w, "a.i32", LF_GGUF_INT32, a_i32, 2), 0);
    assert_int_equal(lf_gguf_writer_set_arr(w, "a.f32", LF_GGUF_FLOAT32, a_f32, 3), 0);
    assert_int_equal(lf_gguf_writer_set_arr(w, "a.bool", LF_GGUF_BOOL, a_bool, 3), 0);
    assert_int_equal(lf_gguf_writer_set_arr(w, "a.u64", LF_GGUF_UINT64, a_u64, 2), 0);
    assert_int_equal(lf_gguf_writer_set_arr(w, "a.i64", LF_GGUF_INT64, a_i64, 2), 0);
    assert_int_equal(lf_gguf_writer_set_arr(w, "a.f64", LF_GGUF_FLOAT64, a_f64, 2), 0);
    assert_int_equal(lf_gguf_writer_set_arr(w, "a.empty", LF_GGUF_UINT32, NULL, 0), 0);
    assert_int_equal(lf_gguf_writer_set_arr_str(w, "a.str", rt_strs, 4), 0);
    assert_int_equal(lf_gguf_writer_set_u32(w, "k.replaced", 2), 0);   /* keeps position 0 */
    /* invalid calls */
    assert_int_equal(lf_gguf_writer_set_arr(w, "bad", LF_GGUF_STRING, a_u8, 1), LF_EINVAL);
    assert_int_equal(lf_gguf_writer_set_arr(w, "bad", LF_GGUF_ARRAY, a_u8, 1), LF_EINVAL);
    assert_int_equal(lf_gguf_writer_set_scalar(w, "bad", LF_GGUF_STRING, "x"), LF_EINVAL);
    assert_int_equal(lf_gguf_writer_set_u32(w, "", 1), LF_EINVAL);
    for (size_t i = 0; i < N_RT; i++) {
        size_t nbytes;
        data[i] = make_tensor_data(&rt_tensors[i], 100 + i, &nbytes);
        assert_int_equal(lf_gguf_writer_add_tensor(w, rt_tensors[i].name, rt_tensors[i].type,
                                                   rt_tensors[i].n_dims, rt_tensors[i].ne, data[i],
                                                   nbytes),
                         0);
    }
    int64_t ne[2] = {64, 3};
    assert_int_equal(lf_gguf_writer_add_tensor(w, "t.f32", LF_TYPE_F32, 1, ne, data[0], 256), LF_EINVAL);
    assert_int_equal(lf_gguf_writer_add_tensor(w, "t.bad", LF_TYPE_Q4_K, 2, ne, data[0], 0), LF_EINVAL);
    assert_int_equal(lf_gguf_writer_add_tensor(w, "t.bad", LF_TYPE_Q4_0, 2, ne, data[0], 100), LF_EINVAL);
    assert_int_equal(lf_gguf_writer_add_tensor(w, "t.bad", LF_TYPE_IQ2_XXS, 2, ne, data[0], 0), LF_EINVAL);
    char longname[80];
    memset(longname, 'x', 70);
    longname[70] = 0;
    assert_int_equal(lf_gguf_writer_add_tensor(w, longname, LF_TYPE_F32, 1, ne, data[0], 256), LF_EINVAL);
    lf_error err = {0};
    assert_int_equal(lf_gguf_writer_write(w, path, &err), 0);
    lf_gguf_writer_free(w);
}

static const char *const rt_keys[] = {
    "k.replaced", "general.architecture", "general.alignment", "k.u8", "k.i8", "k.u16",
    "k.i16", "k.u32", "k.i32", "k.f32", "k.bool", "k.u64", "k.i64", "k.f64", "k.str.empty",
    "k.str.utf8", "a.u8", "a.i8", "a.u16", "a.i16", "a.u32", "a.i32", "a.f32", "a.bool",
    "a.u64", "a.i64", "a.f64", "a.empty", "a.str",
};
#define N_RT_KEYS (sizeof rt_keys / sizeof rt_keys[0])

/* An independent minimal GGUF walk of the written bytes: checks the header
 * layout, key order, tensor infos and that the data section and every
 * tensor start on a multiple of align and the file ends after the last one. */
static void independent_parse(const uint8_t *p, size_t n, size_t align) {
    size_t pos = 0;
#define TAKE(dst, k) do { assert_true(pos + (k) <= n); memcpy((dst), p + pos, (k)); pos += (k); } while (0)
    char magic[4];
    uint32_t version;
    uint64_t nt, nkv;
    TAKE(magic, 4);
    assert_memory_equal(magic, "GGUF", 4);
    TAKE(&version, 4);
    assert_int_equal(version, 3);
    TAKE(&nt, 8);
    TAKE(&nkv, 8);
    assert_int_equal(nt, N_RT);
    assert_int_equal(nkv, N_RT_KEYS);
    static const size_t sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    for (uint64_t i = 0; i < nkv; i++) {
        uint64_t len;
        uint32_t type;
        TAKE(&len, 8);
        assert_int_equal(len, strlen(rt_keys[i]));
        assert_true(pos + len <= n);
        assert_memory_equal(p + pos, rt_keys[i], len);
        pos += len;
        TAKE(&type, 4);
        assert_true(type <= 12);
        if (type == 8) {
            TAKE(&len, 8);
            pos += len;
        } else if (type == 9) {
            uint32_t et;
            uint64_t cnt;
            TAKE(&et, 4);
            TAKE(&cnt, 8);
            for (uint64_t k = 0; k < cnt; k++) {
                if (et == 8) {
                    TAKE(&len, 8);
                    pos += len;
                } else {
                    pos += sz[et];
                }
            }
        } else {
            pos += sz[type];
        }
    }
    uint64_t expect_off = 0;
    for (uint64_t i = 0; i < nt; i++) {
        uint64_t len, ne, off;
        uint32_t nd, type;
        TAKE(&len, 8);
        assert_memory_equal(p + pos, rt_tensors[i].name, len);
        pos += len;
        TAKE(&nd, 4);
        assert_int_equal(nd, rt_tensors[i].n_dims);
        for (uint32_t d = 0; d < nd; d++) {
            TAKE(&ne, 8);
            assert_int_equal(ne, rt_tensors[i].ne[d]);
        }
        TAKE(&type, 4);
        assert_int_equal(type, rt_tensors[i].type);
        TAKE(&off, 8);
        assert_int_equal(off, expect_off);
        assert_int_equal(off % align, 0);
        size_t nb = lf_row_size(rt_tensors[i].type, rt_tensors[i].ne[0]) *
                    (size_t)(spec_nelem(&rt_tensors[i]) / rt_tensors[i].ne[0]);
        expect_off = (off + nb + align - 1) / align * align;
    }
    size_t data = (pos + align - 1) / align * align;
    for (size_t k = pos; k < data; k++)
        assert_int_equal(p[k], 0);
    assert_int_equal(n, data + expect_off);
#undef TAKE
}

/* The scalar keys of the round-trip file, typed getters and their
 * conversion rules. */
static void check_rt_scalars(const lf_gguf *g) {
    uint64_t u;
    int64_t i64;
    double f;
    bool b;
    char s[64];
    assert_int_equal(lf_gguf_get_u64(g, "k.replaced", &u), 0);
    assert_int_equal(u, 2);
    assert_int_equal(lf_gguf_get_u64(g, "k.u8", &u), 0);
    assert_int_equal(u, 200);
    assert_int_equal(lf_gguf_get_i64(g, "k.i8", &i64), 0);
    assert_int_equal(i64, -100);
    assert_int_equal(lf_gguf_get_u64(g, "k.u16", &u), 0);
    assert_int_equal(u, 60000);
    assert_int_equal(lf_gguf_get_i64(g, "k.i16", &i64), 0);
    assert_int_equal(i64, -30000);
    assert_int_equal(lf_gguf_get_u64(g, "k.u32", &u), 0);
    assert_int_equal(u, 4000000000u);
    assert_int_equal(lf_gguf_get_i64(g, "k.i32", &i64), 0);
    assert_int_equal(i64, -2000000000);
    assert_int_equal(lf_gguf_get_f64(g, "k.f32", &f), 0);
    assert_true(f == (double)0.1f);
    assert_int_equal(lf_gguf_get_bool(g, "k.bool", &b), 0);
    assert_true(b);
    assert_int_equal(lf_gguf_get_u64(g, "k.u64", &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(lf_gguf_get_i64(g, "k.i64", &i64), 0);
    assert_true(i64 == -(1ll << 60));
    assert_int_equal(lf_gguf_get_f64(g, "k.f64", &f), 0);
    assert_true(f == 3.141592653589793);
    assert_int_equal(lf_gguf_get_str(g, "k.str.empty", s, sizeof s), 0);
    assert_string_equal(s, "");
    assert_int_equal(lf_gguf_get_str(g, "k.str.utf8", s, sizeof s), 0);
    assert_string_equal(s, rt_strs[2]);
    assert_int_equal(lf_gguf_get_str(g, "k.str.utf8", s, 4), 0);   /* truncated */
    assert_int_equal(strlen(s), 3);
    /* conversion rules */
    assert_int_equal(lf_gguf_get_u64(g, "k.i8", &u), LF_EFORMAT);    /* negative */
    assert_int_equal(lf_gguf_get_i64(g, "k.u64", &i64), LF_EFORMAT); /* > INT64_MAX */
    assert_int_equal(lf_gguf_get_f64(g, "k.u32", &f), 0);
    assert_true(f == 4e9);
    assert_int_equal(lf_gguf_get_f64(g, "k.str.empty", &f), LF_EFORMAT);
    assert_int_equal(lf_gguf_get_bool(g, "k.u8", &b), LF_EFORMAT);
    assert_int_equal(lf_gguf_get_str(g, "k.u8", s, sizeof s), LF_EFORMAT);
    assert_int_equal(lf_gguf_get_u64(g, "no.such.key", &u), LF_ENOTFOUND);
    assert_int_equal(lf_gguf_get_str(g, "no.such.key", s, sizeof s), LF_ENOTFOUND);

}

/* The array keys: element type, count, first and last values. */
static void check_rt_arrays(const lf_gguf *g) {
    static const struct { const char *k; lf_gguf_vtype t; uint64_t n; double v0, vlast; } arrs[] = {
        {"a.u8", LF_GGUF_UINT8, 3, 1, 255},        {"a.i8", LF_GGUF_INT8, 3, -1, 127},
        {"a.u16", LF_GGUF_UINT16, 2, 65535, 0},    {"a.i16", LF_GGUF_INT16, 2, -32768, 32767},
        {"a.u32", LF_GGUF_UINT32, 4, 1, 4e9},      {"a.i32", LF_GGUF_INT32, 2, -5, 5},
        {"a.f32", LF_GGUF_FLOAT32, 3, 1.5, (double)1e30f}, {"a.bool", LF_GGUF_BOOL, 3, 1, 1},
        {"a.u64", LF_GGUF_UINT64, 2, 18446744073709551615.0, 0},
        {"a.i64", LF_GGUF_INT64, 2, -9223372036854775808.0, 9223372036854775807.0},
        {"a.f64", LF_GGUF_FLOAT64, 2, 1e-300, -0.5},
    };
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        const lf_gguf_kv *kv = lf_gguf_find_kv(g, arrs[i].k);
        assert_non_null(kv);
        assert_int_equal(kv->type, LF_GGUF_ARRAY);
        assert_int_equal(kv->arr_type, arrs[i].t);
        assert_int_equal(kv->arr_n, arrs[i].n);
        assert_true(lf_gguf_arr_num(kv, 0) == arrs[i].v0);
        assert_true(lf_gguf_arr_num(kv, arrs[i].n - 1) == arrs[i].vlast);
    }
    const lf_gguf_kv *kv = lf_gguf_find_kv(g, "a.empty");
    assert_int_equal(kv->arr_n, 0);
    kv = lf_gguf_find_kv(g, "a.str");
    assert_int_equal(kv->arr_type, LF_GGUF_STRING);
    assert_int_equal(kv->arr_n, 4);
    for (uint64_t i = 0; i < 4; i++) {
        lf_gguf_str st = lf_gguf_arr_str(kv, i);
        assert_int_equal(st.len, strlen(rt_strs[i]));
        assert_memory_equal(st.ptr, rt_strs[i], st.len);
    }

}

/* Tensor directory and data; frees the written copies in data[]. */
static void check_rt_tensors(const lf_gguf *g, void *data[N_RT]) {
    assert_int_equal(lf_gguf_n_tensors(g), N_RT);
    for (size_t i = 0; i < N_RT; i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, (int64_t)i);
        assert_string_equal(t->name, rt_tensors[i].name);
        assert_ptr_equal(lf_gguf_find_tensor(g, rt_tensors[i].name), t);
        assert_int_equal(t->type, rt_tensors[i].type);
        assert_int_equal(t->n_dims, rt_tensors[i].n_dims);
        for (int d = 0; d < 4; d++)
            assert_int_equal(t->ne[d], rt_tensors[i].ne[d]);
        assert_int_equal(lf_gguf_tensor_nelem(t), spec_nelem(&rt_tensors[i]));
        assert_int_equal(t->offset % 64, 0);
        assert_int_equal((uintptr_t)t->data % 64, 0);   /* mmap base is page-aligned */
        assert_memory_equal(t->data, data[i], t->nbytes);
        free(data[i]);
    }
}

/* A bad alignment key makes the write fail without leaving files. */
static void check_rt_bad_write(const char *dir) {
    lf_error err = {0};
    lf_gguf *g;
    lf_gguf_writer *w = lf_gguf_writer_new();
    assert_int_equal(lf_gguf_writer_set_u32(w, "general.alignment", 48), 0);
    char bad[160];
    snprintf(bad, sizeof bad, "%s/bad.gguf", dir);
    assert_int_equal(lf_gguf_writer_write(w, bad, &err), LF_EINVAL);
    assert_int_equal(lf_gguf_writer_set_u32(w, "general.alignment", 16), 0);
    assert_int_equal(lf_gguf_writer_write(w, "/nonexistent-dir/x.gguf", &err), LF_EIO);
    lf_gguf_writer_free(w);
    DIR *dd = opendir(dir);
    int entries = 0;
    for (struct dirent *de; (de = readdir(dd));)
        entries += de->d_name[0] != '.';
    closedir(dd);
    assert_int_equal(entries, 1);                  /* only rt.gguf */
    assert_int_equal(lf_gguf_open(&g, bad, &err), LF_ENOTFOUND);

}

/* Every truncation of the written file fails cleanly until the last
 * tensor's data is complete (only trailing padding may be missing). */
static void check_rt_truncations(const uint8_t *bytes, size_t n) {
    lf_error err = {0};
    lf_gguf *g;
    const lf_gguf_tensor *last;
    assert_int_equal(lf_gguf_open_memory(&g, bytes, n, &err), 0);
    last = lf_gguf_tensor_at(g, (int64_t)N_RT - 1);
    size_t need = (size_t)((const uint8_t *)last->data - bytes) + last->nbytes;
    lf_gguf_close(g);
    for (size_t len = 0; len < n; len++) {
        lf_error e2 = {0};
        lf_gguf *h = NULL;
        uint8_t *copy = NULL;
        int rc = open_copy(bytes, len, &h, &e2, &copy);
        if (len < need) {
            assert_int_equal(rc, LF_EFORMAT);
            assert_non_null(strstr(e2.msg, "offset "));
        } else {
            assert_int_equal(rc, 0);
            lf_gguf_close(h);
            free(copy);
        }
    }
}

static void test_writer_roundtrip(void **state) {
    (void)state;
    char dir[] = "/tmp/lf-gguf-rt-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/rt.gguf", dir);
    void *data[N_RT];
    write_rt_file(path, data);

    size_t n;
    uint8_t *bytes = read_all(path, &n);
    assert_non_null(bytes);
    independent_parse(bytes, n, 64);

    lf_gguf *g;
    lf_error err = {0};
    assert_int_equal(lf_gguf_open(&g, path, &err), 0);
    assert_string_equal(lf_gguf_path(g), path);
    assert_int_equal(lf_gguf_version(g), 3);
    assert_int_equal(lf_gguf_alignment(g), 64);
    assert_int_equal(lf_gguf_file_size(g), n);
    assert_int_equal(lf_gguf_data_offset(g) % 64, 0);
    assert_int_equal(lf_gguf_n_kv(g), N_RT_KEYS);
    for (size_t i = 0; i < N_RT_KEYS; i++)
        assert_string_equal(lf_gguf_kv_at(g, (int64_t)i)->key, rt_keys[i]);
    check_rt_scalars(g);
    check_rt_arrays(g);
    check_rt_tensors(g, data);
    lf_gguf_close(g);

    check_rt_bad_write(dir);
    check_rt_truncations(bytes, n);
    free(bytes);
    unlink(path);
    rmdir(dir);
}

static void test_truncated_base(void **state) {
    (void)state;
    layout L;
    buf b = build_base(&L);
    for (size_t len = 0; len < b.n; len++) {   /* its last tensor ends the file */
        lf_error err = {0};
        lf_gguf *g = NULL;
        uint8_t *copy = NULL;
        assert_int_equal(open_copy(b.p, len, &g, &err, &copy), LF_EFORMAT);
        assert_null(g);
        assert_non_null(strstr(err.msg, "offset "));
    }
    free(b.p);
}

/* Reads everything an open file exposes (ASan checks the bounds). */
static double touch_all(const lf_gguf *g) {
    double acc = 0;
    for (int64_t i = 0; i < lf_gguf_n_kv(g); i++) {
        const lf_gguf_kv *kv = lf_gguf_kv_at(g, i);
        acc += (double)strlen(kv->key);
        if (kv->type == LF_GGUF_STRING && kv->str.len)
            acc += (unsigned char)kv->str.ptr[kv->str.len - 1];
        if (kv->type != LF_GGUF_ARRAY)
            continue;
        for (uint64_t k = 0; k < kv->arr_n; k++) {
            if (kv->arr_type == LF_GGUF_STRING) {
                lf_gguf_str s = lf_gguf_arr_str(kv, k);
                assert_non_null(s.ptr);
                if (s.len)
                    acc += (unsigned char)s.ptr[s.len - 1];
            } else {
                double v = lf_gguf_arr_num(kv, k);
                acc += v == v ? 1 : 0;
            }
        }
    }
    for (int64_t i = 0; i < lf_gguf_n_tensors(g); i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        int64_t n = lf_gguf_tensor_nelem(t);
        if (n == 0 || t->ne[0] == 0)
            continue;
        float *y = malloc((size_t)n * sizeof *y);
        assert_non_null(y);
        lf_dequantize(t->type, t->data, y, n / t->ne[0], t->ne[0]);
        acc += y[n - 1] == y[n - 1];
        free(y);
    }
    return acc;
}

static void test_random_mutations(void **state) {
    (void)state;
    char dir[] = "/tmp/lf-gguf-fz-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/f.gguf", dir);
    void *data[N_RT];
    write_rt_file(path, data);
    for (size_t i = 0; i < N_RT; i++)
        free(data[i]);
    size_t n;
    uint8_t *orig = read_all(path, &n);
    unlink(path);
    rmdir(dir);
    /* Mutate only the header region mostly: that is where parsing happens. */
    lf_gguf *g0;
    lf_error err = {0};
    assert_int_equal(lf_gguf_open_memory(&g0, orig, n, &err), 0);
    const size_t header = lf_gguf_data_offset(g0);
    lf_gguf_close(g0);
    static const uint64_t interesting[] = {0, 1, 2, 3, 4, 7, 8, 9, 12, 13, 31, 32, 33, 64, 255,
                                           65535, 1ull << 31, 1ull << 32, (1ull << 32) - 1,
                                           1ull << 62, 1ull << 63, UINT64_MAX, UINT64_MAX - 7};
    trng r = {2024};
    int ok = 0, failed = 0;
    uint8_t *m = malloc(n);
    for (int it = 0; it < 4000; it++) {
        memcpy(m, orig, n);
        int muts = 1 + (int)(trng_next(&r) % 4);
        for (int k = 0; k < muts; k++) {
            size_t at = (size_t)(trng_next(&r) % (trng_next(&r) % 8 ? header : n));
            switch (trng_next(&r) % 4) {
            case 0: m[at] ^= (uint8_t)(1u << (trng_next(&r) % 8)); break;
            case 1: m[at] = (uint8_t)trng_next(&r); break;
            default:
                if (at + 8 <= n) {
                    uint64_t v = interesting[trng_next(&r) % (sizeof interesting / sizeof interesting[0])];
                    memcpy(m + at, &v, trng_next(&r) % 2 ? 8 : 4);
                }
            }
        }
        size_t len = trng_next(&r) % 5 ? n : (size_t)(trng_next(&r) % n);
        lf_gguf *g = NULL;
        lf_error e = {0};
        uint8_t *copy = NULL;
        int rc = open_copy(m, len, &g, &e, &copy);
        if (rc == 0) {
            touch_all(g);
            lf_gguf_close(g);
            free(copy);
            ok++;
        } else {
            assert_true(rc == LF_EFORMAT || rc == LF_EUNSUPP);
            assert_non_null(strstr(e.msg, "offset "));
            failed++;
        }
    }
    print_message("mutations: %d opened, %d rejected\n", ok, failed);
    assert_true(failed > 0);
    free(m);
    free(orig);
}

/* ---- real files ------------------------------------------------------------ */

/* Calls fn(path) for every *.gguf under the models dir and its kquant/. */
static int for_each_model(void (*fn)(const char *path, void *ctx), void *ctx) {
    const char *root = models_dir();
    if (!root)
        return -1;
    int count = 0;
    static const char *const subs[] = {"", "/kquant"};
    for (size_t s = 0; s < 2; s++) {
        char d[4096];
        snprintf(d, sizeof d, "%s%s", root, subs[s]);
        DIR *dir = opendir(d);
        if (!dir)
            continue;
        for (struct dirent *de; (de = readdir(dir));) {
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 5, ".gguf"))
                continue;
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", d, de->d_name);
            fn(p, ctx);
            count++;
        }
        closedir(dir);
    }
    return count;
}

static void open_model(const char *path, void *ctx) {
    (void)ctx;
    lf_gguf *g;
    lf_error err = {0};
    int rc = lf_gguf_open(&g, path, &err);
    if (rc < 0)
        print_message("%s: %s\n", path, err.msg);
    assert_int_equal(rc, 0);
    assert_true(lf_gguf_n_tensors(g) > 0);
    assert_non_null(lf_gguf_find_kv(g, "general.architecture"));
    touch_all(g);
    lf_gguf_close(g);
}

static void test_shared_models_open(void **state) {
    (void)state;
    int n = for_each_model(open_model, NULL);
    if (n <= 0) {
        print_message("skipped: no GGUF files in LOCALFIT_TEST_MODELS\n");
        skip();
    }
    print_message("opened %d shared model files\n", n);
    /* Tokenizer vocabularies: string arrays indexed in O(1). */
    const char *p = model_path("stories260K.gguf");
    if (p) {
        lf_gguf *g;
        lf_error err = {0};
        assert_int_equal(lf_gguf_open(&g, p, &err), 0);
        const lf_gguf_kv *kv = lf_gguf_find_kv(g, "tokenizer.ggml.tokens");
        assert_non_null(kv);
        assert_int_equal(kv->arr_n, 512);
        lf_gguf_str s = lf_gguf_arr_str(kv, 1);
        assert_int_equal(s.len, 3);
        assert_memory_equal(s.ptr, "<s>", 3);
        uint64_t u;
        assert_int_equal(lf_gguf_get_u64(g, "llama.block_count", &u), 0);
        assert_int_equal(u, 5);
        lf_gguf_close(g);
    }
}

/* ---- the CLI ------------------------------------------------------------- */
#ifdef LF_HAVE_CLI

/* Runs cmd, returns its exit status; stdout into *out (malloc'd). */
static int run(const char *cmd, char **out, size_t *len) {
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    for (size_t k; (k = fread(b + n, 1, cap - n, f)) > 0;) {
        n += k;
        if (n == cap)
            b = realloc(b, cap *= 2);
    }
    int st = pclose(f);
    if (out) {
        b = realloc(b, n + 1);
        b[n] = 0;
        *out = b;
        *len = n;
    } else {
        free(b);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *binary(void) { return LF_BINARY_DIR "/localfit"; }

/* `gguf dump` of every tensor of path equals lf_dequantize's bytes. */
static void check_dump_file(const char *path, void *ctx) {
    int *count = ctx;
    lf_gguf *g;
    lf_error err = {0};
    assert_int_equal(lf_gguf_open(&g, path, &err), 0);
    for (int64_t i = 0; i < lf_gguf_n_tensors(g); i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "'%s' gguf dump '%s' --tensor '%s'", binary(), path, t->name);
        char *out;
        size_t len;
        assert_int_equal(run(cmd, &out, &len), 0);
        int64_t n = lf_gguf_tensor_nelem(t);
        assert_int_equal(len, (size_t)n * sizeof(float));
        float *y = malloc((size_t)n * sizeof *y);
        lf_dequantize(t->type, t->data, y, n / t->ne[0], t->ne[0]);
        assert_memory_equal(out, y, len);
        free(y);
        free(out);
        (*count)++;
    }
    lf_gguf_close(g);
}

static void check_info_file(const char *path, void *ctx) {
    (void)ctx;
    lf_gguf *g;
    lf_error err = {0};
    assert_int_equal(lf_gguf_open(&g, path, &err), 0);
    char cmd[8192], want[64];
    char *out;
    size_t len;
    snprintf(cmd, sizeof cmd, "'%s' gguf info '%s'", binary(), path);
    assert_int_equal(run(cmd, &out, &len), 0);
    snprintf(want, sizeof want, "tensors (%lld):", (long long)lf_gguf_n_tensors(g));
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "architecture: "));
    free(out);

    snprintf(cmd, sizeof cmd, "'%s' gguf info '%s' --json", binary(), path);
    assert_int_equal(run(cmd, &out, &len), 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "schema")), "localfit.gguf/1");
    json_t *tensors = json_object_get(j, "tensors");
    assert_int_equal(json_array_size(tensors), lf_gguf_n_tensors(g));
    assert_int_equal(json_array_size(json_object_get(j, "metadata")), lf_gguf_n_kv(g));
    double bytes = 0;
    for (int64_t i = 0; i < lf_gguf_n_tensors(g); i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        json_t *o = json_array_get(tensors, (size_t)i);
        assert_string_equal(json_string_value(json_object_get(o, "name")), t->name);
        assert_string_equal(json_string_value(json_object_get(o, "type")), lf_type_name(t->type));
        assert_int_equal(json_integer_value(json_object_get(o, "bytes")), t->nbytes);
        bytes += (double)t->nbytes;
    }
    json_t *tot = json_object_get(j, "totals");
    assert_true((double)json_integer_value(json_object_get(tot, "bytes")) == bytes);
    json_decref(j);
    free(out);
    lf_gguf_close(g);
}

static void test_cli_info_dump(void **state) {
    (void)state;
    if (access(binary(), X_OK) != 0) {
        print_message("skipped: %s not built\n", binary());
        skip();
    }
    /* Our own file first, so the test checks something without models. */
    char dir[] = "/tmp/lf-gguf-cli-XXXXXX", path[128], cmd[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/rt.gguf", dir);
    void *data[N_RT];
    write_rt_file(path, data);
    for (size_t i = 0; i < N_RT; i++)
        free(data[i]);
    int dumped = 0;
    check_info_file(path, NULL);
    check_dump_file(path, &dumped);
    char *out;
    size_t len;
    snprintf(cmd, sizeof cmd, "'%s' gguf info '%s'", binary(), path);
    assert_int_equal(run(cmd, &out, &len), 0);
    assert_non_null(strstr(out, "architecture: testarch"));
    assert_non_null(strstr(out, "t.bf16.4d"));
    assert_non_null(strstr(out, "[2, 3, 4, 5]"));
    free(out);

    /* Errors: exit 1 with a message; usage errors exit 2. */
    snprintf(cmd, sizeof cmd, "'%s' gguf info %s/missing.gguf 2>&1", binary(), dir);
    assert_int_equal(run(cmd, &out, &len), 1);
    assert_non_null(strstr(out, "missing.gguf"));
    free(out);
    size_t n;
    uint8_t *bytes = read_all(path, &n);
    char trunc[160];
    snprintf(trunc, sizeof trunc, "%s/trunc.gguf", dir);
    FILE *f = fopen(trunc, "wb");
    fwrite(bytes, 1, 100, f);
    fclose(f);
    free(bytes);
    snprintf(cmd, sizeof cmd, "'%s' gguf info '%s' 2>&1", binary(), trunc);
    assert_int_equal(run(cmd, &out, &len), 1);
    assert_non_null(strstr(out, "offset "));
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' gguf dump '%s' --tensor nope 2>&1", binary(), path);
    assert_int_equal(run(cmd, &out, &len), 1);
    assert_non_null(strstr(out, "nope"));
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' gguf dump '%s' 2>/dev/null", binary(), path);
    assert_int_equal(run(cmd, NULL, NULL), 2);
    snprintf(cmd, sizeof cmd, "'%s' gguf 2>/dev/null", binary());
    assert_int_equal(run(cmd, NULL, NULL), 2);
    snprintf(cmd, sizeof cmd, "'%s' gguf info 2>/dev/null", binary());
    assert_int_equal(run(cmd, NULL, NULL), 2);
    snprintf(cmd, sizeof cmd, "'%s' gguf frob x 2>/dev/null", binary());
    assert_int_equal(run(cmd, NULL, NULL), 2);
    snprintf(cmd, sizeof cmd, "'%s' gguf info --bogus '%s' 2>/dev/null", binary(), path);
    assert_int_equal(run(cmd, NULL, NULL), 2);
    snprintf(cmd, sizeof cmd, "'%s' gguf --help", binary());
    assert_int_equal(run(cmd, &out, &len), 0);
    assert_non_null(strstr(out, "usage: localfit gguf"));
    free(out);
    unlink(trunc);
    unlink(path);
    rmdir(dir);

    /* Every shared model: info (text and JSON); dump of every tensor of a
     * few files covering all the types they contain. */
    if (for_each_model(check_info_file, NULL) <= 0) {
        print_message("note: no shared models; checked our own file only\n");
        return;
    }
    static const char *const dump_files[] = {
        "kquant/kq-Q4_K_M.gguf", "kquant/kq-Q3_K_M.gguf", "kquant/kq-Q5_K_M.gguf",
        "kquant/kq-Q2_K.gguf",   "kquant/kq-IQ4_XS.gguf", "kquant/kq-Q4_1.gguf",
        "stories260K-Q5_0.gguf", "stories260K-IQ4_NL.gguf", "TinyStories-656K.f16.gguf",
    };
    for (size_t i = 0; i < sizeof dump_files / sizeof dump_files[0]; i++) {
        const char *p = model_path(dump_files[i]);
        if (p)
            check_dump_file(p, &dumped);
    }
    print_message("gguf dump matched lf_dequantize for %d tensors\n", dumped);
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_file_reads),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_nested_arrays),
        cmocka_unit_test(test_writer_roundtrip),
        cmocka_unit_test(test_truncated_base),
        cmocka_unit_test(test_random_mutations),
        cmocka_unit_test(test_shared_models_open),
#ifdef LF_HAVE_CLI
        cmocka_unit_test(test_cli_info_dump),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
