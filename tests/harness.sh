#!/usr/bin/env bash
# Starts or stops a private Redis and PostgreSQL for tests and for a local run: loopback only, non-default ports,
# data under DIR. Redis runs as in production (appendonly yes). PostgreSQL runs as the `postgres` user when we are
# root (initdb and postgres refuse root).
#   tests/harness.sh start DIR REDIS_PORT PG_PORT [fast]   ("fast": fsync off, for throwaway test clusters)
#   tests/harness.sh stop DIR
#   tests/harness.sh stop-redis|start-redis|stop-pg|start-pg DIR   (fault tests)
#   tests/harness.sh start-replica DIR PORT   a streaming replica of DIR's PostgreSQL (pg_basebackup -R) on PORT
#   tests/harness.sh stop-replica DIR
#   tests/harness.sh start-bouncer DIR PORT PG_PORT   PgBouncer in transaction mode on PORT in front of PG_PORT, every
#                                                     database name passed through (stopped by `stop`)
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

start_bouncer() { # port, pg port
  local b=$dir/pgbouncer
  mkdir -p "$b"; [ "$(id -u)" -eq 0 ] && chown postgres "$b"
  echo '"postgres" ""' >"$b/users.txt"
  cat >"$b/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$2
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $1
unix_socket_dir =
auth_type = trust
auth_file = $b/users.txt
pool_mode = transaction
max_client_conn = 4000
default_pool_size = ${KABINET_BOUNCER_POOL:-20}
max_db_connections = 0
server_idle_timeout = 30
logfile = $b/pgbouncer.log
pidfile = $b/pgbouncer.pid
EOF
  as_pg pgbouncer -d -q "$b/pgbouncer.ini"
  for _ in $(seq 100); do psql -qXtA -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "SELECT 1" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "harness: pgbouncer did not start (see $b/pgbouncer.log)" >&2; return 1
}
stop_bouncer() {
  local pid=$dir/pgbouncer/pgbouncer.pid
  [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  for _ in $(seq 100); do [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null || return 0; sleep 0.05; done
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
stop) stop_bouncer; stop_redis || true; [ -d "$dir/replica" ] && "$0" stop-replica "$dir"; stop_pg ;;
start-bouncer) start_bouncer "$3" "$4" ;;
start-replica)
  pport=$(sed -n 's/^port = //p' "$dir/pg/postgresql.conf" | tail -1)
  rm -rf "$dir/replica"
  as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$pport" -U postgres -D "$dir/replica" -R -X stream -c fast
  echo "port = $3" | as_pg tee -a "$dir/replica/postgresql.auto.conf" >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$dir/replica" -l "$dir/replica.log" -w -t 60 start >/dev/null
  ;;
stop-replica)
  [ -f "$dir/replica/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$dir/replica" -m immediate -w stop >/dev/null || true
  ;;
stop-redis) stop_redis ;;
start-redis) start_redis ;;
stop-pg) stop_pg ;;
stop-pg-now) [ -f "$dir/pg/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$dir/pg" -m immediate -w stop >/dev/null || true ;;
start-pg) start_pg ;;
*) echo "usage: $0 start|stop|stop-redis|start-redis|stop-pg|start-pg DIR ..." >&2; exit 64 ;;
esac
