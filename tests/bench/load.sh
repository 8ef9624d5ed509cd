#!/usr/bin/env bash
# End-to-end load: CHATS signed-in customers, each a closed loop of journeys (balance, a history page, a reading, a
# payment link, the menu; LOAD_JOURNEY=balance: only "menu, balance"), through kabinetd's real
# Telegram webhook (tests/bench/loadgen: the customers and the Bot API, time-stamping every reply), on Redis and
# PostgreSQL in their production configuration (appendonly, fsync and synchronous_commit on); then the same load
# against tests/bench/trivial_bot (h2o in, libcurl out, no state): the machine's ceiling, and kabinetd's ratio to it.
# Prints one line per figure: updates/s, latency p50/p95/p99, CPU µs per update and RSS of the bot, Redis commands
# and Postgres transactions per update, Redis bytes per conversation, outbox lag.
# LOAD_FLOOD=N instead: the customers pause 1 s between journeys and a conversation's limits are on; the same run
# twice, the second with one more chat writing N updates a minute: the others' p99 with and without it.
# LOAD_SWEEP=N then visits N new chats once each ("/start", 200 at a time) and prints Redis bytes per idle
# conversation and kabinetd's RSS after them.
# LOAD_REDIS=cluster: Redis is a three-master cluster with a replica each (tests/redis_topo.sh; intakes WAIT for
# the replica); LOAD_PG=bouncer: kabinetd reaches PostgreSQL through PgBouncer in transaction mode (prepared
# statements off). Both print the same figures, for comparing with the single-node run.
# Usage: tests/bench/load.sh BUILD_DIR [CHATS] [SECONDS]   (LOAD_FAST=1: fsync off, for a small run in CI)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build-bench} chats=${2:-200} secs=${3:-10}
rport=${LOAD_REDIS_PORT:-16790} pport=${LOAD_PG_PORT:-15790} hport=${LOAD_HTTP_PORT:-18790} aport=${LOAD_API_PORT:-18791}
dir=/tmp/kabinet-load-$rport
first=7100000000 secret=load-secret
"$here/tests/harness.sh" stop "$dir" >/dev/null 2>&1 || true
rm -rf "$dir"; mkdir -p "$dir"
"$here/tests/harness.sh" start "$dir" "$rport" "$pport" ${LOAD_FAST:+fast}
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; "$here/tests/redis_topo.sh" stop "$dir/cluster" 2>/dev/null; "$here/tests/harness.sh" stop "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
db="hostaddr=127.0.0.1 port=$pport user=postgres dbname=postgres"
redis_url="redis://127.0.0.1:$rport" masters=$rport rcli="redis-cli -p $rport"
if [ "${LOAD_REDIS:-}" = cluster ]; then
  c=$((rport + 20))
  "$here/tests/redis_topo.sh" cluster-start "$dir/cluster" "$c"
  redis_url="redis-cluster://127.0.0.1:$c,127.0.0.1:$((c + 1))" masters="$c $((c + 1)) $((c + 2))" rcli="redis-cli -c -p $c"
fi
if [ "${LOAD_PG:-}" = bouncer ]; then
  "$here/tests/harness.sh" start-bouncer "$dir" $((pport + 7)) "$pport"
  db="hostaddr=127.0.0.1 port=$((pport + 7)) user=postgres dbname=postgres"
  export KABINET_DATABASE_PREPARED=off
fi
echo "stores: Redis ${LOAD_REDIS:-single node}, PostgreSQL $([ -n "${LOAD_PG:-}" ] && echo 'through PgBouncer (transaction mode, prepared statements off)' || echo direct)"
pg() { psql -qXtA -h 127.0.0.1 -p "$pport" -U postgres -d postgres -c "$1"; }
# the scheduler off: the demo data's debts and reminders would push by SMS on the real clock during the measure
export KABINET_DATABASE_URL="$db" KABINET_REDIS_URL="$redis_url" KABINET_LOG_LEVEL=warn KABINET_NOTIFY=off
"$build/kabinetd" migrate
if [ -n "${KABINET_PG_STATS:-}" ]; then # and the database functions' own time
  pg "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  pg "ALTER SYSTEM SET track_functions = 'all'" >/dev/null; pg "SELECT pg_reload_conf()" >/dev/null
fi
# a figure summed over the masters (one for a single node)
stat() { for m in $masters; do redis-cli -p "$m" info "$1" | tr -d '\r' | awk -F: -v k="$2" '$1 == k { print $2 }'; done | awk '{ s += $1 } END { print s }'; }
empty=$(stat memory used_memory)
"$build/kabinetd" demo-data --accounts "$chats" --months 6 >/dev/null
# the customers: signed in (their conversation state says who they are), each with one account
pg "WITH ins AS (INSERT INTO kb_customer (phone) SELECT '+7999' || lpad(g::text, 7, '0') FROM generate_series(1, $chats) g
    RETURNING id),
    c AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM ins),
    a AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM kb_account),
    i AS (INSERT INTO kb_identity (customer_id, channel, external_id, verified_at)
          SELECT c.id, 'tg', ($first + c.n - 1)::text, now() FROM c)
    INSERT INTO kb_account_link (customer_id, account_id, is_primary, status, proof)
    SELECT c.id, a.id, true, 'active', 'import' FROM c JOIN a ON a.n = c.n" >/dev/null
now=$(date +%s%3N)
pg "SELECT customer_id, external_id FROM kb_identity WHERE channel = 'tg' AND external_id::bigint >= $first" |
  awk -F'|' -v now="$now" '{ printf "HSET kb:{tg:%s}:state dialog customer step \"\" keep \"{\\\"customer_id\\\":%s,\\\"lang\\\":\\\"ru\\\"}\" data \"{}\" version 1 last \"\" updated %s until 0\n", $2, $1, now }' |
  $rcli >/dev/null
echo "machine: $(nproc) cores; $chats chats, $secs s measured after 1 s of warm-up; stores: Redis appendonly, Postgres $(
  [ -n "${LOAD_FAST:-}" ] && echo 'fsync off (CI size)' || echo 'fsync and synchronous_commit on')"
if [ -n "${LOAD_FLOOD:-}" ]; then
  echo "limits: Telegram's per-chat pace off; a conversation's own limits ON (defaults: 60 a minute, 2000 a day); customers pause 1 s between journeys, as people do; dedupe, ordering, compare-and-set on"
else
  echo "limits: Telegram's per-chat pace off (KABINET_TELEGRAM_CHAT_LIMIT=off: the generator's Bot API has no limits); a conversation's own limits off (KABINET_LIMIT_PER_MINUTE=0, KABINET_LIMIT_PER_DAY=0: each simulated customer writes far faster than a person); dedupe, ordering, compare-and-set on"
  export KABINET_LIMIT_PER_MINUTE=0 KABINET_LIMIT_PER_DAY=0
fi

# ---------------------------------------------------------------- kabinetd
KABINET_HTTP_LISTEN=127.0.0.1:$hport KABINET_TELEGRAM_TOKEN=123456:LOAD-token KABINET_TELEGRAM_MODE=webhook \
KABINET_TELEGRAM_API_URL=http://127.0.0.1:$aport KABINET_TELEGRAM_WEBHOOK_URL=http://127.0.0.1:$hport/telegram/webhook \
KABINET_TELEGRAM_SECRET=$secret KABINET_TELEGRAM_CHAT_LIMIT=off "$build/kabinetd" serve 2>"$dir/kabinetd.log" &
kpid=$!
pids+=("$kpid")
for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$hport/readyz" && break; sleep 0.05; done
cmds0=$(stat stats total_commands_processed) mem0=$(stat memory used_memory)
xact0=$(pg "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'postgres'")
t0=$(pg "SELECT now()")
[ -n "${KABINET_PG_STATS:-}" ] && pg "SELECT pg_stat_statements_reset(), pg_stat_reset()" >/dev/null
if [ -n "${LOAD_FLOOD:-}" ]; then # one chat floods while the others go on: their p99 with and without it
  lg() { "$build/tests/loadgen" "http://127.0.0.1:$hport/telegram/webhook" "$secret" "$aport" "$chats" "$secs" \
           --first-uid "$first" --pid "$kpid" --think 1000 "$@"; }
  base=$(lg --label without-flood); echo "$base"
  flood=$(lg --label with-flood --flood "$LOAD_FLOOD"); echo "$flood"
  p99() { sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' <<<"$1" | head -1; }
  awk -v a="$(p99 "$base")" -v b="$(p99 "$flood")" 'BEGIN { if (a > 0) printf "flood: the other chats'"'"' p99 %.2f ms without, %.2f ms with the flooding chat (%+.0f%%)\n", a, b, (b - a) / a * 100 }'
  echo "flood: the engine counted $(curl -s "http://127.0.0.1:$hport/metrics" | awk '$1 == "kb_engine_throttled_total" { print $2 }') updates over the limits"
  kill -TERM "$kpid"; wait "$kpid" || true
  exit 0
fi
out=$("$build/tests/loadgen" "http://127.0.0.1:$hport/telegram/webhook" "$secret" "$aport" "$chats" "$secs" \
      --first-uid "$first" --pid "$kpid" --label kabinetd --journey "${LOAD_JOURNEY:-all}")
echo "$out"
n=$(sed -n 's/.* \([0-9]*\) updates answered.*/\1/p' <<<"$out" | head -1)
cmds1=$(stat stats total_commands_processed) mem1=$(stat memory used_memory)
xact1=$(pg "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'postgres'")
# the figures of the whole run (warm-up included) per answered update of the measured window: an upper bound
total=$(pg "SELECT count(*) FROM kb_applied WHERE applied_at >= '$t0'")
awk -v c=$((cmds1 - cmds0)) -v x=$((xact1 - xact0)) -v n="${total:-0}" 'BEGIN { if (n > 0)
  printf "kabinetd: per update: %.1f Redis commands, %.2f Postgres transactions (over %d updates)\n", c / n, x / n, n }'
convs=$(for m in $masters; do redis-cli -p "$m" --scan --pattern 'kb:{tg:*}:state'; done | wc -l)
echo "kabinetd: Redis $(( (mem1 - empty) / (convs > 0 ? convs : 1) )) bytes per conversation (used_memory over the empty instance, $convs conversations, dedupe included)"
pg "SELECT 'kabinetd: outbox lag (row written -> sent) p50 ' || round((percentile_cont(0.5) WITHIN GROUP (ORDER BY s) * 1000)::numeric, 2)
    || ' ms, p99 ' || round((percentile_cont(0.99) WITHIN GROUP (ORDER BY s) * 1000)::numeric, 2) || ' ms'
    FROM (SELECT extract(epoch FROM sent_at - created_at) AS s FROM kb_outbox WHERE channel = 'tg' AND created_at >= '$t0'
          AND sent_at IS NOT NULL) l"
if [ "${LOAD_SWEEP:-0}" -gt 0 ]; then
  m0=$(stat memory used_memory) k0=$(redis-cli -p "$rport" dbsize)
  "$build/tests/loadgen" "http://127.0.0.1:$hport/telegram/webhook" "$secret" "$aport" 200 3600 \
    --first-uid $((first + 10000000)) --pid "$kpid" --label kabinetd-sweep --sweep "$LOAD_SWEEP"
  m1=$(stat memory used_memory) k1=$(redis-cli -p "$rport" dbsize)
  echo "kabinetd: Redis $(( (m1 - m0) / LOAD_SWEEP )) bytes and $(awk -v a=$((k1 - k0)) -v n="$LOAD_SWEEP" 'BEGIN { printf "%.1f", a / n }') keys per idle conversation after $LOAD_SWEEP new conversations (used_memory $((m0 / 1048576)) -> $((m1 / 1048576)) MB)"
fi
if [ -n "${KABINET_PG_STATS:-}" ]; then # the profile: Postgres's time by statement over the whole run
  echo "kabinetd: Postgres time by statement (pg_stat_statements, whole run), top 8:"
  pg "SELECT '  ' || round(100 * total_exec_time / sum(total_exec_time) OVER ())::text || '% ' || calls || ' calls, '
      || round((total_exec_time / calls)::numeric, 3) || ' ms: ' || left(regexp_replace(query, '\s+', ' ', 'g'), 110)
      FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'postgres')
      ORDER BY total_exec_time DESC LIMIT ${LOAD_PG_TOP:-8}"
  echo "kabinetd: database functions by their own time (pg_stat_user_functions), top 8:"
  pg "SELECT '  ' || funcname || ': ' || calls || ' calls, ' || round((self_time / calls)::numeric, 3) || ' ms each (with what it calls '
      || round((total_time / calls)::numeric, 3) || ')' FROM pg_stat_user_functions WHERE calls > 0 ORDER BY self_time DESC LIMIT ${LOAD_PG_TOP:-8}"
fi
kill -TERM "$kpid"; wait "$kpid" || true
kab=$(sed -n 's/.*, \([0-9]*\) updates\/s$/\1/p' <<<"$out" | head -1)

# ---------------------------------------------------------------- the echo class, side by side (LOAD_ECHO=0: off)
# The same generator drives kabinetd's demo dialog, a Telegraf bot with its Redis session (tests/bench/peer,
# installed from the npm registry here, when node and npm are on the machine) and the trivial bot, through the
# same three steps: a /start menu, a text answered (the session read and written), a button that answers its
# callback and edits the message. New chats (uids apart from the customers'), production store settings.
listening() { # PORT: wait (up to 5 s) until something answers HTTP there
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; return 1; }
sent_cmds() { curl -s "http://127.0.0.1:$hport/metrics" | awk '$1 == "kb_redis_commands_total" { s += $2 } END { printf "%d", s }'; }
rate_of() { sed -n 's/.*, \([0-9]*\) updates\/s$/\1/p' <<<"$1" | head -1; }
if [ "${LOAD_ECHO:-1}" != 0 ]; then
  efirst=$((first + 1000000))
  echo_run() { # LABEL PORT PID CHATS UID: one measured echo run through the generator
    "$build/tests/loadgen" "http://127.0.0.1:$2/telegram/webhook" "$secret" "$aport" "$4" "$secs" \
      --first-uid "$5" --pid "$3" --label "$1" --journey echo
  }
  KABINET_START_DIALOG=demo KABINET_HTTP_LISTEN=127.0.0.1:$hport KABINET_TELEGRAM_TOKEN=123456:LOAD-token \
  KABINET_TELEGRAM_MODE=webhook KABINET_TELEGRAM_API_URL=http://127.0.0.1:$aport \
  KABINET_TELEGRAM_WEBHOOK_URL=http://127.0.0.1:$hport/telegram/webhook KABINET_TELEGRAM_SECRET=$secret \
  KABINET_TELEGRAM_CHAT_LIMIT=off "$build/kabinetd" serve 2>"$dir/kabinetd-echo.log" &
  kpid=$!
  pids+=("$kpid")
  for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$hport/readyz" && break; sleep 0.05; done
  cmds0=$(stat stats total_commands_processed) sent0=$(sent_cmds)
  xact0=$(pg "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'postgres'")
  eout=$(echo_run kabinetd-echo "$hport" "$kpid" "$chats" "$efirst"); echo "$eout"
  cmds1=$(stat stats total_commands_processed) sent1=$(sent_cmds)
  xact1=$(pg "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'postgres'")
  # every update the run answered, warm-up included (the generator's count of steps started is the bound)
  en=$(sed -n 's/.* \([0-9]*\) updates sent in all.*/\1/p' <<<"$eout" | head -1)
  awk -v s=$((sent1 - sent0)) -v c=$((cmds1 - cmds0)) -v x=$((xact1 - xact0)) -v n="${en:-0}" 'BEGIN { if (n > 0)
    printf "kabinetd-echo: per update: %.2f Redis commands sent (%.1f executed, the scripts\047 own calls included), %.3f Postgres transactions (over %d updates, idle ticks included)\n", s / n, c / n, x / n, n }'
  e50=$(echo_run kabinetd-echo-50 "$hport" "$kpid" 50 $((efirst + 500000))); echo "$e50" | grep -E 'latency|updates/s'
  kill -TERM "$kpid"; wait "$kpid" || true
  kecho=$(rate_of "$eout")
  peer=""
  if command -v node >/dev/null && command -v npm >/dev/null; then
    pdir=${LOAD_PEER_DIR:-/tmp/kabinet-bench-peer}
    mkdir -p "$pdir"; cp "$here/tests/bench/peer/package.json" "$here/tests/bench/peer/bot.mjs" "$pdir/"
    if [ -d "$pdir/node_modules/telegraf" ] || (cd "$pdir" && npm install --no-audit --no-fund --loglevel=error >/dev/null 2>&1); then
      node "$pdir/bot.mjs" $((hport + 4)) "http://127.0.0.1:$aport" "$redis_url" "$secret" 2>"$dir/peer.log" &
      ppid=$!
      pids+=("$ppid")
      sleep 1.5
      pout=$(echo_run telegraf-redis $((hport + 4)) "$ppid" "$chats" $((efirst + 2000000))); echo "$pout"
      p50=$(echo_run telegraf-redis-50 $((hport + 4)) "$ppid" 50 $((efirst + 2500000))); echo "$p50" | grep -E 'latency|updates/s'
      kill "$ppid" 2>/dev/null || true; wait "$ppid" 2>/dev/null || true
      peer=$(rate_of "$pout")
    else
      echo "telegraf-redis: not run (npm install failed: the registry is out of reach)"
    fi
  else
    echo "telegraf-redis: not run (no node and npm on this machine)"
  fi
  tport=$((hport + 2))
  "$build/tests/trivial_bot" "$tport" "http://127.0.0.1:$aport" &
  tpid=$!
  pids+=("$tpid")
  listening "$tport"
  techo=$(echo_run trivial-bot-echo "$tport" "$tpid" "$chats" $((efirst + 3000000))); echo "$techo"
  kill "$tpid" 2>/dev/null || true; wait "$tpid" 2>/dev/null || true   # its port is free before the next one listens
  awk -v k="${kecho:-0}" -v p="${peer:-0}" -v t="$(rate_of "$techo")" 'BEGIN {
    if (p > 0) printf "echo class: kabinetd / Telegraf with Redis session: %.2f\n", k / p;
    if (t > 0) printf "echo class: kabinetd / trivial bot: %.2f of the ceiling\n", k / t }'
fi

# ---------------------------------------------------------------- the trivial bot, through the same generator
tport=$((hport + 2))
"$build/tests/trivial_bot" "$tport" "http://127.0.0.1:$aport" &
tpid=$!
pids+=("$tpid")
listening "$tport"
tout=$("$build/tests/loadgen" "http://127.0.0.1:$tport/telegram/webhook" "$secret" "$aport" "$chats" "$secs" \
       --first-uid "$first" --pid "$tpid" --label trivial-bot --journey "${LOAD_JOURNEY:-all}")
echo "$tout"
kill "$tpid" 2>/dev/null || true; wait "$tpid" 2>/dev/null || true
triv=$(sed -n 's/.*, \([0-9]*\) updates\/s$/\1/p' <<<"$tout" | head -1)
awk -v k="${kab:-0}" -v t="${triv:-0}" 'BEGIN { if (t > 0) printf "kabinetd / trivial bot: %.2f of the ceiling\n", k / t }'
[ "${n:-0}" -gt 0 ]
