#!/usr/bin/env python3
"""Makes the vision-language fixtures: tiny Qwen2.5-VL and Qwen3-VL (dense) models from transformers'
save_pretrained, and Megatron shards of the same weights laid out as Megatron-Bridge builds its models
(as RLinf saves them with ckpt_format=torch), in RLinf step folders.

Run: testdata/make-venv.sh && testdata/.venv/bin/python testdata/make_vl.py   (after generate.py)
Outputs go to testdata/fixtures/vl/ (committed).

Megatron-Bridge layout (src/megatron/bridge/models/qwen_vl/):
- both families: the language model is a GPT model under `language_model.` with Transformer Engine
  names (generate.py's dense split: fused QKV per query group, [gate_r; up_r] fc1, row-parallel dim 1);
- Qwen2.5-VL: the vision tower is transformers' own module under `visual.` with HF's names, whole on
  every TP rank, only in pipeline stage 0;
- Qwen3-VL: Megatron's vision model under `vision_model.`: QKV per head [q_h; k_h; v_h] (HF is
  [Q; K; V]), LayerNorm weight and bias fused into linear_qkv / linear_fc1, patch merger and deepstack
  mergers with `patch_norm`, TP-split like any column/row-parallel layer (whole heads per rank).

Planted faults (vl/faults/, described in vl/FAULTS.json): a vision weight that differs on TP rank 1
only; a vision tensor missing from the HF export; q and k swapped in one vision block's QKV on one
rank; one element of one language-model layer.
"""
import json
import shutil
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402

OUT = HERE / "fixtures" / "vl"
TEXT = dict(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2)
# Special tokens inside the tiny vocabulary, so a text + image input runs (verify_vl.py).
TOKENS = dict(image_token_id=250, video_token_id=251, vision_start_token_id=252, vision_end_token_id=253)


def mrope(section):
    """Multimodal RoPE sections (temporal, height, width) summing to head_dim / 2 of the tiny models."""
    return {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": section}


def make_qwen25_vl(seed):
    import transformers
    torch.manual_seed(seed)
    cfg = transformers.Qwen2_5_VLConfig(
        text_config=dict(TEXT, rope_parameters=mrope([2, 3, 3])), tie_word_embeddings=True, **TOKENS,  # tied, as the 3B model
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=48, num_heads=2, out_hidden_size=64,
                           fullatt_block_indexes=[1], window_size=56, patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2))
    return distinct_norms(transformers.Qwen2_5_VLForConditionalGeneration(cfg))


def make_qwen3_vl(seed):
    import transformers
    torch.manual_seed(seed)
    cfg = transformers.Qwen3VLConfig(
        text_config=dict(TEXT, head_dim=32, rope_parameters=mrope([4, 6, 6])), tie_word_embeddings=False, **TOKENS,
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=48, num_heads=2, out_hidden_size=64,
                           patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                           deepstack_visual_indexes=[0, 1]))
    return distinct_norms(transformers.Qwen3VLForConditionalGeneration(cfg))


def distinct_norms(model):
    model = model.to(torch.bfloat16)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:  # norms start at 1.0 and biases at 0: make every vector distinct
                p.copy_(1.0 + 0.1 * torch.randn_like(p, dtype=torch.float32).to(p.dtype))
    return model


def legacy(name):
    """transformers' newer VL key layout (model.language_model.*, model.visual.*) -> the older one."""
    if name.startswith("model.visual."):
        return name[len("model."):]
    if name.startswith("model.language_model."):
        return "model." + name[len("model.language_model."):]
    return name


def nested(name):
    if name.startswith("visual."):
        return "model." + name
    if name.startswith("model.") and not name.startswith(("model.language_model.", "model.visual.")):
        return "model.language_model." + name[len("model."):]
    return name


def text_cfg(cfg):
    t = dict(cfg["text_config"])
    t["tie_word_embeddings"] = cfg.get("tie_word_embeddings", False)
    return t


def language_model(sd, cfg, tp, pp, r, p):
    """The `language_model.` keys of TP rank r, stage p (generate.py's dense split, TE names)."""
    t = text_cfg(cfg)
    lm = {legacy(k): v for k, v in sd.items() if not legacy(k).startswith("visual.")}
    g = generate.hf_to_megatron_global(lm, t, t["vocab_size"])  # Megatron-Bridge keeps the vocabulary unpadded
    L = t["num_hidden_layers"]
    per = L // pp
    m = {}
    if p == 0:
        m["embedding.word_embeddings.weight"] = g["embedding.word_embeddings.weight"].chunk(tp)[r].clone()
    for local in range(per):
        m.update(generate.shard_layer(g, p * per + local, local, tp, r, "te"))
        m[f"decoder.layers.{local}.self_attention.linear_qkv._extra_state"] = generate.extra_state(local)
        m[f"decoder.layers.{local}.mlp.linear_fc1._extra_state"] = generate.extra_state(local + 1)
    if p == pp - 1:
        m["decoder.final_layernorm.weight"] = g["decoder.final_layernorm.weight"].clone()
        if not t["tie_word_embeddings"]:
            m["output_layer.weight"] = g["output_layer.weight"].chunk(tp)[r].clone()
        elif pp > 1:
            m["output_layer.weight"] = g["embedding.word_embeddings.weight"].chunk(tp)[r].clone()
        m["output_layer._extra_state"] = None
    return {"language_model." + k: v for k, v in m.items()}


def qwen25_vision(sd):
    """Transformers' module under `visual.`, HF names, whole (the same on every TP rank)."""
    return {legacy(k): v.clone() for k, v in sd.items() if legacy(k).startswith("visual.")}


def per_head_qkv(w, heads):
    """HF [Q; K; V] -> Megatron per head [q_h; k_h; v_h] (num_query_groups = heads in the vision model)."""
    rest = w.shape[1:]
    hd = w.shape[0] // (3 * heads)
    return w.reshape(3, heads, hd, *rest).transpose(0, 1).reshape(w.shape)


def qwen3_vision(sd, cfg, tp, r):
    """Megatron's vision model under `vision_model.`, TP rank r of tp."""
    vc = cfg["vision_config"]
    heads = vc["num_heads"]
    v = {legacy(k)[len("visual."):]: t for k, t in sd.items() if legacy(k).startswith("visual.")}

    def col(t):
        return t.chunk(tp, dim=0)[r].clone()

    def row(t):
        return t.chunk(tp, dim=1)[r].clone()

    m = {"patch_embed.proj.weight": v["patch_embed.proj.weight"].clone(),
         "patch_embed.proj.bias": v["patch_embed.proj.bias"].clone(),
         "pos_embed.weight": v["pos_embed.weight"].clone()}
    for b in range(vc["depth"]):
        h = f"blocks.{b}."
        x = f"decoder.layers.{b}."
        m[x + "self_attention.linear_qkv.layer_norm_weight"] = v[h + "norm1.weight"].clone()
        m[x + "self_attention.linear_qkv.layer_norm_bias"] = v[h + "norm1.bias"].clone()
        m[x + "self_attention.linear_qkv.weight"] = col(per_head_qkv(v[h + "attn.qkv.weight"], heads))
        m[x + "self_attention.linear_qkv.bias"] = col(per_head_qkv(v[h + "attn.qkv.bias"], heads))
        m[x + "self_attention.linear_qkv._extra_state"] = None
        m[x + "self_attention.linear_proj.weight"] = row(v[h + "attn.proj.weight"])
        m[x + "self_attention.linear_proj.bias"] = v[h + "attn.proj.bias"].clone()
        m[x + "self_attention.linear_proj._extra_state"] = None
        m[x + "mlp.linear_fc1.layer_norm_weight"] = v[h + "norm2.weight"].clone()
        m[x + "mlp.linear_fc1.layer_norm_bias"] = v[h + "norm2.bias"].clone()
        m[x + "mlp.linear_fc1.weight"] = col(v[h + "mlp.linear_fc1.weight"])
        m[x + "mlp.linear_fc1.bias"] = col(v[h + "mlp.linear_fc1.bias"])
        m[x + "mlp.linear_fc2.weight"] = row(v[h + "mlp.linear_fc2.weight"])
        m[x + "mlp.linear_fc2.bias"] = v[h + "mlp.linear_fc2.bias"].clone()

    def merger(src, dst):
        m[dst + "patch_norm.weight"] = v[src + "norm.weight"].clone()
        m[dst + "patch_norm.bias"] = v[src + "norm.bias"].clone()
        m[dst + "linear_fc1.weight"] = col(v[src + "linear_fc1.weight"])
        m[dst + "linear_fc1.bias"] = col(v[src + "linear_fc1.bias"])
        m[dst + "linear_fc2.weight"] = row(v[src + "linear_fc2.weight"])
        m[dst + "linear_fc2.bias"] = v[src + "linear_fc2.bias"].clone()

    merger("merger.", "merger.")
    for i in range(len(vc["deepstack_visual_indexes"])):
        merger(f"deepstack_merger_list.{i}.", f"decoder.deepstack_merger_list.{i}.")
    return {"vision_model." + k: t for k, t in m.items()}


def write_step(name, model, tp, pp, hf_layout=None):
    """An RLinf step folder: hf_checkpoint/ from save_pretrained, iter_0000010/ Megatron-Bridge shards."""
    actor = OUT / name / "global_step_10" / "actor"
    if actor.parent.parent.exists():
        shutil.rmtree(actor.parent.parent)
    hf = actor / "hf_checkpoint"
    sd = generate.save_hf(model, hf)
    cfg = json.loads((hf / "config.json").read_text())
    on_disk = generate.load_manifest_sd(hf)
    if hf_layout is not None:  # the other key layout transformers releases have written
        on_disk = {hf_layout(k): t for k, t in on_disk.items()}
        generate.save_safetensors(on_disk, hf, hf)
    qwen3 = cfg["model_type"] == "qwen3_vl"
    t = text_cfg(cfg)
    args = generate.make_args(t, tp, pp, None, t["vocab_size"], "te", t["tie_word_embeddings"],
                              qkv_bias=not qwen3, qk_norm=qwen3)
    args.make_vocab_size_divisible_by = 1
    args.position_embedding_type = "mrope"
    for p in range(pp):
        for r in range(tp):
            m = {}
            if p == 0:  # the vision tower runs on the first pipeline stage only
                m.update(qwen3_vision(on_disk, cfg, tp, r) if qwen3 else qwen25_vision(on_disk))
            m.update(language_model(on_disk, cfg, tp, pp, r, p))
            folder = f"mp_rank_{r:02d}" if pp == 1 else f"mp_rank_{r:02d}_{p:03d}"
            d = actor / "iter_0000010" / folder
            d.mkdir(parents=True)
            ckpt = {"args": args, "checkpoint_version": 3.0, "iteration": 10, "model": m,
                    "rng_state": generate.rng_state(), "num_floating_point_operations_so_far": 1234}
            path = d / "model_optim_rng.pt"
            torch.save(ckpt, path)
            generate.write_manifest(path, {k: v for k, v in m.items() if isinstance(v, torch.Tensor)},
                                    {"tp_rank": r, "pp_rank": p})
    (actor / "latest_checkpointed_iteration.txt").write_text("10")
    return actor


def faults():
    out = {}

    def copy(src, name):
        dst = OUT / "faults" / name
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(OUT / src, dst)
        return dst / "global_step_10" / "actor"

    def edit_shard(actor, folder, key, edit):
        path = actor / "iter_0000010" / folder / "model_optim_rng.pt"
        ck = torch.load(path, weights_only=False)
        w = ck["model"][key].clone()
        edit(w)
        ck["model"][key] = w
        torch.save(ck, path)
        Path(str(path) + ".manifest.json").unlink()

    # 1. a vision weight that differs on TP rank 1 only (the replicas disagree; rank 0 matches HF)
    actor = copy("qwen25vl_tp2", "vl_replica_rank1")
    key = "visual.blocks.1.attn.proj.weight"

    def bump(w):
        w[3, 5] += 0.5
    edit_shard(actor, "mp_rank_01", key, bump)
    out["vl_replica_rank1"] = {"megatron_key": key, "rank_folder": "mp_rank_01", "reference": "mp_rank_00",
                               "index": [3, 5]}

    # 2. a vision tensor missing from the HF export
    actor = copy("qwen3vl_tp2", "vl_hf_missing")
    hf = actor / "hf_checkpoint"
    sd = generate.load_manifest_sd(hf)
    gone = "model.visual.deepstack_merger_list.1.linear_fc2.weight"
    del sd[gone]
    generate.save_safetensors(sd, hf, hf)
    out["vl_hf_missing"] = {"tensor": gone}

    # 3. q and k swapped for the one head TP rank 1 holds in vision block 1's fused QKV
    actor = copy("qwen3vl_tp2", "vl_qk_swap")
    key = "vision_model.decoder.layers.1.self_attention.linear_qkv.weight"
    hd = 16  # vision hidden 32 / 2 heads; rank 1 holds head 1 as [q; k; v]

    def swap(w):
        q, k = w[0:hd].clone(), w[hd:2 * hd].clone()
        w[0:hd], w[hd:2 * hd] = k, q
    edit_shard(actor, "mp_rank_01", key, swap)
    out["vl_qk_swap"] = {"tensor": "model.visual.blocks.1.attn.qkv.weight", "megatron_key": key,
                         "megatron_file": "mp_rank_01", "head": 1, "parts": ["q", "k"]}

    # 4. one element of a language-model layer (stage 1 holds layer 1 as local layer 0)
    actor = copy("qwen25vl_tp2_pp2", "vl_lm_element")
    key = "language_model.decoder.layers.0.mlp.linear_fc2.weight"

    def one(w):
        w[7, 9] += 0.25
    edit_shard(actor, "mp_rank_00_001", key, one)
    out["vl_lm_element"] = {"tensor": "model.language_model.layers.1.mlp.down_proj.weight", "index": [7, 9],
                            "megatron_file": "mp_rank_00_001", "megatron_key": key, "shard_index": [7, 9]}
    (OUT / "FAULTS.json").write_text(json.dumps(out, indent=1, sort_keys=True))


def check_cases():
    """Step folders `ckpt-diff check` must fault, each described in vl/CHECKS.json."""
    cases = {}
    root = OUT / "check"
    if root.exists():
        shutil.rmtree(root)

    def copy(src, name):
        dst = root / name
        shutil.copytree(OUT / src, dst)
        return dst / "global_step_10" / "actor"

    # a vision tensor on the second pipeline stage as well
    actor = copy("qwen25vl_tp2_pp2", "vision_on_stage1")
    key = "visual.blocks.0.norm1.weight"
    src = torch.load(actor / "iter_0000010" / "mp_rank_00_000" / "model_optim_rng.pt", weights_only=False)
    for r in range(2):
        path = actor / "iter_0000010" / f"mp_rank_{r:02d}_001" / "model_optim_rng.pt"
        ck = torch.load(path, weights_only=False)
        ck["model"][key] = src["model"][key].clone()
        torch.save(ck, path)
        Path(str(path) + ".manifest.json").unlink()
    cases["vision_on_stage1"] = {"expect": ["mp_rank_00_001 " + key, "first stage only"]}

    # config.json's vision MLP width disagrees with the shards
    actor = copy("qwen3vl_tp2", "vision_config_mismatch")
    cfg_path = actor / "hf_checkpoint" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["vision_config"]["intermediate_size"] = 64
    cfg_path.write_text(json.dumps(cfg, indent=2))
    cases["vision_config_mismatch"] = {"expect": ["vision_model.decoder.layers.0.mlp.linear_fc1.weight", "[32, 32]"]}

    # Qwen3-VL over two pipeline stages: stage 0 holds one language layer, two deepstack features need two
    actor = write_step("check_qwen3vl_pp2", make_qwen3_vl(303), 1, 2)
    shutil.move(str(actor.parent.parent), str(root / "deepstack_beyond_stage0"))
    cases["deepstack_beyond_stage0"] = {"expect": ["deepstack", "language layers 0..1", "holds 1 layer"]}
    (OUT / "CHECKS.json").write_text(json.dumps(cases, indent=1, sort_keys=True))

    # HF only, for the layout rule: deepstack features from vision blocks 0 and 2 enter language layers 0 and 1
    import transformers
    torch.manual_seed(304)
    cfg = transformers.Qwen3VLConfig(
        text_config=dict(TEXT, num_hidden_layers=4, head_dim=32, rope_parameters=mrope([4, 6, 6])), **TOKENS,
        vision_config=dict(depth=3, hidden_size=32, intermediate_size=48, num_heads=2, out_hidden_size=64,
                           patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                           deepstack_visual_indexes=[0, 2]))
    distinct_norms(transformers.Qwen3VLForConditionalGeneration(cfg)).save_pretrained(root / "deepstack_late_block")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    write_step("qwen25vl_tp2", make_qwen25_vl(300), 2, 1)
    # The same family saved in the newer layout (model.language_model.*, model.visual.*), split over TP x PP.
    write_step("qwen25vl_tp2_pp2", make_qwen25_vl(301), 2, 2, hf_layout=nested)
    write_step("qwen3vl_tp2", make_qwen3_vl(302), 2, 1)
    faults()
    check_cases()


if __name__ == "__main__":
    main()
