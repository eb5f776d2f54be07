#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Where a cold read's CPU goes, per GiB and per thread (issue 10): one cold
# read of FILE through a modelfs mount, under perf, turned into a table of
# CPU-seconds per GiB by function group (perf_groups.py), for each daemon.
#
#   prof-read.sh local FILE     a fresh node: cp FILE in, remount, drop
#                               caches, dd bs=1M of it
#   prof-read.sh peer FILE      node 1 holds FILE, node 2 (fresh) reads it
#                               with dd bs=16M as soon as it sees the file,
#                               as bench-peers phase O does: node 2 owns
#                               about half the chunks and pulls them during
#                               the read (the status deltas say how many
#                               were fetched)
#
# Knobs: MFS_BUILD (build dir, default .), MFS_PROF_PERF=0 (no perf: the
# CPU figures without perf's overhead, and threads' context switches),
# MFS_PROF_OPTS (extra -o options for every node), MFS_PROF_OUT (where the
# perf data go, default the work dir, removed at the end), MFS_PROF_AFTER=S
# (peer: node 2's CPU in the S seconds after its work is done, to see that
# nothing the read left behind, a flush say, escapes the figures),
# MFS_PROF_STAT=1 (perf stat of each daemon during the read: task-clock,
# context switches, migrations, page faults, per GiB), MFS_PROF_AT_ONCE=1
# (peer: node 2's dd starts the moment the file is there, as a loader
# waiting for it would, with no sync, drop_caches or status first).  Without it node 2's replication, whose first scan comes
# a second after its start, pulls much of its half in that gap: its
# decodes fall partly inside the window, and the read decodes those chunks
# again from the store (the window moved 1.7-2.5 CPU-s/GiB on one build).
# At once, replication yields to the read from its first scan, and the
# read fetches, verifies and keeps every chunk itself, each decoded once:
# the window is the whole cost of the read, and steady.
# A measurement, not a test: prints figures, checks only that the bytes read
# are the file's.  Needs root, perf, python3.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu

here=$(cd "$(dirname "$0")" && pwd)
B=${MFS_BUILD:-$PWD}
mode=${1:-} src=${2:-}
case $mode in local | peer) ;; *) echo "usage: prof-read.sh local|peer FILE" >&2; exit 2 ;; esac
[ -f "$src" ] || { echo "prof-read: no file $src" >&2; exit 2; }
[ -x "$B/mount.modelfs" ] || { echo "prof-read: no $B/mount.modelfs (set MFS_BUILD)" >&2; exit 2; }
perf_on=${MFS_PROF_PERF:-1}
stat_on=${MFS_PROF_STAT:-0}
at_once=${MFS_PROF_AT_ONCE:-0}
[ "$mode" = peer ] || at_once=0
opts=${MFS_PROF_OPTS:-}
W=$(mktemp -d /var/tmp/mfs-prof.XXXXXX)
out=${MFS_PROF_OUT:-$W}
port=$((27000 + RANDOM % 2000))
mkdir -p "$W/m1" "$W/m2" "$W/d1" "$W/d2" "$out"

pid_of() { cat "$W/d$1/modelfs.pid"; }
stop() { # N: unmount node N and wait for its daemon to exit
	local p
	p=$(pid_of "$1" 2>/dev/null) || return 0
	umount "$W/m$1" 2>/dev/null || umount -l "$W/m$1"
	for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
}
cleanup() {
	set +e
	stop 2
	stop 1
	rm -rf "$W/d1" "$W/d2" "$W/m1" "$W/m2"
	rm -rf "$W" # with the perf data when MFS_PROF_OUT is unset
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() { # N [peer options]
	"$B/mount.modelfs" "$W/m$1" -o "data=$W/d$1${2:+,$2}${opts:+,$opts}"
}
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }
# threads PID -> "name voluntary involuntary ticks" summed per thread name.
# One awk over every thread's files: forking per thread took seconds under
# load, while the reader's replication pulled chunks before the clock ran.
threads() {
	local t f=()
	for t in /proc/"$1"/task/*; do f+=("$t/comm" "$t/status" "$t/stat"); done
	awk 'FILENAME ~ /comm$/ { k = $0; gsub(/ /, "_", k); next }
	     FILENAME ~ /status$/ { if ($1 == "voluntary_ctxt_switches:") v[k] += $2
	                            if ($1 == "nonvoluntary_ctxt_switches:") n[k] += $2; next }
	     { sub(/.*\) /, ""); c[k] += $12 + $13 }
	     END { for (k in v) print k, v[k], n[k], c[k] }' "${f[@]}" 2>/dev/null | sort
}
status() { "$B/modelfs-admin" status --json "$W/m$1" 2>/dev/null || echo '{}'; }

size=$(stat -c %s "$src")
cat "$src" >/dev/null
if [ "$mode" = local ]; then
	start 1
	cp "$src" "$W/m1/f"
	stop 1
	start 1
	nodes="1" reader=1 bs=1M
else
	start 1 "listen=127.0.0.2:$port,peer=127.0.0.3:$port"
	cp "$src" "$W/m1/f"
	# As bench-peers phase O: node 1's writes are flushed before node 2
	# starts, so node 2 reads at once and fetches what it owns during the
	# read (a sync here after it started let its replication pull its half
	# first, outside the figures: 1.3 against the bench's 2.3 CPU-s/GiB).
	sync
	served0=$(status 1 | python3 -c 'import json, sys; print(json.load(sys.stdin).get("served_bytes", 0))')
	c1_join=$(cpu "$(pid_of 1)")
	start 2 "listen=127.0.0.3:$port,peer=127.0.0.2:$port"
	nap=0.1 tries=600 # 60 s
	[ "$at_once" = 0 ] || nap=0.01 tries=6000
	for _ in $(seq $tries); do [ "$(stat -c %s "$W/m2/f" 2>/dev/null)" = "$size" ] && break; sleep $nap; done
	nodes="2 1" reader=2 bs=16M
fi
if [ "$at_once" = 1 ]; then
	echo '{}' >"$W/s0.json" # a fresh node: its counters start at 0
else
	sync
	echo 3 >/proc/sys/vm/drop_caches
	# The status first: modelfs-admin status can take seconds on a busy node,
	# and the reader's replication works meanwhile; not inside the window.
	status "$reader" >"$W/s0.json"
	[ "$mode" = local ] || echo "reader before the read: chunks $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("chunks"), "repl_backlog", d.get("repl_backlog"), "fetched_chunks", d.get("fetched_chunks"))' "$W/s0.json")"
fi
perfs=()
for n in $nodes; do
	threads "$(pid_of "$n")" >"$W/t$n.0"
	cpu "$(pid_of "$n")" >"$W/c$n.0"
	if [ "$perf_on" = 1 ]; then
		perf record -F 1999 -g -o "$out/perf-$mode-node$n.data" -p "$(pid_of "$n")" 2>/dev/null &
		perfs+=($!)
	fi
done
stats=()
if [ "$stat_on" = 1 ]; then
	for n in $nodes; do
		perf stat -x, -e task-clock,context-switches,cpu-migrations,page-faults -o "$W/stat$n" -p "$(pid_of "$n")" &
		stats+=($!)
	done
fi
[ $((${#perfs[@]} + ${#stats[@]})) = 0 ] || sleep 0.3
load=$(cut -d ' ' -f 1-3 /proc/loadavg)
t0=$(date +%s%N)
TIMEFORMAT='%3U %3S'
{ time dd if="$W/m$reader/f" of=/dev/null bs=$bs status=none 2>&4; } 4>&2 2>"$W/dd.time"
t1=$(date +%s%N)
status "$reader" >"$W/s1.json"
for n in $nodes; do
	cpu "$(pid_of "$n")" >"$W/c$n.1"
	threads "$(pid_of "$n")" >"$W/t$n.1"
done
[ ${#perfs[@]} = 0 ] || { kill -INT "${perfs[@]}" 2>/dev/null || true; wait "${perfs[@]}" || true; }
[ ${#stats[@]} = 0 ] || { kill -INT "${stats[@]}" 2>/dev/null || true; wait "${stats[@]}" || true; }
# The check reads the file again: from the page cache, or through the
# daemon when something dropped the caches meanwhile (other benches on a
# shared machine do), which cost the reader 1-2 CPU-s/GiB and landed in the
# whole figure below.  Its CPU is taken out of that figure.
cmp0=$(cpu "$(pid_of "$reader")")
cmp "$src" "$W/m$reader/f" || { echo "prof-read: the bytes read differ from $src" >&2; exit 1; }
cmp_cpu=$(awk -v a="$cmp0" -v b="$(cpu "$(pid_of "$reader")")" 'BEGIN { printf "%.2f", b - a }')

gib=$(awk -v b="$size" 'BEGIN { print b / 1073741824 }')
echo "prof-read $mode: $(awk -v b="$size" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f MB/s, %.2f s", b * 1000 / ns, ns / 1e9 }'); load $load -> $(cut -d ' ' -f 1-3 /proc/loadavg)${perfs:+ (under perf)}"
python3 - "$W/s0.json" "$W/s1.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
keys = ("read_requests", "cache_hits", "cache_misses", "cache_waits", "fetched_chunks",
        "fetched_bytes", "disk_cache_chunks", "read_kept", "chunks", "repl_fetched_chunks", "repl_deferred")
print("reader status deltas: " + ", ".join(
    f"{k} {b[k] - a.get(k, 0)}" for k in keys if isinstance(b.get(k), int)))
EOF
dd_s=$(awk 'NF == 2 { printf "%.2f", $1 + $2 }' "$W/dd.time")
all=$(awk -v c="$dd_s" -v g="$gib" 'BEGIN { printf "%.2f", c / g }')
echo "the reading dd: $dd_s CPU-s ($(awk -v c="$dd_s" -v g="$gib" 'BEGIN { printf "%.2f", c / g }') CPU-s/GiB; bench-peers counts it in the reader's figure)"
for n in $nodes; do
	per=$(awk -v a="$(cat "$W/c$n.0")" -v b="$(cat "$W/c$n.1")" -v g="$gib" 'BEGIN { printf "%.2f", (b - a) / g }')
	echo
	echo "node $n$([ "$n" = "$reader" ] && echo " (reader)"): $per CPU-s/GiB"
	echo "thread: voluntary / involuntary context switches, CPU ticks, during the read"
	join "$W/t$n.0" "$W/t$n.1" | awk '$5 - $2 + $6 - $3 + $7 - $4 > 0 { printf "  %-16s %6d %6d %5d\n", $1, $5 - $2, $6 - $3, $7 - $4 }'
	all=$(awk -v a="$all" -v b="$per" 'BEGIN { printf "%.2f", a + b }')
	[ "$stat_on" = 0 ] || awk -F, -v g="$gib" '$3 != "" && $1 ~ /^[0-9.]+$/ { printf "  perf stat: %s %.0f (%.0f per GiB)\n", $3, $1, $1 / g }' "$W/stat$n"
	[ "$perf_on" = 1 ] || continue
	perf script -i "$out/perf-$mode-node$n.data" -F comm,ip,sym,dso 2>/dev/null | "$here/perf_groups.py" "$per"
done
echo
echo "all: $all CPU-s/GiB (every node's daemon and the reading dd)"
# The window above moves with how much the reader's replication pulled
# before the read began (it starts with the node): 1.3 to 2.5 CPU-s/GiB
# on one build.  Whole: from node 2's start until its replication backlog
# is 0, everything node 2 did to have the file (its owned half in its
# store, the rest read through); steady across runs, for A/B.
if [ "$mode" = peer ]; then
	for _ in $(seq 600); do
		[ "$(status 2 | python3 -c 'import json, sys; print(json.load(sys.stdin).get("repl_backlog"))')" = 0 ] && break
		sleep 0.1
	done
	awk -v r="$(cpu "$(pid_of 2)")" -v d="$dd_s" -v h0="$c1_join" -v h1="$(cpu "$(pid_of 1)")" -v g="$gib" -v k="$cmp_cpu" \
		'BEGIN { r -= k; printf "whole (node 2 from its start to repl_backlog 0, with the dd, without the check'"'"'s %.2f CPU-s): reader %.2f / holder %.2f / all %.2f CPU-s/GiB\n", k, (r + d) / g, (h1 - h0) / g, (r + d + h1 - h0) / g }'
	# The holder's CPU per GiB it served (its wire bytes: records as stored),
	# which does not move with how much the reader happened to fetch twice.
	served1=$(status 1 | python3 -c 'import json, sys; print(json.load(sys.stdin).get("served_bytes", 0))')
	awk -v s="$((served1 - served0))" -v h0="$c1_join" -v h1="$(cpu "$(pid_of 1)")" -v f="$(status 2 | python3 -c 'import json, sys; print(json.load(sys.stdin).get("fetched_chunks"))')" \
		'BEGIN { printf "holder served %.0f MB: %.2f CPU-s/GiB served; reader fetched %s chunks in all\n", s / 1e6, (h1 - h0) / (s / 1073741824), f }'
	r1=$(cpu "$(pid_of 2)")
	sleep "${MFS_PROF_AFTER:-0}"
	[ "${MFS_PROF_AFTER:-0}" = 0 ] || echo "node 2 in the ${MFS_PROF_AFTER} s after that: $(awk -v a="$r1" -v b="$(cpu "$(pid_of 2)")" 'BEGIN { printf "%.2f", b - a }') CPU-s"
fi
