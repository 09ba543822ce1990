#!/usr/bin/env python3
"""Checks a converted vision-language HF folder with real transformers (run by VisionLanguageConvertTest).

usage: verify_vl.py ORIGINAL_HF_DIR CONVERTED_HF_DIR
       verify_vl.py --shards EXPECTED_ITER_DIR WRITTEN_ITER_DIR
The first form: both load with the class config.json names (Qwen2_5_VLForConditionalGeneration,
Qwen3VLForConditionalGeneration) with no missing or unexpected keys, and give equal logits on an input
of text tokens around one image (pixel values through the vision tower, merged into the language model).
The second: every mp_rank_*/model_optim_rng.pt written loads with torch.load(weights_only=True) and holds
exactly the tensors of the one make_vl.py wrote for the same layout (same keys, dtypes, shapes, values).
Prints one line per check and exits non-zero on the first failure.
"""
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "pysrc"))  # the fixtures' args hold a Megatron-Core enum


def load(folder):
    import transformers
    arch = json.loads((Path(folder) / "config.json").read_text())["architectures"][0]
    model, info = getattr(transformers, arch).from_pretrained(folder, dtype=torch.float32, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    assert not bad, f"{folder}: {bad}"
    return model.eval()


def image_input(config):
    v = config.vision_config
    merge = v.spatial_merge_size
    grid = torch.tensor([[1, 2 * merge, 2 * merge]])  # one frame, 4 merged patches
    patches = int(grid.prod())
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randn(patches, v.in_channels * v.temporal_patch_size * v.patch_size ** 2, generator=gen)
    ids = [5, 17, config.vision_start_token_id] + [config.image_token_id] * (patches // merge ** 2) \
        + [config.vision_end_token_id, 42, 99, 3]
    types = [1 if t == config.image_token_id else 0 for t in ids]  # what the processor returns: 1 = image
    return dict(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                mm_token_type_ids=torch.tensor([types]),
                pixel_values=pixels, image_grid_thw=grid)


def shards(expected_dir, written_dir):
    import argparse
    files = sorted(Path(expected_dir).glob("mp_rank_*/model_optim_rng.pt"))
    assert files, expected_dir
    checked = 0
    for f in files:
        w = Path(written_dir) / f.parent.name / f.name
        with torch.serialization.safe_globals([argparse.Namespace]):
            got = torch.load(w, weights_only=True)["model"]
        want = torch.load(f, weights_only=False)["model"]
        got = {k: v for k, v in got.items() if not k.endswith("_extra_state")}
        want = {k: v for k, v in want.items() if not k.endswith("_extra_state")}
        assert set(got) == set(want), f"{w}: keys differ: {sorted(set(got) ^ set(want))}"
        for k, t in want.items():
            assert got[k].dtype == t.dtype and torch.equal(got[k], t), f"{w} {k}: differs"
            checked += 1
    print(f"torch.load: {len(files)} shard files, {checked} tensors equal to make_vl.py's shards")


def main():
    if sys.argv[1] == "--shards":
        shards(sys.argv[2], sys.argv[3])
        return
    a, b = load(sys.argv[1]), load(sys.argv[2])
    inputs = image_input(a.config)
    with torch.no_grad():
        la, lb = a(**inputs).logits, b(**inputs).logits
    assert torch.equal(la, lb), f"logits differ: max {(la - lb).abs().max().item()}"
    with torch.no_grad():  # the image must matter, or equal logits would prove nothing about the vision tower
        other = b(**dict(inputs, pixel_values=torch.zeros_like(inputs["pixel_values"]))).logits
    assert not torch.equal(lb, other), "the image does not change the logits"
    print(f"from_pretrained: logits equal on {inputs['input_ids'].shape[1]} tokens with one image ({type(b).__name__})")


if __name__ == "__main__":
    main()
