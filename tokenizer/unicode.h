/*
 * Private to kernels/: the little Unicode the tokenizer needs — UTF-8
 * decoding that never fails (bad bytes become U+FFFD, as llama.cpp's
 * tokenizer does), encoding, the major general category of a code point
 * (from the generated table in unicode_data.c) and the White_Space property.
 * Not part of the public API.
 */
#ifndef LF_KERNELS_UNICODE_H
#define LF_KERNELS_UNICODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef enum lf_ucat {
    LF_UCAT_OTHER = 0,   /* C*: controls, format, unassigned, surrogates */
    LF_UCAT_LETTER,      /* L*  — regex \p{L} */
    LF_UCAT_NUMBER,      /* N*  — regex \p{N} */
    LF_UCAT_PUNCT,       /* P*  — regex \p{P} */
    LF_UCAT_SYMBOL,      /* S* */
    LF_UCAT_MARK,        /* M* */
    LF_UCAT_SEPARATOR,   /* Z* */
} lf_ucat;

typedef struct lf_ucat_range { uint32_t start; uint8_t cat; } lf_ucat_range;
extern const lf_ucat_range lf_ucat_ranges[];
extern const int lf_ucat_n_ranges;

/* Major category of cp (LF_UCAT_OTHER beyond U+10FFFF). */
lf_ucat lf_ucat_of(uint32_t cp);
/* Unicode White_Space: TAB..CR, SPACE, NEL, NBSP, U+1680, U+2000..U+200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000 — what regex \s means here. */
bool lf_uni_is_space(uint32_t cp);

/* Byte length of the UTF-8 sequence a lead byte announces, from its high
 * nibble only (1 for ASCII and stray continuation bytes, 2, 3 or 4), the
 * way SentencePiece-style splitting chunks text. */
static inline int lf_utf8_len(uint8_t lead) {
    static const uint8_t lut[16] = {1,1,1,1,1,1,1,1,1,1,1,1,2,2,3,4};
    return lut[lead >> 4];
}

/* Decodes one code point at s[*pos] (len bytes total) and advances *pos.
 * A malformed or truncated sequence consumes one byte and yields U+FFFD. */
uint32_t lf_utf8_next(const char *s, size_t len, size_t *pos);
/* Writes cp as UTF-8 into out (4 bytes room); returns the byte count
 * (code points above U+10FFFF are written as U+FFFD). */
int lf_utf8_put(uint32_t cp, char *out);

#endif /* LF_KERNELS_UNICODE_H */
