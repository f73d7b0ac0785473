/*
 * Probes on the machine running the tests. ISA flags must agree with the
 * kernel's /proc/cpuinfo (parsed here independently); the profile's limits
 * must match sched_getaffinity; the quick microbenchmarks must produce
 * sane numbers under physical ceilings (a kernel whose accumulator chains
 * were merged or hoisted by the compiler reports impossible rates); and
 * `localfit probe --json --quick` must print a document that parses and
 * round-trips. No assertion depends on how fast this machine is.
 */
#include "probes/probes.h"

#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

/* The first "flags" line of /proc/cpuinfo, padded with spaces for word
 * matching; empty when there is none (non-x86). */
static void cpuinfo_flags(char *out, size_t size) {
    out[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) == 0) {
            char *colon = strchr(line, ':');
            line[strcspn(line, "\n")] = 0;
            snprintf(out, size, " %s ", colon ? colon + 1 : "");
            break;
        }
    }
    fclose(f);
}

static bool has_flag(const char *flags, const char *name) {
    char pat[64];
    snprintf(pat, sizeof pat, " %s ", name);
    return strstr(flags, pat) != NULL;
}

static int affinity_count(void) {
    cpu_set_t s;
    CPU_ZERO(&s);
    assert_int_equal(sched_getaffinity(0, sizeof s, &s), 0);
    return CPU_COUNT(&s);
}

static void test_isa_matches_cpuinfo(void **state) {
    (void)state;
    char flags[8192];
    cpuinfo_flags(flags, sizeof flags);
    if (!flags[0])
        skip();   /* no x86 flags line: nothing to hold the CPUID read to */
    lf_probe_opts o = lf_probe_opts_default();
    o.sysroot = "/";
    o.quick = true;
    o.nvml_path = "";
    lf_device *d = malloc(sizeof *d);
    lf_error err = {0};
    assert_int_equal(lf_probe_device(d, &o, &err), 0);
    static const struct { const char *flag, *field; } map[] = {
        {"sse4_2", "sse42"}, {"avx", "avx"}, {"avx2", "avx2"}, {"fma", "fma"},
        {"f16c", "f16c"}, {"bmi2", "bmi2"}, {"avx512f", "avx512f"}, {"avx512bw", "avx512bw"},
        {"avx512vl", "avx512vl"}, {"avx512dq", "avx512dq"}, {"avx512_vnni", "avx512vnni"},
        {"avx512_bf16", "avx512bf16"}, {"avx512_fp16", "avx512fp16"}, {"avx_vnni", "avxvnni"},
        {"amx_tile", "amx_tile"}, {"amx_int8", "amx_int8"}, {"amx_bf16", "amx_bf16"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        bool v = false, found = false;
        const char *name;
        for (int k = 0; (name = lf_isa_feature(&d->cpu.isa, k, &v)); k++)
            if (!strcmp(name, map[i].field)) {
                found = true;
                break;
            }
        assert_true(found);
        if (v != has_flag(flags, map[i].flag))
            fail_msg("%s: cpuid says %d, /proc/cpuinfo says %d", map[i].field, v,
                     has_flag(flags, map[i].flag));
    }
    assert_string_equal(d->cpu.isa_source, "cpuid+xgetbv");
    /* Where libcpuid disagrees, the reported value is CPUID's. */
    for (int i = 0; i < d->cpu.n_disagree; i++) {
        bool v = false;
        const char *name;
        for (int k = 0; (name = lf_isa_feature(&d->cpu.isa, k, &v)); k++)
            if (!strcmp(name, d->cpu.disagree[i].feature))
                break;
        assert_int_equal(v, d->cpu.disagree[i].cpuid);
        assert_int_not_equal(d->cpu.disagree[i].cpuid, d->cpu.disagree[i].libcpuid);
    }
    /* Live limits and topology. */
    assert_int_equal(d->limits.affinity_count, affinity_count());
    assert_true(d->limits.usable_threads >= 1 && d->limits.usable_threads <= affinity_count());
    assert_true(d->topology.pus >= affinity_count());
    assert_true(strncmp(d->topology.source, "hwloc", 5) == 0);
    assert_true(d->limits.mem_total > 0 && d->limits.usable_memory > 0);
    assert_true(d->limits.usable_memory <= d->limits.mem_total);
    free(d);
}

/* Runs `localfit probe ARGS`, capturing stdout; returns the exit status. */
static int run_cli(const char *args, char **out) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' probe %s 2>/dev/null", LF_LOCALFIT_BIN, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (len + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_json(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(run_cli("--json --quick", &out), 0);
    assert_non_null(strstr(out, "\"schema\": \"localfit.device/1\""));
    char flags[8192];
    cpuinfo_flags(flags, sizeof flags);
    /* This project's reference machine has AVX-512F/VNNI/BF16; wherever
     * the kernel lists them, the JSON must say present. */
    if (has_flag(flags, "avx512f"))
        assert_non_null(strstr(out, "\"avx512f\": true"));
    if (has_flag(flags, "avx512_vnni"))
        assert_non_null(strstr(out, "\"avx512vnni\": true"));
    if (has_flag(flags, "avx512_bf16"))
        assert_non_null(strstr(out, "\"avx512bf16\": true"));
    lf_device *d = malloc(sizeof *d);
    lf_error err = {0};
    if (lf_device_from_json(d, out, &err) != 0)
        fail_msg("CLI JSON does not parse: %s", err.msg);
    assert_true(d->quick);
    assert_false(d->bandwidth.measured);
    char *again = NULL;
    assert_int_equal(lf_device_to_json(d, &again, &err), 0);
    size_t n = strlen(out);
    assert_true(n > 0 && out[n - 1] == '\n');
    out[n - 1] = 0;
    assert_string_equal(again, out);
    free(again);
    free(out);
    free(d);

    /* The readable summary names its sections. */
    assert_int_equal(run_cli("--quick", &out), 0);
    static const char *sections[] = {"CPU", "ISA", "Topology", "Limits", "GPUs", "Bandwidth", "Compute"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        char pat[32];
        snprintf(pat, sizeof pat, "\n%s ", sections[i]);
        if (!strstr(out, pat))
            fail_msg("summary lacks section %s", sections[i]);
    }
    free(out);
    assert_int_equal(run_cli("--help", &out), 0);
    assert_non_null(strstr(out, "usage: localfit probe"));
    free(out);
    assert_int_equal(run_cli("--threads 0", &out), 2);
    free(out);
    assert_int_equal(run_cli("extra", &out), 2);
    free(out);
    assert_int_equal(run_cli("--quick --sysroot /nonexistent/root", &out), 1);
    free(out);
}

/* Total last-level cache from sysfs, computed here independently. */
static size_t llc_total(void) {
    size_t size = 0;
    int level = 0;
    char path[128], buf[64];
    for (int i = 0; i < 8; i++) {
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        int lv = 0;
        if (!f)
            continue;
        if (fscanf(f, "%d", &lv) != 1)
            lv = 0;
        fclose(f);
        if (lv < level)
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(buf, sizeof buf, f))
            size = strtoull(buf, NULL, 10) * 1024;
        fclose(f);
        level = lv;
    }
    return size;
}

static void test_bandwidth(void **state) {
    (void)state;
    lf_bandwidth bw;
    lf_error err = {0};
    /* Free memory moves while other processes run: the probe's cap lies
     * between the readings taken just before and just after it. */
    long psz = sysconf(_SC_PAGESIZE), pages = sysconf(_SC_AVPHYS_PAGES);
    assert_int_equal(lf_probe_bandwidth(1, false, &bw, &err), 0);
    long pages_after = sysconf(_SC_AVPHYS_PAGES);
    if (pages_after < pages)
        pages = pages_after;
    assert_true(bw.measured);
    assert_int_equal(bw.threads, 1);
    assert_true(bw.read_gbs > 0 && bw.copy_gbs > 0 && bw.triad_gbs > 0);
    /* The write-allocate figures are the same runs counted 3/2 and 4/3. */
    assert_float_equal(bw.copy_wa_gbs, bw.copy_gbs * 1.5, 1e-9 * bw.copy_gbs);
    assert_float_equal(bw.triad_wa_gbs, bw.triad_gbs * 4.0 / 3.0, 1e-9 * bw.triad_gbs);
    /* 4 x LLC and at least 512 MiB, unless free memory forced it smaller. */
    size_t cap = (size_t)pages * (size_t)psz / 8;
    assert_true(bw.array_bytes >= 4 * llc_total() || bw.array_bytes + ((size_t)2 << 20) >= cap);
    assert_true(bw.array_bytes >= ((size_t)512 << 20) || bw.array_bytes + ((size_t)2 << 20) >= cap);
    assert_int_equal(bw.n_curve, 1);
    assert_true(bw.curve_read_gbs[0] == bw.read_gbs);
    assert_true(bw.l1_gbs > 0 && bw.l2_gbs > 0);
    /* One core cannot load more than ~3 x 64 bytes per cycle at 6 GHz. */
    assert_true(bw.l1_gbs < 3 * 64 * 6.0);
    assert_true(bw.read_gbs < 3 * 64 * 6.0);
    assert_non_null(strstr(bw.counts, "write-allocate"));
    char flags[8192];
    cpuinfo_flags(flags, sizeof flags);
    if (has_flag(flags, "avx512f"))
        assert_string_equal(bw.kernel, "avx512");
    else if (has_flag(flags, "avx2"))
        assert_string_equal(bw.kernel, "avx2");

    /* Quick mode: fewer repetitions, no curve, no cache levels. */
    assert_int_equal(lf_probe_bandwidth(1, true, &bw, &err), 0);
    assert_int_equal(bw.threads, 1);
    assert_int_equal(bw.n_curve, 0);
    assert_int_equal(bw.reps, 3);
    assert_true(bw.l1_gbs == 0 && bw.read_gbs > 0);
}

static void test_compute(void **state) {
    (void)state;
    lf_compute c;
    lf_error err = {0};
    assert_int_equal(lf_probe_compute(1, true, NULL, &c, &err), 0);
    assert_true(c.measured);
    assert_int_equal(c.threads, 1);
    assert_true(c.fp32_gflops_core > 0 && c.int8_gops_core > 0);
    assert_true(c.fp32_gflops_all == c.fp32_gflops_core);   /* one thread: same run */
    /* Ceilings: 2 FMA pipes x 16 lanes x 2 ops at 6 GHz; int8 2 x 64 MACs x 2. */
    assert_true(c.fp32_gflops_core < 2 * 16 * 2 * 6.0);
    assert_true(c.int8_gops_core < 2 * 64 * 2 * 6.0);
    char flags[8192];
    cpuinfo_flags(flags, sizeof flags);
    if (has_flag(flags, "avx512_vnni"))
        assert_string_equal(c.int8_method, "avx512 vnni vpdpbusd");
    if (has_flag(flags, "avx512f"))
        assert_string_equal(c.fp32_method, "avx512 fma");
    assert_int_equal(lf_probe_compute(2, true, NULL, &c, &err), 0);
    assert_int_equal(c.threads, 2);
    assert_true(c.fp32_gflops_all > 0 && c.int8_gops_all > 0);
    /* held to a kernel level: only that level's instructions */
    lf_isa isa;
    lf_isa_detect(&isa);
    lf_isa_cap(&isa, LF_ISA_SCALAR);
    assert_int_equal(lf_probe_compute(1, true, &isa, &c, &err), 0);
    assert_string_equal(c.fp32_method, "scalar");
    assert_string_equal(c.int8_method, "scalar");
    if (has_flag(flags, "avx2") && has_flag(flags, "fma")) {
        lf_isa_detect(&isa);
        lf_isa_cap(&isa, LF_ISA_AVX2);
        assert_int_equal(lf_probe_compute(1, true, &isa, &c, &err), 0);
        assert_string_equal(c.fp32_method, "avx2 fma");
        assert_string_equal(c.int8_method,
                            has_flag(flags, "avx_vnni") ? "avx-vnni vpdpbusd" : "avx2 maddubs+madd");
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isa_matches_cpuinfo),
        cmocka_unit_test(test_cli_json),
        cmocka_unit_test(test_bandwidth),
        cmocka_unit_test(test_compute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
