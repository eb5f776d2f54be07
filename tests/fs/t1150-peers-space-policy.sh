#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Space follows policy.  Three nodes with gc on a short timer
# (gc_interval_s=1, gc_grace_s=3).  Node 1 writes 64 MiB in /d; `setrepl
# -r 3 /d`: every chunk gets 3 copies (info's replicas_min) and the three
# stores together hold ~3 copies (status stored_bytes).  `setrepl -r 1 /d`:
# the copies beyond the factor are dropped by their holders once the
# owners confirm theirs; the three stores return to ~1 copy, every chunk
# has exactly 1 copy, the holders logged the drop, fsck is clean (no
# under- or over-replicated chunk), and the file reads back byte-identical
# on every node.  The sizes before and after are printed.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
[ -w /proc/sys/vm/drop_caches ] || skip_all "cannot drop the page cache"
CL_OPTS=gc_interval_s=1,gc_grace_s=3
cl_init 3

S=$WORK/src
M1=${CL_M[1]}
SIZE=$((64 * MiB))
sum=
three=
check "start 3 nodes" cl_start_all || mfs_abort "no cluster"

xa() { getfattr --only-values -n "user.modelfs.$2" "$1"; }
total_stored() {
	local i t=0 v
	for i in 1 2 3; do
		v=$(cl_get "$i" stored_bytes) || return 1
		t=$((t + v))
	done
	echo "$t"
}
sizes() { # LABEL: each node's stored_bytes and the total, in the log
	local i line="$1: stored_bytes"
	for i in 1 2 3; do
		line+=" node$i=$(cl_get "$i" stored_bytes)"
	done
	line+=" (disk_bytes"
	for i in 1 2 3; do
		line+=" node$i=$(cl_get "$i" disk_bytes)"
	done
	line+=")"
	say "$line total=$(total_stored) (one copy of the file: $SIZE bytes raw)"
}

write_d() {
	mkdir -p "$S" "$M1/d" &&
	randfile "$S/w" "$SIZE" && sum=$(file_sha "$S/w") &&
	cp "$S/w" "$M1/d/weights.bin" && cl_wait_converged meta && cl_wait_backlog0
}
check "node 1 writes 64 MiB in /d" write_d || mfs_abort "no data"
sizes "after the write"

copies_are() { # N: every chunk of the file has exactly N copies in the nodes' stores
	[ "$(xa "$M1/d/weights.bin" replicas_min)" = "$1" ] &&
	[ "$(xa "$M1/d/weights.bin" replicas_max)" = "$1" ]
}
wait_copies() {
	wait_for "$CL_TRIES" copies_are "$1" && return 0
	echo "replicas of d/weights.bin: min $(xa "$M1/d/weights.bin" replicas_min)" \
		"max $(xa "$M1/d/weights.bin" replicas_max), not $1" >&2
	return 1
}
check "setrepl -r 3 /d" expect_status 0 admin setrepl -r 3 "$M1/d"
check "every chunk reaches 3 copies" wait_copies 3 || mfs_abort "no 3 copies"
sizes "at factor 3"

at_three() {
	three=$(total_stored) &&
	[ "$three" -ge $((3 * SIZE)) ] || { echo "3 copies take $three bytes, < 3 x $SIZE" >&2; return 1; }
}
check "the stores hold 3 copies (>= 3 x 64 MiB: random bytes do not compress)" at_three

check "setrepl -r 1 /d" expect_status 0 admin setrepl -r 1 "$M1/d"
one_copy() { [ "$(total_stored)" -le $((three / 3 + three / 30)) ]; }
back_to_one() {
	wait_for "$CL_TRIES" one_copy && copies_are 1 && return 0
	echo "the stores hold $(total_stored) bytes, more than a third of $three (+10%)" >&2
	_cl_report stored_bytes 1 2 3
	return 1
}
check "the stores return to ~1 copy; every chunk has exactly 1" back_to_one
sizes "back at factor 1"
note "space: 64 MiB file, 3 nodes: at -r 3 $three bytes stored in all; after -r 1 $(total_stored)"

dropped_logged() {
	local i n=0
	for i in 1 2 3; do
		grep -q "copies .* held beyond their files' factors" "${CL_D[$i]}/modelfs.log" && n=$((n + 1))
	done
	[ "$n" -ge 2 ] || { echo "only $n nodes logged dropped copies" >&2; return 1; }
}
check "at least two nodes logged the copies they dropped" dropped_logged

fsck_clean() {
	admin fsck --json "$M1" >"$WORK/fsck.json" 2>&1 || { cat "$WORK/fsck.json" >&2; return 1; }
	expect_eq "$(json_get ok <"$WORK/fsck.json")" true '"ok"' &&
	expect_eq "$(json_get over_replicated_chunks <"$WORK/fsck.json")" 0 over_replicated_chunks &&
	expect_eq "$(json_get under_replicated_chunks <"$WORK/fsck.json")" 0 under_replicated_chunks
}
check "fsck: clean, no chunk under- or over-replicated" fsck_clean

read_all() {
	local i
	echo 3 >/proc/sys/vm/drop_caches
	for i in 1 2 3; do
		expect_sha "${CL_M[$i]}/d/weights.bin" "$sum" || return 1
	done
}
check "the file reads back byte-identical on every node" read_all
check "fsck still clean after the reads" expect_status 0 admin fsck "$M1"

cl_done
