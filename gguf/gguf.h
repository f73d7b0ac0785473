/*
 * gguf — the GGUF file format (v2 and v3): a validating reader over mmap
 * and a writer for the models and quantized files localfit makes. Tensor
 * types and their block layouts are the kernels' (kernels/kernels.h); this
 * module knows only how a file lays them out.
 *
 * Usage:
 *     lf_gguf *g; lf_error err = {0};
 *     if (lf_gguf_open(&g, "model.gguf", &err) < 0) die(err.msg);
 *     const lf_gguf_tensor *t = lf_gguf_find_tensor(g, "output.weight");
 *     lf_mat w = lf_mat_from_tensor(t);        // ready for lf_matmul
 *     lf_gguf_close(g);
 */
#ifndef LF_GGUF_H
#define LF_GGUF_H

#include "kernels/kernels.h"

/* ======================================================================
 * GGUF (v2 and v3) — read over mmap, write for synthetic models.
 * Every count, offset, size and dimension is checked against the file; a
 * bad file yields LF_EFORMAT with a message naming what and the offset.
 * ==================================================================== */
typedef enum lf_gguf_vtype {
    LF_GGUF_UINT8 = 0, LF_GGUF_INT8 = 1, LF_GGUF_UINT16 = 2, LF_GGUF_INT16 = 3,
    LF_GGUF_UINT32 = 4, LF_GGUF_INT32 = 5, LF_GGUF_FLOAT32 = 6,
    LF_GGUF_BOOL = 7, LF_GGUF_STRING = 8, LF_GGUF_ARRAY = 9,
    LF_GGUF_UINT64 = 10, LF_GGUF_INT64 = 11, LF_GGUF_FLOAT64 = 12,
    LF_GGUF_VTYPE_COUNT
} lf_gguf_vtype;

/* A string inside the mapped file: not NUL-terminated. */
typedef struct lf_gguf_str { uint64_t len; const char *ptr; } lf_gguf_str;

typedef struct lf_gguf_kv {
    char *key;                 /* NUL-terminated copy */
    lf_gguf_vtype type;
    /* scalar value, widened (valid when type is not STRING/ARRAY) */
    union { uint64_t u; int64_t i; double f; bool b; } v;
    lf_gguf_str str;           /* type == STRING */
    /* type == ARRAY: element type and count; elems points at the first
     * element in the file (strings: length-prefixed, walk with
     * lf_gguf_arr_str); nested arrays are validated but not indexed. */
    lf_gguf_vtype arr_type;
    uint64_t arr_n;
    const void *arr_data;
    uint64_t offset;           /* file offset of the key, for messages */
} lf_gguf_kv;

typedef struct lf_gguf_tensor {
    char *name;                /* NUL-terminated copy */
    uint32_t n_dims;
    int64_t ne[4];             /* ne[0] = row length (innermost) */
    lf_type type;
    uint64_t offset;           /* relative to the data section */
    size_t nbytes;
    const void *data;          /* into the mapping */
} lf_gguf_tensor;

typedef struct lf_gguf lf_gguf;

/* Opens and validates path (mmap, read-only). On error *out is NULL and
 * the result is LF_ENOTFOUND (no such file), LF_EIO, LF_ENOMEM, LF_EFORMAT
 * (malformed: message "PATH: offset N: what") or LF_EUNSUPP (GGUF v1,
 * big-endian, a tensor type we cannot compute with). Duplicate keys or
 * tensor names, unaligned or overlapping tensor data are LF_EFORMAT.
 * The caller owns *out; free with lf_gguf_close. Read-only use of a handle
 * from several threads is safe. */
int lf_gguf_open(lf_gguf **out, const char *path, lf_error *err);
/* Same over a caller buffer that must outlive the handle (fuzzing, tests);
 * tensor data is as aligned as the buffer is (malloc: 16 bytes). */
int lf_gguf_open_memory(lf_gguf **out, const void *data, size_t size,
                        lf_error *err);
void lf_gguf_close(lf_gguf *g);

uint32_t lf_gguf_version(const lf_gguf *g);
size_t lf_gguf_alignment(const lf_gguf *g);
size_t lf_gguf_file_size(const lf_gguf *g);
const char *lf_gguf_path(const lf_gguf *g);          /* "" for memory */
size_t lf_gguf_data_offset(const lf_gguf *g);        /* tensor data section */

int64_t lf_gguf_n_kv(const lf_gguf *g);
const lf_gguf_kv *lf_gguf_kv_at(const lf_gguf *g, int64_t i);
const lf_gguf_kv *lf_gguf_find_kv(const lf_gguf *g, const char *key);

/* Typed getters: 0 ok, LF_ENOTFOUND if absent, LF_EFORMAT if the stored
 * type cannot convert (integers widen; float getter accepts any number). */
int lf_gguf_get_u64(const lf_gguf *g, const char *key, uint64_t *out);
int lf_gguf_get_i64(const lf_gguf *g, const char *key, int64_t *out);
int lf_gguf_get_f64(const lf_gguf *g, const char *key, double *out);
int lf_gguf_get_bool(const lf_gguf *g, const char *key, bool *out);
/* Copies a string value into buf (NUL-terminated, truncated to size). */
int lf_gguf_get_str(const lf_gguf *g, const char *key, char *buf, size_t size);
/* The i-th string of a string array (validated at open). */
lf_gguf_str lf_gguf_arr_str(const lf_gguf_kv *kv, uint64_t i);
/* The i-th numeric element of an array, widened to double. */
double lf_gguf_arr_num(const lf_gguf_kv *kv, uint64_t i);

int64_t lf_gguf_n_tensors(const lf_gguf *g);
const lf_gguf_tensor *lf_gguf_tensor_at(const lf_gguf *g, int64_t i);
const lf_gguf_tensor *lf_gguf_find_tensor(const lf_gguf *g, const char *name);
int64_t lf_gguf_tensor_nelem(const lf_gguf_tensor *t);

const char *lf_gguf_vtype_name(lf_gguf_vtype t);

/* ---- writer ---------------------------------------------------------- */
typedef struct lf_gguf_writer lf_gguf_writer;

lf_gguf_writer *lf_gguf_writer_new(void);     /* NULL on OOM */
void lf_gguf_writer_free(lf_gguf_writer *w);
/* Metadata, written in insertion order; keys are copied. Setting a key
 * again replaces its value in place. All return 0, LF_EINVAL (empty key,
 * bad type) or LF_ENOMEM. */
int lf_gguf_writer_set_u32(lf_gguf_writer *w, const char *key, uint32_t v);
int lf_gguf_writer_set_i32(lf_gguf_writer *w, const char *key, int32_t v);
int lf_gguf_writer_set_u64(lf_gguf_writer *w, const char *key, uint64_t v);
int lf_gguf_writer_set_f32(lf_gguf_writer *w, const char *key, float v);
int lf_gguf_writer_set_bool(lf_gguf_writer *w, const char *key, bool v);
int lf_gguf_writer_set_str(lf_gguf_writer *w, const char *key, const char *v);
/* Array of scalars (elem_type not STRING/ARRAY), n elements copied. */
int lf_gguf_writer_set_arr(lf_gguf_writer *w, const char *key,
                           lf_gguf_vtype elem_type, const void *data, uint64_t n);
int lf_gguf_writer_set_arr_str(lf_gguf_writer *w, const char *key,
                               const char *const *strs, uint64_t n);
/* A scalar of any type (not STRING/ARRAY); value points at it in its C
 * representation (uint8_t … double, bool as one byte). */
int lf_gguf_writer_set_scalar(lf_gguf_writer *w, const char *key,
                              lf_gguf_vtype type, const void *value);
/* Copies key and value of kv (from an open lf_gguf, which must stay open
 * until this returns) byte for byte — any type, nested arrays included. */
int lf_gguf_writer_copy_kv(lf_gguf_writer *w, const lf_gguf_kv *kv);
/* A tensor; data (nbytes = lf_row_size(type, ne[0]) * rows) is referenced,
 * not copied, and must live until lf_gguf_writer_write returns. LF_EINVAL
 * for an unsupported type, 0 or > 4 dims, a size mismatch, a duplicate
 * name or a name of 64 bytes or more (GGML's limit). */
int lf_gguf_writer_add_tensor(lf_gguf_writer *w, const char *name, lf_type type,
                              uint32_t n_dims, const int64_t *ne,
                              const void *data, size_t nbytes);
/* Writes a GGUF v3 file (alignment from general.alignment or 32), via a
 * temporary file renamed into place so a failure leaves no partial file. */
int lf_gguf_writer_write(lf_gguf_writer *w, const char *path, lf_error *err);

/* The tensor as a weight matrix for the kernels (rows = ne[1..], cols =
 * ne[0]); data points into the mapped file. */
lf_mat lf_mat_from_tensor(const lf_gguf_tensor *t);

#endif
