/*
 * Fuzz target: a vocabulary read from an untrusted GGUF (tokenizer.ggml.*:
 * model, tokens, scores, types, merges, special ids, flags). A vocabulary
 * that loads must tokenize a fixed set of texts (plain, Unicode, invalid
 * UTF-8, control bytes) into ids inside the vocabulary, turn every id into
 * a piece, decode, and survive being written back: the written keys must
 * reload to the same tokens, special ids and flags.
 */
#include "tests/fuzz/fuzz.h"

#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T "vocab"
#define MAX_PIECES 70000

static char g_dir[512];

static void init(void) {
    if (lf_fuzz_tmpdir(g_dir, sizeof g_dir) < 0)
        g_dir[0] = '\0';
}

static void fini(void) {
    if (g_dir[0])
        lf_fuzz_rmtree(g_dir);
    g_dir[0] = '\0';
}

static const struct { const char *s; size_t len; } texts[] = {
#define TXT(x) {x, sizeof(x) - 1}
    TXT("Once upon a time, there was a little girl named Lily."),
    TXT("  leading and trailing spaces \t\n\n"),
    TXT("caf\xc3\xa9 na\xc3\xafve \xe2\x96\x81 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 <s></s><unk>"),
    TXT("\xff\xfe\xc3\x28\xe2\x82\x0a\xf0\x90\x28 bad utf-8"),
    TXT("\x00\x01\x1b[31m\x7f nul and escapes"),
    TXT("123 4567 89,000.5 don't I'm we'll <|endoftext|>"),
    TXT(""),
#undef TXT
};

static volatile unsigned g_sink;

static void exercise(const lf_vocab *v) {
    const int32_t n = lf_vocab_size(v);
    LF_FUZZ_CHECK(T, n > 0, "empty vocabulary loaded");
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *ids = NULL;
        int n_ids = 0;
        int64_t unknown = 0;
        lf_error err = {0};
        int rc = lf_tokenize_alloc(v, texts[i].s, texts[i].len, true, &ids, &n_ids, &unknown, &err);
        LF_FUZZ_CHECK(T, rc == 0, "tokenizing text %zu failed: %s", i, err.msg);
        for (int k = 0; k < n_ids; k++)
            LF_FUZZ_CHECK(T, ids[k] >= 0 && ids[k] < n, "id %d outside the vocabulary of %d", ids[k], n);
        char small[8];
        size_t full = lf_detokenize(v, ids, n_ids, small, sizeof small);
        char *buf = malloc(full + 1);
        LF_FUZZ_CHECK(T, buf, "out of memory");
        LF_FUZZ_CHECK(T, lf_detokenize(v, ids, n_ids, buf, full + 1) == full,
                      "detokenize length changes with the buffer");
        free(buf);
        /* a buffer one id too small is refused with the needed count */
        if (n_ids > 1) {
            int needed = 0;
            rc = lf_tokenize(v, texts[i].s, texts[i].len, true, ids, n_ids - 1, &needed, &err);
            LF_FUZZ_CHECK(T, rc == LF_ERANGE && needed == n_ids,
                          "short buffer: rc %d, needed %d of %d", rc, needed, n_ids);
        }
        free(ids);
    }
    char piece[64];
    for (int32_t id = -1; id <= n && id < MAX_PIECES; id++) {
        int len = lf_token_to_piece(v, id, piece, sizeof piece);
        LF_FUZZ_CHECK(T, len >= 0, "negative piece length");
        g_sink += (unsigned)len + (unsigned)lf_vocab_token_type(v, id);
        LF_FUZZ_CHECK(T, lf_vocab_token_text(v, id) != NULL, "NULL token text");
    }
    for (int i = 0; i < lf_vocab_n_merges(v) && i < MAX_PIECES; i++)
        g_sink += (unsigned)strlen(lf_vocab_merge(v, i));
    g_sink += (unsigned)lf_vocab_complete(v) + (lf_vocab_problem(v) != NULL);
}

/* Writes v's keys into a file, reloads them and compares. */
static void round_trip(const lf_vocab *v) {
    if (!g_dir[0])
        return;
    lf_gguf_writer *w = lf_gguf_writer_new();
    lf_error err = {0};
    LF_FUZZ_CHECK(T, w, "out of memory");
    LF_FUZZ_CHECK(T, lf_vocab_write_gguf(v, w, &err) == 0, "writing the vocabulary: %s", err.msg);
    char path[600];
    snprintf(path, sizeof path, "%s/vocab.gguf", g_dir);
    int rc = lf_gguf_writer_write(w, path, &err);
    lf_gguf_writer_free(w);
    LF_FUZZ_CHECK(T, rc == 0, "writing the file: %s", err.msg);
    lf_gguf *g = NULL;
    lf_vocab *u = NULL;
    LF_FUZZ_CHECK(T, lf_gguf_open(&g, path, &err) == 0, "reopening: %s", err.msg);
    LF_FUZZ_CHECK(T, lf_vocab_load(&u, g, &err) == 0, "reloading the written vocabulary: %s", err.msg);
    const int32_t n = lf_vocab_size(v);
    LF_FUZZ_CHECK(T, lf_vocab_size(u) == n && lf_vocab_kind_of(u) == lf_vocab_kind_of(v) &&
                         lf_vocab_bos(u) == lf_vocab_bos(v) && lf_vocab_eos(u) == lf_vocab_eos(v) &&
                         lf_vocab_unk(u) == lf_vocab_unk(v) &&
                         lf_vocab_add_bos(u) == lf_vocab_add_bos(v) &&
                         lf_vocab_add_space_prefix(u) == lf_vocab_add_space_prefix(v) &&
                         lf_vocab_n_merges(u) == lf_vocab_n_merges(v) &&
                         lf_vocab_pre_of(u) == lf_vocab_pre_of(v),
                  "reloaded vocabulary differs (size %d/%d, bos %d/%d, eos %d/%d, unk %d/%d)",
                  lf_vocab_size(u), n, lf_vocab_bos(u), lf_vocab_bos(v), lf_vocab_eos(u),
                  lf_vocab_eos(v), lf_vocab_unk(u), lf_vocab_unk(v));
    for (int32_t id = 0; id < n; id++)
        LF_FUZZ_CHECK(T, strcmp(lf_vocab_token_text(u, id), lf_vocab_token_text(v, id)) == 0 &&
                             lf_vocab_token_type(u, id) == lf_vocab_token_type(v, id),
                      "token %d differs after the round trip", id);
    lf_vocab_free(u);
    lf_gguf_close(g);
    remove(path);
}

static int one(const uint8_t *data, size_t size) {
    lf_gguf *g = NULL;
    lf_error err = {0};
    if (lf_gguf_open_memory(&g, data, size, &err) < 0)
        return 0;
    lf_vocab *v = NULL;
    int rc = lf_vocab_load(&v, g, &err);
    if (rc < 0) {
        LF_FUZZ_CHECK(T, v == NULL && err.msg[0], "failure without a message");
        lf_gguf_close(g);
        return 0;
    }
    /* the vocabulary is a copy: it must outlive the file */
    lf_gguf_close(g);
    exercise(v);
    round_trip(v);
    lf_vocab_free(v);
    return 0;
}

const lf_fuzz_target lf_fuzz_vocab = {
    .name = "vocab",
    .what = "vocabulary from a GGUF: tokenize fixed texts, every piece, write and reload",
    .init = init,
    .one = one,
    .fini = fini,
};
