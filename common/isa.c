/*
 * ISA feature detection read from the CPU itself. Distribution libcpuid
 * builds lag behind new CPUs (0.6.2 misses AVX-512 on Zen 4 and has no
 * AVX512_BF16, AVX-VNNI or AMX), so the bits are decoded here from CPUID
 * leaves 1, 7/0 and 7/1, gated on XGETBV so a feature counts only when the
 * OS saves the registers it uses. On arm64 the kernel's HWCAP words say
 * what user space may execute.
 */
#include "common/common.h"

#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

void lf_isa_detect(lf_isa *isa) {
    memset(isa, 0, sizeof *isa);
    unsigned a, b, c, d;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 1)
        return;
    __cpuid(1, a, b, c, d);
    isa->sse42 = (c >> 20) & 1;
    bool osxsave = (c >> 27) & 1;
    bool avx_bit = (c >> 28) & 1;
    bool fma_bit = (c >> 12) & 1;
    bool f16c_bit = (c >> 29) & 1;
    uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    isa->os_avx = (xcr0 & 0x6) == 0x6;                 /* SSE + AVX state */
    isa->os_avx512 = isa->os_avx && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM */
    isa->os_amx = (xcr0 & 0x60000) == 0x60000;         /* XTILECFG, XTILEDATA */
    isa->avx = avx_bit && isa->os_avx;
    isa->fma = fma_bit && isa->os_avx;
    isa->f16c = f16c_bit && isa->os_avx;
    if (max_leaf >= 7) {
        unsigned max7;
        __cpuid_count(7, 0, max7, b, c, d);
        isa->avx2 = ((b >> 5) & 1) && isa->os_avx;
        isa->bmi2 = (b >> 8) & 1;
        bool z = isa->os_avx512;
        isa->avx512f = ((b >> 16) & 1) && z;
        isa->avx512dq = ((b >> 17) & 1) && z;
        isa->avx512bw = ((b >> 30) & 1) && z;
        isa->avx512vl = ((b >> 31) & 1) && z;
        isa->avx512vnni = ((c >> 11) & 1) && z;
        isa->avx512fp16 = ((d >> 23) & 1) && z;
        isa->amx_bf16 = ((d >> 22) & 1) && isa->os_amx;
        isa->amx_tile = ((d >> 24) & 1) && isa->os_amx;
        isa->amx_int8 = ((d >> 25) & 1) && isa->os_amx;
        if (max7 >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            isa->avxvnni = ((a >> 4) & 1) && isa->os_avx;
            isa->avx512bf16 = ((a >> 5) & 1) && z;
        }
    }
}

#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>

/* HWCAP bit numbers from the Linux arm64 uapi (asm/hwcap.h); spelled out so
 * old headers still build. */
#define LF_HWCAP_FP       (1UL << 0)
#define LF_HWCAP_ASIMD    (1UL << 1)
#define LF_HWCAP_FPHP     (1UL << 9)
#define LF_HWCAP_ASIMDHP  (1UL << 10)
#define LF_HWCAP_ASIMDDP  (1UL << 20)
#define LF_HWCAP_SVE      (1UL << 22)
#define LF_HWCAP2_SVE2    (1UL << 1)
#define LF_HWCAP2_I8MM    (1UL << 13)
#define LF_HWCAP2_BF16    (1UL << 14)
#define LF_HWCAP2_SME     (1UL << 23)

void lf_isa_detect(lf_isa *isa) {
    memset(isa, 0, sizeof *isa);
    unsigned long h1 = getauxval(AT_HWCAP), h2 = getauxval(AT_HWCAP2);
    isa->neon = (h1 & LF_HWCAP_ASIMD) != 0;
    isa->arm_fp16 = (h1 & LF_HWCAP_ASIMDHP) != 0;
    isa->dotprod = (h1 & LF_HWCAP_ASIMDDP) != 0;
    isa->sve = (h1 & LF_HWCAP_SVE) != 0;
    isa->sve2 = (h2 & LF_HWCAP2_SVE2) != 0;
    isa->i8mm = (h2 & LF_HWCAP2_I8MM) != 0;
    isa->arm_bf16 = (h2 & LF_HWCAP2_BF16) != 0;
    isa->sme = (h2 & LF_HWCAP2_SME) != 0;
}

#else
void lf_isa_detect(lf_isa *isa) {
    memset(isa, 0, sizeof *isa);
#if defined(__aarch64__)
    isa->neon = true;   /* ASIMD is mandatory in AArch64 */
#endif
}
#endif

static const char *level_names[LF_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};

const char *lf_isa_level_name(lf_isa_level l) {
    return (unsigned)l < LF_ISA_COUNT ? level_names[l] : "unknown";
}

int lf_isa_level_parse(const char *name, lf_isa_level *out) {
    for (int i = 0; i < LF_ISA_COUNT; i++)
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (lf_isa_level)i;
            return 0;
        }
    return LF_EINVAL;
}

bool lf_isa_supported(const lf_isa *isa, lf_isa_level l) {
    switch (l) {
    case LF_ISA_SCALAR: return true;
#if defined(__x86_64__)
    case LF_ISA_AVX2: return isa->avx2 && isa->fma && isa->f16c;
    case LF_ISA_AVX512:
        return isa->avx2 && isa->fma && isa->f16c && isa->avx512f &&
               isa->avx512bw && isa->avx512vl && isa->avx512dq;
#endif
#if defined(__aarch64__)
    case LF_ISA_NEON: return isa->neon;
#endif
    default: return false;
    }
}

void lf_isa_cap(lf_isa *isa, lf_isa_level level) {
    if (level == LF_ISA_SCALAR) {
        /* the scalar set: plain C, whatever the compiler makes of it */
        const bool sse42 = isa->sse42;
        memset(isa, 0, sizeof *isa);
        isa->sse42 = sse42;
        return;
    }
    if (level == LF_ISA_AVX2) {
        /* the AVX2 set still uses 256-bit AVX-VNNI where the CPU has it */
        isa->avx512f = isa->avx512bw = isa->avx512vl = isa->avx512dq = false;
        isa->avx512vnni = isa->avx512bf16 = isa->avx512fp16 = false;
        isa->amx_tile = isa->amx_int8 = isa->amx_bf16 = false;
    }
}

lf_isa_level lf_isa_best(const lf_isa *isa) {
    for (int l = LF_ISA_COUNT - 1; l > 0; l--)
        if (lf_isa_supported(isa, (lf_isa_level)l))
            return (lf_isa_level)l;
    return LF_ISA_SCALAR;
}
