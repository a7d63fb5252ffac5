#!/usr/bin/env bash
# Profiles Fulcrum's data path under one load (bench/PROFILE.md): two nginx backends and wrk on
# cpu 0, Fulcrum alone on cpu 1 (as ../shared/bench/compare.mjs lays them out), configured
# through its API with an http frontend (:24141) and a tcp frontend (:24142) over both backends.
#
#   bash bench/profile.sh <ka|close|1mib|tcpka|tcpclose|tcp1mib> <seconds> [node flags…]
#
# By default Fulcrum runs with --cpu-prof (profile in $PROFILE_DIR/out); PROF="" runs it
# without, PROF="--trace-gc" prints its GCs to $PROFILE_DIR/f.log. Prints wrk's figures and
# Fulcrum's utime/stime ticks (/proc) around the load. Needs nginx, wrk, jq, curl (setup.sh).
# Only 127.0.0.1 ports 24001, 24002, 24141, 24142 and 24180 are used.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH=$ROOT/node_modules/.bin:$PATH
SC=${1:?scenario}; SECS=${2:?seconds}; shift 2
W=${PROFILE_DIR:-/tmp/fulcrum-profile}; RUN=$W/run; mkdir -p "$RUN" "$W/www" "$W/out"
[ -f "$W/www/1m.bin" ] || head -c 1048576 /dev/urandom > "$W/www/1m.bin"
D=$(mktemp -d /tmp/fulcrum-profile-data.XXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for i in 1 2; do [ -f "$RUN/be$i.pid" ] && kill "$(cat "$RUN/be$i.pid")" 2>/dev/null || true; done
  rm -rf "$D"
}
trap cleanup EXIT
for i in 1 2; do
  cat > "$RUN/be$i.conf" <<CONF
worker_processes 1; pid $RUN/be$i.pid; error_log $RUN/be$i.err warn;
events { worker_connections 8192; }
http { access_log off; default_type text/plain; sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 300s; keepalive_requests 100000000;
  client_body_temp_path $RUN/c$i; proxy_temp_path $RUN/p$i; fastcgi_temp_path $RUN/f$i;
  uwsgi_temp_path $RUN/u$i; scgi_temp_path $RUN/s$i;
  server { listen 127.0.0.1:2400$i backlog=4096; add_header X-Be $i;
    location = / { return 200 "ok\n"; } location /big/ { alias $W/www/; } } }
CONF
  taskset -c 0 nginx -e "$RUN/be$i.err" -c "$RUN/be$i.conf"
done
cd "$ROOT"
# shellcheck disable=SC2086
FULCRUM_ADMIN_TOKEN=tok-0123456789abcdef NODE_ENV=production taskset -c 1 node "$@" ${PROF---cpu-prof --cpu-prof-dir=$W/out} \
  src/cli/main.ts serve --api 127.0.0.1:24180 --data-dir "$D" > "$W/f.log" 2>&1 &
FP=$!
PIDS+=("$FP")
H=(-H 'authorization: Bearer tok-0123456789abcdef' -H 'content-type: application/json')
API=http://127.0.0.1:24180/api/v1
for _ in $(seq 60); do curl -sf "${H[@]}" $API/load-balancers >/dev/null && break; sleep 0.5; done
LB=$(curl -s "${H[@]}" $API/load-balancers -d '{"name":"b","allowedNetworks":["127.0.0.0/8"]}' | jq -r .id)
for m in http:24141 tcp:24142; do
  mode=${m%%:*}; port=${m#*:}
  BE=$(curl -s "${H[@]}" $API/backends -d '{"loadBalancerId":"'"$LB"'","name":"be-'$mode'","mode":"'$mode'","algorithm":"round-robin","healthCheck":{"enabled":false}}' | jq -r .id)
  for p in 24001 24002; do
    curl -s "${H[@]}" "$API/backends/$BE/servers" -d '{"name":"s'$p'","serverType":"web","address":"127.0.0.1","port":'$p'}' >/dev/null
  done
  curl -s "${H[@]}" $API/frontends -d '{"loadBalancerId":"'"$LB"'","name":"fe-'$mode'","protocol":"'$mode'","bindAddress":"127.0.0.1","port":'$port',"defaultBackendId":"'"$BE"'"}' >/dev/null
done
sleep 1
case $SC in
  ka) ARGS=(-c64 http://127.0.0.1:24141/) ;;
  close) ARGS=(-c64 -H 'Connection: close' http://127.0.0.1:24141/) ;;
  1mib) ARGS=(-c16 http://127.0.0.1:24141/big/1m.bin) ;;
  tcpka) ARGS=(-c64 http://127.0.0.1:24142/) ;;
  tcpclose) ARGS=(-c64 -H 'Connection: close' http://127.0.0.1:24142/) ;;
  tcp1mib) ARGS=(-c16 http://127.0.0.1:24142/big/1m.bin) ;;
  *) echo "unknown scenario $SC" >&2; exit 2 ;;
esac
T0=$(awk '{print $14, $15}' /proc/$FP/stat)
taskset -c 0 wrk -t1 -d"${SECS}s" --latency "${ARGS[@]}" | grep -E "Requests/sec|Transfer|50%|99%"
T1=$(awk '{print $14, $15}' /proc/$FP/stat)
echo "fulcrum utime stime (ticks) before: $T0 after: $T1"
kill -INT "$FP"; wait "$FP" || true
PIDS=()
[ -z "${PROF-x}" ] || ls -t "$W/out" | head -1
