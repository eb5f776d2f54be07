#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A listing of a directory, and stat, lookup and getfattr of a file, do
# not wait for the commit of that file.  A commit holds its file's node
# locked while it chunks the bytes (seconds for a large file; in a
# sanitizer build a 64 GiB sparse file took 9 s and `truncate -s 8T` ten
# minutes), and readdirplus used to wait for that lock to give the entry
# its attributes: `ls` of a download directory hung until the download's
# close was done; `ls -l`, `stat` and `getfattr` still did (0.86 s for a
# 1 GiB dd here).  Here the commit is held for the test
# (MODELFS_TEST_COMMIT_HOLD) and each request must finish while it is:
# readdirplus sends such an entry without attributes, and the others
# answer with the attributes the commit began with (fuse/noted_attrs.c).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
HOLD=$WORK/hold
export MODELFS_TEST_COMMIT_HOLD=$HOLD
check "mount (commits wait for $HOLD)" mfs_mount "$M" "$D" || mfs_abort "no mount"
unset MODELFS_TEST_COMMIT_HOLD

writer=
setup() {
	mkdir "$M/dl" && touch "$HOLD" && for i in 1 2 3; do echo "$i" >"$M/dl/done$i" || return 1; done &&
	rm "$HOLD" "$HOLD.held" && ls -l "$M/dl" >/dev/null && sync
}
check "a directory with three files" setup

# The writer tags its file (user.src) before it writes and closes.
committing() {
	"$PY" - "$M/dl/model.bin" <<'PYEOF' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.setxattr(sys.argv[1], "user.src", b"hub")
os.write(fd, b"model bytes\n")
os.close(fd)
PYEOF
	writer=$!
	wait_for 300 test -e "$HOLD.held" || { echo "the commit never started" >&2; return 1; }
}
check "a file whose commit is under way (held)" committing

# Each listing runs with a bound far above what it needs: without the fix
# it waits for the commit, which waits for $HOLD, so it would never end.
listing() { # WHAT CMD...
	local out
	out=$(timeout 20 "$@" 2>&1) || { echo "$1 did not finish while the commit was held: $out" >&2; return 1; }
	case "$out" in
	*model.bin*) ;;
	*) echo "$1 does not list model.bin: $out" >&2; return 1 ;;
	esac
	pid_alive "$writer" || { echo "the writer's close ended: the commit was not held" >&2; return 1; }
}
check "ls -f lists the directory while the commit is held" listing ls -f "$M/dl"
check "find lists it too" listing find "$M/dl"
check "a second ls -f, with the kernel's entries cached" listing ls -f "$M/dl"
check "ls -l (a lookup or a stat of each entry)" listing ls -l "$M/dl"
check "stat of the file: the size written" listing stat -c '%s %n' "$M/dl/model.bin"
check "stat -c %s says 12" expect_eq "$(timeout 20 stat -c %s "$M/dl/model.bin")" 12 size
check "getfattr -d (listxattr, getxattr)" listing getfattr -d "$M/dl/model.bin"
check "getfattr of user.src gives its value" \
	expect_eq "$(timeout 20 getfattr --only-values -n user.src "$M/dl/model.bin")" hub user.src
check "getfattr of user.modelfs.repl" listing getfattr -n user.modelfs.repl "$M/dl/model.bin"

release() { touch "$HOLD" && wait "$writer"; }
check "the commit goes on once released; the writer's close succeeds" release
check "model.bin has its bytes" expect_eq "$(cat "$M/dl/model.bin")" "model bytes" model.bin
check "stat after the commit: its size" expect_eq "$(stat -c %s "$M/dl/model.bin")" 12 size

mfs_done
