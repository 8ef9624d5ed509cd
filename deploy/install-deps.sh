#!/usr/bin/env bash
# Installs what kabinet needs on a Debian 12 machine: the compiler tool chain, the libraries it links and the
# servers its tests run (Redis, PostgreSQL 15). Idempotent: when everything is there it only checks and returns.
set -euo pipefail

pkgs=(build-essential cmake pkg-config
      libuv1-dev libcurl4-openssl-dev libcjson-dev libhiredis-dev libpq-dev libh2o-dev
      libssl-dev libhpdf-dev libqrencode-dev libcairo2-dev libcmocka-dev
      redis-server postgresql-15 postgresql-client-15 pgbouncer curl python3
      fonts-dejavu-core poppler-utils zbar-tools tesseract-ocr tesseract-ocr-rus python3-yaml systemd
      dovecot-imapd python3-aiosmtpd openssl clang-14 libclang-rt-14-dev libfaketime)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged servers; kabinet runs its own, so the packaged ones are left alone but not needed.
