/*
 * Helpers for the tests of recommend / report / sweep / run glue: building
 * a results database by hand (a device profile with a known bandwidth
 * curve and peaks, runs at given commits, pp/tg results with samples), so
 * the tests know exactly what the store holds and can check what the glue
 * makes of it.
 */
#ifndef LF_TEST_CLI_FIXTURE_DB_H
#define LF_TEST_CLI_FIXTURE_DB_H

#include "probes/probes.h"
#include "store/store.h"

#include <stdbool.h>

/* A CPU device: AVX2 level, `threads` usable threads, bandwidth curve
 * bw[0..threads) GB/s (read_gbs = the last), int8 100 GOP/s per core and
 * FP32 25 GFLOP/s per core, 16 GiB usable. */
void fx_device(lf_device *d, const char *id, const char *slug, int threads, const double *bw);
/* Stores d; asserts success. */
void fx_put_device(lf_store *st, const lf_device *d);
/* Begins and finishes a complete run on device_id at commit (may be "")
 * started at started_ms; returns its id. */
int64_t fx_run(lf_store *st, const char *device_id, const char *commit, int64_t started_ms);
/* A tokens/s result (pp or tg) with defaults: cpu backend, avx2, f16 KV. */
lf_result fx_res(lf_test_kind kind, const char *model, const char *quant, int threads, int n,
                 double tps);
/* Adds r under run with three samples around its median. */
void fx_add(lf_store *st, int64_t run, lf_result *r);
/* The catalog's folder: $LOCALFIT_DATADIR, else this source tree's datasets/. */
const char *fx_datadir(void);
/* Writes the database at path: the 2-thread device "test-cpu-2c" (id
 * 00aa11bb22cc33dd, bandwidth 12 and 20 GB/s) and one run at commit
 * abcdef0123. With calibrate, tg and pp results of three catalog models
 * (qwen2.5-0.5b, smollm2-360m, llama-3.2-1b instruct) in Q4_K_M, Q8_0 and
 * Q4_0 on 1 and 2 threads: tg at 60% of the bandwidth roof, pp at 15% of
 * the int8 peak, within ±3%. Without, only tg results of a model the
 * catalog does not know (calibration leaves them out). Asserts success. */
void fx_build_db(const char *path, bool calibrate);

#endif
