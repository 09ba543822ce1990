#!/usr/bin/env python3
"""Hostile inputs for the HF side of ckpt-diff: config.json, model.safetensors.index.json,
safetensors headers and RLinf YAML files, each with the outcome ckpt-diff must give.

Run: testdata/make-venv.sh && testdata/.venv/bin/python testdata/hostile/gen_hfside.py
Writes testdata/fixtures/hostile/hfside/ (committed) with EXPECTED.json:
    {case: {"args": [...], "exit": N, "says": [...]}}
"{dir}" in args stands for that folder. Exit 2 cases must print one "ckpt-diff: ..." line holding
every "says" string. Weights come from transformers' save_pretrained; the broken side files are
plain JSON/YAML text written here, independent of the Java readers. Cases that need large files
(sizes beyond the caps, a header of 1.7M tensors) or FIFOs are made by HostileHfSideCliTest at
test time, so that nothing large is committed.
"""
import json
import shutil
from pathlib import Path

import torch
import yaml  # PyYAML, which OmegaConf.load uses (a SafeLoader subclass); comes with transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "fixtures" / "hostile" / "hfside"
CHECK_QWEN2 = "../../check/qwen2"  # an RLinf-usable HF folder, relative to OUT
expected = {}


def case(name, args, exit_code, *says):
    expected[name] = {"args": args, "exit": exit_code, "says": list(says)}


def tiny(seed):
    cfg = LlamaConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                      num_key_value_heads=2, vocab_size=32, max_position_embeddings=64)
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg)


def hf_folder(name, model, **save):
    d = OUT / name
    model.save_pretrained(d, **save)
    (d / "generation_config.json").unlink(missing_ok=True)
    return d


def with_config(name, edit):
    """A copy of the reference folder whose config.json text is replaced by edit(config dict)."""
    d = OUT / name
    shutil.copytree(OUT / "tiny_ref", d)
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(edit(cfg))
    return d


def with_index(name, weight_map_edit=None, text=None):
    d = OUT / name
    shutil.copytree(OUT / "tiny_sharded_ref", d)
    idx = d / "model.safetensors.index.json"
    if text is not None:
        idx.write_text(text)
    else:
        j = json.loads(idx.read_text())
        weight_map_edit(j["weight_map"])
        idx.write_text(json.dumps(j, indent=2))
    return d


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    a, b = tiny(0), tiny(1)

    # Two copies in one folder: transformers' from_pretrained loads model.safetensors and ignores
    # the index (checked below); the verdict must follow that file.
    hf_folder("tiny_ref", a)
    hf_folder("tiny_sharded_ref", b, max_shard_size="1KB")
    both = OUT / "two_copies"
    shutil.copytree(OUT / "tiny_ref", both)
    for f in (OUT / "tiny_sharded_ref").glob("*safetensors*"):
        shutil.copy(f, both)
    loaded = LlamaForCausalLM.from_pretrained(both)
    assert torch.equal(loaded.model.embed_tokens.weight, a.model.embed_tokens.weight), "transformers changed its choice"
    case("two_copies_same_as_single", ["{dir}/two_copies", "{dir}/tiny_ref"], 0, "model.safetensors.index.json",
         "two copies")
    case("two_copies_differs_from_shards", ["{dir}/two_copies", "{dir}/tiny_sharded_ref"], 1, "two copies")

    # config.json may name the weights file (transformers_weights): transformers loads that one.
    named = OUT / "config_names_weights"
    shutil.copytree(OUT / "tiny_ref", named)
    b.save_pretrained(OUT / "_b_single")
    shutil.copy(OUT / "_b_single" / "model.safetensors", named / "other.safetensors")
    shutil.rmtree(OUT / "_b_single")
    cfg = json.loads((named / "config.json").read_text())
    cfg["transformers_weights"] = "other.safetensors"
    (named / "config.json").write_text(json.dumps(cfg, indent=2))
    loaded = LlamaForCausalLM.from_pretrained(named)
    assert torch.equal(loaded.model.embed_tokens.weight, b.model.embed_tokens.weight), "transformers_weights ignored"
    case("config_names_weights", ["{dir}/config_names_weights", "{dir}/tiny_sharded_ref"], 0)
    case("config_names_weights_not_model", ["{dir}/config_names_weights", "{dir}/tiny_ref"], 1)
    with_config("config_names_outside", lambda c: json.dumps({**c, "transformers_weights":
                                                                   "../tiny_ref/model.safetensors"}))
    case("config_names_outside", ["inspect", "{dir}/config_names_outside"], 2, "config.json", "transformers_weights",
         "outside")

    # config.json sizes that readers used to narrow.
    def setting(key, raw, section=None):
        def edit(cfg):
            target = cfg if section is None else cfg.setdefault(section, {})
            target[key] = "@@"
            return json.dumps(cfg, indent=2).replace('"@@"', raw)
        return edit
    with_config("config_fraction", setting("hidden_size", "64.5"))
    case("config_fraction", ["inspect", "{dir}/config_fraction"], 2, "config.json", "hidden_size", "64.5")
    with_config("config_float_whole", setting("num_attention_heads", "2.0"))
    case("config_float_whole", ["check", "{dir}/config_float_whole"], 2, "config.json", "num_attention_heads")
    with_config("config_beyond_long", setting("num_hidden_layers", str(2 ** 64 + 2)))
    case("config_beyond_long", ["inspect", "{dir}/config_beyond_long"], 2, "config.json", "num_hidden_layers",
         "outside")
    with_config("config_beyond_int", setting("vocab_size", str(2 ** 32 + 2)))
    case("config_beyond_int", ["check", "{dir}/config_beyond_int"], 2, "config.json", "vocab_size", "4294967298")
    with_config("config_negative", setting("intermediate_size", "-16"))
    case("config_negative", ["check", "{dir}/config_negative"], 2, "config.json", "intermediate_size")
    with_config("config_string_size", setting("head_dim", '"4"'))
    case("config_string_size", ["check", "{dir}/config_string_size"], 2, "config.json", "head_dim")
    with_config("config_text_config_fraction", setting("vocab_size", "1e3", section="text_config"))
    case("config_text_config_fraction", ["inspect", "{dir}/config_text_config_fraction"], 2, "config.json",
         "text_config.vocab_size")
    deep = "[" * 3000 + "]" * 3000
    with_config("config_deep_nesting", setting("rope_scaling", deep))
    case("config_deep_nesting", ["inspect", "{dir}/config_deep_nesting"], 2, "config.json", "nesting", "at line")
    with_config("config_truncated", lambda cfg: json.dumps(cfg, indent=2)[:-20])
    case("config_truncated", ["inspect", "{dir}/config_truncated"], 2, "config.json", "line")

    # Index files: names that leave the folder, NUL, nesting beyond the parser's limit.
    first = next(iter(json.loads((OUT / "tiny_sharded_ref" / "model.safetensors.index.json").read_text())
                      ["weight_map"]))

    def rename(to):
        return lambda wm: wm.__setitem__(first, to)
    with_index("index_nul_name", rename("model-00001\u0000.safetensors"))
    case("index_nul_name", ["inspect", "{dir}/index_nul_name"], 2, "model.safetensors.index.json", first, "NUL")
    with_index("index_parent", rename("../tiny_ref/model.safetensors"))
    case("index_parent", ["inspect", "{dir}/index_parent"], 2, "model.safetensors.index.json", first, "separator")
    with_index("index_dotdot", rename(".."))
    case("index_dotdot", ["inspect", "{dir}/index_dotdot"], 2, "model.safetensors.index.json", first,
         "not a file name")
    with_index("index_absolute", rename("/tmp/model.safetensors"))
    case("index_absolute", ["inspect", "{dir}/index_absolute"], 2, "model.safetensors.index.json", first,
         "separator")
    with_index("index_deep_nesting", text='{"metadata": ' + deep + ', "weight_map": {}}')
    case("index_deep_nesting", ["inspect", "{dir}/index_deep_nesting"], 2, "model.safetensors.index.json",
         "nesting", "at line 1, column")
    with_index("index_not_json", text='{"weight_map": {"a": "b",}}')
    case("index_not_json", ["inspect", "{dir}/index_not_json"], 2, "model.safetensors.index.json", "line 1")

    # A safetensors header whose unknown field nests beyond the parser's limit (the reference reader
    # ignores unknown fields, so the file is otherwise valid).
    d = OUT / "header_deep_nesting"
    d.mkdir()
    save_file({"w": torch.zeros(2)}, d / "model.safetensors")
    raw = (d / "model.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["w"]["extra"] = "@@"
    text = json.dumps(header).replace('"@@"', deep).encode()
    (d / "model.safetensors").write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])
    case("header_deep_nesting", ["inspect", "{dir}/header_deep_nesting/model.safetensors"], 2, "model.safetensors",
         "nesting")

    yaml_cases()
    (OUT / "EXPECTED.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


RLINF = """\
{head}cluster:
  num_nodes: 1
runner:
  task_type: {task}
  resume_dir: null
rollout:
  model_dir: {model_dir}
actor:
  training_backend: megatron
  model:
    megatron_checkpoint: null
    tensor_model_parallel_size: {tp}
    pipeline_model_parallel_size: 1
  tokenizer:
    tokenizer_model: {tokenizer}
  megatron:
    mbridge: True
    use_hf_ckpt: True
    ckpt_convertor:
      hf_model_path: {hf}
{extra}"""


def rlinf(name, task="reasoning", model_dir=CHECK_QWEN2, tp="1", tokenizer="${rollout.model_dir}",
          hf="${rollout.model_dir}", extra="", head=""):
    (OUT / name).write_text(RLINF.format(task=task, model_dir=model_dir, tp=tp, tokenizer=tokenizer, hf=hf,
                                         extra=extra, head=head))


def yaml_cases():
    # Aliases: values come from their anchors, as PyYAML/OmegaConf read them. The TP rule only
    # fires when *tp is read as 8 (qwen2 fixture: 4 heads); the path only exists when *dir resolves.
    rlinf("yaml_alias.yaml", model_dir=f"&dir {CHECK_QWEN2}", tp="*tp", hf="*dir", tokenizer="*dir",
          head="sizes:\n  tp: &tp 8\n")
    alias = yaml.safe_load((OUT / "yaml_alias.yaml").read_text())
    assert alias["actor"]["model"]["tensor_model_parallel_size"] == 8 \
        and alias["actor"]["megatron"]["ckpt_convertor"]["hf_model_path"] == CHECK_QWEN2, "PyYAML reads aliases differently"
    case("yaml_alias", ["check", "--config", "{dir}/yaml_alias.yaml"], 1,
         "actor.model.tensor_model_parallel_size", "num_attention_heads 4")
    rlinf("yaml_merge_key.yaml", tp="${parallel.tp}",
          extra="base: &base\n  tp: 8\nparallel:\n  <<: *base\n")
    assert yaml.safe_load((OUT / "yaml_merge_key.yaml").read_text())["parallel"]["tp"] == 8
    case("yaml_merge_key", ["check", "--config", "{dir}/yaml_merge_key.yaml"], 1,
         "actor.model.tensor_model_parallel_size", "num_attention_heads 4")
    # Billion laughs: nine levels of ten aliases each stand for 10^9 strings.
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    rlinf("yaml_billion_laughs.yaml", extra="\n".join(lines) + "\n")
    case("yaml_billion_laughs", ["check", "--config", "{dir}/yaml_billion_laughs.yaml"], 2,
         "yaml_billion_laughs.yaml", "aliases")
    rlinf("yaml_self_alias.yaml", extra="loop: &loop\n  - *loop\n")
    case("yaml_self_alias", ["check", "--config", "{dir}/yaml_self_alias.yaml"], 2, "yaml_self_alias.yaml", "loop")
    rlinf("yaml_deep_nesting.yaml", extra="deep: " + "[" * 3000 + "]" * 3000 + "\n")
    case("yaml_deep_nesting", ["check", "--config", "{dir}/yaml_deep_nesting.yaml"], 2,
         "yaml_deep_nesting.yaml", "Nesting Depth")
    rlinf("yaml_duplicate_key.yaml", extra="cluster:\n  num_nodes: 2\n")
    # PyYAML alone keeps the last value; OmegaConf's loader (omegaconf/_utils.py get_yaml_loader)
    # refuses a repeated key with "found duplicate key", and ckpt-diff follows OmegaConf.
    case("yaml_duplicate_key", ["check", "--config", "{dir}/yaml_duplicate_key.yaml"], 2,
         "yaml_duplicate_key.yaml", "duplicate key", "line")
    # ${...} that doubles at every level: 2^60 characters if expanded naively.
    levels = ["bomb:", "  l0: ab"] + [f"  l{i}: ${{bomb.l{i - 1}}}${{bomb.l{i - 1}}}" for i in range(1, 61)]
    rlinf("yaml_interpolation_doubling.yaml", task="${bomb.l60}", extra="\n".join(levels) + "\n")
    case("yaml_interpolation_doubling", ["check", "--config", "{dir}/yaml_interpolation_doubling.yaml"], 1,
         "runner.task_type", "resolves to more than")
    rlinf("yaml_interpolation_cycle.yaml", task="${x.a}", extra="x:\n  a: ${x.b}\n  b: pre-${x.a}\n")
    case("yaml_interpolation_cycle", ["check", "--config", "{dir}/yaml_interpolation_cycle.yaml"], 1,
         "runner.task_type", "x.a -> x.b -> x.a")
    rlinf("yaml_nul_path.yaml", hf='"model\\0dir"')
    case("yaml_nul_path", ["check", "--config", "{dir}/yaml_nul_path.yaml"], 2, "yaml_nul_path.yaml",
         "actor.megatron.ckpt_convertor.hf_model_path", "not a usable path")


if __name__ == "__main__":
    main()
