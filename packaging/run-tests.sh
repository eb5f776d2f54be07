#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The test command of README.md (and of CI): installs dependencies, builds
# with strict warnings, runs `make check` (unit tests, then filesystem tests
# that mount for real as root), and prints one summary line.
set -u
cd "$(dirname "$0")/.."
bash packaging/install-deps.sh || exit 1
{ ./autogen.sh && ./configure --enable-developer && make -j"$(nproc)"; } >build.log 2>&1 || {
	tail -50 build.log
	echo "build failed (full log: build.log)"
	exit 1
}
make check -j1
rc=$?
# Show what failed, then the closing line CI reads.
for trs in $(find tests -name '*.trs' 2>/dev/null); do
	if grep -q '^:test-result: FAIL\|^:test-result: ERROR' "$trs"; then
		echo "---- ${trs%.trs}.log"
		tail -40 "${trs%.trs}.log"
	fi
done
pass=$(grep -h '^:test-result: PASS' $(find tests -name '*.trs') 2>/dev/null | wc -l)
fail=$(grep -hE '^:test-result: (FAIL|ERROR|XPASS)' $(find tests -name '*.trs') 2>/dev/null | wc -l)
skip=$(grep -h '^:test-result: SKIP' $(find tests -name '*.trs') 2>/dev/null | wc -l)
echo "$pass passed, $fail failed, $skip skipped"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
