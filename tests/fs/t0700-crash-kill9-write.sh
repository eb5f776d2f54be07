#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kill -9 of the daemon during writes.  An existing file (v1) being
# overwritten with v2 and killed mid-write reads v1 after the dead mount is
# cleared and the store remounted; a brand-new file killed mid-write is
# absent; a kill while close() commits (128 MiB) leaves v1 or v3 whole,
# never a mix.
# Each time `modelfs-admin fsck --data` reports the stopped store clean and
# the store opens again.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
declare -A sum=()

check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

sources() {
	randfile "$S/v1" $((24 * MiB)) && sum[v1]=$(file_sha "$S/v1") &&
	randfile "$S/v2" $((40 * MiB)) && sum[v2]=$(file_sha "$S/v2") &&
	randfile "$S/v3" $((128 * MiB)) && sum[v3]=$(file_sha "$S/v3") &&
	cp "$S/v1" "$M/f" && cp "$S/v1" "$M/g" && cp "$S/v1" "$M/keep" &&
	expect_sha "$M/f" "${sum[v1]}"
}
check "store v1 in f, g and keep" sources || mfs_abort "no sources"

# kill_during_hold NAME: a writer overwrites or creates NAME with the first
# half of v2 and holds it open; the daemon is killed under it.
kill_during_hold() {
	local wpid
	rm -f "$WORK/ready"
	"$PY" "$HELPER" hold-writer "$M/$1" "$S/v2" "$WORK/ready" >"$WORK/writer.out" 2>&1 &
	wpid=$!
	if ! wait_for 600 test -e "$WORK/ready"; then
		echo "the writer did not write its first half in 60 s" >&2
		kill "$wpid"
		return 1
	fi
	mfs_kill9 "$M" || return 1
	kill "$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
	return 0
}

offline_fsck_then_mount() {
	expect_status 0 admin fsck --data "$D" &&
	mfs_mount "$M" "$D"
}

overwrite_killed() {
	kill_during_hold f &&
	offline_fsck_then_mount &&
	expect_sha "$M/f" "${sum[v1]}" &&
	expect_sha "$M/keep" "${sum[v1]}"
}
check "overwrite killed mid-write: fsck clean, f is v1 after remount" overwrite_killed

new_killed() {
	kill_during_hold new &&
	offline_fsck_then_mount &&
	expect_errno ENOENT lstat "$M/new" &&
	expect_listing "$M" f g keep
}
check "new file killed mid-write: fsck clean, the file is absent after remount" new_killed

kill_in_close() {
	local wpid got
	rm -f "$WORK/ready"
	"$PY" "$HELPER" close-writer "$M/g" "$S/v3" "$WORK/ready" >"$WORK/writer.out" 2>&1 &
	wpid=$!
	if ! wait_for 600 test -e "$WORK/ready"; then
		echo "the writer did not write v3 in 60 s" >&2
		kill "$wpid"
		return 1
	fi
	mfs_kill9 "$M" || return 1
	wait "$wpid"
	offline_fsck_then_mount || return 1
	got=$(file_sha "$M/g") || return 1
	case "$got" in
	"${sum[v1]}") note "the kill landed before the commit: g is v1" ;;
	"${sum[v3]}") note "the kill landed after the commit: g is v3" ;;
	*)
		echo "g is neither v1 nor v3 (close said: $(cat "$WORK/writer.out"))" >&2
		return 1
		;;
	esac
	expect_sha "$M/keep" "${sum[v1]}"
}
check "killed while close() commits: g is v1 or v3 whole, fsck clean" kill_in_close

after_all() {
	cp "$S/v2" "$M/f" && expect_sha "$M/f" "${sum[v2]}" &&
	mfs_remount "$M" && expect_sha "$M/f" "${sum[v2]}"
}
check "the store takes new writes after the crashes" after_all
check "umount" mfs_umount "$M"
final_fsck() {
	expect_status 0 admin fsck --json --data "$D" &&
	expect_eq "$(json_get ok <"$WORK/.cmd.out")" true '"ok" in fsck --json'
}
check "offline fsck --json of the final store: exit 0, ok true" final_fsck

mfs_done
