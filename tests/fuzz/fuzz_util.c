/*
 * What the fuzz targets share: the table of targets, the abort on a broken
 * property, the memory file that stands in for a path, temporary
 * directories, and where the shared models are.
 */
#include "tests/fuzz/fuzz.h"

#include "model/model.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef LF_SOURCE_DIR
#define LF_SOURCE_DIR "."
#endif

const lf_fuzz_target *const lf_fuzz_targets[] = {
    &lf_fuzz_gguf, &lf_fuzz_model, &lf_fuzz_lora, &lf_fuzz_vocab,
    &lf_fuzz_tokenize, &lf_fuzz_import, &lf_fuzz_suite, NULL,
};

const lf_fuzz_target *lf_fuzz_find(const char *name) {
    for (int i = 0; lf_fuzz_targets[i]; i++)
        if (strcmp(lf_fuzz_targets[i]->name, name) == 0)
            return lf_fuzz_targets[i];
    return NULL;
}

/* To stdout: scripts/fuzz.sh closes the targets' stderr (-close_fd_mask=2,
 * libFuzzer and the sanitizers keep their own copy) to drop the library's
 * warnings, and this message must still reach the log. */
void lf_fuzz_fail(const char *target, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("fuzz %s: property violated: ", target);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
    abort();
}

int lf_fuzz_file_open(lf_fuzz_file *f) {
    f->fd = memfd_create("localfit-fuzz", MFD_CLOEXEC);
    if (f->fd < 0) {
        perror("memfd_create");
        return -1;
    }
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
    return 0;
}

int lf_fuzz_file_set(lf_fuzz_file *f, const void *data, size_t size) {
    if (ftruncate(f->fd, 0) < 0)
        return -1;
    const char *p = data;
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(f->fd, p + done, size - done, (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

void lf_fuzz_file_close(lf_fuzz_file *f) {
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

int lf_fuzz_tmpdir(char *buf, size_t size) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    if ((size_t)snprintf(buf, size, "%s/localfit-fuzz-XXXXXX", base) >= size)
        return -1;
    return mkdtemp(buf) ? 0 : -1;
}

void lf_fuzz_rmtree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            lf_fuzz_rmtree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static const char *existing_dir(const char *env, const char *fallback) {
    const char *d = getenv(env);
    struct stat st;
    if (d && *d)
        return stat(d, &st) == 0 && S_ISDIR(st.st_mode) ? d : NULL;
    return stat(fallback, &st) == 0 && S_ISDIR(st.st_mode) ? fallback : NULL;
}

const char *lf_fuzz_models_dir(void) {
    return existing_dir("LOCALFIT_TEST_MODELS", LF_SOURCE_DIR "/../shared/models");
}

const char *lf_fuzz_datasets_dir(void) {
    return existing_dir("LOCALFIT_TEST_DATASETS", LF_SOURCE_DIR "/../shared/datasets");
}

void lf_fuzz_lora_base_params(lf_model_params *hp) {
    lf_model_params_init(hp, LF_ARCH_LLAMA);
    snprintf(hp->name, sizeof hp->name, "fuzz-base-260k");
    hp->n_layer = 5;
    hp->n_embd = 64;
    hp->n_head = 8;
    hp->n_head_kv = 4;
    hp->n_ff = 172;
    hp->n_vocab = 512;
    hp->n_ctx_train = 128;
}
