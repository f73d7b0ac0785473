/*
 * Fuzz target: the GGUF reader over a memory buffer. A file that opens is
 * walked completely — every key by index and by name, every typed getter,
 * every array element (bounded), every tensor by index and by name, the
 * first rows of each tensor dequantized — and then copied through the
 * writer: a file the reader accepts and the writer takes must come back
 * from a write and a re-read with the same keys, values and tensor bytes.
 */
#include "tests/fuzz/fuzz.h"

#include "gguf/gguf_internal.h"
#include "gguf/gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T "gguf"
/* Array elements and tensor elements looked at per key / tensor: enough to
 * reach every code path, bounded so one input stays fast. */
#define MAX_ELEMS 4096
#define MAX_DEQ 65536

static char g_dir[512];

static void init(void) {
    if (lf_fuzz_tmpdir(g_dir, sizeof g_dir) < 0)
        g_dir[0] = '\0';
}

static void fini(void) {
    if (g_dir[0])
        lf_fuzz_rmtree(g_dir);
    g_dir[0] = '\0';
}

/* Keeps the compiler from dropping reads whose value nobody uses. */
static volatile uint64_t g_sink;

static void walk_kv(const lf_gguf *g, const lf_gguf_kv *kv) {
    LF_FUZZ_CHECK(T, kv && kv->key, "kv without a key");
    LF_FUZZ_CHECK(T, lf_gguf_find_kv(g, kv->key) == kv, "key '%s' not found by name", kv->key);
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    char buf[64];
    g_sink += lf_gguf_get_u64(g, kv->key, &u) == 0 ? u : 1;
    g_sink += lf_gguf_get_i64(g, kv->key, &i) == 0 ? (uint64_t)i : 2;
    g_sink += lf_gguf_get_f64(g, kv->key, &f) == 0 && isfinite(f) ? (uint64_t)(f != 0) : 3;
    g_sink += lf_gguf_get_bool(g, kv->key, &b) == 0 ? b : 4;
    if (lf_gguf_get_str(g, kv->key, buf, sizeof buf) == 0) {
        LF_FUZZ_CHECK(T, kv->type == LF_GGUF_STRING, "get_str on a %s", lf_gguf_vtype_name(kv->type));
        LF_FUZZ_CHECK(T, strlen(buf) < sizeof buf, "get_str overran");
    }
    size_t raw_size;
    const uint8_t *raw = lf_gguf_kv_raw(kv, &raw_size);
    if (raw_size)
        g_sink += raw[0] + raw[raw_size - 1];
    if (kv->type == LF_GGUF_STRING && kv->str.len)
        g_sink += (uint8_t)kv->str.ptr[0] + (uint8_t)kv->str.ptr[kv->str.len - 1];
    if (kv->type != LF_GGUF_ARRAY)
        return;
    uint64_t n = kv->arr_n < MAX_ELEMS ? kv->arr_n : MAX_ELEMS;
    for (uint64_t k = 0; k < n; k++) {
        if (kv->arr_type == LF_GGUF_STRING) {
            lf_gguf_str s = lf_gguf_arr_str(kv, k);
            LF_FUZZ_CHECK(T, s.ptr || s.len == 0, "string %llu of '%s' missing",
                          (unsigned long long)k, kv->key);
            if (s.len)
                g_sink += (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1];
        } else {
            double v = lf_gguf_arr_num(kv, k);
            g_sink += isfinite(v) ? (uint64_t)(v != 0) : 5;
        }
    }
    /* out of range is an empty string / 0, not a read past the array */
    lf_gguf_str s = lf_gguf_arr_str(kv, kv->arr_n);
    LF_FUZZ_CHECK(T, s.len == 0, "string past the end of '%s'", kv->key);
}

static void walk_tensor(const lf_gguf *g, const lf_gguf_tensor *t, float *deq) {
    LF_FUZZ_CHECK(T, lf_gguf_find_tensor(g, t->name) == t, "tensor '%s' not found by name", t->name);
    g_sink += (uint64_t)lf_gguf_tensor_nelem(t);
    lf_mat m = lf_mat_from_tensor(t);
    LF_FUZZ_CHECK(T, m.rows >= 0 && m.cols >= 0, "tensor '%s': negative shape", t->name);
    if (!lf_type_supported(t->type) || m.cols == 0 || m.rows == 0)
        return;
    LF_FUZZ_CHECK(T, m.row_bytes == lf_row_size(t->type, m.cols) && m.row_bytes > 0,
                  "tensor '%s': row size", t->name);
    LF_FUZZ_CHECK(T, (uint64_t)m.rows * m.row_bytes == t->nbytes,
                  "tensor '%s': %lld rows of %zu bytes but nbytes %zu", t->name,
                  (long long)m.rows, m.row_bytes, t->nbytes);
    if (m.cols > MAX_DEQ)
        return;
    int64_t rows = MAX_DEQ / m.cols;
    if (rows > m.rows)
        rows = m.rows;
    if (rows > 4)
        rows = 4;
    lf_dequantize(t->type, t->data, deq, rows, m.cols);
    for (int64_t k = 0; k < rows * m.cols; k += 97)
        g_sink += isfinite(deq[k]) ? 1 : 0;
}

/* Copies every key and tensor of g through the writer; returns the writer
 * or NULL when the writer refuses something the reader allows (names of
 * 64 bytes or more). */
static lf_gguf_writer *copy_all(const lf_gguf *g) {
    lf_gguf_writer *w = lf_gguf_writer_new();
    if (!w)
        return NULL;
    for (int64_t i = 0; i < lf_gguf_n_kv(g); i++)
        if (lf_gguf_writer_copy_kv(w, lf_gguf_kv_at(g, i)) < 0)
            goto refuse;
    for (int64_t i = 0; i < lf_gguf_n_tensors(g); i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        if (lf_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes) < 0)
            goto refuse;
    }
    return w;
refuse:
    lf_gguf_writer_free(w);
    return NULL;
}

static void round_trip(const lf_gguf *g) {
    if (!g_dir[0])
        return;
    lf_gguf_writer *w = copy_all(g);
    if (!w)
        return;
    char path[600];
    snprintf(path, sizeof path, "%s/copy.gguf", g_dir);
    lf_error err = {0};
    int rc = lf_gguf_writer_write(w, path, &err);
    lf_gguf_writer_free(w);
    LF_FUZZ_CHECK(T, rc == 0, "writing a copy failed: %s", err.msg);
    lf_gguf *h = NULL;
    rc = lf_gguf_open(&h, path, &err);
    LF_FUZZ_CHECK(T, rc == 0, "the written copy does not open: %s", err.msg);
    LF_FUZZ_CHECK(T, lf_gguf_n_kv(h) == lf_gguf_n_kv(g) && lf_gguf_n_tensors(h) == lf_gguf_n_tensors(g),
                  "copy has %lld keys / %lld tensors, source %lld / %lld",
                  (long long)lf_gguf_n_kv(h), (long long)lf_gguf_n_tensors(h),
                  (long long)lf_gguf_n_kv(g), (long long)lf_gguf_n_tensors(g));
    for (int64_t i = 0; i < lf_gguf_n_kv(g); i++) {
        const lf_gguf_kv *a = lf_gguf_kv_at(g, i), *b = lf_gguf_kv_at(h, i);
        size_t na, nb;
        const void *ra = lf_gguf_kv_raw(a, &na), *rb = lf_gguf_kv_raw(b, &nb);
        LF_FUZZ_CHECK(T, strcmp(a->key, b->key) == 0 && a->type == b->type && na == nb &&
                             memcmp(ra, rb, na) == 0,
                      "key %lld ('%s') differs after the round trip", (long long)i, a->key);
    }
    for (int64_t i = 0; i < lf_gguf_n_tensors(g); i++) {
        const lf_gguf_tensor *a = lf_gguf_tensor_at(g, i), *b = lf_gguf_tensor_at(h, i);
        LF_FUZZ_CHECK(T, strcmp(a->name, b->name) == 0 && a->type == b->type &&
                             a->n_dims == b->n_dims && memcmp(a->ne, b->ne, sizeof a->ne) == 0 &&
                             a->nbytes == b->nbytes &&
                             (a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0),
                      "tensor '%s' differs after the round trip", a->name);
    }
    lf_gguf_close(h);
    remove(path);
}

static int one(const uint8_t *data, size_t size) {
    lf_gguf *g = NULL;
    lf_error err = {0};
    int rc = lf_gguf_open_memory(&g, data, size, &err);
    if (rc < 0) {
        LF_FUZZ_CHECK(T, g == NULL && err.code == rc && err.msg[0], "failure without a message");
        return 0;
    }
    LF_FUZZ_CHECK(T, lf_gguf_version(g) == 2 || lf_gguf_version(g) == 3, "version");
    LF_FUZZ_CHECK(T, lf_gguf_data_offset(g) <= size || lf_gguf_n_tensors(g) == 0,
                  "data section past the end");
    for (int64_t i = 0; i < lf_gguf_n_kv(g); i++)
        walk_kv(g, lf_gguf_kv_at(g, i));
    LF_FUZZ_CHECK(T, lf_gguf_kv_at(g, lf_gguf_n_kv(g)) == NULL, "kv past the end");
    float *deq = malloc(MAX_DEQ * sizeof *deq);
    for (int64_t i = 0; deq && i < lf_gguf_n_tensors(g); i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        LF_FUZZ_CHECK(T, t->nbytes == 0 || ((const uint8_t *)t->data >= data &&
                                            (const uint8_t *)t->data + t->nbytes <= data + size),
                      "tensor '%s' data outside the buffer", t->name);
        walk_tensor(g, t, deq);
    }
    free(deq);
    round_trip(g);
    lf_gguf_close(g);
    return 0;
}

const lf_fuzz_target lf_fuzz_gguf = {
    .name = "gguf",
    .what = "GGUF reader over memory: every key, tensor, dequantization; writer round trip",
    .init = init,
    .one = one,
    .fini = fini,
};
