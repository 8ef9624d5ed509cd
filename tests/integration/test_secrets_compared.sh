#!/usr/bin/env bash
# What proves a caller — a signature, a checksum, a token, a secret, an HMAC — is compared in constant time
# (secret_equal, secret_hex_equal, CRYPTO_memcmp), never with strcmp, strcasecmp, strncmp or memcmp, whose time
# tells an attacker how much of a guess was right.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
found=$(grep -nE '\b(strn?cmp|strn?casecmp|memcmp)\([^;]*\b(sig|signature|checksum|sum|md5|hmac|mac|secret|token|expect|password)\b' \
          "$here"/src/*.c "$here"/src/*/*.c "$here"/channels/*/*.c | grep -vE 'not a secret|CRYPTO_memcmp|names\[i\]|"[a-z]*="|"[a-z_]*(sig|checksum|token|secret)[a-z_]*"' || true)
if [ -n "$found" ]; then
  echo "FAIL secrets compared in variable time:"
  echo "$found"
  exit 1
fi
echo "ok   every signature, checksum and token is compared in constant time"
