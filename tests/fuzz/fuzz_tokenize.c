/*
 * Fuzz target: untrusted text through fixed vocabularies. The first input
 * byte picks the vocabulary (and BOS on/off), the rest is the text. The
 * vocabularies: stories260K's SentencePiece vocabulary and TinyStories-656K's
 * merge-less BPE one when ../shared/models is there, a synthetic complete
 * SentencePiece vocabulary, and small byte-level BPE vocabularies with
 * merges, a user-defined token and a control token under each
 * pre-tokenizer. Properties checked on every input:
 *   - ids lie inside the vocabulary; a complete vocabulary leaves no byte
 *     unknown;
 *   - a complete vocabulary decodes the ids back to the text (lf_detokenize
 *     is documented as the inverse), except text holding a user-defined
 *     token, or U+2581 for SentencePiece (which maps spaces to it);
 *   - every pre-tokenizer splits the text into non-empty pieces that add up
 *     to its length.
 */
#include "tests/fuzz/fuzz.h"

#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T "tokenize"
#define MAX_VOCABS 16

static lf_vocab *g_vocabs[MAX_VOCABS];
static const char *g_names[MAX_VOCABS];
static int g_n;

static void add(lf_vocab *v, const char *name) {
    if (v && g_n < MAX_VOCABS) {
        g_names[g_n] = name;
        g_vocabs[g_n++] = v;
    }
}

static lf_vocab *from_file(const char *file) {
    const char *dir = lf_fuzz_models_dir();
    if (!dir)
        return NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    lf_gguf *g = NULL;
    lf_vocab *v = NULL;
    lf_error err = {0};
    if (lf_gguf_open(&g, path, &err) == 0)
        lf_vocab_load(&v, g, &err);
    lf_gguf_close(g);
    return v;
}

/* GPT-2's byte alphabet: printable Latin-1 bytes stand for themselves, the
 * other 68 become U+0100 onwards, in byte order. Writes the UTF-8 form of
 * byte b's symbol into out (>= 3 bytes), NUL-terminated. */
static void byte_symbol(int b, char out[3]) {
    int cp;
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
        cp = b;
    } else {
        int k = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF)))
                k++;
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

/* A byte-level BPE vocabulary: the 256 byte symbols, a few merges of
 * English ("\xc4\xa0" is the symbol of the space byte), a control token
 * used as BOS/EOS and a user-defined token. */
lf_vocab *lf_fuzz_synth_bpe(int pre) {
    static const char *const merges[] = {
        "\xc4\xa0 t", "h e", "\xc4\xa0t he", "i n", "in g", "\xc4\xa0 a", "n d", "\xc4\xa0\x61 nd",
        "o n", "e r", "\xc4\xa0 s", "a t", "o u", "\xc4\xa0 w", "a s", "\xc4\xa0w as", "e d",
        "\xc4\xa0 O", "\xc4\xa0O n", "c e", "\xc4\xa0 l", "i t", "\xc4\xa0l it", "t le", "l e",
        "\xc4\xa0 1", "1 2", "\xc4\xa0 \xc4\xa0",
    };
    enum { NM = sizeof merges / sizeof merges[0] };
    /* the merge results, then the two special tokens */
    enum { N = 256 + NM + 2 };
    char store[N][16];
    const char *toks[N];
    int32_t types[N];
    for (int b = 0; b < 256; b++) {
        byte_symbol(b, store[b]);
        types[b] = LF_TOKEN_NORMAL;
    }
    for (int i = 0; i < NM; i++) {
        const char *sp = strchr(merges[i], ' ');
        snprintf(store[256 + i], sizeof store[0], "%.*s%s", (int)(sp - merges[i]), merges[i], sp + 1);
        types[256 + i] = LF_TOKEN_NORMAL;
    }
    snprintf(store[N - 2], sizeof store[0], "<|endoftext|>");
    types[N - 2] = LF_TOKEN_CONTROL;
    snprintf(store[N - 1], sizeof store[0], "<|user|>");
    types[N - 1] = LF_TOKEN_USER_DEFINED;
    for (int i = 0; i < N; i++)
        toks[i] = store[i];
    lf_vocab *v = NULL;
    lf_error err = {0};
    if (lf_vocab_from_arrays(&v, LF_VOCAB_BPE, N, toks, NULL, types, merges, NM, N - 2, N - 2, -1,
                             false, false, &err) < 0)
        lf_fuzz_fail(T, "synthetic BPE vocabulary: %s", err.msg);
    lf_vocab_set_pre(v, (lf_vocab_pre)pre);
    return v;
}

static void init(void) {
    lf_error err = {0};
    lf_vocab *v = NULL;
    add(from_file("stories260K.gguf"), "stories260K");
    add(from_file("TinyStories-656K.f32.gguf"), "TinyStories-656K");
    if (lf_vocab_synthetic(&v, 300, &err) < 0)
        lf_fuzz_fail(T, "synthetic vocabulary: %s", err.msg);
    add(v, "synthetic-spm");
    for (int p = 0; p < LF_PRE_COUNT; p++)
        add(lf_fuzz_synth_bpe(p), lf_vocab_pre_name((lf_vocab_pre)p));
}

static void fini(void) {
    for (int i = 0; i < g_n; i++)
        lf_vocab_free(g_vocabs[i]);
    g_n = 0;
}

static bool contains(const char *text, size_t len, const char *needle) {
    size_t k = strlen(needle);
    if (k == 0 || k > len)
        return false;
    for (size_t i = 0; i + k <= len; i++)
        if (memcmp(text + i, needle, k) == 0)
            return true;
    return false;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n > len)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

/* Whether the round trip is promised for this text and vocabulary. Text
 * that is not valid UTF-8 is not: like llama.cpp, the tokenizers read it as
 * code points and an invalid sequence becomes U+FFFD. */
static bool invertible(const lf_vocab *v, const char *text, size_t len) {
    if (!lf_vocab_complete(v) || !utf8_valid((const unsigned char *)text, len))
        return false;
    if (lf_vocab_kind_of(v) == LF_VOCAB_SPM && contains(text, len, "\xe2\x96\x81"))
        return false;
    for (int32_t id = 0; id < lf_vocab_size(v); id++)
        if (lf_vocab_token_type(v, id) == LF_TOKEN_USER_DEFINED &&
            contains(text, len, lf_vocab_token_text(v, id)))
            return false;
    return true;
}

static int one(const uint8_t *data, size_t size) {
    if (size < 1 || g_n == 0)
        return 0;
    const lf_vocab *v = g_vocabs[data[0] % g_n];
    const char *name = g_names[data[0] % g_n];
    const bool bos = data[0] & 0x80;
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    int32_t *ids = NULL;
    int n = 0;
    int64_t unknown = 0;
    lf_error err = {0};
    int rc = lf_tokenize_alloc(v, text, len, bos, &ids, &n, &unknown, &err);
    LF_FUZZ_CHECK(T, rc == 0, "%s: tokenizing failed: %s", name, err.msg);
    for (int i = 0; i < n; i++)
        LF_FUZZ_CHECK(T, ids[i] >= 0 && ids[i] < lf_vocab_size(v), "%s: id %d out of range", name,
                      ids[i]);
    if (lf_vocab_complete(v))
        LF_FUZZ_CHECK(T, unknown == 0, "%s: complete vocabulary left %lld bytes unknown", name,
                      (long long)unknown);
    size_t full = lf_detokenize(v, ids, n, NULL, 0);
    char *back = malloc(full + 1);
    LF_FUZZ_CHECK(T, back, "out of memory");
    LF_FUZZ_CHECK(T, lf_detokenize(v, ids, n, back, full + 1) == full, "%s: detokenize length", name);
    if (invertible(v, text, len))
        LF_FUZZ_CHECK(T, full == len && memcmp(back, text, len) == 0,
                      "%s: decoding %d ids gives %zu bytes, not the %zu of the text", name, n, full,
                      len);
    free(back);
    free(ids);
    for (int p = 0; p < LF_PRE_COUNT; p++) {
        size_t *lens = NULL;
        int np = 0;
        rc = lf_pretokenize((lf_vocab_pre)p, text, len, &lens, &np, &err);
        LF_FUZZ_CHECK(T, rc == 0, "pre-tokenizer %s failed: %s", lf_vocab_pre_name((lf_vocab_pre)p),
                      err.msg);
        size_t sum = 0;
        for (int i = 0; i < np; i++) {
            LF_FUZZ_CHECK(T, lens[i] > 0, "pre-tokenizer %s: empty piece",
                          lf_vocab_pre_name((lf_vocab_pre)p));
            sum += lens[i];
        }
        LF_FUZZ_CHECK(T, sum == len, "pre-tokenizer %s: pieces add up to %zu of %zu bytes",
                      lf_vocab_pre_name((lf_vocab_pre)p), sum, len);
        free(lens);
    }
    return 0;
}

const lf_fuzz_target lf_fuzz_tokenize = {
    .name = "tokenize",
    .what = "text through fixed vocabularies (SPM, BPE per pre-tokenizer): ids, decode, splits",
    .init = init,
    .one = one,
    .fini = fini,
};
