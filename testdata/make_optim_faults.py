#!/usr/bin/env python3
"""Plants faults in the real distributed-optimizer fixtures that testdata/make_optim.py made with Megatron-Core.

Run: testdata/.venv/bin/python testdata/make_optim_faults.py   (plain torch on the CPU; reads testdata/fixtures/optim)

Where a parameter's fp32 master sits in distrib_optim.pt is taken from Megatron-Core's own record
(megatron_layout.json, its param_index_map), never from the Java code: flat offset in the coalesced file =
start - bucket offset + the unpadded sizes of the earlier buckets. Before planting, every parameter of every clean
fixture is checked: its masters, rounded to bf16 (round to nearest even), equal the saved bf16 weight bit for bit.

Faults (each a copy of dense_dp2's step 3, FAULTS.json says what and where):
  stale_layer       the masters of layer 1 taken from step 2
  ulp_off           one master element one bf16 ulp past rounding
  nan_exp_avg_sq    a NaN in exp_avg_sq
  other_step        distrib_optim.pt of step 2 beside step 3's weights
"""
import json
import shutil
from pathlib import Path

import torch

OPTIM = Path(__file__).resolve().parent / "fixtures" / "optim"
KEYS = ("param", "exp_avg", "exp_avg_sq")


def rank_folders(step_dir):
    return sorted(p for p in (step_dir / "actor").glob("iter_*/mp_rank_*") if (p / "distrib_optim.pt").exists())


def buffers_of(optim):
    """The file's buffer states in Megatron's order (a list for a chained optimizer, None where not written)."""
    states = optim if isinstance(optim, list) else [optim]
    out = []
    for st in states:
        if st is None:
            continue
        for k, v in st.items():
            if k == "buckets_coalesced":
                continue
            for dtypes, tensors in v.items():
                out.append(tensors)
    return out


def placements(folder):
    """name -> (buffer number, flat offset in the file, numel), from Megatron's param_index_map."""
    layout = json.loads((folder / "megatron_layout.json").read_text())
    optim = torch.load(folder / "distrib_optim.pt", map_location="cpu", weights_only=False)
    written = buffers_of(optim)
    chained = isinstance(optim, list)
    # A rank writes the buffers of the optimizers it is DP rank 0 of; match them by size.
    out = {}
    bi = 0
    for buf in layout:
        unpadded = [b["numel_unpadded"] for b in buf["buckets"]]
        total = sum(unpadded)
        if bi >= len(written) or written[bi]["numel_unpadded"] != total:
            continue  # this rank does not hold that optimizer's state
        for p in buf["params"]:
            b = p["bucket"]
            flat = p["start"] - buf["buckets"][b]["offset"] + sum(unpadded[:b])
            out[p["name"]] = (bi, flat, p["end"] - p["start"])
        bi += 1
    return out, optim, chained


def check_clean(folder):
    model = torch.load(folder / "model_optim_rng.pt", map_location="cpu", weights_only=False)["model"]
    places, optim, _ = placements(folder)
    bufs = buffers_of(optim)
    for name, (bi, flat, n) in places.items():
        master = bufs[bi]["param"][flat:flat + n]
        w = model[name].reshape(-1)
        assert torch.equal(master.to(torch.bfloat16).view(torch.int16), w.view(torch.int16)), (folder, name)
    return len(places)


def main():
    total = 0
    for layout in sorted(p for p in OPTIM.iterdir() if p.is_dir() and p.name != "faults"):
        for step in sorted(layout.glob("global_step_*")):
            for folder in rank_folders(step):
                total += check_clean(folder)
    print("masters round to the weights for", total, "parameters")

    src = OPTIM / "dense_dp2" / "global_step_3"
    old = OPTIM / "dense_dp2" / "global_step_2"
    faults_dir = OPTIM / "faults"
    shutil.rmtree(faults_dir, ignore_errors=True)
    faults = {}
    rel = "actor/iter_0000003/mp_rank_00"

    def fresh(name):
        dst = faults_dir / name / "global_step_3"
        shutil.copytree(src, dst)
        return dst / rel

    # stale_layer: layer 1's masters (and moments) from step 2.
    folder = fresh("stale_layer")
    places, optim, _ = placements(folder)
    old_optim = torch.load(old / "actor/iter_0000002/mp_rank_00/distrib_optim.pt", map_location="cpu", weights_only=False)
    cur, prev = buffers_of(optim), buffers_of(old_optim)
    stale = sorted(n for n in places if n.startswith("decoder.layers.1."))
    for n in stale:
        bi, flat, k = places[n]
        for key in KEYS:
            cur[bi][key][flat:flat + k] = prev[bi][key][flat:flat + k]
    torch.save(optim, folder / "distrib_optim.pt")
    faults["stale_layer"] = {"folder": "mp_rank_00", "params": stale}

    # ulp_off: one element of one master, one bf16 ulp above the stored weight.
    folder = fresh("ulp_off")
    places, optim, _ = placements(folder)
    model = torch.load(folder / "model_optim_rng.pt", map_location="cpu", weights_only=False)["model"]
    name, elem = "decoder.layers.2.self_attention.linear_proj.weight", 37
    bi, flat, k = places[name]
    w = model[name].reshape(-1)[elem:elem + 1]
    up = (w.view(torch.int16) + 1).view(torch.bfloat16)  # next bf16 away from zero for positive, toward for negative
    buffers_of(optim)[bi]["param"][flat + elem] = up.float()[0]
    torch.save(optim, folder / "distrib_optim.pt")
    faults["ulp_off"] = {"folder": "mp_rank_00", "param": name, "element": elem, "flat_offset": flat + elem,
                         "shape": list(model[name].shape)}

    # nan_exp_avg_sq: a NaN in the second moment.
    folder = fresh("nan_exp_avg_sq")
    places, optim, _ = placements(folder)
    name, elem = "decoder.layers.0.mlp.linear_fc1.weight", 5
    bi, flat, k = places[name]
    buffers_of(optim)[bi]["exp_avg_sq"][flat + elem] = float("nan")
    torch.save(optim, folder / "distrib_optim.pt")
    faults["nan_exp_avg_sq"] = {"folder": "mp_rank_00", "param": name, "element": elem, "flat_offset": flat + elem}

    # other_step: distrib_optim.pt of step 2 beside step 3's weights.
    folder = fresh("other_step")
    shutil.copy(old / "actor/iter_0000002/mp_rank_00/distrib_optim.pt", folder / "distrib_optim.pt")
    faults["other_step"] = {"folder": "mp_rank_00"}

    (faults_dir / "FAULTS.json").write_text(json.dumps(faults, indent=1, sort_keys=True) + "\n")
    print("planted", ", ".join(faults))


if __name__ == "__main__":
    main()
