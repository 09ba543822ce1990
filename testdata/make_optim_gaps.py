#!/usr/bin/env python3
"""A small legacy step whose parameter sizes are not multiples of 64, so Megatron's 64-element start alignment
leaves gaps inside buckets (the real fixtures of make_optim.py have none), and a copy with a non-zero gap.

Run: PYTHONPATH=<a Megatron-LM checkout> testdata/.venv/bin/python testdata/make_optim_gaps.py
(plain torch on the CPU). Only the layout comes from Megatron-Core: its own
DistributedOptimizer._compute_per_buffer_param_layout (megatron/core/optimizer/distrib_optimizer.py, with
pad_param_start / pad_bucket_end from optimizer/param_layout.py) is taken from the checkout's source text and run,
because importing megatron.core whole needs triton and CUDA. The values are made up (random fp32 masters, the
weights their bf16 rounding as Megatron's main-to-model copy makes them) and the file is built the way
get_parameter_state_dp_zero builds the coalesced form: per bucket the unpadded slice, gaps zero.
Output: fixtures/optim/gaps/{clean,gap_not_zero}/global_step_1/actor/... and gaps/GAPS.json.
"""
import argparse
import ast
import importlib.util
import json
import shutil
from pathlib import Path

import torch

import megatron  # noqa: F401  (only to locate the checkout)

OUT = Path(__file__).resolve().parent / "fixtures" / "optim" / "gaps"
# name -> shape, in named_parameters() order; 100, 30 and 63 elements are not multiples of 64
PARAMS = {"embedding.word_embeddings.weight": (10, 10), "decoder.layers.0.mlp.linear_fc1.bias": (30,),
          "decoder.layers.0.mlp.linear_fc1.weight": (7, 9), "output_layer.weight": (10, 10)}
BUCKET_SIZE = 150
DP = 2


def megatron_layout_function():
    root = Path(megatron.__path__[0]) / "core" / "optimizer"
    spec = importlib.util.spec_from_file_location("param_layout", root / "param_layout.py")
    pl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pl)
    tree = ast.parse((root / "distrib_optimizer.py").read_text())
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "_compute_per_buffer_param_layout")
    fn.decorator_list = []
    ns = {"pad_param_start": pl.pad_param_start, "pad_bucket_end": pl.pad_bucket_end,
          "PerBufferParamLayout": pl.PerBufferParamLayout, "List": list, "Optional": __import__("typing").Optional,
          "torch": torch}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "distrib_optimizer.py", "exec"), ns)
    return ns["_compute_per_buffer_param_layout"]


class DDPConfig:
    pad_buckets_for_high_nccl_busbw = False


def main():
    argparse.ArgumentParser().parse_args()
    g = torch.Generator().manual_seed(11)
    params = {n: torch.nn.Parameter(torch.zeros(s, dtype=torch.bfloat16)) for n, s in PARAMS.items()}
    layout = megatron_layout_function()(list(params.values()), BUCKET_SIZE, DP, DDPConfig())
    names = {p: n for n, p in params.items()}
    ends = [e for _, e in layout.bucket_indices]
    starts = [s for s, _ in layout.bucket_indices]
    record = [{"kind": "dense", "index": 0, "param_dtype": "torch.bfloat16", "grad_dtype": "torch.float32", "dp_size": DP,
               "buckets": [{"offset": s, "numel_unpadded": u, "numel": e - s}
                           for s, e, u in zip(starts, ends, layout.per_bucket_numel_unpadded)],
               "params": sorted(({"name": names[p], "start": s, "end": e, "bucket": b}
                                 for p, (s, e, b) in layout.param_index_map.items()), key=lambda x: x["start"])}]
    total = sum(layout.per_bucket_numel_unpadded)
    world = {k: torch.zeros(total, dtype=torch.float32) for k in ("param", "exp_avg", "exp_avg_sq")}
    model = {}
    gaps = []
    for p in record[0]["params"]:
        b = p["bucket"]
        flat = p["start"] - starts[b] + sum(layout.per_bucket_numel_unpadded[:b])
        n = p["end"] - p["start"]
        master = torch.randn(n, generator=g) * 0.02
        world["param"][flat:flat + n] = master
        world["exp_avg"][flat:flat + n] = torch.randn(n, generator=g) * 1e-3
        world["exp_avg_sq"][flat:flat + n] = torch.rand(n, generator=g) * 1e-6
        model[p["name"]] = master.to(torch.bfloat16).reshape(PARAMS[p["name"]])
    model = {n: model[n] for n in PARAMS}  # the state dict lists parameters in named_parameters() order
    covered = torch.zeros(total, dtype=torch.bool)
    for p in record[0]["params"]:
        b = p["bucket"]
        flat = p["start"] - starts[b] + sum(layout.per_bucket_numel_unpadded[:b])
        covered[flat:flat + p["end"] - p["start"]] = True
    gaps = (~covered).nonzero().flatten().tolist()
    assert gaps, "the sizes must leave gaps"
    state = {"buckets_coalesced": True,
             0: {(torch.bfloat16, torch.float32): dict(world, numel_unpadded=total)}}
    args = argparse.Namespace(
        tensor_model_parallel_size=1, pipeline_model_parallel_size=1, expert_model_parallel_size=1,
        expert_tensor_parallel_size=1, virtual_pipeline_model_parallel_size=None, data_parallel_size=DP,
        context_parallel_size=1, num_distributed_optimizer_instances=1, use_distributed_optimizer=True,
        overlap_grad_reduce=True, overlap_param_gather=False, overlap_param_gather_with_optimizer_step=False,
        ddp_bucket_size=BUCKET_SIZE, ddp_num_buckets=None, ddp_pad_buckets_for_high_nccl_busbw=False,
        accumulate_allreduce_grads_in_fp32=True, fp8_param_gather=False, bf16=True, fp16=False,
        untie_embeddings_and_output_weights=True, num_layers=1, ckpt_format="torch", iteration=1)
    shutil.rmtree(OUT, ignore_errors=True)
    for variant in ("clean", "gap_not_zero"):
        folder = OUT / variant / "global_step_1" / "actor" / "iter_0000001" / "mp_rank_00"
        folder.mkdir(parents=True)
        torch.save({"args": args, "checkpoint_version": 3.0, "iteration": 1, "model": model}, folder / "model_optim_rng.pt")
        st = state
        if variant == "gap_not_zero":
            st = {"buckets_coalesced": True,
                  0: {(torch.bfloat16, torch.float32): {k: (v.clone() if torch.is_tensor(v) else v)
                                                        for k, v in state[0][(torch.bfloat16, torch.float32)].items()}}}
            st[0][(torch.bfloat16, torch.float32)]["exp_avg"][gaps[0]] = 0.5
        torch.save(st, folder / "distrib_optim.pt")
        (folder / "megatron_layout.json").write_text(json.dumps(record, indent=1) + "\n")
        (OUT / variant / "global_step_1" / "actor" / "latest_checkpointed_iteration.txt").write_text("1")
    (OUT / "GAPS.json").write_text(json.dumps({"gaps": gaps, "gap_not_zero": {"key": "exp_avg", "flat_offset": gaps[0]}},
                                              indent=1) + "\n")
    print("layout", record, "gaps", gaps)


if __name__ == "__main__":
    main()
