/*
 * `localfit probe` — profile this device and print it: a readable summary
 * (CPU, ISA, topology, limits, GPUs, bandwidth with its thread curve,
 * compute) or, with --json, the stable "localfit.device/1" document the
 * store and reports consume. --quick skips the microbenchmarks.
 */
#include "bench/bench.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "probes/probes.h"
#include "store/store.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* A bandwidth measured now far from the one the results store holds for
 * this device (lf_device_noise) is said on stderr: the figures above are
 * then not typical of the machine. The store is only read, if it exists. */
static void warn_noise(const lf_device *dev) {
    if (!dev->bandwidth.measured)
        return;
    lf_store *st = NULL;
    if (lf_store_open_path(&st, NULL, LF_STORE_NOCREATE | LF_STORE_READONLY, NULL) < 0)
        return;
    char msg[256];
    if (lf_device_noise(dev->bandwidth.read_gbs, lf_device_stored_bandwidth(st, dev->id), msg,
                        sizeof msg))
        fprintf(stderr, "localfit probe: warning: %s\n", msg);
    lf_store_close(st);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit probe [--json] [--quick] [--threads N] [--sysroot DIR]\n"
            "                      [--nvml PATH] [--no-bandwidth] [--no-compute]\n\n"
            "Profile this device: CPU and ISA features, topology, what this process\n"
            "may use (affinity, cgroup quota and memory limit), GPUs and whether their\n"
            "memory is unified with the CPU's, measured memory bandwidth (read, copy,\n"
            "triad, thread curve, L1/L2/L3) and compute peaks (FP32 FMA, int8 dot).\n\n"
            "  --json         print the localfit.device/1 JSON document\n"
            "  --quick        skip the microbenchmarks (well under a second)\n"
            "  --threads N    threads for the microbenchmarks (default: usable threads)\n"
            "  --sysroot DIR  read procfs/sysfs under DIR (default $LOCALFIT_SYSROOT or /)\n"
            "  --nvml PATH    NVML library to load (default libnvidia-ml.so.1; '' none)\n"
            "  --no-bandwidth skip the bandwidth measurement\n"
            "  --no-compute   skip the compute measurement\n"
            "  -h, --help     this help\n");
}

static const char *yn(bool b) { return b ? "yes" : "no"; }

static void print_cache(const char *name, const lf_cache_info *c) {
    char b[32];
    if (!c->size_bytes)
        return;
    printf("  %-4s %s x%d, shared by %d PU%s\n", name, lf_format_bytes(b, sizeof b, (double)c->size_bytes),
           c->instances, c->shared_by_pus, c->shared_by_pus == 1 ? "" : "s");
}

static void print_summary(const lf_device *d) {
    char b1[32], b2[32], b3[32];
    const lf_cpu *c = &d->cpu;
    printf("Device     %s  (id %s)\n", d->slug, d->id);
    if (strcmp(d->sysroot, "/"))
        printf("           read under sysroot %s\n", d->sysroot);
    printf("\nCPU        %s\n", c->brand[0] ? c->brand : "(unknown brand)");
    printf("  vendor %s, arch %s, family %d model %d stepping %d\n", c->vendor, c->arch,
           c->family, c->model, c->stepping);
    printf("  codename %s (%s)", c->codename[0] ? c->codename : "unknown", c->codename_source);
    if (c->codename_libcpuid[0] && strcmp(c->codename_libcpuid, c->codename))
        printf("; libcpuid says \"%s\"", c->codename_libcpuid);
    printf("\n  hypervisor %s; hybrid %s; source %s\n", c->hypervisor, yn(c->hybrid), c->source);
    printf("  caches (one instance): L1d %d KiB, L1i %d KiB, L2 %d KiB, L3 %d KiB\n", c->l1d_kib,
           c->l1i_kib, c->l2_kib, c->l3_kib);

    printf("\nISA        (%s)\n  present:", c->isa_source);
    bool v;
    const char *name;
    for (int i = 0; (name = lf_isa_feature(&c->isa, i, &v)); i++)
        if (v)
            printf(" %s", name);
    printf("\n");
    for (int i = 0; i < c->n_disagree; i++)
        printf("  libcpuid disagrees on %s: cpuid %s, libcpuid %s (cpuid reported)\n",
               c->disagree[i].feature, yn(c->disagree[i].cpuid), yn(c->disagree[i].libcpuid));

    const lf_topology *t = &d->topology;
    printf("\nTopology   %d package%s, %d cores, %d PUs (%s)\n", t->packages,
           t->packages == 1 ? "" : "s", t->cores, t->pus, t->source);
    print_cache("L1d", &t->l1d);
    print_cache("L1i", &t->l1i);
    print_cache("L2", &t->l2);
    print_cache("L3", &t->l3);
    for (int i = 0; i < t->n_numa; i++)
        printf("  NUMA node %d: %s, cpus %s\n", t->numa[i].os_index,
               lf_format_bytes(b1, sizeof b1, (double)t->numa[i].memory_bytes), t->numa[i].cpus);
    for (int i = 0; i < t->n_kinds && t->n_kinds > 1; i++)
        printf("  CPU kind %d: efficiency %d, %d PUs %s %s\n", i, t->kinds[i].efficiency,
               t->kinds[i].n_pus, t->kinds[i].cpus, t->kinds[i].core_type);

    const lf_limits *l = &d->limits;
    printf("\nLimits     cgroup v%s\n", l->cgroup_version == 3 ? "1+v2 (hybrid)"
                                      : l->cgroup_version == 2 ? "2"
                                      : l->cgroup_version == 1 ? "1" : "- (none found)");
    printf("  online CPUs %d; affinity %d (%s) [%s]\n", l->online_cpus, l->affinity_count,
           l->affinity_cpus, l->affinity_source);
    printf("  cpu quota: %s", lf_limit_state_name(l->cpu_quota_state));
    if (l->cpu_quota_state == LF_LIMIT_SET)
        printf(" %.2f CPUs", l->cpu_quota);
    printf(" [%s]\n  cpuset: %s", l->cpu_quota_source, lf_limit_state_name(l->cpuset_state));
    if (l->cpuset_state == LF_LIMIT_SET)
        printf(" %d CPUs (%s)", l->cpuset_count, l->cpuset_cpus);
    printf(" [%s]\n  memory limit: %s", l->cpuset_source, lf_limit_state_name(l->memory_limit_state));
    if (l->memory_limit_state == LF_LIMIT_SET)
        printf(" %s", lf_format_bytes(b1, sizeof b1, (double)l->memory_limit));
    printf(" [%s]\n", l->memory_limit_source);
    printf("  MemTotal %s, MemAvailable %s [%s]\n", lf_format_bytes(b1, sizeof b1, (double)l->mem_total),
           lf_format_bytes(b2, sizeof b2, (double)l->mem_available), l->mem_source);
    printf("  usable threads %d  [%s]\n", l->usable_threads, l->usable_threads_source);
    printf("  usable memory %s  [%s]\n", lf_format_bytes(b1, sizeof b1, (double)l->usable_memory),
           l->usable_memory_source);

    printf("\nGPUs       %d found; %s\n", d->n_gpus, d->gpu_notes);
    for (int i = 0; i < d->n_gpus; i++) {
        const lf_gpu *g = &d->gpus[i];
        printf("  [%d] %s (%s %04x:%04x) bus %s driver %s%s%s [%s]\n", i, g->name, g->vendor,
               g->vendor_id, g->device_id, g->bus_id[0] ? g->bus_id : "-",
               g->driver[0] ? g->driver : "(none)", g->driver_version[0] ? " " : "",
               g->driver_version, g->sources);
        printf("      VRAM %s (free %s), GTT %s", lf_format_bytes(b1, sizeof b1, (double)g->vram_bytes),
               lf_format_bytes(b2, sizeof b2, (double)g->vram_free_bytes),
               lf_format_bytes(b3, sizeof b3, (double)g->gtt_bytes));
        if (g->bandwidth_gbs > 0)
            printf(", %d-bit @ %d MHz = %.0f GB/s peak", g->bus_width_bits, g->mem_clock_mhz,
                   g->bandwidth_gbs);
        printf("\n      memory %s: %s\n", lf_gpu_mem_name(g->memory), g->memory_reason);
        printf("      model budget %s [%s]\n", lf_format_bytes(b1, sizeof b1, (double)g->model_budget_bytes),
               g->budget_source);
    }

    const lf_bandwidth *bw = &d->bandwidth;
    if (bw->measured) {
        printf("\nBandwidth  %d threads, %s kernel, arrays %s, best of <= %d, %.2f s\n", bw->threads,
               bw->kernel, lf_format_bytes(b1, sizeof b1, (double)bw->array_bytes), bw->reps, bw->seconds);
        printf("  read   %8.1f GB/s   (bytes loaded)\n", bw->read_gbs);
        printf("  copy   %8.1f GB/s   (STREAM: 2 arrays)   %8.1f GB/s with write-allocate\n",
               bw->copy_gbs, bw->copy_wa_gbs);
        printf("  triad  %8.1f GB/s   (STREAM: 3 arrays)   %8.1f GB/s with write-allocate\n",
               bw->triad_gbs, bw->triad_wa_gbs);
        printf("  read curve (threads: GB/s):");
        for (int i = 0; i < bw->n_curve; i++)
            printf(" %d: %.1f", i + 1, bw->curve_read_gbs[i]);
        printf("\n  cache read, all threads: L1 %.1f, L2 %.1f, L3 %.1f GB/s%s\n", bw->l1_gbs,
               bw->l2_gbs, bw->l3_gbs, bw->l3_gbs == 0 ? " (L3 share too small to isolate)" : "");
    } else {
        printf("\nBandwidth  not measured%s\n", d->quick ? " (--quick)" : " (--no-bandwidth)");
    }
    const lf_compute *cp = &d->compute;
    if (cp->measured) {
        printf("\nCompute    %d threads, %.2f s\n", cp->threads, cp->seconds);
        printf("  FP32  %9.1f GFLOP/s per core  %9.1f all  (%s)\n", cp->fp32_gflops_core,
               cp->fp32_gflops_all, cp->fp32_method);
        printf("  int8  %9.1f GOP/s per core    %9.1f all  (%s)\n", cp->int8_gops_core,
               cp->int8_gops_all, cp->int8_method);
    } else {
        printf("\nCompute    not measured%s\n", d->quick ? " (--quick)" : " (--no-compute)");
    }
    printf("\nProbe took %.2f s\n", d->probe_seconds);
}

int cmd_probe(int argc, char **argv) {
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"quick", no_argument, NULL, 'q'},
        {"threads", required_argument, NULL, 't'},
        {"sysroot", required_argument, NULL, 's'},
        {"nvml", required_argument, NULL, 'n'},
        {"no-bandwidth", no_argument, NULL, 'B'},
        {"no-compute", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    lf_probe_opts opts = lf_probe_opts_default();
    bool json = false;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j': json = true; break;
        case 'q': opts.quick = true; break;
        case 't': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*optarg == 0 || *end || n < 1 || n > 1024)
                return lf_cli_usage_error("probe", "--threads wants 1..1024, not '%s'", optarg);
            opts.threads = (int)n;
            break;
        }
        case 's': opts.sysroot = optarg; break;
        case 'n': opts.nvml_path = optarg; break;
        case 'B': opts.no_bandwidth = true; break;
        case 'C': opts.no_compute = true; break;
        case 'h': usage(stdout); return LF_EXIT_OK;
        default: return lf_cli_bad_option("probe", argv, longopts);
        }
    }
    if (optind < argc)
        return lf_cli_usage_error("probe", "unexpected argument '%s'", argv[optind]);

    lf_device *dev = malloc(sizeof *dev);
    if (!dev) {
        lf_error e = {LF_ENOMEM, "out of memory"};
        return lf_cli_fail(&e);
    }
    lf_error err = {0};
    if (!opts.quick && !(opts.no_bandwidth && opts.no_compute))
        fprintf(stderr, "localfit probe: measuring bandwidth and compute (a few seconds)...\n");
    int rc = lf_probe_device(dev, &opts, &err);
    if (rc < 0) {
        free(dev);
        return lf_cli_fail(&err);
    }
    if (json) {
        char *s = NULL;
        if (lf_device_to_json(dev, &s, &err) < 0) {
            free(dev);
            return lf_cli_fail(&err);
        }
        printf("%s\n", s);
        free(s);
    } else {
        print_summary(dev);
    }
    warn_noise(dev);
    free(dev);
    return LF_EXIT_OK;
}
