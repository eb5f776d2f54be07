#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# chmod, chown, utimensat, setxattr and ftruncate racing commits of the
# same file (truncate(2)s of the path and a cp over it publish a new
# version, a new inode, each time).  A change through the path's dentry
# the kernel has not dropped yet reaches a superseded version; no caller
# may see ESTALE for it.  After the race the file should have what the
# last change of each kind set, as on tmpfs (shown, not yet required: see
# the NEEDSWORK below).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" "allow_other" || mfs_abort "no mount"

# py CASE: runs one case of the script below on $M; what it prints is
# shown as a note beside the result.
py() {
	local out rc
	out=$(py_case "$1")
	rc=$?
	[ -z "$out" ] || note "$out"
	return "$rc"
}

py_case() {
	"$PY" - "$M" "$1" "$(cd "$(dirname "$0")" && pwd)" <<'PYEOF'
import errno, os, sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, sys.argv[3])
import racers  # noqa: E402 (tests/fs/racers.py)

top, case = sys.argv[1], sys.argv[2]
p = os.path.join(top, case)
ROUNDS, LOOPS = 30, 60


def looping(call):
    return racers.looping(call, LOOPS)


def truncater(size):
    return looping(lambda i: os.truncate(p, size))


def copier(i):
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, b"B" * 9000)
    finally:
        os.close(fd)


# Each changer's last call sets the value checked after the race.
def chmod(i):
    os.chmod(p, 0o640 if i == LOOPS - 1 else 0o600 + (i % 8))


def chown(i):
    os.chown(p, 4242 if i == LOOPS - 1 else 4000 + i, -1)


def utime(i):
    # The atime: truncates and writes move the mtime, as on tmpfs.
    t = 1_000_000_000 + (0 if i == LOOPS - 1 else i + 1)
    os.utime(p, ns=(t * 10**9, t * 10**9))


def setxattr(i):
    os.setxattr(p, "user.k", b"last" if i == LOOPS - 1 else b"v%d" % i)


def ftruncater():
    # Through a descriptor opened before the commits: an old version's.
    def fn():
        errs = {}
        fd = os.open(p, os.O_WRONLY)
        for i in range(LOOPS):
            try:
                os.ftruncate(fd, 50 + i)
            except OSError as e:
                k = errno.errorcode.get(e.errno, str(e.errno))
                errs[k] = errs.get(k, 0) + 1
        os.close(fd)
        return errs
    return fn


changers = {"chmod": chmod, "chown": chown, "utime": utime, "setxattr": setxattr}
total, lost = {}, []
for rnd in range(ROUNDS):
    with open(p, "wb") as f:
        f.write(b"A" * 8192)
    if case == "ftruncate":
        errs = racers.procs([ftruncater(), truncater(100), truncater(5000), looping(copier)])
    else:
        errs = racers.procs([looping(changers[case]), truncater(100), truncater(5000),
                      looping(copier)])
        st = os.stat(p)
        got = {"chmod": lambda: st.st_mode & 0o7777, "chown": lambda: st.st_uid,
               "utime": lambda: st.st_atime_ns // 10**9,
               "setxattr": lambda: os.getxattr(p, "user.k")}[case]()
        want = {"chmod": 0o640, "chown": 4242, "utime": 1_000_000_000,
                "setxattr": b"last"}[case]
        if got != want:
            lost.append((rnd, got))
    for k, v in errs.items():
        total[k] = total.get(k, 0) + v
print("errors (process, errno): %s; rounds that lost the last %s (round, value): %s"
      % (total, case, lost or "none"))
# NEEDSWORK: the last change is still lost now and then (0 to 5 rounds in
# 30 per kind, in bursts), a value a node or the kernel's attributes kept
# from before it (truncs, s33): shown, not failed.  Before the publishes of
# a file were serialised the store itself lost it, and whole commits.
if total:
    sys.exit("errors (process, errno): %s" % total)
PYEOF
}

check "chmod(2)s racing truncates and a cp: no ESTALE (30 rounds)" py chmod
check "chown(2)s racing truncates and a cp: no ESTALE (30 rounds)" py chown
check "utimensat(2)s racing truncates and a cp: no ESTALE (30 rounds)" py utime
check "setxattr(2)s racing truncates and a cp: no ESTALE (30 rounds)" py setxattr
check "ftruncate(2) through an old version's descriptor racing commits: no ESTALE" \
	py ftruncate

mfs_done
