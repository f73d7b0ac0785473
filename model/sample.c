/*
 * Token sampling from logits: greedy, and temperature + nucleus (top-p)
 * sampling. The nucleus is found by bisection on a probability threshold
 * instead of sorting the vocabulary, so it needs one float buffer and no
 * index array; the result is the same set a sort would keep (ties at the
 * threshold are kept together).
 */
#include "model/model_internal.h"

#include <math.h>
#include <stdlib.h>

int32_t lf_sample_greedy(const float *logits, int n_vocab) {
    int32_t best = 0;
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > logits[best])
            best = i;
    return best;
}

/* xorshift64*: small, fast, and its state is one integer the caller keeps. */
static uint64_t next_u64(uint64_t *s) {
    uint64_t x = *s ? *s : 0x2545f4914f6cdd1dull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

int32_t lf_sample_scratch(const float *logits, int n_vocab, float temp, float top_p,
                          uint64_t *rng_state, float *p) {
    if (!(temp > 0) || n_vocab <= 1)
        return lf_sample_greedy(logits, n_vocab);
    const float mx = logits[lf_sample_greedy(logits, n_vocab)];
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) {
        p[i] = expf((logits[i] - mx) / temp);
        sum += p[i];
    }
    /* threshold: the largest t whose {p >= t} still holds top_p of the mass */
    float t = 0;
    double kept = sum;
    if (top_p > 0 && top_p < 1) {
        float lo = 0, hi = 1.0f;   /* the top token has p = 1 exactly */
        const double want = top_p * sum;
        for (int it = 0; it < 30; it++) {
            float mid = 0.5f * (lo + hi);
            double mass = 0;
            for (int i = 0; i < n_vocab; i++)
                if (p[i] >= mid)
                    mass += p[i];
            if (mass >= want)
                lo = mid;
            else
                hi = mid;
        }
        t = lo;
        kept = 0;
        for (int i = 0; i < n_vocab; i++)
            if (p[i] >= t)
                kept += p[i];
    }
    double u = (double)(next_u64(rng_state) >> 11) * (1.0 / 9007199254740992.0) * kept;
    double acc = 0;
    int32_t last = 0;
    for (int i = 0; i < n_vocab; i++) {
        if (p[i] < t)
            continue;
        acc += p[i];
        last = i;
        if (acc > u)
            return i;
    }
    return last;
}

int32_t lf_sample(const float *logits, int n_vocab, float temp, float top_p, uint64_t *rng_state) {
    if (!(temp > 0))
        return lf_sample_greedy(logits, n_vocab);
    float *p = malloc((size_t)n_vocab * sizeof *p);
    if (!p)
        return lf_sample_greedy(logits, n_vocab);
    int32_t r = lf_sample_scratch(logits, n_vocab, temp, top_p, rng_state, p);
    free(p);
    return r;
}
