#!/usr/bin/env python3
"""A planted fault in the real PP=2 tied-embedding fixture: the last stage's copy of the tied embedding
(output_layer.weight) differs from the first stage's (embedding.word_embeddings.weight) in one element, with
its fp32 master changed to match, so each stage on its own is consistent. Megatron keeps the two copies equal
(their grads are all-reduced across the embedding group); a checkpoint patched on one stage only breaks that.

Run: testdata/.venv/bin/python testdata/make_optim_tied_fault.py   (plain torch on the CPU)
Output: fixtures/optim/tied_fault/global_step_3 (a copy of dense_pp2_tied's step 3) and tied_fault/TIED.json.
"""
import json
import shutil
from pathlib import Path

import torch

OPTIM = Path(__file__).resolve().parent / "fixtures" / "optim"
NAME, ELEM = "output_layer.weight", 1000


def main():
    src = OPTIM / "dense_pp2_tied" / "global_step_3"
    out = OPTIM / "tied_fault"
    shutil.rmtree(out, ignore_errors=True)
    dst = out / "global_step_3"
    shutil.copytree(src, dst)
    folder = dst / "actor/iter_0000003/mp_rank_00_001"
    layout = json.loads((folder / "megatron_layout.json").read_text())[0]
    p = next(x for x in layout["params"] if x["name"] == NAME)
    b = p["bucket"]
    flat = p["start"] - layout["buckets"][b]["offset"] + sum(k["numel_unpadded"] for k in layout["buckets"][:b])
    ckpt = torch.load(folder / "model_optim_rng.pt", map_location="cpu", weights_only=False)
    w = ckpt["model"][NAME].reshape(-1)
    w[ELEM:ELEM + 1] = (w[ELEM:ELEM + 1].view(torch.int16) + 1).view(torch.bfloat16)
    torch.save(ckpt, folder / "model_optim_rng.pt")
    optim = torch.load(folder / "distrib_optim.pt", map_location="cpu", weights_only=False)
    (state,) = optim[0].values()
    state["param"][flat + ELEM] = w[ELEM].float()
    torch.save(optim, folder / "distrib_optim.pt")
    (out / "TIED.json").write_text(json.dumps({"folder": "mp_rank_00_001", "param": NAME, "element": ELEM,
                                               "first_stage_folder": "mp_rank_00_000"}, indent=1) + "\n")
    print("planted", NAME, ELEM, "flat", flat + ELEM)


if __name__ == "__main__":
    main()
