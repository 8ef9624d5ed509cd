#!/usr/bin/env bash
# Every template a dialog or the engine names (a quoted "area.key" in dialogs/ and src/engine/engine.c, and the reasons
# reading.submit can give) is in both catalogs: no customer ever reads a bare key.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
# step names look alike: leave out the ones the dialogs go to or compare with
steps=$(grep -ohE '(cust_goto\(c, |cust_list_accounts\(c, |strcmp\(step, |"%s", |dlg_core\(out, |cust_call\(c, )"[a-z_.]+"' "$here"/dialogs/*.c | grep -oE '"[a-z_.]+"$' | tr -d '"' | sort -u)
keys=$(grep -ohE '"(common|menu|reg|acc|rd|bal|his|sup|set|num|demo|tg|bill|pay|staff|calc|notify|doc|act)\.[a-z_]+"' "$here"/dialogs/*.c "$here"/channels/*/*.c "$here"/src/workers/*.c "$here"/src/engine/engine.c "$here"/src/documents/doc_*.c | tr -d '"' | grep -v '\.h$' | sort -u | grep -vxF "$steps")
for reason in empty not_a_number negative too_precise too_many_digits too_large; do keys+=$'\n'"rd.invalid_$reason"; done
for b in $(grep -ohE '"(readings|balance|accounts|help|menu|human|share_phone|resend|change_phone|link|primary|remove|els|surname|photo|yes|no|skip|pick[1-9]|history|support|settings|h_readings|h_charges|h_payments|more|lang_switch|notify_on|notify_off|by_number|num_readings|h_ledger|h_range|pay|pay_due|rate_[1-5]|take_say|cancel|calc|add_email|add_phone|notify_here|h_chart|h_account|docs|doc_invoice|doc_vat|doc_act|doc_recon)"' "$here"/dialogs/dlg_*.c | tr -d '"' | sort -u); do keys+=$'\n'"btn.$b"; done
fails=0 n=0
for k in $keys; do
  n=$((n + 1))
  for lang in ru en; do
    grep -q "^$k = " "$here/dialogs/texts/$lang.txt" || { echo "FAIL $k is not in $lang.txt"; fails=$((fails + 1)); }
  done
done
echo "$((n - fails)) of $n templates in both catalogs"
[ $fails -eq 0 ]
