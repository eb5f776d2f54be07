#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The man pages render without warnings, and modelfs.conf(5) and the sample
# config name every option the daemon accepts (fuse/settings.c).
set -u
src=${MFS_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
n=0 fail=0
if ! command -v man >/dev/null; then echo "1..0 # SKIP man is not installed"; exit 0; fi
for page in "$src"/man/*.[1-8]; do
	n=$((n + 1))
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
	if [ -z "$out" ]; then echo "ok $n - $(basename "$page") renders cleanly"
	else echo "not ok $n - $(basename "$page") has warnings"; echo "$out" | sed 's/^/#   /'; fail=1; fi
done
# Every key set_option() parses: the table entries ({ "key", ...) and the keys
# it compares by name (listen, peer).  Each must be a paragraph of
# modelfs.conf(5) (.B key or .BI key= ARG) and a line of the sample config
# ("#key = default", or "#key" for a flag), not just a word somewhere in them.
keys=$(grep -oE '\{ "[a-z_]+", |strcmp\(key, "[a-z_]+"\)' "$src/fuse/settings.c" |
	grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
[ -n "$keys" ] || { echo "not ok 1 - no options found in fuse/settings.c"; echo "1..1"; exit 1; }
for key in $keys; do
	n=$((n + 1))
	if ! grep -qE "^\.BI? $key(=| |\$)" "$src/man/modelfs.conf.5"; then
		echo "not ok $n - option $key has no paragraph in modelfs.conf(5)"; fail=1
	elif ! grep -qE "^#$key( = .+)?\$" "$src/packaging/modelfs.conf"; then
		echo "not ok $n - option $key is not in the sample config (#$key = DEFAULT)"; fail=1
	else
		echo "ok $n - option $key is documented"
	fi
done
echo "1..$n"
exit $fail
