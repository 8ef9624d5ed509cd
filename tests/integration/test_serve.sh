#!/usr/bin/env bash
# kabinetd serve against the test Redis and PostgreSQL: /healthz, /readyz, /metrics answer; bad HTTP gets
# 413/404/405 and kabinetd lives on; SIGTERM drains and exits 0.
set -uo pipefail
port=$((KB_TEST_PG_PORT + 100))
db=t_serve_$$
psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $db TEMPLATE kb_template" >/dev/null
log=$(mktemp)
KABINET_DATABASE_URL="hostaddr=127.0.0.1 port=${KB_TEST_APP_PG_PORT:-$KB_TEST_PG_PORT} user=postgres dbname=$db" \
KABINET_REDIS_URL="redis://127.0.0.1:$KB_TEST_REDIS_PORT" KABINET_HTTP_LISTEN=127.0.0.1:$port \
KABINET_HTTP_MAX_BODY=65536 "$KABINETD" serve 2>"$log" &
pid=$!
fails=0 passed=0
t() { if eval "$2"; then passed=$((passed + 1)); echo "ok   $1"; else fails=$((fails + 1)); echo "FAIL $1"; fi; }
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
for _ in $(seq 100); do [ "$(code "http://127.0.0.1:$port/readyz")" = 200 ] && break; sleep 0.05; done
t "healthz 200" '[ "$(code http://127.0.0.1:$port/healthz)" = 200 ]'
t "readyz 200 with both stores" '[ "$(curl -s http://127.0.0.1:$port/readyz)" = "{\"ready\":true,\"redis\":\"up\",\"postgres\":\"up\"}" ]'
t "metrics in Prometheus format" 'm=$(curl -s http://127.0.0.1:$port/metrics); grep -q "^kb_db_queries_total [1-9]" <<<"$m"'
t "metrics of every module" 'm=$(curl -s http://127.0.0.1:$port/metrics); for f in kb_redis_commands_total kb_redis_latency_seconds_bucket kb_http_in_requests_total kb_http_out_requests_total kb_db_latency_seconds_bucket kb_process_resident_memory_bytes; do grep -q "^$f" <<<"$m" || exit 1; done'
t "unknown path 404" '[ "$(code http://127.0.0.1:$port/nope)" = 404 ]'
t "wrong method 405 with Allow" 'h=$(curl -si -X POST http://127.0.0.1:$port/healthz); grep -qi "^allow: GET" <<<"$h"'
t "oversized body 413" '[ "$(head -c 100000 /dev/zero | code -X POST --data-binary @- http://127.0.0.1:$port/readyz)" = 413 ]'
t "garbage request does not kill it" 'printf "GARBAGE\r\n\r\n" | timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; cat <&3" >/dev/null 2>&1; kill -0 $pid'
t "still alive and serving" '[ "$(code http://127.0.0.1:$port/healthz)" = 200 ]'
t "no secret or raw URL password in the log" '! grep -q "password=" "$log"'
kill -TERM $pid
rc=0; wait $pid || rc=$?
t "SIGTERM drains and exits 0" '[ $rc = 0 ] && grep -q "drained; exiting" "$log"'
psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
[ $fails -eq 0 ] || cat "$log"
rm -f "$log"
echo "$passed passed, $fails failed"
[ $fails -eq 0 ]
