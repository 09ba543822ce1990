#!/usr/bin/env python3
"""Hostile Megatron layouts and args for ckpt-diff: real torch.save files shaped like Megatron's
model_optim_rng.pt, each bent in one way an attacker or a broken job would bend it.

Run: testdata/make-venv.sh && testdata/.venv/bin/python testdata/hostile/gen_layout.py
Outputs go to testdata/fixtures/hostile/layout/ (committed), with EXPECTED.json: per case, the
ckpt-diff runs to make ({dir} stands for that folder), the exit code each must give, and text that
must appear in its stdout ("out") or in its one-line stderr ("err").

The shards are split from a tiny transformers Llama by testdata/generate.py's own helpers (fused
QKV per query group, gated fc1 per TP rank, padded vocabulary), then loaded with torch.load, edited
and written again with torch.save. Nothing here is written by the Java code that reads it.
"""
import json
import shutil
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import generate  # noqa: E402  (testdata/generate.py: the Megatron splitting helpers)

OUT = HERE.parent / "fixtures" / "hostile" / "layout"
LAYERS = 6


def tiny_llama():
    import transformers
    torch.manual_seed(11)
    cfg = transformers.LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=24, num_hidden_layers=LAYERS,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                                   tie_word_embeddings=False, rms_norm_eps=1e-6, attention_bias=False)
    model = transformers.LlamaForCausalLM(cfg).to(torch.bfloat16)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1.0 + 0.1 * torch.randn_like(p, dtype=torch.float32).to(torch.bfloat16))
    return model


def shards(case, sd, cfg, tp=1, pp=1, vpp=None):
    """A Megatron iteration folder of the tiny model; returns its mp_rank_* files, sorted."""
    root = OUT / case
    it = generate.write_megatron(sd, cfg, root, tp, pp, vpp, "te", optimizer=False, manifest=False)
    (root / "latest_checkpointed_iteration.txt").unlink()
    files = sorted(it.glob("mp_rank_*/model_optim_rng.pt"))
    for f in files:  # the RNG state is large and says nothing about the layout
        edit(f, lambda ck: ck.pop("rng_state"))
    return it, files


def edit(pt, change):
    ck = torch.load(pt, weights_only=False)
    change(ck)
    torch.save(ck, pt)


def set_args(**values):
    def change(ck):
        for k, v in values.items():
            setattr(ck["args"], k, v)
    return change


def drop_layers(model_key, drop, rename=None):
    """Removes local layers `drop` from one model dict; `rename` maps a local layer to another number."""
    def change(ck):
        m = ck[model_key]
        out = {}
        for k, v in m.items():
            parts = k.split(".")
            if k.startswith("decoder.layers."):
                n = int(parts[2])
                if n in drop:
                    continue
                if rename and n in rename:
                    parts[2] = str(rename[n])
            out[".".join(parts)] = v
        ck[model_key] = out
    return change


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    model = tiny_llama()
    hf = OUT / "hf_llama6"
    model.save_pretrained(hf)
    for extra in hf.glob("generation_config.json"):
        extra.unlink()
    cfg = json.loads((hf / "config.json").read_text())
    sd = dict(model.state_dict())
    cases = {}

    def expect(case, *runs):
        cases[case] = [dict(args=r[0], exit=r[1], **r[2]) for r in runs]

    # --- args values that must be refused, naming the key and the file -----------------------
    bad_args = {
        "args_tp_2pow32_plus_2": ("tensor_model_parallel_size", 2 ** 32 + 2),
        "args_tp_bool": ("tensor_model_parallel_size", True),
        "args_pp_2pow31_minus_1": ("pipeline_model_parallel_size", 2 ** 31 - 1),
        "args_hidden_float": ("hidden_size", 16.5),
        "args_layers_string": ("num_layers", "6"),
        "args_layers_bigint": ("num_layers", 2 ** 80),
        "args_layers_10_million": ("num_layers", 10_000_000),
        "args_heads_zero": ("num_attention_heads", 0),
    }
    for case, (key, value) in bad_args.items():
        it, files = shards(case, sd, cfg)
        edit(files[0], drop_layers("model", set(range(1, LAYERS))))  # the refusal comes first; keep the file small
        edit(files[0], set_args(**{key: value}))
        for cmd in (["inspect"], ["check"]):
            expect(case, (cmd + ["{dir}/iter_0000010"], 2, {"err": [key, "mp_rank_00/model_optim_rng.pt"]}))

    # --- layouts args claim but the folder does not hold --------------------------------------
    it, files = shards("args_pp_65536_one_folder", sd, cfg)
    edit(files[0], set_args(pipeline_model_parallel_size=65536))
    expect("args_pp_65536_one_folder", (["inspect", "{dir}/iter_0000010"], 2,
                                        {"err": ["PP=65536", "holds 1", "mp_rank_00_001"]}))
    it, files = shards("args_tp4_two_folders", sd, cfg, tp=2)
    for f in files:
        edit(f, set_args(tensor_model_parallel_size=4))
    expect("args_tp4_two_folders", (["inspect", "{dir}/iter_0000010"], 2, {"err": ["TP=4", "mp_rank_02"]}))

    # Two folders that name one rank (PP=1, so a second number would be an expert rank, and EP=1).
    it, files = shards("two_folders_one_rank", sd, cfg)
    shutil.copytree(it / "mp_rank_00", it / "mp_rank_00_000")
    expect("two_folders_one_rank", (["inspect", "{dir}/iter_0000010"], 2,
                                    {"err": ["folders mp_rank_00 and mp_rank_00_000 both hold TP rank 0"]}))

    # A pipeline rank beyond PP, in a folder and as one file named on the command line.
    it, files = shards("pp_rank_beyond_pp", sd, cfg, pp=2)
    (it / "mp_rank_00_001").rename(it / "mp_rank_00_007")
    expect("pp_rank_beyond_pp",
           (["inspect", "{dir}/iter_0000010"], 2, {"err": ["mp_rank_00_007", "PP=2"]}),
           (["inspect", "{dir}/iter_0000010/mp_rank_00_007/model_optim_rng.pt"], 2,
            {"err": ["mp_rank_00_007", "PP=2"]}))

    # Shards of one iteration with different virtual-pipeline chunk counts.
    it, files = shards("chunk_counts_differ", sd, cfg, pp=2, vpp=3)
    edit(files[1], lambda ck: ck.pop("model2"))
    expect("chunk_counts_differ", (["inspect", "{dir}/iter_0000010"], 2,
                                   {"err": ["mp_rank_00_001/model_optim_rng.pt", "2 model chunk(s)", "holds 3"]}))
    # A local layer number beyond what args give a stage (num_layers=6, PP=2: 3 each).
    it, files = shards("local_layer_beyond_stage", sd, cfg, pp=2)
    edit(files[0], drop_layers("model", {2}, rename={1: 5}))
    expect("local_layer_beyond_stage", (["check", "{dir}/iter_0000010"], 2,
                                        {"err": ["pipeline rank 0 holds local layer 5", "num_layers=6", "3 layer(s)"]}))
    # Ten thousand (empty) virtual-pipeline chunks in one file: found in one pass, not by a scan per chunk.
    it, files = shards("many_model_chunks", sd, cfg)

    def many_chunks(ck):
        m = ck.pop("model")
        ck["model0"] = m
        for v in range(1, 10_000):
            ck[f"model{v}"] = {}
        ck["args"].virtual_pipeline_model_parallel_size = 10_000
    edit(files[0], many_chunks)
    expect("many_model_chunks", (["inspect", "{dir}/iter_0000010"], 0, {"out": ["VPP=10000"]}),
           (["check", "{dir}/iter_0000010"], 0, {"out": ["6 layers"]}))

    # --- shards saved without args: the layout comes from the folder names ---------------------
    it, files = shards("no_args_tp2_pp2", sd, cfg, tp=2, pp=2)
    for f in files:
        edit(f, lambda ck: ck.pop("args"))
    expect("no_args_tp2_pp2",
           (["inspect", "{dir}/iter_0000010"], 0, {"out": ["TP=2 PP=2"], "err": ["no args", "TP=2 PP=2"]}),
           (["{dir}/iter_0000010", "{dir}/../hf_llama6"], 0, {"out": ["SAME"], "err": ["no args"]}),
           # Nothing says how many heads the fused QKV holds: refused, after the inference is said once.
           (["{dir}/iter_0000010", "{dir}/iter_0000010"], 2, {"err": ["no args", "cannot split fused QKV"]}))

    # Without args a missing rank folder is still found: the names imply the grid.
    it, files = shards("no_args_missing_rank", sd, cfg, tp=2, pp=2)
    for f in files:
        edit(f, lambda ck: ck.pop("args"))
    shutil.rmtree(it / "mp_rank_01_000")
    expect("no_args_missing_rank", (["inspect", "{dir}/iter_0000010"], 2,
                                    {"err": ["missing shard folder mp_rank_01_000", "inferred from the folder names"]}))

    # --- layer holes --------------------------------------------------------------------------
    # Layers 3 and 4 lost; args still say 6 layers.
    it, files = shards("layer_hole", sd, cfg)
    edit(files[0], drop_layers("model", {3, 4}))
    expect("layer_hole",
           (["check", "{dir}/iter_0000010"], 1, {"out": ["layers 3, 4 missing", "num_layers=6", "hold 4 layers"]}),
           (["{dir}/iter_0000010", "{dir}/../hf_llama6"], 1, {"out": ["layers 3, 4", "missing"]}),
           # The same hole on both sides: every tensor agrees, yet the copies are not sound.
           (["{dir}/iter_0000010", "{dir}/iter_0000010"], 1, {"out": ["A: ", "B: ", "layers 3, 4 missing"]}))
    # PP=2: stage 0 lost its last layer (local 2), so its keys alone would number stage 1 from 2.
    it, files = shards("layer_hole_pp2", sd, cfg, pp=2)
    edit(files[0], drop_layers("model", {2}))
    expect("layer_hole_pp2",
           (["check", "{dir}/iter_0000010"], 1, {"out": ["layer 2 missing", "num_layers=6", "hold 5 layers"]}),
           (["{dir}/iter_0000010", "{dir}/../hf_llama6"], 1, {"out": ["layer 2", "missing"]}))
    # Keys that claim ten million layers with all but four missing, and no num_layers in args.
    it, files = shards("ten_million_layers", sd, cfg)
    edit(files[0], drop_layers("model", {3, 4}, rename={5: 9_999_999}))
    edit(files[0], lambda ck: delattr(ck["args"], "num_layers"))
    expect("ten_million_layers",
           (["check", "{dir}/iter_0000010"], 1, {"out": ["layers 3..9999998 missing", "9,999,996", "hold 4 layers"]}),
           (["inspect", "{dir}/iter_0000010"], 0, {"out": ["10000000", "layers 3..9999998 missing"]}))

    # --- config.json claims the weights do not back --------------------------------------------
    big = OUT / "hf_claims_2e9_layers"
    shutil.copytree(hf, big)
    c = json.loads((big / "config.json").read_text())
    c["num_hidden_layers"] = 2 * 10 ** 9  # any more is refused as a config.json value outright
    (big / "config.json").write_text(json.dumps(c, indent=2))
    expect("hf_claims_2e9_layers",
           (["check", "{dir}"], 1, {"out": ["layers 6..1999999999 missing", "1,999,999,994", "num_hidden_layers=2000000000",
                                            "hold 6 layers"]}),
           (["check", "--tp", "2", "--pp", "2", "{dir}"], 1, {"out": ["layers 6..1999999999 missing"]}))

    # config.json integers that transformers could not build a model from.
    for case, key, value, extra in [("hf_hidden_float", "hidden_size", 16.5, []),
                                    ("hf_kv_heads_zero", "num_key_value_heads", 0, ["--tp", "2"]),
                                    ("hf_layers_string", "num_hidden_layers", "6", [])]:
        bad = OUT / case
        shutil.copytree(hf, bad)
        c = json.loads((bad / "config.json").read_text())
        c[key] = value
        (bad / "config.json").write_text(json.dumps(c, indent=2))
        expect(case, (["check"] + extra + ["{dir}"], 2, {"err": [key, "config.json", str(value)]}))

    # A Qwen3-MoE whose config claims a billion experts per MoE layer; the files hold 4.
    import transformers
    torch.manual_seed(12)
    moe = OUT / "hf_claims_10e9_experts"
    transformers.Qwen3MoeForCausalLM(transformers.Qwen3MoeConfig(
        vocab_size=64, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=4, max_position_embeddings=32, moe_intermediate_size=8, num_experts=4,
        num_experts_per_tok=2, decoder_sparse_step=1)).to(torch.bfloat16).save_pretrained(moe)
    for extra in moe.glob("generation_config.json"):
        extra.unlink()
    c = json.loads((moe / "config.json").read_text())
    key = "num_local_experts" if "num_local_experts" in c else "num_experts"
    c[key] = 10 ** 9
    (moe / "config.json").write_text(json.dumps(c, indent=2))
    expect("hf_claims_10e9_experts",
           (["check", "{dir}"], 1, {"out": ["experts 4..999999999 missing", "999,999,996", f"{key}=1000000000",
                                            "hold 4 experts"]}))

    (OUT / "EXPECTED.json").write_text(json.dumps(cases, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
