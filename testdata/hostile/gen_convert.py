#!/usr/bin/env python3
"""Hostile and careless inputs for `ckpt-diff convert` (and the diff's --json), with expected outcomes.

Run: testdata/make-venv.sh && testdata/.venv/bin/python testdata/hostile/gen_convert.py
Writes testdata/fixtures/hostile/convert/ (committed): one folder per case that needs files, and
EXPECTED.json, which HostileConvertCliTest runs case by case on a copy in a temporary folder, then
checks that the copy of every input is byte-for-byte what it was.

Files come from the real tools, independent of ckpt-diff's readers: HF folders from transformers
(save_pretrained) with tensors replaced through safetensors.torch.save_file, Megatron shards
through torch.save of the llama_tp1_pp2_local fixture loaded by torch.load with one tensor
replaced. Cases about where --out (or --json) points need no files of their own: their "setup"
lists what the test builds from the existing fixtures (copies, folders, symbolic links) before it
runs the command.

EXPECTED.json, per case:
  args     the command line; {case} is the case's copy, {out} a path outside it
  setup    [["copy", FIXTURE_RELATIVE_PATH, CASE_RELATIVE_PATH] | ["link", CASE_PATH, TARGET] | ["mkdir", CASE_PATH]]
  exit     the exit code
  stderr   strings the one-line error must contain (exit 2)
  any_of   at least one of these must be in it (where either of two checks may fire first)
  output   for exit 0: a file that must exist under {out}
  seconds  the time limit
"""
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

HERE = Path(__file__).resolve().parent
TESTDATA = HERE.parent
sys.path.insert(0, str(TESTDATA / "pysrc"))  # Megatron's args pickle references megatron.* names

FIXTURES = TESTDATA / "fixtures"
OUT = FIXTURES / "hostile" / "convert"
MEGATRON_SRC = FIXTURES / "llama_tp1_pp2_local" / "actor"
HUGE = 2 ** 62

EXPECTED = {}


def case(name, **spec):
    spec.setdefault("seconds", 30)
    EXPECTED[name] = spec


def hf_model(dest, mutate=None, config_edit=None):
    """A one-layer Llama (hidden 64, 4 heads, 2 KV heads, head_dim 16) saved by transformers."""
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=1, num_attention_heads=4,
                      num_key_value_heads=2, head_dim=16, vocab_size=64, max_position_embeddings=64,
                      tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(dest)
    if mutate:
        weights = load_file(dest / "model.safetensors")
        mutate(weights)
        save_file(weights, dest / "model.safetensors", metadata={"format": "pt"})
    if config_edit:
        c = json.loads((dest / "config.json").read_text())
        config_edit(c)
        (dest / "config.json").write_text(json.dumps(c, indent=2) + "\n")


def megatron(dest, key, make):
    """The llama_tp1_pp2_local shards (weights only) with the tensor `key` replaced by make(original)."""
    src = MEGATRON_SRC / "iter_0000020"
    it = dest / "iter_0000020"
    for rank in sorted(p.name for p in src.iterdir()):
        d = torch.load(src / rank / "model_optim_rng.pt", weights_only=False)
        for k in ("optimizer", "opt_param_scheduler", "rng_state", "rerun_state_machine"):
            d.pop(k, None)
        if key in d["model"]:
            d["model"][key] = make(d["model"][key])
        (it / rank).mkdir(parents=True)
        torch.save(d, it / rank / "model_optim_rng.pt")
    (dest / "latest_checkpointed_iteration.txt").write_text("20")


def files():
    # to-megatron: every written tensor's shape must follow from config.json
    hf_model(OUT / "hf_norm_huge", mutate=lambda w: w.__setitem__("model.norm.weight",
                                                                  torch.empty((0, HUGE), dtype=torch.bfloat16)))
    case("hf_norm_huge", args=["convert", "to-megatron", "{case}/hf_norm_huge", "--out", "{out}"], exit=2,
         stderr=["model.norm.weight", "[0, 4611686018427387904]", "[64]", "hidden_size 64"])

    hf_model(OUT / "hf_kv_rows", mutate=lambda w: w.__setitem__(
        "model.layers.0.self_attn.k_proj.weight", torch.zeros((48, 64), dtype=torch.bfloat16)))
    case("hf_kv_rows", args=["convert", "to-megatron", "{case}/hf_kv_rows", "--out", "{out}", "--tp", "2"], exit=2,
         stderr=["model.layers.0.self_attn.k_proj.weight", "[48, 64]", "[32, 64]", "num_key_value_heads 2"])

    hf_model(OUT / "hf_layers_huge", config_edit=lambda c: c.__setitem__("num_hidden_layers", 10 ** 12))
    case("hf_layers_huge", args=["convert", "to-megatron", "{case}/hf_layers_huge", "--out", "{out}"], exit=2,
         stderr=["1000000000000"], seconds=10)

    # to-hf and reshard: merged shards must agree with the args they carry
    megatron(OUT / "meg_norm_vs_args", "decoder.final_layernorm.weight", lambda t: t[:48].clone())
    case("meg_norm_vs_args", args=["convert", "to-hf", "{case}/meg_norm_vs_args", "--out", "{out}"], exit=2,
         stderr=["model.norm.weight", "[48]", "[64]", "hidden_size 64"])
    case("meg_norm_vs_args_reshard", args=["convert", "reshard", "{case}/meg_norm_vs_args", "--out", "{out}",
                                           "--tp", "1", "--pp", "1"],
         setup=[["copy", "hostile/convert/meg_norm_vs_args", "meg_norm_vs_args"]], exit=2,
         stderr=["model.norm.weight", "[48]", "[64]"])

    # zero-stride (expanded) views: legal in torch; 2 stored bytes may claim 2^62 elements
    megatron(OUT / "meg_expanded_huge", "decoder.final_layernorm.weight",
             lambda t: t[:1].expand(HUGE))
    case("meg_expanded_huge", args=["convert", "to-hf", "{case}/meg_expanded_huge", "--out", "{out}"], exit=2,
         any_of=["final_layernorm", "norm.weight", "overflows a 64-bit byte count"], seconds=10)
    megatron(OUT / "meg_expanded_norm", "decoder.final_layernorm.weight", lambda t: t[:1].expand(64))
    case("meg_expanded_norm", args=["convert", "to-hf", "{case}/meg_expanded_norm", "--out", "{out}"],
         exit=[0, 2], any_of=["final_layernorm", "norm.weight"], output="model.safetensors")


def placements():
    """Where --out and --json point: each must be refused, and leave every input as it was."""
    hf = [["copy", "check/llama", "hf"]]
    actor = [["copy", "llama_tp2/global_step_10/actor", "step/actor"]]
    to_meg = ["convert", "to-megatron", "{case}/hf", "--tp", "2", "--out"]
    to_hf = ["convert", "to-hf", "{case}/step/actor/iter_0000010", "--out"]
    case("out_is_src", setup=hf, args=to_meg + ["{case}/hf", "--force"], exit=2, stderr=["is the input"])
    case("out_is_src_without_force", setup=hf, args=to_meg + ["{case}/hf"], exit=2, stderr=["is the input"])
    case("out_inside_src", setup=hf, args=to_meg + ["{case}/hf/megatron"], exit=2, stderr=["lies inside the input"])
    case("out_inside_src_deeper", setup=hf, args=to_meg + ["{case}/hf/a/b/../c", "--force"], exit=2,
         stderr=["lies inside the input"])
    case("out_dotdot_is_src", setup=hf, args=to_meg + ["{case}/hf/../hf/.", "--force"], exit=2,
         stderr=["is the input"])
    case("out_link_to_src", setup=hf + [["link", "out", "hf"]], args=to_meg + ["{case}/out", "--force"], exit=2,
         stderr=["is the input"])
    case("out_through_link_inside_src", setup=hf + [["mkdir", "elsewhere"], ["link", "elsewhere/up", "../hf"]],
         args=to_meg + ["{case}/elsewhere/up/new", "--force"], exit=2, stderr=["lies inside the input"])
    case("out_contains_iteration", setup=actor, args=to_hf + ["{case}/step/actor", "--force"], exit=2,
         stderr=["contains the input"])
    case("out_is_step", setup=actor, args=["convert", "to-hf", "{case}/step", "--out", "{case}/step", "--force"],
         exit=2, stderr=["is the input"])
    case("out_contains_everything", setup=actor, args=to_hf + ["{case}", "--force"], exit=2,
         stderr=["contains the input"])
    case("out_is_config_from", setup=actor,
         args=to_hf + ["{case}/step/actor/hf_model", "--force", "--config-from", "{case}/step/actor/hf_model"],
         exit=2, stderr=["is the input"])
    case("out_inside_config_from", setup=actor,
         args=to_hf + ["{case}/step/actor/hf_model/converted", "--config-from", "{case}/step/actor/hf_model"],
         exit=2, stderr=["lies inside the input"])
    case("reshard_out_is_src", setup=actor,
         args=["convert", "reshard", "{case}/step/actor/iter_0000010", "--tp", "1", "--pp", "1", "--out",
               "{case}/step/actor/iter_0000010", "--force"], exit=2, stderr=["is the input"])
    # a Hugging Face cache snapshot: a folder of links into blobs/, which --force would delete
    hub = [["mkdir", "hub/blobs"], ["copy", "check/llama/config.json", "hub/blobs/c0f"],
           ["copy", "check/llama/model.safetensors", "hub/blobs/5af"], ["mkdir", "hub/snapshots/abc"],
           ["link", "hub/snapshots/abc/config.json", "../../blobs/c0f"],
           ["link", "hub/snapshots/abc/model.safetensors", "../../blobs/5af"]]
    case("out_holds_linked_blobs", setup=hub,
         args=["convert", "to-megatron", "{case}/hub/snapshots/abc", "--out", "{case}/hub/blobs", "--force"],
         exit=2, stderr=["contains the input"])
    case("out_is_linked_blob", setup=hub,
         args=["convert", "to-megatron", "{case}/hub/snapshots/abc", "--out", "{case}/hub/blobs/5af", "--force"],
         exit=2, stderr=["is the input"])
    case("out_empty", setup=hf, args=to_meg + [""], exit=2, stderr=["--out is empty"])
    # the diff's --json report
    two = [["copy", "check/llama", "a"], ["copy", "check/llama", "b"]]
    case("json_is_input_file", setup=two,
         args=["{case}/a", "{case}/b", "--no-progress", "--json", "{case}/a/model.safetensors"], exit=2,
         stderr=["--json", "lies inside the input"])
    case("json_is_input", setup=two, args=["{case}/a", "{case}/b", "--no-progress", "--json", "{case}/b"], exit=2,
         stderr=["--json", "is the input"])
    case("json_is_linked_blob", setup=hub + [["copy", "check/llama", "b"]],
         args=["{case}/hub/snapshots/abc", "{case}/b", "--no-progress", "--json", "{case}/hub/blobs/5af"], exit=2,
         stderr=["--json", "is the input"])


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    files()
    placements()
    (OUT / "EXPECTED.json").write_text(json.dumps(EXPECTED, indent=1) + "\n")
    print(f"{len(EXPECTED)} cases in {OUT}")


if __name__ == "__main__":
    main()
