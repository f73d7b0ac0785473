/*
 * The current device profile, got in one place: a quick probe (identity
 * and limits, no microbenchmark), then the bandwidth and compute figures
 * the caller's mode asks for — reused from the profile the store holds for
 * the same device id, or measured now — and, when asked, the measured
 * profile stored so the next command reuses it. It lives in bench/, the
 * lowest layer that has both the probes and the store; recommend/ and
 * reports/ only read a profile they are given or that is stored.
 */
#include "bench/bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void lf_device_opts_init(lf_device_opts *o) {
    memset(o, 0, sizeof *o);
    o->mode = LF_DEVICE_QUICK;
}

int lf_device_store(lf_store *st, const lf_device *d, lf_error *err) {
    if (!st || !d->id[0])
        return 0;
    char *json = NULL;
    int rc = lf_device_to_json(d, &json, err);
    if (rc == 0)
        rc = lf_store_device_put(st, d->id, d->slug, json, err);
    free(json);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double lf_device_stored_bandwidth(lf_store *st, const char *device_id) {
    if (!st || !device_id || !device_id[0])
        return 0;
    char *json = NULL;
    lf_device *d = malloc(sizeof *d);
    lf_result *res = NULL;
    int n = 0;
    if (!d)
        return 0;
    bool have = lf_store_device_get(st, device_id, NULL, 0, &json, NULL) == 0 &&
                lf_device_from_json(d, json, NULL) == 0 && d->bandwidth.measured &&
                d->bandwidth.read_gbs > 0;
    double prof = have ? d->bandwidth.read_gbs : 0;
    free(json);
    free(d);
    if (lf_store_device_results(st, device_id, -1, &res, &n, NULL) < 0)
        n = 0;
    double *v = malloc(sizeof *v * (size_t)(n + 1));
    int m = 0;
    if (v) {
        if (prof > 0)
            v[m++] = prof;
        for (int i = 0; i < n; i++)
            if (isfinite(res[i].roof_gbs) && res[i].roof_gbs > 0)
                v[m++] = res[i].roof_gbs;
    }
    free(res);
    double med = 0;
    if (m > 0) {
        qsort(v, (size_t)m, sizeof *v, cmp_double);
        med = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    }
    free(v);
    return m > 0 ? med : prof;
}

bool lf_device_noise(double now_gbs, double ref_gbs, char *msg, size_t size) {
    if (size)
        msg[0] = '\0';
    if (!(now_gbs > 0 && ref_gbs > 0) || fabs(now_gbs - ref_gbs) <= LF_DEVICE_NOISE_FRAC * ref_gbs)
        return false;
    double pct = fabs(now_gbs / ref_gbs - 1.0) * 100.0;
    snprintf(msg, size,
             "read bandwidth measured now, %.1f GB/s, is %.0f%% %s this device's stored median "
             "%.1f GB/s: %s",
             now_gbs, pct, now_gbs < ref_gbs ? "below" : "above", ref_gbs,
             now_gbs < ref_gbs ? "other work is competing for memory, so speeds measured now "
                                 "are likely low"
                               : "the stored figure was measured under load or on other memory");
    return true;
}

/* Completes out with the stored profile's measured figures; true when the
 * stored bandwidth was measured (the compute peaks come along when they
 * were measured too). */
static bool reuse_stored(lf_store *st, lf_device *out) {
    if (!st)
        return false;
    char *json = NULL;
    lf_device *old = malloc(sizeof *old);
    bool ok = old && lf_store_device_get(st, out->id, NULL, 0, &json, NULL) == 0 &&
              lf_device_from_json(old, json, NULL) == 0 && old->bandwidth.measured;
    if (ok) {
        out->bandwidth = old->bandwidth;
        if (old->compute.measured)
            out->compute = old->compute;
    }
    free(json);
    free(old);
    return ok;
}

/* Measures what out lacks. A failure fails the call, or with best_effort
 * leaves the figure unmeasured and says why in note. */
static int measure(const lf_device_opts *o, lf_device *out, char *note, size_t note_size,
                   lf_error *err) {
    if (o->log)
        fprintf(o->log, "%s: measuring bandwidth and compute peaks (a few seconds, once per device)\n",
                o->log_name ? o->log_name : "localfit");
    int threads = out->limits.usable_threads > 0 ? out->limits.usable_threads : 0;
    lf_error e = {0};
    int rc = 0;
    if (!out->bandwidth.measured && (rc = lf_probe_bandwidth(threads, false, &out->bandwidth, &e)) < 0) {
        if (!o->best_effort) {
            if (err)
                *err = e;
            return rc;
        }
        snprintf(note, note_size, "bandwidth not measured: %s", e.msg);
    }
    if (!out->compute.measured &&
        (rc = lf_probe_compute(threads, o->quick_compute, NULL, &out->compute, &e)) < 0) {
        if (!o->best_effort) {
            if (err)
                *err = e;
            return rc;
        }
        snprintf(note, note_size, "compute not measured: %s", e.msg);
    }
    return 0;
}

int lf_device_current(lf_store *st, const lf_device_opts *o, lf_device *out, char *note,
                      size_t note_size, lf_error *err) {
    lf_device_opts defaults;
    if (!o) {
        lf_device_opts_init(&defaults);
        o = &defaults;
    }
    char dummy[8];
    if (!note) {
        note = dummy;
        note_size = sizeof dummy;
    }
    note[0] = '\0';
    lf_probe_opts po = lf_probe_opts_default();
    po.quick = o->mode != LF_DEVICE_FULL;
    if (o->mode == LF_DEVICE_LIMITS) {
        /* only the limits: no GPU library either (about 20 ms) */
        po.no_bandwidth = po.no_compute = true;
        po.nvml_path = "";
    }
    int rc = lf_probe_device(out, &po, err);
    if (rc < 0)
        return rc;
    bool measured_now = o->mode == LF_DEVICE_FULL;
    if (o->mode == LF_DEVICE_STORED && reuse_stored(st, out)) {
        snprintf(note, note_size, "bandwidth and compute from the stored profile of %s", out->slug);
        out->quick = false;
        if (out->compute.measured)
            return 0;
    }
    if (o->mode == LF_DEVICE_STORED || o->mode == LF_DEVICE_MEASURE) {
        bool had_bandwidth = out->bandwidth.measured;
        if ((rc = measure(o, out, note, note_size, err)) < 0)
            return rc;
        out->quick = false;
        measured_now = !had_bandwidth;
        if (measured_now && !note[0])
            snprintf(note, note_size, "bandwidth and compute measured now");
    }
    /* Before a new profile replaces it: is this measurement typical? */
    char noise[256];
    if (measured_now && out->bandwidth.measured &&
        lf_device_noise(out->bandwidth.read_gbs, lf_device_stored_bandwidth(st, out->id), noise,
                        sizeof noise)) {
        if (o->log)
            fprintf(o->log, "%s: warning: %s\n", o->log_name ? o->log_name : "localfit", noise);
        size_t l = strlen(note);
        if (l + 3 < note_size)
            snprintf(note + l, note_size - l, "%s%s", l ? "; " : "", noise);
    }
    if (measured_now && o->store && st && !lf_store_readonly(st)) {
        if ((rc = lf_device_store(st, out, err)) < 0)
            return rc;
        if (o->mode != LF_DEVICE_FULL)
            snprintf(note, note_size, "bandwidth and compute measured now (stored in %s)",
                     lf_store_path(st));
    }
    return 0;
}
