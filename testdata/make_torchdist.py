#!/usr/bin/env python3
"""Makes ckpt-diff's torch_dist fixtures with real Megatron-Core.

A tiny Qwen2-shaped GPTModel (local spec: Transformer Engine is not installed here) is built on the
CPU over gloo with TP=2 x PP=2 (4 processes), and saved by Megatron-Core's own
dist_checkpointing.save with the torch_dist strategy, beside:
  - an HF copy of the same weights (transformers Qwen2ForCausalLM.save_pretrained), whose logits are
    checked against the Megatron model's forward pass on the same tokens, and
  - a legacy copy (mp_rank_*/model_optim_rng.pt, torch.save of each rank's state_dict, as
    Megatron-LM's ckpt_format=torch writes it) of the same ranks.

Needs psutil (Megatron-Core's async writer). Run (Megatron-Core is not on PyPI in a CPU-usable form; use a Megatron-LM checkout):
    PYTHONPATH=<Megatron-LM checkout> testdata/.venv/bin/python testdata/make_torchdist.py
Megatron-Core HEAD imports triton at module level for GPU kernels; when triton is missing this
script puts a stub of it in a temporary folder (outside the repository) for the run only. It was
run with Megatron-LM HEAD d98e8a64 (core 0.19+), torch 2.13 CPU, transformers 5.18.

Output: testdata/fixtures/torchdist_qwen2_tp2_pp2/
    global_step_10/actor/hf_model/                       save_pretrained (vocab 250)
    global_step_10/actor/iter_0000010/                   torch_dist (metadata.json, .metadata, __R_0.distcp)
    global_step_10/actor/latest_checkpointed_iteration.txt
    legacy/iter_0000010/mp_rank_0T_00P/model_optim_rng.pt, legacy/latest_checkpointed_iteration.txt
    weights.manifest.json                               sha256 of every global tensor (Megatron key)
"""
import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

HERE = Path(__file__).resolve().parent
OUT = HERE / "fixtures" / "torchdist_qwen2_tp2_pp2"
ITERATION = 10
TP, PP = 2, 2
HIDDEN, HEADS, GROUPS, FFN, LAYERS = 64, 4, 2, 96, 4
VOCAB, PADDED_VOCAB = 250, 256   # Megatron pads the vocabulary; the HF copy has the real size
TIED = False
SEQ = 32

TRITON_STUB = '''
__version__ = "3.0.0"
import types as _t
def jit(fn=None, **kw):
    return fn if fn is not None else (lambda f: f)
def autotune(*a, **k):
    return lambda f: f
def heuristics(*a, **k):
    return lambda f: f
class Config:
    def __init__(self, *a, **k): pass
def cdiv(a, b): return (a + b - 1) // b
def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _t.SimpleNamespace()
'''


def stub_triton():
    """Megatron-Core imports triton for GPU kernels only; stub it after torch's own optional imports."""
    try:
        import triton  # noqa: F401
        return
    except ImportError:
        pass
    import torch._inductor.compile_fx  # noqa: F401  (loads torch's triton-optional modules while triton is absent)
    d = Path(tempfile.mkdtemp(prefix="triton-stub-"))
    (d / "triton" / "language" / "extra").mkdir(parents=True)
    (d / "triton" / "__init__.py").write_text(TRITON_STUB)
    (d / "triton" / "language" / "__init__.py").write_text("class constexpr: pass\ndef __getattr__(n): return object\n")
    (d / "triton" / "language" / "extra" / "__init__.py").write_text("def __getattr__(n): return object\n")
    (d / "triton" / "language" / "extra" / "libdevice.py").write_text("def __getattr__(n): return object\n")
    sys.path.insert(0, str(d))


def config():
    from megatron.core.transformer.transformer_config import TransformerConfig
    return TransformerConfig(
        num_layers=LAYERS, hidden_size=HIDDEN, ffn_hidden_size=FFN, num_attention_heads=HEADS,
        num_query_groups=GROUPS, kv_channels=HIDDEN // HEADS, add_qkv_bias=True, add_bias_linear=False,
        gated_linear_unit=True, activation_func=torch.nn.functional.silu, normalization="RMSNorm",
        layernorm_epsilon=1e-6, tensor_model_parallel_size=parallel()[0],
        pipeline_model_parallel_size=parallel()[1], use_cpu_initialization=True, params_dtype=torch.bfloat16,
        bf16=True, hidden_dropout=0.0, attention_dropout=0.0, pipeline_dtype=torch.bfloat16,
    )


_PAR = [TP, PP]


def parallel():
    return _PAR


def build_model(pre, post):
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    # bf16 throughout, as Megatron-LM's Float16Module makes it (local RMSNorm would stay fp32 otherwise).
    return GPTModel(config=config(), transformer_layer_spec=get_gpt_layer_local_spec(normalization="RMSNorm"),
                    vocab_size=PADDED_VOCAB, max_sequence_length=SEQ, pre_process=pre, post_process=post,
                    share_embeddings_and_output_weights=TIED, position_embedding_type="rope",
                    rotary_base=10000).to(torch.bfloat16)


def randomize(model, tp_rank, pp_rank):
    """Distinct values everywhere (norms start at 1.0): seeded per parameter, per TP rank only where
    the parameter is TP-sharded, so replicated parameters stay equal on every TP rank."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            sharded = getattr(p, "tensor_model_parallel", False)
            seed = int(hashlib.sha256(f"{name}|{pp_rank}|{tp_rank if sharded else 0}".encode()).hexdigest()[:8], 16)
            g = torch.Generator().manual_seed(seed)
            noise = torch.randn(p.shape, generator=g)
            if p.dim() == 1 and "bias" not in name:
                p.copy_((1.0 + 0.1 * noise).to(p.dtype))
            else:
                p.copy_((0.05 * noise).to(p.dtype))


def megatron_args():
    return argparse.Namespace(
        tensor_model_parallel_size=TP, pipeline_model_parallel_size=PP, virtual_pipeline_model_parallel_size=None,
        expert_model_parallel_size=1, num_layers=LAYERS, hidden_size=HIDDEN, ffn_hidden_size=FFN,
        num_attention_heads=HEADS, num_query_groups=GROUPS, group_query_attention=True, kv_channels=HIDDEN // HEADS,
        padded_vocab_size=PADDED_VOCAB, vocab_size=VOCAB, make_vocab_size_divisible_by=128, add_qkv_bias=True,
        qk_layernorm=False, untie_embeddings_and_output_weights=not TIED, transformer_impl="local",
        params_dtype=torch.bfloat16, bf16=True, swiglu=True, normalization="RMSNorm", position_embedding_type="rope",
        rotary_base=10000, norm_epsilon=1e-6, seq_length=SEQ, max_position_embeddings=SEQ, ckpt_format="torch_dist",
        iteration=ITERATION,
    )


def worker(rank, world, port, tmp, mode="save", dims=None):
    if dims:  # another shape (bench/make_torchdist_bench.py); spawned processes start from the defaults
        globals().update(dims)
    _PAR[:] = [TP, PP] if mode == "save" else [1, 1]
    stub_triton()
    if not torch.cuda.is_available():
        # Megatron-Core's saver assumes a GPU: it syncs before copying and reduces a flag tensor on
        # torch.cuda.current_device(). On the CPU (gloo) both become no-ops / the CPU device.
        torch.cuda.synchronize = lambda *a, **k: None
        torch.cuda.current_device = lambda: "cpu"
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from megatron.core import dist_checkpointing, parallel_state
    from megatron.core.dist_checkpointing.strategies.torch import TorchDistSaveShardedStrategy
    from megatron.core.tensor_parallel.random import model_parallel_cuda_manual_seed
    tp, pp = parallel()
    parallel_state.initialize_model_parallel(tensor_model_parallel_size=tp, pipeline_model_parallel_size=pp)
    try:
        model_parallel_cuda_manual_seed(123)
    except Exception:  # needs CUDA; it only seeds dropout, which is off here
        from megatron.core.tensor_parallel.random import get_cuda_rng_tracker
        get_cuda_rng_tracker().fork = lambda *a, **k: contextlib.nullcontext()
    tp_rank = parallel_state.get_tensor_model_parallel_rank()
    pp_rank = parallel_state.get_pipeline_model_parallel_rank()
    model = build_model(pp_rank == 0, pp_rank == pp - 1)
    if mode == "save":
        randomize(model, tp_rank, pp_rank)
        # Megatron-LM training's generate_state_dict: the model's sharded state dict plus common values.
        state = {"model": model.sharded_state_dict(metadata={"singleton_local_shards": False}),
                 "args": megatron_args(), "checkpoint_version": 3.0, "iteration": ITERATION}
        dist_checkpointing.save(state, str(tmp / "dist"), sharded_strategy=TorchDistSaveShardedStrategy())
        # The same ranks as a legacy (ckpt_format=torch) checkpoint.
        folder = tmp / "legacy" / f"iter_{ITERATION:07d}" / f"mp_rank_{tp_rank:02d}_{pp_rank:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"args": megatron_args(), "checkpoint_version": 3.0, "iteration": ITERATION,
                    "model": model.state_dict_for_save_checkpoint()}, folder / "model_optim_rng.pt")
    else:
        # Read the torch_dist checkpoint back unsharded (Megatron-Core reshards TP2xPP2 -> TP1xPP1).
        state = {"model": model.sharded_state_dict(metadata={"singleton_local_shards": False})}
        loaded = dist_checkpointing.load(state, str(tmp / "dist"))
        model.load_state_dict(loaded["model"])
        model.eval()
        tokens = torch.arange(SEQ).remainder(VOCAB).unsqueeze(0) * 7 % VOCAB
        pos = torch.arange(SEQ).unsqueeze(0)
        with torch.no_grad():
            # Megatron's default causal mask is built on "cuda"; give it explicitly (True = masked).
            mask = torch.triu(torch.ones(1, 1, SEQ, SEQ), diagonal=1).bool()
            logits = model(tokens, pos, attention_mask=mask)
        torch.save({"state": {k: v for k, v in model.state_dict().items() if "_extra_state" not in k},
                    "tokens": tokens, "logits": logits.float()}, tmp / "tp1.pt")
    dist.barrier()
    dist.destroy_process_group()


def to_hf(sd):
    """Megatron (TP1, layer-numbered) names -> HF Qwen2 names: QKV per-group interleave, fc1 = [gate; up]."""
    hd, hpg = HIDDEN // HEADS, HEADS // GROUPS
    out = {"model.embed_tokens.weight": sd["embedding.word_embeddings.weight"][:VOCAB],
           "model.norm.weight": sd["decoder.final_layernorm.weight"]}
    if not TIED:
        out["lm_head.weight"] = sd["output_layer.weight"][:VOCAB]
    for i in range(LAYERS):
        m, h = f"decoder.layers.{i}.", f"model.layers.{i}."
        for suffix in ("weight", "bias"):
            qkv = sd[m + "self_attention.linear_qkv." + suffix].reshape(GROUPS, (hpg + 2) * hd, -1)
            out[h + "self_attn.q_proj." + suffix] = qkv[:, :hpg * hd].reshape(HEADS * hd, -1).squeeze(-1)
            out[h + "self_attn.k_proj." + suffix] = qkv[:, hpg * hd:(hpg + 1) * hd].reshape(GROUPS * hd, -1).squeeze(-1)
            out[h + "self_attn.v_proj." + suffix] = qkv[:, (hpg + 1) * hd:].reshape(GROUPS * hd, -1).squeeze(-1)
        out[h + "self_attn.o_proj.weight"] = sd[m + "self_attention.linear_proj.weight"]
        out[h + "input_layernorm.weight"] = sd[m + "input_layernorm.weight"]
        out[h + "post_attention_layernorm.weight"] = sd[m + "pre_mlp_layernorm.weight"]
        gate, up = sd[m + "mlp.linear_fc1.weight"].chunk(2, dim=0)
        out[h + "mlp.gate_proj.weight"] = gate
        out[h + "mlp.up_proj.weight"] = up
        out[h + "mlp.down_proj.weight"] = sd[m + "mlp.linear_fc2.weight"]
    return {k: v.contiguous().clone() for k, v in out.items()}


def write_hf(tp1, folder):
    import transformers
    cfg = transformers.Qwen2Config(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN,
                                   num_hidden_layers=LAYERS, num_attention_heads=HEADS, num_key_value_heads=GROUPS,
                                   max_position_embeddings=SEQ, tie_word_embeddings=False, rms_norm_eps=1e-6,
                                   rope_theta=10000.0, torch_dtype="bfloat16")
    model = transformers.Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    missing, unexpected = model.load_state_dict(to_hf(tp1["state"]), strict=False)
    assert not unexpected and all("rotary" in k for k in missing), (missing, unexpected)
    model.eval()
    with torch.no_grad():
        hf_logits = model(tp1["tokens"]).logits.float()
    meg = tp1["logits"][..., :VOCAB]
    err = (hf_logits - meg).abs().max().item()
    scale = meg.abs().max().item()
    print(f"HF vs Megatron logits: max abs diff {err:.4g} (logit scale {scale:.3g})")
    assert err <= 0.05 * scale, "the HF copy does not compute what the Megatron model computes"
    model.save_pretrained(folder)


def run(world, tmp, mode, dims=None):
    port = 29500 + os.getpid() % 1000 + world
    mp.spawn(worker, args=(world, port, tmp, mode, dims), nprocs=world, join=True)


def sha(t):
    return hashlib.sha256(t.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()


def main():
    tmp = Path(tempfile.mkdtemp(prefix="torchdist-"))
    (tmp / "dist").mkdir()
    run(TP * PP, tmp, "save")
    run(1, tmp, "load")
    tp1 = torch.load(tmp / "tp1.pt", weights_only=True)
    if OUT.exists():
        shutil.rmtree(OUT)
    actor = OUT / "global_step_10" / "actor"
    actor.mkdir(parents=True)
    write_hf(tp1, actor / "hf_model")
    shutil.copytree(tmp / "dist", actor / f"iter_{ITERATION:07d}")
    (actor / "latest_checkpointed_iteration.txt").write_text(str(ITERATION))
    shutil.copytree(tmp / "legacy", OUT / "legacy")
    (OUT / "legacy" / "latest_checkpointed_iteration.txt").write_text(str(ITERATION))
    manifest = {k: {"dtype": str(v.dtype), "shape": list(v.shape), "sha256": sha(v)}
                for k, v in tp1["state"].items()}
    (OUT / "weights.manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    shutil.rmtree(tmp)
    plant_faults(actor / f"iter_{ITERATION:07d}", OUT / "faults")
    protocol5(actor / f"iter_{ITERATION:07d}", OUT / "protocol5" / f"iter_{ITERATION:07d}")
    wrong_args(actor, OUT / "faults" / "wrong_args" / "global_step_10" / "actor")
    print("wrote", OUT)


def protocol5(it, out):
    """The same checkpoint with .metadata as Python 3.14 writes it (pickle.DEFAULT_PROTOCOL 5)."""
    import pickle
    shutil.copytree(it, out)
    meta = pickle.loads((it / ".metadata").read_bytes())
    with open(out / ".metadata", "wb") as fh:
        pickle.dump(meta, fh, protocol=5)


def wrong_args(actor, out, changes=None):
    """A step whose Megatron args disagree with its weights and config.json (ffn_hidden_size 128, not 96),
    given as common.pt: older Megatron-Core (<= 0.18) saves the common state there, and readers prefer it."""
    shutil.copytree(actor, out)
    it = out / f"iter_{ITERATION:07d}"
    meta = __import__("pickle").loads((it / ".metadata").read_bytes())
    info = next(v for k, v in meta.storage_data.items() if k.fqn.startswith("common_state/"))
    raw = (it / info.relative_path).read_bytes()[info.offset:info.offset + info.length]
    common = torch.load(io.BytesIO(raw), weights_only=False)[0]
    for name, value in (changes or {"ffn_hidden_size": 128}).items():
        setattr(common["args"], name, value)
    torch.save(common, it / "common.pt")


FAULT_KEY, FAULT_CHUNK, FAULT_ELEMENT = "decoder.layers.self_attention.linear_qkv.weight", (2, 64, 0), (0, 5, 7)


def rewrite_chunk(it, info, element, delta):
    """Adds `delta` to one element of the chunk `info` (a DCP storage entry) of folder `it`, rewritten by
    torch.save in place: a valid archive of the same length, as a writer that saved a wrong value leaves it."""
    f = it / info.relative_path
    data = bytearray(f.read_bytes())
    chunk = torch.load(io.BytesIO(bytes(data[info.offset:info.offset + info.length])), weights_only=True)
    chunk[element] = chunk[element] + delta
    buf = io.BytesIO()
    torch.save(chunk, buf)
    assert len(buf.getvalue()) == info.length
    data[info.offset:info.offset + info.length] = buf.getvalue()
    f.write_bytes(bytes(data))


def plant_faults(it, out):
    """Damage copies of the torch_dist folder the way a buggy writer or a broken copy would."""
    import pickle
    meta = pickle.loads((it / ".metadata").read_bytes())

    def storage(fqn, offsets):
        return next(v for k, v in meta.storage_data.items() if k.fqn == fqn and tuple(k.offset) == offsets)

    # 1. One element changed inside one chunk; the chunk is rewritten by torch.save (a valid archive
    #    of the same length), as a writer that saved a wrong value would leave it.
    d = out / "element" / it.name
    shutil.copytree(it, d)
    info = storage(FAULT_KEY, FAULT_CHUNK)
    rewrite_chunk(d, info, FAULT_ELEMENT, 1.0)
    (out / "element" / "FAULT.json").write_text(json.dumps({
        "key": FAULT_KEY, "chunk_offsets": list(FAULT_CHUNK), "element_in_chunk": list(FAULT_ELEMENT),
        "file": info.relative_path, "file_offset": info.offset}, indent=1))

    # 2. A .distcp file cut short (an interrupted copy).
    d = out / "truncated" / it.name
    shutil.copytree(it, d)
    victim = d / storage(FAULT_KEY, FAULT_CHUNK).relative_path
    victim.write_bytes(victim.read_bytes()[:victim.stat().st_size // 2])

    # 3. A chunk missing from the index: its elements are covered by no chunk.
    d = out / "missing_chunk" / it.name
    shutil.copytree(it, d)
    md = meta.state_dict_metadata[FAULT_KEY]
    md.chunks = [c for c in md.chunks if tuple(c.offsets) != FAULT_CHUNK]
    meta.storage_data = {k: v for k, v in meta.storage_data.items()
                         if not (k.fqn == FAULT_KEY and tuple(k.offset) == FAULT_CHUNK)}
    with open(d / ".metadata", "wb") as fh:
        pickle.dump(meta, fh)

    # 4. An interrupted save: Megatron-Core writes metadata.json last.
    d = out / "no_metadata_json" / it.name
    shutil.copytree(it, d)
    (d / "metadata.json").unlink()

    # 5. Another sharded backend (zarr, Megatron-Core's older alternative).
    d = out / "zarr_backend" / it.name
    shutil.copytree(it, d)
    (d / "metadata.json").write_text(json.dumps({"sharded_backend": "zarr", "sharded_backend_version": 1}))

    # 6. A .distcp file lost in a copy.
    d = out / "missing_file" / it.name
    shutil.copytree(it, d)
    (d / info.relative_path).unlink()

    # 7. An index that holds an object of a class no DCP index holds (a reader must refuse it by name,
    #    never import it).
    import collections
    d = out / "foreign_class" / it.name
    shutil.copytree(it, d)
    meta = pickle.loads((it / ".metadata").read_bytes())
    meta.planner_data = collections.Counter(a=1)
    with open(d / ".metadata", "wb") as fh:
        pickle.dump(meta, fh)


if __name__ == "__main__":
    main()
