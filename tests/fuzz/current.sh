#!/usr/bin/env bash
# Whether tests/fuzz/STATUS is current: for each fuzz target, its latest recorded long run must have fuzzed the
# sources it covers as they are now (the revision in the run's last column; older lines without one stand for the
# last commit of their day). A target whose parser changed since is named: run it for 10 minutes and record it
# (FUZZ_RECORD=1 tests/fuzz/run.sh 600 <target>). Exit 1 when any is stale.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
sources() { # what each target fuzzes: its harness and the parsers it reaches
  case $1 in
    tg_update) echo channels/telegram/tg_update.c channels/telegram/tg_update.h src/engine/event.c ;;
    sms_text) echo channels/sms/sms_text.c channels/sms/sms_text.h ;;
    reading) echo src/core/meter.c src/core/meter.h ;;
    mime) echo channels/mail/mime.c channels/mail/mime.h ;;
    pay_notice) echo src/payments/pay_yookassa.c src/payments/pay_sber.c src/payments/payprov.c \
                     src/payments/payprov_int.h src/runtime/form.c ;;
    sms_callback) echo channels/sms/sms_smsc.c channels/sms/sms_smsru.c src/runtime/form.c ;;
    config) echo src/runtime/config.c src/runtime/config.h ;;
    http) echo src/runtime/form.c src/runtime/http_client.c src/engine/event.c ;;
    csv) echo src/runtime/csv.c src/runtime/csv.h ;;
  esac
}
if ! git rev-parse --verify -q HEAD >/dev/null; then
  echo "fuzz status: not a git checkout, nothing to compare"; exit 0
fi
stale=0
for t in $(sed -n 's/^set(KABINET_FUZZ_TARGETS \(.*\))$/\1/p' CMakeLists.txt); do
  line=$(awk -F'\t' -v t="$t" '$2 == t' tests/fuzz/STATUS | tail -1)
  if [ -z "$line" ]; then
    echo "FAIL fuzz target $t has no recorded run"; stale=1; continue
  fi
  day=$(cut -f1 <<<"$line") rev=$(cut -f7 <<<"$line")
  rev=${rev%+}
  [ -n "$rev" ] || rev=$(git log -1 --format=%H --before="$day 23:59:59 +0000" 2>/dev/null)
  if [ -z "$rev" ] || ! git cat-file -e "$rev^{commit}" 2>/dev/null; then
    echo "skip fuzz target $t: its revision ${rev:-?} is not in this clone"; continue
  fi
  # shellcheck disable=SC2046
  # a file only moved (renamed with its content unchanged) is no change
  changed=$(git diff -M100% --name-status "$rev" HEAD | awk -v want=" $(echo tests/fuzz/fuzz_$t.c $(sources "$t")) " \
    '$1 != "R100" && index(want, " " $NF " ") { print $NF }')
  if [ -n "$changed" ]; then
    echo "FAIL fuzz target $t: its last long run ($day, $rev) predates changes to $(tr '\n' ' ' <<<"$changed")"
    stale=1
  else
    echo "ok   fuzz target $t: $day at $rev covers its sources as they are"
  fi
done
exit $stale
