#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The set-group-ID bit of a file whose mode has S_ISUID and S_ISGID but no
# group execute (06767), when someone outside its group truncates it or
# allocates in it: tmpfs and ext4 drop both bits.  The kernel asks FUSE
# for the S_ISUID drop with a mode that still has S_ISGID (it drops that
# one only with group execute), and the daemon kept it (hunt2 s42).  Each
# case runs on a tmpfs first and must end there with the mode the mount
# shows; the cases around it (group execute, no S_ISUID, a member, root,
# a chmod by an owner outside the group) guard the rule's edges.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
REF=$WORK/ref
check "mount with allow_other" mfs_mount "$M" "$D" allow_other || mfs_abort "no mount"
check "a tmpfs to compare with" mfs_tmpfs "$REF" 16m || mfs_abort "no tmpfs"
{ chmod 711 "$WORK" && chmod 777 "$M" "$REF"; } || mfs_abort "chmod"

# setid.py DIR CASE MODE: makes DIR/CASE-MODE (owner and group as the case
# says, 4 bytes), runs the case's call as uid 65534 (in no group but its
# own, 65534, unless the case adds group 100), prints the mode after.
cat >"$WORK/setid.py" <<'PY'
import os, sys
d, case, mode = sys.argv[1], sys.argv[2], int(sys.argv[3], 8)
p = os.path.join(d, "%s-%o" % (case, mode))
U = 65534
owner, group, groups = 0, 0, []
if case.startswith("owner-"):
    owner = U          # the owner, outside the file's group 0
if case.startswith("member-"):
    group, groups = 100, [100]
with open(p, "wb") as f:
    f.write(b"data")
os.chown(p, owner, group)
os.chmod(p, mode)
calls = {
    "truncate": lambda: os.truncate(p, 1),
    "ftruncate": lambda: os.ftruncate(os.open(p, os.O_WRONLY), 1),
    "otrunc": lambda: os.open(p, os.O_WRONLY | os.O_TRUNC),
    "fallocate": lambda: os.posix_fallocate(os.open(p, os.O_WRONLY), 0, 100),
    "write": lambda: os.write(os.open(p, os.O_WRONLY), b"x"),
    "chmod": lambda: os.chmod(p, mode),
}
call = calls[case.split("-")[-1]]
if case.startswith("root-"):
    call()
else:
    pid = os.fork()
    if pid == 0:
        os.setgroups(groups)
        os.setresgid(U, U, U)
        os.setresuid(U, U, U)
        call()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status:
        sys.exit("%s: the call failed" % case)
print("%o" % os.stat(p).st_mode)
PY

# same CASE MODE: the mode after CASE on the mount is the tmpfs's.
same() {
	local want got
	want=$("$PY" "$WORK/setid.py" "$REF" "$1" "$2") || return 1
	got=$("$PY" "$WORK/setid.py" "$M" "$1" "$2") || return 1
	expect_eq "$got" "$want" "mode after $1 of a $2 file (tmpfs: $want)"
}

for c in truncate ftruncate otrunc fallocate; do
	check "$c by a non-member drops S_ISUID and S_ISGID of 06767" same "$c" 6767
	check "$c by a non-member drops both of 06777" same "$c" 6777
	check "$c by a non-member drops S_ISGID of 02767" same "$c" 2767
done
check "truncate by the owner outside the group drops both of 06767" same owner-truncate 6767
check "truncate by a member keeps S_ISGID of 06767" same member-truncate 6767
check "truncate by root keeps both of 06767" same root-truncate 6767
check "write by a non-member drops both of 06767" same write 6767
check "chmod 02767 by the owner outside the group gives 0767" same owner-chmod 2767
check "chmod 06767 by the owner outside the group gives 04767" same owner-chmod 6767

mfs_done
