#!/usr/bin/env python3
"""Checks ckpt-diff's MoE converter outputs with real PyTorch and transformers (run by MoeConvertCliTest).

usage: verify_moe.py EXPECTED_ITER_DIR OUT_ITER_DIR ORIGINAL_HF_DIR HF_OUT_DIR
- every OUT_ITER_DIR/mp_rank_*/model_optim_rng.pt loads with torch.load(weights_only=True)
  (argparse.Namespace allowed, as Megatron's own loader does), holds the same folders, keys, dtypes
  and tensor values as EXPECTED_ITER_DIR (shards made by make_moe.py, independently of ckpt-diff, or by real
  Megatron-Core in make_legacy_moe_etp.py, whose routers are in params_dtype: an fp32 router must equal it in value),
  and its args carry the expert layout;
- HF_OUT_DIR loads with transformers (Qwen3MoeForCausalLM) and gives ORIGINAL_HF_DIR's logits.
Prints one line per check and exits non-zero on the first failure.
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import verify_converted  # noqa: E402


def load(path):
    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(path, weights_only=True)


def main():
    expected, out, orig, hf_out = (Path(a) for a in sys.argv[1:5])
    want = sorted(p.parent.name for p in expected.glob("mp_rank_*/model_optim_rng.pt"))
    got = sorted(p.parent.name for p in out.glob("mp_rank_*/model_optim_rng.pt"))
    assert want == got, f"folders {got}, expected {want}"
    checked = 0
    routers_cast = 0
    for name in want:
        # the expected shards carry make_args' AttnBackend enum, as real Megatron args do: trusted, full unpickling
        e = torch.load(expected / name / "model_optim_rng.pt", weights_only=False)
        o = load(out / name / "model_optim_rng.pt")
        for a in ["tensor_model_parallel_size", "expert_model_parallel_size", "expert_tensor_parallel_size",
                  "num_experts", "moe_ffn_hidden_size", "moe_router_topk", "moe_grouped_gemm"]:
            assert getattr(o["args"], a) == getattr(e["args"], a), f"{name}: args.{a} {getattr(o['args'], a)}"
        em = {k: v for k, v in e["model"].items() if not k.endswith("_extra_state")}
        om = {k: v for k, v in o["model"].items() if not k.endswith("_extra_state")}
        assert set(em) == set(om), f"{name}: keys differ: {sorted(set(em) ^ set(om))}"
        # grouped linears only: the local spec's per-expert _extra_state (None) is not written by ckpt-diff
        extra_e = {k for k in e["model"] if k.endswith("_extra_state") and ".experts.linear_fc" in k}
        extra_o = {k for k in o["model"] if k.endswith("_extra_state") and ".experts.linear_fc" in k}
        assert extra_e == extra_o, f"{name}: grouped-linear _extra_state keys differ: {sorted(extra_e ^ extra_o)}"
        for k, v in em.items():
            w = om[k]
            if k.endswith("mlp.router.weight") and v.dtype != w.dtype and w.dtype == torch.float32:
                # Megatron-Core HEAD casts the router to params_dtype (TopKRouter.reset_parameters); ckpt-diff writes fp32
                assert torch.equal(w.to(v.dtype), v), f"{name} {k}: values differ"
                routers_cast += 1
                checked += 1
                continue
            assert w.dtype == v.dtype and w.shape == v.shape, f"{name} {k}: {w.dtype} {w.shape} vs {v.dtype} {v.shape}"
            assert torch.equal(w, v), f"{name} {k}: values differ"
            checked += 1
    print(f"torch.load: {len(want)} shard files, {checked} tensors equal to make_moe.py's shards"
          + (f" ({routers_cast} fp32 routers equal in value to Megatron-Core's params_dtype ones)" if routers_cast else ""))

    verify_converted.logits_equal(orig, hf_out, [1, 5, 17, 42, 99, 3, 200, 7], "Qwen3MoeForCausalLM")

if __name__ == "__main__":
    main()
