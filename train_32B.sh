#!/usr/bin/env bash
# NFT on Qwen2.5-32B with the paper's settings: as train_7B.sh (512 x 16 per step, mini-batch 32,
# lr 1e-6, no KL, dynamic sampling) but prompt 2048 + response 14336 tokens, Ulysses sequence
# parallelism 8, rollout TP 4, evaluation temperature 0.6. FSDP with parameter/optimizer offload.
# The 32B tokenizer must carry the 7B's chat template: download_model.sh does that.
#
#   NNODES=4 SUBMIT=1 bash train_32B.sh              # 4 x 8 H100 via a Ray cluster (recipes/ray_cluster.sh)
#   DRY_RUN=1 bash train_32B.sh                      # compose + validate + print; no Ray, no GPU
#   PRESET=authors bash train_32B.sh                 # the authors' scripts' settings (DRY_RUN=1: table)
#   Megatron variant: recipes/train_32B_megatron.sh
#
# All knobs: recipes/common.sh. Every default below can be overridden from the environment.
set -euo pipefail
SIZE_NAME=${SIZE_NAME:-qwen2.5-32b}
MODEL_PATH=${MODEL_PATH:-$PWD/models/Qwen2.5-32B}
NNODES=${NNODES:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
TRAIN_BATCH=${TRAIN_BATCH:-512}
N_ANSWERS=${N_ANSWERS:-16}
MINI_BATCH=${MINI_BATCH:-32}
MAX_PROMPT_LEN=${MAX_PROMPT_LEN:-2048}
MAX_RESPONSE_LEN=${MAX_RESPONSE_LEN:-14336}
ROLLOUT_TP=${ROLLOUT_TP:-4}
SP=${SP:-8}
GPU_MEM=${GPU_MEM:-0.7}
TOTAL_STEPS=${TOTAL_STEPS:-320}
GEN_BATCHES_INFLIGHT=${GEN_BATCHES_INFLIGHT:-3}
MAX_GEN_BATCHES=${MAX_GEN_BATCHES:-10}
PAPER_VAL_TEMPERATURE=0.6  # VAL_TEMPERATURE overrides; PRESET=authors: 0.6
# PRESET=authors: the authors' train_32B.sh and their loss scale at their DP size (16 x 8 GPUs / SP 8)
AUTHORS_SCRIPT=train_32B.sh
AUTHORS_DP_SIZE=${AUTHORS_DP_SIZE:-16}
OFFLOAD=${OFFLOAD:-true}
SIZE_ARGS=(
  actor_rollout_ref.actor.fsdp_config.param_offload="$OFFLOAD"
  actor_rollout_ref.actor.fsdp_config.optimizer_offload="$OFFLOAD"
)
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/recipes/common.sh"
nft_launch "$@"
