/*
 * What the runner reads about its own process and the package around it,
 * always outside timed regions: resident memory (VmHWM / VmRSS from
 * /proc/self/status, the high-water mark reset per model through
 * /proc/self/clear_refs) and package energy from the RAPL counters the
 * powercap class exposes (Intel, and AMD on newer kernels under the same
 * intel-rapl name). Energy files are found under a sysroot so tests can
 * replay a recorded tree; since Linux 5.10 energy_uj is readable by root
 * only, which is the usual reason it is "n/a".
 */
#include "bench/runner_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>   /* malloc_trim */
#endif

bool lf_rb_rss_reset(void) {
#ifdef __GLIBC__
    /* Memory the previous model freed may still sit in the heap (glibc
     * serves blocks under its adaptive mmap threshold, up to 32 MiB, from
     * brk): hand it back first, or every model's peak would include the
     * one before it. */
    malloc_trim(0);
#endif
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok;
}

static int64_t status_kib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    size_t kl = strlen(key);
    int64_t v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            long long kib;
            if (sscanf(line + kl + 1, "%lld", &kib) == 1 && kib >= 0)
                v = (int64_t)kib * 1024;
            break;
        }
    fclose(f);
    return v;
}

int64_t lf_rb_rss_peak(void) { return status_kib("VmHWM"); }
int64_t lf_rb_rss_current(void) { return status_kib("VmRSS"); }

static bool read_double(const char *path, double *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    char *end;
    double v = strtod(buf, &end);
    if (end == buf)
        return false;
    *out = v;
    return true;
}

void lf_rb_energy_open(lf_rb_energy *e, const char *sysroot) {
    memset(e, 0, sizeof *e);
    if (!sysroot || !*sysroot) {
        sysroot = getenv("LOCALFIT_SYSROOT");
        if (!sysroot || !*sysroot)
            sysroot = "/";
    }
    char dir[512];
    size_t rl = strlen(sysroot);
    while (rl > 0 && sysroot[rl - 1] == '/')
        rl--;   /* "/" and "/tmp/root/" both join without "//" */
    snprintf(dir, sizeof dir, "%.*s/sys/class/powercap", (int)(rl < 400 ? rl : 400), sysroot);
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(e->note, sizeof e->note, "n/a: no RAPL: /sys/class/powercap: %.60s", strerror(errno));
        return;
    }
    int found = 0, denied = 0;
    struct dirent *de;
    while ((de = readdir(d)) && e->n < LF_RB_RAPL_MAX) {
        const char *nm = de->d_name;
        /* packages are intel-rapl:N; intel-rapl:N:M are their subzones */
        if (strncmp(nm, "intel-rapl:", 11) || strchr(nm + 11, ':'))
            continue;
        found++;
        char path[512];
        if (snprintf(path, sizeof path, "%s/%s/energy_uj", dir, nm) >= (int)sizeof path)
            continue;
        double v;
        if (!read_double(path, &v)) {
            denied++;
            continue;
        }
        char rpath[512];
        double range = 0;
        if (snprintf(rpath, sizeof rpath, "%s/%s/max_energy_range_uj", dir, nm) < (int)sizeof rpath)
            (void)read_double(rpath, &range);
        lf_strlcpy(e->path[e->n], path, sizeof e->path[0]);
        e->range_j[e->n] = range / 1e6;
        e->n++;
    }
    closedir(d);
    if (e->n == 0) {
        if (!found)
            snprintf(e->note, sizeof e->note, "n/a: no RAPL package domain in /sys/class/powercap");
        else
            snprintf(e->note, sizeof e->note,
                     "n/a: RAPL energy_uj not readable (%d domains; root only since Linux 5.10)", denied);
    }
}

bool lf_rb_energy_read(const lf_rb_energy *e, double *joules) {
    double sum = 0;
    for (int i = 0; i < e->n; i++) {
        double v;
        if (!read_double(e->path[i], &v))
            return false;
        sum += v / 1e6;
    }
    *joules = sum;
    return e->n > 0;
}

double lf_rb_energy_delta(const lf_rb_energy *e, double before, double after) {
    double d = after - before;
    if (d < 0) {
        /* a counter wrapped: add the ranges back (one wrap each at most
         * between two reads taken a repetition apart) */
        double range = 0;
        for (int i = 0; i < e->n; i++)
            range += e->range_j[i];
        d += range;
    }
    return d;
}
