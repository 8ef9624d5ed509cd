#!/usr/bin/env bash
# Runs the runtime benchmark against a Redis and PostgreSQL in their production configuration (appendonly yes,
# fsync and synchronous_commit on), then pgbench and redis-benchmark against the same servers in the same run, so
# the figures can be compared. Usage: tests/bench/run.sh BUILD_DIR [seconds]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build-bench} secs=${2:-5}
rport=16690 pport=15690 dir=/tmp/kabinet-bench-$rport
"$here/tests/harness.sh" stop "$dir" >/dev/null 2>&1 || true
rm -rf "$dir"; mkdir -p "$dir"
"$here/tests/harness.sh" start "$dir" $rport $pport
trap '"$here/tests/harness.sh" stop "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
ci="hostaddr=127.0.0.1 port=$pport user=postgres dbname=postgres"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "--- kabinet runtime"
"$build/tests/bench_runtime" "$ci" "redis://127.0.0.1:$rport" "$secs"
echo "--- reference: pgbench, the same query, prepared, 8 connections (2 threads)"
printf 'SELECT 42::int + 1;\n' >"$dir/q.sql"
pgbench -h 127.0.0.1 -p $pport -U postgres -n -M prepared -c 8 -j 2 -T "$secs" -f "$dir/q.sql" postgres 2>/dev/null | grep -E '^tps'
echo "--- reference: pgbench, the same query, prepared, 8 connections, pipelined (\\startpipeline, 32 per sync)"
{ echo '\startpipeline'; for _ in $(seq 32); do echo 'SELECT 42::int + 1;'; done; echo '\endpipeline'; } >"$dir/p.sql"
pgbench -h 127.0.0.1 -p $pport -U postgres -n -M prepared -c 8 -j 2 -T "$secs" -f "$dir/p.sql" postgres 2>/dev/null \
  | awk '/^tps/ { printf "tps = %.0f queries/s (%.0f pipelines of 32)\n", $3 * 32, $3 }'
echo "--- reference: redis-benchmark INCR, 50 clients, then pipelined 16"
redis-benchmark -p $rport -t incr -n 400000 -q 2>/dev/null | tr '\r' '\n' | grep -E 'INCR.*requests per second' | tail -1
redis-benchmark -p $rport -t incr -n 2000000 -P 16 -q 2>/dev/null | tr '\r' '\n' | grep -E 'INCR.*requests per second' | tail -1
echo "--- kabinet engine: 10,000 conversations, Redis memory after 100,000 and 1,000,000 events (own Redis, appendonly)"
psql -qX -h 127.0.0.1 -p $pport -U postgres -d postgres -c "CREATE DATABASE bench_engine" >/dev/null
KABINET_DATABASE_URL="hostaddr=127.0.0.1 port=$pport user=postgres dbname=bench_engine" \
KABINET_REDIS_URL="redis://127.0.0.1:$rport" KABINET_LOG_LEVEL=warn "$build/kabinetd" migrate
redis-cli -p $rport flushall >/dev/null
"$build/tests/bench_engine" "hostaddr=127.0.0.1 port=$pport user=postgres dbname=bench_engine" "redis://127.0.0.1:$rport" \
  10000 ${BENCH_ENGINE_E1:-100000} ${BENCH_ENGINE_E2:-1000000}
