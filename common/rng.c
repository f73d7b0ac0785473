/*
 * The generator behind common/rng.h: xoshiro256** (Blackman and Vigna),
 * its four words of state filled from the seed by splitmix64 so that any
 * seed, 0 included, gives a well-mixed start.
 */
#include "common/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void lf_rng_seed(lf_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t lf_rng_next(lf_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double lf_rng_uniform(lf_rng *r) {
    return (double)(lf_rng_next(r) >> 11) * 0x1.0p-53;
}

double lf_rng_normal(lf_rng *r) {
    double u1;
    do
        u1 = lf_rng_uniform(r);
    while (u1 <= 0.0);
    double u2 = lf_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint32_t lf_rng_below(lf_rng *r, uint32_t n) {
    /* Multiply-shift with rejection of the biased low range. */
    uint64_t m = (lf_rng_next(r) >> 32) * (uint64_t)n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t floor = (uint32_t)(-n) % n;
        while (low < floor) {
            m = (lf_rng_next(r) >> 32) * (uint64_t)n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float lf_rng_normalf(lf_rng *r) {
    /* Irwin-Hall with four 16-bit uniforms: mean 2, variance 4/12 */
    uint64_t v = lf_rng_next(r);
    float s = (float)(v & 0xffff) + (float)((v >> 16) & 0xffff) + (float)((v >> 32) & 0xffff) +
              (float)(v >> 48);
    return (s * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}
