#!/usr/bin/env python3
"""Writes a step folder of Qwen2.5-1.5B's shapes (hidden 1536, 28 layers, 12 heads, 2 KV groups,
intermediate 8960, vocab 151936, tied) as RLinf saves it: HF safetensors + Megatron TP=N shards.

usage: make_checkpoint.py OUT_DIR [--tp 2] [--layers 28]
Weights are random bf16; the Megatron copy is split from the same tensors (testdata/generate.py's
Megatron-Bridge-style split), model only, as with the distributed optimizer.
"""
import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "testdata"))
import generate  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tp", type=int, default=2)
    ap.add_argument("--layers", type=int, default=28)
    a = ap.parse_args()
    H, I, V, nh, ng = 1536, 8960, 151936, 12, 2
    hd = H // nh
    cfg = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": H, "intermediate_size": I,
           "num_hidden_layers": a.layers, "num_attention_heads": nh, "num_key_value_heads": ng, "vocab_size": V,
           "tie_word_embeddings": True, "rms_norm_eps": 1e-6, "torch_dtype": "bfloat16", "max_position_embeddings": 32768}
    g = torch.Generator().manual_seed(0)

    def rnd(*shape):
        return (torch.randn(*shape, generator=g) * 0.02).to(torch.bfloat16)

    sd = {"model.embed_tokens.weight": rnd(V, H), "model.norm.weight": 1 + rnd(H)}
    for L in range(a.layers):
        p = f"model.layers.{L}."
        sd.update({p + "input_layernorm.weight": 1 + rnd(H), p + "post_attention_layernorm.weight": 1 + rnd(H),
                   p + "self_attn.q_proj.weight": rnd(nh * hd, H), p + "self_attn.q_proj.bias": rnd(nh * hd),
                   p + "self_attn.k_proj.weight": rnd(ng * hd, H), p + "self_attn.k_proj.bias": rnd(ng * hd),
                   p + "self_attn.v_proj.weight": rnd(ng * hd, H), p + "self_attn.v_proj.bias": rnd(ng * hd),
                   p + "self_attn.o_proj.weight": rnd(H, nh * hd), p + "mlp.gate_proj.weight": rnd(I, H),
                   p + "mlp.up_proj.weight": rnd(I, H), p + "mlp.down_proj.weight": rnd(H, I)})
    actor = Path(a.out) / "global_step_10" / "actor"
    hf = actor / "hf_model"
    hf.mkdir(parents=True, exist_ok=True)
    save_file(sd, hf / "model.safetensors", metadata={"format": "pt"})
    (hf / "config.json").write_text(json.dumps(cfg, indent=2))
    generate.write_megatron(sd, cfg, actor, a.tp, 1, None, "te", optimizer=False, manifest=False)


if __name__ == "__main__":
    main()
