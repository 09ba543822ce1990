#!/usr/bin/env python3
"""Makes ckpt-diff's mixture-of-experts fixtures: a tiny Qwen3-MoE from transformers' save_pretrained
and Megatron legacy shards of the same weights in both expert forms Megatron-Core writes.

Run: testdata/make-venv.sh && testdata/.venv/bin/python testdata/make_moe.py
Outputs go to testdata/fixtures/moe/ (committed). Reuses generate.py's helpers.

The shards are split from the HF weights the way Megatron-Bridge's param_mapping.py does (not made
by Megatron-Core itself):
  - router `mlp.router.weight` [E, H], float32 as Megatron-Core's TopKRouter creates it, on every rank;
  - expert e of layer L lives on EP rank e // (E / EP) as local expert k = e % (E / EP);
    fc1 = [gate_r; up_r] and fc2 split on dim 1 over the expert-tensor-parallel ranks (ETP = TP here);
  - sequential form (local spec, SequentialMLP): `mlp.experts.local_experts.<k>.linear_fc{1,2}.weight`;
    grouped form (Transformer Engine, TEGroupedMLP): `mlp.experts.linear_fc{1,2}.weight<k>` and one
    `mlp.experts.linear_fc{1,2}._extra_state` per grouped linear;
  - MoE layers keep `pre_mlp_layernorm.weight` even in the TE spec; the dense layer (mlp_only_layers)
    is laid out like any dense layer;
  - folders mp_rank_TT[_PPP]_EEE as megatron/training/checkpointing.py get_checkpoint_name names them.

Fixtures (each an RLinf step folder <name>/global_step_10/actor/{hf_model,iter_0000010,...}):
  qwen3_moe_tp2  TP=2, EP=1, local spec (sequential experts)
  qwen3_moe_ep2  TP=1, EP=2, TE spec (grouped experts)
  qwen3_moe_tp2_ep2  TP=2, EP=2, ETP=2, TE spec
and faults/<name>/ copies with one planted fault each, described in FAULTS.json.
"""
import json
import shutil
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate as gen  # noqa: E402

OUT = HERE / "fixtures" / "moe"
ITER = 10

CONFIG = dict(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16, max_position_embeddings=128, moe_intermediate_size=32,
              num_experts=8, num_experts_per_tok=2, decoder_sparse_step=1, mlp_only_layers=[1],
              tie_word_embeddings=False, rms_norm_eps=1e-6)


def make_hf(seed, config=None):
    import transformers
    torch.manual_seed(seed)
    model = transformers.Qwen3MoeForCausalLM(transformers.Qwen3MoeConfig(**(config or CONFIG))).to(torch.bfloat16)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:  # norms start at 1.0: make them distinct so a swapped norm shows
                p.copy_(1.0 + 0.1 * torch.randn_like(p, dtype=torch.float32).to(p.dtype))
            elif "experts" in name:  # fused expert parameters: make every expert distinct and O(0.02)
                p.copy_((0.02 * torch.randn_like(p, dtype=torch.float32)).to(p.dtype))
    return model


def num_experts(cfg):
    return cfg.get("num_experts") or cfg["num_local_experts"]


def moe_layers(cfg):
    step = cfg.get("decoder_sparse_step", 1)
    return [L for L in range(cfg["num_hidden_layers"])
            if L not in cfg.get("mlp_only_layers", []) and (L + 1) % step == 0]


def expert_keys(sd, cfg, L, local, ep_rank, ep, etp_rank, etp, grouped):
    """The MoE MLP keys of global layer L on one (EP rank, ETP rank), named with local layer `local`."""
    E = num_experts(cfg)
    n_local = E // ep
    pre = f"decoder.layers.{local}.mlp."
    hp = f"model.layers.{L}.mlp."
    d = {pre + "router.weight": sd[hp + "gate.weight"].to(torch.float32).clone()}
    for k in range(n_local):
        e = ep_rank * n_local + k
        gate = sd[hp + f"experts.{e}.gate_proj.weight"].chunk(etp, dim=0)[etp_rank]
        up = sd[hp + f"experts.{e}.up_proj.weight"].chunk(etp, dim=0)[etp_rank]
        down = sd[hp + f"experts.{e}.down_proj.weight"].chunk(etp, dim=1)[etp_rank]
        fc1, fc2 = torch.cat([gate, up]).clone(), down.clone()
        if grouped:
            d[pre + f"experts.linear_fc1.weight{k}"] = fc1
            d[pre + f"experts.linear_fc2.weight{k}"] = fc2
        else:
            d[pre + f"experts.local_experts.{k}.linear_fc1.weight"] = fc1
            d[pre + f"experts.local_experts.{k}.linear_fc2.weight"] = fc2
    if grouped:
        d[pre + "experts.linear_fc1._extra_state"] = gen.extra_state(1)
        d[pre + "experts.linear_fc2._extra_state"] = gen.extra_state(2)
    return d


def args_for(cfg, tp, ep, etp, spec, padded):
    a = gen.make_args(cfg, tp, 1, None, padded, spec, False, False, True)
    E = num_experts(cfg)
    moe = moe_layers(cfg)
    a.expert_model_parallel_size = ep
    a.expert_tensor_parallel_size = etp
    a.num_experts = E
    a.moe_ffn_hidden_size = cfg["moe_intermediate_size"]
    a.moe_router_topk = cfg["num_experts_per_tok"]
    a.moe_grouped_gemm = spec == "te"
    a.moe_router_load_balancing_type = "aux_loss"
    a.moe_aux_loss_coeff = 1e-3
    a.moe_layer_freq = [1 if L in moe else 0 for L in range(cfg["num_hidden_layers"])]
    a.moe_router_pre_softmax = not cfg.get("norm_topk_prob", False)
    return a


def write_megatron(sd, cfg, actor, tp, ep, spec, manifest=True):
    """Megatron legacy shards, one folder per (TP rank, EP rank); ETP = TP, PP = 1."""
    etp = tp
    padded = cfg["vocab_size"]
    mult = 128 * tp
    padded = ((padded + mult - 1) // mult) * mult
    g = gen.hf_to_megatron_global(sd, cfg, padded)
    args = args_for(cfg, tp, ep, etp, spec, padded)
    moe = moe_layers(cfg)
    it_dir = actor / f"iter_{ITER:07d}"
    for e in range(ep):
        for r in range(tp):
            m = {"embedding.word_embeddings.weight": g["embedding.word_embeddings.weight"].chunk(tp)[r].clone()}
            for L in range(cfg["num_hidden_layers"]):
                m.update(gen.shard_layer(g, L, L, tp, r, spec))
                if L in moe:
                    m.update(expert_keys(sd, cfg, L, L, e, ep, r % etp, etp, spec == "te"))
                if spec == "te":
                    m[f"decoder.layers.{L}.self_attention.linear_qkv._extra_state"] = gen.extra_state(L)
                    m[f"decoder.layers.{L}.self_attention.linear_proj._extra_state"] = None
            m["decoder.final_layernorm.weight"] = g["decoder.final_layernorm.weight"].clone()
            m["output_layer.weight"] = g["output_layer.weight"].chunk(tp)[r].clone()
            name = f"mp_rank_{r:02d}" + (f"_{e:03d}" if ep > 1 else "")
            d = it_dir / name
            d.mkdir(parents=True, exist_ok=True)
            ckpt = {"args": args, "checkpoint_version": 3.0, "iteration": ITER, "model": m,
                    "opt_param_scheduler": {"max_lr": 1e-5, "num_steps": ITER * 128, "decay_style": "cosine"},
                    "rng_state": gen.rng_state(), "num_floating_point_operations_so_far": 123456789}
            path = d / "model_optim_rng.pt"
            torch.save(ckpt, path)
            if manifest:
                gen.write_manifest(path, {f"model.{k}": t for k, t in m.items() if isinstance(t, torch.Tensor)},
                                   {"tp_rank": r, "ep_rank": e})
    (actor / "latest_checkpointed_iteration.txt").write_text(str(ITER))


def step(name):
    actor = OUT / name / "global_step_10" / "actor"
    if actor.parent.parent.exists():
        shutil.rmtree(actor.parent.parent)
    actor.mkdir(parents=True)
    return actor


def clean():
    model = make_hf(seed=300)
    made = {}
    for name, tp, ep, spec in [("qwen3_moe_tp2", 2, 1, "local"), ("qwen3_moe_ep2", 1, 2, "te"),
                               ("qwen3_moe_tp2_ep2", 2, 2, "te")]:
        actor = step(name)
        gen.save_hf(model, actor / "hf_model")
        sd = gen.load_manifest_sd(actor / "hf_model")  # per-expert on disk (fused in memory in transformers 5)
        cfg = json.loads((actor / "hf_model" / "config.json").read_text())
        write_megatron(sd, cfg, actor, tp, ep, spec)
        made[name] = actor
    return made


def faults(made):
    out = {}

    def copy(src, name):
        dst = OUT / "faults" / name
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(made[src].parent.parent, dst)
        return dst / "global_step_10" / "actor"

    def edit(path, fn):
        ck = torch.load(path, weights_only=False)
        fn(ck["model"])
        torch.save(ck, path)

    def bump(key, index, delta):
        def fn(m):
            w = m[key].clone()
            w[index] += delta
            m[key] = w
        return fn

    # 1. one element of one expert on EP rank 1: global expert 6 = EP rank 1's local expert 2
    actor = copy("qwen3_moe_ep2", "expert_element_ep1")
    key = "decoder.layers.2.mlp.experts.linear_fc2.weight2"
    edit(actor / "iter_0000010" / "mp_rank_00_001" / "model_optim_rng.pt", bump(key, (5, 7), 0.5))
    out["expert_element_ep1"] = {"tensor": "model.layers.2.mlp.experts.6.down_proj.weight", "index": [5, 7],
                                 "megatron_file": "mp_rank_00_001", "megatron_key": key, "shard_index": [5, 7]}

    # 2. experts 3 and 5 of layer 0 swapped in the HF export
    actor = copy("qwen3_moe_tp2", "hf_experts_swapped")
    hf = actor / "hf_model"
    sd = gen.load_manifest_sd(hf)
    names = []
    for proj in ["gate_proj", "up_proj", "down_proj"]:
        a, b = f"model.layers.0.mlp.experts.3.{proj}.weight", f"model.layers.0.mlp.experts.5.{proj}.weight"
        sd[a], sd[b] = sd[b], sd[a]
        names += [a, b]
    gen.save_safetensors(sd, hf, hf)
    out["hf_experts_swapped"] = {"tensors": names, "experts": [3, 5], "layer": 0}

    # 3. a router row changed in the Megatron shards (on every rank, so the replicas still agree)
    actor = copy("qwen3_moe_tp2", "router_row")
    rkey = "decoder.layers.2.mlp.router.weight"
    for r in ["mp_rank_00", "mp_rank_01"]:
        edit(actor / "iter_0000010" / r / "model_optim_rng.pt", bump(rkey, 4, 0.25))
    out["router_row"] = {"tensor": "model.layers.2.mlp.gate.weight", "row": 4, "megatron_key": rkey,
                         "megatron_files": ["mp_rank_00", "mp_rank_01"]}

    # 4. a non-expert weight differing between the two EP folders
    actor = copy("qwen3_moe_ep2", "ep_replica")
    pkey = "decoder.layers.0.self_attention.linear_proj.weight"
    edit(actor / "iter_0000010" / "mp_rank_00_001" / "model_optim_rng.pt", bump(pkey, (2, 3), 0.5))
    out["ep_replica"] = {"megatron_key": pkey, "folders": ["mp_rank_00_000", "mp_rank_00_001"], "index": [2, 3],
                         "tensor": "model.layers.0.self_attn.o_proj.weight"}
    (OUT / "faults" / "FAULTS.json").write_text(json.dumps(out, indent=1, sort_keys=True))


def check_variants(made):
    """Step folders whose Megatron shards break one MoE rule against args or config.json, for
    `ckpt-diff check`; check/CHECKS.json lists what each error must say."""
    root = OUT / "check"
    if root.exists():
        shutil.rmtree(root)
    cases = {}

    def variant(name, base, edit, expect):
        dst = root / name / "global_step_10"
        shutil.copytree(made[base].parent, dst)
        for pt in sorted(dst.glob("actor/iter_*/mp_rank_*/model_optim_rng.pt")):
            ck = torch.load(pt, weights_only=False)
            edit(pt.parent.name, ck)
            torch.save(ck, pt)
            Path(str(pt) + ".manifest.json").unlink()
        cases[name] = {"base": base, "expect": expect}

    def not_grouped(folder, ck):
        ck["args"].moe_grouped_gemm = False
    variant("args_grouped_gemm", "qwen3_moe_ep2", not_grouped,
            ["args.moe_grouped_gemm", "false, but the shards hold Transformer Engine grouped experts"])

    def moe_ffn(folder, ck):
        ck["args"].moe_ffn_hidden_size = 48
    variant("args_moe_ffn", "qwen3_moe_tp2", moe_ffn,
            ["args.moe_ffn_hidden_size", "moe_intermediate_size is 32",
             "decoder.layers.0.mlp.experts.local_experts.0.linear_fc1.weight", "[48, 64]"])

    def topk(folder, ck):
        ck["args"].moe_router_topk = 4
    variant("args_topk", "qwen3_moe_ep2", topk, ["args.moe_router_topk", "num_experts_per_tok is 2"])

    def more_experts(folder, ck):
        ck["args"].num_experts = 16
    variant("args_num_experts", "qwen3_moe_ep2", more_experts,
            ["args.num_experts", "num_local_experts is 8", "holds 4 experts, but num_experts 16 / EP 2 = 8"])

    def drop_expert(folder, ck):
        if folder == "mp_rank_00_001":
            for k in [k for k in ck["model"] if k.startswith("decoder.layers.2.mlp.experts.linear_fc") and k[-1] == "3"]:
                del ck["model"][k]
    variant("missing_expert", "qwen3_moe_ep2", drop_expert,
            ["mp_rank_00_001 layer 2", "holds 3 experts, but num_experts 8 / EP 2 = 4"])
    # config.json asks the router for more experts than the model has
    dst = root / "hf_topk" / "global_step_10"
    shutil.copytree(made["qwen3_moe_ep2"].parent, dst)
    cfg_path = dst / "actor" / "hf_model" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["num_experts_per_tok"] = 16
    cfg_path.write_text(json.dumps(cfg, indent=2))
    cases["hf_topk"] = {"base": "qwen3_moe_ep2", "expect": ["num_experts_per_tok", "16 > num_local_experts 8",
                                                          "args.moe_router_topk", "num_experts_per_tok is 16"]}
    (root / "CHECKS.json").write_text(json.dumps(cases, indent=1, sort_keys=True))


def bad_shards(made):
    """Shards that cannot be read as the args describe them: one clear error, exit 2."""
    root = OUT / "bad"
    if root.exists():
        shutil.rmtree(root)
    dst = root / "args_fewer_experts" / "global_step_10"
    shutil.copytree(made["qwen3_moe_ep2"].parent, dst)
    for pt in sorted(dst.glob("actor/iter_*/mp_rank_*/model_optim_rng.pt")):
        ck = torch.load(pt, weights_only=False)
        ck["args"].num_experts = 4  # 2 per EP folder, but each holds 4
        torch.save(ck, pt)
        Path(str(pt) + ".manifest.json").unlink()


if __name__ == "__main__":
    made = clean()
    faults(made)
    check_variants(made)
    bad_shards(made)
