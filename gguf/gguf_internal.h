/*
 * Private between the GGUF reader (gguf.c) and writer (gguf_write.c): the
 * reader's per-key record, of which the public lf_gguf_kv is the first
 * member, so a const lf_gguf_kv * handed out by the reader can be widened
 * back to it (the writer copies values byte for byte that way, nested
 * arrays included, and string arrays are indexed for O(1) lookup).
 */
#ifndef LF_GGUF_INTERNAL_H
#define LF_GGUF_INTERNAL_H

#include "gguf/gguf.h"

typedef struct lf_gguf_kv_entry {
    lf_gguf_kv pub;              /* must stay first */
    const uint8_t *value;        /* encoded value in the file (after the type) */
    size_t value_size;           /* its size in bytes */
    uint64_t *str_off;           /* string arrays: offset of element i from arr_data */
} lf_gguf_kv_entry;

/* Bytes of one scalar of type t; 0 for STRING, ARRAY and unknown types. */
size_t lf_gguf_vtype_size(lf_gguf_vtype t);
/* The encoded value of kv (only for kvs from lf_gguf_open*). */
const void *lf_gguf_kv_raw(const lf_gguf_kv *kv, size_t *size);

/* Makes the tensor data of a file-mapped g writable in place (a private
 * copy-on-write mapping: the file never changes), for rewriting weights
 * into the kernels' layout at load. LF_EUNSUPP for a g over caller memory,
 * LF_EIO if mprotect fails. */
int lf_gguf_data_writable(lf_gguf *g, lf_error *err);

#endif /* LF_GGUF_INTERNAL_H */
