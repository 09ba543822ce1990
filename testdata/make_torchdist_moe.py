#!/usr/bin/env python3
"""Makes ckpt-diff's torch_dist mixture-of-experts fixture with real Megatron-Core.

A tiny Qwen3-MoE (transformers Qwen3MoeForCausalLM, saved by save_pretrained as in make_moe.py) is
loaded into a Megatron-Core GPTModel (local spec, SequentialMLP experts: Transformer Engine is not
installed here) on the CPU over gloo with TP=1, EP=2 (2 processes) and with TP=2, EP=2, expert TP=2 (4 processes), and saved by Megatron-Core's own
dist_checkpointing.save with the torch_dist strategy. Each rank's weights are the legacy shard
make_moe.py derives from the HF weights (Megatron-Bridge's mapping); load_state_dict(strict) proves
they are exactly the keys and shapes the Megatron model holds.

Run like make_torchdist.py (needs psutil; Megatron-Core from a Megatron-LM checkout; triton stubbed
outside the repository when missing):
    PYTHONPATH=<Megatron-LM checkout> testdata/.venv/bin/python testdata/make_torchdist_moe.py
It was run with Megatron-LM HEAD (core 0.19+), torch 2.13 CPU, transformers 5.18.

Output (and testdata/fixtures/torchdist_qwen3_moe_tp2_ep2/global_step_10/actor/ the same for TP=2,
torchdist_qwen3_moe_mixed_ep2/... for 3 layers of which layer 1 is dense (mlp_only_layers=[1]):
Megatron-Core then keys every layer on its own, decoder.layers.<i>.*, as moe_layer_freq is a list):
testdata/fixtures/torchdist_qwen3_moe_ep2/
    global_step_10/actor/hf_model/           save_pretrained (8 experts, top-2, every layer MoE)
    global_step_10/actor/iter_0000010/       torch_dist (metadata.json, .metadata, __R_0.distcp)
    faults/element/iter_0000010/ + FAULT.json   one element of one expert changed inside its chunk
    faults/wrong_args/global_step_10/actor/   common.pt args saying 16 experts of moe_ffn_hidden_size 48
"""
import json
import os
import pickle
import shutil
import sys
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate as gen  # noqa: E402
import make_moe  # noqa: E402
import make_torchdist  # noqa: E402

OUT = HERE / "fixtures" / "torchdist_qwen3_moe_ep2"
ITER = 10
EP = 2
CONFIG = dict(make_moe.CONFIG, num_hidden_layers=2, mlp_only_layers=[])
MIXED = dict(make_moe.CONFIG)  # 3 layers, layer 1 dense (mlp_only_layers)


def rank_weights(sd, cfg, tp, tp_rank, ep_rank):
    """The legacy shard of (TP rank, EP rank), expert TP = TP: make_moe.py's mapping of the HF weights."""
    padded = cfg["vocab_size"]  # 256: already a multiple of 128 x TP
    g = gen.hf_to_megatron_global(sd, cfg, padded)
    m = {"embedding.word_embeddings.weight": g["embedding.word_embeddings.weight"].chunk(tp)[tp_rank].clone()}
    for L in range(cfg["num_hidden_layers"]):
        m.update(gen.shard_layer(g, L, L, tp, tp_rank, "local"))
        if L in make_moe.moe_layers(cfg):
            m.update(make_moe.expert_keys(sd, cfg, L, L, ep_rank, EP, tp_rank, tp, False))
    m["decoder.final_layernorm.weight"] = g["decoder.final_layernorm.weight"].clone()
    m["output_layer.weight"] = g["output_layer.weight"].chunk(tp)[tp_rank].clone()
    return m


def transformer_config(c, tp, ep, etp, moe_layer_freq):
    """Megatron-Core's TransformerConfig of the tiny Qwen3-MoE (local spec, sequential experts, bf16); etp None: TP."""
    from megatron.core.transformer.transformer_config import TransformerConfig
    return TransformerConfig(
        num_layers=c["num_hidden_layers"], hidden_size=c["hidden_size"], ffn_hidden_size=c["intermediate_size"],
        num_attention_heads=c["num_attention_heads"], num_query_groups=c["num_key_value_heads"],
        kv_channels=c["head_dim"], add_qkv_bias=False, add_bias_linear=False, qk_layernorm=True,
        gated_linear_unit=True, activation_func=torch.nn.functional.silu, normalization="RMSNorm",
        layernorm_epsilon=1e-6, num_moe_experts=c["num_experts"], moe_router_topk=c["num_experts_per_tok"],
        moe_ffn_hidden_size=c["moe_intermediate_size"], moe_grouped_gemm=False,
        expert_model_parallel_size=ep, expert_tensor_parallel_size=etp, tensor_model_parallel_size=tp,
        sequence_parallel=False, use_cpu_initialization=True,
        params_dtype=torch.bfloat16, bf16=True, hidden_dropout=0.0, attention_dropout=0.0,
        moe_layer_freq=moe_layer_freq)


def worker(rank, world, port, tmp, hf_dir, tp, c):
    # generate.py puts testdata/pysrc (a small unpickling stand-in named megatron) on the path: use the real one
    sys.path[:] = [p for p in sys.path if not p.endswith("pysrc")]
    for name in [m for m in sys.modules if m == "megatron" or m.startswith("megatron.")]:
        del sys.modules[name]
    make_torchdist.stub_triton()
    if not torch.cuda.is_available():  # as in make_torchdist.py: the saver assumes a GPU
        torch.cuda.synchronize = lambda *a, **k: None
        torch.cuda.current_device = lambda: "cpu"
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from megatron.core import dist_checkpointing, parallel_state
    from megatron.core.dist_checkpointing.strategies.torch import TorchDistSaveShardedStrategy
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_decoder_block_spec, get_gpt_layer_local_spec
    parallel_state.initialize_model_parallel(tensor_model_parallel_size=tp, pipeline_model_parallel_size=1,
                                             expert_model_parallel_size=EP)
    moe = make_moe.moe_layers(c)
    mixed = len(moe) < c["num_hidden_layers"]
    tc = transformer_config(c, tp, EP, None, [int(L in moe) for L in range(c["num_hidden_layers"])] if mixed else 1)
    if mixed:  # dense and MoE layers: a per-layer block spec (and per-layer keys in the saved index)
        spec = get_gpt_decoder_block_spec(tc, use_transformer_engine=False, normalization="RMSNorm")
    else:
        spec = get_gpt_layer_local_spec(num_experts=c["num_experts"], moe_grouped_gemm=False, qk_layernorm=True,
                                        normalization="RMSNorm")
    model = GPTModel(config=tc, transformer_layer_spec=spec, vocab_size=c["vocab_size"], max_sequence_length=128,
                     share_embeddings_and_output_weights=False, position_embedding_type="rope")
    model = model.to(torch.bfloat16)  # as Megatron-LM's Float16Module makes it (local RMSNorm would stay fp32)
    ep_rank = parallel_state.get_expert_model_parallel_rank()
    tp_rank = parallel_state.get_tensor_model_parallel_rank()
    sd = gen.load_manifest_sd(hf_dir)
    weights = rank_weights(sd, json.loads((hf_dir / "config.json").read_text()), tp, tp_rank, ep_rank)
    own = {k: v for k, v in model.state_dict().items() if "_extra_state" not in k}
    assert set(own) == set(weights), (sorted(set(own) ^ set(weights)))
    for k, v in own.items():
        assert tuple(v.shape) == tuple(weights[k].shape), (k, v.shape, weights[k].shape)
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(weights[k].to(v.dtype))
            assert torch.equal(v.float(), weights[k].float()), k
    args = make_moe.args_for(c, tp, EP, tp, "local", c["vocab_size"])
    args.ckpt_format = "torch_dist"
    for name, value in vars(args).items():  # generate.py's stand-in enums -> Megatron-Core's own
        if type(value).__module__.startswith("megatron."):
            import importlib
            real = getattr(importlib.import_module(type(value).__module__), type(value).__name__)
            setattr(args, name, real[value.name])
    state = {"model": model.sharded_state_dict(metadata={"singleton_local_shards": False}),
             "args": args, "checkpoint_version": 3.0, "iteration": ITER}
    dist_checkpointing.save(state, str(tmp / "dist"), sharded_strategy=TorchDistSaveShardedStrategy())
    dist.barrier()
    dist.destroy_process_group()


FAULT_KEY = "decoder.layers.mlp.experts.experts.linear_fc2.weight"


FAULT_CHUNK = (1, 6, 0, 0)  # layer 1, global expert 6: EP rank 1's local expert 2


def plant_element(it, out):
    """One element of one expert's chunk changed, the chunk rewritten by torch.save (same length)."""
    meta = pickle.loads((it / ".metadata").read_bytes())
    info = next(v for k, v in meta.storage_data.items() if k.fqn == FAULT_KEY and tuple(k.offset) == FAULT_CHUNK)
    d = out / "element" / it.name
    shutil.copytree(it, d)
    element = (0, 0, 5, 7)
    make_torchdist.rewrite_chunk(d, info, element, 0.5)
    (out / "element" / "FAULT.json").write_text(json.dumps({
        "key": FAULT_KEY, "chunk_offsets": list(FAULT_CHUNK), "element_in_chunk": list(element),
        "hf": "model.layers.1.mlp.experts.6.down_proj.weight", "hf_index": [5, 7],
        "file": info.relative_path, "file_offset": info.offset}, indent=1))


def main():
    for tp in (1, 2):
        make(tp, CONFIG)
    make(1, MIXED)


def make(tp, config):
    out = OUT if tp == 1 else OUT.with_name(f"torchdist_qwen3_moe_tp{tp}_ep{EP}")
    if config is MIXED:
        out = OUT.with_name(f"torchdist_qwen3_moe_mixed_ep{EP}")
    tmp = Path(tempfile.mkdtemp(prefix="torchdist-moe-"))
    (tmp / "dist").mkdir()
    if out.exists():
        shutil.rmtree(out)
    actor = out / "global_step_10" / "actor"
    actor.mkdir(parents=True)
    model = make_moe.make_hf(seed=310, config=config)
    gen.save_hf(model, actor / "hf_model")
    port = 29700 + os.getpid() % 1000
    mp.spawn(worker, args=(EP * tp, port, tmp, actor / "hf_model", tp, config), nprocs=EP * tp, join=True)
    shutil.copytree(tmp / "dist", actor / f"iter_{ITER:07d}")
    (actor / "latest_checkpointed_iteration.txt").write_text(str(ITER))
    shutil.rmtree(tmp)
    print("wrote", out)
    if tp > 1 or config is MIXED:
        return
    plant_element(actor / f"iter_{ITER:07d}", out / "faults")
    # args that disagree with the expert tensors: 16 experts of 48 rows (the weights hold 8 of 32)
    make_torchdist.ITERATION = ITER
    make_torchdist.wrong_args(actor, out / "faults" / "wrong_args" / "global_step_10" / "actor",
                              {"num_experts": 16, "moe_ffn_hidden_size": 48})


if __name__ == "__main__":
    main()
