#!/usr/bin/env bash
# README's configuration table is the one kabinetd prints: every row of `kabinetd config` appears in README.md.
set -uo pipefail
readme=$(dirname "$0")/../../README.md
missing=0 n=0
while IFS= read -r row; do
  case $row in '| `KABINET_'*) n=$((n + 1)); grep -qxF -- "$row" "$readme" || { echo "README lacks or differs: $row"; missing=$((missing + 1)); } ;; esac
done < <("$KABINETD" config)
echo "$((n - missing)) passed, $missing failed"
[ $missing -eq 0 ] && [ $n -gt 0 ]
