/*
 * The Unicode helpers of tokenizer/unicode.h: category lookup by bisection in
 * the generated range table, the White_Space set, and a UTF-8 codec that
 * accepts any byte string. Decoding follows the lead byte's announced length
 * and checks only that the continuation bytes are 10xxxxxx (no overlong or
 * surrogate rejection), because token ids must match what llama.cpp derives
 * from the same bytes, and it decodes that way.
 */
#include "tokenizer/unicode.h"

lf_ucat lf_ucat_of(uint32_t cp) {
    if (cp > 0x10FFFF)
        return LF_UCAT_OTHER;
    int lo = 0, hi = lf_ucat_n_ranges - 1;   /* last range with start <= cp */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (lf_ucat_ranges[mid].start <= cp)
            lo = mid;
        else
            hi = mid - 1;
    }
    return (lf_ucat)lf_ucat_ranges[lo].cat;
}

bool lf_uni_is_space(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20;
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

static bool is_cont(const char *s, size_t len, size_t i) {
    return i < len && ((uint8_t)s[i] & 0xC0) == 0x80;
}

uint32_t lf_utf8_next(const char *s, size_t len, size_t *pos) {
    size_t i = *pos;
    uint8_t b0 = (uint8_t)s[i];
    if (b0 < 0x80) {
        *pos = i + 1;
        return b0;
    }
    int n;                 /* continuation bytes expected */
    uint32_t cp;
    if ((b0 & 0xE0) == 0xC0) { n = 1; cp = b0 & 0x1F; }
    else if ((b0 & 0xF0) == 0xE0) { n = 2; cp = b0 & 0x0F; }
    else if ((b0 & 0xF8) == 0xF0) { n = 3; cp = b0 & 0x07; }
    else { *pos = i + 1; return 0xFFFD; }   /* stray continuation or 0xF8+ */
    for (int k = 1; k <= n; k++) {
        if (!is_cont(s, len, i + (size_t)k)) {
            *pos = i + 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | ((uint8_t)s[i + (size_t)k] & 0x3F);
    }
    *pos = i + 1 + (size_t)n;
    return cp;
}

int lf_utf8_put(uint32_t cp, char *out) {
    if (cp > 0x10FFFF)
        cp = 0xFFFD;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
