#!/usr/bin/env bash
# NFT on Qwen2.5-Math-7B with the paper's settings (arXiv 2505.18116, Sec. 5 / App.): DAPO-Math-17k,
# 512 prompts x 16 answers per step, mini-batch 32 prompts (16 updates/step), lr 1e-6 with 10 warm-up
# steps, weight decay 0.1, grad clip 1.0, prompt 512 + response 3584 tokens, temperature 1.0, no KL,
# no entropy bonus, dynamic sampling on acc (<= 10 generation batches of 3 x 512 prompts), rollout TP 4,
# GPU memory 0.7, ~320 steps.
#
#   bash train_7B.sh                                   # NFT, 1 node x 8 GPUs
#   NNODES=4 SUBMIT=1 bash train_7B.sh                 # 4 nodes, Ray cluster from recipes/ray_cluster.sh
#   ALGO=rft bash train_7B.sh  |  NEG_WEIGHT=-1 bash train_7B.sh (DAPO)  |  ALGO=grpo / ALGO=drgrpo
#   NORMALIZE=2 bash train_7B.sh  actor_rollout_ref.actor.policy_loss.clamp_negative=0.5   # extra overrides
#   DRY_RUN=1 bash train_7B.sh                         # compose + validate + print; no Ray, no GPU
#   PRESET=authors bash train_7B.sh                    # the authors' scripts' settings (DRY_RUN=1: table)
#   LORA_RANK=64 bash train_7B.sh                      # LoRA variant: adapters on all linear layers, lr 1e-5
#
# All knobs: recipes/common.sh. Every default below can be overridden from the environment.
set -euo pipefail
SIZE_NAME=qwen2.5-math-7b
MODEL_PATH=${MODEL_PATH:-$PWD/models/Qwen2.5-Math-7B}
NNODES=${NNODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
TRAIN_BATCH=${TRAIN_BATCH:-512}
N_ANSWERS=${N_ANSWERS:-16}
MINI_BATCH=${MINI_BATCH:-32}
MAX_PROMPT_LEN=${MAX_PROMPT_LEN:-512}
MAX_RESPONSE_LEN=${MAX_RESPONSE_LEN:-3584}
ROLLOUT_TP=${ROLLOUT_TP:-4}
SP=${SP:-1}
GPU_MEM=${GPU_MEM:-0.7}
TOTAL_STEPS=${TOTAL_STEPS:-320}
GEN_BATCHES_INFLIGHT=${GEN_BATCHES_INFLIGHT:-3}
MAX_GEN_BATCHES=${MAX_GEN_BATCHES:-10}
PAPER_VAL_TEMPERATURE=1.0  # VAL_TEMPERATURE overrides; PRESET=authors: 0.6
# PRESET=authors: the authors' train_7B.sh and their loss scale at their DP size (4 x 8 GPUs, SP 1)
AUTHORS_SCRIPT=train_7B.sh
AUTHORS_DP_SIZE=${AUTHORS_DP_SIZE:-32}
SIZE_ARGS=()  # model-size specific extras (see train_32B.sh)
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/recipes/common.sh"
nft_launch "$@"
