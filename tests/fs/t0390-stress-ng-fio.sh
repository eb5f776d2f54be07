#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# stress-ng's filesystem stressors and fio with crc32c verification against
# one real mount.  Each stressor runs a few seconds (--verify where it has
# one) in its own directory of the mount; after each: stress-ng exits 0 and
# reports no failure, no skipped or prematurely finished stressor, the
# stressor made progress (a stressor that did no operation in its time runs
# again until it did one), its directory is left empty, and the daemon
# lives and answers.  fio writes files sequentially, at random and through
# mmap, verifies them, and after a remount reads them back (read(2) and the
# mmap engine) verifying every block; a wrong byte is noticed.  At the end
# modelfs-admin fsck is clean and the log has no ERROR line.
#
# stress-ng --io runs in a mount namespace of its own (see private_ns).
#
# MFS_STRESS_LONG=1 (make check-stress-long) runs each stressor longer with
# two workers, and fio on bigger files.
# shellcheck source-path=SCRIPTDIR
# A hang guard only: at a load of 15 the run (--xattr most of it) outlasts 300 s.
MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-900}
. "$(dirname "$0")/lib.sh"
mfs_init
command -v stress-ng >/dev/null || skip_all "no stress-ng"
command -v fio >/dev/null || skip_all "no fio"
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"

LONG=${MFS_STRESS_LONG:-0}
# A stressor that did no operation in SECS runs again with --NAME-ops 1;
# GUARD bounds that run (a hang guard, not a measure of speed).
if [ "$LONG" = 1 ]; then
	SECS=${MFS_STRESS_SECS:-30} WORKERS=2 FIO_MB=512 GUARD=1200
else
	SECS=${MFS_STRESS_SECS:-2} WORKERS=1 FIO_MB=64 GUARD=300
fi

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
PID=$(mfs_daemon_pid "$M")

# daemon_ok: the daemon runs and its mountpoint answers.
daemon_ok() {
	pid_alive "$PID" || { echo "daemon $PID is gone" >&2; return 1; }
	if ! timeout 60 stat -f "$M" >/dev/null || ! timeout 60 ls "$M" >/dev/null; then
		echo "$M does not answer" >&2
		return 1
	fi
}

# revive: after a dead daemon, clears its mount and mounts the store again
# so that the other stressors still run (the failure is already counted).
revive() {
	tail -n 20 "$D/modelfs.log" | sed 's/^/  log: /' >&2
	if ! mfs_kill9 "$M" || ! mfs_mount "$M" "$D"; then
		mfs_abort "cannot mount again after the daemon died"
	fi
	PID=$(mfs_daemon_pid "$M")
	note "the daemon died: mounted again (daemon $PID)"
}

# bogo_ops YAML: the stressor's bogo-ops from stress-ng --yaml (0 if none).
bogo_ops() { awk '$1 == "bogo-ops:" { n = $2 } END { print n + 0 }' "$1" 2>/dev/null; }

# Lines that mean a stressor failed, did not run, or did not do its work.
BAD='( fail: | error: |prematurely|skipping|aborted early|expired during test setup|not implemented|not supported|verif.*(fail|error|mismatch))'

# private_ns CMD...: runs CMD in a mount namespace of its own in which, of
# the FUSE mounts and the mounts under TMPDIR, only this test's is left.
# stress-ng --io opens every mountpoint it sees and keeps them open for its
# whole run (to syncfs them): in the shared namespace that makes the umount
# of any other test running meanwhile fail with EBUSY.  Detaching the
# copies in the new namespace leaves the originals alone.
cat >"$WORK/private_ns.sh" <<'EOF'
keep=$1 tmp=$2
shift 2
# mountinfo: field 5 is the mountpoint, the fs type follows " - ".
awk -v keep="$keep" -v tmp="$tmp/" '
	{ for (i = 7; $i != "-"; i++) continue }
	$5 != keep && ($(i + 1) ~ /^fuse/ || index($5, tmp) == 1) { print $5 }' /proc/self/mountinfo |
	sort -r | while read -r d; do
		umount -l "$(printf '%b' "$d")" || exit 1
	done || exit 1
exec "$@"
EOF
private_ns() {
	unshare -m --propagation private -- "$BASH" "$WORK/private_ns.sh" "$M" "${TMPDIR:-/tmp}" "$@"
}

# sng_run NAME OUT ARGS...: one stress-ng run; prints its exit status.
sng_run() {
	local name=$1 out=$2 wrap=()
	shift 2
	[ "$name" = io ] && wrap=(private_ns)
	"${wrap[@]}" stress-ng "--$name" "$WORKERS" "$@" --verify --temp-path "$M/sng/$name" \
		--metrics --yaml "$out.yaml" >"$out.log" 2>&1
	echo $?
}

# sng NAME [ARGS...]: runs stressor NAME for SECS seconds in $M/sng/NAME.
sng() {
	local name=$1 rc
	shift
	mkdir -p "$M/sng/$name" || return 1
	rc=$(sng_run "$name" "$WORK/sng-$name" --timeout "${SECS}s" "$@")
	sng_after "$name" "$rc" "in ${SECS}s" "$@"
}

# sng_after NAME RC WHEN [ARGS...]: what is checked once stressor NAME's
# run (exit status RC; WHEN says how long it ran) is over.
sng_after() {
	local name=$1 rc=$2 when=$3 out=$WORK/sng-$1 ops
	shift 3
	ops=$(bogo_ops "$out.yaml")
	note "$name: exit $rc, $ops bogo ops $when"
	if ! daemon_ok; then
		echo "after stress-ng --$name (exit status $rc):" >&2
		revive
		return 1
	fi
	# A stressor whose setup outlasted SECS (a loaded machine) did nothing
	# wrong: it runs again below.
	if [ "$rc" -ne 0 ] || grep -E "$BAD" "$out.log" | grep -qv 'expired during test setup'; then
		echo "stress-ng --$name $*: exit status $rc (0 wanted)" >&2
		grep -E "$BAD|warn:" "$out.log" | head -n 20 >&2
		return 1
	fi
	if [ "$ops" -eq 0 ]; then
		rc=$(sng_run "$name" "$out" --timeout "${GUARD}s" "--$name-ops" 1 "$@")
		ops=$(bogo_ops "$out.yaml")
		note "$name: again with --$name-ops 1: exit $rc, $ops bogo ops"
		daemon_ok || { revive; return 1; }
		if [ "$rc" -ne 0 ] || [ "$ops" -eq 0 ] || grep -qE "$BAD" "$out.log"; then
			echo "stress-ng --$name: no operation done (exit status $rc)" >&2
			grep -E "$BAD|warn:" "$out.log" | head -n 20 >&2
			return 1
		fi
	fi
	# stress-ng removes what it made: unlink and rmdir worked.
	expect_listing "$M/sng/$name" && rmdir "$M/sng/$name"
}

# fstat walks a directory of our own, not /dev.
fstat_dir() {
	local i
	mkdir -p "$M/fstat/d" && ln -sf f1 "$M/fstat/l" || return 1
	for ((i = 1; i <= 20; i++)); do
		echo "$i" >"$M/fstat/f$i" || return 1
	done
}
check "a directory of files for stress-ng --fstat" fstat_dir

# NAME and its options; each item is one test point.
STRESSORS=(
	"dir --dir-dirs 1024"
	"dentry --dentries 512"
	"rename"
	"open --open-max 2000"
	"hdd --hdd-bytes 16m --hdd-opts wr-seq,rd-rnd"
	"seek --seek-size 16m"
	"chmod"
	"chown"
	"utime"
	"symlink"
	"flock"
	"lockf"
	"fcntl"
	"fstat --fstat-dir $M/fstat"
	"readahead --readahead-bytes 16m"
	"mmap --mmap-file --mmap-bytes 16m"
	"fallocate --fallocate-bytes 16m"
	"sync-file --sync-file-bytes 16m"
	"io"
	"filename"
	"link"
	"dirdeep"
)
# xattr: one bogo op is 4096 setxattr(XATTR_CREATE) on one file, then as
# many removes.  Each setxattr rewrites the file's record (1-11 ms, growing
# with the attributes; 200 ms near 4000 before decoding went linear, when an
# op took longer than 1,200 s): it runs here once, with --xattr-ops 1 (in
# SECS it does none).  That op alone took half the test's time, so it runs
# beside the others, started before the first and checked after the last;
# with MFS_STRESS_LONG it runs last, alone, as the others do.
STRESSORS+=("xattr")
# MFS_STRESS_ONLY="io mmap": only these stressors (to debug one).
if [ -n "${MFS_STRESS_ONLY:-}" ]; then
	for i in "${!STRESSORS[@]}"; do
		case " $MFS_STRESS_ONLY " in
		*" ${STRESSORS[i]%% *} "*) ;;
		*) unset "STRESSORS[i]" ;;
		esac
	done
fi

XATTR_BG=
if [ "$LONG" != 1 ] && [ "${STRESSORS[-1]:-}" = xattr ]; then
	unset "STRESSORS[-1]"
	mkdir -p "$M/sng/xattr" || mfs_abort "mkdir $M/sng/xattr"
	sng_run xattr "$WORK/sng-xattr" --timeout "${GUARD}s" --xattr-ops 1 >"$WORK/sng-xattr.rc" &
	XATTR_BG=$!
fi
# xattr_done: the background op is over; then as sng checks after a run.
xattr_done() {
	wait "$XATTR_BG"
	sng_after xattr "$(cat "$WORK/sng-xattr.rc")" "(--xattr-ops 1, beside the others)"
}

for s in "${STRESSORS[@]}"; do
	# shellcheck disable=SC2086 # options are words
	check "stress-ng --${s%% *}: exit 0, no failure, progress, cleaned up; the daemon answers" sng $s
done
if [ -n "$XATTR_BG" ]; then
	check "stress-ng --xattr: exit 0, no failure, progress, cleaned up; the daemon answers" xattr_done
fi

# ---- fio ----------------------------------------------------------------------

F=$M/fio
FIO_JOB=$WORK/jobs.fio
cat >"$FIO_JOB" <<EOF
[global]
directory=$F
verify=crc32c
verify_fatal=1
do_verify=1
ioengine=psync
randrepeat=1
verify_state_save=0

[seq]
filename=seq.dat
rw=write
bs=1m
size=${FIO_MB}m

[rand]
filename=rand.dat
rw=randwrite
bs=4k
size=$((FIO_MB / 4))m

[mmapw]
filename=mmapw.dat
ioengine=mmap
rw=randwrite
bs=64k
size=$((FIO_MB / 4))m
EOF

# fio_ok OUT ARGS...: runs fio --minimal on the job file; it exits 0, every
# job reports error 0 and read (verified) all its bytes.
fio_ok() {
	local out=$WORK/$1 rc
	shift
	fio --minimal "$@" "$FIO_JOB" >"$out" 2>"$out.err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "fio $*: exit status $rc" >&2
		head -n 20 "$out.err" >&2
		return 1
	fi
	# Terse fields: 3 job name, 5 error, 6 KiB read (the verify pass).
	awk -F';' -v mb="$FIO_MB" '
		{ want = ($3 == "seq" ? mb : mb / 4) * 1024; n++ }
		$5 != 0 { print "job " $3 ": error " $5; bad = 1 }
		$6 != want { print "job " $3 ": " $6 " KiB read and verified, want " want; bad = 1 }
		END { if (n != 3) { print n " jobs reported, want 3"; bad = 1 }; exit bad }' "$out" >&2
}

fio_write() { mkdir -p "$F" && fio_ok fio-write; }
check "fio writes seq (1 MiB), random (4 KiB), random through mmap (64 KiB); verified" fio_write
check "daemon alive and answering after fio's writes" daemon_ok
remount() { mfs_remount "$M" && PID=$(mfs_daemon_pid "$M"); }
check "remount" remount
check "fio after the remount: read(2) of every block verifies" fio_ok fio-read --verify_only
check "fio after the remount: mmap-engine reads of every block verify" \
	fio_ok fio-mmap --verify_only --ioengine=mmap

# The check above can fail: one wrong byte in seq.dat (in the payload of
# the block at 5 MiB, past fio's header) is reported.
wrong_byte() {
	printf 'X' | dd of="$F/seq.dat" bs=1 seek=$((5 * MiB + 4096)) conv=notrunc status=none &&
	! fio --minimal --verify_only "$FIO_JOB" >"$WORK/fio-bad" 2>"$WORK/fio-bad.err" &&
	grep -q "crc32c: verify failed at file $F/seq.dat offset $((5 * MiB))," "$WORK/fio-bad.err" &&
	return 0
	echo "fio did not report the changed block:" >&2
	head -n 10 "$WORK/fio-bad.err" >&2
	return 1
}
check "fio's verify notices one changed byte" wrong_byte

# ---- afterwards ------------------------------------------------------------------

check "the daemon is alive and its mount answers" daemon_ok
check "modelfs-admin fsck: clean (exit 0)" expect_status 0 admin fsck "$M"
mfs_done
