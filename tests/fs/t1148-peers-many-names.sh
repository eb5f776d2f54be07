#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# One file with as many names as a record may list (1000) and one with 3000
# extended attributes, changed one name or attribute at a time: the names,
# nlink, listxattr and every value stay right on the node, after a SIGKILL
# and a restart of its daemon, and on a peer.  An unlink trusts a list of
# names it saw true and looks again only after a write that may make it
# stale (store/ns/namespace.c, "Lists seen true"): the peer's own unlinks
# and renames of the same file, mixed with node 1's, are such writes.
# Counts, not times: stress-ng --link and --xattr are what made these slow.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 2

check "start 2 nodes" cl_start_all || mfs_abort "no cluster"
M1=${CL_M[1]} M2=${CL_M[2]}
export CL_SNAP_NLINK=files

# many.py CMD ROOT [ARGS]: the heavy lifting (thousands of calls) and the
# description of the state that the nodes must agree on.
MANY=$WORK/many.py
cat >"$MANY" <<'PYEOF'
import errno, hashlib, os, sys

cmd, root = sys.argv[1], sys.argv[2]
DIRS = ["d0", "d1", "d2", "d3"]

def lname(i):
    return os.path.join(root, DIRS[i % 4], "l%04d" % i)

def value(i, gen):
    return (b"%d-%d:" % (i, gen)) * (1 + i % 5)

def links():
    for d in DIRS:
        os.mkdir(os.path.join(root, d))
    f = os.path.join(root, "f")
    open(f, "w").close()
    for i in range(1, 1000):
        os.link(f, lname(i))
    try:
        os.link(f, os.path.join(root, "one-more"))
        sys.exit("a 1001st name: no EMLINK")
    except OSError as e:
        if e.errno != errno.EMLINK:
            raise
    # Every third name goes; every 7th of the rest moves to another directory.
    for i in range(1, 1000):
        if i % 3 == 0:
            os.unlink(lname(i))
        elif i % 7 == 0:
            os.rename(lname(i), os.path.join(root, DIRS[(i + 1) % 4], "m%04d" % i))

def xattrs():
    x = os.path.join(root, "x")
    open(x, "w").close()
    for i in range(3000):
        os.setxattr(x, "user.a%04d" % i, value(i, 0))
    for i in range(0, 3000, 3):
        os.removexattr(x, "user.a%04d" % i)
    for i in range(1, 3000, 6):
        os.setxattr(x, "user.a%04d" % i, value(i, 1), os.XATTR_REPLACE)

def peer_changes():
    # On the other node: unlink and rename more of f's names, one attribute.
    for i in range(1, 1000, 10):
        if i % 3 and not i % 7:
            os.unlink(os.path.join(root, DIRS[(i + 1) % 4], "m%04d" % i))
        elif i % 3:
            os.unlink(lname(i))
    os.rename(lname(2), os.path.join(root, "renamed"))
    os.removexattr(os.path.join(root, "x"), "user.a0002")

MORE = ["d0/l0004", "d1/l0005", "d0/l0008"]

def more():
    for n in MORE:
        os.unlink(os.path.join(root, n))

def expected(stage):
    after_peer = stage != "before"
    names = {"f"}
    for i in range(1, 1000):
        if i % 3 == 0:
            continue
        gone = after_peer and i % 10 == 1
        n = "%s/m%04d" % (DIRS[(i + 1) % 4], i) if i % 7 == 0 else "%s/l%04d" % (DIRS[i % 4], i)
        if after_peer and i == 2:
            n = "renamed"
        if not gone:
            names.add(n)
    xs = {}
    for i in range(3000):
        if i % 3 == 0 or (after_peer and i == 2):
            continue
        xs["user.a%04d" % i] = value(i, 1 if i % 6 == 1 else 0)
    if stage == "after-more":
        names -= set(MORE)
    return names, xs

def describe():
    # f's names (every entry with f's st_ino) and nlink, x's attributes.
    fino = os.stat(os.path.join(root, "f")).st_ino
    names = set()
    for dp, dns, fns in os.walk(root):
        for n in fns:
            p = os.path.join(dp, n)
            if os.lstat(p).st_ino == fino:
                names.add(os.path.relpath(p, root))
    x = os.path.join(root, "x")
    xs = {n: os.getxattr(x, n) for n in os.listxattr(x) if n.startswith("user.a")}
    return names, os.stat(os.path.join(root, "f")).st_nlink, xs

def check(stage):
    names, nlink, xs = describe()
    want_names, want_xs = expected(stage)
    bad = []
    if names != want_names:
        bad.append("names: %d, want %d; missing %s, extra %s" % (
            len(names), len(want_names), sorted(want_names - names)[:5], sorted(names - want_names)[:5]))
    if nlink != len(want_names):
        bad.append("nlink %d, want %d" % (nlink, len(want_names)))
    if xs != want_xs:
        diff = sorted(k for k in set(xs) | set(want_xs) if xs.get(k) != want_xs.get(k))
        bad.append("xattrs: %d, want %d; differ: %s" % (len(xs), len(want_xs), diff[:5]))
    if bad:
        sys.exit("; ".join(bad))

if cmd == "make":
    links()
    xattrs()
elif cmd == "peer":
    peer_changes()
elif cmd == "more":
    more()
elif cmd == "check":
    check(sys.argv[3])
PYEOF

many() { "$PY" "$MANY" "$@"; }

check "node 1: f with 1000 names (then EMLINK), a third unlinked, some renamed; x with 3000 xattrs, a third removed, some replaced" \
	eval 'mkdir "$M1/many" && many make "$M1/many"'
check "node 1: f's names and nlink, x's xattrs and values as made" many check "$M1/many" before
check "node 2: the same, with nlink and xattrs" wait_for "$CL_TRIES" many check "$M2/many" before
check "the trees converge (names, nlink, xattrs)" cl_wait_converged meta

killed_restart() {
	cl_kill9 1 && cl_restart 1 && cl_wait_formed
}
check "node 1: SIGKILL of its daemon, restart" killed_restart
check "node 1 after the restart: nothing lost" many check "$M1/many" before

check "node 2: unlinks a tenth of f's names, renames one, removes one xattr" many peer "$M2/many"
check "node 2: as changed" many check "$M2/many" after-peer
check "node 1: the same" wait_for "$CL_TRIES" many check "$M1/many" after-peer

more_on_1() {
	# Node 1 trusted f's list before node 2's ops: these unlinks must
	# see the names node 2 removed as gone.
	many more "$M1/many" && many check "$M1/many" after-more
}
check "node 1: three more unlinks count only the names that lead to f" more_on_1
check "the trees converge again" cl_wait_converged meta

restart_both() {
	cl_stop 1 && cl_stop 2 && cl_restart 1 && cl_restart 2 && cl_wait_formed
}
check "both nodes stopped and started" restart_both
check "the trees are the same after the restart" cl_wait_converged meta

fsck_clean() { admin fsck --json "${CL_M[$1]}" >"$WORK/fsck$1.json" 2>&1; }
check "fsck clean on node 1" fsck_clean 1
check "fsck clean on node 2" fsck_clean 2

cl_done
