#!/bin/sh
# Compare bootsrv's FTP server with vsftpd on loopback: a 512 MiB RETR and
# 200 sequential sessions (login, RETR 4 MiB, quit), medians of REPEATS
# runs, printed as bootsrv/vsftpd ratios (lower is better for bootsrv).
# usage: bench/ftp_vs_vsftpd.sh [REPEATS]   (run from the repository root)
set -eu
REPEATS=${1:-3}
W=$(mktemp -d)
trap 'kill $BPID $VPID 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -p "$W/img"
head -c $((512 << 20)) /dev/urandom > "$W/img/big.bin"
head -c $((4 << 20)) /dev/urandom > "$W/img/small.bin"
go build -o "$W/bootsrv" ./cmd/bootsrv
BPORT=22121 VPORT=22122
"$W/bootsrv" -root "$W/img" -ftp-addr 127.0.0.1:$BPORT -tftp-addr off -http-addr off -log-level warn 2>"$W/bootsrv.log" &
BPID=$!
cat > "$W/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$VPORT
anonymous_enable=YES
anon_root=$W/img
no_anon_password=YES
local_enable=NO
write_enable=NO
pasv_min_port=23000
pasv_max_port=23100
seccomp_sandbox=NO
background=NO
secure_chroot_dir=$W
CONF
chmod 755 "$W" "$W/img"
vsftpd "$W/vsftpd.conf" &
VPID=$!
for p in $BPORT $VPORT; do
  for i in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $p)).close()" 2>/dev/null && break
    # polling a port we do not control the startup of; a short pause between tries
    sleep 0.1
  done
done
B=$(python3 bench/ftp_bench.py 127.0.0.1 $BPORT big.bin small.bin 200 "$REPEATS")
V=$(python3 bench/ftp_bench.py 127.0.0.1 $VPORT big.bin small.bin 200 "$REPEATS")
echo "bootsrv: $B"
echo "vsftpd:  $V"
python3 - "$B" "$V" <<'PY'
import json, sys
b, v = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k in b:
    print(f"{k}: bootsrv/vsftpd = {b[k] / v[k]:.2f}")
PY
