/*
 * Machine-readable outputs: report.json (schema "localfit.report/1": the
 * input as given, which plots exist and why others do not, and the
 * warnings) built with jansson, and results.csv (one row per result,
 * common's CSV writer: RFC 4180 quoting, "\n" line ends). Strings are cleaned to valid UTF-8 first —
 * jansson refuses invalid UTF-8 rather than escaping it. Unknown numbers
 * are null in JSON and empty in CSV.
 */
#include "reports/internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LF_REPORT_SCHEMA "localfit.report/1"

/* Each helper steals nothing from the caller; on allocation failure the
 * whole object is dropped and *oom set. */
typedef struct jctx {
    bool oom;
} jctx;

static json_t *jstr(jctx *c, const char *s) {
    if (!s)
        return json_null();
    rp_buf b = {0};
    rp_clean_text(&b, s);
    const char *t = rp_buf_cstr(&b);
    json_t *j = t ? json_string(t) : NULL;
    rp_buf_free(&b);
    if (!j)
        c->oom = true;
    return j ? j : json_null();
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static void set(jctx *c, json_t *o, const char *k, json_t *v) {
    if (!v || json_object_set_new(o, k, v) < 0)
        c->oom = true;
}

static void push(jctx *c, json_t *a, json_t *v) {
    if (!v || json_array_append_new(a, v) < 0)
        c->oom = true;
}

static json_t *j_device(jctx *c, const lf_report_device *d) {
    json_t *o = json_object(), *prof = json_array(), *curve = json_array();
    set(c, o, "id", jstr(c, d->id));
    set(c, o, "slug", jstr(c, d->slug));
    for (size_t i = 0; i < d->n_profile; i++) {
        json_t *kv = json_object();
        set(c, kv, "key", jstr(c, d->profile[i].key));
        set(c, kv, "value", jstr(c, d->profile[i].value));
        push(c, prof, kv);
    }
    set(c, o, "profile", prof);
    set(c, o, "bandwidth_gbs", jnum(d->bandwidth_gbs));
    set(c, o, "peak_fp32_gflops", jnum(d->peak_fp32_gflops));
    set(c, o, "peak_int8_gops", jnum(d->peak_int8_gops));
    for (size_t i = 0; i < d->n_bw_curve; i++) {
        json_t *p = json_object();
        set(c, p, "threads", json_integer(d->bw_curve[i].threads));
        set(c, p, "gbs", jnum(d->bw_curve[i].gbs));
        push(c, curve, p);
    }
    set(c, o, "bandwidth_curve", curve);
    return o;
}

static json_t *j_result(jctx *c, const lf_report_result *r) {
    json_t *o = json_object();
    set(c, o, "device_id", jstr(c, r->device_id));
    set(c, o, "model", jstr(c, r->model));
    set(c, o, "quant", jstr(c, r->quant));
    set(c, o, "adapter", r->adapter && *r->adapter ? jstr(c, r->adapter) : json_null());
    set(c, o, "test", jstr(c, r->test));
    set(c, o, "unit", json_string(lf_report_test_unit(r->test)));
    set(c, o, "threads", json_integer(r->threads));
    set(c, o, "n_prompt", json_integer(r->n_prompt));
    set(c, o, "n_gen", json_integer(r->n_gen));
    set(c, o, "depth", json_integer(r->depth));
    set(c, o, "value", jnum(r->value));
    set(c, o, "ci_low", jnum(r->ci_low));
    set(c, o, "ci_high", jnum(r->ci_high));
    set(c, o, "bytes_per_token", jnum(r->bytes_per_token));
    set(c, o, "roofline_fraction", jnum(r->roofline_fraction));
    set(c, o, "flops_per_token", jnum(rp_flops_per_token(r)));
    set(c, o, "weight_bytes", r->weight_bytes ? json_integer((json_int_t)r->weight_bytes)
                                              : json_null());
    set(c, o, "bits_per_weight", jnum(r->bits_per_weight));
    set(c, o, "commit", jstr(c, r->commit));
    set(c, o, "timestamp", r->timestamp ? json_integer(r->timestamp) : json_null());
    return o;
}

int rp_render_json(const lf_report_input *in, const rp_plots *pl, rp_buf *out, lf_error *err) {
    jctx c = {0};
    json_t *root = json_object();
    if (!root)
        return lf_error_set(err, LF_ENOMEM, "out of memory rendering JSON");
    set(&c, root, "schema", json_string(LF_REPORT_SCHEMA));
    set(&c, root, "title", jstr(&c, in->title));
    char tm[48] = "";
    time_t t = (time_t)in->generated;
    struct tm utc;
    if (gmtime_r(&t, &utc))
        strftime(tm, sizeof tm, "%Y-%m-%dT%H:%M:%SZ", &utc);   /* ISO 8601 */
    set(&c, root, "generated", json_string(tm));
    set(&c, root, "generated_unix", json_integer(in->generated));
    set(&c, root, "tool_version", jstr(&c, in->tool_version));
    set(&c, root, "sample", json_boolean(in->sample));

    json_t *a = json_array();
    for (size_t i = 0; i < in->n_devices; i++)
        push(&c, a, j_device(&c, &in->devices[i]));
    set(&c, root, "devices", a);

    a = json_array();
    for (size_t i = 0; i < in->n_results; i++)
        push(&c, a, j_result(&c, &in->results[i]));
    set(&c, root, "results", a);

    a = json_array();
    for (size_t i = 0; i < in->n_quality; i++) {
        const lf_report_quality *q = &in->quality[i];
        json_t *o = json_object();
        set(&c, o, "model", jstr(&c, q->model));
        set(&c, o, "quant", jstr(&c, q->quant));
        set(&c, o, "bpw", jnum(q->bpw));
        set(&c, o, "kld", jnum(q->kld));
        set(&c, o, "ppl", jnum(q->ppl));
        set(&c, o, "same_top", jnum(q->same_top));
        set(&c, o, "source",
            json_string(q->source == LF_REPORT_MEASURED ? "measured" : "published"));
        push(&c, a, o);
    }
    set(&c, root, "quality", a);

    static const char *labels[] = {"measured", "calibrated", "estimated"};
    json_t *recs = json_object();
    set(&c, recs, "constraints", jstr(&c, in->rec_constraints));
    a = json_array();
    for (size_t i = 0; i < in->n_recs; i++) {
        const lf_report_rec *r = &in->recs[i];
        json_t *o = json_object();
        set(&c, o, "rank", r->rank > 0 ? json_integer(r->rank) : json_null());
        set(&c, o, "model", jstr(&c, r->model));
        set(&c, o, "quant", jstr(&c, r->quant));
        set(&c, o, "tg", jnum(r->tg));
        set(&c, o, "tg_low", jnum(r->tg_low));
        set(&c, o, "tg_high", jnum(r->tg_high));
        set(&c, o, "memory_bytes",
            r->memory_bytes ? json_integer((json_int_t)r->memory_bytes) : json_null());
        set(&c, o, "quality", jnum(r->quality));
        set(&c, o, "label", json_string(labels[(unsigned)r->label < 3 ? r->label : 2]));
        set(&c, o, "verdict", jstr(&c, r->verdict));
        set(&c, o, "reason", jstr(&c, r->reason));
        push(&c, a, o);
    }
    set(&c, recs, "rows", a);
    set(&c, root, "recommendations", recs);

    a = json_array();
    for (size_t i = 0; i < in->n_history; i++) {
        const lf_report_history *h = &in->history[i];
        json_t *o = json_object();
        set(&c, o, "commit", jstr(&c, h->commit));
        set(&c, o, "timestamp", json_integer(h->timestamp));
        set(&c, o, "test", jstr(&c, h->test));
        set(&c, o, "value", jnum(h->value));
        push(&c, a, o);
    }
    set(&c, root, "history", a);

    static const char *states[] = {"no data", "skipped", "failed", "ok"};
    json_t *warnings = json_array();
    a = json_array();
    for (int id = 0; id < RP_PLOT_COUNT; id++) {
        const rp_plot *p = &pl->p[id];
        json_t *o = json_object();
        char f[64];
        set(&c, o, "name", json_string(rp_plot_name(id)));
        set(&c, o, "title", json_string(rp_plot_title(id)));
        set(&c, o, "state", json_string(states[p->state]));
        snprintf(f, sizeof f, "%s.png", rp_plot_name(id));
        set(&c, o, "png", p->state == RP_PLOT_OK ? json_string(f) : json_null());
        snprintf(f, sizeof f, "%s.svg", rp_plot_name(id));
        set(&c, o, "svg", p->state == RP_PLOT_OK ? json_string(f) : json_null());
        set(&c, o, "note", p->note[0] ? jstr(&c, p->note) : json_null());
        push(&c, a, o);
        if (p->state == RP_PLOT_FAILED) {
            char w[sizeof p->note + 64];
            snprintf(w, sizeof w, "%s plot failed: %s", rp_plot_name(id), p->note);
            push(&c, warnings, jstr(&c, w));
        }
    }
    set(&c, root, "plots", a);
    if (pl->skipped_why[0]) {
        char w[sizeof pl->skipped_why + 32];
        snprintf(w, sizeof w, "no plots: %s", pl->skipped_why);
        push(&c, warnings, jstr(&c, w));
    }
    set(&c, root, "warnings", warnings);

    char *s = c.oom ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s)
        return lf_error_set(err, LF_ENOMEM, "out of memory rendering JSON");
    rp_buf_puts(out, s);
    rp_buf_putc(out, '\n');
    free(s);
    if (out->oom)
        return lf_error_set(err, LF_ENOMEM, "out of memory rendering JSON");
    return 0;
}

int rp_render_csv(const lf_report_input *in, rp_buf *o) {
    lf_csv c;
    rp_csv_init(&c, o);
    lf_csv_raw(&c, "device_id,model,quant,adapter,test,unit,threads,n_prompt,n_gen,depth,value,"
                   "ci_low,ci_high,bytes_per_token,roofline_fraction,weight_bytes,"
                   "bits_per_weight,commit,timestamp");
    lf_csv_end(&c);
    for (size_t i = 0; i < in->n_results; i++) {
        const lf_report_result *r = &in->results[i];
        lf_csv_text(&c, r->device_id);
        lf_csv_text(&c, r->model);
        lf_csv_text(&c, r->quant);
        lf_csv_text(&c, r->adapter);
        lf_csv_text(&c, r->test);
        lf_csv_raw(&c, lf_report_test_unit(r->test));
        const int counts[] = {r->threads, r->n_prompt, r->n_gen, r->depth};
        for (size_t k = 0; k < 4; k++)
            lf_csv_int(&c, counts[k]);
        const double v[] = {r->value, r->ci_low, r->ci_high, r->bytes_per_token,
                            r->roofline_fraction};
        for (size_t k = 0; k < 5; k++)
            lf_csv_real(&c, v[k]);
        lf_csv_int(&c, (int64_t)r->weight_bytes);
        lf_csv_real(&c, r->bits_per_weight);
        lf_csv_text(&c, r->commit);
        lf_csv_int(&c, r->timestamp);
        lf_csv_end(&c);
    }
    return o->oom ? LF_ENOMEM : 0;
}
