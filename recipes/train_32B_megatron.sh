#!/usr/bin/env bash
# NFT on Qwen2.5-32B with verl's Megatron-Core engine instead of FSDP (recipes/config/model/
# qwen2.5-32b-megatron.yaml): the paper's 32B settings, actor TP 8 x PP 2 with the distributed optimizer and
# offload, weights through mbridge. The NFT loss is engine independent (verl/workers/utils/losses.py::ppo_loss).
#
#   NNODES=4 SUBMIT=1 bash recipes/train_32B_megatron.sh      DRY_RUN=1 bash recipes/train_32B_megatron.sh
#
# The same without bash: python -m nft.main model=qwen2.5-32b-megatron [overrides]. Knobs: recipes/launch.sh.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/launch.sh"
nft_launch qwen2.5-32b-megatron "${SIZE_NAME:-qwen2.5-32b-megatron}" "$@"
