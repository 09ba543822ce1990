#!/usr/bin/env bash
# The Python side of the fixtures: real torch, transformers and safetensors in testdata/.venv.
# Made from nothing on a fresh machine; repaired when .venv is a dangling link, a half-made venv (no working
# bin/python) or lacks a package. Never follows a link to delete what it points to.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
packages=(torch transformers safetensors numpy)
if [ -L "$venv" ] && [ ! -e "$venv" ]; then
  echo "make-venv: $venv is a dangling link; replacing it" >&2
  rm -f "$venv"
fi
if [ -e "$venv" ] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  echo "make-venv: $venv is not a working virtual environment; making it anew" >&2
  rm -rf "$venv"   # a link is removed itself, never what it points to (no trailing slash)
fi
if [ ! -e "$venv" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import torch, transformers, safetensors, numpy' >/dev/null 2>&1; then
  PIP_RETRIES=0 "$venv/bin/pip" install -qq "${packages[@]}"   # -qq: errors only (index warnings are noise)
fi
