/*
 * rng — the one deterministic random-number generator of localfit:
 * xoshiro256** seeded through splitmix64. The state is the caller's, so a
 * sequence depends only on its seed, never on threads or on anything else
 * running; synthetic weights, bootstrap resampling, kernel benchmark data
 * and tests all draw from it.
 *
 * Usage:
 *     lf_rng r;
 *     lf_rng_seed(&r, 42);
 *     double u = lf_rng_uniform(&r);        // [0, 1)
 *     uint32_t k = lf_rng_below(&r, 10);    // 0..9, unbiased
 */
#ifndef LF_RNG_H
#define LF_RNG_H

#include <stdint.h>

typedef struct lf_rng {
    uint64_t s[4];
} lf_rng;

void lf_rng_seed(lf_rng *r, uint64_t seed);
uint64_t lf_rng_next(lf_rng *r);
double lf_rng_uniform(lf_rng *r);            /* [0, 1), 53 bits */
double lf_rng_normal(lf_rng *r);             /* N(0, 1), Box-Muller */
uint32_t lf_rng_below(lf_rng *r, uint32_t n);   /* [0, n), unbiased; n > 0 */

/* Single-precision draws for bulk generation (synthetic weights), where a
 * transcendental per value would cost more than the weights are worth. */
static inline float lf_rng_uniformf(lf_rng *r) {   /* [0, 1), 24 bits */
    return (float)(lf_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}
/* Approximately N(0, 1): the sum of four 16-bit uniforms (Irwin-Hall). */
float lf_rng_normalf(lf_rng *r);

#endif /* LF_RNG_H */
