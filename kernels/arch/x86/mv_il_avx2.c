/*
 * AVX2 (+ FMA, F16C) decode kernels over the interleaved layouts: the
 * plain instances of the bodies in mv_il_avx2.h, and the fill function
 * that installs them, or their AVX-VNNI twins (mv_il_avxvnni.c) where the
 * CPU has AVX-VNNI. Installing mv_il for a type is also what makes models
 * load with that type's matrices interleaved (lf_mat_can_interleave).
 *
 * Q5_K is the exception: without AVX-VNNI its kernel spends more than
 * half its operations turning the fifth-bit masks into bytes (a vpshufb,
 * two ands, a compare and an or per 32 quants, where AVX-512 adds them
 * under a mask register), and measured slower than the row kernel of
 * vecdot_avx2.c (one thread, 2048 x 256 in L2, CPU time: 11 against
 * 15 GB/s), so plain AVX2 keeps Q5_K matrices as stored; the AVX-VNNI
 * kernel, which saves the dot's other operations, is ahead (18 against
 * 15) and is installed.
 */
#define IL_VNNI 0
#include "kernels/arch/x86/mv_il_avx2.h"

#define IL_FN(name, call)                                                        \
    static void mv_il_##name##_avx2(int n, float *s, const void *x, size_t bx,    \
                                    const void *y, int nr) {                     \
        (void)bx;                                                                \
        (void)nr; /* always LF_IL_ROWS: the layout fixes the rows */             \
        call;                                                                    \
    }
IL_FN(q4_0, il_q4_0_body(n, s, x, y, false))
IL_FN(q5_0, il_q4_0_body(n, s, x, y, true))
IL_FN(q8_0, il_q8_0_body(n, s, x, y))
IL_FN(f16, il_f16_body(n, s, x, y))
IL_FN(q4_K, il_q45_body(n, s, x, y, false))
IL_FN(q6_K, il_q6_body(n, s, x, y))
#undef IL_FN

void lf_kernels_fill_il_avx2(lf_kernel_set *ks, bool avxvnni) {
    ks->mv_il[LF_TYPE_Q4_0] = mv_il_q4_0_avx2;
    ks->mv_il[LF_TYPE_Q5_0] = mv_il_q5_0_avx2;
    ks->mv_il[LF_TYPE_Q8_0] = mv_il_q8_0_avx2;
    ks->mv_il[LF_TYPE_F16] = mv_il_f16_avx2;
    ks->mv_il[LF_TYPE_Q4_K] = mv_il_q4_K_avx2;
    ks->mv_il[LF_TYPE_Q6_K] = mv_il_q6_K_avx2;
    if (avxvnni)
        lf_kernels_fill_il_avxvnni(ks);
}
