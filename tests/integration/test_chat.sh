#!/usr/bin/env bash
# The console chat driven by a script through a pipe, as a newcomer would use it: the consent, registration (the code read from
# the SMS the chat shows) → link the seeds' account → readings → balance, all on demo data.
set -uo pipefail
port=$((KB_TEST_PG_PORT + 600)) rdb=8
db=t_chat_$$
psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $db TEMPLATE kb_template" >/dev/null
export KABINET_DATABASE_URL="hostaddr=127.0.0.1 port=${KB_TEST_APP_PG_PORT:-$KB_TEST_PG_PORT} user=postgres dbname=$db"
"$KABINETD" demo-data --accounts 10 --months 3 >/dev/null
log=$(mktemp) out=$(mktemp)
KABINET_REDIS_URL="redis://127.0.0.1:$KB_TEST_REDIS_PORT/$rdb" KABINET_HTTP_LISTEN=127.0.0.1:$port \
KABINET_LOCAL_CHANNEL=on "$KABINETD" serve 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; rm -f "$log" "$out"' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.05; done

coproc CHAT { "$KABINETD" chat --url "http://127.0.0.1:$port" --as "newcomer$$" 2>&1; }
send() { echo "$1" >&"${CHAT[1]}"; }
# reads the chat's output until a line contains $1 (10 s at most); the line goes to $seen
expect() {
  local line
  while IFS= read -t 10 -r line <&"${CHAT[0]}"; do
    echo "$line" >>"$out"
    if [[ $line == *"$1"* ]]; then seen=$line; return 0; fi
  done
  echo "FAIL: no line with \"$1\""; return 1
}
# the number of the button labelled $1 on the screen just read (from $out)
button() { grep -E "^  \[[0-9]+\] $1\$" "$out" | tail -1 | sed 's/^  \[\([0-9]*\)\].*/\1/'; }

ok=1
expect "chat as" || ok=0
send "/start";                  expect "] Принимаю" || ok=0
send "$(button 'Принимаю')";    expect "пришлите номер телефона" || ok=0
send "8 916 555 00 11";         expect "[SMS sms:+79165550011] Код для входа" || ok=0
code=$(grep -o 'Код для входа в личный кабинет: [0-9]*' <<<"$seen" | grep -o '[0-9]*$')
expect "Введите 6 цифр" || ok=0
send "$code";                   expect "] Мои лицевые счета" || ok=0
send "$(button 'Мои лицевые счета')"; expect "] Привязать счёт" || ok=0
send "$(button 'Привязать счёт')";    expect "номер лицевого счёта" || ok=0
send "1800000001";              expect "] Фамилия владельца" || ok=0
send "$(button 'Фамилия владельца')"; expect "фамилию владельца" || ok=0
send "Петров";                  expect "фамилии недостаточно" || ok=0   # demo customer 1 has it already
send "$(button 'Код ЕЛС ГИС ЖКХ')"; expect "код ЕЛС ГИС ЖКХ из квитанции" || ok=0
send "77МН000001";              expect "стал основным" || ok=0
expect "] Передать показания" || ok=0
send "$(button 'Передать показания')"; expect "Введите текущие" || ok=0
send "29 800";                  expect "Расход 100 кВт·ч" || ok=0
expect "] Баланс" || ok=0
send "$(button 'Баланс')";      expect "Счёт 1800000001:" || ok=0
exec {CHAT[1]}>&-
wait $CHAT_PID; rc=$?
[ $rc = 0 ] || { echo "FAIL chat exit $rc"; ok=0; }
# the log scan: the phone the newcomer typed is masked in kabinetd's log (the log-only SMS sender shows the code)
if grep -qE '\+7[0-9]{10}' "$log"; then echo "FAIL: a phone number in clear in the log"; ok=0; fi
echo "--- the conversation"; cat "$out"
if [ $ok = 1 ]; then echo "1 passed, 0 failed"; else tail -20 "$log"; echo "0 passed, 1 failed"; exit 1; fi
