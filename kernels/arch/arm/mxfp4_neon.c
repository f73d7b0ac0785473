/*
 * MXFP4 × Q8_0 dot product and matrix-vector kernel for baseline ASIMD
 * (no dot-product extension): the MX_DOTPROD 0 instance of mxfp4_neon.h,
 * installed into every NEON kernel set. Where the CPU has sdot,
 * lf_kernels_fill_mxfp4_dotprod (mxfp4_dotprod.c) replaces it.
 */
#define MX_DOTPROD 0
#define MX_SUFFIX neon
#include "kernels/arch/arm/mxfp4_neon.h"

void lf_kernels_fill_mxfp4_neon(lf_kernel_set *ks) {
    ks->vec_dot[LF_TYPE_MXFP4] = dot_mxfp4_neon;
    ks->mv[LF_TYPE_MXFP4] = mv_mxfp4_neon;
}
