#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Deferred encoding (option recode, store/maint/recode.h): a big file's
# chunks are stored raw at close and queued; a background pass encodes them
# and swaps each chunk's index entry to the new record.  recode=2 stores raw
# and queues without running the pass, so "before" is a state, not a race.
#  1. a cp'd file reads back exact while its chunks are raw and queued
#     (fsck counts them), and again after the pass emptied the queue; the
#     store then takes less room (the raw records were punched out), and a
#     chunk that does not compress stays raw;
#  2. kill -9 while the pass runs: the stopped store is fsck-clean, the file
#     reads exact, the raw records swapped but not yet punched are punched
#     out at the next open, and a remount finishes the queue;
#  3. the pass's store writes failing (ENOSPC, EIO, via MODELFS_FAULT): the
#     failed chunks keep their entries and are retried, the daemon lives,
#     the file reads exact throughout, and fsck is clean after;
#  4. recode=0 encodes at the commit and queues nothing.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
declare -A sum=()
mfs_log_allow "$D" 'Input/output error|No space left on device|I/O error|EIO|ENOSPC'

# b64 PATH MIB: compressible bytes that never repeat (base64 of random:
# every chunk compresses by a quarter, none dedups).
b64() { head -c $(($2 * MiB * 3 / 4)) /dev/urandom | base64 -w 0 >"$1"; }
sources() {
	b64 "$S/a1" 24 && randfile "$S/a2" $((6 * MiB)) && b64 "$S/a3" 10 &&
	cat "$S/a1" "$S/a2" "$S/a3" >"$S/a" && rm -f "$S/a1" "$S/a2" "$S/a3" &&
	b64 "$S/k" 128 && b64 "$S/f" 24 && b64 "$S/z" 24 || return 1
	local f
	for f in a k f z; do sum[$f]=$(file_sha "$S/$f") || return 1; done
}
check "source files" sources || mfs_abort "no sources"

st() { admin status --json "$M" | json_get "$1"; }
queue_is() { [ "$(st recode_queue)" = "$1" ]; }
queue_empty() { queue_is 0; }
# at_least KEY N: status KEY is N or more.
at_least() { [ "$(st "$1")" -ge "$2" ]; }
# below KEY N: status KEY is less than N.
below() { [ "$(st "$1")" -lt "$2" ]; }
# remount [OPTS]: unmounts $M and mounts it again with OPTS.
remount() { mfs_umount "$M" && mfs_mount "$M" "$D" "write_behind_mb=8${1:+,$1}"; }

check "mount with recode=2 (stored raw, no pass)" mfs_mount "$M" "$D" write_behind_mb=8,recode=2 ||
	mfs_abort "no mount"

raw_before() {
	local q raw
	cp "$S/a" "$M/a" || return 1
	q=$(st recode_queue) raw=$(st codec_chunks.raw)
	note "after cp: recode_queue $q, raw chunks $raw, stored $(st stored_bytes), disk $(st disk_bytes)"
	[ "$q" -gt 10 ] || { echo "only $q chunks queued" >&2; return 1; }
	[ "$raw" -ge "$q" ] || { echo "$q queued but only $raw raw" >&2; return 1; }
	expect_sha "$M/a" "${sum[a]}" || return 1
	admin fsck "$M" >"$WORK/fsck.out" || { cat "$WORK/fsck.out" >&2; return 1; }
	grep -q "^$q chunks stored raw wait for their background encoding" "$WORK/fsck.out" || {
		echo "fsck does not count the queued chunks:" >&2
		cat "$WORK/fsck.out" >&2
		return 1
	}
	echo "$q $raw $(st disk_bytes)" >"$WORK/before"
}
check "cp'd file: chunks raw and queued, reads exact, fsck counts them" raw_before ||
	mfs_abort "no queued chunks"

after_pass() {
	local q raw disk raw2 disk2
	read -r q raw disk <"$WORK/before"
	# The punch 500 ms after the swap, not 5 s (test only): the wait below.
	MODELFS_TEST_RECODE_PUNCH_MS=500 remount recode=1 || return 1
	wait_for 3000 queue_empty || { echo "queue still $(st recode_queue) after 300 s" >&2; return 1; }
	raw2=$(st codec_chunks.raw) disk2=$(st disk_bytes)
	note "after the pass: raw chunks $raw2 (of $raw), recoded $(st recoded_chunks)," \
		"saved $(st recode_saved_bytes) B, disk $disk2 B (was $disk)"
	# The 6 MiB of random bytes stay raw: at most that many chunks and two more around it.
	[ "$raw2" -lt "$raw" ] && [ "$raw2" -ge 1 ] || { echo "raw chunks $raw -> $raw2" >&2; return 1; }
	[ "$(st recode_saved_bytes)" -gt $((4 * MiB)) ] || { echo "saved too little" >&2; return 1; }
	# The old raw records are punched out a few seconds after their swap.
	wait_for 600 below disk_bytes $((disk - 4 * MiB)) ||
		{ echo "disk bytes $disk -> $(st disk_bytes)" >&2; return 1; }
	expect_sha "$M/a" "${sum[a]}" && remount recode=1 && expect_sha "$M/a" "${sum[a]}" &&
	expect_status 0 admin fsck "$M" >/dev/null
}
check "after the pass: encoded, smaller on disk, reads exact, fsck clean" after_pass

# ---- kill -9 while the pass runs ---------------------------------------------

# The raw records of the chunks swapped in the last seconds before a kill
# wait for their punch (PUNCH_DELAY_MS): the next open punches them out, so
# the packs take no more blocks than the records the index names
# (stored_bytes: every chunk here is a pack record), their 4 KiB padding and
# each pack's header block.
packs_hold_only_indexed() {
	local packs stored
	packs=$(($(du -B1 -s "$D/db/packs" | cut -f1))) && stored=$(st stored_bytes) || return 1
	note "packs take $packs bytes on disk for $stored bytes of records"
	[ "$packs" -le $((stored + 2 * MiB)) ] ||
		{ echo "packs take $((packs - stored)) bytes more than their records" >&2; return 1; }
}

killed_in_pass() {
	local pid n
	remount recode=2 && cp "$S/k" "$M/k" || return 1
	n=$(st recode_queue)
	remount recode=1 || return 1
	pid=$(mfs_daemon_pid "$M")
	# A chunk done, ~120 to do: killed mid-queue (where within a chunk is chance).
	wait_for 3000 at_least recoded_chunks 1 || { echo "the pass did not start" >&2; return 1; }
	mfs_kill9 "$M" || return 1
	note "killed the daemon ($pid) with the queue at $n before the pass"
	expect_status 0 admin fsck --data "$D" >"$WORK/fsck.out" || { cat "$WORK/fsck.out" >&2; return 1; }
	mfs_mount "$M" "$D" write_behind_mb=8,recode=2 || return 1
	note "after the kill: queue $(st recode_queue)"
	packs_hold_only_indexed || return 1
	expect_sha "$M/k" "${sum[k]}" && expect_sha "$M/a" "${sum[a]}" &&
	remount recode=1 && wait_for 3000 queue_empty && expect_sha "$M/k" "${sum[k]}" &&
	expect_status 0 admin fsck "$M" >/dev/null
}
check "kill -9 during the pass: fsck clean, reads exact, space back, remount finishes" killed_in_pass

# ---- store faults during the pass ----------------------------------------------

injected() { grep -c 'WARN fault: injected' "$D/modelfs.log"; }
faults() {
	local before pid n
	remount recode=2 && cp "$S/f" "$M/f" && n=$(st recode_queue) && mfs_umount "$M" || return 1
	before=$(injected)
	# A mount of a store writes nothing itself: the pass's writes are the first
	# (per chunk: its record, no WAL; then the swap, synced).  The round
	# after one with failures starts 1 s later, not 10 s (test only).
	MODELFS_FAULT=write:1:ENOSPC,write:2:EIO,write:4:EIO MODELFS_TEST_RECODE_RETRY_MS=1000 \
		mfs_mount "$M" "$D" write_behind_mb=8,recode=1 || return 1
	pid=$(mfs_daemon_pid "$M")
	wait_for 3000 at_least recode_failures 3 || { echo "no failures seen" >&2; return 1; }
	expect_sha "$M/f" "${sum[f]}" || return 1
	wait_for 3000 queue_empty || { echo "queue still $(st recode_queue)" >&2; return 1; }
	note "faults: $(($(injected) - before)) injected, $(st recode_failures) failures," \
		"recoded $(st recoded_chunks) of $n queued"
	[ "$(($(injected) - before))" -eq 3 ] || return 1
	pid_alive "$pid" && expect_sha "$M/f" "${sum[f]}" &&
	remount recode=1 && expect_sha "$M/f" "${sum[f]}" && expect_status 0 admin fsck "$M" >/dev/null
}
check "ENOSPC and EIO during the pass: retried, reads exact, fsck clean" faults

recode_off() {
	local q
	remount recode=0 && q=$(st recode_queue) && cp "$S/z" "$M/z" || return 1
	queue_is "$q" && expect_sha "$M/z" "${sum[z]}"
}
check "recode=0: encoded at the commit, nothing queued" recode_off

check "umount" mfs_umount "$M"
check_log "$D"
mfs_done
