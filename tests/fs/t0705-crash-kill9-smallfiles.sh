#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kill -9 of the daemon while small files are written one after another,
# each commit one batch (records, manifest and entry: mfs_ingest_small and
# mfs_ns_publish_with).  Every file whose close() returned reads whole
# after the store is remounted; the one in flight at the kill is absent or
# whole; `modelfs-admin fsck --data` reports the stopped store clean.  Then
# the same with four writers at once (their closes share syncs).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
N=400

check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

sources() {
	local i
	mkdir -p "$S" || return 1
	for ((i = 0; i < N; i++)); do
		# 1 byte to 60 KiB: one chunk each, the small commit's whole range
		randfile "$S/f$i" $(((i * 7919) % (60 * 1024) + 1)) || return 1
	done
	(cd "$S" && sha256sum f*) >"$WORK/sums"
}
check "make $N source files of 1 B to 60 KiB" sources || mfs_abort "no sources"

# writer DIR FIRST STEP: copies f FIRST, FIRST+STEP, ... into DIR, noting
# each name once cp (whose close commits) returned
writer() {
	local i
	for ((i = $2; i < N; i += $3)); do
		cp "$S/f$i" "$1/f$i" 2>/dev/null || return 0
		echo "f$i" >>"$WORK/closed.$2"
	done
}

closes_at_least() { [ "$(cat "$WORK"/closed.* | wc -l)" -ge "$1" ]; }

# kill_writers DIR JOBS: JOBS writers into DIR, the daemon killed once 150
# closes returned
kill_writers() {
	local pids=() j
	rm -f "$WORK"/closed.*
	mkdir "$M/$1" || return 1
	for ((j = 0; j < $2; j++)); do
		touch "$WORK/closed.$j"
		writer "$M/$1" "$j" "$2" &
		pids+=($!)
	done
	if ! wait_for 1200 closes_at_least 150; then
		echo "fewer than 150 closes in 120 s" >&2
		return 1
	fi
	mfs_kill9 "$M" || return 1
	wait "${pids[@]}"
	return 0
}

# closed_whole DIR: every closed file whole, the others absent or whole
closed_whole() {
	local n other
	n=$(cat "$WORK"/closed.* | wc -l)
	# the closed ones: each must be there
	grep -F -w -f <(cat "$WORK"/closed.*) "$WORK/sums" >"$WORK/want" &&
	[ "$(wc -l <"$WORK/want")" -eq "$n" ] || return 1
	(cd "$M/$1" && sha256sum --quiet -c "$WORK/want") || return 1
	# the rest: those present must be whole (an in-flight commit landed)
	(cd "$M/$1" && ls) >"$WORK/present" || return 1
	grep -F -w -v -f <(cat "$WORK"/closed.*) "$WORK/present" >"$WORK/others"
	other=$(wc -l <"$WORK/others")
	if [ "$other" -gt 0 ]; then
		grep -F -w -f "$WORK/others" "$WORK/sums" >"$WORK/want2" &&
		(cd "$M/$1" && sha256sum --quiet -c "$WORK/want2") || return 1
	fi
	note "$1: $n closed files whole, $other more whole (in flight at the kill)"
	[ "$n" -ge 150 ]
}

killed() {
	kill_writers "$1" "$2" &&
	expect_status 0 admin fsck --data "$D" &&
	mfs_mount "$M" "$D" &&
	closed_whole "$1"
}
check "one writer killed: every closed file whole after remount, fsck clean" killed one 1
check "four writers killed: every closed file whole after remount, fsck clean" killed four 4

check "umount" mfs_umount "$M"
final_fsck() {
	expect_status 0 admin fsck --json --data "$D" &&
	expect_eq "$(json_get ok <"$WORK/.cmd.out")" true '"ok" in fsck --json'
}
check "offline fsck --json of the final store: exit 0, ok true" final_fsck

mfs_done
