/*
 * Reading a whole text file for the commands that score models on text
 * (quality, sweep): the file in one heap buffer, with a message naming the
 * file when it cannot be opened or read.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>

char *lf_cli_read_text(const char *path, size_t *len, lf_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        lf_error_set(err, LF_EIO, "%s: cannot open", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *p = realloc(buf, cap * 2);
        if (!p) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = p;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        lf_error_set(err, bad ? LF_EIO : LF_ENOMEM, "%s: cannot read", path);
        return NULL;
    }
    *len = n;
    return buf;
}
