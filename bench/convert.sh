#!/usr/bin/env bash
# Conversion benchmark on the cached 1.5B-shaped step folder (bench/run.sh makes it): each converter
# against `cp -r` of the same bytes followed by `sync` (ckpt-diff flushes its output before the
# rename that publishes it). Sources are re-read into the page cache before each run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
actor="$here/cache/qwen15b/global_step_10/actor"
[ -d "$actor" ] || { echo "run bench/run.sh first (it generates $actor)" >&2; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$root/ckpt-diff" --version >/dev/null 2>&1 || true
warm() { cat "$@" > /dev/null; sync; }
run() { rm -rf "$out"/*; sync; python3 "$here/measure.py" "$@"; }
mkdir -p "$here/results"
{
  warm "$actor"/hf_model/*;          run "cp -r hf_model && sync" -- sh -c "cp -r '$actor/hf_model' '$out/cp' && sync"
  warm "$actor"/iter_0000010/*/*;    run "cp -r iter_0000010 && sync" -- sh -c "cp -r '$actor/iter_0000010' '$out/cp' && sync"
  warm "$actor"/hf_model/*;          run "convert to-megatron --tp 2" -- "$root/ckpt-diff" convert to-megatron "$actor/hf_model" --out "$out/meg" --tp 2
  warm "$actor"/iter_0000010/*/*;    run "convert to-hf" -- "$root/ckpt-diff" convert to-hf "$actor/iter_0000010" --out "$out/hf" --config-from "$actor/hf_model"
  warm "$actor"/iter_0000010/*/*;    run "convert reshard --tp 1" -- "$root/ckpt-diff" convert reshard "$actor/iter_0000010" --out "$out/tp1" --tp 1 --pp 1
} | tee "$here/results/convert.jsonl"
