/*
 * `localfit synth` refuses a model larger than the usable memory before
 * allocating any of it (issue 17, item 5), as bench and generate do: an
 * 8B-shaped F16 model under the 4 GiB limit of a recorded cgroup-v2
 * container, and a 100000-layer, 100000-wide shape (petabytes), each end
 * at once with exit status 1 and a message giving both sizes. Before the
 * check, the first was killed part-way and the second reserved terabytes.
 * The binary runs as a separate process against the recorded sysroot
 * (LOCALFIT_SYSROOT), so the limit does not depend on this machine.
 * Skips when the binary is missing.
 */
#include "../hardening/cli_run.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void refused(const char *const *args) {
    if (!cli_bin()) {
        print_message("localfit not built: skipping\n");
        skip();
    }
    const char *env[] = {"LOCALFIT_SYSROOT=" LF_SOURCE_DIR "/tests/fixtures/sysroots/cgroup-v2-container",
                         NULL};
    cli_out o;
    cli_run(&o, env, args);
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "usable memory of 4.00 GiB (4294967296 bytes)"));
    assert_non_null(strstr(o.err, "the model needs"));
    assert_null(strstr(o.out, "synth time"));   /* nothing was synthesized */
    cli_out_free(&o);
}

static void test_8b_f16_over_4gib(void **state) {
    (void)state;
    refused((const char *const[]){"synth", "--layers", "32", "--dim", "4096", "--heads", "32",
                                  "--kv-heads", "8", "--ff", "14336", "--vocab", "128256", "-q",
                                  "F16", "-t", "1", NULL});
}

static void test_petabyte_shape(void **state) {
    (void)state;
    refused((const char *const[]){"synth", "--layers", "100000", "--dim", "100000", "--heads", "4",
                                  "--ff", "100", "--vocab", "100", "-q", "F16", "-t", "1", NULL});
}

/* An MoE shape counts every expert, not only the active ones. */
static void test_moe_counts_all_experts(void **state) {
    (void)state;
    refused((const char *const[]){"synth", "--arch", "qwen3moe", "--layers", "48", "--dim", "2048",
                                  "--heads", "32", "--kv-heads", "4", "--head-dim", "128", "--ff",
                                  "6144", "--vocab", "151936", "--experts", "128",
                                  "--experts-used", "8", "--ff-exp", "768", "-q", "Q4_K_M", "-t",
                                  "1", NULL});
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_8b_f16_over_4gib),
        cmocka_unit_test(test_petabyte_shape),
        cmocka_unit_test(test_moe_counts_all_experts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
