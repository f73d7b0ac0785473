/*
 * CSV export: one line per result with its run's identity, for
 * spreadsheets and pandas, written with common's CSV writer (RFC 4180
 * quoting, the formula guard, control characters removed, "\n" line ends;
 * numbers as numbers with 10 significant digits, unknown values empty).
 */
#include "store/internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int lf_store_export_csv(lf_store *st, const int64_t *run_ids, int n, FILE *out,
                        lf_error *err) {
    lf_run *all = NULL;
    int n_all = 0, rc = 0;
    int64_t *ids = NULL;
    if (n == 0) {
        if ((rc = lf_store_runs_list(st, NULL, &all, &n_all, err)) < 0)
            return rc;
        ids = malloc((size_t)(n_all ? n_all : 1) * sizeof *ids);
        if (!ids) {
            free(all);
            return lf_error_set(err, LF_ENOMEM, "CSV export: out of memory");
        }
        for (int i = 0; i < n_all; i++)
            ids[i] = all[n_all - 1 - i].id;   /* oldest first */
        free(all);
        run_ids = ids;
        n = n_all;
    }
    lf_csv c;
    lf_csv_init_file(&c, out, 10);
    lf_csv_raw(&c, "run_uuid,started_at,status,device_id,device_slug,git_commit,git_branch,label,"
                   "suite,source,test,model,model_path,quant,adapter,n_adapters,adapter_rank,"
                   "adapter_mode,threads,n_prompt,n_gen,n_depth,kv_type,isa,backend,config,unit,"
                   "median,mean,stddev,ci_low,ci_high,n_samples,bytes_per_token,roofline_frac,"
                   "peak_rss,joules_per_token,energy_note,weight_bytes,n_params,kv_bytes,"
                   "flops_per_token,roof_gbs,peak_gops,compute_frac,n_expert,n_expert_used,"
                   "model_bytes");
    lf_csv_end(&c);
    for (int i = 0; rc == 0 && i < n; i++) {
        lf_run_full rf;
        if ((rc = lf_store_run_load(st, run_ids[i], &rf, err)) < 0)
            break;
        const lf_run *r = &rf.run;
        char t[40];
        for (int k = 0; k < rf.n_results; k++) {
            const lf_result *x = &rf.results[k];
            const char *run_text[] = {r->uuid, lf_format_time_ms(r->started_ms, t, sizeof t),
                                      lf_run_status_name(r->status), r->device_id,
                                      r->device_slug, r->git_commit, r->git_branch, r->label,
                                      r->suite, r->source, lf_test_kind_name(x->kind), x->model,
                                      x->model_path, x->quant, x->adapter};
            for (size_t j = 0; j < sizeof run_text / sizeof run_text[0]; j++)
                lf_csv_text(&c, run_text[j]);
            lf_csv_int(&c, x->n_adapters);
            lf_csv_int(&c, x->adapter_rank);
            lf_csv_text(&c, lf_adapter_mode_name(x->adapter_mode));
            const int counts[] = {x->threads, x->n_prompt, x->n_gen, x->n_depth};
            for (size_t j = 0; j < 4; j++)
                lf_csv_int(&c, counts[j]);
            const char *res_text[] = {x->kv_type, x->isa, x->backend, x->config,
                                      lf_unit_name(x->unit)};
            for (size_t j = 0; j < sizeof res_text / sizeof res_text[0]; j++)
                lf_csv_text(&c, res_text[j]);
            const double v[] = {x->median, x->mean, x->stddev, x->ci_low, x->ci_high};
            for (int j = 0; j < 5; j++)
                lf_csv_real(&c, v[j]);
            lf_csv_int(&c, x->n_samples);
            lf_csv_real(&c, x->bytes_per_token);
            lf_csv_real(&c, x->roofline_frac);
            lf_csv_count(&c, x->peak_rss);
            lf_csv_real(&c, x->joules_per_token);
            lf_csv_text(&c, x->energy_note);
            /* schema v3's figures, after the older columns so readers that
             * index columns by position keep working */
            const double fig[] = {x->weight_bytes, x->n_params,  x->kv_bytes,
                                  x->flops_per_token, x->roof_gbs, x->peak_gops,
                                  x->compute_frac};
            for (size_t j = 0; j < sizeof fig / sizeof fig[0]; j++)
                lf_csv_real(&c, fig[j]);
            /* schema v5's, after those for the same reason */
            lf_csv_count(&c, x->n_expert);
            lf_csv_count(&c, x->n_expert_used);
            lf_csv_real(&c, x->model_bytes);
            lf_csv_end(&c);
        }
        lf_run_full_free(&rf);
    }
    free(ids);
    if (rc == 0) {
        errno = 0;
        if (fflush(out) == EOF || ferror(out))
            rc = lf_error_set(err, LF_EIO, "writing CSV: %s", errno ? strerror(errno) : "write failed");
    }
    return rc;
}
