#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Shared code for the tests/fs scripts, which mount modelfs for real: TAP
# output, a mktemp -d workdir, mount and unmount helpers that wait on
# conditions (bounded polls, never fixed sleeps), a watchdog that ends a test
# that hangs, a check that the daemon logged no unexpected ERROR lines, and a
# trap that unmounts, stops leftover daemons and removes the workdir (kept,
# with the log paths printed, when something failed).
#
# A test script sources this file, calls mfs_init, runs its checks with
# `check DESC FUNCTION [ARGS]` (FUNCTION is an &&-chain that explains its own
# failure on stderr) and ends with mfs_done.
#
# Environment: MFS_BUILD, MFS_SRC (set by make check), MFS_TEST_TIMEOUT
# (seconds, default 300), MFS_WAIT_MAX (seconds, default 240: wait_until's
# safety bound), MFS_KEEP=1 keeps the workdir even on success.

set -u

MFS_SRC=${MFS_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MFS_BUILD=${MFS_BUILD:-$MFS_SRC}
MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-300}
MFS_WAIT_MAX=${MFS_WAIT_MAX:-240}
MFS_KEEP=${MFS_KEEP:-0}
MOUNT_BIN=$MFS_BUILD/mount.modelfs
ADMIN_BIN=$MFS_BUILD/modelfs-admin
CHUNK_TOOL=$MFS_BUILD/tests/tools/chunk_tool
PY=/usr/bin/python3
HELPER=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/helper.py
# shellcheck disable=SC2034 # used by the scripts that source this file
MiB=$((1024 * 1024))

WORK=
_tap_n=0
_tap_failed=0
_done=0
_watchdog=
declare -A _log_allow=()   # data dir -> ERE of ERROR lines the test expects
declare -A _mnt_data=()    # mountpoint -> data dir
declare -A _mnt_pid=()     # mountpoint -> daemon pid
_mnts=()                   # mountpoints in the order they were first mounted
_datas=()                  # data dirs in the order they were first used
_tmpfs=()                  # tmpfs mounts made by the test

# ---- TAP ------------------------------------------------------------------

say() { printf '# %s\n' "$*"; }
# note MSG: inside a check, a diagnostic shown after its result even if it passes.
note() { echo "$*" >>"$WORK/.notes"; }
ok() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
not_ok() { _tap_n=$((_tap_n + 1)); _tap_failed=$((_tap_failed + 1)); echo "not ok $_tap_n - $*"; }

skip_all() {
	echo "1..0 # SKIP $*"
	_done=1
	exit 0
}

# check DESC CMD [ARG...]: one test point.  CMD runs in this shell (so a
# function may set variables); its output is shown only if it fails.
check() {
	_check "" "$@"
}

# check_todo REASON DESC CMD [ARG...]: a check of a known, open bug, kept
# running so that it is seen (TAP "# TODO": automake counts its failure as
# XFAIL, not as a failure of the test).  Say in REASON where it is tracked.
check_todo() {
	_check "$@"
}

_check() { # TODO-REASON DESC CMD [ARG...]
	local todo=$1 desc=$2 out rc
	shift 2
	out=$WORK/.check.out
	"$@" >"$out" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		ok "$desc"
	else
		if [ -n "$todo" ]; then
			_tap_n=$((_tap_n + 1))
			echo "not ok $_tap_n - $desc # TODO $todo"
		else
			not_ok "$desc"
		fi
		say "  failed with status $rc: $*"
		head -n 60 "$out" | sed 's/^/#   /'
	fi
	if [ -s "$WORK/.notes" ]; then
		sed 's/^/# /' "$WORK/.notes"
		rm -f "$WORK/.notes"
	fi
	return "$rc"
}

# ---- assertions for use inside check functions ---------------------------

# expect_eq GOT WANT WHAT
expect_eq() {
	[ "$1" = "$2" ] && return 0
	echo "$3: got '$1', want '$2'" >&2
	return 1
}

# expect_errno WANT OP ARG...: WANT is an errno name, or several as A|B.
expect_errno() {
	local want=$1 got
	shift
	got=$("$PY" "$HELPER" errno "$@")
	case "|$want|" in
	*"|$got|"*) return 0 ;;
	esac
	echo "$*: got $got, want $want" >&2
	return 1
}

# expect_status WANT CMD...: runs CMD, its exit status must be WANT; output
# goes to $WORK/.cmd.out and .cmd.err.
expect_status() {
	local want=$1 rc
	shift
	"$@" >"$WORK/.cmd.out" 2>"$WORK/.cmd.err"
	rc=$?
	[ "$rc" -eq "$want" ] && return 0
	echo "$*: exit status $rc, want $want" >&2
	sed 's/^/  stdout: /' "$WORK/.cmd.out" | head -n 20 >&2
	sed 's/^/  stderr: /' "$WORK/.cmd.err" | head -n 20 >&2
	return 1
}

# expect_listing DIR NAME...: readdir of DIR gives exactly these names.
expect_listing() {
	"$PY" -c 'import os, sys
got, want = sorted(os.listdir(sys.argv[1])), sorted(sys.argv[2:])
if got != want:
    print("listing of %s: got %r, want %r" % (sys.argv[1], got, want), file=sys.stderr)
    sys.exit(1)' "$@"
}

# file_sha FILE: prints the SHA-256 of FILE (hashlib: SHA-NI, fast).
file_sha() { "$PY" "$HELPER" sha256 "$1"; }

# expect_sha FILE SHA
expect_sha() {
	local got
	got=$(file_sha "$1") || { echo "cannot read $1" >&2; return 1; }
	expect_eq "$got" "$2" "sha256 of $1"
}

# randfile PATH BYTES: BYTES of random data.
randfile() { head -c "$2" /dev/urandom >"$1" && [ "$(stat -c %s "$1")" -eq "$2" ]; }

# wait_for TRIES CMD...: polls CMD every 0.1 s, at most TRIES times.  For
# a condition that may never come, where TRIES is part of what is tested;
# an event that must come (a mount appearing, a daemon's exit) is waited
# for with wait_until.
wait_for() {
	local tries=$1 i
	shift
	for ((i = 0; i < tries; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# wait_until CMD...: polls CMD every 0.1 s until it succeeds.  For an event
# that comes, however loaded the machine (a mount appearing, a daemon's
# exit after SIGKILL or an unmount): no short bound of wall clock, which
# two CI runs beside each other outlasted (s39 ci2, t0806: a restart's
# 100 tries of 0.1 s).  MFS_WAIT_MAX seconds only end a wait that something
# broke, sooner than the watchdog (MFS_TEST_TIMEOUT) would.
wait_until() {
	local end=$((SECONDS + MFS_WAIT_MAX))
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# pid_alive PID: running (a zombie counts as gone).
pid_alive() {
	local state
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}
# pid_gone PID: not running, and none of its threads either.  After a
# kill -9 the leader can be a zombie while other threads still finish (one
# in the middle of a write), and until the last one has, the process's
# files are open: `admin fsck --data` then connected to the dead daemon's
# control socket, which closed without an answer ("Protocol error", t0127).
pid_gone() {
	local n=0 t
	pid_alive "$1" && return 1
	for t in /proc/"$1"/task/*; do
		[ -e "$t" ] && n=$((n + 1))
	done
	[ "$n" -le 1 ]
}
# is_mounted DIR: DIR is in the mount table.  Read from mountinfo, not by
# stat (mountpoint -q), which fails on a mount whose daemon died.
is_mounted() { awk -v d="$1" '$5 == d { f = 1 } END { exit !f }' /proc/self/mountinfo; }
not_mounted() { ! is_mounted "$1"; }

# ---- mounting ---------------------------------------------------------------

_register() { # MNT DATA
	[ -n "${_mnt_data[$1]+x}" ] || _mnts+=("$1")
	_mnt_data[$1]=$2
	local d
	for d in "${_datas[@]}"; do
		[ "$d" = "$2" ] && return 0
	done
	_datas+=("$2")
}

# mfs_mount MNT DATA [OPTS]: mounts DATA on MNT and waits until it is live.
mfs_mount() {
	local mnt=$1 data=$2 opts=${3:-} rc
	mkdir -p "$mnt" "$data" || return 1
	_register "$mnt" "$data"
	"$MOUNT_BIN" "$mnt" -o "data=$data${opts:+,$opts}" >>"$WORK/mount.out" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "mount.modelfs $mnt -o data=$data${opts:+,$opts}: exit status $rc" >&2
		tail -n 20 "$WORK/mount.out" >&2
		return 1
	fi
	if ! wait_until is_mounted "$mnt"; then
		echo "$mnt is not a mountpoint ${MFS_WAIT_MAX} s after mount.modelfs returned" >&2
		return 1
	fi
	mfs_adopt "$mnt" "$data"
}

# mfs_adopt MNT DATA: records the daemon serving MNT (from DATA/modelfs.pid)
# so that unmount helpers and the trap can follow it.  The daemon writes
# its pid file before mount.modelfs returns; on a disk with no page free
# it cannot (t0806), and the daemon is found by its data dir instead.
_daemon_of() { # DATA: the pid of the live daemon of DATA, by its file or its command line
	local pid
	pid=$(cat "$1/modelfs.pid" 2>/dev/null)
	if [ -n "$pid" ] && pid_alive "$pid"; then
		echo "$pid"
		return 0
	fi
	pid=$(pgrep -n -f -- "mount\.modelfs .*data=$1(,|\$| )") && pid_alive "$pid" && echo "$pid"
}
mfs_adopt() {
	local mnt=$1 data=$2 pid
	_register "$mnt" "$data"
	if ! pid=$(wait_until _daemon_of "$data"); then
		echo "no live daemon of $data: $data/modelfs.pid has '$(cat "$data/modelfs.pid" 2>&1)'" >&2
		return 1
	fi
	[ -s "$data/modelfs.pid" ] || note "no pid in $data/modelfs.pid (a full disk?): daemon $pid found by its data dir"
	_mnt_pid[$mnt]=$pid
	echo "$pid $mnt" >>"$WORK/.daemons"
}

# mnt_holders MNT: one line for each process that uses MNT (its cwd or root,
# open files, mapped files), from /proc (reading the links does not enter
# the mount).
mnt_holders() {
	"$PY" - "$1" <<'PYEOF'
import os, sys
mnt = sys.argv[1]
inside = lambda t: t == mnt or t.startswith(mnt + "/")
for pid in filter(str.isdigit, os.listdir("/proc")):
    d, what = "/proc/" + pid, []
    try:
        links = ["cwd", "root"] + ["fd/" + f for f in os.listdir(d + "/fd")]
    except OSError:
        continue
    for l in links:
        try:
            if inside(os.readlink(d + "/" + l)):
                what.append(l)
        except OSError:
            pass
    try:
        with open(d + "/maps") as f:
            if any(inside(line.split(None, 5)[-1].strip()) for line in f if line.count(" ") >= 5):
                what.append("maps")
        with open(d + "/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:120]
    except OSError:
        cmd = "?"
    if what:
        print("pid %s (%s): %s" % (pid, cmd.strip(), " ".join(what)))
PYEOF
}

# _umount_cmd CMD...: 0 once unmounted, 1 while busy (EBUSY), 2 on another error.
_umount_cmd() {
	"$@" 2>"$WORK/.umount.err" && return 0
	grep -qiE 'busy' "$WORK/.umount.err" && return 1
	cat "$WORK/.umount.err" >&2
	return 2
}

# mfs_umount MNT [CMD...]: unmounts (default: umount MNT) and waits for the
# daemon to exit.  While the mount is busy the command is tried again (a
# process that has just closed its last file there may not have released it
# yet: the kernel can finish a close after the process is gone, and any
# process on the machine that looks into the mount holds it for as long);
# the holders seen at the first refusal are noted, and if it stays busy they
# are shown with the failure.
mfs_umount() {
	local mnt=$1 pid=${_mnt_pid[$1]:-} rc i holders=''
	shift
	if [ $# -eq 0 ]; then
		set -- umount "$mnt"
	fi
	for ((i = 0; i < 300; i++)); do
		_umount_cmd "$@"
		rc=$?
		[ "$rc" -eq 1 ] || break
		if [ "$i" -eq 0 ]; then
			holders=$(mnt_holders "$mnt")
			note "$*: busy at first (holders: ${holders:-none seen in /proc}); trying again"
		fi
		sleep 0.1
	done
	if [ "$rc" -ne 0 ]; then
		echo "$*: failed" >&2
		if [ "$rc" -eq 1 ]; then
			echo "busy after $i tries: $(cat "$WORK/.umount.err")" >&2
			echo "holders at first: ${holders:-none seen}" >&2
			echo "holders now: $(mnt_holders "$mnt")" >&2
		fi
		return 1
	fi
	[ "$i" -gt 0 ] && note "$*: unmounted after $i refusals (busy)"
	if ! wait_until not_mounted "$mnt"; then
		echo "$mnt still mounted ${MFS_WAIT_MAX} s after $*" >&2
		return 1
	fi
	if ! wait_until pid_gone "$pid"; then
		echo "daemon $pid still running ${MFS_WAIT_MAX} s after $*" >&2
		return 1
	fi
	_mnt_pid[$mnt]=
}

# mfs_remount MNT [OPTS]: unmounts MNT and mounts its data dir again.
mfs_remount() {
	mfs_umount "$1" && mfs_mount "$1" "${_mnt_data[$1]}" "${2:-}"
}

# mfs_kill9 MNT: kills the daemon with SIGKILL and clears the dead mount.
# A daemon thread can be in the kernel, not killable, when SIGKILL comes:
# one telling the kernel to drop a directory entry waits for the
# directory's lock, which a process holds while it waits for a READDIR
# that the dying daemon will never answer (t1496 hung so once, seed
# 757033510).  As an operator would, mfs_kill9 then aborts the mount's
# FUSE connection (fuse_abort): the READDIR fails, the lock goes, the
# daemon dies.
fuse_abort() {
	local dev
	dev=$(awk -v d="$1" '$5 == d { print $3; exit }' /proc/self/mountinfo)
	[ -n "$dev" ] && [ -w "/sys/fs/fuse/connections/${dev#*:}/abort" ] &&
		echo 1 >"/sys/fs/fuse/connections/${dev#*:}/abort"
}

mfs_kill9() {
	local mnt=$1 pid=${_mnt_pid[$1]:-}
	[ -n "$pid" ] || { echo "no daemon recorded for $mnt" >&2; return 1; }
	kill -9 "$pid" 2>/dev/null || pid_gone "$pid" || return 1
	if ! wait_for 50 pid_gone "$pid"; then
		say "daemon $pid survived SIGKILL for 5 s (a thread stuck in the kernel): its FUSE connection aborted"
		fuse_abort "$mnt"
	fi
	if ! wait_until pid_gone "$pid"; then
		echo "daemon $pid survived SIGKILL, and an abort of its connection, for ${MFS_WAIT_MAX} s" >&2
		return 1
	fi
	_mnt_pid[$mnt]=
	umount -l "$mnt" || fusermount3 -uz "$mnt" || return 1
	wait_until not_mounted "$mnt"
}

# mfs_daemon_pid MNT
mfs_daemon_pid() { echo "${_mnt_pid[$1]:-}"; }

# mfs_tmpfs DIR SIZE: a tmpfs the trap unmounts.
mfs_tmpfs() {
	mkdir -p "$1" && mount -t tmpfs -o "size=$2" tmpfs "$1" && _tmpfs+=("$1")
}

# corrupt_largest_blob DATA: overwrites 64 bytes in the middle of the
# largest RocksDB blob file or pack file (db/packs/) of the stopped store
# DATA (at least 4 MiB, so a chunk's payload is hit, not only file headers).
# In a pack, at a 4 KiB boundary: records start on one, so the bytes after
# it are a record's, never the padding between two.
corrupt_largest_blob() {
	local blob size off
	blob=$(find "$1/db" \( -name '*.blob' -o -name '*.pack' \) -printf '%s %p\n' |
		sort -n | tail -n 1 | cut -d' ' -f2-)
	[ -n "$blob" ] || { echo "no *.blob or *.pack file in $1/db" >&2; return 1; }
	size=$(stat -c %s "$blob")
	off=$((size / 2))
	# A pack's freed records are holes (gc, the recode pass): the first block
	# of data from the middle on, which a live record holds.
	case $blob in *.pack)
		off=$("$PY" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print(os.lseek(fd, int(sys.argv[2]), os.SEEK_DATA) // 4096 * 4096)' "$blob" "$off") || return 1
		;;
	esac
	note "corrupting 64 bytes at offset $off of $blob ($size bytes)"
	[ "$size" -gt $((4 * MiB)) ] || { echo "$blob has only $size bytes" >&2; return 1; }
	cp "$blob" "$WORK/blob.orig" &&
	head -c 64 /dev/urandom | dd of="$blob" bs=1 seek=$off conv=notrunc status=none &&
	! cmp -s "$blob" "$WORK/blob.orig"
}

# mfs_recode_wait MNT: waits until the background pass (option recode) has
# encoded every chunk a commit stored raw: the store's figures are final.
_recode_queue_empty() {
	[ "$("$ADMIN_BIN" status --json "$1" 2>/dev/null | json_get recode_queue)" = 0 ]
}
mfs_recode_wait() {
	wait_for 3000 _recode_queue_empty "$1" ||
		{ echo "recode queue of $1 not empty after 300 s" >&2; return 1; }
}

# mfs_log_allow DATA ERE: ERROR lines matching ERE are expected in DATA's log.
mfs_log_allow() { _log_allow[$1]=$2; }

# log_errors DATA [ERE]: prints the unexpected ERROR lines of DATA's log.
log_errors() {
	local log=$1/modelfs.log allow=${2:-${_log_allow[$1]:-}}
	[ -f "$log" ] || return 0
	if [ -n "$allow" ]; then
		grep -E '^[^ ]+ ERROR ' "$log" | grep -Ev -- "$allow"
	else
		grep -E '^[^ ]+ ERROR ' "$log"
	fi
}

# check_log DATA [ERE]: a test point: no ERROR lines but those matching ERE,
# and no sanitizer report from any daemon.
check_log() {
	local data=$1 bad
	bad=$(log_errors "$@")
	if [ -n "$bad" ]; then
		not_ok "no unexpected ERROR lines in $data/modelfs.log"
		printf '%s\n' "$bad" | head -n 30 | sed 's/^/#   /'
	elif cat "$WORK/mount.out" "$WORK"/san.* 2>/dev/null | grep -qE 'Sanitizer|runtime error:'; then
		not_ok "no sanitizer report from the daemon ($data)"
		cat "$WORK/mount.out" "$WORK"/san.* 2>/dev/null |
			grep -E -A5 'Sanitizer|runtime error:' | head -n 30 | sed 's/^/#   /'
	else
		ok "no unexpected ERROR lines in $(basename "$data")/modelfs.log"
	fi
}

# ---- admin ------------------------------------------------------------------

admin() { "$ADMIN_BIN" "$@"; }

# json_get KEY < JSON: prints a value (lists and objects as JSON); "a.b" is
# member b of object a.
json_get() {
	"$PY" -c 'import json,sys
def unique(pairs):  # a key twice in one object is a bug in the emitter
	keys = [k for k, _ in pairs]
	assert len(keys) == len(set(keys)), "duplicate JSON keys: %r" % keys
	return dict(pairs)
d = json.load(sys.stdin, object_pairs_hook=unique)
v = d
for k in sys.argv[1].split("."):  # "a.b": member b of object a
	v = v[k]
print(json.dumps(v) if isinstance(v, (list, dict, bool)) or v is None else v)' "$1"
}

# mfs_finfo FILE KEY: a key of `modelfs-admin info --json FILE` ("a.b": member
# b of object a; stored_bytes: the file's distinct chunks' records).
mfs_finfo() {
	"$ADMIN_BIN" info --json "$1" | "$PY" -c 'import json, sys
v = json.load(sys.stdin)[0]
for k in sys.argv[1].split("."):
	v = v[k]
print(v)' "$2"
}

# ---- lifecycle --------------------------------------------------------------

# _descendants PID: every process below PID, deepest first.
_descendants() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		_descendants "$c"
		echo "$c"
	done
}

_watchdog_fire() {
	local pid mnt
	touch "$WORK/.timed_out"
	# The TERM trap runs as soon as the script's current command returns,
	# which the kills below make happen.
	kill -TERM "$$"
	# A daemon that hangs holds every caller in the kernel: kill it first.
	if [ -f "$WORK/.daemons" ]; then
		while read -r pid mnt; do
			pid_alive "$pid" && kill -9 "$pid"
			umount -l "$mnt" 2>/dev/null
		done <"$WORK/.daemons"
	fi
	for pid in $(_descendants "$$"); do
		[ "$pid" = "$BASHPID" ] || kill -9 "$pid" 2>/dev/null
	done
}

_watchdog_start() {
	(
		local sp
		trap 'kill "$sp" 2>/dev/null; exit 0' TERM
		sleep "$MFS_TEST_TIMEOUT" &
		sp=$!
		wait "$sp" || exit 0
		_watchdog_fire
	) &
	_watchdog=$!
}

_on_term() {
	exec 1>&9
	if [ -e "$WORK/.timed_out" ]; then
		not_ok "watchdog: the test did not finish within ${MFS_TEST_TIMEOUT}s"
	else
		not_ok "interrupted"
	fi
	# What the check under way had printed when it was stopped.
	[ -s "$WORK/.check.out" ] && tail -n 40 "$WORK/.check.out" | sed 's/^/#   /'
	echo "1..$_tap_n"
	_done=1
	exit 1
}

# Unmounts whatever is still mounted (lazily if it must), stops daemons.
_teardown_mounts() {
	local mnt pid data i
	for mnt in "${_mnts[@]}"; do
		pid=${_mnt_pid[$mnt]:-}
		if is_mounted "$mnt"; then
			timeout 20 umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null ||
				fusermount3 -uz "$mnt" 2>/dev/null
		fi
		if [ -z "$pid" ]; then
			data=${_mnt_data[$mnt]}
			[ -s "$data/modelfs.pid" ] && pid=$(cat "$data/modelfs.pid" 2>/dev/null)
		fi
		if [ -n "$pid" ] && pid_alive "$pid" && wait_for 100 pid_gone "$pid"; then
			pid=
		fi
		if [ -n "$pid" ] && pid_alive "$pid"; then
			say "daemon $pid for $mnt still running: SIGTERM, then SIGKILL"
			kill -TERM "$pid" 2>/dev/null
			wait_for 50 pid_gone "$pid" || kill -9 "$pid" 2>/dev/null
		fi
	done
	for ((i = ${#_tmpfs[@]} - 1; i >= 0; i--)); do
		# The logs of a store on a tmpfs would go with it.
		if [ "$_tap_failed" -gt 0 ] || [ "$MFS_KEEP" = 1 ]; then
			mkdir -p "${_tmpfs[$i]}.saved" &&
				{ df -k "${_tmpfs[$i]}"; du -ak "${_tmpfs[$i]}"; } >"${_tmpfs[$i]}.saved/du.txt" 2>&1
			cp "${_tmpfs[$i]}/modelfs.log" "${_tmpfs[$i]}.saved/" 2>/dev/null
			cp "${_tmpfs[$i]}/db/LOG" "${_tmpfs[$i]}.saved/rocksdb.LOG" 2>/dev/null
		fi
		umount "${_tmpfs[$i]}" 2>/dev/null || umount -l "${_tmpfs[$i]}" 2>/dev/null
	done
	# Once: a cluster test's exit trap runs this twice, and a second pass
	# would overwrite the saved du.txt with the empty directory below.
	_tmpfs=()
}

_on_exit() {
	local rc=$? pid data
	trap - EXIT TERM INT
	if [ -n "$_watchdog" ]; then
		kill "$_watchdog" 2>/dev/null
		wait "$_watchdog" 2>/dev/null
	fi
	[ -n "$WORK" ] || exit "$rc"
	for pid in $(_descendants "$$"); do
		kill -9 "$pid" 2>/dev/null
	done
	if [ "$_done" -eq 0 ]; then
		not_ok "the script ended before mfs_done (exit status $rc)"
		echo "1..$_tap_n"
	fi
	_teardown_mounts
	rm -rf "$WORK/src"
	if grep -qF " $WORK/" /proc/self/mountinfo; then
		say "something is still mounted under $WORK; not removing it"
		_tap_failed=$((_tap_failed + 1))
	elif [ "$_tap_failed" -eq 0 ] && [ "$MFS_KEEP" != 1 ]; then
		rm -rf --one-file-system "$WORK"
	fi
	if [ -d "$WORK" ]; then
		say "workdir kept: $WORK"
		for data in "${_datas[@]}"; do
			if [ -f "$data/modelfs.log" ]; then
				say "daemon log: $data/modelfs.log"
			elif [ -f "$data.saved/modelfs.log" ]; then
				say "daemon log: $data.saved/modelfs.log"
			fi
		done
	fi
	[ "$_tap_failed" -eq 0 ] && [ "$rc" -eq 0 ]
	exit $?
}

# mfs_init: skips unless the test can mount; makes the workdir, the traps
# and the watchdog.
mfs_init() {
	[ "$(id -u)" = 0 ] || skip_all "needs root"
	[ -c /dev/fuse ] || skip_all "no /dev/fuse"
	[ -x "$MOUNT_BIN" ] || skip_all "no $MOUNT_BIN"
	[ -x "$PY" ] || skip_all "no $PY"
	command -v fusermount3 >/dev/null || skip_all "no fusermount3"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/mfs-$(basename "$0" .sh).XXXXXX") || exit 1
	mkdir -p "$WORK/src"
	: >"$WORK/mount.out"
	# Daemons detach stderr once mounted: sanitizer reports go to files instead.
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$WORK/san"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=$WORK/san"
	# The TAP stream, kept: a check runs with its output in a file, and the
	# TERM trap may run inside one.
	exec 9>&1
	trap _on_exit EXIT
	trap _on_term TERM INT
	_watchdog_start
	say "workdir $WORK"
}

# mfs_abort MSG: ends the test when the rest cannot run (the trap cleans up).
mfs_abort() {
	say "$*: stopping here"
	echo "1..$_tap_n"
	_done=1
	_tap_failed=$((_tap_failed + 1))
	exit 1
}

# mfs_done: unmounts what is left (each a test point), checks every daemon
# log, prints the plan and exits.
mfs_done() {
	local mnt data
	for mnt in "${_mnts[@]}"; do
		if is_mounted "$mnt"; then
			check "unmount $(basename "$mnt"): the daemon exits" mfs_umount "$mnt"
		fi
	done
	for data in "${_datas[@]}"; do
		check_log "$data"
	done
	echo "1..$_tap_n"
	_done=1
	exit 0
}
