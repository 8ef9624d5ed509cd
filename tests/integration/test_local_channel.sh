#!/usr/bin/env bash
# The engine through the local channel, as a client sees it: step timeouts fire and a stale one is ignored, a stale
# button gets "out of date" plus the current screen, bad input gets a clear 400 and changes nothing, and state
# carries its sliding TTL.
set -uo pipefail
port=$((KB_TEST_PG_PORT + 400)) rdb=6
db=t_local_$$ run=r$$
psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $db TEMPLATE kb_template" >/dev/null
log=$(mktemp)
KABINET_DATABASE_URL="hostaddr=127.0.0.1 port=${KB_TEST_APP_PG_PORT:-$KB_TEST_PG_PORT} user=postgres dbname=$db" \
KABINET_REDIS_URL="redis://127.0.0.1:$KB_TEST_REDIS_PORT/$rdb" KABINET_HTTP_LISTEN=127.0.0.1:$port \
KABINET_LOCAL_CHANNEL=on KABINET_START_DIALOG=demo "$KABINETD" serve 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; rm -f "$log"' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.05; done
fails=0 passed=0
t() { if eval "$2"; then passed=$((passed + 1)); echo "ok   $1"; else fails=$((fails + 1)); echo "FAIL $1"; fi; }
post() { curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/local/events" --data-binary "$1"; }
ev() { post "{\"conv\":\"local:$run-$1\",\"id\":\"$2\",\"kind\":\"$3\",\"text\":\"$4\"${5:+,\"ver\":$5}}" >/dev/null; }
tmpls() { curl -s "http://127.0.0.1:$port/local/replies?conv=local:$run-$1" | grep -o '"tmpl" *: *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' | paste -sd, -; }
wait_for() { for _ in $(seq 60); do [ "$(tmpls "$1")" = "$2" ] && return 0; sleep 0.1; done; return 1; }

ev a a1 command "/count 1"
t "a step timeout fires: back at rest" 'wait_for a "demo.count_ask,demo.timeout"'
ev b b1 command "/count 1"; ev b b2 text "+5"
sleep 2.2
t "a timeout armed for an older version is ignored" '[ "$(tmpls b)" = "demo.count_ask,demo.count" ]'
ev c c1 command "/count"
ev c c2 button inc 1
ev c c3 button inc 1
ev c c4 button done 2
t "a stale button: out of date, then the current screen; state unchanged" \
  'wait_for c "demo.count_ask,demo.count,common.stale_menu,demo.count_ask,demo.done"'
t "replies carry what the customer reads, from the Russian catalog: text and button labels" \
  'r=$(curl -s "http://127.0.0.1:$port/local/replies?conv=local:$run-b"); [[ "$r" == *"Счёт: 6 (6 нажатий)."* ]] && r=$(curl -s "http://127.0.0.1:$port/local/replies?conv=local:$run-c"); [[ "$r" == *"\"labels\":[\"+1\",\"Готово\"]"* ]]'
t "replies carry the version their buttons belong to" \
  'r=$(curl -s "http://127.0.0.1:$port/local/replies?conv=local:$run-c"); grep -q "\"ver\" *: *2" <<<"$r"'
ev h h1 command "/human"
t "asking for a person: the customer is told, and staff get an escalation row in their channel's outbox" \
  'wait_for h demo.escalated && [ "$(psql -qXtA -h 127.0.0.1 -p $KB_TEST_PG_PORT -U postgres -d $db -c "SELECT count(*) FROM kb_outbox WHERE channel = '"'"'staff'"'"' AND conv = '"'"'staff:support'"'"' AND payload->'"'"'params'"'"'->>'"'"'conv'"'"' = '"'"'local:$run-h'"'"' AND lane = 0")" = 1 ]'
t "not JSON → 400" '[ "$(post "not json")" = 400 ]'
t "another channel's conversation → 400" '[ "$(post "{\"conv\":\"tg:1\",\"id\":\"x\",\"kind\":\"text\",\"text\":\"hi\"}")" = 400 ]'
t "a brace in the conversation → 400" '[ "$(post "{\"conv\":\"local:{x}\",\"id\":\"x\",\"kind\":\"text\"}")" = 400 ]'
t "an internal kind from outside → 400" '[ "$(post "{\"conv\":\"local:$run-d\",\"id\":\"x\",\"kind\":\"timeout\"}")" = 400 ]'
t "an id of 200 bytes → 400" '[ "$(post "{\"conv\":\"local:$run-d\",\"id\":\"$(printf "%0200d" 0)\",\"kind\":\"text\"}")" = 400 ]'
t "bad input changed nothing" '[ -z "$(tmpls d)" ] && [ "$(redis-cli -p $KB_TEST_REDIS_PORT -n $rdb exists "kb:{local:$run-d}:queue")" = 0 ]'
t "invalid UTF-8 → 400" '[ "$(printf "{\"conv\":\"local:$run-f\",\"id\":\"x\",\"kind\":\"text\",\"text\":\"\xd1\xd1\"}" | curl -s -o /dev/null -w "%{http_code}" -X POST --data-binary @- http://127.0.0.1:$port/local/events)" = 400 ]'
big=$(printf 'я%.0s' $(seq 20000))
t "a 40 KB message is accepted and cut to 16 KB on a character boundary (the reply holds it twice: as a parameter and rendered)" '[ "$(post "{\"conv\":\"local:$run-e\",\"id\":\"e1\",\"kind\":\"text\",\"text\":\"$big\"}")" = 200 ] && wait_for e demo.echo && [ "$(curl -s "http://127.0.0.1:$port/local/replies?conv=local:$run-e" | wc -c)" -lt 34000 ]'
t "the same id twice → one transition" 'ev e e1 text again; sleep 0.3; [ "$(tmpls e)" = demo.echo ]'
ttl=$(redis-cli -p "$KB_TEST_REDIS_PORT" -n $rdb pttl "kb:{local:$run-a}:state")
t "state has its sliding TTL (30 days)" '[ "$ttl" -gt 2500000000 ]'
seen=$(redis-cli -p "$KB_TEST_REDIS_PORT" -n $rdb hget "kb:{local:$run-e}:state" seen)
t "the recent ids live in the state (one key per conversation)" '[ "$seen" = "[\"e1\"]" ] && [ "$(redis-cli -p $KB_TEST_REDIS_PORT -n $rdb exists "kb:{local:$run-e}:seen")" = 0 ]'
kill -TERM $pid; wait $pid; rc=$?
t "clean exit" '[ $rc = 0 ]'
t "no phone number or email address in clear in the log" '! grep -qE "\+7[0-9]{10}|[A-Za-z0-9._%+-]*[A-Za-z0-9]@[a-z0-9.-]+\.[a-z]{2,}" "$log"'
[ $fails -eq 0 ] || tail -20 "$log"
echo "$passed passed, $fails failed"
[ $fails -eq 0 ]
