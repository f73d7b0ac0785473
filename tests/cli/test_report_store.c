/*
 * Tests for reports/from_store.c: a hand-built database with two devices,
 * runs at two commits and a stored quality row becomes a report input whose
 * every part is filled from it — profile lines and bandwidth curve, the
 * newest result of each configuration (older ones only in the history),
 * a history series over the two commits, measured and published quality
 * points, a recommendation table — and the HTML report rendered from it has
 * data in every section (with pictures when gnuplot is installed).
 */
#include "fixture_db.h"

#include "../reports/helpers.h"
#include "catalog/catalog.h"
#include "recommend/recommend.h"
#include "reports/reports.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define MODEL "qwen2.5-0.5b-instruct"

typedef struct ctx {
    char *dir;
    char db[4200];
    lf_store *st;
    lf_catalog *cat;
    lf_device a, b;
} ctx;

static const char *datadir(void) {
    const char *d = getenv("LOCALFIT_DATADIR");
    return d && *d ? d : LF_SOURCE_DIR "/datasets";
}

/* tg/pp rows with the bytes the bench would record. */
static void add(ctx *c, int64_t run, lf_test_kind k, const char *quant, int threads, double tps) {
    lf_result r = fx_res(k, MODEL, quant, threads, k == LF_TEST_PP ? 128 : 32, tps);
    lf_mix mix;
    assert_int_equal(lf_mix_parse(quant, &mix), 0);
    lf_rec_memory mem;
    assert_int_equal(lf_rec_weight_bytes(lf_catalog_find(c->cat, MODEL), mix, &mem, NULL), 0);
    r.bytes_per_token = k == LF_TEST_PP ? (double)mem.weights_read / 128 : (double)mem.weights_read;
    fx_add(c->st, run, &r);
}

static int setup(void **state) {
    ctx *c = calloc(1, sizeof *c);
    c->dir = th_tempdir("rep-store");
    snprintf(c->db, sizeof c->db, "%s/results.db", c->dir);
    lf_error err = {0};
    if (lf_store_open(&c->st, c->db, 0, &err) < 0 || lf_catalog_load(&c->cat, datadir(), &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    double bwa[2] = {12.0, 20.0}, bwb[4] = {15, 28, 36, 40};
    fx_device(&c->a, "00aa11bb22cc33dd", "test-cpu-2c", 2, bwa);
    fx_device(&c->b, "99ff88ee77dd66cc", "other-cpu-4c", 4, bwb);
    fx_put_device(c->st, &c->a);
    fx_put_device(c->st, &c->b);
    int64_t r1 = fx_run(c->st, c->a.id, "1111111111aaaa", 1700000000000);
    int64_t r2 = fx_run(c->st, c->a.id, "2222222222bbbb", 1700086400000);
    add(c, r1, LF_TEST_TG, "Q4_K_M", 2, 50.0);
    add(c, r1, LF_TEST_TG, "Q8_0", 2, 30.0);
    add(c, r2, LF_TEST_TG, "Q4_K_M", 2, 45.0);   /* newer: this one is reported */
    add(c, r2, LF_TEST_TG, "Q4_K_M", 1, 30.0);
    add(c, r2, LF_TEST_TG, "Q8_0", 2, 31.0);
    add(c, r2, LF_TEST_PP, "Q4_K_M", 2, 300.0);
    add(c, r2, LF_TEST_PP, "Q8_0", 2, 320.0);
    lf_quality q;
    lf_quality_init(&q);
    strcpy(q.model, MODEL);
    strcpy(q.variant, "Q4_K_M");
    q.kld_mean = 0.05;
    q.ppl = 10.5;
    q.same_top = 0.9;
    assert_int_equal(lf_store_quality_add(c->st, r2, &q, &err), 0);
    int64_t rb = fx_run(c->st, c->b.id, "2222222222bbbb", 1700090000000);
    add(c, rb, LF_TEST_TG, "Q4_K_M", 4, 80.0);
    add(c, rb, LF_TEST_PP, "Q4_K_M", 4, 600.0);
    *state = c;
    return 0;
}

static int teardown(void **state) {
    ctx *c = *state;
    lf_store_close(c->st);
    lf_catalog_free(c->cat);
    th_rmtree(c->dir);
    free(c->dir);
    free(c);
    return 0;
}

/* A built-in shape and a GGUF file with the same name: told apart. */
static void test_synthetic_named(void **state) {
    ctx *c = *state;
    int64_t run = fx_run(c->st, c->a.id, "3333333333cccc", 1700090000000);
    lf_result r = fx_res(LF_TEST_TG, "stories260k", "Q8_0", 2, 32, 900.0);
    lf_strlcpy(r.model_path, "shape:stories260k", sizeof r.model_path);
    fx_add(c->st, run, &r);
    r = fx_res(LF_TEST_TG, "stories260k", "Q8_0", 2, 32, 800.0);
    lf_strlcpy(r.model_path, "/models/stories260k.gguf", sizeof r.model_path);
    fx_add(c->st, run, &r);
    lf_report_store_opts o = {.device = "00aa", .catalog = c->cat};
    lf_report_bundle *b = NULL;
    lf_error err = {0};
    assert_int_equal(lf_report_from_store(c->st, &o, &b, &err), 0);
    const lf_report_input *in = lf_report_bundle_input(b);
    int synth = 0, file = 0;
    for (size_t i = 0; i < in->n_results; i++) {
        synth += !strcmp(in->results[i].model, "stories260k (synthetic)");
        file += !strcmp(in->results[i].model, "stories260k");
    }
    assert_int_equal(synth, 1);
    assert_int_equal(file, 1);
    lf_report_bundle_free(b);
}

/* Bits per weight of a catalog model's row as sweep shows it: the weight
 * bytes over every element of every tensor (counted here from the
 * catalog's tensor inventory). */
static void test_bpw_as_sweep(void **state) {
    ctx *c = *state;
    lf_report_store_opts o = {.device = "00aa", .catalog = c->cat};
    lf_report_bundle *b = NULL;
    lf_error err = {0};
    assert_int_equal(lf_report_from_store(c->st, &o, &b, &err), 0);
    const lf_report_input *in = lf_report_bundle_input(b);
    const lf_catalog_model *m = lf_catalog_find(c->cat, MODEL);
    double elems = 0;
    for (int i = 0; i < lf_catalog_n_tensors(m); i++) {
        lf_catalog_tensor t;
        assert_int_equal(lf_catalog_tensor_at(m, i, &t), 0);
        elems += (double)t.ne0 * (double)t.ne1 * (double)t.ne2;
    }
    lf_mix mix;
    assert_int_equal(lf_mix_parse("Q4_K_M", &mix), 0);
    lf_rec_memory mem;
    assert_int_equal(lf_rec_weight_bytes(m, mix, &mem, NULL), 0);
    int seen = 0;
    for (size_t i = 0; i < in->n_results; i++)
        if (!strcmp(in->results[i].model, MODEL) && !strcmp(in->results[i].quant, "Q4_K_M")) {
            assert_float_equal(in->results[i].bits_per_weight, (double)mem.weights * 8.0 / elems,
                               1e-9);
            seen++;
        }
    assert_true(seen > 0);
    lf_report_bundle_free(b);
}

static void test_input(void **state) {
    ctx *c = *state;
    const char *cmp[] = {"other-cpu-4c"};
    lf_report_store_opts o = {.device = "00aa", .compare = cmp, .n_compare = 1,
                              .catalog = c->cat, .recommend = true};
    lf_report_bundle *b = NULL;
    lf_error err = {0};
    assert_int_equal(lf_report_from_store(c->st, &o, &b, &err), 0);
    const lf_report_input *in = lf_report_bundle_input(b);
    assert_int_equal(in->n_devices, 2);
    assert_string_equal(in->devices[0].id, c->a.id);
    assert_string_equal(in->devices[1].slug, "other-cpu-4c");
    bool cpu = false;
    for (size_t i = 0; i < in->devices[0].n_profile; i++)
        cpu |= !strcmp(in->devices[0].profile[i].key, "CPU") &&
               strstr(in->devices[0].profile[i].value, "Test CPU") != NULL;
    assert_true(cpu);
    assert_int_equal(in->devices[0].n_bw_curve, 2);
    assert_true(in->devices[0].bw_curve[1].threads == 2 && in->devices[0].bw_curve[1].gbs == 20.0);
    assert_true(in->devices[0].bandwidth_gbs == 20.0);

    /* newest per configuration: 5 distinct on A, 2 on B */
    assert_int_equal(in->n_results, 7);
    int found = 0;
    for (size_t i = 0; i < in->n_results; i++) {
        const lf_report_result *r = &in->results[i];
        if (!strcmp(r->device_id, c->a.id) && !strcmp(r->test, "tg") &&
            !strcmp(r->quant, "Q4_K_M") && r->threads == 2) {
            found++;
            assert_true(r->value == 45.0);
            assert_string_equal(r->commit, "2222222222bbbb");
            /* bits per weight from the catalog's exact counts: 4-6 for Q4_K_M */
            assert_true(r->bits_per_weight > 4.0 && r->bits_per_weight < 6.5);
            /* roofline fraction from bytes and the 2-thread bandwidth */
            assert_true(fabs(r->roofline_fraction - 45.0 * r->bytes_per_token / 20e9) < 1e-9);
        }
    }
    assert_int_equal(found, 1);

    /* history: the configurations measured at both commits */
    assert_int_equal(in->n_history, 4);   /* 2 series x 2 commits */
    for (size_t i = 0; i < in->n_history; i++) {
        const lf_report_history *h = &in->history[i];
        if (strstr(h->test, "tg32") && strstr(h->test, "Q4_K_M") && strstr(h->test, "t2"))
            assert_true(h->value == (!strcmp(h->commit, "1111111111aaaa") ? 50.0 : 45.0));
    }

    /* quality: the stored row, then every published quant with a KLD */
    int published = 0;
    for (int i = 0; i < lf_catalog_n_quants(c->cat); i++)
        published += lf_catalog_quant_at(c->cat, i)->kld > 0;
    assert_int_equal(in->n_quality, (size_t)(1 + published));
    assert_int_equal(in->quality[0].source, LF_REPORT_MEASURED);
    assert_true(in->quality[0].kld == 0.05);
    assert_true(in->quality[0].bpw > 4.0 && in->quality[0].bpw < 6.5);

    /* recommendations: a winner first, rejected ones after with reasons */
    assert_true(in->n_recs >= 2);
    assert_int_equal(in->recs[0].rank, 1);
    assert_string_equal(in->recs[0].verdict, "best");
    assert_non_null(in->rec_constraints);
    assert_non_null(strstr(in->rec_constraints, "5 stored observations"));
    bool rejected = false;
    for (size_t i = 0; i < in->n_recs; i++)
        if (in->recs[i].rank == 0) {
            rejected = true;
            assert_true(strlen(in->recs[i].reason) > 0);
        }
    assert_true(rejected);
    lf_report_bundle_free(b);

    /* unknown devices name what is stored */
    o.device = "nope";
    assert_int_equal(lf_report_from_store(c->st, &o, &b, &err), LF_ENOTFOUND);
    assert_null(b);
    assert_non_null(strstr(err.msg, "test-cpu-2c"));
}

static void test_render_every_section(void **state) {
    ctx *c = *state;
    const char *cmp[] = {"99ff"};
    lf_report_store_opts o = {.device = "test-cpu-2c", .compare = cmp, .n_compare = 1,
                              .catalog = c->cat, .recommend = true};
    lf_report_bundle *b = NULL;
    lf_error err = {0};
    assert_int_equal(lf_report_from_store(c->st, &o, &b, &err), 0);
    lf_report_input *in = lf_report_bundle_input(b);
    in->generated = 1700100000;
    in->tool_version = "test";
    char *gp = th_which("gnuplot");
    lf_report_opts ro = {.no_plots = gp == NULL, .quiet = true};
    char out[4300], path[4400];
    snprintf(out, sizeof out, "%s/report", c->dir);
    int rc = lf_report_write(in, LF_REPORT_HTML, out, &ro, path, sizeof path, &err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    char *html = th_read(path, NULL);
    assert_non_null(html);
    static const char *sections[] = {"device", "roofline", "throughput", "quality", "threads",
                                     "history", "devices", "recommend"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        char id[64];
        snprintf(id, sizeof id, "<section id=\"%s\">", sections[i]);
        assert_non_null(strstr(html, id));
    }
    assert_null(strstr(html, "No data"));
    assert_null(strstr(html, "SAMPLE DATA"));
    assert_non_null(strstr(html, "Test CPU &lt;b&gt;&amp;&lt;/b&gt;"));   /* escaped */
    if (gp) {
        /* one picture per section that has a plot */
        assert_int_equal(th_count(html, "src=\"data:image/png;base64,"), 7);
    } else {
        print_message("gnuplot not in PATH: rendered without pictures\n");
    }
    free(gp);
    free(html);
    lf_report_bundle_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_synthetic_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bpw_as_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_every_section, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
