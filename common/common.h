/*
 * common — what every localfit module shares and nothing else: the error
 * type and codes, monotonic time, small string helpers, the one CSV
 * writer, and the CPU ISA
 * feature read (CPUID + XGETBV on x86, getauxval on arm64) that both the
 * probes (to report it) and the kernels (to dispatch on it) need. It depends
 * on libc only, so kernels/ stays cross-buildable.
 *
 * Usage:
 *     lf_error err = {0};
 *     if (lf_gguf_open(&g, path, &err) < 0) {
 *         fprintf(stderr, "localfit: %s\n", err.msg);   // names what and where
 *         return 1;
 *     }
 */
#ifndef LF_COMMON_H
#define LF_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- errors ------------------------------------------------------------
 * Functions return int: 0 ok, a negative LF_E* on failure, and fill an
 * lf_error (may be NULL) with a human message saying what and where. Only
 * cli/ turns codes into exit statuses. Names and messages come from this
 * one list. */
#define LF_ERRNO_MAP(X)                                                   \
    X(EINVAL,   -1, "invalid argument")                                   \
    X(ENOMEM,   -2, "out of memory")                                      \
    X(EIO,      -3, "input/output error")                                 \
    X(EFORMAT,  -4, "malformed input")                                    \
    X(ENOTFOUND,-5, "not found")                                          \
    X(EUNSUPP,  -6, "not supported")                                      \
    X(ERANGE,   -7, "value out of range")                                 \
    X(EDB,      -8, "database error")                                     \
    X(EBUSY,    -9, "resource busy")                                      \
    X(EINTR,   -10, "interrupted")                                        \
    X(ETOOBIG, -11, "does not fit the usable memory")                     \
    X(ETOOL,   -12, "external tool failed")                               \
    X(EMISMATCH,-13, "incompatible inputs")                               \
    X(EUSAGE,  -14, "usage error")

enum lf_errcode {
    LF_OK = 0,
#define LF_ERR_ENUM_(name, val, msg) LF_##name = (val),
    LF_ERRNO_MAP(LF_ERR_ENUM_)
#undef LF_ERR_ENUM_
};

typedef struct lf_error {
    int code;       /* 0 or an LF_E* value */
    char msg[512];  /* NUL-terminated, empty when code == 0 */
} lf_error;

/* Fills err (if not NULL) with code and a printf-style message; returns code
 * so callers can write `return lf_error_set(err, LF_EFORMAT, "...")`. */
int lf_error_set(lf_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with more context ("loading X: <old>"). */
int lf_error_wrap(lf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *lf_strerror(int code);   /* static string, never NULL */
const char *lf_errname(int code);    /* "LF_EFORMAT"; static, never NULL */

/* ---- time ---------------------------------------------------------------- */
uint64_t lf_now_ns(void);            /* CLOCK_MONOTONIC, ns */
double lf_now_s(void);               /* same, seconds */

/* ---- strings and sizes --------------------------------------------------- */
/* snprintf that never overflows and always terminates; returns dst. */
char *lf_strlcpy(char *dst, const char *src, size_t size);
/* "1.5 GiB" style into buf (size >= 16); returns buf. */
char *lf_format_bytes(char *buf, size_t size, double bytes);
/* Parses "4G", "512M", "1.5GiB", "1024" into bytes; LF_EINVAL if malformed. */
int lf_parse_bytes(const char *s, uint64_t *out);
/* Overflow-checked size arithmetic: returns false on overflow. */
static inline bool lf_mul_size(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool lf_add_size(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* ---- untrusted text (common/text.c) ------------------------------------
 * Names, labels and metadata from files and databases of strangers are
 * cleaned before they reach a terminal, a log or a line-based format:
 * invalid UTF-8, C0/C1 control characters, DEL and the bidi embedding /
 * override / isolate marks (U+202A-E, U+2066-9) are unsafe. escape = true
 * shows them as visible escapes ("\x1b", "\u202e"; terminals and logs);
 * false removes them (tab and line breaks become a space, bad bytes U+FFFD;
 * tables and markup). */
/* Decodes one strict UTF-8 sequence at p (n > 0 bytes left): its length,
 * with *cp set, or 0 if invalid (overlong, surrogate, > U+10FFFF, cut). */
size_t lf_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);
/* Whether code point cp is one of the unsafe characters above. */
bool lf_text_unsafe(uint32_t cp);
/* The cleaned form of src (len bytes, or NUL-terminated) into dst: at most
 * size-1 bytes and a NUL, never cutting a character or an escape. src may
 * be NULL (""). Returns dst. */
char *lf_text_clean_n(char *dst, size_t size, const char *src, size_t len, bool escape);
char *lf_text_clean(char *dst, size_t size, const char *src, bool escape);
/* A dst size that always holds the whole cleaned form of len bytes. */
size_t lf_text_clean_size(const char *src, size_t len, bool escape);

/* ---- CSV (common/csv.c) -------------------------------------------------
 * The one CSV writer every export uses (bench output, `localfit export`,
 * report results.csv), so they agree on quoting and line ends: RFC 4180
 * fields (quoted when they hold a comma, quote, CR or LF, or need the
 * formula guard; quotes doubled), records ended by "\n" alone (what the
 * other line-based outputs write; readers accept it). Text fields are
 * cleaned first (untrusted text above: line breaks and tabs become spaces,
 * so a record is one line) and a field starting with = + - @ tab or CR
 * gets a leading ' so a spreadsheet shows it instead of evaluating it.
 * Unknown numbers are empty fields. Output goes to a put callback (a FILE,
 * a report buffer); a put failure is the sink's to record (ferror).
 *
 *     lf_csv c;
 *     lf_csv_init_file(&c, stdout, 6);
 *     lf_csv_raw(&c, "model"); lf_csv_raw(&c, "tps"); lf_csv_end(&c);
 *     lf_csv_text(&c, name); lf_csv_real(&c, tps); lf_csv_end(&c);
 */
typedef void (*lf_csv_put_fn)(void *ctx, const char *s, size_t n);
typedef struct lf_csv {
    lf_csv_put_fn put;
    void *ctx;
    int col;                    /* fields written on the current record */
    int digits;                 /* significant digits of lf_csv_real */
} lf_csv;
void lf_csv_init(lf_csv *c, lf_csv_put_fn put, void *ctx, int digits);
void lf_csv_init_file(lf_csv *c, FILE *f, int digits);
/* The escaper: src (NULL = "") as one RFC 4180 field with the formula
 * guard, no cleaning. Writes at most size-1 bytes and a NUL (dst may be
 * NULL when size is 0) and returns the full length, as snprintf does. */
size_t lf_csv_escape(char *dst, size_t size, const char *src);
/* Fields: each adds the separator it needs. */
void lf_csv_text(lf_csv *c, const char *s);     /* cleaned, then escaped */
void lf_csv_raw(lf_csv *c, const char *s);      /* as given: header names */
void lf_csv_real(lf_csv *c, double v);          /* %.<digits>g, empty if not finite */
void lf_csv_int(lf_csv *c, int64_t v);          /* always written */
void lf_csv_count(lf_csv *c, int64_t v);        /* empty when negative (unknown) */
void lf_csv_end(lf_csv *c);                     /* "\n", next record */

/* ---- ISA features ---------------------------------------------------------
 * Read straight from the CPU: CPUID leaves 1, 7.0, 7.1 and XGETBV for the
 * OS-enabled register state on x86; getauxval(AT_HWCAP/AT_HWCAP2) on arm64.
 * A feature is reported present only when the OS also saves its state
 * (AVX needs XCR0 bits 1-2, AVX-512 bits 5-7, AMX bits 17-18). */
typedef struct lf_isa {
    /* x86 */
    bool sse42, avx, avx2, fma, f16c, bmi2;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16, avx512fp16;
    bool avxvnni;
    bool amx_tile, amx_int8, amx_bf16;
    bool os_avx, os_avx512, os_amx;   /* XCR0 state enabled by the OS */
    /* arm64 */
    bool neon, dotprod, i8mm, sve, sve2, sme, arm_bf16, arm_fp16;
} lf_isa;

/* Fills isa for the CPU this runs on. Thread-safe, no allocation. */
void lf_isa_detect(lf_isa *isa);

/* The dispatch levels the kernels know, best last. */
typedef enum lf_isa_level {
    LF_ISA_SCALAR = 0,
    LF_ISA_AVX2,      /* AVX2 + FMA + F16C */
    LF_ISA_AVX512,    /* F + BW + VL (+ VNNI / BF16 used when present) */
    LF_ISA_NEON,      /* ASIMD (+ dotprod used when present) */
    LF_ISA_COUNT
} lf_isa_level;

const char *lf_isa_level_name(lf_isa_level l);   /* "scalar", "avx2", ... */
/* Parses a level name; returns LF_EINVAL for an unknown name. */
int lf_isa_level_parse(const char *name, lf_isa_level *out);
/* Best level the detected features allow on this build/CPU. */
lf_isa_level lf_isa_best(const lf_isa *isa);
/* Whether `l` can run here. */
bool lf_isa_supported(const lf_isa *isa, lf_isa_level l);
/* Clears from isa what the kernel set of `level` does not use, so that a
 * measurement made with the result (the compute probe) is one of that
 * level: AVX2 drops AVX-512 and AMX but keeps AVX-VNNI; scalar drops every
 * vector feature. */
void lf_isa_cap(lf_isa *isa, lf_isa_level level);

/* ---- logging --------------------------------------------------------------
 * Progress and warnings go to stderr, results to stdout. Library code warns
 * through this so the CLI can silence it (--quiet) without globals: the
 * verbosity lives in the caller's context, passed as an int. */
void lf_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* LF_COMMON_H */
