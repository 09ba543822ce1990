#!/usr/bin/env python3
"""Pickles of numbers, strings and bytes of every size class, for the unpickler's readers of operands.

Run: testdata/make-venv.sh && testdata/.venv/bin/python testdata/hostile/gen_numbers.py
Writes testdata/fixtures/hostile/pickle/numbers_p{0,2,4}.pkl with Python's own pickle module (protocols 0, 2
and 4: text INT/LONG/FLOAT, BININT*/LONG1/LONG4/BINFLOAT, SHORT_BINUNICODE/BINUNICODE8 and friends) and
numbers.json, what Python reads back: integers as decimal text, floats as float.hex(), strings and bytes by
length and SHA-256. Each pickle is larger than 64 KiB and holds operands larger than that, so readers that
buffer the input meet operands across their buffer's edges.
"""
import hashlib
import json
import pickle
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "hostile" / "pickle"


def values():
    ints = [0, 1, -1, 127, 128, 255, 256, 65535, 65536, -2**31, 2**31 - 1, 2**31, -2**31 - 1,
            2**63 - 1, -2**63, 2**63, 2**64, -2**64, 2**100, -(2**100)]
    for n in range(1, 10):  # LONG1 of n bytes: the extremes of n-byte two's complement
        ints += [2**(8 * n - 1) - 1, -2**(8 * n - 1), 2**(8 * n - 2)]
    ints += list(range(-3000, 12000, 7))  # many small operands: the input crosses buffer edges everywhere
    floats = [0.0, -0.0, 1.5, -2.25, 1e300, -1e-300, 5e-324, float("inf"), float("-inf")]
    strs = ["", "a", "é€😀", "back\\slash \\u0041", "line\nbreak\r\x1a\0", "x" * 255, "y" * 256, "z" * 66000,
            "ü" * 33000]
    raw = [b"", b"\x00\xff", b"q" * 255, b"r" * 256, bytes(range(256)) * 260]
    return ints, floats, strs, raw


def main():
    ints, floats, strs, raw = values()
    OUT.mkdir(parents=True, exist_ok=True)
    for proto in (0, 2, 4):
        (OUT / f"numbers_p{proto}.pkl").write_bytes(pickle.dumps([ints, floats, strs, raw], protocol=proto))
    # UNICODE operands as a careless writer could leave them: raw-unicode-escape decodes \\u only after an odd
    # number of backslashes (what pickle.loads gives is in numbers.json)
    escapes = [b"\\u0041", b"\\\\u0041", b"\\\\\\u0041", b"\\U0001F600", b"x\\", b"\\q"]
    (OUT / "unicode_escapes.pkl").write_bytes(b"(" + b"".join(b"V" + e + b"\n" for e in escapes) + b"l.")
    read_back = pickle.loads((OUT / "unicode_escapes.pkl").read_bytes())
    digest = lambda b: {"len": len(b), "sha256": hashlib.sha256(b).hexdigest()}
    (OUT / "numbers.json").write_text(json.dumps({
        "ints": [str(i) for i in ints], "floats": [f.hex() for f in floats],
        "strs": [digest(s.encode("utf-8")) | {"chars": len(s)} for s in strs], "bytes": [digest(b) for b in raw],
        "escapes": [[ord(c) for c in s] for s in read_back]},
        indent=0) + "\n")


if __name__ == "__main__":
    main()
