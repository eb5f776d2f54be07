#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Checks the layer rule of HACKING.md: fuse -> replica -> store, and tools/
# uses public headers only.  A file may include headers of its own layer and
# of the layers below it; nothing in store/ knows about the network or FUSE.
set -u
src=${MFS_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src" || exit 1

n=0 fail=0
check() { # layer, forbidden header patterns (regex)
	local layer=$1 forbidden=$2 bad
	n=$((n + 1))
	bad=$(grep -nE "#include [<\"]($forbidden)" "$layer"/*.[ch] 2>/dev/null || true)
	if [ -z "$bad" ]; then
		echo "ok $n - $layer/ includes nothing from layers above it"
	else
		echo "not ok $n - $layer/ reaches up a layer"
		echo "$bad" | sed 's/^/#   /'
		fail=1
	fi
}
fuse_headers=$(cd fuse && ls ./*.h | sed 's|^\./||' | paste -sd'|')
replica_headers=$(cd replica && ls ./*.h 2>/dev/null | sed 's|^\./||' | paste -sd'|')
check store "fuse_lowlevel.h|fuse.h|zmq.h|${fuse_headers}${replica_headers:+|$replica_headers}"
check replica "fuse_lowlevel.h|fuse.h|${fuse_headers}"
# tools/ talks to the daemon over its socket; it may open a store offline.
check tools "fuse_lowlevel.h|fuse.h|rocksdb/c.h|zmq.h|fs_internal.h|${fuse_headers}"
n=$((n + 1))
if grep -lE 'rocksdb/c\.h' store/*.c | grep -qv 'store/db_rocks.c'; then
	echo "not ok $n - only store/db_rocks.c includes rocksdb/c.h"
	fail=1
else
	echo "ok $n - only store/db_rocks.c includes rocksdb/c.h"
fi
echo "1..$n"
exit $fail
