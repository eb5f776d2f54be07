#!/bin/bash
# shellcheck disable=SC2016 # the sh -c scripts expand their own arguments
# SPDX-License-Identifier: Apache-2.0
# Write rows of the single-node bench, builds interleaved in one session
# (issue 10): a wall clock on a shared machine moves by 30 % between runs,
# so builds are compared run by run, each beside a native run of its own.
#
#   ab-write.sh cp FILE BUILD...     cp FILE into a fresh store + sync, vs
#                                    native cp + sync (bench row 4)
#   ab-write.sh small N BUILD...     N 4 KiB files create+write+close vs
#                                    native create+write+fsync (row 7)
#   ab-write.sh stream MIB BUILD...  MIB of keystream piped in (row 8)
#
# Knobs: MFS_AB_REPS (3), MFS_AB_OPTS (extra -o options), MFS_AB_PERF=DIR
# (perf record -g of each daemon into DIR/BUILDNAME-REP.data; perf script
# -F comm,ip,sym,dso of one into perf_groups.py CPU-S/GIB --write gives
# its table by stage of the commit).  Prints one
# line per run: MB/s (or files/s), native, ratio, daemon CPU-s/GiB, peak
# RSS, the store's compression ratio (raw/stored), load average.  A measurement, not a test.  Needs root.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu

here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-} arg=${2:-}
shift 2 || { echo "usage: ab-write.sh cp|small|stream ARG BUILD..." >&2; exit 2; }
[ $# -ge 1 ] || { echo "ab-write: no build given" >&2; exit 2; }
reps=${MFS_AB_REPS:-3}
opts=${MFS_AB_OPTS:-}
work=$(mktemp -d /var/tmp/mfs-ab.XXXXXX)
# shellcheck source-path=SCRIPTDIR
. "$here/bench-lib.sh"
mnt=$work/mnt data=$work/store perf_pid=""

cleanup() {
	set +e
	[ -z "$perf_pid" ] || kill -INT "$perf_pid" 2>/dev/null
	umount "$mnt" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
mbps() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.0f", b * 1000 / ns }'; }
load() { cut -d ' ' -f 1-3 /proc/loadavg; }

mount_build() { # BUILD
	rm -rf "$data"
	mkdir -p "$mnt" "$data"
	"$1/mount.modelfs" "$mnt" -o "data=$data${opts:+,$opts}"
}
umount_build() {
	local pid
	pid=$(cat "$data/modelfs.pid")
	umount "$mnt"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}
perf_start() { # NAME
	[ -n "${MFS_AB_PERF:-}" ] || return 0
	mkdir -p "$MFS_AB_PERF"
	perf record -F 999 -g -o "$MFS_AB_PERF/$1.data" -p "$(cat "$data/modelfs.pid")" 2>/dev/null &
	perf_pid=$!
	sleep 0.5
}
perf_stop() {
	[ -n "$perf_pid" ] || return 0
	kill -INT "$perf_pid"
	wait "$perf_pid" || true
	perf_pid=""
}

# native_run: sets n_ns, the native baseline's wall time
native_run() {
	case $mode in
	cp)
		drop_caches
		cat "$arg" >/dev/null
		run_timed sh -c 'cp "$1" "$2" && sync' _ "$arg" "$work/native-copy"
		rm -f "$work/native-copy"
		;;
	small)
		mkdir -p "$work/small-native"
		drop_caches
		run_timed "$work/smallfiles" -f -s 4096 "$work/small-native" "$arg" >"$work/small.out"
		rm -rf "$work/small-native"
		;;
	stream) run_ns=0 ;;
	esac
	n_ns=$run_ns
}

case $mode in
cp) bytes=$(stat -c %s "$arg") ;;
small)
	bytes=$((arg * 4096))
	cc -O2 -o "$work/smallfiles" "$here/smallfiles.c"
	;;
stream) bytes=$((arg << 20)) ;;
*) echo "ab-write: mode cp, small or stream" >&2; exit 2 ;;
esac

printf '%-4s %-28s %9s %9s %7s %11s %7s %7s  %s\n' rep build mfs native ratio "CPU-s/GiB" "RSS MiB" "stored" "load"
for rep in $(seq "$reps"); do
	for b in "$@"; do
		native_run
		name=$(basename "$b")
		mount_build "$b"
		case $mode in cp) drop_caches; cat "$arg" >/dev/null ;; small) mkdir "$mnt/small"; drop_caches ;; esac
		perf_start "$name-$rep"
		d0=$(daemon_cpu "$data")
		case $mode in
		cp) run_timed sh -c 'cp "$1" "$2" && sync' _ "$arg" "$mnt/big" ;;
		small) run_timed "$work/smallfiles" -s 4096 "$mnt/small" "$arg" >"$work/small.out" ;;
		stream)
			run_timed bash -c 'openssl enc -aes-128-ctr -nosalt -pass pass:modelfs-stream -pbkdf2 </dev/zero 2>/dev/null |
				dd of="$1" bs=1M count="$2" iflag=fullblock status=none' _ "$mnt/stream" "$arg"
			;;
		esac
		m_ns=$run_ns
		d_cpu=$(delta "$d0" "$(daemon_cpu "$data")")
		hwm=$(daemon_hwm "$data")
		perf_stop
		# raw over stored bytes of the chunks (the codecs' ratio), from the build's own admin tool
		cr=$("$b/modelfs-admin" status --json "$mnt" 2>/dev/null |
			python3 -c 'import json, sys; d = json.load(sys.stdin); print("%.4fx" % (d["chunk_bytes"] / d["stored_bytes"]))' 2>/dev/null || true)
		if [ "$mode" = cp ] && ! cmp -s "$arg" "$mnt/big"; then
			echo "ab-write: $name: the copy differs from $arg" >&2
			exit 1
		fi
		umount_build
		if [ "$mode" = small ]; then
			m=$(awk -v n="$arg" -v ns="$m_ns" 'BEGIN { printf "%.0f", n * 1e9 / ns }')
			nat=$(awk -v n="$arg" -v ns="$n_ns" 'BEGIN { printf "%.0f", n * 1e9 / ns }')
		else
			m=$(mbps "$bytes" "$m_ns")
			nat=-
			[ "$n_ns" = 0 ] || nat=$(mbps "$bytes" "$n_ns")
		fi
		r=$(awk -v a="$m" -v b="$nat" 'BEGIN { if (b + 0 > 0) printf "%.2fx", a / b; else print "-" }')
		printf '%-4s %-28s %9s %9s %7s %11s %7s %7s  %s\n' "$rep" "$name" "$m" "$nat" "$r" \
			"$(per_gib "$d_cpu" "$bytes")" "$hwm" "${cr:--}" "$(load)"
	done
done
