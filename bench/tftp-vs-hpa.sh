#!/usr/bin/env bash
# Times a TFTP fetch of one random file (default 30 MiB) from bootsrv and
# from tftpd-hpa serving the same directory on 127.0.0.1, interleaved, REPS
# times each, for each client setting: curl at --tftp-blksize 512, 1468 and
# 8192 (lock-step), and atftp with blksize 1468 + windowsize 16 (tftpd-hpa
# does not negotiate windowsize and serves that one lock-step). Prints every
# run, the medians and the ratio bootsrv/tftpd-hpa (time; below 1 = bootsrv
# faster).
#
# Usage (as root, from anywhere): bench/tftp-vs-hpa.sh
#   REPS=9 SIZE_MIB=30 CASES="curl:512 curl:1468 curl:8192 atftp:1468:16" bench/tftp-vs-hpa.sh
# Needs: go, curl, atftp, python3, tftpd-hpa (in.tftpd). in.tftpd -s chroots, so root.
set -euo pipefail
REPS=${REPS:-7}
SIZE_MIB=${SIZE_MIB:-30}
CASES=${CASES:-"curl:512 curl:1468 curl:8192 atftp:1468:16"}
cd "$(dirname "$0")/.."
T=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

go build -o "$T/bootsrv" ./cmd/bootsrv
mkdir -m 755 "$T/img"
head -c "${SIZE_MIB}MiB" /dev/urandom >"$T/img/big.bin"
echo ready >"$T/img/ready.txt"
chmod 644 "$T/img/"*
want=$(sha256sum <"$T/img/big.bin" | cut -d' ' -f1)

BP=$(port)
HP=$(port)
"$T/bootsrv" -root "$T/img" -tftp-addr "127.0.0.1:$BP" -ftp-addr off -http-addr off \
	-log-format json -log-level warn 2>"$T/bootsrv.log" &
PIDS+=($!)
# -L: stay in the foreground; -s: chroot to the directory; -a: address:port.
in.tftpd -L -s "$T/img" -a "127.0.0.1:$HP" 2>"$T/hpa.log" &
PIDS+=($!)
for p in "$BP" "$HP"; do
	for _ in $(seq 100); do
		curl -s -m 2 -o /dev/null "tftp://127.0.0.1:$p/ready.txt" && break
		sleep 0.1
	done
done

fetch() { # port client blksize window -> seconds
	local t0 t1
	t0=$(date +%s.%N)
	case $2 in
	curl) curl -sS -m 300 --tftp-blksize "$3" -o "$T/out" "tftp://127.0.0.1:$1/big.bin" ;;
	atftp) atftp --option "blksize $3" --option "windowsize $4" -g -r big.bin -l "$T/out" 127.0.0.1 "$1" >/dev/null ;;
	esac
	t1=$(date +%s.%N)
	[ "$(sha256sum <"$T/out" | cut -d' ' -f1)" = "$want" ] || { echo "checksum mismatch from port $1" >&2; exit 1; }
	echo "$t1 - $t0" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for c in $CASES; do
	IFS=: read -r client blk win <<<"$c"
	: >"$T/b"; : >"$T/h"
	for i in $(seq "$REPS"); do
		b=$(fetch "$BP" "$client" "$blk" "$win"); h=$(fetch "$HP" "$client" "$blk" "$win")
		echo "$c run $i: bootsrv ${b}s  tftpd-hpa ${h}s"
		echo "$b" >>"$T/b"; echo "$h" >>"$T/h"
	done
	mb=$(median <"$T/b"); mh=$(median <"$T/h")
	awk -v b="$mb" -v h="$mh" -v sz="$SIZE_MIB" -v c="$c" 'BEGIN {
		printf "%d MiB, %s: median bootsrv %.3fs (%.1f MiB/s), tftpd-hpa %.3fs (%.1f MiB/s), ratio bootsrv/tftpd-hpa %.2f\n",
			sz, c, b, sz/b, h, sz/h, b/h }'
done
