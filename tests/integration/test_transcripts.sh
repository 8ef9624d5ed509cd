#!/usr/bin/env bash
# The customer's dialogs end to end, as scripted conversations (tests/transcripts/*.txt) played through the local
# channel of a real kabinetd on a real Redis and PostgreSQL with demo data; no network beyond loopback. A script:
#   > text            a message ("/start" and the like go as commands)
#   > button ID       a press of button ID on the latest screen;  > stale button ID: one from an old screen
#   > contact PHONE   a shared contact;  > photo FILE_ID: a photo
#   > pay link        pay at the fake provider's page of the latest payment link (again: "paid", and nothing more)
#   < a, b*, c        the templates of the replies that follow, in order ("b*": any template starting with b)
# {code} is the last login code sent by SMS in that conversation (read from the SMS outbox), {wrongcode} another.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
port=$((KB_TEST_PG_PORT + 500)) rdb=7
db=t_transcripts_$$ run=t$$
pg() { psql -qXtA -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d "$db" -c "$1"; }
psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $db TEMPLATE kb_template" >/dev/null
export KABINET_DATABASE_URL="hostaddr=127.0.0.1 port=${KB_TEST_APP_PG_PORT:-$KB_TEST_PG_PORT} user=postgres dbname=$db"
"$KABINETD" demo-data --accounts 30 --months 6 >/dev/null || { echo "FAIL demo-data"; exit 1; }
# support answers around the clock here, so that no "support is closed now" depends on when the test runs
pg "UPDATE kb_setting SET value = '{\"days\": \"1234567\", \"from\": \"00:00\", \"to\": \"24:00\", \"utc_offset_min\": 180}' WHERE key = 'support.hours'" >/dev/null
log=$(mktemp)
KABINET_REDIS_URL="redis://127.0.0.1:$KB_TEST_REDIS_PORT/$rdb" KABINET_HTTP_LISTEN=127.0.0.1:$port \
KABINET_LOCAL_CHANNEL=on KABINET_PAY_POLL_S=1 "$KABINETD" serve 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; [ "${KB_KEEP_LOG:-}" ] && cp "$log" /tmp/transcripts.log; psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; rm -f "$log"' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.05; done
fails=0 passed=0

# replies of conv after outbox id $2 as "tmpl,tmpl,…"; the last id and the last "ver" go to globals
replies() {
  local r; r=$(curl -s "http://127.0.0.1:$port/local/replies?conv=$1&after=$2")
  got=$(grep -o '"tmpl":"[^"]*"' <<<"$r" | sed 's/"tmpl":"//; s/"$//' | paste -sd, -)
  newlast=$(grep -o '"id":[0-9]*' <<<"$r" | tail -1 | sed 's/"id"://')
  newver=$(grep -o '"ver":[0-9]*' <<<"$r" | tail -1 | sed 's/"ver"://')
}
# whether "a,b,c" matches the expected "a, b*, c"
matches() {
  local IFS=, g e; read -ra g <<<"$1"; read -ra e <<<"${2// /}"
  [ ${#g[@]} -eq ${#e[@]} ] || return 1
  for i in "${!e[@]}"; do
    if [[ ${e[$i]} == *'*' ]]; then [[ ${g[$i]} == "${e[$i]%\*}"* ]] || return 1; else [ "${g[$i]}" = "${e[$i]}" ] || return 1; fi
  done
}
post() { curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/local/events" --data-binary "$1"; }
json() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }

for script in "$here"/tests/transcripts/*.txt; do
  name=$(basename "$script" .txt) conv="local:$run-$name" last=0 ver=0 n=0 ok=1 line_no=0 code="" phone=""
  while IFS= read -r line || [ -n "$line" ]; do
    line_no=$((line_no + 1))
    case $line in
    '> '*)
      input=${line#> } n=$((n + 1))
      code=$(pg "SELECT payload->'params'->>'code' FROM kb_outbox WHERE channel = 'sms' AND payload->>'from' = '$conv' ORDER BY id DESC LIMIT 1")
      wrong=$(printf '%06d' $(( (10#${code:-0} + 1) % 1000000 )))
      input=${input//\{code\}/$code}; input=${input//\{wrongcode\}/$wrong}
      case $input in
      'pay link'*)
        url=$(curl -s "http://127.0.0.1:$port/local/replies?conv=$conv&after=0" | grep -o '"url":"[^"]*"' | tail -1 | sed 's/"url":"//; s/"$//')
        st=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/pay")
        [ "$st" = 200 ] || { echo "FAIL $name:$line_no: the pay page ($url) answered $st"; ok=0; break; }
        continue ;;
      'stale button '*) body="\"kind\":\"button\",\"text\":\"$(json "${input#stale button }")\",\"ver\":1" ;;
      'button '*) body="\"kind\":\"button\",\"text\":\"$(json "${input#button }")\",\"ver\":${ver:-0}" ;;
      'contact '*) body="\"kind\":\"contact\",\"text\":\"$(json "${input#contact }")\"" ;;
      'photo '*) body="\"kind\":\"photo\",\"text\":\"$(json "${input#photo }")\"" ;;
      /*) body="\"kind\":\"command\",\"text\":\"$(json "$input")\"" ;;
      *) body="\"kind\":\"text\",\"text\":\"$(json "$input")\"" ;;
      esac
      st=$(post "{\"conv\":\"$conv\",\"id\":\"$name-$n\",$body}")
      [ "$st" = 200 ] || { echo "FAIL $name:$line_no: POST answered $st"; ok=0; break; }
      ;;
    '< '*)
      want=${line#< }
      for _ in $(seq 100); do replies "$conv" "$last"; matches "$got" "$want" && break; sleep 0.05; done
      if matches "$got" "$want"; then
        last=${newlast:-$last} ver=${newver:-$ver}
      else
        echo "FAIL $name:$line_no: expected [$want], got [$got]"; ok=0; break
      fi
      ;;
    esac
  done <"$script"
  if [ $ok = 1 ]; then passed=$((passed + 1)); echo "ok   $name"; else fails=$((fails + 1)); fi
done
kill -TERM $pid; wait $pid; rc=$?
[ $rc = 0 ] || { echo "FAIL kabinetd exit $rc"; fails=$((fails + 1)); }
[ $fails -eq 0 ] || tail -30 "$log"
echo "$passed passed, $fails failed"
[ $fails -eq 0 ]
