/*
 * lf_probe_device: runs the sections in order (CPU, topology, limits, GPUs,
 * then the measurements), and derives the fingerprint and slug. The
 * fingerprint hashes identity fields only — what the machine is, never
 * what it measured or what a container currently allows — so the same
 * box keeps its id across runs, kernels and cgroups.
 */
#include "probes/internal.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

lf_probe_opts lf_probe_opts_default(void) {
    lf_probe_opts o;
    memset(&o, 0, sizeof o);
    return o;
}

static uint64_t fnv1a64(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static int round_gib(uint64_t bytes) {
    return (int)floor((double)bytes / (1024.0 * 1024.0 * 1024.0) + 0.5);
}

/* Appends the lowercase alphanumeric words of s to slug, dash-separated,
 * dropping marketing noise. */
static void slug_words(char *slug, size_t size, const char *s) {
    static const char *noise[] = {"r", "tm", "c", "cpu", "processor", "core", "apu",
                                  "mobile", "gen", NULL};
    char word[64];
    size_t wl = 0;
    for (const char *p = s;; p++) {
        if (*p && isalnum((unsigned char)*p)) {
            if (wl + 1 < sizeof word)
                word[wl++] = (char)tolower((unsigned char)*p);
            continue;
        }
        /* "@" starts the clock speed, "w/" or "with" the integrated GPU;
         * "N-Core" counts and "11th" generations are noise. */
        word[wl] = 0;
        bool stop = *p == '@' || (*p == '/' && !strcmp(word, "w")) || !strcmp(word, "with");
        bool drop = wl == 0 || stop;
        if (!drop && wl > 2 && isdigit((unsigned char)word[0]) &&
            (!strcmp(word + wl - 2, "th") || !strcmp(word + wl - 2, "st") ||
             !strcmp(word + wl - 2, "nd") || !strcmp(word + wl - 2, "rd")))
            drop = true;
        for (int i = 0; !drop && noise[i]; i++)
            drop = !strcmp(word, noise[i]);
        if (!drop && *p == '-' && !strncasecmp(p + 1, "core", 4))
            drop = true;   /* "96-Core" */
        if (!drop && strlen(slug) + wl + 2 < size) {
            if (slug[0])
                strcat(slug, "-");
            strcat(slug, word);
        }
        wl = 0;
        if (!*p || stop)
            break;
    }
}

static bool has_digit(const char *s) {
    for (; *s; s++)
        if (isdigit((unsigned char)*s))
            return true;
    return false;
}

static void fingerprint(lf_device *d) {
    const lf_cpu *c = &d->cpu;
    const lf_topology *t = &d->topology;
    char basis[sizeof d->id_basis];
    size_t n = (size_t)snprintf(basis, sizeof basis, "%s|%s|%s|%d|%d|%d|p%d|c%d|t%d|m%dg",
                                c->arch, c->vendor, c->brand, c->family, c->model, c->stepping,
                                t->packages, t->cores, t->pus, round_gib(d->limits.mem_total));
    for (int i = 0; i < d->n_gpus && n < sizeof basis; i++) {
        const lf_gpu *g = &d->gpus[i];
        n += (size_t)snprintf(basis + n, sizeof basis - n, "|gpu:%04x:%04x:%dg", g->vendor_id,
                              g->device_id, round_gib(g->vram_bytes));
    }
    LFP_SET(d->id_basis, "%s", basis);
    LFP_SET(d->id, "%016llx", (unsigned long long)fnv1a64(d->id_basis));

    /* Slug: brand words (+ series when the brand has no model number),
     * cores, memory: "amd-epyc-9004-2c-24g". */
    char slug[sizeof d->slug] = "";
    const char *brand = c->brand[0] ? c->brand : c->vendor[0] ? c->vendor : "unknown-cpu";
    slug_words(slug, sizeof slug - 16, brand);
    if (!has_digit(brand) && c->series[0])
        slug_words(slug, sizeof slug - 16, c->series);
    size_t l = strlen(slug);
    int cores = t->cores > 0 ? t->cores : d->limits.online_cpus;
    snprintf(slug + l, sizeof slug - l, "%s%dc-%dg", l ? "-" : "", cores, round_gib(d->limits.mem_total));
    LFP_SET(d->slug, "%s", slug);
}

int lf_probe_device(lf_device *out, const lf_probe_opts *opts, lf_error *err) {
    double t0 = lf_now_s();
    lf_probe_opts o = opts ? *opts : lf_probe_opts_default();
    memset(out, 0, sizeof *out);
    LFP_SET(out->schema, "%s", LF_DEVICE_SCHEMA);

    lfp_root root;
    memset(&root, 0, sizeof root);
    const char *sr = o.sysroot ? o.sysroot : getenv("LOCALFIT_SYSROOT");
    if (!sr || !sr[0])
        sr = "/";
    if (strlen(sr) >= sizeof root.dir)
        return lf_error_set(err, LF_EINVAL, "sysroot path too long: %.60s...", sr);
    snprintf(root.dir, sizeof root.dir, "%s", sr);
    size_t rl = strlen(root.dir);
    while (rl > 1 && root.dir[rl - 1] == '/')
        root.dir[--rl] = 0;
    root.host = !strcmp(root.dir, "/");
    if (!root.host) {
        struct stat st;
        if (stat(root.dir, &st) < 0 || !S_ISDIR(st.st_mode))
            return lf_error_set(err, LF_EINVAL, "sysroot '%s' is not a directory", root.dir);
    }
    LFP_SET(out->sysroot, "%s", root.dir);
    out->quick = o.quick;
    if (lfp_read(&root, "/proc/sys/kernel/osrelease", out->os, sizeof out->os) < 0)
        out->os[0] = 0;

    lfp_probe_cpu(&root, &out->cpu);
    lfp_probe_topology(&root, &out->topology);
    out->cpu.hybrid = out->topology.n_kinds > 1;
    lfp_probe_limits(&root, &out->limits);

    const char *nvml = o.nvml_path;
    if (!nvml)
        nvml = root.host ? "libnvidia-ml.so.1" : NULL;
    lfp_probe_gpus(&root, nvml, &out->cpu, &out->limits, out);

    fingerprint(out);

    int rc = 0;
    if (!o.quick) {
        int threads = o.threads > 0 ? o.threads : out->limits.usable_threads;
        if (!o.no_bandwidth && (rc = lf_probe_bandwidth(threads, false, &out->bandwidth, err)) < 0)
            goto done;
        if (!o.no_compute && (rc = lf_probe_compute(threads, false, NULL, &out->compute, err)) < 0)
            goto done;
    }
done:
    out->probe_seconds = lf_now_s() - t0;
    return rc;
}
