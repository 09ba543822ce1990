#!/usr/bin/env python3
"""Makes ckpt-diff's legacy mixture-of-experts fixtures with expert TP (ETP) smaller than TP, with real Megatron-Core.

With ETP < TP Megatron's legacy save does not write the full TP x EP grid of mp_rank_TT_EEE folders: only ranks
with dp_rank == 0 or expert-dp rank == 0 write (megatron/training/checkpointing.py save_checkpoint), each to the
folder get_checkpoint_name gives for its (tp_rank, pp_rank, ep_rank). This script lets Megatron-Core decide all of
it: 4 processes over gloo on the CPU initialise the real parallel_state with expert_tensor_parallel_size=1, build a
Megatron-Core GPTModel (local spec, SequentialMLP experts; Transformer Engine is not installed here) of a tiny
Qwen3-MoE (transformers' save_pretrained, as make_moe.py), fill it with the HF weights (Megatron-Bridge's mapping,
make_moe.py; load of every key and shape checked against the model's own), and the processes whose real mpu
dp rank or expert-dp rank is 0 torch.save {'args', 'checkpoint_version': 3.0, 'iteration', 'model':
model.state_dict_for_save_checkpoint()} to megatron.training.checkpointing.get_checkpoint_name(...) - the path and
payload save_checkpoint uses for a legacy checkpoint (the full save_checkpoint is not called: it needs the whole
training set-up, an optimizer and CUDA RNG state).

Run (needs psutil; Megatron-LM checkout on PYTHONPATH; triton stubbed outside the repository when missing, as in
make_torchdist.py; typing.override is added on Python 3.11, which megatron.training imports):
    PYTHONPATH=<Megatron-LM checkout> testdata/.venv/bin/python testdata/make_legacy_moe_etp.py
It was run with Megatron-LM HEAD (core 0.19+), torch 2.13 CPU, transformers 5.18.

Outputs (RLinf step folders <name>/global_step_10/actor/{hf_model, iter_0000010, latest_checkpointed_iteration.txt}):
  testdata/fixtures/moe/qwen3_moe_tp2_etp1_ep2   TP=2, ETP=1, EP=2 (world 4): mp_rank_00_000, mp_rank_01_001
  testdata/fixtures/moe/qwen3_moe_tp2_etp1_ep4   TP=2, ETP=1, EP=4 (world 4): mp_rank_00_000, mp_rank_01_001,
                                                 mp_rank_00_002, mp_rank_01_003 (dense shards written twice)
  testdata/fixtures/moe/faults/etp1_expert_element  the first, with one element of one expert changed in
                                                 mp_rank_01_001 (torch.load, change, torch.save)
  testdata/fixtures/moe/faults/etp1_dense_replica   the second, with one element of a dense weight changed in
                                                 mp_rank_00_002 (a replica of mp_rank_00_000's)
  testdata/fixtures/moe/qwen3_moe_tp2_etp1_ep2_full_grid  the first with all four TP x EP folders (full_grid())
  testdata/fixtures/moe/faults/etp1_full_grid_expert_replica  that, one element of an expert changed in
                                                 mp_rank_01_000 (a replica of mp_rank_00_000's experts)
  testdata/fixtures/moe/bad/args_etp_above_tp   the first with args.expert_tensor_parallel_size 4 > TP 2
  testdata/fixtures/moe/bad/etp1_ep4_key_missing  the second without one dense weight in mp_rank_00_002
  FAULTS_ETP.json describes the faults.
"""
import json
import os
import shutil
import sys
import typing
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate as gen  # noqa: E402
import make_moe  # noqa: E402
import make_torchdist  # noqa: E402
import make_torchdist_moe  # noqa: E402

OUT = HERE / "fixtures" / "moe"
ITER = 10
TP = 2
ETP = 1
CONFIG = dict(make_moe.CONFIG, num_hidden_layers=2, mlp_only_layers=[])
FAULTS = {
    "etp1_expert_element": dict(source="qwen3_moe_tp2_etp1_ep2", folder="mp_rank_01_001",
                                key="decoder.layers.1.mlp.experts.local_experts.1.linear_fc2.weight",
                                element=[5, 7], hf="model.layers.1.mlp.experts.5.down_proj.weight"),
    "etp1_dense_replica": dict(source="qwen3_moe_tp2_etp1_ep4", folder="mp_rank_00_002",
                               key="decoder.layers.0.self_attention.linear_proj.weight",
                               element=[3, 4], hf="model.layers.0.self_attn.o_proj.weight"),
}


def rank_weights(sd, cfg, tp_rank, ep, ep_rank, etp_rank):
    """Dense TP shard tp_rank plus EP rank ep_rank's experts split over ETP: make_moe.py's mapping of the HF weights."""
    g = gen.hf_to_megatron_global(sd, cfg, cfg["vocab_size"])  # 256: already a multiple of 128 x TP
    m = {"embedding.word_embeddings.weight": g["embedding.word_embeddings.weight"].chunk(TP)[tp_rank].clone()}
    for L in range(cfg["num_hidden_layers"]):
        m.update(gen.shard_layer(g, L, L, TP, tp_rank, "local"))
        m.update(make_moe.expert_keys(sd, cfg, L, L, ep_rank, ep, etp_rank, ETP, False))
    m["decoder.final_layernorm.weight"] = g["decoder.final_layernorm.weight"].clone()
    m["output_layer.weight"] = g["output_layer.weight"].chunk(TP)[tp_rank].clone()
    return m


def worker(rank, world, port, root, hf_dir, ep, c, report):
    # generate.py puts testdata/pysrc (a small unpickling stand-in named megatron) on the path: use the real one
    sys.path[:] = [p for p in sys.path if not p.endswith("pysrc")]
    for name in [m for m in sys.modules if m == "megatron" or m.startswith("megatron.")]:
        del sys.modules[name]
    make_torchdist.stub_triton()
    if not hasattr(typing, "override"):  # megatron.training uses Python 3.12's typing.override
        typing.override = lambda f: f
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from megatron.core import parallel_state as mpu
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.training.checkpointing import get_checkpoint_name
    mpu.initialize_model_parallel(tensor_model_parallel_size=TP, pipeline_model_parallel_size=1,
                                  expert_model_parallel_size=ep, expert_tensor_parallel_size=ETP)
    tc = make_torchdist_moe.transformer_config(c, TP, ep, ETP, 1)
    spec = get_gpt_layer_local_spec(num_experts=c["num_experts"], moe_grouped_gemm=False, qk_layernorm=True,
                                    normalization="RMSNorm")
    model = GPTModel(config=tc, transformer_layer_spec=spec, vocab_size=c["vocab_size"], max_sequence_length=128,
                     share_embeddings_and_output_weights=False, position_embedding_type="rope")
    model = model.to(torch.bfloat16)  # as Megatron-LM's Float16Module makes it
    tp_rank = mpu.get_tensor_model_parallel_rank()
    ep_rank = mpu.get_expert_model_parallel_rank()
    etp_rank = mpu.get_expert_tensor_parallel_rank()
    sd = gen.load_manifest_sd(hf_dir)
    weights = rank_weights(sd, json.loads((hf_dir / "config.json").read_text()), tp_rank, ep, ep_rank, etp_rank)
    own = {k: v for k, v in model.state_dict().items() if "_extra_state" not in k}
    assert set(own) == set(weights), (sorted(set(own) ^ set(weights)))
    with torch.no_grad():
        for k, v in own.items():
            assert tuple(v.shape) == tuple(weights[k].shape), (k, v.shape, weights[k].shape)
            v.copy_(weights[k].to(v.dtype))
    args = make_moe.args_for(c, TP, ep, ETP, "local", c["vocab_size"])
    args.context_parallel_size = 1
    args.ckpt_format = "torch"
    for name, value in vars(args).items():  # generate.py's stand-in enums -> Megatron-Core's own
        if type(value).__module__.startswith("megatron."):
            import importlib
            real = getattr(importlib.import_module(type(value).__module__), type(value).__name__)
            setattr(args, name, real[value.name])
    # save_checkpoint's rule for a legacy checkpoint: dp rank 0 or expert-dp rank 0 writes
    dp_rank = mpu.get_data_parallel_rank()
    edp_rank = mpu.get_expert_data_parallel_rank()
    path = Path(get_checkpoint_name(str(root), ITER))
    writes = dp_rank == 0 or edp_rank == 0
    if writes:
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"args": args, "checkpoint_version": 3.0, "iteration": ITER,
                 "model": model.state_dict_for_save_checkpoint()}
        torch.save(state, path)
    report.put(dict(rank=rank, tp=tp_rank, ep=ep_rank, etp=etp_rank, dp=dp_rank, edp=edp_rank,
                    folder=path.parent.name, writes=writes))
    dist.barrier()
    dist.destroy_process_group()


def make(name, ep):
    actor = OUT / name / "global_step_10" / "actor"
    if actor.parent.parent.exists():
        shutil.rmtree(actor.parent.parent)
    actor.mkdir(parents=True)
    gen.save_hf(make_moe.make_hf(seed=320, config=CONFIG), actor / "hf_model")
    world = 4
    ctx = mp.get_context("spawn")
    report = ctx.SimpleQueue()
    port = 29600 + os.getpid() % 1000 + ep
    mp.spawn(worker, args=(world, port, actor, actor / "hf_model", ep, CONFIG, report), nprocs=world, join=True)
    ranks = sorted((report.get() for _ in range(world)), key=lambda r: r["rank"])
    for r in ranks:
        print(name, r)
    (actor / "latest_checkpointed_iteration.txt").write_text(str(ITER))
    return actor


def copy_step(source, to):
    """A copy of a step folder made above, to change; returns its iteration folder."""
    src = OUT / source / "global_step_10"
    dst = OUT / to / "global_step_10"
    if dst.parent.exists():
        shutil.rmtree(dst.parent)
    shutil.copytree(src, dst)
    return dst / "actor" / f"iter_{ITER:07d}"


def edit_shard(shard, change):
    """torch.load, change, torch.save. The saved args hold Megatron-Core's enums: testdata/pysrc's stand-in (on the
    path through generate.py) reads them."""
    state = torch.load(shard, weights_only=False)
    change(state)
    torch.save(state, shard)


def plant(name, f):
    def bump(state):
        t = state["model"][f["key"]]
        i, j = f["element"]
        t[i, j] = t[i, j] + 0.5
    edit_shard(copy_step(f["source"], "faults/" + name) / f["folder"] / "model_optim_rng.pt", bump)


def full_grid():
    """The same weights in all four TP x EP folders, as tools that assume the grid write them (ckpt-diff before
    this layout did): the two extra folders take their dense shard from the folder of their TP rank and their
    experts (whole, ETP=1) from the folder of their EP rank. Plus a copy whose mp_rank_01_000 has one element of
    one expert changed (FAULTS)."""
    it = copy_step("qwen3_moe_tp2_etp1_ep2", "qwen3_moe_tp2_etp1_ep2_full_grid")
    for tp_rank, ep_rank in [(0, 1), (1, 0)]:
        dense = torch.load(it / f"mp_rank_{tp_rank:02d}_{tp_rank:03d}" / "model_optim_rng.pt", weights_only=False)
        experts = torch.load(it / f"mp_rank_{ep_rank:02d}_{ep_rank:03d}" / "model_optim_rng.pt", weights_only=False)
        dense["model"] = {k: (experts["model"][k] if ".mlp.experts." in k else v) for k, v in dense["model"].items()}
        (it / f"mp_rank_{tp_rank:02d}_{ep_rank:03d}").mkdir()
        torch.save(dense, it / f"mp_rank_{tp_rank:02d}_{ep_rank:03d}" / "model_optim_rng.pt")
    FAULTS["etp1_full_grid_expert_replica"] = dict(
        source="qwen3_moe_tp2_etp1_ep2_full_grid", folder="mp_rank_01_000",
        key="decoder.layers.0.mlp.experts.local_experts.2.linear_fc1.weight", element=[1, 2],
        hf="model.layers.0.mlp.experts.2.gate_proj.weight")


def bad_inputs():
    """args claiming ETP 4 > TP 2, which Megatron cannot save as legacy folders; and the EP=4 step with one dense
    weight deleted from mp_rank_00_002 (the second folder of TP rank 0)."""
    it = copy_step("qwen3_moe_tp2_etp1_ep2", "bad/args_etp_above_tp")
    for shard in sorted(it.glob("mp_rank_*/model_optim_rng.pt")):
        edit_shard(shard, lambda state: setattr(state["args"], "expert_tensor_parallel_size", 4))
    it = copy_step("qwen3_moe_tp2_etp1_ep4", "bad/etp1_ep4_key_missing")
    edit_shard(it / "mp_rank_00_002" / "model_optim_rng.pt",
               lambda state: state["model"].pop("decoder.layers.0.self_attention.linear_proj.weight"))


def main():
    make("qwen3_moe_tp2_etp1_ep2", 2)
    make("qwen3_moe_tp2_etp1_ep4", 4)
    full_grid()
    bad_inputs()
    for name, f in FAULTS.items():
        plant(name, f)
    (OUT / "faults" / "FAULTS_ETP.json").write_text(json.dumps(FAULTS, indent=1) + "\n")


if __name__ == "__main__":
    main()
