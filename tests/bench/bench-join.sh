#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Join time and the op log's size (doc/replication.md, "Op log bound and
# snapshots").  `make bench-join` (root; MFS_JOIN_N files, default 100000).
#
# Baseline: `cp -a` of a tree of N small files (smallfiles.c, 100 bytes each,
# 1,000 per directory, in 8 subtrees written in parallel) on the same disk,
# warm page cache.
# Then nodes on loopback, stores under the same work directory:
#   A. node 1 gets the same N files (smallfiles straight into the mount);
#      node 2, known to node 1 but stopped, holds node 1's log whole.
#   B. op replay: fresh node 3 joins while node 1 hands out ops only
#      (snapshot_lag_ops=0): the time until node 3's status counts N files.
#      Skipped above 200,000 files unless MFS_JOIN_OPS=1 (about 650 ops/s),
#      and always with MFS_JOIN_OPS=0.
#   C. snapshot: node 1 restarts with the defaults (grace_s=10 so that the
#      stopped nodes stop holding its log); fresh node 4 joins: same clock.
#      With MFS_JOIN_PERF=1, perf records both daemons meanwhile.
#   D. op log size: nodes 2 and 4 pull from node 1 while a writer on node 1
#      creates files for MFS_JOIN_WRITE_S seconds (default 60); oplog_ops of
#      the three nodes every 5 s (a status walks the whole store), and 10 s
#      after the writer stops.
# Prints tables with the load average; CPU-seconds are the daemons' own
# (/proc/PID/stat), per join.
set -u
here=$(cd "$(dirname "$0")" && pwd)
MFS_BUILD=${MFS_BUILD:-$(cd "$here/../.." && pwd)}
n=${MFS_JOIN_N:-100000}
write_s=${MFS_JOIN_WRITE_S:-60}
mount_bin=$MFS_BUILD/mount.modelfs
admin_bin=$MFS_BUILD/modelfs-admin
python=/usr/bin/python3
work=$(mktemp -d "${MFS_BENCH_DIR:-/var/tmp}/mfs-bench-join.XXXXXX")
port=$((20000 + RANDOM % 10000))
mounted=()
# shellcheck source=tests/bench/bench-lib.sh
. "$here/bench-lib.sh"

log() { printf 'bench-join: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}
[ "$(id -u)" = 0 ] || die "run as root (mounts)"
[ -x "$mount_bin" ] || die "no $mount_bin: build first"

cleanup() {
	local m
	[ -n "${writer:-}" ] && kill "$writer" 2>/dev/null
	for m in "${mounted[@]}"; do
		umount "${m% *}" 2>/dev/null || umount -l "${m% *}" 2>/dev/null
		store_free "${m#* }" 60
	done
	[ "${MFS_KEEP:-0}" = 1 ] && { log "kept $work"; return; }
	rm -rf "$work"
}
trap cleanup EXIT

node_ip() { echo "127.0.0.$(($1 + 1))"; }
node_mnt() { echo "$work/m$1"; }
node_data() { echo "$work/n$1"; }
# node_start N "PEERS" [OPTS]: mounts node N (its store is kept across restarts)
node_start() {
	local i=$1 o p
	o="data=$(node_data "$i"),listen=$(node_ip "$i"):$port"
	for p in $2; do o+=",peer=$(node_ip "$p"):$port"; done
	o+=${3:+,$3}
	mkdir -p "$(node_mnt "$i")" "$(node_data "$i")"
	mounted+=("$(node_mnt "$i") $(node_data "$i")")
	log "node $i: mount.modelfs $(node_mnt "$i") -o $o"
	"$mount_bin" "$(node_mnt "$i")" -o "$o" >>"$work/mount.out" 2>&1 || die "node $i did not mount"
}
node_stop() {
	umount "$(node_mnt "$1")" && store_free "$(node_data "$1")" 120
}
# st N KEY: one status value of node N ("" if it does not answer)
st() {
	timeout 20 "$admin_bin" status --json "$(node_mnt "$1")" 2>/dev/null |
		"$python" -c 'import json,sys
try: print(json.load(sys.stdin).get(sys.argv[1], ""))
except Exception: print("")' "$2"
}
# stm N KEY...: several status values of node N from one status call, tab-separated
stm() {
	local n=$1
	shift
	timeout 120 "$admin_bin" status --json "$(node_mnt "$n")" 2>/dev/null |
		"$python" -c 'import json,sys
try: d = json.load(sys.stdin)
except Exception: d = {}
print("\t".join(str(d.get(k, "")) for k in sys.argv[1:]))' "$@"
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
writers=8
per=$(((n + writers - 1) / writers))
# fill ROOT: N files under ROOT/pK (K < writers), written in parallel
fill() {
	local k pids=() left=$n c rc=0
	for ((k = 0; k < writers && left > 0; k++)); do
		c=$((left < per ? left : per))
		left=$((left - c))
		mkdir -p "$1/p$k" || return 1
		"$work/smallfiles" -s 100 -p 1000 -S "$k" "$1/p$k" "$c" >"$work/fill.$k.out" &
		pids+=($!)
	done
	for k in "${pids[@]}"; do wait "$k" || rc=1; done
	return $rc
}
# last_files ROOT: the last file each writer of fill makes
last_files() {
	local k left=$n c
	for ((k = 0; k < writers && left > 0; k++)); do
		c=$((left < per ? left : per))
		left=$((left - c))
		printf '%s/p%d/d%03d/f%05d.bin\n' "$1" "$k" $(((c - 1) / 1000)) $((c - 1))
	done
}
# wait_seen N LIMIT_S: until node N's mount shows the last file of each
# writer on node 1.  Node 1's ops apply in order, and a snapshot all at
# once: it then shows all of them.  (Not the status key `files`: it walks
# the whole store.)
wait_seen() {
	local t0 f
	t0=$(now)
	for f in $(last_files "$(node_mnt "$1")/tree"); do
		until [ -e "$f" ]; do
			[ "$(secs "$t0" "$(now)" | cut -d. -f1)" -ge "$2" ] && return 1
			sleep 0.1
		done
	done
}

# perf_start N M: with MFS_JOIN_PERF=1, records nodes N and M (call graphs)
perf_start() {
	[ "${MFS_JOIN_PERF:-0}" = 1 ] || return 0
	perf record -g -F 499 -o "$work/perf.data" \
		-p "$(cat "$(node_data "$1")/modelfs.pid"),$(cat "$(node_data "$2")/modelfs.pid")" \
		>"$work/perf.out" 2>&1 &
	perf_pid=$!
}
# perf_stop N M: ends the recording; the top of each node's profile to stderr
perf_stop() {
	local i
	[ -n "${perf_pid:-}" ] || return 0
	kill -INT "$perf_pid" && wait "$perf_pid"
	perf_pid=
	for i in "$@"; do
		log "profile of node $i (perf report --no-children):"
		perf report -i "$work/perf.data" --no-children --pid "$(cat "$(node_data "$i")/modelfs.pid")" \
			--stdio -g none --percent-limit 0.7 2>/dev/null | grep -v '^$' | head -80 >&2
	done
}

load0=$(cut -d ' ' -f 1-3 /proc/loadavg)
log "work dir $work, N=$n, load $load0"
build_tool smallfiles || die "cannot build smallfiles"

# ---- baseline -----------------------------------------------------------------
fill "$work/src" || die "smallfiles"
sync
t0=$(now)
cp -a "$work/src" "$work/cp-dst" || die "cp -a"
cp_s=$(secs "$t0" "$(now)")
rm -rf "$work/cp-dst"
log "cp -a of $n files: $cp_s s"

# ---- A: node 1 gets the tree; node 2 knows it and is stopped -----------------------
node_start 1 "2 3 4" "grace_s=86400,snapshot_lag_ops=0"
node_start 2 "1"
for _ in $(seq 1 300); do [ "$(st 1 peers_up)" = 1 ] && break; sleep 0.1; done
node_stop 2
t0=$(now)
fill "$(node_mnt 1)/tree" || die "fill node 1"
fill_s=$(secs "$t0" "$(now)")
log "node 1: $n files written in $fill_s s; oplog_ops $(st 1 oplog_ops)"

# ---- B: join by op replay ------------------------------------------------------------------
ops_s=skipped ops_cpu=- ops_srv=- ops_seen=-
join_ops=${MFS_JOIN_OPS:-auto}
if [ "$join_ops" = 1 ] || { [ "$join_ops" = auto ] && [ "$n" -le 200000 ]; }; then
	c1=$(daemon_cpu "$(node_data 1)")
	t0=$(now)
	node_start 3 "1"
	wait_seen 3 3600 || log "node 3 did not see $n files"
	ops_s=$(secs "$t0" "$(now)")
	ops_seen=$(find "$(node_mnt 3)/tree" -type f | wc -l)
	ops_cpu=$(daemon_cpu "$(node_data 3)") ops_srv=$(delta "$c1" "$(daemon_cpu "$(node_data 1)")")
	log "op replay: node 3 sees $n files after $ops_s s (snapshots_applied $(st 3 snapshots_applied))"
	node_stop 3
fi

# ---- C: join by snapshot ---------------------------------------------------------------------
node_stop 1
node_start 1 "2 3 4" "grace_s=10"
c1=$(daemon_cpu "$(node_data 1)")
t0=$(now)
node_start 4 "1"
perf_start 1 4
wait_seen 4 3600 || log "node 4 did not see $n files"
snap_s=$(secs "$t0" "$(now)")
perf_stop 1 4
snap_cpu=$(daemon_cpu "$(node_data 4)") snap_srv=$(delta "$c1" "$(daemon_cpu "$(node_data 1)")")
seen=$(find "$(node_mnt 4)/tree" -type f | wc -l)
log "snapshot: node 4 sees $n files after $snap_s s; find counts $seen"
made=$(grep -h 'INFO snapshot: snapshot ' "$(node_data 1)/modelfs.log" | tail -n 1 | sed 's/.*snapshot: //')
boot=$(grep -h 'bootstrapped from' "$(node_data 4)/modelfs.log" | tail -n 1 | sed 's/.*snapshot: //')
load1=$(cut -d ' ' -f 1-3 /proc/loadavg)

# ---- D: op log size under a steady write load ------------------------------------------------
node_start 2 "1"
wait_seen 2 600 || log "node 2 did not see $n files"
# Node 3, stopped, holds node 1's log until grace_s has passed: start from a trimmed log.
for _ in $(seq 1 120); do [ "$(st 1 oplog_ops)" = 0 ] && break; sleep 1; done
mkdir "$(node_mnt 1)/steady" && "$work/smallfiles" -s 100 -p 1000 -t "$write_s" "$(node_mnt 1)/steady" 100000000 >"$work/steady.out" &
writer=$!
samples=$work/oplog.tsv
t0=$(now)
while :; do
	t=$(secs "$t0" "$(now)")
	# One status per node per sample: each walks the whole store.
	IFS=$'\t' read -r seq1 ops1 trim1 < <(stm 1 oplog_seq oplog_ops oplog_trimmed)
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$seq1" "$ops1" "$(st 2 oplog_ops)" \
		"$(st 4 oplog_ops)" "$trim1" >>"$samples"
	[ "$(echo "$t" | cut -d. -f1)" -ge $((write_s + 10)) ] && break
	sleep 5
done
wait "$writer"
writer=
load2=$(cut -d ' ' -f 1-3 /proc/loadavg)

# ---- report ------------------------------------------------------------------------------------
cat <<EOF

## Join time: a fresh node sees $n small files ($(date -u +%FT%TZ))
load average: start $load0, after the joins $load1, end $load2; $(nproc) CPUs
command: make bench-join MFS_JOIN_N=$n

| what | seconds | vs cp -a | joiner CPU-s | server CPU-s |
|---|---:|---:|---:|---:|
| native cp -a of the tree (warm cache) | $cp_s | 1.00 | - | - |
| join by op replay (snapshot_lag_ops=0) | $ops_s | $( [ "$ops_s" = skipped ] && echo - || awk -v a="$ops_s" -v b="$cp_s" 'BEGIN { printf "%.2f", a / b }') | $ops_cpu | $ops_srv |
| join by snapshot (defaults) | $snap_s | $(awk -v a="$snap_s" -v b="$cp_s" 'BEGIN { printf "%.2f", a / b }') | $snap_cpu | $snap_srv |

Join = from mount.modelfs starting until the last file written on node 1 shows
in the joiner's mount (then \`find\` counted $ops_seen files on the op-replay
joiner, $seen on the snapshot joiner).  Node 1 filled in $fill_s s.
Snapshot made: $made
Bootstrap: $boot

## Op log size under a steady write load (writer on node 1, nodes 2 and 4 pulling)
| t (s) | ops made on node 1 | oplog_ops node 1 | node 2 | node 4 | ops dropped on node 1 |
|---:|---:|---:|---:|---:|---:|
EOF
awk -F '\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$samples"
echo
echo "writer: $(cat "$work/steady.out")"
