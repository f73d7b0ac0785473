/*
 * A stand-in for llama-bench at the process boundary, written by the tests
 * into their temporary directory: a POSIX shell script that reads the
 * options it was given (-m -p -n -d -t -ctk -r), appends its argument list
 * to a log, and then, by mode, prints one `-o jsonl` record of exactly the
 * test asked for (recorded field for field from a real llama-bench), fails
 * with a message on stderr, prints garbage, or prints a record of another
 * test. Shared by test_engines.c and test_cli_engine.c.
 */
#ifndef LF_TEST_FAKE_LLAMA_H
#define LF_TEST_FAKE_LLAMA_H

#include <stdio.h>
#include <sys/stat.h>

typedef enum fake_mode { FAKE_OK, FAKE_FAIL, FAKE_GARBAGE, FAKE_WRONG } fake_mode;

/* The script at path; its argument lists are appended to log, one line per
 * invocation. Samples print tokens/s 1234.5 (ns for the token count). */
static inline int fake_llama_write(const char *path, const char *log, fake_mode mode) {
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "#!/bin/sh\n"
               "echo \"$*\" >> '%s'\n"
               "M=; P=512; N=128; D=0; T=2; K=f16\n"
               "while [ $# -gt 0 ]; do\n"
               "  case \"$1\" in\n"
               "    -m) M=$2; shift;; -p) P=$2; shift;; -n) N=$2; shift;; -d) D=$2; shift;;\n"
               "    -t) T=$2; shift;; -ctk) K=$2; shift;;\n"
               "  esac; shift\n"
               "done\n", log);
    if (mode == FAKE_WRONG)   /* a well-formed record of another test */
        fputs("P=999\n", f);
    switch (mode) {
    case FAKE_FAIL:
        fputs("echo 'llama_model_load: error loading model: fake failure' >&2\nexit 3\n", f);
        break;
    case FAKE_GARBAGE:
        fputs("echo 'this is not JSON'\n", f);
        break;
    case FAKE_WRONG:
    case FAKE_OK:
        fputs("TOK=$((P + N))\n"
              "NS=$((TOK * 1000000000 / 1234))\n"
              "printf '{\"build_commit\": \"fake123\", \"build_number\": 42, \"cpu_info\": \"Fake CPU\", "
              "\"gpu_info\": \"\", \"backends\": \"CPU\", \"model_filename\": \"%s\", "
              "\"model_type\": \"llama ?B Q8_0\", \"model_size\": 262624, \"model_n_params\": 292800, "
              "\"n_batch\": 2048, \"n_ubatch\": 512, \"n_threads\": %s, \"type_k\": \"%s\", "
              "\"type_v\": \"%s\", \"n_gpu_layers\": 99, \"flash_attn\": 1, \"n_prompt\": %s, "
              "\"n_gen\": %s, \"n_depth\": %s, \"test_time\": \"2026-12-07T00:59:02Z\", "
              "\"avg_ns\": %s, \"stddev_ns\": 0, \"avg_ts\": 1234.5, \"stddev_ts\": 0, "
              "\"samples_ns\": [ %s ], \"samples_ts\": [ 1234.5 ]}\\n' "
              "\"$M\" \"$T\" \"$K\" \"$K\" \"$P\" \"$N\" \"$D\" \"$NS\" \"$NS\"\n",
              f);
        break;
    }
    if (fclose(f) != 0)
        return -1;
    return chmod(path, 0755);
}

#endif /* LF_TEST_FAKE_LLAMA_H */
