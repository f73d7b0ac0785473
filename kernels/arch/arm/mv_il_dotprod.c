/*
 * Decode kernels over the interleaved integer layouts (Q4_0, Q5_0, Q8_0,
 * Q4_K, Q5_K, Q6_K) with the dot-product extension (sdot), built with
 * -march=armv8.2-a+dotprod and installed only when HWCAP reports it: the
 * IL_DOTPROD instances of mv_il_neon.h. F16 keeps the baseline kernel (no
 * integer dot in it).
 */
#define IL_DOTPROD 1
#define IL_SUFFIX dotprod
#include "kernels/arch/arm/mv_il_neon.h"

void lf_kernels_fill_il_dotprod(lf_kernel_set *ks) {
    ks->mv_il[LF_TYPE_Q4_0] = mv_il_q4_0_dotprod;
    ks->mv_il[LF_TYPE_Q8_0] = mv_il_q8_0_dotprod;
    ks->mv_il[LF_TYPE_Q5_0] = mv_il_q5_0_dotprod;
    ks->mv_il[LF_TYPE_Q4_K] = mv_il_q4_K_dotprod;
    ks->mv_il[LF_TYPE_Q5_K] = mv_il_q5_K_dotprod;
    ks->mv_il[LF_TYPE_Q6_K] = mv_il_q6_K_dotprod;
}
