/*
 * GGUF reader (versions 2 and 3, little-endian) over a read-only mmap or a
 * caller buffer. The whole header — metadata, tensor infos, the layout of
 * the data section — is validated at open, so nothing read later can go
 * out of bounds; after a successful open every pointer handed out points
 * inside the mapping.
 *
 * Invariants the parser keeps (it is meant to survive a fuzzer):
 *   1. Every read goes through need(), which compares the byte count with
 *      what is left (size - pos, never pos + n, so it cannot overflow).
 *   2. Counts from the file are checked against the bytes left before any
 *      allocation: an element of metadata takes at least 13 bytes, a tensor
 *      info 24, an array element its size (strings 8, nested arrays 12), so
 *      no allocation exceeds a small multiple of the file size.
 *   3. Sizes and offsets are computed with overflow-checked arithmetic
 *      (element and row counts included); tensor data must lie inside the
 *      file, aligned for its type's loads, and tensors must not overlap.
 *   4. Nested arrays are walked recursively to a bounded depth.
 * Errors are LF_EFORMAT (malformed) or LF_EUNSUPP (valid but unsupported:
 * version 1, big-endian files, tensor types we cannot compute with), with
 * a message "PATH: offset N: what".
 */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf_internal.h"

#define GGUF_MAX_DEPTH 16          /* nesting of arrays of arrays */
#define GGUF_DEFAULT_ALIGNMENT 32

struct lf_gguf {
    const uint8_t *base;
    size_t size;
    bool mapped;
    char *path;
    uint32_t version;
    size_t alignment;
    size_t data_offset;            /* start of the tensor data section */
    int64_t n_kv;
    lf_gguf_kv_entry *kv;
    int64_t n_tensors;
    lf_gguf_tensor *tensors;
    /* open-addressing hash tables: slot = index + 1, 0 = empty */
    uint32_t *kv_slots, *tensor_slots;
    size_t kv_cap, tensor_cap;     /* powers of two */
    size_t *info_off;              /* file offset of each tensor info */
};

int lf_gguf_data_writable(lf_gguf *g, lf_error *err) {
    if (!g->mapped)
        return lf_error_set(err, LF_EUNSUPP, "%s: not a file mapping", g->path ? g->path : "gguf");
    if (mprotect((void *)g->base, g->size, PROT_READ | PROT_WRITE) != 0)
        return lf_error_set(err, LF_EIO, "%s: mprotect: %s", g->path, strerror(errno));
    return 0;
}

/* ---- the byte cursor --------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t size, pos;
    const char *path;
    lf_error *err;
} reader;

static int fail(reader *r, size_t off, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(reader *r, size_t off, int code, const char *fmt, ...) {
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return lf_error_set(r->err, code, "%s: offset %zu: %s", r->path, off, what);
}

static int need(reader *r, uint64_t n, const char *what) {
    if (n > r->size - r->pos)
        return fail(r, r->pos, LF_EFORMAT,
                    "truncated: %s needs %llu bytes, %zu left in the file", what,
                    (unsigned long long)n, r->size - r->pos);
    return 0;
}

static int rd_u32(reader *r, uint32_t *v, const char *what) {
    int rc = need(r, 4, what);
    if (rc < 0)
        return rc;
    memcpy(v, r->p + r->pos, 4);
    r->pos += 4;
    return 0;
}

static int rd_u64(reader *r, uint64_t *v, const char *what) {
    int rc = need(r, 8, what);
    if (rc < 0)
        return rc;
    memcpy(v, r->p + r->pos, 8);
    r->pos += 8;
    return 0;
}

/* A length-prefixed string; s points into the buffer. */
static int rd_str(reader *r, lf_gguf_str *s, const char *what) {
    uint64_t len;
    size_t at = r->pos;
    int rc = rd_u64(r, &len, what);
    if (rc < 0)
        return rc;
    if (len > r->size - r->pos)
        return fail(r, at, LF_EFORMAT, "%s: length %llu runs past the end of the file (%zu left)",
                    what, (unsigned long long)len, r->size - r->pos);
    s->len = len;
    s->ptr = (const char *)r->p + r->pos;
    r->pos += (size_t)len;
    return 0;
}

/* ---- value types -------------------------------------------------------- */

static const uint8_t vtype_size[LF_GGUF_VTYPE_COUNT] = {
    [LF_GGUF_UINT8] = 1, [LF_GGUF_INT8] = 1, [LF_GGUF_UINT16] = 2, [LF_GGUF_INT16] = 2,
    [LF_GGUF_UINT32] = 4, [LF_GGUF_INT32] = 4, [LF_GGUF_FLOAT32] = 4, [LF_GGUF_BOOL] = 1,
    [LF_GGUF_UINT64] = 8, [LF_GGUF_INT64] = 8, [LF_GGUF_FLOAT64] = 8,
};

static const char *const vtype_names[LF_GGUF_VTYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64",
};

const char *lf_gguf_vtype_name(lf_gguf_vtype t) {
    return (unsigned)t < LF_GGUF_VTYPE_COUNT ? vtype_names[t] : "unknown";
}

size_t lf_gguf_vtype_size(lf_gguf_vtype t) {
    return (unsigned)t < LF_GGUF_VTYPE_COUNT ? vtype_size[t] : 0;
}

/* Widens the scalar at p (of type t) into kv->v. */
static void widen_scalar(lf_gguf_kv *kv, lf_gguf_vtype t, const uint8_t *p) {
    switch (t) {
    case LF_GGUF_UINT8: kv->v.u = p[0]; break;
    case LF_GGUF_INT8: kv->v.i = (int8_t)p[0]; break;
    case LF_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); kv->v.u = x; break; }
    case LF_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); kv->v.i = x; break; }
    case LF_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); kv->v.u = x; break; }
    case LF_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); kv->v.i = x; break; }
    case LF_GGUF_FLOAT32: { float x; memcpy(&x, p, 4); kv->v.f = x; break; }
    case LF_GGUF_BOOL: kv->v.b = p[0] != 0; break;
    case LF_GGUF_UINT64: memcpy(&kv->v.u, p, 8); break;
    case LF_GGUF_INT64: memcpy(&kv->v.i, p, 8); break;
    case LF_GGUF_FLOAT64: memcpy(&kv->v.f, p, 8); break;
    default: break;
    }
}

static int rd_vtype(reader *r, lf_gguf_vtype *t, const char *what) {
    size_t at = r->pos;
    uint32_t v;
    int rc = rd_u32(r, &v, what);
    if (rc < 0)
        return rc;
    if (v >= LF_GGUF_VTYPE_COUNT)
        return fail(r, at, LF_EFORMAT, "%s: unknown value type %u", what, v);
    *t = (lf_gguf_vtype)v;
    return 0;
}

/* Skips over the body of an array (after its element type and count),
 * validating every element. str_off, when not NULL, receives the offset of
 * each string relative to the first element. */
static int skip_array(reader *r, lf_gguf_vtype et, uint64_t n, int depth, const char *key,
                      uint64_t *str_off) {
    if (depth > GGUF_MAX_DEPTH)
        return fail(r, r->pos, LF_EFORMAT, "key '%s': arrays nested deeper than %d", key,
                    GGUF_MAX_DEPTH);
    const size_t start = r->pos, left = r->size - r->pos;
    if (et == LF_GGUF_STRING) {
        if (n > left / 8)
            return fail(r, start, LF_EFORMAT,
                        "key '%s': %llu strings cannot fit in the %zu bytes left", key,
                        (unsigned long long)n, left);
        for (uint64_t i = 0; i < n; i++) {
            lf_gguf_str s;
            if (str_off)
                str_off[i] = r->pos - start;
            if (need(r, 8, "array string") < 0 || rd_str(r, &s, "array string") < 0)
                return fail(r, r->pos, LF_EFORMAT,
                            "key '%s': string %llu of %llu runs past the end of the file", key,
                            (unsigned long long)i, (unsigned long long)n);
        }
        return 0;
    }
    if (et == LF_GGUF_ARRAY) {
        if (n > left / 12)
            return fail(r, start, LF_EFORMAT,
                        "key '%s': %llu nested arrays cannot fit in the %zu bytes left", key,
                        (unsigned long long)n, left);
        for (uint64_t i = 0; i < n; i++) {
            lf_gguf_vtype t;
            uint64_t m;
            int rc = rd_vtype(r, &t, "nested array type");
            if (rc == 0)
                rc = rd_u64(r, &m, "nested array count");
            if (rc == 0)
                rc = skip_array(r, t, m, depth + 1, key, NULL);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    const uint64_t es = vtype_size[et];
    if (n > left / es)
        return fail(r, start, LF_EFORMAT,
                    "key '%s': array of %llu %s elements runs past the end (%zu bytes left)", key,
                    (unsigned long long)n, vtype_names[et], left);
    r->pos += (size_t)(n * es);
    return 0;
}

/* ---- hash tables over names -------------------------------------------- */

static uint64_t hash_name(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull;          /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static size_t table_cap(int64_t n) {
    size_t cap = 16;
    while (cap < (size_t)n * 2)
        cap <<= 1;
    return cap;
}

/* Finds name in the table; returns the index or -1. name_at(i) gives the
 * name stored for entry i. */
#define TABLE_FIND(slots, cap, name, len, name_at)                              \
    do {                                                                        \
        if (!(slots))                                                           \
            return -1;                                                          \
        size_t mask_ = (cap) - 1, h_ = (size_t)hash_name(name, len) & mask_;     \
        for (; (slots)[h_]; h_ = (h_ + 1) & mask_) {                            \
            int64_t i_ = (int64_t)(slots)[h_] - 1;                              \
            const char *s_ = name_at(i_);                                       \
            if (strncmp(s_, name, len) == 0 && s_[len] == '\0')                 \
                return i_;                                                      \
        }                                                                       \
        return -1;                                                              \
    } while (0)

#define KV_NAME(i) (g->kv[i].pub.key)
#define TENSOR_NAME(i) (g->tensors[i].name)

static int64_t find_kv_index(const lf_gguf *g, const char *name, size_t len) {
    TABLE_FIND(g->kv_slots, g->kv_cap, name, len, KV_NAME);
}

static int64_t find_tensor_index(const lf_gguf *g, const char *name, size_t len) {
    TABLE_FIND(g->tensor_slots, g->tensor_cap, name, len, TENSOR_NAME);
}

static void table_insert(uint32_t *slots, size_t cap, const char *name, int64_t index) {
    size_t mask = cap - 1, h = (size_t)hash_name(name, strlen(name)) & mask;
    while (slots[h])
        h = (h + 1) & mask;
    slots[h] = (uint32_t)(index + 1);
}

/* ---- parsing ------------------------------------------------------------ */

/* A NUL-terminated copy of a key or tensor name into *out. */
static int copy_name(reader *r, const lf_gguf_str *s, size_t at, const char *what, char **out) {
    if (memchr(s->ptr, '\0', (size_t)s->len))
        return fail(r, at, LF_EFORMAT, "%s contains a NUL byte", what);
    char *c = malloc((size_t)s->len + 1);
    if (!c)
        return lf_error_set(r->err, LF_ENOMEM, "%s: out of memory", r->path);
    memcpy(c, s->ptr, (size_t)s->len);
    c[s->len] = '\0';
    *out = c;
    return 0;
}

static int parse_kv(lf_gguf *g, reader *r) {
    for (int64_t i = 0; i < g->n_kv; i++) {
        lf_gguf_kv_entry *e = &g->kv[i];
        lf_gguf_kv *kv = &e->pub;
        const size_t at = r->pos;
        lf_gguf_str key;
        char what[48];
        snprintf(what, sizeof what, "key of metadata entry %lld", (long long)i);
        int rc = rd_str(r, &key, what);
        if (rc < 0 || (rc = copy_name(r, &key, at, what, &kv->key)) < 0)
            return rc;
        kv->offset = at;
        if (find_kv_index(g, kv->key, (size_t)key.len) >= 0)
            return fail(r, at, LF_EFORMAT, "duplicate metadata key '%s'", kv->key);
        table_insert(g->kv_slots, g->kv_cap, kv->key, i);
        if ((rc = rd_vtype(r, &kv->type, kv->key)) < 0)
            return rc;
        e->value = r->p + r->pos;
        const size_t vstart = r->pos;
        if (kv->type == LF_GGUF_STRING) {
            if ((rc = rd_str(r, &kv->str, kv->key)) < 0)
                return rc;
        } else if (kv->type == LF_GGUF_ARRAY) {
            lf_gguf_vtype et;
            uint64_t n;
            if ((rc = rd_vtype(r, &et, kv->key)) < 0 || (rc = rd_u64(r, &n, kv->key)) < 0)
                return rc;
            kv->arr_type = et;
            kv->arr_n = n;
            kv->arr_data = r->p + r->pos;
            if (et == LF_GGUF_STRING && n > 0) {
                /* Index the strings so lookups by position are O(1); the
                 * count is bounded by the bytes left before allocating. */
                if (n > (r->size - r->pos) / 8)
                    return fail(r, r->pos, LF_EFORMAT,
                                "key '%s': %llu strings cannot fit in the %zu bytes left",
                                kv->key, (unsigned long long)n, r->size - r->pos);
                if (!(e->str_off = malloc((size_t)n * sizeof *e->str_off)))
                    return lf_error_set(r->err, LF_ENOMEM, "%s: out of memory indexing '%s'",
                                        r->path, kv->key);
            }
            if ((rc = skip_array(r, et, n, 1, kv->key, e->str_off)) < 0)
                return rc;
        } else {
            if ((rc = need(r, vtype_size[kv->type], kv->key)) < 0)
                return rc;
            widen_scalar(kv, kv->type, r->p + r->pos);
            r->pos += vtype_size[kv->type];
        }
        e->value_size = r->pos - vstart;
    }
    return 0;
}

static int parse_alignment(lf_gguf *g, reader *r) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = find_kv_index(g, "general.alignment", strlen("general.alignment"));
    if (i < 0)
        return 0;
    const lf_gguf_kv *kv = &g->kv[i].pub;
    if (kv->type != LF_GGUF_UINT32)
        return fail(r, kv->offset, LF_EFORMAT, "general.alignment has type %s, expected u32",
                    lf_gguf_vtype_name(kv->type));
    if (kv->v.u == 0 || (kv->v.u & (kv->v.u - 1)))
        return fail(r, kv->offset, LF_EFORMAT, "general.alignment %llu is not a power of two",
                    (unsigned long long)kv->v.u);
    g->alignment = (size_t)kv->v.u;
    return 0;
}

/* GGML types we read but cannot compute with, named for the message. */
static const char *const ggml_type_names[] = {
    [16] = "iq2_xxs", [17] = "iq2_xs", [18] = "iq3_xxs", [19] = "iq1_s", [21] = "iq3_s",
    [22] = "iq2_s",   [24] = "i8",     [25] = "i16",     [26] = "i32",   [27] = "i64",
    [28] = "f64",     [29] = "iq1_m",  [34] = "tq1_0",   [35] = "tq2_0", [39] = "mxfp4",
};

static int parse_tensor_infos(lf_gguf *g, reader *r) {
    for (int64_t i = 0; i < g->n_tensors; i++) {
        lf_gguf_tensor *t = &g->tensors[i];
        const size_t at = r->pos;
        g->info_off[i] = at;
        lf_gguf_str name;
        char what[48];
        snprintf(what, sizeof what, "name of tensor info %lld", (long long)i);
        int rc = rd_str(r, &name, what);
        if (rc < 0 || (rc = copy_name(r, &name, at, what, &t->name)) < 0)
            return rc;
        if (find_tensor_index(g, t->name, (size_t)name.len) >= 0)
            return fail(r, at, LF_EFORMAT, "duplicate tensor name '%s'", t->name);
        table_insert(g->tensor_slots, g->tensor_cap, t->name, i);

        uint32_t n_dims, type;
        size_t dims_at = r->pos;
        if ((rc = rd_u32(r, &n_dims, "tensor dimension count")) < 0)
            return rc;
        if (n_dims < 1 || n_dims > 4)
            return fail(r, dims_at, LF_EFORMAT, "tensor '%s': %u dimensions (1 to 4 allowed)",
                        t->name, n_dims);
        t->n_dims = n_dims;
        /* The element count and the row count (dimensions 1..3) are both
         * checked: with a zero dimension the element count is 0 whatever
         * the others say, but readers still multiply the rows out. */
        int64_t nelem = 1, nrows = 1;
        for (int d = 0; d < 4; d++) {
            uint64_t ne = 1;
            size_t ne_at = r->pos;
            if (d < (int)n_dims && (rc = rd_u64(r, &ne, "tensor dimension")) < 0)
                return rc;
            if (ne > (uint64_t)INT64_MAX ||
                __builtin_mul_overflow(nelem, (int64_t)ne, &nelem) ||
                (d > 0 && __builtin_mul_overflow(nrows, (int64_t)ne, &nrows)))
                return fail(r, ne_at, LF_EFORMAT,
                            "tensor '%s': dimension %d = %llu makes the element count overflow",
                            t->name, d, (unsigned long long)ne);
            t->ne[d] = (int64_t)ne;
        }
        size_t type_at = r->pos;
        if ((rc = rd_u32(r, &type, "tensor type")) < 0)
            return rc;
        if (type >= LF_TYPE_COUNT || !lf_type_supported((lf_type)type)) {
            const char *gname = type < sizeof ggml_type_names / sizeof ggml_type_names[0]
                                    ? ggml_type_names[type] : NULL;
            if (gname)
                return fail(r, type_at, LF_EUNSUPP,
                            "tensor '%s': GGML type %s (%u) is not supported by localfit",
                            t->name, gname, type);
            return fail(r, type_at, type < 64 ? LF_EUNSUPP : LF_EFORMAT,
                        "tensor '%s': unknown tensor type %u", t->name, type);
        }
        t->type = (lf_type)type;
        const int bs = lf_type_traits_get(t->type)->block_size;
        if (t->ne[0] % bs)
            return fail(r, dims_at, LF_EFORMAT,
                        "tensor '%s': row length %lld is not a multiple of the %s block (%d)",
                        t->name, (long long)t->ne[0], lf_type_name(t->type), bs);
        size_t off_at = r->pos;
        if ((rc = rd_u64(r, &t->offset, "tensor data offset")) < 0)
            return rc;
        if (t->offset % g->alignment)
            return fail(r, off_at, LF_EFORMAT,
                        "tensor '%s': data offset %llu is not a multiple of the alignment %zu",
                        t->name, (unsigned long long)t->offset, g->alignment);
        /* nbytes = row bytes × rows, both overflow-checked. */
        const size_t row = t->ne[0] ? lf_row_size(t->type, t->ne[0]) : 0;
        size_t nbytes;
        if ((t->ne[0] && row == 0) ||      /* lf_row_size's overflow result */
            !lf_mul_size(row, (size_t)(t->ne[0] ? nelem / t->ne[0] : 0), &nbytes))
            return fail(r, dims_at, LF_EFORMAT, "tensor '%s': byte size overflows", t->name);
        t->nbytes = nbytes;
    }
    return 0;
}

typedef struct span {
    uint64_t offset;
    size_t nbytes;
    int64_t index;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Places the data section and checks every tensor lies inside the file
 * without overlapping another. */
static int check_tensor_data(lf_gguf *g, reader *r) {
    size_t data = r->pos;
    size_t pad = (g->alignment - data % g->alignment) % g->alignment;
    if (!lf_add_size(data, pad, &data))
        return fail(r, r->pos, LF_EFORMAT, "data section offset overflows");
    g->data_offset = data;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        lf_gguf_tensor *t = &g->tensors[i];
        size_t start, end;
        if (t->offset > SIZE_MAX || !lf_add_size(data, (size_t)t->offset, &start) ||
            !lf_add_size(start, t->nbytes, &end) || end > g->size)
            return fail(r, g->info_off[i], LF_EFORMAT,
                        "tensor '%s': data at offset %llu + %zu bytes of the data section "
                        "(which starts at %zu) runs past the end of the file (%zu bytes)",
                        t->name, (unsigned long long)t->offset, t->nbytes, data, g->size);
        t->data = g->base + start;
        /* The kernels read F32 values and the blocks' f16 scales in place:
         * a file whose general.alignment lets data sit at an odd address
         * would make every one of those loads misaligned. */
        const size_t align = t->type == LF_TYPE_F32 || t->type == LF_TYPE_Q8_K ? 4 : 2;
        if (t->nbytes && (uintptr_t)t->data % align)
            return fail(r, g->info_off[i], LF_EFORMAT,
                        "tensor '%s': %s data at file offset %zu is not %zu-byte aligned "
                        "(general.alignment %zu)",
                        t->name, lf_type_name(t->type), start, align, g->alignment);
    }
    if (g->n_tensors < 2)
        return 0;
    span *order = malloc((size_t)g->n_tensors * sizeof *order);
    if (!order)
        return lf_error_set(r->err, LF_ENOMEM, "%s: out of memory", r->path);
    for (int64_t i = 0; i < g->n_tensors; i++)
        order[i] = (span){g->tensors[i].offset, g->tensors[i].nbytes, i};
    qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_span);
    int rc = 0;
    for (int64_t k = 1; k < g->n_tensors && rc == 0; k++) {
        const span *a = &order[k - 1], *b = &order[k];
        /* Both lie inside the file, so offset + nbytes cannot overflow. */
        if (a->nbytes && b->nbytes && a->offset + a->nbytes > b->offset)
            rc = fail(r, g->info_off[b->index], LF_EFORMAT,
                      "tensor '%s' (data offset %llu) overlaps tensor '%s' (data offset %llu, "
                      "%zu bytes)",
                      g->tensors[b->index].name, (unsigned long long)b->offset,
                      g->tensors[a->index].name, (unsigned long long)a->offset, a->nbytes);
    }
    free(order);
    return rc;
}

static int parse(lf_gguf *g, lf_error *err) {
    lf_error scratch;
    if (!err)                  /* messages are built even if nobody reads them */
        err = &scratch;
    reader r = {.p = g->base, .size = g->size, .pos = 0, .path = g->path, .err = err};
    uint32_t magic, version;
    uint64_t n_tensors, n_kv;
    int rc;
    if (g->size == 0)
        return fail(&r, 0, LF_EFORMAT, "empty file");
    if ((rc = rd_u32(&r, &magic, "magic")) < 0)
        return rc;
    if (memcmp(g->base, "GGUF", 4) != 0)
        return fail(&r, 0, LF_EFORMAT, "not a GGUF file (magic %02x %02x %02x %02x)",
                    g->base[0], g->base[1], g->base[2], g->base[3]);
    if ((rc = rd_u32(&r, &version, "version")) < 0)
        return rc;
    if (version == 1)
        return fail(&r, 4, LF_EUNSUPP, "GGUF version 1 is not supported (re-convert the model)");
    if (version != 2 && version != 3) {
        if ((version & 0xffff) == 0 && (version >> 16) != 0)
            return fail(&r, 4, LF_EUNSUPP, "big-endian GGUF files are not supported");
        return fail(&r, 4, version > 3 ? LF_EUNSUPP : LF_EFORMAT,
                    "unsupported GGUF version %u", version);
    }
    g->version = version;
    if ((rc = rd_u64(&r, &n_tensors, "tensor count")) < 0 ||
        (rc = rd_u64(&r, &n_kv, "metadata count")) < 0)
        return rc;
    const size_t left = g->size - r.pos;
    if (n_kv > left / 13 || n_kv > UINT32_MAX / 2)
        return fail(&r, 16, LF_EFORMAT, "metadata count %llu cannot fit in the %zu bytes left",
                    (unsigned long long)n_kv, left);
    if (n_tensors > (left - 13 * n_kv) / 24 || n_tensors > UINT32_MAX / 2)
        return fail(&r, 8, LF_EFORMAT,
                    "tensor count %llu (with %llu metadata entries) cannot fit in the %zu "
                    "bytes left",
                    (unsigned long long)n_tensors, (unsigned long long)n_kv, left);
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kv_cap = table_cap(g->n_kv);
    g->tensor_cap = table_cap(g->n_tensors);
    g->kv = calloc((size_t)n_kv + 1, sizeof *g->kv);
    g->tensors = calloc((size_t)n_tensors + 1, sizeof *g->tensors);
    g->kv_slots = calloc(g->kv_cap, sizeof *g->kv_slots);
    g->tensor_slots = calloc(g->tensor_cap, sizeof *g->tensor_slots);
    g->info_off = calloc((size_t)n_tensors + 1, sizeof *g->info_off);
    if (!g->kv || !g->tensors || !g->kv_slots || !g->tensor_slots || !g->info_off)
        return lf_error_set(err, LF_ENOMEM, "%s: out of memory", g->path);
    if ((rc = parse_kv(g, &r)) < 0 || (rc = parse_alignment(g, &r)) < 0 ||
        (rc = parse_tensor_infos(g, &r)) < 0 || (rc = check_tensor_data(g, &r)) < 0)
        return rc;
    return 0;
}

/* ---- open / close -------------------------------------------------------- */

static lf_gguf *new_handle(const char *path) {
    lf_gguf *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->path = strdup(path);
    if (!g->path) {
        free(g);
        return NULL;
    }
    return g;
}

void lf_gguf_close(lf_gguf *g) {
    if (!g)
        return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) {
            free(g->kv[i].pub.key);
            free(g->kv[i].str_off);
        }
    if (g->tensors)
        for (int64_t i = 0; i < g->n_tensors; i++)
            free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    free(g->kv_slots);
    free(g->tensor_slots);
    free(g->info_off);
    if (g->mapped)
        munmap((void *)g->base, g->size);
    free(g->path);
    free(g);
}

int lf_gguf_open_memory(lf_gguf **out, const void *data, size_t size, lf_error *err) {
    *out = NULL;
    if (!data && size)
        return lf_error_set(err, LF_EINVAL, "lf_gguf_open_memory: NULL buffer");
    lf_gguf *g = new_handle("<memory>");
    if (!g)
        return lf_error_set(err, LF_ENOMEM, "out of memory");
    g->base = data;
    g->size = size;
    int rc = parse(g, err);
    if (rc < 0) {
        lf_gguf_close(g);
        return rc;
    }
    g->path[0] = '\0';
    *out = g;
    return 0;
}

int lf_gguf_open(lf_gguf **out, const char *path, lf_error *err) {
    *out = NULL;
    /* O_NONBLOCK so a FIFO named by mistake cannot hang the open. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return lf_error_set(err, errno == ENOENT ? LF_ENOTFOUND : LF_EIO, "%s: %s", path,
                            strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return lf_error_set(err, LF_EIO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lf_error_set(err, LF_EIO, "%s: %s", path,
                            S_ISDIR(st.st_mode) ? "is a directory, not a GGUF file"
                                                : "not a regular file");
    }
    lf_gguf *g = new_handle(path);
    if (!g) {
        close(fd);
        return lf_error_set(err, LF_ENOMEM, "out of memory");
    }
    g->size = (size_t)st.st_size;
    if (g->size > 0) {
        void *m = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            lf_gguf_close(g);
            return lf_error_set(err, LF_EIO, "%s: mmap: %s", path, strerror(e));
        }
        g->base = m;
        g->mapped = true;
    } else {
        g->base = (const uint8_t *)"";
    }
    close(fd);
    int rc = parse(g, err);
    if (rc < 0) {
        lf_gguf_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* ---- accessors ------------------------------------------------------------ */

uint32_t lf_gguf_version(const lf_gguf *g) { return g->version; }
size_t lf_gguf_alignment(const lf_gguf *g) { return g->alignment; }
size_t lf_gguf_file_size(const lf_gguf *g) { return g->size; }
const char *lf_gguf_path(const lf_gguf *g) { return g->path; }
size_t lf_gguf_data_offset(const lf_gguf *g) { return g->data_offset; }
int64_t lf_gguf_n_kv(const lf_gguf *g) { return g->n_kv; }
int64_t lf_gguf_n_tensors(const lf_gguf *g) { return g->n_tensors; }

const lf_gguf_kv *lf_gguf_kv_at(const lf_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? &g->kv[i].pub : NULL;
}

const lf_gguf_kv *lf_gguf_find_kv(const lf_gguf *g, const char *key) {
    int64_t i = find_kv_index(g, key, strlen(key));
    return i >= 0 ? &g->kv[i].pub : NULL;
}

const lf_gguf_tensor *lf_gguf_tensor_at(const lf_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const lf_gguf_tensor *lf_gguf_find_tensor(const lf_gguf *g, const char *name) {
    int64_t i = find_tensor_index(g, name, strlen(name));
    return i >= 0 ? &g->tensors[i] : NULL;
}

int64_t lf_gguf_tensor_nelem(const lf_gguf_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

static bool is_unsigned(lf_gguf_vtype t) {
    return t == LF_GGUF_UINT8 || t == LF_GGUF_UINT16 || t == LF_GGUF_UINT32 ||
           t == LF_GGUF_UINT64;
}

static bool is_signed(lf_gguf_vtype t) {
    return t == LF_GGUF_INT8 || t == LF_GGUF_INT16 || t == LF_GGUF_INT32 || t == LF_GGUF_INT64;
}

int lf_gguf_get_u64(const lf_gguf *g, const char *key, uint64_t *out) {
    const lf_gguf_kv *kv = lf_gguf_find_kv(g, key);
    if (!kv)
        return LF_ENOTFOUND;
    if (is_unsigned(kv->type))
        *out = kv->v.u;
    else if (is_signed(kv->type) && kv->v.i >= 0)
        *out = (uint64_t)kv->v.i;
    else
        return LF_EFORMAT;
    return 0;
}

int lf_gguf_get_i64(const lf_gguf *g, const char *key, int64_t *out) {
    const lf_gguf_kv *kv = lf_gguf_find_kv(g, key);
    if (!kv)
        return LF_ENOTFOUND;
    if (is_signed(kv->type))
        *out = kv->v.i;
    else if (is_unsigned(kv->type) && kv->v.u <= (uint64_t)INT64_MAX)
        *out = (int64_t)kv->v.u;
    else
        return LF_EFORMAT;
    return 0;
}

int lf_gguf_get_f64(const lf_gguf *g, const char *key, double *out) {
    const lf_gguf_kv *kv = lf_gguf_find_kv(g, key);
    if (!kv)
        return LF_ENOTFOUND;
    if (kv->type == LF_GGUF_FLOAT32 || kv->type == LF_GGUF_FLOAT64)
        *out = kv->v.f;
    else if (is_unsigned(kv->type))
        *out = (double)kv->v.u;
    else if (is_signed(kv->type))
        *out = (double)kv->v.i;
    else
        return LF_EFORMAT;
    return 0;
}

int lf_gguf_get_bool(const lf_gguf *g, const char *key, bool *out) {
    const lf_gguf_kv *kv = lf_gguf_find_kv(g, key);
    if (!kv)
        return LF_ENOTFOUND;
    if (kv->type != LF_GGUF_BOOL)
        return LF_EFORMAT;
    *out = kv->v.b;
    return 0;
}

int lf_gguf_get_str(const lf_gguf *g, const char *key, char *buf, size_t size) {
    const lf_gguf_kv *kv = lf_gguf_find_kv(g, key);
    if (!kv)
        return LF_ENOTFOUND;
    if (kv->type != LF_GGUF_STRING)
        return LF_EFORMAT;
    if (size == 0)
        return LF_EINVAL;
    size_t n = kv->str.len < size - 1 ? (size_t)kv->str.len : size - 1;
    memcpy(buf, kv->str.ptr, n);
    buf[n] = '\0';
    return 0;
}

lf_gguf_str lf_gguf_arr_str(const lf_gguf_kv *kv, uint64_t i) {
    lf_gguf_str s = {0, NULL};
    const lf_gguf_kv_entry *e = (const lf_gguf_kv_entry *)kv;
    if (kv->type != LF_GGUF_ARRAY || kv->arr_type != LF_GGUF_STRING || i >= kv->arr_n ||
        !e->str_off)
        return s;
    const uint8_t *p = (const uint8_t *)kv->arr_data + e->str_off[i];
    memcpy(&s.len, p, 8);
    s.ptr = (const char *)p + 8;
    return s;
}

double lf_gguf_arr_num(const lf_gguf_kv *kv, uint64_t i) {
    if (kv->type != LF_GGUF_ARRAY || i >= kv->arr_n || kv->arr_type == LF_GGUF_STRING ||
        kv->arr_type == LF_GGUF_ARRAY)
        return 0.0;
    const size_t es = vtype_size[kv->arr_type];
    lf_gguf_kv tmp;
    widen_scalar(&tmp, kv->arr_type, (const uint8_t *)kv->arr_data + i * es);
    if (kv->arr_type == LF_GGUF_FLOAT32 || kv->arr_type == LF_GGUF_FLOAT64)
        return tmp.v.f;
    if (kv->arr_type == LF_GGUF_BOOL)
        return tmp.v.b;
    return is_signed(kv->arr_type) ? (double)tmp.v.i : (double)tmp.v.u;
}

const void *lf_gguf_kv_raw(const lf_gguf_kv *kv, size_t *size) {
    const lf_gguf_kv_entry *e = (const lf_gguf_kv_entry *)kv;
    *size = e->value_size;
    return e->value;
}

lf_mat lf_mat_from_tensor(const lf_gguf_tensor *t) {
    lf_mat m = {0};
    if (!t)
        return m;
    m.type = t->type;
    m.cols = t->ne[0];
    m.rows = 1;
    for (uint32_t i = 1; i < t->n_dims && i < 4; i++)
        m.rows *= t->ne[i];
    m.row_bytes = lf_row_size(t->type, m.cols);
    m.data = t->data;
    return m;
}
