#!/usr/bin/env bash
# Bad configuration stops kabinetd at start with exactly one clear line naming the variable, exit code 2, and
# never the value of a secret.
set -uo pipefail
fails=0
check() { # name, expected text, env assignments...
  local name=$1 want=$2; shift 2
  local out rc
  out=$(env -i PATH="$PATH" "$@" "$KABINETD" serve 2>&1 </dev/null); rc=$?
  local lines; lines=$(printf '%s\n' "$out" | grep -c .)
  if [ "$rc" -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$want" <<<"$out" || grep -q s3cret <<<"$out"; then
    echo "FAIL $name: rc=$rc lines=$lines out=$out"; fails=$((fails + 1))
  else
    echo "ok   $name: $out"
  fi
}
R=KABINET_REDIS_URL=redis://127.0.0.1:1
D=KABINET_DATABASE_URL=postgresql://kb:s3cret@127.0.0.1:1/kb
check "missing database url" "KABINET_DATABASE_URL is not set" "$R"
check "missing redis url" "KABINET_REDIS_URL is not set" "$D"
check "port not a number" "KABINET_HTTP_LISTEN must be IP:PORT" "$D" "$R" KABINET_HTTP_LISTEN=127.0.0.1:eighty
check "pool out of range" "KABINET_DATABASE_POOL must be a whole number from 1 to 256" "$D" "$R" KABINET_DATABASE_POOL=-3
check "unreadable file" "KABINET_DATABASE_URL_FILE: cannot read the file /nonexistent/secret" "$R" KABINET_DATABASE_URL_FILE=/nonexistent/secret
check "malformed database url" "the database connection string is malformed" "$R" "KABINET_DATABASE_URL=host=x port"
check "redis url with a name" "KABINET_REDIS_URL must be redis://" "$D" "KABINET_REDIS_URL=redis://:s3cret@some-host:6379"
check "a cluster has no database number" "KABINET_REDIS_URL must be redis://" "$D" "KABINET_REDIS_URL=redis-cluster://:s3cret@127.0.0.1:7000,127.0.0.1:7001/2"
check "sentinel without the master's name" "KABINET_REDIS_URL must be redis://" "$D" "KABINET_REDIS_URL=redis-sentinel://127.0.0.1:26379"
check "unknown redis scheme" "KABINET_REDIS_URL must be redis://" "$D" "KABINET_REDIS_URL=rediss://127.0.0.1:6379"
check "replica pool out of range" "KABINET_DATABASE_REPLICA_POOL must be a whole number from 1 to 256" "$D" "$R" KABINET_DATABASE_REPLICA_POOL=0
check "malformed replica url" "KABINET_DATABASE_REPLICA_URL: the database connection string is malformed" "$D" "$R" "KABINET_DATABASE_REPLICA_URL=host=x port"
check "bad level" "KABINET_LOG_LEVEL must be" "$D" "$R" KABINET_LOG_LEVEL=loud
check "bad env" "KABINET_ENV must be development or production" "$D" "$R" KABINET_ENV=staging
check "production without its own code key" "KABINET_CODE_KEY must be your own key" "$D" "$R" KABINET_ENV=production
check "production with a short code key" "KABINET_CODE_KEY must be your own key" "$D" "$R" KABINET_ENV=production KABINET_CODE_KEY=s3cret
T=KABINET_TELEGRAM_TOKEN=123456:s3cret
check "telegram mode" "KABINET_TELEGRAM_MODE must be polling or webhook" "$D" "$R" "$T" KABINET_TELEGRAM_MODE=push
check "webhook without its url" "KABINET_TELEGRAM_WEBHOOK_URL must be the https:// URL" "$D" "$R" "$T" KABINET_TELEGRAM_MODE=webhook
check "webhook over http in production" "KABINET_TELEGRAM_WEBHOOK_URL must be the https:// URL" "$D" "$R" "$T" \
  KABINET_ENV=production KABINET_CODE_KEY=0123456789abcdef0123456789abcdef KABINET_PAY_PROVIDER=none KABINET_TELEGRAM_MODE=webhook \
  KABINET_TELEGRAM_WEBHOOK_URL=http://bot.example.ru/telegram/webhook KABINET_TELEGRAM_SECRET=abc
check "webhook secret" "KABINET_TELEGRAM_SECRET must be 1 to 256 characters" "$D" "$R" "$T" KABINET_TELEGRAM_MODE=webhook \
  KABINET_TELEGRAM_WEBHOOK_URL=https://bot.example.ru/telegram/webhook 'KABINET_TELEGRAM_SECRET=s3cret!'
check "token with a slash" "KABINET_TELEGRAM_TOKEN does not look like a bot token" "$D" "$R" KABINET_TELEGRAM_TOKEN=123/s3cret
check "api url" "KABINET_TELEGRAM_API_URL must be an http:// or https:// URL" "$D" "$R" "$T" KABINET_TELEGRAM_API_URL=api.telegram.org
check "the fake pay page in production" "KABINET_PAY_PROVIDER must not be fake when KABINET_ENV is production" "$D" "$R" \
  KABINET_ENV=production KABINET_CODE_KEY=0123456789abcdef0123456789abcdef
check "unknown pay provider" "KABINET_PAY_PROVIDER must be yookassa, sber, fake or none" "$D" "$R" KABINET_PAY_PROVIDER=paypal
check "yookassa without its key" "KABINET_PAY_PROVIDER=yookassa needs KABINET_YOOKASSA_SHOP_ID and KABINET_YOOKASSA_SECRET_KEY" \
  "$D" "$R" KABINET_PAY_PROVIDER=yookassa KABINET_YOOKASSA_SHOP_ID=12345
check "sber without its callback key" "KABINET_PAY_PROVIDER=sber needs KABINET_SBER_USERNAME" "$D" "$R" \
  KABINET_PAY_PROVIDER=sber KABINET_SBER_USERNAME=u KABINET_SBER_PASSWORD=p
check "yookassa's addresses" "KABINET_YOOKASSA_WEBHOOK_IPS must be addresses or networks" "$D" "$R" \
  KABINET_YOOKASSA_WEBHOOK_IPS=185.71.76.0/33
check "the log-only SMS gateway in production" "KABINET_SMS_PROVIDER must be smsc or smsru when KABINET_ENV is production" \
  "$D" "$R" KABINET_ENV=production KABINET_CODE_KEY=0123456789abcdef0123456789abcdef KABINET_PAY_PROVIDER=none
check "smsc without its callback secret" "KABINET_SMS_PROVIDER=smsc needs KABINET_SMSC_LOGIN" "$D" "$R" \
  KABINET_SMS_PROVIDER=smsc KABINET_SMSC_LOGIN=kb KABINET_SMSC_PASSWORD=s3cret
check "sms.ru with a short token" "KABINET_SMS_PROVIDER=smsru needs KABINET_SMSRU_API_ID and KABINET_SMSRU_TOKEN" "$D" "$R" \
  KABINET_SMS_PROVIDER=smsru KABINET_SMSRU_API_ID=s3cret KABINET_SMSRU_TOKEN=s3cret
check "unknown sms gateway" "KABINET_SMS_PROVIDER must be smsc, smsru or log" "$D" "$R" KABINET_SMS_PROVIDER=twilio
check "public url" "KABINET_PUBLIC_URL must be an http:// or https:// URL" "$D" "$R" KABINET_PUBLIC_URL=bot.example.ru
echo "$((27 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
