/*
 * What a new user (and an attacker) ran into, each as the built `localfit`
 * is run on tiny synthetic GGUF models (so nothing is skipped):
 *  - a bench of an empty, text, truncated or damaged file fails with exit 1
 *    and leaves no run behind in the database;
 *  - a file without general.file_type is labelled by the type holding the
 *    most bytes (a Q4_0 file whose largest tensor is not Q4_0 is Q4_0), the
 *    rule lf_bench_quant_label gives bench and sweep alike;
 *  - --lora FILE:SCALE with a non-finite scale is a usage error; a model
 *    whose weights hold NaN fails generate and quality with a message
 *    naming the file, printing no text and no "nan" figures; NaN block
 *    scales in one row of a quantized file, whose logits come out finite,
 *    are refused by quality with the tensor and row named;
 *  - a command whose standard output cannot be written (/dev/full) exits 1;
 *  - generating or scoring past the trained context is warned about;
 *  - sweep and quality mark a level that collapsed to another on rows not
 *    a multiple of 256 and explain the mark; sweep says its quantizer is
 *    not llama-quantize's;
 *  - bench warns when the bandwidth measured now is far from the device's
 *    stored median (the noise check, at the command line);
 *  - an oversized matrix is refused at once with its size, a large one
 *    below the limit plans (linear planning), SIGTERM during a run stops it
 *    and keeps the run as interrupted;
 *  - a database in a read-only directory, as a file of mode 444, reads for
 *    `runs`, `db check`, `export`, `report` and `compare` and refuses
 *    writes saying why (run as user nobody: root ignores file modes);
 *  - llama-bench results imported from another machine (a CUDA GPU) are
 *    reported, alone with --device and beside this machine's with
 *    --compare, showing what is known of that device.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../cli/fixture_db.h"
#include "bench/bench.h"
#include "cli_run.h"
#include "tiny_model.h"
#include "model/model.h"
#include "reports/reports.h"   /* LF_QUALITY_COLLAPSED_NOTE */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[256];
static char g_tiny[300];   /* Q8_0, trained context 256 */
static char g_q4[300];     /* Q4_0 mix with general.file_type renamed away */
static char g_nan[300];    /* F32 with NaN weights */
static char g_text[300];   /* a short text for quality */

static lf_model_params tiny_params(void) { return tiny_model_params("tiny-user"); }

static int save_synth(const char *path, lf_mix mix, bool nan_weights) {
    lf_model_params hp = tiny_params();
    lf_model *m = NULL;
    lf_error err = {0};
    int rc = lf_model_synth(&m, &hp, mix, 7, &err);
    if (rc == 0 && nan_weights) {
        /* the final norm: every logit of every path depends on it */
        const lf_model_tensor *t = lf_model_find_tensor(m, "output_norm.weight");
        if (!t || t->mat.type != LF_TYPE_F32)
            rc = -1;
        else
            for (int64_t i = 0; i < t->mat.cols; i++)
                ((float *)t->mat.data)[i] = NAN;   /* the synthesized copy is ours */
    }
    if (rc == 0)
        rc = lf_model_save_gguf(m, path, &err);
    if (rc < 0)
        fprintf(stderr, "setup: %s: %s\n", path, err.msg);
    lf_model_free(m);
    return rc;
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/lf-hard-user-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    chmod(g_dir, 0755);   /* the read-only test runs as nobody */
    snprintf(g_tiny, sizeof g_tiny, "%s/tiny.gguf", g_dir);
    snprintf(g_q4, sizeof g_q4, "%s/q4.gguf", g_dir);
    snprintf(g_nan, sizeof g_nan, "%s/nan-weights.gguf", g_dir);
    snprintf(g_text, sizeof g_text, "%s/text.txt", g_dir);
    if (save_synth(g_tiny, LF_MIX_Q8_0, false) < 0 || save_synth(g_q4, LF_MIX_Q4_0, false) < 0 ||
        save_synth(g_nan, LF_MIX_F32, true) < 0)
        return -1;
    /* the Q4_0 file without its file type: the key renamed in place */
    size_t n = 0;
    char *b = slurp(g_q4, &n);
    char *k = b ? memmem(b, n, "general.file_type", 17) : NULL;
    if (!k)
        return -1;
    memcpy(k, "general.file_tipe", 17);
    FILE *f = fopen(g_q4, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
    free(b);
    f = fopen(g_text, "w");
    for (int i = 0; i < 200; i++)
        fprintf(f, "Once upon a time there was a little cat who liked the sun. ");
    fclose(f);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rm_tree(g_dir);
    return 0;
}

/* sqlite: the runs of db as "status" strings joined by ','; "" when none
 * (or no file). */
static void run_statuses(const char *db, char *out, size_t size) {
    out[0] = 0;
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return;
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(h, "SELECT status FROM runs ORDER BY id", -1, &s, NULL) == SQLITE_OK)
        while (sqlite3_step(s) == SQLITE_ROW) {
            size_t l = strlen(out);
            snprintf(out + l, size - l, "%s%s", l ? "," : "", (const char *)sqlite3_column_text(s, 0));
        }
    sqlite3_finalize(s);
    sqlite3_close(h);
}

/* ---- bad files --------------------------------------------------------------- */

static void test_bad_files_leave_no_run(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    size_t n = 0;
    char *good = slurp(g_tiny, &n);
    assert_non_null(good);
    char path[4][320], db[320];
    snprintf(db, sizeof db, "%s/bad.db", g_dir);
    const char *names[] = {"empty", "text", "truncated", "flipped"};
    for (int i = 0; i < 4; i++)
        snprintf(path[i], sizeof path[i], "%s/%s.gguf", g_dir, names[i]);
    spit(path[0], "", 0);
    spit(path[1], "this is not a model\n", 20);
    spit(path[2], good, n / 2);
    good[4] ^= 0x80;   /* the version field: 3 becomes 131 */
    spit(path[3], good, n);
    free(good);
    for (int i = 0; i < 4; i++) {
        const char *const args[] = {"bench", "-m", path[i], "-p", "8", "-n", "2", "--reps", "3", "--probe", "quick",
                                    "--db", db, "--quiet", NULL};
        cli_out o;
        assert_int_equal(cli_run(&o, NULL, args), 1);
        assert_non_null(strstr(o.err, names[i]));   /* the message names the file */
        char st[256];
        run_statuses(db, st, sizeof st);
        if (st[0])
            print_message("%s left runs: %s\n", names[i], st);
        assert_string_equal(st, "");
        cli_out_free(&o);
    }
}

/* ---- quant label ------------------------------------------------------------- */

static void test_quant_label_most_bytes(void **state) {
    (void)state;
    lf_model *m = NULL;
    lf_error err = {0};
    lf_model_opts mo = {.no_vocab = true};
    assert_int_equal(lf_model_load(&m, g_q4, &mo, &err), 0);
    assert_int_equal(lf_model_mix(m), LF_MIX_COUNT);   /* no file type recorded */
    /* the premise: the largest single tensor is not Q4_0 */
    double most = 0;
    lf_type largest = LF_TYPE_COUNT;
    for (int i = 0; i < lf_model_n_tensors(m); i++) {
        const lf_model_tensor *t = lf_model_tensor_at(m, i);
        double b = (double)t->mat.rows * (double)t->mat.row_bytes;
        if (b > most) {
            most = b;
            largest = t->mat.type;
        }
    }
    assert_int_not_equal(largest, LF_TYPE_Q4_0);
    char label[32];
    lf_mix mix;
    assert_int_equal(lf_bench_quant_label(m, label, sizeof label, &mix), LF_TYPE_Q4_0);
    assert_string_equal(label, "Q4_0");
    assert_int_equal(mix, LF_MIX_Q4_0);
    lf_model_free(m);
    if (!cli_bin())
        skip();
    /* the bench results carry that label */
    const char *const args[] = {"bench", "-m", g_q4, "-p", "8", "-n", "2", "-t", "1", "--reps", "3", "--probe", "quick",
                                "--no-store", "--csv", "--quiet", NULL};
    cli_out o;
    assert_int_equal(cli_run(&o, NULL, args), 0);
    char *row = strchr(o.out, '\n');
    assert_non_null(row);
    assert_non_null(strstr(row, ",Q4_0,"));
    assert_null(strstr(row, ",Q8_0,"));
    cli_out_free(&o);
}

/* ---- non-finite input -------------------------------------------------------- */

static void test_lora_scale_not_finite(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    const char *bad[] = {":nan", ":1e309", ":inf", ":-inf"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char spec[400];
        snprintf(spec, sizeof spec, "%s%s", g_tiny, bad[i]);   /* any file: the scale is refused first */
        const char *const args[] = {"generate", "-m", g_tiny, "-n", "2", "--lora", spec, NULL};
        cli_out o;
        assert_int_equal(cli_run(&o, NULL, args), 2);
        assert_non_null(strstr(o.err, "scale"));
        cli_out_free(&o);
    }
}

static void test_nan_weights_fail(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    cli_out o;
    const char *const gen[] = {"generate", "-m", g_nan, "-n", "4", "-t", "1", NULL};
    if (cli_run(&o, NULL, gen) != 1)
        print_message("generate on NaN weights: %s\n%s\n", o.out, o.err);
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "nan-weights.gguf"));
    assert_non_null(strstr(o.err, "not finite"));
    assert_null(strchr(o.out, '['));   /* no token was printed */
    cli_out_free(&o);
    const char *const q[] = {"quality", "-m", g_nan, "--quants", "Q8_0", "-f", g_text, "--ctx", "16",
                             "--chunks", "1", "-t", "1", NULL};
    if (cli_run(&o, NULL, q) != 1)
        print_message("quality on NaN weights: %s\n%s\n", o.out, o.err);
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "nan-weights.gguf"));
    assert_non_null(strstr(o.err, "NaN or infinite"));
    assert_null(strstr(o.out, "nan"));
    cli_out_free(&o);
}

/* NaN block scales in one row of blk.0.attn_q of a Q8_0 file. The logits
 * of such a model come out finite (the quantized products' activation
 * quantizer turns the NaN hidden state into a zero scale), so quality must
 * refuse the weights themselves, naming tensor and row, whether the file
 * is the base or a variant. */
static void test_nan_row_refused(void **state) {
    (void)state;
    lf_model_params hp = tiny_params();
    lf_model *m = NULL;
    lf_error err = {0};
    assert_int_equal(lf_model_synth(&m, &hp, LF_MIX_Q8_0, 7, &err), 0);
    const lf_model_tensor *t = lf_model_find_tensor(m, "blk.0.attn_q.weight");
    assert_non_null(t);
    assert_int_equal(t->mat.type, LF_TYPE_Q8_0);
    /* every fp16 of row 5 (each block's scale among them) set to a NaN */
    uint16_t *h = (uint16_t *)((char *)t->mat.data + 5 * t->mat.row_bytes);
    for (size_t i = 0; i < t->mat.row_bytes / 2; i++)
        h[i] = 0x7E00;
    char path[400];
    snprintf(path, sizeof path, "%s/nan-row.gguf", g_dir);
    assert_int_equal(lf_model_save_gguf(m, path, &err), 0);
    lf_model_free(m);
    if (!cli_bin())
        skip();
    cli_out o;
    const char *const as_variant[] = {"quality", "-m", g_tiny, "--files", path, "-f", g_text,
                                      "--ctx", "16", "--chunks", "1", "-t", "1", NULL};
    assert_int_equal(cli_run(&o, NULL, as_variant), 1);
    assert_non_null(strstr(o.err, "nan-row.gguf: tensor blk.0.attn_q.weight holds NaN"));
    assert_non_null(strstr(o.err, "(row 5,"));
    assert_null(strstr(o.out, "nan"));
    cli_out_free(&o);
    const char *const as_base[] = {"quality", "-m", path, "--quants", "Q8_0", "-f", g_text,
                                   "--ctx", "16", "--chunks", "1", "-t", "1", NULL};
    assert_int_equal(cli_run(&o, NULL, as_base), 1);
    assert_non_null(strstr(o.err, "tensor blk.0.attn_q.weight holds NaN"));
    cli_out_free(&o);
}

/* ---- stdout write errors ------------------------------------------------------ */

static void test_stdout_full(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    if (access("/dev/full", W_OK) != 0)
        skip();
    char db[320];
    snprintf(db, sizeof db, "%s/full.db", g_dir);
    cli_out o;
    const char *const mk[] = {"bench", "-m", g_tiny, "-p", "8", "-n", "2", "-t", "1", "--reps", "3", "--probe", "quick",
                              "--db", db, "--quiet", NULL};
    assert_int_equal(cli_run(&o, NULL, mk), 0);
    cli_out_free(&o);
    const char *const *cmds[] = {
        (const char *const[]){"bench", "-m", g_tiny, "-p", "8", "-n", "2", "-t", "1", "--reps", "3", "--probe", "quick",
                              "--no-store", "--quiet", NULL},
        (const char *const[]){"bench", "-m", g_tiny, "-p", "8", "-n", "2", "-t", "1", "--reps", "3", "--probe", "quick",
                              "--no-store", "--quiet", "--csv", NULL},
        (const char *const[]){"runs", "--db", db, NULL},
        /* a device described by hand: no probe (slow, and not this test's point) */
        (const char *const[]){"recommend", "--memory", "16G", "--bandwidth", "50", "--no-store", NULL},
        (const char *const[]){"probe", "--quick", "--no-bandwidth", "--no-compute", NULL},
        (const char *const[]){"quality", "-m", g_tiny, "--quants", "Q4_0", "-f", g_text, "--ctx", "16",
                              "--chunks", "1", "-t", "1", NULL},
        (const char *const[]){"generate", "-m", g_tiny, "-n", "2", "-t", "1", NULL},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        int st = cli_run_to(&o, "/dev/full", NULL, cmds[i]);
        if (st != 1)
            print_message("`%s` to /dev/full exited %d: %s\n", cmds[i][0], st, o.err);
        assert_int_equal(st, 1);
        assert_non_null(strstr(o.err, "standard output"));
        cli_out_free(&o);
    }
}

/* ---- context ------------------------------------------------------------------ */

static void test_past_trained_context_warns(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    cli_out o;
    const char *const within[] = {"generate", "-m", g_tiny, "-n", "8", "-t", "1", NULL};
    assert_int_equal(cli_run(&o, NULL, within), 0);
    assert_null(strstr(o.err, "trained context"));
    cli_out_free(&o);
    const char *const past[] = {"generate", "-m", g_tiny, "-n", "300", "-t", "1", "--ignore-eos", NULL};
    assert_int_equal(cli_run(&o, NULL, past), 0);
    assert_non_null(strstr(o.err, "trained context of 256"));
    cli_out_free(&o);
    const char *const q[] = {"quality", "-m", g_tiny, "--quants", "Q4_0", "-f", g_text, "--ctx", "300",
                             "--chunks", "1", "-t", "1", NULL};
    assert_int_equal(cli_run(&o, NULL, q), 0);
    assert_non_null(strstr(o.err, "trained context of 256"));
    cli_out_free(&o);
}

/* ---- collapsed levels -------------------------------------------------------- */

static void test_collapsed_levels_marked(void **state) {
    (void)state;
    /* rows of 64 elements: Q6_K's 256-element blocks do not fit anywhere */
    lf_model_params hp = tiny_params();
    lf_model *q6 = NULL, *q4 = NULL;
    lf_error err = {0};
    assert_int_equal(lf_model_synth(&q6, &hp, LF_MIX_Q6_K, 3, &err), 0);
    assert_int_equal(lf_model_synth(&q4, &hp, LF_MIX_Q4_0, 3, &err), 0);
    char became[16];
    assert_true(lf_bench_mix_collapsed(q6, LF_MIX_Q6_K, became, sizeof became));
    assert_string_equal(became, "Q8_0");
    assert_false(lf_bench_mix_collapsed(q4, LF_MIX_Q4_0, became, sizeof became));
    assert_string_equal(became, "");
    lf_model_free(q6);
    lf_model_free(q4);
    if (!cli_bin())
        skip();
    cli_out o;
    const char *const q[] = {"quality", "-m", g_tiny, "--quants", "Q6_K,Q4_0", "-f", g_text, "--ctx", "16",
                             "--chunks", "1", "-t", "1", NULL};
    assert_int_equal(cli_run(&o, NULL, q), 0);
    assert_non_null(strstr(o.out, "Q6_K (=Q8_0)"));
    assert_null(strstr(o.out, "Q4_0 (="));
    assert_non_null(strstr(o.out, "A (=B): level A's K-quant blocks do not fit"));
    cli_out_free(&o);
}

/* Stores this machine's profile (`probe --quick`, under a second) in db, so
 * that commands read it instead of measuring: with bandwidth read_gbs when
 * measured, else unmeasured (the command measures it, checking it against
 * the store); roof_gbs > 0 adds tg results measured against that roof. */
static void store_this_device(const char *db, bool measured, double read_gbs, double roof_gbs) {
    cli_out o;
    const char *const a[] = {"probe", "--quick", "--json", NULL};
    assert_int_equal(cli_run(&o, NULL, a), 0);
    lf_device *d = calloc(1, sizeof *d);
    assert_non_null(d);
    lf_error err = {0};
    assert_int_equal(lf_device_from_json(d, o.out, &err), 0);
    cli_out_free(&o);
    int threads = d->limits.usable_threads > 0 ? d->limits.usable_threads : 1;
    d->bandwidth.measured = measured;
    d->bandwidth.threads = d->bandwidth.n_curve = threads;
    for (int i = 0; i < threads && i < (int)(sizeof d->bandwidth.curve_read_gbs /
                                             sizeof *d->bandwidth.curve_read_gbs); i++)
        d->bandwidth.curve_read_gbs[i] = read_gbs * (i + 1) / threads;
    d->bandwidth.read_gbs = read_gbs;
    d->compute.measured = true;
    d->compute.threads = threads;
    d->compute.int8_gops_core = 100, d->compute.int8_gops_all = 100.0 * threads;
    d->compute.fp32_gflops_core = 25, d->compute.fp32_gflops_all = 25.0 * threads;
    lf_store *st = NULL;
    assert_int_equal(lf_store_open(&st, db, 0, &err), 0);
    fx_put_device(st, d);
    if (roof_gbs > 0) {
        int64_t run = fx_run(st, d->id, "abc", 1700000000000);
        for (int t = 1; t <= 3; t++) {
            lf_result r = fx_res(LF_TEST_TG, "tiny", "Q8_0", t, 16, 1000.0);
            r.roof_gbs = roof_gbs;
            fx_add(st, run, &r);
        }
    }
    lf_store_close(st);
    free(d);
}

/* The noise check as a user meets it (item 16): with the device's stored
 * bandwidth at 100 TB/s, far from anything measurable, bench measures the
 * bandwidth now (the stored profile holds none) and warns on stderr that
 * this run is not typical of the machine; results are still stored. */
static void test_bench_noise_warned(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    char db[400];
    snprintf(db, sizeof db, "%s/noise.db", g_dir);
    store_this_device(db, false, 0, 100000.0);
    cli_out o;
    const char *const a[] = {"bench", "-m", g_tiny, "-p", "8", "-n", "0", "--reps", "3", "-t",
                             "1", "--db", db, NULL};
    assert_int_equal(cli_run(&o, NULL, a), 0);
    const char *w = strstr(o.err, "localfit bench: warning: ");
    assert_non_null(w);
    assert_non_null(strstr(w, "100000"));   /* the stored median, named */
    cli_out_free(&o);
}

/* Sweep marks a collapsed level in its table ("Q6_K=Q8_0": rows of 64
 * elements take no 256-element K-quant block), explains the mark, and says
 * that its levels come from its own quantizer, not llama-quantize. */
static void test_sweep_collapsed_marked(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    char db[400];   /* this machine's profile stored: nothing is measured but speed */
    snprintf(db, sizeof db, "%s/sweep.db", g_dir);
    store_this_device(db, true, 20.0, 0);
    cli_out o;
    const char *const a[] = {"sweep", g_tiny, "--quants", "Q6_K,Q2_K,Q4_0", "-f", g_text,
                             "--ctx", "16", "--chunks", "1", "-t", "1", "-p", "8", "-n", "4",
                             "--db", db, "--no-store", NULL};
    assert_int_equal(cli_run(&o, NULL, a), 0);
    assert_non_null(strstr(o.out, "Q6_K=Q8_0 "));
    assert_non_null(strstr(o.out, "Q2_K=IQ4_NL "));
    assert_null(strstr(o.out, "Q4_0="));
    assert_non_null(strstr(o.out, "A=B: level A's K-quant blocks do not fit"));
    assert_non_null(strstr(o.out, "not llama-quantize"));
    assert_non_null(strstr(o.err, "Q6_K collapses to Q8_0"));
    cli_out_free(&o);
}

/* The collapse mark reaches the report: sweep stores a collapsed level's
 * quality row as "Q6_K=Q8_0", and the report's quality table shows it with
 * sweep's explanation under it; an uncollapsed level stays unmarked. */
static void test_report_collapsed_marked(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    char db[400], out[400], doc[440];
    snprintf(db, sizeof db, "%s/sweep-report.db", g_dir);
    snprintf(out, sizeof out, "%s/sweep-report", g_dir);
    store_this_device(db, true, 20.0, 0);
    cli_out o;
    const char *const a[] = {"sweep", g_tiny, "--quants", "Q6_K,Q4_0", "-f", g_text, "--ctx",
                             "16", "--chunks", "1", "-t", "1", "-p", "8", "-n", "4", "--db", db,
                             NULL};
    assert_int_equal(cli_run(&o, NULL, a), 0);
    cli_out_free(&o);
    const char *const r[] = {"report", "--db", db, "--format", "md", "--no-plots", "-q", "-o",
                             out, NULL};
    assert_int_equal(cli_run(&o, NULL, r), 0);
    cli_out_free(&o);
    snprintf(doc, sizeof doc, "%s/report.md", out);
    size_t n;
    char *md = slurp(doc, &n);
    assert_non_null(md);
    const char *q = strstr(md, "Quality vs size");
    assert_non_null(q);
    /* markdown escapes the underscores */
    assert_non_null(strstr(q, "| Q6\\_K=Q8\\_0 |"));
    assert_non_null(strstr(q, "| Q4\\_0 |"));
    assert_null(strstr(q, "Q4\\_0="));
    assert_non_null(strstr(q, LF_QUALITY_COLLAPSED_NOTE));
    free(md);
}

/* ---- the planner and interrupts ------------------------------------------------- */

static void test_matrix_size(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    cli_out o;
    /* the matrix: hundreds of thousands of tests, refused with its size */
    const char *const huge[] = {"bench", "-m", g_tiny, "-p", "1-256", "-n", "1-256", "-d", "0-255",
                                "-t", "1-2", "--kv", "f16,q8_0,f32", "--dry-run", "--no-store", "--probe", "quick",
                                NULL};
    assert_int_equal(cli_run(&o, NULL, huge), 1);
    assert_non_null(strstr(o.err, "more than the 100000"));
    char *num = strstr(o.err, "up to ");
    assert_non_null(num);
    assert_true(atof(num + 6) > 100000);
    cli_out_free(&o);
    /* 40000 tests (200 pp + 200 tg lengths x 100 depths) plan (a quadratic
     * planner took minutes here) */
    const char *const big[] = {"bench", "-m", g_tiny, "-p", "1-200", "-n", "1-200", "-d", "0-99", "-t", "1",
                               "--dry-run", "--no-store", "--probe", "quick", NULL};
    assert_int_equal(cli_run(&o, NULL, big), 0);
    assert_non_null(strstr(o.out, "40000 tests planned"));
    cli_out_free(&o);
}

static void test_sigterm_keeps_interrupted_run(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    char db[320];
    snprintf(db, sizeof db, "%s/term.db", g_dir);
    /* a run that would take minutes: many repetitions, a tight target */
    const char *argv[] = {cli_bin(), "bench", "-m", g_tiny, "-p", "64", "-n", "64", "-t", "1", "--reps",
                          "1000-1000", "--budget", "1000", "--db", db, "--probe", "quick",
                          "--progress", "plain", NULL};
    int pe[2];
    assert_int_equal(pipe(pe), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(pe[1], 2);
        close(pe[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pe[1]);
    /* wait until the run is recorded and its first test is under way */
    char buf[8192];
    size_t n = 0;
    while (n + 1 < sizeof buf) {
        ssize_t r = read(pe[0], buf + n, sizeof buf - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = 0;
        if (strstr(buf, "(2 tests)"))
            break;
    }
    kill(pid, SIGTERM);
    while (read(pe[0], buf, sizeof buf) > 0) {
    }
    close(pe[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));   /* it stopped itself, not killed by the signal */
    assert_int_equal(WEXITSTATUS(st), 1);
    char runs[256];
    run_statuses(db, runs, sizeof runs);
    assert_string_equal(runs, "interrupted");
}

/* ---- a read-only database --------------------------------------------------------- */

static void uuid_of_runs(const char *db, char uuids[2][64]) {
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT uuid FROM runs ORDER BY id", -1, &s, NULL), SQLITE_OK);
    for (int i = 0; i < 2 && sqlite3_step(s) == SQLITE_ROW; i++)
        snprintf(uuids[i], 64, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(h);
}

static void test_readonly_database(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    if (geteuid() != 0) {
        print_message("skipped: needs root to run the commands as user nobody\n");
        skip();
    }
    char dir[320], db[340], out[340];
    snprintf(dir, sizeof dir, "%s/ro", g_dir);
    snprintf(out, sizeof out, "%s/out", g_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(out, 0777), 0);
    chmod(out, 0777);
    snprintf(db, sizeof db, "%s/results.db", dir);
    cli_out o;
    const char *const mk[] = {"bench", "-m", g_tiny, "-p", "8", "-n", "2", "-t", "1", "--reps", "3", "--probe", "quick",
                              "--db", db, "--quiet", NULL};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(cli_run(&o, NULL, mk), 0);
        cli_out_free(&o);
    }
    char uu[2][64] = {{0}};
    uuid_of_runs(db, uu);
    /* as a writer leaves it: no -wal or -shm file (the reads above left
     * empty ones, which would let a reader by); every page is in the file */
    char side[360];
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);
    assert_int_equal(chmod(db, 0444), 0);
    assert_int_equal(chmod(dir, 0555), 0);
    const unsigned nobody = 65534;
    char report_dir[360];
    snprintf(report_dir, sizeof report_dir, "%s/report", out);
    const char *const *reads[] = {
        (const char *const[]){"runs", "--db", db, NULL},
        (const char *const[]){"db", "check", "--db", db, NULL},
        (const char *const[]){"export", "--db", db, NULL},
        (const char *const[]){"report", "--db", db, "--format", "md", "--no-plots", "-o", report_dir, NULL},
        (const char *const[]){"compare", "--baseline", uu[0], "--candidate", uu[1], "--db", db, NULL},
    };
    for (size_t i = 0; i < sizeof reads / sizeof *reads; i++) {
        int st = cli_run_as(&o, NULL, nobody, NULL, reads[i]);
        /* compare's verdict on two noisy runs may be exit 1 ("regression"):
         * what matters is that it read them (a failure says "localfit: ") */
        bool compare = !strcmp(reads[i][0], "compare");
        bool ok = compare ? (st == 0 || st == 1) && !strstr(o.err, "localfit: ") : st == 0;
        if (!ok)
            print_message("`%s` on a read-only database exited %d: %s\n", reads[i][0], st, o.err);
        assert_true(ok);
        assert_true(o.out_len > 0 || !strcmp(reads[i][0], "report"));
        assert_null(strstr(o.err, "attempt to write"));
        cli_out_free(&o);
    }
    /* a write says why it cannot be done */
    int st = cli_run_as(&o, NULL, nobody, NULL, mk);
    assert_int_equal(st, 1);
    assert_non_null(strstr(o.err, "read-only"));
    assert_non_null(strstr(o.err, "not writable"));
    cli_out_free(&o);
    chmod(dir, 0755);
    chmod(db, 0644);
}

/* Imported llama-bench devices carry what llama-bench knew (CPU, GPU,
 * backend) and no measured peaks; report --device and --compare work on
 * them and show it, instead of refusing their profile's schema. */
static void test_report_imported_device(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    char db[320], out[320], gpu_file[400], cpu_file[400];
    snprintf(db, sizeof db, "%s/imported.db", g_dir);
    snprintf(gpu_file, sizeof gpu_file, "%s/llama-bench/gpu.jsonl", LF_FIXTURES_DIR);
    snprintf(cpu_file, sizeof cpu_file, "%s/llama-bench/cpu.jsonl", LF_FIXTURES_DIR);
    cli_out o;
    const char *const imp_gpu[] = {"import", "--db", db, gpu_file, NULL};
    const char *const imp_cpu[] = {"import", "--db", db, cpu_file, NULL};
    assert_int_equal(cli_run(&o, NULL, imp_gpu), 0);
    cli_out_free(&o);
    assert_int_equal(cli_run(&o, NULL, imp_cpu), 0);
    cli_out_free(&o);
    /* the imported devices' ids, as `runs --json` names them; the GPU
     * machine's slug names its card */
    const char *const runs[] = {"runs", "--db", db, "--json", NULL};
    assert_int_equal(cli_run(&o, NULL, runs), 0);
    char ids[2][64] = {{0}};
    int gpu = -1;
    const char *p = o.out;
    for (int i = 0; i < 2; i++) {
        p = strstr(p, "\"device_id\": \"");
        assert_non_null(p);
        p += strlen("\"device_id\": \"");
        size_t n = strcspn(p, "\"");
        assert_true(n > 0 && n < sizeof ids[i]);
        memcpy(ids[i], p, n);
        const char *slug = strstr(p, "\"device_slug\": \"");
        assert_non_null(slug);
        if (!strncmp(slug + strlen("\"device_slug\": \""), "intel-r-core-tm-i9-14900k-nvidia", 32))
            gpu = i;
    }
    cli_out_free(&o);
    assert_true(gpu >= 0 && strcmp(ids[0], ids[1]) != 0);
    snprintf(out, sizeof out, "%s/imported-report", g_dir);
    static char text[1 << 20];
    for (int i = 0; i < 2; i++) {
        const char *dev = ids[i], *other = ids[1 - i];
        const char *const one[] = {"report", "--db", db, "--device", dev, "--format", "md", "--no-plots",
                                   "-o", out, NULL};
        const char *const cmp[] = {"report", "--db", db, "--device", dev, "--compare", other, "--format",
                                   "md", "--no-plots", "-o", out, NULL};
        const char *const *cmds[] = {one, cmp};
        for (int c = 0; c < 2; c++) {
            int st = cli_run(&o, NULL, cmds[c]);
            if (st != 0)
                print_message("report on imported device %s exited %d: %s\n", dev, st, o.err);
            assert_int_equal(st, 0);
            assert_null(strstr(o.err, "schema is"));
            cli_out_free(&o);
            char md[400];
            snprintf(md, sizeof md, "%s/report.md", out);
            FILE *f = fopen(md, "r");
            assert_non_null(f);
            size_t n = fread(text, 1, sizeof text - 1, f);
            text[n] = 0;
            fclose(f);
            assert_non_null(strstr(text, dev));
            /* the GPU and its backend appear exactly when the GPU machine
             * is in the report (alone, or as the compared device) */
            bool gpu_in_report = i == gpu || c == 1;
            assert_true((strstr(text, "RTX 4090") != NULL) == gpu_in_report);
            if (gpu_in_report)
                assert_non_null(strstr(text, "CUDA"));
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files_leave_no_run),
        cmocka_unit_test(test_quant_label_most_bytes),
        cmocka_unit_test(test_lora_scale_not_finite),
        cmocka_unit_test(test_nan_weights_fail),
        cmocka_unit_test(test_nan_row_refused),
        cmocka_unit_test(test_stdout_full),
        cmocka_unit_test(test_past_trained_context_warns),
        cmocka_unit_test(test_collapsed_levels_marked),
        cmocka_unit_test(test_sweep_collapsed_marked),
        cmocka_unit_test(test_report_collapsed_marked),
        cmocka_unit_test(test_bench_noise_warned),
        cmocka_unit_test(test_matrix_size),
        cmocka_unit_test(test_sigterm_keeps_interrupted_run),
        cmocka_unit_test(test_readonly_database),
        cmocka_unit_test(test_report_imported_device),
    };
    /* LF_TEST_ONLY=NAME runs the tests whose names contain NAME (to run one
     * against another build through LOCALFIT_TEST_CLI) */
    const char *only = getenv("LF_TEST_ONLY");
    struct CMUnitTest sel[sizeof tests / sizeof *tests];
    size_t n = 0;
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++)
        if (!only || strstr(tests[i].name, only))
            sel[n++] = tests[i];
    return _cmocka_run_group_tests("test_new_user", sel, n, setup, teardown);
}
