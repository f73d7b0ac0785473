/*
 * tokenizer — text ↔ token ids from a GGUF vocabulary, matching what
 * llama.cpp produces for the same file: SentencePiece-style (tokenizer.ggml.model
 * "llama": scores, "▁" for spaces, byte-fallback tokens <0xNN>) and
 * GPT-2-style byte-level BPE ("gpt2": merges, byte↦unicode mapping,
 * pre-tokenizer splits). A vocabulary that cannot encode some text (no byte
 * tokens, no merges) still tokenizes: unknown pieces map to the unknown
 * token (or are dropped if there is none), with one warning naming the
 * problem, so quality runs remain possible.
 *
 * Usage:
 *     lf_vocab *v; lf_error err = {0};
 *     if (lf_vocab_load(&v, gguf, &err) < 0) die(err.msg);
 *     int32_t toks[512]; int n;
 *     lf_tokenize(v, "Once upon a time", 16, true, toks, 512, &n, &err);
 *     char piece[64]; lf_token_to_piece(v, toks[1], piece, sizeof piece);
 *
 * How each kind encodes (the rules llama.cpp follows, reimplemented here):
 *   SPM — a space is prepended (tokenizer.ggml.add_space_prefix, default
 *     true), spaces become U+2581, the text is split into UTF-8 characters
 *     and the adjacent pair whose concatenation is the highest-scoring
 *     token is merged, ties to the leftmost, until no pair is a token.
 *     Characters left that are not tokens become <0xNN> byte tokens.
 *   BPE — the text is split by the pre-tokenizer named in
 *     tokenizer.ggml.pre (GPT-2, Llama-3, Qwen2, SmolLM, GPT-4o or llama.cpp's
 *     "default" patterns, all hand-written), each piece's bytes are mapped
 *     to GPT-2's printable byte alphabet, and the adjacent pair with the
 *     lowest merge rank is merged, ties to the leftmost.
 *   User-defined tokens (type 4) are cut out of the text before either, as
 *   literal strings; control tokens in the text are not parsed.
 *
 * Thread safety: a vocabulary is immutable after construction; any number
 * of threads may tokenize with it at once.
 */
#ifndef LF_TOKENIZER_H
#define LF_TOKENIZER_H

#include "gguf/gguf.h"

typedef enum lf_vocab_kind {
    LF_VOCAB_NONE = 0,   /* no tokenizer in the file */
    LF_VOCAB_SPM,        /* "llama" */
    LF_VOCAB_BPE,        /* "gpt2" */
} lf_vocab_kind;

/* tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
typedef enum lf_token_type {
    LF_TOKEN_UNDEFINED = 0,
    LF_TOKEN_NORMAL = 1,
    LF_TOKEN_UNKNOWN = 2,
    LF_TOKEN_CONTROL = 3,
    LF_TOKEN_USER_DEFINED = 4,
    LF_TOKEN_UNUSED = 5,
    LF_TOKEN_BYTE = 6,
} lf_token_type;

/* BPE pre-tokenizers (tokenizer.ggml.pre). */
typedef enum lf_vocab_pre {
    LF_PRE_DEFAULT = 0,  /* "default" or absent: llama.cpp's 4-pattern chain */
    LF_PRE_GPT2,         /* "gpt2", "gpt-2", "phi-2", "mpt", "olmo", ... */
    LF_PRE_LLAMA3,       /* "llama-bpe", "llama3", "llama-v3", "falcon3", ... */
    LF_PRE_QWEN2,        /* "qwen2", "deepseek-r1-qwen", "stablelm2", "megrez" */
    LF_PRE_SMOLLM,       /* "smollm", "starcoder", "refact", "command-r", ... */
    LF_PRE_GPT4O,        /* "gpt-4o" (o200k: gpt-oss), "llama4", "kanana2" */
    LF_PRE_COUNT
} lf_vocab_pre;

typedef struct lf_vocab lf_vocab;

/* Reads tokenizer.ggml.* from g. The vocab copies what it needs: it stays
 * valid after lf_gguf_close(g). LF_ENOTFOUND if the file has no vocabulary,
 * LF_EFORMAT if it is inconsistent (message names the key), LF_EUNSUPP for
 * a tokenizer model other than "llama"/"gpt2". An unknown
 * tokenizer.ggml.pre falls back to GPT-2 with a warning. */
int lf_vocab_load(lf_vocab **out, const lf_gguf *g, lf_error *err);
/* A minimal vocabulary (bytes + a few pieces) for synthetic models: SPM,
 * ids 0 <unk>, 1 <s> (BOS), 2 </s> (EOS), 3..258 <0x00>..<0xFF>, then
 * "▁", printable ASCII, "▁"+letter, letter pairs, "▁"+letter pair, … and
 * <extra_N> fillers up to n_vocab (>= 259, else LF_EINVAL). Complete: any
 * text encodes. Deterministic. */
int lf_vocab_synthetic(lf_vocab **out, int n_vocab, lf_error *err);
/* Builds a vocabulary from arrays (lf_vocab_load uses this). tokens: n
 * UTF-8 strings, copied. scores (may be NULL: all 0), types (may be NULL:
 * all NORMAL). merges: n_merges "left right" strings (BPE ranks in order;
 * may be NULL/0 — for BPE that is the incomplete case). bos/eos/unk: ids or
 * -1. A BPE vocabulary built here uses the GPT-2 pre-tokenizer until
 * lf_vocab_set_pre says otherwise. Empty token strings are renamed
 * "[EMPTY_i]" and duplicates keep their first id (with a warning), as
 * llama.cpp loads them. Warns once if the vocabulary cannot encode
 * arbitrary text. LF_EINVAL on bad arguments (message says which). */
int lf_vocab_from_arrays(lf_vocab **out, lf_vocab_kind kind, int n,
                         const char *const *tokens, const float *scores,
                         const int32_t *types, const char *const *merges,
                         int n_merges, int32_t bos, int32_t eos, int32_t unk,
                         bool add_bos, bool add_space_prefix, lf_error *err);
void lf_vocab_free(lf_vocab *v);

/* Sets the BPE pre-tokenizer (no effect on SPM). LF_PRE_LLAMA3 also turns
 * on llama.cpp's ignore_merges (a piece that is a whole token is emitted
 * as is). Not thread-safe against concurrent tokenization: call it right
 * after construction. */
void lf_vocab_set_pre(lf_vocab *v, lf_vocab_pre pre);
/* Maps a tokenizer.ggml.pre name to the pre-tokenizer; LF_ENOTFOUND for a
 * name not known here (*out is then LF_PRE_GPT2, the documented fallback). */
int lf_vocab_pre_parse(const char *name, lf_vocab_pre *out);
const char *lf_vocab_pre_name(lf_vocab_pre pre);   /* "llama3", static */
/* Whether tokenize adds EOS as well (tokenizer.ggml.add_eos_token) — the
 * flag is exposed, lf_tokenize itself never appends EOS. */
void lf_vocab_set_add_eos(lf_vocab *v, bool add_eos);

lf_vocab_kind lf_vocab_kind_of(const lf_vocab *v);
int32_t lf_vocab_size(const lf_vocab *v);
int32_t lf_vocab_bos(const lf_vocab *v);     /* -1 if none */
int32_t lf_vocab_eos(const lf_vocab *v);     /* -1 if none */
int32_t lf_vocab_unk(const lf_vocab *v);     /* -1 if none */
bool lf_vocab_add_bos(const lf_vocab *v);    /* tokenizer.ggml.add_bos_token */
bool lf_vocab_add_eos(const lf_vocab *v);    /* tokenizer.ggml.add_eos_token */
bool lf_vocab_add_space_prefix(const lf_vocab *v);
lf_vocab_pre lf_vocab_pre_of(const lf_vocab *v);
/* Whether any text can be encoded (byte fallback or byte-level BPE);
 * false for vocabularies like TinyStories-656K's. */
bool lf_vocab_complete(const lf_vocab *v);
/* Why the vocabulary is incomplete ("no byte-fallback tokens <0x00>..<0xFF>"),
 * or NULL when it is complete. Static storage inside v. */
const char *lf_vocab_problem(const lf_vocab *v);

/* ---- per-token accessors (for writing a vocabulary into a GGUF) ------
 * id out of range: text "" (never NULL), score 0, type LF_TOKEN_UNDEFINED. */
const char *lf_vocab_token_text(const lf_vocab *v, int32_t id);  /* NUL-terminated, raw (▁ / Ġ form) */
float lf_vocab_token_score(const lf_vocab *v, int32_t id);
int lf_vocab_token_type(const lf_vocab *v, int32_t id);          /* lf_token_type */
/* The id of a token text (exact bytes), -1 if absent. */
int32_t lf_vocab_find(const lf_vocab *v, const char *text, size_t len);
/* All token texts as one array of n pointers (lf_gguf_writer_set_arr_str
 * takes it directly); owned by v. */
const char *const *lf_vocab_token_texts(const lf_vocab *v);
int lf_vocab_n_merges(const lf_vocab *v);
/* The i-th merge as stored ("left right"), "" if out of range. */
const char *lf_vocab_merge(const lf_vocab *v, int i);
/* Writes the tokenizer.ggml.* keys (model, pre for BPE, tokens, scores,
 * token_type, merges, bos/eos/unk ids, add_bos/add_eos/add_space_prefix)
 * into w so the file reloads to an identical vocabulary. 0 or LF_ENOMEM. */
int lf_vocab_write_gguf(const lf_vocab *v, lf_gguf_writer *w, lf_error *err);

/* Tokenizes len bytes of UTF-8 text. Writes at most max ids to out and the
 * count to *n_out; returns LF_ERANGE (with *n_out = needed) if max is too
 * small. add_bos prepends BOS when the vocabulary has one. */
int lf_tokenize(const lf_vocab *v, const char *text, size_t len, bool add_bos,
                int32_t *out, int max, int *n_out, lf_error *err);
/* Same, allocating: *out (caller frees with free()) receives *n_out ids.
 * n_unknown (may be NULL) receives how many bytes of the text the
 * vocabulary could not encode (mapped to the unknown token, or dropped
 * where there is none — the BPE rule); 0 for complete vocabularies.
 * LF_ENOMEM on allocation failure (*out NULL). */
int lf_tokenize_alloc(const lf_vocab *v, const char *text, size_t len,
                      bool add_bos, int32_t **out, int *n_out,
                      int64_t *n_unknown, lf_error *err);
/* The pre-tokenizer alone (what a BPE vocabulary with that pre splits
 * text into before merging): *lens (caller frees) receives *n_out piece
 * lengths in bytes of text, which add up to len. For tests and
 * diagnostics. LF_ENOMEM on allocation failure. */
int lf_pretokenize(lf_vocab_pre pre, const char *text, size_t len, size_t **lens,
                   int *n_out, lf_error *err);
/* The text of one token (byte tokens decoded, "▁" → space, byte-level BPE
 * mapped back to bytes). Returns its length in bytes (may exceed size, as
 * snprintf does); buf is NUL-terminated when size > 0. */
int lf_token_to_piece(const lf_vocab *v, int32_t token, char *buf, size_t size);
/* The text of a token sequence: pieces concatenated, control and unknown
 * tokens (BOS, EOS, <unk>) contributing nothing, and — when the vocabulary
 * adds a space prefix — the one leading space of the first piece removed,
 * so lf_detokenize(lf_tokenize(t)) == t for any t a complete vocabulary
 * encodes (text containing user-defined tokens excepted: a space is
 * prefixed after each of those, as llama.cpp does). (llama.cpp keeps that space when the ids start with BOS, and
 * applies "clean-up" of spaces before punctuation for some BPE models; this
 * function does neither, to stay a lossless inverse.) Returns the full
 * length like snprintf; buf is NUL-terminated when size > 0. */
size_t lf_detokenize(const lf_vocab *v, const int32_t *tokens, int n,
                     char *buf, size_t size);

#endif /* LF_TOKENIZER_H */
