#!/usr/bin/python3
# Time to first tensor of a safetensors file, the way a loader starts: open,
# read the 8-byte little-endian header length, read the JSON header, then read
# one tensor's bytes.  The tensor is the one of at least --min-mib MiB (16 by
# default) whose data starts nearest the middle of the data section (the
# largest tensor when none is that big).  Reads use pread in --block-mib
# blocks (16 by default).  Prints one JSON object:
#   {"total_s", "header_s", "tensor_s", "header_bytes", "tensor", "offset",
#    "bytes", "tensors", "sha256"}
# offset is the tensor's absolute file offset; sha256 (of the tensor bytes)
# is computed after the clock stops, to compare with the source file.
#   first_tensor.py FILE [--min-mib 16] [--block-mib 16] [--tensor NAME]
# --tensor NAME reads that tensor instead (to hash the same one in another copy).
# SPDX-License-Identifier: Apache-2.0

import argparse
import hashlib
import json
import os
import sys
import time

MIB = 1 << 20


def main():
    ap = argparse.ArgumentParser(description="safetensors time to first tensor")
    ap.add_argument("file")
    ap.add_argument("--min-mib", type=int, default=16)
    ap.add_argument("--block-mib", type=int, default=16)
    ap.add_argument("--tensor", default=None)
    a = ap.parse_args()

    t0 = time.perf_counter()
    fd = os.open(a.file, os.O_RDONLY)
    try:
        raw = os.pread(fd, 8, 0)
        if len(raw) != 8:
            raise SystemExit("first_tensor: %s: short file" % a.file)
        hlen = int.from_bytes(raw, "little")
        if hlen <= 0 or hlen > 100 * MIB:
            raise SystemExit("first_tensor: %s: implausible header length %d" % (a.file, hlen))
        hbytes = b""
        while len(hbytes) < hlen:
            part = os.pread(fd, hlen - len(hbytes), 8 + len(hbytes))
            if not part:
                raise SystemExit("first_tensor: %s: header truncated" % a.file)
            hbytes += part
        header = json.loads(hbytes)
        t1 = time.perf_counter()

        tensors = [(k, v) for k, v in header.items() if k != "__metadata__"]
        if not tensors:
            raise SystemExit("first_tensor: %s: no tensors" % a.file)
        if a.tensor is not None:
            pick = [(k, v) for k, v in tensors if k == a.tensor]
            if not pick:
                raise SystemExit("first_tensor: %s: no tensor %s" % (a.file, a.tensor))
            name, info = pick[0]
        else:
            data_len = max(v["data_offsets"][1] for _, v in tensors)
            big = [(k, v) for k, v in tensors
                   if v["data_offsets"][1] - v["data_offsets"][0] >= a.min_mib * MIB]
            if big:
                name, info = min(big, key=lambda kv: abs(kv[1]["data_offsets"][0] - data_len // 2))
            else:
                name, info = max(tensors, key=lambda kv: kv[1]["data_offsets"][1] - kv[1]["data_offsets"][0])
        start, end = info["data_offsets"]
        base = 8 + hlen
        n = end - start
        buf = bytearray(n)
        view = memoryview(buf)
        block = a.block_mib * MIB
        done = 0
        while done < n:
            got = os.preadv(fd, [view[done:done + min(block, n - done)]], base + start + done)
            if got <= 0:
                raise SystemExit("first_tensor: %s: tensor %s truncated" % (a.file, name))
            done += got
        t2 = time.perf_counter()
    finally:
        os.close(fd)

    print(json.dumps({
        "total_s": round(t2 - t0, 6), "header_s": round(t1 - t0, 6), "tensor_s": round(t2 - t1, 6),
        "header_bytes": hlen, "tensor": name, "offset": base + start, "bytes": n,
        "tensors": len(tensors), "sha256": hashlib.sha256(buf).hexdigest()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
