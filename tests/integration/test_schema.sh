#!/usr/bin/env bash
# The domain schema carries the invariants: one customer reading per meter, zone and local day (billing's own
# readings do not block it); one settlement per provider payment id; money never NULL; account numbers digits only;
# one primary account per customer.
set -uo pipefail
db=t_schema_$$
# prints psql's output, errors included, and always succeeds: the checks read what it printed
P() { psql -qXtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d "$db" -c "$1" 2>&1 || true; }
psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $db TEMPLATE kb_template" >/dev/null
trap 'psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null' EXIT
fails=0 passed=0
t() { if eval "$2"; then passed=$((passed + 1)); echo "ok   $1"; else fails=$((fails + 1)); echo "FAIL $1"; fi; }
P "INSERT INTO kb_branch (code, name, utc_offset_min) VALUES ('khk', 'Абакан', 420)" >/dev/null
P "INSERT INTO kb_account (number, holder_surname, address, branch_id) VALUES ('180211111', 'Иванова', 'г. Абакан', 1)" >/dev/null
P "INSERT INTO kb_meter (account_id, serial, digits) VALUES (1, '0123456', 5)" >/dev/null
t "a customer reading" '[ -z "$(P "INSERT INTO kb_reading (meter_id, value, local_day, source) VALUES (1, 29700, '"'"'2026-11-21'"'"', '"'"'bot'"'"')")" ]'
t "a second customer reading the same local day is refused" 'P "INSERT INTO kb_reading (meter_id, value, local_day, source) VALUES (1, 29710, '"'"'2026-11-21'"'"', '"'"'portal'"'"')" | grep -q kb_reading_customer_day'
t "a network reading the same day does not block it" '[ -z "$(P "INSERT INTO kb_reading (meter_id, value, local_day, source) VALUES (1, 29705, '"'"'2026-11-21'"'"', '"'"'network'"'"')")" ]'
t "the next local day is fine" '[ -z "$(P "INSERT INTO kb_reading (meter_id, value, local_day, source) VALUES (1, 29720, '"'"'2026-11-22'"'"', '"'"'bot'"'"')")" ]'
t "a negative reading is refused" 'P "INSERT INTO kb_reading (meter_id, value, local_day, source) VALUES (1, -1, '"'"'2026-11-23'"'"', '"'"'bot'"'"')" | grep -q check'
P "INSERT INTO kb_payment (account_id, amount_kopecks, source, status, provider, provider_payment_id, paid_at) VALUES (1, 150000, 'bot', 'paid', 'yookassa', 'p-1', now())" >/dev/null
t "the same provider payment settled twice is refused" 'P "INSERT INTO kb_payment (account_id, amount_kopecks, source, status, provider, provider_payment_id, paid_at) VALUES (1, 150000, '"'"'billing'"'"', '"'"'paid'"'"', '"'"'yookassa'"'"', '"'"'p-1'"'"', now())" | grep -q duplicate'
t "money is never NULL" 'P "INSERT INTO kb_payment (account_id, amount_kopecks, source, status) VALUES (1, NULL, '"'"'bot'"'"', '"'"'pending'"'"')" | grep -q "not-null"'
t "an account number is digits only" 'P "INSERT INTO kb_account (number, holder_surname, address, branch_id) VALUES ('"'"'(180)2111'"'"', '"'"'x'"'"', '"'"'y'"'"', 1)" | grep -q check'
P "INSERT INTO kb_customer (full_name) VALUES ('Иванова И.И.')" >/dev/null
P "INSERT INTO kb_account (number, holder_surname, address, branch_id) VALUES ('180211112', 'Иванова', 'дача', 1)" >/dev/null
P "INSERT INTO kb_account_link (customer_id, account_id, is_primary, status, proof) VALUES (1, 1, true, 'active', 'surname')" >/dev/null
t "only one primary account per customer" 'P "INSERT INTO kb_account_link (customer_id, account_id, is_primary, status, proof) VALUES (1, 2, true, '"'"'active'"'"', '"'"'els'"'"')" | grep -q kb_link_one_primary'
t "a branch outside Russia's offsets is refused" 'P "INSERT INTO kb_branch (code, name, utc_offset_min) VALUES ('"'"'x'"'"', '"'"'x'"'"', 60)" | grep -q check'
echo "$passed passed, $fails failed"
[ $fails -eq 0 ]
