#!/usr/bin/env python3
"""Makes the step-over-step drift fixture: one training run's checkpoint root with three steps.

Run: testdata/make-venv.sh && testdata/.venv/bin/python testdata/make_drift.py
Output: testdata/fixtures/drift/ (committed; CI does not regenerate it).

    drift/checkpoints/global_step_{10,20,30}/actor/hf_model/            save_pretrained (bf16 Llama)
    drift/checkpoints/global_step_{10,20,30}/actor/iter_00000NN/mp_rank_0{0,1}/model_optim_rng.pt  torch.save, TP 2
    drift/DRIFT.json   which tensors each step changed, and by how much

Step 10 is a freshly made model. Step 20 moves exactly the tensors DRIFT.json lists (layer 1's down_proj a lot,
layer 3's attention projections a little) and nothing else, bit for bit. Step 30 is step 20 again: a step in which
nothing trained. The Megatron copies are split from the same weights with generate.py's writer.
"""
import json
import shutil
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402  (the fixture helpers: real save_pretrained and torch.save)

OUT = HERE / "fixtures" / "drift"
# tensor -> relative size of the update step 20 applies (noise of std scale * std(W))
UPDATES = {
    "model.layers.1.mlp.down_proj.weight": 0.5,
    "model.layers.3.self_attn.q_proj.weight": 0.02,
    "model.layers.3.self_attn.k_proj.weight": 0.02,
    "model.layers.3.self_attn.v_proj.weight": 0.02,
    "model.layers.3.self_attn.o_proj.weight": 0.02,
}


def save_step(model, step):
    actor = OUT / "checkpoints" / f"global_step_{step}" / "actor"
    actor.mkdir(parents=True)
    sd = generate.save_hf(model, actor / "hf_model")
    cfg = json.loads((actor / "hf_model" / "config.json").read_text())
    generate.write_megatron(sd, cfg, actor, 2, 1, None, "te", iteration=step, optimizer=False, manifest=False)


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    model = generate.make_hf("llama", tied=False, vocab=256, seed=7)
    save_step(model, 10)
    gen = torch.Generator().manual_seed(20)
    with torch.no_grad():
        params = dict(model.named_parameters())
        for name, scale in UPDATES.items():
            p = params[name]
            w = p.float()
            p.copy_((w + scale * w.std() * torch.randn(w.shape, generator=gen)).to(p.dtype))
    save_step(model, 20)
    save_step(model, 30)
    (OUT / "DRIFT.json").write_text(json.dumps({
        "steps": [10, 20, 30],
        "changed": {"10->20": sorted(UPDATES), "20->30": []},
        "relative_update": UPDATES,
    }, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
