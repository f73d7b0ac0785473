/*
 * Tests for common/: error messages from the one list, byte-size parsing
 * and formatting, the CSV escaper and writer, and ISA detection held
 * against /proc/cpuinfo's flags.
 */
#include "common/common.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void test_error_set_and_wrap(void **state) {
    (void)state;
    lf_error err = {0};
    assert_int_equal(lf_error_set(&err, LF_EFORMAT, "bad byte at offset %d", 42), LF_EFORMAT);
    assert_string_equal(err.msg, "bad byte at offset 42");
    lf_error_wrap(&err, "loading %s", "x.gguf");
    assert_string_equal(err.msg, "loading x.gguf: bad byte at offset 42");
    assert_string_equal(lf_errname(LF_EDB), "LF_EDB");
    assert_string_equal(lf_strerror(LF_ENOMEM), "out of memory");
    assert_string_equal(lf_strerror(12345), "unknown error");
    /* NULL error pointers are allowed and still return the code. */
    assert_int_equal(lf_error_set(NULL, LF_EIO, "x"), LF_EIO);
}

static void expect_csv(const char *in, const char *want) {
    char buf[128];
    size_t n = lf_csv_escape(buf, sizeof buf, in);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static void put_mem(void *ctx, const char *s, size_t n) {
    char *dst = ctx;
    size_t used = strlen(dst);
    assert_true(used + n < 256);
    memcpy(dst + used, s, n);
    dst[used + n] = '\0';
}

static void test_csv(void **state) {
    (void)state;
    /* RFC 4180: quoted only for a comma, quote, CR or LF; quotes doubled */
    expect_csv("plain", "plain");
    expect_csv("", "");
    expect_csv(NULL, "");
    expect_csv("a,b", "\"a,b\"");
    expect_csv("say \"hi\"", "\"say \"\"hi\"\"\"");
    expect_csv("two\nlines", "\"two\nlines\"");
    expect_csv("cr\rhere", "\"cr\rhere\"");
    /* the formula guard, inside the quotes */
    expect_csv("=SUM(A1)", "\"'=SUM(A1)\"");
    expect_csv("-1", "\"'-1\"");
    expect_csv("@x,y", "\"'@x,y\"");
    /* snprintf-style: cut to size, the full length returned */
    char small[4];
    assert_int_equal(lf_csv_escape(small, sizeof small, "a,bcdef"), 9);
    assert_string_equal(small, "\"a,");
    assert_int_equal(lf_csv_escape(NULL, 0, "x\"y"), 6);

    /* the writer: separators, cleaned text, numbers, unknowns, "\n" */
    char out[256] = "";
    lf_csv c;
    lf_csv_init(&c, put_mem, out, 6);
    lf_csv_raw(&c, "name");
    lf_csv_raw(&c, "v");
    lf_csv_end(&c);
    lf_csv_text(&c, "a\r\nb,\x1b[2Jc");
    lf_csv_real(&c, 1.0 / 3.0);
    lf_csv_real(&c, NAN);
    lf_csv_int(&c, -2);
    lf_csv_count(&c, -1);
    lf_csv_count(&c, 5368709120LL);
    lf_csv_end(&c);
    assert_string_equal(out, "name,v\n\"a  b,[2Jc\",0.333333,,-2,,5368709120\n");
}

static void test_parse_bytes(void **state) {
    (void)state;
    uint64_t v;
    assert_int_equal(lf_parse_bytes("4G", &v), 0);
    assert_int_equal(v, 4ull << 30);
    assert_int_equal(lf_parse_bytes("512MiB", &v), 0);
    assert_int_equal(v, 512ull << 20);
    assert_int_equal(lf_parse_bytes("1.5 GiB", &v), 0);
    assert_int_equal(v, 3ull << 29);
    assert_int_equal(lf_parse_bytes("1024", &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(lf_parse_bytes("12X", &v), LF_EINVAL);
    assert_int_equal(lf_parse_bytes("", &v), LF_EINVAL);
    assert_int_equal(lf_parse_bytes("-3G", &v), LF_EINVAL);
    char buf[32];
    assert_string_equal(lf_format_bytes(buf, sizeof buf, 3.0 * (1 << 30)), "3.00 GiB");
    assert_string_equal(lf_format_bytes(buf, sizeof buf, 100), "100 B");
}

static void test_isa_levels(void **state) {
    (void)state;
    lf_isa_level l;
    assert_int_equal(lf_isa_level_parse("AVX512", &l), 0);
    assert_int_equal(l, LF_ISA_AVX512);
    assert_int_equal(lf_isa_level_parse("sse9", &l), LF_EINVAL);
    lf_isa isa;
    lf_isa_detect(&isa);
    assert_true(lf_isa_supported(&isa, LF_ISA_SCALAR));
    assert_true(lf_isa_supported(&isa, lf_isa_best(&isa)));
}

/* lf_isa_cap on a CPU with every feature: each level keeps what its kernel
 * set uses and nothing above it. */
static void test_isa_cap(void **state) {
    (void)state;
    lf_isa all = {
        .sse42 = true, .avx = true, .avx2 = true, .fma = true, .f16c = true, .bmi2 = true,
        .avx512f = true, .avx512bw = true, .avx512vl = true, .avx512dq = true,
        .avx512vnni = true, .avx512bf16 = true, .avx512fp16 = true, .avxvnni = true,
        .amx_tile = true, .amx_int8 = true, .amx_bf16 = true,
        .os_avx = true, .os_avx512 = true, .os_amx = true,
        .neon = true, .dotprod = true, .i8mm = true, .sve = true, .sve2 = true, .sme = true,
        .arm_bf16 = true, .arm_fp16 = true,
    };
    lf_isa c = all;
    lf_isa_cap(&c, LF_ISA_AVX512);
    assert_memory_equal(&c, &all, sizeof c);
    c = all;
    lf_isa_cap(&c, LF_ISA_AVX2);
    assert_true(c.avx2 && c.fma && c.f16c && c.avxvnni);
    assert_false(c.avx512f || c.avx512bw || c.avx512vl || c.avx512dq || c.avx512vnni ||
                 c.avx512bf16 || c.avx512fp16 || c.amx_tile || c.amx_int8 || c.amx_bf16);
#if defined(__x86_64__)
    assert_int_equal(lf_isa_best(&c), LF_ISA_AVX2);
#endif
    c = all;
    lf_isa_cap(&c, LF_ISA_SCALAR);
    assert_false(c.avx || c.avx2 || c.fma || c.avx512f || c.avxvnni || c.neon || c.dotprod);
    assert_int_equal(lf_isa_best(&c), LF_ISA_SCALAR);
}

#if defined(__x86_64__)
/* Whether /proc/cpuinfo's first "flags" line lists flag as a whole word. */
static int cpuinfo_has(const char *line, const char *flag) {
    size_t n = strlen(flag);
    for (const char *p = line; (p = strstr(p, flag)) != NULL; p += n)
        if ((p == line || p[-1] == ' ' || p[-1] == '\t') &&
            (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}
#endif

static void test_isa_matches_cpuinfo(void **state) {
    (void)state;
#if defined(__x86_64__)
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) {
        skip();
    }
    static char line[16384];
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0) {
            found = 1;
            break;
        }
    fclose(f);
    if (!found)
        skip();
    lf_isa isa;
    lf_isa_detect(&isa);
    /* The kernel clears flags the OS does not enable, as we do via XCR0. */
    assert_int_equal(isa.sse42, cpuinfo_has(line, "sse4_2"));
    assert_int_equal(isa.avx, cpuinfo_has(line, "avx"));
    assert_int_equal(isa.avx2, cpuinfo_has(line, "avx2"));
    assert_int_equal(isa.fma, cpuinfo_has(line, "fma"));
    assert_int_equal(isa.f16c, cpuinfo_has(line, "f16c"));
    assert_int_equal(isa.avx512f, cpuinfo_has(line, "avx512f"));
    assert_int_equal(isa.avx512bw, cpuinfo_has(line, "avx512bw"));
    assert_int_equal(isa.avx512vl, cpuinfo_has(line, "avx512vl"));
    assert_int_equal(isa.avx512vnni, cpuinfo_has(line, "avx512_vnni"));
    assert_int_equal(isa.avx512bf16, cpuinfo_has(line, "avx512_bf16"));
    assert_int_equal(isa.avx512fp16, cpuinfo_has(line, "avx512_fp16"));
    assert_int_equal(isa.avxvnni, cpuinfo_has(line, "avx_vnni"));
    assert_int_equal(isa.amx_tile, cpuinfo_has(line, "amx_tile"));
#else
    skip();
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_set_and_wrap),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_parse_bytes),
        cmocka_unit_test(test_isa_levels),
        cmocka_unit_test(test_isa_cap),
        cmocka_unit_test(test_isa_matches_cpuinfo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
