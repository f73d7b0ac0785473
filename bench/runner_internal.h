/*
 * Private pieces of the benchmark runner shared by its sources: process
 * facts read outside timed regions (peak RSS, RAPL energy: sysinfo.c) and
 * the progress display on stderr (progress.c). Not part of the public API:
 * other modules use bench/bench.h.
 */
#ifndef LF_BENCH_RUNNER_INTERNAL_H
#define LF_BENCH_RUNNER_INTERNAL_H

#include "bench/bench.h"

#include <stdio.h>

/* ---- resident memory (sysinfo.c) ---------------------------------------- */

/* Resets the kernel's peak-RSS mark (VmHWM) to the current RSS by writing
 * "5" to /proc/self/clear_refs, so the next peak is that of what runs
 * next. false when not allowed (old kernels, some containers): the peak is
 * then the whole process's. */
bool lf_rb_rss_reset(void);
/* VmHWM / VmRSS of this process in bytes, -1 if unreadable. */
int64_t lf_rb_rss_peak(void);
int64_t lf_rb_rss_current(void);

/* ---- energy: RAPL package counters (sysinfo.c) --------------------------- */

#define LF_RB_RAPL_MAX 8

typedef struct lf_rb_energy {
    int n;                               /* readable package domains, 0 = none */
    char path[LF_RB_RAPL_MAX][512];      /* .../intel-rapl:N/energy_uj */
    double range_j[LF_RB_RAPL_MAX];      /* counter wrap, joules */
    char note[128];                      /* why energy is not measured, "" if it is */
} lf_rb_energy;

/* Finds the package domains under sysroot (NULL: $LOCALFIT_SYSROOT or /):
 * /sys/class/powercap/intel-rapl:N (not the :N:M subzones), with a
 * readable energy_uj. Fills note when there are none. Never fails. */
void lf_rb_energy_open(lf_rb_energy *e, const char *sysroot);
/* Sum of the counters in joules (raw, for differences); false on a read
 * failure. */
bool lf_rb_energy_read(const lf_rb_energy *e, double *joules);
/* after - before, corrected for one wrap of each counter's range. */
double lf_rb_energy_delta(const lf_rb_energy *e, double before, double after);

/* ---- progress (progress.c) -------------------------------------------------- */

/* One line of the live table: what the runner knows about a test. */
typedef struct lf_rb_row {
    char name[160];            /* "tg32 t2 f16 r16" */
    int n;                     /* samples so far */
    double median;             /* NAN before the first sample */
    double ci_rel;             /* half-width of the CI / median, NAN unknown */
    const char *unit;          /* "tok/s", "ms" */
    int state;                 /* 0 waiting, 1 running, 2 done, 3 skipped */
    char note[48];             /* "ci", "max", "budget", reason for a skip */
} lf_rb_row;

typedef struct lf_rb_progress {
    FILE *f;
    int mode;                  /* lf_bench_progress_mode, AUTO resolved */
    bool color;
    int drawn;                 /* lines of the live region on screen */
    int max_rows;              /* rows of tests shown in the live region */
    double t_start;            /* lf_now_s at the start */
    double t_last_draw;
    int total, done;           /* tests planned / finished (incl. skipped) */
    double cell_seconds;       /* seconds spent in finished tests */
    double w_total, w_done;    /* expected cost of all / finished tests (bytes
                                  read, arbitrary unit), for the estimate */
    char title[256];           /* the group now running */
    const lf_rb_row *rows;     /* the group's rows (owned by the runner) */
    int n_rows;
} lf_rb_progress;

void lf_rb_progress_init(lf_rb_progress *p, const lf_bench_opts *o, int total);
/* A message line (model loaded, roofs measured, warnings): plain mode
 * prints it, live mode prints it above the region. */
void lf_rb_progress_note(lf_rb_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A new group of rows (the previous region stays on screen). */
void lf_rb_progress_group(lf_rb_progress *p, const char *title, const lf_rb_row *rows, int n);
/* Something changed in row i; force redraws at once (else at most 10/s). */
void lf_rb_progress_update(lf_rb_progress *p, int i, bool force);
/* Row i finished (done or skipped); spent = its seconds, weight = its
 * share of w_total. */
void lf_rb_progress_finished(lf_rb_progress *p, int i, double spent, double weight);
/* The group's rows are about to be freed: draws them one last time (live)
 * and forgets them, so nothing later reads freed rows. */
void lf_rb_progress_release(lf_rb_progress *p);
void lf_rb_progress_end(lf_rb_progress *p);
/* Seconds left: the seconds per unit of expected cost of the finished
 * tests times the cost still to come; NAN before the first. */
double lf_rb_progress_eta(const lf_rb_progress *p);

/* ---- another engine beside localfit (engine.c) ----------------------------- */

/* One group's llama.cpp side: the model file and the samples per test. */
typedef struct lf_rb_engine lf_rb_engine;
/* e is copied, with interrupted (the run's flag) unless it has its own.
 * gguf: the group's file, or NULL to write (once) the synthesized weights
 * of hp / mix / seed to the cache; note gets a line to show when a cache
 * file was written. *out NULL on failure. */
int lf_rb_engine_begin(const lf_engine_llama *e, volatile sig_atomic_t *interrupted, const char *gguf, const lf_model_params *hp, int mix,
                       uint64_t seed, int n_cells, int reps_max, lf_rb_engine **out, char *note,
                       size_t note_size, lf_error *err);
/* One llama-bench repetition of test i (identity r) if llama.cpp has that
 * test; 0 when done or not applicable, the engine's error otherwise. */
int lf_rb_engine_turn(lf_rb_engine *x, int i, const lf_result *r, lf_error *err);
/* llama.cpp's result of test i from its samples, with local's identity
 * (engine "llama.cpp"); 1 when there is one (samples stay x's), else 0. */
int lf_rb_engine_take(lf_rb_engine *x, int i, const lf_result *local, lf_result *out, const double **samples,
                      int *n);
void lf_rb_engine_end(lf_rb_engine *x);   /* NULL ok */

#endif /* LF_BENCH_RUNNER_INTERNAL_H */
