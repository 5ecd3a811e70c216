#!/usr/bin/env bash
# DHCP throughput: bootsrv vs kea-dhcp4 (memfile), both measured with Kea's
# perfdhcp in the same run, on the same network-namespace pair.
#
# perfdhcp acts as a relay (sends from port 67 with giaddr = its address) and
# runs full DORA exchanges with fresh random MACs. For each server we raise the
# rate step by step and report the highest rate at which both DISCOVER-OFFER
# and REQUEST-ACK drop fewer than 1% of packets.
#
# Usage (root, from the repo): bench/dhcp-perf.sh [DURATION_S] [RATES...]
# Env: KEA_PERSIST=true|false (kea memfile persistence, default true).
set -euo pipefail
DUR=${1:-5}; shift || true
RATES=${*:-"1000 2000 4000 6000 8000 10000 12000 16000 20000 24000"}
KEA_PERSIST=${KEA_PERSIST:-true}
command -v perfdhcp >/dev/null || { echo "perfdhcp (package kea-admin) missing"; exit 1; }
command -v kea-dhcp4 >/dev/null || { echo "kea-dhcp4 (package kea-dhcp4-server) missing"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root for network namespaces"; exit 1; }

T=$(mktemp -d /tmp/bsv-dhcpbench.XXXXXX)
S=bsvb$$s; C=bsvb$$c; PID=
cleanup() { [ -n "$PID" ] && kill $PID 2>/dev/null && wait $PID 2>/dev/null; ip netns del $S 2>/dev/null; ip netns del $C 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
ip netns add $S; ip netns add $C
ip link add s0 netns $S type veth peer name c0 netns $C
ip -n $S addr add 10.64.0.1/10 dev s0; ip -n $C addr add 10.64.0.2/10 dev c0
for n in $S $C; do ip -n $n link set lo up; done
ip -n $S link set s0 up; ip -n $C link set c0 up

go build -o "$T/bootsrv" ./cmd/bootsrv
mkdir -p "$T/img"
cat > "$T/bootsrv.yaml" <<YAML
http: {listen: "127.0.0.1:0"}
tftp: {listen: "off"}
ftp: {listen: "off"}
log: {level: warn}
dhcp:
  mode: server
  interface: s0
  server_ip: 10.64.0.1
  lease_file: $T/leases.db
  authoritative: true
  rate_limit: {per_client: "off", global: "off"}   # measure the server, not its flood guard
  pools:
    - {subnet: 10.64.0.0/10, range: 10.64.1.0-10.127.255.250, lease_time: 1h}
YAML
cat > "$T/kea.json" <<JSON
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "s0" ], "dhcp-socket-type": "udp" },
  "lease-database": { "type": "memfile", "persist": $KEA_PERSIST, "name": "$T/kea-leases.csv", "lfc-interval": 0 },
  "control-socket": { "socket-type": "unix", "socket-name": "$T/kea.sock" },
  "authoritative": true, "valid-lifetime": 3600,
  "subnet4": [ { "id": 1, "subnet": "10.64.0.0/10", "pools": [ { "pool": "10.64.1.0 - 10.127.255.250" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "severity": "WARN", "output_options": [ { "output": "$T/kea.log" } ] } ]
} }
JSON

# run_perf RATE -> prints "sent1 recv1 drop1% sent2 recv2 drop2%"
run_perf() {
  ip netns exec $C perfdhcp -4 -l c0 -r "$1" -p "$DUR" -R 100000000 10.64.0.1 2>&1 |
    awk '/sent packets:/{s[++i]=$3} /received packets:/{r[i]=$3} /drops ratio:/{d[i]=$3}
         END{printf "%s %s %s %s %s %s\n", s[1], r[1], d[1], s[2], r[2], d[2]}'
}

# wait_udp67: until the server's socket is bound in the namespace.
wait_udp67() { for _ in $(seq 1 100); do ip netns exec $S ss -uln | grep -q ':67 ' && return 0; sleep 0.1; done; return 1; }

start_server() { # NAME CMD...
  local name=$1; shift
  rm -f "$T/leases.db" "$T"/kea-leases.csv*
  ip netns exec $S "$@" > "$T/$name.out" 2>&1 & PID=$!
  wait_udp67 || { echo "$name did not start" >&2; cat "$T/$name.out" "$T/kea.log" >&2 2>/dev/null; exit 1; }
}
stop_server() { kill $PID; wait $PID 2>/dev/null || true; PID=; }

# step NAME RATE -> exit 0 when fewer than 1% dropped (and perfdhcp kept up)
step() {
  local name=$1 r=$2 s1 r1 d1 s2 r2 d2
  read -r s1 r1 d1 s2 r2 d2 <<<"$(run_perf "$r")"
  printf '%-8s rate %6s/s sent %7s DO drop %9s%% RA drop %9s%%\n' "$name" "$r" "$s1" "$d1" "$d2" >&2
  awk -v a="$d1" -v b="$d2" -v s="$s1" -v want="$((r * DUR * 95 / 100))" 'BEGIN{exit !(a+0 < 1 && b+0 < 1 && s+0 >= want)}'
}

# The servers take turns at each rate (each on a fresh lease file), so load
# from anything else on the machine hits both alike.
B=0; K=0; bdone=; kdone=
for r in $RATES; do
  if [ -z "$bdone" ]; then
    start_server bootsrv "$T/bootsrv" -config "$T/bootsrv.yaml" -root "$T/img"
    if step bootsrv "$r"; then B=$r; else bdone=1; fi
    stop_server
  fi
  if [ -z "$kdone" ]; then
    start_server kea env KEA_PIDFILE_DIR="$T" KEA_LOCKFILE_DIR="$T" kea-dhcp4 -c "$T/kea.json"
    if step kea "$r"; then K=$r; else kdone=1; fi
    stop_server
  fi
  [ -n "$bdone" ] && [ -n "$kdone" ] && break
done
echo "highest rate with <1% drops (DORA, ${DUR}s per step): bootsrv ${B}/s, kea-dhcp4 memfile(persist=$KEA_PERSIST) ${K}/s"
awk -v b="$B" -v k="$K" 'BEGIN{ if (k > 0) printf "ratio bootsrv/kea = %.2f\n", b/k }'
