#!/usr/bin/env bash
# MoE benchmark: Qwen3-MoE step folders (HF per-expert safetensors + Megatron TE-grouped shards over
# EP folders) against the read floor (cat), warm cache. Generates and caches them first:
#   bench/cache/qwen3_30b_a3b_tiny   Qwen3-30B-A3B's tensor count (48 layers x 128 experts, EP=4), tiny dims
#   bench/cache/qwen3_moe_real4      with --real: 4 layers x 128 experts at hidden 2048, expert size 768
# usage: bench/moe.sh [--real]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
py="$root/testdata/.venv/bin/python"
[ -x "$py" ] || "$root/testdata/make-venv.sh"
cases=("qwen3_30b_a3b_tiny:")
[ "${1:-}" = "--real" ] && cases+=("qwen3_moe_real4:--layers 4 --hidden 2048 --moe-ffn 768")
"$root/ckpt-diff" --version >/dev/null 2>&1 || true   # build once, outside the timings
mkdir -p "$here/results"
for c in "${cases[@]}"; do
  name="${c%%:*}"; opts="${c#*:}"
  cache="$here/cache/$name"
  if [ ! -f "$cache/global_step_10/actor/latest_checkpointed_iteration.txt" ]; then
    echo "generating $cache ..." >&2
    # shellcheck disable=SC2086
    PYTHONPATH="$root/testdata/pysrc" "$py" "$here/make_moe_checkpoint.py" "$cache" $opts
  fi
  step="$cache/global_step_10"
  files=$(find "$step" -name '*.safetensors' -o -name 'model_optim_rng.pt' | sort)
  cat $files > /dev/null
  {
    for i in 1 2 3; do python3 "$here/measure.py" "cat" -- sh -c "cat $(echo $files) > /dev/null"; done
    for i in 1 2 3; do python3 "$here/measure.py" "ckpt-diff" -- "$root/ckpt-diff" --no-progress "$step"; done
  } | tee "$here/results/$name.jsonl"
done
