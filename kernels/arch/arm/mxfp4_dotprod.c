/*
 * MXFP4 × Q8_0 dot product and matrix-vector kernel with the dot-product
 * extension (sdot), built with -march=armv8.2-a+dotprod and installed only
 * when HWCAP reports it: the MX_DOTPROD 1 instance of mxfp4_neon.h.
 */
#define MX_DOTPROD 1
#define MX_SUFFIX dotprod
#include "kernels/arch/arm/mxfp4_neon.h"

void lf_kernels_fill_mxfp4_dotprod(lf_kernel_set *ks) {
    ks->vec_dot[LF_TYPE_MXFP4] = dot_mxfp4_dotprod;
    ks->mv[LF_TYPE_MXFP4] = mv_mxfp4_dotprod;
}
