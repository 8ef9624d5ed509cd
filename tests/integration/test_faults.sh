#!/usr/bin/env bash
# Stopping Redis, then PostgreSQL, under a running kabinetd: /readyz turns 503 within 2 s, nothing crashes, and
# after the store is back /readyz is 200 again within 5 s without a restart. Uses stores of its own (other ports),
# so the rest of the suite is not disturbed.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rport=$((KB_TEST_REDIS_PORT + 200)) pport=$((KB_TEST_PG_PORT + 200)) hport=$((KB_TEST_PG_PORT + 201))
dir=/tmp/kabinet-faults-$rport
rm -rf "$dir"; mkdir -p "$dir"
"$here/harness.sh" start "$dir" $rport $pport fast
trap '"$here/harness.sh" stop "$dir" >/dev/null 2>&1; rm -rf "$dir"; kill $pid 2>/dev/null' EXIT
export KABINET_DATABASE_URL="hostaddr=127.0.0.1 port=$pport user=postgres dbname=postgres"
export KABINET_REDIS_URL="redis://127.0.0.1:$rport" KABINET_HTTP_LISTEN=127.0.0.1:$hport
"$KABINETD" migrate 2>/dev/null
"$KABINETD" serve 2>"$dir/serve.log" &
pid=$!
code() { curl -s -o /dev/null -m 3 -w '%{http_code}' "http://127.0.0.1:$hport/readyz"; }
# ms until /readyz answers $1, polling every 50 ms, giving up after $2 ms (prints the time, or "never")
until_code() {
  local want=$1 limit=$2 start now; start=$(date +%s%3N)
  while :; do
    now=$(date +%s%3N)
    [ "$(code)" = "$want" ] && { echo $((now - start)); return 0; }
    [ $((now - start)) -gt "$limit" ] && { echo never; return 1; }
    sleep 0.05
  done
}
fails=0 passed=0
t() { if [ "$2" != never ] && [ "$2" -le "$3" ]; then passed=$((passed + 1)); echo "ok   $1 (${2} ms)"; else fails=$((fails + 1)); echo "FAIL $1 ($2 ms, limit $3)"; fi; }
t "ready at start" "$(until_code 200 5000)" 5000
"$here/harness.sh" stop-redis "$dir"
t "redis stopped: 503 within 2 s" "$(until_code 503 4000)" 2000
sleep 1
"$here/harness.sh" start-redis "$dir"
t "redis back: 200 within 5 s" "$(until_code 200 8000)" 5000
"$here/harness.sh" stop-pg-now "$dir"   # immediate: connections end with a FATAL that libpq hands to us
t "postgres stopped: 503 within 2 s" "$(until_code 503 4000)" 2000
sleep 1
"$here/harness.sh" start-pg "$dir"
t "postgres back: 200 within 5 s" "$(until_code 200 8000)" 5000
if kill -0 $pid; then passed=$((passed + 1)); echo "ok   kabinetd still running (same pid)"; else fails=$((fails + 1)); echo "FAIL kabinetd died"; fi
kill -TERM $pid; wait $pid; rc=$?
if [ $rc = 0 ]; then passed=$((passed + 1)); echo "ok   clean exit"; else fails=$((fails + 1)); echo "FAIL exit $rc"; fi
# what Postgres said as it went (a notice, the FATAL of the shutdown) is in the JSON log like everything else
raw=$(python3 -c 'import json, sys
bad = 0
for line in open(sys.argv[1], errors="replace"):
    try:
        json.loads(line)
    except ValueError:
        bad += 1; print("not JSON: %r" % line[:200], file=sys.stderr)
print(bad)' "$dir/serve.log")
if [ "$raw" = 0 ]; then passed=$((passed + 1)); echo "ok   every line kabinetd wrote is JSON (Postgres's notices too)"; else
  fails=$((fails + 1)); echo "FAIL $raw lines of kabinetd's log are not JSON"; fi
[ $fails -eq 0 ] || tail -30 "$dir/serve.log"
echo "$passed passed, $fails failed"
[ $fails -eq 0 ]
