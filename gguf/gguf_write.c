/*
 * GGUF v3 writer: collects metadata (serialized at insertion, kept in
 * insertion order) and tensor references, then writes header, metadata,
 * tensor infos, padding and aligned tensor data in one pass. The file is
 * written to a temporary name beside the target, flushed and synced, and
 * renamed into place, so a failure (disk full, bad tensor) never leaves a
 * partial file under the real name.
 *
 * What it writes is what llama.cpp's loader expects: alignment from
 * general.alignment (u32) or 32, each tensor's data offset a multiple of
 * it, tensor names shorter than 64 bytes (GGML_MAX_NAME).
 */
#include "gguf/gguf_internal.h"
#include "gguf/gguf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAX_NAME 64

typedef struct wkv {
    char *key;
    lf_gguf_vtype type;
    uint8_t *val;          /* encoded value, as it goes in the file */
    size_t len;
} wkv;

typedef struct wtensor {
    char *name;
    lf_type type;
    uint32_t n_dims;
    int64_t ne[4];
    const void *data;
    size_t nbytes;
} wtensor;

struct lf_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

lf_gguf_writer *lf_gguf_writer_new(void) { return calloc(1, sizeof(lf_gguf_writer)); }

void lf_gguf_writer_free(lf_gguf_writer *w) {
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* Stores an encoded value under key (taking ownership of val). */
static int put(lf_gguf_writer *w, const char *key, lf_gguf_vtype type, uint8_t *val, size_t len) {
    if (!w || !key || !*key) {
        free(val);
        return LF_EINVAL;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = val;
            w->kv[i].len = len;
            return 0;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *n = realloc(w->kv, cap * sizeof *n);
        if (!n) {
            free(val);
            return LF_ENOMEM;
        }
        w->kv = n;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(val);
        return LF_ENOMEM;
    }
    w->kv[w->n_kv++] = (wkv){k, type, val, len};
    return 0;
}

/* Copies len bytes into a fresh buffer (malloc(0) avoided). */
static uint8_t *dup_bytes(const void *p, size_t len) {
    uint8_t *b = malloc(len ? len : 1);
    if (b && len)
        memcpy(b, p, len);
    return b;
}

int lf_gguf_writer_set_scalar(lf_gguf_writer *w, const char *key, lf_gguf_vtype type,
                              const void *value) {
    size_t n = lf_gguf_vtype_size(type);
    if (n == 0 || !value)
        return LF_EINVAL;
    uint8_t *b;
    if (type == LF_GGUF_BOOL) {
        uint8_t v = *(const bool *)value ? 1 : 0;
        b = dup_bytes(&v, 1);
    } else {
        b = dup_bytes(value, n);
    }
    return b ? put(w, key, type, b, n) : LF_ENOMEM;
}

int lf_gguf_writer_set_u32(lf_gguf_writer *w, const char *key, uint32_t v) {
    return lf_gguf_writer_set_scalar(w, key, LF_GGUF_UINT32, &v);
}
int lf_gguf_writer_set_i32(lf_gguf_writer *w, const char *key, int32_t v) {
    return lf_gguf_writer_set_scalar(w, key, LF_GGUF_INT32, &v);
}
int lf_gguf_writer_set_u64(lf_gguf_writer *w, const char *key, uint64_t v) {
    return lf_gguf_writer_set_scalar(w, key, LF_GGUF_UINT64, &v);
}
int lf_gguf_writer_set_f32(lf_gguf_writer *w, const char *key, float v) {
    return lf_gguf_writer_set_scalar(w, key, LF_GGUF_FLOAT32, &v);
}
int lf_gguf_writer_set_bool(lf_gguf_writer *w, const char *key, bool v) {
    return lf_gguf_writer_set_scalar(w, key, LF_GGUF_BOOL, &v);
}

int lf_gguf_writer_set_str(lf_gguf_writer *w, const char *key, const char *v) {
    if (!v)
        return LF_EINVAL;
    uint64_t len = strlen(v);
    uint8_t *b = malloc(8 + len);
    if (!b)
        return LF_ENOMEM;
    memcpy(b, &len, 8);
    memcpy(b + 8, v, len);
    return put(w, key, LF_GGUF_STRING, b, 8 + len);
}

int lf_gguf_writer_set_arr(lf_gguf_writer *w, const char *key, lf_gguf_vtype elem_type,
                           const void *data, uint64_t n) {
    size_t es = lf_gguf_vtype_size(elem_type), bytes, total;
    if (es == 0 || (n && !data))
        return LF_EINVAL;
    if (n > SIZE_MAX || !lf_mul_size((size_t)n, es, &bytes) || !lf_add_size(bytes, 12, &total))
        return LF_ENOMEM;
    uint8_t *b = malloc(total);
    if (!b)
        return LF_ENOMEM;
    uint32_t t = elem_type;
    memcpy(b, &t, 4);
    memcpy(b + 4, &n, 8);
    if (bytes)
        memcpy(b + 12, data, bytes);
    return put(w, key, LF_GGUF_ARRAY, b, total);
}

int lf_gguf_writer_set_arr_str(lf_gguf_writer *w, const char *key, const char *const *strs,
                               uint64_t n) {
    if (n && !strs)
        return LF_EINVAL;
    size_t total = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i])
            return LF_EINVAL;
        if (!lf_add_size(total, 8 + strlen(strs[i]), &total))
            return LF_ENOMEM;
    }
    uint8_t *b = malloc(total), *p = b;
    if (!b)
        return LF_ENOMEM;
    uint32_t t = LF_GGUF_STRING;
    memcpy(p, &t, 4);
    memcpy(p + 4, &n, 8);
    p += 12;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = strlen(strs[i]);
        memcpy(p, &len, 8);
        memcpy(p + 8, strs[i], len);
        p += 8 + len;
    }
    return put(w, key, LF_GGUF_ARRAY, b, total);
}

int lf_gguf_writer_copy_kv(lf_gguf_writer *w, const lf_gguf_kv *kv) {
    if (!kv)
        return LF_EINVAL;
    size_t len;
    const void *raw = lf_gguf_kv_raw(kv, &len);
    if (!raw)
        return LF_EINVAL;
    uint8_t *b = dup_bytes(raw, len);
    return b ? put(w, kv->key, kv->type, b, len) : LF_ENOMEM;
}

int lf_gguf_writer_add_tensor(lf_gguf_writer *w, const char *name, lf_type type,
                              uint32_t n_dims, const int64_t *ne, const void *data,
                              size_t nbytes) {
    if (!w || !name || !*name || strlen(name) >= GGUF_MAX_NAME || n_dims < 1 || n_dims > 4 ||
        !ne || !lf_type_supported(type))
        return LF_EINVAL;
    wtensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}, .data = data,
                 .nbytes = nbytes};
    int64_t rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 0 || (d > 0 && __builtin_mul_overflow(rows, ne[d], &rows)))
            return LF_EINVAL;
        t.ne[d] = ne[d];
    }
    size_t row = lf_row_size(type, ne[0]), expect;
    if ((row == 0 && ne[0] != 0) || !lf_mul_size(row, (size_t)rows, &expect) ||
        expect != nbytes || (nbytes && !data))
        return LF_EINVAL;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return LF_EINVAL;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *n = realloc(w->t, cap * sizeof *n);
        if (!n)
            return LF_ENOMEM;
        w->t = n;
        w->cap_t = cap;
    }
    if (!(t.name = strdup(name)))
        return LF_ENOMEM;
    w->t[w->n_t++] = t;
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

typedef struct out {
    FILE *f;
    uint64_t pos;
    bool failed;
} out;

static void emit(out *o, const void *p, size_t n) {
    if (o->failed || n == 0)
        return;
    if (fwrite(p, 1, n, o->f) != n)
        o->failed = true;
    o->pos += n;
}

static void emit_u32(out *o, uint32_t v) { emit(o, &v, 4); }
static void emit_u64(out *o, uint64_t v) { emit(o, &v, 8); }

static void emit_str(out *o, const char *s) {
    uint64_t n = strlen(s);
    emit_u64(o, n);
    emit(o, s, n);
}

static void emit_pad(out *o, size_t align) {
    static const uint8_t zeros[64];
    size_t pad = (size_t)((align - o->pos % align) % align);
    while (pad > 0) {
        size_t n = pad < sizeof zeros ? pad : sizeof zeros;
        emit(o, zeros, n);
        pad -= n;
    }
}

static int writer_alignment(const lf_gguf_writer *w, size_t *align, lf_error *err) {
    *align = 32;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0)
            continue;
        uint32_t a = 0;
        if (w->kv[i].type == LF_GGUF_UINT32)
            memcpy(&a, w->kv[i].val, 4);
        if (a == 0 || (a & (a - 1)))
            return lf_error_set(err, LF_EINVAL,
                                "general.alignment must be a u32 power of two");
        *align = a;
    }
    return 0;
}

int lf_gguf_writer_write(lf_gguf_writer *w, const char *path, lf_error *err) {
    if (!w || !path || !*path)
        return lf_error_set(err, LF_EINVAL, "lf_gguf_writer_write: no writer or path");
    size_t align;
    int rc = writer_alignment(w, &align, err);
    if (rc < 0)
        return rc;

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return lf_error_set(err, LF_ENOMEM, "out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp-XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = lf_error_set(err, LF_EIO, "%s: cannot create a temporary file: %s", path,
                          strerror(errno));
        free(tmp);
        return rc;
    }
    out o = {.f = fdopen(fd, "wb")};
    if (!o.f) {
        rc = lf_error_set(err, LF_EIO, "%s: %s", tmp, strerror(errno));
        close(fd);
        goto fail;
    }
    setvbuf(o.f, NULL, _IOFBF, 1 << 20);

    emit(&o, "GGUF", 4);
    emit_u32(&o, 3);
    emit_u64(&o, w->n_t);
    emit_u64(&o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        emit_str(&o, w->kv[i].key);
        emit_u32(&o, w->kv[i].type);
        emit(&o, w->kv[i].val, w->kv[i].len);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        emit_str(&o, t->name);
        emit_u32(&o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            emit_u64(&o, (uint64_t)t->ne[d]);
        emit_u32(&o, t->type);
        emit_u64(&o, off);
        off += t->nbytes;
        off += (align - off % align) % align;
    }
    emit_pad(&o, align);
    for (size_t i = 0; i < w->n_t && !o.failed; i++) {
        emit(&o, w->t[i].data, w->t[i].nbytes);
        emit_pad(&o, align);
    }
    if (o.failed || fflush(o.f) != 0 || fsync(fileno(o.f)) != 0) {
        rc = lf_error_set(err, LF_EIO, "%s: write failed: %s", tmp, strerror(errno));
        fclose(o.f);
        goto fail;
    }
    fchmod(fileno(o.f), 0644);
    if (fclose(o.f) != 0) {
        rc = lf_error_set(err, LF_EIO, "%s: close failed: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        rc = lf_error_set(err, LF_EIO, "renaming %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    free(tmp);
    return 0;
fail:
    unlink(tmp);
    free(tmp);
    return rc;
}
