#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# modelfs-admin gc on one node.  A and B share chunks (B = A's first 8 MiB
# and 8 MiB of its own); C is deleted; D is rewritten while a reader keeps
# the old version open.  A dry run frees nothing and says what it would
# free; `--apply --grace 0` frees exactly C's chunks (none that A or B
# use), not D's old ones while the reader has them; once it closes, a
# second gc frees those.  A, B and D read back byte-identical, fsck is
# clean, and again after a remount.  With the default grace nothing is
# freed (held back: grace), and the grace survives a remount.  A deleted
# 220 MiB file gives its disk space back.  Bad arguments exit 2.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

# st KEY: a number from status --json.
st() { admin status --json "$M" | json_get "$1"; }
# gcj KEY: a value of the last gc's --json answer ($WORK/.cmd.out).
gcj() { json_get "$1" <"$WORK/.cmd.out"; }
# gc_expect ARGS... -- KEY=VALUE...: gc --json ARGS exits 0 and reports these.
gc_expect() {
	local args=() kv k v
	while [ "$1" != -- ]; do
		args+=("$1")
		shift
	done
	shift
	expect_status 0 admin gc --json "${args[@]}" "$M" || return 1
	for kv in "$@"; do
		k=${kv%%=*} v=${kv#*=}
		expect_eq "$(gcj "$k")" "$v" "gc ${args[*]}: $k" || { cat "$WORK/.cmd.out" >&2; return 1; }
	done
}

sumA='' sumB='' sumD0='' sumD1='' n0='' nC='' nD='' nRef=''
write_files() {
	randfile "$S/A" $((24 * MiB)) &&
	{ head -c $((8 * MiB)) "$S/A" && head -c $((8 * MiB)) /dev/urandom; } >"$S/B" &&
	cp "$S/A" "$M/A" && cp "$S/B" "$M/B" &&
	sumA=$(file_sha "$S/A") && sumB=$(file_sha "$S/B") &&
	n0=$(st chunks) &&
	randfile "$M/C" $((12 * MiB)) && nC=$(($(st chunks) - n0)) &&
	randfile "$S/D0" $((12 * MiB)) && cp "$S/D0" "$M/D" && sumD0=$(file_sha "$S/D0") &&
	nD=$(($(st chunks) - n0 - nC)) &&
	note "A+B: $n0 chunks, C: $nC, D: $nD" &&
	[ "$nC" -ge 3 ] && [ "$nD" -ge 3 ] &&
	expect_eq "$(st orphan_chunks)" 0 "orphan_chunks before anything is deleted"
}
check "A and B (sharing 8 MiB), C and D written; their chunks counted" write_files ||
	mfs_abort "no files"

# The reader holds the old D on fd 3 across the rewrite.
exec 3<"$M/D"
rewrite_delete() {
	randfile "$S/D1" $((12 * MiB)) && cp "$S/D1" "$M/D" && sumD1=$(file_sha "$S/D1") &&
	rm "$M/C" && nRef=$(st chunks) &&
	expect_eq "$(st orphan_chunks)" $((nC + nD)) "orphan_chunks (C's and the old D's)"
}
check "D rewritten while open for reading, C deleted: C's and old D's chunks unreferenced" \
	rewrite_delete

check "dry run, default grace: frees nothing; C held back by grace, old D by the open reader" \
	gc_expect -- apply=0 free_chunks=0 freed_chunks=0 held_grace_chunks="$nC" \
	held_open_chunks="$nD" unreferenced_chunks=$((nC + nD)) marks=$((nC + nD))
dry_zero() {
	gc_expect --grace 0 -- apply=0 free_chunks="$nC" freed_chunks=0 held_open_chunks="$nD" \
		held_grace_chunks=0 held_peers_chunks=0 &&
	expect_eq "$(st orphan_chunks)" $((nC + nD)) "orphan_chunks after the dry runs"
}
check "dry run, --grace 0: would free C's chunks, frees nothing" dry_zero
human_dry() {
	expect_status 0 admin gc --grace 0 "$M" &&
	grep -q "^dry run  *would free $nC chunks" "$WORK/.cmd.out" &&
	grep -q "^held back .* $nD chunks .* open here" "$WORK/.cmd.out"
}
check "dry run, human output: what it would free and what is held back" human_dry

apply1() {
	gc_expect --apply --grace 0 -- apply=1 freed_chunks="$nC" held_open_chunks="$nD" \
		referenced_again=0 &&
	expect_eq "$(st orphan_chunks)" "$nD" "orphan_chunks after gc (the old D's)" &&
	expect_eq "$(st chunks)" "$nRef" "referenced chunks after gc (A, B and the new D)"
}
check "--apply --grace 0: frees exactly C's chunks, not the old D's (open)" apply1

old_d() { expect_eq "$(sha256sum <&3 | cut -d' ' -f1)" "$sumD0" "the old D read on the open fd"; }
check "the reader still reads the old D" old_d
exec 3<&-

apply2() {
	gc_expect --apply --grace 0 -- freed_chunks="$nD" held_open_chunks=0 unreferenced_chunks="$nD" \
		marks=0 &&
	expect_eq "$(st orphan_chunks)" 0 "orphan_chunks after the second gc"
}
check "after the reader closed, a second gc frees the old D's chunks" apply2

read_all() {
	expect_sha "$M/A" "$sumA" && expect_sha "$M/B" "$sumB" && expect_sha "$M/D" "$sumD1" &&
	expect_status 0 admin fsck "$M" && expect_eq "$(st chunks)" "$nRef" "chunks"
}
check "A, B and D read back right; fsck clean" read_all
remount_read() { mfs_remount "$M" && read_all; }
check "remount; A, B and D read back right; fsck clean" remount_read

grace_default() {
	randfile "$M/E" $((6 * MiB)) && rm "$M/E" &&
	gc_expect --apply -- freed_chunks=0 free_chunks=0 held_open_chunks=0 grace_s=3600 &&
	local held
	held=$(gcj held_grace_chunks) && [ "$held" -ge 1 ] &&
	expect_eq "$(gcj marks)" "$held" "marks" &&
	expect_eq "$(st orphan_chunks)" "$held" "orphan_chunks" &&
	grep -q . "$WORK/.cmd.out"
}
check "default grace: nothing freed, held back by grace" grace_default
grace_kept() {
	local held
	held=$(st orphan_chunks) &&
	mfs_remount "$M" &&
	gc_expect --apply -- freed_chunks=0 held_grace_chunks="$held" marks="$held" &&
	[ "$(gcj grace_next_s)" -le 3600 ] &&
	gc_expect --apply --grace 0 -- freed_chunks="$held" marks=0
}
check "the grace marks survive a remount; --grace 0 then frees" grace_kept

# Disk space comes back: a deleted 220 MiB file, gc, disk_bytes.
reclaim() {
	local before after
	randfile "$M/big" $((220 * MiB)) && rm "$M/big" &&
	before=$(st disk_bytes) &&
	gc_expect --apply --grace 0 -- held_open_chunks=0 &&
	after=$(st disk_bytes) &&
	note "220 MiB file deleted: disk_bytes $before -> $after (gc said $(gcj disk_bytes_before) -> $(gcj disk_bytes_after)), freed $(gcj freed_bytes) bytes in $(gcj freed_chunks) chunks; du of the store: $(du -sb "$D/db" | cut -f1)" || return 1
	if [ "$((before - after))" -lt $((200 * MiB)) ]; then
		echo "disk_bytes $before -> $after: less than 200 MiB reclaimed" >&2
		return 1
	fi
}
check "a deleted 220 MiB file: gc --apply gives at least 200 MiB of disk back" reclaim
check "A, B and D still read back right; fsck clean" read_all

usage() {
	expect_status 2 admin gc "$@" &&
	grep -q '^usage: modelfs-admin gc' "$WORK/.cmd.err"
}
for a in "--grace" "--grace -1" "--grace abc" "--grace 5x" "--bogus" "--apply --grace="; do
	# shellcheck disable=SC2086 # split on purpose
	check "gc $a PATH: exit 2 with usage" usage $a "$M"
done
check "gc without a path: exit 2" usage
check "gc with two paths: exit 2" usage "$M" "$M/A"
help_out() { expect_status 0 admin gc --help && grep -q "^usage: modelfs-admin gc" "$WORK/.cmd.out"; }
check "gc --help: exit 0" help_out
outside() {
	mkdir -p "$WORK/plain" && expect_status 1 admin gc "$WORK/plain" &&
	grep -q "not inside a modelfs mount" "$WORK/.cmd.err" &&
	expect_status 1 admin gc --data "$WORK/plain"
}
check "gc outside a mount, or --data where no node runs: exit 1" outside
by_data() { expect_status 0 admin gc --json --data "$D" && expect_eq "$(gcj freed_chunks)" 0 freed; }
check "gc --data DIR asks the node running there" by_data

mfs_done
