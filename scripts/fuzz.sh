#!/usr/bin/env bash
# Runs every libFuzzer target (tests/fuzz) for a bounded time each, under
# ASan+UBSan, from seed corpora generated now (from ../shared/models and
# ../shared/datasets when present, from files written by the seed generator
# otherwise) plus the saved crash inputs of tests/fuzz/regress/.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  per target (default 10); TARGETs default to all:
#            gguf model lora vocab tokenize import suite
# Environment:
#   LF_FUZZ_BUILD   build directory (default build-fuzz; configured with clang)
#   LF_FUZZ_CORPUS  corpus directory kept between runs (default $LF_FUZZ_BUILD/corpus)
#   LF_FUZZ_ARGS    extra libFuzzer flags (e.g. "-jobs=2 -workers=2")
# Exit status 1 if any target crashed, hung, leaked or broke a property; the
# inputs that did are in $LF_FUZZ_BUILD/artifacts/<target>/ — reproduce one
# with $LF_FUZZ_BUILD/fuzz/fuzz_<target> FILE, and once fixed copy it to
# tests/fuzz/regress/<target>/ so test_fuzz_regress keeps replaying it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(gguf model lora vocab tokenize import suite)
build=${LF_FUZZ_BUILD:-build-fuzz}
corpus=${LF_FUZZ_CORPUS:-$build/corpus}
jobs=$(nproc 2>/dev/null || echo 2)

if ! command -v clang >/dev/null; then
  echo "fuzz: clang is not installed (scripts/deps.sh ci installs it)" >&2
  exit 1
fi
CC=clang cmake -S . -B "$build" -DLF_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs" --target fuzz_seeds $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

seeds=$build/seeds
rm -rf "$seeds"
# The seed generator runs under ASan too; its leaks would be ours.
"$build/tests/fuzz/fuzz_seeds" "$seeds"

# Longest input per target: the cut-down model headers reach ~70 KB.
max_len() {
  case $1 in
    tokenize|suite) echo 4096 ;;
    import) echo 32768 ;;
    *) echo 81920 ;;
  esac
}

# The targets' scratch files (writer round trips) go to a directory of
# ours: libFuzzer ends a timed run without the targets' clean-up.
export TMPDIR=$PWD/$build/tmp
[ "${build#/}" != "$build" ] && TMPDIR=$build/tmp
rm -rf "$TMPDIR"
mkdir -p "$TMPDIR"

status=0
printf '%-9s %10s %8s %9s %s\n' target execs exec/s corpus result
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t" "$build/artifacts/$t" "$seeds/$t"
  log=$build/artifacts/$t.log
  regress=$root/tests/fuzz/regress/$t
  dict=()
  case $t in
    import|suite) dict=(-dict="$root/tests/fuzz/dict/$t.dict") ;;
    gguf|model|lora|vocab) dict=(-dict="$root/tests/fuzz/dict/gguf.dict") ;;
  esac
  dirs=("$corpus/$t" "$seeds/$t")
  [ -d "$regress" ] && dirs+=("$regress")
  set +e
  # shellcheck disable=SC2086
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$build/fuzz/fuzz_$t" -max_total_time="$secs" -max_len="$(max_len "$t")" \
    -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -close_fd_mask=2 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" \
    "${dict[@]}" ${LF_FUZZ_ARGS:-} "${dirs[@]}" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  ncorp=$(find "$corpus/$t" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc): see $log"
    status=1
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz [a-z]+: property)' "$log" | head -3 | sed 's/^/    /' >&2 || true
  fi
  printf '%-9s %10s %8s %9s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$ncorp" "$result"
done
rm -rf "$TMPDIR"
exit $status
