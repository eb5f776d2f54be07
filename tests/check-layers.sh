#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Checks the layer rule of HACKING.md.  The tree is rooms whose arrows point
# one way: store/base <- store/kv <- store/chunk <- store/ns <- store/maint,
# then replica/, then fuse/ (the daemon) and fuse/admin/ (its admin surface);
# tools/ on the side.  Includes name their path from the top of the tree
# ("store/kv/db.h"); a bare name is a header of the same directory.
set -u
src=${MFS_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src" || exit 1

n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; echo "$2" | sed 's/^/#   /'; fail=1; }

# room, the rooms (directory prefixes) it may include, system headers it must not
rule() {
	local room=$1 allowed=$2 forbidden=$3 bad
	bad=$(grep -nE '#include "[a-z_]+/' "$room"/*.[ch] 2>/dev/null |
	      grep -vE "#include \"($allowed)/[a-z_]+\.h\"" || true)
	if [ -n "$forbidden" ]; then
		bad+=$(grep -nE "#include <($forbidden)>" "$room"/*.[ch] 2>/dev/null || true)
	fi
	if [ -z "$bad" ]; then
		ok "$room/ includes only from ${allowed//|/, }"
	else
		not_ok "$room/ reaches a room it may not" "$bad"
	fi
}
net_fuse='fuse_lowlevel\.h|fuse\.h|zmq\.h'
rule store/base 'NONE' "$net_fuse|rocksdb/c\.h"
rule store/kv 'store/base' "$net_fuse"
rule store/chunk 'store/base|store/kv' "$net_fuse|rocksdb/c\.h"
rule store/ns 'store/base|store/kv|store/chunk' "$net_fuse|rocksdb/c\.h"
rule store/maint 'store/base|store/kv|store/chunk|store/ns' "$net_fuse|rocksdb/c\.h"
rule replica 'store/base|store/kv|store/chunk|store/ns|store/maint' 'fuse_lowlevel\.h|fuse\.h|rocksdb/c\.h'
rule fuse 'fuse/admin|replica|store/base|store/kv|store/chunk|store/ns|store/maint' 'rocksdb/c\.h|zmq\.h'
rule fuse/admin 'fuse|replica|store/base|store/kv|store/chunk|store/ns|store/maint' 'rocksdb/c\.h|zmq\.h'
# tools/ talks to the daemon over its socket; it may open a stopped node's store.
rule tools 'fuse/admin|replica|store/base|store/kv|store/chunk|store/ns|store/maint' "$net_fuse|rocksdb/c\.h"

# The status vocabulary (libmfs_admin.a) is linked into the tool: it stands alone.
bad=$(grep -nE '#include "' fuse/admin/status_keys.[ch] fuse/admin/prom.[ch] |
      grep -vE '"(status_keys|prom)\.h"' || true)
[ -z "$bad" ] && ok "fuse/admin/status_keys and prom include nothing of the daemon" ||
	not_ok "fuse/admin/status_keys or prom include the daemon" "$bad"

# The tools reach only the daemon's public admin headers, never its internals.
bad=$(grep -nE '#include "(fuse/[a-z_]+\.h|fuse/admin/(control|fs_info)\.h|replica/internal\.h)"' tools/*.[ch] || true)
[ -z "$bad" ] && ok "tools/ includes no daemon or replica internals" ||
	not_ok "tools/ includes daemon or replica internals" "$bad"

# A bare include names a header of the including file's own directory.
bad=""
for f in store/*/*.[ch] replica/*.[ch] fuse/*.[ch] fuse/admin/*.[ch] tools/*.[ch]; do
	for h in $(grep -oE '#include "[a-z_0-9]+\.h"' "$f" | sed 's/#include "//; s/"//'); do
		[ "$h" = config.h ] || [ -e "$(dirname "$f")/$h" ] || bad+="$f: $h"$'\n'
	done
done
[ -z "$bad" ] && ok "every include from another directory names its path" ||
	not_ok "includes from another directory without a path" "$bad"

if grep -lE 'rocksdb/c\.h' store/*/*.c | grep -qv 'store/kv/db_rocks.c'; then
	not_ok "only store/kv/db_rocks.c includes rocksdb/c.h" "$(grep -lE 'rocksdb/c\.h' store/*/*.c)"
else
	ok "only store/kv/db_rocks.c includes rocksdb/c.h"
fi
echo "1..$n"
exit $fail
