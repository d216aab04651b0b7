#!/usr/bin/env bash
# NFT on Qwen2.5-32B with the paper's settings (recipes/config/model/qwen2.5-32b.yaml): as train_7B.sh but
# prompt 2048 + response 14336 tokens, Ulysses SP 8, rollout TP 4, evaluation temperature 0.6, 4 nodes x 8
# GPUs, FSDP with parameter/optimizer offload. The tokenizer must carry the 7B's chat template
# (download_model.sh does that). Megatron variant: recipes/train_32B_megatron.sh.
#
#   NNODES=4 SUBMIT=1 bash train_32B.sh      DRY_RUN=1 bash train_32B.sh      PRESET=authors bash train_32B.sh
#
# The same without bash: python -m nft.main model=qwen2.5-32b [algo=...] [preset=...] [overrides].
# Knobs: recipes/launch.sh.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/recipes/launch.sh"
nft_launch qwen2.5-32b "${SIZE_NAME:-qwen2.5-32b}" "$@"
