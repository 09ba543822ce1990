#!/usr/bin/env python3
"""Makes ckpt-diff's fixtures with real transformers (save_pretrained) and real torch.save.

Run: testdata/make-venv.sh && testdata/.venv/bin/python testdata/generate.py
Outputs go to testdata/fixtures/ (committed; CI does not regenerate them).

Each model folder is laid out as RLinf saves a training step:
    <name>/global_step_10/actor/{hf_model|hf_checkpoint}/   config.json + safetensors (save_pretrained)
    <name>/global_step_10/actor/iter_0000010/mp_rank_*/model_optim_rng.pt   (torch.save)
    <name>/global_step_10/actor/latest_checkpointed_iteration.txt
The Megatron shards are split from the HF weights the way Megatron-Bridge's param_mapping.py does:
fused QKV interleaved per query group, gated fc1 as [gate_r; up_r] per TP rank, row-parallel
weights split on dim 1, vocabulary padded to make_vocab_size_divisible_by x TP.

Every tensor written is recorded in <file>.manifest.json (name, dtype, shape, sha256 of its bytes
in row-major order), which the Java tests check the readers against.
"""
import argparse
import copy
import hashlib
import io
import json
import os
import pickle
import random
import shutil
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "pysrc"))
from megatron.core.transformer.enums import AttnBackend  # noqa: E402

OUT = HERE / "fixtures"
DTYPE_NAMES = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32", torch.uint8: "U8",
               torch.int64: "I64", torch.int32: "I32", torch.float64: "F64", torch.bool: "BOOL",
               torch.int8: "I8", torch.int16: "I16"}


def sha(t):
    return hashlib.sha256(t.detach().contiguous().cpu().view(torch.uint8).numpy().tobytes()).hexdigest() \
        if t.numel() else hashlib.sha256(b"").hexdigest()


def record(t):
    return {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "sha256": sha(t)}


def write_manifest(path, tensors, extra=None):
    m = {"tensors": {k: record(v) for k, v in tensors.items()}}
    if extra:
        m.update(extra)
    Path(str(path) + ".manifest.json").write_text(json.dumps(m, indent=1, sort_keys=True))


# --- HF models ----------------------------------------------------------------------------------

def make_hf(arch, tied, vocab, seed, dtype=torch.bfloat16):
    import transformers
    torch.manual_seed(seed)
    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                  tie_word_embeddings=tied, rms_norm_eps=1e-6)
    if arch == "llama":
        cfg = transformers.LlamaConfig(**common, attention_bias=False)
        model = transformers.LlamaForCausalLM(cfg)
    elif arch == "qwen2":
        cfg = transformers.Qwen2Config(**common)
        model = transformers.Qwen2ForCausalLM(cfg)
    elif arch == "qwen3":
        cfg = transformers.Qwen3Config(**common, head_dim=32)  # head_dim != hidden/heads on purpose
        model = transformers.Qwen3ForCausalLM(cfg)
    else:
        raise ValueError(arch)
    model = model.to(dtype)
    with torch.no_grad():
        # Norm weights start at exactly 1.0; make them distinct so a swapped norm shows.
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1.0 + 0.1 * torch.randn_like(p, dtype=torch.float32).to(dtype))
    return model


def save_hf(model, folder, shard=None):
    folder.mkdir(parents=True, exist_ok=True)
    kwargs = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(folder, **kwargs)
    sd = {k: v for k, v in model.state_dict().items()}
    # Record what is actually on disk: read back with the safetensors library.
    from safetensors.torch import load_file
    on_disk = {}
    for f in sorted(folder.glob("*.safetensors")):
        on_disk.update(load_file(f))
    write_manifest(folder / "weights", on_disk, {"config": json.loads((folder / "config.json").read_text())})
    return sd


# --- Megatron shards ----------------------------------------------------------------------------

def hf_to_megatron_global(sd, cfg, padded_vocab):
    """HF state dict -> Megatron global (unsharded) tensors keyed by global layer number."""
    nh, ng = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // nh
    hpg = nh // ng
    out = {}
    emb = sd["model.embed_tokens.weight"]
    pad = padded_vocab - emb.shape[0]
    gen = torch.Generator().manual_seed(1234)
    pad_rows = torch.randn(pad, emb.shape[1], generator=gen).to(emb.dtype)
    out["embedding.word_embeddings.weight"] = torch.cat([emb, pad_rows])
    if not cfg.get("tie_word_embeddings", False):
        out["output_layer.weight"] = torch.cat([sd["lm_head.weight"], pad_rows])
    out["decoder.final_layernorm.weight"] = sd["model.norm.weight"]
    for L in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{L}."
        q, k, v = (sd[p + f"self_attn.{x}_proj.weight"] for x in "qkv")
        H = q.shape[1]
        qkv = []
        for g in range(ng):
            qkv += [q[g * hpg * hd:(g + 1) * hpg * hd], k[g * hd:(g + 1) * hd], v[g * hd:(g + 1) * hd]]
        out[f"L{L}.qkv.weight"] = torch.cat(qkv).reshape(-1, H)
        if p + "self_attn.q_proj.bias" in sd:
            qb, kb, vb = (sd[p + f"self_attn.{x}_proj.bias"] for x in "qkv")
            parts = []
            for g in range(ng):
                parts += [qb[g * hpg * hd:(g + 1) * hpg * hd], kb[g * hd:(g + 1) * hd], vb[g * hd:(g + 1) * hd]]
            out[f"L{L}.qkv.bias"] = torch.cat(parts)
        if p + "self_attn.q_norm.weight" in sd:
            out[f"L{L}.q_norm"] = sd[p + "self_attn.q_norm.weight"]
            out[f"L{L}.k_norm"] = sd[p + "self_attn.k_norm.weight"]
        out[f"L{L}.proj"] = sd[p + "self_attn.o_proj.weight"]
        out[f"L{L}.input_norm"] = sd[p + "input_layernorm.weight"]
        out[f"L{L}.mlp_norm"] = sd[p + "post_attention_layernorm.weight"]
        if p + "mlp.gate_proj.weight" in sd:  # absent in the MoE layers of an MoE model (make_moe.py)
            out[f"L{L}.gate"] = sd[p + "mlp.gate_proj.weight"]
            out[f"L{L}.up"] = sd[p + "mlp.up_proj.weight"]
            out[f"L{L}.fc2"] = sd[p + "mlp.down_proj.weight"]
    return out


def shard_layer(g, L, local, tp, r, spec):
    """The Megatron keys of global layer L on TP rank r, named with local index `local`."""
    def split0(t):
        return t.chunk(tp, dim=0)[r].clone()

    def split1(t):
        return t.chunk(tp, dim=1)[r].clone()

    d = {}
    pre = f"decoder.layers.{local}."
    d[pre + "self_attention.linear_qkv.weight"] = split0(g[f"L{L}.qkv.weight"])
    if f"L{L}.qkv.bias" in g:
        d[pre + "self_attention.linear_qkv.bias"] = split0(g[f"L{L}.qkv.bias"])
    d[pre + "self_attention.linear_proj.weight"] = split1(g[f"L{L}.proj"])
    if f"L{L}.q_norm" in g:
        d[pre + "self_attention.q_layernorm.weight"] = g[f"L{L}.q_norm"].clone()
        d[pre + "self_attention.k_layernorm.weight"] = g[f"L{L}.k_norm"].clone()
    dense = f"L{L}.gate" in g
    if dense:
        d[pre + "mlp.linear_fc1.weight"] = torch.cat([split0(g[f"L{L}.gate"]), split0(g[f"L{L}.up"])])
        d[pre + "mlp.linear_fc2.weight"] = split1(g[f"L{L}.fc2"])
    if spec == "te":
        d[pre + "self_attention.linear_qkv.layer_norm_weight"] = g[f"L{L}.input_norm"].clone()
    else:
        d[pre + "input_layernorm.weight"] = g[f"L{L}.input_norm"].clone()
    if spec == "te" and dense:
        d[pre + "mlp.linear_fc1.layer_norm_weight"] = g[f"L{L}.mlp_norm"].clone()
    else:  # local spec, and MoE layers even in the TE spec: the norm is not fused into fc1
        d[pre + "pre_mlp_layernorm.weight"] = g[f"L{L}.mlp_norm"].clone()
    return d


def extra_state(i):
    """The three shapes Transformer Engine's _extra_state takes in real files."""
    kind = i % 3
    if kind == 0:
        return None
    payload = pickle.dumps({"recipe": "delayed", "amax_history_len": 1024})
    if kind == 1:
        return torch.frombuffer(bytearray(payload), dtype=torch.uint8).clone()
    return io.BytesIO(payload)


def share_storage(sd):
    """Megatron-Core's DDP keeps parameters as views of one flat buffer, in reverse order with padding."""
    names = [k for k, v in sd.items() if isinstance(v, torch.Tensor) and v.dtype == torch.bfloat16]
    total = sum(sd[k].numel() + 64 for k in names)
    buf = torch.zeros(total, dtype=torch.bfloat16)
    off = 0
    for k in reversed(names):
        n = sd[k].numel()
        view = buf[off:off + n].view(sd[k].shape)
        view.copy_(sd[k])
        sd[k] = view
        off += n + 64
    return sd


def rng_state():
    random.seed(7)
    np.random.seed(7)
    return [{
        "random_rng_state": random.getstate(),
        "np_rng_state": np.random.get_state(),
        "torch_rng_state": torch.get_rng_state(),
        "cuda_rng_state": torch.get_rng_state().clone(),  # a ByteTensor, as on GPU
        "rng_tracker_states": {"model-parallel-rng": torch.get_rng_state().clone()},
    }]


def make_args(cfg, tp, pp, vpp, padded_vocab, spec, tied, qkv_bias, qk_norm):
    nh = cfg["num_attention_heads"]
    return argparse.Namespace(
        tensor_model_parallel_size=tp, pipeline_model_parallel_size=pp,
        virtual_pipeline_model_parallel_size=vpp, expert_model_parallel_size=1,
        num_layers=cfg["num_hidden_layers"], hidden_size=cfg["hidden_size"],
        ffn_hidden_size=cfg["intermediate_size"], num_attention_heads=nh,
        num_query_groups=cfg["num_key_value_heads"], group_query_attention=True,
        kv_channels=cfg.get("head_dim") or cfg["hidden_size"] // nh,
        padded_vocab_size=padded_vocab, make_vocab_size_divisible_by=128,
        add_qkv_bias=qkv_bias, qk_layernorm=qk_norm, untie_embeddings_and_output_weights=not tied,
        transformer_impl="transformer_engine" if spec == "te" else "local",
        params_dtype=torch.bfloat16, bf16=True, swiglu=True, normalization="RMSNorm",
        position_embedding_type="rope", seq_length=128, attention_backend=AttnBackend.auto,
        use_distributed_optimizer=False, iteration=10,
    )


def write_megatron(sd, cfg, root, tp, pp, vpp, spec, iteration=10, shared=False, pad_vocab=True,
                   optimizer=True, manifest=True):
    tied = cfg.get("tie_word_embeddings", False)
    V = cfg["vocab_size"]
    mult = 128 * tp
    padded = ((V + mult - 1) // mult) * mult if pad_vocab else V
    g = hf_to_megatron_global(sd, cfg, padded)
    L = cfg["num_hidden_layers"]
    chunks = vpp or 1
    per_chunk = L // (pp * chunks)
    it_dir = root / (f"iter_{iteration:07d}")
    qkv_bias = "L0.qkv.bias" in g
    qk_norm = "L0.q_norm" in g
    args = make_args(cfg, tp, pp, vpp, padded, spec, tied, qkv_bias, qk_norm)
    for p in range(pp):
        for r in range(tp):
            models = []
            for v in range(chunks):
                m = {}
                first = p == 0 and v == 0
                last = p == pp - 1 and v == chunks - 1
                if first:
                    m["embedding.word_embeddings.weight"] = g["embedding.word_embeddings.weight"].chunk(tp)[r].clone()
                start = v * (L // chunks) + p * per_chunk
                for local in range(per_chunk):
                    m.update(shard_layer(g, start + local, local, tp, r, spec))
                    if spec == "te":
                        m[f"decoder.layers.{local}.self_attention.linear_qkv._extra_state"] = extra_state(local)
                        m[f"decoder.layers.{local}.mlp.linear_fc1._extra_state"] = extra_state(local + 1)
                if last:
                    m["decoder.final_layernorm.weight"] = g["decoder.final_layernorm.weight"].clone()
                    if not tied:
                        m["output_layer.weight"] = g["output_layer.weight"].chunk(tp)[r].clone()
                    elif pp > 1:  # the last stage's copy of the tied embedding
                        m["output_layer.weight"] = g["embedding.word_embeddings.weight"].chunk(tp)[r].clone()
                    if spec == "te":
                        m["output_layer._extra_state"] = None
                if shared:
                    m = share_storage(m)
                models.append(m)
            name = f"mp_rank_{r:02d}" if pp == 1 else f"mp_rank_{r:02d}_{p:03d}"
            d = it_dir / name
            d.mkdir(parents=True, exist_ok=True)
            bf16 = [t for t in models[0].values() if isinstance(t, torch.Tensor) and t.dtype == torch.bfloat16]
            fp32_master = torch.zeros(sum(t.numel() for t in bf16) if optimizer else 0)
            views, off = [], 0
            for t in (bf16 if optimizer else []):
                if True:
                    views.append(fp32_master[off:off + t.numel()].view(t.shape))
                    off += t.numel()
            ckpt = {"args": args, "checkpoint_version": 3.0, "iteration": iteration}
            if chunks == 1:
                ckpt["model"] = models[0]
            else:
                for v, m in enumerate(models):
                    ckpt[f"model{v}"] = m
            if optimizer:
                ckpt["optimizer"] = {
                    "optimizer": {"state": {0: {"step": torch.tensor(10.0), "exp_avg": torch.zeros(4),
                                                "exp_avg_sq": torch.zeros(4)}},
                                  "param_groups": [{"lr": 1e-5, "betas": (0.9, 0.95), "params": [0]}]},
                    "fp32_from_fp16_params": [views],  # many views of one fp32 storage
                    "grad_scaler": None,
                }
            ckpt["opt_param_scheduler"] = {"max_lr": 1e-5, "num_steps": 10 * 128, "decay_style": "cosine"}
            ckpt["rng_state"] = rng_state()
            ckpt["num_floating_point_operations_so_far"] = 123456789
            ckpt["rerun_state_machine"] = {"mode": "disabled", "rerun_requested": False}
            path = d / "model_optim_rng.pt"
            torch.save(ckpt, path)
            flat = {}
            for v, m in enumerate(models):
                key = "model" if chunks == 1 else f"model{v}"
                for k, t in m.items():
                    if isinstance(t, torch.Tensor):
                        flat[f"{key}.{k}"] = t
            if manifest:
                write_manifest(path, flat, {"tp_rank": r, "pp_rank": p})
    (root / "latest_checkpointed_iteration.txt").write_text(str(iteration))
    return it_dir


def step_folder(name, hf_dir_name="hf_model"):
    actor = OUT / name / "global_step_10" / "actor"
    if actor.parent.exists():
        shutil.rmtree(actor.parent.parent)
    actor.mkdir(parents=True)
    return actor, actor / hf_dir_name


def load_manifest_sd(folder):
    from safetensors.torch import load_file
    sd = {}
    for f in sorted(folder.glob("*.safetensors")):
        sd.update(load_file(f))
    return sd


def save_safetensors(sd, folder, cfg_src):
    """Rewrites an HF folder's weights (for planted faults) with the safetensors library."""
    from safetensors.torch import save_file
    for f in folder.glob("*.safetensors*"):
        f.unlink()
    for f in folder.glob("model.safetensors.index.json"):
        f.unlink()
    save_file({k: v.contiguous() for k, v in sd.items()}, folder / "model.safetensors", metadata={"format": "pt"})
    write_manifest(folder / "weights", sd, {"config": json.loads((cfg_src / "config.json").read_text())})


# --- fixtures -----------------------------------------------------------------------------------

def clean_models():
    specs = {
        # name: (arch, tied, vocab, tp, pp, vpp, spec, hf folder, shared storages, shard size)
        "llama_tp2": ("llama", False, 250, 2, 1, None, "te", "hf_model", False, None),
        "qwen2_tp2_pp2": ("qwen2", True, 256, 2, 2, None, "local", "hf_checkpoint", True, "60KB"),
        "qwen3_pp2_vpp2": ("qwen3", True, 256, 1, 2, 2, "te", "hf_model", False, None),
    }
    made = {}
    for i, (name, (arch, tied, vocab, tp, pp, vpp, spec, hfname, shared, shard)) in enumerate(specs.items()):
        actor, hf = step_folder(name, hfname)
        model = make_hf(arch, tied, vocab, seed=100 + i)
        sd = save_hf(model, hf, shard)
        cfg = json.loads((hf / "config.json").read_text())
        write_megatron(sd, cfg, actor, tp, pp, vpp, spec, shared=shared)
        made[name] = (actor, hf, sd, cfg, (tp, pp, vpp, spec))
    # The same Llama weights in another layout and spec, Megatron only: for Megatron<->Megatron diffs.
    actor, hf, sd, cfg, _ = made["llama_tp2"]
    other = OUT / "llama_tp1_pp2_local" / "actor"
    if other.exists():
        shutil.rmtree(other.parent)
    other.mkdir(parents=True)
    write_megatron(sd, cfg, other, 1, 2, None, "local", iteration=20)
    return made


def faults(made):
    """Copies of clean step folders, each with one planted fault. FAULTS.json says what and where."""
    out = {}

    def copy(src_name, name):
        src = made[src_name][0].parent.parent
        dst = OUT / "faults" / name
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst)
        return dst / "global_step_10" / "actor"

    # 1. one element of one HF tensor changed
    actor = copy("llama_tp2", "hf_element")
    hf = actor / "hf_model"
    sd = load_manifest_sd(hf)
    t = sd["model.layers.1.mlp.down_proj.weight"].clone()
    t[3, 40] = t[3, 40] + 0.5
    sd["model.layers.1.mlp.down_proj.weight"] = t
    save_safetensors(sd, hf, hf)
    out["hf_element"] = {"tensor": "model.layers.1.mlp.down_proj.weight", "index": [3, 40],
                         "megatron_file": "mp_rank_00", "megatron_key": "decoder.layers.1.mlp.linear_fc2.weight",
                         "shard_index": [3, 40]}

    # 2. K and V rows swapped inside one TP shard of linear_qkv (rank 1, layer 2)
    actor = copy("llama_tp2", "qkv_kv_swap")
    path = actor / "iter_0000010" / "mp_rank_01" / "model_optim_rng.pt"
    ck = torch.load(path, weights_only=False)
    key = "decoder.layers.2.self_attention.linear_qkv.weight"
    w = ck["model"][key].clone()
    hd, hpg = 16, 2
    k0 = hpg * hd  # rank 1 holds one query group: [q q k v]
    k, v = w[k0:k0 + hd].clone(), w[k0 + hd:k0 + 2 * hd].clone()
    w[k0:k0 + hd], w[k0 + hd:k0 + 2 * hd] = v, k
    ck["model"][key] = w
    torch.save(ck, path)
    out["qkv_kv_swap"] = {"tensors": ["model.layers.2.self_attn.k_proj.weight", "model.layers.2.self_attn.v_proj.weight"],
                          "megatron_file": "mp_rank_01", "megatron_key": key}

    # 3. gate and up swapped in the HF export (layer 0)
    actor = copy("llama_tp2", "hf_gate_up_swap")
    hf = actor / "hf_model"
    sd = load_manifest_sd(hf)
    a, b = "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight"
    sd[a], sd[b] = sd[b], sd[a]
    save_safetensors(sd, hf, hf)
    out["hf_gate_up_swap"] = {"tensors": [a, b]}

    # 4. a tensor missing from the HF copy
    actor = copy("llama_tp2", "hf_missing")
    hf = actor / "hf_model"
    sd = load_manifest_sd(hf)
    del sd["model.layers.3.post_attention_layernorm.weight"]
    save_safetensors(sd, hf, hf)
    out["hf_missing"] = {"tensor": "model.layers.3.post_attention_layernorm.weight"}

    # 5. a NaN in one Megatron shard (rank 0, layer 1 linear_proj)
    actor = copy("llama_tp2", "shard_nan")
    path = actor / "iter_0000010" / "mp_rank_00" / "model_optim_rng.pt"
    ck = torch.load(path, weights_only=False)
    key = "decoder.layers.1.self_attention.linear_proj.weight"
    w = ck["model"][key].clone()
    w[5, 7] = float("nan")
    ck["model"][key] = w
    torch.save(ck, path)
    out["shard_nan"] = {"tensor": "model.layers.1.self_attn.o_proj.weight", "megatron_file": "mp_rank_00",
                        "megatron_key": key, "shard_index": [5, 7], "index": [5, 7]}

    # 6. an fp16 export of the bf16 model
    actor = copy("llama_tp2", "hf_fp16")
    hf = actor / "hf_model"
    sd = {k: v.to(torch.float16) for k, v in load_manifest_sd(hf).items()}
    save_safetensors(sd, hf, hf)
    out["hf_fp16"] = {}

    # 7. tied model whose HF export carries an lm_head that differs from the embedding
    actor = copy("qwen2_tp2_pp2", "tied_lm_head")
    hf = actor / "hf_checkpoint"
    sd = load_manifest_sd(hf)
    lm = sd["model.embed_tokens.weight"].clone()
    lm[10, 3] = lm[10, 3] + 1.0
    sd["lm_head.weight"] = lm
    save_safetensors(sd, hf, hf)
    out["tied_lm_head"] = {"tensor": "lm_head.weight", "index": [10, 3]}

    # 8. a replicated norm that differs on TP rank 1
    actor = copy("llama_tp2", "replicated_norm")
    path = actor / "iter_0000010" / "mp_rank_01" / "model_optim_rng.pt"
    ck = torch.load(path, weights_only=False)
    key = "decoder.layers.2.mlp.linear_fc1.layer_norm_weight"
    w = ck["model"][key].clone()
    w[11] = w[11] + 0.25
    ck["model"][key] = w
    torch.save(ck, path)
    out["replicated_norm"] = {"megatron_key": key, "ranks": ["mp_rank_00", "mp_rank_01"], "index": [11],
                              "tensor": "model.layers.2.post_attention_layernorm.weight"}
    (OUT / "faults" / "FAULTS.json").write_text(json.dumps(out, indent=1, sort_keys=True))


# --- bad inputs ---------------------------------------------------------------------------------

def bad_inputs():
    bad = OUT / "bad"
    if bad.exists():
        shutil.rmtree(bad)
    bad.mkdir(parents=True)
    expected = {}
    from safetensors.torch import save_file
    good = bad / "_good.safetensors"
    save_file({"a": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.ones(4, dtype=torch.bfloat16)}, good)
    raw = good.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])

    def st(name, hdr=None, body=None, exp=""):
        h = json.dumps(hdr).encode() if hdr is not None else raw[8:8 + n]
        data = body if body is not None else raw[8 + n:]
        (bad / name).write_bytes(struct.pack("<Q", len(h)) + h + data)
        expected[name] = exp

    (bad / "truncated.safetensors").write_bytes(raw[:len(raw) - 5])
    expected["truncated.safetensors"] = "truncated"
    (bad / "header_beyond_file.safetensors").write_bytes(struct.pack("<Q", 10_000) + raw[8:])
    expected["header_beyond_file.safetensors"] = "runs past the end of the file"
    (bad / "header_huge.safetensors").write_bytes(struct.pack("<Q", 2 ** 62) + raw[8:])
    expected["header_huge.safetensors"] = "header length"
    (bad / "tiny.safetensors").write_bytes(b"\x01\x02")
    expected["tiny.safetensors"] = "too short"
    h = copy.deepcopy(header)
    h["b"]["data_offsets"] = [h["a"]["data_offsets"][1] - 4, h["a"]["data_offsets"][1] + 4]
    st("overlap.safetensors", h, exp="overlap")
    h = copy.deepcopy(header)
    bb = h["b"]["data_offsets"]
    h["b"]["data_offsets"] = [bb[0] + 2, bb[1] + 2]
    st("gap.safetensors", h, body=raw[8 + n:] + b"\0\0", exp="gap")
    h = copy.deepcopy(header)
    h["a"]["shape"] = [2 ** 40, 2 ** 40]
    st("shape_overflow.safetensors", h, exp="overflows")
    h = copy.deepcopy(header)
    h["a"]["shape"] = [2, 2]
    st("size_mismatch.safetensors", h, exp="needs 16")
    h = copy.deepcopy(header)
    h["a"]["dtype"] = "F17"
    st("bad_dtype.safetensors", h, exp="unknown dtype 'F17'")
    h = copy.deepcopy(header)
    h["__metadata__"] = {"format": 5}
    st("metadata_not_string.safetensors", h, exp="must be a string")
    (bad / "not_json.safetensors").write_bytes(struct.pack("<Q", 6) + b"{abc: " + raw[8 + n:])
    expected["not_json.safetensors"] = "not valid JSON"

    # torch.save-shaped archives with hostile pickles (written with zipfile, as an attacker would)
    def archive(name, pkl, exp, extra=None):
        def put(z, name, data):  # fixed timestamps keep regenerated fixtures byte-identical
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)

        with zipfile.ZipFile(bad / name, "w", zipfile.ZIP_STORED) as z:
            put(z, "archive/data.pkl", pkl)
            put(z, "archive/byteorder", "little")
            for k, v in (extra or {}).items():
                put(z, k, v)
            put(z, "archive/version", "3\n")
        expected[name] = exp

    class Evil:
        def __init__(self, f, a):
            self.f, self.a = f, a

        def __reduce__(self):
            return (self.f, self.a)

    archive("os_system.pt", pickle.dumps({"model": Evil(os.system, ("echo pwned",))}, protocol=2), "posix.system")
    archive("builtins_eval.pt", pickle.dumps(Evil(eval, ("1+1",)), protocol=2), "__builtin__.eval")
    archive("nested_lists.pt", b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b".", "nest deeper")
    archive("huge_length.pt", b"\x80\x02X\xf0\xff\xff\x7f" + b"abc", "exceeds")
    archive("no_stop.pt", b"\x80\x02]q\x00(K\x01K\x02e", "STOP")
    archive("bad_memo.pt", b"\x80\x02h\x07.", "memo index 7")
    archive("bad_storage.pt", pickle.dumps(0, protocol=2)[:2] +
            b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000"
            b"X\x03\x00\x00\x00cpuK\x64tQK\x00K\x0a\x85K\x01\x85\x89NtR.", "claims 100",
            extra={"archive/data/0": b"\0" * 16})
    archive("tensor_outside_storage.pt", b"\x80\x02" +
            b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000"
            b"X\x03\x00\x00\x00cpuK\x04tQK\x02K\x04\x85K\x01\x85\x89NtR.", "reaches element 5",
            extra={"archive/data/0": b"\0" * 16})

    # a real torch.save file with a corrupted central directory: an entry points outside the file
    real = bad / "_real.pt"
    torch.save({"w": torch.ones(3)}, real)
    data = bytearray(real.read_bytes())
    cd = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, cd + 42, len(data) + 1000)
    (bad / "entry_outside.pt").write_bytes(bytes(data))
    expected["entry_outside.pt"] = "no local header"
    (bad / "truncated.pt").write_bytes(real.read_bytes()[: len(real.read_bytes()) // 2])
    expected["truncated.pt"] = "end-of-central-directory"
    (bad / "not_a_zip.pt").write_bytes(b"hello, not a checkpoint\n")
    expected["not_a_zip.pt"] = "not a torch.save zip archive"
    torch.save({"w": torch.ones(3)}, bad / "legacy.pt", _use_new_zipfile_serialization=False)
    expected["legacy.pt"] = "legacy (pre-1.6)"
    real.unlink()
    good.unlink()
    (bad / "EXPECTED.json").write_text(json.dumps(expected, indent=1, sort_keys=True))


def dtype_zoo():
    """One torch.save and one safetensors file holding every dtype both formats know."""
    zoo = OUT / "dtypes"
    zoo.mkdir(parents=True, exist_ok=True)
    base = torch.tensor([0.0, 1.5, -2.25, 3.0e-3, 448.0, -0.0])
    ts = {
        "f32": base.clone(), "f16": base.to(torch.float16), "bf16": base.to(torch.bfloat16),
        "f64": base.to(torch.float64), "i64": torch.tensor([1, -2, 3, 2 ** 40]),
        "i32": torch.tensor([1, -2, 3], dtype=torch.int32), "i16": torch.tensor([1, -2], dtype=torch.int16),
        "i8": torch.tensor([1, -2], dtype=torch.int8), "u8": torch.tensor([1, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False]),
        "f8_e4m3": base.to(torch.float8_e4m3fn), "f8_e5m2": base.to(torch.float8_e5m2),
        "strided": torch.arange(12, dtype=torch.float32).reshape(3, 4).t(),  # non-contiguous view
        "offset": torch.arange(10, dtype=torch.float32)[3:7],
        "parameter": torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0])),  # _rebuild_parameter
    }
    torch.save(ts, zoo / "dtypes.pt")
    values = {k: [float(x) for x in v.detach().to(torch.float64).flatten().tolist()] if v.dtype != torch.bool
              else [float(x) for x in v.tolist()] for k, v in ts.items()}
    values["strided"] = [float(x) for x in ts["strided"].contiguous().flatten().tolist()]
    (zoo / "dtypes.values.json").write_text(json.dumps(values, indent=1, sort_keys=True))
    from safetensors.torch import save_file
    save_file({k: v.detach().contiguous() for k, v in ts.items()}, zoo / "dtypes.safetensors")


def check_models():
    """HF folders for `ckpt-diff check`: every supported architecture from transformers itself, and
    broken variants (config.json or weights edited), each described in check/CHECKS.json."""
    import transformers
    root = OUT / "check"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    torch.manual_seed(5)
    text = dict(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    models = {
        "qwen2_5_vl": lambda: transformers.Qwen2_5_VLForConditionalGeneration(transformers.Qwen2_5_VLConfig(
            text_config=dict(text), vision_config=dict(depth=2, hidden_size=32, intermediate_size=48, num_heads=2,
                                                     out_hidden_size=64, fullatt_block_indexes=[1], window_size=16,
                                                     patch_size=14, spatial_merge_size=2, temporal_patch_size=2))),
        "qwen3_vl": lambda: transformers.Qwen3VLForConditionalGeneration(transformers.Qwen3VLConfig(
            text_config=dict(text, head_dim=32), vision_config=dict(
                depth=3, hidden_size=32, intermediate_size=48, num_heads=2, out_hidden_size=64, patch_size=16,
                spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                deepstack_visual_indexes=[0, 1]))),
        "qwen3_moe": lambda: transformers.Qwen3MoeForCausalLM(transformers.Qwen3MoeConfig(
            **dict(text, head_dim=32), moe_intermediate_size=32, num_experts=4, num_experts_per_tok=2,
            decoder_sparse_step=2, mlp_only_layers=[3])),
    }
    for name, make in models.items():
        m = make().to(torch.bfloat16)
        m.save_pretrained(root / name)
    for name in ["llama_tp2", "qwen2_tp2_pp2", "qwen3_pp2_vpp2"]:
        src = OUT / name / "global_step_10" / "actor"
        hf = next(p for p in [src / "hf_model", src / "hf_checkpoint"] if p.exists())
        shutil.copytree(hf, root / name.split("_")[0])
    cases = {}

    def variant(base, name, edit_config=None, edit_weights=None, expect=()):
        dst = root / "broken" / name
        shutil.copytree(root / base, dst)
        if edit_config:
            cfg = json.loads((dst / "config.json").read_text())
            edit_config(cfg)
            (dst / "config.json").write_text(json.dumps(cfg, indent=2))
        if edit_weights:
            sd = load_manifest_sd(dst)
            edit_weights(sd)
            save_safetensors(sd, dst, dst)
        cases[name] = {"base": base, "expect": list(expect)}

    def kv4(c):
        c["num_key_value_heads"] = 4
    variant("llama", "kv_heads_config", kv4,
            expect=["model.layers.0.self_attn.k_proj.weight", "num_key_value_heads 4"])

    def drop_bias(sd):
        del sd["model.layers.1.self_attn.q_proj.bias"]
    variant("qwen2", "qwen2_missing_qkv_bias", edit_weights=drop_bias,
            expect=["model.layers.1.self_attn.q_proj.bias", "missing"])

    def drop_qnorm(sd):
        for k in [k for k in sd if "q_norm" in k]:
            del sd[k]
    variant("qwen3", "qwen3_missing_q_norm", edit_weights=drop_qnorm, expect=["q_norm", "missing"])

    def fewer_layers(c):
        c["num_hidden_layers"] = 3
    variant("llama", "extra_layer", fewer_layers, expect=["model.layers.3", "num_hidden_layers is 3"])

    def untie(c):
        c["tie_word_embeddings"] = False
    variant("qwen2", "untied_without_lm_head", untie, expect=["lm_head.weight", "missing"])

    def head_dim(c):
        c["head_dim"] = 16
    variant("qwen3", "qwen3_head_dim", head_dim, expect=["q_proj", "head_dim 16"])

    def vl_depth(c):
        c["vision_config"]["depth"] = 3
    variant("qwen2_5_vl", "vl_vision_depth", vl_depth, expect=["blocks.2", "missing"])

    def deepstack(c):
        c["vision_config"]["deepstack_visual_indexes"] = [0, 1, 2]
    variant("qwen3_vl", "vl_deepstack_count", deepstack, expect=["deepstack_merger_list.2", "missing"])

    def experts(c):  # transformers 5 writes num_local_experts, older releases num_experts
        c["num_local_experts" if "num_local_experts" in c else "num_experts"] = 8
    variant("qwen3_moe", "moe_num_experts", experts, expect=["mlp.gate.weight", "experts 8"])
    # A step folder whose Megatron args disagree with config.json (ffn_hidden_size), as after a
    # conversion with the wrong model preset.
    dst = root / "broken" / "megatron_args_ffn" / "global_step_10"
    shutil.copytree(OUT / "llama_tp2" / "global_step_10", dst)
    for pt in sorted(dst.glob("actor/iter_*/mp_rank_*/model_optim_rng.pt")):
        ck = torch.load(pt, weights_only=False)
        ck["args"].ffn_hidden_size = 128
        torch.save(ck, pt)
        Path(str(pt) + ".manifest.json").unlink()
    cases["megatron_args_ffn"] = {"base": "llama_tp2", "expect": ["args.ffn_hidden_size", "intermediate_size is 96",
                                                                   "linear_fc1.weight", "[128, 64]"]}
    (root / "CHECKS.json").write_text(json.dumps(cases, indent=1, sort_keys=True))


def main():
    OUT.mkdir(exist_ok=True)
    made = clean_models()
    faults(made)
    bad_inputs()
    dtype_zoo()
    check_models()
    import transformers
    (OUT / "VERSIONS.txt").write_text(f"torch {torch.__version__}\ntransformers {transformers.__version__}\n"
                                      f"numpy {np.__version__}\n")


if __name__ == "__main__":
    main()
