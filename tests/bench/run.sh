#!/usr/bin/env bash
# Runs the runtime benchmark against a Redis and PostgreSQL in their production configuration (appendonly yes,
# fsync and synchronous_commit on), then pgbench and redis-benchmark against the same servers in the same run, so
# the figures can be compared; then the Postgres core with a million accounts.
# End to end: tests/bench/load.sh (simulated customers through the real webhook; the trivial bot's ceiling).
# Usage: tests/bench/run.sh BUILD_DIR [seconds]   (BENCH_ONLY=core: only the core; BENCH_ACCOUNTS=N: its size;
#        BENCH_ONLY=load: only the end-to-end load, LOAD_CHATS=N chats, 200 by default;
#        BENCH_ONLY=broadcast: only the broadcast, BCAST_CUSTOMERS=N at BCAST_RATE a second, 100,000 at 1,000;
#        BENCH_ONLY=topology: the end-to-end load four times: single nodes, Redis Cluster, PgBouncer, both)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build-bench} secs=${2:-5}
rport=16690 pport=15690 dir=/tmp/kabinet-bench-$rport
export KABINET_PG_SHARED_BUFFERS=${KABINET_PG_SHARED_BUFFERS:-4GB} # production-sized: a quarter of this machine's memory
"$here/tests/harness.sh" stop "$dir" >/dev/null 2>&1 || true
rm -rf "$dir"; mkdir -p "$dir"
"$here/tests/harness.sh" start "$dir" $rport $pport
trap '"$here/tests/harness.sh" stop "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
ci="hostaddr=127.0.0.1 port=$pport user=postgres dbname=postgres"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
if [ "${BENCH_ONLY:-}" = load ]; then
  exec "$here/tests/bench/load.sh" "$build" "${LOAD_CHATS:-200}" "$secs"
fi
if [ "${BENCH_ONLY:-}" = topology ]; then
  for t in single:direct cluster:direct single:bouncer cluster:bouncer; do
    r=${t%%:*} p=${t##*:}
    echo "--- end to end, Redis $r, PostgreSQL $p"
    LOAD_REDIS=$([ "$r" = cluster ] && echo cluster || true) LOAD_PG=$([ "$p" = bouncer ] && echo bouncer || true) \
      "$here/tests/bench/load.sh" "$build" "${LOAD_CHATS:-200}" "$secs" | grep -v '^trivial-bot\|^kabinetd / trivial'
  done
  exit 0
fi
if [ "${BENCH_ONLY:-}" = broadcast ]; then
  exec "$here/tests/bench/broadcast.sh" "$build" "${BCAST_CUSTOMERS:-100000}" "${BCAST_RATE:-1000}"
fi
if [ "${BENCH_ONLY:-}" != core ]; then # BENCH_ONLY=core runs only the last part
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
fi

if [ "${BENCH_ONLY:-}" != core ]; then
  echo "--- end to end: simulated customers through the webhook, then the trivial bot (tests/bench/load.sh)"
  "$here/tests/bench/load.sh" "$build" "${LOAD_CHATS:-200}" "$secs"
fi

# The Postgres core with a million accounts: billing files of that size imported by `kabinetd import` (timed), then
# balance lookups and reading submissions at 32 in flight (bench_core). BENCH_ACCOUNTS makes it smaller.
n=${BENCH_ACCOUNTS:-1000000}
echo "--- kabinet core: $n accounts imported from billing files, then the core under load"
psql -qX -h 127.0.0.1 -p $pport -U postgres -d postgres -c "CREATE DATABASE bench_core" >/dev/null
core="hostaddr=127.0.0.1 port=$pport user=postgres dbname=bench_core"
KABINET_DATABASE_URL="$core" KABINET_LOG_LEVEL=warn "$build/kabinetd" migrate
printf 'code,name,utc_offset,window_from,window_to\nstv,Ставрополь,+03:00,,\nkhk,Абакан,+07:00,,\n' >"$dir/branches.csv"
awk -v n="$n" 'BEGIN { print "number,holder_surname,address,branch,tariff,els"
  for (g = 1; g <= n; g++) printf "%d,Иванова,\"г. Абакан, ул. Ленина, д. %d, кв. %d\",%s,city-1,77МН%07d\n",
    1800000000 + g, g % 120 + 1, g % 180 + 1, (g % 2 ? "khk" : "stv"), g }' >"$dir/accounts.csv"
awk -v n="$n" 'BEGIN { print "account,serial,digits,model,ratio,zones,verify_by"
  for (g = 1; g <= n; g++) if (g % 10) printf "%d,01%08d,5,СКАТ 101Э,1,1,2030-01-01\n", 1800000000 + g, g }' >"$dir/meters.csv"
awk -v n="$n" 'BEGIN { print "account,serial,date,value,source"
  for (g = 1; g <= n; g++) if (g % 10) printf "%d,01%08d,2026-01-25,%d,network\n", 1800000000 + g, g, 500 + g % 500 }' >"$dir/readings.csv"
awk -v n="$n" 'BEGIN { print "account,month,kwh,rate,amount"
  for (g = 1; g <= n; g++) printf "%d,2026-01,150,5.87,880.50\n", 1800000000 + g }' >"$dir/charges.csv"
awk -v n="$n" 'BEGIN { print "billing_id,account,paid_at,amount"
  for (g = 1; g <= n; g++) printf "b%d,%d,2026-02-10 10:00,%d.00\n", g, 1800000000 + g, 800 + g % 100 }' >"$dir/payments.csv"
for kind in branches accounts meters readings charges payments; do
  t0=$(date +%s.%N)
  KABINET_DATABASE_URL="$core" "$build/kabinetd" import $kind "$dir/$kind.csv" | tail -1 | tr '\n' ' '
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "in %.1f s\n", b - a }'
done
meters=$(psql -qXAt -h 127.0.0.1 -p $pport -U postgres -d bench_core -c "SELECT max(id) FROM kb_meter")
psql -qX -h 127.0.0.1 -p $pport -U postgres -d bench_core -c "VACUUM ANALYZE" >/dev/null
"$build/tests/bench_core" "$core" "$n" "$meters" "$secs" 32 4 8
