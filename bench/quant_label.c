/*
 * The quant label of a model file: what bench results and sweep levels
 * call the weights (bench.h, lf_bench_quant_label). A file that records
 * general.file_type is named by that mix; one that does not is named after
 * the type holding the most bytes in total, because that type is what a
 * token streams and what the file's size says, whereas the single largest
 * tensor is often an embedding kept at a higher precision.
 */
#include "bench/bench.h"

#include <string.h>

lf_type lf_bench_quant_label(const lf_model *m, char *label, size_t size, lf_mix *mix) {
    double bytes[LF_TYPE_COUNT] = {0};
    for (int i = 0; i < lf_model_n_tensors(m); i++) {
        const lf_model_tensor *t = lf_model_tensor_at(m, i);
        if ((int)t->mat.type >= 0 && t->mat.type < LF_TYPE_COUNT)
            bytes[t->mat.type] += (double)t->mat.row_bytes * (double)t->mat.rows;
    }
    lf_type main_type = LF_TYPE_F32;
    for (int t = 0; t < LF_TYPE_COUNT; t++)
        if (bytes[t] > bytes[main_type])
            main_type = (lf_type)t;
    lf_mix fm = lf_model_mix(m);
    char name[32];
    if (fm < LF_MIX_COUNT) {
        lf_strlcpy(name, lf_mix_name(fm), sizeof name);
    } else {
        lf_strlcpy(name, lf_type_name(main_type), sizeof name);
        for (char *c = name; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        /* the pure mixes are named as their type ("Q8_0", "IQ4_NL") */
        if (lf_mix_parse(name, &fm) < 0)
            fm = LF_MIX_COUNT;
    }
    if (label && size)
        lf_strlcpy(label, name, size);
    if (mix)
        *mix = fm;
    return main_type;
}

bool lf_bench_mix_collapsed(const lf_model *m, lf_mix mix, char *became, size_t size) {
    if (became && size)
        became[0] = '\0';
    if ((int)mix < 0 || mix >= LF_MIX_COUNT)
        return false;
    /* the mix's own type: what its attention query matrices get at a row
     * length every block size divides */
    int n_layer = lf_model_hparams(m)->n_layer;
    lf_type own = lf_mix_tensor_type(mix, "blk.0.attn_q.weight", 0, n_layer > 0 ? n_layer : 1, 4096);
    if (lf_type_is_float(own))
        return false;
    for (int i = 0; i < lf_model_n_tensors(m); i++) {
        const lf_model_tensor *t = lf_model_tensor_at(m, i);
        if (t->mat.rows > 1 && t->mat.type == own)
            return false;
    }
    char label[32];
    /* named by the type holding most bytes, whatever general.file_type says */
    double bytes[LF_TYPE_COUNT] = {0};
    for (int i = 0; i < lf_model_n_tensors(m); i++) {
        const lf_model_tensor *t = lf_model_tensor_at(m, i);
        if ((int)t->mat.type >= 0 && t->mat.type < LF_TYPE_COUNT && t->mat.rows > 1)
            bytes[t->mat.type] += (double)t->mat.row_bytes * (double)t->mat.rows;
    }
    lf_type main_type = LF_TYPE_F32;
    for (int t = 0; t < LF_TYPE_COUNT; t++)
        if (bytes[t] > bytes[main_type])
            main_type = (lf_type)t;
    lf_strlcpy(label, lf_type_name(main_type), sizeof label);
    for (char *c = label; *c; c++)
        *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
    if (became && size)
        lf_strlcpy(became, label, size);
    return true;
}
