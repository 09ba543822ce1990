#!/usr/bin/env python3
"""Writes a Qwen3-MoE step folder for the MoE benchmark: HF safetensors (per-expert tensors, as
save_pretrained writes them) + Megatron TE-grouped shards over EP folders, split by
testdata/make_moe.py's Megatron-Bridge-style rules.

usage: make_moe_checkpoint.py OUT_DIR [--layers 48] [--experts 128] [--hidden 64] [--moe-ffn 32] [--ep 4]
The defaults give Qwen3-30B-A3B's tensor count (48 layers x 128 experts: 18,432 expert tensors a
side) with tiny dimensions; `--layers 4 --hidden 2048 --moe-ffn 768` is a slice with real dimensions.
Weights are random bf16.
"""
import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "testdata"))
import make_moe  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=48)
    ap.add_argument("--experts", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--moe-ffn", type=int, default=32)
    ap.add_argument("--ep", type=int, default=4)
    a = ap.parse_args()
    H, F, E = a.hidden, a.moe_ffn, a.experts
    nh, ng, hd, V = 4, 2, 32, 512
    cfg = {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_size": H,
           "intermediate_size": 4 * F, "moe_intermediate_size": F, "num_hidden_layers": a.layers,
           "num_attention_heads": nh, "num_key_value_heads": ng, "head_dim": hd, "vocab_size": V,
           "num_experts": E, "num_experts_per_tok": 8, "decoder_sparse_step": 1, "mlp_only_layers": [],
           "tie_word_embeddings": False, "rms_norm_eps": 1e-6, "torch_dtype": "bfloat16",
           "max_position_embeddings": 4096}
    g = torch.Generator().manual_seed(0)

    def rnd(*shape):
        return (torch.randn(*shape, generator=g) * 0.02).to(torch.bfloat16)

    sd = {"model.embed_tokens.weight": rnd(V, H), "model.norm.weight": 1 + rnd(H), "lm_head.weight": rnd(V, H)}
    for L in range(a.layers):
        p = f"model.layers.{L}."
        sd.update({p + "input_layernorm.weight": 1 + rnd(H), p + "post_attention_layernorm.weight": 1 + rnd(H),
                   p + "self_attn.q_proj.weight": rnd(nh * hd, H), p + "self_attn.k_proj.weight": rnd(ng * hd, H),
                   p + "self_attn.v_proj.weight": rnd(ng * hd, H), p + "self_attn.o_proj.weight": rnd(H, nh * hd),
                   p + "self_attn.q_norm.weight": 1 + rnd(hd), p + "self_attn.k_norm.weight": 1 + rnd(hd),
                   p + "mlp.gate.weight": rnd(E, H)})
        for e in range(E):
            x = p + f"mlp.experts.{e}."
            sd.update({x + "gate_proj.weight": rnd(F, H), x + "up_proj.weight": rnd(F, H), x + "down_proj.weight": rnd(H, F)})
    actor = Path(a.out) / "global_step_10" / "actor"
    hf = actor / "hf_model"
    hf.mkdir(parents=True, exist_ok=True)
    # Shards of about 4 GB, as save_pretrained writes large models.
    files, cur, size = [], {}, 0
    for k, v in sd.items():
        n = v.numel() * 2
        if cur and size + n > 4_000_000_000:
            files.append(cur)
            cur, size = {}, 0
        cur[k] = v
        size += n
    files.append(cur)
    weight_map = {}
    for i, part in enumerate(files):
        name = f"model-{i + 1:05d}-of-{len(files):05d}.safetensors"
        save_file(part, hf / name, metadata={"format": "pt"})
        weight_map.update({k: name for k in part})
    (hf / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (hf / "config.json").write_text(json.dumps(cfg, indent=2))
    make_moe.write_megatron(sd, cfg, actor, 1, a.ep, "te", manifest=False)


if __name__ == "__main__":
    main()
