#!/usr/bin/env python3
"""Writes a Qwen2.5-1.5B-shaped (hidden 1536, 12 heads / 2 KV groups, ffn 8960, vocab 151936, tied) step
folder for the torch_dist benchmark: a torch_dist iteration saved by Megatron-Core (TP=2, CPU/gloo,
testdata/make_torchdist.py's code) and an HF copy of the same weights (safetensors).

usage: PYTHONPATH=<Megatron-LM checkout> python bench/make_torchdist_bench.py OUT_DIR [--layers 28]
"""
import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "testdata"))
import make_torchdist as m  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=28)
    a = ap.parse_args()
    dims = dict(HIDDEN=1536, HEADS=12, GROUPS=2, FFN=8960, LAYERS=a.layers, VOCAB=151936, PADDED_VOCAB=151936,
                TIED=True, TP=2, PP=1)
    m.__dict__.update(dims)
    tmp = Path(tempfile.mkdtemp(prefix="torchdist-bench-"))
    (tmp / "dist").mkdir()
    m.run(2, tmp, "save", dims)
    m.run(1, tmp, "load", dims)
    tp1 = torch.load(tmp / "tp1.pt", weights_only=True)
    actor = Path(a.out) / "global_step_10" / "actor"
    (actor / "hf_model").mkdir(parents=True)
    save_file(m.to_hf(tp1["state"]), actor / "hf_model" / "model.safetensors", metadata={"format": "pt"})
    cfg = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 1536, "intermediate_size": 8960,
           "num_hidden_layers": a.layers, "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936,
           "tie_word_embeddings": True, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "torch_dtype": "bfloat16"}
    (actor / "hf_model" / "config.json").write_text(json.dumps(cfg, indent=1))
    shutil.copytree(tmp / "dist", actor / "iter_0000010")
    (actor / "latest_checkpointed_iteration.txt").write_text("10")
    shutil.rmtree(tmp)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
