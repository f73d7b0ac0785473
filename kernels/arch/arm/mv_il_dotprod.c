/*
 * Decode kernels over the interleaved Q4_0 and Q8_0 layouts with the
 * dot-product extension (sdot), built with -march=armv8.2-a+dotprod and
 * installed only when HWCAP reports it: the IL_DOTPROD instances of
 * mv_il_neon.h. F16 keeps the baseline kernel (no integer dot in it).
 */
#define IL_DOTPROD 1
#define IL_SUFFIX dotprod
#include "kernels/arch/arm/mv_il_neon.h"

void lf_kernels_fill_il_dotprod(lf_kernel_set *ks) {
    ks->mv_il[LF_TYPE_Q4_0] = mv_il_q4_0_dotprod;
    ks->mv_il[LF_TYPE_Q8_0] = mv_il_q8_0_dotprod;
}
