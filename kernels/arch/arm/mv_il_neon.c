/*
 * Baseline ASIMD decode kernels over the interleaved layouts: the
 * instances of mv_il_neon.h without the dot-product extension, and the
 * fill function that installs them into the NEON kernel set (Q4_0, Q5_0,
 * Q8_0, F16, Q4_K, Q5_K, Q6_K). Installing mv_il for a type is also what
 * makes models load with that type's matrices interleaved
 * (lf_mat_can_interleave). Where the CPU has sdot,
 * lf_kernels_fill_il_dotprod replaces the integer ones.
 */
#define IL_DOTPROD 0
#define IL_SUFFIX neon
#include "kernels/arch/arm/mv_il_neon.h"

void lf_kernels_fill_il_neon(lf_kernel_set *ks) {
    ks->mv_il[LF_TYPE_Q4_0] = mv_il_q4_0_neon;
    ks->mv_il[LF_TYPE_Q8_0] = mv_il_q8_0_neon;
    ks->mv_il[LF_TYPE_F16] = mv_il_f16_neon;
    ks->mv_il[LF_TYPE_Q5_0] = mv_il_q5_0_neon;
    ks->mv_il[LF_TYPE_Q4_K] = mv_il_q4_K_neon;
    ks->mv_il[LF_TYPE_Q5_K] = mv_il_q5_K_neon;
    ks->mv_il[LF_TYPE_Q6_K] = mv_il_q6_K_neon;
}
