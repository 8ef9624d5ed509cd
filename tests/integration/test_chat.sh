#!/usr/bin/env bash
# The console chat driven by a script through a pipe, as a newcomer would use it: the consent, registration (the phone
# shared by the contact button, the code read from the SMS the chat shows) → link the seeds' account → readings →
# balance, all on demo data; then what a console must take: a 10 KB line (kept whole, answered, the chat goes on), a
# line kabinetd refuses (said, the chat goes on), a push that comes while nothing is typed (shown as it comes), an
# email the conversation causes (shown as [EMAIL to …]), a chart (a file line, the PNG saved); and in a
# pseudo-terminal, a 3,000-byte line typed as a person types it.
set -uo pipefail
port=$((KB_TEST_PG_PORT + 600)) rdb=8
db=t_chat_$$
psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $db TEMPLATE kb_template" >/dev/null
export KABINET_DATABASE_URL="hostaddr=127.0.0.1 port=${KB_TEST_APP_PG_PORT:-$KB_TEST_PG_PORT} user=postgres dbname=$db"
"$KABINETD" demo-data --accounts 10 --months 3 >/dev/null
log=$(mktemp) out=$(mktemp) files=$(mktemp -d)
export KABINET_CHAT_FILES=$files/saved
KABINET_REDIS_URL="redis://127.0.0.1:$KB_TEST_REDIS_PORT/$rdb" KABINET_HTTP_LISTEN=127.0.0.1:$port \
KABINET_LOCAL_CHANNEL=on "$KABINETD" serve 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; rm -rf "$log" "$out" "$files"' EXIT
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
send "$(button 'Принимаю')";    expect "] Отправить мой номер" || ok=0
send "$(button 'Отправить мой номер')"; expect "the phone to share" || ok=0
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
# a 10 KB line (5,000 Cyrillic letters) goes whole — to support, which keeps what it is told — and the chat goes on
send "/human";                  expect "Напишите вопрос" || ok=0
send "$(printf 'ж%.0s' $(seq 5000))"; expect "обращение" || ok=0
psql -qXtA -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d "$db" -c "SELECT count(*) FROM kb_appeal_message m
  JOIN kb_appeal a ON a.id = m.appeal_id WHERE a.conv = 'local:newcomer$$' AND length(m.body) = 5000" | grep -qx 1 ||
  { echo "FAIL the long line did not arrive whole"; ok=0; }
send "/cancel";                 expect "] Баланс" || ok=0
# a line kabinetd refuses (not UTF-8): the reason, and the chat goes on
send "$(printf 'abc\xff')";     expect "chat: not sent" || ok=0
send "/menu";                   expect "] Баланс" || ok=0
# a push while nothing is typed: shown as it comes
psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d "$db" -c "SELECT kb_outbox_put('local:newcomer$$', 'local',
  1, 'push-chat', 0, '{\"tmpl\": \"notify.credited\", \"params\": {\"amount\": 50000, \"date\": \"2026-12-01\",
  \"account\": \"1800000001\"}}')" >/dev/null
expect "зачислен на счёт 1800000001" || ok=0
# an email the conversation causes (a code to confirm an address) shows as the mailbox would, no mail server needed
send "/menu";                   expect "] Настройки" || ok=0
send "$(button 'Настройки')";   expect "] Добавить почту" || ok=0
send "$(button 'Добавить почту')"; expect "адрес почты" || ok=0
send "ivan$$@example.ru";       expect "[EMAIL to mail:ivan$$@example.ru] Код для подтверждения адреса" || ok=0
send "/menu";                   expect "] История" || ok=0
# a file: the chart, as a line with its name and where it was saved
send "$(button 'История')";     expect "] Свод по месяцам" || ok=0
send "$(button 'Свод по месяцам')"; expect "] График" || ok=0
send "$(button 'График')";      expect "[file] ledger-" || ok=0
saved=$(sed -n 's/.*— saved to \([^ ]*\) .*/\1/p' <<<"$seen")
[ -n "$saved" ] && head -c 4 "$saved" | grep -q PNG || { echo "FAIL the chart was not saved as a PNG ($seen)"; ok=0; }
exec {CHAT[1]}>&-
wait $CHAT_PID; rc=$?
[ $rc = 0 ] || { echo "FAIL chat exit $rc"; ok=0; }
# the log scan: the phone the newcomer typed is masked in kabinetd's log (the log-only SMS sender shows the code)
if grep -qE '\+7[0-9]{10}' "$log"; then echo "FAIL: a phone number in clear in the log"; ok=0; fi
# in a pseudo-terminal, as a person types: a 3,000-byte line (the kernel's line editing holds 4,095) arrives whole
python3 - "$KABINETD" "http://127.0.0.1:$port" "tty$$" <<'PY' || { echo "FAIL the chat in a terminal"; ok=0; }
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "chat", "--url", sys.argv[2], "--as", sys.argv[3]])
def read_until(needle, seconds=10):
    got, end = b"", time.time() + seconds
    while time.time() < end and needle not in got:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                got += os.read(fd, 65536)
            except OSError:
                break
    return got
read_until(b"chat as")
for line, answer in (("/start", "Принимаю"), ("1", "номер телефона"), ("/human", "Напишите вопрос")):
    os.write(fd, (line + "\n").encode())
    read_until(answer.encode())
os.write(fd, ("ы" * 1500 + "\n").encode())
got = read_until("обращение".encode())
os.write(fd, b"\x04")
os.waitpid(pid, 0)
sys.exit(0 if "обращение".encode() in got else 1)
PY
n=$(psql -qXtA -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d "$db" -c "SELECT count(*) FROM kb_appeal_message m
  JOIN kb_appeal a ON a.id = m.appeal_id WHERE a.conv = 'local:tty$$' AND length(m.body) = 1500")
[ "$n" = 1 ] || { echo "FAIL the 3,000-byte line typed in a terminal did not arrive whole ($n)"; ok=0; }
echo "--- the conversation"; cat "$out"
if [ $ok = 1 ]; then echo "1 passed, 0 failed"; else tail -20 "$log"; echo "0 passed, 1 failed"; exit 1; fi
