#!/usr/bin/env bash
# Download Qwen2.5-Math-7B and Qwen2.5-32B into $MODEL_DIR and give the 32B tokenizer the 7B's chat
# template (default system prompt "Please reason step by step, and put your final answer within
# \boxed{}."), as the authors did for their 32B runs. The template is read from the downloaded 7B at run
# time and written into the 32B's tokenizer_config.json (originals kept as *.orig).
#
#   bash download_model.sh            # both models
#   MODELS=7B bash download_model.sh  # only Qwen2.5-Math-7B  (MODELS=32B: 32B + the 7B's tokenizer files)
#
# Env: PYTHON (python3), MODEL_DIR (models), HF_ENDPOINT, HF_TOKEN (optional; never stored here).
set -euo pipefail

PYTHON=${PYTHON:-python3}
MODEL_DIR=${MODEL_DIR:-models}
MODELS=${MODELS:-"7B 32B"}
M7=$MODEL_DIR/Qwen2.5-Math-7B
M32=$MODEL_DIR/Qwen2.5-32B

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/recipes/hf_download.sh"

if [[ "${SKIP_DOWNLOAD:-0}" != "1" ]]; then
  "$PYTHON" -m nft.data check-hub --timeout "${HUB_TIMEOUT:-15}"
  mkdir -p "$MODEL_DIR"
  if [[ " $MODELS " == *" 7B "* ]]; then
    hf_download Qwen/Qwen2.5-Math-7B "$M7"
  elif [[ " $MODELS " == *" 32B "* ]]; then
    # the 32B patch needs the 7B's chat template only
    hf_download Qwen/Qwen2.5-Math-7B "$M7" --include "tokenizer_config.json" --include "chat_template.jinja"
  fi
  if [[ " $MODELS " == *" 32B "* ]]; then
    hf_download Qwen/Qwen2.5-32B "$M32"
  fi
fi

if [[ " $MODELS " == *" 32B "* ]]; then
  "$PYTHON" -m nft.data patch-chat-template --reference "$M7" --target "$M32"
fi
echo "done: models in $MODEL_DIR"
