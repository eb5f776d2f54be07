#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A chown of a file reaches descriptors opened before a commit gave its
# path a new inode.  Such a descriptor sits on the old version's kernel
# inode, and the kernel checks a futimens or fchmod through it against
# the owner it has cached for that inode, never asking again: after the
# file was chowned to root through its path, its former owner could still
# set its times and its mode through the old descriptor (EPERM on tmpfs;
# fsdiff, seed 119 of 9000 ops x 4).  The old descriptor is a reader that
# opened before the writer, or one that opened while the writer wrote.
#
# The set-ID bits go by the current version's mode too: a writer's
# descriptor that an fsync left on the old inode, then a chmod of the path
# to 02755, then an ftruncate through the descriptor by another uid: the
# set-group-ID bit must go, as on tmpfs (it stayed: fsdiff seed 167002,
# op 4617).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
# The work dir is 0700 (mktemp): uid 4242 must reach the files.
chmod 755 "$WORK"
check "mount with allow_other" mfs_mount "$M" "$D" allow_other || mfs_abort "no mount"
check "tmpfs reference" mfs_tmpfs "$WORK/ref" "16m,nosuid,nodev" || mfs_abort "no tmpfs"

# cases DIR: what differs from tmpfs's answers; exit 1 if anything does.
cases() {
	"$PY" - "$1" <<'PYEOF'
import errno, os, stat, sys
d, bad = sys.argv[1], []

def as_user(fn):
    pid = os.fork()
    if pid == 0:
        os.setresgid(4242, 4242, 4242)
        os.setresuid(4242, 4242, 4242)
        try:
            fn()
            os._exit(0)
        except OSError as e:
            os._exit(e.errno)
    return os.waitpid(pid, 0)[1] >> 8

for when in ("before the writer", "while the writer wrote"):
    p = d + "/f"
    os.close(os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644))
    os.chown(p, 4242, 4242)
    if when == "before the writer":
        old = os.open(p, os.O_RDONLY)
    w = os.open(p, os.O_WRONLY)
    os.pwrite(w, b"y" * 4000, 1000)
    if when == "while the writer wrote":
        old = os.open(p, os.O_RDONLY)
    os.close(w)  # the commit: p has a new inode, old stays on the old one
    os.chown(p, 0, 0)
    os.chmod(p, 0o640)
    rc = as_user(lambda: os.utime(old, ns=(1000000000123456789, 1000000000987654321)))
    if rc != errno.EPERM:
        bad.append("%s: futimens by the former owner: errno %d, want EPERM" % (when, rc))
    rc = as_user(lambda: os.chmod(old, 0o4777))
    if rc != errno.EPERM:
        bad.append("%s: fchmod by the former owner: errno %d, want EPERM" % (when, rc))
    st = os.stat(p)
    if (st.st_uid, stat.S_IMODE(st.st_mode)) != (0, 0o640):
        bad.append("%s: f is uid %d mode %o, want 0 640" % (when, st.st_uid, stat.S_IMODE(st.st_mode)))
    # The owner (root) still may.
    try:
        os.utime(old, ns=(1000000000000000001, 1000000000000000002))
    except OSError as e:
        bad.append("%s: futimens by root: %s" % (when, e.strerror))
    if os.stat(p).st_mtime_ns != 1000000000000000002:
        bad.append("%s: the mtime root set is not f's" % when)
    os.close(old)
    os.unlink(p)
print("\n".join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)
PYEOF
}
check "on tmpfs: the former owner may not set times or mode through an old fd" cases "$WORK/ref"
check "on the mount too, after a commit gave the path a new inode" cases "$M"

# setid DIR: the modes after each step, one line; the mount's must be tmpfs's.
setid() {
	"$PY" - "$1" <<'PYEOF'
import os, sys
d, out = sys.argv[1], []

def as_user(fn):
    pid = os.fork()
    if pid == 0:
        os.setresgid(4242, 4242, 4242)
        os.setresuid(4242, 4242, 4242)
        try:
            fn()
            os._exit(0)
        except OSError as e:
            os._exit(e.errno)
    return os.waitpid(pid, 0)[1] >> 8

# The file's owner: root, or the uid that truncates (the bit goes either way).
for owner in (0, 4242):
    p = "%s/s%d" % (d, owner)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"x" * 100)
    os.close(fd)
    os.chown(p, owner, owner)
    w = os.open(p, os.O_RDWR | os.O_TRUNC)
    os.fsync(w)  # the commit: p has a new inode, w stays on the old one
    os.chmod(p, 0o2755)
    rc = as_user(lambda: os.ftruncate(w, 0))
    out.append("owner %d: ftruncate errno %d, mode %o, fstat %o" %
               (owner, rc, os.stat(p).st_mode, os.fstat(w).st_mode))
    os.close(w)
    out.append("owner %d: after close %o" % (owner, os.stat(p).st_mode))
print("; ".join(out))
PYEOF
}
same_setid() {
	local want got
	want=$(setid "$WORK/ref") && got=$(setid "$M") || return 1
	echo "tmpfs: $want"
	expect_eq "$got" "$want" "modes on the mount"
}
check "a non-owner's ftruncate through an fd an fsync left on the old inode drops set-GID" same_setid

mfs_done
