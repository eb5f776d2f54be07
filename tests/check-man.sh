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
for key in $(grep -oE '\{ "[a-z_]+", ' "$src/fuse/settings.c" | grep -oE '[a-z_]+'); do
	n=$((n + 1))
	if grep -q "$key" "$src/man/modelfs.conf.5" && grep -q "$key" "$src/packaging/modelfs.conf"; then
		echo "ok $n - option $key is documented"
	else
		echo "not ok $n - option $key is missing from modelfs.conf(5) or the sample config"; fail=1
	fi
done
echo "1..$n"
exit $fail
