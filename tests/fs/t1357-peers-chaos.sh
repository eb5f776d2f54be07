#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Peer chaos: random faults against a random workload, with a seed.  Nodes
# (MFS_CHAOS_NODES, 3) in network namespaces; directory R has factor 2, S
# factor 1; background gc runs every 2 s with no grace, and a node down
# for grace_s (4 s) leaves placement (so that re-replication and the trim
# of copies beyond the factor run during the faults).  Each step writes
# files (tests/tools/chaos.py: bytes that follow from the seed) on a live
# node, sometimes deletes one, waits for the names to converge and for
# replication, then strikes one fault at node V:
#   kill   SIGKILL mid-read of a reader on another node, restart
#   stop   SIGSTOP mid-read (a peer that stops answering), SIGCONT
#   cut    link down (partition); writes and gc on the other side; link up
#   slow   link limited by tc tbf both ways with short queues; lifted
#   rot    a chunk record flipped on V's disk (V and another node stopped,
#          the chunk chosen among those both hold, so a good copy lives)
#   gc     V killed; gc --apply --grace 0 on every other node; restart
# While the fault lasts, every other live node reads every file: factor-2
# files must read exact (their other holder lives: replication was done
# before the fault), factor-1 files exact or EIO; never wrong bytes, an
# other error, or a hang (the reads end, wait_until is the bound).  The
# reader caught mid-file ends exact, or with EIO if the file has factor 1
# or the reader is on the slowed node (a chunk slower than peer_timeout_ms
# to arrive is a chunk that does not come).  After the fault heals:
# every daemon up, every peer seen, and every node reads every file exact
# without a remount; the backlog drains.  Every third step, and at the end:
# fsck clean on every node, and factor 2 holds: with any one node killed,
# the others read every factor-2 file exact.
#
# MFS_CHAOS_SEED (printed) replays the choices (the nodes' timing aside);
# MFS_CHAOS_STEPS (3) steps of files up to MFS_CHAOS_MAXMB (8) MiB.  `make chaos` runs it longer.
# shellcheck source-path=SCRIPTDIR
MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-900}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
[ -x "$CHUNK_TOOL" ] || skip_all "no $CHUNK_TOOL (make check builds it)"
command -v tc >/dev/null || skip_all "no tc"
N=${MFS_CHAOS_NODES:-3}
STEPS=${MFS_CHAOS_STEPS:-3}
MAXMB=${MFS_CHAOS_MAXMB:-8}
seed=${MFS_CHAOS_SEED:-$((RANDOM * 32768 + RANDOM))}
CHAOS=$MFS_SRC/tests/tools/chaos.py
# The scan that finds the chunks a node gone past grace left this node to
# own, and the queued ones no file needs, every 2 s rather than 30.
export MODELFS_TEST_SCAN_MS=2000
CL_OPTS=gc_interval_s=2,gc_grace_s=0,grace_s=4
cl_init "$N" netns
say "seed $seed: MFS_CHAOS_SEED=$seed replays these choices"
RANDOM=$seed
REFS=$WORK/refs        # NAME SHA SIZE of every file that should exist
: >"$REFS"
ROT_RE='checksum|corrupt|mismatch|verif|quarantin'

check "start $N nodes in network namespaces" cl_start_all || mfs_abort "no cluster"
mkdirs() {
	mkdir "${CL_M[1]}/R" "${CL_M[1]}/S" &&
		setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/R" &&
		setfattr -n user.modelfs.repl -v 1 "${CL_M[1]}/S" &&
		cl_wait_converged meta
}
check "make R (factor 2) and S (factor 1), seen everywhere" mkdirs || mfs_abort "no dirs"

# ---- helpers ------------------------------------------------------------------

# pick VAR WORD...: VAR is one of the words, at random.  (Not $(...): a
# subshell reseeds RANDOM, and the run would not follow from the seed.)
pick() {
	local _v=$1
	shift
	local a=("$@")
	printf -v "$_v" '%s' "${a[RANDOM % ${#a[@]}]}"
}
others() { # others V: the live mounted nodes but V
	local i out=()
	for i in $(cl_mounts); do
		[ "$i" != "$1" ] && out+=("$i")
	done
	echo "${out[*]}"
}
refs_of() { # refs_of DIR: the lines of REFS in DIR (R or S)
	grep "^$1/" "$REFS" || true
}

# write_file I: a new file in R or S, written on node I.
nfile=0
write_file() {
	local i=$1 d name size out
	pick d R R S
	nfile=$((nfile + 1))
	name=$d/f$nfile
	size=$(((RANDOM % (MAXMB * 4) + 1) * 262144 + RANDOM % 4096))
	out=$("$PY" "$CHAOS" write "${CL_M[$i]}/$name" "$((seed + nfile))" "$size") || return 1
	echo "$name $out" >>"$REFS"
	echo "write $name ($size bytes) on node $i"
}
delete_file() {
	local i=$1 name
	local n
	n=$(wc -l <"$REFS")
	[ "$n" -gt 0 ] || return 0
	name=$(awk -v k=$((RANDOM % n + 1)) 'NR == k { print $1 }' "$REFS")
	rm -f "${CL_M[$i]}/$name" || return 1
	# (grep -v fails when no line is left: the last file deleted)
	{ grep -v "^$name " "$REFS" || true; } >"$REFS.new" && mv "$REFS.new" "$REFS"
	echo "delete $name on node $i"
}

# readall I TAG: node I reads every file; $WORK/TAG.out holds a line each.
# Prints the exit status (0 all exact, 1 some EIO, 2 something bad).
readall() {
	local rc
	rm -f "$WORK/$2.out"
	"$PY" "$CHAOS" readall "${CL_M[$1]}" "$REFS" "$WORK/$2.out"
	rc=$?
	echo "$rc"
}
# during_reads V: every live mount but V reads every file while V's fault
# lasts.  Factor-2 files must be exact, factor-1 exact or EIO.
during_reads() {
	local v=$1 i rc
	for i in $(others "$v"); do
		rc=$(readall "$i" "during$i")
		if [ "$rc" = 2 ] || grep -q '^eio R/' "$WORK/during$i.out"; then
			echo "node $i, fault at node $v: reads went wrong:" >&2
			grep -v '^ok ' "$WORK/during$i.out" >&2
			return 1
		fi
		[ "$rc" = 1 ] && echo "  node $i: $(grep -c '^eio ' "$WORK/during$i.out") factor-1 file(s) EIO while node $v is out"
	done
	return 0
}
all_exact() { # all_exact: every live mount reads every file exact
	local i
	for i in $(cl_mounts); do
		[ "$(readall "$i" "after$i")" = 0 ] || return 1
	done
}
wait_all_exact() {
	wait_for 20 all_exact && return 0
	local i
	for i in $(cl_mounts); do
		grep -v '^ok ' "$WORK/after$i.out" | sed "s/^/node $i: /" >&2
	done
	return 1
}

# mid_reader I: a reader on node I caught mid-file (the largest file) by the
# fault; reader_ended: its result, exact or EIO.
mid_reader() {
	local sha size
	MID_NAME=$(sort -k3 -n "$REFS" | tail -n 1 | awk '{ print $1 }')
	[ -n "$MID_NAME" ] || return 0
	read -r _ sha size < <(grep "^$MID_NAME " "$REFS")
	rm -f "$WORK"/mid.*
	"$PY" "$CHAOS" midread "${CL_M[$1]}/$MID_NAME" "$sha" "$size" "$WORK/mid" &
	wait_until test -e "$WORK/mid.ready"
}
reader_ended() {
	[ -n "${MID_NAME:-}" ] || return 0
	touch "$WORK/mid.go"
	wait_until test -e "$WORK/mid.out" || { echo "the reader mid-file hangs" >&2; return 1; }
	local got
	got=$(cat "$WORK/mid.out")
	echo "  reader mid-file of $MID_NAME: $got"
	# Exact, or EIO for a factor-1 file (its one holder may be out), or for
	# any file read on the slowed node itself (with "any"): every copy it
	# lacks comes over its slow link, and a chunk that takes longer than
	# peer_timeout_ms to arrive cannot be told from one that never will.
	case ${1:-}:$MID_NAME:$got in
	*:*:ok | *:S/*:eio* | any:*:eio*) MID_NAME= && return 0 ;;
	esac
	MID_NAME=
	echo "the reader mid-file went wrong: $got" >&2
	return 1
}

limit() { # limit V: tbf both ways on V's link
	local r
	pick r 2mbit 8mbit 40mbit
	echo "  rate $r"
	ip netns exec "${_cl_ns[$1]}" tc qdisc replace dev "mn$$-$1" root tbf rate "$r" burst 32kb limit 48kb &&
		tc qdisc replace dev "${_cl_veth[$1]}" root tbf rate "$r" burst 32kb limit 48kb
}
unlimit() {
	ip netns exec "${_cl_ns[$1]}" tc qdisc del dev "mn$$-$1" root
	tc qdisc del dev "${_cl_veth[$1]}" root
}

# rot V: a chunk record on V's disk flipped, one that another node holds too.
rot() {
	local v=$1 w h n
	pick w $(others "$v")
	cl_kill9 "$v" && cl_kill9 "$w" || return 1
	"$CHUNK_TOOL" "${CL_D[$v]}" list | awk '{ print $1 }' | sort >"$WORK/rot.v" &&
		"$CHUNK_TOOL" "${CL_D[$w]}" list | awk '{ print $1 }' | sort >"$WORK/rot.w" || return 1
	comm -12 "$WORK/rot.v" "$WORK/rot.w" >"$WORK/rot.both"
	n=$(wc -l <"$WORK/rot.both")
	h=
	[ "$n" -gt 0 ] && h=$(sed -n "$((RANDOM % n + 1))p" "$WORK/rot.both")
	if [ -n "$h" ]; then
		"$CHUNK_TOOL" "${CL_D[$v]}" corrupt "$h" || return 1
		echo "  chunk $h flipped on node $v (node $w holds it too)"
		mfs_log_allow "${CL_D[$v]}" "$ROT_RE"
	fi
	cl_restart "$w" && cl_restart "$v"
}

gc_on() { expect_status 0 admin gc --apply --grace 0 --json "${CL_M[$1]}"; }

# ---- one step --------------------------------------------------------------

step() {
	local k=$1 i v w kind n
	pick w $(cl_mounts)
	for ((n = 1 + RANDOM % 2; n > 0; n--)); do
		write_file "$w" || return 1
	done
	if [ $((RANDOM % 4)) = 0 ]; then
		pick i $(cl_mounts)
		delete_file "$i" || return 1
	fi
	cl_wait_converged meta >/dev/null || { echo "names do not converge" >&2; return 1; }
	cl_wait_backlog0 || return 1
	v=$((1 + RANDOM % N))
	pick kind ${MFS_CHAOS_FAULTS:-kill stop cut slow rot gc}
	pick w $(others "$v")
	echo "fault $kind at node $v (reader on node $w)"
	case $kind in
	kill)
		mid_reader "$w" && cl_kill9 "$v" && reader_ended && during_reads "$v" &&
			cl_restart "$v"
		;;
	stop)
		mid_reader "$w" && cl_sigstop "$v" && reader_ended && during_reads "$v" &&
			cl_let_go
		;;
	cut)
		mid_reader "$w" && cl_partition "$v" && reader_ended && during_reads "$v" &&
			write_file "$w" && gc_on "$w" && cl_heal "$v"
		;;
	slow)
		limit "$v" && mid_reader "$v" && reader_ended any && during_reads "$v" &&
			unlimit "$v"
		;;
	rot)
		rot "$v"
		;;
	gc)
		cl_kill9 "$v" || return 1
		for i in $(others "$v"); do
			gc_on "$i" || return 1
		done
		during_reads "$v" && cl_restart "$v"
		;;
	esac
}
after_step() {
	local i
	for i in $(seq 1 "$N"); do
		_cl_pid_ok "${CL_D[$i]}" && mountpoint -q "${CL_M[$i]}" ||
			{ echo "node $i: daemon or mount gone" >&2; return 1; }
	done
	cl_wait_formed && cl_wait_converged meta >/dev/null && wait_all_exact && cl_wait_backlog0
}

fsck_clean() { admin fsck --json "${CL_M[$1]}" >"$WORK/fsck$1.json" 2>&1; }
all_clean() {
	local i
	for i in $(seq 1 "$N"); do
		wait_for "$CL_TRIES" fsck_clean "$i" && continue
		echo "node $i: fsck not clean:" >&2
		head -c 2000 "$WORK/fsck$i.json" >&2
		return 1
	done
}
# factor2_holds: with any one node killed, the others read R exact.
factor2_holds() {
	local v i rc
	refs_of R >"$WORK/refs.R"
	for v in $(seq 1 "$N"); do
		cl_kill9 "$v" || return 1
		for i in $(others "$v"); do
			rm -f "$WORK/f2.out"
			"$PY" "$CHAOS" readall "${CL_M[$i]}" "$WORK/refs.R" "$WORK/f2.out"
			rc=$?
			if [ "$rc" != 0 ]; then
				echo "node $v killed: node $i does not read every factor-2 file:" >&2
				grep -v '^ok ' "$WORK/f2.out" >&2
				cl_restart "$v"
				return 1
			fi
		done
		cl_restart "$v" && cl_wait_formed || return 1
	done
}

# run_step K: step K, its story noted; whatever happened, the fault is
# lifted and every node is up again after it.
run_step() {
	local k=$1 rc i
	step "$k" >"$WORK/step.$k" 2>&1
	rc=$?
	note "step $k: $(tr '\n' ';' <"$WORK/step.$k")"
	[ "$rc" = 0 ] || cat "$WORK/step.$k" >&2
	cl_let_go
	for i in $(seq 1 "$N"); do
		cl_heal "$i" 2>/dev/null
		unlimit "$i" 2>/dev/null
		if ! _cl_pid_ok "${CL_D[$i]}"; then
			echo "node $i down after the step: restarted" >&2
			umount -l "${CL_M[$i]}" 2>/dev/null
			cl_restart "$i" || rc=1
		fi
	done
	return "$rc"
}

for k in $(seq 1 "$STEPS"); do
	check "step $k: workload and a fault; reads exact or EIO meanwhile" run_step "$k"
	check "step $k: healed: every daemon up, every file exact on every node" after_step
	if [ $((k % 3)) = 0 ] || [ "$k" = "$STEPS" ]; then
		check "step $k: fsck clean on every node" all_clean
		check "step $k: factor 2 holds: any one node killed, the others read R" factor2_holds
		check "step $k: healed again" after_step
	fi
done

cl_done
