#!/usr/bin/python3
# Pulls the real trained float tensors out of the model files that
# fetch_weights.sh unpacked (ONNX files and TensorFlow.js weight shards) and
# writes a pool of weights for the storage benchmarks:
#   OUT/weights-fp32.bin       every distinct float32 tensor, concatenated
#   OUT/weights-fp16.bin       the same values cast to float16 (non-finite dropped)
#   OUT/weights-fp16-native.bin tensors that the models themselves ship as
#                              float16 (tfjs float16 quantization), if any
#   OUT/weights.json           provenance: per source file, tensor counts and bytes
# ONNX is read with a minimal protobuf walker (no onnx package needed).
# Run with /usr/bin/python3 (needs numpy):
#   extract_weights.py SRC_DIR OUT_DIR
# SPDX-License-Identifier: Apache-2.0

import hashlib
import json
import os
import sys

import numpy as np

# ---- minimal protobuf wire-format walker -----------------------------------


def _varint(buf, pos):
    result = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf):
    """Yields (field_number, wire_type, value) for one message.  value is an
    int for varint/fixed types and a memoryview for length-delimited ones."""
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 1:
            val = int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wt == 2:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise ValueError("truncated field %d" % num)
            val = buf[pos:pos + n]
            pos += n
        elif wt == 5:
            val = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield num, wt, val


def _packed_varints(mv):
    out = []
    pos = 0
    while pos < len(mv):
        v, pos = _varint(mv, pos)
        out.append(v)
    return out


# ONNX field numbers (onnx.proto3)
MODEL_GRAPH = 7
GRAPH_NODE, GRAPH_NAME, GRAPH_INITIALIZER = 1, 2, 5
NODE_ATTRIBUTE = 5
ATTR_T, ATTR_G, ATTR_TENSORS, ATTR_GRAPHS = 5, 6, 10, 11
T_DIMS, T_DATA_TYPE, T_FLOAT_DATA, T_INT32_DATA, T_NAME, T_RAW_DATA = 1, 2, 4, 5, 8, 9
T_DATA_LOCATION = 14
ONNX_FLOAT, ONNX_FLOAT16 = 1, 10


def onnx_tensor(mv):
    """Returns (name, dtype_code, dims, np.ndarray or None) for a TensorProto."""
    name = ""
    dtype = 0
    dims = []
    raw = None
    floats = []
    int32s = []
    external = False
    for num, wt, val in fields(mv):
        if num == T_DIMS:
            dims.extend(_packed_varints(val) if wt == 2 else [val])
        elif num == T_DATA_TYPE:
            dtype = val
        elif num == T_FLOAT_DATA:
            if wt == 2:
                floats.append(np.frombuffer(bytes(val), dtype="<f4"))
            else:
                floats.append(np.array([val], dtype="<u4").view("<f4"))
        elif num == T_INT32_DATA:
            int32s.extend(_packed_varints(val) if wt == 2 else [val])
        elif num == T_NAME:
            name = bytes(val).decode("utf-8", "replace")
        elif num == T_RAW_DATA:
            raw = bytes(val)
        elif num == T_DATA_LOCATION and val == 1:
            external = True
    arr = None
    if external:
        arr = None
    elif dtype == ONNX_FLOAT:
        if raw is not None:
            arr = np.frombuffer(raw, dtype="<f4")
        elif floats:
            arr = np.concatenate(floats)
    elif dtype == ONNX_FLOAT16:
        if raw is not None:
            arr = np.frombuffer(raw, dtype="<f2")
        elif int32s:  # the spec stores float16 bit patterns in int32_data
            arr = np.array(int32s, dtype="<u4").astype("<u2").view("<f2")
    return name, dtype, dims, arr


def onnx_graph_tensors(mv, out):
    for num, _, val in fields(mv):
        if num == GRAPH_INITIALIZER:
            out.append(onnx_tensor(val))
        elif num == GRAPH_NODE:
            for n2, _, v2 in fields(val):
                if n2 != NODE_ATTRIBUTE:
                    continue
                for n3, _, v3 in fields(v2):
                    if n3 in (ATTR_T, ATTR_TENSORS):  # Constant nodes
                        out.append(onnx_tensor(v3))
                    elif n3 in (ATTR_G, ATTR_GRAPHS):  # If/Loop subgraphs
                        onnx_graph_tensors(v3, out)


def onnx_tensors(path):
    with open(path, "rb") as f:
        mv = memoryview(f.read())
    out = []
    for num, _, val in fields(mv):
        if num == MODEL_GRAPH:
            onnx_graph_tensors(val, out)
    return out


# ---- TensorFlow.js layers/graph models (model.json + .bin shards) ----------

TFJS_BYTES = {"float32": 4, "int32": 4, "bool": 1, "float16": 2,
              "uint8": 1, "uint16": 2, "complex64": 8, "string": None}


def tfjs_tensors(manifest_path):
    """Returns [(name, 'float32'|'float16', shape, ndarray)] from a tfjs
    manifest; uint8/uint16-quantized and integer weights are skipped."""
    with open(manifest_path) as f:
        j = json.load(f)
    groups = j if isinstance(j, list) else j.get("weightsManifest")
    if not groups:
        return []
    base = os.path.dirname(manifest_path)
    out = []
    for g in groups:
        data = b""
        for p in g["paths"]:
            with open(os.path.join(base, p), "rb") as f:
                data += f.read()
        off = 0
        for w in g["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            q = w.get("quantization")
            if q:
                esize = TFJS_BYTES[q["dtype"]]
                kind = q["dtype"] if q["dtype"] == "float16" else None
            else:
                esize = TFJS_BYTES.get(w["dtype"])
                kind = w["dtype"] if w["dtype"] == "float32" else None
            if esize is None:
                raise ValueError("%s: unsupported dtype %s" % (manifest_path, w["dtype"]))
            n = count * esize
            if off + n > len(data):
                raise ValueError("%s: shard too short for %s" % (manifest_path, w["name"]))
            if kind == "float32":
                out.append((w["name"], kind, w["shape"], np.frombuffer(data[off:off + n], "<f4")))
            elif kind == "float16":
                out.append((w["name"], kind, w["shape"], np.frombuffer(data[off:off + n], "<f2")))
            off += n
    return out


# ---- driver -----------------------------------------------------------------


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: extract_weights.py SRC_DIR OUT_DIR\n")
        return 2
    src, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    seen = set()
    fp32_parts, fp16_native = [], []
    report = []
    files = []
    for root, _, names in os.walk(src):
        for n in names:
            files.append(os.path.join(root, n))
    for path in sorted(files):
        rel = os.path.relpath(path, src)
        if path.endswith(".onnx"):
            tensors = [(name, {ONNX_FLOAT: "float32", ONNX_FLOAT16: "float16"}.get(dt), dims, arr)
                       for name, dt, dims, arr in onnx_tensors(path)]
        elif path.endswith(".json"):
            try:
                tensors = tfjs_tensors(path)
            except (ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError):
                continue
            if not tensors:
                continue
        else:
            continue
        entry = {"file": rel, "float32": 0, "float16": 0, "dups": 0, "bytes": 0}
        for name, kind, _, arr in tensors:
            if arr is None or kind is None or arr.size == 0:
                continue
            digest = hashlib.sha256(arr.tobytes()).digest()
            if digest in seen:  # the same tensor shipped twice (model versions)
                entry["dups"] += 1
                continue
            seen.add(digest)
            if kind == "float32":
                fp32_parts.append(arr)
            else:
                fp16_native.append(arr)
            entry[kind] += 1
            entry["bytes"] += arr.nbytes
        if entry["float32"] or entry["float16"]:
            report.append(entry)
    if not fp32_parts:
        sys.stderr.write("extract_weights: no float32 tensors under %s\n" % src)
        return 1
    fp32 = np.concatenate(fp32_parts).astype("<f4")
    fp32 = fp32[np.isfinite(fp32)]
    with np.errstate(over="ignore"):
        fp16 = fp32.astype("<f2")
    fp16 = fp16[np.isfinite(fp16)]
    fp32.tofile(os.path.join(outdir, "weights-fp32.bin"))
    fp16.tofile(os.path.join(outdir, "weights-fp16.bin"))
    summary = {
        "fp32_tensors": sum(e["float32"] for e in report),
        "fp32_values": int(fp32.size),
        "fp16_values": int(fp16.size),
        "sources": report,
    }
    if fp16_native:
        nat = np.concatenate(fp16_native).astype("<f2")
        nat = nat[np.isfinite(nat)]
        nat.tofile(os.path.join(outdir, "weights-fp16-native.bin"))
        summary["fp16_native_tensors"] = sum(e["float16"] for e in report)
        summary["fp16_native_values"] = int(nat.size)
    with open(os.path.join(outdir, "weights.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("extract_weights: %d float32 tensors, %.1f MiB fp32, %.1f MiB fp16%s" % (
        summary["fp32_tensors"], fp32.nbytes / 2**20, fp16.nbytes / 2**20,
        ", %.1f MiB native fp16 (%d tensors)" % (nat.nbytes / 2**20, summary["fp16_native_tensors"])
        if fp16_native else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
