#!/usr/bin/env bash
# Starts or stops a private Redis and PostgreSQL for tests and for a local run: loopback only, non-default ports,
# data under DIR. Redis runs as in production (appendonly yes). PostgreSQL runs as the `postgres` user when we are
# root (initdb and postgres refuse root).
#   tests/harness.sh start DIR REDIS_PORT PG_PORT [fast]   ("fast": fsync off, for throwaway test clusters)
#   tests/harness.sh stop DIR
#   tests/harness.sh stop-redis|start-redis|stop-pg|start-pg DIR   (fault tests)
set -euo pipefail
cmd=$1 dir=$2
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_redis() {
  local port; port=$(cat "$dir/redis.port")
  # hash-max-listpack-value: a conversation's state hash (its question, recent ids) stays in the compact encoding
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/redis" --appendonly yes --appendfsync "${KABINET_REDIS_APPENDFSYNC:-everysec}" \
    --hash-max-listpack-value 1024 --save "" --daemonize yes --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" >/dev/null
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "harness: redis did not start (see $dir/redis/redis.log)" >&2; return 1
}
stop_redis() {
  local port; port=$(cat "$dir/redis.port")
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 || return 0; sleep 0.05; done
}
start_pg() {
  as_pg "$PGBIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 start >/dev/null
}
stop_pg() {
  [ -f "$dir/pg/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null || true
}

case $cmd in
start)
  rport=$3 pport=$4 mode=${5:-}
  mkdir -p "$dir/redis"
  echo "$rport" >"$dir/redis.port"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; chmod 755 "$dir"; fi
  start_redis
  if [ ! -f "$dir/pg/PG_VERSION" ]; then
    as_pg "$PGBIN/initdb" -D "$dir/pg" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    {
      echo "listen_addresses = '127.0.0.1'"
      echo "port = $pport"
      echo "unix_socket_directories = '$dir'"
      echo "max_connections = 200"
      echo "shared_buffers = ${KABINET_PG_SHARED_BUFFERS:-256MB}"
      if [ "$mode" = fast ]; then echo "fsync = off"; echo "full_page_writes = off"; fi
      # KABINET_PG_STATS=1: pg_stat_statements, for a profile of where Postgres spends its time (tests/bench/load.sh)
      if [ -n "${KABINET_PG_STATS:-}" ]; then echo "shared_preload_libraries = 'pg_stat_statements'"; fi
    } | as_pg tee -a "$dir/pg/postgresql.conf" >/dev/null
  fi
  start_pg
  ;;
stop) stop_redis || true; stop_pg ;;
stop-redis) stop_redis ;;
start-redis) start_redis ;;
stop-pg) stop_pg ;;
start-pg) start_pg ;;
*) echo "usage: $0 start|stop|stop-redis|start-redis|stop-pg|start-pg DIR ..." >&2; exit 64 ;;
esac
