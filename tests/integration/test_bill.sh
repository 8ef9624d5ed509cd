#!/usr/bin/env bash
# The bill (квитанция) as a PDF: `kabinetd bill NUMBER [YYYY-MM]` on demo data. The PDF opens with pdftotext and
# shows the payee's bank details, the account, its meter and the sum due; its payment QR, rasterized and scanned
# with zbarimg as a bank app would, is a ГОСТ Р 56042-2014 ST00012 string with the right Sum in kopecks.
set -uo pipefail
db=t_bill_$$ tmp=$(mktemp -d)
pg() { psql -qXtA -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d "$db" -c "$1"; }
psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $db TEMPLATE kb_template" >/dev/null
trap 'psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
export KABINET_DATABASE_URL="hostaddr=127.0.0.1 port=${KB_TEST_APP_PG_PORT:-$KB_TEST_PG_PORT} user=postgres dbname=$db"
"$KABINETD" demo-data --accounts 30 --months 6 >/dev/null || { echo "FAIL demo-data"; exit 1; }
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

# an account in debt
read -r number due <<<"$(pg "SELECT a.number, m.balance_kopecks FROM kb_account a, kb_account_money(a.id) m
                             WHERE m.balance_kopecks > 0 ORDER BY a.number LIMIT 1" | tr '|' ' ')"
"$KABINETD" bill "$number" >"$tmp/bill.pdf" 2>"$tmp/err"; rc=$?
check "kabinetd bill $number writes a PDF" '[ $rc = 0 ] && [ "$(head -c 5 "$tmp/bill.pdf")" = "%PDF-" ]'
pdftotext "$tmp/bill.pdf" "$tmp/bill.txt" 2>/dev/null
shown=$(grep 'К оплате:' "$tmp/bill.txt" | tr -cd '0-9')
check "the text shows the account, the payee's BIC and the sum due ($due kopecks)" \
  'grep -q "Лицевой счёт $number" "$tmp/bill.txt" && grep -q "БИК 04" "$tmp/bill.txt" && [ "$shown" = "$due" ]'
# a month as a person says it: «ноябрь 2026»
ru_months=(январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь)
ru_month() { echo "${ru_months[$((10#${1:5:2} - 1))]} ${1:0:4}"; }   # YYYY-MM → «ноябрь 2026»
month=$(ru_month "$(pg "SELECT to_char(max(month), 'YYYY-MM') FROM kb_charge c JOIN kb_account a ON a.id = c.account_id WHERE a.number = '$number'")")
check "the text names the month ($month) and a charge line" 'grep -q "Квитанция за $month" "$tmp/bill.txt" && grep -q "кВт·ч" "$tmp/bill.txt"'
pdftoppm -r 150 -png -singlefile "$tmp/bill.pdf" "$tmp/page" && qr=$(zbarimg -q --raw "$tmp/page.png" 2>/dev/null)
bank=$(pg "SELECT b.bank->>'bik' || ' ' || (b.bank->>'account') FROM kb_account a JOIN kb_branch b ON b.id = a.branch_id WHERE a.number = '$number'")
check "the QR scans to ST00012 with Sum=$due, the payee's BIC and account, PersAcc=$number (${qr:0:60}…)" \
  '[[ $qr == ST00012\|Name=* ]] && [[ "|$qr|" == *"|Sum=$due|"* ]] && [[ "|$qr|" == *"|PersAcc=$number|"* ]] &&
   [[ "|$qr|" == *"|BIC=${bank% *}|"* ]] && [[ "|$qr|" == *"|PersonalAcc=${bank#* }|"* ]] && [[ $qr == *"|PaymPeriod="* ]]'

# an earlier month by name; an account with nothing due has no Sum (the payer types it)
early=$(pg "SELECT to_char(min(month), 'YYYY-MM') FROM kb_charge c JOIN kb_account a ON a.id = c.account_id WHERE a.number = '$number'")
"$KABINETD" bill "$number" "$early" >"$tmp/early.pdf" 2>/dev/null
check "a bill for $early ($(ru_month "$early"))" 'pdftotext "$tmp/early.pdf" - 2>/dev/null | grep -q "Квитанция за $(ru_month "$early")"'
paid=$(pg "SELECT a.number FROM kb_account a, kb_account_money(a.id) m WHERE m.balance_kopecks <= 0 ORDER BY a.number LIMIT 1")
"$KABINETD" bill "$paid" >"$tmp/paid.pdf" 2>/dev/null && pdftoppm -r 150 -png -singlefile "$tmp/paid.pdf" "$tmp/paid" &&
  qr2=$(zbarimg -q --raw "$tmp/paid.png" 2>/dev/null)
check "nothing due: the QR has no Sum" '[[ $qr2 == ST00012\|* ]] && [[ $qr2 != *"|Sum="* ]]'

# refusals
out=$("$KABINETD" bill 1899999999 2>&1 >/dev/null); rc=$?
check "an unknown account: exit 1, said plainly ($out)" '[ $rc = 1 ] && [[ $out == *"no bill for account 1899999999"* ]]'
"$KABINETD" bill "$number" 2026/05 >/dev/null 2>&1; rc=$?
check "a month not YYYY-MM: usage (exit $rc)" '[ $rc = 64 ]'
pg "UPDATE kb_branch SET bank = bank - 'bik'" >/dev/null
out=$("$KABINETD" bill "$number" 2>&1 >/dev/null); rc=$?
check "bank details missing: exit 1, said plainly" '[ $rc = 1 ] && [[ $out == *"bank details are missing"* ]]'
echo "$fails failed"
[ $fails -eq 0 ]
