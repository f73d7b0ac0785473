/*
 * AVX-VNNI twins of the AVX2 interleaved decode kernels (mv_il_avx2.h with
 * IL_VNNI 1): vpdpbusd sums four u8·s8 products into int32 in one
 * instruction where plain AVX2 needs vpmaddubsw + vpmaddwd (+ vpaddd),
 * and vpdpwssd folds the scale multiply into the accumulation. Compiled
 * with -mavxvnni; lf_kernels_fill_il_avx2 installs these only when the CPU
 * reports AVX-VNNI. F16 has no integer dot and keeps the plain kernel.
 */
#define IL_VNNI 1
#include "kernels/arch/x86/mv_il_avx2.h"

#define IL_FN(name, call)                                                        \
    static void mv_il_##name##_avxvnni(int n, float *s, const void *x, size_t bx, \
                                       const void *y, int nr) {                  \
        (void)bx;                                                                \
        (void)nr;                                                                \
        call;                                                                    \
    }
IL_FN(q4_0, il_q4_0_body(n, s, x, y, false))
IL_FN(q5_0, il_q4_0_body(n, s, x, y, true))
IL_FN(q8_0, il_q8_0_body(n, s, x, y))
IL_FN(q4_K, il_q45_body(n, s, x, y, false))
IL_FN(q5_K, il_q45_body(n, s, x, y, true))
IL_FN(q6_K, il_q6_body(n, s, x, y))
#undef IL_FN

void lf_kernels_fill_il_avxvnni(lf_kernel_set *ks) {
    ks->mv_il[LF_TYPE_Q4_0] = mv_il_q4_0_avxvnni;
    ks->mv_il[LF_TYPE_Q5_0] = mv_il_q5_0_avxvnni;
    ks->mv_il[LF_TYPE_Q8_0] = mv_il_q8_0_avxvnni;
    ks->mv_il[LF_TYPE_Q4_K] = mv_il_q4_K_avxvnni;
    ks->mv_il[LF_TYPE_Q5_K] = mv_il_q5_K_avxvnni;
    ks->mv_il[LF_TYPE_Q6_K] = mv_il_q6_K_avxvnni;
}
