#!/usr/bin/env python3
"""Hostile and careless pickles, torch.save files and zips for ckpt-diff's readers.

Run: testdata/make-venv.sh && testdata/.venv/bin/python testdata/hostile/gen_pickle.py
Writes testdata/fixtures/hostile/pickle/ (committed) and its EXPECTED.json, which the CLI test
HostilePickleCliTest runs case by case. Independent of the Java readers: torch files come from real
torch.save (objects whose __reduce__ hands the pickler what a careless writer would), hostile
pickles from raw opcodes (struct), hostile archives from zipfile.

EXPECTED.json maps a case (a file or folder under the output folder) to:
  {"error": SUBSTRING}                   every command (inspect, and a diff if "diff" is given) must fail
                                         with one 'ckpt-diff:' line holding it
  {"ok": [STRINGS], "tree": [STRINGS],   inspect succeeds and prints STRINGS; inspect --tree prints the
   "absent": [STRINGS],                  'tree' strings; neither prints the 'absent' ones
   "sha256": {NAME: HEX} | {"error": S}  inspect --sha256 prints these digests (computed here, by hashlib
                                         from torch's own contiguous bytes) or fails holding S
   "diff": [[OTHER, EXIT, [STRINGS]]]}   ckpt-diff CASE OTHER exits EXIT and prints STRINGS
"""
import argparse
import copy
import collections
import hashlib
import io
import json
import shutil
import struct
import sys
import zipfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "pysrc"))  # Megatron's enums, to unpickle a real shard's args
OUT = HERE / "fixtures" / "hostile" / "pickle"
SHARD = HERE / "fixtures" / "llama_tp2" / "global_step_10" / "actor" / "iter_0000010" / "mp_rank_00" / "model_optim_rng.pt"
FIXED_TIME = (2024, 1, 1, 0, 0, 0)
expected = {}


def sha(t):
    return hashlib.sha256(t.contiguous().view(torch.uint8).numpy().tobytes()
                          if t.dtype != torch.bfloat16 else t.contiguous().view(torch.int16).numpy().tobytes()).hexdigest()


class Items:
    """Pickles as a dict (or OrderedDict) whose SETITEMS carry the given pairs as they are, repeats included:
    the fifth element of __reduce__ is an iterator of (key, value) that pickle writes without checking."""

    def __init__(self, pairs, cls=dict):
        self.pairs, self.cls = pairs, cls

    def __reduce__(self):
        return self.cls, (), None, None, iter(self.pairs)


# --- raw archives ---------------------------------------------------------------------------------

def put(z, name, data, deflate=False):
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    z.writestr(info, data)


def archive(name, pkl, storages=(), deflate=(), pkl_deflated=False):
    """A torch.save-shaped zip (archive/data.pkl, data/<key>, byteorder, version) with a hand-made pickle."""
    with zipfile.ZipFile(OUT / name, "w") as z:
        put(z, "archive/data.pkl", pkl, pkl_deflated)
        put(z, "archive/byteorder", b"little")
        for key, data in storages:
            put(z, "archive/data/" + key, data, key in deflate)
        put(z, "archive/version", b"3\n")


def s(text):  # SHORT_BINUNICODE / BINUNICODE
    b = text.encode("utf-8")
    return (b"\x8c" + bytes([len(b)]) if len(b) < 256 else b"X" + struct.pack("<I", len(b))) + b


def tensor_ops(key, numel, shape, stride, offset=0, storage="FloatStorage"):
    """torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) as opcodes."""
    def ints(xs):
        return b"(" + b"".join(b"J" + struct.pack("<i", x) for x in xs) + b"t"
    pid = b"(" + s("storage") + b"ctorch\n" + storage.encode() + b"\n" + s(key) + s("cpu") + b"J" + struct.pack("<i", numel) + b"tQ"
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"J" + struct.pack("<i", offset) + ints(shape) + ints(stride)
            + b"\x89ccollections\nOrderedDict\n)Rt" + b"R")


PROTO = b"\x80\x02"


def f32(*xs):
    return struct.pack("<%df" % len(xs), *xs)


# --- cases ----------------------------------------------------------------------------------------

def dup_keys():
    a, b = torch.zeros(4), torch.arange(4.0)
    torch.save(Items([("w", a), ("other", torch.ones(2)), ("w", b)]), OUT / "dup_setitems.pt")
    check = torch.load(OUT / "dup_setitems.pt", weights_only=False)
    assert torch.equal(check["w"], b) and list(check) == ["w", "other"], "torch.load keeps the last value"
    expected["dup_setitems.pt"] = {"ok": ["key set twice", "'w'"], "sha256": {"w": sha(b)}}

    # keys Python holds equal: 1, 1.0 and True are one key; tuples compare by items
    torch.save(Items([(1, "a"), (1.0, "b"), (True, "c"), ((1, (2, "z")), "d"), ((1, (2, "z")), "e"), ("x", "f")]),
               OUT / "dup_equal_keys.pt")
    back = torch.load(OUT / "dup_equal_keys.pt", weights_only=False)
    assert back == {1: "c", (1, (2, "z")): "e", "x": "f"} and list(back) == [1, (1, (2, "z")), "x"], back
    expected["dup_equal_keys.pt"] = {"ok": ["key set twice"], "tree": ["dict[3]", "1: 'c'", "x: 'f'"]}

    # MARK k v k v DICT: the DICT opcode with a repeat, as no pickler writes but any unpickler reads
    pkl = PROTO + b"(" + s("w") + tensor_ops("0", 4, [4], [1]) + s("w") + tensor_ops("1", 4, [4], [1]) + b"d."
    archive("dup_dict_opcode.pt", pkl, [("0", f32(9, 9, 9, 9)), ("1", f32(1, 2, 3, 4))])
    expected["dup_dict_opcode.pt"] = {"ok": ["key set twice", "'w'"],
                                      "sha256": {"w": hashlib.sha256(f32(1, 2, 3, 4)).hexdigest()}}


def tiny_megatron():
    """Layer 0 of a real (torch.save'd) Megatron shard as a TP=1, PP=1, one-layer checkpoint."""
    d = torch.load(SHARD, weights_only=False)
    args = copy.deepcopy(d["args"])
    # this rank's half of every TP-split weight, described as a whole (TP=1) model
    args.tensor_model_parallel_size = 1
    args.num_layers = 1
    args.num_attention_heads = args.num_attention_heads // 2
    args.num_query_groups = args.num_query_groups // 2
    args.ffn_hidden_size = args.ffn_hidden_size // 2
    args.padded_vocab_size = args.padded_vocab_size // 2
    model = collections.OrderedDict((k, v.clone() if torch.is_tensor(v) else v) for k, v in d["model"].items()
                                    if ".layers." not in k or ".layers.0." in k)
    return args, model


def megatron(folder, args, model):
    it = OUT / folder / "iter_0000001"
    (it / "mp_rank_00").mkdir(parents=True)
    (OUT / folder / "latest_checkpointed_iteration.txt").write_text("1")
    torch.save({"args": args, "checkpoint_version": 3.0, "iteration": 1, "model": model},
               it / "mp_rank_00" / "model_optim_rng.pt")


def dup_megatron():
    args, model = tiny_megatron()
    w = "decoder.layers.0.mlp.linear_fc1.weight"
    megatron("mg_clean", args, model)
    # the same shard re-zipped with every entry deflated: torch.load reads it; so must a diff
    src = OUT / "mg_clean" / "iter_0000001" / "mp_rank_00" / "model_optim_rng.pt"
    dst = OUT / "mg_deflated" / "iter_0000001" / "mp_rank_00" / "model_optim_rng.pt"
    dst.parent.mkdir(parents=True)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            put(zout, info.filename, zin.read(info), True)
    assert torch.equal(torch.load(dst, weights_only=False)["model"][w], model[w])
    expected["mg_deflated"] = {"ok": ["Megatron checkpoint"], "diff": [["mg_clean", 0, ["SAME"]]]}
    garbage = torch.full_like(model[w], 7.0)
    pairs = list(model.items())
    megatron("mg_dup_last_real", args, Items([(w, garbage)] + pairs, collections.OrderedDict))
    megatron("mg_dup_first_real", args, Items(pairs + [(w, garbage)], collections.OrderedDict))
    back = torch.load(OUT / "mg_dup_last_real" / "iter_0000001" / "mp_rank_00" / "model_optim_rng.pt", weights_only=False)
    assert torch.equal(back["model"][w], model[w])
    expected["mg_dup_last_real"] = {"ok": ["key set twice", w],
                                    "diff": [["mg_clean", 0, ["SAME", "A: mp_rank_00/model_optim_rng.pt: key set twice"]]]}
    expected["mg_dup_first_real"] = {"ok": ["key set twice", w],
                                     "diff": [["mg_clean", 1, ["DIFFERENT", "key set twice"]]]}

    # args value that is a DAG: 40 references per level, 12 levels: 40^12 paths in 2 KB of pickle
    dag = []
    for _ in range(12):
        dag = [dag] * 40
    dargs = copy.deepcopy(args)
    dargs.transformer_impl = dag
    dargs.some_shared_setting = dag
    megatron("mg_dag_args", dargs, model)
    expected["mg_dag_args"] = {"ok": ["args.transformer_impl", "list[40]"], "tree": ["<same as "]}

    # a weight saved as an expanded view: 2 stored bytes standing for 2^62 elements
    big = copy.copy(model)
    big["decoder.layers.0.mlp.linear_fc1.layer_norm_weight"] = torch.zeros(2, dtype=torch.int8)[:, None].expand(2, 2 ** 61)
    megatron("mg_expanded", args, big)
    expected["mg_expanded"] = {"error": "expanded view: 4611686018427387904 elements over 2 bytes of storage",
                               "diff": [["mg_clean", 2, []]]}


def globals_():
    archive("global_empty_name.pt", PROTO + s("torch") + s("") + b"\x93)R.")
    expected["global_empty_name.pt"] = {"error": "global with an empty name"}
    archive("global_empty_module.pt", PROTO + b"c\nFloatStorage\n)R.")
    expected["global_empty_module.pt"] = {"error": "global with an empty module"}
    archive("global_control_chars.pt", PROTO + s("os") + s("system\r\x1b[2KSAME: 0 finding(s)") + b"\x93)R.")
    expected["global_control_chars.pt"] = {"error": "names os.system\\r\\x1b[2KSAME", "absent": ["\r", "\x1b"]}


def integers():
    archive("int_text_digits.pt", PROTO + b"}" + s("n") + b"I" + b"7" * 50_000 + b"\ns.")
    expected["int_text_digits.pt"] = {"error": "integer of 50000 digits exceeds the limit of 4300"}
    archive("long_text_digits.pt", PROTO + b"}" + s("n") + b"L-" + b"9" * 5000 + b"L\ns.")
    expected["long_text_digits.pt"] = {"error": "integer of 5000 digits exceeds the limit of 4300"}
    archive("int_text_ok.pt", PROTO + b"}" + s("n") + b"I" + b"1" * 4300 + b"\ns.")
    expected["int_text_ok.pt"] = {"ok": ["torch.save file"], "tree": ["n: " + "1" * 40]}
    n = 100_000
    archive("long4_huge.pt", PROTO + b"}" + s("n") + b"\x8b" + struct.pack("<i", n) + b"\x00" * (n - 1) + b"\x01" + b"s.")
    expected["long4_huge.pt"] = {"ok": ["torch.save file"], "tree": ["n: <int of %d bits>" % (8 * (n - 1) + 1)]}


def shared_structure():
    dag = ["leaf"]
    for _ in range(12):
        dag = [dag] * 40
    torch.save({"dag": dag, "w": torch.ones(3)}, OUT / "dag_lists.pt")
    expected["dag_lists.pt"] = {"ok": ["w"], "tree": ["<same as dag[0]", "list[40]"]}
    # a cycle through the memo
    loop = []
    loop.append(loop)
    torch.save({"loop": loop}, OUT / "cycle.pt")
    expected["cycle.pt"] = {"ok": ["torch.save file"], "tree": ["<cycle>"]}


def expanded():
    small = torch.arange(3.0).expand(4, 3)
    huge = torch.zeros(2, dtype=torch.int8)[:, None].expand(2, 2 ** 61)
    torch.save({"small": small, "huge": huge}, OUT / "expanded.pt")
    back = torch.load(OUT / "expanded.pt")
    assert back["huge"].stride() == (1, 0) and back["huge"].untyped_storage().nbytes() == 2
    expected["expanded.pt"] = {"ok": ["huge", "expanded"],
                               "sha256": {"error": "huge: expanded view: 4611686018427387904 elements over 2 bytes"
                                                   " of storage; not supported"}}
    torch.save({"small": small}, OUT / "expanded_small.pt")
    expected["expanded_small.pt"] = {"ok": ["small", "expanded"], "sha256": {"small": sha(small)}}
    over = torch.zeros(1).expand(2 ** 31, 2 ** 31)  # 2^62 float32 elements: 2^64 bytes
    torch.save({"over": over}, OUT / "expanded_overflow.pt")
    expected["expanded_overflow.pt"] = {"error": "overflows a 64-bit byte count"}


def zips():
    # 300 MB of zeros in a 300 KB deflated storage: listing must not inflate it; reading it meets the bound
    n = 300 << 20
    pkl = PROTO + b"}" + s("w") + tensor_ops("0", n // 4, [n // 4], [1]) + b"s."
    archive("deflate_bomb.pt", pkl, [("0", bytes(n))], deflate={"0"}, pkl_deflated=True)
    expected["deflate_bomb.pt"] = {"ok": ["w", "300.0 MiB"], "sha256": {"error": "over the bound of 268435456 bytes"}}
    # a 200 MB byteorder entry (deflated to 200 KB): a side entry torch reads whole
    with zipfile.ZipFile(OUT / "byteorder_bomb.pt", "w") as z:
        put(z, "archive/data.pkl", PROTO + b"}.")
        put(z, "archive/byteorder", b"little" + b" " * (200 << 20), True)
    expected["byteorder_bomb.pt"] = {"error": "byteorder entry holds 209715206 bytes, expected 'little'"}
    # a small deflated storage and pickle: read as torch's own reader would
    pkl = PROTO + b"}" + s("w") + tensor_ops("0", 4, [4], [1]) + b"s."
    archive("deflate_small.pt", pkl, [("0", f32(1, 2, 3, 4))], deflate={"0"}, pkl_deflated=True)
    expected["deflate_small.pt"] = {"ok": ["w"], "sha256": {"w": hashlib.sha256(f32(1, 2, 3, 4)).hexdigest()}}


def control_characters():
    name = "a\x00b\r\x1b[2Jevil"
    torch.save({name: torch.ones(2), "note": "SAME: 0 finding(s)\r\x1b[31m", "nul\x00key": 1}, OUT / "control_chars.pt")
    expected["control_chars.pt"] = {"ok": ["a\\x00b\\r\\x1b[2Jevil"], "tree": ["\\r\\x1b[31m", "nul\\x00key"],
                                    "absent": ["\x1b", "\r", "\x00"]}


def two_deflated_shards():
    """TP=2, each shard a 130 MiB storage deflated to 130 KB: together over the one process-wide bound."""
    n = 130 << 20
    args = b"}(" + s("tensor_model_parallel_size") + b"K\x02" + s("pipeline_model_parallel_size") + b"K\x01" \
        + s("num_layers") + b"K\x00u"
    pkl = PROTO + b"}(" + s("args") + args + s("model") + b"}" + s("embedding.word_embeddings.weight") \
        + tensor_ops("0", n // 4, [n // 4], [1]) + b"su."
    for rank in ("mp_rank_00", "mp_rank_01"):
        it = OUT / "mg_two_deflated" / "iter_0000001" / rank
        it.mkdir(parents=True)
        with zipfile.ZipFile(it / "model_optim_rng.pt", "w") as z:
            put(z, "archive/data.pkl", pkl)
            put(z, "archive/byteorder", b"little")
            put(z, "archive/data/0", bytes(n), True)
            put(z, "archive/version", b"3\n")
    expected["mg_two_deflated"] = {"error": "over the bound of 268435456 bytes"}


def many_chunks():
    # virtual pipeline chunks model0 .. model199999, each an empty state dict, in a deflated pickle
    n = 200_000
    body = b"".join(s("model%d" % i) + b"}" for i in range(n))
    args = b"}(" + s("tensor_model_parallel_size") + b"K\x01" + s("pipeline_model_parallel_size") + b"K\x01" \
        + s("num_layers") + b"K\x00u"
    pkl = PROTO + b"}(" + s("args") + args + body + b"u."
    it = OUT / "mg_many_chunks" / "iter_0000001" / "mp_rank_00"
    it.mkdir(parents=True)
    with zipfile.ZipFile(it / "model_optim_rng.pt", "w") as z:
        put(z, "archive/data.pkl", pkl, True)
        put(z, "archive/byteorder", b"little")
        put(z, "archive/version", b"3\n")
    expected["mg_many_chunks"] = {"ok": ["Megatron checkpoint"]}


def main():
    argparse.ArgumentParser(description=__doc__).parse_args()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    torch.manual_seed(0)
    dup_keys()
    dup_megatron()
    globals_()
    integers()
    shared_structure()
    expanded()
    zips()
    control_characters()
    many_chunks()
    two_deflated_shards()
    (OUT / "EXPECTED.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print("%d cases, %d bytes in %s" % (len(expected), total, OUT))


if __name__ == "__main__":
    main()
