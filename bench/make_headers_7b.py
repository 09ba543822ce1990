#!/usr/bin/env python3
"""A Qwen2.5-7B-shaped HF folder whose safetensors hold real headers and sparse (all-zero) data:
what `ckpt-diff check` reads (headers only) at full size, in seconds and without 15 GB of disk.
usage: make_headers_7b.py OUT_DIR"""
import json
import struct
import sys
from pathlib import Path

H, I, L, NH, NKV, V = 3584, 18944, 28, 28, 4, 152064
HD = H // NH
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
tensors = [("model.embed_tokens.weight", [V, H])]
for l in range(L):
    p = f"model.layers.{l}."
    tensors += [(p + "input_layernorm.weight", [H]), (p + "post_attention_layernorm.weight", [H]),
                (p + "self_attn.q_proj.weight", [NH * HD, H]), (p + "self_attn.q_proj.bias", [NH * HD]),
                (p + "self_attn.k_proj.weight", [NKV * HD, H]), (p + "self_attn.k_proj.bias", [NKV * HD]),
                (p + "self_attn.v_proj.weight", [NKV * HD, H]), (p + "self_attn.v_proj.bias", [NKV * HD]),
                (p + "self_attn.o_proj.weight", [H, NH * HD]), (p + "mlp.gate_proj.weight", [I, H]),
                (p + "mlp.up_proj.weight", [I, H]), (p + "mlp.down_proj.weight", [H, I])]
tensors += [("model.norm.weight", [H]), ("lm_head.weight", [V, H])]
shards, cur, size = [], [], 0
for name, shape in tensors:
    n = 2
    for d in shape:
        n *= d
    if cur and size + n > 4_000_000_000:
        shards.append(cur)
        cur, size = [], 0
    cur.append((name, shape, n))
    size += n
shards.append(cur)
weight_map, total = {}, 0
for k, shard in enumerate(shards):
    fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, n in shard:
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + n]}
        off += n
        weight_map[name] = fname
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(out / fname, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        f.truncate(8 + len(h) + off)  # sparse: no disk blocks for the data
    total += off
(out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
(out / "config.json").write_text(json.dumps({
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": H, "intermediate_size": I,
    "num_hidden_layers": L, "num_attention_heads": NH, "num_key_value_heads": NKV, "vocab_size": V,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "rms_norm_eps": 1e-6}, indent=2))
