#!/bin/bash
# Loads from many peers (issue 13 item 4): a fresh node reads a model held by
# ONE node, then the same model held by THREE, with every holder's uplink
# rate-limited so that links, not the 2 CPUs, are the limit.  Prints one
# markdown table; ratios are against the 1-holder row of the same run.
# A benchmark, not a test: no pass/fail on figures.
#
#   make bench-manypeer        (from the build directory), or
#   MFS_BUILD=/path/to/build tests/bench/bench-manypeer.sh
#
# Layout: nodes 1..4, each in its own network namespace, on a private bridge
# (tests/fs/cluster.sh netns mode: 10.77.0.2..5).  Every holder's egress (the
# namespace side of its veth) gets `tc qdisc add dev VETH root tbf rate RATE
# burst 256kb latency 50ms` once it holds the model; the reader (node 4) is
# not limited.  Each phase starts from empty stores:
#   1 holder   node 1 writes the model (factor 1); a fresh node 4, naming
#              node 1, joins (it then owns about half of the chunks, and its
#              replication pulls them while it reads, as in production).
#   3 holders  nodes 1, 2, 3 (each naming the others); the model written on
#              node 1 in a directory with user.modelfs.repl=3; once nodes 2
#              and 3 hold it, a fresh node 4 naming node 1 joins (it owns
#              about 3/4 of the chunks).
# Each is set up twice: once for the time to first tensor on node 4 right
# after it joins (tests/bench/first_tensor.py), once for a cold sequential
# read of the whole file on node 4 right after it joins (dd bs=16M), with
# the bytes node 4 fetched over that read against the file's size, the
# bytes each holder served, and CPU-seconds per GiB of every daemon over
# the read (user+sys from /proc/PID/stat).
# Knobs (environment):
#   MFS_BENCH_SIZE_MIB=256      model size
#   MFS_BENCH_RATE=400mbit      each holder's egress limit (tc tbf rate)
#   MFS_BENCH_MOUNT_OPTS=       extra -o options for every node
#   MFS_WEIGHTS_DIR=/var/tmp/modelfs-weights   real weights (fetch_weights.sh)
#   MFS_BENCH_PERF=FILE         perf record -g of node 4 over each read, to FILE.1, FILE.3
# Needs root, network namespaces, tc with sch_tbf.
# SPDX-License-Identifier: Apache-2.0
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi

here=$(cd "$(dirname "$0")" && pwd)
MFS_SRC=${MFS_SRC:-$(cd "$here/../.." && pwd)}
MFS_BUILD=${MFS_BUILD:-$PWD}
export MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-1800}
size_mib=${MFS_BENCH_SIZE_MIB:-256}
rate=${MFS_BENCH_RATE:-400mbit}
python=/usr/bin/python3
weights_dir=${MFS_WEIGHTS_DIR:-/var/tmp/modelfs-weights}
perf_out=${MFS_BENCH_PERF:-}

# shellcheck source=tests/fs/lib.sh
. "$MFS_SRC/tests/fs/lib.sh"
# shellcheck source=tests/fs/cluster.sh
. "$MFS_SRC/tests/fs/cluster.sh"
# shellcheck source=tests/bench/bench-lib.sh
. "$here/bench-lib.sh"
mfs_init
command -v tc >/dev/null || skip_all "no tc"
CL_TRIES=3000
CL_OPTS=${MFS_BENCH_MOUNT_OPTS:-}
cl_init 4 netns
work=$WORK
log() { printf 'bench-manypeer: %s\n' "$*" >&2; }

load_start=$(cut -d ' ' -f 1-3 /proc/loadavg)
pool=$(bash "$here/fetch_weights.sh" "$weights_dir") || mfs_abort "no weights"
src=$work/model.safetensors
"$python" "$here/make_model.py" --pool "$pool" --out "$src" --size-mib "$size_mib" --seed 7 >&2 ||
	mfs_abort "no model"
size=$(stat -c %s "$src")

limit() { # NODE: its egress to RATE
	ip netns exec "${_cl_ns[$1]}" tc qdisc replace dev "mn$$-$1" root tbf rate "$rate" \
		burst 256kb latency 50ms
}


rows=()
base_mbs=
declare -A ttft=()

# setup HOLDERS: empty stores; nodes 1..HOLDERS hold the model (factor
# HOLDERS), their egress limited.  join: a fresh node 4 naming node 1
# starts; it returns once node 4 shows the file (namespace from node 1;
# its peers it learns from the member table).
setup() {
	local k=$1 i j f=${CL_M[1]}/d/model.safetensors
	for i in $(cl_live); do cl_stop "$i" || return 1; done
	for ((i = 1; i <= 4; i++)); do
		rm -rf "${CL_D[$i]}"
		CL_PEERS[$i]=
	done
	for ((i = 1; i <= k; i++)); do
		for ((j = 1; j <= k; j++)); do [ "$j" = "$i" ] || CL_PEERS[$i]+=" $j"; done
	done
	CL_PEERS[4]=1
	for ((i = 1; i <= k; i++)); do cl_start "$i" || return 1; done
	[ "$k" = 1 ] || cl_wait_formed $(seq 1 "$k") || return 1
	mkdir "${CL_M[1]}/d" && setfattr -n user.modelfs.repl -v "$k" "${CL_M[1]}/d" &&
		cp "$src" "$f" || return 1
	[ "$k" = 1 ] || cl_wait_backlog0 $(seq 1 "$k") || return 1
	for ((i = 1; i <= k; i++)); do limit "$i" || return 1; done
	sync && echo 3 >/proc/sys/vm/drop_caches
}
join() {
	cl_start 4 && wait_for "$CL_TRIES" test -f "${CL_M[4]}/d/model.safetensors"
}

# first_tensor HOLDERS: time to first tensor on node 4, right after it joined.
first_tensor() {
	setup "$1" && join || return 1
	ttft[$1]=$("$python" "$here/first_tensor.py" "${CL_M[4]}/d/model.safetensors" |
		"$python" -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["total_s"])')
}

# cold_read HOLDERS: node 4 reads the whole model right after it joined
# (its replication of the chunks it now owns yields to the read, and shares
# its fetches).  Its bytes fetched and every daemon's CPU are counted from
# before it started; the holders' served bytes too.
cold_read() {
	local k=$1 i r=${CL_M[4]}/d/model.safetensors
	local t0 t1 secs mbs fetched0 fetched cpu_r cpu_h="" all=0 c shares=""
	local -A cpu0=() served0=()

	setup "$k" || return 1
	for i in $(cl_live); do cpu0[$i]=$(daemon_cpu "${CL_D[$i]}"); done
	cpu0[4]=0
	for ((i = 1; i <= k; i++)); do served0[$i]=$(cl_get "$i" served_bytes); done
	fetched0=0
	join || return 1
	[ -z "$perf_out" ] || { perf record -g -q -o "$perf_out.$k" -p "$(cat "${CL_D[4]}/modelfs.pid")" & }
	t0=$(date +%s%N)
	dd if="$r" of=/dev/null bs=16M status=none || return 1
	t1=$(date +%s%N)
	[ -z "$perf_out" ] || { kill -INT $! && wait $!; }
	fetched=$(($(cl_get 4 fetched_bytes) - fetched0))
	for i in $(cl_live); do
		c=$(delta "${cpu0[$i]}" "$(daemon_cpu "${CL_D[$i]}")")
		all=$(add "$all" "$c")
		if [ "$i" = 4 ]; then cpu_r=$(per_gib "$c" "$size")
		else cpu_h+="${cpu_h:+ / }$(per_gib "$c" "$size")"; fi
	done
	for ((i = 1; i <= k; i++)); do
		shares+="${shares:+ / }$(awk -v a="$(($(cl_get "$i" served_bytes) - served0[$i]))" -v s="$size" 'BEGIN { printf "%.2f", a / s }')"
	done
	secs=$(awk -v n=$((t1 - t0)) 'BEGIN { printf "%.2f", n / 1e9 }')
	mbs=$(awk -v b="$size" -v n=$((t1 - t0)) 'BEGIN { printf "%.0f", b / (n / 1e9) / 1e6 }')
	[ -n "$base_mbs" ] || base_mbs=$mbs
	cmp "$src" "$r" || { echo "node 4 read other bytes than written" >&2; return 1; }
	rows+=("| $k | $secs | $mbs | $(awk -v a="$mbs" -v b="$base_mbs" 'BEGIN { printf "%.2fx", a / b }') | ${ttft[$k]:-n/a} | $(awk -v a="$fetched" -v s="$size" 'BEGIN { printf "%.2f", a / s }') | $shares | $cpu_r | $cpu_h | $(per_gib "$all" "$size") | $(cut -d ' ' -f 1-3 /proc/loadavg) |")
}

check "1 holder: time to first tensor on a fresh node" first_tensor 1
check "3 holders: time to first tensor on a fresh node" first_tensor 3
check "1 holder: a fresh node reads the model cold" cold_read 1
check "3 holders: a fresh node reads the model cold" cold_read 3
for i in $(cl_live); do check "stop node $i" cl_stop "$i"; done

cat <<EOF
# bench-manypeer: $size bytes (make_model.py --seed 7, real FP16 weights), holders' egress tbf $rate
# command: $0${*:+ $*}; load average at start $load_start
# read s: dd of the whole file from when node 4 shows it; fetched, served and CPU: from
# before node 4 started until the read ended (node 4's replication included)

| holders | read s | MB/s | vs 1 holder (target 3: >= 2.5x) | first tensor s | node 4 fetched / size | served / size per holder | reader CPU-s/GiB | holders CPU-s/GiB | all CPU-s/GiB | load avg after |
|---|---|---|---|---|---|---|---|---|---|---|
EOF
printf '%s\n' "${rows[@]}"
cl_done
