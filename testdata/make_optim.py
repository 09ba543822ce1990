#!/usr/bin/env python3
"""Real distributed-optimizer checkpoints: Megatron-Core trains a tiny GPTModel for a few steps on GPUs and saves
the legacy (ckpt_format=torch) step folders that RLinf and Megatron-LM write:

    <name>/global_step_3/actor/iter_0000003/mp_rank_TT[_PPP][_EEE]/{model_optim_rng.pt, distrib_optim.pt}
    <name>/global_step_3/actor/latest_checkpointed_iteration.txt

distrib_optim.pt comes from Megatron-Core's own DistributedOptimizer.save_parameter_state (so its layout, bucket
padding and coalescing are what the installed Megatron-Core writes); model_optim_rng.pt holds the dict that
megatron/training/checkpointing.py saves (args, checkpoint_version, iteration, model, optimizer, rng_state,
num_floating_point_operations_so_far), with the model's own state_dict_for_save_checkpoint() and the optimizer's
own state_dict(). Megatron's DDP and distributed optimizer need CUDA and NCCL: run on a machine with two GPUs,

    PYTHONPATH=<a Megatron-LM checkout> python3 testdata/make_optim.py --out testdata/fixtures/optim

It also saves step 2 of every layout under global_step_2/, from which testdata/make_optim_faults.py plants the
faults (on any machine, with plain torch). Nothing here is imported by the Java code; the outputs are committed.
"""
import argparse
import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

LAYOUTS = {
    # name: (tp, pp, ep, num_experts, tied, bucket_size)
    "dense_dp2": (1, 1, 1, None, False, 3000),   # DP=2: each rank owns half of every bucket; several buckets
    "dense_tp2": (2, 1, 1, None, False, None),   # TP=2, DP=1
    "dense_pp2_tied": (1, 2, 1, None, True, 3000),  # PP=2, tied embeddings: shared_embedding on both stages
    "moe_ep2": (1, 1, 2, 4, False, 3000),        # EP=2, DP=2, expert-DP=1: dense + expert buffers (chained)
}
HIDDEN, FFN, HEADS, GROUPS, LAYERS, VOCAB, SEQ = 64, 128, 4, 2, 4, 256, 32
STEPS = 3


def build(tp, pp, ep, num_experts, tied, pp_rank):
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.transformer import TransformerConfig

    cfg = TransformerConfig(
        num_layers=LAYERS, hidden_size=HIDDEN, ffn_hidden_size=FFN, num_attention_heads=HEADS,
        num_query_groups=GROUPS, kv_channels=HIDDEN // HEADS, normalization="RMSNorm", gated_linear_unit=True,
        activation_func=torch.nn.functional.silu, add_bias_linear=False, add_qkv_bias=True,
        tensor_model_parallel_size=tp, pipeline_model_parallel_size=pp, expert_model_parallel_size=ep,
        num_moe_experts=num_experts, moe_ffn_hidden_size=FFN // 2 if num_experts else None,
        moe_router_topk=2 if num_experts else 2, moe_aux_loss_coeff=0.0,
        moe_token_dispatcher_type="alltoall" if num_experts else "allgather",
        bf16=True, params_dtype=torch.bfloat16, pipeline_dtype=torch.bfloat16, autocast_dtype=torch.bfloat16,
        use_cpu_initialization=True, hidden_dropout=0.0, attention_dropout=0.0,
        sequence_parallel=False, gradient_accumulation_fusion=False,
    )
    spec = get_gpt_layer_local_spec(num_experts=num_experts, moe_grouped_gemm=False)
    model = GPTModel(config=cfg, transformer_layer_spec=spec, vocab_size=VOCAB, max_sequence_length=SEQ,
                     pre_process=pp_rank == 0, post_process=pp_rank == pp - 1,
                     share_embeddings_and_output_weights=tied, position_embedding_type="rope")
    return cfg, model


def checkpoint_folder(tp_rank, pp_rank, ep_rank, pp, ep):
    # megatron/training/checkpointing.py: get_checkpoint_name
    name = f"mp_rank_{tp_rank:02d}" if pp == 1 else f"mp_rank_{tp_rank:02d}_{pp_rank:03d}"
    return name + (f"_{ep_rank:03d}" if ep > 1 else "")


def worker(rank, world, out, name):
    tp, pp, ep, num_experts, tied, bucket_size = LAYOUTS[name]
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29517")
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world)
    from megatron.core import parallel_state as ps
    from megatron.core.distributed import DistributedDataParallel as DDP
    from megatron.core.distributed import DistributedDataParallelConfig, finalize_model_grads
    from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer
    from megatron.core.optimizer.distrib_optimizer import DistributedOptimizer
    from megatron.core.pipeline_parallel import get_forward_backward_func
    from megatron.core.tensor_parallel.random import model_parallel_cuda_manual_seed
    from megatron.core.transformer.module import Float16Module

    ps.initialize_model_parallel(tensor_model_parallel_size=tp, pipeline_model_parallel_size=pp,
                                 expert_model_parallel_size=ep)
    torch.manual_seed(1234)
    model_parallel_cuda_manual_seed(1234)
    pp_rank = ps.get_pipeline_model_parallel_rank()
    cfg, model = build(tp, pp, ep, num_experts, tied, pp_rank)
    model.cuda(torch.cuda.current_device())
    model = Float16Module(cfg, model)
    ddp_config = DistributedDataParallelConfig(grad_reduce_in_fp32=True, overlap_grad_reduce=bucket_size is not None,
                                               use_distributed_optimizer=True, bucket_size=bucket_size)
    # As megatron/training/training.py: get_model: later pipeline stages get one bucket.
    chunk_bucket = None if pp_rank > 0 else bucket_size
    params = [p for p in model.parameters() if p.requires_grad]
    layout = DistributedOptimizer.compute_full_param_layout(
        params, chunk_bucket, ps.get_data_parallel_world_size(with_context_parallel=True), ddp_config,
        expert_data_parallel_world_size=ps.get_expert_data_parallel_world_size())
    model = DDP(config=cfg, ddp_config=ddp_config, module=model, full_param_layout=layout)
    model.broadcast_params()
    opt = get_megatron_optimizer(OptimizerConfig(optimizer="adam", lr=1e-3, bf16=True, params_dtype=torch.bfloat16,
                                                 use_distributed_optimizer=True, weight_decay=0.01), [model])
    cfg.finalize_model_grads_func = finalize_model_grads
    cfg.grad_scale_func = opt.scale_loss
    cfg.no_sync_func = model.no_sync

    g = torch.Generator().manual_seed(7 + ps.get_data_parallel_rank())

    def batches():
        while True:
            tokens = torch.randint(0, VOCAB, (2, SEQ), generator=g).cuda()
            yield {"tokens": tokens, "labels": torch.roll(tokens, -1, 1)}

    data = batches()

    def forward_step(it, m):
        b = next(it)
        pos = torch.arange(SEQ, device=b["tokens"].device).unsqueeze(0).expand(2, -1)
        out = m(b["tokens"], pos, None, labels=b["labels"])

        def loss_func(output):
            loss = output.float().mean()
            return loss, {"loss": loss.detach()}
        return out, loss_func

    fb = get_forward_backward_func()
    for step in range(1, STEPS + 1):
        model.zero_grad_buffer()
        opt.zero_grad()
        fb(forward_step_func=forward_step, data_iterator=data, model=[model], num_microbatches=2, seq_length=SEQ,
           micro_batch_size=2, forward_only=False)
        ok, _, _ = opt.step()
        assert ok, f"optimizer step {step} skipped"
        if step >= STEPS - 1:
            save(out, name, step, model, opt, tp, pp, ep, num_experts, tied, bucket_size)
    dist.barrier()
    ps.destroy_model_parallel()
    dist.destroy_process_group()


def save(out, name, step, model, opt, tp, pp, ep, num_experts, tied, bucket_size):
    from megatron.core import parallel_state as ps
    it = f"iter_{step:07d}"
    root = Path(out) / name / f"global_step_{step}" / "actor"
    folder = root / it / checkpoint_folder(ps.get_tensor_model_parallel_rank(), ps.get_pipeline_model_parallel_rank(),
                                           ps.get_expert_model_parallel_rank(), pp, ep)
    folder.mkdir(parents=True, exist_ok=True)
    # Every DP rank takes part in the gather; only DP rank 0 of each optimizer writes (as Megatron does).
    opt.save_parameter_state(str(folder / "distrib_optim.pt"))
    # As checkpointing.py: save_checkpoint: for legacy checkpoints DP rank 0 or expert-DP rank 0 writes the shard.
    if ps.get_data_parallel_rank() == 0 or ps.get_expert_data_parallel_rank() == 0:
        args = argparse.Namespace(
            tensor_model_parallel_size=tp, pipeline_model_parallel_size=pp, expert_model_parallel_size=ep,
            expert_tensor_parallel_size=tp, virtual_pipeline_model_parallel_size=None,
            data_parallel_size=ps.get_data_parallel_world_size(), context_parallel_size=1,
            num_distributed_optimizer_instances=1, use_distributed_optimizer=True, overlap_grad_reduce=bucket_size is not None,
            overlap_param_gather=False, overlap_param_gather_with_optimizer_step=False, ddp_bucket_size=bucket_size,
            ddp_num_buckets=None, ddp_pad_buckets_for_high_nccl_busbw=False, accumulate_allreduce_grads_in_fp32=True,
            fp8_param_gather=False, bf16=True, fp16=False, params_dtype=torch.bfloat16,
            num_layers=LAYERS, hidden_size=HIDDEN, ffn_hidden_size=FFN, num_attention_heads=HEADS, group_query_attention=True,
            num_query_groups=GROUPS, kv_channels=HIDDEN // HEADS, padded_vocab_size=VOCAB, max_position_embeddings=SEQ,
            add_qkv_bias=True, add_bias_linear=False, qk_layernorm=False, normalization="RMSNorm", swiglu=True,
            untie_embeddings_and_output_weights=not tied, position_embedding_type="rope", transformer_impl="local",
            num_experts=num_experts, moe_ffn_hidden_size=FFN // 2 if num_experts else None, moe_router_topk=2,
            moe_grouped_gemm=False, ckpt_format="torch", iteration=step)
        state = {
            "args": args, "checkpoint_version": 3.0, "iteration": step,
            "model": model.state_dict_for_save_checkpoint(), "optimizer": opt.state_dict(),
            "opt_param_scheduler": {"num_steps": step},
            "rng_state": [{"random_rng_state": random.getstate(), "np_rng_state": np.random.get_state(),
                           "torch_rng_state": torch.get_rng_state(), "cuda_rng_state": torch.cuda.get_rng_state()}],
            "num_floating_point_operations_so_far": 0,
        }
        torch.save(state, folder / "model_optim_rng.pt")
        (folder / "megatron_layout.json").write_text(json.dumps(layout_record(model), indent=1) + "\n")
    if dist.get_rank() == 0:
        (root / "latest_checkpointed_iteration.txt").write_text(str(step))


def layout_record(model):
    """Megatron-Core's own record of where each parameter sits in each grad buffer (param_index_map), for the tests
    to hold the Java layout computation to. Names as in the model's state dict."""
    names = {}
    for n, p in model.named_parameters():
        while n.startswith("module."):
            n = n[len("module."):]
        names[p] = n
    out = []
    for kind, buffers in (("dense", model.buffers), ("expert", model.expert_parallel_buffers)):
        for i, b in enumerate(buffers):
            params = sorted(((names[p], s, e, bid) for p, (s, e, bid) in b.param_index_map.items()), key=lambda x: x[1])
            out.append({"kind": kind, "index": i, "param_dtype": str(b.param_dtype), "grad_dtype": str(b.grad_dtype),
                        "dp_size": b.data_parallel_world_size,
                        "buckets": [{"offset": k.offset, "numel_unpadded": k.numel_unpadded,
                                     "numel": k.grad_data.numel()} for k in b.buckets],
                        "params": [{"name": n, "start": s, "end": e, "bucket": bid} for n, s, e, bid in params]})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    a = ap.parse_args()
    world = torch.cuda.device_count()
    assert world >= 2, "needs two GPUs"
    for i, name in enumerate(a.layouts.split(",")):
        os.environ["MASTER_PORT"] = str(29517 + i)
        mp.spawn(worker, args=(2, a.out, name), nprocs=2, join=True)
        print("made", name, flush=True)
    import megatron.core
    (Path(a.out) / "VERSIONS.txt").write_text(
        f"torch {torch.__version__}\nmegatron-core {getattr(megatron.core, '__version__', '?')}\n")


if __name__ == "__main__":
    main()
