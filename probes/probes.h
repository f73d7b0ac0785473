/*
 * probes — an honest profile of the device localfit runs on: the CPU and
 * the ISA features the kernels may use, the topology, what this process may
 * really use (affinity, cgroup quotas and memory limits), the GPUs and
 * whether their memory is shared with the CPU, and measured memory
 * bandwidth and compute peaks. Everything lands in one plain struct,
 * lf_device (no pointers, freely copyable), with one stable JSON schema
 * "localfit.device/1" that the store saves and the reports read back.
 *
 * Every file the probes read (procfs, sysfs, cgroups, pci.ids) is read under
 * a root that defaults to "/" and can be moved (opts.sysroot or
 * LOCALFIT_SYSROOT), so tests replay recorded trees of machines we do not
 * have. NVML is reached through a table of functions loaded with dlopen, so
 * no vendor SDK is needed at build time and a test can load a fake library.
 * Missing or malformed inputs never fail the probe: the field reads
 * "unknown" and its source string says why.
 *
 * Usage:
 *     lf_probe_opts opts = lf_probe_opts_default();   // sysroot "/", full run
 *     opts.quick = true;                              // no microbenchmarks
 *     lf_device dev;
 *     lf_error err = {0};
 *     if (lf_probe_device(&dev, &opts, &err) < 0) die(err.msg);
 *     printf("%s: %d usable threads, %.1f GB/s read\n", dev.slug,
 *            dev.limits.usable_threads, dev.bandwidth.read_gbs);
 *     char *json;
 *     if (lf_device_to_json(&dev, &json, &err) == 0) { puts(json); free(json); }
 *
 * Thread safety: all functions are reentrant (no global state); the
 * microbenchmarks start and join their own pinned threads.
 */
#ifndef LF_PROBES_H
#define LF_PROBES_H

#include "common/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LF_DEVICE_SCHEMA "localfit.device/1"

#define LF_GPU_MAX 16
#define LF_NUMA_MAX 16
#define LF_KINDS_MAX 4
#define LF_DISAGREE_MAX 16
#define LF_CURVE_MAX 64
#define LF_SRC 160          /* length of every "source"/"reason" string */

/* ---- CPU identity and ISA ------------------------------------------------ */

/* A feature on which libcpuid and our own CPUID read differ. The profile
 * reports the CPUID value; this keeps the other opinion visible. */
typedef struct lf_isa_disagreement {
    char feature[24];      /* lf_isa field name, e.g. "avx512f" */
    bool cpuid;            /* our CPUID + XGETBV read (what is reported) */
    bool libcpuid;         /* what libcpuid says */
} lf_isa_disagreement;

typedef struct lf_cpu {
    char arch[16];         /* "x86_64", "aarch64", ... */
    char vendor[32];       /* "AuthenticAMD", "GenuineIntel", "ARM" ... */
    char brand[96];        /* brand string, "" if unknown */
    int family, model, stepping;   /* display values (extended), -1 unknown */
    char codename[64];     /* "Zen 4 (Genoa)", "" unknown */
    char codename_source[32];      /* "localfit table", "libcpuid", "none" */
    char codename_libcpuid[64];    /* libcpuid's codename, kept when ours differs */
    char series[16];       /* product series when the brand has no number ("9004") */
    bool apu;              /* codename is a CPU with an integrated GPU sharing RAM */
    char hypervisor[32];   /* "none", "KVM", "VMware", "present", "unknown" */
    /* Caches of one instance as libcpuid reports them, KiB, 0 = none/unknown. */
    int l1d_kib, l1i_kib, l2_kib, l3_kib;
    char source[LF_SRC];   /* where identity came from: "libcpuid", "/proc/cpuinfo" */
    lf_isa isa;            /* what the kernels may use */
    char isa_source[48];   /* "cpuid+xgetbv", "hwcap", "/proc/cpuinfo flags" */
    int n_disagree;
    lf_isa_disagreement disagree[LF_DISAGREE_MAX];
    bool hybrid;           /* more than one CPU kind (P/E cores) */
} lf_cpu;

/* ---- topology ------------------------------------------------------------- */

typedef struct lf_cache_info {
    uint64_t size_bytes;   /* one instance; 0 = absent or unknown */
    int instances;         /* instances in the machine, 0 unknown */
    int shared_by_pus;     /* PUs sharing one instance, 0 unknown */
} lf_cache_info;

typedef struct lf_numa_node {
    int os_index;
    uint64_t memory_bytes; /* local memory; 0 unknown */
    char cpus[64];         /* cpulist "0-15,32-47", truncated if longer */
} lf_numa_node;

typedef struct lf_cpu_kind {
    int efficiency;        /* hwloc ranking, 0 = least efficient (fastest) */
    int n_pus;
    char core_type[32];    /* "IntelCore", "IntelAtom", "" */
    char cpus[64];
} lf_cpu_kind;

typedef struct lf_topology {
    char source[LF_SRC];   /* "hwloc", "sysfs (sysroot)", or why unknown */
    int packages, cores, pus;              /* whole machine; 0 unknown */
    lf_cache_info l1d, l1i, l2, l3;
    int n_numa;
    lf_numa_node numa[LF_NUMA_MAX];
    int n_kinds;                           /* 0 or 1 = homogeneous */
    lf_cpu_kind kinds[LF_KINDS_MAX];
} lf_topology;

/* ---- limits: what this process may use ------------------------------------ */

typedef enum lf_limit_state {
    LF_LIMIT_UNKNOWN = 0,  /* could not be read; source says why */
    LF_LIMIT_NONE,         /* no limit ("max", -1, v1's huge value, absent) */
    LF_LIMIT_SET,          /* a real limit */
} lf_limit_state;

typedef struct lf_limits {
    int online_cpus;                   /* host CPUs online, 0 unknown */
    int affinity_count;                /* CPUs in the affinity mask, 0 unknown */
    char affinity_cpus[128];           /* cpulist */
    char affinity_source[LF_SRC];
    int cgroup_version;                /* 0 none found, 1, 2, or 3 = hybrid v1+v2 */
    lf_limit_state cpu_quota_state;
    double cpu_quota;                  /* CPUs (quota / period) when SET */
    char cpu_quota_source[LF_SRC];
    lf_limit_state cpuset_state;
    int cpuset_count;
    char cpuset_cpus[128];
    char cpuset_source[LF_SRC];
    lf_limit_state memory_limit_state;
    uint64_t memory_limit;             /* bytes when SET */
    char memory_limit_source[LF_SRC];
    uint64_t mem_total;                /* MemTotal, bytes, 0 unknown */
    uint64_t mem_available;            /* MemAvailable, bytes, 0 unknown */
    char mem_source[LF_SRC];
    /* Derived. usable_threads = min(affinity, cpuset, ceil(quota)), at least
     * 1: a fractional quota rounds up because the extra thread still gets
     * the fractional CPU's time (1.5 CPUs: two threads finish more work
     * than one). usable_memory = min(MemAvailable, cgroup limit). */
    int usable_threads;
    char usable_threads_source[LF_SRC];
    uint64_t usable_memory;            /* bytes, 0 unknown */
    char usable_memory_source[LF_SRC];
} lf_limits;

/* ---- GPUs ----------------------------------------------------------------- */

typedef enum lf_gpu_mem {
    LF_GPU_MEM_UNKNOWN = 0,
    LF_GPU_MEM_DISCRETE,   /* own VRAM across a bus */
    LF_GPU_MEM_UNIFIED,    /* shares system RAM with the CPU */
} lf_gpu_mem;

typedef struct lf_gpu {
    char vendor[16];       /* "amd", "nvidia", "intel", "apple", "arm", ... */
    uint16_t vendor_id, device_id;         /* PCI ids, 0 unknown */
    char name[96];
    char driver[32];       /* bound kernel driver, "" none */
    char driver_version[32];
    char bus_id[16];       /* normalized "0000:01:00.0", "" not PCI */
    char sources[64];      /* "drm", "nvml", "drm+nvml", "sysctl" */
    char pci_path[128];    /* sysfs device path below /sys/devices, "" unknown */
    uint64_t vram_bytes;   /* dedicated memory (or carve-out), 0 unknown */
    uint64_t vram_free_bytes;
    uint64_t gtt_bytes;    /* amdgpu GTT: system RAM the GPU may map */
    int bus_width_bits;    /* memory bus, 0 unknown */
    int mem_clock_mhz;     /* max memory clock as NVML reports it */
    double bandwidth_gbs;  /* theoretical peak: 2 * clock * width / 8, 0 unknown */
    lf_gpu_mem memory;     /* the unified-memory verdict */
    char memory_reason[LF_SRC];
    uint64_t model_budget_bytes;           /* what a model may use there */
    char budget_source[LF_SRC];
} lf_gpu;

/* ---- measurements ---------------------------------------------------------
 * Bandwidth in GB/s (1e9 bytes/s). Counting (also in `counts`): read counts
 * the bytes loaded; copy (b=a) and triad (a=b+s*c) follow STREAM and count
 * 2 and 3 arrays; the *_wa fields add the write-allocate read of the
 * destination that ordinary stores cause (3 and 4 arrays), i.e. the traffic
 * the memory really carried. L1/L2/L3 are read-only over buffers sized to
 * live in that level, summed over all `threads`. */
typedef struct lf_bandwidth {
    bool measured;
    double read_gbs, copy_gbs, triad_gbs;  /* all `threads` threads */
    double copy_wa_gbs, triad_wa_gbs;      /* same runs, write-allocate counted */
    int threads;
    int n_curve;
    double curve_read_gbs[LF_CURVE_MAX];   /* index i = i+1 threads */
    double l1_gbs, l2_gbs, l3_gbs;         /* read, all threads, 0 not measured */
    size_t array_bytes;                    /* one array of the DRAM tests */
    int reps;                              /* best of up to this many (a time budget may stop earlier) */
    char kernel[16];                       /* "avx512", "avx2", "neon", "scalar" */
    double seconds;                        /* wall time of the whole measurement */
    char counts[128];
} lf_bandwidth;

/* Compute peaks, 2 ops per multiply-add. "core" is one pinned thread,
 * "all" is `threads` pinned threads together. */
typedef struct lf_compute {
    bool measured;
    double fp32_gflops_core, fp32_gflops_all;
    double int8_gops_core, int8_gops_all;
    int threads;
    char fp32_method[32], int8_method[32];
    double seconds;
} lf_compute;

/* ---- the device ------------------------------------------------------------ */

typedef struct lf_device {
    char schema[24];       /* LF_DEVICE_SCHEMA */
    char id[24];           /* 16 hex digits: FNV-1a 64 of id_basis */
    char slug[64];         /* "amd-epyc-9004-2c-24g" */
    char id_basis[256];    /* the identity fields hashed into id */
    char os[64];           /* kernel release, "" unknown */
    char sysroot[256];     /* where files were read */
    bool quick;            /* microbenchmarks skipped */
    double probe_seconds;
    lf_cpu cpu;
    lf_topology topology;
    lf_limits limits;
    int n_gpus;
    lf_gpu gpus[LF_GPU_MAX];
    char gpu_notes[LF_SRC];    /* NVML status and other remarks */
    lf_bandwidth bandwidth;
    lf_compute compute;
} lf_device;

typedef struct lf_probe_opts {
    const char *sysroot;   /* NULL: getenv("LOCALFIT_SYSROOT") or "/" */
    bool quick;            /* skip the microbenchmarks (< 0.3 s); they always
                              measure this host, whatever the sysroot */
    int threads;           /* threads for the microbenchmarks, <= 0: usable_threads */
    /* NVML library to dlopen. NULL: "libnvidia-ml.so.1" when the sysroot is
     * "/", none otherwise (a recorded tree must not mix with this host's
     * GPU). "" disables NVML. */
    const char *nvml_path;
    bool no_bandwidth;     /* skip only the bandwidth measurement */
    bool no_compute;       /* skip only the compute measurement */
} lf_probe_opts;

/* Defaults: sysroot NULL (env or "/"), full run, all usable threads. */
lf_probe_opts lf_probe_opts_default(void);

/* Probes the device into *out (fully overwritten). opts may be NULL for the
 * defaults. Unreadable or malformed inputs do not fail: the field reads
 * unknown with the reason in its source string. Fails only with LF_EINVAL
 * (bad sysroot path), LF_ENOMEM, or a microbenchmark's error. */
int lf_probe_device(lf_device *out, const lf_probe_opts *opts, lf_error *err);

/* Measured memory bandwidth with nthreads pinned threads (<= 0: all CPUs
 * in this process's affinity mask). quick: fewer repetitions, no curve and
 * no cache levels (for tests). Fails with LF_ENOMEM if the arrays cannot be
 * allocated, LF_EIO if threads cannot be started. */
int lf_probe_bandwidth(int nthreads, bool quick, lf_bandwidth *out, lf_error *err);

/* Measured FP32 FMA and int8 dot-product peaks, per core and for nthreads
 * pinned threads (<= 0: the affinity mask). quick: shorter runs. features:
 * the instructions the probe may use (lf_isa_cap of a kernel level, so
 * that a result is held to the peak of the set it ran with); NULL for all
 * the CPU has. */
int lf_probe_compute(int nthreads, bool quick, const lf_isa *features, lf_compute *out,
                     lf_error *err);

/* Serializes d as schema "localfit.device/1". *out_json is malloc'd (caller
 * frees); LF_ENOMEM on allocation failure. */
int lf_device_to_json(const lf_device *d, char **out_json, lf_error *err);

/* Parses a "localfit.device/1" document into *out (fully overwritten).
 * Missing optional fields read as zero/empty; LF_EFORMAT for bad JSON, a
 * wrong schema, or a field of the wrong type (the message names the key). */
int lf_device_from_json(lf_device *out, const char *json, lf_error *err);

/* Names for enums, static strings: "discrete"/"unified"/"unknown" and
 * "unknown"/"none"/"set". */
const char *lf_gpu_mem_name(lf_gpu_mem m);
const char *lf_limit_state_name(lf_limit_state s);

/* The ISA feature table: name and value of the i-th lf_isa field, for
 * printing and JSON. Returns NULL past the end. */
const char *lf_isa_feature(const lf_isa *isa, int i, bool *value);
/* Sets the named lf_isa field; LF_ENOTFOUND for an unknown name. */
int lf_isa_feature_set(lf_isa *isa, const char *name, bool value);

#endif /* LF_PROBES_H */
