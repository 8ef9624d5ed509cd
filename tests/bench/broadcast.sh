#!/usr/bin/env bash
# The broadcast benchmark: N demo customers in Telegram (100,000 by default), one kabinetd with its scheduler on, a
# broadcast to all of them at RATE messages a second (KABINET_TELEGRAM_BROADCAST_RATE; BCAST_PAID=1: a paid broadcast
# at KABINET_TELEGRAM_PAID_RATE instead) into tests/bench/bcast_sink (a Bot API that counts per second and per chat),
# on Redis and PostgreSQL in their production configuration. Prints the sink's figures (chats reached, twice, the
# busiest second, the mean rate), kabinetd's CPU per message, and the scheduler's cost in Postgres (kb_sched_step:
# planning and dispatching) beside everything else Postgres did for the broadcast (pg_stat_statements).
# Usage: tests/bench/broadcast.sh BUILD_DIR [N] [RATE]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build-bench} n=${2:-100000} rate=${3:-1000}
rport=${BCAST_REDIS_PORT:-16890} pport=${BCAST_PG_PORT:-15890} hport=${BCAST_HTTP_PORT:-18890} aport=${BCAST_API_PORT:-18891}
dir=/tmp/kabinet-bcast-$rport
"$here/tests/harness.sh" stop "$dir" >/dev/null 2>&1 || true
rm -rf "$dir"; mkdir -p "$dir"
KABINET_PG_STATS=1 "$here/tests/harness.sh" start "$dir" "$rport" "$pport" ${BCAST_FAST:+fast}
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; "$here/tests/harness.sh" stop "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
pg() { psql -qXtA -h 127.0.0.1 -p "$pport" -U postgres -d postgres -c "$1"; }
export KABINET_DATABASE_URL="hostaddr=127.0.0.1 port=$pport user=postgres dbname=postgres" \
       KABINET_REDIS_URL="redis://127.0.0.1:$rport" KABINET_LOG_LEVEL=warn
"$build/kabinetd" migrate
pg "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
"$build/kabinetd" demo-data --accounts "$n" --customers "$n" --months 2 >/dev/null
# midday on both branches' clocks; only the broadcast runs (the planners of reminders are paused)
pg "INSERT INTO kb_setting (key, value) VALUES ('test.clock', '\"2030-01-15T07:00:00Z\"')" >/dev/null
for j in plan.reading plan.verify plan.debt plan.bill plan.credited; do "$build/kabinetd" notify pause "$j" >/dev/null; done
tgn=$((n > 20 ? n - 20 : 0))
echo "machine: $(nproc) cores; $n customers, $tgn of them in Telegram; stores: Redis appendonly, Postgres $(
  [ -n "${BCAST_FAST:-}" ] && echo 'fsync off' || echo 'fsync and synchronous_commit on')"
"$build/tests/bcast_sink" "$aport" 5000000021 "$tgn" "${BCAST_TIMEOUT_S:-3600}" >"$dir/sink.out" &
spid=$!
pids+=("$spid")
if [ -n "${BCAST_PAID:-}" ]; then
  mode="paid broadcast at KABINET_TELEGRAM_PAID_RATE=$rate"
  export KABINET_TELEGRAM_PAID_BROADCAST=on KABINET_TELEGRAM_PAID_RATE=$rate
else
  mode="broadcast at KABINET_TELEGRAM_BROADCAST_RATE=$rate"
  export KABINET_TELEGRAM_BROADCAST_RATE=$rate
fi
KABINET_NOTIFY=on KABINET_FAKE_CLOCK=on KABINET_HTTP_LISTEN=127.0.0.1:$hport KABINET_TELEGRAM_TOKEN=123456:BCAST-token \
KABINET_TELEGRAM_MODE=webhook KABINET_TELEGRAM_API_URL=http://127.0.0.1:$aport \
KABINET_TELEGRAM_WEBHOOK_URL=http://127.0.0.1:$hport/telegram/webhook KABINET_TELEGRAM_SECRET=bcast-secret \
  "$build/kabinetd" serve 2>"$dir/kabinetd.log" &
kpid=$!
pids+=("$kpid")
for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$hport/readyz" && break; sleep 0.05; done
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)
c0=$(cpu "$kpid")
pg "SELECT pg_stat_statements_reset()" >/dev/null
t0=$(date +%s.%N)
"$build/kabinetd" notify broadcast --name bench --text "Плановое отключение 20 января с 10 до 12 — бенчмарк." \
  ${BCAST_PAID:+--paid} >/dev/null
wait "$spid" || true
t1=$(date +%s.%N)
c1=$(cpu "$kpid")
echo "$mode"
cat "$dir/sink.out"
msgs=$(sed -n 's/^sink: \([0-9]*\) messages,.*/\1/p' "$dir/sink.out")
awk -v c="$((c1 - c0))" -v t="$tick" -v m="$msgs" -v s="$(echo "$t1 - $t0" | bc)" 'BEGIN {
  printf "broadcast: %.1f s from the command to the last chat; kabinetd CPU %.0f us per message (%.0f%% of one core)\n",
    s, m ? c / t * 1e6 / m : 0, c / t / s * 100 }'
pg "SELECT 'postgres: the scheduler (kb_sched_step, planning and dispatching) ' || round(sum(total_exec_time)
      FILTER (WHERE query LIKE '%kb_sched_step%'))::text || ' ms in ' || sum(calls) FILTER (WHERE query LIKE
      '%kb_sched_step%') || ' steps = ' || round((sum(total_exec_time) FILTER (WHERE query LIKE '%kb_sched_step%'))
      * 1000 / greatest($msgs, 1))::text || ' us per message; everything Postgres did meanwhile ' ||
      round(sum(total_exec_time))::text || ' ms = ' || round(sum(total_exec_time) * 1000 / greatest($msgs, 1))::text
      || ' us per message' FROM pg_stat_statements"
pg "SELECT 'postgres top: ' || round(total_exec_time)::text || ' ms, ' || calls || ' calls: ' ||
      left(regexp_replace(query, '\s+', ' ', 'g'), 90) FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 5"
pg "SELECT 'notices: ' || count(*) FILTER (WHERE state = 'queued') || ' queued, ' || count(*) FILTER (WHERE state
      = 'skipped') || ' skipped, ' || count(*) FILTER (WHERE state IN ('pending', 'held')) || ' waiting' FROM kb_notice"
kill -TERM "$kpid"; wait "$kpid" || true
