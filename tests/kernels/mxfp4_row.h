/*
 * The MXFP4 test row (tests/kernels/test_mxfp4.c): 8 blocks of 32 covering
 * zeros, exact levels, ties between levels, mixed magnitudes and signs,
 * one outlier. Deterministic (its own LCG), so the blocks GGML's quantizer
 * made from it can be recorded.
 */
#ifndef LF_TEST_MXFP4_ROW_H
#define LF_TEST_MXFP4_ROW_H

#include <math.h>
#include <stdint.h>

static void mx_test_row(float *x) {
    uint32_t s = 12345;
    for (int i = 0; i < 256; i++) {
        int b = i / 32, j = i % 32;
        s = s * 1664525u + 1013904223u;
        float u = (float)(s >> 8) / 16777216.0f * 2.0f - 1.0f;   /* [-1, 1) */
        switch (b) {
        case 0: x[i] = 0.0f; break;
        case 1: x[i] = (float)((j % 16) - 8) * 0.25f; break;            /* on and between levels */
        case 2: x[i] = 0.125f * (float)(j % 13) + (j & 1 ? 0.0625f : 0); break; /* midpoints */
        case 3: x[i] = u * 1e-3f; break;
        case 4: x[i] = u * 1000.0f; break;
        case 5: x[i] = (j == 7 ? 37.0f : u * 0.01f); break;           /* one outlier */
        case 6: x[i] = -fabsf(u) * 3.0f; break;
        default: x[i] = u * ldexpf(1.0f, (j % 9) - 4); break;
        }
    }
}

#endif
