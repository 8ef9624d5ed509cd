#!/usr/bin/env bash
# Redis memory stays flat as events grow: 1,000 conversations, memory after 10,000 events and after 100,000 must be
# within 5 % (dedupe is bounded per conversation, queues drain, leases go). Its own redis-server, for a clean figure.
# `./dev bench` runs the full size (10,000 conversations, 100,000 and 1,000,000 events).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rport=$((KB_TEST_REDIS_PORT + 300)) dir=/tmp/kabinet-mem-$((KB_TEST_REDIS_PORT + 300))
rm -rf "$dir"; mkdir -p "$dir"
redis-server --port $rport --bind 127.0.0.1 --dir "$dir" --appendonly yes --save "" --hash-max-listpack-value 1024 --daemonize yes \
  --pidfile "$dir/r.pid" --logfile "$dir/r.log" >/dev/null
db=t_mem_$$
psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $db TEMPLATE kb_template" >/dev/null
trap 'redis-cli -p $rport shutdown nosave >/dev/null 2>&1; rm -rf "$dir"; psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null' EXIT
for _ in $(seq 50); do redis-cli -p $rport ping >/dev/null 2>&1 && break; sleep 0.05; done
if "$BENCH_ENGINE" "hostaddr=127.0.0.1 port=$KB_TEST_PG_PORT user=postgres dbname=$db" "redis://127.0.0.1:$rport" \
     1000 10000 100000 --check; then
  echo "1 passed, 0 failed"
else
  echo "0 passed, 1 failed"; exit 1
fi
