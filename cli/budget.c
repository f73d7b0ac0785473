/*
 * This machine for the commands, through the one device-profile function
 * (lf_device_current, bench/bench.h):
 *  - the memory budget commands hand to the model loader: what this
 *    process may really use (the probe's usable memory: MemAvailable under
 *    the cgroup limit), so a model, context or adapter set that cannot fit
 *    is refused with the sizes before anything large is allocated, instead
 *    of the machine swapping or the OOM killer ending the run. Kernels
 *    cannot ask the probes (they are below them in the pipeline); the CLI
 *    asks and passes the number down. --force turns the check off.
 *  - the profile the recommender reads (recommend, sweep): stored figures
 *    reused, else measured once and stored.
 */
#include "cli/cli.h"
#include "bench/bench.h"

#include <stdlib.h>

uint64_t lf_cli_mem_budget(bool force) {
    if (force)
        return 0;
    /* Only the limits are needed: no microbenchmarks, no GPU library
     * (about 20 ms, against a model load). */
    lf_device_opts o;
    lf_device_opts_init(&o);
    o.mode = LF_DEVICE_LIMITS;
    lf_device *d = malloc(sizeof *d);
    uint64_t budget = 0;
    lf_error err = {0};
    if (d && lf_device_current(NULL, &o, d, NULL, 0, &err) == 0)
        budget = d->limits.usable_memory;
    free(d);
    return budget;
}

int lf_cli_device_stored(lf_store *st, lf_device *dev, char *note, size_t note_size,
                         lf_error *err) {
    lf_device_opts o;
    lf_device_opts_init(&o);
    o.mode = LF_DEVICE_STORED;
    o.store = true;
    o.quick_compute = true;   /* an interactive command: the short compute runs */
    return lf_device_current(st, &o, dev, note, note_size, err);
}
