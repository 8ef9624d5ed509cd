#!/usr/bin/env bash
# Local Redis topologies for the tests and the benchmarks, all on loopback with data under DIR:
#   tests/redis_topo.sh cluster-start DIR PORT   a Redis Cluster of three masters (PORT, PORT+1, PORT+2), each with
#                                                a replica (PORT+3…PORT+5); cluster-node-timeout 1 s, appendonly on
#   tests/redis_topo.sh cluster-stop DIR         shuts every node down cleanly (the append-only files kept)
#   tests/redis_topo.sh cluster-restart DIR PORT starts them again, as they were
#   tests/redis_topo.sh migrate DIR PORT SLOT…   moves each slot to the next master the way redis-cli --cluster
#                                                reshard does (IMPORTING/MIGRATING, MIGRATE the keys, SETSLOT NODE),
#                                                slowly enough that clients meet ASK and TRYAGAIN meanwhile
#   tests/redis_topo.sh failover DIR PORT KEY    kill -9 the master that serves KEY, wait until its replica took
#                                                over and the cluster is ok, then start the killed one again (it
#                                                comes back as a replica); prints the killed port
#   tests/redis_topo.sh sentinel-start DIR PORT  a primary (PORT) with a replica (PORT+1) and three Sentinels
#                                                (PORT+10…PORT+12) watching it as "kbmaster", down after 1 s
#   tests/redis_topo.sh sentinel-failover DIR PORT   kill -9 the current primary and wait for the new one
#   tests/redis_topo.sh stop DIR                 stops everything started in DIR
set -euo pipefail
cmd=$1 dir=$2
cli() { redis-cli -h 127.0.0.1 -p "$@"; }

start_node() { # port, extra args...
  local port=$1; shift
  mkdir -p "$dir/$port"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$port" --appendonly yes --save "" \
    --hash-max-listpack-value 1024 --daemonize yes --pidfile "$dir/$port/redis.pid" \
    --logfile "$dir/$port/redis.log" "$@" >/dev/null
  for _ in $(seq 100); do cli "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "redis_topo: redis :$port did not start (see $dir/$port/redis.log)" >&2; return 1
}
cluster_args() { echo --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000; }

wait_ok() { # port: until the cluster, as that node sees it, is ok with three masters that are up
  for _ in $(seq 200); do
    if cli "$1" cluster info 2>/dev/null | grep -q 'cluster_state:ok' &&
       [ "$(cli "$1" cluster nodes 2>/dev/null | grep master | grep -vc fail)" = 3 ]; then return 0; fi
    sleep 0.1
  done
  echo "redis_topo: the cluster did not become ok" >&2; return 1
}
owner_of() { # port, slot: the port of the master that serves the slot, as that node sees it
  cli "$1" cluster nodes | awk -v s="$2" '$3 ~ /master/ && $3 !~ /fail/ {for (i = 9; i <= NF; i++) {n = split($i, r, "-"); if ((n == 1 && r[1] == s) || (n == 2 && s >= r[1] && s <= r[2])) {split($2, a, "[:@]"); print a[2]}}}'
}
masters() { cli "$1" cluster nodes | awk '$3 ~ /master/ && $3 !~ /fail/ {split($2, a, "[:@]"); print a[2] " " $1}' | sort -n; }

case $cmd in
cluster-start)
  port=$3
  mkdir -p "$dir"; echo "$port" >"$dir/base"
  for i in 0 1 2 3 4 5; do start_node $((port + i)) $(cluster_args); done
  nodes=""; for i in 0 1 2 3 4 5; do nodes="$nodes 127.0.0.1:$((port + i))"; done
  # shellcheck disable=SC2086
  redis-cli --cluster create $nodes --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1
  wait_ok "$port"
  # every replica in sync before anything is written
  for _ in $(seq 100); do
    up=0; for i in 3 4 5; do up=$((up + $(cli $((port + i)) info replication | grep -c 'master_link_status:up' || true))); done
    [ "$up" = 3 ] && break
    sleep 0.1
  done
  ;;
cluster-stop)
  for p in "$dir"/*/redis.pid; do
    [ -f "$p" ] || continue
    port=$(basename "$(dirname "$p")")
    cli "$port" shutdown >/dev/null 2>&1 || true
    rm -f "$p"
  done
  ;;
cluster-restart)
  port=$3
  for i in 0 1 2 3 4 5; do start_node $((port + i)) $(cluster_args); done
  wait_ok "$port"
  ;;
migrate)
  port=$3; shift 3
  for slot in "$@"; do
    mapfile -t ms < <(masters "$port")
    owner=$(owner_of "$port" "$slot")
    [ -n "$owner" ] || { echo "redis_topo: nobody serves slot $slot" >&2; exit 1; }
    for k in 0 1 2; do [ "${ms[$k]%% *}" = "$owner" ] && to=${ms[$(((k + 1) % 3))]}; done
    to_port=${to%% *} to_id=${to##* } from_id=$(cli "$owner" cluster myid)
    cli "$to_port" cluster setslot "$slot" importing "$from_id" >/dev/null
    cli "$owner" cluster setslot "$slot" migrating "$to_id" >/dev/null
    sleep 0.4 # new keys of the slot are made on the importing side now (ASK)
    while :; do
      mapfile -t keys < <(cli "$owner" cluster getkeysinslot "$slot" 20)
      [ ${#keys[@]} -gt 0 ] && [ -n "${keys[0]}" ] || break
      cli "$owner" migrate 127.0.0.1 "$to_port" "" 0 5000 REPLACE KEYS "${keys[@]}" >/dev/null
      sleep 0.05
    done
    sleep 0.4
    # the new owner first, then the old one, then the rest (the order redis-cli --cluster uses)
    cli "$to_port" cluster setslot "$slot" node "$to_id" >/dev/null
    cli "$owner" cluster setslot "$slot" node "$to_id" >/dev/null
    for m in "${ms[@]}"; do
      [ "${m%% *}" = "$to_port" ] || [ "${m%% *}" = "$owner" ] || cli "${m%% *}" cluster setslot "$slot" node "$to_id" >/dev/null
    done
    echo "slot $slot: $owner -> $to_port"
  done
  ;;
failover)
  port=$3 key=$4
  slot=$(cli "$port" cluster keyslot "$key")
  victim=$(owner_of "$port" "$slot")
  kill -9 "$(cat "$dir/$victim/redis.pid")"
  other=$port; [ "$victim" = "$port" ] && other=$((port + 1))
  for _ in $(seq 200); do
    sleep 0.1
    cli "$other" cluster nodes | grep -q "127.0.0.1:$victim@.*fail" || continue
    wait_ok "$other" && break
  done
  rm -f "$dir/$victim/redis.pid"
  start_node "$victim" $(cluster_args)
  echo "$victim"
  ;;
sentinel-start)
  port=$3
  mkdir -p "$dir"; echo "$port" >"$dir/base"
  start_node "$port"
  start_node $((port + 1)) --replicaof 127.0.0.1 "$port"
  for i in 10 11 12; do
    s=$((port + i)); mkdir -p "$dir/$s"
    printf 'port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor kbmaster 127.0.0.1 %s 2\nsentinel down-after-milliseconds kbmaster 1000\nsentinel failover-timeout kbmaster 5000\n' \
      "$s" "$dir/$s" "$port" >"$dir/$s/sentinel.conf"
    redis-server "$dir/$s/sentinel.conf" --sentinel --daemonize yes --pidfile "$dir/$s/redis.pid" --logfile "$dir/$s/redis.log"
  done
  for _ in $(seq 100); do
    [ "$(cli $((port + 10)) sentinel replicas kbmaster 2>/dev/null | grep -c '^slave$\|^replica$' || true)" -ge 1 ] &&
      [ "$(cli $((port + 1)) info replication | grep -c 'master_link_status:up')" = 1 ] && break
    sleep 0.1
  done
  ;;
sentinel-failover)
  port=$3
  old=$(cli $((port + 10)) sentinel get-master-addr-by-name kbmaster | tail -1)
  kill -9 "$(cat "$dir/$old/redis.pid")"
  for _ in $(seq 300); do
    now=$(cli $((port + 10)) sentinel get-master-addr-by-name kbmaster | tail -1)
    [ "$now" != "$old" ] && cli "$now" info replication | grep -q 'role:master' && break
    sleep 0.1
  done
  [ "$now" != "$old" ] || { echo "redis_topo: no failover" >&2; exit 1; }
  echo "$old -> $now"
  ;;
stop)
  for p in "$dir"/*/redis.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null || true; done
  ;;
*) sed -n '2,15p' "$0" >&2; exit 64 ;;
esac
