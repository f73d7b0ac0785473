/*
 * Tokenizer: vocabulary construction, SentencePiece-style and byte-level
 * BPE encoding, and decoding (tokenizer/tokenizer.h). The rules are the ones
 * llama.cpp applies to GGUF vocabularies, so ids agree with it; the code is
 * this project's own. Loading from a GGUF file lives in tokenizer_gguf.c.
 *
 * Invariants of an lf_vocab once built:
 *   1. text[i] is NUL-terminated and unique; `tab` maps every text to its
 *      (first) id.
 *   2. byte_tok[b] is the id that encodes byte b on its own (SPM: <0xBB>,
 *      BPE: GPT-2's printable stand-in for b) or -1.
 *   3. Nothing changes after construction except through the documented
 *      setters, so concurrent tokenization needs no locks.
 */
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "▁" U+2581, SentencePiece's visible space. */
#define SPM_SPACE "\xE2\x96\x81"
#define SPM_SPACE_LEN 3

struct lf_vocab {
    lf_vocab_kind kind;
    lf_vocab_pre pre;
    int32_t n;
    char **text;            /* n pointers into arena */
    uint32_t *len;          /* byte length of text[i] */
    float *score;
    int32_t *type;
    char *arena;
    int32_t *tab;           /* open addressing: id or -1 */
    size_t tab_mask;
    uint32_t max_len;       /* longest token text, bytes */

    int n_merges;
    char **merge;           /* "left right", into merge_arena */
    uint32_t *merge_split;  /* offset of the separating space */
    char *merge_arena;
    int32_t *mtab;          /* rank or -1 */
    size_t mtab_mask;

    int32_t bos, eos, unk;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
    int32_t byte_tok[256];
    int32_t *ud;            /* user-defined token ids, longest text first */
    int n_ud;
    bool complete;
    char problem[192];
};

/* ---- GPT-2 byte alphabet -------------------------------------------------
 * Byte b stands for itself when it is printable Latin-1 (0x21-0x7E,
 * 0xA1-0xAC, 0xAE-0xFF); the 68 others take code points 0x100, 0x101, …
 * in byte order. */
static bool byte_is_printable(int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static uint32_t byte_to_cp(int b) {
    if (byte_is_printable(b))
        return (uint32_t)b;
    int k = 0;
    for (int i = 0; i < b; i++)
        k += !byte_is_printable(i);
    return 0x100u + (uint32_t)k;
}

/* Inverse of byte_to_cp; -1 for code points outside the alphabet. */
static int cp_to_byte(uint32_t cp) {
    if (cp < 0x100)
        return byte_is_printable((int)cp) ? (int)cp : -1;
    if (cp >= 0x100 + 68)
        return -1;
    int k = (int)(cp - 0x100);
    for (int b = 0; b < 256; b++)
        if (!byte_is_printable(b) && k-- == 0)
            return b;
    return -1;
}

/* UTF-8 of each byte's stand-in, 1 or 2 bytes. */
typedef struct { char s[2]; uint8_t n; } byte_glyph;

static void byte_glyphs(byte_glyph g[256]) {
    for (int b = 0; b < 256; b++) {
        char tmp[4];
        g[b].n = (uint8_t)lf_utf8_put(byte_to_cp(b), tmp);
        memcpy(g[b].s, tmp, g[b].n);
    }
}

/* ---- small growable arrays ---------------------------------------------- */
typedef struct { int32_t *v; size_t n, cap; bool oom; } ivec;

static void ivec_push(ivec *a, int32_t x) {
    if (a->oom)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        int32_t *p = realloc(a->v, cap * sizeof *p);
        if (!p) {
            a->oom = true;
            return;
        }
        a->v = p;
        a->cap = cap;
    }
    a->v[a->n++] = x;
}

typedef struct { char *v; size_t n, cap; bool oom; } cbuf;

static void cbuf_put(cbuf *b, const char *s, size_t n) {
    /* nothing to add: an empty buffer is still NULL, and NULL + 0 or a
     * memcpy to NULL is undefined even for 0 bytes */
    if (b->oom || n == 0)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        char *p = realloc(b->v, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->v = p;
        b->cap = cap;
    }
    memcpy(b->v + b->n, s, n);
    b->n += n;
}

/* ---- hashing ------------------------------------------------------------- */
static uint64_t fnv1a(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
#define FNV_SEED 0xcbf29ce484222325ULL

static size_t table_size_for(size_t n) {
    size_t cap = 16;
    while (cap < n * 2 + 1)
        cap *= 2;
    return cap;
}

static int32_t vocab_lookup(const lf_vocab *v, const char *s, size_t n) {
    size_t i = (size_t)fnv1a(FNV_SEED, s, n) & v->tab_mask;
    for (;;) {
        int32_t id = v->tab[i];
        if (id < 0)
            return -1;
        if (v->len[id] == n && memcmp(v->text[id], s, n) == 0)
            return id;
        i = (i + 1) & v->tab_mask;
    }
}

static uint64_t merge_hash(const char *l, size_t ln, const char *r, size_t rn) {
    uint64_t h = fnv1a(FNV_SEED, l, ln);
    h = fnv1a(h ^ 0xff, "\x1f", 1);   /* separator no token byte sequence forges */
    return fnv1a(h, r, rn);
}

/* Rank of the merge (l, r), or -1. */
static int32_t merge_rank(const lf_vocab *v, const char *l, size_t ln, const char *r, size_t rn) {
    if (!v->mtab)
        return -1;
    size_t i = (size_t)merge_hash(l, ln, r, rn) & v->mtab_mask;
    for (;;) {
        int32_t k = v->mtab[i];
        if (k < 0)
            return -1;
        const char *m = v->merge[k];
        uint32_t sp = v->merge_split[k];
        if (sp == ln && memcmp(m, l, ln) == 0 && strlen(m + sp + 1) == rn &&
            memcmp(m + sp + 1, r, rn) == 0)
            return k;
        i = (i + 1) & v->mtab_mask;
    }
}

/* ---- construction -------------------------------------------------------- */
void lf_vocab_free(lf_vocab *v) {
    if (!v)
        return;
    free(v->text);
    free(v->len);
    free(v->score);
    free(v->type);
    free(v->arena);
    free(v->tab);
    free(v->merge);
    free(v->merge_split);
    free(v->merge_arena);
    free(v->mtab);
    free(v->ud);
    free(v);
}

static int cmp_ud(const void *a, const void *b, void *ctx) {
    const lf_vocab *v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (v->len[x] != v->len[y])
        return v->len[x] > v->len[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* Insertion sort with a context (qsort_r is not C11); UD lists are short. */
static void sort_ud(lf_vocab *v) {
    for (int i = 1; i < v->n_ud; i++) {
        int32_t x = v->ud[i];
        int j = i - 1;
        while (j >= 0 && cmp_ud(&v->ud[j], &x, v) > 0) {
            v->ud[j + 1] = v->ud[j];
            j--;
        }
        v->ud[j + 1] = x;
    }
}

static void find_byte_tokens(lf_vocab *v) {
    int missing = 0;
    if (v->kind == LF_VOCAB_SPM) {
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            v->byte_tok[b] = vocab_lookup(v, name, 6);
            missing += v->byte_tok[b] < 0;
        }
    } else {
        byte_glyph g[256];
        byte_glyphs(g);
        for (int b = 0; b < 256; b++) {
            v->byte_tok[b] = vocab_lookup(v, g[b].s, g[b].n);
            missing += v->byte_tok[b] < 0;
        }
    }
    v->complete = missing == 0 && (v->kind == LF_VOCAB_SPM || v->n_merges > 0);
    v->problem[0] = '\0';
    if (v->kind == LF_VOCAB_SPM && missing > 0) {
        if (v->unk >= 0)
            snprintf(v->problem, sizeof v->problem,
                     "SPM vocabulary lacks %d of the 256 byte-fallback tokens <0x00>..<0xFF>: "
                     "characters outside its pieces encode as the unknown token %d",
                     missing, (int)v->unk);
        else
            snprintf(v->problem, sizeof v->problem,
                     "SPM vocabulary lacks %d of the 256 byte-fallback tokens <0x00>..<0xFF> "
                     "and has no unknown token: characters outside its pieces are dropped",
                     missing);
    } else if (v->kind == LF_VOCAB_BPE && v->n_merges == 0) {
        snprintf(v->problem, sizeof v->problem,
                 "BPE vocabulary has no merges (tokenizer.ggml.merges)%s: pieces are matched "
                 "greedily, longest token first, and unmatched characters %s",
                 missing ? " and lacks byte-level tokens" : "",
                 v->unk >= 0 ? "encode as the unknown token" : "are dropped");
    } else if (v->kind == LF_VOCAB_BPE && missing > 0) {
        snprintf(v->problem, sizeof v->problem,
                 "BPE vocabulary lacks %d of the 256 byte-level tokens: bytes it cannot "
                 "merge into a token are dropped", missing);
    }
}

int lf_vocab_from_arrays(lf_vocab **out, lf_vocab_kind kind, int n,
                         const char *const *tokens, const float *scores,
                         const int32_t *types, const char *const *merges,
                         int n_merges, int32_t bos, int32_t eos, int32_t unk,
                         bool add_bos, bool add_space_prefix, lf_error *err) {
    *out = NULL;
    if (kind != LF_VOCAB_SPM && kind != LF_VOCAB_BPE)
        return lf_error_set(err, LF_EINVAL, "vocabulary kind %d is neither SPM nor BPE", (int)kind);
    if (n <= 0 || !tokens)
        return lf_error_set(err, LF_EINVAL, "vocabulary needs at least one token (n = %d)", n);
    if (n_merges < 0 || (n_merges > 0 && !merges))
        return lf_error_set(err, LF_EINVAL, "bad merge list (n_merges = %d)", n_merges);
    const int32_t ids[3] = {bos, eos, unk};
    static const char *const id_names[3] = {"BOS", "EOS", "unknown"};
    for (int k = 0; k < 3; k++)
        if (ids[k] < -1 || ids[k] >= n)
            return lf_error_set(err, LF_EINVAL, "%s token id %d outside the vocabulary of %d",
                                id_names[k], (int)ids[k], n);
    if (add_bos && bos < 0)
        return lf_error_set(err, LF_EINVAL, "add_bos is set but the vocabulary has no BOS token");

    lf_vocab *v = calloc(1, sizeof *v);
    if (!v)
        return lf_error_set(err, LF_ENOMEM, "out of memory for a vocabulary of %d tokens", n);
    v->kind = kind;
    v->pre = LF_PRE_GPT2;
    v->n = n;
    v->bos = bos;
    v->eos = eos;
    v->unk = unk;
    v->add_bos = add_bos;
    v->add_space_prefix = add_space_prefix;

    /* Texts, with empty strings renamed the way llama.cpp renames them. */
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!tokens[i]) {
            lf_vocab_free(v);
            return lf_error_set(err, LF_EINVAL, "token %d is NULL", i);
        }
        size_t l = strlen(tokens[i]);
        total += (l ? l : 24) + 1;
    }
    v->text = malloc((size_t)n * sizeof *v->text);
    v->len = malloc((size_t)n * sizeof *v->len);
    v->score = malloc((size_t)n * sizeof *v->score);
    v->type = malloc((size_t)n * sizeof *v->type);
    v->arena = malloc(total);
    size_t tcap = table_size_for((size_t)n);
    v->tab = malloc(tcap * sizeof *v->tab);
    if (!v->text || !v->len || !v->score || !v->type || !v->arena || !v->tab) {
        lf_vocab_free(v);
        return lf_error_set(err, LF_ENOMEM, "out of memory for a vocabulary of %d tokens", n);
    }
    v->tab_mask = tcap - 1;
    memset(v->tab, 0xff, tcap * sizeof *v->tab);
    size_t off = 0;
    int n_dup = 0, first_dup = -1;
    for (int i = 0; i < n; i++) {
        char *t = v->arena + off;
        size_t l = strlen(tokens[i]);
        if (l)
            memcpy(t, tokens[i], l + 1);
        else
            l = (size_t)snprintf(t, 24, "[EMPTY_%d]", i);
        off += l + 1;
        v->text[i] = t;
        v->len[i] = (uint32_t)l;
        v->score[i] = scores ? scores[i] : 0.0f;
        v->type[i] = types ? types[i] : LF_TOKEN_NORMAL;
        if (l > v->max_len)
            v->max_len = (uint32_t)l;
        size_t h = (size_t)fnv1a(FNV_SEED, t, l) & v->tab_mask;
        bool dup = false;
        while (v->tab[h] >= 0) {
            int32_t o = v->tab[h];
            if (v->len[o] == l && memcmp(v->text[o], t, l) == 0) {
                dup = true;
                break;
            }
            h = (h + 1) & v->tab_mask;
        }
        if (dup) {
            if (n_dup++ == 0)
                first_dup = i;
        } else {
            v->tab[h] = i;
        }
    }
    if (n_dup)
        lf_warn("vocabulary has %d duplicate token text(s) (first at id %d, '%s'): "
                "the first id is used when encoding", n_dup, first_dup, v->text[first_dup]);

    /* Merges: "left right", split at the first space after the first byte. */
    if (n_merges > 0) {
        size_t mtotal = 0;
        for (int i = 0; i < n_merges; i++) {
            if (!merges[i]) {
                lf_vocab_free(v);
                return lf_error_set(err, LF_EINVAL, "merge %d is NULL", i);
            }
            mtotal += strlen(merges[i]) + 2;
        }
        size_t mcap = table_size_for((size_t)n_merges);
        v->merge = malloc((size_t)n_merges * sizeof *v->merge);
        v->merge_split = malloc((size_t)n_merges * sizeof *v->merge_split);
        v->merge_arena = malloc(mtotal);
        v->mtab = malloc(mcap * sizeof *v->mtab);
        if (!v->merge || !v->merge_split || !v->merge_arena || !v->mtab) {
            lf_vocab_free(v);
            return lf_error_set(err, LF_ENOMEM, "out of memory for %d merges", n_merges);
        }
        v->mtab_mask = mcap - 1;
        memset(v->mtab, 0xff, mcap * sizeof *v->mtab);
        v->n_merges = n_merges;
        size_t moff = 0;
        for (int i = 0; i < n_merges; i++) {
            char *m = v->merge_arena + moff;
            size_t l = strlen(merges[i]);
            memcpy(m, merges[i], l + 1);
            moff += l + 1;
            v->merge[i] = m;
            const char *sp = l > 1 ? memchr(m + 1, ' ', l - 1) : NULL;
            if (!sp) {
                /* llama.cpp keys such an entry as ("", ""): it can never
                 * match a real pair, so it is stored but not indexed. */
                v->merge_split[i] = (uint32_t)l;
                continue;
            }
            size_t ln = (size_t)(sp - m), rn = l - ln - 1;
            v->merge_split[i] = (uint32_t)ln;
            size_t h = (size_t)merge_hash(m, ln, sp + 1, rn) & v->mtab_mask;
            bool dup = false;
            while (v->mtab[h] >= 0) {
                int32_t o = v->mtab[h];
                if (v->merge_split[o] == ln && memcmp(v->merge[o], m, ln) == 0 &&
                    strcmp(v->merge[o] + ln + 1, sp + 1) == 0) {
                    dup = true;   /* the first (lowest) rank stays */
                    break;
                }
                h = (h + 1) & v->mtab_mask;
            }
            if (!dup)
                v->mtab[h] = i;
        }
    }

    for (int i = 0; i < n; i++)
        v->n_ud += v->type[i] == LF_TOKEN_USER_DEFINED;
    if (v->n_ud) {
        v->ud = malloc((size_t)v->n_ud * sizeof *v->ud);
        if (!v->ud) {
            lf_vocab_free(v);
            return lf_error_set(err, LF_ENOMEM, "out of memory");
        }
        int k = 0;
        for (int i = 0; i < n; i++)
            if (v->type[i] == LF_TOKEN_USER_DEFINED)
                v->ud[k++] = i;
        sort_ud(v);
    }

    find_byte_tokens(v);
    if (v->problem[0])
        lf_warn("%s", v->problem);
    *out = v;
    return 0;
}

int lf_vocab_synthetic(lf_vocab **out, int n_vocab, lf_error *err) {
    *out = NULL;
    if (n_vocab < 259)
        return lf_error_set(err, LF_EINVAL,
                            "a synthetic vocabulary needs at least 259 tokens "
                            "(3 specials + 256 bytes), got %d", n_vocab);
    char **tok = calloc((size_t)n_vocab, sizeof *tok);
    float *sc = calloc((size_t)n_vocab, sizeof *sc);
    int32_t *ty = calloc((size_t)n_vocab, sizeof *ty);
    int rc = 0;
    if (!tok || !sc || !ty) {
        rc = lf_error_set(err, LF_ENOMEM, "out of memory for a synthetic vocabulary");
        goto done;
    }
    int k = 0;
    char buf[32];
#define SYN_ADD(str, typ)                                              \
    do {                                                               \
        if (k < n_vocab) {                                             \
            tok[k] = strdup(str);                                      \
            if (!tok[k]) {                                             \
                rc = lf_error_set(err, LF_ENOMEM, "out of memory");    \
                goto done;                                             \
            }                                                          \
            ty[k] = (typ);                                             \
            sc[k] = (typ) == LF_TOKEN_NORMAL ? -(float)k : 0.0f;       \
            k++;                                                       \
        }                                                              \
    } while (0)
    SYN_ADD("<unk>", LF_TOKEN_UNKNOWN);
    SYN_ADD("<s>", LF_TOKEN_CONTROL);
    SYN_ADD("</s>", LF_TOKEN_CONTROL);
    for (int b = 0; b < 256; b++) {
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        SYN_ADD(buf, LF_TOKEN_BYTE);
    }
    SYN_ADD(SPM_SPACE, LF_TOKEN_NORMAL);
    for (int c = 0x21; c <= 0x7E; c++) {
        buf[0] = (char)c;
        buf[1] = '\0';
        SYN_ADD(buf, LF_TOKEN_NORMAL);
    }
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (int i = 0; i < 52; i++) {
        snprintf(buf, sizeof buf, SPM_SPACE "%c", letters[i]);
        SYN_ADD(buf, LF_TOKEN_NORMAL);
    }
    for (int i = 0; i < 26 * 26; i++) {
        snprintf(buf, sizeof buf, "%c%c", 'a' + i / 26, 'a' + i % 26);
        SYN_ADD(buf, LF_TOKEN_NORMAL);
    }
    for (int i = 0; i < 26 * 26; i++) {
        snprintf(buf, sizeof buf, SPM_SPACE "%c%c", 'a' + i / 26, 'a' + i % 26);
        SYN_ADD(buf, LF_TOKEN_NORMAL);
    }
    for (int i = 0; i < 26 * 26 * 26 && k < n_vocab; i++) {
        snprintf(buf, sizeof buf, "%c%c%c", 'a' + i / 676, 'a' + i / 26 % 26, 'a' + i % 26);
        SYN_ADD(buf, LF_TOKEN_NORMAL);
    }
    for (int i = 0; k < n_vocab; i++) {
        snprintf(buf, sizeof buf, "<extra_%d>", i);
        SYN_ADD(buf, LF_TOKEN_UNUSED);
    }
#undef SYN_ADD
    rc = lf_vocab_from_arrays(out, LF_VOCAB_SPM, n_vocab, (const char *const *)tok, sc, ty,
                              NULL, 0, 1, 2, 0, true, true, err);
done:
    if (tok)
        for (int i = 0; i < n_vocab; i++)
            free(tok[i]);
    free(tok);
    free(sc);
    free(ty);
    return rc;
}

/* ---- settings and accessors ---------------------------------------------- */
static const char *const pre_names[LF_PRE_COUNT] = {
    [LF_PRE_DEFAULT] = "default", [LF_PRE_GPT2] = "gpt-2", [LF_PRE_LLAMA3] = "llama3",
    [LF_PRE_QWEN2] = "qwen2", [LF_PRE_SMOLLM] = "smollm", [LF_PRE_GPT4O] = "gpt-4o",
};

const char *lf_vocab_pre_name(lf_vocab_pre pre) {
    return (unsigned)pre < LF_PRE_COUNT ? pre_names[pre] : "unknown";
}

int lf_vocab_pre_parse(const char *name, lf_vocab_pre *out) {
    static const struct { const char *name; lf_vocab_pre pre; } table[] = {
        {"default", LF_PRE_DEFAULT},
        {"gpt2", LF_PRE_GPT2}, {"gpt-2", LF_PRE_GPT2}, {"phi-2", LF_PRE_GPT2},
        {"mpt", LF_PRE_GPT2}, {"olmo", LF_PRE_GPT2}, {"jais", LF_PRE_GPT2},
        {"jina-es", LF_PRE_GPT2}, {"jina-de", LF_PRE_GPT2}, {"jina-v2-es", LF_PRE_GPT2},
        {"jina-v2-de", LF_PRE_GPT2}, {"roberta-bpe", LF_PRE_GPT2}, {"trillion", LF_PRE_GPT2},
        {"exaone4", LF_PRE_GPT2},
        {"llama3", LF_PRE_LLAMA3}, {"llama-v3", LF_PRE_LLAMA3}, {"llama-bpe", LF_PRE_LLAMA3},
        {"falcon3", LF_PRE_LLAMA3}, {"falcon-h1", LF_PRE_LLAMA3}, {"pixtral", LF_PRE_LLAMA3},
        {"dbrx", LF_PRE_LLAMA3}, {"smaug-bpe", LF_PRE_LLAMA3},
        {"qwen2", LF_PRE_QWEN2}, {"deepseek-r1-qwen", LF_PRE_QWEN2},
        {"stablelm2", LF_PRE_QWEN2}, {"megrez", LF_PRE_QWEN2},
        {"smollm", LF_PRE_SMOLLM}, {"starcoder", LF_PRE_SMOLLM}, {"refact", LF_PRE_SMOLLM},
        {"command-r", LF_PRE_SMOLLM}, {"codeshell", LF_PRE_SMOLLM}, {"exaone", LF_PRE_SMOLLM},
        {"minerva-7b", LF_PRE_SMOLLM},
        {"gpt-4o", LF_PRE_GPT4O}, {"llama4", LF_PRE_GPT4O}, {"kanana2", LF_PRE_GPT4O},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(name, table[i].name) == 0) {
            *out = table[i].pre;
            return 0;
        }
    *out = LF_PRE_GPT2;
    return LF_ENOTFOUND;
}

void lf_vocab_set_pre(lf_vocab *v, lf_vocab_pre pre) {
    if (v->kind != LF_VOCAB_BPE || (unsigned)pre >= LF_PRE_COUNT)
        return;
    v->pre = pre;
    v->ignore_merges = pre == LF_PRE_LLAMA3;
}

void lf_vocab_set_add_eos(lf_vocab *v, bool add_eos) { v->add_eos = add_eos; }
lf_vocab_kind lf_vocab_kind_of(const lf_vocab *v) { return v->kind; }
int32_t lf_vocab_size(const lf_vocab *v) { return v->n; }
int32_t lf_vocab_bos(const lf_vocab *v) { return v->bos; }
int32_t lf_vocab_eos(const lf_vocab *v) { return v->eos; }
int32_t lf_vocab_unk(const lf_vocab *v) { return v->unk; }
bool lf_vocab_add_bos(const lf_vocab *v) { return v->add_bos; }
bool lf_vocab_add_eos(const lf_vocab *v) { return v->add_eos; }
bool lf_vocab_add_space_prefix(const lf_vocab *v) { return v->add_space_prefix; }
lf_vocab_pre lf_vocab_pre_of(const lf_vocab *v) { return v->pre; }
bool lf_vocab_complete(const lf_vocab *v) { return v->complete; }
const char *lf_vocab_problem(const lf_vocab *v) { return v->problem[0] ? v->problem : NULL; }

const char *lf_vocab_token_text(const lf_vocab *v, int32_t id) {
    return id >= 0 && id < v->n ? v->text[id] : "";
}
float lf_vocab_token_score(const lf_vocab *v, int32_t id) {
    return id >= 0 && id < v->n ? v->score[id] : 0.0f;
}
int lf_vocab_token_type(const lf_vocab *v, int32_t id) {
    return id >= 0 && id < v->n ? v->type[id] : LF_TOKEN_UNDEFINED;
}
int32_t lf_vocab_find(const lf_vocab *v, const char *text, size_t len) {
    return vocab_lookup(v, text, len);
}
const char *const *lf_vocab_token_texts(const lf_vocab *v) {
    return (const char *const *)v->text;
}
int lf_vocab_n_merges(const lf_vocab *v) { return v->n_merges; }
const char *lf_vocab_merge(const lf_vocab *v, int i) {
    return i >= 0 && i < v->n_merges ? v->merge[i] : "";
}

/* ---- the merge queue ------------------------------------------------------
 * A binary max-heap of candidate pairs. key: SPM the token's score, BPE the
 * negated merge rank; ties go to the leftmost pair. Entries go stale when
 * either symbol changes; they are recognised on pop because a symbol only
 * ever grows (or empties), so the pair's recorded byte size no longer
 * matches. */
typedef struct { double key; int32_t left, right; uint32_t size; } cand;
typedef struct { cand *v; size_t n, cap; bool oom; } heap;

static bool cand_before(const cand *a, const cand *b) {
    return a->key > b->key || (a->key == b->key && a->left < b->left);
}

static void heap_push(heap *h, cand c) {
    if (h->oom)
        return;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        cand *p = realloc(h->v, cap * sizeof *p);
        if (!p) {
            h->oom = true;
            return;
        }
        h->v = p;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!cand_before(&c, &h->v[up]))
            break;
        h->v[i] = h->v[up];
        i = up;
    }
    h->v[i] = c;
}

static cand heap_pop(heap *h) {
    cand top = h->v[0];
    cand last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        const cand *bc = &last;
        if (l < h->n && cand_before(&h->v[l], bc)) {
            best = l;
            bc = &h->v[l];
        }
        if (r < h->n && cand_before(&h->v[r], bc))
            best = r;
        if (best == i)
            break;
        h->v[i] = h->v[best];
        i = best;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

/* A run of text bytes in the chain of symbols being merged. */
typedef struct { int32_t prev, next; uint32_t off, n; } sym;
typedef struct { sym *v; size_t n, cap; bool oom; } symvec;

static void symvec_push(symvec *a, sym s) {
    if (a->oom)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        sym *p = realloc(a->v, cap * sizeof *p);
        if (!p) {
            a->oom = true;
            return;
        }
        a->v = p;
        a->cap = cap;
    }
    a->v[a->n++] = s;
}

/* Splits s into UTF-8 characters (by lead byte), as one chain. */
static void split_chars(symvec *sv, const char *s, size_t len) {
    sv->n = 0;
    size_t off = 0;
    int32_t idx = 0;
    while (off < len) {
        size_t n = (size_t)lf_utf8_len((uint8_t)s[off]);
        if (n > len - off)
            n = len - off;
        sym y = {idx - 1, off + n == len ? -1 : idx + 1, (uint32_t)off, (uint32_t)n};
        symvec_push(sv, y);
        off += n;
        idx++;
    }
}

typedef struct {
    const lf_vocab *v;
    ivec out;
    symvec syms;
    heap q;
    cbuf word;              /* scratch: escaped / byte-mapped text */
    uint32_t *cps;          /* scratch: code points of a fragment */
    size_t cps_cap;
    uint8_t *flags;
    uint32_t *spans, *spans2;
    size_t spans_cap;
    int64_t n_unknown;
    bool oom;
} tok_state;

/* ---- SentencePiece-style ------------------------------------------------- */
static void spm_try_pair(tok_state *st, const char *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0)
        return;
    const sym *a = &st->syms.v[l], *b = &st->syms.v[r];
    int32_t id = vocab_lookup(st->v, s + a->off, a->n + b->n);
    if (id < 0)
        return;
    cand c = {st->v->score[id], l, r, a->n + b->n};
    heap_push(&st->q, c);
}

/* Emits the bytes of a piece that is no token: byte tokens, else the byte
 * as a one-character token, else the unknown token (counted). */
static void spm_emit_bytes(tok_state *st, const char *p, size_t n) {
    const lf_vocab *v = st->v;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)p[i];
        int32_t id = v->byte_tok[b];
        if (id < 0)
            id = vocab_lookup(v, (const char *)&p[i], 1);
        if (id < 0) {
            st->n_unknown++;
            id = v->unk;
        }
        if (id >= 0)
            ivec_push(&st->out, id);
    }
}

static void spm_encode(tok_state *st, const char *s, size_t len) {
    symvec *sv = &st->syms;
    split_chars(sv, s, len);
    if (sv->oom || sv->n == 0)
        return;
    st->q.n = 0;
    for (size_t i = 1; i < sv->n; i++)
        spm_try_pair(st, s, (int32_t)i - 1, (int32_t)i);
    while (st->q.n && !st->q.oom) {
        cand c = heap_pop(&st->q);
        sym *a = &sv->v[c.left], *b = &sv->v[c.right];
        if (a->n == 0 || b->n == 0 || a->n + b->n != c.size)
            continue;
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0)
            sv->v[b->next].prev = c.left;
        spm_try_pair(st, s, a->prev, c.left);
        spm_try_pair(st, s, c.left, a->next);
    }
    for (int32_t i = 0; i != -1; i = sv->v[i].next) {
        const sym *y = &sv->v[i];
        int32_t id = vocab_lookup(st->v, s + y->off, y->n);
        if (id >= 0)
            ivec_push(&st->out, id);
        else
            spm_emit_bytes(st, s + y->off, y->n);
    }
}

static void spm_fragment(tok_state *st, const char *text, size_t len, bool space_prefix) {
    cbuf *w = &st->word;
    w->n = 0;
    if (space_prefix)
        cbuf_put(w, SPM_SPACE, SPM_SPACE_LEN);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            cbuf_put(w, text + run, i - run);
            cbuf_put(w, SPM_SPACE, SPM_SPACE_LEN);
            run = i + 1;
        }
    }
    cbuf_put(w, text + run, len - run);
    if (w->oom) {
        st->oom = true;
        return;
    }
    spm_encode(st, w->v, w->n);
}

/* ---- byte-level BPE: pre-tokenizer ---------------------------------------
 * Each pass refines a list of consecutive span lengths (in code points)
 * covering the fragment, like successive regex splits where both matches
 * and the text between them become spans. The passes are hand-written
 * equivalents of the patterns llama.cpp uses:
 *   GPT2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   LLAMA3  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   QWEN2   the same with \p{N} instead of \p{N}{1,3}
 *   SMOLLM  \p{N}, then GPT2
 *   O200K   gpt-4o's, described in words above split_o200k
 *   DEFAULT [\p{P}$+<=>^~|]+, then GPT2, then \p{N}+, then [0-9]{3}
 */
enum { F_IN = 1, F_L = 2, F_N = 4, F_S = 8, F_P = 16 };

static uint8_t cp_flags(uint32_t cp) {
    uint8_t f = F_IN;
    if (lf_uni_is_space(cp))
        f |= F_S;
    switch (lf_ucat_of(cp)) {
    case LF_UCAT_LETTER: f |= F_L; break;
    case LF_UCAT_NUMBER: f |= F_N; break;
    case LF_UCAT_PUNCT: f |= F_P; break;
    default: break;
    }
    return f;
}

typedef struct {
    const uint32_t *cp;
    const uint8_t *fl;
    size_t beg, end;        /* the span being split */
    size_t prev;            /* end of the last emitted piece */
    uint32_t *out;
    size_t n_out;
} splitter;

static uint8_t sp_fl(const splitter *s, size_t p) { return p >= s->beg && p < s->end ? s->fl[p] : 0; }
static uint32_t sp_cp(const splitter *s, size_t p) {
    return p >= s->beg && p < s->end ? s->cp[p] : 0xFFFFFFFFu;
}
static size_t sp_emit(splitter *s, size_t end) {
    size_t n = end - s->prev;
    if (n > 0)
        s->out[s->n_out++] = (uint32_t)n;
    s->prev = end;
    return n;
}

static uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Length of a contraction ('s 't 're 've 'm 'll 'd) at p, or 0. */
static size_t contraction(const splitter *s, size_t p, bool fold) {
    if (s->cp[p] != '\'' || p + 1 >= s->end)
        return 0;
    uint32_t a = s->cp[p + 1];
    if (fold)
        a = ascii_lower(a);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (p + 2 >= s->end)
        return 0;
    uint32_t b = s->cp[p + 2];
    if (fold)
        b = ascii_lower(b);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

static void split_gpt2(splitter *s) {
    size_t pos = s->beg;
    while (pos < s->end) {
        uint32_t c = s->cp[pos];
        uint8_t f = s->fl[pos];
        size_t k = contraction(s, pos, false);
        if (k) {
            pos += sp_emit(s, pos + k);
            continue;
        }
        uint8_t f2 = c == ' ' ? sp_fl(s, pos + 1) : f;
        if (f2 & (F_L | F_N)) {            /* ' ?\p{L}+' or ' ?\p{N}+' */
            uint8_t want = (f2 & F_L) ? F_L : F_N;
            pos += c == ' ';
            while (sp_fl(s, pos) & want)
                pos++;
            sp_emit(s, pos);
            continue;
        }
        if (f2 && !(f2 & (F_S | F_L | F_N))) {   /* ' ?[^\s\p{L}\p{N}]+' */
            pos += c == ' ';
            for (uint8_t g = sp_fl(s, pos); g && !(g & (F_S | F_L | F_N)); g = sp_fl(s, pos))
                pos++;
            sp_emit(s, pos);
            continue;
        }
        size_t nws = 0;
        while (sp_fl(s, pos + nws) & F_S)
            nws++;
        if (nws > 1 && pos + nws < s->end) {     /* '\s+(?!\S)' leaves one */
            pos += nws - 1;
            sp_emit(s, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            sp_emit(s, pos);
            continue;
        }
        sp_emit(s, ++pos);
    }
}

/* The whitespace alternatives the Llama-3 family of patterns ends with,
 * \s*[\r\n]+ | \s+(?!\S) | \s+, at pos (the other alternatives did not
 * match there): returns the end of the piece. A code point no alternative
 * takes becomes a piece of its own. */
static size_t split_space(const splitter *s, size_t pos) {
    size_t nws = 0, last_nl = 0;
    while (sp_fl(s, pos + nws) & F_S) {
        uint32_t d = s->cp[pos + nws];
        if (d == '\r' || d == '\n')
            last_nl = pos + nws + 1;
        nws++;
    }
    if (last_nl > 0)                    /* up to the last line break */
        pos = last_nl;
    else if (nws > 1 && pos + nws < s->end)
        pos += nws - 1;                 /* leave one before the next word */
    else
        pos += nws > 0 ? nws : 1;
    return pos;
}

/* \p{N}{1,max} at pos (a number there): pieces of at most max code
 * points; returns where the next piece starts. */
static size_t split_digits(splitter *s, size_t pos, int max_digits) {
    size_t ini = pos;
    while (sp_fl(s, pos) & F_N) {
        if (++pos - ini >= (size_t)max_digits) {
            sp_emit(s, pos);
            ini = pos;
        }
    }
    sp_emit(s, pos);
    return pos;
}

/* ' ?[^\s\p{L}\p{N}]+[\r\n]*' at pos ('/' among the trailing ones when
 * slash): the end of the match, or 0 when it does not match there. */
static size_t punct_run(const splitter *s, size_t pos, bool slash) {
    const uint32_t c = s->cp[pos];
    const uint8_t f2 = c == ' ' ? sp_fl(s, pos + 1) : s->fl[pos];
    if (!f2 || (f2 & (F_S | F_L | F_N)))
        return 0;
    pos += c == ' ';
    for (uint8_t g = sp_fl(s, pos); g && !(g & (F_S | F_L | F_N)); g = sp_fl(s, pos))
        pos++;
    for (uint32_t d = sp_cp(s, pos); d == '\r' || d == '\n' || (slash && d == '/'); d = sp_cp(s, pos))
        pos++;
    return pos;
}

static void split_llama3(splitter *s, int max_digits) {
    size_t pos = s->beg;
    while (pos < s->end) {
        uint32_t c = s->cp[pos];
        uint8_t f = s->fl[pos];
        size_t k = contraction(s, pos, true);
        if (k) {
            pos += sp_emit(s, pos + k);
            continue;
        }
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (!(c == '\r' || c == '\n' || (f & F_N)) && ((f & F_L) || (sp_fl(s, pos + 1) & F_L))) {
            pos++;
            while (sp_fl(s, pos) & F_L)
                pos++;
            sp_emit(s, pos);
            continue;
        }
        if (f & F_N) {                      /* \p{N}{1,max} */
            pos = split_digits(s, pos, max_digits);
            continue;
        }
        size_t e = punct_run(s, pos, false);
        pos = e ? e : split_space(s, pos);
        sp_emit(s, pos);
    }
}

/* o200k ("gpt-4o", gpt-oss's tokenizer). The published pattern, in words:
 * a word is an optional lead-in (one code point that is not a letter, a
 * number, CR or LF) and then either some "upper" letters followed by at
 * least one "lower" letter, or at least one "upper" letter followed by any
 * "lower" ones, each optionally ending in an English contraction ('s 't
 * 're 've 'm 'll 'd, any case, kept in the word); otherwise one to three
 * numbers; otherwise an optional space and a run of code points that are
 * neither whitespace, letters nor numbers, with the CR, LF and '/' right
 * after it; otherwise the whitespace rules of Llama 3. The first
 * alternative that matches at a position wins, each as long as it can
 * while the rest still matches.
 *
 * The published form says "upper" = Lu Lt Lm Lo and marks, "lower" = Ll Lm
 * Lo and marks. llama.cpp rewrites it, for its regex engine, to tell case
 * by ASCII alone, and that is what GGUF files are tokenized with: "upper"
 * is any letter but a-z, "lower" any letter but A-Z, so letters beyond
 * ASCII are both, and marks are not letters. So do we (the category table
 * has no case): "ÉCOLE" gives "É" "COLE" (the first alternative, needing
 * a lower letter, finds the É), where the published pattern would keep it
 * whole. */
static bool o200k_upper(const splitter *s, size_t p) {
    return (sp_fl(s, p) & F_L) && !(s->cp[p] >= 'a' && s->cp[p] <= 'z');
}
static bool o200k_lower(const splitter *s, size_t p) {
    return (sp_fl(s, p) & F_L) && !(s->cp[p] >= 'A' && s->cp[p] <= 'Z');
}

/* End of the o200k word whose letters start at q, or 0 when there is none
 * there. The upper run is greedy and gives back code points until a lower
 * run can start: the lower run begins at the last lower letter within the
 * upper run or right after it. */
static size_t o200k_word(const splitter *s, size_t q) {
    size_t u = q;
    while (o200k_upper(s, u))
        u++;
    size_t end = 0;
    for (size_t k = u + 1; k-- > q && !end;)
        if (o200k_lower(s, k))
            for (end = k; o200k_lower(s, end);)
                end++;
    if (!end && u > q)
        end = u;                        /* upper letters only */
    if (end && end < s->end)
        end += contraction(s, end, true);
    return end;
}

static void split_o200k(splitter *s) {
    size_t pos = s->beg;
    while (pos < s->end) {
        const uint32_t c = s->cp[pos];
        const uint8_t f = s->fl[pos];
        const bool lead = !(f & (F_L | F_N)) && c != '\r' && c != '\n';
        size_t e = o200k_word(s, pos + lead);
        if (!e && (f & F_N))
            e = split_digits(s, pos, 3);    /* emits its pieces itself */
        if (!e)
            e = punct_run(s, pos, true);
        pos = e ? e : split_space(s, pos);
        sp_emit(s, pos);
    }
}

/* Regex-iterator style pass: match(s, p) returns the length of a match at
 * p (0 = none); matches and the gaps between them become spans. */
typedef size_t (*match_fn)(const splitter *s, size_t p);

static void split_matches(splitter *s, match_fn match) {
    size_t pos = s->beg;
    while (pos < s->end) {
        size_t m = match(s, pos);
        if (m) {
            sp_emit(s, pos);     /* the gap before, if any */
            pos += m;
            sp_emit(s, pos);
        } else {
            pos++;
        }
    }
    sp_emit(s, s->end);
}

/* [\p{P}\$\+<=>\^~\|]+ — ASCII punctuation except the backtick, plus
 * non-space code points of category P. */
static bool default_punct(uint32_t c, uint8_t f) {
    if (c < 0x80)
        return c != '`' && ((c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
                            (c >= 0x5B && c <= 0x5E) || c == '_' || (c >= 0x7B && c <= 0x7E));
    return (f & F_P) && !(f & F_S);
}
static bool any_number(uint32_t c, uint8_t f) {
    return c < 0x80 ? (c >= '0' && c <= '9') : ((f & F_N) && !(f & F_S));
}
static size_t match_punct_run(const splitter *s, size_t p) {
    size_t q = p;
    while (q < s->end && default_punct(s->cp[q], s->fl[q]))
        q++;
    return q - p;
}
static size_t match_number_run(const splitter *s, size_t p) {
    size_t q = p;
    while (q < s->end && any_number(s->cp[q], s->fl[q]))
        q++;
    return q - p;
}
static size_t match_one_number(const splitter *s, size_t p) {
    return any_number(s->cp[p], s->fl[p]) ? 1 : 0;
}
static size_t match_three_digits(const splitter *s, size_t p) {
    if (p + 3 > s->end)
        return 0;
    for (size_t i = p; i < p + 3; i++)
        if (s->cp[i] < '0' || s->cp[i] > '9')
            return 0;
    return 3;
}

typedef enum {
    PASS_GPT2, PASS_LLAMA3, PASS_QWEN2, PASS_O200K, PASS_PUNCT, PASS_NUMBERS, PASS_DIGIT, PASS_DIGIT3
} pass_kind;

/* Applies one pass to every span of st->spans[0..*n) (lengths), writing
 * the refined list back into st->spans. */
static void run_pass(tok_state *st, pass_kind kind, size_t *n_spans) {
    splitter s = {st->cps, st->flags, 0, 0, 0, st->spans2, 0};
    size_t start = 0;
    for (size_t i = 0; i < *n_spans; i++) {
        s.beg = s.prev = start;
        s.end = start + st->spans[i];
        start = s.end;
        switch (kind) {
        case PASS_GPT2: split_gpt2(&s); break;
        case PASS_LLAMA3: split_llama3(&s, 3); break;
        case PASS_QWEN2: split_llama3(&s, 1); break;
        case PASS_O200K: split_o200k(&s); break;
        case PASS_PUNCT: split_matches(&s, match_punct_run); break;
        case PASS_NUMBERS: split_matches(&s, match_number_run); break;
        case PASS_DIGIT: split_matches(&s, match_one_number); break;
        case PASS_DIGIT3: split_matches(&s, match_three_digits); break;
        }
    }
    uint32_t *t = st->spans;
    st->spans = st->spans2;
    st->spans2 = t;
    *n_spans = s.n_out;
}

/* Emits the tokens of one pre-tokenized piece (byte-mapped UTF-8). */
static void bpe_piece(tok_state *st, const char *w, size_t len) {
    const lf_vocab *v = st->v;
    if (v->ignore_merges || v->n_merges == 0) {
        int32_t id = vocab_lookup(v, w, len);
        if (id >= 0) {
            ivec_push(&st->out, id);
            return;
        }
    }
    if (v->n_merges == 0) {
        /* Documented fallback: greedy longest match, whole characters. */
        size_t pos = 0;
        while (pos < len) {
            size_t best = 0;
            int32_t best_id = -1;
            size_t lim = len - pos < v->max_len ? len - pos : v->max_len;
            for (size_t l = lim; l > 0; l--) {
                int32_t id = vocab_lookup(v, w + pos, l);
                if (id >= 0) {
                    best = l;
                    best_id = id;
                    break;
                }
            }
            if (best_id >= 0) {
                ivec_push(&st->out, best_id);
                pos += best;
                continue;
            }
            size_t c = (size_t)lf_utf8_len((uint8_t)w[pos]);
            if (c > len - pos)
                c = len - pos;
            /* one unknown per original byte the character stands for */
            st->n_unknown++;
            if (v->unk >= 0)
                ivec_push(&st->out, v->unk);
            pos += c;
        }
        return;
    }
    symvec *sv = &st->syms;
    split_chars(sv, w, len);
    if (sv->oom || sv->n == 0)
        return;
    st->q.n = 0;
    for (size_t i = 1; i < sv->n; i++) {
        const sym *a = &sv->v[i - 1], *b = &sv->v[i];
        int32_t r = merge_rank(v, w + a->off, a->n, w + b->off, b->n);
        if (r >= 0) {
            cand c = {-(double)r, (int32_t)i - 1, (int32_t)i, a->n + b->n};
            heap_push(&st->q, c);
        }
    }
    while (st->q.n && !st->q.oom) {
        cand c = heap_pop(&st->q);
        sym *a = &sv->v[c.left], *b = &sv->v[c.right];
        if (a->n == 0 || b->n == 0 || a->n + b->n != c.size)
            continue;
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0)
            sv->v[b->next].prev = c.left;
        int32_t nb[2][2] = {{a->prev, c.left}, {c.left, a->next}};
        for (int k = 0; k < 2; k++) {
            int32_t l = nb[k][0], rr = nb[k][1];
            if (l < 0 || rr < 0)
                continue;
            const sym *x = &sv->v[l], *y = &sv->v[rr];
            int32_t r = merge_rank(v, w + x->off, x->n, w + y->off, y->n);
            if (r >= 0) {
                cand d = {-(double)r, l, rr, x->n + y->n};
                heap_push(&st->q, d);
            }
        }
    }
    for (int32_t i = 0; i != -1; i = sv->v[i].next) {
        const sym *y = &sv->v[i];
        int32_t id = vocab_lookup(v, w + y->off, y->n);
        if (id >= 0) {
            ivec_push(&st->out, id);
            continue;
        }
        /* llama.cpp's rule: each byte alone if that is a token, else dropped */
        for (uint32_t j = 0; j < y->n; j++) {
            int32_t b = vocab_lookup(v, w + y->off + j, 1);
            if (b >= 0)
                ivec_push(&st->out, b);
            else
                st->n_unknown++;
        }
    }
}

static bool grow_scratch(tok_state *st, size_t n) {
    if (n <= st->cps_cap)
        return true;
    size_t cap = st->cps_cap ? st->cps_cap : 256;
    while (cap < n)
        cap *= 2;
    uint32_t *c = realloc(st->cps, cap * sizeof *c);
    if (c)
        st->cps = c;
    uint8_t *f = realloc(st->flags, cap);
    if (f)
        st->flags = f;
    uint32_t *s1 = realloc(st->spans, cap * sizeof *s1);
    if (s1)
        st->spans = s1;
    uint32_t *s2 = realloc(st->spans2, cap * sizeof *s2);
    if (s2)
        st->spans2 = s2;
    if (!c || !f || !s1 || !s2)
        return false;
    st->cps_cap = cap;
    return true;
}

/* Splits text into pre-tokenizer pieces: fills st->cps / st->flags with
 * the code points and st->spans with the piece lengths (in code points);
 * bytepos (may be NULL, n + 1 entries) receives each code point's byte
 * offset in text. Returns the number of pieces, or -1 on OOM. */
static long pretokenize(tok_state *st, lf_vocab_pre pre, const char *text, size_t len,
                        size_t **bytepos) {
    /* a fragment never has more code points than bytes */
    if (!grow_scratch(st, len + 1))
        return -1;
    size_t *bp = NULL;
    if (bytepos) {
        bp = malloc((len + 1) * sizeof *bp);
        if (!bp)
            return -1;
        *bytepos = bp;
    }
    size_t n = 0, pos = 0;
    while (pos < len) {
        if (bp)
            bp[n] = pos;
        uint32_t cp = lf_utf8_next(text, len, &pos);
        st->cps[n] = cp;
        st->flags[n] = cp_flags(cp);
        n++;
    }
    if (bp)
        bp[n] = len;
    if (n == 0)
        return 0;
    st->spans[0] = (uint32_t)n;
    size_t n_spans = 1;
    switch (pre) {
    case LF_PRE_DEFAULT:
        run_pass(st, PASS_PUNCT, &n_spans);
        run_pass(st, PASS_GPT2, &n_spans);
        run_pass(st, PASS_NUMBERS, &n_spans);
        run_pass(st, PASS_DIGIT3, &n_spans);
        break;
    case LF_PRE_LLAMA3: run_pass(st, PASS_LLAMA3, &n_spans); break;
    case LF_PRE_QWEN2: run_pass(st, PASS_QWEN2, &n_spans); break;
    case LF_PRE_GPT4O: run_pass(st, PASS_O200K, &n_spans); break;
    case LF_PRE_SMOLLM:
        run_pass(st, PASS_DIGIT, &n_spans);
        run_pass(st, PASS_GPT2, &n_spans);
        break;
    case LF_PRE_GPT2:
    default: run_pass(st, PASS_GPT2, &n_spans); break;
    }
    return (long)n_spans;
}

static void free_state(tok_state *st) {
    free(st->syms.v);
    free(st->q.v);
    free(st->word.v);
    free(st->cps);
    free(st->flags);
    free(st->spans);
    free(st->spans2);
}

static void bpe_fragment(tok_state *st, const char *text, size_t len) {
    long n_spans = pretokenize(st, st->v->pre, text, len, NULL);
    if (n_spans < 0) {
        st->oom = true;
        return;
    }
    byte_glyph g[256];
    byte_glyphs(g);
    size_t start = 0;
    for (long i = 0; i < n_spans; i++) {
        cbuf *w = &st->word;
        w->n = 0;
        for (size_t k = start; k < start + st->spans[i]; k++) {
            char u[4];
            int m = lf_utf8_put(st->cps[k], u);
            for (int j = 0; j < m; j++)
                cbuf_put(w, g[(uint8_t)u[j]].s, g[(uint8_t)u[j]].n);
        }
        start += st->spans[i];
        if (w->oom) {
            st->oom = true;
            return;
        }
        bpe_piece(st, w->v, w->n);
    }
}

int lf_pretokenize(lf_vocab_pre pre, const char *text, size_t len, size_t **lens,
                   int *n_out, lf_error *err) {
    *lens = NULL;
    *n_out = 0;
    tok_state st = {0};
    size_t *bp = NULL;
    long n = pretokenize(&st, pre, text, len, &bp);
    size_t *out = n >= 0 ? malloc(((size_t)n + 1) * sizeof *out) : NULL;
    if (!out) {
        free(bp);
        free_state(&st);
        return lf_error_set(err, LF_ENOMEM, "pretokenize: out of memory");
    }
    size_t start = 0;
    for (long i = 0; i < n; i++) {
        out[i] = bp[start + st.spans[i]] - bp[start];
        start += st.spans[i];
    }
    free(bp);
    free_state(&st);
    *lens = out;
    *n_out = (int)n;
    return 0;
}

/* ---- the public entry points --------------------------------------------- */
typedef struct { int32_t tok; size_t off, len; } frag;   /* tok < 0: raw text */

/* Cuts user-defined tokens out of the text, longest first, as llama.cpp's
 * special-token partition does when it does not parse control tokens. */
static frag *partition(const lf_vocab *v, const char *text, size_t len, size_t *n_out) {
    size_t cap = 16, n = 0;
    frag *f = malloc(cap * sizeof *f);
    if (!f)
        return NULL;
    if (len > 0)
        f[n++] = (frag){-1, 0, len};
    for (int u = 0; u < v->n_ud && n > 0; u++) {
        int32_t id = v->ud[u];
        const char *t = v->text[id];
        size_t tl = v->len[id];
        for (size_t i = 0; i < n; i++) {
            if (f[i].tok >= 0)
                continue;
            const char *base = text + f[i].off;
            const char *hit = memmem(base, f[i].len, t, tl);
            if (!hit)
                continue;
            /* replace f[i] by: left text, token, right text (re-scanned) */
            size_t left = (size_t)(hit - base), right = f[i].len - left - tl;
            if (n + 2 > cap) {
                cap *= 2;
                frag *g = realloc(f, cap * sizeof *g);
                if (!g) {
                    free(f);
                    return NULL;
                }
                f = g;
            }
            frag orig = f[i];
            size_t add = (left > 0) + 1 + (right > 0) - 1;
            memmove(&f[i + 1 + add], &f[i + 1], (n - i - 1) * sizeof *f);
            n += add;
            size_t j = i;
            if (left > 0)
                f[j++] = (frag){-1, orig.off, left};
            f[j++] = (frag){id, 0, 0};
            if (right > 0)
                f[j] = (frag){-1, orig.off + left + tl, right};
            i = j - 1;   /* loop ++ lands on the right remainder */
        }
    }
    *n_out = n;
    return f;
}

int lf_tokenize_alloc(const lf_vocab *v, const char *text, size_t len,
                      bool add_bos, int32_t **out, int *n_out,
                      int64_t *n_unknown, lf_error *err) {
    *out = NULL;
    *n_out = 0;
    if (n_unknown)
        *n_unknown = 0;
    if (!v || (!text && len > 0))
        return lf_error_set(err, LF_EINVAL, "tokenize: no vocabulary or no text");
    tok_state st = {.v = v};
    if (add_bos && v->bos >= 0)
        ivec_push(&st.out, v->bos);
    size_t n_frag = 0;
    frag *fr = partition(v, text, len, &n_frag);
    if (!fr) {
        free(st.out.v);
        return lf_error_set(err, LF_ENOMEM, "tokenize: out of memory");
    }
    bool prev_special = true;   /* SPM: prefix a space at the start */
    for (size_t i = 0; i < n_frag && !st.oom && !st.out.oom; i++) {
        if (fr[i].tok >= 0) {
            ivec_push(&st.out, fr[i].tok);
            prev_special = true;
            continue;
        }
        if (v->kind == LF_VOCAB_SPM)
            spm_fragment(&st, text + fr[i].off, fr[i].len, v->add_space_prefix && prev_special);
        else
            bpe_fragment(&st, text + fr[i].off, fr[i].len);
        prev_special = false;
    }
    bool oom = st.oom || st.out.oom || st.syms.oom || st.q.oom || st.word.oom;
    free(fr);
    free_state(&st);
    if (oom || st.out.n > (size_t)INT32_MAX) {
        free(st.out.v);
        return lf_error_set(err, LF_ENOMEM, "tokenize: out of memory for %zu bytes of text", len);
    }
    if (!st.out.v) {   /* no tokens: hand back a valid empty array */
        st.out.v = malloc(sizeof(int32_t));
        if (!st.out.v)
            return lf_error_set(err, LF_ENOMEM, "tokenize: out of memory");
    }
    *out = st.out.v;
    *n_out = (int)st.out.n;
    if (n_unknown)
        *n_unknown = st.n_unknown;
    return 0;
}

int lf_tokenize(const lf_vocab *v, const char *text, size_t len, bool add_bos,
                int32_t *out, int max, int *n_out, lf_error *err) {
    int32_t *ids;
    int n;
    int rc = lf_tokenize_alloc(v, text, len, add_bos, &ids, &n, NULL, err);
    if (rc < 0) {
        *n_out = 0;
        return rc;
    }
    *n_out = n;
    if (n > max) {
        free(ids);
        return lf_error_set(err, LF_ERANGE, "tokenize: %d tokens do not fit in %d", n, max);
    }
    memcpy(out, ids, (size_t)n * sizeof *ids);
    free(ids);
    return 0;
}

/* Copies src into buf[pos..] as far as it fits; returns pos + n. */
static size_t put_bytes(char *buf, size_t size, size_t pos, const char *src, size_t n) {
    if (pos < size) {
        size_t room = size - pos;
        memcpy(buf + pos, src, n < room ? n : room);
    }
    return pos + n;
}

/* Writes token's text at buf[pos..]; returns the new position. */
static size_t piece_into(const lf_vocab *v, int32_t token, char *buf, size_t size, size_t pos) {
    if (token < 0 || token >= v->n)
        return pos;
    const char *t = v->text[token];
    size_t n = v->len[token];
    switch (v->type[token]) {
    case LF_TOKEN_USER_DEFINED:
        return put_bytes(buf, size, pos, t, n);
    case LF_TOKEN_BYTE:
        if (n == 6 && memcmp(t, "<0x", 3) == 0 && t[5] == '>') {
            char c = (char)strtol((char[3]){t[3], t[4], 0}, NULL, 16);
            return put_bytes(buf, size, pos, &c, 1);
        }
        return put_bytes(buf, size, pos, t, n);
    case LF_TOKEN_NORMAL:
        break;
    default:
        return pos;   /* control, unknown, unused, undefined: no text */
    }
    if (v->kind == LF_VOCAB_SPM) {
        size_t run = 0;
        for (size_t i = 0; i + SPM_SPACE_LEN <= n;) {
            if (memcmp(t + i, SPM_SPACE, SPM_SPACE_LEN) == 0) {
                pos = put_bytes(buf, size, pos, t + run, i - run);
                pos = put_bytes(buf, size, pos, " ", 1);
                i += SPM_SPACE_LEN;
                run = i;
            } else {
                i++;
            }
        }
        return put_bytes(buf, size, pos, t + run, n - run);
    }
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        uint32_t cp = lf_utf8_next(t, n, &i);
        int b = cp_to_byte(cp);
        if (b >= 0) {
            char c = (char)b;
            pos = put_bytes(buf, size, pos, &c, 1);
        } else {
            pos = put_bytes(buf, size, pos, t + start, i - start);   /* not in the alphabet: as is */
        }
    }
    return pos;
}

int lf_token_to_piece(const lf_vocab *v, int32_t token, char *buf, size_t size) {
    size_t n = piece_into(v, token, buf, size, 0);
    if (size > 0)
        buf[n < size ? n : size - 1] = '\0';
    return (int)n;
}

size_t lf_detokenize(const lf_vocab *v, const int32_t *tokens, int n, char *buf, size_t size) {
    size_t pos = 0;
    bool strip = v->add_space_prefix;
    for (int i = 0; i < n; i++) {
        if (strip) {
            /* render into a scratch so the leading space can be dropped */
            char small[256];
            size_t m = piece_into(v, tokens[i], small, sizeof small, 0);
            if (m == 0)
                continue;
            strip = false;
            if (m <= sizeof small) {
                size_t skip = small[0] == ' ';
                pos = put_bytes(buf, size, pos, small + skip, m - skip);
            } else {
                char *big = malloc(m);
                if (!big) {
                    pos = piece_into(v, tokens[i], buf, size, pos);
                } else {
                    piece_into(v, tokens[i], big, m, 0);
                    size_t skip = big[0] == ' ';
                    pos = put_bytes(buf, size, pos, big + skip, m - skip);
                    free(big);
                }
            }
            continue;
        }
        pos = piece_into(v, tokens[i], buf, size, pos);
    }
    if (size > 0)
        buf[pos < size ? pos : size - 1] = '\0';
    return pos;
}
