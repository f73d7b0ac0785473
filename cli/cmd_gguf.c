/*
 * `localfit gguf` — look inside GGUF files: `info` prints the header
 * (version, alignment, architecture), every metadata key with its type and
 * value (long arrays and strings abbreviated unless --all), and every
 * tensor with type, shape, bytes and bits per weight, plus totals, as text
 * or JSON (schema "localfit.gguf/1"); `dump` writes one tensor dequantized
 * to little-endian F32 on stdout, for checks against other tools.
 */
#include "cli/args.h"
#include "cli/cli.h"
#include "gguf/gguf.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEXT_ARRAY_ITEMS 8      /* array elements shown without --all */
#define JSON_ARRAY_ITEMS 32
#define STRING_CHARS 120        /* string bytes shown without --all */

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit gguf info FILE [--json] [--all]\n"
            "       localfit gguf dump FILE --tensor NAME > out.f32\n\n"
            "info   header, metadata (long arrays and strings abbreviated unless\n"
            "       --all), tensors with type, shape, bytes and bits per weight, totals\n"
            "       --json   machine-readable output (schema localfit.gguf/1)\n"
            "       --all    print every array element and whole strings\n"
            "dump   write tensor NAME dequantized to little-endian F32 on stdout\n"
            "       (row-major, ne[0] fastest); refuses to write to a terminal\n");
}

/* ---- text helpers ------------------------------------------------------ */

/* Prints s quoted, escaping control characters, at most max bytes. */
static void print_str(FILE *f, const char *s, uint64_t len, uint64_t max) {
    uint64_t n = len < max ? len : max;
    fputc('"', f);
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else if (c < 0x80)
            fputc(c, f);
        else {
            /* C1 controls, bidi overrides and bad bytes visible too */
            uint32_t cp;
            size_t k = lf_utf8_decode((const unsigned char *)s + i, (size_t)(n - i), &cp);
            if (k == 0)
                fprintf(f, "\\x%02x", c);
            else if (lf_text_unsafe(cp))
                fprintf(f, "\\u%04x", (unsigned)cp);
            else
                fwrite(s + i, 1, k, f);
            if (k > 1)
                i += k - 1;
        }
    }
    fputc('"', f);
    if (n < len)
        fprintf(f, "... (%llu bytes)", (unsigned long long)len);
}

/* The shortest %g form that reads back as the same float (0.1, not
 * 0.100000001). */
static void print_f32(FILE *f, double v) {
    char b[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(b, sizeof b, "%.*g", p, v);
        if (strtof(b, NULL) == (float)v)
            break;
    }
    fputs(b, f);
}

static void print_scalar(FILE *f, const lf_gguf_kv *kv) {
    switch (kv->type) {
    case LF_GGUF_UINT8: case LF_GGUF_UINT16: case LF_GGUF_UINT32: case LF_GGUF_UINT64:
        fprintf(f, "%llu", (unsigned long long)kv->v.u);
        break;
    case LF_GGUF_INT8: case LF_GGUF_INT16: case LF_GGUF_INT32: case LF_GGUF_INT64:
        fprintf(f, "%lld", (long long)kv->v.i);
        break;
    case LF_GGUF_FLOAT32: print_f32(f, kv->v.f); break;
    case LF_GGUF_FLOAT64: fprintf(f, "%.17g", kv->v.f); break;
    case LF_GGUF_BOOL: fputs(kv->v.b ? "true" : "false", f); break;
    default: break;
    }
}

static bool is_int_vtype(lf_gguf_vtype t) {
    return t != LF_GGUF_FLOAT32 && t != LF_GGUF_FLOAT64 && t != LF_GGUF_BOOL &&
           t != LF_GGUF_STRING && t != LF_GGUF_ARRAY;
}

static void print_value(FILE *f, const lf_gguf_kv *kv, bool all) {
    if (kv->type == LF_GGUF_STRING) {
        print_str(f, kv->str.ptr, kv->str.len, all ? UINT64_MAX : STRING_CHARS);
        return;
    }
    if (kv->type != LF_GGUF_ARRAY) {
        print_scalar(f, kv);
        return;
    }
    if (kv->arr_type == LF_GGUF_ARRAY) {
        fprintf(f, "[%llu nested arrays]", (unsigned long long)kv->arr_n);
        return;
    }
    uint64_t show = all || kv->arr_n <= TEXT_ARRAY_ITEMS + 2 ? kv->arr_n : TEXT_ARRAY_ITEMS;
    fputc('[', f);
    for (uint64_t i = 0; i < show; i++) {
        if (i)
            fputs(", ", f);
        if (kv->arr_type == LF_GGUF_STRING) {
            lf_gguf_str s = lf_gguf_arr_str(kv, i);
            print_str(f, s.ptr, s.len, all ? UINT64_MAX : 40);
        } else if (kv->arr_type == LF_GGUF_BOOL) {
            fputs(lf_gguf_arr_num(kv, i) != 0 ? "true" : "false", f);
        } else if (is_int_vtype(kv->arr_type)) {
            fprintf(f, "%.0f", lf_gguf_arr_num(kv, i));
        } else if (kv->arr_type == LF_GGUF_FLOAT32) {
            print_f32(f, lf_gguf_arr_num(kv, i));
        } else {
            fprintf(f, "%.17g", lf_gguf_arr_num(kv, i));
        }
    }
    if (show < kv->arr_n)
        fprintf(f, ", ... %llu more", (unsigned long long)(kv->arr_n - show));
    fputc(']', f);
}

static void format_shape(char *buf, size_t size, const lf_gguf_tensor *t) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (uint32_t d = 0; d < t->n_dims && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

/* Per-type totals, indexed by lf_type. */
typedef struct totals {
    int64_t count[LF_TYPE_COUNT];
    double elems[LF_TYPE_COUNT], bytes[LF_TYPE_COUNT];
    double all_elems, all_bytes;
} totals;

static void count_tensors(const lf_gguf *g, totals *tt) {
    memset(tt, 0, sizeof *tt);
    for (int64_t i = 0; i < lf_gguf_n_tensors(g); i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        tt->count[t->type]++;
        tt->elems[t->type] += (double)lf_gguf_tensor_nelem(t);
        tt->bytes[t->type] += (double)t->nbytes;
        tt->all_elems += (double)lf_gguf_tensor_nelem(t);
        tt->all_bytes += (double)t->nbytes;
    }
}

static double bpw(double bytes, double elems) { return elems > 0 ? 8.0 * bytes / elems : 0.0; }

/* Keys, tensor names and the architecture come from the file: escaped
 * like the string values (common/text.c), so none can drive the terminal.
 * Returns buf. */
static const char *safe(const char *s, char *buf, size_t size) {
    return lf_text_clean(buf, size, s, true);
}

static void info_text(const lf_gguf *g, bool all) {
    char buf[64], arch[128] = "(none)", sa[512], sp[8192];
    lf_gguf_get_str(g, "general.architecture", arch, sizeof arch);
    printf("file:         %s\n", safe(lf_gguf_path(g), sp, sizeof sp));
    printf("version:      %u\n", lf_gguf_version(g));
    printf("size:         %s (%zu bytes)\n",
           lf_format_bytes(buf, sizeof buf, (double)lf_gguf_file_size(g)), lf_gguf_file_size(g));
    printf("alignment:    %zu\n", lf_gguf_alignment(g));
    printf("data offset:  %zu\n", lf_gguf_data_offset(g));
    printf("architecture: %s\n", safe(arch, sa, sizeof sa));

    printf("\nmetadata (%lld keys):\n", (long long)lf_gguf_n_kv(g));
    int kw = 0;
    for (int64_t i = 0; i < lf_gguf_n_kv(g); i++) {
        int l = (int)strlen(lf_gguf_kv_at(g, i)->key);
        kw = l > kw ? l : kw;
    }
    kw = kw > 48 ? 48 : kw;
    for (int64_t i = 0; i < lf_gguf_n_kv(g); i++) {
        const lf_gguf_kv *kv = lf_gguf_kv_at(g, i);
        char type[48];
        if (kv->type == LF_GGUF_ARRAY)
            snprintf(type, sizeof type, "arr[%s,%llu]", lf_gguf_vtype_name(kv->arr_type),
                     (unsigned long long)kv->arr_n);
        else
            snprintf(type, sizeof type, "%s", lf_gguf_vtype_name(kv->type));
        printf("  %-*s %-16s ", kw, safe(kv->key, sp, sizeof sp), type);
        print_value(stdout, kv, all);
        putchar('\n');
    }

    printf("\ntensors (%lld):\n", (long long)lf_gguf_n_tensors(g));
    int nw = 4;
    for (int64_t i = 0; i < lf_gguf_n_tensors(g); i++) {
        int l = (int)strlen(lf_gguf_tensor_at(g, i)->name);
        nw = l > nw ? l : nw;
    }
    printf("  %-*s %-7s %-24s %14s %8s\n", nw, "name", "type", "shape", "bytes", "bpw");
    for (int64_t i = 0; i < lf_gguf_n_tensors(g); i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        char shape[96];
        format_shape(shape, sizeof shape, t);
        printf("  %-*s %-7s %-24s %14zu %8.4f\n", nw, safe(t->name, sp, sizeof sp),
               lf_type_name(t->type), shape,
               t->nbytes, bpw((double)t->nbytes, (double)lf_gguf_tensor_nelem(t)));
    }

    totals tt;
    count_tensors(g, &tt);
    printf("\ntotals by type:\n");
    for (int t = 0; t < LF_TYPE_COUNT; t++) {
        if (!tt.count[t])
            continue;
        printf("  %-7s %5lld tensors %16.0f elements %16.0f bytes %8.4f bpw\n",
               lf_type_name((lf_type)t), (long long)tt.count[t], tt.elems[t], tt.bytes[t],
               bpw(tt.bytes[t], tt.elems[t]));
    }
    printf("  %-7s %5lld tensors %16.0f elements %16.0f bytes %8.4f bpw (%s)\n", "all",
           (long long)lf_gguf_n_tensors(g), tt.all_elems, tt.all_bytes,
           bpw(tt.all_bytes, tt.all_elems), lf_format_bytes(buf, sizeof buf, tt.all_bytes));
}

/* ---- JSON ----------------------------------------------------------------- */

/* A JSON string from file bytes: invalid UTF-8 sequences become U+FFFD so
 * the output is always valid JSON. */
static json_t *jstr(const char *s, uint64_t len, uint64_t max, bool *cut) {
    if (cut)
        *cut = len > max;
    size_t n = (size_t)(len < max ? len : max);
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    char *clean = malloc(3 * n + 1);
    if (!clean)
        return json_null();
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = k > 0 && i + k <= n && c != 0;
        for (size_t m = 1; ok && m < k; m++)
            ok = ((unsigned char)s[i + m] >> 6) == 2;
        if (ok && k > 1) {
            json_t *probe = json_stringn(s + i, k);   /* rejects overlongs, surrogates */
            ok = probe != NULL;
            json_decref(probe);
        }
        if (ok) {
            memcpy(clean + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(clean + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    j = json_stringn(clean, o);
    free(clean);
    return j ? j : json_null();
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *json_value(const lf_gguf_kv *kv, bool all, bool *cut) {
    *cut = false;
    switch (kv->type) {
    case LF_GGUF_UINT8: case LF_GGUF_UINT16: case LF_GGUF_UINT32:
        return json_integer((json_int_t)kv->v.u);
    case LF_GGUF_UINT64:
        /* JSON integers are signed 64-bit here; huge values go as reals. */
        return kv->v.u <= (uint64_t)INT64_MAX ? json_integer((json_int_t)kv->v.u)
                                              : json_real((double)kv->v.u);
    case LF_GGUF_INT8: case LF_GGUF_INT16: case LF_GGUF_INT32: case LF_GGUF_INT64:
        return json_integer((json_int_t)kv->v.i);
    case LF_GGUF_FLOAT32: case LF_GGUF_FLOAT64: return jnum(kv->v.f);
    case LF_GGUF_BOOL: return json_boolean(kv->v.b);
    case LF_GGUF_STRING: return jstr(kv->str.ptr, kv->str.len, all ? UINT64_MAX : 4096, cut);
    default: break;
    }
    json_t *a = json_array();
    if (kv->arr_type == LF_GGUF_ARRAY) {
        *cut = kv->arr_n > 0;
        return a;
    }
    uint64_t show = all || kv->arr_n <= JSON_ARRAY_ITEMS ? kv->arr_n : JSON_ARRAY_ITEMS;
    *cut = show < kv->arr_n;
    for (uint64_t i = 0; i < show; i++) {
        if (kv->arr_type == LF_GGUF_STRING) {
            lf_gguf_str s = lf_gguf_arr_str(kv, i);
            json_array_append_new(a, jstr(s.ptr, s.len, UINT64_MAX, NULL));
        } else if (kv->arr_type == LF_GGUF_BOOL) {
            json_array_append_new(a, json_boolean(lf_gguf_arr_num(kv, i) != 0));
        } else if (is_int_vtype(kv->arr_type) && kv->arr_type != LF_GGUF_UINT64) {
            json_array_append_new(a, json_integer((json_int_t)lf_gguf_arr_num(kv, i)));
        } else {
            json_array_append_new(a, jnum(lf_gguf_arr_num(kv, i)));
        }
    }
    return a;
}

static int info_json(const lf_gguf *g, bool all) {
    char arch[128];
    json_t *root = json_object();
    json_object_set_new(root, "schema", json_string("localfit.gguf/1"));
    json_object_set_new(root, "file", jstr(lf_gguf_path(g), strlen(lf_gguf_path(g)), UINT64_MAX, NULL));
    json_object_set_new(root, "version", json_integer(lf_gguf_version(g)));
    json_object_set_new(root, "size", json_integer((json_int_t)lf_gguf_file_size(g)));
    json_object_set_new(root, "alignment", json_integer((json_int_t)lf_gguf_alignment(g)));
    json_object_set_new(root, "data_offset", json_integer((json_int_t)lf_gguf_data_offset(g)));
    json_object_set_new(root, "architecture",
                        lf_gguf_get_str(g, "general.architecture", arch, sizeof arch) == 0
                            ? jstr(arch, strlen(arch), UINT64_MAX, NULL)
                            : json_null());
    json_t *meta = json_array();
    for (int64_t i = 0; i < lf_gguf_n_kv(g); i++) {
        const lf_gguf_kv *kv = lf_gguf_kv_at(g, i);
        json_t *o = json_object();
        bool cut;
        json_object_set_new(o, "key", jstr(kv->key, strlen(kv->key), UINT64_MAX, NULL));
        json_object_set_new(o, "type", json_string(lf_gguf_vtype_name(kv->type)));
        if (kv->type == LF_GGUF_ARRAY) {
            json_object_set_new(o, "elem_type", json_string(lf_gguf_vtype_name(kv->arr_type)));
            json_object_set_new(o, "n", json_integer((json_int_t)kv->arr_n));
        }
        json_object_set_new(o, "value", json_value(kv, all, &cut));
        if (cut)
            json_object_set_new(o, "truncated", json_true());
        json_array_append_new(meta, o);
    }
    json_object_set_new(root, "metadata", meta);
    json_t *tensors = json_array();
    for (int64_t i = 0; i < lf_gguf_n_tensors(g); i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        json_t *o = json_object(), *shape = json_array();
        for (uint32_t d = 0; d < t->n_dims; d++)
            json_array_append_new(shape, json_integer(t->ne[d]));
        json_object_set_new(o, "name", jstr(t->name, strlen(t->name), UINT64_MAX, NULL));
        json_object_set_new(o, "type", json_string(lf_type_name(t->type)));
        json_object_set_new(o, "shape", shape);
        json_object_set_new(o, "offset", json_integer((json_int_t)t->offset));
        json_object_set_new(o, "bytes", json_integer((json_int_t)t->nbytes));
        json_object_set_new(o, "bpw", jnum(bpw((double)t->nbytes, (double)lf_gguf_tensor_nelem(t))));
        json_array_append_new(tensors, o);
    }
    json_object_set_new(root, "tensors", tensors);
    totals tt;
    count_tensors(g, &tt);
    json_t *by_type = json_object();
    for (int t = 0; t < LF_TYPE_COUNT; t++) {
        if (!tt.count[t])
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "tensors", json_integer(tt.count[t]));
        json_object_set_new(o, "elements", json_integer((json_int_t)tt.elems[t]));
        json_object_set_new(o, "bytes", json_integer((json_int_t)tt.bytes[t]));
        json_object_set_new(o, "bpw", jnum(bpw(tt.bytes[t], tt.elems[t])));
        json_object_set_new(by_type, lf_type_name((lf_type)t), o);
    }
    json_t *tot = json_object();
    json_object_set_new(tot, "tensors", json_integer(lf_gguf_n_tensors(g)));
    json_object_set_new(tot, "elements", json_integer((json_int_t)tt.all_elems));
    json_object_set_new(tot, "bytes", json_integer((json_int_t)tt.all_bytes));
    json_object_set_new(tot, "bpw", jnum(bpw(tt.all_bytes, tt.all_elems)));
    json_object_set_new(tot, "by_type", by_type);
    json_object_set_new(root, "totals", tot);
    /* ASCII only: names may hold C1 controls or bidi overrides that a
     * terminal would act on even inside a JSON string */
    int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    putchar('\n');
    json_decref(root);
    return rc;
}

/* ---- dump ------------------------------------------------------------------ */

static int dump_tensor(const lf_gguf *g, const char *name) {
    lf_error err = {0};
    const lf_gguf_tensor *t = lf_gguf_find_tensor(g, name);
    if (!t) {
        lf_error_set(&err, LF_ENOTFOUND, "%s: no tensor named '%s'", lf_gguf_path(g), name);
        return lf_cli_fail(&err);
    }
    const int64_t ncols = t->ne[0], nrows = ncols ? lf_gguf_tensor_nelem(t) / ncols : 0;
    const size_t row_bytes = lf_row_size(t->type, ncols);
    /* Dequantize in slabs of rows so a large tensor needs little memory. */
    int64_t slab = ncols > 0 ? (1 << 20) / ncols : 1;
    slab = slab < 1 ? 1 : slab;
    float *buf = malloc((size_t)(slab * (ncols > 0 ? ncols : 1)) * sizeof(float));
    if (!buf) {
        lf_error_set(&err, LF_ENOMEM, "out of memory");
        return lf_cli_fail(&err);
    }
    for (int64_t r = 0; r < nrows; r += slab) {
        int64_t n = nrows - r < slab ? nrows - r : slab;
        lf_dequantize(t->type, (const char *)t->data + (size_t)r * row_bytes, buf, n, ncols);
        size_t cnt = (size_t)(n * ncols);
        if (fwrite(buf, sizeof(float), cnt, stdout) != cnt) {
            free(buf);
            lf_error_set(&err, LF_EIO, "writing tensor '%s' to stdout failed", name);
            return lf_cli_fail(&err);
        }
    }
    free(buf);
    if (fflush(stdout) != 0) {
        lf_error_set(&err, LF_EIO, "writing tensor '%s' to stdout failed", name);
        return lf_cli_fail(&err);
    }
    return LF_EXIT_OK;
}

int cmd_gguf(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return LF_EXIT_OK;
    }
    if (argc < 2)
        return lf_cli_usage_error("gguf", "missing subcommand (info or dump)");
    const char *sub = argv[1];
    bool is_info = !strcmp(sub, "info"), is_dump = !strcmp(sub, "dump");
    if (!is_info && !is_dump)
        return lf_cli_usage_error("gguf", "unknown subcommand '%s' (info or dump)", sub);

    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},  {"all", no_argument, NULL, 'a'},
        {"tensor", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, all = false;
    const char *tensor = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc - 1, argv + 1, ":jat:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'a': all = true; break;
        case 't': tensor = optarg; break;
        case 'h': usage(stdout); return LF_EXIT_OK;
        case ':':
        default: return lf_cli_bad_option("gguf", argv + 1, opts);
        }
    }
    /* getopt ran over argv + 1, so its optind counts from the subcommand
     * and argv[optind] (unshifted) is the last argument it looked at. */
    if (argc - 1 - optind != 1)
        return lf_cli_usage_error("gguf", "%s needs exactly one FILE", sub);
    const char *path = argv[1 + optind];
    if (is_info && tensor)
        return lf_cli_usage_error("gguf", "--tensor belongs to 'gguf dump'");
    if (is_dump && (json || all))
        return lf_cli_usage_error("gguf", "--json and --all belong to 'gguf info'");
    if (is_dump && !tensor)
        return lf_cli_usage_error("gguf", "dump needs --tensor NAME");
    if (is_dump && isatty(STDOUT_FILENO)) {
        lf_error err;
        lf_error_set(&err, LF_EINVAL, "gguf dump writes binary F32; redirect stdout to a file");
        return lf_cli_fail(&err);
    }

    lf_gguf *g;
    lf_error err = {0};
    if (lf_gguf_open(&g, path, &err) < 0)
        return lf_cli_fail(&err);
    int rc = LF_EXIT_OK;
    if (is_dump) {
        rc = dump_tensor(g, tensor);
    } else if (json) {
        if (info_json(g, all) < 0) {
            lf_error_set(&err, LF_EIO, "writing JSON failed");
            rc = lf_cli_fail(&err);
        }
    } else {
        info_text(g, all);
    }
    lf_gguf_close(g);
    return rc;
}
