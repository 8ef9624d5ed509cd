#!/usr/bin/env bash
# The ctest fixture: starts the test run's Redis and PostgreSQL once (tests/harness.sh) and makes kb_template, the
# migrated database each test copies; `cleanup` stops them. Ports come from KB_TEST_REDIS_PORT/KB_TEST_PG_PORT. With
# KB_TEST_PGBOUNCER set it also starts PgBouncer on KB_TEST_APP_PG_PORT, the port the tests' applications use.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=/tmp/kabinet-test-$KB_TEST_REDIS_PORT
case $1 in
setup)
  "$here/harness.sh" stop "$dir" 2>/dev/null || true
  rm -rf "$dir"; mkdir -p "$dir"
  "$here/harness.sh" start "$dir" "$KB_TEST_REDIS_PORT" "$KB_TEST_PG_PORT" fast
  psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "CREATE DATABASE kb_template" >/dev/null
  if [ -n "${KB_TEST_PGBOUNCER:-}" ]; then "$here/harness.sh" start-bouncer "$dir" "$KB_TEST_APP_PG_PORT" "$KB_TEST_PG_PORT"; fi
  KABINET_DATABASE_URL="hostaddr=127.0.0.1 port=$KB_TEST_PG_PORT user=postgres dbname=kb_template" \
  KABINET_REDIS_URL="redis://127.0.0.1:$KB_TEST_REDIS_PORT" KABINET_LOG_LEVEL=warn "$KABINETD" migrate
  ;;
cleanup)
  "$here/harness.sh" stop "$dir"
  rm -rf "$dir"
  ;;
esac
