#!/usr/bin/env python3
"""The straightforward way: load everything with torch, merge TP shards, compare tensor by tensor.
The baseline ckpt-diff is measured against. usage: torch_diff.py STEP_DIR"""
import glob
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

actor = Path(sys.argv[1]) / "actor"
hf = load_file(str(actor / "hf_model" / "model.safetensors"))
cfg = json.loads((actor / "hf_model" / "config.json").read_text())
shards = [torch.load(f, weights_only=False, map_location="cpu")["model"]
          for f in sorted(glob.glob(str(actor / "iter_*" / "mp_rank_*" / "model_optim_rng.pt")))]
nh, ng = cfg["num_attention_heads"], cfg["num_key_value_heads"]
hd = cfg["hidden_size"] // nh
V = cfg["vocab_size"]
worst = 0.0
differ = 0
for k in shards[0]:
    if k.endswith("_extra_state"):
        continue
    ts = [s[k] for s in shards]
    L = k.split(".")[2] if k.startswith("decoder.layers.") else None
    p = f"model.layers.{L}."
    out = {}
    if k == "embedding.word_embeddings.weight":
        out["model.embed_tokens.weight"] = torch.cat(ts)[:V]
    elif k == "decoder.final_layernorm.weight":
        out["model.norm.weight"] = ts[0]
    elif k.endswith("linear_qkv.weight") or k.endswith("linear_qkv.bias"):
        w = torch.cat(ts)
        suffix = "weight" if k.endswith("weight") else "bias"
        grouped = w.reshape(ng, (nh // ng + 2) * hd, *w.shape[1:])
        q = grouped[:, : nh // ng * hd].reshape(nh * hd, *w.shape[1:])
        kk = grouped[:, nh // ng * hd: nh // ng * hd + hd].reshape(ng * hd, *w.shape[1:])
        v = grouped[:, nh // ng * hd + hd:].reshape(ng * hd, *w.shape[1:])
        out.update({p + f"self_attn.q_proj.{suffix}": q, p + f"self_attn.k_proj.{suffix}": kk,
                    p + f"self_attn.v_proj.{suffix}": v})
    elif k.endswith("linear_qkv.layer_norm_weight"):
        out[p + "input_layernorm.weight"] = ts[0]
    elif k.endswith("linear_fc1.layer_norm_weight"):
        out[p + "post_attention_layernorm.weight"] = ts[0]
    elif k.endswith("linear_proj.weight"):
        out[p + "self_attn.o_proj.weight"] = torch.cat(ts, dim=1)
    elif k.endswith("linear_fc2.weight"):
        out[p + "mlp.down_proj.weight"] = torch.cat(ts, dim=1)
    elif k.endswith("linear_fc1.weight"):
        halves = [t.chunk(2) for t in ts]
        out[p + "mlp.gate_proj.weight"] = torch.cat([h[0] for h in halves])
        out[p + "mlp.up_proj.weight"] = torch.cat([h[1] for h in halves])
    for name, m in out.items():
        a = hf[name].float()
        b = m.float()
        d = (a - b).abs()
        worst = max(worst, d.max().item())
        differ += int((d > 1e-5 + 1e-2 * torch.maximum(a.abs(), b.abs())).sum().item())
print(f"max|a-b| {worst} over-tolerance elements {differ}")
