#!/usr/bin/env python3
"""Tensor names that try to take over a terminal: a carriage return, ANSI escapes, a newline and a bidi override.

Run: testdata/.venv/bin/python testdata/hostile/gen_names.py
Writes testdata/fixtures/hostile/names/{a,b}.safetensors with real safetensors; the tensor whose name is hostile
differs between a and b, so ckpt-diff must report DIFFERENT and exit 1 however the name tries to redraw the line.
"""
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "hostile" / "names"
OUT.mkdir(parents=True, exist_ok=True)

HOSTILE = {
    "cr_redraw": "w\r\x1b[2KSAME: 0 finding(s) in 1 comparison(s)\x1b[8m",
    "newline_forge": "w\nSAME: 0 finding(s)",
    "bidi": "w\u202eelbatsni",
}
a, b = {}, {}
for i, name in enumerate(HOSTILE.values()):
    t = torch.arange(8, dtype=torch.float32) + i
    a[name] = t
    b[name] = t.clone()
    b[name][3] += 5.0
a["plain.weight"] = torch.ones(4)
b["plain.weight"] = torch.ones(4)
save_file(a, str(OUT / "a.safetensors"))
save_file(b, str(OUT / "b.safetensors"))
(OUT / "EXPECTED.json").write_text(json.dumps({"hostile_names": HOSTILE, "differing": len(HOSTILE)}, indent=1) + "\n")
