#!/usr/bin/env python3
"""Checks ckpt-diff's converter outputs with real PyTorch and transformers (run by ConvertPythonTest).

usage: verify_converted.py ORIGINAL_HF_DIR MEGATRON_OUT TP PP SPEC HF_OUT
- every model_optim_rng.pt loads with torch.load(weights_only=True) (argparse.Namespace allowed, as
  Megatron's own loader does) and with weights_only=False; args carry the layout; every model tensor
  equals the shard this file's generator computes from the original HF weights (generate.py's
  Megatron-Bridge-style split, an implementation independent of ckpt-diff's);
- the HF output loads with transformers' from_pretrained and gives the original's logits.
Prints one line per check and exits non-zero on the first failure.
"""
import argparse
import glob
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402


def main():
    orig, meg, tp, pp, spec, hf_out = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
    from safetensors.torch import load_file
    sd = {}
    for f in sorted(Path(orig).glob("*.safetensors")):
        sd.update(load_file(f))
    cfg = json.loads((Path(orig) / "config.json").read_text())
    V = cfg["vocab_size"]
    files = sorted(glob.glob(str(meg / "iter_*" / "mp_rank_*" / "model_optim_rng.pt")))
    assert len(files) == tp * pp, f"{len(files)} shard files for TP={tp} PP={pp}"
    L = cfg["num_hidden_layers"]
    per = L // pp
    checked = 0
    for f in files:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ck = torch.load(f, weights_only=True)
        full = torch.load(f, weights_only=False)
        args = ck["args"]
        assert isinstance(args, argparse.Namespace)
        assert (args.tensor_model_parallel_size, args.pipeline_model_parallel_size) == (tp, pp), f
        assert ck["checkpoint_version"] == 3.0 and set(full) >= {"args", "model", "iteration"}, f
        name = Path(f).parent.name.split("_")
        r, p = int(name[2]), int(name[3]) if len(name) > 3 else 0
        g = generate.hf_to_megatron_global(sd, cfg, args.padded_vocab_size)
        expected = {}
        if p == 0:
            expected["embedding.word_embeddings.weight"] = g["embedding.word_embeddings.weight"].chunk(tp)[r]
        for local in range(per):
            expected.update(generate.shard_layer(g, p * per + local, local, tp, r, spec))
        if p == pp - 1:
            expected["decoder.final_layernorm.weight"] = g["decoder.final_layernorm.weight"]
            if "output_layer.weight" in g:
                expected["output_layer.weight"] = g["output_layer.weight"].chunk(tp)[r]
            elif pp > 1:
                expected["output_layer.weight"] = g["embedding.word_embeddings.weight"].chunk(tp)[r]
        model = ck["model"]
        tensors = {k: v for k, v in model.items() if not k.endswith("_extra_state")}
        assert set(tensors) == set(expected), f"{f}: keys differ: {sorted(set(tensors) ^ set(expected))}"
        for k, want in expected.items():
            got = tensors[k]
            assert got.shape == want.shape and got.dtype == want.dtype, f"{f} {k}: {got.shape} {got.dtype} vs {want.shape}"
            if "word_embeddings" in k or "output_layer" in k:  # padded rows: generate.py pads randomly
                rows = max(0, min(got.shape[0], V - r * got.shape[0]))
                got, want = got[:rows], want[:rows]
            assert torch.equal(got, want), f"{f} {k}: values differ"
            checked += 1
        assert torch.equal(full["model"][next(iter(tensors))], next(iter(tensors.values()))), f
    print(f"torch.load: {len(files)} shard files, {checked} tensors equal to the expected shards")

    logits_equal(orig, hf_out, [1, 5, 17, 42, 99, 3])


def logits_equal(orig, hf_out, tokens, cls=None):
    """Both HF folders load with transformers' from_pretrained and give the same logits."""
    import transformers
    a = transformers.AutoModelForCausalLM.from_pretrained(orig, dtype=torch.float32)
    b = transformers.AutoModelForCausalLM.from_pretrained(hf_out, dtype=torch.float32)
    assert cls is None or type(b).__name__ == cls, type(b).__name__
    ids = torch.tensor([tokens])
    with torch.no_grad():
        la, lb = a(ids).logits, b(ids).logits
    assert torch.equal(la, lb), f"logits differ: max {(la - lb).abs().max().item()}"
    print(f"from_pretrained: logits equal on {ids.shape[1]} tokens ({type(b).__name__})")


if __name__ == "__main__":
    main()
