#!/usr/bin/env bash
# Benchmark: ckpt-diff against the read floor (cat) and a straightforward PyTorch script, warm cache.
# usage: bench/run.sh [--layers N] [--skip-torch]    (generates and caches bench/cache/qwen15b first)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
layers=28
skip_torch=0
while [ $# -gt 0 ]; do
  case "$1" in
    --layers) layers="$2"; shift 2 ;;
    --skip-torch) skip_torch=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
name="qwen15b"; [ "$layers" != 28 ] && name="qwen15b_L$layers"
cache="$here/cache/$name"
py="$root/testdata/.venv/bin/python"
[ -x "$py" ] || "$root/testdata/make-venv.sh"
if [ ! -f "$cache/global_step_10/actor/latest_checkpointed_iteration.txt" ]; then
  echo "generating $cache ..." >&2
  "$py" "$here/make_checkpoint.py" "$cache" --layers "$layers"
fi
step="$cache/global_step_10"
files=$(find "$step" -name '*.safetensors' -o -name 'model_optim_rng.pt' | sort)
size=$(du -cb $files | tail -1 | cut -f1)
"$root/ckpt-diff" --version >/dev/null 2>&1 || true   # build once, outside the timings
cat $files > /dev/null                                  # warm the page cache
out="$here/results"; mkdir -p "$out"
{
  for i in 1 2 3; do python3 "$here/measure.py" "cat" -- sh -c "cat $(echo $files) > /dev/null"; done
  for i in 1 2 3; do python3 "$here/measure.py" "ckpt-diff" -- "$root/ckpt-diff" --no-progress "$step"; done
  python3 "$here/measure.py" "ckpt-diff --threads 1" -- "$root/ckpt-diff" --no-progress --threads 1 "$step"
  if [ "$skip_torch" = 0 ]; then
    PYTHONPATH="$root/testdata/pysrc" python3 "$here/measure.py" "pytorch script" -- "$py" "$here/torch_diff.py" "$step"
  fi
} | tee "$out/$name.jsonl"
echo "bytes read per run: $size" | tee -a "$out/$name.jsonl"
