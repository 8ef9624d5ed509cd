#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz: clang-14, -fsanitize=fuzzer with ASan and UBSan) and runs each for
# SECONDS (30 in CI) from its seed corpus (tests/fuzz/corpus/<target>) with its dictionary, growing a working
# corpus in build-fuzz/corpus/<target>. Prints per target: executions, CPU seconds, corpus size. A crash fails the
# run and leaves its input in build-fuzz/crashes/ (fix it, then add the input to tests/fuzz/regressions/<target>:
# the normal suite replays it). FUZZ_RECORD=1 appends each run to tests/fuzz/STATUS.
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET ...]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-30}
shift || true
all=$(sed -n 's/^set(KABINET_FUZZ_TARGETS \(.*\))$/\1/p' "$here/CMakeLists.txt")
targets=${*:-$all}
out=$here/build-fuzz
# the revision the targets are built from (a "+": with changes not committed), for the records
rev="$(git -C "$here" rev-parse --short=12 HEAD)$(git -C "$here" diff --quiet HEAD -- src channels 'tests/fuzz/*.c' && echo '' || echo '+')"
cmake -S "$here" -B "$out" -DKABINET_FUZZ=ON -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$out" -j "$(nproc)" --target $(printf 'fuzz_%s ' $targets) >/dev/null
dict_of() {
  case $1 in
    tg_update|pay_notice|http) echo "$here/tests/fuzz/json.dict" ;;
    sms_text|reading|sms_callback) echo "$here/tests/fuzz/keywords.dict" ;;
    mime) echo "$here/tests/fuzz/mime.dict" ;;
  esac
}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=suppressions=$here/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for t in $targets; do
  work=$out/corpus/$t
  mkdir -p "$work" "$out/crashes"
  dict=$(dict_of "$t")
  log=$out/fuzz_$t.log
  start=$(date +%s)
  set +e
  "$out/tests/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -max_len=65536 -rss_limit_mb=2048 \
    -artifact_prefix="$out/crashes/$t-" ${dict:+-dict="$dict"} "$work" "$here/tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cpu=$(( $(date +%s) - start ))
  size=$(find "$work" -type f | wc -l)
  if [ $rc -ne 0 ]; then
    status=1
    echo "fuzz $t: FAILED after ${cpu}s (exit $rc): $(ls -t "$out/crashes/$t-"* 2>/dev/null | head -1)"
    grep -m5 -E "ERROR|runtime error|SUMMARY" "$log" || tail -20 "$log"
  else
    echo "fuzz $t: ${execs:-0} executions in ${cpu}s, corpus $size inputs, nothing found"
  fi
  if [ -n "${FUZZ_RECORD:-}" ]; then
    # the revision whose sources were fuzzed (tests/fuzz/current.sh checks that they have not changed since)
    printf '%s\t%s\t%ss\t%s execs\t%s inputs\t%s\t%s\n' "$(date -u +%F)" "$t" "$cpu" "${execs:-0}" "$size" \
      "$([ $rc -eq 0 ] && echo 'nothing open' || echo 'CRASH: see build-fuzz/crashes')" \
      "$rev" \
      >>"$here/tests/fuzz/STATUS"
  fi
done
exit $status
