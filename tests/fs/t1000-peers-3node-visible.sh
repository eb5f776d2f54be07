#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Three nodes on loopback see one tree.  A safetensors-like model written on
# node 1 (a 64 MiB shard, an 8 MiB shard, a small config.json, a tokenizer
# subdir) reads back byte for byte on nodes 2 and 3.  A rename, unlink,
# mkdir, chmod and user xattr made on node 2 show up on nodes 1 and 3.  A
# rewrite on node 3 shows the new bytes everywhere, while a reader on node 1
# that opened the old version keeps reading the old bytes to the end.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 3

S=$WORK/src
declare -A sum=()
check "start 3 nodes; every node sees its 2 peers up" cl_start_all || mfs_abort "no cluster"

M1=${CL_M[1]} M2=${CL_M[2]} M3=${CL_M[3]}

model() {
	mkdir -p "$S/model/tokenizer" &&
	randfile "$S/model/model-00001-of-00002.safetensors" $((64 * MiB)) &&
	randfile "$S/model/model-00002-of-00002.safetensors" $((8 * MiB + 12345)) &&
	echo '{"architectures": ["LlamaForCausalLM"], "hidden_size": 4096}' >"$S/model/config.json" &&
	echo '{"version": "1.0", "model": {"type": "BPE"}}' >"$S/model/tokenizer/tokenizer.json" &&
	cp -r "$S/model" "$M1/model" || return 1
	local f
	for f in model-00001-of-00002.safetensors model-00002-of-00002.safetensors config.json tokenizer/tokenizer.json; do
		sum[$f]=$(file_sha "$S/model/$f") || return 1
	done
	expect_sha "$M1/model/model-00001-of-00002.safetensors" "${sum[model-00001-of-00002.safetensors]}"
}
check "write a model on node 1 (64 MiB + 8 MiB shards, config.json, tokenizer/)" model || mfs_abort "no model"

same_model_on() { # NODE
	local m=${CL_M[$1]} f
	expect_listing "$m/model" model-00001-of-00002.safetensors model-00002-of-00002.safetensors \
		config.json tokenizer &&
	expect_listing "$m/model/tokenizer" tokenizer.json || return 1
	for f in "${!sum[@]}"; do
		expect_sha "$m/model/$f" "${sum[$f]}" &&
		expect_eq "$(stat -c %s "$m/model/$f")" "$(stat -c %s "$S/model/$f")" "size of $f on node $1" || return 1
	done
}
check "the tree converges on all 3 nodes" cl_wait_converged
check "node 2: same listing, sizes and bytes as written" same_model_on 2
check "node 3: same listing, sizes and bytes as written" same_model_on 3

changes_on_2() {
	mv "$M2/model/config.json" "$M2/model/config.orig.json" &&
	rm "$M2/model/tokenizer/tokenizer.json" &&
	mkdir "$M2/model/extra" &&
	chmod 0640 "$M2/model/model-00002-of-00002.safetensors" &&
	chmod 0750 "$M2/model/extra" &&
	setfattr -n user.model.license -v apache-2.0 "$M2/model/model-00001-of-00002.safetensors"
}
check "node 2: rename, unlink, mkdir, chmod, setfattr" changes_on_2

changes_seen_on() { # NODE
	local m=${CL_M[$1]}
	expect_listing "$m/model" model-00001-of-00002.safetensors model-00002-of-00002.safetensors \
		config.orig.json tokenizer extra &&
	expect_listing "$m/model/tokenizer" &&
	expect_listing "$m/model/extra" &&
	expect_eq "$(stat -c %a "$m/model/model-00002-of-00002.safetensors")" 640 "mode of shard 2 on node $1" &&
	expect_eq "$(stat -c %a "$m/model/extra")" 750 "mode of extra/ on node $1" &&
	expect_eq "$(getfattr --only-values -n user.model.license "$m/model/model-00001-of-00002.safetensors")" \
		apache-2.0 "user.model.license on node $1" &&
	expect_sha "$m/model/config.orig.json" "${sum[config.json]}"
}
check "the trees converge after the changes" cl_wait_converged
check "node 1 sees node 2's changes" changes_seen_on 1
check "node 3 sees node 2's changes" changes_seen_on 3

# A reader on node 1 holds the old shard 2 (it read half) while node 3
# rewrites it; once node 1 sees the new version, the reader reads the rest.
rewrite_on_3() {
	local f=model/model-00002-of-00002.safetensors rpid rc got new
	randfile "$S/v2" $((8 * MiB + 12345)) && new=$(file_sha "$S/v2") || return 1
	rm -f "$WORK/ready" "$WORK/go"
	"$PY" "$HELPER" reader "$M1/$f" "$WORK/ready" "$WORK/go" >"$WORK/reader.out" 2>&1 &
	rpid=$!
	if ! wait_for 300 test -e "$WORK/ready"; then
		echo "the reader on node 1 did not read its first half within 30 s" >&2
		kill "$rpid"
		return 1
	fi
	if ! cp "$S/v2" "$M3/$f" || ! cl_wait_sha 1 "$f" "$new"; then
		touch "$WORK/go"
		wait "$rpid"
		return 1
	fi
	touch "$WORK/go"
	wait "$rpid"
	rc=$?
	got=$(cat "$WORK/reader.out")
	expect_eq "$rc" 0 "reader exit status ($got)" &&
	expect_eq "$got" "$((8 * MiB + 12345)) ${sum[model-00002-of-00002.safetensors]}" \
		"what the old reader on node 1 read (length sha256)" &&
	expect_sha "$M3/$f" "$new" &&
	cl_wait_sha 2 "$f" "$new" &&
	sum[model-00002-of-00002.safetensors]=$new
}
check "rewrite on node 3: new bytes on every node; a reader on node 1 keeps the old version" rewrite_on_3
check "the trees converge after the rewrite" cl_wait_converged

cl_done
