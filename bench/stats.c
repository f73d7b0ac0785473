/*
 * Statistics for benchmark samples: location and spread, the confidence
 * interval of the median (distribution-free, bootstrap for tiny n), the
 * stopping rule the runner repeats tests by, the ratio of two medians with
 * a bootstrap interval, and the Mann-Whitney U test. Benchmark timings are
 * skewed and have outliers (a page fault, a context switch), so everything
 * here is about medians and ranks rather than means and t-tests.
 *
 * Randomness only ever comes from an lf_rng the caller passes in (or
 * a local one with a fixed seed), so every number is reproducible.
 */
#include "bench/bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. random numbers ------------------------------------------------------ */

/* ---- 2. basic statistics ----------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A sorted private copy; NULL on allocation failure. */
static double *sorted_copy(const double *x, int n) {
    double *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    if (!s)
        return NULL;
    memcpy(s, x, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return s;
}

double lf_stats_mean(const double *x, int n) {
    if (n < 1)
        return NAN;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += x[i];
    return sum / n;
}

double lf_stats_stddev(const double *x, int n) {
    if (n < 2)
        return NAN;
    double m = lf_stats_mean(x, n), ss = 0;
    for (int i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    return sqrt(ss / (n - 1));
}

static double median_sorted(const double *s, int n) {
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

double lf_stats_median(const double *x, int n) {
    if (n < 1)
        return NAN;
    double *s = sorted_copy(x, n);
    if (!s)
        return NAN;
    double m = median_sorted(s, n);
    free(s);
    return m;
}

double lf_stats_quantile_sorted(const double *s, int n, double p) {
    if (n < 1 || !(p >= 0 && p <= 1))
        return NAN;
    double h = (n - 1) * p;
    int lo = (int)floor(h);
    if (lo >= n - 1)
        return s[n - 1];
    return s[lo] + (h - lo) * (s[lo + 1] - s[lo]);
}

double lf_stats_quantile(const double *x, int n, double p) {
    if (n < 1)
        return NAN;
    double *s = sorted_copy(x, n);
    if (!s)
        return NAN;
    double q = lf_stats_quantile_sorted(s, n, p);
    free(s);
    return q;
}

/* ---- median CI -------------------------------------------------------------- */

/* Median of n values drawn with replacement from x, using scratch[n]. */
static double resampled_median(const double *x, int n, double *scratch, lf_rng *rng) {
    for (int i = 0; i < n; i++)
        scratch[i] = x[lf_rng_below(rng, (uint32_t)n)];
    /* Benchmark sample sets are small and this runs thousands of times per
     * comparison: insertion sort beats qsort's call overhead there. */
    if (n <= 32) {
        for (int i = 1; i < n; i++) {
            double v = scratch[i];
            int j = i - 1;
            while (j >= 0 && scratch[j] > v) {
                scratch[j + 1] = scratch[j];
                j--;
            }
            scratch[j + 1] = v;
        }
    } else {
        qsort(scratch, (size_t)n, sizeof *scratch, cmp_double);
    }
    return median_sorted(scratch, n);
}

#define LF_FALLBACK_BOOT 2000
#define LF_FALLBACK_SEED 0x6d656469616eull   /* "median" */

int lf_stats_median_ci(const double *x, int n, double conf, lf_rng *rng,
                       lf_stats_ci *out) {
    memset(out, 0, sizeof *out);
    out->lo = out->hi = NAN;
    if (!(conf > 0 && conf < 1))
        return LF_EINVAL;
    if (n < 2)
        return 0;
    double half_alpha = (1 - conf) / 2;

    /* Largest k with P(B <= k-1) <= alpha/2, B ~ Binomial(n, 1/2); terms in
     * log space so large n does not underflow 2^-n. */
    int k = 0;
    double cdf = 0;   /* P(B <= k-1) for the current k */
    for (int j = 0; j < n / 2; j++) {
        double logp = lgamma(n + 1.0) - lgamma(j + 1.0) - lgamma(n - j + 1.0) - n * M_LN2;
        double next = cdf + exp(logp);   /* P(B <= j) */
        if (next > half_alpha)
            break;
        cdf = next;
        k = j + 1;
    }
    if (k >= 1) {
        double *s = sorted_copy(x, n);
        if (!s)
            return LF_ENOMEM;
        out->lo = s[k - 1];
        out->hi = s[n - k];
        out->lo_rank = k;
        out->hi_rank = n + 1 - k;
        /* cdf is P(B <= k-1) for the chosen k. */
        out->coverage = 1 - 2 * cdf;
        out->method = LF_CI_ORDER_STAT;
        free(s);
        return 0;
    }

    /* Too few samples for a distribution-free interval at this level. */
    lf_rng local;
    if (!rng) {
        lf_rng_seed(&local, LF_FALLBACK_SEED ^ (uint64_t)n);
        rng = &local;
    }
    double *meds = malloc(LF_FALLBACK_BOOT * sizeof *meds);
    double *scratch = malloc((size_t)n * sizeof *scratch);
    if (!meds || !scratch) {
        free(meds);
        free(scratch);
        return LF_ENOMEM;
    }
    for (int b = 0; b < LF_FALLBACK_BOOT; b++)
        meds[b] = resampled_median(x, n, scratch, rng);
    qsort(meds, LF_FALLBACK_BOOT, sizeof *meds, cmp_double);
    out->lo = lf_stats_quantile_sorted(meds, LF_FALLBACK_BOOT, half_alpha);
    out->hi = lf_stats_quantile_sorted(meds, LF_FALLBACK_BOOT, 1 - half_alpha);
    out->coverage = conf;
    out->method = LF_CI_BOOTSTRAP;
    free(meds);
    free(scratch);
    return 0;
}

int lf_stats_summarize(const double *x, int n, lf_stats_summary *out) {
    memset(out, 0, sizeof *out);
    out->n = n;
    out->median = out->mean = out->stddev = out->min = out->max = NAN;
    out->ci.lo = out->ci.hi = NAN;
    if (n < 1)
        return 0;
    double *s = sorted_copy(x, n);
    if (!s)
        return LF_ENOMEM;
    out->median = median_sorted(s, n);
    out->min = s[0];
    out->max = s[n - 1];
    free(s);
    out->mean = lf_stats_mean(x, n);
    out->stddev = lf_stats_stddev(x, n);
    return lf_stats_median_ci(x, n, 0.95, NULL, &out->ci);
}

void lf_stats_fill_result(const double *x, int n, lf_result *r) {
    lf_stats_summary s;
    if (lf_stats_summarize(x, n, &s) < 0)
        return;
    r->n_samples = n;
    r->median = s.median;
    r->mean = s.mean;
    r->stddev = s.stddev;
    r->ci_low = s.ci.lo;
    r->ci_high = s.ci.hi;
}

bool lf_stats_precise_enough(const double *samples, int n, double target_rel_width, int min_n) {
    if (n < 2 || n < min_n || !(target_rel_width > 0))
        return false;
    double m = lf_stats_median(samples, n);
    lf_stats_ci ci;
    if (!(m != 0) || lf_stats_median_ci(samples, n, 0.95, NULL, &ci) < 0 ||
        ci.method == LF_CI_NONE)
        return false;
    double half = fmax(m - ci.lo, ci.hi - m);
    return half <= target_rel_width * fabs(m);
}

/* ---- ratio of medians ------------------------------------------------------- */

int lf_stats_ratio_ci(const double *num, int n_num, const double *den, int n_den,
                      double conf, int n_boot, lf_rng *rng,
                      double *ratio, double *lo, double *hi) {
    *ratio = *lo = *hi = NAN;
    if (n_num < 1 || n_den < 1 || !(conf > 0 && conf < 1) || !rng)
        return LF_EINVAL;
    if (n_boot < 100)
        n_boot = 100;
    double mn = lf_stats_median(num, n_num), md = lf_stats_median(den, n_den);
    if (!(md > 0) || isnan(mn))
        return LF_EINVAL;
    *ratio = mn / md;
    double *r = malloc((size_t)n_boot * sizeof *r);
    double *scratch = malloc((size_t)(n_num > n_den ? n_num : n_den) * sizeof *scratch);
    if (!r || !scratch) {
        free(r);
        free(scratch);
        return LF_ENOMEM;
    }
    int kept = 0;
    for (int b = 0; b < n_boot; b++) {
        double a = resampled_median(num, n_num, scratch, rng);
        double d = resampled_median(den, n_den, scratch, rng);
        if (d > 0)
            r[kept++] = a / d;
    }
    if (kept > 0) {
        qsort(r, (size_t)kept, sizeof *r, cmp_double);
        *lo = lf_stats_quantile_sorted(r, kept, (1 - conf) / 2);
        *hi = lf_stats_quantile_sorted(r, kept, 1 - (1 - conf) / 2);
    }
    free(r);
    free(scratch);
    return 0;
}

/* ---- Mann-Whitney U --------------------------------------------------------- */

typedef struct tagged {
    double v;
    int from_a;
} tagged;

static int cmp_tagged(const void *a, const void *b) {
    return cmp_double(&((const tagged *)a)->v, &((const tagged *)b)->v);
}

/* Number of arrangements of m a's and n b's for each U = 0..m*n: the
 * coefficients of the Gaussian binomial [m+n choose m]_q, built as
 * prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i). After step i the polynomial is
 * [n+i choose i]_q (degree i*n, non-negative integer coefficients), so the
 * doubles stay exact while the counts stay below 2^53 and accurate to
 * rounding beyond. counts has m*n+1 entries. */
static void mwu_counts(int m, int n, double *counts) {
    int deg_max = m * n;
    memset(counts, 0, (size_t)(deg_max + 1) * sizeof *counts);
    counts[0] = 1;
    for (int i = 1; i <= m; i++) {
        int deg = i * n;   /* degree after this step */
        int k = n + i;
        /* times (1 - q^k), descending so c[u - k] is still the old value */
        int top = deg + i < deg_max ? deg + i : deg_max;
        for (int u = top; u >= k; u--)
            counts[u] -= counts[u - k];
        /* divided by (1 - q^i): c[u] += c[u - i], ascending */
        for (int u = i; u <= deg; u++)
            counts[u] += counts[u - i];
        for (int u = deg + 1; u <= deg_max && u <= deg + i; u++)
            counts[u] = 0;
    }
}

int lf_stats_mann_whitney(const double *a, int na, const double *b, int nb, lf_mwu *out) {
    memset(out, 0, sizeof *out);
    out->p = NAN;
    if (na < 1 || nb < 1)
        return LF_EINVAL;
    int N = na + nb;
    tagged *t = malloc((size_t)N * sizeof *t);
    if (!t)
        return LF_ENOMEM;
    for (int i = 0; i < na; i++)
        t[i] = (tagged){a[i], 1};
    for (int j = 0; j < nb; j++)
        t[na + j] = (tagged){b[j], 0};
    qsort(t, (size_t)N, sizeof *t, cmp_tagged);

    /* Mid-ranks; the rank sum of a gives U; tie groups give the variance
     * correction sum(t^3 - t). */
    double rank_sum_a = 0, tie_term = 0;
    for (int i = 0; i < N;) {
        int j = i;
        while (j + 1 < N && t[j + 1].v == t[i].v)
            j++;
        double mid = (i + j + 2) / 2.0;   /* ranks are 1-based */
        for (int k = i; k <= j; k++)
            if (t[k].from_a)
                rank_sum_a += mid;
        double g = j - i + 1;
        if (g > 1) {
            tie_term += g * g * g - g;
            out->ties = true;
        }
        i = j + 1;
    }
    free(t);
    double u = rank_sum_a - na * (na + 1) / 2.0;
    out->u = u;
    double mu = na * (double)nb / 2.0;

    if (!out->ties && na < 50 && nb < 50) {
        int m = na, n = nb;
        double *c = malloc((size_t)(m * n + 1) * sizeof *c);
        if (!c)
            return LF_ENOMEM;
        mwu_counts(m, n, c);
        double total = 0, le = 0, ge = 0;
        int ui = (int)llround(u);
        for (int k = 0; k <= m * n; k++) {
            total += c[k];
            if (k <= ui)
                le += c[k];
            if (k >= ui)
                ge += c[k];
        }
        free(c);
        double p = 2 * fmin(le, ge) / total;
        out->p = p > 1 ? 1 : p;
        out->exact = true;
        return 0;
    }

    double var = na * (double)nb / 12.0 * ((N + 1) - tie_term / ((double)N * (N - 1)));
    if (!(var > 0)) {
        out->p = 1;   /* every value equal: no evidence of any difference */
        return 0;
    }
    double d = u - mu;
    double cc = d > 0 ? -0.5 : d < 0 ? 0.5 : 0;   /* continuity correction toward mu */
    if (fabs(d) <= 0.5)
        cc = -d;
    double z = (d + cc) / sqrt(var);
    out->z = z;
    out->p = fmin(1.0, erfc(fabs(z) / M_SQRT2));
    return 0;
}

/* ---- power: what a sample size can detect ------------------------------------ */

double lf_stats_mwu_min_p(int na, int nb) {
    if (na < 1 || nb < 1)
        return 1;
    /* The most extreme U has one arrangement out of C(na+nb, na), on each
     * side: p = 2 / C(na+nb, na). lgamma keeps large sizes finite. */
    double log_c = lgamma(na + nb + 1.0) - lgamma(na + 1.0) - lgamma(nb + 1.0);
    double p = 2 * exp(-log_c);
    return p > 1 ? 1 : p;
}

int lf_stats_mwu_min_n(double alpha) {
    for (int n = 1; n < 64; n++)
        if (lf_stats_mwu_min_p(n, n) <= alpha)
            return n;
    return 64;
}

double lf_stats_signrank_min_p(int n) {
    return n < 1 ? 1 : fmin(1.0, 2 * ldexp(1.0, -n));
}

double lf_stats_normal_cdf(double x) { return 0.5 * erfc(-x / M_SQRT2); }

/* Inverse by bisection: the CDF is monotone and cheap, and 200 halvings of
 * [-40, 40] reach double precision; no rational approximation to trust. */
double lf_stats_normal_quantile(double p) {
    if (!(p > 0 && p < 1))
        return p == 0 ? -INFINITY : p == 1 ? INFINITY : NAN;
    double lo = -40, hi = 40;
    for (int i = 0; i < 200 && hi - lo > 1e-15; i++) {
        double mid = 0.5 * (lo + hi);
        if (lf_stats_normal_cdf(mid) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Continued fraction of the regularized incomplete beta I_x(a, b), valid
 * and fast for x < (a + 1) / (a + b + 2) (modified Lentz evaluation). */
static double beta_cf(double a, double b, double x) {
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 300; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));   /* even step */
        d = 1 + num * d;
        c = 1 + num / c;
        d = 1 / (fabs(d) < tiny ? tiny : d);
        c = fabs(c) < tiny ? tiny : c;
        h *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));   /* odd step */
        d = 1 + num * d;
        c = 1 + num / c;
        d = 1 / (fabs(d) < tiny ? tiny : d);
        c = fabs(c) < tiny ? tiny : c;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1) < 1e-15)
            break;
    }
    return h;
}

static double incomplete_beta(double a, double b, double x) {
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2))
        return front * beta_cf(a, b, x) / a;
    return 1 - front * beta_cf(b, a, 1 - x) / b;   /* symmetry: I_x(a,b) = 1 - I_{1-x}(b,a) */
}

double lf_stats_t_cdf(double t, double df) {
    if (!(df > 0) || isnan(t))
        return NAN;
    if (isinf(t))
        return t > 0 ? 1 : 0;
    /* P(|T| > |t|) = I_{df/(df+t^2)}(df/2, 1/2). */
    double tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t));
    return t > 0 ? 1 - tail : tail;
}

double lf_stats_t_quantile(double p, double df) {
    if (!(p > 0 && p < 1) || !(df > 0))
        return NAN;
    double lo = -1e6, hi = 1e6;
    for (int i = 0; i < 200 && hi - lo > 1e-12 * fmax(1, fabs(lo)); i++) {
        double mid = 0.5 * (lo + hi);
        if (lf_stats_t_cdf(mid, df) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Sample standard deviation of log(x); NAN when n < 2 or a value <= 0. */
double lf_stats_log_sd(const double *x, int n) {
    if (n < 2)
        return NAN;
    double m = 0, ss = 0;
    for (int i = 0; i < n; i++) {
        if (!(x[i] > 0))
            return NAN;
        m += log(x[i]);
    }
    m /= n;
    for (int i = 0; i < n; i++)
        ss += (log(x[i]) - m) * (log(x[i]) - m);
    return sqrt(ss / (n - 1));
}

int lf_stats_welch_log(const double *a, int na, const double *b, int nb, double *p) {
    *p = NAN;
    if (na < 2 || nb < 2)
        return LF_EINVAL;
    double sa = lf_stats_log_sd(a, na), sb = lf_stats_log_sd(b, nb);
    if (isnan(sa) || isnan(sb))
        return LF_EINVAL;
    double ma = 0, mb = 0;
    for (int i = 0; i < na; i++)
        ma += log(a[i]) / na;
    for (int i = 0; i < nb; i++)
        mb += log(b[i]) / nb;
    double va = sa * sa / na, vb = sb * sb / nb, se2 = va + vb;
    if (!(se2 > 0)) {
        *p = ma == mb ? 1 : 0;   /* no spread at all: any difference is exact */
        return 0;
    }
    /* Welch-Satterthwaite degrees of freedom. */
    double df = se2 * se2 / (va * va / (na - 1) + vb * vb / (nb - 1));
    double t = (ma - mb) / sqrt(se2);
    *p = fmin(1.0, 2 * lf_stats_t_cdf(-fabs(t), df));
    return 0;
}

double lf_stats_min_detectable(double log_sd, int na, int nb, double alpha, double power) {
    if (na < 2 || nb < 2 || !(log_sd >= 0) || !(alpha > 0 && alpha < 1) || !(power > 0 && power < 1))
        return NAN;
    double df = na + nb - 2;
    double k = lf_stats_t_quantile(1 - alpha / 2, df) + lf_stats_normal_quantile(power);
    return -expm1(-k * log_sd * sqrt(1.0 / na + 1.0 / nb));
}

int lf_stats_n_needed(double log_sd, double threshold, double alpha, double power, int n_max) {
    int n = lf_stats_mwu_min_n(alpha);
    if (n < 2)
        n = 2;
    if (isnan(log_sd))
        return n < n_max ? n : n_max;
    for (; n < n_max; n++)
        if (lf_stats_min_detectable(log_sd, n, n, alpha, power) <= threshold)
            break;
    return n < n_max ? n : n_max;
}
