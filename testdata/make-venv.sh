#!/usr/bin/env bash
# The Python side of the fixtures: real torch, transformers and safetensors in testdata/.venv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
fi
PIP_RETRIES=0 "$here/.venv/bin/pip" install -q torch transformers safetensors numpy
