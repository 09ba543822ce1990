#!/usr/bin/env python3
"""The older (Megatron-Core <= 0.6) per-bucket form of distrib_optim.pt, re-expressed from the real fixtures.

Run: testdata/.venv/bin/python testdata/make_optim_per_bucket.py   (plain torch on the CPU; reads testdata/fixtures/optim)

Megatron-Core <= 0.6 (before commit 369e698d) saved, in DistributedOptimizer.get_parameter_state_dp_zero,
    {"per_bucket_numel": [{(param_dtype, grad_dtype): [padded numel per bucket]} per buffer],
     "per_bucket_numel_unpadded": [{(param_dtype, grad_dtype): [unpadded numel per bucket]} per buffer],
     gbuf_idx: {(param_dtype, grad_dtype): {"param": [bucket tensors], "exp_avg": [...], "exp_avg_sq": [...]}}}
with each bucket tensor the gathered, padded bucket (torch.cat of the DP shards; the shards were torch.empty, so the
padding is undefined: NaN here, which a reader must not look at), and a list [state_or_None, ...] for a chained
optimizer. No Megatron-Core of that age runs the fixtures' model here, so this script rewrites the real
Megatron-Core 0.20 files of dense_dp2 and moe_ep2 (step 3) into that form: the values, bucket sizes and offsets
are Megatron's own (megatron_layout.json; all parameters there have a multiple of 64 elements, so the 0.8 start
alignment changed nothing). The model files are copied unchanged. Output: fixtures/optim/per_bucket/<name>/global_step_3, and per_bucket/short_bucket (bad input: a bucket tensor
shorter than its bucket).
"""
import json
import shutil
from pathlib import Path

import torch

OPTIM = Path(__file__).resolve().parent / "fixtures" / "optim"


def split(state, buffers):
    """One coalesced optimizer state -> the per-bucket form, for the layout's buffers in gbuf order."""
    out = {"per_bucket_numel": [], "per_bucket_numel_unpadded": []}
    gbufs = [k for k in state if k != "buckets_coalesced"]
    assert len(gbufs) == len(buffers), (gbufs, len(buffers))
    for gbuf, buf in zip(gbufs, buffers):
        (dtypes, tensors), = state[gbuf].items()
        numel = [b["numel"] for b in buf["buckets"]]
        unpadded = [b["numel_unpadded"] for b in buf["buckets"]]
        assert tensors["numel_unpadded"] == sum(unpadded)
        out["per_bucket_numel"].append({dtypes: numel})
        out["per_bucket_numel_unpadded"].append({dtypes: unpadded})
        lists = {}
        for key in ("param", "exp_avg", "exp_avg_sq"):
            pieces, at = [], 0
            for n, u in zip(numel, unpadded):
                t = torch.full((n,), float("nan"), dtype=torch.float32)
                t[:u] = tensors[key][at:at + u]
                pieces.append(t)
                at += u
            lists[key] = pieces
        out[gbuf] = {dtypes: lists}
    return out


def convert(name):
    src = OPTIM / name / "global_step_3"
    dst = OPTIM / "per_bucket" / name / "global_step_3"
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    for folder in sorted((dst / "actor").glob("iter_*/mp_rank_*")):
        layout = json.loads((folder / "megatron_layout.json").read_text())
        dense = [b for b in layout if b["kind"] == "dense"]
        expert = [b for b in layout if b["kind"] == "expert"]
        optim = torch.load(folder / "distrib_optim.pt", map_location="cpu", weights_only=False)
        if isinstance(optim, list):
            groups = [dense, expert]
            new = [None if st is None else split(st, g) for st, g in zip(optim, groups)]
        else:
            new = split(optim, dense + expert)
        torch.save(new, folder / "distrib_optim.pt")


def short_bucket():
    """Bad input: bucket 3 of 'param' cut shorter than per_bucket_numel_unpadded says."""
    src = OPTIM / "per_bucket" / "dense_dp2" / "global_step_3"
    dst = OPTIM / "per_bucket" / "short_bucket" / "global_step_3"
    shutil.rmtree(dst.parent, ignore_errors=True)
    shutil.copytree(src, dst)
    f = dst / "actor/iter_0000003/mp_rank_00/distrib_optim.pt"
    optim = torch.load(f, map_location="cpu", weights_only=False)
    (lists,) = optim[0].values()
    lists["param"][3] = lists["param"][3][:100].clone()
    torch.save(optim, f)


def main():
    for name in ("dense_dp2", "moe_ep2"):
        convert(name)
        print("per-bucket form of", name)
    short_bucket()


if __name__ == "__main__":
    main()
