#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# torch.save of a dict of tensors (several dtypes, one of 32 MiB) into the
# mount, then torch.load back in a new process: every tensor is equal, warm
# and after a remount.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
"$PY" -c 'import torch' 2>/dev/null || skip_all "$PY has no torch"

M=$WORK/mnt
D=$WORK/data

cat >"$WORK/tt.py" <<'PYEOF'
import sys
import torch


def tensors():
    g = torch.Generator().manual_seed(4321)
    return {
        "big": torch.randn(8192, 1024, generator=g),
        "bf16": torch.randn(1000, 333, generator=g).to(torch.bfloat16),
        "fp16": torch.randn(4097, generator=g).to(torch.float16),
        "int8": torch.randint(-128, 127, (12345,), dtype=torch.int8, generator=g),
        "int64": torch.randint(-2**40, 2**40, (77, 3), dtype=torch.int64, generator=g),
        "scalar": torch.tensor(3.25),
        "empty": torch.zeros(0, 5),
    }


if sys.argv[1] == "save":
    torch.save(tensors(), sys.argv[2])
else:
    got = torch.load(sys.argv[2], map_location="cpu")
    want = tensors()
    bad = sorted(got) != sorted(want)
    for k in want:
        if k not in got or got[k].dtype != want[k].dtype or not torch.equal(got[k], want[k]):
            print("tensor %s differs" % k)
            bad = True
    sys.exit(1 if bad else 0)
PYEOF

check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
save() { mkdir -p "$M/ckpt" && "$PY" "$WORK/tt.py" save "$M/ckpt/model.pt"; }
check "torch.save into the mount" save
check "torch.load from the mount: every tensor is equal" "$PY" "$WORK/tt.py" load "$M/ckpt/model.pt"
check "umount, mount" mfs_remount "$M"
check "after remount, torch.load: every tensor is equal" "$PY" "$WORK/tt.py" load "$M/ckpt/model.pt"

mfs_done
