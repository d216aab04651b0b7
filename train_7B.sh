#!/usr/bin/env bash
# NFT on Qwen2.5-Math-7B with the paper's settings (recipes/config/model/qwen2.5-math-7b.yaml,
# preset/paper.yaml): DAPO-Math-17k, 512 prompts x 16 answers per step, 16 updates per step, lr 1e-6,
# prompt 512 + response 3584 tokens, dynamic sampling, 1 node x 8 GPUs, ~320 steps.
#
#   bash train_7B.sh                                   # NFT
#   NNODES=4 SUBMIT=1 bash train_7B.sh                 # 4 nodes, Ray cluster from recipes/ray_cluster.sh
#   ALGO=rft | ALGO=dapo (= NEG_WEIGHT=-1) | ALGO=grpo | ALGO=drgrpo bash train_7B.sh
#   NORMALIZE=2 bash train_7B.sh actor_rollout_ref.actor.policy_loss.clamp_negative=0.5   # any Hydra override
#   DRY_RUN=1 bash train_7B.sh                         # compose + check + print; no Ray, no GPU
#   PRESET=authors bash train_7B.sh                    # the authors' scripts' settings (DRY_RUN=1: table)
#   LORA_RANK=64 bash train_7B.sh                      # LoRA adapters on all linear layers, lr 1e-5
#
# The same without bash: python -m nft.main model=qwen2.5-math-7b algo=nft preset=paper [overrides].
# Knobs: recipes/launch.sh.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/recipes/launch.sh"
nft_launch qwen2.5-math-7b qwen2.5-math-7b "$@"
