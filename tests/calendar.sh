#!/usr/bin/env bash
# The calendar check: the tests whose outcome depends on the date (notifications, bills, readings windows,
# verification warnings, money and the ledger, business documents, the scripted conversations) run again at fixed
# instants — the 1st, the 10th, the 28th to the 31st, the last day of February in a common and a leap year, and the
# 31st of December late in the evening in the easternmost (Абакан, UTC+7) and the westernmost (Ставрополь, UTC+3)
# branch. Each instant is a clock the run sets: libfaketime (Debian's libfaketime) is preloaded into every process of
# the run with one offset from the real time, so PostgreSQL's now(), Redis, kabinetd, the fakes and the tests all
# read the same shifted calendar and time still runs. The plain build only (the sanitizers' runtime must load first).
#   tests/calendar.sh BUILD_DIR [INSTANT ...]    INSTANT as `date -d` reads it, UTC; default: the list below
set -euo pipefail
build=$(cd "${1:?usage: tests/calendar.sh BUILD_DIR [INSTANT ...]}" && pwd)
shift
lib=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1 || true)
if [ -z "$lib" ]; then
  echo "calendar: libfaketime is not installed (deploy/install-deps.sh installs it)" >&2
  exit 1
fi
instants=("$@")
[ ${#instants[@]} -gt 0 ] || instants=(
  "2027-03-01 09:00 UTC"   # the 1st: the new month's bills, debts of the month before
  "2027-03-10 09:00 UTC"   # the 10th: the day the demo's payments come
  "2027-02-28 12:00 UTC"   # the 28th, the last day of a common February
  "2028-02-29 12:00 UTC"   # the 29th, the last day of a leap February
  "2027-04-30 12:00 UTC"   # the 30th, the last day of a short month
  "2027-03-31 12:00 UTC"   # the 31st
  "2026-12-31 16:40 UTC"   # 23:40 on the 31st of December in Абакан (UTC+7), the easternmost branch
  "2026-12-31 20:40 UTC"   # 23:40 on the 31st of December in Ставрополь (UTC+3), the westernmost; Абакан's 1st
)
# Redis keeps the real clock: libfaketime clashes with its jemalloc (a recursion at start), and kabinet never compares
# Redis's clock with its own (rate limits read only Redis's TIME, leases and queues are relative)
shims=$(mktemp -d)
trap 'rm -rf "$shims"' EXIT
for b in redis-server redis-cli; do
  printf '#!/bin/sh\nexec env -u LD_PRELOAD %s "$@"\n' "$(command -v $b)" >"$shims/$b"
  chmod +x "$shims/$b"
done
tests='^(fixture_.*|integration_(readings|money|billing)|script_(bill|transcripts|notify|portal))$'
status=0
for at in "${instants[@]}"; do
  off=$(( $(date -u -d "$at" +%s) - $(date -u +%s) ))
  echo "== calendar: the tests at $at (clock $(printf '%+d' $off) s)" >&2
  # the notifications' broadcast phases do not depend on the date; the rest of every test does
  if ! (cd "$build" && env PATH="$shims:$PATH" LD_PRELOAD="$lib" FAKETIME="$(printf '%+d' $off)" \
        KB_TEST_PHASES_NOTIFY=rules,two ctest -j 2 -R "$tests" --output-on-failure --timeout 300 >"$build/calendar.log" 2>&1); then
    grep -a -E '^(FAIL|[0-9]+% tests)|Failed|\*\*\*' "$build/calendar.log" >&2 || true
    echo "calendar: FAILED at $at (whole output: $build/calendar.log)" >&2
    cp "$build/calendar.log" "$build/calendar-failed-$(date -u -d "$at" +%Y%m%dT%H%M).log"
    status=1
  fi
done
exit $status
