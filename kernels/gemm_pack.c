/*
 * Packing for the int8 GEMM of prompt processing (layout in internal.h):
 * every weight type is unpacked, 16 rows at a time, into unsigned bytes
 * u = q + bias interleaved by groups of 4 k, with one float scale (and for
 * types with a min, one float offset) per row and chunk of 16 or 32 k. One
 * SIMD tile kernel per ISA then serves every type: the type-specific work is
 * only here, done once per 16 rows and reused across all activation columns.
 * Also here: the per-column activation preparation, the float panels of
 * f32/f16/bf16 weights, and the scalar twins of the tile kernels that the
 * tests hold the SIMD tiles to (and that run the packed path on any ISA in
 * tests). The packers here are portable; ISAs may override them
 * (kernel set gemm_pack / gemm_f_pack) with byte-identical faster ones.
 */
#include "kernels/internal.h"

#include <string.h>

static inline float h2f(lf_half h) { return lf_half_to_float(h); }

/* Writes the values u[0..cnt) of row r starting at column k0 into the
 * interleaved panel: dword k/4 of row r lives at dword (k/4)*16 + r. */
static inline void put_u(uint8_t *qs, int r, int k0, const uint8_t *u, int cnt) {
    for (int j = 0; j < cnt; j += 4)
        memcpy(qs + ((size_t)(k0 + j) / 4 * LF_GEMM_ROWS + (size_t)r) * 4, u + j, 4);
}

/* Unpacks the 32 nibbles of a Q4_0/Q4_1/IQ4_NL block in element order. */
static inline void nibbles32(const uint8_t *q, uint8_t *u) {
    for (int j = 0; j < 16; j++) {
        u[j] = q[j] & 0x0F;
        u[j + 16] = q[j] >> 4;
    }
}

static inline uint32_t qh32(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 |
           (uint32_t)qh[3] << 24;
}

/* ---- per-type row unpackers: one row of K into panel row r ----------- */

static void row_q4_0(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r) {
    const lf_block_q4_0 *b = w;
    (void)mw;
    for (int i = 0; i < K / 32; i++) {
        uint8_t u[32];
        nibbles32(b[i].qs, u);
        put_u(qs, r, 32 * i, u, 32);
        sw[i * 16 + r] = h2f(b[i].d);
    }
}

static void row_q4_1(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r) {
    const lf_block_q4_1 *b = w;
    for (int i = 0; i < K / 32; i++) {
        uint8_t u[32];
        nibbles32(b[i].qs, u);
        put_u(qs, r, 32 * i, u, 32);
        sw[i * 16 + r] = h2f(b[i].d);
        mw[i * 16 + r] = h2f(b[i].m);
    }
}

static void row_q5_0(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r) {
    const lf_block_q5_0 *b = w;
    (void)mw;
    for (int i = 0; i < K / 32; i++) {
        uint8_t u[32];
        uint32_t h = qh32(b[i].qh);
        nibbles32(b[i].qs, u);
        for (int j = 0; j < 32; j++)
            u[j] |= (uint8_t)(((h >> j) & 1) << 4);
        put_u(qs, r, 32 * i, u, 32);
        sw[i * 16 + r] = h2f(b[i].d);
    }
}

static void row_q5_1(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r) {
    const lf_block_q5_1 *b = w;
    for (int i = 0; i < K / 32; i++) {
        uint8_t u[32];
        uint32_t h = qh32(b[i].qh);
        nibbles32(b[i].qs, u);
        for (int j = 0; j < 32; j++)
            u[j] |= (uint8_t)(((h >> j) & 1) << 4);
        put_u(qs, r, 32 * i, u, 32);
        sw[i * 16 + r] = h2f(b[i].d);
        mw[i * 16 + r] = h2f(b[i].m);
    }
}

static void row_q8_0(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r) {
    const lf_block_q8_0 *b = w;
    (void)mw;
    for (int i = 0; i < K / 32; i++) {
        uint8_t u[32];
        for (int j = 0; j < 32; j++)
            u[j] = (uint8_t)(b[i].qs[j] + 128);
        put_u(qs, r, 32 * i, u, 32);
        sw[i * 16 + r] = h2f(b[i].d);
    }
}

static void row_iq4_nl(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r) {
    const lf_block_iq4_nl *b = w;
    (void)mw;
    for (int i = 0; i < K / 32; i++) {
        uint8_t u[32];
        nibbles32(b[i].qs, u);
        for (int j = 0; j < 32; j++)
            u[j] = (uint8_t)(lf_iq4nl_values[u[j]] + 128);
        put_u(qs, r, 32 * i, u, 32);
        sw[i * 16 + r] = h2f(b[i].d);
    }
}

/* K-quants: chunk index = sub-block index within the row. */
static void row_q2_K(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r) {
    const lf_block_q2_K *b = w;
    for (int i = 0; i < K / LF_QK_K; i++) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        uint8_t u[LF_QK_K];
        for (int e = 0; e < LF_QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            u[e] = (b[i].qs[32 * h + l] >> (2 * j)) & 3;
        }
        put_u(qs, r, LF_QK_K * i, u, LF_QK_K);
        for (int s = 0; s < 16; s++) {
            sw[(i * 16 + s) * 16 + r] = d * (float)(b[i].scales[s] & 0x0F);
            mw[(i * 16 + s) * 16 + r] = -dmin * (float)(b[i].scales[s] >> 4);
        }
    }
}


static void row_q3_K(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r) {
    const lf_block_q3_K *b = w;
    (void)mw;
    for (int i = 0; i < K / LF_QK_K; i++) {
        float d = h2f(b[i].d);
        uint8_t u[LF_QK_K];
        for (int e = 0; e < LF_QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = (b[i].qs[32 * h + l] >> (2 * j)) & 3;
            int hb = (b[i].hmask[l] >> (4 * h + j)) & 1;
            u[e] = (uint8_t)(q | hb << 2);   /* value u - 4 */
        }
        put_u(qs, r, LF_QK_K * i, u, LF_QK_K);
        for (int s = 0; s < 16; s++)
            sw[(i * 16 + s) * 16 + r] = d * (float)lf_q3_K_scale(b[i].scales, s);
    }
}


static void row_q4_K(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r) {
    const lf_block_q4_K *b = w;
    for (int i = 0; i < K / LF_QK_K; i++) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        for (int s = 0; s < 8; s++) {
            uint8_t u[32];
            for (int l = 0; l < 32; l++) {
                uint8_t byte = b[i].qs[32 * (s / 2) + l];
                u[l] = s % 2 ? byte >> 4 : byte & 0x0F;
            }
            put_u(qs, r, LF_QK_K * i + 32 * s, u, 32);
            int sc, mn;
            lf_k4_scale_min(b[i].scales, s, &sc, &mn);
            sw[(i * 8 + s) * 16 + r] = d * (float)sc;
            mw[(i * 8 + s) * 16 + r] = -dmin * (float)mn;
        }
    }
}

static void row_q5_K(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r) {
    const lf_block_q5_K *b = w;
    for (int i = 0; i < K / LF_QK_K; i++) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        for (int s = 0; s < 8; s++) {
            uint8_t u[32];
            for (int l = 0; l < 32; l++) {
                uint8_t byte = b[i].qs[32 * (s / 2) + l];
                u[l] = (uint8_t)((s % 2 ? byte >> 4 : byte & 0x0F) |
                                 ((b[i].qh[l] >> s) & 1) << 4);
            }
            put_u(qs, r, LF_QK_K * i + 32 * s, u, 32);
            int sc, mn;
            lf_k4_scale_min(b[i].scales, s, &sc, &mn);
            sw[(i * 8 + s) * 16 + r] = d * (float)sc;
            mw[(i * 8 + s) * 16 + r] = -dmin * (float)mn;
        }
    }
}

static void row_q6_K(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r) {
    const lf_block_q6_K *b = w;
    (void)mw;
    for (int i = 0; i < K / LF_QK_K; i++) {
        float d = h2f(b[i].d);
        uint8_t u[LF_QK_K];
        for (int e = 0; e < LF_QK_K; e++) {
            int h = e / 128, k = (e % 128) / 32, l = e % 32;
            uint8_t lb = b[i].ql[64 * h + l + 32 * (k % 2)];
            u[e] = (uint8_t)((k < 2 ? lb & 0x0F : lb >> 4) |
                             ((b[i].qh[32 * h + l] >> (2 * k)) & 3) << 4);
        }
        put_u(qs, r, LF_QK_K * i, u, LF_QK_K);
        for (int s = 0; s < 16; s++)
            sw[(i * 16 + s) * 16 + r] = d * (float)b[i].scales[s];
    }
}

static void row_iq4_xs(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r) {
    const lf_block_iq4_xs *b = w;
    (void)mw;
    for (int i = 0; i < K / LF_QK_K; i++) {
        float d = h2f(b[i].d);
        for (int s = 0; s < 8; s++) {
            uint8_t u[32];
            nibbles32(b[i].qs + 16 * s, u);
            for (int j = 0; j < 32; j++)
                u[j] = (uint8_t)(lf_iq4nl_values[u[j]] + 128);
            put_u(qs, r, LF_QK_K * i + 32 * s, u, 32);
            int ls = ((b[i].scales_l[s / 2] >> (4 * (s % 2))) & 0x0F) |
                     ((b[i].scales_h >> (2 * s)) & 3) << 4;
            sw[(i * 8 + s) * 16 + r] = d * (float)(ls - 32);
        }
    }
}

/* MXFP4: the doubled E2M1 levels (−12 … 12) + 12, scale 2^(e − 128). */
static void row_mxfp4(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r) {
    const lf_block_mxfp4 *b = w;
    (void)mw;
    for (int i = 0; i < K / LF_QK_MXFP4; i++) {
        uint8_t u[32];
        nibbles32(b[i].qs, u);
        for (int j = 0; j < 32; j++)
            u[j] = (uint8_t)(lf_mxfp4_values[u[j]] + 12);
        put_u(qs, r, 32 * i, u, 32);
        sw[i * 16 + r] = lf_e8m0_half_to_float(b[i].e);
    }
}

typedef void (*row_fn)(const void *w, int K, uint8_t *qs, float *sw, float *mw, int r);

/* The weight types with a packed path, one row each (keyed by lf_type like
 * the trait table of formats.c; a type missing here multiplies n > 1
 * through the multi-row kernel). Each row names its row_t unpacker above
 * and gives the lf_gemm_desc fields:
 *   X(t, T, chunk, bias, u_max, has_min) */
#define LF_GEMM_LIST(X)                        \
    X(q4_0,   Q4_0,   32, 8,   15,  false)     \
    X(q4_1,   Q4_1,   32, 0,   15,  true)      \
    X(q5_0,   Q5_0,   32, 16,  31,  false)     \
    X(q5_1,   Q5_1,   32, 0,   31,  true)      \
    X(q8_0,   Q8_0,   32, 128, 255, false)     \
    X(iq4_nl, IQ4_NL, 32, 128, 241, false)     \
    X(q2_K,   Q2_K,   16, 0,   3,   true)      \
    X(q3_K,   Q3_K,   16, 4,   7,   false)     \
    X(q4_K,   Q4_K,   32, 0,   15,  true)      \
    X(q5_K,   Q5_K,   32, 0,   31,  true)      \
    X(q6_K,   Q6_K,   16, 32,  63,  false)     \
    X(iq4_xs, IQ4_XS, 32, 128, 241, false)     \
    X(mxfp4,  MXFP4,  32, 12,  24,  false)

static const lf_gemm_desc gemm_descs[LF_TYPE_COUNT];

static void pack_rows(row_fn fn, const void *w, size_t bw, int nrows, int K,
                      uint8_t *qs, float *sw, float *mw, const lf_gemm_desc *g) {
    for (int r = 0; r < nrows; r++)
        fn((const char *)w + (size_t)r * bw, K, qs, sw, mw, r);
    if (nrows < LF_GEMM_ROWS) {
        /* Missing rows: zero quants (u = 0) and zero scales, so they add
         * nothing and are never stored. */
        int nch = K / g->chunk;
        uint8_t zero[4] = {0};
        for (int r = nrows; r < LF_GEMM_ROWS; r++) {
            for (int k = 0; k < K; k += 4)
                put_u(qs, r, k, zero, 4);
            for (int c = 0; c < nch; c++) {
                sw[c * 16 + r] = 0;
                if (g->has_min)
                    mw[c * 16 + r] = 0;
            }
        }
    }
}

/* One pack function per type, through a macro so the 16-row loop and the
 * zero padding of missing rows are written once. */
#define LF_PACK_FN_(t, T, chunk, bias, u_max, has_min)                        \
    static void pack_##t(const void *w, size_t bw, int nrows, int K,          \
                         uint8_t *qs, float *sw, float *mw) {                 \
        pack_rows(row_##t, w, bw, nrows, K, qs, sw, mw, &gemm_descs[LF_TYPE_##T]); \
    }
LF_GEMM_LIST(LF_PACK_FN_)
#undef LF_PACK_FN_

#define LF_GEMM_DESC_(t, T, chunk_, bias_, u_max_, has_min_)                  \
    [LF_TYPE_##T] = {.chunk = chunk_, .bias = bias_, .u_max = u_max_,         \
                     .has_min = has_min_, .pack = pack_##t},
static const lf_gemm_desc gemm_descs[LF_TYPE_COUNT] = {LF_GEMM_LIST(LF_GEMM_DESC_)};
#undef LF_GEMM_DESC_

const lf_gemm_desc *lf_gemm_desc_get(lf_type t) {
    if ((unsigned)t >= LF_TYPE_COUNT || !gemm_descs[t].pack)
        return NULL;
    return &gemm_descs[t];
}

/* ---- panels and activations ----------------------------------------------- */

size_t lf_gemm_panel_bytes(int K, int chunk) {
    size_t nch = (size_t)K / (size_t)chunk;
    return (size_t)K * LF_GEMM_ROWS + 2 * nch * LF_GEMM_ROWS * sizeof(float);
}

float *lf_gemm_panel_sw(uint8_t *panel, int K) {
    return (float *)(panel + (size_t)K * LF_GEMM_ROWS);
}

float *lf_gemm_panel_mw(uint8_t *panel, int K, int chunk) {
    return lf_gemm_panel_sw(panel, K) + (size_t)(K / chunk) * LF_GEMM_ROWS;
}


size_t lf_gemm_acts_bytes(int K, int chunk) {
    size_t nch = (size_t)K / (size_t)chunk;
    return ((size_t)K * LF_GEMM_COLS + nch * 3 * LF_GEMM_COLS * 4 + 63) / 64 * 64;
}

void lf_gemm_prep_col(const lf_gemm_desc *g, lf_type vt, const void *src, int K,
                      void *acts, int c) {
    int8_t *qs = acts;
    float *meta = (float *)(qs + (size_t)K * LF_GEMM_COLS);
    int chunk = g->chunk, nch = K / chunk;
    for (int ch = 0; ch < nch; ch++) {
        int k0 = ch * chunk;
        const int8_t *q;
        float dd;
        if (vt == LF_TYPE_Q8_K) {
            const lf_block_q8_K *b = (const lf_block_q8_K *)src + k0 / LF_QK_K;
            q = b->qs + k0 % LF_QK_K;
            dd = b->d;
        } else if (vt == LF_TYPE_Q8_1) {
            const lf_block_q8_1 *b = (const lf_block_q8_1 *)src + k0 / 32;
            q = b->qs + k0 % 32;
            dd = h2f(b->d);
        } else {
            const lf_block_q8_0 *b = (const lf_block_q8_0 *)src + k0 / 32;
            q = b->qs + k0 % 32;
            dd = h2f(b->d);
        }
        int32_t sum = 0;
        for (int j = 0; j < chunk; j += 4) {
            memcpy(qs + ((size_t)(k0 + j) / 4 * LF_GEMM_COLS + (size_t)c) * 4, q + j, 4);
            sum += q[j] + q[j + 1] + q[j + 2] + q[j + 3];
        }
        float *m = meta + (size_t)ch * 3 * LF_GEMM_COLS;
        int32_t nb = -g->bias * sum;
        m[c] = dd;
        memcpy(&m[LF_GEMM_COLS + c], &nb, sizeof nb);
        m[2 * LF_GEMM_COLS + c] = dd * (float)sum;
    }
}

void lf_gemm_prep_block(const lf_kernel_set *ks, const lf_gemm_desc *g, lf_type vt,
                        const void *src, size_t stride, int ncols, int K, void *acts) {
    if (ks && ks->gemm_prep_block && (vt == LF_TYPE_Q8_0 || vt == LF_TYPE_Q8_K) && K % 32 == 0) {
        ks->gemm_prep_block(g, vt, src, stride, ncols, K, acts);
        return;
    }
    memset(acts, 0, lf_gemm_acts_bytes(K, g->chunk));
    for (int c = 0; c < ncols; c++)
        lf_gemm_prep_col(g, vt, (const char *)src + (size_t)c * stride, K, acts, c);
}

/* ---- scalar tile ---------------------------------------------------------- */

void lf_gemm_tile_ref(const lf_gemm_desc *g, int K, const uint8_t *qs,
                      const float *sw, const float *mw, const void *acts,
                      int ncols, float *y, size_t ldy, int nrows) {
    const int8_t *aq = acts;
    const float *meta = (const float *)(aq + (size_t)K * LF_GEMM_COLS);
    int chunk = g->chunk, nch = K / chunk;
    for (int c = 0; c < ncols; c++) {
        for (int r = 0; r < nrows; r++) {
            float acc = 0;
            for (int ch = 0; ch < nch; ch++) {
                const float *m = meta + (size_t)ch * 3 * LF_GEMM_COLS;
                int32_t isum;
                memcpy(&isum, &m[LF_GEMM_COLS + c], sizeof isum);
                for (int k = ch * chunk; k < (ch + 1) * chunk; k++)
                    isum += qs[((size_t)k / 4 * LF_GEMM_ROWS + (size_t)r) * 4 + k % 4] *
                            aq[((size_t)k / 4 * LF_GEMM_COLS + (size_t)c) * 4 + k % 4];
                acc += (float)isum * m[c] * sw[ch * 16 + r];
                if (g->has_min)
                    acc += mw[ch * 16 + r] * m[2 * LF_GEMM_COLS + c];
            }
            y[(size_t)c * ldy + (size_t)r] = acc;
        }
    }
}

/* ---- float panels ------------------------------------------------------------ */

void lf_gemm_f_pack_ref(lf_type t, const void *w, size_t bw, int nrows, int K,
                        float *panel) {
    const lf_type_traits *tr = lf_type_traits_get(t);
    float buf[256];
    for (int r = 0; r < LF_GEMM_ROWS; r++) {
        for (int k0 = 0; k0 < K; k0 += 256) {
            int len = K - k0 < 256 ? K - k0 : 256;
            if (r < nrows)
                tr->to_float((const char *)w + (size_t)r * bw + (size_t)k0 * tr->type_size, buf, len);
            else
                memset(buf, 0, sizeof buf);
            for (int k = 0; k < len; k++)
                panel[(size_t)(k0 + k) * LF_GEMM_ROWS + (size_t)r] = buf[k];
        }
    }
}

size_t lf_gemm_f_acts_bytes(int K) {
    return ((size_t)K * LF_GEMM_COLS * sizeof(float) + 63) / 64 * 64;
}

void lf_gemm_f_prep_col(lf_type vt, const void *src, int K, float *acts, int c) {
    for (int k = 0; k < K; k++) {
        float v;
        if (vt == LF_TYPE_F16)
            v = h2f(((const lf_half *)src)[k]);
        else if (vt == LF_TYPE_BF16)
            v = lf_bf16_to_float(((const lf_bf16 *)src)[k]);
        else
            v = ((const float *)src)[k];
        acts[(size_t)k * LF_GEMM_COLS + (size_t)c] = v;
    }
}

void lf_gemm_f_prep_slice(lf_type vt, const void *src, size_t stride, int ncols, int kl,
                          float *dst) {
    for (int c = 0; c < LF_GEMM_COLS; c++) {
        if (c < ncols) {
            lf_gemm_f_prep_col(vt, (const char *)src + (size_t)c * stride, kl, dst, c);
            continue;
        }
        for (int k = 0; k < kl; k++)
            dst[(size_t)k * LF_GEMM_COLS + (size_t)c] = 0;
    }
}

void lf_gemm_f_tile_ref(int K, const float *panel, const float *acts, int ncols,
                        float *y, size_t ldy, int nrows) {
    for (int c = 0; c < ncols; c++)
        for (int r = 0; r < nrows; r++) {
            float acc = 0;
            for (int k = 0; k < K; k++)
                acc += panel[(size_t)k * LF_GEMM_ROWS + (size_t)r] *
                       acts[(size_t)k * LF_GEMM_COLS + (size_t)c];
            y[(size_t)c * ldy + (size_t)r] = acc;
        }
}
