#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A descriptor keeps its file's attributes after the file's last name goes,
# also when a commit gave the path a new inode after the descriptor opened
# (a truncate(2), an O_TRUNC open, a rewrite).  The kernel's inode behind
# the descriptor is then the old version's; it reads the mode and xattrs
# of the path's current inode, and when that one's record went with its
# name, it showed the old version's instead: fgetxattr answered ENODATA
# and fstat the mode from before a chmod (fsdiff seed 103, 7000 ops x 4:
# process 2, op 5350).  An fsetxattr through the old descriptor after the
# unlink was kept only by the newer inode's node, gone with that inode's
# last descriptor (seed 139002).  On tmpfs the descriptor keeps them all.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

# cases DIR: each case prints what differs from tmpfs; exit 1 if any.
cases() {
	"$PY" - "$1" <<'PYEOF'
import os, stat, sys
d, bad = sys.argv[1], []

def x(fd, name="user.k0"):
    try:
        return os.getxattr(fd, name)
    except OSError as e:
        return e.strerror

def fresh(p, mode=0o644):
    with open(p, "wb") as f:
        f.write(b"x" * 1000)
    if mode:
        os.chmod(p, mode)

def check(case, r, mode, xattrs):
    st = os.fstat(r)
    if stat.S_IMODE(st.st_mode) != mode:
        bad.append("%s: fstat mode %o, want %o" % (case, stat.S_IMODE(st.st_mode), mode))
    if st.st_nlink != 0:
        bad.append("%s: fstat nlink %d, want 0" % (case, st.st_nlink))
    for name, want in xattrs.items():
        if x(r, name) != want:
            bad.append("%s: fgetxattr %s is %r, want %r" % (case, name, x(r, name), want))

# 1. truncate(2) of the path, chmod and setxattr by path, unlink.
p = d + "/trunc"
fresh(p)
r = os.open(p, os.O_RDONLY)
os.truncate(p, 10)
os.chmod(p, 0o600)
os.setxattr(p, "user.k0", b"by path")
os.unlink(p)
check("truncate, unlink", r, 0o600, {"user.k0": b"by path"})
# Changes through the descriptor after the unlink stay too.
os.fchmod(r, 0o640)
os.setxattr(r, "user.k1", b"after")
check("truncate, unlink, fchmod, fsetxattr", r, 0o640, {"user.k0": b"by path", "user.k1": b"after"})
os.close(r)

# 2. open(O_RDONLY|O_TRUNC) of a file with bytes, fsetxattr through it, unlink.
p = d + "/otrunc"
fresh(p, 0)
mode = stat.S_IMODE(os.stat(p).st_mode)
r = os.open(p, os.O_RDONLY | os.O_TRUNC)
os.setxattr(r, "user.k0", b"v" * 96)
os.unlink(p)
check("O_RDONLY|O_TRUNC, unlink", r, mode, {"user.k0": b"v" * 96})
os.close(r)

# 3. a rewrite (a new version) beside a reader, fsetxattr through the
# reader, then a rename over the path.
p, q = d + "/renamed", d + "/other"
fresh(p)
r = os.open(p, os.O_RDONLY)
with open(p, "wb") as w:
    w.write(b"new version")
os.setxattr(r, "user.k0", b"through the reader")
os.chmod(p, 0o604)
with open(q, "wb") as w:
    w.write(b"other")
os.rename(q, p)
check("rewrite, rename over", r, 0o604, {"user.k0": b"through the reader"})
os.close(r)
os.unlink(p)

# 4. a writer that went on after an fsync (its commit gave the path a new
# inode), a reader of that inode, the file unlinked: an fsetxattr through
# the writer reached the newer inode's node, which went when the reader
# closed, and the writer's fgetxattr lost it (fsdiff seed 139002).
p = d + "/synced"
os.close(os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644))
w = os.open(p, os.O_WRONLY)
os.write(w, b"y" * 5000)
os.fsync(w)
r = os.open(p, os.O_RDONLY)
os.unlink(p)
os.setxattr(w, "user.k0", b"through the writer")
os.close(r)
check("fsync, a reader, unlink, fsetxattr, the reader closed", w, 0o644,
      {"user.k0": b"through the writer"})
os.close(w)

print("\n".join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)
PYEOF
}
check "tmpfs reference" mfs_tmpfs "$WORK/ref" "16m" || mfs_abort "no tmpfs"
check "on tmpfs: a descriptor keeps its unlinked file's mode and xattrs" cases "$WORK/ref"
check "on the mount too, after commits gave the path new inodes" cases "$M"
check "fsck is clean" expect_status 0 "$ADMIN_BIN" fsck "$M"

mfs_done
