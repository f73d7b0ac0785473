/*
 * Model files for engines that need one: localfit synthesizes catalog
 * models and shapes in memory, llama.cpp loads files, so the same weights
 * are written once to a cache file named after a hash of everything that
 * decides them (every model parameter, the mix, the seed) and reused.
 */
#include "engines/engines.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bumped when the synthesizer's output for the same inputs changes, so old
 * cache files are not taken for new weights. */
#define SYNTH_CACHE_VERSION 1

int lf_engine_cache_dir(char *buf, size_t size, lf_error *err) {
    const char *xdg = getenv("XDG_CACHE_HOME");
    int w;
    if (xdg && xdg[0] == '/') {
        w = snprintf(buf, size, "%s/localfit/models", xdg);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home || !*home)
            return lf_error_set(err, LF_ENOTFOUND, "model cache: no home directory (set XDG_CACHE_HOME)");
        w = snprintf(buf, size, "%s/.cache/localfit/models", home);
    }
    if (w < 0 || (size_t)w >= size)
        return lf_error_set(err, LF_ERANGE, "model cache: directory path too long");
    return 0;
}

static int mkdirs(const char *dir, lf_error *err) {
    char p[4096];
    if (strlen(dir) >= sizeof p)
        return lf_error_set(err, LF_ERANGE, "model cache: path too long: %s", dir);
    lf_strlcpy(p, dir, sizeof p);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return lf_error_set(err, LF_EIO, "model cache: creating %s: %s", p, strerror(errno));
            *s = c;
            if (!c)
                break;
        }
    }
    return 0;
}

/* The canonical text of what decides the weights: every field of hp by
 * name (not the struct's bytes, whose padding is undefined). */
static void key_text(const lf_model_params *hp, lf_mix mix, uint64_t seed, char *buf, size_t size) {
    snprintf(buf, size,
             "v%d arch=%d name=%s layer=%d embd=%d head=%d head_kv=%d hd=%d hdv=%d ff=%d vocab=%d "
             "ctx=%d rope=%.9g rot=%d neox=%d rs=%d rsf=%.9g roc=%d rbs=%.9g eps=%.9g act=%d tied=%d "
             "qkvb=%d qkn=%d qknf=%d npn=%d post=%d embs=%d as=%.9g asc=%.9g fsc=%.9g swa=%d swap=%d "
             "em=%.9g rm=%.9g ls=%.9g ne=%d neu=%d ffe=%d nes=%d ffs=%d gat=%d ntk=%d mws=%.9g "
             "shg=%d mix=%d seed=%llu",
             SYNTH_CACHE_VERSION, (int)hp->arch, hp->name, hp->n_layer, hp->n_embd, hp->n_head,
             hp->n_head_kv, hp->head_dim, hp->head_dim_v, hp->n_ff, hp->n_vocab, hp->n_ctx_train,
             hp->rope_base, hp->n_rot, hp->rope_neox, (int)hp->rope_scaling, hp->rope_scale_factor,
             hp->rope_orig_ctx, hp->rope_base_swa, hp->norm_eps, (int)hp->act, hp->tied, hp->qkv_bias,
             hp->qk_norm, hp->qk_norm_full, hp->no_pre_norm, hp->post_norms, hp->embd_scale,
             hp->attn_scale, hp->attn_softcap, hp->final_softcap, hp->swa_window, hp->swa_pattern,
             hp->embd_mult, hp->residual_mult, hp->logit_scale, hp->n_expert, hp->n_expert_used,
             hp->n_ff_exp, hp->n_expert_shared, hp->n_ff_shexp, (int)hp->gating, hp->moe_norm_topk,
             hp->moe_weights_scale, hp->moe_shexp_gate, (int)mix, (unsigned long long)seed);
}

int lf_engine_model_file(const char *dir, const lf_model_params *hp, lf_mix mix, uint64_t seed,
                         char *path, size_t size, bool *created, lf_error *err) {
    *created = false;
    char dbuf[4096];
    int rc;
    if (!dir) {
        if ((rc = lf_engine_cache_dir(dbuf, sizeof dbuf, err)) < 0)
            return rc;
        dir = dbuf;
    }
    char key[2048];
    key_text(hp, mix, seed, key, sizeof key);
    uint8_t h[32];
    lf_sha256(key, strlen(key), h);
    /* the name for people: the model's name with only safe characters */
    char stem[64];
    size_t k = 0;
    for (const char *s = hp->name[0] ? hp->name : "model"; *s && k + 1 < sizeof stem; s++)
        stem[k++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                            *s == '.' || *s == '-' || *s == '_'
                        ? *s
                        : '_';
    stem[k] = '\0';
    int w = snprintf(path, size, "%s/%s-%s-%02x%02x%02x%02x%02x%02x%02x%02x.gguf", dir, stem,
                     lf_mix_name(mix), h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
    if (w < 0 || (size_t)w >= size)
        return lf_error_set(err, LF_ERANGE, "model cache: path too long in %s", dir);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0)
        return 0;
    if ((rc = mkdirs(dir, err)) < 0)
        return rc;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    lf_model *m = NULL;
    if ((rc = lf_model_synth(&m, hp, mix, seed, err)) < 0)
        return lf_error_wrap(err, "model cache: synthesizing %s", path);
    rc = lf_model_save_gguf(m, tmp, err);
    lf_model_free(m);
    if (rc < 0) {
        unlink(tmp);
        return lf_error_wrap(err, "model cache: writing %s", tmp);
    }
    if (rename(tmp, path) < 0) {
        rc = lf_error_set(err, LF_EIO, "model cache: renaming %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return rc;
    }
    *created = true;
    return 0;
}
