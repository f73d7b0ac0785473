/*
 * The GGUF side of the tokenizer: reading tokenizer.ggml.* into an lf_vocab
 * with llama.cpp's defaults for absent keys, and writing a vocabulary back
 * (synthetic models, requantized copies) so it reloads identically.
 *
 * Defaults, as llama.cpp applies them:
 *   "llama" (SPM): BOS 1, EOS 2, UNK 0, add_bos true, add_space_prefix true.
 *   "gpt2" (BPE):  BOS 11, EOS 11, no UNK, add_bos false (true for the
 *                  Llama-3 pre-tokenizer), no space prefix; a missing
 *                  tokenizer.ggml.pre means "default" (with a warning).
 * A default id outside the vocabulary is dropped (-1); a stored id outside
 * it is ignored with a warning, except UINT32_MAX, which means "none".
 * Deviations from llama.cpp, all on files it refuses: a BPE file without
 * merges loads (greedy fallback, flagged incomplete), an unknown
 * pre-tokenizer falls back to GPT-2 with a warning, add_bos without a BOS
 * id is turned off with a warning.
 */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

static const lf_gguf_kv *find_array(const lf_gguf *g, const char *key, lf_gguf_vtype a,
                                    lf_gguf_vtype b, uint64_t min_n, int *rc,
                                    lf_error *err) {
    const lf_gguf_kv *kv = lf_gguf_find_kv(g, key);
    *rc = 0;
    if (!kv)
        return NULL;
    if (kv->type != LF_GGUF_ARRAY || (kv->arr_type != a && kv->arr_type != b)) {
        *rc = lf_error_set(err, LF_EFORMAT, "%s (offset %llu): expected an array of %s, found %s",
                           key, (unsigned long long)kv->offset, lf_gguf_vtype_name(a),
                           kv->type == LF_GGUF_ARRAY ? lf_gguf_vtype_name(kv->arr_type)
                                                     : lf_gguf_vtype_name(kv->type));
        return NULL;
    }
    if (kv->arr_n < min_n) {
        *rc = lf_error_set(err, LF_EFORMAT, "%s (offset %llu): %llu entries for %llu tokens", key,
                           (unsigned long long)kv->offset, (unsigned long long)kv->arr_n,
                           (unsigned long long)min_n);
        return NULL;
    }
    return kv;
}

/* Copies the n strings of a string array into NUL-terminated heap strings. */
static char **copy_strings(const lf_gguf_kv *kv, uint64_t n) {
    char **s = calloc(n ? n : 1, sizeof *s);
    if (!s)
        return NULL;
    for (uint64_t i = 0; i < n; i++) {
        lf_gguf_str t = lf_gguf_arr_str(kv, i);
        s[i] = malloc(t.len + 1);
        if (!s[i]) {
            for (uint64_t j = 0; j < i; j++)
                free(s[j]);
            free(s);
            return NULL;
        }
        if (t.len)
            memcpy(s[i], t.ptr, t.len);
        s[i][t.len] = '\0';
    }
    return s;
}

static void free_strings(char **s, uint64_t n) {
    if (!s)
        return;
    for (uint64_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

/* A special-token id: the default unless the key holds a valid id. */
static int32_t special_id(const lf_gguf *g, const char *key, int32_t def, int32_t n) {
    if (def >= n)
        def = -1;
    uint64_t v;
    if (lf_gguf_get_u64(g, key, &v) != 0)
        return def;
    if (v == UINT32_MAX)
        return -1;   /* written for "none" (lf_vocab_write_gguf) */
    if (v >= (uint64_t)n) {
        lf_warn("%s = %llu is outside the vocabulary of %d tokens: using %d", key,
                (unsigned long long)v, (int)n, (int)def);
        return def;
    }
    return (int32_t)v;
}

static bool get_flag(const lf_gguf *g, const char *key, bool def) {
    bool b;
    return lf_gguf_get_bool(g, key, &b) == 0 ? b : def;
}

int lf_vocab_load(lf_vocab **out, const lf_gguf *g, lf_error *err) {
    *out = NULL;
    char model[64];
    int rc = lf_gguf_get_str(g, "tokenizer.ggml.model", model, sizeof model);
    if (rc == LF_ENOTFOUND)
        return lf_error_set(err, LF_ENOTFOUND, "no vocabulary (tokenizer.ggml.model absent)");
    if (rc < 0)
        return lf_error_set(err, LF_EFORMAT, "tokenizer.ggml.model is not a string");
    lf_vocab_kind kind;
    if (strcmp(model, "llama") == 0)
        kind = LF_VOCAB_SPM;
    else if (strcmp(model, "gpt2") == 0)
        kind = LF_VOCAB_BPE;
    else if (strcmp(model, "no_vocab") == 0 || strcmp(model, "none") == 0)
        return lf_error_set(err, LF_ENOTFOUND, "no vocabulary (tokenizer.ggml.model = %s)", model);
    else
        return lf_error_set(err, LF_EUNSUPP,
                            "tokenizer.ggml.model = '%s' is not supported (llama, gpt2)", model);

    const lf_gguf_kv *tk = find_array(g, "tokenizer.ggml.tokens", LF_GGUF_STRING,
                                      LF_GGUF_STRING, 0, &rc, err);
    if (rc < 0)
        return rc;
    if (!tk)
        return lf_error_set(err, LF_EFORMAT, "tokenizer.ggml.tokens absent");
    if (tk->arr_n == 0 || tk->arr_n > (uint64_t)INT32_MAX)
        return lf_error_set(err, LF_EFORMAT, "tokenizer.ggml.tokens (offset %llu): %llu tokens",
                            (unsigned long long)tk->offset, (unsigned long long)tk->arr_n);
    const int32_t n = (int32_t)tk->arr_n;
    const lf_gguf_kv *sk = find_array(g, "tokenizer.ggml.scores", LF_GGUF_FLOAT32, LF_GGUF_INT32,
                                      (uint64_t)n, &rc, err);
    if (rc < 0)
        return rc;
    const lf_gguf_kv *ty = find_array(g, "tokenizer.ggml.token_type", LF_GGUF_INT32,
                                      LF_GGUF_INT32, (uint64_t)n, &rc, err);
    if (rc < 0)
        return rc;
    const lf_gguf_kv *mk = NULL;
    if (kind == LF_VOCAB_BPE) {
        mk = find_array(g, "tokenizer.ggml.merges", LF_GGUF_STRING, LF_GGUF_STRING, 0, &rc, err);
        if (rc < 0)
            return rc;
        if (mk && mk->arr_n > (uint64_t)INT32_MAX)
            return lf_error_set(err, LF_EFORMAT, "tokenizer.ggml.merges: too many entries");
    }

    /* pre-tokenizer (BPE only) and the flags that depend on it */
    lf_vocab_pre pre = LF_PRE_DEFAULT;
    if (kind == LF_VOCAB_BPE) {
        char pname[64];
        int prc = lf_gguf_get_str(g, "tokenizer.ggml.pre", pname, sizeof pname);
        if (prc == LF_ENOTFOUND)
            lf_warn("tokenizer.ggml.pre absent: using the 'default' pre-tokenizer "
                    "(token ids may differ from the model's own tokenizer)");
        else if (prc < 0)
            return lf_error_set(err, LF_EFORMAT, "tokenizer.ggml.pre is not a string");
        else if (lf_vocab_pre_parse(pname, &pre) < 0)
            lf_warn("tokenizer.ggml.pre = '%s' is not known here: using the GPT-2 pre-tokenizer",
                    pname);
    }
    bool spm = kind == LF_VOCAB_SPM;
    int32_t bos = special_id(g, "tokenizer.ggml.bos_token_id", spm ? 1 : 11, n);
    int32_t eos = special_id(g, "tokenizer.ggml.eos_token_id", spm ? 2 : 11, n);
    int32_t unk = special_id(g, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n);
    bool add_bos = get_flag(g, "tokenizer.ggml.add_bos_token", spm || pre == LF_PRE_LLAMA3);
    bool add_eos = get_flag(g, "tokenizer.ggml.add_eos_token", false);
    bool add_space = get_flag(g, "tokenizer.ggml.add_space_prefix", spm);
    if (add_bos && bos < 0) {
        lf_warn("tokenizer.ggml.add_bos_token is set but there is no BOS token: not adding one");
        add_bos = false;
    }

    char **toks = copy_strings(tk, (uint64_t)n);
    float *scores = malloc((size_t)n * sizeof *scores);
    int32_t *types = malloc((size_t)n * sizeof *types);
    int n_merges = mk ? (int)mk->arr_n : 0;
    char **merges = mk ? copy_strings(mk, (uint64_t)n_merges) : NULL;
    if (!toks || !scores || !types || (mk && !merges)) {
        rc = lf_error_set(err, LF_ENOMEM, "out of memory reading a vocabulary of %d tokens", (int)n);
        goto done;
    }
    for (int32_t i = 0; i < n; i++) {
        scores[i] = sk ? (float)lf_gguf_arr_num(sk, (uint64_t)i) : 0.0f;
        types[i] = ty ? (int32_t)lf_gguf_arr_num(ty, (uint64_t)i) : LF_TOKEN_NORMAL;
    }
    rc = lf_vocab_from_arrays(out, kind, n, (const char *const *)toks, scores, types,
                              (const char *const *)merges, n_merges, bos, eos, unk, add_bos,
                              add_space, err);
    if (rc == 0) {
        lf_vocab_set_pre(*out, pre);
        lf_vocab_set_add_eos(*out, add_eos);
    }
done:
    free_strings(toks, (uint64_t)n);
    free_strings(merges, (uint64_t)n_merges);
    free(scores);
    free(types);
    return rc;
}

int lf_vocab_write_gguf(const lf_vocab *v, lf_gguf_writer *w, lf_error *err) {
    const int32_t n = lf_vocab_size(v);
    float *scores = malloc((size_t)n * sizeof *scores);
    int32_t *types = malloc((size_t)n * sizeof *types);
    const char **merges = NULL;
    int nm = lf_vocab_n_merges(v);
    int rc = 0;
    if (!scores || !types) {
        rc = LF_ENOMEM;
        goto done;
    }
    for (int32_t i = 0; i < n; i++) {
        scores[i] = lf_vocab_token_score(v, i);
        types[i] = lf_vocab_token_type(v, i);
    }
    bool bpe = lf_vocab_kind_of(v) == LF_VOCAB_BPE;
    rc = lf_gguf_writer_set_str(w, "tokenizer.ggml.model", bpe ? "gpt2" : "llama");
    if (!rc && bpe)
        rc = lf_gguf_writer_set_str(w, "tokenizer.ggml.pre", lf_vocab_pre_name(lf_vocab_pre_of(v)));
    if (!rc)
        rc = lf_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", lf_vocab_token_texts(v),
                                        (uint64_t)n);
    if (!rc)
        rc = lf_gguf_writer_set_arr(w, "tokenizer.ggml.scores", LF_GGUF_FLOAT32, scores,
                                    (uint64_t)n);
    if (!rc)
        rc = lf_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", LF_GGUF_INT32, types,
                                    (uint64_t)n);
    if (!rc && nm > 0) {
        merges = malloc((size_t)nm * sizeof *merges);
        if (!merges) {
            rc = LF_ENOMEM;
            goto done;
        }
        for (int i = 0; i < nm; i++)
            merges[i] = lf_vocab_merge(v, i);
        rc = lf_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, (uint64_t)nm);
    }
    const struct { const char *key; int32_t id; } ids[] = {
        {"tokenizer.ggml.bos_token_id", lf_vocab_bos(v)},
        {"tokenizer.ggml.eos_token_id", lf_vocab_eos(v)},
        {"tokenizer.ggml.unknown_token_id", lf_vocab_unk(v)},
    };
    /* "none" is written as UINT32_MAX so the reader does not substitute its
     * default (llama.cpp warns about it and keeps its default) */
    for (size_t i = 0; !rc && i < sizeof ids / sizeof ids[0]; i++)
        rc = lf_gguf_writer_set_u32(w, ids[i].key, ids[i].id >= 0 ? (uint32_t)ids[i].id : UINT32_MAX);
    if (!rc)
        rc = lf_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", lf_vocab_add_bos(v));
    if (!rc)
        rc = lf_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", lf_vocab_add_eos(v));
    if (!rc)
        rc = lf_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix",
                                     lf_vocab_add_space_prefix(v));
done:
    free(scores);
    free(types);
    free(merges);
    if (rc < 0)
        return lf_error_set(err, rc, "writing the vocabulary of %d tokens: %s", (int)n,
                            lf_strerror(rc));
    return 0;
}
